"""benchmarks/run_all.py: every benchmark module imports and offers ``rows(quick)``; the row
format, the ratios and goals, the table and the regenerated Markdown blocks are right; and one
real benchmark (bigWig, tiny sizes) goes through the collection in a child process."""

from __future__ import annotations

import importlib
import inspect
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

run_all = importlib.import_module("run_all")
common = importlib.import_module("_common")
Row = common.Row


def test_every_benchmark_module_imports_and_has_rows():
    files = sorted(p.stem[len("bench_"):] for p in BENCH.glob("bench_*.py"))
    listed = set(run_all.BENCHMARKS) | set(run_all.OPTIONAL)
    # every benchmark file is either run by default or named as optional
    assert set(files) <= listed, set(files) - listed
    for name in run_all.BENCHMARKS + ["gpu"]:
        mod = run_all.load(name)
        assert callable(mod.rows), name
        params = inspect.signature(mod.rows).parameters
        assert list(params) == ["quick"], (name, list(params))


def test_selection_rules():
    assert "gpu" not in run_all.selected(cuda=False)
    assert run_all.selected(cuda=True)[-1] == "gpu"
    assert "recovery" in run_all.selected(recovery=True, cuda=False)
    assert run_all.selected("predict,bigwig", cuda=False) == ["predict", "bigwig"]
    with pytest.raises(SystemExit, match="nope"):
        run_all.selected("nope", cuda=False)


def test_row_ratio_and_goals():
    rate = Row("x (seq/s)", 300.0, 100.0, "peer", goal=3.0)
    assert rate.ratio == pytest.approx(3.0) and rate.met is True
    time_row = Row("y (s)", 2.0, 5.0, "peer", goal=3.0, lower_is_better=True)
    assert time_row.ratio == pytest.approx(2.5) and time_row.met is False
    count = Row("z (count)", 7, 9, "peer", ratio_applies=False)
    assert count.ratio is None and count.met is None
    noise = Row("noise (per kb)", 0.02, 6.5, "peer", goal_max=0.01, ratio_applies=False)
    assert noise.met is False and noise.goal_text == "<= 0.01"
    missing = Row("w", 1.0, None, "")
    assert missing.ratio is None
    d = rate.as_dict()
    assert d["ratio"] == pytest.approx(3.0) and d["met"] is True and d["goal_text"] == ">= 3x"
    json.dumps(d)


def test_table_and_markdown_blocks(tmp_path):
    rows = [Row("predict (seq/s)", 250.0, 100.0, "tangermeme", "64 x 2114 bp", goal=3.0,
                headline=True),
            Row("fit (s)", 10.0, 25.0, "bpnet-lite", "2 epochs", goal=2.0,
                lower_is_better=True)]
    text = common.format_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:6] == ["measure", "bpnetkit", "peer", "ratio", "goal",
                                    "configuration"]
    assert "2.50x" in lines[1] and "NOT MET" in lines[1] and "100 (tangermeme)" in lines[1]
    assert "2.50x" in lines[2] and "ok" in lines[2]
    md = common.markdown_table(rows)
    assert md.splitlines()[0] == "| measure | bpnetkit | peer | ratio | goal | configuration |"
    assert len(md.splitlines()) == 4

    doc, readme = tmp_path / "benchmarks.md", tmp_path / "README.md"
    doc.write_text("# Benchmarks\n\nintro\n")
    readme.write_text("# x\n\n## Benchmarks\n\nold\n\n## Next\n")
    info = {"cpu": "test CPU", "cores": 2, "torch": "0", "torch_threads": 2, "numpy": "0",
            "python": "3"}
    took = {"predict": 1.0, "train": 2.0}
    run_all.write_markdown(rows, info, took, False, doc=doc, readme=readme)
    readme.write_text(readme.read_text().replace("## Next", "## Next\nkept"))
    run_all.write_markdown(rows[:1], info, took, True, doc=doc, readme=readme)  # regenerate
    d, r = doc.read_text(), readme.read_text()
    assert d.count(run_all.BEGIN) == 1 and d.count(run_all.END) == 1 and "intro" in d
    assert "test CPU" in d and "quick" in d and "fit (s)" not in d
    assert r.count(run_all.RBEGIN) == 1 and "kept" in r
    # the README keeps only headline rows, without the configuration column
    assert "predict (seq/s)" in r and "configuration" not in r


def test_collect_runs_a_real_benchmark_in_a_child():
    # the bigWig benchmark (quick sizes), through the same child-process path as run_all
    rows, took = run_all.collect(["bigwig"], quick=True, isolate=True, log=lambda s: None)
    assert [r.measure for r in rows][:2] == ["bigWig write (s)", "bigWig read (loci/s)"]
    for r in rows:
        assert r.benchmark == "bigwig"
        assert r.bpnetkit > 0 and r.peer > 0 and math.isfinite(r.ratio)
        assert "False" not in r.configuration  # every output equals the oracle
    assert took["bigwig"] > 0
    got, took = run_all.collect(["nope_missing"], quick=True, isolate=True, log=lambda s: None)
    assert got[0].measure == "bench_nope_missing FAILED" and got[0].bpnetkit is None
    assert set(took) == {"nope_missing"}
