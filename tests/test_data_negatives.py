"""GC-matched negatives: GC of negatives matches the peaks (small KS statistic)."""

from __future__ import annotations

import json

import numpy as np
import pyBigWig
import pytest
from matplotlib.figure import Figure
from scipy.stats import ks_2samp

from bpnetkit.data.negatives import match_gc
from bpnetkit.errors import InputError
from bpnetkit.io.bed import read_regions
from bpnetkit.io.fasta import Genome
from bpnetkit.report.data import gc_report_figure
from bpnetkit.steps.negatives import NegativesOutputs, NegativesParams, run_negatives

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
    # soft-masked stretches must count like upper case
    seqs["chr2"] = seqs["chr2"][:30000] + seqs["chr2"][30000:34000].lower() + seqs["chr2"][34000:]
    with open(tmp_path / "g.fa", "w") as fh:
        for c, s in seqs.items():
            fh.write(f">{c}\n" + "\n".join(s[i:i + 80] for i in range(0, len(s), 80)) + "\n")
    (tmp_path / "peaks.bed").write_text("".join(peaks))
    return tmp_path


def read_fasta(path):
    """The FASTA as {name: sequence}, with plain string operations (the test's own reader)."""
    seqs, name = {}, None
    for line in open(path):
        line = line.strip()
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = []
        elif line:
            seqs[name].append(line)
    return {k: "".join(v) for k, v in seqs.items()}


def gc_and_n(seqs, chroms, starts, ends):
    """GC fraction among A/C/G/T letters and the non-ACGT fraction, by counting characters."""
    gc, nf = [], []
    for c, s, e in zip(chroms, starts, ends):
        sub = seqs[c][int(s):int(e)].upper()
        acgt = sum(sub.count(b) for b in "ACGT")
        gc.append((sub.count("G") + sub.count("C")) / acgt if acgt else 0.0)
        nf.append(1 - acgt / len(sub))
    return np.array(gc), np.array(nf)


def test_negatives_match_gc(gc_genome):
    d = gc_genome
    out = run_negatives(NegativesParams(genome=str(d / "g.fa"), peaks=str(d / "peaks.bed"),
                                        output_dir=str(d / "o"), width=W, ratio=2.0,
                                        random_state=1))
    assert isinstance(out, NegativesOutputs) and out.missing() == []
    neg = read_regions(out.negatives)
    peaks = read_regions(d / "peaks.bed")
    report = json.loads(open(out.report).read())
    assert report["n_negatives"] == len(neg) == 2 * len(peaks) == out.n_negatives
    assert out.ks_statistic == report["ks_statistic"]
    assert NegativesOutputs.from_dict(out.to_dict()) == out
    assert sorted(map(str, out.files())) == sorted([out.negatives, out.report, out.params])
    assert (neg.end - neg.start == W).all()
    # GC of both sets computed independently: characters counted in the FASTA text
    seqs = read_fasta(d / "g.fa")
    ps = peaks.summit - W // 2
    pgc, _ = gc_and_n(seqs, peaks.chrom, ps, ps + W)
    ngc, nf = gc_and_n(seqs, neg.chrom, neg.start, neg.end)
    assert nf.max() <= 0.01
    np.testing.assert_allclose(neg.score, np.round(ngc, 4), atol=1e-9)  # BED score = GC
    ks = ks_2samp(pgc, ngc).statistic
    assert ks < 0.15 and abs(report["ks_statistic"] - ks) < 1e-9
    # the report's histograms are those of the independent GC values
    h = report["gc_histogram"]
    edges = np.asarray(h["bin_edges"])
    np.testing.assert_array_equal(h["peaks"], np.histogram(pgc, edges)[0])
    np.testing.assert_array_equal(h["negatives"], np.histogram(ngc, edges)[0])
    # random bins would not match: peaks sit in GC-rich segments
    rng = np.random.default_rng(0)
    rs = rng.integers(10000, 110000, 200)
    rgc, _ = gc_and_n(seqs, ["chr2"] * 200, rs, rs + W)
    assert ks_2samp(pgc, rgc).statistic > 0.3
    # no overlap with peak windows
    for c, s, e in zip(neg.chrom, neg.start, neg.end):
        m = peaks.chrom == c
        assert not ((peaks.summit[m] - W // 2 < e) & (peaks.summit[m] + W // 2 > s)).any()
    again = run_negatives(NegativesParams(genome=str(d / "g.fa"), peaks=str(d / "peaks.bed"),
                                          output_dir=str(d / "o2"), width=W, ratio=2.0,
                                          random_state=1))
    assert open(again.negatives).read() == open(out.negatives).read()
    assert not list((d / "o").glob("*.png"))  # figures are the report's job


def test_gc_report_figure(gc_genome):
    d = gc_genome
    out = run_negatives(NegativesParams(genome=str(d / "g.fa"), peaks=str(d / "peaks.bed"),
                                        output_dir=str(d / "o"), width=W, ratio=1.0))
    report = json.loads(open(out.report).read())
    fig = gc_report_figure(out.report)
    assert isinstance(fig, Figure) and gc_report_figure(report).axes
    ax = fig.axes[0]
    heights = [np.array([p.get_height() for p in c]) for c in ax.containers]
    widths = np.diff(report["gc_histogram"]["bin_edges"])
    assert len(heights) == 2 and all(abs((h * widths).sum() - 1) < 1e-9 for h in heights)
    assert f"{report['ks_statistic']:.3f}" in ax.get_title()


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
    neg = read_regions(out.negatives)
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


def test_gc_fraction_counts_letters(gc_genome):
    from bpnetkit.data.negatives import gc_fraction

    d = gc_genome
    seqs = read_fasta(d / "g.fa")
    rng = np.random.default_rng(3)
    chroms = rng.choice(["chr1", "chr2"], 300)
    starts = rng.integers(0, 120000 - W, 300)
    starts[:3] = [4900, 5100, 29950]  # across the N run and the soft-masked stretch
    chroms[:3] = ["chr1", "chr1", "chr2"]
    gc, nf = gc_fraction(Genome(d / "g.fa"), chroms, starts, starts + W, chunk=64)
    want_gc, want_nf = gc_and_n(seqs, chroms, starts, starts + W)
    np.testing.assert_allclose(gc, want_gc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(nf, want_nf, rtol=0, atol=1e-12)
