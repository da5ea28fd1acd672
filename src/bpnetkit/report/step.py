"""The report step: one self-contained HTML page per pipeline run.

The page is made of registered sections (:mod:`bpnetkit.report.sections`): the built-in ones
of the pipeline steps (:mod:`bpnetkit.report.step_sections`) and any other code registered
(e.g. the demo's planted-motif table). Each section gets the typed ``Outputs`` of the steps
that finished, rebuilt from their stamps in the run folder. The page opens with the motifs
found with confidence (:mod:`bpnetkit.report.motifs_found`), before the run's settings and
the step table.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpnetkit.report.step_sections  # noqa: F401  (registers the built-in sections)
from bpnetkit.report.html import esc, page
from bpnetkit.report.outputs import read_run
from bpnetkit.report.sections import ReportContext, registered_sections
from bpnetkit.steps.base import StepOutputs

logger = logging.getLogger(__name__)


@dataclass
class ReportParams:
    """Parameters of the report step.

    Attributes
    ----------
    run_dir : str
        The pipeline run folder (one sub-folder per step, each with its stamp).
    output_dir : str
        Where ``<name>.report.html`` goes.
    name : str
        Experiment name.
    pipeline : str or None
        The resolved pipeline JSON of the run (default: ``run_dir/pipeline.json`` when it
        exists).
    motif_db : str or None
        Motif database (None: built-in).
    truth : str or None
        Ground truth of a simulated run (``truth.json`` of :func:`bpnetkit.demo.simulate`),
        for sections that compare with it (the demo registers one).
    outputs : dict
        Outputs handed over by the pipeline (step -> ``Outputs.to_dict()``); they name the
        files the page shows (so a changed upstream output re-runs the report) and take the
        place of the stamps' outputs of those steps.
    n_profiles, n_attribution_examples, max_patterns : int
        How many windows, attribution examples and MoDISco patterns to show.
    """

    run_dir: str
    output_dir: str
    name: str = "bpnetkit"
    pipeline: str | None = None
    motif_db: str | None = None
    truth: str | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_profiles: int = 4
    n_attribution_examples: int = 3
    max_patterns: int = 10


@dataclass
class ReportOutputs(StepOutputs):
    """What the report step wrote: the page and its parameters."""

    html: str
    params: str


Params = ReportParams
Outputs = ReportOutputs


def _load_config(params: ReportParams):
    from bpnetkit.pipeline.config import load_pipeline_params

    path = Path(params.pipeline) if params.pipeline else Path(params.run_dir) / "pipeline.json"
    if params.pipeline is None and not path.exists():
        return None  # a report of steps run by hand, outside a pipeline
    return load_pipeline_params(path)


def build_report(params: ReportParams) -> str:
    """The HTML text of the report."""
    from bpnetkit import __version__

    run_dir = Path(params.run_dir)
    records = read_run(run_dir, params.outputs)
    cfg = _load_config(params)
    ctx = ReportContext(params=params, run_dir=run_dir, config=cfg, steps=records)
    outputs = {name: rec.outputs for name, rec in records.items() if rec.outputs is not None}
    body: list[str] = []
    for sec in registered_sections():
        content = sec.func(outputs, ctx)
        if content is None:
            continue
        body.append(f"<h2 id='{esc(sec.name)}'>{esc(sec.title)}</h2>\n{content}")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"run folder <code>{esc(run_dir)}</code>, {now}, bpnetkit {esc(__version__)}"
    return page(f"{params.name}: bpnetkit report", subtitle, body)


def run(params: ReportParams) -> ReportOutputs:
    """Write ``<name>.report.html`` and the report's parameters into ``output_dir``."""
    from bpnetkit.config import dump_config
    from bpnetkit.steps._staging import staged_outputs
    from bpnetkit.utils import write_text_atomic

    html = build_report(params)
    with staged_outputs(params.output_dir, "report") as stage:
        html_path = write_text_atomic(stage.path / f"{params.name}.report.html", html)
        pjson = dump_config(params, stage.path / "report.params.json")
        outputs = stage.finalize(ReportOutputs(html=str(html_path), params=str(pjson)))
    logger.info("report: %s", outputs.html)
    return outputs


run_report = run

__all__ = ["ReportParams", "ReportOutputs", "Params", "Outputs", "run", "run_report",
           "build_report"]
