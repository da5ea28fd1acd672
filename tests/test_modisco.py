"""TF-MoDISco (modisco-lite, run for real) on attributions with planted motifs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("modiscolite")
pytest.importorskip("memelite")

from bpnetkit.errors import InputError  # noqa: E402
from bpnetkit.io.meme import load_builtin_motifs, read_meme, select_motifs  # noqa: E402
from bpnetkit.motifs.annotate import (  # noqa: E402
    AnnotateParams,
    read_modisco_patterns,
    run_annotate,
)
from bpnetkit.motifs.modisco import ModiscoParams, run_modisco  # noqa: E402
from bpnetkit.testing.planted import planted_attributions, write_attribution_h5  # noqa: E402

NAMES = ["CTCF", "GATA1", "SPI1"]


def _read_tsv(path):
    lines = open(path).read().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


@pytest.mark.slow
def test_modisco_finds_planted_motifs_and_tomtom_names_them(tmp_path, capsys):
    motifs = select_motifs(load_builtin_motifs(), NAMES)
    ps = planted_attributions(motifs, n=240, length=160, random_state=0)
    h5 = tmp_path / "attr.h5"
    write_attribution_h5(h5, ps.one_hot, ps.hypothetical)
    params = ModiscoParams(attributions=str(h5), output_dir=str(tmp_path / "m"), window=160,
                           max_seqlets=300, n_leiden=1, min_metacluster_size=50,
                           final_min_cluster_size=10)
    out = run_modisco(params)
    patterns = read_modisco_patterns(out["modisco_h5"])
    pos = [p for p in patterns if p.name.startswith("pos_")]
    assert len(pos) >= 3
    rows = _read_tsv(out["pattern_matches"])
    best = {r["pattern"]: r for r in rows if r["rank"] == "1"}
    # a pattern per planted motif, and Tomtom names the planted database motif first
    top_ids = {best[p.name]["match"] for p in pos}
    assert {m.name for m in motifs} <= top_ids
    for p in pos:
        r = best[p.name]
        if r["match"] in {m.name for m in motifs}:
            assert float(r["q_value"]) < 1e-3 and p.n_seqlets >= 10
    assert len(read_meme(out["patterns_meme"])) == len(patterns)
    assert (tmp_path / "m" / "logos").is_dir() and out["patterns_html"].endswith(".html")
    assert "modisco_report" in out  # modisco-lite's own report, with memelite Tomtom

    # annotation of the patterns (logos next to matches) from the results file
    ann = run_annotate(AnnotateParams(output_dir=str(tmp_path / "a"),
                                      modisco=out["modisco_h5"], n_matches=2))
    arows = _read_tsv(ann["pattern_matches"])
    assert len(arows) == 2 * len(patterns)
    pngs = list((tmp_path / "a" / "logos").glob("*.png"))
    assert len(pngs) == len(patterns)

    # small input without signal: an empty result and a message, not a crash
    rng = np.random.default_rng(0)
    X = np.zeros((20, 4, 100), dtype=np.int8)
    X[np.arange(20)[:, None], rng.integers(0, 4, (20, 100)), np.arange(100)] = 1
    noise = rng.normal(0, 0.01, size=(20, 4, 100)).astype(np.float32)
    write_attribution_h5(tmp_path / "noise.h5", X, noise)
    capsys.readouterr()
    out2 = run_modisco(ModiscoParams(attributions=str(tmp_path / "noise.h5"),
                                     output_dir=str(tmp_path / "empty"), window=400,
                                     max_seqlets=100, n_leiden=1))
    printed = capsys.readouterr().out
    assert "no patterns" in printed and "using the whole 100 bp" in printed
    assert read_modisco_patterns(out2["modisco_h5"]) == []
    assert _read_tsv(out2["pattern_matches"]) == []
    with pytest.raises(InputError, match="raw/seq"):
        import h5py

        with h5py.File(tmp_path / "bad.h5", "w") as fh:
            fh["shap/seq"] = noise
        run_modisco(ModiscoParams(attributions=str(tmp_path / "bad.h5"),
                                  output_dir=str(tmp_path / "x")))
