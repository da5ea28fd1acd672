"""Throughput on one accelerator (or the CPU): training, predict and DeepLIFT/SHAP, side by side
with the peers, at the real architectures (BPNet 64x8 and ChromBPNet 512x8, 2114 -> 1000).

For each model it prints examples/s (training steps), sequences/s (predict) and sequences/s
(DeepLIFT/SHAP, 20 dinucleotide shuffles), the FLOP rate those represent (FLOPs counted with
``torch.utils.flop_counter`` on the real model) as a fraction of the device's peak, and the
peer's figure on the same device: bpnet-lite's training step (its model and losses),
tangermeme's ``predict`` and ``deep_lift_shap`` on the same model. Precision modes: fp32 (TF32
matmuls allowed on GPUs) and bf16 autocast.

    python benchmarks/bench_gpu.py                 # on CUDA when available
    python benchmarks/bench_gpu.py --quick --device cpu   # a smoke run on a CPU
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch

from bpnetkit.interpret.deeplift import deep_lift_shap
from bpnetkit.interpret.predict import predict
from bpnetkit.models import BPNet, ChromBPNet, CountWrapper
from bpnetkit.models.presets import chrombpnet_accessibility, chrombpnet_bias
from bpnetkit.train.losses import bpnet_loss

# dense peak FLOP/s of common accelerators (vendor figures): (fp32 incl. TF32, bf16)
PEAKS = {"H100": (494e12, 989e12), "H200": (494e12, 989e12), "A100": (156e12, 312e12),
         "L40S": (183e12, 362e12), "A10": (62.5e12, 125e12)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up (kernel selection, caches)
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def forward_flops(model: torch.nn.Module, X: torch.Tensor, *args: torch.Tensor) -> float:
    """FLOPs of one forward pass of ``model`` on ``X`` (counted by torch)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(X, *args)
    return float(counter.get_total_flops())


