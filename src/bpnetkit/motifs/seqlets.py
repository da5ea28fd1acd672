"""Recursive seqlet calling on attribution tracks, with false discovery control.

A *seqlet* is a short span of a sequence whose attributions are collectively large. The exact
semantics of :func:`call_seqlets`:

1. **Score track.** ``s[n, i]`` is the attribution of position ``i`` of example ``n``: the sum
   over the four channels of the actual contributions (hypothetical * one-hot) when a
   ``(N, 4, L)`` array is given, or the ``(N, L)`` array itself.
2. **Span sums.** For every length ``l`` in ``min_length..max_length`` and every start ``i``,
   ``S_l[n, i] = s[n, i] + ... + s[n, i + l - 1]`` (spans lie fully inside the window).
3. **Permuted copy.** The null is the same tracks with the positions of every row permuted
   at random (each row keeps its own values, so the null adapts to the noise level of the
   data, but loses the spatial clustering of the signal).

``method="fdr"`` (default)
    3b. **Robust track.** Steps 2-7 run on :func:`robust_track` of ``s``, not on ``s``: each
       row is centred and divided by a robust scale (a Huber-type fixed point: the mean
       absolute deviation of the values clipped at ``clip`` scales), clipped to ``[-clip,
       clip]`` scales (default 5) and standardised to mean 0 and variance 1. Real attribution
       tracks are sparse and heavy-tailed: a few isolated extreme positions (often
       alternating in sign) carry most of the variance. Unclipped, the permuted copy keeps
       those values, and short spans holding one of them score as high as whole motifs, so
       no threshold reaches a low FDR (no seqlet at all on a trained BPNet's attributions).
       Clipped, one position adds at most ``clip`` scales to a span and only contiguous runs
       of large values score high; the per-row scale makes rows of very different
       magnitudes comparable. The transformation acts on each value alone (given statistics
       of its row's values that do not depend on their order), so it commutes with the
       permutation and the null stays exact.
    4. **z-scores.** ``z = (S_l - mu_l) / sd_l`` (``-z`` for negative seqlets), with
       ``mu_l, sd_l`` the exact mean and standard deviation of span sums of length ``l`` over
       within-row permutations (sampling without replacement; with standardised rows these
       are the same for every row).
    5. **Recursive score.** ``r`` of a span is the smallest ``z`` over the span and all its
       sub-spans down to ``min_length`` (``r_l[i] = min(z_l[i], r_{l-1}[i], r_{l-1}[i+1])``):
       a span passes a threshold only if every sub-span does, so a seqlet cannot carry a tail
       of unimportant positions longer than ``min_length - 1``.
    6. **Selection at a threshold t.** Spans with ``r >= t`` are taken greedily by largest
       ``z``, keeping a span when it does not overlap one already kept in the same example
       (positive and negative seqlets compete for positions), at most
       ``max_seqlets_per_example`` per example (0 = no limit).
    7. **False discovery rate.** The same selection runs on the permuted copy. The estimated
       FDR at ``t`` is ``(n_copy(t) + 1) / n_data(t)`` (seqlets called on the copy, plus
       one, over seqlets called on the data: the target-decoy estimate with the offset that
       keeps it conservative); ``t`` is the smallest threshold on the grid ``min_z, min_z +
       0.1, ...`` with an estimate ``<= fdr``. With no such threshold no seqlet is called.
       On pure noise the data and the copy are exchangeable, so calling anything needs
       ``1 / fdr`` seqlets in the data above a threshold that the copy does not reach:
       noise tracks give (almost) no seqlets whatever their scale.
    8. ``p_value`` is the core's per-length empirical p-value against the spans of the
       permuted copy of the first rows (about ``n_null`` spans per length; z binned to 0.01).

``method="threshold"``
    4. The span sums of length ``l`` of the permuted tracks, up to ``n_null`` of them drawn
       uniformly, form the null of length ``l``. The p-value of a positive span is ``(1 +
       #{null >= S}) / (1 + n_null_l)``; of a negative span ``(1 + #{null <= S}) / (1 +
       n_null_l)``.
    5. A span of length ``min_length`` is significant if its p-value is below
       ``threshold``; a longer span if its own p-value is below ``threshold`` and both spans
       of length ``l - 1`` it contains are significant.
    6. Selection as above, best first by smallest p-value, then longest, then largest
       absolute attribution sum. Every span is tested at ``threshold`` with no correction
       for the number of spans: about one false seqlet per kb of noise at 0.001.

**Flanks.** The reported seqlet is the kept core ``[core_start, core_end)`` extended by
``flank`` positions on both sides, clipped to the window. ``attribution`` is the sum of
scores ``s`` (not of the robust track) over the core.

Because the null comes from the same tracks, it is a good null when important positions are
a small fraction of all positions (as in real attribution windows of 1-2 kb); when motifs
cover a large fraction of the window the permuted copy carries their values too and fewer
seqlets are called. Positions are assumed exchangeable under the null: attributions that are
smooth along the sequence (strongly autocorrelated noise) make the copy too optimistic.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bpnetkit.errors import InputError

logger = logging.getLogger(__name__)


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


def _select_fast(cand_n, cand_i, cand_l, order, n_examples, width, max_per_example):
    """Run :func:`_select`, compiled with numba (a dependency) for large candidate sets."""
    global _SELECT_JIT
    if len(order) > 5000:
        if _SELECT_JIT is None:
            import numba

            _SELECT_JIT = numba.njit(_select)
        return _SELECT_JIT(cand_n, cand_i, cand_l, order, n_examples, width, max_per_example)
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


def _empty() -> Seqlets:
    empty_i = np.zeros(0, dtype=np.int64)
    return Seqlets(empty_i, empty_i, empty_i, empty_i, empty_i, np.zeros(0), np.zeros(0),
                   np.zeros(0, dtype=np.int8))


def _finish(c: dict[str, np.ndarray], keep: np.ndarray, flank: int, width: int) -> Seqlets:
    n, i, ln = c["n"][keep], c["i"][keep], c["l"][keep]
    out_order = np.lexsort((i, n))
    n, i, ln = n[out_order], i[out_order], ln[out_order]
    keep = keep[out_order]
    return Seqlets(example=n.astype(np.int64), start=np.maximum(i - flank, 0).astype(np.int64),
                   end=np.minimum(i + ln + flank, width).astype(np.int64),
                   core_start=i.astype(np.int64), core_end=(i + ln).astype(np.int64),
                   attribution=c["a"][keep].astype(np.float64),
                   p_value=c["p"][keep].astype(np.float64), sign=c["sg"][keep])


def _call_threshold(s, threshold, min_length, max_length, flank, signs, n_null,
                    max_per_example, rng) -> Seqlets:
    """``method="threshold"``: every span length tested at ``threshold`` (no FDR control)."""
    n_ex, width = s.shape
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
        return _empty()
    c = {k: np.concatenate(v) for k, v in cands.items()}
    order = np.lexsort((-np.abs(c["a"]), c["p"], -c["l"]))
    keep = _select_fast(c["n"].astype(np.int64), c["i"].astype(np.int64),
                        c["l"].astype(np.int64), order.astype(np.int64), n_ex, width,
                        int(max_per_example))
    return _finish(c, keep, flank, width)


def _null_moments(s: np.ndarray, lengths: range) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of span sums of each length over within-row permutations.

    A span of ``l`` positions of a randomly permuted row is a sample of ``l`` of its values
    without replacement: mean ``l * m_n``, variance ``l * v_n * (L - l) / (L - 1)``; pooled
    over rows (law of total variance).
    """
    width = s.shape[1]
    m = s.mean(axis=1)
    v = np.maximum(np.einsum("ij,ij->i", s, s) / width - m * m, 0.0)
    ls = np.asarray(lengths, dtype=np.float64)
    mu = ls * m.mean()
    within = ls * v.mean() * (width - ls) / max(width - 1, 1)
    between = ls ** 2 * m.var()
    sd = np.sqrt(within + between)
    sd[sd == 0] = np.inf  # constant tracks: every z is 0 (1 / sd = 0)
    return mu, sd


