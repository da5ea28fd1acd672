"""Training recipes: BPNet, ChromBPNet (the official two stages) and ProCapNet.

``run_fit(FitParams(...))`` reads the data, trains, evaluates on the test chromosomes and
writes a model folder whose ``config.json`` records its provenance (data files, split,
hyperparameters, final metrics).

Every hyperparameter left at ``None`` in :class:`FitParams` takes the recipe default below;
the resolved values are written to ``fit_params.json``.

===================  ==================  ==================  ==================
key                  bpnet               chrombpnet          procapnet
===================  ==================  ==================  ==================
n_filters            64 [L]              512 [C]             512 [P]
n_layers             8 [L]               8 [C]               8 [P]
lr                   1e-3 [L]            1e-3 [C]            5e-4 [P]
eps                  1e-8 [T]            1e-7 [C, Keras]     1e-8 [T]
batch_size           64 [L]              64 [C]              32 [P]
patience             10 [L]              5 [C]               5 [K]
grad_clip            1.0 [E]             none [C]            none [K]
count_weight         mean/track [L]      median/10, >=1 [C]  100 [P]
max_jitter           128 [L]             500 [C]             200 [P]
negative_ratio       0.333 [L]           0.1 [C]             0.143 [P]
negative jitter      = max_jitter [L]    0 [C]               = max_jitter [K]
rc                   random p=0.5 [L]    exactly half [C]    random p=0.5 [P]
validation           peaks [L]           peaks + 0.1 neg [C] peaks + negs [K]
softmax              joint strands [L]   one track [C]       joint strands [P]
split                bpnet_lite [L]      fold_0 [C]          fold_0 [K]
===================  ==================  ==================  ==================

"mean/track" is bpnet-lite's automatic count weight: the mean over training peaks and tracks
of the per-track total counts. bpnet-lite also reduces the learning rate on plateaus and
leaves negatives out of the profile loss; bpnetkit does neither.

Sources: [L] bpnet-lite 1.x defaults (BPNet class and ``bpnet fit`` command); [C] the official
ChromBPNet training code (TensorFlow); [P] the ProCapNet paper's training setup (Cochran et
al.); [T] PyTorch's default; [E] bpnetkit ENGINEERING.md recipe table; [K] a bpnetkit choice.
ProCapNet's negatives are 12.5 % of each batch, i.e. a ratio of 0.125 / 0.875 = 0.143 of
the peaks.

ChromBPNet, stage (a), the bias model (skipped when ``bias_model`` is given): non-peak
regions whose total counts lie below ``quantile(peak counts, 0.01) * factor`` (factor 0.5
ATAC, 0.8 DNase) and inside the 0.0001/0.9999 count quantiles; 128 filters, 4 layers;
count weight median(non-peak counts) / 10 floored at 1; non-peaks never jittered, half of each
epoch reverse complemented. Afterwards the bias of its count layer is shifted so that the mean
residual ``log(1 + observed) - predicted`` over the non-peaks is zero. Stage (b): the
accessibility model trained inside :class:`~bpnetkit.models.chrombpnet.ChromBPNet` with the
bias frozen. QC (warnings when a check fails): bias count Pearson in test peaks above -0.3,
the marginal footprint of the bias motifs in the bias-free model below ``2 / out_window``,
counts Pearson in test peaks above 0.5. The official footprint check asks for a maximum
predicted probability below 0.003 at 1000 bp, where a flat profile is 0.001; our footprint
subtracts the motif-free baseline, hence ``0.003 - 0.001 = 2 / 1000``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bpnetkit.errors import InputError

log = logging.getLogger("bpnetkit.train")

__all__ = ["FitParams", "run_fit", "RECIPES", "DEFAULT_BIAS_MOTIFS", "marginal_footprint",
           "prepare_data"]

#: recipe defaults (see the module docstring for sources)
RECIPES: dict[str, dict[str, Any]] = {
    "bpnet": {"n_filters": 64, "n_layers": 8, "lr": 1e-3, "eps": 1e-8, "batch_size": 64,
              "patience": 10, "valid_negatives": False, "grad_clip": 1.0, "count_weight": "mean",
              "max_jitter": 128,
              "negative_ratio": 0.333, "negative_jitter": None, "rc": "random",
              "split": "bpnet_lite", "joint_strands": True},
    "chrombpnet": {"n_filters": 512, "n_layers": 8, "lr": 1e-3, "eps": 1e-7, "batch_size": 64,
                   "patience": 5, "grad_clip": 0.0, "count_weight": "chrombpnet",
                   "valid_negatives": True,
                   "max_jitter": 500, "negative_ratio": 0.1, "negative_jitter": 0,
                   "rc": "half", "split": "fold_0", "joint_strands": True},
    "procapnet": {"n_filters": 512, "n_layers": 8, "lr": 5e-4, "eps": 1e-8, "batch_size": 32,
                  "patience": 5, "grad_clip": 0.0, "count_weight": 100.0, "max_jitter": 200,
                  "valid_negatives": True,
                  "negative_ratio": 0.125 / 0.875, "negative_jitter": None, "rc": "random",
                  "split": "fold_0", "joint_strands": True},
}

#: threshold factor of the bias model's non-peaks per assay (official ChromBPNet)
BIAS_THRESHOLD_FACTOR = {"atac": 0.5, "dnase": 0.8}

#: approximate enzyme-bias consensus sequences used by the footprint QC when ``bias_motifs``
#: is not given: a Tn5 insertion-site consensus (ATAC) and a DNase I cleavage preference.
#: They are coarse; pass the bias motifs of your data for a sharper check.
DEFAULT_BIAS_MOTIFS = {"atac": ["GTCTAGAC", "GTTTAAAC"], "dnase": ["TTTGCAAA", "CTTGCAAG"]}


@dataclass
class FitParams:
    """Parameters of ``bpnetkit fit`` (keys of ``fit.json``); None = recipe default.

    Attributes
    ----------
    genome, peaks, signals, output_dir : required
        Reference FASTA, peaks (BED/narrowPeak), signal bigWigs (stranded: ``[plus,
        minus]``; ChromBPNet: one unstranded track), output folder.
    model_type : {"bpnet", "chrombpnet", "procapnet"}
        Which recipe.
    negatives : str or None
        Background regions (BED); required for ChromBPNet.
    controls : list of str
        Control bigWigs (BPNet); empty for none.
    split : str or None
        Built-in split name or JSON path (see :mod:`bpnetkit.data.splits`).
    in_window, out_window : int
        Input and output lengths; ``(in_window - out_window) / 2`` must be at least the
        receptive half-width of the architecture.
    n_filters, n_layers, stem_kernel_size, profile_kernel_size : model size
    assay : {"atac", "dnase"}
        ChromBPNet: selects the non-peak threshold factor and the default QC bias motifs.
    bias_model : str or None
        ChromBPNet: a trained bias model folder; skips stage (a).
    bias_n_filters, bias_n_layers, bias_threshold_factor, bias_max_epochs, bias_motifs
        ChromBPNet bias-model settings.
    optimizer, lr, eps, weight_decay, batch_size, max_epochs, patience, grad_clip
        Optimisation; ``grad_clip`` 0 disables clipping; ``patience`` >= ``max_epochs``
        disables early stopping.
    count_weight : float or None
        Explicit count-loss weight; None = recipe rule.
    max_jitter, negative_ratio, rc
        Sampling and augmentation.
    outlier_quantiles : list of two floats
        Peaks with total counts outside these quantiles are dropped (ChromBPNet).
    device, bf16, num_workers, random_state, resume, progress
        Execution.
    """

    genome: str
    peaks: str
    signals: list[str]
    output_dir: str
    model_type: Literal["bpnet", "chrombpnet", "procapnet"] = "bpnet"
    negatives: str | None = None
    controls: list[str] = field(default_factory=list)
    name: str | None = None
    split: str | None = None
    in_window: int = 2114
    out_window: int = 1000
    n_filters: int | None = None
    n_layers: int | None = None
    stem_kernel_size: int = 21
    profile_kernel_size: int = 75
    assay: Literal["atac", "dnase"] = "atac"
    bias_model: str | None = None
    bias_n_filters: int = 128
    bias_n_layers: int = 4
    bias_threshold_factor: float | None = None
    bias_max_epochs: int | None = None
    bias_motifs: list[str] | None = None
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float | None = None
    eps: float | None = None
    weight_decay: float = 0.0
    batch_size: int | None = None
    max_epochs: int = 50
    patience: int | None = None
    grad_clip: float | None = None
    count_weight: float | None = None
    max_jitter: int | None = None
    negative_ratio: float | None = None
    rc: Literal["random", "half", "none"] | None = None
    outlier_quantiles: list[float] = field(default_factory=lambda: [0.0001, 0.9999])
    min_train_regions: int = 8
    device: str | None = None
    bf16: bool = False
    num_workers: int = 0
    random_state: int = 0
    resume: bool = False
    progress: bool = True

    def validate(self) -> None:
        """Check values that the types cannot express."""
        if self.model_type not in RECIPES:
            raise InputError(f"model_type must be one of {list(RECIPES)}, got "
                             f"{self.model_type!r}.")
        if not self.signals:
            raise InputError("'signals' must list at least one bigWig.")
        if self.in_window <= self.out_window or (self.in_window - self.out_window) % 2:
            raise InputError(f"in_window ({self.in_window}) must exceed out_window "
                             f"({self.out_window}) by an even number of bases.")
        if self.model_type == "chrombpnet":
            if self.negatives is None:
                raise InputError("ChromBPNet needs 'negatives' (non-peak regions) for the bias "
                                 "model and the accessibility model's background.")
            if len(self.signals) != 1:
                raise InputError(f"ChromBPNet takes one unstranded signal bigWig; got "
                                 f"{len(self.signals)} in 'signals'.")
            if self.controls:
                raise InputError("ChromBPNet takes no control tracks; remove 'controls'.")
        if len(self.outlier_quantiles) != 2 or not \
                0 <= self.outlier_quantiles[0] < self.outlier_quantiles[1] <= 1:
            raise InputError(f"outlier_quantiles must be [low, high] with 0 <= low < high <= 1, "
                             f"got {self.outlier_quantiles}.")

    def resolved(self) -> FitParams:
        """A copy with every None hyperparameter replaced by the recipe default."""
        r = RECIPES[self.model_type]
        upd: dict[str, Any] = {}
        for key in ("n_filters", "n_layers", "lr", "eps", "batch_size", "patience",
                    "grad_clip", "max_jitter", "negative_ratio", "rc", "split"):
            if getattr(self, key) is None:
                upd[key] = r[key]
        if self.negatives is None and self.negative_ratio is None:
            upd["negative_ratio"] = 0.0
        if self.model_type == "chrombpnet":
            if self.bias_threshold_factor is None:
                upd["bias_threshold_factor"] = BIAS_THRESHOLD_FACTOR[self.assay]
            if self.bias_motifs is None:
                upd["bias_motifs"] = list(DEFAULT_BIAS_MOTIFS[self.assay])
            if self.bias_max_epochs is None:
                upd["bias_max_epochs"] = self.max_epochs
        return dataclasses.replace(self, **upd)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
@dataclass
class PreparedData:
    """Examples split by chromosome."""

    split: dict[str, list[str]]
    peaks: dict[str, Any]        # "train"/"valid"/"test" -> Examples (jitter-padded)
    negatives: dict[str, Any]    # same, or empty


def _check_signal(examples, signals: list[str], what: str) -> None:
    counts = examples.y.sum(axis=(0, 2), dtype=np.float64)
    if not np.isfinite(counts).all():
        raise InputError(f"the signal bigWig(s) {signals} contain NaN/inf values in the {what}; "
                         f"fix or regenerate them.")
    if counts.sum() <= 0:
        raise InputError(f"the signal in {signals} is zero everywhere in the {what}: check "
                         f"that the bigWigs hold counts for these regions (chromosome names, "
                         f"strand files swapped or empty, wrong genome build).")
    for i, c in enumerate(counts):
        if c <= 0:
            raise InputError(f"signal track {i} ('{signals[i]}') is zero everywhere in the "
                             f"{what}; check that file.")


def prepare_data(p: FitParams, peak_jitter: int, negative_jitter: int) -> PreparedData:
    """Extract peak and negative examples and split them by chromosome, with clear errors
    for empty signals and for splits without enough regions."""
    from bpnetkit.data.datasets import extract_examples
    from bpnetkit.data.splits import get_split
    from bpnetkit.io.fasta import Genome

    genome = Genome(p.genome)
    split = get_split(p.split, genome.chroms)
    peaks = extract_examples(genome, p.peaks, p.signals, controls=p.controls or None,
                             in_window=p.in_window, out_window=p.out_window,
                             max_jitter=peak_jitter)
    _check_signal(peaks, p.signals, f"peaks of '{p.peaks}'")
    negs = None
    if p.negatives is not None:
        negs = extract_examples(genome, p.negatives, p.signals, controls=p.controls or None,
                                in_window=p.in_window, out_window=p.out_window,
                                max_jitter=negative_jitter)
    out_p, out_n = {}, {}
    for part in ("train", "valid", "test"):
        out_p[part] = peaks.select_chroms(split[part])
        if negs is not None:
            out_n[part] = negs.select_chroms(split[part])
    n_tr, n_va = len(out_p["train"]), len(out_p["valid"])
    if n_tr < p.min_train_regions:
        raise InputError(f"too few training regions: {n_tr} peaks on the training chromosomes "
                         f"of split '{p.split}' (need at least {p.min_train_regions}). Use a "
                         f"split whose training chromosomes hold most peaks, or more peaks.")
    if n_va == 0:
        raise InputError(f"the validation split has no peaks: none of the {len(peaks)} peaks lie "
                         f"on the validation chromosomes {split['valid']} of split "
                         f"'{p.split}'. Give a split JSON whose 'valid' chromosomes carry "
                         f"peaks.")
    if n_va < 2:
        raise InputError(f"too few validation regions: {n_va} peak on {split['valid']}; need at "
                         f"least 2 for a validation loss and correlation.")
    return PreparedData(split, out_p, out_n)


class _EpochBatches:
    """Adapter: TrainingDataset + EpochSampler as a re-iterable with ``set_epoch``."""

    def __init__(self, dataset, sampler, num_workers: int = 0) -> None:
        self.dataset, self.sampler, self.num_workers = dataset, sampler, num_workers

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        if self.num_workers > 0:
            return iter(self.dataset.loader(self.sampler, num_workers=self.num_workers))
        return self.dataset.batches(self.sampler)


def _valid_batches(peaks, negatives, batch_size: int, negative_ratio: float, seed: int):
    """Fixed validation batches: all validation peaks plus a fixed sample of negatives."""
    from bpnetkit.data.datasets import Examples, iter_examples

    parts = [_recenter(peaks)]
    if negatives is not None and len(negatives) and negative_ratio > 0:
        k = min(len(negatives), max(1, int(round(negative_ratio * len(peaks)))))
        idx = np.sort(np.random.default_rng(seed).choice(len(negatives), k, replace=False))
        parts.append(_recenter(negatives.subset(idx)))
    ex = Examples.concat(parts) if len(parts) > 1 else parts[0]
    return list(iter_examples(ex, batch_size))


def _recenter(ex):
    """Examples without jitter padding (so that peaks and negatives can be concatenated)."""
    from bpnetkit.data.datasets import Examples

    X, y, ctl = ex.center()
    return Examples(np.ascontiguousarray(X), np.ascontiguousarray(y),
                    None if ctl is None else np.ascontiguousarray(ctl), ex.chrom, ex.start,
                    ex.end, ex.index, ex.in_window, ex.out_window, 0)


def _count_weight(p: FitParams, rule: Any, totals: np.ndarray) -> float:
    from bpnetkit.train.losses import count_weight_from_counts

    if p.count_weight is not None:
        return float(p.count_weight)
    if isinstance(rule, int | float):
        return float(rule)
    return count_weight_from_counts(totals, rule=rule)


def _make_trainer(model, p: FitParams, count_weight: float, out: Path, provenance: dict,
                  max_epochs: int | None = None, joint_strands: bool = True):
    from bpnetkit.train.trainer import Trainer

    return Trainer(model, optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay,
                   eps=p.eps, count_weight=count_weight, joint_strands=joint_strands,
                   max_epochs=max_epochs or p.max_epochs, patience=p.patience,
                   grad_clip=p.grad_clip or None, device=p.device, bf16=p.bf16,
                   output_dir=out, random_state=p.random_state, provenance=provenance,
                   progress=p.progress)


def _test_metrics(model, peaks, negatives, p: FitParams, joint_strands: bool = True
                  ) -> dict[str, dict[str, float]]:
    from bpnetkit.train._predict import predict_arrays
    from bpnetkit.train.metrics import compute_metrics

    out: dict[str, dict[str, float]] = {}
    for name, ex in (("peaks", peaks), ("negatives", negatives)):
        if ex is None or len(ex) == 0:
            continue
        X, y, ctl = ex.center()
        lg, lc = predict_arrays(model, X, ctl, batch_size=p.batch_size, device=p.device)
        out[name] = compute_metrics(y, lg, lc, joint_strands)
    return out


def _provenance(p: FitParams, split: dict, extra: dict | None = None) -> dict:
    from bpnetkit.config import to_dict

    prov = {
        "recipe": p.model_type,
        "data": {"genome": p.genome, "peaks": p.peaks, "negatives": p.negatives,
                 "signals": list(p.signals), "controls": list(p.controls)},
        "split_name": p.split,
        "split": split,
        "in_window": p.in_window,
        "out_window": p.out_window,
        "joint_strands": RECIPES[p.model_type]["joint_strands"],
        "hyperparameters": to_dict(p),
    }
    prov.update(extra or {})
    return prov


def _finite(d: Any) -> Any:
    """Replace NaN/inf by None so the JSON stays valid."""
    if isinstance(d, dict):
        return {k: _finite(v) for k, v in d.items()}
    if isinstance(d, float) and not math.isfinite(d):
        return None
    return d


# --------------------------------------------------------------------------------------------
# BPNet / ProCapNet
# --------------------------------------------------------------------------------------------
def _fit_bpnet_like(p: FitParams, out: Path) -> tuple[dict[str, str], dict]:
    from bpnetkit.data.datasets import EpochSampler, TrainingDataset
    from bpnetkit.models.bpnet import BPNet
    from bpnetkit.models.files import save_model

    recipe = RECIPES[p.model_type]
    neg_jitter = recipe["negative_jitter"]
    neg_jitter = p.max_jitter if neg_jitter is None else neg_jitter
    data = prepare_data(p, p.max_jitter, neg_jitter)
    tr_p, tr_n = data.peaks["train"], data.negatives.get("train")
    model = BPNet(n_filters=p.n_filters, n_layers=p.n_layers, n_outputs=len(p.signals),
                  n_control_tracks=len(p.controls), stem_kernel_size=p.stem_kernel_size,
                  profile_kernel_size=p.profile_kernel_size,
                  trimming=(p.in_window - p.out_window) // 2, name=p.name)
    cw = _count_weight(p, recipe["count_weight"], tr_p.counts() / tr_p.n_tracks)
    dataset = TrainingDataset(tr_p, tr_n if tr_n is not None and len(tr_n) else None)
    n_neg = len(tr_n) if tr_n is not None else 0
    sampler = EpochSampler(len(tr_p), n_neg, batch_size=p.batch_size,
                           negative_ratio=p.negative_ratio if n_neg else 0.0,
                           max_jitter=p.max_jitter, negative_jitter=neg_jitter, rc=p.rc,
                           random_state=p.random_state)
    valid = _valid_batches(data.peaks["valid"], data.negatives.get("valid"), p.batch_size,
                           p.negative_ratio if recipe["valid_negatives"] else 0.0,
                           p.random_state)
    prov = _provenance(p, data.split, {"count_weight": cw})
    trainer = _make_trainer(model, p, cw, out, prov, joint_strands=recipe["joint_strands"])
    res = trainer.fit(_EpochBatches(dataset, sampler, p.num_workers), valid, resume=p.resume)
    metrics = _test_metrics(model, data.peaks["test"], data.negatives.get("test"), p,
                            recipe["joint_strands"])
    prov["metrics"] = {"test": _finite(metrics), "best_epoch": res.best_epoch,
                       "best_valid_loss": res.best_valid_loss, "stopped": res.stopped}
    save_model(model, out / "model", provenance=prov)
    outputs = dict(res.outputs)
    outputs["model"] = str(out / "model")
    return outputs, {"test": metrics, "training": prov["metrics"], "diagnostic":
                     res.diagnostic}


# --------------------------------------------------------------------------------------------
# ChromBPNet
# --------------------------------------------------------------------------------------------
def _shift_bias_counts(bias, negatives, p: FitParams) -> float:
    """Shift the bias model's count output so its mean residual on ``negatives`` is zero;
    returns the shift (added to the count layer's bias)."""
    import torch

    from bpnetkit.train._predict import predict_arrays

    X, y, _ = negatives.center()
    _, lc = predict_arrays(bias, X, None, batch_size=p.batch_size, device=p.device)
    delta = float(np.mean(np.log1p(y.sum(axis=(1, 2), dtype=np.float64)) - lc[:, 0]))
    with torch.no_grad():
        bias.linear.bias += delta
    return delta


def marginal_footprint(model, motif: str, in_window: int, n_backgrounds: int = 64,
                       random_state: int = 0, batch_size: int = 64, device: Any = None,
                       gc: float = 0.41) -> np.ndarray:
    """Marginal footprint of ``motif``: the model's predicted profile probabilities
    (softmax over positions) averaged over random backgrounds with the motif inserted at the
    centre, minus the same average without the motif. Returns ``(L_out,)`` for the first
    output track.

    A bias-free accessibility model should show no footprint of an enzyme-bias motif.
    """
    from scipy.special import softmax

    from bpnetkit.train._predict import predict_arrays

    rng = np.random.default_rng(random_state)
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    idx = rng.choice(4, size=(n_backgrounds, in_window), p=p)
    X = np.zeros((n_backgrounds, 4, in_window), dtype=np.float32)
    np.put_along_axis(X, idx[:, None, :], 1.0, axis=1)
    Xm = X.copy()
    m = np.zeros((4, len(motif)), dtype=np.float32)
    for i, c in enumerate(motif.upper()):
        if c in "ACGT":
            m[("ACGT").index(c), i] = 1.0
    s = (in_window - len(motif)) // 2
    Xm[:, :, s:s + len(motif)] = m
    lg0, _ = predict_arrays(model, X, batch_size=batch_size, device=device)
    lg1, _ = predict_arrays(model, Xm, batch_size=batch_size, device=device)
    p0 = softmax(lg0[:, 0].astype(np.float64), axis=-1).mean(0)
    p1 = softmax(lg1[:, 0].astype(np.float64), axis=-1).mean(0)
    return p1 - p0


def _fit_chrombpnet(p: FitParams, out: Path) -> tuple[dict[str, str], dict]:
    from bpnetkit.data.datasets import EpochSampler, TrainingDataset, filter_outliers
    from bpnetkit.models.bpnet import BPNet
    from bpnetkit.models.chrombpnet import ChromBPNet
    from bpnetkit.models.files import load_model, save_model
    from bpnetkit.train.losses import count_weight_from_counts
    from bpnetkit.train.metrics import pearson

    data = prepare_data(p, p.max_jitter, 0)
    trimming = (p.in_window - p.out_window) // 2
    outputs: dict[str, str] = {}
    qc: dict[str, Any] = {}
    lo, hi = p.outlier_quantiles

    # ---- stage (a): bias model on low-count non-peaks ----------------------------------------
    all_peak_counts = np.concatenate([data.peaks[k].counts() for k in data.peaks])
    threshold = float(np.quantile(all_peak_counts, 0.01) * p.bias_threshold_factor)
    qc["bias_nonpeak_threshold"] = threshold
    if p.bias_model is not None:
        bias = load_model(p.bias_model)
        if not isinstance(bias, BPNet):
            raise InputError(f"bias_model '{p.bias_model}' is a {type(bias).__name__}; a "
                             f"single BPNet bias model is needed.")
        bias.train()
        outputs["bias_model"] = str(p.bias_model)
    else:
        def low(ex):
            keep = ex.counts() < threshold
            return ex.subset(keep)

        bn = {k: low(v) for k, v in data.negatives.items()}
        n_tr, n_va = len(bn["train"]), len(bn["valid"])
        if n_tr < p.min_train_regions or n_va < 2:
            raise InputError(
                f"too few non-peak regions for the bias model: {n_tr} training and {n_va} "
                f"validation non-peaks have fewer reads than the threshold {threshold:.3g} "
                f"(1st percentile of peak counts x {p.bias_threshold_factor}). Give more "
                f"negatives (e.g. `bpnetkit negatives`) or raise bias_threshold_factor.")
        bn["train"] = filter_outliers(bn["train"], lo, hi)
        # count_window="valid": the official count head pools the whole valid tower
        # (2034 positions for a 4-layer bias at 2114 bp), not just the output window.
        bias = BPNet(n_filters=p.bias_n_filters, n_layers=p.bias_n_layers, n_outputs=1,
                     n_control_tracks=0, stem_kernel_size=p.stem_kernel_size,
                     profile_kernel_size=p.profile_kernel_size, trimming=trimming,
                     count_window="valid", name=f"{p.name or 'chrombpnet'}_bias")
        cw_bias = count_weight_from_counts(bn["train"].counts(), rule="chrombpnet")
        ds = TrainingDataset(bn["train"], None)
        sampler = EpochSampler(len(bn["train"]), 0, batch_size=p.batch_size, max_jitter=0,
                               rc="half", random_state=p.random_state)
        valid = _valid_batches(bn["valid"], None, p.batch_size, 0.0, p.random_state)
        prov_b = _provenance(p, data.split, {"stage": "bias", "count_weight": cw_bias,
                                             "nonpeak_threshold": threshold})
        tb = _make_trainer(bias, p, cw_bias, out / "bias", prov_b,
                           max_epochs=p.bias_max_epochs)
        res_b = tb.fit(_EpochBatches(ds, sampler, p.num_workers), valid,
                       resume=p.resume and (out / "bias" / "checkpoint.pt").exists())
        delta = _shift_bias_counts(bias, filter_outliers(
            _concat_parts([bn["train"], bn["valid"]]), lo, hi), p)
        qc["bias_count_shift"] = delta
        prov_b["metrics"] = {"best_epoch": res_b.best_epoch,
                             "best_valid_loss": res_b.best_valid_loss,
                             "count_shift": delta}
        save_model(bias, out / "bias" / "model", provenance=prov_b)
        outputs["bias_model"] = str(out / "bias" / "model")
        outputs["bias_log"] = str(out / "bias" / "log.tsv")

    # ---- stage (b): accessibility with the bias frozen -------------------------------------
    for q in bias.parameters():
        q.requires_grad_(False)
    acc = BPNet(n_filters=p.n_filters, n_layers=p.n_layers, n_outputs=1, n_control_tracks=0,
                stem_kernel_size=p.stem_kernel_size, profile_kernel_size=p.profile_kernel_size,
                trimming=trimming, count_window="valid",
                name=f"{p.name or 'chrombpnet'}_nobias")
    model = ChromBPNet(bias=bias, accessibility=acc, name=p.name)
    tr_p = filter_outliers(data.peaks["train"], lo, hi)
    tr_n = data.negatives["train"]
    cw = _count_weight(p, "chrombpnet", tr_p.counts())
    ds = TrainingDataset(tr_p, tr_n if len(tr_n) else None)
    sampler = EpochSampler(len(tr_p), len(tr_n), batch_size=p.batch_size,
                           negative_ratio=p.negative_ratio if len(tr_n) else 0.0,
                           max_jitter=p.max_jitter, negative_jitter=0, rc=p.rc,
                           random_state=p.random_state)
    valid = _valid_batches(data.peaks["valid"], data.negatives["valid"], p.batch_size,
                           p.negative_ratio, p.random_state)
    prov = _provenance(p, data.split, {"stage": "chrombpnet", "count_weight": cw,
                                       "bias_model": outputs["bias_model"]})
    trainer = _make_trainer(model, p, cw, out, prov)
    res = trainer.fit(_EpochBatches(ds, sampler, p.num_workers), valid, resume=p.resume)

    # ---- evaluation and QC -----------------------------------------------------------------
    metrics = _test_metrics(model, data.peaks["test"], data.negatives.get("test"), p)
    metrics_nobias = _test_metrics(acc, data.peaks["test"], data.negatives.get("test"), p)
    test_peaks = data.peaks["test"] if len(data.peaks["test"]) else data.peaks["valid"]
    from bpnetkit.train._predict import predict_arrays

    Xp, yp, _ = test_peaks.center()
    _, lcb = predict_arrays(bias, Xp, batch_size=p.batch_size, device=p.device)
    qc["bias_counts_pearson_peaks"] = pearson(np.log1p(yp.sum(axis=(1, 2))), lcb[:, 0])
    fp_limit = 2.0 / p.out_window
    fps = {}
    for motif in p.bias_motifs or []:
        f_acc = marginal_footprint(acc, motif, p.in_window, device=p.device,
                                   random_state=p.random_state)
        f_bias = marginal_footprint(bias, motif, p.in_window, device=p.device,
                                    random_state=p.random_state)
        fps[motif] = {"nobias_max": float(np.abs(f_acc).max()),
                      "bias_max": float(np.abs(f_bias).max())}
    qc["footprints"] = fps
    qc["footprint_limit"] = fp_limit
    qc["counts_pearson_test_peaks"] = metrics.get("peaks", {}).get("counts_pearson")
    problems = []
    r = qc["bias_counts_pearson_peaks"]
    # official thresholds: fail below -0.5, warn below -0.3 (NaN counts as a failure)
    qc["bias_counts_pearson_status"] = ("pass" if r > -0.3 else "warn" if r > -0.5
                                        else "fail")
    if not r > -0.3:
        problems.append(f"bias count Pearson in peaks is {qc['bias_counts_pearson_peaks']:.3f} "
                        f"(< -0.3): the bias model may have learned peak signal (official "
                        f"threshold: fail below -0.5)")
    for motif, f in fps.items():
        if f["nobias_max"] >= fp_limit:
            problems.append(f"bias motif {motif} leaves a footprint of {f['nobias_max']:.4f} "
                            f"(>= {fp_limit:.4f}) in the bias-free model: bias is not fully "
                            f"removed")
    cp = qc["counts_pearson_test_peaks"]
    if cp is not None and not cp > 0.5:
        problems.append(f"counts Pearson in test peaks is {cp:.3f} (< 0.5)")
    qc["passed"] = not problems
    qc["problems"] = problems
    for msg in problems:
        warnings.warn(f"ChromBPNet QC: {msg}.", stacklevel=3)
    prov["metrics"] = {"test": _finite(metrics), "test_nobias": _finite(metrics_nobias),
                       "best_epoch": res.best_epoch, "best_valid_loss": res.best_valid_loss,
                       "stopped": res.stopped, "qc": _finite(qc)}
    save_model(model, out / "model", provenance=prov)
    save_model(acc, out / "model_nobias", provenance={**prov, "stage": "nobias"})
    outputs.update(res.outputs)
    outputs["model"] = str(out / "model")
    outputs["model_nobias"] = str(out / "model_nobias")
    return outputs, {"test": metrics, "test_nobias": metrics_nobias, "qc": qc,
                     "training": prov["metrics"], "diagnostic": res.diagnostic}


def _concat_parts(parts):
    from bpnetkit.data.datasets import Examples

    parts = [x for x in parts if len(x)]
    return Examples.concat(parts) if len(parts) > 1 else parts[0]


# --------------------------------------------------------------------------------------------
def run_fit(params: FitParams) -> dict[str, str]:
    """Train a model with the recipe of ``params.model_type``.

    Parameters
    ----------
    params : FitParams
        Validated parameters (None values take the recipe defaults).

    Returns
    -------
    dict
        Output name -> path: ``model`` (best model folder), ``checkpoint``, ``log``,
        ``training_curve``, ``metrics`` (JSON of test metrics, plus QC for ChromBPNet),
        ``params`` (the resolved parameters); ChromBPNet adds ``bias_model`` and
        ``model_nobias``.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.utils import write_text_atomic

    params.validate()
    p = params.resolved()
    out = Path(p.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dump_config(p, out / "fit_params.json")
    import torch

    torch.manual_seed(p.random_state)
    if p.model_type == "chrombpnet":
        outputs, summary = _fit_chrombpnet(p, out)
    else:
        outputs, summary = _fit_bpnet_like(p, out)
    write_text_atomic(out / "metrics.json",
                      json.dumps(_finite(summary), indent=2, default=str) + "\n")
    outputs["metrics"] = str(out / "metrics.json")
    outputs["params"] = str(out / "fit_params.json")
    return outputs
