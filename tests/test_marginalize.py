"""In-silico marginalization with a BPNet whose filters are JASPAR log-odds matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bpnetkit.cli.main import main
from bpnetkit.errors import InputError
from bpnetkit.io.meme import load_builtin_motifs, select_motifs
from bpnetkit.models.files import save_model
from bpnetkit.motifs.marginalize import (
    MarginalizeParams,
    insert_motif,
    js_distance,
    load_backgrounds,
    marginalize,
)
from bpnetkit.testing.planted import pwm_bpnet

PLANTED = ["CTCF", "SPI1"]
OTHERS = ["GATA1", "FOXA1", "SOX2", "TEAD1", "NFYA", "REST", "CEBPB", "HNF4A", "MAX", "NRF1",
          "YY1", "ZNF143"]


@pytest.fixture(scope="module")
def db():
    return load_builtin_motifs()


def test_planted_motifs_rank_first(db):
    planted = select_motifs(db, PLANTED)
    model = pwm_bpnet(planted, kernel=21)
    X = load_backgrounds(length=200, n=24, random_state=0)
    cands = select_motifs(db, OTHERS[:6] + PLANTED + OTHERS[6:])
    for insertion in ("consensus", "sample"):
        effects = marginalize(model, cands, X, insertion=insertion, random_state=1)
        ranked = sorted(effects, key=lambda e: -e.delta_log_counts)
        assert {e.motif for e in ranked[:2]} == {m.name for m in planted}
        assert ranked[1].delta_log_counts > 5 * max(abs(ranked[2].delta_log_counts), 1e-6)
        by_jsd = sorted(effects, key=lambda e: -e.profile_jsd)
        assert {e.motif for e in by_jsd[:2]} == {m.name for m in planted}
    # the consensus effect equals an independent forward pass of the inserted sequences
    with torch.no_grad():
        base = model(torch.tensor(X, dtype=torch.float32))[1].numpy()
        ins = insert_motif(X, planted[0])
        after = model(torch.tensor(ins, dtype=torch.float32))[1].numpy()
    eff = marginalize(model, planted[:1], X)[0]
    assert eff.delta_log_counts == pytest.approx(float((after - base).mean()), rel=1e-5)


def test_js_distance_matches_scipy():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(30), size=4)
    q = rng.dirichlet(np.ones(30), size=4)
    np.testing.assert_allclose(js_distance(p, q), [jensenshannon(a, b) for a, b in zip(p, q)],
                               rtol=1e-9)


def test_run_marginalize_end_to_end(tmp_path, db):
    planted = select_motifs(db, PLANTED)
    save_model(pwm_bpnet(planted), tmp_path / "model")
    rng = np.random.default_rng(0)
    bg = np.zeros((20, 4, 200), dtype=np.int8)
    bg[np.arange(20)[:, None], rng.integers(0, 4, (20, 200)), np.arange(200)] = 1
    np.save(tmp_path / "bg.npy", bg)
    params = {"model": str(tmp_path / "model"), "output_dir": str(tmp_path / "out"),
              "motifs": ["GATA1", "CTCF", "FOXA1", "SPI1"], "backgrounds": str(tmp_path /
                                                                             "bg.npy"),
              "in_window": 200, "n_backgrounds": 12, "spacing_pairs": [["CTCF", "SPI1"]],
              "spacings": [0, 10], "attributions": True, "n_shuffles": 2}
    pj = tmp_path / "marg.json"
    pj.write_text(json.dumps(params))
    assert main(["marginalize", "-p", str(pj)]) == 0
    out = tmp_path / "out"
    lines = (out / "marginalize.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert {rows[0]["name"], rows[1]["name"]} == {"CTCF", "Spi1"}
    for r in rows[:2]:  # attributions over the inserted motif carry the count effect
        assert float(r["attribution_inserted"]) > float(r["attribution_background"])
    sp = (out / "marginalize.spacing.tsv").read_text().splitlines()
    assert len(sp) == 3 and sp[0].startswith("motif_a\tmotif_b\tspacing")
    html = (out / "marginalize.html").read_text()
    assert html.count("<img") >= 2 * len(rows)
    assert (out / "marginalize.params.json").exists()


def test_bad_inputs(db):
    X = load_backgrounds(length=10, n=2)
    long = select_motifs(db, ["CTCF"])[0]
    with pytest.raises(InputError, match="longer than the sequence window"):
        insert_motif(X, long)
    with pytest.raises(InputError, match="longer than the background window"):
        marginalize(None, [long], X)
    with pytest.raises(InputError, match="not in the motif database"):
        select_motifs(db, ["NOPE_TF"])
    with pytest.raises(InputError, match="two motif names"):
        MarginalizeParams(model="m", output_dir="o", spacing_pairs=[["CTCF"]]).validate()


def test_backgrounds_from_regions_are_dinucleotide_shuffles(tmp_path):
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), size=3000))
    (tmp_path / "g.fa").write_text(">chrA\n" + "\n".join(seq[i:i + 60]
                                                        for i in range(0, 3000, 60)) + "\n")
    (tmp_path / "r.bed").write_text("chrA\t400\t600\nchrA\t1000\t1100\nchrA\t2900\t2990\n")
    X = load_backgrounds(regions=str(tmp_path / "r.bed"), genome=str(tmp_path / "g.fa"),
                         length=300, n=10, shuffle=True, random_state=0)
    assert X.shape == (2, 4, 300)  # the window off the chromosome end is dropped
    raw = load_backgrounds(regions=str(tmp_path / "r.bed"), genome=str(tmp_path / "g.fa"),
                           length=300, n=10, shuffle=False)
    assert "".join("ACGT"[i] for i in raw[0].argmax(axis=0)) == seq[350:650]

    def dinucs(x):
        s = x.argmax(axis=0)
        return np.bincount(s[:-1] * 4 + s[1:], minlength=16)

    for a, b in zip(raw, X):
        np.testing.assert_array_equal(dinucs(a), dinucs(b))
        assert not np.array_equal(a, b)
