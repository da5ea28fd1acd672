"""``bpnetkit annotate -p params.json``: match seqlets or motifs to a motif database with Tomtom."""

from __future__ import annotations

import argparse

from bpnetkit.cli.common import add_params_argument, run_step

HELP = "match seqlets or motifs to a motif database with Tomtom"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    add_params_argument(parser, "annotate (see bpnetkit.motifs.annotate.AnnotateParams)")


def run(args: argparse.Namespace) -> int:
    """Load the parameters, run the step and print the outputs."""
    return run_step(args.params, "bpnetkit.motifs.annotate", "AnnotateParams", "run_annotate")