_HIST_STEP = 0.01  # bin width (in z) of the permuted copy's z histogram (p-values)
_HIST_BINS = 4000
_2_POW_M53 = 2.0 ** -53


def _scan(s, lengths, mu, inv_sd, signs, floor, n_hist, seed, cap):
    """Spans whose recursive score (min z over all sub-spans) is >= ``floor``; numba kernel.

    The spans of length ``l + 1`` that can pass are the ones whose two sub-spans of length
    ``l`` passed, so after the first length only those are visited. Returns the candidate
    columns (example, start, length, z, recursive score, sum, sign; at most ``cap`` of
    them), their count (larger than ``cap`` when some did not fit) and a histogram
    ``(n_signs, n_lengths, _HIST_BINS)`` of the z of every span with ``|z| >= floor`` in the
    first ``n_hist`` rows. With ``seed >= 0`` every row is first permuted at random
    (Fisher-Yates with a splitmix64 generator started at ``seed``): the scan of a permuted
    copy, without making the copy.
    """
    n_ex, width = s.shape
    n_len = lengths.shape[0]
    c_n = np.empty(cap, dtype=np.int64)
    c_i = np.empty(cap, dtype=np.int64)
    c_l = np.empty(cap, dtype=np.int64)
    c_z = np.empty(cap, dtype=np.float64)
    c_r = np.empty(cap, dtype=np.float64)
    c_a = np.empty(cap, dtype=np.float64)
    c_s = np.empty(cap, dtype=np.int8)
    hist = np.zeros((signs.shape[0], n_len, _HIST_BINS), dtype=np.int64)
    cum = np.zeros(width + 1, dtype=np.float64)
    row = np.empty(width, dtype=np.float64)
    state = np.uint64(seed if seed >= 0 else 0)
    r_prev = np.empty(width, dtype=np.float64)
    r_cur = np.empty(width, dtype=np.float64)
    act = np.empty(width, dtype=np.int64)
    nxt = np.empty(width, dtype=np.int64)
    sd_k = 1.0 / inv_sd  # inf where the sd is 0
    i_pos = -1
    i_neg = -1
    for si in range(signs.shape[0]):
        if signs[si] > 0:
            i_pos = si
        else:
            i_neg = si
    m = 0
    for n in range(n_ex):
        for j in range(width):
            row[j] = s[n, j]
        if seed >= 0:  # Fisher-Yates with a splitmix64 generator
            for j in range(width - 1, 0, -1):
                state += np.uint64(0x9E3779B97F4A7C15)
                x = state
                x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                x = x ^ (x >> np.uint64(31))
                q = int((x >> np.uint64(11)) * _2_POW_M53 * (j + 1))
                row[j], row[q] = row[q], row[j]
        acc = 0.0
        for j in range(width):
            acc += row[j]
            cum[j + 1] = acc
        if n < n_hist:
            for k in range(n_len):
                ln = lengths[k]
                lo = mu[k] - floor * sd_k[k]  # spans outside [lo, hi] have |z| >= floor
                hi = mu[k] + floor * sd_k[k]
                for i in range(width - ln + 1):
                    a = cum[i + ln] - cum[i]
                    if lo < a < hi:
                        continue
                    z = (a - mu[k]) * inv_sd[k]
                    si = i_pos
                    if z < 0:
                        z = -z
                        si = i_neg
                    if si >= 0 and z >= floor:
                        b = int((z - floor) / _HIST_STEP)
                        hist[si, k, min(b, _HIST_BINS - 1)] += 1
        for si in range(signs.shape[0]):
            sg = signs[si]
            n_act = 0
            for k in range(n_len):
                ln = lengths[k]
                n_new = 0
                n_visit = width - ln + 1 if k == 0 else n_act - 1
                for q in range(n_visit):
                    if k == 0:
                        i = q
                    else:
                        i = act[q]
                        if act[q + 1] != i + 1:
                            continue
                    a = cum[i + ln] - cum[i]
                    z = (a - mu[k]) * inv_sd[k] * sg
                    r = z if k == 0 else min(z, r_prev[i], r_prev[i + 1])
                    if r >= floor:
                        r_cur[i] = r
                        nxt[n_new] = i
                        n_new += 1
                        if m < cap:
                            c_n[m] = n
                            c_i[m] = i
                            c_l[m] = ln
                            c_z[m] = z
                            c_r[m] = r
                            c_a[m] = a
                            c_s[m] = sg
                        m += 1
                r_prev, r_cur = r_cur, r_prev
                act, nxt = nxt, act
                n_act = n_new
                if n_act < 2:
                    break
    return c_n, c_i, c_l, c_z, c_r, c_a, c_s, m, hist  # m > cap: run again with cap = m


