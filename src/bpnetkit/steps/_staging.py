"""Outputs appear only when complete: the one staging mechanism of every step.

A step writes all its files (its parameters JSON included) into a hidden staging folder
inside its ``output_dir`` and moves them into place only when it succeeded::

    with staged_outputs(params.output_dir, "predict") as stage:
        write(stage.path / "predictions.h5")
        ...
        return stage.finalize(PredictOutputs(h5=str(stage.path / "predictions.h5"), ...))

- **Where.** ``<output_dir>/.bpnetkit-staging-<step>-<host>-<pid>-<token>/``: inside the
  output folder, hence on the same file system, so every move is an atomic rename.
- **Success.** Each top-level entry of the staging folder replaces the entry of the same
  name in ``output_dir`` (a folder such as ``model/`` as a whole), the parameters JSON
  last; entries of ``output_dir`` that the step does not write are left alone (a folder
  may hold other things, even be ``.``), except those matching the step's ``owns``
  patterns, which belong to the step and are removed when this run did not write them
  (e.g. the bigWigs of an earlier run with ``bigwigs: true``). The old entries are renamed
  aside first and deleted at the end; when a move fails, the moves done so far are undone.
- **Failure.** On any exception (``KeyboardInterrupt`` included) the staging folder is
  deleted and ``output_dir`` is exactly as it was. A write refused by the environment
  (disk full, file-size limit, read-only folder) is re-raised as ``OSError(errno,
  strerror, path)`` naming the final path (see :func:`bpnetkit.io._errors.writing`).
- **Stale temporaries.** A process killed with ``kill -9`` cannot clean up; the next step
  run into the same folder removes staging folders whose process is gone (same host), or
  that were not modified for :data:`STALE_AFTER_S` seconds (another host), plus the
  temporaries of earlier versions (``.attr_tmp_*``, ``.predict_tmp_*``, ``bpnetkit_macs3_*``,
  the ``.<name>.<random>.tmp<suffix>`` files of :func:`bpnetkit.utils.atomic_path`) when no
  other live step holds a staging folder there. What is removed is logged.

Distributed steps: every rank opens its own stage (rank parts are written there, where
rank 0 reads them); only the publishing process (``publish=True``, rank 0) cleans stale
temporaries and moves outputs into place, the others discard their stage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fnmatch
import logging
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bpnetkit.errors import BpnetkitError
from bpnetkit.io._errors import writing

log = logging.getLogger(__name__)

__all__ = ["STAGING_PREFIX", "STALE_AFTER_S", "Stage", "clean_stale", "final_path",
           "staged_outputs"]

#: name prefix of every staging folder
STAGING_PREFIX = ".bpnetkit-staging-"
#: name prefix of an old entry renamed aside while outputs are moved into place
_ASIDE_PREFIX = ".bpnetkit-old-"
#: a staging folder of another host is stale when nothing in it changed for this long
STALE_AFTER_S = 24 * 3600.0

_STAGING_RE = re.compile(r"^\.bpnetkit-staging-(?P<step>[A-Za-z0-9_]+)-(?P<host>.+)-"
                         r"(?P<pid>\d+)-(?P<token>[0-9a-f]+)$")
_ASIDE_RE = re.compile(r"^\.bpnetkit-old-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]+-.+$")
# temporaries of earlier versions (and of atomic_path writes outside a stage)
_LEGACY_DIRS = (".attr_tmp_*", ".predict_tmp_*", "bpnetkit_macs3_*")
_ATOMIC_TMP_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[^/]*)?$")

O = TypeVar("O")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname() or "host")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process) or cannot tell: keep
    return True


def _newest_mtime(path: Path, limit: int = 10000) -> float:
    """The newest modification time of ``path`` and what it holds (up to ``limit`` entries)."""
    newest = path.lstat().st_mtime
    n = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            n += 1
            if n > limit:
                return newest
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def _is_live(name: str, path: Path, now: float) -> bool | None:
    """For a staging folder or an aside entry: True while its process may still run, False
    when it is stale, None when ``name`` is neither."""
    m = _STAGING_RE.match(name) or _ASIDE_RE.match(name)
    if m is None:
        return None
    if m["host"] == _host():
        return _pid_alive(int(m["pid"]))
    try:
        return now - _newest_mtime(path) < STALE_AFTER_S
    except OSError:
        return True


def _remove(path: Path) -> bool:
    """Delete a file or folder; False when it (or part of it) could not be deleted."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as e:
        log.warning("could not remove %s (%s); delete it by hand.", path, e)
        return False
    return True


