"""HTML building blocks of the report: escaping, tables, embedded figures, the page frame.

Everything the page shows is embedded (figures as base64 PNG), so the report is one
self-contained file.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from matplotlib.figure import Figure

from bpnetkit.report.plots import figure_png
from bpnetkit.report.tables import columns

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.4}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}
.ok{color:#137333}.bad{color:#b3261e}.muted{color:#777}img{max-width:100%}
code{background:#f4f4f4;padding:0 3px}
"""

NOT_RUN = "not run"


def esc(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(str(value))


def fmt(v: Any) -> str:
    """A table cell: floats to 4 significant digits, long lists summarised, escaped."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple) and len(v) > 8:
        return esc(f"[{len(v)} values]")
    return esc(v)


def html_table(rows: list[dict[str, Any]], cols: list[str] | None = None,
               max_rows: int = 50) -> str:
    """An HTML table of dict rows (the first ``max_rows``)."""
    if not rows:
        return "<p class='muted'>(empty)</p>"
    cols = cols or columns(rows)
    out = ["<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>"]
    for r in rows[:max_rows]:
        out.append("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>")
    out.append("</table>")
    if len(rows) > max_rows:
        out.append(f"<p class='muted'>{len(rows) - max_rows} more rows not shown.</p>")
    return "\n".join(out)


def img(fig: Figure, alt: str = "") -> str:
    """A figure embedded as a base64 PNG ``<img>``."""
    return (f"<img alt='{esc(alt)}' src='data:image/png;base64,"
            f"{base64.b64encode(figure_png(fig)).decode()}'>")


def muted(text: str) -> str:
    """A grey note."""
    return f"<p class='muted'>{esc(text)}</p>"


def not_run(step: str, why: str = "") -> str:
    """What a section shows when the step it reads did not run (or wrote no such output)."""
    extra = f" ({why})" if why else ""
    return f"<p class='muted'>{esc(step)}: {NOT_RUN}{esc(extra)}</p>"


def page(title: str, subtitle: str, body: list[str]) -> str:
    """The whole HTML document."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
            f"<p class='muted'>{subtitle}</p>\n" + "\n".join(body) + "\n</body></html>\n")
