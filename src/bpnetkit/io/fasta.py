"""Reference genomes (FASTA) and one-hot encoding.

:class:`Genome` opens a plain FASTA through pyfaidx (which writes the ``.fai`` index when it
is missing) or a bgzip-compressed FASTA with its ``.fai``/``.gzi`` indexes. Many loci are
encoded at once by :func:`extract_sequences`: for plain FASTA files the bytes are read straight
from a memory map using the ``.fai`` line layout, so the cost per locus is a few array copies
rather than a Python call per base.

One-hot convention: ``(N, 4, L)`` int8, channels ``A, C, G, T``; any other letter (``N``,
IUPAC codes) is an all-zero column. Lower-case (soft-masked) letters encode like upper case.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.utils import is_gzip

ALPHABET = "ACGT"

log = logging.getLogger(__name__)

# byte -> code 0..3 for A, C, G, T (either case); 4 for anything else
_CODES = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(ALPHABET):
    _CODES[ord(_b)] = _i
    _CODES[ord(_b.lower())] = _i


def _codes_to_one_hot(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(N, L) uint8 codes -> (N, 4, L) int8 one-hot (code 4 -> zero column)."""
    if out is None:
        out = np.empty((codes.shape[0], 4, codes.shape[1]), dtype=np.int8)
    for c in range(4):
        np.equal(codes, c, out=out[:, c, :].view(np.bool_))
    return out


def one_hot_encode(seq: str | bytes, alphabet: str = ALPHABET) -> np.ndarray:
    """Encode one sequence as an int8 array of shape ``(4, L)``.

    Parameters
    ----------
    seq : str or bytes
        DNA sequence; letters other than A, C, G, T (either case) become zero columns.
    alphabet : str
        Channel order; only ``"ACGT"`` is supported (kept for signature compatibility).

    Returns
    -------
    numpy.ndarray
        ``(4, len(seq))`` int8.
    """
    if alphabet != ALPHABET:
        raise InputError(f"only the alphabet 'ACGT' is supported, got {alphabet!r}.")
    if isinstance(seq, str):
        try:
            seq = seq.encode("ascii")
        except UnicodeEncodeError as e:
            raise InputError(f"sequence contains a non-ASCII character at position "
                             f"{e.start}; DNA sequences use A, C, G, T and N.") from None
    codes = _CODES[np.frombuffer(seq, dtype=np.uint8)]
    return _codes_to_one_hot(codes[None])[0]


