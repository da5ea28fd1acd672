"""The HTML report: self-contained, the right peaks and logos, missing parts said plainly."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from bpnetkit.report.html import ReportParams, marginal_ranking, run_report

pyBigWig = pytest.importorskip("pyBigWig")
h5py = pytest.importorskip("h5py")


def _bigwig(path, chrom_len, values: dict[int, float]):
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([("chr1", chrom_len)])
    pos = sorted(values)
    bw.addEntries(["chr1"] * len(pos), pos, ends=[p + 1 for p in pos],
                  values=[float(values[p]) for p in pos])
    bw.close()
    return str(path)


@pytest.fixture
def run(tmp_path):
    from bpnetkit.config import dump_config
    from bpnetkit.pipeline.config import PipelineParams

    L = 5000
    g = tmp_path / "g.fa"
    rng = np.random.default_rng(0)
    g.write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), L)) + "\n")
    peaks = tmp_path / "peaks.bed"
    peaks.write_text("chr1\t900\t1100\tp1\nchr1\t2900\t3100\tp2\nchr1\t3900\t4100\tp3\n")
    # observed: most reads at the peak around 3000
    obs_p = _bigwig(tmp_path / "obs.plus.bw", L, {3000: 50, 1000: 5, 4000: 2})
    obs_m = _bigwig(tmp_path / "obs.minus.bw", L, {3010: 40, 1010: 4})
    pred_p = _bigwig(tmp_path / "pred.plus.bw", L, {3001: 45, 1000: 6})
    pred_m = _bigwig(tmp_path / "pred.minus.bw", L, {3011: 35})
    run_dir = tmp_path / "run"
    cfg = PipelineParams(genome=str(g), inputs=[obs_p, obs_m], peaks=str(peaks),
                         out_window=200, in_window=400, output_dir=str(run_dir), name="t")
    run_dir.mkdir()
    dump_config(cfg, run_dir / "pipeline.json")
    (run_dir / "fit").mkdir()
    log = run_dir / "fit" / "log.tsv"
    log.write_text("epoch\ttrain_loss\tvalid_loss\n1\t10.0\t11.0\n2\t8.0\t9.5\n3\t7.0\t9.0\n")
    (run_dir / "evaluate").mkdir()
    metrics = run_dir / "evaluate" / "metrics.json"
    metrics.write_text(json.dumps({"test": {"counts_pearson": 0.81, "profile_jsd": 0.42}}))
    # attributions: a strong block of contributions in row 1 at positions 50-58
    X = np.zeros((2, 4, 100), dtype=np.int8)
    X[:, rng.integers(0, 4, 100), np.arange(100)] = 1
    H = rng.normal(0, 0.001, (2, 4, 100)).astype(np.float32)
    H[1, :, 50:58] = 1.0
    (run_dir / "attribute").mkdir()
    h5 = run_dir / "attribute" / "attr.h5"
    with h5py.File(h5, "w") as fh:
        fh["raw/seq"] = X
        fh["shap/seq"] = H
    marg = run_dir / "marg.tsv"
    marg.write_text("rank\tmotif\tname\tdelta_log_counts\n1\tMA1\tAAA\t0.9\n2\tMA2\tBBB\t0.1\n")
    outputs = {"fit": {"log": str(log), "model": str(run_dir / "fit")},
               "evaluate": {"metrics": str(metrics)},
               "predict": {"plus": pred_p, "minus": pred_m},
               "attribute": {"attributions": str(h5)},
               "marginalize": {"effects": str(marg)}}
    return run_dir, outputs


def test_report_is_self_contained_with_expected_content(run):
    run_dir, outputs = run
    res = run_report(ReportParams(run_dir=str(run_dir), output_dir=str(run_dir / "report"),
                                  name="t", outputs=outputs,
                                  pipeline=str(run_dir / "pipeline.json"), n_profiles=1,
                                  n_attribution_examples=1))
    text = open(res["html"]).read()
    # self-contained: no external images, scripts or stylesheets
    assert not re.search(r"src=['\"](?!data:)", text)
    assert "<link" not in text and "<script" not in text
    imgs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(imgs) >= 4  # curves, profiles, attribution logo, marginalization bars
    for b in imgs:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    # metrics from the evaluate step
    assert "test.counts_pearson" in text and "0.81" in text
    # the single profile shown is the peak with the most observed reads (summit 3000)
    assert "chr1:2900-3100" in text and "chr1:900-1100" not in text
    # the attribution logo is centred on the planted block of row 1 (positions 50-58)
    m = re.search(r"row1:(\d+)-(\d+)", text)
    assert m and int(m.group(1)) <= 50 and int(m.group(2)) >= 58
    # missing steps are reported, not crashed on
    assert "Not available: no MoDISco results" in text
    assert "did not run / unavailable" in text


def test_marginal_ranking_orders_by_rank(tmp_path):
    p = tmp_path / "m.tsv"
    p.write_text("motif\tdelta_log_counts\nA\t0.1\nB\t-0.9\nC\t0.5\n")
    rows = marginal_ranking({"effects": str(p)})
    assert [r["motif"] for r in rows] == ["B", "C", "A"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
