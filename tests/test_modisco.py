"""TF-MoDISco (modisco-lite, run for real) on attributions with planted motifs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("modiscolite")
pytest.importorskip("memelite")

from bpnetkit.errors import InputError  # noqa: E402
from bpnetkit.io.meme import read_meme  # noqa: E402
from bpnetkit.io.modisco import read_modisco_patterns  # noqa: E402
from bpnetkit.motifs.database import load_builtin_motifs, select_motifs  # noqa: E402
from bpnetkit.motifs.modisco import check_modisco_input, run_tfmodisco  # noqa: E402
from bpnetkit.report.motifs import pattern_figure  # noqa: E402
from bpnetkit.steps.annotate import AnnotateParams, run_annotate  # noqa: E402
from bpnetkit.steps.modisco import ModiscoOutputs, ModiscoParams, run_modisco  # noqa: E402
from bpnetkit.testing.planted import planted_attributions, write_attribution_h5  # noqa: E402

NAMES = ["CTCF", "GATA1", "SPI1"]


def _read_tsv(path):
    lines = open(path).read().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


@pytest.mark.slow
def test_modisco_finds_planted_motifs_and_tomtom_names_them(tmp_path, caplog):
    from matplotlib.figure import Figure

    db = load_builtin_motifs()
    motifs = select_motifs(db, NAMES)
    ps = planted_attributions(motifs, n=240, length=160, random_state=0)
    h5 = tmp_path / "attr.h5"
    write_attribution_h5(h5, ps.one_hot, ps.hypothetical)
    params = ModiscoParams(attributions=str(h5), output_dir=str(tmp_path / "m"), window=160,
                           max_seqlets=300, n_leiden=1, min_metacluster_size=50,
                           final_min_cluster_size=10)
    out = run_modisco(params)
    assert isinstance(out, ModiscoOutputs) and out.missing() == []
    patterns = read_modisco_patterns(out.modisco_h5)
    assert out.n_patterns == len(patterns)
    pos = [p for p in patterns if p.name.startswith("pos_")]
    assert len(pos) >= 3
    rows = _read_tsv(out.pattern_matches)
    best = {r["pattern"]: r for r in rows if r["rank"] == "1"}
    # a pattern per planted motif, and Tomtom names the planted database motif first
    top_ids = {best[p.name]["match"] for p in pos}
    assert {m.name for m in motifs} <= top_ids
    for p in pos:
        r = best[p.name]
        if r["match"] in {m.name for m in motifs}:
            assert float(r["q_value"]) < 1e-3 and p.n_seqlets >= 10
    assert len(read_meme(out.patterns_meme)) == len(patterns)
    assert out.report_html.endswith("motifs.html")  # modisco-lite's report (memelite)
    # only modisco-lite's own report draws PNGs; our step writes data only
    assert all("report" in p.parts for p in (tmp_path / "m").rglob("*.png"))
    # the report's figure of a pattern next to its matches
    fig = pattern_figure(pos[0], [r for r in rows if r["pattern"] == pos[0].name], db)
    assert isinstance(fig, Figure) and len(fig.axes) == 1 + min(3, len(
        [r for r in rows if r["pattern"] == pos[0].name]))

    # annotation of the patterns from the results file: the same table
    ann = run_annotate(AnnotateParams(output_dir=str(tmp_path / "a"),
                                      modisco=out.modisco_h5, n_matches=2))
    arows = _read_tsv(ann.pattern_matches)
    assert len(arows) == 2 * len(patterns)
    assert [(r["pattern"], r["match"]) for r in arows if r["rank"] == "1"] == \
        [(r["pattern"], r["match"]) for r in rows if r["rank"] == "1"]
    assert ann.seqlet_matches is None and not list((tmp_path / "a").glob("**/*.png"))

    # small input without signal: modisco-lite makes no metacluster, an empty result
    rng = np.random.default_rng(0)
    X = np.zeros((20, 4, 100), dtype=np.int8)
    X[np.arange(20)[:, None], rng.integers(0, 4, (20, 100)), np.arange(100)] = 1
    noise = rng.normal(0, 0.01, size=(20, 4, 100)).astype(np.float32)
    write_attribution_h5(tmp_path / "noise.h5", X, noise)
    with caplog.at_level("INFO", logger="bpnetkit"):
        out2 = run_modisco(ModiscoParams(attributions=str(tmp_path / "noise.h5"),
                                         output_dir=str(tmp_path / "empty"), window=400,
                                         max_seqlets=100, n_leiden=1))
    assert "no patterns" in caplog.text and "min_metacluster_size" in caplog.text
    assert "using the whole 100 bp" in caplog.text
    assert read_modisco_patterns(out2.modisco_h5) == [] and out2.n_patterns == 0
    assert _read_tsv(out2.pattern_matches) == []
    assert out2.patterns_meme is None and out2.report_html is None
    with pytest.raises(InputError, match="raw/seq"):
        import h5py

        with h5py.File(tmp_path / "bad.h5", "w") as fh:
            fh["shap/seq"] = noise
        run_modisco(ModiscoParams(attributions=str(tmp_path / "bad.h5"),
                                  output_dir=str(tmp_path / "x")))


def test_degenerate_attributions_are_an_input_error_not_an_empty_result():
    """All-zero or one-signed windows make modisco-lite crash inside its null model; we
    refuse them up front with a message instead of calling it "no patterns"."""
    rng = np.random.default_rng(1)
    X = np.zeros((20, 100, 4), dtype=np.float32)
    X[np.arange(20)[:, None], np.arange(100), rng.integers(0, 4, (20, 100))] = 1
    with pytest.raises(InputError, match="all zero"):
        run_tfmodisco(X, np.zeros_like(X))
    with pytest.raises(InputError, match="never negative"):
        check_modisco_input(X, np.abs(rng.normal(0, 0.01, X.shape)).astype(np.float32), 20)
    bad = rng.normal(0, 0.01, X.shape).astype(np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        check_modisco_input(X, bad, 20)
    with pytest.raises(InputError, match="sliding_window_size"):
        check_modisco_input(X, np.nan_to_num(bad), 200)
    # mixed signs pass the check; modisco-lite then runs and, with pure noise, finds nothing
    res = run_tfmodisco(X, rng.normal(0, 0.01, X.shape).astype(np.float32), n_leiden=1)
    assert res.n_patterns == 0 and res.patterns() == [] and "min_metacluster_size" in res.note
