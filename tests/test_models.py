"""Model architectures: geometry, equivalences, input validation, dtypes and presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from bpnetkit.errors import InputError
from bpnetkit.models import (
    BPNet,
    ChromBPNet,
    ControlWrapper,
    CountWrapper,
    MultiTaskBPNet,
    TaskWrapper,
    center_crop,
    original_bpnet,
    predicted_track,
    procapnet,
)
from bpnetkit.models.presets import chrombpnet, get_preset


def test_default_geometry_2114_to_1000():
    model = BPNet(n_filters=4).eval()
    assert model.trimming == 557 and model.output_length(2114) == 1000
    assert model.input_length(1000) == 2114
    with torch.no_grad():
        profile, counts = model(torch.rand(2, 4, 2114), torch.rand(2, 2, 2114))
    assert profile.shape == (2, 2, 1000) and counts.shape == (2, 1)
    small = BPNet(4, 2, 1, 0)
    assert small.output_length(300) == 300 - 2 * (10 + 6 + 37)


def test_valid_equals_same_padding_with_trimming():
    """Valid convolutions == bpnet-lite's same-padded tower + trimming (count window too)."""
    torch.manual_seed(0)
    valid = BPNet(5, 3, 2, 2).double().eval()
    same = BPNet(5, 3, 2, 2, padding="same", trimming=valid.trimming).double().eval()
    same.load_state_dict(valid.state_dict())
    X, ctl = torch.rand(3, 4, 260).double(), torch.rand(3, 2, 260).double()
    with torch.no_grad():
        for a, b in zip(valid(X, ctl), same(X, ctl)):
            assert torch.allclose(a, b, atol=1e-12)


def _manual_bpnet(model: BPNet, X, ctl):
    """Same-padded computation written out: the definition in the issue."""
    h = F.relu(F.conv1d(X, model.iconv.weight, model.iconv.bias, padding=10))
    for conv in model.rconvs:
        d = conv.dilation[0]
        h = h + F.relu(F.conv1d(h, conv.weight, conv.bias, padding=d, dilation=d))
    t, L = model.trimming, X.shape[2]
    prof = F.conv1d(torch.cat([h, ctl], 1), model.fconv.weight, model.fconv.bias,
                    padding=37)[:, :, t:L - t]
    window = slice(t - 37, L - t + 37)
    feat = torch.log1p(ctl[:, :, window].sum(dim=(1, 2)))[:, None]
    counts = torch.cat([h[:, :, window].mean(2), feat], 1) @ model.linear.weight.T + \
        model.linear.bias
    return prof, counts


def test_bpnet_matches_definition():
    torch.manual_seed(1)
    model = BPNet(6, 3, 2, 2, trimming=80).double().eval()
    X = torch.rand(2, 4, 300).double()
    ctl = torch.rand(2, 2, 300).double() * 3
    with torch.no_grad():
        for a, b in zip(model(X, ctl), _manual_bpnet(model, X, ctl)):
            assert torch.allclose(a, b, atol=1e-10)


def test_bad_inputs_give_clear_errors():
    model = BPNet(4, 2, 2, 2)
    with pytest.raises(ValueError, match=r"shape \(N, 4, L\); got \(2, 5, 300\)"):
        model(torch.rand(2, 5, 300), torch.rand(2, 2, 300))
    with pytest.raises(ValueError, match="too short.*more than 106 bases"):
        model(torch.rand(2, 4, 100), torch.rand(2, 2, 100))
    with pytest.raises(ValueError, match=r"expects control tracks of shape \(N, 2, 300\)"):
        model(torch.rand(2, 4, 300))
    with pytest.raises(ValueError, match=r"must have shape \(2, 2, 300\); got \(2, 1, 300\)"):
        model(torch.rand(2, 4, 300), torch.rand(2, 1, 300))
    with pytest.raises(InputError, match="no control tracks"):
        BPNet(4, 2, 2, 0)(torch.rand(1, 4, 300), torch.rand(1, 2, 300))
    with pytest.raises(InputError, match="padding='same'"):
        BPNet(4, 2, trimming=3)
    mt = original_bpnet(["a"], n_filters=4, n_layers=2, n_control_tracks=2)
    with pytest.raises(ValueError, match=r"control tracks of shape \(1, 2, 50\)"):
        mt(torch.rand(1, 4, 50))
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        mt(torch.rand(1, 50, 4))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_dtypes(dtype):
    torch.manual_seed(2)
    model = BPNet(4, 2, 2, 1).eval()
    X = (torch.rand(2, 4, 200) < 0.25).float()
    ctl = torch.rand(2, 1, 200)
    with torch.no_grad():
        ref = model(X, ctl)
        if dtype == torch.float16 and not torch.cuda.is_available():
            pytest.skip("float16 convolutions need a GPU")
        out = model.to(dtype)(X.to(dtype), ctl.to(dtype))
    assert out[0].dtype == dtype and out[1].dtype == dtype
    tol = 1e-5 if dtype == torch.float64 else 0.1
    for a, b in zip(out, ref):
        assert torch.allclose(a.float(), b, atol=tol, rtol=tol)


