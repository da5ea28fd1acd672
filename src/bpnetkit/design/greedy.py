"""Greedy design: apply the best single edit per round until no edit helps.

Every candidate edit of the current sequence (every single-base substitution, or every
placement of each motif of a list in both orientations) is evaluated in batches; the best one
is kept, and this repeats until the improvement falls below ``tol`` or ``max_edits`` edits
were made. Only the target's values are used, so non-differentiable targets work too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from bpnetkit.errors import InputError
from bpnetkit.io.fasta import ALPHABET, one_hot_decode, one_hot_encode
from bpnetkit.utils import progress as progress_bar
from bpnetkit.utils import resolve_device

__all__ = ["greedy_design"]


def _motif_onehots(motifs: Sequence[Any]) -> list[tuple[str, np.ndarray]]:
    """(name, (4, k) one-hot) for each motif and its reverse complement."""
    out = []
    for k, m in enumerate(motifs):
        if isinstance(m, str):
            s = m.upper()
            if not s or set(s) - set(ALPHABET):
                raise InputError(f"motif {k} ({m!r}) must be a non-empty A/C/G/T string.")
            name, oh = s, one_hot_encode(s)
        else:
            arr = np.asarray(m, dtype=float)
            if arr.ndim != 2 or 4 not in arr.shape:
                raise InputError(f"motif {k} must be a string or a (4, k) / (k, 4) matrix.")
            arr = arr if arr.shape[0] == 4 else arr.T
            oh = np.zeros_like(arr, dtype=np.int8)
            oh[arr.argmax(axis=0), np.arange(arr.shape[1])] = 1
            name = one_hot_decode(oh)
        out.append((f"{name}:+", oh.astype(np.int8)))
        out.append((f"{name}:-", np.ascontiguousarray(oh[::-1, ::-1]).astype(np.int8)))
    return out


def _candidates(x: np.ndarray, editable: np.ndarray, motifs):
    """List of candidate edits (kind, position, (4, k) one-hot) that change ``x``."""
    L = x.shape[1]
    cands = []
    if motifs is None:
        for pos in np.flatnonzero(editable):
            for b in range(4):
                if x[b, pos] != 1:
                    col = np.zeros((4, 1), dtype=np.int8)
                    col[b, 0] = 1
                    cands.append(("substitution", int(pos), col))
        return cands
    for name, oh in motifs:
        k = oh.shape[1]
        ok = np.convolve(editable.astype(int), np.ones(k, dtype=int), mode="valid") == k
        for pos in np.flatnonzero(ok[:L - k + 1]):
            if not np.array_equal(x[:, pos:pos + k], oh):
                cands.append((f"motif:{name}", int(pos), oh))
    return cands


def greedy_design(target: Callable, X: Any, goal: str | float = "max", max_edits: int = 10,
                  tol: float = 1e-4, input_mask: Any = None, motifs: Sequence[Any] | None = None,
                  batch_size: int = 256, device: Any = None, progress: bool = True
                  ) -> DesignResult:
    """Greedy design: apply the best single edit per round until no edit helps.

    Parameters
    ----------
    target : callable
        One-hot ``(N, 4, L)`` float tensor -> ``(N,)`` values (see :func:`make_target`).
    X : array-like
        ``(N, 4, L)`` or ``(4, L)`` one-hot starting sequences (designed one by one).
    goal : "max", "min" or float
        Maximise, minimise, or bring the value to this number.
    max_edits : int
        Most edits (rounds) per sequence.
    tol : float
        Stop when the best edit improves the goal loss by less than this.
    input_mask : (start, end), boolean array of length L, or None
        Positions that may change; motif placements must lie entirely inside.
    motifs : list of str or matrices, or None
        None: candidates are all single-base substitutions. Otherwise every placement of each
        motif (consensus of a PWM) in both orientations.
    batch_size : int
        Candidates per forward pass.
    device : str, torch.device or None
        None picks CUDA when available.
    progress : bool
        Show a progress bar over rounds.

    Returns
    -------
    DesignResult
    """
    check_goal(goal)
    X = one_hot_batch(X)
    N, _, L = X.shape
    editable = editable_positions(input_mask, L)
    motif_list = None if motifs is None else _motif_onehots(motifs)
    dev = resolve_device(device)
    if isinstance(target, torch.nn.Module):
        target = target.to(dev).eval()
    out = X.copy()
    initial = np.empty(N)
    final = np.empty(N)
    edits: list[dict] = []
    for i in range(N):
        x = out[i]
        value = float(target_values(target, x[None], 1, dev)[0])
        initial[i] = value
        loss = float(goal_loss(torch.tensor([value]), goal)[0])
        rounds = progress_bar(range(max_edits), desc=f"greedy design {i}", enabled=progress)
        for r in rounds:
            cands = _candidates(x, editable, motif_list)
            if not cands:
                break
            best = (np.inf, -1, np.nan)
            for a in range(0, len(cands), batch_size):
                part = cands[a:a + batch_size]
                batch = np.repeat(x[None], len(part), axis=0)
                for j, (_, pos, oh) in enumerate(part):
                    batch[j, :, pos:pos + oh.shape[1]] = oh
                vals = target_values(target, batch, batch_size, dev)
                losses = goal_loss(vals, goal)
                j = int(torch.argmin(losses))
                if float(losses[j]) < best[0]:
                    best = (float(losses[j]), a + j, float(vals[j]))
            if not loss - best[0] >= tol:
                break
            kind, pos, oh = cands[best[1]]
            k = oh.shape[1]
            edits.append({"sequence": i, "round": r + 1, "kind": kind, "position": pos,
                          "ref": one_hot_decode(x[:, pos:pos + k]), "alt": one_hot_decode(oh),
                          "value": best[2]})
            x[:, pos:pos + k] = oh
            loss, value = best[0], best[2]
        final[i] = value
    return DesignResult(out, initial, final, edits)
