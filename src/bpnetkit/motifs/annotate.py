"""Annotate seqlets and MoDISco patterns with a motif database (Tomtom via memelite).

Everything here works on arrays and dataclasses; the ``bpnetkit annotate`` step
(:mod:`bpnetkit.steps.annotate`) reads the files and writes the tables:

- seqlet queries: :func:`contribution_ppm` turns the hypothetical contributions of a seqlet
  core into a probability matrix (:func:`seqlet_queries`); with only a genome the query is the
  core's one-hot sequence;
- :func:`annotate_seqlets`: the best database match of every query (None above
  ``max_p_value``); :func:`motif_counts` and :func:`cooccurrence` summarise the labels per
  motif and per region;
- :func:`annotate_patterns`: the ``n_matches`` best matches of every MoDISco pattern's trimmed
  PFM, and :func:`pattern_match_rows` the table of them;
- :func:`label_seqlets`: the label a biologist would give each seqlet (see below), and
  :func:`pattern_membership` which MoDISco pattern each seqlet belongs to.

Labelling modes (:data:`MODES`):

- ``"pattern"`` (the default when MoDISco results are given): a seqlet belongs to the pattern
  whose MoDISco seqlet overlaps it most; it takes the label of that pattern's best Tomtom
  match when that match is significant (q <= ``max_q_value``) and better than the best
  match of every one of ``pattern_shuffles`` position-shuffled copies of the pattern
  (:func:`composition_p_values`): patterns that MoDISco assembles from composition-driven
  seqlets (GC-rich spans) "match" GC-rich zinc fingers with small q-values, and so do their
  shuffles.
  Any other seqlet keeps its own significant match only when that match's family is one a
  pattern established or is enriched among the seqlets (as in ``"seqlet"`` mode: short,
  low-information motifs often form no MoDISco pattern); everything else is unannotated.
- ``"seqlet"`` (the default without MoDISco): a seqlet takes its own best match when it is
  significant (q <= ``max_q_value``) and its family is *enriched*
  (:func:`enriched_families`): at least ``min_seqlets`` seqlets take it, and more than
  position-shuffled copies of the same queries do (one-sided Poisson test, p <=
  ``max_enrichment_p``). Short seqlet cores match some database motif with q <= 0.05 by
  chance (about one in five in a small demo run, as often as their shuffles), so a single
  seqlet's q-value is no evidence; the shuffles keep each query's base composition, so
  motifs that match on composition alone (GC-rich zinc fingers) are not enriched.
- ``"best_match"`` (the former behaviour): the best match of every seqlet with p <=
  ``max_p_value``, however weak, labelled by database motif.

In ``"pattern"`` and ``"seqlet"`` modes labels are motif families
(:mod:`bpnetkit.motifs.families`), so paralogs (SOX2, SOX3, ...) share one row.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif
from bpnetkit.io.modisco import Pattern
from bpnetkit.motifs.families import Families
from bpnetkit.motifs.tomtom import Match, tomtom_matches

PATTERN_MATCH_COLUMNS = ["pattern", "n_seqlets", "rank", "match", "match_name", "p_value",
                         "q_value", "strand", "offset"]
MOTIF_COUNT_COLUMNS = ["motif", "n_positive_seqlets", "n_negative_seqlets", "n_regions"]
UNANNOTATED = "(unannotated)"
MODES = ("auto", "pattern", "seqlet", "best_match")
"""Values of the annotate step's ``mode`` (``"auto"``: ``"pattern"`` with MoDISco results,
else ``"seqlet"``)."""

__all__ = ["MODES", "MOTIF_COUNT_COLUMNS", "PATTERN_MATCH_COLUMNS", "Pattern", "SeqletLabels",
           "annotate_patterns", "annotate_seqlets", "contribution_ppm", "cooccurrence",
           "label_seqlets", "match_label", "motif_counts", "pattern_match_rows",
           "pattern_membership", "seqlet_queries", "shuffled_queries", "significant",
           "enriched_families", "composition_p_values"]


def annotate_patterns(patterns: Sequence[Pattern], motifs: Sequence[Motif],
                      n_matches: int = 3, trim_threshold: float = 0.3) -> list[list[Match]]:
    """Tomtom matches of each pattern's trimmed PFM; one list of matches per pattern."""
    if not patterns:
        return []
    return tomtom_matches([p.trimmed(trim_threshold)[0] for p in patterns], motifs,
                          n_matches=n_matches)