_SCAN_JIT = None


def _scan_kernel():
    """:func:`_scan` compiled with numba (once; it releases the GIL)."""
    global _SCAN_JIT
    if _SCAN_JIT is None:
        import numba

        _SCAN_JIT = numba.njit(cache=True, nogil=True)(_scan)
    return _SCAN_JIT


def _fdr_spans(s, lengths, mu, sd, signs, floor, n_hist=0, seed=-1):
    """Run :func:`_scan` (numba-compiled) and return its candidates as a dict, plus the
    histogram."""
    kernel = _scan_kernel()
    lengths = np.asarray(list(lengths), dtype=np.int64)
    sg = np.asarray(signs, dtype=np.int64)
    args = (np.ascontiguousarray(s, dtype=np.float64), lengths, np.asarray(mu, dtype=np.float64),
            1.0 / np.asarray(sd, dtype=np.float64), sg, float(floor), int(n_hist), int(seed))
    cap = max(1 << 12, min(s.size // 2, 1 << 22))
    *cols, m, hist = kernel(*args, cap)
    if m > cap:  # too many candidates for the first guess: again, with the exact count
        *cols, m, hist = kernel(*args, m)
    cand = {k: v[:m] for k, v in zip(("n", "i", "l", "z", "r", "a", "sg"), cols)}
    return cand, hist


def _count_kept(n, i, ln, r, order, t, taken, kept, max_per_example):
    """Seqlets kept by the greedy selection of the candidates with ``r >= t`` (numba kernel).

    ``order`` lists the candidates example by example (examples are independent), by
    priority within each; ``taken`` is a ``(width,)`` scratch row, all False on entry and
    on return. The kept candidates are ``kept[:count]``.
    """
    n_keep = 0
    first = 0  # first kept seqlet of the current example
    cur = -1
    per = 0
    for k in order:
        if r[k] < t:
            continue
        e = n[k]
        if e != cur:
            for q in range(first, n_keep):
                for j in range(i[kept[q]], i[kept[q]] + ln[kept[q]]):
                    taken[j] = False
            first = n_keep
            cur = e
            per = 0
        if max_per_example > 0 and per >= max_per_example:
            continue
        a, b = i[k], i[k] + ln[k]
        free = True
        for j in range(a, b):
            if taken[j]:
                free = False
                break
        if not free:
            continue
        for j in range(a, b):
            taken[j] = True
        per += 1
        kept[n_keep] = k
        n_keep += 1
    for q in range(first, n_keep):
        for j in range(i[kept[q]], i[kept[q]] + ln[kept[q]]):
            taken[j] = False
    return n_keep


def _order_by_example(n, z):
    """Candidate order: by example (``n`` is non-decreasing), then largest ``z`` first
    (numba kernel; ties keep the scan order)."""
    order = np.empty(n.shape[0], dtype=np.int64)
    s = 0
    while s < n.shape[0]:
        e = s
        while e < n.shape[0] and n[e] == n[s]:
            e += 1
        sub = np.argsort(-z[s:e], kind="mergesort")
        for q in range(e - s):
            order[s + q] = s + sub[q]
        s = e
    return order


_COUNT_JIT = None
_ORDER_JIT = None


class _Counter:
    """Greedy seqlet selection of one candidate set at increasing recursive-score
    thresholds."""

    def __init__(self, cand, n_ex, width, max_per_example):
        global _COUNT_JIT, _ORDER_JIT
        if _COUNT_JIT is None:
            import numba

            _COUNT_JIT = numba.njit(cache=True)(_count_kept)
            _ORDER_JIT = numba.njit(cache=True)(_order_by_example)
        self.cand = cand
        self.order = _ORDER_JIT(cand["n"], cand["z"])
        self.taken = np.zeros(width, dtype=np.bool_)
        self.kept = np.empty(self.order.shape[0], dtype=np.int64)
        self.n_kept = 0
        self.max_per = int(max_per_example)

    def __call__(self, t: float) -> int:
        """Count at threshold ``t`` (thresholds must come in increasing order)."""
        c = self.cand
        keep = c["r"][self.order] >= t
        if keep.sum() < 0.7 * keep.shape[0]:  # drop what no larger threshold can use
            self.order = self.order[keep]
        self.n_kept = int(_COUNT_JIT(c["n"], c["i"], c["l"], c["r"], self.order, float(t),
                                     self.taken, self.kept, self.max_per))
        return self.n_kept

    def selected(self) -> dict[str, np.ndarray]:
        """Columns of the candidates kept by the last call."""
        idx = self.kept[:self.n_kept]
        return {k: v[idx] for k, v in self.cand.items()}


_SCALE_ITER = 50  # at most this many fixed-point steps of the robust centre and scale
_SCALE_TOL = 1e-3  # relative change of the scale that stops them


def _robust_rows(s, clip, out):
    """Numba kernel of :func:`robust_track`: one row at a time, into ``out``."""
    width = s.shape[1]
    for n in range(s.shape[0]):
        c = 0.0
        sc = 0.0
        for j in range(width):
            sc += abs(s[n, j])
        sc /= width
        for _ in range(_SCALE_ITER):
            if sc <= 0:
                break
            lim = clip * sc
            tot = 0.0
            tot_abs = 0.0
            for j in range(width):
                d = min(max(s[n, j] - c, -lim), lim)
                tot += d
                tot_abs += abs(d)
            new = tot_abs / width
            c += tot / width
            done = abs(new - sc) <= _SCALE_TOL * sc
            sc = new
            if done:
                break
        inv_sc = 1.0 / sc if sc > 0 else 1.0
        acc = 0.0
        acc2 = 0.0
        for j in range(width):
            u = min(max((s[n, j] - c) * inv_sc, -clip), clip)
            out[n, j] = u
            acc += u
            acc2 += u * u
        m = acc / width
        var = max(acc2 / width - m * m, 0.0)  # |u| <= clip: no cancellation to fear
        inv = 1.0 / np.sqrt(var) if var > 1e-12 * clip * clip else 0.0
        for j in range(width):
            out[n, j] = (out[n, j] - m) * inv
    return out


_ROBUST_JIT = None


def robust_track(s: np.ndarray, clip: float = 5.0) -> np.ndarray:
    """The track ``method="fdr"`` scores: each row centred, scaled, clipped and standardised.

    Per row, a centre ``c`` and scale ``h`` (a Huber-type fixed point) start at ``c = 0``,
    ``h = mean |s|`` and repeat ``d = clip(s - c, -clip * h, clip * h)``, ``c += mean(d)``,
    ``h = mean |d|`` until ``h`` changes by at most 0.1 % (at most 50 times); then
    ``u = clip((s - c) / h, -clip, clip)`` and the result is ``(u - mean(u)) / sd(u)`` (0 for
    a constant row). The clip bounds what one extreme position (a spike of real
    attributions, a heavy-tailed noise value) adds to a span, so only contiguous runs of
    large values make high span scores; the row-wise scale makes rows of very different
    attribution magnitudes comparable. Linear time (no sorting).
    """
    global _ROBUST_JIT
    if _ROBUST_JIT is None:
        import numba

        _ROBUST_JIT = numba.njit(cache=True, nogil=True)(_robust_rows)
    s = np.ascontiguousarray(s, dtype=np.float64)
    if s.ndim != 2:
        raise InputError(f"robust_track needs an (N, L) array, got shape {s.shape}.")
    out = np.empty_like(s)
    # rows are independent: blocks of rows on the kernel threads (the kernel releases the GIL)
    blocks = _row_blocks(s.shape[0], s.size)
    _in_threads([(lambda a=a, b=b: _ROBUST_JIT(s[a:b], float(clip), out[a:b]))
                 for a, b in blocks])
    return out


#: smallest array (values) worth splitting over threads
_PARALLEL_MIN = 1 << 16


def _n_threads() -> int:
    """Threads the numba kernels of this module use: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _threads_for(size: int) -> int:
    """Threads worth using on an array of ``size`` values (1 below :data:`_PARALLEL_MIN`)."""
    return _n_threads() if size >= _PARALLEL_MIN else 1


def _row_blocks(n_rows: int, size: int) -> list[tuple[int, int]]:
    """Contiguous row ranges, one per thread (one range for small arrays)."""
    k = min(_threads_for(size), n_rows)
    edges = np.linspace(0, n_rows, max(k, 1) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a] or [(0, 0)]


def _in_threads(jobs: list) -> list:
    """Run the callables (GIL-free numba kernels) concurrently; results in order."""
    if len(jobs) == 1:
        return [jobs[0]()]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda f: f(), jobs))


def _call_fdr(s, fdr, min_length, max_length, flank, signs, max_per_example, rng, min_z,
              n_null, clip) -> Seqlets:
    """``method="fdr"``: seqlets whose estimated false discovery rate is at most ``fdr``."""
    raw = s
    s = robust_track(s, clip)
    n_ex, width = s.shape
    lengths = range(min_length, max_length + 1)
    mu, sd = _null_moments(s, lengths)
    # the data and the permuted copy (candidates of every row; z histogram, for the
    # reported per-length p-values, of the first rows, about n_null spans per length) are
    # scanned concurrently: the kernel releases the GIL
    n_hist = int(min(n_ex, max(1, np.ceil(n_null / max(1, width - max_length + 1)))))
    seed = int(rng.integers(0, 2**31 - 1))
    _scan_kernel()  # compiled before the threads start
    jobs = [lambda: _fdr_spans(s, lengths, mu, sd, signs, min_z),
            lambda: _fdr_spans(s, lengths, mu, sd, signs, min_z, n_hist, seed)]
    (obs, _), (null, hist) = _in_threads(jobs) if _threads_for(s.size) > 1 else \
        [job() for job in jobs]
    if len(obs["n"]) == 0:
        return _empty()
    # above the largest recursive score of the permuted copy the estimate is 1 / n_obs,
    # which only grows with the threshold: no need to look further
    top = float(null["r"].max()) if len(null["n"]) else min_z
    thresholds = np.arange(min_z, top + 0.2, 0.1)
    count_obs = _Counter(obs, n_ex, width, max_per_example)
    count_null = _Counter(null, n_ex, width, max_per_example)
    # the smallest threshold whose estimate (false + 1) / called reaches the target
    # (the data's count hardly grows with the threshold, so a threshold where even the
    # last count of the data cannot reach the target is not counted on the data)
    t = None
    bound = n_first = count_obs(thresholds[0])
    n_false_first = -1
    for th in thresholds:
        n_false = count_null(th)
        if n_false_first < 0:
            n_false_first = n_false
        if n_false + 1.0 > fdr * bound:
            continue
        n_obs = bound = count_obs(th)
        if n_obs == 0:
            break
        fdr_hat = (n_false + 1.0) / n_obs
        if fdr_hat <= fdr:
            t = th
            break
    if t is None:
        logger.info("seqlets: no threshold reaches FDR %g (at z %.1f: %d seqlets, %d in the "
                    "permuted copy); none called.", fdr, min_z, n_first, n_false_first)
        return _empty()
    logger.info("seqlets: recursive z threshold %.2f, %d seqlets, %d in the permuted copy "
                "(estimated FDR %.3g)", t, n_obs, n_false, fdr_hat)
    c = count_obs.selected()
    # per-length empirical p-value of each kept core against the permuted copy: spans of
    # the copy (same sign and length) with z at least the core's (to the histogram's bin)
    tail = hist[:, :, ::-1].cumsum(axis=2)[:, :, ::-1]
    b = np.minimum(((c["z"] - min_z) / _HIST_STEP).astype(np.int64), _HIST_BINS - 1)
    si = np.where(c["sg"] == signs[0], 0, 1)
    ge = tail[si, c["l"] - min_length, b]
    c["p"] = (1.0 + ge) / (1.0 + n_hist * (width - c["l"] + 1))
    # attribution: sums of the raw scores over the cores
    flat = np.ascontiguousarray(raw, dtype=np.float64).ravel()
    bounds = np.empty(2 * n_obs, dtype=np.int64)
    bounds[0::2] = c["n"] * width + c["i"]
    bounds[1::2] = bounds[0::2] + c["l"]
    c["a"] = np.add.reduceat(np.append(flat, 0.0), bounds)[0::2]
    keep = np.arange(n_obs)
    return _finish(c, keep, flank, width)


def call_seqlets(attributions: np.ndarray, one_hot: np.ndarray | None = None,
                 method: Literal["fdr", "threshold"] = "fdr", fdr: float = 0.05,
                 threshold: float = 0.001, min_length: int = 4, max_length: int = 20,
                 flank: int = 0, sign: Literal["both", "positive", "negative"] = "both",
                 n_null: int = 200_000, max_seqlets_per_example: int = 0,
                 random_state: int | None = 0, min_z: float = 3.0,
                 clip: float = 5.0) -> Seqlets:
    """Call seqlets recursively on attribution tracks (semantics in the module docstring).

    Parameters
    ----------
    attributions : numpy.ndarray
        ``(N, L)`` position scores, or ``(N, 4, L)`` contributions (multiplied by
        ``one_hot`` first when it is given, i.e. hypothetical contributions).
    one_hot : numpy.ndarray or None
        ``(N, 4, L)`` sequences, to turn hypothetical into actual contributions.
    method : {"fdr", "threshold"}
        ``"fdr"`` (default): control the false discovery rate of the called seqlets against
        a permuted copy of the tracks; ``"threshold"``: test every span at ``threshold``
        (many false seqlets on noise: about one per kb at 0.001).
    fdr : float
        Target false discovery rate of ``method="fdr"``.
    threshold : float
        Significance level for every span length (``method="threshold"`` only).
    min_length, max_length : int
        Range of core lengths.
    flank : int
        Positions added on both sides of each core in ``start``/``end``.
    sign : {"both", "positive", "negative"}
        Which seqlets to call.
    n_null : int
        Null span sums per length (``method="threshold"`` only).
    max_seqlets_per_example : int
        Cap per example (0 = none).
    random_state : int or None
        Seed of the permutations.
    min_z : float
        Smallest recursive z-score considered by ``method="fdr"`` (spans below it are never
        called, whatever the FDR).
    clip : float
        ``method="fdr"``: bound on one position's score, in robust standard deviations of
        its row (:func:`robust_track`).

    Returns
    -------
    Seqlets
        Sorted by example then start.
    """
    from bpnetkit.io.attributions import check_attributions
    from bpnetkit.utils import as_generator

    check_attributions(np.asarray(attributions), "attributions", ndim=None,
                       one_hot=None if one_hot is None else np.asarray(one_hot))
    s = position_scores(attributions, one_hot)
    width = s.shape[1]
    if not 1 <= min_length <= max_length:
        raise InputError(f"need 1 <= min_length <= max_length, got {min_length}, "
                         f"{max_length}.")
    if max_length > width:
        raise InputError(f"max_length {max_length} is longer than the attribution window "
                         f"({width}); use max_length <= {width}.")
    if method not in ("fdr", "threshold"):
        raise InputError(f"method must be 'fdr' or 'threshold', got {method!r}.")
    if not 0 < threshold <= 1:
        raise InputError(f"threshold must be in (0, 1], got {threshold}.")
    if not 0 < fdr < 1:
        raise InputError(f"fdr must be in (0, 1), got {fdr}.")
    if sign not in ("both", "positive", "negative"):
        raise InputError(f"sign must be 'both', 'positive' or 'negative', got {sign!r}.")
    if flank < 0:
        raise InputError(f"flank must be >= 0, got {flank}.")
    if not clip > 0:
        raise InputError(f"clip must be > 0, got {clip}.")
    rng = as_generator(random_state)
    signs = {"both": (1, -1), "positive": (1,), "negative": (-1,)}[sign]
    if method == "threshold":
        return _call_threshold(s, threshold, min_length, max_length, flank, signs, n_null,
                               max_seqlets_per_example, rng)
    return _call_fdr(s, fdr, min_length, max_length, flank, signs,
                     int(max_seqlets_per_example), rng, min_z, n_null, float(clip))
