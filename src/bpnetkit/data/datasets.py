"""Training examples (sequence + signal windows) and the epoch sampler / batch dataset.

Batch contract (what the trainer iterates)
------------------------------------------
Each batch is a tuple ``(X, y, X_ctl)`` of CPU torch tensors:

- ``X``: float32 ``(B, 4, in_window)`` one-hot sequence (channels A, C, G, T; N = zeros),
- ``y``: float32 ``(B, S, out_window)`` observed per-base counts; ``S`` signal tracks, for
  stranded data ``[plus, minus]``; the output window is centred in the input window
  (offset ``(in_window - out_window) // 2``, matching :func:`bpnetkit.models.bpnet.center_crop`),
- ``X_ctl``: float32 ``(B, C, in_window)`` control tracks aligned with ``X``, or ``None``.

How to use it::

    peaks = extract_examples(genome, "peaks.narrowPeak", ["plus.bw", "minus.bw"],
                             controls=["ctl_plus.bw", "ctl_minus.bw"], max_jitter=128)
    negs = extract_examples(genome, "negatives.bed", [...], max_jitter=0)
    data = TrainingDataset(peaks, negs)
    sampler = EpochSampler(len(peaks), len(negs), batch_size=64, negative_ratio=0.333,
                           max_jitter=128, negative_jitter=0, random_state=0)
    for epoch in range(n_epochs):
        sampler.set_epoch(epoch)
        for X, y, X_ctl in data.batches(sampler):   # or data.loader(sampler, num_workers=4)
            ...

Randomness: every random choice of an epoch (which negatives, the order, each example's jitter
shift and reverse-complement flag) is drawn by the sampler from a generator seeded by
``(random_state, epoch)``; workers only gather the planned windows. The result is therefore the
same for a seed whatever the number of DataLoader workers, no random state is shared between
workers, and with ``rank``/``world_size`` (torch.distributed) every rank draws the same plan and
takes its own disjoint share of it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from bpnetkit.errors import InputError

log = logging.getLogger(__name__)

#: default maximum jitter per recipe
DEFAULT_JITTER = {"bpnet": 128, "chrombpnet": 500, "procapnet": 200}


@dataclass
class Examples:
    """Sequences and signals of many loci, padded by ``max_jitter`` on both sides.

    Attributes
    ----------
    X : numpy.ndarray
        int8 ``(N, 4, in_window + 2 * max_jitter)`` one-hot.
    y : numpy.ndarray
        float32 ``(N, S, out_window + 2 * max_jitter)`` signal.
    X_ctl : numpy.ndarray or None
        float32 ``(N, C, in_window + 2 * max_jitter)`` controls.
    chrom, start, end : numpy.ndarray
        The unjittered input windows (``end - start == in_window``).
    index : numpy.ndarray
        Row of each example in the source regions (windows off a chromosome are dropped).
    in_window, out_window, max_jitter : int
        Geometry.
    """

    X: np.ndarray
    y: np.ndarray
    X_ctl: np.ndarray | None
    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    index: np.ndarray
    in_window: int
    out_window: int
    max_jitter: int

    def __len__(self) -> int:
        return len(self.X)

    @property
    def n_tracks(self) -> int:
        """Number of signal tracks ``S``."""
        return self.y.shape[1]

    @property
    def n_control_tracks(self) -> int:
        """Number of control tracks ``C`` (0 without controls)."""
        return 0 if self.X_ctl is None else self.X_ctl.shape[1]

    def subset(self, idx: np.ndarray) -> Examples:
        """Examples selected by a boolean mask or integer index."""
        return Examples(self.X[idx], self.y[idx], None if self.X_ctl is None else self.X_ctl[idx],
                        self.chrom[idx], self.start[idx], self.end[idx], self.index[idx],
                        self.in_window, self.out_window, self.max_jitter)

    def select_chroms(self, chroms: Sequence[str]) -> Examples:
        """Examples on the given chromosomes (e.g. ``get_split(...)["train"]``)."""
        names = set(chroms)
        return self.subset(np.fromiter((c in names for c in self.chrom), dtype=bool,
                                       count=len(self)))

    def center(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Unjittered windows: ``(X int8 (N, 4, in), y float32 (N, S, out), X_ctl or None)``."""
        j = self.max_jitter
        X = self.X[:, :, j:j + self.in_window]
        y = self.y[:, :, j:j + self.out_window]
        ctl = None if self.X_ctl is None else self.X_ctl[:, :, j:j + self.in_window]
        return X, y, ctl

    def counts(self) -> np.ndarray:
        """Total counts (all tracks) in the unjittered output window, float64 ``(N,)``."""
        j = self.max_jitter
        return self.y[:, :, j:j + self.out_window].sum(axis=(1, 2), dtype=np.float64)

    @staticmethod
    def concat(parts: Sequence[Examples]) -> Examples:
        """Concatenate examples of identical geometry."""
        a = parts[0]
        for p in parts[1:]:
            if (p.in_window, p.out_window, p.max_jitter, p.n_tracks, p.n_control_tracks) != \
                    (a.in_window, a.out_window, a.max_jitter, a.n_tracks, a.n_control_tracks):
                raise InputError("cannot concatenate examples of different geometry or track "
                                 "counts; extract them with the same windows and jitter.")
        return Examples(
            np.concatenate([p.X for p in parts]), np.concatenate([p.y for p in parts]),
            None if a.X_ctl is None else np.concatenate([p.X_ctl for p in parts]),
            np.concatenate([p.chrom for p in parts]), np.concatenate([p.start for p in parts]),
            np.concatenate([p.end for p in parts]), np.concatenate([p.index for p in parts]),
            a.in_window, a.out_window, a.max_jitter)


