"""``bpnetkit modisco``: TF-MoDISco (modisco-lite) on an attribution h5, with matches.

Reads ``raw/seq`` (one-hot) and ``shap/seq`` (hypothetical contributions) of the attribution
h5, keeps the central ``window`` positions, runs
:func:`bpnetkit.motifs.modisco.run_tfmodisco` and writes:

- ``<name>.h5``: the results in modisco-lite's format (readable by ``modisco report``); a run
  that finds no patterns (see :mod:`bpnetkit.motifs.modisco` for when that is legitimate)
  writes a file without pattern groups, and a warning says why;
- ``<name>.patterns.meme``: the patterns' PFMs (trimmed) as a MEME file, usable as a
  ``motif_db`` by ``annotate`` and ``marginalize`` (not written without patterns);
- ``<name>.pattern_matches.tsv``: the best database matches of every pattern;
- ``report/motifs.html``: modisco-lite's own report (``report_motifs`` with tomtom-lite, i.e.
  memelite, so no MEME suite binary is needed), when ``modisco_report`` is true and there are
  patterns.

Logos of the patterns next to their matches are drawn by the report
(:func:`bpnetkit.report.motifs.pattern_figure`).
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.io.attributions import check_attributions
from bpnetkit.io.meme import Motif, write_meme
from bpnetkit.io.modisco import read_modisco_patterns, write_modisco_h5
from bpnetkit.motifs.annotate import PATTERN_MATCH_COLUMNS, annotate_patterns, pattern_match_rows
from bpnetkit.motifs.database import load_motif_db, motif_db_path
from bpnetkit.motifs.modisco import central_window, run_tfmodisco
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.annotate import write_tsv
from bpnetkit.steps.base import StepOutputs, summary_field

logger = logging.getLogger(__name__)


@dataclass
class ModiscoParams:
    """Parameters of ``bpnetkit modisco`` (names follow modisco-lite's options)."""

    attributions: str
    output_dir: str
    name: str = "modisco"
    max_seqlets: int = 2000
    n_leiden: int = 2
    window: int | None = 400
    sliding_window_size: int = 20
    flank_size: int = 5
    trim_to_window_size: int = 30
    initial_flank_to_add: int = 10
    final_flank_to_add: int = 0
    target_seqlet_fdr: float = 0.05
    min_metacluster_size: int = 100
    final_min_cluster_size: int = 20
    motif_db: str | None = None
    n_matches: int = 3
    trim_threshold: float = 0.3
    modisco_report: bool = True
    verbose: bool = False

    def validate(self) -> None:
        """Check value ranges."""
        for key in ("max_seqlets", "window", "sliding_window_size", "n_leiden"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise InputError(f"modisco: '{key}' must be >= 1, got {getattr(self, key)}.")


@dataclass
class ModiscoOutputs(StepOutputs):
    """Files written by :func:`run` (None: not written) and the number of patterns."""

    modisco_h5: str
    patterns_meme: str | None
    pattern_matches: str | None
    report_html: str | None
    params: str
    n_patterns: int = summary_field(0)


Params = ModiscoParams
Outputs = ModiscoOutputs


def read_attribution_window(path: str | Path, window: int | None
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``(one_hot, hypothetical)`` ``(N, 4, W)`` of the central ``window`` of an attribution h5.

    Only the window is read from disk; :func:`~bpnetkit.motifs.modisco.central_window` does
    the rest (``window`` None or too long: the whole length).
    """
    import h5py

    path = require_file(path, "attribution h5")
    with h5py.File(path, "r") as fh:
        for key in ("raw/seq", "shap/seq"):
            if key not in fh:
                raise InputError(f"{path}: dataset '{key}' is missing; expected an "
                                 f"attribution h5 with raw/seq and shap/seq (N, 4, L).")
        shape, hshape = fh["raw/seq"].shape, fh["shap/seq"].shape
        if len(shape) != 3 or shape != hshape or shape[1] != 4:
            raise InputError(f"{path}: raw/seq {shape} and shap/seq {hshape} must both be "
                             f"(N, 4, L).")
        length = shape[2]
        w = length if window is None else min(window, length)
        a = length // 2 - w // 2
        X = fh["raw/seq"][:, :, a:a + w]
        H = fh["shap/seq"][:, :, a:a + w]
    check_attributions(H, f"shap/seq of '{path}'", one_hot=X)
    if window is not None and window > length:
        logger.info("window %d is longer than the attributed sequences (%d bp); using the "
                    "whole %d bp.", window, length, length)
    return X, H


def run(params: ModiscoParams) -> ModiscoOutputs:
    """Run TF-MoDISco on an attribution h5; write the results listed in the module doc."""
    from bpnetkit.config import dump_config

    params.validate()
    with staged_outputs(params.output_dir, "modisco",
                        owns=[f"{params.name}.patterns.meme"]) as stage:
        out = stage.path
        one_hot, hyp = read_attribution_window(params.attributions, params.window)
        X, H = central_window(one_hot, hyp, None)
        del one_hot, hyp
        motifs = load_motif_db(params.motif_db)  # fail early on a bad database
        result = run_tfmodisco(
            X, H, max_seqlets=params.max_seqlets, n_leiden=params.n_leiden,
            sliding_window_size=params.sliding_window_size, flank_size=params.flank_size,
            trim_to_window_size=params.trim_to_window_size,
            initial_flank_to_add=params.initial_flank_to_add,
            final_flank_to_add=params.final_flank_to_add,
            target_seqlet_fdr=params.target_seqlet_fdr,
            min_metacluster_size=params.min_metacluster_size,
            final_min_cluster_size=params.final_min_cluster_size, verbose=params.verbose)
        h5 = write_modisco_h5(out / f"{params.name}.h5", result.pos_patterns,
                              result.neg_patterns, result.window)
        patterns = read_modisco_patterns(h5)
        patterns_meme = None
        if patterns:
            meme_motifs = [Motif(p.name.replace("_patterns.pattern_", "_"),
                                 np.clip(p.trimmed(params.trim_threshold)[0], 1e-6, None),
                                 nsites=p.n_seqlets) for p in patterns]
            patterns_meme = str(write_meme(
                meme_motifs, out / f"{params.name}.patterns.meme",
                comments=[f"TF-MoDISco (modisco-lite) patterns from {params.attributions}",
                          "PFMs trimmed where |contribution| < "
                          f"{params.trim_threshold} x max"]))
            logger.info("%d patterns from %d sequences", len(patterns), X.shape[0])
        matches = annotate_patterns(patterns, motifs, params.n_matches, params.trim_threshold)
        pattern_matches = str(write_tsv(out / f"{params.name}.pattern_matches.tsv",
                                        PATTERN_MATCH_COLUMNS,
                                        pattern_match_rows(patterns, matches)))
        report_html = None
        if params.modisco_report and patterns:
            report_html = str(modisco_lite_report(h5, out / "report", params))
        cfg = dump_config(params, out / f"{params.name}.params.json")
        outputs = ModiscoOutputs(modisco_h5=str(h5), patterns_meme=patterns_meme,
                                 pattern_matches=pattern_matches, report_html=report_html,
                                 params=str(cfg), n_patterns=len(patterns))
        return stage.finalize(outputs)


def modisco_lite_report(h5: Path, report_dir: Path, params: ModiscoParams) -> Path:
    """modisco-lite's report (``report/motifs.html``) with tomtom-lite (memelite).

    Its errors propagate: set ``modisco_report`` to false to skip it.
    """
    import gzip
    import shutil

    from modiscolite import report

    db = motif_db_path(params.motif_db)
    report_dir.mkdir(parents=True, exist_ok=True)
    if db.suffix == ".gz":  # memelite reads plain text
        plain = report_dir / "motif_db.meme"
        with gzip.open(db, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        db = plain
    with contextlib.redirect_stdout(io.StringIO()):
        report.report_motifs(str(h5), str(report_dir) + "/", img_path_suffix="./",
                             meme_motif_db=str(db), is_writing_tomtom_matrix=False,
                             top_n_matches=params.n_matches,
                             trim_threshold=params.trim_threshold, ttl=True)
    html = report_dir / "motifs.html"
    if not html.exists():
        raise InputError(f"modisco-lite's report did not write {html}; set 'modisco_report' "
                         f"to false to skip it.")
    return html


run_modisco = run
