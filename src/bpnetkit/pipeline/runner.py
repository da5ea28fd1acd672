"""Run a graph of pipeline steps with caching and resume.

Every step runs in its own folder ``run_dir/<step>/``, writes its resolved parameters there
(``params.json``) and, only after it succeeded, a stamp file (``.stamp.json``) holding a hash
of its resolved parameters plus the size and modification time of every input file those
parameters name, and the step's outputs. On the next run a step whose hash still matches and
whose outputs still exist is skipped, so a re-run does no work and an interrupted run resumes
at the step that was interrupted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bpnetkit.errors import BpnetkitError, ConfigError

STAMP = ".stamp.json"
PARAMS = "params.json"


class StepUnavailable(BpnetkitError):
    """A step's function cannot be imported (not installed or not implemented yet)."""


class StepNotApplicable(Exception):
    """Raised by a step's parameter builder when the step has nothing to do in this run.

    The runner records the step as ``"not needed"`` (e.g. peak calling when peaks are given).
    """


@dataclass
class StepContext:
    """What a step's parameter builder sees.

    Attributes
    ----------
    config : Any
        The pipeline configuration.
    step_dir : Path
        The folder this step writes into (``run_dir/<step>``).
    run_dir : Path
        The run folder.
    outputs : dict
        Outputs of the steps that already ran or were cached: step -> {name: path}.
    """

    config: Any
    step_dir: Path
    run_dir: Path
    outputs: dict[str, dict[str, str]]

    def output(self, step: str, name: str, default: Any = None) -> Any:
        """Output ``name`` of ``step`` (``default`` when the step did not produce it)."""
        return self.outputs.get(step, {}).get(name, default)


@dataclass
class Step:
    """One node of the pipeline.

    Parameters
    ----------
    name : str
        Step name (also the folder name).
    build : callable
        ``build(ctx) -> params``: the resolved parameters, a dataclass or a dict. May raise
        :class:`StepNotApplicable`.
    function : callable or str
        ``function(params) -> dict[str, str]`` or ``"module:function"`` imported lazily.
    requires : tuple of str
        Steps whose outputs this one reads; when one of them failed, this one is blocked.
    params_class : type, str or None
        When ``build`` returns a dict and this is given (``"module:Class"`` or a class), the
        dict is filtered to the class's fields and validated into it.
    description : str
        One line for ``--dry-run``.
    """

    name: str
    build: Callable[[StepContext], Any]
    function: Callable[[Any], dict[str, str]] | str
    requires: tuple[str, ...] = ()
    params_class: type | str | None = None
    description: str = ""


@dataclass
class StepResult:
    """What happened to one step: status is ran, cached, not needed, unavailable, failed,
    blocked, planned or not selected."""

    name: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""


@dataclass
class RunSummary:
    """Results of a pipeline run, in step order."""

    results: list[StepResult]

    def __getitem__(self, name: str) -> StepResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def ok(self) -> bool:
        """True when no step failed, was unavailable or blocked."""
        return all(r.status not in ("failed", "unavailable", "blocked") for r in self.results)

    def outputs(self) -> dict[str, dict[str, str]]:
        """step -> outputs for every step that has them."""
        return {r.name: r.outputs for r in self.results if r.outputs}

    def table(self) -> str:
        """A plain-text table of the step statuses."""
        width = max([len(r.name) for r in self.results] + [4])
        lines = [f"{'step':<{width}}  {'status':<12} {'time':>8}  note"]
        for r in self.results:
            t = f"{r.seconds:.1f}s" if r.status == "ran" else ""
            lines.append(f"{r.name:<{width}}  {r.status:<12} {t:>8}  {r.message}")
        return "\n".join(lines)


# -- helpers -------------------------------------------------------------------------------
def resolve_callable(spec: Callable | str) -> Callable:
    """Import ``"module:attr"`` (or return a callable as is), raising StepUnavailable."""
    if callable(spec):
        return spec
    module, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise StepUnavailable(f"module '{module}' cannot be imported ({e}).") from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise StepUnavailable(f"'{module}' has no '{attr}' (not implemented yet?).") from None


def params_to_dict(params: Any) -> dict:
    """A JSON-ready dict of a dataclass or dict of parameters."""
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        return dataclasses.asdict(params)
    if isinstance(params, dict):
        return dict(params)
    raise TypeError(f"step parameters must be a dataclass or a dict, got {type(params)}")


def build_params(cls: type | str | None, values: Any, where: str) -> tuple[Any, list[str]]:
    """Validate ``values`` (a dict) into ``cls`` keeping only its fields.

    Returns the params object and the names of the keys that ``cls`` does not have (they are
    dropped so that the pipeline keeps working when a step's parameters are renamed).
    """
    if cls is None or not isinstance(values, dict):
        return values, []
    if isinstance(cls, str):
        cls = resolve_callable(cls)
    from bpnetkit.config import from_dict

    names = {f.name for f in dataclasses.fields(cls)}
    kept = {k: v for k, v in values.items() if k in names}
    dropped = sorted(k for k in values if k not in names)
    return from_dict(cls, kept, where=where), dropped


