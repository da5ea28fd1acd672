"""Batched prediction: equal to the plain forward pass and to tangermeme; state restored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.interpret.fused_tower import fused_towers_work, fused_view
from bpnetkit.interpret.predict import predict
from bpnetkit.models import BPNet, ChromBPNet, MultiTaskBPNet
from bpnetkit.models.base import RCPermutation


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
    before = {name: dict(mod.__dict__) for name, mod in m.named_modules()}
    prof, cnt = predict(m, X, args=[ctl], batch_size=3, device="cpu")
    assert m.training and prof.device.type == "cpu"
    # the model object is not modified: same attributes, same objects, in every submodule
    after = {name: dict(mod.__dict__) for name, mod in m.named_modules()}
    assert before.keys() == after.keys()
    for name in before:
        assert before[name].keys() == after[name].keys(), name
        assert all(before[name][k] is after[name][k] for k in before[name]
                   if k != "training"), name
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


def test_fused_view_shares_weights_and_leaves_model_alone():
    if not fused_towers_work():
        pytest.skip("this torch build has no oneDNN fused convolution")
    m = ChromBPNet(BPNet(n_filters=8, n_layers=2, n_outputs=1, n_control_tracks=0,
                         stem_kernel_size=5, profile_kernel_size=7),
                   BPNet(n_filters=8, n_layers=3, n_outputs=1, n_control_tracks=0,
                         stem_kernel_size=5, profile_kernel_size=7)).eval()
    view = fused_view(m)
    assert view is not m and view.bias is not m.bias and "embed" not in m.bias.__dict__
    assert view.bias.iconv.weight is m.bias.iconv.weight  # parameters are shared
    x = torch.from_numpy(one_hot(3, 80, seed=4)).float()
    with torch.inference_mode():
        for a, b in zip(view(x), m(x), strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert fused_view(m, enabled=False) is m


def test_rc_average():
    m = tiny(n_ctl=0)
    X = one_hot(4, 64, seed=1)
    prof, cnt = predict(m, X, device="cpu", rc_average=True)
    with torch.no_grad():
        x = torch.from_numpy(X).float()
        pf, cf = m.eval()(x)
        pr, cr = m(x.flip(dims=(1, 2)))
    # an undeclared (plus, minus) pair swaps; one total count stays
    torch.testing.assert_close(prof, (pf + pr.flip(dims=(2,))[:, [1, 0]]) / 2,
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cnt, (cf + cr) / 2, atol=1e-5, rtol=1e-5)


def test_rc_average_two_task_model_by_hand():
    """Per-task strand swap on a 2-task model with per-task controls, computed by hand."""
    torch.manual_seed(3)
    m = MultiTaskBPNet(tasks=("a", "b"), n_filters=8, n_layers=2, n_control_tracks=2,
                       stem_kernel_size=5, profile_kernel_size=7, padding="valid").eval()
    X = one_hot(5, 64, seed=5)
    ctl = torch.rand(5, 4, 64, generator=torch.Generator().manual_seed(6)) * 3
    perm = RCPermutation(profile=(1, 0, 3, 2), counts=(1, 0, 3, 2), controls=(1, 0, 3, 2))
    prof, cnt = predict(m, X, args=[ctl], batch_size=2, device="cpu", rc_average=True,
                        rc_perm=perm)
    swap = [1, 0, 3, 2]
    with torch.no_grad():
        x = torch.from_numpy(X).float()
        pf, cf = m(x, ctl)
        pr, cr = m(x.flip(dims=(1, 2)), ctl.flip(dims=(2,))[:, swap])
    want_p = (pf + pr.flip(dims=(2,))[:, swap]) / 2
    want_c = (cf + cr[:, swap]) / 2
    torch.testing.assert_close(prof, want_p, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cnt, want_c, atol=1e-5, rtol=1e-5)
    # flipping the whole track axis (the old behaviour) mixes the two tasks
    with torch.no_grad():
        pr_old, _ = m(x.flip(dims=(1, 2)), ctl.flip(dims=(1, 2)))
    assert float(((pf + pr_old.flip(dims=(1, 2))) / 2 - prof).abs().max()) > 1e-3


class _Undeclared(torch.nn.Module):
    """A model that says nothing about its strands (like a user's own module)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


class _Declared(_Undeclared):
    def rc_permutation(self):
        return RCPermutation(profile=(1, 0, 3, 2), counts=(0,))


def test_rc_average_undeclared_models_need_rc_perm():
    torch.manual_seed(0)
    net4 = BPNet(n_filters=8, n_layers=2, n_outputs=4, n_control_tracks=0,
                 stem_kernel_size=5, profile_kernel_size=7)
    X = one_hot(3, 64, seed=7)
    with pytest.raises(InputError, match="rc_perm"):
        predict(_Undeclared(net4), X, device="cpu", rc_average=True)
    net_c2 = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0,
                   n_count_outputs=2, stem_kernel_size=5, profile_kernel_size=7)
    with pytest.raises(InputError, match="rc_perm"):
        predict(_Undeclared(net_c2), X, device="cpu", rc_average=True)
    # a permutation that does not fit the outputs is an error too
    with pytest.raises(InputError, match="permutation"):
        predict(_Undeclared(net4), X, device="cpu", rc_average=True,
                rc_perm=RCPermutation(profile=(1, 0), counts=(0,)))
    # the model's own declaration is used when present, and equals the explicit one
    declared = predict(_Declared(net4), X, device="cpu", rc_average=True)
    explicit = predict(_Undeclared(net4), X, device="cpu", rc_average=True,
                       rc_perm=RCPermutation(profile=(1, 0, 3, 2), counts=(0,)))
    for a, b in zip(declared, explicit, strict=True):
        torch.testing.assert_close(a, b)


