"""Gradient-based design of a relaxed sequence with an edit penalty (in the spirit of Ledidi).

Discrete sequences are drawn from logits with the Gumbel-softmax trick and a straight-through
estimator; the loss is the goal loss plus ``edit_penalty`` times the number of edits, and the
best discrete sequence seen is returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from bpnetkit.design.base import (
    DesignResult,
    check_goal,
    editable_positions,
    goal_loss,
    one_hot_batch,
    target_values,
)
from bpnetkit.io.fasta import one_hot_decode
from bpnetkit.utils import progress as progress_bar
from bpnetkit.utils import resolve_device

__all__ = ["gradient_design"]


@contextlib.contextmanager
def _frozen(target: Any) -> Iterator[None]:
    """Turn off ``requires_grad`` of a module's parameters; restore it afterwards."""
    params = [p for p in getattr(target, "parameters", list)() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def gradient_design(target: Callable, X: Any, goal: str | float = "max",
                    edit_penalty: float = 0.1, max_edits: int | None = None, n_iter: int = 200,
                    learning_rate: float = 0.5, temperature: float = 1.0, n_samples: int = 16,
                    init_weight: float = 3.0, input_mask: Any = None, patience: int | None = None,
                    random_state: int = 0, device: Any = None, progress: bool = True
                    ) -> DesignResult:
    """Gradient-based design of a relaxed sequence with an edit penalty (Ledidi-like).

    The sequence is represented by logits ``theta (4, L)`` initialised to
    ``init_weight * X``. Each iteration draws ``n_samples`` discrete sequences by the
    Gumbel-softmax trick with a straight-through estimator (the forward pass sees one-hot
    sequences, gradients flow through the softmax), computes
    ``goal_loss(target(sample)) + edit_penalty * n_edits(sample)`` and takes an Adam step.
    Positions outside ``input_mask`` are kept. The discrete sample with the lowest loss seen
    (the start sequence included, so the result is never worse than no edit) is returned.

    Parameters
    ----------
    target : callable
        Differentiable ``(N, 4, L)`` -> ``(N,)`` (see :func:`make_target`).
    X : array-like
        ``(N, 4, L)`` or ``(4, L)`` one-hot start sequences (designed one by one).
    goal : "max", "min" or float
        What to do with the target.
    edit_penalty : float
        Loss per edited position.
    max_edits : int or None
        Samples with more edits are never returned.
    n_iter, learning_rate, temperature, n_samples, init_weight
        Optimisation settings.
    input_mask : (start, end), boolean array, or None
        Positions that may change.
    patience : int or None
        Stop after this many iterations without a better sample (None: run ``n_iter``).
    random_state : int
        Seed of the Gumbel noise.
    device : str, torch.device or None
        None picks CUDA when available.
    progress : bool
        Show a progress bar.

    Returns
    -------
    DesignResult
        Edits are per-position substitutions (``round`` 0).
    """
    check_goal(goal)
    X = one_hot_batch(X)
    N, _, L = X.shape
    editable = editable_positions(input_mask, L)
    dev = resolve_device(device)
    if isinstance(target, torch.nn.Module):
        target = target.to(dev).eval()
    gen = torch.Generator(device="cpu").manual_seed(int(random_state))
    out = X.copy()
    initial = np.empty(N)
    final = np.empty(N)
    edits: list[dict] = []
    mask_t = torch.as_tensor(editable, device=dev)
    with _frozen(target):  # gradients flow to the sequence only
        for i in range(N):
            x0 = torch.as_tensor(X[i], dtype=torch.float32, device=dev)
            v0 = float(target_values(target, x0[None], 1, dev)[0])
            initial[i] = v0
            best_loss = float(goal_loss(torch.tensor([v0]), goal)[0])
            best_x, best_v = x0.clone(), v0
            theta = (init_weight * x0).clone().requires_grad_(True)
            opt = torch.optim.Adam([theta], lr=learning_rate)
            stale = 0
            for _ in progress_bar(range(n_iter), desc=f"gradient design {i}",
                                  enabled=progress):
                u = torch.rand((n_samples, 4, L), generator=gen).to(dev).clamp_(1e-9, 1 - 1e-9)
                g = -torch.log(-torch.log(u))
                soft = torch.softmax((theta[None] + g) / temperature, dim=1)
                hard = torch.nn.functional.one_hot(soft.argmax(dim=1), 4).permute(0, 2, 1).float()
                y = hard - soft.detach() + soft
                y = torch.where(mask_t[None, None], y, x0[None])
                n_edits = (1 - (y * x0[None]).sum(dim=1)).sum(dim=1)  # forward: exact edit count
                vals = torch.as_tensor(target(y)).reshape(-1)
                per_sample = goal_loss(vals, goal) + edit_penalty * n_edits
                opt.zero_grad()
                per_sample.mean().backward()
                opt.step()
                with torch.no_grad():
                    ok = torch.ones_like(per_sample, dtype=torch.bool)
                    if max_edits is not None:
                        ok = n_edits.round() <= max_edits
                    cand = torch.where(ok, per_sample, torch.full_like(per_sample, np.inf))
                    j = int(torch.argmin(cand))
                    if float(cand[j]) < best_loss - 1e-9:
                        best_loss = float(cand[j])
                        best_x = y[j].detach().round().clone()
                        best_v = float(vals[j])
                        stale = 0
                    else:
                        stale += 1
                if patience is not None and stale >= patience:
                    break
            xb = best_x.cpu().numpy().astype(np.int8)
            out[i] = xb
            final[i] = best_v
            for pos in np.flatnonzero((xb != X[i]).any(axis=0)):
                edits.append({"sequence": i, "round": 0, "kind": "substitution",
                              "position": int(pos), "ref": one_hot_decode(X[i][:, pos:pos + 1]),
                              "alt": one_hot_decode(xb[:, pos:pos + 1]), "value": best_v})
    return DesignResult(out, initial, final, edits)
