"""A fast BAM record reader: BGZF blocks decompressed by zlib in threads, records parsed by a
numba kernel into arrays (reference id, 5' position, strand) with flag/MAPQ filtering.

Only what counting read ends needs is decoded; the header is read with pysam.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from bpnetkit.errors import InputError

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
    try:
        return zlib.decompress(block, -15)
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


@numba.njit(cache=True, nogil=True)
def parse_records(buf, start, min_mapq, skip_mask, require_mask, shift_plus, shift_minus,
                  tid_out, pos_out, rev_out, stats):
    """Parse complete records from ``buf[start:]``; return (n_records_kept, next_offset).

    stats[0] += records seen, stats[1] += paired records seen, stats[2] += kept,
    stats[3] += filtered by flags/MAPQ.
    """
    n = buf.shape[0]
    p = start
    k = 0
    cap = tid_out.shape[0]
    while p + 4 <= n and k < cap:
        bs = buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (np.int64(buf[p + 3]) << 24)
        if p + 4 + bs > n:
            break
        q = p + 4
        tid = np.int32(buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16)
                       | (np.int64(buf[q + 3]) << 24))
        pos = np.int64(np.int32(buf[q + 4] | (buf[q + 5] << 8) | (buf[q + 6] << 16)
                                | (np.int64(buf[q + 7]) << 24)))
        l_name = buf[q + 8]
        mapq = buf[q + 9]
        n_cig = buf[q + 12] | (buf[q + 13] << 8)
        flag = buf[q + 14] | (buf[q + 15] << 8)
        stats[0] += 1
        if flag & 1:
            stats[1] += 1
        p = p + 4 + bs
        if (flag & skip_mask) or (flag & require_mask) != require_mask or mapq < min_mapq \
                or tid < 0:
            stats[3] += 1
            continue
        if flag & 0x10:
            c = q + 32 + l_name
            span = np.int64(0)
            for _ in range(n_cig):
                v = np.int64(buf[c] | (buf[c + 1] << 8) | (buf[c + 2] << 16)
                             | (np.int64(buf[c + 3]) << 24))
                op = v & 0xF
                # M, D, N, =, X consume the reference
                if op == 0 or op == 2 or op == 3 or op == 7 or op == 8:
                    span += v >> 4
                c += 4
            if span == 0:
                span = 1
            pos_out[k] = pos + span - 1 + shift_minus
            rev_out[k] = 1
        else:
            pos_out[k] = pos + shift_plus
            rev_out[k] = 0
        tid_out[k] = tid
        k += 1
        stats[2] += 1
    return k, p


def iter_bam_ends(path, min_mapq: int = 0, skip_mask: int = 0, require_mask: int = 0,
                  shift_plus: int = 0, shift_minus: int = 0, chunk_records: int = 1 << 21,
                  threads: int = 2, stats: np.ndarray | None = None
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(tid int32, pos int64, reverse uint8)`` arrays of read 5' ends, in chunks.

    ``pos`` already includes the strand's shift. ``stats`` (int64[4]) accumulates records
    seen, paired records, kept records and filtered records.
    """
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
