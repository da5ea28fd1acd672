"""Chromosome splits into training, validation and test sets.

Built-in splits use human (hg38) chromosome names, but nothing assumes hg38: chromosomes that
the genome at hand does not have are simply absent from the result. Other genomes use a JSON
file ``{"train": [...], "valid": [...], "test": [...]}``.

- ``fold_0`` .. ``fold_4``: the five ChromBPNet folds (``fold_0``: test chr1, chr3, chr6;
  valid chr8, chr20; train the remaining autosomes and chrX, chrY).
- ``bpnet_lite``: the default of bpnet-lite's ``bpnet`` command (train chr2, chr4, chr5, chr7,
  chr9-chr19, chr21, chr22, chrX, chrY; valid chr8, chr20); the chromosomes it leaves out
  (chr1, chr3, chr6) are the test set, so it equals ``fold_0``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from bpnetkit.errors import InputError

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
