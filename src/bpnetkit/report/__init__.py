"""The HTML report of a pipeline run (one self-contained page) and its figures."""

from __future__ import annotations

__all__ = ["ReportParams", "run_report", "build_report"]


def __getattr__(name: str):
    if name in __all__:
        from bpnetkit.report import html

        return getattr(html, name)
    raise AttributeError(f"module 'bpnetkit.report' has no attribute {name!r}")
