"""``bpnetkit evaluate``: metrics of a trained model on held-out regions, with plots.

Outputs in ``output_dir``: ``metrics.json`` (nested: group -> metric -> value),
``metrics.tsv`` (one row per group: peaks, negatives, all), ``counts_scatter.png``
(predicted vs observed log counts per group), ``example_profiles.png`` (observed and
predicted profiles of the peaks with most reads), and ``evaluate_params.json``. The metric
formulas are documented in :mod:`bpnetkit.train.metrics`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bpnetkit.errors import InputError

__all__ = ["EvaluateParams", "run_evaluate", "evaluate_examples"]


@dataclass
class EvaluateParams:
    """Parameters of ``bpnetkit evaluate`` (keys of ``evaluate.json``).

    Attributes
    ----------
    model : str
        Model folder (or any file :func:`bpnetkit.io.load_model` reads).
    genome, peaks, signals, output_dir : required
        Reference FASTA, peaks, observed signal bigWigs, output folder.
    negatives : str or None
        Background regions, evaluated separately.
    controls : list of str
        Control bigWigs when the model takes control tracks.
    split : str or None
        Split name/JSON; None = the split recorded in the model file, else ``fold_0``.
    chroms : {"test", "valid", "train", "all"}
        Which chromosomes of the split to evaluate.
    in_window : int or None
        Input length; None = the model's recorded window, else 2114.
    joint_strands : bool or None
        Softmax over strands jointly; None = as recorded in the model file, else True.
    rc_average : bool
        Average forward and reverse-complement predictions.
    batch_size, device
        Execution.
    n_examples_plot : int
        Number of example profiles plotted.
    """

    model: str
    genome: str
    peaks: str
    signals: list[str]
    output_dir: str
    negatives: str | None = None
    controls: list[str] = field(default_factory=list)
    split: str | None = None
    chroms: Literal["test", "valid", "train", "all"] = "test"
    in_window: int | None = None
    joint_strands: bool | None = None
    rc_average: bool = False
    batch_size: int = 64
    device: str | None = None
    n_examples_plot: int = 4

    def validate(self) -> None:
        """Check values that the types cannot express."""
        if not self.signals:
            raise InputError("'signals' must list at least one bigWig.")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be positive, got {self.batch_size}.")


def evaluate_examples(model, examples, batch_size: int = 64, device: Any = None,
                      rc_average: bool = False, joint_strands: bool = True):
    """Predict ``examples`` (unjittered windows) and return ``(y, logits, log_counts)``."""
    from bpnetkit.train._predict import predict_arrays

    X, y, ctl = examples.center()
    lg, lc = predict_arrays(model, X, ctl, batch_size=batch_size, device=device,
                            rc_average=rc_average)
    return np.asarray(y), lg, lc


def _model_output_length(model, in_window: int) -> int:
    f = getattr(model, "output_length", None)
    if callable(f):
        return int(f(in_window))
    raise InputError("cannot tell the output length of this model; it needs an "
                     "output_length(input_length) method.")


def run_evaluate(params: EvaluateParams) -> dict[str, str]:
    """Evaluate a model on the chosen chromosomes; write metrics and plots.

    Returns
    -------
    dict
        ``metrics_json``, ``metrics_tsv``, ``counts_scatter``, ``example_profiles``,
        ``params``.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.data.datasets import extract_examples
    from bpnetkit.data.splits import get_split
    from bpnetkit.io.fasta import Genome
    from bpnetkit.models.files import load_model
    from bpnetkit.train.metrics import compute_metrics
    from bpnetkit.utils import write_text_atomic

    params.validate()
    out = Path(params.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    prov: dict = {}
    try:
        from bpnetkit.models.files import read_model_config

        prov = read_model_config(params.model).get("provenance", {}) or {}
    except Exception:  # noqa: BLE001 - other formats carry no provenance
        prov = {}
    model = load_model(params.model, device=params.device)
    in_window = params.in_window or prov.get("in_window") or 2114
    out_window = _model_output_length(model, in_window)
    joint = params.joint_strands
    if joint is None:
        joint = bool(prov.get("joint_strands", True))
    split_spec = params.split or prov.get("split") or "fold_0"
    genome = Genome(params.genome)
    split = get_split(split_spec, genome.chroms)
    chroms = sorted(set(sum(split.values(), []))) if params.chroms == "all" \
        else split[params.chroms]
    if not chroms:
        raise InputError(f"the '{params.chroms}' set of split {split_spec!r} has no chromosome "
                         f"of this genome; choose another split or 'chroms'.")
    n_ctl = int(getattr(model, "n_control_tracks", 0) or 0)
    if n_ctl and len(params.controls) != n_ctl:
        raise InputError(f"the model takes {n_ctl} control tracks but 'controls' lists "
                         f"{len(params.controls)} bigWigs.")
    groups: dict[str, tuple] = {}
    for name, path in (("peaks", params.peaks), ("negatives", params.negatives)):
        if path is None:
            continue
        ex = extract_examples(genome, path, params.signals, controls=params.controls or None,
                              in_window=in_window, out_window=out_window)
        ex = ex.select_chroms(chroms)
        if len(ex) == 0:
            if name == "peaks":
                raise InputError(f"no peaks of '{path}' lie on the {params.chroms} chromosomes "
                                 f"{chroms}; nothing to evaluate.")
            continue
        groups[name] = evaluate_examples(model, ex, params.batch_size, params.device,
                                         params.rc_average, joint)
    if groups["peaks"][0].shape[1] != groups["peaks"][1].shape[1]:
        raise InputError(f"the model predicts {groups['peaks'][1].shape[1]} tracks but "
                         f"'signals' gives {groups['peaks'][0].shape[1]}.")
    metrics = {k: compute_metrics(*v, joint_strands=joint) for k, v in groups.items()}
    if len(groups) > 1:
        metrics["all"] = compute_metrics(*(np.concatenate([g[i] for g in groups.values()])
                                           for i in range(3)), joint_strands=joint)
    from bpnetkit.train.recipes import _finite

    summary = {"model": str(params.model), "chroms": chroms, "rc_average": params.rc_average,
               "metrics": _finite(metrics)}
    write_text_atomic(out / "metrics.json", json.dumps(summary, indent=2) + "\n")
    keys = list(next(iter(metrics.values())))
    rows = ["group\t" + "\t".join(keys)]
    rows += [g + "\t" + "\t".join(f"{m[k]:.6g}" for k in keys) for g, m in metrics.items()]
    write_text_atomic(out / "metrics.tsv", "\n".join(rows) + "\n")
    _plot_counts(groups, out / "counts_scatter.png")
    _plot_profiles(groups["peaks"], joint, params.n_examples_plot, out / "example_profiles.png")
    dump_config(params, out / "evaluate_params.json")
    return {"metrics_json": str(out / "metrics.json"), "metrics_tsv": str(out / "metrics.tsv"),
            "counts_scatter": str(out / "counts_scatter.png"),
            "example_profiles": str(out / "example_profiles.png"),
            "params": str(out / "evaluate_params.json")}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    from bpnetkit.utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def _plot_counts(groups: dict, path: Path) -> None:
    from scipy.special import logsumexp

    from bpnetkit.train.metrics import pearson

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4), squeeze=False)
    for ax, (name, (y, _, lc)) in zip(axes[0], groups.items()):
        obs = np.log1p(y.sum(axis=(1, 2)))
        pred = logsumexp(lc.reshape(len(lc), -1), axis=1)
        ax.scatter(obs, pred, s=6, alpha=0.5)
        lo, hi = float(min(obs.min(), pred.min())), float(max(obs.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls=":")
        ax.set_xlabel("observed log(1 + counts)")
        ax.set_ylabel("predicted log counts")
        ax.set_title(f"{name} (n={len(obs)}, r={pearson(obs, pred):.3f})")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _plot_profiles(group: tuple, joint: bool, n: int, path: Path) -> None:
    from bpnetkit.train.metrics import softmax_probs

    plt = _pyplot()
    y, lg, lc = group
    n = max(1, min(n, len(y)))
    top = np.argsort(-y.sum(axis=(1, 2)))[:n]
    probs = softmax_probs(lg[top], joint)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.0 * n), squeeze=False)
    for ax, i, p in zip(axes[:, 0], top, probs):
        total = y[i].sum()
        for s in range(y.shape[1]):
            sign = -1 if (y.shape[1] == 2 and s == 1) else 1
            ax.plot(sign * y[i, s], color=f"C{s}", lw=0.8, alpha=0.6, label=f"observed {s}")
            scale = total if joint else y[i, s].sum()
            ax.plot(sign * p[s] * scale, color=f"C{s}", lw=1.5, ls="--", label=f"predicted {s}")
        ax.set_ylabel(f"#{i}")
    axes[0, 0].legend(fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("position in output window")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
