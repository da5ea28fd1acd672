"""Variant scores with the column names and definitions of variant-scorer (kundajelab).

The definitions (written from variant-scorer's scoring script and its summary across folds):

- ``allele1_pred_counts``, ``allele2_pred_counts``: predicted total counts of the window with
  each allele, ``exp`` of the count head (summed over count outputs when there are several);
  with reverse-complement averaging, the mean of the forward and the reverse-complement
  counts (an average of counts, not of log counts).
- ``logfc = log2(allele2_pred_counts / allele1_pred_counts)`` (no pseudo count),
  ``abs_logfc = |logfc|``.
- ``jsd``: Jensen-Shannon *distance* with base-2 logarithms between the softmax of the
  allele2 and allele1 profile logits (logits averaged over both strands when
  reverse-complement averaging is on). For indels the two profiles are first aligned: with
  ``f = L // 2`` (the variant's position in the output of length ``L``) and allele lengths
  ``n1 != n2``, the longer allele's extra positions ``[f + min(n1, n2), f + max(n1, n2))``
  are removed from its profile and the last ``|n1 - n2|`` positions from the other profile;
  both are renormalised. ``original_jsd`` is the distance before this alignment.
  Stranded profiles (several tracks) are treated as one distribution over tracks and
  positions, each track aligned the same way.
- ``logfc_x_jsd``, ``abs_logfc_x_jsd``: products.
- With peaks: ``allele{1,2}_quantile = max(fraction of peaks with predicted counts below the
  allele's counts, 1 / number of peaks)``; ``active_allele_quantile`` is the larger of the
  two, ``quantile_change = allele2_quantile - allele1_quantile``, ``abs_quantile_change``;
  and the products ``logfc_x_active_allele_quantile``,
  ``abs_logfc_x_active_allele_quantile``, ``jsd_x_active_allele_quantile``,
  ``logfc_x_jsd_x_active_allele_quantile``, ``abs_logfc_x_jsd_x_active_allele_quantile``.
- ``<score>.pval``: empirical p-values against the same score of null variants (the alleles
  placed in shuffled windows, :func:`bpnetkit.variants.scores.null_windows`): right tail
  ``(#null >= x + 1) / (n + 1)``, left tail ``(#null <= x + 1) / (n + 1)``, two-sided
  ``2 * min(left, right)`` (not capped at 1, as in variant-scorer). The tail of each score
  is in :data:`PVAL_TAILS`.
- Several models (folds): ``<score>.mean`` is the arithmetic mean over models of each score
  in :data:`MEAN_SCORES` and ``<score>.mean.pval`` the geometric mean of the per-model
  p-values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.interpret.predict import predict, resolve_rc_permutation, reverse_complement_outputs
from bpnetkit.train.metrics import js_distance

__all__ = ["BASE_COLUMNS", "MEAN_SCORES", "PEAK_COLUMNS", "PVAL_TAILS", "allele_predictions",
           "empirical_pvalue", "indel_aligned_jsd", "mean_over_models", "peak_quantile",
           "score_columns", "variant_scorer_scores", "with_pvalues"]

BASE_COLUMNS = ["allele1_pred_counts", "allele2_pred_counts", "logfc", "abs_logfc", "jsd",
                "original_jsd", "logfc_x_jsd", "abs_logfc_x_jsd"]
"""Score columns without peaks, in variant-scorer's order."""

PEAK_COLUMNS = ["allele1_quantile", "allele2_quantile", "active_allele_quantile",
                "quantile_change", "abs_quantile_change", "logfc_x_active_allele_quantile",
                "abs_logfc_x_active_allele_quantile", "jsd_x_active_allele_quantile",
                "logfc_x_jsd_x_active_allele_quantile",
                "abs_logfc_x_jsd_x_active_allele_quantile"]
"""Score columns added when peaks are given."""

PVAL_TAILS: dict[str, str] = {
    "logfc": "both", "abs_logfc": "right", "jsd": "right", "logfc_x_jsd": "both",
    "abs_logfc_x_jsd": "right", "active_allele_quantile": "right", "quantile_change": "both",
    "abs_quantile_change": "right", "logfc_x_active_allele_quantile": "both",
    "abs_logfc_x_active_allele_quantile": "right", "jsd_x_active_allele_quantile": "right",
    "logfc_x_jsd_x_active_allele_quantile": "both",
    "abs_logfc_x_jsd_x_active_allele_quantile": "right"}
"""Scores that get a ``.pval`` column, with the tail of the test."""

MEAN_SCORES = ["logfc", "abs_logfc", "jsd", "logfc_x_jsd", "abs_logfc_x_jsd",
               "active_allele_quantile", "logfc_x_active_allele_quantile",
               "abs_logfc_x_active_allele_quantile", "jsd_x_active_allele_quantile",
               "logfc_x_jsd_x_active_allele_quantile",
               "abs_logfc_x_jsd_x_active_allele_quantile", "quantile_change",
               "abs_quantile_change"]
"""Scores averaged over models into ``.mean`` columns (in this order)."""

