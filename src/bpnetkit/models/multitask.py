"""Multi-task BPNet: one shared tower, one profile head and count head per task.

This expresses the original BPNet of Avsec et al. 2021 (the OSKN model: 1000 bp in and
out, same padding, a width-25 stem, 9 dilated layers, per-task transposed-convolution
profile heads of width 25 with a softmax per strand, and per-strand log counts). The
:func:`bpnetkit.models.presets.original_bpnet` preset builds it.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from bpnetkit.models.bpnet import center_crop


class MultiTaskBPNet(PretrainedMixin, nn.Module):
    """A shared dilated tower with per-task profile and count heads.

    Parameters
    ----------
    tasks : sequence of str
        Task names (e.g. ``["Oct4", "Sox2", "Nanog", "Klf4"]``), in output order.
    n_filters : int
        Filters of the stem and of every dilated layer.
    n_layers : int
        Dilated residual layers ``x + relu(conv3(x))``, dilation ``2**i`` for ``i = 1..n``.
    n_strands : int
        Profile tracks per task (2 for stranded ChIP-nexus/ChIP-seq, 1 otherwise).
    n_control_tracks : int
        Control tracks per task (0 for none). When present they are concatenated to the
        head's output and mixed by a width-1 convolution (profile) and a linear layer on
        ``log(1 + total)`` per track (counts), as in the original BPNet.
    stem_kernel_size : int
        Width of the first convolution (25 in the original BPNet).
    profile_kernel_size : int
        Width of each task's profile head.
    padding : {"same", "valid"}
        ``"same"``: every layer zero-pads, output length equals input length (original
        BPNet). ``"valid"``: no padding; the output is trimmed by the receptive half-width.
    profile_head : {"transposed", "conv"}
        Transposed convolution (original BPNet) or an ordinary convolution.
    counts_per_strand : bool
        One log count per strand and task (original BPNet) or one per task.
    name : str or None
        Optional name recorded in model files.

    Notes
    -----
    ``forward(X, X_ctl=None)`` returns profile logits ``(N, n_tasks * n_strands, L_out)``
    (task-major: task 0 strands, then task 1, ...) and log counts ``(N, n_tasks *
    n_strands)`` or ``(N, n_tasks)``. The profile softmax is per strand
    (``joint_strands = False``).

    Nonlinearities are ``nn.ReLU`` modules (``irelu`` after the stem, ``rrelus[i]`` in the
    dilated layers), so hook-based DeepLIFT/SHAP tools explain the model exactly.
    """

    joint_strands = False

    def __init__(self, tasks: Sequence[str] = ("task0",), n_filters: int = 64,
                 n_layers: int = 9, n_strands: int = 2, n_control_tracks: int = 0,
                 stem_kernel_size: int = 25, profile_kernel_size: int = 25,
                 padding: Literal["same", "valid"] = "same",
                 profile_head: Literal["transposed", "conv"] = "transposed",
                 counts_per_strand: bool = True, name: str | None = None) -> None:
        super().__init__()
        tasks = [str(t) for t in tasks]
        if not tasks or len(set(tasks)) != len(tasks):
            raise InputError(f"tasks must be a non-empty list of distinct names, got {tasks}.")
        if padding not in ("same", "valid"):
            raise InputError(f"padding must be 'same' or 'valid', got {padding!r}.")
        if profile_head not in ("transposed", "conv"):
            raise InputError(f"profile_head must be 'transposed' or 'conv', got "
                             f"{profile_head!r}.")
        for key, k in (("stem_kernel_size", stem_kernel_size),
                       ("profile_kernel_size", profile_kernel_size)):
            if padding == "same" and k % 2 == 0:
                raise InputError(f"{key} must be odd with same padding, got {k}.")
        self.tasks = tasks
        self.n_filters = n_filters
        self.n_layers = n_layers
        self.n_strands = n_strands
        self.n_task_controls = n_control_tracks
        self.stem_kernel_size = stem_kernel_size
        self.profile_kernel_size = profile_kernel_size
        self.padding = padding
        self.profile_head = profile_head
        self.counts_per_strand = bool(counts_per_strand)
        self.name = name

        same = padding == "same"
        self.iconv = nn.Conv1d(4, n_filters, stem_kernel_size,
                               padding=(stem_kernel_size - 1) // 2 if same else 0)
        self.rconvs = nn.ModuleList(
            nn.Conv1d(n_filters, n_filters, 3, dilation=2 ** i, padding=2 ** i if same else 0)
            for i in range(1, n_layers + 1))
        n_counts = n_strands if self.counts_per_strand else 1
        pad = (profile_kernel_size - 1) // 2 if same else 0
        heads = []
        for _ in tasks:
            if profile_head == "transposed":
                heads.append(nn.ConvTranspose1d(n_filters, n_strands, profile_kernel_size,
                                                padding=pad))
            else:
                heads.append(nn.Conv1d(n_filters, n_strands, profile_kernel_size, padding=pad))
        self.profile_heads = nn.ModuleList(heads)
        # one module per nonlinearity, so hook-based attribution tools see them
        self.irelu = nn.ReLU()
        self.rrelus = nn.ModuleList(nn.ReLU() for _ in range(n_layers))
        self.count_heads = nn.ModuleList(nn.Linear(n_filters, n_counts) for _ in tasks)
        if n_control_tracks > 0:
            self.profile_mix = nn.ModuleList(
                nn.Conv1d(n_strands + n_control_tracks, n_strands, 1) for _ in tasks)
            self.count_mix = nn.ModuleList(
                nn.Linear(n_counts + n_control_tracks, n_counts) for _ in tasks)
        trim = 0 if same else ((stem_kernel_size - 1) // 2 + sum(2 ** i for i in
                               range(1, n_layers + 1)) + (profile_kernel_size - 1) // 2)
        self.trimming = trim

    # -- geometry ---------------------------------------------------------------------------
    @property
    def n_tasks(self) -> int:
        """Number of tasks."""
        return len(self.tasks)

    @property
    def n_outputs(self) -> int:
        """Profile tracks in total (``n_tasks * n_strands``)."""
        return self.n_tasks * self.n_strands

    @property
    def n_control_tracks(self) -> int:
        """Control tracks in total (``n_tasks * n_control_tracks`` per task)."""
        return self.n_tasks * self.n_task_controls

    def output_length(self, input_length: int) -> int:
        """Length of the profile output for an input of ``input_length`` bases."""
        return input_length - 2 * self.trimming

    def input_length(self, output_length: int) -> int:
        """Input length that yields ``output_length`` output bases."""
        return output_length + 2 * self.trimming

    def task_channels(self, task: str | int) -> list[int]:
        """Profile channels of one task (by name or index)."""
        i = self.tasks.index(task) if isinstance(task, str) else int(task)
        return list(range(i * self.n_strands, (i + 1) * self.n_strands))

    def rc_permutation(self) -> RCPermutation:
        """Reverse-complement track map: each task's (plus, minus) pair swaps.

        Tasks never mix; per-strand counts swap within their task, one count per task stays;
        each task's control tracks swap when they are a pair.
        """
        def per_task(n: int) -> tuple[int, ...]:
            return tuple(t * n + j for t in range(self.n_tasks)
                         for j in strand_swap(n, n == 2))

        counts = per_task(self.n_strands) if self.counts_per_strand else \
            tuple(range(self.n_tasks))
        return RCPermutation(profile=per_task(self.n_strands), counts=counts,
                             controls=per_task(self.n_task_controls))

    def config(self) -> dict:
        """Constructor arguments that rebuild this architecture."""
        return {"tasks": list(self.tasks), "n_filters": self.n_filters,
                "n_layers": self.n_layers, "n_strands": self.n_strands,
                "n_control_tracks": self.n_task_controls,
                "stem_kernel_size": self.stem_kernel_size,
                "profile_kernel_size": self.profile_kernel_size, "padding": self.padding,
                "profile_head": self.profile_head, "counts_per_strand": self.counts_per_strand,
                "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> MultiTaskBPNet:
        """Build the architecture described by :meth:`config` (weights are random)."""
        return cls(**check_architecture_keys(cls, config))

    # -- forward ----------------------------------------------------------------------------
    def _check_inputs(self, X: torch.Tensor, X_ctl: torch.Tensor | None) -> None:
        if X.ndim != 3 or X.shape[1] != 4:
            raise InputError(f"MultiTaskBPNet expects one-hot sequences of shape (N, 4, L); "
                             f"got {tuple(X.shape)}.")
        min_len = 2 * self.trimming + 1
        if X.shape[2] < min_len:
            raise InputError(f"input length {X.shape[2]} is too short: this model needs at "
                             f"least {min_len} bases.")
        n_ctl = self.n_control_tracks
        if n_ctl > 0:
            want = (X.shape[0], n_ctl, X.shape[2])
            if X_ctl is None:
                raise InputError(f"this model expects control tracks of shape {want}; pass "
                                 f"X_ctl or wrap the model in ControlWrapper to use zeros.")
            if tuple(X_ctl.shape) != want:
                raise InputError(f"control tracks must have shape {want}; got "
                                 f"{tuple(X_ctl.shape)}.")
        elif X_ctl is not None:
            raise InputError("this model has no control tracks but X_ctl was given.")

    def embed(self, X: torch.Tensor) -> torch.Tensor:
        """Stem and dilated tower: ``(N, n_filters, L')``."""
        h = self.irelu(self.iconv(X))
        for conv, relu in zip(self.rconvs, self.rrelus, strict=True):
            out = relu(conv(h))
            h = center_crop(h, out.shape[-1]) + out
        return h

    def forward(self, X: torch.Tensor, X_ctl: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Profile logits ``(N, n_tasks * n_strands, L_out)`` and log counts."""
        self._check_inputs(X, X_ctl)
        if X.dtype != self.iconv.weight.dtype:
            X = X.to(self.iconv.weight.dtype)
        h = self.embed(X)
        pooled = h.mean(dim=2)
        L_out = self.output_length(X.shape[2])
        profiles, counts = [], []
        for t in range(self.n_tasks):
            prof = self.profile_heads[t](h)
            if self.profile_head == "transposed" and self.padding == "valid":
                prof = center_crop(prof, L_out)  # a valid transposed conv widens the track
            cnt = self.count_heads[t](pooled)
            if self.n_task_controls > 0:
                c = self.n_task_controls
                ctl = center_crop(X_ctl[:, t * c:(t + 1) * c], prof.shape[-1]).to(prof.dtype)
                prof = self.profile_mix[t](torch.cat([prof, ctl], dim=1))
                feat = torch.log1p(ctl.sum(dim=2))
                cnt = self.count_mix[t](torch.cat([cnt, feat], dim=1))
            profiles.append(prof)
            counts.append(cnt)
        return torch.cat(profiles, dim=1), torch.cat(counts, dim=1)
