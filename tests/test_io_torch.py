"""torch.save files: bpnet-lite whole models (bpnet-lite as a test-only oracle), plain state
dicts, and the restricted unpickler that never runs pickle code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from bpnetkit import load_model
from bpnetkit.errors import InputError
from bpnetkit.models import BPNet, ChromBPNet, procapnet


def _outputs(model, X, X_ctl=None):
    with torch.no_grad():
        return model(X, X_ctl) if X_ctl is not None else model(X)


def _assert_equal(a, b, atol=1e-6):
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        assert (x - y).abs().max().item() <= atol


@pytest.mark.parametrize("kwargs,length", [
    ({"n_filters": 8, "n_layers": 3, "n_outputs": 2, "n_control_tracks": 2}, 300),
    ({"n_filters": 6, "n_layers": 4, "n_outputs": 2, "n_control_tracks": 1,
      "trimming": 120}, 400),
    ({"n_filters": 8, "n_layers": 2, "n_outputs": 1, "n_control_tracks": 0,
      "trimming": 16}, 200),  # trimming below the receptive field: same padding
])
def test_bpnet_lite_bpnet_loads_exactly(tmp_path, kwargs, length):
    bpnetlite = pytest.importorskip("bpnetlite")
    torch.manual_seed(0)
    theirs = bpnetlite.BPNet(verbose=False, **kwargs).eval()
    path = tmp_path / "model.torch"
    torch.save(theirs, path)
    ours = load_model(path, device="cpu")
    assert isinstance(ours, BPNet) and not ours.training
    n_ctl = kwargs["n_control_tracks"]
    X = torch.rand(3, 4, length)
    ctl = torch.rand(3, n_ctl, length) * 5 if n_ctl else None
    # default: bpnet-lite's own computation, equal within 1e-6 in float32
    _assert_equal(_outputs(theirs, X, ctl), _outputs(ours, X, ctl))
    if ours.trimming >= ours.receptive_half_width:
        # valid convolutions: the same numbers up to float32 summation order ...
        fast = load_model(path, device="cpu", padding="valid")
        assert fast.padding == "valid"
        _assert_equal(_outputs(theirs, X, ctl), _outputs(fast, X, ctl), atol=2e-5)
        # ... and within 1e-6 in float64
        theirs.double()
        fast.double()
        X64 = X.double()
        ctl64 = None if ctl is None else ctl.double()
        _assert_equal(_outputs(theirs, X64, ctl64), _outputs(fast, X64, ctl64))
    else:
        with pytest.raises(InputError, match="padding='valid' needs trimming"):
            load_model(path, padding="valid")


def test_bpnet_lite_default_geometry(tmp_path):
    bpnetlite = pytest.importorskip("bpnetlite")
    theirs = bpnetlite.BPNet(n_filters=4, verbose=False).eval()
    torch.save(theirs, tmp_path / "m.torch")
    ours = load_model(tmp_path / "m.torch", device="cpu")
    assert ours.trimming == theirs.trimming == 557 and ours.output_length(2114) == 1000
    X, ctl = torch.rand(2, 4, 2114), torch.rand(2, 2, 2114) * 4
    _assert_equal(_outputs(theirs, X, ctl), _outputs(ours, X, ctl))


def test_bpnet_lite_chrombpnet_and_wrapper(tmp_path):
    bpnetlite = pytest.importorskip("bpnetlite")
    from bpnetlite.bpnet import CountWrapper as TheirCountWrapper

    torch.manual_seed(1)
    theirs = bpnetlite.ChromBPNet(bpnetlite.BPNet(6, 2, 1, 0, verbose=False),
                                  bpnetlite.BPNet(8, 3, 1, 0, verbose=False)).eval()
    torch.save(theirs, tmp_path / "chrombpnet.torch")
    ours = load_model(tmp_path / "chrombpnet.torch", device="cpu")
    assert isinstance(ours, ChromBPNet)
    X = torch.rand(2, 4, 300)
    _assert_equal(_outputs(theirs, X), _outputs(ours, X))
    # a bpnet-lite wrapper around a model is unwrapped
    torch.save(TheirCountWrapper(bpnetlite.BPNet(4, 2, verbose=False)), tmp_path / "w.torch")
    assert isinstance(load_model(tmp_path / "w.torch"), BPNet)


def test_loads_without_bpnet_lite_installed(tmp_path, monkeypatch):
    bpnetlite = pytest.importorskip("bpnetlite")
    torch.save(bpnetlite.BPNet(4, 2, verbose=False), tmp_path / "m.torch")
    # make bpnet-lite (and its dependency tangermeme) un-importable for this test
    for name in [m for m in sys.modules if m.split(".")[0] in ("bpnetlite", "tangermeme")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError):
        import bpnetlite.bpnet  # noqa: F401
    model = load_model(tmp_path / "m.torch", device="cpu")
    assert type(model) is BPNet


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_never_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"iconv.weight": torch.zeros(1), "x": _Evil(marker)}, tmp_path / "evil.torch")
    with pytest.raises(InputError, match="refusing to load"):
        load_model(tmp_path / "evil.torch")
    assert not marker.exists()


def test_state_dict_with_preset_and_inferred(tmp_path):
    torch.manual_seed(2)
    model = procapnet(n_filters=8, n_layers=3).eval()
    torch.save(model.state_dict(), tmp_path / "procap.state_dict.torch")
    a = load_model(tmp_path / "procap.state_dict.torch", preset="procapnet", n_filters=8,
                   n_layers=3, device="cpu")
    b = load_model(tmp_path / "procap.state_dict.torch", device="cpu")  # inferred
    X = torch.rand(2, 4, 250)
    for other in (a, b):
        assert other.n_outputs == 2 and other.n_control_tracks == 0
        _assert_equal(_outputs(model, X), _outputs(other, X), atol=0)
    with pytest.raises(InputError, match=r"iconv.weight.*\(16, 4, 21\).*\(8, 4, 21\)|"
                                         r"iconv.weight.*\(8, 4, 21\).*\(16, 4, 21\)"):
        load_model(tmp_path / "procap.state_dict.torch", preset="procapnet", n_filters=16,
                   n_layers=3)


def test_chrombpnet_state_dict_inferred(tmp_path):
    model = ChromBPNet(BPNet(4, 2, 1, 0), BPNet(6, 3, 1, 0)).eval()
    torch.save(model.state_dict(), tmp_path / "cb.pt")
    loaded = load_model(tmp_path / "cb.pt", device="cpu")
    assert isinstance(loaded, ChromBPNet)
    X = torch.rand(2, 4, 260)
    _assert_equal(_outputs(model, X), _outputs(loaded, X), atol=0)


def test_not_a_model_file(tmp_path):
    p = tmp_path / "junk.torch"
    p.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="unknown model format"):
        load_model(p)
