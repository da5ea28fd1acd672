"""The CPU fast paths of predict and DeepLIFT/SHAP give the plain computation's values.

- ``gemm_conv1d`` (the profile head as one GEMM + shifted-diagonal sums) equals ``conv1d``;
- ``fused_view`` really swaps in the GEMM profile head and still equals the model's forward;
- the residual ReLU kernel equals the rescale rule written with torch ops;
- ``tower_rule_view`` (BPNet towers as one DeepLIFT rule with a hand-written backward)
  equals the generic per-op rules, in float64 to 1e-10, and tangermeme in float32; it steps
  aside when a tower module carries a hook.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bpnetkit.interpret import _relu_kernel, deeplift_rules
from bpnetkit.interpret.channels_last import channels_last_conv1d
from bpnetkit.interpret.deeplift import deep_lift_shap
from bpnetkit.interpret.fused_tower import fused_towers_work, fused_view, gemm_conv1d
from bpnetkit.interpret.shuffle import dinucleotide_shuffle
from bpnetkit.models import BPNet, ChromBPNet, CountWrapper, ProfileWrapper


def _one_hot(n: int, length: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4)[idx].transpose(0, 2, 1).copy()).to(dtype)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_gemm_conv1d_equals_conv1d(channels_last, bias):
    torch.manual_seed(0)
    conv = nn.Conv1d(12, 2, 9, bias=bias).double()
    x = torch.randn(3, 40, 12, dtype=torch.float64).transpose(1, 2) if channels_last else \
        torch.randn(3, 12, 40, dtype=torch.float64)
    with torch.no_grad():
        want = conv(x)
        got = gemm_conv1d(conv, x)
    assert got.shape == want.shape == (3, 2, 32)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
    # where autograd records the call it is the ordinary convolution, gradients included
    xg = x.clone().requires_grad_(True)
    (g1,) = torch.autograd.grad(gemm_conv1d(conv, xg).sum(), xg)
    (g2,) = torch.autograd.grad(conv(xg).sum(), xg)
    torch.testing.assert_close(g1, g2, atol=0, rtol=0)


def test_fused_view_uses_the_gemm_head_keeps_hooks_and_values():
    if not fused_towers_work():
        pytest.skip("this torch build has no oneDNN fused convolution")
    torch.manual_seed(0)
    m = BPNet(16, 3, n_outputs=2, n_control_tracks=2, profile_kernel_size=25).eval()
    seen = []
    m.fconv.register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    view = fused_view(m)
    assert view.fconv is not m.fconv and "forward" in view.fconv.__dict__
    assert view.fconv.weight is m.fconv.weight
    X, ctl = _one_hot(3, 300), torch.rand(3, 2, 300)
    with torch.inference_mode():
        want = m(X, ctl)
        with channels_last_conv1d():
            got = view(X, ctl)
    assert len(seen) == 2  # the hook fired for the model and for the view
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_residual_relu_kernel_matches_the_rescale_rule():
    rng = np.random.default_rng(0)
    g, k, S, off = 2, 3, 50, 8
    z = rng.standard_normal((g + g * k, S))
    z[g + 1, :10] = z[0, :10] + 1e-9  # |x - r| < eps: the input's own gradient
    skip = rng.standard_normal((g + g * k, S + 2 * off))
    m = np.empty((g * k, S))
    h = z.copy()
    _relu_kernel.residual_relu_multipliers(h, skip, off, g, k, 1e-6, m)
    zt = torch.from_numpy(z)
    x, r = zt[:g].repeat_interleave(k, dim=0), zt[g:]
    d = r - x
    want_m = torch.where(d.abs() < 1e-6, (x > 0).double(),
                         (torch.relu(r) - torch.relu(x)) / torch.where(d == 0, 1.0, d))
    np.testing.assert_allclose(m, want_m.numpy(), atol=1e-12)
    np.testing.assert_allclose(h, skip[:, off:off + S] + np.maximum(z, 0), atol=1e-15)


def _models():
    torch.manual_seed(0)
    bp = BPNet(8, 3, n_outputs=2, n_control_tracks=0, stem_kernel_size=5,
               profile_kernel_size=7)
    bias = BPNet(4, 2, n_outputs=1, n_control_tracks=0, stem_kernel_size=5,
                 profile_kernel_size=7, trimming=21)
    acc = BPNet(8, 3, n_outputs=1, n_control_tracks=0, stem_kernel_size=5,
                profile_kernel_size=7)
    return {"bpnet": bp, "chrombpnet": ChromBPNet(bias, acc)}


@pytest.mark.parametrize("name", ["bpnet", "chrombpnet"])
@pytest.mark.parametrize("wrapper", [CountWrapper, ProfileWrapper])
def test_tower_rule_equals_the_generic_rules_in_float64(name, wrapper):
    model = _models()[name].double().eval()
    X = _one_hot(3, 120, dtype=torch.float64)
    calls = []
    real = deeplift_rules._TowerRule.apply
    try:
        deeplift_rules._TowerRule.apply = lambda *a: calls.append(1) or real(*a)
        fast = deep_lift_shap(wrapper(model), X, n_shuffles=4, batch_size=8, random_state=3,
                              hypothetical=True, return_deltas=True)
    finally:
        deeplift_rules._TowerRule.apply = real
    assert calls  # the fast path ran
    generic = deep_lift_shap(wrapper(model), X, n_shuffles=4, batch_size=8, random_state=3,
                             hypothetical=True, return_deltas=True, channels_last=False)
    torch.testing.assert_close(fast.attributions, generic.attributions, atol=1e-10, rtol=1e-8)
    assert float(fast.deltas.max()) < 1e-9


def test_tower_rule_matches_tangermeme_in_float32():
    tdls = pytest.importorskip("tangermeme.deep_lift_shap")
    torch.manual_seed(0)
    model = BPNet(16, 4, n_outputs=2, n_control_tracks=0).eval()
    X = _one_hot(2, 300)
    R = dinucleotide_shuffle(X, n=5, random_state=1)
    ours = deep_lift_shap(CountWrapper(model), X, references=R, hypothetical=True,
                          batch_size=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = tdls.deep_lift_shap(CountWrapper(model), X, references=R, hypothetical=True,
                                     batch_size=10)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    assert float((ours - theirs).abs().max()) < 1e-4 * float(theirs.abs().max())


def test_tower_rule_steps_aside_for_hooked_modules():
    model = _models()["bpnet"]
    assert deeplift_rules.tower_rule_view(model, 1, 2) is not model
    handle = model.rrelus[1].register_forward_hook(lambda *a: None)
    try:
        assert deeplift_rules.tower_rule_view(model, 1, 2) is model
    finally:
        handle.remove()
    assert deeplift_rules.tower_rule_view(CountWrapper(model), 1, 2).model is not model
