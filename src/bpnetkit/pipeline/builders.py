"""Pipeline builders: each step's ``Params`` from the pipeline config and earlier ``Outputs``.

A builder returns the values the pipeline fills in for its step (data pointers such as the
genome, the output folder, earlier steps' outputs, and the run-wide settings such as
``batch_size``, ``device``, ``random_state`` and ``verbose``); :func:`make_params` lays the
step's ``<step>_parameters`` object of the pipeline JSON over them and validates the result
into the step's ``Params`` (a key the step does not have is an error naming the nearest one;
nothing is dropped). Earlier steps are read through their typed ``Outputs`` fields, never by
guessing file names.

:data:`BUILDERS` declares, per step, every ``Params`` field its builder may fill
(``fills``): ``pipeline-json`` writes all the other fields as the step's knobs.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpnetkit.errors import ConfigError, InputError
from bpnetkit.pipeline.config import PipelineParams, input_kind
from bpnetkit.pipeline.registry import PIPELINE_STEPS, STEP_ORDER, StepSpec, get_step
from bpnetkit.pipeline.runner import Step, StepContext, StepNotApplicable

logger = logging.getLogger(__name__)

# fields every builder fills when the step's Params has them (run-wide settings)
COMMON_FIELDS = ("output_dir", "genome", "chrom_sizes", "name", "random_state", "device",
                 "batch_size", "verbose", "example_cache")
# fields a *_parameters object may not set (the runner owns the step folders)
RESERVED_FIELDS = ("output_dir",)


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def accepts_list(cls: type, name: str) -> bool:
    """True when field ``name`` of the dataclass ``cls`` may hold a list."""
    tp = typing.get_type_hints(cls)[name]
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    options = typing.get_args(tp) if union else (tp,)
    return any(typing.get_origin(t) is list or t is list for t in options)


def _need(value: Any, what: str) -> Any:
    if value is None or value == [] or value == "":
        raise InputError(f"no {what} available (the step producing it did not write it).")
    return value


def _out(ctx: StepContext, step: str) -> Any:
    """The ``Outputs`` of an earlier step (an error when that step did not run)."""
    out = ctx.outputs.get(step)
    if out is None:
        raise InputError(f"the outputs of step '{step}' are not available (it did not run "
                         f"or was not needed).")
    return out


def common(cls: type, cfg: PipelineParams, ctx: StepContext) -> dict[str, Any]:
    """The run-wide values, for the fields of ``COMMON_FIELDS`` that ``cls`` has."""
    values = {"output_dir": str(ctx.step_dir), "genome": cfg.genome,
              "chrom_sizes": cfg.chrom_sizes, "name": cfg.name,
              "random_state": cfg.random_state, "device": cfg.device,
              "batch_size": cfg.batch_size, "verbose": cfg.verbose,
              "example_cache": cfg.example_cache}
    names = set(_fields(cls))
    return {k: v for k, v in values.items() if k in names and v is not None}


def exclusions(cls: type, cfg: PipelineParams, step: str) -> dict[str, Any]:
    """The pipeline's ``exclusion_lists`` for a step that takes them.

    Steps with an ``exclusion_lists`` field get every list; steps with a ``blacklist`` field
    get the list (or, when the field holds one file, the one file: more than one is an error
    rather than a silently ignored file).
    """
    lists = list(cfg.exclusion_lists or [])
    names = _fields(cls)
    if not lists:
        return {}
    if "exclusion_lists" in names:
        return {"exclusion_lists": lists}
    if "blacklist" in names:
        if accepts_list(cls, "blacklist"):
            return {"blacklist": lists}
        if len(lists) > 1:
            raise ConfigError(f"pipeline: 'exclusion_lists' names {len(lists)} files but step "
                              f"'{step}' takes one ('blacklist'); merge them into one BED "
                              f"first (cat a.bed b.bed | sort -k1,1 -k2,2n > merged.bed).")
        return {"blacklist": lists[0]}
    return {}


# -- inputs of the run, given or made by earlier steps ---------------------------------------
def peaks_path(cfg: PipelineParams, ctx: StepContext) -> str:
    """The peaks of this run: given, or called by the peaks step."""
    if cfg.peaks:
        return cfg.peaks
    return _need(_out(ctx, "peaks").peaks, "peaks")


def signal_paths(cfg: PipelineParams, ctx: StepContext) -> list[str]:
    """bigWigs of the experiment: given, or written by the bigwigs step."""
    if cfg.inputs and input_kind(cfg.inputs[0]) == "bigwig":
        return list(cfg.inputs)
    return list(_need(_out(ctx, "bigwigs").bigwigs, "signal bigWigs"))


def control_paths(cfg: PipelineParams, ctx: StepContext) -> list[str]:
    """bigWigs of the control (may be empty)."""
    if not cfg.controls:
        return []
    if input_kind(cfg.controls[0]) == "bigwig":
        return list(cfg.controls)
    return list(_need(_out(ctx, "control_bigwigs").bigwigs, "control bigWigs"))


def negatives_path(cfg: PipelineParams, ctx: StepContext) -> str | None:
    """Background regions: given, picked by the negatives step, or None (not needed)."""
    if cfg.negatives:
        return cfg.negatives
    out = ctx.outputs.get("negatives")
    return out.negatives if out is not None else None


def model_path(cfg: PipelineParams, ctx: StepContext) -> str:
    """The trained model: given, or written by the fit step."""
    if cfg.model:
        return cfg.model
    return _need(_out(ctx, "fit").model, "trained model")


def interpret_model_path(cfg: PipelineParams, ctx: StepContext) -> str:
    """The model to explain: for a ChromBPNet trained here the bias-free accessibility model
    (``model_nobias``), so that attributions and marginalization show the regulatory code
    rather than the enzyme bias (the official ChromBPNet practice); otherwise the model."""
    if cfg.model_type == "chrombpnet" and not cfg.model:
        fit = _out(ctx, "fit")
        return fit.model_nobias or _need(fit.model, "trained model")
    return model_path(cfg, ctx)


def explicit_split(cfg: PipelineParams) -> dict[str, list[str]] | None:
    """The split given as chromosome lists (None when not given that way)."""
    if cfg.split or not (cfg.training_chroms or cfg.validation_chroms or cfg.test_chroms):
        return None
    return {"train": list(cfg.training_chroms or []), "valid": list(cfg.validation_chroms or []),
            "test": list(cfg.test_chroms or [])}


def run_split(cfg: PipelineParams) -> tuple[dict[str, list[str]] | None, str]:
    """The split this run writes to its ``split.json``, and why (``""`` for given lists).

    Chromosome lists given in the configuration are used as they are. With neither lists nor
    ``split`` given, the default split (``fold_0``, hg38 chromosome names) is kept when it
    fits the genome; otherwise a split is derived from the genome (held-out chromosomes
    chosen by size and peak count, see :func:`bpnetkit.data.splits.split_for_genome`) and
    the explanation says so. Returns ``(None, "")`` when ``fold_0`` is used as it is.
    """
    split = explicit_split(cfg)
    if split is not None or cfg.split:
        return split, ""
    from collections import Counter

    from bpnetkit.data.splits import split_for_genome
    from bpnetkit.io.bed import read_regions
    from bpnetkit.io.fasta import Genome

    sizes = dict(Genome(cfg.genome).chrom_sizes)
    peak_counts = Counter(read_regions(cfg.peaks).chrom) if cfg.peaks else None
    derived, why = split_for_genome("fold_0", sizes, peak_counts)
    return (derived, why) if why else (None, "")


def split_file(run_dir: Path) -> Path:
    """Where the run keeps a split given as chromosome lists."""
    return Path(run_dir) / "split.json"


def split_spec(cfg: PipelineParams, run_dir: Path) -> str:
    """The split: given, the run's ``split.json`` (from explicit lists), or ``fold_0``.

    :func:`bpnetkit.pipeline.run_pipeline` writes ``split.json`` before the first step.
    """
    if cfg.split:
        return cfg.split
    if explicit_split(cfg) is not None or split_file(run_dir).exists():
        return str(split_file(run_dir))
    return "fold_0"


def attribution_h5(cfg: PipelineParams, ctx: StepContext) -> str:
    """The attribution h5 of ``attribute_target`` written by the attribute step."""
    h5 = _out(ctx, "attribute").h5
    target = cfg.attribute_target
    if target not in h5:
        raise ConfigError(f"pipeline: 'attribute_target' is '{target}' but the attribute step "
                          f"wrote attributions of {sorted(h5)} only; add '{target}' to "
                          f"attribute_parameters.targets or change attribute_target.")
    return h5[target]


# -- builders ------------------------------------------------------------------------------
def build_peaks(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    if cfg.peaks:
        raise StepNotApplicable("peaks given")
    if not cfg.inputs or input_kind(cfg.inputs[0]) != "reads":
        raise StepNotApplicable("no reads to call peaks from")
    cls = spec.params_class
    return common(cls, cfg, ctx) | exclusions(cls, cfg, spec.name) | {
        "treatment": [p for p in cfg.inputs if input_kind(p) == "reads"],
        "control": [p for p in cfg.controls if input_kind(p) == "reads"],
        "format": "BAMPE" if cfg.paired_end else "AUTO"}


def peaks_choices(cfg: PipelineParams) -> dict[str, Any]:
    """MACS3 settings per assay: MACS3's fragment model needs shifted strand pairs, which
    5'-end assays (ChIP-nexus, PRO-cap) and ATAC lack, so a fixed-width pile is centred on
    every 5' end instead."""
    from bpnetkit.data.peaks import genome_size_for
    from bpnetkit.io.fasta import Genome

    # MACS3's "hs" only for human-sized genomes; smaller ones get their own length
    size = ({"genome_size": genome_size_for(dict(Genome(cfg.genome).chrom_sizes))}
            if cfg.genome and Path(cfg.genome).is_file() else {})
    if cfg.model_type == "chrombpnet" or not cfg.stranded:
        return size | {"nomodel": True, "shift": -75, "extsize": 150, "pvalue": 0.01}
    # 5'-end assays pile reads at the same positions: keep every read
    return size | {"nomodel": True, "shift": -50, "extsize": 100, "keep_dup": "all"}


