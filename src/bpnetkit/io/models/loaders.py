"""Model file format detection (loading lives in :mod:`bpnetkit.models.files`)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from bpnetkit.errors import InputError
from bpnetkit.errors import require_file as _require_file

FORMATS = ("native", "multimolecule", "keras_h5", "archive", "torch")


def _folder_format(folder: Path) -> str:
    """'multimolecule' for a multimolecule BPNet config.json, else 'native'."""
    import json

    from bpnetkit.io.models.multimolecule import is_multimolecule_config

    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "native"  # the native reader reports what is wrong with it
    return "multimolecule" if is_multimolecule_config(cfg) else "native"


def detect_format(path: str | os.PathLike) -> str:
    """Return the format of a model path: one of :data:`FORMATS`.

    ``native``: a folder with ``config.json`` (or a file inside one); ``multimolecule``: such
    a folder whose config is a multimolecule BPNet's (``model_type: "bpnet"``);
    ``keras_h5``: an HDF5 file; ``archive``: a ``.tar``/``.tar.gz`` (ENCODE releases); ``torch``: a
    ``torch.save`` zip (bpnet-lite whole model or a state dict).
    """
    p = _require_file(path, "model")
    if p.is_dir():
        if (p / "config.json").exists():
            return _folder_format(p)
        raise InputError(f"'{p}' is a folder without config.json: not a bpnetkit model. "
                         f"Convert other formats with `bpnetkit convert`.")
    if p.name in ("config.json", "model.safetensors") or p.suffix == ".safetensors":
        return _folder_format(p.parent)
    with open(p, "rb") as fh:
        head = fh.read(512)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras_h5"
    name = p.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")) or head[:2] == b"\x1f\x8b" or \
            head[257:262] == b"ustar":
        return "archive"
    if zipfile.is_zipfile(p):
        return "torch"
    if head[:1] == b"\x80":
        raise InputError(f"'{p}' looks like a legacy (non-zip) torch/pickle file; bpnetkit "
                         f"reads only zip-format torch.save files. Re-save it with a recent "
                         f"PyTorch.")
    raise InputError(f"'{p}': unknown model format. Supported: bpnetkit folders, Keras .h5, "
                     f".tar.gz archives of those, and torch.save files (.torch/.pt).")
