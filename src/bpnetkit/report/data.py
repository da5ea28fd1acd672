"""Figures of the data steps (returned as :class:`matplotlib.figure.Figure` objects).

Built directly with ``Figure()``, never through pyplot or ``matplotlib.use``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["gc_match_figure", "gc_report_figure", "shift_qc_figure"]


def gc_match_figure(bin_edges: Sequence[float], peak_counts: Sequence[float],
                    negative_counts: Sequence[float], ks: float | None = None) -> Figure:
    """GC distributions of peak windows and negatives as two overlaid density histograms.

    Parameters
    ----------
    bin_edges : sequence of float
        Histogram bin edges over the GC fraction (``len(counts) + 1`` values).
    peak_counts, negative_counts : sequence of float
        Counts per bin of the peaks' and the negatives' GC fractions.
    ks : float or None
        Two-sample KS statistic shown in the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    edges = np.asarray(bin_edges, dtype=float)
    widths = np.diff(edges)
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    for counts, label in ((peak_counts, "peaks"), (negative_counts, "negatives")):
        c = np.asarray(counts, dtype=float)
        if len(c) != len(widths):
            raise ValueError(f"{label}: {len(c)} counts for {len(widths)} bins.")
        total = c.sum()
        density = c / (total * widths) if total else c
        ax.bar(edges[:-1], density, width=widths, align="edge", alpha=0.6,
               label=f"{label} (n={int(total)})")
    ax.set_xlabel("GC fraction")
    ax.set_ylabel("density")
    ax.set_title(f"GC match (KS = {ks:.3f})" if ks is not None else "GC match")
    ax.legend()
    fig.tight_layout()
    return fig


def gc_report_figure(report: Mapping[str, Any] | str | os.PathLike) -> Figure:
    """:func:`gc_match_figure` of a ``negatives`` report (its dict or its JSON file).

    Parameters
    ----------
    report : mapping or path
        The ``<name>.gc_report.json`` written by the ``negatives`` step, or its content.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(report, Mapping):
        with open(report) as fh:
            report = json.load(fh)
    h = report["gc_histogram"]
    return gc_match_figure(h["bin_edges"], h["peaks"], h["negatives"],
                           report.get("ks_statistic"))


def shift_qc_figure(qc: Mapping[str, Any] | str | os.PathLike) -> Figure:
    """The shift QC of ``bam2bw`` (``<name>.shift_qc.json`` or its dict): sequence bias around
    the counted ``+`` and ``-`` ends, and how well the two strands' profiles agree per lag.

    Left: summed absolute log2 base enrichment per position around the ends of each strand
    (genome orientation); aligned peaks mean both strands' ends sit on the same cut sites.
    Right: correlation of the two profiles per strand offset, the chosen one marked.

    Parameters
    ----------
    qc : mapping or path
        :meth:`bpnetkit.data.shift_qc.ShiftQC.to_dict` output or its JSON file.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(qc, Mapping):
        with open(qc) as fh:
            qc = json.load(fh)
    fig = Figure(figsize=(9, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    for key, label in (("profile_plus", "+ ends"), ("profile_minus", "- ends")):
        prof = np.abs(np.asarray(qc.get(key) or np.zeros((4, 0)), dtype=float)).sum(axis=0)
        flank = (len(prof) - 1) // 2
        ax1.plot(np.arange(-flank, flank + 1), prof, label=label)
    ax1.axvline(0, color="grey", lw=0.8, ls=":")
    ax1.set_xlabel("position relative to counted end (bp)")
    ax1.set_ylabel("sum |log2 enrichment|")
    ax1.legend()
    ax1.set_title(f"shifts used {qc['shift_used'][0]:+d}/{qc['shift_used'][1]:+d}")
    lags, corr = qc.get("lags") or [], qc.get("lag_correlation") or []
    ax2.plot(lags, corr, marker="o", ms=3)
    if qc.get("strand_offset") is not None:
        ax2.axvline(qc["strand_offset"], color="C3", lw=1)
    ax2.set_xlabel("'-' end offset from '+' end (bp)")
    ax2.set_ylabel("profile correlation")
    ax2.set_title(f"{qc['verdict']} (confidence {qc['confidence']:.2f})")
    fig.tight_layout()
    return fig
