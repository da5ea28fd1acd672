"""The training and evaluation figures (report/training.py) are Figures built from data."""

import numpy as np
from matplotlib.figure import Figure

from bpnetkit.report.training import (
    counts_scatter,
    evaluate_figures,
    example_profiles,
    fit_figures,
    training_curve,
)
from bpnetkit.train.evaluate import plot_arrays
from bpnetkit.train.trainer import LOG_COLUMNS


def _history(n=4):
    return [{"epoch": e, "train_loss": 10 - e, "valid_loss": 11 - e, "train_profile_loss": 5,
             "valid_profile_loss": 6, "train_counts_loss": 1, "valid_counts_loss": 2}
            for e in range(1, n + 1)]


def test_training_curve_from_history_and_log(tmp_path):
    fig = training_curve(_history())
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert list(fig.axes[0].lines[0].get_ydata()) == [9, 8, 7, 6]
    log = tmp_path / "log.tsv"
    rows = ["\t".join(LOG_COLUMNS)]
    for r in _history(3):
        rows.append("\t".join(str(r.get(c, "")) for c in LOG_COLUMNS))
    log.write_text("\n".join(rows) + "\n")
    figs = fit_figures(log)
    assert isinstance(figs["training_curve"], Figure)
    assert list(figs["training_curve"].axes[1].lines[1].get_ydata()) == [6.0, 6.0, 6.0]


def test_evaluate_figures_from_plot_arrays(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.poisson(1.0, (10, 2, 30)).astype(np.float32)
    groups = {"peaks": (y, rng.normal(size=(10, 2, 30)), rng.normal(size=(10, 1))),
              "negatives": (y[:5], rng.normal(size=(5, 2, 30)), rng.normal(size=(5, 1)))}
    arrays = plot_arrays(groups, joint_strands=True, n_examples=3)
    np.testing.assert_allclose(arrays["negatives_observed_log_counts"],
                               np.log1p(y[:5].sum(axis=(1, 2))))
    np.savez(tmp_path / "p.npz", **arrays)
    figs = evaluate_figures(tmp_path / "p.npz")
    assert isinstance(figs["counts_scatter"], Figure) and len(figs["counts_scatter"].axes) == 2
    assert len(figs["example_profiles"].axes) == 3
    fig = counts_scatter({"a": np.arange(5.0)}, {"a": np.arange(5.0)})
    assert len(fig.axes) == 1
    fig = example_profiles(y[:2], y[:2])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
