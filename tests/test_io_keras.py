"""Keras h5 loading: official ChromBPNet fixtures, and official-layout files of other sizes
checked against an independent numpy forward pass (channels-last, valid convolutions)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from bpnetkit import load_model
from bpnetkit.errors import InputError
from bpnetkit.models import BPNet, ChromBPNet

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "chrombpnet_keras"


def _close(ours: np.ndarray, expected: np.ndarray) -> None:
    tol = 1e-4 * np.maximum(1.0, np.abs(expected))
    assert ours.shape == expected.shape
    assert np.all(np.abs(ours - expected) <= tol), np.abs(ours - expected).max()


# --------------------------------------------------------------------------- fixtures
@pytest.mark.parametrize("key,fname,cls", [("bias", "bias_model_scaled.h5", BPNet),
                                           ("nobias", "chrombpnet_nobias.h5", BPNet),
                                           ("chrombpnet", "chrombpnet.h5", ChromBPNet)])
def test_official_fixture_outputs(key, fname, cls):
    if not (FIXTURES / fname).exists():
        pytest.skip("shared ChromBPNet Keras fixtures not present")
    expected = np.load(FIXTURES / "expected_outputs.npz")
    model = load_model(FIXTURES / fname, device="cpu")
    assert isinstance(model, cls) and not model.training
    with torch.no_grad():
        profile, counts = model(torch.tensor(expected["X"], dtype=torch.float32))
    _close(profile[:, 0].numpy(), expected[f"{key}_profile_logits"])
    _close(counts.numpy(), expected[f"{key}_log_counts"])


# --------------------------------------------------------------------------- numpy oracle
def np_conv_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, dilation: int = 1):
    """x (L, in), Keras kernel (k, in, out) -> (L - d*(k-1), out)."""
    k = kernel.shape[0]
    L_out = x.shape[0] - dilation * (k - 1)
    out = np.zeros((L_out, kernel.shape[2]))
    for j in range(k):
        out += x[j * dilation: j * dilation + L_out] @ kernel[j]
    return out + bias


def np_bpnet(x: np.ndarray, w: dict, n_layers: int, out_len: int):
    """The official ChromBPNet BPNet, written from its definition (channels last)."""
    h = np.maximum(np_conv_valid(x, *w["stem"]), 0)
    for i in range(1, n_layers + 1):
        d = 2 ** i
        conv = np.maximum(np_conv_valid(h, *w[f"conv{i}"], dilation=d), 0)
        h = h[d:-d] + conv
    prof = np_conv_valid(h, *w["prof"])
    crop = (prof.shape[0] - out_len) // 2
    prof = prof[crop: crop + out_len, 0]
    counts = h.mean(axis=0) @ w["dense"][0] + w["dense"][1]
    return prof, counts


def random_weights(rng, n_filters, n_layers, stem_k, prof_k):
    def conv(k, i, o):
        return (rng.normal(0, np.sqrt(2 / (k * i)), (k, i, o)).astype(np.float32),
                rng.normal(0, 0.1, o).astype(np.float32))

    w = {"stem": conv(stem_k, 4, n_filters), "prof": conv(prof_k, n_filters, 1),
         "dense": (rng.normal(0, 0.3, (n_filters, 1)).astype(np.float32),
                   rng.normal(0, 0.1, 1).astype(np.float32))}
    for i in range(1, n_layers + 1):
        w[f"conv{i}"] = conv(3, n_filters, n_filters)
    return w


def layer_table(prefix: str, n_layers: int) -> dict[str, str]:
    """Our weight keys -> official layer names for one sub-model."""
    head = "bpnet_" if prefix else ""
    names = {"stem": f"{prefix}bpnet_1st_conv", "prof": f"{prefix}{head}prof_out_precrop",
             "dense": f"{prefix}{head}logcount_predictions"}
    for i in range(1, n_layers + 1):
        names[f"conv{i}"] = f"{prefix}bpnet_{i}conv"
    return names


def model_config(prefix, n_layers, in_len, crop, name):
    """A minimal Keras functional config with the layers the loader reads."""
    names = layer_table(prefix, n_layers)
    layers = [{"class_name": "InputLayer", "name": "sequence",
               "config": {"name": "sequence", "batch_input_shape": [None, in_len, 4]},
               "inbound_nodes": []},
              {"class_name": "Conv1D", "name": names["stem"], "inbound_nodes": [],
               "config": {"name": names["stem"], "padding": "valid", "dilation_rate": [1]}}]
    for i in range(1, n_layers + 1):
        layers.append({"class_name": "Conv1D", "name": names[f"conv{i}"], "inbound_nodes": [],
                       "config": {"name": names[f"conv{i}"], "padding": "valid",
                                  "dilation_rate": [2 ** i]}})
    layers.append({"class_name": "Conv1D", "name": names["prof"], "inbound_nodes": [],
                   "config": {"name": names["prof"], "padding": "valid",
                              "dilation_rate": [1]}})
    crop_name = f"{prefix}logits_profile_predictions_preflatten"
    layers.append({"class_name": "Cropping1D", "name": crop_name,
                   "config": {"name": crop_name, "cropping": [crop, crop]},
                   "inbound_nodes": [[[names["prof"], 0, 0, {}]]]})
    return {"class_name": "Functional", "config": {"name": name, "layers": layers}}


def write_weights(group: h5py.Group, w: dict, prefix: str, n_layers: int, nested: bool):
    names = layer_table(prefix, n_layers)
    weight_names = []
    for key, layer in names.items():
        g = group if nested else group.create_group(layer)
        sub = g.create_group(layer)
        sub["kernel:0"], sub["bias:0"] = w[key]
        weight_names += [f"{layer}/kernel:0", f"{layer}/bias:0"]
        if not nested:
            g.attrs["weight_names"] = [f"{layer}/kernel:0", f"{layer}/bias:0"]
    return weight_names


def write_official_h5(path, prefix, w, n_layers, in_len, out_len, stem_k, prof_k):
    rf = (stem_k - 1) // 2 + sum(2 ** i for i in range(1, n_layers + 1)) + (prof_k - 1) // 2
    crop = (in_len - out_len) // 2 - rf
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.8.0"
        f.attrs["model_config"] = json.dumps(model_config(prefix, n_layers, in_len, crop,
                                                          "model"))
        mw = f.create_group("model_weights")
        write_weights(mw, w, prefix, n_layers, nested=False)
        # auxiliary layers other TF versions write: must be ignored
        for aux in ("add_17", "crop_3", "cropping1d_2", "top_level_model_weights", "gap"):
            mw.create_group(aux).attrs["weight_names"] = np.array([], dtype=np.float64)
        mw.attrs["layer_names"] = list(mw.keys())


@pytest.mark.parametrize("n_filters,n_layers,stem_k,prof_k,in_len,out_len", [
    (5, 3, 21, 75, 400, 120), (12, 6, 15, 31, 700, 300), (3, 1, 7, 9, 60, 10)])
def test_other_sizes_match_numpy(tmp_path, n_filters, n_layers, stem_k, prof_k, in_len,
                                 out_len):
    rng = np.random.default_rng(n_filters)
    w = random_weights(rng, n_filters, n_layers, stem_k, prof_k)
    path = tmp_path / "bias_model_scaled.h5"
    write_official_h5(path, "", w, n_layers, in_len, out_len, stem_k, prof_k)
    X = (rng.random((3, in_len, 4)) < 0.25).astype(np.float32)
    model = load_model(path, device="cpu")
    assert isinstance(model, BPNet) and model.n_filters == n_filters
    assert model.n_layers == n_layers and model.output_length(in_len) == out_len
    with torch.no_grad():
        profile, counts = model(torch.tensor(X.transpose(0, 2, 1)))
    for n in range(3):
        prof_np, counts_np = np_bpnet(X[n].astype(np.float64), w, n_layers, out_len)
        _close(profile[n, 0].numpy(), prof_np)
        _close(counts[n].numpy(), counts_np)


def test_full_chrombpnet_other_sizes(tmp_path):
    rng = np.random.default_rng(7)
    in_len, out_len = 500, 100
    wb = random_weights(rng, 5, 2, 21, 75)
    wa = random_weights(rng, 7, 5, 21, 75)
    path = tmp_path / "chrombpnet.h5"
    with h5py.File(path, "w") as f:
        mw = f.create_group("model_weights")
        for group, w, prefix, nl in (("model", wb, "", 2), ("model_wo_bias", wa, "wo_bias_", 5)):
            g = mw.create_group(group)
            g.attrs["weight_names"] = write_weights(g, w, prefix, nl, nested=True)
        mw.create_group("top_level_model_weights")
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {
            "layers": [model_config("", 2, in_len, (in_len - out_len) // 2 - 53, "model"),
                       model_config("wo_bias_", 5, in_len, (in_len - out_len) // 2 - 109,
                                    "model_wo_bias")]}})
    X = (rng.random((2, in_len, 4)) < 0.25).astype(np.float32)
    model = load_model(path, device="cpu")
    assert isinstance(model, ChromBPNet)
    assert model.bias.n_filters == 5 and model.accessibility.n_layers == 5
    assert all(not p.requires_grad for p in model.bias.parameters())
    with torch.no_grad():
        profile, counts = model(torch.tensor(X.transpose(0, 2, 1)))
    for n in range(2):
        pb, cb = np_bpnet(X[n].astype(np.float64), wb, 2, out_len)
        pa, ca = np_bpnet(X[n].astype(np.float64), wa, 5, out_len)
        _close(profile[n, 0].numpy(), pa + pb)
        _close(counts[n].numpy(), np.logaddexp(ca, cb))


def test_unrecognised_h5_names_layers(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_group("model_weights/dense/dense")["kernel:0"] = np.zeros((3, 1))
    with pytest.raises(InputError, match="unrecognised Keras model"):
        load_model(path)


def test_missing_layer_is_named(tmp_path):
    rng = np.random.default_rng(0)
    w = random_weights(rng, 4, 2, 21, 75)
    path = tmp_path / "m.h5"
    write_official_h5(path, "", w, 2, 300, 100, 21, 75)
    with h5py.File(path, "a") as f:
        del f["model_weights/logcount_predictions"]
    with pytest.raises(InputError, match="logcount_predictions"):
        load_model(path)


# --------------------------------------------------------------------------- basepairmodels
def write_basepairmodels_h5(path, w, n_layers, n_tasks, n_ctl, in_len, out_len):
    names = {"stem": "1st_conv", "prof": "profile_out_prebias", "mix": "profile_predictions",
             "dense": "logcount_predictions"}
    names.update({f"conv{i}": f"{i}conv" for i in range(1, n_layers + 1)})
    layers = [{"class_name": "InputLayer", "name": "sequence", "inbound_nodes": [],
               "config": {"name": "sequence", "batch_input_shape": [None, in_len, 4]}},
              {"class_name": "InputLayer", "name": "control_profile", "inbound_nodes": [],
               "config": {"name": "control_profile",
                          "batch_input_shape": [None, out_len, max(n_ctl, 1)]}}]
    layers += [{"class_name": "Conv1D", "name": f"{i}conv", "inbound_nodes": [],
                "config": {"name": f"{i}conv", "activation": "relu",
                           "dilation_rate": [2 ** i], "padding": "valid"}}
               for i in range(1, n_layers + 1)]
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Functional",
                                              "config": {"layers": layers}})
        mw = f.create_group("model_weights")
        for key, layer in names.items():
            if key in w:
                g = mw.create_group(layer).create_group(layer)
                g["kernel:0"], g["bias:0"] = w[key]
        for aux in ("add_1", "combined_conv", "prof_out_crop2match_output", "gap"):
            mw.create_group(aux)


def np_basepairmodels(x, ctl, w, n_layers, out_len):
    """basepairmodels BPNet from its definition: x (L, 4), ctl (out_len, C) or None."""
    h = np.maximum(np_conv_valid(x, *w["stem"]), 0)
    for i in range(1, n_layers + 1):
        d = 2 ** i
        h = h[d:-d] + np.maximum(np_conv_valid(h, *w[f"conv{i}"], dilation=d), 0)
    prof = np_conv_valid(h, *w["prof"])
    crop = (prof.shape[0] - out_len) // 2
    prof = prof[crop:crop + out_len]
    gap = h.mean(axis=0)
    if ctl is not None:
        prof = np.concatenate([prof, ctl], axis=1) @ w["mix"][0][0] + w["mix"][1]
        gap = np.concatenate([gap, [np.log(ctl.sum() + 2)]])
    return prof, gap @ w["dense"][0] + w["dense"][1]


@pytest.mark.parametrize("n_ctl", [2, 0])
def test_basepairmodels_h5(tmp_path, n_ctl):
    rng = np.random.default_rng(11 + n_ctl)
    n_filters, n_layers, n_tasks, in_len, out_len = 6, 3, 2, 300, 120
    w = random_weights(rng, n_filters, n_layers, 21, 75)
    w["prof"] = (rng.normal(0, 0.2, (75, n_filters, n_tasks)).astype(np.float32),
                 rng.normal(0, 0.1, n_tasks).astype(np.float32))
    w["dense"] = (rng.normal(0, 0.3, (n_filters + (1 if n_ctl else 0), n_tasks))
                  .astype(np.float32), rng.normal(0, 0.1, n_tasks).astype(np.float32))
    if n_ctl:
        w["mix"] = (rng.normal(0, 0.5, (1, n_tasks + n_ctl, n_tasks)).astype(np.float32),
                    rng.normal(0, 0.1, n_tasks).astype(np.float32))
    path = tmp_path / "bpnet_refactor.h5"
    write_basepairmodels_h5(path, w, n_layers, n_tasks, n_ctl, in_len, out_len)
    model = load_model(path, device="cpu")
    assert isinstance(model, BPNet) and model.output_length(in_len) == out_len
    X = (rng.random((2, in_len, 4)) < 0.25).astype(np.float32)
    ctl = rng.poisson(1.0, (2, in_len, n_ctl)).astype(np.float32)
    with torch.no_grad():
        args = [torch.tensor(X.transpose(0, 2, 1))]
        if n_ctl:
            args.append(torch.tensor(ctl.transpose(0, 2, 1)))
        profile, counts = model(*args)
    assert counts.shape == (2, n_tasks)
    lo = (in_len - out_len) // 2
    for n in range(2):
        c = ctl[n, lo:lo + out_len].astype(np.float64) if n_ctl else None
        prof_np, counts_np = np_basepairmodels(X[n].astype(np.float64), c, w, n_layers,
                                               out_len)
        _close(profile[n].numpy().T, prof_np)
        _close(counts[n].numpy(), counts_np)
