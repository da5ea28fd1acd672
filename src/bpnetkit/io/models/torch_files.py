"""Read ``torch.save`` files: bpnet-lite whole models and plain state dicts.

Files are read with :func:`bpnetkit.io.models.safe_unpickle.safe_torch_load`, which never runs
pickle code and does not need bpnet-lite installed. A bpnet-lite ``BPNet`` or
``ChromBPNet`` (possibly inside one of its wrappers) becomes the raw architecture and
weights of our class; for a plain state dict :mod:`bpnetkit.models.files` needs a preset or
an architecture, or infers the BPNet architecture from the tensor shapes
(:func:`infer_bpnet_architecture`).
"""

from __future__ import annotations

import os
from typing import Any

from bpnetkit.errors import InputError
from bpnetkit.io.models.raw import RawModel, bpnet_receptive_half_width
from bpnetkit.io.models.safe_unpickle import Placeholder, module_state, safe_torch_load


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    return obj.__dict__.get(name, default) if isinstance(obj, Placeholder) else default


def _child(obj: Any, name: str) -> Any:
    return (_attr(obj, "_modules") or {}).get(name)


def infer_bpnet_architecture(state: dict, where: str, prefix: str = "",
                             trimming: int | None = None, padding: str = "valid",
                             name: str | None = None) -> dict:
    """Our BPNet architecture whose parameter shapes match ``state`` (keys under ``prefix``)."""
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
    return {"n_filters": int(n_filters), "n_layers": n_layers, "n_outputs": int(n_outputs),
            "n_control_tracks": int(n_ctl), "stem_kernel_size": int(stem_k),
            "profile_kernel_size": int(prof_k), "trimming": trimming, "padding": padding,
            "name": name}


def _bpnet_from_placeholder(obj: Placeholder, where: str, padding: str | None = None
                            ) -> tuple[dict, dict]:
    want = padding
    state = module_state(obj)
    iconv = _child(obj, "iconv")
    pad = _attr(iconv, "padding", (0,))
    pad = pad[0] if isinstance(pad, tuple | list) else pad
    padding = "same" if (pad == "same" or (isinstance(pad, int) and pad > 0)) else "valid"
    arch = infer_bpnet_architecture(state, where, trimming=_attr(obj, "trimming"),
                                    padding=padding, name=_attr(obj, "name"))
    if padding == "same" and want == "valid":
        rf = bpnet_receptive_half_width(arch["stem_kernel_size"], arch["n_layers"],
                                        arch["profile_kernel_size"])
        if arch["trimming"] < rf:
            raise InputError(f"{where}: padding='valid' needs trimming >= {rf}, but this model "
                             f"trims {arch['trimming']}; load it with its own (same) padding.")
        # the same numbers up to float rounding, with less arithmetic
        arch["padding"] = "valid"
    return arch, state


def raw_from_placeholder(obj: Any, where: str, padding: str | None = None) -> RawModel:
    """Turn a placeholder tree from a bpnet-lite file into a raw BPNet / ChromBPNet.

    By default (``padding=None``) the model keeps bpnet-lite's zero-padded computation, so
    outputs are bit-identical; ``padding="valid"`` switches to valid convolutions (equal up
    to float rounding, less arithmetic) when the trimming allows. bpnet-lite may drop the
    profile/count biases; the tensors are returned as stored.
    """
    for _ in range(8):  # unwrap bpnet-lite / tangermeme wrappers
        if not isinstance(obj, Placeholder):
            break
        cls = obj.qualified_name.rsplit(".", 1)[-1]
        if cls == "BPNet":
            arch, state = _bpnet_from_placeholder(obj, where, padding)
            return RawModel("BPNet", arch, state)
        if cls == "ChromBPNet":
            bias, acc = _child(obj, "bias"), _child(obj, "accessibility")
            if bias is None or acc is None:
                raise InputError(f"{where}: ChromBPNet without 'bias'/'accessibility' parts.")
            b_arch, b_state = _bpnet_from_placeholder(bias, where, padding)
            a_arch, a_state = _bpnet_from_placeholder(acc, where, padding)
            state = {**{f"bias.{k}": v for k, v in b_state.items()},
                     **{f"accessibility.{k}": v for k, v in a_state.items()}}
            return RawModel("ChromBPNet", {"bias": b_arch, "accessibility": a_arch,
                                           "name": _attr(obj, "name")}, state)
        inner = _child(obj, "model")
        if inner is None:
            break
        obj = inner
    name = obj.qualified_name if isinstance(obj, Placeholder) else type(obj).__name__
    raise InputError(f"{where}: holds a {name}, which bpnetkit cannot convert (supported: "
                     f"bpnet-lite BPNet and ChromBPNet, their wrappers, and state dicts).")


def plain_state_dict(state: dict) -> dict:
    """The tensors of a state dict or checkpoint (``state_dict`` keys, ``module.`` stripped)."""
    import torch

    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    for key in ("state_dict", "model_state_dict"):
        if not tensors and isinstance(state.get(key), dict):
            tensors = {k: v for k, v in state[key].items() if isinstance(v, torch.Tensor)}
    if any(k.startswith("module.") for k in tensors):  # DataParallel / DDP checkpoints
        tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    return tensors


def read_torch_file(path: str | os.PathLike) -> tuple[Placeholder | None, dict]:
    """Read a zip-format ``torch.save`` file without running pickle code.

    Returns
    -------
    (Placeholder or None, dict)
        For a whole module (bpnet-lite): its placeholder tree (see
        :func:`raw_from_placeholder`) and its flattened state dict; for a state dict or
        checkpoint: None and its tensors (:func:`plain_state_dict`).
    """
    obj = safe_torch_load(path)
    if isinstance(obj, Placeholder):
        return obj, module_state(obj)
    if isinstance(obj, dict):
        return None, plain_state_dict(obj)
    raise InputError(f"'{path}' holds a {type(obj).__name__}; expected a model or a state "
                     f"dict.")
