"""The pipeline runner under ``torchrun`` (2 gloo processes, tiny step functions): distributed
steps run on every rank, the others on rank 0 alone, every rank ends with the same outputs
and statuses, the cache works on every rank, a failure on rank 0 is a failure on all, and a
dead rank 0 fails the waiting rank with a clear message."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

import _dist
from bpnetkit.pipeline.runner import DISTRIBUTED_STEP_MODULES, Step

WORKER = r'''
import json, os, sys, time
from dataclasses import dataclass
from pathlib import Path
from bpnetkit import dist
from bpnetkit.pipeline.runner import Runner, Step
from bpnetkit.steps.base import StepOutputs


@dataclass
class P:
    output_dir: str
    source: str = ""


@dataclass
class TextOutputs(StepOutputs):
    text: str


cfg = json.load(open(sys.argv[1]))
rank = int(os.environ["RANK"])
calls = []


def single(name):
    def run(p):
        calls.append(name)
        if name == cfg.get("die_in"):
            time.sleep(3)  # the other rank waits at the step's barrier by then
            os._exit(3)
        if name == cfg.get("fail_in"):
            raise RuntimeError(f"{name} broke")
        out = Path(p.output_dir) / f"{name}.txt"
        out.write_text((Path(p.source).read_text() if p.source else "") + name)
        return TextOutputs(text=str(out))
    return run


def shared(name):  # every rank takes part, rank 0 writes
    def run(p):
        calls.append(name)
        ranks = dist.all_gather_object(rank, name)
        out = Path(p.output_dir) / f"{name}.txt"
        if dist.is_main():
            out.write_text(Path(p.source).read_text() + f"{name}{ranks}")
        dist.barrier(name)
        return TextOutputs(text=str(out))
    return run


def build(src):
    def b(ctx):
        return {"output_dir": str(ctx.step_dir),
                "source": ctx.output(src, "text", "") if src else ""}
    return b


steps = [Step("a", build(None), single("a"), params_class=P),
         Step("b", build("a"), shared("b"), requires=("a",), params_class=P, distributed=True),
         Step("c", build("b"), single("c"), requires=("b",), params_class=P)]
dist.init_from_env(timeout_s=cfg.get("timeout_s", 60))
summary = Runner(steps, cfg["run_dir"]).run()
with open(os.path.join(cfg["results"], f"rank{rank}.json"), "w") as fh:
    json.dump({"calls": calls,
               "status": {r.name: r.status for r in summary.results},
               "messages": {r.name: r.message for r in summary.results},
               "outputs": {r.name: None if r.outputs is None else r.outputs.to_dict()
                           for r in summary.results}}, fh)
'''


@pytest.fixture
def work(tmp_path):
    (tmp_path / "worker.py").write_text(WORKER)
    return tmp_path


def launch(d: Path, name: str, cfg: dict, env: dict | None = None) -> list[subprocess.Popen]:
    return _dist.launch(d, name, {"run_dir": str(d / "run"), **cfg}, 2, env)


def results(d: Path, name: str, procs: list[subprocess.Popen]) -> list[dict]:
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    return [json.loads((d / name / f"rank{r}.json").read_text()) for r in range(2)]


def test_fit_predict_attribute_are_the_distributed_steps():
    assert DISTRIBUTED_STEP_MODULES == {"bpnetkit.steps.fit", "bpnetkit.steps.predict",
                                        "bpnetkit.steps.attribute"}
    for module, everywhere in (("fit", True), ("predict", True), ("attribute", True),
                               ("peaks", False), ("modisco", False), ("negatives", False)):
        step = Step(module, lambda ctx: {}, f"bpnetkit.steps.{module}:run")
        assert step.runs_on_all_ranks is everywhere, module
    assert Step("x", lambda ctx: {}, "bpnetkit.steps.peaks:run", distributed=True
                ).runs_on_all_ranks


def test_steps_run_where_they_belong_and_all_ranks_agree(work):
    r0, r1 = results(work, "first", launch(work, "first", {}))
    assert r0["calls"] == ["a", "b", "c"] and r1["calls"] == ["b"]
    for r in (r0, r1):
        assert r["status"] == {"a": "ran", "b": "ran", "c": "ran"}
    assert r0["outputs"] == r1["outputs"]
    assert Path(r0["outputs"]["c"]["text"]).read_text() == "ab[0, 1]c"
    assert sorted(p.name for p in (work / "run" / "b").iterdir()) == [
        ".stamp.json", "b.txt", "params.json"]
    # a second launch: everything cached on every rank, nothing runs
    again = results(work, "again", launch(work, "again", {}))
    for r in again:
        assert r["calls"] == [] and set(r["status"].values()) == {"cached"}
        assert r["outputs"] == r0["outputs"]


def test_failure_on_rank_zero_is_a_failure_on_every_rank(work):
    r0, r1 = results(work, "fail", launch(work, "fail", {"fail_in": "a"}))
    assert r0["calls"] == ["a"] and r1["calls"] == []
    for r in (r0, r1):
        assert r["status"] == {"a": "failed", "b": "blocked", "c": "blocked"}
        assert "a broke" in r["messages"]["a"]
    assert "rank 0" in r1["messages"]["a"]
    assert not (work / "run" / "a" / ".stamp.json").exists()


def test_dead_rank_zero_fails_the_waiting_rank_clearly(work):
    t0 = time.monotonic()
    procs = launch(work, "die", {"die_in": "a", "timeout_s": 30},
                   env={"BPNETKIT_PIPELINE_STEP_TIMEOUT_S": "60"})
    err, elapsed = _dist.wait_for(procs, 1, t0)
    assert procs[0].returncode == 3 and procs[1].returncode != 0
    assert "DistributedError" in err and "rank 1 of 2" in err, err[-3000:]
    assert "pipeline step 'a'" in err
    assert elapsed < 120
