"""GC-matched negatives: GC of negatives matches the peaks (small KS statistic)."""

from __future__ import annotations

import json

import numpy as np
import pyBigWig
import pytest
from scipy.stats import ks_2samp

from bpnetkit.data.negatives import NegativesParams, gc_fraction, match_gc, run_negatives
from bpnetkit.data.regions import read_regions
from bpnetkit.errors import InputError
from bpnetkit.io.fasta import Genome

W = 200


@pytest.fixture
def gc_genome(tmp_path):
    """Two chromosomes made of 2 kb segments of varying GC; peaks in GC-rich segments."""
    rng = np.random.default_rng(0)
    seqs, peaks = {}, []
    for c in ("chr1", "chr2"):
        parts = []
        for k in range(60):
            gc = rng.uniform(0.25, 0.75)
            p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
            parts.append("".join(rng.choice(list("ACGT"), 2000, p=p)))
            if gc > 0.55 and k % 2 == 0:
                s = k * 2000 + 900
                peaks.append(f"{c}\t{s}\t{s + 200}\n")
        seqs[c] = "".join(parts)
    seqs["chr1"] = seqs["chr1"][:5000] + "N" * 3000 + seqs["chr1"][8000:]
    with open(tmp_path / "g.fa", "w") as fh:
        for c, s in seqs.items():
            fh.write(f">{c}\n" + "\n".join(s[i:i + 80] for i in range(0, len(s), 80)) + "\n")
    (tmp_path / "peaks.bed").write_text("".join(peaks))
    return tmp_path


def test_negatives_match_gc(gc_genome):
    d = gc_genome
    out = run_negatives(NegativesParams(genome=str(d / "g.fa"), peaks=str(d / "peaks.bed"),
                                        output_dir=str(d / "o"), width=W, ratio=2.0,
                                        random_state=1))
    neg = read_regions(out["negatives"])
    peaks = read_regions(d / "peaks.bed")
    report = json.loads(open(out["report"]).read())
    assert report["n_negatives"] == len(neg) == 2 * len(peaks)
    assert (neg.end - neg.start == W).all()
    g = Genome(d / "g.fa")
    # independent GC of both sets
    pgc, _ = gc_fraction(g, peaks.chrom, peaks.summit - W // 2, peaks.summit - W // 2 + W)
    ngc, nf = gc_fraction(g, neg.chrom, neg.start, neg.end)
    assert nf.max() <= 0.01
    ks = ks_2samp(pgc, ngc).statistic
    assert ks < 0.15 and abs(report["ks_statistic"] - ks) < 1e-9
    # random bins would not match: peaks sit in GC-rich segments
    rng = np.random.default_rng(0)
    rs = rng.integers(10000, 110000, 200)
    rgc, _ = gc_fraction(g, ["chr2"] * 200, rs, rs + W)
    assert ks_2samp(pgc, rgc).statistic > 0.3
    # no overlap with peak windows
    for c, s, e in zip(neg.chrom, neg.start, neg.end):
        m = peaks.chrom == c
        assert not ((peaks.summit[m] - W // 2 < e) & (peaks.summit[m] + W // 2 > s)).any()
    again = run_negatives(NegativesParams(genome=str(d / "g.fa"), peaks=str(d / "peaks.bed"),
                                          output_dir=str(d / "o2"), width=W, ratio=2.0,
                                          random_state=1))
    assert open(again["negatives"]).read() == open(out["negatives"]).read()
    assert open(out["plot"], "rb").read(4) == b"\x89PNG"


def test_signal_threshold_and_errors(gc_genome):
    d = gc_genome
    g = Genome(d / "g.fa")
    bw = pyBigWig.open(str(d / "s.bw"), "w")
    bw.addHeader(list(g.chrom_sizes.items()))
    n = 120000 // 97
    bw.addEntries("chr2", [i * 97 for i in range(n)], values=[5.0] * n, span=1)
    bw.close()
    out = run_negatives(NegativesParams(genome=str(d / "g.fa"), peaks=str(d / "peaks.bed"),
                                        output_dir=str(d / "o"), width=W, ratio=1.0,
                                        signals=[str(d / "s.bw")], max_signal=1.0))
    neg = read_regions(out["negatives"])
    assert set(neg.chrom) == {"chr1"}
    (d / "p1.bed").write_text("1\t100\t300\n")
    with pytest.raises(InputError, match="'chr' prefix"):
        run_negatives(NegativesParams(genome=str(d / "g.fa"), peaks=str(d / "p1.bed"),
                                      output_dir=str(d / "o3"), width=W))


def test_match_gc_borrows_from_neighbours():
    target = np.full(8, 0.505)
    cand = np.r_[np.full(3, 0.505), np.full(5, 0.515), np.full(5, 0.9)]
    idx = match_gc(target, cand, 1.0, 100, 0)
    np.testing.assert_array_equal(idx, np.arange(8))  # 3 from its bin, 5 from the next
    idx = match_gc(np.full(10, 0.505), cand, 1.0, 100, 0)
    assert len(idx) == 10 and set(range(8)) <= set(idx)  # then the nearest remaining
