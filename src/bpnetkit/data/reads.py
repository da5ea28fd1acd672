"""Reads to base-resolution bigWigs: count read 5' ends (``bpnetkit bam2bw``).

Inputs are BAM (parsed by a numba kernel straight from the BGZF stream), SAM (through pysam),
fragment files (``.tsv``/``.tsv.gz``, 10x/ArchR: chrom, start, end, ...; both fragment ends
counted once per line, the start as ``+`` and ``end - 1`` as ``-``; 10x fragments are already
Tn5-shifted, so use no shift for them) or BED reads (strand in column 6; the 5'
end is ``start`` on ``+`` and ``end - 1`` on ``-``). Several inputs are merged.

Each kept read adds 1 at its 5' end shifted by ``shift_plus`` (``+`` strand) or ``shift_minus``
(``-`` strand): ATAC-seq ``+4/-4``, DNase-seq ``0/+1``. Stranded output writes a ``+`` and a
``-`` bigWig; unstranded adds both into one.

Memory stays bounded: reads are processed in chunks that are reduced at once to sparse
(position, count) runs per chromosome and strand; these are spilled to a temporary folder when
they grow large and merged one chromosome at a time while writing the bigWigs. Input order does
not matter (unsorted files give the same result).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, require_file

log = logging.getLogger("bpnetkit.data")

SHIFT_PRESETS = {"none": (0, 0), "atac": (4, -4), "dnase": (0, 1), "chip": (0, 0),
                 "procap": (0, 0)}


@dataclass
class Bam2BwParams:
    """Parameters of ``bpnetkit bam2bw``.

    Attributes
    ----------
    inputs : list of str
        BAM/SAM, fragment (``.tsv``, ``.tsv.gz``) or BED read files; all are merged.
    output_dir : str
        Folder for the bigWigs and the resolved parameters.
    name : str
        Output prefix: ``<name>.plus.bw`` and ``<name>.minus.bw`` (stranded) or ``<name>.bw``.
    genome : str or None
        FASTA whose chromosome sizes define the bigWigs (or give ``chrom_sizes``).
    chrom_sizes : str or None
        Two-column chromosome sizes file; default: from ``genome``, else the BAM header.
    stranded : bool
        Write separate ``+`` and ``-`` strand bigWigs.
    preset : str or None
        ``"atac"`` (+4/-4), ``"dnase"`` (0/+1), ``"chip"``/``"procap"``/``"none"`` (0/0);
        overrides the shifts when given.
    shift_plus, shift_minus : int
        Shifts applied to 5' ends of ``+`` and ``-`` strand reads.
    paired_end : bool
        Paired-end mode: count the 5' end of both mates of each pair (both fragment ends);
        unpaired reads are skipped and single-end data is an error.
    proper_pairs_only : bool
        In paired-end mode, keep only properly paired mates.
    min_mapq : int
        Minimum mapping quality.
    skip_duplicates, skip_secondary, skip_supplementary, skip_qcfail : bool
        Skip reads with these flags.
    input_format : str
        ``"auto"`` (from the file), ``"bam"``, ``"sam"``, ``"fragments"`` or ``"bed"``.
    threads : int
        Threads decompressing BAM blocks.
    memory_mb : int
        Sparse counts held in memory before they are spilled to a temporary folder.
    zoom_levels : int
        Zoom levels stored in the bigWigs (0 = none: smallest and fastest to write; genome
        browsers then summarise on the fly; 10 is what UCSC tools write).
    """

    inputs: list[str] = field(default_factory=list)
    output_dir: str = "."
    name: str = "signal"
    genome: str | None = None
    chrom_sizes: str | None = None
    stranded: bool = True
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
    zoom_levels: int = 0


def read_chrom_sizes(path: str | os.PathLike) -> dict[str, int]:
    """Read a two-column ``chrom<TAB>size`` file (or a FASTA ``.fai``)."""
    p = require_file(path, "chromosome sizes file")
    sizes = {}
    with open(p) as fh:
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


def detect_format(path: Path) -> str:
    """Guess ``bam``, ``sam``, ``fragments`` or ``bed`` from the content and name."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    name = path.name.lower()
    if head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC":
        try:
            with gzip.open(path, "rb") as g:
                inner = g.read(4)
        except (OSError, EOFError, zlib.error):
            raise InputError(f"'{path}' is a damaged compressed file.") from None
        if inner == b"BAM\x01":
            return "bam"
    elif name.endswith(".bam"):
        raise InputError(f"'{path}' is named .bam but is not a BAM file.")
    if name.endswith(".sam") or head.startswith(b"@HD") or head.startswith(b"@SQ"):
        return "sam"
    if name.endswith(".cram"):
        raise InputError(f"'{path}': CRAM is not supported; convert it with 'samtools view -b "
                         f"-o reads.bam {path.name}'.")
    stem = name[:-3] if name.endswith(".gz") else name
    if stem.endswith((".tsv", ".fragments", ".frag")) or "fragments" in stem:
        return "fragments"
    if stem.endswith((".bed", ".tagalign")):
        return "bed"
    raise InputError(f"cannot tell the format of '{path}'; set input_format to 'bam', 'sam', "
                     f"'fragments' or 'bed'.")


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


