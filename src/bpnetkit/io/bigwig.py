"""A small bigWig reader for many loci at once.

Reads the header, the chromosome B+ tree and the R-tree leaves of the full-resolution data
once; then fills dense per-base arrays for sorted clusters of loci by inflating only the data
blocks that overlap them and decoding their items (bedGraph, variableStep, fixedStep) in a numba
kernel. Files that are not little-endian bigWigs are left to pyBigWig by the caller.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numba
import numpy as np

BIGWIG_MAGIC = 0x888FFC26
CHROM_TREE_MAGIC = 0x78CA8C91
RTREE_MAGIC = 0x2468ACE0


class UnsupportedBigWig(Exception):
    """The file needs the general reader (pyBigWig)."""


class BigWigReader:
    """Dense values of many loci from one bigWig file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "rb")
        try:
            self._read_header()
        except (struct.error, IndexError, ValueError) as e:
            self._fh.close()
            raise UnsupportedBigWig(str(e)) from None

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, offset: int, size: int) -> bytes:
        self._fh.seek(offset)
        data = self._fh.read(size)
        if len(data) != size:
            raise ValueError("truncated bigWig")
        return data

    def _read_header(self) -> None:
        h = self._read(0, 64)
        (magic, _version, _zooms, ctree, _data, index, _fc, _dfc, _asql, _summary, ubuf,
         _ext) = struct.unpack("<IHHQQQHHQQIQ", h)
        if magic != BIGWIG_MAGIC:
            raise UnsupportedBigWig("not a little-endian bigWig")
        self.compressed = ubuf > 0
        # chromosome B+ tree
        m, _bs, key_size, _val_size, _count, _ = struct.unpack("<IIIIQQ", self._read(ctree, 32))
        if m != CHROM_TREE_MAGIC:
            raise UnsupportedBigWig("bad chromosome tree")
        self.chroms: dict[str, tuple[int, int]] = {}
        self._walk_chrom_tree(ctree + 32, key_size)
        # R-tree of data blocks
        hdr = struct.unpack("<IIQIIIIQII", self._read(index, 48))
        if hdr[0] != RTREE_MAGIC:
            raise UnsupportedBigWig("bad R-tree index")
        leaves: list[tuple] = []
        self._walk_rtree(index + 48, leaves)
        arr = np.array(leaves, dtype=np.int64).reshape(-1, 6)
        order = np.lexsort((arr[:, 1], arr[:, 0]))
        arr = arr[order]
        self.b_chrom, self.b_start = arr[:, 0], arr[:, 1]
        self.b_end_chrom, self.b_end = arr[:, 2], arr[:, 3]
        self.b_offset, self.b_size = arr[:, 4], arr[:, 5]
        self.id_to_name = {i: n for n, (i, _) in self.chroms.items()}
        self._cache: dict[int, tuple] = {}
        self._ubuf = ubuf
        if (self.b_chrom != self.b_end_chrom).any():
            raise UnsupportedBigWig("data blocks span several chromosomes")
        # per chromosome: its block range and a running max of block ends (for searchsorted)
        self._ranges: dict[int, tuple[int, int]] = {}
        if len(self.b_chrom):
            cuts = np.flatnonzero(np.diff(self.b_chrom)) + 1
            heads = np.r_[0, cuts]
            tails = np.r_[cuts, len(self.b_chrom)]
            for a, b in zip(heads, tails):
                self._ranges[int(self.b_chrom[a])] = (int(a), int(b))
        self._end_max = np.zeros(len(self.b_end), dtype=np.int64)
        for a, b in self._ranges.values():
            self._end_max[a:b] = np.maximum.accumulate(self.b_end[a:b])

    def _walk_chrom_tree(self, offset: int, key_size: int) -> None:
        is_leaf, _, count = struct.unpack("<BBH", self._read(offset, 4))
        item = key_size + 8
        data = self._read(offset + 4, count * item)
        for k in range(count):
            rec = data[k * item:(k + 1) * item]
            name = rec[:key_size].rstrip(b"\x00").decode()
            if is_leaf:
                cid, size = struct.unpack("<II", rec[key_size:])
                self.chroms[name] = (cid, size)
            else:
                (child,) = struct.unpack("<Q", rec[key_size:])
                self._walk_chrom_tree(child, key_size)

    def _walk_rtree(self, offset: int, leaves: list) -> None:
        is_leaf, _, count = struct.unpack("<BBH", self._read(offset, 4))
        if is_leaf:
            data = self._read(offset + 4, count * 32)
            for k in range(count):
                leaves.append(struct.unpack_from("<IIIIQQ", data, k * 32))
        else:
            data = self._read(offset + 4, count * 24)
            for k in range(count):
                child = struct.unpack_from("<IIIIQ", data, k * 24)[4]
                self._walk_rtree(child, leaves)

    def chrom_sizes(self) -> dict[str, int]:
        """Chromosome name -> size."""
        return {n: s for n, (_, s) in self.chroms.items()}

    def _block(self, b: int) -> bytes:
        raw = self._read(int(self.b_offset[b]), int(self.b_size[b]))
        if self.compressed:
            raw = zlib.decompress(raw, bufsize=max(self._ubuf, 1024))
        if len(raw) % 4:
            raise UnsupportedBigWig("unexpected data block length")
        return raw

    def read_loci(self, chrom: str, starts: np.ndarray, length: int, out: np.ndarray,
                  rows: np.ndarray, track: int, batch: int = 4096) -> int:
        """Write values of ``[starts, starts + length)`` (sorted, inside the chromosome) into
        ``out[rows, track]`` (pre-zeroed); returns the number of loci without any data."""
        cid = self.chroms[chrom][0]
        if cid not in self._ranges:
            return len(starts)
        c0, c1 = self._ranges[cid]
        first = c0 + np.searchsorted(self._end_max[c0:c1], starts, side="right")
        last = c0 + np.searchsorted(self.b_start[c0:c1], starts + length, side="left")
        empty = 0
        for a in range(0, len(starts), batch):
            b = min(a + batch, len(starts))
            f, l_ = first[a:b], last[a:b]
            lo_b, hi_b = int(f.min()), int(l_.max())
            if hi_b <= lo_b:
                empty += b - a
                continue
            diff = np.zeros(hi_b - lo_b + 1, dtype=np.int64)
            ok = l_ > f
            np.add.at(diff, f[ok] - lo_b, 1)
            np.add.at(diff, l_[ok] - lo_b, -1)
            need = np.flatnonzero(np.cumsum(diff)[:-1] > 0) + lo_b
            slot = np.full(hi_b - lo_b, -1, dtype=np.int64)
            slot[need - lo_b] = np.arange(len(need))
            parts = [self._block(int(k)) for k in need]
            offs = np.zeros(len(parts) + 1, dtype=np.int64)
            np.cumsum([len(x) for x in parts], out=offs[1:])
            data = b"".join(parts)
            empty += fill_loci(np.frombuffer(data, np.uint8), np.frombuffer(data, np.uint32),
                               np.frombuffer(data, np.float32), offs, slot, lo_b, f, l_,
                               starts[a:b], length, cid, out, rows[a:b], track)
        return empty

    def fill(self, chrom: str, lo: int, hi: int, span: np.ndarray, cov: np.ndarray) -> None:
        """Add values of ``[lo, hi)`` into ``span`` (float32) and mark covered bases in ``cov``."""
        cid = self.chroms[chrom][0]
        sel = np.flatnonzero((self.b_chrom <= cid) & (self.b_end_chrom >= cid)
                             & ~((self.b_chrom == cid) & (self.b_start >= hi))
                             & ~((self.b_end_chrom == cid) & (self.b_end <= lo)))
        for b in sel:
            views = self._cache.get(int(b))
            if views is None:
                raw = self._read(int(self.b_offset[b]), int(self.b_size[b]))
                if self.compressed:
                    raw = zlib.decompress(raw, bufsize=max(self._ubuf, 1024))
                if len(raw) % 4:
                    raise UnsupportedBigWig("unexpected data block length")
                views = (np.frombuffer(raw, dtype=np.uint8), np.frombuffer(raw, dtype=np.uint32),
                         np.frombuffer(raw, dtype=np.float32))
                self._cache[int(b)] = views
                if len(self._cache) > 32:  # loci come sorted: keep the most recent blocks
                    self._cache.pop(next(iter(self._cache)))
            decode_block(*views, cid, lo, hi, span, cov)


