"""Model files as models: load any supported file into a model, save the native format.

The readers and writers of each format live in :mod:`bpnetkit.io.models`; this module is
where they become ``nn.Module`` objects. (Transitional: the functions are re-exported from
``bpnetkit.io.models`` until the readers return raw configs and weights.)
"""

from bpnetkit.io.models.loaders import convert, detect_format, load_model
from bpnetkit.io.models.native import read_model_config, save_model

__all__ = ["convert", "detect_format", "load_model", "read_model_config", "save_model"]
