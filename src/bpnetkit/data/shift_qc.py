"""Read-end shifts of enzyme-cut assays (ATAC-seq, DNase-seq): defaults, checks and a QC.

Three things live here:

- :func:`default_shifts`: the right shift for an input kind and assay. Tn5 inserts its adaptors
  with a 9-bp target-site duplication, so the 5' ends of ``+``-strand reads of one insertion
  lie 8 bp left of those of ``-``-strand reads; ``+4/-4`` moves both onto the centre of the
  duplication. Fragment files written by 10x Cell Ranger ATAC or ArchR are already adjusted
  (``start + 4``, ``end - 5``), so they need no shift. DNase-seq BAMs use ``0/+1``.
- :func:`check_shift_settings`: rejects contradictory settings (``paired_end`` with a fragment
  file; a shift on an already-adjusted fragment file unless forced).
- :func:`detect_shift`: checks, from the data, that the counted ends of both strands sit on
  the same cut sites. Reads from both strands sample the same cut sites, so the base
  composition around ``+`` ends and around ``-`` ends (both in genome orientation) is the same
  profile, displaced by the distance between the strands' ends of one cut. The detector finds
  that displacement (``strand_offset``, 0 when the ends are aligned) by correlating the two
  profiles over lags; for Tn5 it also finds the centre about which the pooled profile is
  reverse-complement symmetric (Tn5 cuts as a symmetric dimer), which places the cut site
  relative to each strand's ends. From the offset and the shifts in use it gives the shift
  per strand that would align the ends and a verdict: ``ok``, ``looks_unshifted`` (e.g. a BAM
  counted without the Tn5 shift), ``looks_double_shifted`` (e.g. a 10x fragment file shifted
  again) or ``unclear`` (no enzyme bias visible, or an offset that fits neither).

Nothing assumes a particular genome: only the reads and the reference sequence around their
ends are used.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bpnetkit.errors import InputError

__all__ = ["ShiftSettings", "ShiftQC", "default_shifts", "check_shift_settings",
           "input_kind", "shifts_for_inputs",
           "detect_shift", "detect_shift_windows", "shift_qc_for_genome", "assay_of_shifts",
           "INPUT_KINDS", "ASSAY_SHIFTS"]

log = logging.getLogger(__name__)

#: Input kinds understood by :func:`default_shifts`.
INPUT_KINDS = ("bam", "paired_bam", "sam", "fragments", "bed")

#: Shift ``(plus, minus)`` that puts raw read 5' ends of each assay on the cut site.
ASSAY_SHIFTS = {"atac": (4, -4), "dnase": (0, 1)}

#: Verdicts of :func:`detect_shift`.
VERDICTS = ("ok", "looks_unshifted", "looks_double_shifted", "unclear")


@dataclass
class ShiftSettings:
    """Counting settings for one input kind and assay (see :func:`default_shifts`).

    Attributes
    ----------
    preset : str
        ``bam2bw`` preset (``"atac"``, ``"dnase"`` or ``"none"``).
    shift_plus, shift_minus : int
        The shifts that preset applies.
    paired_end : bool
        Count both mates of paired BAM reads (``bam2bw``'s ``paired_end``).
    reason : str
        One sentence saying why.
    """

    preset: str
    shift_plus: int
    shift_minus: int
    paired_end: bool
    reason: str


def default_shifts(input_kind: str, assay: str) -> ShiftSettings:
    """The right ``bam2bw`` shift settings for an input kind and assay.

    Parameters
    ----------
    input_kind : str
        ``"bam"`` (single-end or unknown), ``"paired_bam"``, ``"sam"``, ``"fragments"``
        (10x/ArchR fragment file) or ``"bed"`` (BED/tagAlign reads).
    assay : str
        ``"atac"``, ``"dnase"``, or anything else (``"chip"``, ``"procap"``, ...: no shift).

    Returns
    -------
    ShiftSettings

    Raises
    ------
    InputError
        For an unknown input kind.
    """
    kind = input_kind.lower()
    if kind not in INPUT_KINDS:
        raise InputError(f"unknown input kind '{input_kind}'; use one of "
                         f"{', '.join(INPUT_KINDS)}.")
    a = (assay or "").lower()
    paired = kind == "paired_bam"
    if kind == "fragments":
        return ShiftSettings("none", 0, 0, False,
                             "fragment files (10x Cell Ranger ATAC, ArchR) are already "
                             "Tn5-adjusted (start + 4, end - 5) and always count both ends; "
                             "no shift, no paired_end.")
    if a in ASSAY_SHIFTS:
        sp, sm = ASSAY_SHIFTS[a]
        what = "both mates of each pair" if paired else "each read's 5' end"
        note = (" BED/tagAlign reads are taken as unshifted (ENCODE's ATAC tagAlign files are "
                "already shifted: then use no shift; bam2bw's shift QC tells)."
                if kind == "bed" else "")
        return ShiftSettings(a, sp, sm, paired,
                             f"{a} reads are counted at {what} shifted by {sp:+d}/{sm:+d} "
                             f"(the '{a}' preset) to put them on the cut site.{note}")
    return ShiftSettings("none", 0, 0, paired,
                         f"'{assay}' is not an enzyme-cut assay; read ends are not shifted.")


def input_kind(path: str | os.PathLike, n_records: int = 2000) -> str:
    """Kind of a read file for :func:`default_shifts`: ``"paired_bam"`` when any of its first
    ``n_records`` alignments is paired, else ``"bam"``, ``"fragments"`` or ``"bed"``.

    Raises
    ------
    InputError
        For a missing file or a format that cannot be told.
    """
    import pysam

    from bpnetkit.errors import require_file
    from bpnetkit.io.reads import detect_format

    p = require_file(path, "reads file")
    fmt = detect_format(p)
    if fmt not in ("bam", "sam"):
        return fmt
    with pysam.AlignmentFile(str(p), "rb" if fmt == "bam" else "r", check_sq=False) as f:
        for i, rec in enumerate(f.fetch(until_eof=True)):
            if rec.is_paired:
                return "paired_bam"
            if i + 1 >= n_records:
                break
    return "bam"


def shifts_for_inputs(inputs: Sequence[str | os.PathLike], assay: str) -> ShiftSettings:
    """:func:`default_shifts` for a set of read files (one ``bam2bw`` run).

    Raises
    ------
    InputError
        When the files are of kinds that need different settings (e.g. a fragment file and a
        BAM): shifts apply to all inputs of one run, so count them in separate runs.
    """
    if not inputs:
        raise InputError("no read files given.")
    kinds = {str(p): input_kind(p) for p in inputs}
    settings = {k: default_shifts(k, assay) for k in set(kinds.values())}
    key = {(s.preset, s.shift_plus, s.shift_minus, s.paired_end) for s in settings.values()}
    if len(key) > 1:
        listing = ", ".join(f"{os.path.basename(p)} ({k})" for p, k in kinds.items())
        raise InputError(f"the read files need different shift settings ({listing}); one "
                         f"bam2bw run applies one setting to all inputs. Convert them to one "
                         f"kind or count them separately.")
    return next(iter(settings.values()))


def check_shift_settings(input_formats: Sequence[str], shift_plus: int, shift_minus: int,
                         paired_end: bool = False, preset: str | None = None,
                         force_shift: bool = False, names: Sequence[str] | None = None
                         ) -> None:
    """Reject contradictory counting settings.

    Parameters
    ----------
    input_formats : sequence of str
        Format of each input (``bam``, ``sam``, ``fragments``, ``bed``).
    shift_plus, shift_minus : int
        The shifts that will be applied (after the preset).
    paired_end : bool
        Paired-end counting requested.
    preset : str or None
        The preset that gave the shifts (for the message).
    force_shift : bool
        Allow a shift on fragment files (for fragment files that are not Tn5-adjusted).
    names : sequence of str or None
        File names for the messages.

    Raises
    ------
    InputError
        ``paired_end`` with a fragment/BED file; a non-zero shift on a fragment file without
        ``force_shift``.
    """
    names = list(names) if names is not None else [f"input {i + 1}" for i in
                                                   range(len(input_formats))]
    for name, fmt in zip(names, input_formats):
        if fmt in ("fragments", "bed") and paired_end:
            raise InputError(f"paired_end applies to BAM/SAM input; '{name}' is a {fmt} file "
                             f"(fragment files always count both ends). Set paired_end to "
                             f"false.")
        if fmt == "fragments" and (shift_plus or shift_minus) and not force_shift:
            how = f"preset '{preset}'" if preset else "shift_plus/shift_minus"
            raise InputError(
                f"'{name}' is a fragment file, and fragment files from 10x Cell Ranger ATAC or "
                f"ArchR are already Tn5-adjusted; shifting it by {shift_plus:+d}/"
                f"{shift_minus:+d} ({how}) would shift it twice. Use preset 'none' (shifts "
                f"0/0), or set force_shift to true if this file holds unadjusted fragment "
                f"ends.")


def assay_of_shifts(shift_plus: int, shift_minus: int, preset: str | None = None) -> str:
    """The enzyme geometry a shift setting implies: ``"dnase"`` for a DNase preset or
    ``0/+1``, else ``"atac"`` (Tn5)."""
    if preset in ASSAY_SHIFTS:
        return str(preset)
    if (shift_plus, shift_minus) == ASSAY_SHIFTS["dnase"]:
        return "dnase"
    return "atac"


@dataclass
class ShiftQC:
    """Result of :func:`detect_shift`.

    Attributes
    ----------
    assay : str
        Enzyme geometry assumed (``"atac"``: Tn5, ``"dnase"``).
    shift_used : list of int
        ``[plus, minus]`` shifts applied to the counted ends.
    verdict : str
        ``ok``, ``looks_unshifted``, ``looks_double_shifted`` or ``unclear``.
    confidence : float
        0-1: how clearly the bias profile and the strand offset stand out.
    strand_offset : int or None
        Position of the ``-`` ends minus that of the ``+`` ends of the same cut (bp); 0 when
        the counted ends are aligned; Tn5 unshifted: +8; shifted twice: -8.
    inferred_shift : list of int or None
        ``[plus, minus]`` total shifts that would put both strands' ends on the cut site.
    cut_centre : float or None
        Tn5 only: centre of reverse-complement symmetry of the bias, relative to the counted
        ``+`` ends (0 when they sit on it); None when no clear symmetry.
    offset_correlation, runner_up_correlation : float
        Correlation of the two strands' profiles at the best lag and at the best lag at least
        2 bp away from it.
    symmetry_correlation : float or None
        Correlation of the pooled profile with its reverse complement about ``cut_centre``.
    signal_to_noise : float
        RMS composition enrichment near the ends over that in the far flanks.
    n_plus, n_minus : int
        Ends used per strand.
    message : str
        One sentence for a log or a report.
    lags, lag_correlation : list
        The correlation per lag (for a figure).
    profile_plus, profile_minus : list
        Log2 base enrichment (4 x positions, A C G T) around ``+`` and ``-`` ends (genome
        orientation), positions ``-flank..flank``.
    """

    assay: str
    shift_used: list[int]
    verdict: str
    confidence: float
    strand_offset: int | None
    inferred_shift: list[int] | None
    cut_centre: float | None
    offset_correlation: float
    runner_up_correlation: float
    symmetry_correlation: float | None
    signal_to_noise: float
    n_plus: int
    n_minus: int
    message: str
    lags: list[int] = field(default_factory=list)
    lag_correlation: list[float] = field(default_factory=list)
    profile_plus: list[list[float]] = field(default_factory=list)
    profile_minus: list[list[float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @property
    def looks_wrong(self) -> bool:
        """True for ``looks_unshifted`` and ``looks_double_shifted``."""
        return self.verdict in ("looks_unshifted", "looks_double_shifted")


def _enrichment(windows: np.ndarray, bg_flank: int) -> np.ndarray:
    """Log2 base frequency per position over the mean of the outer ``bg_flank`` positions on
    each side; (4, width)."""
    w = windows.shape[1]
    counts = np.stack([(windows == b).sum(axis=0) for b in range(4)]).astype(float)
    freq = (counts + 0.5) / (counts.sum(axis=0, keepdims=True) + 2.0)
    outer = np.r_[0:bg_flank, w - bg_flank:w]
    bg = freq[:, outer].mean(axis=1, keepdims=True)
    return np.log2(freq / bg)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    d = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 0 else 0.0


def detect_shift_windows(plus_windows: np.ndarray, minus_windows: np.ndarray,
                         shift_used: Sequence[int] = (0, 0), assay: str = "atac",
                         max_lag: int = 12, core: int = 20) -> ShiftQC:
    """:func:`detect_shift` on base-code windows centred on the counted ends.

    Parameters
    ----------
    plus_windows, minus_windows : numpy.ndarray
        (n, 2 * flank + 1) uint8 base codes (0..3 = A, C, G, T; 4 = other) of the genome
        around each counted ``+`` and ``-`` end, in genome orientation, the end in the
        middle column. ``flank`` must be at least ``core + max_lag + 4``.
    shift_used : (int, int)
        Shifts already applied to the ends.
    assay : str
        ``"atac"`` (Tn5: expected raw offset +8, symmetric bias) or ``"dnase"`` (raw offset
        -1).
    max_lag : int
        Largest strand offset considered (bp).
    core : int
        Half-width of the region compared between strands (bp).

    Returns
    -------
    ShiftQC
    """
    plus_windows = np.asarray(plus_windows)
    minus_windows = np.asarray(minus_windows)
    width = plus_windows.shape[1]
    flank = (width - 1) // 2
    if minus_windows.shape[1] != width or width % 2 == 0:
        raise InputError("plus and minus windows must have the same odd width.")
    bg_flank = flank - core - max_lag
    if bg_flank < 4:
        raise InputError(f"windows of {width} bp are too narrow for core {core} and max_lag "
                         f"{max_lag}; use flank >= {core + max_lag + 4}.")
    sp, sm = (int(x) for x in shift_used)
    a = assay if assay in ASSAY_SHIFTS else "atac"
    n_p, n_m = len(plus_windows), len(minus_windows)
    base = dict(assay=a, shift_used=[sp, sm], n_plus=int(n_p), n_minus=int(n_m))
    if min(n_p, n_m) < 100:
        return ShiftQC(**base, verdict="unclear", confidence=0.0, strand_offset=None,
                       inferred_shift=None, cut_centre=None, offset_correlation=0.0,
                       runner_up_correlation=0.0, symmetry_correlation=None,
                       signal_to_noise=0.0,
                       message=f"shift QC: too few read ends ({n_p} +, {n_m} -) to judge.")
    P = _enrichment(plus_windows, bg_flank)
    M = _enrichment(minus_windows, bg_flank)
    c0 = flank
    lags = list(range(-max_lag, max_lag + 1))
    # P(o) = M(o - L): compare P over |o| <= core + max_lag/2 with M shifted by L
    half = core
    r = []
    for L in lags:
        o = np.arange(-half, half + 1) + (L + 1) // 2   # centre the window between the two
        r.append(_corr(P[:, c0 + o], M[:, c0 + o - L]))
    r_arr = np.array(r)
    best = int(np.argmax(r_arr))
    delta = lags[best]
    far = np.abs(np.array(lags) - delta) >= 2
    r_best = float(r_arr[best])
    r_second = float(r_arr[far].max()) if far.any() else 0.0
    inner = np.arange(c0 - half, c0 + half + 1)
    outer = np.r_[0:bg_flank, width - bg_flank:width]
    noise = math.sqrt(float(np.mean(np.r_[P[:, outer].ravel(), M[:, outer].ravel()] ** 2)))
    sig = math.sqrt(float(np.mean(np.r_[P[:, inner].ravel(), M[:, inner].ravel()] ** 2)))
    snr = sig / noise if noise > 0 else float("inf")
    confidence = min(max(r_best, 0.0), min(max((r_best - r_second) / 0.3, 0.0), 1.0),
                     min(max((snr - 1.5) / 2.5, 0.0), 1.0))
    # Tn5: centre of reverse-complement symmetry of the pooled profile (plus frame)
    cut_centre = None
    r_sym = None
    if a == "atac":
        Q = P.copy()
        lo, hi = max(0, delta), min(width, width + delta)   # M(o - delta) defined
        Q[:, lo:hi] = (P[:, lo:hi] + M[:, lo - delta:hi - delta]) / 2
        best_k, best_r = 0, -2.0
        for k in range(-2 * max_lag, 2 * max_lag + 1):      # centre = k / 2
            i = np.arange(-half, half + 1) + k // 2
            j = k - i
            rr = _corr(Q[:, c0 + i], Q[::-1, c0 + j])       # complement = reversed rows
            if rr > best_r:
                best_k, best_r = k, rr
        r_sym = float(best_r)
        if r_sym >= 0.5:
            cut_centre = best_k / 2
    K = ASSAY_SHIFTS[a][0] - ASSAY_SHIFTS[a][1]           # raw offset of the assay
    tol = 1 if abs(K) >= 4 else 0
    if confidence < 0.3:
        verdict = "unclear"
    elif abs(delta) <= tol:
        verdict = "ok"
    elif abs(delta - K) <= tol:
        verdict = "looks_unshifted"
    elif abs(delta + K) <= tol:
        verdict = "looks_double_shifted"
    else:
        verdict = "unclear"
    if a == "atac" and cut_centre is not None:
        cp = int(math.floor(cut_centre + 0.5))
        inferred = [sp + cp, sm + cp - delta]
    elif a == "atac":
        inferred = [sp + (delta + 1) // 2, sm - (delta - (delta + 1) // 2)]
    else:
        inferred = [sp, sm - delta]
    used = f"{sp:+d}/{sm:+d}"
    inf = f"{inferred[0]:+d}/{inferred[1]:+d}"
    msgs = {
        "ok": f"shift QC ({a}): the counted ends of both strands sit on the same cut sites "
              f"(strand offset {delta:+d} bp) with shifts {used}.",
        "looks_unshifted": f"shift QC ({a}): the '-' strand ends lie {delta:+d} bp from the "
                           f"'+' ends of the same cuts, as in reads counted WITHOUT the {a} "
                           f"shift (shifts used {used}); expected about {inf}.",
        "looks_double_shifted": f"shift QC ({a}): the '-' strand ends lie {delta:+d} bp from "
                                f"the '+' ends of the same cuts, as in reads shifted TWICE "
                                f"(e.g. an already adjusted fragment file shifted again; "
                                f"shifts used {used}); expected about {inf}.",
        "unclear": (f"shift QC ({a}): no clear enzyme bias around the read ends (confidence "
                    f"{confidence:.2f}); cannot judge the shifts {used}."
                    if confidence < 0.3 else
                    f"shift QC ({a}): strand offset {delta:+d} bp fits neither correct, "
                    f"unshifted nor double-shifted ends (shifts used {used}; aligning them "
                    f"needs about {inf})."),
    }
    return ShiftQC(**base, verdict=verdict, confidence=round(float(confidence), 4),
                   strand_offset=int(delta), inferred_shift=[int(x) for x in inferred],
                   cut_centre=cut_centre, offset_correlation=round(r_best, 4),
                   runner_up_correlation=round(r_second, 4),
                   symmetry_correlation=None if r_sym is None else round(r_sym, 4),
                   signal_to_noise=round(float(snr), 3), message=msgs[verdict], lags=lags,
                   lag_correlation=[round(float(x), 4) for x in r_arr],
                   profile_plus=np.round(P, 4).tolist(), profile_minus=np.round(M, 4).tolist())


def _windows(codes: np.ndarray, ends: np.ndarray, flank: int) -> np.ndarray:
    ends = np.asarray(ends, dtype=np.int64)
    ends = ends[(ends >= flank) & (ends < len(codes) - flank)]
    idx = ends[:, None] + np.arange(-flank, flank + 1)[None, :]
    return codes[idx]


def detect_shift(plus_ends: np.ndarray, minus_ends: np.ndarray, codes: np.ndarray,
                 shift_used: Sequence[int] = (0, 0), assay: str = "atac",
                 max_lag: int = 12, core: int = 20) -> ShiftQC:
    """Check from the data where the enzyme's cut sites sit relative to the counted ends.

    Parameters
    ----------
    plus_ends, minus_ends : numpy.ndarray
        Counted (already shifted) 5' end positions of ``+`` and ``-`` strand reads, as
        indices into ``codes`` (one entry per read; repeat positions for counts).
    codes : numpy.ndarray
        Genome base codes (uint8, 0..3 = A, C, G, T, 4 = other), e.g.
        :meth:`bpnetkit.io.fasta.Genome.chrom_codes`; several chromosomes may be concatenated
        (ends too close to an end of ``codes`` are skipped).
    shift_used : (int, int)
        Shifts that were applied to the ends.
    assay : str
        ``"atac"`` or ``"dnase"`` (the enzyme geometry).
    max_lag, core : int
        See :func:`detect_shift_windows`.

    Returns
    -------
    ShiftQC
        Verdict, confidence, strand offset, inferred shift per strand and the profiles.
    """
    flank = core + max_lag + 8
    codes = np.asarray(codes, dtype=np.uint8)
    return detect_shift_windows(_windows(codes, plus_ends, flank),
                                _windows(codes, minus_ends, flank), shift_used, assay,
                                max_lag, core)


def shift_qc_for_genome(genome, ends: Mapping[str, tuple[np.ndarray, np.ndarray]],
                        shift_used: Sequence[int], assay: str = "atac", max_lag: int = 12,
                        core: int = 20) -> ShiftQC:
    """:func:`detect_shift` on read ends of several chromosomes of a genome.

    Parameters
    ----------
    genome : bpnetkit.io.fasta.Genome
        The reference.
    ends : mapping
        Chromosome -> ``(plus_ends, minus_ends)`` (e.g. from
        :func:`bpnetkit.data.reads.sample_read_ends`); chromosomes the genome lacks are
        skipped.
    shift_used, assay, max_lag, core
        See :func:`detect_shift`.

    Returns
    -------
    ShiftQC
    """
    flank = core + max_lag + 8
    wp, wm = [], []
    for chrom, (p, m) in ends.items():
        if chrom not in genome.chrom_sizes:
            continue
        size = genome.chrom_sizes[chrom]
        for arr, out in ((p, wp), (m, wm)):
            arr = np.asarray(arr, dtype=np.int64)
            arr = arr[(arr >= flank) & (arr < size - flank)]
            if len(arr):
                out.append(genome.window_codes([chrom] * len(arr), arr - flank, 2 * flank + 1))
    w = 2 * flank + 1
    P = np.concatenate(wp) if wp else np.zeros((0, w), np.uint8)
    M = np.concatenate(wm) if wm else np.zeros((0, w), np.uint8)
    return detect_shift_windows(P, M, shift_used, assay, max_lag, core)
