"""Helpers shared by the steps that run a model over genome windows (predict, attribute).

The model's input window, the contiguous blocks of windows a shard processes, genome
tracks (bigWig) of per-window values, where overlapping windows are resolved by the nearer
window centre (:func:`bpnetkit.interpret.window_tracks.nearest_centre_segments`), and the
bookkeeping of *parts*: h5 files that each hold a contiguous block of rows of the full list
of windows (a shard of a SLURM array, or one rank's block under ``torchrun``) and that are
merged back into the file one process would have written.

Every h5 these steps write records in its root attributes ``world_size`` (processes that
shared the work), ``n_shards``/``shard_index`` (the block of a sharded job), ``first_row``
and ``n_rows_total`` (where its rows sit in the full list) and ``params`` (the resolved
parameters, JSON), which is what a merge checks.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bpnetkit import dist
from bpnetkit.errors import InputError, require_file
from bpnetkit.interpret.window_tracks import nearest_centre_segments
from bpnetkit.io.bigwig import write_bigwig

log = logging.getLogger(__name__)

__all__ = ["Part", "check_parts", "check_same_config", "find_shard_files",
           "model_input_length", "part_attrs", "rank_block", "rank_device", "rank_suffix",
           "read_part", "remove_files", "run_parts",
           "shard_bounds", "shard_suffix", "write_window_bigwig"]

O = TypeVar("O")

# parameters that do not change the values written: parts that differ only in these merge
PART_NEUTRAL_PARAMS = frozenset({"shard_index", "n_shards", "output_dir", "device",
                                 "batch_size", "chunk_size"})


def model_input_length(model: Any, default: int = 2114) -> int:
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


def shard_bounds(n: int, shard_index: int, n_shards: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of block ``shard_index`` of ``n_shards`` contiguous blocks."""
    if n_shards < 1 or not 0 <= shard_index < n_shards:
        raise InputError(f"shard_index must be in [0, n_shards); got shard_index={shard_index}, "
                         f"n_shards={n_shards}.")
    return n * shard_index // n_shards, n * (shard_index + 1) // n_shards


def shard_suffix(shard_index: int, n_shards: int) -> str:
    """File-name suffix of a shard (empty without sharding)."""
    return "" if n_shards == 1 else f".shard{shard_index}-of-{n_shards}"


