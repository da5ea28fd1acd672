"""``bpnetkit peaks``: call peaks with MACS3.

Outputs in ``output_dir``: ``<name>.narrowPeak`` (MACS3's peaks, optionally filtered by an
exclusion list and to the strongest ``max_peaks``), ``<name>.macs3.log`` and
``<name>.peaks.params.json``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bpnetkit.config import dump_config
from bpnetkit.data.peaks import call_macs3, filter_peaks, find_macs3
from bpnetkit.errors import InputError
from bpnetkit.io.bed import read_regions, write_regions
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs, summary_field

__all__ = ["PeaksParams", "PeaksOutputs", "Params", "Outputs", "run", "run_peaks"]

log = logging.getLogger(__name__)


@dataclass
class PeaksParams:
    """Parameters of ``bpnetkit peaks``.

    Attributes
    ----------
    treatment : list of str
        Read files (BAM, BED, ...); several are pooled.
    control : list of str
        Control/input read files (may be empty).
    output_dir : str
        Output folder.
    name : str
        Output name: ``<name>.narrowPeak``.
    format : str
        MACS3 format: AUTO, BAM, BAMPE (paired-end fragments), BED, BEDPE, SAM or FRAG.
    genome_size : str
        Effective genome size: ``hs``, ``mm``, ``ce``, ``dm`` or a number such as ``"2.7e9"``.
    qvalue : float or None
        q-value cutoff (MACS3 default 0.05); ignored when ``pvalue`` is set.
    pvalue : float or None
        p-value cutoff (ChromBPNet uses 0.01 for ATAC/DNase).
    nomodel : bool
        Skip MACS3's fragment-size model (use with ``shift``/``extsize``; ATAC/DNase).
    shift, extsize : int or None
        MACS3 ``--shift`` and ``--extsize`` (ATAC: -75 and 150).
    keep_dup : str
        MACS3 ``--keep-dup``: ``"1"``, ``"auto"`` or ``"all"``.
    call_summits : bool
        Call sub-peak summits.
    blacklist : str or None
        BED of excluded regions; peaks overlapping it are removed.
    max_peaks : int or None
        Keep the strongest N peaks (by signal value, column 7).
    extra_args : list of str
        Further MACS3 arguments, passed as given.
    """

    treatment: list[str] = field(default_factory=list)
    control: list[str] = field(default_factory=list)
    output_dir: str = "."
    name: str = "peaks"
    format: str = "AUTO"
    genome_size: str = "hs"
    qvalue: float | None = 0.05
    pvalue: float | None = None
    nomodel: bool = False
    shift: int | None = None
    extsize: int | None = None
    keep_dup: str = "1"
    call_summits: bool = True
    blacklist: str | None = None
    max_peaks: int | None = None
    extra_args: list[str] = field(default_factory=list)

    def validate(self) -> None:
        """Check value ranges (no file is read).

        Raises
        ------
        InputError
            For a ``max_peaks`` below 1.
        """
        if self.max_peaks is not None and self.max_peaks < 1:
            raise InputError(f"peaks: 'max_peaks' must be at least 1 or null (all peaks), got "
                             f"{self.max_peaks}.")


@dataclass
class PeaksOutputs(StepOutputs):
    """Files written by ``peaks``.

    Attributes
    ----------
    peaks : str
        The narrowPeak file.
    macs3_log : str
        MACS3's command line and output.
    params : str
        The resolved parameters (JSON).
    n_peaks : int
        Peaks written (summary).
    """

    peaks: str = ""
    macs3_log: str = ""
    params: str = ""
    n_peaks: int = summary_field(0)


def run(params: PeaksParams) -> PeaksOutputs:
    """Call peaks with MACS3 and write ``<output_dir>/<name>.narrowPeak``.

    Parameters
    ----------
    params : PeaksParams
        The step's parameters.

    Returns
    -------
    PeaksOutputs

    Raises
    ------
    MissingToolError
        When MACS3 is not installed.
    BpnetkitError
        When MACS3 fails (the message ends with the tail of its log).
    InputError
        When MACS3 finds no peaks or none are left after filtering.
    """
    exe = find_macs3()
    final_dir = Path(params.output_dir)
    final_peaks = final_dir / f"{params.name}.narrowPeak"
    with staged_outputs(final_dir, "peaks") as stage:
        out_dir = stage.path
        log_path = out_dir / f"{params.name}.macs3.log"
        with tempfile.TemporaryDirectory(prefix="macs3_", dir=out_dir) as tmp:
            raw = call_macs3(params, tmp, log_path, exe)
            peaks = read_regions(raw)
            peaks.source = str(final_peaks)
        n0 = len(peaks)
        blacklist = read_regions(params.blacklist) if params.blacklist else None
        peaks = filter_peaks(peaks, blacklist, params.max_peaks)
        out = write_regions(out_dir / final_peaks.name, peaks)
        pj = dump_config(params, out_dir / f"{params.name}.peaks.params.json")
        outputs = PeaksOutputs(peaks=str(out), macs3_log=str(log_path), params=str(pj),
                               n_peaks=len(peaks))
        outputs = stage.finalize(outputs)
    log.info("peaks: %d MACS3 peaks, %d written to %s", n0, len(peaks), final_peaks)
    return outputs

Params = PeaksParams
Outputs = PeaksOutputs
run_peaks = run
