"""Format detection, :func:`load_model` and :func:`convert`."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from bpnetkit.errors import InputError
from bpnetkit.errors import require_file as _require_file

FORMATS = ("native", "keras_h5", "archive", "torch")


def detect_format(path: str | os.PathLike) -> str:
    """Return the format of a model path: one of :data:`FORMATS`.

    ``native``: a folder with ``config.json`` (or a file inside one); ``keras_h5``: an HDF5
    file; ``archive``: a ``.tar``/``.tar.gz`` (ENCODE releases); ``torch``: a
    ``torch.save`` zip (bpnet-lite whole model or a state dict).
    """
    p = _require_file(path, "model")
    if p.is_dir():
        if (p / "config.json").exists():
            return "native"
        raise InputError(f"'{p}' is a folder without config.json: not a bpnetkit model. "
                         f"Convert other formats with `bpnetkit convert`.")
    if p.name in ("config.json", "model.safetensors") or p.suffix == ".safetensors":
        return "native"
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


def load_model(path: str | os.PathLike, *, device: Any = None, dtype: Any = None,
               preset: str | None = None, architecture: dict | None = None,
               input_length: int | None = None, output_length: int | None = None,
               member: str | None = None, fold: int | str | None = None, **preset_kwargs: Any):
    """Load any supported model file into a bpnetkit model in eval mode.

    Parameters
    ----------
    path : str or PathLike
        A native folder, a Keras ``.h5`` (official ChromBPNet or basepairmodels), an
        ENCODE ``.tar.gz`` archive, a bpnet-lite ``.torch`` whole-model file or a plain
        state dict (then give ``preset`` or ``architecture``).
    device : str, torch.device or None
        Device to move the model to (None: CUDA when available, else CPU).
    dtype : torch.dtype, str or None
        Parameter dtype (e.g. ``torch.float64``, ``"bfloat16"``); None keeps float32.
    preset : str or None
        For plain state dicts: preset name (``"procapnet"``, ``"bpnet"``,
        ``"original_bpnet"``, ``"chrombpnet"``); extra keyword arguments go to the preset.
        Without it the BPNet architecture is inferred from the tensor shapes.
    architecture : dict or None
        For plain state dicts: ``{"class": ..., "architecture": {...}}`` as in config.json.
    input_length, output_length : int or None
        Keras files: override the window read from the file.
    member : str or None
        Archives: which file to take, by (part of) its name, e.g. ``"chrombpnet_nobias"``.
    fold : int, str or None
        Archives: which fold, e.g. 0 or ``"fold_0"``.
    **preset_kwargs
        Preset overrides for state dicts. bpnet-lite models keep bpnet-lite's zero-padded
        computation (bit-identical outputs); ``padding="valid"`` switches them to valid
        convolutions (equal up to float32 rounding, about 25% less arithmetic).

    Returns
    -------
    torch.nn.Module
        The model, in eval mode, on ``device``. Its ``model_info`` attribute holds the
        architecture and provenance.
    """
    import torch

    from bpnetkit.utils import resolve_device

    fmt = detect_format(path)
    if fmt == "native":
        from bpnetkit.io.models.native import load_native

        model = load_native(path)
    elif fmt == "keras_h5":
        from bpnetkit.io.models.keras import load_keras

        model = load_keras(path, input_length=input_length, output_length=output_length)
        model.model_info = {"provenance": {"source": str(path), "source_format": "keras_h5"}}
    elif fmt == "archive":
        from bpnetkit.io.models.archive import extract_member

        with extract_member(path, member=member, fold=fold) as inner:
            model = load_model(inner, device="cpu", preset=preset, architecture=architecture,
                               input_length=input_length, output_length=output_length,
                               **preset_kwargs)
            prov = model.model_info.setdefault("provenance", {})
            prov.update({"source": str(path), "archive_member": inner.name,
                         "source_format": f"archive/{prov.get('source_format', '?')}"})
    else:
        from bpnetkit.io.models.torch_files import load_torch_file

        model = load_torch_file(path, preset=preset, architecture=architecture,
                                **preset_kwargs)
    if dtype is not None:
        if isinstance(dtype, str):
            if not isinstance(getattr(torch, dtype, None), torch.dtype):
                raise InputError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'float64', "
                                 f"'bfloat16'.")
            dtype = getattr(torch, dtype)
        model = model.to(dtype)
    model = model.to(resolve_device(device))
    model.eval()
    return model


def convert(inputs: list[str | os.PathLike] | str | os.PathLike, out_dir: str | os.PathLike,
            *, names: list[str] | None = None, **load_kwargs: Any) -> dict[str, str]:
    """Convert model files of any supported format into native bpnetkit folders.

    Parameters
    ----------
    inputs : path or list of paths
        Files to convert (see :func:`load_model`).
    out_dir : str or PathLike
        With one input, the model folder itself; with several, a parent folder holding one
        sub-folder per input (named after the input file).
    names : list of str or None
        Sub-folder names (several inputs only).
    **load_kwargs
        Passed to :func:`load_model` (``preset``, ``member``, ``fold``, ...).

    Returns
    -------
    dict
        Input path -> output folder.
    """
    from bpnetkit import __version__  # noqa: F401  (recorded by save_model)
    from bpnetkit.io.models.native import save_model

    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise InputError("convert needs at least one input file.")
    if names is not None and len(names) != len(inputs):
        raise InputError(f"got {len(names)} names for {len(inputs)} inputs.")
    out = Path(out_dir)
    results = {}
    for i, src in enumerate(inputs):
        model = load_model(src, device="cpu", **load_kwargs)
        if len(inputs) == 1:
            dest = out
        else:
            stem = names[i] if names else _stem(src)
            dest = out / stem
        provenance = dict(getattr(model, "model_info", {}).get("provenance") or {})
        provenance.setdefault("source_format", detect_format(src))
        provenance["converted_from"] = str(src)
        save_model(model, dest, provenance=provenance)
        results[str(src)] = str(dest)
    return results


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".tar", ".h5", ".hdf5", ".torch", ".pt", ".pth"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
