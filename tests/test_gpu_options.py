"""GPU-efficiency options of training, checked on the CPU (CUDA-only effects are guarded):
TF32 switches set and restored, TF32 without effect off CUDA and recorded in the provenance,
``torch.compile`` training like eager, pinned-memory prefetching that keeps the batches and
their order, the DataLoader's pinning default, and the plumbing through ``fit``."""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _train_sim import make_genome_dataset, simulate
from bpnetkit.errors import InputError
from bpnetkit.models.bpnet import BPNet
from bpnetkit.train.trainer import Trainer, prefetch_pinned, tf32_flags, wide_kernel_conv1d

IN, OUT = 120, 84


def tiny_bpnet(seed: int = 0) -> BPNet:
    torch.manual_seed(seed)
    return BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0,
                 stem_kernel_size=11, profile_kernel_size=15)


@pytest.fixture(scope="module")
def sim():
    Xtr, ytr, _ = simulate(48, IN, OUT, seed=1)
    Xva, yva, _ = simulate(16, IN, OUT, seed=2)
    return Xtr, ytr, Xva, yva


def epoch_batches(X, y, batch_size=16):
    def make(epoch):
        order = np.random.default_rng([0, epoch]).permutation(len(X))
        return [(torch.from_numpy(X[order[s:s + batch_size]]),
                 torch.from_numpy(y[order[s:s + batch_size]]), None)
                for s in range(0, len(X), batch_size)]
    return make


def train(sim, epochs=1, **kw) -> tuple[Trainer, dict]:
    Xtr, ytr, Xva, yva = sim
    tr = Trainer(tiny_bpnet(), lr=1e-2, max_epochs=epochs, patience=None, device="cpu",
                 progress=False, random_state=0, **kw)
    tr.fit(epoch_batches(Xtr, ytr), [(torch.from_numpy(Xva), torch.from_numpy(yva), None)])
    return tr, {k: v.detach().clone() for k, v in tr.model.state_dict().items()}


def _flags() -> tuple:
    mm, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(mm, "fp32_precision") and hasattr(conv, "fp32_precision"):
        return mm.fp32_precision, conv.fp32_precision
    return mm.allow_tf32, torch.backends.cudnn.allow_tf32


def test_tf32_flags_are_set_inside_and_restored_after(sim):
    before = _flags()
    legacy = isinstance(before[0], bool)
    with tf32_flags(True):
        assert _flags() == ((True, True) if legacy else ("tf32", "tf32"))
        with tf32_flags(False):  # nested: the inner block wins, the outer comes back
            assert _flags() == ((False, False) if legacy else ("ieee", "ieee"))
        assert _flags() == ((True, True) if legacy else ("tf32", "tf32"))
    assert _flags() == before
    with pytest.raises(KeyError), tf32_flags(False):
        raise KeyError("an error inside the block")
    assert _flags() == before


def test_tf32_changes_nothing_on_cpu_and_is_recorded(sim, tmp_path):
    before = _flags()
    tr_on, w_on = train(sim, tf32=True, output_dir=tmp_path / "on")
    _, w_off = train(sim, tf32=False)
    assert all(torch.equal(w_on[k], w_off[k]) for k in w_on)  # bitwise: CPU has no TF32
    assert tr_on.precision == {"device": "cpu", "bf16": False, "tf32": False,
                               "compile": False}
    cfg = json.loads((tmp_path / "on" / "model" / "config.json").read_text())
    assert cfg["provenance"]["training"]["precision"]["tf32"] is False
    assert _flags() == before  # the global switches are as before training


def test_compile_trains_like_eager(sim):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    _, eager = train(sim)
    graphs = counters["stats"]["unique_graphs"]
    tr, compiled = train(sim, compile="aot_eager")
    assert counters["stats"]["unique_graphs"] > graphs  # the training forward was compiled
    assert tr.precision["compile"] == "aot_eager"
    assert list(compiled) == list(eager)  # the model's own keys (no wrapper prefix)
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], rtol=1e-4, atol=1e-5)


def test_unknown_compile_backend_is_named():
    with pytest.raises(InputError, match="no_such_backend"):
        Trainer(tiny_bpnet(), device="cpu", compile="no_such_backend", progress=False)
    with pytest.raises(InputError, match="compile"):
        Trainer(tiny_bpnet(), device="cpu", compile=3, progress=False)


def test_prefetch_keeps_batches_and_order_and_raises_source_errors():
    src = [(torch.full((2, 4, 5), float(i)), torch.full((2, 1, 3), float(-i)), None)
           for i in range(7)]
    got = list(prefetch_pinned(iter(src), depth=2))
    assert len(got) == 7
    for (X, y, c), (X0, y0, _) in zip(got, src, strict=True):
        assert torch.equal(X, X0) and torch.equal(y, y0) and c is None
        assert X.is_pinned() == torch.cuda.is_available()

    def failing():
        yield src[0]
        yield src[1]
        raise OSError("disk gone while reading batch 3")

    seen = []
    with pytest.raises(OSError, match="batch 3"):
        for b in prefetch_pinned(failing()):
            seen.append(b)
    assert len(seen) == 2

    # a consumer that stops early (e.g. a non-finite loss) leaves no thread behind
    it = prefetch_pinned(iter(src * 100), depth=1)
    next(it)
    it.close()
    deadline = time.time() + 5
    while any(t.name == "bpnetkit-prefetch" for t in threading.enumerate()) \
            and time.time() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "bpnetkit-prefetch" for t in threading.enumerate())


