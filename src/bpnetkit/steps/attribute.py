"""``bpnetkit attribute``: DeepLIFT/SHAP scores for many regions, streamed to disk.

For every target (``counts``, ``profile``) the step writes

- ``attributions_<target>.h5`` in the layout ``modisco motifs -i`` (modisco-lite) reads:
  ``raw/seq`` ``(N, 4, L)`` int8 one-hot, ``shap/seq`` ``(N, 4, L)`` float32 hypothetical
  contributions, ``projected_shap/seq`` ``(N, 4, L)`` actual contributions (hypothetical
  times one-hot), plus ``chrom``/``start``/``end`` of every row;
- ``attributions_<target>.bw``: the projected contributions summed over bases, one value per
  base of the genome (overlapping windows resolved by the nearer window centre);

and ``regions.bed`` with one line per h5 row (the windows, in row order). Regions are
processed in chunks, so memory stays bounded for hundreds of thousands of regions.

The h5 root attributes record the provenance (``world_size``, ``n_shards``, ``shard_index``,
``first_row``, ``n_rows_total``, ``params``). Under ``torchrun`` the ranks share the regions
and rank 0 merges their blocks into exactly these files; shards of separate jobs
(``shard_index``/``n_shards``) are merged by :func:`merge_shards` (``bpnetkit merge``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.steps._regions import (
    Part,
    check_parts,
    check_same_config,
    model_input_length,
    part_attrs,
    rank_block,
    rank_device,
    rank_suffix,
    read_part,
    remove_files,
    run_parts,
    shard_bounds,
    shard_suffix,
    validate_window_params,
    write_window_bigwig,
)
from bpnetkit.steps._staging import Stage, staged_outputs
from bpnetkit.steps.base import StepOutputs

log = logging.getLogger(__name__)

__all__ = ["AttributeParams", "AttributeOutputs", "Params", "Outputs", "merge_shards", "run",
           "run_attribute", "wrap_target", "model_input_length"]


@dataclass
class AttributeParams:
    """Parameters of ``bpnetkit attribute``.

    Attributes
    ----------
    model : str
        Model folder or file (anything :func:`bpnetkit.models.files.load_model` reads).
    genome : str
        Reference FASTA.
    peaks : str
        BED/narrowPeak of the regions to explain (windows centred on summits, else
        midpoints).
    output_dir : str
        Folder for the outputs.
    targets : list of {"counts", "profile"}
        Model outputs to explain.
    in_window : int or None
        Window length fed to the model (None: 2114, or the model's own input length when it
        records one).
    n_shuffles : int
        Dinucleotide-shuffled references per region.
    batch_size : int
        (region, reference) pairs per backward pass.
    chunk_size : int
        Regions per chunk written to disk (bounds memory).
    device : str or None
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; null picks CUDA when available.
    random_state : int
        Seed of the shuffles.
    bigwigs : bool
        Also write bigWigs of the projected contributions.
    chrom_sizes : str or None
        Two-column chromosome sizes file (default: from the FASTA index).
    max_regions : int or None
        Only the first ``max_regions`` regions (quick looks).
    shard_index, n_shards : int
        Process only block ``shard_index`` of ``n_shards`` equal contiguous blocks of the
        regions (one per job, e.g. of a SLURM array); outputs get the suffix
        ``.shard<i>-of-<n>`` and are merged with ``bpnetkit merge``. Under ``torchrun`` the
        ranks split the (sharded) regions further by themselves: no need to set these.
        Scores do not depend on the sharding, the number of ranks or the chunk size: each
        region's references are seeded by ``random_state`` and its row in the full list.
    """

    model: str
    genome: str
    peaks: str
    output_dir: str
    targets: list[Literal["counts", "profile"]] = field(
        default_factory=lambda: ["counts", "profile"])
    in_window: int | None = None
    n_shuffles: int = 20
    batch_size: int = 64
    chunk_size: int = 1024
    device: str | None = None
    random_state: int = 0
    bigwigs: bool = True
    chrom_sizes: str | None = None
    max_regions: int | None = None
    shard_index: int = 0
    n_shards: int = 1

    def validate(self) -> None:
        """Refuse counts that would silently drop or repeat rows (e.g. negative)."""
        validate_window_params("attribute", self,
                               ("batch_size", "chunk_size", "n_shards", "n_shuffles"))


@dataclass
class AttributeOutputs(StepOutputs):
    """What ``bpnetkit attribute`` wrote.

    Attributes
    ----------
    regions_bed : str
        The windows, one line per h5 row (in row order).
    h5 : dict of str to str
        Target (``counts``, ``profile``) -> attribution h5 in the modisco-lite layout.
    bigwigs : dict of str to str
        Target -> bigWig of the projected contributions (empty when ``bigwigs`` is false).
    params : str
        The resolved parameters (JSON).
    """

    regions_bed: str
    h5: dict[str, str]
    bigwigs: dict[str, str]
    params: str


def wrap_target(model: Any, target: str) -> Any:
    """Wrap a (profile, counts) model so it returns the scalar ``target`` per sequence."""
    from bpnetkit.models.wrappers import ControlWrapper, CountWrapper, ProfileWrapper

    if target == "counts":
        return CountWrapper(ControlWrapper(model))
    if target == "profile":
        return ProfileWrapper(ControlWrapper(model))
    raise InputError(f"unknown attribution target {target!r}; use 'counts' or 'profile'.")


def _finish(out_dir: Path, sfx: str, h5_paths: dict[str, Path], resolved: AttributeParams,
            sizes: dict[str, int]) -> AttributeOutputs:
    """Write the regions BED, the params JSON and the bigWigs of complete attribution h5s."""
    import h5py

    from bpnetkit.config import dump_config
    from bpnetkit.io.bed import write_bed

    first = h5_paths[resolved.targets[0]]
    with h5py.File(first, "r") as f:
        chroms = np.char.decode(f["chrom"][()], "utf-8")
        starts, ends = f["start"][()], f["end"][()]
    bed = str(write_bed(out_dir / f"regions{sfx}.bed", chroms, starts, ends))
    params_json = str(dump_config(resolved, out_dir / f"attribute_params{sfx}.json"))
    bigwigs: dict[str, str] = {}
    if resolved.bigwigs:
        step = max(1, resolved.chunk_size)
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".attr_tmp_") as tmpdir:
            for t in resolved.targets:
                with h5py.File(h5_paths[t], "r") as f:
                    proj = f["projected_shap/seq"]
                    N, _, L = proj.shape
                    sums = np.lib.format.open_memmap(Path(tmpdir) / f"{t}.npy", mode="w+",
                                                     dtype=np.float32, shape=(N, L))
                    for c0 in range(0, N, step):
                        sums[c0:c0 + step] = proj[c0:c0 + step].sum(axis=1)
                bigwigs[t] = str(write_window_bigwig(out_dir / f"attributions_{t}{sfx}.bw",
                                                     sizes, chroms, starts, sums))
                del sums
    return AttributeOutputs(regions_bed=bed, h5={t: str(p) for t, p in h5_paths.items()},
                            bigwigs=bigwigs, params=params_json)


def _target_attrs(resolved: AttributeParams, target: str) -> dict[str, Any]:
    return {"target": target, "n_shuffles": resolved.n_shuffles,
            "random_state": resolved.random_state}


def _merge_parts(parts: list[Part], path: Path, lo: int, attrs: dict[str, Any],
                 chunk_size: int) -> None:
    """Merge checked parts (one target) tiling rows from ``lo`` into one attribution h5."""
    import h5py

    from bpnetkit.io.attributions import AttributionWriter

    chroms, starts, ends = [], [], []
    L = None
    for part in parts:
        with h5py.File(part.path, "r") as f:
            chroms.append(np.char.decode(f["chrom"][()], "utf-8"))
            starts.append(f["start"][()])
            ends.append(f["end"][()])
            L = int(f["raw/seq"].shape[2])
    with AttributionWriter(path, np.concatenate(chroms), np.concatenate(starts),
                           np.concatenate(ends), L, attrs=attrs) as w:
        for part in parts:
            with h5py.File(part.path, "r") as f:
                for a in range(0, part.n_rows, chunk_size):
                    w.write(part.first_row - lo + a, f["raw/seq"][a:a + chunk_size],
                            f["shap/seq"][a:a + chunk_size])


def _genome_sizes(params: AttributeParams) -> dict[str, int]:
    from bpnetkit.io.chrom_sizes import read_chrom_sizes
    from bpnetkit.io.fasta import Genome

    return read_chrom_sizes(params.chrom_sizes) if params.chrom_sizes else \
        dict(Genome(params.genome).chrom_sizes)


def run(params: AttributeParams) -> AttributeOutputs:
    """Compute and write attributions for ``params.peaks``.

    Under ``torchrun`` (``WORLD_SIZE > 1``) every rank explains its contiguous block of the
    regions (of the block ``shard_index`` of ``n_shards``), rank 0 merges the blocks into the
    files one process writes and removes them, and every rank returns the same Outputs.

    Parameters
    ----------
    params : AttributeParams
        The step's parameters.

    Returns
    -------
    AttributeOutputs
        The paths written.
    """
    import torch

    from bpnetkit import dist
    from bpnetkit.data.regions import centered_windows
    from bpnetkit.interpret.deeplift import deep_lift_shap
    from bpnetkit.io.attributions import AttributionWriter
    from bpnetkit.io.bed import read_regions
    from bpnetkit.io.fasta import Genome, extract_sequences
    from bpnetkit.models.files import load_model
    from bpnetkit.utils import progress

    params.validate()
    if params.n_shuffles < 1 or params.batch_size < 1 or params.chunk_size < 1:
        raise InputError("n_shuffles, batch_size and chunk_size must be positive.")
    if not params.targets:
        raise InputError("targets is empty; give at least one of 'counts', 'profile'.")
    for t in params.targets:
        if t not in ("counts", "profile"):
            raise InputError(f"unknown attribution target {t!r}; use 'counts' or 'profile'.")
    ctx = dist.init_from_env()
    final_dir = Path(params.output_dir)
    genome = Genome(params.genome)
    sizes = _genome_sizes(params)
    regions = read_regions(params.peaks)
    if params.max_regions is not None:
        regions = regions.subset(np.arange(min(len(regions), params.max_regions)))
    device = rank_device(params.device, ctx)
    model = load_model(params.model, device=device)
    L = params.in_window or model_input_length(model)
    chroms, starts, ends = centered_windows(regions, L, chrom_sizes=sizes)
    if len(chroms) == 0:
        raise InputError(f"no region of '{params.peaks}' has a full {L} bp window inside its "
                         f"chromosome; check the genome and the regions.")
    n_total = len(chroms)
    # each region's references are seeded by its row in the full list: results do not
    # depend on shards, ranks or chunks
    row_seeds = np.random.SeedSequence(params.random_state).generate_state(
        n_total, dtype=np.uint32).astype(np.int64)
    lo, hi = shard_bounds(n_total, params.shard_index, params.n_shards)
    sfx = shard_suffix(params.shard_index, params.n_shards)
    resolved = dataclasses.replace(params, in_window=L)
    wrapped = {t: wrap_target(model, t) for t in params.targets}

    def write_rows(paths: dict[str, Path], a: int, b: int, attrs: dict[str, Any]) -> None:
        with contextlib.ExitStack() as stack:
            writers = {t: stack.enter_context(AttributionWriter(
                paths[t], chroms[a:b], starts[a:b], ends[a:b], L,
                attrs={**_target_attrs(resolved, t), **attrs}))
                for t in params.targets}
            for c0 in progress(range(a, b, params.chunk_size), desc="attribute", unit="chunk"):
                c1 = min(b, c0 + params.chunk_size)
                X = extract_sequences(genome, chroms[c0:c1], starts[c0:c1], ends[c0:c1])
                empty = X.reshape(len(X), -1).sum(axis=1) == 0
                if empty.any():
                    i = int(np.flatnonzero(empty)[0]) + c0
                    raise InputError(f"region {chroms[i]}:{starts[i]}-{ends[i]} (row {i}) is "
                                     f"all N; remove assembly gaps from the regions.")
                Xt = torch.from_numpy(X)
                for t in params.targets:
                    hyp = deep_lift_shap(wrapped[t], Xt, n_shuffles=params.n_shuffles,
                                         batch_size=params.batch_size, device=device,
                                         random_state=row_seeds[c0:c1],
                                         hypothetical=True).numpy()
                    writers[t].write(c0 - a, X, hyp)

    owns = [owned_outputs(sfx)]
    if not ctx.distributed:
        with staged_outputs(final_dir, "attribute", owns=owns) as stage:
            h5_paths = {t: stage.path / f"attributions_{t}{sfx}.h5" for t in params.targets}
            write_rows(h5_paths, lo, hi, part_attrs("attribute", resolved, world_size=1,
                                                    first_row=lo, n_rows_total=n_total))
            out = stage.finalize(_finish(stage.path, sfx, h5_paths, resolved, sizes))
        log.info("attributions for %d regions written to %s", hi - lo, final_dir)
        return out

    with staged_outputs(final_dir, "attribute", publish=ctx.is_main, owns=owns) as stage:
        out = _run_ranks(ctx, stage, lo, hi, n_total, sfx, resolved, sizes, write_rows)
    dist.barrier("attribute: rank 0 moves the outputs into place")
    return out


def owned_outputs(sfx: str) -> re.Pattern[str]:
    """The attribution h5 files and bigWigs of a run with shard suffix ``sfx``."""
    return re.compile(rf"attributions_(counts|profile){re.escape(sfx)}\.(h5|bw)")


def _run_ranks(ctx: Any, stage: Stage, lo: int, hi: int, n_total: int, sfx: str,
               resolved: AttributeParams, sizes: dict[str, int], write_rows: Any
               ) -> AttributeOutputs:
    """Under ``torchrun``: each rank writes its block into its own stage, rank 0 merges the
    blocks into its stage and every rank returns rank 0's Outputs (final paths)."""
    params = resolved
    out_dir = stage.path
    h5_paths = {t: out_dir / f"attributions_{t}{sfx}.h5" for t in params.targets}
    a, b = rank_block(lo, hi, ctx)
    rsfx = rank_suffix(sfx, ctx.rank, ctx.world_size)
    part_paths = {t: out_dir / f"attributions_{t}{rsfx}.h5" for t in params.targets}

    def compute() -> list[str]:
        write_rows(part_paths, a, b, part_attrs("attribute", resolved,
                                                world_size=ctx.world_size, first_row=a,
                                                n_rows_total=n_total, rank=ctx.rank))
        log.info("rank %d: attributions for regions %d-%d written", ctx.rank, a, b)
        return [str(part_paths[t]) for t in params.targets]

    def merge(all_parts: list[list[str]]) -> AttributeOutputs:
        attrs = part_attrs("attribute", resolved, world_size=ctx.world_size, first_row=lo,
                           n_rows_total=n_total)
        for k, t in enumerate(params.targets):
            parts = check_parts([read_part(ps[k], "attribute") for ps in all_parts], lo, hi)
            _merge_parts(parts, h5_paths[t], lo, {**_target_attrs(resolved, t), **attrs},
                         params.chunk_size)
        out = _finish(out_dir, sfx, h5_paths, resolved, sizes)
        remove_files(p for ps in all_parts for p in ps)
        log.info("attributions for %d regions from %d ranks merged into %s", hi - lo,
                 ctx.world_size, stage.out_dir)
        return stage.finalize(out)

    return run_parts(ctx, "attribute", compute, merge)


