"""``bpnetkit negatives``: GC-matched background regions.

Outputs in ``output_dir``: ``<name>.bed`` (the negatives; score = GC fraction),
``<name>.gc_report.json`` (counts, the two-sample KS statistic between the GC distributions of
peak windows and negatives, and GC histograms of both; the report draws them with
:func:`bpnetkit.report.data.gc_match_figure`) and ``<name>.negatives.params.json``.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field

import numpy as np

from bpnetkit.config import dump_config
from bpnetkit.data.negatives import gc_matched_negatives
from bpnetkit.errors import InputError
from bpnetkit.io.bed import read_regions, write_bed
from bpnetkit.io.bigwig import bin_sums
from bpnetkit.io.fasta import Genome
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs, summary_field
from bpnetkit.utils import write_text_atomic

__all__ = ["NegativesParams", "NegativesOutputs", "Params", "Outputs", "run", "run_negatives"]

log = logging.getLogger(__name__)


@dataclass
class NegativesParams:
    """Parameters of ``bpnetkit negatives``.

    Attributes
    ----------
    genome : str
        FASTA path.
    peaks : str
        Peaks (BED/narrowPeak); their windows of ``width`` around summits define the target
        GC distribution and are excluded.
    output_dir : str
        Output folder.
    name : str
        Output name: ``<name>.bed``, ``<name>.gc_report.json``.
    width : int
        Bin width, normally the model's input length.
    stride : int or None
        Step between bins (default ``width``: non-overlapping).
    ratio : float
        Negatives per peak.
    max_n_fraction : float
        Bins with a larger fraction of non-ACGT bases are dropped.
    peak_pad : int
        Extra bp around each peak window that negatives must avoid.
    gc_bins : int
        Number of GC histogram bins used for matching (100 = steps of 0.01).
    blacklist : str or None
        Exclusion list BED.
    signals : list of str
        Optional bigWigs; with ``max_signal`` bins whose total signal exceeds it are dropped.
    max_signal : float or None
        Signal threshold (sum over the bin and all ``signals``).
    chroms : list of str or None
        Chromosomes to draw from; default: those with at least one peak.
    random_state : int
        Seed.
    adapt : bool
        When the default tiling leaves too few candidate bins (small genomes, dense peaks),
        widen the search step by step (chromosomes without peaks, smaller stride, no
        ``peak_pad``, only peak cores excluded) and then draw fewer negatives; what was
        reduced is listed in the report's ``reductions`` and logged.
    """

    genome: str = ""
    peaks: str = ""
    output_dir: str = "."
    name: str = "negatives"
    width: int = 2114
    stride: int | None = None
    ratio: float = 2.0
    max_n_fraction: float = 0.01
    peak_pad: int = 0
    gc_bins: int = 100
    blacklist: str | None = None
    signals: list[str] = field(default_factory=list)
    max_signal: float | None = None
    chroms: list[str] | None = None
    random_state: int = 0
    adapt: bool = True


@dataclass
class NegativesOutputs(StepOutputs):
    """Files written by ``negatives``.

    Attributes
    ----------
    negatives : str
        BED of the negatives (score = GC fraction).
    report : str
        JSON with counts, ``ks_statistic``/``ks_pvalue`` and ``gc_histogram``.
    params : str
        The resolved parameters (JSON).
    n_negatives : int
        Negatives written (summary).
    ks_statistic : float or None
        KS statistic between the GC distributions of peak windows and negatives (summary).
    reductions : list of str
        What was relaxed because background bins were short (summary; empty normally).
    """

    negatives: str = ""
    report: str = ""
    params: str = ""
    n_negatives: int = summary_field(0)
    ks_statistic: float | None = summary_field(None)
    reductions: list[str] | None = summary_field(None)


def run(params: NegativesParams) -> NegativesOutputs:
    """Run the ``negatives`` step.

    Parameters
    ----------
    params : NegativesParams
        The step's parameters.

    Returns
    -------
    NegativesOutputs
    """
    if not params.genome or not params.peaks:
        raise InputError("negatives: 'genome' and 'peaks' are required.")
    with staged_outputs(params.output_dir, "negatives") as stage:
        out_dir = stage.path
        genome = Genome(params.genome)
        peaks = read_regions(params.peaks)
        blacklist = read_regions(params.blacklist) if params.blacklist else None
        signal = functools.partial(bin_sums, list(params.signals)) if params.signals else None
        c, s, e, gc, report, _ = gc_matched_negatives(
            genome, peaks, params.width, params.ratio, params.stride, params.max_n_fraction,
            params.peak_pad, params.gc_bins, blacklist, signal, params.max_signal, params.chroms,
            params.random_state, adapt=params.adapt)
        bed = write_bed(out_dir / f"{params.name}.bed", c, s, e,
                        names=[f"neg_{i}" for i in range(len(c))], scores=np.round(gc, 4))
        rep = write_text_atomic(out_dir / f"{params.name}.gc_report.json",
                                json.dumps(report, indent=2) + "\n")
        pj = dump_config(params, out_dir / f"{params.name}.negatives.params.json")
        outputs = NegativesOutputs(negatives=str(bed), report=str(rep), params=str(pj),
                                   n_negatives=int(len(c)), ks_statistic=report["ks_statistic"],
                                   reductions=list(report["reductions"]))
        return stage.finalize(outputs)


Params = NegativesParams
Outputs = NegativesOutputs
run_negatives = run
