"""Loss functions of BPNet-family models.

Profile loss: the multinomial negative log-likelihood of the observed per-position counts
given the predicted logits, *including* the factorial (normalising) terms, so that the value
is the true negative log-probability and comparable across models:

.. math::

    \\mathrm{MNLL}(y, \\ell) = -\\log\\Gamma(n + 1) + \\sum_i \\log\\Gamma(y_i + 1)
                             - \\sum_i y_i \\log p_i, \\qquad p = \\mathrm{softmax}(\\ell),
                             \\; n = \\sum_i y_i.

Counts loss: the squared error between the predicted log counts and ``log(1 + total)``.

Both losses are averaged over examples. The total training loss is
``profile + count_weight * counts``.
"""

from __future__ import annotations

import torch

__all__ = ["multinomial_nll", "log1p_mse", "bpnet_loss", "count_weight_from_counts"]


def _flatten_for_softmax(logits: torch.Tensor, counts: torch.Tensor, joint_strands: bool
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reshape ``(N, S, L)`` tensors to ``(N*, K)`` rows over which the softmax is taken."""
    if logits.shape != counts.shape:
        raise ValueError(f"profile logits {tuple(logits.shape)} and observed counts "
                         f"{tuple(counts.shape)} must have the same shape.")
    if logits.ndim == 2:
        return logits, counts
    if logits.ndim != 3:
        raise ValueError(f"expected (N, S, L) profiles, got shape {tuple(logits.shape)}.")
    N, S, L = logits.shape
    if joint_strands:
        return logits.reshape(N, S * L), counts.reshape(N, S * L)
    return logits.reshape(N * S, L), counts.reshape(N * S, L)


def multinomial_nll(logits: torch.Tensor, counts: torch.Tensor, joint_strands: bool = True,
                    reduction: str = "mean") -> torch.Tensor:
    """Multinomial negative log-likelihood with factorial terms.

    Parameters
    ----------
    logits : torch.Tensor
        ``(N, S, L)`` profile logits (or ``(N, K)``).
    counts : torch.Tensor
        Observed counts, same shape.
    joint_strands : bool
        One multinomial over all strands and positions (bpnet-lite, ProCapNet) rather than
        one per strand (original BPNet); with per-strand softmax the per-strand NLLs are
        summed per example.
    reduction : {"mean", "none", "sum"}
        Mean over examples, per-example values ``(N,)`` or their sum.

    Returns
    -------
    torch.Tensor
        The loss (scalar or ``(N,)``).
    """
    N = logits.shape[0]
    lg, y = _flatten_for_softmax(logits, counts, joint_strands)
    y = y.to(lg.dtype)
    log_p = torch.log_softmax(lg, dim=-1)
    n = y.sum(dim=-1)
    nll = (-torch.lgamma(n + 1) + torch.lgamma(y + 1).sum(dim=-1)
           - (y * log_p).sum(dim=-1))
    nll = nll.reshape(N, -1).sum(dim=-1)
    if reduction == "mean":
        return nll.mean()
    if reduction == "sum":
        return nll.sum()
    if reduction == "none":
        return nll
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")


def log1p_mse(log_counts: torch.Tensor, counts: torch.Tensor, reduction: str = "mean"
              ) -> torch.Tensor:
    """Squared error between predicted log counts and ``log(1 + observed total)``.

    Parameters
    ----------
    log_counts : torch.Tensor
        ``(N, 1)`` predicted log counts (or ``(N, T)`` per task).
    counts : torch.Tensor
        Either observed profiles ``(N, S, L)`` (summed over strands and positions when
        ``log_counts`` has one column, over positions otherwise) or totals of the same shape
        as ``log_counts``.
    reduction : {"mean", "none", "sum"}
        Mean over examples (and columns), per-example values or their sum.
    """
    if counts.ndim == 3:
        if log_counts.shape[-1] == 1:
            total = counts.sum(dim=(1, 2)).unsqueeze(-1)
        else:
            total = counts.sum(dim=2)
    else:
        total = counts
    total = total.to(log_counts.dtype)
    if total.shape != log_counts.shape:
        raise ValueError(f"log counts {tuple(log_counts.shape)} do not match observed totals "
                         f"{tuple(total.shape)}.")
    err = (log_counts - torch.log1p(total)) ** 2
    if reduction == "mean":
        return err.mean()
    if reduction == "sum":
        return err.sum()
    if reduction == "none":
        return err.mean(dim=-1)
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")


def bpnet_loss(logits: torch.Tensor, log_counts: torch.Tensor, counts: torch.Tensor,
               count_weight: float = 1.0, joint_strands: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total loss ``profile + count_weight * counts`` and its two parts.

    Returns
    -------
    (total, profile, counts) : tuple of scalar tensors
    """
    prof = multinomial_nll(logits, counts, joint_strands=joint_strands)
    cnt = log1p_mse(log_counts, counts)
    return prof + count_weight * cnt, prof, cnt


def count_weight_from_counts(totals, rule: str = "chrombpnet") -> float:
    """Automatic count-loss weight from observed total counts per region.

    Parameters
    ----------
    totals : array-like
        Total counts (over strands and positions) of the training regions.
    rule : {"chrombpnet", "mean"}
        ``"chrombpnet"``: ``max(median / 10, 1)`` (official ChromBPNet training code);
        ``"mean"``: the mean of ``totals`` (bpnet-lite's command-line default when given
        per-track totals).
    """
    import numpy as np

    totals = np.asarray(totals, dtype=np.float64)
    if totals.size == 0:
        raise ValueError("cannot derive a count weight from zero regions.")
    if rule == "chrombpnet":
        return float(max(np.median(totals) / 10.0, 1.0))
    if rule == "mean":
        return float(max(totals.mean(), 1e-8))
    raise ValueError(f"unknown count-weight rule {rule!r}; use 'chrombpnet' or 'mean'.")
