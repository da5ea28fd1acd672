"""ChromBPNet's enzyme QC on simulated ATAC-like data with a known Tn5 insertion preference.

Insertions are Poisson with a rate proportional to the demo simulator's Tn5 preference
(``tn5_weights``), so the log insertion rate at every position is known exactly. The
data-derived enzyme motif must recover that preference; a tiny bias model trained for a few
epochs must pass the "enzyme learned" check, and one trained on shuffled labels or left
untrained must fail it; a bias-free model carrying the enzyme must fail "enzyme removed";
the fit step reports all of it in metrics.json and the log.
"""

import importlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from _train_sim import MOTIF, _plant, _write_bigwig
from bpnetkit.data.datasets import EpochSampler, Examples, TrainingDataset, iter_examples
from bpnetkit.demo.simulate import tn5_weights
from bpnetkit.interpret.predict import predict
from bpnetkit.train import qc
from bpnetkit.train.losses import count_weight_from_counts
from bpnetkit.train.prepare import EpochBatches
from bpnetkit.train.recipes import build_model
from bpnetkit.train.trainer import Trainer

IN, OUT = 160, 100
TRIM = (IN - OUT) // 2
#: the simulator's Tn5 matrix (9 positions x ACGT, centred on the insertion)
TN5 = importlib.import_module("bpnetkit.demo.simulate")._TN5


def _one_hot(codes: np.ndarray) -> np.ndarray:
    X = np.zeros((len(codes), 4, codes.shape[1]), np.int8)
    np.put_along_axis(X, codes[:, None, :], 1, axis=1)
    return X


def tn5_regions(n: int, seed: int, rate: float = 0.3, tn5: bool = True):
    """``n`` random non-peak windows; insertions Poisson with rate ``rate * region scale *
    Tn5 preference`` (flat without ``tn5``). Returns Examples and the true log preference
    ``(n, OUT)`` at the output positions."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(4, size=(n, IN), p=[0.3, 0.2, 0.2, 0.3])
    w = np.stack([tn5_weights(c) for c in codes])[:, TRIM:TRIM + OUT]
    if not tn5:
        w = np.ones_like(w)
    scale = rng.lognormal(0.0, 0.3, size=n)
    y = rng.poisson(rate * scale[:, None] * w / w.mean())[:, None, :].astype(np.float32)
    z = np.zeros(n, dtype=np.int64)
    ex = Examples(_one_hot(codes), y, None, np.array(["chr1"] * n), z, z + IN, np.arange(n),
                  IN, OUT, 0)
    return ex, np.log(w)


def _bias_model(seed: int):
    torch.manual_seed(seed)
    return build_model("chrombpnet_bias", n_filters=16, n_layers=2, stem_kernel_size=11,
                       profile_kernel_size=15, trimming=TRIM, n_outputs=1,
                       n_control_tracks=0)


def _train(ex: Examples, valid: Examples, epochs: int = 5, seed: int = 0):
    """A tiny bias model trained like the fit step's stage (a): no jitter, half RC."""
    model = _bias_model(seed)
    cw = count_weight_from_counts(ex.counts(), rule="chrombpnet")
    trainer = Trainer(model, lr=4e-3, count_weight=cw, max_epochs=epochs, patience=None,
                      device="cpu", progress=False, random_state=seed, joint_strands=False)
    sampler = EpochSampler(len(ex), 0, batch_size=32, random_state=seed, max_jitter=0,
                           rc="half")
    trainer.fit(EpochBatches(TrainingDataset(ex), sampler), list(iter_examples(valid, 64)))
    return model.eval()


def _logits(model):
    return lambda X: predict(model, X, batch_size=64, device="cpu")[0].numpy()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run faster on one thread (and do not fight other processes)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    train, _ = tn5_regions(384, 1)
    valid, _ = tn5_regions(64, 2)
    test, logw = tn5_regions(128, 3)
    return train, valid, test, logw


