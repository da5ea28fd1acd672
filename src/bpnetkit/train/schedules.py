"""Learning-rate schedules and the starting point of the output heads.

Two things decide how much a model learns in a small step budget (a few hundred optimizer
steps, bpnet-lite's tutorial size) besides the data:

- **Where the heads start.** A freshly built BPNet predicts log counts near 0 while the
  observed ``log(1 + total)`` of peaks is typically 5-8. With Adam at ``lr = 1e-3`` every
  parameter moves by about ``lr`` per step, so the count head needs thousands of steps just to
  reach the mean, and until then the count loss is dominated by that offset rather than by
  the differences between regions. :func:`init_output_heads` starts the count head *at* the
  mean training log count (weights zero, bias = the mean) and the profile head's per-track
  bias at the log of each track's share of the counts.
- **The learning rate over the run.** :class:`LRSchedule` gives the learning rate of every
  optimizer step: a linear warm-up from ``lr / warmup_steps`` to ``lr`` over
  ``warmup_steps`` steps, then constant, cosine or linear decay to ``final_factor * lr`` at
  ``total_steps`` (the planned steps: epochs x batches per epoch). It is a pure function of
  the step number, so a resumed run continues exactly (the trainer stores the step).

The official recipes (``bpnet_lite``, ``chrombpnet_official``, ``procapnet``) use neither:
constant learning rate, default initialisation. The ``bpnetkit`` recipe initialises the
heads and warms up to a constant, higher learning rate (at a budget of a few hundred steps a
decay measured worse: the model is far from converged); see ``docs/training.md`` for the
measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bpnetkit.errors import InputError

__all__ = ["SCHEDULES", "LRSchedule", "init_output_heads", "mean_log_count"]

#: learning-rate shapes after the warm-up
SCHEDULES = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class LRSchedule:
    """Learning rate of each optimizer step.

    Parameters
    ----------
    lr : float
        Peak learning rate (reached at the end of the warm-up).
    total_steps : int
        Planned optimizer steps of the whole run; the decay reaches ``final_factor * lr``
        there and stays there afterwards.
    shape : {"constant", "cosine", "linear"}
        Shape after the warm-up.
    warmup_steps : int
        Steps of linear warm-up: step ``s < warmup_steps`` (0-based) uses
        ``lr * (s + 1) / warmup_steps``.
    final_factor : float
        Learning rate at the end, as a fraction of ``lr`` (cosine and linear).

    Notes
    -----
    With ``d = max(1, total_steps - warmup_steps)`` and ``t = min(1, (s - warmup_steps) / d)``
    for ``s >= warmup_steps``: cosine ``lr_end + (lr - lr_end) * (1 + cos(pi t)) / 2``,
    linear ``lr - (lr - lr_end) * t``, with ``lr_end = final_factor * lr``.
    """

    lr: float
    total_steps: int
    shape: str = "cosine"
    warmup_steps: int = 0
    final_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in SCHEDULES:
            raise InputError(f"lr schedule must be one of {list(SCHEDULES)}, got "
                             f"{self.shape!r}.")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise InputError(f"learning rate must be a positive number, got {self.lr}.")
        if self.total_steps < 1:
            raise InputError(f"total_steps must be at least 1, got {self.total_steps}.")
        if self.warmup_steps < 0:
            raise InputError(f"warmup_steps must be >= 0, got {self.warmup_steps}.")
        if not 0.0 <= self.final_factor <= 1.0:
            raise InputError(f"final_factor must lie in [0, 1], got {self.final_factor}.")

    def __call__(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based)."""
        s = int(step)
        if s < self.warmup_steps:
            return self.lr * (s + 1) / self.warmup_steps
        if self.shape == "constant":
            return self.lr
        d = max(1, self.total_steps - self.warmup_steps)
        t = min(1.0, (s - self.warmup_steps) / d)
        end = self.final_factor * self.lr
        if self.shape == "cosine":
            return end + (self.lr - end) * 0.5 * (1.0 + math.cos(math.pi * t))
        return self.lr - (self.lr - end) * t


def mean_log_count(peak_totals: np.ndarray, negative_totals: np.ndarray | None = None,
                   negative_ratio: float = 0.0) -> float:
    """Mean ``log(1 + total)`` of the training examples as the sampler mixes them.

    Parameters
    ----------
    peak_totals : array-like
        Total counts (all tracks) of each training peak.
    negative_totals : array-like or None
        The same for the negative pool.
    negative_ratio : float
        Negatives drawn per peak each epoch (their weight in the mix).

    Returns
    -------
    float
        ``(sum_peaks + r * n_peaks * mean_negatives) / (n_peaks * (1 + r))`` on the log scale.
    """
    lp = np.log1p(np.asarray(peak_totals, dtype=np.float64))
    if lp.size == 0:
        raise InputError("cannot initialise the count head from zero training regions.")
    if negative_totals is None or len(negative_totals) == 0 or negative_ratio <= 0:
        return float(lp.mean())
    ln = np.log1p(np.asarray(negative_totals, dtype=np.float64))
    r = float(negative_ratio)
    return float((lp.mean() + r * ln.mean()) / (1.0 + r))


def init_output_heads(model: nn.Module, log_count: float,
                      track_fractions: np.ndarray | None = None) -> None:
    """Start a BPNet's heads at the data: constant log counts, per-track profile shares.

    The count head (``model.linear``) gets zero weights and bias ``log_count``, so every
    input predicts exactly ``log_count`` before training. With ``track_fractions`` (the share
    of the training counts in each profile track), the profile head's bias
    (``model.fconv.bias``) is set to their logs, so the initial per-track totals of the
    softmax match the data's strand balance (positions still start uniform). Weights of the
    tower are left as built.

    Parameters
    ----------
    model : nn.Module
        A :class:`~bpnetkit.models.bpnet.BPNet` (any module with ``linear`` and ``fconv``
        layers whose outputs are the log counts and profile logits).
    log_count : float
        Target log count, e.g. :func:`mean_log_count` of the training data.
    track_fractions : array-like or None
        ``(n_outputs,)`` positive shares of the counts per profile track.

    Raises
    ------
    InputError
        When the model has no such heads (e.g. a combined ChromBPNet).
    """
    lin = getattr(model, "linear", None)
    conv = getattr(model, "fconv", None)
    if not isinstance(lin, nn.Linear) or not isinstance(conv, nn.Conv1d):
        raise InputError(f"init_output_heads needs a BPNet-style model with 'linear' (count) "
                         f"and 'fconv' (profile) heads; {type(model).__name__} has none. Use "
                         f"the official recipe (no head initialisation) for this model.")
    if not math.isfinite(log_count):
        raise InputError(f"the count head's starting value must be finite, got {log_count}.")
    with torch.no_grad():
        lin.weight.zero_()
        if lin.bias is not None:
            lin.bias.fill_(float(log_count))
        if track_fractions is not None and conv.bias is not None:
            f = np.asarray(track_fractions, dtype=np.float64).ravel()
            if f.shape[0] != conv.bias.shape[0] or not (f > 0).all():
                raise InputError(f"track_fractions must hold {conv.bias.shape[0]} positive "
                                 f"shares, got {f.tolist()}.")
            conv.bias.copy_(torch.as_tensor(np.log(f / f.sum()), dtype=conv.bias.dtype))
