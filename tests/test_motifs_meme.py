"""MEME reading/writing on files shaped like real exports, and malformed records."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif, read_meme, write_meme
from bpnetkit.motifs.database import (
    builtin_motif_db_path,
    load_builtin_motifs,
    load_motif_db,
    motif_db_path,
    select_motifs,
    trim_motif,
)

JASPAR_STYLE = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.25 C 0.25 G 0.25 T 0.25

MOTIF MA0004.1 Arnt
letter-probability matrix: alength= 4 w= 6 nsites= 20 E= 0
  0.200000  0.800000  0.000000  0.000000
  0.950000  0.000000  0.050000  0.000000
  0.000000  1.000000  0.000000  0.000000
  0.000000  0.000000  1.000000  0.000000
  0.000000  0.000000  0.000000  1.000000
  0.000000  0.000000  1.000000  0.000000
URL http://jaspar.genereg.net/matrix/MA0004.1

MOTIF MA0006.1 Ahr::Arnt
letter-probability matrix: alength= 4 w= 3 nsites= 24 E= 0
  0.125000  0.333333  0.083333  0.458333
  0.000000  0.000000  0.958333  0.041667
  0.000000  0.958333  0.000000  0.041667
URL http://jaspar.genereg.net/matrix/MA0006.1
"""

# HOCOMOCO-like: no blank line after MOTIF, tabs, three decimals that do not sum to 1
HOCOMOCO_STYLE = """MEME version 5
ALPHABET= ACGT
strands: + -
Background letter frequencies
A 0.29 C 0.21 G 0.21 T 0.29
MOTIF AHR_HUMAN.H11MO.0.B
letter-probability matrix: alength= 4 w= 2 nsites= 34 E= 0
0.262\t0.134\t0.477\t0.126
0.033\t0.033\t0.898\t0.036
MOTIF ALX1_HUMAN.H11MO.0.B
letter-probability matrix: alength= 4 w= 2 nsites= 70 E= 0
0.5\t0.1\t0.1\t0.3
0.9\t0.03\t0.03\t0.04
"""

