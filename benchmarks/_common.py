"""What every benchmark returns to ``run_all.py``: rows of one table, and the machine.

A :class:`Row` is one measure of bpnetkit next to a peer's figure for the same work. The ratio
is always "how many times better bpnetkit is" (``bpnetkit / peer`` for rates, ``peer /
bpnetkit`` for times when ``lower_is_better``); rows that are not comparable (counts,
precision) have no ratio.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import asdict, dataclass


@dataclass
class Row:
    """One line of the benchmark table.

    Parameters
    ----------
    measure : str
        What is measured, with its unit, e.g. ``"predict BPNet 64x8 (seq/s)"``.
    bpnetkit, peer : float or None
        bpnetkit's and the peer's figures (None when not measured).
    peer_name : str
        The peer (``"tangermeme"``, ``"bpnet-lite"``...).
    configuration : str
        Sizes and settings, enough to repeat the measurement.
    goal : float or None
        The ratio bpnetkit should reach (``3.0`` means ">= 3x").
    goal_max, goal_min : float or None
        Bounds bpnetkit's own figure should keep (e.g. false seqlets per kb <= 0.01, recall
        >= 0.95), for rows whose goal is not a ratio.
    lower_is_better : bool
        The figures are times or error rates (the ratio is then ``peer / bpnetkit``).
    ratio_applies : bool
        False for figures whose quotient means nothing (counts, precision, recall).
    headline : bool
        Shown in the README's short table.
    benchmark : str
        The benchmark module that produced the row (set by ``run_all.py``).
    """

    measure: str
    bpnetkit: float | None
    peer: float | None
    peer_name: str = ""
    configuration: str = ""
    goal: float | None = None
    goal_max: float | None = None
    goal_min: float | None = None
    lower_is_better: bool = False
    ratio_applies: bool = True
    headline: bool = False
    benchmark: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better bpnetkit is than the peer (None when not applicable)."""
        a, b = self.bpnetkit, self.peer
        if not self.ratio_applies or a is None or b is None or not (
                math.isfinite(a) and math.isfinite(b)):
            return None
        if self.lower_is_better:
            return b / a if a > 0 else None
        return a / b if b > 0 else None

    @property
    def met(self) -> bool | None:
        """Whether the goals are reached (None without a goal)."""
        checks = []
        if self.goal is not None:
            r = self.ratio
            checks.append(None if r is None else r >= self.goal)
        v = self.bpnetkit
        if self.goal_max is not None:
            checks.append(None if v is None else v <= self.goal_max)
        if self.goal_min is not None:
            checks.append(None if v is None else v >= self.goal_min)
        if not checks or None in checks:
            return None
        return all(checks)

    @property
    def goal_text(self) -> str:
        """The goals in words, e.g. ``">= 3x"`` or ``"<= 0.01"``."""
        parts = []
        if self.goal is not None:
            parts.append(f">= {self.goal:g}x")
        if self.goal_max is not None:
            parts.append(f"<= {self.goal_max:g}")
        if self.goal_min is not None:
            parts.append(f">= {self.goal_min:g}")
        return ", ".join(parts)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["met"] = self.met
        d["goal_text"] = self.goal_text
        return d


def fmt(x: float | None) -> str:
    """A figure with 3-4 significant digits (thousands separated)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 0.01 or ax == 0:
        return f"{x:.3g}"
    return f"{x:.2e}"


def cells(row: Row) -> list[str]:
    """The printed cells: measure, bpnetkit, peer, ratio, goal, configuration."""
    peer = fmt(row.peer)
    if row.peer_name and row.peer is not None:
        peer = f"{peer} ({row.peer_name})"
    r = row.ratio
    ratio = "-" if r is None else f"{r:.2f}x"
    goal = row.goal_text
    if goal and row.met is not None:
        goal += " ok" if row.met else " NOT MET"
    return [row.measure, fmt(row.bpnetkit), peer, ratio, goal, row.configuration]


HEAD = ["measure", "bpnetkit", "peer", "ratio", "goal", "configuration"]


def format_table(rows: list[Row]) -> str:
    """A plain-text table of the rows."""
    body = [cells(r) for r in rows]
    widths = [max(len(x[i]) for x in [HEAD] + body) for i in range(len(HEAD) - 1)]
    lines = []
    for x in [HEAD] + body:
        lines.append("  ".join([v.ljust(w) for v, w in zip(x[:-1], widths)] + [x[-1]]))
    return "\n".join(lines)


def markdown_table(rows: list[Row], configuration: bool = True) -> str:
    """A Markdown table of the rows (without the configuration column if asked)."""
    head = HEAD if configuration else HEAD[:-1]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c = cells(r)[: len(head)]
        out.append("| " + " | ".join(v.replace("|", "\\|") for v in c) + " |")
    return "\n".join(out)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The machine and software the numbers were measured with."""
    import numpy as np
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }
    if hasattr(os, "getloadavg"):
        info["load_1min_at_start"] = round(os.getloadavg()[0], 2)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def machine_line(info: dict) -> str:
    """The machine in one line."""
    s = (f"{info['cpu']}, {info['cores']} cores; torch {info['torch']} "
         f"({info['torch_threads']} threads), numpy {info['numpy']}, Python {info['python']}")
    if "gpu" in info:
        s += f"; GPU {info['gpu']}"
    if "load_1min_at_start" in info:
        s += f"; load average at start {info['load_1min_at_start']}"
    return s


# --- helpers shared by the benchmarks ---------------------------------------------------------
def interleaved_best(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Run each function ``repeats`` times, interleaved (fair on a busy machine); return the
    best wall time of each and its last output."""
    import time

    best = dict.fromkeys(fns, float("inf"))
    outs = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            outs[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best, outs


def one_hot(n: int, length: int, seed: int = 0, dtype=None):
    """Random one-hot sequences ``(n, 4, length)`` as a torch tensor (float32 by default)."""
    import numpy as np
    import torch

    idx = np.random.default_rng(seed).integers(0, 4, (n, length))
    X = torch.from_numpy(np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy())
    return X if dtype is None else X.to(dtype)


def forward_flops(model, X, *args) -> float:
    """FLOPs of one forward pass of ``model`` on ``X`` (counted by torch)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(X, *args)
    return float(counter.get_total_flops())


_PEAK: dict[int, float] = {}


def cpu_peak_flops() -> float:
    """FLOP/s of a float32 2048 x 2048 matmul on this CPU with torch's threads (best of 3):
    the practical peak that "fraction of peak" figures refer to."""
    import time

    import torch

    threads = torch.get_num_threads()
    if threads not in _PEAK:
        n = 2048
        a = torch.randn(n, n)
        a @ a
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - t)
        _PEAK[threads] = 2 * n ** 3 / best
    return _PEAK[threads]
