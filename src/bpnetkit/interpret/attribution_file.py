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


def read_attributions(path: str | Path, regions: str | Path | None = None) -> Attributions:
    """Read an attribution h5 (``raw/seq``, ``shap/seq``) and the genome coordinates of rows.

    Parameters
    ----------
    path : str or Path
        The h5 file.
    regions : str, Path or None
        BED with one line per row; None looks for h5 datasets ``chrom``/``start`` (or
        ``coords/chrom``, ``coords/start``) and otherwise names rows ``row<i>`` at 0.
    """
    import h5py

    path = require_file(path, "attribution h5")
    try:
        fh = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path} is not a readable HDF5 file ({e}).") from None
    with fh:
        for key in ("raw/seq", "shap/seq"):
            if key not in fh:
                raise InputError(f"{path}: dataset '{key}' is missing; expected an attribution "
                                 f"h5 written by 'bpnetkit attribute' (raw/seq, shap/seq).")
        X = fh["raw/seq"][()]
        H = fh["shap/seq"][()].astype(np.float32)
        chroms = starts = None
        for ck, sk in (("chrom", "start"), ("coords/chrom", "coords/start")):
            if ck in fh and sk in fh:
                chroms = np.array([c.decode() if isinstance(c, bytes) else str(c)
                                   for c in fh[ck][()]], dtype=object)
                starts = fh[sk][()].astype(np.int64)
                break
    if X.ndim != 3 or X.shape[1] != 4 or H.shape != X.shape:
        raise InputError(f"{path}: raw/seq {X.shape} and shap/seq {H.shape} must both be "
                         f"(N, 4, L).")
    n, _, length = X.shape
    if regions is not None:
        chroms, starts = read_row_bed(regions, n, length)
    elif chroms is None or len(chroms) != n:
        chroms = np.array([f"row{i}" for i in range(n)], dtype=object)
        starts = np.zeros(n, dtype=np.int64)
    return Attributions(X.astype(np.int8), H, chroms, starts)
