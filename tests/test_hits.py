"""Hit calling (motifs/hits.py, steps/hits.py): planted ground truth, Fi-NeMo as oracle."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from bpnetkit.config import load_config
from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif
from bpnetkit.motifs.hits import call_hits, prepare_motifs, trim_bounds
from bpnetkit.steps.hits import HIT_COLUMNS, HitsOutputs, HitsParams, run
from bpnetkit.testing.planted import planted_attributions, write_attribution_h5

torch.set_num_threads(1)

N, L, FLANK, WIDTH = 160, 200, 6, 22
MOTIF_SEQS = {"AP1ish": "TGACTCTT", "EBOXish": "CCGCGTGGCG", "GATAish": "GATAAGGC"}


def _motif(name: str, seq: str) -> Motif:
    return Motif(name, np.eye(4)[["ACGT".index(c) for c in seq]] * 0.94 + 0.015)


def _cwm(m: Motif) -> np.ndarray:
    """What MoDISco would report for planted instances: the expected actual contribution
    (probability x contribution of the base), with low flanks, padded to WIDTH."""
    core = m.pwm * m.pwm * m.information_content()[:, None]
    full = np.full((WIDTH, 4), 0.002)
    full[FLANK:FLANK + m.length] += core
    return full


def _write_modisco(path: Path, cwms: list[np.ndarray]) -> None:
    with h5py.File(path, "w") as fh:
        for i, w in enumerate(cwms):
            g = fh.create_group(f"pos_patterns/pattern_{i}")
            g["contrib_scores"] = w
            g["hypothetical_contribs"] = w
            g["sequence"] = np.full_like(w, 0.25)
            g.create_group("seqlets")["n_seqlets"] = np.array([100])


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    d = tmp_path_factory.mktemp("hits")
    motifs = [_motif(k, v) for k, v in MOTIF_SEQS.items()]
    ps = planted_attributions(motifs, n=N, length=L, per_sequence=(0, 3), noise=0.02,
                              random_state=3)
    starts = np.arange(N, dtype=np.int64) * 1000 + 500
    chroms = ["chr1"] * (N // 2) + ["chr2"] * (N - N // 2)
    write_attribution_h5(d / "att.h5", ps.one_hot, ps.hypothetical, chroms, starts)
    _write_modisco(d / "modisco.h5", [_cwm(m) for m in motifs])
    out = run(HitsParams(attributions=str(d / "att.h5"), modisco_h5=str(d / "modisco.h5"),
                         output_dir=str(d / "out")))
    return {"dir": d, "ps": ps, "starts": starts, "chroms": chroms, "out": out}


def _read_tsv(path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _truth(planted) -> set[tuple]:
    """(peak, motif name, genome start of the core, strand) of every planted site."""
    ps, starts = planted["ps"], planted["starts"]
    names = [f"pos_patterns.pattern_{i}" for i in range(len(MOTIF_SEQS))]
    return {(int(e), names[int(mi)], int(starts[e] + s), "+" if st > 0 else "-")
            for e, s, _, mi, st in ps.sites}


def _called(rows) -> set[tuple]:
    return {(int(r["peak_id"]), r["motif_name"], int(r["start"]), r["strand"]) for r in rows}


def test_recovers_planted_sites(planted):
    rows = _read_tsv(planted["out"].hits_tsv)
    assert list(rows[0]) == HIT_COLUMNS
    truth, called = _truth(planted), _called(rows)
    tp = len(truth & called)
    precision, recall = tp / len(called), tp / len(truth)
    # measured: precision 0.996, recall 0.94; every miss is a site so close to a region end
    # that the untrimmed pattern (core plus flanks) does not fit (recall of the others: 1.0)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    # every site where the whole (untrimmed) pattern fits into the region is found
    ps, starts = planted["ps"], planted["starts"]
    inner = set()
    for e, s, end, mi, st in ps.sites:
        left = FLANK if st > 0 else WIDTH - FLANK - (end - s)  # untrimmed start offset
        if s - left >= 0 and s - left + WIDTH <= L:
            inner.add((int(e), f"pos_patterns.pattern_{mi}", int(starts[e] + s),
                       "+" if st > 0 else "-"))
    assert len(inner & called) / len(inner) >= 0.98
    # strand: no site is called on the wrong strand
    flipped = {(p, m, s, "-" if st == "+" else "+") for p, m, s, st in truth}
    assert not (flipped & called)
    # coordinates: the core sits FLANK bp into the pattern (from its far end on the minus
    # strand); the untrimmed span is the pattern's WIDTH
    lengths = [len(v) for v in MOTIF_SEQS.values()]
    for r in rows:
        core = lengths[int(r["motif_name"][-1])]
        left = FLANK if r["strand"] == "+" else WIDTH - FLANK - core
        assert int(r["start"]) - int(r["start_untrimmed"]) == left
        assert int(r["end_untrimmed"]) - int(r["start_untrimmed"]) == WIDTH
        assert int(r["end"]) - int(r["start"]) == core
        assert float(r["hit_similarity"]) >= 0.7 and float(r["hit_coefficient"]) > 0
        assert r["chr"] == planted["chroms"][int(r["peak_id"])]


def test_counts_bed_and_qc_agree_with_hits(planted):
    out: HitsOutputs = planted["out"]
    rows = _read_tsv(out.hits_tsv)
    counts = _read_tsv(out.counts_tsv)
    names = [f"pos_patterns.pattern_{i}" for i in range(3)]
    assert len(counts) == N and list(counts[0]) == ["peak_id", "peak_name", *names, "total"]
    expected = np.zeros((N, 3), int)
    for r in rows:
        expected[int(r["peak_id"]), names.index(r["motif_name"])] += 1
    got = np.array([[int(c[m]) for m in names] for c in counts])
    assert (got == expected).all()
    assert [int(c["total"]) for c in counts] == expected.sum(1).tolist()
    # planted counts per peak match (all sites are found in almost all peaks)
    planted_counts = np.zeros((N, 3), int)
    np.add.at(planted_counts, (planted["ps"].sites[:, 0], planted["ps"].sites[:, 3]), 1)
    assert (got == planted_counts).all(axis=1).mean() >= 0.9
    bed = [line.split("\t") for line in Path(out.hits_bed).read_text().splitlines()]
    assert len(bed) == len(rows) == out.n_hits  # no overlapping regions: no duplicates
    assert {(b[0], int(b[1]), b[3], b[5]) for b in bed} == \
        {(r["chr"], int(r["start"]), r["motif_name"], r["strand"]) for r in rows}
    qc = _read_tsv(out.qc_tsv)
    assert len(qc) == N and all(q["converged"] == "true" for q in qc)
    assert all(float(q["dual_gap"]) <= 5e-4 for q in qc)
    assert len(_read_tsv(out.motifs_tsv)) == 6
    assert not out.missing()
    assert HitsOutputs.from_dict(out.to_dict()) == out
    params = load_config(HitsParams, out.params)
    assert params.global_lambda == 0.7 and params.mode == "pp"


def test_matches_finemo(planted, tmp_path):
    """Fi-NeMo 0.41 (the reference implementation) on the same regions and patterns."""
    pytest.importorskip("finemo")
    pytest.importorskip("polars")
    d, ps = planted["dir"], planted["ps"]
    n = 64  # a subset keeps Fi-NeMo's CPU time down
    starts, chroms = planted["starts"][:n], planted["chroms"][:n]
    write_attribution_h5(tmp_path / "att.h5", ps.one_hot[:n], ps.hypothetical[:n], chroms,
                         starts)
    npz = tmp_path / "regions.npz"
    np.savez(npz, sequences=ps.one_hot[:n], contributions=ps.hypothetical[:n].astype(np.float16),
             chr=np.array(chroms), chr_id=np.zeros(n, np.uint32), start=starts.astype(np.int32),
             peak_id=np.arange(n, dtype=np.uint32),
             peak_name=np.array([f"{c}:{s}-{s + L}" for c, s in zip(chroms, starts)]))
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "finemo", "call-hits", "-r", str(npz),
                          "-m", str(d / "modisco.h5"), "-o", str(tmp_path / "fm"), "-b", str(n)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    theirs = _read_tsv(tmp_path / "fm" / "hits.tsv")
    ours_out = run(HitsParams(attributions=str(tmp_path / "att.h5"),
                              modisco_h5=str(d / "modisco.h5"),
                              output_dir=str(tmp_path / "ours")))
    ours = _read_tsv(ours_out.hits_tsv)
    a, b = _called(ours), _called(theirs)
    jaccard = len(a & b) / len(a | b)
    assert jaccard >= 0.98, jaccard  # measured 1.0 (also at the default tolerance)
    # the columns we write are Fi-NeMo's (it adds hit_correlation, hit_importance_sq)
    assert set(HIT_COLUMNS) <= set(theirs[0])
    by_key = {(int(r["peak_id"]), r["motif_name"], int(r["start"]), r["strand"]): r
              for r in theirs}
    coef = []
    for r in ours:
        t = by_key.get((int(r["peak_id"]), r["motif_name"], int(r["start"]), r["strand"]))
        if t is None:
            continue
        for col in ("end", "start_untrimmed", "end_untrimmed", "peak_name"):
            assert r[col] == t[col]
        # Fi-NeMo keeps CWMs and contributions in float16
        assert float(r["hit_similarity"]) == pytest.approx(float(t["hit_similarity"]),
                                                           rel=2e-3)
        assert float(r["hit_importance"]) == pytest.approx(float(t["hit_importance"]),
                                                           rel=2e-3)
        coef.append((float(r["hit_coefficient"]), float(t["hit_coefficient"])))
    # Both stop at the same duality-gap tolerance (5e-4 per position) from different
    # iterates, so coefficients differ a little: measured median 4.5 %, max 16 %,
    # r = 0.998 (with convergence_tol 1e-5 on both sides: median 0.2 %, max 1 %).
    x, y = np.array(coef).T
    rel = np.abs(x - y) / y
    assert np.corrcoef(x, y)[0, 1] >= 0.99
    assert np.median(rel) <= 0.1 and rel.max() <= 0.3


def test_single_instance_exact():
    """One noiseless instance: found once, at its place and strand, similarity 1, and the
    coefficient solves the one-variable lasso."""
    rng = np.random.default_rng(0)
    cwm = rng.normal(size=(10, 4))
    motifs = prepare_motifs([cwm], ["m"], trim_threshold=0.0)
    X = np.zeros((1, 4, 60), np.float32)
    X[0, rng.integers(0, 4, 60), np.arange(60)] = 1
    y = np.zeros((1, 4, 60), np.float32)
    unit = cwm / np.sqrt((cwm ** 2).sum())
    y[0, :, 20:30] = (unit[::-1, ::-1]).T * 3.0  # reverse strand, 4 channels
    h = call_hits(y, motifs, None, tol=1e-9)
    assert len(h) == 1
    assert (h.position[0], h.strand[0]) == (20, -1)
    assert h.similarity[0] == pytest.approx(1.0, abs=1e-4)
    # scaled y' = y / s with s = rms over positions; weight w = (|y'|^2 + 1)^-1/2;
    # optimum of 1/2 (a - c w)^2 + lam c with a = |y'| is c = (a w - lam) / w^2
    s = np.sqrt((y ** 2).sum() / 60)
    a = 3.0 / s
    w = (a ** 2 + 1) ** -0.5
    assert h.coefficient[0] == pytest.approx((a * w - 0.7) / w ** 2, rel=1e-3)
    assert h.importance[0] == pytest.approx(np.abs(y).sum(), rel=1e-4)


def test_trim_bounds_and_prepare():
    cwm = np.zeros((10, 4))
    cwm[3:7, 0] = [0.5, 1.0, 1.0, 0.2]
    assert trim_bounds(cwm, 0.3) == (3, 6)
    m = prepare_motifs([cwm, np.ones((6, 4))], ["a", "b"], motif_lambdas={"b": 0.9})
    assert m.cwms.shape == (4, 4, 10)
    assert m.strand.tolist() == [1, -1, 1, -1]
    assert (m.trim_start.tolist(), m.trim_end.tolist()) == ([3, 4, 0, 0], [6, 7, 6, 6])
    assert m.lambdas.tolist() == pytest.approx([0.7, 0.7, 0.9, 0.9])
    assert not m.cwms[2:, :, 6:].any()  # padding of the shorter motif
    assert np.allclose(m.cwms[1][:, 4:7], m.cwms[0][::-1, 3:6][:, ::-1])


def test_bad_inputs(planted, tmp_path):
    d = planted["dir"]
    base = dict(attributions=str(d / "att.h5"), modisco_h5=str(d / "modisco.h5"),
                output_dir=str(tmp_path / "o"))
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as fh:
        fh["raw/seq"] = np.zeros((2, 4, 50), np.int8)
    with pytest.raises(InputError, match="shap/seq"):
        run(HitsParams(**base | {"attributions": str(bad)}))
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w"):
        pass
    with pytest.raises(InputError, match="no MoDISco patterns"):
        run(HitsParams(**base | {"modisco_h5": str(empty)}))
    with pytest.raises(InputError, match="window"):
        run(HitsParams(**base | {"window": 20}))
    with pytest.raises(InputError, match="motifs_include"):
        run(HitsParams(**base | {"motifs_include": ["pos_patterns.pattern_9"]}))
    with pytest.raises(InputError, match="global_lambda"):
        run(HitsParams(**base | {"global_lambda": 0.0}))
    with pytest.raises(InputError, match="motif_lambdas"):
        prepare_motifs([np.ones((5, 4))], ["a"], motif_lambdas={"b": 0.5})
    with pytest.raises(InputError, match=r"\(width, 4\)"):
        prepare_motifs([np.ones((4, 5))], ["a"])
    with pytest.raises(InputError, match="30 bp long"):
        call_hits(np.zeros((1, 4, 20), np.float32),
                  prepare_motifs([np.ones((30, 4))], ["a"]))
    with pytest.raises(InputError, match="same shape"):
        call_hits(np.zeros((1, 4, 40), np.float32), prepare_motifs([np.ones((5, 4))], ["a"]),
                  np.zeros((1, 4, 39), np.int8))


def test_regions_bed_names_and_renames(planted, tmp_path):
    d, starts = planted["dir"], planted["starts"]
    bed = tmp_path / "rows.bed"
    bed.write_text("".join(f"{c}\t{s}\t{s + L}\tpeak{i}\n"
                           for i, (c, s) in enumerate(zip(planted["chroms"], starts))))
    out = run(HitsParams(attributions=str(d / "att.h5"), modisco_h5=str(d / "modisco.h5"),
                         output_dir=str(tmp_path / "o"), regions=str(bed),
                         motifs_include=["pos_patterns.pattern_1"],
                         motif_names={"pos_patterns.pattern_1": "EBOX"}))
    rows = _read_tsv(out.hits_tsv)
    assert rows and {r["motif_name"] for r in rows} == {"EBOX"}
    assert all(r["peak_name"] == f"peak{r['peak_id']}" for r in rows)
    truth = {t for t in _truth(planted) if t[1] == "pos_patterns.pattern_1"}
    called = {(p, "pos_patterns.pattern_1", s, st) for p, _, s, st in _called(rows)}
    assert len(truth & called) / len(truth) >= 0.9
    assert list(_read_tsv(out.counts_tsv)[0])[2:] == ["EBOX", "total"]


def test_window_keeps_genome_coordinates(planted, tmp_path):
    """Calling on the central 120 bp finds the same hits there, at the same coordinates."""
    d, starts = planted["dir"], planted["starts"]
    out = run(HitsParams(attributions=str(d / "att.h5"), modisco_h5=str(d / "modisco.h5"),
                         output_dir=str(tmp_path / "o"), window=120))
    rows = _read_tsv(out.hits_tsv)
    full = _called(_read_tsv(planted["out"].hits_tsv))
    lo = starts + (L // 2 - 60)
    for r in rows:
        p = int(r["peak_id"])
        assert lo[p] <= int(r["start_untrimmed"]) and int(r["end_untrimmed"]) <= lo[p] + 120
    lengths = [len(v) for v in MOTIF_SEQS.values()]

    def untrimmed_start(k):
        return k[2] - (FLANK if k[3] == "+" else WIDTH - FLANK - lengths[int(k[1][-1])])

    inside = {k for k in full
              if lo[k[0]] <= untrimmed_start(k) and untrimmed_start(k) + WIDTH <= lo[k[0]] + 120}
    assert rows and len(inside & _called(rows)) / len(inside) >= 0.95
    assert len(_called(rows) - full) <= 0.05 * len(rows)
