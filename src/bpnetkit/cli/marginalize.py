"""``bpnetkit marginalize -p params.json``: in-silico marginalization of motifs."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "in-silico marginalization of motifs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser,
                        "marginalize (see bpnetkit.motifs.marginalize.MarginalizeParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.motifs.marginalize",
                    "MarginalizeParams", "run_marginalize")
