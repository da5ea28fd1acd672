"""End to end as a new user would run it (issue 15, "Done when"):

- ATAC from a 10x fragments file: ``pipeline-json -s genome.fa -i fragments.tsv.gz -n atac -u -f
  --model-type chrombpnet`` then ``pipeline`` (peaks called by MACS3);
- the default pipeline on a small non-human genome (chr1-chr3) from a BAM and peaks.

Both use a genome cut from real C. elegans sequence, so no built-in (hg38) split fits it; only
speed settings (tiny model, one epoch, short windows) are changed in the written JSON.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from bpnetkit.cli.main import main as cli_main
from bpnetkit.demo.simulate import backbone_path
from bpnetkit.pipeline import load_pipeline_params, run_pipeline
from bpnetkit.pipeline.registry import outputs_from_dict
from bpnetkit.pipeline.runner import read_stamp

pysam = pytest.importorskip("pysam")
pytest.importorskip("modiscolite")
pytest.importorskip("memelite")

BACKBONE = str(backbone_path("ce_chrX"))  # real C. elegans sequence shipped with bpnetkit
SIZES = {"chr1": 100_000, "chr2": 90_000, "chr3": 80_000}
N_PEAKS = 40  # per chromosome


def _genome_and_peaks(d, rng):
    with gzip.open(BACKBONE, "rt") as fh:
        seq = "".join(line.strip() for line in fh if not line.startswith(">")).upper()
    seqs, pos = {}, 0
    with open(d / "genome.fa", "w") as fa:
        for c, n in SIZES.items():
            seqs[c] = seq[pos:pos + n]
            pos += n
            fa.write(f">{c}\n" + "\n".join(seqs[c][i:i + 60] for i in range(0, n, 60)) + "\n")
    summits = {c: np.sort(rng.choice(np.arange(3000, n - 3000, 700), N_PEAKS, replace=False))
               for c, n in SIZES.items()}
    with open(d / "peaks.narrowPeak", "w") as fh:
        for c, ss in summits.items():
            for k, sm in enumerate(ss):
                fh.write(f"{c}\t{sm - 250}\t{sm + 250}\t{c}_p{k}\t100\t.\t10\t-1\t-1\t250\n")
    return seqs, summits


def _fast(path, **extra):
    """Speed settings only: a tiny model, one epoch, short windows, few shuffles."""
    j = json.loads(path.read_text())
    j["in_window"], j["out_window"] = 1000, 500
    j["fit_parameters"].update(n_filters=8, n_layers=2, max_epochs=1, bias_n_filters=8,
                               bias_n_layers=2, bias_max_epochs=1)
    j["attribute_parameters"]["n_shuffles"] = 2
    j["modisco_parameters"].update(max_seqlets=100, n_leiden=1, modisco_report=False)
    j["marginalize_parameters"]["n_backgrounds"] = 4
    j["hits_parameters"]["window"] = 500
    j.update(extra)
    path.write_text(json.dumps(j))
    return j


def _outputs(run_dir, step):
    stamp = read_stamp(run_dir / step)
    assert stamp is not None and stamp["status"] == "done", f"{step} did not finish"
    return outputs_from_dict(step, stamp["outputs"])


def _check_split(run_dir):
    split = json.loads((run_dir / "split.json").read_text())
    held_out = set(split.get("valid", [])) | set(split.get("test", []))
    assert set(split["train"]) | held_out == set(SIZES)
    assert split["train"] and split.get("valid") and split.get("test")
    assert not set(split["train"]) & held_out


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:ChromBPNet QC")  # a one-epoch model is expected to fail QC
def test_atac_fragments_pipeline_json_runs_end_to_end(tmp_path, monkeypatch):
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    seqs, summits = _genome_and_peaks(tmp_path, rng)
    frags = []
    for c, ss in summits.items():
        for sm in ss:
            for _ in range(int(rng.integers(40, 120))):
                mid, ln = int(sm + rng.normal(0, 40)), int(np.clip(rng.exponential(120), 0,
                                                                   560)) + 40
                frags.append((c, mid - ln // 2, mid - ln // 2 + ln))
        for _ in range(len(seqs[c]) // 200):
            mid = int(rng.integers(500, len(seqs[c]) - 500))
            frags.append((c, mid - 100, mid + 100))
    order = {c: i for i, c in enumerate(SIZES)}
    frags.sort(key=lambda f: (order[f[0]], f[1], f[2]))
    with gzip.open(tmp_path / "fragments.tsv.gz", "wt") as fh:
        for i, (c, s, e) in enumerate(frags):
            fh.write(f"{c}\t{s}\t{e}\tBC{i % 97:03d}-1\t{1 + (i % 3 == 0)}\n")

    monkeypatch.chdir(tmp_path)
    assert cli_main(["pipeline-json", "-s", "genome.fa", "-i", "fragments.tsv.gz", "-n", "atac",
                     "-u", "-f", "--model-type", "chrombpnet", "-o", "atac.json"]) == 0
    j = _fast(tmp_path / "atac.json")
    # fragment files are already Tn5-adjusted: no shift, and no paired-end BAM mode
    assert (j["pos_shift"], j["neg_shift"], j["fragments"], j["paired_end"]) == (0, 0, True,
                                                                                   False)
    cfg = load_pipeline_params(tmp_path / "atac.json")
    summary = run_pipeline(cfg, log=lambda m: None)
    assert summary.ok, summary.table()
    statuses = {r.name: r.status for r in summary.results}
    for step in ("peaks", "bigwigs", "negatives", "fit", "evaluate", "predict", "attribute",
                 "modisco", "report"):
        assert statuses[step] == "ran", summary.table()
    run_dir = cfg.run_dir
    _check_split(run_dir)
    bw = _outputs(run_dir, "bigwigs")
    qc = json.loads(open(bw.shift_qc).read())
    assert qc["shift_used"] == [0, 0] and bw.shift_verdict == qc["verdict"]
    page = open(_outputs(run_dir, "report").html).read()
    assert "<td>bigwigs</td><td>" + qc["verdict"] in page and "+0/+0" in page
    assert ">Motif hits</h2>" in page
    # the ChromBPNet QC table: one row per check that ran, with the enzyme checks
    assert "<h3>ChromBPNet QC</h3>" in page
    assert "enzyme_learned" in page and "enzyme_removed" in page


@pytest.mark.slow
def test_default_pipeline_on_a_small_non_human_genome(tmp_path, monkeypatch):
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    seqs, summits = _genome_and_peaks(tmp_path, rng)
    names = list(SIZES)
    reads = []
    for c, ss in summits.items():
        for sm in ss:
            for _ in range(int(rng.integers(40, 120))):
                mid = int(sm + rng.normal(0, 30))
                reads.append((c, mid - 80, False) if rng.random() < 0.5 else
                             (c, mid + 44, True))
        for _ in range(len(seqs[c]) // 300):
            reads.append((c, int(rng.integers(100, len(seqs[c]) - 200)),
                          bool(rng.random() < 0.5)))
    reads.sort(key=lambda r: (names.index(r[0]), r[1]))
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": c, "LN": n} for c, n in SIZES.items()]}
    with pysam.AlignmentFile(str(tmp_path / "reads.bam"), "wb", header=header) as bam:
        for i, (c, s, rev) in enumerate(reads):
            a = pysam.AlignedSegment(bam.header)
            a.query_name, a.reference_id, a.reference_start = f"r{i}", names.index(c), s
            a.query_sequence, a.flag = seqs[c][s:s + 36], 16 if rev else 0
            a.cigartuples, a.mapping_quality = [(0, 36)], 60
            a.query_qualities = pysam.qualitystring_to_array("I" * 36)
            bam.write(a)
    pysam.index(str(tmp_path / "reads.bam"))

    monkeypatch.chdir(tmp_path)
    assert cli_main(["pipeline-json", "-s", "genome.fa", "-i", "reads.bam", "-p",
                     "peaks.narrowPeak", "-n", "chip", "-o", "chip.json"]) == 0
    _fast(tmp_path / "chip.json")
    cfg = load_pipeline_params(tmp_path / "chip.json")
    summary = run_pipeline(cfg, log=lambda m: None)
    assert summary.ok, summary.table()
    statuses = {r.name: r.status for r in summary.results}
    for step in ("bigwigs", "negatives", "fit", "evaluate", "predict", "attribute", "modisco",
                 "report"):
        assert statuses[step] == "ran", summary.table()
    _check_split(cfg.run_dir)
    # fit trained on the derived split
    fit_params = json.loads(open(_outputs(cfg.run_dir, "fit").params).read())
    assert Path(fit_params["split"]).resolve() == (Path(cfg.run_dir) / "split.json").resolve()
