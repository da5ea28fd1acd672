"""GC-matched background regions (``bpnetkit negatives``).

The genome is tiled into bins of the model's input width. Bins with too many ``N``, bins
overlapping (padded) peak windows or an exclusion list, and optionally bins whose signal is
above a threshold are dropped. Candidates are then drawn so that their GC distribution matches
that of the peak windows, histogram bin by histogram bin: each GC bin gets ``ratio`` times the
number of peaks in it, and a bin without enough candidates borrows from its nearest
neighbours. The match is reported with the two-sample Kolmogorov-Smirnov statistic and GC
histograms of both sets (what :func:`bpnetkit.report.data.gc_match_figure` draws).

The ``bpnetkit negatives`` step (parameters, output folder) is :mod:`bpnetkit.steps.negatives`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bpnetkit.data.regions import Regions, centered_windows, overlaps
from bpnetkit.errors import InputError
from bpnetkit.io.fasta import Genome, check_chroms
from bpnetkit.utils import as_generator, progress

__all__ = ["gc_fraction", "match_gc", "gc_histogram", "gc_matched_negatives",
           "GC_HISTOGRAM_BINS"]

log = logging.getLogger(__name__)

#: Number of equal-width GC bins over [0, 1] of the histograms in the report.
GC_HISTOGRAM_BINS = 50


def gc_fraction(genome: Genome, chroms: Sequence[str], starts: Sequence[int] | np.ndarray,
                ends: Sequence[int] | np.ndarray, chunk: int = 4096
                ) -> tuple[np.ndarray, np.ndarray]:
    """GC fraction (among A/C/G/T) and non-ACGT fraction of equal-length intervals.

    Parameters
    ----------
    genome : Genome
        The reference.
    chroms, starts, ends : array-like
        Intervals, all of one length.
    chunk : int
        Intervals read per pass.

    Returns
    -------
    tuple of numpy.ndarray
        ``(gc, n_fraction)``; ``gc`` is 0 for an interval without any A/C/G/T.
    """
    chroms = np.asarray(chroms, dtype=object)
    starts = np.asarray(starts, dtype=np.int64)
    L = int(np.asarray(ends)[0] - starts[0]) if len(starts) else 0
    gc = np.empty(len(starts))
    nfrac = np.empty(len(starts))
    buf = np.empty((min(chunk, max(len(starts), 1)), L), dtype=np.uint8)
    for a in range(0, len(starts), chunk):
        b = min(a + chunk, len(starts))
        codes = buf[: b - a]
        genome._fill_codes(chroms[a:b], starts[a:b], L, codes)
        g, n = _gc_counts(codes)
        gc[a:b] = g / np.maximum(L - n, 1)
        nfrac[a:b] = n / L
    return gc, nfrac


def _gc_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = ((codes == 1) | (codes == 2)).sum(axis=1)
    n = (codes == 4).sum(axis=1)
    return g, n


def _tile_gc(genome, chrom: str, width: int, stride: int, chunk_bins: int = 20000):
    """Starts, GC fraction and N fraction of all bins of one chromosome."""
    size = genome.chrom_sizes[chrom]
    if size < width:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    starts = np.arange(0, size - width + 1, stride, dtype=np.int64)
    gc, nfrac = gc_fraction(genome, [chrom] * len(starts), starts, starts + width,
                            chunk=chunk_bins if width * chunk_bins < (64 << 20)
                            else max(1, (64 << 20) // width))
    return starts, gc, nfrac


def match_gc(target_gc: np.ndarray, cand_gc: np.ndarray, n_per_target: float = 1.0,
             n_bins: int = 100, random_state=0) -> np.ndarray:
    """Indices of candidates whose GC histogram matches ``target_gc`` scaled by
    ``n_per_target``; a GC bin short of candidates borrows from its nearest bins.

    Candidates are drawn without replacement; fewer are returned when the pool runs out.
    """
    rng = as_generator(random_state)
    tb = np.clip((np.asarray(target_gc) * n_bins).astype(int), 0, n_bins - 1)
    cb = np.clip((np.asarray(cand_gc) * n_bins).astype(int), 0, n_bins - 1)
    want = np.bincount(tb, minlength=n_bins).astype(float) * n_per_target
    want = _round_preserving_sum(want)
    pools = [rng.permutation(np.flatnonzero(cb == b)) for b in range(n_bins)]
    used = np.zeros(n_bins, dtype=np.int64)
    chosen = []
    # fill each bin from itself, then from the nearest bins outward
    for b in np.argsort(-want, kind="stable"):
        need = int(want[b])
        for d in range(n_bins):
            if need == 0:
                break
            for nb in ((b,) if d == 0 else (b - d, b + d)):
                if need == 0 or nb < 0 or nb >= n_bins:
                    continue
                take = min(need, len(pools[nb]) - used[nb])
                if take > 0:
                    chosen.append(pools[nb][used[nb]:used[nb] + take])
                    used[nb] += take
                    need -= take
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def _round_preserving_sum(x: np.ndarray) -> np.ndarray:
    fl = np.floor(x)
    rest = int(round(x.sum() - fl.sum()))
    if rest > 0:
        fl[np.argsort(-(x - fl), kind="stable")[:rest]] += 1
    return fl.astype(np.int64)


def gc_histogram(gc: np.ndarray, n_bins: int = GC_HISTOGRAM_BINS) -> list[int]:
    """Counts of GC fractions in ``n_bins`` equal-width bins over [0, 1] (1.0 in the last)."""
    counts, _ = np.histogram(np.asarray(gc, dtype=float), bins=np.linspace(0, 1, n_bins + 1))
    return [int(x) for x in counts]


def gc_matched_negatives(genome: Genome, peaks: Regions, width: int = 2114, ratio: float = 2.0,
                         stride: int | None = None, max_n_fraction: float = 0.01,
                         peak_pad: int = 0, gc_bins: int = 100,
                         blacklist: Regions | None = None,
                         signal: Callable[[str, np.ndarray, int], np.ndarray] | None = None,
                         max_signal: float | None = None, chroms: list[str] | None = None,
                         random_state=0, verbose: bool = True, adapt: bool = True):
    """Pick GC-matched background bins.

    On small genomes (or dense peaks) the default tiling may leave fewer candidate bins than
    the ``ratio * n_peaks`` negatives wanted. With ``adapt`` the search then widens, one step
    at a time and only as far as needed: (1) chromosomes without peaks are tiled too (when
    ``chroms`` is None); (2) the stride is halved, down to ``width // 4`` (overlapping bins);
    (3) ``peak_pad`` is dropped; (4) bins may overlap the outer half of peak windows (only
    the central ``width // 2`` around each summit is excluded). If candidates are still
    short, fewer negatives are drawn. Each step taken is listed in the report's
    ``reductions`` and logged as a warning; only when no candidate is left at all is this an
    error, saying what to change.

    Parameters
    ----------
    genome : Genome
        The reference.
    peaks : Regions
        Peaks; their summit-centred windows of ``width`` define the target GC distribution
        and are excluded (padded by ``peak_pad``).
    width, stride : int
        Bin width and step (``stride`` None: ``width``).
    ratio : float
        Negatives per peak.
    max_n_fraction : float
        Bins with a larger fraction of non-ACGT bases are dropped.
    peak_pad : int
        Extra bp around each peak window that negatives avoid.
    gc_bins : int
        GC histogram bins used for matching.
    blacklist : Regions or None
        Excluded intervals.
    signal : callable or None
        ``signal(chrom, starts, width)`` -> total signal per bin (e.g.
        ``functools.partial(bpnetkit.io.bigwig.bin_sums, paths)``); with ``max_signal`` bins
        above it are dropped.
    max_signal : float or None
        Signal threshold.
    chroms : list of str or None
        Chromosomes to draw from; default: those with a peak window.
    random_state : int or numpy.random.Generator
        Seed.
    verbose : bool
        Show progress over chromosomes.
    adapt : bool
        Widen the search when candidates are short (see above); False: draw fewer negatives
        (and fail when there is no candidate).

    Returns
    -------
    tuple
        ``(chroms, starts, ends, gc, report, peak_gc)``: the negatives, their GC fractions,
        a report (counts, the KS statistic between the peak and negative GC distributions,
        GC histograms of both in ``gc_histogram``, and ``reductions``: what was relaxed) and
        the peaks' GC fractions.
    """
    from scipy.stats import ks_2samp

    width = int(width)
    stride = int(stride or width)
    if width <= 0 or stride <= 0:
        raise InputError(f"width and stride must be positive, got {width} and {stride}.")
    check_chroms(peaks.chrom, genome.chroms, f"peaks '{Path(peaks.source).name}'",
                 f"genome '{genome.path.name}'")
    pc, ps, pe = centered_windows(peaks, width, genome.chrom_sizes)
    if not len(pc):
        longest = max(genome.chrom_sizes.values())
        raise InputError(f"no peak window of {width} bp fits on its chromosome (the longest "
                         f"chromosome has {longest} bp); lower 'width'.")
    peak_gc, _ = gc_fraction(genome, pc, ps, pe)
    peak_gc = peak_gc[np.isfinite(peak_gc)]
    wanted = int(round(ratio * len(peak_gc)))
    full = peaks.__class__.from_arrays(pc, ps, pe)
    core = width // 4
    mid = (ps + pe) // 2
    cores = peaks.__class__.from_arrays(pc, np.maximum(mid - core, 0), mid + core)
    if chroms is not None:
        check_chroms(list(chroms), genome.chroms, "'chroms'", f"genome '{genome.path.name}'")
    use = list(dict.fromkeys(chroms if chroms is not None else [str(c) for c in pc]))
    state = {"use": use, "stride": stride, "pad": int(peak_pad), "excl": full,
             "exclusion": "peak windows"}
    reductions: list[str] = []
    cand = _candidates(genome, state, width, max_n_fraction, blacklist, signal, max_signal,
                       verbose)

    def short() -> bool:
        return len(cand[0]) < wanted

    if adapt and short() and chroms is None and len(use) < len(genome.chroms):
        state["use"] = genome.chroms
        cand = _candidates(genome, state, width, max_n_fraction, blacklist, signal,
                           max_signal, verbose)
        reductions.append(f"tiled all {len(genome.chroms)} chromosomes, not only the "
                          f"{len(use)} with peaks")
    while adapt and short() and state["stride"] > max(1, width // 4):
        state["stride"] = max(max(1, width // 4), state["stride"] // 2)
        cand = _candidates(genome, state, width, max_n_fraction, blacklist, signal,
                           max_signal, verbose)
        reductions.append(f"stride lowered to {state['stride']} bp (bins overlap)")
    if adapt and short() and state["pad"] > 0:
        state["pad"] = 0
        cand = _candidates(genome, state, width, max_n_fraction, blacklist, signal,
                           max_signal, verbose)
        reductions.append(f"peak_pad {peak_pad} bp dropped")
    if adapt and short():
        state["excl"], state["exclusion"] = cores, f"peak cores (summit +/- {core} bp)"
        cand = _candidates(genome, state, width, max_n_fraction, blacklist, signal,
                           max_signal, verbose)
        reductions.append(f"bins may overlap the outer half of peak windows (only summit "
                          f"+/- {core} bp excluded)")
    cand_c, cand_s, cand_gc, drops = cand
    if not len(cand_c):
        total = sum(genome.chrom_sizes[c] for c in state["use"])
        raise InputError(
            f"no candidate background bins of {width} bp are left in {len(state['use'])} "
            f"chromosome(s) ({total} bp) after removing bins with N (>{max_n_fraction}), "
            f"peaks ({len(peak_gc)}), excluded regions and high signal"
            + (" even after relaxing the search" if adapt else "")
            + "; lower 'width', give fewer peaks, add chromosomes ('chroms'), or relax "
              "'max_n_fraction', 'blacklist' or 'max_signal'.")
    pick = match_gc(peak_gc, cand_gc, ratio, gc_bins, random_state)
    if len(pick) < wanted:
        reductions.append(f"only {len(pick)} of {wanted} requested negatives (ratio "
                          f"{len(pick) / max(len(peak_gc), 1):.2f} instead of {ratio:g})")
    if reductions:
        log.warning("negatives: too few background bins for the defaults; %s.",
                    "; ".join(reductions))
    neg_gc = cand_gc[pick]
    ks = ks_2samp(peak_gc, neg_gc) if len(neg_gc) else None
    report = {
        "n_peaks": int(len(peak_gc)), "n_negatives": int(len(pick)), "n_requested": wanted,
        **drops, "n_candidates": int(len(cand_c)),
        "ks_statistic": None if ks is None else float(ks.statistic),
        "ks_pvalue": None if ks is None else float(ks.pvalue),
        "peak_gc_mean": float(peak_gc.mean()), "negative_gc_mean":
            float(neg_gc.mean()) if len(neg_gc) else None,
        "gc_histogram": {"bin_edges": [float(x) for x in np.linspace(0, 1,
                                                                     GC_HISTOGRAM_BINS + 1)],
                         "peaks": gc_histogram(peak_gc), "negatives": gc_histogram(neg_gc)},
        "reductions": reductions, "stride_used": int(state["stride"]),
        "peak_pad_used": int(state["pad"]), "exclusion": state["exclusion"],
        "n_chroms_tiled": len(state["use"]),
    }
    log.info("negatives: %d picked from %d candidates; GC KS statistic %.4f", len(pick),
             len(cand_c), report["ks_statistic"] or float("nan"))
    return cand_c[pick], cand_s[pick], cand_s[pick] + width, neg_gc, report, peak_gc


def _candidates(genome, state, width, max_n_fraction, blacklist, signal, max_signal, verbose):
    """Candidate bins under the current search settings: (chroms, starts, gc, drop counts)."""
    cs, ss, gs = [], [], []
    n_tiles = n_n = n_peak = n_bl = n_sig = 0
    for c in progress(state["use"], desc="tiling", unit="chrom", enabled=verbose):
        starts, gc, nfrac = _tile_gc(genome, c, width, state["stride"])
        n_tiles += len(starts)
        keep = nfrac <= max_n_fraction
        n_n += int((~keep).sum())
        hit = overlaps([c] * len(starts), starts, starts + width, state["excl"],
                       pad=state["pad"])
        n_peak += int((keep & hit).sum())
        keep &= ~hit
        if blacklist is not None:
            hit = overlaps([c] * len(starts), starts, starts + width, blacklist)
            n_bl += int((keep & hit).sum())
            keep &= ~hit
        if signal is not None and max_signal is not None:
            high = np.asarray(signal(c, starts, width)) > max_signal
            n_sig += int((keep & high).sum())
            keep &= ~high
        cs.append(np.full(int(keep.sum()), c, dtype=object))
        ss.append(starts[keep])
        gs.append(gc[keep])
    drops = {"n_bins": int(n_tiles), "dropped_n": n_n, "dropped_peaks": n_peak,
             "dropped_blacklist": n_bl, "dropped_signal": n_sig}
    return (np.concatenate(cs) if cs else np.zeros(0, dtype=object),
            np.concatenate(ss) if ss else np.zeros(0, dtype=np.int64),
            np.concatenate(gs) if gs else np.zeros(0), drops)
