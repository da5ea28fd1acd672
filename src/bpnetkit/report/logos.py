"""Sequence logos with matplotlib (letters drawn as scaled glyph paths).

:func:`draw_logo` draws a ``(length, 4)`` matrix as stacked letters: heights are the values
themselves (contribution scores, possibly negative) or, with ``kind="information"``, the
probabilities times the information content of each position. :func:`logos_figure` returns a
:class:`matplotlib.figure.Figure` with one row per matrix (e.g. a pattern next to its database
matches).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from bpnetkit.io.fasta import ALPHABET
from bpnetkit.io.meme import information_content

COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}


def information_matrix(pwm: np.ndarray) -> np.ndarray:
    """Probabilities scaled by per-position information content (bits), ``(length, 4)``."""
    p = np.clip(np.asarray(pwm, dtype=np.float64), 1e-12, 1)
    p = p / p.sum(axis=1, keepdims=True)
    return p * information_content(p)[:, None]


def _letter(ax, letter: str, x: float, y: float, height: float, width: float = 0.95):
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    if height == 0:
        return
    tp = TextPath((0, 0), letter, size=1, prop=FontProperties(family="DejaVu Sans",
                                                              weight="bold"))
    bb = tp.get_extents()
    t = (Affine2D().translate(-bb.x0, -bb.y0)
         .scale(width / bb.width, abs(height) / bb.height)
         .translate(x - width / 2, y if height > 0 else y - abs(height)))
    ax.add_patch(PathPatch(t.transform_path(tp), facecolor=COLORS[letter], edgecolor="none"))


def draw_logo(ax, matrix: np.ndarray, kind: str = "values", title: str | None = None,
              start: int = 0) -> None:
    """Draw a logo of ``matrix`` ``(length, 4)`` on the matplotlib axes ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Target axes.
    matrix : numpy.ndarray
        ``(length, 4)`` over ``ACGT``.
    kind : {"values", "information"}
        ``"information"`` turns probabilities into bits first.
    title : str or None
        Axes title.
    start : int
        x position of the first column.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if kind == "information":
        m = information_matrix(m)
    for i, row in enumerate(m):
        pos = 0.0
        neg = 0.0
        for j in np.argsort(np.abs(row)):
            v = row[j]
            if v > 0:
                _letter(ax, ALPHABET[j], start + i, pos, v)
                pos += v
            elif v < 0:
                _letter(ax, ALPHABET[j], start + i, neg, v)
                neg += v
    lo = min(0.0, float(np.minimum(m, 0).sum(axis=1).min()) if m.size else 0.0)
    hi = max(float(np.maximum(m, 0).sum(axis=1).max()) if m.size else 1.0, 1e-6)
    if kind == "information":
        hi = 2.0
    ax.set_xlim(start - 0.5, start + len(m) - 0.5)
    ax.set_ylim(lo * 1.05, hi * 1.05)
    ax.axhline(0, color="black", lw=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=8, loc="left")


def logos_figure(matrices: Sequence[np.ndarray], titles: Sequence[str],
                 kinds: Sequence[str] | None = None, width_per_position: float = 0.25,
                 starts: Sequence[int] | None = None) -> Figure:
    """A figure with one logo per row (e.g. a pattern above its database matches).

    Parameters
    ----------
    matrices : sequence of ``(length, 4)`` arrays
        What to draw, top to bottom.
    titles : sequence of str
        Title of every row.
    kinds : sequence of str or None
        ``"values"`` or ``"information"`` per row (default values).
    width_per_position : float
        Figure inches per position of the longest matrix.
    starts : sequence of int or None
        x position of the first column of every row (e.g. to align database matches with a
        pattern); shifted so the smallest is 0.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save it with ``fig.savefig`` or show it in a report.
    """
    kinds = list(kinds) if kinds is not None else ["values"] * len(matrices)
    starts = list(starts) if starts is not None else [0] * len(matrices)
    lo = min(starts, default=0)
    starts = [s_ - lo for s_ in starts]
    longest = max((s_ + len(m) for s_, m in zip(starts, matrices)), default=1)
    fig = Figure(figsize=(max(3.0, longest * width_per_position + 1),
                          1.3 * max(1, len(matrices))))
    axes = fig.subplots(max(1, len(matrices)), 1, squeeze=False)
    for ax, m, t, k, s_ in zip(axes[:, 0], matrices, titles, kinds, starts):
        draw_logo(ax, m, kind=k, title=t, start=s_)
        ax.set_xlim(-0.5, longest - 0.5)
    fig.tight_layout()
    return fig
