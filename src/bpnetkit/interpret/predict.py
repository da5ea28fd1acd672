"""Batched prediction with any model: no gradients, bounded memory, CPU tensors out."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.interpret.channels_last import channels_last_conv1d
from bpnetkit.interpret.fused_tower import fused_towers_work, fused_view
from bpnetkit.interpret.inputs import check_one_hot
from bpnetkit.models.base import RCPermutation, rc_permutation
from bpnetkit.utils import progress, resolve_device

__all__ = ["predict", "as_tensor", "model_state", "reverse_complement_outputs",
           "resolve_rc_permutation"]

log = logging.getLogger(__name__)


def as_tensor(X: Any, name: str = "X") -> torch.Tensor:
    """Return ``X`` (numpy array or tensor) as a tensor without copying when possible."""
    if isinstance(X, torch.Tensor):
        return X
    try:
        return torch.from_numpy(np.ascontiguousarray(X))
    except TypeError as e:
        raise InputError(f"{name} must be a numpy array or a torch tensor, got "
                         f"{type(X).__name__}.") from e


def _model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _model_device(model: nn.Module) -> torch.device | None:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return None


#: largest batch one CPU worker thread runs at a time (smaller batches keep the tower's
#: activations in cache: measured faster than 64 at BPNet 64x8, 2114 bp)
CPU_CHUNK = 32


#: models with at most this many parameters predict on CPU worker threads (see
#: :func:`_cpu_workers`)
CPU_WORKER_MAX_PARAMS = 1_000_000


def _cpu_workers(device: torch.device, n: int, model: nn.Module) -> int:
    """Worker threads of a CPU prediction: one per intra-op thread torch may use, each
    running whole batches single-threaded. Small models gain (BPNet 64x8 on 2 cores: 15-25 %
    faster than every operation split over the threads, whose small convolutions parallelise
    poorly); large ones do not (ChromBPNet 512x8: 5 % slower), so they keep one worker, as
    do other devices and single sequences."""
    if device.type != "cpu" or n < 2:
        return 1
    if sum(p.numel() for p in model.parameters()) > CPU_WORKER_MAX_PARAMS:
        return 1
    return max(1, min(torch.get_num_threads(), n))


@contextlib.contextmanager
def _intra_op_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads; the previous number is restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def model_state(model: nn.Module, device: torch.device, dtype: torch.dtype | None = None
                ) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode on ``device`` (and ``dtype``); restore both afterwards."""
    was_training = model.training
    old_device = _model_device(model)
    old_dtype = _model_dtype(model)
    model.eval()
    model.to(device)
    if dtype is not None and dtype != old_dtype:
        model.to(dtype)
    try:
        yield model
    finally:
        if dtype is not None and dtype != old_dtype:
            model.to(old_dtype)
        if old_device is not None:
            model.to(old_device)
        model.train(was_training)


def _check_args(X: torch.Tensor, args: Sequence[Any] | None) -> list[torch.Tensor]:
    if args is None:
        return []
    if isinstance(args, torch.Tensor | np.ndarray):
        args = [args]
    out = []
    for i, a in enumerate(args):
        a = as_tensor(a, f"args[{i}]")
        if a.shape[0] != X.shape[0]:
            raise InputError(f"args[{i}] has {a.shape[0]} rows but X has {X.shape[0]}; every "
                             f"extra model input needs one row per sequence.")
        out.append(a)
    return out


def _permute_tracks(t: torch.Tensor, perm: tuple[int, ...]) -> torch.Tensor:
    if perm == tuple(range(len(perm))):
        return t
    return t[:, list(perm)]


def reverse_complement_outputs(y: Any, perm: RCPermutation) -> Any:
    """Map the outputs of a model run on reverse-complemented input back to the forward strand.

    Profiles ``(N, S, L)`` are flipped along positions and their channels permuted by
    ``perm.profile``; counts ``(N, T)`` are permuted by ``perm.counts``; other tensors are
    returned unchanged.
    """
    if isinstance(y, torch.Tensor):
        if y.ndim == 3:
            return _permute_tracks(y.flip(dims=(2,)), perm.profile)
        if y.ndim == 2:
            return _permute_tracks(y, perm.counts)
        return y
    return type(y)(reverse_complement_outputs(t, perm) for t in y)


