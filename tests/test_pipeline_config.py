"""Pipeline JSON: pipeline-json output, bpnet-lite JSONs, and bad input caught up front."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpnetkit.cli.main import main
from bpnetkit.config import field_defaults, load_config
from bpnetkit.errors import ConfigError, InputError, MissingFileError
from bpnetkit.io.fasta import Genome
from bpnetkit.pipeline import load_pipeline_params, run_pipeline
from bpnetkit.pipeline.builders import BUILDERS, peaks_choices
from bpnetkit.pipeline.checks import check_inputs, plan_step_params
from bpnetkit.pipeline.config import PipelineParams
from bpnetkit.pipeline.registry import COMMAND_STEPS, PIPELINE_STEPS, get_step

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
    # three chromosomes with peaks: the default split is derived from this (non-human) genome
    chroms = {"chr1": 3000, "chr2": 2000, "chr3": 2000}
    g = _genome(tmp_path / "g.fa", chroms)
    bam = _bam(tmp_path / "reads.bam", chroms)
    peaks = tmp_path / "peaks.bed"
    peaks.write_text("chr1\t1000\t1200\nchr2\t500\t700\nchr3\t500\t700\n")
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
    _assert_every_knob_written(d, cfg)
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


def _knobs(spec) -> set[str]:
    """The Params fields of a step that the pipeline does not fill itself."""
    return {f.name for f in dataclasses.fields(spec.params_class)} - BUILDERS[spec.name].fills \
        - {"output_dir"}


def _assert_every_knob_written(d: dict, cfg: PipelineParams) -> None:
    for spec in PIPELINE_STEPS:
        written = d[spec.key]
        assert set(written) == _knobs(spec), spec.key
        defaults, _ = field_defaults(spec.params_class)
        chosen = peaks_choices(cfg) if spec.name == "peaks" else {}
        for k, v in written.items():
            assert v == chosen.get(k, defaults[k]), (spec.key, k)
    # the data keys are not knobs (the pipeline fills them from the data and earlier steps)
    assert "signals" not in d["fit_parameters"] and "genome" not in d["fit_parameters"]
    assert "max_epochs" in d["fit_parameters"] and "n_shuffles" in d["attribute_parameters"]


def test_pipeline_json_knobs_change_nothing(data):
    """Writing every knob at its value for the run builds the same parameters for every
    step as leaving the objects empty."""
    tmp, g, bam, peaks = data
    out = tmp / "p.json"
    assert main(["pipeline-json", "-s", str(g), "-i", str(bam), "-n", "exp", "-o", str(out),
                 "--output-dir", str(tmp / "run")]) == 0
    full = load_pipeline_params(out)
    empty = load_pipeline_params(out)
    for key in {s.key for s in PIPELINE_STEPS}:
        setattr(empty, key, {})
    sizes = dict(Genome(str(g)).chrom_sizes)
    planned_full, _ = plan_step_params(full, sizes)
    planned_empty, _ = plan_step_params(empty, sizes)
    assert planned_full == planned_empty
    assert {"bigwigs", "peaks", "negatives", "fit", "attribute", "report"} <= set(planned_full)
    # the builders connect steps through typed outputs
    fit = planned_full["fit"]
    assert fit.signals == [str(tmp / "run" / "bigwigs" / f"bigwigs.planned.{i}")
                           for i in range(2)]
    assert fit.peaks == str(tmp / "run" / "peaks" / "peaks.planned")
    assert planned_full["attribute"].model == str(tmp / "run" / "fit" / "model.planned")
    assert planned_full["seqlets"].attributions == \
        str(tmp / "run" / "attribute" / "h5.planned.profile")
    assert not (tmp / "run").exists()


@pytest.mark.parametrize("key, value, match", [
    ("fit_parameters", {"max_epoch": 3}, r"'fit_parameters' has key 'max_epoch'.*"
                                         r"Did you mean 'max_epochs'"),
    ("fit_parameters", {"max_epochs": "ten"}, r"'max_epochs' must be an integer"),
    ("seqlet_parameters", {"treshold": 0.01}, r"'seqlet_parameters' has key 'treshold'.*"
                                              r"Did you mean 'threshold'"),
    ("annotation_parameters", {"n_matches": "3"}, r"'n_matches' must be an integer"),
    ("bam2bw_parameters", {"min_mapq": 2.5}, r"'min_mapq' must be an integer"),
    ("report_parameters", {"n_profile": 2}, r"'report_parameters' has key 'n_profile'"),
    ("marginalize_parameters", {"output_dir": "x"}, r"'marginalize_parameters.output_dir' "
                                                    r"cannot be set"),
])
def test_bad_step_parameter_fails_before_any_step(data, key, value, match):
    tmp, g, bam, peaks = data
    p = _write(tmp, {"genome": str(g), "inputs": [str(bam)], "peaks": str(peaks),
                     "output_dir": str(tmp / "run"), key: value})
    with pytest.raises(ConfigError, match=match):
        run_pipeline(load_pipeline_params(p), log=lambda m: None)
    assert not (tmp / "run").exists()  # no step (and no run folder) was started
    assert main(["pipeline", "-p", str(p)]) == 2


def test_invalid_split_fails_before_any_step(data):
    tmp, g, bam, peaks = data
    p = _write(tmp, {"genome": str(g), "inputs": [str(bam)], "peaks": str(peaks),
                     "output_dir": str(tmp / "run"), "training_chroms": ["chr1"],
                     "validation_chroms": ["chr2"], "test_chroms": ["chr2"]})
    with pytest.raises(ConfigError, match=r"validation_chroms.*test_chroms.*'chr2' is in both"):
        run_pipeline(load_pipeline_params(p), log=lambda m: None)
    assert not (tmp / "run").exists()
    # a split JSON named in fit_parameters is checked too
    split = tmp / "split.json"
    split.write_text(json.dumps({"train": ["chr1", "chr2"], "valid": ["chr2"]}))
    p = _write(tmp, {"genome": str(g), "inputs": [str(bam)], "peaks": str(peaks),
                     "output_dir": str(tmp / "run"), "fit_parameters": {"split": str(split)}})
    with pytest.raises(ConfigError, match=r"'fit_parameters.split'.*'chr2' is in both"):
        run_pipeline(load_pipeline_params(p), log=lambda m: None)
    assert not (tmp / "run").exists()


def test_bad_values_and_missing_files_in_step_parameters_fail_early(data):
    tmp, g, bam, peaks = data
    base = {"genome": str(g), "inputs": [str(bam)], "peaks": str(peaks),
            "output_dir": str(tmp / "run")}
    # a value the step's own validate() rejects
    p = _write(tmp, base | {"seqlet_parameters": {"min_length": 30, "max_length": 20}})
    with pytest.raises(InputError, match="min_length"):
        run_pipeline(load_pipeline_params(p), log=lambda m: None)
    # a file named in a *_parameters object
    p = _write(tmp, base | {"marginalize_parameters": {"motif_db": str(tmp / "no.meme")}})
    with pytest.raises(MissingFileError, match="marginalize_parameters.motif_db"):
        run_pipeline(load_pipeline_params(p), log=lambda m: None)
    # a chromosome the genome lacks
    p = _write(tmp, base | {"predict_parameters": {"chroms": ["chr9"]}})
    with pytest.raises(InputError, match="predict_parameters.chroms.*chr9"):
        run_pipeline(load_pipeline_params(p), log=lambda m: None)
    assert not (tmp / "run").exists()


@pytest.mark.parametrize("command", sorted(COMMAND_STEPS))
def test_print_defaults_prints_every_key(command, capsys, tmp_path):
    spec = COMMAND_STEPS[command]
    assert main([command, "--print-defaults"]) == 0
    doc = json.loads(capsys.readouterr().out)
    fields = dataclasses.fields(spec.params_class)
    required = [f.name for f in fields if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    assert doc.pop("_required", []) == required
    assert list(doc) == [f.name for f in fields]
    for f in fields:
        if f.name in required:
            assert doc[f.name] is None
        elif f.default is not dataclasses.MISSING:
            assert doc[f.name] == (list(f.default) if isinstance(f.default, tuple)
                                   else f.default), f.name
    # the printed document is a valid parameter file once the required keys are filled in
    import typing

    hints = typing.get_type_hints(spec.params_class)

    def placeholder(k):
        if typing.get_origin(hints[k]) is list:
            return []
        if typing.get_origin(hints[k]) is typing.Literal:  # a choice: its first value
            return typing.get_args(hints[k])[0]
        return "x"

    filled = {k: placeholder(k) for k in required}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**doc, **filled, "_required": required}))
    try:
        params = load_config(spec.params_class, path)
    except InputError as e:  # validate() may ask for more than placeholders give
        assert "must be" not in str(e) and "unknown key" not in str(e), e
    else:
        assert {k: getattr(params, k) for k in doc if k not in required} == \
            {k: v for k, v in doc.items() if k not in required} | \
            {k: getattr(params, k) for k in doc if k not in required
             and isinstance(getattr(params, k), tuple)}


def test_pipeline_print_defaults(capsys):
    assert main(["pipeline", "--print-defaults"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {f.name for f in dataclasses.fields(PipelineParams)}
    _assert_every_knob_written(doc, PipelineParams())


def test_missing_params_flag_is_an_error(capsys):
    assert main(["seqlets"]) == 2
    assert "--print-defaults" in capsys.readouterr().err


# the Outputs fields the pipeline builds on (the contract of each step)
CONTRACT = {
    "bam2bw": {"bigwigs", "params"},
    "peaks": {"peaks", "macs3_log", "params"},
    "negatives": {"negatives", "report", "params"},
    "fit": {"model", "model_nobias", "bias_model", "checkpoint", "log", "metrics", "params"},
    "evaluate": {"metrics_json", "metrics_tsv", "predictions", "params"},
    "predict": {"regions_bed", "h5", "bigwigs", "params"},
    "attribute": {"regions_bed", "h5", "bigwigs", "params"},
    "seqlets": {"seqlets", "params"},
    "annotate": {"seqlet_matches", "motif_counts", "cooccurrence", "pattern_matches", "params"},
    "modisco": {"modisco_h5", "patterns_meme", "pattern_matches", "n_patterns", "report_html",
                "params"},
    "marginalize": {"effects", "profiles", "params"},
    "variant_effect": {"scores", "skipped", "summary", "params"},
    "design": {"fasta", "edits", "summary", "params"},
    "hits": {"hits_tsv", "hits_bed", "counts_tsv", "params"},
    "merge": {"regions_bed", "h5", "bigwigs", "params"},
    "step": {"html", "params"},  # the report step (bpnetkit.report.step)
}


def test_every_step_module_keeps_the_contract():
    from bpnetkit.pipeline.registry import STEPS
    from bpnetkit.steps.base import StepOutputs

    assert set(BUILDERS) == {s.name for s in PIPELINE_STEPS}
    for spec in STEPS:
        mod = spec.load()
        assert dataclasses.is_dataclass(mod.Params) and callable(mod.run), spec.name
        assert issubclass(mod.Outputs, StepOutputs), spec.name
        fields = {f.name for f in dataclasses.fields(mod.Outputs)}
        missing = CONTRACT[spec.module.rsplit(".", 1)[1]] - fields
        assert not missing, (spec.name, missing)


def test_verbose_and_exclusion_lists_reach_every_step_that_has_them(data):
    from bpnetkit.pipeline.builders import accepts_list

    tmp, g, bam, peaks = data
    excl = [tmp / "a.bed", tmp / "b.bed"]
    for e in excl:
        e.write_text("chr1\t0\t10\n")
    sizes = dict(Genome(str(g)).chrom_sizes)
    cfg = load_pipeline_params(_write(tmp, {"genome": str(g), "inputs": [str(bam)],
                                            "output_dir": str(tmp / "run"), "verbose": False,
                                            "exclusion_lists": [str(excl[0])]}))
    planned, _ = plan_step_params(cfg, sizes)
    with_verbose = [n for n, p in planned.items() if hasattr(p, "verbose")]
    assert "fit" in with_verbose
    assert all(planned[n].verbose is False for n in with_verbose)
    assert planned["fit"].exclusion_lists == [str(excl[0])]
    assert planned["negatives"].blacklist in (str(excl[0]), [str(excl[0])])
    assert planned["peaks"].blacklist in (str(excl[0]), [str(excl[0])])
    # two lists: every step that takes a list gets both; a step taking one file is an error
    cfg.exclusion_lists = [str(e) for e in excl]
    cls = get_step("negatives").params_class
    if accepts_list(cls, "blacklist"):
        planned, _ = plan_step_params(cfg, sizes)
        assert planned["negatives"].blacklist == cfg.exclusion_lists
    else:
        with pytest.raises(ConfigError, match="'exclusion_lists' names 2 files"):
            plan_step_params(cfg, sizes)


def _fragments(path: Path, chroms: dict[str, int]) -> Path:
    import gzip

    with gzip.open(path, "wt") as fh:
        for c, ln in chroms.items():
            for s in range(100, ln - 300, 37):
                fh.write(f"{c}\t{s}\t{s + 180}\tAAACGG-1\t1\n")
    return path


def test_pipeline_json_picks_read_shifts_from_the_kind_of_file(data):
    """ATAC: BAM reads are shifted +4/-4; a 10x fragment file is already Tn5-adjusted (no
    shift, not paired-end); the written JSON's bigwigs step then validates and counts."""
    tmp, g, bam, peaks = data
    frag = _fragments(tmp / "atac.fragments.tsv.gz", {"chr1": 3000, "chr2": 2000, "chr3": 2000})
    out = tmp / "frag.json"
    assert main(["pipeline-json", "-s", str(g), "-i", str(frag), "-p", str(peaks), "-n", "atac",
                 "-u", "-f", "--model-type", "chrombpnet", "-o", str(out)]) == 0
    d = json.loads(out.read_text())
    assert (d["pos_shift"], d["neg_shift"], d["paired_end"]) == (0, 0, False)
    cfg = load_pipeline_params(out)
    planned, _ = plan_step_params(cfg, dict(Genome(str(g)).chrom_sizes))
    bw = planned["bigwigs"]
    assert (bw.shift_plus, bw.shift_minus, bw.paired_end) == (0, 0, False)
    assert bw.input_format == "fragments"

    out2 = tmp / "bam.json"
    assert main(["pipeline-json", "-s", str(g), "-i", str(bam), "-p", str(peaks), "-n", "atac",
                 "-u", "--model-type", "chrombpnet", "-o", str(out2)]) == 0
    d2 = json.loads(out2.read_text())
    assert (d2["pos_shift"], d2["neg_shift"], d2["paired_end"]) == (4, -4, False)


