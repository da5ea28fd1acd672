"""``bpnetkit fit -p fit.json``: train a BPNet, ChromBPNet or ProCapNet model."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument

HELP = "train a BPNet, ChromBPNet or ProCapNet model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-p`` and ``--resume``."""
    add_params_argument(parser, "training (see bpnetkit.train.recipes.FitParams)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from output_dir/checkpoint.pt")


def run(args: argparse.Namespace) -> int:
    """Load the JSON, train, print the outputs."""
    import dataclasses

    from bpnetkit.cli.common import load_params
    from bpnetkit.train.recipes import FitParams, run_fit

    params = load_params(FitParams, args.params)
    if args.resume:
        params = dataclasses.replace(params, resume=True)
    for name, path in run_fit(params).items():
        print(f"{name}\t{path}")
    return 0
