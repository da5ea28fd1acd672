"""basepairmodels / bpnet-refactor BPNet Keras files.

Their BPNet names its weight layers ``1st_conv``, ``{i}conv`` (dilation ``2**i``),
``profile_out_prebias`` (the wide profile convolution, one output per task),
``profile_predictions`` (a width-1 convolution over the cropped profile concatenated with
the control profiles; absent without controls) and ``logcount_predictions`` (a dense layer
over the globally averaged tower concatenated with the control log count).

The width-1 mixing convolution is folded exactly into our single profile convolution: the
sequence part becomes ``W1 @ K`` and each control track enters at the kernel's centre tap.
The residual form (``x + relu(conv(x))`` or ``x + conv(relu(x))`` with a final ReLU) is read
from the stored model config when present (default: the former).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.models.raw import bpnet_receptive_half_width


def _residual_kind(w: Any) -> str:
    """'post' when the dilated Conv1D layers carry the ReLU themselves, else 'pre'."""
    cfg = w.configs.get("1conv")
    if not cfg:
        return "post"
    return "post" if cfg.get("activation", "relu") == "relu" else "pre"


def read_basepairmodels(w: Any, input_length: int | None = None,
                        output_length: int | None = None) -> tuple[dict, dict]:
    """Our BPNet architecture and tensors for a basepairmodels BPNet (see module docstring)."""
    import torch

    stem = w.get("1st_conv", ndim=3)
    n_layers = 0
    while f"{n_layers + 1}conv" in w.layers:
        n_layers += 1
    if n_layers == 0:
        raise InputError(f"'{w.path}': found '1st_conv' but no dilated layers '1conv', ...")
    for i in range(1, n_layers + 1):
        cfg = w.configs.get(f"{i}conv") or {}
        dil = cfg.get("dilation_rate", [2 ** i])
        dil = dil[0] if isinstance(dil, list | tuple) else dil
        if int(dil) != 2 ** i:
            raise InputError(f"'{w.path}': layer '{i}conv' has dilation {dil}; expected "
                             f"{2 ** i}.")
    prof_k = w.get("profile_out_prebias", ndim=3)            # (K, F, T)
    prof_b = w.get("profile_out_prebias", "bias")    # (T,)
    dense = w.get("logcount_predictions", ndim=2)            # (F + n_feat, T_counts)
    dense_b = w.get("logcount_predictions", "bias")
    n_filters = stem.shape[2]
    K, _, n_tasks = prof_k.shape
    if "profile_predictions" in w.layers:
        mix = w.get("profile_predictions", ndim=3)[0]         # (T + C, T)
        mix_b = w.get("profile_predictions", "bias")
        n_ctl = mix.shape[0] - n_tasks
    else:
        mix, mix_b, n_ctl = np.eye(n_tasks, dtype=np.float32), np.zeros(n_tasks), 0
    n_feat = dense.shape[0] - n_filters
    if n_feat not in (0, 1):
        raise InputError(f"'{w.path}': 'logcount_predictions' takes {n_feat} control count "
                         f"features; bpnetkit supports one (log of the total control + 2).")
    if n_ctl == 0 and n_feat == 1 or n_ctl > 0 and n_feat == 0:
        raise InputError(f"'{w.path}': control profiles ({n_ctl}) and control counts "
                         f"({n_feat}) disagree; cannot map this model.")
    # fold the width-1 mixing convolution into the profile convolution
    seq_part = np.einsum("kft,to->kfo", prof_k.astype(np.float64), mix[:n_tasks])
    kernel = np.zeros((K, n_filters + n_ctl, n_tasks))
    kernel[:, :n_filters] = seq_part
    if n_ctl:
        kernel[(K - 1) // 2, n_filters:] = mix[n_tasks:]
    bias = prof_b.astype(np.float64) @ mix[:n_tasks] + mix_b

    in_len = input_length or w.input_length or 2114
    rf = bpnet_receptive_half_width(stem.shape[0], n_layers, K)
    if output_length is None:
        ctl_cfg = w.configs.get("control_profile") or {}
        shape = ctl_cfg.get("batch_input_shape") or ctl_cfg.get("batch_shape")
        output_length = int(shape[1]) if shape and shape[1] else min(1000, in_len - 2 * rf)
    trimming = (in_len - output_length) // 2
    if trimming < rf:
        raise InputError(f"'{w.path}': output length {output_length} is too long for input "
                         f"length {in_len} with this architecture (receptive half-width {rf}).")
    arch = {"n_filters": int(n_filters), "n_layers": n_layers, "n_outputs": int(n_tasks),
            "n_control_tracks": int(n_ctl), "stem_kernel_size": int(stem.shape[0]),
            "profile_kernel_size": int(K), "trimming": int(trimming),
            "residual": _residual_kind(w), "count_control": "log_plus_2",
            "count_window": "valid", "n_count_outputs": int(dense.shape[1]),
            "name": "basepairmodels_bpnet"}
    state = {"iconv.weight": stem.transpose(2, 1, 0), "iconv.bias": w.get("1st_conv", "bias"),
             "fconv.weight": kernel.transpose(2, 1, 0), "fconv.bias": bias,
             "linear.weight": dense.T, "linear.bias": dense_b}
    for i in range(1, n_layers + 1):
        state[f"rconvs.{i - 1}.weight"] = w.get(f"{i}conv", ndim=3).transpose(2, 1, 0)
        state[f"rconvs.{i - 1}.bias"] = w.get(f"{i}conv", "bias")
    tensors = {k: torch.tensor(np.ascontiguousarray(v), dtype=torch.float32)
               for k, v in state.items()}
    return arch, tensors