def pattern_match_rows(patterns: Sequence[Pattern], matches: Sequence[Sequence[Match]]
                       ) -> list[list]:
    """Rows (columns :data:`PATTERN_MATCH_COLUMNS`) of every pattern's matches, rank 1 first."""
    rows = []
    for pat, ms in zip(patterns, matches, strict=True):
        for m in ms:
            rows.append([pat.name, pat.n_seqlets, m.rank + 1, m.target_name,
                         m.target_alt_name, m.p_value, m.q_value, m.strand, m.offset])
    return rows


def contribution_ppm(hypothetical: np.ndarray, one_hot: np.ndarray, sign: int = 1
                     ) -> np.ndarray:
    """A probability matrix ``(length, 4)`` from hypothetical contributions ``(4, length)``.

    Column ``j`` is the positive part of ``sign * hypothetical[:, j]`` normalised to sum to
    one (the bases the model would reward at that position); a column without a positive
    value falls back to the observed base (uniform where the base is N).
    """
    h = np.clip(sign * np.asarray(hypothetical, dtype=np.float64), 0, None)
    tot = h.sum(axis=0, keepdims=True)
    oh = np.asarray(one_hot, dtype=np.float64)
    oh = np.where(oh.sum(axis=0, keepdims=True) > 0, oh, 0.25)
    ppm = np.where(tot > 0, h / np.where(tot > 0, tot, 1), oh)
    return ppm.T


def seqlet_queries(hypothetical: np.ndarray, one_hot: np.ndarray, rows: np.ndarray,
                   core_starts: np.ndarray, core_ends: np.ndarray, signs: np.ndarray
                   ) -> list[np.ndarray]:
    """Tomtom queries ``(length, 4)`` of seqlet cores from hypothetical contributions.

    Parameters
    ----------
    hypothetical, one_hot : numpy.ndarray
        ``(R, 4, L)`` attributions and sequences of the windows holding the seqlets.
    rows : numpy.ndarray
        Row of ``hypothetical`` of every seqlet.
    core_starts, core_ends : numpy.ndarray
        Core span of every seqlet within its window (half-open).
    signs : numpy.ndarray
        +1/-1 per seqlet; negative seqlets use the negated contributions.
    """
    length = hypothetical.shape[2]
    out = []
    for k in range(len(rows)):
        r, a, b = int(rows[k]), int(core_starts[k]), int(core_ends[k])
        if a < 0 or b > length or a >= b:
            raise InputError(f"seqlet {k}: core {a}..{b} is not inside the {length} bp "
                             f"window of its attribution row {r}.")
        out.append(contribution_ppm(hypothetical[r, :, a:b], one_hot[r, :, a:b],
                                    int(np.sign(signs[k]) or 1)))
    return out


def annotate_seqlets(queries: Sequence[np.ndarray], motifs: Sequence[Motif],
                     max_p_value: float = 1e-3) -> list[Match | None]:
    """Best match of every query ``(length, 4)``: a Match, or None above ``max_p_value``.

    Rows without a base (all zero, e.g. N in a one-hot query) are made uniform, so that
    Tomtom sees a valid probability matrix.
    """
    fixed = [np.where(q.sum(axis=1, keepdims=True) > 0, q, 0.25) for q in queries]
    res = tomtom_matches(fixed, motifs, n_matches=1)
    return [m[0] if m and m[0].p_value <= max_p_value else None for m in res]


def match_label(match: Match | None) -> str | None:
    """``"<id> <name>"`` of a match (None for None)."""
    if match is None:
        return None
    return f"{match.target_name} {match.target_alt_name}".strip()


def cooccurrence(region_ids: np.ndarray, labels: Sequence[str | None]
                 ) -> tuple[list[str], np.ndarray]:
    """Region x motif co-occurrence: ``(motif names, counts (M, M))``.

    Entry ``(a, b)`` is the number of regions holding seqlets labelled ``a`` and ``b``; the
    diagonal is the number of regions holding ``a``. None labels are ignored.
    """
    per_region: dict[int, set[str]] = defaultdict(set)
    for r, lab in zip(region_ids, labels, strict=True):
        if lab:
            per_region[int(r)].add(lab)
    names = sorted({lab for lab in labels if lab})
    idx = {n: i for i, n in enumerate(names)}
    mat = np.zeros((len(names), len(names)), dtype=np.int64)
    for labs in per_region.values():
        ii = [idx[x] for x in labs]
        for a in ii:
            for b in ii:
                mat[a, b] += 1
    return names, mat


