"""Examples and the epoch sampler: jitter and reverse complement keep sequence and signal
aligned, negatives per epoch, determinism, outliers."""

from __future__ import annotations

import numpy as np
import pyBigWig
import pytest

from bpnetkit.data.datasets import (
    EpochSampler,
    Examples,
    TrainingDataset,
    extract_examples,
    filter_outliers,
    iter_examples,
)
from bpnetkit.errors import InputError
from bpnetkit.io.fasta import one_hot_encode

MOTIF = "GATAAGCC"  # not its own reverse complement


def _write_fasta(path, seqs):
    with open(path, "w") as fh:
        for k, s in seqs.items():
            fh.write(f">{k}\n" + "\n".join(s[i:i + 70] for i in range(0, len(s), 70)) + "\n")


def _write_bw(path, sizes, tracks):
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for c in sizes:
        v = tracks[c]
        nz = np.flatnonzero(v)
        if len(nz):
            bw.addEntries(c, nz.tolist(), values=v[nz].astype(float).tolist(), span=1)
    bw.close()


@pytest.fixture
def toy(tmp_path):
    """Random genome with a planted motif at each peak; + strand signal peaks 3 bp right of
    the motif start, - strand signal 2 bp left of it (so strand swap is visible)."""
    rng = np.random.default_rng(0)
    sizes = {"chr1": 6000, "chr2": 4000}
    seqs = {c: rng.choice(list("ACGT"), n) for c, n in sizes.items()}
    plus = {c: np.zeros(n) for c, n in sizes.items()}
    minus = {c: np.zeros(n) for c, n in sizes.items()}
    ctl = {c: np.zeros(n) for c, n in sizes.items()}
    rows = []
    for c, n in sizes.items():
        for k, pos in enumerate(range(700, n - 700, 600)):
            seqs[c][pos:pos + len(MOTIF)] = list(MOTIF)
            plus[c][pos + 3] = 10 + k
            minus[c][pos - 2] = 5
            ctl[c][pos + 1] = 1
            summit = pos + int(rng.integers(-20, 20))
            rows.append(f"{c}\t{summit - 50}\t{summit + 50}\tp\t0\t.\t1\t1\t1\t50\n")
    seqs = {c: "".join(s) for c, s in seqs.items()}
    _write_fasta(tmp_path / "g.fa", seqs)
    _write_bw(tmp_path / "plus.bw", sizes, plus)
    _write_bw(tmp_path / "minus.bw", sizes, minus)
    _write_bw(tmp_path / "ctl.bw", sizes, ctl)
    (tmp_path / "peaks.narrowPeak").write_text("".join(rows))
    return tmp_path, seqs


def _motif_pos(X):
    m = one_hot_encode(MOTIF).astype(np.float32)
    L = X.shape[1]
    scores = [(X[:, i:i + len(MOTIF)] * m).sum() for i in range(L - len(MOTIF) + 1)]
    return int(np.argmax(scores)), max(scores)


def test_extract_examples_geometry(toy):
    d, seqs = toy
    ex = extract_examples(d / "g.fa", d / "peaks.narrowPeak", [d / "plus.bw", d / "minus.bw"],
                          controls=[d / "ctl.bw"], in_window=200, out_window=100, max_jitter=30)
    assert ex.X.shape == (len(ex), 4, 260) and ex.X.dtype == np.int8
    assert ex.y.shape == (len(ex), 2, 160) and ex.y.dtype == np.float32
    assert ex.X_ctl.shape == (len(ex), 1, 260)
    X, y, ctl = ex.center()
    for i in range(len(ex)):
        c, s = ex.chrom[i], ex.start[i]
        np.testing.assert_array_equal(X[i], one_hot_encode(seqs[c][s:s + 200]))
    # each example: + signal 3 bp right of the motif start in the input, offset (200-100)/2
    for i in range(len(ex)):
        p, _ = _motif_pos(X[i].astype(np.float32))
        assert y[i, 0].argmax() == p + 3 - 50
        assert y[i, 1].argmax() == p - 2 - 50
        assert ctl[i, 0].argmax() == p + 1


