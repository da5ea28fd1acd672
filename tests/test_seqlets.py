"""Seqlet calling on attributions with planted motifs."""

from __future__ import annotations

import numpy as np
import pytest

from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif
from bpnetkit.motifs.database import load_builtin_motifs, select_motifs
from bpnetkit.motifs.seqlets import call_seqlets
from bpnetkit.steps.seqlets import SeqletsOutputs, SeqletsParams, read_seqlet_bed, run_seqlets
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
    s = call_seqlets(planted.hypothetical, planted.one_hot, method="threshold", threshold=1e-3,
                     max_length=25, flank=3)
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
    assert isinstance(out, SeqletsOutputs) and out.missing() == []
    cols = read_seqlet_bed(out.seqlets)
    assert len(cols["chrom"]) > 0 and set(cols["chrom"]) == {"chr2"}
    rel = cols["core_start"] - starts[cols["example"]]
    direct = call_seqlets(planted.hypothetical, planted.one_hot, max_length=25)
    np.testing.assert_array_equal(rel, direct.core_start)
    np.testing.assert_allclose(cols["p_value"], direct.p_value, rtol=1e-3)
    assert out.params == str(tmp_path / "out" / "seqlets.params.json")


def test_empty_and_bad_inputs(tmp_path, caplog):
    rng = np.random.default_rng(0)
    X = np.zeros((10, 4, 50), dtype=np.int8)
    X[np.arange(10)[:, None], rng.integers(0, 4, (10, 50)), np.arange(50)] = 1
    flat = np.full((10, 4, 50), 0.01, dtype=np.float32)  # no position stands out
    h5 = tmp_path / "flat.h5"
    write_attribution_h5(h5, X, flat)
    with caplog.at_level("WARNING", logger="bpnetkit"):
        out = run_seqlets(SeqletsParams(attributions=str(h5), output_dir=str(tmp_path)))
    assert "no seqlets found" in caplog.text
    assert len(read_seqlet_bed(out.seqlets)["chrom"]) == 0
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


