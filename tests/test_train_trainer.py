"""Trainer: learning a planted signal, resume == uninterrupted, non-finite losses, outputs."""

import math

import numpy as np
import pytest
import torch

from _train_sim import simulate
from bpnetkit.models.bpnet import BPNet
from bpnetkit.train.metrics import compute_metrics
from bpnetkit.train.trainer import Trainer, TrainingDiverged

IN, OUT = 120, 84


def tiny_bpnet(n_ctl=0, seed=0):
    torch.manual_seed(seed)
    return BPNet(n_filters=16, n_layers=2, n_outputs=2, n_control_tracks=n_ctl,
                 stem_kernel_size=11, profile_kernel_size=15)


def batches_fn(X, y, batch_size=16, seed=0):
    """Training batches as a function of the epoch: reproducible shuffling."""
    def make(epoch):
        order = np.random.default_rng([seed, epoch]).permutation(len(X))
        for s in range(0, len(X), batch_size):
            idx = order[s:s + batch_size]
            yield torch.from_numpy(X[idx]), torch.from_numpy(y[idx]), None
    return make


def fixed_batches(X, y, batch_size=64):
    return [(torch.from_numpy(X[s:s + batch_size]), torch.from_numpy(y[s:s + batch_size]), None)
            for s in range(0, len(X), batch_size)]


@pytest.fixture(scope="module")
def sim():
    Xtr, ytr, _ = simulate(192, IN, OUT, seed=1)
    Xva, yva, _ = simulate(64, IN, OUT, seed=2)
    Xte, yte, _ = simulate(128, IN, OUT, seed=3)
    return Xtr, ytr, Xva, yva, Xte, yte


def test_learns_planted_signal_and_writes_outputs(sim, tmp_path):
    Xtr, ytr, Xva, yva, Xte, yte = sim
    model = tiny_bpnet()
    tr = Trainer(model, lr=1e-2, count_weight=5.0, max_epochs=6, patience=4, device="cpu",
                 output_dir=tmp_path, progress=False, provenance={"note": "test"})
    res = tr.fit(batches_fn(Xtr, ytr, batch_size=32), fixed_batches(Xva, yva))
    assert res.best_epoch >= 1 and math.isfinite(res.best_valid_loss)
    model.eval()
    with torch.no_grad():
        logits, lc = model(torch.from_numpy(Xte).float())
    m = compute_metrics(yte, logits.numpy(), lc.numpy())
    assert m["counts_pearson"] > 0.6, m
    assert m["profile_jsd_normalized"] > 0.1, m
    assert set(res.outputs) == {"model", "checkpoint", "log"}
    for key in ("model", "checkpoint", "log"):
        assert (tmp_path / res.outputs[key].split("/")[-1]).exists()
    assert not list(tmp_path.glob("*.png"))
    rows = (tmp_path / "log.tsv").read_text().strip().split("\n")
    assert len(rows) == res.epochs_run + 1
    header = rows[0].split("\t")
    assert header[:3] == ["epoch", "train_loss", "train_profile_loss"]
    # the log holds the history the trainer returned (the data of the training curve)
    logged = [float(r.split("\t")[header.index("valid_loss")]) for r in rows[1:]]
    np.testing.assert_allclose(logged, [h["valid_loss"] for h in res.history], rtol=1e-5)
    best = int(np.argmin(logged)) + 1
    assert best == res.best_epoch


def test_logged_loss_is_example_weighted_epoch_mean(sim):
    from bpnetkit.train.losses import bpnet_loss

    Xtr, ytr, *_ = sim
    X, y = torch.from_numpy(Xtr[:40]).float(), torch.from_numpy(ytr[:40])
    batches = [(X[a:a + 16], y[a:a + 16], None) for a in range(0, 40, 16)]  # 16, 16, 8
    model = tiny_bpnet()
    with torch.no_grad():
        per = [bpnet_loss(*model(b[0]), b[1], count_weight=2.0)[0].item() for b in batches]
    expected = (16 * per[0] + 16 * per[1] + 8 * per[2]) / 40
    tr = Trainer(model, lr=1e-12, count_weight=2.0, max_epochs=1, device="cpu",
                 progress=False)  # a negligible step: the weights stay put
    res = tr.fit(batches, batches)
    assert res.history[0]["train_loss"] == pytest.approx(expected, rel=1e-5)
    assert res.history[0]["valid_loss"] == pytest.approx(expected, rel=1e-5)


