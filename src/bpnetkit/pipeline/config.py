"""The pipeline configuration: one JSON from reads to motifs.

:class:`PipelineParams` lists every valid key. A bpnet-lite pipeline JSON (keys ``sequences``,
``loci``, ``signals``, ``motifs``, ``preprocessing_parameters``, ``fit_parameters``, ...) is
accepted too: :func:`translate_bpnetlite` renames its keys to ours first (see
``BPNETLITE_KEYS``). Unknown keys are errors naming the nearest valid key.

Per-step settings go into ``<step>_parameters`` objects whose keys are those of the step's own
JSON (``bpnetkit fit -p`` etc.); the pipeline fills in the data keys (genome, peaks, signals,
model, output folder) itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bpnetkit.errors import ConfigError
from bpnetkit.pipeline.registry import PARAMETER_KEYS

READ_SUFFIXES = (".bam", ".sam", ".tsv", ".tsv.gz", ".bed", ".bed.gz", ".tagAlign",
                 ".tagAlign.gz", ".fragments.tsv.gz")
BIGWIG_SUFFIXES = (".bw", ".bigwig", ".bigWig")

# the ``*_parameters`` keys, one per step module of the pipeline (see registry.STEPS)
STEP_PARAMETER_KEYS = PARAMETER_KEYS


#: ``attribute_target`` by ``model_type`` when not given. ChromBPNet: the bias-free model's
#: count attributions; on the recovery benchmark's ATAC variant its profile attributions gave
#: MoDISco a Tn5-bias pattern (q < 1e-7) on 2 of 4 data sets and named 2 of 4 planted motifs
#: exactly, its count attributions no significant bias pattern and 3-4 (``docs/training.md``).
DEFAULT_ATTRIBUTE_TARGET: dict[str, str] = {"bpnet": "profile", "procapnet": "profile",
                                            "chrombpnet": "counts"}


@dataclass
class PipelineParams:
    """Parameters of ``bpnetkit pipeline``.

    Attributes
    ----------
    name : str
        Name of the experiment (used in file names).
    output_dir : str or None
        Run folder; every step writes into ``output_dir/<step>/``. None: ``./<name>``.
    genome : str
        Genome FASTA.
    chrom_sizes : str or None
        Optional chromosome sizes file (derived from the FASTA index when absent).
    peaks : str or None
        Peaks (BED/narrowPeak). None: called with MACS3 from the reads.
    negatives : str or None
        Background regions (BED). None: GC-matched regions are picked.
    inputs : list of str
        Experiment data: read files (BAM/SAM/tsv) or bigWigs (stranded: [plus, minus]).
    controls : list of str
        Control reads or bigWigs; may be empty.
    motif_db : str or None
        MEME motif database; None uses the built-in JASPAR collection.
    model_type : {"bpnet", "chrombpnet", "procapnet"}
        Which model and training recipe.
    stranded : bool
        Count reads per strand (ChIP-nexus, PRO-cap) or together (ATAC, DNase).
    fragments, paired_end : bool
        Treat reads as fragments / paired-end.
    pos_shift, neg_shift : int
        Shifts of 5' ends on the plus / minus strand (ATAC: 4 / -4).
    model : str or None
        A trained model; when given, training is skipped.
    bias_model : str or None
        ChromBPNet only: a trained bias model.
    split : str or None
        Chromosome split ("fold_0", "bpnet_lite" or a JSON path). None: derived from
        ``training_chroms``/``validation_chroms``/``test_chroms`` when given, else "fold_0".
    training_chroms, validation_chroms, test_chroms : list of str or None
        Explicit chromosome split.
    in_window, out_window : int
        Input and output lengths.
    batch_size : int or None
        Batch size of every step; None: each step's own default (``fit``: its recipe's,
        which for the default BPNet recipe depends on the number of training peaks; the
        prediction and attribution steps: 64).
    device : str or None
        None: CUDA when available, else CPU.
    random_state : int
        Seed of every step.
    verbose : bool
        Print progress.
    example_cache : str or None
        A folder where ``fit`` and ``evaluate`` keep the extracted examples, memory-mapped,
        for later runs on the same files and windows (:mod:`bpnetkit.data.example_cache`:
        e.g. a re-run with other training settings skips the extraction); None: no cache.
        It is not an input: its content never makes a step run again.
    exclusion_lists : list of str or None
        BED files of regions to exclude.
    attribute_target : {"profile", "counts"} or None
        Which output the attributions (and so seqlets and MoDISco) explain; None: by
        ``model_type`` (:data:`DEFAULT_ATTRIBUTE_TARGET`: ``"counts"`` for ChromBPNet, whose
        profile attributions carry what is left of the enzyme's bias, ``"profile"`` for
        BPNet and ProCapNet; measured in ``docs/training.md``).
    truth : str or None
        Optional JSON of planted motifs (written by ``bpnetkit demo``) for the summary table.
    skip_steps : list of str
        Steps not to run (their dependants are blocked).
    *_parameters : dict
        Overrides for one step's JSON.
    """

    genome: str = ""
    name: str = "bpnetkit"
    output_dir: str | None = None
    chrom_sizes: str | None = None
    peaks: str | None = None
    negatives: str | None = None
    inputs: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    motif_db: str | None = None
    model_type: Literal["bpnet", "chrombpnet", "procapnet"] = "bpnet"
    stranded: bool = True
    fragments: bool = False
    paired_end: bool = False
    pos_shift: int = 0
    neg_shift: int = 0
    model: str | None = None
    bias_model: str | None = None
    split: str | None = None
    training_chroms: list[str] | None = None
    validation_chroms: list[str] | None = None
    test_chroms: list[str] | None = None
    in_window: int = 2114
    out_window: int = 1000
    batch_size: int | None = None
    device: str | None = None
    random_state: int = 0
    verbose: bool = True
    example_cache: str | None = None
    exclusion_lists: list[str] | None = None
    attribute_target: Literal["profile", "counts"] | None = None
    truth: str | None = None
    skip_steps: list[str] = field(default_factory=list)
    peaks_parameters: dict[str, Any] = field(default_factory=dict)
    bam2bw_parameters: dict[str, Any] = field(default_factory=dict)
    negatives_parameters: dict[str, Any] = field(default_factory=dict)
    fit_parameters: dict[str, Any] = field(default_factory=dict)
    evaluate_parameters: dict[str, Any] = field(default_factory=dict)
    predict_parameters: dict[str, Any] = field(default_factory=dict)
    attribute_parameters: dict[str, Any] = field(default_factory=dict)
    seqlet_parameters: dict[str, Any] = field(default_factory=dict)
    annotation_parameters: dict[str, Any] = field(default_factory=dict)
    modisco_parameters: dict[str, Any] = field(default_factory=dict)
    hits_parameters: dict[str, Any] = field(default_factory=dict)
    marginalize_parameters: dict[str, Any] = field(default_factory=dict)
    report_parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.attribute_target is None:
            self.attribute_target = DEFAULT_ATTRIBUTE_TARGET.get(self.model_type, "profile")

    def validate(self) -> None:
        """Check values that types cannot express."""
        if not self.genome:
            raise ConfigError("pipeline: key 'genome' (the genome FASTA) is required.")
        if not self.inputs and self.model is None:
            raise ConfigError("pipeline: key 'inputs' is empty: give the experiment's reads "
                              "(BAM/SAM/tsv) or bigWigs, or a trained 'model'.")
        if self.in_window <= 0 or self.out_window <= 0 or self.out_window > self.in_window:
            raise ConfigError(f"pipeline: need 0 < out_window <= in_window, got in_window="
                              f"{self.in_window}, out_window={self.out_window}.")
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or not
                                            isinstance(self.batch_size, int) or
                                            self.batch_size <= 0):
            raise ConfigError(f"pipeline: batch_size must be positive, got {self.batch_size}.")
        kinds = {input_kind(p) for p in self.inputs}
        if len(kinds) > 1:
            raise ConfigError(f"pipeline: 'inputs' mixes read files and bigWigs: "
                              f"{self.inputs}. Give one kind.")
        if kinds == {"bigwig"} and self.stranded and len(self.inputs) != 2:
            raise ConfigError(f"pipeline: stranded bigWig inputs must be two files [plus, "
                              f"minus], got {len(self.inputs)}; set \"stranded\": false for "
                              f"one unstranded track.")
        if kinds == {"bigwig"} and self.peaks is None:
            raise ConfigError("pipeline: peaks cannot be called from bigWig inputs; give "
                              "'peaks' (BED/narrowPeak) or read files as 'inputs'.")

    @property
    def run_dir(self) -> Path:
        """The run folder."""
        return Path(self.output_dir) if self.output_dir else Path(self.name)


def input_kind(path: str) -> str:
    """``"bigwig"`` or ``"reads"`` from a file name."""
    return "bigwig" if path.endswith(BIGWIG_SUFFIXES) else "reads"


# bpnet-lite key -> our key (None: accepted and ignored)
BPNETLITE_KEYS: dict[str, str | None] = {
    "sequences": "genome",
    "loci": "peaks",
    "signals": "inputs",
    "motifs": "motif_db",
    "seqlet_parameters": "seqlet_parameters",
    "annotation_parameters": "annotation_parameters",
    "modisco_motifs_parameters": "modisco_parameters",
    "modisco_report_parameters": "modisco_parameters",
    "dtype": None,
    "skip": None,
    "dry_run": None,
    "min_counts": None,
    "max_counts": None,
}


def is_bpnetlite(data: dict) -> bool:
    """True when ``data`` looks like a bpnet-lite pipeline JSON."""
    return any(k in data for k in ("sequences", "loci", "preprocessing_parameters",
                                   "modisco_motifs_parameters"))


def _first(value: Any, key: str) -> Any:
    if isinstance(value, list):
        if len(value) > 1:
            raise ConfigError(f"pipeline: '{key}' lists {len(value)} files; bpnetkit takes one "
                              f"(merge them first, e.g. cat a.bed b.bed | sort -k1,1 -k2,2n).")
        return value[0] if value else None
    return value


def translate_bpnetlite(data: dict) -> dict:
    """Rename the keys of a bpnet-lite pipeline JSON to :class:`PipelineParams` keys."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "preprocessing_parameters":
            pp = dict(value or {})
            if "unstranded" in pp:
                out["stranded"] = not pp.pop("unstranded")
            for k in ("fragments", "paired_end", "pos_shift", "neg_shift"):
                if k in pp:
                    out[k] = pp.pop(k)
            peaks = {k[len("callpeaks_"):]: v for k, v in pp.items()
                     if k.startswith("callpeaks_") and v is not None}
            if peaks:
                out["peaks_parameters"] = peaks
            continue
        if key in BPNETLITE_KEYS:
            new = BPNETLITE_KEYS[key]
            if new is None:
                continue
            if new in ("peaks",):
                value = _first(value, key)
            if new == "modisco_parameters":
                merged = dict(out.get(new, {}))
                merged.update({k: v for k, v in (value or {}).items() if v is not None})
                value = merged
            out[new] = value
            continue
        if key == "negatives":
            value = _first(value, key)
        if key == "controls" and value is None:
            value = []
        if key == "random_state" and value is None:
            value = 0
        if key == "device" and value == "cuda":
            value = None  # bpnet-lite's default; we pick CUDA when available anyway
        if key.endswith("_parameters") and isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
        out[key] = value
    if out.get("name") is None:
        out["name"] = "bpnetkit"
    fit = out.get("fit_parameters", {})
    for k in ("training_chroms", "validation_chroms"):
        if k in fit and k not in out:
            out[k] = fit.pop(k)
    # bpnet-lite names of settings bpnetkit's steps also have
    for old, new in (("early_stopping", "patience"), ("count_loss_weight", "count_weight")):
        if old in fit:
            fit[new] = fit.pop(old)
    if "reverse_complement" in fit:
        fit["rc"] = "random" if fit.pop("reverse_complement") else "none"
    attr = out.get("attribute_parameters", {})
    if attr.get("output") in ("counts", "profile"):
        out.setdefault("attribute_target", attr.pop("output"))
    return out


