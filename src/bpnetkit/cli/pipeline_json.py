"""``bpnetkit pipeline-json``: write a complete pipeline JSON from data pointers.

bpnet-lite's flags work as there (``-s -i -c -p -neg -n -u -f -ps -ns -m -o -pe``); the JSON
written uses bpnetkit's keys (see :class:`bpnetkit.pipeline.PipelineParams`) with every
default filled in, and every ``*_parameters`` object lists every knob of its step (the
``Params`` fields the pipeline does not fill itself) with its value for this run, so the
file documents every knob.
"""

from __future__ import annotations

import argparse

from bpnetkit.pipeline.config import PipelineParams

HELP = "write a complete pipeline JSON from data pointers (genome, reads, peaks, ...)"

# model type -> defaults it implies (applied unless the flag was given)
MODEL_DEFAULTS = {
    "bpnet": {"stranded": True, "assay": "chip"},
    "procapnet": {"stranded": True, "assay": "procap"},
    "chrombpnet": {"stranded": False, "assay": "atac"},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments (bpnet-lite's flags plus bpnetkit's)."""
    parser.add_argument("-s", "--sequences", "--genome", dest="genome", required=True,
                        help="genome FASTA")
    parser.add_argument("-i", "--inputs", action="append", default=[], metavar="FILE",
                        help="experiment reads (BAM/SAM/tsv) or bigWigs; repeat for several")
    parser.add_argument("-c", "--controls", action="append", default=[], metavar="FILE",
                        help="control reads or bigWigs; repeat for several")
    parser.add_argument("-p", "--peaks", action="append", default=[], metavar="BED",
                        help="peaks (BED/narrowPeak); omitted: called with MACS3")
    parser.add_argument("-neg", "--negatives", action="append", default=[], metavar="BED",
                        help="background regions; omitted: GC-matched regions are picked")
    parser.add_argument("-n", "--name", required=True, help="experiment name")
    parser.add_argument("-o", "--output", required=True, help="JSON file to write")
    parser.add_argument("-m", "--motifs", "--motif-db", dest="motif_db", default=None,
                        help="MEME motif database (default: built-in JASPAR)")
    parser.add_argument("-u", "--unstranded", action="store_true", default=None,
                        help="count reads on both strands together")
    parser.add_argument("-f", "--fragments", action="store_true",
                        help="inputs are fragments (both ends counted)")
    parser.add_argument("-pe", "--paired_end", "--paired-end", dest="paired_end",
                        action="store_true", help="reads are paired-end")
    parser.add_argument("-ps", "--pos_shift", "--pos-shift", dest="pos_shift", type=int,
                        default=None, help="shift of plus-strand 5' ends")
    parser.add_argument("-ns", "--neg_shift", "--neg-shift", dest="neg_shift", type=int,
                        default=None, help="shift of minus-strand 5' ends")
    parser.add_argument("--model-type", choices=sorted(MODEL_DEFAULTS), default="bpnet",
                        help="model and recipe (default bpnet)")
    parser.add_argument("--assay", choices=["atac", "dnase", "chip", "procap", "none"],
                        default=None,
                        help="assay, for the default read shifts (default: atac for "
                             "chrombpnet, else no shift); the shifts and paired-end mode are "
                             "then chosen from the kind of read file (BAM, paired BAM, "
                             "fragments) unless -ps/-ns/-pe are given")
    parser.add_argument("--chrom-sizes", default=None, help="chromosome sizes file")
    parser.add_argument("--output-dir", default=None,
                        help="run folder of the pipeline (default: ./NAME)")
    parser.add_argument("--split", default=None,
                        help="chromosome split: fold_0..fold_4, bpnet_lite or a JSON path")
    parser.add_argument("--in-window", type=int, default=None, help="input length")
    parser.add_argument("--out-window", type=int, default=None, help="output length")


def _one(values: list[str], flag: str) -> str | None:
    from bpnetkit.errors import ConfigError

    if len(values) > 1:
        raise ConfigError(f"{flag} given {len(values)} times; bpnetkit takes one file (merge "
                          f"them first).")
    return values[0] if values else None


def read_shifts(inputs: list[str], assay: str) -> tuple[int, int, bool]:
    """``(pos_shift, neg_shift, paired_end)`` for the read files of a run and an assay.

    Taken from the kind of each file (a fragment file is Tn5-adjusted already: no shift; a
    paired BAM counts both mates); see :func:`bpnetkit.data.shift_qc.default_shifts`. BigWig
    inputs (nothing to count) and files that do not exist yet get no shift.
    """
    import logging
    from pathlib import Path

    from bpnetkit.data.shift_qc import shifts_for_inputs
    from bpnetkit.pipeline.config import input_kind

    reads = [p for p in inputs if input_kind(p) == "reads"]
    if not reads or not all(Path(p).is_file() for p in reads):
        return 0, 0, False
    s = shifts_for_inputs(reads, assay)
    logging.getLogger(__name__).info("read shifts: %s", s.reason)
    return s.shift_plus, s.shift_minus, s.paired_end


def complete(params: PipelineParams) -> PipelineParams:
    """``params`` with every ``*_parameters`` object holding every knob of its step."""
    from bpnetkit.pipeline.builders import step_knobs

    for key, knobs in step_knobs(params).items():
        setattr(params, key, knobs)
    return params


def run(args: argparse.Namespace) -> int:
    """Build, validate and write the pipeline JSON."""
    from bpnetkit.pipeline.config import dump_pipeline_params

    defaults = MODEL_DEFAULTS[args.model_type]
    stranded = (not args.unstranded) if args.unstranded is not None else defaults["stranded"]
    shifts = read_shifts(list(args.inputs), args.assay or defaults["assay"])
    params = PipelineParams(
        genome=args.genome, name=args.name, output_dir=args.output_dir,
        chrom_sizes=args.chrom_sizes, peaks=_one(args.peaks, "-p/--peaks"),
        negatives=_one(args.negatives, "-neg/--negatives"), inputs=list(args.inputs),
        controls=list(args.controls), motif_db=args.motif_db, model_type=args.model_type,
        stranded=stranded, fragments=args.fragments,
        paired_end=args.paired_end or shifts[2],
        pos_shift=args.pos_shift if args.pos_shift is not None else shifts[0],
        neg_shift=args.neg_shift if args.neg_shift is not None else shifts[1],
        split=args.split)
    if args.in_window:
        params.in_window = args.in_window
    if args.out_window:
        params.out_window = args.out_window
    params.validate()
    dump_pipeline_params(complete(params), args.output)
    print(args.output)
    return 0
