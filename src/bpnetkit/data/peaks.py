"""Peak calling with MACS3 (``bpnetkit peaks``).

MACS3 ``callpeak`` runs for real in a subprocess; its narrowPeak output is checked, optionally
filtered (exclusion list, top-N by signal) and written atomically. MACS3 is an optional
dependency: without it a :class:`~bpnetkit.errors.MissingToolError` says how to install it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bpnetkit.errors import BpnetkitError, InputError, MissingToolError, require_file

log = logging.getLogger("bpnetkit.data")

FORMATS = ("AUTO", "BAM", "BAMPE", "BED", "BEDPE", "SAM", "FRAG")


@dataclass
class PeaksParams:
    """Parameters of ``bpnetkit peaks``.

    Attributes
    ----------
    treatment : list of str
        Read files (BAM, BED, ...); several are pooled.
    control : list of str
        Control/input read files (may be empty).
    output_dir : str
        Output folder.
    name : str
        Output name: ``<name>.narrowPeak``.
    format : str
        MACS3 format: AUTO, BAM, BAMPE (paired-end fragments), BED, BEDPE, SAM or FRAG.
    genome_size : str
        Effective genome size: ``hs``, ``mm``, ``ce``, ``dm`` or a number such as ``"2.7e9"``.
    qvalue : float or None
        q-value cutoff (MACS3 default 0.05); ignored when ``pvalue`` is set.
    pvalue : float or None
        p-value cutoff (ChromBPNet uses 0.01 for ATAC/DNase).
    nomodel : bool
        Skip MACS3's fragment-size model (use with ``shift``/``extsize``; ATAC/DNase).
    shift, extsize : int or None
        MACS3 ``--shift`` and ``--extsize`` (ATAC: -75 and 150).
    keep_dup : str
        MACS3 ``--keep-dup``: ``"1"``, ``"auto"`` or ``"all"``.
    call_summits : bool
        Call sub-peak summits.
    blacklist : str or None
        BED of excluded regions; peaks overlapping it are removed.
    max_peaks : int or None
        Keep the strongest N peaks (by signal value, column 7).
    extra_args : list of str
        Further MACS3 arguments, passed as given.
    """

    treatment: list[str] = field(default_factory=list)
    control: list[str] = field(default_factory=list)
    output_dir: str = "."
    name: str = "peaks"
    format: str = "AUTO"
    genome_size: str = "hs"
    qvalue: float | None = 0.05
    pvalue: float | None = None
    nomodel: bool = False
    shift: int | None = None
    extsize: int | None = None
    keep_dup: str = "1"
    call_summits: bool = True
    blacklist: str | None = None
    max_peaks: int | None = None
    extra_args: list[str] = field(default_factory=list)


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


def macs3_command(params: PeaksParams, outdir: str | os.PathLike, exe: str = "macs3"
                  ) -> list[str]:
    """The ``macs3 callpeak`` command line for ``params``."""
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


def _check_inputs(params: PeaksParams) -> None:
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


def run_peaks(params: PeaksParams) -> dict[str, str]:
    """Call peaks with MACS3 and write ``<output_dir>/<name>.narrowPeak``.

    Returns
    -------
    dict
        ``peaks`` (narrowPeak), ``macs3_log``, ``params`` (resolved JSON).

    Raises
    ------
    MissingToolError
        When MACS3 is not installed.
    BpnetkitError
        When MACS3 fails (the message ends with the tail of its log).
    """
    from bpnetkit.config import dump_config
    from bpnetkit.data.regions import read_regions, remove_blacklisted, write_regions

    exe = find_macs3()
    _check_inputs(params)
    out_dir = Path(params.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"{params.name}.macs3.log"
    with tempfile.TemporaryDirectory(prefix="bpnetkit_macs3_", dir=out_dir) as tmp:
        cmd = macs3_command(params, tmp, exe)
        log.info("running %s", " ".join(cmd))
        env = dict(os.environ)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        log_path.write_text(" ".join(cmd) + "\n\n" + proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            raise BpnetkitError(f"MACS3 callpeak failed (exit {proc.returncode}); full log in "
                                f"'{log_path}'. Last lines:\n{tail}")
        raw = Path(tmp) / f"{params.name}_peaks.narrowPeak"
        if not raw.exists() or raw.stat().st_size == 0:
            raise InputError(f"MACS3 found no peaks in {', '.join(params.treatment)} (log: "
                             f"'{log_path}'). Use more reads, a looser cutoff (pvalue/qvalue) "
                             f"or check genome_size.")
        peaks = read_regions(raw)
        peaks.source = str(out_dir / f"{params.name}.narrowPeak")
    n0 = len(peaks)
    if params.blacklist:
        peaks = remove_blacklisted(peaks, params.blacklist)
    if params.max_peaks is not None and len(peaks) > params.max_peaks:
        sig = peaks.extra[0].astype(np.float64) if peaks.extra else peaks.score
        keep = np.sort(np.argsort(-sig, kind="stable")[: params.max_peaks])
        peaks = peaks.subset(keep)
    if not len(peaks):
        raise InputError(f"no peaks left after filtering {n0} MACS3 peaks with the exclusion "
                         f"list '{params.blacklist}'.")
    out = write_regions(out_dir / f"{params.name}.narrowPeak", peaks)
    pj = out_dir / f"{params.name}.peaks.params.json"
    dump_config(params, pj)
    log.info("peaks: %d MACS3 peaks, %d written to %s", n0, len(peaks), out)
    return {"peaks": str(out), "macs3_log": str(log_path), "params": str(pj)}
