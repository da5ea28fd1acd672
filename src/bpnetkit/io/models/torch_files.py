"""Load ``torch.save`` files: bpnet-lite whole models and plain state dicts.

Files are read with :func:`bpnetkit.io.models.safe_unpickle.safe_torch_load`, which never runs
pickle code and does not need bpnet-lite installed. A bpnet-lite ``BPNet`` or
``ChromBPNet`` (possibly inside one of its wrappers) becomes our class with the same
weights; a plain state dict needs a preset or an architecture, or the BPNet architecture
is inferred from the tensor shapes.
"""

from __future__ import annotations

import os
from typing import Any

from bpnetkit.errors import InputError
from bpnetkit.io.models.safe_unpickle import Placeholder, module_state, safe_torch_load


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    return obj.__dict__.get(name, default) if isinstance(obj, Placeholder) else default


def _child(obj: Any, name: str) -> Any:
    return (_attr(obj, "_modules") or {}).get(name)


def infer_bpnet(state: dict, where: str, prefix: str = "", trimming: int | None = None,
                padding: str = "valid", name: str | None = None):
    """Build our BPNet whose parameter shapes match ``state`` (keys under ``prefix``)."""
    from bpnetkit.models.bpnet import BPNet

    def get(key: str):
        if prefix + key not in state:
            raise InputError(f"{where}: tensor '{prefix}{key}' not found; this is not a "
                             f"BPNet state dict (keys: {', '.join(list(state)[:8])} ...). "
                             f"Pass preset= or architecture= to load it.")
        return state[prefix + key]

    iw = get("iconv.weight")
    fw = get("fconv.weight")
    lw = get("linear.weight")
    n_filters, _, stem_k = iw.shape
    n_layers = 0
    while f"{prefix}rconvs.{n_layers}.weight" in state:
        n_layers += 1
    n_outputs, f_in, prof_k = fw.shape
    n_ctl = f_in - n_filters
    if lw.shape[0] != 1:
        raise InputError(f"{where}: '{prefix}linear.weight' has {lw.shape[0]} outputs; a "
                         f"BPNet count head has 1. Pass preset= or architecture=.")
    if padding == "same" and trimming is None:
        trimming = 2 ** n_layers
    return BPNet(n_filters=n_filters, n_layers=n_layers, n_outputs=n_outputs,
                 n_control_tracks=n_ctl, stem_kernel_size=stem_k, profile_kernel_size=prof_k,
                 trimming=trimming, padding=padding, name=name)


def _fill_missing_biases(model, state: dict, prefix: str = "") -> dict:
    """bpnet-lite may drop the profile/count biases; ours always has them (set to zero)."""
    import torch

    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    for key, value in model.state_dict().items():
        if key.endswith(".bias") and key not in out and key.replace(".bias", ".weight") in out:
            out[key] = torch.zeros_like(value)
    return out


def _bpnet_from_placeholder(obj: Placeholder, where: str, padding: str | None = None):
    from bpnetkit.io.models.native import load_state_dict_strict
    from bpnetkit.models.bpnet import BPNet

    want = padding
    state = module_state(obj)
    iconv = _child(obj, "iconv")
    pad = _attr(iconv, "padding", (0,))
    pad = pad[0] if isinstance(pad, tuple | list) else pad
    padding = "same" if (pad == "same" or (isinstance(pad, int) and pad > 0)) else "valid"
    trimming = _attr(obj, "trimming")
    model = infer_bpnet(state, where, trimming=trimming, padding=padding,
                        name=_attr(obj, "name"))
    if padding == "same" and want == "valid":
        if model.trimming < model.receptive_half_width:
            raise InputError(f"{where}: padding='valid' needs trimming >= "
                             f"{model.receptive_half_width}, but this model trims "
                             f"{model.trimming}; load it with its own (same) padding.")
        # the same numbers up to float rounding, with less arithmetic
        model = BPNet(**{**model.config(), "padding": "valid"})
    load_state_dict_strict(model, _fill_missing_biases(model, state), where)
    return model


