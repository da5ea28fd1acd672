"""Saturation mutagenesis against brute force and tangermeme."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.interpret.ism import saturation_mutagenesis
from bpnetkit.models import BPNet, CountWrapper


def one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy())


def tiny_model():
    torch.manual_seed(0)
    return CountWrapper(BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0,
                              stem_kernel_size=5, profile_kernel_size=7)).eval()


def test_matches_brute_force_with_n_positions():
    model = tiny_model()
    X = one_hot(2, 40)
    X[1, :, 20] = 0  # an N inside the window
    start, end = 15, 25
    hyp = saturation_mutagenesis(model, X, start=start, end=end, hypothetical=True,
                                 batch_size=7, device="cpu")
    with torch.no_grad():
        y0 = model(X)[:, 0]
        expect = torch.zeros(2, 4, end - start)
        for i in range(2):
            for p in range(start, end):
                for c in range(4):
                    x = X[i].clone()
                    x[:, p] = 0
                    x[c, p] = 1
                    expect[i, c, p - start] = model(x[None])[0, 0] - y0[i]
        expect -= expect.mean(dim=1, keepdim=True)
    torch.testing.assert_close(hyp, expect, atol=1e-5, rtol=1e-4)
    actual = saturation_mutagenesis(model, X, start=start, end=end, device="cpu")
    torch.testing.assert_close(actual, expect * X[:, :, start:end], atol=1e-5, rtol=1e-4)
    y0r, y_hat = saturation_mutagenesis(model, X, start=start, end=end, raw_outputs=True,
                                        device="cpu")
    assert y_hat.shape == (2, 4, end - start, 1)
    # the observed base holds the original prediction (no-op edits are not run)
    obs = X[0, :, start:end].argmax(dim=0)
    torch.testing.assert_close(y_hat[0, obs, torch.arange(end - start), 0],
                               y0r[0, 0].expand(end - start))


def test_equals_tangermeme():
    sm = pytest.importorskip("tangermeme.saturation_mutagenesis")
    model = tiny_model()
    X = one_hot(2, 36, seed=3)
    ours = saturation_mutagenesis(model, X, start=10, end=20, device="cpu")
    theirs = sm.saturation_mutagenesis(model, X, start=10, end=20, device="cpu")
    torch.testing.assert_close(ours, theirs.float(), atol=1e-5, rtol=1e-4)


def test_bad_window_and_input():
    model = tiny_model()
    X = one_hot(1, 36)
    with pytest.raises(InputError, match="window"):
        saturation_mutagenesis(model, X, start=30, end=10, device="cpu")
    X[0, 0, 3] = 2
    with pytest.raises(InputError, match="not one-hot"):
        saturation_mutagenesis(model, X, device="cpu")
