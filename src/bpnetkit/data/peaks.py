"""Peak calling with MACS3, and filtering of called peaks.

MACS3 ``callpeak`` runs for real in a subprocess (:func:`call_macs3`, which works on files as
MACS3 does); its narrowPeak output can be filtered (:func:`filter_peaks`: exclusion list,
top-N by signal). MACS3 is an optional dependency: without it a
:class:`~bpnetkit.errors.MissingToolError` says how to install it. The ``bpnetkit peaks``
step (parameters, output folder) is :mod:`bpnetkit.steps.peaks`.

The MACS3 options are read from any object with the fields of
:class:`bpnetkit.steps.peaks.PeaksParams` (``treatment``, ``control``, ``name``, ``format``,
``genome_size``, ``qvalue``, ``pvalue``, ``nomodel``, ``shift``, ``extsize``, ``keep_dup``,
``call_summits``, ``extra_args``).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bpnetkit.data.regions import Regions, remove_blacklisted
from bpnetkit.errors import BpnetkitError, InputError, MissingToolError, require_file

__all__ = ["FORMATS", "find_macs3", "macs3_command", "check_inputs", "call_macs3",
           "filter_peaks", "genome_size_for"]

log = logging.getLogger(__name__)

FORMATS = ("AUTO", "BAM", "BAMPE", "BED", "BEDPE", "SAM", "FRAG")


def genome_size_for(chrom_sizes: dict[str, int], human_like: float = 1e9) -> str:
    """MACS3 ``genome_size`` for a genome: ``"hs"`` for genomes of at least ``human_like`` bp,
    else the total length (an upper bound of the mappable size) as a number string, so that
    small genomes (fly, worm, plants, yeast, simulated) get a sensible background lambda.
    """
    total = int(sum(int(v) for v in chrom_sizes.values()))
    return "hs" if total >= human_like else str(total)


def find_macs3() -> str:
    """Path of the ``macs3`` executable, or :class:`MissingToolError` saying how to install."""
    exe = shutil.which("macs3")
    if exe is None:
        cand = Path(sys.executable).with_name("macs3")
        if cand.exists():
            exe = str(cand)
    if exe is None:
        raise MissingToolError("MACS3 is not installed (no 'macs3' on PATH). Install it with "
                               "'pip install macs3' (or 'pip install bpnetkit[peaks]'), or give "
                               "a peaks file instead of calling peaks.")
    return exe


def macs3_command(params: Any, outdir: str | os.PathLike, exe: str = "macs3") -> list[str]:
    """The ``macs3 callpeak`` command line for ``params`` (a ``PeaksParams``)."""
    fmt = params.format.upper()
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {params.format!r}.")
    cmd = [exe, "callpeak", "-t", *map(str, params.treatment)]
    if params.control:
        cmd += ["-c", *map(str, params.control)]
    cmd += ["-f", fmt, "-g", str(params.genome_size), "-n", params.name, "--outdir", str(outdir),
            "--keep-dup", str(params.keep_dup)]
    if params.pvalue is not None:
        cmd += ["-p", str(params.pvalue)]
    elif params.qvalue is not None:
        cmd += ["-q", str(params.qvalue)]
    if params.nomodel:
        cmd.append("--nomodel")
    if params.shift is not None:
        cmd += ["--shift", str(params.shift)]
    if params.extsize is not None:
        cmd += ["--extsize", str(params.extsize)]
    if params.call_summits:
        cmd.append("--call-summits")
    cmd += list(params.extra_args)
    return cmd


def check_inputs(params: Any) -> None:
    """Check the read files of ``params`` (exist, not empty; BAMPE needs paired reads)."""
    if not params.treatment:
        raise InputError("peaks: 'treatment' lists no read files.")
    for p in [*params.treatment, *params.control]:
        path = require_file(p, "reads file")
        if path.stat().st_size == 0:
            raise InputError(f"reads file '{path}' is empty.")
    if params.format.upper() in ("BAMPE",):
        import pysam

        try:
            with pysam.AlignmentFile(str(params.treatment[0]), "rb", check_sq=False) as f:
                for i, r in enumerate(f.fetch(until_eof=True)):
                    if r.is_paired:
                        break
                    if i >= 1000:
                        raise InputError(f"format BAMPE needs paired-end reads but the first "
                                         f"1000 reads of '{params.treatment[0]}' are single-"
                                         f"end; use format 'BAM'.")
        except (ValueError, OSError) as e:
            raise InputError(f"cannot read BAM '{params.treatment[0]}': {e}.") from None


def call_macs3(params: Any, workdir: str | os.PathLike, log_path: str | os.PathLike,
               exe: str | None = None) -> Path:
    """Run ``macs3 callpeak`` with its outputs in ``workdir``; return its narrowPeak file.

    Parameters
    ----------
    params : PeaksParams
        The MACS3 options.
    workdir : path
        Folder for MACS3's outputs (normally a temporary folder).
    log_path : path
        Where the command line and MACS3's output are written.
    exe : str or None
        The ``macs3`` executable (default: :func:`find_macs3`).

    Raises
    ------
    MissingToolError
        When MACS3 is not installed.
    BpnetkitError
        When MACS3 fails (the message ends with the tail of its log).
    InputError
        When the inputs are unusable or MACS3 finds no peaks.
    """
    exe = exe or find_macs3()
    check_inputs(params)
    log_path = Path(log_path)
    cmd = macs3_command(params, workdir, exe)
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    log_path.write_text(" ".join(cmd) + "\n\n" + proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise BpnetkitError(f"MACS3 callpeak failed (exit {proc.returncode}); full log in "
                            f"'{log_path}'. Last lines:\n{tail}")
    raw = Path(workdir) / f"{params.name}_peaks.narrowPeak"
    if not raw.exists() or raw.stat().st_size == 0:
        raise InputError(f"MACS3 found no peaks in {', '.join(map(str, params.treatment))} "
                         f"(log: '{log_path}'). Use more reads, a looser cutoff "
                         f"(pvalue/qvalue) or check genome_size.")
    return raw


def filter_peaks(peaks: Regions, blacklist: Regions | None = None,
                 max_peaks: int | None = None) -> Regions:
    """Drop peaks overlapping ``blacklist``, then keep the strongest ``max_peaks``.

    Strength is the narrowPeak signal value (column 7) when present, else the score; the
    kept peaks stay in their original order.

    Raises
    ------
    InputError
        When no peak is left.
    """
    n0 = len(peaks)
    if blacklist is not None:
        peaks = remove_blacklisted(peaks, blacklist)
    if max_peaks is not None and len(peaks) > max_peaks:
        sig = peaks.extra[0].astype(np.float64) if peaks.extra else peaks.score
        keep = np.sort(np.argsort(-sig, kind="stable")[:max_peaks])
        peaks = peaks.subset(keep)
    if not len(peaks):
        raise InputError(f"no peaks left after filtering {n0} peaks with the exclusion list "
                         f"'{getattr(blacklist, 'source', None)}'.")
    return peaks
