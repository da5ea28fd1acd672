"""DeepLIFT/SHAP throughput: bpnetkit ``deep_lift_shap`` vs tangermeme ``deep_lift_shap``.

Both explain the same BPNet, the same wrapped model object (bpnetkit models compute every
nonlinearity with its own module, so tangermeme's hooks see them; the profile target's
softmax weighting is registered with tangermeme's elementwise rule), with the same
dinucleotide-shuffled references, batch size and device; the hypothetical contributions are
compared and sequences per second printed side by side, for the counts and the profile
targets.

    python benchmarks/bench_deeplift.py [--n 2] [--repeats 2] [--shuffles 20] [--batch-size 32]
    python benchmarks/bench_deeplift.py --chrombpnet --n 1 --batch-size 64 --repeats 3
    python benchmarks/bench_deeplift.py --chrombpnet --n 1 --batch-size 64 --cpu-profile

``--chrombpnet`` explains the counts of ChromBPNet 512x8 (bias 128x4) instead, with wall
and process CPU times. ``--cpu-profile`` runs only bpnetkit on one thread and splits its CPU
time (``time.thread_time``, which other jobs on a shared machine disturb much less than wall
time) into the tower rule's stages.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from bpnetkit.interpret.deeplift import deep_lift_shap
from bpnetkit.interpret.shuffle import dinucleotide_shuffle
from bpnetkit.models import BPNet, CountWrapper, ProfileWrapper
from bpnetkit.models.layers import SoftmaxWeighting


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--shuffles", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--filters", type=int, default=64)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--length", type=int, default=2114)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--chrombpnet", action="store_true",
                    help="ChromBPNet 512x8 (bias 128x4), counts target")
    ap.add_argument("--cpu-profile", action="store_true",
                    help="bpnetkit only, one thread: CPU seconds per stage of the tower rule")
    args = ap.parse_args()
    if args.cpu_profile:
        cpu_profile(args)
        return
    if args.chrombpnet:
        chrombpnet_side_by_side(args)
        return
    torch.set_num_threads(args.threads)
    from tangermeme.deep_lift_shap import _nonlinear
    from tangermeme.deep_lift_shap import deep_lift_shap as t_dls

    torch.manual_seed(0)
    model = BPNet(args.filters, args.layers, n_outputs=2, n_control_tracks=0).eval()
    rng = np.random.default_rng(0)
    X = torch.from_numpy(np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.n, args.length))]
                         .transpose(0, 2, 1).copy())
    R = dinucleotide_shuffle(X, n=args.shuffles, random_state=1)
    targets = {"counts": CountWrapper(model), "profile": ProfileWrapper(model)}
    print(f"BPNet {args.filters} filters x {args.layers} layers, {args.n} x {args.length} bp, "
          f"{args.shuffles} references, batch {args.batch_size} pairs, "
          f"{torch.get_num_threads()} threads, {args.device}")
    print(f"{'target':8s} {'tangermeme seq/s':>17s} {'bpnetkit seq/s':>15s} {'ratio':>6s} "
          f"{'max |diff|':>11s} {'max delta':>10s}")
    for name, wrapped in targets.items():
        t_ours = t_theirs = float("inf")
        for _ in range(args.repeats):  # interleaved, best of each: fair on a busy machine
            t = time.perf_counter()
            res = deep_lift_shap(wrapped, X, references=R, hypothetical=True,
                                 return_deltas=True, batch_size=args.batch_size,
                                 device=args.device)
            t_ours = min(t_ours, time.perf_counter() - t)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = t_dls(wrapped, X, references=R, hypothetical=True,
                               batch_size=args.batch_size, device=args.device,
                               additional_nonlinear_ops={SoftmaxWeighting: _nonlinear})
            t_theirs = min(t_theirs, time.perf_counter() - t)
        diff = float((res.attributions - theirs).abs().max())
        print(f"{name:8s} {args.n / t_theirs:17.2f} {args.n / t_ours:15.2f} "
              f"{t_theirs / t_ours:6.2f} {diff:11.2e} {float(res.deltas.max()):10.2e}")
    # The profile target's rescale multiplier of the softmax weighting is (c w - c' w') /
    # (c - c'): where a logit barely moves but its weight does, float32 rounding of the
    # forward pass decides it (both tools still satisfy summation-to-delta). In float64 the
    # two agree exactly:
    md = model.double()
    Xd, Rd = X[:1].double(), R[:1, :2].double()
    ours = deep_lift_shap(ProfileWrapper(md), Xd, references=Rd, hypothetical=True,
                          device=args.device, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = t_dls(ProfileWrapper(md), Xd, references=Rd, hypothetical=True,
                       device=args.device,
                       additional_nonlinear_ops={SoftmaxWeighting: _nonlinear})
    print(f"float64 check (profile, 1 sequence x 2 references): max |diff| = "
          f"{float((ours - theirs).abs().max()):.2e}")


def _chrombpnet_case(args):
    from bpnetkit.models import ChromBPNet
    from bpnetkit.models.presets import chrombpnet_accessibility, chrombpnet_bias

    torch.manual_seed(0)
    model = CountWrapper(ChromBPNet(chrombpnet_bias(), chrombpnet_accessibility()).eval())
    rng = np.random.default_rng(0)
    X = torch.from_numpy(np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.n, args.length))]
                         .transpose(0, 2, 1).copy())
    return model.eval(), X, dinucleotide_shuffle(X, n=args.shuffles, random_state=1)


def chrombpnet_side_by_side(args) -> None:
    """ChromBPNet 512x8 counts: bpnetkit and tangermeme interleaved, wall and CPU seconds."""
    import os

    from tangermeme.deep_lift_shap import _nonlinear
    from tangermeme.deep_lift_shap import deep_lift_shap as t_dls

    from bpnetkit.models.layers import Exp, Log

    torch.set_num_threads(args.threads)
    model, X, R = _chrombpnet_case(args)
    kw = dict(references=R, hypothetical=True, batch_size=args.batch_size, device=args.device,
              warning_threshold=1.0)
    ops = {Exp: _nonlinear, Log: _nonlinear}

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return t_dls(model, X, additional_nonlinear_ops=ops, verbose=False, **kw)

    fns = {"bpnetkit": lambda: deep_lift_shap(model, X, **kw), "tangermeme": peer}
    best = dict.fromkeys(fns, (float("inf"), float("inf")))
    outs = {}
    print(f"ChromBPNet 512x8 counts, {args.n} x {args.length} bp x {args.shuffles} shuffles, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads; load average "
          f"{os.getloadavg()[0]:.2f}")
    for _ in range(args.repeats):  # interleaved, best of each: fair on a busy machine
        for name, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            outs[name] = fn()
            t, c = time.perf_counter() - t, time.process_time() - c
            best[name] = (min(best[name][0], t), min(best[name][1], c))
            print(f"  {name:10s} wall {t:7.2f} s  CPU {c:7.2f} s")
    (wo, co), (wp, cp) = best["bpnetkit"], best["tangermeme"]
    diff = float((outs["bpnetkit"] - outs["tangermeme"]).abs().max())
    print(f"best: bpnetkit {wo:.2f} s, tangermeme {wp:.2f} s: {wp / wo:.2f}x (wall), "
          f"{cp / co:.2f}x (CPU); max |diff| {diff:.1e}; load average {os.getloadavg()[0]:.2f}")


def cpu_profile(args) -> None:
    """CPU seconds of bpnetkit's DeepLIFT/SHAP per stage, one torch and one numba thread."""
    import collections
    import os

    import numba
    import torch.nn.functional as F

    from bpnetkit.interpret import deeplift_rules as dr

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    spent: collections.Counter = collections.Counter()

    def wrap(owner, name, label):
        real = getattr(owner, name, None)
        if real is None:  # (an older bpnetkit without this stage)
            return None

        def timed_call(*a, **k):
            t = time.thread_time()
            try:
                return real(*a, **k)
            finally:
                spent[label] += time.thread_time() - t
        setattr(owner, name, timed_call)
        return real

    if args.chrombpnet:
        model, X, R = _chrombpnet_case(args)
    else:
        torch.manual_seed(0)
        model = CountWrapper(BPNet(args.filters, args.layers, n_outputs=2,
                                   n_control_tracks=0).eval())
        rng = np.random.default_rng(0)
        X = torch.from_numpy(np.eye(4, dtype=np.float32)[
            rng.integers(0, 4, (args.n, args.length))].transpose(0, 2, 1).copy())
        R = dinucleotide_shuffle(X, n=args.shuffles, random_state=1)
    kern = dr._relu_kernel()
    reals = [(F, "conv2d", wrap(F, "conv2d", "convolutions (oneDNN)")),
             (dr, "_taps_forward", wrap(dr, "_taps_forward", "per-tap GEMM layers, forward")),
             (dr, "_taps_backward", wrap(dr, "_taps_backward",
                                         "per-tap GEMM layers, backward")),
             (kern, "relu_multipliers", wrap(kern, "relu_multipliers", "ReLU multipliers")),
             (kern, "residual_relu_multipliers",
              wrap(kern, "residual_relu_multipliers", "ReLU multipliers")),
             (torch.Tensor, "mul_", wrap(torch.Tensor, "mul_", "backward: m * G, G + skip")),
             (torch.Tensor, "add_", wrap(torch.Tensor, "add_", "backward: m * G, G + skip"))]
    try:
        def run():
            return deep_lift_shap(model, X, references=R, hypothetical=True,
                                  batch_size=args.batch_size, device="cpu",
                                  warning_threshold=1.0)
        run()
        total, stages = float("inf"), {}
        for _ in range(args.repeats):
            spent.clear()
            t = time.thread_time()
            run()
            t = time.thread_time() - t
            if t < total:  # the stages of the best repetition
                total, stages = t, dict(spent)
    finally:
        for owner, name, real in reals:
            if real is not None:
                setattr(owner, name, real)
    what = "ChromBPNet 512x8" if args.chrombpnet else f"BPNet {args.filters}x{args.layers}"
    print(f"{what} counts, {args.n} x {args.length} bp x {args.shuffles} shuffles, batch "
          f"{args.batch_size}, 1 thread; load average {os.getloadavg()[0]:.2f}")
    print(f"  {'total (thread CPU s)':34s} {total:7.2f}")
    for name, v in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {name:34s} {v:7.2f}  {v / total:5.0%}")
    print(f"  {'everything else':34s} {total - sum(stages.values()):7.2f}")


