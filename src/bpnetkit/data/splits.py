"""Chromosome splits into training, validation and test sets.

Built-in splits use human (hg38) chromosome names, but nothing assumes hg38: chromosomes that
the genome at hand does not have are simply absent from the result. Other genomes use a JSON
file ``{"train": [...], "valid": [...], "test": [...]}``, or a split derived from the genome
itself (:func:`derive_split`; :func:`split_for_genome` does so when a built-in split does not
fit the genome).

- ``fold_0`` .. ``fold_4``: the five ChromBPNet folds (``fold_0``: test chr1, chr3, chr6;
  valid chr8, chr20; train the remaining autosomes and chrX, chrY).
- ``bpnet_lite``: the default of bpnet-lite's ``bpnet`` command (train chr2, chr4, chr5, chr7,
  chr9-chr19, chr21, chr22, chrX, chrY; valid chr8, chr20); the chromosomes it leaves out
  (chr1, chr3, chr6) are the test set, so it equals ``fold_0``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from bpnetkit.errors import InputError

log = logging.getLogger(__name__)

_HUMAN = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY"]

# ChromBPNet folds: (test, valid); train = everything else in chr1-22, X, Y
_CHROMBPNET_FOLDS = {
    "fold_0": (["chr1", "chr3", "chr6"], ["chr8", "chr20"]),
    "fold_1": (["chr2", "chr8", "chr9", "chr16"], ["chr12", "chr17"]),
    "fold_2": (["chr4", "chr11", "chr12", "chr15", "chrY"], ["chr22", "chr7"]),
    "fold_3": (["chr5", "chr10", "chr14", "chr18", "chr20", "chr22"], ["chr6", "chr21"]),
    "fold_4": (["chr7", "chr13", "chr17", "chr19", "chr21", "chrX"], ["chr10", "chr18"]),
}


def _builtin(name: str) -> dict[str, list[str]]:
    if name in _CHROMBPNET_FOLDS:
        test, valid = _CHROMBPNET_FOLDS[name]
        train = [c for c in _HUMAN if c not in test and c not in valid]
        return {"train": train, "valid": list(valid), "test": list(test)}
    if name in ("bpnet_lite", "bpnet-lite"):
        valid = ["chr8", "chr20"]
        test = ["chr1", "chr3", "chr6"]
        train = [c for c in _HUMAN if c not in valid and c not in test]
        return {"train": train, "valid": valid, "test": test}
    raise KeyError(name)


BUILTIN_SPLITS = [*_CHROMBPNET_FOLDS, "bpnet_lite"]


def get_split(spec: str | os.PathLike | Mapping[str, Iterable[str]],
              chroms: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Resolve a split specification to ``{"train": [...], "valid": [...], "test": [...]}``.

    Parameters
    ----------
    spec : str, path or mapping
        A built-in name (``"fold_0"`` .. ``"fold_4"``, ``"bpnet_lite"``), a JSON file path, or
        a mapping with the three lists.
    chroms : iterable of str or None
        Chromosomes of the genome at hand; when given, names not in it are removed (so the
        built-in human splits work for any genome that shares some names).

    Raises
    ------
    InputError
        For an unknown name, a malformed JSON, or a chromosome in two sets.
    """
    where = "split"
    if isinstance(spec, Mapping):
        split = {k: list(v) for k, v in spec.items()}
    else:
        s = str(spec)
        try:
            split = _builtin(s)
            where = f"split '{s}'"
        except KeyError:
            p = Path(s)
            if not p.suffix == ".json" and not p.exists():
                raise InputError(f"unknown split '{s}': use one of {', '.join(BUILTIN_SPLITS)} "
                                 f"or the path of a JSON file with 'train', 'valid' and 'test' "
                                 f"lists.") from None
            if not p.exists():
                raise InputError(f"split JSON '{s}' not found.") from None
            try:
                split = json.loads(p.read_text())
            except json.JSONDecodeError as e:
                raise InputError(f"split JSON '{p}' line {e.lineno}: {e.msg}.") from None
            where = f"split JSON '{p}'"
    if not isinstance(split, dict):
        raise InputError(f"{where}: expected an object with 'train', 'valid', 'test'.")
    aliases = {"training": "train", "validation": "valid", "val": "valid", "testing": "test"}
    split = {aliases.get(k, k): v for k, v in split.items()}
    unknown = set(split) - {"train", "valid", "test"}
    if unknown:
        raise InputError(f"{where}: unknown key(s) {sorted(unknown)}; expected 'train', "
                         f"'valid' and 'test'.")
    if "train" not in split:
        raise InputError(f"{where}: the 'train' list is missing.")
    out = {}
    for k in ("train", "valid", "test"):
        v = split.get(k, [])
        if isinstance(v, str) or not all(isinstance(c, str) for c in v):
            raise InputError(f"{where}: '{k}' must be a list of chromosome names.")
        out[k] = list(dict.fromkeys(v))
    seen: dict[str, str] = {}
    for k, v in out.items():
        for c in v:
            if c in seen:
                raise InputError(f"{where}: chromosome '{c}' is in both '{seen[c]}' and '{k}'.")
            seen[c] = k
    if chroms is not None:
        present = set(chroms)
        out = {k: [c for c in v if c in present] for k, v in out.items()}
        if not out["train"]:
            from bpnetkit.io.fasta import suggest_chrom_fix
            raise InputError(f"{where}: none of its training chromosomes is in the genome "
                             f"(which has {', '.join(list(present)[:5])}...)."
                             + suggest_chrom_fix(split.get("train", []), list(present))
                             + " Give a JSON split for this genome.")
    return out


