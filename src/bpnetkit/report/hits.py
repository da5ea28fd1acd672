"""Figures and tables of the report for motif hits (``bpnetkit hits``) and the shift QC.

- :func:`hit_count_rows`: hits per motif from ``hits.tsv`` and ``motif_occurrences.tsv``;
- :func:`hit_counts_figure`: those counts as bars;
- :func:`example_region`: the region (``peak_id``) with the most hits;
- :func:`hits_locus_figure`: a contribution logo of a locus with the hits drawn under it as
  boxes (motif name and strand).

Figures are :class:`matplotlib.figure.Figure` objects built without pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bpnetkit.report.logos import draw_logo

__all__ = ["example_region", "hit_count_rows", "hit_counts_figure", "hits_locus_figure",
           "locus_window"]

COUNT_META = {"peak_id", "peak_name", "total"}


def hit_count_rows(hits: Sequence[Mapping[str, Any]],
                   occurrences: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Hits per motif, most first.

    Parameters
    ----------
    hits : sequence of mappings
        Rows of ``hits.tsv`` (``motif_name``, ``strand``, ``hit_similarity``, ...).
    occurrences : sequence of mappings
        Rows of ``motif_occurrences.tsv`` (``peak_id``, ``peak_name``, one column per
        motif, ``total``); gives the motifs without hits and the regions with a hit.

    Returns
    -------
    list of dict
        ``motif``, ``hits``, ``regions with a hit``, ``+ strand``, ``- strand``,
        ``mean similarity``, ``mean importance`` per motif.
    """
    motifs: list[str] = []
    for r in occurrences[:1]:
        motifs = [str(k) for k in r if k not in COUNT_META]
    for h in hits:
        if str(h["motif_name"]) not in motifs:
            motifs.append(str(h["motif_name"]))
    rows = []
    for m in motifs:
        mine = [h for h in hits if str(h["motif_name"]) == m]
        rows.append({
            "motif": m,
            "hits": len(mine),
            "regions with a hit": sum(1 for r in occurrences if int(r.get(m, 0) or 0) > 0),
            "+ strand": sum(1 for h in mine if h["strand"] == "+"),
            "- strand": sum(1 for h in mine if h["strand"] == "-"),
            "mean similarity": (float(np.mean([float(h["hit_similarity"]) for h in mine]))
                                if mine else ""),
            "mean importance": (float(np.mean([float(h["hit_importance"]) for h in mine]))
                                if mine else ""),
        })
    rows.sort(key=lambda r: -r["hits"])
    return rows


