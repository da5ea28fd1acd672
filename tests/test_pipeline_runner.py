"""The pipeline runner: caching, resume, --from/--only, dry runs (tiny step functions)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from bpnetkit.errors import ConfigError
from bpnetkit.pipeline.runner import STAMP, Runner, Step, StepNotApplicable, read_stamp
from bpnetkit.steps.base import StepOutputs


@dataclass
class CopyParams:
    source: str
    output_dir: str
    suffix: str = "!"


@dataclass
class TextOutputs(StepOutputs):
    text: str


@dataclass
class NoOutputs(StepOutputs):
    pass


@dataclass
class PageOutputs(StepOutputs):
    html: str


class Recorder:
    """Step functions that append their name to ``calls`` when they really run."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: set[str] = set()

    def make(self, name: str):
        def func(params: CopyParams) -> TextOutputs:
            self.calls.append(name)
            if name in self.fail:
                raise RuntimeError(f"{name} interrupted")
            out = Path(params.output_dir) / f"{name}.txt"
            out.write_text(Path(params.source).read_text() + params.suffix)
            return TextOutputs(text=str(out))
        return func


def make_steps(rec: Recorder, source: Path, suffix: str = "!",
               extra: dict | None = None) -> list[Step]:
    """Three copy steps a -> b -> c; ``extra`` adds keys to what b's builder returns."""
    def first(ctx):
        return {"source": str(source), "output_dir": str(ctx.step_dir), "suffix": suffix}

    def after(prev, more=None):
        def build(ctx):
            return {"source": ctx.output(prev, "text"), "output_dir": str(ctx.step_dir),
                    **(more or {})}
        return build

    return [Step("a", first, rec.make("a"), params_class=CopyParams,
                 outputs_class=TextOutputs),
            Step("b", after("a", extra), rec.make("b"), requires=("a",),
                 params_class=CopyParams, outputs_class=TextOutputs),
            Step("c", after("b"), rec.make("c"), requires=("b",), params_class=CopyParams,
                 outputs_class=TextOutputs)]