def _window_entries(chrom_sizes: Mapping[str, int], chroms: np.ndarray, starts: np.ndarray,
                    values: np.ndarray, rows_per_read: int
                    ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    width = values.shape[1]
    for chrom, size in chrom_sizes.items():
        idx = np.flatnonzero(chroms == chrom)
        if idx.size == 0:
            continue
        segs = nearest_centre_segments(starts[idx], width)
        for b in range(0, len(segs), rows_per_read):
            block = segs[b:b + rows_per_read]
            rows = np.array([idx[r] for r, _, _ in block])
            order = np.argsort(rows)
            vals = np.empty((len(rows), width), dtype=np.float32)
            vals[order] = np.asarray(values[rows[order]], dtype=np.float32)  # memmap-friendly
            pos, val = [], []
            for (r, lo, hi), v in zip(block, vals, strict=True):
                lo_c, hi_c = max(lo, 0), min(hi, int(size))
                if hi_c <= lo_c:
                    continue
                s = int(starts[idx[r]])
                pos.append(np.arange(lo_c, hi_c, dtype=np.int64))
                val.append(v[lo_c - s:hi_c - s])
            if pos:
                yield chrom, np.concatenate(pos), np.concatenate(val)


def write_window_bigwig(path: str | os.PathLike, chrom_sizes: Mapping[str, int],
                        chroms: np.ndarray, starts: np.ndarray, values: np.ndarray,
                        rows_per_read: int = 256) -> Path:
    """Write per-window values ``(N, W)`` (may be a memmap) as one bigWig, atomically.

    Windows are ``[start, start + W)``; where windows overlap each base takes the value from
    the window whose centre is nearest. Bases beyond a chromosome end are dropped.
    """
    chroms = np.asarray(chroms).astype(str)
    starts = np.asarray(starts, dtype=np.int64)
    if values.ndim != 2 or values.shape[0] != len(chroms):
        raise InputError(f"window values must be (N={len(chroms)}, W); got {values.shape}.")
    unknown = sorted(set(chroms) - set(chrom_sizes))
    if unknown:
        raise InputError(f"chromosomes {unknown[:5]} are not in the chromosome sizes; use the "
                         f"genome the regions come from.")
    return write_bigwig(path, chrom_sizes,
                        _window_entries(chrom_sizes, chroms, starts, values, rows_per_read))


def rank_suffix(sfx: str, rank: int, world_size: int) -> str:
    """File-name suffix of one rank's part under ``torchrun`` (after the shard suffix)."""
    return f"{sfx}.rank{rank}-of-{world_size}"


def rank_block(lo: int, hi: int, ctx: dist.DistContext) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of the job split into ``world_size`` contiguous blocks: this rank's."""
    a, b = shard_bounds(hi - lo, ctx.rank, ctx.world_size)
    return lo + a, lo + b


def rank_device(requested: str | None, ctx: dist.DistContext) -> Any:
    """The device of this rank: under ``torchrun`` null or ``"cuda"`` mean the rank's own
    GPU (``cuda:<LOCAL_RANK>``); anything else is taken as given."""
    from bpnetkit.utils import resolve_device

    if ctx.distributed and requested in (None, "cuda") and ctx.device.startswith("cuda"):
        return resolve_device(ctx.device)
    return resolve_device(requested)


def part_attrs(step: str, params: Any, *, world_size: int, first_row: int, n_rows_total: int,
               rank: int | None = None) -> dict[str, Any]:
    """Root attributes (provenance) of an h5 written by predict or attribute."""
    from bpnetkit.config import to_dict

    p = to_dict(params)
    attrs: dict[str, Any] = {
        "bpnetkit_step": step, "world_size": int(world_size),
        "n_shards": int(p["n_shards"]), "shard_index": int(p["shard_index"]),
        "first_row": int(first_row), "n_rows_total": int(n_rows_total),
        "params": json.dumps(p, sort_keys=True, default=str)}
    if rank is not None:
        attrs["rank"] = int(rank)
    return attrs


@dataclass(frozen=True)
class Part:
    """An h5 file holding rows ``[first_row, first_row + n_rows)`` of ``n_rows_total``."""

    path: Path
    first_row: int
    n_rows: int
    n_rows_total: int
    world_size: int
    params: dict[str, Any]
    attrs: dict[str, Any]

    @property
    def end_row(self) -> int:
        """One past the last row."""
        return self.first_row + self.n_rows


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def read_part(path: str | os.PathLike, step: str) -> Part:
    """Read the provenance of an h5 written by ``step`` (``"predict"`` or ``"attribute"``)."""
    import h5py

    path = require_file(path, f"{step} shard h5")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _attr(v) for k, v in f.attrs.items()}
            n_rows = len(f["start"]) if "start" in f else None
    except OSError as e:
        raise InputError(f"{path} is not a readable HDF5 file ({e}).") from None
    need = ("bpnetkit_step", "first_row", "n_rows_total", "params", "world_size")
    missing = [k for k in need if k not in attrs]
    if missing or n_rows is None:
        raise InputError(f"{path} lacks {missing or ['start']}: it was not written by "
                         f"'bpnetkit {step}' of this version; recompute the shard.")
    if attrs["bpnetkit_step"] != step:
        raise InputError(f"{path} was written by 'bpnetkit {attrs['bpnetkit_step']}', not "
                         f"'bpnetkit {step}'; merge it with kind {attrs['bpnetkit_step']!r}.")
    return Part(path=path, first_row=int(attrs["first_row"]), n_rows=int(n_rows),
                n_rows_total=int(attrs["n_rows_total"]), world_size=int(attrs["world_size"]),
                params=json.loads(attrs["params"]), attrs=attrs)


def check_same_config(parts: list[Part]) -> None:
    """Raise unless every part was made with the same parameters (up to
    :data:`PART_NEUTRAL_PARAMS`) and from the same list of windows."""
    if not parts:
        raise InputError("no shard to merge.")
    ref = parts[0]

    def key(p: Part) -> dict[str, Any]:
        return {k: v for k, v in p.params.items() if k not in PART_NEUTRAL_PARAMS}

    for p in parts[1:]:
        if p.n_rows_total != ref.n_rows_total:
            raise InputError(f"{p.path} is a block of {p.n_rows_total} windows but {ref.path} "
                             f"of {ref.n_rows_total}: the shards come from different region "
                             f"lists; recompute them with the same parameters.")
        a, b = key(ref), key(p)
        if a != b:
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise InputError(f"{p.path} and {ref.path} were made with different parameters "
                             f"({', '.join(f'{k}: {a.get(k)!r} vs {b.get(k)!r}' for k in diff)}"
                             f"); merge only shards of one configuration.")


