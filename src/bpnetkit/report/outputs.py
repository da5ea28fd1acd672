"""The earlier steps of a run as the report sees them: status and typed ``Outputs``.

Every finished step leaves a stamp in its folder (read with
:func:`bpnetkit.pipeline.runner.read_stamp`) holding its ``Outputs.to_dict()``. The report
rebuilds the typed ``Outputs`` with the step module's ``Outputs.from_dict``, so sections read
exactly the fields of the step contracts and never guess file names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpnetkit.steps.base import StepOutputs

logger = logging.getLogger(__name__)

REPORT_MODULE = "bpnetkit.report.step"


def step_modules() -> dict[str, str]:
    """Pipeline step -> step module, in pipeline order (without the report itself), from the
    one list of steps (:data:`bpnetkit.pipeline.registry.PIPELINE_STEPS`)."""
    from bpnetkit.pipeline.registry import PIPELINE_STEPS

    return {s.name: s.module for s in PIPELINE_STEPS if s.module != REPORT_MODULE}


@dataclass
class StepRecord:
    """One earlier step of the run.

    Attributes
    ----------
    name : str
        Step (and folder) name.
    status : str
        ``"done"``, ``"not needed"``, ``"failed"`` (an ``error.txt`` and no stamp) or
        ``"not run"``.
    outputs : StepOutputs or None
        The typed outputs of a finished step.
    seconds : float or None
        Run time.
    note : str
        Why a step was not needed, or where its error is.
    """

    name: str
    status: str
    outputs: StepOutputs | None = None
    seconds: float | None = None
    note: str = ""


def typed_outputs(step: str, data: dict[str, Any]) -> StepOutputs:
    """Rebuild a step's typed ``Outputs`` from its ``to_dict()`` form."""
    from bpnetkit.pipeline.registry import outputs_from_dict

    return outputs_from_dict(step, data)


def read_run(run_dir: str | Path, given: dict[str, dict[str, Any]] | None = None
             ) -> dict[str, StepRecord]:
    """The earlier steps of the run in ``run_dir``, in pipeline order.

    Parameters
    ----------
    run_dir : str or Path
        The run folder (one sub-folder per step).
    given : dict or None
        Outputs handed over by the pipeline (step -> ``Outputs.to_dict()``); they take the
        place of the stamp's outputs of those steps.
    """
    from bpnetkit.pipeline.runner import read_stamp

    run_dir = Path(run_dir)
    given = given or {}
    records: dict[str, StepRecord] = {}
    for step in step_modules():
        stamp = read_stamp(run_dir / step)
        if stamp is None:
            if step in given:
                records[step] = StepRecord(step, "done", typed_outputs(step, given[step]))
            elif (run_dir / step / "error.txt").exists():
                records[step] = StepRecord(step, "failed",
                                           note=str(run_dir / step / "error.txt"))
            else:
                records[step] = StepRecord(step, "not run")
            continue
        status = stamp.get("status", "done")
        if status == "not needed":
            records[step] = StepRecord(step, status, note=str(stamp.get("reason", "")))
            continue
        data = given.get(step, stamp.get("outputs", {}))
        records[step] = StepRecord(step, status, typed_outputs(step, data),
                                   seconds=stamp.get("seconds"))
    return records
