"""Helpers shared by the command modules: ``-p params.json`` loading and output folders."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeVar

from bpnetkit.config import dump_config, load_config

T = TypeVar("T")


def add_params_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add the ``-p/--params`` argument that names the command's JSON file."""
    parser.add_argument("-p", "--params", required=True, metavar="JSON",
                        help=f"JSON file with the {what} parameters")


def load_params(cls: type[T], path: str | Path, resolved_to: str | Path | None = None) -> T:
    """Load and validate a parameter JSON; optionally write the resolved copy.

    Parameters
    ----------
    cls : type
        The dataclass describing the valid keys.
    path : str or Path
        The JSON file.
    resolved_to : str, Path or None
        Where to write the resolved configuration (defaults filled in).
    """
    cfg = load_config(cls, path)
    if resolved_to is not None:
        dump_config(cfg, resolved_to)
    return cfg


def run_step(params_path: str | Path, module: str, params_class: str, function: str) -> int:
    """Load ``params_path`` into ``module.params_class``, call ``module.function`` on it and
    print the outputs it returns (one ``name<TAB>path`` line each)."""
    import importlib

    mod = importlib.import_module(module)
    params = load_params(getattr(mod, params_class), params_path)
    for name, path in getattr(mod, function)(params).items():
        print(f"{name}\t{path}")
    return 0
