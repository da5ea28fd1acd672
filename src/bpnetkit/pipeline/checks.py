"""Checks run before the first step: files exist, chromosome names agree, every step's
parameters are valid.

:func:`validate_pipeline` runs them all. It builds every step's ``Params`` the way the run will
(with stand-in outputs for the steps that have not run), so a wrong key or type in any
``*_parameters`` object, a value a step's ``Params.validate()`` rejects, an invalid split or a
missing file fails before any step runs, with the key named.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bpnetkit.errors import ConfigError, InputError, MissingToolError, require_file
from bpnetkit.pipeline.config import PipelineParams, input_kind
from bpnetkit.pipeline.registry import PIPELINE_STEPS, StepUnavailable

logger = logging.getLogger(__name__)

# Params fields that name input files (checked to exist when a *_parameters object sets them)
PATH_FIELDS = ("genome", "chrom_sizes", "peaks", "negatives", "signals", "controls", "model",
               "bias_model", "motif_db", "regions", "backgrounds", "sequences", "variants",
               "attributions", "seqlets", "modisco", "blacklist", "exclusion_lists", "truth",
               "treatment", "control", "inputs")
# motif database names that are not files
BUILTIN_MOTIF_DBS = ("builtin", "jaspar")


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
    """Check the key names of every ``<step>_parameters`` object against the step's Params.

    With ``lenient`` (a bpnet-lite JSON, whose steps have knobs bpnetkit's lack), unknown keys
    are removed from ``cfg`` and returned as notes instead of raising.
    """
    from bpnetkit.pipeline.builders import check_override_keys

    notes = []
    for key, cls in _parameter_classes(cfg).items():
        values = getattr(cfg, key) or {}
        if lenient:
            names = [f.name for f in dataclasses.fields(cls)]
            for k in [k for k in values if k not in names and not k.startswith("_")]:
                notes.append(f"ignored bpnet-lite key {key}.{k} (no such bpnetkit setting)")
                del values[k]
        check_override_keys(cls, values, key)
    return notes


def _parameter_classes(cfg: PipelineParams) -> dict[str, type]:
    """``*_parameters`` key -> Params class, for the keys that set something.

    A step whose module cannot be imported raises :class:`StepUnavailable` when its object
    sets something (its keys cannot be checked), else it is left to the runner to report.
    """
    out: dict[str, type] = {}
    for spec in PIPELINE_STEPS:
        if spec.key in out or not getattr(cfg, spec.key):
            continue
        out[spec.key] = spec.load().Params
    return out


def check_value_types(cls: type, values: dict[str, Any], key: str) -> None:
    """Check the type of every value of a ``*_parameters`` object (names checked before)."""
    from bpnetkit.config import check_value

    for k, v in values.items():
        if not k.startswith("_"):
            check_value(cls, k, v, where=f"pipeline '{key}'")


def check_given_files(values: dict[str, Any], key: str, sizes: dict[str, int]) -> None:
    """Files a ``*_parameters`` object names exist; chromosomes it names are in the genome."""
    for k, v in values.items():
        if k in PATH_FIELDS:
            paths = v if isinstance(v, list) else [v]
            for i, p in enumerate(paths):
                if isinstance(p, str) and p and not (k == "motif_db" and p in BUILTIN_MOTIF_DBS):
                    where = f"'{key}.{k}'" + (f"[{i}]" if isinstance(v, list) else "")
                    require_file(p, f"file of {where}")
        if k == "split" and isinstance(v, str) and v.endswith(".json"):
            require_file(v, f"split JSON of '{key}.split'")
        if k == "chroms" and isinstance(v, list):
            unknown = [c for c in v if c not in sizes]
            if unknown:
                raise InputError(f"pipeline: '{key}.chroms' names {unknown}, not in the genome "
                                 f"(which has {', '.join(list(sizes)[:8])}).")


def check_split(spec: Any, chroms: list[str], keys: str) -> None:
    """Resolve a split the way training will; a ConfigError naming ``keys`` otherwise."""
    from bpnetkit.data.splits import get_split

    try:
        get_split(spec, chroms=chroms)
    except InputError as e:
        raise ConfigError(f"pipeline: invalid split given by {keys}: {e}") from None


def plan_step_params(cfg: PipelineParams, sizes: dict[str, int]
                     ) -> tuple[dict[str, Any], list[str]]:
    """Build every step's ``Params`` as the run will, before anything runs.

    Steps that have not run are represented by stand-in outputs
    (:func:`bpnetkit.pipeline.builders.planned_outputs`). Raises on the first problem: a key
    a step does not have (naming the nearest), a wrong type, a value ``Params.validate()``
    rejects, a missing file, an unknown chromosome or an invalid split.

    Returns
    -------
    params : dict
        Step name -> its ``Params``, for the steps that will run.
    notes : list of str
        Warnings (steps whose module is not available).
    """
    from bpnetkit.pipeline.builders import (
        BUILDERS,
        check_override_keys,
        make_params,
        planned_outputs,
        run_split,
        split_file,
    )
    from bpnetkit.pipeline.runner import StepContext, StepNotApplicable

    notes: list[str] = []
    run_dir = cfg.run_dir
    outputs: dict[str, Any] = {}
    planned: dict[str, Any] = {}
    unavailable: set[str] = set()
    real_split = str(split_file(run_dir))
    with tempfile.TemporaryDirectory(prefix="bpnetkit-plan-") as tmp:
        stand_in = None
        split, why = run_split(cfg)
        if why:
            notes.append(why)
        if split is not None:
            check_split(split, list(sizes),
                        "the split derived from the genome" if why else
                        "'training_chroms', 'validation_chroms' and 'test_chroms'")
            # the run writes run_dir/split.json only once everything is valid; until then
            # the steps (whose validate() reads the split) see a copy of it
            stand_in = str(Path(tmp) / "split.json")
            Path(stand_in).write_text(json.dumps(split))
            cfg = dataclasses.replace(cfg, split=stand_in)
        splits_checked: set[str] = {stand_in} if stand_in else set()
        for spec in PIPELINE_STEPS:
            overrides = getattr(cfg, spec.key) or {}
            try:
                cls = spec.load().Params
            except StepUnavailable:
                if overrides:
                    raise
                unavailable.add(spec.name)
                notes.append(f"step '{spec.name}' is not available ({spec.module})")
                continue
            check_override_keys(cls, overrides, spec.key)
            check_value_types(cls, overrides, spec.key)
            check_given_files(overrides, spec.key, sizes)
            given_split = overrides.get("split")
            if isinstance(given_split, str) and given_split not in splits_checked:
                splits_checked.add(given_split)
                check_split(given_split, list(sizes), f"'{spec.key}.split'")
            if spec.name in cfg.skip_steps or unavailable.intersection(spec.requires):
                continue
            ctx = StepContext(cfg, run_dir / spec.name, run_dir, outputs)
            try:
                filled = BUILDERS[spec.name].build(spec, cfg, ctx)
            except StepNotApplicable:
                continue
            params = make_params(spec, cfg, filled)
            step_split = getattr(params, "split", None)
            if isinstance(step_split, str) and step_split not in splits_checked:
                splits_checked.add(step_split)
                check_split(step_split, list(sizes), "'split'")
            if stand_in is not None and step_split == stand_in:
                params = dataclasses.replace(params, split=real_split)
            planned[spec.name] = params
            outputs[spec.name] = planned_outputs(spec, params, ctx.step_dir)
    return planned, notes


def validate_pipeline(cfg: PipelineParams, lenient: bool | None = None) -> list[str]:
    """Every check that can run before the first step; returns notes (warnings).

    Parameters
    ----------
    cfg : PipelineParams
        The configuration (``cfg`` of a bpnet-lite JSON loses the step keys bpnetkit lacks,
        with a note each).
    lenient : bool or None
        Drop unknown step keys with a note instead of raising; None: when ``cfg`` came from
        a bpnet-lite JSON.

    Raises
    ------
    BpnetkitError
        ConfigError, InputError, MissingFileError or MissingToolError naming the key or file.
    """
    from bpnetkit.io.fasta import Genome

    if lenient is None:
        lenient = bool(getattr(cfg, "_bpnetlite", False))
    notes = check_inputs(cfg, lenient=lenient)
    _, more = plan_step_params(cfg, dict(Genome(cfg.genome).chrom_sizes))
    return notes + more


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
