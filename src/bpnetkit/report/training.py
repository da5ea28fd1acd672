"""Figures of training and evaluation: the training curve (from ``fit``'s ``log.tsv``), the
counts scatter and example profiles (from ``evaluate``'s ``predictions.npz``).

Every function returns a :class:`matplotlib.figure.Figure` (no pyplot, no backend switch);
the caller renders or saves it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["chrombpnet_qc_rows", "counts_scatter", "evaluate_figures", "example_profiles",
           "fit_figures", "read_training_log", "training_curve"]

_CURVES = (("loss", "total loss"), ("profile_loss", "profile MNLL"),
           ("counts_loss", "counts MSE"))


def read_training_log(path: str | Path) -> list[dict[str, float]]:
    """The rows of a trainer ``log.tsv`` as dicts of floats (empty cells are NaN)."""
    lines = Path(path).read_text().strip().split("\n")
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        cells = line.split("\t")
        rows.append({k: float(v) if v != "" else math.nan for k, v in zip(header, cells)})
    return rows


def training_curve(history: Sequence[Mapping[str, float]], best_epoch: int | None = None
                   ) -> Figure:
    """Training and validation losses per epoch: total, profile and counts (three axes).

    Parameters
    ----------
    history : sequence of mappings
        One row per epoch with ``epoch``, ``train_loss``, ``valid_loss``,
        ``train_profile_loss``, ... (a trainer history or :func:`read_training_log`).
    best_epoch : int or None
        Marked with a dotted line; None = the epoch with the lowest ``valid_loss``.
    """
    fig = Figure(figsize=(12, 3.5))
    axes = fig.subplots(1, 3)
    ep = [r["epoch"] for r in history]
    if best_epoch is None and history:
        best_epoch = int(min(history, key=lambda r: r["valid_loss"])["epoch"])
    for ax, (key, title) in zip(axes, _CURVES):
        ax.plot(ep, [r[f"train_{key}"] for r in history], "o-", label="train")
        ax.plot(ep, [r[f"valid_{key}"] for r in history], "o-", label="valid")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.set_title(title)
    axes[0].legend()
    fig.tight_layout()
    return fig


def counts_scatter(observed: Mapping[str, np.ndarray], predicted: Mapping[str, np.ndarray]
                   ) -> Figure:
    """Predicted vs observed log counts, one axis per group (e.g. peaks, negatives).

    Parameters
    ----------
    observed, predicted : mappings
        Group name -> ``(N,)`` observed ``log(1 + counts)`` and predicted log counts.
    """
    from bpnetkit.train.metrics import pearson

    names = list(observed)
    fig = Figure(figsize=(4.2 * max(1, len(names)), 4))
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names):
        obs, pred = np.asarray(observed[name]), np.asarray(predicted[name])
        ax.scatter(obs, pred, s=6, alpha=0.5)
        if len(obs):
            lo = float(min(obs.min(), pred.min()))
            hi = float(max(obs.max(), pred.max()))
            ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls=":")
        ax.set_xlabel("observed log(1 + counts)")
        ax.set_ylabel("predicted log counts")
        ax.set_title(f"{name} (n={len(obs)}, r={pearson(obs, pred):.3f})")
    fig.tight_layout()
    return fig


def example_profiles(observed: np.ndarray, predicted: np.ndarray,
                     labels: Sequence[Any] | None = None) -> Figure:
    """Observed (thin) and predicted (dashed) profiles, one axis per example; with two
    tracks the second (minus strand) is drawn downwards.

    Parameters
    ----------
    observed, predicted : numpy.ndarray
        ``(n, S, L)`` observed counts and predicted expected counts.
    labels : sequence or None
        One label per example (the y-axis label).
    """
    observed, predicted = np.asarray(observed), np.asarray(predicted)
    n = max(1, len(observed))
    fig = Figure(figsize=(9, 2.0 * n))
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    labels = list(range(len(observed))) if labels is None else list(labels)
    S = observed.shape[1] if observed.ndim == 3 else 0
    for ax, o, p, lab in zip(axes, observed, predicted, labels):
        for s in range(S):
            sign = -1 if (S == 2 and s == 1) else 1
            ax.plot(sign * o[s], color=f"C{s}", lw=0.8, alpha=0.6, label=f"observed {s}")
            ax.plot(sign * p[s], color=f"C{s}", lw=1.5, ls="--", label=f"predicted {s}")
        ax.set_ylabel(f"#{lab}")
    if S:
        axes[0].legend(fontsize=7, ncol=4)
    axes[-1].set_xlabel("position in output window")
    fig.tight_layout()
    return fig


def fit_figures(log_path: str | Path) -> dict[str, Figure]:
    """The figures of a ``fit`` run from its ``log.tsv`` (``FitOutputs.log``)."""
    rows = read_training_log(log_path)
    if not rows:
        return {}
    return {"training_curve": training_curve(rows)}


def evaluate_figures(predictions_path: str | Path) -> dict[str, Figure]:
    """The figures of an ``evaluate`` run from its ``predictions.npz``
    (``EvaluateOutputs.predictions``): ``counts_scatter`` and ``example_profiles``."""
    with np.load(predictions_path, allow_pickle=False) as z:
        groups = [str(g) for g in z["groups"]]
        obs = {g: z[f"{g}_observed_log_counts"] for g in groups}
        pred = {g: z[f"{g}_predicted_log_counts"] for g in groups}
        figs = {"counts_scatter": counts_scatter(obs, pred)}
        if "profiles_observed" in z:
            figs["example_profiles"] = example_profiles(
                z["profiles_observed"], z["profiles_predicted"], z["profiles_index"])
    return figs


def chrombpnet_qc_rows(qc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ChromBPNet QC of ``fit`` (``metrics.json["qc"]``) as table rows: check, status,
    measured value, requirement. Checks that were not run are left out."""
    from bpnetkit.train.qc import BIAS_PEARSON_FAIL, BIAS_PEARSON_WARN, COUNTS_PEARSON_MIN

    checks = qc.get("checks") or {}
    enz = qc.get("enzyme") or {}
    src = (enz.get("enzyme_motif") or {}).get("source", "")

    def num(v: Any) -> str:
        return "" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    fp = [f.get("nobias_max") for f in (qc.get("footprints") or {}).values()]
    spec = {
        "enzyme_learned": (f"r {num(enz.get('bias_r'))}, share of the data's effect "
                           f"{num(enz.get('bias_effect_ratio'))} ({src})",
                           f"r >= {enz.get('bias_min_r')}"
                           + (f", share >= {enz.get('bias_min_ratio')}" if src == "data"
                              else "")),
        "enzyme_removed": (f"share {num(enz.get('nobias_share'))}, r "
                           f"{num(enz.get('nobias_r'))}",
                           f"share <= {enz.get('nobias_max_share')}"),
        "bias_counts_pearson": (num(qc.get("bias_counts_pearson_peaks")),
                                f"> {BIAS_PEARSON_WARN} (fail <= {BIAS_PEARSON_FAIL})"),
        "footprints": (num(max(fp)) if fp else "", f"< {num(qc.get('footprint_limit'))}"),
        "counts_pearson": (num(qc.get("counts_pearson_test_peaks")), f"> {COUNTS_PEARSON_MIN}"),
    }
    return [{"check": name, "status": status, "value": spec.get(name, ("", ""))[0],
             "requirement": spec.get(name, ("", ""))[1]}
            for name, status in checks.items() if status != "not run"]
