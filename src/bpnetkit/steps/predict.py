"""``bpnetkit predict``: model predictions for regions or whole chromosomes, written to disk.

Outputs in ``output_dir``:

- ``predictions.h5``: ``logits`` ``(N, S, L_out)`` and ``log_counts`` ``(N, C)`` float32, plus
  ``chrom``/``start``/``end`` of each row's output window;
- ``regions.bed``: the output windows, one line per h5 row;
- ``predicted_<track>.bw``: the predicted signal ``softmax(logits) * exp(log_counts)`` per
  base (tracks ``plus``/``minus`` for stranded models, ``signal`` for one track), where
  windows overlap each base takes the window with the nearer centre.

The h5 root attributes record the provenance (``world_size``, ``n_shards``, ``shard_index``,
``first_row``, ``n_rows_total``, ``params``). Under ``torchrun`` the ranks share the windows
and rank 0 merges their blocks into exactly these files; shards of separate jobs
(``shard_index``/``n_shards``) are merged by :func:`merge_shards` (``bpnetkit merge``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.steps._regions import (
    Part,
    check_parts,
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

__all__ = ["PredictParams", "PredictOutputs", "Params", "Outputs", "merge_shards", "run",
           "run_predict", "tile_chromosomes"]


@dataclass
class PredictParams:
    """Parameters of ``bpnetkit predict``.

    Attributes
    ----------
    model : str
        Model folder or file (anything :func:`bpnetkit.models.files.load_model` reads).
    genome : str
        Reference FASTA.
    output_dir : str
        Folder for the outputs.
    peaks : str or None
        BED/narrowPeak of regions (windows centred on summits, else midpoints). When null,
        the chromosomes in ``chroms`` are tiled.
    chroms : list of str
        Chromosomes to tile when ``peaks`` is null (empty: all chromosomes of the genome).
    controls : list of str
        Control bigWigs for models with control tracks (empty: zero controls).
    in_window : int or None
        Model input length (None: 2114).
    batch_size : int
        Sequences per forward pass.
    chunk_size : int
        Windows per chunk written to disk (bounds memory).
    device : str or None
        Device; null picks CUDA when available.
    rc_average : bool
        Average with the prediction for the reverse complement.
    bigwigs : bool
        Write bigWigs of the predicted signal.
    chrom_sizes : str or None
        Two-column chromosome sizes (default: from the FASTA index).
    max_regions : int or None
        Only the first ``max_regions`` windows.
    shard_index, n_shards : int
        Process only block ``shard_index`` of ``n_shards`` equal contiguous blocks of the
        windows (one per job, e.g. of a SLURM array); outputs get the suffix
        ``.shard<i>-of-<n>`` and are merged with ``bpnetkit merge``. Under ``torchrun`` the
        ranks split the (sharded) windows further by themselves: no need to set these.
    """

    model: str
    genome: str
    output_dir: str
    peaks: str | None = None
    chroms: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    in_window: int | None = None
    batch_size: int = 64
    chunk_size: int = 2048
    device: str | None = None
    rc_average: bool = False
    bigwigs: bool = True
    chrom_sizes: str | None = None
    max_regions: int | None = None
    shard_index: int = 0
    n_shards: int = 1

    def validate(self) -> None:
        """Refuse counts that would silently drop or repeat rows (e.g. negative)."""
        validate_window_params("predict", self, ("batch_size", "chunk_size", "n_shards"))


@dataclass
class PredictOutputs(StepOutputs):
    """What ``bpnetkit predict`` wrote.

    Attributes
    ----------
    regions_bed : str
        The output windows, one line per h5 row.
    h5 : str or None
        ``predictions.h5`` (``logits``, ``log_counts``, ``chrom``/``start``/``end``).
    bigwigs : list of str
        Predicted-signal bigWigs, one per track in track order (``[plus, minus]`` for a
        stranded model, ``[signal]`` for one track); empty when ``bigwigs`` is false.
    params : str
        The resolved parameters (JSON).
    """

    regions_bed: str
    h5: str | None
    bigwigs: list[str]
    params: str


def tile_chromosomes(chrom_sizes: dict[str, int], chroms: list[str], in_window: int,
                     out_window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input windows whose output windows tile each chromosome (the last one flush right).

    Returns ``(chroms, starts, ends)`` of the *input* windows; chromosomes shorter than
    ``in_window`` are skipped.
    """
    trim = (in_window - out_window) // 2
    cs, ss = [], []
    for c in chroms:
        size = chrom_sizes[c]
        if size < in_window:
            log.warning("chromosome %s (%d bp) is shorter than the %d bp input window; "
                        "skipped.", c, size, in_window)
            continue
        out_starts = list(range(trim, size - trim - out_window + 1, out_window))
        last = size - trim - out_window
        if not out_starts or out_starts[-1] != last:
            out_starts.append(last)
        ss.extend(s - trim for s in out_starts)
        cs.extend([c] * len(out_starts))
    starts = np.asarray(ss, dtype=np.int64)
    return np.asarray(cs, dtype=object), starts, starts + in_window


