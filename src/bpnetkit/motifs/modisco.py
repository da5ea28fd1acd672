"""TF-MoDISco with modisco-lite, and a report with Tomtom (memelite) matches.

:func:`run_modisco` reads the attribution h5 (``raw/seq`` one-hot and ``shap/seq``
hypothetical contributions, both ``(N, 4, L)``), keeps the central ``window`` positions
(as ``modisco motifs -w`` does), runs ``modiscolite.tfmodisco.TFMoDISco`` in-process and
saves ``<name>.h5`` in modisco-lite's format (readable by ``modisco report``). Then:

- ``report/``: modisco-lite's own report (``report_motifs`` with tomtom-lite, i.e.
  memelite, so no MEME suite binary is needed), when ``modisco_report`` is true; if it
  fails, a message says so and our report below still stands;
- ``<name>.patterns.meme``: the patterns' PFMs (trimmed) as a MEME file, usable as a
  ``motif_db`` by ``annotate`` and ``marginalize``;
- ``<name>.pattern_matches.tsv``, ``<name>.patterns.html``, ``logos/``: our report of the
  patterns next to their best database matches (see :mod:`bpnetkit.motifs.annotate`).

Inputs that yield no patterns (too few or too weak seqlets) produce an h5 without patterns,
an empty pattern table and a message rather than an error.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, MissingToolError

log = logging.getLogger(__name__)


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


def _load_window(path: str | Path, window: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(one_hot, hypothetical)`` as float32 ``(N, W, 4)`` for the central ``window``.

    ``window`` None, or longer than the sequences, means the whole length (with a note).
    """
    import h5py

    from bpnetkit.errors import require_file

    path = require_file(path, "attribution h5")
    with h5py.File(path, "r") as fh:
        for key in ("raw/seq", "shap/seq"):
            if key not in fh:
                raise InputError(f"{path}: dataset '{key}' is missing; expected an "
                                 f"attribution h5 with raw/seq and shap/seq (N, 4, L).")
        length = fh["raw/seq"].shape[2]
        if window is None:
            window = length
        if window > length:
            print(f"modisco: window {window} is longer than the attributed sequences "
                  f"({length}); using the whole {length} bp.")
            window = length
        a = length // 2 - window // 2
        X = fh["raw/seq"][:, :, a:a + window].transpose(0, 2, 1).astype(np.float32)
        H = fh["shap/seq"][:, :, a:a + window].transpose(0, 2, 1).astype(np.float32)
    return X, H


def _run_tfmodisco(X: np.ndarray, H: np.ndarray, p: ModiscoParams):
    try:
        import modiscolite
        import modiscolite.tfmodisco  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency
        raise MissingToolError("modisco-lite is not installed; 'pip install modisco-lite'.") \
            from None
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink) if not p.verbose else contextlib.nullcontext():
            return modiscolite.tfmodisco.TFMoDISco(
                one_hot=X, hypothetical_contribs=H, max_seqlets_per_metacluster=p.max_seqlets,
                sliding_window_size=p.sliding_window_size, flank_size=p.flank_size,
                trim_to_window_size=p.trim_to_window_size,
                initial_flank_to_add=p.initial_flank_to_add,
                final_flank_to_add=p.final_flank_to_add,
                target_seqlet_fdr=p.target_seqlet_fdr,
                min_metacluster_size=p.min_metacluster_size,
                final_min_cluster_size=p.final_min_cluster_size,
                n_leiden_runs=p.n_leiden, verbose=p.verbose)
    except (ValueError, IndexError, ZeroDivisionError, RuntimeError) as e:
        # modisco-lite fails in various ways when there are (almost) no seqlets
        log.warning("modisco-lite found no patterns (%s: %s)", type(e).__name__, e)
        print(f"modisco: no patterns found ({type(e).__name__}: {e}). With few or weak "
              f"seqlets this is expected; try more regions or a larger target_seqlet_fdr.")
        return None, None


