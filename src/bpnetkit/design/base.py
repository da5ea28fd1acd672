"""What both design algorithms share: goals, the result, inputs and target values.

A design *target* is any module or callable mapping one-hot sequences ``(N, 4, L)`` to one
value per sequence ``(N,)`` (or ``(N, 1)``; see :func:`bpnetkit.design.targets.make_target`).
A *goal* says what to do with it: ``"max"``, ``"min"`` or a number to reach.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.interpret.predict import predict

logger = logging.getLogger(__name__)

__all__ = ["DesignResult", "check_goal", "editable_positions", "goal_loss", "one_hot_batch",
           "target_values"]


@dataclass
class DesignResult:
    """Designed sequences and their edits.

    Attributes
    ----------
    X : numpy.ndarray
        ``(N, 4, L)`` int8 designed sequences.
    initial, final : numpy.ndarray
        ``(N,)`` target values before and after design.
    edits : list of dict
        One dict per edit: ``sequence``, ``round``, ``kind`` (``substitution`` or
        ``motif:<name>:<+|->``), ``position``, ``ref``, ``alt``, ``value`` (the target after the
        edit; for gradient design the final value).
    """

    X: np.ndarray
    initial: np.ndarray
    final: np.ndarray
    edits: list[dict] = field(default_factory=list)


def goal_loss(values: Any, goal: str | float) -> Any:
    """Loss to minimise for ``values`` under ``goal`` (``"max"``, ``"min"`` or a number).

    Parameters
    ----------
    values : torch.Tensor or numpy.ndarray
        Target values.
    goal : "max", "min" or float
        What to do with them.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``-values``, ``values`` or ``|values - goal|``.
    """
    if goal == "max":
        return -values
    if goal == "min":
        return values
    if isinstance(goal, int | float) and not isinstance(goal, bool):
        return abs(values - float(goal))
    raise InputError(f"goal must be 'max', 'min' or a number, got {goal!r}.")


def check_goal(goal: Any) -> None:
    """Raise :class:`InputError` unless ``goal`` is ``"max"``, ``"min"`` or a number."""
    goal_loss(np.zeros(1), goal)


class _CallableTarget(nn.Module):
    """A plain callable as a module, so that it runs through the one prediction loop."""

    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, X: torch.Tensor) -> Any:
        return self.fn(X)


def target_values(target: Callable, X: Any, batch_size: int, device: Any = None
                  ) -> torch.Tensor:
    """Target values of a one-hot batch, without gradients, as a 1-D CPU float tensor.

    Parameters
    ----------
    target : torch.nn.Module or callable
        ``(N, 4, L)`` float tensor -> ``(N,)`` values.
    X : numpy.ndarray or torch.Tensor
        ``(N, 4, L)`` one-hot sequences.
    batch_size : int
        Sequences per forward pass.
    device : str, torch.device or None
        Where to run (see :func:`bpnetkit.interpret.predict.predict`).
    """
    module = target if isinstance(target, nn.Module) else _CallableTarget(target)
    y = predict(module, X, batch_size=batch_size, device=device)
    return torch.as_tensor(y).reshape(-1).float()


def one_hot_batch(X: Any) -> np.ndarray:
    """``(N, 4, L)`` int8 one-hot sequences from an array or tensor (a ``(4, L)`` one too)."""
    X = np.asarray(X.detach().cpu() if hasattr(X, "detach") else X)
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3 or X.shape[1] != 4:
        raise InputError(f"sequences must be one-hot of shape (N, 4, L) or (4, L); got "
                         f"{X.shape}.")
    return X.astype(np.int8)


def editable_positions(mask: Any, L: int) -> np.ndarray:
    """Boolean ``(L,)`` editable positions from None, ``[start, end)`` or a boolean array."""
    if mask is None:
        return np.ones(L, dtype=bool)
    m = np.asarray(mask)
    if m.dtype == bool:
        if m.shape != (L,):
            raise InputError(f"input_mask has shape {m.shape}; expected ({L},) for sequences "
                             f"of length {L}.")
        return m
    if m.shape != (2,) or not 0 <= m[0] < m[1] <= L:
        raise InputError(f"input_mask must be [start, end) within the sequence (length {L}) "
                         f"or a boolean array; got {mask!r}.")
    out = np.zeros(L, dtype=bool)
    out[int(m[0]):int(m[1])] = True
    return out
