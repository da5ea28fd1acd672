"""Training benchmark: bpnetkit's BPNet trainer vs bpnet-lite 1.1 ``BPNet.fit``.

Both train the same architecture (same filters, layers, windows) on the same simulated data
(random sequences with a planted motif whose copies set the read counts and shape a
stranded footprint), with the same batches, epochs, optimiser (Adam, lr 4e-3 by
default, gradient clipping 1) and count-loss weight. Test metrics are computed for both by
:func:`bpnetkit.train.metrics.compute_metrics` on the best-validation model of each; throughput
is the number of training examples per second of forward + backward + optimiser steps on
the CPU with the same model size and batch.

Run: ``python benchmarks/bench_train.py`` (options: ``--epochs --n-train --lr --filters
--layers --out-window --batch-size --threads``).
bpnet-lite is a test-only oracle; it is never imported by bpnetkit itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import warnings

import numpy as np
import torch

from bpnetkit.interpret.predict import predict
from bpnetkit.io.fasta import ALPHABET
from bpnetkit.models.bpnet import BPNet
from bpnetkit.train.metrics import compute_metrics
from bpnetkit.train.trainer import Trainer

MOTIF = "GATAAG"


def simulate(n: int, in_window: int, out_window: int, seed: int):
    """One-hot sequences with 0-3 motif copies near the centre, Poisson stranded counts."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, size=(n, in_window))
    trim = (in_window - out_window) // 2
    pos = np.arange(out_window)
    rate = np.full((n, 2, out_window), 0.02)
    motif = np.array([ALPHABET.index(c) for c in MOTIF])
    for i in range(n):
        for _ in range(int(rng.integers(0, 4))):
            p = int(rng.integers(trim + 20, trim + out_window - 20 - len(motif)))
            idx[i, p:p + len(motif)] = motif
            c = p - trim + len(motif) // 2
            for s, shift in ((0, -3), (1, 3)):
                rate[i, s] += 30 * np.exp(-0.5 * ((pos - c - shift) / 3.0) ** 2) / 7.5
    X = np.zeros((n, 4, in_window), dtype=np.float32)
    np.put_along_axis(X, idx[:, None, :], 1.0, axis=1)
    return X, rng.poisson(rate).astype(np.float32)


def batches(X, y, batch_size, epoch, seed=0):
    order = np.random.default_rng([seed, epoch]).permutation(len(X))
    return [(torch.from_numpy(X[order[a:a + batch_size]]),
             torch.from_numpy(y[order[a:a + batch_size]]))
            for a in range(0, len(X), batch_size)]


def step_losses(count_weight: float):
    """The training-step losses of both tools at ``count_weight``: (bpnetkit's, bpnet-lite's)."""
    from bpnetlite.losses import _mixture_loss

    from bpnetkit.train.losses import bpnet_loss

    def ours_loss(model, X, y):
        lg, lc = model(X)
        return bpnet_loss(lg, lc, y, count_weight)[0]

    def lite_loss(model, X, y):
        lg, lc = model(X)
        return _mixture_loss(y, lg, lc, count_weight)[2]

    return ours_loss, lite_loss