@pytest.fixture(scope="module")
def models(data):
    train, valid, _, _ = data
    perm = np.random.default_rng(5).permutation(len(train))
    shuffled = train.subset(np.arange(len(train)))
    shuffled.y = train.y[perm]  # each region gets another region's counts
    return {"trained": _train(train, valid), "shuffled": _train(shuffled, valid),
            "untrained": _bias_model(0).eval()}


# -- the enzyme's motif ----------------------------------------------------------------------
def test_data_motif_recovers_planted_tn5_preference(data):
    train, _, test, logw = data
    X, y, _ = train.center()
    m = qc.enzyme_motif_from_counts(X, y)
    # reads at output positions whose +-40 bp flanks lie inside the input window
    assert m.source == "data" and m.n_sites == pytest.approx(float(y[:, :, 10:90].sum()))
    # its log-odds score is the known log insertion preference, at the right scale
    s = qc.enzyme_score_track(test.X, m, OUT)
    assert np.corrcoef(s.ravel(), logw.ravel())[0, 1] > 0.95
    assert np.polyfit(logw.ravel(), s.ravel(), 1)[0] == pytest.approx(1.0, abs=0.15)
    # column by column: offsets -4..4 match the planted matrix, the rest is uninformative
    lo = m.log_odds()
    core = lo[m.pwm.shape[0] // 2 - 4:m.pwm.shape[0] // 2 + 5]
    planted = np.log(TN5)
    r = np.corrcoef((core - core.mean(1, keepdims=True)).ravel(),
                    (planted - planted.mean(1, keepdims=True)).ravel())[0, 1]
    assert r > 0.9
    info = m.information
    mid = m.pwm.shape[0] // 2
    assert info[mid - 4:mid + 5].sum() > 10 * (info.sum() - info[mid - 4:mid + 5].sum())
    assert m.consensus()[mid - 4] == "G" and m.consensus()[mid + 4] == "C"
    # the observed effect of the motif on the counts is the planted one (slope 1 on log scale)
    assert qc.observed_enzyme_effect(X, y, m) == pytest.approx(1.0, abs=0.15)
    # the built-in Tn5 motif (a literature consensus) agrees with the simulator's preference
    sb = qc.enzyme_score_track(test.X, qc.builtin_enzyme_motif("atac"), OUT)
    assert np.corrcoef(sb.ravel(), logw.ravel())[0, 1] > 0.4


def test_enzyme_motif_falls_back_to_builtin():
    few, _ = tn5_regions(4, 7, rate=0.3)
    X, y, _ = few.center()
    m = qc.enzyme_motif_for_qc(X, y, "atac")
    assert m.source == "builtin:atac" and "reads" in m.note
    flat, _ = tn5_regions(384, 8, tn5=False)
    X, y, _ = flat.center()
    assert qc.enzyme_motif_for_qc(X, y, "dnase").source == "builtin:dnase"
    assert qc.enzyme_motif_for_qc(None, None, "atac").note == "no training non-peaks given"
    tn5, _ = tn5_regions(384, 9)
    X, y, _ = tn5.center()
    assert qc.enzyme_motif_for_qc(X, y, "atac").source == "data"


# -- the measures against hand computations ---------------------------------------------------
def test_score_track_and_effect_against_direct_computation():
    rng = np.random.default_rng(0)
    codes = rng.choice(4, size=(3, 40))
    X = _one_hot(codes)
    pwm = rng.dirichlet(np.ones(4), size=5)
    m = qc.EnzymeMotif(pwm, np.full(4, 0.25), -2, "data", 100.0)
    s = qc.enzyme_score_track(X, m, 30)
    lo = np.log(pwm / 0.25)
    for i in range(3):
        for p in range(30):
            want = sum(lo[j, codes[i, 5 + p - 2 + j]] for j in range(5))
            assert s[i, p] == pytest.approx(want)
    # rates exp(b * score) with one score value per bin: the effect is b exactly
    score = np.repeat(np.arange(10.0), 30).reshape(10, 30)
    assert qc.enzyme_effect(np.exp(0.7 * score), score) == pytest.approx(0.7)
    assert np.isnan(qc.enzyme_effect(np.ones((4, 5)), np.zeros((4, 5))))
    # logits = 2 * score + a per-sequence constant + a positional shape: r is 1
    score = qc.enzyme_score_track(X, m, 30)
    logits = 2 * score + rng.normal(size=(3, 1)) + np.sin(np.arange(30))[None]
    assert qc.enzyme_response(logits[:, None], X, m)["r"] == pytest.approx(1.0)
    assert qc.enzyme_response(np.zeros((3, 1, 30)), X, m)["r"] == 0.0
    assert qc.enzyme_share(1.0, 0.25) == pytest.approx(0.2)
    assert qc.enzyme_share(1.0, -1.0) == pytest.approx(0.5)
    assert qc.enzyme_share(None, 0.1) is None


# -- the checks on trained, shuffled-label and untrained bias models ---------------------------
def _enzyme(data, bias, nobias=None):
    train, _, test, _ = data
    X, y, _ = train.center()
    return qc.enzyme_checks(_logits(bias), None if nobias is None else _logits(nobias), X, y,
                            test.X, "atac")


def test_enzyme_check_passes_trained_bias_model_fails_shuffled_and_untrained(data, models):
    got = {}
    for name, model in models.items():
        e = _enzyme(data, model)
        got[name] = e
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            res = qc.chrombpnet_qc(0.1, {}, None, OUT, enzyme=e)
        assert res["enzyme"]["enzyme_motif"]["source"] == "data"
        assert res["checks"]["enzyme_removed"] == "not run"
        assert res["checks"]["enzyme_learned"] == ("pass" if name == "trained" else "fail"), \
            (name, e)
        assert res["passed"] == (name == "trained")
        assert any("did not learn the enzyme" in str(x.message) for x in w) == \
            (name != "trained")
    assert got["trained"]["bias_r"] > 0.8 and got["trained"]["bias_effect_ratio"] > 0.7
    for name in ("shuffled", "untrained"):
        assert abs(got[name]["bias_effect_ratio"]) < 0.1, (name, got[name])
    # the result is JSON-ready
    json.dumps(qc.chrombpnet_qc(0.1, {}, None, OUT, enzyme=got["trained"]))


def test_enzyme_removed_check(data, models):
    # a bias-free model without the enzyme passes; one carrying it, or its opposite, fails
    clean = _enzyme(data, models["trained"], models["shuffled"])
    assert clean["nobias_share"] < 0.05
    leaky = _enzyme(data, models["trained"], models["trained"])
    assert leaky["nobias_share"] == pytest.approx(0.5)

    class Negated(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, X):
            lg, lc = self.m(X)
            return -lg, lc

    over = _enzyme(data, models["trained"], Negated(models["trained"]))
    assert over["nobias_r"] < -0.8 and over["nobias_share"] > 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = [qc.chrombpnet_qc(0.1, {}, None, OUT, enzyme=e)["checks"]["enzyme_removed"]
                  for e in (clean, leaky, over)]
    assert checks == ["pass", "fail", "fail"]


# -- the fit step -----------------------------------------------------------------------------
def _atac_genome(tmp: Path, chroms=("chr1", "chr2", "chr3", "chr4", "chr5"),
                 chrom_len: int = 12000, spacing: int = 200, base: float = 1.0,
                 seed: int = 0) -> dict:
    """FASTA, peak/negative BEDs, an unstranded insertion bigWig with the Tn5 preference and
    accessible peaks holding the planted MOTIF."""
    rng = np.random.default_rng(seed)
    fasta, peaks, negs, tracks = [], [], [], {}
    for c in chroms:
        seq = rng.choice(list("ACGT"), size=chrom_len, p=[0.3, 0.2, 0.2, 0.3])
        acc = np.full(chrom_len, base)
        pos = np.arange(chrom_len)
        for k, centre in enumerate(range(spacing, chrom_len - spacing, spacing)):
            if k % 2 == 0:
                n = int(rng.integers(1, 4))
                for _ in range(n):
                    _plant(seq, centre + int(rng.integers(-30, 24)), MOTIF)
                acc += 6.0 * base * n * np.exp(-0.5 * ((pos - centre) / 25.0) ** 2)
                peaks.append((c, centre - 50, centre + 50))
            else:
                negs.append((c, centre - 50, centre + 50))
        codes = np.searchsorted(np.array(list("ACGT")), seq)
        w = tn5_weights(codes)
        tracks[c] = rng.poisson(acc * w / w.mean()).astype(float)
        fasta.append(f">{c}\n" + "\n".join("".join(seq[i:i + 60])
                                          for i in range(0, chrom_len, 60)))
    (tmp / "genome.fa").write_text("\n".join(fasta) + "\n")
    for name, rows in (("peaks.bed", peaks), ("negatives.bed", negs)):
        (tmp / name).write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows))
    _write_bigwig(tmp / "insertions.bw", {c: chrom_len for c in chroms}, tracks)
    split = {"train": list(chroms[1:-1]), "valid": [chroms[-1]], "test": [chroms[0]]}
    (tmp / "split.json").write_text(json.dumps(split))
    return {"genome": str(tmp / "genome.fa"), "peaks": str(tmp / "peaks.bed"),
            "negatives": str(tmp / "negatives.bed"), "signals": [str(tmp / "insertions.bw")],
            "split": str(tmp / "split.json")}


