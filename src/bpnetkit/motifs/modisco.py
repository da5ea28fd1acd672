"""TF-MoDISco with modisco-lite, run in-process on arrays.

:func:`central_window` keeps the central positions of one-hot sequences and hypothetical
contributions (as ``modisco motifs -w`` does) and turns them into modisco-lite's
``(N, W, 4)`` float32 layout; :func:`run_tfmodisco` runs ``modiscolite.tfmodisco.TFMoDISco``
and returns a :class:`ModiscoResult`, whose :meth:`ModiscoResult.patterns` are
:class:`~bpnetkit.io.modisco.Pattern` objects. The ``bpnetkit modisco`` step
(:mod:`bpnetkit.steps.modisco`) reads the attribution h5 and writes the results.

No patterns is a legitimate result in exactly the cases modisco-lite itself reports: a sign
with at most ``min_metacluster_size`` seqlets gets no metacluster (modisco-lite returns None
for it), and clusters smaller than ``final_min_cluster_size`` or without enough information
content are dropped (an empty list). :attr:`ModiscoResult.note` says which happened.
Attributions whose windowed sums are all of one sign (e.g. all zero) cannot be analysed:
modisco-lite's seqlet threshold fits a null to the positive and to the negative windows
separately, so :func:`run_tfmodisco` raises an :class:`~bpnetkit.errors.InputError` for them
before calling it. Any other error of modisco-lite propagates.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpnetkit.errors import InputError, MissingToolError
from bpnetkit.io.modisco import PATTERN_GROUPS, Pattern

logger = logging.getLogger(__name__)


@dataclass
class ModiscoResult:
    """What :func:`run_tfmodisco` returns.

    Attributes
    ----------
    pos_patterns, neg_patterns : list or None
        modisco-lite ``SeqletSet`` objects per sign; None when that sign had too few seqlets
        to form a metacluster.
    window : int
        Length of the analysed windows.
    note : str
        Why there are no patterns (empty when there are some).
    """

    pos_patterns: list[Any] | None
    neg_patterns: list[Any] | None
    window: int
    note: str = ""

    def patterns(self) -> list[Pattern]:
        """The patterns as :class:`Pattern` objects, positive first (as in the h5 file)."""
        out = []
        for group, pats in zip(PATTERN_GROUPS, (self.pos_patterns, self.neg_patterns)):
            for i, p in enumerate(pats or []):
                out.append(Pattern(f"{group}.pattern_{i}", np.asarray(p.sequence),
                                   np.asarray(p.contrib_scores),
                                   np.asarray(p.hypothetical_contribs), len(p.seqlets)))
        return out

    @property
    def n_patterns(self) -> int:
        """Number of patterns of both signs."""
        return len(self.pos_patterns or []) + len(self.neg_patterns or [])


def central_window(one_hot: np.ndarray, hypothetical: np.ndarray, window: int | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Central ``window`` positions of ``(N, 4, L)`` arrays, as float32 ``(N, W, 4)``.

    ``window`` None, or longer than ``L``, means the whole length (logged).
    """
    if one_hot.shape != hypothetical.shape or one_hot.ndim != 3 or one_hot.shape[1] != 4:
        raise InputError(f"one-hot {one_hot.shape} and hypothetical contributions "
                         f"{hypothetical.shape} must both be (N, 4, L).")
    length = one_hot.shape[2]
    if window is None:
        window = length
    if window > length:
        logger.info("window %d is longer than the attributed sequences (%d bp); using the "
                    "whole %d bp.", window, length, length)
        window = length
    a = length // 2 - window // 2
    X = one_hot[:, :, a:a + window].transpose(0, 2, 1).astype(np.float32)
    H = hypothetical[:, :, a:a + window].transpose(0, 2, 1).astype(np.float32)
    return X, H


