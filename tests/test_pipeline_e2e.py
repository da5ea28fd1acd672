"""End to end: a reduced demo from simulated reads to motifs, then a re-run and a resume.

The demo plants JASPAR motifs (CTCF, REST, Pou5f1::Sox2) at peaks of a random genome and
simulates ChIP-nexus-like reads. The whole pipeline runs on the BAM files; the test checks
that TF-MoDISco rediscovers the planted motifs and that Tomtom matches them to the right
database entries, that a second run does no work, and that an interrupted run resumes at
the interrupted step.
"""

from __future__ import annotations

import pytest

from bpnetkit.pipeline import load_pipeline_params, run_pipeline
from bpnetkit.pipeline.runner import STAMP

pytest.importorskip("modiscolite")
pytest.importorskip("memelite")


@pytest.mark.slow
def test_reduced_demo_rediscovers_planted_motifs(tmp_path):
    from bpnetkit.demo.run import run_demo

    res = run_demo(tmp_path, model="bpnet", size="small", call_peaks=False)
    statuses = {r.name: r.status for r in res.summary.results}
    assert res.summary.ok, res.summary.table()
    for step in ("bigwigs", "negatives", "fit", "evaluate", "predict", "attribute", "seqlets",
                 "annotate", "modisco", "marginalize", "report"):
        assert statuses[step] == "ran", res.summary.table()

    rows = {r["name"]: r for r in res.planted}
    # every planted motif: found by MoDISco, matched by Tomtom (against the whole JASPAR
    # database) to its own entry, and marginalization ranks them by their planted strength
    for name, motif_id in (("CTCF", "MA0139.2"), ("REST", "MA0138.3"),
                           ("Pou5f1::Sox2", "MA0142.1")):
        row = rows[name]
        assert row["motif"] == motif_id
        assert row["rediscovered"] is True, row
        assert row["matched"] is True, row
    assert rows["CTCF"]["marginal_rank"] == 1
    assert rows["REST"]["marginal_rank"] < rows["Pou5f1::Sox2"]["marginal_rank"]
    html = open(res.report).read()
    assert "Planted motifs" in html and "MA0139.2" in html

    # a re-run does no work
    cfg = load_pipeline_params(res.pipeline_json)
    again = run_pipeline(cfg, log=lambda m: None)
    assert {r.status for r in again.results} <= {"cached", "not needed"}, again.table()

    # an interrupted run resumes: marginalize was interrupted (no stamp) -> only it and the
    # steps after it run again
    run_dir = cfg.run_dir
    (run_dir / "marginalize" / STAMP).unlink()
    resumed = run_pipeline(cfg, log=lambda m: None)
    ran = [r.name for r in resumed.results if r.status == "ran"]
    assert ran == ["marginalize", "report"], resumed.table()
