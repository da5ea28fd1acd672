"""``bpnetkit seqlets -p params.json``: call seqlets on attribution tracks."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, load_params

HELP = "call seqlets on attribution tracks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "seqlets (see bpnetkit.interpret.seqlets.SeqletsParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    from bpnetkit.interpret.seqlets import SeqletsParams, run_seqlets

    params = load_params(SeqletsParams, args.params)
    for name, path in run_seqlets(params).items():
        print(f"{name}\t{path}")
    return 0
