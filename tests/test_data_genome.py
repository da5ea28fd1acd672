"""Genome, regions, splits and signals: values against direct computation, and bad input."""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pyBigWig
import pytest

from bpnetkit.data.regions import centered_windows, remove_blacklisted
from bpnetkit.data.signals import extract_signals
from bpnetkit.data.splits import get_split
from bpnetkit.errors import InputError, MissingFileError
from bpnetkit.io.bed import read_regions, write_bed, write_regions
from bpnetkit.io.fasta import (
    Genome,
    extract_sequences,
    one_hot_decode,
    one_hot_encode,
    reverse_complement,
)


def write_fasta(path, seqs, width=60):
    with open(path, "w") as fh:
        for name, s in seqs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(s), width):
                fh.write(s[i:i + width] + "\n")
    return path


@pytest.fixture
def seqs():
    rng = np.random.default_rng(0)
    alpha = np.array(list("ACGTNacgtRY"))
    return {"chr1": "".join(rng.choice(alpha, 3001)), "chr2": "".join(rng.choice(alpha, 1777))}


def test_one_hot_encode_and_decode():
    X = one_hot_encode("ACGTNacgtR")
    assert X.dtype == np.int8 and X.shape == (4, 10)
    expected = np.zeros((4, 10), dtype=np.int8)
    for i, c in enumerate("ACGTNacgtR"):
        if c.upper() in "ACGT":
            expected["ACGT".index(c.upper()), i] = 1
    np.testing.assert_array_equal(X, expected)
    assert one_hot_decode(X) == "ACGTNACGTN"
    assert one_hot_decode(reverse_complement(one_hot_encode("AACGT"))) == "ACGTT"


@pytest.mark.parametrize("width", [60, 61, 50])
def test_extract_sequences_matches_fetch(tmp_path, seqs, width):
    g = Genome(write_fasta(tmp_path / "g.fa", seqs, width))
    assert g.chrom_sizes == {"chr1": 3001, "chr2": 1777}
    rng = np.random.default_rng(1)
    chroms = rng.choice(["chr1", "chr2"], 50)
    L = 137
    starts = np.array([rng.integers(0, len(seqs[c]) - L + 1) for c in chroms])
    X = extract_sequences(g, chroms, starts, starts + L)
    assert X.shape == (50, 4, L) and X.dtype == np.int8
    for i, (c, s) in enumerate(zip(chroms, starts)):
        np.testing.assert_array_equal(X[i], one_hot_encode(seqs[c][s:s + L]))
        assert g.fetch(c, s, s + L) == seqs[c][s:s + L]


def test_bgzipped_fasta(tmp_path, seqs):
    pysam = pytest.importorskip("pysam")
    plain = write_fasta(tmp_path / "g.fa", seqs)
    pysam.tabix_compress(str(plain), str(tmp_path / "g.fa.gz"))
    pysam.faidx(str(tmp_path / "g.fa.gz"))
    g = Genome(tmp_path / "g.fa.gz")
    X = extract_sequences(g, ["chr2", "chr1"], [5, 2900], [105, 3000])
    np.testing.assert_array_equal(X[0], one_hot_encode(seqs["chr2"][5:105]))
    np.testing.assert_array_equal(X[1], one_hot_encode(seqs["chr1"][2900:3000]))


def test_plain_gzip_fasta_is_rejected(tmp_path, seqs):
    plain = write_fasta(tmp_path / "g.fa", seqs)
    with open(plain, "rb") as a, gzip.open(tmp_path / "g.fa.gz", "wb") as b:
        b.write(a.read())
    with pytest.raises(InputError, match="bgzip"):
        Genome(tmp_path / "g.fa.gz")


def test_extract_sequences_bad_input(tmp_path, seqs):
    g = Genome(write_fasta(tmp_path / "g.fa", seqs))
    with pytest.raises(InputError, match="'chr' prefix"):
        extract_sequences(g, ["1"], [0], [10])
    with pytest.raises(InputError, match="run off"):
        extract_sequences(g, ["chr2"], [1770], [1780])
    X = extract_sequences(g, ["chr2"], [1770], [1780], pad=True)
    np.testing.assert_array_equal(X[0, :, :7], one_hot_encode(seqs["chr2"][1770:]))
    assert X[0, :, 7:].sum() == 0
    with pytest.raises(InputError, match="same length"):
        extract_sequences(g, ["chr1", "chr1"], [0, 0], [10, 11])
    with pytest.raises(MissingFileError):
        Genome(tmp_path / "missing.fa")


