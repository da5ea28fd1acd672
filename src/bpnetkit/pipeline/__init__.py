"""One command from reads to motifs.

:func:`run_pipeline` validates the whole configuration (files, chromosome names and every
step's parameters, see :func:`bpnetkit.pipeline.checks.validate_pipeline`) before any step,
writes the resolved pipeline JSON into the run folder and runs the steps of
:data:`bpnetkit.pipeline.registry.STEPS` with the cached, resumable
:class:`~bpnetkit.pipeline.runner.Runner`.

Under ``torchrun`` (``torchrun --nproc_per_node=N -m bpnetkit pipeline -p x.json``) every
rank runs this function: the distributed steps (fit, predict, attribute) run on all ranks,
the others on rank 0 while the rest wait (see :mod:`bpnetkit.pipeline.runner`); rank 0 alone
writes the run folder's own files (``pipeline.json``, the split, ``summary.txt``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from bpnetkit.pipeline.config import (
    PipelineParams,
    dump_pipeline_params,
    load_pipeline_params,
    pipeline_params_from_dict,
)
from bpnetkit.pipeline.runner import Runner, RunSummary, Step, StepContext

logger = logging.getLogger(__name__)

__all__ = ["PipelineParams", "load_pipeline_params", "pipeline_params_from_dict",
           "dump_pipeline_params", "run_pipeline", "Runner", "Step", "StepContext",
           "RunSummary"]


def run_pipeline(cfg: PipelineParams, from_step: str | None = None, only: str | None = None,
                 dry_run: bool = False, force: bool = False, check: bool = True,
                 log: Callable[[str], None] | None = None,
                 stop_on_error: bool = False) -> RunSummary:
    """Run the whole pipeline (or part of it) described by ``cfg``.

    Parameters
    ----------
    cfg : PipelineParams
        The configuration.
    from_step, only : str or None
        Re-run from this step on / only this step (see :meth:`Runner.run`).
    dry_run : bool
        Print the plan, run nothing.
    force : bool
        Ignore the cache.
    check : bool
        Validate everything first (files, chromosome names, every step's parameters, the
        split); a problem raises before any step runs.
    log : callable or None
        Progress sink (default: the ``bpnetkit.pipeline.runner`` logger).
    stop_on_error : bool
        Raise the first step error instead of recording it.

    Returns
    -------
    RunSummary
        Status and outputs of every step.
    """
    from bpnetkit import __version__, dist
    from bpnetkit.pipeline.builders import build_steps, run_split, split_file
    from bpnetkit.pipeline.checks import validate_pipeline

    if check:
        for n in validate_pipeline(cfg):
            logger.warning("pipeline: %s", n)
    steps = build_steps(cfg)
    run_dir = Path(cfg.run_dir)
    job = dist.init_from_env()
    if not dry_run and job.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_if_changed(cfg, run_dir / "pipeline.json")
        split, why = run_split(cfg)
        if split is not None:
            if why:
                logger.warning("pipeline: %s Written to %s.", why, split_file(run_dir))
            _write_text_if_changed(split_file(run_dir), json.dumps(split, indent=2) + "\n")
        elif split_file(run_dir).exists():  # left by an earlier configuration of this run
            split_file(run_dir).unlink()
    if not dry_run:
        dist.barrier("pipeline: rank 0 writes the run folder")
    runner = Runner(steps, run_dir, config=cfg, log=log, version=__version__)
    summary = runner.run(from_step=from_step, only=only, dry_run=dry_run, force=force,
                         stop_on_error=stop_on_error)
    if not dry_run and job.is_main:
        from bpnetkit.utils import write_text_atomic

        write_text_atomic(run_dir / "summary.txt", summary.table() + "\n")
    return summary


def _write_text_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file holds it already (its mtime feeds the steps' hashes)."""
    from bpnetkit.utils import write_text_atomic

    if not path.exists() or path.read_text() != text:
        write_text_atomic(path, text)


def _write_if_changed(cfg: PipelineParams, path: Path) -> None:
    """Write the resolved pipeline JSON unless identical (its stamp feeds the report's hash)."""
    from bpnetkit.config import to_dict

    _write_text_if_changed(path, json.dumps(to_dict(cfg), indent=2, default=str) + "\n")
