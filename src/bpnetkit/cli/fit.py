"""``bpnetkit fit -p fit.json``: train a BPNet, ChromBPNet or ProCapNet model."""

from __future__ import annotations

import argparse

from bpnetkit.cli.step import add_step_arguments, load_step_params, run_step_command
from bpnetkit.pipeline.registry import COMMAND_STEPS

SPEC = COMMAND_STEPS["fit"]
HELP = SPEC.description


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-p``, ``--print-defaults`` and ``--resume``."""
    add_step_arguments(parser, SPEC)
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from output_dir/checkpoint.pt")


def run(args: argparse.Namespace) -> int:
    """Load the JSON, train, print the outputs."""
    import dataclasses

    params = None
    if not args.print_defaults:
        params = load_step_params(SPEC, args)
        if args.resume:
            params = dataclasses.replace(params, resume=True)
    run_step_command(SPEC, args, params)
    return 0
