"""DeepLIFT/SHAP attributions (rescale rule) with dinucleotide-shuffled references.

For every input sequence ``x`` and reference ``r`` the DeepLIFT multipliers ``m`` (the
gradient of the target with each nonlinearity's derivative replaced by its secant between
``x`` and ``r``) satisfy summation-to-delta: ``f(x) - f(r) = sum((x - r) * m)``. The
*hypothetical* contribution of base ``c`` at a position is ``m_c - sum_k r_k m_k``, averaged
over the references; the *actual* contributions are the hypothetical ones times the one-hot
input. TF-MoDISco needs the hypothetical ones.

How it is computed (see :mod:`bpnetkit.interpret.deeplift_rules`): each batch holds a few
inputs followed by all their references, so an input's forward pass runs once rather than
once per reference; the rules run inside autograd through a torch function mode (no Python
hooks, no weight gradients); only the reference rows are differentiated. On the CPU, the
dilated residual tower of every BPNet inside the model runs as one rule
(:func:`bpnetkit.interpret.deeplift_rules.tower_rule_view`): ReLU multipliers and residual
adds in one numba pass per layer, and a hand-written channels-last backward pass instead of
autograd's per-op graph; its weights are re-laid-out once per call, and its layers at large
dilations run as one batched GEMM per tap (faster there than oneDNN's dilated convolution).
For the counts of ``CountWrapper(BPNet)`` / ``CountWrapper(ChromBPNet)`` the profile heads,
whose output the wrapper discards, are not computed. The results equal captum's
``DeepLiftShap`` and tangermeme's ``deep_lift_shap`` given the same references.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.interpret.deeplift_rules import DeepLiftMode, UnsupportedOpError, tower_rule_view
from bpnetkit.interpret.inputs import check_one_hot
from bpnetkit.interpret.predict import as_tensor, model_state
from bpnetkit.interpret.shuffle import (
    codes_to_one_hot,
    dinucleotide_shuffle_codes,
    one_hot_to_codes,
)
from bpnetkit.utils import as_generator, progress, resolve_device

__all__ = ["deep_lift_shap", "DeepLiftShapResult", "hypothetical_contributions",
           "UnsupportedOpError", "check_one_hot"]


class DeepLiftShapResult(NamedTuple):
    """Attributions with their convergence deltas and the references used."""

    attributions: torch.Tensor
    """``(N, 4, L)`` hypothetical or actual contributions."""
    deltas: torch.Tensor
    """``(N, K)`` convergence deltas ``|f(x) - f(r) - sum((x - r) * m)|``."""
    references: torch.Tensor | None
    """``(N, K, 4, L)`` references (when requested)."""


def hypothetical_contributions(multipliers: torch.Tensor, references: torch.Tensor
                               ) -> torch.Tensor:
    """Hypothetical contributions ``m_c - sum_k r_k m_k`` for every base ``c`` and position.

    Parameters
    ----------
    multipliers, references : torch.Tensor
        ``(..., 4, L)`` DeepLIFT multipliers and the references they were computed against.
    """
    return multipliers - (references * multipliers).sum(dim=-2, keepdim=True)


def _output_column(y: Any, target: int) -> torch.Tensor:
    if isinstance(y, tuple | list):
        raise InputError("deep_lift_shap needs a model with one output tensor (N, T); this model "
                         "returns several (e.g. profile and counts). Wrap it: "
                         "CountWrapper(model) for counts, ProfileWrapper(model) for the profile.")
    while y.ndim > 2 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise InputError(f"deep_lift_shap needs model outputs of shape (N, T); got "
                         f"{tuple(y.shape)}. Reduce the output to one value per target.")
    if not -y.shape[1] <= target < y.shape[1]:
        raise InputError(f"target {target} is out of range for a model with {y.shape[1]} "
                         f"outputs.")
    return y[:, target]


def _prepare_references(references: Any, X: torch.Tensor) -> torch.Tensor:
    R = as_tensor(references, "references")
    N, _, L = X.shape
    if R.ndim == 3 and N == 1:
        R = R[None]
    if R.ndim != 4 or R.shape[0] != N or R.shape[2] != 4 or R.shape[3] != L:
        raise InputError(f"references must have shape (N={N}, K, 4, L={L}); got "
                         f"{tuple(R.shape)}.")
    check_one_hot(R.reshape(-1, 4, L), "references", allow_all_n=True)
    return R


def deep_lift_shap(model: nn.Module, X: Any, args: Sequence[Any] | None = None,
                   target: int = 0, references: Any = None, n_shuffles: int = 20,
                   batch_size: int = 64, device: Any = None, dtype: Any = None,
                   random_state: Any = 0, hypothetical: bool = False,
                   warning_threshold: float = 1e-3, return_deltas: bool = False,
                   return_references: bool = False, verbose: bool = False,
                   channels_last: bool | None = None) -> torch.Tensor | DeepLiftShapResult:
    """DeepLIFT/SHAP contributions of every base of ``X`` to ``model(X, *args)[:, target]``.

    Parameters
    ----------
    model : torch.nn.Module
        Returns ``(N, T)`` (trailing axes of length 1 are dropped). For a (profile, counts)
        model use ``CountWrapper(model)`` or ``ProfileWrapper(model)``. Nonlinearities may be
        ReLU, exp, log, log1p, sigmoid, tanh, softplus, ELU, GELU, SiLU, leaky ReLU,
        logsumexp and :func:`bpnetkit.models.wrappers.softmax_weighted`; other operations must
        be affine, or an :class:`UnsupportedOpError` names the offending op.
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` one-hot sequences.
    args : sequence of tensors or None
        Extra model inputs with ``N`` rows (e.g. control tracks); each reference of
        sequence ``i`` gets row ``i``.
    target : int
        Output column to explain.
    references : tensor, array, callable or None
        ``(N, K, 4, L)`` references; a callable ``f(X, n=K, random_state=...)`` returning
        them; or None for ``n_shuffles`` dinucleotide shuffles of each sequence.
    n_shuffles : int
        References per sequence when they are generated.
    batch_size : int
        (sequence, reference) pairs per backward pass; each pass also runs the forward pass
        of the few inputs once.
    device : str, torch.device or None
        Device (None: CUDA when available, else CPU). The model's device and mode are
        restored afterwards.
    dtype : torch.dtype, str or None
        Computation dtype (None: the model's).
    random_state : int, numpy.random.Generator, array or None
        Seed of the shuffles (each sequence's references depend only on the seed and its
        index, not on the batch size); a 1-D integer array gives one seed per sequence
        (what chunked callers use to get results independent of the chunking).
    hypothetical : bool
        Return hypothetical contributions (for TF-MoDISco) instead of actual ones.
    warning_threshold : float
        Warn when a convergence delta exceeds this.
    return_deltas, return_references : bool
        Return a :class:`DeepLiftShapResult` with the deltas ``(N, K)`` (and references).
    verbose : bool
        Show a progress bar.
    channels_last : bool or None
        Channels-last convolutions, and BPNet towers (valid padding, post-activation
        residuals, no hooks on their modules) computed as one rule with a hand-written
        channels-last backward pass (None: on CPU). Same values up to float rounding.

    Returns
    -------
    torch.Tensor or DeepLiftShapResult
        ``(N, 4, L)`` float contributions on the CPU.

    Raises
    ------
    InputError
        Non-one-hot or all-N input, bad shapes; :class:`UnsupportedOpError` for model ops
        without a DeepLIFT rule.
    """
    X = as_tensor(X)
    check_one_hot(X, allow_all_n=False)
    N, _, L = X.shape
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}.")
    arg_list = []
    for i, a in enumerate(args or []):
        a = as_tensor(a, f"args[{i}]")
        if a.shape[0] != N:
            raise InputError(f"args[{i}] has {a.shape[0]} rows but X has {N}.")
        arg_list.append(a)
    device = resolve_device(device)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    use_cl = (device.type == "cpu") if channels_last is None else channels_last

    given = None
    seeds = codes = None
    if references is None:
        K = int(n_shuffles)
        if K < 1:
            raise InputError(f"n_shuffles must be at least 1, got {n_shuffles}.")
        if isinstance(random_state, np.ndarray) and random_state.ndim == 1:
            if len(random_state) != N:
                raise InputError(f"random_state holds {len(random_state)} per-sequence seeds "
                                 f"but X has {N} sequences.")
            seeds = random_state.astype(np.int64)
        else:
            seeds = as_generator(random_state).integers(0, 2 ** 31 - 1, size=N,
                                                        dtype=np.int64)
        codes = one_hot_to_codes(X.cpu().numpy())
    elif callable(references):
        given = _prepare_references(references(X, n=int(n_shuffles),
                                                random_state=random_state), X)
        K = given.shape[1]
    else:
        given = _prepare_references(references, X)
        K = given.shape[1]

    group = max(1, batch_size // K)
    k_pass = min(K, batch_size)
    attributions = torch.zeros((N, 4, L), dtype=torch.float32)
    deltas = torch.zeros((N, K), dtype=torch.float32)
    refs_out = torch.zeros((N, K, 4, L), dtype=torch.int8) if return_references else None

    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    tower_weights: dict = {}  # re-laid-out tower weights, made once per call
    try:
        for p in params:
            p.requires_grad_(False)
        with model_state(model, device, dtype):
            dt = dtype or next((p.dtype for p in params if p.is_floating_point()),
                               torch.float32)
            attributions = attributions.to(dt)
            for g0 in progress(range(0, N, group), desc="deep_lift_shap", enabled=verbose,
                               unit="group"):
                g1 = min(N, g0 + group)
                g = g1 - g0
                if given is not None:
                    R_all = given[g0:g1]
                else:
                    R_all = torch.from_numpy(codes_to_one_hot(
                        dinucleotide_shuffle_codes(codes[g0:g1], K, seeds[g0:g1]),
                        dtype=np.int8))
                if refs_out is not None:
                    refs_out[g0:g1] = R_all.to(torch.int8)
                Xg = X[g0:g1].to(device).to(dt)
                ag = [a[g0:g1].to(device) for a in arg_list]
                ag = [a.to(dt) if a.is_floating_point() else a for a in ag]
                hyp_sum = torch.zeros_like(Xg)
                for k0 in range(0, K, k_pass):   # several passes only when K > batch_size
                    k1 = min(K, k0 + k_pass)
                    k = k1 - k0
                    R = R_all[:, k0:k1].to(device).to(dt).reshape(g * k, 4, L)
                    R.requires_grad_(True)
                    Z = torch.cat([Xg, R])
                    az = [torch.cat([a, a.repeat_interleave(k, dim=0)]) for a in ag]
                    run = tower_rule_view(model, g, k, tower_weights) if use_cl else model
                    with torch.enable_grad(), DeepLiftMode(g, k, use_cl):
                        y = _output_column(run(Z, *az), target)
                    yx, yr = y[:g].detach(), y[g:]
                    (m,) = torch.autograd.grad(yr.sum(), R)
                    with torch.no_grad():
                        Rd = R.detach()
                        hyp = hypothetical_contributions(m, Rd).reshape(g, k, 4, L)
                        hyp_sum += hyp.sum(dim=1)
                        diff = (Xg.unsqueeze(1) - Rd.reshape(g, k, 4, L)) * m.reshape(g, k, 4, L)
                        dlt = (yx.unsqueeze(1) - yr.detach().reshape(g, k)) - diff.sum(dim=(2, 3))
                        deltas[g0:g1, k0:k1] = dlt.abs().float().cpu()
                attributions[g0:g1] = (hyp_sum / K).cpu()
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)

    if not hypothetical:
        attributions = attributions * X.to(attributions.dtype)
    worst = float(deltas.max()) if deltas.numel() else 0.0
    if worst > warning_threshold:
        i = int(deltas.max(dim=1).values.argmax())
        warnings.warn(f"deep_lift_shap: convergence delta up to {worst:.3g} (sequence {i}) "
                      f"exceeds {warning_threshold:g}: attributions may not sum to the output "
                      f"difference (float precision, or an op treated as affine that is not).",
                      RuntimeWarning, stacklevel=2)
    if return_deltas or return_references:
        return DeepLiftShapResult(attributions, deltas, refs_out)
    return attributions
