"""``bpnetkit demo``: simulate a data set with planted motifs and run the whole pipeline on it.

The genome is real sequence (the C. elegans backbone shipped in ``demo/data``, cut into
chromosomes ``chr1``, ...; the last two are the validation and test chromosomes), and the
planted motifs include a short, low-information one (FOXP1, 7 bp) next to long ones (see
:class:`~bpnetkit.demo.simulate.DemoSpec`); the summary says truthfully which were found.

Two sizes: ``"default"`` (the README's demo, 5 chromosomes of 300 kb, 1000 peaks; minutes on
a laptop CPU) and ``"small"`` (what the end-to-end test runs).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpnetkit.demo.simulate import DemoData, DemoSpec, simulate
from bpnetkit.demo.summary import format_summary, summary_from_outputs, write_summary_tsv

# model settings per size: (spec overrides, pipeline overrides, fit overrides)
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {
        "spec": {"n_chroms": 5, "chrom_length": 300_000, "n_peaks": 1000},
        "pipeline": {"in_window": 500, "out_window": 250, "batch_size": 32},
        "fit": {"n_filters": 32, "n_layers": 5, "max_epochs": 30, "patience": 30,
                "lr": 0.002, "max_jitter": 32, "batch_size": 16, "count_weight": 30.0},
        "attribute": {"n_shuffles": 10},
        "modisco": {"max_seqlets": 4000, "window": 200, "min_metacluster_size": 50,
                    "final_min_cluster_size": 20},
        "marginalize": {"n_backgrounds": 32},
    },
    "small": {
        "spec": {"n_chroms": 4, "chrom_length": 150_000, "n_peaks": 640},
        "pipeline": {"in_window": 400, "out_window": 200, "batch_size": 32},
        "fit": {"n_filters": 32, "n_layers": 4, "max_epochs": 20, "patience": 20,
                "lr": 0.002, "max_jitter": 32, "batch_size": 16, "count_weight": 30.0},
        "attribute": {"n_shuffles": 6},
        "modisco": {"max_seqlets": 2000, "window": 160, "min_metacluster_size": 40,
                    "final_min_cluster_size": 15},
        "marginalize": {"n_backgrounds": 16},
    },
}


@dataclass
class DemoResult:
    """What :func:`run_demo` produced."""

    data: DemoData
    pipeline_json: str
    summary: Any  # RunSummary
    planted: list[dict[str, Any]]
    report: str | None


def demo_pipeline_params(data: DemoData, run_dir: Path, model: str = "bpnet",
                         size: str = "default", call_peaks: bool | None = None,
                         device: str | None = None, random_state: int = 0):
    """The :class:`~bpnetkit.pipeline.PipelineParams` of a demo run."""
    from bpnetkit.pipeline.config import PipelineParams

    preset = PRESETS[size]
    chroms = data.chroms
    if call_peaks is None:
        call_peaks = shutil.which("macs3") is not None
    atac = model == "chrombpnet"
    fit = dict(preset["fit"])
    if atac:
        fit.update({"bias_n_filters": 16, "bias_n_layers": 3, "bias_max_epochs": 4,
                    "assay": "atac"})
    cfg = PipelineParams(
        genome=data.genome, name=f"demo_{model}", output_dir=str(run_dir),
        chrom_sizes=data.chrom_sizes, peaks=None if call_peaks else data.peaks,
        inputs=[data.reads], controls=[] if (atac or data.control is None) else [data.control],
        motif_db=None, model_type=model, stranded=not atac, paired_end=atac,
        pos_shift=4 if atac else 0, neg_shift=-4 if atac else 0,
        training_chroms=chroms[:-2] if len(chroms) > 2 else chroms[:1],
        validation_chroms=[chroms[-2]], test_chroms=[chroms[-1]],
        device=device, random_state=random_state, truth=str(Path(data.truth)),
        fit_parameters=fit,
        attribute_parameters=dict(preset["attribute"]),
        modisco_parameters=dict(preset["modisco"]),
        marginalize_parameters=dict(preset["marginalize"]) | {"motif_db": data.motifs},
        peaks_parameters={"genome_size": str(sum(_sizes(data.chrom_sizes).values()))}
        if call_peaks else {},
        negatives_parameters={"ratio": 0.5},
        **preset["pipeline"])
    return cfg


def _sizes(path: str) -> dict[str, int]:
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            c, n = line.split()[:2]
            out[c] = int(n)
    return out


def run_demo(out_dir: str | Path = "bpnetkit_demo", model: str = "bpnet",
             size: str = "default", call_peaks: bool | None = None,
             device: str | None = None, random_state: int = 0, force: bool = False,
             spec: DemoSpec | None = None, log=None) -> DemoResult:
    """Simulate the demo data (once) and run the pipeline on it.

    Parameters
    ----------
    out_dir : str or Path
        Folder: ``data/`` (simulated files), ``run/`` (pipeline run), ``pipeline.json``.
    model : {"bpnet", "chrombpnet"}
        BPNet on stranded ChIP-nexus-like reads, or ChromBPNet on ATAC-like fragments.
    size : {"default", "small"}
        Preset sizes of data and model.
    call_peaks : bool or None
        Call peaks with MACS3 (None: when MACS3 is installed) instead of using the true ones.
    device : str or None
        Torch device (None: CUDA when available).
    random_state : int
        Seed of the simulation and the pipeline.
    force : bool
        Re-run every step.
    spec : DemoSpec or None
        Override the simulated data set entirely.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.errors import InputError
    from bpnetkit.pipeline import run_pipeline

    if model not in ("bpnet", "chrombpnet"):
        raise InputError(f"demo --model must be 'bpnet' or 'chrombpnet', got {model!r}.")
    if size not in PRESETS:
        raise InputError(f"demo size must be one of {list(PRESETS)}, got {size!r}.")
    out = Path(out_dir)
    preset = PRESETS[size]
    if spec is None:
        spec = DemoSpec(assay="atac" if model == "chrombpnet" else "chip-nexus",
                        in_window=preset["pipeline"]["in_window"], random_state=random_state,
                        **preset["spec"])
    data_dir = out / f"data_{model}"
    data = _simulate_once(data_dir, spec)
    cfg = demo_pipeline_params(data, out / f"run_{model}", model, size, call_peaks, device,
                               random_state)
    pj = out / f"pipeline_{model}.json"
    dump_config(cfg, pj)
    summary = run_pipeline(cfg, force=force, log=log)
    planted = _planted(cfg, out / f"planted_motifs_{model}.tsv")
    rep = summary.outputs().get("report")
    return DemoResult(data=data, pipeline_json=str(pj), summary=summary, planted=planted,
                      report=rep.html if rep is not None else None)


