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
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from bpnetkit.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["AttributeParams", "run_attribute", "wrap_target"]


@dataclass
class AttributeParams:
    """Parameters of ``bpnetkit attribute``.

    Attributes
    ----------
    model : str
        Model folder or file (anything :func:`bpnetkit.io.load_model` reads).
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
        regions (one per process or GPU); outputs get the suffix
        ``.shard<i>-of-<n>``. Scores do not depend on the sharding or the chunk size: each
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


def shard_bounds(n: int, shard_index: int, n_shards: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of block ``shard_index`` of ``n_shards`` contiguous blocks."""
    if n_shards < 1 or not 0 <= shard_index < n_shards:
        raise InputError(f"shard_index must be in [0, n_shards); got shard_index={shard_index}, "
                         f"n_shards={n_shards}.")
    return n * shard_index // n_shards, n * (shard_index + 1) // n_shards


def shard_suffix(shard_index: int, n_shards: int) -> str:
    """File-name suffix of a shard (empty without sharding)."""
    return "" if n_shards == 1 else f".shard{shard_index}-of-{n_shards}"


def wrap_target(model, target: str):
    """Wrap a (profile, counts) model so it returns the scalar ``target`` per sequence."""
    from bpnetkit.models.wrappers import ControlWrapper, CountWrapper, ProfileWrapper

    if target == "counts":
        return CountWrapper(ControlWrapper(model))
    if target == "profile":
        return ProfileWrapper(ControlWrapper(model))
    raise InputError(f"unknown attribution target {target!r}; use 'counts' or 'profile'.")


def read_chrom_sizes(path: str | Path) -> dict[str, int]:
    """Read a two-column chromosome sizes file."""
    from bpnetkit.errors import require_file

    sizes = {}
    with open(require_file(path, "chromosome sizes file")) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            try:
                sizes[parts[0]] = int(parts[1])
            except (IndexError, ValueError):
                raise InputError(f"{path}, line {lineno}: expected 'chrom<TAB>size', got "
                                 f"{line.strip()!r}.") from None
    return sizes


def model_input_length(model, default: int = 2114) -> int:
    """The input length a model was built or trained for, when it records one, else ``default``.

    Looked up on the model itself, then in the provenance that ``bpnetkit fit`` writes into
    the model file (``in_window``), so predictions and attributions use the training window.
    """
    for attr in ("input_length_default", "in_window"):
        v = getattr(model, attr, None)
        if isinstance(v, int):
            return v
    prov = (getattr(model, "model_info", None) or {}).get("provenance") or {}
    v = prov.get("in_window")
    if isinstance(v, int) and v > 0:
        return v
    return default


def _prepare(params: AttributeParams):
    from bpnetkit.data.regions import centered_windows, read_regions
    from bpnetkit.io.fasta import Genome

    if params.n_shuffles < 1 or params.batch_size < 1 or params.chunk_size < 1:
        raise InputError("n_shuffles, batch_size and chunk_size must be positive.")
    if not params.targets:
        raise InputError("targets is empty; give at least one of 'counts', 'profile'.")
    genome = Genome(params.genome)
    sizes = read_chrom_sizes(params.chrom_sizes) if params.chrom_sizes else \
        dict(genome.chrom_sizes)
    regions = read_regions(params.peaks)
    if params.max_regions is not None:
        regions = regions.subset(np.arange(min(len(regions), params.max_regions)))
    return genome, sizes, regions, centered_windows


