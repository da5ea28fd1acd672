"""ChromBPNet quality checks: the enzyme's motif in the bias and the bias-free model, the
marginal footprint of bias motifs, and the official thresholds.

The checks (a QC that can fail):

- **enzyme learned** (pass/fail): the bias model's predicted profile on held-out non-peak
  sequences follows the enzyme's sequence preference. The preference is a PWM of the bases
  around insertion sites, taken from the data (:func:`enzyme_motif_from_counts`: the base
  composition at each offset from every position of the training non-peaks, weighted by the
  reads there, against the composition at the flanks) or, when the data hold too few reads or
  no visible preference, a built-in Tn5 / DNase I PWM (:func:`builtin_enzyme_motif`). Two
  measures relate a profile to the PWM's log-odds score at each output position
  (:func:`enzyme_response`): ``r``, the Pearson correlation of the logits with the score, both
  centred per sequence and per position; and the **effect**, the slope of the log of the mean
  relative rate over score bins (:func:`enzyme_effect`), computed alike for the model's
  predicted probabilities and for the observed counts of the training non-peaks
  (:func:`observed_enzyme_effect`). Their ratio is the share of the data's enzyme effect that
  the model reproduces: about 1 for a bias model that learned the enzyme, whether or not the
  preference is additive over positions, about 0 for an untrained model or one trained on
  shuffled labels. Passes when ``r >= ENZYME_BIAS_MIN_R`` and, for a motif from the data, the
  ratio is at least :data:`ENZYME_BIAS_MIN_RATIO` (with a built-in motif, whose effect in the
  data is unknown, ``r`` alone decides). Random networks correlate with any motif by chance
  (``|r|`` up to 0.29 for untrained 16-filter models, 0.16 at the official bias size, over
  40 and 10 seeds) but with effects below 0.04 of the data's: the ratio is the robust part.
- **enzyme removed** (pass/fail): the bias-free (accessibility) model's share of the combined
  model's enzyme effect, ``|effect_nobias| / (|effect_nobias| + effect_bias)`` (the combined
  logits are the sum of the two; a negative effect, over-correction, counts too), is at most
  :data:`ENZYME_NOBIAS_MAX_SHARE`. Its ``r`` is reported.
- the official ChromBPNet facts, kept as reported numbers and checks: bias count Pearson in
  test peaks (fail below -0.5, warn below -0.3), the marginal footprint of fixed bias motifs in
  the bias-free model below ``2 / out_window`` and counts Pearson in test peaks above 0.5. The
  official footprint check asks for a maximum predicted probability below 0.003 at 1000 bp,
  where a flat profile is 0.001; our footprint subtracts the motif-free baseline, hence
  ``0.003 - 0.001 = 2 / 1000``.

Predictions come through functions ``predict_logits(X) -> logits`` so that this module stays
free of the prediction loop (the fit step passes :func:`bpnetkit.interpret.predict.predict`).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["BIAS_PEARSON_FAIL", "BIAS_PEARSON_WARN", "BUILTIN_ENZYME_PWMS",
           "COUNTS_PEARSON_MIN", "DEFAULT_BIAS_MOTIFS", "ENZYME_BIAS_MIN_R",
           "ENZYME_BIAS_MIN_RATIO", "ENZYME_NOBIAS_MAX_SHARE", "EnzymeMotif",
           "builtin_enzyme_motif", "chrombpnet_qc", "enzyme_checks", "enzyme_effect",
           "enzyme_motif_for_qc", "enzyme_motif_from_counts", "enzyme_response",
           "enzyme_score_track", "enzyme_share", "enzyme_verdict", "footprint_inputs",
           "footprint_limit", "marginal_footprint", "observed_enzyme_effect"]

#: approximate enzyme-bias consensus sequences used by the footprint QC when ``bias_motifs``
#: is not given: a Tn5 insertion-site consensus (ATAC) and a DNase I cleavage preference.
#: They are coarse; pass the bias motifs of your data for a sharper check.
DEFAULT_BIAS_MOTIFS = {"atac": ["GTCTAGAC", "GTTTAAAC"], "dnase": ["TTTGCAAA", "CTTGCAAG"]}

#: bias count Pearson in peaks: fail at or below, warn at or below (official ChromBPNet)
BIAS_PEARSON_FAIL = -0.5
BIAS_PEARSON_WARN = -0.3
#: counts Pearson in test peaks must exceed this
COUNTS_PEARSON_MIN = 0.5
#: the bias model's enzyme check: r and (motif from the data) share of the data's enzyme
#: effect at least these. Measured on simulated Tn5 data (tests/test_chrombpnet_qc.py): tiny
#: trained bias models reach r 0.95-0.98 and a share of 0.94-1.0, models trained on shuffled
#: labels r < 0.1 and a share < 0.01, untrained ones |r| up to 0.29 and a share < 0.04.
ENZYME_BIAS_MIN_R = 0.3
ENZYME_BIAS_MIN_RATIO = 0.3
#: the bias-free model may carry at most this share of the combined model's enzyme effect
ENZYME_NOBIAS_MAX_SHARE = 0.2

_IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "W": "AT", "S": "CG",
          "K": "GT", "M": "AC", "N": "ACGT"}


def _iupac_pwm(consensus: str, weight: float) -> np.ndarray:
    """A coarse PWM: each column puts ``weight`` more probability on the letters of its IUPAC
    code than on the others (``weight`` 1 is flat)."""
    rows = []
    for ch in consensus:
        w = np.array([weight if b in _IUPAC[ch] else 1.0 for b in "ACGT"])
        rows.append(w / w.sum())
    return np.array(rows)


#: Built-in enzyme preferences, used when the data do not show one: ``(PWM (W, 4) over ACGT,
#: offset of the first column from the cut position)``. Tn5: the weak palindromic
#: preference of its 9-bp target duplication, G at the first and C at the last position
#: (``GNTYWRANC``, Goryshin et al. 1998), centred on the duplication's middle base, which is
#: where +4/-4 shifted reads put the cut. DNase I: a coarse preference written from the
#: DNase consensus strings of :data:`DEFAULT_BIAS_MOTIFS`. Both are approximations for a
#: fallback; the data-derived motif is preferred.
BUILTIN_ENZYME_PWMS: dict[str, tuple[np.ndarray, int]] = {
    "atac": (_iupac_pwm("GNTYWRANC", 2.0), -4),
    "dnase": (_iupac_pwm("YTTGCAAR", 2.0), -4),
}


# --------------------------------------------------------------------------------------------
# the enzyme's motif
# --------------------------------------------------------------------------------------------
@dataclass
class EnzymeMotif:
    """An enzyme's sequence preference around its cut (insertion) position.

    Attributes
    ----------
    pwm : numpy.ndarray
        ``(W, 4)`` base probabilities (ACGT) of the columns.
    background : numpy.ndarray
        ``(4,)`` background base probabilities.
    first_offset : int
        Offset of the first column from the cut position (column ``j`` lies at
        ``first_offset + j``).
    source : str
        ``"data"`` (from read counts) or ``"builtin:<assay>"``.
    n_sites : float
        Reads the PWM was computed from (0 for a built-in PWM).
    note : str
        Why a built-in PWM was used (empty otherwise).
    """

    pwm: np.ndarray
    background: np.ndarray
    first_offset: int
    source: str
    n_sites: float = 0.0
    note: str = ""

    def log_odds(self) -> np.ndarray:
        """``(W, 4)`` natural-log odds of each base against the background."""
        return np.log(self.pwm / self.background[None, :])

    @property
    def information(self) -> np.ndarray:
        """``(W,)`` relative entropy of each column against the background (bits)."""
        return (self.pwm * np.log2(self.pwm / self.background[None, :])).sum(axis=1)

    def consensus(self) -> str:
        """Most enriched base per column; ``N`` where a column holds less than a fifth of the
        most informative column's information."""
        info = self.information
        lo = self.log_odds()
        top = info.max() if info.size else 0.0
        return "".join("ACGT"[int(np.argmax(lo[j]))] if top > 0 and info[j] >= 0.2 * top
                       else "N" for j in range(len(info)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (PWM rounded to 4 decimals)."""
        return {"source": self.source, "note": self.note, "n_sites": float(self.n_sites),
                "first_offset": int(self.first_offset), "consensus": self.consensus(),
                "information_bits": round(float(self.information.sum()), 4),
                "background": [round(float(v), 4) for v in self.background],
                "pwm": [[round(float(v), 4) for v in row] for row in self.pwm]}


def builtin_enzyme_motif(assay: str, gc: float = 0.41, note: str = "") -> EnzymeMotif:
    """The built-in PWM of ``assay`` (``"atac"``: Tn5, ``"dnase"``: DNase I; see
    :data:`BUILTIN_ENZYME_PWMS`) against a background of GC fraction ``gc``."""
    from bpnetkit.errors import InputError

    if assay not in BUILTIN_ENZYME_PWMS:
        raise InputError(f"no built-in enzyme motif for assay {assay!r}; valid: "
                         f"{', '.join(BUILTIN_ENZYME_PWMS)}.")
    pwm, first = BUILTIN_ENZYME_PWMS[assay]
    bg = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return EnzymeMotif(pwm.copy(), bg, first, f"builtin:{assay}", 0.0, note)


def _base_tracks(X: np.ndarray, b: int) -> np.ndarray:
    return (np.asarray(X[:, b, :]) > 0).astype(np.float64)


def enzyme_motif_from_counts(X: np.ndarray, y: np.ndarray, half_width: int = 12,
                             flank: tuple[int, int] = (20, 40), pseudocount: float = 1.0,
                             max_regions: int = 2000, random_state: int = 0) -> EnzymeMotif:
    """The enzyme's preference from the data: the base composition at each offset from the
    read positions, weighted by the reads there, against the composition at the flanks.

    Parameters
    ----------
    X : numpy.ndarray
        ``(N, 4, L_in)`` one-hot sequences of regions dominated by the enzyme's bias (the bias
        model's non-peaks).
    y : numpy.ndarray
        ``(N, S, L_out)`` read counts (insertions or cuts) of the same regions, centred in the
        input windows; tracks are summed.
    half_width : int
        Columns from ``-half_width`` to ``+half_width`` around the cut.
    flank : (int, int)
        Offsets ``inner <= |d| <= outer`` whose read-weighted composition is the background
        (local, so that regional base composition cancels).
    pseudocount : float
        Reads spread over the background added to every column.
    max_regions : int
        At most this many regions are used (a seeded sample).
    random_state : int
        Seed of the sample.

    Returns
    -------
    EnzymeMotif
        With ``source="data"`` and ``n_sites`` the reads used.
    """
    from bpnetkit.errors import InputError

    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 3 or X.shape[1] != 4 or y.ndim != 3 or len(X) != len(y):
        raise InputError(f"enzyme motif: need one-hot X (N, 4, L_in) and counts y (N, S, "
                         f"L_out) of the same regions, got {X.shape} and {y.shape}.")
    if not 0 <= half_width < flank[0] <= flank[1]:
        raise InputError(f"enzyme motif: need 0 <= half_width < flank[0] <= flank[1], got "
                         f"{half_width} and {flank}.")
    if len(X) > max_regions:
        idx = np.sort(np.random.default_rng(random_state).choice(len(X), max_regions,
                                                                 replace=False))
        X, y = X[idx], y[idx]
    L_in, L_out = X.shape[-1], y.shape[-1]
    trim = (L_in - L_out) // 2
    D = flank[1]
    lo, hi = max(0, D - trim), min(L_out, L_in - trim - D)
    if hi <= lo:
        raise InputError(f"enzyme motif: windows of {L_in} bp (output {L_out}) are too short "
                         f"for offsets up to {D}; use longer windows or a smaller flank.")
    w = y.sum(axis=1, dtype=np.float64)[:, lo:hi]
    P = hi - lo
    offsets = np.arange(-D, D + 1)
    comp = np.zeros((offsets.size, 4))
    for b in range(4):
        xb = _base_tracks(X, b)
        for k, d in enumerate(offsets):
            s = trim + lo + d
            comp[k, b] = np.einsum("np,np->", w, xb[:, s:s + P])
    n_sites = float(w.sum())
    far = (np.abs(offsets) >= flank[0]) & (np.abs(offsets) <= flank[1])
    bg = comp[far].sum(axis=0)
    bg = (bg + 1.0) / (bg.sum() + 4.0)
    core = np.abs(offsets) <= half_width
    c = comp[core]
    pwm = (c + pseudocount * bg[None, :]) / (c.sum(axis=1, keepdims=True) + pseudocount)
    return EnzymeMotif(pwm, bg, -half_width, "data", n_sites)


def enzyme_motif_for_qc(X: np.ndarray | None, y: np.ndarray | None, assay: str,
                        min_sites: float = 500.0, min_information: float = 0.02,
                        random_state: int = 0) -> EnzymeMotif:
    """The data's enzyme motif (:func:`enzyme_motif_from_counts`) when the data hold at least
    ``min_sites`` reads and a preference clearly above sampling noise (total information at
    least ``min_information`` bits and 5 times its expectation without any preference);
    otherwise the built-in PWM of ``assay``, with the reason in ``note``."""
    reason = "no training non-peaks given"
    if X is not None and y is not None and len(X):
        try:
            m = enzyme_motif_from_counts(X, y, random_state=random_state)
        except ValueError as e:  # windows too short
            reason = str(e)
        else:
            info = float(m.information.sum())
            # expected information of W columns of n reads drawn from the background alone
            noise = m.pwm.shape[0] * 3.0 / (2.0 * max(m.n_sites, 1.0) * math.log(2.0))
            if m.n_sites < min_sites:
                reason = f"only {m.n_sites:.0f} reads in the non-peaks (< {min_sites:.0f})"
            elif info < max(min_information, 5.0 * noise):
                reason = (f"no clear preference around the reads ({info:.3f} bits, noise "
                          f"level {noise:.3f})")
            else:
                return m
    log.warning("ChromBPNet QC: using the built-in %s enzyme motif: %s.", assay, reason)
    return builtin_enzyme_motif(assay, note=reason)


def enzyme_score_track(X: np.ndarray, motif: EnzymeMotif, out_window: int) -> np.ndarray:
    """The motif's log-odds score at every output position: ``(N, out_window)``, the output
    window centred in the input (bases outside the input count 0)."""
    X = np.asarray(X)
    N, _, L_in = X.shape
    trim = (L_in - out_window) // 2
    lo = motif.log_odds()
    score = np.zeros((N, out_window))
    for j in range(lo.shape[0]):
        start = trim + motif.first_offset + j
        a, b = max(0, -start), min(out_window, L_in - start)
        if b <= a:
            continue
        seg = X[:, :, start + a:start + b].astype(np.float64)
        score[:, a:b] += np.einsum("c,ncp->np", lo[j], seg)
    return score


def _double_center(M: np.ndarray) -> np.ndarray:
    M = M - M.mean(axis=1, keepdims=True)
    if len(M) > 1:
        M = M - M.mean(axis=0, keepdims=True)
    return M


def enzyme_effect(rates: np.ndarray, score: np.ndarray, n_bins: int = 10) -> float:
    """How strongly relative rates rise with the enzyme-motif score: the least-squares slope
    of ``log(mean rate)`` on the mean score over ``n_bins`` equal-count score bins.

    Parameters
    ----------
    rates : numpy.ndarray
        ``(N, L)`` rates relative to each region's mean (observed counts over their mean, or
        predicted probabilities times ``L``).
    score : numpy.ndarray
        ``(N, L)`` motif scores (:func:`enzyme_score_track`) at the same positions.
    n_bins : int
        Score bins.

    Returns
    -------
    float
        The slope (NaN when the scores do not vary). Computed the same way for observed and
        predicted rates, so that their ratio is the share of the data's enzyme effect that a
        model reproduces, whether or not the enzyme's preference is additive over positions.
    """
    s, r = np.ravel(score), np.ravel(rates).astype(np.float64)
    order = np.argsort(s, kind="stable")
    bins = [b for b in np.array_split(order, n_bins) if b.size]
    xs = np.array([s[b].mean() for b in bins])
    ms = np.array([r[b].mean() for b in bins])
    ok = ms > 0
    if ok.sum() < 2 or np.ptp(xs[ok]) <= 1e-12:
        return float("nan")
    return float(np.polyfit(xs[ok], np.log(ms[ok]), 1)[0])


def observed_enzyme_effect(X: np.ndarray, y: np.ndarray, motif: EnzymeMotif) -> float:
    """:func:`enzyme_effect` of observed counts ``y (N, S, L_out)`` (tracks summed; regions
    without reads left out) of the sequences ``X (N, 4, L_in)``."""
    yy = np.asarray(y, dtype=np.float64).sum(axis=1)
    keep = yy.sum(axis=1) > 0
    if keep.sum() < 1:
        return float("nan")
    yy = yy[keep]
    score = enzyme_score_track(np.asarray(X)[keep], motif, yy.shape[-1])
    return enzyme_effect(yy / yy.mean(axis=1, keepdims=True), score)


def enzyme_response(logits: np.ndarray, X: np.ndarray, motif: EnzymeMotif
                    ) -> dict[str, float]:
    """How much a model's profile follows the enzyme's preference.

    Parameters
    ----------
    logits : numpy.ndarray
        ``(N, S, L_out)`` predicted profile logits for ``X`` (tracks combined by logsumexp)
        or ``(N, L_out)``.
    X : numpy.ndarray
        ``(N, 4, L_in)`` one-hot sequences (held-out non-peaks).
    motif : EnzymeMotif
        The enzyme's motif.

    Returns
    -------
    dict
        ``r``: Pearson correlation, over all positions of all sequences, of the logits with
        the motif's log-odds score, both centred per sequence and per position (a constant
        profile gives 0; a flat motif NaN); ``effect``: :func:`enzyme_effect` of the
        predicted probabilities (times ``L_out``).
    """
    from scipy.special import log_softmax, logsumexp

    lg = np.asarray(logits, dtype=np.float64)
    if lg.ndim == 3:
        lg = logsumexp(lg, axis=1)
    s = enzyme_score_track(X, motif, lg.shape[-1])
    A, B = _double_center(lg), _double_center(s)
    va, vb = float((A * A).sum()), float((B * B).sum())
    if vb <= 1e-12 * B.size:
        return {"r": float("nan"), "effect": float("nan")}
    r = 0.0 if va <= 1e-12 * A.size else float((A * B).sum()) / math.sqrt(va * vb)
    rates = np.exp(log_softmax(lg, axis=-1)) * lg.shape[-1]
    return {"r": r, "effect": enzyme_effect(rates, s)}


def enzyme_checks(bias_logits: Callable[[np.ndarray], np.ndarray],
                  nobias_logits: Callable[[np.ndarray], np.ndarray] | None,
                  X_train: np.ndarray | None, y_train: np.ndarray | None,
                  X_heldout: np.ndarray, assay: str, max_heldout: int = 256,
                  random_state: int = 0) -> dict[str, Any]:
    """The enzyme measures of the QC: the enzyme motif (from the training non-peaks, or
    built-in), its effect in the observed counts, and the response of the bias and the
    bias-free model's profiles to it on held-out non-peak sequences.

    Parameters
    ----------
    bias_logits, nobias_logits : callable
        ``f(X) -> profile logits (N, S, L_out)`` of the bias model and of the bias-free
        accessibility model (None: not measured).
    X_train, y_train : numpy.ndarray or None
        Sequences and counts the motif and its observed effect are taken from (see
        :func:`enzyme_motif_for_qc`).
    X_heldout : numpy.ndarray
        ``(N, 4, L_in)`` held-out non-peak sequences.
    assay : str
        ``"atac"`` or ``"dnase"`` (the built-in motif).
    max_heldout : int
        At most this many held-out sequences (a seeded sample).
    random_state : int
        Seed.

    Returns
    -------
    dict
        ``enzyme_motif`` (:meth:`EnzymeMotif.to_dict`); ``observed_effect``
        (:func:`observed_enzyme_effect` on the training non-peaks; None without them);
        ``bias_r``, ``bias_effect`` (:func:`enzyme_response`); ``bias_effect_ratio``
        (``bias_effect / observed_effect``: the share of the data's enzyme effect the bias
        model reproduces; None unless the motif is from the data); ``nobias_r``,
        ``nobias_effect``, ``nobias_share`` (:func:`enzyme_share`; None when not measured);
        ``n_heldout``. The input of :func:`chrombpnet_qc`'s ``enzyme``.
    """
    from bpnetkit.errors import InputError

    motif = enzyme_motif_for_qc(X_train, y_train, assay, random_state=random_state)
    Xh = np.asarray(X_heldout)
    if len(Xh) < 2:
        raise InputError("enzyme QC: need at least 2 held-out non-peak sequences; give more "
                         "negatives on the test (or validation) chromosomes.")
    rng = np.random.default_rng(random_state)
    if len(Xh) > max_heldout:
        Xh = Xh[np.sort(rng.choice(len(Xh), max_heldout, replace=False))]
    out: dict[str, Any] = {"enzyme_motif": motif.to_dict(), "n_heldout": int(len(Xh)),
                           "observed_effect": None, "bias_effect_ratio": None}
    if X_train is not None and y_train is not None and len(X_train):
        Xt, yt = np.asarray(X_train), np.asarray(y_train)
        if len(Xt) > 2000:
            idx = np.sort(rng.choice(len(Xt), 2000, replace=False))
            Xt, yt = Xt[idx], yt[idx]
        out["observed_effect"] = observed_enzyme_effect(Xt, yt, motif)
    Xf = Xh.astype(np.float32)
    cb = enzyme_response(np.asarray(bias_logits(Xf)), Xh, motif)
    out["bias_r"], out["bias_effect"] = cb["r"], cb["effect"]
    oe = out["observed_effect"]
    if motif.source == "data" and oe is not None and oe > 0:
        out["bias_effect_ratio"] = cb["effect"] / oe
    out["nobias_r"] = out["nobias_effect"] = None
    if nobias_logits is not None:
        ca = enzyme_response(np.asarray(nobias_logits(Xf)), Xh, motif)
        out["nobias_r"], out["nobias_effect"] = ca["r"], ca["effect"]
    out["nobias_share"] = enzyme_share(out["bias_effect"], out["nobias_effect"])
    return out


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def enzyme_share(bias_effect: float | None, nobias_effect: float | None) -> float | None:
    """The bias-free model's share of the combined model's enzyme effect:
    ``|nobias_effect| / (|nobias_effect| + max(bias_effect, 0))`` (the combined logits are the
    sum of the two models'; a negative effect, over-correction, counts as well). None when
    not measured; NaN when neither model has any effect."""
    if bias_effect is None or nobias_effect is None:
        return None
    a, b = abs(float(nobias_effect)), max(float(bias_effect), 0.0)
    return a / (a + b) if a + b > 0 else math.nan


def enzyme_verdict(enzyme: Mapping[str, Any]) -> tuple[bool, bool | None, list[str]]:
    """The two enzyme checks on :func:`enzyme_checks` output: (enzyme learned, enzyme removed
    or None when the bias-free model was not measured, problem messages). NaN fails.

    Learned: ``bias_r >= ENZYME_BIAS_MIN_R`` and, for a motif from the data,
    ``bias_effect_ratio >= ENZYME_BIAS_MIN_RATIO``. Removed: ``nobias_share <=
    ENZYME_NOBIAS_MAX_SHARE``."""
    problems = []
    src = enzyme.get("enzyme_motif", {}).get("source", "?")
    br, ratio = enzyme.get("bias_r"), enzyme.get("bias_effect_ratio")
    learned = br is not None and br >= ENZYME_BIAS_MIN_R
    if src == "data":
        learned = learned and ratio is not None and ratio >= ENZYME_BIAS_MIN_RATIO
    if not learned:
        problems.append(
            f"the bias model's profile does not follow the enzyme's motif ({src}): r "
            f"{_fmt(br)} (needs >= {ENZYME_BIAS_MIN_R})"
            + (f", share of the data's enzyme effect {_fmt(ratio)} (needs >= "
               f"{ENZYME_BIAS_MIN_RATIO})" if src == "data" else "")
            + ". The bias model did not learn the enzyme; train it longer (bias_max_epochs) "
            "or on more non-peaks")
    share = enzyme.get("nobias_share")
    if share is None:
        share = enzyme_share(enzyme.get("bias_effect"), enzyme.get("nobias_effect"))
    removed = None
    if enzyme.get("nobias_effect") is not None:
        removed = share is not None and share <= ENZYME_NOBIAS_MAX_SHARE
        if not removed:
            problems.append(f"the bias-free model carries {_fmt(share)} of the combined "
                            f"model's enzyme effect (> {ENZYME_NOBIAS_MAX_SHARE}; effect "
                            f"{_fmt(enzyme.get('nobias_effect'))}, r "
                            f"{_fmt(enzyme.get('nobias_r'))}): the enzyme's bias is not "
                            f"removed from the accessibility model")
    return learned, removed, problems


# --------------------------------------------------------------------------------------------
# footprints and thresholds
# --------------------------------------------------------------------------------------------
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
                  counts_pearson: float | None, out_window: int,
                  enzyme: Mapping[str, Any] | None = None) -> dict:
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
    enzyme : mapping or None
        :func:`enzyme_checks` output; adds the checks ``enzyme_learned`` and
        ``enzyme_removed`` (:func:`enzyme_verdict`).

    Returns
    -------
    dict
        ``bias_counts_pearson_peaks``, ``bias_counts_pearson_status`` (pass/warn/fail),
        ``footprints``, ``footprint_limit``, ``counts_pearson_test_peaks``, ``enzyme`` (the
        measures and thresholds, when given), ``checks`` (check -> pass/warn/fail/not run),
        ``passed``, ``problems``.
    """
    limit = footprint_limit(out_window)
    r = bias_counts_pearson
    problems = []
    checks: dict[str, str] = {}
    # NaN counts as a failure
    status = "pass" if r > BIAS_PEARSON_WARN else "warn" if r > BIAS_PEARSON_FAIL else "fail"
    checks["bias_counts_pearson"] = status
    if not r > BIAS_PEARSON_WARN:
        problems.append(f"bias count Pearson in peaks is {r:.3f} (< {BIAS_PEARSON_WARN}): the "
                        f"bias model may have learned peak signal (official threshold: fail "
                        f"below {BIAS_PEARSON_FAIL})")
    fp_ok = True
    for motif, f in footprints.items():
        if f["nobias_max"] >= limit:
            fp_ok = False
            problems.append(f"bias motif {motif} leaves a footprint of {f['nobias_max']:.4f} "
                            f"(>= {limit:.4f}) in the bias-free model: bias is not fully "
                            f"removed")
    checks["footprints"] = ("pass" if fp_ok else "fail") if footprints else "not run"
    cp = counts_pearson
    if cp is not None and not cp > COUNTS_PEARSON_MIN:
        problems.append(f"counts Pearson in test peaks is {cp:.3f} (< {COUNTS_PEARSON_MIN})")
    checks["counts_pearson"] = "not run" if cp is None else \
        "pass" if cp > COUNTS_PEARSON_MIN else "fail"
    enz = None
    if enzyme is not None:
        enz = dict(enzyme)
        learned, removed, why = enzyme_verdict(enz)
        enz.update(bias_min_r=ENZYME_BIAS_MIN_R, bias_min_ratio=ENZYME_BIAS_MIN_RATIO,
                   nobias_max_share=ENZYME_NOBIAS_MAX_SHARE)
        checks["enzyme_learned"] = "pass" if learned else "fail"
        checks["enzyme_removed"] = "not run" if removed is None else \
            "pass" if removed else "fail"
        problems += why
        em = enz.get("enzyme_motif", {})
        log.info("ChromBPNet QC: enzyme motif from %s (%s, %.3f bits, %.0f reads), effect in "
                 "the data %s; bias model: r %s (needs >= %s), effect %s = %s of the data's "
                 "(needs >= %s); bias-free model: r %s, effect %s, share %s (needs <= %s).",
                 em.get("source"), em.get("consensus"), em.get("information_bits", math.nan),
                 em.get("n_sites", 0.0), _fmt(enz.get("observed_effect")),
                 _fmt(enz.get("bias_r")), ENZYME_BIAS_MIN_R, _fmt(enz.get("bias_effect")),
                 _fmt(enz.get("bias_effect_ratio")), ENZYME_BIAS_MIN_RATIO,
                 _fmt(enz.get("nobias_r")), _fmt(enz.get("nobias_effect")),
                 _fmt(enz.get("nobias_share")), ENZYME_NOBIAS_MAX_SHARE)
    else:
        checks["enzyme_learned"] = checks["enzyme_removed"] = "not run"
    log.info("ChromBPNet QC: bias count Pearson in peaks %.3f (%s); counts Pearson in test "
             "peaks %s; largest bias-motif footprint in the bias-free model %s (limit %.4f); "
             "%s.", r, status, "n/a" if cp is None else f"{cp:.3f}",
             f"{max(f['nobias_max'] for f in footprints.values()):.4f}" if footprints
             else "n/a", limit, "passed" if not problems else
             f"FAILED ({', '.join(k for k, v in checks.items() if v == 'fail')})")
    for msg in problems:
        warnings.warn(f"ChromBPNet QC: {msg}.", stacklevel=2)
    out = {"bias_counts_pearson_peaks": r, "bias_counts_pearson_status": status,
           "footprints": {k: dict(v) for k, v in footprints.items()},
           "footprint_limit": limit,
           "counts_pearson_test_peaks": cp,
           "checks": checks, "passed": not problems, "problems": problems}
    if enz is not None:
        out["enzyme"] = enz
    return out
