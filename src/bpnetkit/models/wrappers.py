"""Wrappers that turn a two-output model into a single-output one (for attribution, design)."""

from __future__ import annotations

import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.models.base import RCPermutation, rc_permutation
from bpnetkit.models.layers import SoftmaxWeighting, softmax_weighted

__all__ = ["ControlWrapper", "CountWrapper", "ProfileWrapper", "TaskWrapper",
           "predicted_track", "softmax_weighted"]


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
    with the softmax weights detached (the usual BPNet profile attribution target). The
    weighting is the module ``scaling`` (a :class:`~bpnetkit.models.layers.SoftmaxWeighting`,
    bpnet-lite's attribute name): hook-based DeepLIFT tools must register its type with their
    elementwise rescale rule (see :mod:`bpnetkit.models.layers`).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.flatten = nn.Flatten()
        self.scaling = SoftmaxWeighting()

    def forward(self, X: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        """Softmax-weighted sum of mean-centred profile logits, shape ``(N, 1)``."""
        flat = self.flatten(self.model(X, *args)[0])
        centred = flat - flat.mean(dim=-1, keepdim=True)
        return self.scaling(centred).sum(dim=-1, keepdim=True)


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


class TaskWrapper(nn.Module):
    """Keep only some profile channels and count columns of a (profile, counts) model.

    Parameters
    ----------
    model : nn.Module
        A model returning ``(profile_logits (N, C, L), log_counts (N, K))``.
    channels : sequence of int
        Profile channels to keep (e.g. one task's strands, or one strand).
    count_columns : sequence of int or None
        Count columns to keep; None keeps them all (a model with one total count).

    Examples
    --------
    >>> m = original_bpnet(["Oct4", "Sox2"])  # doctest: +SKIP
    >>> sox2 = TaskWrapper(m, m.task_channels("Sox2"), m.task_channels("Sox2"))  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, channels, count_columns=None) -> None:
        super().__init__()
        self.model = model
        self.channels = [int(c) for c in channels]
        self.count_columns = None if count_columns is None else [int(c) for c in count_columns]

    @property
    def n_control_tracks(self) -> int:
        """Control tracks of the wrapped model."""
        return getattr(self.model, "n_control_tracks", 0)

    def rc_permutation(self) -> RCPermutation | None:
        """The wrapped model's reverse-complement map restricted to the kept tracks.

        None when the wrapped model declares none. Raises :class:`InputError` when a kept
        track's reverse-complement partner is not kept (e.g. one strand of a pair).
        """
        inner = rc_permutation(self.model)
        if inner is None:
            return None

        def restrict(perm: tuple[int, ...], keep: list[int], what: str) -> tuple[int, ...]:
            pos = {c: i for i, c in enumerate(keep)}
            missing = [c for c in keep if perm[c] not in pos]
            if missing:
                raise InputError(f"TaskWrapper keeps {what} {keep}, but the reverse-complement "
                                 f"partner of {what} {missing} is not kept; keep both strands "
                                 f"of a pair to reverse-complement average.")
            return tuple(pos[perm[c]] for c in keep)

        counts = inner.counts if self.count_columns is None else \
            restrict(inner.counts, self.count_columns, "count columns")
        return RCPermutation(profile=restrict(inner.profile, self.channels, "channels"),
                             counts=counts, controls=inner.controls)

    def forward(self, X: torch.Tensor, *args: torch.Tensor):
        """Selected ``(profile_logits, log_counts)`` of the wrapped model."""
        profile, counts = self.model(X, *args)
        profile = profile[:, self.channels]
        if self.count_columns is not None:
            counts = counts[:, self.count_columns]
        return profile, counts
