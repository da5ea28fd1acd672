"""Signal tracks (bigWig): per-base values for many loci (the file format: io/bigwig).

Stranded data are a pair ``[plus.bw, minus.bw]``; unstranded data one file per track;
control tracks the same. Missing values (NaN, no data) read as 0.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.io.bigwig import (
    BigWigReader,
    UnsupportedBigWig,
    bigwig_chrom_sizes,
    copy_loci,
    open_bigwig,
)
from bpnetkit.io.fasta import as_loci, check_chroms

__all__ = ["extract_signals", "total_counts", "open_bigwig", "bigwig_chrom_sizes"]

log = logging.getLogger(__name__)


def _as_paths(paths) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    return [Path(p) for p in paths]


def extract_signals(paths: Sequence[str | os.PathLike] | str | os.PathLike,
                    chroms: Sequence[str], starts: Sequence[int] | np.ndarray,
                    ends: Sequence[int] | np.ndarray, pad: bool = False,
                    dtype=np.float32, engine: str = "auto", threads: int = 1) -> np.ndarray:
    """Per-base values of many equal-length loci from one or more bigWigs.

    Parameters
    ----------
    paths : path or sequence of paths
        bigWig files; each becomes one track (e.g. ``[plus, minus]``).
    chroms, starts, ends : array-like
        Loci, 0-based half-open, all of one length.
    pad : bool
        If True, positions beyond a chromosome end read as 0; otherwise such loci raise.
    dtype : numpy dtype
        Output dtype (float32 by default).
    engine : {"auto", "pybigwig"}
        ``"auto"`` uses bpnetkit's block reader (falling back to pyBigWig for files it does
        not handle); ``"pybigwig"`` always reads through pyBigWig.
    threads : int
        Tracks read concurrently (decompression and decoding release the GIL).

    Returns
    -------
    numpy.ndarray
        ``(N, T, L)`` with ``T = len(paths)``; NaN and missing data are 0. Loci without any
        data in a file are counted and reported in the log.

    Raises
    ------
    InputError
        When a chromosome is not in a bigWig (with a hint about the ``chr`` prefix), when
        loci differ in length, or run off a chromosome (unless ``pad``).
    """

    paths = _as_paths(paths)
    chroms, starts, ends = as_loci(chroms, starts, ends)
    n = len(chroms)
    L = int(ends[0] - starts[0]) if n else 0
    if n and ((ends - starts) != L).any():
        raise InputError("all loci must have the same length to extract signals.")
    if n and L <= 0:
        raise InputError(f"loci must have a positive length, got {L}.")
    out = np.zeros((n, len(paths), L), dtype=dtype)
    if n == 0:
        return out
    names, codes = np.unique(chroms, return_inverse=True) if n < 64 else _codes(chroms)
    order = np.lexsort((starts, codes))
    clusters = _clusters(chroms[order], starts[order], L, max_gap=1 << 62, max_span=1 << 62)
    def one(t: int) -> int:
        return _extract_track(paths[t], t, chroms, starts, ends, L, order, clusters, pad, out,
                              engine)

    if threads > 1 and len(paths) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, len(paths))) as pool:
            empties = list(pool.map(one, range(len(paths))))
    else:
        empties = [one(t) for t in range(len(paths))]
    for p, empty in zip(paths, empties):
        if empty:
            log.warning("bigWig '%s' has no data for %d of %d loci; they read as zeros.",
                        p.name, empty, n)
    return out


def _extract_track(p: Path, t: int, chroms, starts, ends, L, order, clusters, pad, out,
                   engine: str = "auto") -> int:
    """Fill ``out[:, t]`` from one bigWig; returns the number of loci without data."""
    require_file(p, "bigWig")
    if engine not in ("auto", "pybigwig"):
        raise InputError(f"engine must be 'auto' or 'pybigwig', got {engine!r}.")
    try:
        reader = BigWigReader(p) if engine == "auto" else None
    except (UnsupportedBigWig, OSError):
        reader = None
    bw = open_bigwig(p) if reader is None else None
    try:
        sizes = reader.chrom_sizes() if reader is not None else dict(bw.chroms())
        check_chroms(chroms, list(sizes), "the loci", f"bigWig '{p.name}'")
        empty = 0
        for a, b in clusters:
            idx = order[a:b]
            c = chroms[idx[0]]
            size = sizes[c]
            s_all = starts[idx]
            inside = (s_all >= 0) & (s_all + L <= size)
            if not inside.all() and not pad:
                bad = idx[~inside][0]
                raise InputError(f"locus {c}:{starts[bad]}-{ends[bad]} runs off chromosome "
                                 f"{c} (length {size}) in bigWig '{p.name}'. Drop such "
                                 f"windows or pass pad=True.")
            if reader is not None:
                try:
                    empty += reader.read_loci(c, s_all[inside], L, out,
                                              idx[inside].astype(np.int64), t)
                except InputError:  # already names the file and the problem
                    raise
                except (UnsupportedBigWig, ValueError, OSError) as e:
                    raise InputError(f"cannot read bigWig '{p}': {e}. The file may be "
                                     f"damaged; re-create it.") from None
                groups = [np.array([k]) for k in np.flatnonzero(~inside)]
            else:
                groups = [np.arange(x, y) for x, y in
                          _clusters(np.full(len(s_all), c, dtype=object), s_all, L)]
            for g in groups:  # pyBigWig clusters, or single loci that run off the end
                lo, hi = int(s_all[g].min()), int(s_all[g].max()) + L
                rlo, rhi = max(lo, 0), min(hi, size)
                span = np.zeros(hi - lo, dtype=np.float32)
                cov = np.zeros(hi - lo, dtype=np.uint8)
                if rhi > rlo:
                    if reader is not None:
                        reader.fill(c, rlo, rhi, span[rlo - lo:rhi - lo], cov[rlo - lo:rhi - lo])
                    else:
                        v = np.asarray(bw.values(c, rlo, rhi, numpy=True), dtype=np.float32)
                        if v.shape[0] != rhi - rlo:  # a bigWig with no data at all
                            v = np.full(rhi - rlo, np.nan, dtype=np.float32)
                        ok = ~np.isnan(v)
                        span[rlo - lo:rhi - lo] = np.where(ok, v, 0)
                        cov[rlo - lo:rhi - lo] = ok
                empty += copy_loci(span, cov, (s_all[g] - lo).astype(np.int64),
                                   idx[g].astype(np.int64), t, L, out)
        return empty
    finally:
        if reader is not None:
            reader.close()
        if bw is not None:
            bw.close()


def _codes(chroms: np.ndarray):
    """Integer codes of chromosome names (fast for many rows with few names)."""
    table: dict[str, int] = {}
    codes = np.fromiter((table.setdefault(c, len(table)) for c in chroms), dtype=np.int64,
                        count=len(chroms))
    return list(table), codes


def _clusters(chroms: np.ndarray, starts: np.ndarray, length: int, max_gap: int = 256,
              max_span: int = 1 << 22) -> list[tuple[int, int]]:
    """Split sorted loci into runs read with one bigWig call each (bounded span)."""
    n = len(starts)
    if n == 0:
        return []
    brk = np.ones(n, dtype=bool)
    brk[1:] = (chroms[1:] != chroms[:-1]) | (starts[1:] - starts[:-1] - length > max_gap)
    heads = np.flatnonzero(brk).tolist() + [n]
    out = []
    for a, b in zip(heads[:-1], heads[1:]):
        while a < b:
            # the longest run from a whose span stays within max_span
            e = int(np.searchsorted(starts[a:b], starts[a] + max_span - length, side="right"))
            e = a + max(e, 1)
            out.append((a, e))
            a = e
    return out


def total_counts(signals: np.ndarray, length: int | None = None) -> np.ndarray:
    """Sum over tracks and the central ``length`` positions: ``(N, T, L) -> (N,)``."""
    if length is not None and length < signals.shape[-1]:
        left = (signals.shape[-1] - length) // 2
        signals = signals[..., left:left + length]
    return signals.sum(axis=(1, 2), dtype=np.float64)
