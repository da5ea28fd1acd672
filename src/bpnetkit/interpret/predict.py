"""Batched prediction with any model: no gradients, bounded memory, CPU tensors out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.interpret.channels_last import channels_last_conv1d
from bpnetkit.utils import resolve_device

__all__ = ["predict", "as_tensor", "model_state", "reverse_complement_outputs"]


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


def reverse_complement_outputs(y: Any) -> Any:
    """Flip the outputs of a model run on reverse-complemented input back to forward strand.

    Tensors with 3 dimensions ``(N, S, L)`` (profiles) are flipped along positions and
    strands; anything else (counts) is returned unchanged.
    """
    if isinstance(y, torch.Tensor):
        return y.flip(dims=(1, 2)) if y.ndim == 3 else y
    return type(y)(reverse_complement_outputs(t) for t in y)


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


def predict(model: nn.Module, X: Any, args: Sequence[Any] | None = None, batch_size: int = 64,
            device: Any = None, dtype: Any = None, rc_average: bool = False,
            verbose: bool = False, channels_last: bool | None = None) -> Any:
    """Run ``model`` on ``X`` in batches without gradients.

    Parameters
    ----------
    model : torch.nn.Module
        Any model called as ``model(X_batch, *args_batch)``.
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` one-hot sequences (any dtype, e.g. int8; each batch is cast to ``dtype``
        on the device, so large inputs stay compact).
    args : sequence of tensors or None
        Extra model inputs with ``N`` rows each (e.g. control tracks), batched like ``X``.
    batch_size : int
        Sequences per forward pass.
    device : str, torch.device or None
        Where to run (None: CUDA when available, else CPU). The model is moved there and
        back; its train/eval mode is restored.
    dtype : torch.dtype, str or None
        Computation dtype (None: the model's parameter dtype). A different dtype casts the
        model for the call and back.
    rc_average : bool
        Also predict the reverse complement of every sequence (and reversed ``args`` tracks)
        and average with the forward prediction, profiles flipped back (strands swapped).
    verbose : bool
        Show a progress bar.
    channels_last : bool or None
        Run 1-D convolutions in the channels-last layout, and BPNet towers with oneDNN's
        fused convolution + ReLU (faster on CPU; same values up to float rounding); None
        means "on CPU only".

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        The model's output(s) for all sequences, concatenated, on the CPU.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}.")
    X = as_tensor(X)
    if X.ndim != 3:
        raise InputError(f"X must have shape (N, 4, L); got {tuple(X.shape)}.")
    if X.shape[0] == 0:
        raise InputError("X holds no sequences (shape[0] == 0).")
    arg_list = _check_args(X, args)
    device = resolve_device(device)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    use_cl = (device.type == "cpu") if channels_last is None else channels_last

    from tqdm.auto import tqdm

    from bpnetkit.interpret.fused_tower import fused_bpnet_towers, fused_towers_work

    outputs = []
    with model_state(model, device, dtype), torch.inference_mode(), \
            channels_last_conv1d(use_cl), \
            fused_bpnet_towers(model, use_cl and device.type == "cpu" and fused_towers_work()):
        dt = dtype or _model_dtype(model)
        for start in tqdm(range(0, X.shape[0], batch_size), disable=not verbose,
                          desc="predict", unit="batch"):
            xb = X[start:start + batch_size].to(device, non_blocking=True).to(dt)
            ab = [a[start:start + batch_size].to(device).to(dt) if a.is_floating_point() or
                  a.dtype in (torch.int8, torch.uint8, torch.bool) else
                  a[start:start + batch_size].to(device) for a in arg_list]
            y = model(xb, *ab)
            if rc_average:
                y_rc = model(xb.flip(dims=(1, 2)), *[a.flip(dims=(1, 2)) if a.ndim == 3 else a
                                                     for a in ab])
                y = _average(y, reverse_complement_outputs(y_rc))
            outputs.append(_to_cpu(y))
    if isinstance(outputs[0], torch.Tensor):
        return torch.cat(outputs)
    return tuple(torch.cat(parts) for parts in zip(*outputs, strict=True))
