"""The one list of steps: what each step is called, where it lives, what it needs.

Every step is a module holding ``Params`` (the dataclass of its JSON keys), ``Outputs`` (a
:class:`~bpnetkit.steps.base.StepOutputs` dataclass of the paths it wrote) and
``run(params) -> Outputs``. :data:`STEPS` names those modules by their dotted path; they are
imported only when used (:meth:`StepSpec.load`), so this list is cheap to read (the command
line's ``--help`` and the pipeline's plan use it) and the pipeline never imports the report or
the command line statically.

Steps with a ``key`` run in the pipeline, in the order of :data:`STEPS`; the pipeline JSON
object named by ``key`` overrides their parameters. Steps with a ``command`` are also
commands of the ``bpnetkit`` program (``bpnetkit <command> -p params.json``).

To add a step: write ``steps/<name>.py`` (Params, Outputs, run), add a :class:`StepSpec` here
and, for a pipeline step, a builder in :mod:`bpnetkit.pipeline.builders`.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bpnetkit.errors import BpnetkitError, ConfigError


class StepUnavailable(BpnetkitError):
    """A step's module cannot be imported or lacks ``Params``/``Outputs``/``run``."""


@dataclass(frozen=True)
class StepSpec:
    """One step.

    Attributes
    ----------
    name : str
        Step name: the folder of its outputs in a run, and the name ``--from``/``--only``
        take.
    module : str
        Dotted path of the module holding ``Params``, ``Outputs`` and ``run``.
    key : str or None
        The pipeline JSON key whose object overrides this step's parameters; None for steps
        that are not part of the pipeline (commands only).
    requires : tuple of str
        Pipeline steps whose outputs this one reads (when one of them fails, this one is
        blocked).
    description : str
        One line, for ``--help`` and the pipeline's plan.
    command : str or None
        Name of its ``bpnetkit`` command; None when the step has no command of its own.
    """

    name: str
    module: str
    key: str | None
    requires: tuple[str, ...] = ()
    description: str = ""
    command: str | None = None

    def load(self) -> ModuleType:
        """Import the step's module, checking that it has ``Params``, ``Outputs`` and ``run``.

        Raises
        ------
        StepUnavailable
            When the module cannot be imported or lacks one of the three names.
        """
        try:
            mod = importlib.import_module(self.module)
        except ImportError as e:
            raise StepUnavailable(f"step '{self.name}': module '{self.module}' cannot be "
                                  f"imported ({e}).") from None
        lacking = [n for n in ("Params", "Outputs", "run") if not hasattr(mod, n)]
        if lacking:
            raise StepUnavailable(f"step '{self.name}': module '{self.module}' has no "
                                  f"{', '.join(lacking)}.")
        return mod

    @property
    def params_class(self) -> type:
        """The step's ``Params`` dataclass (imports the module)."""
        return self.load().Params

    @property
    def outputs_class(self) -> type:
        """The step's ``Outputs`` dataclass (imports the module)."""
        return self.load().Outputs

    def run(self, params: Any) -> Any:
        """Run the step on validated ``params``; returns its ``Outputs``."""
        return self.load().run(params)