@numba.njit(cache=True, nogil=True)
def decode_block(buf, u32, f32, cid, lo, hi, span, cov):
    """Decode the sections of one inflated data block into ``span``/``cov`` over [lo, hi).

    ``buf``, ``u32`` and ``f32`` are views of the same bytes (sections and items are 4-byte
    aligned).
    """
    n = buf.shape[0]
    p = 0
    while p + 24 <= n:
        chrom = np.int64(u32[p >> 2])
        c_start = np.int64(u32[(p + 4) >> 2])
        step = np.int64(u32[(p + 12) >> 2])
        ispan = np.int64(u32[(p + 16) >> 2])
        typ = buf[p + 20]
        count = np.int64(buf[p + 22]) | (np.int64(buf[p + 23]) << 8)
        p += 24
        size = 12 if typ == 1 else (8 if typ == 2 else 4)
        if chrom != cid:
            p += count * size
            continue
        for k in range(count):
            if typ == 1:
                s = np.int64(u32[p >> 2])
                e = np.int64(u32[(p + 4) >> 2])
                vp = p + 8
            elif typ == 2:
                s = np.int64(u32[p >> 2])
                e = s + ispan
                vp = p + 4
            else:
                s = c_start + k * step
                e = s + ispan
                vp = p
            p += size
            if e <= lo or s >= hi:
                continue
            v = f32[vp >> 2]
            a = max(s, lo) - lo
            z = min(e, hi) - lo
            if v != v:  # NaN
                continue
            for j in range(a, z):
                span[j] = v
                cov[j] = 1


