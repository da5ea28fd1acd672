"""Variant effect prediction: substitutions, deletions and insertions.

Two layers:

- A one-hot API (:func:`substitution_effect`, :func:`deletion_effect`,
  :func:`insertion_effect`, :func:`edit_effect`) that applies edits to rows of a one-hot batch
  and returns the model's predictions before and after.
- A genome-level scorer (:func:`score_variants`, :func:`run_variant_effect`) that reads a VCF
  (plain or gzip) or a TSV, checks REF against the genome, builds a window per variant and
  writes per-variant scores (log fold change of counts, Jensen-Shannon distance between the
  predicted profiles, largest absolute change of the predicted track, optional change of
  attributions around the variant and optional empirical percentiles).

Window geometry (indels): the reference window of width ``W`` starts ``W // 2`` bases before
the variant, so the first REF base sits at position ``W // 2``. The alternative window keeps the
same left flank, then the ALT allele, then as much right flank as fills ``W`` bases. Both
windows therefore have the same length, bases left of the variant sit at identical positions,
and bases right of it are shifted by ``len(ALT) - len(REF)``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.utils import open_text

ALPHABET = "ACGT"

# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


def _encode(seq: str) -> np.ndarray:
    """(4, L) int8 one-hot of ``seq`` (non-ACGT -> zero columns)."""
    from bpnetkit.io.fasta import one_hot_encode

    return one_hot_encode(seq)


def _as_outputs(y: Any) -> tuple:
    """Normalise a model output to a tuple of CPU float tensors."""
    import torch

    if isinstance(y, list | tuple):
        return tuple(torch.as_tensor(t).detach().float().cpu() for t in y)
    return (torch.as_tensor(y).detach().float().cpu(),)


def _needs_controls(model: Any) -> bool:
    return getattr(model, "n_control_tracks", 0) > 0


def prepare_model(model: Any):
    """Return ``model`` in eval mode, wrapped to use zero controls if it expects control tracks.

    Parameters
    ----------
    model : torch.nn.Module
        A (profile, counts) model such as :class:`bpnetkit.models.BPNet`.
    """
    from bpnetkit.models.wrappers import ControlWrapper

    model = model.eval()
    if _needs_controls(model):
        model = ControlWrapper(model)
    return model


def predict_batches(model: Any, X: Any, batch_size: int = 64, device: Any = None,
                    rc_average: bool = False, desc: str | None = None) -> tuple:
    """Predict a one-hot batch in mini-batches, optionally averaging with the reverse strand.

    A thin layer over :func:`bpnetkit.interpret.predict.predict` that gives models with control
    tracks zero controls and always returns a tuple of CPU float tensors.

    Parameters
    ----------
    model : torch.nn.Module
        Model returning a tensor or a tuple of tensors.
    X : array-like
        ``(N, 4, L)`` one-hot sequences.
    batch_size : int
        Sequences per forward pass.
    device : str, torch.device or None
        None picks CUDA when available.
    rc_average : bool
        Average predictions on the sequence and its reverse complement (profiles are flipped
        back, and the two strands swapped for two-track profiles).
    desc : str or None
        Show a progress bar when not None.

    Returns
    -------
    tuple of torch.Tensor
        CPU float32 outputs, e.g. ``(profile_logits, log_counts)``.
    """
    from bpnetkit.interpret.predict import predict

    X = np.asarray(X) if not hasattr(X, "detach") else X
    if X.ndim != 3 or X.shape[1] != 4:
        raise InputError(f"expected one-hot sequences of shape (N, 4, L), got {tuple(X.shape)}.")
    y = predict(prepare_model(model), X, batch_size=batch_size, device=device,
                rc_average=rc_average, verbose=desc is not None)
    return _as_outputs(y)


# ---------------------------------------------------------------------------------------------
# one-hot edit API
# ---------------------------------------------------------------------------------------------


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
    """
    edited = np.concatenate([x[:, :position], alt.astype(x.dtype), x[:, position + ref_length:]],
                            axis=1)
    if edited.shape[1] >= width:
        return edited[:, :width]
    pad = np.zeros((4, width - edited.shape[1]), dtype=x.dtype)
    return np.concatenate([edited, pad], axis=1)