def test_read_regions_formats(tmp_path):
    p = tmp_path / "peaks.narrowPeak"
    p.write_text("track name=x\nchr1\t100\t300\tp1\t5\t.\t2.0\t3.0\t4.0\t50\n"
                 "chr2\t10\t20\tp2\t0\t+\t1\t1\t1\t-1\n")
    r = read_regions(p)
    np.testing.assert_array_equal(r.summit, [150, 15])
    assert list(r.name) == ["p1", "p2"] and list(r.strand) == [".", "+"]
    with gzip.open(tmp_path / "a.bed.gz", "wt") as fh:
        fh.write("chr1\t0\t11\nchr1\t20\t40\n")
    r3 = read_regions(tmp_path / "a.bed.gz")
    np.testing.assert_array_equal(r3.summit, [5, 30])
    assert r3.name is None
    write_regions(tmp_path / "copy.narrowPeak", r)
    r2 = read_regions(tmp_path / "copy.narrowPeak")
    np.testing.assert_array_equal(r2.summit, r.summit)
    write_bed(tmp_path / "w.bed.gz", ["chr1"], [1], [5], names=["a"], scores=[2.5])
    assert gzip.open(tmp_path / "w.bed.gz", "rt").read() == "chr1\t1\t5\ta\t2.5\n"


@pytest.mark.parametrize("text,match", [
    ("chr1\t10\t20\nchr1\tx\t30\n", "line 2.*integers"),
    ("chr1\t10\t20\nchr1\t30\t30\n", "line 2.*zero-length"),
    ("chr1\t50\t20\n", "line 1.*inverted"),
    ("chr1\t10\n", "line 1.*columns"),
    ("# only a header\n", "no regions"),
    ("", "no regions"),
])
def test_read_regions_bad_lines(tmp_path, text, match):
    p = tmp_path / "bad.bed"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        read_regions(p)


def test_corrupt_gzip(tmp_path):
    data = gzip.compress(b"chr1\t0\t10\n" * 1000)
    (tmp_path / "c.bed.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt"):
        read_regions(tmp_path / "c.bed.gz")


def test_windows_drop_off_chromosome_and_blacklist(tmp_path, caplog):
    p = tmp_path / "r.bed"
    p.write_text("chr1\t0\t10\nchr1\t500\t520\nchr1\t990\t1000\nchrUn\t50\t60\n")
    r = read_regions(p)
    with caplog.at_level(logging.WARNING, logger="bpnetkit.data"):
        c, s, e, idx = centered_windows(r, 100, {"chr1": 1000}, return_index=True)
    assert "dropped 3 of 4" in caplog.text
    np.testing.assert_array_equal(idx, [1])
    assert (s[0], e[0]) == (460, 560)
    bl = tmp_path / "bl.bed"
    bl.write_text("chr1\t515\t600\n")
    assert len(remove_blacklisted(r, bl)) == 3
    assert len(remove_blacklisted(r, bl, width=2)) == 4


def test_splits(tmp_path):
    s = get_split("fold_0")
    assert s["test"] == ["chr1", "chr3", "chr6"] and s["valid"] == ["chr8", "chr20"]
    assert "chr2" in s["train"] and "chr1" not in s["train"]
    for k in range(5):
        f = get_split(f"fold_{k}")
        allc = f["train"] + f["valid"] + f["test"]
        assert len(allc) == len(set(allc)) == 24
    sub = get_split("fold_0", chroms=["chr1", "chr2", "chrM"])
    assert sub == {"train": ["chr2"], "valid": [], "test": ["chr1"]}
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"train": ["2L"], "valid": ["3R"], "test": ["X"]}))
    assert get_split(p)["valid"] == ["3R"]
    p.write_text(json.dumps({"train": ["2L"], "valid": ["2L"]}))
    with pytest.raises(InputError, match="both"):
        get_split(p)
    with pytest.raises(InputError, match="unknown split"):
        get_split("fold_9")
    with pytest.raises(InputError, match="prefix"):
        get_split("fold_0", chroms=[str(i) for i in range(1, 23)])