if __name__ == "__main__":
    main()


def rows(quick: bool = False) -> list:
    """Rows for ``run_all.py``: DeepLIFT/SHAP of the counts target, 20 dinucleotide shuffles,
    batch 64, on BPNet 64x8 (4 sequences) and ChromBPNet 512x8 (1 sequence), 2114 -> 1000,
    both tools on the same model and references; quick: 1 sequence, 4 and 2 shuffles."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Row, cpu_peak_flops, forward_flops, interleaved_best, one_hot
    from tangermeme.deep_lift_shap import _nonlinear
    from tangermeme.deep_lift_shap import deep_lift_shap as t_dls

    from bpnetkit.models import ChromBPNet
    from bpnetkit.models.layers import Exp, Log
    from bpnetkit.models.presets import chrombpnet_accessibility, chrombpnet_bias

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    peak = cpu_peak_flops()
    ops = {SoftmaxWeighting: _nonlinear, Exp: _nonlinear, Log: _nonlinear}
    out = []
    for label, model, n, shuffles in (
            ("BPNet 64x8", BPNet(64, 8, n_outputs=2, n_control_tracks=0), 1 if quick else 4,
             4 if quick else 20),
            ("ChromBPNet 512x8", ChromBPNet(chrombpnet_bias(), chrombpnet_accessibility()), 1,
             2 if quick else 20)):
        wrapped = CountWrapper(model.eval()).eval()
        X = one_hot(n, 2114)
        R = dinucleotide_shuffle(X, n=shuffles, random_state=1)

        def ours(w=wrapped, X=X, R=R):
            return deep_lift_shap(w, X, references=R, hypothetical=True, batch_size=64,
                                  device="cpu", warning_threshold=1.0)

        def peer(w=wrapped, X=X, R=R):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return t_dls(w, X, references=R, hypothetical=True, batch_size=64,
                             device="cpu", additional_nonlinear_ops=ops,
                             warning_threshold=1.0, verbose=False)

        best, outs = interleaved_best({"ours": ours, "peer": peer}, 1)
        diff = float((outs["ours"] - outs["peer"]).abs().max())
        flops = forward_flops(wrapped, X[:1])
        rate = n / best["ours"]
        conf = (f"{n} x 2114 bp x {shuffles} shuffles, counts target, batch 64, {threads} "
                f"threads; nominal work (input + reference, forward + backward = 6 forward "
                f"passes per reference; ours skips some) at "
                f"{rate * shuffles * 2 * 3 * flops / peak:.0%} of the matmul peak; "
                f"max |diff| {diff:.1e}")
        out.append(Row(f"DeepLIFT/SHAP {label} (seq/s)", rate, n / best["peer"], "tangermeme",
                       conf, goal=3.0, headline=True))
    return out
