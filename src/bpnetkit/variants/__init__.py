"""Variant effect prediction: substitutions, deletions and insertions.

- :mod:`bpnetkit.interpret.edits`: the one-hot edit API (:func:`substitution_effect`,
  :func:`deletion_effect`, :func:`insertion_effect`, :func:`edit_effect`), re-exported here.
- :mod:`bpnetkit.io.vcf`: reading VCF and variant-scorer's tab-separated layouts
  (:func:`iter_variants`, :func:`detect_schema`).
- :mod:`bpnetkit.variants.windows`: reference/alternative windows of variants from a genome.
- :mod:`bpnetkit.variants.scores`: scores (log fold change of counts, Jensen-Shannon distance
  of the profiles, largest change of the predicted track, attribution change) and the null
  model from shuffled windows.
- :mod:`bpnetkit.variants.scorer`: the columns of variant-scorer (kundajelab): predicted
  counts, ``logfc``, ``jsd``, peak quantiles, empirical p-values and means over models.
- :mod:`bpnetkit.steps.variant_effect`: the ``variant-effect`` command.
"""

from bpnetkit.interpret.edits import (
    Edit,
    apply_edit,
    deletion_effect,
    edit_effect,
    insertion_effect,
    substitution_effect,
)
from bpnetkit.io.vcf import Skipped, Variant, detect_schema, iter_variants
from bpnetkit.variants.scorer import (
    allele_predictions,
    empirical_pvalue,
    mean_over_models,
    variant_scorer_scores,
)
from bpnetkit.variants.scores import (
    attribution_scores,
    effect_scores,
    empirical_percentile,
    null_scores,
    null_windows,
    score_variants,
)
from bpnetkit.variants.windows import check_variant, ref_matches, variant_windows

__all__ = [
    "Edit", "Skipped", "Variant", "allele_predictions", "apply_edit", "attribution_scores",
    "check_variant", "deletion_effect", "detect_schema", "edit_effect", "effect_scores",
    "empirical_percentile", "empirical_pvalue", "insertion_effect", "iter_variants",
    "mean_over_models", "null_scores", "null_windows", "ref_matches", "score_variants",
    "substitution_effect", "variant_scorer_scores", "variant_windows",
]
