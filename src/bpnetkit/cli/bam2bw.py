"""``bpnetkit bam2bw -p params.json``: count read 5' ends into base-resolution bigWigs."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "count read 5' ends into base-resolution bigWigs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "bam2bw (see bpnetkit.data.reads.Bam2BwParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.data.reads", "Bam2BwParams", "run_bam2bw")
