"""The demo simulator: real backbone, planted motifs (a short low-information one among them),
background instances, stranded footprints, counts that follow the effects, valid BAM files."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from bpnetkit.demo.simulate import DemoSpec, TFSpec, simulate, tn5_weights
from bpnetkit.errors import InputError

pysam = pytest.importorskip("pysam")

LENGTH = 60_000
TFS = [TFSpec("CTCF", 300.0, 10, 4.0), TFSpec("REST", 200.0, 12, 5.0),
       TFSpec("MA0481.4", 150.0, 7, 4.0, sharpen=1.0), TFSpec("Pou5f1::Sox2", 100.0, 8, 4.0)]


def _spec(**kw):
    base = dict(n_chroms=2, chrom_length=LENGTH, n_peaks=40, in_window=1000, tfs=TFS,
                pair=None, background_sites_per_kb=0.5, random_state=3)
    base.update(kw)
    return DemoSpec(**base)


def _shipped_backbone() -> str:
    """The shipped backbone read independently of the simulator (gzip, FASTA by hand)."""
    from importlib.resources import files

    raw = (files("bpnetkit.demo") / "data" / "ce_chrX_tail.fa.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    assert lines[0].startswith(">")
    return "".join(lines[1:]).upper()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    data = simulate(out, _spec())
    return data, json.loads(open(data.truth).read())


def _scores(motif, seqs):
    lo = motif.log_odds()
    return np.array([lo[np.arange(motif.length), s].sum() for s in seqs])


def test_shipped_backbone_is_the_documented_sequence():
    seq = _shipped_backbone()
    # shared/data/README: 1,618,849 bp, GC 35.6 %, no N
    assert len(seq) == 1_618_849
    assert set(seq) == set("ACGT")
    assert abs((seq.count("G") + seq.count("C")) / len(seq) - 0.356) < 0.002


def test_genome_is_the_backbone_outside_planted_sites(demo):
    from bpnetkit.io.fasta import Genome

    data, truth = demo
    backbone = _shipped_backbone()
    g = Genome(data.genome)
    assert data.chroms == ["chr1", "chr2"]
    for k, chrom in enumerate(data.chroms):
        seq = g.fetch(chrom, 0, LENGTH).upper()
        ref = backbone[k * LENGTH:(k + 1) * LENGTH]
        planted = np.zeros(LENGTH, bool)
        for s in truth["sites"]:
            if s["chrom"] == chrom:
                planted[s["start"]:s["end"]] = True
        diff = np.frombuffer(seq.encode(), np.uint8) != np.frombuffer(ref.encode(), np.uint8)
        assert not diff[~planted].any()  # untouched sequence is the real one
        assert diff[planted].mean() > 0.2  # planted sites did change it


def test_planted_sites_are_instances_of_their_motifs(demo):
    from bpnetkit.io.fasta import Genome, one_hot_encode
    from bpnetkit.motifs.database import load_builtin_motifs, select_motifs

    data, truth = demo
    assert [p["motif_id"] for p in truth["planted"]] == ["MA0139.2", "MA0138.3", "MA0481.4",
                                                          "MA0142.1"]
    foxp1 = truth["planted"][2]
    assert foxp1["length"] == 7 and foxp1["information_content"] < 11  # short, low-info
    motifs = select_motifs(load_builtin_motifs(), [p["motif_id"] for p in truth["planted"]])
    by_name = dict(zip([t.name for t in TFS], motifs))
    g = Genome(data.genome)
    rng = np.random.default_rng(0)
    for name, m in by_name.items():
        codes = []
        for site in truth["sites"]:
            if site["tf"] != name:
                continue
            X = one_hot_encode(g.fetch(site["chrom"], site["start"], site["end"]))
            if site["strand"] == "-":
                X = X[::-1, ::-1]
            codes.append(np.argmax(X, axis=0))
        assert codes, name
        planted = _scores(m, codes)
        null = _scores(m, rng.integers(0, 4, (2000, m.length)))
        # every site scores above a typical random sequence, and the sites together far
        # above random ones (drawn from the matrix, not just its consensus)
        assert (planted > np.median(null)).all(), name
        assert planted.mean() > np.quantile(null, 0.99), name
    n_peak = sum(p["n_sites"] for p in truth["planted"])
    n_bg = sum(p["n_background_sites"] for p in truth["planted"])
    assert n_peak + n_bg == len(truth["sites"]) and n_bg > 10


def test_background_sites_lie_away_from_peaks_with_weak_signal(demo):
    data, truth = demo
    summits = {(p["chrom"], p["summit"]) for p in truth["peaks"]}
    bam = pysam.AlignmentFile(data.reads)

    def reads_at(site):
        c = (site["start"] + site["end"]) // 2
        return bam.count(site["chrom"], c - 30, c + 30)

    bg = [s for s in truth["sites"] if s["peak"] < 0]
    for s in bg:
        c = (s["start"] + s["end"]) // 2
        assert min(abs(c - sm) for ch, sm in summits if ch == s["chrom"]) > 1000
    strength = {t.name: t.strength for t in TFS}
    # expected footprint reads within 30 bp: about background_effect of a peak site's
    at_bg = np.mean([reads_at(s) / strength[s["tf"]] for s in bg])
    at_peak = np.mean([reads_at(s) / strength[s["tf"]] for s in truth["sites"]
                       if s["peak"] >= 0])
    assert 0.03 < at_bg / at_peak < 0.3


def test_peak_counts_follow_the_planted_effects(tmp_path):
    from bpnetkit.io.bed import read_regions

    # one site per peak, no per-peak noise: counts are proportional to the strength
    data = simulate(tmp_path, _spec(n_chroms=3, n_peaks=120, secondary_fraction=0.0,
                                    peak_sd=0.0, background_sites_per_kb=0.0))
    truth = json.loads(open(data.truth).read())
    peaks = read_regions(data.peaks)
    bam = pysam.AlignmentFile(data.reads)
    tf_of = {s["peak"]: s["tf"] for s in truth["sites"]}
    summit_of = {p["peak"]: (p["chrom"], p["summit"]) for p in truth["peaks"]}
    assert len(peaks.chrom) == len(summit_of)
    counts: dict[str, list[int]] = {t.name: [] for t in TFS}
    for i, (c, s) in summit_of.items():
        counts[tf_of[i]].append(bam.count(c, s - 300, s + 300))
    means = {k: np.mean(v) for k, v in counts.items()}
    for t in TFS:
        assert len(counts[t.name]) > 15
        # footprint and broad component sum to the strength on each strand
        assert 0.9 * 2 * t.strength < means[t.name] < 1.1 * 2 * t.strength, (t.name, means)
    order = sorted(means, key=means.get, reverse=True)
    assert order == [t.name for t in TFS]


def test_stranded_footprints_flank_the_motif(demo):
    data, truth = demo
    bam = pysam.AlignmentFile(data.reads)
    plus_off, minus_off = [], []
    for site in truth["sites"]:
        if site["peak"] < 0:
            continue
        c = (site["start"] + site["end"]) // 2
        for r in bam.fetch(site["chrom"], c - 40, c + 40):
            five = r.reference_end - 1 if r.is_reverse else r.reference_start
            if abs(five - c) <= 30:
                (minus_off if r.is_reverse else plus_off).append(five - c)
    # ChIP-nexus-like: plus-strand 5' ends upstream of the motif centre, minus downstream
    assert np.median(plus_off) < -3 and np.median(minus_off) > 3
    n_peak_sites = sum(s["peak"] >= 0 for s in truth["sites"])
    assert len(plus_off) > 20 * n_peak_sites * 0.5


def test_reads_enriched_at_peaks_and_control_flat(demo):
    from bpnetkit.io.bed import read_regions

    data, _ = demo
    peaks = read_regions(data.peaks)
    reads = pysam.AlignmentFile(data.reads)
    ctl = pysam.AlignmentFile(data.control)
    in_peaks = sum(reads.count(str(c), int(s) - 100, int(s) + 100)
                   for c, s in zip(peaks.chrom, peaks.summit))
    total = reads.mapped
    width = 200 * len(peaks.chrom) / (2 * LENGTH)
    assert in_peaks / total > 10 * width  # strong enrichment
    ctl_in = sum(ctl.count(str(c), int(s) - 100, int(s) + 100)
                 for c, s in zip(peaks.chrom, peaks.summit))
    assert ctl_in / ctl.mapped < 4 * width  # at most a weak enrichment
    # headers match the genome
    assert dict(zip(reads.references, reads.lengths)) == {"chr1": LENGTH, "chr2": LENGTH}


def test_backbone_too_short_is_an_error(tmp_path):
    with pytest.raises(InputError, match="fewer than"):
        simulate(tmp_path, _spec(n_chroms=5, chrom_length=400_000))
    fa = tmp_path / "tiny.fa"
    fa.write_text(">a\nACGTNACGTacgt\n")
    from bpnetkit.demo.simulate import load_backbone

    codes = load_backbone(str(fa))
    assert codes.size == 13 and codes[:4].tolist() == [0, 1, 2, 3]
    assert codes[9:].tolist() == [1, 2, 3] or codes[-3:].tolist() == [1, 2, 3]
    with pytest.raises(InputError, match="neither a shipped backbone"):
        simulate(tmp_path, _spec(backbone=str(tmp_path / "missing.fa")))


def test_random_genome_option_varies_gc_and_depletes_cpg():
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
    c = simulate(tmp_path / "c", _spec(n_peaks=10, chrom_length=30_000, random_state=4))
    assert open(a.truth).read() != open(c.truth).read()


def test_atac_fragments_follow_tn5_bias(tmp_path):
    from bpnetkit.demo.simulate import tn5_motif

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
    # insertion (cut) positions as ATAC pipelines count them: +4 / -4 shifted 5' ends
    cuts = {"plus": np.array([r.reference_start + 4 for r in reads if not r.is_reverse]),
            "minus": np.array([r.reference_end - 1 - 4 for r in reads if r.is_reverse])}
    m = tn5_motif()
    assert m.length == 9
    base = np.bincount(lut[codes], minlength=4) / codes.size  # the backbone is AT-rich
    for strand, c in cuts.items():
        c = c[(c > 10) & (c < 40_000 - 10)]
        assert c.size > 1000
        # both ends of the fragments prefer high Tn5 weight more than random positions do
        assert w[c].mean() > 1.1 * w.mean(), strand
        # the Tn5 motif is centred on the cut: its first row (G > T) lies 4 bp before it
        before = lut[codes[c - 4]]
        freq = np.bincount(before, minlength=4) / before.size
        enrichment = (freq[2] / freq[3]) / (base[2] / base[3])
        assert m.pwm[0, 2] / m.pwm[0, 3] > 1.5 and enrichment > 1.3, (strand, enrichment)
        # and not shifted: 4 bp further out the preference is gone
        off = lut[codes[c - 8]]
        freq = np.bincount(off, minlength=4) / off.size
        assert (freq[2] / freq[3]) / (base[2] / base[3]) < 1.15, strand


def _affinities(seq: str, motif, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-strand relative affinity 2 ** log2-odds of every window of ``seq``, computed here
    from the JASPAR matrix (not by the simulator), and the window starts."""
    lo = np.log2((motif.pwm + 1e-3) / (1 + 4e-3) / bg)
    idx = np.frombuffer(seq.encode(), np.uint8)
    codes = np.searchsorted(np.frombuffer(b"ACGT", np.uint8), idx)
    L = motif.length
    fwd = np.array([lo[np.arange(L), codes[j:j + L]].sum() for j in range(codes.size - L + 1)])
    rev_lo = lo[::-1, ::-1]
    rev = np.array([rev_lo[np.arange(L), codes[j:j + L]].sum()
                    for j in range(codes.size - L + 1)])
    return np.maximum(fwd, rev), np.arange(codes.size - L + 1)