def peak_flops(device: torch.device, bf16: bool) -> float:
    """The device's peak FLOP/s: vendor figure for known GPUs, else a measured matmul."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, (fp32, b16) in PEAKS.items():
            if key in name:
                return b16 if bf16 else fp32
    n = 2048 if device.type == "cpu" else 8192
    dt = torch.bfloat16 if bf16 and device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dt)
    t = timed(lambda: a @ a, device, 3)
    return 2 * n ** 3 / t


def one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy())


def autocast(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def bench_model(label: str, ours: torch.nn.Module, lite: torch.nn.Module | None,
                n_ctl: int, args: argparse.Namespace, device: torch.device) -> list[list]:
    from tangermeme.deep_lift_shap import deep_lift_shap as t_dls
    from tangermeme.predict import predict as t_predict

    rows = []
    L = args.length
    X = one_hot(args.n, L)
    ctl = [torch.rand(args.n, n_ctl, L)] if n_ctl else []
    out_len = ours.output_length(L)
    flops = forward_flops(ours.to(device).eval(), X[:1].to(device),
                          *[c[:1].to(device) for c in ctl])
    for bf16 in ([False, True] if device.type == "cuda" or args.bf16_on_cpu else [False]):
        mode = "bf16" if bf16 else "fp32"
        peak = peak_flops(device, bf16)
        dtype = torch.bfloat16 if bf16 else None
        t = timed(lambda dtype=dtype: predict(ours, X, args=ctl or None,
                                              batch_size=args.batch_size, device=device,
                                              dtype=dtype), device, args.repeats)
        ours_ps = args.n / t
        peer = ""
        if not bf16:
            tp = timed(lambda: t_predict(ours, X, args=ctl or None, batch_size=args.batch_size,
                                         device=str(device), verbose=False),
                       device, args.repeats)
            peer = f"{args.n / tp:.1f}"
        rows.append([label, f"predict {mode} (seq/s)", f"{ours_ps:.1f}", peer,
                     f"{ours_ps * flops / peak:.1%}"])

        # training: forward + backward (about 3x the forward FLOPs) + optimizer step
        model = ours.to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        y = torch.poisson(torch.full((args.train_batch, model.n_outputs, out_len), 0.5)
                          ).to(device)
        Xb = X[:args.train_batch].to(device)
        cb = [c[:args.train_batch].to(device) for c in ctl]

        def step(m=model, o=opt, bf16=bf16, Xb=Xb, cb=cb, y=y):
            o.zero_grad(set_to_none=True)
            with autocast(device, bf16):
                logits, counts = m(Xb, *cb)
            loss = bpnet_loss(logits.float(), counts.float(), y)[0]
            loss.backward()
            o.step()

        t = timed(step, device, args.repeats)
        ours_ex = args.train_batch / t
        peer = ""
        if lite is not None and not bf16:
            lite = lite.to(device).train()
            lopt = torch.optim.Adam(lite.parameters(), lr=1e-3)
            from bpnetlite.losses import MNLLLoss, log1pMSELoss

            def lite_step(m=lite, o=lopt, Xb=Xb, cb=cb, y=y):
                o.zero_grad(set_to_none=True)
                logits, counts = m(Xb, *cb)
                flat = logits.reshape(logits.shape[0], -1)
                lp = torch.log_softmax(flat, dim=-1)
                loss = MNLLLoss(lp, y.reshape(y.shape[0], -1)).mean() + \
                    log1pMSELoss(counts, y.sum((1, 2)).unsqueeze(-1)).mean()
                loss.backward()
                o.step()

            peer = f"{args.train_batch / timed(lite_step, device, args.repeats):.1f}"
        rows.append([label, f"train {mode} (examples/s)", f"{ours_ex:.1f}", peer,
                     f"{ours_ex * 3 * flops / peak:.1%}"])
        ours.eval()

    # DeepLIFT/SHAP (fp32: attributions must sum to the output differences)
    n = min(args.n, args.n_deeplift)
    wrapped = CountWrapper(ours).eval()
    t = timed(lambda: deep_lift_shap(wrapped, X[:n], args=[c[:n] for c in ctl] or None,
                                     n_shuffles=20, batch_size=args.batch_size, device=device,
                                     random_state=0, warning_threshold=1.0), device, 1)
    refs = None
    from bpnetkit.interpret.shuffle import dinucleotide_shuffle

    refs = torch.as_tensor(dinucleotide_shuffle(X[:n].to(torch.int8), n=20, random_state=0)
                           ).float()
    tt = timed(lambda: t_dls(wrapped, X[:n], args=[c[:n] for c in ctl] or None,
                             references=refs, batch_size=args.batch_size, device=str(device),
                             warning_threshold=1.0, verbose=False), device, 1)
    # per sequence: 20 references x (forward + backward)
    rows.append([label, "DeepLIFT/SHAP fp32, 20 shuffles (seq/s)", f"{n / t:.2f}",
                 f"{n / tt:.2f}", f"{(n / t) * 20 * 3 * flops / peak_flops(device, False):.1%}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: CUDA if any)")
    ap.add_argument("--n", type=int, default=512, help="sequences for predict")
    ap.add_argument("--n-deeplift", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--train-batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=2114)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bf16-on-cpu", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.n, args.n_deeplift, args.batch_size, args.train_batch = 4, 2, 4, 4
        args.repeats = 1
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    from bpnetlite.bpnet import BPNet as LiteBPNet

    torch.manual_seed(0)
    bpnet = BPNet(64, 8, n_outputs=2, n_control_tracks=2).eval()
    lite = LiteBPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2, trimming=557)
    lite.load_state_dict(bpnet.state_dict())
    chrom = ChromBPNet(chrombpnet_bias(), chrombpnet_accessibility()).eval()
    rows = bench_model("BPNet 64x8", bpnet, lite, 2, args, device)
    rows += bench_model("ChromBPNet 512x8", chrom, None, 0, args, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}; input {args.length} bp; predict "
          f"n={args.n} batch={args.batch_size}; train batch={args.train_batch}; DeepLIFT "
          f"n={min(args.n, args.n_deeplift)}")
    head = ["model", "measure", "bpnetkit", "peer", "of peak"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))


if __name__ == "__main__":
    main()
