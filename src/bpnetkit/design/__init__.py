"""Sequence design: greedy edits and gradient-based (relaxed) design.

A design *target* is any module or callable mapping one-hot sequences ``(N, 4, L)`` to one
value per sequence ``(N,)`` (or ``(N, 1)``); :func:`make_target` builds the usual ones from a
(profile, counts) model: total log counts, the log of the predicted track summed over an output
window and strands, the log strand ratio (plus over minus, e.g. for ProCapNet) and the BPNet
profile score. A *goal* says what to do with it: ``"max"``, ``"min"`` or a number to reach.

- :func:`greedy_design` evaluates every candidate edit of the current sequence in batches
  (every single-base substitution, or every placement of each motif of a list in both
  orientations), keeps the best one, and repeats until the improvement falls below ``tol``
  or ``max_edits`` edits were made. Only the target's values are used, so it works for
  non-differentiable targets too.
- :func:`gradient_design` optimises logits of a relaxed sequence (in the spirit of Ledidi):
  discrete sequences are drawn with the Gumbel-softmax trick and a straight-through
  estimator, the loss is the goal loss plus ``edit_penalty`` times the number of edits, and the
  best discrete sequence seen is returned.

Both accept an input mask (positions that may change) and return a :class:`DesignResult`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bpnetkit.errors import InputError

ALPHABET = "ACGT"

# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------


def _torch_modules():
    import torch
    from torch import nn

    return torch, nn


def make_target(model: Any, kind: str = "counts", output_mask: Any = None,
                strands: Sequence[int] | None = None):
    """A module mapping one-hot sequences to one design value per sequence.

    Parameters
    ----------
    model : torch.nn.Module
        A model returning ``(profile_logits (N, S, L_out), log_counts (N, T))``; models that
        expect control tracks get zeros.
    kind : {"counts", "track", "strand_ratio", "profile"}
        ``counts``: total log counts (log-sum-exp over count outputs). ``track``: log of the
        predicted track (joint softmax over strands and positions times counts) summed over
        ``output_mask`` positions and ``strands``. ``strand_ratio``: log of the predicted signal
        on strand 0 over strand 1 within ``output_mask``. ``profile``: the BPNet profile score
        (softmax-weighted mean-centred logits).
    output_mask : (start, end), boolean array of length L_out, or None
        Output positions that count (None: all).
    strands : sequence of int or None
        Profile tracks summed by ``track`` (None: all).

    Returns
    -------
    torch.nn.Module
        ``forward(X) -> (N,)``.
    """
    torch, nn = _torch_modules()
    from bpnetkit.models.wrappers import ControlWrapper, ProfileWrapper

    base = model.eval()
    if getattr(base, "n_control_tracks", 0) > 0:
        base = ControlWrapper(base)
    if kind not in ("counts", "track", "strand_ratio", "profile"):
        raise InputError(f"unknown design target {kind!r}; use 'counts', 'track', "
                         f"'strand_ratio' or 'profile'.")

    def mask_for(L: int, device):
        if output_mask is None:
            return torch.ones(L, dtype=torch.bool, device=device)
        m = np.asarray(output_mask)
        if m.dtype == bool:
            if len(m) != L:
                raise InputError(f"output_mask has {len(m)} entries but the model predicts "
                                 f"{L} positions.")
            return torch.as_tensor(m, device=device)
        if m.shape != (2,) or not 0 <= m[0] < m[1] <= L:
            raise InputError(f"output_mask must be [start, end) within the {L} output "
                             f"positions or a boolean array; got {output_mask!r}.")
        out = torch.zeros(L, dtype=torch.bool, device=device)
        out[int(m[0]):int(m[1])] = True
        return out

    class _Target(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = base
            self.profile = ProfileWrapper(base)

        def forward(self, X):
            if kind == "profile":
                return self.profile(X).reshape(-1)
            logits, log_counts = self.model(X)[:2]
            total = torch.logsumexp(log_counts.reshape(X.shape[0], -1), dim=1)
            if kind == "counts":
                return total
            N, S, L = logits.shape
            m = mask_for(L, logits.device)
            logp = torch.log_softmax(logits.reshape(N, -1), dim=-1).reshape(N, S, L)
            if kind == "strand_ratio":
                if S != 2:
                    raise InputError(f"strand_ratio needs a two-track (stranded) model; this "
                                     f"one predicts {S} track(s).")
                return (torch.logsumexp(logp[:, 0, m], dim=-1)
                        - torch.logsumexp(logp[:, 1, m], dim=-1))
            tracks = list(range(S)) if strands is None else list(strands)
            sel = logp[:, tracks][:, :, m].reshape(N, -1)
            return torch.logsumexp(sel, dim=-1) + total

    return _Target()


def goal_loss(values: Any, goal: str | float):
    """Loss to minimise for ``values`` under ``goal`` (``"max"``, ``"min"`` or a number)."""
    if goal == "max":
        return -values
    if goal == "min":
        return values
    if isinstance(goal, int | float) and not isinstance(goal, bool):
        return abs(values - float(goal))
    raise InputError(f"goal must be 'max', 'min' or a number, got {goal!r}.")


def _check_goal(goal: Any) -> None:
    goal_loss(np.zeros(1), goal)


@contextlib.contextmanager
def _frozen(target: Any) -> Iterator[None]:
    """Turn off ``requires_grad`` of a module's parameters; restore it afterwards."""
    params = [p for p in getattr(target, "parameters", list)() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _values(target: Callable, X, batch_size: int):
    """Target values of a float tensor batch, without gradients, as a 1-D CPU tensor."""
    import torch

    if isinstance(target, torch.nn.Module):
        from bpnetkit.interpret.predict import predict

        y = predict(target, X, batch_size=batch_size, device=X.device)
        return torch.as_tensor(y).reshape(-1).float().cpu()
    outs = []
    with torch.no_grad():
        for a in range(0, X.shape[0], batch_size):
            v = target(X[a:a + batch_size])
            outs.append(torch.as_tensor(v).reshape(-1).float().cpu())
    return torch.cat(outs)


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


@dataclass
class DesignResult:
    """Designed sequences and their edits.

    Attributes
    ----------
    X : numpy.ndarray
        ``(N, 4, L)`` int8 designed sequences.
    initial, final : numpy.ndarray
        ``(N,)`` target values before and after design.
    edits : list of dict
        One dict per edit: ``sequence``, ``round``, ``kind`` (``substitution`` or
        ``motif:<name>:<+|->``), ``position``, ``ref``, ``alt``, ``value`` (the target after the
        edit; for gradient design the final value).
    """

    X: np.ndarray
    initial: np.ndarray
    final: np.ndarray
    edits: list[dict] = field(default_factory=list)


def _decode(x: np.ndarray) -> str:
    idx = np.where(x.max(axis=0) > 0, x.argmax(axis=0), 4)
    return "".join((ALPHABET + "N")[i] for i in idx)


def _as_batch(X: Any) -> np.ndarray:
    X = np.asarray(X.detach().cpu() if hasattr(X, "detach") else X)
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3 or X.shape[1] != 4:
        raise InputError(f"sequences must be one-hot of shape (N, 4, L) or (4, L); got "
                         f"{X.shape}.")
    return X.astype(np.int8)


def _input_mask(mask: Any, L: int) -> np.ndarray:
    """Boolean (L,) editable positions from None, [start, end) or a boolean array."""
    if mask is None:
        return np.ones(L, dtype=bool)
    m = np.asarray(mask)
    if m.dtype == bool:
        if m.shape != (L,):
            raise InputError(f"input_mask has shape {m.shape}; expected ({L},) for sequences "
                             f"of length {L}.")
        return m
    if m.shape != (2,) or not 0 <= m[0] < m[1] <= L:
        raise InputError(f"input_mask must be [start, end) within the sequence (length {L}) "
                         f"or a boolean array; got {mask!r}.")
    out = np.zeros(L, dtype=bool)
    out[int(m[0]):int(m[1])] = True
    return out


# ---------------------------------------------------------------------------------------------
# greedy design
# ---------------------------------------------------------------------------------------------


def _motif_onehots(motifs: Sequence[Any]) -> list[tuple[str, np.ndarray]]:
    """(name, (4, k) one-hot) for each motif and its reverse complement."""
    from bpnetkit.io.fasta import one_hot_encode

    out = []
    for k, m in enumerate(motifs):
        if isinstance(m, str):
            s = m.upper()
            if not s or set(s) - set(ALPHABET):
                raise InputError(f"motif {k} ({m!r}) must be a non-empty A/C/G/T string.")
            name, oh = s, one_hot_encode(s)
        else:
            arr = np.asarray(m, dtype=float)
            if arr.ndim != 2 or 4 not in arr.shape:
                raise InputError(f"motif {k} must be a string or a (4, k) / (k, 4) matrix.")
            arr = arr if arr.shape[0] == 4 else arr.T
            oh = np.zeros_like(arr, dtype=np.int8)
            oh[arr.argmax(axis=0), np.arange(arr.shape[1])] = 1
            name = _decode(oh)
        out.append((f"{name}:+", oh.astype(np.int8)))
        out.append((f"{name}:-", np.ascontiguousarray(oh[::-1, ::-1]).astype(np.int8)))
    return out


def _candidates(x: np.ndarray, editable: np.ndarray, motifs):
    """List of candidate edits (kind, position, (4, k) one-hot) that change ``x``."""
    L = x.shape[1]
    cands = []
    if motifs is None:
        for pos in np.flatnonzero(editable):
            for b in range(4):
                if x[b, pos] != 1:
                    col = np.zeros((4, 1), dtype=np.int8)
                    col[b, 0] = 1
                    cands.append(("substitution", int(pos), col))
        return cands
    for name, oh in motifs:
        k = oh.shape[1]
        ok = np.convolve(editable.astype(int), np.ones(k, dtype=int), mode="valid") == k
        for pos in np.flatnonzero(ok[:L - k + 1]):
            if not np.array_equal(x[:, pos:pos + k], oh):
                cands.append((f"motif:{name}", int(pos), oh))
    return cands


def greedy_design(target: Callable, X: Any, goal: str | float = "max", max_edits: int = 10,
                  tol: float = 1e-4, input_mask: Any = None, motifs: Sequence[Any] | None = None,
                  batch_size: int = 256, device: Any = None, progress: bool = True
                  ) -> DesignResult:
    """Greedy design: apply the best single edit per round until no edit helps.

    Parameters
    ----------
    target : callable
        One-hot ``(N, 4, L)`` float tensor -> ``(N,)`` values (see :func:`make_target`).
    X : array-like
        ``(N, 4, L)`` or ``(4, L)`` one-hot starting sequences (designed one by one).
    goal : "max", "min" or float
        Maximise, minimise, or bring the value to this number.
    max_edits : int
        Most edits (rounds) per sequence.
    tol : float
        Stop when the best edit improves the goal loss by less than this.
    input_mask : (start, end), boolean array of length L, or None
        Positions that may change; motif placements must lie entirely inside.
    motifs : list of str or matrices, or None
        None: candidates are all single-base substitutions. Otherwise every placement of each
        motif (consensus of a PWM) in both orientations.
    batch_size : int
        Candidates per forward pass.
    device : str, torch.device or None
        None picks CUDA when available.
    progress : bool
        Show a progress bar over rounds.

    Returns
    -------
    DesignResult
    """
    import torch
    from tqdm.auto import tqdm

    from bpnetkit.utils import resolve_device

    _check_goal(goal)
    X = _as_batch(X)
    N, _, L = X.shape
    editable = _input_mask(input_mask, L)
    motif_list = None if motifs is None else _motif_onehots(motifs)
    dev = resolve_device(device)
    if isinstance(target, torch.nn.Module):
        target = target.to(dev).eval()
    out = X.copy()
    initial = np.empty(N)
    final = np.empty(N)
    edits: list[dict] = []
    for i in range(N):
        x = out[i]
        value = float(_values(target, torch.as_tensor(x[None], dtype=torch.float32,
                                                      device=dev), 1)[0])
        initial[i] = value
        loss = float(goal_loss(torch.tensor([value]), goal)[0])
        rounds = tqdm(range(max_edits), desc=f"greedy design {i}", leave=False,
                      disable=not progress)
        for r in rounds:
            cands = _candidates(x, editable, motif_list)
            if not cands:
                break
            best = (np.inf, -1, np.nan)
            for a in range(0, len(cands), batch_size):
                part = cands[a:a + batch_size]
                batch = np.repeat(x[None], len(part), axis=0)
                for j, (_, pos, oh) in enumerate(part):
                    batch[j, :, pos:pos + oh.shape[1]] = oh
                vals = _values(target, torch.as_tensor(batch, dtype=torch.float32, device=dev),
                               batch_size)
                losses = goal_loss(vals, goal)
                j = int(torch.argmin(losses))
                if float(losses[j]) < best[0]:
                    best = (float(losses[j]), a + j, float(vals[j]))
            if not loss - best[0] >= tol:
                break
            kind, pos, oh = cands[best[1]]
            k = oh.shape[1]
            edits.append({"sequence": i, "round": r + 1, "kind": kind, "position": pos,
                          "ref": _decode(x[:, pos:pos + k]), "alt": _decode(oh),
                          "value": best[2]})
            x[:, pos:pos + k] = oh
            loss, value = best[0], best[2]
        final[i] = value
    return DesignResult(out, initial, final, edits)


# ---------------------------------------------------------------------------------------------
# gradient design
# ---------------------------------------------------------------------------------------------


def gradient_design(target: Callable, X: Any, goal: str | float = "max",
                    edit_penalty: float = 0.1, max_edits: int | None = None, n_iter: int = 200,
                    learning_rate: float = 0.5, temperature: float = 1.0, n_samples: int = 16,
                    init_weight: float = 3.0, input_mask: Any = None, patience: int | None = None,
                    random_state: int = 0, device: Any = None, progress: bool = True
                    ) -> DesignResult:
    """Gradient-based design of a relaxed sequence with an edit penalty (Ledidi-like).

    The sequence is represented by logits ``theta (4, L)`` initialised to
    ``init_weight * X``. Each iteration draws ``n_samples`` discrete sequences by the
    Gumbel-softmax trick with a straight-through estimator (the forward pass sees one-hot
    sequences, gradients flow through the softmax), computes
    ``goal_loss(target(sample)) + edit_penalty * n_edits(sample)`` and takes an Adam step.
    Positions outside ``input_mask`` are kept. The discrete sample with the lowest loss seen
    (the start sequence included, so the result is never worse than no edit) is returned.

    Parameters
    ----------
    target : callable
        Differentiable ``(N, 4, L)`` -> ``(N,)`` (see :func:`make_target`).
    X : array-like
        ``(N, 4, L)`` or ``(4, L)`` one-hot start sequences (designed one by one).
    goal : "max", "min" or float
        What to do with the target.
    edit_penalty : float
        Loss per edited position.
    max_edits : int or None
        Samples with more edits are never returned.
    n_iter, learning_rate, temperature, n_samples, init_weight
        Optimisation settings.
    input_mask : (start, end), boolean array, or None
        Positions that may change.
    patience : int or None
        Stop after this many iterations without a better sample (None: run ``n_iter``).
    random_state : int
        Seed of the Gumbel noise.
    device : str, torch.device or None
        None picks CUDA when available.
    progress : bool
        Show a progress bar.

    Returns
    -------
    DesignResult
        Edits are per-position substitutions (``round`` 0).
    """
    import torch
    from tqdm.auto import tqdm

    from bpnetkit.utils import resolve_device

    _check_goal(goal)
    X = _as_batch(X)
    N, _, L = X.shape
    editable = _input_mask(input_mask, L)
    dev = resolve_device(device)
    if isinstance(target, torch.nn.Module):
        target = target.to(dev).eval()
    gen = torch.Generator(device="cpu").manual_seed(int(random_state))
    out = X.copy()
    initial = np.empty(N)
    final = np.empty(N)
    edits: list[dict] = []
    mask_t = torch.as_tensor(editable, device=dev)
    with _frozen(target):  # gradients flow to the sequence only
        for i in range(N):
            x0 = torch.as_tensor(X[i], dtype=torch.float32, device=dev)
            v0 = float(_values(target, x0[None], 1)[0])
            initial[i] = v0
            best_loss = float(goal_loss(torch.tensor([v0]), goal)[0])
            best_x, best_v = x0.clone(), v0
            theta = (init_weight * x0).clone().requires_grad_(True)
            opt = torch.optim.Adam([theta], lr=learning_rate)
            stale = 0
            bar = tqdm(range(n_iter), desc=f"gradient design {i}", leave=False,
                       disable=not progress)
            for _ in bar:
                u = torch.rand((n_samples, 4, L), generator=gen).to(dev).clamp_(1e-9, 1 - 1e-9)
                g = -torch.log(-torch.log(u))
                soft = torch.softmax((theta[None] + g) / temperature, dim=1)
                hard = torch.nn.functional.one_hot(soft.argmax(dim=1), 4).permute(0, 2, 1).float()
                y = hard - soft.detach() + soft
                y = torch.where(mask_t[None, None], y, x0[None])
                n_edits = (1 - (y * x0[None]).sum(dim=1)).sum(dim=1)  # forward: exact edit count
                vals = torch.as_tensor(target(y)).reshape(-1)
                per_sample = goal_loss(vals, goal) + edit_penalty * n_edits
                opt.zero_grad()
                per_sample.mean().backward()
                opt.step()
                with torch.no_grad():
                    ok = torch.ones_like(per_sample, dtype=torch.bool)
                    if max_edits is not None:
                        ok = n_edits.round() <= max_edits
                    cand = torch.where(ok, per_sample, torch.full_like(per_sample, np.inf))
                    j = int(torch.argmin(cand))
                    if float(cand[j]) < best_loss - 1e-9:
                        best_loss = float(cand[j])
                        best_x = y[j].detach().round().clone()
                        best_v = float(vals[j])
                        stale = 0
                    else:
                        stale += 1
                if patience is not None and stale >= patience:
                    break
            bar.close()
            xb = best_x.cpu().numpy().astype(np.int8)
            out[i] = xb
            final[i] = best_v
            for pos in np.flatnonzero((xb != X[i]).any(axis=0)):
                edits.append({"sequence": i, "round": 0, "kind": "substitution",
                              "position": int(pos), "ref": _decode(X[i][:, pos:pos + 1]),
                              "alt": _decode(xb[:, pos:pos + 1]), "value": best_v})
    return DesignResult(out, initial, final, edits)


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------


@dataclass
class DesignParams:
    """Parameters of ``bpnetkit design``.

    Attributes
    ----------
    model : str
        Model folder or file.
    output_dir : str
        Folder for ``<name>.fa``, ``<name>.edits.tsv``, ``<name>.summary.tsv``.
    sequences : str or None
        FASTA of start sequences (each at least as long as the model needs).
    regions : str or None
        BED/narrowPeak of start windows (``in_window`` bases centred on the summit or
        midpoint), read from ``genome``. Give ``sequences`` or ``regions``.
    genome : str or None
        Reference FASTA for ``regions``.
    name : str
        Prefix of the output files.
    method : {"greedy", "gradient"}
        Design algorithm.
    target : {"counts", "track", "strand_ratio", "profile"}
        What to optimise (see :func:`make_target`).
    goal : "max", "min" or a number
        Direction or value to reach.
    in_window : int
        Window width for ``regions``.
    max_edits : int
        Edit budget per sequence.
    tol : float
        Greedy: stop when the best edit improves the loss by less than this.
    motifs : list of str or None
        Greedy: insert these motifs (A/C/G/T strings, both orientations) instead of single
        bases.
    motif_names : list of str or None
        Greedy: also insert these motifs of ``motif_db`` (identifier or name, e.g. ``"CTCF"``),
        as the consensus of the matrix trimmed of low-information flanks.
    motif_db : str or None
        MEME file for ``motif_names``; None uses the built-in JASPAR database.
    input_mask : [start, end] or None
        Positions that may be edited (None: all).
    output_mask : [start, end] or None
        Output positions used by ``track`` and ``strand_ratio`` targets.
    strands : list of int or None
        Tracks summed by the ``track`` target.
    edit_penalty, n_iter, learning_rate, temperature, n_samples : float / int
        Gradient design settings.
    patience : int or None
        Gradient design: stop after this many iterations without a better sequence.
    batch_size : int
        Candidates per forward pass (greedy).
    device : str or None
        None picks CUDA when available.
    random_state : int
        Seed.
    """

    model: str
    output_dir: str
    sequences: str | None = None
    regions: str | None = None
    genome: str | None = None
    name: str = "design"
    method: Literal["greedy", "gradient"] = "greedy"
    target: Literal["counts", "track", "strand_ratio", "profile"] = "counts"
    goal: str | float = "max"
    in_window: int = 2114
    max_edits: int = 10
    tol: float = 1e-4
    motifs: list[str] | None = None
    motif_names: list[str] | None = None
    motif_db: str | None = None
    input_mask: list[int] | None = None
    output_mask: list[int] | None = None
    strands: list[int] | None = None
    edit_penalty: float = 0.1
    n_iter: int = 200
    learning_rate: float = 0.5
    temperature: float = 1.0
    n_samples: int = 16
    patience: int | None = None
    batch_size: int = 256
    device: str | None = None
    random_state: int = 0

    def validate(self) -> None:
        """Check that the inputs and values make sense."""
        if (self.sequences is None) == (self.regions is None):
            raise InputError("design: give exactly one of 'sequences' (FASTA) or 'regions' "
                             "(BED, with 'genome').")
        if self.regions is not None and self.genome is None:
            raise InputError("design: 'regions' needs 'genome' (the reference FASTA).")
        if isinstance(self.goal, str) and self.goal not in ("max", "min"):
            raise InputError(f"design: 'goal' must be 'max', 'min' or a number, got "
                             f"{self.goal!r}.")
        for key in ("max_edits", "n_iter", "n_samples", "batch_size", "in_window"):
            if getattr(self, key) < 1:
                raise InputError(f"design: '{key}' must be at least 1, got "
                                 f"{getattr(self, key)}.")
        if (self.motifs or self.motif_names) and self.method != "greedy":
            raise InputError("design: 'motifs' and 'motif_names' work with method 'greedy' "
                             "only.")
        for key in ("input_mask", "output_mask"):
            v = getattr(self, key)
            if v is not None and (len(v) != 2 or v[0] >= v[1] or v[0] < 0):
                raise InputError(f"design: '{key}' must be [start, end) with 0 <= start < "
                                 f"end, got {v}.")


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """(name, sequence) pairs of a small FASTA file (plain or gzip)."""
    import gzip

    from bpnetkit.errors import require_file

    path = require_file(path, "FASTA of start sequences")
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    records: list[tuple[str, list[str]]] = []
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                records.append((line[1:].split()[0] if line[1:].strip() else
                                f"seq{len(records)}", []))
            elif not records:
                raise InputError(f"{path}: line {lineno}: sequence before the first '>name' "
                                 f"header; this is not a FASTA file.")
            else:
                records[-1][1].append(line)
    if not records:
        raise InputError(f"{path}: no sequences found (FASTA records start with '>').")
    return [(n, "".join(s)) for n, s in records]


def _start_sequences(params: DesignParams) -> tuple[list[str], np.ndarray]:
    from bpnetkit.io.fasta import extract_sequences, one_hot_encode

    if params.sequences is not None:
        recs = read_fasta(params.sequences)
        lengths = {len(s) for _, s in recs}
        if len(lengths) > 1:
            raise InputError(f"{params.sequences}: start sequences differ in length "
                             f"({sorted(lengths)}); design needs sequences of one length.")
        return [n for n, _ in recs], np.stack([one_hot_encode(s) for _, s in recs])
    from bpnetkit.data.regions import centered_windows, read_regions

    regions = read_regions(params.regions)
    chroms, starts, ends = centered_windows(regions, params.in_window)
    names = [f"{c}:{s}-{e}" for c, s, e in zip(chroms, starts, ends)]
    return names, extract_sequences(params.genome, chroms, starts, ends, pad=True)


def run_design(params: DesignParams, model: Any = None) -> dict[str, str]:
    """Design sequences as configured; write FASTA, a TSV of edits and a summary TSV.

    Parameters
    ----------
    params : DesignParams
        The configuration.
    model : torch.nn.Module or None
        An already loaded model; None loads ``params.model``.

    Returns
    -------
    dict[str, str]
        ``fasta``, ``edits``, ``summary``, ``params`` -> paths.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.utils import atomic_path

    params.validate()
    if model is None:
        from bpnetkit.models.files import load_model

        model = load_model(params.model)
    names, X = _start_sequences(params)
    target = make_target(model, params.target, output_mask=params.output_mask,
                         strands=params.strands)
    motifs = list(params.motifs or [])
    if params.motif_names:
        from bpnetkit.io.meme import load_motif_db, select_motifs, trim_motif

        for m in select_motifs(load_motif_db(params.motif_db), params.motif_names):
            motifs.append(trim_motif(m).consensus())
    if params.method == "greedy":
        res = greedy_design(target, X, goal=params.goal, max_edits=params.max_edits,
                            tol=params.tol, input_mask=params.input_mask,
                            motifs=motifs or None,
                            batch_size=params.batch_size, device=params.device)
    else:
        res = gradient_design(target, X, goal=params.goal, edit_penalty=params.edit_penalty,
                              max_edits=params.max_edits, n_iter=params.n_iter,
                              learning_rate=params.learning_rate,
                              temperature=params.temperature, n_samples=params.n_samples,
                              input_mask=params.input_mask, patience=params.patience,
                              random_state=params.random_state,
                              device=params.device)
    out_dir = Path(params.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"fasta": out_dir / f"{params.name}.fa",
             "edits": out_dir / f"{params.name}.edits.tsv",
             "summary": out_dir / f"{params.name}.summary.tsv",
             "params": out_dir / f"{params.name}.params.json"}
    n_edits = np.zeros(len(names), dtype=int)
    for e in res.edits:
        n_edits[e["sequence"]] += 1
    with atomic_path(paths["fasta"]) as tmp:
        with open(tmp, "w") as fh:
            for k, n in enumerate(names):
                s = _decode(res.X[k])
                fh.write(f">{n}_designed value={res.final[k]:.6g}\n")
                fh.write("\n".join(s[j:j + 80] for j in range(0, len(s), 80)) + "\n")
    with atomic_path(paths["edits"]) as tmp:
        with open(tmp, "w") as fh:
            fh.write("sequence\tround\tkind\tposition\tref\talt\tvalue\n")
            for e in res.edits:
                fh.write(f"{names[e['sequence']]}\t{e['round']}\t{e['kind']}\t{e['position']}"
                         f"\t{e['ref']}\t{e['alt']}\t{e['value']:.6g}\n")
    with atomic_path(paths["summary"]) as tmp:
        with open(tmp, "w") as fh:
            fh.write("sequence\tinitial\tfinal\tn_edits\n")
            for k, n in enumerate(names):
                fh.write(f"{n}\t{res.initial[k]:.6g}\t{res.final[k]:.6g}\t{n_edits[k]}\n")
    dump_config(params, paths["params"])
    return {k: str(p) for k, p in paths.items()}


__all__ = ["DesignParams", "DesignResult", "goal_loss", "gradient_design", "greedy_design",
           "make_target", "read_fasta", "run_design"]