def _flag_masks(params: Bam2BwParams) -> tuple[int, int]:
    from bpnetkit.io import reads as _bam

    skip = _bam.UNMAPPED
    if params.skip_duplicates:
        skip |= _bam.DUPLICATE
    if params.skip_secondary:
        skip |= _bam.SECONDARY
    if params.skip_supplementary:
        skip |= _bam.SUPPLEMENTARY
    if params.skip_qcfail:
        skip |= _bam.QCFAIL
    require = 0
    if params.paired_end:
        skip |= _bam.MATE_UNMAPPED
        require |= _bam.PAIRED
        if params.proper_pairs_only:
            require |= _bam.PROPER
    return skip, require


def _bam_header(path: Path) -> tuple[list[str], list[int], str]:
    import pysam

    try:
        with pysam.AlignmentFile(str(path), "rb", check_sq=False) as f:
            so = f.header.to_dict().get("HD", {}).get("SO", "unknown")
            return list(f.references), list(f.lengths), so
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read BAM file '{path}': {e}. Check that it is a complete "
                         f"BAM file (samtools quickcheck).") from None


def _iter_bam(path: Path, params: Bam2BwParams, shifts: tuple[int, int], stats: np.ndarray
              ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    from bpnetkit.io.reads import iter_bam_ends

    skip, require = _flag_masks(params)
    yield from iter_bam_ends(path, min_mapq=params.min_mapq, skip_mask=skip,
                             require_mask=require, shift_plus=shifts[0], shift_minus=shifts[1],
                             threads=params.threads, stats=stats)


def _iter_sam(path: Path, params: Bam2BwParams, shifts: tuple[int, int], stats: np.ndarray,
              chunk: int = 1 << 18):
    import pysam

    skip, require = _flag_masks(params)
    tid, pos, rev = [], [], []
    try:
        f = pysam.AlignmentFile(str(path), "r", check_sq=False)
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read SAM file '{path}': {e}.") from None
    with f:
        for r in f.fetch(until_eof=True):
            flag = r.flag
            stats[0] += 1
            if flag & 1:
                stats[1] += 1
            if (flag & skip) or (flag & require) != require or r.mapping_quality < \
                    params.min_mapq or r.reference_id < 0:
                stats[3] += 1
                continue
            stats[2] += 1
            tid.append(r.reference_id)
            if flag & 0x10:
                pos.append((r.reference_end or r.reference_start + 1) - 1 + shifts[1])
                rev.append(1)
            else:
                pos.append(r.reference_start + shifts[0])
                rev.append(0)
            if len(tid) >= chunk:
                yield (np.array(tid, np.int32), np.array(pos, np.int64), np.array(rev, np.uint8))
                tid, pos, rev = [], [], []
    if tid:
        yield np.array(tid, np.int32), np.array(pos, np.int64), np.array(rev, np.uint8)


def _text_chunks(path: Path, chunk_bytes: int = 16 << 20) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:
            rest = b""
            while True:
                data = fh.read(chunk_bytes)
                if not data:
                    if rest:
                        yield rest + b"\n"
                    return
                buf = rest + data
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    rest = buf
                    continue
                yield buf[:cut]
                rest = buf[cut:]
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"cannot read '{path}': {e}. The file may be corrupt or truncated "
                         f"(test it with 'gzip -t').") from None