def test_missing_controls_are_zeros():
    m = tiny(n_ctl=2)
    X = one_hot(4, 64, seed=8)
    prof, cnt = predict(m, X, device="cpu")
    with torch.no_grad():
        p0, c0 = m.eval()(torch.from_numpy(X).float(), torch.zeros(4, 2, 64))
    torch.testing.assert_close(prof, p0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cnt, c0, atol=1e-5, rtol=1e-5)


def test_default_device_runs_here_and_bad_device_is_named():
    m = tiny(n_ctl=0)
    X = one_hot(3, 64, seed=9)
    auto = predict(m, X, device=None)
    want = "cuda" if torch.cuda.is_available() else "cpu"
    explicit = predict(m, X, device=want)
    for a, b in zip(auto, explicit, strict=True):
        assert a.device.type == "cpu"  # results always come back on the CPU
        torch.testing.assert_close(a, b)
    with pytest.raises(InputError, match="gpu7"):
        predict(m, X, device="gpu7")
    assert next(m.parameters()).device.type == "cpu"


def _family_cases():
    torch.manual_seed(11)
    bpnet = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=2,
                  stem_kernel_size=5, profile_kernel_size=7)
    chrom = ChromBPNet(BPNet(n_filters=8, n_layers=2, n_outputs=1, n_control_tracks=0,
                             stem_kernel_size=5, profile_kernel_size=7),
                       BPNet(n_filters=8, n_layers=3, n_outputs=1, n_control_tracks=0,
                             stem_kernel_size=5, profile_kernel_size=7))
    multi = MultiTaskBPNet(tasks=("a", "b"), n_filters=8, n_layers=2, n_control_tracks=2,
                           stem_kernel_size=5, profile_kernel_size=7, padding="valid")
    multi_total = MultiTaskBPNet(tasks=("a", "b", "c"), n_filters=8, n_layers=2,
                                 counts_per_strand=False, stem_kernel_size=5,
                                 profile_kernel_size=7, padding="valid")
    from bpnetkit.models import TaskWrapper

    task_b = TaskWrapper(multi, multi.task_channels("b"), multi.task_channels("b"))
    # (model, controls, profile perm, counts perm, controls perm), written out by hand
    return {"bpnet": (bpnet, 2, [1, 0], [0], [1, 0]),
            "chrombpnet": (chrom, 0, [0], [0], []),
            "multitask": (multi, 4, [1, 0, 3, 2], [1, 0, 3, 2], [1, 0, 3, 2]),
            "multitask_total_counts": (multi_total, 0, [1, 0, 3, 2, 5, 4], [0, 1, 2], []),
            "task_wrapper": (task_b, 4, [1, 0], [1, 0], [1, 0, 3, 2])}


@pytest.mark.parametrize("family", ["bpnet", "chrombpnet", "multitask",
                                    "multitask_total_counts", "task_wrapper"])
def test_rc_average_every_family_uses_its_declaration(family):
    model, n_ctl, pp, cp, kp = _family_cases()[family]
    model.eval()
    X = one_hot(3, 96, seed=12)
    args = None
    if n_ctl:
        ctl = torch.rand(3, n_ctl, 96, generator=torch.Generator().manual_seed(13)) * 2
        args = [ctl]
    prof, cnt = predict(model, X, args=args, device="cpu", rc_average=True)
    x = torch.from_numpy(X).float()
    with torch.no_grad():
        pf, cf = model(x, *(args or []))
        rc_args = [ctl.flip(dims=(2,))[:, kp]] if n_ctl else []
        pr, cr = model(x.flip(dims=(1, 2)), *rc_args)
    torch.testing.assert_close(prof, (pf + pr.flip(dims=(2,))[:, pp]) / 2, atol=1e-5,
                               rtol=1e-5)
    torch.testing.assert_close(cnt, (cf + cr[:, cp]) / 2, atol=1e-5, rtol=1e-5)


def test_first_predict_does_not_consume_the_global_random_stream():
    """predict's one-time CPU kernel probe must not shift a user's seeded random stream."""
    from bpnetkit.interpret import fused_tower

    fused_tower._WORKS = None
    torch.manual_seed(0)
    expected = torch.rand(5)
    torch.manual_seed(0)
    fused_tower._WORKS = None
    fused_tower.fused_towers_work()
    assert torch.equal(torch.rand(5), expected)


def test_cpu_worker_threads_give_the_serial_result(monkeypatch):
    """Small models predict on CPU worker threads (whole batches per thread, one intra-op
    thread each): the outputs, their order, rc averaging and the caller's thread count are
    those of the one-thread loop."""
    import threading

    import bpnetkit.interpret.predict as P

    m = tiny()
    X = one_hot(11, 64, seed=3)
    ctl = torch.rand(11, 2, 64)
    seen = set()
    hook = m.linear.register_forward_hook(lambda *a: seen.add(threading.get_ident()))
    old = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        assert P._cpu_workers(torch.device("cpu"), 11, m) == 3
        threaded = predict(m, X, args=[ctl], batch_size=4, device="cpu", rc_average=True)
        assert torch.get_num_threads() == 3  # restored after the call
        assert len(seen) > 1  # the batches ran on several threads
        monkeypatch.setattr(P, "_cpu_workers", lambda device, n, model: 1)
        seen.clear()
        serial = predict(m, X, args=[ctl], batch_size=4, device="cpu", rc_average=True)
        assert len(seen) == 1
    finally:
        torch.set_num_threads(old)
        hook.remove()
    for a, b in zip(threaded, serial, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # large models keep one worker (their convolutions parallelise well themselves)
    big = BPNet(n_filters=512, n_layers=3, n_outputs=1, n_control_tracks=0)  # 2.4 M
    assert P._cpu_workers(torch.device("cpu"), 11, big) == 1
