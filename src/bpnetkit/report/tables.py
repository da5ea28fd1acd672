"""Reading the small tables that the steps write (TSV/CSV with a header, or JSON)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a TSV/CSV with a header (numbers converted), or of a JSON list/dict."""
    path = Path(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, list):
            return [r if isinstance(r, dict) else {"value": r} for r in data]
        if isinstance(data, dict):
            return [flatten(data)]
        return []
    text = path.read_text()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("##")]
    if not lines:
        return []
    if lines[0].startswith("#"):
        lines[0] = lines[0].lstrip("#").strip()
    delim = "\t" if "\t" in lines[0] else ","
    rows = list(csv.DictReader(lines, delimiter=delim))
    return [{k: to_number(v) for k, v in r.items() if k is not None} for r in rows]


def to_number(v: Any) -> Any:
    """``v`` as int/float when it parses, else unchanged."""
    if not isinstance(v, str):
        return v
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """Nested dict -> flat dict with dotted keys (lists of scalars kept)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Column names in first-seen order."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols
