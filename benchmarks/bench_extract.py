"""Extraction of training examples: bpnetkit ``extract_examples`` vs tangermeme
``extract_loci`` on the same loci (sequence + two signal tracks, with jitter padding).

Each tool runs in its own child process so that peak memory (max RSS above the baseline after
imports and a small warm-up extraction of other loci, which loads numba kernels) is measured
separately; the parent checks that the arrays are equal.

    python benchmarks/bench_extract.py [--loci 20000] [--n-jobs 1] [--repeats 3]
    python benchmarks/bench_extract.py --profile     # CPU time of each stage of ours

With ``--repeats k`` each tool runs in k fresh child processes, alternating between the tools
so that both see the same load, and the best wall and CPU times are reported (on a shared
machine single runs scatter by 2-5x); the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

IN, OUT, JIT = 2114, 1000, 128


def make_data(d: Path, n_loci: int, seed: int = 0, scale: float = 1.0) -> None:
    """A random genome of 26 Mb x ``scale`` (0.1 % N), two sparse bigWigs and the loci."""
    import pyBigWig

    rng = np.random.default_rng(seed)
    sizes = {c: int(n * scale) for c, n in
             (("chr1", 12_000_000), ("chr2", 8_000_000), ("chr3", 6_000_000))}
    with open(d / "g.fa", "w") as fh:
        for c, n in sizes.items():
            seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, n)]
            seq[rng.random(n) < 0.001] = ord("N")
            fh.write(f">{c}\n")
            lines = seq[: n - n % 60].reshape(-1, 60)
            lines = np.concatenate([lines, np.full((len(lines), 1), 10, np.uint8)], axis=1)
            fh.write(lines.tobytes().decode())
            if n % 60:
                fh.write(seq[n - n % 60:].tobytes().decode() + "\n")
    for k in ("plus", "minus"):
        bw = pyBigWig.open(str(d / f"{k}.bw"), "w")
        bw.addHeader(list(sizes.items()), maxZooms=0)
        for c, n in sizes.items():
            pos = np.unique(rng.integers(0, n, n // 20))
            bw.addEntries(c, pos, values=rng.poisson(2, len(pos)).astype(float) + 1, span=1)
        bw.close()
    names = list(sizes)
    chrom = rng.choice(names, n_loci, p=[0.45, 0.33, 0.22])
    mid = np.array([rng.integers(5000, sizes[c] - 5000) for c in chrom])
    with open(d / "loci.bed", "w") as fh:
        fh.writelines(f"{c}\t{m - 100}\t{m + 100}\n" for c, m in zip(chrom, mid))
    # the warm-up takes 200 loci: more than the 64 below which some helpers take another
    # code path, so that both tools measure their steady per-locus cost, not kernel loading
    with open(d / "warmup.bed", "w") as fh:
        fh.writelines(f"{c}\t{m - 100}\t{m + 100}\n" for c, m in zip(chrom[:200],
                                                                    mid[:200] + 7))


def child(which: str, d: Path, n_jobs: int) -> None:
    if which in ("ours", "cached"):
        from bpnetkit.data.datasets import extract_examples
        from bpnetkit.io.fasta import Genome
    else:
        from tangermeme.io import extract_loci
    def run(bed, cache=None):
        if which != "peer":
            ex = extract_examples(Genome(d / "g.fa"), bed, [d / "plus.bw", d / "minus.bw"],
                                  in_window=IN, out_window=OUT, max_jitter=JIT, threads=n_jobs,
                                  cache_dir=cache)
            return ex.X, ex.y
        X, y = extract_loci(str(bed), str(d / "g.fa"),
                            signals=[str(d / "plus.bw"), str(d / "minus.bw")], in_window=IN,
                            out_window=OUT, max_jitter=JIT, n_jobs=n_jobs)
        return X.numpy(), y.numpy()

    run(d / "warmup.bed")  # loads numba kernels and file caches; other loci than measured
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    c = time.process_time()
    # "cached": the entry was written by the first (unmeasured) child of this kind
    X, y = run(d / "loci.bed", d / "cache" if which == "cached" else None)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(d / f"{which}_X.npy", X)
    np.save(d / f"{which}_y.npy", y)
    print(json.dumps({"wall": wall, "cpu": cpu, "mem_mb": (peak - base) / 1024,
                      "n": int(len(X)), "X_dtype": str(X.dtype), "y_dtype": str(y.dtype)}))


def measure(n_loci: int = 20000, n_jobs: int | None = None, scale: float = 1.0,
            repeats: int = 1) -> dict:
    """Run both tools in child processes on the same ``n_loci`` loci.

    Parameters
    ----------
    repeats : int
        Measured child processes per tool, alternating between the tools; the best wall and
        the best CPU time are kept (and the median peak memory).

    Returns
    -------
    dict
        ``{"ours": {...}, "peer": {...}, "cached": {...}, "equal": bool, "n_jobs": int,
        "load": [...]}`` (``cached``: bpnetkit reading its example cache); each
        tool's dict holds ``wall``, ``cpu`` (s), ``mem_mb`` (peak RSS above the warm-up
        baseline), ``n``, the dtypes and ``runs`` (every measured child's result); ``load``
        is the 1-minute load average before and after.
    """
    if n_jobs is None:
        n_jobs = min(4, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        make_data(d, n_loci, scale=scale)
        res: dict = {"n_jobs": n_jobs, "loci": n_loci, "genome_mb": 26 * scale,
                     "load": [os.getloadavg()[0]]}

        def run_child(which: str) -> dict:
            out = subprocess.run([sys.executable, __file__, "--child", which, "--dir", str(d),
                                  "--n-jobs", str(n_jobs)], check=True, capture_output=True,
                                 text=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        # the first child run may compile numba kernels into the on-disk cache; later ones
        # are measured (the FASTA and bigWigs are then in the page cache)
        # "cached": bpnetkit reading the entry of bpnetkit.data.example_cache that its first
        # child wrote (what a second fit or evaluate on the same data does)
        runs: dict[str, list] = {"ours": [], "peer": [], "cached": []}
        for which in runs:
            run_child(which)
        for _ in range(max(1, repeats)):
            for which in runs:
                runs[which].append(run_child(which))
        for which, got in runs.items():
            res[which] = dict(got[-1], wall=min(r["wall"] for r in got),
                              cpu=min(r["cpu"] for r in got),
                              mem_mb=float(np.median([r["mem_mb"] for r in got])), runs=got)
        res["load"].append(os.getloadavg()[0])
        Xo, Xp = np.load(d / "ours_X.npy"), np.load(d / "peer_X.npy")
        yo, yp = np.load(d / "ours_y.npy"), np.load(d / "peer_y.npy")
        Xc, yc = np.load(d / "cached_X.npy"), np.load(d / "cached_y.npy")
        res["equal"] = bool(Xo.shape == Xp.shape and np.array_equal(Xo, Xp)
                            and np.array_equal(yo, yp) and np.array_equal(Xc, Xp)
                            and np.array_equal(yc, yp))
    return res


def rows(quick: bool = False) -> list:
    """Rows for ``run_all.py``: 20,000 loci (quick: 2,000), threads min(4, CPUs)."""
    from _common import Row

    r = measure(2000, scale=0.2, repeats=3) if quick else measure(20000, repeats=3)
    conf = (f"{r['loci']:,} loci on {r['genome_mb']:g} Mb, {IN} bp + 2 x {JIT} jitter, 2 "
            f"signal tracks (1,256 bp), "
            f"{r['n_jobs']} threads each, warm page cache, best of 3 fresh processes per "
            f"tool (load {r['load'][0]:.1f}-{r['load'][1]:.1f}), inflater "
            f"{_inflater()}; arrays equal: {r['equal']}")
    o, p = r["ours"], r["peer"]
    return [
        Row("extraction of training examples (loci/s, wall)", o["n"] / o["wall"],
            p["n"] / p["wall"], "tangermeme extract_loci", conf, goal=2.0, headline=True),
        Row("extraction of training examples (loci per CPU-s)", o["n"] / o["cpu"],
            p["n"] / p["cpu"], "tangermeme extract_loci",
            conf + "; CPU time of the process (all threads): steadier than wall time on a "
            "busy machine"),
        Row("extraction of training examples, example cache hit (loci/s, wall)",
            r["cached"]["n"] / r["cached"]["wall"], p["n"] / p["wall"],
            "tangermeme extract_loci", conf + "; bpnetkit reads the memory-mapped entry of "
            "bpnetkit.data.example_cache that an earlier run wrote (a second fit or evaluate "
            "on the same files, windows and geometry); the peer extracts"),
        Row("extraction peak memory above baseline (MB)", o["mem_mb"], p["mem_mb"],
            "tangermeme extract_loci", conf + "; goal: no more memory, within 1 % (both "
            "hold only the output arrays; the peak RSS of fresh processes scatters by about "
            "1 MB)", goal=0.99, lower_is_better=True),
    ]


def _inflater() -> str:
    """Which inflater bpnetkit's bigWig reader uses here."""
    from bpnetkit.io.bigwig import zlib_decompressor

    return "ISA-L" if zlib_decompressor() is not zlib_decompressor("zlib") else "zlib"


def profile(n_loci: int = 20000, repeats: int = 5) -> list[tuple[str, float]]:
    """CPU milliseconds of each stage of bpnetkit's extraction (best of ``repeats``, FASTA and
    bigWigs in the page cache): where the time goes."""
    from bpnetkit.data.datasets import extract_examples
    from bpnetkit.data.regions import as_regions, centered_windows
    from bpnetkit.data.signals import extract_signals
    from bpnetkit.io import bed
    from bpnetkit.io.bigwig import BigWigReader, zlib_decompressor
    from bpnetkit.io.fasta import Genome, extract_sequences

    def cpu(fn) -> float:
        best = float("inf")
        for _ in range(repeats):
            c = time.process_time()
            fn()
            best = min(best, time.process_time() - c)
        return 1000 * best

    out = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        make_data(d, n_loci)
        g = Genome(d / "g.fa")
        width, off, sig_len = IN + 2 * JIT, (IN - OUT) // 2, OUT + 2 * JIT
        out.append(("all: extract_examples, 1 thread", cpu(lambda: extract_examples(
            g, d / "loci.bed", [d / "plus.bw", d / "minus.bw"], in_window=IN,
            out_window=OUT, max_jitter=JIT, threads=1))))
        out.append(("BED parsing", cpu(lambda: as_regions(d / "loci.bed"))))
        fast = bed._read_regular
        try:
            bed._read_regular = lambda *a: None  # the line-by-line reader
            out.append(("  BED parsing, line by line", cpu(lambda: as_regions(d / "loci.bed"))))
        finally:
            bed._read_regular = fast
        ch, st, en = centered_windows(as_regions(d / "loci.bed"), width, g.chrom_sizes)
        extract_sequences(g, ch[:10], st[:10], en[:10])
        extract_signals([d / "plus.bw"], ch[:10], st[:10] + off, st[:10] + off + sig_len)
        n = len(ch)
        out.append(("one-hot gather (incl. first touch)",
                    cpu(lambda: extract_sequences(g, ch, st, en))))
        out.append(("  first touch of the one-hot output",
                    cpu(lambda: np.ones((n, 4, width), np.int8))))
        for k in ("plus", "minus"):
            out.append((f"signal track {k} (all)", cpu(lambda k=k: extract_signals(
                [d / f"{k}.bw"], ch, st + off, st + off + sig_len))))
        r = BigWigReader(d / "plus.bw")
        raws = [r._read(int(o), int(z)) for o, z in zip(r.b_offset, r.b_size)]
        out.append(("  read() of every block, one track",
                    cpu(lambda: [r._read(int(o), int(z)) for o, z in zip(r.b_offset,
                                                                         r.b_size)])))
        for name in ("zlib", "isal"):
            try:
                inflate = zlib_decompressor(name)
            except ImportError:
                continue
            out.append((f"  {name} inflate of every block, one track",
                        cpu(lambda f=inflate: [f(x) for x in raws])))
        try:  # a third inflater, measured only (not used by bpnetkit)
            from zlib_ng import zlib_ng

            out.append(("  zlib-ng inflate of every block, one track",
                        cpu(lambda: [zlib_ng.decompress(x) for x in raws])))
        except ImportError:
            pass
        out.append(("  first touch of one signal track's output",
                    cpu(lambda: np.ones((n, 1, sig_len), np.float32))))
        r.close()
        out.extend(_thread_parts(g, d, repeats))
    return out


def _thread_parts(g, d: Path, repeats: int) -> list[tuple[str, float]]:
    """CPU ms of each thread's part of one ``extract_examples`` call on 2 threads (the call
    with the least process CPU time of ``repeats``): what runs concurrently, what is serial."""
    import threading

    import bpnetkit.data.signals as signals
    import bpnetkit.io.fasta as fasta
    from bpnetkit.data.datasets import extract_examples

    parts: dict[str, float] = {}
    lock = threading.Lock()

    def timed(fn, key):
        def wrapper(*a, **k):
            c = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                with lock:
                    name = key(a)
                    parts[name] = parts.get(name, 0.0) + time.thread_time() - c
        return wrapper

    saved = fasta.extract_sequences, signals.extract_signals, signals._extract_track
    fasta.extract_sequences = timed(saved[0], lambda a: "one-hot gather thread")
    signals.extract_signals = timed(saved[1], lambda a: "extract_signals thread")
    signals._extract_track = timed(saved[2], lambda a: f"track {a[1]} thread")
    best: tuple = (float("inf"), {})
    try:
        for _ in range(repeats):
            parts.clear()
            c, m = time.process_time(), time.thread_time()
            extract_examples(g, d / "loci.bed", [d / "plus.bw", d / "minus.bw"], in_window=IN,
                             out_window=OUT, max_jitter=JIT, threads=2)
            total = time.process_time() - c
            if total < best[0]:
                best = (total, dict(parts, main=time.thread_time() - m))
    finally:
        fasta.extract_sequences, signals.extract_signals, signals._extract_track = saved
    total, p = best
    own = p["extract_signals thread"]  # its thread only: the tracks ran on two others
    return [("all: extract_examples, 2 threads (process)", 1000 * total),
            ("  main thread: BED, windows, waiting (serial)", 1000 * p["main"]),
            ("  one-hot gather thread", 1000 * p["one-hot gather thread"]),
            ("  extract_signals thread, before the tracks", 1000 * own),
            ("  track 0 thread", 1000 * p.get("track 0 thread", 0.0)),
            ("  track 1 thread", 1000 * p.get("track 1 thread", 0.0))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", action="store_true",
                    help="print the CPU time of each stage of bpnetkit's extraction instead")
    ap.add_argument("--loci", type=int, default=20000)
    ap.add_argument("--n-jobs", type=int, default=None,
                    help="threads for both tools (default: min(4, CPUs))")
    ap.add_argument("--repeats", type=int, default=3,
                    help="measured child processes per tool (alternating); best times kept")
    ap.add_argument("--child", choices=["ours", "peer", "cached"])
    ap.add_argument("--dir")
    a = ap.parse_args()
    if a.child:
        child(a.child, Path(a.dir), a.n_jobs)
        return
    if a.profile:
        stages = profile(a.loci)
        print(f"bpnetkit extraction of {a.loci} loci ({IN} + 2 x {JIT} bp, 2 tracks): CPU ms, "
              f"best of 5; inflater: {_inflater()}; load average {os.getloadavg()[0]:.1f}")
        for name, ms in stages:
            print(f"{name:<44}{ms:>8.1f}")
        return
    res = measure(a.loci, a.n_jobs, repeats=a.repeats)
    print(f"{a.loci} loci, in {IN} + 2 x {JIT} jitter, 2 signal tracks; threads "
          f"(both tools): {res['n_jobs']}; best of {a.repeats} fresh processes per tool; "
          f"inflater: {_inflater()}; load average {res['load'][0]:.1f} -> {res['load'][1]:.1f}")
    print(f"{'tool':<12}{'wall s':>9}{'loci/s':>10}{'CPU s':>8}{'peak MB':>10}  dtypes")
    for name, key in (("bpnetkit", "ours"), ("tangermeme", "peer"), ("bpnetkit cache", "cached")):
        r = res[key]
        print(f"{name:<15}{r['wall']:>6.2f}{r['n'] / r['wall']:>10,.0f}{r['cpu']:>8.2f}"
              f"{r['mem_mb']:>10.0f}  {r['X_dtype']}/{r['y_dtype']}")
    print(f"speed-up: wall {res['peer']['wall'] / res['ours']['wall']:.2f}x, CPU "
          f"{res['peer']['cpu'] / res['ours']['cpu']:.2f}x; memory ratio "
          f"{res['ours']['mem_mb'] / max(res['peer']['mem_mb'], 1):.2f}; from the example "
          f"cache: wall {res['peer']['wall'] / res['cached']['wall']:.2f}x; values equal: "
          f"{res['equal']}")


if __name__ == "__main__":
    main()
