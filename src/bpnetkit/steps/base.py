"""What every step's ``Outputs`` dataclass can do: round-trip to JSON, list its files."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

O = TypeVar("O", bound="StepOutputs")


class StepOutputs:
    """Mixin of every step's ``Outputs`` dataclass.

    Fields hold paths as strings (None when the step did not write that output), lists or
    dicts of paths, or small JSON-ready summaries (numbers, strings).
    """

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[O], data: dict[str, Any]) -> O:
        """Rebuild from :meth:`to_dict` output (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__qualname__}: unknown output field(s) {unknown}.")
        return cls(**data)

    def files(self) -> list[Path]:
        """Every path named by a field whose annotation says it is a path (``str`` fields,
        lists and dicts of them); summaries (numbers) are skipped."""
        hints = typing.get_type_hints(type(self))
        out: list[Path] = []

        def walk(v: Any) -> None:
            if isinstance(v, str):
                out.append(Path(v))
            elif isinstance(v, list | tuple):
                for x in v:
                    walk(x)
            elif isinstance(v, dict):
                for x in v.values():
                    walk(x)

        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.metadata.get("summary") or "str" not in str(hints.get(f.name, "")):
                continue
            walk(getattr(self, f.name))
        return out

    def missing(self) -> list[Path]:
        """The files this object names that do not exist (a cached step must redo)."""
        return [p for p in self.files() if not p.exists()]


def summary_field(default: Any = None) -> Any:
    """A dataclass field holding a small summary (not a path), e.g. a count."""
    return dataclasses.field(default=default, metadata={"summary": True})
