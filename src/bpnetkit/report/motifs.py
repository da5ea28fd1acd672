"""Figures and HTML of the motif steps (modisco, annotate, marginalize).

Every function takes data (patterns, matches, motifs, effect rows, mean profiles) and returns
a :class:`matplotlib.figure.Figure` (built directly, never through pyplot) or an HTML string;
the steps themselves write only tables, MEME, h5 and npz files.

- :func:`pattern_figure`: a MoDISco pattern's contribution logo above the logos of its
  database matches, aligned at the Tomtom offset;
- :func:`motif_logo_figure`, :func:`profile_figure`, :func:`spacing_figure`: a motif's
  information logo, mean predicted profiles before/after inserting a motif, and the spacing
  experiment;
- :func:`marginalize_html`: the ranked marginalization table with logo and profile figures;
- :func:`compact_logo_figure` and :func:`motifs_found_html`: the report's first table, the
  motifs found with confidence (rows from :func:`bpnetkit.report.motifs_found.motifs_found`)
  with a small logo of each row's best pattern, and the low-confidence patterns below it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bpnetkit.io.meme import Motif
from bpnetkit.io.modisco import Pattern
from bpnetkit.motifs.marginalize import MeanProfiles
from bpnetkit.motifs.tomtom import Match
from bpnetkit.report.logos import draw_logo, logos_figure
from bpnetkit.report.motifs_found import MotifFound, OtherPattern


def _match_fields(m: Match | Mapping[str, Any]) -> tuple[str, str, int, int, float]:
    """``(target id, strand, offset, rank starting at 1, q-value)`` of a Match or TSV row."""
    if isinstance(m, Match):
        return m.target_name, m.strand, m.offset, m.rank + 1, m.q_value
    return (str(m["match"]), str(m["strand"]), int(m["offset"]), int(m["rank"]),
            float(m["q_value"]))


def pattern_figure(pattern: Pattern, matches: Sequence[Match | Mapping[str, Any]],
                   motifs: Sequence[Motif] | Mapping[str, Motif],
                   trim_threshold: float = 0.3, max_matches: int = 3) -> Figure:
    """A pattern's trimmed CWM logo above the information logos of its database matches.

    Parameters
    ----------
    pattern : Pattern
        A MoDISco pattern.
    matches : sequence of Match, or of rows of the ``pattern_matches`` TSV
        The pattern's matches (rank 1 first); rows need ``match``, ``strand``, ``offset``,
        ``rank`` and ``q_value``.
    motifs : sequence of Motif or dict id -> Motif
        The database the matches refer to.
    trim_threshold : float
        Trimming of the pattern (as used for the matches, so that offsets line up).
    max_matches : int
        Matches drawn below the pattern.
    """
    by_id = dict(motifs) if isinstance(motifs, Mapping) else {m.name: m for m in motifs}
    _, cwm = pattern.trimmed(trim_threshold)
    mats, titles, kinds, starts = [cwm], [f"{pattern.name} (CWM, {pattern.n_seqlets} "
                                          f"seqlets)"], ["values"], [0]
    for m in list(matches)[:max_matches]:
        target, strand, offset, rank, q = _match_fields(m)
        motif = by_id[target]
        mats.append(motif.pwm if strand == "+" else motif.reverse_complement().pwm)
        titles.append(f"{rank}. {motif.label} ({strand}) q={q:.2g}")
        kinds.append("information")
        starts.append(-offset)  # query position i aligns with target position i + offset
    return logos_figure(mats, titles, kinds, starts=starts)


def motif_logo_figure(motif: Motif) -> Figure:
    """Information-content logo of a motif."""
    return logos_figure([motif.pwm], [motif.label], ["information"])


def profile_figure(background: np.ndarray, inserted: np.ndarray, title: str = "") -> Figure:
    """Mean predicted profiles ``(S, L)`` before (grey) and after (red) inserting a motif.

    Even tracks are drawn upwards and odd tracks downwards (plus/minus strands).
    """
    fig = Figure(figsize=(5, 2))
    ax = fig.subplots()
    for s in range(background.shape[0]):
        sign = 1 if s % 2 == 0 else -1
        ax.plot(sign * background[s], color="grey", lw=0.8,
                label="background" if s == 0 else None)
        ax.plot(sign * inserted[s], color="C3", lw=0.8, label="inserted" if s == 0 else None)
    ax.legend(fontsize=6)
    ax.set_xlabel("position")
    if title:
        ax.set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def spacing_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Joint effect (``delta_ab``) against the gap between the motifs, one line per pair."""
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    pairs = sorted({(str(r["motif_a"]), str(r["motif_b"])) for r in rows})
    for a, b in pairs:
        rs = [r for r in rows if (str(r["motif_a"]), str(r["motif_b"])) == (a, b)]
        ax.plot([int(r["spacing"]) for r in rs], [float(r["delta_ab"]) for r in rs],
                marker="o", label=f"{a} + {b}")
    ax.set_xlabel("gap between motifs (bp)")
    ax.set_ylabel("delta log counts")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def marginalize_html(effects: Sequence[Mapping[str, Any]], profiles: MeanProfiles | None,
                     motifs: Sequence[Motif] | Mapping[str, Motif],
                     spacing: Sequence[Mapping[str, Any]] = (), n: int = 20) -> str:
    """HTML of the ``n`` top motifs of a marginalization: effects, logos, profiles, spacing.

    Parameters
    ----------
    effects : sequence of dict
        Rows of the effects TSV in rank order (``motif``, ``name``, ``delta_log_counts``,
        ``delta_log_counts_sd``, ``profile_jsd``).
    profiles : MeanProfiles or None
        Mean profiles (the step's npz); None leaves out the profile column.
    motifs : sequence of Motif or dict id -> Motif
        The motifs that were inserted (for the logos).
    spacing : sequence of dict
        Rows of the spacing TSV (may be empty).
    n : int
        Motifs shown.
    """
    from bpnetkit.report.html import esc, img

    by_id = dict(motifs) if isinstance(motifs, Mapping) else {m.name: m for m in motifs}
    out = ["<table><tr><th>rank</th><th>motif</th><th>delta log counts</th>"
           "<th>profile JSD</th><th>logo</th><th>profile before/after</th></tr>"]
    for i, e in enumerate(list(effects)[:n]):
        motif_id = str(e["motif"])
        label = f"{motif_id} {e.get('name', '') or ''}".strip()
        logo = img(motif_logo_figure(by_id[motif_id]), label) if motif_id in by_id else ""
        prof = ""
        if profiles is not None and motif_id in profiles.motifs:
            prof = img(profile_figure(profiles.background, profiles.of(motif_id), label),
                       f"{label} profiles")
        out.append(f"<tr><td>{i + 1}</td><td>{esc(label)}</td>"
                   f"<td>{float(e['delta_log_counts']):.3f} &plusmn; "
                   f"{float(e['delta_log_counts_sd']):.3f}</td>"
                   f"<td>{float(e['profile_jsd']):.3f}</td><td>{logo}</td><td>{prof}</td></tr>")
    out.append("</table>")
    if spacing:
        out.append("<h3>Spacing</h3>" + img(spacing_figure(spacing), "spacing"))
    return "\n".join(out)


