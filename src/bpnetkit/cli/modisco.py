"""``bpnetkit modisco -p params.json``: run TF-MoDISco (modisco-lite) on attributions."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "run TF-MoDISco (modisco-lite) on attributions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "modisco (see bpnetkit.motifs.modisco.ModiscoParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.motifs.modisco", "ModiscoParams", "run_modisco")
