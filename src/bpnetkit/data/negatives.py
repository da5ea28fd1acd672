"""GC-matched background regions (``bpnetkit negatives``).

The genome is tiled into bins of the model's input width. Bins with too many ``N``, bins
overlapping (padded) peak windows or an exclusion list, and optionally bins whose signal is
above a threshold are dropped. Candidates are then drawn so that their GC distribution matches
that of the peak windows, histogram bin by histogram bin: each GC bin gets ``ratio`` times the
number of peaks in it, and a bin without enough candidates borrows from its nearest
neighbours. The match is reported with the two-sample Kolmogorov-Smirnov statistic.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError

log = logging.getLogger("bpnetkit.data")


@dataclass
class NegativesParams:
    """Parameters of ``bpnetkit negatives``.

    Attributes
    ----------
    genome : str
        FASTA path.
    peaks : str
        Peaks (BED/narrowPeak); their windows of ``width`` around summits define the target
        GC distribution and are excluded.
    output_dir : str
        Output folder.
    name : str
        Output name: ``<name>.bed``, ``<name>.gc_report.json``, ``<name>.gc.png``.
    width : int
        Bin width, normally the model's input length.
    stride : int or None
        Step between bins (default ``width``: non-overlapping).
    ratio : float
        Negatives per peak.
    max_n_fraction : float
        Bins with a larger fraction of non-ACGT bases are dropped.
    peak_pad : int
        Extra bp around each peak window that negatives must avoid.
    gc_bins : int
        Number of GC histogram bins used for matching (100 = steps of 0.01).
    blacklist : str or None
        Exclusion list BED.
    signals : list of str
        Optional bigWigs; with ``max_signal`` bins whose total signal exceeds it are dropped.
    max_signal : float or None
        Signal threshold (sum over the bin and all ``signals``).
    chroms : list of str or None
        Chromosomes to draw from; default: those with at least one peak.
    random_state : int
        Seed.
    """

    genome: str = ""
    peaks: str = ""
    output_dir: str = "."
    name: str = "negatives"
    width: int = 2114
    stride: int | None = None
    ratio: float = 2.0
    max_n_fraction: float = 0.01
    peak_pad: int = 0
    gc_bins: int = 100
    blacklist: str | None = None
    signals: list[str] = field(default_factory=list)
    max_signal: float | None = None
    chroms: list[str] | None = None
    random_state: int = 0


def gc_fraction(genome, chroms, starts, ends, chunk: int = 4096
                ) -> tuple[np.ndarray, np.ndarray]:
    """GC fraction (among A/C/G/T) and non-ACGT fraction of equal-length intervals."""
    from bpnetkit.io.fasta import Genome

    if not isinstance(genome, Genome):
        genome = Genome(genome)
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


def _bin_signal(paths, chrom, starts, width) -> np.ndarray:
    """Total signal per bin (sum over files)."""
    from bpnetkit.data.signals import open_bigwig

    total = np.zeros(len(starts))
    if not len(starts):
        return total
    regular = len(starts) > 1 and (np.diff(starts) == width).all()
    for p in paths:
        bw = open_bigwig(p)
        try:
            if chrom not in bw.chroms():
                continue
            if regular:
                lo = int(starts[0])
                v = bw.stats(chrom, lo, lo + width * len(starts), type="sum",
                             nBins=len(starts), exact=True)
                total += np.nan_to_num(np.array(v, dtype=float))
            else:
                for i, s in enumerate(starts):
                    v = bw.stats(chrom, int(s), int(s) + width, type="sum", exact=True)[0]
                    total[i] += 0.0 if v is None or np.isnan(v) else v
        finally:
            bw.close()
    return total


def match_gc(target_gc: np.ndarray, cand_gc: np.ndarray, n_per_target: float = 1.0,
             n_bins: int = 100, random_state=0) -> np.ndarray:
    """Indices of candidates whose GC histogram matches ``target_gc`` scaled by
    ``n_per_target``; a GC bin short of candidates borrows from its nearest bins.

    Candidates are drawn without replacement; fewer are returned when the pool runs out.
    """
    from bpnetkit.utils import as_generator

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


def gc_matched_negatives(genome, peaks, width: int = 2114, ratio: float = 2.0,
                         stride: int | None = None, max_n_fraction: float = 0.01,
                         peak_pad: int = 0, gc_bins: int = 100, blacklist=None,
                         signals: list | None = None, max_signal: float | None = None,
                         chroms: list | None = None, random_state=0):
    """Pick GC-matched background bins.

    Returns
    -------
    tuple
        ``(chroms, starts, ends, gc, report, peak_gc)``: the negatives, their GC fractions,
        a report with counts and the KS statistic between the peak and negative GC
        distributions, and the peaks' GC fractions.
    """
    from scipy.stats import ks_2samp

    from bpnetkit.data.regions import as_regions, centered_windows, overlaps
    from bpnetkit.io.fasta import Genome, check_chroms

    if not isinstance(genome, Genome):
        genome = Genome(genome)
    width = int(width)
    stride = int(stride or width)
    if width <= 0 or stride <= 0:
        raise InputError(f"width and stride must be positive, got {width} and {stride}.")
    peaks = as_regions(peaks)
    check_chroms(peaks.chrom, genome.chroms, f"peaks '{Path(peaks.source).name}'",
                 f"genome '{genome.path.name}'")
    pc, ps, pe = centered_windows(peaks, width, genome.chrom_sizes)
    if not len(pc):
        raise InputError(f"no peak window of {width} bp fits on its chromosome.")
    peak_gc, _ = gc_fraction(genome, pc, ps, pe)
    peak_gc = peak_gc[np.isfinite(peak_gc)]
    excl = peaks.__class__.from_arrays(pc, ps, pe)
    bl = as_regions(blacklist) if blacklist is not None else None
    use = list(dict.fromkeys(chroms if chroms is not None else [str(c) for c in pc]))
    if chroms is not None:
        check_chroms(use, genome.chroms, "'chroms'", f"genome '{genome.path.name}'")
    from tqdm.auto import tqdm

    cs, ss, gs = [], [], []
    n_tiles = n_n = n_peak = n_bl = n_sig = 0
    for c in tqdm(use, desc="tiling", unit=" chrom", disable=None, leave=False):
        starts, gc, nfrac = _tile_gc(genome, c, width, stride)
        n_tiles += len(starts)
        keep = nfrac <= max_n_fraction
        n_n += int((~keep).sum())
        hit = overlaps([c] * len(starts), starts, starts + width, excl, pad=peak_pad)
        n_peak += int((keep & hit).sum())
        keep &= ~hit
        if bl is not None:
            hit = overlaps([c] * len(starts), starts, starts + width, bl)
            n_bl += int((keep & hit).sum())
            keep &= ~hit
        if signals and max_signal is not None:
            high = _bin_signal(signals, c, starts, width) > max_signal
            n_sig += int((keep & high).sum())
            keep &= ~high
        cs.append(np.full(int(keep.sum()), c, dtype=object))
        ss.append(starts[keep])
        gs.append(gc[keep])
    cand_c = np.concatenate(cs) if cs else np.zeros(0, dtype=object)
    cand_s = np.concatenate(ss) if ss else np.zeros(0, dtype=np.int64)
    cand_gc = np.concatenate(gs) if gs else np.zeros(0)
    if not len(cand_c):
        raise InputError("no candidate background bins are left after removing bins with N, "
                         "peaks, excluded regions and high signal; lower 'width' or relax the "
                         "filters.")
    pick = match_gc(peak_gc, cand_gc, ratio, gc_bins, random_state)
    wanted = int(round(ratio * len(peak_gc)))
    if len(pick) < wanted:
        log.warning("only %d background bins available for %d requested negatives.",
                    len(pick), wanted)
    neg_gc = cand_gc[pick]
    ks = ks_2samp(peak_gc, neg_gc) if len(neg_gc) else None
    report = {
        "n_peaks": int(len(peak_gc)), "n_negatives": int(len(pick)), "n_requested": wanted,
        "n_bins": int(n_tiles), "dropped_n": n_n, "dropped_peaks": n_peak,
        "dropped_blacklist": n_bl, "dropped_signal": n_sig, "n_candidates": int(len(cand_c)),
        "ks_statistic": None if ks is None else float(ks.statistic),
        "ks_pvalue": None if ks is None else float(ks.pvalue),
        "peak_gc_mean": float(peak_gc.mean()), "negative_gc_mean":
            float(neg_gc.mean()) if len(neg_gc) else None,
    }
    log.info("negatives: %d picked from %d candidates; GC KS statistic %.4f", len(pick),
             len(cand_c), report["ks_statistic"] or float("nan"))
    return cand_c[pick], cand_s[pick], cand_s[pick] + width, neg_gc, report, peak_gc


def run_negatives(params: NegativesParams) -> dict[str, str]:
    """Run the ``negatives`` step.

    Returns
    -------
    dict
        ``negatives`` (BED), ``report`` (JSON with the KS statistic), ``plot`` (PNG),
        ``params``.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.data.regions import write_bed
    from bpnetkit.utils import write_text_atomic

    if not params.genome or not params.peaks:
        raise InputError("negatives: 'genome' and 'peaks' are required.")
    out_dir = Path(params.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    c, s, e, gc, report, peak_gc = gc_matched_negatives(
        params.genome, params.peaks, params.width, params.ratio, params.stride,
        params.max_n_fraction, params.peak_pad, params.gc_bins, params.blacklist,
        params.signals, params.max_signal, params.chroms, params.random_state)
    bed = write_bed(out_dir / f"{params.name}.bed", c, s, e,
                    names=[f"neg_{i}" for i in range(len(c))], scores=np.round(gc, 4))
    rep = write_text_atomic(out_dir / f"{params.name}.gc_report.json",
                            json.dumps(report, indent=2) + "\n")
    png = out_dir / f"{params.name}.gc.png"
    _plot_gc(peak_gc, gc, png, report.get("ks_statistic"))
    pj = dump_config(params, out_dir / f"{params.name}.negatives.params.json")
    return {"negatives": str(bed), "report": str(rep), "plot": str(png), "params": str(pj)}


def _plot_gc(peak_gc: np.ndarray, neg_gc: np.ndarray, path: str | os.PathLike,
             ks: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bpnetkit.utils import atomic_path

    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(0, 1, 51)
    ax.hist(peak_gc, bins=bins, density=True, alpha=0.6, label=f"peaks (n={len(peak_gc)})")
    ax.hist(neg_gc, bins=bins, density=True, alpha=0.6, label=f"negatives (n={len(neg_gc)})")
    ax.set_xlabel("GC fraction")
    ax.set_ylabel("density")
    ax.set_title(f"GC match (KS = {ks:.3f})" if ks is not None else "GC match")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
