"""Where prediction time goes, against what this CPU's GEMMs allow (issue 17, item 2).

For BPNet 64x8 (2 control tracks, batch 64) and ChromBPNet 512x8 (batch 16), 2114 -> 1000:

- FLOPs per sequence (``torch.utils.flop_counter``), and the tower convolutions' share;
- GFLOP/s of a bare float32 GEMM with the shapes of the tower convolutions (im2col form:
  ``[B * L, 3 C] x [3 C, C]``), of oneDNN's channels-last dilated convolution itself (what
  bpnetkit's fused path runs), and of a 2048 x 2048 matmul (the "peak");
- predict throughput of bpnetkit and tangermeme on the same model, as GFLOP/s and as a
  fraction of the peak and of the shape-specific GEMM ceiling;
- the best ratio reachable without cutting FLOPs: the GEMM ceiling's rate / tangermeme's.

All figures come from one process, interleaved (best of ``--repeats``). ``--clock cpu``
(with ``--threads 1``) times with the thread's CPU time, which other jobs on a shared
machine disturb much less than wall time.

    python benchmarks/profile_predict.py [--threads 2] [--repeats 3] [--clock wall|cpu]
        [--profile]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _clock(kind: str):
    return time.thread_time if kind == "cpu" else time.perf_counter


def best_time(fn, repeats: int, clock) -> float:
    """Best of ``repeats`` timings of ``fn()`` (one warm-up call first)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def gemm_rates(C: int, rows: int, L: int, repeats: int, clock) -> dict:
    """GFLOP/s of the tower layer's work done three ways, at ``rows`` sequences of ``L``."""
    M = rows * L
    A = torch.randn(M, 3 * C)
    W = torch.randn(3 * C, C)
    out = {"gemm": 2 * M * 3 * C * C / best_time(lambda: A @ W, repeats, clock) / 1e9}
    x = torch.randn(rows, C, 1, L + 4).contiguous(memory_format=torch.channels_last)
    w = torch.randn(C, C, 1, 3).contiguous(memory_format=torch.channels_last)
    b = torch.randn(C)
    for d in (2, 128):
        xd = torch.randn(rows, C, 1, L + 2 * d).contiguous(memory_format=torch.channels_last) \
            if d != 2 else x
        t = best_time(lambda xd=xd, d=d: F.conv2d(xd, w, b, 1, 0, (1, d)), repeats, clock)
        out[f"conv d={d}"] = 2 * M * 3 * C * C / t / 1e9
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--profile", action="store_true",
                    help="also print the top operators of bpnetkit's predict (torch profiler)")
    args = ap.parse_args()
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu measures one thread: use --threads 1")
    torch.set_num_threads(args.threads)
    clock = _clock(args.clock)
    from _common import forward_flops, one_hot
    from tangermeme.predict import predict as t_predict

    from bpnetkit.interpret.predict import predict
    from bpnetkit.models import BPNet, ChromBPNet
    from bpnetkit.models.presets import chrombpnet_accessibility, chrombpnet_bias

    torch.manual_seed(0)
    load0 = os.getloadavg()[0]
    a = torch.randn(2048, 2048)
    peak = 2 * 2048 ** 3 / best_time(lambda: a @ a, args.repeats, clock) / 1e9
    print(f"{torch.get_num_threads()} threads, clock {args.clock}, load average {load0:.2f}; "
          f"2048 x 2048 matmul: {peak:.0f} GFLOP/s")
    cases = (("BPNet 64x8", BPNet(64, 8, n_outputs=2, n_control_tracks=2).eval(), 64, 64, 2),
             ("ChromBPNet 512x8", ChromBPNet(chrombpnet_bias(), chrombpnet_accessibility())
              .eval(), 16, 16, 0))
    for label, model, n, batch, n_ctl in cases:
        X = one_hot(n, 2114, dtype=torch.int8)
        Xf = X.float()
        ctl = [torch.from_numpy(np.random.default_rng(1).poisson(0.1, (n, n_ctl, 2114))
                                .astype(np.float32))] if n_ctl else None
        flops = forward_flops(model, Xf[:1], *([c[:1] for c in ctl] if ctl else []))
        acc = model if isinstance(model, BPNet) else model.accessibility
        C = acc.rconvs[0].out_channels
        tower = sum(2 * 3 * C * C * (2114 - 2 * (acc.iconv.kernel_size[0] // 2)
                                     - 2 * sum(int(c.dilation[0]) for c in acc.rconvs[:i + 1]))
                    for i in range(len(acc.rconvs)))
        runs = {"bpnetkit": lambda m=model, X=X, c=ctl, b=batch: predict(
                    m, X, args=c, batch_size=b, device="cpu"),
                "tangermeme": lambda m=model, X=Xf, c=ctl, b=batch: t_predict(
                    m, X, args=c, batch_size=b, device="cpu", verbose=False)}
        best = {k: float("inf") for k in runs}
        for fn in runs.values():
            fn()
        for _ in range(args.repeats):  # interleaved: fair on a busy machine
            for k, fn in runs.items():
                t = clock()
                fn()
                best[k] = min(best[k], clock() - t)
        rates = gemm_rates(C, batch, 2000, args.repeats, clock)
        ceiling = rates["gemm"]
        print(f"\n{label}: {flops / 1e9:.2f} GFLOP per sequence, of which the dilated tower "
              f"{tower / flops:.0%}; {n} sequences, batch {batch}")
        for k, v in rates.items():
            print(f"  {k:28s} {v:7.0f} GFLOP/s = {v / peak:5.0%} of the matmul peak "
                  f"({'[B*L x 3C] x [3C x C]' if k == 'gemm' else 'oneDNN, channels-last'}, "
                  f"C={C}, B*L={batch * 2000})")
        for k in runs:
            r = n / best[k]
            g = r * flops / 1e9
            print(f"  {k:28s} {r:7.1f} seq/s = {g:5.0f} GFLOP/s = {g / peak:5.0%} of the peak, "
                  f"{g / ceiling:5.0%} of the shape's GEMM")
        t_rate = n / best["tangermeme"] * flops / 1e9
        print(f"  ratio now {best['tangermeme'] / best['bpnetkit']:.2f}x; best reachable "
              f"without cutting FLOPs: {ceiling / t_rate:.2f}x (the shape's GEMM) / "
              f"{peak / t_rate:.2f}x (the matmul peak)")
        if args.profile:
            from torch.profiler import ProfilerActivity, profile
            with profile(activities=[ProfilerActivity.CPU]) as p:
                runs["bpnetkit"]()
            print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
