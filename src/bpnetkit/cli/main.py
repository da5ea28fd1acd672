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
import errno
import importlib
import logging
import os
import re
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
    except (OSError, RuntimeError) as e:
        message = write_error_message(e, args)
        if message is None:
            raise
        print(f"bpnetkit {name}: error: {message}", file=sys.stderr)
        return 2
    return int(code or 0)


# errno values of an environment that refuses a write, and what the user can do
_WRITE_ERRNOS = {
    errno.EACCES: "choose a writable output folder",
    errno.EPERM: "choose a writable output folder",
    errno.EROFS: "the file system is read-only; choose another output folder",
    errno.ENOSPC: "free some space or choose an output folder on another disk",
    errno.EDQUOT: "free some space (disk quota) or choose another output folder",
    errno.EFBIG: "the file exceeds the file-size limit (ulimit -f) or the file system's "
                 "largest file; raise the limit or choose another output folder",
}


def write_error_message(exc: BaseException, args: argparse.Namespace | None = None
                        ) -> str | None:
    """One line for an environment that refused a write (permissions, disk full, size limit).

    Walks the exception and its causes (torch and h5py wrap the ``OSError``) for an errno in
    :data:`_WRITE_ERRNOS`; returns None for any other exception, which is then re-raised.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        code = getattr(e, "errno", None)
        if code is None:  # h5py and torch put the errno into the message only
            m = re.search(r"errno = (\d+)", str(e))
            code = int(m.group(1)) if m else None
        if code in _WRITE_ERRNOS:
            path = getattr(e, "filename", None)
            if path is None and args is not None:
                path = next((getattr(args, k) for k in ("output_dir", "output", "out")
                             if getattr(args, k, None)), None)
            what = f"cannot write '{path}'" if path else "cannot write the output"
            return f"{what}: {os.strerror(code)}; {_WRITE_ERRNOS[code]}."
        e = e.__cause__ or e.__context__
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