def edit_effect(model: Any, X: Any, edits: Sequence[Edit], in_window: int | None = None,
                batch_size: int = 64, device: Any = None, rc_average: bool = False
                ) -> tuple[tuple, tuple]:
    """Predictions before and after each edit.

    Parameters
    ----------
    model : torch.nn.Module
        A model returning ``(profile_logits, log_counts)`` (or one tensor).
    X : array-like
        ``(N, 4, L)`` one-hot sequences.
    edits : sequence of Edit
        One edit per output row; several edits may name the same sequence.
    in_window : int or None
        Length the model sees: the first ``in_window`` bases of the reference and of the edited
        sequence. None uses ``L``. Pass ``X`` longer than ``in_window`` to provide right flank
        for deletions; otherwise missing bases are N.
    batch_size, device, rc_average
        See :func:`predict_batches`.

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
    ref_pred = predict_batches(model, X[uniq, :, :W], batch_size, device, rc_average)
    before = tuple(t[inverse] for t in ref_pred)
    after = predict_batches(model, alt, batch_size, device, rc_average)
    return before, after


def _rows(rows: Any, n_cols: int, what: str) -> list[tuple]:
    out = [tuple(r) for r in (rows.tolist() if hasattr(rows, "tolist") else rows)]
    for k, r in enumerate(out):
        if len(r) != n_cols:
            raise InputError(f"{what}: row {k} has {len(r)} values, expected {n_cols}.")
    return out


def _allele(value: Any, where: str) -> np.ndarray:
    """An allele given as a base index 0-3, a string or a ``(4, k)`` one-hot."""
    if isinstance(value, str):
        bad = set(value.upper()) - set(ALPHABET + "N")
        if bad:
            raise InputError(f"{where}: allele {value!r} has letters other than A, C, G, T, N.")
        return _encode(value.upper())
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

    Returns
    -------
    before, after : tuple of torch.Tensor
        Predictions for the reference and the substituted sequences, one row per substitution.
    """
    edits = []
    for k, (i, pos, a) in enumerate(_rows(substitutions, 3, "substitutions")):
        alt = _allele(a, f"substitution {k}")
        edits.append(Edit(int(i), int(pos), alt.shape[1], alt))
    return edit_effect(model, X, edits, None, batch_size, device, rc_average)


def deletion_effect(model: Any, X: Any, deletions: Any, in_window: int | None = None,
                    batch_size: int = 64, device: Any = None, rc_average: bool = False
                    ) -> tuple[tuple, tuple]:
    """Effect of deletions: rows ``(example, position, length)``.

    The model sees the first ``in_window`` bases (default: all of ``X``) of the reference and
    of the sequence with ``length`` bases removed at ``position``; the right flank moves left to
    fill the gap (pass ``X`` longer than ``in_window`` to supply it, else the end is N).
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
    """
    edits = []
    for k, (i, pos, a) in enumerate(_rows(insertions, 3, "insertions")):
        alt = _allele(a, f"insertion {k}")
        if alt.shape[1] < 1:
            raise InputError(f"insertion {k}: the inserted allele is empty.")
        edits.append(Edit(int(i), int(pos), 0, alt))
    return edit_effect(model, X, edits, in_window, batch_size, device, rc_average)


# ---------------------------------------------------------------------------------------------
# scores
# ---------------------------------------------------------------------------------------------


def _split_outputs(y: tuple):
    """(profile logits or None, total log counts (N,))."""
    import torch

    if len(y) >= 2:
        logits, counts = y[0], y[1]
    elif y[0].ndim == 3:
        logits, counts = y[0], None
    else:
        logits, counts = None, y[0]
    if counts is not None:
        counts = counts.reshape(counts.shape[0], -1)
        counts = torch.logsumexp(counts, dim=1) if counts.shape[1] > 1 else counts[:, 0]
    return logits, counts


