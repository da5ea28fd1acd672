"""Joining a ``torch.distributed`` job started by ``torchrun`` (or any launcher that sets its
environment: SLURM with ``srun torchrun``, Kubernetes, ``torch.multiprocessing``).

:func:`init_from_env` reads ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (and
``MASTER_ADDR``/``MASTER_PORT``, read by torch itself). Without them, or with
``WORLD_SIZE=1``, nothing is initialised and the context says ``world_size == 1``: a single
process behaves exactly as without this module. With them, the default process group is
initialised with NCCL when CUDA is available and gloo otherwise, and a gloo group is added for
the control messages (barriers, gathering small Python objects), so that these carry a
timeout and name a rank that died or hangs on every backend.

Every collective of this module waits at most ``timeout_s`` seconds (default 1800, or the
environment variable ``BPNETKIT_DIST_TIMEOUT_S``) and then raises :class:`DistributedError`
instead of hanging; a rank whose process died is usually reported at once.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bpnetkit.errors import BpnetkitError, InputError

log = logging.getLogger(__name__)

__all__ = ["DistContext", "DistributedError", "all_gather_object", "all_reduce_sum", "barrier",
           "broadcast_object", "collective_error", "context", "destroy", "init_from_env",
           "is_main", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 1800.0
_TIMEOUT_ENV = "BPNETKIT_DIST_TIMEOUT_S"

T = TypeVar("T")


class DistributedError(BpnetkitError, RuntimeError):
    """A collective of a distributed job failed: another rank died, hangs or lost contact."""


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a distributed job.

    Attributes
    ----------
    rank : int
        Global rank (0 for a single process).
    world_size : int
        Number of processes (1 without ``torchrun``).
    local_rank : int
        Rank on this machine (selects the GPU).
    backend : str or None
        ``"nccl"`` or ``"gloo"``; None when no process group was initialised.
    device : str
        The device this rank should use by default: ``"cuda:<local_rank>"`` when CUDA is
        available, else ``"cpu"``.
    timeout_s : float
        Seconds a collective waits for the other ranks before failing.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: str = "cpu"
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that writes shared outputs)."""
        return self.rank == 0


_CONTEXT: DistContext | None = None
_CONTROL_GROUP: Any = None  # gloo group for barriers and object gathering


def _env_int(name: str, default: int | None = None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"environment variable {name}={raw!r} is not an integer; it is set "
                         f"by torchrun (or your launcher) and must be a whole number."
                         ) from None


