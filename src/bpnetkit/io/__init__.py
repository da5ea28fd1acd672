"""Model files: the native format (config.json + model.safetensors) and converters.

:func:`load_model` detects the format of a path and loads it; :func:`save_model` writes the
native format; :func:`convert` turns any supported file into native folders.
"""

from bpnetkit.io.models.loaders import convert, detect_format, load_model
from bpnetkit.io.models.native import read_model_config, save_model

__all__ = ["convert", "detect_format", "load_model", "read_model_config", "save_model"]