def effect_scores(before: tuple, after: tuple) -> dict[str, np.ndarray]:
    """Per-row scores comparing predictions for the reference and the alternative allele.

    Returns
    -------
    dict
        ``ref_log_counts``, ``alt_log_counts`` (natural log), ``log2_fc`` (log2 ratio of
        predicted total counts, alt over ref), ``jsd`` (Jensen-Shannon distance, natural log,
        between the profiles as distributions over strands and positions) and
        ``max_abs_diff`` (largest absolute change of the predicted track
        ``softmax(logits) * exp(log_counts)``). Missing outputs give NaN.
    """
    import torch

    lr, cr = _split_outputs(before)
    la, ca = _split_outputs(after)
    n = (cr if cr is not None else lr).shape[0]
    nan = np.full(n, np.nan)
    out = {"ref_log_counts": nan, "alt_log_counts": nan, "log2_fc": nan, "jsd": nan,
           "max_abs_diff": nan}
    if cr is not None:
        out["ref_log_counts"] = cr.double().numpy()
        out["alt_log_counts"] = ca.double().numpy()
        out["log2_fc"] = ((ca - cr).double() / math.log(2)).numpy()
    if lr is not None:
        p = torch.softmax(lr.reshape(n, -1).double(), dim=-1)
        q = torch.softmax(la.reshape(n, -1).double(), dim=-1)
        m = (p + q) / 2

        def kl(a, b):
            return torch.where(a > 0, a * (torch.log(a) - torch.log(b)), 0.0).sum(-1)

        js = (0.5 * kl(p, m) + 0.5 * kl(q, m)).clamp(min=0)
        out["jsd"] = torch.sqrt(js).numpy()
        if cr is not None:
            tr = p * torch.exp(cr.double())[:, None]
            ta = q * torch.exp(ca.double())[:, None]
            out["max_abs_diff"] = (ta - tr).abs().max(dim=-1).values.numpy()
    return out


# ---------------------------------------------------------------------------------------------
# variant files
# ---------------------------------------------------------------------------------------------


@dataclass
class Variant:
    """A variant record: ``pos`` is 0-based (the first REF base); ``line`` is 1-based."""

    chrom: str
    pos: int
    ref: str
    alt: str
    id: str
    line: int

    @property
    def label(self) -> str:
        """``chrom:pos1:ref:alt`` with a 1-based position (as in VCF)."""
        return f"{self.chrom}:{self.pos + 1}:{self.ref}:{self.alt}"


@dataclass
class Skipped:
    """A record that was not scored, and why."""

    variant: Variant
    reason: str


def _is_vcf(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith((".vcf", ".vcf.gz", ".vcf.bgz")):
        return True
    with open_text(path) as fh:
        first = fh.readline()
    return first.startswith("##fileformat=VCF")


def _unsupported_alt(alt: str) -> str | None:
    if alt.startswith("<") or alt.endswith(">"):
        return "symbolic_allele"
    if "[" in alt or "]" in alt or (len(alt) > 1 and (alt[0] == "." or alt[-1] == ".")):
        return "breakend"
    if alt == "*":
        return "spanning_deletion"
    if alt in (".", ""):
        return "no_alt_allele"
    if set(alt.upper()) - set("ACGTN"):
        return "unsupported_alt_letters"
    return None


def iter_variants(path: str | Path) -> Iterator[Variant | Skipped]:
    """Read a VCF (plain or gzip) or a TSV, yielding variants and skipped records.

    The TSV has columns ``chrom, pos, ref, alt`` and an optional fifth ``id`` column; ``pos`` is
    1-based, as in VCF. Lines starting with ``#`` and a header line whose first field is
    ``chrom`` are ignored. Multi-allelic records yield one variant per ALT allele.

    Yields
    ------
    Variant or Skipped
        Skipped records carry a reason (``symbolic_allele``, ``breakend``,
        ``spanning_deletion``, ``no_alt_allele``, ``unsupported_alt_letters``,
        ``unsupported_ref_letters``).

    Raises
    ------
    InputError
        On a malformed line (too few columns, non-integer position), naming file and line.
    """
    path = require_file(path, "variant file")
    state = {"line": 0}
    try:
        vcf = _is_vcf(path)
        yield from _parse_lines(path, vcf, state)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the file after line {state['line']}: {e}. Is it "
                         f"a complete, uncorrupted VCF or TSV (plain or gzip)?") from None