def one_hot_decode(X: np.ndarray, alphabet: str = ALPHABET) -> str:
    """Decode a ``(4, L)`` one-hot array to a string (all-zero columns -> ``N``)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != 4:
        raise InputError(f"one_hot_decode expects shape (4, L), got {X.shape}.")
    letters = np.frombuffer((alphabet + "N").encode(), dtype=np.uint8)
    idx = np.where(X.max(axis=0) > 0, X.argmax(axis=0), 4)
    return letters[idx].tobytes().decode()


def reverse_complement(X: np.ndarray) -> np.ndarray:
    """Reverse complement one-hot arrays ``(..., 4, L)``: flip channels and positions."""
    return np.ascontiguousarray(np.asarray(X)[..., ::-1, ::-1])


def suggest_chrom_fix(missing: Sequence[str], available: Sequence[str]) -> str:
    """A hint for chromosome names that are not found, e.g. a missing ``chr`` prefix."""
    avail = set(available)
    missing = list(missing)
    if not missing:
        return ""
    if all(("chr" + m) in avail for m in missing):
        return " The names lack the 'chr' prefix used by the other file: add 'chr' (e.g. " \
               f"'{missing[0]}' -> 'chr{missing[0]}')."
    if all(m.startswith("chr") and m[3:] in avail for m in missing):
        return " The other file names chromosomes without the 'chr' prefix: remove it (e.g. " \
               f"'{missing[0]}' -> '{missing[0][3:]}')."
    if any(("chr" + m) in avail or (m.startswith("chr") and m[3:] in avail) for m in missing):
        return " Some names differ only by the 'chr' prefix: make the naming consistent."
    return ""


def check_chroms(chroms: Sequence[str], available: Sequence[str], what: str, where: str) -> None:
    """Raise :class:`InputError` if any of ``chroms`` is not in ``available``.

    Parameters
    ----------
    chroms : sequence of str
        Chromosome names used (duplicates allowed).
    available : sequence of str
        Names that exist in the reference (FASTA, bigWig).
    what : str
        Where the names come from (e.g. "peaks file 'peaks.bed'").
    where : str
        The reference (e.g. "genome 'hg38.fa'").
    """
    avail = set(available)
    missing = sorted({str(c) for c in set(np.asarray(chroms, dtype=object).tolist())} - avail)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        some = ", ".join(list(available)[:5])
        raise InputError(f"chromosome(s) {shown} from {what} not found in {where} (which has "
                         f"{some}{' ...' if len(avail) > 5 else ''})."
                         + suggest_chrom_fix(missing, list(available)))


class Genome:
    """A reference genome in FASTA format.

    Parameters
    ----------
    path : str or os.PathLike
        Plain FASTA (indexed on first use by pyfaidx) or bgzip-compressed FASTA with its
        ``.fai`` and ``.gzi`` indexes (``samtools faidx genome.fa.gz`` writes both).

    Attributes
    ----------
    chrom_sizes : dict[str, int]
        Chromosome name -> length, in file order.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = require_file(path, "genome FASTA")
        self._mm = None
        self._layout: dict[str, tuple[int, int, int, int]] = {}
        self._bgzf = _is_bgzf(self.path)
        if self._bgzf:
            self._open_bgzf()
        elif is_gzip(self.path):
            raise InputError(f"genome FASTA '{self.path}' is gzip-compressed but not with bgzip, "
                             f"so it cannot be read by position. Recompress it: 'gunzip -c "
                             f"{self.path.name} | bgzip > genome.fa.gz && samtools faidx "
                             f"genome.fa.gz', or decompress it.")
        else:
            self._open_plain()

    # --- opening -------------------------------------------------------------------------
    def _open_plain(self) -> None:
        fai = Path(str(self.path) + ".fai")
        self._fasta = self._index_plain(fai)
        self._layout = _read_fai(fai)
        problem = _layout_problem(self.path, self._layout)
        if problem is not None:
            # the index does not describe this file (edited after indexing, e.g. re-wrapped
            # lines, within the mtime resolution or with the index copied later): rebuild it
            if not os.access(fai, os.W_OK) or not os.access(fai.parent, os.W_OK):
                raise InputError(f"the index '{fai}' does not match genome FASTA "
                                 f"'{self.path}' ({problem}); the FASTA was changed after it "
                                 f"was indexed, and the index cannot be rewritten here. "
                                 f"Re-index it ('samtools faidx {self.path.name}') or copy "
                                 f"the FASTA to a writable folder.")
            log.warning("index '%s' does not match genome FASTA '%s' (%s): rebuilding it.",
                        fai, self.path, problem)
            fai.unlink()
            self._fasta = self._index_plain(fai)
            self._layout = _read_fai(fai)
            problem = _layout_problem(self.path, self._layout)
            if problem is not None:
                raise InputError(f"genome FASTA '{self.path}' is malformed ({problem}). Every "
                                 f"sequence needs a '>name' line and lines of equal length "
                                 f"within a sequence.")
        if not self._layout:
            raise InputError(f"genome FASTA '{self.path}' contains no sequences.")
        self.chrom_sizes = {k: v[0] for k, v in self._layout.items()}

    def _index_plain(self, fai: Path):
        import pyfaidx

        try:
            return pyfaidx.Fasta(str(self.path), as_raw=True, sequence_always_upper=False,
                                 rebuild=True, build_index=True)
        except OSError as e:
            if fai.exists():
                raise InputError(f"the index '{fai}' is older than genome FASTA "
                                 f"'{self.path}' and cannot be rewritten ({e.strerror or e}). "
                                 f"Re-index it ('samtools faidx {self.path.name}') or copy the "
                                 f"FASTA to a writable folder.") from None
            raise InputError(f"cannot write the index '{fai}' of genome FASTA '{self.path}' "
                             f"({e.strerror or e}). Index it where it can be written "
                             f"('samtools faidx {self.path.name}') or copy the FASTA to a "
                             f"writable folder.") from None
        except (pyfaidx.FastaIndexingError, ValueError) as e:
            raise InputError(f"cannot index genome FASTA '{self.path}': {e}. Every sequence "
                             f"needs a '>name' line and lines of equal length within a "
                             f"sequence.") from None

    def _open_bgzf(self) -> None:
        import pysam

        mtime = self.path.stat().st_mtime
        for idx in (Path(str(self.path) + ".fai"), Path(str(self.path) + ".gzi")):
            if idx.exists() and idx.stat().st_mtime < mtime:
                raise InputError(f"the index '{idx}' is older than genome FASTA '{self.path}': "
                                 f"the FASTA was changed after it was indexed. Re-index it "
                                 f"with 'samtools faidx {self.path.name}'.")
        try:
            self._fasta = pysam.FastaFile(str(self.path))
        except (OSError, ValueError) as e:
            raise InputError(f"cannot open bgzipped genome FASTA '{self.path}': {e}. Index it "
                             f"with 'samtools faidx {self.path.name}' (writes .fai and .gzi).") \
                from None
        self.chrom_sizes = dict(zip(self._fasta.references, self._fasta.lengths))
        if not self.chrom_sizes:
            raise InputError(f"genome FASTA '{self.path}' contains no sequences.")

    def __repr__(self) -> str:
        return f"Genome('{self.path}', {len(self.chrom_sizes)} sequences)"

    def __contains__(self, chrom: str) -> bool:
        return chrom in self.chrom_sizes

    @property
    def chroms(self) -> list[str]:
        """Chromosome names in file order."""
        return list(self.chrom_sizes)

    def _check_interval(self, chrom: str, start: int, end: int) -> None:
        if chrom not in self.chrom_sizes:
            check_chroms([chrom], self.chroms, "the request", f"genome '{self.path.name}'")
        if start < 0 or end > self.chrom_sizes[chrom] or end < start:
            raise InputError(f"interval {chrom}:{start}-{end} is outside chromosome {chrom} "
                             f"(length {self.chrom_sizes[chrom]}) of genome "
                             f"'{self.path.name}' or inverted.")

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Return the sequence of ``chrom:start-end`` (0-based, half-open) as a string."""
        start, end = int(start), int(end)
        self._check_interval(chrom, start, end)
        if self._bgzf:
            return self._fasta.fetch(chrom, start, end)
        return self._fasta[chrom][start:end]

    def gc_content(self, chrom: str, start: int, end: int) -> float:
        """Fraction of G/C among the A/C/G/T bases of an interval (NaN if none)."""
        X = one_hot_encode(self.fetch(chrom, start, end))
        acgt = X.sum()
        return float(X[1:3].sum() / acgt) if acgt else float("nan")

    def chrom_codes(self, chrom: str) -> np.ndarray:
        """Whole chromosome as uint8 codes (0..3 = A, C, G, T; 4 = other)."""
        size = self.chrom_sizes[chrom]
        codes = np.empty((1, size), dtype=np.uint8)
        self._fill_codes([chrom], np.array([0]), size, codes)
        return codes[0]

    # --- many loci -----------------------------------------------------------------------
    def window_codes(self, chroms: Sequence[str], starts: np.ndarray | Sequence[int],
                     length: int) -> np.ndarray:
        """Base codes (uint8, 0..3 = A, C, G, T; 4 = other) of equal-length loci.

        Parameters
        ----------
        chroms : sequence of str
            Chromosome of each locus.
        starts : array-like of int
            0-based starts; every locus must lie inside its chromosome.
        length : int
            Length of every locus.

        Returns
        -------
        numpy.ndarray
            (n, length) uint8.
        """
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), int(length)), dtype=np.uint8)
        if len(starts):
            self._fill_codes(chroms, starts, int(length), out)
        return out

    def _memmap(self) -> np.ndarray:
        if self._mm is None:
            self._mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        return self._mm

    def _fill_codes(self, chroms: Sequence[str], starts: np.ndarray, length: int,
                    out: np.ndarray) -> None:
        """Fill ``out`` (n, length) uint8 with base codes of the loci."""
        if self._bgzf:
            for i, (c, s) in enumerate(zip(chroms, starts)):
                seq = self._fasta.fetch(c, int(s), int(s) + length).encode("ascii")
                out[i] = _CODES[np.frombuffer(seq, dtype=np.uint8)]
            return
        from bpnetkit.io._kernels import gather_fasta_codes

        chroms = np.asarray(chroms, dtype=object)
        names, inv = _name_codes(chroms)
        lay = np.array([self._layout[str(n)][1:] for n in names], dtype=np.int64)
        gather_fasta_codes(self._memmap(), lay[inv, 0], lay[inv, 1], lay[inv, 2],
                           np.asarray(starts, dtype=np.int64), int(length), _CODES, out)


def _is_bgzf(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(16)
    return len(head) >= 16 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def _read_fai(fai: Path) -> dict[str, tuple[int, int, int, int]]:
    """name -> (length, offset, bases per line, bytes per line)."""
    layout = {}
    with open(fai) as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) >= 5:
                layout[f[0]] = (int(f[1]), int(f[2]), int(f[3]), int(f[4]))
    return layout


def _layout_problem(path: Path, layout: dict[str, tuple[int, int, int, int]]) -> str | None:
    """Why the ``.fai`` layout does not describe the FASTA bytes, or None when it does.

    For every sequence this checks, at a few bytes each, that its ``>name`` line ends just
    before its offset, that its first line is as long as the index says (re-wrapped lines
    fail here), that a line ends right after its last base and that the next sequence (or
    the end of the file) follows (a changed length fails here).
    """
    size = path.stat().st_size
    if not layout:
        return None
    mm = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    nl = (10, 13)

    def at(i: int) -> int:
        return int(mm[i]) if 0 <= i < size else -1

    for name, (length, offset, blen, llen) in layout.items():
        if offset > size or offset < 1 or at(offset - 1) != 10:
            return f"sequence '{name}' does not start at byte {offset}"
        head = bytes(mm[max(0, offset - 1 - 4096):offset - 1])
        line = head[head.rfind(b"\n") + 1:].rstrip(b"\r")
        if not (line.startswith(b">") and line[1:].split(maxsplit=1)[:1] == [name.encode()]):
            return f"the line before byte {offset} is not '>{name}'"
        if length == 0:
            continue
        if blen < 1 or llen - blen not in (1, 2):
            return f"sequence '{name}' has line lengths {blen}/{llen} in the index"
        if length > blen and at(offset + blen) not in nl:
            return f"the first line of '{name}' is not {blen} bases long (re-wrapped?)"
        last = offset + ((length - 1) // blen) * llen + (length - 1) % blen
        if last >= size or at(last) in nl or at(last) == ord(">"):
            return f"sequence '{name}' does not hold the {length} bases the index records"
        nxt = last + 1
        if nxt < size and at(nxt) not in nl:
            return f"sequence '{name}' does not end after the {length} bases the index records"
        while at(nxt) in nl:
            nxt += 1
        if nxt < size and at(nxt) != ord(">"):
            return f"sequence '{name}' does not end after the {length} bases the index records"
    return None


def _name_codes(chroms: np.ndarray) -> tuple[list[str], np.ndarray]:
    table: dict[str, int] = {}
    codes = np.fromiter((table.setdefault(c, len(table)) for c in chroms), dtype=np.int64,
                        count=len(chroms))
    return list(table), codes


def as_loci(chroms, starts, ends) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coerce loci to arrays (object chromosome names, int64 starts and ends) of one length.

    Raises
    ------
    InputError
        When the three sequences differ in length.
    """
    chroms = np.asarray(chroms, dtype=object)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if not (len(starts) == len(ends) == len(chroms)):
        raise InputError(f"chroms, starts and ends differ in length ({len(chroms)}, "
                         f"{len(starts)}, {len(ends)}).")
    return chroms, starts, ends


