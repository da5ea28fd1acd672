"""Run a graph of pipeline steps with caching and resume.

Every step runs in its own folder ``run_dir/<step>/`` and, only after it succeeded, writes
its resolved parameters there (``params.json``) and a stamp file (``.stamp.json``) holding a hash
of its resolved parameters plus the size and modification time of every input file those
parameters name, and the step's typed outputs (``Outputs.to_dict()``). On the next run a step
whose hash still matches and whose outputs all still exist (``Outputs.missing()`` is empty)
is skipped and its outputs come back through ``Outputs.from_dict``, so a re-run does no work
and an interrupted run resumes at the step that was interrupted.

Under ``torchrun`` (a :mod:`bpnetkit.dist` job of several processes) every rank runs the same
runner. Rank 0 decides for each step whether it is cached, not needed or must run, and shares
the decision (with its resolved parameters) with the other ranks. A *distributed* step
(:data:`DISTRIBUTED_STEP_MODULES`: fit, predict, attribute; or ``Step.distributed=True``) then
runs on every rank; any other step runs on rank 0 while the others wait at a barrier
(``BPNETKIT_PIPELINE_STEP_TIMEOUT_S``, default 7 days: a dead rank 0 fails the wait at once, a
hung one after that time). Only rank 0 writes ``params.json`` and the stamps, and every rank
ends each step with rank 0's ``Outputs`` (the ones recorded in the stamp), so all ranks build
the next steps' parameters from the same outputs. A step that fails on any rank fails on all;
a :class:`~bpnetkit.dist.DistributedError` (a rank died or hangs) ends the run on every rank.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpnetkit import dist
from bpnetkit.errors import BpnetkitError, ConfigError, InputError
from bpnetkit.pipeline.registry import StepUnavailable
from bpnetkit.steps.base import StepOutputs

logger = logging.getLogger(__name__)

STAMP = ".stamp.json"
PARAMS = "params.json"

DISTRIBUTED_STEP_MODULES = frozenset({"bpnetkit.steps.fit", "bpnetkit.steps.predict",
                                      "bpnetkit.steps.attribute"})
"""Step modules whose ``run`` takes part in a ``torchrun`` job on every rank (they join the
process group themselves, share the work and let rank 0 write); every other step runs on rank
0 alone under ``torchrun``."""

STEP_TIMEOUT_ENV = "BPNETKIT_PIPELINE_STEP_TIMEOUT_S"
DEFAULT_STEP_TIMEOUT_S = 7 * 24 * 3600.0


def step_wait_timeout() -> float:
    """Seconds the other ranks wait for a step that runs on rank 0 alone."""
    raw = os.environ.get(STEP_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_STEP_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise InputError(f"environment variable {STEP_TIMEOUT_ENV}={raw!r} must be a positive "
                         f"number of seconds.")
    return value


class StepFailedElsewhere(BpnetkitError):
    """A step failed on another rank of a ``torchrun`` job (its message says which)."""


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
        Outputs of the steps that already ran or were cached: step -> its ``Outputs``.
    """

    config: Any
    step_dir: Path
    run_dir: Path
    outputs: dict[str, StepOutputs]

    def output(self, step: str, name: str, default: Any = None) -> Any:
        """Field ``name`` of ``step``'s outputs (``default`` when the step has none)."""
        out = self.outputs.get(step)
        return default if out is None else getattr(out, name)


