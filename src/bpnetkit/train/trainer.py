"""A small, explicit training loop for (profile, counts) models.

The trainer works on any iterable of batches ``(X, y, X_ctl)`` (``X_ctl`` may be None or
left out). It does not build data itself: the caller passes the training batches (and with
them the sampler, e.g. a distributed one) and the device, so the same loop serves one CPU,
one GPU or one rank of a ``torch.distributed`` job.

Distributed (data-parallel) training: give ``dist_context`` (a
:class:`bpnetkit.dist.DistContext` with ``world_size > 1``) and, on every rank, this rank's
share of each global batch (an :class:`~bpnetkit.data.datasets.EpochSampler` with ``rank``,
``world_size`` and ``pad=False``). The model is wrapped in ``DistributedDataParallel``
(gradients averaged over the ranks); each rank's loss is weighted by its share of the global
batch, so the update equals one process's on the whole global batch (also for an uneven or
partly empty last batch). The epoch losses are sums over all ranks; the validation batches are
split across the ranks and their results gathered in batch order, so the validation loss and
correlation are computed exactly as one process computes them and every rank takes the same
early-stopping decision. Only the main process writes files. A single process (no context,
or ``world_size == 1``) runs exactly the code it always ran.

For an exactly reproducible ``resume``, pass the training data as a *function of the epoch*
(``train_data(epoch) -> iterable``) whose randomness is derived from a seed and the epoch
number, or as an object with ``set_epoch(epoch)`` (like ``DistributedSampler``); then a
resumed run repeats precisely what an uninterrupted run would have done.

Outputs in ``output_dir`` (written by the main process only):

- ``model/``           best model (lowest validation loss), via
                       :func:`bpnetkit.models.files.save_model`
- ``checkpoint.pt``    last epoch: model, optimiser, RNG states, history (tensors and plain
                       Python values only; loaded with ``weights_only=True``)
- ``log.tsv``          one row per epoch with epoch *means* of the losses (the training
                       curve of the report, :func:`bpnetkit.report.training.training_curve`)
- ``diagnostic.txt``   only when training stopped on a non-finite loss

The validation loss of each epoch is computed here with plain forward passes inside the
training loop (the same ``_forward`` as training, bf16 autocast included). That is part of
the loop, not a prediction path: predictions of a trained model (test metrics, evaluation)
go through :func:`bpnetkit.interpret.predict.predict`, which the steps call; ``train/`` does
not import ``interpret/`` (the layer rule).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from bpnetkit import dist
from bpnetkit.errors import BpnetkitError, InputError
from bpnetkit.train.losses import log1p_mse, multinomial_nll
from bpnetkit.utils import atomic_path, progress, resolve_device, write_text_atomic

log = logging.getLogger(__name__)

__all__ = ["Trainer", "TrainingDiverged", "TrainResult", "LOG_COLUMNS", "prefetch_pinned",
           "tf32_flags"]

LOG_COLUMNS = ["epoch", "train_loss", "train_profile_loss", "train_counts_loss", "valid_loss",
               "valid_profile_loss", "valid_counts_loss", "valid_counts_pearson",
               "valid_loss_centered", "lr", "seconds", "examples_per_s", "best"]

#: what may pick the best epoch (:class:`Trainer`'s ``monitor``)
MONITORS = ("valid_loss", "valid_loss_centered")


def _with_precision(method: Callable) -> Callable:
    """Run a :class:`Trainer` method under the trainer's TF32 setting (CUDA only)."""
    import functools

    @functools.wraps(method)
    def wrapper(self: Trainer, *args: Any, **kwargs: Any) -> Any:
        with self._precision_flags():
            return method(self, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def tf32_flags(enabled: bool) -> Iterator[None]:
    """Allow (``enabled``) or forbid TensorFloat-32 in CUDA float32 matmuls and cuDNN
    convolutions inside the block, and restore the previous settings afterwards.

    TF32 rounds the inputs of each product to a 10-bit mantissa and accumulates in float32
    (relative error about 1e-3 per product instead of 1e-7); forbidding it gives IEEE float32.
    PyTorch's defaults differ between the two (matmuls: float32; cuDNN convolutions: TF32), so
    both are set. The flags are process-wide; they only affect CUDA kernels.

    Parameters
    ----------
    enabled : bool
        True: TF32 allowed; False: full float32.
    """
    mm, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(mm, "fp32_precision") and hasattr(conv, "fp32_precision"):
        old = (mm.fp32_precision, conv.fp32_precision)
        value = "tf32" if enabled else "ieee"
        mm.fp32_precision, conv.fp32_precision = value, value
        try:
            yield
        finally:
            mm.fp32_precision, conv.fp32_precision = old
    else:  # torch before 2.9: the legacy switches
        old_b = (mm.allow_tf32, torch.backends.cudnn.allow_tf32)
        mm.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(enabled)
        try:
            yield
        finally:
            mm.allow_tf32, torch.backends.cudnn.allow_tf32 = old_b


def wide_kernel_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                       stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1
                       ) -> torch.Tensor | None:
    """A valid, undilated 1-D convolution with few output channels and a wide kernel (the
    profile heads: 1 or 2 tracks, kernel 75) computed as GEMMs; None for any other call.

    ``out[n, o, t] = sum_k sum_c w[o, c, k] x[n, c, t + k]`` is computed as a pointwise
    convolution of ``x`` to ``out_channels * kernel`` channels (one GEMM) followed by a sum of
    the shifted diagonals (a strided view). The same products summed in another order, so equal
    to ``conv1d`` up to float rounding (relative 1e-6 in float32), and on a CPU forward plus
    backward run several times faster than oneDNN's direct convolution of such shapes (whose
    backward takes about a quarter of a BPNet training step).
    """
    def one(v: Any) -> int | None:
        v = v[0] if isinstance(v, tuple | list) and len(v) == 1 else v
        return v if isinstance(v, int) else None

    if isinstance(padding, str):
        padding = 0 if padding == "valid" else None
    if x.ndim != 3 or weight.ndim != 3 or groups != 1 or one(stride) != 1 or \
            one(dilation) != 1 or one(padding) != 0:
        return None
    N, C, L = x.shape
    O, _, K = weight.shape
    if O > 4 or K < 16 or L < K or weight.shape[1] != C:
        return None
    T = L - K + 1
    u = torch.conv1d(x, weight.permute(0, 2, 1).reshape(O * K, C, 1)).contiguous()
    s0, s1, s2 = u.stride()
    # u[n, o * K + k, t + k] for every (n, o, k, t): disjoint elements, summed over k
    out = u.as_strided((N, O, K, T), (s0, K * s1, s1 + s2, s2), u.storage_offset()).sum(2)
    return out if bias is None else out + bias.view(1, O, 1)


