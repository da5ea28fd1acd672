"""Throughput on one accelerator (or the CPU): training, predict and DeepLIFT/SHAP, side by side
with the peers, at the real architectures (BPNet 64x8 and ChromBPNet 512x8, 2114 -> 1000).

For each model and precision mode it prints examples/s (training steps), sequences/s (predict)
and sequences/s (DeepLIFT/SHAP, 20 dinucleotide shuffles), the FLOP rate those represent
(FLOPs counted with ``torch.utils.flop_counter`` on the real model) as a fraction of the
device's peak for that mode, and the peer's figure on the same device in the same mode:
bpnet-lite's training step (its model and losses), tangermeme's ``predict`` and
``deep_lift_shap`` on the same model.

Modes (``--modes``, comma-separated; default: all on CUDA, ``fp32,channels-last`` on a CPU):

- ``fp32``: IEEE float32 (TF32 forbidden, :func:`bpnetkit.train.trainer.tf32_flags`);
- ``tf32``: float32 with TensorFloat-32 matmuls and convolutions (CUDA; the trainer's default);
- ``bf16``: bfloat16 autocast (training: losses in float32; predict: ``dtype=bfloat16``);
- ``compile``: ``torch.compile`` of the training forward (TF32 on), as ``fit`` with
  ``"compile": true``;
- ``channels-last``: 1-D convolutions as channels-last 2-D ones
  (:func:`bpnetkit.interpret.channels_last.channels_last_conv1d`; predict's default on CPU).

Plus, once per model, the whole training epoch with its data: batches gathered from int8
examples with jitter and reverse complement (:class:`bpnetkit.data.datasets.TrainingDataset`),
(a) a plain loop that copies each batch to the device as it comes and (b)
:meth:`bpnetkit.train.trainer.Trainer.train_epoch`, which on CUDA gathers ahead in a thread
into pinned memory and copies with ``non_blocking=True``. Their ratio to the pure step
throughput shows whether loading keeps the GPU busy.

    python benchmarks/bench_gpu.py                          # on CUDA when available
    python benchmarks/bench_gpu.py --quick --device cpu     # a smoke run on a CPU
    python benchmarks/bench_gpu.py --modes tf32,bf16 --models bpnet
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch

from bpnetkit.interpret.channels_last import channels_last_conv1d
from bpnetkit.interpret.deeplift import deep_lift_shap
from bpnetkit.interpret.predict import predict
from bpnetkit.models import BPNet, ChromBPNet, CountWrapper
from bpnetkit.models.presets import chrombpnet_accessibility, chrombpnet_bias
from bpnetkit.train.losses import bpnet_loss
from bpnetkit.train.trainer import tf32_flags

# dense peak FLOP/s of common accelerators (vendor figures, no sparsity):
# (IEEE fp32 on CUDA cores, TF32 tensor cores, bf16 tensor cores); H100 = SXM
PEAKS = {"H200": (67e12, 494.7e12, 989.4e12), "H100": (67e12, 494.7e12, 989.4e12),
         "A100": (19.5e12, 156e12, 312e12), "L40S": (91.6e12, 183e12, 362e12),
         "A10": (31.2e12, 62.5e12, 125e12)}
ALL_MODES = ("fp32", "tf32", "bf16", "compile", "channels-last")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Best wall time of ``repeats`` calls after ``warmup`` calls (kernel selection, caches,
    compilation)."""
    for _ in range(warmup):
        fn()
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


def _precision_of(mode: str) -> str:
    return {"fp32": "fp32", "channels-last": "fp32", "bf16": "bf16"}.get(mode, "tf32")


def peak_flops(device: torch.device, mode: str) -> float:
    """The device's peak FLOP/s in ``mode``: vendor figure for known GPUs, else a measured
    matmul (float32; bfloat16 on CUDA for bf16)."""
    prec = _precision_of(mode)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, (fp32, tf32, b16) in PEAKS.items():
            if key in name:
                return {"fp32": fp32, "tf32": tf32, "bf16": b16}[prec]
    n = 2048 if device.type == "cpu" else 8192
    dt = torch.bfloat16 if prec == "bf16" and device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dt)
    with tf32_flags(prec != "fp32"):
        t = timed(lambda: a @ a, device, 3)
    return 2 * n ** 3 / t


def one_hot(n: int, length: int, seed: int = 0) -> torch.Tensor:
    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    return torch.from_numpy(np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy())


