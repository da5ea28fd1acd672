"""Pick one model file out of a ``.tar`` / ``.tar.gz`` archive (e.g. ENCODE releases).

ENCODE ChromBPNet model archives hold, per fold, ``model.bias_scaled.fold_N.*.h5``,
``model.chrombpnet_nobias.fold_N.*.h5`` and ``model.chrombpnet.fold_N.*.h5``, sometimes
inside nested per-fold archives. :func:`extract_member` unpacks safely (no absolute paths,
no links outside the folder) into a temporary folder and yields the chosen file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bpnetkit.errors import InputError

MODEL_SUFFIXES = (".h5", ".hdf5", ".torch", ".pt", ".pth", ".safetensors")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def _is_archive(p: Path) -> bool:
    return p.name.lower().endswith(ARCHIVE_SUFFIXES)


def _unpack(archive: Path, dest: Path, depth: int = 0) -> None:
    if depth > 3:
        raise InputError(f"'{archive}': archives nested more than 3 deep.")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise InputError(f"'{archive}' is not a readable tar archive: {e}") from None
    for inner in sorted(dest.rglob("*")):
        if inner.is_file() and _is_archive(inner):
            sub = inner.parent / (inner.name + ".d")
            sub.mkdir()
            _unpack(inner, sub, depth + 1)


def list_models(root: Path) -> list[Path]:
    """Model files (and native folders) under ``root``."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name.lower().endswith(MODEL_SUFFIXES) and \
                not p.name.startswith("._"):
            if p.suffix == ".safetensors":
                out.append(p.parent)
            else:
                out.append(p)
    return out


def _fold_of(path: Path) -> str | None:
    m = re.findall(r"fold[_-]?(\d+)", str(path))
    return m[-1] if m else None


def choose(candidates: list[Path], root: Path, member: str | None, fold: int | str | None,
           where: str) -> Path:
    """Select one candidate by ``fold`` and ``member`` name; clear errors otherwise."""
    rel = {c: c.relative_to(root).as_posix().replace(".d/", "/") for c in candidates}
    pool = list(candidates)
    if fold is not None:
        want = str(fold).lower().removeprefix("fold").lstrip("_-")
        pool = [c for c in pool if _fold_of(c.relative_to(root)) == want]
        if not pool:
            folds = sorted({f for c in candidates if (f := _fold_of(c.relative_to(root)))})
            raise InputError(f"{where}: no model files for fold {fold}; folds present: "
                             f"{', '.join(folds) or 'none'}.")
    if member is not None:
        m = member.lower()

        def stem(c: Path) -> str:
            name = c.name.lower()
            for suf in MODEL_SUFFIXES:
                name = name.removesuffix(suf)
            return name

        exact = [c for c in pool if stem(c) == m or c.name.lower() == m]
        token = [c for c in pool
                 if re.search(rf"(^|[./-]){re.escape(m)}([./-]|$)", rel[c].lower())]
        loose = [c for c in pool if m in rel[c].lower()]
        pool = exact or token or loose
        if not pool:
            raise InputError(f"{where}: no model file matches '{member}'. Files: "
                             f"{', '.join(rel[c] for c in candidates)}.")
    if len(pool) != 1:
        names = ", ".join(rel[c] for c in pool) or "none"
        raise InputError(f"{where}: {len(pool)} model files match; pick one with member= "
                         f"(part of the file name, e.g. 'chrombpnet_nobias') and/or fold=. "
                         f"Candidates: {names}.")
    return pool[0]


@contextlib.contextmanager
def extract_member(path: str | os.PathLike, member: str | None = None,
                   fold: int | str | None = None) -> Iterator[Path]:
    """Yield the path of one model file extracted from the archive ``path``.

    Parameters
    ----------
    path : str or PathLike
        A ``.tar``, ``.tar.gz`` or ``.tgz`` file (nested archives are unpacked too).
    member : str or None
        Which file, by name: its stem, a dot-separated token (``"chrombpnet"`` picks
        ``model.chrombpnet.fold_0.h5`` but not ``..._nobias``) or a substring.
    fold : int, str or None
        Keep only files under/named ``fold_N``.
    """
    archive = Path(path)
    with tempfile.TemporaryDirectory(prefix="bpnetkit-archive-") as tmp:
        root = Path(tmp)
        _unpack(archive, root)
        candidates = list_models(root)
        if not candidates:
            raise InputError(f"'{archive}': no model files ({', '.join(MODEL_SUFFIXES)}) "
                             f"inside.")
        yield choose(candidates, root, member, fold, where=f"'{archive}'")