def _bam2bw(spec: StepSpec, cfg: PipelineParams, ctx: StepContext, files: list[str],
            name: str) -> dict:
    values = common(spec.params_class, cfg, ctx) | {
        "inputs": files, "name": name, "stranded": cfg.stranded, "shift_plus": cfg.pos_shift,
        "shift_minus": cfg.neg_shift, "paired_end": cfg.paired_end}
    if cfg.fragments:  # read every input as a fragment file, whatever its name
        values["input_format"] = "fragments"
    return values


def build_bigwigs(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    if not cfg.inputs:
        raise StepNotApplicable("no reads given (a trained model is used)")
    if input_kind(cfg.inputs[0]) == "bigwig":
        raise StepNotApplicable("inputs are bigWigs already")
    return _bam2bw(spec, cfg, ctx, list(cfg.inputs), cfg.name)


def build_control_bigwigs(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    if not cfg.controls:
        raise StepNotApplicable("no controls")
    if input_kind(cfg.controls[0]) == "bigwig":
        raise StepNotApplicable("controls are bigWigs already")
    return _bam2bw(spec, cfg, ctx, list(cfg.controls), f"{cfg.name}.control")


def build_negatives(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    if cfg.negatives:
        raise StepNotApplicable("negatives given")
    if cfg.model and not cfg.inputs:
        raise StepNotApplicable("a trained model is used")
    cls = spec.params_class
    return common(cls, cfg, ctx) | exclusions(cls, cfg, spec.name) | {
        "peaks": peaks_path(cfg, ctx), "width": cfg.in_window}


def build_fit(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    if cfg.model:
        raise StepNotApplicable("a trained model is given")
    cls = spec.params_class
    values = common(cls, cfg, ctx) | exclusions(cls, cfg, spec.name) | {
        "peaks": peaks_path(cfg, ctx), "signals": signal_paths(cfg, ctx),
        "controls": control_paths(cfg, ctx), "split": split_spec(cfg, ctx.run_dir),
        "in_window": cfg.in_window, "out_window": cfg.out_window,
        "model_type": cfg.model_type}
    neg = negatives_path(cfg, ctx)
    if neg is not None:
        values["negatives"] = neg
    if cfg.bias_model is not None:
        values["bias_model"] = cfg.bias_model
    return values


def build_evaluate(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    if not cfg.inputs:
        raise StepNotApplicable("no observed data to compare with")
    return common(spec.params_class, cfg, ctx) | {
        "model": model_path(cfg, ctx), "peaks": peaks_path(cfg, ctx),
        "signals": signal_paths(cfg, ctx), "controls": control_paths(cfg, ctx),
        "split": split_spec(cfg, ctx.run_dir), "in_window": cfg.in_window}


def build_predict(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    values = common(spec.params_class, cfg, ctx) | {
        "model": model_path(cfg, ctx), "peaks": peaks_path(cfg, ctx),
        "in_window": cfg.in_window}
    if cfg.inputs:
        values["controls"] = control_paths(cfg, ctx)
    return values


def build_attribute(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    return common(spec.params_class, cfg, ctx) | {
        "model": interpret_model_path(cfg, ctx), "peaks": peaks_path(cfg, ctx),
        "in_window": cfg.in_window, "targets": [cfg.attribute_target]}


def build_seqlets(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    return common(spec.params_class, cfg, ctx) | {
        "attributions": attribution_h5(cfg, ctx),
        "regions": _out(ctx, "attribute").regions_bed}


def build_annotate(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    values = common(spec.params_class, cfg, ctx) | {
        "seqlets": _need(_out(ctx, "seqlets").seqlets, "seqlets"),
        "attributions": attribution_h5(cfg, ctx),
        "regions": _out(ctx, "attribute").regions_bed}
    modisco = ctx.outputs.get("modisco")
    if modisco is not None:  # label seqlets through the MoDISco pattern they belong to
        values["modisco"] = modisco.modisco_h5
    if cfg.motif_db is not None:
        values["motif_db"] = cfg.motif_db
    from bpnetkit.steps.seqlets import read_seqlet_bed

    # (while the up-front checks plan the run, the seqlet BED does not exist yet)
    if Path(values["seqlets"]).exists() and len(read_seqlet_bed(values["seqlets"])["chrom"]) == 0:
        why = (f"the seqlets step called no seqlets ({values['seqlets']} is empty; see its "
               f"log for the threshold to change)")
        if modisco is None or values.get("mode") == "pattern":
            raise StepNotApplicable(why)
        logger.warning("annotate: %s; only the MoDISco patterns are matched to the motif "
                       "database.", why)
        values["seqlets"] = None
    return values


def build_modisco(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    values = common(spec.params_class, cfg, ctx) | {"attributions": attribution_h5(cfg, ctx)}
    if cfg.motif_db is not None:
        values["motif_db"] = cfg.motif_db
    return values


def build_marginalize(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    patterns = _out(ctx, "modisco").patterns_meme
    if patterns is None and "motif_db" not in (cfg.marginalize_parameters or {}):
        raise StepNotApplicable("MoDISco found no patterns to marginalize (set "
                                "marginalize_parameters.motif_db to test database motifs)")
    values = common(spec.params_class, cfg, ctx) | {
        "model": interpret_model_path(cfg, ctx), "in_window": cfg.in_window}
    if patterns is not None:
        values["motif_db"] = patterns
    regions = negatives_path(cfg, ctx)
    if regions is not None:
        values["regions"] = regions
    return values


def build_hits(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    modisco = _out(ctx, "modisco")
    if not modisco.patterns_meme:
        raise StepNotApplicable("MoDISco found no patterns to call hits of")
    return common(spec.params_class, cfg, ctx) | {
        "attributions": attribution_h5(cfg, ctx),
        "regions": _out(ctx, "attribute").regions_bed,
        "modisco_h5": modisco.modisco_h5}


def build_report(spec: StepSpec, cfg: PipelineParams, ctx: StepContext) -> dict:
    values = common(spec.params_class, cfg, ctx) | {
        "run_dir": str(ctx.run_dir),
        "outputs": {k: v.to_dict() for k, v in ctx.outputs.items()},
        "pipeline": str(ctx.run_dir / "pipeline.json")}
    for key in ("truth", "motif_db"):
        if getattr(cfg, key) is not None:
            values[key] = getattr(cfg, key)
    return values


@dataclass(frozen=True)
class Builder:
    """How the pipeline makes one step's parameters.

    Attributes
    ----------
    build : callable
        ``build(spec, cfg, ctx) -> dict`` of the values the pipeline fills in; raises
        :class:`~bpnetkit.pipeline.runner.StepNotApplicable` when the step has nothing to do.
    fills : frozenset of str
        Every ``Params`` field ``build`` may fill. ``pipeline-json`` writes the other fields
        (the step's knobs) with their defaults.
    choices : callable or None
        ``choices(cfg) -> dict``: knob values the pipeline picks for this kind of run (they
        replace the step's defaults; the step's ``*_parameters`` object overrides them).
    """

    build: Callable[[StepSpec, PipelineParams, StepContext], dict]
    fills: frozenset[str]
    choices: Callable[[PipelineParams], dict[str, Any]] | None = None


def _f(*names: str) -> frozenset[str]:
    return frozenset(COMMON_FIELDS) | frozenset(names)


BUILDERS: dict[str, Builder] = {
    "peaks": Builder(build_peaks, _f("treatment", "control", "format", "blacklist",
                                     "exclusion_lists"), peaks_choices),
    "bigwigs": Builder(build_bigwigs, _f("inputs", "stranded", "shift_plus", "shift_minus",
                                         "paired_end", "input_format")),
    "control_bigwigs": Builder(build_control_bigwigs,
                               _f("inputs", "stranded", "shift_plus", "shift_minus",
                                  "paired_end", "input_format")),
    "negatives": Builder(build_negatives, _f("peaks", "width", "blacklist", "exclusion_lists")),
    "fit": Builder(build_fit, _f("peaks", "signals", "controls", "split", "in_window",
                                 "out_window", "model_type", "negatives", "bias_model",
                                 "blacklist", "exclusion_lists")),
    "evaluate": Builder(build_evaluate, _f("model", "peaks", "signals", "controls", "split",
                                           "in_window")),
    "predict": Builder(build_predict, _f("model", "peaks", "in_window", "controls")),
    "attribute": Builder(build_attribute, _f("model", "peaks", "in_window", "targets")),
    "seqlets": Builder(build_seqlets, _f("attributions", "regions")),
    "annotate": Builder(build_annotate, _f("seqlets", "attributions", "regions", "motif_db",
                                           "modisco")),
    "modisco": Builder(build_modisco, _f("attributions", "motif_db")),
    "hits": Builder(build_hits, _f("attributions", "regions", "modisco_h5")),
    "marginalize": Builder(build_marginalize, _f("model", "in_window", "motif_db", "regions")),
    "report": Builder(build_report, _f("run_dir", "outputs", "pipeline", "truth", "motif_db")),
}


def check_override_keys(cls: type, overrides: dict, key: str) -> None:
    """Raise when a ``*_parameters`` object names a field ``cls`` lacks or a reserved one."""
    names = _fields(cls)
    for k in overrides:
        if k.startswith("_"):  # comments, e.g. "_required" of --print-defaults
            continue
        if k in RESERVED_FIELDS:
            raise ConfigError(f"pipeline: '{key}.{k}' cannot be set: the pipeline writes each "
                              f"step into <output_dir>/<step>/; set the top-level "
                              f"'output_dir' instead.")
        if k not in names:
            near = difflib.get_close_matches(k, names, n=1, cutoff=0.5)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            valid = sorted(n for n in names if n not in RESERVED_FIELDS)
            raise ConfigError(f"pipeline: '{key}' has key '{k}' that its step does not "
                              f"know.{hint} Valid keys: {', '.join(valid)}.")


def make_params(spec: StepSpec, cfg: PipelineParams, filled: dict[str, Any]) -> Any:
    """The step's ``Params``: its defaults, the pipeline's choices, the values the builder
    filled, then the ``*_parameters`` object of the pipeline JSON, validated by
    :func:`bpnetkit.config.from_dict` (names, types and ``Params.validate()``)."""
    from bpnetkit.config import from_dict

    cls = spec.params_class
    builder = BUILDERS[spec.name]
    undeclared = sorted(set(filled) - builder.fills)
    if undeclared:  # a bug of this module: pipeline-json would write them as knobs
        raise RuntimeError(f"builder of '{spec.name}' fills {undeclared}, not declared in "
                           f"BUILDERS['{spec.name}'].fills")
    overrides = dict(getattr(cfg, spec.key) or {})
    check_override_keys(cls, overrides, spec.key)
    values = (builder.choices(cfg) if builder.choices else {}) | filled | overrides
    return from_dict(cls, values, where=f"pipeline step '{spec.name}' ('{spec.key}' and the "
                                        f"values the pipeline fills in)")


def _step_builder(spec: StepSpec) -> Callable[[StepContext], Any]:
    builder = BUILDERS[spec.name]

    def build(ctx: StepContext) -> Any:
        cfg: PipelineParams = ctx.config
        if spec.name in cfg.skip_steps:
            raise StepNotApplicable("listed in skip_steps")
        return make_params(spec, cfg, builder.build(spec, cfg, ctx))

    return build


def build_steps(cfg: PipelineParams) -> list[Step]:
    """The steps of a pipeline run, in order.

    Steps listed in ``cfg.skip_steps`` are not run (recorded as not needed).
    """
    unknown = [s for s in cfg.skip_steps if s not in BUILDERS]
    if unknown:
        raise ConfigError(f"pipeline: skip_steps names unknown step(s) {unknown}; steps are "
                          f"{', '.join(STEP_ORDER)}.")
    return [Step(name=spec.name, build=_step_builder(spec), function=f"{spec.module}:run",
                 requires=spec.requires, outputs_class=f"{spec.module}:Outputs",
                 description=spec.description) for spec in PIPELINE_STEPS]


def step_knobs(cfg: PipelineParams) -> dict[str, dict[str, Any]]:
    """Every ``*_parameters`` object with every knob of its step and its value for ``cfg``.

    A knob is a ``Params`` field the pipeline does not fill itself; its value is the step's
    default, the pipeline's choice for this kind of run (e.g. MACS3 settings per assay), or
    what ``cfg``'s ``*_parameters`` object already sets. Steps that share a key (bam2bw)
    share the object.
    """
    from bpnetkit.config import field_defaults

    knobs: dict[str, dict[str, Any]] = {}
    for spec in PIPELINE_STEPS:
        builder = BUILDERS[spec.name]
        defaults, _ = field_defaults(spec.params_class)
        chosen = builder.choices(cfg) if builder.choices else {}
        obj = knobs.setdefault(spec.key, {})
        for name, default in defaults.items():
            if name in builder.fills or name in RESERVED_FIELDS:
                continue
            obj.setdefault(name, chosen.get(name, default))
        obj.update(getattr(cfg, spec.key) or {})
    return knobs


# -- planned outputs (checking every step's parameters before the first one runs) -----------
def planned_outputs(spec: StepSpec, params: Any, step_dir: Path) -> Any:
    """Stand-in ``Outputs`` of a step that has not run yet: every path field names a file of
    ``step_dir`` (lists: one per strand of a stranded signal; dicts: one per attribution
    target), so that later builders can be checked before anything runs."""
    cls = spec.outputs_class
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    n_tracks = 2 if getattr(params, "stranded", False) else 1
    targets = list(getattr(params, "targets", []) or [])
    for f in dataclasses.fields(cls):
        text = str(hints.get(f.name, ""))
        path = str(step_dir / f"{f.name}.planned")
        if f.metadata.get("summary") or "str" not in text:
            if f.default is not dataclasses.MISSING:
                values[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                values[f.name] = f.default_factory()
            else:
                values[f.name] = 0
        elif text.startswith("dict"):
            values[f.name] = {t: f"{path}.{t}" for t in targets}
        elif text.startswith("list"):
            values[f.name] = [f"{path}.{i}" for i in range(n_tracks)]
        else:
            values[f.name] = path
    return cls(**values)


__all__ = ["BUILDERS", "Builder", "build_steps", "make_params", "step_knobs",
           "planned_outputs", "check_override_keys", "peaks_path", "signal_paths",
           "control_paths", "negatives_path", "model_path", "interpret_model_path",
           "split_spec", "split_file", "explicit_split", "attribution_h5", "STEP_ORDER",
           "get_step"]