@contextlib.contextmanager
def mode_context(mode: str, device: torch.device):
    """TF32 switches, autocast and the channels-last layout of ``mode``."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(tf32_flags(_precision_of(mode) != "fp32"))
        if mode == "bf16":
            stack.enter_context(torch.autocast(device_type=device.type, dtype=torch.bfloat16))
        if mode == "channels-last":
            stack.enter_context(channels_last_conv1d(True))
        yield


def _train_step_fn(model, opt, Xb, cb, y, device, mode, forward=None):
    fwd = forward or model

    def step():
        opt.zero_grad(set_to_none=True)
        with mode_context(mode, device):
            logits, counts = fwd(Xb, *cb)
            loss = bpnet_loss(logits.float(), counts.float(), y)[0]
            loss.backward()
        opt.step()
    return step


def _lite_step_fn(lite, Xb, cb, y, device, mode):
    from bpnetlite.losses import MNLLLoss, log1pMSELoss

    opt = torch.optim.Adam(lite.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        with mode_context(mode, device):
            logits, counts = lite(Xb, *cb)
            flat = logits.float().reshape(logits.shape[0], -1)
            lp = torch.log_softmax(flat, dim=-1)
            loss = MNLLLoss(lp, y.reshape(y.shape[0], -1)).mean() + \
                log1pMSELoss(counts.float(), y.sum((1, 2)).unsqueeze(-1)).mean()
            loss.backward()
        opt.step()
    return step


def _epoch_with_data(ours: torch.nn.Module, n_ctl: int, args: argparse.Namespace,
                     device: torch.device, flops: float) -> list[list]:
    """Training epochs including batch gathering: a plain loop vs the trainer (pinned,
    prefetched on CUDA); TF32 on CUDA (the trainer's default)."""
    from bpnetkit.data.datasets import EpochSampler, Examples, TrainingDataset
    from bpnetkit.train.trainer import Trainer

    L, jitter = args.length, 128
    n = args.n_loader
    out_len = ours.output_length(L)
    rng = np.random.default_rng(1)
    X = np.zeros((n, 4, L + 2 * jitter), dtype=np.int8)
    np.put_along_axis(X, rng.integers(0, 4, (n, 1, L + 2 * jitter)), 1, axis=1)
    y = rng.poisson(0.5, (n, ours.n_outputs, out_len + 2 * jitter)).astype(np.float32)
    ctl = rng.random((n, n_ctl, L + 2 * jitter), dtype=np.float32) if n_ctl else None
    ex = Examples(X, y, ctl, np.array(["chr1"] * n), np.arange(n) * L,
                  np.arange(n) * L + L, np.arange(n), L, out_len, jitter)
    ds = TrainingDataset(ex)
    sampler = EpochSampler(n, batch_size=args.train_batch, max_jitter=jitter, rc="random",
                           random_state=0)
    model = ours.to(device).train()
    tr = Trainer(model, lr=1e-3, device=device, progress=False, tf32=True)

    def plain():
        opt = tr.optimizer
        for Xb, yb, cb in ds.batches(sampler):
            Xb, yb = Xb.to(device), yb.to(device)
            extra = [cb.to(device)] if cb is not None else []
            opt.zero_grad(set_to_none=True)
            with tf32_flags(True):
                logits, counts = model(Xb, *extra)
                loss = bpnet_loss(logits.float(), counts.float(), yb)[0]
                loss.backward()
            opt.step()
            loss.item()  # the per-step sync of a training loop that logs its loss

    def trainer():
        tr.train_epoch(ds.batches(sampler), 1)

    rows = []
    peak = peak_flops(device, "tf32")
    for label, fn in (("plain loop, unpinned", plain),
                      ("Trainer.train_epoch" + (", pinned prefetch" if device.type == "cuda"
                                                else ""), trainer)):
        ex_s = n / timed(fn, device, max(1, args.repeats - 1))
        rows.append([f"train epoch incl. data, {label} (examples/s)", f"{ex_s:.1f}", "",
                     f"{ex_s * 3 * flops / peak:.1%}"])
    ours.eval()
    return rows


def bench_model(label: str, ours: torch.nn.Module, lite: torch.nn.Module | None,
                n_ctl: int, args: argparse.Namespace, device: torch.device) -> list[list]:
    """Rows ``[model, measure, bpnetkit, peer, of peak]`` of one model in every mode."""
    from tangermeme.deep_lift_shap import deep_lift_shap as t_dls
    from tangermeme.predict import predict as t_predict

    modes = getattr(args, "modes", None) or default_modes(device, args)
    rows = []
    L = args.length
    X = one_hot(args.n, L)
    ctl = [torch.rand(args.n, n_ctl, L)] if n_ctl else []
    out_len = ours.output_length(L)
    flops = forward_flops(ours.to(device).eval(), X[:1].to(device),
                          *[c[:1].to(device) for c in ctl])
    Xb = X[:args.train_batch].to(device)
    cb = [c[:args.train_batch].to(device) for c in ctl]
    y = torch.poisson(torch.full((args.train_batch, ours.n_outputs, out_len), 0.5)).to(device)
    for mode in modes:
        peak = peak_flops(device, mode)
        # --- predict -----------------------------------------------------------------------
        if mode != "compile":
            dtype = torch.bfloat16 if mode == "bf16" else None
            cl = True if mode == "channels-last" else (False if device.type == "cuda" else None)
            with tf32_flags(_precision_of(mode) != "fp32"):
                t = timed(lambda dtype=dtype, cl=cl: predict(
                    ours, X, args=ctl or None, batch_size=args.batch_size, device=device,
                    dtype=dtype, channels_last=cl), device, args.repeats)
                ours_ps = args.n / t
                peer = ""
                if mode in ("fp32", "tf32", "bf16"):
                    tp = timed(lambda dtype=dtype: t_predict(
                        ours, X, args=ctl or None, batch_size=args.batch_size,
                        device=str(device), dtype=dtype or torch.float32, verbose=False),
                        device, args.repeats)
                    peer = f"{args.n / tp:.1f}"
            rows.append([label, f"predict {mode} (seq/s)", f"{ours_ps:.1f}", peer,
                         f"{ours_ps * flops / peak:.1%}"])
        # --- training steps (forward + backward, about 3x the forward FLOPs, + Adam) --------
        model = ours.to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        fwd = torch.compile(model, dynamic=False) if mode == "compile" else None
        step = _train_step_fn(model, opt, Xb, cb, y, device, mode, fwd)
        t = timed(step, device, args.repeats, warmup=3 if mode == "compile" else 1)
        ours_ex = args.train_batch / t
        peer = ""
        if lite is not None and mode in ("fp32", "tf32", "bf16"):
            lite = lite.to(device).train()
            lt = timed(_lite_step_fn(lite, Xb, cb, y, device, mode), device, args.repeats)
            peer = f"{args.train_batch / lt:.1f}"
        rows.append([label, f"train {mode} (examples/s)", f"{ours_ex:.1f}", peer,
                     f"{ours_ex * 3 * flops / peak:.1%}"])
        ours.eval()

    if not getattr(args, "no_loader", False):
        rows += [[label, *r] for r in _epoch_with_data(ours, n_ctl, args, device, flops)]

    # DeepLIFT/SHAP in IEEE float32: attributions must sum to the output differences
    n = min(args.n, args.n_deeplift)
    wrapped = CountWrapper(ours).eval()
    from bpnetkit.interpret.shuffle import dinucleotide_shuffle

    refs = torch.as_tensor(dinucleotide_shuffle(X[:n].to(torch.int8), n=20, random_state=0)
                           ).float()
    with tf32_flags(False):
        t = timed(lambda: deep_lift_shap(wrapped, X[:n], args=[c[:n] for c in ctl] or None,
                                         n_shuffles=20, batch_size=args.batch_size,
                                         device=device, random_state=0,
                                         warning_threshold=1.0), device, 1)
        tt = timed(lambda: t_dls(wrapped, X[:n], args=[c[:n] for c in ctl] or None,
                                 references=refs, batch_size=args.batch_size,
                                 device=str(device), warning_threshold=1.0, verbose=False),
                   device, 1)
    # per sequence: 20 references x (forward + backward)
    rows.append([label, "DeepLIFT/SHAP fp32, 20 shuffles (seq/s)", f"{n / t:.2f}",
                 f"{n / tt:.2f}", f"{(n / t) * 20 * 3 * flops / peak_flops(device, 'fp32'):.1%}"])
    return rows


def default_modes(device: torch.device, args: argparse.Namespace) -> list[str]:
    if device.type == "cuda":
        return list(ALL_MODES)
    return ["fp32", "channels-last"] + (["bf16"] if getattr(args, "bf16_on_cpu", False) else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: CUDA if any)")
    ap.add_argument("--n", type=int, default=512, help="sequences for predict")
    ap.add_argument("--n-deeplift", type=int, default=64)
    ap.add_argument("--n-loader", type=int, default=512,
                    help="examples of the training epoch with data loading")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--train-batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=2114)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default=None,
                    help=f"comma-separated subset of {','.join(ALL_MODES)} (default: all on "
                         f"CUDA; fp32,channels-last on a CPU)")
    ap.add_argument("--models", default="bpnet,chrombpnet", help="bpnet, chrombpnet or both")
    ap.add_argument("--no-loader", action="store_true", help="skip the epoch-with-data rows")
    ap.add_argument("--bf16-on-cpu", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.n, args.n_deeplift, args.batch_size, args.train_batch = 4, 2, 4, 4
        args.n_loader, args.repeats = 8, 1
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.modes:
        args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        bad = sorted(set(args.modes) - set(ALL_MODES))
        if bad:
            ap.error(f"unknown mode(s) {bad}; choose from {list(ALL_MODES)}")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest
    from bpnetlite.bpnet import BPNet as LiteBPNet

    torch.manual_seed(0)
    which = {m.strip() for m in args.models.split(",")}
    rows = []
    if "bpnet" in which:
        bpnet = BPNet(64, 8, n_outputs=2, n_control_tracks=2).eval()
        lite = LiteBPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2,
                         trimming=557)
        lite.load_state_dict(bpnet.state_dict())
        rows += bench_model("BPNet 64x8", bpnet, lite, 2, args, device)
    if "chrombpnet" in which:
        chrom = ChromBPNet(chrombpnet_bias(), chrombpnet_accessibility()).eval()
        rows += bench_model("ChromBPNet 512x8", chrom, None, 0, args, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}; input {args.length} bp; predict "
          f"n={args.n} batch={args.batch_size}; train batch={args.train_batch}; epoch with "
          f"data n={args.n_loader}; DeepLIFT n={min(args.n, args.n_deeplift)}")
    head = ["model", "measure", "bpnetkit", "peer", "ratio", "of peak"]
    table = []
    for r in rows:
        ratio = f"{float(r[2]) / float(r[3]):.2f}" if r[3] else ""
        table.append([r[0], r[1], r[2], r[3], ratio, r[4]])
    widths = [max(len(str(r[i])) for r in table + [head]) for i in range(len(head))]
    for r in [head] + table:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    print("peer: bpnet-lite for training steps, tangermeme for predict and DeepLIFT/SHAP; "
          "'of peak': FLOP rate / the device's dense peak in that mode")


