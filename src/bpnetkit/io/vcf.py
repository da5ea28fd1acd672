"""Variant files: VCF (plain or gzip) and the tab-separated layouts of variant-scorer.

:func:`iter_variants` reads a file record by record and yields :class:`Variant` for every
allele pair it can describe, or :class:`Skipped` (with a reason) for alleles that name no
sequence (symbolic alleles, breakends, ``*``). A :class:`Variant` holds the 0-based position
of its first ``ref`` (allele1) base. Checking alleles against a genome is not a file-format
question: see :func:`bpnetkit.variants.windows.check_variant`.

Layouts (``schema``), one variant per line, tab- or whitespace-separated, no header needed
(a first line whose first field is ``chr``/``chrom`` is skipped, as are ``#`` lines):

=============  ===================================================  ==========
schema         columns                                              positions
=============  ===================================================  ==========
``vcf``        CHROM POS ID REF ALT ...                             1-based
``chrombpnet`` chr pos allele1 allele2 variant_id (id optional)     1-based
``bed``        chr start end allele1 allele2 variant_id             0-based
``plink``      chr variant_id cM pos allele1 allele2 (a .bim file)  1-based
``plink2``     chr variant_id pos allele1 allele2                   1-based
``original``   chr pos variant_id allele1 allele2                   1-based
=============  ===================================================  ==========

These are the layouts variant-scorer (kundajelab) reads. Outside VCF an allele may be ``-``,
the empty allele of an insertion (allele1) or a deletion (allele2); the position is then that
of the first base after the insertion point, or of the first deleted base. ``allele1`` plays
the role of REF; in a ``bed`` line ``end`` is read but not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bpnetkit.errors import InputError, require_file
from bpnetkit.io._errors import TEXT_ERRORS, decoding
from bpnetkit.io.bed import MAX_COORDINATE
from bpnetkit.io.fasta import ALPHABET
from bpnetkit.utils import open_text

__all__ = ["SCHEMAS", "Skipped", "Variant", "detect_schema", "iter_variants", "output_columns",
           "output_fields"]

_BASES = set(ALPHABET + "N")

SCHEMAS: dict[str, tuple[str, ...]] = {
    "vcf": ("CHROM", "POS", "ID", "REF", "ALT"),
    "chrombpnet": ("chr", "pos", "allele1", "allele2", "variant_id"),
    "bed": ("chr", "pos", "end", "allele1", "allele2", "variant_id"),
    "plink": ("chr", "variant_id", "ignore1", "pos", "allele1", "allele2"),
    "plink2": ("chr", "variant_id", "pos", "allele1", "allele2"),
    "original": ("chr", "pos", "variant_id", "allele1", "allele2"),
}
"""Column layout of each schema (``ignore1``: read and dropped)."""

_ONE_BASED = {"vcf", "chrombpnet", "plink", "plink2", "original"}
_INT_COLUMNS = ("pos", "end")
_ALLELE_RE = re.compile(r"^(?:[ACGTNacgtn]+|-)$")


@dataclass
class Variant:
    """A variant record.

    Attributes
    ----------
    chrom : str
        Chromosome name.
    pos : int
        0-based position of the first ``ref`` base (for an insertion, of the base after the
        insertion point).
    ref, alt : str
        Allele1 (REF) and allele2 (ALT); ``""`` is the empty allele (``-`` in the file).
    id : str
        Identifier from the file (``.`` when none).
    line : int
        1-based line number in the file.
    strict_ref : bool
        Whether ``ref`` must match the genome to be scored (VCF: always; other schemas: only
        for indels, as variant-scorer checks; substitutions write allele1 into the window).
    end : int or None
        The ``end`` column of a ``bed`` line.
    """

    chrom: str
    pos: int
    ref: str
    alt: str
    id: str
    line: int
    strict_ref: bool = True
    end: int | None = None

    @property
    def label(self) -> str:
        """``chrom:pos1:ref:alt`` with a 1-based position (as in VCF; ``-`` for empty)."""
        return f"{self.chrom}:{self.pos + 1}:{self.ref or '-'}:{self.alt or '-'}"


@dataclass
class Skipped:
    """A record that was not scored, and why."""

    variant: Variant
    reason: str


def _is_vcf(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith((".vcf", ".vcf.gz", ".vcf.bgz")):
        return True
    with open_text(path) as fh:
        first = fh.readline()
    return first.startswith("##fileformat=VCF")


def _unsupported_alt(alt: str) -> str | None:
    if alt.startswith("<") or alt.endswith(">"):
        return "symbolic_allele"
    if "[" in alt or "]" in alt or (len(alt) > 1 and (alt[0] == "." or alt[-1] == ".")):
        return "breakend"
    if alt == "*":
        return "spanning_deletion"
    if alt in (".", ""):
        return "no_alt_allele"
    if set(alt.upper()) - _BASES:
        return "unsupported_alt_letters"
    return None


def _split(line: str) -> list[str]:
    f = line.split("\t")
    return f if len(f) > 1 else line.split()


def _is_header(fields: list[str]) -> bool:
    return fields[0].lower().lstrip("#") in ("chr", "chrom", "chromosome")


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


def _fits(schema: str, f: list[str]) -> bool:
    """Whether the fields of one line look like a line of ``schema``."""
    cols = SCHEMAS[schema]
    n_ok = len(f) == len(cols) or (schema == "chrombpnet" and len(f) == 4)
    if not n_ok:
        return False
    for name, value in zip(cols, f, strict=False):
        if name in _INT_COLUMNS and not _is_int(value):
            return False
        if name in ("allele1", "allele2") and not _ALLELE_RE.match(value):
            return False
        if name == "variant_id" and _ALLELE_RE.match(value):
            return False
    return True


def detect_schema(path: str | Path, n_lines: int = 50) -> str:
    """The schema of a variant file, when its first lines fit exactly one.

    VCF is recognised by its name (``.vcf``, ``.vcf.gz``, ``.vcf.bgz``) or first line
    (``##fileformat=VCF``). Otherwise the first ``n_lines`` data lines must fit exactly one of
    the tab-separated layouts (see the module notes): column count, integer positions,
    alleles of A/C/G/T/N or ``-``, and a variant id that does not look like an allele.

    Raises
    ------
    InputError
        When no layout or several fit; the message names the file and asks for ``schema``.
    """
    path = require_file(path, "variant file")
    with decoding(path, "variant file", errors=TEXT_ERRORS,
                  fix="Is it a complete, uncorrupted variant file (plain or gzip text)?"):
        return _detect_schema(path, n_lines)


def _detect_schema(path: Path, n_lines: int) -> str:
    if _is_vcf(path):
        return "vcf"
    candidates = [s for s in SCHEMAS if s != "vcf"]
    seen = 0
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\n\r")
            if not line.strip() or line.startswith("#"):
                continue
            f = _split(line)
            if seen == 0 and _is_header(f):
                continue
            candidates = [s for s in candidates if _fits(s, f)]
            seen += 1
            if not candidates:
                raise InputError(
                    f"{path}:{lineno}: this line fits none of the variant layouts "
                    f"({_layouts()}); fix the line or set 'schema' to the file's layout to get "
                    f"an error naming the column.")
            if seen >= n_lines:
                break
    if seen == 0:
        raise InputError(f"{path}: no variant lines found (only comments or a header).")
    if len(candidates) > 1:
        raise InputError(f"{path}: the first lines fit several variant layouts "
                         f"({', '.join(candidates)}); set 'schema' to one of them.")
    return candidates[0]


def _layouts() -> str:
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in SCHEMAS.items() if k != "vcf")


def iter_variants(path: str | Path, schema: str = "auto") -> Iterator[Variant | Skipped]:
    """Read a variant file, yielding variants and skipped records.

    Parameters
    ----------
    path : str or Path
        The variant file (plain or gzip).
    schema : str
        ``auto`` (default: :func:`detect_schema`), ``vcf``, ``chrombpnet``, ``bed``,
        ``plink``, ``plink2`` or ``original`` (see the module notes). The former bpnetkit TSV
        (``chrom pos ref alt [id]``, 1-based) is the ``chrombpnet`` layout.

    Yields
    ------
    Variant or Skipped
        Multi-allelic VCF records yield one variant per ALT allele. Skipped records carry a
        reason (``symbolic_allele``, ``breakend``, ``spanning_deletion``, ``no_alt_allele``,
        ``unsupported_alt_letters``, ``unsupported_ref_letters``).

    Raises
    ------
    InputError
        On an unknown schema, a malformed line (too few or too many columns, a position that
        is not an integer or out of range, ``-`` inside a longer allele, two empty alleles),
        naming file, line and column; and on a file that cannot be read to its end (e.g. a
        truncated gzip).
    """
    path = require_file(path, "variant file")
    if schema != "auto" and schema not in SCHEMAS:
        raise InputError(f"unknown variant schema {schema!r}; use 'auto' or one of "
                         f"{', '.join(SCHEMAS)}.")
    state = {"line": 0}
    try:
        if schema == "auto":
            schema = detect_schema(path)
        if schema == "vcf":
            yield from _parse_vcf(path, state)
        else:
            yield from _parse_table(path, schema, state)
    except TEXT_ERRORS as e:
        raise InputError(f"{path}: cannot read the file after line {state['line']}: {e}. Is it "
                         f"a complete, uncorrupted variant file (plain or gzip)?") from None


def _parse_vcf(path: Path, state: dict) -> Iterator[Variant | Skipped]:
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            state["line"] = lineno
            line = raw.rstrip("\n\r")
            if not line.strip() or line.startswith("#"):
                continue
            f = line.split("\t")
            if len(f) < 5:
                raise InputError(f"{path}:{lineno}: expected at least 5 tab-separated columns "
                                 f"(VCF: CHROM POS ID REF ALT), got {len(f)}.")
            chrom, pos_s, vid, ref, alts = f[0], f[1], f[2], f[3], f[4]
            pos1 = _position(path, lineno, 2, "POS", pos_s, one_based=True)
            ref = ref.upper()
            for alt in alts.split(","):
                v = Variant(chrom, pos1 - 1, ref, alt.upper(), vid, lineno)
                reason = _unsupported_alt(alt)
                if reason is None and (not ref or set(ref) - _BASES):
                    reason = "unsupported_ref_letters"
                yield v if reason is None else Skipped(v, reason)


def _position(path: Path, lineno: int, col: int, name: str, value: str, one_based: bool) -> int:
    try:
        p = int(value)
    except ValueError:
        raise InputError(f"{path}:{lineno}: column {col} ({name}) is {value!r}, not an integer "
                         f"({'1' if one_based else '0'}-based positions).") from None
    low = 1 if one_based else 0
    if p > MAX_COORDINATE:
        raise InputError(f"{path}:{lineno}: column {col} ({name}) is {p}, larger than any "
                         f"chromosome (at most {MAX_COORDINATE}).")
    if p < low:
        raise InputError(f"{path}:{lineno}: column {col} ({name}) is {p}; positions are "
                         f"{'1' if one_based else '0'}-based, so the smallest is {low}.")
    return p


def _allele(path: Path, lineno: int, col: int, name: str, value: str) -> str:
    a = value.upper()
    if "-" in a and a != "-":
        raise InputError(f"{path}:{lineno}: column {col} ({name}) is {value!r}; write an empty "
                         f"allele as a single '-'.")
    return "" if a == "-" else a


def _parse_table(path: Path, schema: str, state: dict) -> Iterator[Variant | Skipped]:
    cols = SCHEMAS[schema]
    index = {c: i for i, c in enumerate(cols)}
    need = 4 if schema == "chrombpnet" else len(cols)
    first = True
    with open_text(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            state["line"] = lineno
            line = raw.rstrip("\n\r")
            if not line.strip() or line.startswith("#"):
                continue
            f = _split(line)
            if first and _is_header(f):
                first = False
                continue
            first = False
            if not need <= len(f) <= len(cols):
                raise InputError(f"{path}:{lineno}: expected {len(cols)} columns "
                                 f"({' '.join(cols)}; schema '{schema}'), got {len(f)}.")
            one_based = schema in _ONE_BASED
            k = index["pos"]
            pos = _position(path, lineno, k + 1, "pos", f[k], one_based)
            end = None
            if "end" in index:
                end = _position(path, lineno, index["end"] + 1, "end", f[index["end"]], False)
            k1, k2 = index["allele1"], index["allele2"]
            ref = _allele(path, lineno, k1 + 1, "allele1", f[k1])
            alt = _allele(path, lineno, k2 + 1, "allele2", f[k2])
            if not ref and not alt:
                raise InputError(f"{path}:{lineno}: both alleles are '-' (columns {k1 + 1} and "
                                 f"{k2 + 1}).")
            k = index["variant_id"]
            vid = f[k] if k < len(f) else "."
            v = Variant(f[index["chr"]], pos - 1 if one_based else pos, ref, alt, vid, lineno,
                        strict_ref=len(ref) != len(alt), end=end)
            reason = None
            if set(alt) - _BASES:
                reason = _unsupported_alt(f[k2]) or "unsupported_alt_letters"
            elif set(ref) - _BASES:
                reason = "unsupported_ref_letters"
            yield v if reason is None else Skipped(v, reason)


def output_columns(schema: str) -> list[str]:
    """The variant columns of a variant-scorer table for input of ``schema``.

    The input layout without its ``ignore`` columns; VCF input gets the ``chrombpnet``
    columns.
    """
    s = "chrombpnet" if schema == "vcf" else schema
    return [c for c in SCHEMAS[s] if not c.startswith("ignore")]


def output_fields(v: Variant, schema: str) -> list[str]:
    """The values of :func:`output_columns` for ``v`` (positions as in the input layout;
    ``-`` for empty alleles; a VCF ``.`` id becomes :attr:`Variant.label`)."""
    pos = v.pos + 1 if schema in _ONE_BASED else v.pos
    vid = v.label if schema == "vcf" and v.id in (".", "") else v.id
    values = {"chr": v.chrom, "pos": str(pos), "allele1": v.ref or "-",
              "allele2": v.alt or "-", "variant_id": vid,
              "end": str(v.end if v.end is not None else v.pos + max(len(v.ref), 1))}
    return [values[c] for c in output_columns(schema)]