def check_modisco_input(one_hot: np.ndarray, hypothetical: np.ndarray,
                        sliding_window_size: int) -> None:
    """Raise :class:`InputError` for inputs modisco-lite cannot analyse (see module doc).

    ``one_hot`` and ``hypothetical`` are ``(N, W, 4)`` as :func:`central_window` returns.
    """
    if one_hot.shape[0] == 0:
        raise InputError("modisco: the attributions hold no sequences.")
    if not np.all(np.isfinite(hypothetical)):
        raise InputError("modisco: the hypothetical contributions contain NaN or infinite "
                         "values; recompute the attributions.")
    width = one_hot.shape[1]
    if sliding_window_size > width:
        raise InputError(f"modisco: sliding_window_size {sliding_window_size} is longer than "
                         f"the analysed window ({width} bp); use a smaller one.")
    scores = (one_hot * hypothetical).sum(axis=2, dtype=np.float64)
    c = np.zeros((scores.shape[0], width + 1))
    np.cumsum(scores, axis=1, out=c[:, 1:])
    sums = c[:, sliding_window_size:] - c[:, :-sliding_window_size]
    if not (sums > 0).any() or not (sums < 0).any():
        kind = "all zero" if not sums.any() else \
            ("never negative" if not (sums < 0).any() else "never positive")
        raise InputError(f"modisco: the summed contributions of {sliding_window_size} bp "
                         f"windows are {kind}; modisco-lite estimates its seqlet threshold "
                         f"from windows of both signs, so it cannot analyse these "
                         f"attributions. Check that they are DeepLIFT/SHAP contributions of "
                         f"a trained model.")


def run_tfmodisco(one_hot: np.ndarray, hypothetical: np.ndarray, max_seqlets: int = 2000,
                  n_leiden: int = 2, sliding_window_size: int = 20, flank_size: int = 5,
                  trim_to_window_size: int = 30, initial_flank_to_add: int = 10,
                  final_flank_to_add: int = 0, target_seqlet_fdr: float = 0.05,
                  min_metacluster_size: int = 100, final_min_cluster_size: int = 20,
                  verbose: bool = False) -> ModiscoResult:
    """Run modisco-lite's TF-MoDISco on ``(N, W, 4)`` arrays (see :func:`central_window`).

    Parameters
    ----------
    one_hot, hypothetical : numpy.ndarray
        float32 ``(N, W, 4)`` one-hot sequences and hypothetical contributions.
    max_seqlets, n_leiden, sliding_window_size, flank_size, trim_to_window_size,
    initial_flank_to_add, final_flank_to_add, target_seqlet_fdr, min_metacluster_size,
    final_min_cluster_size : numbers
        modisco-lite's options (``max_seqlets`` is its ``max_seqlets_per_metacluster``,
        ``n_leiden`` its ``n_leiden_runs``).
    verbose : bool
        Let modisco-lite print its progress (otherwise its output is discarded).

    Returns
    -------
    ModiscoResult

    Raises
    ------
    InputError
        For inputs modisco-lite cannot analyse (:func:`check_modisco_input`).
    """
    try:
        import modiscolite.tfmodisco
    except ImportError:  # pragma: no cover - a dependency
        raise MissingToolError("modisco-lite is not installed; 'pip install modisco-lite'.") \
            from None
    check_modisco_input(one_hot, hypothetical, sliding_window_size)
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        pos, neg = modiscolite.tfmodisco.TFMoDISco(
            one_hot=one_hot, hypothetical_contribs=hypothetical,
            max_seqlets_per_metacluster=max_seqlets,
            sliding_window_size=sliding_window_size, flank_size=flank_size,
            trim_to_window_size=trim_to_window_size,
            initial_flank_to_add=initial_flank_to_add, final_flank_to_add=final_flank_to_add,
            target_seqlet_fdr=target_seqlet_fdr, min_metacluster_size=min_metacluster_size,
            final_min_cluster_size=final_min_cluster_size, n_leiden_runs=n_leiden,
            verbose=verbose)
    result = ModiscoResult(pos, neg, int(one_hot.shape[1]))
    if result.n_patterns == 0:
        if pos is None and neg is None:
            result.note = (f"no sign had more than min_metacluster_size = "
                           f"{min_metacluster_size} seqlets")
        else:
            result.note = (f"no cluster kept at least final_min_cluster_size = "
                           f"{final_min_cluster_size} seqlets with enough information "
                           f"content")
        logger.warning("modisco-lite found no patterns in %d sequences: %s. Use more regions, "
                       "a larger target_seqlet_fdr or smaller minimum sizes.",
                       one_hot.shape[0], result.note)
    return result
