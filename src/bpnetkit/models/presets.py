"""Named architectures: ProCapNet, the original (Avsec 2021) BPNet, official ChromBPNet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpnetkit.errors import InputError
from bpnetkit.models.bpnet import BPNet
from bpnetkit.models.chrombpnet import ChromBPNet
from bpnetkit.models.multitask import MultiTaskBPNet

OSKN_TASKS = ("Oct4", "Sox2", "Nanog", "Klf4")


def procapnet(**kwargs: Any) -> BPNet:
    """ProCapNet (Cochran et al. 2024): 512 filters, 8 layers, 2 stranded outputs, no controls.

    Keyword arguments override the preset (e.g. ``n_filters=64`` for a small model).
    """
    args = {"n_filters": 512, "n_layers": 8, "n_outputs": 2, "n_control_tracks": 0,
            "name": "procapnet"}
    args.update(kwargs)
    return BPNet(**args)


def bpnet_lite(**kwargs: Any) -> BPNet:
    """bpnet-lite's default BPNet: 64 filters, 8 layers, 2 outputs, 2 control tracks."""
    return BPNet(**kwargs)


def original_bpnet(tasks: Sequence[str] = OSKN_TASKS, **kwargs: Any) -> MultiTaskBPNet:
    """The original BPNet of Avsec et al. 2021 (the OSKN ChIP-nexus model).

    1000 bp in and out with same padding, a width-25 stem, 64 filters, 9 dilated layers,
    per-task transposed-convolution profile heads of width 25, softmax per strand and
    per-strand log counts. Keyword arguments override the preset (e.g.
    ``n_control_tracks=2`` for a model trained with control tracks).
    """
    args = {"tasks": list(tasks), "n_filters": 64, "n_layers": 9, "n_strands": 2,
            "n_control_tracks": 0, "stem_kernel_size": 25, "profile_kernel_size": 25,
            "padding": "same", "profile_head": "transposed", "counts_per_strand": True,
            "name": "original_bpnet"}
    args.update(kwargs)
    return MultiTaskBPNet(**args)


def chrombpnet(bias_filters: int = 128, bias_layers: int = 4, filters: int = 512,
               layers: int = 8, input_length: int = 2114, output_length: int = 1000,
               name: str | None = "chrombpnet") -> ChromBPNet:
    """Official ChromBPNet geometry: both sub-models trimmed to the same output window.

    The count heads average the whole valid tower (Keras ``GlobalAveragePooling1D``).
    """
    if (input_length - output_length) % 2:
        raise InputError(f"input_length - output_length must be even, got {input_length} "
                         f"and {output_length}.")
    trim = (input_length - output_length) // 2
    common = {"n_outputs": 1, "n_control_tracks": 0, "trimming": trim,
              "count_window": "valid"}
    return ChromBPNet(bias=BPNet(n_filters=bias_filters, n_layers=bias_layers, **common),
                      accessibility=BPNet(n_filters=filters, n_layers=layers, **common),
                      name=name)


PRESETS = {"procapnet": procapnet, "bpnet": bpnet_lite, "bpnet_lite": bpnet_lite,
           "original_bpnet": original_bpnet, "chrombpnet": chrombpnet}


def get_preset(name: str, **kwargs: Any):
    """Build the preset ``name`` (one of :data:`PRESETS`) with keyword overrides."""
    if name not in PRESETS:
        import difflib

        near = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise InputError(f"unknown preset '{name}'.{hint} Valid presets: "
                         f"{', '.join(PRESETS)}.")
    try:
        return PRESETS[name](**kwargs)
    except TypeError as e:
        raise InputError(f"preset '{name}': {e}") from None
