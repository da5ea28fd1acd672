"""The demo's planted-motif summary tells the truth: a planted motif counts as rediscovered
only when a MoDISco pattern is its own matrix by the whole database's judgement."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpnetkit.demo.simulate import DemoSpec, TFSpec, simulate

h5py = pytest.importorskip("h5py")
pytest.importorskip("memelite")


def _write_h5(path, ppms):
    """A modisco-lite-layout results file whose positive patterns are ``ppms``."""
    with h5py.File(path, "w") as fh:
        fh.attrs["window_size"] = 400
        grp = fh.create_group("pos_patterns")
        for i, ppm in enumerate(ppms):
            p = grp.create_group(f"pattern_{i}")
            p["sequence"] = ppm
            p["contrib_scores"] = ppm * 0.5
            p["hypothetical_contribs"] = ppm * 0.5
            p.create_group("seqlets")["n_seqlets"] = np.array([50])


def test_rediscovered_only_for_patterns_of_the_planted_motif(tmp_path):
    from bpnetkit.demo.summary import format_summary, planted_summary
    from bpnetkit.motifs.database import load_builtin_motifs, select_motifs

    tfs = [TFSpec("CTCF", 300.0), TFSpec("REST", 200.0), TFSpec("MA0481.4", 150.0)]
    data = simulate(tmp_path / "sim", DemoSpec(n_chroms=1, chrom_length=20_000, n_peaks=5,
                                               tfs=tfs, pair=None, random_state=0))
    ctcf, _rest, foxp1 = select_motifs(load_builtin_motifs(), ["CTCF", "REST", "MA0481.4"])
    # patterns: CTCF itself, the short FOXP1 matrix, and an AT-rich run
    at_rich = np.tile([0.45, 0.05, 0.05, 0.45], (8, 1))
    h5 = tmp_path / "modisco.h5"
    _write_h5(h5, [ctcf.pwm, foxp1.pwm, at_rich])
    rows = {r["motif"]: r for r in planted_summary(data.truth, str(h5))}
    assert rows["MA0139.2"]["rediscovered"] and rows["MA0139.2"]["matched"]
    assert rows["MA0139.2"]["pattern"] == "pos_patterns.pattern_0"
    assert rows["MA0481.4"]["rediscovered"]
    assert rows["MA0481.4"]["pattern"] == "pos_patterns.pattern_1"
    assert not rows["MA0138.3"]["rediscovered"]
    text = format_summary(list(rows.values()))
    assert "FOXP1" in text and "REST" in text
    truth = json.loads(open(data.truth).read())
    assert [p["motif_alt_name"] for p in truth["planted"]] == ["CTCF", "REST", "FOXP1"]

    # GGAAACA resembles FOXP1 (GTAAACA) among three planted matrices (Tomtom p < 1e-3), but
    # the whole database names no FOXP-family motif for it: not rediscovered
    lookalike = np.full((7, 4), 0.05)
    lookalike[np.arange(7), ["ACGT".index(c) for c in "GGAAACA"]] = 0.85
    _write_h5(h5, [ctcf.pwm, lookalike])
    rows = {r["motif"]: r for r in planted_summary(data.truth, str(h5))}
    assert rows["MA0139.2"]["rediscovered"]
    assert rows["MA0481.4"]["pattern"] == "pos_patterns.pattern_1"
    assert rows["MA0481.4"]["pattern_p"] < 1e-3
    assert not rows["MA0481.4"]["matched"] and not rows["MA0481.4"]["rediscovered"]
    # a noisy FOXP-family pattern (best database matches are paralogs) is rediscovered
    paralog = np.full((8, 4), 0.05)
    paralog[np.arange(8), ["ACGT".index(c) for c in "AGTAAACA"]] = 0.85
    _write_h5(h5, [ctcf.pwm, paralog])
    rows = {r["motif"]: r for r in planted_summary(data.truth, str(h5))}
    assert rows["MA0481.4"]["rediscovered"], rows["MA0481.4"]