def split_mask(chroms: Iterable[str], split: Mapping[str, Iterable[str]], which: str):
    """Boolean numpy mask of ``chroms`` belonging to set ``which`` of ``split``."""
    import numpy as np

    names = set(split[which])
    return np.fromiter((c in names for c in chroms), dtype=bool)


def write_split(path: str | os.PathLike, split: Mapping[str, Iterable[str]]) -> Path:
    """Write a split as JSON (atomically)."""
    from bpnetkit.utils import write_text_atomic

    return write_text_atomic(path, json.dumps({k: list(v) for k, v in split.items()},
                                              indent=2) + "\n")


def derive_split(chrom_sizes: Mapping[str, int], peak_counts: Mapping[str, int] | None = None,
                 valid_fraction: float = 0.1, test_fraction: float = 0.1
                 ) -> tuple[dict[str, list[str]], str]:
    """Hold out whole chromosomes of any genome for validation and testing.

    Chromosomes with peaks are the candidates (all chromosomes when ``peak_counts`` is None,
    weighted by size). The test set is chosen first, then the validation set from the rest:
    each greedily takes the chromosome that brings its share of peaks closest to the target
    fraction, at least one chromosome each, until no chromosome brings it closer. Ties are
    broken by chromosome name, so the result is deterministic. Every other chromosome
    (including those without peaks) trains.

    bpnetkit splits are whole chromosomes (examples, negatives and jitter never cross a split),
    so a genome needs at least three chromosomes with peaks; with fewer this is an error that
    says how to proceed (a JSON split over more sequences, e.g. after cutting a chromosome
    into named pieces in the FASTA and the peaks), rather than a split that leaks.

    Parameters
    ----------
    chrom_sizes : mapping
        Chromosome -> length.
    peak_counts : mapping or None
        Chromosome -> number of peaks (chromosomes missing count 0).
    valid_fraction, test_fraction : float
        Target shares of the peaks (or of the genome length) held out.

    Returns
    -------
    tuple
        ``(split, explanation)``: ``{"train", "valid", "test"}`` lists and one readable
        paragraph saying what was held out and why.

    Raises
    ------
    InputError
        With fewer than three chromosomes carrying peaks.
    """
    sizes = {str(c): int(n) for c, n in chrom_sizes.items()}
    if peak_counts is not None:
        weight = {c: int(peak_counts.get(c, 0)) for c in sizes}
        unit = "peaks"
    else:
        weight = dict(sizes)
        unit = "bp"
    cand = sorted((c for c in sizes if weight[c] > 0), key=lambda c: (-weight[c], c))
    if len(cand) < 3:
        raise InputError(
            f"cannot derive a train/valid/test split: only {len(cand)} chromosome(s) "
            f"({', '.join(cand) or 'none'}) carry {unit}, and a split holds out whole "
            f"chromosomes (at least one each for training, validation and test). Give a JSON "
            f"split ('split': 'split.json' with train/valid/test lists) over at least three "
            f"sequences, e.g. after cutting the chromosome into named pieces in the FASTA and "
            f"the peak file.")
    total = sum(weight[c] for c in cand)

    def pick(pool: list[str], target: float) -> list[str]:
        chosen: list[str] = []
        acc = 0
        while True:
            rest = [c for c in pool if c not in chosen]
            if not rest:
                return chosen
            best = min(rest, key=lambda c: (abs(acc + weight[c] - target), c))
            if chosen and abs(acc + weight[best] - target) >= abs(acc - target):
                return chosen
            chosen.append(best)
            acc += weight[best]

    # keep the chromosome with most peaks for training
    test = pick(cand[1:], test_fraction * total)
    valid = pick([c for c in cand[1:] if c not in test], valid_fraction * total)
    if not valid:   # three chromosomes, the test took two
        valid = [test.pop()]
    held = set(test) | set(valid)
    train = [c for c in sizes if c not in held]
    split = {"train": train, "valid": sorted(valid, key=list(sizes).index),
             "test": sorted(test, key=list(sizes).index)}

    def share(cs: list[str]) -> str:
        w = sum(weight[c] for c in cs)
        return f"{', '.join(cs)} ({w} {unit}, {100 * w / total:.1f}%)"

    explanation = (f"split derived from the genome ({len(sizes)} sequences, {len(cand)} with "
                   f"{unit}): test {share(split['test'])}; validation {share(split['valid'])}; "
                   f"training the other {len(train)} sequence(s) "
                   f"({100 * sum(weight[c] for c in train if c in weight) / total:.1f}% of "
                   f"{unit}).")
    return split, explanation


