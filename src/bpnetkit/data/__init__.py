"""Data: genomes, signal tracks, regions, splits, reads -> bigWig, peaks, negatives, datasets.

Submodules are imported on demand so that ``import bpnetkit.data`` stays light::

    from bpnetkit.io.fasta import Genome, extract_sequences
    from bpnetkit.data.datasets import extract_examples, EpochSampler, TrainingDataset
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Genome": "io.fasta", "one_hot_encode": "io.fasta", "extract_sequences": "io.fasta",
    "extract_signals": "data.signals", "read_regions": "io.bed", "Regions": "io.bed",
    "centered_windows": "data.regions", "write_bed": "io.bed", "get_split": "data.splits",
    "extract_examples": "data.datasets", "Examples": "data.datasets",
    "EpochSampler": "data.datasets", "TrainingDataset": "data.datasets",
    "derive_split": "data.splits", "split_for_genome": "data.splits",
    "detect_shift": "data.shift_qc", "default_shifts": "data.shift_qc",
    "check_shift_settings": "data.shift_qc",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"bpnetkit.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'bpnetkit.data' has no attribute {name!r}")