def extract_examples(genome, loci, signals: Sequence[str | os.PathLike] | str,
                     controls: Sequence[str | os.PathLike] | None = None,
                     in_window: int = 2114, out_window: int = 1000, max_jitter: int = 0,
                     blacklist=None, threads: int | None = None,
                     cache_dir: str | os.PathLike | None = None) -> Examples:
    """Extract sequences, signals and controls for many loci into compact arrays.

    Parameters
    ----------
    genome : Genome or path
        The reference FASTA.
    loci : Regions, path or tuple
        Peaks/negatives (BED or narrowPeak path, :class:`~bpnetkit.data.regions.Regions`, or
        ``(chroms, starts, ends)``); windows are centred on summits, else midpoints.
    signals : path or sequence of paths
        bigWigs of the targets (stranded: ``[plus, minus]``).
    controls : sequence of paths or None
        Control bigWigs (may be empty / None).
    in_window, out_window : int
        Model input and output lengths.
    max_jitter : int
        Extra bp kept on each side so that windows can be shifted by up to this much.
    blacklist : Regions, path or None
        Regions whose padded input window overlaps it are removed.
    threads : int or None
        Threads reading sequence and signal tracks concurrently (the heavy work releases the
        GIL); None = up to 4, bounded by the CPU count.
    cache_dir : path or None
        A folder of earlier extractions (:mod:`bpnetkit.data.example_cache`): when it holds
        one of these files, windows and geometry, its arrays are returned memory-mapped
        instead of reading the files again; otherwise the new arrays are stored there. None:
        no cache.

    Returns
    -------
    Examples
        Windows that run off a chromosome are dropped (the count is logged); ``index`` maps
        the kept examples back to the input rows.
    """
    from bpnetkit.data.regions import as_regions, centered_windows, overlaps
    from bpnetkit.data.signals import extract_signals
    from bpnetkit.io.fasta import Genome, check_chroms, extract_sequences

    in_window, out_window, max_jitter = int(in_window), int(out_window), int(max_jitter)
    if threads is None:
        threads = min(4, os.cpu_count() or 1)
    if out_window <= 0 or in_window <= 0 or out_window > in_window:
        raise InputError(f"need 0 < out_window <= in_window, got in_window={in_window}, "
                         f"out_window={out_window}.")
    if max_jitter < 0:
        raise InputError(f"max_jitter must be >= 0, got {max_jitter}.")
    if not isinstance(genome, Genome):
        genome = Genome(genome)
    regions = as_regions(loci)
    width = in_window + 2 * max_jitter
    keep_rows = np.arange(len(regions))
    if blacklist is not None:
        bl = as_regions(blacklist)
        s = regions.summit - width // 2
        hit = overlaps(regions.chrom, s, s + width, bl)
        if hit.any():
            log.info("%s: removed %d of %d regions overlapping the exclusion list.",
                     regions.source, int(hit.sum()), len(regions))
            keep_rows = keep_rows[~hit]
            regions = regions.subset(~hit)
    check_chroms(regions.chrom, genome.chroms, f"'{regions.source}'",
                 f"genome '{genome.path.name}'")
    chroms, starts, ends, idx = centered_windows(regions, width, genome.chrom_sizes,
                                                 return_index=True)
    if len(chroms) == 0:
        raise InputError(f"no usable regions in '{regions.source}': all {len(regions)} windows "
                         f"of {width} bp run off their chromosome or were excluded.")
    off = (in_window - out_window) // 2
    signals = [signals] if isinstance(signals, str | os.PathLike) else list(signals)
    if not signals:
        raise InputError("at least one signal bigWig is needed to build training examples.")

    rows = keep_rows[idx]
    key = None
    if cache_dir is not None:
        from bpnetkit.data import example_cache

        key = example_cache.cache_key(genome.path, signals, controls, in_window, out_window,
                                      max_jitter, chroms, starts, ends, rows)
        n, sig_len = len(chroms), out_window + 2 * max_jitter
        hit = example_cache.load(cache_dir, key, {
            "X": (n, 4, width), "y": (n, len(signals), sig_len),
            "X_ctl": (n, len(controls), width) if controls else None})
        if hit is not None:
            return Examples(hit["X"], hit["y"], hit["X_ctl"], chroms, starts + max_jitter,
                            ends - max_jitter, rows, in_window, out_window, max_jitter)

    def seq():
        return extract_sequences(genome, chroms, starts, ends)

    def sig():
        return extract_signals(signals, chroms, starts + off,
                               starts + off + out_window + 2 * max_jitter, threads=threads)

    def ctls():
        return extract_signals(list(controls), chroms, starts, ends, threads=threads) \
            if controls else None

    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, 3)) as pool:
            jobs = [pool.submit(f) for f in (seq, sig, ctls)]
            X, y, ctl = (j.result() for j in jobs)
    else:
        X, y, ctl = seq(), sig(), ctls()
    if key is not None:
        example_cache.store(cache_dir, key, {"X": X, "y": y, "X_ctl": ctl})
    return Examples(X, y, ctl, chroms, starts + max_jitter, ends - max_jitter, rows,
                    in_window, out_window, max_jitter)


