"""Batched prediction: equal to the plain forward pass and to tangermeme; state restored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.interpret.predict import predict
from bpnetkit.models import BPNet, ChromBPNet


def one_hot(n: int, length: int, seed: int = 0) -> np.ndarray:
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return np.eye(4, dtype=np.int8)[idx].transpose(0, 2, 1).copy()


def tiny(n_ctl=2, seed=0):
    torch.manual_seed(seed)
    return BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=n_ctl,
                 stem_kernel_size=5, profile_kernel_size=7)


def test_equals_forward_pass_and_restores_state():
    m = tiny()
    m.train()
    X = one_hot(10, 64)
    ctl = torch.rand(10, 2, 64)
    prof, cnt = predict(m, X, args=[ctl], batch_size=3, device="cpu")
    assert m.training and prof.device.type == "cpu"
    assert "embed" not in m.__dict__  # the fused CPU tower is removed again
    m.eval()
    with torch.no_grad():
        p0, c0 = m(torch.from_numpy(X).float(), ctl)
    torch.testing.assert_close(prof, p0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cnt, c0, atol=1e-5, rtol=1e-5)
    # channels-last convolutions change nothing but speed
    p1, _ = predict(m, X, args=[ctl], device="cpu", channels_last=False)
    torch.testing.assert_close(prof, p1, atol=1e-5, rtol=1e-5)
    # float64 on request, model dtype restored
    p2, _ = predict(m, X, args=[ctl], device="cpu", dtype=torch.float64)
    assert p2.dtype == torch.float64 and next(m.parameters()).dtype == torch.float32
    torch.testing.assert_close(p2.float(), prof, atol=1e-5, rtol=1e-5)


def test_rc_average():
    m = tiny(n_ctl=0)
    X = one_hot(4, 64, seed=1)
    prof, cnt = predict(m, X, device="cpu", rc_average=True)
    with torch.no_grad():
        x = torch.from_numpy(X).float()
        pf, cf = m.eval()(x)
        pr, cr = m(x.flip(dims=(1, 2)))
    torch.testing.assert_close(prof, (pf + pr.flip(dims=(1, 2))) / 2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cnt, (cf + cr) / 2, atol=1e-5, rtol=1e-5)


def test_equals_tangermeme_predict():
    tp = pytest.importorskip("tangermeme.predict")
    c = ChromBPNet(tiny(0, 1).__class__(n_filters=8, n_layers=2, n_outputs=1,
                                         n_control_tracks=0, stem_kernel_size=5,
                                         profile_kernel_size=7),
                   BPNet(n_filters=8, n_layers=3, n_outputs=1, n_control_tracks=0,
                         stem_kernel_size=5, profile_kernel_size=7)).eval()
    X = torch.from_numpy(one_hot(5, 80, seed=2)).float()
    ours = predict(c, X, batch_size=2, device="cpu")
    theirs = tp.predict(c, X, batch_size=2, device="cpu")
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_bad_input():
    m = tiny(0)
    with pytest.raises(InputError, match="rows"):
        predict(m, one_hot(3, 64), args=[torch.zeros(2, 2, 64)], device="cpu")
    with pytest.raises(InputError, match="no sequences"):
        predict(m, np.zeros((0, 4, 64), dtype=np.int8), device="cpu")
    with pytest.raises(InputError, match="shape"):
        predict(m, np.zeros((4, 64), dtype=np.int8), device="cpu")
