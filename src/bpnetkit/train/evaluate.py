"""Evaluation of a trained model on held-out examples: predictions, metrics and the arrays the
report plots (no file IO; ``bpnetkit evaluate`` is :mod:`bpnetkit.steps.evaluate`).

Predictions come from a ``predict_fn(X, X_ctl) -> (profile_logits, log_counts)`` given by the
caller: the steps pass :func:`bpnetkit.interpret.predict.predict`, the one prediction loop,
which this layer may not import. The metric formulas are documented in
:mod:`bpnetkit.train.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bpnetkit.train.metrics import compute_metrics, softmax_probs

__all__ = ["PredictFn", "counts_for_plot", "evaluate_examples", "example_profiles",
           "group_metrics", "json_safe", "metrics_tsv", "plot_arrays"]

#: ``predict_fn(X (N, 4, L), X_ctl (N, C, L) or None) -> (logits (N, S, L_out), log_counts)``
#: as numpy arrays
PredictFn = Callable[[np.ndarray, "np.ndarray | None"], tuple[np.ndarray, np.ndarray]]


def evaluate_examples(predict_fn: PredictFn, examples) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """Predict the unjittered windows of ``examples``; return ``(y, logits, log_counts)``."""
    X, y, ctl = examples.center()
    lg, lc = predict_fn(X, ctl)
    return np.asarray(y), np.asarray(lg), np.asarray(lc)


def group_metrics(groups: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                  joint_strands: bool = True, add_all: bool = False
                  ) -> dict[str, dict[str, float]]:
    """Metrics of each group ``name -> (y, logits, log_counts)``; with ``add_all`` and more
    than one group, also of all groups together (``"all"``)."""
    out = {k: compute_metrics(*v, joint_strands=joint_strands) for k, v in groups.items()}
    if add_all and len(groups) > 1:
        out["all"] = compute_metrics(*(np.concatenate([g[i] for g in groups.values()])
                                       for i in range(3)), joint_strands=joint_strands)
    return out


def metrics_tsv(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """The metrics as TSV text: a ``group`` column, then one column per metric."""
    keys = list(next(iter(metrics.values())))
    rows = ["group\t" + "\t".join(keys)]
    rows += [g + "\t" + "\t".join(f"{m[k]:.6g}" for k in keys) for g, m in metrics.items()]
    return "\n".join(rows) + "\n"


def counts_for_plot(y: np.ndarray, log_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed ``log(1 + total counts)`` and predicted total log counts (logsumexp over the
    count outputs), both ``(N,)``."""
    from scipy.special import logsumexp

    obs = np.log1p(np.asarray(y, dtype=np.float64).sum(axis=(1, 2)))
    lc = np.asarray(log_counts, dtype=np.float64)
    pred = logsumexp(lc.reshape(len(lc), -1), axis=1)
    return obs, pred


def example_profiles(y: np.ndarray, logits: np.ndarray, joint_strands: bool = True,
                     n: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n`` examples with most reads: ``(index, observed (n, S, L), predicted (n, S,
    L))``, the prediction being the profile probabilities scaled to the observed total (of
    all strands when the softmax is joint, else of each strand)."""
    y = np.asarray(y)
    n = max(1, min(n, len(y)))
    top = np.argsort(-y.sum(axis=(1, 2)))[:n]
    probs = softmax_probs(np.asarray(logits)[top], joint_strands)
    obs = y[top].astype(np.float64)
    scale = obs.sum(axis=(1, 2), keepdims=True) if joint_strands \
        else obs.sum(axis=2, keepdims=True)
    return top, obs, probs * scale


def plot_arrays(groups: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                joint_strands: bool = True, n_examples: int = 4,
                profile_group: str = "peaks") -> dict[str, np.ndarray]:
    """The arrays behind the evaluation figures (saved as an npz by ``bpnetkit evaluate``).

    Returns
    -------
    dict
        ``groups`` (names), for each group ``<name>_observed_log_counts`` and
        ``<name>_predicted_log_counts``; ``profiles_group``, ``profiles_index``,
        ``profiles_observed`` and ``profiles_predicted`` (from :func:`example_profiles` of
        ``profile_group``, else the first group), and ``joint_strands``.
    """
    out: dict[str, np.ndarray] = {"groups": np.array(list(groups), dtype=str),
                                  "joint_strands": np.array(bool(joint_strands))}
    for name, (y, _, lc) in groups.items():
        obs, pred = counts_for_plot(y, lc)
        out[f"{name}_observed_log_counts"] = obs
        out[f"{name}_predicted_log_counts"] = pred
    if groups:
        g = profile_group if profile_group in groups else next(iter(groups))
        y, lg, _ = groups[g]
        idx, obs, pred = example_profiles(y, lg, joint_strands, n_examples)
        out.update({"profiles_group": np.array(g), "profiles_index": idx,
                    "profiles_observed": obs, "profiles_predicted": pred})
    return out


def json_safe(d: Any) -> Any:
    """Replace NaN/inf floats (at any depth of dicts) by None so the JSON stays valid."""
    if isinstance(d, dict):
        return {k: json_safe(v) for k, v in d.items()}
    if isinstance(d, float) and not math.isfinite(d):
        return None
    return d
