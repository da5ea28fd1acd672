"""Which motifs did a run find with confidence? The rows of the report's first table.

:func:`motifs_found` sorts the TF-MoDISco patterns of a run into two lists:

- **motifs found**: one row per distinct motif (or motif family) and effect, merging the
  confident patterns whose best database matches are the same motif or paralogs of it
  (:func:`bpnetkit.motifs.families.motif_families`); sorted by their seqlets, most first;
- **other patterns (low confidence)**: every other pattern, with the reason it did not
  count. Nothing is dropped.

A pattern counts as a confident finding when all of these hold (the thresholds are the
module constants below, and the report prints them under its table):

1. it has at least ``max(MIN_SEQLETS, ceil(MIN_SEQLET_FRACTION * n))`` seqlets, where ``n``
   is the number of seqlets in all patterns of its sign (its metacluster: positive or
   negative contributions);
2. its best Tomtom match in the motif database has a q-value at most :data:`MAX_Q_VALUE`
   (Benjamini-Hochberg over the database, as the annotate and modisco steps write it in
   their ``pattern_matches`` tables); a match without a q-value needs a p-value at most
   :data:`MAX_P_VALUE` instead;
3. when composition p-values are given (:func:`pattern_composition_p`), that match is not
   explained by base composition: ``(1 + k) / (1 + n)`` is at most
   :data:`MAX_COMPOSITION_P`, where ``k`` of ``n`` (:data:`COMPOSITION_SHUFFLES`)
   position-shuffled copies of the pattern match the database at least as well. GC-rich
   patterns "match" GC-rich zinc fingers with small q-values, and short random patterns fit
   somewhere inside the 31-33 bp CTCF matrices of JASPAR with q < 0.05; their shuffles do
   as well.

Positive patterns (``pos_...``: the motif raises the predicted signal) and negative patterns
(``neg_...``: it lowers it) are never merged. Everything here works on patterns, matches and
motifs in memory (no files, no matplotlib), so benchmarks can call it on their own runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif
from bpnetkit.motifs.families import Families
from bpnetkit.motifs.tomtom import Match

MIN_SEQLETS = 20
"""Fewest seqlets a confident pattern has (see also :data:`MIN_SEQLET_FRACTION`)."""
MIN_SEQLET_FRACTION = 0.01
"""Smallest share of the seqlets of its metacluster (all patterns of its sign) a confident
pattern holds; the larger of this and :data:`MIN_SEQLETS` applies."""
MAX_Q_VALUE = 0.05
"""Largest Tomtom q-value of a confident pattern's best database match."""
MAX_P_VALUE = 1e-3
"""Largest Tomtom p-value of the best match when the match carries no q-value."""
MAX_COMPOSITION_P = 0.05
"""Largest composition p-value of a confident pattern's best match: ``(1 + k) / (1 + n)``
when ``k`` of ``n`` position-shuffled copies of the pattern match the database at least as
well (applied when composition p-values are given; with 99 copies, at most 4 may)."""
COMPOSITION_SHUFFLES = 99
"""Position-shuffled copies per pattern used by :func:`pattern_composition_p`."""

RAISES = "raises"
LOWERS = "lowers"

__all__ = ["COMPOSITION_SHUFFLES", "LOWERS", "MAX_COMPOSITION_P", "MAX_P_VALUE", "MAX_Q_VALUE",
           "MIN_SEQLETS", "MIN_SEQLET_FRACTION", "RAISES", "BestMatch", "MotifFound",
           "OtherPattern", "best_matches", "criteria_text", "min_seqlets_of",
           "motifs_found", "pattern_composition_p", "pattern_effect"]


@dataclass(frozen=True)
class BestMatch:
    """A pattern's best database match (from a :class:`~bpnetkit.motifs.tomtom.Match` or a
    row of a ``pattern_matches`` table).

    Attributes
    ----------
    motif_id, motif_name : str
        Database identifier and name of the motif.
    p_value : float
        Tomtom p-value.
    q_value : float or None
        Tomtom q-value (None: the table had none).
    target : int
        Index of the motif in the database (-1: not in the database given).
    """

    motif_id: str
    motif_name: str
    p_value: float
    q_value: float | None
    target: int = -1

    @property
    def label(self) -> str:
        """``"<id> <name>"``."""
        return f"{self.motif_id} {self.motif_name}".strip()


