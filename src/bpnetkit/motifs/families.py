"""Motif families: paralogs of a database collapsed into one label.

A database such as JASPAR holds many near-identical matrices of paralogous factors (SOX2,
SOX3, SOX9, ...; GATA1, GATA2, ...). Which of them is the single best Tomtom match of a
seqlet or pattern is mostly chance, so labelling by the best match spreads one motif over
several rows. :func:`motif_families` groups the database into families:

1. the *stem* of a motif name (:func:`name_stem`) is its leading letters when digits
   follow (``SOX2`` -> ``SOX``, ``Gata4`` -> ``GATA``, ``NKX2-8`` -> ``NKX``), else the whole
   upper-cased name (``REST``, ``CTCF``); each part of a dimer is stemmed
   (``Pou5f1::Sox2`` -> ``POU::SOX``); JASPAR's ``(var.2)`` suffixes are ignored;
2. two motifs are in the same family when their stems share the first
   :data:`PREFIX_LETTERS` letters of each part (the whole part when it is shorter; a dimer
   is never joined with a monomer) **and** their matrices
   are Tomtom-similar (p <= ``max_p_value`` in either direction), or are linked by a chain
   of such pairs (connected components). Gene symbols name a family by a root and a
   subfamily letter (``FOXA2``, ``FOXP1``, ``FOXK2``; ``HOXA13``, ``HOXB13``; the NF-Y
   subunits ``NFYA``, ``NFYB``, ``NFYC``), whose matrices JASPAR holds near-identical: the
   shared prefix joins them. The name alone is not enough: ``ZNF263`` and ``ZNF454`` share a
   stem but not a motif, ``HNF1A`` and ``HNF4A`` a prefix but not a motif.

The JASPAR CORE MEME file carries no TF class or family metadata (only identifiers, names
and URLs), hence names plus similarity. A family of one motif keeps the motif's own label
``"<id> <name>"``; a family of matrices of one factor is ``"<name> (<ids>)"``; a larger one
is labelled ``"<STEM> family (<names>)"``, naming first the members that were matched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bpnetkit.io.meme import Motif

_VARIANT = re.compile(r"\(var\.\d+\)$", re.IGNORECASE)
_LEADING = re.compile(r"[A-Z]+")

#: letters of the stem that motifs must share to be compared for a family (the root of a
#: gene family symbol: FOX, HOX, NFY, SOX, GATA's GAT)
PREFIX_LETTERS = 3


def name_stem(name: str) -> str:
    """Family stem of a motif name (see the module docstring)."""
    parts = []
    for part in str(name).split("::"):
        p = _VARIANT.sub("", part.strip()).upper()
        m = _LEADING.match(p)
        if m and len(m.group()) >= 2 and len(m.group()) < len(p) and \
                p[len(m.group())].isdigit():
            p = m.group()
        parts.append(p)
    return "::".join(parts)


@dataclass
class Families:
    """Family of every database motif.

    Attributes
    ----------
    family : numpy.ndarray of int64
        Family index of each motif.
    stems : list of str
        Name stem of each family.
    members : list of list of int
        Motif indices of each family.
    """

    family: np.ndarray
    stems: list[str]
    members: list[list[int]]

    def label(self, family: int, motifs: Sequence[Motif],
              matched: Sequence[int] | None = None, max_names: int = 4) -> str:
        """Label of ``family``, naming the ``matched`` members first (see the module doc).

        ``matched`` are motif indices (e.g. most frequent first); None lists all members.
        """
        ms = self.members[int(family)]
        if len(ms) == 1:
            return motif_label(motifs[ms[0]])
        names = _unique([motifs[i].alt_name or motifs[i].name
                         for i in (matched if matched else sorted(
                             ms, key=lambda i: (motifs[i].alt_name or motifs[i].name).upper()))])
        if len({motifs[i].alt_name.upper() for i in ms}) == 1:
            return f"{motifs[ms[0]].alt_name} ({', '.join(motifs[i].name for i in ms)})"
        more = ", ..." if len(names) > max_names or (matched and len(ms) > len(names)) else ""
        return f"{self.stems[int(family)]} family ({', '.join(names[:max_names])}{more})"


def _prefix(stem: str) -> str:
    """The first :data:`PREFIX_LETTERS` letters of each part of a stem (a dimer's parts
    each: ``POU::SOX`` stays apart from ``POU``)."""
    return "::".join(part[:PREFIX_LETTERS] for part in stem.split("::"))


def _common_stem(stems: Sequence[str]) -> str:
    """The stems' longest common prefix (``FOXA``, ``FOXP`` -> ``FOX``); one stem as is."""
    return os.path.commonprefix(list(stems)).rstrip(":") or stems[0]


def _unique(xs: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return [x for x in xs if not (x in seen or seen.add(x))]


def motif_label(motif: Motif) -> str:
    """``"<id> <name>"`` of one motif."""
    return f"{motif.name} {motif.alt_name}".strip()


def singleton_families(motifs: Sequence[Motif]) -> Families:
    """Every motif its own family (no collapsing)."""
    n = len(motifs)
    return Families(np.arange(n, dtype=np.int64), [name_stem(m.alt_name or m.name)
                                                   for m in motifs], [[i] for i in range(n)])


_CACHE: dict[tuple, Families] = {}


def motif_families(motifs: Sequence[Motif], max_p_value: float = 1e-3) -> Families:
    """Group a motif database into families (name stem + Tomtom similarity).

    Parameters
    ----------
    motifs : sequence of Motif
        The database.
    max_p_value : float
        Tomtom p-value at or below which two motifs of one stem are linked.

    The result is cached per database (the built-in one takes a few seconds).
    """
    from bpnetkit.motifs.tomtom import tomtom_matches

    key = (float(max_p_value), tuple((m.name, m.alt_name, m.pwm.tobytes()) for m in motifs))
    if key in _CACHE:
        return _CACHE[key]
    n = len(motifs)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_prefix: dict[str, list[int]] = {}
    stems = [name_stem(m.alt_name or m.name) for m in motifs]
    for i, s in enumerate(stems):
        by_prefix.setdefault(_prefix(s), []).append(i)
    for idx in by_prefix.values():
        if len(idx) < 2:
            continue
        group = [motifs[i] for i in idx]
        res = tomtom_matches(group, group, n_matches=len(group), n_jobs=1)
        for qi, ms in enumerate(res):
            for m in ms:
                if m.target != qi and m.p_value <= max_p_value:
                    a, b = find(idx[qi]), find(idx[m.target])
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    roots: dict[int, int] = {}
    members: list[list[int]] = []
    family = np.empty(n, dtype=np.int64)
    for i in range(n):
        r = find(i)
        if r not in roots:
            roots[r] = len(members)
            members.append([])
        family[i] = roots[r]
        members[roots[r]].append(i)
    out = Families(family, [_common_stem([stems[i] for i in ms]) for ms in members],
                   members)
    _CACHE[key] = out
    return out
