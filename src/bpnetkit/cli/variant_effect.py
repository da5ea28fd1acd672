"""``bpnetkit variant-effect -p variants.json``: score variants from a VCF or TSV."""

from __future__ import annotations

import argparse

from bpnetkit.cli.step import add_step_arguments, run_step_command
from bpnetkit.pipeline.registry import COMMAND_STEPS

SPEC = COMMAND_STEPS["variant-effect"]
HELP = ("score variants from a VCF or TSV: log fold change of counts, profile JSD, largest "
        "change of the predicted track, optional attribution change and empirical percentiles")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-p/--params`` and ``--print-defaults``."""
    add_step_arguments(parser, SPEC)


def run(args: argparse.Namespace) -> int:
    """Load the parameters, score the variants and print a summary and the output paths."""
    from bpnetkit.steps.variant_effect import read_summary

    outputs = run_step_command(SPEC, args)
    if outputs is None:
        return 0
    summary = read_summary(outputs.summary)
    print(f"scored {summary['scored']} of {summary['records']} records; skipped "
          f"{summary['skipped']} {summary['skipped_by_reason']}")
    if "hint" in summary:
        print(f"hint: {summary['hint']}")
    return 0
