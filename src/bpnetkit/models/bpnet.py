"""The BPNet architecture: a dilated residual convolutional tower with profile and count heads.

The tower is computed with *valid* convolutions: every layer crops its residual input to the
length of its output, so no position of the output ever sees zero padding. This is exactly
what the official ChromBPNet code does, and it equals bpnet-lite's same-padded model followed
by trimming whenever the trimming is at least the receptive field (the default 2114 -> 1000),
up to float rounding and with less arithmetic. ``padding="same"`` reproduces bpnet-lite's
zero-padded computation operation for operation (needed when its trimming is smaller than
the receptive field, and bit-identical otherwise). ``count_window`` picks what the count head
averages: bpnet-lite's output window widened by the profile kernel, or the whole valid tower
(official ChromBPNet ``GlobalAveragePooling1D``); they agree when trimming == receptive field.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.models.base import (
    PretrainedMixin,
    RCPermutation,
    check_architecture_keys,
    strand_swap,
)


def center_crop(x: torch.Tensor, length: int) -> torch.Tensor:
    """Crop the last axis of ``x`` to ``length`` positions around its centre."""
    excess = x.shape[-1] - length
    if excess < 0:
        raise InputError(f"cannot crop a track of length {x.shape[-1]} to {length}.")
    left = excess // 2
    return x[..., left:left + length]


class BPNet(PretrainedMixin, nn.Module):
    """BPNet: one-hot sequence -> (profile logits, log counts).

    Parameters
    ----------
    n_filters : int
        Filters in every convolution of the tower.
    n_layers : int
        Number of dilated residual layers; layer ``i`` (1-based) has dilation ``2**i``.
    n_outputs : int
        Profile output tracks (2 for stranded data, 1 for unstranded).
    n_control_tracks : int
        Control tracks concatenated before the profile convolution; 0 for none.
    stem_kernel_size : int
        Width of the first convolution.
    profile_kernel_size : int
        Width of the profile convolution.
    trimming : int or None
        Positions removed from each side between input and output. None derives it from the
        architecture (the receptive half-width); a larger value crops further.
    residual : {"post", "pre"}
        ``"post"``: ``x + relu(conv(x))`` (bpnet-lite, ChromBPNet). ``"pre"``: the
        basepairmodels / bpnet-refactor variant ``x + conv(relu(x))`` with a final ReLU.
    count_control : {"log1p", "log_plus_2"}
        Control feature of the count head: ``log(1 + sum)`` of the control tracks over the
        output window widened by the profile kernel (bpnet-lite), or ``log(c+ + c- + 2)``
        summed over the output window (basepairmodels).
    n_count_outputs : int
        Outputs of the count head: 1 (a total over strands, the default) or e.g. one per
        strand/task (basepairmodels files).
    padding : {"valid", "same"}
        ``"valid"`` (default): no convolution ever sees zero padding; ``trimming`` must be at
        least the receptive half-width. ``"same"``: every convolution zero-pads to keep the
        length and the output is sliced ``[trimming:L - trimming]`` afterwards, exactly as
        bpnet-lite computes; needed to reproduce bpnet-lite models whose trimming is smaller
        than the receptive field (e.g. its default ``2**n_layers``).
    count_window : {"output", "valid"}
        Positions the count head averages the tower over: ``"output"`` the output window
        widened by the profile kernel (bpnet-lite), ``"valid"`` every position of the valid
        tower output (official Keras ChromBPNet ``GlobalAveragePooling1D``). The two agree
        when ``trimming`` equals the receptive half-width (the default).
    stranded : bool or None
        Whether the profile outputs are (plus, minus) pairs that swap under reverse
        complement (see :meth:`rc_permutation`); None: stranded when ``n_outputs == 2``.
    name : str or None
        Optional name recorded in model files.

    Notes
    -----
    Every nonlinearity is its own ``nn.ReLU`` module (``irelu`` after the stem, ``rrelus[i]``
    in the dilated layers, and ``frelu`` after the tower for ``residual="pre"``, where layer 1
    needs none since its input is the stem's ReLU output), as in bpnet-lite,
    so hook-based DeepLIFT/SHAP tools (tangermeme, captum) explain the model exactly. They
    have no parameters: state dicts keep bpnet-lite's keys.

    ``forward(X, X_ctl=None)`` returns ``(profile_logits, log_counts)`` with shapes
    ``(N, n_outputs, L - 2 * trimming)`` and ``(N, 1)``.
    """

    def __init__(self, n_filters: int = 64, n_layers: int = 8, n_outputs: int = 2,
                 n_control_tracks: int = 2, stem_kernel_size: int = 21,
                 profile_kernel_size: int = 75, trimming: int | None = None,
                 residual: Literal["post", "pre"] = "post",
                 count_control: Literal["log1p", "log_plus_2"] = "log1p",
                 count_window: Literal["output", "valid"] = "output",
                 padding: Literal["valid", "same"] = "valid",
                 n_count_outputs: int = 1,
                 stranded: bool | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        if residual not in ("post", "pre"):
            raise InputError(f"residual must be 'post' or 'pre', got {residual!r}.")
        if count_control not in ("log1p", "log_plus_2"):
            raise InputError(f"count_control must be 'log1p' or 'log_plus_2', got "
                             f"{count_control!r}.")
        if count_window not in ("output", "valid"):
            raise InputError(f"count_window must be 'output' or 'valid', got {count_window!r}.")
        for key, value in (("n_filters", n_filters), ("n_layers", n_layers),
                           ("n_outputs", n_outputs)):
            if int(value) < 1:
                raise InputError(f"{key} must be at least 1, got {value}.")
        if n_control_tracks < 0:
            raise InputError(f"n_control_tracks must be >= 0, got {n_control_tracks}.")
        if padding not in ("valid", "same"):
            raise InputError(f"padding must be 'valid' or 'same', got {padding!r}.")
        if padding == "same" and (stem_kernel_size % 2 == 0 or profile_kernel_size % 2 == 0):
            raise InputError("padding='same' needs odd stem and profile kernel sizes.")
        if n_count_outputs < 1:
            raise InputError(f"n_count_outputs must be at least 1, got {n_count_outputs}.")
        self.n_count_outputs = int(n_count_outputs)
        self.stranded = None if stranded is None else bool(stranded)
        if self.stranded and n_outputs % 2:
            raise InputError(f"stranded=True needs (plus, minus) pairs of profile outputs; "
                             f"n_outputs={n_outputs} is odd.")
        self.count_window = count_window
        self.padding = padding
        self.n_filters = n_filters
        self.n_layers = n_layers
        self.n_outputs = n_outputs
        self.n_control_tracks = n_control_tracks
        self.stem_kernel_size = stem_kernel_size
        self.profile_kernel_size = profile_kernel_size
        self.residual = residual
        self.count_control = count_control
        self.name = name

        same = padding == "same"
        self.iconv = nn.Conv1d(4, n_filters, kernel_size=stem_kernel_size,
                               padding=(stem_kernel_size - 1) // 2 if same else 0)
        self.rconvs = nn.ModuleList(
            nn.Conv1d(n_filters, n_filters, kernel_size=3, dilation=2 ** i,
                      padding=2 ** i if same else 0)
            for i in range(1, n_layers + 1))
        self.fconv = nn.Conv1d(n_filters + n_control_tracks, n_outputs,
                               kernel_size=profile_kernel_size,
                               padding=(profile_kernel_size - 1) // 2 if same else 0)
        self.linear = nn.Linear(n_filters + (1 if n_control_tracks > 0 else 0),
                                self.n_count_outputs)
        # one module per nonlinearity (bpnet-lite's names), so hook-based tools see them
        # ("pre": the stem's ReLU already makes layer 1's input non-negative, so only layers
        # 2..n apply one; a ReLU of a ReLU is the identity, and captum mis-handles such chains)
        self.irelu = nn.ReLU()
        self.rrelus = nn.ModuleList(nn.ReLU() for _ in range(n_layers - (residual == "pre")))
        if residual == "pre":
            self.frelu = nn.ReLU()

        rf = self.receptive_half_width
        if trimming is None:
            trimming = rf
        if trimming < 0 or (trimming < rf and not same):
            raise InputError(f"trimming={trimming} is smaller than the receptive half-width "
                             f"{rf} of this architecture; outputs would see padding. Use "
                             f"trimming >= {rf}, or padding='same' to zero-pad like bpnet-lite.")
        self.trimming = int(trimming)

    # -- geometry ---------------------------------------------------------------------------
    @property
    def receptive_half_width(self) -> int:
        """Positions each output base sees on either side (stem + tower + profile conv)."""
        return ((self.stem_kernel_size - 1) // 2 + sum(2 ** i for i in range(1, self.n_layers + 1))
                + (self.profile_kernel_size - 1) // 2)

    def output_length(self, input_length: int) -> int:
        """Length of the profile output for an input of ``input_length`` bases."""
        return input_length - 2 * self.trimming

    def input_length(self, output_length: int) -> int:
        """Input length that yields ``output_length`` output bases."""
        return output_length + 2 * self.trimming

    def config(self) -> dict:
        """Constructor arguments that rebuild this architecture."""
        return {"n_filters": self.n_filters, "n_layers": self.n_layers,
                "n_outputs": self.n_outputs, "n_control_tracks": self.n_control_tracks,
                "stem_kernel_size": self.stem_kernel_size,
                "profile_kernel_size": self.profile_kernel_size, "trimming": self.trimming,
                "residual": self.residual, "count_control": self.count_control,
                "count_window": self.count_window, "padding": self.padding,
                "n_count_outputs": self.n_count_outputs,
                **({} if self.stranded is None else {"stranded": self.stranded}),
                "name": self.name}

    def rc_permutation(self) -> RCPermutation:
        """How the tracks map under reverse complement.

        Profile tracks are a (plus, minus) pair when ``stranded`` (default: when there are
        exactly 2 outputs); per-track counts follow the profile tracks, a single total count
        stays; 2 control tracks are a (plus, minus) pair.
        """
        stranded = self.n_outputs == 2 if self.stranded is None else self.stranded
        profile = strand_swap(self.n_outputs, stranded)
        counts = profile if self.n_count_outputs == self.n_outputs else \
            tuple(range(self.n_count_outputs))
        controls = strand_swap(self.n_control_tracks, self.n_control_tracks == 2)
        return RCPermutation(profile=profile, counts=counts, controls=controls)

    @classmethod
    def from_config(cls, config: dict) -> BPNet:
        """Build the architecture described by :meth:`config` (weights are random)."""
        return cls(**check_architecture_keys(cls, config))

    # -- forward ----------------------------------------------------------------------------
    def _check_inputs(self, X: torch.Tensor, X_ctl: torch.Tensor | None) -> None:
        if X.ndim != 3 or X.shape[1] != 4:
            raise InputError(f"{type(self).__name__} expects one-hot sequences of shape "
                             f"(N, 4, L); got {tuple(X.shape)}.")
        if X.shape[2] <= 2 * self.trimming:
            raise InputError(f"input length {X.shape[2]} is too short: this model needs more "
                             f"than {2 * self.trimming} bases (2 x trimming {self.trimming}); "
                             f"use e.g. {self.input_length(1000)} for 1000 output bases.")
        if self.n_control_tracks > 0:
            if X_ctl is None:
                raise InputError(f"this model expects control tracks of shape (N, "
                                 f"{self.n_control_tracks}, {X.shape[2]}); pass X_ctl, or wrap "
                                 f"the model in ControlWrapper to use zeros.")
            if X_ctl.ndim != 3 or X_ctl.shape[0] != X.shape[0] or \
                    X_ctl.shape[1] != self.n_control_tracks or X_ctl.shape[2] != X.shape[2]:
                raise InputError(f"control tracks must have shape ({X.shape[0]}, "
                                 f"{self.n_control_tracks}, {X.shape[2]}); got "
                                 f"{tuple(X_ctl.shape)}.")
        elif X_ctl is not None:
            raise InputError("this model has no control tracks (n_control_tracks=0) but X_ctl "
                             "was given.")

    def embed(self, X: torch.Tensor) -> torch.Tensor:
        """Run the stem and the dilated tower; returns ``(N, n_filters, L - 2 * (rf - p))``."""
        h = self.irelu(self.iconv(X))
        post = self.residual == "post"
        relus = list(self.rrelus) if post else [None, *self.rrelus]
        for conv, relu in zip(self.rconvs, relus, strict=True):
            d = 0 if self.padding == "same" else conv.dilation[0]
            skip = h[:, :, d:h.shape[2] - d]
            if post:
                h = skip + relu(conv(h))
            else:
                # the ReLU gets its own view of h: captum hooks the tensor a nonlinearity
                # receives, which must not also feed the skip connection
                h = skip + conv(h if relu is None else relu(h[:, :, :]))
        if self.residual == "pre":
            h = self.frelu(h)
        return h

    def forward(self, X: torch.Tensor, X_ctl: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Profile logits ``(N, n_outputs, L_out)`` and log counts ``(N, n_count_outputs)``."""
        self._check_inputs(X, X_ctl)
        weight = self.iconv.weight
        if X.dtype != weight.dtype:
            X = X.to(weight.dtype)
        if self.padding == "same":
            return self._forward_same(X, X_ctl)
        L_out = self.output_length(X.shape[2])
        tower = self.embed(X)
        h = center_crop(tower, L_out + self.profile_kernel_size - 1)
        pooled = (tower if self.count_window == "valid" else h).mean(dim=2)
        if self.n_control_tracks > 0:
            ctl = center_crop(X_ctl, h.shape[2]).to(h.dtype)
            profile = self.fconv(torch.cat([h, ctl], dim=1))
            feat = self._control_feature(X_ctl.to(h.dtype), L_out)
            counts = self.linear(torch.cat([pooled, feat], dim=1))
        else:
            profile = self.fconv(h)
            counts = self.linear(pooled)
        return profile, counts

    def _control_feature(self, X_ctl: torch.Tensor, L_out: int) -> torch.Tensor:
        """The count head's control feature ``(N, 1)``."""
        if self.count_control == "log1p":
            width = min(L_out + self.profile_kernel_size - 1, X_ctl.shape[2])
            return torch.log(center_crop(X_ctl, width).sum(dim=(1, 2)) + 1).unsqueeze(-1)
        return torch.log(center_crop(X_ctl, L_out).sum(dim=(1, 2)) + 2).unsqueeze(-1)

    def _forward_same(self, X: torch.Tensor, X_ctl: torch.Tensor | None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """bpnet-lite's computation: same-padded tower, then slice the output window."""
        L = X.shape[2]
        t = self.trimming
        p = (self.profile_kernel_size - 1) // 2
        h = self.embed(X)
        if self.count_window == "valid":
            a, b = 0, L
        else:
            a, b = max(t - p, 0), min(L - t + p, L)
        pooled = h[:, :, a:b].mean(dim=2)
        if self.n_control_tracks > 0:
            ctl = X_ctl.to(h.dtype)
            profile = self.fconv(torch.cat([h, ctl], dim=1))[:, :, t:L - t]
            feat = self._control_feature(ctl, L - 2 * t)
            counts = self.linear(torch.cat([pooled, feat], dim=1))
        else:
            profile = self.fconv(h)[:, :, t:L - t]
            counts = self.linear(pooled)
        return profile, counts
