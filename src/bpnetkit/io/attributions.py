"""Reading attribution h5 files (the layout that modisco-lite reads) and their row BED.

Layout: ``raw/seq`` one-hot ``(N, 4, L)``, ``shap/seq`` hypothetical contributions
``(N, 4, L)`` and optionally ``projected_shap/seq`` (hypothetical * one-hot). The genome
coordinates of the rows come from a BED file with one line per row (``regions``), or from
datasets ``chrom``/``start`` stored in the h5 (when the writer stored them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, require_file


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
    centred on the summit (narrowPeak column 10, relative to the start) or the midpoint.
    """
    path = require_file(path, "regions BED of the attribution rows")
    chroms, starts = [], []
    with open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < 3:
                raise InputError(f"{path}, line {lineno}: expected at least 3 tab-separated "
                                 f"columns (chrom, start, end).")
            try:
                s, e = int(f[1]), int(f[2])
                summit = int(f[9]) if len(f) >= 10 and int(f[9]) >= 0 else None
            except ValueError:
                raise InputError(f"{path}, line {lineno}: start/end are not integers.") from None
            if e - s == length:
                ws = s
            else:
                centre = s + summit if summit is not None else (s + e) // 2
                ws = centre - length // 2
            chroms.append(f[0])
            starts.append(ws)
    if len(chroms) != n_rows:
        raise InputError(f"{path} has {len(chroms)} regions but the attributions have "
                         f"{n_rows} rows; give the BED written together with the h5.")
    return np.array(chroms, dtype=object), np.array(starts, dtype=np.int64)


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
            if projected:
                out[a:a + chunk] = fh["projected_shap/seq"][a:a + chunk].sum(axis=1)
            else:
                out[a:a + chunk] = (fh["shap/seq"][a:a + chunk] *
                                    fh["raw/seq"][a:a + chunk]).sum(axis=1)
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
    return Attributions(X.astype(np.int8), H, chroms, starts)
