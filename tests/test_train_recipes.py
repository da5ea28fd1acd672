"""Recipes end to end on a tiny simulated genome (FASTA + bigWigs written here).

BPNet through the command line (fit + evaluate) learns the planted motif's counts on held-out
chromosomes; the ChromBPNet bias model learns the planted enzyme-bias motif and the
accessibility model does not; bad inputs give clear errors.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from _train_sim import MOTIF, make_genome_dataset
from bpnetkit.cli.main import main
from bpnetkit.errors import ConfigError, InputError
from bpnetkit.steps.fit import FitOutputs, FitParams, run_fit

TINY = {"in_window": 120, "out_window": 84, "n_filters": 16, "n_layers": 2,
        "stem_kernel_size": 11, "profile_kernel_size": 15, "progress": False, "device": "cpu"}
BIAS_MOTIF = "GCGCTA"


@pytest.fixture(scope="module")
def bpnet_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bpnet")
    d = make_genome_dataset(tmp, chrom_len=24000)
    fit = {"model_type": "bpnet", "genome": d["genome"], "peaks": d["peaks"],
           "negatives": d["negatives"], "signals": d["signals"], "split": d["split"],
           "output_dir": str(tmp / "fit"), **TINY, "max_jitter": 8, "max_epochs": 10,
           "lr": 1e-2, "batch_size": 32, "count_weight": 10.0, "grad_clip": 0.0}
    (tmp / "fit.json").write_text(json.dumps(fit))
    assert main(["fit", "-p", str(tmp / "fit.json")]) == 0
    return tmp, d


def test_bpnet_learns_planted_counts_on_heldout_chromosomes(bpnet_run):
    tmp, d = bpnet_run
    out = tmp / "fit"
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert metrics["peaks"]["n"] > 30
    assert metrics["peaks"]["counts_pearson"] > 0.5, metrics["peaks"]
    assert metrics["peaks"]["profile_jsd_normalized"] > 0.05, metrics["peaks"]
    for f in ("model/config.json", "model/model.safetensors", "checkpoint.pt", "log.tsv",
              "fit_params.json"):
        assert (out / f).exists(), f
    assert not list(out.glob("*.png"))  # figures are the report's job
    rows = (out / "log.tsv").read_text().strip().split("\n")
    header = rows[0].split("\t")
    assert header[:2] == ["epoch", "train_loss"] and len(rows) == 1 + 10
    assert all(float(r.split("\t")[header.index("valid_loss")]) > 0 for r in rows[1:])
    cfg = json.loads((out / "model" / "config.json").read_text())
    prov = cfg["provenance"]
    assert prov["data"]["signals"] == d["signals"]
    assert prov["split"]["test"] == ["chr1"]
    assert prov["hyperparameters"]["lr"] == 1e-2
    assert prov["metrics"]["test"]["peaks"]["counts_pearson"] == \
        pytest.approx(metrics["peaks"]["counts_pearson"])
    resolved = json.loads((out / "fit_params.json").read_text())
    assert resolved["negative_ratio"] == pytest.approx(0.333) and resolved["rc"] == "random"


def test_evaluate_command_matches_fit_metrics(bpnet_run):
    tmp, d = bpnet_run
    ev = {"model": str(tmp / "fit" / "model"), "genome": d["genome"], "peaks": d["peaks"],
          "negatives": d["negatives"], "signals": d["signals"], "output_dir": str(tmp / "ev")}
    (tmp / "ev.json").write_text(json.dumps(ev))
    assert main(["evaluate", "-p", str(tmp / "ev.json")]) == 0
    got = json.loads((tmp / "ev" / "metrics.json").read_text())["metrics"]
    ref = json.loads((tmp / "fit" / "metrics.json").read_text())["test"]
    assert set(got) == {"peaks", "negatives", "all"}
    assert got["peaks"]["counts_pearson"] == pytest.approx(ref["peaks"]["counts_pearson"],
                                                           abs=1e-5)
    for f in ("metrics.tsv", "predictions.npz", "evaluate_params.json"):
        assert (tmp / "ev" / f).exists()
    assert not list((tmp / "ev").glob("*.png"))
    # the plot data: observed counts equal an independent read of the test peaks' signal
    from bpnetkit.data.datasets import extract_examples

    ex = extract_examples(d["genome"], d["peaks"], d["signals"], in_window=120,
                          out_window=84).select_chroms(["chr1"])
    with np.load(tmp / "ev" / "predictions.npz") as z:
        assert list(z["groups"]) == ["peaks", "negatives"]
        np.testing.assert_allclose(z["peaks_observed_log_counts"],
                                   np.log1p(ex.counts()), rtol=1e-6)
        r = np.corrcoef(z["peaks_observed_log_counts"], z["peaks_predicted_log_counts"])[0, 1]
        assert r == pytest.approx(got["peaks"]["counts_pearson"], abs=1e-5)
        obs, pred = z["profiles_observed"], z["profiles_predicted"]
        assert obs.shape == pred.shape == (4, 2, 84)
        # the examples kept are those with most reads; predictions carry the observed totals
        assert obs.sum(axis=(1, 2)).min() >= np.sort(ex.counts())[-4] - 1e-6
        np.testing.assert_allclose(pred.sum(axis=(1, 2)), obs.sum(axis=(1, 2)), rtol=1e-5)
    # reverse-complement averaging runs and keeps a sensible model
    ev["rc_average"] = True
    ev["output_dir"] = str(tmp / "ev_rc")
    (tmp / "ev_rc.json").write_text(json.dumps(ev))
    assert main(["evaluate", "-p", str(tmp / "ev_rc.json")]) == 0
    rc = json.loads((tmp / "ev_rc" / "metrics.json").read_text())["metrics"]
    assert rc["peaks"]["counts_pearson"] > 0.4


def test_chrombpnet_bias_learns_enzyme_motif_accessibility_does_not(tmp_path):
    d = make_genome_dataset(tmp_path, stranded=False, bias_motif=BIAS_MOTIF, chrom_len=30000,
                           min_copies=1, bias_gain=30.0, base_rate=0.1)
    p = FitParams(model_type="chrombpnet", genome=d["genome"], peaks=d["peaks"],
                  negatives=d["negatives"], signals=d["signals"], split=d["split"],
                  output_dir=str(tmp_path / "cb"), bias_n_filters=8, bias_n_layers=2,
                  max_jitter=16, max_epochs=12, bias_max_epochs=8, lr=4e-3, batch_size=32,
                  bias_motifs=[BIAS_MOTIF, MOTIF], **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = run_fit(p)
    assert isinstance(out, FitOutputs) and not out.missing()
    for key in ("model", "model_nobias", "bias_model", "metrics", "bias_log", "log",
                "checkpoint", "params"):
        assert Path(getattr(out, key)).exists(), key
    qc = json.loads(Path(out.metrics).read_text())["qc"]
    fp, limit = qc["footprints"], qc["footprint_limit"]
    # the bias model has a strong footprint of the enzyme motif ...
    assert fp[BIAS_MOTIF]["bias_max"] > limit
    # ... the bias-free accessibility model has none, but does respond to the TF motif
    assert fp[BIAS_MOTIF]["nobias_max"] < limit
    assert fp[BIAS_MOTIF]["nobias_max"] < fp[BIAS_MOTIF]["bias_max"] / 3
    assert fp[MOTIF]["nobias_max"] > fp[BIAS_MOTIF]["nobias_max"]
    # after the count shift, the bias model's mean residual on its non-peaks is zero
    from bpnetkit.data.datasets import extract_examples
    from bpnetkit.interpret.predict import predict
    from bpnetkit.models.files import load_model

    bias = load_model(out.bias_model, device="cpu")
    neg = extract_examples(d["genome"], d["negatives"], d["signals"], in_window=120,
                           out_window=84).select_chroms(["chr2", "chr3", "chr4", "chr5"])
    neg = neg.subset(neg.counts() < qc["bias_nonpeak_threshold"])
    X, y, _ = neg.center()
    _, lc = predict(bias, X, device="cpu")
    residual = np.log1p(y.sum(axis=(1, 2))) - lc[:, 0].numpy()
    assert abs(residual.mean()) < 0.05
    model = load_model(out.model, device="cpu")
    assert type(model).__name__ == "ChromBPNet"


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    return tmp, make_genome_dataset(tmp, chrom_len=6000)


def _params(tmp, d, **kw):
    args = {"genome": d["genome"], "peaks": d["peaks"], "signals": d["signals"],
            "split": d["split"], "output_dir": str(tmp / "out"), **TINY, "max_epochs": 1}
    args.update(kw)
    return FitParams(**args)


def test_all_zero_signal_is_a_clear_error(tmp_path):
    d = make_genome_dataset(tmp_path, chrom_len=6000, zero_signal=True)
    with pytest.raises(InputError, match="zero everywhere"):
        run_fit(_params(tmp_path, d))


def test_too_few_regions_and_empty_validation_split(small_data):
    tmp, d = small_data
    split = tmp / "split_novalid.json"
    split.write_text(json.dumps({"train": ["chr2", "chr3", "chr4", "chr5"], "valid": ["chr9"],
                                 "test": ["chr1"]}))
    with pytest.raises(InputError, match="validation split has no peaks"):
        run_fit(_params(tmp, d, split=str(split)))
    rows = Path(d["peaks"]).read_text().splitlines()
    few = tmp / "few.bed"  # 3 training peaks, validation peaks intact
    few.write_text("\n".join([r for r in rows if r.startswith("chr2\t")][:3]
                             + [r for r in rows if r.startswith("chr5\t")]) + "\n")
    with pytest.raises(InputError, match="too few training regions"):
        run_fit(_params(tmp, d, peaks=str(few)))


def test_fit_json_validation(small_data, capsys):
    tmp, d = small_data
    bad = {"genome": d["genome"], "peaks": d["peaks"], "signals": d["signals"],
           "output_dir": str(tmp / "x"), "learning_rate": 0.1}
    (tmp / "bad.json").write_text(json.dumps(bad))
    assert main(["fit", "-p", str(tmp / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "learning_rate" in err
    bad.pop("learning_rate")
    bad["max_epochs"] = "ten"
    (tmp / "bad.json").write_text(json.dumps(bad))
    from bpnetkit.config import load_config

    with pytest.raises(ConfigError, match="max_epochs"):
        load_config(FitParams, tmp / "bad.json")
    with pytest.raises(InputError, match="negatives"):
        FitParams(genome="g", peaks="p", signals=["s"], output_dir="o",
                  model_type="chrombpnet").validate()


def test_procapnet_recipe_defaults(small_data):
    tmp, d = small_data
    out = run_fit(_params(tmp, d, model_type="procapnet", output_dir=str(tmp / "pc"),
                          negatives=d["negatives"], max_jitter=8))
    resolved = json.loads(Path(out.params).read_text())
    assert resolved["lr"] == 5e-4 and resolved["batch_size"] == 32
    assert resolved["negative_ratio"] == pytest.approx(0.125 / 0.875)
    assert resolved["recipe"] == "procapnet"
    prov = json.loads((Path(out.model) / "config.json").read_text())["provenance"]
    assert prov["count_weight"] == 100.0 and prov["joint_strands"] is True
    assert prov["recipe"] == "procapnet"


def test_fit_resume_from_command_line(small_data):
    tmp, d = small_data
    fit = {"genome": d["genome"], "peaks": d["peaks"], "signals": d["signals"],
           "split": d["split"], "output_dir": str(tmp / "resume"), **TINY, "max_epochs": 1,
           "patience": 5}
    (tmp / "r.json").write_text(json.dumps(fit))
    assert main(["fit", "-p", str(tmp / "r.json")]) == 0
    fit["max_epochs"] = 2
    (tmp / "r.json").write_text(json.dumps(fit))
    assert main(["fit", "-p", str(tmp / "r.json"), "--resume"]) == 0
    rows = (tmp / "resume" / "log.tsv").read_text().strip().split("\n")
    assert [r.split("\t")[0] for r in rows[1:]] == ["1", "2"]


def test_every_exclusion_list_applies_and_verbose_drives_progress(small_data, monkeypatch):
    """Two exclusion lists each remove their peaks/negatives from the test chromosome;
    ``verbose`` switches the trainer's progress bars."""
    import bpnetkit.train.trainer as trainer_mod

    tmp, d = small_data
    # peaks are centred every 400 bp from 200 (negatives in between); a 6-bp interval on a
    # centre excludes exactly that region
    (tmp / "ex_a.bed").write_text("chr1\t597\t603\n")
    (tmp / "ex_b.bed").write_text("chr1\t1397\t1403\nchr1\t797\t803\n")
    rows = [r.split("\t") for r in Path(d["peaks"]).read_text().splitlines()]
    negs = [r.split("\t") for r in Path(d["negatives"]).read_text().splitlines()]
    centres = {(c, (int(s) + int(e)) // 2) for c, s, e in rows}
    assert {("chr1", 600), ("chr1", 1400)} <= centres  # the excluded ones are peaks
    n_peaks = sum(r[0] == "chr1" for r in rows)
    n_negs = sum(r[0] == "chr1" for r in negs)

    seen = []
    monkeypatch.setattr(trainer_mod, "progress",
                        lambda it, desc="", total=None, enabled=True, unit="it":
                        seen.append(enabled) or iter(it))
    out = run_fit(_params(tmp, d, output_dir=str(tmp / "excl"), negatives=d["negatives"],
                          max_jitter=8, exclusion_lists=[str(tmp / "ex_a.bed"),
                                                         str(tmp / "ex_b.bed")],
                          progress=True, verbose=False))
    test = json.loads(Path(out.metrics).read_text())["test"]
    assert test["peaks"]["n"] == n_peaks - 2
    assert test["negatives"]["n"] == n_negs - 1
    prov = json.loads((Path(out.model) / "config.json").read_text())["provenance"]
    assert prov["data"]["exclusion_lists"] == [str(tmp / "ex_a.bed"), str(tmp / "ex_b.bed")]
    assert seen and not any(seen)
    seen.clear()
    run_fit(_params(tmp, d, output_dir=str(tmp / "verbose"), progress=True, verbose=True))
    assert seen and all(seen)


def test_auto_batch_follows_the_number_of_training_peaks(small_data, tmp_path):
    """The default BPNet recipe picks batch size and learning rate from the training peaks
    (train chromosomes only); a given batch_size, a given lr or an official recipe wins."""
    from bpnetkit.steps.fit import _auto_batch
    from bpnetkit.train.recipes import AUTO_BATCH, auto_batch

    assert [auto_batch(n) for n in (0, 1279, 1280, 2559, 2560, 10**6)] == \
        [(16, 2e-3), (16, 2e-3), (32, 2.5e-3), (32, 2.5e-3), (64, 3e-3), (64, 3e-3)]
    assert [b for _, b, _ in AUTO_BATCH] == sorted((b for _, b, _ in AUTO_BATCH), reverse=True)
    tmp, d = small_data
    split = json.loads(Path(d["split"]).read_text())
    train, held = split["train"][0], split["test"][0]
    # 1300 peaks on a training chromosome and 5000 on a held-out one: 1300 count -> 32
    peaks = tmp_path / "peaks.bed"
    peaks.write_text("".join(f"{train}\t{i}\t{i + 10}\n" for i in range(1300))
                     + "".join(f"{held}\t{i}\t{i + 10}\n" for i in range(5000)))
    p = _auto_batch(_params(tmp, d, peaks=str(peaks)))
    assert (p.batch_size, p.lr) == (32, 2.5e-3)
    assert p.resolved().batch_size == 32
    assert _auto_batch(_params(tmp, d, peaks=str(peaks), lr=1e-3)).lr == 1e-3
    with pytest.MonkeyPatch.context() as mp:  # under torchrun: a multiple of the processes
        mp.setenv("WORLD_SIZE", "3")
        assert _auto_batch(_params(tmp, d, peaks=str(peaks))).batch_size == 33
    assert _auto_batch(_params(tmp, d, peaks=str(peaks), batch_size=8)).batch_size == 8
    lite = _auto_batch(_params(tmp, d, peaks=str(peaks), recipe="bpnet_lite")).resolved()
    assert (lite.batch_size, lite.lr) == (64, 1e-3)
    # chrombpnet_small: its own table (official batch and lr only from 2,560 peaks on)
    small = _auto_batch(_params(tmp, d, peaks=str(peaks), model_type="chrombpnet",
                                negatives=str(peaks), recipe="chrombpnet_small",
                                signals=d["signals"][:1]))
    assert (small.batch_size, small.lr) == (16, 2e-3)
    # through the command line: fit_params.json records what was chosen
    out = _params(tmp, d, output_dir=str(tmp_path / "fit"))
    n_train = sum(line.split("\t")[0] in split["train"]
                  for line in Path(d["peaks"]).read_text().splitlines() if line.strip())
    res = run_fit(out)
    chosen = json.loads(Path(res.params).read_text())
    assert (chosen["batch_size"], chosen["lr"]) == auto_batch(n_train)
