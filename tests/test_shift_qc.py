"""Tn5/DNase shift defaults, checks and the shift QC, on simulated reads with a known shift.

The genome backbone is real C. elegans sequence (not human); cut sites are drawn with a
reverse-complement-symmetric Tn5-like bias motif centred on the 9-bp target duplication. A
Tn5 insertion whose duplication spans ``x .. x + 8`` gives a ``+`` read starting at ``x`` and
a ``-`` read ending at ``x + 8``; 10x fragment files hold ``start + 4`` and ``end - 5``.
"""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pysam
import pytest

from bpnetkit.data.shift_qc import (
    ShiftQC,
    check_shift_settings,
    default_shifts,
    detect_shift,
)
from bpnetkit.demo.simulate import backbone_path
from bpnetkit.errors import InputError
from bpnetkit.io.fasta import ALPHABET
from bpnetkit.steps import bam2bw

BACKBONE = str(backbone_path("ce_chrX"))  # real C. elegans sequence shipped with bpnetkit
READ_LEN = 50


def _backbone() -> str:
    with gzip.open(BACKBONE, "rt") as fh:
        return "".join(line.strip() for line in fh if not line.startswith(">")).upper()


def _tn5_pwm(rng, width: int = 19, strength: float = 0.25) -> np.ndarray:
    half = rng.normal(0, strength, size=(width // 2 + 1, 4))
    pwm = np.zeros((width, 4))
    pwm[: width // 2 + 1] = half
    for i in range(width // 2 + 1):       # reverse-complement symmetric
        pwm[width - 1 - i] = pwm[i, ::-1]
    return pwm


def _biased_sites(codes, pwm, n, rng, margin=200):
    """Centres of cut sites drawn with probability ~ exp(motif score)."""
    h = len(pwm) // 2
    cand = rng.integers(margin, len(codes) - margin, size=n * 25)
    win = codes[cand[:, None] + np.arange(-h, h + 1)[None, :]]
    ok = (win < 4).all(axis=1)
    sc = pwm[np.arange(len(pwm))[None, :], np.minimum(win, 3)].sum(axis=1)
    p = np.minimum(1.0, np.exp(sc - np.quantile(sc, 0.9))) * ok
    return cand[rng.random(len(cand)) < p][:n]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("shiftqc")
    seq = _backbone()
    fa = d / "worm.fa"
    fa.write_text(">worm1\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    lut = np.full(256, 4, np.uint8)
    for i, b in enumerate(ALPHABET):
        lut[ord(b)] = i
    codes = lut[np.frombuffer(seq.encode(), np.uint8)]
    rng = np.random.default_rng(7)
    centres = _biased_sites(codes, _tn5_pwm(rng), 40000, rng)
    x = np.sort(rng.permutation(centres - 4))           # duplication x .. x + 8
    a, b = x[0::2], x[1::2]
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    keep = (b - a >= READ_LEN) & (b - a < 2000)
    return {"dir": d, "fa": fa, "codes": codes, "a": a[keep], "b": b[keep],
            "size": len(seq)}


def _write_paired_bam(path, a, b, size, pre_shift=(0, 0)):
    """Fragments a..b as read pairs; ``pre_shift`` moves read ends as if already shifted."""
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": "worm1", "LN": size}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, (s, e) in enumerate(zip(a, b)):
            left = int(s) + pre_shift[0]
            right_end = int(e) + 9 + pre_shift[1]            # exclusive end of the - read
            for flag, start in ((0x1 | 0x2 | 0x40 | 0x20, left),
                                (0x1 | 0x2 | 0x80 | 0x10, right_end - READ_LEN)):
                r = pysam.AlignedSegment(out.header)
                r.query_name = f"f{i}"
                r.query_sequence = "A" * READ_LEN
                r.flag = flag
                r.reference_id = 0
                r.reference_start = start
                r.mapping_quality = 30
                r.cigartuples = [(0, READ_LEN)]
                r.next_reference_id = 0
                r.next_reference_start = right_end - READ_LEN if flag & 0x40 else left
                out.write(r)
    return path


def _write_fragments(path, a, b):
    """10x convention: start + 4, end - 5 (end exclusive)."""
    with gzip.open(path, "wt") as fh:
        for s, e in zip(a, b):
            fh.write(f"worm1\t{int(s) + 4}\t{int(e) + 9 - 5}\tBC1\t1\n")
    return path


# --- the detector on arrays --------------------------------------------------------------

@pytest.mark.parametrize("shift,verdict", [((4, -4), "ok"), ((0, 0), "looks_unshifted"),
                                           ((8, -8), "looks_double_shifted"),
                                           ((4, -1), "unclear")])
def test_detect_shift_tn5_arrays(sim, shift, verdict):
    plus, minus = sim["a"] + shift[0], sim["b"] + 8 + shift[1]
    qc = detect_shift(plus, minus, sim["codes"], shift_used=shift, assay="atac")
    assert isinstance(qc, ShiftQC)
    assert qc.strand_offset == 8 + shift[1] - shift[0]         # ground truth
    assert qc.verdict == verdict
    assert qc.inferred_shift == [4, -4]
    assert qc.confidence > 0.5
    assert json.loads(json.dumps(qc.to_dict()))["verdict"] == verdict


def test_detect_shift_without_bias_is_unclear(sim):
    rng = np.random.default_rng(1)
    u = rng.integers(500, sim["size"] - 500, size=40000)
    qc = detect_shift(u[:20000], u[20000:], sim["codes"], shift_used=(4, -4))
    assert qc.verdict == "unclear" and qc.confidence < 0.3
    few = detect_shift(sim["a"][:50], sim["b"][:50], sim["codes"])
    assert few.verdict == "unclear" and "too few" in few.message


@pytest.mark.parametrize("shift,verdict", [((0, 1), "ok"), ((0, 0), "looks_unshifted"),
                                           ((0, 2), "looks_double_shifted")])
def test_detect_shift_dnase_arrays(sim, shift, verdict):
    """DNase: a break between x - 1 and x gives + end x and - end x - 1; non-symmetric bias."""
    rng = np.random.default_rng(3)
    pwm = rng.normal(0, 0.4, size=(6, 4))
    cuts = _biased_sites(sim["codes"], np.r_[pwm, np.zeros((1, 4))], 30000, rng)
    plus, minus = cuts[0::2] + shift[0], cuts[1::2] - 1 + shift[1]
    qc = detect_shift(plus, minus, sim["codes"], shift_used=shift, assay="dnase")
    assert qc.verdict == verdict
    assert qc.inferred_shift == [0, 1]


# --- the bam2bw step -------------------------------------------------------------------

def _run(sim, inputs, name, **kw):
    p = bam2bw.Params(inputs=[str(x) for x in inputs], output_dir=str(sim["dir"] / name),
                      name=name, genome=str(sim["fa"]), **kw)
    return bam2bw.run(p)


def test_bam2bw_records_shift_qc(sim, caplog):
    bam = _write_paired_bam(sim["dir"] / "pe.bam", sim["a"], sim["b"], sim["size"])
    d = default_shifts("paired_bam", "atac")
    good = _run(sim, [bam], "good", preset=d.preset, paired_end=d.paired_end)
    qc = json.loads(open(good.shift_qc).read())
    assert good.shift_verdict == qc["verdict"] == "ok"
    assert qc["strand_offset"] == 0 and qc["inferred_shift"] == [4, -4]
    assert len(good.bigwigs) == 2
    # counted without the shift: detected and warned about
    with caplog.at_level(logging.WARNING, logger="bpnetkit.steps.bam2bw"):
        raw = _run(sim, [bam], "raw", paired_end=True, shift_qc=True)
    assert raw.shift_verdict == "looks_unshifted"
    assert any("WITHOUT" in r.message and "+4/-4" in r.message for r in caplog.records)
    # a BAM whose reads were already shifted, shifted again by the preset
    pre = _write_paired_bam(sim["dir"] / "pre.bam", sim["a"], sim["b"], sim["size"],
                            pre_shift=(4, -4))
    twice = _run(sim, [pre], "twice", preset="atac", paired_end=True)
    assert twice.shift_verdict == "looks_double_shifted"
    assert json.loads(open(twice.shift_qc).read())["inferred_shift"] == [0, 0]
    # no shift and no fragment input: no QC unless asked
    plain = _run(sim, [bam], "plain", paired_end=True)
    assert plain.shift_qc is None and plain.shift_verdict is None


def test_bam2bw_fragments(sim):
    frag = _write_fragments(sim["dir"] / "atac.fragments.tsv.gz", sim["a"], sim["b"])
    d = default_shifts("fragments", "atac")
    out = _run(sim, [frag], "frag", preset=d.preset, paired_end=d.paired_end)
    qc = json.loads(open(out.shift_qc).read())
    assert out.shift_verdict == "ok"
    assert qc["strand_offset"] == -1            # 10x: end - 5 puts '-' ends 1 bp left
    with pytest.raises(InputError, match="already Tn5-adjusted"):
        _run(sim, [frag], "frag2", preset="atac")
    with pytest.raises(InputError, match="paired_end applies to BAM/SAM"):
        _run(sim, [frag], "frag3", paired_end=True)
    forced = _run(sim, [frag], "frag4", preset="atac", force_shift=True)
    assert forced.shift_verdict == "looks_double_shifted"


# --- defaults and checks -----------------------------------------------------------------

def test_default_shifts_and_checks():
    assert (default_shifts("bam", "atac").shift_plus,
            default_shifts("bam", "atac").shift_minus) == (4, -4)
    pb = default_shifts("paired_bam", "atac")
    assert pb.paired_end and pb.preset == "atac"
    fr = default_shifts("fragments", "atac")
    assert (fr.preset, fr.shift_plus, fr.shift_minus, fr.paired_end) == ("none", 0, 0, False)
    assert default_shifts("bam", "dnase").shift_minus == 1
    assert default_shifts("bam", "chip").preset == "none"
    with pytest.raises(InputError, match="unknown input kind"):
        default_shifts("cram", "atac")
    check_shift_settings(["bam"], 4, -4, paired_end=True)
    check_shift_settings(["fragments"], 4, -4, force_shift=True)
    with pytest.raises(InputError, match="shift it twice"):
        check_shift_settings(["fragments"], 4, -4, preset="atac", names=["a.tsv.gz"])
    with pytest.raises(InputError, match="paired_end"):
        check_shift_settings(["bam", "fragments"], 0, 0, paired_end=True)


def test_shift_qc_figure(sim):
    from matplotlib.figure import Figure

    from bpnetkit.report.data import shift_qc_figure

    qc = detect_shift(sim["a"], sim["b"] + 8, sim["codes"])
    fig = shift_qc_figure(qc.to_dict())
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert list(fig.axes[1].lines[0].get_xdata()) == qc.lags


def test_input_kinds_pick_defaults(sim):
    from bpnetkit.data.shift_qc import input_kind, shifts_for_inputs

    bam = sim["dir"] / "pe.bam"
    if not bam.exists():
        _write_paired_bam(bam, sim["a"][:100], sim["b"][:100], sim["size"])
    frag = _write_fragments(sim["dir"] / "k.fragments.tsv.gz", sim["a"][:100], sim["b"][:100])
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": "worm1", "LN": sim["size"]}]}
    se = sim["dir"] / "se.bam"
    with pysam.AlignmentFile(str(se), "wb", header=header) as out:
        r = pysam.AlignedSegment(out.header)
        r.query_name, r.query_sequence, r.flag = "r", "A" * 20, 0
        r.reference_id, r.reference_start, r.cigartuples = 0, 100, [(0, 20)]
        out.write(r)
    assert input_kind(bam) == "paired_bam" and input_kind(se) == "bam"
    assert input_kind(frag) == "fragments"
    s = shifts_for_inputs([bam], "atac")
    assert (s.preset, s.paired_end) == ("atac", True)
    s = shifts_for_inputs([frag], "atac")
    assert (s.preset, s.shift_plus, s.shift_minus, s.paired_end) == ("none", 0, 0, False)
    with pytest.raises(InputError, match="different shift settings"):
        shifts_for_inputs([bam, frag], "atac")
