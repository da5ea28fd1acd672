"""Per-base genome tracks from overlapping windows: each base goes to the nearest centre.

The bigWig writing that uses these segments lives with the steps
(``bpnetkit.steps._regions.write_window_bigwig``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_centre_segments"]


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
