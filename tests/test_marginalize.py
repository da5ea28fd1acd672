"""In-silico marginalization with a BPNet whose filters are JASPAR log-odds matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bpnetkit.cli.main import main
from bpnetkit.errors import InputError
from bpnetkit.models.files import save_model
from bpnetkit.motifs.database import load_builtin_motifs, select_motifs
from bpnetkit.motifs.marginalize import insert_motif, marginalize, prepare_backgrounds
from bpnetkit.steps.marginalize import MarginalizeParams, load_backgrounds, read_profiles
from bpnetkit.testing.planted import pwm_bpnet
from bpnetkit.train.metrics import js_distance

PLANTED = ["CTCF", "SPI1"]
OTHERS = ["GATA1", "FOXA1", "SOX2", "TEAD1", "NFYA", "REST", "CEBPB", "HNF4A", "MAX", "NRF1",
          "YY1", "ZNF143"]


@pytest.fixture(scope="module")
def db():
    return load_builtin_motifs()


def test_planted_motifs_rank_first(db):
    planted = select_motifs(db, PLANTED)
    model = pwm_bpnet(planted, kernel=21)
    X = prepare_backgrounds(length=200, n=24, random_state=0)
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
    assert (out / "marginalize.params.json").exists()
    assert not list(out.glob("**/*.png")) and not list(out.glob("**/*.html"))  # data only
    # mean profiles for the report: the background and one (S, L) profile per motif, each a
    # distribution over strands and positions; an inserted planted motif changes the shape
    prof = read_profiles(out / "marginalize.profiles.npz")
    assert sorted(prof.motifs) == sorted(r["motif"] for r in rows)
    assert prof.inserted.shape == (len(rows), *prof.background.shape)
    np.testing.assert_allclose(prof.inserted.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    ctcf = next(r["motif"] for r in rows if r["name"] == "CTCF")
    jsd = float(js_distance(prof.background.ravel(), prof.of(ctcf).ravel()))
    assert jsd > 0.01
    # the report's HTML of the ranking: a logo and a profile figure per shown motif
    from bpnetkit.report.motifs import marginalize_html, profile_figure, spacing_figure
    from bpnetkit.report.tables import read_table

    effects = read_table(out / "marginalize.tsv")
    html = marginalize_html(effects, prof, db, read_table(out / "marginalize.spacing.tsv"))
    assert html.count("<img") == 2 * len(rows) + 1
    from matplotlib.figure import Figure

    assert isinstance(profile_figure(prof.background, prof.of(ctcf)), Figure)
    assert isinstance(spacing_figure(read_table(out / "marginalize.spacing.tsv")), Figure)


def test_bad_inputs(db):
    X = prepare_backgrounds(length=10, n=2)
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


def test_models_with_control_tracks_get_zero_controls(db):
    """Marginalization predicts through the one prediction path, which gives a model with
    control tracks zeros; the effect equals a direct forward pass with zero controls."""
    from bpnetkit.models.bpnet import BPNet

    torch.manual_seed(0)
    model = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=2).eval()
    X = prepare_backgrounds(length=300, n=6, random_state=2)
    motif = select_motifs(db, ["CTCF"])[0]
    eff = marginalize(model, [motif], X)[0]
    zeros = torch.zeros(X.shape[0], 2, X.shape[2])
    with torch.no_grad():
        base = model(torch.tensor(X, dtype=torch.float32), zeros)[1].numpy()
        after = model(torch.tensor(insert_motif(X, motif), dtype=torch.float32), zeros)[1]
    assert eff.delta_log_counts == pytest.approx(float((after.numpy() - base).mean()),
                                                 rel=1e-4, abs=1e-7)
