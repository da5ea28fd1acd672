"""Motif comparison with Tomtom (memelite), with per-query q-values.

:func:`tomtom_matches` compares query matrices (MoDISco patterns, seqlet sequences) with a
motif database and returns, for each query, its best matches sorted by p-value with
Benjamini-Hochberg q-values computed over all targets of that query (as MEME's tomtom
reports q-values per query). No MEME suite binary is needed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bpnetkit.errors import InputError, MissingToolError
from bpnetkit.io.meme import Motif


@dataclass
class Match:
    """One query-target alignment."""

    query: int
    rank: int
    target: int
    target_name: str
    target_alt_name: str
    p_value: float
    q_value: float
    offset: int
    overlap: int
    strand: str


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values along the last axis of ``p``."""
    p = np.asarray(p, dtype=np.float64)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1)
    ranked = np.take_along_axis(p, order, axis=-1) * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.clip(ranked, 0, 1), axis=-1)
    return out


def _as_ppm(q) -> np.ndarray:
    a = np.asarray(q.pwm if isinstance(q, Motif) else q, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 4 or a.shape[0] == 0:
        raise InputError(f"a Tomtom query must be a (length, 4) matrix, got {a.shape}.")
    return a


def tomtom_matches(queries: Sequence, targets: Sequence[Motif], n_matches: int = 3,
                   n_jobs: int = -1, chunk_size: int = 2000) -> list[list[Match]]:
    """Best database matches of every query.

    Parameters
    ----------
    queries : sequence of Motif or ``(length, 4)`` arrays
        Probability matrices (or one-hot sequences) to annotate.
    targets : sequence of Motif
        The motif database.
    n_matches : int
        Matches kept per query (sorted by p-value).
    n_jobs : int
        numba threads for memelite (-1: all).
    chunk_size : int
        Queries compared per memelite call (bounds memory: the full query x target
        matrices of one chunk are held at once).

    Returns
    -------
    list of list of Match
        One list per query.
    """
    try:
        from memelite import tomtom
    except ImportError:  # pragma: no cover - memelite is a dependency
        raise MissingToolError("memelite is not installed; install it with "
                               "'pip install memelite'.") from None
    if len(targets) == 0:
        raise InputError("the motif database is empty.")
    if len(queries) == 0:
        return []
    from bpnetkit.utils import progress

    Ts = [np.ascontiguousarray(t.pwm.T) for t in targets]
    names = [t.name for t in targets]
    alt_names = [t.alt_name for t in targets]
    n_keep = min(n_matches, len(targets))
    out: list[list[Match]] = []
    starts = range(0, len(queries), chunk_size)
    for c in progress(starts, desc="tomtom", enabled=len(starts) >= 3, unit="chunk"):
        Qs = [np.ascontiguousarray(_as_ppm(q).T) for q in queries[c:c + chunk_size]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p, _, offsets, overlaps, strands = tomtom(Qs, Ts, n_jobs=n_jobs)[:5]
        p = np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0)
        top, q_top = _top_matches(p, n_keep)
        offsets = np.asarray(offsets)
        overlaps = np.asarray(overlaps)
        strands = np.asarray(strands)
        rows = np.arange(len(Qs))[:, None]
        p_l = p[rows, top].tolist()
        q_l = q_top.tolist()
        off_l = offsets[rows, top].astype(np.int64).tolist()
        ovl_l = overlaps[rows, top].astype(np.int64).tolist()
        str_l = strands[rows, top].astype(np.int64).tolist()
        for i, js in enumerate(top.tolist()):
            out.append([Match(c + i, r, j, names[j], alt_names[j], p_l[i][r], q_l[i][r],
                              off_l[i][r], ovl_l[i][r], "-" if str_l[i][r] == 1 else "+")
                        for r, j in enumerate(js)])
    return out


def _top_matches(p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest p-values of every row (ties: smaller column first) and their
    Benjamini-Hochberg q-values over the whole row (same values as :func:`bh_qvalues`)."""
    n, m = p.shape
    srt = np.sort(p, axis=1)
    ranked = srt * m / np.arange(1, m + 1)
    qs = np.clip(np.minimum.accumulate(ranked[:, ::-1], axis=1)[:, ::-1], 0, 1)[:, :k]
    # the k-th smallest value; every column at or below it is a candidate (ties included)
    kth = srt[:, k - 1:k]
    r, c = np.nonzero(p <= kth)
    order = np.lexsort((c, p[r, c], r))
    r, c = r[order], c[order]
    starts = np.searchsorted(r, np.arange(n))
    pos = np.arange(r.shape[0]) - starts[r]
    sel = pos < k
    top = np.empty((n, k), dtype=np.int64)
    top[r[sel], pos[sel]] = c[sel]
    return top, qs
