"""Small helpers shared by every module: devices, seeds, atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def resolve_device(device: Any = None):
    """Return a :class:`torch.device`: CUDA if available when ``device`` is None, else CPU.

    Parameters
    ----------
    device : str, torch.device or None
        Requested device; None picks CUDA when available, else CPU.

    Raises
    ------
    InputError
        For a string that names no device, or a device this machine does not have.
    """
    import torch

    from bpnetkit.errors import InputError

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        dev = device
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise InputError(f"device {device!r} is not a valid device; use \"cpu\", \"cuda\", "
                             f"\"cuda:0\", \"mps\" or null (CUDA when available, else CPU)."
                             ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {str(device)!r} was requested but this machine has no "
                             f"usable CUDA GPU (torch {torch.__version__}); use \"cpu\" or null.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device {str(device)!r} does not exist: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s).")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None)
                                  and torch.backends.mps.is_available()):
        raise InputError(f"device {str(device)!r} was requested but MPS is not available here; "
                         f"use \"cpu\" or null.")
    return dev


def as_generator(random_state: Any = None):
    """Return a :class:`numpy.random.Generator` from a seed, a generator or None."""
    import numpy as np

    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    An interrupted write therefore never leaves a half-written output behind.

    Examples
    --------
    >>> with atomic_path("out.bed") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("chr1\\t0\\t10\\n")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes),
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = current_umask()
    try:
        yield tmp_path
        # mkstemp makes 0600, and writers that replace the file (safetensors) do too: give
        # the usual file mode just before the file appears
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def is_gzip(path: str | os.PathLike) -> bool:
    """True when ``path`` starts with the gzip magic bytes (plain gzip or BGZF)."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_text(path: str | os.PathLike, errors: str = "strict"):
    """Open a text file for reading, plain or gzip-compressed (detected by its magic bytes).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    errors : str
        How undecodable bytes are handled (see :func:`open`).
    """
    import gzip

    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", errors=errors)
    return open(path, encoding="utf-8", errors=errors)


def progress(iterable: Any, desc: str = "", total: int | None = None, enabled: bool = True,
             unit: str = "it", interval: float = 5.0) -> Any:
    """Iterate with a progress display that stays readable in logs.

    On a terminal this is a tqdm bar (on stderr). Elsewhere (a log file, a batch job) it logs
    one INFO line to the ``bpnetkit.progress`` logger at most every ``interval`` seconds,
    instead of tqdm's carriage-return updates.

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    desc : str
        A short label.
    total : int or None
        Number of items (taken from ``len(iterable)`` when possible).
    enabled : bool
        False iterates silently.
    unit : str
        The unit shown.
    interval : float
        Seconds between log lines when not on a terminal.
    """
    import logging
    import sys
    import time

    if not enabled:
        yield from iterable
        return
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        yield from tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)
        return
    log = logging.getLogger("bpnetkit.progress")
    start = last = time.monotonic()
    done = 0
    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= interval:
            last = now
            of = f"/{total}" if total else ""
            log.info("%s: %d%s %s (%.0f s)", desc or "progress", done, of, unit, now - start)
    if done and time.monotonic() - start >= interval:
        log.info("%s: done, %d %s in %.0f s", desc or "progress", done, unit,
                 time.monotonic() - start)