def test_jitter_and_rc_keep_alignment(toy):
    d, _ = toy
    ex = extract_examples(d / "g.fa", d / "peaks.narrowPeak", [d / "plus.bw", d / "minus.bw"],
                          controls=[d / "ctl.bw"], in_window=200, out_window=100, max_jitter=30)
    data = TrainingDataset(ex)
    sampler = EpochSampler(len(ex), batch_size=4, max_jitter=30, rc="random", random_state=3)
    seen_rc = seen_fwd = 0
    shifts = set()
    for plan in sampler:
        X, y, ctl = data[plan]
        assert X.dtype.is_floating_point and X.shape[1:] == (4, 200)
        for b in range(len(plan.index)):
            shifts.add(int(plan.shift[b]))
            Xb, yb, cb = X[b].numpy(), y[b].numpy(), ctl[b].numpy()
            if not plan.rc[b]:
                seen_fwd += 1
                p, score = _motif_pos(Xb)
                assert score == len(MOTIF)
                assert yb[0].argmax() == p + 3 - 50 and yb[1].argmax() == p - 2 - 50
                assert cb[0].argmax() == p + 1
            else:
                seen_rc += 1
                # undo the reverse complement: flip channels and positions, swap strands
                Xf, yf, cf = Xb[::-1, ::-1], yb[::-1, ::-1], cb[:, ::-1]
                p, score = _motif_pos(np.ascontiguousarray(Xf))
                assert score == len(MOTIF)
                assert yf[0].argmax() == p + 3 - 50 and yf[1].argmax() == p - 2 - 50
                assert cf[0].argmax() == p + 1
    assert seen_rc and seen_fwd and len(shifts) > 3


def test_sampler_negatives_determinism_and_ranks():
    s = EpochSampler(100, 50, batch_size=16, negative_ratio=0.3, max_jitter=10,
                     negative_jitter=0, rc="half", random_state=7)
    p = s.plan()
    assert len(p.index) == 130 and p.negative.sum() == 30
    assert len(np.unique(p.index[p.negative])) == 30  # without replacement
    assert (p.shift[p.negative] == 0).all() and np.abs(p.shift).max() <= 10
    assert p.rc.sum() == 65
    assert len(s) == 9 and sum(len(b.index) for b in s) == 130
    again = EpochSampler(100, 50, batch_size=16, negative_ratio=0.3, max_jitter=10,
                         negative_jitter=0, rc="half", random_state=7).plan()
    for a, b in zip(p, again):
        np.testing.assert_array_equal(a, b)
    s.set_epoch(1)
    assert not np.array_equal(s.plan().index, p.index)
    parts = [EpochSampler(100, batch_size=8, random_state=1, rank=r, world_size=3).plan()
             for r in range(3)]
    assert {len(q.index) for q in parts} == {34}
    covered = np.concatenate([q.index for q in parts])
    assert set(covered.tolist()) == set(range(100))
    with pytest.raises(InputError, match="no negatives"):
        EpochSampler(10, 0, negative_ratio=0.5)


def test_dataset_loader_with_workers_matches(toy):
    d, _ = toy
    ex = extract_examples(d / "g.fa", d / "peaks.narrowPeak", [d / "plus.bw"],
                          in_window=100, out_window=50, max_jitter=5)
    neg = extract_examples(d / "g.fa", (["chr1", "chr2"], [100, 200], [200, 300]),
                           [d / "plus.bw"], in_window=100, out_window=50, max_jitter=0)
    data = TrainingDataset(ex, neg)
    assert not data.stranded
    s = EpochSampler(len(ex), len(neg), batch_size=5, negative_ratio=0.2, max_jitter=5,
                     negative_jitter=0, random_state=0)
    direct = [tuple(t for t in b) for b in data.batches(s)]
    loaded = list(data.loader(s, num_workers=1))  # a worker process gives the same batches
    assert len(direct) == len(loaded) == len(s)
    for a, b in zip(direct, loaded):
        assert (a[0] == b[0]).all() and (a[1] == b[1]).all() and b[2] is None
    batches = list(iter_examples(ex, batch_size=4))
    assert sum(len(b[0]) for b in batches) == len(ex)


def test_outliers_and_concat():
    n = 1000
    y = np.ones((n, 1, 10), dtype=np.float32)
    y[0] = 1000
    y[1] = 0
    ex = Examples(np.zeros((n, 4, 10), np.int8), y, None, np.array(["c"] * n, dtype=object),
                  np.zeros(n, np.int64), np.full(n, 10), np.arange(n), 10, 10, 0)
    kept = filter_outliers(ex, lower=0.001, upper=0.999)
    assert len(kept) == n - 2 and 0 not in kept.index and 1 not in kept.index
    both = Examples.concat([ex, kept])
    assert len(both) == 2 * n - 2