@dataclass
class Step:
    """One node of the pipeline.

    Parameters
    ----------
    name : str
        Step name (also the folder name).
    build : callable
        ``build(ctx) -> params``: the step's parameters, a dataclass (or a dict, validated
        into ``params_class`` when that is given). May raise :class:`StepNotApplicable`.
    function : callable or str
        ``function(params) -> Outputs`` (a :class:`~bpnetkit.steps.base.StepOutputs`) or
        ``"module:function"`` imported lazily.
    requires : tuple of str
        Steps whose outputs this one reads; when one of them failed, this one is blocked.
    params_class : type, str or None
        When ``build`` returns a dict: the dataclass (or ``"module:Class"``) it is validated
        into; a key the class does not have is an error naming the nearest valid key.
    outputs_class : type, str or None
        The ``Outputs`` class (or ``"module:Class"``) that cached outputs are rebuilt with;
        None: the class recorded in the stamp.
    description : str
        One line for ``--dry-run``.
    distributed : bool or None
        Under ``torchrun``: True runs the step on every rank, False on rank 0 only; None
        decides by the function's module (:data:`DISTRIBUTED_STEP_MODULES`).
    """

    name: str
    build: Callable[[StepContext], Any]
    function: Callable[[Any], StepOutputs] | str
    requires: tuple[str, ...] = ()
    params_class: type | str | None = None
    outputs_class: type | str | None = None
    description: str = ""
    distributed: bool | None = None

    @property
    def runs_on_all_ranks(self) -> bool:
        """Whether the step runs on every rank of a ``torchrun`` job."""
        if self.distributed is not None:
            return self.distributed
        f = self.function
        module = f.partition(":")[0] if isinstance(f, str) else getattr(f, "__module__", "")
        return module in DISTRIBUTED_STEP_MODULES


@dataclass
class StepResult:
    """What happened to one step: status is ran, cached, not needed, unavailable, failed,
    blocked, planned or not selected."""

    name: str
    status: str
    outputs: StepOutputs | None = None
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

    def outputs(self) -> dict[str, StepOutputs]:
        """step -> its ``Outputs`` for every step that has them."""
        return {r.name: r.outputs for r in self.results if r.outputs is not None}

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


def build_params(cls: type | str | None, values: Any, where: str) -> Any:
    """Validate ``values`` (a dict) into the dataclass ``cls``.

    A key ``cls`` does not have is a :class:`~bpnetkit.errors.ConfigError` naming it and the
    nearest valid key (see :func:`bpnetkit.config.from_dict`); nothing is dropped. A
    dataclass instance, or a dict when ``cls`` is None, is returned as it is.
    """
    if cls is None or not isinstance(values, dict):
        return values
    if isinstance(cls, str):
        cls = resolve_callable(cls)
    from bpnetkit.config import from_dict

    return from_dict(cls, values, where=where)


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


