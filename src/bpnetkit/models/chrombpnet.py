"""ChromBPNet: a frozen enzyme-bias BPNet plus an accessibility BPNet."""

from __future__ import annotations

import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.models.base import PretrainedMixin, RCPermutation, check_architecture_keys
from bpnetkit.models.bpnet import BPNet, center_crop
from bpnetkit.models.layers import Exp, Log


class ChromBPNet(PretrainedMixin, nn.Module):
    """Combine a bias model and an accessibility model.

    Profile logits are ``accessibility + bias`` (the bias cropped to the accessibility
    output length); log counts are ``logsumexp(accessibility, bias)``, computed as
    ``_log(_exp1(accessibility) + _exp2(bias))`` with one :class:`~bpnetkit.models.layers.Exp`
    / :class:`~bpnetkit.models.layers.Log` module per use (bpnet-lite's names), so hook-based
    DeepLIFT tools can apply their elementwise rescale rule to each (register the two types
    as nonlinear, see :mod:`bpnetkit.models.layers`). The bias parameters are frozen.

    Parameters
    ----------
    bias : BPNet or None
        Enzyme-bias model (default: 128 filters, 4 layers, one output, no controls).
    accessibility : BPNet or None
        Accessibility model (default: 512 filters, 8 layers, one output, no controls).
    name : str or None
        Optional name recorded in model files.
    """

    def __init__(self, bias: BPNet | None = None, accessibility: BPNet | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        if bias is None:
            bias = BPNet(n_filters=128, n_layers=4, n_outputs=1, n_control_tracks=0)
        if accessibility is None:
            accessibility = BPNet(n_filters=512, n_layers=8, n_outputs=1, n_control_tracks=0)
        self.bias = bias
        self.accessibility = accessibility
        self.name = name
        self._log = Log()
        self._exp1 = Exp()
        self._exp2 = Exp()
        for p in self.bias.parameters():
            p.requires_grad_(False)

    @property
    def trimming(self) -> int:
        """Positions removed per side: that of the accessibility model."""
        return max(self.accessibility.trimming, self.bias.trimming)

    @property
    def n_control_tracks(self) -> int:
        """ChromBPNet takes no control tracks."""
        return 0

    @property
    def n_outputs(self) -> int:
        """Number of profile tracks."""
        return self.accessibility.n_outputs

    def output_length(self, input_length: int) -> int:
        """Length of the profile output for an input of ``input_length`` bases."""
        return input_length - 2 * self.trimming

    def input_length(self, output_length: int) -> int:
        """Input length that yields ``output_length`` output bases."""
        return output_length + 2 * self.trimming

    def config(self) -> dict:
        """Constructor arguments: the two sub-model configurations and the name."""
        return {"bias": self.bias.config(), "accessibility": self.accessibility.config(),
                "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> ChromBPNet:
        """Build the architecture described by :meth:`config` (weights are random)."""
        cfg = check_architecture_keys(cls, config)
        for key in ("bias", "accessibility"):
            if not isinstance(cfg.get(key), dict):
                raise InputError(f"ChromBPNet architecture needs a '{key}' object with the "
                                 f"BPNet arguments of that sub-model.")
        return cls(bias=BPNet.from_config(cfg["bias"]),
                   accessibility=BPNet.from_config(cfg["accessibility"]), name=cfg.get("name"))

    def forward(self, X: torch.Tensor, X_ctl: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict combined profile logits ``(N, 1, L_out)`` and log counts ``(N, 1)``."""
        acc_profile, acc_counts = self.accessibility(X)
        bias_profile, bias_counts = self.bias(X)
        L_out = min(acc_profile.shape[-1], bias_profile.shape[-1])
        profile = center_crop(acc_profile, L_out) + center_crop(bias_profile, L_out)
        # at least float32 inside (exp of a log count overflows float16 above ~11)
        wide = torch.promote_types(acc_counts.dtype, torch.float32)
        counts = self._log(self._exp1(acc_counts.to(wide)) + self._exp2(bias_counts.to(wide)))
        return profile, counts.to(acc_counts.dtype)

    def rc_permutation(self) -> RCPermutation:
        """Unstranded tracks: every track maps to itself under reverse complement."""
        return RCPermutation(profile=tuple(range(self.n_outputs)),
                             counts=tuple(range(self.accessibility.n_count_outputs)))
