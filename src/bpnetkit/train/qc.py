"""ChromBPNet quality checks: thresholds and the marginal footprint of bias motifs.

QC (warnings when a check fails): bias count Pearson in test peaks above -0.3 (official:
fail below -0.5, warn below -0.3), the marginal footprint of the bias motifs in the
bias-free model below ``2 / out_window``, counts Pearson in test peaks above 0.5. The
official footprint check asks for a maximum predicted probability below 0.003 at 1000 bp,
where a flat profile is 0.001; our footprint subtracts the motif-free baseline, hence
``0.003 - 0.001 = 2 / 1000``.

The footprint needs predictions; it takes a function ``predict_logits(X) -> logits`` so that
this module stays free of the prediction loop (the fit step passes
:func:`bpnetkit.interpret.predict.predict`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["BIAS_PEARSON_FAIL", "BIAS_PEARSON_WARN", "COUNTS_PEARSON_MIN", "DEFAULT_BIAS_MOTIFS",
           "chrombpnet_qc", "footprint_inputs", "footprint_limit", "marginal_footprint"]

#: approximate enzyme-bias consensus sequences used by the footprint QC when ``bias_motifs``
#: is not given: a Tn5 insertion-site consensus (ATAC) and a DNase I cleavage preference.
#: They are coarse; pass the bias motifs of your data for a sharper check.
DEFAULT_BIAS_MOTIFS = {"atac": ["GTCTAGAC", "GTTTAAAC"], "dnase": ["TTTGCAAA", "CTTGCAAG"]}

#: bias count Pearson in peaks: fail at or below, warn at or below (official ChromBPNet)
BIAS_PEARSON_FAIL = -0.5
BIAS_PEARSON_WARN = -0.3
#: counts Pearson in test peaks must exceed this
COUNTS_PEARSON_MIN = 0.5


def footprint_limit(out_window: int) -> float:
    """Largest accepted bias-motif footprint of the bias-free model (``2 / out_window``)."""
    return 2.0 / out_window


def footprint_inputs(motif: str, in_window: int, n_backgrounds: int = 64,
                     random_state: int = 0, gc: float = 0.41
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Random backgrounds (GC fraction ``gc``) without and with ``motif`` at the centre:
    two float32 one-hot arrays ``(n_backgrounds, 4, in_window)``."""
    from bpnetkit.io.fasta import one_hot_encode

    rng = np.random.default_rng(random_state)
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    idx = rng.choice(4, size=(n_backgrounds, in_window), p=p)
    X = np.zeros((n_backgrounds, 4, in_window), dtype=np.float32)
    np.put_along_axis(X, idx[:, None, :], 1.0, axis=1)
    Xm = X.copy()
    s = (in_window - len(motif)) // 2
    Xm[:, :, s:s + len(motif)] = one_hot_encode(motif).astype(np.float32)
    return X, Xm


def marginal_footprint(predict_logits: Callable[[np.ndarray], np.ndarray], motif: str,
                       in_window: int, n_backgrounds: int = 64, random_state: int = 0,
                       gc: float = 0.41) -> np.ndarray:
    """Marginal footprint of ``motif``: the predicted profile probabilities (softmax over
    positions) averaged over random backgrounds with the motif inserted at the centre, minus
    the same average without the motif.

    Parameters
    ----------
    predict_logits : callable
        ``predict_logits(X)`` -> profile logits ``(N, S, L_out)`` (numpy or tensor) of the
        model under test for one-hot ``X``.
    motif : str
        The inserted sequence.
    in_window : int
        Model input length.
    n_backgrounds, random_state, gc
        Backgrounds.

    Returns
    -------
    numpy.ndarray
        ``(L_out,)`` for the first output track. A bias-free accessibility model should show
        no footprint of an enzyme-bias motif.
    """
    from scipy.special import softmax

    X, Xm = footprint_inputs(motif, in_window, n_backgrounds, random_state, gc)
    lg0 = np.asarray(predict_logits(X))
    lg1 = np.asarray(predict_logits(Xm))
    p0 = softmax(lg0[:, 0].astype(np.float64), axis=-1).mean(0)
    p1 = softmax(lg1[:, 0].astype(np.float64), axis=-1).mean(0)
    return p1 - p0


def chrombpnet_qc(bias_counts_pearson: float, footprints: Mapping[str, Mapping[str, float]],
                  counts_pearson: float | None, out_window: int) -> dict:
    """Apply the ChromBPNet QC thresholds; warn for each failed check.

    Parameters
    ----------
    bias_counts_pearson : float
        Pearson of the bias model's log counts with observed log counts in test peaks.
    footprints : mapping
        Motif -> ``{"nobias_max": ..., "bias_max": ...}`` (largest absolute marginal
        footprint of the bias-free and the bias model).
    counts_pearson : float or None
        Counts Pearson of the full model in test peaks.
    out_window : int
        Output length (sets the footprint limit).

    Returns
    -------
    dict
        ``bias_counts_pearson_peaks``, ``bias_counts_pearson_status`` (pass/warn/fail),
        ``footprints``, ``footprint_limit``, ``counts_pearson_test_peaks``, ``passed``,
        ``problems``.
    """
    limit = footprint_limit(out_window)
    r = bias_counts_pearson
    problems = []
    # NaN counts as a failure
    status = "pass" if r > BIAS_PEARSON_WARN else "warn" if r > BIAS_PEARSON_FAIL else "fail"
    if not r > BIAS_PEARSON_WARN:
        problems.append(f"bias count Pearson in peaks is {r:.3f} (< {BIAS_PEARSON_WARN}): the "
                        f"bias model may have learned peak signal (official threshold: fail "
                        f"below {BIAS_PEARSON_FAIL})")
    for motif, f in footprints.items():
        if f["nobias_max"] >= limit:
            problems.append(f"bias motif {motif} leaves a footprint of {f['nobias_max']:.4f} "
                            f"(>= {limit:.4f}) in the bias-free model: bias is not fully "
                            f"removed")
    cp = counts_pearson
    if cp is not None and not cp > COUNTS_PEARSON_MIN:
        problems.append(f"counts Pearson in test peaks is {cp:.3f} (< {COUNTS_PEARSON_MIN})")
    for msg in problems:
        warnings.warn(f"ChromBPNet QC: {msg}.", stacklevel=2)
    return {"bias_counts_pearson_peaks": r, "bias_counts_pearson_status": status,
            "footprints": {k: dict(v) for k, v in footprints.items()},
            "footprint_limit": limit,
            "counts_pearson_test_peaks": cp,
            "passed": not problems, "problems": problems}
