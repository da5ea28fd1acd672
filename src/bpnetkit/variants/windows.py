"""Reference and alternative windows of variants, cut from a genome.

Window geometry (indels): the reference window of width ``W`` starts ``W // 2`` bases before
the variant, so the first REF base sits at position ``W // 2``. The alternative window keeps the
same left flank, then the ALT allele, then as much right flank as fills ``W`` bases. Both
windows therefore have the same length, bases left of the variant sit at identical positions,
and bases right of it are shifted by ``len(ALT) - len(REF)``. This is also variant-scorer's
geometry (kundajelab), including the empty alleles (``-``) of its tab-separated layouts.

Variants whose REF need not match the genome (:attr:`bpnetkit.io.vcf.Variant.strict_ref` is
False: substitutions from the variant-scorer layouts) get REF written into the reference
window, so both windows differ only at the variant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bpnetkit.interpret.edits import apply_edit
from bpnetkit.io.fasta import Genome, extract_sequences, one_hot_encode
from bpnetkit.io.vcf import Variant

__all__ = ["check_variant", "ref_matches", "variant_windows"]


def ref_matches(v: Variant, genome: Genome) -> bool:
    """Whether the genome holds ``v.ref`` at ``v.pos`` (on a known chromosome, in range)."""
    size = genome.chrom_sizes.get(v.chrom)
    if size is None or v.pos + len(v.ref) > size:
        return False
    return genome.fetch(v.chrom, v.pos, v.pos + len(v.ref)).upper() == v.ref


def check_variant(v: Variant, genome: Genome) -> str | None:
    """Why ``v`` cannot be scored against ``genome`` (None when it can).

    REF must match the genome only when ``v.strict_ref`` is set (see
    :class:`bpnetkit.io.vcf.Variant`).

    Returns
    -------
    str or None
        ``unknown_chromosome``, ``off_chromosome_end``, ``ref_mismatch`` or None.
    """
    size = genome.chrom_sizes.get(v.chrom)
    if size is None:
        return "unknown_chromosome"
    if v.pos + max(len(v.ref), 1) > size:
        return "off_chromosome_end"
    if v.strict_ref and not ref_matches(v, genome):
        return "ref_mismatch"
    return None


def variant_windows(genome: Genome, variants: Sequence[Variant], width: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One-hot reference and alternative windows of ``width`` bases for each variant.

    The first REF base sits at position ``width // 2`` of both windows; the alternative window
    keeps the left flank and takes as much right flank as needed (see the module notes).
    Positions beyond the chromosome ends are N (zero columns).

    Parameters
    ----------
    genome : Genome
        The reference the variants were checked against (:func:`check_variant`).
    variants : sequence of Variant
        The variants.
    width : int
        Window length (the model's input length).

    Returns
    -------
    ref, alt : numpy.ndarray
        ``(n, 4, width)`` int8 each.
    """
    n = len(variants)
    c = width // 2
    extra = max([max(0, len(v.ref) - len(v.alt)) for v in variants] + [0])
    chroms = [v.chrom for v in variants]
    starts = np.array([v.pos - c for v in variants], dtype=np.int64)
    seqs = extract_sequences(genome, chroms, starts, starts + width + extra, pad=True)
    ref = np.ascontiguousarray(seqs[:, :, :width])
    alt = np.empty((n, 4, width), dtype=np.int8)
    for k, v in enumerate(variants):
        if not v.strict_ref and v.ref:
            seqs[k] = apply_edit(seqs[k], c, len(v.ref), one_hot_encode(v.ref), seqs.shape[2])
            ref[k] = seqs[k, :, :width]
        alt[k] = apply_edit(seqs[k], c, len(v.ref), one_hot_encode(v.alt), width)
    return ref, alt
