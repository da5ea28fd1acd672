"""Motifs as position probability matrices; MEME text format reading and writing.

A :class:`Motif` holds a name and a position probability matrix ``pwm`` of shape
``(length, 4)`` over the alphabet ``ACGT`` (rows sum to one). :func:`read_meme` reads the
minimal MEME motif format as written by JASPAR, HOCOMOCO, MEME/STREME, TF-MoDISco and the
ChromBPNet ``motifs.meme.txt`` (which mixes sources and includes Tn5/DNase bias motifs);
:func:`write_meme` writes it back. Malformed records raise :class:`~bpnetkit.errors.InputError`
naming the file and the line.

This module is the file format only; the built-in database and the helpers that pick motifs
from a database live in :mod:`bpnetkit.motifs.database`.
"""

from __future__ import annotations

import gzip
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.io.fasta import ALPHABET
from bpnetkit.utils import open_text

log = logging.getLogger(__name__)

#: largest ``|row sum - 1|`` read without a warning (files often round to 2-3 decimals)
ROW_SUM_TOLERANCE = 0.02

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def information_content(pwm: np.ndarray) -> np.ndarray:
    """Information content (bits, uniform background) of every row of a ``(length, 4)``
    probability matrix; rows are renormalised to sum to one first."""
    p = np.clip(np.asarray(pwm, dtype=np.float64), 1e-12, 1)
    p = p / p.sum(axis=1, keepdims=True)
    return 2 + (p * np.log2(p)).sum(axis=1)


@dataclass
class Motif:
    """A DNA motif.

    Attributes
    ----------
    name : str
        Identifier (the first word after ``MOTIF`` in MEME files), e.g. ``"MA0139.2"``.
    pwm : numpy.ndarray
        Position probability matrix, float64 ``(length, 4)`` over ``ACGT``; rows sum to 1.
    alt_name : str
        Optional second name (``MOTIF MA0139.2 CTCF`` -> ``"CTCF"``).
    nsites : float or None
        Number of sites the matrix was built from, when known.
    url : str
        Optional URL line of the record.
    meta : dict
        Free-form extra information (not written to MEME files).
    """

    name: str
    pwm: np.ndarray
    alt_name: str = ""
    nsites: float | None = None
    url: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        pwm = np.asarray(self.pwm, dtype=np.float64)
        if pwm.ndim != 2 or pwm.shape[1] != 4 or pwm.shape[0] == 0:
            raise InputError(f"motif '{self.name}': pwm must have shape (length, 4), got "
                             f"{pwm.shape}.")
        if not np.all(np.isfinite(pwm)) or np.any(pwm < 0):
            raise InputError(f"motif '{self.name}': pwm has negative or non-finite values.")
        sums = pwm.sum(axis=1, keepdims=True)
        if np.any(sums <= 0):
            raise InputError(f"motif '{self.name}': pwm has an all-zero row.")
        self.pwm = pwm / sums

    @property
    def label(self) -> str:
        """``"name alt_name"`` (or just the name), for display."""
        return f"{self.name} {self.alt_name}".strip()

    @property
    def length(self) -> int:
        """Number of positions."""
        return int(self.pwm.shape[0])

    def __len__(self) -> int:
        return self.length

    def consensus(self) -> str:
        """Most probable base at every position."""
        return "".join(ALPHABET[i] for i in self.pwm.argmax(axis=1))

    def one_hot(self) -> np.ndarray:
        """Consensus as int8 one-hot ``(4, length)``."""
        out = np.zeros((4, self.length), dtype=np.int8)
        out[self.pwm.argmax(axis=1), np.arange(self.length)] = 1
        return out

    def log_odds(self, background: Sequence[float] = (0.25,) * 4,
                 pseudocount: float = 0.01) -> np.ndarray:
        """Log2-odds matrix ``(length, 4)`` against ``background``."""
        p = (self.pwm + pseudocount) / (1 + 4 * pseudocount)
        return np.log2(p / np.asarray(background, dtype=np.float64))

    def information_content(self) -> np.ndarray:
        """Per-position information content in bits (uniform background)."""
        return information_content(self.pwm)

    def reverse_complement(self) -> Motif:
        """The motif on the other strand."""
        return Motif(self.name, self.pwm[::-1, ::-1].copy(), self.alt_name, self.nsites,
                     self.url, dict(self.meta))

    def sample(self, n: int = 1, random_state=None) -> np.ndarray:
        """Draw ``n`` sequences from the PWM, as int8 one-hot ``(n, 4, length)``."""
        from bpnetkit.utils import as_generator

        rng = as_generator(random_state)
        cum = np.cumsum(self.pwm, axis=1)
        u = rng.random((n, self.length, 1))
        idx = np.minimum((u > cum[None]).sum(axis=2), 3)
        out = np.zeros((n, 4, self.length), dtype=np.int8)
        out[np.arange(n)[:, None], idx, np.arange(self.length)[None]] = 1
        return out


def _parse_kv(text: str) -> dict[str, str]:
    """Parse ``alength= 4 w= 10 nsites= 20 E= 0`` (also ``w=10``) into a dict."""
    out = {}
    for m in re.finditer(r"(\w+)\s*=\s*(\S+)", text):
        out[m.group(1)] = m.group(2)
    return out


