"""Entry point of the ``bpnetkit`` command.

Each subcommand lives in its own module ``bpnetkit.cli.<module>`` that defines

- ``HELP``: a one-line description,
- ``add_arguments(parser)``: adds the command's arguments to an argparse parser,
- ``run(args) -> int | None``: does the work (returns an exit code, None meaning 0).

Modules are imported only when their command runs, so ``bpnetkit --help`` stays fast.
Errors derived from :class:`bpnetkit.errors.BpnetkitError` are printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from bpnetkit import __version__
from bpnetkit.errors import BpnetkitError

# command name -> (module, one-line help); the help is repeated here so that the top-level
# --help does not import every module.
COMMANDS: dict[str, tuple[str, str]] = {
    "pipeline-json": ("pipeline_json", "write a complete pipeline JSON from data pointers"),
    "pipeline": ("pipeline", "run the whole pipeline, reads to motifs, from one JSON"),
    "bam2bw": ("bam2bw", "count read 5' ends into base-resolution bigWigs"),
    "peaks": ("peaks", "call peaks with MACS3"),
    "negatives": ("negatives", "pick GC-matched background regions"),
    "fit": ("fit", "train a BPNet, ChromBPNet or ProCapNet model"),
    "evaluate": ("evaluate", "evaluate a model on held-out regions"),
    "predict": ("predict", "predict profiles and counts; write bigWigs and h5"),
    "attribute": ("attribute", "DeepLIFT/SHAP attributions for regions"),
    "seqlets": ("seqlets", "call seqlets on attribution tracks"),
    "modisco": ("modisco", "run TF-MoDISco (modisco-lite) on attributions"),
    "annotate": ("annotate", "match seqlets or motifs to a motif database with Tomtom"),
    "marginalize": ("marginalize", "in-silico marginalization of motifs"),
    "variant-effect": ("variant_effect", "score variants from a VCF or TSV"),
    "design": ("design", "design sequences greedily or by gradients"),
    "convert": ("convert", "convert Keras / bpnet-lite / state-dict models to bpnetkit files"),
    "motifs": ("motifs", "export or inspect the built-in motif database"),
    "demo": ("demo", "build a semi-synthetic dataset and run the whole pipeline on it"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="bpnetkit",
        description="Base-resolution sequence-to-profile models, from reads to motifs.")
    parser.add_argument("--version", action="version", version=f"bpnetkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _load_command(name: str):
    module, _ = COMMANDS[name]
    return importlib.import_module(f"bpnetkit.cli.{module}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv or ["--help"])  # prints help/version or an error and exits
        return 0
    name, rest = argv[0], argv[1:]
    module = _load_command(name)
    sub = argparse.ArgumentParser(prog=f"bpnetkit {name}", description=module.HELP)
    module.add_arguments(sub)
    args = sub.parse_args(rest)
    try:
        code = module.run(args)
    except BpnetkitError as e:
        print(f"bpnetkit {name}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `bpnetkit motifs --list | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"bpnetkit {name}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