def _bumps(n, width, height, length=1000, sd=1.0, seed=0):
    """Gaussian noise tracks with two planted rectangular bumps per row (one per half)."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0, sd, (n, length))
    sites = []
    for e in range(n):
        for lo in (0, length // 2):
            a = int(rng.integers(lo, lo + length // 2 - width))
            s[e, a:a + width] += height * sd
            sites.append((e, a, a + width))
    return s, np.array(sites)


@pytest.mark.parametrize("sd", [1e-3, 1.0, 50.0])
def test_fdr_default_calls_almost_nothing_on_noise(sd):
    rng = np.random.default_rng(int(sd * 1000) % 97)
    noise = rng.normal(0, sd, (300, 1000))
    s = call_seqlets(noise)
    assert len(s) / 300 <= 0.01  # seqlets per 1-kb region
    heavy = rng.standard_t(3, (300, 1000)) * sd  # heavy-tailed noise too
    assert len(call_seqlets(heavy)) / 300 <= 0.01
    cauchy = rng.standard_cauchy((300, 1000)) * sd
    assert len(call_seqlets(cauchy)) / 300 <= 0.01
    sparse = rng.laplace(0, sd, (300, 1000)) * (rng.random((300, 1000)) < 0.1)  # mostly 0
    assert len(call_seqlets(sparse)) / 300 <= 0.01
    # the old mode has no such control: about one seqlet per kb at 0.001
    assert len(call_seqlets(noise, method="threshold")) / 300 > 0.5


def test_fdr_default_recalls_planted_bumps():
    s, sites = _bumps(200, width=10, height=3.0, seed=2)
    out = call_seqlets(s)
    covered = [((out.example == e) & (out.core_start < b) & (out.core_end > a)).any()
               for e, a, b in sites]
    assert np.mean(covered) >= 0.95
    on = [((sites[:, 0] == e) & (sites[:, 1] < ce) & (sites[:, 2] > cs)).any()
          for e, cs, ce in zip(out.example, out.core_start, out.core_end)]
    assert np.mean(on) >= 0.95  # and the seqlets are the bumps
    assert (out.sign > 0).mean() >= 0.99  # (the FDR of 5 % allows a few false calls)
    # independent check of the recursion: every sub-span of a core down to min_length has a
    # z-score above min_z (robust track: Huber-type centre and scale, clipped at 5 scales,
    # standardised; exact permutation moments of a span of ln values of a standardised row)
    L = s.shape[1]
    for k in range(0, len(out), 37):
        row = s[out.example[k]]
        c, h = 0.0, np.abs(row).mean()
        for _ in range(50):
            d = np.clip(row - c, -5 * h, 5 * h)
            c, h, h_old = c + d.mean(), np.abs(d).mean(), h
            if abs(h - h_old) <= 1e-3 * h_old:
                break
        u = np.clip((row - c) / h, -5, 5)
        u = (u - u.mean()) / u.std()
        for ln in range(4, out.core_end[k] - out.core_start[k] + 1):
            for a in range(out.core_start[k], out.core_end[k] - ln + 1):
                assert u[a:a + ln].sum() / np.sqrt(ln * (L - ln) / (L - 1)) >= 3.0
        exp = row[out.core_start[k]:out.core_end[k]].sum()  # attribution: raw scores
        assert out.attribution[k] == pytest.approx(exp)
    assert (out.p_value > 0).all() and (out.p_value <= 1).all()


def test_fdr_deterministic_and_controls_level():
    s, _ = _bumps(60, width=8, height=2.5, seed=4)
    a, b = call_seqlets(s, random_state=7), call_seqlets(s, random_state=7)
    for f in a.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    # a stricter fdr calls a subset (a higher threshold on the same recursive scores)
    strict = call_seqlets(s, fdr=0.001, random_state=7)
    assert len(strict) <= len(a)
    with pytest.raises(InputError, match="fdr must be"):
        call_seqlets(s, fdr=0)
    with pytest.raises(InputError, match="method must be"):
        call_seqlets(s, method="bh")


def test_fdr_threads_give_the_same_seqlets(monkeypatch):
    """The kernels run on several threads for large inputs (row blocks of the robust track,
    the data and the permuted copy scanned concurrently): one thread must give the same."""
    import bpnetkit.motifs.seqlets as S

    s, _ = _bumps(300, width=10, height=3.0, seed=5)  # 300 x 1000: above the threshold
    assert s.size >= S._PARALLEL_MIN
    monkeypatch.setattr(S, "_n_threads", lambda: 3)
    many = call_seqlets(s, random_state=3)
    assert len(S._row_blocks(s.shape[0], s.size)) == 3
    monkeypatch.setattr(S, "_n_threads", lambda: 1)
    one = call_seqlets(s, random_state=3)
    assert len(S._row_blocks(s.shape[0], s.size)) == 1
    assert len(one) > 200
    for f in one.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(many, f), getattr(one, f))


def _spiky(n, length=400, bumps=True, seed=0):
    """Tracks shaped like real attributions: small sparse Laplace noise whose magnitude varies
    10-fold between rows, a few huge adjacent +/- spike pairs in every fifth row (the
    one-hot artefacts of trained models), and optionally one motif-like run of 12 moderate
    positive values per row."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0, 1, (n, 1)))
    s = rng.laplace(0, 0.01, (n, length)) * scale
    sites = []
    for e in range(n):
        if e % 5 == 0:
            for _ in range(3):
                i = int(rng.integers(0, length - 1))
                h = rng.uniform(2, 6) * scale[e, 0]
                s[e, i:i + 2] += (h, -h)
        if bumps:
            a = int(rng.integers(0, length - 12))
            s[e, a:a + 12] += rng.uniform(0.02, 0.1, 12) * scale[e, 0]
            sites.append((e, a, a + 12))
    return s, np.array(sites).reshape(-1, 3)


def test_fdr_on_spiky_attribution_like_tracks():
    s, sites = _spiky(300)
    out = call_seqlets(s)
    covered = [((out.example == e) & (out.sign > 0) & (out.core_start < b)
                & (out.core_end > a)).any() for e, a, b in sites]
    assert np.mean(covered) >= 0.95
    on = [((sites[:, 0] == e) & (sites[:, 1] < ce) & (sites[:, 2] > cs)).any()
          for e, cs, ce in zip(out.example, out.core_start, out.core_end)]
    assert np.mean(on) >= 0.95
    # without the clip, the spikes' permuted copies compete with the motifs (fewer found)
    unclipped = call_seqlets(s, clip=1e12)
    assert len(np.unique(unclipped.example)) < 0.9 * len(np.unique(out.example))
    noise, _ = _spiky(300, bumps=False, seed=1)
    assert len(call_seqlets(noise)) / (300 * 0.4) <= 0.01  # per kb
    with pytest.raises(InputError, match="clip must be"):
        call_seqlets(s, clip=0)