def test_resume_equals_uninterrupted(sim, tmp_path):
    Xtr, ytr, Xva, yva, *_ = sim
    Xtr, ytr = Xtr[:64], ytr[:64]
    valid = fixed_batches(Xva[:16], yva[:16])
    saved = []

    def save(model, path, provenance=None):
        saved.append(path)

    full = tiny_bpnet()
    Trainer(full, lr=1e-3, max_epochs=3, patience=None, device="cpu", progress=False,
            output_dir=tmp_path / "a", save_model_fn=save).fit(batches_fn(Xtr, ytr), valid)
    part = tiny_bpnet()
    Trainer(part, lr=1e-3, max_epochs=2, patience=None, device="cpu", progress=False,
            output_dir=tmp_path / "b", save_model_fn=save).fit(batches_fn(Xtr, ytr), valid)
    resumed = tiny_bpnet(seed=123)  # different init: everything comes from the checkpoint
    res = Trainer(resumed, lr=1e-3, max_epochs=3, patience=None, device="cpu", progress=False,
                  output_dir=tmp_path / "b", save_model_fn=save).fit(
        batches_fn(Xtr, ytr), valid, resume=True)
    assert res.epochs_run == 3 and len(res.history) == 3
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)


def test_non_finite_loss_keeps_best_model(sim, tmp_path):
    Xtr, ytr, Xva, yva, *_ = sim
    good = batches_fn(Xtr[:64], ytr[:64])

    def data(epoch):
        if epoch < 3:
            yield from good(epoch)
        else:
            bad = ytr[:32].copy()
            bad[0, 0, 0] = np.nan
            yield torch.from_numpy(Xtr[:32]), torch.from_numpy(bad), None

    model = tiny_bpnet()
    tr = Trainer(model, max_epochs=5, patience=None, device="cpu", progress=False,
                 output_dir=tmp_path, save_model_fn=lambda *a, **k: None)
    with pytest.warns(UserWarning, match="non-finite"):
        res = tr.fit(data, fixed_batches(Xva[:32], yva[:32]))
    assert res.stopped == "non_finite_loss" and res.best_epoch in (1, 2)
    assert "NaN" in res.diagnostic and (tmp_path / "diagnostic.txt").exists()
    assert all(torch.isfinite(p).all() for p in model.parameters())

    # diverging in the very first epoch: a clear error, nothing to keep
    def all_bad(epoch):
        bad = ytr[:32].copy()
        bad[:] = np.inf
        yield torch.from_numpy(Xtr[:32]), torch.from_numpy(bad), None

    with pytest.raises(TrainingDiverged, match="non-finite"):
        Trainer(tiny_bpnet(), max_epochs=2, device="cpu", progress=False).fit(
            all_bad, fixed_batches(Xva[:32], yva[:32]))


def test_controls_and_bad_batches(sim):
    Xtr, ytr, *_ = sim
    model = tiny_bpnet(n_ctl=2)
    tr = Trainer(model, max_epochs=1, device="cpu", progress=False)
    ctl = torch.from_numpy(np.random.default_rng(0).poisson(0.1, (32, 2, IN)).astype("f4"))
    batch = [(torch.from_numpy(Xtr[:32]), torch.from_numpy(ytr[:32]), ctl)]
    res = tr.fit(batch, batch)
    assert res.epochs_run == 1
    with pytest.raises(ValueError, match="control tracks"):
        Trainer(tiny_bpnet(n_ctl=2), max_epochs=1, device="cpu", progress=False).fit(
            [(torch.from_numpy(Xtr[:8]), torch.from_numpy(ytr[:8]), None)], batch)
    # bfloat16 autocast runs (losses in float32)
    res = Trainer(tiny_bpnet(n_ctl=2), max_epochs=1, device="cpu", progress=False,
                  bf16=True).fit(batch, batch)
    assert math.isfinite(res.best_valid_loss)
    with pytest.raises(ValueError, match="no batches"):
        Trainer(tiny_bpnet(), max_epochs=1, device="cpu", progress=False).fit([], batch)


def test_max_time_stops_before_an_epoch_that_would_overrun(sim):
    """Epochs of >= 0.3 s each (a slow data source) under max_time=1 s: the trainer stops
    with ``stopped == "max_time"`` before the epoch that would end after the budget."""
    import time

    Xtr, ytr, Xva, yva, *_ = sim
    X, y = torch.from_numpy(Xtr[:32]).float(), torch.from_numpy(ytr[:32])

    def slow(epoch):
        time.sleep(0.3)
        yield X, y, None

    valid = fixed_batches(Xva[:16], yva[:16])
    t0 = time.monotonic()
    res = Trainer(tiny_bpnet(), max_epochs=50, patience=None, device="cpu", progress=False,
                  max_time=1.0).fit(slow, valid)
    took = time.monotonic() - t0
    assert res.stopped == "max_time"
    assert 1 <= res.epochs_run <= 3  # each epoch >= 0.3 s: a 4th would end after 1.2 s
    assert took < 1.0 + took / res.epochs_run  # never more than one epoch past the budget
    # no limit: every epoch runs
    res = Trainer(tiny_bpnet(), max_epochs=2, patience=None, device="cpu",
                  progress=False).fit(slow, valid)
    assert res.stopped == "max_epochs" and res.epochs_run == 2
    with pytest.raises(Exception, match="max_time"):
        Trainer(tiny_bpnet(), max_time=0.0)
