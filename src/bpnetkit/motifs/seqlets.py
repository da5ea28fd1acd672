"""Recursive seqlet calling on attribution tracks.

A *seqlet* is a short span of a sequence whose attributions are collectively large. The exact
semantics of :func:`call_seqlets`:

1. **Score track.** ``s[n, i]`` is the attribution of position ``i`` of example ``n``: the sum
   over the four channels of the actual contributions (hypothetical * one-hot) when a
   ``(N, 4, L)`` array is given, or the ``(N, L)`` array itself.
2. **Span sums.** For every length ``l`` in ``min_length..max_length`` and every start ``i``,
   ``S_l[n, i] = s[n, i] + ... + s[n, i + l - 1]`` (spans lie fully inside the window).
3. **Empirical null.** The positions of every track are permuted at random (within each
   example, so each example keeps its own score distribution but loses its spatial
   clustering) and the span sums of length ``l`` of the permuted tracks, up to ``n_null``
   of them drawn uniformly, form the null of length ``l``. The p-value of a positive span is
   ``(1 + #{null >= S}) / (1 + n_null_l)``; of a negative span ``(1 + #{null <= S}) /
   (1 + n_null_l)``.
4. **Recursion.** A span of length ``min_length`` is *significant* if its p-value is below
   ``threshold``. A longer span ``[i, i + l)`` is significant if its own p-value is below
   ``threshold`` and both spans of length ``l - 1`` it contains (``[i, i + l - 1)`` and
   ``[i + 1, i + l)``) are significant. So every sub-span down to ``min_length`` is
   significant too, and a seqlet cannot carry a tail of unimportant positions longer than
   ``min_length - 1``.
5. **Selection.** Significant spans are taken greedily, best first: smallest p-value, then
   longest, then largest absolute attribution sum; a span is kept if it does not overlap a
   span already kept in the same example (positive and negative seqlets compete for
   positions). At most ``max_seqlets_per_example`` are kept per example (0 = no limit).
6. **Flanks.** The reported seqlet is the kept core ``[core_start, core_end)`` extended by
   ``flank`` positions on both sides, clipped to the window. ``attribution`` is the sum of
   scores over the core and ``p_value`` the core's p-value.

Because the null comes from the same tracks, it is only a good null when important positions
are a small fraction of all positions (as in real attribution windows of 1-2 kb); when motifs
cover a large fraction of the window, weak positions inside motifs can split or hide
seqlets.

Positive seqlets (``sign = +1``) are spans with large positive sums, negative seqlets
(``sign = -1``) spans with large negative sums; ``sign`` selects which are called.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bpnetkit.errors import InputError

log = logging.getLogger(__name__)

BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand", "attribution", "p_value",
               "sign", "example", "core_start", "core_end"]


@dataclass
class Seqlets:
    """Seqlets as parallel arrays (one entry per seqlet); coordinates within the window.

    Attributes
    ----------
    example, start, end, core_start, core_end : numpy.ndarray of int64
        Row of the attribution array, flanked span and core span (half-open).
    attribution : numpy.ndarray of float64
        Sum of position scores over the core.
    p_value : numpy.ndarray of float64
        Empirical p-value of the core (see the module docstring).
    sign : numpy.ndarray of int8
        +1 for positive, -1 for negative seqlets.
    """

    example: np.ndarray
    start: np.ndarray
    end: np.ndarray
    core_start: np.ndarray
    core_end: np.ndarray
    attribution: np.ndarray
    p_value: np.ndarray
    sign: np.ndarray

    def __len__(self) -> int:
        return int(self.example.shape[0])

    def subset(self, mask: np.ndarray) -> Seqlets:
        """The seqlets selected by a boolean mask or index array."""
        return Seqlets(**{k: getattr(self, k)[mask] for k in self.__dataclass_fields__})


def _span_sums(s: np.ndarray, length: int) -> np.ndarray:
    c = np.zeros((s.shape[0], s.shape[1] + 1), dtype=np.float64)
    np.cumsum(s, axis=1, out=c[:, 1:])
    return c[:, length:] - c[:, :-length]


def _pvalues(obs: np.ndarray, null_sorted: np.ndarray, positive: bool) -> np.ndarray:
    n = null_sorted.shape[0]
    if positive:
        ge = n - np.searchsorted(null_sorted, obs, side="left")
    else:
        ge = np.searchsorted(null_sorted, obs, side="right")
    return (1.0 + ge) / (1.0 + n)


def _select(cand_n, cand_i, cand_l, order, n_examples, width, max_per_example):
    """Greedy non-overlapping selection; returns indices into the candidate arrays."""
    taken = np.zeros((n_examples, width), dtype=np.bool_)
    counts = np.zeros(n_examples, dtype=np.int64)
    keep = np.empty(order.shape[0], dtype=np.int64)
    n_keep = 0
    for k in order:
        n, i, ln = cand_n[k], cand_i[k], cand_l[k]
        if max_per_example > 0 and counts[n] >= max_per_example:
            continue
        free = True
        for j in range(i, i + ln):
            if taken[n, j]:
                free = False
                break
        if not free:
            continue
        for j in range(i, i + ln):
            taken[n, j] = True
        counts[n] += 1
        keep[n_keep] = k
        n_keep += 1
    return keep[:n_keep]


_SELECT_JIT = None


def _select_numba_safe(cand_n, cand_i, cand_l, order, n_examples, width, max_per_example):
    """Run :func:`_select`, compiled with numba for large candidate sets when available."""
    global _SELECT_JIT
    if len(order) > 5000:
        try:
            if _SELECT_JIT is None:
                import numba

                _SELECT_JIT = numba.njit(_select)
            return _SELECT_JIT(cand_n, cand_i, cand_l, order, n_examples, width,
                               max_per_example)
        except Exception:  # pragma: no cover - numba missing or failing: plain Python
            pass
    return _select(cand_n, cand_i, cand_l, order, n_examples, width, max_per_example)


def position_scores(attributions: np.ndarray, one_hot: np.ndarray | None = None) -> np.ndarray:
    """Per-position scores ``(N, L)`` from ``(N, L)``, or ``(N, 4, L)`` (x one-hot if given)."""
    a = np.asarray(attributions, dtype=np.float64)
    if a.ndim == 3:
        if a.shape[1] != 4:
            raise InputError(f"attributions must be (N, 4, L) or (N, L), got {a.shape}.")
        if one_hot is not None:
            a = a * np.asarray(one_hot)
        return a.sum(axis=1)
    if a.ndim == 2:
        return a
    raise InputError(f"attributions must be (N, 4, L) or (N, L), got {a.shape}.")


def call_seqlets(attributions: np.ndarray, one_hot: np.ndarray | None = None,
                 threshold: float = 0.001, min_length: int = 4, max_length: int = 20,
                 flank: int = 0, sign: Literal["both", "positive", "negative"] = "both",
                 n_null: int = 200_000, max_seqlets_per_example: int = 0,
                 random_state: int | None = 0) -> Seqlets:
    """Call seqlets recursively on attribution tracks (semantics in the module docstring).

    Parameters
    ----------
    attributions : numpy.ndarray
        ``(N, L)`` position scores, or ``(N, 4, L)`` contributions (multiplied by
        ``one_hot`` first when it is given, i.e. hypothetical contributions).
    one_hot : numpy.ndarray or None
        ``(N, 4, L)`` sequences, to turn hypothetical into actual contributions.
    threshold : float
        Significance level for every span length.
    min_length, max_length : int
        Range of core lengths.
    flank : int
        Positions added on both sides of each core in ``start``/``end``.
    sign : {"both", "positive", "negative"}
        Which seqlets to call.
    n_null : int
        Null span sums per length (drawn from permuted tracks).
    max_seqlets_per_example : int
        Cap per example (0 = none).
    random_state : int or None
        Seed of the permutations.

    Returns
    -------
    Seqlets
        Sorted by example then start.
    """
    from bpnetkit.utils import as_generator

    s = position_scores(attributions, one_hot)
    n_ex, width = s.shape
    if not 1 <= min_length <= max_length:
        raise InputError(f"need 1 <= min_length <= max_length, got {min_length}, "
                         f"{max_length}.")
    if max_length > width:
        raise InputError(f"max_length {max_length} is longer than the attribution window "
                         f"({width}); use max_length <= {width}.")
    if not 0 < threshold <= 1:
        raise InputError(f"threshold must be in (0, 1], got {threshold}.")
    if sign not in ("both", "positive", "negative"):
        raise InputError(f"sign must be 'both', 'positive' or 'negative', got {sign!r}.")
    if flank < 0:
        raise InputError(f"flank must be >= 0, got {flank}.")
    rng = as_generator(random_state)
    # permuted copy of the tracks for the null (a subset of examples suffices)
    n_perm_rows = int(min(n_ex, max(1, np.ceil(n_null / max(1, width - max_length + 1)))))
    rows = rng.choice(n_ex, size=n_perm_rows, replace=False)
    perm = s[rows].copy()
    perm = rng.permuted(perm, axis=1)
    nulls: dict[int, np.ndarray] = {}

    def null_of(ln: int) -> np.ndarray:
        if ln not in nulls:
            null = _span_sums(perm, ln).ravel()
            if null.shape[0] > n_null:
                null = null[rng.integers(0, null.shape[0], size=n_null)]
            null.sort()
            nulls[ln] = null
        return nulls[ln]

    signs = {"both": (1, -1), "positive": (1,), "negative": (-1,)}[sign]
    cands = {"n": [], "i": [], "l": [], "p": [], "a": [], "sg": []}
    for sg in signs:
        prev_sig = None
        for ln in range(min_length, max_length + 1):
            obs = _span_sums(s, ln)
            # only spans whose two sub-spans are significant can be (recursion)
            sig = obs > 0 if sg > 0 else obs < 0
            if prev_sig is not None:
                sig &= prev_sig[:, :-1] & prev_sig[:, 1:]
            nn, ii = np.nonzero(sig)
            p = _pvalues(obs[nn, ii], null_of(ln), positive=sg > 0)
            keep = p < threshold
            nn, ii, p = nn[keep], ii[keep], p[keep]
            sig = np.zeros_like(sig)
            sig[nn, ii] = True
            prev_sig = sig
            if nn.size == 0:
                break
            cands["n"].append(nn)
            cands["i"].append(ii)
            cands["l"].append(np.full(nn.shape, ln))
            cands["p"].append(p)
            cands["a"].append(obs[nn, ii])
            cands["sg"].append(np.full(nn.shape, sg, dtype=np.int8))
    if not cands["n"]:
        empty_i = np.zeros(0, dtype=np.int64)
        return Seqlets(empty_i, empty_i, empty_i, empty_i, empty_i, np.zeros(0), np.zeros(0),
                       np.zeros(0, dtype=np.int8))
    c = {k: np.concatenate(v) for k, v in cands.items()}
    order = np.lexsort((-np.abs(c["a"]), c["p"], -c["l"]))
    keep = _select_numba_safe(c["n"].astype(np.int64), c["i"].astype(np.int64),
                              c["l"].astype(np.int64), order.astype(np.int64), n_ex, width,
                              int(max_seqlets_per_example))
    n, i, ln = c["n"][keep], c["i"][keep], c["l"][keep]
    out_order = np.lexsort((i, n))
    n, i, ln = n[out_order], i[out_order], ln[out_order]
    keep = keep[out_order]
    return Seqlets(example=n.astype(np.int64), start=np.maximum(i - flank, 0).astype(np.int64),
                   end=np.minimum(i + ln + flank, width).astype(np.int64),
                   core_start=i.astype(np.int64), core_end=(i + ln).astype(np.int64),
                   attribution=c["a"][keep].astype(np.float64),
                   p_value=c["p"][keep].astype(np.float64), sign=c["sg"][keep])


def write_seqlet_bed(path: str | Path, seqlets: Seqlets, chroms: np.ndarray,
                     starts: np.ndarray) -> Path:
    """Write seqlets as BED6+6 in genome coordinates (columns in :data:`BED_COLUMNS`).

    ``start``/``end`` are the flanked span, ``core_start``/``core_end`` the core, all
    0-based half-open genome coordinates; ``score`` is ``min(1000, -10 log10 p)``.
    """
    from bpnetkit.utils import atomic_path

    lines = ["#" + "\t".join(BED_COLUMNS)]
    for k in range(len(seqlets)):
        n = int(seqlets.example[k])
        off = int(starts[n])
        sgn = int(seqlets.sign[k])
        score = int(min(1000, round(-10 * np.log10(seqlets.p_value[k]))))
        lines.append("\t".join([
            str(chroms[n]), str(off + int(seqlets.start[k])), str(off + int(seqlets.end[k])),
            f"seqlet_{k}_{'pos' if sgn > 0 else 'neg'}", str(score), ".",
            f"{seqlets.attribution[k]:.6g}", f"{seqlets.p_value[k]:.4g}", str(sgn), str(n),
            str(off + int(seqlets.core_start[k])), str(off + int(seqlets.core_end[k]))]))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return Path(path)


def read_seqlet_bed(path: str | Path) -> dict[str, np.ndarray]:
    """Read a BED written by :func:`write_seqlet_bed` into column arrays."""
    from bpnetkit.errors import require_file

    path = require_file(path, "seqlet BED")
    rows = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) != len(BED_COLUMNS):
                raise InputError(f"{path}, line {lineno}: expected {len(BED_COLUMNS)} columns "
                                 f"({', '.join(BED_COLUMNS)}), found {len(f)}.")
            rows.append(f)
    cols = list(zip(*rows)) if rows else [[] for _ in BED_COLUMNS]
    out: dict[str, np.ndarray] = {}
    for name, vals in zip(BED_COLUMNS, cols):
        if name in ("chrom", "name", "strand"):
            out[name] = np.array(vals, dtype=object)
        elif name in ("attribution", "p_value"):
            out[name] = np.array(vals, dtype=np.float64)
        else:
            out[name] = np.array(vals, dtype=np.int64)
    return out


@dataclass
class SeqletsParams:
    """Parameters of ``bpnetkit seqlets`` (see :func:`call_seqlets` for the semantics).

    ``attributions`` is the h5 written by ``bpnetkit attribute``; ``regions`` the BED of its
    rows (null: coordinates stored in the h5, or ``row<i>``).
    """

    attributions: str
    output_dir: str
    regions: str | None = None
    name: str = "seqlets"
    threshold: float = 0.001
    min_length: int = 4
    max_length: int = 20
    flank: int = 0
    sign: Literal["both", "positive", "negative"] = "both"
    n_null: int = 200_000
    max_seqlets_per_example: int = 0
    random_state: int = 0

    def validate(self) -> None:
        """Check value ranges."""
        if not 1 <= self.min_length <= self.max_length:
            raise InputError(f"seqlets: need 1 <= min_length <= max_length, got "
                             f"{self.min_length}, {self.max_length}.")
        if not 0 < self.threshold <= 1:
            raise InputError(f"seqlets: threshold must be in (0, 1], got {self.threshold}.")


def run_seqlets(params: SeqletsParams) -> dict[str, str]:
    """Call seqlets on an attribution h5 and write ``<name>.bed`` (+ resolved params JSON).

    An empty result is written as a BED with only the header line, and a warning says how
    to get seqlets (a larger ``threshold`` or a smaller ``min_length``).
    """
    from bpnetkit.config import dump_config
    from bpnetkit.io.attributions import read_position_scores

    params.validate()
    out = Path(params.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    scores, chroms, starts = read_position_scores(params.attributions, params.regions)
    seq = call_seqlets(scores, threshold=params.threshold,
                       min_length=params.min_length, max_length=params.max_length,
                       flank=params.flank, sign=params.sign, n_null=params.n_null,
                       max_seqlets_per_example=params.max_seqlets_per_example,
                       random_state=params.random_state)
    bed = write_seqlet_bed(out / f"{params.name}.bed", seq, chroms, starts)
    if len(seq) == 0:
        log.warning("no seqlets found in %s at threshold %g; try a larger threshold or a "
                    "smaller min_length.", params.attributions, params.threshold)
        print(f"seqlets: no seqlets found in {params.attributions} at threshold "
              f"{params.threshold}; the BED has only a header. Try a larger threshold or a "
              f"smaller min_length.")
    cfg = dump_config(params, out / f"{params.name}.params.json")
    return {"seqlets": str(bed), "params": str(cfg)}
