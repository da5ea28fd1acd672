"""The command of a step: ``bpnetkit <command> -p params.json`` (or ``--print-defaults``).

Every step of :data:`bpnetkit.pipeline.registry.STEPS` that has a ``command`` gets one: it
reads the JSON into the step's ``Params`` (unknown keys and wrong types are errors naming the
key), calls ``run`` and prints the ``Outputs`` (one ``field<TAB>path`` line per file).
``--print-defaults`` prints the step's complete JSON with every default instead.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bpnetkit.pipeline.registry import COMMAND_STEPS, StepSpec


def add_step_arguments(parser: argparse.ArgumentParser, spec: StepSpec) -> None:
    """Add ``-p/--params`` and ``--print-defaults``."""
    parser.add_argument("-p", "--params", metavar="JSON", default=None,
                        help=f"JSON file with the parameters of {spec.name} (see "
                             f"--print-defaults; class {spec.module}.Params)")
    parser.add_argument("--print-defaults", action="store_true",
                        help="print every parameter with its default as JSON and exit; "
                             "required keys are null and listed under \"_required\"")


def defaults_text(spec: StepSpec) -> str:
    """The step's full default JSON (see :func:`bpnetkit.config.defaults_document`)."""
    from bpnetkit.config import defaults_document

    return json.dumps(defaults_document(spec.params_class), indent=2)


def load_step_params(spec: StepSpec, args: argparse.Namespace) -> Any:
    """The validated ``Params`` from ``-p``; a ConfigError when ``-p`` is missing."""
    from bpnetkit.config import load_config
    from bpnetkit.errors import ConfigError

    if not args.params:
        raise ConfigError(f"give the parameters as -p params.json (bpnetkit {spec.command} "
                          f"--print-defaults prints every key with its default).")
    return load_config(spec.params_class, args.params)


def output_lines(outputs: Any) -> list[str]:
    """``field<TAB>value`` lines of a step's ``Outputs`` (lists: a line per item; dicts:
    ``field.key``; fields that are None are left out)."""
    lines = []
    for name, value in outputs.to_dict().items():
        if value is None:
            continue
        if isinstance(value, list):
            lines += [f"{name}\t{v}" for v in value]
        elif isinstance(value, dict):
            lines += [f"{name}.{k}\t{v}" for k, v in value.items()]
        else:
            lines.append(f"{name}\t{value}")
    return lines


def run_step_command(spec: StepSpec, args: argparse.Namespace, params: Any = None) -> Any:
    """``--print-defaults``, or run the step on ``params`` (default: read from ``-p``) and
    print its outputs. Returns the ``Outputs`` (None after ``--print-defaults``)."""
    if args.print_defaults:
        print(defaults_text(spec))
        return None
    if params is None:
        params = load_step_params(spec, args)
    outputs = spec.run(params)
    for line in output_lines(outputs):
        print(line)
    return outputs


class StepCommand:
    """A command module made from a registry entry (``HELP``, ``add_arguments``, ``run``)."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec
        self.HELP = spec.description

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add ``-p`` and ``--print-defaults``."""
        add_step_arguments(parser, self.spec)

    def run(self, args: argparse.Namespace) -> int:
        """Run the step (or print its defaults)."""
        run_step_command(self.spec, args)
        return 0


def step_command(command: str) -> StepCommand:
    """The command object of the step whose command is ``command``."""
    return StepCommand(COMMAND_STEPS[command])
