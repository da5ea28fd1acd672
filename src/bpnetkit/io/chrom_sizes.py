"""Chromosome sizes files: two columns ``chrom<TAB>size`` (UCSC ``.chrom.sizes``) or a FASTA
index (``.fai``, whose first two columns are the same)."""

from __future__ import annotations

import os

from bpnetkit.errors import InputError, require_file
from bpnetkit.io._errors import TEXT_ERRORS, decoding


def read_chrom_sizes(path: str | os.PathLike) -> dict[str, int]:
    """Read a chromosome sizes file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``chrom<TAB>size`` file or a FASTA ``.fai``; blank lines and ``#`` comments are
        skipped, further columns ignored.

    Returns
    -------
    dict[str, int]
        Chromosome name -> length, in file order.

    Raises
    ------
    MissingFileError
        When the file does not exist.
    InputError
        For a malformed line (naming file and line) or an empty file.
    """
    p = require_file(path, "chromosome sizes file")
    sizes: dict[str, int] = {}
    with decoding(p, "chromosome sizes file", errors=TEXT_ERRORS,
                  fix="It must be a text file of 'chrom<TAB>size' lines."), \
            open(p, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.split()
            try:
                sizes[f[0]] = int(f[1])
            except (IndexError, ValueError):
                raise InputError(f"{p.name} line {i}: expected 'chrom<TAB>size', got "
                                 f"{line.strip()[:60]!r}.") from None
    if not sizes:
        raise InputError(f"chromosome sizes file '{p}' is empty.")
    return sizes
