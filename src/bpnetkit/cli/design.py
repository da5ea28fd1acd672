"""``bpnetkit design -p design.json``: greedy or gradient-based sequence design."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, load_params

HELP = ("design sequences greedily (single bases or motif insertions) or by gradients "
        "(relaxed sequences with an edit penalty); writes FASTA and a TSV of edits")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-p/--params``."""
    add_params_argument(parser, "design (DesignParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, design the sequences and print the output paths."""
    from bpnetkit.design import DesignParams, run_design

    params = load_params(DesignParams, args.params)
    outputs = run_design(params)
    for name, path in outputs.items():
        print(f"{name}\t{path}")
    return 0
