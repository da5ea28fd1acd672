"""bpnetkit models inside hook-based DeepLIFT/SHAP tools (tangermeme, captum), float64.

Every family and wrapper: the tools' attributions sum to the output difference and equal
bpnetkit's own ``deep_lift_shap`` given the same references. The elementwise modules that
are not ``nn.ReLU`` (Exp, Log, SoftmaxWeighting) are registered with each tool's generic
elementwise rescale rule: tangermeme through its public ``additional_nonlinear_ops``,
captum through its ``SUPPORTED_NON_LINEAR`` table (see docs/models.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import bpnetkit
from bpnetkit.interpret.deeplift import deep_lift_shap
from bpnetkit.interpret.shuffle import dinucleotide_shuffle
from bpnetkit.models import (
    BPNet,
    ChromBPNet,
    ControlWrapper,
    CountWrapper,
    MultiTaskBPNet,
    ProfileWrapper,
    TaskWrapper,
    original_bpnet,
    procapnet,
)
from bpnetkit.models.layers import Exp, Log, SoftmaxWeighting

tdls = pytest.importorskip("tangermeme.deep_lift_shap")
captum_dl = pytest.importorskip("captum.attr._core.deep_lift")

K = 4      # references per sequence
N = 2      # sequences
L = 96     # input length
EXTRA = (Exp, Log, SoftmaxWeighting)


def one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4)[idx].transpose(0, 2, 1).copy())


def _scaled(m: torch.nn.Module, seed: int) -> torch.nn.Module:
    """float64, eval, weights doubled so that many ReLUs switch between input and reference."""
    torch.manual_seed(seed)
    for p in m.parameters():
        p.data.normal_(0, 0.3)
    return m.double().eval()


def tiny(kind: str) -> torch.nn.Module:
    """Tiny (8 filters, 2 layers) models of every family."""
    small = {"n_filters": 8, "n_layers": 2, "stem_kernel_size": 5, "profile_kernel_size": 7}
    if kind == "bpnet":
        return _scaled(BPNet(n_control_tracks=0, **small), 1)
    if kind == "bpnet_controls":
        return _scaled(BPNet(n_control_tracks=2, **small), 2)
    if kind == "bpnet_pre":
        return _scaled(BPNet(n_control_tracks=0, residual="pre", **small), 3)
    if kind == "bpnet_same":
        return _scaled(BPNet(n_control_tracks=0, padding="same", trimming=4, **small), 4)
    if kind == "procapnet":
        return _scaled(procapnet(**small), 5)
    if kind == "chrombpnet":
        common = {"n_outputs": 1, "n_control_tracks": 0, "stem_kernel_size": 5,
                  "profile_kernel_size": 7, "n_filters": 8}
        return _scaled(ChromBPNet(bias=BPNet(n_layers=1, **common),
                                  accessibility=BPNet(n_layers=2, **common)), 6)
    if kind == "multitask":
        return _scaled(MultiTaskBPNet(["a", "b"], **small), 7)
    if kind == "original_bpnet":
        return _scaled(original_bpnet(["Oct4", "Sox2"], **small), 8)
    raise ValueError(kind)


def cases():
    """(id, model returning (N, T), target, needs controls)."""
    out = []
    for kind in ("bpnet", "bpnet_pre", "bpnet_same", "procapnet", "chrombpnet", "multitask",
                 "original_bpnet"):
        m = tiny(kind)
        out.append((f"{kind}-counts", CountWrapper(m), 0, False))
        out.append((f"{kind}-profile", ProfileWrapper(m), 0, False))
    m = tiny("bpnet_controls")
    out.append(("bpnet_controls-counts", CountWrapper(m), 0, True))
    out.append(("bpnet_controls-profile", ProfileWrapper(m), 0, True))
    out.append(("controlwrapper-counts", CountWrapper(ControlWrapper(m)), 0, False))
    mt = tiny("original_bpnet")
    sox2 = mt.task_channels("Sox2")
    out.append(("taskwrapper-counts", CountWrapper(TaskWrapper(mt, sox2, sox2)), 1, False))
    out.append(("taskwrapper-profile", ProfileWrapper(TaskWrapper(mt, sox2, sox2)), 0, False))
    return out


CASES = cases()


@pytest.fixture(scope="module")
def data():
    X = one_hot(N, L, seed=11)
    R = dinucleotide_shuffle(X, n=K, random_state=3).double()
    ctl = torch.from_numpy(np.random.default_rng(4).poisson(2.0, (N, 2, L))).double()
    return X, R, ctl


def _output(model, X, args, target):
    with torch.no_grad():
        return model(X, *args)[:, target]


def _tangermeme(model, X, R, args, target, hypothetical):
    ops = {t: tdls._nonlinear for t in EXTRA}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tdls.deep_lift_shap(model, X, args=tuple(args) or None, target=target,
                                   references=R, hypothetical=hypothetical, device="cpu",
                                   dtype=torch.float64, additional_nonlinear_ops=ops,
                                   batch_size=16)


def _captum(model, X, R, args, target, monkeypatch):
    from captum.attr import DeepLiftShap

    for t in EXTRA:
        monkeypatch.setitem(captum_dl.SUPPORTED_NON_LINEAR, t, captum_dl.nonlinear)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(X)):
            extra = tuple(a[i:i + 1] for a in args) or None
            out.append(DeepLiftShap(model).attribute(X[i:i + 1], R[i], target=target,
                                                     additional_forward_args=extra,
                                                     custom_attribution_func=_hypothetical))
    # captum's default (x - r) * m spreads a base's contribution over the 4 channels;
    # hypothetical contributions times the one-hot input are the usual per-base scores
    return torch.cat(out).detach() * X


def _hypothetical(multipliers, inputs, baselines):
    m, r = multipliers[0], baselines[0]
    return (m - (r * m).sum(dim=1, keepdim=True),)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_tools_sum_to_delta_and_equal_bpnetkit(case, data, monkeypatch):
    _, model, target, needs_ctl = case
    X, R, ctl = data
    args = [ctl] if needs_ctl else []
    ours = deep_lift_shap(model, X, args=args or None, target=target, references=R,
                          device="cpu", dtype=torch.float64, return_deltas=True)
    ours_hyp = deep_lift_shap(model, X, args=args or None, target=target, references=R,
                              device="cpu", dtype=torch.float64, hypothetical=True)
    tm_hyp = _tangermeme(model, X, R, args, target, hypothetical=True)
    tm = _tangermeme(model, X, R, args, target, hypothetical=False)
    cap = _captum(model, X, R, args, target, monkeypatch)

    # expected total: mean over references of f(x) - f(r)
    fx = _output(model, X, args, target)
    fr = torch.stack([_output(model, R[:, k], args, target) for k in range(K)], dim=1)
    diff = (fx[:, None] - fr).mean(dim=1)
    scale = (fx[:, None] - fr).abs().mean(dim=1)
    assert float(scale.min()) > 1e-3  # the test model's output moves
    for name, attr in (("bpnetkit", ours.attributions), ("tangermeme", tm), ("captum", cap)):
        total = attr.sum(dim=(1, 2))
        rel = ((total - diff).abs() / scale).max()
        assert rel < 1e-6, f"{name}: relative convergence delta {float(rel):.2e}"
    assert float((ours.deltas.abs().max(dim=1).values / scale).max()) < 1e-6
    torch.testing.assert_close(tm_hyp, ours_hyp.double(), atol=1e-6, rtol=0)
    torch.testing.assert_close(tm, ours.attributions.double(), atol=1e-6, rtol=0)
    torch.testing.assert_close(cap, ours.attributions.double(), atol=1e-6, rtol=0)


def _relative_delta(model, X, R, attr):
    with torch.no_grad():
        fx = model(X)[:, 0]
        fr = torch.stack([model(R[:, k])[:, 0] for k in range(R.shape[1])], dim=1)
    d = fx[:, None] - fr
    return float(((attr.sum(dim=(1, 2)) - d.mean(dim=1)).abs() / d.abs().mean(dim=1)).max())


def test_unregistered_ops_are_what_the_tools_get_wrong(data):
    """Without registering Exp/Log/SoftmaxWeighting, tangermeme treats them as linear.

    This is the documented limit: the tools handle ``nn.ReLU`` (and their other built-in
    types) out of the box; ChromBPNet's count combination and ProfileWrapper's weighting
    need the registration shown in docs/models.md. On a model without those ops (a BPNet's
    counts) the unregistered tool equals bpnetkit.
    """
    X, R, _ = data
    for model, least in ((CountWrapper(tiny("chrombpnet")), 1e-3),
                         (ProfileWrapper(tiny("bpnet")), 1.0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bad = tdls.deep_lift_shap(model, X, references=R, device="cpu",
                                      dtype=torch.float64)
        assert _relative_delta(model, X, R, bad) > least
    plain = CountWrapper(tiny("bpnet"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = tdls.deep_lift_shap(plain, X, references=R, device="cpu", dtype=torch.float64)
    ours = deep_lift_shap(plain, X, references=R, device="cpu", dtype=torch.float64)
    torch.testing.assert_close(theirs, ours.double(), atol=1e-6, rtol=0)
    assert _relative_delta(plain, X, R, theirs) < 1e-6


@pytest.mark.filterwarnings("ignore")
def test_captum_consecutive_relus_limit():
    """captum mis-handles a ReLU module applied directly to another's output.

    Hence no bpnetkit model chains two ReLU modules (the "pre" residual BPNet's first layer
    uses the stem's ReLU output as is); tangermeme and bpnetkit handle such chains.
    """
    from captum.attr import DeepLiftShap

    torch.manual_seed(0)
    chain = torch.nn.Sequential(torch.nn.Conv1d(4, 3, 3), torch.nn.ReLU(), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(3 * 8, 1)).double()
    x = torch.randn(1, 4, 10, dtype=torch.float64)
    r = torch.randn(3, 4, 10, dtype=torch.float64)
    _, delta = DeepLiftShap(chain).attribute(x, r, target=0, return_convergence_delta=True)
    assert float(delta.abs().max()) > 1e-3
    single = torch.nn.Sequential(*chain[:2], *chain[3:])
    _, delta = DeepLiftShap(single).attribute(x, r, target=0, return_convergence_delta=True)
    assert float(delta.abs().max()) < 1e-9


def test_print_lists_relu_modules():
    text = repr(bpnetkit.BPNet())
    assert "(irelu): ReLU()" in text and "(rrelus): ModuleList" in text
    assert "8 x ReLU()" in text
    relus = [m for m in BPNet(n_layers=3).modules() if isinstance(m, torch.nn.ReLU)]
    assert len({id(m) for m in relus}) == 4  # one instance per use
    pre = [m for m in BPNet(n_layers=3, residual="pre").modules()
           if isinstance(m, torch.nn.ReLU)]
    assert len(pre) == 4  # stem, layers 2 and 3, final
    c = ChromBPNet()
    assert isinstance(c._exp1, Exp) and isinstance(c._exp2, Exp) and isinstance(c._log, Log)
    assert isinstance(ProfileWrapper(c).scaling, SoftmaxWeighting)


def test_state_dicts_are_bpnet_lite_compatible_both_ways():
    """bpnet-lite BPNet/ChromBPNet state dicts load into ours and back, equal outputs."""
    bpnetlite = pytest.importorskip("bpnetlite")
    from bpnetlite.chrombpnet import ChromBPNet as LiteChromBPNet

    torch.manual_seed(0)
    X = one_hot(2, 300, seed=2).float()
    ctl = torch.rand(2, 2, 300)

    def lite_bpnet(**kw):
        return bpnetlite.BPNet(n_filters=8, n_layers=2, verbose=False, **kw).eval()

    def ours_like(lite):
        return BPNet(n_filters=8, n_layers=2, n_outputs=lite.n_outputs,
                     n_control_tracks=lite.n_control_tracks, trimming=lite.trimming,
                     padding="same").eval()

    theirs = lite_bpnet(n_outputs=2, n_control_tracks=2)
    ours = ours_like(theirs)
    assert set(ours.state_dict()) == set(theirs.state_dict())  # ReLU modules add no keys
    ours.load_state_dict(theirs.state_dict(), strict=True)
    with torch.no_grad():
        for a, b in zip(ours(X, ctl), theirs(X, ctl), strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    back = lite_bpnet(n_outputs=2, n_control_tracks=2)
    torch.manual_seed(5)
    for p in ours.parameters():
        p.data.normal_(0, 0.1)
    back.load_state_dict(ours.state_dict(), strict=True)
    with torch.no_grad():
        for a, b in zip(ours(X, ctl), back(X, ctl), strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0)

    lite_chrom = LiteChromBPNet(lite_bpnet(n_outputs=1, n_control_tracks=0),
                                lite_bpnet(n_outputs=1, n_control_tracks=0)).eval()
    chrom = ChromBPNet(bias=ours_like(lite_chrom.bias),
                       accessibility=ours_like(lite_chrom.accessibility)).eval()
    assert set(chrom.state_dict()) == set(lite_chrom.state_dict())
    chrom.load_state_dict(lite_chrom.state_dict(), strict=True)
    with torch.no_grad():
        for a, b in zip(chrom(X), lite_chrom(X), strict=True):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    lite_chrom.load_state_dict(chrom.state_dict(), strict=True)
