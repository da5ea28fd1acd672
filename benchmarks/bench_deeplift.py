"""DeepLIFT/SHAP throughput: bpnetkit ``deep_lift_shap`` vs tangermeme ``deep_lift_shap``.

Both explain the same BPNet, the same wrapped model object (bpnetkit models compute every
nonlinearity with its own module, so tangermeme's hooks see them; the profile target's
softmax weighting is registered with tangermeme's elementwise rule), with the same
dinucleotide-shuffled references, batch size and device; the hypothetical contributions are
compared and sequences per second printed side by side, for the counts and the profile
targets.

    python benchmarks/bench_deeplift.py [--n 2] [--repeats 2] [--shuffles 20] [--batch-size 32]
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
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
