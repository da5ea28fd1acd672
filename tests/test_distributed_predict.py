"""Predict and attribute shared across processes (``torchrun``, gloo on CPU) and shards of
separate jobs merged: the files equal those of one process, a dead or hung rank fails the
job with a clear message, and a merge refuses missing, overlapping or foreign shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from _dist import launch, wait_for
from bpnetkit import dist
from bpnetkit.errors import InputError
from bpnetkit.models import BPNet
from bpnetkit.steps.attribute import AttributeParams, run_attribute
from bpnetkit.steps.merge import MergeParams, run_merge
from bpnetkit.steps.predict import PredictParams, run_predict

L = 100
CHROMS = {"chr1": 1300, "chr2": 700}

# one process of a job: runs the steps listed in cfg.json with this process's environment;
# rank 1 can die (os._exit) or hang at its first collective
WORKER = r'''
import json, os, sys, time
import torch
torch.set_num_threads(1)
from bpnetkit import dist
from bpnetkit.steps.attribute import AttributeParams, run_attribute
from bpnetkit.steps.predict import PredictParams, run_predict

cfg = json.load(open(sys.argv[1]))
rank = int(os.environ.get("RANK", "0"))
if rank == 1 and cfg.get("fail"):
    def fail(*args, **kwargs):
        if cfg["fail"] == "die":
            os._exit(3)
        time.sleep(600)
    dist.all_gather_object = fail
ctx = dist.init_from_env(timeout_s=cfg.get("timeout_s"))
results = {"world_size": ctx.world_size, "backend": ctx.backend}
if "predict" in cfg:
    results["predict"] = run_predict(PredictParams(**cfg["predict"])).to_dict()
if "attribute" in cfg:
    results["attribute"] = run_attribute(AttributeParams(**cfg["attribute"])).to_dict()
with open(os.path.join(cfg["results"], f"rank{rank}.json"), "w") as fh:
    json.dump(results, fh)
'''


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(1)
    with open(d / "genome.fa", "w") as fh:
        for c, n in CHROMS.items():
            fh.write(f">{c}\n{''.join(rng.choice(list('ACGT'), size=n))}\n")
    peaks = [("chr1", 100, 300, 90), ("chr1", 250, 330, 40), ("chr1", 600, 700, 50),
             ("chr1", 640, 760, 20), ("chr1", 1000, 1100, 60), ("chr2", 80, 200, 30),
             ("chr2", 300, 420, 70), ("chr2", 500, 600, 10)]
    with open(d / "peaks.narrowPeak", "w") as fh:
        for c, s, e, summit in peaks:
            fh.write(f"{c}\t{s}\t{e}\t.\t0\t.\t1\t1\t1\t{summit}\n")
    torch.manual_seed(0)
    model = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0,
                  stem_kernel_size=5, profile_kernel_size=7)
    from bpnetkit.models.files import save_model

    save_model(model, d / "model")
    (d / "worker.py").write_text(WORKER)
    return d


def predict_params(d: Path, out: str, **kw) -> dict:
    return {"model": str(d / "model"), "genome": str(d / "genome.fa"),
            "output_dir": str(d / out), "in_window": L, "chunk_size": 4, "batch_size": 3,
            "device": "cpu", **kw}


def attribute_params(d: Path, out: str, **kw) -> dict:
    return {"model": str(d / "model"), "genome": str(d / "genome.fa"),
            "peaks": str(d / "peaks.narrowPeak"), "output_dir": str(d / out),
            "in_window": L, "n_shuffles": 2, "chunk_size": 2, "batch_size": 3,
            "device": "cpu", **kw}


@pytest.fixture(scope="module")
def single(work):
    """The files of one process (the oracle of every other run)."""
    torch.set_num_threads(1)
    p = run_predict(PredictParams(**predict_params(work, "single")))
    a = run_attribute(AttributeParams(**attribute_params(work, "single")))
    return p, a


def h5_equal(a: str, b: str, world_size: int) -> None:
    with h5py.File(a) as f, h5py.File(b) as g:
        keys: list[str] = []
        f.visit(lambda k: keys.append(k) if isinstance(f[k], h5py.Dataset) else None)
        other: list[str] = []
        g.visit(lambda k: other.append(k) if isinstance(g[k], h5py.Dataset) else None)
        assert sorted(keys) == sorted(other)
        for k in keys:
            x, y = f[k][()], g[k][()]
            assert x.dtype == y.dtype and x.shape == y.shape, k
            if x.dtype.kind == "f":
                np.testing.assert_allclose(y, x, rtol=0, atol=1e-6, err_msg=k)
            else:
                np.testing.assert_array_equal(y, x, err_msg=k)
        fa, ga = dict(f.attrs), dict(g.attrs)
        assert fa.pop("world_size") == 1 and ga.pop("world_size") == world_size
        pf, pg = json.loads(fa.pop("params")), json.loads(ga.pop("params"))
        pf.pop("output_dir"), pg.pop("output_dir")
        assert pf == pg
        ga.pop("merged_shards", None)
        assert fa.keys() == ga.keys()
        for k in fa:
            np.testing.assert_array_equal(ga[k], fa[k], err_msg=k)


def bigwig_equal(a: str, b: str) -> None:
    import pyBigWig

    f, g = pyBigWig.open(a), pyBigWig.open(b)
    try:
        assert f.chroms() == g.chroms() == CHROMS
        for c, n in CHROMS.items():
            fi, gi = np.array(f.intervals(c)), np.array(g.intervals(c))
            np.testing.assert_array_equal(gi[:, :2], fi[:, :2])
            np.testing.assert_allclose(gi[:, 2], fi[:, 2], rtol=0, atol=1e-6)
            np.testing.assert_allclose(np.array(g.values(c, 0, n)), np.array(f.values(c, 0, n)),
                                       rtol=0, atol=1e-6, equal_nan=True)
    finally:
        f.close(), g.close()


def same_outputs(single_p, single_a, p: dict, a: dict, world_size: int) -> None:
    h5_equal(single_p.h5, p["h5"], world_size)
    assert Path(p["regions_bed"]).read_text() == Path(single_p.regions_bed).read_text()
    assert [Path(x).name for x in p["bigwigs"]] == [Path(x).name for x in single_p.bigwigs]
    for x, y in zip(single_p.bigwigs, p["bigwigs"], strict=True):
        bigwig_equal(x, y)
    assert Path(a["regions_bed"]).read_text() == Path(single_a.regions_bed).read_text()
    assert a["h5"].keys() == single_a.h5.keys() == {"counts", "profile"}
    for t in single_a.h5:
        h5_equal(single_a.h5[t], a["h5"][t], world_size)
        bigwig_equal(single_a.bigwigs[t], a["bigwigs"][t])
    for s, o in ((single_p.params, p["params"]), (single_a.params, a["params"])):
        js, jo = json.loads(Path(s).read_text()), json.loads(Path(o).read_text())
        assert {**js, "output_dir": None} == {**jo, "output_dir": None}


def test_single_process_context_and_provenance(single):
    """Without torchrun nothing is initialised and the files say world_size 1."""
    ctx = dist.init_from_env()
    assert (ctx.world_size, ctx.rank, ctx.backend) == (1, 0, None) and dist.is_main()
    dist.barrier("nothing")
    assert dist.all_gather_object({"x": 1}) == [{"x": 1}]
    p, a = single
    for path in [p.h5, *a.h5.values()]:
        with h5py.File(path) as f:
            assert f.attrs["world_size"] == 1 and f.attrs["n_shards"] == 1
            assert f.attrs["shard_index"] == 0 and f.attrs["first_row"] == 0
            assert f.attrs["n_rows_total"] == len(f["start"])
            assert json.loads(f.attrs["params"])["in_window"] == L


def test_torchrun_predict_and_attribute_equal_one_process(work, single):
    """torchrun with 2 gloo ranks: every rank returns the merged files, which equal the
    single-process files; the parts are gone and the h5 files say world_size 2."""
    res = work / "torchrun"
    res.mkdir()
    cfg = {"predict": predict_params(work, "tr"), "attribute": attribute_params(work, "tr"),
           "results": str(res)}
    (res / "cfg.json").write_text(json.dumps(cfg))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(work / "worker.py"),
                           str(res / "cfg.json")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((res / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 == r1 and r0["world_size"] == 2 and r0["backend"] == "gloo"
    same_outputs(*single, r0["predict"], r0["attribute"], world_size=2)
    left = sorted(p.name for p in (work / "tr").iterdir())
    assert not [n for n in left if "rank" in n or "shard" in n or n.startswith(".")], left


def test_three_ranks_uneven_blocks_equal_one_process(work, single):
    """8 regions over 3 ranks (blocks of 2, 3, 3): attributions and their references do not
    depend on the number of ranks."""
    procs = launch(work, "res_three", {"attribute": attribute_params(work, "three"),
                                       "timeout_s": 300}, world_size=3)
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    res = [json.loads((work / "res_three" / f"rank{r}.json").read_text()) for r in range(3)]
    assert res[0] == res[1] == res[2]
    _, sa = single
    for t in sa.h5:
        h5_equal(sa.h5[t], res[0]["attribute"]["h5"][t], world_size=3)
        bigwig_equal(sa.bigwigs[t], res[0]["attribute"]["bigwigs"][t])
    assert Path(res[0]["attribute"]["regions_bed"]).read_text() == \
        Path(sa.regions_bed).read_text()


def test_explicit_shard_under_two_ranks_then_merge(work, single):
    """A SLURM-array shard run by 2 ranks equals the same shard run by one process, and the
    merge of the shards (one made by 2 ranks, one by 1) equals the single-process files."""
    sharded = {"n_shards": 2}
    procs = launch(work, "res_shard", {
        "predict": predict_params(work, "shards", shard_index=1, **sharded),
        "attribute": attribute_params(work, "shards", shard_index=1, **sharded),
        "timeout_s": 120}, world_size=2)
    run_predict(PredictParams(**predict_params(work, "shards", shard_index=0, **sharded)))
    run_attribute(AttributeParams(**attribute_params(work, "shards", shard_index=0, **sharded)))
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    r0 = json.loads((work / "res_shard" / "rank0.json").read_text())
    assert r0["predict"]["h5"].endswith("predictions.shard1-of-2.h5")
    with h5py.File(r0["predict"]["h5"]) as f:
        assert f.attrs["world_size"] == 2 and f.attrs["shard_index"] == 1
        n_pred = f.attrs["n_rows_total"]
        assert f.attrs["first_row"] == n_pred // 2 and len(f["start"]) == n_pred - n_pred // 2
    p = run_merge(MergeParams(kind="predict", shards=[str(work / "shards")],
                              output_dir=str(work / "merged")))
    a = run_merge(MergeParams(kind="attribute", shards=[str(work / "shards")],
                              output_dir=str(work / "merged"), remove_shards=True))
    assert p.n_shards == 2 and a.n_shards == 2 and len(a.h5) == 2
    sp, sa = single
    same_outputs(sp, sa, {"h5": p.h5[0], "regions_bed": p.regions_bed, "bigwigs": p.bigwigs,
                          "params": p.step_params},
                 {"h5": {t: str(work / "merged" / f"attributions_{t}.h5") for t in sa.h5},
                  "bigwigs": {t: str(work / "merged" / f"attributions_{t}.bw") for t in sa.h5},
                  "regions_bed": a.regions_bed, "params": a.step_params}, world_size=2)
    with h5py.File(p.h5[0]) as f:
        assert f.attrs["merged_shards"] == 2
    # remove_shards removed the attribution shards and their BED/bigWigs, nothing else
    left = sorted(x.name for x in (work / "shards").iterdir())
    assert not [n for n in left if n.startswith("attributions_")], left
    assert "predictions.shard0-of-2.h5" in left


def test_merge_refuses_missing_overlapping_and_foreign_shards(work, tmp_path):
    runs = tmp_path / "runs"
    for i in range(3):
        run_predict(PredictParams(**predict_params(tmp_path, "runs", shard_index=i, n_shards=3,
                                                   bigwigs=False, model=str(work / "model"),
                                                   genome=str(work / "genome.fa"),
                                                   chroms=["chr2"])))
    (runs / "predictions.shard1-of-3.h5").rename(tmp_path / "kept.h5")
    with pytest.raises(InputError, match=r"1 of 3 shards are missing.*shard1-of-3"):
        run_merge(MergeParams(kind="predict", shards=[str(runs)], output_dir=str(tmp_path)))
    files = [str(runs / "predictions.shard0-of-3.h5"), str(runs / "predictions.shard2-of-3.h5")]
    with pytest.raises(InputError, match="missing"):
        run_merge(MergeParams(kind="predict", shards=files, output_dir=str(tmp_path / "m")))
    # a shard of a 2-way split overlaps those of the 3-way split
    run_predict(PredictParams(**predict_params(tmp_path, "two", shard_index=0, n_shards=2,
                                               bigwigs=False, model=str(work / "model"),
                                               genome=str(work / "genome.fa"),
                                               chroms=["chr2"])))
    with pytest.raises(InputError, match="overlaps"):
        run_merge(MergeParams(kind="predict", output_dir=str(tmp_path / "m"), shards=[
            *files, str(tmp_path / "kept.h5"), str(tmp_path / "two/predictions.shard0-of-2.h5")]))
    # a shard made with other parameters (reverse-complement averaging)
    run_predict(PredictParams(**predict_params(tmp_path, "rc", shard_index=1, n_shards=3,
                                               bigwigs=False, model=str(work / "model"),
                                               genome=str(work / "genome.fa"),
                                               chroms=["chr2"], rc_average=True)))
    with pytest.raises(InputError, match="different parameters.*rc_average"):
        run_merge(MergeParams(kind="predict", output_dir=str(tmp_path / "m"), shards=[
            *files, str(tmp_path / "rc/predictions.shard1-of-3.h5")]))
    with pytest.raises(InputError, match="not 'bpnetkit attribute'|kind 'predict'"):
        run_merge(MergeParams(kind="attribute", shards=[str(tmp_path / "kept.h5")],
                              output_dir=str(tmp_path / "m")))
    # the complete set merges
    out = run_merge(MergeParams(kind="predict", output_dir=str(tmp_path / "m"),
                                shards=[*files, str(tmp_path / "kept.h5")]))
    with h5py.File(out.h5[0]) as f:
        assert f.attrs["n_rows_total"] == len(f["start"]) and f.attrs["merged_shards"] == 3
    assert not (tmp_path / "m" / "predictions.h5.tmp").exists()


@pytest.mark.parametrize("fail", ["die", "hang"])
def test_dead_or_hung_rank_fails_the_job_with_a_clear_message(work, fail):
    """Rank 1 dies (os._exit) or hangs before the ranks meet: rank 0 raises a
    DistributedError naming what failed within the collective timeout, and writes no
    merged files."""
    timeout_s = 20 if fail == "die" else 6
    out = f"fail_{fail}"
    t0 = time.monotonic()
    procs = launch(work, f"res_{fail}", {"predict": predict_params(work, out),
                                         "timeout_s": timeout_s, "fail": fail}, world_size=2)
    err, elapsed = wait_for(procs, 0, t0)
    assert procs[0].returncode != 0
    assert "DistributedError" in err and "rank 0 of 2" in err, err[-3000:]
    assert "another rank died, hangs or lost contact" in err
    if fail == "hang":
        assert "Rank 1 failed to pass monitoredBarrier" in err or "Timed out" in err, err[-3000:]
    # start-up (imports, model) plus the timeout, far below the 240 s hang guard
    assert elapsed < 120
    assert procs[1].returncode != 0
    assert not (work / out / "predictions.h5").exists()
