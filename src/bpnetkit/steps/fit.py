"""``bpnetkit fit``: train a BPNet, ChromBPNet (the official two stages) or ProCapNet model.

``run(FitParams(...))`` reads the regions, genome and signals, trains, evaluates on the test
chromosomes and writes a model folder whose ``config.json`` records its provenance (data
files, split, hyperparameters, final metrics).

Every hyperparameter left at ``None`` takes a default: training hyperparameters from the
recipe named by ``recipe`` (:mod:`bpnetkit.train.recipes`; default: the default recipe of
``model_type``, ``DEFAULT_RECIPES``), architecture sizes from the preset of ``model_type``
(:mod:`bpnetkit.models.presets`). The resolved values are written to ``fit_params.json``.

Outputs in ``output_dir`` (:class:`FitOutputs`): ``model/`` (best model), ``checkpoint.pt``,
``log.tsv`` (one row per epoch; the report draws the training curve from it with
:func:`bpnetkit.report.training.training_curve`), ``metrics.json`` (test metrics; QC for
ChromBPNet), ``fit_params.json``; ChromBPNet adds ``bias/`` (bias model, its checkpoint and
log; not when ``bias_model`` is given) and ``model_nobias/``.

Wiring: this step is where training meets prediction. The trainer (``train/``) computes its
validation losses with plain forward passes inside the training loop; the test metrics, the
bias model's count shift and the QC footprints use predictions of finished models, which go
through :func:`bpnetkit.interpret.predict.predict` (the one prediction loop). ``train/`` may
not import ``interpret/`` (a lower layer), so this step passes prediction functions into the
``train/`` algorithms (:func:`bpnetkit.steps.evaluate.predict_fn`).

Data-parallel training: under ``torchrun`` (:func:`bpnetkit.dist.init_from_env`) every rank
trains the same model with ``DistributedDataParallel``. ``batch_size`` stays the *global*
batch (what one process would use; it must be divisible by the number of processes): each
rank takes ``batch_size / world_size`` examples of every global batch of the same per-epoch
plan (:class:`~bpnetkit.data.datasets.EpochSampler` with ``pad=False``), so a run gives the
weights of one process up to float rounding. Rank 0 writes every file (model, checkpoint,
log, metrics) and computes the test metrics and QC while the other ranks wait; ChromBPNet's
bias count shift is computed on rank 0 and shared. ``resume`` continues from the checkpoint's
epoch with any number of processes (the plan depends only on the seed and the epoch). The
model's provenance records the launch (``launch: {world_size, backend, ...}``).

Resume never mixes two configurations: every checkpoint stores the resolved parameters and
the identity (path, size, modification time) of the input files. ``resume`` compares them
with the current ones and refuses (InputError listing each difference) unless only keys of
:data:`RESUME_SAFE_KEYS` changed (applied and logged). Without ``resume``, a checkpoint of an
interrupted run (no ``metrics.json`` newer than it) with identical parameters and inputs is
resumed automatically (so a pipeline re-run continues instead of restarting at epoch 1); a
checkpoint of another configuration (or an unreadable one) is moved aside to
``checkpoint.pt.stale`` and training starts fresh. ``fit_params.json`` is written only after
this check.

Outputs appear only when complete (:mod:`bpnetkit.steps._staging`): the model folders,
``log.tsv``, ``metrics.json``, ``fit_params.json`` (and ``diagnostic.txt``) are written into
a staging folder inside ``output_dir`` and moved into place together when the run succeeded.
The resume checkpoints alone are written in place (atomically, after every epoch), so that
an interrupted run keeps them and resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs

log = logging.getLogger(__name__)

__all__ = ["FitOutputs", "FitParams", "Outputs", "Params", "run", "run_fit"]

_MODEL_TYPES = ("bpnet", "chrombpnet", "procapnet")
_ARCH_KEYS = ("n_filters", "n_layers", "stem_kernel_size", "profile_kernel_size")
#: Parameters that may change between an interrupted run and its resume: how long to train
#: (``max_epochs``, ``bias_max_epochs``, ``patience``), where and how verbosely it runs
#: (including ``tf32`` and ``compile``, which change only float rounding), and the model's
#: name. Every other key changes the model, the data or the optimisation and a change refuses
#: the resume. The number of processes is not a parameter: ``batch_size`` is
#: the global batch, so resuming with another world size continues the same plan.
RESUME_SAFE_KEYS = frozenset({"max_epochs", "bias_max_epochs", "max_time", "patience",
                              "device",
                              "num_workers", "progress", "verbose", "resume", "output_dir",
                              "name", "tf32", "compile", "example_cache"})
_INPUT_KEYS = ("genome", "peaks", "negatives", "signals", "controls", "exclusion_lists",
               "bias_model")


@dataclass
class FitParams:
    """Parameters of ``bpnetkit fit`` (keys of ``fit.json``); None = recipe/preset default.

    Attributes
    ----------
    genome, peaks, signals, output_dir : required
        Reference FASTA, peaks (BED/narrowPeak), signal bigWigs (stranded: ``[plus,
        minus]``; ChromBPNet: one unstranded track), output folder.
    model_type : {"bpnet", "chrombpnet", "procapnet"}
        The model family (architecture preset) and training procedure (ChromBPNet: two
        stages).
    recipe : {"bpnet_lite", "chrombpnet_official", "procapnet", "bpnetkit", \
"chrombpnet_small", "chrombpnetkit"} or None
        Whose training defaults (optimiser, loss weights, jitter, reverse complement,
        negatives, split, schedule, head initialisation) fill the None values; None = the
        default recipe of ``model_type`` (:data:`bpnetkit.train.recipes.DEFAULT_RECIPES`).
        ``"bpnet"`` and ``"chrombpnet"`` are aliases of the official ``"bpnet_lite"`` and
        ``"chrombpnet_official"``.
    negatives : str or None
        Background regions (BED); required for ChromBPNet.
    controls : list of str
        Control bigWigs (BPNet); empty for none.
    exclusion_lists : list of str
        BED files of excluded regions (e.g. the ENCODE blacklist); peaks and negatives whose
        jitter-padded input window overlaps any of them are dropped.
    name : str or None
        Model name recorded in the model file.
    split : str or None
        Built-in split name or JSON path (see :mod:`bpnetkit.data.splits`).
    in_window, out_window : int
        Input and output lengths; ``(in_window - out_window) / 2`` must be at least the
        receptive half-width of the architecture.
    n_filters, n_layers, stem_kernel_size, profile_kernel_size : int or None
        Model size; None = the preset of ``model_type``.
    assay : {"atac", "dnase"}
        ChromBPNet: selects the non-peak threshold factor and the default QC bias motifs.
    bias_model : str or None
        ChromBPNet: a trained bias model folder; skips stage (a).
    bias_n_filters, bias_n_layers : int or None
        ChromBPNet bias-model size; None = the ``chrombpnet_bias`` preset.
    bias_threshold_factor, bias_max_epochs, bias_motifs
        ChromBPNet bias-model settings (None: by assay, ``max_epochs``, by assay).
    optimizer, lr, eps, weight_decay, batch_size, max_epochs, patience, grad_clip
        Optimisation; ``grad_clip`` 0 disables clipping; ``patience`` >= ``max_epochs``
        disables early stopping.
    count_weight : float, {"mean", "chrombpnet"} or None
        Count-loss weight: a number, or a rule applied to the training peaks' total counts
        per track (``"mean"``: their mean, bpnet-lite's rule; ``"chrombpnet"``:
        ``max(median / 10, 1)``, the official ChromBPNet rule); None = the recipe's.
    lr_schedule : {"constant", "cosine", "linear"} or None
        Learning rate after the warm-up: constant, or decaying to 0 at the last planned step
        (``max_epochs`` x batches per epoch); None = recipe default.
    warmup_steps : int or None
        Optimizer steps warming the learning rate up linearly to ``lr``; None = recipe.
    init_heads : bool or None
        Start the count head at the mean training log count and the profile head at the
        tracks' shares (BPNet, ProCapNet; ChromBPNet: its accessibility model's heads);
        None = recipe default.
    count_head_lr_factor : float or None
        Learning-rate multiplier of the count head (BPNet, ProCapNet; ChromBPNet: the
        accessibility model's count head); None = recipe default.
    monitor : {"valid_loss", "valid_loss_centered"} or None
        What picks the kept epoch and drives ``patience``: the validation loss, or the
        validation profile loss plus the count weight times the variance of the count
        residuals (the count term without the offset of the mean prediction;
        :class:`~bpnetkit.train.trainer.Trainer`); None = recipe default.
    seed_filters : int or None
        Number of k-mers, over-represented at the training peaks' summits, whose detectors
        (word and reverse complement) start in the stem's filters
        (:mod:`bpnetkit.train.seeding`; at most half the filters); 0 = none (BPNet,
        ProCapNet; ChromBPNet ignores it); None = recipe default.
    max_jitter, negative_ratio, rc
        Sampling and augmentation.
    outlier_quantiles : list of two floats
        Peaks with total counts outside these quantiles are dropped (ChromBPNet).
    min_train_regions : int
        Fewest training peaks accepted.
    device, bf16, num_workers, random_state, resume
        Execution.
    example_cache : str or None
        A folder where the extracted examples (one-hot windows, signals, controls) are kept,
        memory-mapped, for later runs and steps on the same files, windows and geometry
        (:mod:`bpnetkit.data.example_cache`; another ``fit`` or ``evaluate`` then skips the
        extraction); None: no cache.
    max_time : float or None
        Wall-clock budget of the training in seconds (e.g. a cluster job's time limit): no
        epoch starts that would end after it, judged by the mean epoch time so far; at least
        one epoch runs. ChromBPNet: the bias model gets at most half, the accessibility model
        what is left. The number of epochs then depends on the machine; None: no limit.
    tf32 : bool
        On CUDA, let float32 matmuls and convolutions use TensorFloat-32 (faster; float
        rounding about 1e-3 relative per product); False forces IEEE float32. No effect on
        other devices. See ``docs/scaling.md`` (GPU efficiency).
    compile : bool
        ``torch.compile`` the training forward pass (pays on GPUs for long runs; the first
        steps compile, and values equal eager ones up to float rounding).
    progress : bool
        Show progress bars (only when ``verbose``).
    verbose : bool
        Report progress: progress bars (with ``progress``) of the epochs and predictions.
    """

    genome: str
    peaks: str
    signals: list[str]
    output_dir: str
    model_type: Literal["bpnet", "chrombpnet", "procapnet"] = "bpnet"
    recipe: str | None = None
    negatives: str | None = None
    controls: list[str] = field(default_factory=list)
    exclusion_lists: list[str] = field(default_factory=list)
    name: str | None = None
    split: str | None = None
    in_window: int = 2114
    out_window: int = 1000
    n_filters: int | None = None
    n_layers: int | None = None
    stem_kernel_size: int | None = None
    profile_kernel_size: int | None = None
    assay: Literal["atac", "dnase"] = "atac"
    bias_model: str | None = None
    bias_n_filters: int | None = None
    bias_n_layers: int | None = None
    bias_threshold_factor: float | None = None
    bias_max_epochs: int | None = None
    bias_motifs: list[str] | None = None
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float | None = None
    eps: float | None = None
    weight_decay: float = 0.0
    batch_size: int | None = None
    max_epochs: int = 50
    max_time: float | None = None
    patience: int | None = None
    grad_clip: float | None = None
    count_weight: float | Literal["mean", "chrombpnet"] | None = None
    lr_schedule: Literal["constant", "cosine", "linear"] | None = None
    warmup_steps: int | None = None
    init_heads: bool | None = None
    count_head_lr_factor: float | None = None
    seed_filters: int | None = None
    monitor: Literal["valid_loss", "valid_loss_centered"] | None = None
    max_jitter: int | None = None
    negative_ratio: float | None = None
    rc: Literal["random", "half", "none"] | None = None
    outlier_quantiles: list[float] = field(default_factory=lambda: [0.0001, 0.9999])
    min_train_regions: int = 8
    device: str | None = None
    bf16: bool = False
    tf32: bool = True
    compile: bool = False
    num_workers: int = 0
    example_cache: str | None = None
    random_state: int = 0
    resume: bool = False
    progress: bool = True
    verbose: bool = True

    def validate(self) -> None:
        """Check names, values and the split without reading any data file (fast: the
        pipeline calls it before its first step).

        Raises
        ------
        InputError
            Naming the offending key and what to do.
        """
        from bpnetkit.data.splits import get_split
        from bpnetkit.train.recipes import get_recipe

        if self.model_type not in _MODEL_TYPES:
            raise InputError(f"fit: model_type must be one of {list(_MODEL_TYPES)}, got "
                             f"{self.model_type!r}.")
        if self.recipe is not None:
            try:
                get_recipe(self.recipe)
            except InputError as e:
                raise InputError(f"fit: 'recipe': {e}") from None
        for key in ("signals", "controls", "exclusion_lists", "outlier_quantiles"):
            v = getattr(self, key)
            if isinstance(v, str) or not isinstance(v, list | tuple):
                raise InputError(f"fit: '{key}' must be a list, got {v!r}; write "
                                 f"\"{key}\": [...].")
        if self.bias_motifs is not None and (isinstance(self.bias_motifs, str) or not
                                             isinstance(self.bias_motifs, list | tuple)):
            raise InputError(f"fit: 'bias_motifs' must be a list of sequences, got "
                             f"{self.bias_motifs!r}.")
        if not self.signals:
            raise InputError("fit: 'signals' must list at least one bigWig.")
        if self.in_window <= self.out_window or (self.in_window - self.out_window) % 2 \
                or self.out_window < 1:
            raise InputError(f"fit: in_window ({self.in_window}) must exceed out_window "
                             f"({self.out_window}) by an even number of bases.")
        if self.model_type == "chrombpnet":
            if self.negatives is None:
                raise InputError("fit: ChromBPNet needs 'negatives' (non-peak regions) for the "
                                 "bias model and the accessibility model's background.")
            if len(self.signals) != 1:
                raise InputError(f"fit: ChromBPNet takes one unstranded signal bigWig; got "
                                 f"{len(self.signals)} in 'signals'.")
            if self.controls:
                raise InputError("fit: ChromBPNet takes no control tracks; remove 'controls'.")
        if len(self.outlier_quantiles) != 2 or not \
                0 <= self.outlier_quantiles[0] < self.outlier_quantiles[1] <= 1:
            raise InputError(f"fit: outlier_quantiles must be [low, high] with 0 <= low < high "
                             f"<= 1, got {self.outlier_quantiles}.")
        choices = {"optimizer": ("adam", "adamw"), "assay": ("atac", "dnase"),
                   "rc": ("random", "half", "none", None),
                   "lr_schedule": ("constant", "cosine", "linear", None),
                   "init_heads": (True, False, None),
                   "monitor": ("valid_loss", "valid_loss_centered", None)}
        for key, ok in choices.items():
            if getattr(self, key) not in ok:
                raise InputError(f"fit: '{key}' must be one of {[c for c in ok if c]}, got "
                                 f"{getattr(self, key)!r}.")
        r = self.resolved(check=False)
        positive = ("lr", "eps", "count_head_lr_factor", "batch_size", "max_epochs",
                    "n_filters", "n_layers",
                    "stem_kernel_size", "profile_kernel_size", "min_train_regions")
        non_negative = ("weight_decay", "patience", "grad_clip", "max_jitter", "negative_ratio",
                        "num_workers", "warmup_steps", "seed_filters")
        if r.model_type == "chrombpnet":
            positive += ("bias_n_filters", "bias_n_layers", "bias_threshold_factor",
                         "bias_max_epochs")
        for key in positive:
            v = getattr(r, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
                raise InputError(f"fit: '{key}' must be a positive number, got {v!r}.")
        for key in non_negative:
            v = getattr(r, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise InputError(f"fit: '{key}' must be a number >= 0, got {v!r}.")
        if not isinstance(r.seed_filters, int) or isinstance(r.seed_filters, bool):
            raise InputError(f"fit: 'seed_filters' must be a whole number of k-mers (0: none), "
                             f"got {r.seed_filters!r}.")
        if self.max_time is not None and (isinstance(self.max_time, bool) or not isinstance(
                self.max_time, int | float) or not self.max_time > 0):
            raise InputError(f"fit: 'max_time' must be a positive number of seconds (or null "
                             f"for no limit), got {self.max_time!r}.")
        cw = self.count_weight
        if cw is not None and (cw not in ("mean", "chrombpnet") if isinstance(cw, str)
                               else isinstance(cw, bool) or not cw > 0):
            raise InputError(f"fit: 'count_weight' must be positive, 'mean' or 'chrombpnet' "
                             f"(or null for the recipe's), got {self.count_weight!r}.")
        try:
            get_split(r.split)
        except InputError as e:
            raise InputError(f"fit: 'split': {e}") from None

    def resolved(self, check: bool = True) -> FitParams:
        """A copy with every None hyperparameter replaced by its recipe or preset default
        (and ``recipe`` set); ``check`` validates first."""
        from bpnetkit.models.presets import architecture_defaults
        from bpnetkit.train.chrombpnet import BIAS_THRESHOLD_FACTOR
        from bpnetkit.train.qc import DEFAULT_BIAS_MOTIFS
        from bpnetkit.train.recipes import MODEL_TYPES, default_recipe, get_recipe

        if check:
            self.validate()
        recipe = get_recipe(self.recipe) if self.recipe else default_recipe(self.model_type)
        upd: dict[str, Any] = {"recipe": recipe.name}
        for key, value in recipe.defaults().items():
            if getattr(self, key) is None:
                upd[key] = value
        families = MODEL_TYPES[self.model_type]
        arch = architecture_defaults(families[0])
        for key in _ARCH_KEYS:
            if getattr(self, key) is None:
                upd[key] = arch[key]
        if self.negatives is None and self.negative_ratio is None:
            upd["negative_ratio"] = 0.0
        if self.model_type == "chrombpnet":
            bias_arch = architecture_defaults(families[1])
            if self.bias_n_filters is None:
                upd["bias_n_filters"] = bias_arch["n_filters"]
            if self.bias_n_layers is None:
                upd["bias_n_layers"] = bias_arch["n_layers"]
            if self.bias_threshold_factor is None:
                upd["bias_threshold_factor"] = BIAS_THRESHOLD_FACTOR[self.assay]
            if self.bias_motifs is None:
                upd["bias_motifs"] = list(DEFAULT_BIAS_MOTIFS[self.assay])
            if self.bias_max_epochs is None:
                upd["bias_max_epochs"] = self.max_epochs
        return dataclasses.replace(self, **upd)


@dataclass
class FitOutputs(StepOutputs):
    """Files written by ``fit``.

    Attributes
    ----------
    model : str
        Folder of the full trained model (best validation loss).
    model_nobias : str or None
        ChromBPNet: the accessibility-only (bias-free) model folder.
    bias_model : str or None
        ChromBPNet: the bias model folder (trained here, or the given ``bias_model``).
    checkpoint : str
        ``checkpoint.pt`` of the last epoch (for ``resume``).
    log : str
        ``log.tsv``: one row per epoch (:data:`bpnetkit.train.trainer.LOG_COLUMNS`).
    metrics : str
        ``metrics.json``: test metrics, training summary (and ChromBPNet QC).
    params : str
        ``fit_params.json``: the resolved parameters.
    bias_log : str or None
        ChromBPNet: the bias model's ``log.tsv`` (when trained here).
    diagnostic : str or None
        ``diagnostic.txt`` when training stopped on a non-finite loss.
    """

    model: str = ""
    model_nobias: str | None = None
    bias_model: str | None = None
    checkpoint: str = ""
    log: str = ""
    metrics: str = ""
    params: str = ""
    bias_log: str | None = None
    diagnostic: str | None = None


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _exclusions(paths: list[str]):
    """All exclusion lists as one set of regions (None without lists)."""
    if not paths:
        return None
    from bpnetkit.io.bed import Regions, read_regions

    parts = [read_regions(p) for p in paths]
    return Regions.from_arrays(np.concatenate([r.chrom for r in parts]),
                               np.concatenate([r.start for r in parts]),
                               np.concatenate([r.end for r in parts]),
                               source=", ".join(Path(p).name for p in paths))


def _load_examples(p: FitParams, peak_jitter: int, negative_jitter: int):
    """Peak and negative examples of ``p``, split by chromosome (PreparedData)."""
    from bpnetkit.data.datasets import extract_examples
    from bpnetkit.data.splits import get_split
    from bpnetkit.io.fasta import Genome
    from bpnetkit.train.prepare import check_signal, split_examples

    genome = Genome(p.genome)
    split = get_split(p.split, genome.chroms)
    excluded = _exclusions(p.exclusion_lists)
    peaks = extract_examples(genome, p.peaks, p.signals, controls=p.controls or None,
                             in_window=p.in_window, out_window=p.out_window,
                             max_jitter=peak_jitter, blacklist=excluded,
                             cache_dir=p.example_cache)
    check_signal(peaks, p.signals, f"peaks of '{p.peaks}'")
    negs = None
    if p.negatives is not None:
        negs = extract_examples(genome, p.negatives, p.signals, controls=p.controls or None,
                                in_window=p.in_window, out_window=p.out_window,
                                max_jitter=negative_jitter, blacklist=excluded,
                                cache_dir=p.example_cache)
    return split_examples(peaks, negs, split, p.min_train_regions, p.split)


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------
def _device(p: FitParams):
    """This rank's device (its own GPU under torchrun), or ``p.device`` in one process."""
    from bpnetkit import dist
    from bpnetkit.steps._regions import rank_device

    ctx = dist.context()
    return rank_device(p.device, ctx) if ctx.distributed else p.device


def _file_identity(path: str) -> dict:
    """Path, size and modification time of an input file (a folder: of its files)."""
    pp = Path(path)
    if pp.is_dir():
        files = sorted(f for f in pp.rglob("*") if f.is_file())
        return {"path": str(path), "size": sum(f.stat().st_size for f in files),
                "mtime_ns": max((f.stat().st_mtime_ns for f in files), default=0)}
    if not pp.exists():
        return {"path": str(path), "size": None, "mtime_ns": None}
    st = pp.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _resume_meta(p: FitParams) -> dict:
    """What a checkpoint records of its configuration: resolved params and input files."""
    from bpnetkit.config import to_dict

    inputs: dict[str, Any] = {}
    for key in _INPUT_KEYS:
        v = getattr(p, key)
        if isinstance(v, list | tuple):
            inputs[key] = [_file_identity(x) for x in v]
        else:
            inputs[key] = None if v is None else _file_identity(v)
    return {"params": json.loads(json.dumps(to_dict(p), default=str)), "inputs": inputs}


def _describe_file(ident: Any) -> str:
    if ident is None:
        return "none"
    if isinstance(ident, list):
        return "[" + ", ".join(_describe_file(i) for i in ident) + "]"
    if ident.get("size") is None:
        return f"{ident['path']} (missing)"
    import datetime

    t = datetime.datetime.fromtimestamp(ident["mtime_ns"] / 1e9, tz=datetime.UTC)
    return f"{ident['path']} ({ident['size']} bytes, modified {t:%Y-%m-%d %H:%M:%S} UTC)"


def _resume_differences(old: dict, new: dict) -> tuple[list[str], list[str]]:
    """(refusing differences, safe differences) between two :func:`_resume_meta` records."""
    refuse, safe = [], []
    op, np_ = old.get("params", {}), new.get("params", {})
    for key in sorted(set(op) | set(np_)):
        a, b = op.get(key), np_.get(key)
        if a != b:
            (safe if key in RESUME_SAFE_KEYS else refuse).append(f"{key}: {a!r} -> {b!r}")
    oi, ni = old.get("inputs", {}), new.get("inputs", {})
    for key in _INPUT_KEYS:
        a, b = oi.get(key), ni.get(key)
        if a != b:
            refuse.append(f"{key} file(s): {_describe_file(a)} -> {_describe_file(b)}")
    return refuse, safe


def _checkpoints(p: FitParams, out: Path) -> list[Path]:
    cks = [out / "checkpoint.pt"]
    if p.model_type == "chrombpnet" and p.bias_model is None:
        cks.append(out / "bias" / "checkpoint.pt")
    return cks


def _plan_resume(p: FitParams, out: Path) -> tuple[bool, str | None]:
    """Decide (on rank 0) whether this run resumes: (resume, refusal message or None).

    Explicit ``resume``: every checkpoint must be readable and of the same configuration
    (safe keys aside). Automatic: an interrupted run of the same configuration resumes; a
    checkpoint of another configuration or an unreadable one is moved aside.
    """
    from bpnetkit.train.trainer import checkpoint_meta, read_checkpoint

    new = _resume_meta(p)
    existing = [c for c in _checkpoints(p, out) if c.exists()]
    if p.resume:
        if not existing:
            return False, (f"cannot resume: no checkpoint at '{out / 'checkpoint.pt'}'. Start "
                           f"without 'resume', or point output_dir at the interrupted run.")
        for ck in existing:
            try:
                meta = checkpoint_meta(read_checkpoint(ck))
            except InputError as e:
                return False, str(e)
            if not meta:
                log.warning("fit: %s was written by an older version without its parameters; "
                            "resuming without checking that the configuration is the same.",
                            ck)
                continue
            refuse, safe = _resume_differences(meta, new)
            if refuse:
                sep = "\n  "
                return False, (f"cannot resume from '{ck}': it was trained with another "
                               f"configuration:{sep}{sep.join(refuse)}\nRevert these "
                               f"changes to resume, or start fresh without --resume (the "
                               f"checkpoint is then replaced) or in a new output_dir. Only "
                               f"{sorted(RESUME_SAFE_KEYS)} may change on resume.")
            for d in safe:
                log.info("fit: resuming with a changed %s", d)
        return True, None
    if not existing:
        return False, None
    metrics = out / "metrics.json"
    if metrics.exists() and metrics.stat().st_mtime_ns >= max(c.stat().st_mtime_ns
                                                               for c in existing):
        return False, None  # the checkpoint belongs to a finished run: start fresh
    reasons = []
    for ck in existing:
        try:
            meta = checkpoint_meta(read_checkpoint(ck))
        except InputError as e:
            reasons.append(str(e))
            continue
        refuse, _ = _resume_differences(meta, new) if meta else (["no recorded parameters"],
                                                                  [])
        reasons += [f"{ck}: {r}" for r in refuse]
    if not reasons:
        log.info("fit: found the checkpoint of an interrupted run with the same parameters "
                 "in %s; resuming it (start in a new output_dir to train from scratch).", out)
        return True, None
    for ck in existing:
        ck.replace(ck.with_name(ck.name + ".stale"))
    log.warning("fit: the checkpoint in %s is from an interrupted run of another "
                "configuration (%s); moved it aside to checkpoint.pt.stale and training starts "
                "fresh.", out, "; ".join(reasons))
    return False, None


def _lr_schedule(p: FitParams, steps_per_epoch: int | None, max_epochs: int):
    """The learning-rate schedule of ``p`` over the planned steps, or None (constant)."""
    from bpnetkit.train.schedules import LRSchedule

    if p.lr_schedule in (None, "constant") and not p.warmup_steps:
        return None
    if not steps_per_epoch:
        raise InputError("fit: a learning-rate schedule needs the number of batches per "
                         "epoch; the training data produced none.")
    total = int(steps_per_epoch) * int(max_epochs)
    return LRSchedule(p.lr, total, p.lr_schedule or "constant", int(p.warmup_steps or 0))


def _init_heads(model, p: FitParams, peaks, negatives) -> None:
    """Start ``model``'s heads at the training data (``init_heads``): the count head at the
    mean log count of the training mix, the profile head at the tracks' shares."""
    from bpnetkit.train.schedules import init_output_heads, mean_log_count

    n_neg = 0 if negatives is None else len(negatives)
    target = mean_log_count(peaks.counts(), negatives.counts() if n_neg else None,
                            p.negative_ratio if n_neg else 0.0)
    j = peaks.max_jitter
    shares = peaks.y[:, :, j:j + peaks.out_window].sum(axis=(0, 2), dtype=np.float64)
    init_output_heads(model, target, shares if (shares > 0).all() else None)
    log.info("fit: count head starts at the mean training log count %.3f", target)


def _seed_filters(model, p: FitParams, peaks) -> list:
    """Start stem filters at the k-mers the training peaks are enriched for
    (``seed_filters``); returns ``[[word, -log10 p], ...]`` for the provenance."""
    from bpnetkit.train.seeding import enriched_kmers, seed_stem_filters

    words = enriched_kmers(peaks.X, n=int(p.seed_filters))
    n = seed_stem_filters(model, [w for w, _ in words])
    log.info("fit: %d stem filters start at the k-mers enriched at the peak summits: %s", n,
             ", ".join(f"{w} (-log10 p {s:.1f})" for w, s in words) or "none passed")
    return [[w, round(s, 2)] for w, s in words]


def _staged_trainer_class() -> type:
    """The trainer of ``fit``: it writes the model, log and diagnostic into its
    ``output_dir`` (the step's staging folder, moved into place only when ``fit`` succeeds),
    but keeps its resume checkpoint in the final folder (``checkpoint.pt``,
    ``bias/checkpoint.pt``, written atomically), so that an interrupted run can resume."""
    from bpnetkit.steps._staging import final_path
    from bpnetkit.train.trainer import Trainer

    class StagedTrainer(Trainer):
        def save_checkpoint(self, path: str | Path) -> Path:
            return super().save_checkpoint(final_path(path))

        def load_checkpoint(self, path: str | Path) -> None:
            super().load_checkpoint(final_path(path))

    return StagedTrainer


def _make_trainer(model, p: FitParams, count_weight: float, out: Path, provenance: dict,
                  max_epochs: int | None = None, joint_strands: bool = True,
                  steps_per_epoch: int | None = None, lr_factors: dict | None = None,
                  max_time: float | None = None, warmup: bool = True):
    """The trainer of one stage; ``warmup=False``: without ``warmup_steps`` (ChromBPNet's
    bias model, whose few steps per epoch a warm-up sized for the main model would eat)."""
    from bpnetkit import dist
    Trainer = _staged_trainer_class()
    sched_p = p if warmup else dataclasses.replace(p, warmup_steps=0)

    return Trainer(model, optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay,
                   eps=p.eps, count_weight=count_weight, joint_strands=joint_strands,
                   max_epochs=max_epochs or p.max_epochs, patience=p.patience,
                   grad_clip=p.grad_clip or None, device=_device(p), bf16=p.bf16,
                   tf32=p.tf32, compile=p.compile,
                   output_dir=out, random_state=p.random_state, provenance=provenance,
                   progress=p.progress and p.verbose, dist_context=dist.context(),
                   checkpoint_meta=_resume_meta(p),
                   lr_schedule=_lr_schedule(sched_p, steps_per_epoch,
                                            max_epochs or p.max_epochs),
                   lr_factors=lr_factors, max_time=max_time,
                   monitor=p.monitor or "valid_loss")


def _sampler(p: FitParams, n_peaks: int, n_negatives: int = 0, **kw):
    """The epoch sampler of this rank: its share of every global batch of ``batch_size``."""
    from bpnetkit import dist
    from bpnetkit.data.datasets import EpochSampler

    ctx = dist.context()
    if not ctx.distributed:
        return EpochSampler(n_peaks, n_negatives, batch_size=p.batch_size,
                            random_state=p.random_state, **kw)
    return EpochSampler(n_peaks, n_negatives, batch_size=p.batch_size // ctx.world_size,
                        random_state=p.random_state, rank=ctx.rank,
                        world_size=ctx.world_size, pad=False, **kw)


def _predictor(model, p: FitParams):
    from bpnetkit.steps.evaluate import predict_fn

    return predict_fn(model, batch_size=p.batch_size, device=_device(p),
                      verbose=p.progress and p.verbose)


def _test_metrics(model, peaks, negatives, p: FitParams, joint_strands: bool = True
                  ) -> dict[str, dict[str, float]]:
    from bpnetkit.train.evaluate import evaluate_examples, group_metrics

    fn = _predictor(model, p)
    groups = {name: evaluate_examples(fn, ex) for name, ex in
              (("peaks", peaks), ("negatives", negatives)) if ex is not None and len(ex)}
    return group_metrics(groups, joint_strands)


def _provenance(p: FitParams, split: dict, extra: dict | None = None) -> dict:
    from bpnetkit import dist
    from bpnetkit.config import to_dict
    from bpnetkit.train.recipes import get_recipe

    ctx = dist.context()
    prov = {
        "recipe": p.recipe,
        "model_type": p.model_type,
        "data": {"genome": p.genome, "peaks": p.peaks, "negatives": p.negatives,
                 "signals": list(p.signals), "controls": list(p.controls),
                 "exclusion_lists": list(p.exclusion_lists)},
        "split_name": p.split,
        "split": split,
        "in_window": p.in_window,
        "out_window": p.out_window,
        "joint_strands": get_recipe(p.recipe).joint_strands,
        "hyperparameters": to_dict(p),
        "launch": {"world_size": ctx.world_size, "backend": ctx.backend,
                   "global_batch_size": p.batch_size,
                   "per_rank_batch_size": p.batch_size // ctx.world_size},
    }
    prov.update(extra or {})
    return prov


# --------------------------------------------------------------------------------------------
# BPNet / ProCapNet
# --------------------------------------------------------------------------------------------
def _fit_bpnet_like(p: FitParams, out: Path) -> tuple[dict[str, Any], dict]:
    from bpnetkit import dist
    from bpnetkit.data.datasets import TrainingDataset
    from bpnetkit.models.files import save_model
    from bpnetkit.train.evaluate import json_safe
    from bpnetkit.train.prepare import EpochBatches, valid_batches
    from bpnetkit.train.recipes import MODEL_TYPES, build_model, get_recipe, resolve_count_weight

    recipe = get_recipe(p.recipe)
    neg_jitter = p.max_jitter if recipe.negative_jitter is None else recipe.negative_jitter
    data = _load_examples(p, p.max_jitter, neg_jitter)
    tr_p, tr_n = data.peaks["train"], data.negatives.get("train")
    model = build_model(MODEL_TYPES[p.model_type][0], n_filters=p.n_filters,
                        n_layers=p.n_layers, n_outputs=len(p.signals),
                        n_control_tracks=len(p.controls), stem_kernel_size=p.stem_kernel_size,
                        profile_kernel_size=p.profile_kernel_size,
                        trimming=(p.in_window - p.out_window) // 2, name=p.name)
    cw = resolve_count_weight(p.count_weight, recipe.count_weight, tr_p.counts() / tr_p.n_tracks)
    dataset = TrainingDataset(tr_p, tr_n if tr_n is not None and len(tr_n) else None)
    n_neg = len(tr_n) if tr_n is not None else 0
    sampler = _sampler(p, len(tr_p), n_neg, negative_ratio=p.negative_ratio if n_neg else 0.0,
                       max_jitter=p.max_jitter, negative_jitter=neg_jitter, rc=p.rc)
    valid = valid_batches(data.peaks["valid"], data.negatives.get("valid"), p.batch_size,
                          p.negative_ratio if recipe.valid_negatives else 0.0, p.random_state)
    prov = _provenance(p, data.split, {"count_weight": cw})
    if p.init_heads:
        _init_heads(model, p, tr_p, tr_n)
    if p.seed_filters:
        prov["seeded_kmers"] = _seed_filters(model, p, tr_p)
    factors = {"linear": p.count_head_lr_factor} if p.count_head_lr_factor != 1 else None
    trainer = _make_trainer(model, p, cw, out, prov, joint_strands=recipe.joint_strands,
                            steps_per_epoch=len(sampler), lr_factors=factors,
                            max_time=p.max_time)
    res = trainer.fit(EpochBatches(dataset, sampler, p.num_workers), valid, resume=p.resume)
    metrics: dict = {}
    if dist.is_main():  # the other ranks wait at the barrier of run()
        metrics = _test_metrics(model, data.peaks["test"], data.negatives.get("test"), p,
                                recipe.joint_strands)
    prov["metrics"] = {"test": json_safe(metrics), "best_epoch": res.best_epoch,
                       "best_valid_loss": res.best_valid_loss, "stopped": res.stopped}
    if dist.is_main():
        save_model(model, out / "model", provenance=prov)
    outputs: dict[str, Any] = _trainer_outputs(res, out)
    outputs["model"] = str(out / "model")
    return outputs, {"test": metrics, "training": prov["metrics"], "diagnostic":
                     res.diagnostic}


# --------------------------------------------------------------------------------------------
# ChromBPNet
# --------------------------------------------------------------------------------------------
def _fit_chrombpnet(p: FitParams, out: Path) -> tuple[dict[str, Any], dict]:
    from bpnetkit import dist
    from bpnetkit.data.datasets import TrainingDataset, filter_outliers
    from bpnetkit.models.bpnet import BPNet
    from bpnetkit.models.files import load_model, save_model
    from bpnetkit.steps._staging import final_path
    from bpnetkit.train import chrombpnet as cb
    from bpnetkit.train.evaluate import json_safe
    from bpnetkit.train.losses import count_weight_from_counts
    from bpnetkit.train.metrics import pearson
    from bpnetkit.train.prepare import EpochBatches, concat_examples, valid_batches
    from bpnetkit.train.qc import chrombpnet_qc, enzyme_checks, marginal_footprint
    from bpnetkit.train.recipes import MODEL_TYPES, build_model, get_recipe, resolve_count_weight

    recipe = get_recipe(p.recipe)
    acc_family, bias_family = MODEL_TYPES["chrombpnet"]
    neg_jitter = p.max_jitter if recipe.negative_jitter is None else recipe.negative_jitter
    data = _load_examples(p, p.max_jitter, neg_jitter)
    trimming = (p.in_window - p.out_window) // 2
    outputs: dict[str, Any] = {}
    qc: dict[str, Any] = {}
    lo, hi = p.outlier_quantiles
    started: float | None = None  # when the bias model's training began (max_time)

    # ---- stage (a): bias model on low-count non-peaks ----------------------------------------
    all_peak_counts = np.concatenate([data.peaks[k].counts() for k in data.peaks])
    threshold = cb.nonpeak_threshold(all_peak_counts, p.bias_threshold_factor)
    qc["bias_nonpeak_threshold"] = threshold
    if p.bias_model is not None:
        bias = load_model(p.bias_model)
        if not isinstance(bias, BPNet):
            raise InputError(f"bias_model '{p.bias_model}' is a {type(bias).__name__}; a "
                             f"single BPNet bias model is needed.")
        bias.train()
        outputs["bias_model"] = str(p.bias_model)
    else:
        bn = cb.select_bias_nonpeaks(data.negatives, threshold, p.min_train_regions,
                                     p.bias_threshold_factor)
        bn["train"] = filter_outliers(bn["train"], lo, hi)
        # count_window="valid" (the preset): the official count head pools the whole valid
        # tower (2034 positions for a 4-layer bias at 2114 bp), not just the output window.
        bias = build_model(bias_family, n_filters=p.bias_n_filters, n_layers=p.bias_n_layers,
                           n_outputs=1, n_control_tracks=0, stem_kernel_size=p.stem_kernel_size,
                           profile_kernel_size=p.profile_kernel_size, trimming=trimming,
                           name=f"{p.name or 'chrombpnet'}_bias")
        cw_bias = count_weight_from_counts(bn["train"].counts(), rule="chrombpnet")
        ds = TrainingDataset(bn["train"], None)
        sampler = _sampler(p, len(bn["train"]), 0, max_jitter=0, rc=cb.BIAS_RC)
        valid = valid_batches(bn["valid"], None, p.batch_size, 0.0, p.random_state)
        prov_b = _provenance(p, data.split, {"stage": "bias", "count_weight": cw_bias,
                                             "nonpeak_threshold": threshold})
        resume_bias = dist.broadcast_object(
            p.resume and final_path(out / "bias" / "checkpoint.pt").exists(),
            name="bias resume")
        started = time.monotonic()
        tb = _make_trainer(bias, p, cw_bias, out / "bias", prov_b,
                           max_epochs=p.bias_max_epochs, steps_per_epoch=len(sampler),
                           max_time=None if p.max_time is None else p.max_time / 2,
                           warmup=False)
        res_b = tb.fit(EpochBatches(ds, sampler, p.num_workers), valid, resume=resume_bias)
        delta = None
        if dist.is_main():  # computed once, shared (every rank needs the same bias model)
            shift_set = filter_outliers(concat_examples([bn["train"], bn["valid"]]), lo, hi)
            X, y, _ = shift_set.center()
            _, lc = _predictor(bias, p)(X, None)
            delta = cb.count_shift(y.sum(axis=(1, 2), dtype=np.float64), lc)
        delta = dist.broadcast_object(delta, name="bias count shift")
        cb.shift_count_bias(bias, delta)
        qc["bias_count_shift"] = delta
        prov_b["metrics"] = {"best_epoch": res_b.best_epoch,
                             "best_valid_loss": res_b.best_valid_loss,
                             "count_shift": delta}
        if dist.is_main():
            save_model(bias, out / "bias" / "model", provenance=prov_b)
        outputs["bias_model"] = str(out / "bias" / "model")
        outputs["bias_log"] = str(out / "bias" / "log.tsv")

    # ---- stage (b): accessibility with the bias frozen -------------------------------------
    cb.freeze(bias)
    acc = build_model(acc_family, n_filters=p.n_filters, n_layers=p.n_layers, n_outputs=1,
                      n_control_tracks=0, stem_kernel_size=p.stem_kernel_size,
                      profile_kernel_size=p.profile_kernel_size, trimming=trimming,
                      name=f"{p.name or 'chrombpnet'}_nobias")
    model = cb.combine(bias, acc, name=p.name)
    tr_p = filter_outliers(data.peaks["train"], lo, hi)
    tr_n = data.negatives["train"]
    cw = resolve_count_weight(p.count_weight, recipe.count_weight, tr_p.counts() / tr_p.n_tracks)
    ds = TrainingDataset(tr_p, tr_n if len(tr_n) else None)
    sampler = _sampler(p, len(tr_p), len(tr_n),
                       negative_ratio=p.negative_ratio if len(tr_n) else 0.0,
                       max_jitter=p.max_jitter, negative_jitter=neg_jitter, rc=p.rc)
    valid = valid_batches(data.peaks["valid"], data.negatives["valid"], p.batch_size,
                          p.negative_ratio if recipe.valid_negatives else 0.0, p.random_state)
    prov = _provenance(p, data.split, {"stage": "chrombpnet", "count_weight": cw,
                                       "bias_model": str(final_path(outputs["bias_model"]))})
    left = None if p.max_time is None else \
        max(p.max_time - (time.monotonic() - started if started is not None else 0.0), 1.0)
    if p.init_heads:  # the accessibility model's heads; the frozen bias adds little at peaks
        _init_heads(acc, p, tr_p, tr_n if len(tr_n) else None)
    factors = {"accessibility.linear": p.count_head_lr_factor} \
        if p.count_head_lr_factor != 1 else None
    trainer = _make_trainer(model, p, cw, out, prov, joint_strands=recipe.joint_strands,
                            steps_per_epoch=len(sampler), lr_factors=factors, max_time=left)
    resume = dist.broadcast_object(p.resume and final_path(out / "checkpoint.pt").exists(),
                                   name="resume")
    res = trainer.fit(EpochBatches(ds, sampler, p.num_workers), valid, resume=resume)
    outputs.update(_trainer_outputs(res, out))
    outputs["model"] = str(out / "model")
    outputs["model_nobias"] = str(out / "model_nobias")
    if not dist.is_main():  # rank 0 evaluates and writes; the others wait in run()
        return outputs, {}

    # ---- evaluation and QC -----------------------------------------------------------------
    joint = recipe.joint_strands
    metrics = _test_metrics(model, data.peaks["test"], data.negatives.get("test"), p, joint)
    metrics_nobias = _test_metrics(acc, data.peaks["test"], data.negatives.get("test"), p,
                                   joint)
    test_peaks = data.peaks["test"] if len(data.peaks["test"]) else data.peaks["valid"]
    Xp, yp, _ = test_peaks.center()
    _, lcb = _predictor(bias, p)(Xp, None)
    bias_r = pearson(np.log1p(yp.sum(axis=(1, 2))), lcb[:, 0])
    acc_logits = _predictor(acc, p)
    bias_logits = _predictor(bias, p)
    fps = {}
    for motif in p.bias_motifs or []:
        f_acc = marginal_footprint(lambda X: acc_logits(X, None)[0], motif, p.in_window,
                                   random_state=p.random_state)
        f_bias = marginal_footprint(lambda X: bias_logits(X, None)[0], motif, p.in_window,
                                    random_state=p.random_state)
        fps[motif] = {"nobias_max": float(np.abs(f_acc).max()),
                      "bias_max": float(np.abs(f_bias).max())}
    # the enzyme's motif from the bias model's non-peaks; checks on held-out non-peaks
    X_enz, y_enz, X_held = cb.enzyme_qc_regions(data.negatives, threshold, p.min_train_regions)
    enzyme = None if X_held is None else enzyme_checks(
        lambda X: bias_logits(X, None)[0], lambda X: acc_logits(X, None)[0], X_enz, y_enz,
        X_held, p.assay, random_state=p.random_state)
    qc.update(chrombpnet_qc(bias_r, fps, metrics.get("peaks", {}).get("counts_pearson"),
                            p.out_window, enzyme=enzyme))
    prov["metrics"] = {"test": json_safe(metrics), "test_nobias": json_safe(metrics_nobias),
                       "best_epoch": res.best_epoch, "best_valid_loss": res.best_valid_loss,
                       "stopped": res.stopped, "qc": json_safe(qc)}
    save_model(model, out / "model", provenance=prov)
    save_model(acc, out / "model_nobias", provenance={**prov, "stage": "nobias"})
    return outputs, {"test": metrics, "test_nobias": metrics_nobias, "qc": qc,
                     "training": prov["metrics"], "diagnostic": res.diagnostic}


def _trainer_outputs(res, out: Path) -> dict[str, Any]:
    """The trainer's files (the main process knows them; the other ranks name the same
    paths, which rank 0 writes)."""
    outputs: dict[str, Any] = dict(res.outputs)
    if not outputs:
        outputs = {"model": str(out / "model"), "checkpoint": str(out / "checkpoint.pt"),
                   "log": str(out / "log.tsv")}
        if res.diagnostic is not None:
            outputs["diagnostic"] = str(out / "diagnostic.txt")
    outputs["model"] = str(out / "model")
    return outputs


def _auto_batch(params: FitParams) -> FitParams:
    """``params`` with ``batch_size`` (and ``lr`` when not given) chosen from the number of
    training peaks, for a recipe with ``auto_batch`` and no ``batch_size`` given
    (:func:`bpnetkit.train.recipes.auto_batch`); otherwise unchanged."""
    from bpnetkit.data.splits import get_split
    from bpnetkit.io.bed import read_regions
    from bpnetkit.io.fasta import Genome
    from bpnetkit.train.recipes import auto_batch, default_recipe, get_recipe

    params.validate()
    recipe = get_recipe(params.recipe) if params.recipe else \
        default_recipe(params.model_type)
    if params.batch_size is not None or not recipe.auto_batch:
        return params
    split = get_split(params.split or recipe.split, Genome(params.genome).chroms)
    train = set(split["train"])
    n = int(np.isin(read_regions(params.peaks).chrom, sorted(train)).sum())
    batch, lr = auto_batch(n, recipe.auto_batch_table)
    world = max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))  # torchrun: the global batch
    batch = -(-batch // world) * world  # splits evenly over the processes
    log.info("fit: %d training peaks: batch size %d%s (recipe %s, auto_batch)", n, batch,
             f", learning rate {lr:g}" if params.lr is None else "", recipe.name)
    return dataclasses.replace(params, batch_size=batch,
                               lr=lr if params.lr is None else params.lr)


def _check_launch(p: FitParams):
    """Join the torchrun job (if any) and check that the global batch splits evenly."""
    from bpnetkit import dist

    ctx = dist.init_from_env()
    if ctx.distributed and p.batch_size % ctx.world_size:
        raise InputError(f"fit: batch_size {p.batch_size} is the global batch (summed over the "
                         f"{ctx.world_size} processes) and must be divisible by their number; "
                         f"use e.g. batch_size "
                         f"{max(1, round(p.batch_size / ctx.world_size)) * ctx.world_size}.")
    return ctx


# --------------------------------------------------------------------------------------------
def run(params: FitParams) -> FitOutputs:
    """Train a model with the recipe of ``params``.

    Parameters
    ----------
    params : FitParams
        The parameters (None values take the recipe and preset defaults).

    Returns
    -------
    FitOutputs
        The written files.
    """
    import torch

    from bpnetkit import dist
    from bpnetkit.config import dump_config
    from bpnetkit.train.evaluate import json_safe
    from bpnetkit.utils import write_text_atomic

    p = _auto_batch(params).resolved()
    ctx = _check_launch(p)
    out = Path(p.output_dir)
    plan: tuple[bool, str | None] = (False, None)
    if ctx.is_main:
        plan = _plan_resume(p, out)
    resume, refusal = dist.broadcast_object(plan, name="fit: resume check")
    if refusal is not None:
        raise InputError(f"fit: {refusal}")
    p = dataclasses.replace(p, resume=resume)
    # everything but the resume checkpoints is staged and appears when fit succeeds
    owns = ["diagnostic.txt", "model_nobias"]  # written by some runs only
    with staged_outputs(out, "fit", publish=ctx.is_main, owns=owns) as stage:
        work = stage.path
        if ctx.is_main:
            dump_config(p, work / "fit_params.json")
            log.info("fit: %s model, %s recipe, output in %s%s", p.model_type, p.recipe, out,
                     f" ({ctx.world_size} processes, {ctx.backend}, global batch "
                     f"{p.batch_size})" if ctx.distributed else "")
        torch.manual_seed(p.random_state)
        if p.model_type == "chrombpnet":
            outputs, summary = _fit_chrombpnet(p, work)
        else:
            outputs, summary = _fit_bpnet_like(p, work)
        if ctx.is_main:
            write_text_atomic(work / "metrics.json",
                              json.dumps(json_safe(summary), indent=2, default=str) + "\n")
            bias_ck = out / "bias" / "checkpoint.pt"
            if (work / "bias").is_dir() and bias_ck.exists():  # bias/ is replaced as a whole
                bias_ck.replace(work / "bias" / "checkpoint.pt")
        result = stage.finalize(FitOutputs(
            model=outputs["model"], model_nobias=outputs.get("model_nobias"),
            bias_model=outputs.get("bias_model"), checkpoint=outputs["checkpoint"],
            log=outputs["log"], metrics=str(work / "metrics.json"),
            params=str(work / "fit_params.json"), bias_log=outputs.get("bias_log"),
            diagnostic=outputs.get("diagnostic")))
    dist.barrier("fit: rank 0 evaluates the model and writes its files")
    return result


Params = FitParams
Outputs = FitOutputs
run_fit = run
