"""Tomtom (memelite) annotation of seqlets against the built-in database."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("memelite")

from bpnetkit.cli.main import main  # noqa: E402
from bpnetkit.errors import InputError  # noqa: E402
from bpnetkit.motifs.database import load_builtin_motifs, select_motifs  # noqa: E402
from bpnetkit.motifs.tomtom import bh_qvalues, tomtom_matches  # noqa: E402
from bpnetkit.steps.annotate import AnnotateParams, run_annotate  # noqa: E402
from bpnetkit.steps.seqlets import SeqletsParams, run_seqlets  # noqa: E402
from bpnetkit.testing.planted import planted_attributions, write_attribution_h5  # noqa: E402

NAMES = ["CTCF", "GATA1", "SPI1"]


def _read_tsv(path):
    lines = open(path).read().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def test_tomtom_names_the_database_motif():
    db = load_builtin_motifs()
    planted = select_motifs(db, NAMES)
    rng = np.random.default_rng(0)
    # noisy copies of the database matrices (20 pseudo-sites each) still find themselves
    queries = []
    for m in planted:
        counts = np.stack([rng.multinomial(20, p) for p in m.pwm]) + 0.5
        queries.append(counts / counts.sum(axis=1, keepdims=True))
    res = tomtom_matches(queries + [m.reverse_complement().pwm for m in planted], db,
                         n_matches=3)
    for i, m in enumerate(planted * 2):
        assert res[i][0].target_name == m.name
        assert res[i][0].p_value < 1e-6 and res[i][0].q_value < 1e-3
        assert res[i][0].p_value <= res[i][1].p_value <= res[i][2].p_value
    assert [r[0].strand for r in res[3:]] == ["-"] * 3


def test_bh_qvalues_against_direct_formula():
    p = np.array([[0.01, 0.04, 0.03, 0.5, 0.001]])
    q = bh_qvalues(p)[0]
    order = np.argsort(p[0])
    m = p.shape[1]
    raw = p[0][order] * m / np.arange(1, m + 1)
    expected = np.minimum.accumulate(raw[::-1])[::-1]
    np.testing.assert_allclose(q[order], expected)


def test_annotate_seqlets_counts_and_cooccurrence(tmp_path):
    db = load_builtin_motifs()
    motifs = select_motifs(db, NAMES)
    ps = planted_attributions(motifs, n=120, length=160, random_state=2)
    h5 = tmp_path / "attr.h5"
    write_attribution_h5(h5, ps.one_hot, ps.hypothetical, chroms=["chr1"] * 120,
                         starts=np.arange(120) * 1000)
    seq = run_seqlets(SeqletsParams(attributions=str(h5), output_dir=str(tmp_path / "s"),
                                    max_length=25))
    params = {"seqlets": seq.seqlets, "attributions": str(h5),
              "output_dir": str(tmp_path / "a"), "mode": "best_match"}
    pj = tmp_path / "annotate.json"
    pj.write_text(json.dumps(params))
    assert main(["annotate", "-p", str(pj)]) == 0
    out = tmp_path / "a"
    counts = _read_tsv(out / "annotate.motif_counts.tsv")
    top3 = {r["motif"] for r in counts[:3]}
    assert top3 == {f"{m.name} {m.alt_name}" for m in motifs}
    # every planted site gives at least one seqlet (long motifs may give two), and the
    # regions holding each motif are the planted ones
    planted_n = np.bincount(ps.sites[:, 3], minlength=3)
    for i, (m, n) in enumerate(zip(motifs, planted_n)):
        row = next(r for r in counts if r["motif"] == f"{m.name} {m.alt_name}")
        assert int(row["n_positive_seqlets"]) >= 0.85 * n
        n_regions = len(np.unique(ps.sites[ps.sites[:, 3] == i, 0]))
        assert abs(int(row["n_regions"]) - n_regions) <= max(4, 0.15 * n_regions)
    # co-occurrence against the planted truth: regions holding both motifs
    co = _read_tsv(out / "annotate.cooccurrence.tsv")
    label = {i: f"{m.name} {m.alt_name}" for i, m in enumerate(motifs)}
    per_region = [set(ps.sites[ps.sites[:, 0] == r, 3]) for r in range(120)]
    for a in range(3):
        for b in range(3):
            truth = sum(1 for s in per_region if a in s and b in s)
            row = next(r for r in co if r["motif"] == label[a])
            assert abs(int(row[label[b]]) - truth) <= max(3, 0.15 * truth), (a, b)
    matches = _read_tsv(out / "annotate.seqlet_matches.tsv")
    assert len(matches) == len(open(seq.seqlets).read().splitlines()) - 1
    good = [r for r in matches if r["match"]]
    assert all(float(r["q_value"]) >= float(r["p_value"]) for r in good)
    assert all(r["chrom"] == "chr1" for r in matches)

    # the default mode labels by family: the same three motifs, paralogs collapsed
    ann = run_annotate(AnnotateParams(output_dir=str(tmp_path / "fam"), seqlets=seq.seqlets,
                                      attributions=str(h5)))
    fam = _read_tsv(ann.motif_counts)
    assert fam[0]["motif"] != "(unannotated)" and fam[-1]["motif"] == "(unannotated)"
    top3 = [r["motif"] for r in fam[:3]]
    # CTCF's three matrices and its paralog CTCFL form one family
    assert any(x.startswith(("CTCF (MA0139.2", "CTCF family (CTCF")) for x in top3)
    assert any(x.startswith("GATA family (GATA1") for x in top3)
    assert any("SPI1" in x.upper() for x in top3) and len(fam) == 4
    fm = _read_tsv(ann.seqlet_matches)
    assert {r["source"] for r in fm} <= {"seqlet", ""}
    assert all(r["label"] == "" or r["match"] for r in fm)


def test_annotate_errors(tmp_path):
    empty = tmp_path / "empty.bed"
    empty.write_text("#chrom\tstart\tend\n")
    with pytest.raises(InputError, match="contains no seqlets"):
        run_annotate(AnnotateParams(output_dir=str(tmp_path), seqlets=str(empty)))
    with pytest.raises(InputError, match="seqlets.*modisco"):
        run_annotate(AnnotateParams(output_dir=str(tmp_path)))
    with pytest.raises(InputError, match="mode must be one of"):
        run_annotate(AnnotateParams(output_dir=str(tmp_path), seqlets=str(empty), mode="x"))
    with pytest.raises(InputError, match="'pattern' needs both"):
        run_annotate(AnnotateParams(output_dir=str(tmp_path), seqlets=str(empty),
                                    mode="pattern"))
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n"
                   "0.5 0.5 x 0\n")
    with pytest.raises(InputError, match=r"bad.meme, line 5"):
        run_annotate(AnnotateParams(output_dir=str(tmp_path), seqlets=str(empty),
                                    motif_db=str(bad)))


def test_tomtom_chunking_does_not_change_results():
    db = load_builtin_motifs()
    queries = [m.pwm for m in db[:7]]

    def key(res):
        return [[(x.query, x.target, x.p_value, x.q_value, x.strand) for x in r] for r in res]

    assert key(tomtom_matches(queries, db, 2, chunk_size=3)) == \
        key(tomtom_matches(queries, db, 2))