def parse_meme(lines: Iterable[str], source: str = "<text>") -> list[Motif]:
    """Parse MEME-format text (an iterable of lines); see :func:`read_meme`."""
    motifs: list[Motif] = []
    alphabet_ok = True
    state = "header"
    cur: dict | None = None
    rows: list[list[float]] = []
    expected_w: int | None = None
    seen: dict[str, int] = {}

    def finish(lineno: int) -> None:
        nonlocal cur, rows, expected_w
        if cur is None:
            return
        where = f"{source}, line {cur['line']}"
        if not cur["matrix"]:
            raise InputError(f"{where}: motif '{cur['name']}' has no 'letter-probability "
                             f"matrix:' block. Each MOTIF needs one.")
        if not rows:
            raise InputError(f"{where}: motif '{cur['name']}' has an empty probability "
                             f"matrix.")
        if expected_w is not None and len(rows) != expected_w:
            raise InputError(f"{source}, line {cur['matrix_line']}: motif '{cur['name']}' "
                             f"declares w= {expected_w} but has {len(rows)} matrix rows.")
        pwm = np.array(rows, dtype=np.float64)
        sums = pwm.sum(axis=1)
        if np.any(sums <= 0):
            bad = int(np.argmax(sums <= 0))
            raise InputError(f"{source}, line {cur['matrix_line'] + 1 + bad}: motif "
                             f"'{cur['name']}' has a row of zeros.")
        off = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
        if len(off):
            first = int(off[0])
            log.warning("%s, line %d: motif '%s' row %d sums to %.4g, not 1 (%d of %d rows "
                        "differ by more than %g); the rows are renormalised to probabilities.",
                        source, cur["matrix_line"] + 1 + first, cur["name"], first + 1,
                        sums[first], len(off), len(sums), ROW_SUM_TOLERANCE)
        if cur["name"] in seen:
            raise InputError(f"{where}: motif ID '{cur['name']}' is also used by the motif at "
                             f"line {seen[cur['name']]}; motif IDs must be unique. Rename "
                             f"one of them.")
        seen[cur["name"]] = cur["line"]
        motifs.append(Motif(cur["name"], pwm, cur["alt"], cur["nsites"], cur["url"]))
        cur, rows, expected_w = None, [], None

    lineno = 0
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if state == "alphabet_block":
            if line.upper().startswith("END ALPHABET"):
                state = "header"
            continue
        if not line or line.startswith("#"):
            if state == "matrix" and rows:
                state = "after_matrix"
            continue
        head = line.split()[0]
        if head == "MOTIF":
            finish(lineno)
            parts = line.split()
            if len(parts) < 2:
                raise InputError(f"{source}, line {lineno}: 'MOTIF' without a name. Write "
                                 f"'MOTIF <id> [<alternative name>]'.")
            if not alphabet_ok:
                raise InputError(f"{source}, line {lineno}: the file's alphabet is not DNA "
                                 f"(ACGT); only DNA motifs are supported.")
            cur = {"name": parts[1], "alt": " ".join(parts[2:]), "line": lineno,
                   "matrix": False, "nsites": None, "url": "", "matrix_line": lineno}
            state = "motif"
            continue
        if head.startswith("ALPHABET"):
            if cur is not None:
                raise InputError(f"{source}, line {lineno}: ALPHABET inside a motif record.")
            if not line.startswith("ALPHABET="):  # MEME 5 custom alphabet definition block
                state = "alphabet_block"
                alphabet_ok = "DNA" in line.upper()
                continue
            letters = line[len("ALPHABET="):].strip().upper()
            if letters and letters not in ("ACGT", "ACGU"):
                alphabet_ok = False
            continue
        if state in ("header",):
            continue  # MEME version, strands, background frequencies, etc.
        if line.lower().startswith("letter-probability matrix"):
            if cur is None:
                continue
            if cur["matrix"]:
                raise InputError(f"{source}, line {lineno}: motif '{cur['name']}' has a "
                                 f"second probability matrix; start a new MOTIF record.")
            kv = _parse_kv(line.split(":", 1)[1] if ":" in line else "")
            alength = kv.get("alength")
            if alength is not None and alength != "4":
                raise InputError(f"{source}, line {lineno}: motif '{cur['name']}' has "
                                 f"alength= {alength}; only DNA motifs (alength= 4) are "
                                 f"supported.")
            try:
                expected_w = int(float(kv["w"])) if "w" in kv else None
                if "nsites" in kv:
                    cur["nsites"] = float(kv["nsites"])
            except ValueError:
                raise InputError(f"{source}, line {lineno}: cannot read the numbers in "
                                 f"'{line}'.") from None
            cur["matrix"] = True
            cur["matrix_line"] = lineno
            state = "matrix"
            continue
        if head.lower().endswith("-odds") or line.lower().startswith("log-odds matrix"):
            state = "log_odds"
            continue
        if head == "URL":
            if cur is not None:
                cur["url"] = line[3:].strip()
            state = "after_matrix" if state in ("matrix", "after_matrix") else state
            continue
        if state == "log_odds":
            continue
        if state == "matrix":
            fields = line.split()
            try:
                vals = [float(f) for f in fields]
            except ValueError:
                vals = None
            if vals is None:
                if rows:  # something else after the matrix (e.g. a comment word)
                    if expected_w is not None and len(rows) < expected_w:
                        raise InputError(f"{source}, line {lineno}: motif '{cur['name']}': "
                                         f"expected {expected_w} matrix rows of 4 numbers, "
                                         f"found '{line[:60]}' after {len(rows)} rows.")
                    state = "after_matrix"
                    continue
                raise InputError(f"{source}, line {lineno}: motif '{cur['name']}': expected "
                                 f"a matrix row of 4 numbers, found '{line[:60]}'.")
            if len(fields) != 4:
                raise InputError(f"{source}, line {lineno}: motif '{cur['name']}': matrix "
                                 f"row has {len(fields)} values, expected 4 (A C G T).")
            if any(v < 0 or not math.isfinite(v) for v in vals):
                raise InputError(f"{source}, line {lineno}: motif '{cur['name']}': matrix "
                                 f"row has a negative or non-finite value.")
            rows.append(vals)
            if expected_w is not None and len(rows) == expected_w:
                state = "after_matrix"
            continue
        if state == "after_matrix":
            fields = line.split()
            if all(_NUMBER.match(f) for f in fields) and cur is not None:
                raise InputError(f"{source}, line {lineno}: motif '{cur['name']}' has more "
                                 f"matrix rows than w= {expected_w}.")
            continue
        # state == "motif": lines between MOTIF and the matrix are ignored
    finish(lineno)
    if not motifs:
        raise InputError(f"{source}: no motifs found. A MEME file needs records starting "
                         f"with 'MOTIF <id>' followed by 'letter-probability matrix:' and "
                         f"rows of 4 probabilities.")
    return motifs