def _parse_lines(path: Path, vcf: bool, state: dict) -> Iterator[Variant | Skipped]:
    min_cols = 5 if vcf else 4
    kind = "VCF" if vcf else "TSV"
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            state["line"] = lineno
            line = raw.rstrip("\n\r")
            if not line.strip() or line.startswith("#"):
                continue
            f = line.split("\t")
            if not vcf and len(f) < min_cols:
                f = line.split()
            if not vcf and f[0].lower() in ("chrom", "chromosome"):
                continue  # header line
            if len(f) < min_cols:
                raise InputError(f"{path}: line {lineno}: expected at least {min_cols} "
                                 f"tab-separated columns ({kind}: "
                                 f"{'CHROM POS ID REF ALT' if vcf else 'chrom pos ref alt'}), "
                                 f"got {len(f)}.")
            if vcf:
                chrom, pos_s, vid, ref, alts = f[0], f[1], f[2], f[3], f[4]
            else:
                chrom, pos_s, ref, alts = f[0], f[1], f[2], f[3]
                vid = f[4] if len(f) > 4 else "."
            try:
                pos1 = int(pos_s)
            except ValueError:
                raise InputError(f"{path}: line {lineno}: position {pos_s!r} is not an integer "
                                 f"(1-based positions, as in VCF).") from None
            if pos1 < 1:
                raise InputError(f"{path}: line {lineno}: position {pos1} must be at least 1 "
                                 f"(positions are 1-based).")
            ref = ref.upper()
            for alt in alts.split(","):
                v = Variant(chrom, pos1 - 1, ref, alt.upper(), vid, lineno)
                reason = _unsupported_alt(alt)
                if reason is None and (not ref or set(ref) - set("ACGTN")):
                    reason = "unsupported_ref_letters"
                yield v if reason is None else Skipped(v, reason)


def check_variant(v: Variant, genome: Any) -> str | None:
    """Why ``v`` cannot be scored against ``genome`` (None when it can)."""
    size = genome.chrom_sizes.get(v.chrom)
    if size is None:
        return "unknown_chromosome"
    if v.pos + len(v.ref) > size:
        return "off_chromosome_end"
    found = genome.fetch(v.chrom, v.pos, v.pos + len(v.ref)).upper()
    if found != v.ref:
        return "ref_mismatch"
    return None


