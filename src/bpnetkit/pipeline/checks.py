"""Checks run before any long step: files exist, chromosome names agree, keys are valid."""

from __future__ import annotations

import dataclasses
import difflib
import gzip
import shutil
from pathlib import Path

from bpnetkit.errors import ConfigError, InputError, MissingToolError, require_file
from bpnetkit.pipeline.builders import STEP_FUNCTIONS
from bpnetkit.pipeline.config import PipelineParams, input_kind


def read_file_chroms(path: str) -> dict[str, int | None]:
    """Chromosome names (and lengths where the format has them) of a reads or bigWig file."""
    p = Path(path)
    if input_kind(path) == "bigwig":
        import pyBigWig

        try:
            bw = pyBigWig.open(str(p))
        except RuntimeError:
            raise InputError(f"'{p}' is not a readable bigWig file.") from None
        try:
            return dict(bw.chroms())
        finally:
            bw.close()
    if p.suffix in (".bam", ".sam", ".cram"):
        import pysam

        try:
            with pysam.AlignmentFile(str(p), "rb" if p.suffix == ".bam" else "r") as f:
                return {n: int(ln) for n, ln in zip(f.references, f.lengths)}
        except (ValueError, OSError) as e:
            raise InputError(f"'{p}' is not a readable {p.suffix[1:].upper()} file ({e}).") \
                from None
    # text formats (tsv / bed / tagAlign / fragments): first column of the first lines
    opener = gzip.open if p.suffix == ".gz" else open
    names: dict[str, int | None] = {}
    with opener(p, "rt") as fh:
        for i, line in enumerate(fh):
            if i >= 20000:
                break
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            names.setdefault(line.split("\t", 1)[0].split()[0], None)
    return names


def check_reads_match_genome(path: str, genome_sizes: dict[str, int], genome: str) -> None:
    """Raise when a reads/bigWig file uses chromosome names or lengths the genome lacks."""
    from bpnetkit.io.fasta import suggest_chrom_fix

    chroms = read_file_chroms(path)
    if not chroms:
        raise InputError(f"'{path}' names no chromosomes (empty file?).")
    shared = [c for c in chroms if c in genome_sizes]
    if not shared:
        some = ", ".join(list(chroms)[:5])
        gsome = ", ".join(list(genome_sizes)[:5])
        raise InputError(f"no chromosome of '{path}' ({some}) is in the genome '{genome}' "
                         f"({gsome}): the reads were aligned to another assembly or name "
                         f"chromosomes differently." + suggest_chrom_fix(list(chroms)[:20],
                                                                        list(genome_sizes)))
    bad = [(c, chroms[c], genome_sizes[c]) for c in shared
           if chroms[c] is not None and chroms[c] != genome_sizes[c]]
    if bad:
        c, a, b = bad[0]
        raise InputError(f"chromosome '{c}' is {a:,} bp in '{path}' but {b:,} bp in the genome "
                         f"'{genome}': the reads were aligned to a different assembly. Use the "
                         f"FASTA the reads were aligned to.")


def check_step_overrides(cfg: PipelineParams, lenient: bool = False) -> list[str]:
    """Validate the keys of every ``<step>_parameters`` object against the step's params.

    Steps whose module is not importable yet are not checked. With ``lenient`` (a bpnet-lite
    JSON), unknown keys are returned as notes instead of raising.
    """
    from bpnetkit.pipeline.runner import StepUnavailable, resolve_callable

    notes = []
    seen = set()
    for step, (_, cls_spec, key) in STEP_FUNCTIONS.items():
        values = getattr(cfg, key) or {}
        if not values or key in seen or cls_spec is None:
            continue
        seen.add(key)
        try:
            cls = resolve_callable(cls_spec)
        except StepUnavailable:
            continue
        if not dataclasses.is_dataclass(cls):
            continue
        names = [f.name for f in dataclasses.fields(cls)]
        for k in values:
            if k not in names:
                near = difflib.get_close_matches(k, names, n=1, cutoff=0.5)
                hint = f" Did you mean '{near[0]}'?" if near else ""
                msg = (f"pipeline: '{key}' has key '{k}' that step '{step}' does not know."
                       f"{hint} Valid keys: {', '.join(sorted(names))}.")
                if lenient:
                    notes.append(f"ignored bpnet-lite key {key}.{k}")
                else:
                    raise ConfigError(msg)
        if lenient:
            for k in [k for k in values if k not in names]:
                del values[k]
    return notes


def check_inputs(cfg: PipelineParams, lenient: bool = False) -> list[str]:
    """Check everything that can be checked before the first long step.

    Returns notes (warnings) and raises :class:`~bpnetkit.errors.BpnetkitError` subclasses
    naming the problem and its fix.
    """
    from bpnetkit.io.fasta import Genome, check_chroms

    notes: list[str] = []
    require_file(cfg.genome, "genome FASTA ('genome')")
    genome = Genome(cfg.genome)
    sizes = dict(genome.chrom_sizes)
    if cfg.chrom_sizes:
        require_file(cfg.chrom_sizes, "chromosome sizes ('chrom_sizes')")
    for i, p in enumerate(cfg.inputs):
        require_file(p, f"input file ('inputs'[{i}])")
        check_reads_match_genome(p, sizes, cfg.genome)
    for i, p in enumerate(cfg.controls):
        require_file(p, f"control file ('controls'[{i}])")
        check_reads_match_genome(p, sizes, cfg.genome)
    from bpnetkit.data.regions import read_regions

    for key in ("peaks", "negatives"):
        path = getattr(cfg, key)
        if path:
            require_file(path, f"{key} file ('{key}')")
            regions = read_regions(path)
            if len(regions.chrom) == 0:
                raise InputError(f"{key} file '{path}' has no regions.")
            check_chroms(regions.chrom, list(sizes), f"{key} file '{path}'",
                         f"genome '{cfg.genome}'")
    for key in ("model", "bias_model", "truth", "motif_db"):
        path = getattr(cfg, key)
        if path and str(path) not in ("builtin", "jaspar"):
            require_file(path, f"'{key}'")
    if cfg.motif_db and str(cfg.motif_db) not in ("builtin", "jaspar"):
        from bpnetkit.io.meme import read_meme

        if not read_meme(cfg.motif_db):
            raise InputError(f"motif database '{cfg.motif_db}' holds no motifs.")
    for lst in ("training_chroms", "validation_chroms", "test_chroms"):
        chroms = getattr(cfg, lst)
        if chroms:
            missing = [c for c in chroms if c not in sizes]
            if missing:
                raise InputError(f"pipeline: '{lst}' names {missing}, not in the genome "
                                 f"'{cfg.genome}' (which has {', '.join(list(sizes)[:8])}).")
    if cfg.split and cfg.split.endswith(".json"):
        require_file(cfg.split, "split JSON ('split')")
    if cfg.exclusion_lists:
        for p in cfg.exclusion_lists:
            require_file(p, "exclusion list")
    if not cfg.peaks and cfg.inputs and "peaks" not in cfg.skip_steps:
        if shutil.which("macs3") is None:
            try:
                import MACS3  # noqa: F401
            except ImportError:
                raise MissingToolError(
                    "no 'peaks' given, so they would be called with MACS3, which is not "
                    "installed. Install it ('pip install macs3') or give 'peaks'.") from None
    notes += check_step_overrides(cfg, lenient=lenient)
    return notes
