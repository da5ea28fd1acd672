"""Data: genomes, signal tracks, regions, splits, reads -> bigWig, peaks, negatives, datasets.

Submodules are imported on demand so that ``import bpnetkit.data`` stays light::

    from bpnetkit.data.genome import Genome, extract_sequences
    from bpnetkit.data.datasets import extract_examples, EpochSampler, TrainingDataset
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Genome": "genome", "one_hot_encode": "genome", "extract_sequences": "genome",
    "extract_signals": "signals", "read_regions": "regions", "Regions": "regions",
    "centered_windows": "regions", "write_bed": "regions", "get_split": "splits",
    "extract_examples": "datasets", "Examples": "datasets", "EpochSampler": "datasets",
    "TrainingDataset": "datasets",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"bpnetkit.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'bpnetkit.data' has no attribute {name!r}")