def variant_windows(genome: Any, variants: Sequence[Variant], width: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One-hot reference and alternative windows of ``width`` bases for each variant.

    The first REF base sits at position ``width // 2`` of both windows; the alternative window
    keeps the left flank and takes as much right flank as needed (see the module notes).
    Positions beyond the chromosome ends are N (zero columns).

    Returns
    -------
    ref, alt : numpy.ndarray
        ``(n, 4, width)`` int8 each.
    """
    from bpnetkit.io.fasta import extract_sequences

    n = len(variants)
    c = width // 2
    extra = max([max(0, len(v.ref) - len(v.alt)) for v in variants] + [0])
    chroms = [v.chrom for v in variants]
    starts = np.array([v.pos - c for v in variants], dtype=np.int64)
    seqs = extract_sequences(genome, chroms, starts, starts + width + extra, pad=True)
    ref = np.ascontiguousarray(seqs[:, :, :width])
    alt = np.empty((n, 4, width), dtype=np.int8)
    for k, v in enumerate(variants):
        alt[k] = apply_edit(seqs[k], c, len(v.ref), _encode(v.alt), width)
    return ref, alt


# ---------------------------------------------------------------------------------------------
# attributions around the variant
# ---------------------------------------------------------------------------------------------


def _attribution_sums(model: Any, X: np.ndarray, lengths: Sequence[int], centre: int,
                      flank: int, n_shuffles: int, batch_size: int, device: Any,
                      random_state: int) -> dict[str, np.ndarray]:
    """Sum of DeepLIFT/SHAP contributions over ``[centre - flank, centre + len + flank)``."""
    import torch

    from bpnetkit.interpret.deeplift import deep_lift_shap
    from bpnetkit.models.wrappers import CountWrapper, ProfileWrapper

    base = prepare_model(model)
    out = {}
    Xt = torch.as_tensor(X).float()
    for key, wrapper in (("counts", CountWrapper(base)), ("profile", ProfileWrapper(base))):
        attr = deep_lift_shap(wrapper, Xt, n_shuffles=n_shuffles, batch_size=batch_size,
                              device=device, random_state=random_state)
        attr = np.asarray(attr.detach().cpu() if hasattr(attr, "detach") else attr,
                          dtype=np.float64)
        if attr.shape != X.shape:
            raise InputError(f"unexpected attribution shape {attr.shape} for {X.shape}.")
        per_pos = (attr * X).sum(axis=1)  # actual contributions (also if hypothetical)
        sums = np.empty(len(lengths))
        for k, n in enumerate(lengths):
            lo, hi = max(0, centre - flank), min(X.shape[2], centre + n + flank)
            sums[k] = per_pos[k, lo:hi].sum()
        out[key] = sums
    return out


# ---------------------------------------------------------------------------------------------
# scoring many variants
# ---------------------------------------------------------------------------------------------


def score_variants(model: Any, genome: Any, variants: Sequence[Variant], in_window: int,
                   batch_size: int = 64, device: Any = None, rc_average: bool = False,
                   attributions: bool = False, attribution_flank: int = 10,
                   n_shuffles: int = 10, random_state: int = 0) -> dict[str, np.ndarray]:
    """Score checked variants (see :func:`effect_scores`; plus attribution sums if asked).

    With ``attributions=True`` the result also holds ``counts_attr_ref``,
    ``counts_attr_alt``, ``counts_attr_diff`` and the same for ``profile_``: DeepLIFT/SHAP
    contributions summed over the allele and ``attribution_flank`` bases on each side.
    """
    ref, alt = variant_windows(genome, variants, in_window)
    before = predict_batches(model, ref, batch_size, device, rc_average)
    after = predict_batches(model, alt, batch_size, device, rc_average)
    scores = effect_scores(before, after)
    if attributions:
        c = in_window // 2
        a_ref = _attribution_sums(model, ref, [len(v.ref) for v in variants], c,
                                  attribution_flank, n_shuffles, batch_size, device, random_state)
        a_alt = _attribution_sums(model, alt, [len(v.alt) for v in variants], c,
                                  attribution_flank, n_shuffles, batch_size, device, random_state)
        for key in ("counts", "profile"):
            scores[f"{key}_attr_ref"] = a_ref[key]
            scores[f"{key}_attr_alt"] = a_alt[key]
            scores[f"{key}_attr_diff"] = a_alt[key] - a_ref[key]
    return scores


def _shuffle(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dinucleotide-shuffle each row of ``X`` (one shuffle per row)."""
    try:
        from bpnetkit.interpret.shuffle import dinucleotide_shuffle
    except ImportError:  # pragma: no cover - fallback while the shuffle module is missing
        out = X.copy()
        for k in range(len(X)):
            out[k] = X[k][:, rng.permutation(X.shape[2])]
        return out
    seed = int(rng.integers(2**31 - 1))
    Y = dinucleotide_shuffle(X, n=1, random_state=seed)
    Y = np.asarray(Y.detach().cpu() if hasattr(Y, "detach") else Y)
    return Y[:, 0].astype(X.dtype)


def null_scores(model: Any, genome: Any, variants: Sequence[Variant], in_window: int,
                n_null: int, batch_size: int = 64, device: Any = None,
                rc_average: bool = False, random_state: int = 0) -> dict[str, np.ndarray]:
    """Scores of the same alleles placed into dinucleotide-shuffled windows.

    ``n_null`` null variants are drawn (with replacement) from ``variants``; each window is
    shuffled, the REF allele written back at the centre, and the ALT allele applied as usual.
    """
    from bpnetkit.utils import as_generator

    rng = as_generator(random_state)
    pick = rng.integers(len(variants), size=n_null)
    chosen = [variants[i] for i in pick]
    c = in_window // 2
    ref_all, alt_all = [], []
    for a in range(0, n_null, 1024):
        part = chosen[a:a + 1024]
        extra = max(max(0, len(v.ref) - len(v.alt)) for v in part)
        ref, _ = variant_windows(genome, part, in_window + extra)
        shuf = _shuffle(ref, rng)
        r = np.empty((len(part), 4, in_window), dtype=np.int8)
        t = np.empty_like(r)
        for k, v in enumerate(part):
            s = shuf[k]
            start = (in_window + extra) // 2 - c  # keep the variant at position c
            s = s[:, start:]
            s = apply_edit(s, c, len(v.ref), _encode(v.ref), s.shape[1])
            r[k] = s[:, :in_window]
            t[k] = apply_edit(s, c, len(v.ref), _encode(v.alt), in_window)
        ref_all.append(r)
        alt_all.append(t)
    ref = np.concatenate(ref_all)
    alt = np.concatenate(alt_all)
    before = predict_batches(model, ref, batch_size, device, rc_average, desc="null variants")
    after = predict_batches(model, alt, batch_size, device, rc_average)
    return effect_scores(before, after)


def empirical_percentile(values: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Empirical percentile of ``|values|`` among ``|null|`` (ties count half; NaN stays NaN).

    A value above every null value gets 100; one equal to all of them gets 50.
    """
    null = np.sort(np.abs(null[np.isfinite(null)]))
    v = np.abs(np.asarray(values, dtype=np.float64))
    if len(null) == 0:
        return np.full(len(v), np.nan)
    below = np.searchsorted(null, v, side="left")
    at_most = np.searchsorted(null, v, side="right")
    out = 100.0 * (below + at_most) / (2 * len(null))
    out[~np.isfinite(v)] = np.nan
    return out


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------


@dataclass
class VariantEffectParams:
    """Parameters of ``bpnetkit variant-effect``.

    Attributes
    ----------
    variants : str
        VCF (plain or gzip) or TSV with columns chrom, pos (1-based), ref, alt[, id].
    genome : str
        Reference FASTA.
    model : str
        Model folder or file (anything :func:`bpnetkit.io.load_model` reads).
    output_dir : str
        Folder for ``<name>.scores.tsv``, ``<name>.skipped.tsv``, ``<name>.summary.json``.
    name : str
        Prefix of the output files.
    in_window : int
        Input length of the model (window centred on each variant).
    batch_size : int
        Windows per forward pass.
    chunk_size : int
        Variants read, scored and written at a time.
    device : str or None
        None picks CUDA when available.
    rc_average : bool
        Average predictions over both strands.
    attributions : bool
        Also score the change of counts/profile DeepLIFT/SHAP contributions around the variant
        (slow).
    attribution_flank : int
        Bases on each side of the allele summed for the attribution scores.
    n_shuffles : int
        DeepLIFT reference shuffles.
    null_variants : int
        Number of shuffled-sequence null variants; > 0 adds percentile columns.
    random_state : int
        Seed for shuffles.
    """

    variants: str
    genome: str
    model: str
    output_dir: str
    name: str = "variants"
    in_window: int = 2114
    batch_size: int = 64
    chunk_size: int = 4096
    device: str | None = None
    rc_average: bool = False
    attributions: bool = False
    attribution_flank: int = 10
    n_shuffles: int = 10
    null_variants: int = 0
    random_state: int = 0

    def validate(self) -> None:
        """Check value ranges."""
        for key in ("in_window", "batch_size", "chunk_size"):
            if getattr(self, key) < 1:
                raise InputError(f"variant-effect: '{key}' must be at least 1, got "
                                 f"{getattr(self, key)}.")
        for key in ("attribution_flank", "n_shuffles", "null_variants"):
            if getattr(self, key) < 0:
                raise InputError(f"variant-effect: '{key}' must be >= 0, got "
                                 f"{getattr(self, key)}.")


_COLUMNS = ["chrom", "pos", "id", "ref", "alt", "ref_log_counts", "alt_log_counts", "log2_fc",
            "jsd", "max_abs_diff"]
_ATTR_COLUMNS = [f"{k}_attr_{s}" for k in ("counts", "profile") for s in ("ref", "alt", "diff")]
_PCT_COLUMNS = ["log2_fc_percentile", "jsd_percentile", "max_abs_diff_percentile"]


def _fmt(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.6g}"


def _chunks(it: Iterable, n: int) -> Iterator[list]:
    buf: list = []
    for x in it:
        buf.append(x)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf


def _load_model(path: str, device: Any):
    from bpnetkit.models.files import load_model

    return load_model(path, device=device) if device is not None else load_model(path)


@dataclass
class _Tally:
    records: int = 0
    scored: int = 0
    skipped: Counter = field(default_factory=Counter)
    unknown_chroms: set = field(default_factory=set)


def run_variant_effect(params: VariantEffectParams, model: Any = None) -> dict[str, str]:
    """Score every variant of a VCF/TSV file and write a TSV (see :class:`VariantEffectParams`).

    Records that cannot be scored (REF mismatch, off the chromosome end, unknown chromosome,
    symbolic alleles, breakends, ``*``) are written to ``<name>.skipped.tsv`` with a reason and
    counted in ``<name>.summary.json``; they are never scored.

    Parameters
    ----------
    params : VariantEffectParams
        The configuration.
    model : torch.nn.Module or None
        An already loaded model; None loads ``params.model``.

    Returns
    -------
    dict[str, str]
        ``scores``, ``skipped``, ``summary``, ``params`` -> paths.
    """
    from tqdm.auto import tqdm

    from bpnetkit.config import dump_config
    from bpnetkit.io.fasta import Genome
    from bpnetkit.utils import atomic_path

    genome = Genome(params.genome)
    if model is None:
        model = _load_model(params.model, params.device)
    out_dir = Path(params.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"scores": out_dir / f"{params.name}.scores.tsv",
             "skipped": out_dir / f"{params.name}.skipped.tsv",
             "summary": out_dir / f"{params.name}.summary.json",
             "params": out_dir / f"{params.name}.params.json"}
    common = dict(batch_size=params.batch_size, device=params.device,
                  rc_average=params.rc_average)

    def checked(stream: Iterable, tally: _Tally | None, skipped_fh=None) -> Iterator[Variant]:
        for rec in stream:
            if tally is not None:
                tally.records += 1
            reason = rec.reason if isinstance(rec, Skipped) else check_variant(rec, genome)
            if reason is None:
                yield rec
                continue
            v = rec.variant if isinstance(rec, Skipped) else rec
            if tally is not None:
                tally.skipped[reason] += 1
                if reason == "unknown_chromosome" and len(tally.unknown_chroms) < 20:
                    tally.unknown_chroms.add(v.chrom)
            if skipped_fh is not None:
                skipped_fh.write(f"{v.chrom}\t{v.pos + 1}\t{v.id}\t{v.ref}\t{v.alt}\t{reason}\t"
                                 f"{v.line}\n")

    null = None
    if params.null_variants > 0:
        # reservoir sample of valid variants for the null (first pass over the file)
        rng = np.random.default_rng(params.random_state)
        sample: list[Variant] = []
        for k, v in enumerate(checked(iter_variants(params.variants), None)):
            if len(sample) < 10000:
                sample.append(v)
            else:
                j = int(rng.integers(k + 1))
                if j < len(sample):
                    sample[j] = v
        if sample:
            null = null_scores(model, genome, sample, params.in_window, params.null_variants,
                               random_state=params.random_state, **common)

    columns = list(_COLUMNS) + (_ATTR_COLUMNS if params.attributions else []) + \
        (_PCT_COLUMNS if null is not None else [])
    tally = _Tally()
    with atomic_path(paths["scores"]) as tmp_scores, atomic_path(paths["skipped"]) as tmp_skip:
        with open(tmp_scores, "w") as fo, open(tmp_skip, "w") as fs:
            fo.write("\t".join(columns) + "\n")
            fs.write("chrom\tpos\tid\tref\talt\treason\tline\n")
            bar = tqdm(desc="variants", unit="variant")
            for part in _chunks(checked(iter_variants(params.variants), tally, fs),
                                params.chunk_size):
                s = score_variants(model, genome, part, params.in_window,
                                   attributions=params.attributions,
                                   attribution_flank=params.attribution_flank,
                                   n_shuffles=params.n_shuffles,
                                   random_state=params.random_state, **common)
                if null is not None:
                    for key in ("log2_fc", "jsd", "max_abs_diff"):
                        s[f"{key}_percentile"] = empirical_percentile(s[key], null[key])
                for k, v in enumerate(part):
                    vals = [v.chrom, str(v.pos + 1), v.id, v.ref, v.alt]
                    vals += [_fmt(float(s[c][k])) for c in columns[5:]]
                    fo.write("\t".join(vals) + "\n")
                tally.scored += len(part)
                bar.update(len(part))
            bar.close()
    summary = {"records": tally.records, "scored": tally.scored,
               "skipped": sum(tally.skipped.values()), "skipped_by_reason":
               dict(sorted(tally.skipped.items())),
               "null_variants": params.null_variants if null is not None else 0}
    if tally.unknown_chroms:
        from bpnetkit.io.fasta import suggest_chrom_fix

        names = sorted(tally.unknown_chroms)
        summary["unknown_chromosomes"] = names
        summary["hint"] = (f"chromosomes {', '.join(names[:5])} are not in the genome."
                           + suggest_chrom_fix(names, genome.chroms))
    from bpnetkit.utils import write_text_atomic

    write_text_atomic(paths["summary"], json.dumps(summary, indent=2) + "\n")
    dump_config(params, paths["params"])
    return {k: str(p) for k, p in paths.items()}


def read_summary(path: str | Path) -> dict:
    """Read a ``<name>.summary.json`` written by :func:`run_variant_effect`."""
    return json.loads(Path(path).read_text())


__all__ = [
    "Edit", "Skipped", "Variant", "VariantEffectParams", "apply_edit", "check_variant",
    "deletion_effect", "edit_effect", "effect_scores", "empirical_percentile",
    "insertion_effect", "iter_variants", "null_scores", "predict_batches", "prepare_model",
    "run_variant_effect", "score_variants", "substitution_effect", "variant_windows",
]
