"""Stem filters started at the k-mers the peaks are enriched for (``seed_filters``).

A BPNet learns its motifs from the profile loss, one small step at a time; short,
low-information motifs (6-8 bp) in a real genome, whose look-alikes are everywhere, are the
last to be learned and the first to be missed at a small budget. Their words, however, are
plain to count: a transcription factor's k-mers are over-represented near the summits of its
peaks compared with the flanks of the same input windows (which share the peaks' local
sequence composition). :func:`enriched_kmers` finds the most over-represented ones, one per
motif, and :func:`seed_stem_filters` writes each of them (and its reverse complement) into a
filter of the first convolution, as a detector that fires on the word with at most one
mismatch. Training then starts from filters that already see candidate motifs and keeps,
reshapes or discards them like any other weights; the remaining filters start at random as
usual.

Nothing here looks at the planted or annotated motifs: only the training sequences.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from bpnetkit.errors import InputError

__all__ = ["enriched_kmers", "seed_stem_filters"]

log = logging.getLogger(__name__)

_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _revcomp(s: str) -> str:
    return s[::-1].translate(_COMPLEMENT)


def _decode(i: int, k: int) -> str:
    return "".join("ACGT"[(i >> (2 * (k - 1 - j))) & 3] for j in range(k))


def _kmer_index(codes: np.ndarray, k: int) -> np.ndarray:
    """``(N, L - k + 1)`` base-4 index of the k-mer starting at each position; -1 where it
    holds an N."""
    n, length = codes.shape
    m = length - k + 1
    idx = np.zeros((n, m), dtype=np.int64)
    bad = np.zeros((n, m), dtype=bool)
    for i in range(k):
        c = codes[:, i:i + m]
        idx = idx * 4 + np.maximum(c, 0)
        bad |= c < 0
    idx[bad] = -1
    return idx


def _canonical(idx: np.ndarray, k: int) -> np.ndarray:
    """The smaller of each k-mer index and its reverse complement's (-1 stays -1)."""
    a = np.arange(4 ** k, dtype=np.int64)
    rc = np.zeros_like(a)
    x = a.copy()
    for _ in range(k):
        rc = rc * 4 + (3 - x % 4)
        x //= 4
    safe = np.maximum(idx, 0)
    return np.where(idx >= 0, np.minimum(idx, rc[safe]), -1)


def _redundant(word: str, chosen: list[str]) -> bool:
    """Whether ``word`` is a shifted (by 1-2 bp) or one-mismatch version of a chosen word
    or of its reverse complement: another k-mer of a motif already taken."""
    k = len(word)
    for c in chosen:
        for a in (c, _revcomp(c)):
            if sum(u != v for u, v in zip(word, a, strict=True)) <= 1:
                return True
            for sh in (1, 2):
                if word[sh:] == a[:k - sh] or word[:k - sh] == a[sh:]:
                    return True
    return False


