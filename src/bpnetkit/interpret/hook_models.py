"""Module-based twins of BPNet and ChromBPNet for hook-based attribution tools.

captum and tangermeme find nonlinearities by *module type* (``nn.ReLU`` instances, one per
use), while bpnetkit models call functions (``F.relu``, ``torch.logsumexp``). These twins
share the parameters of a bpnetkit model and compute the same function with one module per
nonlinearity, so such tools (used as test oracles and in benchmarks) can explain them.
"""

from __future__ import annotations

import torch
from torch import nn

from bpnetkit.models.bpnet import BPNet, center_crop
from bpnetkit.models.chrombpnet import ChromBPNet
from bpnetkit.models.wrappers import softmax_weighted


class Exp(nn.Module):
    """``exp`` as a module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.exp(x)


class Log(nn.Module):
    """``log`` as a module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.log(x)


class SoftmaxWeighting(nn.Module):
    """:func:`bpnetkit.models.wrappers.softmax_weighted` as a module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return softmax_weighted(x)


class HookBPNet(nn.Module):
    """A valid-padding, post-residual :class:`BPNet` computed with one ``nn.ReLU`` per use."""

    def __init__(self, model: BPNet) -> None:
        super().__init__()
        if getattr(model, "padding", "valid") != "valid" or model.residual != "post":
            raise ValueError("HookBPNet supports valid padding and post residuals only.")
        self.model = model
        self.relus = nn.ModuleList(nn.ReLU() for _ in range(model.n_layers + 1))

    def forward(self, X: torch.Tensor, X_ctl: torch.Tensor | None = None):  # noqa: D102
        m = self.model
        h = self.relus[0](m.iconv(X))
        for conv, relu in zip(m.rconvs, self.relus[1:], strict=True):
            d = conv.dilation[0]
            h = h[:, :, d:h.shape[2] - d] + relu(conv(h))
        L_out = m.output_length(X.shape[2])
        tower = h
        h = center_crop(tower, L_out + m.profile_kernel_size - 1)
        pooled = (tower if getattr(m, "count_window", "valid") == "valid" else h).mean(dim=2)
        if m.n_control_tracks > 0:
            ctl = center_crop(X_ctl, h.shape[2])
            profile = m.fconv(torch.cat([h, ctl], dim=1))
            feat = m._control_feature(X_ctl, L_out)
            counts = m.linear(torch.cat([pooled, feat], dim=1))
        else:
            profile = m.fconv(h)
            counts = m.linear(pooled)
        return profile, counts


class HookChromBPNet(nn.Module):
    """:class:`ChromBPNet` with ``exp``/``log`` modules for the count combination."""

    def __init__(self, model: ChromBPNet) -> None:
        super().__init__()
        self.bias = HookBPNet(model.bias)
        self.accessibility = HookBPNet(model.accessibility)
        self.exp_acc, self.exp_bias, self.log = Exp(), Exp(), Log()

    def forward(self, X: torch.Tensor):  # noqa: D102
        ap, ac = self.accessibility(X)
        bp, bc = self.bias(X)
        L_out = min(ap.shape[-1], bp.shape[-1])
        profile = center_crop(ap, L_out) + center_crop(bp, L_out)
        counts = self.log(self.exp_acc(ac) + self.exp_bias(bc))
        return profile, counts


class HookCountWrapper(nn.Module):
    """Log counts of a (profile, counts) model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X, *args):  # noqa: D102
        return self.model(X, *args)[1]


class HookProfileWrapper(nn.Module):
    """:class:`ProfileWrapper` with the softmax weighting as a module."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.weighting = SoftmaxWeighting()

    def forward(self, X, *args):  # noqa: D102
        logits = self.model(X, *args)[0]
        flat = logits.reshape(logits.shape[0], -1)
        centred = flat - flat.mean(dim=-1, keepdim=True)
        return self.weighting(centred).sum(dim=-1, keepdim=True)
