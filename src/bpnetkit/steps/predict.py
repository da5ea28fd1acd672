"""``bpnetkit predict``: model predictions for regions or whole chromosomes, written to disk.

Outputs in ``output_dir``:

- ``predictions.h5``: ``logits`` ``(N, S, L_out)`` and ``log_counts`` ``(N, C)`` float32, plus
  ``chrom``/``start``/``end`` of each row's output window;
- ``regions.bed``: the output windows, one line per h5 row;
- ``predicted_<track>.bw``: the predicted signal ``softmax(logits) * exp(log_counts)`` per
  base (tracks ``plus``/``minus`` for stranded models, ``signal`` for one track), where
  windows overlap each base takes the window with the nearer centre.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["PredictParams", "run_predict", "tile_chromosomes"]


@dataclass
class PredictParams:
    """Parameters of ``bpnetkit predict``.

    Attributes
    ----------
    model : str
        Model folder or file (anything :func:`bpnetkit.io.load_model` reads).
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
        windows (one per process or GPU); outputs get the suffix ``.shard<i>-of-<n>``.
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


def run_predict(params: PredictParams) -> dict[str, str]:
    """Predict for the regions (or tiled chromosomes) of ``params``; returns name -> path."""
    import h5py
    import torch

    from bpnetkit.config import dump_config
    from bpnetkit.data.regions import centered_windows, read_regions, write_bed
    from bpnetkit.interpret.predict import predict
    from bpnetkit.interpret.window_tracks import write_window_bigwig
    from bpnetkit.io.fasta import Genome, extract_sequences
    from bpnetkit.models.files import load_model
    from bpnetkit.models.wrappers import ControlWrapper, predicted_track
    from bpnetkit.steps.attribute import (
        model_input_length,
        read_chrom_sizes,
        shard_bounds,
        shard_suffix,
    )
    from bpnetkit.utils import atomic_path, resolve_device

    if params.batch_size < 1 or params.chunk_size < 1:
        raise InputError("batch_size and chunk_size must be positive.")
    out_dir = Path(params.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    genome = Genome(params.genome)
    sizes = read_chrom_sizes(params.chrom_sizes) if params.chrom_sizes else \
        dict(genome.chrom_sizes)
    device = resolve_device(params.device)
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
    lo, hi = shard_bounds(len(chroms), params.shard_index, params.n_shards)
    chroms, starts, ends = chroms[lo:hi], starts[lo:hi], ends[lo:hi]
    sfx = shard_suffix(params.shard_index, params.n_shards)
    N = len(chroms)
    n_ctl = int(getattr(model, "n_control_tracks", 0) or 0)
    if params.controls and n_ctl and len(params.controls) != n_ctl:
        raise InputError(f"the model expects {n_ctl} control tracks but 'controls' lists "
                         f"{len(params.controls)} bigWigs.")
    wrapped = ControlWrapper(model)
    out_starts, out_ends = starts + trim, starts + trim + L_out
    outputs = {"regions_bed": str(write_bed(out_dir / f"regions{sfx}.bed", chroms, out_starts,
                                            out_ends))}
    outputs["params"] = str(dump_config(dataclasses.replace(params, in_window=L),
                                        out_dir / f"predict_params{sfx}.json"))
    h5_path = out_dir / f"predictions{sfx}.h5"
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".predict_tmp_") as tmpdir, \
            contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(h5_path))
        f = stack.enter_context(h5py.File(tmp, "w"))
        f.attrs["in_window"] = L
        f.attrs["out_window"] = L_out
        f.attrs["first_row"] = lo
        f.create_dataset("chrom", data=np.asarray(chroms).astype("S"))
        f.create_dataset("start", data=out_starts)
        f.create_dataset("end", data=out_ends)
        logits_ds = counts_ds = tracks = None
        for c0 in tqdm(range(0, N, params.chunk_size), desc="predict", unit="chunk"):
            c1 = min(N, c0 + params.chunk_size)
            X = extract_sequences(genome, chroms[c0:c1], starts[c0:c1], ends[c0:c1])
            args = None
            if n_ctl and params.controls:
                from bpnetkit.data.signals import extract_signals

                args = [torch.from_numpy(extract_signals(params.controls, chroms[c0:c1],
                                                         starts[c0:c1], ends[c0:c1]))]
            y = predict(wrapped, torch.from_numpy(X), args=args,
                        batch_size=params.batch_size, device=device,
                        rc_average=params.rc_average)
            if not isinstance(y, tuple) or len(y) < 2:
                raise InputError("bpnetkit predict needs a model returning (profile logits, "
                                 "log counts).")
            logits, log_counts = y[0].float(), y[1].float()
            if logits_ds is None:
                S = logits.shape[1]
                logits_ds = f.create_dataset("logits", (N, S, L_out), dtype="f4",
                                             chunks=(min(N, 64), S, L_out))
                counts_ds = f.create_dataset("log_counts", (N, log_counts.shape[1]),
                                             dtype="f4")
                if params.bigwigs:
                    tracks = np.lib.format.open_memmap(Path(tmpdir) / "tracks.npy", mode="w+",
                                                       dtype=np.float32, shape=(S, N, L_out))
            logits_ds[c0:c1] = logits.numpy()
            counts_ds[c0:c1] = log_counts.numpy()
            if tracks is not None:
                joint = bool(getattr(model, "joint_strands", log_counts.shape[1] == 1))
                track = predicted_track(logits, log_counts, joint_strands=joint)
                tracks[:, c0:c1] = track.numpy().transpose(1, 0, 2)
        stack.close()  # closes the h5 file and moves it into place
        outputs["h5"] = str(h5_path)
        if tracks is not None:
            for s, name in enumerate(_track_names(tracks.shape[0])):
                p = write_window_bigwig(out_dir / f"predicted_{name}{sfx}.bw", sizes, chroms,
                                        out_starts, tracks[s])
                outputs[f"bigwig_{name}"] = str(p)
            del tracks
    log.info("predictions for %d windows written to %s", N, out_dir)
    return outputs
