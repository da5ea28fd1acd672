"""Launch test workers the way ``torchrun`` starts its workers (shared by the distributed
tests)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    """A free TCP port on the loopback interface, for the rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(d: Path, name: str, cfg: dict, world_size: int,
           env: dict | None = None) -> list[subprocess.Popen]:
    """Start ``world_size`` copies of ``d/worker.py`` on ``d/name/cfg.json`` (``cfg`` plus
    ``results``: that folder), each with the environment torchrun gives rank ``r``."""
    res = d / name
    res.mkdir()
    (res / "cfg.json").write_text(json.dumps({**cfg, "results": str(res)}))
    port = free_port()
    return [subprocess.Popen(
        [sys.executable, str(d / "worker.py"), str(res / "cfg.json")],
        env={**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
             "WORLD_SIZE": str(world_size), "RANK": str(r), "LOCAL_RANK": str(r),
             "LOCAL_WORLD_SIZE": str(world_size), "OMP_NUM_THREADS": "1",
             "CUDA_VISIBLE_DEVICES": "", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(world_size)]


def wait_for(procs: list[subprocess.Popen], index: int, t0: float,
             timeout: float = 240) -> tuple[str, float]:
    """Wait for worker ``index``; return its stderr and the seconds since ``t0``. The other
    workers are killed if still running (a test of a failing rank must not leave any)."""
    import time

    try:
        _, err = procs[index].communicate(timeout=timeout)
        elapsed = time.monotonic() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    return err, elapsed
