"""``bpnetkit bam2bw``: count read 5' ends into base-resolution bigWigs.

Outputs in ``output_dir``: ``<name>.plus.bw`` and ``<name>.minus.bw`` (stranded) or
``<name>.bw`` (unstranded), ``<name>.bam2bw.params.json`` (the resolved parameters) and, for
enzyme-cut assays (a shift or fragment input) with a genome, ``<name>.shift_qc.json``: where the
enzyme's cut sites sit relative to the counted ends (:func:`bpnetkit.data.shift_qc.detect_shift`),
with a log warning when the shifts look wrong. The counting itself is
:func:`bpnetkit.data.reads.count_read_ends`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from bpnetkit.config import dump_config
from bpnetkit.data.reads import (
    CountOptions,
    count_read_ends,
    input_formats,
    sample_read_ends,
    write_count_bigwigs,
)
from bpnetkit.data.shift_qc import ShiftQC, assay_of_shifts, shift_qc_for_genome
from bpnetkit.errors import require_file
from bpnetkit.io.chrom_sizes import read_chrom_sizes
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs, summary_field
from bpnetkit.utils import write_text_atomic

__all__ = ["Bam2BwParams", "Bam2BwOutputs", "Params", "Outputs", "run", "run_bam2bw"]

log = logging.getLogger(__name__)


@dataclass
class Bam2BwParams:
    """Parameters of ``bpnetkit bam2bw``.

    Attributes
    ----------
    inputs : list of str
        BAM/SAM, fragment (``.tsv``, ``.tsv.gz``) or BED read files; all are merged.
    output_dir : str
        Folder for the bigWigs and the resolved parameters.
    name : str
        Output prefix: ``<name>.plus.bw`` and ``<name>.minus.bw`` (stranded) or ``<name>.bw``.
    genome : str or None
        FASTA whose chromosome sizes define the bigWigs (or give ``chrom_sizes``).
    chrom_sizes : str or None
        Two-column chromosome sizes file; default: from ``genome``, else the BAM header.
    stranded : bool
        Write separate ``+`` and ``-`` strand bigWigs.
    preset : str or None
        ``"atac"`` (+4/-4), ``"dnase"`` (0/+1), ``"chip"``/``"procap"``/``"none"`` (0/0);
        overrides the shifts when given.
    shift_plus, shift_minus : int
        Shifts applied to 5' ends of ``+`` and ``-`` strand reads.
    paired_end : bool
        Paired-end mode: count the 5' end of both mates of each pair (both fragment ends);
        unpaired reads are skipped and single-end data is an error.
    proper_pairs_only : bool
        In paired-end mode, keep only properly paired mates.
    min_mapq : int
        Minimum mapping quality.
    skip_duplicates, skip_secondary, skip_supplementary, skip_qcfail : bool
        Skip reads with these flags.
    input_format : str
        ``"auto"`` (from the file), ``"bam"``, ``"sam"``, ``"fragments"`` or ``"bed"``.
    threads : int
        Threads decompressing BAM blocks.
    memory_mb : int
        Sparse counts held in memory before they are spilled to a temporary folder.
    zoom_levels : int
        Zoom levels stored in the bigWigs (0 = none: smallest and fastest to write; genome
        browsers then summarise on the fly; 10 is what UCSC tools write).
    force_shift : bool
        Allow a non-zero shift on fragment files (10x/ArchR fragment files are already
        Tn5-adjusted, so a shift on them is an error unless forced).
    shift_qc : bool or None
        Check from the data that the shifts put both strands' ends on the enzyme's cut sites
        (needs ``genome``); None: when a shift is applied or an input is a fragment file.
    shift_qc_reads : int
        Read ends sampled per strand for the shift QC.
    """

    inputs: list[str] = field(default_factory=list)
    output_dir: str = "."
    name: str = "signal"
    genome: str | None = None
    chrom_sizes: str | None = None
    stranded: bool = True
    preset: str | None = None
    shift_plus: int = 0
    shift_minus: int = 0
    paired_end: bool = False
    proper_pairs_only: bool = True
    min_mapq: int = 0
    skip_duplicates: bool = False
    skip_secondary: bool = True
    skip_supplementary: bool = True
    skip_qcfail: bool = True
    input_format: str = "auto"
    threads: int = 2
    memory_mb: int = 256
    zoom_levels: int = 0
    force_shift: bool = False
    shift_qc: bool | None = None
    shift_qc_reads: int = 200_000

    def validate(self) -> None:
        """Reject contradictory counting settings before any read is counted.

        Checks the preset name and, for input files that exist, that ``paired_end`` and the
        shifts fit the kind of file (a fragment file is never paired-end, and is not shifted
        unless ``force_shift``); reads only the first bytes of each file.

        Raises
        ------
        InputError
            Naming the file and the setting to change.
        """
        from bpnetkit.data.shift_qc import check_shift_settings

        shifts = CountOptions.from_object(self).shifts()
        present = [p for p in self.inputs if Path(p).is_file()]
        if present:
            check_shift_settings(input_formats(present, self.input_format), shifts[0],
                                 shifts[1], self.paired_end, self.preset, self.force_shift,
                                 names=present)


@dataclass
class Bam2BwOutputs(StepOutputs):
    """Files written by ``bam2bw``.

    Attributes
    ----------
    bigwigs : list of str
        ``[plus, minus]`` when stranded, else ``[signal]``.
    params : str
        The resolved parameters (JSON).
    shift_qc : str or None
        JSON of the shift QC (:class:`bpnetkit.data.shift_qc.ShiftQC`), None when not run.
    shift_verdict : str or None
        The QC's verdict (``ok``, ``looks_unshifted``, ``looks_double_shifted``,
        ``unclear``; summary).
    """

    bigwigs: list[str] = field(default_factory=list)
    params: str = ""
    shift_qc: str | None = None
    shift_verdict: str | None = summary_field(None)


def run(params: Bam2BwParams) -> Bam2BwOutputs:
    """Run the ``bam2bw`` step: reads -> bigWig(s) in ``params.output_dir``.

    Parameters
    ----------
    params : Bam2BwParams
        The step's parameters.

    Returns
    -------
    Bam2BwOutputs
    """
    out_dir = Path(params.output_dir)
    sizes = None
    if params.chrom_sizes:
        sizes = read_chrom_sizes(params.chrom_sizes)
    elif params.genome:
        from bpnetkit.io.fasta import Genome

        sizes = Genome(params.genome).chrom_sizes
    options = CountOptions.from_object(params)
    shifts = options.shifts()
    formats = input_formats([require_file(p, "reads file") for p in params.inputs],
                            params.input_format)
    want_qc = params.shift_qc
    if want_qc is None:
        want_qc = shifts != (0, 0) or "fragments" in formats
    if want_qc and not params.genome:
        log.warning("bam2bw: the shift QC needs the genome FASTA ('genome'); skipped.")
        want_qc = False
    acc, sizes, stats = count_read_ends(params.inputs, sizes, options)
    qc = None
    owns = [f"{params.name}{x}" for x in (".bw", ".plus.bw", ".minus.bw", ".shift_qc.json")]
    with staged_outputs(out_dir, "bam2bw", owns=owns) as stage:
        try:
            out = write_count_bigwigs(acc, sizes, stage.path / params.name, params.stranded,
                                      params.zoom_levels, params.threads)
            if want_qc:
                ends = sample_read_ends(acc, sizes, params.shift_qc_reads)
        finally:
            acc.close()
        log.info("bam2bw: %d records, %d counted, %d filtered.", stats["records"],
                 stats["kept"], stats["filtered"])
        qc_path = None
        if want_qc:
            from bpnetkit.io.fasta import Genome

            qc = shift_qc_for_genome(Genome(params.genome), ends, shifts,
                                     assay_of_shifts(*shifts, preset=params.preset))
            _log_qc(qc)
            qc_path = str(write_text_atomic(stage.path / f"{params.name}.shift_qc.json",
                                            json.dumps(qc.to_dict(), indent=1) + "\n"))
        pj = dump_config(params, stage.path / f"{params.name}.bam2bw.params.json")
        bigwigs = [out["plus"], out["minus"]] if params.stranded else [out["signal"]]
        outputs = Bam2BwOutputs(bigwigs=bigwigs, params=str(pj), shift_qc=qc_path,
                                shift_verdict=None if qc is None else qc.verdict)
        return stage.finalize(outputs)

def _log_qc(qc: ShiftQC) -> None:
    if qc.looks_wrong:
        log.warning("%s Set the shifts to %+d/%+d (or check how the input was made).",
                    qc.message, *qc.inferred_shift)
    else:
        log.info(qc.message)


Params = Bam2BwParams
Outputs = Bam2BwOutputs
run_bam2bw = run
