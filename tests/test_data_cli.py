"""The data commands through the ``bpnetkit`` entry point (JSON in, files out)."""

from __future__ import annotations

import json

import numpy as np
import pysam

from bpnetkit.cli.main import main


def _bam(path):
    lines = [f"r{i}\t{16 * (i % 2)}\tchr1\t{100 + 7 * i}\t30\t20M\t*\t0\t0\t{'A' * 20}\t"
             f"{'I' * 20}\n" for i in range(200)]
    sam = path.with_suffix(".sam")
    sam.write_text("@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:5000\n" + "".join(lines))
    pysam.view("-b", "-o", str(path), str(sam), catch_stdout=False)
    return path


def test_bam2bw_cli(tmp_path, capsys):
    bam = _bam(tmp_path / "r.bam")
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"inputs": [str(bam)], "output_dir": str(tmp_path / "o"),
                             "name": "s", "stranded": True, "preset": "atac"}))
    assert main(["bam2bw", "-p", str(p)]) == 0
    out = capsys.readouterr().out
    for strand in ("plus", "minus"):  # the step's outputs are printed
        assert str(tmp_path / "o" / f"s.{strand}.bw") in out
        assert (tmp_path / "o" / f"s.{strand}.bw").exists()
    resolved = json.loads((tmp_path / "o" / "s.bam2bw.params.json").read_text())
    assert resolved["min_mapq"] == 0 and resolved["preset"] == "atac"


def test_bad_key_is_reported_without_traceback(tmp_path, capsys):
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"inputs": [], "min_mpq": 3}))
    assert main(["bam2bw", "-p", str(p)]) == 2
    err = capsys.readouterr().err
    assert "min_mapq" in err and "Traceback" not in err


def test_negatives_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 20000))
    (tmp_path / "g.fa").write_text(">chr1\n" + "\n".join(seq[i:i + 60]
                                                         for i in range(0, len(seq), 60)) + "\n")
    (tmp_path / "p.bed").write_text("chr1\t1000\t1100\nchr1\t5000\t5100\nchr1\t9000\t9100\n")
    p = tmp_path / "n.json"
    p.write_text(json.dumps({"genome": str(tmp_path / "g.fa"), "peaks": str(tmp_path / "p.bed"),
                             "output_dir": str(tmp_path / "o"), "width": 200, "ratio": 2}))
    assert main(["negatives", "-p", str(p)]) == 0
    lines = (tmp_path / "o" / "negatives.bed").read_text().splitlines()
    assert len(lines) == 6
    assert "ks_statistic" in json.loads((tmp_path / "o" / "negatives.gc_report.json").read_text())
