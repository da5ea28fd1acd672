"""The demo simulator: planted motifs, stranded footprints, GC variation, valid BAM files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpnetkit.demo.simulate import DemoSpec, TFSpec, simulate, tn5_weights

pysam = pytest.importorskip("pysam")


def _spec(**kw):
    base = dict(n_chroms=2, chrom_length=60_000, n_peaks=40, in_window=1000,
                tfs=[TFSpec("CTCF", 300.0, 10, 4.0), TFSpec("REST", 200.0, 12, 5.0),
                     TFSpec("Pou5f1::Sox2", 120.0, 8, 4.0)], random_state=3)
    base.update(kw)
    return DemoSpec(**base)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return simulate(out, _spec()), out


def test_planted_sites_are_real_motif_instances(demo):
    from bpnetkit.io.fasta import Genome, one_hot_encode
    from bpnetkit.motifs.database import load_builtin_motifs, select_motifs

    data, _ = demo
    truth = json.loads(open(data.truth).read())
    assert [p["motif_id"] for p in truth["planted"]] == ["MA0139.2", "MA0138.3", "MA0142.1"]
    motifs = select_motifs(load_builtin_motifs(), ["CTCF", "REST", "Pou5f1::Sox2"])
    by_name = {"CTCF": motifs[0], "REST": motifs[1], "Pou5f1::Sox2": motifs[2]}
    g = Genome(data.genome)
    rng = np.random.default_rng(0)
    for site in truth["sites"]:
        m = by_name[site["tf"]]
        X = one_hot_encode(g.fetch(site["chrom"], site["start"], site["end"])).astype(float)
        if site["strand"] == "-":
            X = X[::-1, ::-1]
        lo = m.log_odds()
        score = float((lo * X.T).sum())
        # random sequences of the same length score far lower than the planted site
        rand = rng.integers(0, 4, (200, m.length))
        null = lo[np.arange(m.length), rand].sum(axis=1)
        assert score > np.quantile(null, 0.999), site
    assert sum(p["n_sites"] for p in truth["planted"]) == len(truth["sites"])


def test_stranded_footprints_flank_the_motif(demo):
    data, _ = demo
    truth = json.loads(open(data.truth).read())
    bam = pysam.AlignmentFile(data.reads)
    plus_off, minus_off = [], []
    for site in truth["sites"]:
        c = (site["start"] + site["end"]) // 2
        for r in bam.fetch(site["chrom"], c - 40, c + 40):
            five = r.reference_end - 1 if r.is_reverse else r.reference_start
            if abs(five - c) <= 30:
                (minus_off if r.is_reverse else plus_off).append(five - c)
    # ChIP-nexus-like: plus-strand 5' ends upstream of the motif centre, minus downstream
    assert np.median(plus_off) < -3 and np.median(minus_off) > 3
    assert len(plus_off) > 20 * len(truth["sites"]) * 0.5


def test_reads_enriched_at_peaks_and_control_flat(demo):
    from bpnetkit.io.bed import read_regions

    data, _ = demo
    peaks = read_regions(data.peaks)
    reads = pysam.AlignmentFile(data.reads)
    ctl = pysam.AlignmentFile(data.control)
    in_peaks = sum(reads.count(str(c), int(s) - 100, int(s) + 100)
                   for c, s in zip(peaks.chrom, peaks.summit))
    total = reads.mapped
    width = 200 * len(peaks.chrom) / (2 * 60_000)
    assert in_peaks / total > 10 * width  # strong enrichment
    ctl_in = sum(ctl.count(str(c), int(s) - 100, int(s) + 100)
                 for c, s in zip(peaks.chrom, peaks.summit))
    assert ctl_in / ctl.mapped < 4 * width  # at most a weak enrichment
    # headers match the genome
    assert dict(zip(reads.references, reads.lengths)) == {"chr1": 60_000, "chr2": 60_000}


def test_gc_varies_and_cpg_depleted():
    from bpnetkit.demo.simulate import random_genome

    codes = random_genome(1, 600_000, np.random.default_rng(0))["chr1"]
    seq = "".join("ACGT"[i] for i in codes)
    blocks = [seq[i:i + 5000] for i in range(0, len(seq), 5000)]
    gc = np.array([(b.count("G") + b.count("C")) / len(b) for b in blocks])
    assert 0.35 < gc.mean() < 0.5 and gc.std() > 0.04  # isochore-like variation
    assert gc.min() < 0.36 and gc.max() > 0.5
    c, g = seq.count("C") / len(seq), seq.count("G") / len(seq)
    obs_exp = seq.count("CG") / (c * g * len(seq))
    assert obs_exp < 0.5


def test_same_seed_same_files(tmp_path):
    a = simulate(tmp_path / "a", _spec(n_peaks=10, chrom_length=30_000))
    b = simulate(tmp_path / "b", _spec(n_peaks=10, chrom_length=30_000))
    assert open(a.genome).read() == open(b.genome).read()
    assert open(a.truth).read() == open(b.truth).read()


def test_atac_fragments_follow_tn5_bias(tmp_path):
    data = simulate(tmp_path / "atac", _spec(assay="atac", n_peaks=20, chrom_length=40_000))
    bam = pysam.AlignmentFile(data.reads)
    assert data.control is None
    reads = list(bam.fetch("chr1"))
    assert all(r.is_paired for r in reads)
    from bpnetkit.io.fasta import Genome

    g = Genome(data.genome)
    codes = np.frombuffer(g.fetch("chr1", 0, 40_000).upper().encode(), dtype=np.uint8)
    lut = np.zeros(256, dtype=np.uint8)
    for i, ch in enumerate(b"ACGT"):
        lut[ch] = i
    w = tn5_weights(lut[codes])
    starts = np.array([r.reference_start for r in reads if not r.is_reverse])
    starts = starts[(starts > 10) & (starts < 40_000 - 10)]
    # insertion sites prefer high Tn5 weight more than random positions do
    assert w[starts].mean() > 1.1 * w.mean()