# ChromBPNet motifs.meme.txt-like: mixed sources, bias motifs, MEME 5 alphabet block,
# E-values in scientific notation, log-odds matrix after the probabilities
CHROMBPNET_STYLE = """MEME version 5

ALPHABET "DNA" DNA-LIKE
A "Adenine" CC0000 ~ T "Thymine" 008000
C "Cytosine" 0000CC ~ G "Guanine" FFB300
N "Any base" = ACGT
END ALPHABET

strands: + -

MOTIF Tn5_bias_1 Tn5
letter-probability matrix: alength= 4 w= 3 nsites= 1000 E= 1.2e-10
0.1 0.4 0.4 0.1
0.25 0.25 0.25 0.25
0.7 0.1 0.1 0.1

log-odds matrix: alength= 4 w= 3 E= 1.2e-10
-1.3 0.6 0.6 -1.3
0 0 0 0
1.5 -1.3 -1.3 -1.3

MOTIF DNase_bias
letter-probability matrix: alength=4 w=2 nsites=20 E=0
1 0 0 0
0 0 0 1
MOTIF CTCF_known1 CTCF
letter-probability matrix: alength= 4 w= 2
0.0 1.0 0.0 0.0
0.0 0.0 1.0 0.0
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_jaspar_hocomoco_chrombpnet(tmp_path):
    ms = read_meme(_write(tmp_path, "j.meme", JASPAR_STYLE))
    assert [m.name for m in ms] == ["MA0004.1", "MA0006.1"]
    assert ms[1].alt_name == "Ahr::Arnt" and ms[0].length == 6 and ms[0].nsites == 20
    assert ms[0].consensus() == "CACGTG"
    assert ms[0].url.endswith("MA0004.1")
    np.testing.assert_allclose(ms[0].pwm.sum(axis=1), 1)

    hs = read_meme(_write(tmp_path, "h.meme", HOCOMOCO_STYLE))
    assert [m.name for m in hs] == ["AHR_HUMAN.H11MO.0.B", "ALX1_HUMAN.H11MO.0.B"]
    np.testing.assert_allclose(hs[0].pwm.sum(axis=1), 1)
    np.testing.assert_allclose(hs[0].pwm[1], np.array([0.033, 0.033, 0.898, 0.036]) / 1.0,
                               atol=1e-9)

    crlf = tmp_path / "crlf.meme"
    crlf.write_bytes(JASPAR_STYLE.replace("\n", "\r\n").encode())
    assert [m.consensus() for m in read_meme(crlf)] == [m.consensus() for m in ms]

    cs = read_meme(_write(tmp_path, "c.meme.txt", CHROMBPNET_STYLE))
    assert [m.name for m in cs] == ["Tn5_bias_1", "DNase_bias", "CTCF_known1"]
    assert cs[0].length == 3 and cs[2].consensus() == "CG"
    assert cs[0].alt_name == "Tn5"


def test_roundtrip_plain_and_gzip(tmp_path):
    rng = np.random.default_rng(0)
    ms = [Motif(f"m{i}", rng.dirichlet([1] * 4, size=5 + i), alt_name=f"TF {i}", nsites=10)
          for i in range(3)]
    for name in ("out.meme", "out.meme.gz"):
        p = write_meme(ms, tmp_path / name, comments=["a comment", "licence: test"])
        back = read_meme(p)
        assert [m.name for m in back] == ["m0", "m1", "m2"]
        assert back[1].alt_name == "TF 1"
        for a, b in zip(ms, back):
            np.testing.assert_allclose(a.pwm, b.pwm, atol=1e-6)
    with gzip.open(tmp_path / "out.meme.gz", "rt") as fh:
        assert "# licence: test" in fh.read()


@pytest.mark.parametrize("text, line, words", [
    (JASPAR_STYLE.replace("  0.950000  0.000000  0.050000  0.000000\n",
                          "  0.950000  0.000000  0.050000\n"), 13, "3 values"),
    (JASPAR_STYLE.replace("  0.950000  0.000000", "  0.950000  abc"), 13, "matrix rows"),
    (JASPAR_STYLE.replace("w= 6", "w= 7"), 11, "w= 7"),
    (JASPAR_STYLE.replace("  0.000000  1.000000  0.000000  0.000000\n",
                          "  0.000000  -1.000000  0.000000  0.000000\n"), 14, "negative"),
    (JASPAR_STYLE.replace("letter-probability matrix: alength= 4 w= 3 nsites= 24 E= 0\n",
                          ""), 20, "no 'letter-probability"),
    (JASPAR_STYLE.replace("alength= 4 w= 6", "alength= 20 w= 6"), 11, "alength= 20"),
    (JASPAR_STYLE.replace("MOTIF MA0004.1 Arnt", "MOTIF"), 10, "without a name"),
])
def test_malformed_records_name_file_and_line(tmp_path, text, line, words):
    p = _write(tmp_path, "bad.meme", text)
    with pytest.raises(InputError) as e:
        read_meme(p)
    msg = str(e.value)
    assert "bad.meme" in msg and f"line {line}" in msg and words in msg


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="no motifs found"):
        read_meme(_write(tmp_path, "empty.meme", "MEME version 4\n\nALPHABET= ACGT\n"))
    with pytest.raises(FileNotFoundError, match="MEME motif file"):
        read_meme(tmp_path / "nope.meme")
    with pytest.raises(InputError, match="not DNA"):
        read_meme(_write(tmp_path, "prot.meme", "MEME version 4\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n"
                         "MOTIF x\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n"))


def test_builtin_database():
    ms = load_builtin_motifs()
    assert len(ms) > 500
    names = {m.alt_name.upper() for m in ms}
    assert {"CTCF", "GATA1", "SPI1"} <= names
    ctcf = select_motifs(ms, ["CTCF"])[0]
    assert ctcf.name.startswith("MA0139")
    with pytest.raises(InputError, match="not in the motif database"):
        select_motifs(ms, ["NOT_A_TF_XYZ"])
    # None, "" and "builtin" all mean the packaged file; a path means that file
    for key in (None, "", "builtin"):
        assert motif_db_path(key) == builtin_motif_db_path()
    assert [m.name for m in load_motif_db(None)] == [m.name for m in ms]
    assert select_motifs(ms, ["ma0139.2"])[0].alt_name.upper() == "CTCF"


def test_motif_helpers():
    pwm = np.full((7, 4), 0.25)
    pwm[2:5] = np.eye(4)[[0, 1, 2]]
    m = Motif("x", pwm)
    t = trim_motif(m)
    assert t.consensus() == "ACG"
    rc = m.reverse_complement()
    assert rc.consensus()[2:5] == "CGT"
    s = m.sample(50, random_state=0)
    assert s.shape == (50, 4, 7) and (s.sum(axis=1) == 1).all()
    assert (s[:, :, 2:5].argmax(axis=1) == np.array([0, 1, 2])).all()


def test_cli_motifs_export_list_and_bad_file(tmp_path, capsys):
    from bpnetkit.cli.main import main

    for name in ("db.meme", "db.meme.gz"):
        assert main(["motifs", "--export", str(tmp_path / name)]) == 0
        assert len(read_meme(tmp_path / name)) == len(load_builtin_motifs())
    text = (tmp_path / "db.meme").read_text()
    assert "JASPAR CORE vertebrates non-redundant" in text and "CC BY 4.0" in text
    capsys.readouterr()
    assert main(["motifs", "--db", str(tmp_path / "db.meme"), "--show", "CTCF"]) == 0
    assert "MOTIF MA0139" in capsys.readouterr().out
    bad = _write(tmp_path, "bad.meme", JASPAR_STYLE.replace("  0.950000  0.000000", "  x  y"))
    assert main(["motifs", "--db", str(bad), "--list"]) == 2
    err = capsys.readouterr().err
    assert "bad.meme, line 13" in err and "Traceback" not in err


def test_agrees_with_memelite_reader(tmp_path):
    memelite_io = pytest.importorskip("memelite.io")
    for name, text in (("j.meme", JASPAR_STYLE), ("h.meme", HOCOMOCO_STYLE)):
        p = _write(tmp_path, name, text)
        ours = read_meme(p)
        peer = memelite_io.read_meme(str(p))
        assert [m.label for m in ours] == list(peer)
        for m, pwm in zip(ours, peer.values()):
            ref = pwm.T / pwm.T.sum(axis=1, keepdims=True)
            np.testing.assert_allclose(m.pwm, ref, atol=1e-9)
    # the whole built-in database, exported as plain text
    write_meme(load_builtin_motifs(), tmp_path / "db.meme")
    ours = read_meme(tmp_path / "db.meme")
    peer = memelite_io.read_meme(str(tmp_path / "db.meme"))
    assert len(peer) == len(ours)
    for m in ours[::50]:
        np.testing.assert_allclose(m.pwm, peer[m.label].T, atol=1e-5)


def test_logo_figures_stack_information_content():
    from matplotlib.figure import Figure

    from bpnetkit.report.logos import logos_figure
    from bpnetkit.report.motifs import motif_logo_figure

    ctcf = select_motifs(load_builtin_motifs(), ["CTCF"])[0]
    fig = motif_logo_figure(ctcf)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    # the letters of column i stack up to the information content of position i (bits)
    ax = fig.axes[0]
    tops = np.zeros(ctcf.length)
    for patch in ax.patches:
        ext = patch.get_path().get_extents()
        col = int(round((ext.x0 + ext.x1) / 2))
        tops[col] = max(tops[col], ext.y1)
    p = ctcf.pwm
    ic = 2 + np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0).sum(axis=1)
    np.testing.assert_allclose(tops, ic, atol=1e-6)
    two = logos_figure([ctcf.pwm, -ctcf.pwm], ["a", "b"], ["information", "values"],
                       starts=[3, 0])
    assert len(two.axes) == 2 and two.axes[1].get_ylim()[0] < 0
