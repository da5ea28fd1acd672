"""Reads to base-resolution counts: the 5' ends of reads, counted per position and strand.

Inputs are parsed by :mod:`bpnetkit.io.reads` (BAM through a numba kernel, SAM through pysam,
fragment files, BED reads); several inputs are merged. Each kept read adds 1 at its 5' end
shifted by ``shift_plus`` (``+`` strand) or ``shift_minus`` (``-`` strand): ATAC-seq ``+4/-4``,
DNase-seq ``0/+1``; 10x fragments are already Tn5-shifted, so use no shift for them.

Memory stays bounded: reads are processed in chunks that are reduced at once to sparse
(position, count) runs per chromosome and strand; these are spilled to a temporary folder when
they grow large and merged one chromosome at a time while the bigWigs are written. Input order
does not matter (unsorted files give the same result).

The ``bpnetkit bam2bw`` step (parameters, output folder) is :mod:`bpnetkit.steps.bam2bw`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpnetkit.data.shift_qc import check_shift_settings
from bpnetkit.errors import InputError, require_file
from bpnetkit.io import reads as read_files
from bpnetkit.io.bigwig import write_bigwig
from bpnetkit.io.chrom_sizes import read_chrom_sizes
from bpnetkit.utils import as_generator, progress

__all__ = ["SHIFT_PRESETS", "CountOptions", "count_read_ends", "reads_to_bigwig",
           "write_count_bigwigs", "sample_read_ends", "input_formats", "read_chrom_sizes"]

log = logging.getLogger(__name__)

SHIFT_PRESETS = {"none": (0, 0), "atac": (4, -4), "dnase": (0, 1), "chip": (0, 0),
                 "procap": (0, 0)}


@dataclass
class CountOptions:
    """How reads are filtered, shifted and read (the counting fields of ``bam2bw``).

    Attributes
    ----------
    preset : str or None
        ``"atac"`` (+4/-4), ``"dnase"`` (0/+1), ``"chip"``/``"procap"``/``"none"`` (0/0);
        overrides the shifts when given.
    shift_plus, shift_minus : int
        Shifts applied to 5' ends of ``+`` and ``-`` strand reads.
    paired_end : bool
        Count the 5' end of both mates of each pair; unpaired reads are skipped and
        single-end data is an error.
    proper_pairs_only : bool
        In paired-end mode, keep only properly paired mates.
    min_mapq : int
        Minimum mapping quality.
    skip_duplicates, skip_secondary, skip_supplementary, skip_qcfail : bool
        Skip reads with these flags.
    input_format : str
        ``"auto"`` (from the file), ``"bam"``, ``"sam"``, ``"fragments"`` or ``"bed"``.
    threads : int
        Threads decompressing BAM blocks (and compressing bigWig blocks).
    memory_mb : int
        Sparse counts held in memory before they are spilled to a temporary folder.
    force_shift : bool
        Allow a non-zero shift on fragment files (which are normally already Tn5-adjusted;
        see :func:`bpnetkit.data.shift_qc.check_shift_settings`).
    """

    preset: str | None = None
    shift_plus: int = 0
    shift_minus: int = 0
    paired_end: bool = False
    proper_pairs_only: bool = True
    min_mapq: int = 0
    skip_duplicates: bool = False
    skip_secondary: bool = True
    skip_supplementary: bool = True
    skip_qcfail: bool = True
    input_format: str = "auto"
    threads: int = 2
    memory_mb: int = 256
    force_shift: bool = False

    @classmethod
    def from_object(cls, obj: object) -> CountOptions:
        """The counting fields of any object that has them (e.g. ``Bam2BwParams``); fields
        it lacks keep their defaults."""
        return cls(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)
                      if hasattr(obj, f.name)})

    def shifts(self) -> tuple[int, int]:
        """``(shift_plus, shift_minus)`` after applying the preset."""
        if self.preset is not None:
            if self.preset not in SHIFT_PRESETS:
                raise InputError(f"unknown preset '{self.preset}'; use one of "
                                 f"{', '.join(SHIFT_PRESETS)} or set shift_plus/shift_minus.")
            return SHIFT_PRESETS[self.preset]
        return int(self.shift_plus), int(self.shift_minus)

    def flag_masks(self) -> tuple[int, int]:
        """SAM flag masks ``(skip, require)`` of these options."""
        return read_files.flag_masks(
            paired_end=self.paired_end, proper_pairs_only=self.proper_pairs_only,
            skip_duplicates=self.skip_duplicates, skip_secondary=self.skip_secondary,
            skip_supplementary=self.skip_supplementary, skip_qcfail=self.skip_qcfail)


class _Accumulator:
    """Sparse per-(chromosome, strand) counts, reduced per chunk, spilled to disk if large."""

    def __init__(self, names: Sequence[str], spill_bytes: int = 256 << 20):
        self.names = list(names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.parts: dict[tuple[int, int], list] = defaultdict(list)
        self.nbytes = 0
        self.spill_bytes = spill_bytes
        self.tmp: Path | None = None
        self.n_spill = 0
        self.n_out_of_range = 0

    def add(self, tid: np.ndarray, pos: np.ndarray, strand: np.ndarray,
            sizes: np.ndarray) -> None:
        """Add read ends (``strand`` 0 = +, 1 = -); ends outside the chromosome are dropped."""
        if not len(tid):
            return
        ok = (pos >= 0) & (pos < sizes[tid])
        if not ok.all():
            self.n_out_of_range += int((~ok).sum())
            tid, pos, strand = tid[ok], pos[ok], strand[ok]
        key = tid.astype(np.int64) * 2 + strand
        # sort by key only when it changes within the chunk (sorted inputs rarely)
        if len(key) and (key[1:] != key[:-1]).any():
            o = np.argsort(key, kind="stable")
            key, pos = key[o], pos[o]
            bounds = np.flatnonzero(np.diff(key)) + 1
            cuts = np.r_[0, bounds, len(key)]
        else:
            cuts = np.array([0, len(key)])
        for a, b in zip(cuts[:-1], cuts[1:]):
            k = int(key[a])
            p, c = _reduce(pos[a:b])
            self.parts[(k // 2, k % 2)].append((p, c))
            self.nbytes += p.nbytes + c.nbytes
        if self.nbytes > self.spill_bytes:
            self._spill()

    def _spill(self) -> None:
        if self.tmp is None:
            self.tmp = Path(tempfile.mkdtemp(prefix="bpnetkit_bam2bw_"))
        for key, parts in self.parts.items():
            mem = [x for x in parts if not isinstance(x, Path)]
            if not mem:
                continue
            p, c = _merge(mem)
            f = self.tmp / f"{key[0]}_{key[1]}_{self.n_spill}.npz"
            np.savez(f, p=p, c=c)
            self.parts[key] = [x for x in parts if isinstance(x, Path)] + [f]
            self.n_spill += 1
        self.nbytes = 0

    def get(self, tid: int, strand: int) -> tuple[np.ndarray, np.ndarray]:
        """Merged (positions, counts) of one chromosome and strand."""
        parts = []
        for x in self.parts.get((tid, strand), []):
            if isinstance(x, Path):
                with np.load(x) as z:
                    parts.append((z["p"], z["c"]))
            else:
                parts.append(x)
        return _merge(parts)

    def close(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _reduce(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct positions and their counts."""
    if not len(pos):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo, hi = int(pos.min()), int(pos.max())
    if hi - lo < 8 * len(pos) + (1 << 16):
        bc = np.bincount(pos - lo)
        nz = np.flatnonzero(bc)
        return nz + lo, bc[nz]
    p, c = np.unique(pos, return_counts=True)
    return p, c.astype(np.int64)


