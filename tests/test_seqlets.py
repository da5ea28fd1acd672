"""Seqlet calling on attributions with planted motifs."""

from __future__ import annotations

import numpy as np
import pytest

from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif, load_builtin_motifs, select_motifs
from bpnetkit.motifs.seqlets import (
    SeqletsParams,
    call_seqlets,
    read_seqlet_bed,
    run_seqlets,
)
from bpnetkit.testing.planted import planted_attributions, write_attribution_h5


@pytest.fixture(scope="module")
def planted():
    motifs = select_motifs(load_builtin_motifs(), ["CTCF", "GATA1", "SPI1"])
    return planted_attributions(motifs, n=200, length=160, random_state=1)


def _overlaps(s, k, sites):
    e = s.example[k]
    rows = sites[sites[:, 0] == e]
    return ((rows[:, 1] < s.core_end[k]) & (rows[:, 2] > s.core_start[k])).any()


def test_seqlets_fall_on_planted_sites(planted):
    s = call_seqlets(planted.hypothetical, planted.one_hot, threshold=1e-3, max_length=25,
                     flank=3)
    pos = np.where(s.sign > 0)[0]
    on_site = np.array([_overlaps(s, k, planted.sites) for k in pos])
    assert on_site.mean() > 0.97  # positive seqlets are planted motifs
    # (almost) every planted site is covered by a positive seqlet; a few sampled instances
    # of the short GATA1 motif carry too little attribution
    covered = [((s.example == e) & (s.sign > 0) & (s.core_start < b) & (s.core_end > a)).any()
               for e, a, b, _, _ in planted.sites]
    assert np.mean(covered) > 0.95
    long_sites = planted.sites[:, 2] - planted.sites[:, 1] >= 13  # CTCF and SPI1: all found
    assert np.all(np.array(covered)[long_sites])
    # semantics: cores within [min, max] length, flanks added and clipped, no overlaps
    core = s.core_end - s.core_start
    assert core.min() >= 4 and core.max() <= 25
    assert (s.start == np.maximum(s.core_start - 3, 0)).all()
    assert (s.end == np.minimum(s.core_end + 3, 160)).all()
    for e in np.unique(s.example):
        idx = np.where(s.example == e)[0]
        cs, ce = s.core_start[idx], s.core_end[idx]
        assert (cs[1:] >= ce[:-1]).all()
    # attribution column is the sum of position scores over the core (independent check)
    scores = (planted.hypothetical * planted.one_hot).sum(axis=1)
    for k in range(0, len(s), 17):
        exp = scores[s.example[k], s.core_start[k]:s.core_end[k]].sum()
        assert s.attribution[k] == pytest.approx(exp, rel=1e-5)
    assert (s.p_value < 1e-3).all()


def test_negative_seqlets_and_sign_selection():
    m = Motif("m", np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]] * 0.97 + 0.0075)
    ps = planted_attributions([m], n=80, length=100, per_sequence=(1, 1), random_state=3)
    H = -ps.hypothetical  # planted motifs now repress
    s = call_seqlets(H, ps.one_hot, sign="both")
    neg = np.where(s.sign < 0)[0]
    assert len(neg) >= 0.9 * len(ps.sites)
    assert np.mean([_overlaps(s, k, ps.sites) for k in neg]) > 0.95
    assert (s.attribution[neg] < 0).all()
    only_pos = call_seqlets(H, ps.one_hot, sign="positive")
    assert (only_pos.sign > 0).all() and len(only_pos) < 0.2 * len(neg)


def test_run_seqlets_bed_in_genome_coordinates(tmp_path, planted):
    n = planted.one_hot.shape[0]
    starts = 1000 + 500 * np.arange(n)
    h5 = tmp_path / "attr.h5"
    write_attribution_h5(h5, planted.one_hot, planted.hypothetical)
    bed = tmp_path / "rows.bed"
    # narrowPeak-like rows of 300 bp with summit 150 -> 160 bp windows centred on the summit
    bed.write_text("".join(f"chr2\t{s - 70}\t{s + 230}\tp{i}\t0\t.\t0\t0\t0\t150\n"
                           for i, s in enumerate(starts)))
    out = run_seqlets(SeqletsParams(attributions=str(h5), regions=str(bed),
                                    output_dir=str(tmp_path / "out"), max_length=25))
    cols = read_seqlet_bed(out["seqlets"])
    assert len(cols["chrom"]) > 0 and set(cols["chrom"]) == {"chr2"}
    rel = cols["core_start"] - starts[cols["example"]]
    direct = call_seqlets(planted.hypothetical, planted.one_hot, max_length=25)
    np.testing.assert_array_equal(rel, direct.core_start)
    np.testing.assert_allclose(cols["p_value"], direct.p_value, rtol=1e-3)
    assert (tmp_path / "out" / "seqlets.params.json").exists()


def test_empty_and_bad_inputs(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = np.zeros((10, 4, 50), dtype=np.int8)
    X[np.arange(10)[:, None], rng.integers(0, 4, (10, 50)), np.arange(50)] = 1
    flat = np.full((10, 4, 50), 0.01, dtype=np.float32)  # no position stands out
    h5 = tmp_path / "flat.h5"
    write_attribution_h5(h5, X, flat)
    out = run_seqlets(SeqletsParams(attributions=str(h5), output_dir=str(tmp_path)))
    assert "no seqlets found" in capsys.readouterr().out
    assert len(read_seqlet_bed(out["seqlets"])["chrom"]) == 0
    with pytest.raises(InputError, match="longer than the attribution window"):
        call_seqlets(flat, X, max_length=60)
    with pytest.raises(InputError, match="min_length <= max_length"):
        call_seqlets(flat, X, min_length=8, max_length=5)
    with pytest.raises(InputError, match="raw/seq"):
        import h5py

        with h5py.File(tmp_path / "bad.h5", "w") as fh:
            fh["x"] = 1
        run_seqlets(SeqletsParams(attributions=str(tmp_path / "bad.h5"),
                                  output_dir=str(tmp_path)))
