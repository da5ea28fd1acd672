"""A folder of extracted example arrays, reused across runs, steps and processes.

:func:`bpnetkit.data.datasets.extract_examples` with ``cache_dir`` looks here before it reads
the FASTA and the bigWigs. An entry holds the arrays of one extraction (``X.npy``, ``y.npy``
and, with controls, ``X_ctl.npy``) and is found by a key that covers everything the arrays
depend on:

- the genome FASTA and every signal and control bigWig: resolved path, size and
  modification time (a changed file is a new key, so an entry is never stale);
- the geometry: ``in_window``, ``out_window``, ``max_jitter``;
- the windows themselves (chromosome, start, end and source row of every kept locus, after
  the exclusion list): the loci file's content and order, not its name.

Entries are loaded memory-mapped (copy-on-write: the arrays are writable, and writes stay in
the process), so a hit costs the BED parsing and a hash instead of the extraction, and
processes that share a machine (ranks of ``torchrun``) share the pages. Entries appear only
when complete: they are written into a hidden folder and renamed into place; a folder that
does not read back as its key promises is ignored and rewritten. Nothing ever expires: delete
the folder (or any entry in it) at any time to reclaim the space.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bpnetkit.utils import current_umask

log = logging.getLogger(__name__)

#: bump when the arrays an extraction returns change meaning (old entries are then ignored)
FORMAT = 1

_NAMES = ("X", "y", "X_ctl")


def _identity(path: str | os.PathLike) -> list:
    """Resolved path, size and modification time (ns) of an input file."""
    p = Path(path).resolve()
    st = p.stat()
    return [str(p), st.st_size, st.st_mtime_ns]


def cache_key(genome_path: str | os.PathLike, signals: Sequence[str | os.PathLike],
              controls: Sequence[str | os.PathLike] | None, in_window: int, out_window: int,
              max_jitter: int, chroms: np.ndarray, starts: np.ndarray, ends: np.ndarray,
              rows: np.ndarray) -> str:
    """Hex SHA-256 of everything an extraction's arrays depend on (see the module docs).

    Parameters
    ----------
    genome_path, signals, controls
        The input files (identified by resolved path, size and modification time).
    in_window, out_window, max_jitter : int
        The geometry.
    chroms, starts, ends, rows : numpy.ndarray
        The padded windows to extract and the source row of each.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    h = hashlib.sha256()
    head = {"format": FORMAT, "genome": _identity(genome_path),
            "signals": [_identity(s) for s in signals],
            "controls": [_identity(c) for c in (controls or [])],
            "geometry": [int(in_window), int(out_window), int(max_jitter)], "n": len(starts)}
    h.update(json.dumps(head, sort_keys=True).encode())
    h.update("\0".join(map(str, chroms)).encode())
    for a in (starts, ends, rows):
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


def _entry(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:32]


def load(cache_dir: str | os.PathLike, key: str, shapes: dict[str, tuple | None]
         ) -> dict[str, np.ndarray | None] | None:
    """The arrays stored under ``key``, memory-mapped, or None (no entry, or an unusable one).

    Parameters
    ----------
    cache_dir : path
        The cache folder.
    key : str
        From :func:`cache_key`.
    shapes : dict
        Expected shape of ``"X"``, ``"y"`` and ``"X_ctl"`` (None: the array is absent); an
        entry whose arrays differ is not used.
    """
    entry = _entry(Path(cache_dir), key)
    meta_path = entry / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != key or meta.get("format") != FORMAT:
            raise ValueError("its key or format differs")
        out: dict[str, np.ndarray | None] = {}
        for name in _NAMES:
            if shapes[name] is None:
                out[name] = None
                continue
            a = np.load(entry / f"{name}.npy", mmap_mode="c", allow_pickle=False)
            if a.shape != tuple(shapes[name]):
                raise ValueError(f"{name} has shape {a.shape}, expected {shapes[name]}")
            out[name] = a.view(np.ndarray)
    except (OSError, ValueError) as e:
        log.warning("example cache entry '%s' is unusable (%s); extracting again.", entry, e)
        return None
    log.info("examples read from the cache entry '%s'.", entry)
    return out


def store(cache_dir: str | os.PathLike, key: str, arrays: dict[str, np.ndarray | None]) -> None:
    """Write ``arrays`` as the entry of ``key``; it appears only when complete.

    A failure to write (a full disk, a read-only folder) is logged and otherwise ignored: the
    extraction's result does not depend on the cache.
    """
    cache_dir = Path(cache_dir)
    entry = _entry(cache_dir, key)
    tmp = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=cache_dir))
        for name, a in arrays.items():
            if a is not None:
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(a), allow_pickle=False)
        shapes = {k: None if a is None else list(a.shape) for k, a in arrays.items()}
        (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, "key": key,
                                                   "shapes": shapes}, indent=1) + "\n")
        os.chmod(tmp, 0o777 & ~current_umask())
        if entry.exists():
            # an unusable entry (load() said why) or one another process has just written
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.rename(tmp, entry)
            tmp = None
        except OSError:
            if not (entry / "meta.json").exists():
                raise
            # another process renamed its (equal) entry into place first
    except OSError as e:
        log.warning("could not write the example cache entry '%s' (%s); the examples are "
                    "not cached.", entry, e)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
