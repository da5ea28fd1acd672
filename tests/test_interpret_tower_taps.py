"""DeepLIFT/SHAP tower rule: the per-tap GEMM layers and the skipped profile heads.

- layers at large dilations run as one batched GEMM per tap (forward and backward); forced
  on for every layer of small models, the attributions still equal the generic per-op
  rules in float64;
- for ``CountWrapper(BPNet)`` / ``CountWrapper(ChromBPNet)`` the profile heads are not
  computed (their output is discarded), with the counts' attributions unchanged; any other
  wrapper keeps them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bpnetkit.interpret import deeplift_rules
from bpnetkit.interpret.deeplift import deep_lift_shap
from bpnetkit.models import BPNet, ChromBPNet, CountWrapper, ProfileWrapper


def _one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4)[idx].transpose(0, 2, 1).copy())


def _model(name: str) -> nn.Module:
    torch.manual_seed(1)
    acc = BPNet(6, 3, n_outputs=1, n_control_tracks=0, stem_kernel_size=5,
                profile_kernel_size=7)
    if name == "bpnet":
        return acc.double().eval()
    bias = BPNet(4, 2, n_outputs=1, n_control_tracks=0, stem_kernel_size=5,
                 profile_kernel_size=7, trimming=acc.trimming)
    return ChromBPNet(bias, acc).double().eval()


@pytest.mark.parametrize("name", ["bpnet", "chrombpnet"])
@pytest.mark.parametrize("wrapper", [CountWrapper, ProfileWrapper])
def test_tap_gemm_layers_equal_the_generic_rules(name, wrapper, monkeypatch):
    model = _model(name)
    X = _one_hot(2, 90)
    kw = dict(n_shuffles=3, batch_size=6, random_state=5, hypothetical=True,
              return_deltas=True)
    generic = deep_lift_shap(wrapper(model), X, channels_last=False, **kw)
    used = []
    real = deeplift_rules._taps_backward
    monkeypatch.setattr(deeplift_rules, "TAP_GEMM_DILATION", 1)  # every layer by taps
    monkeypatch.setattr(deeplift_rules, "TAP_GEMM_CHANNELS", 1)
    monkeypatch.setattr(deeplift_rules, "_taps_backward",
                        lambda *a: used.append(1) or real(*a))
    fast = deep_lift_shap(wrapper(model), X, **kw)
    assert used  # the per-tap backward ran
    torch.testing.assert_close(fast.attributions, generic.attributions, atol=1e-10, rtol=1e-8)
    assert float(fast.deltas.max()) < 1e-9


@pytest.mark.parametrize("name", ["bpnet", "chrombpnet"])
def test_counts_target_skips_the_profile_heads(name):
    model = _model(name)
    X = _one_hot(2, 90)
    kw = dict(n_shuffles=3, batch_size=6, random_state=2, hypothetical=True)
    want = deep_lift_shap(CountWrapper(model), X, channels_last=False, **kw)
    assert deeplift_rules._profile_is_discarded(CountWrapper(model))
    view = deeplift_rules.tower_rule_view(CountWrapper(model), 1, 2)
    heads = [m for m in view.modules() if isinstance(m, deeplift_rules._DeadHead)]
    assert len(heads) == (2 if name == "chrombpnet" else 1)
    got = deep_lift_shap(CountWrapper(model), X, **kw)
    torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)
    # the model itself is untouched: its profile output is still computed and non-zero
    with torch.no_grad():
        assert float(model(X)[0].abs().sum()) > 0


def test_profile_heads_kept_when_the_profile_may_matter():
    model = _model("bpnet")
    assert not deeplift_rules._profile_is_discarded(ProfileWrapper(model))

    class MyCounts(CountWrapper):  # a subclass may use the profile: no skipping
        pass

    assert not deeplift_rules._profile_is_discarded(MyCounts(model))
    handle = model.register_forward_hook(lambda *a: None)  # a hook sees the profile
    try:
        assert not deeplift_rules._profile_is_discarded(CountWrapper(model))
    finally:
        handle.remove()
    view = deeplift_rules.tower_rule_view(ProfileWrapper(model), 1, 2)
    assert not any(isinstance(m, deeplift_rules._DeadHead) for m in view.modules())
