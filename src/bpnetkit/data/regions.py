"""Genomic regions: summit-centred windows, interval overlaps, exclusion lists.

Reading and writing BED/narrowPeak files lives in :mod:`bpnetkit.io.bed`; its names are
re-exported here for existing callers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.bed import Regions, read_regions, write_bed, write_regions

__all__ = ["Regions", "read_regions", "write_bed", "write_regions", "as_regions",
           "centered_windows", "merge_intervals", "overlaps", "remove_blacklisted"]

log = logging.getLogger(__name__)


def as_regions(regions: Regions | str | os.PathLike | tuple) -> Regions:
    """Accept a :class:`Regions`, a BED path or a ``(chroms, starts, ends)`` tuple."""
    if isinstance(regions, Regions):
        return regions
    if isinstance(regions, str | os.PathLike):
        return read_regions(regions)
    if isinstance(regions, tuple | list) and len(regions) in (3, 4):
        return Regions.from_arrays(*regions)
    raise InputError(f"expected regions (a Regions object, a BED path or a (chroms, starts, "
                     f"ends) tuple), got {type(regions).__name__}.")


def centered_windows(regions: Regions, width: int,
                     chrom_sizes: Mapping[str, int] | None = None,
                     return_index: bool = False):
    """Windows of ``width`` centred on each region's summit (midpoint when none).

    The window is ``[summit - width // 2, summit - width // 2 + width)``. With
    ``chrom_sizes``, windows that run off a chromosome end (or lie on a chromosome not in
    ``chrom_sizes``) are dropped and the number dropped is logged.

    Parameters
    ----------
    regions : Regions
        The regions.
    width : int
        Window width in bp.
    chrom_sizes : mapping or None
        Chromosome sizes used to drop windows that do not fit.
    return_index : bool
        Also return the integer index of the kept regions.

    Returns
    -------
    tuple
        ``(chroms, starts, ends)`` or ``(chroms, starts, ends, index)``.
    """
    regions = as_regions(regions)
    width = int(width)
    if width <= 0:
        raise InputError(f"window width must be positive, got {width}.")
    starts = regions.summit - width // 2
    ends = starts + width
    keep = np.ones(len(regions), dtype=bool)
    if chrom_sizes is not None:
        sizes = np.array([chrom_sizes.get(c, -1) for c in regions.chrom], dtype=np.int64)
        unknown = sizes < 0
        if unknown.all() and len(regions):
            from bpnetkit.io.fasta import check_chroms
            check_chroms(regions.chrom, list(chrom_sizes), f"'{regions.source}'",
                         "the chromosome sizes")
        keep = (starts >= 0) & (ends <= sizes) & ~unknown
        dropped = int((~keep).sum())
        if dropped:
            log.warning("%s: dropped %d of %d regions whose %d bp window runs off the "
                        "chromosome or lies on a chromosome not in the genome (%d).",
                        Path(regions.source).name, dropped, len(regions), width,
                        int(unknown.sum()))
    idx = np.flatnonzero(keep)
    out = (regions.chrom[idx], starts[idx], ends[idx])
    return (*out, idx) if return_index else out


def merge_intervals(chroms: Sequence[str], starts: Sequence[int], ends: Sequence[int]
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sorted, merged intervals per chromosome: ``{chrom: (starts, ends)}``."""
    chroms = np.asarray(chroms, dtype=object)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    out = {}
    for c in np.unique(chroms):
        m = chroms == c
        s, e = starts[m], ends[m]
        o = np.argsort(s, kind="stable")
        s, e = s[o], e[o]
        cummax = np.maximum.accumulate(e)
        new = np.ones(len(s), dtype=bool)
        new[1:] = s[1:] > cummax[:-1]
        gid = np.cumsum(new) - 1
        ms = s[new]
        me = np.zeros(len(ms), dtype=np.int64)
        np.maximum.at(me, gid, e)
        out[str(c)] = (ms, me)
    return out


def overlaps(chroms: Sequence[str], starts: Sequence[int], ends: Sequence[int],
             other: Regions, pad: int = 0) -> np.ndarray:
    """Boolean mask: which intervals overlap any region of ``other`` (padded by ``pad``)."""
    chroms = np.asarray(chroms, dtype=object)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    merged = merge_intervals(other.chrom, other.start - pad, other.end + pad)
    hit = np.zeros(len(chroms), dtype=bool)
    for c, (ms, me) in merged.items():
        m = np.flatnonzero(chroms == c)
        if not len(m):
            continue
        # last merged interval starting before the query end
        j = np.searchsorted(ms, ends[m], side="left") - 1
        ok = j >= 0
        hit[m[ok]] = me[j[ok]] > starts[m[ok]]
    return hit


def remove_blacklisted(regions: Regions, blacklist: Regions | str | os.PathLike | None,
                       width: int | None = None, pad: int = 0) -> Regions:
    """Drop regions overlapping an exclusion list (logs how many were removed).

    Parameters
    ----------
    regions : Regions
        The regions to filter.
    blacklist : Regions, path or None
        Excluded intervals; None returns ``regions`` unchanged.
    width : int or None
        If given, test the summit-centred window of this width instead of the region.
    pad : int
        Extra bp around each excluded interval.
    """
    if blacklist is None:
        return regions
    bl = as_regions(blacklist)
    if width is None:
        s, e = regions.start, regions.end
    else:
        s = regions.summit - width // 2
        e = s + width
    hit = overlaps(regions.chrom, s, e, bl, pad=pad)
    if hit.any():
        log.info("%s: removed %d of %d regions overlapping the exclusion list %s.",
                 Path(regions.source).name, int(hit.sum()), len(regions),
                 Path(bl.source).name)
    return regions.subset(~hit)
