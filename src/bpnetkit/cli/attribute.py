"""``bpnetkit attribute -p params.json``: DeepLIFT/SHAP attributions for regions."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "DeepLIFT/SHAP attributions for regions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "attribute (see bpnetkit.steps.attribute.AttributeParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.steps.attribute", "AttributeParams", "run_attribute")
