"""Variant scores: counts fold change, profile distance, track change, attributions, null.

- :func:`effect_scores` compares predictions for the reference and the alternative allele.
- :func:`score_variants` predicts the windows of checked variants (see
  :mod:`bpnetkit.variants.windows`) and scores them, optionally with the change of
  DeepLIFT/SHAP contributions around the variant.
- :func:`null_scores` scores the same alleles placed into dinucleotide-shuffled windows, and
  :func:`empirical_percentile` ranks observed scores among those null scores.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.interpret.edits import apply_edit
from bpnetkit.interpret.predict import predict
from bpnetkit.interpret.shuffle import dinucleotide_shuffle
from bpnetkit.io.fasta import Genome, one_hot_encode
from bpnetkit.io.vcf import Variant
from bpnetkit.train.metrics import js_distance
from bpnetkit.utils import as_generator
from bpnetkit.variants.windows import variant_windows

logger = logging.getLogger(__name__)

__all__ = ["attribution_scores", "effect_scores", "empirical_percentile", "iter_null_windows",
           "null_scores", "null_windows", "score_variants"]


def _split_outputs(y: Any):
    """(profile logits or None, total log counts (N,)) of a model output (tensor or tuple)."""
    import torch

    y = y if isinstance(y, list | tuple) else (y,)
    if len(y) >= 2:
        logits, counts = y[0], y[1]
    elif y[0].ndim == 3:
        logits, counts = y[0], None
    else:
        logits, counts = None, y[0]
    if counts is not None:
        counts = counts.reshape(counts.shape[0], -1)
        counts = torch.logsumexp(counts, dim=1) if counts.shape[1] > 1 else counts[:, 0]
    return logits, counts


def effect_scores(before: Any, after: Any) -> dict[str, np.ndarray]:
    """Per-row scores comparing predictions for the reference and the alternative allele.

    Parameters
    ----------
    before, after : torch.Tensor or tuple of torch.Tensor
        Model outputs (``(profile_logits, log_counts)``, or one of them) for the reference
        and the alternative sequences, one row per variant.

    Returns
    -------
    dict
        ``ref_log_counts``, ``alt_log_counts`` (natural log), ``log2_fc`` (log2 ratio of
        predicted total counts, alt over ref), ``jsd`` (Jensen-Shannon distance, natural log,
        between the profiles as distributions over strands and positions) and
        ``max_abs_diff`` (largest absolute change of the predicted track
        ``softmax(logits) * exp(log_counts)``). Missing outputs give NaN.
    """
    import torch

    lr, cr = _split_outputs(before)
    la, ca = _split_outputs(after)
    n = (cr if cr is not None else lr).shape[0]
    nan = np.full(n, np.nan)
    out = {"ref_log_counts": nan, "alt_log_counts": nan, "log2_fc": nan, "jsd": nan,
           "max_abs_diff": nan}
    if cr is not None:
        out["ref_log_counts"] = cr.double().numpy()
        out["alt_log_counts"] = ca.double().numpy()
        out["log2_fc"] = ((ca - cr).double() / math.log(2)).numpy()
    if lr is not None:
        p = torch.softmax(lr.reshape(n, -1).double(), dim=-1).numpy()
        q = torch.softmax(la.reshape(n, -1).double(), dim=-1).numpy()
        out["jsd"] = js_distance(p, q)
        if cr is not None:
            tr = p * np.exp(cr.double().numpy())[:, None]
            ta = q * np.exp(ca.double().numpy())[:, None]
            out["max_abs_diff"] = np.abs(ta - tr).max(axis=-1)
    return out


def _attribution_sums(model: Any, X: np.ndarray, lengths: Sequence[int], centre: int,
                      flank: int, n_shuffles: int, batch_size: int, device: Any,
                      random_state: int) -> dict[str, np.ndarray]:
    """Sum of DeepLIFT/SHAP contributions over ``[centre - flank, centre + len + flank)``."""
    import torch

    from bpnetkit.interpret.deeplift import deep_lift_shap
    from bpnetkit.models.wrappers import ControlWrapper, CountWrapper, ProfileWrapper

    base = model.eval()
    if getattr(base, "n_control_tracks", 0) > 0:
        base = ControlWrapper(base)  # zero controls, as in prediction
    out = {}
    Xt = torch.as_tensor(X).float()
    for key, wrapper in (("counts", CountWrapper(base)), ("profile", ProfileWrapper(base))):
        attr = deep_lift_shap(wrapper, Xt, n_shuffles=n_shuffles, batch_size=batch_size,
                              device=device, random_state=random_state)
        attr = np.asarray(attr.detach().cpu() if hasattr(attr, "detach") else attr,
                          dtype=np.float64)
        if attr.shape != X.shape:
            raise InputError(f"unexpected attribution shape {attr.shape} for {X.shape}.")
        per_pos = (attr * X).sum(axis=1)  # actual contributions (also if hypothetical)
        sums = np.empty(len(lengths))
        for k, n in enumerate(lengths):
            lo, hi = max(0, centre - flank), min(X.shape[2], centre + n + flank)
            sums[k] = per_pos[k, lo:hi].sum()
        out[key] = sums
    return out


def score_variants(model: Any, genome: Genome, variants: Sequence[Variant], in_window: int,
                   batch_size: int = 64, device: Any = None, rc_average: bool = False,
                   attributions: bool = False, attribution_flank: int = 10,
                   n_shuffles: int = 10, random_state: int = 0) -> dict[str, np.ndarray]:
    """Score checked variants (see :func:`effect_scores`; plus attribution sums if asked).

    Parameters
    ----------
    model : torch.nn.Module
        A (profile, counts) model; models with control tracks get zero controls.
    genome : Genome
        The reference.
    variants : sequence of Variant
        Variants that passed :func:`bpnetkit.variants.windows.check_variant`.
    in_window : int
        Model input length.
    batch_size, device, rc_average
        See :func:`bpnetkit.interpret.predict.predict`.
    attributions : bool
        Also score DeepLIFT/SHAP contributions: the result then holds ``counts_attr_ref``,
        ``counts_attr_alt``, ``counts_attr_diff`` and the same for ``profile_``,
        contributions summed over the allele and ``attribution_flank`` bases on each side.
    attribution_flank, n_shuffles, random_state
        Attribution settings.

    Returns
    -------
    dict[str, numpy.ndarray]
        One value per variant for each score.
    """
    ref, alt = variant_windows(genome, variants, in_window)
    common = dict(batch_size=batch_size, device=device, rc_average=rc_average)
    scores = effect_scores(predict(model, ref, **common), predict(model, alt, **common))
    if attributions:
        scores.update(attribution_scores(model, ref, alt, variants, attribution_flank,
                                         n_shuffles, batch_size, device, random_state))
    return scores


def attribution_scores(model: Any, ref: np.ndarray, alt: np.ndarray,
                       variants: Sequence[Variant], attribution_flank: int = 10,
                       n_shuffles: int = 10, batch_size: int = 64, device: Any = None,
                       random_state: int = 0) -> dict[str, np.ndarray]:
    """Change of DeepLIFT/SHAP contributions around each variant.

    Parameters
    ----------
    model : torch.nn.Module
        A (profile, counts) model.
    ref, alt : numpy.ndarray
        Windows from :func:`bpnetkit.variants.windows.variant_windows`.
    variants : sequence of Variant
        The variants of the rows.
    attribution_flank, n_shuffles, batch_size, device, random_state
        Contributions are summed over the allele and ``attribution_flank`` bases on each
        side; the other settings are DeepLIFT's.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``counts_attr_ref``, ``counts_attr_alt``, ``counts_attr_diff`` and the same for
        ``profile_``.
    """
    c = ref.shape[2] // 2
    a_ref = _attribution_sums(model, ref, [len(v.ref) for v in variants], c, attribution_flank,
                              n_shuffles, batch_size, device, random_state)
    a_alt = _attribution_sums(model, alt, [len(v.alt) for v in variants], c, attribution_flank,
                              n_shuffles, batch_size, device, random_state)
    out = {}
    for key in ("counts", "profile"):
        out[f"{key}_attr_ref"] = a_ref[key]
        out[f"{key}_attr_alt"] = a_alt[key]
        out[f"{key}_attr_diff"] = a_alt[key] - a_ref[key]
    return out


def _shuffle(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dinucleotide-shuffle each row of ``X`` (one shuffle per row)."""
    seed = int(rng.integers(2**31 - 1))
    return np.asarray(dinucleotide_shuffle(X, n=1, random_state=seed))[:, 0].astype(X.dtype)


