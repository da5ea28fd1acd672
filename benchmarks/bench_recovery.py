"""Do the models find what the data holds? Planted-motif recovery on a real genome backbone.

Run ``python benchmarks/bench_recovery.py [--quick] [--seed 0] [--motif-set default]
[--budget 1] [--assay chip|atac] [--binding affinity|planted] [--tools bpnetkit,bpnetlite]
[--wall-budget auto|SECONDS] [--out results.json]``.

The data: :func:`bpnetkit.demo.simulate.simulate` on the real C. elegans backbone shipped
with bpnetkit (5 chromosomes cut from 1.6 Mb of chrX; train chr1-3, validate chr4, test
chr5), JASPAR motifs of graded effects planted at the peaks (sites drawn from the JASPAR
matrices as they are, ``sharpen=1``), weak background instances away from the peaks, a control
track (ChIP-nexus) or Tn5-biased fragments (ATAC, with 10x the ChIP background:
:data:`BACKGROUND`; both ends of each fragment carry the Tn5 preference, centred on the +4/-4
shifted cuts, since 2026-12-03). Binding follows the sequence, as in real genomes
(``--binding affinity``, the default): inside a peak every match of a planted matrix,
planted or chance, recruits its factor's strength times its relative affinity
(``DemoSpec.binding``), so the peaks' counts
are predictable from the sequence. ``--binding planted`` is the earlier data, where only the
planted sites recruit and equally good chance matches recruit nothing, so that no sequence
model can predict the counts well (docs/training.md, "What the recovery benchmark's data
allows"). The same files go to every tool. ``--peaks`` and ``--background`` change the number
of peaks and the background per kb.

The tools, at the same budget (bpnet-lite's tutorial size: 32 filters, 8 layers, 5 epochs
times ``--budget``; 10 shuffles; the same subset of peaks attributed). Each tool runs with
its own defaults otherwise (bpnetkit: its default recipe, batch size by the number of
training peaks, attributions of its pipeline's default target: profile for BPNet, counts
for ChromBPNet; bpnet-lite: batch 64, count attributions). With
``--wall-budget`` the budget is wall-clock time instead of epochs, as the issue defines "the
same budget": bpnet-lite trains its 5 x ``--budget`` epochs and bpnetkit's whole pipeline
gets the same number of seconds (``auto``: bpnet-lite's measured wall time in the same
invocation), its fit training until ``max_time`` (:func:`wall_budget_fit`).

- ``bpnetkit``: ``bpnetkit.pipeline.run_pipeline`` (bigwigs, negatives, fit, evaluate,
  attribute, seqlets, modisco) with its default recipe; ATAC: ChromBPNet at a CPU budget
  (accessibility 64 filters, bias 32 filters and 4 layers, 5 + 5 epochs per budget); the
  bias-free model is interpreted. It attributes the subset bpnet-lite attributes
  (``--attribute all``: every peak, its pipeline's default);
- ``official``: the same pipeline with the official recipe of the model type
  (``chrombpnet_official``, ``bpnet_lite``): the peer of the ATAC variant, where bpnet-lite
  has no ChromBPNet;
- ``bpnetlite``: bpnet-lite 1.1's own ``bpnet pipeline -p pipeline.json`` in a subprocess
  (bam2bw, negatives, fit, attribute, seqlets, ``modisco motifs``, ``modisco report``).
  ChIP only.

Scores (:func:`score`), computed by the same code for both tools:

- recovered: a planted motif is recovered when it is the top Tomtom match (over the whole
  built-in JASPAR database, plus the Tn5 bias motif for ATAC) of a MoDISco pattern
  (positive or negative), or that match is another matrix of the same factor (JASPAR holds
  three CTCF matrices); ``family``: the top match is the planted motif or a paralog of it
  (:func:`bpnetkit.motifs.families.motif_families`);
- counts Pearson (log(1 + total) across peaks) and profile JSD of the test chromosome,
  by bpnetkit's ``evaluate`` step on each model file (bpnet-lite's model through its state
  dict);
- wall time of the tool's pipeline (scoring excluded; bpnetkit: the sum of its steps' times).

Importable API (used by other benchmarks and experiments)::

    from bench_recovery import simulate_set, run_bpnetkit, run_bpnetlite, score
    data = simulate_set("work/data", seed=0, motif_set="default", assay="chip", quick=False)
    run = run_bpnetkit(data, "work/bpnetkit", budget=1,
                       fit_overrides={"recipe": "bpnetkit"})   # any fit_parameters
    lite = run_bpnetlite(data, "work/bpnetlite", budget=1)
    print(score(data, run)["recovered"], score(data, lite)["counts_pearson"])

``rows(quick)`` gives ``run_all.py --recovery`` its table rows (both tools, default set).

``data`` is a dict of paths and settings (``genome``, ``reads``, ``control``, ``peaks``,
``truth``, ``split``, ``attr_peaks``, ``chroms``, ``assay``, ``motif_set``, ``quick``...);
a run is a dict with ``tool``, ``model`` (file or folder), ``modisco_h5``, ``wall_s``,
``signals``, ``controls``, ``config``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# -- the data --------------------------------------------------------------------------------
# (JASPAR id, effect): a site recruits STRENGTH_PER_EFFECT * exp(effect) reads; graded effects
# as in the issue (0.5 .. 1.6) with the largest one on a short, low-information motif.
STRENGTH_PER_EFFECT = 64.0
MOTIF_SETS: dict[str, list[tuple[str, float]]] = {
    # FOXP1 GTAAACA (7 bp, 9.7 bits), NFYC CCAATCA (7 bp, 10.1 bits), REST (20 bp), CTCF
    "default": [("MA0481.4", 1.6), ("MA1644.2", 1.2), ("MA0138.3", 0.9), ("MA0139.2", 0.5)],
    # only short ones: FOXP1, Lef1 CCTTTGAT (8 bp), NFYC, HIF1A ACGTGC (6 bp)
    "short": [("MA0481.4", 1.6), ("MA0768.3", 1.2), ("MA1644.2", 0.9), ("MA1106.2", 0.6)],
    # long, high-information ones (the old demo's kind of data)
    "long": [("MA0139.2", 1.6), ("MA0138.3", 1.2), ("MA0142.1", 0.9), ("MA0035.5", 0.5)],
}
SPLIT = {"train": ["chr1", "chr2", "chr3"], "valid": ["chr4"], "test": ["chr5"]}
SIZES = {  # chromosomes of chrom_length bp, peaks, peaks attributed, shuffles, epochs/budget
    "default": dict(chrom_length=320_000, n_peaks=1000, n_attr=300, n_shuffles=10, epochs=5),
    "quick": dict(chrom_length=160_000, n_peaks=400, n_attr=100, n_shuffles=4, epochs=2),
}
IN_WINDOW, OUT_WINDOW = 2114, 1000
#: background per kb by assay. ATAC: 100 insertions before the Tn5 thinning (about 100
#: insertions per kb stay outside the peaks): the bias model trains on the few non-peak
#: regions this small genome leaves (about 90), so their reads are all it can learn the
#: enzyme from (measurements in docs/training.md)
BACKGROUND = {"chip": 10.0, "atac": 100.0}


def _size(quick: bool) -> dict[str, int]:
    return SIZES["quick" if quick else "default"]


def simulate_set(out_dir: str | Path, seed: int = 0, motif_set: str = "default",
                 assay: str = "chip", quick: bool = False, n_peaks: int | None = None,
                 background_per_kb: float | None = None, binding: str = "affinity"
                 ) -> dict[str, Any]:
    """Simulate one benchmark data set into ``out_dir`` (reused when already there).

    ``n_peaks`` overrides the size's number of peaks (fewer peaks leave more of the 1.6-Mb
    backbone to non-peak regions, which ChromBPNet's bias model trains on).
    ``background_per_kb``: reads (ATAC: insertions, before the Tn5 preference thins them)
    per kb everywhere; None: :data:`BACKGROUND` of the assay. ``binding``: what recruits the
    reads in a peak (``DemoSpec.binding``: ``"affinity"`` or ``"planted"``).

    Returns the dict of paths and settings described in the module docstring.
    """
    from bpnetkit.demo.simulate import DemoSpec, TFSpec, simulate
    from bpnetkit.io.bed import read_regions

    if motif_set not in MOTIF_SETS:
        raise SystemExit(f"--motif-set must be one of {list(MOTIF_SETS)}, got {motif_set!r}")
    if assay not in ("chip", "atac"):
        raise SystemExit(f"--assay must be chip or atac, got {assay!r}")
    size = _size(quick)
    if n_peaks is not None:
        size = dict(size, n_peaks=int(n_peaks))
    out = Path(out_dir)
    done = out / "data.json"
    key = dict(seed=seed, motif_set=motif_set, assay=assay, quick=quick)
    if n_peaks is not None:
        key["n_peaks"] = int(n_peaks)
    if background_per_kb is None:
        background_per_kb = BACKGROUND[assay]
    if background_per_kb != 10.0:  # the key of the sets simulated before this option
        key["background_per_kb"] = float(background_per_kb)
    if binding != "planted":  # the same
        key["binding"] = binding
    if assay == "atac":  # the simulator puts the Tn5 preference on both fragment ends
        key["tn5_ends"] = 2
    if done.exists():
        info = json.loads(done.read_text())
        if info.get("key") == key:
            return info
    out.mkdir(parents=True, exist_ok=True)
    tfs = [TFSpec(name, round(STRENGTH_PER_EFFECT * float(np.exp(effect)), 1), 9, 4.0)
           for name, effect in MOTIF_SETS[motif_set]]
    spec = DemoSpec(n_chroms=5, chrom_length=size["chrom_length"], n_peaks=size["n_peaks"],
                    tfs=tfs, pair=None, secondary_fraction=0.5,
                    background_per_kb=background_per_kb,
                    control_per_kb=30.0, peak_sd=0.3, sharpen=1.0,
                    assay="atac" if assay == "atac" else "chip-nexus",
                    background_sites_per_kb=0.2, background_effect=0.1, in_window=1000,
                    random_state=seed, binding=binding)
    data = simulate(out / "sim", spec)
    # the same peaks attributed by every tool: a seeded subset over all chromosomes
    peaks = read_regions(data.peaks)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(peaks), size=min(size["n_attr"], len(peaks)),
                              replace=False))
    lines = Path(data.peaks).read_text().splitlines()
    (out / "attr_peaks.narrowPeak").write_text("".join(lines[i] + "\n" for i in pick))
    (out / "split.json").write_text(json.dumps(SPLIT))
    info = data.to_dict() | dict(key=key, seed=seed, motif_set=motif_set, assay=assay,
                                 quick=quick, n_peaks=size["n_peaks"], binding=binding,
                                 split=str(out / "split.json"),
                                 attr_peaks=str(out / "attr_peaks.narrowPeak"),
                                 effects=dict(MOTIF_SETS[motif_set]))
    done.write_text(json.dumps(info, indent=1))
    return info


# -- bpnetkit --------------------------------------------------------------------------------
def bpnetkit_config(data: dict[str, Any], out_dir: str | Path, budget: int = 1,
                    fit_overrides: dict[str, Any] | None = None, threads: int = 2,
                    attribute_all: bool = False,
                    modisco_overrides: dict[str, Any] | None = None):
    """The :class:`~bpnetkit.pipeline.PipelineParams` of a bpnetkit run on ``data``.

    ``attribute_all``: attribute every peak (bpnetkit's default) instead of the subset
    both tools attribute at an epoch budget (``data["attr_peaks"]``); ``modisco_overrides``:
    more ``modisco_parameters``."""
    from bpnetkit.pipeline.config import PipelineParams

    size = _size(data["quick"])
    atac = data["assay"] == "atac"
    epochs = size["epochs"] * budget
    if atac:  # ChromBPNet at a CPU budget, its default recipe unless fit_overrides say
        fit = {"n_filters": 64, "bias_n_filters": 32,
               "bias_n_layers": 4, "max_epochs": epochs, "bias_max_epochs": epochs,
               "assay": "atac"}
    else:  # bpnet-lite's tutorial budget
        fit = {"n_filters": 32, "n_layers": 8, "max_epochs": epochs}
    fit |= {"progress": False} | dict(fit_overrides or {})
    return PipelineParams(
        genome=data["genome"], name="bench", output_dir=str(out_dir),
        chrom_sizes=data["chrom_sizes"], peaks=data["peaks"], inputs=[data["reads"]],
        controls=[] if atac or not data.get("control") else [data["control"]],
        model_type="chrombpnet" if atac else "bpnet", stranded=not atac, paired_end=atac,
        pos_shift=4 if atac else 0, neg_shift=-4 if atac else 0,
        split=data["split"], in_window=IN_WINDOW, out_window=OUT_WINDOW, batch_size=None,
        device="cpu", random_state=int(data["seed"]), verbose=False,
        skip_steps=["predict", "annotate", "hits", "marginalize", "report"],
        fit_parameters=fit,
        attribute_parameters={"n_shuffles": size["n_shuffles"]} |
        ({} if attribute_all else {"peaks": data["attr_peaks"]}),
        evaluate_parameters={"n_examples_plot": 0},
        modisco_parameters=dict(modisco_overrides or {}))


def run_bpnetkit(data: dict[str, Any], out_dir: str | Path, budget: int = 1,
                 fit_overrides: dict[str, Any] | None = None, threads: int = 2,
                 resume: bool = False, attribute_all: bool = False,
                 tool: str = "bpnetkit", modisco_overrides: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Run bpnetkit's pipeline on ``data``; returns the run dict (see the module docstring).

    ``fit_overrides`` are merged into the pipeline's ``fit_parameters`` (e.g. a ``recipe``).
    ``resume``: keep an earlier run in ``out_dir`` and run only the steps it lacks;
    ``wall_s`` is then the sum of every step's time over the runs. When a step after
    ``fit`` fails, the run is still returned (``modisco_h5`` None, ``failed`` says why).
    """
    import torch

    from bpnetkit.config import dump_config
    from bpnetkit.pipeline import run_pipeline

    torch.set_num_threads(threads)
    out = Path(out_dir)
    if out.exists() and not resume:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = bpnetkit_config(data, out / "run", budget, fit_overrides, threads, attribute_all,
                          modisco_overrides)
    dump_config(cfg, out / "pipeline.json")
    summary = run_pipeline(cfg, log=lambda m: None)
    times_file = out / "step_seconds.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    times |= {r.name: r.seconds for r in summary.results if r.status == "ran"}
    times_file.write_text(json.dumps(times, indent=1))
    o = summary.outputs()
    failed = {r.name: r.message for r in summary.results if r.status in ("failed", "blocked",
                                                                        "unavailable")}
    if "fit" not in o:
        raise RuntimeError(f"bpnetkit pipeline failed:\n{summary.table()}")
    fit = o["fit"]
    return dict(tool=tool, wall_s=float(sum(times.values())), model=fit.model,
                failed=failed,
                model_nobias=getattr(fit, "model_nobias", None),
                bias_model=getattr(fit, "bias_model", None),
                modisco_h5=o["modisco"].modisco_h5 if "modisco" in o else None,
                signals=list(o["bigwigs"].bigwigs),
                controls=list(o["control_bigwigs"].bigwigs) if "control_bigwigs" in o else [],
                config=str(out / "pipeline.json"),
                fit_parameters=dict(cfg.fit_parameters))


#: share of a wall-clock budget left to bpnetkit's steps other than fit (attribute, modisco,
#: ...: 25-30 % of its pipeline at the default size when it attributes the subset of peaks,
#: about half when it attributes every peak), so that the whole pipeline fits
REST_SHARE = 0.25
REST_SHARE_ALL = 0.5


def wall_budget_fit(wall_s: float, budget: int = 1, rest_share: float = REST_SHARE,
                    assay: str = "chip") -> dict[str, Any]:
    """``fit_parameters`` that give bpnetkit's pipeline a wall-clock budget of ``wall_s``
    seconds: up to ``50 x budget`` epochs, stopped by ``max_time`` (the budget less
    ``rest_share`` of it for the other steps) or by the recipe's patience.

    ATAC: the bias model too trains up to ``50 x budget`` epochs (it stops at its patience
    or at half of ``max_time``); an epoch budget's 5 bias epochs take about a second at the
    default size and would leave the enzyme unlearned while the budget is spent elsewhere."""
    fit: dict[str, Any] = {"max_epochs": 50 * budget,
                           "max_time": round((1 - rest_share) * wall_s, 1)}
    if assay == "atac":
        fit["bias_max_epochs"] = 50 * budget
    return fit


# -- bpnet-lite ------------------------------------------------------------------------------
def bpnetlite_config(data: dict[str, Any], budget: int = 1) -> dict[str, Any]:
    """bpnet-lite's pipeline JSON for ``data`` (paths absolute; run it in its own folder)."""
    size = _size(data["quick"])
    chroms = SPLIT["train"] + SPLIT["valid"] + SPLIT["test"]
    return {
        "name": "bench", "model": None, "sequences": data["genome"], "loci": [data["peaks"]],
        "negatives": None, "signals": [data["reads"]],
        "controls": [data["control"]] if data.get("control") else None,
        "motifs": None, "in_window": IN_WINDOW, "out_window": OUT_WINDOW,
        "device": "cpu", "random_state": int(data["seed"]), "verbose": True,
        "preprocessing_parameters": {"unstranded": False, "fragments": False,
                                     "paired_end": False, "pos_shift": 0, "neg_shift": 0,
                                     "verbose": False},
        "fit_parameters": {"n_filters": 32, "n_layers": 8,
                           "max_epochs": size["epochs"] * budget,
                           "training_chroms": SPLIT["train"],
                           "validation_chroms": SPLIT["valid"],
                           "random_state": int(data["seed"])},
        "attribute_parameters": {"loci": [data["attr_peaks"]], "chroms": chroms,
                                 "n_shuffles": size["n_shuffles"],
                                 "random_state": int(data["seed"])},
        "seqlet_parameters": {"loci": [data["attr_peaks"]], "chroms": chroms},
        "modisco_motifs_parameters": {}, "modisco_report_parameters": {},
        "marginalize_parameters": {},
    }


def run_bpnetlite(data: dict[str, Any], out_dir: str | Path, budget: int = 1,
                  threads: int = 2, resume: bool = False) -> dict[str, Any]:
    """Run bpnet-lite's ``bpnet pipeline`` on ``data`` in a subprocess (ChIP only).

    ``resume``: when ``out_dir`` holds a finished run (its MoDISco results), score that run
    instead (wall time from the files' modification times).
    """
    if data["assay"] != "chip":
        raise SystemExit("bpnet-lite runs only on the ChIP variant here.")
    bpnet = shutil.which("bpnet", path=str(Path(sys.executable).parent)) or \
        shutil.which("bpnet")
    if bpnet is None:
        raise SystemExit("bpnet-lite's `bpnet` command was not found; pip install bpnet-lite.")
    out = Path(out_dir)
    cfg = bpnetlite_config(data, budget)
    h5 = out / "bench_modisco_results.h5"
    if resume and h5.exists() and (out / "pipeline.json").exists():
        start = (out / "pipeline.json").stat().st_mtime
        end = max(f.stat().st_mtime for f in out.rglob("*") if f.is_file())
        return _lite_run(out, cfg, end - start)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "pipeline.json").write_text(json.dumps(cfg, indent=1))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}"
               f"{os.environ.get('PATH', '')}", OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    with open(out / "bpnet.log", "w") as log:
        proc = subprocess.run([bpnet, "pipeline", "-p", "pipeline.json"], cwd=out, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not (out / "bench_modisco_results.h5").exists():
        tail = (out / "bpnet.log").read_text()[-3000:]
        raise RuntimeError(f"bpnet pipeline failed (exit {proc.returncode}):\n{tail}")
    return _lite_run(out, cfg, wall)


def _lite_run(out: Path, cfg: dict[str, Any], wall: float) -> dict[str, Any]:
    signals = [str(out / "bench.+.bw"), str(out / "bench.-.bw")]
    controls = [str(out / "bench.control.+.bw"), str(out / "bench.control.-.bw")] \
        if cfg["controls"] else []
    # bpnet-lite pickles its whole model object (with a numpy scalar inside), which
    # bpnetkit's restricted loader refuses; its state dict loads (this file is our own run's)
    state = out / "bench.state_dict.torch"
    if not state.exists() and (out / "bench.torch").exists():
        import torch

        model = torch.load(out / "bench.torch", weights_only=False, map_location="cpu")
        torch.save(model.state_dict(), state)
    return dict(tool="bpnetlite", wall_s=wall, model=str(state),
                modisco_h5=str(out / "bench_modisco_results.h5"), signals=signals,
                controls=controls, config=str(out / "pipeline.json"),
                fit_parameters=cfg["fit_parameters"])


# -- scoring ---------------------------------------------------------------------------------
_DB_CACHE: dict[str, Any] = {}


def _database(assay: str):
    """(motifs, families) of the built-in JASPAR database (+ the Tn5 motif for ATAC)."""
    if assay not in _DB_CACHE:
        from bpnetkit.demo.simulate import tn5_motif
        from bpnetkit.motifs.database import load_builtin_motifs
        from bpnetkit.motifs.families import motif_families

        db = list(load_builtin_motifs())
        if assay == "atac":
            db.append(tn5_motif())
        _DB_CACHE[assay] = (db, motif_families(db))
    return _DB_CACHE[assay]


def recovery(data: dict[str, Any], modisco_h5: str | None) -> dict[str, Any]:
    """Planted motifs recovered by the patterns of ``modisco_h5`` (see the module docstring)."""
    from bpnetkit.io.modisco import read_modisco_patterns
    from bpnetkit.motifs.annotate import annotate_patterns

    truth = json.loads(Path(data["truth"]).read_text())
    db, fam = _database(data["assay"])
    index = {m.name: i for i, m in enumerate(db)}
    patterns = read_modisco_patterns(modisco_h5) if modisco_h5 else []
    patterns = [p for p in patterns if p.n_seqlets > 0]
    top = annotate_patterns(patterns, db, n_matches=1) if patterns else []
    rows = []
    for pat, ms in zip(patterns, top):
        m = ms[0] if ms else None
        rows.append(dict(pattern=pat.name, n_seqlets=pat.n_seqlets,
                         match=m.target_name if m else "", match_name=m.target_alt_name
                         if m else "", q=float(m.q_value) if m else None,
                         target=int(m.target) if m else -1))
    planted = []
    for p in truth["planted"]:
        i = index[p["motif_id"]]
        exact = [r for r in rows if r["target"] == i or
                 (r["match_name"] or "").upper() == (db[i].alt_name or "").upper() != ""]
        family = [r for r in rows if r["target"] >= 0 and fam.family[r["target"]] ==
                  fam.family[i]]
        planted.append(dict(motif=p["motif_id"], name=p["motif_alt_name"],
                            length=p.get("length"), ic=p.get("information_content"),
                            strength=p["tf"]["strength"], n_sites=p["n_sites"],
                            exact=bool(exact), family=bool(family),
                            patterns=[r["pattern"] for r in family]))
    tn5 = [r["pattern"] for r in rows if r["match"] == "Tn5_bias"]
    return dict(planted=planted, patterns=[{k: v for k, v in r.items() if k != "target"}
                                           for r in rows],
                recovered=sum(p["exact"] for p in planted),
                recovered_family=sum(p["family"] for p in planted),
                n_planted=len(planted), tn5_patterns=tn5)


def held_out_metrics(data: dict[str, Any], run: dict[str, Any], out_dir: str | Path
                     ) -> dict[str, float]:
    """Counts Pearson and profile JSD on the test chromosome (bpnetkit's evaluate step; for
    ChromBPNet the combined model, as the official evaluation does)."""
    from bpnetkit.steps.evaluate import EvaluateParams
    from bpnetkit.steps.evaluate import run as evaluate

    params = EvaluateParams(model=run["model"], genome=data["genome"], peaks=data["peaks"],
                            signals=run["signals"], controls=run["controls"],
                            output_dir=str(out_dir), split=data["split"], chroms="test",
                            in_window=IN_WINDOW, device="cpu", n_examples_plot=0)
    res = evaluate(params)
    metrics = json.loads(Path(res.metrics_json).read_text())["metrics"]
    group = metrics.get("peaks") or next(iter(metrics.values()))
    return {"counts_pearson": _metric(group, "count_pearson", "counts_pearson"),
            "profile_jsd": _metric(group, "profile_jsd", "jsd"), "groups": metrics}


def _metric(group: dict[str, Any], *names: str) -> float:
    for n in names:
        if n in group:
            return float(group[n])
    for k, v in group.items():
        if any(n in k for n in names):
            return float(v)
    return float("nan")


def score(data: dict[str, Any], run: dict[str, Any], out_dir: str | Path | None = None
          ) -> dict[str, Any]:
    """Recovery, held-out metrics and wall time of one run."""
    out = Path(out_dir) if out_dir else Path(run["config"]).parent / "score"
    res = recovery(data, run["modisco_h5"])
    res |= held_out_metrics(data, run, out)
    res |= dict(tool=run["tool"], wall_s=run["wall_s"])
    return res


# -- what the data allows ---------------------------------------------------------------------
#: central window of the centre-aware counts ceiling (sites are planted within 110 bp)
CENTRE_HALF = 110


def _one_hot_codes(seq: str) -> np.ndarray:
    """``(L, 4)`` float one-hot of ``seq`` (bpnetkit's encoder, transposed)."""
    from bpnetkit.io.fasta import one_hot_encode

    return one_hot_encode(seq).T.astype(np.float64)


def _scan(x: np.ndarray, log_odds: np.ndarray) -> np.ndarray:
    """Best strand's log-odds score at each start position."""
    from bpnetkit.demo.simulate import strand_scores

    return np.maximum(*strand_scores(x, log_odds))


def _motif_features(x: np.ndarray, log_odds: np.ndarray, rel: np.ndarray) -> list[float]:
    """Summaries of one motif's scores in the output window and in its centre: log of the
    summed relative affinities, best score, and the numbers of sites within 2, 4 and 6 bits
    of the consensus."""
    best = log_odds.max(1).sum()
    sc = _scan(x, log_odds) - best
    pos = rel[:sc.size] + log_odds.shape[0] // 2
    feats = []
    for keep in (np.abs(pos) < OUT_WINDOW // 2, np.abs(pos) < CENTRE_HALF):
        v = sc[keep]
        feats += [float(np.log(np.exp2(v).sum() + 1e-9)), float(v.max()),
                  *(float((v > -t).sum()) for t in (2, 4, 6))]
    return feats


def _ridge_r(X: np.ndarray, y: np.ndarray, fit: np.ndarray, pick: np.ndarray,
             test: np.ndarray) -> float:
    """Test Pearson of a ridge regression fitted on ``fit``, its penalty chosen on ``pick``."""
    mu, sd = X[fit].mean(0), X[fit].std(0) + 1e-9
    Z = np.c_[np.ones(len(X)), (X - mu) / sd]
    best_r, best_w = -np.inf, None
    for alpha in np.logspace(-3, 3, 13):
        pen = alpha * np.eye(Z.shape[1])
        pen[0, 0] = 0.0
        w = np.linalg.solve(Z[fit].T @ Z[fit] + pen, Z[fit].T @ y[fit])
        r = float(np.corrcoef(Z[pick] @ w, y[pick])[0, 1])
        if r > best_r:
            best_r, best_w = r, w
    return float(np.corrcoef(Z[test] @ best_w, y[test])[0, 1])


def data_limits(data: dict[str, Any], n_sites: int = 100, n_draws: int = 40
                ) -> dict[str, Any]:
    """What any model could reach on ``data``, computed from the truth (no model involved).

    - ``counts_oracle``: test-chromosome Pearson of the observed log(1 + reads) in the
      output window with the log of the summed strengths of the sites bound at each peak
      (it knows which sites recruit: the planted ones, or with ``binding="affinity"`` every
      match by its affinity; it misses only the per-peak noise and the read sampling);
    - ``counts_ceiling_window`` / ``counts_ceiling_centre``: the same for a ridge regression
      (fitted on the training chromosomes, its penalty chosen on the validation chromosome)
      of the log counts on the *true* PWMs' scores summarised over the output window (what a
      count head that pools the window, such as BPNet's, can see) or over the central
      ``2 * CENTRE_HALF`` bp. A model that must learn the PWMs from the data should not
      exceed these much. With ``binding="planted"`` they are low: sites are drawn from the
      PWMs, and equally good chance matches that recruit nothing lie in every window;
    - ``identifiable``: per planted motif, the share of ``n_draws`` PFMs built from
      ``n_sites`` of its planted sites (the best case for a MoDISco pattern of that many
      seqlets) whose top Tomtom match in the benchmark's database is the planted motif.
    """
    import pysam

    from bpnetkit.io.meme import read_meme
    from bpnetkit.motifs.tomtom import tomtom_matches

    truth = json.loads(Path(data["truth"]).read_text())
    split = json.loads(Path(data["split"]).read_text())
    planted = {m.name: m for m in read_meme(data["motifs"])}
    ids = [p["motif_id"] for p in truth["planted"]]
    tf_names = [p["tf"]["name"] for p in truth["planted"]]
    labels = [p["motif_alt_name"] or p["motif_id"] for p in truth["planted"]]
    strength = {p["tf"]["name"]: p["tf"]["strength"] for p in truth["planted"]}
    at_peak: dict[int, list[str]] = {}
    for site in truth["sites"]:
        if site["peak"] >= 0:
            at_peak.setdefault(site["peak"], []).append(site["tf"])
    fasta = pysam.FastaFile(data["genome"])
    seqs = {c: fasta.fetch(c).upper() for c in fasta.references}
    whole = "".join(seqs.values())
    bg = np.array([whole.count(b) for b in "ACGT"], float)
    bg /= bg.sum()
    log_odds = {mid: planted[mid].log_odds(bg, pseudocount=1e-3) for mid in ids}
    half_in = IN_WINDOW // 2
    chrom, y, oracle, feats = [], [], [], []
    with pysam.AlignmentFile(data["reads"]) as bam:
        for peak in truth["peaks"]:
            c, summit = peak["chrom"], int(peak["summit"])
            lo, hi = summit - OUT_WINDOW // 2, summit + OUT_WINDOW // 2
            n = 0
            for read in bam.fetch(c, max(0, lo - 1), hi + 1):
                five = read.reference_end - 1 if read.is_reverse else read.reference_start
                n += lo <= five < hi
            x = _one_hot_codes(seqs[c][summit - half_in:summit + half_in])
            rel = np.arange(x.shape[0]) - half_in
            chrom.append(c)
            y.append(np.log1p(n))
            if "binding" in peak:  # binding="affinity": every match by its affinity
                oracle.append(np.log(peak["binding"] + 1.0))
            else:
                oracle.append(np.log(sum(strength[t] for t in at_peak.get(peak["peak"], []))
                                     + 1.0))
            feats.append([f for mid in ids for f in _motif_features(x, log_odds[mid], rel)])
    chrom_a, y_a, X = np.array(chrom), np.array(y), np.array(feats)
    fit, pick, test = (np.isin(chrom_a, split[k]) for k in ("train", "valid", "test"))
    per_motif = X.shape[1] // len(ids)
    window = np.concatenate([np.arange(k * per_motif, k * per_motif + per_motif // 2)
                             for k in range(len(ids))])
    centre = np.setdiff1d(np.arange(X.shape[1]), window)
    out: dict[str, Any] = dict(
        counts_oracle=float(np.corrcoef(np.array(oracle)[test], y_a[test])[0, 1]),
        counts_ceiling_window=_ridge_r(X[:, window], y_a, fit, pick, test),
        counts_ceiling_centre=_ridge_r(X[:, centre], y_a, fit, pick, test),
        n_test_peaks=int(test.sum()))
    # identifiability of each planted motif from PFMs of its own sites
    db, _fam = _database(data["assay"])
    index = {m.name: i for i, m in enumerate(db)}
    rng = np.random.default_rng(int(data.get("seed", 0)))
    queries, owner = [], []
    for k, name in enumerate(tf_names):
        sites = []
        for site in truth["sites"]:
            if site["tf"] == name and site["peak"] >= 0:
                x = _one_hot_codes(seqs[site["chrom"]][site["start"]:site["end"]])
                sites.append(x[::-1, ::-1] if site["strand"] == "-" else x)
        sites_a = np.array(sites)
        for _ in range(n_draws):
            pick_sites = sites_a[rng.choice(len(sites_a), min(n_sites, len(sites_a)),
                                            replace=False)]
            queries.append((pick_sites.sum(0) + 0.25) / (len(pick_sites) + 1.0))
            owner.append(k)
    top = [ms[0].target if ms else -1 for ms in tomtom_matches(queries, db, n_matches=1)]
    owner_a, top_a = np.array(owner), np.array(top)
    out["identifiable"] = {labels[k]: float(np.mean(top_a[owner_a == k] == index[mid]))
                           for k, mid in enumerate(ids)}
    out["identifiable_n_sites"] = n_sites
    return out


def limits_line(limits: dict[str, Any]) -> str:
    """One line of what the data allows (:func:`data_limits`)."""
    ident = ", ".join(f"{k} {v:.2f}" for k, v in limits["identifiable"].items())
    return (f"what the data allows: counts r of an oracle that knows the bound sites "
            f"{limits['counts_oracle']:.3f}; of the true PWMs' scores over the output window "
            f"{limits['counts_ceiling_window']:.3f}, over the central {2 * CENTRE_HALF} bp "
            f"{limits['counts_ceiling_centre']:.3f}; planted motif named by Tomtom from "
            f"{limits['identifiable_n_sites']} of its own sites: {ident}")


# -- the table -------------------------------------------------------------------------------
def table(results: list[dict[str, Any]]) -> str:
    """A plain-text table: one row per tool, one column per planted motif."""
    if not results:
        return "(no results)"
    names = [f"{p['name']}({p['length']}bp,{p['ic']:.0f}b,s{p['strength']:.0f})"
             for p in results[0]["planted"]]
    head = ["tool", "recovered", "family", *names, "counts_r", "jsd", "tn5_pat", "wall_s"]
    rows = [head]
    for r in results:
        cells = [r["tool"], f"{r['recovered']}/{r['n_planted']}",
                 f"{r['recovered_family']}/{r['n_planted']}"]
        cells += ["yes" if p["exact"] else ("fam" if p["family"] else "no")
                  for p in r["planted"]]
        cells += [f"{r['counts_pearson']:.3f}", f"{r['profile_jsd']:.3f}",
                  str(len(r["tn5_patterns"])), f"{r['wall_s']:.0f}"]
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)


def rows(quick: bool) -> list:
    """``run_all.py``'s rows: bpnetkit next to bpnet-lite on the default set (ChIP, seed 0,
    budget 1): motifs recovered, held-out counts Pearson, wall time."""
    import tempfile

    from _common import Row

    with tempfile.TemporaryDirectory() as tmp:
        data = simulate_set(Path(tmp) / "data", 0, "default", "chip", quick)
        kit = score(data, run_bpnetkit(data, Path(tmp) / "bpnetkit", 1))
        lite = score(data, run_bpnetlite(data, Path(tmp) / "bpnetlite", 1))
    size = _size(quick)
    conf = (f"default motif set ({len(MOTIF_SETS['default'])} JASPAR motifs, short "
            f"low-information ones among them) on the C. elegans backbone, "
            f"{size['n_peaks']} peaks, 32 filters x 8 layers, {size['epochs']} epochs, "
            f"{size['n_attr']} peaks x {size['n_shuffles']} shuffles attributed")
    n = kit["n_planted"]
    return [
        Row(f"planted motifs recovered (of {n}, top Tomtom match)", kit["recovered"],
            lite["recovered"], "bpnet-lite", conf, goal_min=n, ratio_applies=False,
            headline=True),
        Row("held-out counts Pearson", kit["counts_pearson"], lite["counts_pearson"],
            "bpnet-lite", conf, goal_min=0.5, ratio_applies=False),
        Row("pipeline wall time (s)", kit["wall_s"], lite["wall_s"], "bpnet-lite", conf,
            lower_is_better=True),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--motif-set", default="default", choices=list(MOTIF_SETS))
    ap.add_argument("--budget", type=int, default=1, choices=[1, 2, 4],
                    help="epochs = 5 x budget (quick: 2 x budget)")
    ap.add_argument("--assay", default="chip", choices=["chip", "atac"])
    ap.add_argument("--binding", default="affinity", choices=["affinity", "planted"],
                    help="what recruits the reads in a peak: every match of a planted "
                    "matrix by its affinity (default, as in real genomes), or the planted "
                    "sites only (the earlier data: counts barely predictable from sequence)")
    ap.add_argument("--quick", action="store_true",
                    help="a small smoke run (400 peaks, 2 epochs; 1-4 CPU-minutes per tool)")
    ap.add_argument("--tools", default=None,
                    help="comma-separated: bpnetkit,bpnetlite,official (default: "
                    "bpnetkit,bpnetlite for chip, bpnetkit,official for atac; 'official' is "
                    "bpnetkit's pipeline with the official recipe of the model type)")
    ap.add_argument("--attribute", default="subset", choices=["subset", "all"],
                    help="peaks bpnetkit attributes: the subset bpnet-lite attributes "
                    "(default), or all (bpnetkit's pipeline default; measured no better "
                    "here, docs/benchmarks.md)")
    ap.add_argument("--recipe", default=None, help="bpnetkit fit recipe (default: the "
                    "model type's)")
    ap.add_argument("--wall-budget", default=None, metavar="auto|SECONDS",
                    help="give bpnetkit the same wall-clock budget as bpnet-lite (the issue's "
                    "definition of 'the same budget'): its fit trains for up to "
                    "max_epochs = 50 x budget under max_time = this budget minus the time "
                    f"of its other steps (taken as {100 * REST_SHARE:.0f} %% of the "
                    "budget). 'auto': the wall time of the bpnet-lite run of this "
                    "invocation (run first); else seconds")
    ap.add_argument("--fit", default=None, metavar="JSON",
                    help="more bpnetkit fit parameters, as a JSON object (e.g. "
                    "'{\"seed_filters\": 0}')")
    ap.add_argument("--modisco", default=None, metavar="JSON",
                    help="more bpnetkit modisco parameters, as a JSON object (e.g. "
                    "'{\"sliding_window_size\": 20}')")
    ap.add_argument("--peaks", type=int, default=None,
                    help="number of simulated peaks (default: the size's, 1000; quick 400)")
    ap.add_argument("--background", type=float, default=None,
                    help="background reads (ATAC: insertions before the Tn5 thinning) per kb "
                    f"(default by assay: {BACKGROUND})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default="bench_recovery_work")
    ap.add_argument("--resume", action="store_true",
                    help="bpnetkit: keep an earlier run and run only the missing steps; "
                    "bpnet-lite: score a finished earlier run")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    tools = (args.tools or ("bpnetkit,bpnetlite" if args.assay == "chip" else
                            "bpnetkit,official")).split(",")
    attribute_all = args.attribute == "all"
    work = Path(args.workdir) / f"{args.assay}_{args.motif_set}_{args.binding}_s{args.seed}" \
        f"{'_quick' if args.quick else ''}{f'_p{args.peaks}' if args.peaks else ''}" \
        f"{f'_bg{args.background:g}' if args.background is not None else ''}"
    t0 = time.perf_counter()
    data = simulate_set(work / "data", args.seed, args.motif_set, args.assay, args.quick,
                        args.peaks, args.background, args.binding)
    print(f"simulated in {time.perf_counter() - t0:.0f} s: {work / 'data'}", flush=True)
    results = []
    if args.wall_budget == "auto":  # bpnet-lite first: its wall time is the budget
        if "bpnetlite" not in tools:
            raise SystemExit("--wall-budget auto needs bpnet-lite in --tools (or give "
                             "seconds, e.g. from an earlier bpnet-lite run)")
        tools = ["bpnetlite"] + [t for t in tools if t != "bpnetlite"]
    wall_budget = None if args.wall_budget in (None, "auto") else float(args.wall_budget)
    for tool in tools:
        out = work / (f"{tool}_b{args.budget}{'_wall' if args.wall_budget else ''}"
                      f"{'_all' if attribute_all and tool != 'bpnetlite' else ''}")
        if tool in ("bpnetkit", "official"):
            if tool == "official":
                over = {"recipe": "chrombpnet_official" if args.assay == "atac" else
                        "bpnet_lite"}
            else:
                over = {"recipe": args.recipe} if args.recipe else {}
                if args.fit:
                    over |= json.loads(args.fit)
            if args.wall_budget:
                if wall_budget is None:
                    raise SystemExit("--wall-budget auto: no bpnet-lite wall time to match")
                over |= wall_budget_fit(wall_budget, args.budget,
                                        REST_SHARE_ALL if attribute_all else REST_SHARE,
                                        args.assay)
            run = run_bpnetkit(data, out, args.budget, over or None, args.threads,
                               args.resume, attribute_all,
                               "bpnetkit" if tool == "bpnetkit" else
                               f"bpnetkit ({over['recipe']})",
                               json.loads(args.modisco) if args.modisco else None)
        elif tool == "bpnetlite":
            run = run_bpnetlite(data, out, args.budget, args.threads, args.resume)
        else:
            raise SystemExit(f"unknown tool {tool!r}")
        res = score(data, run, out / "score")
        res["fit_parameters"] = run["fit_parameters"]
        res["failed_steps"] = run.get("failed", {})
        results.append(res)
        if tool == "bpnetlite" and args.wall_budget == "auto":
            wall_budget = float(run["wall_s"])
        print(f"{tool}: {res['recovered']}/{res['n_planted']} recovered, counts r "
              f"{res['counts_pearson']:.3f}, {res['wall_s']:.0f} s"
              + (f"; FAILED steps: {res['failed_steps']}" if res["failed_steps"] else ""),
              flush=True)
    size = _size(args.quick)
    config = dict(seed=args.seed, motif_set=args.motif_set, binding=args.binding,
                  motifs=MOTIF_SETS[args.motif_set], assay=args.assay, budget=args.budget,
                  quick=args.quick, split=SPLIT, in_window=IN_WINDOW, out_window=OUT_WINDOW,
                  epochs=size["epochs"] * args.budget, n_peaks=data["n_peaks"],
                  chrom_length=size["chrom_length"], n_attributed=size["n_attr"],
                  n_shuffles=size["n_shuffles"], threads=args.threads,
                  bpnetkit_attributes="all peaks" if attribute_all else "the subset",
                  wall_budget_s=wall_budget)
    limits = data_limits(data)
    print("\nconfiguration: " + json.dumps(config))
    print(table(results))
    print(limits_line(limits))
    if args.out:
        Path(args.out).write_text(json.dumps(dict(config=config, results=results,
                                                  data_limits=limits), indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
