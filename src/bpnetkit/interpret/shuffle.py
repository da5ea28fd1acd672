"""Sequence shuffles that keep mono- or dinucleotide composition (DeepLIFT/SHAP references).

Dinucleotide shuffle
    Every output has exactly the dinucleotide counts of its input, the same first letter and
    the same last letter. Outputs are drawn *uniformly* among all sequences with those
    properties, by the Eulerian-path method of Altschul & Erickson (1985) as made exact by
    Kandel et al. (1996): the sequence is a path through the multigraph whose vertices are
    letters and whose edges are its consecutive pairs. A uniformly random spanning
    arborescence directed towards the last letter (drawn with Wilson's loop-erased random
    walk) fixes the last exit edge of every other letter; the remaining edges leaving each
    letter are put in a uniformly random order; walking the edges from the first letter
    spells the shuffled sequence. By the BEST theorem every sequence with the same
    dinucleotide counts, first and last letter is equally likely.

N handling
    Positions that are not A, C, G or T (all-zero columns of the one-hot input) are treated
    as a fifth letter ``N``: dinucleotides involving ``N`` are preserved too, so Ns move with
    the shuffle (a run of k Ns stays a run only if the dinucleotide ``NN`` forces it) and the
    output has exactly as many all-zero columns as the input. An all-N input is returned
    unchanged. Soft (non 0/1) columns are rejected.

Determinism
    The same ``random_state`` gives the same shuffles on every platform; a kernel compiled
    with numba does the work (about a microsecond per base).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.utils import as_generator

__all__ = ["dinucleotide_shuffle", "dinucleotide_shuffle_codes", "mononucleotide_shuffle",
           "one_hot_to_codes", "codes_to_one_hot"]

_N_SYMBOLS = 5  # A, C, G, T, N


def one_hot_to_codes(X: np.ndarray, what: str = "X") -> np.ndarray:
    """Convert one-hot ``(N, 4, L)`` to integer codes ``(N, L)`` (0-3 = ACGT, 4 = N).

    Raises
    ------
    InputError
        If ``X`` is not 0/1 valued with at most one 1 per column.
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != 4:
        raise InputError(f"{what} must be one-hot sequences of shape (N, 4, L) or (4, L); got "
                         f"shape {X.shape}.")
    if X.size == 0:
        return np.zeros((X.shape[0], X.shape[2]), dtype=np.int8)
    binary = (X == 0) | (X == 1)
    if not binary.all():
        i, c, j = np.argwhere(~binary)[0]
        raise InputError(f"{what} is not one-hot: sequence {i}, channel {c}, position {j} holds "
                         f"{X[i, c, j]!r} (expected 0 or 1). Encode sequences with "
                         f"bpnetkit.io.fasta.one_hot_encode.")
    colsum = X.sum(axis=1)
    if (colsum > 1).any():
        i, j = np.argwhere(colsum > 1)[0]
        raise InputError(f"{what} is not one-hot: sequence {i}, position {j} has "
                         f"{int(colsum[i, j])} channels set (expected at most one).")
    codes = np.argmax(X, axis=1).astype(np.int8)
    codes[colsum == 0] = 4
    return codes


