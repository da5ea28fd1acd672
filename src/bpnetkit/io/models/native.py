"""The native model format: a folder with ``config.json`` and ``model.safetensors``.

``config.json`` records the model class, its architecture (constructor arguments), the
provenance given by the caller (training data, split, metrics, source file, ...) and the
bpnetkit version. Weights live in ``model.safetensors``, so loading never unpickles. This
module reads and writes the raw parts; :mod:`bpnetkit.models.files` builds the modules.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from bpnetkit.errors import ConfigError, InputError, MissingFileError
from bpnetkit.io.models.raw import MODEL_CLASSES, RawModel
from bpnetkit.utils import current_umask

FORMAT_NAME = "bpnetkit-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def write_native(path: str | os.PathLike, spec: dict, state: dict[str, Any],
                 provenance: dict[str, Any] | None = None) -> Path:
    """Write a native model folder from raw parts.

    Parameters
    ----------
    path : str or PathLike
        Output folder (created; existing files of the same names are replaced atomically).
    spec : dict
        ``{"class": ..., "architecture": {...}}``.
    state : dict
        The model's ``state_dict`` (tensors are copied to the CPU).
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

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"'{out}' is a file; save_model writes a folder. Pick another path.")
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values()})
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "class": spec["class"],
        "architecture": spec["architecture"],
        "dtype": dtypes[0] if len(dtypes) == 1 else dtypes,
        "provenance": dict(provenance or {}),
        "bpnetkit_version": __version__,
        "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    try:
        text = json.dumps(config, indent=2, default=str) + "\n"
    except (TypeError, ValueError) as e:
        raise InputError(f"provenance must be JSON-serialisable: {e}") from None
    from bpnetkit.io._errors import writing

    with writing(out / WEIGHTS_NAME), atomic_path(out / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "bpnetkit_class": spec["class"]})
        _usual_mode(tmp)
    with writing(out / CONFIG_NAME):
        write_text_atomic(out / CONFIG_NAME, text)
    return out


def _usual_mode(path: Path) -> None:
    """Give ``path`` the mode a new file gets under the umask (``0644`` for umask 022).

    safetensors writes its own temporary file (mode 0600) and renames it over ours, so on a
    shared system other users could not read the weights.
    """
    os.chmod(path, 0o666 & ~current_umask())


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


def read_native(path: str | os.PathLike) -> RawModel:
    """Read a native model folder (or its ``model.safetensors``): config and CPU tensors."""
    from safetensors.torch import load_file

    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    cfg = read_model_config(folder)
    where = str(folder / CONFIG_NAME)
    name = cfg.get("class")
    if name not in MODEL_CLASSES:
        raise ConfigError(f"{where}: unknown model class {name!r}; expected one of "
                          f"{', '.join(MODEL_CLASSES)}.")
    arch = cfg.get("architecture")
    if not isinstance(arch, dict):
        raise ConfigError(f"{where}: 'architecture' must be an object of {name} arguments.")
    weights = folder / WEIGHTS_NAME
    if not weights.exists():
        raise MissingFileError(f"'{weights}' is missing next to {CONFIG_NAME}.")
    from bpnetkit.io._errors import decoding

    with decoding(weights, "model weights",
                  fix="The file is truncated or damaged; copy it again or re-save the model "
                      "with save_model."):
        state = load_file(str(weights), device="cpu")
    return RawModel(cls=name, architecture=arch, state=state,
                    provenance=dict(cfg.get("provenance") or {}), config=cfg)
