"""Read files: BAM, SAM, fragment files and BED reads, parsed into arrays of read 5' ends.

Every iterator yields chunks ``(tid int32, pos int64, reverse uint8)``: reference index, 5'
position (already shifted by the strand's shift) and strand (0 = ``+``, 1 = ``-``), and adds
to a ``stats`` array (int64[4]: records seen, paired records, kept, filtered).

- BAM: BGZF blocks decompressed by zlib in threads, records parsed by a numba kernel
  (:mod:`bpnetkit.io._kernels`) with
  flag/MAPQ filtering; only what counting read ends needs is decoded; the header is read with
  pysam (:func:`bam_header`).
- SAM: through pysam.
- Fragment files (``.tsv``/``.tsv.gz``, 10x/ArchR: chrom, start, end, ...): both fragment
  ends, the start as ``+`` and ``end - 1`` as ``-``.
- BED reads: strand in column 6; the 5' end is ``start`` on ``+`` and ``end - 1`` on ``-``.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.utils import is_gzip

FORMATS = ("bam", "sam", "fragments", "bed")

# flag bits
PAIRED, PROPER, UNMAPPED, MATE_UNMAPPED, REVERSE = 0x1, 0x2, 0x4, 0x8, 0x10
SECONDARY, QCFAIL, DUPLICATE, SUPPLEMENTARY = 0x100, 0x200, 0x400, 0x800


def iter_bgzf_blocks(path, chunk_bytes: int = 8 << 20, threads: int = 2) -> Iterator[bytes]:
    """Yield decompressed data of a BGZF file, a few MB at a time."""
    pool = ThreadPoolExecutor(max_workers=max(1, threads)) if threads > 1 else None
    try:
        with open(path, "rb") as fh:
            rest = b""
            while True:
                data = fh.read(chunk_bytes)
                buf = rest + data
                blocks, pos = [], 0
                n = len(buf)
                while pos + 18 <= n:
                    if buf[pos:pos + 4] != b"\x1f\x8b\x08\x04":
                        raise InputError(f"'{path}' is not a valid BGZF/BAM file (bad block "
                                         f"header at byte {pos}).")
                    xlen = struct.unpack_from("<H", buf, pos + 10)[0]
                    # find the BC subfield
                    x, bsize = pos + 12, -1
                    while x < pos + 12 + xlen:
                        si1, si2, slen = buf[x], buf[x + 1], struct.unpack_from("<H", buf, x + 2)[0]
                        if si1 == 66 and si2 == 67:
                            bsize = struct.unpack_from("<H", buf, x + 4)[0]
                        x += 4 + slen
                    if bsize < 0:
                        raise InputError(f"'{path}' is gzip but not BGZF; a BAM file is needed.")
                    end = pos + bsize + 1
                    if end > n:
                        break
                    blocks.append(memoryview(buf)[pos + 12 + xlen:end - 8])
                    pos = end
                rest = buf[pos:]
                if blocks:
                    if pool is not None and len(blocks) > 4:
                        out = list(pool.map(_inflate, blocks))
                    else:
                        out = [_inflate(b) for b in blocks]
                    yield b"".join(out)
                if not data:
                    if rest:
                        raise InputError(f"'{path}' is truncated (incomplete last block); "
                                         f"re-create the BAM file.")
                    return
    finally:
        if pool is not None:
            pool.shutdown()


def _inflate(block) -> bytes:
    from bpnetkit.io.bigwig import zlib_decompressor  # ISA-L when installed, else zlib

    try:
        return zlib_decompressor()(block, -15)
    except zlib.error as e:
        raise InputError(f"corrupt BAM block ({e}); the file is damaged, re-create it.") \
            from None


def skip_header(data: bytes) -> int:
    """Byte offset of the first alignment record in decompressed BAM data (or -1 if more data
    is needed)."""
    if len(data) < 12:
        return -1
    if data[:4] != b"BAM\x01":
        raise InputError("not a BAM file (missing 'BAM\\1' magic).")
    l_text = struct.unpack_from("<i", data, 4)[0]
    p = 8 + l_text
    if len(data) < p + 4:
        return -1
    n_ref = struct.unpack_from("<i", data, p)[0]
    p += 4
    for _ in range(n_ref):
        if len(data) < p + 4:
            return -1
        l_name = struct.unpack_from("<i", data, p)[0]
        p += 4 + l_name + 4
        if len(data) < p:
            return -1
    return p


def iter_bam_ends(path, min_mapq: int = 0, skip_mask: int = 0, require_mask: int = 0,
                  shift_plus: int = 0, shift_minus: int = 0, chunk_records: int = 1 << 21,
                  threads: int = 2, stats: np.ndarray | None = None
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(tid int32, pos int64, reverse uint8)`` arrays of read 5' ends, in chunks.

    ``pos`` already includes the strand's shift. ``stats`` (int64[4]) accumulates records
    seen, paired records, kept records and filtered records.
    """
    from bpnetkit.io._kernels import parse_records

    if stats is None:
        stats = np.zeros(4, dtype=np.int64)
    tid = np.empty(chunk_records, dtype=np.int32)
    pos = np.empty(chunk_records, dtype=np.int64)
    rev = np.empty(chunk_records, dtype=np.uint8)
    pending = b""
    header_done = False
    for data in iter_bgzf_blocks(path, threads=threads):
        buf = pending + data if pending else data
        off = 0
        if not header_done:
            off = skip_header(buf)
            if off < 0:
                pending = buf
                continue
            header_done = True
        arr = np.frombuffer(buf, dtype=np.uint8)
        while True:
            k, off = parse_records(arr, off, min_mapq, skip_mask, require_mask, shift_plus,
                                   shift_minus, tid, pos, rev, stats)
            if k:
                yield tid[:k].copy(), pos[:k].copy(), rev[:k].copy()
            if k < chunk_records:
                break
        pending = buf[off:]
    if not header_done:
        raise InputError(f"'{path}' ends inside the BAM header; the file is truncated.")
    if pending:
        raise InputError(f"'{path}' ends inside an alignment record; the file is truncated.")