def clean_stale(out_dir: str | os.PathLike) -> list[Path]:
    """Remove the temporaries that dead runs left in ``out_dir``; return what was removed.

    Staging folders (and entries renamed aside during a commit) of processes that are gone
    are removed; so are the temporaries of earlier versions and stray
    :func:`~bpnetkit.utils.atomic_path` files, but only when no live step holds a staging
    folder in ``out_dir`` (it could be writing them).
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    now = time.time()
    removed: list[Path] = []
    others_live = False
    legacy: list[Path] = []
    for entry in sorted(out_dir.iterdir()):
        live = _is_live(entry.name, entry, now)
        if live is True:
            others_live = True
        elif live is False:
            if _remove(entry):
                removed.append(entry)
        elif (entry.is_dir() and any(fnmatch.fnmatch(entry.name, p) for p in _LEGACY_DIRS)) \
                or (entry.is_file() and _ATOMIC_TMP_RE.match(entry.name)):
            legacy.append(entry)
    if legacy and not others_live:
        for entry in legacy:
            if _remove(entry):
                removed.append(entry)
    if removed:
        log.info("removed %d temporary file(s)/folder(s) of interrupted runs in %s: %s",
                 len(removed), out_dir, ", ".join(p.name for p in removed[:10]) +
                 (", ..." if len(removed) > 10 else ""))
    return removed


def final_path(path: str | os.PathLike) -> Path:
    """Where a path inside a staging folder will be once its stage is moved into place
    (the staging folder's name removed from it); other paths are returned unchanged.

    Files that must outlive a failed run (``fit``'s resume checkpoint) are written there
    directly by code that is handed a staging folder.
    """
    parts = Path(path).parts
    for i, part in enumerate(parts):
        if _STAGING_RE.match(part):
            return Path(*parts[:i], *parts[i + 1:])
    return Path(path)


def _owned(name: str, owns: Sequence[str | re.Pattern[str]]) -> bool:
    return any(pat.fullmatch(name) if isinstance(pat, re.Pattern) else
               fnmatch.fnmatch(name, pat) for pat in owns)


def _is_params(name: str) -> bool:
    return name.endswith(".json") and "params" in name


class Stage:
    """The staging folder of one step run (see the module documentation).

    Attributes
    ----------
    out_dir : Path
        The final output folder.
    path : Path
        The staging folder: write every output here.
    step : str
        The step's name.
    """

    def __init__(self, out_dir: Path, step: str) -> None:
        self.out_dir = out_dir
        self.step = step
        self._token = f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = out_dir / f"{STAGING_PREFIX}{step}-{self._token}"
        self.path.mkdir()

    # -- paths ------------------------------------------------------------------------------
    def final(self, path: str | os.PathLike) -> str:
        """The path a staged ``path`` will have once moved into place (others unchanged)."""
        s = os.fspath(path)
        base = os.fspath(self.path)
        if s == base:
            return os.fspath(self.out_dir)
        if s.startswith(base + os.sep):
            return os.fspath(self.out_dir / s[len(base) + 1:])
        return s

    def finalize(self, outputs: O) -> O:
        """A copy of an ``Outputs`` dataclass (or a str, list, dict of paths) whose paths
        inside the staging folder are replaced by their final paths."""

        def walk(v: Any) -> Any:
            if isinstance(v, str):
                return self.final(v)
            if isinstance(v, Path):
                return Path(self.final(v))
            if isinstance(v, list):
                return [walk(x) for x in v]
            if isinstance(v, tuple):
                return tuple(walk(x) for x in v)
            if isinstance(v, dict):
                return {k: walk(x) for k, x in v.items()}
            if dataclasses.is_dataclass(v) and not isinstance(v, type):
                return dataclasses.replace(v, **{f.name: walk(getattr(v, f.name))
                                                 for f in dataclasses.fields(v) if f.init})
            return v

        return walk(outputs)

    # -- commit -----------------------------------------------------------------------------
    def commit(self, owns: Iterable[str | re.Pattern[str]] = ()) -> list[Path]:
        """Move every staged entry into ``out_dir`` (parameters JSON last) and remove the
        entries matching ``owns`` that this run did not write; undo on failure."""
        entries = sorted(self.path.iterdir(), key=lambda p: (_is_params(p.name), p.name))
        names = {e.name for e in entries}
        owns = list(owns)
        drop = sorted(p for p in self.out_dir.iterdir() if p.name not in names and
                      not p.name.startswith(".bpnetkit-") and _owned(p.name, owns))
        done: list[tuple[Path, Path | None, Path]] = []  # (dst, aside, src)
        asides: list[Path] = []
        try:
            for p in drop:
                aside = self.out_dir / f"{_ASIDE_PREFIX}{self._token}-{p.name}"
                os.replace(p, aside)
                done.append((p, aside, Path()))
                asides.append(aside)
            for src in entries:
                dst = self.out_dir / src.name
                aside = None
                if dst.exists() or dst.is_symlink():
                    aside = self.out_dir / f"{_ASIDE_PREFIX}{self._token}-{src.name}"
                    os.replace(dst, aside)
                    asides.append(aside)
                done.append((dst, aside, src))
                os.replace(src, dst)
        except BaseException:
            for dst, aside, src in reversed(done):
                with contextlib.suppress(OSError):
                    if src != Path() and (dst.exists() or dst.is_symlink()) \
                            and not src.exists():
                        os.replace(dst, src)
                    if aside is not None and (aside.exists() or aside.is_symlink()):
                        os.replace(aside, dst)
            raise
        for a in asides:
            _remove(a)
        if drop:
            log.info("%s: removed %s of an earlier run from %s", self.step,
                     ", ".join(p.name for p in drop), self.out_dir)
        return [self.out_dir / e.name for e in entries]

    def discard(self) -> None:
        """Delete the staging folder and everything in it."""
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def staged_outputs(out_dir: str | os.PathLike, step: str, *, publish: bool = True,
                   owns: Sequence[str | re.Pattern[str]] = ()) -> Iterator[Stage]:
    """Stage a step's outputs in ``out_dir`` and move them into place only on success.

    Parameters
    ----------
    out_dir : str or PathLike
        The step's output folder (created when missing).
    step : str
        The step's name (part of the staging folder's name).
    publish : bool
        True: clean stale temporaries on entry and move the outputs into place on success.
        False (the non-zero ranks of a distributed job): the stage is scratch space only,
        discarded at the end.
    owns : sequence of str or compiled regular expressions
        Glob patterns (or regular expressions matching the whole name) of ``out_dir``
        entries that belong to this step: those this run did not write are removed on
        success (outputs of an earlier run with other options).

    Yields
    ------
    Stage
        Write into ``stage.path``; return ``stage.finalize(outputs)``.
    """
    out_dir = Path(out_dir)
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        if publish:
            clean_stale(out_dir)
        try:
            stage = Stage(out_dir, step)
        except OSError as e:  # e.g. a read-only folder: name the folder, not the stage
            if e.errno is None:
                raise
            raise OSError(e.errno, e.strerror, os.fspath(out_dir)) from e
    try:
        try:
            yield stage
            if publish:
                stage.commit(owns)
        except Exception as e:
            named = _write_error(e, stage)
            if named is None:
                raise
            raise named from e
    finally:
        stage.discard()


#: errnos of a write the environment refused (what the command line reports in one line)
_WRITE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC,
                           errno.EDQUOT, errno.EFBIG})
_ERRNO_IN_TEXT = re.compile(r"(?:os error|errno =|\[Errno)\s*(\d+)")


def _write_error(e: BaseException, stage: Stage) -> OSError | None:
    """``OSError(errno, strerror, path)`` for a write the environment refused inside a stage,
    naming the final path (the file, or else the output folder); None for anything else."""
    if isinstance(e, BpnetkitError):
        return None
    code = getattr(e, "errno", None)
    if code is None:
        m = _ERRNO_IN_TEXT.search(str(e))
        code = int(m.group(1)) if m else None
    filename = getattr(e, "filename", None)
    if not isinstance(filename, str | os.PathLike):
        filename = None
    if code not in _WRITE_ERRNOS and not (isinstance(e, OSError) and code is not None and
                                          filename is not None):
        return None
    if filename is None:
        return OSError(code, os.strerror(code), os.fspath(stage.out_dir))
    final = stage.final(filename)
    if final == os.fspath(filename):
        return None  # already names a path outside the stage
    return OSError(code, os.strerror(code), final)