def motif_counts(labels: Sequence[str | None], signs: np.ndarray, region_ids: np.ndarray
                 ) -> list[list]:
    """Rows (columns :data:`MOTIF_COUNT_COLUMNS`) of seqlets per motif, most seqlets first.

    The last row, :data:`UNANNOTATED`, counts the seqlets without a match (its ``n_regions``
    is empty).
    """
    signs = np.asarray(signs)
    pos = Counter(lab for lab, s in zip(labels, signs) if lab and s > 0)
    neg = Counter(lab for lab, s in zip(labels, signs) if lab and s < 0)
    names, mat = cooccurrence(region_ids, labels)
    rows: list[list] = [[n, pos.get(n, 0), neg.get(n, 0), int(mat[i, i])]
                        for i, n in enumerate(names)]
    rows.sort(key=lambda r: -(r[1] + r[2]))
    rows.append([UNANNOTATED,
                 sum(1 for lab, s in zip(labels, signs) if lab is None and s > 0),
                 sum(1 for lab, s in zip(labels, signs) if lab is None and s < 0), ""])
    return rows


def significant(matches: Sequence[Sequence[Match]], max_q_value: float = 0.05
                ) -> list[Match | None]:
    """The best match of every query when its Tomtom q-value is <= ``max_q_value``."""
    return [ms[0] if ms and ms[0].q_value <= max_q_value else None for ms in matches]


def pattern_membership(examples: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                       signs: np.ndarray, pattern_seqlets: Sequence[dict[str, np.ndarray]]
                       ) -> np.ndarray:
    """Index of the pattern each seqlet belongs to (-1: none).

    Parameters
    ----------
    examples, starts, ends, signs : numpy.ndarray
        Our seqlets: attribution row, span within the row (half-open) and +1/-1.
    pattern_seqlets : sequence of dict
        Per pattern, its MoDISco seqlets as ``example``, ``start``, ``end`` arrays (in the
        same row coordinates) and ``sign`` (+1 for positive patterns, -1 for negative ones).

    A seqlet belongs to the pattern of the MoDISco seqlet of the same row and sign that
    overlaps it most (ties: the one whose centre is nearest); no overlap: -1.
    """
    by_key: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)
    for p, ps in enumerate(pattern_seqlets):
        sg = int(ps["sign"])
        for e, a, b in zip(ps["example"], ps["start"], ps["end"], strict=True):
            by_key[(int(e), sg)].append(np.array([a, b, p], dtype=np.int64))
    packed = {k: np.stack(v) for k, v in by_key.items()}
    out = np.full(len(examples), -1, dtype=np.int64)
    for k in range(len(examples)):
        cand = packed.get((int(examples[k]), int(np.sign(signs[k]) or 1)))
        if cand is None:
            continue
        a, b = int(starts[k]), int(ends[k])
        ov = np.minimum(cand[:, 1], b) - np.maximum(cand[:, 0], a)
        if ov.max() <= 0:
            continue
        dist = np.abs((cand[:, 0] + cand[:, 1]) - (a + b))
        best = np.lexsort((dist, -ov))[0]
        out[k] = cand[best, 2]
    return out


@dataclass
class SeqletLabels:
    """What :func:`label_seqlets` returns (one entry per seqlet).

    Attributes
    ----------
    labels : list of str or None
        Final label (a family or motif label); None: unannotated.
    motif : numpy.ndarray of int64
        Database motif behind the label (-1: none).
    source : list of str
        ``"pattern"`` (label of the seqlet's MoDISco pattern), ``"seqlet"`` (its own match)
        or ``""``.
    """

    labels: list[str | None]
    motif: np.ndarray
    source: list[str]


def composition_p_values(queries: Sequence[np.ndarray], best_p: Sequence[float],
                         motifs: Sequence[Motif], n_shuffles: int = 99,
                         random_state: int | None = 0) -> np.ndarray:
    """Empirical p-value of each query's best match against its position-shuffled copies.

    ``(1 + #{shuffles whose best Tomtom p-value <= the query's}) / (1 + n_shuffles)``: a
    match that a shuffle (same columns, other order) reaches as well rests on composition
    (e.g. a GC-rich pattern "matching" a GC-rich zinc finger), not on the motif.
    """
    if not len(queries):
        return np.zeros(0)
    sh = shuffled_queries(queries, n_shuffles, random_state)
    res = tomtom_matches(sh, motifs, n_matches=1)
    null = np.array([r[0].p_value if r else 1.0 for r in res]).reshape(n_shuffles,
                                                                      len(queries))
    return (1 + (null <= np.asarray(best_p)[None]).sum(axis=0)) / (1 + n_shuffles)


