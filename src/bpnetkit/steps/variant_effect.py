"""``bpnetkit variant-effect``: score every variant of a variant file with one or more models.

Inputs: a VCF or one of variant-scorer's tab-separated layouts (``schema``; see
:mod:`bpnetkit.io.vcf`). Outputs in ``output_dir`` (``<name>`` defaults to ``variants``):

- ``<name>.scores.tsv``: one row per scored allele pair. With ``output_format`` =
  ``variant_scorer`` (default) the columns of variant-scorer (kundajelab): the input's
  variant columns (VCF input: ``chr pos allele1 allele2 variant_id``), then
  ``allele1_pred_counts ... abs_logfc_x_jsd``, the ``.pval`` columns with null variants, and
  the quantile columns with ``peaks`` (definitions in :mod:`bpnetkit.variants.scorer`). With
  several models this table holds the ``<score>.mean`` / ``<score>.mean.pval`` columns and
  each model's own table is ``<name>.model_<k>.scores.tsv``. With ``output_format`` =
  ``bpnetkit`` (one model): ``chrom pos id ref alt`` (1-based ``pos``),
  ``ref_log_counts alt_log_counts log2_fc jsd max_abs_diff``, then the empirical percentiles.
  The attribution columns are appended in both formats when asked for;
- ``<name>.null_scores.tsv`` (``<name>.model_<k>.null_scores.tsv`` with several models): the
  scores of the null variants the ``.pval`` columns come from (``variant_scorer`` format);
- ``<name>.skipped.tsv``: records that were not scored, with the reason and the line;
- ``<name>.summary.json``: counts of records, scored and skipped (by reason), and a hint
  about chromosome names that are not in the genome;
- ``<name>.params.json``: the parameters.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.fasta import Genome
from bpnetkit.io.vcf import (
    SCHEMAS,
    Skipped,
    Variant,
    detect_schema,
    iter_variants,
    output_columns,
    output_fields,
)
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs
from bpnetkit.variants.scorer import (
    MEAN_SCORES,
    allele_predictions,
    mean_over_models,
    score_columns,
    variant_scorer_scores,
    with_pvalues,
)
from bpnetkit.variants.scores import (
    attribution_scores,
    empirical_percentile,
    iter_null_windows,
    null_scores,
    score_variants,
)
from bpnetkit.variants.windows import check_variant, ref_matches, variant_windows

logger = logging.getLogger(__name__)

__all__ = ["Outputs", "Params", "VariantEffectOutputs", "VariantEffectParams", "read_summary",
           "run", "run_variant_effect"]


@dataclass
class VariantEffectParams:
    """Parameters of ``bpnetkit variant-effect``.

    Attributes
    ----------
    variants : str
        Variant file: VCF (plain or gzip) or a tab-separated layout of variant-scorer
        (``chrombpnet``, ``bed``, ``plink``, ``plink2``, ``original``; see ``schema``).
    genome : str
        Reference FASTA.
    output_dir : str
        Folder for ``<name>.scores.tsv``, ``<name>.skipped.tsv``, ``<name>.summary.json``.
    model : str
        Model folder or file (anything :func:`bpnetkit.models.files.load_model` reads).
    models : list of str
        Several models (e.g. the folds of a ChromBPNet run), instead of ``model``: each gets
        its own table and the main table holds the ``.mean`` columns over models.
    schema : str
        Layout of ``variants``: ``auto`` (VCF by name or header, else the one tab-separated
        layout the first lines fit), ``vcf``, ``chrombpnet``, ``bed``, ``plink``, ``plink2``,
        ``original``. Positions are 1-based except in ``bed``.
    output_format : str
        ``variant_scorer`` (variant-scorer's columns) or ``bpnetkit`` (the former columns
        ``ref_log_counts alt_log_counts log2_fc jsd max_abs_diff``; one model only).
    peaks : str or None
        BED/narrowPeak of peaks (windows centred on the summits, midpoints for plain BED);
        their predicted counts give the ``*_quantile`` columns (``variant_scorer`` format).
    max_peaks : int or None
        Score at most this many peaks (a random subset).
    name : str
        Prefix of the output files.
    in_window : int
        Input length of the model (window centred on each variant).
    batch_size : int
        Windows per forward pass.
    chunk_size : int
        Variants read, scored and written at a time.
    device : str or None
        None picks CUDA when available.
    rc_average : bool
        Average predictions over both strands (the default, as variant-scorer does).
    attributions : bool
        Also score the change of counts/profile DeepLIFT/SHAP contributions around the variant
        (slow).
    attribution_flank : int
        Bases on each side of the allele summed for the attribution scores.
    n_shuffles : int
        DeepLIFT reference shuffles.
    null_variants : int
        Number of shuffled-sequence null variants; > 0 adds the ``.pval`` columns
        (``variant_scorer``) or percentile columns (``bpnetkit``).
    null_per_variant : int
        Null variants per scored variant (variant-scorer's ``--num_shuf``; it uses 10) when
        ``null_variants`` is 0.
    random_state : int
        Seed for shuffles.
    """

    variants: str
    genome: str
    output_dir: str
    model: str = ""
    models: list[str] = field(default_factory=list)
    schema: str = "auto"
    output_format: str = "variant_scorer"
    peaks: str | None = None
    max_peaks: int | None = None
    name: str = "variants"
    in_window: int = 2114
    batch_size: int = 64
    chunk_size: int = 4096
    device: str | None = None
    rc_average: bool = True
    attributions: bool = False
    attribution_flank: int = 10
    n_shuffles: int = 10
    null_variants: int = 0
    null_per_variant: int = 0
    random_state: int = 0

    def model_paths(self) -> list[str]:
        """``models`` if given, else ``[model]``."""
        return list(self.models) if self.models else [self.model]

    def validate(self) -> None:
        """Check value ranges and the choice of models, schema and format."""
        if bool(self.model) == bool(self.models):
            raise InputError("variant-effect: give either 'model' (one model) or 'models' (a "
                             "list, e.g. folds), not both and not neither.")
        if self.schema != "auto" and self.schema not in SCHEMAS:
            raise InputError(f"variant-effect: 'schema' must be 'auto' or one of "
                             f"{', '.join(SCHEMAS)}, got {self.schema!r}.")
        if self.output_format not in _FORMATS:
            raise InputError(f"variant-effect: 'output_format' must be one of "
                             f"{', '.join(_FORMATS)}, got {self.output_format!r}.")
        if self.output_format == "bpnetkit" and (len(self.model_paths()) > 1 or self.peaks):
            raise InputError("variant-effect: output_format 'bpnetkit' takes one model and no "
                             "peaks; use output_format 'variant_scorer' for several models or "
                             "peak quantiles.")
        if self.max_peaks is not None and self.max_peaks < 1:
            raise InputError(f"variant-effect: 'max_peaks' must be at least 1 or null, got "
                             f"{self.max_peaks}.")
        if self.null_per_variant < 0:
            raise InputError(f"variant-effect: 'null_per_variant' must be >= 0, got "
                             f"{self.null_per_variant}.")
        for key in ("in_window", "batch_size", "chunk_size"):
            if getattr(self, key) < 1:
                raise InputError(f"variant-effect: '{key}' must be at least 1, got "
                                 f"{getattr(self, key)}.")
        for key in ("attribution_flank", "n_shuffles", "null_variants"):
            if getattr(self, key) < 0:
                raise InputError(f"variant-effect: '{key}' must be >= 0, got "
                                 f"{getattr(self, key)}.")


Params = VariantEffectParams


@dataclass
class VariantEffectOutputs(StepOutputs):
    """Files written by :func:`run`.

    Attributes
    ----------
    scores : str
        TSV of the scores, one row per scored allele pair (with several models: the
        ``.mean`` columns).
    skipped : str
        TSV of the records that were not scored, with the reason.
    summary : str
        JSON with the numbers of records, scored and skipped (by reason).
    params : str
        JSON of the parameters.
    per_model : list of str
        With several models, each model's variant-scorer table (in the order of ``models``).
    null_scores : list of str
        With null variants (``variant_scorer`` format), each model's table of null-variant
        scores, from which the ``.pval`` columns are computed (variant-scorer's
        ``variant_scores.shuffled.tsv``).
    """

    scores: str
    skipped: str
    summary: str
    params: str
    per_model: list[str] = field(default_factory=list)
    null_scores: list[str] = field(default_factory=list)


Outputs = VariantEffectOutputs

_COLUMNS = ["chrom", "pos", "id", "ref", "alt", "ref_log_counts", "alt_log_counts", "log2_fc",
            "jsd", "max_abs_diff"]
_ATTR_COLUMNS = [f"{k}_attr_{s}" for k in ("counts", "profile") for s in ("ref", "alt", "diff")]
_PCT_COLUMNS = ["log2_fc_percentile", "jsd_percentile", "max_abs_diff_percentile"]
_FORMATS = ("variant_scorer", "bpnetkit")
_NULL_SAMPLE = 10000  # valid variants kept (reservoir sample) to draw null variants from


def _fmt(x: float, digits: int = 6) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.{digits}g}"


def _chunks(it: Iterable, n: int) -> Iterator[list]:
    buf: list = []
    for x in it:
        buf.append(x)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf


@dataclass
class _Tally:
    records: int = 0
    scored: int = 0
    skipped: Counter = field(default_factory=Counter)
    unknown_chroms: set = field(default_factory=set)
    allele1_not_reference: int = 0


def _checked(stream: Iterable[Variant | Skipped], genome: Genome, tally: _Tally | None,
             skipped_fh: Any = None) -> Iterator[Variant]:
    """The variants of ``stream`` that can be scored; tally and write the others."""
    for rec in stream:
        if tally is not None:
            tally.records += 1
        reason = rec.reason if isinstance(rec, Skipped) else check_variant(rec, genome)
        if reason is None:
            if tally is not None and not rec.strict_ref and not ref_matches(rec, genome):
                tally.allele1_not_reference += 1
            yield rec
            continue
        v = rec.variant if isinstance(rec, Skipped) else rec
        if tally is not None:
            tally.skipped[reason] += 1
            if reason == "unknown_chromosome" and len(tally.unknown_chroms) < 20:
                tally.unknown_chroms.add(v.chrom)
        if skipped_fh is not None:
            skipped_fh.write(f"{v.chrom}\t{v.pos + 1}\t{v.id}\t{v.ref or '-'}\t{v.alt or '-'}\t"
                             f"{reason}\t{v.line}\n")


def _null_sample(params: VariantEffectParams, genome: Genome, schema: str
                 ) -> tuple[list[Variant], int]:
    """A reservoir sample of the valid variants and their number (first pass over the file)."""
    rng = np.random.default_rng(params.random_state)
    sample: list[Variant] = []
    k = -1
    for k, v in enumerate(_checked(iter_variants(params.variants, schema), genome, None)):
        if len(sample) < _NULL_SAMPLE:
            sample.append(v)
        else:
            j = int(rng.integers(k + 1))
            if j < len(sample):
                sample[j] = v
    return sample, k + 1


def _load_models(params: VariantEffectParams, model: Any) -> list[Any]:
    if model is not None:
        return list(model) if isinstance(model, list | tuple) else [model]
    from bpnetkit.models.files import load_model

    return [load_model(p, device=params.device) if params.device is not None else load_model(p)
            for p in params.model_paths()]


def _peak_windows(params: VariantEffectParams, genome: Genome) -> Iterator[np.ndarray]:
    """One-hot windows of ``in_window`` bases centred on the peak summits, ``chunk_size`` at
    a time.

    Duplicate peaks (same chrom, start, end, summit) count once; peaks whose window leaves the
    chromosome or lies on a chromosome missing from the genome are dropped (as variant-scorer
    does), and ``max_peaks`` keeps a random subset.
    """
    from bpnetkit.io.bed import read_regions
    from bpnetkit.io.fasta import extract_sequences

    reg = read_regions(params.peaks)
    f = params.in_window // 2
    seen: set = set()
    keep = []
    for i in range(len(reg)):
        key = (reg.chrom[i], int(reg.start[i]), int(reg.end[i]), int(reg.summit[i]))
        size = genome.chrom_sizes.get(key[0])
        lo = key[3] - f
        if key in seen or size is None or lo < 0 or lo + params.in_window > size:
            continue
        seen.add(key)
        keep.append(i)
    if not keep:
        raise InputError(f"{params.peaks}: no peak has a {params.in_window}-base window around "
                         f"its summit inside a chromosome of {params.genome}; check the "
                         f"chromosome names and in_window.")
    idx = np.asarray(keep)
    if params.max_peaks is not None and len(idx) > params.max_peaks:
        rng = np.random.default_rng(params.random_state)
        idx = np.sort(rng.choice(idx, size=params.max_peaks, replace=False))
    lo = reg.summit[idx] - f
    chroms = list(reg.chrom[idx])
    logger.info("predicting %d peaks for the allele quantiles", len(idx))
    for a in range(0, len(idx), params.chunk_size):
        b = a + params.chunk_size
        yield extract_sequences(genome, chroms[a:b], lo[a:b], lo[a:b] + params.in_window)


def run(params: VariantEffectParams, model: Any = None) -> VariantEffectOutputs:
    """Score every variant of a variant file and write a TSV (see :class:`VariantEffectParams`).

    Records that cannot be scored (REF mismatch, off the chromosome end, unknown chromosome,
    symbolic alleles, breakends, ``*``) are written to ``<name>.skipped.tsv`` with a reason and
    counted in ``<name>.summary.json``; they are never scored.

    Parameters
    ----------
    params : VariantEffectParams
        The configuration.
    model : torch.nn.Module, list of them, or None
        Already loaded model(s); None loads ``params.model`` / ``params.models``.

    Returns
    -------
    VariantEffectOutputs
        The paths written.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.io.fasta import suggest_chrom_fix
    from bpnetkit.utils import write_text_atomic

    params.validate()
    genome = Genome(params.genome)
    models = _load_models(params, model)
    schema = detect_schema(params.variants) if params.schema == "auto" else params.schema
    owns = [f"{params.name}.model_*.scores.tsv", f"{params.name}.null_scores.tsv",
            f"{params.name}.model_*.null_scores.tsv"]  # written by some runs only
    with staged_outputs(params.output_dir, "variant_effect", owns=owns) as stage:
        outputs = VariantEffectOutputs(scores=str(stage.path / f"{params.name}.scores.tsv"),
                                       skipped=str(stage.path / f"{params.name}.skipped.tsv"),
                                       summary=str(stage.path / f"{params.name}.summary.json"),
                                       params=str(stage.path / f"{params.name}.params.json"))
        if len(models) > 1:
            outputs.per_model = [str(stage.path / f"{params.name}.model_{k}.scores.tsv")
                                 for k in range(len(models))]
        tally = _Tally()
        if params.output_format == "bpnetkit":
            extra = _run_bpnetkit(params, models[0], genome, schema, outputs, tally)
        else:
            extra = _run_variant_scorer(params, models, genome, schema, outputs, tally)
        summary: dict[str, Any] = {
            "records": tally.records, "scored": tally.scored,
            "skipped": sum(tally.skipped.values()),
            "skipped_by_reason": dict(sorted(tally.skipped.items())),
            "schema": schema, "output_format": params.output_format,
            "models": params.model_paths(),
            "per_model": [stage.final(p) for p in outputs.per_model], **extra,
            "allele1_not_reference": tally.allele1_not_reference}
        if tally.allele1_not_reference:
            logger.warning("%d substitutions have an allele1 that differs from the genome; they "
                           "were scored with allele1 written into the window (as variant-scorer "
                           "does). Are allele1 and allele2 swapped?",
                           tally.allele1_not_reference)
        if tally.unknown_chroms:
            names = sorted(tally.unknown_chroms)
            summary["unknown_chromosomes"] = names
            summary["hint"] = (f"chromosomes {', '.join(names[:5])} are not in the genome."
                               + suggest_chrom_fix(names, genome.chroms))
        logger.info("scored %d of %d records; skipped %d", tally.scored, tally.records,
                    summary["skipped"])
        if tally.scored == 0:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(tally.skipped.items())) or "none"
            # nothing is written for a failed run: show the first skipped records instead
            skipped = Path(outputs.skipped)
            first = skipped.read_text().splitlines()[1:4] if skipped.exists() else []
            shown = "; ".join(" ".join(line.split("\t")) for line in first)
            raise InputError(f"variant-effect: no variant of '{params.variants}' could be "
                             f"scored ({tally.records} records; skipped: {reasons}"
                             + (f"; first skipped: {shown}" if shown else "") + ")."
                             + (f" Hint: {summary['hint']}" if "hint" in summary else ""))
        write_text_atomic(outputs.summary, json.dumps(summary, indent=2) + "\n")
        dump_config(params, outputs.params)
        return stage.finalize(outputs)


