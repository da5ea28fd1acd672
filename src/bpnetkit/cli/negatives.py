"""``bpnetkit negatives -p params.json``: GC-matched background regions (BED)."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "pick GC-matched background regions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "negatives (see bpnetkit.data.negatives.NegativesParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.data.negatives", "NegativesParams", "run_negatives")