def shuffled_queries(queries: Sequence[np.ndarray], n_shuffles: int = 5,
                     random_state: int | None = 0) -> list[np.ndarray]:
    """``n_shuffles`` copies of every query with its positions (rows) permuted.

    Returned shuffle-major: copy ``s`` of query ``k`` is at ``s * len(queries) + k``.
    """
    from bpnetkit.utils import as_generator

    rng = as_generator(random_state)
    return [np.asarray(q)[rng.permutation(len(q))] for _ in range(n_shuffles)
            for q in queries]


def enriched_families(best: Sequence[Match | None], null_best: Sequence[Match | None],
                      families: Families, n_shuffles: int, min_seqlets: int = 5,
                      max_p_value: float = 0.01) -> set[int]:
    """Families that the queries match more often than their shuffles do.

    Parameters
    ----------
    best, null_best : sequence of Match or None
        Significant best matches of the queries and of ``n_shuffles`` shuffled copies of
        each (:func:`shuffled_queries`).
    families : Families
        Families of the database.
    min_seqlets : int
        Fewest queries a family needs.
    max_p_value : float
        Largest one-sided Poisson p-value of the observed count given the shuffles' mean
        count (floored at 0.1, so that a family the shuffles never hit still needs a few
        queries).
    """
    from scipy.stats import poisson

    obs = Counter(int(families.family[m.target]) for m in best if m is not None)
    null = Counter(int(families.family[m.target]) for m in null_best if m is not None)
    out = set()
    for f, n in obs.items():
        lam = max(null.get(f, 0) / max(n_shuffles, 1), 0.1)
        if n >= min_seqlets and float(poisson.sf(n - 1, lam)) <= max_p_value:
            out.add(f)
    return out


def label_seqlets(seqlet_best: Sequence[Match | None], motifs: Sequence[Motif],
                  families: Families, pattern_of: np.ndarray | None = None,
                  pattern_best: Sequence[Match | None] | None = None,
                  allowed: set[int] | None = None) -> SeqletLabels:
    """Family labels of seqlets, through their MoDISco pattern when given.

    Parameters
    ----------
    seqlet_best : sequence of Match or None
        Each seqlet's own significant best match (:func:`significant`).
    motifs : sequence of Motif
        The database the matches index.
    families : Families
        Families of ``motifs`` (:func:`~bpnetkit.motifs.families.motif_families`).
    pattern_of : numpy.ndarray or None
        Pattern index of each seqlet (-1: none; :func:`pattern_membership`). None: label
        every seqlet by its own match (``"seqlet"`` mode).
    pattern_best : sequence of Match or None
        Each pattern's significant best match (None: the pattern is unannotated).
    allowed : set of int or None
        Families a seqlet may take from its own match (:func:`enriched_families`), besides
        those of annotated patterns; None: all without patterns, none with them.

    A family's label names its matched members, most frequent first.
    """
    n = len(seqlet_best)
    motif = np.full(n, -1, dtype=np.int64)
    source = [""] * n
    if pattern_of is not None and pattern_best is None:
        raise InputError("label_seqlets: pattern_of needs pattern_best.")
    confirmed = {int(families.family[m.target]) for m in (pattern_best or []) if m is not None}
    for k, m in enumerate(seqlet_best):
        p = int(pattern_of[k]) if pattern_of is not None else -1
        if p >= 0 and pattern_best[p] is not None:
            motif[k], source[k] = pattern_best[p].target, "pattern"
        elif m is not None:
            f = int(families.family[m.target])
            if f in confirmed or (allowed is None and pattern_of is None) or \
                    (allowed is not None and f in allowed):
                motif[k], source[k] = m.target, "seqlet"
    fam = np.where(motif >= 0, families.family[np.maximum(motif, 0)], -1)
    names: dict[int, str] = {}
    for f in np.unique(fam[fam >= 0]):
        members = Counter(motif[fam == f].tolist())
        matched = [i for i, _ in sorted(members.items(), key=lambda kv: (-kv[1], kv[0]))]
        names[int(f)] = families.label(int(f), motifs, matched)
    labels = [names[int(f)] if f >= 0 else None for f in fam]
    return SeqletLabels(labels, motif, source)
