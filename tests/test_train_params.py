"""FitParams/EvaluateParams validation (fast, no data read), recipes built through the
presets, and the ChromBPNet pieces (count shift, QC, footprint) on arrays."""

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.models.presets import ARCHITECTURES
from bpnetkit.steps.evaluate import EvaluateParams
from bpnetkit.steps.fit import FitParams
from bpnetkit.train import chrombpnet as cb
from bpnetkit.train.qc import chrombpnet_qc, footprint_limit, marginal_footprint
from bpnetkit.train.recipes import RECIPES, Recipe, build_model


def _fit(**kw):
    # files that do not exist: validation must not read them
    args = {"genome": "/nonexistent/genome.fa", "peaks": "/nonexistent/peaks.bed",
            "signals": ["/nonexistent/a.bw"], "output_dir": "/nonexistent/out"}
    args.update(kw)
    return FitParams(**args)


def test_validate_reads_no_file_and_names_the_bad_key(tmp_path):
    _fit().validate()
    _fit(model_type="chrombpnet", negatives="/nonexistent/n.bed").validate()
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["chr2"], "valid": ["chr8", "chr2"], "test": []}))
    with pytest.raises(InputError, match="chr2.*both"):
        _fit(split=str(split)).validate()
    with pytest.raises(InputError, match="unknown split"):
        _fit(split="fold_9").validate()
    with pytest.raises(InputError, match="recipe.*Did you mean 'procapnet'"):
        _fit(recipe="procapnt").validate()
    with pytest.raises(InputError, match="'signals' must be a list"):
        _fit(signals="/nonexistent/a.bw").validate()
    with pytest.raises(InputError, match="'exclusion_lists' must be a list"):
        _fit(exclusion_lists="blacklist.bed").validate()
    for key, bad in (("lr", -1.0), ("batch_size", 0), ("n_filters", 0), ("max_jitter", -1),
                     ("negative_ratio", -0.1), ("bias_n_layers", 0)):
        with pytest.raises(InputError, match=f"'{key}'"):
            _fit(model_type="chrombpnet", negatives="n.bed", **{key: bad}).validate()
    with pytest.raises(InputError, match="'rc'"):
        _fit(rc="always").validate()
    for bad in (0, -5.0, True, "1h"):
        with pytest.raises(InputError, match="'max_time' must be a positive number"):
            _fit(max_time=bad).validate()
    _fit(max_time=3600).validate()
    with pytest.raises(InputError, match="in_window"):
        _fit(in_window=1001, out_window=1000).validate()


def test_evaluate_params_validate():
    args = {"model": "m", "genome": "g", "peaks": "p", "signals": ["s"], "output_dir": "o"}
    EvaluateParams(**args).validate()
    with pytest.raises(InputError, match="chroms"):
        EvaluateParams(**args, chroms="held_out").validate()
    with pytest.raises(InputError, match="split"):
        EvaluateParams(**args, split="fold_9").validate()


def test_recipe_sets_training_defaults_and_model_type_the_architecture():
    # the documented values of each source (bpnetkit.train.recipes docstring)
    r = _fit(model_type="bpnet", recipe="procapnet").resolved()
    assert (r.lr, r.batch_size, r.max_jitter, r.split) == (5e-4, 32, 200, "fold_0")
    assert (r.n_filters, r.n_layers) == (64, 8)  # bpnet-lite architecture
    r = _fit(model_type="procapnet").resolved()
    assert r.recipe == "procapnet" and (r.n_filters, r.n_layers, r.lr) == (512, 8, 5e-4)
    r = _fit(model_type="chrombpnet", negatives="n.bed", assay="dnase").resolved()
    assert (r.n_filters, r.bias_n_filters, r.bias_n_layers) == (512, 128, 4)
    assert (r.eps, r.rc, r.bias_threshold_factor) == (1e-7, "half", 0.8)
    r = _fit(n_filters=7, lr=0.5).resolved()
    assert (r.n_filters, r.lr, r.eps) == (7, 0.5, 1e-8)


