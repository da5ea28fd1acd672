"""``bpnetkit annotate``: name seqlets and MoDISco patterns with a motif database.

Outputs (in ``output_dir``, prefixed by ``name``):

- ``<name>.seqlet_matches.tsv``: every seqlet of the BED with its own best database match
  (``match``, ``p_value``, ``q_value``, ``strand``; empty when not significant: q >
  ``max_q_value``, or p > ``max_p_value`` in ``best_match`` mode), the MoDISco ``pattern``
  it belongs to, its final ``label`` and the ``source`` of the label (``pattern`` or
  ``seqlet``). The query of a seqlet is built from the hypothetical contributions of its
  core (:func:`~bpnetkit.motifs.annotate.contribution_ppm`), or is its sequence when only a
  genome is given.
- ``<name>.motif_counts.tsv``: per label (a motif family, see ``mode``), the number of
  seqlets (positive and negative) and of regions with at least one, most seqlets first; the
  last row counts the unannotated seqlets.
- ``<name>.cooccurrence.tsv``: a symmetric matrix over the annotated motifs; entry ``(a, b)``
  is the number of regions (rows of the attribution file) containing seqlets annotated with
  both ``a`` and ``b`` (the diagonal: regions containing ``a``).
- ``<name>.pattern_matches.tsv`` (with ``modisco``): the ``n_matches`` best matches of each
  MoDISco pattern (trimmed PFM) with p/q-values. Logos of the patterns next to their matches
  are drawn by the report (:func:`bpnetkit.report.motifs.pattern_figure`).

``mode`` (:data:`~bpnetkit.motifs.annotate.MODES`) decides the labels: ``"auto"`` (default)
is ``"pattern"`` when both ``seqlets`` and ``modisco`` are given (a seqlet takes the
significant Tomtom match of the MoDISco pattern it belongs to; the modisco h5 must come from
the same attribution file), else ``"seqlet"`` (its own significant match); ``"best_match"``
is the former behaviour (every seqlet's best match with p <= ``max_p_value``, per database
motif). See :mod:`bpnetkit.motifs.annotate`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.modisco import read_modisco_patterns
from bpnetkit.motifs.annotate import (
    MODES,
    MOTIF_COUNT_COLUMNS,
    PATTERN_MATCH_COLUMNS,
    annotate_patterns,
    annotate_seqlets,
    composition_p_values,
    cooccurrence,
    enriched_families,
    label_seqlets,
    match_label,
    motif_counts,
    pattern_match_rows,
    pattern_membership,
    seqlet_queries,
    shuffled_queries,
    significant,
)
from bpnetkit.motifs.database import load_motif_db
from bpnetkit.motifs.families import motif_families, singleton_families
from bpnetkit.motifs.tomtom import tomtom_matches
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs
from bpnetkit.steps.seqlets import read_seqlet_bed

logger = logging.getLogger(__name__)

SEQLET_MATCH_COLUMNS = ["chrom", "start", "end", "name", "sign", "attribution", "example",
                        "match", "match_name", "p_value", "q_value", "strand", "pattern",
                        "label", "source"]


@dataclass
class AnnotateParams:
    """Parameters of ``bpnetkit annotate``.

    Give ``seqlets`` (a BED from ``bpnetkit seqlets``, with ``attributions`` or ``genome`` to
    get their sequences) and/or ``modisco`` (a modisco-lite results h5). ``motif_db`` null
    means the built-in JASPAR CORE vertebrates non-redundant database. ``logos`` is kept for
    compatibility of parameter files: logos are drawn by the report, not by this step.
    ``mode``, ``max_q_value``, ``families``, ``min_seqlets``, ``null_shuffles`` and
    ``max_enrichment_p``, ``pattern_shuffles`` choose how seqlets are labelled (module doc).
    """

    output_dir: str
    seqlets: str | None = None
    attributions: str | None = None
    regions: str | None = None
    genome: str | None = None
    modisco: str | None = None
    motif_db: str | None = None
    name: str = "annotate"
    n_matches: int = 3
    max_p_value: float = 1e-3
    trim_threshold: float = 0.3
    logos: bool = True
    mode: str = "auto"
    max_q_value: float = 0.05
    families: bool = True
    min_seqlets: int = 5
    null_shuffles: int = 5
    max_enrichment_p: float = 0.01
    pattern_shuffles: int = 99

    def validate(self) -> None:
        """At least one input; a known mode; thresholds in range."""
        if self.seqlets is None and self.modisco is None:
            raise InputError("annotate: set 'seqlets' (a seqlet BED) and/or 'modisco' (a "
                             "modisco-lite results h5).")
        if self.mode not in MODES:
            raise InputError(f"annotate: mode must be one of {', '.join(MODES)}, got "
                             f"{self.mode!r}.")
        if self.mode == "pattern" and (self.modisco is None or self.seqlets is None):
            raise InputError("annotate: mode 'pattern' needs both 'seqlets' and 'modisco' "
                             "(or use mode 'seqlet').")
        for key in ("min_seqlets", "null_shuffles", "pattern_shuffles"):
            if int(getattr(self, key)) < 0:
                raise InputError(f"annotate: {key} must be >= 0, got {getattr(self, key)}.")
        if not 0 < self.max_q_value <= 1:
            raise InputError(f"annotate: max_q_value must be in (0, 1], got "
                             f"{self.max_q_value}.")

    def resolved_mode(self) -> str:
        """The mode in effect (``"auto"`` resolved)."""
        if self.mode != "auto":
            return self.mode
        return "pattern" if self.modisco is not None and self.seqlets is not None \
            else "seqlet"


@dataclass
class AnnotateOutputs(StepOutputs):
    """Files written by :func:`run` (None: that input was not given)."""

    seqlet_matches: str | None
    motif_counts: str | None
    cooccurrence: str | None
    pattern_matches: str | None
    params: str


Params = AnnotateParams
Outputs = AnnotateOutputs


def write_tsv(path: str | Path, header: list[str], rows: list[list]) -> Path:
    """Write a tab-separated table atomically (floats with 4 significant digits)."""
    from bpnetkit.utils import write_text_atomic

    def fmt(v) -> str:
        if isinstance(v, float | np.floating):
            return f"{v:.4g}"
        return str(v)

    return write_text_atomic(path, "\t".join(header) + "\n" +
                             "".join("\t".join(fmt(v) for v in r) + "\n" for r in rows))


def read_seqlet_queries(bed: dict[str, np.ndarray], attributions: str | None = None,
                        regions: str | None = None, genome: str | None = None
                        ) -> list[np.ndarray]:
    """Tomtom queries ``(length, 4)`` of every seqlet core of ``bed``.

    With the attribution h5, the query is built from the core's hypothetical contributions
    (:func:`~bpnetkit.motifs.annotate.seqlet_queries`); with only a genome, it is the one-hot
    sequence of the core.
    """
    return _read_queries(bed, attributions, regions, genome)[0]


def _read_queries(bed: dict[str, np.ndarray], attributions: str | None,
                  regions: str | None, genome: str | None
                  ) -> tuple[list[np.ndarray], np.ndarray | None, np.ndarray | None, int]:
    """Queries, plus the cores' row coordinates and the row length (attributions only)."""
    n = len(bed["chrom"])
    if attributions is not None:
        from bpnetkit.io.attributions import read_rows

        attr, rows = read_rows(attributions, bed["example"], regions)
        pos = {int(r): k for k, r in enumerate(rows)}
        examples = bed["example"].astype(np.int64)
        offsets = attr.starts[examples]
        a, b = bed["core_start"] - offsets, bed["core_end"] - offsets
        outside = np.where((a < 0) | (b > attr.length))[0]
        if outside.size:
            k = int(outside[0])
            raise InputError(f"seqlet {k} ({bed['chrom'][k]}:{bed['core_start'][k]}-"
                             f"{bed['core_end'][k]}) lies outside row {examples[k]} of "
                             f"{attributions}; use the 'regions' BED of that h5.")
        local = np.array([pos[int(e)] for e in examples], dtype=np.int64)
        return (seqlet_queries(attr.hypothetical, attr.one_hot, local, a, b, bed["sign"]),
                a, b, attr.length)
    if genome is not None:
        from bpnetkit.io.fasta import Genome, one_hot_encode

        g = Genome(genome)
        return [one_hot_encode(g.fetch(str(bed["chrom"][k]), int(bed["core_start"][k]),
                                       int(bed["core_end"][k]))).T.astype(np.float64)
                for k in range(n)], None, None, 0
    raise InputError("annotating seqlets needs their sequences: set 'attributions' (the h5 "
                     "the seqlets were called on) or 'genome'.")


