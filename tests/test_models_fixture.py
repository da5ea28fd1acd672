"""Native model folders written by bpnetkit 0.1.0 load with the current code, same outputs."""

from pathlib import Path

import numpy as np
import pytest
import torch

from bpnetkit.models.files import load_model

FIXTURES = Path(__file__).parent / "fixtures" / "native_v0_1_0"


@pytest.mark.parametrize("name", ["bpnet", "bpnet_pre", "chrombpnet", "multitask"])
def test_v0_1_0_native_folders_load_with_equal_outputs(name):
    expected = np.load(FIXTURES / "expected.npz")
    model = load_model(FIXTURES / name, device="cpu")
    X = torch.from_numpy(expected["X"])
    args = [torch.from_numpy(expected["controls"])] if name == "bpnet" else []
    with torch.no_grad():
        profile, counts = model(X, *args)
    # float32 outputs written on another CPU: its vector units round the convolutions
    # differently (1.0e-6 seen on one of 534 values); a wrong weight would move them by far more
    np.testing.assert_allclose(profile.numpy(), expected[f"{name}_profile"], atol=5e-6, rtol=0)
    np.testing.assert_allclose(counts.numpy(), expected[f"{name}_counts"], atol=5e-6, rtol=0)
    # the nonlinearities are modules now (no parameters, so the state dict is unchanged)
    assert any(isinstance(m, torch.nn.ReLU) for m in model.modules())
