"""``bpnetkit negatives -p params.json``: GC-matched background regions (BED)."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, load_params

HELP = "pick GC-matched background regions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "negatives (see bpnetkit.data.negatives.NegativesParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    from bpnetkit.data.negatives import NegativesParams, run_negatives

    params = load_params(NegativesParams, args.params)
    for name, path in run_negatives(params).items():
        print(f"{name}\t{path}")
    return 0
