"""Model files as models: load any supported file into a model, save the native format.

The readers of each format live in :mod:`bpnetkit.io.models` and return raw parts
(:class:`~bpnetkit.io.models.raw.RawModel`: class name, architecture, tensors,
provenance); this module builds the ``nn.Module`` objects from them and takes them apart
again for saving.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from bpnetkit.errors import ConfigError, InputError
from bpnetkit.io.models.loaders import FORMATS, detect_format
from bpnetkit.io.models.native import read_model_config, read_native, write_native
from bpnetkit.io.models.raw import RawModel
from bpnetkit.models.base import load_state_dict_strict

__all__ = ["FORMATS", "architecture_of", "build_model", "convert", "detect_format",
           "load_model", "load_state_dict_strict", "model_from_raw", "read_model_config",
           "save_model"]


def model_classes() -> dict[str, type]:
    """Model classes the native format can rebuild, by class name."""
    from bpnetkit.models.bpnet import BPNet
    from bpnetkit.models.chrombpnet import ChromBPNet
    from bpnetkit.models.multitask import MultiTaskBPNet

    return {"BPNet": BPNet, "ChromBPNet": ChromBPNet, "MultiTaskBPNet": MultiTaskBPNet}


def unwrap(model: Any) -> Any:
    """Strip wrappers (ControlWrapper etc.) and DataParallel/DDP shells."""
    classes = model_classes()
    for _ in range(8):
        if type(model).__name__ in classes:
            return model
        inner = getattr(model, "model", None)
        if inner is None:
            inner = getattr(model, "module", None)
        if inner is None:
            return model
        model = inner
    return model


def architecture_of(model: Any) -> dict:
    """``{"class": name, "architecture": {...}}`` for a bpnetkit model (or a wrapper)."""
    model = unwrap(model)
    name = type(model).__name__
    if name not in model_classes():
        raise InputError(f"cannot save a {name}: save_model supports "
                         f"{', '.join(model_classes())} (and wrappers around them).")
    return {"class": name, "architecture": model.config()}


def build_model(spec: dict, where: str = "config.json"):
    """Rebuild an (untrained) model from ``{"class": ..., "architecture": {...}}``."""
    classes = model_classes()
    name = spec.get("class")
    if name not in classes:
        raise ConfigError(f"{where}: unknown model class {name!r}; expected one of "
                          f"{', '.join(classes)}.")
    arch = spec.get("architecture")
    if not isinstance(arch, dict):
        raise ConfigError(f"{where}: 'architecture' must be an object of {name} arguments.")
    return classes[name].from_config(arch)


def _fill_missing_biases(model, state: dict) -> dict:
    """bpnet-lite may drop the profile/count biases; ours always has them (set to zero)."""
    import torch

    out = dict(state)
    for key, value in model.state_dict().items():
        if key.endswith(".bias") and key not in out and key.replace(".bias", ".weight") in out:
            out[key] = torch.zeros_like(value)
    return out


def model_from_raw(raw: RawModel, where: str, fill_biases: bool = False):
    """Build the module a reader described and load its tensors strictly."""
    model = build_model(raw.spec, where=where)
    state = _fill_missing_biases(model, raw.state) if fill_biases else raw.state
    load_state_dict_strict(model, state, where)
    return model


def model_from_state_dict(state: dict, where: str, preset: str | None = None,
                          architecture: dict | None = None, **preset_kwargs: Any):
    """Build a model for plain state-dict tensors and load them strictly.

    The architecture comes from ``preset``, from ``architecture`` (``{"class": ...,
    "architecture": {...}}``), or is inferred from the tensor shapes (BPNet, or ChromBPNet
    when keys start with ``accessibility.``).
    """
    from bpnetkit.io.models.torch_files import infer_bpnet_architecture
    from bpnetkit.models.bpnet import BPNet
    from bpnetkit.models.chrombpnet import ChromBPNet

    if preset is not None:
        from bpnetkit.models.presets import get_preset

        model = get_preset(preset, **preset_kwargs)
    elif architecture is not None:
        model = build_model(architecture, where="architecture")
    elif any(k.startswith("accessibility.") for k in state):
        model = ChromBPNet(
            bias=BPNet(**infer_bpnet_architecture(state, where, prefix="bias.")),
            accessibility=BPNet(**infer_bpnet_architecture(state, where,
                                                           prefix="accessibility.")))
    else:
        model = BPNet(**infer_bpnet_architecture(state, where, **preset_kwargs))
    if preset is None and architecture is None and preset_kwargs.get("trimming") is None:
        # trimming (the output window) has no parameters, so a state dict cannot record it
        trims = sorted({int(m.trimming) for m in model.modules() if isinstance(m, BPNet)})
        logging.getLogger(__name__).warning(
            "%s is a plain state dict, which does not record the output window: assuming "
            "the smallest valid trimming (%s). If the model was trained with another output "
            "length, pass trimming= (or architecture=/preset=), or save models with "
            "save_model, which records it.", where, ", ".join(map(str, trims)))
    load_state_dict_strict(model, _fill_missing_biases(model, state), where)
    return model


def _load_torch(path: Path, preset: str | None, architecture: dict | None,
                padding: str | None = None, **preset_kwargs: Any):
    from bpnetkit.io.models.torch_files import raw_from_placeholder, read_torch_file

    where = f"'{path}'"
    obj, state = read_torch_file(path)
    if padding is not None and (preset is not None or obj is None):
        preset_kwargs["padding"] = padding
    if obj is not None and preset is None and architecture is None:
        model = model_from_raw(raw_from_placeholder(obj, where, padding), where,
                               fill_biases=True)
        kind = "bpnet-lite model"
    else:
        model = model_from_state_dict(state, where, preset, architecture, **preset_kwargs)
        kind = "bpnet-lite model" if obj is not None else "state dict"
    model.model_info = {"provenance": {"source": str(path), "source_format": kind}}
    return model


def load_model(path: str | os.PathLike, *, device: Any = None, dtype: Any = None,
               preset: str | None = None, architecture: dict | None = None,
               input_length: int | None = None, output_length: int | None = None,
               member: str | None = None, fold: int | str | None = None, **preset_kwargs: Any):
    """Load any supported model file into a bpnetkit model in eval mode.

    Parameters
    ----------
    path : str or PathLike
        A native folder, a multimolecule BPNet folder (``config.json`` +
        ``model.safetensors`` of ``BpNetForProfilePrediction``), a Keras ``.h5`` (official
        ChromBPNet or basepairmodels), an
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
        folder = Path(path)
        raw = read_native(folder)
        model = model_from_raw(raw, where=str(folder))
        model.model_info = {k: raw.config.get(k) for k in ("class", "architecture",
                                                           "provenance", "bpnetkit_version")}
    elif fmt == "multimolecule":
        from bpnetkit.io.models.multimolecule import read_multimolecule

        raw = read_multimolecule(path)
        model = model_from_raw(raw, where=str(path))
        model.model_info = {"provenance": raw.provenance}
    elif fmt == "keras_h5":
        from bpnetkit.io.models.keras import read_keras

        raw = read_keras(path, input_length=input_length, output_length=output_length)
        model = model_from_raw(raw, where=f"'{path}'")
        model.model_info = {"provenance": raw.provenance}
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
        model = _load_torch(Path(path), preset=preset, architecture=architecture,
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


def save_model(model: Any, path: str | os.PathLike,
               provenance: dict[str, Any] | None = None) -> Path:
    """Save a model as a folder with ``config.json`` and ``model.safetensors``.

    Parameters
    ----------
    model : BPNet, ChromBPNet, MultiTaskBPNet or a wrapper around one
        The model to save (wrappers are stripped).
    path : str or PathLike
        Output folder (created; existing files of the same names are replaced atomically).
    provenance : dict or None
        JSON-serialisable facts about the model: training data, split, metrics, source
        file, ...

    Returns
    -------
    Path
        The folder.
    """
    inner = unwrap(model)
    return write_native(path, architecture_of(inner), inner.state_dict(), provenance)


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
            dest = out / (names[i] if names else _stem(src))
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