def read_pattern_seqlets(path: str | Path, length: int) -> list[dict[str, np.ndarray]]:
    """MoDISco seqlets of every pattern of a modisco-lite h5, in attribution-row coordinates.

    Patterns come in :func:`~bpnetkit.io.modisco.read_modisco_patterns` order (positive
    first). modisco-lite records each seqlet's ``example_idx`` and ``start``/``end`` within
    the central ``window_size`` positions it analysed; the window's offset in rows of
    ``length`` bp is added, as ``bpnetkit modisco`` takes the central window.
    """
    import h5py

    from bpnetkit.io.modisco import PATTERN_GROUPS

    out = []
    with h5py.File(path, "r") as fh:
        window = int(fh.attrs.get("window_size", length))
        offset = length // 2 - min(window, length) // 2
        for group, sign in zip(PATTERN_GROUPS, (1, -1)):
            if group not in fh:
                continue
            items = sorted(fh[group].items(), key=lambda kv: int(kv[0].split("_")[-1]))
            for pname, pat in items:
                if "seqlets" not in pat or "example_idx" not in pat["seqlets"]:
                    raise InputError(f"{path}: {group}/{pname} records no seqlets "
                                     f"(seqlets/example_idx); annotating seqlets through "
                                     f"patterns needs modisco-lite's full results file, or "
                                     f"use mode 'seqlet'.")
                sq = pat["seqlets"]
                out.append({"example": sq["example_idx"][()].astype(np.int64),
                            "start": sq["start"][()].astype(np.int64) + offset,
                            "end": sq["end"][()].astype(np.int64) + offset, "sign": sign})
    return out


