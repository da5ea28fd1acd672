"""The native model format, save/load round trips, archives and `bpnetkit convert`."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
import torch

import bpnetkit
from bpnetkit import load_model, save_model
from bpnetkit.cli.main import main as cli_main
from bpnetkit.errors import InputError
from bpnetkit.models import BPNet, ChromBPNet, ControlWrapper, MultiTaskBPNet, original_bpnet
from bpnetkit.models.files import convert, detect_format

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "chrombpnet_keras"


def _models():
    torch.manual_seed(0)
    return [
        (BPNet(8, 3, 2, 2), 300),
        (BPNet(6, 2, 1, 0, residual="pre", count_control="log_plus_2", trimming=60), 200),
        (BPNet(6, 2, 2, 1, padding="same", trimming=10), 120),
        (ChromBPNet(BPNet(4, 2, 1, 0), BPNet(6, 3, 1, 0)), 260),
        (original_bpnet(["Oct4", "Sox2"], n_filters=6, n_layers=3), 100),
        (original_bpnet(["a"], n_filters=4, n_layers=2, n_control_tracks=2), 80),
    ]


def _run(model, X, n_ctl):
    with torch.no_grad():
        return model(X, torch.rand(X.shape[0], n_ctl, X.shape[2], generator=torch.Generator()
                                   .manual_seed(3))) if n_ctl else model(X)


@pytest.mark.parametrize("index", range(6))
def test_round_trip_identical(tmp_path, index):
    model, length = _models()[index]
    model.eval()
    out = save_model(ControlWrapper(model), tmp_path / "m", provenance={"split": "fold_0"})
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(out, device="cpu")
    assert type(loaded) is type(model) and not loaded.training
    X = torch.rand(3, 4, length)
    for a, b in zip(_run(model, X, model.n_control_tracks), _run(loaded, X,
                                                                 loaded.n_control_tracks)):
        assert torch.equal(a, b)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["class"] == type(model).__name__
    assert cfg["bpnetkit_version"] == bpnetkit.__version__
    assert cfg["provenance"] == {"split": "fold_0"}
    assert loaded.model_info["provenance"] == {"split": "fold_0"}


def test_safetensors_only_and_pretrained(tmp_path):
    from safetensors import safe_open

    model = BPNet(4, 2, 2, 0).eval()
    model.save_pretrained(tmp_path / "m")
    with safe_open(str(tmp_path / "m" / "model.safetensors"), "pt") as f:
        assert "iconv.weight" in set(f.keys())
    loaded = BPNet.from_pretrained(tmp_path / "m")
    assert torch.equal(loaded.iconv.weight, model.iconv.weight)
    with pytest.raises(InputError, match="holds a BPNet, not a ChromBPNet"):
        ChromBPNet.from_pretrained(tmp_path / "m")
    assert detect_format(tmp_path / "m") == "native"
    assert isinstance(load_model(tmp_path / "m" / "model.safetensors"), BPNet)


def test_shape_mismatch_names_layer_and_shapes(tmp_path):
    save_model(BPNet(8, 2, 2, 0), tmp_path / "m")
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["architecture"]["n_filters"] = 16
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(InputError, match=r"layer 'iconv.weight' has shape \(8, 4, 21\) in the "
                                         r"file but the architecture expects \(16, 4, 21\)"):
        load_model(tmp_path / "m")
    cfg["architecture"]["n_filter"] = cfg["architecture"].pop("n_filters")
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="Did you mean 'n_filters'"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, "float64"])
def test_load_dtype_and_device(tmp_path, dtype):
    model = BPNet(4, 2, 2, 1).eval()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m", device="cpu", dtype=dtype)
    want = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    assert loaded.iconv.weight.dtype == want and loaded.iconv.weight.device.type == "cpu"
    X = torch.rand(2, 4, 150, dtype=want)
    with torch.no_grad():
        profile, counts = loaded(X, torch.zeros(2, 1, 150, dtype=want))
        ref = model(X.float(), torch.zeros(2, 1, 150))
    assert profile.dtype == want
    tol = 0.1 if want == torch.bfloat16 else 1e-5
    assert torch.allclose(profile.float(), ref[0], atol=tol, rtol=tol)
    with pytest.raises(InputError, match="unknown dtype"):
        load_model(tmp_path / "m", dtype="float33")


def test_multitask_round_trip_keeps_tasks(tmp_path):
    model = original_bpnet(["Oct4", "Sox2", "Nanog"], n_filters=4, n_layers=2)
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert isinstance(loaded, MultiTaskBPNet) and loaded.tasks == ["Oct4", "Sox2", "Nanog"]


def _fake_encode_archive(tmp_path: Path) -> Path:
    root = tmp_path / "arc"
    for fold in (0, 1):
        d = root / f"fold_{fold}"
        d.mkdir(parents=True)
        for src, dst in (("chrombpnet.h5", "model.chrombpnet"),
                         ("chrombpnet_nobias.h5", "model.chrombpnet_nobias"),
                         ("bias_model_scaled.h5", "model.bias_scaled")):
            shutil.copy(FIXTURES / src, d / f"{dst}.fold_{fold}.ENCSR000AAA.h5")
    path = tmp_path / "ENCFF000AAA.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname=".")
    return path


def test_archive_member_and_fold(tmp_path):
    if not FIXTURES.exists():
        pytest.skip("shared ChromBPNet Keras fixtures not present")
    arc = _fake_encode_archive(tmp_path)
    assert detect_format(arc) == "archive"
    full = load_model(arc, fold=1, member="chrombpnet")
    nobias = load_model(arc, fold="fold_0", member="chrombpnet_nobias")
    assert isinstance(full, ChromBPNet) and isinstance(nobias, BPNet)
    assert nobias.n_filters == 16
    assert full.model_info["provenance"]["archive_member"] == "model.chrombpnet.fold_1." \
                                                             "ENCSR000AAA.h5"
    with pytest.raises(InputError, match="6 model files match"):
        load_model(arc)
    with pytest.raises(InputError, match="folds present: 0, 1"):
        load_model(arc, fold=3)


def test_convert_cli(tmp_path, capsys):
    if not FIXTURES.exists():
        pytest.skip("shared ChromBPNet Keras fixtures not present")
    code = cli_main(["convert", str(FIXTURES / "bias_model_scaled.h5"),
                     str(FIXTURES / "chrombpnet.h5"), "-o", str(tmp_path / "out")])
    assert code == 0
    assert "bias_model_scaled.h5 ->" in capsys.readouterr().out
    bias = load_model(tmp_path / "out" / "bias_model_scaled")
    full = load_model(tmp_path / "out" / "chrombpnet")
    assert isinstance(bias, BPNet) and isinstance(full, ChromBPNet)
    X = torch.rand(2, 4, 2114)
    with torch.no_grad():
        for a, b in zip(full(X), load_model(FIXTURES / "chrombpnet.h5")(X)):
            assert torch.equal(a, b)
    prov = full.model_info["provenance"]
    assert prov["converted_from"].endswith("chrombpnet.h5")
    assert prov["source_format"] == "keras_h5"
    # errors are reported without a traceback
    assert cli_main(["convert", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "x")]) == 2
    assert "model not found" in capsys.readouterr().err
    res = convert(FIXTURES / "bias_model_scaled.h5", tmp_path / "single")
    assert list(res.values()) == [str(tmp_path / "single")]


def test_convert_state_dict_with_trimming_flag(tmp_path):
    """A state dict records no trimming: ``convert --trimming`` restores the model's own."""
    torch.manual_seed(0)
    model = BPNet(8, 3, n_outputs=2, n_control_tracks=2, trimming=100).eval()
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    assert cli_main(["convert", str(tmp_path / "sd.pt"), "-o", str(tmp_path / "out"),
                     "--trimming", "100"]) == 0
    loaded = load_model(tmp_path / "out")
    assert loaded.trimming == 100
    X = torch.zeros(2, 4, 400)
    X[:, 0] = 1
    ctl = torch.zeros(2, 2, 400)
    with torch.no_grad():
        a, b = model(X, ctl), loaded(X, ctl)
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
