"""Typed JSON configurations.

Every command that takes ``-p params.json`` describes its keys as a dataclass and loads the
file with :func:`load_config`. Unknown keys are errors naming the nearest valid key, wrong
types are errors naming the key and the expected type, and :func:`dump_config` writes the
resolved configuration (defaults filled in) back to JSON.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from bpnetkit.errors import ConfigError, MissingFileError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints accepted as floats)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            try:
                return _coerce(value, arg, key, where)
            except ConfigError as e:
                errors.append(e)
        names = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"{where}: key '{key}' must be {names}, got {type(value).__name__} "
                          f"{value!r}.")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: key '{key}' must be null, got {value!r}.")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: key '{key}' must be one of {list(args)}, got {value!r}.")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: key '{key}' must be a list, got {type(value).__name__} "
                              f"{value!r}.")
        inner = args[0] if args else Any
        return [_coerce(v, inner, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: key '{key}' must be an object, got {value!r}.")
        inner = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, inner, f"{key}.{k}", where) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: key '{key}' must be an object, got {value!r}.")
        return from_dict(tp, value, where=f"{where} (in '{key}')")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: key '{key}' must be a number, got {value!r}.")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: key '{key}' must be an integer, got {value!r}.")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: key '{key}' must be true or false, got {value!r}.")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: key '{key}' must be a string, got {value!r}.")
        return value
    return value


def from_dict(cls: type[T], data: dict, where: str = "configuration") -> T:
    """Build the dataclass ``cls`` from ``data``, validating keys and types.

    Parameters
    ----------
    cls : type
        A dataclass type whose fields are the valid keys.
    data : dict
        Parsed JSON.
    where : str
        Where the data came from (a file name), used in error messages.

    Raises
    ------
    ConfigError
        On an unknown key (naming the nearest valid one), a wrong type or a missing
        required key.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object at the top level, got "
                          f"{type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key.startswith("_"):  # comments such as "_comment" are allowed
            continue
        if key not in fields:
            near = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"{where}: unknown key '{key}'.{hint} Valid keys: "
                              f"{', '.join(sorted(fields))}.")
        kwargs[key] = _coerce(value, hints[key], key, where)
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and \
                f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: required key '{name}' is missing.")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def check_value(cls: type, key: str, value: Any, where: str = "configuration") -> Any:
    """Check one value against the type of field ``key`` of the dataclass ``cls``.

    Returns the value (ints accepted as floats); raises :class:`ConfigError` naming ``key``
    and the expected type. ``key`` must be a field of ``cls``.
    """
    return _coerce(value, typing.get_type_hints(cls)[key], key, where)


def read_json(path: str | Path, what: str = "configuration file") -> Any:
    """Parse a JSON file; a missing file or invalid JSON gives an error naming file and line."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{what} not found: '{path}'.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); JSON files must be "
                          f"UTF-8. Save it as UTF-8 (or check that it is the JSON file).") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: "
                          f"{e.msg}.") from None


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a JSON file into the dataclass ``cls`` (see :func:`from_dict`)."""
    return from_dict(cls, read_json(path), where=str(path))


def to_dict(obj: Any) -> dict:
    """Convert a config dataclass to a JSON-ready dict."""
    return dataclasses.asdict(obj)


def dump_config(obj: Any, path: str | Path) -> Path:
    """Write the resolved configuration ``obj`` to ``path`` as JSON (atomically)."""
    from bpnetkit.utils import write_text_atomic

    return write_text_atomic(path, json.dumps(to_dict(obj), indent=2, default=str) + "\n")


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def field_defaults(cls: type) -> tuple[dict[str, Any], list[str]]:
    """Every field of the dataclass ``cls`` with its default, JSON-ready.

    Returns
    -------
    defaults : dict
        Field name -> default value, in field order; required fields (no default) map to
        None.
    required : list of str
        The names of the required fields.
    """
    defaults: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = _jsonable(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = _jsonable(f.default_factory())
        else:
            defaults[f.name] = None
            required.append(f.name)
    return defaults, required


def defaults_document(cls: type) -> dict[str, Any]:
    """The full default JSON of a parameter dataclass, as ``--print-defaults`` shows it.

    Every field appears with its default. Required fields appear as ``null`` and are listed
    under ``"_required"`` (keys starting with ``_`` are ignored when the file is read, so the
    document loads once the required values are filled in).
    """
    defaults, required = field_defaults(cls)
    doc: dict[str, Any] = {}
    if required:
        doc["_required"] = required
    doc.update(defaults)
    return doc
