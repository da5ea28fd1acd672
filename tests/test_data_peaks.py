"""MACS3 peak calling run for real on a tiny BAM with planted enrichment."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pysam
import pytest

from bpnetkit.data.peaks import find_macs3, macs3_command
from bpnetkit.errors import InputError, MissingToolError
from bpnetkit.io.bed import read_regions
from bpnetkit.steps.peaks import PeaksParams, run_peaks

SIZE = 200_000
CENTERS = [30_000, 90_000, 150_000]


def write_bam(path, rng, paired=False):
    lines = []
    n_bg = 3000
    starts = list(rng.integers(0, SIZE - 100, n_bg))
    for c in CENTERS:
        starts += list((c + rng.normal(0, 40, 400)).astype(int))
    starts.sort()
    for i, s in enumerate(starts):
        flag = 16 if rng.random() < 0.5 else 0
        lines.append(f"r{i}\t{flag}\tchr1\t{s + 1}\t40\t36M\t*\t0\t0\t{'A' * 36}\t{'I' * 36}\n")
    sam = path.with_suffix(".sam")
    sam.write_text(f"@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:{SIZE}\n" + "".join(lines))
    pysam.view("-b", "-o", str(path), str(sam), catch_stdout=False)
    return path


def test_macs3_command_line():
    p = PeaksParams(treatment=["a.bam"], control=["c.bam"], format="bampe", genome_size="mm",
                    pvalue=0.01, nomodel=True, shift=-75, extsize=150, keep_dup="all")
    cmd = macs3_command(p, "out", exe="macs3")
    assert cmd[:4] == ["macs3", "callpeak", "-t", "a.bam"]
    for flag in (["-c", "c.bam"], ["-f", "BAMPE"], ["-g", "mm"], ["-p", "0.01"],
                 ["--shift", "-75"], ["--extsize", "150"], ["--keep-dup", "all"]):
        i = cmd.index(flag[0])
        assert cmd[i:i + 2] == flag
    assert "-q" not in cmd and "--nomodel" in cmd and "--call-summits" in cmd
    with pytest.raises(InputError, match="format"):
        macs3_command(PeaksParams(treatment=["a"], format="XYZ"), "out")


def test_missing_macs3_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(MissingToolError, match="pip install macs3"):
        find_macs3()


@pytest.mark.skipif(shutil.which("macs3") is None and not os.path.exists(
    os.path.join(os.path.dirname(os.sys.executable), "macs3")), reason="MACS3 not installed")
def test_run_peaks_finds_planted_peaks(tmp_path):
    rng = np.random.default_rng(0)
    bam = write_bam(tmp_path / "t.bam", rng)
    bl = tmp_path / "bl.bed"
    bl.write_text(f"chr1\t{CENTERS[2] - 10}\t{CENTERS[2] + 10}\n")
    out = run_peaks(PeaksParams(treatment=[str(bam)], output_dir=str(tmp_path / "o"),
                                format="BAM", genome_size=str(SIZE), qvalue=0.01, nomodel=True,
                                extsize=100, blacklist=str(bl)))
    peaks = read_regions(out.peaks)
    assert len(peaks.extra) == 3  # narrowPeak columns 7-9 kept
    near = [np.abs(peaks.summit - c).min() for c in CENTERS]
    assert near[0] < 100 and near[1] < 100
    assert near[2] > 10  # the excluded one was removed
    assert len(peaks) <= 6 and out.n_peaks == len(peaks)
    assert out.macs3_log == str(tmp_path / "o" / "peaks.macs3.log") and out.missing() == []
    with pytest.raises(InputError, match="single-end"):
        run_peaks(PeaksParams(treatment=[str(bam)], output_dir=str(tmp_path / "o2"),
                              format="BAMPE", genome_size=str(SIZE)))
