"""Extraction of training examples: bpnetkit ``extract_examples`` vs tangermeme
``extract_loci`` on the same loci (sequence + two signal tracks, with jitter padding).

Each tool runs in its own child process so that peak memory (max RSS above the baseline after
imports and a small warm-up extraction of other loci, which loads numba kernels) is measured
separately; the parent checks that the arrays are equal.

    python benchmarks/bench_extract.py [--loci 20000] [--n-jobs 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

IN, OUT, JIT = 2114, 1000, 128


def make_data(d: Path, n_loci: int, seed: int = 0) -> None:
    import pyBigWig

    rng = np.random.default_rng(seed)
    sizes = {"chr1": 12_000_000, "chr2": 8_000_000, "chr3": 6_000_000}
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
    with open(d / "warmup.bed", "w") as fh:
        fh.writelines(f"{c}\t{m - 100}\t{m + 100}\n" for c, m in zip(chrom[:50], mid[:50] + 7))


def child(which: str, d: Path, n_jobs: int) -> None:
    if which == "ours":
        from bpnetkit.data.datasets import extract_examples
        from bpnetkit.io.fasta import Genome
    else:
        from tangermeme.io import extract_loci
    def run(bed):
        if which == "ours":
            ex = extract_examples(Genome(d / "g.fa"), bed, [d / "plus.bw", d / "minus.bw"],
                                  in_window=IN, out_window=OUT, max_jitter=JIT, threads=n_jobs)
            return ex.X, ex.y
        X, y = extract_loci(str(bed), str(d / "g.fa"),
                            signals=[str(d / "plus.bw"), str(d / "minus.bw")], in_window=IN,
                            out_window=OUT, max_jitter=JIT, n_jobs=n_jobs)
        return X.numpy(), y.numpy()

    run(d / "warmup.bed")  # loads numba kernels and file caches; other loci than measured
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    c = time.process_time()
    X, y = run(d / "loci.bed")
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(d / f"{which}_X.npy", X)
    np.save(d / f"{which}_y.npy", y)
    print(json.dumps({"wall": wall, "cpu": cpu, "mem_mb": (peak - base) / 1024,
                      "n": int(len(X)), "X_dtype": str(X.dtype), "y_dtype": str(y.dtype)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loci", type=int, default=20000)
    ap.add_argument("--n-jobs", type=int, default=None,
                    help="threads for both tools (default: ours, min(4, CPUs))")
    ap.add_argument("--child", choices=["ours", "peer"])
    ap.add_argument("--dir")
    a = ap.parse_args()
    if a.n_jobs is None:
        import os

        a.n_jobs = min(4, os.cpu_count() or 1)
    if a.child:
        child(a.child, Path(a.dir), a.n_jobs)
        return
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        make_data(d, a.loci)
        res = {}
        for which in ("ours", "peer"):
            # the first child run may compile numba kernels into the on-disk cache
            for _ in range(2):
                out = subprocess.run([sys.executable, __file__, "--child", which, "--dir", str(d),
                                      "--n-jobs", str(a.n_jobs)], check=True,
                                     capture_output=True, text=True)
            res[which] = json.loads(out.stdout.strip().splitlines()[-1])
        Xo, Xp = np.load(d / "ours_X.npy"), np.load(d / "peer_X.npy")
        yo, yp = np.load(d / "ours_y.npy"), np.load(d / "peer_y.npy")
        equal = Xo.shape == Xp.shape and np.array_equal(Xo, Xp) and np.array_equal(yo, yp)
        print(f"{a.loci} loci, in {IN} + 2 x {JIT} jitter, 2 signal tracks; threads "
              f"(both tools): {a.n_jobs}")
        print(f"{'tool':<12}{'wall s':>9}{'loci/s':>10}{'CPU s':>8}{'peak MB':>10}  dtypes")
        for name, key in (("bpnetkit", "ours"), ("tangermeme", "peer")):
            r = res[key]
            print(f"{name:<12}{r['wall']:>9.2f}{r['n'] / r['wall']:>10,.0f}{r['cpu']:>8.2f}"
                  f"{r['mem_mb']:>10.0f}  {r['X_dtype']}/{r['y_dtype']}")
        print(f"speed-up: wall {res['peer']['wall'] / res['ours']['wall']:.1f}x, CPU "
              f"{res['peer']['cpu'] / res['ours']['cpu']:.1f}x; memory ratio "
              f"{res['ours']['mem_mb'] / max(res['peer']['mem_mb'], 1):.2f}; values equal: "
              f"{equal}")


if __name__ == "__main__":
    main()
