"""Data-parallel training across processes (gloo on CPU, the environment torchrun gives its
workers): 2 ranks give the weights of one process with the same global batch, a distributed
run resumes (also with another number of processes), and a rank that dies mid-epoch fails
the job with a clear message instead of hanging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _dist import launch, wait_for
from _train_sim import make_genome_dataset
from bpnetkit.data.datasets import EpochSampler
from bpnetkit.steps.fit import FitParams, run_fit

# global batch 8 over 42 training peaks + 13 negatives (negative_ratio 0.3): 6 full global
# batches (4 examples per rank) and a last one of 7 (ranks 4 and 3: the loss weighting of
# uneven shares is exercised)
TINY = {"negative_ratio": 0.3, "in_window": 120, "out_window": 84, "n_filters": 8, "n_layers": 2,
        "stem_kernel_size": 11, "profile_kernel_size": 15, "progress": False, "device": "cpu",
        "batch_size": 8, "max_jitter": 8, "max_epochs": 2, "patience": 5}

WORKER = r'''
import json, os, sys
import torch
torch.set_num_threads(1)
from bpnetkit import dist
from bpnetkit.data import datasets
from bpnetkit.steps.fit import FitParams, run_fit

cfg = json.load(open(sys.argv[1]))
rank = int(os.environ.get("RANK", "0"))
if rank == 1 and cfg.get("die_at_batch") is not None:
    calls = {"n": 0}
    gather = datasets.TrainingDataset.gather

    def dying_gather(self, plan):
        calls["n"] += 1
        if calls["n"] > cfg["die_at_batch"]:
            os._exit(3)
        return gather(self, plan)

    datasets.TrainingDataset.gather = dying_gather
ctx = dist.init_from_env(timeout_s=cfg.get("timeout_s"))
out = run_fit(FitParams(**cfg["fit"])).to_dict()
with open(os.path.join(cfg["results"], f"rank{rank}.json"), "w") as fh:
    json.dump({"world_size": ctx.world_size, "backend": ctx.backend, "fit": out}, fh)
'''


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("dtrain")
    data = make_genome_dataset(d, chrom_len=6000)
    (d / "worker.py").write_text(WORKER)
    return d, data


def fit_params(work, out: str, **kw) -> dict:
    d, data = work
    return {"genome": data["genome"], "peaks": data["peaks"], "negatives": data["negatives"],
            "signals": data["signals"], "split": data["split"], "output_dir": str(d / out),
            **TINY, **kw}


@pytest.fixture(scope="module")
def single(work):
    """One process, 2 epochs: the oracle."""
    torch.set_num_threads(1)
    return run_fit(FitParams(**fit_params(work, "single")))


def finish(procs: list[subprocess.Popen], timeout: float = 600) -> list[str]:
    errs = []
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-3000:]
        errs.append(err)
    return errs


def weights(model_dir: str) -> dict[str, np.ndarray]:
    from bpnetkit.models.files import load_model

    return {k: v.numpy() for k, v in load_model(model_dir, device="cpu").state_dict().items()}


def assert_same_weights(a: str, b: str, atol: float = 1e-5) -> None:
    """The weights agree, and so do the predicted profile probabilities and counts.

    The bias of a one-track profile head adds a constant to every logit, which the softmax
    ignores: its gradient is zero up to rounding, which Adam scales up to steps of about lr,
    so it is compared through the predictions only."""
    from bpnetkit.models.files import load_model

    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        if k.endswith("fconv.bias") and wa[k].size == 1:
            continue
        np.testing.assert_allclose(wb[k], wa[k], rtol=0, atol=atol, err_msg=k)
    ma, mb = load_model(a, device="cpu").eval(), load_model(b, device="cpu").eval()
    X = torch.from_numpy(np.eye(4, dtype=np.float32)[
        np.random.default_rng(0).integers(0, 4, (5, TINY["in_window"]))].transpose(0, 2, 1))
    with torch.no_grad():
        (la, ca), (lb, cb) = ma(X), mb(X)
    np.testing.assert_allclose(torch.log_softmax(lb.flatten(1), -1).numpy(),
                               torch.log_softmax(la.flatten(1), -1).numpy(), rtol=0, atol=atol)
    np.testing.assert_allclose(cb.numpy(), ca.numpy(), rtol=0, atol=atol)


def log_rows(path: str) -> list[dict[str, str]]:
    head, *rows = Path(path).read_text().splitlines()
    cols = head.split("\t")
    return [dict(zip(cols, r.split("\t"), strict=True)) for r in rows]


def test_sampler_ranks_share_each_global_batch_exactly():
    """pad=False: the ranks' batches k together are one process's batch k (global batch
    size x world size), for an uneven last batch too (shares 2/1 and 1/0 of 3 ranks)."""
    kw = {"negative_ratio": 0.3, "max_jitter": 5, "negative_jitter": 0, "rc": "half",
          "random_state": 4}
    for n_peaks, W in ((24, 2), (25, 3), (19, 3)):
        one = EpochSampler(n_peaks, 20, batch_size=6, **kw)
        one.set_epoch(3)
        ranks = [EpochSampler(n_peaks, 20, batch_size=6 // W, rank=r, world_size=W, pad=False,
                              **kw) for r in range(W)]
        for s in ranks:
            s.set_epoch(3)
        assert {len(s) for s in ranks} == {len(one)}
        per_rank = [list(s) for s in ranks]
        for k, full in enumerate(one):
            shares = [per_rank[r][k] for r in range(W)]
            for f, field in enumerate(full):
                joined = np.empty_like(field)
                for r, share in enumerate(shares):
                    joined[r::W] = share[f]
                np.testing.assert_array_equal(joined, field)


def test_two_ranks_train_the_weights_of_one_process(work, single):
    """torchrun-style launch, 2 gloo ranks, the same global batch: the weights, the epoch
    losses and the validation loss equal one process's; rank 0 alone wrote the files and the
    model records the launch."""
    d, _ = work
    procs = launch(d, "res_two", {"fit": fit_params(work, "two"), "timeout_s": 120}, 2)
    finish(procs)
    r0, r1 = (json.loads((d / "res_two" / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 == r1 and r0["world_size"] == 2 and r0["backend"] == "gloo"
    out = r0["fit"]
    assert_same_weights(single.model, out["model"])
    a, b = log_rows(single.log), log_rows(out["log"])
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        for c in ("train_loss", "valid_loss", "valid_profile_loss"):
            assert float(y[c]) == pytest.approx(float(x[c]), rel=1e-4, abs=1e-5), c
        # a Pearson over a few nearly equal predictions magnifies the rounding of the
        # gradient all-reduce (3.5e-5 on one CPU model): the test metrics' tolerance below
        assert float(y["valid_counts_pearson"]) == pytest.approx(
            float(x["valid_counts_pearson"]), abs=1e-4)
        assert x["best"] == y["best"]
    cfg = json.loads((Path(out["model"]) / "config.json").read_text())
    launch_ = json.dumps(cfg)
    assert '"world_size": 2' in launch_ and '"backend": "gloo"' in launch_
    one = json.loads((Path(single.model) / "config.json").read_text())
    assert '"world_size": 1' in json.dumps(one)
    ms, mt = (json.loads(Path(p).read_text())["test"] for p in (single.metrics, out["metrics"]))
    assert mt["peaks"]["counts_pearson"] == pytest.approx(ms["peaks"]["counts_pearson"],
                                                          abs=1e-4)
    left = sorted(p.name for p in (d / "two").iterdir())
    assert left == sorted(p.name for p in (d / "single").iterdir()), left


def test_distributed_run_resumes_with_another_number_of_processes(work, single):
    """2 ranks train epoch 1; one process resumes to epoch 2 and ends with the weights of
    the uninterrupted single-process run (the plan depends on the seed and epoch only); the
    change of world size is logged."""
    d, _ = work
    finish(launch(d, "res_resume", {"fit": fit_params(work, "resumed", max_epochs=1),
                                    "timeout_s": 120}, 2))
    ck = torch.load(d / "resumed" / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 1 and ck["world_size"] == 2
    import logging

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    h = Keep(level=logging.WARNING)
    logging.getLogger("bpnetkit.train.trainer").addHandler(h)
    try:
        out = run_fit(FitParams(**fit_params(work, "resumed", resume=True)))
    finally:
        logging.getLogger("bpnetkit.train.trainer").removeHandler(h)
    assert any("trained with 2 process(es) with 1" in m and "same global plan" in m
               for m in records), records
    assert_same_weights(single.model, out.model)
    assert [r["epoch"] for r in log_rows(out.log)] == ["1", "2"]


def test_rank_dying_mid_epoch_fails_the_job_with_a_clear_message(work):
    """Rank 1 dies at its third training batch: rank 0 raises a DistributedError naming the
    collective that failed, within seconds, and writes no model."""
    d, _ = work
    t0 = time.monotonic()
    procs = launch(d, "res_die", {"fit": fit_params(work, "died"), "timeout_s": 30,
                                  "die_at_batch": 2}, 2)
    err, elapsed = wait_for(procs, 0, t0)
    assert procs[0].returncode != 0 and procs[1].returncode == 3
    assert "DistributedError" in err and "rank 0 of 2" in err, err[-3000:]
    assert "another rank died, hangs or lost contact" in err
    assert elapsed < 120
    assert not (d / "died" / "model").exists()


def test_global_batch_must_split_evenly(work, monkeypatch):
    from bpnetkit import dist
    from bpnetkit.errors import InputError
    from bpnetkit.steps import fit

    ctx = dist.DistContext(rank=0, world_size=3, backend="gloo")
    monkeypatch.setattr(dist, "init_from_env", lambda *a, **k: ctx)
    with pytest.raises(InputError, match="global batch.*divisible.*batch_size 9"):
        fit._check_launch(FitParams(**fit_params(work, "x")).resolved())


def test_torchrun_cli_chrombpnet_two_stages_equal_one_process(tmp_path):
    """``torchrun --nproc_per_node=2 -m bpnetkit fit -p fit.json`` on the ChromBPNet recipe:
    the bias stage, its count shift (computed on rank 0, shared) and the accessibility stage
    give the weights of one process."""
    d = make_genome_dataset(tmp_path, stranded=False, bias_motif="GCGCTA", chrom_len=6000,
                            min_copies=1, base_rate=0.1)
    args = {"model_type": "chrombpnet", "genome": d["genome"], "peaks": d["peaks"],
            "negatives": d["negatives"], "signals": d["signals"], "split": d["split"],
            "bias_n_filters": 4, "bias_n_layers": 2, "bias_max_epochs": 1,
            "bias_motifs": ["GCGCTA"], **TINY, "max_epochs": 1, "batch_size": 6,
            "max_jitter": 4, "verbose": False}
    # the oracle runs in a fresh process too: the first prediction of a process draws once
    # from torch's global generator (interpret/fused_tower.py probes the fused kernels), which
    # moves the initialisation of the accessibility model built after the bias stage
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    for name, launcher in (("one", []), ("two", ["-m", "torch.distributed.run", "--standalone",
                                                 "--nproc_per_node=2"])):
        (tmp_path / f"{name}.json").write_text(json.dumps({**args,
                                                           "output_dir": str(tmp_path / name)}))
        proc = subprocess.run([sys.executable, *launcher, "-m", "bpnetkit", "fit", "-p",
                               str(tmp_path / f"{name}.json")], env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = tmp_path / "one", tmp_path / "two"
    for sub in ("bias/model", "model", "model_nobias"):
        assert_same_weights(str(one / sub), str(two / sub))
    cfg = json.loads((two / "model" / "config.json").read_text())
    assert '"world_size": 2' in json.dumps(cfg)
    qc1, qc2 = (json.loads((p / "metrics.json").read_text())["qc"] for p in (one, two))
    assert qc2["bias_count_shift"] == pytest.approx(qc1["bias_count_shift"], abs=1e-5)
