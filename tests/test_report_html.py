"""The HTML report, built from a real run folder written by the real steps on tiny data.

A tiny simulated data set (planted motifs) goes through the whole pipeline once; the
report then shows what the steps wrote, read through their typed ``Outputs``. Every value
checked here is read independently from the step's own files (JSON, TSV, bigWigs).
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import json
import re
import shutil

import numpy as np
import pytest

from bpnetkit.pipeline.registry import outputs_from_dict
from bpnetkit.pipeline.runner import STAMP, read_stamp
from bpnetkit.report.html import NOT_RUN
from bpnetkit.report.sections import register_section, registered_sections, unregister_section
from bpnetkit.report.step import ReportOutputs, ReportParams, build_report, run_report

pyBigWig = pytest.importorskip("pyBigWig")
pytest.importorskip("modiscolite")
pytest.importorskip("memelite")


def _outputs(run_dir, step):
    stamp = read_stamp(run_dir / step)
    assert stamp is not None and stamp["status"] == "done", f"{step} did not finish"
    return outputs_from_dict(step, stamp["outputs"])


def _tsv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished pipeline run on a tiny simulated data set."""
    import torch

    from bpnetkit.demo.run import demo_pipeline_params
    from bpnetkit.demo.simulate import DemoSpec, simulate
    from bpnetkit.pipeline import run_pipeline

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("report_run")
    data = simulate(root / "data", DemoSpec(n_chroms=3, chrom_length=40_000, n_peaks=60,
                                            in_window=400, random_state=1))
    cfg = demo_pipeline_params(data, root / "run", size="small", call_peaks=False,
                               device="cpu")
    cfg = dataclasses.replace(
        cfg, truth=None,
        fit_parameters=cfg.fit_parameters | {"n_filters": 8, "n_layers": 2, "max_epochs": 2,
                                             "patience": 2},
        attribute_parameters={"n_shuffles": 2},
        # a 2-epoch model's attributions are weak: a per-span threshold still gives seqlets
        seqlet_parameters={"method": "threshold", "threshold": 0.01},
        marginalize_parameters=cfg.marginalize_parameters | {"n_backgrounds": 4})
    summary = run_pipeline(cfg, log=lambda m: None)
    assert summary.ok, summary.table()
    return cfg, summary


@pytest.fixture(scope="module")
def page(run):
    cfg, summary = run
    rep = summary["report"].outputs
    assert isinstance(rep, ReportOutputs)
    return open(rep.html).read()


def test_report_is_self_contained(page):
    assert not re.search(r"src=['\"](?!data:)", page)
    assert "<link" not in page and "<script" not in page
    imgs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    # GC match, training curves, profiles, attribution logos, marginalization bars
    assert len(imgs) >= 5
    for b in imgs:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"


