"""Faster CPU inference for BPNet towers: oneDNN convolution + ReLU fused, channels-last.

:func:`fused_view` returns a stand-in for a model in which every valid-padding,
post-residual :class:`BPNet` computes its tower (``embed``) with oneDNN's fused convolution +
ReLU on channels-last activations and adds the residual in place; this removes the separate
ReLU pass and the layout reorders. Its profile convolution (few output channels, a wide
kernel: a shape oneDNN computes at a few GFLOP/s) runs as one GEMM against all taps at once,
``P = x^T W`` with ``W`` of shape ``(C, taps * outputs)`` padded to a multiple of 16 columns,
followed by a sum of ``P``'s shifted diagonals (:func:`gemm_conv1d`). The stand-in is made of
shallow copies of the modules on the path to those BPNets: it shares every parameter, buffer
and hook with the model, and the model object itself is never modified. Everything else
(heads, controls, ChromBPNet's combination) is the model's own code. Values equal the plain
computation up to float rounding. Meant only for inference (inside ``torch.inference_mode``)
on the CPU.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["fused_view", "fused_towers_work", "gemm_conv1d", "gemm_eligible", "gemm_view",
           "shadow_bpnets", "tower_eligible"]


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


def gemm_conv1d(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a valid, undilated ``conv`` as one GEMM and a sum of shifted diagonals.

    ``P[n, t, k * O + o] = sum_c x[n, c, t] w[o, c, k]`` is one matrix product over all taps
    ``k`` and outputs ``o``; then ``y[n, o, t] = b[o] + sum_k P[n, t + k, k * O + o]``. This
    pays when the output channels are few and the kernel wide (the profile head), where a
    direct convolution cannot use the vector units. ``x`` may be channels-first or
    channels-last (``(N, C, L)`` with ``C`` the fastest axis); the output is channels-last.
    Meant for inference: where autograd would record the call, this is ``conv1d`` itself.
    """
    w = conv.weight
    if torch.is_grad_enabled() and (w.requires_grad or x.requires_grad):  # for inference only
        return torch.nn.functional.conv1d(x, w, conv.bias)
    O, C, K = w.shape
    cols = -(-K * O // 16) * 16  # padded to whole vector registers: a much faster GEMM
    W = w.new_zeros(C, cols)
    W[:, :K * O] = w.permute(1, 2, 0).reshape(C, K * O)
    y = _diagonal_sums(torch.matmul(x.transpose(1, 2), W), O, K)
    if conv.bias is not None:
        y += conv.bias
    return y.transpose(1, 2)


def _diagonal_sums(P: torch.Tensor, O: int, K: int) -> torch.Tensor:
    """``y[n, t, o] = sum_k P[n, t + k, k * O + o]`` for ``P`` ``(N, L, cols)`` contiguous."""
    N, L, cols = P.shape
    return P.as_strided((N, L - K + 1, O, K), (L * cols, cols, 1, cols + O)).sum(3)


def gemm_eligible(c: nn.Module, dtypes: tuple[torch.dtype, ...] = (torch.float32,)) -> bool:
    """Whether :func:`gemm_conv1d` should compute ``c``: a plain valid, undilated ``Conv1d``
    on the CPU with weights of one of ``dtypes`` and few outputs per tap (``out_channels *
    kernel_size <= 4 * in_channels``, so the GEMM's output is not much larger than its input).
    """
    return (type(c) is nn.Conv1d and c.padding_mode == "zeros" and c.padding == (0,)
            and c.stride == (1,) and c.dilation == (1,) and c.groups == 1
            and c.weight.device.type == "cpu" and c.weight.dtype in dtypes
            and c.out_channels * c.kernel_size[0] <= 4 * c.in_channels)


def gemm_view(conv: nn.Conv1d) -> nn.Module:
    """A shallow copy of ``conv`` (same parameters and hooks) computing with :func:`gemm_conv1d`."""
    view = copy.copy(conv)
    view.__dict__["forward"] = functools.partial(gemm_conv1d, conv)
    return view


def tower_eligible(m: nn.Module, dtypes: tuple[torch.dtype, ...] = (torch.float32,)) -> bool:
    """Whether ``m`` is a BPNet whose tower a stand-in may compute (see :func:`shadow_bpnets`).

    True for a valid-padding, post-activation-residual :class:`BPNet` with its own ``embed``,
    plain zero-padding ``Conv1d`` layers with biases, weights of one of ``dtypes`` on the CPU.
    """
    from bpnetkit.models.bpnet import BPNet

    if not isinstance(m, BPNet) or getattr(m, "padding", "valid") != "valid" or \
            m.residual != "post" or "embed" in m.__dict__:
        return False
    convs = [m.iconv, *m.rconvs]
    return all(type(c) is nn.Conv1d and c.padding_mode == "zeros" and c.padding == (0,)
               and c.stride == (1,) and c.groups == 1 and c.bias is not None
               and c.weight.device.type == "cpu" and c.weight.dtype in dtypes
               for c in convs)


def shadow_bpnets(m: nn.Module, make_view: Callable[[nn.Module], nn.Module | None]
                  ) -> nn.Module:
    """``m`` with every sub-module ``b`` for which ``make_view(b)`` returns a stand-in replaced.

    Modules on the path to a replaced one are shallow copies (a new instance dict; their
    parameters, buffers and hooks are shared); ``m`` itself is returned when nothing is
    replaced, and is never modified.
    """
    view = make_view(m)
    if view is not None:
        return view
    children = {name: (shadow_bpnets(c, make_view) if c is not None else None)
                for name, c in m._modules.items()}
    if all(children[name] is c for name, c in m._modules.items()):
        return m
    view = copy.copy(m)
    view.__dict__["_modules"] = children
    return view


def _fused_bpnet(m: nn.Module, op: Callable) -> nn.Module | None:
    if not tower_eligible(m):
        return None
    view = copy.copy(m)  # a new instance dict; parameters, buffers and hooks are shared
    view.__dict__["embed"] = _fused_embed(m, op)
    fconv = getattr(m, "fconv", None)
    if fconv is not None and gemm_eligible(fconv):
        view.__dict__["_modules"] = {**m._modules, "fconv": gemm_view(fconv)}
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
    return shadow_bpnets(model, functools.partial(_fused_bpnet, op=op))


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
