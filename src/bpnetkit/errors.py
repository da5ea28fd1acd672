"""Exceptions that bpnetkit raises for bad input.

Every message says what is wrong, where (file, line, key) and how to fix it. The command
line prints these without a traceback.
"""

from __future__ import annotations


class BpnetkitError(Exception):
    """Base class for errors caused by user input rather than by a bug."""


class InputError(BpnetkitError, ValueError):
    """Bad values, shapes or file contents."""


class ConfigError(InputError):
    """A JSON configuration with an unknown key, a wrong type or a missing value."""


class MissingFileError(BpnetkitError, FileNotFoundError):
    """A file that a step needs does not exist."""


class MissingToolError(BpnetkitError, RuntimeError):
    """An external program (e.g. MACS3) is not installed."""


def require_file(path, what: str = "file"):
    """Return ``path`` as a :class:`pathlib.Path`, raising a clear error if it is missing.

    Parameters
    ----------
    path : str or os.PathLike
        The path to check.
    what : str
        What the file is, for the message (e.g. ``"genome FASTA"``).
    """
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{what} not found: '{p}'. Check the path (it is relative to "
                               f"the current directory '{Path.cwd().name}' unless absolute).")
    return p
