"""``bpnetkit merge``: join the shards of ``predict`` or ``attribute`` made by separate jobs.

Jobs run with ``shard_index``/``n_shards`` (for example the tasks of a SLURM array) each
write ``<name>.shard<i>-of-<n>.h5`` (and a BED, params JSON and bigWigs). ``merge`` checks that
the shards come from one configuration (the parameters stored in every h5, up to the
shard, device, batch and chunk settings) and tile all rows without gaps or overlaps, then
writes exactly the files of one unsharded run into ``output_dir``: the h5 files in region
order, ``regions.bed``, the params JSON of the step and the bigWigs, rebuilt from the merged
per-region values. (Under ``torchrun`` the steps merge by themselves.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bpnetkit.errors import InputError, require_file
from bpnetkit.steps._regions import find_shard_files, read_part, remove_files
from bpnetkit.steps._staging import staged_outputs
from bpnetkit.steps.base import StepOutputs, summary_field

log = logging.getLogger(__name__)

__all__ = ["MergeParams", "MergeOutputs", "Params", "Outputs", "run", "run_merge"]

_STEMS = {"predict": ["predictions"]}


@dataclass
class MergeParams:
    """Parameters of ``bpnetkit merge``.

    Attributes
    ----------
    kind : {"predict", "attribute"}
        Which step made the shards.
    shards : list of str
        Folders holding the shards (every ``predictions.shard<i>-of-<n>.h5``, or every
        ``attributions_<target>.shard<i>-of-<n>.h5``, is taken; all of ``0..n-1`` must be
        there) and/or the shard h5 files themselves.
    output_dir : str
        Folder of the merged outputs (the files of an unsharded run).
    remove_shards : bool
        Delete the shards' files (h5, BED, params JSON, bigWigs) after a successful merge.
    """

    kind: Literal["predict", "attribute"]
    shards: list[str]
    output_dir: str
    remove_shards: bool = False


@dataclass
class MergeOutputs(StepOutputs):
    """What ``bpnetkit merge`` wrote.

    Attributes
    ----------
    regions_bed : str
        The windows, one line per h5 row.
    h5 : list of str
        The merged h5 files (``predictions.h5``; or one ``attributions_<target>.h5`` per
        target).
    bigwigs : list of str
        The bigWigs rebuilt from the merged values (empty when the step wrote none).
    step_params : str
        The params JSON of the step, as an unsharded run writes it.
    params : str
        This merge's parameters (JSON).
    n_shards : int
        Number of shards merged (row blocks; per target for attributions).
    """

    regions_bed: str
    h5: list[str]
    bigwigs: list[str]
    step_params: str
    params: str
    n_shards: int = summary_field(0)


def _attribution_stems(folder: Path) -> list[str]:
    import re

    pat = re.compile(r"^(attributions_[A-Za-z0-9]+)\.shard\d+-of-\d+\.h5$")
    return sorted({m[1] for p in folder.iterdir() if (m := pat.match(p.name))})


def _shard_files(kind: str, entries: list[str]) -> list[Path]:
    files: list[Path] = []
    for e in entries:
        p = require_file(e, f"{kind} shard (folder or h5)")
        if p.is_dir():
            stems = _STEMS["predict"] if kind == "predict" else _attribution_stems(p)
            if not stems:
                raise InputError(f"{p} holds no shard 'attributions_<target>.shard<i>-of-<n>.h5'"
                                 f"; give the folder the sharded runs wrote or the h5 files.")
            for stem in stems:
                files.extend(find_shard_files(p, stem))
        else:
            files.append(p)
    resolved = [f.resolve() for f in files]
    dup = sorted({str(f) for f in resolved if resolved.count(f) > 1})
    if dup:
        raise InputError(f"shard(s) given twice: {dup[:3]}; list each folder or file once.")
    return files


def run(params: MergeParams) -> MergeOutputs:
    """Merge the shards of ``params`` into the outputs of one unsharded run.

    Parameters
    ----------
    params : MergeParams
        The step's parameters.

    Returns
    -------
    MergeOutputs
        The paths written.

    Raises
    ------
    InputError
        When shards are missing, overlap, or were made with different parameters.
    """
    from bpnetkit.config import dump_config
    from bpnetkit.steps import attribute, predict

    if params.kind not in ("predict", "attribute"):
        raise InputError(f"kind must be 'predict' or 'attribute'; got {params.kind!r}.")
    if not params.shards:
        raise InputError("shards is empty; give the folder of the shards or the shard h5 "
                         "files.")
    files = _shard_files(params.kind, params.shards)
    out_dir = Path(params.output_dir)
    owns = [predict.owned_outputs("")] if params.kind == "predict" else \
        [attribute.owned_outputs("")]
    siblings: list[Path] = []
    with staged_outputs(out_dir, "merge", owns=owns) as stage:
        if params.kind == "predict":
            p = predict.merge_shards_into(files, stage)
            h5 = [p.h5] if p.h5 else []
            bigwigs = list(p.bigwigs)
            if params.remove_shards:
                siblings = [f for s in files
                            for f in predict.shard_siblings(read_part(s, "predict"))]
        else:
            a, checked = attribute.merge_shards_into(files, stage)
            h5, bigwigs, p = list(a.h5.values()), list(a.bigwigs.values()), a
            siblings = [f for ps in checked.values() for s in ps
                        for f in attribute.shard_siblings(s)]
        params_json = str(dump_config(params, stage.path / "merge_params.json"))
        out = stage.finalize(MergeOutputs(regions_bed=p.regions_bed, h5=h5, bigwigs=bigwigs,
                                          step_params=p.params, params=params_json,
                                          n_shards=len(files) // max(1, len(h5))))
    if params.remove_shards:
        remove_files(siblings)
    log.info("%d %s shards merged into %s", len(files), params.kind, out_dir)
    return out


Params = MergeParams
Outputs = MergeOutputs
run_merge = run