def test_sections_show_what_the_steps_wrote(run, page):
    cfg, _ = run
    run_dir = cfg.run_dir
    # every built-in section is on the page, in registration order
    titles = [s.title for s in registered_sections() if s.name != "planted_motifs"]
    positions = [page.index(f">{t}</h2>") for t in titles]
    assert positions == sorted(positions)

    # negatives: the KS statistic of the step's GC report
    neg = _outputs(run_dir, "negatives")
    ks = json.loads(open(neg.report).read())["ks_statistic"]
    assert f"{ks:.4g}" in page

    # fit: as many epochs as the log TSV has rows
    fit = _outputs(run_dir, "fit")
    n_epochs = len(_tsv(fit.log))
    assert n_epochs >= 1 and f"{n_epochs} epochs" in page

    # evaluate: every number of metrics_json, under its dotted key
    ev = _outputs(run_dir, "evaluate")

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            elif isinstance(v, float):
                yield f"{prefix}{k}", v

    metrics = dict(leaves(json.loads(open(ev.metrics_json).read())))
    assert metrics
    for key, v in list(metrics.items())[:10]:
        assert f"<td>{key}</td><td>{v:.4g}</td>" in page

    # annotate: the motif count table's first motif
    ann = _outputs(run_dir, "annotate")
    if ann.motif_counts:
        first = _tsv(ann.motif_counts)[0]
        assert str(next(iter(first.values()))) in page

    # modisco: every pattern and its best match from pattern_matches
    mod = _outputs(run_dir, "modisco")
    if mod.n_patterns:
        best = {r["pattern"]: r for r in _tsv(mod.pattern_matches) if r["rank"] == "1"}
        for name, r in best.items():
            assert name in page and r["match"] in page
    else:
        assert "TF-MoDISco found no patterns." in page

    # hits: MoDISco of a 2-epoch model may find no patterns; then the step is skipped
    stamp = read_stamp(run_dir / "hits")
    if stamp is not None and stamp["status"] == "done":
        n_hits = len(_tsv(_outputs(run_dir, "hits").hits_tsv))
        assert f"{n_hits} hits in " in page
    else:
        assert f"hits: {NOT_RUN}" in page

    # shift QC: a ChIP-seq run's bam2bw writes none, and the section says so
    bws = _outputs(run_dir, "bigwigs")
    if bws.shift_qc is None:
        assert "<td>bigwigs</td><td>no shift QC" in page

    # marginalize: the rank-1 motif of the effects TSV heads the ranking table
    mar = _outputs(run_dir, "marginalize")
    top = min(_tsv(mar.effects), key=lambda r: int(r["rank"]))
    section = page[page.index(">Marginalization ranking</h2>"):]
    first_row = re.search(r"<tr><td>1</td>(.*?)</tr>", section).group(1)
    assert top["motif"] in first_row


def test_profiles_show_the_window_with_most_observed_reads(run, page):
    cfg, _ = run
    pred = _outputs(cfg.run_dir, "predict")
    obs = _outputs(cfg.run_dir, "bigwigs").bigwigs
    totals = {}
    with open(pred.regions_bed) as fh:
        for line in fh:
            c, s, e = line.split()[:3]
            tot = 0.0
            for path in obs:
                bw = pyBigWig.open(path)
                tot += float(np.nansum(bw.values(c, int(s), int(e), numpy=True)))
                bw.close()
            totals[f"{c}:{s}-{e}"] = tot
    best = max(totals, key=totals.get)
    section = page[page.index(">Predicted vs observed profiles</h2>"):]
    assert re.search(r"<tr><td>([^<]+)</td>", section).group(1) == best


def test_a_missing_step_shows_not_run_and_registered_sections_appear(run, tmp_path):
    cfg, _ = run
    run_dir = tmp_path / "run"
    shutil.copytree(cfg.run_dir, run_dir)
    (run_dir / "modisco" / STAMP).unlink()
    # the copy's stamps still name the files of the original run folder, which exist

    def extra(outputs, context):
        return f"<p>extra section: {len(outputs)} steps with outputs</p>"

    register_section("test_extra", 1, extra, title="Extra")
    try:
        text = build_report(ReportParams(run_dir=str(run_dir), output_dir=str(tmp_path),
                                         name="t", pipeline=str(run_dir / "pipeline.json")))
    finally:
        unregister_section("test_extra")
    assert f"modisco: {NOT_RUN}" in text
    assert ">Extra</h2>" in text and text.index(">Extra</h2>") < text.index(">Steps</h2>")
    n_done = sum(1 for d in run_dir.iterdir() if (d / STAMP).exists() and d.name != "report"
                 and read_stamp(d)["status"] == "done")
    assert f"extra section: {n_done} steps with outputs" in text


def test_empty_run_folder_says_not_run(tmp_path):
    res = run_report(ReportParams(run_dir=str(tmp_path), output_dir=str(tmp_path / "r"),
                                  name="empty"))
    text = open(res.html).read()
    for step in ("fit", "evaluate", "predict", "attribute", "modisco", "annotate",
                 "marginalize", "negatives", "hits", "bigwigs"):
        assert f"{step}: {NOT_RUN}" in text
    assert json.loads(open(res.params).read())["run_dir"] == str(tmp_path)


