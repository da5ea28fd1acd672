"""bigWig reading and writing: bpnetkit's own reader/writer vs pybigtools (Rust), with
pyBigWig as the oracle of the values.

- read: per-base values of many equal-length loci (the training-example path) from a
  base-resolution track: bpnetkit ``extract_signals`` (its block reader) vs a loop of
  pybigtools ``values(chrom, start, end, arr=...)`` into the same array; pyBigWig's
  ``values`` gives the expected numbers;
- write: a sparse base-resolution track (span-1 items, like reads -> bigWig) of a few Mb:
  bpnetkit ``write_bigwig`` (no zoom levels) vs pybigtools ``BigWigWriter.write`` (it always
  writes zoom levels); both files are read back with pyBigWig and compared with the input.

    python benchmarks/bench_bigwig.py [--loci 20000] [--mb 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row  # noqa: E402

LENGTH = 1000


def _sizes(mb: float) -> dict[str, int]:
    total = int(mb * 1_000_000)
    return {"chr1": total // 2, "chr2": total * 3 // 10, "chr3": total - total // 2
            - total * 3 // 10}


def make_track(mb: float, density: float = 0.2, seed: int = 0):
    """Sparse span-1 items: ``{chrom: (positions, values)}`` (Poisson counts + 1)."""
    rng = np.random.default_rng(seed)
    out = {}
    for c, n in _sizes(mb).items():
        pos = np.flatnonzero(rng.random(n) < density).astype(np.int64)
        out[c] = (pos, rng.poisson(2, len(pos)).astype(np.float64) + 1)
    return out


def _timed(fn, repeats: int):
    best, res = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t)
    return best, res


def _dense(path: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    import pyBigWig

    bw = pyBigWig.open(str(path))
    try:
        return {c: np.nan_to_num(bw.values(c, 0, n, numpy=True)) for c, n in sizes.items()}
    finally:
        bw.close()


def measure(n_loci: int = 20000, mb: float = 8.0, repeats: int = 3) -> list[Row]:
    """Time reading ``n_loci`` loci of 1 kb and writing an ``mb``-Mb track; return rows."""
    import pybigtools
    import pyBigWig

    from bpnetkit.data.signals import extract_signals
    from bpnetkit.io.bigwig import write_bigwig

    sizes = _sizes(mb)
    track = make_track(mb)
    expect = {c: np.zeros(n) for c, n in sizes.items()}
    for c, (p, v) in track.items():
        expect[c][p] = v
    rows: list[Row] = []
    conf = f"{mb:g} Mb, 20% of bases with a value (span 1)"
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        # --- write ------------------------------------------------------------------------
        ours_p, peer_p = d / "ours.bw", d / "peer.bw"

        def write_ours():
            write_bigwig(ours_p, sizes, ((c, *track[c]) for c in sizes), zoom_levels=0)

        def write_peer():
            bw = pybigtools.open(str(peer_p), "w")
            bw.write(sizes, ((c, int(p), int(p) + 1, float(v)) for c in sizes
                             for p, v in zip(*track[c])))

        t_ours, _ = _timed(write_ours, repeats)
        t_peer, _ = _timed(write_peer, max(1, repeats - 1))
        ok_ours = all(np.array_equal(v, expect[c]) for c, v in _dense(ours_p, sizes).items())
        ok_peer = all(np.array_equal(v, expect[c]) for c, v in _dense(peer_p, sizes).items())
        rows.append(Row("bigWig write (s)", t_ours, t_peer, "pybigtools",
                        f"{conf}; values equal to the input: ours {ok_ours}, pybigtools "
                        f"{ok_peer}; pybigtools also writes zoom levels",
                        lower_is_better=True))
        # --- read -------------------------------------------------------------------------
        rng = np.random.default_rng(1)
        names = list(sizes)
        chroms = rng.choice(names, n_loci, p=[0.5, 0.3, 0.2])
        starts = np.array([rng.integers(0, sizes[c] - LENGTH) for c in chroms], np.int64)
        ends = starts + LENGTH
        extract_signals([ours_p], chroms[:20], starts[:20], ends[:20])  # numba kernels

        def read_ours():
            return extract_signals([ours_p], chroms, starts, ends)[:, 0]

        def read_peer():
            out = np.zeros((n_loci, LENGTH), dtype=np.float64)
            with pybigtools.open(str(ours_p)) as bw:
                for i, (c, s) in enumerate(zip(chroms.tolist(), starts.tolist())):
                    bw.values(c, s, s + LENGTH, fillna=0.0, arr=out[i])
            return out

        def read_peer_chrom():
            # whole chromosomes once, then windows by numpy (memory: the chromosomes' values)
            out = np.zeros((n_loci, LENGTH), dtype=np.float64)
            with pybigtools.open(str(ours_p)) as bw:
                for c in names:
                    sel = np.flatnonzero(chroms == c)
                    full = bw.values(c, fillna=0.0)
                    out[sel] = full[starts[sel, None] + np.arange(LENGTH)]
            return out

        t_ours, got_ours = _timed(read_ours, repeats)
        t_peer, got_peer = _timed(read_peer, repeats)
        t_chrom, got_chrom = _timed(read_peer_chrom, repeats)
        bw = pyBigWig.open(str(ours_p))
        oracle = np.stack([np.nan_to_num(bw.values(c, int(s), int(s) + LENGTH, numpy=True))
                           for c, s in zip(chroms, starts)])
        bw.close()
        eq = (np.array_equal(got_ours, oracle.astype(np.float32)),
              np.array_equal(got_peer, oracle), np.array_equal(got_chrom, oracle))
        rows.append(Row("bigWig read (loci/s)", n_loci / t_ours, n_loci / t_peer, "pybigtools",
                        f"{n_loci} loci x {LENGTH} bp from the {mb:g}-Mb track; "
                        f"equal to pyBigWig: ours {eq[0]}, pybigtools {eq[1]}; one values() call "
                        f"per locus"))
        rows.append(Row("bigWig read, peer by whole chromosomes (loci/s)", n_loci / t_ours,
                        n_loci / t_chrom, "pybigtools", f"same loci; pybigtools reads each "
                        f"chromosome's values once and numpy gathers the windows (memory "
                        f"grows with the chromosome); equal to pyBigWig: {eq[2]}"))
    return rows


def rows(quick: bool = False) -> list[Row]:
    """Rows for ``run_all.py``: 20,000 loci and an 8-Mb track (quick: 2,000 and 2 Mb)."""
    if quick:
        return measure(2000, 2.0, 1)
    return measure(20000, 8.0, 2)


def main() -> None:
    from _common import format_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loci", type=int, default=20000)
    ap.add_argument("--mb", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(format_table(measure(a.loci, a.mb, a.repeats)))


if __name__ == "__main__":
    main()
