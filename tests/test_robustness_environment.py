"""Issue 14, class 2: a refusing environment (read-only folder, full disk, file-size limit,
missing CUDA, bad device string) gives one line naming the path or key, not a traceback."""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from bpnetkit.cli.main import write_error_message
from bpnetkit.errors import InputError
from bpnetkit.models.bpnet import BPNet
from bpnetkit.utils import resolve_device

torch.set_num_threads(1)


def _state_dict(path):
    torch.manual_seed(0)
    model = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0, trimming=60)
    torch.save(model.state_dict(), path)


def _run_cli(args, limit_bytes=None, cwd=None):
    """``bpnetkit <args>`` in a child process, optionally under RLIMIT_FSIZE (works as root)."""
    code = textwrap.dedent(f"""
        import resource, sys
        limit = {limit_bytes!r}
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        from bpnetkit.cli.main import main
        sys.exit(main({list(args)!r}))
    """)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_file_size_limit_is_one_line_naming_the_output(tmp_path):
    _state_dict(tmp_path / "sd.pt")
    out = tmp_path / "converted"
    res = _run_cli(["convert", str(tmp_path / "sd.pt"), "-o", str(out)], limit_bytes=2048)
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert "Traceback" not in res.stderr
    assert last.startswith("bpnetkit convert: error: cannot write '")
    assert str(out) in last and "File too large" in last and "ulimit" in last
    assert not (out / "model.safetensors").exists()  # nothing half-written in place


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_read_only_output_folder_is_one_line(tmp_path):
    _state_dict(tmp_path / "sd.pt")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = _run_cli(["convert", str(tmp_path / "sd.pt"), "-o", str(ro / "m")])
    finally:
        ro.chmod(0o755)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "cannot write" in res.stderr and str(ro) in res.stderr


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "free some space"),
                                        (errno.EROFS, "read-only"),
                                        (errno.EACCES, "writable output folder"),
                                        (errno.EFBIG, "file-size limit")])
def test_write_error_message_walks_wrapped_errors(code, words):
    # torch wraps the OSError in a RuntimeError; h5py puts the errno into its message only
    try:
        try:
            raise OSError(code, os.strerror(code), "/data/run/model.safetensors")
        except OSError as inner:
            raise RuntimeError("PytorchStreamWriter failed writing file") from inner
    except RuntimeError as e:
        msg = write_error_message(e)
    assert msg.startswith("cannot write '/data/run/model.safetensors'") and words in msg
    h5 = OSError(f"Can't write data (file write failed: errno = {code}, error message = x)")
    args = argparse.Namespace(output_dir="runs/a")
    assert write_error_message(h5, args).startswith("cannot write 'runs/a'")
    assert write_error_message(ValueError("other")) is None
    assert write_error_message(OSError(errno.ENOENT, "No such file")) is None


def test_device_errors_are_clear():
    with pytest.raises(InputError, match="device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            resolve_device("cuda")


def test_attribution_writer_under_a_size_limit_raises_oserror_naming_the_file(tmp_path):
    code = textwrap.dedent("""
        import resource, numpy as np, os
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        from bpnetkit.io.attributions import AttributionWriter
        n, L = 50, 500
        X = np.zeros((n, 4, L), np.int8); X[:, 0] = 1
        H = np.ones((n, 4, L), np.float32)
        try:
            with AttributionWriter("att.h5", ["c"] * n, list(range(n)),
                                   list(range(1, n + 1)), L) as w:
                w.write(0, X, H)
        except OSError as e:
            print("ERR", e.errno, e.filename)
        print("FILES", sorted(os.listdir(".")))
    """)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=300)
    assert f"ERR {errno.EFBIG} att.h5" in res.stdout, res.stderr
    assert "FILES []" in res.stdout  # no temporary left behind