def split_for_genome(spec: str | os.PathLike | Mapping[str, Iterable[str]],
                     chrom_sizes: Mapping[str, int],
                     peak_counts: Mapping[str, int] | None = None,
                     valid_fraction: float = 0.1, test_fraction: float = 0.1
                     ) -> tuple[dict[str, list[str]], str]:
    """Resolve ``spec`` for a genome, deriving a split when a built-in one does not fit.

    A built-in split (``fold_*``, ``bpnet_lite``: hg38 names) that leaves the genome's
    training, validation or test set empty (or, with ``peak_counts``, without peaks) is
    replaced by :func:`derive_split`; a logged warning and the returned explanation say so.
    A JSON file or mapping given by the user is used as it is (errors stay errors).

    Parameters
    ----------
    spec : str, path or mapping
        As for :func:`get_split`.
    chrom_sizes : mapping
        Chromosome -> length of the genome at hand.
    peak_counts : mapping or None
        Chromosome -> number of peaks.
    valid_fraction, test_fraction : float
        Passed to :func:`derive_split`.

    Returns
    -------
    tuple
        ``(split, explanation)``; the explanation is ``""`` when ``spec`` was used as is.
    """
    builtin = isinstance(spec, str) and spec in (*BUILTIN_SPLITS, "bpnet-lite")
    if not builtin:
        return get_split(spec, chrom_sizes), ""
    try:
        split = get_split(spec, chrom_sizes)
    except InputError:
        split = None
    if split is not None:
        def n(k: str) -> int:
            if peak_counts is None:
                return len(split[k])
            return sum(int(peak_counts.get(c, 0)) for c in split[k])
        if all(n(k) > 0 for k in ("train", "valid", "test")):
            return split, ""
        why = ", ".join(f"{k}: {n(k)} {'peaks' if peak_counts is not None else 'chromosomes'}"
                        for k in ("train", "valid", "test"))
    else:
        why = "none of its training chromosomes is in the genome"
    derived, explanation = derive_split(chrom_sizes, peak_counts, valid_fraction,
                                        test_fraction)
    explanation = (f"built-in split '{spec}' names human (hg38) chromosomes and does not fit "
                   f"this genome ({why}); {explanation}")
    log.warning(explanation)
    return derived, explanation
