"""Resume never mixes two configurations: the checkpoint records the resolved parameters and
the input files; ``resume`` refuses any change outside the safe keys (listing each one),
accepts safe ones (``max_epochs``), names a truncated checkpoint, and a run interrupted
without ``resume`` continues automatically (equal to the uninterrupted run)."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from _train_sim import make_genome_dataset
from bpnetkit.errors import InputError
from bpnetkit.steps.fit import RESUME_SAFE_KEYS, FitParams, run_fit

TINY = {"in_window": 120, "out_window": 84, "n_filters": 8, "n_layers": 2,
        "stem_kernel_size": 11, "profile_kernel_size": 15, "progress": False, "device": "cpu",
        "max_jitter": 4, "patience": 10}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("resume")
    d = make_genome_dataset(tmp, chrom_len=12000)
    return tmp, d


def params(data, out: str, **kw) -> FitParams:
    tmp, d = data
    kw = {"signals": d["signals"], **TINY, **kw}
    return FitParams(genome=d["genome"], peaks=d["peaks"], split=d["split"],
                     output_dir=str(tmp / out), **kw)


def epochs(out) -> list[int]:
    rows = (Path(out) / "log.tsv").read_text().strip().split("\n")[1:]
    return [int(r.split("\t")[0]) for r in rows]


def weights(model_dir):
    from bpnetkit.models.files import load_model

    return load_model(model_dir).state_dict()


@pytest.fixture(scope="module")
def one_epoch(data):
    """A finished 1-epoch run (copied by each test that resumes from it)."""
    run_fit(params(data, "one", max_epochs=1))
    return data[0] / "one"


@pytest.fixture(scope="module")
def two_epochs(data):
    """The oracle: an uninterrupted 2-epoch run."""
    return run_fit(params(data, "two", max_epochs=2))


def copy_run(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def test_safe_keys_are_documented():
    assert {"max_epochs", "patience", "device", "verbose"} <= RESUME_SAFE_KEYS
    assert not {"lr", "n_filters", "batch_size", "signals", "random_state"} & RESUME_SAFE_KEYS


def test_changed_lr_refused_listing_it_and_params_untouched(data, one_epoch):
    out = copy_run(one_epoch, data[0] / "lr")
    before = (out / "fit_params.json").read_text()
    old_lr = json.loads(before)["lr"]
    with pytest.raises(InputError) as e:
        run_fit(params(data, "lr", max_epochs=2, lr=old_lr * 3, resume=True))
    msg = str(e.value)
    assert f"lr: {old_lr!r} -> {old_lr * 3!r}" in msg and "without --resume" in msg
    assert "max_epochs: 1 -> 2" not in msg  # a safe change is not listed as a reason
    assert (out / "fit_params.json").read_text() == before
    assert epochs(out) == [1]


def test_changed_signal_file_refused(data, one_epoch):
    tmp, d = data
    out = copy_run(one_epoch, tmp / "sig")
    moved = tmp / "moved_signal.bw"
    shutil.copy(d["signals"][0], moved)
    sig = [str(moved)] + list(d["signals"][1:])
    with pytest.raises(InputError, match="signals"):
        run_fit(params(data, "sig", max_epochs=2, resume=True, signals=sig))
    assert epochs(out) == [1]


def test_changed_max_epochs_resumes_to_the_new_max(data, one_epoch, two_epochs):
    out = copy_run(one_epoch, data[0] / "more")
    res = run_fit(params(data, "more", max_epochs=2, resume=True))
    assert epochs(out) == [1, 2]
    assert json.loads((out / "fit_params.json").read_text())["max_epochs"] == 2
    for (k, a), b in zip(weights(two_epochs.model).items(), weights(res.model).values(),
                         strict=True):
        assert torch.allclose(a, b, atol=1e-6), k


def test_changed_n_filters_refused_not_a_size_mismatch(data, one_epoch):
    out = copy_run(one_epoch, data[0] / "arch")
    before = (out / "fit_params.json").read_text()
    with pytest.raises(InputError) as e:
        run_fit(params(data, "arch", max_epochs=2, n_filters=12, resume=True))
    assert "n_filters: 8 -> 12" in str(e.value)
    assert "size mismatch" not in str(e.value)
    assert (out / "fit_params.json").read_text() == before


def test_truncated_checkpoint_named(data, one_epoch):
    out = copy_run(one_epoch, data[0] / "trunc")
    ck = out / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 3])
    with pytest.raises(InputError, match="checkpoint.pt") as e:
        run_fit(params(data, "trunc", max_epochs=2, resume=True))
    assert "without --resume" in str(e.value) and "restore" in str(e.value)


def test_interrupted_run_resumes_automatically(data, one_epoch, two_epochs, caplog):
    """An interrupted 2-epoch run (its checkpoint after epoch 1, no final metrics) run again
    without resume continues at epoch 2 and equals the uninterrupted run."""
    out = copy_run(one_epoch, data[0] / "auto")
    # the 1-epoch run was launched with max_epochs=1; an interrupted 2-epoch run has the
    # same checkpoint with max_epochs=2 recorded (a safe key) and no metrics.json
    (out / "metrics.json").unlink()
    shutil.rmtree(out / "model")
    torch.manual_seed(999)  # the resumed run must not depend on the global RNG
    with caplog.at_level("INFO", logger="bpnetkit.steps.fit"):
        res = run_fit(params(data, "auto", max_epochs=2))
    assert any("interrupted run with the same parameters" in r.getMessage()
               for r in caplog.records)
    assert epochs(out) == [1, 2]
    assert not (out / "checkpoint.pt.stale").exists()
    for (k, a), b in zip(weights(two_epochs.model).items(), weights(res.model).values(),
                         strict=True):
        assert torch.allclose(a, b, atol=1e-6), k


def test_interrupted_run_of_another_configuration_starts_fresh(data, one_epoch, two_epochs):
    out = copy_run(one_epoch, data[0] / "stale")
    (out / "metrics.json").unlink()
    res = run_fit(params(data, "stale", max_epochs=2, lr=0.01))
    assert (out / "checkpoint.pt.stale").exists()
    assert epochs(out) == [1, 2]
    assert json.loads((out / "fit_params.json").read_text())["lr"] == 0.01
    assert res.model


def test_finished_run_is_not_resumed(data, one_epoch):
    out = copy_run(one_epoch, data[0] / "done")
    run_fit(params(data, "done", max_epochs=1))
    assert epochs(out) == [1]
    assert not (out / "checkpoint.pt.stale").exists()


def test_example_cache_gives_the_same_model(data, one_epoch, caplog):
    """``example_cache``: the first run stores the examples, the second reads them; both train
    the model of a run without the cache, and a resume may change the folder."""
    import logging

    cache = data[0] / "example_cache"
    run_fit(params(data, "cache_a", max_epochs=1, example_cache=str(cache)))
    assert (cache.is_dir() and len([p for p in cache.iterdir()
                                    if not p.name.startswith(".")]) == 1)  # peaks; no negatives
    with caplog.at_level(logging.INFO, logger="bpnetkit.data.example_cache"):
        run_fit(params(data, "cache_b", max_epochs=1, example_cache=str(cache)))
    assert "read from the cache" in caplog.text
    ref = weights(one_epoch / "model")
    for out in ("cache_a", "cache_b"):
        got = weights(data[0] / out / "model")
        assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert "example_cache" in RESUME_SAFE_KEYS