if __name__ == "__main__":
    main()


def rows(quick: bool = False) -> list:
    """Rows for ``run_all.py`` (only run when CUDA is present): this benchmark's table at its
    default sizes on the first GPU (quick: its ``--quick`` sizes)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Row
    from bpnetlite.bpnet import BPNet as LiteBPNet

    args = argparse.Namespace(device=None, n=512, n_deeplift=64, n_loader=512, batch_size=256,
                              train_batch=64, length=2114, repeats=3, modes=None,
                              models="bpnet,chrombpnet", no_loader=False, bf16_on_cpu=False,
                              quick=quick)
    if quick:
        args.n, args.n_deeplift, args.batch_size, args.train_batch = 4, 2, 4, 4
        args.n_loader, args.repeats = 8, 1
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    bpnet = BPNet(64, 8, n_outputs=2, n_control_tracks=2).eval()
    lite = LiteBPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=2, trimming=557)
    lite.load_state_dict(bpnet.state_dict())
    chrom = ChromBPNet(chrombpnet_bias(), chrombpnet_accessibility()).eval()
    table = bench_model("BPNet 64x8", bpnet, lite, 2, args, device)
    table += bench_model("ChromBPNet 512x8", chrom, None, 0, args, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    out = []
    for r in table:
        model, (measure, ours, peer, of_peak) = (r[0], r[1:5]) if len(r) >= 5 else ("", r[:4])
        peer_v = float(peer) if peer else None
        kind = "bpnet-lite" if measure.startswith("train") else "tangermeme"
        label = f"{name}: {measure}" + (f" [{model}]" if model else "")
        out.append(Row(label, float(ours), peer_v, kind if peer_v is not None else "",
                       f"{name}; {of_peak} of peak; predict n={args.n} batch "
                       f"{args.batch_size}, train batch {args.train_batch}, DeepLIFT "
                       f"n={min(args.n, args.n_deeplift)}",
                       goal=3.0 if peer_v is not None and not measure.startswith("train")
                       else None))
    return out
