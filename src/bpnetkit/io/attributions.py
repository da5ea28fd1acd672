"""Attribution h5 files (the layout that modisco-lite reads): streaming writer and readers.

Layout: ``raw/seq`` one-hot ``(N, 4, L)`` int8, ``shap/seq`` hypothetical contributions
``(N, 4, L)`` float32 and ``projected_shap/seq`` (hypothetical * one-hot), plus
``chrom``/``start``/``end`` of every row and file attributes (e.g. ``target``). The readers
also accept files without ``projected_shap/seq`` or coordinates; the genome coordinates of
the rows then come from a BED file with one line per row (``regions``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.utils import atomic_path

__all__ = ["Attributions", "AttributionWriter", "check_attributions", "read_attributions",
           "read_position_scores", "read_row_bed", "read_rows"]


def check_attributions(scores: np.ndarray, name: str = "attributions",
                       one_hot: np.ndarray | None = None, row_offset: int = 0,
                       ndim: int | None = 3) -> np.ndarray:
    """Refuse attribution arrays with NaN/inf values or a wrong shape.

    The one check of attribution scores used by the readers here and by every analysis entry
    point that takes them (seqlets, MoDISco, annotation): a single NaN position would
    otherwise shift thresholds and change the calls in every region, silently.

    Parameters
    ----------
    scores : numpy.ndarray
        Hypothetical contributions ``(N, 4, L)`` (or per-position scores ``(N, L)`` with
        ``ndim=2``; ``ndim=None`` skips the shape check).
    name : str
        What the array is, for the message (e.g. ``"shap/seq of 'a.h5'"``).
    one_hot : numpy.ndarray or None
        When given, must have the same shape as ``scores``.
    row_offset : int
        Added to row numbers in the message (for chunked reads).
    ndim : int or None
        Expected number of dimensions.

    Returns
    -------
    numpy.ndarray
        ``scores`` unchanged.

    Raises
    ------
    InputError
        Naming the number of bad values and the first (row, position).
    """
    scores = np.asarray(scores)
    if ndim is not None and scores.ndim != ndim:
        want = "(N, 4, L)" if ndim == 3 else "(N, L)" if ndim == 2 else f"{ndim}-D"
        raise InputError(f"{name} must have shape {want}, got {scores.shape}.")
    if ndim == 3 and scores.shape[1] != 4:
        raise InputError(f"{name} must have shape (N, 4, L) with 4 channels (A, C, G, T), got "
                         f"{scores.shape}.")
    if one_hot is not None and np.shape(one_hot) != scores.shape:
        raise InputError(f"{name} has shape {scores.shape} but its sequences have "
                         f"{np.shape(one_hot)}; they must match.")
    if scores.dtype.kind in "fc":
        bad = ~np.isfinite(scores)
        if bad.any():
            idx = np.argwhere(bad)[0]
            pos = f"row {int(idx[0]) + row_offset}" + \
                (f", position {int(idx[-1])}" if scores.ndim > 1 else "")
            raise InputError(f"{name} holds {int(bad.sum())} NaN/infinite value(s), first at "
                             f"{pos}. Attributions must be finite: re-run 'bpnetkit attribute' "
                             f"(the model or its inputs produced NaN), or drop those rows.")
    return scores


class AttributionWriter:
    """Write attributions of ``N`` windows row block by row block (bounded memory).

    Use as a context manager: the file appears at ``path`` only when the block exits without
    an error (it is written to a temporary sibling and moved into place).

    Parameters
    ----------
    path : str or os.PathLike
        The h5 file to write.
    chroms, starts, ends : sequences
        Genome coordinates of the ``N`` windows (rows), stored as ``chrom``/``start``/``end``.
    length : int
        Window length ``L``.
    attrs : mapping or None
        File attributes (e.g. ``target``, ``n_shuffles``).

    Examples
    --------
    >>> with AttributionWriter(p, chroms, starts, ends, L) as w:  # doctest: +SKIP
    ...     w.write(0, X[:64], hyp[:64])
    """

    def __init__(self, path: str | os.PathLike, chroms: Sequence[str], starts: Sequence[int],
                 ends: Sequence[int], length: int, attrs: Mapping[str, Any] | None = None
                 ) -> None:
        self.path = Path(path)
        self.chroms = np.asarray(chroms).astype("S")
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)
        if not len(self.chroms) == len(self.starts) == len(self.ends):
            raise InputError(f"chroms, starts and ends must have one entry per row; got "
                             f"{len(self.chroms)}, {len(self.starts)}, {len(self.ends)}.")
        self.n = len(self.chroms)
        self.length = int(length)
        self.attrs = dict(attrs or {})
        self._stack: contextlib.ExitStack | None = None
        self._dsets: tuple | None = None

    def __enter__(self) -> AttributionWriter:
        import h5py

        n, L = self.n, self.length
        from bpnetkit.io._errors import writing

        with contextlib.ExitStack() as stack:
            stack.enter_context(writing(self.path))  # a full disk names this file
            tmp = stack.enter_context(atomic_path(self.path))
            f = stack.enter_context(h5py.File(tmp, "w"))
            for k, v in self.attrs.items():
                f.attrs[k] = v
            chunks = (min(n, 64), 4, L) if n else None
            self._dsets = (
                f.create_dataset("raw/seq", (n, 4, L), dtype="i1", chunks=chunks,
                                 compression="gzip", compression_opts=1),
                f.create_dataset("shap/seq", (n, 4, L), dtype="f4", chunks=chunks),
                f.create_dataset("projected_shap/seq", (n, 4, L), dtype="f4", chunks=chunks))
            f.create_dataset("chrom", data=self.chroms)
            f.create_dataset("start", data=self.starts)
            f.create_dataset("end", data=self.ends)
            self._stack = stack.pop_all()
        return self

    def write(self, row: int, one_hot: np.ndarray, hypothetical: np.ndarray) -> np.ndarray:
        """Store rows ``[row, row + len(one_hot))``; returns the actual contributions.

        Parameters
        ----------
        row : int
            First row of the block.
        one_hot : numpy.ndarray
            ``(B, 4, L)`` one-hot sequences.
        hypothetical : numpy.ndarray
            ``(B, 4, L)`` hypothetical contributions.

        Returns
        -------
        numpy.ndarray
            ``(B, 4, L)`` float32 ``hypothetical * one_hot`` (written as
            ``projected_shap/seq``).
        """
        if self._dsets is None:
            raise InputError("AttributionWriter.write outside its 'with' block.")
        b = len(one_hot)
        if one_hot.shape != (b, 4, self.length) or hypothetical.shape != one_hot.shape or \
                not 0 <= row <= self.n - b:
            raise InputError(f"rows [{row}, {row + b}) of shape {one_hot.shape} / "
                             f"{hypothetical.shape} do not fit ({self.n}, 4, {self.length}).")
        hyp = np.asarray(hypothetical, dtype=np.float32)
        projected = hyp * one_hot
        raw, shap, proj = self._dsets
        raw[row:row + b] = one_hot
        shap[row:row + b] = hyp
        proj[row:row + b] = projected
        return projected

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        stack, self._stack, self._dsets = self._stack, None, None
        if stack is not None:
            return stack.__exit__(exc_type, exc, tb)
        return None


@dataclass
class Attributions:
    """Attributions of ``N`` windows of length ``L``.

    Attributes
    ----------
    one_hot : numpy.ndarray
        ``(N, 4, L)`` one-hot sequences.
    hypothetical : numpy.ndarray
        ``(N, 4, L)`` float32 hypothetical contributions.
    chroms : numpy.ndarray
        ``(N,)`` chromosome names of the windows (``"row<i>"`` when unknown).
    starts : numpy.ndarray
        ``(N,)`` genome start of every window (0 when unknown).
    """

    one_hot: np.ndarray
    hypothetical: np.ndarray
    chroms: np.ndarray
    starts: np.ndarray

    @property
    def contributions(self) -> np.ndarray:
        """Actual contributions ``hypothetical * one_hot`` ``(N, 4, L)``."""
        return self.hypothetical * self.one_hot

    @property
    def length(self) -> int:
        """Window length ``L``."""
        return int(self.one_hot.shape[2])


def read_row_bed(path: str | Path, n_rows: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Read the BED of attribution rows: return ``(chroms, window_starts)``.

    A line whose interval is exactly ``length`` long gives its start; otherwise the window is
    centred on the summit (narrowPeak column 10) or the midpoint.
    """
    from bpnetkit.io.bed import read_regions

    regions = read_regions(require_file(path, "regions BED of the attribution rows"))
    if len(regions) != n_rows:
        raise InputError(f"{path} has {len(regions)} regions but the attributions have "
                         f"{n_rows} rows; give the BED written together with the h5.")
    exact = regions.end - regions.start == length
    starts = np.where(exact, regions.start, regions.summit - length // 2).astype(np.int64)
    return np.asarray(regions.chrom, dtype=object), starts


def _open_checked(path):
    import h5py

    path = require_file(path, "attribution h5")
    try:
        fh = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path} is not a readable HDF5 file ({e}).") from None
    for key in ("raw/seq", "shap/seq"):
        if key not in fh:
            fh.close()
            raise InputError(f"{path}: dataset '{key}' is missing; expected an attribution "
                             f"h5 written by 'bpnetkit attribute' (raw/seq, shap/seq).")
    if fh["raw/seq"].ndim != 3 or fh["raw/seq"].shape[1] != 4 or \
            fh["shap/seq"].shape != fh["raw/seq"].shape:
        shapes = (fh["raw/seq"].shape, fh["shap/seq"].shape)
        fh.close()
        raise InputError(f"{path}: raw/seq {shapes[0]} and shap/seq {shapes[1]} must both be "
                         f"(N, 4, L).")
    return path, fh