def test_shifted_fragment_file_is_rejected_up_front(data):
    tmp, g, bam, peaks = data
    frag = _fragments(tmp / "atac.fragments.tsv.gz", {"chr1": 3000, "chr2": 2000, "chr3": 2000})
    p = _write(tmp, {"genome": str(g), "inputs": [str(frag)], "peaks": str(peaks),
                     "stranded": False, "model_type": "chrombpnet", "pos_shift": 4,
                     "neg_shift": -4, "output_dir": str(tmp / "run")})
    with pytest.raises(InputError, match="shift it twice"):
        run_pipeline(load_pipeline_params(p), dry_run=True)
    assert not (tmp / "run").exists()


def test_default_split_is_derived_for_a_non_human_genome(data):
    tmp, g, bam, peaks = data
    p = _write(tmp, {"genome": str(g), "inputs": [str(bam)], "peaks": str(peaks),
                     "output_dir": str(tmp / "run")})
    cfg = load_pipeline_params(p)
    planned, notes = plan_step_params(cfg, dict(Genome(str(g)).chrom_sizes))
    assert any("does not fit this genome" in n for n in notes)
    assert planned["fit"].split == str(tmp / "run" / "split.json")
    assert not (tmp / "run").exists()  # validation writes nothing; the run writes the split
    from bpnetkit.pipeline.builders import run_split

    derived, why = run_split(cfg)
    assert why and sorted(sum(derived.values(), [])) == ["chr1", "chr2", "chr3"]
    assert all(len(derived[k]) == 1 for k in ("train", "valid", "test"))


def test_attribute_target_defaults_by_model_type(tmp_path):
    """ChromBPNet attributes counts unless told otherwise (its profile attributions keep a
    trace of the enzyme's bias, docs/training.md); BPNet and ProCapNet attribute the
    profile; an explicit value, in Python or in a pipeline JSON, is kept."""
    assert PipelineParams(model_type="chrombpnet").attribute_target == "counts"
    assert PipelineParams(model_type="bpnet").attribute_target == "profile"
    assert PipelineParams(model_type="procapnet").attribute_target == "profile"
    assert PipelineParams(model_type="chrombpnet",
                          attribute_target="profile").attribute_target == "profile"
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"genome": "g.fa", "inputs": ["r.bam"], "model_type": "chrombpnet",
                             "output_dir": str(tmp_path / "run")}))
    assert load_config(PipelineParams, p).attribute_target == "counts"
    p.write_text(json.dumps({"genome": "g.fa", "inputs": ["r.bam"], "model_type": "chrombpnet",
                             "attribute_target": "profile", "output_dir": str(tmp_path / "r")}))
    assert load_config(PipelineParams, p).attribute_target == "profile"