def step_throughput(model, loss_fn, X, y, batch_size, n_batches=4):
    """Examples per second of training steps (after one warm-up step)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xb, yb = torch.from_numpy(X[:batch_size]), torch.from_numpy(y[:batch_size])

    def step():
        opt.zero_grad()
        loss = loss_fn(model, xb, yb)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(n_batches):
        step()
    return n_batches * batch_size / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--filters", type=int, default=32)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--out-window", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fit-repeats", type=int, default=1,
                    help="alternate the two fits this many times; report the medians")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*autocast.*")
    torch.set_num_threads(args.threads)
    from bpnetlite.bpnet import BPNet as LiteBPNet

    probe = BPNet(n_filters=args.filters, n_layers=args.layers, n_control_tracks=0)
    in_window = probe.input_length(args.out_window)
    trimming = probe.trimming
    Xtr, ytr = simulate(args.n_train, in_window, args.out_window, 1)
    Xva, yva = simulate(args.n_train // 4, in_window, args.out_window, 2)
    Xte, yte = simulate(args.n_train // 4, in_window, args.out_window, 3)
    count_weight = float(ytr.sum(axis=2).mean())  # bpnet-lite's automatic rule
    print(f"data: {len(Xtr)} train / {len(Xva)} valid / {len(Xte)} test, in {in_window} bp, "
          f"out {args.out_window} bp; model {args.filters} filters x {args.layers} layers; "
          f"{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, count weight "
          f"{count_weight:.1f}")

    # --- ours ---------------------------------------------------------------------------------
    def fit_ours():
        torch.manual_seed(0)
        ours = BPNet(n_filters=args.filters, n_layers=args.layers, n_control_tracks=0)
        tr = Trainer(ours, lr=args.lr, count_weight=count_weight, max_epochs=args.epochs,
                     patience=None, grad_clip=1.0, device="cpu", progress=False)
        valid = [(torch.from_numpy(Xva), torch.from_numpy(yva))]
        t = time.perf_counter()
        tr.fit(lambda e: batches(Xtr, ytr, args.batch_size, e), valid)
        return ours, time.perf_counter() - t

    # --- bpnet-lite ---------------------------------------------------------------------------
    def fit_lite():
        torch.manual_seed(0)
        lite = LiteBPNet(n_filters=args.filters, n_layers=args.layers, n_outputs=2,
                         n_control_tracks=0, count_loss_weight=count_weight, trimming=trimming,
                         name="lite", verbose=False)
        opt = torch.optim.Adam(lite.parameters(), lr=args.lr)
        with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
            t = time.perf_counter()
            lite.fit(EpochData(), opt, X_valid=torch.from_numpy(Xva),
                     y_valid=torch.from_numpy(yva), max_epochs=args.epochs,
                     batch_size=args.batch_size, device="cpu", dtype="float32")
            lite_fit = time.perf_counter() - t
            best = lite
            if os.path.exists("lite.torch"):
                # bpnet-lite pickles its best-validation model (with numpy scalars, which
                # bpnetkit's restricted loader refuses); this run just wrote it: trusted
                best = torch.load("lite.torch", map_location="cpu", weights_only=False)
        return lite, best, lite_fit

    class EpochData:
        """Re-iterable training data giving bpnet-lite the same batches per epoch."""

        def __init__(self):
            self.epoch = 0

        def __iter__(self):
            self.epoch += 1
            for X, y in batches(Xtr, ytr, args.batch_size, self.epoch):
                yield X, y, torch.ones(len(X), dtype=torch.long)

    # the fits of both tools alternate (the machine may be shared): medians and per-pair ratios
    fits_ours, fits_lite = [], []
    for r in range(args.fit_repeats):
        ours, ours_fit = fit_ours()
        lite, best, lite_fit = fit_lite()
        fits_ours.append(ours_fit)
        fits_lite.append(lite_fit)
        if args.fit_repeats > 1:
            print(f"fit round {r + 1}: bpnetkit {ours_fit:.1f} s, bpnet-lite {lite_fit:.1f} s, "
                  f"bpnet-lite / bpnetkit {lite_fit / ours_fit:.2f}", flush=True)
    ours_fit, lite_fit = float(np.median(fits_ours)), float(np.median(fits_lite))
    lg, lc = predict(ours, Xte, device="cpu")
    m_ours = compute_metrics(yte, lg.numpy(), lc.numpy())
    lg2, lc2 = predict(best, Xte, device="cpu")
    m_lite = compute_metrics(yte, lg2.numpy(), lc2.numpy())

    # --- throughput of training steps, same model and batch --------------------------------
    ours_loss, lite_loss = step_losses(count_weight)

    # interleaved rounds, best of each: the machine may be shared
    tp_ours, tp_lite = 0.0, 0.0
    for _ in range(3):
        tp_ours = max(tp_ours, step_throughput(ours.train(), ours_loss, Xtr, ytr,
                                               args.batch_size))
        tp_lite = max(tp_lite, step_throughput(lite.train(), lite_loss, Xtr, ytr,
                                               args.batch_size))

    print(f"\n{'metric (test)':<26}{'bpnetkit':>12}{'bpnet-lite':>12}{'ratio':>9}")
    for k in ("counts_pearson", "counts_spearman", "counts_mse", "profile_jsd",
              "profile_jsd_normalized", "profile_pearson", "profile_mnll"):
        a, b = m_ours[k], m_lite[k]
        print(f"{k:<26}{a:>12.4f}{b:>12.4f}{a / b if b else float('nan'):>9.3f}")
    print(f"{'train examples/s':<26}{tp_ours:>12.1f}{tp_lite:>12.1f}{tp_ours / tp_lite:>9.2f}")
    print(f"{'fit wall time (s)':<26}{ours_fit:>12.1f}{lite_fit:>12.1f}"
          f"{ours_fit / lite_fit:>9.2f}")
    print(f"bpnet-lite fit time / bpnetkit fit time: {lite_fit / ours_fit:.2f}x"
          + (f" (median of {args.fit_repeats} alternating rounds)" if args.fit_repeats > 1
             else ""))
    print("\n(lower is better for counts_mse, profile_jsd and profile_mnll)")


if __name__ == "__main__":
    main()


def rows(quick: bool = False) -> list:
    """Rows for ``run_all.py``: BPNet 64x8, 2114 -> 1000, 128 training / 32 validation
    examples, 2 epochs, batch 64, Adam 1e-3, clip 1 (quick: 32 / 16 examples, 1 epoch, batch
    16): the whole ``fit`` wall time of both tools (validation included) and the examples/s
    of their training steps."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Row
    from bpnetlite.bpnet import BPNet as LiteBPNet


    warnings.filterwarnings("ignore", message=".*autocast.*")
    n_train, n_valid, epochs, bs = (32, 16, 1, 16) if quick else (128, 32, 2, 64)
    out_window, lr = 1000, 1e-3
    probe = BPNet(n_filters=64, n_layers=8, n_control_tracks=0)
    in_window = probe.input_length(out_window)
    Xtr, ytr = simulate(n_train, in_window, out_window, 1)
    Xva, yva = simulate(n_valid, in_window, out_window, 2)
    count_weight = float(ytr.sum(axis=2).mean())

    torch.manual_seed(0)
    ours = BPNet(n_filters=64, n_layers=8, n_control_tracks=0)
    tr = Trainer(ours, lr=lr, count_weight=count_weight, max_epochs=epochs, patience=None,
                 grad_clip=1.0, device="cpu", progress=False)
    t = time.perf_counter()
    tr.fit(lambda e: batches(Xtr, ytr, bs, e), [(torch.from_numpy(Xva), torch.from_numpy(yva))])
    ours_fit = time.perf_counter() - t

    torch.manual_seed(0)
    lite = LiteBPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=0,
                     count_loss_weight=count_weight, trimming=probe.trimming, name="lite",
                     verbose=False)
    opt = torch.optim.Adam(lite.parameters(), lr=lr)

    class EpochData:
        def __init__(self):
            self.epoch = 0

        def __iter__(self):
            self.epoch += 1
            for X, y in batches(Xtr, ytr, bs, self.epoch):
                yield X, y, torch.ones(len(X), dtype=torch.long)

    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        t = time.perf_counter()
        lite.fit(EpochData(), opt, X_valid=torch.from_numpy(Xva),
                 y_valid=torch.from_numpy(yva), max_epochs=epochs, batch_size=bs,
                 device="cpu", dtype="float32")
        lite_fit = time.perf_counter() - t

    ours_loss, lite_loss = step_losses(count_weight)

    tp_ours = step_throughput(ours.train(), ours_loss, Xtr, ytr, bs, n_batches=1)
    tp_lite = step_throughput(lite.train(), lite_loss, Xtr, ytr, bs, n_batches=1)
    conf = (f"BPNet 64x8, {in_window} -> {out_window}, {n_train} train / {n_valid} valid, "
            f"{epochs} epoch(s), batch {bs}, {torch.get_num_threads()} threads")
    return [Row("training: whole fit wall time (s)", ours_fit, lite_fit, "bpnet-lite", conf,
                goal=2.0, lower_is_better=True, headline=True),
            Row("training steps (examples/s)", tp_ours, tp_lite, "bpnet-lite",
                conf + "; forward + backward + Adam, one batch after a warm-up")]