def compact_logo_figure(matrix: np.ndarray, kind: str = "values") -> Figure:
    """A small logo of ``matrix`` ``(length, 4)`` for a table cell (no title, no x ticks)."""
    m = np.asarray(matrix, dtype=np.float64)
    fig = Figure(figsize=(max(1.2, 0.14 * len(m) + 0.3), 0.7))
    ax = fig.add_axes((0.02, 0.05, 0.96, 0.9))
    draw_logo(ax, m, kind=kind)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    return fig


def _q_cell(q: float | None, p: float | None = None) -> str:
    if q is not None:
        return f"{q:.2g}"
    return f"p = {p:.2g}" if p is not None else ""


def motifs_found_html(found: Sequence[MotifFound], other: Sequence[OtherPattern],
                      logos: Mapping[str, str] | None = None, criteria: str = "") -> str:
    """The "Motifs found" table, the criteria under it, and the low-confidence patterns.

    Parameters
    ----------
    found, other : sequences
        The two lists of :func:`bpnetkit.report.motifs_found.motifs_found`.
    logos : dict or None
        Pattern name -> ``<img>`` HTML of its logo (the ``logo`` column shows the row's best
        pattern's); None: no logo column.
    criteria : str
        Plain text of the criteria (escaped here).
    """
    from bpnetkit.report.html import esc

    out = []
    if found:
        head = ["motif", "family", "patterns", "seqlets", "best q-value", "effect"]
        head += ["logo (best pattern)"] if logos is not None else []
        out.append("<table class='motifs-found'><tr>" + "".join(f"<th>{esc(h)}</th>"
                                                                 for h in head) + "</tr>")
        for r in found:
            matched = [m for m in r.matches if m != f"{r.motif_id} {r.motif_name}".strip()]
            motif = esc(r.motif) + (f"<br><span class='muted'>also: {esc(', '.join(matched))}"
                                    f"</span>" if matched else "")
            cells = [motif, esc(r.family or "-"), esc(", ".join(r.patterns)),
                     str(r.n_seqlets), esc(_q_cell(r.q_value, r.p_value)), esc(r.effect)]
            if logos is not None:
                cells.append(logos.get(r.best_pattern, ""))
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        out.append("</table>")
    else:
        out.append("<p><b>No motif was found with confidence</b> (no pattern passes the "
                   "criteria below).</p>")
    if criteria:
        out.append(f"<p class='muted'>{esc(criteria)}</p>")
    out.append("<h3>Other patterns (low confidence)</h3>")
    if other:
        out.append("<table class='other-patterns'><tr><th>pattern</th><th>seqlets</th>"
                   "<th>effect</th><th>best match</th><th>q-value</th><th>reason</th></tr>")
        for o in other:
            out.append(f"<tr><td>{esc(o.pattern)}</td><td>{o.n_seqlets}</td>"
                       f"<td>{esc(o.effect)}</td><td>{esc(o.best_match or '-')}</td>"
                       f"<td>{esc(_q_cell(o.q_value))}</td><td>{esc(o.reason)}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p class='muted'>(none: every pattern passes)</p>")
    return "\n".join(out)
