"""The report's sections for the pipeline steps, registered on import.

Each section reads exactly the ``Outputs`` fields of the step contracts (e.g.
``FitOutputs.log``, ``EvaluateOutputs.metrics_json``, ``ModiscoOutputs.pattern_matches``); a
step that did not run, or did not write an optional output, is shown as "not run".

The page opens with "Motifs found" (:func:`section_motifs_found`: one row per motif found
with confidence, the other patterns below it); the seqlet-level annotation counts, which
label every seqlet however weak the evidence, come much later.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from bpnetkit.report.html import esc, html_table, img, muted, not_run
from bpnetkit.report.sections import ReportContext, register_section
from bpnetkit.report.tables import flatten, read_table
from bpnetkit.steps.base import StepOutputs

logger = logging.getLogger(__name__)

Outs = dict[str, StepOutputs]


# -- run and steps -------------------------------------------------------------------------
RUN_KEYS = ("genome", "inputs", "controls", "peaks", "model_type", "stranded", "in_window",
            "out_window", "motif_db")


def section_run(outputs: Outs, ctx: ReportContext) -> str | None:
    """The run's inputs and model settings from its pipeline JSON (None outside a pipeline
    run)."""
    cfg = ctx.config
    if cfg is None:
        return None
    return html_table([{"key": k, "value": getattr(cfg, k)} for k in RUN_KEYS])


def section_steps(outputs: Outs, ctx: ReportContext) -> str:
    """Status and run time of every earlier step, and the outputs it wrote."""
    rows = []
    for rec in ctx.steps.values():
        written = ""
        if rec.outputs is not None:
            written = ", ".join(f.name for f in dataclasses.fields(rec.outputs)
                                if not f.metadata.get("summary") and f.name != "params"
                                and getattr(rec.outputs, f.name) not in (None, "", [], {}))
        rows.append({"step": rec.name, "status": rec.status,
                     "seconds": "" if rec.seconds is None else rec.seconds,
                     "outputs": written or rec.note})
    return html_table(rows, max_rows=100)


# -- data ----------------------------------------------------------------------------------
def section_negatives(outputs: Outs, ctx: ReportContext) -> str:
    """GC matching of the background regions (the negatives step's ``report`` JSON)."""
    from bpnetkit.report.data import gc_report_figure

    neg = outputs.get("negatives")
    if neg is None:
        return not_run("negatives")
    stats = json.loads(Path(neg.report).read_text())
    rows = [{"statistic": k, "value": v} for k, v in flatten(stats).items()
            if isinstance(v, int | float | str) and not isinstance(v, bool)]
    return html_table(rows, max_rows=40) + img(gc_report_figure(stats), "GC match")


def section_shift_qc(outputs: Outs, ctx: ReportContext) -> str:
    """Tn5/DNase shift QC of the ``bigwigs`` and ``control_bigwigs`` steps
    (``Bam2BwOutputs.shift_qc`` JSON): the verdict and the shifts in use vs inferred."""
    from bpnetkit.report.data import shift_qc_figure

    ran = [s for s in ("bigwigs", "control_bigwigs") if outputs.get(s) is not None]
    if not ran:
        return not_run("bigwigs")
    rows, figs = [], []
    for step in ran:
        path = outputs[step].shift_qc
        if not path:
            rows.append({"step": step, "verdict": "no shift QC (not an enzyme-cut assay, "
                                                  "or no genome given)"})
            continue
        qc = json.loads(Path(path).read_text())
        inferred = qc.get("inferred_shift")
        rows.append({"step": step, "verdict": qc["verdict"], "confidence": qc["confidence"],
                     "shifts used (+/-)": _shifts(qc["shift_used"]),
                     "shifts inferred (+/-)": _shifts(inferred) if inferred else "unclear",
                     "strand offset (bp)": ("" if qc.get("strand_offset") is None
                                            else qc["strand_offset"]),
                     "ends (+/-)": f"{qc.get('n_plus', '')}/{qc.get('n_minus', '')}",
                     "message": qc.get("message", "")})
        figs.append(f"<h3>{esc(step)}</h3>" + img(shift_qc_figure(qc), f"{step} shift QC"))
    return html_table(rows) + "\n".join(figs)


def _shifts(pair: list[int]) -> str:
    return f"{int(pair[0]):+d}/{int(pair[1]):+d}"


# -- training ------------------------------------------------------------------------------
def section_training(outputs: Outs, ctx: ReportContext) -> str:
    """Training and validation curves from the fit step's ``log`` TSV, and its metrics."""
    from bpnetkit.report.training import chrombpnet_qc_rows, fit_figures, read_training_log

    fit = outputs.get("fit")
    if fit is None:
        return not_run("fit")
    n_epochs = len(read_training_log(fit.log))
    parts = [muted(f"from {Path(fit.log).name}, {n_epochs} epochs")]
    parts += [img(fig, name) for name, fig in fit_figures(fit.log).items()]
    if fit.metrics:
        metrics = json.loads(Path(fit.metrics).read_text())
        if isinstance(metrics.get("qc"), dict) and metrics["qc"].get("checks"):
            parts.append("<h3>ChromBPNet QC</h3>"
                         + html_table(chrombpnet_qc_rows(metrics["qc"]), max_rows=20))
        flat = flatten(metrics)
        rows = [{"metric": k, "value": v} for k, v in flat.items()
                if isinstance(v, int | float) and not isinstance(v, bool)]
        parts.append("<h3>Fit metrics</h3>" + html_table(rows, max_rows=80))
    return "\n".join(parts)


def section_metrics(outputs: Outs, ctx: ReportContext) -> str:
    """Held-out metrics from the evaluate step's ``metrics_json`` (and, when it wrote
    ``predictions``, the counts scatter and example profiles)."""
    from bpnetkit.report.training import evaluate_figures

    ev = outputs.get("evaluate")
    if ev is None:
        return not_run("evaluate")
    flat = flatten(json.loads(Path(ev.metrics_json).read_text()))
    rows = [{"metric": k, "value": v} for k, v in flat.items()
            if isinstance(v, int | float | str) and not isinstance(v, bool)]
    out = muted(f"from {Path(ev.metrics_json).name}") + html_table(rows, max_rows=120)
    if ev.predictions:
        out += "".join(img(fig, name) for name, fig in evaluate_figures(ev.predictions).items())
    return out


# -- profiles ------------------------------------------------------------------------------
def bigwig_values(path: str, chrom: str, start: int, end: int) -> np.ndarray:
    """Values of ``[start, end)`` (0 outside the chromosome and where there is no data)."""
    from bpnetkit.io.bigwig import open_bigwig

    bw = open_bigwig(path)
    try:
        out = np.zeros(end - start)
        size = bw.chroms().get(chrom)
        if size is None:
            return out
        s, e = max(0, start), min(size, end)
        if e > s:
            v = np.nan_to_num(np.asarray(bw.values(chrom, s, e, numpy=True), dtype=float))
            out[s - start:s - start + v.size] = v
        return out
    finally:
        bw.close()


def observed_bigwigs(outputs: Outs, ctx: ReportContext) -> list[str]:
    """The experiment's bigWigs: written by the bam2bw step, or given as pipeline inputs."""
    bw = outputs.get("bigwigs")
    if bw is not None:
        return list(bw.bigwigs)
    cfg = ctx.config
    if cfg is not None and cfg.inputs:
        from bpnetkit.pipeline.config import input_kind

        if input_kind(cfg.inputs[0]) == "bigwig":
            return list(cfg.inputs)
    return []


def top_windows(chroms: list[str], starts: np.ndarray, ends: np.ndarray, tracks: list[str],
                n: int, max_scan: int = 300) -> list[int]:
    """Indices of the ``n`` windows with the largest total over ``tracks`` (of the first
    ``max_scan``)."""
    idx = np.arange(min(len(chroms), max_scan))
    totals = np.array([sum(bigwig_values(t, chroms[i], int(starts[i]), int(ends[i])).sum()
                           for t in tracks) for i in idx])
    return [int(idx[j]) for j in np.argsort(-totals, kind="stable")[:n]]


def section_profiles(outputs: Outs, ctx: ReportContext) -> str:
    """Predicted (predict step ``bigwigs``) vs observed tracks at the predicted windows
    (``regions_bed``) with the most observed reads."""
    from bpnetkit.io.bed import read_regions
    from bpnetkit.report.plots import profile_panels

    pred = outputs.get("predict")
    if pred is None:
        return not_run("predict")
    if not pred.bigwigs:
        return not_run("predict", "no predicted bigWigs were written")
    observed = observed_bigwigs(outputs, ctx)
    reg = read_regions(pred.regions_bed)
    chroms = [str(c) for c in reg.chrom]
    top = top_windows(chroms, reg.start, reg.end, observed or pred.bigwigs,
                      ctx.params.n_profiles)
    items, rows = [], []
    for i in top:
        c, s, e = chroms[i], int(reg.start[i]), int(reg.end[i])
        obs = np.stack([bigwig_values(t, c, s, e) for t in observed]) if observed else None
        prd = np.stack([bigwig_values(t, c, s, e) for t in pred.bigwigs])
        title = f"{c}:{s}-{e}"
        items.append({"title": title, "observed": obs, "predicted": prd})
        rows.append({"region": title,
                     "observed reads": float(obs.sum()) if obs is not None else "",
                     "predicted reads": float(prd.sum())})
    note = "" if observed else muted("No observed bigWigs in this run; predictions only.")
    return note + html_table(rows) + img(profile_panels(items), "profiles")


# -- attributions --------------------------------------------------------------------------
def strongest_windows(contrib: np.ndarray, n: int, width: int, smooth: int = 10
                      ) -> list[tuple[int, int]]:
    """``(row, start)`` of the ``n`` rows whose smoothed position contributions
    ``(N, L)`` peak highest, each with the ``width`` window centred on that peak."""
    kernel = np.ones(smooth) / smooth
    sm = np.stack([np.convolve(p, kernel, mode="same") for p in contrib])
    best = np.argsort(-sm.max(axis=1), kind="stable")[:n]
    length = contrib.shape[1]
    out = []
    for i in best:
        c = int(np.argmax(sm[i]))
        out.append((int(i), max(0, min(c - width // 2, length - width))))
    return out


def section_attributions(outputs: Outs, ctx: ReportContext) -> str:
    """Contribution logos of the windows with the strongest attributions (every target of
    the attribute step's ``h5``)."""
    from bpnetkit.io.attributions import read_attributions
    from bpnetkit.report.logos import logos_figure

    att = outputs.get("attribute")
    if att is None:
        return not_run("attribute")
    if not att.h5:
        return not_run("attribute", "no attribution file was written")
    width = 60
    parts = []
    for target, path in att.h5.items():
        attr = read_attributions(path, att.regions_bed)
        contrib = attr.hypothetical * attr.one_hot
        mats, titles = [], []
        for i, a in strongest_windows(contrib.sum(axis=1), ctx.params.n_attribution_examples,
                                      min(width, attr.length)):
            mats.append(contrib[i][:, a:a + width].T)
            titles.append(f"{attr.chroms[i]}:{int(attr.starts[i]) + a}-"
                          f"{int(attr.starts[i]) + a + mats[-1].shape[0]}")
        parts.append(f"<h3>{esc(target)}</h3>" + muted(
            "Windows: " + ", ".join(titles) + " (contribution scores, hypothetical x one-hot)")
            + img(logos_figure(mats, titles), f"{target} attribution logos"))
    return "\n".join(parts)


# -- motifs --------------------------------------------------------------------------------
def step_params(outputs: StepOutputs) -> dict[str, Any]:
    """The parameters a step ran with (its ``params`` JSON)."""
    return json.loads(Path(outputs.params).read_text())


def section_modisco(outputs: Outs, ctx: ReportContext) -> str:
    """MoDISco patterns (``modisco_h5``) as CWM logos above the logos of their database
    matches (``pattern_matches`` TSV, against the database the step used)."""
    from bpnetkit.io.modisco import read_modisco_patterns
    from bpnetkit.motifs.database import load_motif_db
    from bpnetkit.report.motifs import pattern_figure

    mod = outputs.get("modisco")
    if mod is None:
        return not_run("modisco")
    if not mod.n_patterns:
        return "<p>TF-MoDISco found no patterns.</p>"
    by_pattern: dict[str, list[dict[str, Any]]] = {}
    for r in read_table(mod.pattern_matches) if mod.pattern_matches else []:
        by_pattern.setdefault(str(r["pattern"]), []).append(r)
    for ms in by_pattern.values():
        ms.sort(key=lambda r: r["rank"])
    motifs = {m.name: m for m in load_motif_db(step_params(mod).get("motif_db"))}
    patterns = read_modisco_patterns(mod.modisco_h5)[:ctx.params.max_patterns]
    rows, figs = [], []
    for pat in patterns:
        ms = by_pattern.get(pat.name, [])
        row: dict[str, Any] = {"pattern": pat.name, "seqlets": pat.n_seqlets}
        for m in ms[:3]:
            row[f"match {m['rank']}"] = f"{m['match']} {m['match_name']}".strip()
            row[f"q {m['rank']}"] = m["q_value"]
        rows.append(row)
        figs.append(f"<h3>{esc(pat.name)}</h3>" + img(pattern_figure(pat, ms, motifs),
                                                      pat.name))
    out = muted(f"{mod.n_patterns} patterns") + html_table(rows)
    if mod.report_html:
        out += muted(f"modisco-lite's own report: {mod.report_html}")
    return out + "\n".join(figs)


def section_motifs_found(outputs: Outs, ctx: ReportContext) -> str:
    """The report's first table: motifs found with confidence, from the MoDISco patterns
    (``ModiscoOutputs.modisco_h5``) and their database matches (``AnnotateOutputs.
    pattern_matches``, else ``ModiscoOutputs.pattern_matches``); rows and criteria are
    :mod:`bpnetkit.report.motifs_found`. Patterns that do not pass are listed below it."""
    from bpnetkit.io.modisco import read_modisco_patterns
    from bpnetkit.motifs.database import load_motif_db
    from bpnetkit.report import motifs_found as mf
    from bpnetkit.report.motifs import compact_logo_figure, motifs_found_html

    mod = outputs.get("modisco")
    if mod is None:
        return not_run("modisco", "no MoDISco patterns, so no motifs to list")
    if not mod.n_patterns:
        return "<p>TF-MoDISco found no patterns, so no motif was found.</p>"
    ann = outputs.get("annotate")
    source, note = ann, ""
    if ann is None or not ann.pattern_matches:
        source = mod if mod.pattern_matches else None
        note = muted("annotate: not run; the patterns' database matches are those of the "
                     "modisco step.")
    if source is None:
        return not_run("annotate", "the MoDISco patterns were not matched to a motif "
                                   "database, so no motif can be named")
    params = step_params(source)
    motifs = load_motif_db(params.get("motif_db"))
    by_pattern: dict[str, list[dict[str, Any]]] = {}
    for r in read_table(source.pattern_matches):
        by_pattern.setdefault(str(r["pattern"]), []).append(r)
    patterns = read_modisco_patterns(mod.modisco_h5)
    trim = float(params.get("trim_threshold", 0.3))
    comp = mf.pattern_composition_p(patterns, by_pattern, motifs, trim)
    found, other = mf.motifs_found(patterns, by_pattern, motifs, composition_p=comp)
    by_name = {p.name: p for p in patterns}
    logos = {r.best_pattern: img(compact_logo_figure(by_name[r.best_pattern].trimmed(trim)[1]),
                                 f"{r.best_pattern} CWM")
             for r in found}
    return note + motifs_found_html(found, other, logos, mf.criteria_text())


def section_annotate(outputs: Outs, ctx: ReportContext) -> str:
    """Seqlets per database motif (the annotate step's ``motif_counts`` TSV): every seqlet's
    label, not only confident motifs (those are in the "Motifs found" section)."""
    ann = outputs.get("annotate")
    if ann is None:
        return not_run("annotate")
    if not ann.motif_counts:
        if ann.pattern_matches:
            return muted("No seqlets were annotated (the seqlets step called none); the "
                         "MoDISco patterns' database matches are in the TF-MoDISco section.")
        return not_run("annotate", "no motif counts were written (no seqlet matched)")
    return muted("Every seqlet with its label, counted per motif family; a label here is not "
                 "by itself a finding: the motifs found with confidence are listed in "
                 "'Motifs found' at the top.") + html_table(read_table(ann.motif_counts))


def section_hits(outputs: Outs, ctx: ReportContext) -> str:
    """Motif hits (the hits step's ``hits_tsv`` and ``counts_tsv``): hits per motif, and the
    region with the most hits as a contribution logo (the attribute step's ``h5`` of the
    target the hits were called on) with the hits drawn under it."""
    from bpnetkit.io.attributions import read_rows
    from bpnetkit.report import hits as hitfig

    hits_out = outputs.get("hits")
    if hits_out is None:
        return not_run("hits")
    hits = read_table(hits_out.hits_tsv)
    occurrences = read_table(hits_out.counts_tsv)
    rows = hitfig.hit_count_rows(hits, occurrences)
    n_with = sum(1 for r in occurrences if int(r.get("total", 0) or 0) > 0)
    parts = [muted(f"{len(hits)} hits in {n_with} of {len(occurrences)} regions "
                   f"(from {Path(hits_out.hits_tsv).name})"), html_table(rows)]
    if hits:
        parts.append(img(hitfig.hit_counts_figure(rows), "hits per motif"))
    pid = hitfig.example_region(hits)
    att = outputs.get("attribute")
    if pid is None:
        return "\n".join(parts)
    if att is None or not att.h5:
        return "\n".join(parts + [not_run("attribute", "no attributions to draw the hits on")])
    used = step_params(hits_out).get("attributions")
    target, path = next(((t, p) for t, p in att.h5.items() if p == used),
                        next(iter(att.h5.items())))
    mine = [h for h in hits if int(h["peak_id"]) == pid]
    attr, _ = read_rows(path, [pid], att.regions_bed)
    row_start, length = int(attr.starts[pid]), attr.length
    lo, hi = hitfig.locus_window(mine, row_start, length)
    contrib = (attr.hypothetical[0] * attr.one_hot[0])[:, lo - row_start:hi - row_start].T
    title = f"{attr.chroms[pid]}:{lo}-{hi}"
    parts.append(f"<h3>Example locus {esc(title)}</h3>" + muted(
        f"region {mine[0]['peak_name']} (peak_id {pid}, {len(mine)} hits), attributions of "
        f"{target}; boxes: trimmed motif cores, lines: whole patterns")
        + img(hitfig.hits_locus_figure(contrib, lo, mine, title), f"hits at {title}"))
    return "\n".join(parts)


def read_effects(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a marginalization ``effects`` TSV, in the step's ``rank`` order."""
    return sorted(read_table(path), key=lambda r: r["rank"])


def section_marginalize(outputs: Outs, ctx: ReportContext) -> str:
    """The marginalization ranking (``effects`` TSV) with motif logos, mean profiles
    (``profiles`` npz) and the spacing experiment (``spacing`` TSV)."""
    from bpnetkit.motifs.database import load_motif_db
    from bpnetkit.report.motifs import marginalize_html
    from bpnetkit.steps.marginalize import read_profiles

    mar = outputs.get("marginalize")
    if mar is None:
        return not_run("marginalize")
    rows = read_effects(mar.effects)
    if not rows:
        return muted("no motifs were marginalized")
    motifs = load_motif_db(step_params(mar).get("motif_db"))
    profiles = read_profiles(mar.profiles) if mar.profiles else None
    spacing = read_table(mar.spacing) if mar.spacing else []
    return marginalize_html(rows, profiles, motifs, spacing)


BUILTIN = [
    ("motifs_found", 2, section_motifs_found, "Motifs found"),
    ("run", 8, section_run, "Run"),
    ("steps", 10, section_steps, "Steps"),
    ("shift_qc", 15, section_shift_qc, "Shift QC (Tn5/DNase)"),
    ("negatives", 20, section_negatives, "Background regions (GC matching)"),
    ("training", 30, section_training, "Training curves"),
    ("metrics", 40, section_metrics, "Metrics on held-out peaks"),
    ("profiles", 50, section_profiles, "Predicted vs observed profiles"),
    ("attributions", 60, section_attributions, "Attributions (strongest windows)"),
    ("modisco", 70, section_modisco, "TF-MoDISco patterns and database matches"),
    ("annotate", 80, section_annotate, "Seqlet annotation (all seqlets)"),
    ("hits", 85, section_hits, "Motif hits"),
    ("marginalize", 90, section_marginalize, "Marginalization ranking"),
]

for _name, _order, _func, _title in BUILTIN:
    register_section(_name, _order, _func, _title)
