"""Did the pipeline find what the demo planted? One row per planted motif.

For every planted motif: the MoDISco pattern most similar to it (Tomtom p-value against the
planted matrices), whether that counts as a rediscovery, the pattern's best matches in the
whole motif database (is the planted motif among them?), and the pattern's rank in the
marginalization table.

Importing this module registers the "Planted motifs" section of the HTML report (shown for
runs whose pipeline JSON names a ``truth`` file); the report itself never imports the demo.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from bpnetkit.report.sections import ReportContext, register_section
from bpnetkit.steps.base import StepOutputs

REDISCOVERY_P = 1e-3  # pattern vs planted motif Tomtom p-value
#: database matches looked at: the best one must be the planted motif or in its family
#: (families collect the paralogs whose near-identical matrices make the best match chance)
TOP_MATCHES = 1


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(s).lower())


def _pattern_keys(name: str) -> set[str]:
    """Names a pattern may carry in other tables (``pos_patterns.pattern_0`` -> ``pos_0``)."""
    keys = {_norm(name)}
    m = re.match(r"(pos|neg)_patterns\.pattern_(\d+)", name)
    if m:
        keys |= {_norm(f"{m.group(1)}_{m.group(2)}"), _norm(f"{m.group(1)}_pattern_{m.group(2)}"),
                 _norm(f"pattern_{m.group(2)}") if m.group(1) == "pos" else ""}
    return keys - {""}


def planted_summary(truth: str | Path, modisco_h5: str | None = None,
                    effects: str | None = None, motif_db: str | None = None
                    ) -> list[dict[str, Any]]:
    """Rows ``motif, name, n_sites, pattern, pattern_p, rediscovered, tomtom_match,
    tomtom_q, matched, marginal_rank, expected_rank`` for every planted motif.

    Parameters
    ----------
    truth : str or Path
        The simulation's ``truth.json`` (``planted_motifs.meme`` beside it is used when
        present).
    modisco_h5 : str or None
        TF-MoDISco results (``ModiscoOutputs.modisco_h5``); None: nothing was found.
    effects : str or None
        Marginalization effects TSV (``MarginalizeOutputs.effects``), ranked by its ``rank``
        column.
    motif_db : str or None
        The motif database the patterns are matched against (None: built-in).
    """
    from bpnetkit.io.meme import read_meme
    from bpnetkit.motifs.database import load_motif_db, select_motifs

    truth = Path(truth)
    info = json.loads(truth.read_text())
    planted_meme = truth.parent / "planted_motifs.meme"
    planted = read_meme(planted_meme) if planted_meme.exists() else \
        select_motifs(load_motif_db(motif_db), [p["motif_id"] for p in info["planted"]])
    rows: list[dict[str, Any]] = []
    patterns = []
    if modisco_h5:
        from bpnetkit.io.modisco import read_modisco_patterns

        patterns = [p for p in read_modisco_patterns(modisco_h5) if p.name.startswith("pos_")]
    vs_planted = db_matches = None
    if patterns:
        from bpnetkit.motifs.annotate import annotate_patterns

        vs_planted = annotate_patterns(patterns, planted, n_matches=len(planted))
        db = load_motif_db(motif_db)
        db_matches = annotate_patterns(patterns, db, n_matches=TOP_MATCHES)
        family_of = _family_of(db)
    ranking = []
    if effects:
        from bpnetkit.report.step_sections import read_effects

        ranking = read_effects(effects)
    for k, (entry, motif) in enumerate(zip(info["planted"], planted)):
        row: dict[str, Any] = {"motif": entry["motif_id"],
                               "name": entry.get("motif_alt_name") or motif.alt_name,
                               "n_sites": entry.get("n_sites", ""),
                               "pattern": "", "pattern_p": "", "rediscovered": False,
                               "tomtom_match": "", "tomtom_q": "", "matched": False,
                               "marginal_rank": "", "expected_rank": entry.get("expected_rank",
                                                                               k + 1)}
        best = None
        if vs_planted:
            # the most similar pattern, preferring those whose database matches name the
            # planted motif (a pattern of another motif may be closer by p-value)
            for i, ms in enumerate(vs_planted):
                named = bool(db_matches) and _names(db_matches[i], motif, family_of)
                for m in ms:
                    if m.target == k and (best is None or (named, -m.p_value) >
                                          (best[2], -best[1])):
                        best = (i, m.p_value, named)
        if best is not None:
            i, p, _named = best
            pat = patterns[i]
            row.update(pattern=pat.name, pattern_p=p)
            ms = db_matches[i] if db_matches else []
            if ms:
                row["tomtom_match"] = f"{ms[0].target_name} {ms[0].target_alt_name}".strip()
                row["tomtom_q"] = ms[0].q_value
                row["matched"] = _names(ms, motif, family_of)
            # a short, low-information planted matrix is similar (p < REDISCOVERY_P) to
            # many patterns among a handful of planted motifs; it counts as rediscovered
            # only when the whole database agrees
            row["rediscovered"] = bool(p < REDISCOVERY_P and row["matched"])
            keys = _pattern_keys(pat.name)
            for r in ranking:
                vals = {_norm(v) for v in r.values() if isinstance(v, str)}
                if keys & vals:
                    row["marginal_rank"] = r["rank"]
                    break
        if row["marginal_rank"] == "" and ranking:
            keys = {_norm(motif.name), _norm(motif.alt_name)} - {""}
            for r in ranking:
                vals = {_norm(v) for v in r.values() if isinstance(v, str)}
                if keys & vals:
                    row["marginal_rank"] = r["rank"]
                    break
        rows.append(row)
    return rows


def _family_of(db: list) -> dict[str, int]:
    """Motif identifier -> family index (paralogs share one; see
    :mod:`bpnetkit.motifs.families`)."""
    from bpnetkit.motifs.families import motif_families

    fam = motif_families(db)
    return {m.name: int(f) for m, f in zip(db, fam.family)}


def _names(matches: list, motif: Any, family_of: dict[str, int]) -> bool:
    """Do the database matches name ``motif`` or a paralog of it?"""
    own = family_of.get(motif.name)
    return any(m.target_name == motif.name or
               (own is not None and family_of.get(m.target_name) == own) for m in matches)


COLUMNS = ["motif", "name", "n_sites", "rediscovered", "pattern", "pattern_p", "tomtom_match",
           "tomtom_q", "matched", "marginal_rank", "expected_rank"]


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A plain-text table for the terminal."""
    def f(v):
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.2g}"
        return str(v)

    cols = ["name", "motif", "n_sites", "rediscovered", "pattern", "pattern_p",
            "tomtom_match", "tomtom_q", "matched", "marginal_rank", "expected_rank"]
    table = [cols] + [[f(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(cols))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(t, widths)) for t in table)