def detect_format(path: str | os.PathLike) -> str:
    """Guess ``bam``, ``sam``, ``fragments`` or ``bed`` from the content and name.

    Raises
    ------
    InputError
        For a damaged compressed file, a ``.bam`` that is not BAM, CRAM, or an unknown name.
    """
    path = Path(path)
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


def bam_header(path: str | os.PathLike) -> tuple[list[str], list[int], str]:
    """Reference names, lengths and sort order (``@HD SO``) of a BAM/SAM file."""
    import pysam

    try:
        with pysam.AlignmentFile(str(path), "rb", check_sq=False) as f:
            so = f.header.to_dict().get("HD", {}).get("SO", "unknown")
            return list(f.references), list(f.lengths), so
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read BAM file '{path}': {e}. Check that it is a complete "
                         f"BAM file (samtools quickcheck).") from None


def flag_masks(*, paired_end: bool = False, proper_pairs_only: bool = True,
               skip_duplicates: bool = False, skip_secondary: bool = True,
               skip_supplementary: bool = True, skip_qcfail: bool = True) -> tuple[int, int]:
    """SAM flag masks ``(skip, require)``: a record is kept when ``flag & skip == 0`` and
    ``flag & require == require``. Unmapped reads are always skipped; paired-end mode skips
    reads whose mate is unmapped and requires the paired (and, optionally, proper) bit."""
    skip = UNMAPPED
    if skip_duplicates:
        skip |= DUPLICATE
    if skip_secondary:
        skip |= SECONDARY
    if skip_supplementary:
        skip |= SUPPLEMENTARY
    if skip_qcfail:
        skip |= QCFAIL
    require = 0
    if paired_end:
        skip |= MATE_UNMAPPED
        require |= PAIRED
        if proper_pairs_only:
            require |= PROPER
    return skip, require


def iter_sam_ends(path: str | os.PathLike, min_mapq: int = 0, skip_mask: int = 0,
                  require_mask: int = 0, shift_plus: int = 0, shift_minus: int = 0,
                  stats: np.ndarray | None = None, chunk_records: int = 1 << 18
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Like :func:`iter_bam_ends` for a SAM file (read through pysam)."""
    import pysam

    if stats is None:
        stats = np.zeros(4, dtype=np.int64)
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
            if (flag & skip_mask) or (flag & require_mask) != require_mask or \
                    r.mapping_quality < min_mapq or r.reference_id < 0:
                stats[3] += 1
                continue
            stats[2] += 1
            tid.append(r.reference_id)
            if flag & 0x10:
                pos.append((r.reference_end or r.reference_start + 1) - 1 + shift_minus)
                rev.append(1)
            else:
                pos.append(r.reference_start + shift_plus)
                rev.append(0)
            if len(tid) >= chunk_records:
                yield (np.array(tid, np.int32), np.array(pos, np.int64), np.array(rev, np.uint8))
                tid, pos, rev = [], [], []
    if tid:
        yield np.array(tid, np.int32), np.array(pos, np.int64), np.array(rev, np.uint8)


def text_chunks(path: str | os.PathLike, chunk_bytes: int = 16 << 20) -> Iterator[bytes]:
    """Blocks of complete lines of a plain or gzip-compressed text file, as bytes."""
    path = Path(path)
    opener = gzip.open if is_gzip(path) else open
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


def iter_text_ends(path: str | os.PathLike, fmt: str, names: Mapping[str, int],
                   shift_plus: int = 0, shift_minus: int = 0,
                   stats: np.ndarray | None = None
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Read ends of a fragment file (``fmt="fragments"``: both ends) or BED reads
    (``fmt="bed"``: the 5' end by strand); ``names`` maps chromosome names to ``tid``.

    Raises
    ------
    InputError
        For a malformed line, a chromosome not in ``names``, an interval with end <= start
        or a BED read without strand (each naming file and line).
    """
    from bpnetkit.io._kernels import parse_bed_lines
    from bpnetkit.io.fasta import suggest_chrom_fix

    path = Path(path)
    if stats is None:
        stats = np.zeros(4, dtype=np.int64)
    strand_col = 5 if fmt == "bed" else -1
    line0 = 0
    for buf in text_chunks(path):
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
            yield (np.r_[tid, tid], np.r_[s + shift_plus, e - 1 + shift_minus],
                   np.r_[np.zeros(len(s), np.uint8), np.ones(len(s), np.uint8)])
        else:
            if (st == 3).any():
                i = int(np.flatnonzero(st == 3)[0])
                raise InputError(f"{path.name}: a BED read has strand other than '+' or '-' "
                                 f"(column 6) near line {line0 - k + i + 1}; reads need a "
                                 f"strand to locate their 5' end.")
            rev = (st == 2).astype(np.uint8)
            yield tid, np.where(rev == 1, e - 1 + shift_minus, s + shift_plus), rev
