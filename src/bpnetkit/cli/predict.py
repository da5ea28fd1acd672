"""``bpnetkit predict -p params.json``: predictions as bigWigs plus an h5 of logits and counts."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "predict profiles and counts; write bigWigs and h5"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "predict (see bpnetkit.steps.predict.PredictParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.steps.predict",
                    "PredictParams", "run_predict")
