"""A fast writer for sparse base-resolution bigWigs (variableStep items of span 1).

Items are packed with numpy, data blocks are zlib-compressed on threads (zlib releases the
GIL), and the chromosome B+ tree and the R-tree index are written as the bigWig format
specifies. No zoom levels are written (readers then summarise from the data).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

BIGWIG_MAGIC = 0x888FFC26
CHROM_TREE_MAGIC = 0x78CA8C91
RTREE_MAGIC = 0x2468ACE0
ITEMS_PER_SLOT = 1024
BLOCK_SIZE = 256


def _section(cid: int, pos: np.ndarray, val: np.ndarray) -> bytes:
    head = struct.pack("<IIIIIBBH", cid, int(pos[0]), int(pos[-1]) + 1, 0, 1, 2, 0, len(pos))
    items = np.empty((len(pos), 2), dtype=np.uint32)
    items[:, 0] = pos
    items[:, 1] = val.astype(np.float32).view(np.uint32)
    return head + items.tobytes()


def write_sparse_bigwig(path: str | Path, chrom_sizes: Mapping[str, int],
                        entries: Iterable[tuple[str, np.ndarray, np.ndarray]],
                        threads: int = 2, level: int = 6) -> None:
    """Write ``(chrom, sorted positions, values)`` (header order) as a bigWig at ``path``."""
    names = list(chrom_sizes)
    if len(names) > 65535:
        raise ValueError("too many chromosomes for the fast writer")
    cid_of = {c: i for i, c in enumerate(names)}
    pool = ThreadPoolExecutor(max_workers=max(1, threads))
    leaves = []  # (cid, start, end, offset, size)
    covered, vmin, vmax, vsum, vsq = 0, np.inf, -np.inf, 0.0, 0.0
    with open(path, "wb") as fh:
        fh.write(b"\0" * 64)  # header, rewritten at the end
        total_summary_off = fh.tell()
        fh.write(b"\0" * 40)
        # chromosome B+ tree: one leaf holding every chromosome
        ctree_off = fh.tell()
        key_size = max(1, max(len(c.encode()) for c in names))
        fh.write(struct.pack("<IIIIQQ", CHROM_TREE_MAGIC, len(names), key_size, 8, len(names), 0))
        fh.write(struct.pack("<BBH", 1, 0, len(names)))
        for c in names:
            fh.write(c.encode().ljust(key_size, b"\0"))
            fh.write(struct.pack("<II", cid_of[c], int(chrom_sizes[c])))
        data_off = fh.tell()
        fh.write(b"\0" * 8)  # number of blocks, rewritten later
        max_ubuf = 0
        for chrom, pos, val in entries:
            pos = np.asarray(pos, dtype=np.int64)
            val = np.asarray(val, dtype=np.float64)
            if not len(pos):
                continue
            cid = cid_of[chrom]
            covered += len(pos)
            vmin, vmax = min(vmin, float(val.min())), max(vmax, float(val.max()))
            vsum += float(val.sum())
            vsq += float((val * val).sum())
            cuts = list(range(0, len(pos), ITEMS_PER_SLOT)) + [len(pos)]
            raws = [_section(cid, pos[a:b], val[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
            max_ubuf = max(max_ubuf, max(len(r) for r in raws))
            for (a, b), comp in zip(zip(cuts[:-1], cuts[1:]),
                                    pool.map(lambda r: zlib.compress(r, level), raws)):
                leaves.append((cid, int(pos[a]), int(pos[b - 1]) + 1, fh.tell(), len(comp)))
                fh.write(comp)
        pool.shutdown()
        index_off = fh.tell()
        _write_rtree(fh, leaves)
        # header
        fh.seek(0)
        fh.write(struct.pack("<IHHQQQHHQQIQ", BIGWIG_MAGIC, 4, 0, ctree_off, data_off, index_off,
                             0, 0, 0, total_summary_off, max(max_ubuf, 1), 0))
        fh.seek(total_summary_off)
        if covered == 0:
            vmin = vmax = 0.0
        fh.write(struct.pack("<Qdddd", covered, vmin, vmax, vsum, vsq))
        fh.seek(data_off)
        fh.write(struct.pack("<Q", len(leaves)))


def _write_rtree(fh, leaves: list[tuple]) -> None:
    """Write the R-tree index (root first) over the data blocks."""
    n = len(leaves)
    if n:
        end_chrom, end_base = leaves[-1][0], leaves[-1][2]
        start_chrom, start_base = leaves[0][0], leaves[0][1]
    else:
        start_chrom = start_base = end_chrom = end_base = 0
    base = fh.tell()
    fh.write(struct.pack("<IIQIIIIQII", RTREE_MAGIC, BLOCK_SIZE, n, start_chrom, start_base,
                         end_chrom, end_base, 0, ITEMS_PER_SLOT, 0))
    # levels bottom-up: level 0 = leaf nodes over blocks; then parents until one root
    levels = []  # each: list of nodes; node = list of child bounds (c0, s0, c1, e1)
    items = [(c, s, c, e) for c, s, e, _, _ in leaves]
    nodes = [items[i:i + BLOCK_SIZE] for i in range(0, max(n, 1), BLOCK_SIZE)] if n else [[]]
    levels.append(nodes)
    while len(levels[-1]) > 1:
        bounds = [(nd[0][0], nd[0][1], nd[-1][2], nd[-1][3]) for nd in levels[-1]]
        levels.append([bounds[i:i + BLOCK_SIZE] for i in range(0, len(bounds), BLOCK_SIZE)])
    # sizes and offsets: root level first
    offset = base + 48
    level_offsets = []
    for depth in range(len(levels) - 1, -1, -1):
        offs = []
        leaf = depth == 0
        for nd in levels[depth]:
            offs.append(offset)
            offset += 4 + len(nd) * (32 if leaf else 24)
        level_offsets.append((depth, offs))
    off_of = dict(level_offsets)
    for depth in range(len(levels) - 1, -1, -1):
        leaf = depth == 0
        for k, nd in enumerate(levels[depth]):
            buf = [struct.pack("<BBH", 1 if leaf else 0, 0, len(nd))]
            for j, (c0, s0, c1, e1) in enumerate(nd):
                if leaf:
                    blk = leaves[k * BLOCK_SIZE + j]
                    buf.append(struct.pack("<IIIIQQ", c0, s0, c1, e1, blk[3], blk[4]))
                else:
                    child = off_of[depth - 1][k * BLOCK_SIZE + j]
                    buf.append(struct.pack("<IIIIQ", c0, s0, c1, e1, child))
            fh.write(b"".join(buf))
    end = fh.tell()
    fh.seek(base + 32)
    fh.write(struct.pack("<Q", end))
    fh.seek(end)