def test_int8_one_hot_and_batch_independence():
    model = BPNet(4, 2, 2, 0).eval()
    X = (torch.rand(5, 4, 150) < 0.25).to(torch.int8)
    with torch.no_grad():
        full = model(X)
        single = [model(X[i:i + 1]) for i in range(5)]
    for i in range(5):
        assert torch.allclose(full[0][i], single[i][0][0], atol=1e-6)
        assert torch.allclose(full[1][i], single[i][1][0], atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_matches_cpu():
    model = BPNet(8, 3, 2, 2).eval()
    X, ctl = torch.rand(2, 4, 300), torch.rand(2, 2, 300)
    with torch.no_grad():
        cpu = model(X, ctl)
        gpu = model.to("cuda")(X.cuda(), ctl.cuda())
    for a, b in zip(cpu, gpu):
        assert torch.allclose(a, b.cpu(), atol=1e-4)


def test_chrombpnet_combination_and_frozen_bias():
    torch.manual_seed(3)
    bias, acc = BPNet(4, 2, 1, 0), BPNet(6, 3, 1, 0)
    model = ChromBPNet(bias, acc).eval()
    assert all(not p.requires_grad for p in model.bias.parameters())
    assert all(p.requires_grad for p in model.accessibility.parameters())
    X = torch.rand(2, 4, 300)
    with torch.no_grad():
        profile, counts = model(X)
        bp, bc = bias(X)
        ap, ac = acc(X)
    assert torch.allclose(profile, ap + center_crop(bp, ap.shape[-1]))
    assert torch.allclose(counts, torch.log(torch.exp(ac) + torch.exp(bc)), atol=1e-6)
    official = chrombpnet(bias_filters=4, bias_layers=2, filters=4, layers=3)
    assert official.output_length(2114) == 1000
    assert official.bias.count_window == "valid"


def test_procapnet_and_presets():
    m = procapnet()
    assert (m.n_filters, m.n_layers, m.n_outputs, m.n_control_tracks) == (512, 8, 2, 0)
    assert procapnet(n_filters=16).n_filters == 16
    assert get_preset("bpnet", n_filters=8).n_control_tracks == 2
    with pytest.raises(InputError, match="Did you mean 'procapnet'"):
        get_preset("procapnett")


def test_original_bpnet_architecture():
    torch.manual_seed(4)
    model = original_bpnet(n_filters=8).eval()
    assert isinstance(model, MultiTaskBPNet)
    assert model.tasks == ["Oct4", "Sox2", "Nanog", "Klf4"]
    assert model.iconv.kernel_size == (25,) and len(model.rconvs) == 9
    assert model.rconvs[-1].dilation == (512,)
    X = (torch.rand(2, 4, 1000) < 0.25).float()
    with torch.no_grad():
        profile, counts = model(X)
    assert profile.shape == (2, 8, 1000) and counts.shape == (2, 8)
    # the transposed-conv head equals a correlation with the flipped, transposed kernel
    h = model.embed(X)
    head = model.profile_heads[1]
    ref = F.conv1d(h, head.weight.flip(-1).transpose(0, 1), head.bias, padding=12)
    assert torch.allclose(profile[:, 2:4], ref, atol=1e-5)
    assert torch.allclose(counts[:, 2:4], model.count_heads[1](h.mean(2)), atol=1e-6)
    # per-strand softmax
    track = predicted_track(profile, counts, joint_strands=False)
    assert torch.allclose(track.sum(-1), counts.exp(), rtol=1e-5)
    # selecting one task
    sox2 = TaskWrapper(model, model.task_channels("Sox2"), model.task_channels("Sox2"))
    with torch.no_grad():
        p, c = sox2(X)
    assert torch.equal(p, profile[:, 2:4]) and torch.equal(c, counts[:, 2:4])


def test_multitask_valid_padding_and_controls():
    model = MultiTaskBPNet(["a", "b"], n_filters=4, n_layers=2, n_control_tracks=1,
                           padding="valid", stem_kernel_size=9, profile_kernel_size=7).eval()
    assert model.trimming == 4 + 6 + 3
    with torch.no_grad():
        p, c = model(torch.rand(3, 4, 100), torch.rand(3, 2, 100))
        p0, c0 = ControlWrapper(model)(torch.rand(3, 4, 100))
    assert p.shape == (3, 4, 100 - 26) and c.shape == (3, 4) and p0.shape == p.shape


def test_wrappers():
    model = BPNet(4, 2, 2, 2).eval()
    X = torch.rand(2, 4, 200)
    with torch.no_grad():
        zero = model(X, torch.zeros(2, 2, 200))
        assert torch.equal(ControlWrapper(model)(X)[1], zero[1])
        assert torch.equal(CountWrapper(ControlWrapper(model))(X), zero[1])
    track = predicted_track(zero[0], zero[1])
    np.testing.assert_allclose(track.sum(dim=(1, 2)).numpy(), zero[1][:, 0].exp().numpy(),
                               rtol=1e-5)
