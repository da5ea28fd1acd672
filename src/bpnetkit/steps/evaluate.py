"""``bpnetkit evaluate``: metrics of a trained model on held-out regions.

Outputs in ``output_dir`` (:class:`EvaluateOutputs`): ``metrics.json`` (nested: group ->
metric -> value), ``metrics.tsv`` (one row per group: peaks, negatives, all),
``predictions.npz`` (observed and predicted log counts per group and the observed and
predicted profiles of the peaks with most reads; the report draws them with
:func:`bpnetkit.report.training.counts_scatter` and
:func:`bpnetkit.report.training.example_profiles`) and ``evaluate_params.json``. The
metric formulas are documented in :mod:`bpnetkit.train.metrics`.

Predictions go through :func:`bpnetkit.interpret.predict.predict` (the one prediction loop);
:func:`predict_fn` wraps it as the ``predict_fn(X, X_ctl)`` the ``train/`` algorithms take
(they may not import ``interpret/``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs

log = logging.getLogger(__name__)

__all__ = ["EvaluateOutputs", "EvaluateParams", "Outputs", "Params", "predict_fn", "run",
           "run_evaluate"]


@dataclass
class EvaluateParams:
    """Parameters of ``bpnetkit evaluate`` (keys of ``evaluate.json``).

    Attributes
    ----------
    model : str
        Model folder (or any file :func:`bpnetkit.models.files.load_model` reads).
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
    example_cache : str or None
        A folder of extracted examples shared with ``fit`` and later runs
        (:mod:`bpnetkit.data.example_cache`); None: no cache.
    n_examples_plot : int
        Number of example profiles kept for the report.
    verbose : bool
        Show prediction progress.
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
    example_cache: str | None = None
    n_examples_plot: int = 4
    verbose: bool = False

    def validate(self) -> None:
        """Check names and values without reading any file (fast)."""
        from bpnetkit.data.splits import get_split

        for key in ("signals", "controls"):
            v = getattr(self, key)
            if isinstance(v, str) or not isinstance(v, list | tuple):
                raise InputError(f"evaluate: '{key}' must be a list, got {v!r}; write "
                                 f"\"{key}\": [...].")
        if not self.signals:
            raise InputError("evaluate: 'signals' must list at least one bigWig.")
        if self.batch_size < 1:
            raise InputError(f"evaluate: batch_size must be positive, got {self.batch_size}.")
        if self.chroms not in ("test", "valid", "train", "all"):
            raise InputError(f"evaluate: 'chroms' must be test, valid, train or all; got "
                             f"{self.chroms!r}.")
        if self.in_window is not None and self.in_window < 1:
            raise InputError(f"evaluate: in_window must be positive, got {self.in_window}.")
        if self.n_examples_plot < 0:
            raise InputError(f"evaluate: n_examples_plot must be >= 0, got "
                             f"{self.n_examples_plot}.")
        if self.split is not None:
            try:
                get_split(self.split)
            except InputError as e:
                raise InputError(f"evaluate: 'split': {e}") from None


@dataclass
class EvaluateOutputs(StepOutputs):
    """Files written by ``evaluate``.

    Attributes
    ----------
    metrics_json : str
        ``metrics.json``: ``model``, ``chroms``, ``rc_average`` and ``metrics`` (group ->
        metric -> value).
    metrics_tsv : str
        ``metrics.tsv``: the same metrics, one row per group.
    predictions : str or None
        ``predictions.npz``: the arrays of :func:`bpnetkit.train.evaluate.plot_arrays`.
    params : str
        ``evaluate_params.json``.
    """

    metrics_json: str = ""
    metrics_tsv: str = ""
    predictions: str | None = None
    params: str = ""


def predict_fn(model, batch_size: int = 64, device: Any = None, rc_average: bool = False,
               verbose: bool = False):
    """``f(X, X_ctl) -> (profile_logits, log_counts)`` as numpy arrays, predicted with
    :func:`bpnetkit.interpret.predict.predict` (controls are passed to models that take
    them)."""
    from bpnetkit.interpret.predict import predict

    n_ctl = int(getattr(model, "n_control_tracks", 0) or 0)

    def f(X: np.ndarray, X_ctl: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        args = [X_ctl] if n_ctl and X_ctl is not None else None
        lg, lc = predict(model, X, args=args, batch_size=batch_size, device=device,
                         rc_average=rc_average, verbose=verbose)
        return lg.numpy(), lc.numpy()

    return f


def _model_output_length(model, in_window: int) -> int:
    f = getattr(model, "output_length", None)
    if callable(f):
        return int(f(in_window))
    raise InputError("cannot tell the output length of this model; it needs an "
                     "output_length(input_length) method.")


def _provenance(path: str) -> dict:
    """The provenance recorded in a native model folder ({} for other formats)."""
    from bpnetkit.models.files import detect_format, read_model_config

    if detect_format(path) != "native":
        return {}
    return read_model_config(path).get("provenance") or {}


def run(params: EvaluateParams) -> EvaluateOutputs:
    """Evaluate a model on the chosen chromosomes; write metrics and plot data.

    Parameters
    ----------
    params : EvaluateParams
        The parameters.

    Returns
    -------
    EvaluateOutputs
        The written files.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.data.datasets import extract_examples
    from bpnetkit.data.splits import get_split
    from bpnetkit.io.fasta import Genome
    from bpnetkit.models.files import load_model
    from bpnetkit.train.evaluate import (
        evaluate_examples,
        group_metrics,
        json_safe,
        metrics_tsv,
        plot_arrays,
    )
    from bpnetkit.utils import atomic_path, write_text_atomic

    params.validate()
    with staged_outputs(params.output_dir, "evaluate") as stage:
        out = stage.path
        prov = _provenance(params.model)
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
        fn = predict_fn(model, params.batch_size, params.device, params.rc_average,
                        params.verbose)
        groups: dict[str, tuple] = {}
        for name, path in (("peaks", params.peaks), ("negatives", params.negatives)):
            if path is None:
                continue
            ex = extract_examples(genome, path, params.signals, controls=params.controls or None,
                                  in_window=in_window, out_window=out_window,
                                  cache_dir=params.example_cache)
            ex = ex.select_chroms(chroms)
            if len(ex) == 0:
                if name == "peaks":
                    raise InputError(f"no peaks of '{path}' lie on the {params.chroms} chromosomes "
                                     f"{chroms}; nothing to evaluate.")
                continue
            groups[name] = evaluate_examples(fn, ex)
        if groups["peaks"][0].shape[1] != groups["peaks"][1].shape[1]:
            raise InputError(f"the model predicts {groups['peaks'][1].shape[1]} tracks but "
                             f"'signals' gives {groups['peaks'][0].shape[1]}.")
        metrics = group_metrics(groups, joint_strands=joint, add_all=True)
        summary = {"model": str(params.model), "chroms": chroms, "rc_average": params.rc_average,
                   "metrics": json_safe(metrics)}
        write_text_atomic(out / "metrics.json", json.dumps(summary, indent=2) + "\n")
        write_text_atomic(out / "metrics.tsv", metrics_tsv(metrics))
        arrays = plot_arrays(groups, joint, max(1, params.n_examples_plot))
        with atomic_path(out / "predictions.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        dump_config(params, out / "evaluate_params.json")
        outputs = EvaluateOutputs(metrics_json=str(out / "metrics.json"),
                                  metrics_tsv=str(out / "metrics.tsv"),
                                  predictions=str(out / "predictions.npz"),
                                  params=str(out / "evaluate_params.json"))
        return stage.finalize(outputs)


Params = EvaluateParams
Outputs = EvaluateOutputs
run_evaluate = run