def hit_counts_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Horizontal bars of hits per motif (rows of :func:`hit_count_rows`), split by strand."""
    names = [str(r["motif"]) for r in rows]
    plus = np.array([r["+ strand"] for r in rows], dtype=float)
    minus = np.array([r["- strand"] for r in rows], dtype=float)
    fig = Figure(figsize=(6, 0.35 * max(2, len(rows)) + 0.9))
    ax = fig.subplots()
    y = np.arange(len(rows))
    ax.barh(y, plus, color="#255C99", label="+ strand")
    ax.barh(y, minus, left=plus, color="#D62839", label="- strand")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("hits")
    if rows:
        ax.legend(fontsize=7, loc="lower right")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def example_region(hits: Sequence[Mapping[str, Any]]) -> int | None:
    """``peak_id`` of the region with the most hits (ties: the larger summed
    ``hit_importance``, then the smaller id); None without hits."""
    score: dict[int, tuple[int, float]] = {}
    for h in hits:
        pid = int(h["peak_id"])
        n, imp = score.get(pid, (0, 0.0))
        score[pid] = (n + 1, imp + float(h["hit_importance"]))
    if not score:
        return None
    return min(score, key=lambda p: (-score[p][0], -score[p][1], p))


def locus_window(hits: Sequence[Mapping[str, Any]], row_start: int, length: int,
                 max_width: int = 150, flank: int = 15) -> tuple[int, int]:
    """Genome ``[start, end)`` to draw: the hits' untrimmed spans plus ``flank`` bp, at most
    ``max_width`` bp (centred on the hit with the largest importance when the hits spread
    wider), inside the attributed row ``[row_start, row_start + length)``."""
    lo = min(int(h["start_untrimmed"]) for h in hits) - flank
    hi = max(int(h["end_untrimmed"]) for h in hits) + flank
    if hi - lo > max_width:
        best = max(hits, key=lambda h: float(h["hit_importance"]))
        mid = (int(best["start_untrimmed"]) + int(best["end_untrimmed"])) // 2
        lo, hi = mid - max_width // 2, mid - max_width // 2 + max_width
    width = min(hi - lo, length)
    lo = max(row_start, min(lo, row_start + length - width))
    return lo, lo + width


def hits_locus_figure(contrib: np.ndarray, start: int, hits: Sequence[Mapping[str, Any]],
                      title: str = "") -> Figure:
    """A contribution logo of a locus with motif hits drawn under it.

    Parameters
    ----------
    contrib : numpy.ndarray
        ``(length, 4)`` contribution scores (hypothetical x one-hot) of the locus.
    start : int
        Genome position of the first column.
    hits : sequence of mappings
        Rows of ``hits.tsv``: ``start``/``end`` (trimmed core), ``start_untrimmed``/
        ``end_untrimmed``, ``motif_name``, ``strand``. Each is drawn as a box over its core
        with a thin line over its whole pattern; parts outside the locus are clipped.
    title : str
        Figure title (e.g. ``chr1:100-250``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    contrib = np.asarray(contrib, dtype=float)
    length = contrib.shape[0]
    end = start + length
    shown = [h for h in hits if int(h["end_untrimmed"]) > start and int(h["start_untrimmed"]) < end]
    # stack overlapping hits on separate lanes
    lanes: list[int] = []
    lane_of = []
    for h in sorted(shown, key=lambda h: int(h["start_untrimmed"])):
        s = int(h["start_untrimmed"])
        for k, last in enumerate(lanes):
            if s >= last:
                lanes[k] = int(h["end_untrimmed"])
                lane_of.append((h, k))
                break
        else:
            lanes.append(int(h["end_untrimmed"]))
            lane_of.append((h, len(lanes) - 1))
    n_lanes = max(1, len(lanes))
    fig = Figure(figsize=(max(4.0, 0.08 * length + 1.5), 1.8 + 0.45 * n_lanes))
    ax1, ax2 = fig.subplots(2, 1, sharex=True,
                            gridspec_kw={"height_ratios": [2.2, 0.5 * n_lanes + 0.3]})
    draw_logo(ax1, contrib, start=start, title=title or None)
    ax1.set_ylabel("contribution", fontsize=7)
    ax1.tick_params(labelsize=7)
    colors = {}
    for h, k in lane_of:
        name = str(h["motif_name"])
        color = colors.setdefault(name, f"C{len(colors) % 10}")
        y = n_lanes - 1 - k
        s_u, e_u = max(start, int(h["start_untrimmed"])), min(end, int(h["end_untrimmed"]))
        ax2.plot([s_u - 0.5, e_u - 0.5], [y + 0.4, y + 0.4], color=color, lw=1)
        s, e = max(start, int(h["start"])), min(end, int(h["end"]))
        if e > s:
            ax2.add_patch(_box(s - 0.5, y + 0.1, e - s, 0.6, color))
        arrow = ">" if h["strand"] == "+" else "<"
        ax2.text((s_u + e_u) / 2 - 0.5, y + 0.4, f"{name} ({h['strand']}) {arrow}",
                 ha="center", va="center", fontsize=6,
                 bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 0.5})
    ax2.set_ylim(0, n_lanes)
    ax2.set_yticks([])
    ax2.set_xlim(start - 0.5, end - 0.5)
    ax2.set_xlabel("genome position (bp)", fontsize=7)
    ax2.tick_params(labelsize=7)
    if not shown:
        ax2.text((start + end) / 2, n_lanes / 2, "no hits", ha="center", va="center",
                 fontsize=7, color="#777777")
    for side in ("top", "right", "left"):
        ax2.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def _box(x: float, y: float, w: float, h: float, color: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=color, edgecolor="black", lw=0.5, alpha=0.6)
