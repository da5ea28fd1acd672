"""Evaluation metrics of BPNet-family models, computed with numpy on whole arrays.

Notation: ``y`` observed counts ``(N, S, L)``; ``p`` predicted probabilities over positions
(``softmax`` of the logits, jointly over strands or per strand); ``n = sum(y)`` per example;
``c`` predicted log counts ``(N, 1)``.

Profile metrics (one value per example, then averaged over examples with a defined value):

- **MNLL** (multinomial NLL with factorial terms):
  ``-log Γ(n+1) + Σ log Γ(y_i+1) - Σ y_i log p_i``.
- **JSD** (Jensen-Shannon *distance*, natural log): with ``q = y / n`` and ``m = (p + q)/2``,
  ``jsd = sqrt((KL(q||m) + KL(p||m)) / 2)``; lies in ``[0, sqrt(log 2)]``. With per-strand
  softmax it is computed per strand and averaged.
- **normalised JSD**: ``clip(1 - jsd(q, p) / jsd(q, uniform), 0, 1)``: 1 is perfect, 0 is no
  better than a flat profile.
- **profile Pearson / Spearman**: correlation between ``q`` and ``p`` over the positions
  (and strands) of one example.

Count metrics (across examples), on ``t = log(1 + n)`` versus ``c``:

- **counts Pearson**, **counts Spearman**, **counts MSE** ``mean((c - t)^2)``.

Examples with zero observed counts have no profile; their profile metrics are NaN and they
are left out of the averages (the number used is reported as ``n_profile``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, log_softmax

__all__ = ["softmax_probs", "profile_mnll", "jensen_shannon_distance", "normalized_jsd",
           "rowwise_pearson", "rowwise_spearman", "pearson", "spearman", "compute_metrics",
           "split_metrics"]


def softmax_probs(logits: np.ndarray, joint_strands: bool = True) -> np.ndarray:
    """Probabilities from ``(N, S, L)`` logits: softmax over strands and positions jointly, or
    over positions per strand."""
    logits = np.asarray(logits, dtype=np.float64)
    N, S, L = logits.shape
    if joint_strands:
        return np.exp(log_softmax(logits.reshape(N, S * L), axis=-1)).reshape(N, S, L)
    return np.exp(log_softmax(logits, axis=-1))


def _rows(x: np.ndarray, joint_strands: bool) -> np.ndarray:
    """``(N, S, L)`` -> ``(N, S*L)`` (joint) or ``(N, S, L)`` kept (per strand)."""
    x = np.asarray(x, dtype=np.float64)
    if joint_strands:
        return x.reshape(x.shape[0], -1)[:, None, :]
    return x


def profile_mnll(y: np.ndarray, logits: np.ndarray, joint_strands: bool = True) -> np.ndarray:
    """Per-example multinomial NLL with factorial terms, summed over strands when the softmax
    is per strand. Returns ``(N,)``."""
    y = _rows(y, joint_strands)
    lg = _rows(logits, joint_strands)
    log_p = log_softmax(lg, axis=-1)
    n = y.sum(-1)
    nll = -gammaln(n + 1) + gammaln(y + 1).sum(-1) - (y * log_p).sum(-1)
    return nll.sum(-1)


def _kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(a > 0, a * (np.log(a) - np.log(b)), 0.0)
    return terms.sum(-1)


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (natural log) between distributions along the last axis.

    ``sqrt(0.5 * KL(p || m) + 0.5 * KL(q || m))`` with ``m = (p + q) / 2``; the one
    implementation in bpnetkit (metrics, marginalization and variant scores use it).
    """
    m = 0.5 * (p + q)
    div = 0.5 * (_kl(q, m) + _kl(p, m))
    return np.sqrt(np.clip(div, 0.0, None))


_jsd_rows = js_distance


def _normalise(x: np.ndarray) -> np.ndarray:
    s = x.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, x / s, np.nan)


def jensen_shannon_distance(y: np.ndarray, probs: np.ndarray, joint_strands: bool = True
                            ) -> np.ndarray:
    """Per-example Jensen-Shannon distance (natural log) between the observed profile
    ``y / sum(y)`` and the predicted probabilities; NaN where ``sum(y) == 0``. ``(N,)``."""
    q = _normalise(_rows(y, joint_strands))
    p = _normalise(_rows(probs, joint_strands))
    return _jsd_rows(q, p).mean(-1)


