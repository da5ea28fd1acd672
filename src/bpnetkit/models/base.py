"""Shared behaviour of bpnetkit model classes: config round trips and local model folders."""

from __future__ import annotations

import difflib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bpnetkit.errors import ConfigError

M = TypeVar("M")


def check_architecture_keys(cls: type, cfg: dict, where: str = "architecture") -> dict:
    """Check that ``cfg`` only names constructor arguments of ``cls``; return a copy.

    Raises
    ------
    ConfigError
        For an unknown key, naming the nearest valid one.
    """
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in cfg:
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"{where}: unknown {cls.__name__} argument '{key}'.{hint} Valid "
                              f"arguments: {', '.join(valid)}.")
    return dict(cfg)


def load_state_dict_strict(model: Any, state: dict, where: str) -> None:
    """Copy ``state`` into ``model``, checking names and shapes.

    Raises
    ------
    InputError
        Naming the first layer whose shape differs (with both shapes), or missing /
        unexpected tensors.
    """
    import torch

    from bpnetkit.errors import InputError

    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if extra:
            parts.append(f"unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}")
        raise InputError(f"{where}: the weights do not match the architecture: "
                         f"{'; '.join(parts)}.")
    for key, value in own.items():
        got = tuple(state[key].shape)
        if got != tuple(value.shape):
            raise InputError(f"{where}: layer '{key}' has shape {got} in the file but the "
                             f"architecture expects {tuple(value.shape)}; the config and the "
                             f"weights disagree.")
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(torch.as_tensor(state[key]))


class PretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` for people used to the Hugging Face style.

    Both work offline on a local folder holding ``config.json`` and ``model.safetensors``
    (the native format, as :func:`bpnetkit.models.files.save_model` writes it).
    """

    def save_pretrained(self, save_directory: str | os.PathLike,
                        provenance: dict[str, Any] | None = None) -> Path:
        """Write this model to ``save_directory`` (see :func:`bpnetkit.models.files.save_model`)."""
        from bpnetkit.io.models.native import write_native

        spec = {"class": type(self).__name__, "architecture": self.config()}
        return write_native(save_directory, spec, self.state_dict(), provenance)

    @classmethod
    def from_pretrained(cls: type[M], local_dir: str | os.PathLike, device: Any = None,
                        dtype: Any = None) -> M:
        """Load a model folder written by :meth:`save_pretrained` (eval mode).

        Raises
        ------
        InputError
            When the folder holds a different model class.
        """
        import torch

        from bpnetkit.errors import InputError
        from bpnetkit.io.models.native import read_native
        from bpnetkit.utils import resolve_device

        raw = read_native(local_dir)
        if raw.cls != cls.__name__:
            raise InputError(f"'{local_dir}' holds a {raw.cls}, not a {cls.__name__}; use "
                             f"bpnetkit.load_model to load any model.")
        model = cls.from_config(raw.architecture)
        load_state_dict_strict(model, raw.state, where=str(local_dir))
        model.model_info = {k: raw.config.get(k) for k in ("class", "architecture",
                                                           "provenance", "bpnetkit_version")}
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        if dtype is not None:
            model = model.to(dtype)
        return model.to(resolve_device(device)).eval()


@dataclass(frozen=True)
class RCPermutation:
    """How a model's tracks map under reverse complement.

    Each tuple is a permutation: after running the model on reverse-complemented input and
    flipping the positions back, ``tracks[:, perm]`` lines the tracks up with the forward
    prediction. Stranded pairs swap (``(1, 0)`` for ``[plus, minus]``), unstranded tracks map
    to themselves; multi-task models declare the pairs of each task.

    Attributes
    ----------
    profile : tuple of int
        Permutation of the profile channels ``(N, S, L)``.
    counts : tuple of int
        Permutation of the log-count outputs ``(N, T)``.
    controls : tuple of int
        Permutation of the control tracks ``(N, C, L)`` given to the model.
    """

    profile: tuple[int, ...]
    counts: tuple[int, ...]
    controls: tuple[int, ...] = ()


def strand_swap(n: int, stranded: bool) -> tuple[int, ...]:
    """The permutation of ``n`` tracks stored as ``[plus, minus]`` pairs (or unstranded)."""
    if not stranded:
        return tuple(range(n))
    if n % 2:
        raise ValueError(f"{n} tracks cannot be (plus, minus) pairs.")
    return tuple(j for i in range(0, n, 2) for j in (i + 1, i))


def rc_permutation(model: Any) -> RCPermutation | None:
    """The reverse-complement track permutation a model declares, or None.

    bpnetkit models (and wrappers around them) declare it with a method
    ``rc_permutation() -> RCPermutation``; other models (e.g. bpnet-lite's) do not, and
    callers must then say how their tracks map.
    """
    method = getattr(model, "rc_permutation", None)
    if callable(method):
        return method()
    inner = getattr(model, "model", None)  # wrappers
    if inner is not None and inner is not model:
        return rc_permutation(inner)
    return None