def _snapshot(run_dir: Path) -> dict[str, tuple[int, str]]:
    """mtime and content of every file of a run folder."""
    return {str(p.relative_to(run_dir)): (p.stat().st_mtime_ns, p.read_text())
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.fixture
def setup(tmp_path):
    src = tmp_path / "input.txt"
    src.write_text("x")
    rec = Recorder()
    return tmp_path, src, rec


def test_rerun_does_no_work(setup):
    tmp, src, rec = setup
    s1 = Runner(make_steps(rec, src), tmp / "run", log=lambda m: None).run()
    assert [r.status for r in s1.results] == ["ran"] * 3
    assert Path(s1["c"].outputs.text).read_text() == "x!!!"
    assert rec.calls == ["a", "b", "c"]
    # the resolved params and the typed outputs are written
    params = json.loads((tmp / "run" / "b" / "params.json").read_text())
    assert params == {"source": s1["a"].outputs.text, "output_dir": str(tmp / "run" / "b"),
                      "suffix": "!"}
    assert read_stamp(tmp / "run" / "c")["outputs"] == {"text": s1["c"].outputs.text}
    before = _snapshot(tmp / "run")
    s2 = Runner(make_steps(rec, src), tmp / "run", log=lambda m: None).run()
    assert [r.status for r in s2.results] == ["cached"] * 3
    assert rec.calls == ["a", "b", "c"]  # nothing ran again
    # cached outputs come back typed, equal to the first run's
    assert [s2[n].outputs for n in "abc"] == [s1[n].outputs for n in "abc"]
    assert isinstance(s2["c"].outputs, TextOutputs)
    assert _snapshot(tmp / "run") == before  # no file (output, params, stamp) was touched


def test_failed_step_leaves_no_params_that_look_like_a_run(setup):
    tmp, src, rec = setup
    Runner(make_steps(rec, src), tmp / "run", log=lambda m: None).run()
    assert (tmp / "run" / "b" / "params.json").exists()
    rec.fail.add("b")
    s2 = Runner(make_steps(rec, src, suffix="?"), tmp / "run", log=lambda m: None).run()
    assert [r.status for r in s2.results] == ["ran", "failed", "blocked"]
    # neither the new params nor the old run's stamp and params remain in b's folder
    assert not (tmp / "run" / "b" / "params.json").exists()
    assert not (tmp / "run" / "b" / STAMP).exists()
    a_params = json.loads((tmp / "run" / "a" / "params.json").read_text())
    assert a_params["suffix"] == "?"


def test_unknown_key_is_an_error_not_dropped(setup):
    tmp, src, rec = setup
    steps = make_steps(rec, src, extra={"sufix": "?"})
    s = Runner(steps, tmp / "run", log=lambda m: None).run()
    assert [r.status for r in s.results] == ["ran", "failed", "blocked"]
    assert "sufix" in s["b"].message and "Did you mean 'suffix'" in s["b"].message
    assert rec.calls == ["a"]
    assert not (tmp / "run" / "b" / "params.json").exists()
    with pytest.raises(ConfigError, match="unknown key 'sufix'.*Did you mean 'suffix'"):
        Runner(make_steps(rec, src, extra={"sufix": "?"}), tmp / "run",
               log=lambda m: None).run(stop_on_error=True)


def test_step_must_return_its_outputs(tmp_path):
    steps = [Step("a", lambda ctx: {}, lambda params: {"text": "x"})]
    s = Runner(steps, tmp_path / "run", log=lambda m: None).run()
    assert s["a"].status == "failed" and "returned dict" in s["a"].message
    assert not (tmp_path / "run" / "a" / STAMP).exists()


def test_changed_param_or_input_reruns_downstream(setup):
    tmp, src, rec = setup
    Runner(make_steps(rec, src), tmp / "run", log=lambda m: None).run()
    rec.calls.clear()
    s = Runner(make_steps(rec, src, suffix="?"), tmp / "run", log=lambda m: None).run()
    # a's params changed -> a reruns; its output changed -> b and c rerun
    assert rec.calls == ["a", "b", "c"]
    assert Path(s["c"].outputs.text).read_text() == "x?!!"
    rec.calls.clear()
    src.write_text("yy")  # input file changed (size and mtime)
    Runner(make_steps(rec, src, suffix="?"), tmp / "run", log=lambda m: None).run()
    assert rec.calls == ["a", "b", "c"]


def test_interrupted_run_resumes(setup):
    tmp, src, rec = setup
    rec.fail = {"b"}
    s1 = Runner(make_steps(rec, src), tmp / "run", log=lambda m: None).run()
    assert [r.status for r in s1.results] == ["ran", "failed", "blocked"]
    assert not s1.ok
    assert read_stamp(tmp / "run" / "b") is None  # no stamp for the failed step
    assert (tmp / "run" / "b" / "error.txt").exists()
    rec.fail = set()
    rec.calls.clear()
    s2 = Runner(make_steps(rec, src), tmp / "run", log=lambda m: None).run()
    assert rec.calls == ["b", "c"]  # a was not redone
    assert [r.status for r in s2.results] == ["cached", "ran", "ran"]
    assert Path(s2["c"].outputs.text).read_text() == "x!!!"


def test_deleted_output_reruns_step(setup):
    tmp, src, rec = setup
    s1 = Runner(make_steps(rec, src), tmp / "run", log=lambda m: None).run()
    Path(s1["c"].outputs.text).unlink()
    rec.calls.clear()
    Runner(make_steps(rec, src), tmp / "run", log=lambda m: None).run()
    assert rec.calls == ["c"]


def test_only_and_from(setup):
    tmp, src, rec = setup
    steps = make_steps(rec, src)
    runner = Runner(steps, tmp / "run", log=lambda m: None)
    # --only on a fresh run dir: upstream outputs missing -> blocked, clear status
    s0 = runner.run(only="b")
    assert s0["b"].status == "blocked"
    assert rec.calls == []
    s = runner.run(only="a")
    assert [r.status for r in s.results] == ["ran", "not selected", "not selected"]
    s = runner.run()  # completes the rest
    assert rec.calls == ["a", "b", "c"]
    rec.calls.clear()
    runner.run(only="b")  # forced, and only b
    assert rec.calls == ["b"]
    rec.calls.clear()
    s = runner.run(from_step="b")
    assert rec.calls == ["b", "c"]
    assert s["a"].status == "not selected" and s["a"].outputs
    with pytest.raises(ConfigError, match="Did you mean 'b'"):
        runner.run(only="bb")


def test_dry_run_plans_without_running(setup):
    tmp, src, rec = setup
    runner = Runner(make_steps(rec, src), tmp / "run", log=lambda m: None)
    plan = runner.run(dry_run=True)
    assert [r.status for r in plan.results] == ["planned"] * 3
    assert rec.calls == []
    assert not (tmp / "run" / "a" / "a.txt").exists()
    runner.run()
    plan = runner.run(dry_run=True)
    assert [r.status for r in plan.results] == ["cached"] * 3
    src.write_text("changed!")
    plan = runner.run(dry_run=True)
    assert plan["a"].status == "planned" and plan["a"].message == "inputs changed"
    assert "planned" in plan.table()


def test_not_applicable_and_unavailable_steps(tmp_path):
    calls = []

    def skip(ctx):
        raise StepNotApplicable("peaks given")

    def build(ctx):
        return {"x": 1}

    def fn(params):
        calls.append(params["x"])
        return NoOutputs()

    steps = [Step("opt", skip, fn),
             Step("missing", build, "bpnetkit.no_such_module:run_x"),
             Step("needs_missing", build, fn, requires=("missing",)),
             Step("independent", build, fn)]
    s = Runner(steps, tmp_path / "run", log=lambda m: None).run()
    assert [r.status for r in s.results] == ["not needed", "unavailable", "blocked", "ran"]
    assert "cannot be imported" in s["missing"].message
    assert calls == [1]


def test_folder_input_containing_own_outputs_stays_cached(tmp_path):
    """A step whose parameters name the whole run folder ignores its own outputs there."""
    calls = []

    def build(ctx):
        return {"run_dir": str(ctx.run_dir), "output_dir": str(ctx.step_dir)}

    def fn(params):
        calls.append(1)
        out = Path(params["output_dir"]) / "page.html"
        out.write_text(f"run {len(calls)}")  # differs every time it runs
        return PageOutputs(html=str(out))

    steps = [Step("report", build, fn)]
    Runner(steps, tmp_path / "run", log=lambda m: None).run()
    s = Runner(steps, tmp_path / "run", log=lambda m: None).run()
    assert s["report"].status == "cached" and calls == [1]


@dataclass
class CachingParams:
    source: str
    output_dir: str
    example_cache: str | None = None


def test_cache_folder_is_not_an_input(setup):
    """A step that writes into its ``example_cache`` folder (as fit and evaluate do) stays up
    to date on the next run, and pointing it at another cache folder runs nothing again: the
    cache changes no result (``CACHE_KEYS``)."""
    tmp, src, rec = setup

    def func(params: CachingParams) -> TextOutputs:
        rec.calls.append("fit")
        cache = Path(params.example_cache)
        cache.mkdir(exist_ok=True)
        (cache / f"entry{len(rec.calls)}.npy").write_text("arrays")
        out = Path(params.output_dir) / "model.txt"
        out.write_text(Path(params.source).read_text())
        return TextOutputs(text=str(out))

    def steps(cache: Path) -> list[Step]:
        return [Step("fit", lambda ctx: {"source": str(src), "output_dir": str(ctx.step_dir),
                                         "example_cache": str(cache)}, func,
                     params_class=CachingParams, outputs_class=TextOutputs)]

    Runner(steps(tmp / "cache"), tmp / "run", log=lambda m: None).run()
    assert list((tmp / "cache").iterdir())  # the step wrote into the cache
    s2 = Runner(steps(tmp / "cache"), tmp / "run", log=lambda m: None).run()
    s3 = Runner(steps(tmp / "other"), tmp / "run", log=lambda m: None).run()
    assert [s2["fit"].status, s3["fit"].status] == ["cached", "cached"]
    assert rec.calls == ["fit"]
    # a real input still counts
    src.write_text("changed")
    assert Runner(steps(tmp / "cache"), tmp / "run", log=lambda m: None).run()["fit"].status \
        == "ran"
