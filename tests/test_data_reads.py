"""Reads -> bigWig: values against an independent direct count of read 5' ends."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pyBigWig
import pysam
import pytest

from bpnetkit.data.reads import reads_to_bigwig
from bpnetkit.errors import InputError
from bpnetkit.io.bigwig import write_bigwig
from bpnetkit.io.chrom_sizes import read_chrom_sizes
from bpnetkit.steps.bam2bw import Bam2BwOutputs, Bam2BwParams, run_bam2bw

SIZES = {"chr1": 5000, "chr2": 3000, "chrM": 100}


def make_reads(n=3000, paired=False, seed=0):
    """Random alignments: (chrom, start, cigar, reverse, flag, mapq)."""
    rng = np.random.default_rng(seed)
    reads = []
    names = list(SIZES)[:2]
    for i in range(n):
        c = names[int(rng.integers(0, 2))]
        start = int(rng.integers(0, SIZES[c] - 120))
        kind = int(rng.integers(0, 4))
        cigar = [[(0, 50)], [(0, 20), (2, 5), (0, 30)], [(4, 3), (0, 40), (3, 10), (0, 7)],
                 [(0, 10), (1, 4), (0, 36)]][kind]
        flag = 0
        if rng.random() < 0.5:
            flag |= 0x10
        if paired:
            flag |= 0x1 | 0x40 * (1 + (i % 2))
            if rng.random() < 0.9:
                flag |= 0x2
        r = rng.random()
        if r < 0.05:
            flag |= 0x400
        elif r < 0.08:
            flag |= 0x100
        elif r < 0.1:
            flag |= 0x200
        elif r < 0.12:
            flag |= 0x4
        reads.append((c, start, cigar, flag, int(rng.integers(0, 60))))
    return reads


def write_bam(path, reads, sort=True):
    header = {"HD": {"VN": "1.6", "SO": "coordinate" if sort else "unsorted"},
              "SQ": [{"SN": c, "LN": n} for c, n in SIZES.items()]}
    tid = {c: i for i, c in enumerate(SIZES)}
    order = sorted(range(len(reads)), key=lambda i: (tid[reads[i][0]], reads[i][1])) if sort \
        else list(range(len(reads)))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i in order:
            c, s, cig, flag, mapq = reads[i]
            a = pysam.AlignedSegment(out.header)
            a.query_name = f"r{i}"
            qlen = sum(n for op, n in cig if op in (0, 1, 4))
            a.query_sequence = "A" * qlen
            a.flag = flag
            a.reference_id = tid[c]
            a.reference_start = s
            a.mapping_quality = mapq
            a.cigartuples = cig
            if flag & 1:
                a.next_reference_id = tid[c]
                a.next_reference_start = s
            out.write(a)
    if sort:
        pysam.index(str(path))
    return path


def direct_counts(path, shift=(0, 0), min_mapq=0, skip=0x4 | 0x100 | 0x200 | 0x800,
                  require=0):
    """Independent count with pysam's own coordinates."""
    plus, minus = Counter(), Counter()
    with pysam.AlignmentFile(str(path), "rb", check_sq=False) as f:
        for r in f.fetch(until_eof=True):
            if r.flag & skip or (r.flag & require) != require or r.mapping_quality < min_mapq:
                continue
            if r.is_reverse:
                p = r.reference_end - 1 + shift[1]
                if 0 <= p < SIZES[r.reference_name]:
                    minus[(r.reference_name, p)] += 1
            else:
                p = r.reference_start + shift[0]
                if 0 <= p < SIZES[r.reference_name]:
                    plus[(r.reference_name, p)] += 1
    return plus, minus


def bw_dense(path):
    bw = pyBigWig.open(str(path))
    assert bw.chroms() == SIZES
    out = {c: np.nan_to_num(bw.values(c, 0, n, numpy=True)) for c, n in SIZES.items()}
    bw.close()
    return out


def as_dense(counter):
    out = {c: np.zeros(n) for c, n in SIZES.items()}
    for (c, p), v in counter.items():
        out[c][p] += v
    return out


def assert_same(bw_path, counter):
    got, want = bw_dense(bw_path), as_dense(counter)
    for c in SIZES:
        np.testing.assert_array_equal(got[c], want[c])


