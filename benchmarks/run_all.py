"""Every benchmark side by side with its peer, in one table.

Runs each ``benchmarks/bench_*.py`` module's ``rows(quick)`` (in its own process, so that one
benchmark's threads, memory and compiled kernels do not affect the next) and prints one table:
measure, bpnetkit, peer, ratio (how many times better bpnetkit is), goal, configuration;
then the machine it ran on.

    python benchmarks/run_all.py                    # real sizes (about 10 min on 2 cores)
    python benchmarks/run_all.py --quick            # a smoke run (about 2-3 min)
    python benchmarks/run_all.py --json out.json    # also write the rows and the machine
    python benchmarks/run_all.py --markdown         # also rewrite the tables in
                                                    # docs/benchmarks.md and README.md
    python benchmarks/run_all.py --from-json out.json --markdown   # tables from a past run
    python benchmarks/run_all.py --only predict,deeplift

``bench_gpu`` runs only when CUDA is present; ``bench_recovery`` (long) only with
``--recovery``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import (  # noqa: E402
    Row,
    format_table,
    machine,
    machine_line,
    markdown_table,
)

#: benchmark modules (``bench_<name>.py``) in the order they run
BENCHMARKS = ["models", "predict", "deeplift", "train", "extract", "bigwig", "bam2bw",
              "motifs", "variants"]
OPTIONAL = {"gpu": "CUDA is present", "recovery": "--recovery is given"}

DOC = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- run_all:begin -->", "<!-- run_all:end -->"
RBEGIN, REND = "<!-- run_all:readme:begin -->", "<!-- run_all:readme:end -->"


def selected(only: str | None = None, recovery: bool = False,
             cuda: bool | None = None) -> list[str]:
    """The benchmarks to run, in order."""
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    names = list(BENCHMARKS)
    if cuda:
        names.append("gpu")
    if recovery:
        names.append("recovery")
    if only:
        want = [x.strip() for x in only.split(",") if x.strip()]
        unknown = sorted(set(want) - set(BENCHMARKS) - set(OPTIONAL))
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {unknown}; choose from "
                             f"{BENCHMARKS + list(OPTIONAL)}")
        names = want
    return names


def load(name: str):
    """Import ``bench_<name>`` from this folder."""
    return importlib.import_module(f"bench_{name}")


def run_in_process(name: str, quick: bool) -> list[Row]:
    """``bench_<name>.rows(quick)`` with the benchmark's name set on each row."""
    rows = load(name).rows(quick)
    for r in rows:
        if not isinstance(r, Row):
            raise TypeError(f"bench_{name}.rows returned {type(r).__name__}, not Row")
        r.benchmark = name
    return rows


def _error_row(name: str, message: str) -> Row:
    return Row(f"bench_{name} FAILED", None, None, "", message[-300:].replace("\n", " "),
               ratio_applies=False, benchmark=name)


