"""Read ``torch.save`` zip files without executing pickle code.

A restricted unpickler: the only callables a file may name are our own tensor rebuilders,
``OrderedDict``, ``set``/``frozenset`` and inert placeholder classes standing in for
PyTorch and bpnet-lite modules. A placeholder records the state pickle gives it and does
nothing else, so neither bpnet-lite nor any code named in the file is imported or run.
Anything else makes loading fail with the offending name.
"""

from __future__ import annotations

import collections
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

from bpnetkit.errors import InputError

# modules whose classes become inert placeholders
_STUB_MODULE_PREFIXES = ("bpnetlite.", "torch.nn.modules.", "torch.nn.parameter",
                         "tangermeme.", "procapnet.", "chrombpnet.")


class Placeholder:
    """Inert stand-in for a class named in a pickle; keeps its state and arguments."""

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = object.__new__(cls)
        obj.__dict__["_pickle_args"] = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_pickle_args"] = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (dict, slots) form
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_pickle_state"] = state

    def __repr__(self) -> str:
        return f"<placeholder {self.qualified_name}>"


_PLACEHOLDERS: dict[str, type] = {}


def _placeholder(module: str, name: str) -> type:
    key = f"{module}.{name}"
    if key not in _PLACEHOLDERS:
        _PLACEHOLDERS[key] = type(name, (Placeholder,), {"qualified_name": key})
    return _PLACEHOLDERS[key]


class _StorageType:
    """Marker for ``torch.FloatStorage`` & co.: carries the dtype."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *rest: Any):
    import torch

    flat = storage
    if not isinstance(flat, torch.Tensor):
        raise InputError("malformed torch file: a tensor does not refer to stored data.")
    if len(size) == 0:
        return flat[offset].clone()
    if flat.numel() == 0:
        return torch.empty(size, dtype=flat.dtype)
    return torch.as_strided(flat, tuple(size), tuple(stride), offset).clone()


def _rebuild_parameter(data: Any, requires_grad: bool = False, *rest: Any):
    return data


def _reconstructor(cls: Any, base: Any = None, state: Any = None):
    if isinstance(cls, type) and issubclass(cls, Placeholder):
        return cls()
    raise InputError(f"refusing to rebuild {cls!r} from a pickle.")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for the ``data.pkl`` of a torch zip file (see module docstring)."""

    def __init__(self, fh: Any, archive: zipfile.ZipFile, prefix: str, where: str) -> None:
        super().__init__(fh)
        self.archive = archive
        self.prefix = prefix
        self.where = where
        self.storages: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        import torch

        full = f"{module}.{name}"
        if full == "collections.OrderedDict":
            return collections.OrderedDict
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset", "slice"):
            return {"set": set, "frozenset": frozenset, "slice": slice}[name]
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name in ("_rebuild_parameter",
                                                 "_rebuild_parameter_with_state"):
            return _rebuild_parameter
        if module == "copyreg" and name == "_reconstructor":
            return _reconstructor
        if module == "torch" and name.endswith("Storage"):
            dtype = _STORAGE_DTYPES.get(name)
            if dtype is None:
                raise InputError(f"{self.where}: unsupported storage type torch.{name}.")
            return _StorageType(getattr(torch, dtype))
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if full.startswith(_STUB_MODULE_PREFIXES) and name.lstrip("_")[:1].isupper():
            return _placeholder(module, name)
        if module == "bpnetkit" or module.startswith("bpnetkit."):
            raise InputError(f"{self.where}: refusing to load '{full}' from a pickle: this is "
                             f"a whole bpnetkit model written with torch.save, and pickles can "
                             f"run code. Where the model was made, save it with "
                             f"bpnetkit.save_model(model, 'folder') (a safetensors folder), or "
                             f"save model.state_dict() and run 'bpnetkit convert'.")
        raise InputError(f"{self.where}: refusing to load '{full}' from a pickle (only tensors, "
                         f"state dicts and bpnet-lite/PyTorch module classes are allowed). "
                         f"Save the weights with torch.save(model.state_dict(), path) and run "
                         f"'bpnetkit convert', or use bpnetkit.save_model.")

    def persistent_load(self, pid: Any) -> Any:
        import torch

        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise InputError(f"{self.where}: unsupported persistent id {pid!r:.80}.")
        _, storage_type, key, _location, numel = pid[:5]
        if isinstance(storage_type, _StorageType):
            dtype = storage_type.dtype
        elif isinstance(storage_type, torch.dtype):
            dtype = storage_type
        else:
            raise InputError(f"{self.where}: unsupported storage {storage_type!r:.80}.")
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise InputError(f"{self.where}: storage '{key}' is missing from the zip; the "
                                 f"file is truncated or corrupt.") from None
            if len(raw) == 0:
                self.storages[key] = torch.empty(0, dtype=dtype)
            else:
                self.storages[key] = torch.frombuffer(bytearray(raw), dtype=dtype)
        return self.storages[key]


_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


def safe_torch_load(path: str | os.PathLike) -> Any:
    """Read a zip-format ``torch.save`` file without executing pickle code.

    Returns
    -------
    object
        Tensors, dicts and lists as saved; module objects as :class:`Placeholder`
        instances whose ``__dict__`` holds the pickled state.
    """
    import io
    import sys

    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise InputError(f"'{path}' is not a zip-format torch.save file.")
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") <= 1]
        if not pkl:
            raise InputError(f"'{path}': no data.pkl inside; not a torch.save file.")
        prefix = pkl[0][: -len("data.pkl")]
        try:
            order = archive.read(f"{prefix}byteorder").decode().strip()
        except KeyError:
            order = "little"
        if order != sys.byteorder:
            raise InputError(f"'{path}' was saved on a {order}-endian machine; re-save it "
                             f"on this ({sys.byteorder}-endian) platform.")
        data = archive.read(pkl[0])
        unpickler = RestrictedUnpickler(io.BytesIO(data), archive, prefix, where=f"'{path}'")
        try:
            return unpickler.load()
        except InputError:
            raise
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError,
                RuntimeError) as e:
            raise InputError(f"'{path}': could not read the pickle safely: {e}") from None


def module_state(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a placeholder module tree into a ``state_dict``-style mapping."""
    import torch

    out: dict[str, Any] = {}
    d = getattr(obj, "__dict__", {})
    for key, value in (d.get("_parameters") or {}).items():
        if isinstance(value, torch.Tensor):
            out[prefix + key] = value
    for key, value in (d.get("_buffers") or {}).items():
        if isinstance(value, torch.Tensor) and key not in (d.get("_non_persistent_buffers_set")
                                                           or set()):
            out[prefix + key] = value
    for key, child in (d.get("_modules") or {}).items():
        if child is not None:
            out.update(module_state(child, f"{prefix}{key}."))
    return out
