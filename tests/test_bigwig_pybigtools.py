"""bpnetkit's bigWig reader and writer against pybigtools (an independent Rust
implementation) and pyBigWig: files written by one are read identically by the others.

pybigtools was measured against the own code (benchmarks/bench_bigwig.py) and is slower for
both paths, so it is not a dependency; these checks run where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

pybigtools = pytest.importorskip("pybigtools")
pyBigWig = pytest.importorskip("pyBigWig")

from bpnetkit.data.signals import extract_signals  # noqa: E402
from bpnetkit.io.bigwig import write_bigwig  # noqa: E402

SIZES = {"chrA": 50_000, "chrB": 23_456, "chrC": 1_000}


def _track(seed: int = 0):
    rng = np.random.default_rng(seed)
    out = {}
    for c, n in SIZES.items():
        pos = np.flatnonzero(rng.random(n) < 0.3)
        out[c] = (pos, np.round(rng.gamma(2.0, 3.0, len(pos)), 3))
    out["chrC"] = (np.array([], dtype=np.int64), np.array([]))  # a chromosome without data
    return out


def _dense(track):
    d = {c: np.zeros(n) for c, n in SIZES.items()}
    for c, (p, v) in track.items():
        d[c][p] = v
    return d


def test_own_writer_read_by_pybigtools_and_pybigwig(tmp_path):
    track = _track()
    expect = _dense(track)
    path = write_bigwig(tmp_path / "ours.bw", SIZES, ((c, *track[c]) for c in SIZES))
    with pybigtools.open(str(path)) as bw:
        assert dict(bw.chroms()) == SIZES
        for c in ("chrA", "chrB"):
            got = bw.values(c, fillna=0.0)
            np.testing.assert_array_equal(got, expect[c].astype(np.float32))
    bw = pyBigWig.open(str(path))
    for c in ("chrA", "chrB"):
        np.testing.assert_array_equal(np.nan_to_num(bw.values(c, 0, SIZES[c], numpy=True)),
                                      expect[c].astype(np.float32))
    bw.close()


def test_own_reader_on_a_pybigtools_file(tmp_path):
    # pybigtools writes bedGraph items (runs of equal values merged into spans > 1) and zoom
    # levels: a layout bpnetkit's writer never produces
    rng = np.random.default_rng(1)
    items = []
    for c, n in SIZES.items():
        edges = np.unique(np.r_[0, rng.integers(1, n, n // 40), n])
        for a, b in zip(edges[:-1], edges[1:]):
            if rng.random() < 0.6:
                items.append((c, int(a), int(b), float(rng.integers(1, 50))))
    path = tmp_path / "peer.bw"
    pybigtools.open(str(path), "w").write(SIZES, iter(items))
    L = 300
    chroms = np.array(["chrA"] * 40 + ["chrB"] * 30 + ["chrC"] * 5, dtype=object)
    starts = np.array([rng.integers(0, SIZES[c] - L) for c in chroms])
    got = extract_signals([path], chroms, starts, starts + L)[:, 0]
    bw = pyBigWig.open(str(path))
    expect = np.stack([np.nan_to_num(bw.values(c, int(s), int(s) + L, numpy=True))
                       for c, s in zip(chroms, starts)])
    bw.close()
    with pybigtools.open(str(path)) as pb:
        expect2 = np.stack([pb.values(c, int(s), int(s) + L, fillna=0.0)
                            for c, s in zip(chroms, starts)])
    np.testing.assert_array_equal(expect, expect2)  # the two oracles agree
    np.testing.assert_array_equal(got, expect.astype(np.float32))
    assert got.any()
