"""``bpnetkit variant-effect -p variants.json``: score variants from a VCF or TSV."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, load_params

HELP = ("score variants from a VCF or TSV: log fold change of counts, profile JSD, largest "
        "change of the predicted track, optional attribution change and empirical percentiles")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-p/--params``."""
    add_params_argument(parser, "variant-effect (VariantEffectParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, score the variants and print the output paths."""
    from bpnetkit.variants import VariantEffectParams, read_summary, run_variant_effect

    params = load_params(VariantEffectParams, args.params)
    outputs = run_variant_effect(params)
    summary = read_summary(outputs["summary"])
    print(f"scored {summary['scored']} of {summary['records']} records; skipped "
          f"{summary['skipped']} {summary['skipped_by_reason']}")
    if "hint" in summary:
        print(f"hint: {summary['hint']}")
    for name, path in outputs.items():
        print(f"{name}\t{path}")
    return 0