def _walk_strings(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _walk_strings(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _walk_strings(v)


def file_stamps(params: dict, exclude: Path | None = None) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every existing file a parameter names (folders recursed).

    Files under ``exclude`` (the step's own folder) are ignored.
    """
    exclude = exclude.resolve() if exclude is not None else None
    stamps: dict[str, tuple[str, int, int]] = {}
    for s in _walk_strings(params):
        if not s or len(s) > 4096 or "\n" in s:
            continue
        p = Path(s)
        try:
            if not p.exists():
                continue
            rp = p.resolve()
        except OSError:
            continue
        if exclude is not None and (rp == exclude or exclude in rp.parents):
            continue
        if exclude is not None and rp.is_dir() and rp in exclude.parents:
            continue  # a folder holding this step (the run folder) is a container, not input
        files = [rp] if rp.is_file() else sorted(q for q in rp.rglob("*") if q.is_file())
        if rp.is_dir() and len(files) > 10000:
            files = files[:10000]
        for f in files:
            if f.name == STAMP or f.name.startswith(".") and f.name.endswith(".tmp"):
                continue
            if exclude is not None and exclude in f.parents:
                continue  # the step's own outputs (a folder input may contain them)
            st = f.stat()
            stamps[str(f)] = (str(f), st.st_size, st.st_mtime_ns)
    return sorted(stamps.values())


def step_hash(params: dict, step_dir: Path, version: str = "") -> str:
    """Hash of resolved parameters plus the stamps of the input files they name."""
    h = hashlib.sha256()
    h.update(version.encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    for path, size, mtime in file_stamps(params, exclude=step_dir):
        h.update(f"{path}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()


def read_stamp(step_dir: Path) -> dict | None:
    """The stamp of a finished step, or None."""
    p = step_dir / STAMP
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, OSError):
        return None


def _outputs_exist(outputs: dict[str, str]) -> bool:
    return all(Path(v).exists() for v in outputs.values() if isinstance(v, str) and v)


# -- the runner ----------------------------------------------------------------------------
class Runner:
    """Run steps in order with caching.

    Parameters
    ----------
    steps : list of Step
        Steps in execution order (each one's ``requires`` come earlier).
    run_dir : str or Path
        Folder of the run; each step writes into ``run_dir/<step>``.
    config : Any
        The pipeline configuration handed to every builder.
    log : callable
        Where progress lines go (default: print to stderr).
    version : str
        Mixed into every hash (a new bpnetkit version re-runs everything).
    """

    def __init__(self, steps: list[Step], run_dir: str | Path, config: Any = None,
                 log: Callable[[str], None] | None = None, version: str = "") -> None:
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate step names in {names}")
        seen: set[str] = set()
        for s in steps:
            missing = [r for r in s.requires if r not in seen]
            if missing:
                raise ValueError(f"step '{s.name}' requires {missing}, which do not come "
                                 f"before it")
            seen.add(s.name)
        self.steps = steps
        self.run_dir = Path(run_dir)
        self.config = config
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.version = version

    @property
    def step_names(self) -> list[str]:
        """Names of the steps in order."""
        return [s.name for s in self.steps]

    def _check_name(self, name: str | None, flag: str) -> None:
        if name is not None and name not in self.step_names:
            import difflib

            near = difflib.get_close_matches(name, self.step_names, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"{flag} {name}: no such step.{hint} Steps: "
                              f"{', '.join(self.step_names)}.")

    def run(self, from_step: str | None = None, only: str | None = None,
            dry_run: bool = False, force: bool = False, stop_on_error: bool = False
            ) -> RunSummary:
        """Run (or plan) the pipeline.

        Parameters
        ----------
        from_step : str or None
            Re-run this step and every later one, even when cached; earlier steps must have
            finished before (their outputs are reused).
        only : str or None
            Run just this step (re-run even when cached); earlier outputs are reused.
        dry_run : bool
            Print and return the plan (which steps would run or be skipped); run nothing.
        force : bool
            Re-run every selected step.
        stop_on_error : bool
            Raise the first error of a step instead of recording it and continuing with the
            steps that do not depend on it.
        """
        self._check_name(from_step, "--from")
        self._check_name(only, "--only")
        if from_step is not None and only is not None:
            raise ConfigError("give either --from or --only, not both.")
        order = self.step_names
        start = order.index(from_step) if from_step else 0
        outputs: dict[str, dict[str, str]] = {}
        bad: set[str] = set()  # steps that failed / are unavailable / blocked
        planned: set[str] = set()  # dry run: steps that would run
        results: list[StepResult] = []
        self.run_dir.mkdir(parents=True, exist_ok=True)

        for i, step in enumerate(self.steps):
            step_dir = self.run_dir / step.name
            selected = (step.name == only) if only else i >= start
            forced = force or (only == step.name) or (from_step is not None and i >= start)
            ctx = StepContext(self.config, step_dir, self.run_dir, outputs)
            if dry_run and selected and any(r in planned for r in step.requires):
                planned.add(step.name)
                results.append(StepResult(step.name, "planned", message="after "
                                          + ", ".join(r for r in step.requires if r in planned)))
                self.log(f"[{step.name}] would run (after upstream steps)")
                continue

            if not selected:
                stamp = read_stamp(step_dir)
                if stamp is not None and stamp.get("status") == "not needed":
                    results.append(StepResult(step.name, "not needed"))
                elif stamp is not None and _outputs_exist(stamp.get("outputs", {})):
                    outputs[step.name] = stamp.get("outputs", {})
                    results.append(StepResult(step.name, "not selected",
                                              outputs=outputs[step.name],
                                              message="earlier outputs reused"))
                else:
                    results.append(StepResult(step.name, "not selected",
                                              message="no earlier outputs"))
                    if any(step.name in s.requires for s in self.steps):
                        bad.add(step.name)
                continue

            blocked_by = [r for r in step.requires if r in bad]
            if blocked_by:
                res = StepResult(step.name, "blocked",
                                 message=f"needs {', '.join(blocked_by)}")
                bad.add(step.name)
                results.append(res)
                self.log(f"[{step.name}] blocked: {res.message}")
                continue
            try:
                res = self._one(step, ctx, forced=forced, dry_run=dry_run)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # recorded, the run continues with independent steps
                if stop_on_error:
                    raise
                kind = "unavailable" if isinstance(e, StepUnavailable) else "failed"
                msg = f"{type(e).__name__}: {e}"
                res = StepResult(step.name, kind, message=msg.splitlines()[0][:300])
                self.log(f"[{step.name}] {kind}: {msg}")
                if kind == "failed" and not isinstance(e, BpnetkitError):
                    self.log(traceback.format_exc())
                    step_dir.mkdir(parents=True, exist_ok=True)
                    (step_dir / "error.txt").write_text(traceback.format_exc())
            if res.status == "planned":
                planned.add(step.name)
            if res.status in ("failed", "unavailable"):
                bad.add(step.name)
            elif res.outputs:
                outputs[step.name] = res.outputs
            results.append(res)
        summary = RunSummary(results)
        return summary

    def _one(self, step: Step, ctx: StepContext, forced: bool, dry_run: bool) -> StepResult:
        step_dir = ctx.step_dir
        try:
            raw = step.build(ctx)
        except StepNotApplicable as e:
            if not dry_run:
                step_dir.mkdir(parents=True, exist_ok=True)
                _write_json(step_dir / STAMP, {"status": "not needed", "reason": str(e)})
            self.log(f"[{step.name}] not needed: {e}")
            return StepResult(step.name, "not needed", message=str(e))
        if dry_run and isinstance(step.function, str):
            # report missing implementations in the plan without running anything
            try:
                resolve_callable(step.function)
            except StepUnavailable as e:
                return StepResult(step.name, "unavailable", message=str(e))
        params, _ = build_params(step.params_class, raw, where=f"pipeline step "
                                       f"'{step.name}'")
        pdict = params_to_dict(params)
        digest = step_hash(pdict, step_dir, self.version)
        stamp = read_stamp(step_dir)
        cached = (not forced and stamp is not None and stamp.get("hash") == digest
                  and stamp.get("status") == "done"
                  and _outputs_exist(stamp.get("outputs", {})))
        if cached:
            self.log(f"[{step.name}] up to date, skipped")
            return StepResult(step.name, "cached", outputs=stamp["outputs"],
                              message="up to date")
        if dry_run:
            why = "forced" if forced else ("never ran" if stamp is None else "inputs changed")
            self.log(f"[{step.name}] would run ({why}): {step.description}")
            return StepResult(step.name, "planned", message=why)
        func = resolve_callable(step.function)
        step_dir.mkdir(parents=True, exist_ok=True)
        if (step_dir / STAMP).exists():
            (step_dir / STAMP).unlink()  # a half-finished re-run must not look finished
        _write_json(step_dir / PARAMS, pdict)
        self.log(f"[{step.name}] running ...")
        t0 = time.perf_counter()
        out = func(params)
        seconds = time.perf_counter() - t0
        out = {str(k): str(v) for k, v in (out or {}).items()}
        _write_json(step_dir / STAMP, {"status": "done", "hash": digest, "outputs": out,
                                       "seconds": round(seconds, 3),
                                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self.log(f"[{step.name}] done in {seconds:.1f}s")
        return StepResult(step.name, "ran", outputs=out, seconds=seconds)


def _write_json(path: Path, obj: Any) -> None:
    from bpnetkit.utils import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


def plan_lines(summary: RunSummary) -> str:
    """The dry-run plan as text."""
    return summary.table()


__all__ = ["Runner", "Step", "StepContext", "StepResult", "RunSummary", "StepUnavailable",
           "StepNotApplicable", "step_hash", "file_stamps", "read_stamp", "build_params",
           "resolve_callable", "plan_lines"]