def _is_wide_kernel_conv(m: nn.Module) -> bool:
    """Whether ``m`` is a convolution that :func:`wide_kernel_conv1d` computes."""
    return isinstance(m, nn.Conv1d) and m.out_channels <= 4 and m.kernel_size[0] >= 16 and \
        m.stride == (1,) and m.dilation == (1,) and m.groups == 1 and \
        m.padding in ((0,), "valid") and m.padding_mode == "zeros"


class _WideKernelConvMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.nn.functional.conv1d, torch.conv1d):
            out = wide_kernel_conv1d(*args, **kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)


def _wide_kernel_convs(enabled: bool):
    """Context in which the wide-kernel convolutions run as GEMMs
    (:func:`wide_kernel_conv1d`)."""
    return _WideKernelConvMode() if enabled else contextlib.nullcontext()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def _pinned(batch: Any, pin: bool) -> tuple:
    X, y, X_ctl = _unpack(batch)
    out = []
    for t in (X, y, X_ctl):
        if t is not None:
            t = _as_tensor(t)
            if pin and not t.is_pinned():
                t = t.pin_memory()
        out.append(t)
    return tuple(out)


def prefetch_pinned(batches: Iterable, depth: int = 2) -> Iterator[tuple]:
    """Iterate ``batches`` (``(X, y[, X_ctl])``) from a background thread that keeps up to
    ``depth`` batches ready in pinned (page-locked) host memory.

    Pinned tensors copy to a GPU asynchronously with ``.to(device, non_blocking=True)``, and
    gathering the next batch on the CPU overlaps the GPU's work on the current one. The
    batches and their order are those of ``batches``; an exception of the source is raised
    in the caller. Without CUDA nothing can be pinned and the tensors come as they are (the
    trainer prefetches only on CUDA).

    Parameters
    ----------
    batches : iterable
        Training or validation batches.
    depth : int
        Batches gathered ahead.

    Yields
    ------
    tuple
        ``(X, y, X_ctl)`` tensors in pinned memory (``X_ctl`` may be None).
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()
    pin = torch.cuda.is_available()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for batch in batches:
                if not put(_pinned(batch, pin)):
                    return
            put(_END)
        except BaseException as e:  # handed to the consumer, raised there
            put(_Failure(e))

    thread = threading.Thread(target=work, name="bpnetkit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()


class TrainingDiverged(BpnetkitError, RuntimeError):
    """The loss became NaN or infinite before any finite validation loss was recorded."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    best_epoch: int
    best_valid_loss: float
    epochs_run: int
    stopped: str  # "max_epochs" | "early_stopping" | "max_time" | "non_finite_loss"
    history: list[dict] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    diagnostic: str | None = None


def _param_groups(model: nn.Module, params: list, lr: float,
                  factors: dict[str, float] | None) -> list:
    """The optimizer's parameter groups: one plain list without ``factors``; else one group
    per prefix of ``factors`` (lr multiplied, ``lr_factor`` kept for the schedule) and one
    for the rest."""
    if not factors:
        return params
    trainable = {id(p) for p in params}
    named = [(n, p) for n, p in model.named_parameters() if id(p) in trainable]
    groups, taken = [], set()
    for prefix, f in factors.items():
        if not f > 0:
            raise InputError(f"lr factor of '{prefix}' must be positive, got {f}.")
        mine = [p for n, p in named if (n == prefix or n.startswith(prefix + "."))
                and id(p) not in taken]
        if not mine:
            raise InputError(f"no trainable parameter of the model is named '{prefix}' or "
                             f"starts with '{prefix}.'; valid prefixes include "
                             f"{sorted({n.split('.')[0] for n, _ in named})}.")
        taken.update(id(p) for p in mine)
        groups.append({"params": mine, "lr": lr * f, "lr_factor": float(f)})
    rest = [p for _, p in named if id(p) not in taken]
    return ([{"params": rest}] if rest else []) + groups