def pipeline_params_from_dict(data: dict, where: str = "pipeline JSON") -> PipelineParams:
    """Validate a parsed pipeline JSON (ours or bpnet-lite's) into :class:`PipelineParams`."""
    from bpnetkit.config import from_dict

    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object at the top level.")
    lite = is_bpnetlite(data)
    if lite:
        data = translate_bpnetlite(data)
    params = from_dict(PipelineParams, data, where=where)
    params._bpnetlite = lite  # step keys of bpnet-lite files are checked leniently
    return params


def load_pipeline_params(path: str | Path) -> PipelineParams:
    """Read a pipeline JSON file (relative paths in it are relative to the current folder)."""
    from bpnetkit.config import read_json

    return pipeline_params_from_dict(read_json(path, "pipeline JSON"), where=str(path))


def dump_pipeline_params(params: PipelineParams, path: str | Path) -> Path:
    """Write ``params`` as a complete pipeline JSON."""
    from bpnetkit.config import dump_config

    return dump_config(params, path)


__all__ = ["PipelineParams", "load_pipeline_params", "pipeline_params_from_dict",
           "dump_pipeline_params", "translate_bpnetlite", "is_bpnetlite", "input_kind",
           "STEP_PARAMETER_KEYS", "BPNETLITE_KEYS"]