run_variant_effect = run


def _n_null(params: VariantEffectParams, genome: Genome, schema: str
            ) -> tuple[list[Variant], int]:
    """Variants to draw null variants from, and how many null variants to draw."""
    if params.null_variants == 0 and params.null_per_variant == 0:
        return [], 0
    sample, n_valid = _null_sample(params, genome, schema)
    n = params.null_variants or n_valid * params.null_per_variant
    if not sample:
        logger.warning("no variant can be scored, so no null variants were drawn")
        return [], 0
    return sample, n


def _run_variant_scorer(params: VariantEffectParams, models: list[Any], genome: Genome,
                        schema: str, outputs: VariantEffectOutputs, tally: _Tally) -> dict:
    from contextlib import ExitStack

    from bpnetkit.utils import atomic_path, progress

    common = dict(batch_size=params.batch_size, device=params.device,
                  rc_average=params.rc_average)
    peak_counts: list[np.ndarray | None] = [None] * len(models)
    n_peaks = 0
    if params.peaks:
        per_model: list[list[np.ndarray]] = [[] for _ in models]
        for X in _peak_windows(params, genome):
            n_peaks += len(X)
            for i, m in enumerate(models):
                per_model[i].append(allele_predictions(m, X, **common)[0])
        peak_counts = [np.concatenate(c) for c in per_model]
    null: list[dict | None] = [None] * len(models)
    sample, n_null = _n_null(params, genome, schema)
    if n_null:
        logger.info("scoring %d null variants in shuffled windows", n_null)
        parts: list[list[dict]] = [[] for _ in models]
        chosen: list[Variant] = []
        for ref, alt, drawn in iter_null_windows(genome, sample, params.in_window, n_null,
                                                 params.random_state):
            lengths = [(len(v.ref), len(v.alt)) for v in drawn]
            chosen += drawn
            for i, m in enumerate(models):
                c1, l1 = allele_predictions(m, ref, **common)
                c2, l2 = allele_predictions(m, alt, **common)
                parts[i].append(variant_scorer_scores(c1, c2, l1, l2, lengths,
                                                      peak_counts[i]))
        ncols = score_columns(peaks=params.peaks is not None, pvalues=False)
        stem = Path(outputs.scores).parent / params.name
        for i in range(len(models)):
            null[i] = {k: np.concatenate([p[k] for p in parts[i]]) for k in parts[i][0]}
            path = f"{stem}.null_scores.tsv" if len(models) == 1 else \
                f"{stem}.model_{i}.null_scores.tsv"
            _write_null(path, chosen, null[i], ncols)
            outputs.null_scores.append(path)
    vcols = output_columns(schema)
    cols = score_columns(peaks=params.peaks is not None, pvalues=null[0] is not None)
    cols += _ATTR_COLUMNS if params.attributions else []
    mean_cols = []  # variant-scorer's summary across folds
    for k in MEAN_SCORES:
        if k in cols:
            mean_cols += [f"{k}.mean"] + ([f"{k}.mean.pval"] if f"{k}.pval" in cols else [])
    mean_cols += _ATTR_COLUMNS if params.attributions else []
    main_cols = cols if len(models) == 1 else mean_cols

    def row(v: Variant, values: dict, names: list[str], k: int) -> str:
        return "\t".join(output_fields(v, schema)
                         + [_fmt(float(values[c][k]), 8) for c in names]) + "\n"

    with ExitStack() as stack:
        paths = [outputs.scores, outputs.skipped] + outputs.per_model
        tmp = [stack.enter_context(atomic_path(p)) for p in paths]
        fh = [stack.enter_context(open(t, "w")) for t in tmp]
        fo, fs, fm = fh[0], fh[1], fh[2:]
        fo.write("\t".join(vcols + main_cols) + "\n")
        for f in fm:
            f.write("\t".join(vcols + cols) + "\n")
        fs.write("chrom\tpos\tid\tref\talt\treason\tline\n")
        chunks = _chunks(_checked(iter_variants(params.variants, schema), genome, tally, fs),
                         params.chunk_size)
        for part in progress(chunks, desc="variants", unit="chunk"):
            ref, alt = variant_windows(genome, part, params.in_window)
            lengths = [(len(v.ref), len(v.alt)) for v in part]
            per = []
            for i, m in enumerate(models):
                c1, l1 = allele_predictions(m, ref, **common)
                c2, l2 = allele_predictions(m, alt, **common)
                sc = with_pvalues(variant_scorer_scores(c1, c2, l1, l2, lengths,
                                                        peak_counts[i]), null[i])
                if params.attributions:
                    sc.update(attribution_scores(m, ref, alt, part, params.attribution_flank,
                                                 params.n_shuffles, params.batch_size,
                                                 params.device, params.random_state))
                per.append(sc)
            if len(models) == 1:
                values = per[0]
            else:
                values = mean_over_models(per)
                for c in _ATTR_COLUMNS if params.attributions else []:
                    values[c] = np.mean([s[c] for s in per], axis=0)
                for f, sc in zip(fm, per, strict=True):
                    f.writelines(row(v, sc, cols, k) for k, v in enumerate(part))
            fo.writelines(row(v, values, main_cols, k) for k, v in enumerate(part))
            tally.scored += len(part)
    return {"null_variants": n_null if null[0] is not None else 0, "peaks": n_peaks}


