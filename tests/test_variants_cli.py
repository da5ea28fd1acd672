"""``bpnetkit variant-effect`` and ``bpnetkit design`` end to end through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpnetkit.cli.main import main

MOTIF = "GATTACA"


def _model(tmp_path):
    from bpnetkit.models.files import save_model
    from test_design import motif_bpnet

    path = tmp_path / "model"
    save_model(motif_bpnet(), path)
    return path


def _genome(tmp_path):
    from test_design import background, plant

    chr1 = plant(background(300, 11), MOTIF, 150)
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\n" + chr1 + "\n")
    return fa, chr1


def test_variant_effect_cli(tmp_path, capsys):
    model = _model(tmp_path)
    fa, chr1 = _genome(tmp_path)
    vcf = tmp_path / "v.vcf"
    wrong = "ACGT"[("ACGT".index(chr1[9]) + 1) % 4]
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n"
                   f"chr1\t{150 + 3}\tbrk\t{chr1[152]}\tC\n"
                   f"chr1\t10\tbad\t{wrong}\tA\n"
                   f"chr1\t20\tsv\t{chr1[19]}\t<DUP>\n")
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"variants": str(vcf), "genome": str(fa), "model": str(model),
                                  "output_dir": str(tmp_path / "out"), "in_window": 60,
                                  "device": "cpu", "rc_average": False}))
    assert main(["variant-effect", "-p", str(params)]) == 0
    printed = capsys.readouterr().out
    assert "scored 1 of 3 records; skipped 2" in printed
    rows = open(tmp_path / "out" / "variants.scores.tsv").read().splitlines()
    assert len(rows) == 2
    row = dict(zip(rows[0].split("\t"), rows[1].split("\t"), strict=True))
    assert row["variant_id"] == "brk" and row["pos"] == str(153)
    assert float(row["logfc"]) == pytest.approx(-1 / np.log(2), abs=1e-4)
    # an unknown key is an error naming the nearest valid key, printed without a traceback
    params.write_text(json.dumps({"variants": str(vcf), "genome": str(fa), "model": str(model),
                                  "output_dir": str(tmp_path / "out"), "in_windw": 60}))
    assert main(["variant-effect", "-p", str(params)]) == 2
    assert "in_window" in capsys.readouterr().err


def test_design_cli(tmp_path, capsys):
    from test_design import ALMOST, background, plant

    model = _model(tmp_path)
    fa = tmp_path / "s.fa"
    fa.write_text(">s1\n" + plant(background(60, 12), ALMOST, 25) + "\n")
    params = tmp_path / "d.json"
    params.write_text(json.dumps({"model": str(model), "output_dir": str(tmp_path / "o"),
                                  "sequences": str(fa), "method": "gradient", "n_iter": 40,
                                  "n_samples": 8, "edit_penalty": 0.2, "device": "cpu",
                                  "patience": 10}))
    assert main(["design", "-p", str(params)]) == 0
    seq = open(tmp_path / "o" / "design.fa").read().splitlines()[1]
    assert MOTIF in seq
    params.write_text(json.dumps({"model": str(model), "output_dir": str(tmp_path / "o"),
                                  "sequences": str(fa), "goal": "up"}))
    assert main(["design", "-p", str(params)]) == 2
    assert "goal" in capsys.readouterr().err


def test_design_cli_from_regions(tmp_path):
    from test_design import ALMOST, background, plant

    model = _model(tmp_path)
    chr1 = plant(background(200, 13), ALMOST, 100)
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\n" + chr1 + "\n")
    bed = tmp_path / "r.bed"
    bed.write_text("chr1\t90\t110\n")
    params = tmp_path / "d.json"
    params.write_text(json.dumps({"model": str(model), "output_dir": str(tmp_path / "o"),
                                  "regions": str(bed), "genome": str(fa), "in_window": 60,
                                  "goal": "max", "max_edits": 2, "device": "cpu"}))
    assert main(["design", "-p", str(params)]) == 0
    lines = open(tmp_path / "o" / "design.fa").read().splitlines()
    assert lines[0].startswith(">chr1:70-130_designed") and MOTIF in lines[1]


def test_variant_effect_cli_folds_and_schema(tmp_path, capsys):
    """Two model files (folds), a bed-layout file: per-model tables and their means."""
    model = _model(tmp_path)
    fa, chr1 = _genome(tmp_path)
    bed = tmp_path / "v.bed"
    bed.write_text(f"chr1\t152\t153\t{chr1[152]}\tC\tbrk\n"
                   f"chr1\t100\t102\t{chr1[100:102]}\t-\tdel\n")
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"variants": str(bed), "genome": str(fa),
                                  "models": [str(model), str(model)], "schema": "bed",
                                  "output_dir": str(tmp_path / "out"), "in_window": 60,
                                  "device": "cpu", "rc_average": False}))
    assert main(["variant-effect", "-p", str(params)]) == 0
    assert "scored 2 of 2 records" in capsys.readouterr().out
    out = tmp_path / "out"

    def rows(name):
        lines = open(out / name).read().splitlines()
        return [dict(zip(lines[0].split("\t"), ln.split("\t"), strict=True)) for ln in lines[1:]]

    per = [rows(f"variants.model_{k}.scores.tsv") for k in (0, 1)]
    mean = rows("variants.scores.tsv")
    assert [r["pos"] for r in mean] == ["152", "100"]  # bed positions stay 0-based
    assert float(per[0][0]["logfc"]) == pytest.approx(-1 / np.log(2), abs=1e-4)
    for k in range(2):
        assert float(mean[k]["logfc.mean"]) == pytest.approx(float(per[0][k]["logfc"]),
                                                             rel=1e-6)
        assert per[0][k] == per[1][k]