def test_figures_are_figure_objects_and_leave_the_backend_alone():
    import matplotlib
    from matplotlib.figure import Figure

    from bpnetkit.report.html import img
    from bpnetkit.report.plots import profile_panels

    before = matplotlib.get_backend()
    obs = np.zeros((2, 50))
    obs[0, 25], obs[1, 30] = 5.0, 3.0
    fig = profile_panels([{"title": "chr1:0-50", "observed": obs, "predicted": obs * 0.9}])
    assert isinstance(fig, Figure)
    data = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", img(fig)).group(1))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == before


def test_a_section_name_is_registered_once():
    from bpnetkit.errors import ConfigError

    def first(outputs, context):
        return "first"

    def second(outputs, context):
        return "second"

    register_section("test_unique", 1, first)
    try:
        register_section("test_unique", 1, first)  # the same function again (a re-import)
        with pytest.raises(ConfigError, match="test_unique"):
            register_section("test_unique", 1, second)
        register_section("test_unique", 2, second, replace=True)
        sec = next(s for s in registered_sections() if s.name == "test_unique")
        assert sec.func is second and sec.order == 2
    finally:
        unregister_section("test_unique")
    assert all(s.name != "test_unique" for s in registered_sections())


def test_attribution_windows_centre_on_the_strongest_block():
    from bpnetkit.report.step_sections import strongest_windows

    rng = np.random.default_rng(0)
    contrib = rng.normal(0, 0.001, (3, 200))
    contrib[1, 120:128] = 1.0  # the strongest block
    contrib[2, 10:14] = 0.5  # a weaker one, at the left edge
    (row, start), (row2, start2) = strongest_windows(contrib, 2, 60)
    assert row == 1 and start <= 120 and start + 60 >= 128
    assert row2 == 2 and start2 == 0  # clipped to the sequence


# -- hits and shift QC ---------------------------------------------------------------------
def _planted_hits_run(tmp_path):
    """Real ``hits`` step output on planted attributions, an attribute step's outputs for the
    same rows, and a real shift QC JSON; all given to the report as step outputs."""
    import h5py

    from bpnetkit.data.shift_qc import detect_shift
    from bpnetkit.io.bed import write_bed
    from bpnetkit.io.meme import Motif
    from bpnetkit.steps.attribute import AttributeOutputs
    from bpnetkit.steps.bam2bw import Bam2BwOutputs
    from bpnetkit.steps.hits import HitsParams
    from bpnetkit.steps.hits import run as run_hits
    from bpnetkit.testing.planted import planted_attributions, write_attribution_h5

    seqs = {"AP1ish": "TGACTCTT", "GATAish": "GATAAGGC"}
    motifs = [Motif(k, np.eye(4)[["ACGT".index(c) for c in v]] * 0.94 + 0.015)
              for k, v in seqs.items()]
    n, length = 24, 200
    ps = planted_attributions(motifs, n=n, length=length, per_sequence=(0, 3), noise=0.02,
                              random_state=5)
    chroms = ["chr1"] * (n // 2) + ["chr2"] * (n - n // 2)
    starts = np.arange(n, dtype=np.int64) * 1000 + 300
    h5 = tmp_path / "att.h5"
    write_attribution_h5(h5, ps.one_hot, ps.hypothetical, chroms, starts)
    bed = write_bed(tmp_path / "regions.bed", chroms, starts, starts + length,
                    names=[f"peak{i}" for i in range(n)])
    with h5py.File(tmp_path / "modisco.h5", "w") as fh:
        for i, m in enumerate(motifs):
            w = np.full((20, 4), 0.002)
            w[6:6 + m.length] += m.pwm * m.pwm * m.information_content()[:, None]
            g = fh.create_group(f"pos_patterns/pattern_{i}")
            g["contrib_scores"] = w
            g["hypothetical_contribs"] = w
            g["sequence"] = np.full_like(w, 0.25)
            g.create_group("seqlets")["n_seqlets"] = np.array([50])
    hits = run_hits(HitsParams(attributions=str(h5), regions=str(bed),
                               modisco_h5=str(tmp_path / "modisco.h5"),
                               output_dir=str(tmp_path / "hits"), window=None,
                               motif_names={"pos_patterns.pattern_0": "AP1ish",
                                            "pos_patterns.pattern_1": "GATAish"}))
    att = AttributeOutputs(regions_bed=str(bed), h5={"profile": str(h5)}, bigwigs={},
                           params=str(tmp_path / "att.params.json"))
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 50_000).astype(np.uint8)
    qc = detect_shift(rng.integers(100, 49_900, 3000), rng.integers(100, 49_900, 3000), codes,
                      shift_used=(4, -4))
    (tmp_path / "atac.shift_qc.json").write_text(json.dumps(qc.to_dict()))
    bw = Bam2BwOutputs(bigwigs=[], params="", shift_qc=str(tmp_path / "atac.shift_qc.json"),
                       shift_verdict=qc.verdict)
    outputs = {"attribute": att.to_dict(), "hits": hits.to_dict(), "bigwigs": bw.to_dict()}
    text = build_report(ReportParams(run_dir=str(tmp_path), output_dir=str(tmp_path / "r"),
                                     name="t", outputs=outputs))
    return hits, qc, text


