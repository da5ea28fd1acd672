"""File formats: sequences, intervals, signals, reads, attributions, motifs and model files.

Readers return raw data (arrays, tables, configs and tensors); model files become
``nn.Module`` objects in :mod:`bpnetkit.models.files` (``load_model``, ``save_model``,
``convert``).
"""