@pytest.mark.parametrize("preset,shift", [(None, (0, 0)), ("atac", (4, -4)), ("dnase", (0, 1))])
def test_bam_stranded_matches_direct_count(tmp_path, preset, shift):
    bam = write_bam(tmp_path / "r.bam", make_reads())
    out = reads_to_bigwig([bam], tmp_path / "o", preset=preset, min_mapq=10)
    plus, minus = direct_counts(bam, shift, min_mapq=10)
    assert_same(out["plus"], plus)
    assert_same(out["minus"], minus)


def test_unstranded_dups_merge_and_unsorted(tmp_path):
    reads = make_reads(2000, seed=1)
    a = write_bam(tmp_path / "a.bam", reads[:1000])
    b = write_bam(tmp_path / "b.bam", reads[1000:], sort=False)
    out = reads_to_bigwig([a, b], tmp_path / "u", stranded=False, skip_duplicates=True,
                          shift_plus=2, shift_minus=-3, memory_mb=0)  # spill every chunk
    skip = 0x4 | 0x100 | 0x200 | 0x800 | 0x400
    total = Counter()
    for f in (a, b):
        p, m = direct_counts(f, (2, -3), skip=skip)
        total += p + m
    assert_same(out["signal"], total)


def test_paired_end_and_single_end_error(tmp_path):
    bam = write_bam(tmp_path / "pe.bam", make_reads(1000, paired=True, seed=2))
    out = reads_to_bigwig([bam], tmp_path / "pe", paired_end=True)
    plus, minus = direct_counts(bam, require=0x3, skip=0x4 | 0x8 | 0x100 | 0x200 | 0x800)
    assert_same(out["plus"], plus)
    assert_same(out["minus"], minus)
    se = write_bam(tmp_path / "se.bam", make_reads(100, seed=3))
    with pytest.raises(InputError, match="single-end"):
        reads_to_bigwig([se], tmp_path / "x", paired_end=True)


def test_sam_input_equals_bam(tmp_path):
    bam = write_bam(tmp_path / "r.bam", make_reads(500, seed=4))
    sam = tmp_path / "r.sam"
    pysam.view("-h", "-o", str(sam), str(bam), catch_stdout=False)
    o1 = reads_to_bigwig([bam], tmp_path / "b")
    o2 = reads_to_bigwig([sam], tmp_path / "s")
    for k in ("plus", "minus"):
        a, b = bw_dense(o1[k]), bw_dense(o2[k])
        for c in SIZES:
            np.testing.assert_array_equal(a[c], b[c])


def test_fragments_and_bed_reads(tmp_path):
    rng = np.random.default_rng(5)
    frags = []
    for _ in range(500):
        c = ["chr1", "chr2"][int(rng.integers(0, 2))]
        s = int(rng.integers(0, SIZES[c] - 400))
        frags.append((c, s, s + int(rng.integers(30, 300))))
    frags.sort()
    with gzip.open(tmp_path / "fragments.tsv.gz", "wt") as fh:
        fh.write("# comment\n")
        for c, s, e in frags:
            fh.write(f"{c}\t{s}\t{e}\tBARCODE-1\t1\n")
    sizes = tmp_path / "g.sizes"
    sizes.write_text("".join(f"{c}\t{n}\n" for c, n in SIZES.items()))
    out = reads_to_bigwig([tmp_path / "fragments.tsv.gz"], tmp_path / "f",
                          read_chrom_sizes(sizes), stranded=True)
    assert_same(out["plus"], Counter((c, s) for c, s, e in frags))
    assert_same(out["minus"], Counter((c, e - 1) for c, s, e in frags))
    # BED reads with strand; unsorted
    bed = tmp_path / "reads.bed"
    rows = [(c, s, e, "+-"[i % 2]) for i, (c, s, e) in enumerate(frags)][::-1]
    bed.write_text("".join(f"{c}\t{s}\t{e}\tr\t0\t{st}\n" for c, s, e, st in rows))
    out = reads_to_bigwig([bed], tmp_path / "b", read_chrom_sizes(sizes), stranded=False,
                          preset="atac")
    want = Counter((c, s + 4) if st == "+" else (c, e - 1 - 4) for c, s, e, st in rows)
    assert_same(out["signal"], want)


