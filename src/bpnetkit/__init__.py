"""bpnetkit: base-resolution sequence-to-profile models, from reads to motifs.

Heavy modules (torch, h5py, ...) are imported lazily, so ``import bpnetkit`` and the
command line stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "BPNet": "bpnetkit.models",
    "ChromBPNet": "bpnetkit.models",
    "ControlWrapper": "bpnetkit.models",
    "CountWrapper": "bpnetkit.models",
    "ProfileWrapper": "bpnetkit.models",
    "predicted_track": "bpnetkit.models",
    "MultiTaskBPNet": "bpnetkit.models",
    "TaskWrapper": "bpnetkit.models",
    "procapnet": "bpnetkit.models.presets",
    "original_bpnet": "bpnetkit.models.presets",
    "load_model": "bpnetkit.models.files",
    "save_model": "bpnetkit.models.files",
    "predict": "bpnetkit.interpret.predict",
    "deep_lift_shap": "bpnetkit.interpret.deeplift",
    "saturation_mutagenesis": "bpnetkit.interpret.ism",
    "dinucleotide_shuffle": "bpnetkit.interpret.shuffle",
    "substitution_effect": "bpnetkit.interpret.edits",
    "deletion_effect": "bpnetkit.interpret.edits",
    "insertion_effect": "bpnetkit.interpret.edits",
    "greedy_design": "bpnetkit.design.greedy",
    "read_meme": "bpnetkit.io.meme",
    "load_builtin_motifs": "bpnetkit.motifs.database",
    "call_seqlets": "bpnetkit.motifs.seqlets",
    "marginalize": "bpnetkit.motifs.marginalize",
    "gradient_design": "bpnetkit.design.gradient",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bpnetkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
