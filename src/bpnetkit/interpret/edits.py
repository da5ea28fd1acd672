"""Sequence edits and their effect on a model: substitutions, deletions and insertions.

:func:`substitution_effect`, :func:`deletion_effect` and :func:`insertion_effect` apply edits
to rows of a one-hot batch and return the model's predictions before and after each edit
(through :func:`bpnetkit.interpret.predict.predict`, the one prediction loop).
:func:`apply_edit` is the edit itself on one ``(4, L)`` sequence.

Indel geometry: the edited sequence keeps the bases left of the edit at their positions, then
the inserted bases, then the rest of the sequence, and is cut (or padded with N) to the window
the model sees. Bases right of the edit therefore move by ``len(alt) - ref_length``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.fasta import ALPHABET, one_hot_encode

__all__ = ["Edit", "apply_edit", "deletion_effect", "edit_effect", "encode_allele",
           "insertion_effect", "substitution_effect"]


@dataclass(frozen=True)
class Edit:
    """One edit of one sequence of a batch.

    Attributes
    ----------
    index : int
        Row of the batch.
    position : int
        0-based position of the first replaced base (or of the insertion point).
    ref_length : int
        Number of bases removed at ``position`` (1 for a substitution, 0 for an insertion).
    alt : numpy.ndarray
        ``(4, k)`` one-hot of the bases put in their place (``k = 0`` for a deletion).
    """

    index: int
    position: int
    ref_length: int
    alt: np.ndarray


def apply_edit(x: np.ndarray, position: int, ref_length: int, alt: np.ndarray,
               width: int) -> np.ndarray:
    """Replace ``x[:, position:position+ref_length]`` by ``alt``; return the first ``width`` bases.

    Missing bases at the right end (a deletion near the end of ``x``) are zero (N) columns.

    Parameters
    ----------
    x : numpy.ndarray
        ``(4, L)`` one-hot sequence.
    position, ref_length : int
        Where and how many bases to remove.
    alt : numpy.ndarray
        ``(4, k)`` bases to insert in their place.
    width : int
        Length of the returned sequence.

    Returns
    -------
    numpy.ndarray
        ``(4, width)`` edited sequence, dtype of ``x``.
    """
    edited = np.concatenate([x[:, :position], alt.astype(x.dtype), x[:, position + ref_length:]],
                            axis=1)
    if edited.shape[1] >= width:
        return edited[:, :width]
    pad = np.zeros((4, width - edited.shape[1]), dtype=x.dtype)
    return np.concatenate([edited, pad], axis=1)


def _predict_tuple(model: Any, X: np.ndarray, batch_size: int, device: Any,
                   rc_average: bool) -> tuple:
    """Model outputs for ``X`` as a tuple of CPU float tensors."""
    from bpnetkit.interpret.predict import predict

    y = predict(model, X, batch_size=batch_size, device=device, rc_average=rc_average)
    y = y if isinstance(y, tuple) else (y,)
    return tuple(t.float() for t in y)


def edit_effect(model: Any, X: Any, edits: Sequence[Edit], in_window: int | None = None,
                batch_size: int = 64, device: Any = None, rc_average: bool = False
                ) -> tuple[tuple, tuple]:
    """Predictions before and after each edit.

    Parameters
    ----------
    model : torch.nn.Module
        A model returning ``(profile_logits, log_counts)`` (or one tensor); models with
        control tracks get zero controls.
    X : array-like
        ``(N, 4, L)`` one-hot sequences.
    edits : sequence of Edit
        One edit per output row; several edits may name the same sequence.
    in_window : int or None
        Length the model sees: the first ``in_window`` bases of the reference and of the edited
        sequence. None uses ``L``. Pass ``X`` longer than ``in_window`` to provide right flank
        for deletions; otherwise missing bases are N.
    batch_size : int
        Sequences per forward pass.
    device : str, torch.device or None
        None picks CUDA when available.
    rc_average : bool
        Average each prediction with the one for the reverse complement (see
        :func:`bpnetkit.interpret.predict.predict`).

    Returns
    -------
    before, after : tuple of torch.Tensor
        Model outputs for the reference and the edited sequence, one row per edit.
    """
    X = np.asarray(X.detach().cpu() if hasattr(X, "detach") else X)
    if X.ndim != 3 or X.shape[1] != 4:
        raise InputError(f"X must be one-hot sequences of shape (N, 4, L), got {X.shape}.")
    N, _, L = X.shape
    W = L if in_window is None else int(in_window)
    if not 0 < W <= L:
        raise InputError(f"in_window must be between 1 and the sequence length {L}, got {W}.")
    if len(edits) == 0:
        raise InputError("no edits given.")
    alt = np.empty((len(edits), 4, W), dtype=X.dtype)
    for k, e in enumerate(edits):
        if not 0 <= e.index < N:
            raise InputError(f"edit {k}: example index {e.index} is outside the batch of {N}.")
        if not 0 <= e.position <= L - e.ref_length or e.ref_length < 0:
            raise InputError(f"edit {k}: position {e.position} (removing {e.ref_length} bases) "
                             f"is outside the sequence of length {L}.")
        alt[k] = apply_edit(X[e.index], e.position, e.ref_length, e.alt, W)
    # each reference sequence is predicted once, however many edits name it
    idx = np.array([e.index for e in edits])
    uniq, inverse = np.unique(idx, return_inverse=True)
    ref_pred = _predict_tuple(model, np.ascontiguousarray(X[uniq, :, :W]), batch_size, device,
                              rc_average)
    before = tuple(t[inverse] for t in ref_pred)
    after = _predict_tuple(model, alt, batch_size, device, rc_average)
    return before, after


def _rows(rows: Any, n_cols: int, what: str) -> list[tuple]:
    out = [tuple(r) for r in (rows.tolist() if hasattr(rows, "tolist") else rows)]
    for k, r in enumerate(out):
        if len(r) != n_cols:
            raise InputError(f"{what}: row {k} has {len(r)} values, expected {n_cols}.")
    return out


def encode_allele(value: Any, where: str = "allele") -> np.ndarray:
    """An allele given as a base index 0-3, a string or a ``(4, k)`` one-hot, as ``(4, k)`` int8.

    Parameters
    ----------
    value : int, str or array-like
        Base index (0-3 = A, C, G, T), a string of A/C/G/T/N, or a ``(4, k)`` one-hot.
    where : str
        What the allele is, for error messages.
    """
    if isinstance(value, str):
        bad = set(value.upper()) - set(ALPHABET + "N")
        if bad:
            raise InputError(f"{where}: allele {value!r} has letters other than A, C, G, T, N.")
        return one_hot_encode(value.upper())
    arr = np.asarray(value)
    if arr.ndim == 0:
        i = int(arr)
        if not 0 <= i < 4:
            raise InputError(f"{where}: base index must be 0-3 (A, C, G, T), got {i}.")
        col = np.zeros((4, 1), dtype=np.int8)
        col[i, 0] = 1
        return col
    if arr.ndim == 2 and arr.shape[0] == 4:
        return arr.astype(np.int8)
    raise InputError(f"{where}: cannot read allele {value!r}; use a base index, a string or a "
                     f"(4, k) one-hot.")


def substitution_effect(model: Any, X: Any, substitutions: Any, batch_size: int = 64,
                        device: Any = None, rc_average: bool = False) -> tuple[tuple, tuple]:
    """Effect of single-base (or multi-base, same-length) substitutions.

    Parameters
    ----------
    model : torch.nn.Module
        (profile, counts) model.
    X : array-like
        ``(N, 4, L)`` one-hot sequences.
    substitutions : array-like of rows ``(example, position, allele)``
        ``allele`` is a base index 0-3 (A, C, G, T) or a string of bases written from
        ``position`` on.
    batch_size, device, rc_average
        See :func:`edit_effect`.

    Returns
    -------
    before, after : tuple of torch.Tensor
        Predictions for the reference and the substituted sequences, one row per substitution.
    """
    edits = []
    for k, (i, pos, a) in enumerate(_rows(substitutions, 3, "substitutions")):
        alt = encode_allele(a, f"substitution {k}")
        edits.append(Edit(int(i), int(pos), alt.shape[1], alt))
    return edit_effect(model, X, edits, None, batch_size, device, rc_average)


def deletion_effect(model: Any, X: Any, deletions: Any, in_window: int | None = None,
                    batch_size: int = 64, device: Any = None, rc_average: bool = False
                    ) -> tuple[tuple, tuple]:
    """Effect of deletions: rows ``(example, position, length)``.

    The model sees the first ``in_window`` bases (default: all of ``X``) of the reference and
    of the sequence with ``length`` bases removed at ``position``; the right flank moves left to
    fill the gap (pass ``X`` longer than ``in_window`` to supply it, else the end is N).

    Returns
    -------
    before, after : tuple of torch.Tensor
        See :func:`edit_effect`.
    """
    edits = []
    for k, (i, pos, n) in enumerate(_rows(deletions, 3, "deletions")):
        if int(n) < 1:
            raise InputError(f"deletion {k}: length must be at least 1, got {n}.")
        edits.append(Edit(int(i), int(pos), int(n), np.zeros((4, 0), dtype=np.int8)))
    return edit_effect(model, X, edits, in_window, batch_size, device, rc_average)


def insertion_effect(model: Any, X: Any, insertions: Any, in_window: int | None = None,
                     batch_size: int = 64, device: Any = None, rc_average: bool = False
                     ) -> tuple[tuple, tuple]:
    """Effect of insertions: rows ``(example, position, allele)``.

    ``allele`` (a string or ``(4, k)`` one-hot) is inserted before ``position``; bases from
    ``position`` on move right and the sequence is cut back to ``in_window`` bases.

    Returns
    -------
    before, after : tuple of torch.Tensor
        See :func:`edit_effect`.
    """
    edits = []
    for k, (i, pos, a) in enumerate(_rows(insertions, 3, "insertions")):
        alt = encode_allele(a, f"insertion {k}")
        if alt.shape[1] < 1:
            raise InputError(f"insertion {k}: the inserted allele is empty.")
        edits.append(Edit(int(i), int(pos), 0, alt))
    return edit_effect(model, X, edits, in_window, batch_size, device, rc_average)