@dataclass
class MotifFound:
    """One row of the "Motifs found" table: a motif (or family) found with confidence.

    Attributes
    ----------
    motif_id, motif_name : str
        Best database match of the row's best pattern (the one with most seqlets).
    family : str
        Label of the motif family the merged matches belong to ("" when the motif has no
        paralog in the database).
    patterns : list of str
        The merged patterns, most seqlets first.
    n_seqlets : int
        Seqlets of all merged patterns.
    q_value : float or None
        Smallest q-value of the merged patterns' best matches (None: no q-values given).
    p_value : float
        Smallest p-value of those matches.
    effect : str
        :data:`RAISES` (positive patterns) or :data:`LOWERS` (negative patterns).
    matches : list of str
        ``"<id> <name>"`` of every distinct best match of the merged patterns.
    """

    motif_id: str
    motif_name: str
    family: str
    patterns: list[str]
    n_seqlets: int
    q_value: float | None
    p_value: float
    effect: str
    matches: list[str] = field(default_factory=list)

    @property
    def best_pattern(self) -> str:
        """The merged pattern with most seqlets."""
        return self.patterns[0]

    @property
    def motif(self) -> str:
        """``"<name> (<id>)"`` (the identifier alone when the motif has no name)."""
        return f"{self.motif_name} ({self.motif_id})" if self.motif_name else self.motif_id


@dataclass
class OtherPattern:
    """One row of the "Other patterns (low confidence)" table.

    Attributes
    ----------
    pattern : str
        Pattern name.
    n_seqlets : int
        Its seqlets.
    effect : str
        :data:`RAISES` or :data:`LOWERS`.
    best_match : str
        ``"<id> <name>"`` of its best database match ("" when there is none).
    q_value : float or None
        q-value of that match.
    reason : str
        Why it is not a confident finding (several reasons joined by ``"; "``).
    """

    pattern: str
    n_seqlets: int
    effect: str
    best_match: str
    q_value: float | None
    reason: str


def pattern_effect(name: str) -> str:
    """:data:`LOWERS` for negative patterns (``neg_patterns.pattern_0``, ``neg_0``), else
    :data:`RAISES`."""
    return LOWERS if str(name).lower().startswith("neg") else RAISES


def min_seqlets_of(n_total: int, min_seqlets: int = MIN_SEQLETS,
                   min_seqlet_fraction: float = MIN_SEQLET_FRACTION) -> int:
    """Fewest seqlets a confident pattern needs in a metacluster of ``n_total`` seqlets."""
    return max(int(min_seqlets), math.ceil(float(min_seqlet_fraction) * int(n_total)))


def _number(v: Any) -> float | None:
    """A float from a table cell (None for empty, missing or NaN)."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _best_of(ms: Sequence[Match | Mapping[str, Any]], index: Mapping[str, int]
             ) -> BestMatch | None:
    """The rank-1 match of one pattern's matches (Match objects or table rows)."""
    if not ms:
        return None
    if isinstance(ms[0], Match):
        m = min(ms, key=lambda x: x.rank)
        target = m.target if index.get(m.target_name, -2) == m.target else \
            index.get(m.target_name, -1)
        return BestMatch(m.target_name, m.target_alt_name, float(m.p_value),
                         _number(m.q_value), target)
    rows = sorted(ms, key=lambda r: (_number(r.get("rank")) or 0.0))
    r = rows[0]
    motif_id = str(r.get("match", "") or "")
    if not motif_id:
        return None
    p = _number(r.get("p_value"))
    return BestMatch(motif_id, str(r.get("match_name", "") or ""), 1.0 if p is None else p,
                     _number(r.get("q_value")), index.get(motif_id, -1))


def best_matches(patterns: Sequence[Any],
                 matches: Sequence[Sequence[Match | Mapping[str, Any]]]
                 | Mapping[str, Sequence[Match | Mapping[str, Any]]],
                 motifs: Sequence[Motif]) -> list[BestMatch | None]:
    """The best database match of every pattern (None: it has none).

    Parameters
    ----------
    patterns : sequence of Pattern
        Anything with ``name`` (and ``n_seqlets``), e.g.
        :class:`~bpnetkit.io.modisco.Pattern`.
    matches : sequence (aligned with ``patterns``) or dict pattern name -> matches
        Each pattern's matches: :class:`~bpnetkit.motifs.tomtom.Match` objects (as from
        :func:`~bpnetkit.motifs.annotate.annotate_patterns`) or rows of a
        ``pattern_matches`` table (``match``, ``match_name``, ``rank``, ``p_value``,
        ``q_value``).
    motifs : sequence of Motif
        The database the matches refer to.
    """
    index = {m.name: i for i, m in enumerate(motifs)}
    if isinstance(matches, Mapping):
        per = [list(matches.get(p.name, [])) for p in patterns]
    else:
        per = [list(ms) for ms in matches]
        if len(per) != len(patterns):
            raise InputError(f"motifs_found: {len(per)} match lists for {len(patterns)} "
                             f"patterns; give one list per pattern, or a dict keyed by "
                             f"pattern name.")
    return [_best_of(ms, index) for ms in per]


