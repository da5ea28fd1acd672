"""``bpnetkit hits``: call instances of the MoDISco patterns in attribution tracks.

Reads the patterns' CWMs from a modisco-lite results h5 and the attributions of every region
(``raw/seq``, ``shap/seq``), keeps the central ``window`` positions, calls
:func:`bpnetkit.motifs.hits.call_hits` (the Fi-NeMo method) and writes, in Fi-NeMo's output
layout (fixed file names, as Fi-NeMo's):

- ``hits.tsv``: one row per hit, columns :data:`HIT_COLUMNS`;
- ``hits_unique.tsv``: the same without duplicates of (chr, start, motif, strand) that
  overlapping regions produce;
- ``hits.bed``: the unique hits as BED6 (``motif_name`` as the name, score 0);
- ``motif_occurrences.tsv``: hits per motif per region (``peak_id``, ``peak_name``, one
  column per motif, ``total``), every region, also those without hits;
- ``peaks_qc.tsv``: per-region fit diagnostics;
- ``motif_data.tsv``: the dictionary (motif, strand, trimmed core, lambda);
- ``hits.params.json``.

Coordinates are 0-based half-open genome coordinates: ``start_untrimmed``/``end_untrimmed``
span the whole pattern, ``start``/``end`` its trimmed core.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.motifs.hits import HitMotifs, Hits, call_hits, prepare_motifs
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs, summary_field

logger = logging.getLogger(__name__)

HIT_COLUMNS = ["chr", "start", "end", "start_untrimmed", "end_untrimmed", "motif_name",
               "hit_coefficient", "hit_coefficient_global", "hit_similarity",
               "hit_importance", "strand", "peak_name", "peak_id"]
QC_COLUMNS = ["peak_id", "peak_name", "chr", "region_start", "nll", "dual_gap", "num_steps",
              "step_size", "global_scale", "converged"]
FILE_NAMES = {"hits": "hits.tsv", "unique": "hits_unique.tsv", "bed": "hits.bed",
              "counts": "motif_occurrences.tsv", "qc": "peaks_qc.tsv",
              "motifs": "motif_data.tsv"}
MOTIF_COLUMNS = ["motif_id", "motif_name", "motif_name_orig", "strand", "motif_start",
                 "motif_end", "width", "lambda"]


@dataclass
class HitsParams:
    """Parameters of ``bpnetkit hits`` (names follow Fi-NeMo's ``call-hits`` options).

    ``attributions`` is an h5 written by ``bpnetkit attribute``, ``regions`` the BED of its
    rows (null: coordinates stored in the h5); ``modisco_h5`` the results of
    ``bpnetkit modisco``. ``mode`` is Fi-NeMo's: the first letter picks the motif matrix
    (``p``: CWM, ``h``: hypothetical CWM), the second the contributions explained (``p``:
    actual, "projected", ``h``: hypothetical). ``global_lambda`` is the L1 penalty and the
    similarity a hit must reach, per motif in ``motif_lambdas``; cores are trimmed at
    ``trim_threshold`` (per motif ``motif_trim_thresholds``, or ``[start, end)`` in
    ``motif_trim_coords``). ``motifs_include`` restricts the patterns (names
    ``pos_patterns.pattern_0``, ...), ``motif_names`` renames them; per-motif settings use
    the new names.
    """

    attributions: str
    modisco_h5: str
    output_dir: str
    regions: str | None = None
    window: int | None = 1000
    mode: Literal["pp", "ph", "hp", "hh"] = "pp"
    global_lambda: float = 0.7
    motif_lambdas: dict[str, float] | None = None
    trim_threshold: float = 0.3
    motif_trim_thresholds: dict[str, float] | None = None
    motif_trim_coords: dict[str, list[int]] | None = None
    motifs_include: list[str] | None = None
    motif_names: dict[str, str] | None = None
    convergence_tol: float = 0.0005
    max_steps: int = 10000
    step_size_max: float = 3.0
    step_size_min: float = 0.08
    step_adjust: float = 0.7
    post_filter: bool = True
    sqrt_transform: bool = False
    batch_size: int = 256
    chunk_size: int = 4096
    device: str | None = None
    verbose: bool = False

    def validate(self) -> None:
        """Check value ranges."""
        if self.window is not None and self.window < 1:
            raise InputError(f"hits: 'window' must be >= 1 or null, got {self.window}.")
        if not self.global_lambda > 0:
            raise InputError(f"hits: 'global_lambda' must be > 0, got {self.global_lambda}.")
        if not 0 <= self.trim_threshold <= 1:
            raise InputError(f"hits: 'trim_threshold' must be in [0, 1], got "
                             f"{self.trim_threshold}.")
        for key in ("max_steps", "batch_size", "chunk_size"):
            if getattr(self, key) < 1:
                raise InputError(f"hits: '{key}' must be >= 1, got {getattr(self, key)}.")
        if self.mode not in ("pp", "ph", "hp", "hh"):
            raise InputError(f"hits: 'mode' must be one of pp, ph, hp, hh; got {self.mode!r}.")


@dataclass
class HitsOutputs(StepOutputs):
    """Files written by :func:`run` and the number of hits.

    Attributes
    ----------
    hits_tsv : str
        All hits (``hits.tsv``, columns :data:`HIT_COLUMNS`).
    hits_unique_tsv : str
        Hits without duplicates from overlapping regions.
    hits_bed : str
        Unique hits as BED6.
    counts_tsv : str
        Hits per motif per region (``motif_occurrences.tsv``).
    qc_tsv : str
        Per-region fit diagnostics.
    motifs_tsv : str
        The motifs used (trimmed core, lambda) per strand.
    params : str
        The resolved parameters (JSON).
    n_hits : int
        Number of hits (summary).
    """

    hits_tsv: str
    hits_unique_tsv: str
    hits_bed: str
    counts_tsv: str
    qc_tsv: str
    motifs_tsv: str
    params: str
    n_hits: int = summary_field(0)


Params = HitsParams
Outputs = HitsOutputs


def load_hit_motifs(params: HitsParams) -> HitMotifs:
    """The dictionary from the MoDISco patterns selected, renamed and trimmed by ``params``."""
    from bpnetkit.io.modisco import read_modisco_patterns

    patterns = read_modisco_patterns(params.modisco_h5)
    if not patterns:
        raise InputError(f"{params.modisco_h5} holds no MoDISco patterns, so there are no "
                         f"motifs to call hits of; check the modisco step's warnings.")
    available = [p.name for p in patterns]
    if params.motifs_include is not None:
        unknown = sorted(set(params.motifs_include) - set(available))
        if unknown:
            raise InputError(f"hits: motifs_include names {unknown}, which "
                             f"{params.modisco_h5} lacks; it has {available}.")
        patterns = [p for p in patterns if p.name in set(params.motifs_include)]
    renames = dict(params.motif_names or {})
    unknown = sorted(set(renames) - set(available))
    if unknown:
        raise InputError(f"hits: motif_names renames {unknown}, which {params.modisco_h5} "
                         f"lacks; it has {available}.")
    names = [renames.get(p.name, p.name) for p in patterns]
    hyp = params.mode[0] == "h"
    mats = [p.hcwm if hyp else p.cwm for p in patterns]
    return prepare_motifs(mats, names, global_lambda=params.global_lambda,
                          motif_lambdas=params.motif_lambdas,
                          trim_threshold=params.trim_threshold,
                          trim_thresholds=params.motif_trim_thresholds,
                          trim_coords=params.motif_trim_coords)


def _row_info(params: HitsParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(chroms, window starts, peak names, length)`` of every row of the attributions."""
    from bpnetkit.io.attributions import read_row_bed, read_rows
    from bpnetkit.io.bed import read_regions

    att, _ = read_rows(params.attributions, [])
    n, length = len(att.chroms), att.length
    chroms, starts = att.chroms, att.starts
    names = None
    if params.regions is not None:
        chroms, starts = read_row_bed(params.regions, n, length)
        names = read_regions(params.regions).name
    if names is None or len(names) != n:
        names = np.array([f"{c}:{s}-{s + length}" for c, s in zip(chroms, starts)],
                         dtype=object)
    else:
        names = np.array([str(x) if str(x) not in ("", ".") else f"{c}:{s}-{s + length}"
                          for x, c, s in zip(names, chroms, starts)], dtype=object)
    return np.asarray(chroms, dtype=object), np.asarray(starts, np.int64), names, length


def _concat(parts: list[tuple[int, Hits]]) -> dict[str, np.ndarray]:
    keys = ("example", "entry", "position", "coefficient", "coefficient_global",
            "similarity", "importance")
    out = {k: np.concatenate([getattr(h, k) + (off if k == "example" else 0)
                              for off, h in parts]) for k in keys}
    for k in ("scale", "gap", "nll", "steps", "step_size", "converged"):
        out["region_" + k] = np.concatenate([getattr(h, "region_" + k) for _, h in parts])
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def run(params: HitsParams) -> HitsOutputs:
    """Call hits of the MoDISco patterns in the attributions and write Fi-NeMo's files."""
    from bpnetkit.config import dump_config
    from bpnetkit.io.attributions import read_rows
    from bpnetkit.utils import atomic_path

    params.validate()
    with staged_outputs(params.output_dir, "hits") as stage:
        out = stage.path
        motifs = load_hit_motifs(params)
        chroms, starts, peak_names, length = _row_info(params)
        n = len(chroms)
        if n == 0:
            raise InputError(f"{params.attributions} holds no regions.")
        window = length if params.window is None or params.window > length else params.window
        if params.window is not None and params.window > length:
            logger.info("window %d is longer than the attributed sequences (%d bp); using the "
                        "whole %d bp.", params.window, length, length)
        if motifs.max_width > window:
            raise InputError(f"hits: the patterns are {motifs.max_width} bp wide but the analysed "
                             f"window is {window} bp; set 'window' to at least "
                             f"{motifs.max_width} (attributions are {length} bp).")
        off = length // 2 - window // 2
        projected = params.mode[1] == "p"
        parts: list[tuple[int, Hits]] = []
        for a in range(0, n, params.chunk_size):
            rows = np.arange(a, min(n, a + params.chunk_size))
            att, _ = read_rows(params.attributions, rows)
            X = att.one_hot[:, :, off:off + window]
            H = att.hypothetical[:, :, off:off + window]
            hits = call_hits(H, motifs, X if projected else None, tol=params.convergence_tol,
                             max_steps=params.max_steps, step_size_max=params.step_size_max,
                             step_size_min=params.step_size_min, step_adjust=params.step_adjust,
                             post_filter=params.post_filter,
                             sqrt_transform=params.sqrt_transform, batch_size=params.batch_size,
                             device=params.device, verbose=params.verbose)
            parts.append((a, hits))
        h = _concat(parts)
        region_start = starts + off

        # hits.tsv, sorted by chromosome (order of first appearance) then start
        ent, ex = h["entry"], h["example"]
        pos = region_start[ex] + h["position"]
        t_start, t_end = pos + motifs.trim_start[ent], pos + motifs.trim_end[ent]
        chrom_order = {c: i for i, c in enumerate(dict.fromkeys(chroms.tolist()))}
        chrom_id = np.array([chrom_order[c] for c in chroms], dtype=np.int64)
        order = np.lexsort((motifs.motif[ent], t_start, chrom_id[ex]))
        motif_name = np.array(motifs.names, dtype=object)[motifs.motif[ent]]
        strand = np.where(motifs.strand[ent] > 0, "+", "-")
        lines = ["\t".join(HIT_COLUMNS)]
        seen: set[tuple] = set()
        unique = ["\t".join(HIT_COLUMNS)]
        bed: list[str] = []
        for i in order:
            e = int(ex[i])
            row = [str(chroms[e]), str(int(t_start[i])), str(int(t_end[i])), str(int(pos[i])),
                   str(int(pos[i] + motifs.width[ent[i]])), str(motif_name[i]),
                   _fmt(h["coefficient"][i]), _fmt(h["coefficient_global"][i]),
                   _fmt(h["similarity"][i]), _fmt(h["importance"][i]), str(strand[i]),
                   str(peak_names[e]), str(e)]
            line = "\t".join(row)
            lines.append(line)
            key = (row[0], row[1], row[5], row[10])
            if key not in seen:
                seen.add(key)
                unique.append(line)
                bed.append("\t".join([row[0], row[1], row[2], row[5], "0", row[10]]))
        files = {key: out / fname for key, fname in FILE_NAMES.items()}

        # per-motif counts per region
        counts = np.zeros((n, len(motifs.names)), dtype=np.int64)
        np.add.at(counts, (ex, motifs.motif[ent]), 1)
        count_lines = ["\t".join(["peak_id", "peak_name", *motifs.names, "total"])]
        for e in range(n):
            count_lines.append("\t".join([str(e), str(peak_names[e]),
                                          *(str(int(v)) for v in counts[e]),
                                          str(int(counts[e].sum()))]))
        qc_lines = ["\t".join(QC_COLUMNS)]
        for e in range(n):
            qc_lines.append("\t".join([
                str(e), str(peak_names[e]), str(chroms[e]), str(int(region_start[e])),
                _fmt(h["region_nll"][e]), _fmt(h["region_gap"][e]), str(int(h["region_steps"][e])),
                _fmt(h["region_step_size"][e]), _fmt(h["region_scale"][e]),
                str(bool(h["region_converged"][e])).lower()]))
        renames_back = {v: k for k, v in (params.motif_names or {}).items()}
        motif_lines = ["\t".join(MOTIF_COLUMNS)]
        for k in range(len(motifs.motif)):
            nm = motifs.names[motifs.motif[k]]
            motif_lines.append("\t".join([
                str(k), nm, renames_back.get(nm, nm), "+" if motifs.strand[k] > 0 else "-",
                str(int(motifs.trim_start[k])), str(int(motifs.trim_end[k])),
                str(int(motifs.width[k])), _fmt(float(motifs.lambdas[k]))]))
        texts = {"hits": lines, "unique": unique, "bed": bed, "counts": count_lines,
                 "qc": qc_lines, "motifs": motif_lines}
        for key, path in files.items():
            with atomic_path(path) as tmp:
                tmp.write_text("\n".join(texts[key]) + ("\n" if texts[key] else ""))
        n_hits = len(order)
        logger.info("%d hits of %d motifs in %d regions (%d with a hit)", n_hits,
                    len(motifs.names), n, int((counts.sum(axis=1) > 0).sum()))
        cfg = dump_config(params, out / "hits.params.json")
        outputs = HitsOutputs(hits_tsv=str(files["hits"]), hits_unique_tsv=str(files["unique"]),
                              hits_bed=str(files["bed"]), counts_tsv=str(files["counts"]),
                              qc_tsv=str(files["qc"]), motifs_tsv=str(files["motifs"]),
                              params=str(cfg), n_hits=n_hits)
        return stage.finalize(outputs)


run_hits = run
