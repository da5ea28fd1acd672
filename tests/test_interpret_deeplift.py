"""DeepLIFT/SHAP: oracles (tangermeme, captum), analytic models, deltas and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.interpret.deeplift import UnsupportedOpError, deep_lift_shap
from bpnetkit.interpret.shuffle import dinucleotide_shuffle
from bpnetkit.models import BPNet, ChromBPNet, CountWrapper, ProfileWrapper
from bpnetkit.models.layers import Exp, Log, SoftmaxWeighting

L = 64
K = 6


def one_hot(n: int, length: int = L, seed: int = 0) -> torch.Tensor:
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy())


def tiny_bpnet(n_ctl: int = 0, n_outputs: int = 2, seed: int = 0) -> BPNet:
    torch.manual_seed(seed)
    m = BPNet(n_filters=8, n_layers=2, n_outputs=n_outputs, n_control_tracks=n_ctl,
              stem_kernel_size=5, profile_kernel_size=7)
    for p in m.parameters():  # larger weights: more ReLUs switch between input and reference
        p.data.mul_(2.0)
    return m.eval()


def tiny_chrombpnet() -> ChromBPNet:
    return ChromBPNet(tiny_bpnet(n_outputs=1, seed=1), tiny_bpnet(n_outputs=1, seed=2)).eval()


def cases():
    """(name, our model, hookable twin) for BPNet / ChromBPNet counts and profile targets."""
    b = tiny_bpnet()
    c = tiny_chrombpnet()
    # bpnetkit models are module-based: the hook-based oracle explains the same objects
    return [("bpnet-counts", CountWrapper(b), CountWrapper(b)),
            ("bpnet-profile", ProfileWrapper(b), ProfileWrapper(b)),
            ("chrombpnet-counts", CountWrapper(c), CountWrapper(c)),
            ("chrombpnet-profile", ProfileWrapper(c), ProfileWrapper(c))]


CASES = cases()
IDS = [c[0] for c in CASES]


@pytest.fixture(scope="module")
def data():
    X = one_hot(3)
    R = dinucleotide_shuffle(X, n=K, random_state=1)
    return X, R


def _float64(case, data):
    """The case's models and data in float64. In float32 both tools compute the secant
    multipliers ``(f(x) - f(r)) / (x - r)`` of inputs that nearly coincide with rounding
    errors of up to ~1e-3 in the attributions, which differ between CPUs (the vector units
    change the rounding of the convolutions); float64 compares the rules themselves."""
    import copy

    _, ours, twin = case
    ours64 = copy.deepcopy(ours).double()
    twin64 = ours64 if twin is ours else copy.deepcopy(twin).double()
    X, R = data
    return ours64, twin64, X.double(), R.double()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_equals_tangermeme_and_deltas_are_tiny(case, data):
    tdls = pytest.importorskip("tangermeme.deep_lift_shap")
    ours, twin, X, R = _float64(case, data)
    res = deep_lift_shap(ours, X, references=R, hypothetical=True, return_deltas=True,
                         device="cpu", batch_size=8, dtype=torch.float64)
    ops = {SoftmaxWeighting: tdls._nonlinear, Exp: tdls._nonlinear, Log: tdls._nonlinear}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = tdls.deep_lift_shap(twin, X, references=R, hypothetical=True, device="cpu",
                                     additional_nonlinear_ops=ops, batch_size=8)
    assert res.attributions.abs().max() > 1e-4  # not trivially zero
    torch.testing.assert_close(res.attributions, theirs, atol=1e-9, rtol=1e-7)
    assert res.deltas.shape == (3, K)
    assert float(res.deltas.max()) < 1e-9


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_equals_captum(case, data, monkeypatch):
    pytest.importorskip("captum")
    from captum.attr import DeepLiftShap
    from captum.attr._core import deep_lift

    for t in (SoftmaxWeighting, Exp, Log):
        monkeypatch.setitem(deep_lift.SUPPORTED_NON_LINEAR, t, deep_lift.nonlinear)
    ours, twin, X, R = _float64(case, data)
    ours_actual = deep_lift_shap(ours, X, references=R, device="cpu", dtype=torch.float64)

    def hypothetical(mult, inputs, baselines):
        m, b = mult[0], baselines[0]
        return (m - (b * m).sum(dim=1, keepdim=True),)

    theirs = torch.cat([
        DeepLiftShap(twin).attribute(X[i:i + 1], R[i], target=0,
                                     custom_attribution_func=hypothetical) * X[i:i + 1]
        for i in range(len(X))])
    torch.testing.assert_close(ours_actual, theirs.detach(), atol=1e-9, rtol=1e-7)


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks")
def test_user_model_of_standard_modules_equals_captum():
    pytest.importorskip("captum")
    from captum.attr import DeepLiftShap

    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv1d(4, 6, 5), nn.ReLU(), nn.Conv1d(6, 4, 3, dilation=2),
                          nn.Softplus(), nn.AvgPool1d(2), nn.Flatten(), nn.Linear(4 * 28, 3),
                          nn.Sigmoid()).eval()
    X = one_hot(2, 64, seed=5)
    R = dinucleotide_shuffle(X, n=4, random_state=2)
    ours = deep_lift_shap(model, X, references=R, target=2, device="cpu")
    theirs = torch.cat([DeepLiftShap(model).attribute(X[i:i + 1], R[i], target=2)
                        for i in range(2)]).detach()
    # captum's actual contributions differ per base but agree summed over bases
    torch.testing.assert_close(ours.sum(dim=1), theirs.sum(dim=1), atol=1e-6, rtol=1e-4)


def test_hand_set_relu_unit_matches_closed_form():
    """f(x) = relu(sum(W * x) + b): multipliers are W times the secant of relu."""
    rng = np.random.default_rng(0)
    Lh = 12
    W = rng.normal(size=(4, Lh))
    b = 0.3
    conv = nn.Conv1d(4, 1, Lh)
    conv.weight.data = torch.tensor(W[None], dtype=torch.float64)
    conv.bias.data = torch.tensor([b], dtype=torch.float64)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten()).double()
    X = one_hot(2, Lh, seed=1).double()
    R = dinucleotide_shuffle(X, n=5, random_state=0)
    ours = deep_lift_shap(model, X, references=R, hypothetical=True, device="cpu",
                          dtype=torch.float64)
    for i in range(2):
        x = X[i].numpy()
        zx = (W * x).sum() + b
        expect = np.zeros((4, Lh))
        for r in R[i].numpy():
            zr = (W * r).sum() + b
            secant = (max(zx, 0) - max(zr, 0)) / (zx - zr)
            m = W * secant
            expect += m - (r * m).sum(axis=0, keepdims=True)
        np.testing.assert_allclose(ours[i].numpy(), expect / 5, atol=1e-12)


class TwoUnitLogSumExp(nn.Module):
    """f(x) = log(exp(a . x) + exp(c . x)) written with torch.logsumexp."""

    def __init__(self, a: np.ndarray, c: np.ndarray) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(np.stack([a, c])))

    def forward(self, X):
        z = torch.einsum("ncl,kcl->nk", X, self.w)
        return torch.logsumexp(z, dim=-1, keepdim=True)


def test_hand_set_logsumexp_matches_closed_form():
    rng = np.random.default_rng(1)
    a, c = rng.normal(size=(4, 10)), rng.normal(size=(4, 10))
    model = TwoUnitLogSumExp(a, c)
    X = one_hot(1, 10, seed=2).double()
    R = dinucleotide_shuffle(X, n=3, random_state=4)
    res = deep_lift_shap(model, X, references=R, hypothetical=True, device="cpu",
                         dtype=torch.float64, return_deltas=True)
    x = X[0].numpy()
    expect = np.zeros((4, 10))
    for r in R[0].numpy():
        zx, zr = np.array([(a * x).sum(), (c * x).sum()]), np.array([(a * r).sum(), (c * r).sum()])
        sx, sr = np.exp(zx).sum(), np.exp(zr).sum()
        log_ratio = (np.log(sx) - np.log(sr)) / (sx - sr)
        exp_ratio = (np.exp(zx) - np.exp(zr)) / (zx - zr)
        m = log_ratio * (exp_ratio[0] * a + exp_ratio[1] * c)
        expect += m - (r * m).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(res.attributions[0].numpy(), expect / 3, atol=1e-12)
    assert float(res.deltas.max()) < 1e-12


def test_controls_batching_and_model_state():
    m = tiny_bpnet(n_ctl=2)
    m.train()
    X = one_hot(3)
    ctl = torch.rand(3, 2, L) * 3
    model = CountWrapper(m)
    a = deep_lift_shap(model, X, args=[ctl], n_shuffles=K, random_state=7, device="cpu",
                       batch_size=64)
    b = deep_lift_shap(model, X, args=[ctl], n_shuffles=K, random_state=7, device="cpu",
                       batch_size=4)  # fewer pairs per pass than references
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert m.training  # mode restored
    assert all(p.requires_grad for p in m.parameters())
    # generated references are the seeded dinucleotide shuffles
    res = deep_lift_shap(model, X, args=[ctl], n_shuffles=K, random_state=7, device="cpu",
                         return_references=True)
    R = dinucleotide_shuffle(X, n=K, random_state=7)
    np.testing.assert_array_equal(res.references.numpy(), R.numpy().astype(np.int8))
    # actual = hypothetical * one-hot, and actual contributions sum to f(x) - mean f(r)
    hyp = deep_lift_shap(model, X, args=[ctl], references=R, hypothetical=True, device="cpu")
    torch.testing.assert_close(res.attributions, hyp * X)
    with torch.no_grad():
        m.eval()
        fx = model(X, ctl)[:, 0]
        fr = model(R.reshape(-1, 4, L), ctl.repeat_interleave(K, 0))[:, 0].reshape(3, K)
    torch.testing.assert_close(res.attributions.sum(dim=(1, 2)), fx - fr.mean(dim=1),
                               atol=1e-4, rtol=1e-4)


class Squares(nn.Module):
    def forward(self, X):
        h = X.sum(dim=2)
        return (h * h).sum(dim=1, keepdim=True)


def test_bad_input_and_unsupported_ops():
    model = CountWrapper(tiny_bpnet())
    X = one_hot(2)
    bad = X.clone()
    bad[0, 0, 5] = 0.5
    with pytest.raises(InputError, match="not one-hot"):
        deep_lift_shap(model, bad, n_shuffles=2, device="cpu")
    empty = X.clone()
    empty[1] = 0
    with pytest.raises(InputError, match="all N"):
        deep_lift_shap(model, empty, n_shuffles=2, device="cpu")
    with pytest.raises(UnsupportedOpError, match="max_pool1d"):
        deep_lift_shap(nn.Sequential(nn.Conv1d(4, 2, 3), nn.MaxPool1d(2), nn.Flatten(),
                                     nn.Linear(62, 1)), X, n_shuffles=2, device="cpu")
    with pytest.raises(UnsupportedOpError, match="multiplies two input-dependent"):
        deep_lift_shap(Squares(), X, n_shuffles=2, device="cpu")
    with pytest.raises(InputError, match="CountWrapper"):
        deep_lift_shap(tiny_bpnet(), X, n_shuffles=2, device="cpu")
    with pytest.raises(InputError, match="references must have shape"):
        deep_lift_shap(model, X, references=torch.zeros(2, 3, 4, L - 1), device="cpu")


def test_relu_kernel_equals_generic_rule():
    """The one-pass numba kernel gives the same multipliers as the torch formulation."""
    from bpnetkit.interpret import deeplift_rules as dr
    from bpnetkit.interpret._relu_kernel import relu_multipliers

    g, k = 2, 3
    h = torch.randn(g * (1 + k), 5, 7)
    h[g, 0, :3] = h[0, 0, :3] + 1e-8  # |x - r| below eps: the input's gradient is used
    pairing = dr._Pairing(g, k)
    generic = dr._generic_multipliers("relu", h, torch.relu(h), None, (), {}, pairing)
    fast = torch.empty_like(h)
    relu_multipliers(h.reshape(len(h), -1).numpy(), g, k, dr.EPS,
                     fast.reshape(len(h), -1).numpy())
    torch.testing.assert_close(fast, generic, atol=1e-6, rtol=1e-6)


def test_convergence_delta_warning():
    X = one_hot(1)
    with pytest.warns(RuntimeWarning, match="convergence delta"):
        deep_lift_shap(CountWrapper(tiny_bpnet()), X, n_shuffles=2, device="cpu",
                       warning_threshold=-1.0)