def test_extract_examples_bad_input(toy, caplog):
    d, _ = toy
    (d / "nochr.bed").write_text("1\t1000\t1100\n")
    with pytest.raises(InputError, match="'chr' prefix"):
        extract_examples(d / "g.fa", d / "nochr.bed", [d / "plus.bw"], in_window=100,
                         out_window=50)
    (d / "edge.bed").write_text("chr1\t0\t10\nchr1\t3000\t3010\n")
    ex = extract_examples(d / "g.fa", d / "edge.bed", [d / "plus.bw"], in_window=100,
                          out_window=50, max_jitter=10)
    assert list(ex.index) == [1] and "dropped 1 of 2" in caplog.text
    with pytest.raises(InputError, match="no usable regions"):
        extract_examples(d / "g.fa", d / "edge.bed", [d / "plus.bw"], in_window=8000,
                         out_window=50)
    with pytest.raises(InputError, match="out_window"):
        extract_examples(d / "g.fa", d / "edge.bed", [d / "plus.bw"], in_window=50,
                         out_window=100)


def test_example_cache_returns_the_extraction_and_never_a_stale_one(toy, caplog):
    """``cache_dir``: a second extraction reads the entry (memory-mapped, copy-on-write) and
    equals a fresh extraction; a changed bigWig, another jitter or an exclusion list is another
    entry; a damaged entry is rewritten, not used."""
    import logging
    import os

    d, _ = toy
    cache = d / "cache"
    kw = dict(controls=[d / "ctl.bw"], in_window=200, out_window=100, max_jitter=30)
    sig = [d / "plus.bw", d / "minus.bw"]

    def fresh(**more):
        return extract_examples(d / "g.fa", d / "peaks.narrowPeak", sig, **(kw | more))

    def cached(**more):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bpnetkit.data.example_cache"):
            ex = extract_examples(d / "g.fa", d / "peaks.narrowPeak", sig, cache_dir=cache,
                                  **(kw | more))
        return ex, "read from the cache" in caplog.text

    def same(a, b):
        return (np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
                and np.array_equal(a.X_ctl, b.X_ctl) and np.array_equal(a.index, b.index)
                and list(a.chrom) == list(b.chrom) and np.array_equal(a.start, b.start))

    ref = fresh()
    first, hit = cached()
    assert not hit and same(first, ref)
    entries = [p for p in cache.iterdir()]
    assert len(entries) == 1 and not entries[0].name.startswith(".")  # no temporary left
    second, hit = cached()
    assert hit and same(second, ref)
    assert isinstance(second.X.base, np.memmap) or isinstance(second.X.base.base, np.memmap)
    # copy-on-write: a write changes this process's arrays, never the entry
    second.X[:] = 0
    second.y[:] = -1
    third, hit = cached()
    assert hit and same(third, ref)

    # another geometry or region set is another entry
    other, hit = cached(max_jitter=10)
    assert not hit and same(other, fresh(max_jitter=10))
    bl = d / "exclude.bed"
    bl.write_text(f"{ref.chrom[0]}\t{ref.start[0]}\t{ref.start[0] + 1}\n")
    fewer, hit = cached(blacklist=bl)
    assert not hit and len(fewer) == len(ref) - 1 and same(fewer, fresh(blacklist=bl))
    assert len(list(cache.iterdir())) == 3

    # a rewritten bigWig (new values) is a new key: the old entry is not used
    sizes = {"chr1": 6000, "chr2": 4000}
    _write_bw(d / "plus.bw", sizes, {c: np.full(n, 2.0) for c, n in sizes.items()})
    st = os.stat(d / "plus.bw")
    os.utime(d / "plus.bw", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed, hit = cached()
    assert not hit and same(changed, fresh()) and (changed.y[:, 0] == 2).all()

    # a damaged entry: logged, extracted again and rewritten
    entry = next(p for p in cache.iterdir() if (p / "X.npy").exists()
                 and np.load(p / "X.npy", mmap_mode="r").shape == changed.X.shape
                 and np.load(p / "y.npy", mmap_mode="r")[:, 0].min() == 2)
    (entry / "X.npy").write_bytes((entry / "X.npy").read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="bpnetkit.data.example_cache"):
        again, hit = cached()
    assert not hit and same(again, fresh()) and "unusable" in caplog.text
    assert cached()[1] and same(cached()[0], fresh())
