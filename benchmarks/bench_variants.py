"""Variant effects and greedy design: bpnetkit vs tangermeme on the same random BPNet.

1. SNV effects: ``bpnetkit.interpret.edits.substitution_effect`` (one row per variant) vs
   ``tangermeme.variant_effect.substitution_effect`` (one replicated example per variant).
2. Greedy single-base design of log counts: ``bpnetkit.design.greedy_design`` vs
   ``tangermeme.design.greedy_substitution`` (same number of rounds).
3. The ``variant-effect`` step in variant-scorer's format (reverse-complement averaging, peak
   quantiles, null variants) on a random genome: variants per second (variant-scorer
   itself runs on TensorFlow and is not compared).

Prints rates or wall times, their ratio and the largest difference of the results.

    python benchmarks/bench_variants.py [--variants 512] [--length 1000] [--rounds 2]
        [--scorer-variants 256] [--null-per-variant 2] [--filters 32] [--layers 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def measure(variants: int = 512, length: int = 1000, rounds: int = 2, design_length: int = 200,
            scorer_variants: int = 256, null_per_variant: int = 2, filters: int = 32,
            layers: int = 4) -> list:
    """Run the three comparisons; return :class:`_common.Row` objects."""
    from _common import Row
    from tangermeme.design import greedy_substitution
    from tangermeme.variant_effect import substitution_effect as tm_sub

    from bpnetkit.design import greedy_design, make_target
    from bpnetkit.interpret.edits import substitution_effect
    from bpnetkit.models import BPNet, CountWrapper

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = BPNet(n_filters=filters, n_layers=layers, n_outputs=2, n_control_tracks=0).eval()
    L = length
    n_seq = max(1, variants // 8)
    X = np.zeros((n_seq, 4, L), dtype=np.int8)
    X[np.arange(n_seq)[:, None], rng.integers(0, 4, (n_seq, L)), np.arange(L)[None]] = 1
    lo = model.trimming
    rows = np.stack([rng.integers(0, n_seq, variants),
                     rng.integers(lo, L - lo, variants),
                     rng.integers(0, 4, variants)], axis=1)
    rows[:, 2] = (X[rows[:, 0], :, rows[:, 1]].argmax(1) + 1 + rows[:, 2] % 3) % 4
    arch = f"BPNet {filters}x{layers}, {torch.get_num_threads()} threads"

    table = []
    t = time.perf_counter()
    before, after = substitution_effect(model, X, rows, batch_size=64, device="cpu")
    t_ours = time.perf_counter() - t
    Xt = torch.as_tensor(X[rows[:, 0]]).float()
    sub = torch.as_tensor(np.stack([np.arange(len(rows)), rows[:, 1], rows[:, 2]], 1))
    t = time.perf_counter()
    res = tm_sub(model, Xt, sub, batch_size=64, device="cpu")
    t_tm = time.perf_counter() - t
    y_after = res.y_after if hasattr(res, "y_after") else res[1]
    diff = float((after[1] - torch.as_tensor(y_after[1]).float()).abs().max())
    table.append(Row("SNV effects (variants/s)", variants / t_ours, variants / t_tm,
                     "tangermeme substitution_effect",
                     f"{arch}, {variants} SNVs on {n_seq} sequences of {L} bp, batch 64; "
                     f"max |diff| {diff:.1e}"))

    Xd = torch.as_tensor(X[:1, :, : design_length + 2 * lo]).float()
    t = time.perf_counter()
    res = greedy_design(make_target(model, "counts"), Xd, goal="max", max_edits=rounds,
                        tol=0.0, batch_size=64, device="cpu", progress=False)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    Xtm = greedy_substitution(CountWrapper(model), Xd, max_iter=rounds, tol=0.0,
                              batch_size=64, device="cpu")
    t_tm = time.perf_counter() - t
    with torch.no_grad():
        c_tm = float(model(Xtm.float())[1])
    table.append(Row("greedy design (s)", t_ours, t_tm, "tangermeme greedy_substitution",
                     f"{arch}, {rounds} round(s) on {Xd.shape[-1]} bp; |final count diff| "
                     f"{abs(float(res.final[0]) - c_tm):.1e}", lower_is_better=True))
    n, dt = bench_step(model, L, scorer_variants, null_per_variant, rng)
    table.append(Row("variant-effect step, variant-scorer format (variants/s)", n / dt, None,
                     "", f"{arch}, {n} variants of {L} bp windows, rc-averaged, "
                     f"{null_per_variant} null per variant (variant-scorer is TensorFlow: "
                     f"not compared)"))
    return table


def rows(quick: bool = False) -> list:
    """Rows for ``run_all.py``: BPNet 64x8 on 2114 bp (quick: 32x4 on 1000 bp, fewer)."""
    if quick:
        return measure(variants=64, length=1000, rounds=1, design_length=50,
                       scorer_variants=32, null_per_variant=1, filters=32, layers=4)
    return measure(variants=256, length=2114, rounds=1, design_length=100,
                   scorer_variants=128, null_per_variant=2, filters=64, layers=8)


def main() -> None:
    from _common import format_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=512)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--design-length", type=int, default=200)
    ap.add_argument("--scorer-variants", type=int, default=256)
    ap.add_argument("--null-per-variant", type=int, default=2)
    ap.add_argument("--filters", type=int, default=32)
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()
    print(format_table(measure(args.variants, args.length, args.rounds, args.design_length,
                               args.scorer_variants, args.null_per_variant, args.filters,
                               args.layers)))


def bench_step(model, L: int, n: int, null_per_variant: int, rng) -> tuple[int, float]:
    """Time the variant-effect step (variant-scorer format) on a random genome."""
    import tempfile
    from pathlib import Path

    from bpnetkit.steps.variant_effect import VariantEffectParams, run

    size = 20 * L + n * 50
    chrom = "".join(rng.choice(list("ACGT"), size=size))
    with tempfile.TemporaryDirectory() as d:
        fa = Path(d) / "g.fa"
        fa.write_text(">chr1\n" + chrom + "\n")
        pos = np.sort(rng.choice(np.arange(L, size - L), size=n, replace=False))
        lines = [f"chr1\t{p + 1}\t{chrom[p]}\t{'ACGT'[('ACGT'.index(chrom[p]) + 1) % 4]}\tv{k}"
                 for k, p in enumerate(pos)]
        (Path(d) / "v.tsv").write_text("\n".join(lines) + "\n")
        starts = np.arange(L, size - 2 * L, L)[:10]
        (Path(d) / "p.bed").write_text("".join(f"chr1\t{s}\t{s + 200}\n" for s in starts))
        params = VariantEffectParams(variants=str(Path(d) / "v.tsv"), genome=str(fa),
                                     model="m", output_dir=d, in_window=L, device="cpu",
                                     peaks=str(Path(d) / "p.bed"),
                                     null_per_variant=null_per_variant)
        t = time.perf_counter()
        run(params, model=model)
        dt = time.perf_counter() - t
    return n, dt


if __name__ == "__main__":
    main()
