"""``bpnetkit attribute -p params.json``: DeepLIFT/SHAP attributions for regions."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, load_params

HELP = "DeepLIFT/SHAP attributions for regions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "attribute (see bpnetkit.interpret.attribute.AttributeParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    from bpnetkit.interpret.attribute import AttributeParams, run_attribute

    params = load_params(AttributeParams, args.params)
    for name, path in run_attribute(params).items():
        print(f"{name}\t{path}")
    return 0