def _undeclared_swap(n: int, what: str, allow_pair: bool = True) -> tuple[int, ...]:
    if n == 1:
        return (0,)
    if n == 2 and allow_pair:
        return (1, 0)
    raise InputError(f"rc_average: the model does not declare how its {n} {what} map under "
                     f"reverse complement (no rc_permutation()); pass rc_perm=RCPermutation("
                     f"profile=..., counts=..., controls=...) from bpnetkit.models.base.")


def _outputs_shapes(y: Any) -> tuple[list[int], list[int]]:
    ts = [y] if isinstance(y, torch.Tensor) else list(y)
    return ([t.shape[1] for t in ts if t.ndim == 3], [t.shape[1] for t in ts if t.ndim == 2])


def resolve_rc_permutation(model: nn.Module, y: Any, control_tracks: Sequence[int] = (),
                           rc_perm: RCPermutation | None = None) -> RCPermutation:
    """The track permutation used to reverse-complement ``model``'s outputs ``y``.

    The explicit ``rc_perm`` wins, then what the model declares
    (:func:`bpnetkit.models.base.rc_permutation`). A model that declares nothing gets the
    identity for one track and the (plus, minus) swap for two profile tracks or two control
    tracks; anything else (more tracks, two count outputs) is an :class:`InputError` asking
    for ``rc_perm``. The permutation is checked against the shapes of ``y`` and of the
    control tracks.
    """
    profiles, counts = _outputs_shapes(y)
    perm = rc_perm if rc_perm is not None else rc_permutation(model)
    if perm is None:
        p = _undeclared_swap(profiles[0], "profile tracks") if profiles else ()
        c = _undeclared_swap(counts[0], "count outputs", allow_pair=False) if counts else ()
        k = _undeclared_swap(control_tracks[0], "control tracks") if control_tracks else ()
        perm = RCPermutation(profile=p, counts=c, controls=k)
    for what, sizes, got in (("profile", profiles, perm.profile),
                             ("counts", counts, perm.counts),
                             ("controls", list(control_tracks), perm.controls)):
        for n in sizes:
            if sorted(got) != list(range(n)):
                raise InputError(f"rc_average: the {what} permutation {tuple(got)} does not "
                                 f"permute the {n} {what} tracks of this model; pass a "
                                 f"matching rc_perm.")
    return perm


def _average(a: Any, b: Any) -> Any:
    if isinstance(a, torch.Tensor):
        return (a + b) / 2
    return type(a)(_average(x, y) for x, y in zip(a, b, strict=True))


def _to_cpu(y: Any) -> Any:
    if isinstance(y, torch.Tensor):
        return y.detach().to("cpu")
    if isinstance(y, list | tuple):
        return tuple(_to_cpu(t) for t in y)
    raise InputError(f"cannot interpret a model output of type {type(y).__name__}; models "
                     f"must return a tensor or a tuple/list of tensors.")


def _zero_controls(model: nn.Module, X: torch.Tensor, args: list[torch.Tensor]
                   ) -> list[torch.Tensor]:
    n_ctl = int(getattr(model, "n_control_tracks", 0) or 0)
    if n_ctl <= 0 or args:
        return args
    if n_ctl not in _ZERO_CONTROLS_LOGGED:
        _ZERO_CONTROLS_LOGGED.add(n_ctl)
        log.info("the model takes %d control track(s) and none were given: using zeros.",
                 n_ctl)
    return [torch.zeros((1, n_ctl, X.shape[2]), dtype=torch.int8).expand(
        X.shape[0], n_ctl, X.shape[2])]


_ZERO_CONTROLS_LOGGED: set[int] = set()


def _batch_arg(a: torch.Tensor, start: int, stop: int, device: torch.device,
               dt: torch.dtype) -> torch.Tensor:
    b = a[start:stop].to(device)
    if b.is_floating_point() or b.dtype in (torch.int8, torch.uint8, torch.bool):
        b = b.to(dt)
    return b


