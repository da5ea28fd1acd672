"""Faster CPU inference for BPNet towers: oneDNN convolution + ReLU fused, channels-last.

:func:`fused_view` returns a stand-in for a model in which every valid-padding,
post-residual :class:`BPNet` computes its tower (``embed``) with oneDNN's fused convolution +
ReLU on channels-last activations and adds the residual in place; this removes the separate
ReLU pass and the layout reorders. The stand-in is made of shallow copies of the modules on
the path to those BPNets: it shares every parameter, buffer and hook with the model, and the
model object itself is never modified. Everything after the tower (heads, controls,
ChromBPNet's combination) is the model's own code. Values equal the plain computation up to
float rounding. Meant only for inference (inside ``torch.inference_mode``) on the CPU.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["fused_view", "fused_towers_work"]


def _fused_op() -> Callable | None:
    mk = getattr(torch.ops, "mkldnn", None)
    if mk is None:
        return None
    try:
        return mk._convolution_pointwise
    except (AttributeError, RuntimeError):  # torch built without oneDNN
        return None


def _conv_relu(op: Callable, conv: nn.Conv1d, x4: torch.Tensor) -> torch.Tensor:
    return op(x4, conv.weight.unsqueeze(2), conv.bias, [0, int(conv.padding[0])],
              [1, int(conv.stride[0])], [1, int(conv.dilation[0])], int(conv.groups), "relu",
              [], "")


def _fused_embed(model: nn.Module, op: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    def embed(X: torch.Tensor) -> torch.Tensor:
        x4 = X.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        h = _conv_relu(op, model.iconv, x4)
        for conv in model.rconvs:
            d = conv.dilation[0]
            y = _conv_relu(op, conv, h)
            y += h[..., d:h.shape[3] - d]
            h = y
        return h.squeeze(2)
    return embed


def _eligible(m: nn.Module) -> bool:
    from bpnetkit.models.bpnet import BPNet

    if not isinstance(m, BPNet) or getattr(m, "padding", "valid") != "valid" or \
            m.residual != "post" or "embed" in m.__dict__:
        return False
    convs = [m.iconv, *m.rconvs]
    return all(type(c) is nn.Conv1d and c.padding_mode == "zeros" and c.padding == (0,)
               and c.stride == (1,) and c.groups == 1 and c.bias is not None
               and c.weight.device.type == "cpu" and c.weight.dtype == torch.float32
               for c in convs)


def _shadow(m: nn.Module, op: Callable) -> nn.Module:
    """``m`` itself when nothing below it is eligible, else a shallow copy using fused towers."""
    if _eligible(m):
        view = copy.copy(m)  # a new instance dict; parameters, buffers and hooks are shared
        view.__dict__["embed"] = _fused_embed(m, op)
        return view
    children = {name: (_shadow(c, op) if c is not None else None)
                for name, c in m._modules.items()}
    if all(children[name] is c for name, c in m._modules.items()):
        return m
    view = copy.copy(m)
    view.__dict__["_modules"] = children
    return view


def fused_view(model: nn.Module, enabled: bool = True) -> nn.Module:
    """A module computing ``model``'s outputs with fused CPU towers, or ``model`` itself.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; BPNets anywhere inside it (e.g. both halves of a ChromBPNet, or a BPNet
        inside wrappers) get the fused tower when eligible (valid padding, post-activation
        residuals, float32 weights on the CPU).
    enabled : bool
        False returns ``model`` unchanged.

    Returns
    -------
    torch.nn.Module
        ``model`` when fusion is disabled, unavailable or nothing is eligible; otherwise a
        stand-in sharing all parameters with ``model``. ``model`` is never modified.
    """
    op = _fused_op() if enabled else None
    if op is None:
        return model
    return _shadow(model, op)


def fused_towers_work() -> bool:
    """Whether this torch build runs the fused op (checked once on a tiny input)."""
    global _WORKS
    if _WORKS is None:
        op = _fused_op()
        if op is None:
            _WORKS = False
            return _WORKS
        # the probe draws random numbers: keep the caller's global RNG stream untouched
        with torch.random.fork_rng(devices=[]):
            conv = nn.Conv1d(2, 2, 3)
            try:
                with torch.inference_mode():
                    x = torch.rand(1, 2, 1, 8).contiguous(memory_format=torch.channels_last)
                    y = _conv_relu(op, conv, x).squeeze(2)
                    _WORKS = bool(torch.allclose(y, torch.relu(conv(x.squeeze(2))), atol=1e-6))
            except (RuntimeError, NotImplementedError):  # the op exists but cannot run here
                _WORKS = False
    return _WORKS


_WORKS: bool | None = None
