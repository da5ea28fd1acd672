"""Faster CPU inference for BPNet towers: oneDNN convolution + ReLU fused, channels-last.

Inside :func:`fused_bpnet_towers` every valid-padding, post-residual :class:`BPNet` found in
a model computes its tower (``embed``) with oneDNN's fused convolution + ReLU on channels-last
activations and adds the residual in place, which removes the separate ReLU pass and the
layout reorders. Everything after the tower (heads, controls, ChromBPNet's combination) is
the model's own code. Values equal the plain computation up to float rounding. Used only
without gradients (inside ``torch.inference_mode``) on the CPU; anything else is untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def _fused_op():
    mk = getattr(torch.ops, "mkldnn", None)
    try:
        return mk._convolution_pointwise if mk is not None else None
    except (AttributeError, RuntimeError):
        return None


def _conv_relu(op, conv: nn.Conv1d, x4: torch.Tensor) -> torch.Tensor:
    return op(x4, conv.weight.unsqueeze(2), conv.bias, [0, int(conv.padding[0])],
              [1, int(conv.stride[0])], [1, int(conv.dilation[0])], int(conv.groups), "relu",
              [], "")


def _make_embed(model, op):
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
            m.residual != "post":
        return False
    convs = [m.iconv, *m.rconvs]
    return all(type(c) is nn.Conv1d and c.padding_mode == "zeros" and c.padding == (0,)
               and c.stride == (1,) and c.groups == 1 and c.bias is not None
               and c.weight.device.type == "cpu" and c.weight.dtype == torch.float32
               for c in convs)


@contextlib.contextmanager
def fused_bpnet_towers(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Temporarily give every eligible BPNet in ``model`` the fused CPU tower."""
    op = _fused_op() if enabled else None
    patched = []
    if op is not None:
        for m in model.modules():
            if _eligible(m) and "embed" not in m.__dict__:
                m.embed = _make_embed(m, op)
                patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.embed


def fused_towers_work() -> bool:
    """Whether this torch build runs the fused op (checked once on a tiny input)."""
    global _WORKS
    if _WORKS is None:
        op = _fused_op()
        try:
            conv = nn.Conv1d(2, 2, 3)
            with torch.inference_mode():
                x = torch.rand(1, 2, 1, 8).contiguous(memory_format=torch.channels_last)
                y = _conv_relu(op, conv, x).squeeze(2)
                _WORKS = bool(torch.allclose(y, torch.relu(conv(x.squeeze(2))), atol=1e-6))
        except Exception:  # noqa: BLE001 - any failure means "do not use it"
            _WORKS = False
    return _WORKS


_WORKS: bool | None = None