def write_bigwig(path, sizes, values):
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for c, v in values.items():
        nz = np.flatnonzero(v)
        if len(nz):
            bw.addEntries(c, nz.astype(np.int64).tolist(), values=v[nz].astype(float).tolist(),
                          span=1)
    bw.close()
    return path


def test_extract_signals(tmp_path, caplog):
    rng = np.random.default_rng(2)
    sizes = {"chr1": 2000, "chr2": 500}
    v1 = {"chr1": rng.poisson(0.5, 2000).astype(float), "chr2": np.zeros(500)}
    v2 = {"chr1": rng.poisson(0.2, 2000).astype(float), "chr2": rng.poisson(1, 500) * 1.0}
    a = write_bigwig(tmp_path / "a.bw", sizes, v1)
    b = write_bigwig(tmp_path / "b.bw", sizes, v2)
    chroms = ["chr1", "chr2", "chr1"]
    starts = np.array([100, 300, 1900])
    with caplog.at_level(logging.WARNING, logger="bpnetkit.data"):
        y = extract_signals([a, b], chroms, starts, starts + 100)
    assert "no data for 1 of 3" in caplog.text  # chr2 is empty in a.bw
    assert y.shape == (3, 2, 100) and y.dtype == np.float32
    for i, (c, s) in enumerate(zip(chroms, starts)):
        np.testing.assert_array_equal(y[i, 0], v1[c][s:s + 100])
        np.testing.assert_array_equal(y[i, 1], v2[c][s:s + 100])
    with pytest.raises(InputError, match="'chr' prefix"):
        extract_signals([a], ["1"], [0], [10])
    with pytest.raises(InputError, match="runs off"):
        extract_signals([a], ["chr2"], [450], [550])
    with pytest.raises(InputError, match="not a readable bigWig"):
        extract_signals([tmp_path / "bl.bed"] if (tmp_path / "bl.bed").write_text("x") else [],
                        ["chr1"], [0], [10])


def test_extract_signals_all_entry_types_against_pybigwig(tmp_path):
    """Our bigWig reader equals pyBigWig's values for bedGraph, variableStep and fixedStep
    entries, with a multi-level index (>256 data blocks) and loci clustered or isolated."""
    rng = np.random.default_rng(3)
    sizes = {"chr1": 3_000_000, "chr2": 400_000, "chr3": 200_000, "chr4": 5000}
    path = tmp_path / "mixed.bw"
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()), maxZooms=0)
    pos = np.unique(rng.integers(0, sizes["chr1"], 300_000))
    bw.addEntries("chr1", pos, values=rng.random(len(pos)) * 10, span=1)  # variableStep
    s = np.sort(rng.choice(np.arange(0, 400_000, 20), 5000, replace=False))
    e = s + rng.integers(1, 20, len(s))
    bw.addEntries(["chr2"] * len(s), s.tolist(), ends=e.tolist(),
                  values=(rng.random(len(s)) - 0.5).tolist())  # bedGraph
    bw.addEntries("chr3", 1000, values=rng.random(5000).tolist(), span=7, step=10)  # fixedStep
    bw.close()
    chroms = rng.choice(["chr1", "chr2", "chr3", "chr4"], 400, p=[0.6, 0.2, 0.15, 0.05])
    L = 300
    starts = np.array([rng.integers(0, sizes[c] - L) for c in chroms])
    y = extract_signals([path], chroms, starts, starts + L)
    np.testing.assert_array_equal(y, extract_signals([path], chroms, starts, starts + L,
                                                     engine="pybigwig"))
    ref = pyBigWig.open(str(path))
    for i, (c, st) in enumerate(zip(chroms, starts)):
        want = np.nan_to_num(ref.values(c, int(st), int(st) + L, numpy=True))
        np.testing.assert_array_equal(y[i, 0], want.astype(np.float32))
    ref.close()
    yp = extract_signals([path], ["chr3"], [sizes["chr3"] - 100], [sizes["chr3"] + 100], pad=True)
    assert (yp[0, 0, 100:] == 0).all()
    yq = extract_signals([path], ["chr3"], [sizes["chr3"] - 100], [sizes["chr3"] + 100], pad=True,
                         engine="pybigwig")
    np.testing.assert_array_equal(yp, yq)