def read_meme(path: str | Path) -> list[Motif]:
    """Read all motifs of a MEME-format file (plain or ``.gz``).

    Lines before the first ``MOTIF`` (version, alphabet, strands, background) are read only
    to check the alphabet is DNA. Each record is ``MOTIF id [alt name]``, optional lines, a
    ``letter-probability matrix: alength= 4 w= W ...`` line and ``W`` rows of four numbers
    (A C G T), optionally followed by ``URL`` or a ``log-odds matrix`` (ignored). Rows are
    renormalised to sum to one (some files round to 3 decimals); a row that is off by more
    than :data:`ROW_SUM_TOLERANCE` is logged as a warning naming the motif and line. Motif
    IDs must be unique.

    Parameters
    ----------
    path : str or Path
        The MEME file.

    Returns
    -------
    list of Motif

    Raises
    ------
    InputError
        For a malformed record, naming the file and line.
    """
    path = require_file(path, "MEME motif file")
    with open_text(path, errors="replace") as fh:
        return parse_meme(fh, source=str(path))


def format_meme(motifs: Sequence[Motif], comments: Sequence[str] = (),
                background: Sequence[float] = (0.25,) * 4) -> str:
    """MEME text for ``motifs`` (see :func:`write_meme`)."""
    out = ["MEME version 4", ""]
    for c in comments:
        for line in str(c).splitlines():
            out.append(f"# {line}".rstrip())
    if comments:
        out.append("")
    out += ["ALPHABET= ACGT", "", "strands: + -", "", "Background letter frequencies",
            " ".join(f"{a} {b:.3f}" for a, b in zip(ALPHABET, background)), ""]
    for m in motifs:
        name = m.name if not m.alt_name else f"{m.name} {m.alt_name}"
        nsites = int(round(m.nsites)) if m.nsites else 20
        out.append(f"MOTIF {name}")
        out.append(f"letter-probability matrix: alength= 4 w= {m.length} nsites= {nsites} "
                   f"E= 0")
        for row in m.pwm:
            out.append(" " + "  ".join(f"{v:.6f}" for v in row))
        if m.url:
            out.append(f"URL {m.url}")
        out.append("")
    return "\n".join(out) + "\n"


def write_meme(motifs: Sequence[Motif], path: str | Path, comments: Sequence[str] = (),
               background: Sequence[float] = (0.25,) * 4) -> Path:
    """Write ``motifs`` as a MEME version 4 file (gzipped when ``path`` ends in ``.gz``).

    Parameters
    ----------
    motifs : sequence of Motif
        Motifs to write; names must not contain whitespace (the alt name may).
    path : str or Path
        Output file, written atomically.
    comments : sequence of str
        Lines written as ``# ...`` comments after the version line.
    background : sequence of 4 floats
        Background letter frequencies.
    """
    from bpnetkit.utils import atomic_path

    for m in motifs:
        if not m.name or any(ch.isspace() for ch in m.name):
            raise InputError(f"motif name {m.name!r} is empty or contains whitespace; MEME "
                             f"identifiers must be a single word.")
    text = format_meme(motifs, comments, background)
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            with gzip.GzipFile(tmp, "wb", mtime=0) as fh:
                fh.write(text.encode())
        else:
            tmp.write_text(text)
    return path