def _merge(parts: list) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(parts) == 1:
        return parts[0]
    p = np.concatenate([x[0] for x in parts])
    c = np.concatenate([x[1] for x in parts])
    lo, hi = int(p.min()), int(p.max())
    if hi - lo < 8 * len(p) + (1 << 16):
        bc = np.bincount(p - lo, weights=c).astype(np.int64)
        nz = np.flatnonzero(bc)
        return nz + lo, bc[nz]
    u, inv = np.unique(p, return_inverse=True)
    return u, np.bincount(inv, weights=c).astype(np.int64)


def input_formats(inputs: Sequence[str | os.PathLike], input_format: str = "auto"
                  ) -> list[str]:
    """Format of each read file (``bam``, ``sam``, ``fragments`` or ``bed``).

    Raises
    ------
    InputError
        For an unknown ``input_format`` or a file whose format cannot be told.
    """
    out = []
    for p in inputs:
        f = read_files.detect_format(p) if input_format == "auto" else input_format
        if f not in read_files.FORMATS:
            raise InputError(f"unknown input_format '{f}' for '{p}'; use 'auto', "
                             f"{', '.join(map(repr, read_files.FORMATS))}.")
        out.append(f)
    return out


def count_read_ends(inputs: Sequence[str | os.PathLike],
                    chrom_sizes: Mapping[str, int] | None = None,
                    options: CountOptions | None = None, verbose: bool = True, **kwargs):
    """Count 5' ends of reads from several files.

    Parameters
    ----------
    inputs : sequence of paths
        BAM/SAM/fragment/BED files.
    chrom_sizes : mapping or None
        Chromosome sizes; default: the first BAM's header.
    options : CountOptions or None
        Counting options (``kwargs`` override its fields).
    verbose : bool
        Show progress over BAM/SAM chunks.

    Returns
    -------
    tuple
        ``(accumulator, chrom_sizes, stats)``; stats is a dict with records seen, kept,
        filtered and ends dropped outside chromosomes.
    """
    params = dataclasses.replace(options or CountOptions(), **kwargs)
    shifts = params.shifts()
    skip, require = params.flag_masks()
    paths = [require_file(p, "reads file") for p in inputs]
    if not paths:
        raise InputError("no input read files given ('inputs' is empty).")
    formats = input_formats(paths, params.input_format)
    check_shift_settings(formats, shifts[0], shifts[1], params.paired_end, params.preset,
                         params.force_shift, [p.name for p in paths])
    if chrom_sizes is None:
        bams = [p for p, f in zip(paths, formats) if f in ("bam", "sam")]
        if not bams:
            raise InputError("fragment/BED inputs need chromosome sizes: set 'genome' or "
                             "'chrom_sizes'.")
        names, lengths, _ = read_files.bam_header(bams[0])
        chrom_sizes = dict(zip(names, lengths))
    chrom_sizes = dict(chrom_sizes)
    acc = _Accumulator(list(chrom_sizes), spill_bytes=max(0, int(params.memory_mb)) << 20)
    sizes = np.array(list(chrom_sizes.values()), dtype=np.int64)
    total = {"records": 0, "paired": 0, "kept": 0, "filtered": 0}
    for p, fmt in zip(paths, formats):
        stats = np.zeros(4, dtype=np.int64)
        if fmt in ("bam", "sam"):
            names, lengths, _ = read_files.bam_header(p)
            # map this file's reference ids to our chromosome order
            missing = [n for n in names if n not in chrom_sizes]
            remap = np.array([acc.index.get(n, -1) for n in names] or [-1], dtype=np.int64)
            bad_len = [n for n, ln in zip(names, lengths)
                       if n in chrom_sizes and chrom_sizes[n] != ln]
            if bad_len:
                raise InputError(f"'{p.name}' gives chromosome {bad_len[0]} length "
                                 f"{dict(zip(names, lengths))[bad_len[0]]} but the chromosome "
                                 f"sizes say {chrom_sizes[bad_len[0]]}: the reads were aligned "
                                 f"to a different assembly.")
            if missing and len(missing) == len(names):
                from bpnetkit.io.fasta import check_chroms
                check_chroms(names, list(chrom_sizes), f"BAM '{p.name}'", "the chromosome sizes")
            iterate = read_files.iter_bam_ends if fmt == "bam" else read_files.iter_sam_ends
            kw = {"threads": params.threads} if fmt == "bam" else {}
            it = iterate(p, min_mapq=params.min_mapq, skip_mask=skip, require_mask=require,
                         shift_plus=shifts[0], shift_minus=shifts[1], stats=stats, **kw)
            n_unknown = 0
            for tid, pos, rev in progress(it, desc=p.name, unit="chunks", enabled=verbose):
                t = remap[tid]
                ok = t >= 0
                if not ok.all():
                    n_unknown += int((~ok).sum())
                    t, pos, rev = t[ok], pos[ok], rev[ok]
                acc.add(t, pos, rev, sizes)
            if n_unknown:
                log.warning("%s: %d reads on %d chromosomes absent from the chromosome sizes "
                            "were skipped (e.g. %s).", p.name, n_unknown, len(missing),
                            missing[0] if missing else "?")
            if params.paired_end and stats[0] > 0 and stats[1] == 0:
                raise InputError(f"paired_end is true but '{p.name}' contains no paired reads "
                                 f"(single-end data). Set paired_end to false.")
        else:
            for tid, pos, rev in read_files.iter_text_ends(p, fmt, acc.index, shifts[0],
                                                           shifts[1], stats):
                acc.add(tid.astype(np.int64), pos, rev, sizes)
        if stats[0] == 0:
            log.warning("'%s' contains no reads.", p.name)
        for k, v in zip(total, stats):
            total[k] += int(v)
    total["out_of_range"] = acc.n_out_of_range
    if acc.n_out_of_range:
        log.warning("%d shifted read ends fell outside their chromosome and were dropped.",
                    acc.n_out_of_range)
    return acc, chrom_sizes, total