def _significant(m: BestMatch | None, max_q_value: float, max_p_value: float) -> bool:
    if m is None:
        return False
    if m.q_value is not None:
        return m.q_value <= max_q_value
    return m.p_value <= max_p_value


def motifs_found(patterns: Sequence[Any],
                 matches: Sequence[Sequence[Match | Mapping[str, Any]]]
                 | Mapping[str, Sequence[Match | Mapping[str, Any]]],
                 motifs: Sequence[Motif], families: Families | None = None,
                 composition_p: Sequence[float | None] | Mapping[str, float] | None = None,
                 *, min_seqlets: int = MIN_SEQLETS,
                 min_seqlet_fraction: float = MIN_SEQLET_FRACTION,
                 max_q_value: float = MAX_Q_VALUE, max_p_value: float = MAX_P_VALUE,
                 max_composition_p: float = MAX_COMPOSITION_P
                 ) -> tuple[list[MotifFound], list[OtherPattern]]:
    """The motifs a run found with confidence, and the patterns that are not confident.

    Parameters
    ----------
    patterns : sequence of Pattern
        The run's MoDISco patterns (anything with ``name`` and ``n_seqlets``); names
        starting with ``neg`` are negative patterns.
    matches : sequence (aligned with ``patterns``) or dict pattern name -> matches
        Each pattern's Tomtom matches (see :func:`best_matches`).
    motifs : sequence of Motif
        The motif database the matches refer to.
    families : Families or None
        Families of ``motifs`` (None: :func:`~bpnetkit.motifs.families.motif_families`;
        pass :func:`~bpnetkit.motifs.families.singleton_families` to merge only patterns
        with the very same best match).
    composition_p : sequence or dict pattern name -> float, or None
        Composition p-value of every pattern's best match
        (:func:`pattern_composition_p`; None entries are not tested); None: criterion 3 of
        the module doc is not applied.
    min_seqlets, min_seqlet_fraction, max_q_value, max_p_value, max_composition_p
        The thresholds (module doc; defaults: the module constants).

    Returns
    -------
    (list of MotifFound, list of OtherPattern)
        Confident rows sorted by seqlets (most first, then smallest q-value), and the other
        patterns sorted by seqlets with the reason each was left out. Every pattern is in
        exactly one row of the two lists.
    """
    if families is None:
        from bpnetkit.motifs.families import motif_families

        families = motif_families(motifs)
    best = best_matches(patterns, matches, motifs)
    if composition_p is None:
        comp: list[float | None] = [None] * len(patterns)
    elif isinstance(composition_p, Mapping):
        comp = [composition_p.get(p.name) for p in patterns]
    else:
        comp = list(composition_p)
        if len(comp) != len(patterns):
            raise InputError(f"motifs_found: {len(comp)} composition p-values for "
                             f"{len(patterns)} patterns; give one per pattern (None: not "
                             f"tested), or a dict keyed by pattern name.")
    totals: dict[str, int] = {}
    for p in patterns:
        eff = pattern_effect(p.name)
        totals[eff] = totals.get(eff, 0) + int(p.n_seqlets)
    need = {eff: min_seqlets_of(n, min_seqlets, min_seqlet_fraction)
            for eff, n in totals.items()}

    groups: dict[tuple[str, Any], list[tuple[Any, BestMatch]]] = {}
    others: list[OtherPattern] = []
    for p, m, c in zip(patterns, best, comp, strict=True):
        eff, n = pattern_effect(p.name), int(p.n_seqlets)
        reasons = []
        if n < need[eff]:
            reasons.append(f"few seqlets ({n} < {need[eff]})")
        if m is None:
            reasons.append("no database match")
        elif not _significant(m, max_q_value, max_p_value):
            reasons.append(f"no significant match (q = {m.q_value:.2g} > {max_q_value:g})"
                           if m.q_value is not None else
                           f"no significant match (p = {m.p_value:.2g} > {max_p_value:g})")
        elif c is not None and float(c) > max_composition_p:
            reasons.append(f"match explained by composition (shuffled copies match as "
                           f"well: composition p = {float(c):.2g} > {max_composition_p:g})")
        if reasons:
            others.append(OtherPattern(p.name, n, eff, m.label if m else "",
                                       m.q_value if m else None, "; ".join(reasons)))
            continue
        fam = int(families.family[m.target]) if m.target >= 0 else ("id", m.motif_id)
        groups.setdefault((eff, fam), []).append((p, m))

    found = []
    for (eff, fam), members in groups.items():
        members.sort(key=lambda pm: (-int(pm[0].n_seqlets), _q_or_p(pm[1]), pm[0].name))
        top = members[0][1]
        qs = [m.q_value for _, m in members if m.q_value is not None]
        matched = list(dict.fromkeys(m.label for _, m in members))
        family = ""
        if isinstance(fam, int) and len(families.members[fam]) > 1:
            idx = list(dict.fromkeys(m.target for _, m in members))
            family = families.label(fam, motifs, idx)
        found.append(MotifFound(
            motif_id=top.motif_id, motif_name=top.motif_name, family=family,
            patterns=[p.name for p, _ in members],
            n_seqlets=sum(int(p.n_seqlets) for p, _ in members),
            q_value=min(qs) if qs else None, p_value=min(m.p_value for _, m in members),
            effect=eff, matches=matched))
    found.sort(key=lambda r: (-r.n_seqlets, r.q_value if r.q_value is not None else r.p_value,
                              r.motif_id, r.effect))
    others.sort(key=lambda r: (-r.n_seqlets, r.pattern))
    return found, others


