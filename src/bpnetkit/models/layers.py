"""Nonlinearities as modules, so hook-based attribution tools (tangermeme, captum) see them.

Hook-based DeepLIFT implementations find nonlinearities by *module type* and replace their
gradient by the rescale multiplier ``(f(x) - f(r)) / (x - r)``; an operation computed with a
plain function inside ``forward`` is invisible to them and silently treated as linear. Every
bpnetkit model therefore computes each nonlinearity with its own module instance, created in
``__init__`` (one instance per use, since the hooks store the inputs of one call).

``nn.ReLU`` is known to every tool. The modules below are elementwise too, and need the
tool's generic elementwise rescale rule registered for their type:

- tangermeme: ``deep_lift_shap(..., additional_nonlinear_ops={Exp: _nonlinear, Log:
  _nonlinear, SoftmaxWeighting: _nonlinear})`` with ``from tangermeme.deep_lift_shap import
  _nonlinear``;
- captum: ``captum.attr._core.deep_lift.SUPPORTED_NON_LINEAR[Exp] = deep_lift.nonlinear``
  (and the same for ``Log`` and ``SoftmaxWeighting``).

bpnetkit's own :func:`bpnetkit.interpret.deep_lift_shap` needs no registration.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Exp", "Log", "SoftmaxWeighting", "softmax_weighted"]


class Exp(nn.Module):
    """``exp`` as a module (elementwise)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``exp(x)``."""
        return torch.exp(x)


class Log(nn.Module):
    """``log`` as a module (elementwise)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``log(x)``."""
        return torch.log(x)


def softmax_weighted(x: torch.Tensor) -> torch.Tensor:
    """``x * softmax(x)`` along the last axis, the softmax weights detached.

    Its gradient is the softmax weights. It is an overridable torch function (see
    ``torch.overrides``), so attribution methods treat it as one elementwise nonlinearity:
    DeepLIFT's rescale rule applies to it as a whole, which keeps summation-to-delta exact
    for :class:`bpnetkit.models.wrappers.ProfileWrapper` targets.
    """
    if torch.overrides.has_torch_function((x,)):
        return torch.overrides.handle_torch_function(softmax_weighted, (x,), x)
    return x * torch.softmax(x, dim=-1).detach()


class SoftmaxWeighting(nn.Module):
    """:func:`softmax_weighted` as a module.

    DeepLIFT rule: the elementwise rescale rule applied to the whole op (output ``i`` depends
    on input ``i`` through the secant; the detached softmax weights make this exact for the
    sum over positions that :class:`~bpnetkit.models.wrappers.ProfileWrapper` returns).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x * softmax(x).detach()`` along the last axis."""
        return softmax_weighted(x)
