"""Dinucleotide / mononucleotide shuffles: exact counts, determinism, uniformity, errors."""

from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.interpret.shuffle import (
    codes_to_one_hot,
    dinucleotide_shuffle,
    mononucleotide_shuffle,
    one_hot_to_codes,
)

_CODE = {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}


def encode(*seqs: str) -> np.ndarray:
    return codes_to_one_hot(np.array([[_CODE[c] for c in s] for s in seqs]))


def dinucs(codes) -> collections.Counter:
    codes = list(codes)
    return collections.Counter(zip(codes[:-1], codes[1:], strict=True))


def test_dinucleotide_counts_first_last_and_n_preserved():
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), size=200)) for _ in range(3)]
    seqs.append("NNACGTTTGCANNNACGGGTN" * 5)
    X = encode(*[s[:105] for s in seqs])
    Y = dinucleotide_shuffle(X, n=7, random_state=3)
    assert Y.shape == (4, 7, 4, 105) and Y.dtype == X.dtype
    for i in range(len(X)):
        ref = one_hot_to_codes(X[i:i + 1])[0]
        for s in one_hot_to_codes(Y[i]):
            assert dinucs(s) == dinucs(ref)
            assert s[0] == ref[0] and s[-1] == ref[-1]
    # the shuffles actually shuffle
    assert (Y[0] != X[0]).any()


def test_deterministic_and_torch_roundtrip():
    X = encode("ACGTTGCAACGTAGCTAGCTAGGATCCA")
    a = dinucleotide_shuffle(X, n=5, random_state=11)
    b = dinucleotide_shuffle(X, n=5, random_state=11)
    c = dinucleotide_shuffle(X, n=5, random_state=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    t = dinucleotide_shuffle(torch.from_numpy(X), n=5, random_state=11)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), a)
    # a single (4, L) sequence gives (n, 4, L)
    assert dinucleotide_shuffle(X[0], n=2, random_state=0).shape == (2, 4, X.shape[2])


def test_uniform_over_all_sequences_with_the_same_dinucleotides():
    """Compare with the brute-force set of all sequences sharing counts, first letter."""
    seq = "AACAGTNAC"
    X = encode(seq)
    ref = one_hot_to_codes(X)[0]
    valid = {p for p in itertools.permutations(ref.tolist())
             if p[0] == ref[0] and dinucs(p) == dinucs(ref)}
    n = 6000
    Y = one_hot_to_codes(dinucleotide_shuffle(X, n=n, random_state=0)[0])
    counts = collections.Counter(tuple(s.tolist()) for s in Y)
    assert set(counts) == valid
    expected = n / len(valid)
    chi2 = sum((counts[v] - expected) ** 2 / expected for v in valid)
    # len(valid) - 1 degrees of freedom; 30 is far in the tail for the sizes used here
    assert chi2 < 30, (len(valid), counts)


def test_mononucleotide_shuffle_keeps_composition():
    X = encode("AACCGGTTNNACGT")
    Y = mononucleotide_shuffle(X, n=4, random_state=0)
    assert Y.shape == (1, 4, 4, 14)
    for s in Y[0]:
        np.testing.assert_array_equal(s.sum(axis=1), X[0].sum(axis=1))
    np.testing.assert_array_equal(Y, mononucleotide_shuffle(X, n=4, random_state=0))


def test_all_n_sequence_is_returned_unchanged():
    X = np.zeros((1, 4, 10), dtype=np.float32)
    np.testing.assert_array_equal(dinucleotide_shuffle(X, n=3, random_state=0)[0], X.repeat(3, 0))


def test_bad_input_raises_clear_errors():
    X = encode("ACGTACGT")
    X[0, 1, 3] = 0.5
    with pytest.raises(InputError, match="not one-hot"):
        dinucleotide_shuffle(X)
    with pytest.raises(InputError, match="shape"):
        dinucleotide_shuffle(np.zeros((2, 5, 8)))
    with pytest.raises(InputError, match="at least 1"):
        dinucleotide_shuffle(encode("ACGT"), n=0)
    Y = encode("ACGT")
    Y[0, :, 1] = 1
    with pytest.raises(InputError, match="channels set"):
        dinucleotide_shuffle(Y)