def normalized_jsd(y: np.ndarray, probs: np.ndarray, joint_strands: bool = True) -> np.ndarray:
    """``clip(1 - jsd(q, p) / jsd(q, uniform), 0, 1)`` per example; NaN where undefined."""
    q = _normalise(_rows(y, joint_strands))
    p = _normalise(_rows(probs, joint_strands))
    uniform = np.full_like(q, 1.0 / q.shape[-1])
    d = _jsd_rows(q, p)
    d0 = _jsd_rows(q, uniform)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.clip(1.0 - d / d0, 0.0, 1.0)
    score = np.where(d0 > 0, score, np.nan)
    return score.mean(-1)


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` (last axis);
    NaN for constant rows."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (a * b).sum(-1) / den, np.nan)


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation per row (Pearson of average ranks along the last axis)."""
    from scipy.stats import rankdata

    return rowwise_pearson(rankdata(a, axis=-1), rankdata(b, axis=-1))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two vectors (NaN when either is constant or too short)."""
    a = np.ravel(a)
    if a.size < 2:
        return float("nan")
    return float(rowwise_pearson(a[None], np.ravel(b)[None])[0])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two vectors (NaN when either is constant or too short)."""
    a = np.ravel(a)
    if a.size < 2:
        return float("nan")
    return float(rowwise_spearman(a[None], np.ravel(b)[None])[0])


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def compute_metrics(y: np.ndarray, logits: np.ndarray, log_counts: np.ndarray,
                    joint_strands: bool = True) -> dict[str, float]:
    """All profile and count metrics for one set of examples.

    Parameters
    ----------
    y : np.ndarray
        Observed counts ``(N, S, L)``.
    logits : np.ndarray
        Predicted profile logits ``(N, S, L)``.
    log_counts : np.ndarray
        Predicted log counts ``(N, 1)`` (total) or ``(N, S)`` (per strand: summed with
        logsumexp to a total for the count metrics).
    joint_strands : bool
        Whether the model's softmax is joint over strands.

    Returns
    -------
    dict
        ``n``, ``n_profile``, ``profile_mnll``, ``profile_jsd``, ``profile_jsd_normalized``,
        ``profile_pearson``, ``profile_spearman``, ``counts_pearson``, ``counts_spearman``,
        ``counts_mse``. See the module docstring for the formulas.
    """
    from scipy.special import logsumexp

    y = np.asarray(y, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    if y.shape != logits.shape or y.ndim != 3:
        raise ValueError(f"observed {y.shape} and predicted {logits.shape} profiles must both "
                         f"be (N, S, L).")
    lc = np.asarray(log_counts, dtype=np.float64).reshape(y.shape[0], -1)
    pred_total = logsumexp(lc, axis=1) if lc.shape[1] > 1 else lc[:, 0]
    obs_total = np.log1p(y.sum(axis=(1, 2)))
    probs = softmax_probs(logits, joint_strands)
    has = y.sum(axis=(1, 2)) > 0
    flat_y = y.reshape(len(y), -1)
    flat_p = probs.reshape(len(y), -1)
    prof_pearson = rowwise_pearson(flat_y, flat_p)
    prof_spearman = rowwise_spearman(flat_y, flat_p)
    return {
        "n": int(len(y)),
        "n_profile": int(has.sum()),
        "profile_mnll": _nanmean(profile_mnll(y, logits, joint_strands)[has]),
        "profile_jsd": _nanmean(jensen_shannon_distance(y, probs, joint_strands)),
        "profile_jsd_normalized": _nanmean(normalized_jsd(y, probs, joint_strands)),
        "profile_pearson": _nanmean(prof_pearson),
        "profile_spearman": _nanmean(prof_spearman),
        "counts_pearson": pearson(obs_total, pred_total),
        "counts_spearman": spearman(obs_total, pred_total),
        "counts_mse": float(np.mean((pred_total - obs_total) ** 2)) if len(y) else float("nan"),
    }


def split_metrics(y: np.ndarray, logits: np.ndarray, log_counts: np.ndarray,
                  is_peak: np.ndarray | None = None, joint_strands: bool = True
                  ) -> dict[str, dict[str, float]]:
    """Metrics on peaks and on negatives separately (and on all regions together).

    Parameters
    ----------
    is_peak : np.ndarray of bool or None
        ``(N,)`` mask of peak regions; None treats every region as a peak.

    Returns
    -------
    dict
        ``{"peaks": {...}, "negatives": {...}, "all": {...}}``; a group with no regions is
        left out.
    """
    y = np.asarray(y)
    if is_peak is None:
        is_peak = np.ones(len(y), dtype=bool)
    is_peak = np.asarray(is_peak, dtype=bool)
    out: dict[str, dict[str, float]] = {}
    for name, mask in (("peaks", is_peak), ("negatives", ~is_peak)):
        if mask.any():
            out[name] = compute_metrics(y[mask], np.asarray(logits)[mask],
                                        np.asarray(log_counts)[mask], joint_strands)
    if is_peak.any() and (~is_peak).any():
        out["all"] = compute_metrics(y, logits, log_counts, joint_strands)
    return out
