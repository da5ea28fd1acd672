"""Issue 14, class 1: outputs appear only when complete.

Every step writes into a staging folder inside its output folder and moves its files into
place only on success (:mod:`bpnetkit.steps._staging`). Checked here: a run that fails
half-way (a full disk, an interrupt) into a folder holding a good run leaves every file
byte-identical and no staging folder; a successful run leaves no hidden file and no staging
path inside its files; a ``kill -9`` leaves no partial output and the next run removes the
temporaries; ``fit`` keeps its resume checkpoint through a crash and resumes from it.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from bpnetkit.cli.main import main
from bpnetkit.models import BPNet
from bpnetkit.models.files import save_model
from bpnetkit.steps import _staging
from bpnetkit.steps import predict as predict_step
from bpnetkit.steps._staging import STAGING_PREFIX, clean_stale, final_path, staged_outputs
from bpnetkit.steps.attribute import AttributeParams, run_attribute
from bpnetkit.steps.predict import PredictParams, run_predict

L = 64


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A tiny genome, 6 peaks and a tiny BPNet (the layout of the attribute/predict tests)."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("atomic")
    rng = np.random.default_rng(0)
    with open(d / "genome.fa", "w") as fh:
        for c, n in {"chr1": 900, "chr2": 600}.items():
            seq = "".join(rng.choice(list("ACGT"), size=n))
            fh.write(f">{c}\n" + "\n".join(seq[i:i + 60] for i in range(0, n, 60)) + "\n")
    rows = [("chr1", 100, 200), ("chr1", 300, 400), ("chr1", 500, 600), ("chr1", 700, 800),
            ("chr2", 100, 200), ("chr2", 300, 400)]
    (d / "peaks.bed").write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows))
    torch.manual_seed(0)
    save_model(BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0,
                     stem_kernel_size=5, profile_kernel_size=7), d / "model")
    return d


def predict_params(d: Path, out: Path, **kw) -> PredictParams:
    return PredictParams(model=str(d / "model"), genome=str(d / "genome.fa"),
                         peaks=str(d / "peaks.bed"), output_dir=str(out), in_window=L,
                         chunk_size=2, device="cpu", **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) -> its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def good_run(d: Path, name: str) -> tuple[Path, dict[str, bytes]]:
    out = d / name
    run_predict(predict_params(d, out))
    return out, snapshot(out)


# --------------------------------------------------------------------------------------------
# (a) a failure half-way leaves the folder exactly as it was
# --------------------------------------------------------------------------------------------
def test_disk_full_while_writing_bigwigs_leaves_the_old_run_byte_identical(workdir,
                                                                           monkeypatch):
    out, before = good_run(workdir, "full")
    assert {"predictions.h5", "regions.bed", "predict_params.json",
            "predicted_plus.bw", "predicted_minus.bw"} <= set(before)
    with h5py.File(out / "predictions.h5") as f:
        assert len(f["start"]) == 6
    written: list[Path] = []

    def full_disk(path, *args, **kwargs):
        written.append(Path(path))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # our own bigWig writer reports a full disk, after the h5, BED and params were staged
    monkeypatch.setattr(predict_step, "write_window_bigwig", full_disk)
    with pytest.raises(OSError) as e:
        run_predict(predict_params(workdir, out, max_regions=1))
    assert written and STAGING_PREFIX in str(written[0])  # the failure hit the stage
    # one clear error naming the output folder (not the hidden staging folder)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(out)
    assert snapshot(out) == before
    assert hidden(out) == []


def test_interrupt_leaves_the_old_run_and_the_cli_names_the_folder(workdir, monkeypatch):
    out, before = good_run(workdir, "interrupt")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict_step, "write_window_bigwig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_predict(predict_params(workdir, out, max_regions=1))
    assert snapshot(out) == before and hidden(out) == []


def test_cli_reports_a_full_disk_in_one_line_naming_the_folder(workdir, monkeypatch, capsys):
    out, before = good_run(workdir, "cli_full")

    def full_disk(*args, **kwargs):
        raise RuntimeError("Can't write data (file write failed: errno = 28, error "
                           "message = 'No space left on device')")  # what h5py raises

    monkeypatch.setattr(predict_step, "_write_predictions", full_disk)
    cfg = workdir / "predict_full.json"
    cfg.write_text(json.dumps({"model": str(workdir / "model"),
                               "genome": str(workdir / "genome.fa"),
                               "peaks": str(workdir / "peaks.bed"), "output_dir": str(out),
                               "in_window": L, "device": "cpu"}))
    assert main(["predict", "-p", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"cannot write '{out}'" in err and "No space left" in err, err
    assert STAGING_PREFIX not in err
    assert snapshot(out) == before and hidden(out) == []


def test_failed_first_run_leaves_no_params_and_no_partial_files(workdir, monkeypatch):
    out = workdir / "first"

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(predict_step, "write_window_bigwig", full_disk)
    with pytest.raises(OSError):
        run_predict(predict_params(workdir, out))
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------------------------
# (b) stale temporaries of dead runs are removed on the next run
# --------------------------------------------------------------------------------------------
def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_staging_of_a_dead_process_and_legacy_temporaries_are_removed(workdir, caplog):
    out, _ = good_run(workdir, "stale")
    host = _staging._host()
    stale = out / f"{STAGING_PREFIX}predict-{host}-{dead_pid()}-0123abcd"
    (stale / "model").mkdir(parents=True)
    (stale / "predictions.h5").write_bytes(b"partial")
    legacy = [out / ".attr_tmp_k2j3", out / ".predict_tmp_x9", out / "bpnetkit_macs3_ab"]
    for p in legacy:
        p.mkdir()
        (p / "tracks.npy").write_bytes(b"x")
    tmp_file = out / ".predictions.h5.a1b2c3d4.tmp.h5"  # an atomic_path temporary
    tmp_file.write_bytes(b"half")
    keep = [out / "notes.txt", out / ".hidden_user_file"]  # not ours: never touched
    for p in keep:
        p.write_text("mine")
    with caplog.at_level("INFO", logger="bpnetkit.steps._staging"):
        run_predict(predict_params(workdir, out))
    assert not stale.exists() and not tmp_file.exists()
    assert not any(p.exists() for p in legacy)
    assert all(p.read_text() == "mine" for p in keep)
    assert hidden(out) == [".hidden_user_file"]
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "removed 5 temporary" in msg and stale.name in msg


def test_live_staging_folders_are_kept(tmp_path):
    """A staging folder of a running process (this one), or of another host modified
    recently, is not touched; nor are other temporaries while such a step runs."""
    host = _staging._host()
    mine = tmp_path / f"{STAGING_PREFIX}fit-{host}-{os.getpid()}-00ff00ff"
    other = tmp_path / f"{STAGING_PREFIX}fit-another-node.cluster-{dead_pid()}-00ff00fe"
    old = tmp_path / f"{STAGING_PREFIX}fit-another-node.cluster-{dead_pid()}-00ff00fd"
    tmp_file = tmp_path / ".checkpoint.pt.zzzzzzzz.tmp.pt"
    for p in (mine, other, old):
        p.mkdir()
        (p / "f").write_text("x")
    tmp_file.write_text("x")
    t = time.time() - _staging.STALE_AFTER_S - 60
    for p in (old / "f", old):
        os.utime(p, (t, t))
    removed = clean_stale(tmp_path)
    assert removed == [old]
    assert mine.exists() and other.exists() and tmp_file.exists()


# --------------------------------------------------------------------------------------------
# (c) a successful run: no hidden files, final paths only, old outputs of the step replaced
# --------------------------------------------------------------------------------------------
def test_successful_run_leaves_no_hidden_files_and_names_final_paths(workdir):
    out = workdir / "ok"
    res = run_attribute(AttributeParams(model=str(workdir / "model"),
                                        genome=str(workdir / "genome.fa"),
                                        peaks=str(workdir / "peaks.bed"), output_dir=str(out),
                                        in_window=L, n_shuffles=2, chunk_size=2,
                                        device="cpu"))
    assert hidden(out) == []
    files = res.files()
    assert files and all(p.parent == out and p.exists() for p in files), files
    for p in out.iterdir():
        assert STAGING_PREFIX.encode() not in p.read_bytes(), p
    with h5py.File(res.h5["counts"]) as f:
        assert json.loads(f.attrs["params"])["output_dir"] == str(out)


def test_rerun_replaces_the_steps_own_outputs_and_keeps_other_files(workdir):
    out, before = good_run(workdir, "rerun")
    (out / "mine.txt").write_text("keep me")
    res = run_predict(predict_params(workdir, out, max_regions=2, bigwigs=False))
    assert res.bigwigs == []
    names = sorted(p.name for p in out.iterdir())
    # the bigWigs of the earlier run are gone: they would not match the new predictions
    assert names == ["mine.txt", "predict_params.json", "predictions.h5", "regions.bed"]
    assert len((out / "regions.bed").read_text().splitlines()) == 2
    assert json.loads((out / "predict_params.json").read_text())["max_regions"] == 2


def test_stage_replaces_folders_whole_and_leaves_dot_intact(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("model").mkdir()
    Path("model/old.bin").write_text("old")
    Path("other.txt").write_text("other")
    with staged_outputs(".", "unit") as stage:
        (stage.path / "model").mkdir()
        (stage.path / "model" / "new.bin").write_text("new")
        (stage.path / "unit_params.json").write_text("{}")
        assert final_path(stage.path / "model" / "new.bin") == Path("model/new.bin")
        assert stage.final(str(stage.path / "x.txt")) == "x.txt"
    assert sorted(os.listdir(".")) == ["model", "other.txt", "unit_params.json"]
    assert os.listdir("model") == ["new.bin"]


def test_a_failing_move_is_undone(tmp_path, monkeypatch):
    """When a move fails half-way (here: the third), the entries already moved go back and
    the old ones are restored."""
    for name in ("a.txt", "b.txt", "c_params.json"):
        (tmp_path / name).write_text("old " + name)
    before = snapshot(tmp_path)
    real = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        if STAGING_PREFIX in str(src) and Path(dst).parent == tmp_path:
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        return real(src, dst)

    monkeypatch.setattr(_staging.os, "replace", flaky)
    with pytest.raises(OSError), staged_outputs(tmp_path, "unit") as stage:
        for name in ("a.txt", "b.txt", "c_params.json"):
            (stage.path / name).write_text("new " + name)
    assert snapshot(tmp_path) == before and hidden(tmp_path) == []


# --------------------------------------------------------------------------------------------
# (d) kill -9: no partial output; the next run cleans up
# --------------------------------------------------------------------------------------------
def test_kill_9_during_attribute_leaves_no_partial_outputs(workdir):
    out = workdir / "killed"
    many = workdir / "many.bed"
    many.write_text("".join(f"chr1\t{s}\t{s + 60}\n" for s in range(100, 800, 7)) * 4)
    code = textwrap.dedent(f"""
        import torch
        torch.set_num_threads(1)
        from bpnetkit.steps.attribute import AttributeParams, run_attribute
        run_attribute(AttributeParams(model={str(workdir / 'model')!r},
                      genome={str(workdir / 'genome.fa')!r}, peaks={str(many)!r},
                      output_dir={str(out)!r}, in_window={L}, n_shuffles=50, chunk_size=4,
                      device="cpu"))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.time() + 60
        # wait until the run has written part of its h5 files into its stage
        while time.time() < deadline and proc.poll() is None:
            if any(p.suffix == ".h5" and p.stat().st_size > 0
                   for p in out.glob(f"{STAGING_PREFIX}*/*")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # only the dead run's staging folder is left: no output, no params
    left = [p.name for p in out.iterdir()]
    assert len(left) == 1 and left[0].startswith(f"{STAGING_PREFIX}attribute-"
                                                 f"{_staging._host()}-{proc.pid}-"), left
    run_predict(predict_params(workdir, out, max_regions=2, bigwigs=False))
    assert hidden(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["predict_params.json", "predictions.h5",
                                                    "regions.bed"]


# --------------------------------------------------------------------------------------------
# fit: the resume checkpoint survives a crash; everything else appears on success
# --------------------------------------------------------------------------------------------
def test_fit_crash_keeps_only_the_checkpoint_and_the_next_run_resumes(tmp_path, monkeypatch,
                                                                      caplog):
    from _train_sim import make_genome_dataset
    from bpnetkit.steps import fit as fit_step

    d = make_genome_dataset(tmp_path, chrom_len=12000)
    params = fit_step.FitParams(genome=d["genome"], peaks=d["peaks"], split=d["split"],
                                signals=d["signals"], output_dir=str(tmp_path / "fit"),
                                in_window=120, out_window=84, n_filters=8, n_layers=2,
                                stem_kernel_size=11, profile_kernel_size=15, progress=False,
                                device="cpu", max_jitter=4, max_epochs=1)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # after training, while the test metrics are computed

    with monkeypatch.context() as m:
        m.setattr(fit_step, "_test_metrics", crash)
        with pytest.raises(KeyboardInterrupt):
            fit_step.run_fit(params)
    out = tmp_path / "fit"
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]
    with caplog.at_level("INFO", logger="bpnetkit.steps.fit"):
        res = fit_step.run_fit(params)
    assert any("interrupted run with the same parameters" in r.getMessage()
               for r in caplog.records)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "fit_params.json",
                                                    "log.tsv", "metrics.json", "model"]
    assert res.checkpoint == str(out / "checkpoint.pt") and res.model == str(out / "model")
    assert all(p.exists() for p in res.files())
    assert (out / "log.tsv").read_text().count("\n") == 2  # header + the resumed epoch 1
    cfg = (out / "model" / "config.json").read_text()
    assert STAGING_PREFIX not in cfg
