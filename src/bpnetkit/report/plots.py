"""Figures of the HTML report, returned as PNG bytes (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig_to_png(fig, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes and close it."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def training_curves(history: dict[str, Sequence[float]], x: Sequence[float] | None = None,
                    xlabel: str = "epoch") -> bytes:
    """One panel per group of loss curves (training/validation of the same quantity)."""
    plt = _plt()
    names = [k for k in history if len(history[k]) > 0]
    groups: dict[str, list[str]] = {}
    for k in names:
        base = k.lower()
        for pre in ("train_", "training_", "valid_", "validation_", "val_"):
            if base.startswith(pre):
                base = base[len(pre):]
        groups.setdefault(base, []).append(k)
    n = max(1, len(groups))
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.6), squeeze=False)
    for ax, (g, keys) in zip(axes[0], groups.items()):
        for k in keys:
            y = np.asarray(history[k], dtype=float)
            xs = np.asarray(x, dtype=float) if x is not None and len(x) == len(y) \
                else np.arange(1, len(y) + 1)
            ax.plot(xs, y, marker="o", ms=2, label=k)
        ax.set_title(g, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.legend(fontsize=6)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig_to_png(fig)


def profile_panels(items: Sequence[dict]) -> bytes:
    """Observed vs predicted profiles: one row per region.

    Each item: ``title``, ``observed`` ``(S, L)``, ``predicted`` ``(S, L)`` (either may be
    None). Two strands are drawn up (plus) and down (minus).
    """
    plt = _plt()
    n = max(1, len(items))
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.7 * n), squeeze=False)
    for ax, it in zip(axes[:, 0], items):
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
    axes[-1, 0].set_xlabel("position relative to summit (bp)", fontsize=8)
    fig.tight_layout()
    return fig_to_png(fig)


def logo_rows(matrices: Sequence[np.ndarray], titles: Sequence[str],
              kinds: Sequence[str] | None = None) -> bytes:
    """Logos ``(length, 4)`` one per row (contribution values or probabilities in bits)."""
    plt = _plt()
    from bpnetkit.report.logos import draw_logo

    kinds = list(kinds) if kinds is not None else ["values"] * len(matrices)
    longest = max((len(m) for m in matrices), default=1)
    fig, axes = plt.subplots(max(1, len(matrices)), 1, squeeze=False,
                             figsize=(max(3.0, longest * 0.18 + 1), 1.2 * max(1, len(matrices))))
    for ax, m, t, k in zip(axes[:, 0], matrices, titles, kinds):
        draw_logo(ax, m, kind=k, title=t)
        ax.set_xlim(-0.5, longest - 0.5)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig_to_png(fig)


def bar_ranking(labels: Sequence[str], values: Sequence[float], xlabel: str) -> bytes:
    """Horizontal bars, largest on top."""
    plt = _plt()
    order = np.argsort(np.asarray(values, dtype=float))
    fig, ax = plt.subplots(figsize=(5, 0.3 * max(3, len(labels)) + 0.6))
    ax.barh([labels[i] for i in order], [values[i] for i in order], color="#1f77b4")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig_to_png(fig)
