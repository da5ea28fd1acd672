"""Export bpnetkit models to ONNX or TorchScript, with their config inside the file.

The exported graph takes ``X`` ``(N, 4, L)`` (float32, one-hot) and, for models with control
tracks, ``X_ctl`` ``(N, C, L)``; it returns ``profile`` (logits) and ``counts`` (log counts).
The batch size is free; the input length is fixed at export time (``input_length``). The
config (class, architecture, input/output names and shapes, reverse-complement track map,
bpnetkit version, provenance) is stored as JSON: ONNX ``metadata_props["bpnetkit_config"]``,
TorchScript extra file ``config.json`` (``torch.jit.load(path, _extra_files={"config.json":
""})``).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import torch

from bpnetkit.errors import InputError
from bpnetkit.models.base import rc_permutation

FORMATS = ("onnx", "torchscript")
CONFIG_KEY = "bpnetkit_config"
TORCHSCRIPT_CONFIG = "config.json"

__all__ = ["FORMATS", "export_config", "export_model", "read_export_config"]


def _default_input_length(model: torch.nn.Module) -> int:
    """The model's input length for 1000 output bases (same padding: 1000)."""
    return int(model.input_length(1000))


def export_config(model: torch.nn.Module, input_length: int) -> dict[str, Any]:
    """The JSON config stored in an exported file."""
    from bpnetkit import __version__
    from bpnetkit.models.files import architecture_of, unwrap

    inner = unwrap(model)
    n_ctl = int(getattr(inner, "n_control_tracks", 0))
    perm = rc_permutation(inner)
    return {**architecture_of(inner),
            "input_length": int(input_length),
            "output_length": int(inner.output_length(input_length)),
            "inputs": ["X", "X_ctl"] if n_ctl else ["X"],
            "outputs": ["profile", "counts"],
            "n_control_tracks": n_ctl,
            "rc_permutation": None if perm is None else {k: list(v) for k, v in
                                                         asdict(perm).items()},
            "provenance": dict((getattr(inner, "model_info", None) or {}).get("provenance")
                               or {}),
            "bpnetkit_version": __version__}


def export_model(model: torch.nn.Module, path: str | os.PathLike,
                 format: Literal["onnx", "torchscript"] = "onnx",
                 input_length: int | None = None, opset: int = 17) -> Path:
    """Write ``model`` as an ONNX or TorchScript file carrying its config.

    Parameters
    ----------
    model : BPNet, ChromBPNet, MultiTaskBPNet or a wrapper around one
        The model (wrappers are stripped; it is exported in float32 on the CPU, in eval
        mode; the model object itself is not changed).
    path : str or PathLike
        Output file.
    format : {"onnx", "torchscript"}
        ONNX (legacy TorchScript-based exporter; needs the ``onnx`` package) or TorchScript
        (``torch.jit.trace``).
    input_length : int or None
        Input length the graph is built for (None: the length giving 1000 output bases).
    opset : int
        ONNX opset version.

    Returns
    -------
    Path
        The file.
    """
    import copy

    from bpnetkit.models.files import unwrap
    from bpnetkit.utils import atomic_path

    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}.")
    inner = copy.deepcopy(unwrap(model)).float().cpu().eval()
    L = _default_input_length(inner) if input_length is None else int(input_length)
    if inner.output_length(L) < 1:
        raise InputError(f"input_length {L} is too short for this model (trimming "
                         f"{inner.trimming} per side).")
    config = export_config(inner, L)
    example = [torch.zeros(1, 4, L)]
    if config["n_control_tracks"]:
        example.append(torch.zeros(1, config["n_control_tracks"], L))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # shape checks become constants: L is fixed by design
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        with atomic_path(out) as tmp:
            if format == "onnx":
                _export_onnx(inner, tuple(example), config, Path(tmp), opset)
            else:
                traced = torch.jit.trace(inner, tuple(example))
                torch.jit.save(traced, str(tmp),
                               _extra_files={TORCHSCRIPT_CONFIG: json.dumps(config)})
    return out


def _export_onnx(model: torch.nn.Module, example: tuple, config: dict, path: Path,
                 opset: int) -> None:
    try:
        import onnx
    except ImportError:
        raise InputError("ONNX export needs the 'onnx' package: pip install onnx "
                         "(and onnxruntime to run the file).") from None
    names = config["inputs"]
    axes = {n: {0: "batch"} for n in [*names, *config["outputs"]]}
    torch.onnx.export(model, example, str(path), input_names=names,
                      output_names=config["outputs"], dynamic_axes=axes, opset_version=opset,
                      dynamo=False)
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = CONFIG_KEY, json.dumps(config)
    onnx.save(proto, str(path))


def read_export_config(path: str | os.PathLike) -> dict[str, Any]:
    """The config stored in an exported ONNX or TorchScript file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"'{p}' does not exist.")
    if p.suffix.lower() == ".onnx":
        import onnx

        props = {e.key: e.value for e in onnx.load(str(p), load_external_data=False)
                 .metadata_props}
        if CONFIG_KEY not in props:
            raise InputError(f"'{p}' has no '{CONFIG_KEY}' metadata: not written by bpnetkit.")
        return json.loads(props[CONFIG_KEY])
    extra = {TORCHSCRIPT_CONFIG: ""}
    torch.jit.load(str(p), map_location="cpu", _extra_files=extra)
    if not extra[TORCHSCRIPT_CONFIG]:
        raise InputError(f"'{p}' has no {TORCHSCRIPT_CONFIG}: not written by bpnetkit.")
    return json.loads(extra[TORCHSCRIPT_CONFIG])
