"""The shared JSON config validation, the atomic writer and the top-level command line."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from bpnetkit.cli.main import COMMANDS, main
from bpnetkit.config import dump_config, from_dict, load_config
from bpnetkit.errors import ConfigError, MissingFileError
from bpnetkit.utils import atomic_path, resolve_device


@dataclasses.dataclass
class Inner:
    width: int = 10


@dataclasses.dataclass
class Params:
    genome: str
    batch_size: int = 64
    learning_rate: float = 1e-3
    signals: list[str] = dataclasses.field(default_factory=list)
    device: str | None = None
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_round_trip_fills_defaults(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"genome": "g.fa", "learning_rate": 1, "inner": {"width": 3}}))
    cfg = load_config(Params, path)
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    assert cfg.inner == Inner(3) and cfg.batch_size == 64
    dump_config(cfg, tmp_path / "resolved.json")
    again = load_config(Params, tmp_path / "resolved.json")
    assert again == cfg


def test_unknown_key_names_nearest():
    with pytest.raises(ConfigError, match=r"unknown key 'batchsize'.*Did you mean 'batch_size'"):
        from_dict(Params, {"genome": "g.fa", "batchsize": 3}, where="x.json")


@pytest.mark.parametrize("data, key", [
    ({"genome": "g", "batch_size": "64"}, "batch_size"),
    ({"genome": "g", "batch_size": True}, "batch_size"),
    ({"genome": "g", "signals": "a.bw"}, "signals"),
    ({"genome": 3}, "genome"),
    ({"genome": "g", "inner": {"width": "x"}}, "width"),
])
def test_wrong_type_names_key(data, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        from_dict(Params, data)


def test_missing_required_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match="required key 'genome'"):
        from_dict(Params, {})
    bad = tmp_path / "bad.json"
    bad.write_text('{"genome": "g",\n "batch_size": }')
    with pytest.raises(ConfigError, match="line 2"):
        load_config(Params, bad)
    with pytest.raises(MissingFileError):
        load_config(Params, tmp_path / "absent.json")


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


@pytest.mark.parametrize("has_cuda, expected", [(True, "cuda"), (False, "cpu")])
def test_resolve_device_defaults_to_available(monkeypatch, has_cuda, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_cuda)
    assert resolve_device(None).type == expected
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_resolve_device_rejects_what_the_machine_lacks(monkeypatch):
    import torch

    from bpnetkit.errors import InputError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="no usable CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(InputError, match="not a valid device"):
        resolve_device("gpu0")


def test_cli_logs_to_stderr_info_by_default_debug_with_v(tmp_path, capsys):
    import logging

    from bpnetkit.cli.main import StderrHandler, configure_logging

    lib = logging.getLogger("bpnetkit.some.module")
    try:
        # library messages reach stderr through the handler the command line installs
        p = tmp_path / "bad.json"
        p.write_text(json.dumps({"threshold": 0.5}))
        assert main(["seqlets", "-p", str(p)]) == 2  # attributions/output_dir missing
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "required key" in err and "Traceback" not in err
        lib.info("an info line")
        lib.debug("a debug line")
        err = capsys.readouterr().err
        assert "an info line" in err and "a debug line" not in err
        assert main(["seqlets", "-v", "--print-defaults"]) == 0
        lib.debug("a debug line")
        assert "a debug line" in capsys.readouterr().err
        handlers = [h for h in logging.getLogger("bpnetkit").handlers
                    if isinstance(h, StderrHandler)]
        assert len(handlers) == 1  # installed once however often main runs
    finally:
        configure_logging(False)


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "bpnetkit", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().startswith("bpnetkit ")
    out = subprocess.run([sys.executable, "-m", "bpnetkit", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for name in COMMANDS:
        assert name in out


def test_every_command_has_help(capsys):
    missing = []
    for name in COMMANDS:
        try:
            main([name, "--help"])
        except SystemExit as e:
            assert e.code == 0
        except ModuleNotFoundError:
            missing.append(name)
    assert not missing, f"commands without a module: {missing}"


def test_atomic_path_gives_usual_file_mode(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "f.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