def iter_null_windows(genome: Genome, variants: Sequence[Variant], in_window: int, n_null: int,
                      random_state: int = 0, block: int = 1024
                      ) -> Iterator[tuple[np.ndarray, np.ndarray, list[Variant]]]:
    """Windows of null variants, ``block`` at a time (see :func:`null_windows`)."""
    rng = as_generator(random_state)
    pick = rng.integers(len(variants), size=n_null)
    chosen = [variants[i] for i in pick]
    c = in_window // 2
    for a in range(0, n_null, block):
        part = chosen[a:a + block]
        extra = max(max(0, len(v.ref) - len(v.alt)) for v in part)
        ref, _ = variant_windows(genome, part, in_window + extra)
        shuf = _shuffle(ref, rng)
        r = np.empty((len(part), 4, in_window), dtype=np.int8)
        t = np.empty_like(r)
        for k, v in enumerate(part):
            s = shuf[k]
            start = (in_window + extra) // 2 - c  # keep the variant at position c
            s = s[:, start:]
            s = apply_edit(s, c, len(v.ref), one_hot_encode(v.ref), s.shape[1])
            r[k] = s[:, :in_window]
            t[k] = apply_edit(s, c, len(v.ref), one_hot_encode(v.alt), in_window)
        yield r, t, part