STEPS: list[StepSpec] = [
    StepSpec("peaks", "bpnetkit.steps.peaks", "peaks_parameters", (),
             "call peaks with MACS3", command="peaks"),
    StepSpec("bigwigs", "bpnetkit.steps.bam2bw", "bam2bw_parameters", (),
             "count read 5' ends into base-resolution bigWigs", command="bam2bw"),
    StepSpec("control_bigwigs", "bpnetkit.steps.bam2bw", "bam2bw_parameters", (),
             "control reads -> bigWigs"),
    StepSpec("negatives", "bpnetkit.steps.negatives", "negatives_parameters", ("peaks",),
             "pick GC-matched background regions", command="negatives"),
    # negatives are optional for BPNet (ChromBPNet's fit says so itself when they are missing)
    StepSpec("fit", "bpnetkit.steps.fit", "fit_parameters",
             ("peaks", "bigwigs", "control_bigwigs"),
             "train a BPNet, ChromBPNet or ProCapNet model", command="fit"),
    StepSpec("evaluate", "bpnetkit.steps.evaluate", "evaluate_parameters", ("fit",),
             "evaluate a model on held-out regions", command="evaluate"),
    StepSpec("predict", "bpnetkit.steps.predict", "predict_parameters", ("fit",),
             "predict profiles and counts; write bigWigs and h5", command="predict"),
    StepSpec("attribute", "bpnetkit.steps.attribute", "attribute_parameters", ("fit",),
             "DeepLIFT/SHAP attributions for regions", command="attribute"),
    StepSpec("seqlets", "bpnetkit.steps.seqlets", "seqlet_parameters", ("attribute",),
             "call seqlets on attribution tracks", command="seqlets"),
    StepSpec("modisco", "bpnetkit.steps.modisco", "modisco_parameters", ("attribute",),
             "run TF-MoDISco (modisco-lite) on attributions", command="modisco"),
    StepSpec("annotate", "bpnetkit.steps.annotate", "annotation_parameters", ("seqlets",),
             "name seqlets and patterns by motif families (Tomtom)", command="annotate"),
    StepSpec("hits", "bpnetkit.steps.hits", "hits_parameters", ("modisco", "attribute"),
             "call motif hits of the MoDISco patterns (Fi-NeMo method)", command="hits"),
    StepSpec("marginalize", "bpnetkit.steps.marginalize", "marginalize_parameters",
             ("fit", "modisco"), "in-silico marginalization of motifs", command="marginalize"),
    StepSpec("report", "bpnetkit.report.step", "report_parameters", (), "HTML report"),
    StepSpec("variant_effect", "bpnetkit.steps.variant_effect", None, (),
             "score variants (VCF or variant-scorer layouts)", command="variant-effect"),
    StepSpec("design", "bpnetkit.steps.design", None, (),
             "design sequences greedily or by gradients", command="design"),
    StepSpec("merge", "bpnetkit.steps.merge", None, (),
             "merge predict/attribute shards made by separate jobs", command="merge"),
]

PIPELINE_STEPS: list[StepSpec] = [s for s in STEPS if s.key is not None]
"""The steps the pipeline runs, in order."""

STEP_ORDER: list[str] = [s.name for s in PIPELINE_STEPS]
"""Names of the pipeline steps, in order."""

COMMAND_STEPS: dict[str, StepSpec] = {s.command: s for s in STEPS if s.command}
"""Command name -> step, for the steps that are ``bpnetkit`` commands."""

PARAMETER_KEYS: tuple[str, ...] = tuple(dict.fromkeys(s.key for s in PIPELINE_STEPS if s.key))
"""The ``*_parameters`` keys of the pipeline JSON, in step order."""


def get_step(name: str) -> StepSpec:
    """The step called ``name`` (an error naming the nearest step otherwise)."""
    for s in STEPS:
        if s.name == name:
            return s
    names = [s.name for s in STEPS]
    near = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    raise ConfigError(f"no step named '{name}'.{hint} Steps: {', '.join(names)}.")


def steps_for_key(key: str) -> list[StepSpec]:
    """The pipeline steps whose parameters the pipeline JSON object ``key`` overrides."""
    return [s for s in PIPELINE_STEPS if s.key == key]


def outputs_from_dict(name: str, data: dict[str, Any]) -> Any:
    """Rebuild step ``name``'s ``Outputs`` from its ``to_dict()`` (e.g. from a stamp)."""
    return get_step(name).outputs_class.from_dict(data)


__all__ = ["StepSpec", "StepUnavailable", "STEPS", "PIPELINE_STEPS", "STEP_ORDER",
           "COMMAND_STEPS", "PARAMETER_KEYS", "get_step", "steps_for_key",
           "outputs_from_dict"]
