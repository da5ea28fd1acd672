"""``bpnetkit marginalize``: in-silico marginalization of motifs with a trained model.

Reads the model, the motif database and the backgrounds, calls
:func:`bpnetkit.motifs.marginalize.marginalize` (semantics there) and writes:

- ``<name>.tsv``: one row per motif, ranked by ``rank_by`` (the columns of
  :class:`~bpnetkit.motifs.marginalize.MotifEffect` after ``rank``);
- ``<name>.profiles.npz``: ``motifs`` (identifiers), ``background`` ``(S, L_out)`` and
  ``inserted`` ``(M, S, L_out)`` mean predicted profile probabilities, for the report;
- ``<name>.spacing.tsv``: the spacing experiment, when ``spacing_pairs`` is given.

Backgrounds come from ``backgrounds`` (``.npy``/``.npz`` one-hot ``(N, 4, L)`` or an h5 with
``raw/seq``), or from ``regions`` of a ``genome``; without any, random sequences with GC
fraction ``gc`` are used. The HTML page and figures are drawn by the report
(:mod:`bpnetkit.report.motifs`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.motifs.database import load_motif_db, select_motifs
from bpnetkit.motifs.marginalize import (
    MeanProfiles,
    MotifEffect,
    marginalize,
    prepare_backgrounds,
    spacing_effects,
)
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs

logger = logging.getLogger(__name__)


@dataclass
class MarginalizeParams:
    """Parameters of ``bpnetkit marginalize`` (semantics in the module docstring).

    ``motifs``: identifiers or names to test (null = every motif of ``motif_db``).
    ``spacing_pairs``: ``[[a, b], ...]`` motif pairs for the spacing experiment.
    ``n_report``: kept for compatibility of parameter files (the report chooses how many
    motifs it shows).
    """

    model: str
    output_dir: str
    motif_db: str | None = None
    motifs: list[str] | None = None
    backgrounds: str | None = None
    regions: str | None = None
    genome: str | None = None
    in_window: int = 2114
    n_backgrounds: int = 64
    shuffle: bool = True
    gc: float = 0.41
    insertion: Literal["consensus", "sample"] = "consensus"
    rank_by: Literal["counts", "profile"] = "counts"
    attributions: bool = False
    n_shuffles: int = 10
    spacing_pairs: list[list[str]] = field(default_factory=list)
    spacings: list[int] = field(default_factory=lambda: list(range(0, 51, 5)))
    n_report: int = 20
    name: str = "marginalize"
    batch_size: int = 64
    device: str | None = None
    random_state: int = 0

    def validate(self) -> None:
        """Check value ranges and pairs."""
        if self.n_backgrounds < 1:
            raise InputError("marginalize: 'n_backgrounds' must be >= 1.")
        for pair in self.spacing_pairs:
            if len(pair) != 2:
                raise InputError(f"marginalize: every entry of 'spacing_pairs' must be two "
                                 f"motif names, got {pair}.")


@dataclass
class MarginalizeOutputs(StepOutputs):
    """Files written by :func:`run` (None: not written)."""

    effects: str
    profiles: str | None
    params: str
    spacing: str | None = None


Params = MarginalizeParams
Outputs = MarginalizeOutputs


def load_backgrounds(path: str | None = None, regions: str | None = None,
                     genome: str | None = None, length: int = 2114, n: int = 64,
                     shuffle: bool = True, gc: float = 0.41, random_state: int = 0
                     ) -> np.ndarray:
    """Background one-hot sequences (see the module docstring and
    :func:`~bpnetkit.motifs.marginalize.prepare_backgrounds`)."""
    X = None
    if path is not None:
        p = require_file(path, "background sequences")
        if p.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as fh:
                if "raw/seq" not in fh:
                    raise InputError(f"{p}: no 'raw/seq' dataset with one-hot sequences.")
                X = fh["raw/seq"][()]
        elif p.suffix == ".npz":
            with np.load(p) as z:
                X = z[z.files[0]]
        elif p.suffix == ".npy":
            X = np.load(p, allow_pickle=False)
        else:
            raise InputError(f"{p}: backgrounds must be .npy, .npz or .h5 (raw/seq) one-hot "
                             f"(N, 4, L), or give 'regions' with 'genome'.")
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1] != 4:
            raise InputError(f"{p}: expected one-hot (N, 4, L), got {X.shape}.")
    elif regions is not None:
        if genome is None:
            raise InputError("backgrounds from 'regions' need 'genome' (a FASTA).")
        from bpnetkit.data.regions import centered_windows
        from bpnetkit.io.bed import read_regions
        from bpnetkit.io.fasta import Genome, extract_sequences

        g = Genome(genome)
        chroms, starts, ends = centered_windows(read_regions(regions), length,
                                                chrom_sizes=g.chrom_sizes)
        if len(chroms) == 0:
            raise InputError(f"no region of '{regions}' has a full {length} bp window inside "
                             f"its chromosome.")
        X = extract_sequences(g, chroms, starts, ends)
    return prepare_backgrounds(X, n=n, length=length, shuffle=shuffle, gc=gc,
                               random_state=random_state)


def write_rows(path: str | Path, rows: list[dict]) -> Path:
    """Write dicts with the same keys as a TSV (floats with 6 significant digits)."""
    from bpnetkit.utils import write_text_atomic

    header = list(rows[0])
    lines = ["\t".join(header)]
    for r in rows:
        lines.append("\t".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k])
                               for k in header))
    return write_text_atomic(path, "\n".join(lines) + "\n")


def write_profiles(path: str | Path, profiles: MeanProfiles) -> Path:
    """Write :class:`MeanProfiles` as an npz (``motifs``, ``background``, ``inserted``)."""
    from bpnetkit.utils import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, motifs=np.array(profiles.motifs, dtype=str),
                 background=profiles.background, inserted=profiles.inserted)
    return Path(path)


def read_profiles(path: str | Path) -> MeanProfiles:
    """Read the npz written by :func:`write_profiles`."""
    path = require_file(path, "marginalization profiles npz")
    with np.load(path, allow_pickle=False) as z:
        for key in ("motifs", "background", "inserted"):
            if key not in z.files:
                raise InputError(f"{path}: array '{key}' is missing; expected the profiles "
                                 f"npz written by 'bpnetkit marginalize'.")
        return MeanProfiles(z["background"], [str(m) for m in z["motifs"]], z["inserted"])


def rank_effects(effects: list[MotifEffect], rank_by: str = "counts") -> list[MotifEffect]:
    """Effects sorted by decreasing ``delta_log_counts`` (``"counts"``) or ``profile_jsd``."""
    if rank_by == "counts":
        return sorted(effects, key=lambda e: -e.delta_log_counts)
    if rank_by == "profile":
        return sorted(effects, key=lambda e: -e.profile_jsd)
    raise InputError(f"rank_by must be 'counts' or 'profile', got {rank_by!r}.")


def run(params: MarginalizeParams) -> MarginalizeOutputs:
    """Marginalize motifs with a model; write the effects TSV, profiles npz and spacing TSV."""
    from bpnetkit.config import dump_config
    from bpnetkit.models.files import load_model

    params.validate()
    with staged_outputs(params.output_dir, "marginalize",
                        owns=[f"{params.name}.spacing.tsv"]) as stage:
        out = stage.path
        db = load_motif_db(params.motif_db)
        motifs = select_motifs(db, params.motifs)
        if not motifs:
            raise InputError("marginalize: no motifs to marginalize (the motif database is "
                             "empty).")
        pairs = [select_motifs(db, pair) for pair in params.spacing_pairs]
        model = load_model(params.model, device=params.device)
        X = load_backgrounds(params.backgrounds, params.regions, params.genome, params.in_window,
                             params.n_backgrounds, params.shuffle, params.gc, params.random_state)
        effects, profiles = marginalize(model, motifs, X, params.insertion, params.batch_size,
                                        params.device, params.attributions, params.n_shuffles,
                                        params.random_state, return_profiles=True)
        ranked = rank_effects(effects, params.rank_by)
        rows = [{"rank": i + 1, **asdict(e)} for i, e in enumerate(ranked)]
        tsv = write_rows(out / f"{params.name}.tsv", rows)
        npz = write_profiles(out / f"{params.name}.profiles.npz", profiles)
        spacing_rows = []
        for a, b in pairs:
            spacing_rows += spacing_effects(model, a, b, X, params.spacings, params.insertion,
                                            params.batch_size, params.device, params.random_state)
        spacing = str(write_rows(out / f"{params.name}.spacing.tsv", spacing_rows)) \
            if spacing_rows else None
        top = ranked[0]
        logger.info("%d motifs marginalized on %d backgrounds; largest effect: %s %s "
                    "(delta log counts %.3f)", len(ranked), X.shape[0], top.motif, top.name,
                    top.delta_log_counts)
        cfg = dump_config(params, out / f"{params.name}.params.json")
        outputs = MarginalizeOutputs(effects=str(tsv), profiles=str(npz), params=str(cfg),
                                     spacing=spacing)
        return stage.finalize(outputs)


run_marginalize = run
