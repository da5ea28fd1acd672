"""``bpnetkit evaluate -p evaluate.json``: metrics and plots of a model on held-out regions."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument

HELP = "evaluate a model on held-out regions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-p``."""
    add_params_argument(parser, "evaluation (see bpnetkit.train.evaluate.EvaluateParams)")


def run(args: argparse.Namespace) -> int:
    """Load the JSON, evaluate, print the outputs."""
    from bpnetkit.cli.common import load_params
    from bpnetkit.train.evaluate import EvaluateParams, run_evaluate

    for name, path in run_evaluate(load_params(EvaluateParams, args.params)).items():
        print(f"{name}\t{path}")
    return 0
