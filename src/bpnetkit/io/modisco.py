"""TF-MoDISco results files (modisco-lite's h5 layout): reading patterns, writing results.

Layout: ``pos_patterns/pattern_<i>`` and ``neg_patterns/pattern_<i>`` groups, each with
``sequence`` (PFM), ``contrib_scores`` (CWM) and ``hypothetical_contribs`` ``(length, 4)``
and a ``seqlets`` group (``n_seqlets`` and per-seqlet arrays); the file attribute
``window_size`` is the attributed window. ``modisco report`` and :func:`read_modisco_patterns`
read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bpnetkit.errors import InputError, require_file

PATTERN_GROUPS = ("pos_patterns", "neg_patterns")


@dataclass
class Pattern:
    """A MoDISco pattern.

    Attributes
    ----------
    name : str
        ``"<group>.<pattern>"``, e.g. ``"pos_patterns.pattern_0"``.
    ppm : numpy.ndarray
        Position probability matrix ``(length, 4)`` over ``ACGT``.
    cwm : numpy.ndarray
        Contribution weight matrix ``(length, 4)`` (mean actual contributions).
    hcwm : numpy.ndarray
        Mean hypothetical contributions ``(length, 4)``.
    n_seqlets : int
        Number of seqlets in the pattern.
    """

    name: str
    ppm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray
    n_seqlets: int

    def trimmed(self, threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """``(ppm, cwm)`` without flanks whose total |contribution| < threshold * max."""
        score = np.abs(self.cwm).sum(axis=1)
        keep = np.where(score >= threshold * score.max())[0] if score.max() > 0 else \
            np.arange(len(score))
        a, b = int(keep[0]), int(keep[-1]) + 1
        return self.ppm[a:b], self.cwm[a:b]


def read_modisco_patterns(path: str | Path) -> list[Pattern]:
    """Read the patterns of a modisco-lite results h5 (positive first, by index).

    A file without pattern groups (a run that found no patterns) gives an empty list.
    """
    import h5py

    path = require_file(path, "MoDISco results h5")
    out = []
    with h5py.File(path, "r") as fh:
        for group in PATTERN_GROUPS:
            if group not in fh:
                continue
            items = sorted(fh[group].items(), key=lambda kv: int(kv[0].split("_")[-1]))
            for pname, pat in items:
                for key in ("sequence", "contrib_scores", "hypothetical_contribs"):
                    if key not in pat:
                        raise InputError(f"{path}: {group}/{pname} has no '{key}' dataset; "
                                         f"is this a modisco-lite results file?")
                n = int(pat["seqlets"]["n_seqlets"][()][0]) if "seqlets" in pat else 0
                out.append(Pattern(f"{group}.{pname}", pat["sequence"][()],
                                   pat["contrib_scores"][()],
                                   pat["hypothetical_contribs"][()], n))
    return out


def write_modisco_h5(path: str | Path, pos_patterns: list[Any] | None,
                     neg_patterns: list[Any] | None, window_size: int) -> Path:
    """Write modisco-lite results (lists of its ``SeqletSet`` objects, or None) atomically.

    The pattern groups are written by modisco-lite's own ``save_pattern``, so the file is
    what ``modisco motifs`` writes; None (no metacluster) writes no group.
    """
    import h5py
    from modiscolite.io import save_pattern

    from bpnetkit.utils import atomic_path

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs["window_size"] = int(window_size)
        for group, patterns in zip(PATTERN_GROUPS, (pos_patterns, neg_patterns)):
            if patterns is None:
                continue
            grp = fh.create_group(group)
            for idx, pattern in enumerate(patterns):
                save_pattern(pattern, grp.create_group(f"pattern_{idx}"))
    return Path(path)