def _coords(fh, regions, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    if regions is not None:
        return read_row_bed(regions, n, length)
    for ck, sk in (("chrom", "start"), ("coords/chrom", "coords/start")):
        if ck in fh and sk in fh and len(fh[ck]) == n:
            chroms = np.array([c.decode() if isinstance(c, bytes) else str(c)
                               for c in fh[ck][()]], dtype=object)
            return chroms, fh[sk][()].astype(np.int64)
    return (np.array([f"row{i}" for i in range(n)], dtype=object),
            np.zeros(n, dtype=np.int64))


def read_position_scores(path: str | Path, regions: str | Path | None = None,
                         chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-position actual contributions ``(N, L)`` float32, read in chunks, and coordinates.

    Uses ``projected_shap/seq`` when present, else ``shap/seq * raw/seq``; returns
    ``(scores, chroms, starts)``. Memory is ``N * L`` floats rather than ``N * 4 * L``.
    """
    path, fh = _open_checked(path)
    with fh:
        n, _, length = fh["raw/seq"].shape
        out = np.empty((n, length), dtype=np.float32)
        projected = "projected_shap/seq" in fh and \
            fh["projected_shap/seq"].shape == (n, 4, length)
        for a in range(0, n, chunk):
            key = "projected_shap/seq" if projected else "shap/seq"
            block = check_attributions(fh[key][a:a + chunk], f"{key} of '{path}'",
                                       row_offset=a)
            if projected:
                out[a:a + chunk] = block.sum(axis=1)
            else:
                out[a:a + chunk] = (block * fh["raw/seq"][a:a + chunk]).sum(axis=1)
        chroms, starts = _coords(fh, regions, n, length)
    return out, chroms, starts


def read_rows(path: str | Path, rows, regions: str | Path | None = None
              ) -> tuple[Attributions, np.ndarray]:
    """The attributions of the given rows only; returns ``(Attributions, unique rows)``.

    Row ``k`` of the result is row ``unique_rows[k]`` of the file; ``chroms``/``starts``
    cover all rows of the file.
    """
    path, fh = _open_checked(path)
    with fh:
        n, _, length = fh["raw/seq"].shape
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if rows.size and (rows[0] < 0 or rows[-1] >= n):
            raise InputError(f"row {int(rows[-1])} is out of range: {path} has {n} rows; use "
                             f"the h5 the seqlets were called on.")
        X = fh["raw/seq"][rows] if rows.size else np.zeros((0, 4, length), np.int8)
        H = fh["shap/seq"][rows] if rows.size else np.zeros((0, 4, length), np.float32)
        chroms, starts = _coords(fh, regions, n, length)
    check_attributions(H, f"shap/seq of '{path}'")
    return Attributions(X.astype(np.int8), H.astype(np.float32), chroms, starts), rows


def read_attributions(path: str | Path, regions: str | Path | None = None) -> Attributions:
    """Read an attribution h5 (``raw/seq``, ``shap/seq``) and the genome coordinates of rows.

    Parameters
    ----------
    path : str or Path
        The h5 file.
    regions : str, Path or None
        BED with one line per row; None uses the h5 datasets ``chrom``/``start`` (or
        ``coords/chrom``, ``coords/start``) when present, else names rows ``row<i>`` at 0.
    """
    path, fh = _open_checked(path)
    with fh:
        X = fh["raw/seq"][()]
        H = fh["shap/seq"][()].astype(np.float32)
        n, _, length = X.shape
        chroms, starts = _coords(fh, regions, n, length)
    check_attributions(H, f"shap/seq of '{path}'")
    return Attributions(X.astype(np.int8), H, chroms, starts)
