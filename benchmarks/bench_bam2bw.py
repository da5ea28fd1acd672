"""Reads -> bigWig: bpnetkit vs bam2bw 0.5.1 on the same synthetic BAM.

Both tools count every mapped read's 5' end (bam2bw keeps duplicates/secondary reads, so ours
is run with those filters off) with ATAC shifts; the bigWigs are compared for equal values and
reads per second are printed side by side.

    python benchmarks/bench_bam2bw.py [--reads 1000000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyBigWig
import pysam

from bpnetkit.data.reads import reads_to_bigwig


def make_bam(path: Path, n: int, sizes: dict[str, int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    names = list(sizes)
    tid = rng.integers(0, len(names), n)
    lens = np.array([sizes[c] for c in names])
    start = (rng.random(n) * (lens[tid] - 200)).astype(np.int64) + 1
    rev = rng.random(n) < 0.5
    cig = np.where(rng.random(n) < 0.8, "50M", "20M5D30M")
    flag = np.where(rev, 16, 0) | np.where(rng.random(n) < 0.05, 1024, 0)
    order = np.lexsort((start, tid))
    sam = path.with_suffix(".sam")
    seq, qual = "A" * 50, "I" * 50
    with open(sam, "w") as fh:
        fh.write("@HD\tVN:1.6\tSO:coordinate\n")
        fh.writelines(f"@SQ\tSN:{c}\tLN:{sizes[c]}\n" for c in names)
        chunk = []
        for i in order:
            chunk.append(f"r{i}\t{flag[i]}\t{names[tid[i]]}\t{start[i]}\t30\t{cig[i]}\t*\t0\t0\t"
                         f"{seq}\t{qual}\n")
            if len(chunk) > 100000:
                fh.writelines(chunk)
                chunk = []
        fh.writelines(chunk)
    pysam.view("-b", "-o", str(path), str(sam), catch_stdout=False)
    pysam.index(str(path))
    sam.unlink()


def dense(path: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    bw = pyBigWig.open(str(path))
    out = {c: np.nan_to_num(bw.values(c, 0, n, numpy=True)) for c, n in sizes.items()}
    bw.close()
    return out


def measure(n_reads: int = 1_000_000) -> dict:
    """Make a BAM of ``n_reads`` reads, run both tools; return times and whether they agree."""
    exe = shutil.which("bam2bw") or str(Path(sys.executable).with_name("bam2bw"))
    sizes = {"chr1": 20_000_000, "chr2": 15_000_000, "chr3": 10_000_000}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        bam = d / "reads.bam"
        t = time.perf_counter()
        make_bam(bam, n_reads, sizes)
        t_make = time.perf_counter() - t
        (d / "g.sizes").write_text("".join(f"{c}\t{n}\n" for c, n in sizes.items()))
        # ours (one warm-up on a tiny slice is not needed: numba kernels are cached on disk)
        t, c = time.perf_counter(), time.process_time()
        ours = reads_to_bigwig([bam], d / "ours", sizes, preset="atac", skip_secondary=False,
                               skip_supplementary=False, skip_qcfail=False)
        t_ours, c_ours = time.perf_counter() - t, time.process_time() - c
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([exe, str(bam), "-s", str(d / "g.sizes"), "-n", str(d / "peer"),
                        "-ps", "4", "-ns", "-4"], check=True, capture_output=True)
        t_peer = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c_peer = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        peer = {"plus": d / "peer.+.bw", "minus": d / "peer.-.bw"}
        if not peer["plus"].exists():
            found = sorted(d.glob("peer*.bw"))
            raise SystemExit(f"bam2bw outputs not found; have {found}")
        equal = True
        for k in ("plus", "minus"):
            x, y = dense(Path(ours[k]), sizes), dense(peer[k], sizes)
            equal &= all(np.array_equal(x[c], y[c]) for c in sizes)
    return {"reads": n_reads, "make": t_make, "ours": (t_ours, c_ours),
            "peer": (t_peer, c_peer), "equal": bool(equal)}


def rows(quick: bool = False) -> list:
    """Rows for ``run_all.py``: 1,000,000 reads (quick: 100,000)."""
    from _common import Row

    r = measure(100_000 if quick else 1_000_000)
    n = r["reads"]
    conf = (f"{n:,} reads on 45 Mb, ATAC shifts, stranded 5' ends; bigWigs equal: "
            f"{r['equal']}")
    return [Row("reads -> bigWig (reads/s, wall)", n / r["ours"][0], n / r["peer"][0],
                "bam2bw", conf, headline=True),
            Row("reads -> bigWig (reads/CPU-s)", n / r["ours"][1], n / r["peer"][1],
                "bam2bw", conf)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reads", type=int, default=1_000_000)
    a = ap.parse_args()
    r = measure(a.reads)
    print(f"made {a.reads} reads in {r['make']:.1f} s")
    print(f"{'tool':<12}{'wall s':>9}{'reads/s (wall)':>16}{'CPU s':>9}"
          f"{'reads/CPU-s':>14}")
    for name, (tw, tc) in (("bpnetkit", r["ours"]), ("bam2bw", r["peer"])):
        print(f"{name:<12}{tw:>9.2f}{a.reads / tw:>16,.0f}{tc:>9.2f}{a.reads / tc:>14,.0f}")
    print(f"speed-up: wall {r['peer'][0] / r['ours'][0]:.1f}x, CPU "
          f"{r['peer'][1] / r['ours'][1]:.1f}x   values equal: {r['equal']}")


if __name__ == "__main__":
    main()
