"""``bpnetkit export``: ONNX / TorchScript files equal PyTorch and carry the config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bpnetkit.cli.main import main
from bpnetkit.errors import InputError
from bpnetkit.models import BPNet, ChromBPNet, original_bpnet, procapnet
from bpnetkit.models.export import export_model, read_export_config
from bpnetkit.models.files import save_model

SMALL = {"n_filters": 8, "n_layers": 2, "stem_kernel_size": 5, "profile_kernel_size": 7}


def families():
    torch.manual_seed(0)
    one = {"n_outputs": 1, "n_control_tracks": 0, **SMALL}
    return {
        "bpnet": BPNet(n_control_tracks=2, **SMALL),
        "bpnet_pre": BPNet(n_control_tracks=0, residual="pre", **SMALL),
        "bpnet_same": BPNet(padding="same", trimming=8, **SMALL),
        "procapnet": procapnet(**SMALL),
        "chrombpnet": ChromBPNet(bias=BPNet(**{**one, "n_layers": 1}), accessibility=BPNet(**one)),
        "original_bpnet": original_bpnet(["Oct4", "Sox2"], n_control_tracks=2, **SMALL),
    }


def _inputs(model, L, n=3):
    rng = np.random.default_rng(1)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, L))].transpose(0, 2, 1).copy()
    out = {"X": X}
    if model.n_control_tracks:
        out["X_ctl"] = rng.poisson(1.0, (n, model.n_control_tracks, L)).astype(np.float32)
    return out


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", list(families()))
def test_exported_outputs_equal_pytorch(name, fmt, tmp_path):
    model = families()[name].eval()
    folder = save_model(model, tmp_path / name, provenance={"note": "test"})
    out = tmp_path / f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}"
    L = 100
    assert main(["export", str(folder), "--format", fmt, "-o", str(out),
                 "--input-length", str(L)]) == 0
    feeds = _inputs(model, L)
    with torch.no_grad():
        want = model(*[torch.from_numpy(v) for v in feeds.values()])
    if fmt == "onnx":
        ort = pytest.importorskip("onnxruntime")
        got = ort.InferenceSession(str(out)).run(None, feeds)  # batch 3, exported with 1
    else:
        loaded = torch.jit.load(str(out))
        with torch.no_grad():
            got = [t.numpy() for t in loaded(*[torch.from_numpy(v) for v in feeds.values()])]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-5, rtol=0)
    cfg = read_export_config(out)
    assert cfg["class"] == type(model).__name__
    assert cfg["architecture"] == model.config()
    assert cfg["input_length"] == L and cfg["output_length"] == model.output_length(L)
    assert cfg["inputs"] == list(feeds) and cfg["provenance"] == {"note": "test"}
    assert cfg["rc_permutation"]["profile"] == list(model.rc_permutation().profile)


def test_config_is_where_other_tools_read_it(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = families()["bpnet_pre"]
    export_model(model, tmp_path / "m.onnx", format="onnx", input_length=80)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(props["bpnetkit_config"])["architecture"]["residual"] == "pre"
    export_model(model, tmp_path / "m.pt", format="torchscript", input_length=80)
    extra = {"config.json": ""}
    torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    assert json.loads(extra["config.json"])["input_length"] == 80


def test_export_errors(tmp_path):
    model = families()["bpnet"]
    with pytest.raises(InputError, match="unknown export format"):
        export_model(model, tmp_path / "m.x", format="tflite")
    with pytest.raises(InputError, match="too short"):
        export_model(model, tmp_path / "m.onnx", input_length=10)
    assert not list(tmp_path.iterdir())
