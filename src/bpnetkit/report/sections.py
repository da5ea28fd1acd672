"""Registered report sections.

A section is ``func(outputs_by_step, context) -> str | None``: it gets the typed ``Outputs``
of the steps that finished (step name -> ``Outputs``) and a :class:`ReportContext`, and
returns an HTML fragment (None: nothing to show in this run, the section is left out). The
built-in sections of the steps live in :mod:`bpnetkit.report.step_sections`; other code (the
demo) adds its own with :func:`register_section`, so the report never imports it.

Examples
--------
>>> from bpnetkit.report.sections import register_section
>>> def hello(outputs, context):
...     return "<p>hello</p>"
>>> register_section("hello", 99, hello, title="Hello")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpnetkit.errors import ConfigError
from bpnetkit.report.outputs import StepRecord
from bpnetkit.steps.base import StepOutputs


@dataclass
class ReportContext:
    """What a section sees besides the outputs.

    Attributes
    ----------
    params : Any
        The report's :class:`~bpnetkit.report.step.ReportParams`.
    run_dir : Path
        The run folder.
    config : Any
        The run's :class:`~bpnetkit.pipeline.config.PipelineParams` (None outside a
        pipeline run).
    steps : dict
        Every earlier step's :class:`~bpnetkit.report.outputs.StepRecord`, also those that
        did not run.
    """

    params: Any
    run_dir: Path
    config: Any
    steps: dict[str, StepRecord]


SectionFunc = Callable[[dict[str, StepOutputs], ReportContext], str | None]


@dataclass(frozen=True)
class Section:
    """A registered section: ``order`` sorts the page (small first)."""

    name: str
    order: float
    func: SectionFunc
    title: str


_SECTIONS: dict[str, Section] = {}


def register_section(name: str, order: float, func: SectionFunc, title: str | None = None,
                     replace: bool = False) -> Section:
    """Add a section to every report built from now on.

    Parameters
    ----------
    name : str
        Unique name.
    order : float
        Position on the page (the built-in step sections use 10-100).
    func : callable
        ``func(outputs_by_step, context) -> str | None``.
    title : str or None
        Heading (default: ``name``).
    replace : bool
        Replace a section registered under the same name (else that is an error, unless it
        is the same function registered again, e.g. by a re-import).
    """
    old = _SECTIONS.get(name)
    if old is not None and not replace and not _same_function(old.func, func):
        raise ConfigError(f"report section {name!r} is registered already (by "
                          f"{old.func.__module__}); pass replace=True to replace it.")
    sec = Section(name, float(order), func, title or name)
    _SECTIONS[name] = sec
    return sec


def _same_function(a: SectionFunc, b: SectionFunc) -> bool:
    """The same function, also when its module was imported again (e.g. reloaded)."""
    return a is b or (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == \
        (getattr(b, "__module__", ""), getattr(b, "__qualname__", ""))


def unregister_section(name: str) -> None:
    """Remove a section (no error when it is not registered)."""
    _SECTIONS.pop(name, None)


def registered_sections() -> list[Section]:
    """The sections in page order."""
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.name))
