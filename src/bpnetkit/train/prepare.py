"""Training data preparation: examples split by chromosome, validation batches, epoch batches.

Everything here works on :class:`~bpnetkit.data.datasets.Examples` (arrays); reading the
regions, genome and bigWigs into examples is the caller's job (``bpnetkit fit`` does it in
:mod:`bpnetkit.steps.fit`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpnetkit.errors import InputError

__all__ = ["EpochBatches", "PreparedData", "check_signal", "concat_examples", "recenter",
           "split_examples", "valid_batches"]


@dataclass
class PreparedData:
    """Examples split by chromosome.

    Attributes
    ----------
    split : dict
        ``{"train": [...], "valid": [...], "test": [...]}`` chromosome lists.
    peaks : dict
        ``"train"/"valid"/"test"`` -> Examples (jitter-padded).
    negatives : dict
        The same for the negatives, or empty.
    """

    split: dict[str, list[str]]
    peaks: dict[str, Any]
    negatives: dict[str, Any]


def check_signal(examples, signals: Sequence[str], what: str) -> None:
    """Raise an InputError when the signal of ``examples`` is non-finite or zero (overall or
    in one track); ``signals`` and ``what`` name the files and regions in the message."""
    counts = examples.y.sum(axis=(0, 2), dtype=np.float64)
    if not np.isfinite(counts).all():
        raise InputError(f"the signal bigWig(s) {list(signals)} contain NaN/inf values in the "
                         f"{what}; fix or regenerate them.")
    if counts.sum() <= 0:
        raise InputError(f"the signal in {list(signals)} is zero everywhere in the {what}: "
                         f"check that the bigWigs hold counts for these regions (chromosome "
                         f"names, strand files swapped or empty, wrong genome build).")
    for i, c in enumerate(counts):
        if c <= 0:
            raise InputError(f"signal track {i} ('{signals[i]}') is zero everywhere in the "
                             f"{what}; check that file.")


def split_examples(peaks, negatives, split: Mapping[str, Sequence[str]],
                   min_train_regions: int = 8, split_name: str | None = None) -> PreparedData:
    """Split peak (and negative) examples by chromosome, with clear errors for splits
    without enough regions.

    Parameters
    ----------
    peaks, negatives : Examples
        All peaks; all negatives or None.
    split : mapping
        Chromosome lists ``train``, ``valid``, ``test``.
    min_train_regions : int
        Fewest training peaks accepted.
    split_name : str or None
        The split's name or path, for messages.
    """
    split = {k: list(v) for k, v in split.items()}
    out_p, out_n = {}, {}
    for part in ("train", "valid", "test"):
        out_p[part] = peaks.select_chroms(split[part])
        if negatives is not None:
            out_n[part] = negatives.select_chroms(split[part])
    n_tr, n_va = len(out_p["train"]), len(out_p["valid"])
    if n_tr < min_train_regions:
        raise InputError(f"too few training regions: {n_tr} peaks on the training chromosomes "
                         f"of split '{split_name}' (need at least {min_train_regions}). Use a "
                         f"split whose training chromosomes hold most peaks, or more peaks.")
    if n_va == 0:
        raise InputError(f"the validation split has no peaks: none of the {len(peaks)} peaks lie "
                         f"on the validation chromosomes {split['valid']} of split "
                         f"'{split_name}'. Give a split JSON whose 'valid' chromosomes carry "
                         f"peaks.")
    if n_va < 2:
        raise InputError(f"too few validation regions: {n_va} peak on {split['valid']}; need at "
                         f"least 2 for a validation loss and correlation.")
    return PreparedData(split, out_p, out_n)


class EpochBatches:
    """A :class:`~bpnetkit.data.datasets.TrainingDataset` and its
    :class:`~bpnetkit.data.datasets.EpochSampler` as a re-iterable with ``set_epoch`` (what
    :meth:`bpnetkit.train.trainer.Trainer.fit` takes for exactly reproducible resumes)."""

    def __init__(self, dataset, sampler, num_workers: int = 0) -> None:
        self.dataset, self.sampler, self.num_workers = dataset, sampler, num_workers

    def set_epoch(self, epoch: int) -> None:
        """Select the batches of ``epoch``."""
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator:
        if self.num_workers > 0:
            return iter(self.dataset.loader(self.sampler, num_workers=self.num_workers))
        return self.dataset.batches(self.sampler)


def recenter(ex):
    """Examples without jitter padding (so that peaks and negatives can be concatenated)."""
    from bpnetkit.data.datasets import Examples

    X, y, ctl = ex.center()
    return Examples(np.ascontiguousarray(X), np.ascontiguousarray(y),
                    None if ctl is None else np.ascontiguousarray(ctl), ex.chrom, ex.start,
                    ex.end, ex.index, ex.in_window, ex.out_window, 0)


def valid_batches(peaks, negatives, batch_size: int, negative_ratio: float, seed: int
                  ) -> list[tuple]:
    """Fixed validation batches: all validation peaks plus a fixed sample of
    ``negative_ratio * len(peaks)`` negatives (drawn with ``seed``)."""
    from bpnetkit.data.datasets import Examples, iter_examples

    parts = [recenter(peaks)]
    if negatives is not None and len(negatives) and negative_ratio > 0:
        k = min(len(negatives), max(1, int(round(negative_ratio * len(peaks)))))
        idx = np.sort(np.random.default_rng(seed).choice(len(negatives), k, replace=False))
        parts.append(recenter(negatives.subset(idx)))
    ex = Examples.concat(parts) if len(parts) > 1 else parts[0]
    return list(iter_examples(ex, batch_size))


def concat_examples(parts: Sequence[Any]):
    """Concatenate the non-empty examples of ``parts`` (one part is returned as is)."""
    from bpnetkit.data.datasets import Examples

    parts = [x for x in parts if len(x)]
    if not parts:
        raise InputError("no examples to concatenate.")
    return Examples.concat(parts) if len(parts) > 1 else parts[0]