def run_child(name: str, quick: bool, threads: int | None, timeout: float | None) -> list[Row]:
    """Run one benchmark in a child process; its rows come back as JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    if quick:
        cmd.append("--quick")
    if threads:
        cmd += ["--threads", str(threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [_error_row(name, f"timed out after {timeout:.0f} s")]
    marker = "@@rows@@"
    lines = [x for x in out.stdout.splitlines() if x.startswith(marker)]
    if out.returncode != 0 or not lines:
        return [_error_row(name, out.stderr.strip() or out.stdout.strip()
                           or f"exit {out.returncode}")]
    fields = {f for f in Row.__dataclass_fields__}
    return [Row(**{k: v for k, v in d.items() if k in fields})
            for d in json.loads(lines[-1][len(marker):])]


def collect(names: list[str], quick: bool, isolate: bool = True, threads: int | None = None,
            timeout: float | None = None, log=print,
            progress=None) -> tuple[list[Row], dict[str, float]]:
    """Run the benchmarks; return all rows and each benchmark's wall time (s).

    ``progress(rows, took)``, when given, is called after each benchmark (e.g. to save the
    rows so far)."""
    import resource

    rows: list[Row] = []
    took: dict[str, float] = {}
    for name in names:
        t = time.perf_counter()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if isolate:
            got = run_child(name, quick, threads, timeout)
        else:
            try:
                got = run_in_process(name, quick)
            except Exception:  # one failing benchmark must not hide the others
                got = [_error_row(name, traceback.format_exc())]
        took[name] = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        rows += got
        log(f"bench_{name}: {len(got)} rows in {took[name]:.0f} s (CPU of child processes "
            f"{cpu:.0f} s)")
        if progress is not None:
            progress(rows, took)
    return rows, took


def report(rows: list[Row], info: dict, took: dict[str, float], quick: bool) -> str:
    """The plain-text report: the table, then the machine and the durations."""
    total = sum(took.values())
    lines = [format_table(rows), "",
             f"machine: {machine_line(info)}",
             f"mode: {'quick' if quick else 'full'}; wall time per benchmark: "
             + ", ".join(f"{k} {v:.0f} s" for k, v in took.items()) + f"; total {total:.0f} s"]
    return "\n".join(lines)


def _replace_block(text: str, begin: str, end: str, block: str) -> str:
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        return head + begin + "\n" + block + "\n" + end + tail
    return text.rstrip("\n") + "\n\n" + begin + "\n" + block + "\n" + end + "\n"


def doc_block(rows: list[Row], info: dict, took: dict[str, float], quick: bool,
              date: str) -> str:
    """The generated part of docs/benchmarks.md."""
    total = sum(took.values())
    load = info.get("load_1min_at_start")
    busy = ([f"**The machine was busy** (load average {load} on {info['cores']} cores when the "
             f"run started): the figures are provisional.", ""]
            if load is not None and load > info["cores"] else [])
    return "\n".join(busy + [
        f"Generated by `python benchmarks/run_all.py{' --quick' if quick else ''} --markdown` "
        f"on {date} ({'quick' if quick else 'full'} sizes, {total:.0f} s in all).",
        "",
        f"Machine: {machine_line(info)}.",
        "",
        markdown_table(rows),
        "",
        "Wall time per benchmark: " + ", ".join(f"{k} {v:.0f} s" for k, v in took.items())
        + ".",
    ])


def readme_block(rows: list[Row], info: dict, quick: bool, date: str) -> str:
    """The README's short table: the headline rows, without configurations."""
    head = [r for r in rows if r.headline] or rows
    load = info.get("load_1min_at_start")
    busy = (f" The machine was busy (load average {load:g}): provisional figures."
            if load is not None and load > info["cores"] else "")
    return "\n".join([
        f"Measured on {info['cores']} CPU cores ({info['cpu']}, torch {info['torch']}) on "
        f"{date}{' (quick sizes)' if quick else ''}; all rows, sizes and the machine: "
        f"[docs/benchmarks.md](docs/benchmarks.md). Ratio = how many times better bpnetkit "
        f"is.{busy}",
        "",
        markdown_table(head, configuration=False),
    ])


def write_markdown(rows: list[Row], info: dict, took: dict[str, float], quick: bool,
                   doc: Path = DOC, readme: Path = README) -> None:
    """Rewrite the marker-delimited blocks of ``doc`` and ``readme``."""
    date = time.strftime("%Y-%m-%d", time.gmtime())
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    doc.write_text(_replace_block(text, BEGIN, END, doc_block(rows, info, took, quick, date)))
    if readme.exists():
        text = readme.read_text()
        readme.write_text(_replace_block(text, RBEGIN, REND,
                                         readme_block(rows, info, quick, date)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--json", metavar="PATH", help="write rows, machine and times as JSON")
    ap.add_argument("--markdown", action="store_true",
                    help="rewrite the tables in docs/benchmarks.md and README.md")
    ap.add_argument("--from-json", metavar="PATH",
                    help="do not run anything: take rows from an earlier --json file")
    ap.add_argument("--only", help="comma-separated benchmark names (e.g. predict,deeplift)")
    ap.add_argument("--recovery", action="store_true", help="also run bench_recovery (long)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads in each benchmark (default: torch's default)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    ap.add_argument("--in-process", action="store_true",
                    help="run the benchmarks in this process (no isolation)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    if a.child:
        rows = run_in_process(a.child, a.quick)
        print("@@rows@@" + json.dumps([r.as_dict() for r in rows]), flush=True)
        return
    if a.from_json:
        data = json.loads(Path(a.from_json).read_text())
        fields = set(Row.__dataclass_fields__)
        rows = [Row(**{k: v for k, v in d.items() if k in fields}) for d in data["rows"]]
        info, took, quick = data["machine"], data["seconds"], data["quick"]
    else:
        info = machine()
        names = selected(a.only, a.recovery)
        print(f"running {', '.join('bench_' + n for n in names)} "
              f"({'quick' if a.quick else 'full'} sizes) on {machine_line(info)}", flush=True)

        def save(rows: list[Row], took: dict[str, float]) -> None:
            if a.json:  # after every benchmark, so that a long run leaves what it measured
                Path(a.json).write_text(json.dumps(
                    {"machine": info, "quick": a.quick, "seconds": took,
                     "rows": [r.as_dict() for r in rows]}, indent=1))

        rows, took = collect(names, a.quick, isolate=not a.in_process, threads=a.threads,
                             timeout=a.timeout,
                             log=lambda s: print(s, file=sys.stderr, flush=True),
                             progress=save)
        quick = a.quick
    print(report(rows, info, took, quick))
    if a.markdown:
        write_markdown(rows, info, took, quick)
        print(f"wrote {DOC.relative_to(ROOT)} and {README.relative_to(ROOT)}")
    if os.environ.get("BPNETKIT_BENCH_STRICT") and any(r.measure.endswith("FAILED")
                                                       for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