def _track_names(n: int) -> list[str]:
    if n == 1:
        return ["signal"]
    if n == 2:
        return ["plus", "minus"]
    return [f"track{i}" for i in range(n)]


def _write_predictions(path: Path, chroms: np.ndarray, out_starts: np.ndarray,
                       out_ends: np.ndarray, L: int, L_out: int, attrs: dict,
                       blocks: Iterable[tuple[int, np.ndarray, np.ndarray]],
                       joint_strands: bool | None) -> None:
    """Write ``predictions.h5`` (atomically) from ``(row, logits, log_counts)`` blocks.

    The one writer of the layout: a single run, a rank's part and a merge all use it, so a
    merged file equals the file one process writes.
    """
    import h5py

    from bpnetkit.utils import atomic_path

    N = len(chroms)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["in_window"] = L
        f.attrs["out_window"] = L_out
        for k, v in attrs.items():
            f.attrs[k] = v
        f.create_dataset("chrom", data=np.asarray(chroms).astype("S"))
        f.create_dataset("start", data=np.asarray(out_starts, dtype=np.int64))
        f.create_dataset("end", data=np.asarray(out_ends, dtype=np.int64))
        logits_ds = counts_ds = None
        for row, logits, log_counts in blocks:
            if logits_ds is None:
                S = logits.shape[1]
                logits_ds = f.create_dataset("logits", (N, S, L_out), dtype="f4",
                                             chunks=(min(N, 64), S, L_out))
                counts_ds = f.create_dataset("log_counts", (N, log_counts.shape[1]),
                                             dtype="f4")
                if joint_strands is None:
                    joint_strands = log_counts.shape[1] == 1
            logits_ds[row:row + len(logits)] = logits
            counts_ds[row:row + len(logits)] = log_counts
        if joint_strands is not None:
            f.attrs["joint_strands"] = bool(joint_strands)


def _finish(out_dir: Path, sfx: str, h5_path: Path, resolved: PredictParams,
            sizes: dict[str, int]) -> PredictOutputs:
    """Write the regions BED, the params JSON and the bigWigs of a complete predictions h5."""
    import h5py
    import torch

    from bpnetkit.config import dump_config
    from bpnetkit.io.bed import write_bed
    from bpnetkit.models.wrappers import predicted_track

    with h5py.File(h5_path, "r") as f:
        chroms = np.char.decode(f["chrom"][()], "utf-8")
        out_starts, out_ends = f["start"][()], f["end"][()]
        bed = str(write_bed(out_dir / f"regions{sfx}.bed", chroms, out_starts, out_ends))
        params_json = str(dump_config(resolved, out_dir / f"predict_params{sfx}.json"))
        bigwigs: list[str] = []
        if not resolved.bigwigs or "logits" not in f:
            return PredictOutputs(regions_bed=bed, h5=str(h5_path), bigwigs=bigwigs,
                                  params=params_json)
        N, S, L_out = f["logits"].shape
        joint = bool(f.attrs["joint_strands"])
        step = max(1, resolved.chunk_size)
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".predict_tmp_") as tmpdir:
            tracks = np.lib.format.open_memmap(Path(tmpdir) / "tracks.npy", mode="w+",
                                               dtype=np.float32, shape=(S, N, L_out))
            for c0 in range(0, N, step):
                track = predicted_track(torch.from_numpy(f["logits"][c0:c0 + step]),
                                        torch.from_numpy(f["log_counts"][c0:c0 + step]),
                                        joint_strands=joint)
                tracks[:, c0:c0 + len(track)] = track.numpy().transpose(1, 0, 2)
            for s, name in enumerate(_track_names(S)):
                p = write_window_bigwig(out_dir / f"predicted_{name}{sfx}.bw", sizes, chroms,
                                        out_starts, tracks[s])
                bigwigs.append(str(p))
            del tracks
    return PredictOutputs(regions_bed=bed, h5=str(h5_path), bigwigs=bigwigs,
                          params=params_json)


