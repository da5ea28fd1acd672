"""``bpnetkit design``: greedy or gradient-based design of sequences with a model.

Outputs in ``output_dir`` (``<name>`` defaults to ``design``):

- ``<name>.fa``: the designed sequences, named ``<start name>_designed value=<target>``;
- ``<name>.edits.tsv``: one row per edit (``sequence round kind position ref alt value``);
- ``<name>.summary.tsv``: per sequence the target before and after and the number of edits;
- ``<name>.params.json``: the parameters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bpnetkit.design import gradient_design, greedy_design, make_target
from bpnetkit.errors import InputError, require_file
from bpnetkit.io.fasta import extract_sequences, one_hot_decode, one_hot_encode
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs
from bpnetkit.utils import open_text

logger = logging.getLogger(__name__)

__all__ = ["DesignOutputs", "DesignParams", "Outputs", "Params", "read_fasta", "run",
           "run_design"]


@dataclass
class DesignParams:
    """Parameters of ``bpnetkit design``.

    Attributes
    ----------
    model : str
        Model folder or file.
    output_dir : str
        Folder for ``<name>.fa``, ``<name>.edits.tsv``, ``<name>.summary.tsv``.
    sequences : str or None
        FASTA of start sequences (each at least as long as the model needs).
    regions : str or None
        BED/narrowPeak of start windows (``in_window`` bases centred on the summit or
        midpoint), read from ``genome``. Give ``sequences`` or ``regions``.
    genome : str or None
        Reference FASTA for ``regions``.
    name : str
        Prefix of the output files.
    method : {"greedy", "gradient"}
        Design algorithm.
    target : {"counts", "track", "strand_ratio", "profile"}
        What to optimise (see :func:`bpnetkit.design.make_target`).
    goal : "max", "min" or a number
        Direction or value to reach.
    in_window : int
        Window width for ``regions``.
    max_edits : int
        Edit budget per sequence.
    tol : float
        Greedy: stop when the best edit improves the loss by less than this.
    motifs : list of str or None
        Greedy: insert these motifs (A/C/G/T strings, both orientations) instead of single
        bases.
    motif_names : list of str or None
        Greedy: also insert these motifs of ``motif_db`` (identifier or name, e.g. ``"CTCF"``),
        as the consensus of the matrix trimmed of low-information flanks.
    motif_db : str or None
        MEME file for ``motif_names``; None uses the built-in JASPAR database.
    input_mask : [start, end] or None
        Positions that may be edited (None: all).
    output_mask : [start, end] or None
        Output positions used by ``track`` and ``strand_ratio`` targets.
    strands : list of int or None
        Tracks summed by the ``track`` target.
    edit_penalty, n_iter, learning_rate, temperature, n_samples : float / int
        Gradient design settings.
    patience : int or None
        Gradient design: stop after this many iterations without a better sequence.
    batch_size : int
        Candidates per forward pass (greedy).
    device : str or None
        None picks CUDA when available.
    random_state : int
        Seed.
    """

    model: str
    output_dir: str
    sequences: str | None = None
    regions: str | None = None
    genome: str | None = None
    name: str = "design"
    method: Literal["greedy", "gradient"] = "greedy"
    target: Literal["counts", "track", "strand_ratio", "profile"] = "counts"
    goal: str | float = "max"
    in_window: int = 2114
    max_edits: int = 10
    tol: float = 1e-4
    motifs: list[str] | None = None
    motif_names: list[str] | None = None
    motif_db: str | None = None
    input_mask: list[int] | None = None
    output_mask: list[int] | None = None
    strands: list[int] | None = None
    edit_penalty: float = 0.1
    n_iter: int = 200
    learning_rate: float = 0.5
    temperature: float = 1.0
    n_samples: int = 16
    patience: int | None = None
    batch_size: int = 256
    device: str | None = None
    random_state: int = 0

    def validate(self) -> None:
        """Check that the inputs and values make sense."""
        if (self.sequences is None) == (self.regions is None):
            raise InputError("design: give exactly one of 'sequences' (FASTA) or 'regions' "
                             "(BED, with 'genome').")
        if self.regions is not None and self.genome is None:
            raise InputError("design: 'regions' needs 'genome' (the reference FASTA).")
        if isinstance(self.goal, str) and self.goal not in ("max", "min"):
            raise InputError(f"design: 'goal' must be 'max', 'min' or a number, got "
                             f"{self.goal!r}.")
        for key in ("max_edits", "n_iter", "n_samples", "batch_size", "in_window"):
            if getattr(self, key) < 1:
                raise InputError(f"design: '{key}' must be at least 1, got "
                                 f"{getattr(self, key)}.")
        if (self.motifs or self.motif_names) and self.method != "greedy":
            raise InputError("design: 'motifs' and 'motif_names' work with method 'greedy' "
                             "only.")
        for key in ("input_mask", "output_mask"):
            v = getattr(self, key)
            if v is not None and (len(v) != 2 or v[0] >= v[1] or v[0] < 0):
                raise InputError(f"design: '{key}' must be [start, end) with 0 <= start < "
                                 f"end, got {v}.")


Params = DesignParams


@dataclass
class DesignOutputs(StepOutputs):
    """Files written by :func:`run`.

    Attributes
    ----------
    fasta : str
        FASTA of the designed sequences.
    edits : str
        TSV with one row per edit.
    summary : str
        TSV with the target before and after design and the number of edits per sequence.
    params : str
        JSON of the parameters.
    """

    fasta: str
    edits: str
    summary: str
    params: str


Outputs = DesignOutputs


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """(name, sequence) pairs of a small FASTA file (plain or gzip), e.g. start sequences.

    Unlike :class:`bpnetkit.io.fasta.Genome` this needs no index and no equal line lengths,
    and reads every record into memory.

    Parameters
    ----------
    path : str or Path
        The FASTA file; a record's name is the first word of its ``>`` line.

    Returns
    -------
    list of (str, str)
        Names and sequences in file order.
    """
    path = require_file(path, "FASTA of start sequences")
    records: list[tuple[str, list[str]]] = []
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                records.append((line[1:].split()[0] if line[1:].strip() else
                                f"seq{len(records)}", []))
            elif not records:
                raise InputError(f"{path}: line {lineno}: sequence before the first '>name' "
                                 f"header; this is not a FASTA file.")
            else:
                records[-1][1].append(line)
    if not records:
        raise InputError(f"{path}: no sequences found (FASTA records start with '>').")
    return [(n, "".join(s)) for n, s in records]


def _start_sequences(params: DesignParams) -> tuple[list[str], np.ndarray]:
    if params.sequences is not None:
        recs = read_fasta(params.sequences)
        lengths = {len(s) for _, s in recs}
        if len(lengths) > 1:
            raise InputError(f"{params.sequences}: start sequences differ in length "
                             f"({sorted(lengths)}); design needs sequences of one length.")
        return [n for n, _ in recs], np.stack([one_hot_encode(s) for _, s in recs])
    from bpnetkit.data.regions import centered_windows
    from bpnetkit.io.bed import read_regions

    regions = read_regions(params.regions)
    chroms, starts, ends = centered_windows(regions, params.in_window)
    names = [f"{c}:{s}-{e}" for c, s, e in zip(chroms, starts, ends)]
    return names, extract_sequences(params.genome, chroms, starts, ends, pad=True)


def _motifs(params: DesignParams) -> list[str]:
    """The motifs to insert: ``motifs`` plus the consensus of each of ``motif_names``."""
    motifs = list(params.motifs or [])
    if params.motif_names:
        from bpnetkit.motifs.database import load_motif_db, select_motifs, trim_motif

        for m in select_motifs(load_motif_db(params.motif_db), params.motif_names):
            motifs.append(trim_motif(m).consensus())
    return motifs


def run(params: DesignParams, model: Any = None) -> DesignOutputs:
    """Design sequences as configured; write FASTA, a TSV of edits and a summary TSV.

    Parameters
    ----------
    params : DesignParams
        The configuration.
    model : torch.nn.Module or None
        An already loaded model; None loads ``params.model``.

    Returns
    -------
    DesignOutputs
        The paths written.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.utils import atomic_path

    params.validate()
    if model is None:
        from bpnetkit.models.files import load_model

        model = load_model(params.model)
    names, X = _start_sequences(params)
    target = make_target(model, params.target, output_mask=params.output_mask,
                         strands=params.strands)
    motifs = _motifs(params)
    logger.info("designing %d sequence(s) of %d bp (%s, target %s, goal %s)", len(names),
                X.shape[2], params.method, params.target, params.goal)
    if params.method == "greedy":
        res = greedy_design(target, X, goal=params.goal, max_edits=params.max_edits,
                            tol=params.tol, input_mask=params.input_mask,
                            motifs=motifs or None,
                            batch_size=params.batch_size, device=params.device)
    else:
        res = gradient_design(target, X, goal=params.goal, edit_penalty=params.edit_penalty,
                              max_edits=params.max_edits, n_iter=params.n_iter,
                              learning_rate=params.learning_rate,
                              temperature=params.temperature, n_samples=params.n_samples,
                              input_mask=params.input_mask, patience=params.patience,
                              random_state=params.random_state,
                              device=params.device)
    with staged_outputs(params.output_dir, "design") as stage:
        outputs = DesignOutputs(fasta=str(stage.path / f"{params.name}.fa"),
                                edits=str(stage.path / f"{params.name}.edits.tsv"),
                                summary=str(stage.path / f"{params.name}.summary.tsv"),
                                params=str(stage.path / f"{params.name}.params.json"))
        n_edits = np.zeros(len(names), dtype=int)
        for e in res.edits:
            n_edits[e["sequence"]] += 1
        with atomic_path(outputs.fasta) as tmp:
            with open(tmp, "w") as fh:
                for k, n in enumerate(names):
                    s = one_hot_decode(res.X[k])
                    fh.write(f">{n}_designed value={res.final[k]:.6g}\n")
                    fh.write("\n".join(s[j:j + 80] for j in range(0, len(s), 80)) + "\n")
        with atomic_path(outputs.edits) as tmp:
            with open(tmp, "w") as fh:
                fh.write("sequence\tround\tkind\tposition\tref\talt\tvalue\n")
                for e in res.edits:
                    fh.write(f"{names[e['sequence']]}\t{e['round']}\t{e['kind']}\t{e['position']}"
                             f"\t{e['ref']}\t{e['alt']}\t{e['value']:.6g}\n")
        with atomic_path(outputs.summary) as tmp:
            with open(tmp, "w") as fh:
                fh.write("sequence\tinitial\tfinal\tn_edits\n")
                for k, n in enumerate(names):
                    fh.write(f"{n}\t{res.initial[k]:.6g}\t{res.final[k]:.6g}\t{n_edits[k]}\n")
        dump_config(params, outputs.params)
        return stage.finalize(outputs)


run_design = run
