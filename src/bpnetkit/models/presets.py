"""Named architectures: the only home of architecture defaults.

Every default size of a model family (filters, layers, kernel widths, tracks) is written
here once, in :data:`ARCHITECTURES`; the preset functions build models from it, and the
training recipes (:mod:`bpnetkit.train.recipes`) build their models through these functions.

=====================  =======  ======  ====  =======  =======  ====================
family                 filters  layers  stem  profile  outputs  source
=====================  =======  ======  ====  =======  =======  ====================
bpnet (bpnet-lite)     64       8       21    75       2        bpnet-lite 1.x BPNet
procapnet              512      8       21    75       2        Cochran et al. 2024
chrombpnet (acc.)      512      8       21    75       1        official ChromBPNet
chrombpnet_bias        128      4       21    75       1        official ChromBPNet
original_bpnet         64       9       25    25       2/task  Avsec et al. 2021
=====================  =======  ======  ====  =======  =======  ====================
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from bpnetkit.errors import InputError
from bpnetkit.models.bpnet import BPNet
from bpnetkit.models.chrombpnet import ChromBPNet
from bpnetkit.models.multitask import MultiTaskBPNet

__all__ = ["ARCHITECTURES", "OSKN_TASKS", "PRESETS", "architecture_defaults", "bpnet_lite",
           "chrombpnet", "chrombpnet_accessibility", "chrombpnet_bias", "get_preset",
           "original_bpnet", "procapnet"]

OSKN_TASKS = ("Oct4", "Sox2", "Nanog", "Klf4")

#: Default constructor arguments of each model family (see the module docstring).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "bpnet": {"n_filters": 64, "n_layers": 8, "stem_kernel_size": 21,
              "profile_kernel_size": 75, "n_outputs": 2, "n_control_tracks": 2},
    "procapnet": {"n_filters": 512, "n_layers": 8, "stem_kernel_size": 21,
                  "profile_kernel_size": 75, "n_outputs": 2, "n_control_tracks": 0},
    # ChromBPNet sub-models: one unstranded track, no controls, and count heads that average
    # the whole valid tower (Keras GlobalAveragePooling1D)
    "chrombpnet": {"n_filters": 512, "n_layers": 8, "stem_kernel_size": 21,
                   "profile_kernel_size": 75, "n_outputs": 1, "n_control_tracks": 0,
                   "count_window": "valid"},
    "chrombpnet_bias": {"n_filters": 128, "n_layers": 4, "stem_kernel_size": 21,
                        "profile_kernel_size": 75, "n_outputs": 1, "n_control_tracks": 0,
                        "count_window": "valid"},
    "original_bpnet": {"n_filters": 64, "n_layers": 9, "n_strands": 2, "n_control_tracks": 0,
                       "stem_kernel_size": 25, "profile_kernel_size": 25, "padding": "same",
                       "profile_head": "transposed", "counts_per_strand": True},
}


def architecture_defaults(family: str) -> dict[str, Any]:
    """A copy of the default constructor arguments of ``family`` (a key of
    :data:`ARCHITECTURES`)."""
    if family not in ARCHITECTURES:
        raise InputError(f"unknown model family '{family}'; valid families: "
                         f"{', '.join(ARCHITECTURES)}.")
    return copy.deepcopy(ARCHITECTURES[family])


def _args(family: str, kwargs: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    args = architecture_defaults(family)
    if name is not None:
        args["name"] = name
    args.update(kwargs)
    return args


def procapnet(**kwargs: Any) -> BPNet:
    """ProCapNet (Cochran et al. 2024): 512 filters, 8 layers, 2 stranded outputs, no controls.

    Keyword arguments override the preset (e.g. ``n_filters=64`` for a small model).
    """
    return BPNet(**_args("procapnet", kwargs, name="procapnet"))


def bpnet_lite(**kwargs: Any) -> BPNet:
    """bpnet-lite's default BPNet: 64 filters, 8 layers, 2 outputs, 2 control tracks.

    Keyword arguments override the preset.
    """
    return BPNet(**_args("bpnet", kwargs))


def original_bpnet(tasks: Sequence[str] = OSKN_TASKS, **kwargs: Any) -> MultiTaskBPNet:
    """The original BPNet of Avsec et al. 2021 (the OSKN ChIP-nexus model).

    1000 bp in and out with same padding, a width-25 stem, 64 filters, 9 dilated layers,
    per-task transposed-convolution profile heads of width 25, softmax per strand and
    per-strand log counts. Keyword arguments override the preset (e.g.
    ``n_control_tracks=2`` for a model trained with control tracks).
    """
    args = _args("original_bpnet", kwargs, name="original_bpnet")
    args.setdefault("tasks", list(tasks))
    return MultiTaskBPNet(**args)


def chrombpnet_accessibility(**kwargs: Any) -> BPNet:
    """The accessibility sub-model of ChromBPNet: 512 filters, 8 layers, one track.

    Keyword arguments override the preset (``trimming`` sets the output window).
    """
    return BPNet(**_args("chrombpnet", kwargs))


def chrombpnet_bias(**kwargs: Any) -> BPNet:
    """The bias sub-model of ChromBPNet: 128 filters, 4 layers, one track.

    Keyword arguments override the preset (``trimming`` sets the output window).
    """
    return BPNet(**_args("chrombpnet_bias", kwargs))


def chrombpnet(bias_filters: int | None = None, bias_layers: int | None = None,
               filters: int | None = None, layers: int | None = None,
               input_length: int = 2114, output_length: int = 1000,
               name: str | None = "chrombpnet") -> ChromBPNet:
    """Official ChromBPNet geometry: both sub-models trimmed to the same output window.

    None takes the preset size (bias 128 filters / 4 layers, accessibility 512 / 8). The
    count heads average the whole valid tower (Keras ``GlobalAveragePooling1D``).
    """
    if (input_length - output_length) % 2:
        raise InputError(f"input_length - output_length must be even, got {input_length} "
                         f"and {output_length}.")
    trim = (input_length - output_length) // 2

    def sizes(f: int | None, n: int | None) -> dict[str, Any]:
        d: dict[str, Any] = {"trimming": trim}
        if f is not None:
            d["n_filters"] = f
        if n is not None:
            d["n_layers"] = n
        return d

    return ChromBPNet(bias=chrombpnet_bias(**sizes(bias_filters, bias_layers)),
                      accessibility=chrombpnet_accessibility(**sizes(filters, layers)),
                      name=name)


PRESETS = {"procapnet": procapnet, "bpnet": bpnet_lite, "bpnet_lite": bpnet_lite,
           "original_bpnet": original_bpnet, "chrombpnet": chrombpnet,
           "chrombpnet_bias": chrombpnet_bias,
           "chrombpnet_accessibility": chrombpnet_accessibility}


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
