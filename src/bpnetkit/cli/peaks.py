"""``bpnetkit peaks -p params.json``: call peaks with MACS3 (narrowPeak output)."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, load_params

HELP = "call peaks with MACS3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "peaks (see bpnetkit.data.peaks.PeaksParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    from bpnetkit.data.peaks import PeaksParams, run_peaks

    params = load_params(PeaksParams, args.params)
    for name, path in run_peaks(params).items():
        print(f"{name}\t{path}")
    return 0