def _save_empty(path: Path, window: int) -> None:
    import h5py

    with h5py.File(path, "w") as fh:
        fh.attrs["window_size"] = window


def run_modisco(params: ModiscoParams) -> dict[str, str]:
    """Run TF-MoDISco on an attribution h5; write results and reports (see module doc)."""
    from bpnetkit.config import dump_config
    from bpnetkit.io.meme import Motif, load_motif_db, write_meme
    from bpnetkit.motifs.annotate import (
        annotate_patterns,
        read_modisco_patterns,
        write_pattern_report,
    )
    from bpnetkit.utils import atomic_path

    params.validate()
    out = Path(params.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    X, H = _load_window(params.attributions, params.window)
    motifs = load_motif_db(params.motif_db)  # fail early on a bad database
    pos, neg = _run_tfmodisco(X, H, params)
    h5 = out / f"{params.name}.h5"
    with atomic_path(h5) as tmp:
        if pos is None and neg is None:
            _save_empty(tmp, X.shape[1])
        else:
            import modiscolite.io

            with contextlib.redirect_stdout(io.StringIO()):
                modiscolite.io.save_hdf5(str(tmp), pos, neg, X.shape[1])
    results = {"modisco_h5": str(h5)}
    patterns = read_modisco_patterns(h5)
    if not patterns:
        print(f"modisco: no patterns found in {params.attributions} ({X.shape[0]} sequences); "
              f"the result has no patterns.")
    meme_motifs = [Motif(p.name.replace("_patterns.pattern_", "_"),
                         np.clip(p.trimmed(params.trim_threshold)[0], 1e-6, None),
                         nsites=p.n_seqlets) for p in patterns]
    if meme_motifs:
        results["patterns_meme"] = str(write_meme(
            meme_motifs, out / f"{params.name}.patterns.meme",
            comments=[f"TF-MoDISco (modisco-lite) patterns from {params.attributions}",
                      "PFMs trimmed where |contribution| < "
                      f"{params.trim_threshold} x max"]))
    matches = annotate_patterns(patterns, motifs, params.n_matches, params.trim_threshold) \
        if patterns else []
    results.update(write_pattern_report(out, params.name, patterns, matches, motifs,
                                        params.trim_threshold))
    if params.modisco_report and patterns:
        results.update(_modisco_report(h5, out / "report", params))
    results["params"] = str(dump_config(params, out / f"{params.name}.params.json"))
    return results


def _modisco_report(h5: Path, report_dir: Path, params: ModiscoParams) -> dict[str, str]:
    """modisco-lite's report with tomtom-lite (memelite); a failure is reported, not raised."""
    import gzip
    import shutil

    from bpnetkit.io.meme import builtin_motif_db_path

    db = Path(params.motif_db) if params.motif_db else builtin_motif_db_path()
    report_dir.mkdir(parents=True, exist_ok=True)
    if db.suffix == ".gz":  # memelite reads plain text
        plain = report_dir / "motif_db.meme"
        with gzip.open(db, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        db = plain
    try:
        import matplotlib

        matplotlib.use("Agg")
        from modiscolite import report

        with contextlib.redirect_stdout(io.StringIO()):
            report.report_motifs(str(h5), str(report_dir) + "/", img_path_suffix="./",
                                 meme_motif_db=str(db), is_writing_tomtom_matrix=False,
                                 top_n_matches=params.n_matches,
                                 trim_threshold=params.trim_threshold, ttl=True)
    except Exception as e:  # the report is optional; our own report was written already
        log.warning("modisco-lite report failed: %s", e)
        print(f"modisco: modisco-lite's report failed ({type(e).__name__}: {e}); see "
              f"{params.name}.patterns.html for patterns and matches instead.")
        return {}
    html = report_dir / "motifs.html"
    return {"modisco_report": str(html if html.exists() else report_dir)}