def check_parts(parts: Iterable[Part], lo: int | None = None, hi: int | None = None
                ) -> list[Part]:
    """Sort parts by row and check they tile ``[lo, hi)`` (default: all rows) exactly, with
    the same parameters (up to :data:`PART_NEUTRAL_PARAMS`).

    Raises
    ------
    InputError
        For parts of different configurations or lengths, overlapping parts and missing
        rows.
    """
    parts = sorted(parts, key=lambda p: (p.first_row, p.end_row))
    check_same_config(parts)
    ref = parts[0]
    lo = 0 if lo is None else lo
    hi = ref.n_rows_total if hi is None else hi
    row = lo
    for p in parts:
        if p.first_row < row:
            raise InputError(f"{p.path} (rows {p.first_row}-{p.end_row}) overlaps the rows "
                             f"before it (up to {row}); remove the shards of another split "
                             f"(n_shards) from the inputs.")
        if p.first_row > row:
            raise InputError(f"rows {row}-{p.first_row} of {ref.n_rows_total} are missing "
                             f"(no shard holds them); compute the missing shard before merging.")
        row = p.end_row
    if row != hi:
        raise InputError(f"rows {row}-{hi} of {ref.n_rows_total} are missing (no shard holds "
                         f"them); compute the missing shard before merging.")
    return parts


_SHARD_RE = re.compile(r"^(?P<stem>.+)\.shard(?P<i>\d+)-of-(?P<n>\d+)\.h5$")


def find_shard_files(folder: str | os.PathLike, stem: str) -> list[Path]:
    """The shard files ``<stem>.shard<i>-of-<n>.h5`` of a folder; a clear error when one of
    ``0..n-1`` is missing."""
    folder = require_file(folder, "folder of shards")
    found: dict[int, dict[int, Path]] = {}
    for p in sorted(folder.iterdir()):
        m = _SHARD_RE.match(p.name)
        if m and m["stem"] == stem:
            found.setdefault(int(m["n"]), {})[int(m["i"])] = p
    if not found:
        raise InputError(f"{folder} holds no shard '{stem}.shard<i>-of-<n>.h5'; give the "
                         f"folder the sharded runs wrote (their output_dir) or the h5 files.")
    if len(found) > 1:
        raise InputError(f"{folder} holds shards of several splits (n_shards "
                         f"{sorted(found)}); keep the shards of one split only.")
    (n, shards), = found.items()
    missing = [i for i in range(n) if i not in shards]
    if missing:
        raise InputError(f"{len(missing)} of {n} shards are missing in {folder}: "
                         f"{', '.join(f'{stem}{shard_suffix(i, n)}.h5' for i in missing[:5])}"
                         f"; compute them (shard_index {missing[:5]}) before merging.")
    return [shards[i] for i in range(n)]


def remove_files(paths: Iterable[str | os.PathLike]) -> None:
    """Delete files that exist (shards after a merge)."""
    for p in paths:
        Path(p).unlink(missing_ok=True)


def run_parts(ctx: dist.DistContext, name: str, compute: Callable[[], list[str]],
              merge: Callable[[list[list[str]]], O]) -> O:
    """Under ``torchrun``: every rank computes its part, rank 0 merges, all return its result.

    Parameters
    ----------
    ctx : DistContext
        The job (``world_size > 1``).
    name : str
        The step, for messages.
    compute : callable
        Writes this rank's part files; returns their paths.
    merge : callable
        On rank 0: takes every rank's part files (in rank order), writes the merged outputs,
        removes the parts and returns the step's Outputs.
    """
    mine = compute()
    parts = dist.all_gather_object(mine, name=f"{name}: parts written")
    result = None
    if ctx.is_main:
        unseen = [p for ps in parts for p in ps if not Path(p).exists()]
        if unseen:
            raise InputError(f"rank 0 cannot see {len(unseen)} file(s) the other ranks wrote "
                             f"(e.g. {unseen[0]}): output_dir must be on a file system that "
                             f"every node of the job shares.")
        result = merge(parts)
    return dist.all_gather_object(result, name=f"{name}: merged by rank 0")[0]


def validate_window_params(step: str, params: Any, positive: Iterable[str]) -> None:
    """Checks shared by the window steps' ``Params.validate``: ``max_regions`` at least 1 or
    None, each key of ``positive`` at least 1, and ``shard_index`` in ``[0, n_shards)``.

    Raises
    ------
    InputError
        Naming the step and the key, with the value given.
    """
    if params.max_regions is not None and params.max_regions < 1:
        raise InputError(f"{step}: 'max_regions' must be at least 1 or null (all), got "
                         f"{params.max_regions}.")
    for key in positive:
        if getattr(params, key) < 1:
            raise InputError(f"{step}: '{key}' must be at least 1, got "
                             f"{getattr(params, key)}.")
    if not 0 <= params.shard_index < params.n_shards:
        raise InputError(f"{step}: 'shard_index' must be in [0, n_shards), got "
                         f"{params.shard_index} with n_shards {params.n_shards}.")
