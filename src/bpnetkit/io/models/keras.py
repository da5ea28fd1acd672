"""Read Keras HDF5 model files: official ChromBPNet and basepairmodels / bpnet-refactor BPNet.

Weight layers are found by their exact names (``{prefix}bpnet_1st_conv``,
``{prefix}bpnet_{i}conv``, ``{prefix}prof_out_precrop``, ``{prefix}logcount_predictions``
for ChromBPNet; ``1st_conv``, ``{i}conv``, ``profile_out_prebias``, ``profile_predictions``,
``logcount_predictions`` for basepairmodels), so auxiliary layers written by different
TensorFlow versions (``add_*``, ``crop_*``, ``top_level_model_weights``) are ignored. The
number of filters and dilated layers is read from the weights; dilations, padding and the
output window from the stored ``model_config`` when present.

Keras stores Conv1D kernels as ``(width, in, out)`` (PyTorch: ``(out, in, width)``, no flip)
and Dense kernels as ``(in, out)``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.models.raw import RawModel, bpnet_receptive_half_width

_SUFFIX_STEM = "bpnet_1st_conv"


class KerasWeights:
    """All weight arrays of a Keras h5 file, by layer name, plus its layer configs."""

    def __init__(self, path: str | os.PathLike) -> None:
        import h5py

        self.path = Path(path)
        self.layers: dict[str, dict[str, np.ndarray]] = {}
        self.configs: dict[str, dict] = {}
        self.input_length: int | None = None
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise InputError(f"'{self.path}' is not a readable HDF5 file: {e}") from None
        from bpnetkit.io._errors import decoding

        with f, decoding(self.path, "Keras HDF5 file"):
            root = f["model_weights"] if "model_weights" in f else f
            root.visititems(self._collect)
            raw = f.attrs.get("model_config")
            if raw is None and "model_weights" in f:
                raw = f["model_weights"].attrs.get("model_config")
        if raw is not None:
            if isinstance(raw, bytes):
                raw = raw.decode()
            try:
                self._walk_config(json.loads(raw))
            except (json.JSONDecodeError, TypeError, AttributeError):
                pass
        if not self.layers:
            raise InputError(f"'{self.path}': no Keras weight layers found (expected groups "
                             f"with 'kernel:0' / 'bias:0' datasets).")

    def _collect(self, name: str, obj: Any) -> None:
        import h5py

        if not isinstance(obj, h5py.Dataset):
            return
        parts = name.split("/")
        leaf = parts[-1].split(":")[0]
        if leaf not in ("kernel", "bias") or len(parts) < 2:
            return
        layer = parts[-2]
        entry = self.layers.setdefault(layer, {})
        if leaf in entry:
            raise InputError(f"'{self.path}': layer '{layer}' appears twice ('{name}'); "
                             f"cannot tell which weights to use.")
        entry[leaf] = np.asarray(obj[()], dtype=np.float32)

    def _walk_config(self, node: Any) -> None:
        if isinstance(node, dict):
            if node.get("class_name") == "InputLayer" and self.input_length is None:
                shape = node.get("config", {}).get("batch_input_shape") or \
                    node.get("config", {}).get("batch_shape")
                if shape and len(shape) == 3 and shape[1]:
                    self.input_length = int(shape[1])
            name = node.get("config", {}).get("name") if isinstance(node.get("config"),
                                                                    dict) else None
            if name and "class_name" in node:
                self.configs.setdefault(name, {"class_name": node["class_name"],
                                               "inbound": node.get("inbound_nodes", []),
                                               **node["config"]})
            for value in node.values():
                self._walk_config(value)
        elif isinstance(node, list):
            for value in node:
                self._walk_config(value)

    def get(self, layer: str, what: str = "kernel", ndim: int | None = None) -> np.ndarray:
        """The array ``what`` ("kernel" or "bias") of ``layer``; clear error when absent.

        ``ndim`` is the rank the reader expects (3 for a Conv1D kernel ``(width, in, out)``,
        2 for a Dense kernel ``(in, out)``; biases are always 1-D); another rank is an
        :class:`InputError` naming the layer and the file.
        """
        if layer not in self.layers or what not in self.layers[layer]:
            raise InputError(f"'{self.path}': weight layer '{layer}' ({what}) not found. "
                             f"Layers in the file: {', '.join(sorted(self.layers))}.")
        arr = self.layers[layer][what]
        want = 1 if what == "bias" else ndim
        if want is not None and arr.ndim != want:
            kind = {3: "a Conv1D kernel (width, in, out)", 2: "a Dense kernel (in, out)",
                    1: "a bias vector"}.get(want, f"{want}-D")
            raise InputError(f"'{self.path}': layer '{layer}' {what} has shape "
                             f"{tuple(arr.shape)}, but the reader expects {kind}. The file's "
                             f"layer names match a known model but its weights do not; it "
                             f"was not written by that model (or is damaged).")
        return arr

    def consumers(self, layer: str) -> list[dict]:
        """Layer configs whose inputs include ``layer``."""
        out = []
        for cfg in self.configs.values():
            text = json.dumps(cfg.get("inbound", []))
            if f'"{layer}"' in text:
                out.append(cfg)
        return out


def _conv(kernel: np.ndarray) -> np.ndarray:
    """Keras Conv1D kernel (width, in, out) -> PyTorch (out, in, width)."""
    return np.ascontiguousarray(kernel.transpose(2, 1, 0))


def _check_conv(w: KerasWeights, layer: str, expect_dilation: int | None = None) -> None:
    cfg = w.configs.get(layer)
    if not cfg:
        return
    if cfg.get("padding", "valid") != "valid":
        raise InputError(f"'{w.path}': layer '{layer}' uses padding {cfg['padding']!r}; only "
                         f"'valid' ChromBPNet-style models are supported by this reader.")
    if expect_dilation is not None:
        dil = cfg.get("dilation_rate", [expect_dilation])
        dil = dil[0] if isinstance(dil, list | tuple) else dil
        if int(dil) != expect_dilation:
            raise InputError(f"'{w.path}': layer '{layer}' has dilation {dil}, but BPNet "
                             f"layer {layer} should have {expect_dilation} (2**i).")


def chrombpnet_prefixes(w: KerasWeights) -> list[str]:
    """Name prefixes of the BPNet sub-models in a ChromBPNet Keras file ('' or 'wo_bias_')."""
    out = []
    for name in w.layers:
        m = re.fullmatch(r"(.*)bpnet_1st_conv", name)
        if m:
            out.append(m.group(1))
    return sorted(out)


def _first(w: KerasWeights, names: list[str]) -> str:
    """The first of ``names`` that is a weight layer of ``w`` (else the first, for errors)."""
    for name in names:
        if name in w.layers:
            return name
    return names[0]


def _chrombpnet_submodel(w: KerasWeights, prefix: str, input_length: int | None,
                         output_length: int | None) -> tuple[dict, dict]:
    """BPNet architecture and tensors of the layers named ``{prefix}bpnet_*``."""
    import torch

    stem_name = f"{prefix}bpnet_1st_conv"
    stem = w.get(stem_name, ndim=3)
    n_layers = 0
    while f"{prefix}bpnet_{n_layers + 1}conv" in w.layers:
        n_layers += 1
    if n_layers == 0:
        raise InputError(f"'{w.path}': found '{stem_name}' but no dilated layers "
                         f"'{prefix}bpnet_1conv', ...")
    prof_name = _first(w, [f"{prefix}bpnet_prof_out_precrop", f"{prefix}prof_out_precrop"])
    count_name = _first(w, [f"{prefix}bpnet_logcount_predictions",
                            f"{prefix}logcount_predictions"])
    prof = w.get(prof_name, ndim=3)
    dense = w.get(count_name, ndim=2)
    n_filters = stem.shape[2]
    _check_conv(w, stem_name, 1)
    for i in range(1, n_layers + 1):
        _check_conv(w, f"{prefix}bpnet_{i}conv", 2 ** i)
    _check_conv(w, prof_name, 1)
    if dense.shape[1] != 1:
        raise InputError(f"'{w.path}': '{count_name}' has {dense.shape[1]} outputs; ChromBPNet "
                         f"count heads have 1.")

    # output window: from the Cropping1D after the profile conv, else the arguments
    rf = bpnet_receptive_half_width(stem.shape[0], n_layers, prof.shape[0])
    in_len = input_length or w.input_length or 2114
    crop = None
    for cfg in w.consumers(prof_name):
        if cfg.get("class_name") == "Cropping1D":
            c = cfg.get("cropping", [0, 0])
            c = c if isinstance(c, list | tuple) else [c, c]
            crop = int(c[0])
    if output_length is not None:
        trimming = (in_len - output_length) // 2
    elif crop is not None:
        trimming = rf + crop
    else:
        trimming = (in_len - 1000) // 2 if in_len > 1000 + 2 * rf else rf
    trimming = max(trimming, rf)
    arch = {"n_filters": int(n_filters), "n_layers": n_layers,
            "n_outputs": int(prof.shape[2]), "n_control_tracks": 0,
            "stem_kernel_size": int(stem.shape[0]), "profile_kernel_size": int(prof.shape[0]),
            "trimming": int(trimming), "count_window": "valid",
            "name": "accessibility" if "wo_bias" in prefix else "bias"}
    state = {"iconv.weight": _conv(stem), "iconv.bias": w.get(stem_name, "bias"),
             "fconv.weight": _conv(prof), "fconv.bias": w.get(prof_name, "bias"),
             "linear.weight": np.ascontiguousarray(dense.T),
             "linear.bias": w.get(count_name, "bias")}
    for i in range(1, n_layers + 1):
        name = f"{prefix}bpnet_{i}conv"
        state[f"rconvs.{i - 1}.weight"] = _conv(w.get(name, ndim=3))
        state[f"rconvs.{i - 1}.bias"] = w.get(name, "bias")
    return arch, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


def is_chrombpnet(w: KerasWeights) -> bool:
    """Whether the file holds official ChromBPNet layer names."""
    return bool(chrombpnet_prefixes(w))


def is_basepairmodels(w: KerasWeights) -> bool:
    """Whether the file holds basepairmodels / bpnet-refactor layer names."""
    return "1st_conv" in w.layers and "profile_out_prebias" in w.layers


def read_keras(path: str | os.PathLike, input_length: int | None = None,
               output_length: int | None = None) -> RawModel:
    """Read a Keras h5 model file: our architecture and float32 tensors.

    Parameters
    ----------
    path : str or PathLike
        ``bias_model_scaled.h5``, ``chrombpnet_nobias.h5``, ``chrombpnet.h5`` (official
        ChromBPNet) or a basepairmodels / bpnet-refactor BPNet h5.
    input_length, output_length : int or None
        Override the window (default: from the file's model config; 2114 -> 1000).

    Returns
    -------
    RawModel
        A full ChromBPNet file gives class ``ChromBPNet``; a single model ``BPNet``.
    """
    w = KerasWeights(path)
    prov = {"source": str(path), "source_format": "keras_h5"}
    prefixes = chrombpnet_prefixes(w)
    if prefixes:
        parts = {p: _chrombpnet_submodel(w, p, input_length, output_length) for p in prefixes}
        if len(prefixes) == 1:
            arch, state = parts[prefixes[0]]
            return RawModel("BPNet", arch, state, prov)
        acc = [p for p in prefixes if "wo_bias" in p]
        bias = [p for p in prefixes if "wo_bias" not in p]
        if len(acc) != 1 or len(bias) != 1:
            raise InputError(f"'{path}': found {len(prefixes)} BPNet sub-models with prefixes "
                             f"{prefixes}; expected one bias model and one 'wo_bias_' model.")
        (b_arch, b_state), (a_arch, a_state) = parts[bias[0]], parts[acc[0]]
        state = {**{f"bias.{k}": v for k, v in b_state.items()},
                 **{f"accessibility.{k}": v for k, v in a_state.items()}}
        return RawModel("ChromBPNet", {"bias": b_arch, "accessibility": a_arch,
                                       "name": "chrombpnet"}, state, prov)
    if is_basepairmodels(w):
        from bpnetkit.io.models.basepairmodels import read_basepairmodels

        arch, state = read_basepairmodels(w, input_length=input_length,
                                          output_length=output_length)
        return RawModel("BPNet", arch, state, prov)
    raise InputError(f"'{path}': unrecognised Keras model: no 'bpnet_1st_conv' (ChromBPNet) or "
                     f"'1st_conv' + 'profile_out_prebias' (basepairmodels) layers. Layers: "
                     f"{', '.join(sorted(w.layers)[:20])}.")