def test_bad_inputs(tmp_path):
    sizes = {"chr1": 1000}
    p = tmp_path / "bad.bed"
    p.write_text("chr1\t10\t20\tr\t0\t+\nchr1\tx\t30\tr\t0\t+\n")
    with pytest.raises(InputError, match="line 2"):
        reads_to_bigwig([p], tmp_path / "o", sizes)
    p.write_text("1\t10\t20\tr\t0\t+\n")
    with pytest.raises(InputError, match="'chr' prefix"):
        reads_to_bigwig([p], tmp_path / "o", sizes)
    p.write_text("chr1\t10\t20\tr\t0\t.\n")
    with pytest.raises(InputError, match="strand"):
        reads_to_bigwig([p], tmp_path / "o", sizes)
    p.write_text("chr1\t30\t20\tr\t0\t+\n")
    with pytest.raises(InputError, match="line 1.*not greater"):
        reads_to_bigwig([p], tmp_path / "o", sizes)
    f = tmp_path / "fragments.tsv.gz"
    data = gzip.compress(b"chr1\t1\t50\tA\t1\n" * 5000)
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt"):
        reads_to_bigwig([f], tmp_path / "o", sizes)
    bam = write_bam(tmp_path / "r.bam", make_reads(300))
    trunc = tmp_path / "t.bam"
    trunc.write_bytes(bam.read_bytes()[:-2000])
    with pytest.raises(InputError):
        reads_to_bigwig([trunc], tmp_path / "o")
    with pytest.raises(InputError, match="chromosome sizes"):
        reads_to_bigwig([tmp_path / "fragments.tsv.gz"], tmp_path / "o")
    with pytest.raises(InputError, match="'chr' prefix"):
        reads_to_bigwig([bam], tmp_path / "o", {"1": 5000, "2": 3000})
    with pytest.raises(InputError, match="different assembly"):
        reads_to_bigwig([bam], tmp_path / "o", {"chr1": 4000, "chr2": 3000})


def test_run_bam2bw_writes_params(tmp_path):
    bam = write_bam(tmp_path / "r.bam", make_reads(200))
    out = run_bam2bw(Bam2BwParams(inputs=[str(bam)], output_dir=str(tmp_path / "out"),
                                  name="x", stranded=False))
    assert isinstance(out, Bam2BwOutputs)
    assert out.bigwigs == [str(tmp_path / "out" / "x.bw")]
    assert out.missing() == [] and Bam2BwOutputs.from_dict(out.to_dict()) == out
    assert json.loads(open(out.params).read())["stranded"] is False
    both = run_bam2bw(Bam2BwParams(inputs=[str(bam)], output_dir=str(tmp_path / "out"),
                                   name="y"))
    assert both.bigwigs == [str(tmp_path / "out" / f"y.{s}.bw") for s in ("plus", "minus")]


@pytest.mark.parametrize("zooms", [0, 3])
def test_bigwig_writer_large_index(tmp_path, zooms):
    """>256 data blocks (a two-level index); our writer and pyBigWig's agree."""
    rng = np.random.default_rng(6)
    sizes = {"chrA": 2_000_000, "chrB": 10, "chrC": 50_000}
    pa = np.sort(rng.choice(2_000_000, 300_000, replace=False))
    va = rng.integers(1, 9, len(pa)).astype(float)
    pc = np.array([0, 49_999])
    path = write_bigwig(tmp_path / "w.bw", sizes, iter([("chrA", pa, va),
                                                        ("chrB", pa[:0], va[:0]),
                                                        ("chrC", pc, np.array([2.5, 1.0]))]),
                        zoom_levels=zooms)
    bw = pyBigWig.open(str(path))
    assert bw.chroms() == sizes
    dense = np.zeros(2_000_000)
    dense[pa] = va
    np.testing.assert_array_equal(np.nan_to_num(bw.values("chrA", 0, 2_000_000, numpy=True)),
                                  dense)
    assert bw.values("chrC", 49_999, 50_000) == [1.0] and bw.values("chrC", 0, 1) == [2.5]
    assert bw.header()["nBasesCovered"] == len(pa) + 2
    bw.close()