def outlier_mask(counts: np.ndarray, lower: float | None = 0.0001,
                 upper: float | None = 0.9999) -> np.ndarray:
    """Boolean mask of examples whose counts lie within the ``lower``/``upper`` quantiles.

    ChromBPNet removes peaks above the 0.9999 and below the 0.0001 quantile of total counts.
    """
    counts = np.asarray(counts, dtype=np.float64)
    keep = np.ones(len(counts), dtype=bool)
    if len(counts) == 0:
        return keep
    if upper is not None:
        keep &= counts <= np.quantile(counts, upper)
    if lower is not None:
        keep &= counts >= np.quantile(counts, lower)
    return keep


def filter_outliers(examples: Examples, lower: float | None = 0.0001,
                    upper: float | None = 0.9999) -> Examples:
    """Drop examples whose total counts are outliers (see :func:`outlier_mask`); logs the count."""
    keep = outlier_mask(examples.counts(), lower, upper)
    if (~keep).any():
        log.info("removed %d of %d examples as count outliers (quantiles %s, %s).",
                 int((~keep).sum()), len(keep), lower, upper)
    return examples.subset(keep)


class BatchPlan(NamedTuple):
    """The planned content of one batch: for each row, which example and how to augment."""

    negative: np.ndarray  # bool: taken from the negatives
    index: np.ndarray  # int64: row in the peaks or negatives
    shift: np.ndarray  # int64: jitter shift in bp (window start moves by shift)
    rc: np.ndarray  # bool: reverse complement