def run_attribute(params: AttributeParams) -> dict[str, str]:
    """Compute and write attributions for ``params.peaks``; returns output name -> path."""
    import h5py
    import torch

    from bpnetkit.config import dump_config
    from bpnetkit.data.regions import write_bed
    from bpnetkit.interpret.deeplift import deep_lift_shap
    from bpnetkit.interpret.window_tracks import write_window_bigwig
    from bpnetkit.io.fasta import extract_sequences
    from bpnetkit.models.files import load_model
    from bpnetkit.utils import atomic_path, resolve_device

    out_dir = Path(params.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    genome, sizes, regions, centered_windows = _prepare(params)
    device = resolve_device(params.device)
    model = load_model(params.model, device=device)
    L = params.in_window or model_input_length(model)
    chroms, starts, ends = centered_windows(regions, L, chrom_sizes=sizes)
    if len(chroms) == 0:
        raise InputError(f"no region of '{params.peaks}' has a full {L} bp window inside its "
                         f"chromosome; check the genome and the regions.")
    row_seeds = np.random.SeedSequence(params.random_state).generate_state(
        len(chroms), dtype=np.uint32).astype(np.int64)
    lo, hi = shard_bounds(len(chroms), params.shard_index, params.n_shards)
    chroms, starts, ends, row_seeds = chroms[lo:hi], starts[lo:hi], ends[lo:hi], row_seeds[lo:hi]
    N = len(chroms)
    sfx = shard_suffix(params.shard_index, params.n_shards)
    outputs: dict[str, str] = {}
    bed = write_bed(out_dir / f"regions{sfx}.bed", chroms, starts, ends)
    outputs["regions_bed"] = str(bed)
    resolved = dataclasses.replace(params, in_window=L)
    outputs["params"] = str(dump_config(resolved, out_dir / f"attribute_params{sfx}.json"))
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".attr_tmp_") as tmpdir:
        projected_sums = {t: np.lib.format.open_memmap(
            Path(tmpdir) / f"{t}.npy", mode="w+", dtype=np.float32, shape=(N, L))
            for t in params.targets}
        h5_paths = {t: out_dir / f"attributions_{t}{sfx}.h5" for t in params.targets}
        with contextlib.ExitStack() as stack:
            tmps = {t: stack.enter_context(atomic_path(h5_paths[t])) for t in params.targets}
            files = {t: stack.enter_context(h5py.File(tmps[t], "w")) for t in params.targets}
            chunks = (min(N, 64), 4, L) if N else None
            dsets = {}
            for t, f in files.items():
                f.attrs["target"] = t
                f.attrs["n_shuffles"] = params.n_shuffles
                f.attrs["random_state"] = params.random_state
                f.attrs["first_row"] = lo
                dsets[t] = (
                    f.create_dataset("raw/seq", (N, 4, L), dtype="i1", chunks=chunks,
                                     compression="gzip", compression_opts=1),
                    f.create_dataset("shap/seq", (N, 4, L), dtype="f4", chunks=chunks),
                    f.create_dataset("projected_shap/seq", (N, 4, L), dtype="f4",
                                     chunks=chunks))
                f.create_dataset("chrom", data=np.asarray(chroms).astype("S"))
                f.create_dataset("start", data=np.asarray(starts, dtype=np.int64))
                f.create_dataset("end", data=np.asarray(ends, dtype=np.int64))
            wrapped = {t: wrap_target(model, t) for t in params.targets}
            from tqdm.auto import tqdm

            for c0 in tqdm(range(0, N, params.chunk_size), desc="attribute", unit="chunk"):
                c1 = min(N, c0 + params.chunk_size)
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
                    proj = hyp * X
                    raw, shap, projected = dsets[t]
                    raw[c0:c1] = X
                    shap[c0:c1] = hyp
                    projected[c0:c1] = proj
                    projected_sums[t][c0:c1] = proj.sum(axis=1)
        for t in params.targets:
            outputs[f"{t}_h5"] = str(h5_paths[t])
            if params.bigwigs:
                bw = write_window_bigwig(out_dir / f"attributions_{t}{sfx}.bw", sizes, chroms,
                                         starts, projected_sums[t])
                outputs[f"{t}_bigwig"] = str(bw)
            projected_sums[t].flush()
        del projected_sums
    log.info("attributions for %d regions written to %s", N, out_dir)
    return outputs
