"""In-silico marginalization: the effect of inserting a motif into background sequences.

For every motif the motif is written over the centre of each background sequence: its
consensus, or a fresh sample from its PWM for every background (``insertion="sample"``). The
model predicts both the backgrounds and the inserted sequences (through
:func:`bpnetkit.interpret.predict.predict`, the one prediction loop), and per motif we report
the mean change in predicted log counts (``delta_log_counts``, mean over count outputs), the
mean Jensen-Shannon distance (natural log, :func:`bpnetkit.train.metrics.js_distance`)
between the profile distributions before and after (``profile_jsd``; softmax jointly over
strands and positions), and optionally the mean attribution (DeepLIFT/SHAP, hypothetical x
one-hot) over the inserted positions and over the same positions of the backgrounds.

Backgrounds: :func:`prepare_backgrounds` subsamples given sequences and (by default) replaces
each by a dinucleotide shuffle of itself (which removes motifs while keeping composition), or
draws random sequences with GC fraction ``gc`` when none are given. The ``bpnetkit
marginalize`` step (:mod:`bpnetkit.steps.marginalize`) reads them from files or a genome.

The spacing experiment (:func:`spacing_effects`) inserts motif ``a`` at the centre and motif
``b`` starting ``d`` positions after the end of ``a`` (``d`` in ``spacings``, a gap of 0 means
adjacent), and reports the joint effect next to the single effects (``epistasis`` = joint -
a alone - b alone, in log counts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif
from bpnetkit.train.metrics import js_distance

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- predictions
def _predict(model, X: np.ndarray, batch_size: int = 64, device=None
             ) -> tuple[np.ndarray, np.ndarray]:
    """``(profile_logits, log_counts)`` float64 arrays for one-hot ``X`` ``(N, 4, L)``.

    Models with control tracks get zeros (filled by :func:`~bpnetkit.interpret.predict.predict`).
    """
    from bpnetkit.interpret.predict import predict

    y = predict(model, X, batch_size=batch_size, device=device)
    if not isinstance(y, tuple) or len(y) < 2:
        raise InputError("marginalization needs a model that returns (profile logits, log "
                         "counts).")
    return (np.asarray(y[0].float().numpy(), np.float64),
            np.asarray(y[1].float().numpy(), np.float64))


def _profile_probs(logits: np.ndarray) -> np.ndarray:
    """Softmax jointly over strands and positions, flattened ``(N, S * L)``."""
    flat = logits.reshape(logits.shape[0], -1)
    flat = flat - flat.max(axis=1, keepdims=True)
    p = np.exp(flat)
    return p / p.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- insertion
def insert_motif(X: np.ndarray, motif: Motif, start: int | None = None,
                 mode: Literal["consensus", "sample"] = "consensus",
                 random_state=None) -> np.ndarray:
    """Copy of ``X`` ``(N, 4, L)`` with ``motif`` written at ``start`` (default: centred)."""
    L = X.shape[2]
    if motif.length > L:
        raise InputError(f"motif '{motif.label}' ({motif.length} bp) is longer than the "
                         f"sequence window ({L} bp); use a longer window or shorter motifs.")
    if start is None:
        start = L // 2 - motif.length // 2
    if start < 0 or start + motif.length > L:
        raise InputError(f"motif '{motif.label}' at {start}..{start + motif.length} does not "
                         f"fit in the {L} bp window.")
    out = X.copy()
    if mode == "consensus":
        out[:, :, start:start + motif.length] = motif.one_hot()[None]
    elif mode == "sample":
        out[:, :, start:start + motif.length] = motif.sample(X.shape[0], random_state)
    else:
        raise InputError(f"insertion must be 'consensus' or 'sample', got {mode!r}.")
    return out


# ----------------------------------------------------------------------------- backgrounds
def random_backgrounds(n: int, length: int, gc: float = 0.41, random_state=0) -> np.ndarray:
    """``n`` random int8 one-hot sequences ``(n, 4, length)`` with GC fraction ``gc``."""
    from bpnetkit.utils import as_generator

    if not 0 <= gc <= 1:
        raise InputError(f"gc must be in [0, 1], got {gc}.")
    rng = as_generator(random_state)
    probs = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    idx = rng.choice(4, size=(n, length), p=probs)
    X = np.zeros((n, 4, length), dtype=np.int8)
    X[np.arange(n)[:, None], idx, np.arange(length)[None]] = 1
    return X


def prepare_backgrounds(X: np.ndarray | None = None, n: int = 64, length: int = 2114,
                        shuffle: bool = True, gc: float = 0.41, random_state: int = 0
                        ) -> np.ndarray:
    """Background one-hot sequences ``(n', 4, L)`` for :func:`marginalize`.

    Parameters
    ----------
    X : numpy.ndarray or None
        Candidate sequences ``(N, 4, L)``; None draws ``n`` random sequences of ``length``
        with GC fraction ``gc`` (:func:`random_backgrounds`, not shuffled).
    n : int
        At most this many sequences are kept (a random subset, in their original order).
    length : int
        Length of random backgrounds (ignored when ``X`` is given).
    shuffle : bool
        Replace every given sequence by one dinucleotide shuffle of itself.
    gc : float
        GC fraction of random backgrounds.
    random_state : int
        Seed of the subset, the shuffles and the random sequences.
    """
    from bpnetkit.utils import as_generator

    rng = as_generator(random_state)
    if X is None:
        return random_backgrounds(n, length, gc, rng)
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != 4:
        raise InputError(f"backgrounds must be one-hot (N, 4, L), got {X.shape}.")
    if X.shape[0] == 0:
        raise InputError("no background sequences were given.")
    if X.shape[0] > n:
        X = X[np.sort(rng.choice(X.shape[0], size=n, replace=False))]
    X = X.astype(np.int8)
    if shuffle:
        from bpnetkit.interpret.shuffle import dinucleotide_shuffle

        seed = int(rng.integers(2**31))
        X = np.asarray(dinucleotide_shuffle(X, n=1, random_state=seed))[:, 0].astype(np.int8)
    return X


# ----------------------------------------------------------------------------- core
@dataclass
class MotifEffect:
    """Effect of one motif (means over backgrounds)."""

    motif: str
    name: str
    consensus: str
    delta_log_counts: float
    delta_log_counts_sd: float
    profile_jsd: float
    attribution_inserted: float = float("nan")
    attribution_background: float = float("nan")


@dataclass
class MeanProfiles:
    """Mean predicted profile probabilities before and after inserting each motif.

    Attributes
    ----------
    background : numpy.ndarray
        ``(S, L_out)`` mean over backgrounds (softmax jointly over strands and positions).
    motifs : list of str
        Motif identifiers, in the order of ``inserted``.
    inserted : numpy.ndarray
        ``(M, S, L_out)`` mean after inserting each motif.
    """

    background: np.ndarray
    motifs: list[str] = field(default_factory=list)
    inserted: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))

    def of(self, motif: str) -> np.ndarray:
        """The mean profile after inserting ``motif``."""
        return self.inserted[self.motifs.index(motif)]


def marginalize(model, motifs: list[Motif], X: np.ndarray, insertion: str = "consensus",
                batch_size: int = 64, device=None, attributions: bool = False,
                n_shuffles: int = 10, random_state: int = 0, return_profiles: bool = False,
                verbose: bool = False):
    """Effects of inserting every motif into the backgrounds ``X`` ``(N, 4, L)``.

    Returns
    -------
    list of MotifEffect
        In input order; with ``return_profiles`` a tuple ``(effects, MeanProfiles)``.
    """
    from bpnetkit.utils import as_generator, progress

    rng = as_generator(random_state)
    L = X.shape[2]
    for m in motifs:
        if m.length > L:
            raise InputError(f"motif '{m.label}' ({m.length} bp) is longer than the "
                             f"background window ({L} bp).")
    base_logits, base_counts = _predict(model, X, batch_size, device)
    base_p = _profile_probs(base_logits)
    shape = base_logits.shape[1:]
    base_attr = _attributions(model, X, batch_size, device, n_shuffles, random_state) \
        if attributions else None
    out, means = [], []
    for m in progress(motifs, desc="marginalize", enabled=verbose or len(motifs) >= 20,
                      unit="motif"):
        Xi = insert_motif(X, m, mode=insertion, random_state=int(rng.integers(2**31)))
        logits, counts = _predict(model, Xi, batch_size, device)
        d = (counts - base_counts).mean(axis=1)
        p = _profile_probs(logits)
        eff = MotifEffect(m.name, m.alt_name, m.consensus(), float(d.mean()),
                          float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                          float(js_distance(base_p, p).mean()))
        if attributions:
            a = L // 2 - m.length // 2
            attr = _attributions(model, Xi, batch_size, device, n_shuffles, random_state)
            eff.attribution_inserted = float(attr[:, a:a + m.length].sum(axis=1).mean())
            eff.attribution_background = float(base_attr[:, a:a + m.length].sum(axis=1).mean())
        if return_profiles:
            means.append(p.mean(axis=0).reshape(shape))
        out.append(eff)
    if not return_profiles:
        return out
    inserted = np.stack(means) if means else np.zeros((0, *shape))
    return out, MeanProfiles(base_p.mean(axis=0).reshape(shape), [m.name for m in motifs],
                             inserted)


def _attributions(model, X, batch_size, device, n_shuffles, random_state) -> np.ndarray:
    """Per-position actual contributions to the counts ``(N, L)`` via DeepLIFT/SHAP."""
    import torch

    from bpnetkit.interpret.deeplift import deep_lift_shap
    from bpnetkit.models.wrappers import CountWrapper

    X_t = torch.as_tensor(X, dtype=torch.float32)
    n_ctl = int(getattr(model, "n_control_tracks", 0) or 0)
    args = [torch.zeros(X_t.shape[0], n_ctl, X_t.shape[2])] if n_ctl > 0 else None
    h = deep_lift_shap(CountWrapper(model), X_t, args=args, n_shuffles=n_shuffles,
                       batch_size=batch_size, device=device, random_state=random_state,
                       hypothetical=True)
    h = np.asarray(h.detach().cpu(), dtype=np.float64)
    return (h * X).sum(axis=1)


def spacing_effects(model, a: Motif, b: Motif, X: np.ndarray, spacings: list[int],
                    insertion: str = "consensus", batch_size: int = 64, device=None,
                    random_state: int = 0) -> list[dict]:
    """Joint effect of ``a`` at the centre and ``b`` ``d`` bp after it, for each spacing.

    Returns one dict per spacing with ``motif_a``, ``motif_b``, ``spacing``, ``delta_a``,
    ``delta_b``, ``delta_ab`` (mean change in log counts) and ``epistasis``.
    """
    L = X.shape[2]
    start_a = L // 2 - a.length // 2
    _, base = _predict(model, X, batch_size, device)
    Xa = insert_motif(X, a, start_a, insertion, random_state)
    _, ca = _predict(model, Xa, batch_size, device)
    rows = []
    for d in spacings:
        start_b = start_a + a.length + int(d)
        if start_b < 0 or start_b + b.length > L:
            raise InputError(f"spacing {d}: motif '{b.label}' would end at "
                             f"{start_b + b.length}, outside the {L} bp window; use smaller "
                             f"spacings.")
        Xb = insert_motif(X, b, start_b, insertion, random_state)
        Xab = insert_motif(Xa, b, start_b, insertion, random_state)
        _, cb = _predict(model, Xb, batch_size, device)
        _, cab = _predict(model, Xab, batch_size, device)
        da = float((ca - base).mean())
        db = float((cb - base).mean())
        dab = float((cab - base).mean())
        rows.append({"motif_a": a.name, "motif_b": b.name, "spacing": int(d),
                     "delta_a": da, "delta_b": db, "delta_ab": dab,
                     "epistasis": dab - da - db})
    return rows