@numba.njit(cache=True, nogil=True)
def copy_loci(span, cov, offs, idx, t, length, out):
    """Copy windows of ``span`` at ``offs`` into ``out[idx, t]``; return loci without data."""
    empty = 0
    for k in range(offs.shape[0]):
        o = offs[k]
        i = idx[k]
        out[i, t, :] = span[o:o + length]
        nonzero = False
        for j in range(length):
            if span[o + j] != 0:
                nonzero = True
                break
        if not nonzero:
            any_data = False
            for j in range(length):
                if cov[o + j]:
                    any_data = True
                    break
            if not any_data:
                empty += 1
    return empty


@numba.njit(cache=True, nogil=True)
def fill_loci(buf, u32, f32, offs, slot, lo_b, first, last, starts, length, cid, out, rows,
              track):
    """Decode the items of each locus's blocks straight into ``out[rows[i], track]``."""
    empty = 0
    for i in range(starts.shape[0]):
        s = starts[i]
        e = s + length
        row = rows[i]
        covered = False
        for blk in range(first[i], last[i]):
            k = slot[blk - lo_b]
            p = offs[k]
            end_blk = offs[k + 1]
            while p + 24 <= end_blk:
                chrom = np.int64(u32[p >> 2])
                c_start = np.int64(u32[(p + 4) >> 2])
                step = np.int64(u32[(p + 12) >> 2])
                ispan = np.int64(u32[(p + 16) >> 2])
                typ = buf[p + 20]
                count = np.int64(buf[p + 22]) | (np.int64(buf[p + 23]) << 8)
                p += 24
                size = 12 if typ == 1 else (8 if typ == 2 else 4)
                sec_end = p + count * size
                if chrom != cid:
                    p = sec_end
                    continue
                # first item that may overlap [s, e): binary search on item ends
                lo_i = 0
                hi_i = count
                if typ == 3:
                    if step > 0:
                        lo_i = max(0, (s - c_start - ispan) // step)
                else:
                    while lo_i < hi_i:
                        mid = (lo_i + hi_i) >> 1
                        q = p + mid * size
                        if typ == 1:
                            item_end = np.int64(u32[(q + 4) >> 2])
                        else:
                            item_end = np.int64(u32[q >> 2]) + ispan
                        if item_end <= s:
                            lo_i = mid + 1
                        else:
                            hi_i = mid
                for kk in range(lo_i, count):
                    q = p + kk * size
                    if typ == 1:
                        a = np.int64(u32[q >> 2])
                        z = np.int64(u32[(q + 4) >> 2])
                        v = f32[(q + 8) >> 2]
                    elif typ == 2:
                        a = np.int64(u32[q >> 2])
                        z = a + ispan
                        v = f32[(q + 4) >> 2]
                    else:
                        a = c_start + kk * step
                        z = a + ispan
                        v = f32[q >> 2]
                    if a >= e:
                        break
                    if z <= s or v != v:
                        continue
                    covered = True
                    for j in range(max(a, s) - s, min(z, e) - s):
                        out[row, track, j] = v
                p = sec_end
        if not covered:
            empty += 1
    return empty
