"""The HTML report of a pipeline run (one self-contained page) and its figures.

Only this package touches matplotlib, and only through :class:`matplotlib.figure.Figure`
objects. The report step is :mod:`bpnetkit.report.step`; sections are registered with
:func:`bpnetkit.report.sections.register_section`.
"""

from __future__ import annotations

__all__ = ["ReportParams", "ReportOutputs", "run_report", "build_report", "register_section"]


def __getattr__(name: str):
    if name == "register_section":
        from bpnetkit.report.sections import register_section

        return register_section
    if name in __all__:
        from bpnetkit.report import step

        return getattr(step, name)
    raise AttributeError(f"module 'bpnetkit.report' has no attribute {name!r}")
