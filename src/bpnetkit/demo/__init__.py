"""Semi-synthetic demo data with planted motifs, and the one-command demo run.

:func:`~bpnetkit.demo.simulate.simulate` writes a genome, reads and ground truth;
:func:`~bpnetkit.demo.run.run_demo` runs the whole pipeline on them and
:func:`~bpnetkit.demo.summary.planted_summary` checks what was found (importing
:mod:`bpnetkit.demo.summary` adds that check to the HTML report).
"""

from __future__ import annotations

from bpnetkit.demo.simulate import DemoData, DemoSpec, TFSpec, simulate

__all__ = ["DemoData", "DemoSpec", "TFSpec", "simulate", "run_demo", "planted_summary"]


def __getattr__(name: str):
    if name == "run_demo":
        from bpnetkit.demo.run import run_demo

        return run_demo
    if name == "planted_summary":
        from bpnetkit.demo.summary import planted_summary

        return planted_summary
    raise AttributeError(f"module 'bpnetkit.demo' has no attribute {name!r}")