def _unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, dict):
        return batch["X"], batch["y"], batch.get("X_ctl")
    if not isinstance(batch, list | tuple) or len(batch) not in (2, 3):
        raise InputError("each training batch must be a tuple (X, y) or (X, y, X_ctl); got "
                         f"{type(batch).__name__}.")
    X, y = batch[0], batch[1]
    X_ctl = batch[2] if len(batch) == 3 else None
    return X, y, X_ctl


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


class Trainer:
    """Train a model returning ``(profile_logits, log_counts)``.

    Parameters
    ----------
    model : nn.Module
        The model to train (trainable parameters only are optimised).
    optimizer : {"adam", "adamw"}
        Optimiser.
    lr : float
        Learning rate.
    weight_decay : float
        Weight decay (decoupled for AdamW).
    eps : float
        Adam epsilon (1e-7 in the official ChromBPNet/Keras code, 1e-8 in PyTorch).
    count_weight : float
        Weight of the count loss: ``loss = profile + count_weight * counts``.
    joint_strands : bool
        Softmax jointly over strands (bpnet-lite, ProCapNet) or per strand.
    max_epochs : int
        Maximum number of epochs.
    max_time : float or None
        Wall-clock budget of this call of :meth:`fit`, in seconds (validation included): no
        epoch starts that would, at the mean duration of the epochs so far, end after it
        (``stopped="max_time"``). At least one epoch always runs. The epochs reached depend
        on the machine's speed; None: no limit.
    patience : int or None
        Stop after this many epochs without improvement of the validation loss; None never
        stops early.
    min_delta : float
        Smallest decrease of the validation loss that counts as an improvement.
    grad_clip : float or None
        Clip the gradient norm to this value (None: no clipping).
    device : str, torch.device or None
        Device; None picks CUDA when available.
    bf16 : bool
        Run forward passes under bfloat16 autocast (losses are computed in float32).
    tf32 : bool
        On a CUDA device, let float32 matmuls and cuDNN convolutions use TensorFloat-32
        (10-bit mantissa inputs, float32 accumulation) during training and validation; False
        forces full float32 (IEEE). No effect on other devices. The previous global settings
        are restored after each epoch (:func:`tf32_flags`).
    compile : bool or str
        ``torch.compile`` the training forward pass (True: the default backend, inductor; a
        string names another backend, e.g. ``"aot_eager"``). Validation runs the eager
        model. Values equal eager ones up to float rounding (fused kernels).
    output_dir : str, Path or None
        Folder for the best model, the checkpoint and the log; None keeps everything in
        memory.
    random_state : int
        Seed of torch/numpy/python RNGs at the start of training.
    provenance : dict or None
        Extra provenance written with the best model (data files, split, hyperparameters).
    progress : bool
        Show progress bars (:func:`bpnetkit.utils.progress`: tqdm on a terminal, a log line
        every few seconds elsewhere).
    is_main_process : bool
        Only the main process writes files (set False on non-zero ranks; with
        ``dist_context`` it is False on every rank but 0 whatever is given).
    save_model_fn : callable or None
        ``save_model(model, path, provenance)``; default
        :func:`bpnetkit.models.files.save_model`.
    dist_context : bpnetkit.dist.DistContext or None
        The distributed job this process is a rank of (from
        :func:`bpnetkit.dist.init_from_env`); None or ``world_size == 1``: one process.
    checkpoint_meta : dict or None
        JSON-serialisable metadata saved in every checkpoint (``fit`` stores its resolved
        parameters and the identity of its input files there, to refuse a resume under
        another configuration); read back with :func:`checkpoint_meta`.
    lr_schedule : callable or None
        ``step -> learning rate`` for every optimizer step (0-based, counted over the whole
        run and stored in checkpoints, so a resume continues the schedule), e.g.
        :class:`bpnetkit.train.schedules.LRSchedule`; None keeps ``lr`` constant.
    lr_factors : dict or None
        Parameter-name prefix -> learning-rate multiplier (e.g. ``{"linear": 10.0}``: the
        count head of a BPNet learns 10x faster); the parameters of each prefix form their
        own optimizer group. None: one group.
    monitor : {"valid_loss", "valid_loss_centered"}
        What picks the best epoch (and drives ``patience``): the validation loss, or the
        validation profile loss plus ``count_weight`` times the *variance* of the count
        residuals (predicted minus observed log counts): the count term without the offset
        of the mean prediction, which moves from epoch to epoch with the count head's bias
        and then, weighted by ``count_weight``, outweighs every change of the profile.
    """

    def __init__(self, model: nn.Module, optimizer: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, eps: float = 1e-8, count_weight: float = 1.0,
                 joint_strands: bool = True, max_epochs: int = 50, patience: int | None = 5,
                 min_delta: float = 0.0, grad_clip: float | None = None, device: Any = None,
                 bf16: bool = False, tf32: bool = True, compile: bool | str = False,
                 output_dir: str | Path | None = None,
                 random_state: int = 0, provenance: dict | None = None, progress: bool = True,
                 is_main_process: bool = True,
                 save_model_fn: Callable[..., Any] | None = None,
                 dist_context: dist.DistContext | None = None,
                 checkpoint_meta: dict | None = None,
                 lr_schedule: Callable[[int], float] | None = None,
                 lr_factors: dict[str, float] | None = None,
                 max_time: float | None = None, monitor: str = "valid_loss") -> None:
        if optimizer not in ("adam", "adamw"):
            raise InputError(f"optimizer must be 'adam' or 'adamw', got {optimizer!r}.")
        if lr <= 0 or not math.isfinite(lr):
            raise InputError(f"learning rate must be a positive number, got {lr}.")
        if max_epochs < 1:
            raise InputError(f"max_epochs must be at least 1, got {max_epochs}.")
        if max_time is not None and not (max_time > 0 and math.isfinite(max_time)):
            raise InputError(f"max_time must be a positive number of seconds, got {max_time}.")
        if monitor not in MONITORS:
            raise InputError(f"monitor must be one of {list(MONITORS)}, got {monitor!r}.")
        self.monitor = monitor
        self.max_time = None if max_time is None else float(max_time)
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise InputError("the model has no trainable parameters.")
        cls = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
        self.optimizer = cls(_param_groups(model, params, lr, lr_factors), lr=lr, eps=eps,
                             weight_decay=weight_decay)
        self.lr = lr
        self.lr_schedule = lr_schedule  # step -> lr (bpnetkit.train.schedules.LRSchedule)
        self.step = 0  # optimizer steps taken (the schedule's clock; saved in checkpoints)
        self.count_weight = float(count_weight)
        self.joint_strands = joint_strands
        self.max_epochs = int(max_epochs)
        self.patience = patience
        self.min_delta = float(min_delta)
        self.grad_clip = grad_clip
        self.bf16 = bf16
        self.tf32 = bool(tf32)
        if not isinstance(compile, bool | str) or compile == "":
            raise InputError(f"compile must be true, false or the name of a torch.compile "
                             f"backend (e.g. \"inductor\"), got {compile!r}.")
        self.compile = compile
        # CPU: wide-kernel profile heads as GEMMs (wide_kernel_conv1d); eager float32 only,
        # and only for models that have such a convolution
        self._gemm_heads = self.device.type == "cpu" and not compile and not bf16 and any(
            _is_wide_kernel_conv(m) for m in model.modules())
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.random_state = int(random_state)
        self.provenance = dict(provenance or {})
        self.progress = progress
        self.is_main_process = is_main_process
        self.save_model_fn = save_model_fn
        self.checkpoint_meta = dict(checkpoint_meta or {})
        inner = getattr(model, "module", model)  # DistributedDataParallel keeps it in .module
        self.n_control_tracks = int(getattr(inner, "n_control_tracks", 0) or 0)
        # state
        self.epoch = 0
        self.best_valid_loss = math.inf
        self.best_epoch = 0
        self.wait = 0
        self.history: list[dict] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        # distributed: the DDP wrapper trains, ``self.model`` (the same parameters) evaluates
        self.dist = dist_context if dist_context is not None and dist_context.distributed \
            else None
        self._train_model: nn.Module = self.model
        if self.dist is not None:
            self.is_main_process = self.dist.is_main
            self._train_model = self._wrap_ddp()
        if compile:
            self._train_model = self._compiled(self._train_model)

    @property
    def precision(self) -> dict:
        """How this trainer computes (recorded in the provenance of the models it saves):
        device, bf16 autocast, TF32 (True only where it takes effect: CUDA) and compile."""
        return {"device": str(self.device), "bf16": bool(self.bf16),
                "tf32": bool(self.tf32 and self.device.type == "cuda"),
                "compile": self.compile if isinstance(self.compile, str) else
                bool(self.compile)}

    def _compiled(self, module: nn.Module) -> nn.Module:
        """``torch.compile(module)`` with static shapes (a full and a last, smaller batch give
        two graphs, not a dynamic-shape graph)."""
        backend = self.compile if isinstance(self.compile, str) else "inductor"
        try:
            return torch.compile(module, backend=backend, dynamic=False)
        except Exception as e:  # an unknown backend name, or no compiler available
            raise InputError(f"compile={self.compile!r}: torch.compile cannot use backend "
                             f"{backend!r} here ({type(e).__name__}: {e}); set compile to "
                             f"false, or to a backend listed by "
                             f"torch._dynamo.list_backends().") from None

    def _precision_flags(self):
        """The TF32 setting of this trainer around a block (CUDA only; a no-op elsewhere)."""
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        return tf32_flags(self.tf32)

    def _wrap_ddp(self) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        try:
            # construction broadcasts rank 0's weights (a collective)
            return DistributedDataParallel(self.model, device_ids=ids)
        except RuntimeError as e:
            raise dist.collective_error("wrapping the model for data-parallel training", e
                                        ) from e

    # -- one step ---------------------------------------------------------------------------
    def _forward(self, X: torch.Tensor, X_ctl: torch.Tensor | None):
        X = X.to(self.device, non_blocking=True).float()
        if X_ctl is not None:
            X_ctl = X_ctl.to(self.device, non_blocking=True).float()
        args = (X, X_ctl) if self.n_control_tracks > 0 else (X,)
        if self.n_control_tracks > 0 and X_ctl is None:
            raise InputError(f"the model expects {self.n_control_tracks} control tracks but the "
                             f"batches carry none; give 'controls' or use a model without "
                             f"control tracks.")
        model = self._train_model if self.model.training else self.model
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                            enabled=self.bf16), _wide_kernel_convs(self._gemm_heads):
            logits, log_counts = model(*args)
        return logits.float(), log_counts.float()

    def _losses(self, logits, log_counts, y):
        y = y.to(self.device, non_blocking=True).float()
        L = logits.shape[-1]
        if y.shape[-1] != L:
            if y.shape[-1] < L:
                raise InputError(f"target profiles have {y.shape[-1]} positions but the model "
                                 f"predicts {L}; make out_window match the model output.")
            left = (y.shape[-1] - L) // 2
            y = y[..., left:left + L]
        prof = multinomial_nll(logits, y, joint_strands=self.joint_strands)
        cnt = log1p_mse(log_counts, y)
        return prof + self.count_weight * cnt, prof, cnt, y

    # -- epochs -----------------------------------------------------------------------------
    def _epoch_batches(self, data: Any, epoch: int) -> Iterable:
        if callable(data) and not hasattr(data, "__iter__"):
            return data(epoch)
        if hasattr(data, "set_epoch"):
            data.set_epoch(epoch)
        return data

    def _bar(self, it: Iterable, desc: str):
        return progress(it, desc=desc, enabled=self.progress and self.is_main_process,
                        unit="batch")

    def _host_batches(self, batches: Iterable) -> Iterable:
        """The batches as they come on a CPU; on CUDA gathered one or two batches ahead in a
        background thread into pinned memory, so the host->GPU copies (``non_blocking``) run
        asynchronously while the GPU computes (same batches, same order)."""
        if self.device.type != "cuda":
            return batches
        return prefetch_pinned(batches)

    @_with_precision
    def train_epoch(self, batches: Iterable, epoch: int) -> dict:
        """One pass over ``batches``; returns example-weighted epoch means of the losses
        (over all ranks when distributed)."""
        if self.dist is not None:
            return self._train_epoch_distributed(batches, epoch)
        self.model.train()
        sums = np.zeros(3)
        n = 0
        t0 = time.perf_counter()
        for i, batch in enumerate(self._bar(self._host_batches(batches), f"epoch {epoch}")):
            X, y, X_ctl = _unpack(batch)
            X, y = _as_tensor(X), _as_tensor(y)
            X_ctl = None if X_ctl is None else _as_tensor(X_ctl)
            self.optimizer.zero_grad(set_to_none=True)
            logits, log_counts = self._forward(X, X_ctl)
            loss, prof, cnt, _ = self._losses(logits, log_counts, y)
            if not torch.isfinite(loss):
                raise _NonFinite(epoch, i, loss.item(), prof.item(), cnt.item(), X, y)
            loss.backward()
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self._optimizer_step()
            b = X.shape[0]
            sums += b * np.array([loss.item(), prof.item(), cnt.item()])
            n += b
        return _epoch_summary(sums, n, t0)

    def _train_epoch_distributed(self, batches: Iterable, epoch: int) -> dict:
        """:meth:`train_epoch` on one rank: this rank's share of every global batch."""
        assert self.dist is not None
        self.model.train()
        W = self.dist.world_size
        sums = np.zeros(3)
        n = 0
        t0 = time.perf_counter()
        for i, batch in enumerate(self._bar(self._host_batches(batches), f"epoch {epoch}")):
            X, y, X_ctl = _unpack(batch)
            X, y = _as_tensor(X), _as_tensor(y)
            X_ctl = None if X_ctl is None else _as_tensor(X_ctl)
            self.optimizer.zero_grad(set_to_none=True)
            logits, log_counts = self._forward(X, X_ctl)
            b = X.shape[0]
            if b:
                loss, prof, cnt, _ = self._losses(logits, log_counts, y)
                local = [b * loss.detach().double(), b * prof.detach().double(),
                         b * cnt.detach().double()]
                bad = (~torch.isfinite(loss.detach())).double()
            else:  # an empty share of the last global batch: joins the gradient sum with 0
                loss = (logits.sum() + log_counts.sum()) * 0.0
                zero = torch.zeros((), dtype=torch.float64, device=self.device)
                local, bad = [zero, zero, zero], zero
            stats = torch.stack([*local, torch.tensor(float(b), dtype=torch.float64,
                                                      device=self.device), bad])
            dist.all_reduce_sum(stats, f"training losses of epoch {epoch}, batch {i}")
            tot = stats.cpu().numpy()
            n_global = int(round(tot[3]))
            if tot[4] > 0:  # the same decision on every rank, before the gradient all-reduce
                g = tot[:3] / max(n_global, 1)
                raise _NonFinite(epoch, i, g[0], g[1], g[2], X, y)
            # DDP averages the gradients over the W ranks: weight each rank's mean loss by
            # W * (its share of the global batch) so the average is the global batch's mean
            scale = W * b / n_global
            try:
                (loss if scale == 1.0 else loss * scale).backward()
            except torch.distributed.DistError as e:
                raise dist.collective_error(f"the gradient all-reduce of epoch {epoch}, "
                                            f"batch {i}", e) from e
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self._optimizer_step()
            sums += tot[:3]
            n += n_global
        return _epoch_summary(sums, n, t0)

    def _optimizer_step(self) -> None:
        """One optimizer step at the schedule's learning rate for this step (if any)."""
        if self.lr_schedule is not None:
            lr = float(self.lr_schedule(self.step))
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_factor", 1.0)
        self.optimizer.step()
        self.step += 1

    def _valid_batch(self, batch: Any) -> tuple:
        X, y, X_ctl = _unpack(batch)
        X, y = _as_tensor(X), _as_tensor(y)
        X_ctl = None if X_ctl is None else _as_tensor(X_ctl)
        logits, log_counts = self._forward(X, X_ctl)
        loss, prof, cnt, yc = self._losses(logits, log_counts, y)
        b = X.shape[0]
        return (b, loss.item(), prof.item(), cnt.item(),
                log_counts.reshape(b, -1).logsumexp(-1).cpu().numpy(),
                np.log1p(yc.sum(dim=tuple(range(1, yc.ndim))).cpu().numpy()))

    @_with_precision
    @torch.no_grad()
    def evaluate_loss(self, batches: Iterable) -> dict:
        """Example-weighted mean losses and the counts Pearson on ``batches`` (distributed:
        the ranks share the batches and every rank gets the result of all of them)."""
        self.model.eval()
        if self.dist is not None:
            every = list(batches)
            W, r = self.dist.world_size, self.dist.rank
            mine = [(k, self._valid_batch(every[k])) for k in range(r, len(every), W)]
            parts = dist.all_gather_object(mine, "validation results")
            results = [res for _, res in sorted((kv for part in parts for kv in part),
                                                key=lambda kv: kv[0])]
        else:
            results = (self._valid_batch(batch) for batch in self._host_batches(batches))
        sums = np.zeros(3)
        n = 0
        pred, obs = [], []
        for b, loss, prof, cnt, pr, ob in results:
            sums += b * np.array([loss, prof, cnt])
            n += b
            pred.append(pr)
            obs.append(ob)
        if n == 0:
            raise InputError("the validation data produced no batches; check that the "
                             "validation chromosomes contain regions.")
        from bpnetkit.train.metrics import pearson

        m = sums / n
        obs_all, pred_all = np.concatenate(obs), np.concatenate(pred)
        centered = float(np.var(pred_all - obs_all)) if obs_all.size else math.nan
        return {"valid_loss": m[0], "valid_profile_loss": m[1], "valid_counts_loss": m[2],
                "valid_counts_pearson": pearson(obs_all, pred_all),
                "valid_loss_centered": float(m[1]) + self.count_weight * centered}

    # -- state ------------------------------------------------------------------------------
    def _seed(self) -> None:
        torch.manual_seed(self.random_state)
        np.random.seed(self.random_state % (2 ** 32))  # noqa: NPY002
        random.seed(self.random_state)

    def state_dict(self) -> dict:
        """Everything needed to continue training: model, optimiser, counters, RNG states."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "epoch": int(self.epoch),
            "step": int(self.step),
            "best_valid_loss": float(self.best_valid_loss),
            "best_epoch": int(self.best_epoch),
            "wait": int(self.wait),
            "history_json": json.dumps(self.history),
            "best_state": self.best_state,
            "world_size": int(self.dist.world_size if self.dist is not None else 1),
            "meta_json": json.dumps(self.checkpoint_meta, sort_keys=True, default=str),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng_json": json.dumps(_np_state_to_json(np.random.get_state())),  # noqa: NPY002
            "python_rng_json": json.dumps(_py_state_to_json(random.getstate())),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state written by :meth:`state_dict`."""
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as e:  # another architecture: name it instead of a size mismatch
            raise InputError(f"cannot resume: the checkpoint holds weights of another model "
                             f"architecture ({str(e).splitlines()[0]}). Start without "
                             f"'resume' or in a new output_dir.") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.step = int(state.get("step", 0))
        self.best_valid_loss = float(state["best_valid_loss"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.history = json.loads(state["history_json"])
        self.best_state = state["best_state"]
        was = int(state.get("world_size", 1))
        now = self.dist.world_size if self.dist is not None else 1
        if was != now and self.is_main_process:
            log.warning("resuming a run trained with %d process(es) with %d: the checkpoint "
                        "ends at epoch %d and the plan of every epoch depends only on the "
                        "seed and the epoch, so training continues the same global plan with "
                        "the same global batch; only the per-process batch and the order in "
                        "which gradients are summed change (float rounding).", was, now,
                        self.epoch)
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(  # noqa: NPY002
            _np_state_from_json(json.loads(state["numpy_rng_json"])))
        random.setstate(_py_state_from_json(json.loads(state["python_rng_json"])))

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` to ``path`` atomically."""
        with atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)
        return Path(path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load a checkpoint written by :meth:`save_checkpoint` (``weights_only=True``)."""
        self.load_state_dict(read_checkpoint(path))

    # -- main loop --------------------------------------------------------------------------
    def fit(self, train_data: Any, valid_data: Iterable, resume: bool = False) -> TrainResult:
        """Train until ``max_epochs`` or early stopping; keep the best model.

        Parameters
        ----------
        train_data : iterable, callable or object with ``set_epoch``
            Training batches ``(X, y, X_ctl)``: re-iterated each epoch, or ``train_data(epoch)``
            returning the epoch's batches (epochs count from 1).
        valid_data : iterable
            Validation batches (re-iterated each epoch).
        resume : bool
            Continue from ``output_dir/checkpoint.pt``.

        Returns
        -------
        TrainResult
            On return the model holds the best weights (lowest validation loss).
        """
        out = self.output_dir
        write = out is not None and self.is_main_process
        if write:
            out.mkdir(parents=True, exist_ok=True)
        if resume:
            if out is None:
                raise InputError("resume needs an output_dir holding checkpoint.pt.")
            self.load_checkpoint(out / "checkpoint.pt")
        else:
            self._seed()
        stopped = "max_epochs"
        diagnostic = None
        if self.patience is not None and self.wait >= self.patience:
            stopped = "early_stopping"
        started, epochs_here = time.monotonic(), 0
        while self.epoch < self.max_epochs and stopped == "max_epochs":
            if self._out_of_time(started, epochs_here):
                stopped = "max_time"
                break
            epoch = self.epoch + 1
            try:
                row = self.train_epoch(self._epoch_batches(train_data, epoch), epoch)
            except _NonFinite as e:
                diagnostic = e.describe(self.lr, self.grad_clip)
                stopped = "non_finite_loss"
                break
            row.update(self.evaluate_loss(valid_data))
            row["epoch"] = epoch
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            vl = float(row[self.monitor])
            if not math.isfinite(vl):
                diagnostic = (f"validation loss is {vl} after epoch {epoch}; training stopped. "
                              "Lower the learning rate or enable grad_clip.")
                stopped = "non_finite_loss"
                break
            improved = vl < self.best_valid_loss - self.min_delta
            row["best"] = int(improved)
            if improved:
                self.best_valid_loss = vl
                self.best_epoch = epoch
                self.wait = 0
                self.best_state = {k: v.detach().cpu().clone()
                                   for k, v in self.model.state_dict().items()}
                if write:
                    self._save_best(row)
            else:
                self.wait += 1
            self.epoch = epoch
            self.history.append({k: (float(v) if isinstance(v, float | np.floating) else v)
                                 for k, v in row.items() if k in LOG_COLUMNS})
            if self.is_main_process:
                log.info("epoch %d: train loss %.4g, valid loss %.4g, valid counts r %.3f%s",
                         epoch, row["train_loss"], vl, row["valid_counts_pearson"],
                         " (best)" if improved else "")
            if write:
                self.save_checkpoint(out / "checkpoint.pt")
                self._write_log()
            epochs_here += 1
            if self.patience is not None and self.wait >= self.patience:
                stopped = "early_stopping"
        if self.best_state is None:
            raise TrainingDiverged(
                (diagnostic or "training produced no finite validation loss") +
                " No model was saved because no epoch finished with a finite loss.")
        self.model.load_state_dict(self.best_state)
        outputs: dict[str, str] = {}
        if write:
            self._write_log()
            outputs = {"model": str(out / "model"), "checkpoint": str(out / "checkpoint.pt"),
                       "log": str(out / "log.tsv")}
            if diagnostic is not None:
                write_text_atomic(out / "diagnostic.txt", diagnostic + "\n")
                outputs["diagnostic"] = str(out / "diagnostic.txt")
        if diagnostic is not None:
            warnings.warn(f"{diagnostic} The best model (epoch {self.best_epoch}, validation "
                          f"loss {self.best_valid_loss:.4g}) was kept.", stacklevel=2)
        return TrainResult(best_epoch=self.best_epoch, best_valid_loss=self.best_valid_loss,
                           epochs_run=self.epoch, stopped=stopped, history=list(self.history),
                           outputs=outputs, diagnostic=diagnostic)

    def _out_of_time(self, started: float, epochs_done: int) -> bool:
        """Whether the next epoch would end after ``max_time`` (rank 0 decides for all)."""
        if self.max_time is None or epochs_done == 0:
            return False
        elapsed = time.monotonic() - started
        stop = elapsed + elapsed / epochs_done > self.max_time
        if self.dist is not None:
            stop = bool(dist.broadcast_object(stop, name="max_time"))
        if stop and self.is_main_process:
            log.info("stopping after epoch %d: another epoch (~%.0f s) would pass max_time "
                     "(%.0f s; %.0f s used)", self.epoch, elapsed / epochs_done,
                     self.max_time, elapsed)
        return stop

    # -- outputs ----------------------------------------------------------------------------
    def _save_best(self, row: dict) -> None:
        save = self.save_model_fn
        if save is None:
            from bpnetkit.models.files import save_model as save
        prov = dict(self.provenance)
        prov["training"] = {"best_epoch": self.best_epoch,
                            "best_valid_loss": float(self.best_valid_loss),
                            "valid_counts_pearson": float(row.get("valid_counts_pearson",
                                                                  float("nan"))),
                            "precision": self.precision}
        save(self.model, self.output_dir / "model", provenance=prov)

    def _write_log(self) -> None:
        lines = ["\t".join(LOG_COLUMNS)]
        for row in self.history:
            vals = []
            for c in LOG_COLUMNS:
                v = row.get(c, "")
                vals.append(f"{v:.6g}" if isinstance(v, float) else str(v))
            lines.append("\t".join(vals))
        write_text_atomic(self.output_dir / "log.tsv", "\n".join(lines) + "\n")


class _NonFinite(Exception):
    def __init__(self, epoch, batch, loss, prof, cnt, X, y):
        super().__init__(f"non-finite loss at epoch {epoch}, batch {batch}")
        self.epoch, self.batch = epoch, batch
        self.loss, self.prof, self.cnt = loss, prof, cnt
        y = _as_tensor(y).float()
        self.y_finite = bool(torch.isfinite(y).all())
        self.y_max = float(y[torch.isfinite(y)].max()) if torch.isfinite(y).any() else math.nan
        self.X_finite = bool(torch.isfinite(_as_tensor(X).float()).all())

    def describe(self, lr: float, grad_clip: float | None) -> str:
        causes = []
        if not self.y_finite:
            causes.append("the target signal of this batch contains NaN/inf values (check the "
                          "bigWigs)")
        if not self.X_finite:
            causes.append("the input sequences contain NaN/inf values")
        if not causes:
            causes.append(f"the optimisation diverged (lr={lr}; try a lower lr"
                          + ("" if grad_clip else " or grad_clip=1.0") + ")")
        return (f"Loss became non-finite at epoch {self.epoch}, batch {self.batch} (total "
                f"{self.loss}, profile {self.prof}, counts {self.cnt}; largest target value "
                f"{self.y_max:g}). Likely cause: {'; '.join(causes)}.")


def read_checkpoint(path: str | Path) -> dict:
    """The state dict of a checkpoint written by :meth:`Trainer.save_checkpoint`.

    Parameters
    ----------
    path : str or Path
        The ``checkpoint.pt`` file.

    Returns
    -------
    dict
        The saved state (see :meth:`Trainer.state_dict`); ``checkpoint_meta(state)`` gives
        the metadata stored with it.

    Raises
    ------
    InputError
        The file is missing, truncated or not a bpnetkit checkpoint (naming the file).
    """
    import pickle
    import zipfile

    path = Path(path)
    if not path.exists():
        raise InputError(f"cannot resume: no checkpoint at '{path}'. Start without "
                         f"'resume', or point output_dir at the interrupted run.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError,
            zipfile.BadZipFile) as e:
        raise InputError(f"checkpoint '{path}' is truncated or corrupt ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); re-run without "
                         f"--resume (start fresh) or restore the file.") from None
    missing = [k for k in ("model", "optimizer", "epoch", "history_json")
               if not isinstance(state, dict) or k not in state]
    if missing:
        raise InputError(f"checkpoint '{path}' is not a bpnetkit training checkpoint (missing "
                         f"{missing}); re-run without --resume or restore the file.")
    return state


def checkpoint_meta(state: dict) -> dict:
    """The metadata (``checkpoint_meta`` of the trainer) stored in a checkpoint state; {} for
    checkpoints written without it."""
    return json.loads(state.get("meta_json", "{}"))


def _np_state_to_json(state: tuple) -> list:
    name, keys, pos, has_gauss, cached = state
    return [name, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)]


def _np_state_from_json(s: list) -> tuple:
    return (s[0], np.asarray(s[1], dtype=np.uint32), s[2], s[3], s[4])


def _py_state_to_json(state: tuple) -> list:
    return [state[0], list(state[1]), state[2]]


def _py_state_from_json(s: list) -> tuple:
    return (s[0], tuple(s[1]), s[2])


def _epoch_summary(sums: np.ndarray, n: int, t0: float) -> dict:
    """Mean training losses of an epoch over its ``n`` examples, and its speed."""
    if n == 0:
        raise InputError("the training data produced no batches in this epoch; check that "
                         "the training chromosomes contain regions.")
    secs = time.perf_counter() - t0
    m = sums / n
    return {"train_loss": m[0], "train_profile_loss": m[1], "train_counts_loss": m[2],
            "seconds": secs, "examples_per_s": n / max(secs, 1e-9), "n_train": n}
