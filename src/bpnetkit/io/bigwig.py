"""bigWig files: reading many loci at once, and writing sparse base-resolution tracks.

Reading: :class:`BigWigReader` reads the header, the chromosome B+ tree and the R-tree leaves
of the full-resolution data once; then fills dense per-base arrays for sorted clusters of loci
by inflating only the data blocks that overlap them and decoding their items (bedGraph,
variableStep, fixedStep) in numba kernels (:mod:`bpnetkit.io._kernels`, imported on first
read). Files that are not little-endian bigWigs are left to pyBigWig (:func:`open_bigwig`) by
the caller.

Inflating the data blocks is most of the reading time; :func:`zlib_decompressor` picks the
fastest installed inflater (ISA-L through the optional ``isal`` package, about 2x zlib on these
blocks; else the standard library's zlib). Both return the same bytes.

Writing: :func:`write_bigwig` writes ``(chrom, positions, values)`` atomically; without zoom
levels :func:`write_sparse_bigwig` packs variableStep items of span 1 with numpy, compresses
data blocks on threads (zlib releases the GIL) and writes the chromosome B+ tree and R-tree
index as the format specifies; with zoom levels pyBigWig writes the file.
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.utils import atomic_path

BIGWIG_MAGIC = 0x888FFC26
CHROM_TREE_MAGIC = 0x78CA8C91
RTREE_MAGIC = 0x2468ACE0
ITEMS_PER_SLOT = 1024
BLOCK_SIZE = 256


def zlib_decompressor(prefer: str = "auto") -> Callable[..., bytes]:
    """The function that inflates zlib streams: ISA-L when installed, else zlib.

    The one place that decides which inflater bpnetkit uses. ISA-L (the optional ``isal``
    package, ``pip install bpnetkit[fast]``) inflates the blocks of a bigWig about twice as
    fast as the standard library's zlib; both release the GIL while inflating and return
    identical bytes.

    Parameters
    ----------
    prefer : {"auto", "isal", "zlib"}
        ``"auto"`` takes ISA-L when it can be imported, else zlib; ``"isal"`` requires it;
        ``"zlib"`` always takes the standard library.

    Returns
    -------
    callable
        ``decompress(data, wbits=15, bufsize=16384) -> bytes`` with the signature of
        :func:`zlib.decompress`; damaged input raises :class:`zlib.error` whichever library
        inflates it.

    Raises
    ------
    ValueError
        For an unknown ``prefer``.
    ImportError
        For ``prefer="isal"`` when the ``isal`` package is not installed.
    """
    if prefer not in ("auto", "isal", "zlib"):
        raise ValueError(f"prefer must be 'auto', 'isal' or 'zlib', got {prefer!r}.")
    isal = None if prefer == "zlib" else _isal_decompress()
    if isal is None and prefer == "isal":
        raise ImportError("the 'isal' package is not installed; install it with 'pip install "
                          "isal' (or 'pip install bpnetkit[fast]').")
    return zlib.decompress if isal is None else isal


@functools.cache
def _isal_decompress() -> Callable[..., bytes] | None:
    """ISA-L's inflate behind zlib's signature and error class; None when not installed."""
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    inflate, error = isal_zlib.decompress, isal_zlib.error

    def isal_decompress(data, wbits: int = zlib.MAX_WBITS,
                        bufsize: int = zlib.DEF_BUF_SIZE) -> bytes:
        try:
            return inflate(data, wbits=wbits, bufsize=bufsize)
        except error as e:  # callers handle zlib's error class
            raise zlib.error(str(e)) from None

    return isal_decompress


def open_bigwig(path: str | os.PathLike):
    """Open a bigWig for reading through pyBigWig, with a clear error when it is not one.

    Parameters
    ----------
    path : str or os.PathLike
        The bigWig.

    Returns
    -------
    pyBigWig file object
        Close it when done.
    """
    import pyBigWig

    p = require_file(path, "bigWig")
    try:
        bw = pyBigWig.open(str(p))
    except RuntimeError:
        bw = None
    if bw is None or not bw.isBigWig():
        raise InputError(f"'{p}' is not a readable bigWig file. Signals must be bigWig "
                         f"(convert reads with 'bpnetkit bam2bw', bedGraph with "
                         f"bedGraphToBigWig).")
    return bw


def bigwig_chrom_sizes(path: str | os.PathLike) -> dict[str, int]:
    """Chromosome sizes recorded in a bigWig header."""
    bw = open_bigwig(path)
    try:
        return dict(bw.chroms())
    finally:
        bw.close()


def bin_sums(paths: Iterable[str | os.PathLike], chrom: str, starts: np.ndarray,
             width: int) -> np.ndarray:
    """Total signal of bins ``[starts, starts + width)`` on one chromosome, summed over files.

    Missing data count as 0; a file without ``chrom`` adds nothing.

    Parameters
    ----------
    paths : iterable of paths
        bigWig files.
    chrom : str
        Chromosome.
    starts : numpy.ndarray
        Bin starts (int).
    width : int
        Bin width.

    Returns
    -------
    numpy.ndarray
        float64 ``(len(starts),)``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    total = np.zeros(len(starts))
    if not len(starts):
        return total
    regular = len(starts) > 1 and bool((np.diff(starts) == width).all())
    for p in paths:
        bw = open_bigwig(p)
        try:
            if chrom not in bw.chroms():
                continue
            if regular:
                lo = int(starts[0])
                v = bw.stats(chrom, lo, lo + width * len(starts), type="sum",
                             nBins=len(starts), exact=True)
                total += np.nan_to_num(np.array(v, dtype=float))
            else:
                for i, s in enumerate(starts):
                    v = bw.stats(chrom, int(s), int(s) + width, type="sum", exact=True)[0]
                    total[i] += 0.0 if v is None or np.isnan(v) else v
        finally:
            bw.close()
    return total