def null_windows(genome: Genome, variants: Sequence[Variant], in_window: int, n_null: int,
                 random_state: int = 0) -> tuple[np.ndarray, np.ndarray, list[Variant]]:
    """Windows of null variants: the alleles of drawn variants in shuffled sequence.

    ``n_null`` variants are drawn with replacement from ``variants``; the window of each
    (with the extra right flank a deletion needs) is dinucleotide-shuffled, REF is written
    back at position ``in_window // 2`` and ALT applied as for real variants
    (:func:`bpnetkit.variants.windows.variant_windows`). This is variant-scorer's null too.
    :func:`iter_null_windows` gives the same windows block by block.

    Returns
    -------
    ref, alt : numpy.ndarray
        ``(n_null, 4, in_window)`` int8 each.
    chosen : list of Variant
        The drawn variant of each row.
    """
    blocks = list(iter_null_windows(genome, variants, in_window, n_null, random_state))
    return (np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks]),
            [v for b in blocks for v in b[2]])


def null_scores(model: Any, genome: Genome, variants: Sequence[Variant], in_window: int,
                n_null: int, batch_size: int = 64, device: Any = None,
                rc_average: bool = False, random_state: int = 0,
                verbose: bool = False) -> dict[str, np.ndarray]:
    """Scores of the same alleles placed into dinucleotide-shuffled windows.

    ``n_null`` null variants are drawn (with replacement) from ``variants``; each window is
    shuffled, the REF allele written back at the centre, and the ALT allele applied as usual.

    Parameters
    ----------
    model, genome, in_window, batch_size, device, rc_average
        As for :func:`score_variants`.
    variants : sequence of Variant
        Checked variants to draw the alleles from.
    n_null : int
        Number of null variants.
    random_state : int
        Seed of the draws and the shuffles.
    verbose : bool
        Show the progress of the prediction.

    Returns
    -------
    dict[str, numpy.ndarray]
        :func:`effect_scores` of the null variants.
    """
    ref, alt, _ = null_windows(genome, variants, in_window, n_null, random_state)
    logger.info("scoring %d null variants in shuffled windows", n_null)
    common = dict(batch_size=batch_size, device=device, rc_average=rc_average)
    before = predict(model, ref, verbose=verbose, **common)
    after = predict(model, alt, **common)
    return effect_scores(before, after)


def empirical_percentile(values: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Empirical percentile of ``|values|`` among ``|null|`` (ties count half; NaN stays NaN).

    A value above every null value gets 100; one equal to all of them gets 50.

    Parameters
    ----------
    values : numpy.ndarray
        Observed scores.
    null : numpy.ndarray
        Null scores (non-finite ones are ignored).

    Returns
    -------
    numpy.ndarray
        Percentiles in [0, 100] (all NaN when there is no finite null score).
    """
    null = np.sort(np.abs(null[np.isfinite(null)]))
    v = np.abs(np.asarray(values, dtype=np.float64))
    if len(null) == 0:
        return np.full(len(v), np.nan)
    below = np.searchsorted(null, v, side="left")
    at_most = np.searchsorted(null, v, side="right")
    out = 100.0 * (below + at_most) / (2 * len(null))
    out[~np.isfinite(v)] = np.nan
    return out
