"""Prediction throughput: bpnetkit ``predict`` vs tangermeme ``predict`` on the same model.

Rows:
- same model: tangermeme and bpnetkit both run bpnetkit's valid-convolution BPNet;
- vs bpnet-lite computation: tangermeme runs the same weights with bpnet-lite's zero-padded
  tower (``padding="same"``, what bpnet-lite users run today); outputs are equal.

    python benchmarks/bench_predict.py [--n 64] [--batch-size 64] [--filters 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from bpnetkit.interpret.predict import predict
from bpnetkit.models import BPNet


def timed(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--filters", type=int, default=64)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--length", type=int, default=2114)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from tangermeme.predict import predict as t_predict

    torch.manual_seed(0)
    model = BPNet(args.filters, args.layers, n_outputs=2, n_control_tracks=2).eval()
    same = BPNet(args.filters, args.layers, n_outputs=2, n_control_tracks=2,
                 padding="same").eval()
    same.load_state_dict(copy.deepcopy(model.state_dict()))
    rng = np.random.default_rng(0)
    X = torch.from_numpy(np.eye(4, dtype=np.int8)[rng.integers(0, 4, (args.n, args.length))]
                         .transpose(0, 2, 1).copy())
    ctl = torch.from_numpy(rng.poisson(0.1, (args.n, 2, args.length)).astype(np.float32))
    Xf = X.float()
    runs = {
        "ours": lambda: predict(model, X, args=[ctl], batch_size=args.batch_size, device="cpu"),
        "same model": lambda: t_predict(model, Xf, args=[ctl], batch_size=args.batch_size,
                                        device="cpu"),
        "vs bpnet-lite computation": lambda: t_predict(same, Xf, args=[ctl],
                                                       batch_size=args.batch_size,
                                                       device="cpu"),
    }
    best = dict.fromkeys(runs, float("inf"))
    outs = {}
    for _ in range(args.repeats):  # interleaved, best of each: fair on a busy machine
        for name, fn in runs.items():
            t, outs[name] = timed(fn, 1)
            best[name] = min(best[name], t)
    rows = []
    for label in ("same model", "vs bpnet-lite computation"):
        diff = max(float((a - b).abs().max())
                   for a, b in zip(outs["ours"], outs[label], strict=True))
        rows.append((label, args.n / best[label], args.n / best["ours"],
                     best[label] / best["ours"], diff))
    print(f"BPNet {args.filters} filters x {args.layers} layers, {args.n} x {args.length} bp, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads, CPU")
    print(f"{'comparison':28s} {'tangermeme seq/s':>17s} {'bpnetkit seq/s':>15s} "
          f"{'ratio':>6s} {'max |diff|':>11s}")
    for label, a, b, r, d in rows:
        print(f"{label:28s} {a:17.1f} {b:15.1f} {r:6.2f} {d:11.2e}")


if __name__ == "__main__":
    main()


def rows(quick: bool = False) -> list:
    """Rows for ``run_all.py``: BPNet 64x8 (2 control tracks; 64 sequences, batch 64) and
    ChromBPNet 512x8 (16 sequences, batch 16), 2114 -> 1000, both tools on the same model;
    quick: 8 and 2 sequences, one repeat."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Row, cpu_peak_flops, forward_flops, interleaved_best, one_hot
    from tangermeme.predict import predict as t_predict

    from bpnetkit.models import ChromBPNet
    from bpnetkit.models.presets import chrombpnet_accessibility, chrombpnet_bias

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    bpnet = BPNet(64, 8, n_outputs=2, n_control_tracks=2).eval()
    same = BPNet(64, 8, n_outputs=2, n_control_tracks=2, padding="same").eval()
    same.load_state_dict(copy.deepcopy(bpnet.state_dict()))
    chrom = ChromBPNet(chrombpnet_bias(), chrombpnet_accessibility()).eval()
    repeats = 1 if quick else 3
    out = []
    peak = cpu_peak_flops()
    for label, model, n, batch, n_ctl in (("BPNet 64x8", bpnet, 8 if quick else 64, 64, 2),
                                          ("ChromBPNet 512x8", chrom, 2 if quick else 16, 16,
                                           0)):
        X = one_hot(n, 2114, dtype=torch.int8)
        Xf = X.float()
        ctl = [torch.from_numpy(np.random.default_rng(1).poisson(0.1, (n, n_ctl, 2114))
                                .astype(np.float32))] if n_ctl else None
        runs = {"ours": lambda m=model, X=X, c=ctl, b=batch: predict(
                    m, X, args=c, batch_size=b, device="cpu"),
                "peer": lambda m=model, X=Xf, c=ctl, b=batch: t_predict(
                    m, X, args=c, batch_size=b, device="cpu", verbose=False)}
        if label.startswith("BPNet"):
            runs["lite"] = lambda X=Xf, c=ctl, b=batch: t_predict(
                same, X, args=c, batch_size=b, device="cpu", verbose=False)
        predict(model, X[:1], args=[c[:1] for c in ctl] if ctl else None, device="cpu")
        best, outs = interleaved_best(runs, repeats)
        diff = max(float((a - b).abs().max()) for a, b in zip(outs["ours"], outs["peer"]))
        flops = forward_flops(model, Xf[:1], *([c[:1] for c in ctl] if ctl else []))
        rate = n / best["ours"]
        conf = (f"{n} x 2114 bp, batch {batch}, {threads} threads; {rate * flops / peak:.0%} of "
                f"the matmul peak ({peak / 1e9:.0f} GFLOP/s); max |diff| {diff:.1e}")
        out.append(Row(f"predict {label} (seq/s)", rate, n / best["peer"], "tangermeme",
                       conf, goal=3.0, headline=True))
        if "lite" in best:
            out.append(Row(f"predict {label}, peer with bpnet-lite's same padding (seq/s)",
                           rate, n / best["lite"], "tangermeme",
                           f"{n} x 2114 bp, batch {batch}, {threads} threads; what bpnet-lite "
                           f"users run today"))
    return out