def write_bigwig(path: str | os.PathLike, chrom_sizes: Mapping[str, int],
                 entries: Iterator[tuple[str, np.ndarray, np.ndarray]],
                 zoom_levels: int = 0, threads: int = 2) -> Path:
    """Write a bigWig atomically from ``(chrom, sorted positions, values)`` in header order.

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    chrom_sizes : mapping
        Chromosome name -> size (the header, in order).
    entries : iterator of tuples
        ``(chrom, positions, values)``: items of span 1, positions sorted.
    zoom_levels : int
        0 writes no zoom levels with bpnetkit's own writer (blocks compressed on ``threads``);
        more uses pyBigWig.
    threads : int
        Compression threads of the own writer.

    Returns
    -------
    pathlib.Path
    """
    from bpnetkit.io._errors import writing

    path = Path(path)
    with writing(path), atomic_path(path) as tmp:
        if zoom_levels == 0 and len(chrom_sizes) <= 65535:
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
        """Bytes of data block ``b``; a damaged block is an InputError naming the file."""
        from bpnetkit.io._errors import decoding

        off, size = int(self.b_offset[b]), int(self.b_size[b])
        with decoding(self.path, "bigWig", item=f"data block {b} (bytes {off}-{off + size})",
                      fix="The file is damaged or truncated; re-create it (e.g. with "
                          "'bpnetkit bam2bw')."):
            raw = self._read(off, size)
            if self.compressed:
                raw = zlib_decompressor()(raw, bufsize=max(self._ubuf, 1024))
            if len(raw) % 4:
                raise ValueError(f"data block length {len(raw)} is not a multiple of 4")
        return raw

    def _blocks(self, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data blocks ``ks`` inflated into one buffer: ``(data, offsets)``, block ``i`` at
        ``data[offsets[i]:offsets[i + 1]]``.

        :meth:`_block` without its per-block set-up (a damaged block goes through it for the
        error). Each block is copied into the buffer as soon as it is inflated, so that the
        batch is held once (not as a list of blocks plus their concatenation); the buffer is
        sized by the header's largest block and its unused pages are never touched.
        """
        inflate = zlib_decompressor() if self.compressed else None
        bufsize = max(self._ubuf, 1024)
        sizes = self.b_size[ks]
        cap = len(ks) * min(bufsize, 1 << 20) if inflate is not None else int(sizes.sum())
        data = np.empty(cap, dtype=np.uint8)
        offs = np.zeros(len(ks) + 1, dtype=np.int64)
        fh, pos, i = self._fh, 0, 0
        try:
            for i, (off, size) in enumerate(zip(self.b_offset[ks].tolist(), sizes.tolist())):
                fh.seek(off)
                raw = fh.read(size)
                if len(raw) != size:
                    raise ValueError("truncated bigWig")
                if inflate is not None:
                    raw = inflate(raw, bufsize=bufsize)
                if len(raw) % 4:
                    raise ValueError("bad block length")
                end = pos + len(raw)
                if end > len(data):  # a block larger than the header says
                    grown = np.empty(max(2 * len(data), end), dtype=np.uint8)
                    grown[:pos] = data[:pos]
                    data = grown
                data[pos:end] = np.frombuffer(raw, dtype=np.uint8)
                pos = offs[i + 1] = end
        except (zlib.error, ValueError, OSError):
            self._block(int(ks[i]))  # raises the InputError that names the block
            raise
        return data[:pos], offs

    def read_loci(self, chrom: str, starts: np.ndarray, length: int, out: np.ndarray,
                  rows: np.ndarray, track: int, batch: int = 4096) -> int:
        """Write values of ``[starts, starts + length)`` (sorted, inside the chromosome) into
        ``out[rows, track]`` (pre-zeroed); returns the number of loci without any data."""
        from bpnetkit.io._kernels import fill_loci

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
            data, offs = self._blocks(need)
            empty += fill_loci(data, data.view(np.uint32), data.view(np.float32), offs, slot,
                               lo_b, f, l_, starts[a:b], length, cid, out, rows[a:b], track)
            del data
        return empty

    def fill(self, chrom: str, lo: int, hi: int, span: np.ndarray, cov: np.ndarray) -> None:
        """Add values of ``[lo, hi)`` into ``span`` (float32) and mark covered bases in ``cov``."""
        from bpnetkit.io._kernels import decode_block

        cid = self.chroms[chrom][0]
        sel = np.flatnonzero((self.b_chrom <= cid) & (self.b_end_chrom >= cid)
                             & ~((self.b_chrom == cid) & (self.b_start >= hi))
                             & ~((self.b_end_chrom == cid) & (self.b_end <= lo)))
        for b in sel:
            views = self._cache.get(int(b))
            if views is None:
                raw = self._block(int(b))
                views = (np.frombuffer(raw, dtype=np.uint8), np.frombuffer(raw, dtype=np.uint32),
                         np.frombuffer(raw, dtype=np.float32))
                self._cache[int(b)] = views
                if len(self._cache) > 32:  # loci come sorted: keep the most recent blocks
                    self._cache.pop(next(iter(self._cache)))
            decode_block(*views, cid, lo, hi, span, cov)


# --- writing ---------------------------------------------------------------------------
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


def copy_loci(span: np.ndarray, cov: np.ndarray, offs: np.ndarray, idx: np.ndarray, t: int,
              length: int, out: np.ndarray) -> int:
    """Copy windows of ``length`` at ``offs`` of a dense ``span`` into ``out[idx, t]``;
    returns how many windows have no covered base (``cov``). See
    :func:`bpnetkit.io._kernels.copy_loci`."""
    from bpnetkit.io._kernels import copy_loci as kernel

    return kernel(span, cov, offs, idx, t, length, out)