def run(params: AnnotateParams) -> AnnotateOutputs:
    """Annotate seqlets and/or MoDISco patterns; write the tables described in the module."""
    from bpnetkit.config import dump_config

    params.validate()
    mode = params.resolved_mode()
    owns = [f"{params.name}.{x}.tsv" for x in  # written by some runs only
            ("pattern_matches", "seqlet_matches", "motif_counts", "cooccurrence")]
    with staged_outputs(params.output_dir, "annotate", owns=owns) as stage:
        out = stage.path
        motifs = load_motif_db(params.motif_db)
        seqlet_matches = counts = cooc = pattern_matches = None
        patterns = pattern_hits = None
        if params.modisco is not None:
            patterns = read_modisco_patterns(params.modisco)
            if not patterns:
                logger.warning("%s has no patterns; the pattern table is empty.", params.modisco)
            pattern_hits = annotate_patterns(patterns, motifs, params.n_matches,
                                             params.trim_threshold)
            pattern_matches = str(write_tsv(out / f"{params.name}.pattern_matches.tsv",
                                            PATTERN_MATCH_COLUMNS,
                                            pattern_match_rows(patterns, pattern_hits)))
        if params.seqlets is not None:
            bed = read_seqlet_bed(params.seqlets)
            if len(bed["chrom"]) == 0:
                raise InputError(f"{params.seqlets} contains no seqlets, so there is nothing to "
                                 f"annotate. Call seqlets with a larger 'threshold' or a smaller "
                                 f"'min_length', or check the attributions.")
            queries, a, b, length = _read_queries(bed, params.attributions, params.regions,
                                                  params.genome)
            pattern_of = np.full(len(queries), -1, dtype=np.int64)
            if mode == "best_match":
                best = annotate_seqlets(queries, motifs, params.max_p_value)
                labels = [match_label(m) for m in best]
                source = ["seqlet" if m else "" for m in best]
            else:
                best = significant(tomtom_matches(queries, motifs, n_matches=1),
                                   params.max_q_value)
                fams = motif_families(motifs) if params.families else singleton_families(motifs)
                pattern_best = None
                if mode == "pattern":
                    if a is None:
                        raise InputError("annotate: mode 'pattern' maps seqlets onto MoDISco "
                                         "seqlets by position and needs 'attributions' (the h5 "
                                         "both were computed from).")
                    pattern_of = pattern_membership(
                        bed["example"], a, b, bed["sign"],
                        read_pattern_seqlets(params.modisco, length))
                    pattern_best = significant(pattern_hits, params.max_q_value)
                    comp = composition_p_values(
                        [pat.trimmed(params.trim_threshold)[0] for pat in patterns],
                        [m.p_value if m else 1.0 for m in pattern_best], motifs,
                        params.pattern_shuffles)
                    floor = 1.0 / (1 + params.pattern_shuffles)
                    pattern_best = [m if m is not None and c <= floor else None
                                    for m, c in zip(pattern_best, comp, strict=True)]
                    for pat, m in zip(patterns, pattern_best, strict=True):
                        logger.info("%s (%d seqlets): %s", pat.name, pat.n_seqlets,
                                    match_label(m) if m else "no significant match (q > "
                                    f"{params.max_q_value:g})")
                allowed = None
                if params.null_shuffles > 0:
                    null = significant(tomtom_matches(
                        shuffled_queries(queries, params.null_shuffles), motifs, n_matches=1),
                        params.max_q_value)
                    allowed = enriched_families(best, null, fams, params.null_shuffles,
                                                params.min_seqlets, params.max_enrichment_p)
                lab = label_seqlets(best, motifs, fams, pattern_of if mode == "pattern" else None,
                                    pattern_best, allowed)
                labels, source = lab.labels, lab.source
            rows = [[bed["chrom"][k], bed["start"][k], bed["end"][k], bed["name"][k],
                     bed["sign"][k], float(bed["attribution"][k]), bed["example"][k],
                     m.target_name if m else "", m.target_alt_name if m else "",
                     m.p_value if m else "", m.q_value if m else "", m.strand if m else "",
                     patterns[pattern_of[k]].name if pattern_of[k] >= 0 else "",
                     labels[k] or "", source[k]]
                    for k, m in enumerate(best)]
            seqlet_matches = str(write_tsv(out / f"{params.name}.seqlet_matches.tsv",
                                           SEQLET_MATCH_COLUMNS, rows))
            counts = str(write_tsv(out / f"{params.name}.motif_counts.tsv", MOTIF_COUNT_COLUMNS,
                                   motif_counts(labels, bed["sign"], bed["example"])))
            names, mat = cooccurrence(bed["example"], labels)
            cooc = str(write_tsv(out / f"{params.name}.cooccurrence.tsv", ["motif"] + names,
                                 [[n] + [int(v) for v in mat[i]] for i, n in enumerate(names)]))
            n_found = sum(lab is not None for lab in labels)
            if n_found == 0:
                logger.warning("none of the %d seqlets was annotated (mode %s).", len(labels),
                               mode)
            else:
                logger.info("%d of %d seqlets annotated (mode %s; %d labels)", n_found,
                            len(labels), mode, len(names))
        cfg = dump_config(params, out / f"{params.name}.params.json")
        outputs = AnnotateOutputs(seqlet_matches=seqlet_matches, motif_counts=counts,
                                  cooccurrence=cooc, pattern_matches=pattern_matches,
                                  params=str(cfg))
        return stage.finalize(outputs)


run_annotate = run