def test_affinity_binding_every_match_recruits_by_its_score(tmp_path):
    """binding='affinity': the reads in a peak follow the summed affinity of every match of
    the planted matrices there, planted or chance, as recomputed here from the sequence."""
    from bpnetkit.io.fasta import Genome
    from bpnetkit.motifs.database import load_builtin_motifs, select_motifs

    tfs = [TFSpec("CTCF", 300.0, 10, 4.0), TFSpec("MA0481.4", 150.0, 7, 4.0)]
    spec = _spec(n_chroms=3, n_peaks=120, tfs=tfs, sharpen=1.0, secondary_fraction=0.0,
                 peak_sd=0.0, background_sites_per_kb=0.0, binding="affinity")
    data = simulate(tmp_path, spec)
    truth = json.loads(open(data.truth).read())
    assert truth["binding"] == "affinity" and "affinity" in truth["grammar"]
    g = Genome(data.genome)
    # base composition of the genome before planting: the backbone's pieces
    whole = _shipped_backbone()[:3 * LENGTH]
    bg = np.array([whole.count(b) for b in "ACGT"], float) / len(whole)
    motifs = dict(zip(["CTCF", "MA0481.4"],
                      select_motifs(load_builtin_motifs(), ["CTCF", "MA0481.4"])))
    # s0: the mean score of sites drawn from the matrix itself
    s0 = {k: float((m.pwm * np.log2((m.pwm + 1e-3) / (1 + 4e-3) / bg)).sum())
          for k, m in motifs.items()}
    strength = {t.name: t.strength for t in tfs}
    bam = pysam.AlignmentFile(data.reads)
    reads, mine, planted_only = [], [], []
    n_chance = 0.0
    for peak in truth["peaks"]:
        c, summit = peak["chrom"], peak["summit"]
        total = 0.0
        for name, m in motifs.items():
            lo_edge = summit - 270 - m.length // 2
            score, starts = _affinities(g.fetch(c, lo_edge, summit + 270 + m.length).upper(),
                                        m, bg)
            centre = lo_edge + starts + m.length // 2
            keep = (centre >= summit - 270) & (centre < summit + 270)
            aff = np.minimum(np.exp2(score[keep] - s0[name]), 8.0)
            aff = aff[aff >= 0.05]
            listed = sorted(b["affinity"] for b in truth["bound"]
                            if b["peak"] == peak["peak"] and b["tf"] == name)
            assert np.allclose(sorted(aff), listed, atol=1e-3), (peak, name)
            total += strength[name] * aff.sum()
        assert abs(total - peak["binding"]) < 1e-2 * max(total, 1)
        planted = [s for s in truth["sites"] if s["peak"] == peak["peak"]]
        centres = {((s["start"] + s["end"]) // 2, s["tf"]) for s in planted}
        n_chance += sum(b["affinity"] * strength[b["tf"]] for b in truth["bound"]
                        if b["peak"] == peak["peak"] and (b["centre"], b["tf"]) not in centres)
        reads.append(bam.count(c, summit - 300, summit + 300))
        mine.append(total)
        planted_only.append(sum(strength[s["tf"]] for s in planted))
    reads_a, mine_a = np.array(reads, float), np.array(mine)
    # both strands: each match recruits strength x affinity reads per strand
    assert 0.95 < reads_a.sum() / (2 * mine_a.sum()) < 1.05
    assert np.corrcoef(np.log1p(reads_a), np.log1p(mine_a))[0, 1] > 0.95
    # chance matches carry a real share of the signal: the planted sites alone explain less
    assert n_chance > 0.2 * mine_a.sum()
    assert np.corrcoef(np.log1p(reads_a), np.log1p(planted_only))[0, 1] < 0.8


def test_planted_binding_ignores_chance_matches_and_bad_binding_is_an_error(tmp_path):
    data = simulate(tmp_path / "p", _spec(n_peaks=10, chrom_length=30_000))
    truth = json.loads(open(data.truth).read())
    assert truth["binding"] == "planted" and "bound" not in truth
    with pytest.raises(InputError, match="binding must be one of"):
        simulate(tmp_path / "x", _spec(binding="sequence"))
