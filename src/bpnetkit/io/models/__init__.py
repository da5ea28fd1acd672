"""Model files as raw data: architecture configs, state dicts and provenance.

Each reader returns a :class:`bpnetkit.io.models.raw.RawModel` (or, for a plain state dict,
the tensors); building ``nn.Module`` objects from them is :mod:`bpnetkit.models.files`'s
job (``load_model``, ``save_model``, ``convert``).
"""
