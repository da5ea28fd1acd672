"""Recipes by name (official ones unchanged, old names as aliases), the learning-rate schedule,
the output-head initialisation and the trainer's use of the schedule."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.steps.fit import FitParams
from bpnetkit.train.recipes import (
    DEFAULT_RECIPES,
    RECIPE_ALIASES,
    RECIPES,
    build_model,
    get_recipe,
)
from bpnetkit.train.schedules import LRSchedule, init_output_heads, mean_log_count
from bpnetkit.train.trainer import Trainer

# The resolved training parameters of the recipes before they were renamed (commit d301231:
# "bpnet" and "chrombpnet"), written out by hand: the official recipes must keep them.
OLD_BPNET = {"lr": 1e-3, "eps": 1e-8, "batch_size": 64, "patience": 10, "grad_clip": 1.0,
             "max_jitter": 128, "negative_ratio": 0.333, "rc": "random", "split": "bpnet_lite"}
OLD_CHROMBPNET = {"lr": 1e-3, "eps": 1e-7, "batch_size": 64, "patience": 5, "grad_clip": 0.0,
                  "max_jitter": 500, "negative_ratio": 0.1, "rc": "half", "split": "fold_0"}
OLD_RECIPE_ONLY = {  # recipe fields that are not FitParams keys
    "bpnet_lite": {"count_weight": "mean", "negative_jitter": None, "joint_strands": True,
                   "valid_negatives": False},
    "chrombpnet_official": {"count_weight": "chrombpnet", "negative_jitter": 0,
                            "joint_strands": True, "valid_negatives": True},
}
NEUTRAL = {"lr_schedule": "constant", "warmup_steps": 0, "init_heads": False,
           "count_head_lr_factor": 1.0, "seed_filters": 0, "monitor": "valid_loss"}


def _fit(**kw):
    args = {"genome": "g.fa", "peaks": "p.bed", "signals": ["a.bw"], "output_dir": "out"}
    args.update(kw)
    return FitParams(**args)


@pytest.mark.parametrize("name, alias, model_type, old", [
    ("bpnet_lite", "bpnet", "bpnet", OLD_BPNET),
    ("chrombpnet_official", "chrombpnet", "chrombpnet", OLD_CHROMBPNET),
])
def test_official_recipes_resolve_to_the_previous_parameters(name, alias, model_type, old):
    extra = {"negatives": "n.bed"}
    by_name = _fit(model_type=model_type, recipe=name, **extra).resolved()
    by_alias = _fit(model_type=model_type, recipe=alias, **extra).resolved()
    assert by_name == by_alias and by_name.recipe == name
    for key, value in {**old, **NEUTRAL}.items():
        assert getattr(by_name, key) == value, key
    rec = get_recipe(alias)
    assert rec is RECIPES[name] and RECIPE_ALIASES[alias] == name
    for key, value in OLD_RECIPE_ONLY[name].items():
        assert getattr(rec, key) == value, key
    # each model type's default is the recipe measured better; the official one by name
    default = _fit(model_type=model_type, **extra).resolved().recipe
    assert default == {"bpnet": "bpnetkit", "chrombpnet": "chrombpnetkit"}[model_type]
    assert DEFAULT_RECIPES["procapnet"] == "procapnet"


def test_improved_recipe_differs_only_in_schedule_and_initialisation():
    lite, kit = RECIPES["bpnet_lite"], RECIPES["bpnetkit"]
    differ = {k for k in ("lr", "eps", "batch_size", "patience", "grad_clip", "count_weight",
                          "max_jitter", "negative_ratio", "negative_jitter", "rc", "split",
                          "joint_strands", "valid_negatives", "lr_schedule",
                          "warmup_steps", "init_heads", "count_head_lr_factor",
                          "seed_filters", "monitor")
              if getattr(lite, k) != getattr(kit, k)}
    assert differ <= {"lr", "lr_schedule", "warmup_steps", "init_heads",
                      "count_head_lr_factor", "seed_filters"}
    assert kit.init_heads and kit.warmup_steps > 0 and kit.count_head_lr_factor > 1
    r = _fit(recipe="bpnetkit").resolved()
    assert (r.lr_schedule, r.warmup_steps, r.init_heads, r.count_head_lr_factor) == (
        kit.lr_schedule, kit.warmup_steps, True, kit.count_head_lr_factor)
    with pytest.raises(InputError, match="Did you mean 'bpnet_lite'"):
        _fit(recipe="bpnet_lit").validate()
    with pytest.raises(InputError, match="warmup_steps"):
        _fit(warmup_steps=-1).validate()
    with pytest.raises(InputError, match="lr_schedule"):
        _fit(lr_schedule="step").validate()


def _cosine_reference(s, lr, total, warm, end=0.0):
    # written independently of LRSchedule: warm-up s+1 of warm, then a half cosine
    if s < warm:
        return lr * (s + 1) / warm
    frac = min(1.0, (s - warm) / (total - warm))
    return end + (lr - end) * (math.cos(math.pi * frac) + 1) / 2


def test_schedule_learning_rates_at_given_steps():
    sch = LRSchedule(1e-2, total_steps=110, shape="cosine", warmup_steps=10)
    expected = {0: 1e-3, 4: 5e-3, 9: 1e-2, 10: 1e-2, 35: 1e-2 * (1 + 1 / math.sqrt(2)) / 2,
                60: 5e-3, 85: 1e-2 * (1 - 1 / math.sqrt(2)) / 2, 110: 0.0, 500: 0.0}
    for step, lr in expected.items():
        assert sch(step) == pytest.approx(lr, abs=1e-12), step
        assert sch(step) == pytest.approx(_cosine_reference(step, 1e-2, 110, 10), abs=1e-12)
    lin = LRSchedule(2e-3, total_steps=20, shape="linear", final_factor=0.5)
    assert [lin(s) for s in (0, 10, 20, 30)] == pytest.approx([2e-3, 1.5e-3, 1e-3, 1e-3])
    const = LRSchedule(1e-3, total_steps=20, shape="constant", warmup_steps=4)
    assert [const(s) for s in (0, 3, 4, 19)] == pytest.approx([2.5e-4, 1e-3, 1e-3, 1e-3])
    with pytest.raises(InputError, match="schedule"):
        LRSchedule(1e-3, 10, shape="step")


def _tiny_model():
    torch.manual_seed(0)
    return build_model("bpnet", n_filters=6, n_layers=2, n_outputs=2, n_control_tracks=0,
                       stem_kernel_size=5, profile_kernel_size=5, trimming=None)


def test_count_head_starts_at_the_training_mean():
    rng = np.random.default_rng(1)
    peaks = rng.poisson(400, 50).astype(float)
    negs = rng.poisson(20, 30).astype(float)
    # the mean log(1 + total) of a mix with 0.5 negatives per peak, by hand
    target = (np.log(peaks + 1).sum() + 0.5 * 50 * np.log(negs + 1).mean()) / (50 * 1.5)
    assert mean_log_count(peaks, negs, 0.5) == pytest.approx(target, rel=1e-12)
    assert mean_log_count(peaks) == pytest.approx(np.log(peaks + 1).mean(), rel=1e-12)
    model = _tiny_model()
    X = torch.nn.functional.one_hot(torch.randint(0, 4, (16, 60)), 4).permute(0, 2, 1).float()
    with torch.no_grad():
        before = model(X)[1][:, 0].numpy()
    assert np.abs(before - target).max() > 1.0  # a fresh model is far from the data
    shares = np.array([3.0, 1.0])
    init_output_heads(model, target, shares)
    with torch.no_grad():
        logits, log_counts = model(X)
    np.testing.assert_allclose(log_counts[:, 0].numpy(), target, rtol=1e-6)
    # with the tower's profile contribution removed, the softmax splits as the shares
    with torch.no_grad():
        model.fconv.weight.zero_()
        p = torch.softmax(model(X)[0].reshape(16, -1), -1).reshape(16, 2, -1).sum(-1)
    np.testing.assert_allclose(p.numpy(), np.tile([0.75, 0.25], (16, 1)), rtol=1e-5)
    with pytest.raises(InputError, match="linear"):
        init_output_heads(torch.nn.Sequential(torch.nn.Linear(2, 2)), 1.0)


def test_trainer_follows_the_schedule_and_resumes_it(tmp_path):
    rng = np.random.default_rng(0)
    X = torch.nn.functional.one_hot(torch.randint(0, 4, (24, 60)), 4).permute(0, 2, 1).float()
    y = torch.from_numpy(rng.poisson(2.0, (24, 2, 60 - 2 * _tiny_model().trimming))
                         .astype(np.float32))
    batches = [(X[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8)]  # 3 steps per epoch
    sch = LRSchedule(1e-2, total_steps=12, shape="cosine", warmup_steps=3)
    seen = []

    class Recorder(torch.optim.Adam):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    def make(epochs):
        t = Trainer(_tiny_model(), lr=1e-2, max_epochs=epochs, patience=None, device="cpu",
                    output_dir=tmp_path, progress=False, lr_schedule=sch)
        t.optimizer.__class__ = Recorder
        return t

    make(2).fit(batches, batches)
    make(4).fit(batches, batches, resume=True)
    assert seen == pytest.approx([sch(s) for s in range(12)])
    assert seen[2] == pytest.approx(1e-2) and seen[-1] < 1e-3
    # a group with a learning-rate factor follows the schedule times its factor
    t = Trainer(_tiny_model(), lr=1e-2, max_epochs=1, patience=None, device="cpu",
                progress=False, lr_schedule=sch, lr_factors={"linear": 10.0})
    head = {id(p) for p in t.model.linear.parameters()}
    g_rest, g_head = t.optimizer.param_groups
    assert {id(p) for p in g_head["params"]} == head and not head & {
        id(p) for p in g_rest["params"]}
    t.fit(batches, batches)
    assert g_head["lr"] == pytest.approx(10 * sch(2)) and g_rest["lr"] == pytest.approx(sch(2))
    with pytest.raises(InputError, match="no trainable parameter"):
        Trainer(_tiny_model(), lr_factors={"count_head": 2.0}, device="cpu")


def test_fit_with_the_improved_recipe_schedules_and_records_it(tmp_path):
    import json

    from _train_sim import make_genome_dataset
    from bpnetkit.steps.fit import run_fit

    d = make_genome_dataset(tmp_path, chrom_len=12000)
    out = run_fit(FitParams(genome=d["genome"], peaks=d["peaks"], negatives=d["negatives"],
                            signals=d["signals"], split=d["split"], recipe="bpnetkit",
                            output_dir=str(tmp_path / "fit"), in_window=120, out_window=84,
                            n_filters=8, n_layers=2, stem_kernel_size=11,
                            profile_kernel_size=15, max_jitter=8, max_epochs=2,
                            batch_size=16, warmup_steps=1000, progress=False, device="cpu"))
    resolved = json.loads((tmp_path / "fit" / "fit_params.json").read_text())
    kit = RECIPES["bpnetkit"]
    assert resolved["recipe"] == "bpnetkit"
    assert (resolved["lr_schedule"], resolved["init_heads"], resolved["lr"],
            resolved["warmup_steps"]) == (kit.lr_schedule, True, kit.lr, 1000)
    rows = [r.split("\t") for r in Path(out.log).read_text().strip().split("\n")]
    lrs = [float(r[rows[0].index("lr")]) for r in rows[1:]]
    # still warming up after two epochs of k steps: lr(2k - 1) / lr(k - 1) = 2k / k
    assert len(lrs) == 2 and lrs[1] == pytest.approx(2 * lrs[0], rel=1e-6)
    assert lrs[1] < kit.lr


def test_monitor_centered_count_loss_picks_the_epoch(tmp_path):
    """``monitor="valid_loss_centered"``: profile NLL + count weight x variance of the count
    residuals, computed here by hand from the kept model's predictions; the kept epoch is
    the one of the lowest such value, and an offset of every predicted log count changes
    the validation loss but not this criterion."""
    from bpnetkit.train.losses import multinomial_nll

    rng = np.random.default_rng(3)
    X = torch.nn.functional.one_hot(torch.randint(0, 4, (24, 60)), 4).permute(0, 2, 1).float()
    y = torch.from_numpy(rng.poisson(2.0, (24, 2, 60 - 2 * _tiny_model().trimming))
                         .astype(np.float32))
    batches = [(X[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8)]
    t = Trainer(_tiny_model(), lr=1e-2, max_epochs=4, patience=None, device="cpu",
                count_weight=7.0, progress=False, monitor="valid_loss_centered")
    res = t.fit(batches, batches)
    hist = res.history
    crit = [h["valid_loss_centered"] for h in hist]
    assert res.best_epoch == int(np.argmin(crit)) + 1
    assert res.best_valid_loss == pytest.approx(min(crit))
    # by hand on the kept model
    t.model.eval()
    with torch.no_grad():
        logits, log_counts = t.model(X)
    obs = np.log1p(y.sum(dim=(1, 2)).numpy())
    prof = np.mean([multinomial_nll(logits[i:i + 8], y[i:i + 8]).item() for i in (0, 8, 16)])
    want = prof + 7.0 * np.var(log_counts[:, 0].numpy() - obs)
    assert min(crit) == pytest.approx(want, rel=1e-4)
    # an offset of the count head moves valid_loss, not the centred criterion
    before = t.evaluate_loss(batches)
    m = float(np.mean(log_counts[:, 0].numpy() - obs))  # the kept model's mean offset
    with torch.no_grad():  # pushed 3 further from 0
        t.model.linear.bias += 3.0 if m >= 0 else -3.0
    after = t.evaluate_loss(batches)
    assert after["valid_loss"] > before["valid_loss"] + 1.0
    assert after["valid_loss_centered"] == pytest.approx(before["valid_loss_centered"],
                                                         rel=1e-6)
    with pytest.raises(InputError, match="monitor"):
        Trainer(_tiny_model(), device="cpu", monitor="valid_pearson")


def test_chrombpnet_small_is_the_official_recipe_with_batches_by_data_size():
    """``chrombpnet_small`` changes only how batch size and learning rate are chosen: the
    official values from 2,560 training peaks on, batches of 16 at 2e-3 below; the base of
    ``chrombpnetkit``."""
    from bpnetkit.train.recipes import auto_batch

    off, small = RECIPES["chrombpnet_official"], RECIPES["chrombpnet_small"]
    same = ("eps", "patience", "grad_clip", "count_weight", "max_jitter", "negative_ratio",
            "negative_jitter", "rc", "split", "joint_strands", "valid_negatives",
            "lr_schedule", "warmup_steps", "init_heads", "count_head_lr_factor",
            "seed_filters", "monitor")
    assert all(getattr(off, k) == getattr(small, k) for k in same)
    assert small.auto_batch and not off.auto_batch
    table = small.auto_batch_table
    assert [auto_batch(n, table) for n in (0, 600, 2559, 2560, 10**6)] == \
        [(16, 2e-3)] * 3 + [(off.batch_size, off.lr)] * 2
    r = _fit(model_type="chrombpnet", recipe="chrombpnet_small", negatives="n.bed").resolved()
    assert r.recipe == "chrombpnet_small" and r.max_jitter == off.max_jitter


def test_chrombpnet_accessibility_heads_follow_init_heads_and_the_head_factor(tmp_path):
    """ChromBPNet applies ``init_heads`` and ``count_head_lr_factor`` to its accessibility
    model (they were silently ignored before): with a vanishing learning rate the count head
    still holds its starting point after training, zero weights and the training data's mean
    log count; without ``init_heads`` it holds random weights. The warm-up is the
    accessibility model's: the bias model, a few steps per epoch, trains at ``lr`` from its
    first step."""
    import warnings

    from _train_sim import make_genome_dataset
    from bpnetkit.models.files import load_model
    from bpnetkit.steps.fit import run_fit

    d = make_genome_dataset(tmp_path, stranded=False, bias_motif="GCGCTA", chrom_len=30000,
                            min_copies=1, bias_gain=30.0, base_rate=0.1)
    heads = {}
    for init in (True, False):
        p = FitParams(model_type="chrombpnet", genome=d["genome"], peaks=d["peaks"],
                      negatives=d["negatives"], signals=d["signals"], split=d["split"],
                      output_dir=str(tmp_path / f"cb_{init}"), in_window=120, out_window=84,
                      n_filters=8, n_layers=2, stem_kernel_size=11, profile_kernel_size=15,
                      bias_n_filters=4, bias_n_layers=1, max_jitter=8, max_epochs=1,
                      bias_max_epochs=1, lr=1e-9, batch_size=16, init_heads=init,
                      warmup_steps=1000,
                      count_head_lr_factor=10.0, progress=False, device="cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = run_fit(p)
        acc = load_model(out.model_nobias, device="cpu")
        lrs = {}
        for key in ("log", "bias_log"):
            rows = [r.split("\t") for r in Path(getattr(out, key)).read_text().split("\n")
                    if r]
            lrs[key] = float(rows[1][rows[0].index("lr")])
        assert lrs["bias_log"] == pytest.approx(1e-9) and lrs["log"] < 0.5e-9, lrs
        heads[init] = (acc.linear.weight.detach().abs().max().item(),
                       acc.linear.bias.detach().item())
    import json

    from bpnetkit.data.datasets import extract_examples

    train = json.loads(Path(d["split"]).read_text())["train"]
    peaks = extract_examples(d["genome"], d["peaks"], d["signals"], in_window=120,
                             out_window=84).select_chroms(train)
    target = float(np.log1p(peaks.counts()).mean())
    w_init, b_init = heads[True]
    assert w_init < 1e-6 and heads[False][0] > 1e-2
    # the start is the training peaks' mean log count (negatives are a tenth of the mix)
    assert target > 2.0 and abs(b_init - target) < 0.5 and abs(heads[False][1]) < 1.0


def test_count_weight_takes_a_number_or_a_rule_name():
    from bpnetkit.pipeline.checks import check_value_types
    from bpnetkit.train.recipes import resolve_count_weight

    totals = np.array([100.0, 200.0, 600.0])
    # a rule name applies that rule to the training totals, whatever the recipe's rule
    assert resolve_count_weight("mean", "chrombpnet", totals) == pytest.approx(300.0)
    assert resolve_count_weight("chrombpnet", "mean", totals) == pytest.approx(20.0)
    assert resolve_count_weight(7.0, "mean", totals) == 7.0
    assert resolve_count_weight(None, "mean", totals) == pytest.approx(300.0)
    assert resolve_count_weight(None, 100.0, totals) == 100.0
    assert _fit(count_weight="mean").resolved().count_weight == "mean"
    for bad in (-1.0, "median"):
        with pytest.raises(InputError, match="count_weight.*'mean' or 'chrombpnet'"):
            _fit(count_weight=bad).resolved()
    # a pipeline JSON names the valid rules when given another string
    from bpnetkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"count_weight.*mean.*chrombpnet"):
        check_value_types(FitParams, {"count_weight": "median"}, "fit_parameters")


def test_chrombpnetkit_is_chrombpnet_small_with_the_count_settings():
    """The default of ``model_type="chrombpnet"``: ``chrombpnet_small`` (official jitter,
    negatives, reverse complement, split, auto batch) with the ``bpnetkit`` recipe's count
    weight rule and count-head settings; resolved with a number of peaks, the weight is the
    mean of the training totals."""
    from bpnetkit.train.recipes import resolve_count_weight

    small, kit, bk = RECIPES["chrombpnet_small"], RECIPES["chrombpnetkit"], RECIPES["bpnetkit"]
    changed = {"count_weight", "warmup_steps", "init_heads", "count_head_lr_factor"}
    for f in ("lr", "eps", "batch_size", "patience", "grad_clip", "max_jitter",
              "negative_ratio", "negative_jitter", "rc", "split", "joint_strands",
              "valid_negatives", "lr_schedule", "seed_filters", "monitor", "auto_batch",
              "auto_batch_table"):
        assert getattr(kit, f) == getattr(small, f), f
    for f in changed:
        assert getattr(kit, f) == getattr(bk, f) != getattr(small, f), f
    assert DEFAULT_RECIPES["chrombpnet"] == "chrombpnetkit"
    r = _fit(model_type="chrombpnet", negatives="n.bed").resolved()
    assert (r.recipe, r.init_heads, r.count_head_lr_factor, r.warmup_steps) == \
        ("chrombpnetkit", True, 10.0, 24)
    totals = np.array([1000.0, 3000.0, 8000.0])
    assert resolve_count_weight(None, kit.count_weight, totals) == pytest.approx(4000.0)
    assert resolve_count_weight(None, small.count_weight, totals) == pytest.approx(300.0)
