"""Shared helpers: device resolution, atomic writes, log-friendly progress."""

from __future__ import annotations

import logging

import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.utils import atomic_path, is_gzip, progress, resolve_device


def test_default_device_runs_computation():
    dev = resolve_device(None)
    x = torch.arange(6.0, device=dev).reshape(2, 3)
    assert float((x @ x.T).sum()) == 5.0 + 14.0 + 14.0 + 50.0
    if not torch.cuda.is_available():
        assert dev.type == "cpu"


@pytest.mark.parametrize("bad", ["gpu0", "cuda:x", "tpu"])
def test_invalid_device_string_is_a_clear_error(bad):
    with pytest.raises(InputError, match=repr(bad)):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(InputError, match="no usable CUDA GPU"):
        resolve_device("cuda")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_is_gzip(tmp_path):
    import gzip

    (tmp_path / "a.txt").write_text("chr1\t1\n")
    with gzip.open(tmp_path / "b.gz", "wt") as fh:
        fh.write("chr1\t1\n")
    assert not is_gzip(tmp_path / "a.txt")
    assert is_gzip(tmp_path / "b.gz")


def test_progress_logs_lines_not_carriage_returns(caplog, monkeypatch):
    import time

    clock = iter(range(0, 1000, 3))  # every item "takes" 3 s
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    with caplog.at_level(logging.INFO, logger="bpnetkit.progress"):
        items = list(progress(range(6), desc="predict", unit="batch", interval=5.0))
    assert items == list(range(6))
    lines = [r.getMessage() for r in caplog.records]
    assert lines, "a non-terminal run must log progress lines"
    assert all("\r" not in m for m in lines)
    assert any("predict: " in m and "/6 batch" in m for m in lines)
    assert lines[-1].startswith("predict: done, 6 batch")


def test_progress_disabled_is_silent(caplog):
    with caplog.at_level(logging.INFO, logger="bpnetkit.progress"):
        assert list(progress(range(3), enabled=False)) == [0, 1, 2]
    assert caplog.records == []
