"""Helpers shared by the command modules: ``-p params.json`` loading."""

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