def test_recipes_hold_no_architecture_and_build_through_presets():
    names = {f.name for f in dataclasses.fields(Recipe)}
    assert not names & {"n_filters", "n_layers", "stem_kernel_size", "profile_kernel_size"}
    assert set(RECIPES) == {"bpnet_lite", "chrombpnet_official", "procapnet", "bpnetkit",
                            "chrombpnet_small", "chrombpnetkit"}
    for family, sizes in (("bpnet", (64, 8, 2, 2)), ("procapnet", (512, 8, 2, 0)),
                          ("chrombpnet", (512, 8, 1, 0)), ("chrombpnet_bias", (128, 4, 1, 0))):
        m = build_model(family, n_filters=8 if family != "bpnet" else None, n_layers=None)
        arch = ARCHITECTURES[family]
        assert (arch["n_filters"], arch["n_layers"], arch["n_outputs"],
                arch["n_control_tracks"]) == sizes
        assert m.n_layers == sizes[1] and m.n_control_tracks == sizes[3]
        assert m.n_filters == (8 if family != "bpnet" else 64)
    with pytest.raises(InputError, match="family"):
        build_model("resnet")


def test_count_shift_zeroes_the_mean_residual():
    torch.manual_seed(0)
    bias = build_model("chrombpnet_bias", n_filters=4, n_layers=1, trimming=20,
                       stem_kernel_size=5, profile_kernel_size=5)
    X = torch.nn.functional.one_hot(torch.randint(0, 4, (16, 100)), 4).permute(0, 2, 1).float()
    totals = np.random.default_rng(0).poisson(30, 16).astype(float)
    with torch.no_grad():
        before = bias(X)[1][:, 0].numpy()
    delta = cb.count_shift(totals, before)
    cb.shift_count_bias(bias, delta)
    with torch.no_grad():
        after = bias(X)[1][:, 0].numpy().astype(np.float64)
    assert abs(np.mean(np.log1p(totals) - after)) < 1e-5
    assert delta == pytest.approx(np.mean(np.log1p(totals)) - np.mean(before), rel=1e-5)


def test_nonpeak_selection_threshold():
    peaks = np.arange(1, 101, dtype=float)  # 1st percentile = 1.99
    assert cb.nonpeak_threshold(peaks, 0.5) == pytest.approx(1.99 * 0.5)


def test_chrombpnet_qc_thresholds():
    fp_ok = {"ACGT": {"nobias_max": 0.0001, "bias_max": 0.01}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        qc = chrombpnet_qc(0.2, fp_ok, 0.8, out_window=1000)
    assert qc["passed"] and qc["bias_counts_pearson_status"] == "pass"
    assert qc["footprint_limit"] == pytest.approx(0.002)
    with pytest.warns(UserWarning, match="ChromBPNet QC"):
        qc = chrombpnet_qc(-0.4, {"ACGT": {"nobias_max": 0.005, "bias_max": 0.01}}, 0.3, 1000)
    assert qc["bias_counts_pearson_status"] == "warn" and len(qc["problems"]) == 3
    with pytest.warns(UserWarning):
        assert chrombpnet_qc(float("nan"), {}, None, 1000)["bias_counts_pearson_status"] \
            == "fail"
    assert footprint_limit(500) == pytest.approx(0.004)


def test_marginal_footprint_against_hand_computation():
    L = 40
    # a model that ignores its input has no footprint at all
    flat = marginal_footprint(lambda X: np.zeros((len(X), 1, L)), "GATA", L, n_backgrounds=8)
    np.testing.assert_array_equal(flat, 0.0)

    # logits = 3 * (base is G): inserting GGGG at the centre raises exactly those positions
    def g_model(X):
        return 3.0 * np.asarray(X)[:, 2:3, :]

    f = marginal_footprint(g_model, "GGGG", L, n_backgrounds=16, random_state=1)
    assert f.sum() == pytest.approx(0.0, abs=1e-12)
    centre = slice((L - 4) // 2, (L - 4) // 2 + 4)
    assert (f[centre] > 0).all() and (np.delete(f, np.r_[centre]) < 0).all()
