"""Training recipes of BPNet, ChromBPNet and ProCapNet: the optimisation, loss, augmentation
and sampling defaults of each, with their sources.

A recipe holds training defaults only. Architecture defaults (filters, layers, kernel widths)
live in :mod:`bpnetkit.models.presets`; :func:`build_model` builds each model family through
the preset functions. ``bpnetkit fit`` (:mod:`bpnetkit.steps.fit`) takes every
hyperparameter left at ``None`` from the recipe named by its ``recipe`` key (default:
:data:`DEFAULT_RECIPES` of its ``model_type``).

Official recipes, reproduced exactly (old names kept as aliases, :data:`RECIPE_ALIASES`:
``"bpnet"`` = ``"bpnet_lite"``, ``"chrombpnet"`` = ``"chrombpnet_official"``):

===================  ==================  ==================  ==================
key                  bpnet_lite          chrombpnet_official procapnet
===================  ==================  ==================  ==================
lr                   1e-3 [L]            1e-3 [C]            5e-4 [P]
eps                  1e-8 [T]            1e-7 [C, Keras]     1e-8 [T]
batch_size           64 [L]              64 [C]              32 [P]
patience             10 [L]              5 [C]               5 [K]
grad_clip            1.0 [E]             none [C]            none [K]
count_weight         mean/track [L]      median/10, >=1 [C]  100 [P]
max_jitter           128 [L]             500 [C]             200 [P]
negative_ratio       0.333 [L]           0.1 [C]             0.143 [P]
negative jitter      = max_jitter [L]    0 [C]               = max_jitter [K]
rc                   random p=0.5 [L]    exactly half [C]    random p=0.5 [P]
validation           peaks [L]           peaks + 0.1 neg [C] peaks + negs [K]
softmax              joint strands [L]   one track [C]       joint strands [P]
split                bpnet_lite [L]      fold_0 [C]          fold_0 [K]
===================  ==================  ==================  ==================

"mean/track" is bpnet-lite's automatic count weight: the mean over training peaks and tracks
of the per-track total counts. bpnet-lite also reduces the learning rate on plateaus and
leaves negatives out of the profile loss; bpnetkit does neither. None of the official
recipes warms up or schedules the learning rate or initialises the output heads
(``lr_schedule="constant"``, ``warmup_steps=0``, ``init_heads=False``,
``count_head_lr_factor=1``); no recipe seeds filters (``seed_filters=0``, an option
measured in ``docs/training.md``).

The ``bpnetkit`` recipe is ``bpnet_lite`` plus what :mod:`bpnetkit.train.schedules` adds: the
count head starts at the mean training log count and the profile head at the tracks' shares
(``init_heads``), the learning rate warms up linearly over the first ``warmup_steps``
optimizer steps to a higher constant peak, and the count head learns
``count_head_lr_factor`` times faster. It is
the default of ``model_type="bpnet"`` (:data:`DEFAULT_RECIPES`); ``docs/training.md`` holds
the measurements that chose it. ``recipe="bpnet_lite"`` trains exactly as bpnet-lite.

The ``chrombpnet_small`` recipe is ``chrombpnet_official`` with the batch size and learning
rate chosen by the number of training peaks (:data:`AUTO_BATCH_CHROMBPNET`): official from
2,560 training peaks on, batches of 16 at 2e-3 below, where batches of 64 leave the bias
model and the accessibility model a few dozen optimizer steps in all (``docs/training.md``,
ChromBPNet on the ATAC variant). The ``chrombpnetkit`` recipe, the default of
``model_type="chrombpnet"``, is ``chrombpnet_small`` plus the ``bpnetkit`` recipe's count
settings for the accessibility model: the count weight is the mean of the training peaks'
totals (bpnet-lite's rule; the official ``max(median / 10, 1)`` leaves the count loss a
tenth of the profile loss, and the count head flat), the heads start at the data
(``init_heads``), the count head learns 10 times faster and the learning rate warms up
over 24 steps. The bias model trains as in ``chrombpnet_small``.
``recipe="chrombpnet_official"`` trains exactly as the official code.

Sources: [L] bpnet-lite 1.x defaults (BPNet class and ``bpnet fit`` command); [C] the official
ChromBPNet training code (TensorFlow); [P] the ProCapNet paper's training setup (Cochran et
al.); [T] PyTorch's default; [E] bpnetkit ENGINEERING.md recipe table; [K] a bpnetkit choice;
[M] chosen from bpnetkit's measurements (``docs/training.md``).
ProCapNet's negatives are 12.5 % of each batch, i.e. a ratio of 0.125 / 0.875 = 0.143 of
the peaks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpnetkit.errors import InputError

__all__ = ["AUTO_BATCH", "DEFAULT_RECIPES", "MODEL_TYPES", "RECIPES", "RECIPE_ALIASES", "Recipe",
           "auto_batch", "build_model", "default_recipe", "get_recipe", "resolve_count_weight"]


@dataclass(frozen=True)
class Recipe:
    """Training defaults of one recipe (see the module docstring for the sources).

    Attributes
    ----------
    name : str
        Recipe name.
    lr, eps, batch_size, patience, grad_clip : optimisation
        ``grad_clip`` 0 means no clipping.
    count_weight : float or {"mean", "chrombpnet"}
        A fixed count-loss weight or the rule deriving it from the training counts (see
        :func:`bpnetkit.train.losses.count_weight_from_counts`).
    max_jitter : int
        Largest shift of peak windows (bp).
    negative_ratio : float
        Negatives per peak in each epoch.
    negative_jitter : int or None
        Largest shift of negative windows; None = ``max_jitter``.
    rc : {"random", "half", "none"}
        Reverse-complement augmentation.
    split : str
        Default chromosome split.
    joint_strands : bool
        Softmax jointly over strands in the profile loss.
    valid_negatives : bool
        Whether the validation set holds negatives (``negative_ratio`` of the validation
        peaks).
    lr_schedule : {"constant", "cosine", "linear"}
        Learning rate after the warm-up (:class:`bpnetkit.train.schedules.LRSchedule`); a
        decay ends at the last planned step (``max_epochs`` x batches per epoch).
    warmup_steps : int
        Optimizer steps over which the learning rate rises linearly to ``lr``.
    init_heads : bool
        Start the count head at the mean training log count and the profile head at the
        tracks' shares (:func:`bpnetkit.train.schedules.init_output_heads`; BPNet and
        ProCapNet models).
    count_head_lr_factor : float
        Learning-rate multiplier of the count head (BPNet's ``linear`` layer; BPNet and
        ProCapNet models).
    monitor : {"valid_loss", "valid_loss_centered"}
        What picks the best epoch and drives early stopping (:class:`~bpnetkit.train.trainer.
        Trainer`'s ``monitor``).
    seed_filters : int
        Stem filters started at the k-mers the training peaks are enriched for: the number
        of words (each seeds a filter and its reverse complement's;
        :mod:`bpnetkit.train.seeding`); 0: none (BPNet and ProCapNet models).
    auto_batch : bool
        When ``batch_size`` is not given, choose it (and ``lr``, when that is not given
        either) from the number of training peaks (:func:`auto_batch`) instead of taking
        ``batch_size`` and ``lr``.
    auto_batch_table : tuple or None
        ``(fewest training peaks, batch size, learning rate)`` rows, largest first, of
        :func:`auto_batch`; None: :data:`AUTO_BATCH`.
    sources : dict
        Key -> source tag of the module docstring.
    """

    name: str
    lr: float
    eps: float
    batch_size: int
    patience: int
    grad_clip: float
    count_weight: float | str
    max_jitter: int
    negative_ratio: float
    negative_jitter: int | None
    rc: str
    split: str
    joint_strands: bool
    valid_negatives: bool
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    init_heads: bool = False
    count_head_lr_factor: float = 1.0
    seed_filters: int = 0
    monitor: str = "valid_loss"
    auto_batch: bool = False
    auto_batch_table: tuple[tuple[int, int, float], ...] | None = None

    def defaults(self) -> dict[str, Any]:
        """The keys of :class:`~bpnetkit.steps.fit.FitParams` this recipe fills in."""
        return {k: getattr(self, k) for k in ("lr", "eps", "batch_size", "patience",
                                              "grad_clip", "max_jitter", "negative_ratio",
                                              "rc", "split", "lr_schedule",
                                              "warmup_steps", "init_heads",
                                              "count_head_lr_factor", "seed_filters",
                                              "monitor")}


#: the recipes (see the module docstring for the sources)
RECIPES: dict[str, Recipe] = {
    "bpnet_lite": Recipe(
        "bpnet_lite", lr=1e-3, eps=1e-8, batch_size=64, patience=10, grad_clip=1.0,
        count_weight="mean", max_jitter=128, negative_ratio=0.333, negative_jitter=None,
        rc="random", split="bpnet_lite", joint_strands=True, valid_negatives=False,
        sources={"lr": "L", "eps": "T", "batch_size": "L", "patience": "L", "grad_clip": "E",
                 "count_weight": "L", "max_jitter": "L", "negative_ratio": "L",
                 "negative_jitter": "L", "rc": "L", "split": "L", "joint_strands": "L",
                 "valid_negatives": "L"}),
    "chrombpnet_official": Recipe(
        "chrombpnet_official", lr=1e-3, eps=1e-7, batch_size=64, patience=5, grad_clip=0.0,
        count_weight="chrombpnet", max_jitter=500, negative_ratio=0.1, negative_jitter=0,
        rc="half", split="fold_0", joint_strands=True, valid_negatives=True,
        sources={k: "C" for k in ("lr", "eps", "batch_size", "patience", "grad_clip",
                                  "count_weight", "max_jitter", "negative_ratio",
                                  "negative_jitter", "rc", "split", "joint_strands",
                                  "valid_negatives")}),
    "procapnet": Recipe(
        "procapnet", lr=5e-4, eps=1e-8, batch_size=32, patience=5, grad_clip=0.0,
        count_weight=100.0, max_jitter=200, negative_ratio=0.125 / 0.875,
        negative_jitter=None, rc="random", split="fold_0", joint_strands=True,
        valid_negatives=True,
        sources={"lr": "P", "eps": "T", "batch_size": "P", "patience": "K", "grad_clip": "K",
                 "count_weight": "P", "max_jitter": "P", "negative_ratio": "P",
                 "negative_jitter": "K", "rc": "P", "split": "K", "joint_strands": "P",
                 "valid_negatives": "K"}),
}

RECIPES["bpnetkit"] = dataclasses.replace(
    RECIPES["bpnet_lite"], name="bpnetkit", lr=3e-3, lr_schedule="constant",
    warmup_steps=24, init_heads=True, count_head_lr_factor=10.0, auto_batch=True,
    sources={**RECIPES["bpnet_lite"].sources, "lr": "M", "lr_schedule": "M",
             "warmup_steps": "M", "init_heads": "M", "count_head_lr_factor": "M",
             "batch_size": "M"})

#: :func:`auto_batch`: (fewest training peaks, batch size, learning rate), largest first
AUTO_BATCH: tuple[tuple[int, int, float], ...] = (
    (2560, 64, 3e-3), (1280, 32, 2.5e-3), (0, 16, 2e-3))

#: the ``chrombpnet_small`` recipe's table: the official batch of 64 and learning rate from
#: 2,560 training peaks on, batches of 16 below (a few hundred peaks, or a small genome
#: whose non-peak regions are few: the bias model trains on those)
AUTO_BATCH_CHROMBPNET: tuple[tuple[int, int, float], ...] = ((2560, 64, 1e-3), (0, 16, 2e-3))

RECIPES["chrombpnet_small"] = dataclasses.replace(
    RECIPES["chrombpnet_official"], name="chrombpnet_small", auto_batch=True,
    auto_batch_table=AUTO_BATCH_CHROMBPNET,
    sources={**RECIPES["chrombpnet_official"].sources, "batch_size": "M", "lr": "M"})

RECIPES["chrombpnetkit"] = dataclasses.replace(
    RECIPES["chrombpnet_small"], name="chrombpnetkit", count_weight="mean", warmup_steps=24,
    init_heads=True, count_head_lr_factor=10.0,
    sources={**RECIPES["chrombpnet_small"].sources, "count_weight": "M", "warmup_steps": "M",
             "init_heads": "M", "count_head_lr_factor": "M"})


def auto_batch(n_train_peaks: int, table: tuple[tuple[int, int, float], ...] | None = None
               ) -> tuple[int, float]:
    """Batch size and learning rate of a recipe with ``auto_batch`` for a training set of
    ``n_train_peaks`` peaks (``table``, by default :data:`AUTO_BATCH`).

    At least about 40 optimizer steps per epoch: a small data set (a few hundred to a few
    thousand peaks, the size of a pilot experiment or of bpnet-lite's tutorial) trains with
    batches of 16 or 32, a full-size one with 64. Measured on the planted-motif recovery
    benchmark (``docs/training.md``): with 600 training peaks, batches of 16 reach in 4
    epochs the validation profile loss that batches of 64 reach in 11 to 17, and after 11
    epochs predict twice the footprint at the short planted motifs that batches of 64
    predict after 20.
    """
    n = int(n_train_peaks)
    for least, batch, lr in (table or AUTO_BATCH):
        if n >= least:
            return batch, lr
    raise AssertionError("unreachable")  # the last row takes every n >= 0

#: old recipe names -> the official recipes they always meant
RECIPE_ALIASES: dict[str, str] = {"bpnet": "bpnet_lite", "chrombpnet": "chrombpnet_official"}

#: model type -> the recipe used when ``recipe`` is not given
DEFAULT_RECIPES: dict[str, str] = {"bpnet": "bpnetkit", "procapnet": "procapnet",
                                   "chrombpnet": "chrombpnetkit"}

#: model type -> the preset families of :data:`bpnetkit.models.presets.ARCHITECTURES` it
#: builds (ChromBPNet: accessibility model, bias model)
MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "bpnet": ("bpnet",),
    "procapnet": ("procapnet",),
    "chrombpnet": ("chrombpnet", "chrombpnet_bias"),
}


def get_recipe(name: str) -> Recipe:
    """The recipe ``name`` (a key of :data:`RECIPES` or an alias of
    :data:`RECIPE_ALIASES`); an InputError names the valid ones."""
    name = RECIPE_ALIASES.get(name, name)
    if name not in RECIPES:
        import difflib

        valid = [*RECIPES, *RECIPE_ALIASES]
        near = difflib.get_close_matches(str(name), valid, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise InputError(f"unknown recipe {name!r}.{hint} Valid recipes: "
                         f"{', '.join(RECIPES)} (aliases: "
                         f"{', '.join(f'{k} = {v}' for k, v in RECIPE_ALIASES.items())}).")
    return RECIPES[name]


def default_recipe(model_type: str) -> Recipe:
    """The recipe a ``model_type`` trains with when no ``recipe`` is given
    (:data:`DEFAULT_RECIPES`)."""
    if model_type not in DEFAULT_RECIPES:
        raise InputError(f"unknown model_type {model_type!r}; valid: "
                         f"{', '.join(DEFAULT_RECIPES)}.")
    return RECIPES[DEFAULT_RECIPES[model_type]]


def resolve_count_weight(explicit: float | str | None, rule: float | str, totals: np.ndarray
                         ) -> float:
    """The count-loss weight: ``explicit`` when given (a number, or a rule of
    :func:`~bpnetkit.train.losses.count_weight_from_counts`), else the recipe's fixed value or
    rule, a rule applied to the training ``totals``."""
    from bpnetkit.train.losses import count_weight_from_counts

    if explicit is not None:
        rule = explicit
    if isinstance(rule, int | float):
        return float(rule)
    return count_weight_from_counts(totals, rule=rule)


def build_model(family: str, **kwargs: Any):
    """Build a model of ``family`` (a preset family such as ``"bpnet"``, ``"procapnet"``,
    ``"chrombpnet"`` (the accessibility sub-model) or ``"chrombpnet_bias"``) through its
    preset function; ``kwargs`` override the preset (sizes, tracks, ``trimming``, ``name``).
    Size arguments that are None keep the preset value."""
    from bpnetkit.models import presets

    builders = {"bpnet": presets.bpnet_lite, "procapnet": presets.procapnet,
                "chrombpnet": presets.chrombpnet_accessibility,
                "chrombpnet_bias": presets.chrombpnet_bias}
    if family not in builders:
        raise InputError(f"unknown model family {family!r}; valid: {', '.join(builders)}.")
    return builders[family](**{k: v for k, v in kwargs.items() if v is not None or k == "name"})