def reads_to_bigwig(inputs: Sequence[str | os.PathLike], output_prefix: str | os.PathLike,
                    chrom_sizes: Mapping[str, int] | None = None,
                    options: CountOptions | None = None, stranded: bool = True,
                    zoom_levels: int = 0, verbose: bool = True, **kwargs) -> dict[str, str]:
    """Count read 5' ends and write base-resolution bigWigs.

    Parameters
    ----------
    inputs : sequence of paths
        BAM/SAM/fragment/BED read files, merged.
    output_prefix : path
        ``<prefix>.plus.bw`` and ``<prefix>.minus.bw`` (stranded) or ``<prefix>.bw``.
    chrom_sizes : mapping or None
        Chromosome sizes; default: the first BAM's header.
    options : CountOptions or None
        Counting options; ``kwargs`` override its fields.
    stranded : bool
        Separate ``+`` and ``-`` strand bigWigs, else one with both strands added.
    zoom_levels : int
        Zoom levels of the bigWigs (0: none, written by bpnetkit's fast writer).
    verbose : bool
        Show progress.

    Returns
    -------
    dict
        ``{"plus": path, "minus": path}`` or ``{"signal": path}``.
    """
    params = dataclasses.replace(options or CountOptions(), **kwargs)
    acc, sizes, stats = count_read_ends(inputs, chrom_sizes, params, verbose=verbose)
    try:
        out = write_count_bigwigs(acc, sizes, output_prefix, stranded, zoom_levels,
                                  params.threads)
    finally:
        acc.close()
    log.info("bam2bw: %d records, %d counted, %d filtered.", stats["records"], stats["kept"],
             stats["filtered"])
    return out


