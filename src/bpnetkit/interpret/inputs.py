"""The one validation of sequences and attribution scores at analysis entry points.

Every analysis that takes sequences (:func:`~bpnetkit.interpret.predict.predict`,
:func:`~bpnetkit.interpret.deeplift.deep_lift_shap`,
:func:`~bpnetkit.interpret.ism.saturation_mutagenesis`, and through them variant effects,
edits, marginalization and design) calls :func:`check_one_hot`; every analysis that takes
attribution scores calls :func:`check_attributions`. The rules are the same everywhere:

- sequences are ``(N, 4, L)`` with ``N >= 1`` and ``L >= 1``;
- every value is exactly 0 or 1 (NaN, infinities, probabilities and other numbers are
  refused: a NaN would otherwise become a plausible number, e.g. through oneDNN's fused
  convolution + ReLU, which maps NaN to 0);
- at most one of the four channels is set at each position (an all-zero column is ``N``);
- all-``N`` sequences are accepted by predictions and ISM, but refused by DeepLIFT/SHAP,
  whose attributions are undefined for them (``allow_all_n=False``).

Attribution scores must be finite and shaped like their sequences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bpnetkit.errors import InputError
from bpnetkit.io.attributions import check_attributions

__all__ = ["check_attributions", "check_one_hot"]

_CHUNK = 1 << 22  # elements checked per pass (bounds temporary memory)


def check_one_hot(X: Any, what: str = "X", allow_all_n: bool = True) -> None:
    """Raise :class:`InputError` unless ``X`` holds one-hot sequences ``(N, 4, L)``.

    Parameters
    ----------
    X : torch.Tensor or numpy.ndarray
        The sequences (any numeric dtype; int8 is what bpnetkit's readers produce).
    what : str
        The argument's name, for the message.
    allow_all_n : bool
        Accept sequences without any A, C, G or T (all ``N``).

    Raises
    ------
    InputError
        Naming the first offending sequence, channel and position.
    """
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(np.ascontiguousarray(X)) if X.dtype != object else X
    if not isinstance(X, torch.Tensor):
        raise InputError(f"{what} must be a numpy array or a torch tensor of shape (N, 4, L), "
                         f"got {type(X).__name__}.")
    if X.ndim != 3 or X.shape[1] != 4:
        raise InputError(f"{what} must be one-hot sequences of shape (N, 4, L); got "
                         f"{tuple(X.shape)}.")
    if X.shape[0] == 0:
        raise InputError(f"{what} holds no sequences (shape[0] == 0).")
    if X.shape[2] == 0:
        raise InputError(f"{what} has sequences of length 0.")
    if X.is_complex():
        raise InputError(f"{what} is complex; one-hot sequences hold 0 and 1.")
    rows = max(1, _CHUNK // (4 * X.shape[2]))
    for a in range(0, X.shape[0], rows):
        _check_block(X[a:a + rows], what, a, allow_all_n)


def _check_block(x: torch.Tensor, what: str, offset: int, allow_all_n: bool) -> None:
    if x.dtype == torch.bool:
        x = x.to(torch.int8)
    if x.is_floating_point():
        bad = ~torch.isfinite(x)
        if bool(bad.any()):
            i, c, j = (int(v) for v in bad.nonzero()[0])
            raise InputError(f"{what} holds {int(bad.sum())} NaN/infinite value(s) (first: "
                             f"sequence {i + offset}, channel {c}, position {j}). Sequences "
                             f"must be one-hot (0/1); NaN would give plausible-looking but "
                             f"meaningless predictions. Re-encode them with "
                             f"bpnetkit.io.fasta.one_hot_encode.")
    bad = (x != 0) & (x != 1)
    if bool(bad.any()):
        i, c, j = (int(v) for v in bad.nonzero()[0])
        raise InputError(f"{what} is not one-hot: sequence {i + offset}, channel {c}, position "
                         f"{j} holds {x[i, c, j].item()!r} (expected 0 or 1). Encode sequences "
                         f"with bpnetkit.io.fasta.one_hot_encode.")
    colsum = x.sum(dim=1, dtype=torch.int32) if not x.is_floating_point() else x.sum(dim=1)
    several = colsum > 1
    if bool(several.any()):
        i, j = (int(v) for v in several.nonzero()[0])
        raise InputError(f"{what} is not one-hot: sequence {i + offset}, position {j} has "
                         f"several channels set.")
    if not allow_all_n:
        empty = colsum.sum(dim=1) == 0
        if bool(empty.any()):
            rows = (empty.nonzero()[:, 0] + offset).tolist()
            raise InputError(f"{what}: sequence(s) {rows[:10]} are all N (no A, C, G or T); "
                             f"attributions are undefined for them. Drop these regions (e.g. "
                             f"assembly gaps) before attributing.")