def test_report_shows_hits_per_motif_and_an_example_locus(tmp_path):
    from collections import Counter

    hits, qc, text = _planted_hits_run(tmp_path)
    rows = _tsv(hits.hits_tsv)
    assert rows, "the planted motifs gave no hits"
    section = text[text.index(">Motif hits</h2>"):]
    section = section[:section.index("<h2")] if "<h2" in section else section
    for motif, n in Counter(r["motif_name"] for r in rows).items():
        assert f"<td>{motif}</td><td>{n}</td>" in section
    per_region = Counter(int(r["peak_id"]) for r in rows)
    most = max(per_region.values())
    tied = [p for p, c in per_region.items() if c == most]
    imp = {p: sum(float(r["hit_importance"]) for r in rows if int(r["peak_id"]) == p)
           for p in tied}
    best = max(tied, key=lambda p: (imp[p], -p))
    assert f"peak_id {best}, {most} hits" in section
    chrom = next(r["chr"] for r in rows if int(r["peak_id"]) == best)
    assert f"Example locus {chrom}:" in section
    assert len(re.findall(r"data:image/png;base64", section)) == 2

    shift = text[text.index(">Shift QC (Tn5/DNase)</h2>"):]
    shift = shift[:shift.index("<h2")]
    assert f"<td>bigwigs</td><td>{qc.verdict}</td>" in shift
    assert "+4/-4" in shift
    inferred = (f"{qc.inferred_shift[0]:+d}/{qc.inferred_shift[1]:+d}"
                if qc.inferred_shift else "unclear")
    assert inferred in shift
    assert len(re.findall(r"data:image/png;base64", shift)) == 1


def test_hits_locus_figure_draws_one_box_per_hit_core():
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from bpnetkit.report.hits import hits_locus_figure, locus_window

    contrib = np.zeros((60, 4))
    contrib[np.arange(60), np.arange(60) % 4] = 0.1
    hits = [{"start": 1010, "end": 1018, "start_untrimmed": 1005, "end_untrimmed": 1025,
             "motif_name": "A", "strand": "+", "hit_importance": 1.0},
            {"start": 1015, "end": 1020, "start_untrimmed": 1012, "end_untrimmed": 1024,
             "motif_name": "B", "strand": "-", "hit_importance": 2.0},
            {"start": 2000, "end": 2008, "start_untrimmed": 1995, "end_untrimmed": 2012,
             "motif_name": "C", "strand": "+", "hit_importance": 0.5}]
    fig = hits_locus_figure(contrib, 1000, hits, "chr1:1000-1060")
    assert isinstance(fig, Figure)
    boxes = [p for p in fig.axes[1].patches if isinstance(p, Rectangle)]
    assert sorted((round(b.get_x() + 0.5), round(b.get_width())) for b in boxes) == [
        (1010, 8), (1015, 5)]  # the third hit lies outside the locus
    labels = sorted(t.get_text() for t in fig.axes[1].texts)
    assert labels == ["A (+) >", "B (-) <"]
    # the window covers the hits' patterns plus flanks, inside the attributed row
    assert locus_window(hits[:2], 900, 400, flank=10) == (995, 1035)
    assert locus_window(hits[:2], 1000, 30, flank=10) == (1000, 1030)
