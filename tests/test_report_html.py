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
                 "marginalize", "negatives"):
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
