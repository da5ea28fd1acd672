"""Run 1-D convolutions in the channels-last layout, which oneDNN computes much faster on CPU.

PyTorch stores ``(N, C, L)`` activations channels-first; on CPU every ``conv1d`` then pays for
reordering its input and output into oneDNN's preferred layout. Inside
:func:`channels_last_conv1d` each ``conv1d`` call of any model runs as a ``conv2d`` over a
``(N, C, 1, L)`` channels-last view instead, and returns a ``(N, C, L)`` tensor whose memory is
channels-last, so elementwise ops, slices and the next convolution keep the layout with no
copies. Values are those of ``conv1d`` up to float rounding; the model is not modified.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

_CONV1D = {F.conv1d, torch.conv1d}


def _pair(v, fill):
    if isinstance(v, str):
        return v
    if isinstance(v, (tuple, list)):
        v = v[0]
    return (fill, int(v))


def conv1d_as_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride=1, padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """``conv1d`` computed as a channels-last ``conv2d``; same signature as ``F.conv1d``."""
    unbatched = x.ndim == 2
    if unbatched:
        x = x.unsqueeze(0)
    x4 = x.unsqueeze(2)
    if not x4.is_contiguous(memory_format=torch.channels_last):
        x4 = x4.contiguous(memory_format=torch.channels_last)
    w4 = weight.unsqueeze(2)
    pad = padding if isinstance(padding, str) else _pair(padding, 0)
    y = F.conv2d(x4, w4, bias, _pair(stride, 1), pad, _pair(dilation, 1), groups)
    y = y.squeeze(2)
    return y[0] if unbatched else y


class _ChannelsLastMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _CONV1D:
            return conv1d_as_conv2d(*args, **kwargs)
        return func(*args, **kwargs)


@contextlib.contextmanager
def channels_last_conv1d(enabled: bool = True) -> Iterator[None]:
    """Context in which every ``conv1d`` runs as a channels-last ``conv2d`` (CPU speed-up)."""
    if not enabled:
        yield
        return
    with _ChannelsLastMode():
        yield
