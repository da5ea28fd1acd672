"""Figures of the HTML report: functions that return :class:`matplotlib.figure.Figure` objects.

Figures are built directly (``Figure()``), never through pyplot's global state, and nothing
here selects a backend, so a Jupyter user's backend is left alone. :func:`figure_png` renders
one to PNG bytes for embedding.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """PNG bytes of a figure (rendered with matplotlib's Agg canvas)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def profile_panels(items: Sequence[dict]) -> Figure:
    """Observed vs predicted profiles: one row per region.

    Each item: ``title``, ``observed`` ``(S, L)``, ``predicted`` ``(S, L)`` (either may be
    None). Two strands are drawn up (plus) and down (minus).
    """
    n = max(1, len(items))
    fig = Figure(figsize=(8, 1.7 * n))
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, it in zip(axes, items):
        for key, color, lw in (("observed", "#555555", 0.8), ("predicted", "#d62728", 1.2)):
            tr = it.get(key)
            if tr is None:
                continue
            tr = np.atleast_2d(np.asarray(tr, dtype=float))
            xs = np.arange(tr.shape[1]) - tr.shape[1] // 2
            ax.plot(xs, tr[0], color=color, lw=lw, label=key)
            if tr.shape[0] > 1:
                ax.plot(xs, -tr[1], color=color, lw=lw)
        ax.set_title(it.get("title", ""), fontsize=8, loc="left")
        ax.axhline(0, color="black", lw=0.4)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper right")
    axes[-1].set_xlabel("position relative to the window centre (bp)", fontsize=8)
    fig.tight_layout()
    return fig