def _default_timeout() -> float:
    raw = os.environ.get(_TIMEOUT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise InputError(f"environment variable {_TIMEOUT_ENV}={raw!r} must be a positive "
                         f"number of seconds.")
    return value


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def init_from_env(timeout_s: float | None = None, backend: str | None = None) -> DistContext:
    """Join the distributed job described by the environment, or say there is none.

    Idempotent: later calls return the context of the first one.

    Parameters
    ----------
    timeout_s : float or None
        Seconds any collective waits for the other ranks before raising
        :class:`DistributedError` (None: ``BPNETKIT_DIST_TIMEOUT_S`` or 1800).
    backend : str or None
        Force ``"nccl"`` or ``"gloo"``; None picks NCCL when CUDA is available, else gloo.

    Returns
    -------
    DistContext
        ``world_size == 1`` and ``backend is None`` without ``torchrun``.
    """
    global _CONTEXT, _CONTROL_GROUP
    if _CONTEXT is not None:
        return _CONTEXT
    import torch
    import torch.distributed as tdist

    timeout = float(timeout_s) if timeout_s is not None else _default_timeout()
    if timeout <= 0:
        raise InputError(f"timeout_s must be positive; got {timeout_s}.")
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size is None or world_size <= 1:
        # one process: nothing to join; the default device is the usual one
        return DistContext(device="cuda:0" if _cuda_available() else "cpu",
                           timeout_s=timeout)
    rank = _env_int("RANK")
    if rank is None:
        raise InputError(f"WORLD_SIZE={world_size} is set but RANK is not; start the job with "
                         f"torchrun (or set RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT the "
                         f"way torchrun does).")
    local_rank = _env_int("LOCAL_RANK", 0) or 0
    if not 0 <= rank < world_size:
        raise InputError(f"RANK={rank} is outside [0, WORLD_SIZE={world_size}).")
    if not tdist.is_available():
        raise InputError("this torch build has no torch.distributed; install a torch wheel "
                         "with distributed support to run under torchrun.")
    cuda = _cuda_available()
    if backend is None:
        backend = "nccl" if cuda else "gloo"
    if backend not in ("nccl", "gloo"):
        raise InputError(f"backend {backend!r} is not supported; use 'nccl' or 'gloo'.")
    device = "cpu"
    if cuda:
        n_gpu = torch.cuda.device_count()
        if local_rank >= n_gpu:
            raise InputError(f"LOCAL_RANK={local_rank} but this machine has {n_gpu} CUDA "
                             f"device(s); start at most {n_gpu} processes per node "
                             f"(torchrun --nproc_per_node={n_gpu}).")
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    delta = datetime.timedelta(seconds=timeout)
    if tdist.is_initialized():
        backend = str(tdist.get_backend())
    else:
        try:
            tdist.init_process_group(backend=backend, timeout=delta)
        except (RuntimeError, ValueError) as e:
            raise DistributedError(
                f"rank {rank} of {world_size} could not join the process group "
                f"(MASTER_ADDR={os.environ.get('MASTER_ADDR')}, "
                f"MASTER_PORT={os.environ.get('MASTER_PORT')}, backend {backend}, timeout "
                f"{timeout:g} s): {e}. Check that every rank started and can reach the master "
                f"address.") from e
    _CONTROL_GROUP = tdist.new_group(backend="gloo", timeout=delta) if backend != "gloo" \
        else tdist.group.WORLD
    _CONTEXT = DistContext(rank=rank, world_size=world_size, local_rank=local_rank,
                           backend=backend, device=device, timeout_s=timeout)
    atexit.register(destroy)
    log.info("joined a distributed job: rank %d of %d (local rank %d), backend %s, device %s, "
             "collective timeout %g s", rank, world_size, local_rank, backend, device, timeout)
    return _CONTEXT


def context() -> DistContext:
    """The current context (that of :func:`init_from_env`, or a single process)."""
    return _CONTEXT if _CONTEXT is not None else init_from_env()


def is_main() -> bool:
    """True on rank 0, and in a single process."""
    return _CONTEXT is None or _CONTEXT.rank == 0


def _fail(what: str, e: BaseException) -> DistributedError:
    ctx = _CONTEXT or DistContext()
    return DistributedError(
        f"rank {ctx.rank} of {ctx.world_size}: {what} failed: another rank died, hangs or lost "
        f"contact (collective timeout {ctx.timeout_s:g} s; raise it with "
        f"{_TIMEOUT_ENV} when ranks legitimately finish far apart). Look at the other ranks' "
        f"logs for the first error. Details: {e}")


def _run_collective(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except RuntimeError as e:  # gloo/NCCL errors (DistBackendError is a RuntimeError)
        raise _fail(what, e) from e


def barrier(name: str = "barrier", timeout_s: float | None = None) -> None:
    """Wait until every rank gets here; no-op in a single process.

    Raises :class:`DistributedError` naming the ranks that did not arrive within the timeout
    (or whose process died).

    Parameters
    ----------
    name : str
        What the ranks wait for (shown in the error).
    timeout_s : float or None
        Override of the context's timeout for this barrier.
    """
    if _CONTEXT is None or not _CONTEXT.distributed:
        return
    import torch.distributed as tdist

    timeout = datetime.timedelta(seconds=timeout_s or _CONTEXT.timeout_s)
    _run_collective(f"barrier '{name}'", lambda: tdist.monitored_barrier(
        group=_CONTROL_GROUP, timeout=timeout, wait_all_ranks=True))


def all_gather_object(obj: T, name: str = "all_gather_object") -> list[T]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in a single process.

    Parameters
    ----------
    obj : object
        This rank's contribution.
    name : str
        What is gathered (shown in the error).
    """
    if _CONTEXT is None or not _CONTEXT.distributed:
        return [obj]
    import torch.distributed as tdist

    out: list[Any] = [None] * _CONTEXT.world_size

    def gather() -> None:
        tdist.all_gather_object(out, obj, group=_CONTROL_GROUP)

    _run_collective(f"gathering '{name}'", gather)
    return out


def destroy() -> None:
    """Leave the process group (if this module joined one); safe to call twice."""
    global _CONTEXT, _CONTROL_GROUP
    ctx, _CONTEXT, _CONTROL_GROUP = _CONTEXT, None, None
    if ctx is None or not ctx.distributed:
        return
    import torch.distributed as tdist

    if tdist.is_initialized():
        tdist.destroy_process_group()


def broadcast_object(obj: T, src: int = 0, name: str = "broadcast_object") -> T:
    """Rank ``src``'s ``obj`` (picklable) on every rank; ``obj`` itself in a single process.

    The other ranks wait (at most the collective timeout) while ``src`` computes it.

    Parameters
    ----------
    obj : object
        The value on rank ``src`` (ignored elsewhere).
    src : int
        The rank whose value is shared.
    name : str
        What is shared (shown in the error).
    """
    if _CONTEXT is None or not _CONTEXT.distributed:
        return obj
    import torch.distributed as tdist

    box: list[Any] = [obj if _CONTEXT.rank == src else None]

    def bcast() -> None:
        tdist.broadcast_object_list(box, src=src, group=_CONTROL_GROUP)

    _run_collective(f"sharing '{name}'", bcast)
    return box[0]


def all_reduce_sum(tensor: Any, name: str = "all_reduce") -> Any:
    """Sum ``tensor`` over the ranks in place (default process group: NCCL tensors live on
    the rank's GPU) and return it; unchanged in a single process.

    Parameters
    ----------
    tensor : torch.Tensor
        This rank's values (on the rank's device).
    name : str
        What is summed (shown in the error).
    """
    if _CONTEXT is None or not _CONTEXT.distributed:
        return tensor
    import torch.distributed as tdist

    _run_collective(f"summing '{name}'", lambda: tdist.all_reduce(tensor))
    return tensor


def collective_error(what: str, e: BaseException) -> DistributedError:
    """The :class:`DistributedError` for a failed collective run outside this module (e.g.
    the gradient all-reduce of ``DistributedDataParallel``)."""
    return _fail(what, e)
