"""Wrappers that turn a two-output model into a single-output one (for attribution, design)."""

from __future__ import annotations

import torch
from torch import nn


class ControlWrapper(nn.Module):
    """Pass all-zero control tracks to a model that expects them when none are given."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X: torch.Tensor, X_ctl: torch.Tensor | None = None):
        """Call the wrapped model, with zero controls when ``X_ctl`` is None."""
        n_ctl = getattr(self.model, "n_control_tracks", 0)
        if X_ctl is None and n_ctl > 0:
            X_ctl = torch.zeros(X.shape[0], n_ctl, X.shape[2], dtype=X.dtype, device=X.device)
        if n_ctl > 0:
            return self.model(X, X_ctl)
        return self.model(X)


class CountWrapper(nn.Module):
    """Return only the log counts ``(N, 1)`` of a (profile, counts) model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        """Log counts of the wrapped model."""
        return self.model(X, *args)[1]


class ProfileWrapper(nn.Module):
    """Reduce profile logits to one scalar per example.

    The score is ``sum(softmax(l) * (l - mean(l)))`` over positions and strands jointly,
    with the softmax weights detached (the usual BPNet profile attribution target).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        """Softmax-weighted sum of mean-centred profile logits, shape ``(N, 1)``."""
        logits = self.model(X, *args)[0]
        flat = logits.reshape(logits.shape[0], -1)
        centred = flat - flat.mean(dim=-1, keepdim=True)
        weights = torch.softmax(centred, dim=-1).detach()
        return (centred * weights).sum(dim=-1, keepdim=True)


def predicted_track(profile_logits: torch.Tensor, log_counts: torch.Tensor,
                    joint_strands: bool = True) -> torch.Tensor:
    """Expected signal: ``softmax(profile_logits) * exp(log_counts)``.

    Parameters
    ----------
    profile_logits : torch.Tensor
        ``(N, S, L)`` logits.
    log_counts : torch.Tensor
        ``(N, 1)`` total log counts (or ``(N, S)`` per strand when ``joint_strands`` is
        False).
    joint_strands : bool
        Softmax jointly over strands and positions (bpnet-lite, ProCapNet) rather than per
        strand.

    Returns
    -------
    torch.Tensor
        ``(N, S, L)`` predicted counts per position.
    """
    N, S, L = profile_logits.shape
    if joint_strands:
        probs = torch.softmax(profile_logits.reshape(N, -1), dim=-1).reshape(N, S, L)
        return probs * torch.exp(log_counts.reshape(N, 1, 1))
    probs = torch.softmax(profile_logits, dim=-1)
    return probs * torch.exp(log_counts.reshape(N, -1, 1))
