"""Pipeline JSON: pipeline-json output, bpnet-lite JSONs, and bad input caught up front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpnetkit.cli.main import main
from bpnetkit.errors import ConfigError, InputError, MissingFileError
from bpnetkit.pipeline import load_pipeline_params, run_pipeline
from bpnetkit.pipeline.checks import check_inputs

pysam = pytest.importorskip("pysam")


def _genome(path: Path, chroms: dict[str, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for name, n in chroms.items():
            fh.write(f">{name}\n{''.join(rng.choice(list('ACGT'), n))}\n")
    return path


def _bam(path: Path, chroms: dict[str, int], n: int = 50) -> Path:
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": c, "LN": ln} for c, ln in chroms.items()]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for tid, (c, ln) in enumerate(chroms.items()):
            for s in range(100, min(ln - 100, 100 + n * 10), 10):
                a = pysam.AlignedSegment()
                a.query_name = f"{c}_{s}"
                a.query_sequence = "A" * 20
                a.flag = 0
                a.reference_id = tid
                a.reference_start = s
                a.mapping_quality = 60
                a.cigartuples = [(0, 20)]
                out.write(a)
    pysam.index(str(path))
    return path


@pytest.fixture
def data(tmp_path):
    chroms = {"chr1": 3000, "chr2": 2000}
    g = _genome(tmp_path / "g.fa", chroms)
    bam = _bam(tmp_path / "reads.bam", chroms)
    peaks = tmp_path / "peaks.bed"
    peaks.write_text("chr1\t1000\t1200\nchr2\t500\t700\n")
    return tmp_path, g, bam, peaks


def test_pipeline_json_writes_complete_valid_json(data):
    tmp, g, bam, peaks = data
    out = tmp / "p.json"
    code = main(["pipeline-json", "-s", str(g), "-i", str(bam), "-c", str(bam), "-p", str(peaks),
                 "-n", "exp", "-o", str(out), "-ps", "4", "-ns", "-4", "-u", "-pe",
                 "--model-type", "chrombpnet"])
    assert code == 0
    d = json.loads(out.read_text())
    # complete: every key of the dataclass is present
    from dataclasses import fields

    from bpnetkit.pipeline.config import PipelineParams

    assert set(d) == {f.name for f in fields(PipelineParams)}
    assert d["genome"] == str(g) and d["inputs"] == [str(bam)] and d["peaks"] == str(peaks)
    assert d["stranded"] is False and d["paired_end"] is True
    assert (d["pos_shift"], d["neg_shift"], d["model_type"]) == (4, -4, "chrombpnet")
    cfg = load_pipeline_params(out)  # round-trips
    assert cfg.name == "exp"
    # chrombpnet defaults the shifts when not given; bpnet keeps 0
    main(["pipeline-json", "-s", str(g), "-i", str(bam), "-n", "x", "-o", str(out),
          "--model-type", "chrombpnet"])
    d = json.loads(out.read_text())
    assert (d["pos_shift"], d["neg_shift"], d["stranded"]) == (4, -4, False)


def test_bpnetlite_pipeline_json_is_accepted(data, tmp_path):
    tmp, g, bam, peaks = data
    # a JSON written by bpnet-lite's own pipeline-json (run for real, as an oracle of the keys)
    exe = Path(sys.executable).parent / "bpnet"
    if not exe.exists():
        pytest.skip("bpnet-lite's 'bpnet' command is not installed")
    out = tmp_path / "lite.json"
    subprocess.run([str(exe), "pipeline-json", "-s", str(g), "-i", str(bam), "-c", str(bam),
                    "-p", str(peaks), "-n", "lite", "-o", str(out), "-u", "-ps", "4",
                    "-ns", "-4", "-m", "motifs.meme"], check=True, capture_output=True)
    cfg = load_pipeline_params(out)
    assert cfg.genome == str(g) and cfg.peaks == str(peaks)
    assert cfg.inputs == [str(bam)] and cfg.controls == [str(bam)]
    assert cfg.stranded is False and (cfg.pos_shift, cfg.neg_shift) == (4, -4)
    assert cfg.motif_db == "motifs.meme" and cfg.name == "lite"
    assert cfg.training_chroms and "chr8" in cfg.validation_chroms
    assert cfg.fit_parameters["n_filters"] == 64
    assert cfg.fit_parameters["patience"] == 5 and cfg.fit_parameters["rc"] == "random"
    assert cfg.attribute_target == "counts"
    # keys bpnetkit's steps lack are dropped (with a note) when checking a bpnet-lite file
    from bpnetkit.pipeline.checks import check_step_overrides

    notes = check_step_overrides(cfg, lenient=True)
    assert any("profile_output_bias" in n for n in notes)
    assert "profile_output_bias" not in cfg.fit_parameters


def test_unknown_key_names_the_nearest(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"genome": "g.fa", "inputs": ["a.bam"], "in_windw": 1000}))
    with pytest.raises(ConfigError, match="in_windw.*Did you mean 'in_window'"):
        load_pipeline_params(p)
    assert main(["pipeline", "-p", str(p)]) == 2


def test_missing_files_fail_before_any_step(data):
    tmp, g, bam, peaks = data
    p = tmp / "p.json"
    p.write_text(json.dumps({"genome": str(g), "inputs": [str(tmp / "nope.bam")],
                             "peaks": str(peaks), "output_dir": str(tmp / "run")}))
    with pytest.raises(MissingFileError, match="nope.bam"):
        run_pipeline(load_pipeline_params(p))
    assert not (tmp / "run").exists()  # nothing started


def test_genome_not_matching_reads_fails_early(data):
    tmp, g, bam, peaks = data
    other = _genome(tmp / "other.fa", {"1": 3000, "2": 2000})
    p = tmp / "p.json"
    p.write_text(json.dumps({"genome": str(other), "inputs": [str(bam)], "peaks": str(peaks),
                             "output_dir": str(tmp / "run")}))
    with pytest.raises(InputError, match="chr1.*not in the genome|no chromosome") as e:
        run_pipeline(load_pipeline_params(p))
    assert "'chr' prefix" in str(e.value)
    assert not (tmp / "run").exists()
    # same names, other lengths: a different assembly
    other = _genome(tmp / "other2.fa", {"chr1": 2500, "chr2": 2000})
    cfg = load_pipeline_params(p)
    cfg.genome = str(other)
    with pytest.raises(InputError, match="different assembly"):
        check_inputs(cfg)
    # peaks on a chromosome the genome lacks
    bad_peaks = tmp / "bad.bed"
    bad_peaks.write_text("chrZ\t10\t20\n")
    cfg.genome, cfg.peaks = str(g), str(bad_peaks)
    with pytest.raises(InputError, match="chrZ"):
        check_inputs(cfg)


def test_unknown_step_parameter_fails_early(data):
    tmp, g, bam, peaks = data
    cfg = load_pipeline_params(_write(tmp, {"genome": str(g), "inputs": [str(bam)],
                                            "peaks": str(peaks),
                                            "fit_parameters": {"n_filter": 8}}))
    with pytest.raises(ConfigError, match="n_filter.*Did you mean 'n_filters'"):
        check_inputs(cfg)


def test_dry_run_cli_prints_plan(data, capsys):
    tmp, g, bam, peaks = data
    p = _write(tmp, {"genome": str(g), "inputs": [str(bam)], "peaks": str(peaks),
                     "output_dir": str(tmp / "run")})
    main(["pipeline", "-p", str(p), "--dry-run"])
    out = capsys.readouterr().out
    assert "peaks" in out and "not needed" in out and "planned" in out
    assert not (tmp / "run" / "fit").exists()


def _write(tmp: Path, d: dict) -> Path:
    p = tmp / "p.json"
    p.write_text(json.dumps(d))
    return p