_LN2 = math.log(2.0)


def _counts_logits(y: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(total predicted counts (N,), profile logits (N, S, L) or None) of a model output."""
    ts = [y] if not isinstance(y, list | tuple) else list(y)
    logits = next((t for t in ts if t.ndim == 3), None)
    counts = next((t for t in ts if t.ndim == 2), None)
    if counts is None:
        raise InputError("variant-scorer scores need a model with a count output (a (N, T) "
                         "tensor of log counts).")
    c = np.exp(counts.double().numpy()).sum(axis=1)
    return c, (None if logits is None else logits.double().numpy())


def allele_predictions(model: Any, X: np.ndarray, batch_size: int = 64, device: Any = None,
                       rc_average: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted total counts and profile logits of one-hot windows, as variant-scorer uses them.

    With ``rc_average`` the reverse complement of each window is predicted too (through
    :func:`bpnetkit.interpret.predict.predict`), its outputs mapped back to the forward
    strand (:func:`bpnetkit.interpret.predict.reverse_complement_outputs`), and the counts
    (``exp`` of the count head) and the profile logits averaged.

    Parameters
    ----------
    model : torch.nn.Module
        A (profile logits, log counts) model.
    X : numpy.ndarray
        ``(N, 4, L)`` one-hot windows.
    batch_size, device
        See :func:`bpnetkit.interpret.predict.predict`.
    rc_average : bool
        Average forward and reverse-complement predictions.

    Returns
    -------
    counts : numpy.ndarray
        ``(N,)`` float64 predicted total counts.
    logits : numpy.ndarray or None
        ``(N, S, L_out)`` float64 profile logits (None for count-only models).
    """
    y = predict(model, X, batch_size=batch_size, device=device)
    counts, logits = _counts_logits(y)
    if rc_average:
        X_rc = np.ascontiguousarray(np.asarray(X)[:, ::-1, ::-1])
        y_rc = predict(model, X_rc, batch_size=batch_size, device=device)
        y_rc = reverse_complement_outputs(y_rc, resolve_rc_permutation(model, y_rc))
        c_rc, l_rc = _counts_logits(y_rc)
        counts = (counts + c_rc) / 2
        logits = None if logits is None else (logits + l_rc) / 2
    return counts, logits


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Softmax over all tracks and positions of each row; shape kept."""
    flat = logits.reshape(len(logits), -1)
    flat = np.exp(flat - flat.max(axis=1, keepdims=True))
    flat /= flat.sum(axis=1, keepdims=True)
    return flat.reshape(logits.shape)


def _jsd2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance with base-2 logarithms (rows of the last axis)."""
    return js_distance(p, q) / math.sqrt(_LN2)


def indel_aligned_jsd(p1: np.ndarray, p2: np.ndarray, n1: int, n2: int) -> float:
    """Base-2 Jensen-Shannon distance of two ``(S, L)`` profiles aligned around an indel.

    See the module notes; ``n1``/``n2`` are the allele lengths (``n1 != n2``). NaN when the
    indel is too long for the profile.
    """
    L = p1.shape[-1]
    f = L // 2
    d = abs(n1 - n2)
    short = min(n1, n2)
    if f + max(n1, n2) > L or L - d <= f:
        return float("nan")
    longer, other = (p1, p2) if n1 > n2 else (p2, p1)
    a = np.concatenate([longer[:, :f + short], longer[:, f + short + d:]], axis=1)
    b = other[:, :L - d]
    a = a.ravel() / a.sum()
    b = b.ravel() / b.sum()
    return float(_jsd2(a[None], b[None])[0])


def peak_quantile(counts: np.ndarray, peak_counts: np.ndarray) -> np.ndarray:
    """``max(fraction of peak_counts < counts, 1 / len(peak_counts))`` for each value."""
    peaks = np.sort(np.asarray(peak_counts, dtype=np.float64))
    if len(peaks) == 0:
        raise InputError("no peak predictions to compute allele quantiles from.")
    q = np.searchsorted(peaks, np.asarray(counts, dtype=np.float64), side="left") / len(peaks)
    return np.maximum(q, 1.0 / len(peaks))


def variant_scorer_scores(counts1: np.ndarray, counts2: np.ndarray,
                          logits1: np.ndarray | None, logits2: np.ndarray | None,
                          allele_lengths: Sequence[tuple[int, int]],
                          peak_counts: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """variant-scorer's score columns from the predictions for both alleles.

    Parameters
    ----------
    counts1, counts2 : numpy.ndarray
        ``(N,)`` predicted total counts with allele1 and allele2 (:func:`allele_predictions`).
    logits1, logits2 : numpy.ndarray or None
        ``(N, S, L)`` profile logits (None: the JSD columns are NaN).
    allele_lengths : sequence of (int, int)
        Lengths of allele1 and allele2 of each variant (0 for ``-``).
    peak_counts : numpy.ndarray or None
        Predicted total counts of the peaks; adds :data:`PEAK_COLUMNS`.

    Returns
    -------
    dict[str, numpy.ndarray]
        :data:`BASE_COLUMNS` (and :data:`PEAK_COLUMNS`), one value per variant.
    """
    c1 = np.asarray(counts1, dtype=np.float64)
    c2 = np.asarray(counts2, dtype=np.float64)
    n = len(c1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logfc = np.log2(c2 / c1)
    if logits1 is not None and logits2 is not None:
        p1, p2 = _softmax_rows(logits1), _softmax_rows(logits2)
        original = _jsd2(p1.reshape(n, -1), p2.reshape(n, -1))
        jsd = original.copy()
        for k, (n1, n2) in enumerate(allele_lengths):
            if n1 != n2:
                jsd[k] = indel_aligned_jsd(p1[k], p2[k], n1, n2)
    else:
        original = jsd = np.full(n, np.nan)
    out = {"allele1_pred_counts": c1, "allele2_pred_counts": c2, "logfc": logfc,
           "abs_logfc": np.abs(logfc), "jsd": jsd, "original_jsd": original,
           "logfc_x_jsd": logfc * jsd, "abs_logfc_x_jsd": np.abs(logfc) * jsd}
    if peak_counts is not None:
        q1, q2 = peak_quantile(c1, peak_counts), peak_quantile(c2, peak_counts)
        aaq = np.maximum(q1, q2)
        out.update({"allele1_quantile": q1, "allele2_quantile": q2,
                    "active_allele_quantile": aaq, "quantile_change": q2 - q1,
                    "abs_quantile_change": np.abs(q2 - q1),
                    "logfc_x_active_allele_quantile": out["logfc"] * aaq,
                    "abs_logfc_x_active_allele_quantile": out["abs_logfc"] * aaq,
                    "jsd_x_active_allele_quantile": jsd * aaq,
                    "logfc_x_jsd_x_active_allele_quantile": out["logfc_x_jsd"] * aaq,
                    "abs_logfc_x_jsd_x_active_allele_quantile": out["abs_logfc_x_jsd"] * aaq})
    return out


def empirical_pvalue(values: np.ndarray, null: np.ndarray, tail: str) -> np.ndarray:
    """Empirical p-values of ``values`` among ``null`` scores (see the module notes).

    Parameters
    ----------
    values : numpy.ndarray
        Observed scores.
    null : numpy.ndarray
        Scores of null variants (non-finite ones are ignored).
    tail : str
        ``right``, ``left`` or ``both``.

    Returns
    -------
    numpy.ndarray
        P-values (NaN for non-finite values or an empty null).
    """
    if tail not in ("right", "left", "both"):
        raise InputError(f"tail must be 'right', 'left' or 'both', got {tail!r}.")
    bg = np.sort(np.asarray(null, dtype=np.float64))
    bg = bg[np.isfinite(bg)]
    v = np.asarray(values, dtype=np.float64)
    if len(bg) == 0:
        return np.full(v.shape, np.nan)
    right = (len(bg) - np.searchsorted(bg, v, side="left") + 1) / (len(bg) + 1)
    left = (np.searchsorted(bg, v, side="right") + 1) / (len(bg) + 1)
    p = right if tail == "right" else left if tail == "left" else 2 * np.minimum(left, right)
    return np.where(np.isfinite(v), p, np.nan)


def with_pvalues(scores: dict[str, np.ndarray], null: dict[str, np.ndarray] | None
                 ) -> dict[str, np.ndarray]:
    """``scores`` plus a ``<score>.pval`` column for each score of :data:`PVAL_TAILS` present
    in both ``scores`` and ``null``."""
    out = dict(scores)
    if null is None:
        return out
    for key, tail in PVAL_TAILS.items():
        if key in scores and key in null:
            out[f"{key}.pval"] = empirical_pvalue(scores[key], null[key], tail)
    return out


def score_columns(peaks: bool, pvalues: bool) -> list[str]:
    """The score columns of one model's table, in variant-scorer's order."""
    cols = list(BASE_COLUMNS)
    if pvalues:
        cols += [f"{k}.pval" for k in BASE_COLUMNS if k in PVAL_TAILS]
    if peaks:
        cols += PEAK_COLUMNS
        if pvalues:
            cols += [f"{k}.pval" for k in PEAK_COLUMNS if k in PVAL_TAILS]
    return cols


def mean_over_models(per_model: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``<score>.mean`` (arithmetic mean) and ``<score>.mean.pval`` (geometric mean of the
    p-values) over models, for the scores of :data:`MEAN_SCORES` present, in that order."""
    out: dict[str, np.ndarray] = {}
    first = per_model[0]
    for key in MEAN_SCORES:
        if key not in first:
            continue
        out[f"{key}.mean"] = np.mean([s[key] for s in per_model], axis=0)
        if f"{key}.pval" in first:
            with np.errstate(divide="ignore"):
                logs = np.log([s[f"{key}.pval"] for s in per_model])
            out[f"{key}.mean.pval"] = np.exp(logs.mean(axis=0))
    return out
