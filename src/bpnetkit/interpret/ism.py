"""In-silico saturation mutagenesis (ISM): every single-base substitution in a window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.interpret.inputs import check_one_hot
from bpnetkit.interpret.predict import as_tensor, predict
from bpnetkit.utils import progress

__all__ = ["saturation_mutagenesis"]


def _edits(x: torch.Tensor, start: int, end: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(bases, positions) of every substitution in [start, end) that changes ``x``."""
    window = x[:, start:end]
    present = window.bool()
    bases, offsets = (~present).nonzero(as_tuple=True)
    return bases, offsets + start


def saturation_mutagenesis(model: nn.Module, X: Any, args: Sequence[Any] | None = None,
                           start: int = 0, end: int | None = None, batch_size: int = 64,
                           target: int | None = None, hypothetical: bool = False,
                           raw_outputs: bool = False, device: Any = None, dtype: Any = None,
                           verbose: bool = False) -> Any:
    """Effect of every single-base substitution in ``X[:, :, start:end]`` on the model output.

    Only substitutions that change the sequence are predicted (3 per position, 4 at N
    positions); the unchanged base reuses the prediction for the original sequence.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(N, T)`` (or a tuple of tensors with ``raw_outputs=True``).
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` one-hot sequences.
    args : sequence of tensors or None
        Extra model inputs with ``N`` rows, repeated for every edit of a sequence.
    start, end : int
        Window of positions to mutate (``end=None``: to the end).
    batch_size : int
        Edited sequences per forward pass.
    target : int or None
        Output column to score (None: average of the centred scores over all columns).
    hypothetical : bool
        Return the centred scores of all four bases; otherwise they are multiplied by the
        one-hot input (the score of the observed base).
    raw_outputs : bool
        Return ``(y0, y_hat)``: predictions for the original ``(N, T)`` and for every
        substitution ``(N, 4, W, T)`` (the original's prediction at the observed base).
    device, dtype : optional
        As in :func:`bpnetkit.interpret.predict.predict`.
    verbose : bool
        Progress bar over sequences.

    Returns
    -------
    torch.Tensor
        ``(N, 4, W)`` scores ``y(edit) - y(original)``, centred so the four bases of a
        position average to zero (the usual ISM normalisation).
    """
    X = as_tensor(X)
    check_one_hot(X, allow_all_n=True)
    N, A, L = X.shape
    end = L if end is None else (end if end >= 0 else L + end + 1)
    if not 0 <= start < end <= L:
        raise InputError(f"ISM window [{start}, {end}) must lie within [0, {L}) and be "
                         f"non-empty.")
    W = end - start
    arg_list = [as_tensor(a, f"args[{i}]") for i, a in enumerate(args or [])]
    for i, a in enumerate(arg_list):
        if a.shape[0] != N:
            raise InputError(f"args[{i}] has {a.shape[0]} rows but X has {N}.")
    Xi8 = X.to(torch.int8)
    y0 = predict(model, Xi8, args=arg_list or None, batch_size=batch_size, device=device,
                 dtype=dtype)
    if not isinstance(y0, torch.Tensor):
        if not raw_outputs:
            raise InputError("saturation_mutagenesis needs a model with one output tensor; wrap "
                             "(profile, counts) models in CountWrapper or ProfileWrapper, or "
                             "pass raw_outputs=True.")
    def _slot(y0_i):
        return y0_i[None, None].expand(A, W, *y0_i.shape).clone()

    y_hat = []
    for i in progress(range(N), desc="ISM", enabled=verbose, unit="seq"):
        bases, positions = _edits(Xi8[i], start, end)
        n = bases.shape[0]
        edited = Xi8[i].expand(n, A, L).clone()
        rows = torch.arange(n)
        edited[rows, :, positions] = 0
        edited[rows, bases, positions] = 1
        a_i = [a[i:i + 1].expand(n, *a.shape[1:]) for a in arg_list]
        if n:
            y_e = predict(model, edited, args=a_i or None, batch_size=batch_size,
                          device=device, dtype=dtype)
        if isinstance(y0, torch.Tensor):
            slot = _slot(y0[i])
            if n:
                slot[bases, positions - start] = y_e
        else:
            slot = tuple(_slot(t[i]) for t in y0)
            if n:
                for s, ye in zip(slot, y_e, strict=True):
                    s[bases, positions - start] = ye
        y_hat.append(slot)

    if isinstance(y0, torch.Tensor):
        y_hat = torch.stack(y_hat)
    else:
        y_hat = tuple(torch.stack(parts) for parts in zip(*y_hat, strict=True))
    if raw_outputs:
        return y0, y_hat
    if y_hat.ndim == 3:
        y_hat, y0 = y_hat[..., None], y0[:, None]
    diff = y_hat - y0[:, None, None]
    diff = diff - diff.mean(dim=1, keepdim=True)
    if target is not None:
        scores = diff[..., target]
        while scores.ndim > 3:
            scores = scores.mean(dim=-1)
    else:
        scores = diff.mean(dim=tuple(range(3, diff.ndim)))
    if hypothetical:
        return scores
    return scores * X[:, :, start:end].to(scores.dtype)
