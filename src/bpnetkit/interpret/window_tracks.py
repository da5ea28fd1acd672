"""Genome tracks (bigWig) from per-window values, overlaps resolved by the nearer centre."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.utils import atomic_path

__all__ = ["nearest_centre_segments", "write_window_bigwig"]


def nearest_centre_segments(starts: np.ndarray, width: int) -> list[tuple[int, int, int]]:
    """Split equal-width windows on one chromosome so each base goes to the nearest centre.

    Parameters
    ----------
    starts : numpy.ndarray
        Window starts (any order) on one chromosome.
    width : int
        Window width.

    Returns
    -------
    list of (row, genome_start, genome_end)
        Disjoint segments in genome order; ``row`` indexes ``starts``. Ties go to the window
        that starts first.
    """
    starts = np.asarray(starts, dtype=np.int64)
    order = np.argsort(starts, kind="stable")
    segments = []
    prev_end = None
    for n, row in enumerate(order):
        s = int(starts[row])
        lo, hi = s, s + width
        # base p is nearer the centre of the next window (start b) than of this one (start
        # a) when 2p > a + b + width - 1; ties stay with the earlier window
        if n > 0:
            lo = max(lo, (int(starts[order[n - 1]]) + s + width + 1) // 2)
        if n + 1 < len(order):
            hi = min(hi, (s + int(starts[order[n + 1]]) + width + 1) // 2)
        if prev_end is not None:
            lo = max(lo, prev_end)
        if hi > lo:
            segments.append((int(row), lo, hi))
            prev_end = hi
    return segments


def write_window_bigwig(path: str | os.PathLike, chrom_sizes: Mapping[str, int],
                        chroms: np.ndarray, starts: np.ndarray, values: np.ndarray,
                        rows_per_read: int = 256) -> Path:
    """Write per-window values ``(N, W)`` (may be a memmap) as one bigWig.

    Windows are ``[start, start + W)``; where windows overlap each base takes the value from
    the window whose centre is nearest. Bases beyond a chromosome end are dropped.
    """
    import pyBigWig

    chroms = np.asarray(chroms).astype(str)
    starts = np.asarray(starts, dtype=np.int64)
    if values.ndim != 2 or values.shape[0] != len(chroms):
        raise InputError(f"window values must be (N={len(chroms)}, W); got {values.shape}.")
    width = values.shape[1]
    unknown = sorted(set(chroms) - set(chrom_sizes))
    if unknown:
        raise InputError(f"chromosomes {unknown[:5]} are not in the chromosome sizes; use the "
                         f"genome the regions come from.")
    path = Path(path)
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        bw.addHeader([(c, int(s)) for c, s in chrom_sizes.items()], maxZooms=0)
        for chrom in chrom_sizes:
            idx = np.flatnonzero(chroms == chrom)
            if idx.size == 0:
                continue
            size = int(chrom_sizes[chrom])
            segs = nearest_centre_segments(starts[idx], width)
            for b in range(0, len(segs), rows_per_read):
                block = segs[b:b + rows_per_read]
                rows = np.array([idx[r] for r, _, _ in block])
                order = np.argsort(rows)
                vals = np.empty((len(rows), width), dtype=np.float32)
                vals[order] = np.asarray(values[rows[order]], dtype=np.float32)
                for (r, lo, hi), v in zip(block, vals, strict=True):
                    lo_c, hi_c = max(lo, 0), min(hi, size)
                    if hi_c <= lo_c:
                        continue
                    s = int(starts[idx[r]])
                    bw.addEntries(chrom, lo_c, values=v[lo_c - s:hi_c - s].astype(np.float64),
                                  span=1, step=1)
        bw.close()
    return path