def _write_null(path: str, chosen: list[Variant], scores: dict, cols: list[str]) -> None:
    """Table of null-variant scores (``chrombpnet`` variant columns)."""
    from bpnetkit.utils import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write("\t".join(output_columns("chrombpnet") + cols) + "\n")
        for k, v in enumerate(chosen):
            fh.write("\t".join(output_fields(v, "chrombpnet")
                               + [_fmt(float(scores[c][k]), 8) for c in cols]) + "\n")


def _run_bpnetkit(params: VariantEffectParams, model: Any, genome: Genome, schema: str,
                  outputs: VariantEffectOutputs, tally: _Tally) -> dict:
    from bpnetkit.utils import atomic_path, progress

    common = dict(batch_size=params.batch_size, device=params.device,
                  rc_average=params.rc_average)
    null = None
    sample, n_null = _n_null(params, genome, schema)
    if n_null:
        null = null_scores(model, genome, sample, params.in_window, n_null,
                           random_state=params.random_state, verbose=True, **common)
    columns = list(_COLUMNS) + (_ATTR_COLUMNS if params.attributions else []) + \
        (_PCT_COLUMNS if null is not None else [])
    with atomic_path(outputs.scores) as tmp_scores, atomic_path(outputs.skipped) as tmp_skip:
        with open(tmp_scores, "w") as fo, open(tmp_skip, "w") as fs:
            fo.write("\t".join(columns) + "\n")
            fs.write("chrom\tpos\tid\tref\talt\treason\tline\n")
            chunks = _chunks(_checked(iter_variants(params.variants, schema), genome, tally,
                                      fs), params.chunk_size)
            for part in progress(chunks, desc="variants", unit="chunk"):
                s = score_variants(model, genome, part, params.in_window,
                                   attributions=params.attributions,
                                   attribution_flank=params.attribution_flank,
                                   n_shuffles=params.n_shuffles,
                                   random_state=params.random_state, **common)
                if null is not None:
                    for key in ("log2_fc", "jsd", "max_abs_diff"):
                        s[f"{key}_percentile"] = empirical_percentile(s[key], null[key])
                for k, v in enumerate(part):
                    vals = [v.chrom, str(v.pos + 1), v.id, v.ref or "-", v.alt or "-"]
                    vals += [_fmt(float(s[c][k])) for c in columns[5:]]
                    fo.write("\t".join(vals) + "\n")
                tally.scored += len(part)
    return {"null_variants": n_null if null is not None else 0}


def read_summary(path: str | Path) -> dict:
    """Read a ``<name>.summary.json`` written by :func:`run`."""
    return json.loads(Path(path).read_text())