def model_from_placeholder(obj: Any, where: str, padding: str | None = None):
    """Turn a placeholder tree from a bpnet-lite file into our model.

    By default (``padding=None``) the model keeps bpnet-lite's zero-padded computation, so
    outputs are bit-identical; ``padding="valid"`` switches to valid convolutions (equal up
    to float rounding, less arithmetic) when the trimming allows.
    """
    from bpnetkit.models.chrombpnet import ChromBPNet

    for _ in range(8):  # unwrap bpnet-lite / tangermeme wrappers
        if not isinstance(obj, Placeholder):
            break
        cls = obj.qualified_name.rsplit(".", 1)[-1]
        if cls == "BPNet":
            return _bpnet_from_placeholder(obj, where, padding)
        if cls == "ChromBPNet":
            bias, acc = _child(obj, "bias"), _child(obj, "accessibility")
            if bias is None or acc is None:
                raise InputError(f"{where}: ChromBPNet without 'bias'/'accessibility' parts.")
            return ChromBPNet(bias=_bpnet_from_placeholder(bias, where, padding),
                              accessibility=_bpnet_from_placeholder(acc, where, padding),
                              name=_attr(obj, "name"))
        inner = _child(obj, "model")
        if inner is None:
            break
        obj = inner
    name = obj.qualified_name if isinstance(obj, Placeholder) else type(obj).__name__
    raise InputError(f"{where}: holds a {name}, which bpnetkit cannot convert (supported: "
                     f"bpnet-lite BPNet and ChromBPNet, their wrappers, and state dicts).")


def model_from_state_dict(state: dict, where: str, preset: str | None = None,
                          architecture: dict | None = None, **preset_kwargs: Any):
    """Build a model for a plain state dict and load it strictly."""
    import torch

    from bpnetkit.io.models.native import build_model, load_state_dict_strict
    from bpnetkit.models.chrombpnet import ChromBPNet

    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    for key in ("state_dict", "model_state_dict"):
        if not state and isinstance(state.get(key), dict):
            state = state[key]
    if any(k.startswith("module.") for k in state):  # DataParallel / DDP checkpoints
        state = {k.removeprefix("module."): v for k, v in state.items()}
    if preset is not None:
        from bpnetkit.models.presets import get_preset

        model = get_preset(preset, **preset_kwargs)
    elif architecture is not None:
        model = build_model(architecture, where="architecture")
    elif any(k.startswith("accessibility.") for k in state):
        model = ChromBPNet(bias=infer_bpnet(state, where, prefix="bias."),
                           accessibility=infer_bpnet(state, where, prefix="accessibility."))
    else:
        model = infer_bpnet(state, where, **preset_kwargs)
    load_state_dict_strict(model, _fill_missing_biases(model, state), where)
    return model


def load_torch_file(path: str | os.PathLike, preset: str | None = None,
                    architecture: dict | None = None, padding: str | None = None,
                    **preset_kwargs: Any):
    """Load a bpnet-lite ``.torch`` whole model or a plain state dict (never unpickles code).

    Returns
    -------
    torch.nn.Module
        Our model on the CPU, with ``model_info`` recording the source.
    """
    where = f"'{path}'"
    obj = safe_torch_load(path)
    if padding is not None and (preset is not None or not isinstance(obj, Placeholder)):
        preset_kwargs["padding"] = padding
    if isinstance(obj, Placeholder):
        if preset is not None or architecture is not None:
            model = model_from_state_dict(module_state(obj), where, preset, architecture,
                                          **preset_kwargs)
        else:
            model = model_from_placeholder(obj, where, padding)
        kind = "bpnet-lite model"
    elif isinstance(obj, dict):
        model = model_from_state_dict(obj, where, preset, architecture, **preset_kwargs)
        kind = "state dict"
    else:
        raise InputError(f"{where} holds a {type(obj).__name__}; expected a model or a state "
                         f"dict.")
    model.model_info = {"provenance": {"source": str(path), "source_format": kind}}
    return model