def enriched_kmers(X: np.ndarray, k: int = 7, n: int = 6, centre: int = 100,
                   alpha: float = 0.01) -> list[tuple[str, float]]:
    """The k-mers most over-represented at the centre of the windows, one per motif.

    Counts every k-mer (a word and its reverse complement together) within ``centre`` bp of
    the middle of each window and in the rest of the windows, and scores each by the
    one-sided binomial test of its centre count given its total count (the chance of a
    position to be central being the central share of all counted positions): the score is
    ``-log10 p``. Words are taken by decreasing score, skipping any that is a 1-2 bp shift
    or a one-mismatch variant of a word already taken (or of its reverse complement), until
    ``n`` are taken or ``p`` exceeds ``alpha`` divided by the number of distinct words
    (Bonferroni: random sequence passes with probability at most ``alpha``).

    Parameters
    ----------
    X : numpy.ndarray
        ``(N, 4, L)`` one-hot windows centred on the peak summits (all-zero columns are N).
    k : int
        Word length.
    n : int
        Largest number of words returned.
    centre : int
        Half-width of the central part of the windows (bp); narrowed for windows shorter
        than ``4 * (centre + k)`` so that the flanks hold as many positions as the centre.
    alpha : float
        Family-wise error level of the test over all words.

    Returns
    -------
    list of (str, float)
        The words (as the smaller of the word and its reverse complement) with their scores
        (``-log10 p``), best first.

    Raises
    ------
    InputError
        For input that is not one-hot windows, or a bad ``k``.
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != 4:
        raise InputError(f"enriched_kmers needs (N, 4, L) one-hot windows, got {X.shape}.")
    if not 3 <= int(k) <= 10:
        raise InputError(f"seed_filters: the word length k must be in 3..10, got {k}.")
    length = X.shape[2]
    # short windows: a narrower centre, so that the flanks hold at least as many positions
    centre = min(int(centre), (length - 4 * k) // 4)
    if centre < k:
        log.info("seed_filters: windows of %d bp are too short to compare their centre with "
                 "their flanks; no k-mer seeded.", length)
        return []
    codes = np.where(X.any(axis=1), X.argmax(axis=1), -1)
    canon = _canonical(_kmer_index(codes, k), k)
    mid = (length - 1) / 2.0
    inner = np.abs(np.arange(canon.shape[1]) + (k - 1) / 2.0 - mid) <= centre
    c_in, c_out = canon[:, inner].ravel(), canon[:, ~inner].ravel()
    n_in = np.bincount(c_in[c_in >= 0], minlength=4 ** k).astype(np.float64)
    n_out = np.bincount(c_out[c_out >= 0], minlength=4 ** k).astype(np.float64)
    if n_in.sum() == 0 or n_out.sum() == 0:
        return []
    from scipy.stats import binom

    share = n_in.sum() / (n_in.sum() + n_out.sum())
    total = n_in + n_out
    # log10 of P(X >= n_in), X ~ Binomial(total, share); words never seen score 0
    score = np.where(total > 0, -binom.logsf(n_in - 1, total, share) / np.log(10), 0.0)
    n_words = (4 ** k + 4 ** ((k + 1) // 2) * (k % 2 == 0)) / 2  # canonical words
    floor = np.log10(n_words / alpha)
    chosen: list[str] = []
    scores: list[float] = []
    for i in np.argsort(-score, kind="stable")[:50 * max(int(n), 1)]:
        if len(chosen) >= n or score[i] < floor:
            break
        word = _decode(int(i), k)
        if not _redundant(word, chosen):
            chosen.append(word)
            scores.append(float(score[i]))
    return list(zip(chosen, scores, strict=True))


def seed_stem_filters(model: nn.Module, words: list[str], scale: float = 0.5) -> int:
    """Write each word and its reverse complement into a filter of ``model.iconv``.

    Filter ``f`` gets weight ``scale`` at the word's base and ``-scale / 3`` at the other
    three bases of each of its ``k`` central positions, 0 elsewhere, and bias
    ``-(k - 2) * scale``: after the stem's ReLU it outputs ``2 * scale`` on the exact word,
    ``2 * scale / 3`` with one mismatch and 0 with two or more. Palindromic words take one filter.
    Filters are used in order from the first; at most half of them are seeded.

    Parameters
    ----------
    model : torch.nn.Module
        A BPNet-style model whose first convolution is ``iconv`` (4 input channels, with
        bias).
    words : list of str
        Words of equal length, at most the kernel width.
    scale : float
        Weight of a matching base.

    Returns
    -------
    int
        Number of filters written.
    """
    conv = getattr(model, "iconv", None)
    if not isinstance(conv, nn.Conv1d) or conv.in_channels != 4 or conv.bias is None:
        raise InputError(f"seed_filters needs a BPNet-style model whose first convolution "
                         f"'iconv' reads the one-hot sequence; {type(model).__name__} has "
                         f"none. Set seed_filters to 0 for this model.")
    width = conv.kernel_size[0]
    limit = conv.out_channels // 2
    f = 0
    with torch.no_grad():
        for word in words:
            k = len(word)
            if k > width:
                raise InputError(f"seed_filters: word {word!r} is longer than the stem's "
                                 f"kernel ({width}).")
            for w in dict.fromkeys((word, _revcomp(word))):  # a palindrome once
                if f >= limit:
                    return f
                kernel = torch.zeros(4, width, dtype=conv.weight.dtype)
                a = (width - k) // 2
                for j, base in enumerate(w):
                    kernel[:, a + j] = -scale / 3.0
                    kernel["ACGT".index(base), a + j] = scale
                conv.weight[f] = kernel.to(conv.weight.device)
                conv.bias[f] = -(k - 2) * scale
                f += 1
    return f