def codes_to_one_hot(codes: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """Integer codes ``(..., L)`` (4 = N) -> one-hot ``(..., 4, L)``."""
    codes = np.asarray(codes)
    out = np.zeros((*codes.shape[:-1], 4, codes.shape[-1]), dtype=dtype)
    for c in range(4):
        out[..., c, :] = codes == c
    return out


@numba.njit(cache=True, nogil=True)
def _shuffle_one(seq, n, seed, out):
    """Write ``n`` uniform dinucleotide shuffles of ``seq`` (codes 0..4) into ``out``."""
    np.random.seed(seed)  # noqa: NPY002 - numba's own per-thread generator
    L = seq.shape[0]
    K = 5
    if L <= 2:
        for s in range(n):
            out[s, :] = seq
        return
    # edge lists: targets of the edges leaving each letter
    deg = np.zeros(K, np.int64)
    for i in range(L - 1):
        deg[seq[i]] += 1
    starts = np.zeros(K + 1, np.int64)
    for k in range(K):
        starts[k + 1] = starts[k] + deg[k]
    targets = np.empty(L - 1, np.int8)
    fill = starts[:K].copy()
    for i in range(L - 1):
        a = seq[i]
        targets[fill[a]] = seq[i + 1]
        fill[a] += 1
    first = seq[0]
    root = seq[L - 1]
    order = np.empty(L - 1, np.int8)
    in_tree = np.zeros(K, np.bool_)
    nxt = np.zeros(K, np.int64)       # index (into targets) of the chosen last exit edge
    used = np.zeros(K, np.int64)
    for s in range(n):
        # Wilson's algorithm: uniform random arborescence towards root (edge multiplicities
        # count as distinct edges, which makes the final sequence uniform).
        for k in range(K):
            in_tree[k] = False
        in_tree[root] = True
        for v in range(K):
            if deg[v] == 0 or in_tree[v]:
                continue
            u = v
            while not in_tree[u]:
                e = starts[u] + np.random.randint(0, deg[u])  # noqa: NPY002
                nxt[u] = e
                u = targets[e]
            u = v
            while not in_tree[u]:
                in_tree[u] = True
                u = targets[nxt[u]]
        # order the edges leaving each letter: last exit edge last, the rest uniformly
        for v in range(K):
            a, b = starts[v], starts[v + 1]
            if b == a:
                continue
            for j in range(a, b):
                order[j] = targets[j]
            m = b - a
            if v != root:
                e = nxt[v]
                tmp = order[e]
                order[e] = order[b - 1]
                order[b - 1] = tmp
                m -= 1
            for j in range(m - 1, 0, -1):   # Fisher-Yates on order[a:a+m]
                r = np.random.randint(0, j + 1)  # noqa: NPY002
                tmp = order[a + j]
                order[a + j] = order[a + r]
                order[a + r] = tmp
        for k in range(K):
            used[k] = 0
        u = first
        out[s, 0] = u
        for i in range(1, L):
            u2 = order[starts[u] + used[u]]
            used[u] += 1
            u = u2
            out[s, i] = u


@numba.njit(cache=True, nogil=True)
def _shuffle_all(codes, n, seeds, out):
    for i in range(codes.shape[0]):
        _shuffle_one(codes[i], n, seeds[i], out[i])


def _as_numpy_one_hot(X: Any) -> tuple[np.ndarray, bool, Any, bool]:
    """Return (array (N,4,L), was_torch, torch dtype/device info, was_2d)."""
    was_torch = False
    info = None
    if type(X).__module__.startswith("torch"):
        import torch

        if isinstance(X, torch.Tensor):
            was_torch = True
            info = (X.dtype, X.device)
            X = X.detach().cpu().numpy()
    X = np.asarray(X)
    was_2d = X.ndim == 2
    if was_2d:
        X = X[None]
    return X, was_torch, info, was_2d


def _wrap_output(out: np.ndarray, was_torch: bool, info: Any, was_2d: bool, dtype: Any) -> Any:
    if was_2d:
        out = out[0]
    if was_torch:
        import torch

        return torch.from_numpy(out).to(dtype=info[0], device=info[1])
    return out.astype(dtype, copy=False)


def dinucleotide_shuffle(X: Any, n: int = 20, random_state: Any = None) -> Any:
    """Shuffle one-hot sequences uniformly while keeping their dinucleotide counts exactly.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        One-hot sequences ``(N, 4, L)`` (or one sequence ``(4, L)``); all-zero columns are N.
    n : int
        Shuffles per sequence.
    random_state : int, numpy.random.Generator or None
        Seed; the same seed gives the same shuffles.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``(N, n, 4, L)`` (``(n, 4, L)`` for a 2-D input), same type and dtype as ``X``.
        Each shuffle has the dinucleotide counts (N counting as a fifth letter), first and
        last letter of its input, and is uniform among such sequences.

    Raises
    ------
    InputError
        If ``X`` is not one-hot or ``n`` is not positive.
    """
    if int(n) < 1:
        raise InputError(f"n (shuffles per sequence) must be at least 1, got {n}.")
    A, was_torch, info, was_2d = _as_numpy_one_hot(X)
    codes = one_hot_to_codes(A)
    rng = as_generator(random_state)
    seeds = rng.integers(0, 2 ** 31 - 1, size=codes.shape[0], dtype=np.int64)
    out = dinucleotide_shuffle_codes(codes, int(n), seeds)
    dtype = A.dtype
    return _wrap_output(codes_to_one_hot(out, dtype=dtype), was_torch, info, was_2d, dtype)


def dinucleotide_shuffle_codes(codes: np.ndarray, n: int, seeds: np.ndarray) -> np.ndarray:
    """Dinucleotide shuffles of integer-coded sequences ``(N, L)`` -> ``(N, n, L)`` int8.

    ``seeds[i]`` alone determines the shuffles of sequence ``i``, so results do not depend
    on how sequences are batched.
    """
    codes = np.ascontiguousarray(codes, dtype=np.int8)
    seeds = np.asarray(seeds, dtype=np.int64)
    out = np.empty((codes.shape[0], int(n), codes.shape[1]), dtype=np.int8)
    if codes.size:
        _shuffle_all(codes, int(n), seeds, out)
    return out


def mononucleotide_shuffle(X: Any, n: int = 20, random_state: Any = None) -> Any:
    """Shuffle the positions of one-hot sequences uniformly (keeps letter counts, N included).

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor
        One-hot sequences ``(N, 4, L)`` or ``(4, L)``.
    n : int
        Shuffles per sequence.
    random_state : int, numpy.random.Generator or None
        Seed.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``(N, n, 4, L)`` (``(n, 4, L)`` for a 2-D input), same type and dtype as ``X``.
    """
    if int(n) < 1:
        raise InputError(f"n (shuffles per sequence) must be at least 1, got {n}.")
    A, was_torch, info, was_2d = _as_numpy_one_hot(X)
    codes = one_hot_to_codes(A)
    rng = as_generator(random_state)
    N, L = codes.shape
    perm = np.argsort(rng.random((N, int(n), L)), axis=-1)
    out = np.take_along_axis(np.broadcast_to(codes[:, None, :], (N, int(n), L)), perm, axis=-1)
    dtype = A.dtype
    return _wrap_output(codes_to_one_hot(out, dtype=dtype), was_torch, info, was_2d, dtype)
