"""Issue 14, class 7: property-based tests of the text readers.

For every reader two properties hold:

- a file generated from the documented layout parses to exactly the records written (an
  independent oracle: the generator's own values);
- any other text (valid lines with damaged fields, junk, random bytes, gzip damage) either
  parses or raises our :class:`~bpnetkit.errors.BpnetkitError` -- never another exception.

Example counts stay modest so the suite remains fast (``BPNETKIT_FUZZ_EXAMPLES`` raises them).
"""

from __future__ import annotations

import gzip
import json
import os
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpnetkit.errors import BpnetkitError
from bpnetkit.io.bed import read_regions
from bpnetkit.io.chrom_sizes import read_chrom_sizes
from bpnetkit.io.meme import parse_meme, read_meme
from bpnetkit.io.reads import iter_text_ends
from bpnetkit.io.vcf import SCHEMAS, Skipped, Variant, detect_schema, iter_variants

# BPNETKIT_FUZZ_EXAMPLES=2000 fuzzes longer (e.g. before a release)
FUZZ = settings(max_examples=int(os.environ.get("BPNETKIT_FUZZ_EXAMPLES", "100")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_DIR = Path(tempfile.mkdtemp(prefix="bpnetkit_fuzz_"))

chrom_names = st.sampled_from(["chr1", "chr2", "chrX", "2L", "scaffold_7"])
junk_text = st.text(alphabet=string.printable + "\u00e9\u2603\x00", max_size=40)
junk_field = st.one_of(junk_text.filter(lambda s: "\t" not in s and "\n" not in s),
                       st.sampled_from(["", "-", ".", "-1", "1e3", "nan", "99999999999999999999",
                                        "+", "0x10", " 5", "inf"]))


def _write(name: str, data: bytes, gz: bool = False) -> Path:
    path = _DIR / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _damage(draw, lines: list[str]) -> bytes:
    """Damage some lines: replace a field, drop or duplicate a line, add junk or bytes."""
    out = list(lines)
    for _ in range(draw(st.integers(0, 3))):
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        kind = draw(st.sampled_from(["field", "drop", "dup", "junk", "truncate"]))
        if kind == "field":
            f = out[i].split("\t")
            j = draw(st.integers(0, len(f) - 1))
            f[j] = draw(junk_field)
            out[i] = "\t".join(f)
        elif kind == "drop":
            del out[i]
        elif kind == "dup":
            out.insert(i, out[i])
        elif kind == "junk":
            out.insert(i, draw(junk_text))
        else:
            out[i] = out[i][:draw(st.integers(0, len(out[i])))]
    data = "\n".join(out).encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        data += b"\n"
    if draw(st.integers(0, 9)) == 0:
        data += draw(st.binary(max_size=20))
    return data


def _ours_or_result(call):
    """Run ``call``; return its result, or None when it raised one of our errors."""
    try:
        return call()
    except BpnetkitError:
        return None


# ------------------------------------------------------------------------------- BED
@st.composite
def bed_rows(draw, narrowpeak: bool):
    n = draw(st.integers(1, 6))
    rows = []
    for _ in range(n):
        s = draw(st.integers(0, 10 ** 9))
        e = s + draw(st.integers(1, 5000))
        row = [draw(chrom_names), str(s), str(e)]
        if narrowpeak:
            row += ["peak", str(draw(st.integers(0, 1000))), draw(st.sampled_from("+-.")),
                    "1.5", "-1", "2.0", str(draw(st.integers(-1, e - s - 1)))]
        rows.append(row)
    return rows


@FUZZ
@given(rows=bed_rows(narrowpeak=False), gz=st.booleans(), header=st.booleans())
def test_bed_oracle(rows, gz, header):
    text = ("track name=x\n# comment\n" if header else "") + \
        "".join("\t".join(r) + "\n" for r in rows)
    reg = read_regions(_write("a.bed", text.encode(), gz))
    assert list(reg.chrom) == [r[0] for r in rows]
    np.testing.assert_array_equal(reg.start, [int(r[1]) for r in rows])
    np.testing.assert_array_equal(reg.end, [int(r[2]) for r in rows])
    np.testing.assert_array_equal(reg.summit, (reg.start + reg.end) // 2)


@FUZZ
@given(rows=bed_rows(narrowpeak=True))
def test_narrowpeak_oracle(rows):
    text = "".join("\t".join(r) + "\n" for r in rows)
    reg = read_regions(_write("a.narrowPeak", text.encode()))
    for k, r in enumerate(rows):
        s, e, off = int(r[1]), int(r[2]), int(r[9])
        assert reg.summit[k] == (s + off if off >= 0 else (s + e) // 2)
        assert reg.strand[k] == r[5] and reg.score[k] == float(r[4])


@FUZZ
@given(data=st.data(), narrowpeak=st.booleans(), gz=st.booleans())
def test_bed_damaged(data, narrowpeak, gz):
    rows = data.draw(bed_rows(narrowpeak))
    raw = _damage(data.draw, ["\t".join(r) for r in rows])
    reg = _ours_or_result(lambda: read_regions(_write("d.bed", raw, gz)))
    if reg is not None:
        assert len(reg) >= 1 and (reg.end > reg.start).all() and (reg.start >= 0).all()
        assert ((reg.summit >= reg.start) & (reg.summit < reg.end)).all()


@FUZZ
@given(raw=st.binary(max_size=200))
def test_bed_random_bytes(raw):
    _ours_or_result(lambda: read_regions(_write("r.bed", raw)))
    _ours_or_result(lambda: read_chrom_sizes(_write("r.sizes", raw)))


# ------------------------------------------------------------------------------- MEME
@st.composite
def meme_motifs(draw):
    n = draw(st.integers(1, 3))
    names = draw(st.lists(st.from_regex(r"[A-Za-z0-9_.]{1,8}", fullmatch=True), min_size=n,
                          max_size=n, unique=True))
    motifs = []
    for name in names:
        w = draw(st.integers(1, 6))
        counts = np.array(draw(st.lists(st.lists(st.integers(1, 50), min_size=4, max_size=4),
                                        min_size=w, max_size=w)), dtype=float)
        motifs.append((name, np.round(counts / counts.sum(1, keepdims=True), 6)))
    return motifs


def _meme_text(motifs, declare_w=True):
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
           "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for name, pwm in motifs:
        out.append(f"MOTIF {name} alt_{name}")
        w = f" w= {len(pwm)}" if declare_w else ""
        out.append(f"letter-probability matrix: alength= 4{w} nsites= 20 E= 0")
        out += [" " + "  ".join(f"{v:.6f}" for v in row) for row in pwm]
        out.append("")
    return out


@FUZZ
@given(motifs=meme_motifs(), declare_w=st.booleans())
def test_meme_oracle(motifs, declare_w):
    got = parse_meme(_meme_text(motifs, declare_w), source="x.meme")
    assert [m.name for m in got] == [n for n, _ in motifs]
    for m, (_, pwm) in zip(got, motifs):
        np.testing.assert_allclose(m.pwm, pwm / pwm.sum(1, keepdims=True), atol=1e-9)


@FUZZ
@given(data=st.data(), gz=st.booleans())
def test_meme_damaged(data, gz):
    lines = _meme_text(data.draw(meme_motifs()), data.draw(st.booleans()))
    raw = _damage(data.draw, lines)
    got = _ours_or_result(lambda: read_meme(_write("d.meme", raw, gz)))
    if got is not None:
        assert got and len({m.name for m in got}) == len(got)
        for m in got:
            assert m.pwm.ndim == 2 and m.pwm.shape[1] == 4 and np.isfinite(m.pwm).all()
            np.testing.assert_allclose(m.pwm.sum(1), 1)


# ------------------------------------------------------------------------------- variants
alleles = st.from_regex(r"[ACGT]{1,4}", fullmatch=True)


@st.composite
def variant_rows(draw):
    n = draw(st.integers(1, 5))
    return [(draw(chrom_names), draw(st.integers(1, 10 ** 8)), draw(alleles), draw(alleles),
             f"rs{k}") for k in range(n)]


def _table(schema, rows):
    lines = []
    for c, pos, a1, a2, vid in rows:
        lines.append({"vcf": [c, str(pos), vid, a1, a2, ".", "PASS", "."],
                      "chrombpnet": [c, str(pos), a1, a2, vid],
                      "bed": [c, str(pos - 1), str(pos), a1, a2, vid],
                      "plink": [c, vid, "0", str(pos), a1, a2],
                      "plink2": [c, vid, str(pos), a1, a2],
                      "original": [c, str(pos), vid, a1, a2]}[schema])
    head = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"] \
        if schema == "vcf" else []
    return head + ["\t".join(f) for f in lines]


@FUZZ
@given(schema=st.sampled_from(sorted(SCHEMAS)), rows=variant_rows(), gz=st.booleans())
def test_variants_oracle(schema, rows, gz):
    path = _write("v.vcf" if schema == "vcf" else "v.tsv",
                  ("\n".join(_table(schema, rows)) + "\n").encode(), gz)
    got = list(iter_variants(path, schema=schema))
    assert all(isinstance(v, Variant) for v in got)
    assert [(v.chrom, v.pos, v.ref, v.alt) for v in got] == \
        [(c, pos - 1, a1, a2) for c, pos, a1, a2, _ in rows]
    if schema == "vcf":
        assert detect_schema(path) == "vcf"


@FUZZ
@given(data=st.data(), schema=st.sampled_from(sorted(SCHEMAS)), auto=st.booleans(),
       gz=st.booleans())
def test_variants_damaged(data, schema, auto, gz):
    raw = _damage(data.draw, _table(schema, data.draw(variant_rows())))
    path = _write("d.vcf" if schema == "vcf" else "d.tsv", raw, gz)
    got = _ours_or_result(lambda: list(iter_variants(path, "auto" if auto else schema)))
    for v in got or []:
        v = v.variant if isinstance(v, Skipped) else v
        assert v.pos >= 0 and isinstance(v.chrom, str)
    _ours_or_result(lambda: detect_schema(path))


# ------------------------------------------------------------------------------- fragments
@st.composite
def fragment_rows(draw):
    n = draw(st.integers(1, 6))
    rows = []
    for k in range(n):
        s = draw(st.integers(0, 10 ** 7))
        rows.append((draw(st.sampled_from(["chr1", "chr2"])), s, s + draw(st.integers(1, 900)),
                     f"BC{k}", draw(st.integers(1, 5))))
    return rows


NAMES = {"chr1": 0, "chr2": 1}


def _ends(path):
    parts = list(iter_text_ends(path, "fragments", NAMES))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


@FUZZ
@given(rows=fragment_rows(), gz=st.booleans())
def test_fragments_oracle(rows, gz):
    text = "".join(f"{c}\t{s}\t{e}\t{b}\t{n}\n" for c, s, e, b, n in rows)
    tid, pos = _ends(_write("f.tsv", text.encode(), gz))
    expect_tid = [NAMES[r[0]] for r in rows]
    assert sorted(zip(tid.tolist(), pos.tolist())) == sorted(
        list(zip(expect_tid, [r[1] for r in rows])) + list(zip(expect_tid,
                                                               [r[2] - 1 for r in rows])))


@FUZZ
@given(data=st.data(), gz=st.booleans())
def test_fragments_damaged(data, gz):
    rows = data.draw(fragment_rows())
    raw = _damage(data.draw, [f"{c}\t{s}\t{e}\t{b}\t{n}" for c, s, e, b, n in rows])
    got = _ours_or_result(lambda: _ends(_write("fd.tsv", raw, gz)))
    if got is not None:
        assert (got[1] >= 0).all() and set(got[0].tolist()) <= {0, 1}


# ------------------------------------------------------------------------------- JSON
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 12, 10 ** 12) | st.floats(allow_nan=True)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8)


def _step_param_classes():
    from bpnetkit.pipeline.registry import COMMAND_STEPS

    return sorted({spec.params_class for spec in COMMAND_STEPS.values()},
                  key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _step_param_classes(), ids=lambda c: c.__name__)
def test_step_json_damaged(cls):
    from bpnetkit.config import field_defaults, from_dict

    defaults, required = field_defaults(cls)
    base = {k: (v if v is not None or k not in required else "x") for k, v in defaults.items()}
    keys = sorted(base)

    @FUZZ
    @given(key=st.sampled_from(keys) | st.text(max_size=12), value=json_values)
    def check(key, value):
        data = json.loads(json.dumps({**base, key: value}, default=str))
        _ours_or_result(lambda: from_dict(cls, data, where="step.json"))

    check()


@FUZZ
@given(data=json_values | st.dictionaries(
    st.sampled_from(["genome", "output_dir", "steps", "signals", "peaks", "fit", "reads",
                     "name", "chrom_sizes", "x"]), json_values, max_size=5))
def test_pipeline_json_damaged(data):
    from bpnetkit.pipeline.config import pipeline_params_from_dict

    _ours_or_result(lambda: pipeline_params_from_dict(data, where="pipeline.json"))


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@FUZZ
@given(raw=junk_text.map(str.encode) | st.binary(max_size=120).filter(_is_utf8))
def test_json_files_random_text(raw):
    from bpnetkit.config import read_json
    from bpnetkit.pipeline.config import load_pipeline_params

    path = _write("p.json", raw)
    _ours_or_result(lambda: read_json(path))
    _ours_or_result(lambda: load_pipeline_params(path))


def test_json_file_that_is_not_utf8():
    from bpnetkit.config import read_json

    _ours_or_result(lambda: read_json(_write("b.json", b'{"a": "\x80"}')))
