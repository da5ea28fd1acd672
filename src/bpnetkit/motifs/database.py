"""Motif databases: the built-in JASPAR collection and picking motifs from a database.

The built-in database (:func:`builtin_motif_db_path`, :func:`load_builtin_motifs`) is JASPAR
CORE vertebrates non-redundant, release JASPAR2026 (1019 matrices, CC BY 4.0), shipped as
gzipped package data; see :mod:`bpnetkit.motifs.builtin`. :func:`load_motif_db` resolves the
``motif_db`` parameter that several commands take (``None`` means the built-in database).
The MEME file format itself is :mod:`bpnetkit.io.meme`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif, read_meme
from bpnetkit.motifs.builtin import BUILTIN_FILE

BUILTIN_NAMES = ("", "builtin", "jaspar")
"""Values of ``motif_db`` that mean the built-in database (as does None)."""


def builtin_motif_db_path() -> Path:
    """Path of the built-in JASPAR CORE vertebrates non-redundant MEME file (gzipped).

    Raises
    ------
    InputError
        When the package data file is missing (a broken installation).
    """
    p = Path(__file__).resolve().parent / "builtin" / BUILTIN_FILE
    if not p.exists():
        raise InputError(f"the built-in motif database is missing ({p}); reinstall bpnetkit "
                         f"or regenerate it with 'python -m bpnetkit.motifs.builtin.build'.")
    return p


def load_builtin_motifs() -> list[Motif]:
    """Motifs of the built-in database (JASPAR CORE vertebrates non-redundant)."""
    return read_meme(builtin_motif_db_path())


def motif_db_path(motif_db: str | Path | None = None) -> Path:
    """The MEME file that ``motif_db`` names (None or ``"builtin"``: the built-in one)."""
    if motif_db is None or str(motif_db) in BUILTIN_NAMES:
        return builtin_motif_db_path()
    return Path(motif_db)


def load_motif_db(motif_db: str | Path | None = None) -> list[Motif]:
    """Read ``motif_db`` (a MEME path) or, for None, the built-in database."""
    return read_meme(motif_db_path(motif_db))


def select_motifs(motifs: Sequence[Motif], names: Sequence[str] | None) -> list[Motif]:
    """Pick motifs by identifier or alternative name (case-insensitive), in ``names`` order.

    Parameters
    ----------
    motifs : sequence of Motif
        The database.
    names : sequence of str or None
        Identifiers (``MA0139.2``) or names (``CTCF``); None or empty returns all motifs.

    Raises
    ------
    InputError
        When a name matches nothing, with the closest available names.
    """
    if not names:
        return list(motifs)
    by_key: dict[str, Motif] = {}
    for m in motifs:
        by_key.setdefault(m.name.lower(), m)
        if m.alt_name:
            by_key.setdefault(m.alt_name.lower(), m)
    out = []
    for n in names:
        m = by_key.get(str(n).lower())
        if m is None:
            near = difflib.get_close_matches(str(n).lower(), list(by_key), n=3, cutoff=0.6)
            hint = f" Closest: {', '.join(near)}." if near else ""
            raise InputError(f"motif '{n}' is not in the motif database.{hint}")
        out.append(m)
    return out


def trim_motif(motif: Motif, min_ic: float = 0.3, min_length: int = 3) -> Motif:
    """Drop low-information flanks (positions with IC < ``min_ic`` bits) from both ends.

    A motif without any position of ``min_ic`` bits is returned unchanged; a trimmed core
    shorter than ``min_length`` is widened around its centre to ``min_length``.
    """
    ic = motif.information_content()
    keep = np.where(ic >= min_ic)[0]
    if keep.size == 0:
        return motif
    a, b = int(keep[0]), int(keep[-1]) + 1
    if b - a < min_length:
        mid = (a + b) // 2
        a = max(0, mid - min_length // 2)
        b = min(motif.length, a + min_length)
    return Motif(motif.name, motif.pwm[a:b], motif.alt_name, motif.nsites, motif.url,
                 dict(motif.meta))