class EpochSampler:
    """Plans every epoch: the examples, their order, jitter shifts and RC flags.

    Parameters
    ----------
    n_peaks : int
        Number of peak (positive) examples.
    n_negatives : int
        Size of the negative pool (0 for none).
    batch_size : int
        Examples per batch (per rank).
    negative_ratio : float
        Negatives drawn afresh each epoch, as a multiple of ``n_peaks`` (e.g. 0.333 bpnet-lite,
        0.1 ChromBPNet); drawn without replacement while the pool suffices.
    max_jitter : int
        Peak windows shift uniformly in ``[-max_jitter, max_jitter]``.
    negative_jitter : int or None
        Jitter of negatives; None = ``max_jitter``; ChromBPNet uses 0 (never jittered).
    rc : {"random", "half", "none"}
        Reverse-complement augmentation: each example with probability ``rc_prob``, exactly
        half of each epoch's examples (ChromBPNet), or never.
    rc_prob : float
        Probability for ``rc="random"``.
    shuffle : bool
        Shuffle the order each epoch (otherwise peaks then negatives, in order).
    drop_last : bool
        Drop the last incomplete batch.
    random_state : int
        Seed; the same seed and epoch give the same plan.
    rank, world_size : int
        For distributed training: the plan is the same on every rank and rank ``r`` takes
        positions ``r, r + world_size, ...``.
    pad : bool
        With ``world_size > 1``: True pads the plan by wrapping so that every rank gets the
        same number of examples (a few examples appear twice per epoch). False keeps the plan
        exact: global batch ``k`` is positions ``[k * B, (k + 1) * B)`` of the plan with
        ``B = batch_size * world_size``, rank ``r`` takes its positions ``r, r + world_size,
        ...``, so the ranks' batches together are exactly one process's batch of size ``B``;
        every rank yields the same number of batches, and in the last (incomplete) global
        batch a rank may get one example fewer than another, or none (the trainer weights
        the ranks' losses by their shares, see :class:`bpnetkit.train.trainer.Trainer`).
    """

    def __init__(self, n_peaks: int, n_negatives: int = 0, batch_size: int = 64,
                 negative_ratio: float = 0.0, max_jitter: int = 0,
                 negative_jitter: int | None = None,
                 rc: Literal["random", "half", "none"] = "random", rc_prob: float = 0.5,
                 shuffle: bool = True, drop_last: bool = False, random_state: int = 0,
                 rank: int = 0, world_size: int = 1, pad: bool = True):
        if batch_size <= 0:
            raise InputError(f"batch_size must be positive, got {batch_size}.")
        if rc not in ("random", "half", "none"):
            raise InputError(f"rc must be 'random', 'half' or 'none', got {rc!r}.")
        if negative_ratio < 0:
            raise InputError(f"negative_ratio must be >= 0, got {negative_ratio}.")
        if negative_ratio > 0 and n_negatives == 0:
            raise InputError("negative_ratio > 0 but there are no negatives; give negatives "
                             "or set negative_ratio to 0.")
        if not 0 <= rank < world_size:
            raise InputError(f"rank {rank} out of range for world_size {world_size}.")
        self.n_peaks = int(n_peaks)
        self.n_negatives = int(n_negatives)
        self.batch_size = int(batch_size)
        self.negative_ratio = float(negative_ratio)
        self.max_jitter = int(max_jitter)
        self.negative_jitter = self.max_jitter if negative_jitter is None else int(negative_jitter)
        self.rc = rc
        self.rc_prob = float(rc_prob)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.random_state = int(random_state)
        self.rank, self.world_size = int(rank), int(world_size)
        self.pad = bool(pad)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan :meth:`__iter__` yields."""
        self.epoch = int(epoch)

    @property
    def n_negatives_per_epoch(self) -> int:
        """Negatives drawn each epoch."""
        return int(round(self.negative_ratio * self.n_peaks)) if self.n_negatives else 0

    def _per_rank(self) -> int:
        n = self.n_peaks + self.n_negatives_per_epoch
        return -(-n // self.world_size)

    def __len__(self) -> int:
        if self.world_size > 1 and not self.pad:  # global batches: the same count on all ranks
            n, b = self.n_peaks + self.n_negatives_per_epoch, self.batch_size * self.world_size
            return n // b if self.drop_last else -(-n // b)
        n = self._per_rank()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def plan(self) -> BatchPlan:
        """The whole epoch's plan for this rank (before splitting into batches)."""
        rng = np.random.default_rng([self.random_state, self.epoch])
        n_neg = self.n_negatives_per_epoch
        if n_neg:
            replace = n_neg > self.n_negatives
            neg_idx = rng.choice(self.n_negatives, size=n_neg, replace=replace)
        else:
            neg_idx = np.zeros(0, dtype=np.int64)
        negative = np.r_[np.zeros(self.n_peaks, bool), np.ones(n_neg, bool)]
        index = np.r_[np.arange(self.n_peaks), neg_idx].astype(np.int64)
        n = len(index)
        jit = np.where(negative, self.negative_jitter, self.max_jitter)
        shift = rng.integers(-jit, jit + 1) if n else np.zeros(0, dtype=np.int64)
        if self.rc == "random":
            rc = rng.random(n) < self.rc_prob
        elif self.rc == "half":
            rc = np.zeros(n, dtype=bool)
            rc[rng.permutation(n)[: n // 2]] = True
        else:
            rc = np.zeros(n, dtype=bool)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.world_size > 1 and not self.pad:
            order = order[self.rank::self.world_size]
        elif self.world_size > 1:
            total = self._per_rank() * self.world_size
            order = np.resize(order, total)[self.rank::self.world_size]
        return BatchPlan(negative[order], index[order], shift[order].astype(np.int64), rc[order])

    def __iter__(self) -> Iterator[BatchPlan]:
        p = self.plan()
        n = len(p.index)
        if self.world_size > 1 and not self.pad:
            # batch k of every rank is its share of global batch k (possibly empty at the end)
            for k in range(len(self)):
                a = k * self.batch_size
                yield BatchPlan(*(f[a:a + self.batch_size] for f in p))
            return
        stop = n - n % self.batch_size if self.drop_last else n
        for a in range(0, stop, self.batch_size):
            b = min(a + self.batch_size, n)
            yield BatchPlan(*(f[a:b] for f in p))


def _rc_permutation(n_tracks: int, stranded: bool) -> np.ndarray:
    if stranded and n_tracks % 2 == 0:
        return np.arange(n_tracks).reshape(-1, 2)[:, ::-1].ravel()
    return np.arange(n_tracks)


class TrainingDataset:
    """Gathers planned batches from peaks and negatives; items are whole batches.

    Parameters
    ----------
    peaks : Examples
        Positive examples (extracted with ``max_jitter`` >= the sampler's).
    negatives : Examples or None
        Background examples (may have a smaller padding, e.g. 0 for ChromBPNet).
    stranded : bool or None
        Whether signal tracks are ``[plus, minus]`` pairs whose order swaps on reverse
        complement; None = True when there are exactly two tracks.
    control_stranded : bool or None
        The same for control tracks; None = True when there are exactly two.

    Notes
    -----
    Use :meth:`batches` for a simple loop or :meth:`loader` for a torch DataLoader with
    workers; both take an :class:`EpochSampler` (or any iterable of :class:`BatchPlan`).
    """

    def __init__(self, peaks: Examples, negatives: Examples | None = None,
                 stranded: bool | None = None, control_stranded: bool | None = None):
        self.peaks = peaks
        self.negatives = negatives
        if negatives is not None:
            if (negatives.in_window, negatives.out_window, negatives.n_tracks,
                    negatives.n_control_tracks) != (peaks.in_window, peaks.out_window,
                                                    peaks.n_tracks, peaks.n_control_tracks):
                raise InputError("peaks and negatives must share in_window, out_window and the "
                                 "numbers of signal and control tracks.")
        S, C = peaks.n_tracks, peaks.n_control_tracks
        self.stranded = (S == 2) if stranded is None else bool(stranded)
        self.control_stranded = (C == 2) if control_stranded is None else bool(control_stranded)
        self._perm_y = _rc_permutation(S, self.stranded)
        self._perm_c = _rc_permutation(C, self.control_stranded)

    @property
    def in_window(self) -> int:
        """Model input length."""
        return self.peaks.in_window

    @property
    def out_window(self) -> int:
        """Model output length."""
        return self.peaks.out_window

    def gather(self, plan: BatchPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Numpy batch for a plan: ``(X float32, y float32, X_ctl float32 or None)``."""
        B = len(plan.index)
        L_in, L_out = self.in_window, self.out_window
        X = np.empty((B, 4, L_in), dtype=np.float32)
        y = np.empty((B, self.peaks.n_tracks, L_out), dtype=np.float32)
        has_ctl = self.peaks.X_ctl is not None
        ctl = np.empty((B, self.peaks.n_control_tracks, L_in), dtype=np.float32) \
            if has_ctl else None
        for b in range(B):
            src = self.negatives if plan.negative[b] else self.peaks
            if src is None:
                raise InputError("the plan asks for negatives but the dataset has none.")
            s = int(plan.shift[b])
            if abs(s) > src.max_jitter:
                raise InputError(f"jitter shift {s} exceeds the {src.max_jitter} bp padding the "
                                 f"examples were extracted with; extract with max_jitter >= the "
                                 f"sampler's jitter.")
            i = int(plan.index[b])
            j = src.max_jitter + s
            if plan.rc[b]:
                X[b] = src.X[i, ::-1, j:j + L_in][:, ::-1]
                y[b] = src.y[i][self._perm_y, j:j + L_out][:, ::-1]
                if has_ctl:
                    ctl[b] = src.X_ctl[i][self._perm_c, j:j + L_in][:, ::-1]
            else:
                X[b] = src.X[i, :, j:j + L_in]
                y[b] = src.y[i, :, j:j + L_out]
                if has_ctl:
                    ctl[b] = src.X_ctl[i, :, j:j + L_in]
        return X, y, ctl

    def __getitem__(self, plan: BatchPlan):
        import torch

        X, y, ctl = self.gather(plan)
        return (torch.from_numpy(X), torch.from_numpy(y),
                None if ctl is None else torch.from_numpy(ctl))

    def batches(self, sampler) -> Iterator[tuple]:
        """Iterate ``(X, y, X_ctl)`` torch batches for the sampler's current epoch."""
        for plan in sampler:
            yield self[plan]

    def loader(self, sampler, num_workers: int = 0, pin_memory: bool | None = None):
        """A torch DataLoader over the sampler's plans (whole batches per item).

        Parameters
        ----------
        sampler : EpochSampler or iterable of BatchPlan
            The plans of the epoch.
        num_workers : int
            Worker processes gathering batches (0: in the calling process).
        pin_memory : bool or None
            Return batches in pinned (page-locked) memory, so that copies to a GPU with
            ``non_blocking=True`` are asynchronous; None: when CUDA is available.
        """
        import torch
        from torch.utils.data import DataLoader

        if pin_memory is None:
            pin_memory = torch.cuda.is_available()
        return DataLoader(self, sampler=sampler, batch_size=None, num_workers=num_workers,
                          pin_memory=bool(pin_memory), collate_fn=_identity)


def _identity(x):
    return x


def iter_examples(examples: Examples, batch_size: int = 64) -> Iterator[tuple]:
    """Unjittered, in-order ``(X, y, X_ctl)`` torch batches (validation / evaluation)."""
    import torch

    X, y, ctl = examples.center()
    for a in range(0, len(examples), batch_size):
        b = a + batch_size
        yield (torch.from_numpy(np.ascontiguousarray(X[a:b], dtype=np.float32)),
               torch.from_numpy(np.ascontiguousarray(y[a:b])),
               None if ctl is None else torch.from_numpy(np.ascontiguousarray(ctl[a:b])))
