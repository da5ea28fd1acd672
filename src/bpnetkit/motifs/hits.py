"""Motif hit calling in contribution scores (the Fi-NeMo method), arrays in and out.

The contribution scores of every region are explained as a sparse, non-negative sum of motif
contribution weight matrices (CWMs) placed at positions along the region, the CWMs of every
motif on both strands acting as a convolutional dictionary. With ``y`` the region's
contributions (scaled to unit mean square per position), ``D_k`` the unit-norm CWM of
dictionary entry ``k`` (a motif on one strand), ``w_kp`` a per-position weight equal to
``(energy of y under the trimmed CWM at p + eps)^-1/2`` (at most 10) and ``c_kp >= 0`` the
coefficients, the fit minimises::

    1/2 || y - m * sum_kp c_kp w_kp D_k(. - p) ||^2  +  sum_k lambda_k sum_p c_kp

(``m`` the one-hot mask when explaining actual, "projected", contributions). The weights
``w`` make the gradient at zero equal to the cosine-like similarity of the CWM with the local
contributions, so ``lambda`` (``alpha``) is a similarity threshold a motif instance must pass
to enter the fit. The problem is solved with accelerated proximal gradient descent (FISTA,
momentum ``k / (k + 3)``) per region until the duality gap per position falls below
``tol``; a region whose iterates blow up restarts with a smaller step.

A hit is every non-zero coefficient (optionally only those whose similarity is at least
``lambda``), reported with its coefficient (also rescaled to the raw contribution scale),
similarity and importance (sum of absolute contributions under the trimmed motif).
:mod:`bpnetkit.steps.hits` reads the files and writes Fi-NeMo's output layout.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bpnetkit.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["HitMotifs", "Hits", "call_hits", "prepare_motifs", "trim_bounds"]


def trim_bounds(cwm: np.ndarray, threshold: float) -> tuple[int, int]:
    """``[start, end)`` of the positions between the first and last one whose summed
    absolute contribution is at least ``threshold`` times the largest (``cwm`` is ``(W, 4)``).
    """
    score = np.abs(np.asarray(cwm, dtype=np.float64)).sum(axis=1)
    if score.max() <= 0:
        return 0, len(score)
    keep = np.flatnonzero(score >= threshold * score.max())
    return int(keep[0]), int(keep[-1]) + 1


@dataclass
class HitMotifs:
    """The dictionary of the fit: every motif forward and (optionally) reverse complement.

    Attributes
    ----------
    names : list of str
        One name per motif (not per strand).
    cwms : numpy.ndarray
        ``(K, 4, W)`` float32 unit-norm CWMs, zero outside the trimmed core and in the
        right padding of motifs shorter than ``W``.
    masks : numpy.ndarray
        ``(K, W)`` float32, 1 in the trimmed core.
    motif : numpy.ndarray
        ``(K,)`` index into ``names``.
    strand : numpy.ndarray
        ``(K,)`` +1 forward, -1 reverse complement.
    trim_start, trim_end, width : numpy.ndarray
        ``(K,)`` core ``[trim_start, trim_end)`` within the untrimmed motif of ``width``.
    lambdas : numpy.ndarray
        ``(K,)`` L1 penalties.
    """

    names: list[str]
    cwms: np.ndarray
    masks: np.ndarray
    motif: np.ndarray
    strand: np.ndarray
    trim_start: np.ndarray
    trim_end: np.ndarray
    width: np.ndarray
    lambdas: np.ndarray

    @property
    def max_width(self) -> int:
        """``W``, the common (padded) width."""
        return int(self.cwms.shape[2])


def prepare_motifs(cwms: Sequence[np.ndarray], names: Sequence[str],
                   global_lambda: float = 0.7, motif_lambdas: Mapping[str, float] | None = None,
                   trim_threshold: float = 0.3,
                   trim_thresholds: Mapping[str, float] | None = None,
                   trim_coords: Mapping[str, Sequence[int]] | None = None,
                   include_rc: bool = True) -> HitMotifs:
    """Build the dictionary from CWMs ``(W_i, 4)`` (ACGT columns).

    Each CWM is scaled to unit Frobenius norm (before trimming), trimmed to its core and,
    with ``include_rc``, also used reverse complemented. The core is ``trim_coords[name]``
    (``[start, end)`` on the forward strand) when given, else the positions between the first
    and last one whose summed absolute contribution reaches ``trim_threshold`` (per motif
    from ``trim_thresholds``) of the largest. ``global_lambda`` is the L1 penalty (per motif
    from ``motif_lambdas``), also the similarity a hit must reach.
    """
    alphas = dict(motif_lambdas or {})
    alpha = global_lambda
    trim_thresholds = dict(trim_thresholds or {})
    trim_coords = dict(trim_coords or {})
    names = [str(n) for n in names]
    if len(cwms) != len(names):
        raise InputError(f"{len(cwms)} CWMs but {len(names)} names.")
    if not cwms:
        raise InputError("no motifs to call hits of.")
    if len(set(names)) != len(names):
        raise InputError(f"motif names must be unique, got {names}.")
    for key, src in (("motif_lambdas", alphas), ("trim_thresholds", trim_thresholds),
                     ("trim_coords", trim_coords)):
        unknown = sorted(set(src) - set(names))
        if unknown:
            raise InputError(f"{key} names unknown motif(s) {unknown}; motifs are {names}.")
    mats = []
    for name, cwm in zip(names, cwms):
        a = np.asarray(cwm, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 4 or a.shape[0] < 1:
            raise InputError(f"motif {name}: CWM must be (width, 4), got {a.shape}.")
        if not np.isfinite(a).all() or not np.abs(a).sum() > 0:
            raise InputError(f"motif {name}: CWM is all zero or not finite.")
        mats.append(a)
    width = max(len(a) for a in mats)
    rows: list[tuple] = []
    for i, (name, a) in enumerate(zip(names, mats)):
        lam = float(alphas.get(name, alpha))
        thr = float(trim_thresholds.get(name, trim_threshold))
        if not lam > 0:
            raise InputError(f"motif {name}: lambda must be > 0, got {lam}.")
        if not 0 <= thr <= 1:
            raise InputError(f"motif {name}: trim threshold must be in [0, 1], got {thr}.")
        unit = a / np.sqrt((a ** 2).sum())
        w = len(unit)
        if name in trim_coords:
            coords = [int(x) for x in trim_coords[name]]
            if len(coords) != 2:
                raise InputError(f"motif {name}: trim coordinates must be [start, end], got "
                                 f"{list(trim_coords[name])}.")
            a0, b0 = coords
            if not 0 <= a0 < b0 <= w:
                raise InputError(f"motif {name}: trim coordinates [{a0}, {b0}) do not lie "
                                 f"within its {w} positions.")
        else:
            a0, b0 = trim_bounds(unit, thr)
        variants = [(unit, 1, a0, b0)]
        if include_rc:
            variants.append((unit[::-1, ::-1], -1, w - b0, w - a0))
        for mat, strand, s, e in variants:
            core = np.zeros(width, dtype=np.float32)
            core[s:e] = 1
            padded = np.zeros((4, width), dtype=np.float32)
            padded[:, :w] = mat.T
            rows.append((padded * core[None], core, i, strand, s, e, w, lam))
    cols = list(zip(*rows))
    return HitMotifs(names=names, cwms=np.stack(cols[0]), masks=np.stack(cols[1]),
                     motif=np.array(cols[2], dtype=np.int64),
                     strand=np.array(cols[3], dtype=np.int64),
                     trim_start=np.array(cols[4], dtype=np.int64),
                     trim_end=np.array(cols[5], dtype=np.int64),
                     width=np.array(cols[6], dtype=np.int64),
                     lambdas=np.array(cols[7], dtype=np.float32))


@dataclass
class Hits:
    """Called hits (one row per hit) and per-region fit diagnostics.

    Attributes
    ----------
    example : numpy.ndarray
        ``(H,)`` region (row) index.
    entry : numpy.ndarray
        ``(H,)`` dictionary entry (index into :class:`HitMotifs` arrays).
    motif : numpy.ndarray
        ``(H,)`` motif index (into ``HitMotifs.names``).
    strand : numpy.ndarray
        ``(H,)`` +1 / -1.
    position : numpy.ndarray
        ``(H,)`` start of the untrimmed motif within the region.
    coefficient, coefficient_global, similarity, importance : numpy.ndarray
        ``(H,)`` float32 scores: the fitted coefficient (contributions scaled to unit mean
        square), the same on the raw contribution scale (``coefficient * scale^2``), the
        similarity of the trimmed CWM with the contributions under it, and the sum of
        absolute raw contributions under the trimmed CWM.
    region_scale, region_gap, region_nll : numpy.ndarray
        ``(N,)`` per region: root mean square contribution, final duality gap and half mean
        squared residual per position (after scaling).
    region_steps : numpy.ndarray
        ``(N,)`` iterations used.
    region_step_size : numpy.ndarray
        ``(N,)`` final step size.
    region_converged : numpy.ndarray
        ``(N,)`` bool, the gap reached ``tol``.
    """

    example: np.ndarray
    entry: np.ndarray
    motif: np.ndarray
    strand: np.ndarray
    position: np.ndarray
    coefficient: np.ndarray
    coefficient_global: np.ndarray
    similarity: np.ndarray
    importance: np.ndarray
    region_scale: np.ndarray
    region_gap: np.ndarray
    region_nll: np.ndarray
    region_steps: np.ndarray
    region_step_size: np.ndarray
    region_converged: np.ndarray

    def __len__(self) -> int:
        return int(len(self.example))


def _check_inputs(contributions: np.ndarray, one_hot: np.ndarray | None,
                  motifs: HitMotifs) -> None:
    if contributions.ndim != 3 or contributions.shape[1] != 4:
        raise InputError(f"contributions must be (N, 4, L), got {contributions.shape}.")
    if one_hot is not None and one_hot.shape != contributions.shape:
        raise InputError(f"one-hot {one_hot.shape} and contributions {contributions.shape} "
                         f"must have the same shape.")
    length = contributions.shape[2]
    if motifs.max_width > length:
        raise InputError(f"motifs are up to {motifs.max_width} bp long but the regions are "
                         f"{length} bp; use a longer window or shorter (trimmed) motifs.")


def call_hits(contributions: np.ndarray, motifs: HitMotifs, one_hot: np.ndarray | None = None,
              *, tol: float = 5e-4, max_steps: int = 10000, step_size_max: float = 3.0,
              step_size_min: float = 0.08, step_adjust: float = 0.7, post_filter: bool = True,
              sqrt_transform: bool = False, batch_size: int = 256, eps: float = 1.0,
              device: str | None = None, verbose: bool = False) -> Hits:
    """Fit every region and return the hits.

    Parameters
    ----------
    contributions : numpy.ndarray
        ``(N, 4, L)`` contributions to explain: actual ("projected") contributions
        ``hypothetical * one_hot``, or hypothetical ones.
    motifs : HitMotifs
        The dictionary (:func:`prepare_motifs`).
    one_hot : numpy.ndarray or None
        ``(N, 4, L)`` sequences. Given, the reconstruction is masked by them (for projected
        contributions); None explains all four channels (hypothetical contributions).
    tol : float
        Convergence: duality gap per position (contributions scaled to unit mean square).
    max_steps : int
        Iterations per region before giving up (logged).
    step_size_max, step_size_min, step_adjust : float
        First step size; a region whose fit diverges restarts with the step times
        ``step_adjust``, and stops (logged) once it falls below ``step_size_min``.
    post_filter : bool
        Keep only hits whose similarity is at least the motif's ``lambda``.
    sqrt_transform : bool
        Fit signed square roots of the contributions and CWMs (CWMs renormalised), which
        evens out strong and weak instances.
    batch_size : int
        Regions fitted together.
    eps : float
        Added to the local energy in the position weights.
    device : str or None
        Torch device (default CPU).
    verbose : bool
        Progress bar.
    """
    import torch

    from bpnetkit.utils import progress

    contributions = np.asarray(contributions)
    _check_inputs(contributions, one_hot, motifs)
    if tol <= 0 or max_steps < 1 or not 0 < step_size_min <= step_size_max or \
            not 0 < step_adjust < 1 or batch_size < 1:
        raise InputError(f"call_hits: need tol > 0 ({tol}), max_steps >= 1 ({max_steps}), "
                         f"0 < step_size_min <= step_size_max ({step_size_min}, "
                         f"{step_size_max}), 0 < step_adjust < 1 ({step_adjust}), "
                         f"batch_size >= 1 ({batch_size}).")
    dev = torch.device(device or "cpu")
    n, _, length = contributions.shape
    D = torch.as_tensor(motifs.cwms, dtype=torch.float32, device=dev)
    if sqrt_transform:
        D = _signed_sqrt(D)
        D = D / D.square().sum(dim=(1, 2), keepdim=True).sqrt()
    core = torch.as_tensor(motifs.masks, dtype=torch.float32, device=dev)[:, None, :]
    core = core.expand(-1, 4, -1).contiguous()
    lam = torch.as_tensor(motifs.lambdas, dtype=torch.float32, device=dev)[None, :, None]
    solver = _Solver(D, core, lam, length, tol=tol, max_steps=max_steps,
                     step_size_max=step_size_max, step_size_min=step_size_min,
                     step_adjust=step_adjust, eps=eps)

    parts: list[dict[str, np.ndarray]] = []
    region = {k: np.zeros(n, dtype=t) for k, t in (
        ("scale", np.float32), ("gap", np.float32), ("nll", np.float32),
        ("steps", np.int64), ("step_size", np.float32), ("converged", bool))}
    starts = range(0, n, batch_size)
    for a in progress(starts, desc="hits", total=len(starts), enabled=verbose):
        b = min(n, a + batch_size)
        y = torch.as_tensor(np.asarray(contributions[a:b], dtype=np.float32), device=dev)
        seq = None if one_hot is None else \
            torch.as_tensor(np.asarray(one_hot[a:b], dtype=np.float32), device=dev)
        if seq is not None:
            y = y * seq
        if sqrt_transform:
            y = _signed_sqrt(y)
        scale = ((y ** 2).sum(dim=(1, 2)) / length).sqrt()
        y = torch.nan_to_num(y / scale[:, None, None].clamp_min(1e-30))
        y[scale == 0] = 0
        coef, info = solver.fit(y, seq)
        hits = _extract(y, coef, solver, post_filter)
        hits["example"] += a
        scale_np = scale.cpu().numpy()
        hits["coefficient_global"] = hits["coefficient"] * scale_np[hits["example"] - a] ** 2
        hits["importance"] = hits["importance"] * scale_np[hits["example"] - a]
        parts.append(hits)
        region["scale"][a:b] = scale_np
        for k in ("gap", "nll", "steps", "step_size", "converged"):
            region[k][a:b] = info[k]
    n_bad = int((~region["converged"]).sum())
    if n_bad:
        logger.warning("hits: %d of %d regions did not converge (gap above tol=%g after "
                       "max_steps=%d or a step below step_size_min=%g); their hits are "
                       "reported from the last iterate.", n_bad, n, tol, max_steps,
                       step_size_min)
    keys = ("example", "entry", "position", "coefficient", "coefficient_global",
            "similarity", "importance")
    cat = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)
           for k in keys}
    entry = cat["entry"].astype(np.int64)
    return Hits(example=cat["example"].astype(np.int64), entry=entry,
                motif=motifs.motif[entry], strand=motifs.strand[entry],
                position=cat["position"].astype(np.int64),
                coefficient=cat["coefficient"].astype(np.float32),
                coefficient_global=cat["coefficient_global"].astype(np.float32),
                similarity=cat["similarity"].astype(np.float32),
                importance=cat["importance"].astype(np.float32),
                region_scale=region["scale"], region_gap=region["gap"],
                region_nll=region["nll"], region_steps=region["steps"],
                region_step_size=region["step_size"], region_converged=region["converged"])


def _signed_sqrt(x):
    return x.sign() * x.abs().sqrt()


class _Solver:
    """Non-negative group of lassos, one per region, solved by FISTA with restarts."""

    def __init__(self, D, core, lam, length: int, *, tol: float, max_steps: int,
                 step_size_max: float, step_size_min: float, step_adjust: float,
                 eps: float) -> None:
        self.D, self.core, self.lam, self.length = D, core, lam, length
        self.tol, self.max_steps = tol, max_steps
        self.t_max, self.t_min, self.adjust, self.eps = \
            step_size_max, step_size_min, step_adjust, eps

    def energy(self, y):
        """Sum of squared contributions under every trimmed motif at every position."""
        import torch.nn.functional as F

        return F.conv1d(y ** 2, self.core)

    def weights(self, y):
        return ((self.energy(y) + self.eps) ** -0.5).clamp(max=10.0)

    def _residual(self, c, w, y, seq):
        import torch.nn.functional as F

        pred = F.conv_transpose1d(c * w, self.D)
        if seq is not None:
            pred = pred * seq
        return y - pred

    def _gap(self, c, r, ngrad, y):
        """Duality gap of ``1/2 ||r||^2 + lambda |c|_1`` (c >= 0) per region, per position.

        The dual point is the residual scaled into the feasible set ``A^T theta <= lambda``.
        """
        import torch

        sq = (r ** 2).sum(dim=(1, 2))
        worst = (ngrad / self.lam).amax(dim=(1, 2))
        a = 1.0 / torch.clamp(worst, min=1.0)
        primal = 0.5 * sq + (c.abs().sum(dim=2, keepdim=True) * self.lam).sum(dim=(1, 2))
        dual = a * (r * y).sum(dim=(1, 2)) - 0.5 * a ** 2 * sq
        return (primal - dual) / self.length, sq / (2 * self.length)

    def fit(self, y, seq):
        """Coefficients ``(B, K, P)`` of every region of the batch and per-region info."""
        import torch
        import torch.nn.functional as F

        B = y.shape[0]
        K, _, W = self.D.shape
        P = self.length - W + 1
        w_all = self.weights(y)
        out = torch.zeros((B, K, P), dtype=y.dtype, device=y.device)
        info = {"gap": np.zeros(B, np.float32), "nll": np.zeros(B, np.float32),
                "steps": np.zeros(B, np.int64), "step_size": np.zeros(B, np.float32),
                "converged": np.zeros(B, bool)}
        idx = torch.arange(B, device=y.device)
        yy, ss, ww = y, seq, w_all
        c = torch.zeros((B, K, P), dtype=y.dtype, device=y.device)
        z = c.clone()
        k = torch.zeros((B, 1, 1), dtype=y.dtype, device=y.device)
        t = torch.full((B, 1, 1), self.t_max, dtype=y.dtype, device=y.device)
        total = torch.zeros(B, dtype=torch.int64, device=y.device)
        while len(idx):
            r = self._residual(z, ww, yy, ss)
            ngrad = F.conv1d(r, self.D) * ww
            gap, nll = self._gap(z, r, ngrad, yy)
            c_new = torch.relu(z + t * (ngrad - self.lam))
            mom = k / (k + 3.0)
            z = c_new + mom * (c_new - c)
            c = c_new
            k += 1
            total += 1
            bad = ~torch.isfinite(gap)
            if bad.any():
                c[bad] = 0
                z[bad] = 0
                k[bad] = 0
                t[bad] *= self.adjust
            failed = (t[:, 0, 0] < self.t_min)
            done = (gap <= self.tol) & ~bad
            stop = done | failed | (total >= self.max_steps)
            if not stop.any():
                continue
            rows = idx[stop].cpu().numpy()
            out[idx[stop]] = c[stop]
            info["gap"][rows] = gap[stop].cpu().numpy()
            info["nll"][rows] = nll[stop].cpu().numpy()
            info["steps"][rows] = total[stop].cpu().numpy()
            info["step_size"][rows] = t[stop, 0, 0].cpu().numpy()
            info["converged"][rows] = done[stop].cpu().numpy()
            keep = ~stop
            idx, yy, ww, c, z, k, t, total = (v[keep] for v in (idx, yy, ww, c, z, k, t,
                                                                  total))
            ss = None if ss is None else ss[keep]
        return out, info


def _extract(y, coef, solver: _Solver, post_filter: bool) -> dict[str, np.ndarray]:
    """The non-zero coefficients of a fitted batch, with similarity and importance."""
    import torch
    import torch.nn.functional as F

    energy = solver.energy(y)
    sim = torch.nan_to_num(F.conv1d(y, solver.D) / energy.sqrt(), nan=0.0, posinf=0.0,
                           neginf=0.0)
    keep = coef > 0
    if post_filter:
        keep &= sim >= solver.lam
    ex, ent, pos = torch.nonzero(keep, as_tuple=True)
    importance = F.conv1d(y.abs(), solver.core)[ex, ent, pos]
    return {"example": ex.cpu().numpy(), "entry": ent.cpu().numpy(),
            "position": pos.cpu().numpy(), "coefficient": coef[ex, ent, pos].cpu().numpy(),
            "similarity": sim[ex, ent, pos].cpu().numpy(),
            "importance": importance.cpu().numpy()}
