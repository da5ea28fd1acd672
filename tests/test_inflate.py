"""The extraction speed-ups of issue 17 item 6 keep every output identical.

- ``io.bigwig.zlib_decompressor``: ISA-L (optional ``isal`` package) when installed, else zlib;
  both inflate to the same bytes, damaged streams raise ``zlib.error`` either way, and signals
  read through either equal pyBigWig's values.
- ``io.bed._read_regular``: the column-wise reader of regular BED/narrowPeak files returns the
  same regions as the line-by-line reader, and leaves every irregular file to it.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import zlib

import numpy as np
import pytest

from bpnetkit.data.signals import extract_signals
from bpnetkit.errors import InputError
from bpnetkit.io import bed, bigwig
from bpnetkit.io.bigwig import BigWigReader, write_bigwig, zlib_decompressor

HAVE_ISAL = importlib.util.find_spec("isal") is not None


def test_choice_of_inflater():
    assert zlib_decompressor("zlib") is zlib.decompress
    auto = zlib_decompressor()
    if HAVE_ISAL:
        assert auto is not zlib.decompress and auto is zlib_decompressor("isal")
        assert auto.__name__ == "isal_decompress"
    else:
        assert auto is zlib.decompress
        with pytest.raises(ImportError, match="pip install isal"):
            zlib_decompressor("isal")
    with pytest.raises(ValueError, match="prefer"):
        zlib_decompressor("libdeflate")


def _payloads(rng):
    """Compressible and incompressible payloads, like bigWig sections and BGZF blocks."""
    items = np.empty((1024, 2), np.uint32)
    items[:, 0] = np.cumsum(rng.integers(1, 40, 1024))
    items[:, 1] = rng.poisson(2, 1024).astype(np.float32).view(np.uint32)
    return [b"", b"A", items.tobytes(), rng.bytes(50_000), b"ACGT" * 20_000]


@pytest.mark.skipif(not HAVE_ISAL, reason="the optional isal package is not installed")
@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("wbits", [15, -15, 31])
def test_isal_inflates_to_the_same_bytes(level, wbits):
    isal = zlib_decompressor("isal")
    for raw in _payloads(np.random.default_rng(level)):
        c = zlib.compressobj(level, zlib.DEFLATED, wbits)
        stream = c.compress(raw) + c.flush()
        assert isal(stream, wbits=wbits) == raw == zlib.decompress(stream, wbits)
        assert isal(stream, wbits, 1024) == raw  # positional, small first buffer


@pytest.mark.parametrize("prefer", ["zlib", "isal"])
def test_damaged_streams_raise_zlib_error(prefer):
    if prefer == "isal" and not HAVE_ISAL:
        pytest.skip("the optional isal package is not installed")
    inflate = zlib_decompressor(prefer)
    good = zlib.compress(b"ACGT" * 1000)
    for bad in (good[:-6], good[:2] + bytes(len(good) - 2), good[:-1] + bytes([good[-1] ^ 1])):
        with pytest.raises(zlib.error):
            inflate(bad)


def _write_tracks(tmp_path):
    """One bigWig written by bpnetkit (zlib level 3) and one by pyBigWig (libz), with the
    positions and values that pyBigWig then reads back as the oracle."""
    import pyBigWig

    rng = np.random.default_rng(0)
    sizes = {"chr1": 300_000, "chr2": 120_000}
    entries = []
    for c, n in sizes.items():
        pos = np.unique(rng.integers(0, n, n // 7))
        entries.append((c, pos, rng.poisson(3, len(pos)).astype(float) + 0.5))
    ours = tmp_path / "ours.bw"
    write_bigwig(ours, sizes, iter(entries))
    theirs = tmp_path / "pybigwig.bw"
    bw = pyBigWig.open(str(theirs), "w")
    bw.addHeader(list(sizes.items()), maxZooms=0)
    for c, pos, val in entries:
        bw.addEntries(c, pos, values=val, span=1)
    bw.close()
    return sizes, [ours, theirs]


def test_signals_equal_pybigwig_with_either_inflater(tmp_path, monkeypatch):
    import pyBigWig

    sizes, paths = _write_tracks(tmp_path)
    rng = np.random.default_rng(1)
    L = 500
    chroms = rng.choice(list(sizes), 300)
    starts = np.array([rng.integers(0, sizes[c] - L) for c in chroms])
    expected = np.zeros((len(chroms), len(paths), L), np.float32)
    for t, p in enumerate(paths):
        bw = pyBigWig.open(str(p))
        for i, (c, s) in enumerate(zip(chroms, starts)):
            expected[i, t] = np.nan_to_num(np.array(bw.values(c, int(s), int(s) + L)))
        bw.close()
    assert expected.any()
    real = bigwig.zlib_decompressor
    for prefer in ("zlib", "auto"):
        monkeypatch.setattr(bigwig, "zlib_decompressor", lambda p="auto", w=prefer: real(w))
        got = extract_signals(paths, chroms, starts, starts + L, threads=2)
        np.testing.assert_array_equal(got, expected)
        # every block of each file, inflated by the chosen inflater, is the zlib bytes
        for p in paths:
            with BigWigReader(p) as r:
                ks = np.arange(len(r.b_offset))
                want = [zlib.decompress(r._read(int(o), int(z)))
                        for o, z in zip(r.b_offset, r.b_size)]
                data, offs = r._blocks(ks)
                assert [data[x:y].tobytes() for x, y in zip(offs[:-1], offs[1:])] == want
                r._ubuf = 64  # a header that understates the block size: the buffer grows
                data, offs = r._blocks(ks[::-1])
                assert [data[x:y].tobytes() for x, y in zip(offs[:-1], offs[1:])] == want[::-1]


def test_damaged_block_names_the_file_with_either_inflater(tmp_path, monkeypatch):
    path = tmp_path / "signal.bw"
    pos = np.arange(0, 50_000, 3)
    write_bigwig(path, {"chr1": 60_000}, iter([("chr1", pos, np.ones(len(pos)))]))
    with BigWigReader(path) as r:
        assert len(r.b_offset) > 3
        off, size = int(r.b_offset[2]), int(r.b_size[2])
    data = bytearray(path.read_bytes())
    data[off + 2:off + size - 2] = bytes(size - 4)
    path.write_bytes(bytes(data))
    real = bigwig.zlib_decompressor
    for prefer in ("zlib", "auto"):
        monkeypatch.setattr(bigwig, "zlib_decompressor", lambda p="auto", w=prefer: real(w))
        with pytest.raises(InputError, match=r"data block 2 .*signal\.bw.*re-create"):
            extract_signals([path], ["chr1"], [0], [50_000])


# --- BED: the column-wise reader ---------------------------------------------------------
REGULAR = {
    "bed3": "chr1\t10\t20\nchr2\t5\t105\nchr1\t0\t1\n",
    "bed3_no_final_newline": "chr1\t10\t20\nchr2\t5\t105",
    "bed6": "chr1\t10\t20\tp1\t.\t+\nchr2\t5\t105\tp2\t7.5\t-\n",
    "narrowpeak": "chr1\t100\t300\tp1\t50\t.\t8.1\t4.2\t3.3\t150\n"
                  "chr1\t400\t500\tp2\t20\t.\t1\t2\t3\t-1\n",
    "bed12": "chr1\t10\t20\tx\t0\t+\t10\t20\t0\t1\t10,\t0,\n",
    "headers_and_blank_lines": "track name=x\nbrowser position chr1\n#c\nchr1\t1\t5\n\n"
                               "chr2\t2\t9\n",
    "crlf": "chr1\t10\t20\r\nchr2\t5\t105\r\n",
    "unicode_names": "chrÜ\t10\t20\nchr2\t5\t105\n",
    "hash_after_a_space_is_data": "chr1\t10\t20\n #c\t1\t2\n",
    "padded_integer": "chr1\t 10\t20\nchr2\t5\t105\n",  # int() takes " 10"
}
IRREGULAR = {
    "ragged": "chr1\t10\t20\nchr2\t5\t105\tname\n",
    "space_separated": "chr1 10 20\nchr2 5 105\n",
    "whitespace_only_line": "chr1\t10\t20\n \t \t \nchr2\t5\t105\n",
}
ERRORS = {
    "bad_integer": ("chr1\t10\t20\nchr2\tx\t105\n", "line 2: start and end must be integers"),
    "inverted": ("chr1\t10\t20\nchr2\t50\t5\n", "line 2: inverted interval"),
    "bad_score": ("chr1\t1\t2\tn\tzz\n", "line 1: score"),
    "summit_outside": ("chr1\t100\t300\tp\t5\t.\t1\t2\t3\t500\n", "line 1: summit offset 500"),
}


def _line_by_line(path, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(bed, "_read_regular", lambda *a: None)
        return bed.read_regions(path)


def _same(a, b):
    for k in ("chrom", "start", "end", "summit", "name", "score", "strand"):
        x, y = getattr(a, k), getattr(b, k)
        assert (x is None) == (y is None), k
        if x is not None:
            assert x.dtype == y.dtype, k
            np.testing.assert_array_equal(x, y, err_msg=k)
    assert a.source == b.source
    assert len(a.extra) == len(b.extra)
    for x, y in zip(a.extra, b.extra):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("case", sorted(REGULAR))
def test_regular_bed_read_by_columns_equals_line_by_line(tmp_path, monkeypatch, case, gz):
    path = tmp_path / ("r.bed.gz" if gz else "r.bed")
    raw = REGULAR[case].encode()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    assert bed._read_regular(path, 3) is not None  # the fast path really is taken
    _same(bed.read_regions(path), _line_by_line(path, monkeypatch))


def test_regular_bed_values_against_hand_computed():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "p.narrowPeak")
        with open(path, "w") as fh:
            fh.write(REGULAR["narrowpeak"])
        r = bed.read_regions(path)
    assert list(r.chrom) == ["chr1", "chr1"]
    np.testing.assert_array_equal(r.start, [100, 400])
    np.testing.assert_array_equal(r.summit, [250, 450])  # offset 150; -1 = midpoint
    np.testing.assert_array_equal(r.score, [50.0, 20.0])
    assert [list(c) for c in r.extra] == [["8.1", "1"], ["4.2", "2"], ["3.3", "3"]]


@pytest.mark.parametrize("case", sorted(IRREGULAR))
def test_irregular_bed_is_left_to_the_line_reader(tmp_path, case):
    path = tmp_path / "r.bed"
    path.write_text(IRREGULAR[case])
    assert bed._read_regular(path, 3) is None
    assert len(bed.read_regions(path)) == 2


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_values_keep_the_line_readers_message(tmp_path, case):
    text, message = ERRORS[case]
    path = tmp_path / "r.bed"
    path.write_text(text)
    assert bed._read_regular(path, 3) is None
    with pytest.raises(InputError, match=message):
        bed.read_regions(path)


def test_large_regular_bed(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 5000
    s = rng.integers(0, 10**9, n)
    e = s + rng.integers(1, 5000, n)
    c = rng.choice(["chr1", "chrX", "chr22_KI270739v1_random"], n)
    path = tmp_path / "big.bed"
    path.write_text("".join(f"{a}\t{b}\t{x}\n" for a, b, x in zip(c, s, e)))
    r = bed.read_regions(path)
    np.testing.assert_array_equal(r.start, s)
    np.testing.assert_array_equal(r.end, e)
    assert list(r.chrom) == list(c)
    _same(r, _line_by_line(path, monkeypatch))
