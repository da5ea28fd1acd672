"""Design targets: one value per sequence from a (profile, counts) model.

:func:`make_target` builds the usual ones: total log counts, the log of the predicted track
summed over an output window and strands, the log strand ratio (plus over minus, e.g. for
ProCapNet) and the BPNet profile score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.models.wrappers import ControlWrapper, ProfileWrapper

__all__ = ["make_target"]


def make_target(model: Any, kind: str = "counts", output_mask: Any = None,
                strands: Sequence[int] | None = None) -> nn.Module:
    """A module mapping one-hot sequences to one design value per sequence.

    Parameters
    ----------
    model : torch.nn.Module
        A model returning ``(profile_logits (N, S, L_out), log_counts (N, T))``; models that
        expect control tracks get zeros.
    kind : {"counts", "track", "strand_ratio", "profile"}
        ``counts``: total log counts (log-sum-exp over count outputs). ``track``: log of the
        predicted track (joint softmax over strands and positions times counts) summed over
        ``output_mask`` positions and ``strands``. ``strand_ratio``: log of the predicted signal
        on strand 0 over strand 1 within ``output_mask``. ``profile``: the BPNet profile score
        (softmax-weighted mean-centred logits).
    output_mask : (start, end), boolean array of length L_out, or None
        Output positions that count (None: all).
    strands : sequence of int or None
        Profile tracks summed by ``track`` (None: all).

    Returns
    -------
    torch.nn.Module
        ``forward(X) -> (N,)``.
    """
    base = model.eval()
    if getattr(base, "n_control_tracks", 0) > 0:
        base = ControlWrapper(base)
    if kind not in ("counts", "track", "strand_ratio", "profile"):
        raise InputError(f"unknown design target {kind!r}; use 'counts', 'track', "
                         f"'strand_ratio' or 'profile'.")

    def mask_for(L: int, device):
        if output_mask is None:
            return torch.ones(L, dtype=torch.bool, device=device)
        m = np.asarray(output_mask)
        if m.dtype == bool:
            if len(m) != L:
                raise InputError(f"output_mask has {len(m)} entries but the model predicts "
                                 f"{L} positions.")
            return torch.as_tensor(m, device=device)
        if m.shape != (2,) or not 0 <= m[0] < m[1] <= L:
            raise InputError(f"output_mask must be [start, end) within the {L} output "
                             f"positions or a boolean array; got {output_mask!r}.")
        out = torch.zeros(L, dtype=torch.bool, device=device)
        out[int(m[0]):int(m[1])] = True
        return out

    class _Target(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = base
            self.profile = ProfileWrapper(base)

        def forward(self, X):
            if kind == "profile":
                return self.profile(X).reshape(-1)
            logits, log_counts = self.model(X)[:2]
            total = torch.logsumexp(log_counts.reshape(X.shape[0], -1), dim=1)
            if kind == "counts":
                return total
            N, S, L = logits.shape
            m = mask_for(L, logits.device)
            logp = torch.log_softmax(logits.reshape(N, -1), dim=-1).reshape(N, S, L)
            if kind == "strand_ratio":
                if S != 2:
                    raise InputError(f"strand_ratio needs a two-track (stranded) model; this "
                                     f"one predicts {S} track(s).")
                return (torch.logsumexp(logp[:, 0, m], dim=-1)
                        - torch.logsumexp(logp[:, 1, m], dim=-1))
            tracks = list(range(S)) if strands is None else list(strands)
            sel = logp[:, tracks][:, :, m].reshape(N, -1)
            return torch.logsumexp(sel, dim=-1) + total

    return _Target()