def _planted(cfg, tsv: Path) -> list[dict[str, Any]]:
    """The planted-motif rows of a finished run (also written to ``tsv``)."""
    from bpnetkit.report.outputs import read_run

    outputs = {name: rec.outputs for name, rec in read_run(cfg.run_dir).items()
               if rec.outputs is not None}
    rows = summary_from_outputs(cfg.truth, outputs, cfg.motif_db)
    write_summary_tsv(rows, tsv)
    return rows


def _simulate_once(data_dir: Path, spec: DemoSpec) -> DemoData:
    """Simulate unless the same spec was simulated into ``data_dir`` before."""
    import json
    from dataclasses import asdict

    stamp = data_dir / ".spec.json"
    text = json.dumps(asdict(spec), sort_keys=True, default=str)
    if stamp.exists() and stamp.read_text() == text and (data_dir / "truth.json").exists():
        info = json.loads((data_dir / "data.json").read_text())
        return DemoData(**info)
    data = simulate(data_dir, spec)
    (data_dir / "data.json").write_text(json.dumps(data.to_dict(), indent=1))
    stamp.write_text(text)
    return data


def print_result(res: DemoResult, file=sys.stdout) -> None:
    """The step table, the planted-motif table and the report path."""
    print(res.summary.table(), file=file)
    if res.planted is not None:
        print("\nPlanted motifs:", file=file)
        print(format_summary(res.planted), file=file)
    if res.report:
        print(f"\nreport: {res.report}", file=file)
