"""Entry point of the ``bpnetkit`` command.

Step commands come from the step registry (:data:`bpnetkit.pipeline.registry.STEPS`): each
reads ``-p params.json`` into the step's ``Params``, runs it and prints its ``Outputs``
(:mod:`bpnetkit.cli.step`); ``--print-defaults`` prints the step's full default JSON. A step
whose command needs more flags has its own module (``STEP_MODULES``). The other commands
each live in a module ``bpnetkit.cli.<module>`` that defines

- ``HELP``: a one-line description,
- ``add_arguments(parser)``: adds the command's arguments to an argparse parser,
- ``run(args) -> int | None``: does the work (returns an exit code, None meaning 0).

Modules are imported only when their command runs, so ``bpnetkit --help`` stays fast.
Library code logs to the ``bpnetkit`` logger; :func:`main` sends it to stderr (INFO, or DEBUG
with ``-v``). Errors derived from :class:`bpnetkit.errors.BpnetkitError` are printed as one
line without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any

from bpnetkit import __version__
from bpnetkit.errors import BpnetkitError
from bpnetkit.pipeline.registry import COMMAND_STEPS

STEP = "step"
"""Module name in :data:`COMMANDS` of the step commands served by :mod:`bpnetkit.cli.step`."""

# step commands with flags beyond -p/--print-defaults: command -> module
STEP_MODULES: dict[str, str] = {"fit": "fit", "variant-effect": "variant_effect"}

# command name -> (module, one-line help); the help is written here so that the top-level
# --help does not import every module.
COMMANDS: dict[str, tuple[str, str]] = {
    "pipeline-json": ("pipeline_json", "write a complete pipeline JSON from data pointers"),
    "pipeline": ("pipeline", "run the whole pipeline, reads to motifs, from one JSON"),
    **{cmd: (STEP_MODULES.get(cmd, STEP), spec.description)
       for cmd, spec in COMMAND_STEPS.items()},
    "convert": ("convert", "convert Keras / bpnet-lite / state-dict models to bpnetkit files"),
    "export": ("export", "export a model to ONNX or TorchScript"),
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


def _load_command(name: str) -> Any:
    """The command's module (or, for a plain step command, a module-like object)."""
    module, _ = COMMANDS[name]
    if module == STEP:
        from bpnetkit.cli.step import step_command

        return step_command(name)
    return importlib.import_module(f"bpnetkit.cli.{module}")


class StderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):  # type: ignore[override]
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure_logging(verbose: bool = False) -> logging.Handler:
    """Send the ``bpnetkit`` logger to stderr: INFO, or DEBUG when ``verbose``.

    Returns the handler (added once; a second call only changes the level).
    """
    root = logging.getLogger("bpnetkit")
    handler = next((h for h in root.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler()
        root.addHandler(handler)
    level = logging.DEBUG if verbose else logging.INFO
    root.setLevel(level)
    handler.setLevel(level)
    return handler


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
    flags = [f for f in ("-v", "--verbose") if f not in sub._option_string_actions]
    if flags:
        sub.add_argument(*flags, action="store_true", dest="log_debug",
                         help="log debugging messages too")
    args = sub.parse_args(rest)
    configure_logging(getattr(args, "log_debug", False))
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
