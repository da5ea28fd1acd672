"""The ChromBPNet stages around the trainer: the bias model's non-peaks, its count shift, and
the accessibility model trained with the bias frozen.

Stage (a), the bias model (skipped when a trained bias model is given): non-peak regions
whose total counts lie below ``quantile(peak counts, 0.01) * factor`` (factor 0.5 ATAC, 0.8
DNase; :data:`BIAS_THRESHOLD_FACTOR`) and inside the 0.0001/0.9999 count quantiles; the
architecture is the ``chrombpnet_bias`` preset (128 filters, 4 layers); count weight
median(non-peak counts) / 10 floored at 1; non-peaks never jittered, half of each epoch
reverse complemented. Afterwards the bias of its count layer is shifted so that the mean
residual ``log(1 + observed) - predicted`` over the non-peaks is zero (:func:`count_shift`).

Stage (b): the accessibility model (the ``chrombpnet`` preset) trained inside
:class:`~bpnetkit.models.chrombpnet.ChromBPNet` with the bias frozen (:func:`combine`).
Source: the official ChromBPNet training code. The QC that follows is in
:mod:`bpnetkit.train.qc`; :func:`enzyme_qc_regions` picks its regions (the enzyme's motif
from the bias model's training non-peaks, the checks on held-out non-peaks).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from bpnetkit.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["BIAS_THRESHOLD_FACTOR", "BIAS_RC", "combine", "count_shift", "enzyme_qc_regions",
           "freeze", "nonpeak_threshold", "select_bias_nonpeaks", "shift_count_bias"]

#: threshold factor of the bias model's non-peaks per assay (official ChromBPNet)
BIAS_THRESHOLD_FACTOR = {"atac": 0.5, "dnase": 0.8}

#: reverse-complement augmentation of the bias model's non-peaks (official: half of each
#: epoch)
BIAS_RC = "half"


def nonpeak_threshold(peak_counts: np.ndarray, factor: float) -> float:
    """Upper bound of the bias model's non-peak counts: ``quantile(peak_counts, 0.01) *
    factor``."""
    return float(np.quantile(np.asarray(peak_counts, dtype=np.float64), 0.01) * factor)


def select_bias_nonpeaks(negatives: Mapping[str, Any], threshold: float,
                         min_train_regions: int = 8, factor: float | None = None
                         ) -> dict[str, Any]:
    """The non-peaks of each split part whose total counts lie below ``threshold``.

    Parameters
    ----------
    negatives : mapping
        ``"train"/"valid"/"test"`` -> Examples.
    threshold : float
        From :func:`nonpeak_threshold`.
    min_train_regions : int
        Fewest training non-peaks accepted (validation needs at least 2).
    factor : float or None
        The threshold factor, for the error message.
    """
    out = {k: v.subset(v.counts() < threshold) for k, v in negatives.items()}
    n_tr, n_va = len(out["train"]), len(out["valid"])
    if n_tr < min_train_regions or n_va < 2:
        raise InputError(
            f"too few non-peak regions for the bias model: {n_tr} training and {n_va} "
            f"validation non-peaks have fewer reads than the threshold {threshold:.3g} "
            f"(1st percentile of peak counts x {factor}). Give more negatives (e.g. "
            f"`bpnetkit negatives`) or raise bias_threshold_factor.")
    return out


def count_shift(observed_totals: np.ndarray, predicted_log_counts: np.ndarray) -> float:
    """The shift that makes the mean residual ``log(1 + observed) - predicted`` zero.

    Parameters
    ----------
    observed_totals : numpy.ndarray
        ``(N,)`` total observed counts per region.
    predicted_log_counts : numpy.ndarray
        ``(N,)`` or ``(N, 1)`` predicted log counts of the same regions.
    """
    obs = np.log1p(np.asarray(observed_totals, dtype=np.float64))
    pred = np.asarray(predicted_log_counts).reshape(len(obs), -1)[:, 0]
    return float(np.mean(obs - pred))


def shift_count_bias(model: nn.Module, delta: float) -> None:
    """Add ``delta`` to the bias of a BPNet's count layer (in place)."""
    with torch.no_grad():
        model.linear.bias += delta


def freeze(model: nn.Module) -> None:
    """Exclude every parameter of ``model`` from training."""
    for q in model.parameters():
        q.requires_grad_(False)


def combine(bias: nn.Module, accessibility: nn.Module, name: str | None = None):
    """The ChromBPNet model of a (frozen) bias model and an accessibility model."""
    from bpnetkit.models.bpnet import BPNet
    from bpnetkit.models.chrombpnet import ChromBPNet

    if not isinstance(bias, BPNet):
        raise InputError(f"the bias model is a {type(bias).__name__}; a single BPNet bias "
                         f"model is needed.")
    freeze(bias)
    return ChromBPNet(bias=bias, accessibility=accessibility, name=name)


def enzyme_qc_regions(negatives: Mapping[str, Any], threshold: float, min_regions: int = 8
                      ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The regions of the enzyme QC (:func:`bpnetkit.train.qc.enzyme_checks`).

    Parameters
    ----------
    negatives : mapping
        ``"train"/"valid"/"test"`` -> Examples of non-peaks.
    threshold : float
        The bias model's non-peak count threshold (:func:`nonpeak_threshold`).
    min_regions : int
        Fewest low-count training non-peaks to use them alone.

    Returns
    -------
    (X_train, y_train, X_heldout)
        Centred one-hot sequences and counts of the training non-peaks below ``threshold``
        (the bias model's data; all training non-peaks when fewer than ``min_regions`` lie
        below it) for the enzyme's motif, and the sequences of the held-out non-peaks (test
        chromosomes, else validation) for the checks. None where there are none (fewer than
        2 held-out regions).
    """
    X_tr = y_tr = X_ho = None
    tr = negatives.get("train")
    if tr is not None and len(tr):
        low = tr.subset(tr.counts() < threshold)
        X_tr, y_tr, _ = (low if len(low) >= min_regions else tr).center()
    for part in ("test", "valid"):
        ex = negatives.get(part)
        if ex is not None and len(ex) >= 2:
            X_ho = ex.center()[0]
            break
    return X_tr, y_tr, X_ho