def test_loader_pins_only_with_cuda(sim):
    from bpnetkit.data.datasets import EpochSampler, Examples, TrainingDataset

    Xtr, ytr, _, _ = sim
    n = 8
    ex = Examples(Xtr[:n].astype(np.int8), ytr[:n], None, np.array(["chr1"] * n),
                  np.arange(n) * 1000, np.arange(n) * 1000 + IN, np.arange(n), IN, OUT, 0)
    ds = TrainingDataset(ex)
    sampler = EpochSampler(n, batch_size=4, random_state=0)
    loader = ds.loader(sampler)
    assert loader.pin_memory == torch.cuda.is_available()
    for (X, y, _), (X0, y0, _) in zip(loader, ds.batches(sampler), strict=True):
        assert torch.equal(X, X0) and torch.equal(y, y0)


def test_fit_passes_tf32_and_compile_to_the_trainer(tmp_path):
    from bpnetkit.steps.fit import RESUME_SAFE_KEYS, FitParams, run_fit

    torch.set_num_threads(1)
    d = make_genome_dataset(tmp_path, chrom_len=6000)
    common = dict(genome=d["genome"], peaks=d["peaks"], signals=d["signals"], split=d["split"],
                  in_window=IN, out_window=OUT, n_filters=4, n_layers=1, stem_kernel_size=11,
                  profile_kernel_size=15, max_jitter=2, max_epochs=1, progress=False,
                  device="cpu")
    assert FitParams(output_dir="x", **common).tf32 is True
    assert FitParams(output_dir="x", **common).compile is False
    assert {"tf32", "compile"} <= RESUME_SAFE_KEYS  # only float rounding changes
    out = run_fit(FitParams(output_dir=str(tmp_path / "a"), tf32=False, **common))
    cfg = json.loads((Path(out.model) / "config.json").read_text())
    assert cfg["provenance"]["hyperparameters"]["tf32"] is False
    assert cfg["provenance"]["hyperparameters"]["compile"] is False
    saved = json.loads(Path(out.params).read_text())
    assert saved["tf32"] is False and saved["compile"] is False


def test_wide_kernel_conv_equals_conv1d_with_gradients():
    torch.manual_seed(0)
    for n_out, n_in, k, length, bias in ((2, 16, 75, 120, True), (1, 8, 21, 40, False),
                                         (3, 5, 16, 16, True)):
        x = torch.randn(3, n_in, length, requires_grad=True)
        w = torch.randn(n_out, n_in, k, requires_grad=True)
        b = torch.randn(n_out, requires_grad=True) if bias else None
        g = torch.randn(3, n_out, length - k + 1)
        ref = torch.nn.functional.conv1d(x, w, b)
        grads_ref = torch.autograd.grad((ref * g).sum(), [x, w] + ([b] if bias else []))
        out = wide_kernel_conv1d(x, w, b)
        grads = torch.autograd.grad((out * g).sum(), [x, w] + ([b] if bias else []))
        # float rounding of sums of up to 1,200 products: relative to the largest value
        for a, e in zip((out, *grads), (ref, *grads_ref), strict=True):
            scale = float(e.detach().abs().max())
            torch.testing.assert_close(a, e, rtol=1e-5, atol=2e-6 * scale)
    x, w = torch.randn(2, 8, 50), torch.randn(2, 8, 21)
    # calls it does not handle: padded, dilated, strided, grouped, many outputs, narrow kernel
    assert wide_kernel_conv1d(x, w, padding=10) is None
    assert wide_kernel_conv1d(x, w, dilation=2) is None
    assert wide_kernel_conv1d(x, w, stride=2) is None
    assert wide_kernel_conv1d(x, torch.randn(2, 4, 21), groups=2) is None
    assert wide_kernel_conv1d(x, torch.randn(16, 8, 21)) is None
    assert wide_kernel_conv1d(x, torch.randn(2, 8, 3)) is None


def test_trainer_on_cpu_trains_like_the_plain_model(sim):
    """The trainer's CPU forward (profile head as GEMMs) gives the plain model's losses and
    updates up to float rounding."""
    from bpnetkit.train.losses import bpnet_loss

    Xtr, ytr, _, _ = sim
    torch.manual_seed(0)
    model = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0,
                  stem_kernel_size=11, profile_kernel_size=21)
    ref = BPNet(**model.config())
    ref.load_state_dict(model.state_dict())
    X, y = torch.from_numpy(Xtr[:32]).float(), torch.from_numpy(ytr[:32])
    y = y[:, :, 3:-3]  # the wider head (21 instead of 15) predicts 6 bases fewer
    batches = [(X[:16], y[:16], None), (X[16:], y[16:], None)]
    tr = Trainer(model, lr=1e-2, max_epochs=1, patience=None, device="cpu", progress=False)
    res = tr.fit(batches, batches[:1])
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    losses = []
    for Xb, yb, _ in batches:
        opt.zero_grad()
        loss = bpnet_loss(*ref(Xb), yb)[0]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert res.history[0]["train_loss"] == pytest.approx(np.mean(losses), rel=1e-5)
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_matches_cpu_in_ieee_float32(sim):
    Xtr, ytr, Xva, yva = sim
    ref, w_cpu = train(sim)
    tr = Trainer(tiny_bpnet(), lr=1e-2, max_epochs=1, patience=None, device="cuda",
                 progress=False, random_state=0, tf32=False)
    tr.fit(epoch_batches(Xtr, ytr), [(torch.from_numpy(Xva), torch.from_numpy(yva), None)])
    assert tr.precision["tf32"] is False
    for k, v in tr.model.state_dict().items():
        torch.testing.assert_close(v.cpu(), w_cpu[k], rtol=1e-4, atol=1e-5)
