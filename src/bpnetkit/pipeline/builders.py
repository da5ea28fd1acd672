"""The pipeline's step graph: which step runs which area function with which parameters.

Each builder turns the pipeline configuration plus the outputs of earlier steps into the
parameters of one step (a dict validated into the step's own params dataclass by the runner;
keys the step does not have are dropped and reported). ``<step>_parameters`` objects of the
pipeline JSON override what the builder chose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bpnetkit.errors import ConfigError, InputError
from bpnetkit.pipeline.config import PipelineParams, input_kind
from bpnetkit.pipeline.runner import Step, StepContext, StepNotApplicable

# step name -> (function, params class, pipeline key holding its overrides)
STEP_FUNCTIONS: dict[str, tuple[str, str | None, str]] = {
    "peaks": ("bpnetkit.data.peaks:run_peaks", "bpnetkit.data.peaks:PeaksParams",
              "peaks_parameters"),
    "bigwigs": ("bpnetkit.data.reads:run_bam2bw", "bpnetkit.data.reads:Bam2BwParams",
                "bam2bw_parameters"),
    "control_bigwigs": ("bpnetkit.data.reads:run_bam2bw", "bpnetkit.data.reads:Bam2BwParams",
                        "bam2bw_parameters"),
    "negatives": ("bpnetkit.data.negatives:run_negatives",
                  "bpnetkit.data.negatives:NegativesParams", "negatives_parameters"),
    "fit": ("bpnetkit.train.recipes:run_fit", "bpnetkit.train.recipes:FitParams",
            "fit_parameters"),
    "evaluate": ("bpnetkit.train.evaluate:run_evaluate",
                 "bpnetkit.train.evaluate:EvaluateParams", "evaluate_parameters"),
    "predict": ("bpnetkit.steps.predict:run_predict",
                "bpnetkit.steps.predict:PredictParams", "predict_parameters"),
    "attribute": ("bpnetkit.steps.attribute:run_attribute",
                  "bpnetkit.steps.attribute:AttributeParams", "attribute_parameters"),
    "seqlets": ("bpnetkit.motifs.seqlets:run_seqlets",
                "bpnetkit.motifs.seqlets:SeqletsParams", "seqlet_parameters"),
    "annotate": ("bpnetkit.motifs.annotate:run_annotate",
                 "bpnetkit.motifs.annotate:AnnotateParams", "annotation_parameters"),
    "modisco": ("bpnetkit.motifs.modisco:run_modisco",
                "bpnetkit.motifs.modisco:ModiscoParams", "modisco_parameters"),
    "marginalize": ("bpnetkit.motifs.marginalize:run_marginalize",
                    "bpnetkit.motifs.marginalize:MarginalizeParams",
                    "marginalize_parameters"),
    "report": ("bpnetkit.report.html:run_report", "bpnetkit.report.html:ReportParams",
               "report_parameters"),
}

STEP_ORDER = list(STEP_FUNCTIONS)


def pick(outputs: dict[str, str] | None, names: tuple[str, ...] = (),
         suffixes: tuple[str, ...] = ()) -> str | None:
    """The first output named one of ``names``, else the first ending with a suffix."""
    outputs = outputs or {}
    for n in names:
        if outputs.get(n):
            return outputs[n]
    for suf in suffixes:
        for v in outputs.values():
            if isinstance(v, str) and v.endswith(suf):
                return v
    return None


def pick_all(outputs: dict[str, str] | None, suffixes: tuple[str, ...]) -> list[str]:
    """Every output ending with one of ``suffixes``, sorted by name."""
    outputs = outputs or {}
    return [outputs[k] for k in sorted(outputs) if str(outputs[k]).endswith(suffixes)]


def _merge(base: dict[str, Any], cfg: PipelineParams, key: str) -> dict[str, Any]:
    out = dict(base)
    out.update(getattr(cfg, key) or {})
    return out


def _need(value: Any, what: str) -> Any:
    if value is None or value == []:
        raise InputError(f"no {what} available (the step producing it did not report it).")
    return value


def _common(cfg: PipelineParams, ctx: StepContext) -> dict[str, Any]:
    return {"genome": cfg.genome, "chrom_sizes": cfg.chrom_sizes,
            "output_dir": str(ctx.step_dir), "name": cfg.name,
            "random_state": cfg.random_state, "device": cfg.device,
            "batch_size": cfg.batch_size, "verbose": cfg.verbose}


def peaks_path(cfg: PipelineParams, ctx: StepContext) -> str:
    """The peaks of this run: given, or called by the peaks step."""
    if cfg.peaks:
        return cfg.peaks
    return _need(pick(ctx.outputs.get("peaks"), ("peaks", "narrowpeak", "narrowPeak"),
                      (".narrowPeak", ".narrowPeak.gz", ".bed", ".bed.gz")), "peaks")


def signal_paths(cfg: PipelineParams, ctx: StepContext) -> list[str]:
    """bigWigs of the experiment: given, or written by the bigwigs step."""
    if cfg.inputs and input_kind(cfg.inputs[0]) == "bigwig":
        return list(cfg.inputs)
    out = ctx.outputs.get("bigwigs")
    return _need(_bigwigs(out, cfg.stranded), "signal bigWigs")


def control_paths(cfg: PipelineParams, ctx: StepContext) -> list[str]:
    """bigWigs of the control (may be empty)."""
    if not cfg.controls:
        return []
    if input_kind(cfg.controls[0]) == "bigwig":
        return list(cfg.controls)
    return _need(_bigwigs(ctx.outputs.get("control_bigwigs"), cfg.stranded), "control bigWigs")


def _bigwigs(out: dict[str, str] | None, stranded: bool) -> list[str]:
    out = out or {}
    if stranded:
        plus = pick(out, ("plus", "bigwig_plus", "pos", "+"),
                    (".+.bw", ".plus.bw", "_plus.bw", ".pos.bw"))
        minus = pick(out, ("minus", "bigwig_minus", "neg", "-"),
                     (".-.bw", ".minus.bw", "_minus.bw", ".neg.bw"))
        if plus and minus:
            return [plus, minus]
    sig = pick(out, ("signal", "bigwig_signal", "unstranded", "bigwig"), ())
    if sig:
        return [sig]
    if "signals" in out:
        try:
            return list(json.loads(out["signals"]))
        except (ValueError, TypeError):
            return [out["signals"]]
    return pick_all(out, (".bw", ".bigWig", ".bigwig"))


def negatives_path(cfg: PipelineParams, ctx: StepContext) -> str | None:
    """Background regions: given, or picked by the negatives step."""
    if cfg.negatives:
        return cfg.negatives
    return pick(ctx.outputs.get("negatives"), ("negatives", "bed"), (".bed", ".bed.gz"))


def model_path(cfg: PipelineParams, ctx: StepContext) -> str:
    """The trained model: given, or written by the fit step."""
    if cfg.model:
        return cfg.model
    return _need(pick(ctx.outputs.get("fit"), ("model", "chrombpnet", "model_dir"),
                      (".safetensors",)), "trained model")


def interpret_model_path(cfg: PipelineParams, ctx: StepContext) -> str:
    """The model to explain: for ChromBPNet the bias-free accessibility model, so that
    attributions and marginalization show the regulatory code rather than the enzyme bias
    (the official ChromBPNet practice); otherwise the trained model."""
    if cfg.model_type == "chrombpnet" and not cfg.model:
        nobias = (ctx.outputs.get("fit") or {}).get("model_nobias")
        if nobias:
            return nobias
    return model_path(cfg, ctx)


def split_spec(cfg: PipelineParams, run_dir: Path) -> str:
    """The split: given, written from explicit chromosome lists, or ``fold_0``."""
    if cfg.split:
        return cfg.split
    if cfg.training_chroms or cfg.validation_chroms or cfg.test_chroms:
        path = run_dir / "split.json"
        spec = {"train": cfg.training_chroms or [], "valid": cfg.validation_chroms or [],
                "test": cfg.test_chroms or []}
        text = json.dumps(spec, indent=2) + "\n"
        if not path.exists() or path.read_text() != text:
            from bpnetkit.utils import write_text_atomic

            run_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, text)
        return str(path)
    return "fold_0"


def motif_db_path(cfg: PipelineParams) -> str | None:
    """The motif database (None: built-in)."""
    return cfg.motif_db


# -- builders ------------------------------------------------------------------------------
def build_peaks(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    if cfg.peaks:
        raise StepNotApplicable("peaks given")
    reads = [p for p in cfg.inputs if input_kind(p) == "reads"]
    ctl = [p for p in cfg.controls if input_kind(p) == "reads"]
    base = _common(cfg, ctx) | {"treatment": reads, "control": ctl,
                                "format": "BAMPE" if cfg.paired_end else "AUTO",
                                "blacklist": (cfg.exclusion_lists or [None])[0]}
    # MACS3's fragment model needs shifted strand pairs, which 5'-end assays (ChIP-nexus,
    # PRO-cap) and ATAC lack: centre a fixed-width pile on every 5' end instead.
    if cfg.model_type == "chrombpnet" or not cfg.stranded:
        base.update(nomodel=True, shift=-75, extsize=150, pvalue=0.01)
    else:
        # 5'-end assays pile reads at the same positions: keep every read
        base.update(nomodel=True, shift=-50, extsize=100, keep_dup="all")
    base = {k: v for k, v in base.items() if v is not None}
    return _merge(base, cfg, "peaks_parameters")


def _bam2bw(cfg: PipelineParams, ctx: StepContext, files: list[str], name: str) -> dict:
    base = _common(cfg, ctx) | {"inputs": files, "name": name, "stranded": cfg.stranded,
                                "shift_plus": cfg.pos_shift, "shift_minus": cfg.neg_shift,
                                "paired_end": cfg.paired_end or cfg.fragments}
    base = {k: v for k, v in base.items() if v is not None}
    return _merge(base, cfg, "bam2bw_parameters")


def build_bigwigs(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    if not cfg.inputs:
        raise StepNotApplicable("no reads given (a trained model is used)")
    if input_kind(cfg.inputs[0]) == "bigwig":
        raise StepNotApplicable("inputs are bigWigs already")
    return _bam2bw(cfg, ctx, list(cfg.inputs), cfg.name)


def build_control_bigwigs(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    if not cfg.controls:
        raise StepNotApplicable("no controls")
    if input_kind(cfg.controls[0]) == "bigwig":
        raise StepNotApplicable("controls are bigWigs already")
    return _bam2bw(cfg, ctx, list(cfg.controls), f"{cfg.name}.control")


def build_negatives(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    if cfg.negatives:
        raise StepNotApplicable("negatives given")
    if cfg.model and not cfg.inputs:
        raise StepNotApplicable("a trained model is used")
    base = _common(cfg, ctx) | {"peaks": peaks_path(cfg, ctx), "width": cfg.in_window,
                                "blacklist": (cfg.exclusion_lists or [None])[0]}
    base = {k: v for k, v in base.items() if v is not None}
    return _merge(base, cfg, "negatives_parameters")


def build_fit(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    if cfg.model:
        raise StepNotApplicable("a trained model is given")
    base = _common(cfg, ctx) | {
        "peaks": peaks_path(cfg, ctx), "negatives": negatives_path(cfg, ctx),
        "signals": signal_paths(cfg, ctx), "controls": control_paths(cfg, ctx),
        "split": split_spec(cfg, ctx.run_dir), "in_window": cfg.in_window,
        "out_window": cfg.out_window, "model_type": cfg.model_type, "recipe": cfg.model_type,
        "bias_model": cfg.bias_model, "exclusion_lists": cfg.exclusion_lists}
    base = {k: v for k, v in base.items() if v is not None}
    return _merge(base, cfg, "fit_parameters")


def _eval_like(cfg: PipelineParams, ctx: StepContext, key: str) -> dict:
    base = _common(cfg, ctx) | {
        "model": model_path(cfg, ctx), "peaks": peaks_path(cfg, ctx),
        "regions": peaks_path(cfg, ctx), "signals": signal_paths(cfg, ctx) if cfg.inputs
        else None, "controls": control_paths(cfg, ctx) if cfg.inputs else None,
        "split": split_spec(cfg, ctx.run_dir), "in_window": cfg.in_window,
        "out_window": cfg.out_window}
    base = {k: v for k, v in base.items() if v is not None}
    return _merge(base, cfg, key)


def build_evaluate(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    if not cfg.inputs:
        raise StepNotApplicable("no observed data to compare with")
    return _eval_like(cfg, ctx, "evaluate_parameters")


def build_predict(ctx: StepContext) -> dict:
    return _eval_like(ctx.config, ctx, "predict_parameters")


def build_attribute(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    base = _eval_like(cfg, ctx, "attribute_parameters")
    if "model" not in (cfg.attribute_parameters or {}):
        base["model"] = interpret_model_path(cfg, ctx)
    if "targets" not in (cfg.attribute_parameters or {}):
        base["targets"] = [cfg.attribute_target]
    return base


def attribution_path(ctx: StepContext) -> str:
    """The attribution h5 (of ``attribute_target``) written by the attribute step."""
    target = ctx.config.attribute_target
    return _need(pick(ctx.outputs.get("attribute"), (f"{target}_h5", "attributions", "h5"),
                      (".h5",)), "attributions")


def build_seqlets(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    base = _common(cfg, ctx) | {"attributions": attribution_path(ctx),
                                "regions": attribution_regions(ctx)}
    base = {k: v for k, v in base.items() if v is not None}
    return _merge(base, cfg, "seqlet_parameters")


def attribution_regions(ctx: StepContext) -> str | None:
    """The BED of the attribution rows, when the attribute step wrote one."""
    return pick(ctx.outputs.get("attribute"), ("regions_bed", "regions", "bed"), (".bed",))


def build_annotate(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    seqlets = _need(pick(ctx.outputs.get("seqlets"), ("seqlets", "bed"),
                         (".bed", ".tsv")), "seqlets")
    base = _common(cfg, ctx) | {"seqlets": seqlets, "motif_db": motif_db_path(cfg),
                                "attributions": attribution_path(ctx),
                                "regions": attribution_regions(ctx)}
    base = {k: v for k, v in base.items() if v is not None}
    return _merge(base, cfg, "annotation_parameters")


def build_modisco(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    base = _common(cfg, ctx) | {"attributions": attribution_path(ctx),
                                "motif_db": motif_db_path(cfg)}
    base = {k: v for k, v in base.items() if v is not None}
    return _merge(base, cfg, "modisco_parameters")


def build_marginalize(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    mod = ctx.outputs.get("modisco") or {}
    patterns = pick(mod, ("patterns_meme",), (".meme", ".meme.txt"))
    base = _common(cfg, ctx) | {"model": interpret_model_path(cfg, ctx),
                                "motif_db": patterns or motif_db_path(cfg),
                                "regions": negatives_path(cfg, ctx),
                                "in_window": cfg.in_window}
    base = {k: v for k, v in base.items() if v is not None}
    if patterns is None and not (cfg.marginalize_parameters or {}).get("motif_db"):
        raise StepNotApplicable("MoDISco found no patterns to marginalize (set "
                                "marginalize_parameters.motif_db to test database motifs)")
    return _merge(base, cfg, "marginalize_parameters")


def build_report(ctx: StepContext) -> dict:
    cfg: PipelineParams = ctx.config
    base = {"run_dir": str(ctx.run_dir), "output_dir": str(ctx.step_dir), "name": cfg.name,
            "truth": cfg.truth, "motif_db": motif_db_path(cfg),
            "outputs": {k: v for k, v in ctx.outputs.items()},
            "pipeline": str(ctx.run_dir / "pipeline.json")}
    return _merge(base, cfg, "report_parameters")


_BUILDERS = {
    "peaks": (build_peaks, (), "call peaks with MACS3"),
    "bigwigs": (build_bigwigs, (), "read 5' ends -> bigWigs"),
    "control_bigwigs": (build_control_bigwigs, (), "control reads -> bigWigs"),
    "negatives": (build_negatives, ("peaks",), "GC-matched background regions"),
    # negatives are optional for BPNet (ChromBPNet's fit says so itself when they are missing)
    "fit": (build_fit, ("peaks", "bigwigs", "control_bigwigs"), "train the model"),
    "evaluate": (build_evaluate, ("fit",), "metrics on held-out peaks"),
    "predict": (build_predict, ("fit",), "predicted bigWigs"),
    "attribute": (build_attribute, ("fit",), "DeepLIFT/SHAP attributions"),
    "seqlets": (build_seqlets, ("attribute",), "seqlets from attributions"),
    "annotate": (build_annotate, ("seqlets",), "match seqlets to the motif database"),
    "modisco": (build_modisco, ("attribute",), "TF-MoDISco patterns and their matches"),
    "marginalize": (build_marginalize, ("fit", "modisco"), "in-silico marginalization"),
    "report": (build_report, (), "HTML report"),
}


def build_steps(cfg: PipelineParams) -> list[Step]:
    """The steps of a pipeline run, in order.

    Steps listed in ``cfg.skip_steps`` are kept out (their dependants are blocked).
    """
    unknown = [s for s in cfg.skip_steps if s not in _BUILDERS]
    if unknown:
        raise ConfigError(f"pipeline: skip_steps names unknown step(s) {unknown}; steps are "
                          f"{', '.join(STEP_ORDER)}.")
    steps = []
    for name in STEP_ORDER:
        builder, requires, desc = _BUILDERS[name]
        func, cls, _ = STEP_FUNCTIONS[name]
        if name in cfg.skip_steps:
            def builder(ctx, _n=name):  # noqa: ARG001
                raise StepNotApplicable("listed in skip_steps")
        steps.append(Step(name=name, build=builder, function=func, requires=requires,
                          params_class=cls, description=desc))
    return steps