def owned_outputs(sfx: str) -> re.Pattern[str]:
    """The predicted-signal bigWigs of a run with shard suffix ``sfx`` (whatever tracks)."""
    return re.compile(rf"predicted_[^.]+{re.escape(sfx)}\.bw")


def _part_blocks(parts: list[Part], lo: int, step: int
                 ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    import h5py

    for part in parts:
        if part.n_rows == 0:
            continue
        with h5py.File(part.path, "r") as f:
            for a in range(0, part.n_rows, step):
                yield (part.first_row - lo + a, f["logits"][a:a + step],
                       f["log_counts"][a:a + step])


def _merge_parts(parts: list[Part], h5_path: Path, lo: int, hi: int, attrs: dict,
                 chunk_size: int) -> None:
    """Merge checked parts tiling rows ``[lo, hi)`` into one predictions h5."""
    import h5py

    chroms, starts, ends = [], [], []
    L = L_out = None
    joint = None
    for part in parts:
        with h5py.File(part.path, "r") as f:
            chroms.append(np.char.decode(f["chrom"][()], "utf-8"))
            starts.append(f["start"][()])
            ends.append(f["end"][()])
            L, L_out = int(f.attrs["in_window"]), int(f.attrs["out_window"])
            if joint is None and "joint_strands" in f.attrs:
                joint = bool(f.attrs["joint_strands"])
    _write_predictions(h5_path, np.concatenate(chroms), np.concatenate(starts),
                       np.concatenate(ends), L, L_out, attrs,
                       _part_blocks(parts, lo, chunk_size), joint)


def _genome_sizes(params: PredictParams | Any) -> dict[str, int]:
    from bpnetkit.io.chrom_sizes import read_chrom_sizes
    from bpnetkit.io.fasta import Genome

    return read_chrom_sizes(params.chrom_sizes) if params.chrom_sizes else \
        dict(Genome(params.genome).chrom_sizes)


def run(params: PredictParams) -> PredictOutputs:
    """Predict for the regions (or tiled chromosomes) of ``params`` and write the outputs.

    Under ``torchrun`` (``WORLD_SIZE > 1``) every rank predicts its contiguous block of the
    windows (of the block ``shard_index`` of ``n_shards``), rank 0 merges the blocks into the
    files one process writes and removes them, and every rank returns the same Outputs.

    Parameters
    ----------
    params : PredictParams
        The step's parameters.

    Returns
    -------
    PredictOutputs
        The paths written.
    """
    import torch

    from bpnetkit import dist
    from bpnetkit.data.regions import centered_windows
    from bpnetkit.data.signals import extract_signals
    from bpnetkit.interpret.predict import predict
    from bpnetkit.io.bed import read_regions
    from bpnetkit.io.fasta import Genome, extract_sequences
    from bpnetkit.models.files import load_model
    from bpnetkit.utils import progress

    params.validate()
    if params.batch_size < 1 or params.chunk_size < 1:
        raise InputError("batch_size and chunk_size must be positive.")
    ctx = dist.init_from_env()
    final_dir = Path(params.output_dir)
    genome = Genome(params.genome)
    sizes = _genome_sizes(params)
    device = rank_device(params.device, ctx)
    model = load_model(params.model, device=device)
    L = params.in_window or model_input_length(model)
    if not hasattr(model, "output_length"):
        raise InputError("the model does not say its output length (no output_length()); "
                         "bpnetkit predict supports BPNet-family models.")
    L_out = int(model.output_length(L))
    trim = (L - L_out) // 2
    if params.peaks:
        regions = read_regions(params.peaks)
        # centre the output window on the summit; the input window shares the centre
        chroms, starts, ends = centered_windows(regions, L, chrom_sizes=sizes)
    else:
        chroms_to_tile = params.chroms or list(sizes)
        missing = [c for c in chroms_to_tile if c not in sizes]
        if missing:
            raise InputError(f"chroms {missing[:5]} are not in the genome; available: "
                             f"{list(sizes)[:10]}.")
        chroms, starts, ends = tile_chromosomes(sizes, chroms_to_tile, L, L_out)
    if params.max_regions is not None:
        chroms, starts, ends = (chroms[:params.max_regions], starts[:params.max_regions],
                                ends[:params.max_regions])
    if len(chroms) == 0:
        raise InputError(f"no window of {L} bp fits; check the regions and the genome.")
    n_total = len(chroms)
    lo, hi = shard_bounds(n_total, params.shard_index, params.n_shards)
    sfx = shard_suffix(params.shard_index, params.n_shards)
    n_ctl = int(getattr(model, "n_control_tracks", 0) or 0)
    if params.controls and not n_ctl:
        log.warning("the model takes no control tracks; the %d control bigWigs given are not "
                    "used.", len(params.controls))
    elif params.controls and len(params.controls) != n_ctl:
        raise InputError(f"the model expects {n_ctl} control tracks but 'controls' lists "
                         f"{len(params.controls)} bigWigs.")
    out_starts, out_ends = starts + trim, starts + trim + L_out
    resolved = dataclasses.replace(params, in_window=L)
    joint = getattr(model, "joint_strands", None)

    def blocks(a: int, b: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for c0 in progress(range(a, b, params.chunk_size), desc="predict", unit="chunk"):
            c1 = min(b, c0 + params.chunk_size)
            X = extract_sequences(genome, chroms[c0:c1], starts[c0:c1], ends[c0:c1])
            args = None  # no control bigWigs: predict uses zero controls
            if n_ctl and params.controls:
                args = [torch.from_numpy(extract_signals(params.controls, chroms[c0:c1],
                                                         starts[c0:c1], ends[c0:c1]))]
            y = predict(model, torch.from_numpy(X), args=args, batch_size=params.batch_size,
                        device=device, rc_average=params.rc_average)
            if not isinstance(y, tuple) or len(y) < 2:
                raise InputError("bpnetkit predict needs a model returning (profile logits, "
                                 "log counts).")
            yield c0 - a, y[0].float().numpy(), y[1].float().numpy()

    def write_rows(path: Path, a: int, b: int, attrs: dict) -> None:
        _write_predictions(path, chroms[a:b], out_starts[a:b], out_ends[a:b], L, L_out, attrs,
                           blocks(a, b), None if joint is None else bool(joint))

    owns = [owned_outputs(sfx)]
    if not ctx.distributed:
        with staged_outputs(final_dir, "predict", owns=owns) as stage:
            h5_path = stage.path / f"predictions{sfx}.h5"
            write_rows(h5_path, lo, hi, part_attrs("predict", resolved, world_size=1,
                                                   first_row=lo, n_rows_total=n_total))
            out = stage.finalize(_finish(stage.path, sfx, h5_path, resolved, sizes))
        log.info("predictions for %d windows written to %s", hi - lo, final_dir)
        return out

    with staged_outputs(final_dir, "predict", publish=ctx.is_main, owns=owns) as stage:
        out = _run_ranks(ctx, stage, lo, hi, n_total, sfx, resolved, sizes, write_rows)
    dist.barrier("predict: rank 0 moves the outputs into place")
    return out


def _run_ranks(ctx: Any, stage: Stage, lo: int, hi: int, n_total: int, sfx: str,
               resolved: PredictParams, sizes: dict[str, int], write_rows: Any
               ) -> PredictOutputs:
    """Under ``torchrun``: each rank writes its block into its own stage, rank 0 merges the
    blocks into its stage and every rank returns rank 0's Outputs (final paths)."""
    out_dir = stage.path
    h5_path = out_dir / f"predictions{sfx}.h5"
    a, b = rank_block(lo, hi, ctx)
    part_path = out_dir / f"predictions{rank_suffix(sfx, ctx.rank, ctx.world_size)}.h5"

    def compute() -> list[str]:
        write_rows(part_path, a, b, part_attrs("predict", resolved, world_size=ctx.world_size,
                                               first_row=a, n_rows_total=n_total,
                                               rank=ctx.rank))
        log.info("rank %d: predictions for windows %d-%d written", ctx.rank, a, b)
        return [str(part_path)]

    def merge(all_parts: list[list[str]]) -> PredictOutputs:
        files = [p for ps in all_parts for p in ps]
        parts = check_parts([read_part(p, "predict") for p in files], lo, hi)
        _merge_parts(parts, h5_path, lo, hi,
                     part_attrs("predict", resolved, world_size=ctx.world_size, first_row=lo,
                                n_rows_total=n_total), resolved.chunk_size)
        out = _finish(out_dir, sfx, h5_path, resolved, sizes)
        remove_files(files)
        log.info("predictions for %d windows from %d ranks merged into %s", hi - lo,
                 ctx.world_size, stage.out_dir)
        return stage.finalize(out)

    return run_parts(ctx, "predict", compute, merge)


def merge_shards(shards: list[str | Path], output_dir: str | Path,
                 remove_shards: bool = False) -> PredictOutputs:
    """Merge ``predictions.shard<i>-of-<n>.h5`` files of separate jobs into the outputs of
    one unsharded run (h5, regions BED, params JSON, bigWigs) in ``output_dir``.

    Parameters
    ----------
    shards : list of str or Path
        Every shard h5 (checked: same parameters, no missing or overlapping rows).
    output_dir : str or Path
        Folder of the merged outputs.
    remove_shards : bool
        Delete the shards' files (h5, BED, params JSON, bigWigs) after merging.
    """
    parts = [read_part(p, "predict") for p in shards]
    with staged_outputs(output_dir, "merge", owns=[owned_outputs("")]) as stage:
        out = stage.finalize(merge_shards_into(shards, stage))
    if remove_shards:
        remove_files(f for p in parts for f in shard_siblings(p))
    log.info("%d prediction shards merged into %s", len(shards), output_dir)
    return out


def merge_shards_into(shards: list[str | Path], stage: Stage) -> PredictOutputs:
    """Merge prediction shards into the staging folder ``stage.path`` (paths there), as
    :func:`merge_shards` does into its output folder."""
    from bpnetkit.config import from_dict

    parts = check_parts([read_part(p, "predict") for p in shards])
    ref = parts[0]
    out_dir = stage.path
    resolved = dataclasses.replace(from_dict(PredictParams, ref.params, where=str(ref.path)),
                                   output_dir=str(stage.out_dir), shard_index=0, n_shards=1)
    final_h5 = stage.out_dir / "predictions.h5"
    if any(p.path.resolve() == final_h5.resolve() for p in parts):
        raise InputError(f"{final_h5} is one of the shards; merge into another output_dir.")
    h5_path = out_dir / "predictions.h5"
    attrs = part_attrs("predict", resolved, world_size=max(p.world_size for p in parts),
                       first_row=0, n_rows_total=ref.n_rows_total)
    attrs["merged_shards"] = len(parts)
    _merge_parts(parts, h5_path, 0, ref.n_rows_total, attrs, resolved.chunk_size)
    return _finish(out_dir, "", h5_path, resolved, _genome_sizes(resolved))


def shard_siblings(part: Part) -> Iterator[Path]:
    """A shard h5 and the files written beside it by the same run."""
    n, i = int(part.attrs.get("n_shards", 1)), int(part.attrs.get("shard_index", 0))
    sfx = shard_suffix(i, n)
    yield part.path
    if sfx and part.path.name == f"predictions{sfx}.h5":
        d = part.path.parent
        yield d / f"regions{sfx}.bed"
        yield d / f"predict_params{sfx}.json"
        yield from d.glob(f"predicted_*{sfx}.bw")


Params = PredictParams
Outputs = PredictOutputs
run_predict = run