def _iter_text(path: Path, fmt: str, shifts: tuple[int, int], names: dict[str, int],
               stats: np.ndarray):
    """Fragments (both ends) or BED reads (5' end by strand) -> (tid, pos, reverse)."""
    from bpnetkit.data._kernels import parse_bed_lines

    strand_col = 5 if fmt == "bed" else -1
    line0 = 0
    for buf in _text_chunks(path):
        arr = np.frombuffer(buf, dtype=np.uint8)
        n_cap = int(np.count_nonzero(arr == 10)) + 1
        starts = np.empty(n_cap, np.int64)
        ends = np.empty(n_cap, np.int64)
        strands = np.empty(n_cap, np.uint8)
        run_line = np.empty(n_cap, np.int64)
        run_lo = np.empty(n_cap, np.int64)
        run_hi = np.empty(n_cap, np.int64)
        k, r, _, bad = parse_bed_lines(arr, strand_col, starts, ends, strands, run_line,
                                       run_lo, run_hi)
        if bad >= 0:
            line = buf.split(b"\n")[bad].decode(errors="replace")
            need = "chrom, start, end, name, score, strand" if fmt == "bed" else \
                "chrom, start, end"
            raise InputError(f"{path.name} line {line0 + bad + 1}: malformed {fmt} line "
                             f"{line[:80]!r}; expected tab-separated {need} with integer "
                             f"coordinates{' and strand + or -' if fmt == 'bed' else ''}.")
        tid = np.empty(k, np.int32)
        bounds = np.r_[run_line[:r], k]
        for j in range(r):
            name = buf[run_lo[j]:run_hi[j]].decode(errors="replace")
            t = names.get(name)
            if t is None:
                from bpnetkit.io.fasta import suggest_chrom_fix
                raise InputError(f"{path.name} line {line0 + int(run_line[j]) + 1}: chromosome "
                                 f"'{name}' is not in the chromosome sizes."
                                 + suggest_chrom_fix([name], list(names)))
            tid[bounds[j]:bounds[j + 1]] = t
        s, e, st = starts[:k], ends[:k], strands[:k]
        data = s >= 0
        bad_iv = data & (e <= s)
        if bad_iv.any():
            i = int(np.flatnonzero(bad_iv)[0])
            raise InputError(f"{path.name} line {line0 + i + 1}: end {e[i]} is not greater than "
                             f"start {s[i]}.")
        line0 += k
        tid, s, e, st = tid[data], s[data], e[data], st[data]
        stats[0] += len(s)
        stats[2] += len(s)
        if fmt == "fragments":
            yield (np.r_[tid, tid], np.r_[s + shifts[0], e - 1 + shifts[1]],
                   np.r_[np.zeros(len(s), np.uint8), np.ones(len(s), np.uint8)])
        else:
            if (st == 3).any():
                i = int(np.flatnonzero(st == 3)[0])
                raise InputError(f"{path.name}: a BED read has strand other than '+' or '-' "
                                 f"(column 6) near line {line0 - k + i + 1}; reads need a "
                                 f"strand to locate their 5' end.")
            rev = (st == 2).astype(np.uint8)
            yield tid, np.where(rev == 1, e - 1 + shifts[1], s + shifts[0]), rev


def count_read_ends(inputs: Sequence[str | os.PathLike], chrom_sizes: Mapping[str, int] | None
                    = None, params: Bam2BwParams | None = None, **kwargs):
    """Count 5' ends of reads from several files.

    Parameters
    ----------
    inputs : sequence of paths
        BAM/SAM/fragment/BED files.
    chrom_sizes : mapping or None
        Chromosome sizes; default: the first BAM's header.
    params : Bam2BwParams or None
        Counting options (``kwargs`` override fields).

    Returns
    -------
    tuple
        ``(accumulator, chrom_sizes, stats)``; stats is a dict with records seen, kept,
        filtered and ends dropped outside chromosomes.
    """
    import dataclasses

    params = dataclasses.replace(params or Bam2BwParams(), **kwargs)
    if params.preset is not None:
        if params.preset not in SHIFT_PRESETS:
            raise InputError(f"unknown preset '{params.preset}'; use one of "
                             f"{', '.join(SHIFT_PRESETS)} or set shift_plus/shift_minus.")
        shifts = SHIFT_PRESETS[params.preset]
    else:
        shifts = (int(params.shift_plus), int(params.shift_minus))
    paths = [require_file(p, "reads file") for p in inputs]
    if not paths:
        raise InputError("no input read files given ('inputs' is empty).")
    formats = [detect_format(p) if params.input_format == "auto" else params.input_format
               for p in paths]
    for p, f in zip(paths, formats):
        if f not in ("bam", "sam", "fragments", "bed"):
            raise InputError(f"unknown input_format '{f}' for '{p}'.")
        if f in ("fragments", "bed") and params.paired_end:
            raise InputError(f"paired_end applies to BAM/SAM input; '{p.name}' is a {f} file "
                             f"(fragment files always count both ends).")
    if chrom_sizes is None:
        bams = [p for p, f in zip(paths, formats) if f in ("bam", "sam")]
        if not bams:
            raise InputError("fragment/BED inputs need chromosome sizes: set 'genome' or "
                             "'chrom_sizes'.")
        names, lengths, _ = _bam_header(bams[0])
        chrom_sizes = dict(zip(names, lengths))
    chrom_sizes = dict(chrom_sizes)
    acc = _Accumulator(list(chrom_sizes), spill_bytes=max(0, int(params.memory_mb)) << 20)
    sizes = np.array(list(chrom_sizes.values()), dtype=np.int64)
    total = {"records": 0, "paired": 0, "kept": 0, "filtered": 0}
    from tqdm.auto import tqdm

    for p, fmt in zip(paths, formats):
        stats = np.zeros(4, dtype=np.int64)
        if fmt in ("bam", "sam"):
            names, lengths, _ = _bam_header(p)
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
            it = _iter_bam(p, params, shifts, stats) if fmt == "bam" else \
                _iter_sam(p, params, shifts, stats)
            n_unknown = 0
            for tid, pos, rev in tqdm(it, desc=p.name, unit=" chunks", leave=False,
                                      disable=None):
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
            for tid, pos, rev in _iter_text(p, fmt, shifts, acc.index, stats):
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


