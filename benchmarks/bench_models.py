"""BPNet forward pass and model-file loading: bpnetkit vs bpnet-lite, same weights.

Forward: our valid-convolution BPNet vs bpnet-lite's same-padded BPNet + trimming (default
64 filters, 8 layers, 2114 -> 1000, two control tracks). Loading: our restricted unpickler
(no pickle code executed) vs ``torch.load(weights_only=False)`` of the same bpnet-lite file,
and our native safetensors folder. Outputs are checked to agree.

    python benchmarks/bench_models.py [--batch 16] [--reps 3] [--filters 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def best_of(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(batch: int = 16, reps: int = 3, filters: int = 64) -> tuple[list, float, float]:
    """Forward-pass and loading times; returns ``(rows, diff_same, diff_valid)`` where each
    row is ``(operation, bpnet-lite s, bpnetkit s)``."""
    import bpnetlite

    from bpnetkit import load_model, save_model

    torch.manual_seed(0)
    theirs = bpnetlite.BPNet(n_filters=filters, verbose=False).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bpnet.torch"
        torch.save(theirs, path)
        ours = load_model(path, device="cpu")  # bpnet-lite's own (same-padded) computation
        fast = load_model(path, device="cpu", padding="valid")
        save_model(ours, Path(tmp) / "native")
        X = torch.rand(batch, 4, 2114)
        ctl = torch.rand(batch, 2, 2114)
        with torch.no_grad():
            ref = theirs(X, ctl)
            diff = max((a - b).abs().max().item() for a, b in zip(ref, ours(X, ctl)))
            diff_fast = max((a - b).abs().max().item() for a, b in zip(ref, fast(X, ctl)))
            t_theirs = best_of(lambda: theirs(X, ctl), reps)
            t_ours = best_of(lambda: ours(X, ctl), reps)
            t_fast = best_of(lambda: fast(X, ctl), reps)
        l_theirs = best_of(lambda: torch.load(path, weights_only=False), reps)
        l_ours = best_of(lambda: load_model(path, device="cpu"), reps)
        l_native = best_of(lambda: load_model(Path(tmp) / "native", device="cpu"), reps)
    rows = [("forward pass, same padding", t_theirs, t_ours),
            ("forward pass, valid convolutions", t_theirs, t_fast),
            ("load .torch (theirs: unpickle)", l_theirs, l_ours),
            ("load native safetensors folder", l_theirs, l_native)]
    return rows, diff, diff_fast


def rows(quick: bool = False) -> list:
    """Rows for ``run_all.py``: BPNet 64x8, batch 16 (quick: batch 4, one repeat)."""
    from _common import Row

    batch, reps = (4, 1) if quick else (16, 3)
    table, diff, diff_fast = measure(batch, reps, 64)
    conf = (f"BPNet 64x8 (bpnet-lite file), 2114 -> 1000, 2 control tracks, batch {batch}, "
            f"{torch.get_num_threads()} threads; max |diff| {diff:.1e} (same), "
            f"{diff_fast:.1e} (valid)")
    return [Row(f"{name} (s)", b, a, "bpnet-lite", conf, lower_is_better=True)
            for name, a, b in table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--filters", type=int, default=64)
    args = parser.parse_args()
    rows, diff, diff_fast = measure(args.batch, args.reps, args.filters)
    print(f"BPNet {args.filters} filters x 8 layers, batch {args.batch}, 2114 -> 1000, CPU, "
          f"{torch.get_num_threads()} threads; max |difference| {diff:.2e} (same padding), "
          f"{diff_fast:.2e} (valid)")
    print(f"{'operation':<34}{'bpnet-lite s':>14}{'bpnetkit s':>12}{'ratio':>8}")
    for name, a, b in rows:
        print(f"{name:<34}{a:>14.4f}{b:>12.4f}{a / b:>8.2f}")


if __name__ == "__main__":
    main()