def summary_html(rows: list[dict[str, Any]]) -> str:
    """The summary as an HTML table with yes/no coloured."""
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = []
    for r in rows:
        cells = []
        for c in COLUMNS:
            v = r.get(c, "")
            if isinstance(v, bool):
                cells.append(f"<td class='{'ok' if v else 'bad'}'>{'yes' if v else 'no'}</td>")
            elif isinstance(v, float):
                cells.append(f"<td>{v:.2g}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<p>Rediscovered: a positive MoDISco pattern matches the planted matrix with "
            f"Tomtom p &lt; {REDISCOVERY_P:g} and that pattern's best match in the whole "
            f"database is the planted motif or a member of its family (matched).</p>"
            f"<table><tr>{head}</tr>{''.join(body)}</table>")


def write_summary_tsv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the rows as TSV."""
    from bpnetkit.utils import write_text_atomic

    def f(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    text = "\t".join(COLUMNS) + "\n" + "".join(
        "\t".join(f(r.get(c, "")) for c in COLUMNS) + "\n" for r in rows)
    return write_text_atomic(path, text)


def summary_from_outputs(truth: str | Path, outputs: dict[str, StepOutputs],
                         motif_db: str | None = None) -> list[dict[str, Any]]:
    """:func:`planted_summary` of a run, from the typed ``Outputs`` of its steps (step name
    -> Outputs; ``modisco`` and ``marginalize`` are read when present)."""
    mod = outputs.get("modisco")
    mar = outputs.get("marginalize")
    return planted_summary(truth, mod.modisco_h5 if mod is not None else None,
                           mar.effects if mar is not None else None, motif_db)


def planted_section(outputs: dict[str, StepOutputs], context: ReportContext) -> str | None:
    """The report section: the planted-motif table of a run with a ground truth."""
    truth = context.params.truth
    if not truth:
        return None
    rows = summary_from_outputs(truth, outputs, context.params.motif_db)
    return summary_html(rows)


register_section("planted_motifs", 5, planted_section, title="Planted motifs: were they found?")