def write_bigwig(path: str | os.PathLike, chrom_sizes: Mapping[str, int],
                 entries: Iterator[tuple[str, np.ndarray, np.ndarray]],
                 zoom_levels: int = 0, threads: int = 2) -> Path:
    """Write a bigWig atomically from ``(chrom, sorted positions, values)`` in header order.

    Without zoom levels bpnetkit's own writer is used (blocks compressed on ``threads``);
    with zoom levels, pyBigWig.
    """
    from bpnetkit.utils import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        if zoom_levels == 0 and len(chrom_sizes) <= 65535:
            from bpnetkit.io._bigwig_writer import write_sparse_bigwig

            write_sparse_bigwig(tmp, chrom_sizes, entries, threads=threads, level=3)
            return path
        import pyBigWig

        bw = pyBigWig.open(str(tmp), "w")
        bw.addHeader([(c, int(s)) for c, s in chrom_sizes.items()], maxZooms=int(zoom_levels))
        for chrom, pos, val in entries:
            if len(pos):
                bw.addEntries(chrom, np.asarray(pos, dtype=np.int64),
                              values=np.asarray(val, dtype=np.float64), span=1)
        bw.close()
    return path


def reads_to_bigwig(inputs: Sequence[str | os.PathLike], output_prefix: str | os.PathLike,
                    chrom_sizes: Mapping[str, int] | None = None,
                    params: Bam2BwParams | None = None, **kwargs) -> dict[str, str]:
    """Count read 5' ends and write bigWigs; returns ``{"plus": .., "minus": ..}`` or
    ``{"signal": ..}``. ``kwargs`` override :class:`Bam2BwParams` fields."""
    import dataclasses

    params = dataclasses.replace(params or Bam2BwParams(), **kwargs)
    acc, sizes, stats = count_read_ends(inputs, chrom_sizes, params)
    try:
        prefix = str(output_prefix)
        names = list(sizes)

        def entries(strands):
            for t, c in enumerate(names):
                parts = [acc.get(t, s) for s in strands]
                p, v = _merge([x for x in parts if len(x[0])]) if len(parts) > 1 else parts[0]
                yield c, p, v

        if params.stranded:
            out = {"plus": str(write_bigwig(prefix + ".plus.bw", sizes, entries([0]),
                                                  params.zoom_levels, params.threads)),
                   "minus": str(write_bigwig(prefix + ".minus.bw", sizes, entries([1]),
                                             params.zoom_levels, params.threads))}
        else:
            out = {"signal": str(write_bigwig(prefix + ".bw", sizes, entries([0, 1]),
                                                    params.zoom_levels, params.threads))}
    finally:
        acc.close()
    log.info("bam2bw: %d records, %d counted, %d filtered.", stats["records"], stats["kept"],
             stats["filtered"])
    return out


def run_bam2bw(params: Bam2BwParams) -> dict[str, str]:
    """Run the ``bam2bw`` step: reads -> bigWig(s) in ``params.output_dir``.

    Returns
    -------
    dict
        Output name -> path: ``plus``/``minus`` or ``signal``, and ``params``.
    """
    from bpnetkit.config import dump_config

    out_dir = Path(params.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = None
    if params.chrom_sizes:
        sizes = read_chrom_sizes(params.chrom_sizes)
    elif params.genome:
        from bpnetkit.io.fasta import Genome
        sizes = Genome(params.genome).chrom_sizes
    out = reads_to_bigwig(params.inputs, out_dir / params.name, sizes, params)
    pj = out_dir / f"{params.name}.bam2bw.params.json"
    dump_config(params, pj)
    out["params"] = str(pj)
    return out
