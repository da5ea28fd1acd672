"""``bpnetkit seqlets``: call seqlets on an attribution h5 and write them as a BED file.

The algorithm is :func:`bpnetkit.motifs.seqlets.call_seqlets`; this step reads the
attributions, calls it and writes ``<name>.bed`` (BED6+6, columns in :data:`BED_COLUMNS`,
genome coordinates) next to ``<name>.params.json``. :func:`read_seqlet_bed` reads the BED
back (the annotate step uses it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.motifs.seqlets import Seqlets, call_seqlets
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs

logger = logging.getLogger(__name__)

BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand", "attribution", "p_value",
               "sign", "example", "core_start", "core_end"]


@dataclass
class SeqletsParams:
    """Parameters of ``bpnetkit seqlets`` (see :func:`call_seqlets` for the semantics).

    ``attributions`` is the h5 written by ``bpnetkit attribute``; ``regions`` the BED of its
    rows (null: coordinates stored in the h5, or ``row<i>``).
    """

    attributions: str
    output_dir: str
    regions: str | None = None
    name: str = "seqlets"
    method: Literal["fdr", "threshold"] = "fdr"
    fdr: float = 0.05
    threshold: float = 0.001
    min_length: int = 4
    max_length: int = 20
    flank: int = 0
    sign: Literal["both", "positive", "negative"] = "both"
    n_null: int = 200_000
    max_seqlets_per_example: int = 0
    random_state: int = 0
    min_z: float = 3.0
    clip: float = 5.0

    def validate(self) -> None:
        """Check value ranges."""
        if self.method not in ("fdr", "threshold"):
            raise InputError(f"seqlets: method must be 'fdr' or 'threshold', got "
                             f"{self.method!r}.")
        if not 0 < self.fdr < 1:
            raise InputError(f"seqlets: fdr must be in (0, 1), got {self.fdr}.")
        if not 1 <= self.min_length <= self.max_length:
            raise InputError(f"seqlets: need 1 <= min_length <= max_length, got "
                             f"{self.min_length}, {self.max_length}.")
        if not 0 < self.threshold <= 1:
            raise InputError(f"seqlets: threshold must be in (0, 1], got {self.threshold}.")
        if not self.clip > 0:
            raise InputError(f"seqlets: clip must be > 0, got {self.clip}.")


@dataclass
class SeqletsOutputs(StepOutputs):
    """Files written by :func:`run`.

    Attributes
    ----------
    seqlets : str
        BED6+6 of the seqlets (only a header line when none were found).
    params : str
        The resolved parameters (JSON).
    """

    seqlets: str
    params: str


Params = SeqletsParams
Outputs = SeqletsOutputs


def write_seqlet_bed(path: str | Path, seqlets: Seqlets, chroms: np.ndarray,
                     starts: np.ndarray) -> Path:
    """Write seqlets as BED6+6 in genome coordinates (columns in :data:`BED_COLUMNS`).

    ``start``/``end`` are the flanked span, ``core_start``/``core_end`` the core, all
    0-based half-open genome coordinates; ``score`` is ``min(1000, -10 log10 p)``.
    """
    from bpnetkit.utils import atomic_path

    lines = ["#" + "\t".join(BED_COLUMNS)]
    for k in range(len(seqlets)):
        n = int(seqlets.example[k])
        off = int(starts[n])
        sgn = int(seqlets.sign[k])
        score = int(min(1000, round(-10 * np.log10(seqlets.p_value[k]))))
        lines.append("\t".join([
            str(chroms[n]), str(off + int(seqlets.start[k])), str(off + int(seqlets.end[k])),
            f"seqlet_{k}_{'pos' if sgn > 0 else 'neg'}", str(score), ".",
            f"{seqlets.attribution[k]:.6g}", f"{seqlets.p_value[k]:.4g}", str(sgn), str(n),
            str(off + int(seqlets.core_start[k])), str(off + int(seqlets.core_end[k]))]))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return Path(path)


def read_seqlet_bed(path: str | Path) -> dict[str, np.ndarray]:
    """Read a BED written by :func:`write_seqlet_bed` into column arrays."""
    path = require_file(path, "seqlet BED")
    rows = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) != len(BED_COLUMNS):
                raise InputError(f"{path}, line {lineno}: expected {len(BED_COLUMNS)} columns "
                                 f"({', '.join(BED_COLUMNS)}), found {len(f)}.")
            rows.append(f)
    cols = list(zip(*rows)) if rows else [[] for _ in BED_COLUMNS]
    out: dict[str, np.ndarray] = {}
    for name, vals in zip(BED_COLUMNS, cols):
        if name in ("chrom", "name", "strand"):
            out[name] = np.array(vals, dtype=object)
        elif name in ("attribution", "p_value"):
            out[name] = np.array(vals, dtype=np.float64)
        else:
            out[name] = np.array(vals, dtype=np.int64)
    return out


def run(params: SeqletsParams) -> SeqletsOutputs:
    """Call seqlets on an attribution h5 and write ``<name>.bed`` (+ resolved params JSON).

    An empty result is written as a BED with only the header line, and a warning says how
    to get seqlets (a larger ``fdr`` or ``threshold``, or a smaller ``min_length``).
    """
    from bpnetkit.config import dump_config
    from bpnetkit.io.attributions import read_position_scores

    params.validate()
    with staged_outputs(params.output_dir, "seqlets") as stage:
        out = stage.path
        scores, chroms, starts = read_position_scores(params.attributions, params.regions)
        seq = call_seqlets(scores, method=params.method, fdr=params.fdr, min_z=params.min_z,
                           clip=params.clip,
                           threshold=params.threshold,
                           min_length=params.min_length, max_length=params.max_length,
                           flank=params.flank, sign=params.sign, n_null=params.n_null,
                           max_seqlets_per_example=params.max_seqlets_per_example,
                           random_state=params.random_state)
        bed = write_seqlet_bed(out / f"{params.name}.bed", seq, chroms, starts)
        if len(seq) == 0:
            how = (f"at FDR {params.fdr:g}; the attributions do not stand out from their own "
                   "permutations. Try a larger fdr, or method 'threshold' (no false discovery "
                   "control)" if params.method == "fdr" else
                   f"at threshold {params.threshold:g}. Try a larger threshold")
            logger.warning("no seqlets found in %s %s, or a smaller min_length; the BED has only "
                           "a header.", params.attributions, how)
        else:
            logger.info("%d seqlets (%d positive) in %d regions", len(seq),
                        int((seq.sign > 0).sum()), len(np.unique(seq.example)))
        cfg = dump_config(params, out / f"{params.name}.params.json")
        return stage.finalize(SeqletsOutputs(seqlets=str(bed), params=str(cfg)))


run_seqlets = run
