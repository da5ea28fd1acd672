"""``bpnetkit peaks -p params.json``: call peaks with MACS3 (narrowPeak output)."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "call peaks with MACS3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "peaks (see bpnetkit.data.peaks.PeaksParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.data.peaks", "PeaksParams", "run_peaks")