def predict(model: nn.Module, X: Any, args: Sequence[Any] | None = None, batch_size: int = 64,
            device: Any = None, dtype: Any = None, rc_average: bool = False,
            verbose: bool = False, channels_last: bool | None = None,
            rc_perm: RCPermutation | None = None) -> Any:
    """Run ``model`` on ``X`` in batches without gradients.

    This is bpnetkit's one batch loop over a model: evaluation, variant scoring,
    marginalization, design and the ``predict`` step all call it.

    Parameters
    ----------
    model : torch.nn.Module
        Any model called as ``model(X_batch, *args_batch)``. It is not modified (its
        device, dtype and train/eval mode are restored afterwards).
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` one-hot sequences (any dtype, e.g. int8; each batch is cast to ``dtype``
        on the device, so large inputs stay compact).
    args : sequence of tensors or None
        Extra model inputs with ``N`` rows each, batched like ``X``: the control tracks
        ``[controls]`` (``(N, C, L)``) of models with ``n_control_tracks > 0``. When such a
        model gets no ``args``, all-zero control tracks are used (logged once).
    batch_size : int
        Sequences per forward pass.
    device : str, torch.device or None
        Where to run (None: CUDA when available, else CPU). The model is moved there and
        back.
    dtype : torch.dtype, str or None
        Computation dtype (None: the model's parameter dtype). A different dtype casts the
        model for the call and back.
    rc_average : bool
        Also predict the reverse complement of every sequence and average it with the
        forward prediction. The reverse-complement outputs are flipped back along positions
        and their tracks permuted as the model declares (``rc_perm``, else
        :func:`bpnetkit.models.base.rc_permutation`): stranded pairs swap, per task on
        multi-task models, unstranded tracks stay. Control tracks ``(N, C, L)`` in ``args``
        are flipped and permuted the same way for the reverse-complement pass. A model that
        declares nothing may have one track or one (plus, minus) pair of profile tracks and
        one count output; anything else needs ``rc_perm``.
    verbose : bool
        Show progress (:func:`bpnetkit.utils.progress`).
    channels_last : bool or None
        Run 1-D convolutions in the channels-last layout, and BPNet towers with oneDNN's
        fused convolution + ReLU (faster on CPU; same values up to float rounding); None
        means "on CPU only".
    rc_perm : RCPermutation or None
        How the model's tracks map under reverse complement, overriding the model's own
        declaration (needed for models that declare none and have more than one stranded
        pair).

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        The model's output(s) for all sequences, concatenated, on the CPU.

    Raises
    ------
    InputError
        For malformed inputs, and with ``rc_average`` when the track permutation is unknown
        or does not fit the outputs.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}.")
    X = as_tensor(X)
    check_one_hot(X, "X", allow_all_n=True)
    arg_list = _zero_controls(model, X, _check_args(X, args))
    device = resolve_device(device)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    use_cl = (device.type == "cpu") if channels_last is None else channels_last
    fuse = use_cl and device.type == "cpu" and fused_towers_work()

    ctl_tracks = [a.shape[1] for a in arg_list if a.ndim == 3]
    N = X.shape[0]
    workers = _cpu_workers(device, N, model)
    step = batch_size if workers == 1 else \
        max(1, min(batch_size, CPU_CHUNK, -(-N // workers)))
    with model_state(model, device, dtype):
        run = fused_view(model, fuse)
        dt = dtype or _model_dtype(model)

        def one(start: int) -> Any:
            # contexts inside: inference mode and torch-function modes are per thread
            with torch.inference_mode(), channels_last_conv1d(use_cl):
                stop = start + step
                xb = X[start:stop].to(device, non_blocking=True).to(dt)
                ab = [_batch_arg(a, start, stop, device, dt) for a in arg_list]
                y = run(xb, *ab)
                if rc_average:
                    perm = resolve_rc_permutation(model, y, ctl_tracks, rc_perm)
                    ab_rc = [_permute_tracks(a.flip(dims=(2,)), perm.controls)
                             if a.ndim == 3 else a for a in ab]
                    y_rc = run(xb.flip(dims=(1, 2)), *ab_rc)
                    y = _average(y, reverse_complement_outputs(y_rc, perm))
                return _to_cpu(y)

        starts = range(0, N, step)
        if workers == 1:
            outputs = [one(a) for a in progress(starts, desc="predict", enabled=verbose,
                                                unit="batch")]
        else:
            with _intra_op_threads(1), ThreadPoolExecutor(workers) as pool:
                outputs = list(progress(pool.map(one, starts), desc="predict",
                                        enabled=verbose, unit="batch", total=len(starts)))
    if isinstance(outputs[0], torch.Tensor):
        return torch.cat(outputs)
    return tuple(torch.cat(parts) for parts in zip(*outputs, strict=True))