def _q_or_p(m: BestMatch) -> float:
    return m.q_value if m.q_value is not None else m.p_value


def pattern_composition_p(patterns: Sequence[Any],
                          matches: Sequence[Sequence[Match | Mapping[str, Any]]]
                          | Mapping[str, Sequence[Match | Mapping[str, Any]]],
                          motifs: Sequence[Motif], trim_threshold: float = 0.3,
                          n_shuffles: int = COMPOSITION_SHUFFLES,
                          max_q_value: float = MAX_Q_VALUE, max_p_value: float = MAX_P_VALUE,
                          random_state: int | None = 0) -> list[float | None]:
    """Composition p-value of every pattern's best match
    (:func:`~bpnetkit.motifs.annotate.composition_p_values` of the trimmed PFM).

    Only patterns whose best match is significant are tested (the others get None), so the
    cost is ``n_shuffles`` Tomtom queries per significant pattern.

    Parameters
    ----------
    patterns : sequence of Pattern
        :class:`~bpnetkit.io.modisco.Pattern` objects (``trimmed`` is used).
    matches : sequence or dict
        Their matches (see :func:`best_matches`).
    motifs : sequence of Motif
        The database.
    trim_threshold : float
        Trimming of the patterns, as used for the matches.
    n_shuffles : int
        Position-shuffled copies per pattern (0: return all None).
    max_q_value, max_p_value : float
        What counts as a significant best match (as in :func:`motifs_found`).
    random_state : int or None
        Seed of the shuffles.
    """
    from bpnetkit.motifs.annotate import composition_p_values

    best = best_matches(patterns, matches, motifs)
    out: list[float | None] = [None] * len(patterns)
    todo = [i for i, m in enumerate(best) if _significant(m, max_q_value, max_p_value)]
    if not todo or n_shuffles <= 0:
        return out
    ps = composition_p_values([patterns[i].trimmed(trim_threshold)[0] for i in todo],
                              [best[i].p_value for i in todo], motifs, n_shuffles,
                              random_state)
    for i, c in zip(todo, np.asarray(ps, dtype=float).tolist(), strict=True):
        out[i] = float(c)
    return out


def criteria_text(min_seqlets: int = MIN_SEQLETS,
                  min_seqlet_fraction: float = MIN_SEQLET_FRACTION,
                  max_q_value: float = MAX_Q_VALUE, max_p_value: float = MAX_P_VALUE,
                  max_composition_p: float | None = MAX_COMPOSITION_P,
                  n_shuffles: int = COMPOSITION_SHUFFLES) -> str:
    """The confidence criteria in one paragraph of plain text (shown under the table)."""
    text = (f"A MoDISco pattern counts as a motif found with confidence when it has at least "
            f"max({min_seqlets}, {min_seqlet_fraction:.0%} of the seqlets of all patterns of "
            f"its sign) seqlets and its best Tomtom match in the motif database has q <= "
            f"{max_q_value:g} (p <= {max_p_value:g} where no q-value was computed)")
    if max_composition_p is not None and n_shuffles > 0:
        text += (f", and that match is not explained by base composition: its composition "
                 f"p-value, (1 + shuffles that match at least as well) / (1 + {n_shuffles}) "
                 f"over {n_shuffles} position-shuffled copies of the pattern, is <= "
                 f"{max_composition_p:g}")
    return text + (". Patterns whose best matches are the same motif or paralogs (one motif "
                   "family) are merged into one row; positive patterns (the motif raises the "
                   "predicted signal) and negative ones (it lowers it) are kept apart. Rows "
                   "are sorted by seqlets. Every other pattern is listed under 'Other "
                   "patterns (low confidence)' with the reason.")