def extract_sequences(genome: Genome | str | os.PathLike, chroms: Sequence[str],
                      starts: Sequence[int] | np.ndarray, ends: Sequence[int] | np.ndarray,
                      pad: bool = False, chunk_size: int = 4096) -> np.ndarray:
    """One-hot encode many equal-length loci at once.

    Parameters
    ----------
    genome : Genome or path
        The reference.
    chroms, starts, ends : array-like
        Loci (0-based, half-open); all must have the same length ``ends - starts``.
    pad : bool
        If True, positions beyond the chromosome ends become zero (N) columns; if False
        (default) such loci raise :class:`InputError`.
    chunk_size : int
        Loci encoded per pass (bounds the temporary memory).

    Returns
    -------
    numpy.ndarray
        ``(N, 4, L)`` int8 one-hot, channels A, C, G, T.
    """
    if not isinstance(genome, Genome):
        genome = Genome(genome)
    chroms, starts, ends = as_loci(chroms, starts, ends)
    n = len(chroms)
    if n == 0:
        return np.zeros((0, 4, 0), dtype=np.int8)
    widths = ends - starts
    L = int(widths[0])
    if (widths != L).any():
        bad = int(np.flatnonzero(widths != L)[0])
        raise InputError(f"all loci must have the same length; locus {bad} "
                         f"({chroms[bad]}:{starts[bad]}-{ends[bad]}) has {widths[bad]}, the "
                         f"first has {L}. Use centred windows of one width.")
    if L <= 0:
        raise InputError(f"loci must have a positive length, got {L} (end <= start).")
    check_chroms(chroms, genome.chroms, "the loci", f"genome '{genome.path.name}'")
    sizes = np.array([genome.chrom_sizes[c] for c in chroms], dtype=np.int64)
    outside = (starts < 0) | (ends > sizes)
    if outside.any() and not pad:
        i = int(np.flatnonzero(outside)[0])
        raise InputError(f"{int(outside.sum())} loci run off their chromosome, e.g. "
                         f"{chroms[i]}:{starts[i]}-{ends[i]} (length {sizes[i]}). Drop them "
                         f"(regions.centered_windows(..., chrom_sizes=...) does) or pass "
                         f"pad=True.")
    out = np.empty((n, 4, L), dtype=np.int8)
    if not genome._bgzf and not outside.any():
        from bpnetkit.io._kernels import gather_fasta_one_hot

        names, inv = np.unique(chroms.astype(str), return_inverse=True) if n < 64 else \
            _name_codes(chroms)
        lay = np.array([genome._layout[str(c)][1:] for c in names], dtype=np.int64)
        gather_fasta_one_hot(genome._memmap(), lay[inv, 0], lay[inv, 1], lay[inv, 2], starts, L,
                             _CODES, out)
        return out
    codes = np.empty((min(chunk_size, n), L), dtype=np.uint8)
    for a in range(0, n, chunk_size):
        b = min(a + chunk_size, n)
        inside = ~outside[a:b]
        cbuf = codes[: b - a]
        if inside.all():
            genome._fill_codes(chroms[a:b], starts[a:b], L, cbuf)
        else:
            cbuf[:] = 4
            for j in np.flatnonzero(inside):
                genome._fill_codes(chroms[a + j:a + j + 1], starts[a + j:a + j + 1], L,
                                   cbuf[j:j + 1])
            for j in np.flatnonzero(~inside):
                s, e, size = starts[a + j], ends[a + j], sizes[a + j]
                lo, hi = max(s, 0), min(e, size)
                if hi > lo:
                    tmp = np.empty((1, hi - lo), dtype=np.uint8)
                    genome._fill_codes([chroms[a + j]], np.array([lo]), int(hi - lo), tmp)
                    cbuf[j, lo - s:hi - s] = tmp[0]
        _codes_to_one_hot(cbuf, out[a:b])
    return out