def test_fit_reports_enzyme_qc(tmp_path, caplog):
    from bpnetkit.steps.fit import FitParams, run_fit

    d = _atac_genome(tmp_path)
    p = FitParams(model_type="chrombpnet", **d, output_dir=str(tmp_path / "cb"),
                  in_window=IN, out_window=OUT, n_filters=16, n_layers=2, bias_n_filters=16,
                  bias_n_layers=2, stem_kernel_size=11, profile_kernel_size=15,
                  max_jitter=8, max_epochs=1, bias_max_epochs=5, lr=4e-3, batch_size=8,
                  progress=False, device="cpu")
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="bpnetkit.train.qc"):
        warnings.simplefilter("ignore")
        out = run_fit(p)
    qcj = json.loads(Path(out.metrics).read_text())["qc"]
    e = qcj["enzyme"]
    assert e["enzyme_motif"]["source"] == "data"
    assert e["bias_effect_ratio"] > 0.5 and e["bias_r"] > 0.5, e
    assert qcj["checks"]["enzyme_learned"] == "pass"
    assert qcj["checks"]["enzyme_removed"] in ("pass", "fail")
    assert {"bias_counts_pearson", "footprints", "counts_pearson"} <= set(qcj["checks"])
    assert qcj["passed"] == (not qcj["problems"])
    assert qcj["passed"] == all(v in ("pass", "not run") for v in qcj["checks"].values())
    # the official numbers stay reported
    assert set(qcj["footprints"]) == set(qc.DEFAULT_BIAS_MOTIFS["atac"])
    assert "enzyme motif from data" in caplog.text
    # the report's QC table shows every check that ran, with its status and numbers
    from bpnetkit.report.training import chrombpnet_qc_rows

    rows = {r["check"]: r for r in chrombpnet_qc_rows(qcj)}
    assert {k: r["status"] for k, r in rows.items()} == \
        {k: v for k, v in qcj["checks"].items() if v != "not run"}
    assert f"r {e['bias_r']:.3f}" in rows["enzyme_learned"]["value"]
    prov = json.loads((Path(out.model) / "config.json").read_text())["provenance"]
    assert prov["metrics"]["qc"]["enzyme"]["bias_r"] == pytest.approx(e["bias_r"])