def merge_shards(shards: list[str | Path], output_dir: str | Path,
                 remove_shards: bool = False) -> AttributeOutputs:
    """Merge ``attributions_<target>.shard<i>-of-<n>.h5`` files of separate jobs into the
    outputs of one unsharded run (h5 per target, regions BED, params JSON, bigWigs).

    Parameters
    ----------
    shards : list of str or Path
        Every shard h5 of every target (checked: same parameters, no missing or overlapping
        rows, every target complete).
    output_dir : str or Path
        Folder of the merged outputs.
    remove_shards : bool
        Delete the shards' files (h5, BED, params JSON, bigWigs) after merging.
    """
    with staged_outputs(output_dir, "merge", owns=[owned_outputs("")]) as stage:
        out, checked = merge_shards_into(shards, stage)
        out = stage.finalize(out)
    if remove_shards:
        remove_files(f for ps in checked.values() for p in ps for f in shard_siblings(p))
    log.info("attribution shards merged into %s", output_dir)
    return out


def merge_shards_into(shards: list[str | Path], stage: Stage
                      ) -> tuple[AttributeOutputs, dict[str, list[Part]]]:
    """Merge attribution shards into the staging folder ``stage.path`` (paths there), as
    :func:`merge_shards` does into its output folder; also return the checked shards."""
    from bpnetkit.config import from_dict

    by_target: dict[str, list[Part]] = {}
    for p in shards:
        part = read_part(p, "attribute")
        by_target.setdefault(str(part.attrs.get("target")), []).append(part)
    checked = {t: check_parts(ps) for t, ps in by_target.items()}
    ref = next(iter(checked.values()))[0]
    resolved = from_dict(AttributeParams, ref.params, where=str(ref.path))
    if sorted(checked) != sorted(resolved.targets):
        raise InputError(f"the shards hold targets {sorted(checked)} but were computed for "
                         f"{sorted(resolved.targets)}; give the shards of every target.")
    check_same_config([ps[0] for ps in checked.values()])
    out_dir = stage.path
    resolved = dataclasses.replace(resolved, output_dir=str(stage.out_dir), shard_index=0,
                                   n_shards=1)
    h5_paths = {t: out_dir / f"attributions_{t}.h5" for t in resolved.targets}
    for t, ps in checked.items():
        final_h5 = stage.out_dir / f"attributions_{t}.h5"
        if any(p.path.resolve() == final_h5.resolve() for p in ps):
            raise InputError(f"{final_h5} is one of the shards; merge into another "
                             f"output_dir.")
        attrs = part_attrs("attribute", resolved, world_size=max(p.world_size for p in ps),
                           first_row=0, n_rows_total=ref.n_rows_total)
        attrs["merged_shards"] = len(ps)
        _merge_parts(ps, h5_paths[t], 0, {**_target_attrs(resolved, t), **attrs},
                     resolved.chunk_size)
    return _finish(out_dir, "", h5_paths, resolved, _genome_sizes(resolved)), checked


def shard_siblings(part: Part) -> list[Path]:
    """A shard h5 and the files written beside it by the same run."""
    n, i = int(part.attrs.get("n_shards", 1)), int(part.attrs.get("shard_index", 0))
    sfx = shard_suffix(i, n)
    out = [part.path]
    t = part.attrs.get("target")
    if sfx and part.path.name == f"attributions_{t}{sfx}.h5":
        d = part.path.parent
        out += [d / f"regions{sfx}.bed", d / f"attribute_params{sfx}.json",
                d / f"attributions_{t}{sfx}.bw"]
    return out


Params = AttributeParams
Outputs = AttributeOutputs
run_attribute = run