#: parameters naming caches: they change neither a step's results nor whether it must run
#: again (their folders' content is not an input)
CACHE_KEYS = frozenset({"example_cache"})


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


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def load_outputs(stamp: dict | None, cls: type | str | None = None) -> StepOutputs | None:
    """The outputs recorded in a stamp, or None when they cannot serve as a cache.

    ``cls`` (or else the class recorded in the stamp) rebuilds them with ``from_dict``; a
    stamp of another class, of fields the class no longer has, or naming a file that is gone
    (``Outputs.missing()``) is no cache.
    """
    if stamp is None or stamp.get("status") != "done" or "outputs" not in stamp:
        return None
    recorded = stamp.get("outputs_class")
    if cls is None:
        if not recorded:
            return None
        try:
            cls = resolve_callable(recorded)
        except StepUnavailable:
            return None
    elif isinstance(cls, str):
        cls = resolve_callable(cls)
    if recorded and recorded != _class_path(cls):
        return None
    try:
        out = cls.from_dict(stamp["outputs"])
    except (TypeError, ValueError) as e:  # written by another version of the step
        logger.debug("stamp outputs do not fit %s: %s", _class_path(cls), e)
        return None
    return None if out.missing() else out


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
        Where progress lines go (default: the ``bpnetkit.pipeline.runner`` logger, INFO).
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
        self.log = log or logger.info
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
        outputs: dict[str, StepOutputs] = {}
        bad: set[str] = set()  # steps that failed / are unavailable / blocked
        planned: set[str] = set()  # dry run: steps that would run
        results: list[StepResult] = []
        if not dry_run:
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
                earlier = self._cached_outputs(step, stamp)
                if stamp is not None and stamp.get("status") == "not needed":
                    results.append(StepResult(step.name, "not needed"))
                elif earlier is not None:
                    outputs[step.name] = earlier
                    results.append(StepResult(step.name, "not selected", outputs=earlier,
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
            except dist.DistributedError:  # a rank died or hangs: no later step can run
                raise
            except Exception as e:  # recorded, the run continues with independent steps
                if stop_on_error:
                    raise
                kind = "unavailable" if isinstance(e, StepUnavailable) else "failed"
                msg = f"{type(e).__name__}: {e}"
                res = StepResult(step.name, kind, message=msg.splitlines()[0][:300])
                self.log(f"[{step.name}] {kind}: {msg}")
                if kind == "failed" and not isinstance(e, BpnetkitError) and dist.is_main():
                    self.log(traceback.format_exc())
                    step_dir.mkdir(parents=True, exist_ok=True)
                    (step_dir / "error.txt").write_text(traceback.format_exc())
            if res.status == "planned":
                planned.add(step.name)
            if res.status in ("failed", "unavailable"):
                bad.add(step.name)
            elif res.outputs is not None:
                outputs[step.name] = res.outputs
            results.append(res)
        return RunSummary(results)

    @staticmethod
    def _cached_outputs(step: Step, stamp: dict | None) -> StepOutputs | None:
        try:
            return load_outputs(stamp, step.outputs_class)
        except StepUnavailable:
            return None

    def _one(self, step: Step, ctx: StepContext, forced: bool, dry_run: bool) -> StepResult:
        job = dist.context()
        if dry_run or not job.distributed:
            return self._one_local(step, ctx, forced, dry_run)
        if step.runs_on_all_ranks:
            return self._one_all_ranks(step, ctx, forced)
        return self._one_on_main(step, ctx, forced)

    # -- under torchrun -----------------------------------------------------------------------
    @staticmethod
    def _shared(what: str, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        return dist.broadcast_object(value, name=what)

    @staticmethod
    def _error_of(e: Exception) -> tuple[str, str]:
        return ("unavailable" if isinstance(e, StepUnavailable) else "failed",
                f"{type(e).__name__}: {e}")

    @staticmethod
    def _raise_shared(step: Step, error: tuple[str, str], where: str) -> None:
        kind, msg = error
        text = f"{msg} (on {where})"
        raise StepUnavailable(text) if kind == "unavailable" else StepFailedElsewhere(text)

    def _one_on_main(self, step: Step, ctx: StepContext, forced: bool) -> StepResult:
        """A single-process step under torchrun: rank 0 runs it, the other ranks wait."""
        res: StepResult | None = None
        error: Exception | None = None
        if dist.is_main():
            try:
                res = self._one_local(step, ctx, forced, dry_run=False)
            except dist.DistributedError:
                raise
            except Exception as e:  # noqa: BLE001  shared with the other ranks, then re-raised
                error = e
        dist.barrier(f"pipeline step '{step.name}' (running on rank 0 alone)",
                     timeout_s=step_wait_timeout())
        shared = self._shared(f"result of step '{step.name}'",
                              (res, None if error is None else self._error_of(error)))
        if error is not None:
            raise error
        res, err = shared
        if err is not None:
            self._raise_shared(step, err, "rank 0")
        return res

    def _one_all_ranks(self, step: Step, ctx: StepContext, forced: bool) -> StepResult:
        """A distributed step: rank 0 decides (cached / not needed / run, with the resolved
        parameters); when it runs, every rank runs it and rank 0 writes the stamp."""
        main = dist.is_main()
        decision: Any = None
        error: Exception | None = None
        if main:
            try:
                decision = self._decide(step, ctx, forced, dry_run=False)
            except Exception as e:  # noqa: BLE001  shared with the other ranks, then re-raised
                error = e
        decision, err = self._shared(f"plan of step '{step.name}'",
                                     (decision, None if error is None else
                                      self._error_of(error)))
        if error is not None:
            raise error
        if err is not None:
            self._raise_shared(step, err, "rank 0")
        if isinstance(decision, StepResult):
            return decision
        params, digest = decision
        func = resolve_callable(step.function)
        if main:
            self._start(step, ctx.step_dir)
        out: StepOutputs | None = None
        t0 = time.perf_counter()
        try:
            out = func(params)
            error = None
        except dist.DistributedError:
            raise
        except Exception as e:  # noqa: BLE001  gathered from every rank, then re-raised
            error = e
        seconds = time.perf_counter() - t0
        errors = dist.all_gather_object(None if error is None else self._error_of(error),
                                        f"status of step '{step.name}'")
        if error is not None:
            raise error
        bad = [(r, e) for r, e in enumerate(errors) if e is not None]
        if bad:
            self._raise_shared(step, bad[0][1], f"rank {bad[0][0]}")
        res = None
        if main:
            try:
                res = self._finish(step, ctx.step_dir, out, digest, seconds,
                                   params_to_dict(params))
            except Exception as e:  # noqa: BLE001  shared with the other ranks, then re-raised
                error = e
        res, err = self._shared(f"outputs of step '{step.name}'",
                                (res, None if error is None else self._error_of(error)))
        if error is not None:
            raise error
        if err is not None:
            self._raise_shared(step, err, "rank 0")
        return res

    # -- one process --------------------------------------------------------------------------
    def _one_local(self, step: Step, ctx: StepContext, forced: bool, dry_run: bool
                   ) -> StepResult:
        decision = self._decide(step, ctx, forced, dry_run)
        if isinstance(decision, StepResult):
            return decision
        params, digest = decision
        func = resolve_callable(step.function)
        self._start(step, ctx.step_dir)
        t0 = time.perf_counter()
        out = func(params)
        return self._finish(step, ctx.step_dir, out, digest, time.perf_counter() - t0,
                            params_to_dict(params))

    def _decide(self, step: Step, ctx: StepContext, forced: bool, dry_run: bool
                ) -> StepResult | tuple[Any, str]:
        """A StepResult (not needed, cached, planned) or ``(params, digest)`` to run."""
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
            resolve_callable(step.function)
        params = build_params(step.params_class, raw, where=f"pipeline step '{step.name}'")
        pdict = params_to_dict(params)
        digest = step_hash({k: v for k, v in pdict.items() if k not in CACHE_KEYS}, step_dir,
                           self.version)
        stamp = read_stamp(step_dir)
        cached = None
        if not forced and stamp is not None and stamp.get("hash") == digest:
            cached = self._cached_outputs(step, stamp)
        if cached is not None:
            self.log(f"[{step.name}] up to date, skipped")
            return StepResult(step.name, "cached", outputs=cached, message="up to date")
        if dry_run:
            why = "forced" if forced else ("never ran" if stamp is None else "inputs changed")
            self.log(f"[{step.name}] would run ({why}): {step.description}")
            return StepResult(step.name, "planned", message=why)
        resolve_callable(step.function)  # unavailable before anything is written
        return params, digest

    def _start(self, step: Step, step_dir: Path) -> None:
        step_dir.mkdir(parents=True, exist_ok=True)
        for name in (STAMP, PARAMS):  # a half-finished re-run must not look finished
            if (step_dir / name).exists():
                (step_dir / name).unlink()
        self.log(f"[{step.name}] running ...")

    def _finish(self, step: Step, step_dir: Path, out: Any, digest: str, seconds: float,
                pdict: dict) -> StepResult:
        if not isinstance(out, StepOutputs):
            raise TypeError(f"step '{step.name}' returned {type(out).__name__}; a step returns "
                            f"its Outputs dataclass (a bpnetkit.steps.base.StepOutputs).")
        missing = out.missing()
        if missing:
            raise RuntimeError(f"step '{step.name}' reports outputs that do not exist: "
                            f"{[str(p) for p in missing[:5]]}")
        _write_json(step_dir / PARAMS, pdict)  # written with the outputs, never before
        _write_json(step_dir / STAMP, {"status": "done", "hash": digest,
                                       "outputs_class": _class_path(type(out)),
                                       "outputs": out.to_dict(),
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
           "StepNotApplicable", "StepFailedElsewhere", "DISTRIBUTED_STEP_MODULES",
           "step_wait_timeout", "step_hash", "file_stamps", "read_stamp", "build_params",
           "load_outputs", "resolve_callable", "plan_lines", "STAMP", "PARAMS"]
