"""``bpnetkit seqlets -p params.json``: call seqlets on attribution tracks."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "call seqlets on attribution tracks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "seqlets (see bpnetkit.motifs.seqlets.SeqletsParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.motifs.seqlets", "SeqletsParams", "run_seqlets")
