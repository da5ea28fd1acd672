"""The native model format: a folder with ``config.json`` and ``model.safetensors``.

``config.json`` records the model class, its architecture (constructor arguments), the
provenance given by the caller (training data, split, metrics, source file, ...) and the
bpnetkit version. Weights live in ``model.safetensors``, so loading never unpickles.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from bpnetkit.errors import ConfigError, InputError, MissingFileError

FORMAT_NAME = "bpnetkit-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def model_classes() -> dict[str, type]:
    """Model classes the native format can rebuild, by class name."""
    from bpnetkit.models.bpnet import BPNet
    from bpnetkit.models.chrombpnet import ChromBPNet
    from bpnetkit.models.multitask import MultiTaskBPNet

    return {"BPNet": BPNet, "ChromBPNet": ChromBPNet, "MultiTaskBPNet": MultiTaskBPNet}


def _unwrap(model: Any) -> Any:
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
    """``{"class": name, "architecture": {...}}`` for a bpnetkit model."""
    model = _unwrap(model)
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


def load_state_dict_strict(model, state: dict, where: str) -> None:
    """Copy ``state`` into ``model``, checking names and shapes.

    Raises
    ------
    InputError
        Naming the first layer whose shape differs (with both shapes), or missing /
        unexpected tensors.
    """
    import torch

    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if extra:
            parts.append(f"unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}")
        raise InputError(f"{where}: the weights do not match the architecture: "
                         f"{'; '.join(parts)}.")
    for key, value in own.items():
        got = tuple(state[key].shape)
        if got != tuple(value.shape):
            raise InputError(f"{where}: layer '{key}' has shape {got} in the file but the "
                             f"architecture expects {tuple(value.shape)}; the config and the "
                             f"weights disagree.")
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(state[key])


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
    from safetensors.torch import save_file

    from bpnetkit import __version__
    from bpnetkit.utils import atomic_path, write_text_atomic

    inner = _unwrap(model)
    spec = architecture_of(inner)
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"'{out}' is a file; save_model writes a folder. Pick another path.")
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in inner.state_dict().items()}
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values()})
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **spec,
        "dtype": dtypes[0] if len(dtypes) == 1 else dtypes,
        "provenance": dict(provenance or {}),
        "bpnetkit_version": __version__,
        "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    try:
        text = json.dumps(config, indent=2, default=str) + "\n"
    except (TypeError, ValueError) as e:
        raise InputError(f"provenance must be JSON-serialisable: {e}") from None
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "bpnetkit_class": spec["class"]})
    write_text_atomic(out / CONFIG_NAME, text)
    return out


def read_model_config(path: str | os.PathLike) -> dict:
    """Read and check the ``config.json`` of a native model folder."""
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.exists():
        raise MissingFileError(f"no {CONFIG_NAME} in '{folder}': not a bpnetkit model folder "
                               f"(convert other formats with `bpnetkit convert`).")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{cfg_path}: invalid JSON at line {e.lineno}: {e.msg}.") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT_NAME:
        raise ConfigError(f"{cfg_path}: not a bpnetkit model config (missing "
                          f"\"format\": \"{FORMAT_NAME}\").")
    if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
        raise ConfigError(f"{cfg_path}: format_version {cfg['format_version']} is newer than "
                          f"this bpnetkit understands ({FORMAT_VERSION}); upgrade bpnetkit.")
    return cfg


def load_native(path: str | os.PathLike):
    """Load a native model folder (or its ``model.safetensors``) on the CPU in float32."""
    from safetensors.torch import load_file

    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    cfg = read_model_config(folder)
    model = build_model(cfg, where=str(folder / CONFIG_NAME))
    weights = folder / WEIGHTS_NAME
    if not weights.exists():
        raise MissingFileError(f"'{weights}' is missing next to {CONFIG_NAME}.")
    state = load_file(str(weights), device="cpu")
    load_state_dict_strict(model, state, where=str(weights))
    model.model_info = {k: cfg.get(k) for k in ("class", "architecture", "provenance",
                                                 "bpnetkit_version")}
    return model