def write_count_bigwigs(acc: _Accumulator, sizes: Mapping[str, int],
                        output_prefix: str | os.PathLike, stranded: bool = True,
                        zoom_levels: int = 0, threads: int = 2) -> dict[str, str]:
    """Write the counts of :func:`count_read_ends` as bigWigs.

    Returns
    -------
    dict
        ``{"plus": path, "minus": path}`` or ``{"signal": path}``.
    """
    prefix = str(output_prefix)
    names = list(sizes)

    def entries(strands):
        for t, c in enumerate(names):
            parts = [acc.get(t, s) for s in strands]
            p, v = _merge([x for x in parts if len(x[0])]) if len(parts) > 1 else parts[0]
            yield c, p, v

    if stranded:
        return {"plus": str(write_bigwig(prefix + ".plus.bw", sizes, entries([0]),
                                         zoom_levels, threads)),
                "minus": str(write_bigwig(prefix + ".minus.bw", sizes, entries([1]),
                                          zoom_levels, threads))}
    return {"signal": str(write_bigwig(prefix + ".bw", sizes, entries([0, 1]), zoom_levels,
                                       threads))}


def sample_read_ends(acc: _Accumulator, sizes: Mapping[str, int], n_per_strand: int = 200_000,
                     random_state=0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A random sample of the counted (shifted) read ends, per chromosome and strand.

    Parameters
    ----------
    acc : accumulator
        First item returned by :func:`count_read_ends` (before it is closed).
    sizes : mapping
        Chromosome sizes (second item returned by :func:`count_read_ends`).
    n_per_strand : int
        Ends drawn per strand over all chromosomes (with replacement, each read equally
        likely).
    random_state : int or numpy.random.Generator
        Seed.

    Returns
    -------
    dict
        Chromosome -> ``(plus_ends, minus_ends)`` (int64 positions, one per sampled read).
    """
    rng = as_generator(random_state)
    names = list(sizes)
    per: dict[int, list] = {0: [], 1: []}
    for strand in (0, 1):
        totals = np.array([int(acc.get(t, strand)[1].sum()) for t in range(len(names))],
                          dtype=np.int64)
        n = int(min(n_per_strand, totals.sum()))
        take = rng.multinomial(n, totals / totals.sum()) if n else np.zeros_like(totals)
        for t in range(len(names)):
            if not take[t]:
                per[strand].append(np.zeros(0, np.int64))
                continue
            p, c = acc.get(t, strand)
            # reads drawn with replacement, each read equally likely
            u = rng.integers(0, int(c.sum()), size=int(take[t]))
            per[strand].append(np.sort(p[np.searchsorted(np.cumsum(c), u, side="right")]))
    return {names[t]: (per[0][t], per[1][t]) for t in range(len(names))
            if len(per[0][t]) or len(per[1][t])}
