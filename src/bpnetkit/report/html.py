"""One self-contained HTML page per pipeline run (figures embedded as base64 PNG).

Sections: the steps and their status, the planted-motif summary (demo runs), metrics,
training curves, predicted vs observed profiles at the top peaks, attribution logos, MoDISco
patterns with their database matches, seqlet annotation counts and the marginalization
ranking. A section whose inputs are missing says so instead of failing the report.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bpnetkit.report.tables import columns, flatten, numeric_columns, read_table

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.4}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}
.ok{color:#137333}.bad{color:#b3261e}.muted{color:#777}img{max-width:100%}
code{background:#f4f4f4;padding:0 3px}
"""


@dataclass
class ReportParams:
    """Parameters of the report step.

    Attributes
    ----------
    run_dir : str
        The pipeline run folder.
    output_dir : str
        Where ``<name>.report.html`` goes.
    name : str
        Experiment name.
    truth : str or None
        Planted-motif ground truth JSON (demo runs).
    motif_db : str or None
        Motif database (None: built-in).
    outputs : dict
        Outputs of the earlier steps (step -> {name: path}).
    pipeline : str or None
        The resolved pipeline JSON of the run.
    n_profiles, n_attribution_examples, max_patterns : int
        How many peaks, attribution examples and MoDISco patterns to show.
    """

    run_dir: str
    output_dir: str
    name: str = "bpnetkit"
    truth: str | None = None
    motif_db: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    pipeline: str | None = None
    n_profiles: int = 4
    n_attribution_examples: int = 3
    max_patterns: int = 10


def _img(png: bytes, alt: str = "") -> str:
    return (f"<img alt='{html.escape(alt)}' src='data:image/png;base64,"
            f"{base64.b64encode(png).decode()}'>")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple) and len(v) > 8:
        return html.escape(f"[{len(v)} values]")
    return html.escape(str(v))


def html_table(rows: list[dict[str, Any]], cols: list[str] | None = None,
               max_rows: int = 50) -> str:
    """An HTML table of dict rows."""
    if not rows:
        return "<p class='muted'>(empty)</p>"
    cols = cols or columns(rows)
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols) + "</tr>"]
    for r in rows[:max_rows]:
        out.append("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>")
    out.append("</table>")
    if len(rows) > max_rows:
        out.append(f"<p class='muted'>{len(rows) - max_rows} more rows not shown.</p>")
    return "\n".join(out)


def _unavailable(why: str) -> str:
    return f"<p class='muted'>Not available: {html.escape(why)}</p>"


# -- sections ------------------------------------------------------------------------------
def section_steps(run_dir: Path, step_names: list[str]) -> str:
    """Status of every step from its stamp file."""
    from bpnetkit.pipeline.runner import read_stamp

    rows = []
    for s in step_names:
        d = run_dir / s
        stamp = read_stamp(d)
        if stamp is None:
            err = d / "error.txt"
            status = "failed (see error.txt)" if err.exists() else "did not run / unavailable"
            rows.append({"step": s, "status": status, "seconds": "", "outputs": ""})
        else:
            st = stamp.get("status", "?")
            rows.append({"step": s, "status": st, "seconds": stamp.get("seconds", ""),
                         "outputs": ", ".join(sorted(stamp.get("outputs", {})))
                         or stamp.get("reason", "")})
    return html_table(rows)


def section_metrics(outputs: dict[str, str]) -> str:
    """Metrics written by the evaluate step (and its figures)."""
    parts = []
    items = sorted(outputs.items())
    if outputs.get("metrics_tsv"):  # the same numbers as metrics_json, as one table
        items = [(k, v) for k, v in items if k != "metrics_json"]
    for key, path in items:
        p = Path(path)
        if p.suffix not in (".json", ".tsv", ".csv") or key == "params" or \
                p.name.endswith("params.json") or not p.exists():
            continue
        try:
            rows = read_table(p)
        except (ValueError, OSError) as e:
            parts.append(f"<p>{html.escape(p.name)}: unreadable ({html.escape(str(e))})</p>")
            continue
        if len(rows) == 1:
            flat = flatten(rows[0])
            rows = [{"metric": k, "value": v} for k, v in flat.items()
                    if isinstance(v, int | float | str) and not isinstance(v, bool)]
        parts.append(f"<h3>{html.escape(key)} <span class='muted'>({html.escape(p.name)})"
                     f"</span></h3>" + html_table(rows, max_rows=80))
    for key, path in items:
        if str(path).endswith(".png") and Path(path).exists():
            parts.append(f"<h3>{html.escape(key)}</h3>" + _img(Path(path).read_bytes(), key))
    return "\n".join(parts) or _unavailable("the evaluate step wrote no metrics table")


def _history_from(path: Path) -> dict[str, list[float]] | None:
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                hist = data.get("history", data)
                if isinstance(hist, list):
                    rows = hist
                else:
                    cols = {k: v for k, v in hist.items()
                            if isinstance(v, list) and v and all(isinstance(x, int | float)
                                                                 for x in v)}
                    return cols or None
            elif isinstance(data, list):
                rows = data
            else:
                return None
        else:
            rows = read_table(path)
        rows = [r for r in rows if isinstance(r, dict)]
        cols = numeric_columns(rows)
        if not rows or not cols:
            return None
        return {c: [float(r[c]) for r in rows] for c in cols}
    except (ValueError, OSError, KeyError, TypeError):
        return None


def find_history(fit_outputs: dict[str, str]) -> tuple[dict[str, list[float]], str] | None:
    """A per-epoch training log among the fit step's outputs (or inside its model folder)."""
    cands: list[Path] = []
    for v in fit_outputs.values():
        p = Path(v)
        if p.is_dir():
            cands += sorted(q for q in p.rglob("*") if q.suffix in (".tsv", ".csv", ".json"))
        elif p.exists():
            cands.append(p)
    cands.sort(key=lambda q: (not any(w in q.name.lower() for w in
                                      ("history", "log", "curve", "loss")), q.name))
    for q in cands:
        if q.name in ("config.json",) or q.name.endswith("params.json"):
            continue
        hist = _history_from(q)
        if hist and max(len(v) for v in hist.values()) >= 1:
            if any(k.lower() in ("epoch", "epochs") for k in hist) or \
                    any("loss" in k.lower() for k in hist):
                return hist, q.name
    return None


def section_training(fit_outputs: dict[str, str]) -> str:
    """Training/validation curves."""
    from bpnetkit.report.plots import training_curves

    found = find_history(fit_outputs)
    if not found:
        return _unavailable("no per-epoch training log among the fit outputs")
    hist, source = found
    x = None
    for k in list(hist):
        if k.lower() in ("epoch", "epochs"):
            x = hist.pop(k)
    keep = {k: v for k, v in hist.items() if any(w in k.lower() for w in
                                                  ("loss", "nll", "mse", "pearson", "jsd"))}
    hist = keep or hist
    if not hist:
        return _unavailable(f"{source} has no loss columns")
    return f"<p class='muted'>from {html.escape(source)}</p>" + \
        _img(training_curves(hist, x), "training curves")


def _bw_values(path: str, chrom: str, start: int, end: int) -> np.ndarray:
    import pyBigWig

    bw = pyBigWig.open(path)
    try:
        size = bw.chroms().get(chrom)
        if size is None:
            return np.zeros(end - start)
        s, e = max(0, start), min(size, end)
        v = np.nan_to_num(np.asarray(bw.values(chrom, s, e, numpy=True), dtype=float))
        out = np.zeros(end - start)
        out[s - start:s - start + v.size] = v
        return out
    finally:
        bw.close()


def section_profiles(observed: list[str], predicted: list[str], peaks: str | None,
                     width: int, n: int) -> str:
    """Observed vs predicted tracks at the peaks with the most observed reads."""
    from bpnetkit.data.regions import read_regions
    from bpnetkit.report.plots import profile_panels

    if not peaks or not Path(peaks).exists():
        return _unavailable("no peaks")
    if not observed and not predicted:
        return _unavailable("no observed or predicted bigWigs")
    reg = read_regions(peaks)
    idx = np.arange(len(reg.chrom))
    if reg.score is not None and len(idx) > 300:
        idx = np.argsort(-np.asarray(reg.score, dtype=float), kind="stable")[:300]
    half = width // 2
    totals = []
    for i in idx:
        c, s = str(reg.chrom[i]), int(reg.summit[i])
        tracks = observed or predicted
        totals.append(sum(_bw_values(t, c, s - half, s + half).sum() for t in tracks))
    top = [idx[j] for j in np.argsort(-np.asarray(totals), kind="stable")[:n]]
    items = []
    for i in top:
        c, s = str(reg.chrom[i]), int(reg.summit[i])
        obs = np.stack([_bw_values(t, c, s - half, s + half) for t in observed]) \
            if observed else None
        pred = np.stack([_bw_values(t, c, s - half, s + half) for t in predicted]) \
            if predicted else None
        items.append({"title": f"{c}:{s - half}-{s + half}", "observed": obs,
                      "predicted": pred})
    note = "" if predicted else "<p class='muted'>No predicted bigWigs; observed only.</p>"
    rows = [{"region": it["title"],
             "observed reads": float(it["observed"].sum()) if it["observed"] is not None
             else "",
             "predicted reads": float(it["predicted"].sum()) if it["predicted"] is not None
             else ""} for it in items]
    return note + html_table(rows) + _img(profile_panels(items), "profiles")


def section_attributions(h5: str | None, regions: str | None, n: int, width: int = 60) -> str:
    """Contribution logos of the windows with the strongest attributions."""
    from bpnetkit.io.attributions import read_attributions
    from bpnetkit.report.plots import logo_rows

    if not h5 or not Path(h5).exists():
        return _unavailable("no attribution file")
    attr = read_attributions(h5, regions if regions and Path(regions).exists() else None)
    proj = (attr.hypothetical * attr.one_hot).sum(axis=1)  # (N, L)
    kernel = np.ones(10) / 10
    # windows where the sequence raises the output most (positive contributions)
    smooth = np.stack([np.convolve(p, kernel, mode="same") for p in proj])
    best = np.argsort(-smooth.max(axis=1), kind="stable")[:n]
    mats, titles = [], []
    for i in best:
        c = int(np.argmax(smooth[i]))
        a = max(0, min(c - width // 2, attr.length - width))
        mats.append((attr.hypothetical[i] * attr.one_hot[i])[:, a:a + width].T)
        titles.append(f"{attr.chroms[i]}:{int(attr.starts[i]) + a}-"
                      f"{int(attr.starts[i]) + a + width}")
    caption = "<p class='muted'>Windows: " + ", ".join(html.escape(t) for t in titles) + \
        " (contribution scores, hypothetical x one-hot)</p>"
    return caption + _img(logo_rows(mats, titles), "attribution logos")


def section_modisco(outputs: dict[str, str], motif_db: str | None, max_patterns: int) -> str:
    """MoDISco patterns (CWM logos) with their best database matches."""
    from bpnetkit.report.plots import logo_rows

    h5 = outputs.get("modisco_h5") or next((v for v in outputs.values()
                                            if str(v).endswith(".h5")), None)
    if not h5 or not Path(h5).exists():
        return _unavailable("no MoDISco results")
    from bpnetkit.io.meme import load_motif_db
    from bpnetkit.motifs.annotate import annotate_patterns, read_modisco_patterns

    patterns = read_modisco_patterns(h5)[:max_patterns]
    if not patterns:
        return "<p>TF-MoDISco found no patterns.</p>"
    motifs = load_motif_db(motif_db)
    matches = annotate_patterns(patterns, motifs, n_matches=3)
    by_name = {m.name: m for m in motifs}
    rows, parts = [], []
    for pat, ms in zip(patterns, matches):
        rows.append({"pattern": pat.name, "seqlets": pat.n_seqlets,
                     "match 1": f"{ms[0].target_name} {ms[0].target_alt_name}" if ms else "",
                     "q 1": ms[0].q_value if ms else "",
                     "match 2": f"{ms[1].target_name} {ms[1].target_alt_name}"
                     if len(ms) > 1 else "",
                     "match 3": f"{ms[2].target_name} {ms[2].target_alt_name}"
                     if len(ms) > 2 else ""})
        _, cwm = pat.trimmed(0.3)
        mats, titles, kinds = [cwm], [f"{pat.name} ({pat.n_seqlets} seqlets)"], ["values"]
        for m in ms[:2]:
            motif = by_name[m.target_name]
            pwm = motif.pwm if m.strand == "+" else motif.reverse_complement().pwm
            mats.append(pwm)
            titles.append(f"{motif.label} ({m.strand}) q={m.q_value:.2g}")
            kinds.append("information")
        parts.append(f"<h3>{html.escape(pat.name)}</h3>" + _img(logo_rows(mats, titles, kinds),
                                                                pat.name))
    return html_table(rows) + "\n".join(parts)


def section_table_output(outputs: dict[str, str], keys: tuple[str, ...], what: str) -> str:
    """A TSV output of a step as a table."""
    for k in keys:
        p = outputs.get(k)
        if p and Path(p).exists() and Path(p).is_file():
            return html_table(read_table(p))
    return _unavailable(f"no {what}")


def marginal_ranking(outputs: dict[str, str]) -> list[dict[str, Any]]:
    """Rows of the marginalization table, ranked by the largest numeric effect column."""
    path = None
    for k in ("ranking", "marginalize", "effects", "summary", "table"):
        if outputs.get(k) and str(outputs[k]).endswith((".tsv", ".csv")):
            path = outputs[k]
            break
    if path is None:
        path = next((v for v in outputs.values() if str(v).endswith((".tsv", ".csv"))), None)
    if path is None or not Path(path).exists():
        return []
    rows = read_table(path)
    if not rows:
        return []
    if "rank" in rows[0]:
        return sorted(rows, key=lambda r: r["rank"] if isinstance(r["rank"], int | float)
                      else 1e9)
    num = numeric_columns(rows)
    score = next((c for c in num if "count" in c.lower()), None) or \
        next((c for c in num if "effect" in c.lower() or "score" in c.lower()), None) or \
        (num[0] if num else None)
    if score is None:
        return rows
    rows = sorted(rows, key=lambda r: -abs(float(r[score])))
    for i, r in enumerate(rows):
        r.setdefault("rank", i + 1)
    return rows


def section_marginalize(outputs: dict[str, str]) -> str:
    """The marginalization ranking (table and bars)."""
    from bpnetkit.report.plots import bar_ranking

    rows = marginal_ranking(outputs)
    if not rows:
        return _unavailable("no marginalization table")
    out = html_table(rows)
    num = [c for c in numeric_columns(rows) if c != "rank"]
    name_col = next((c for c in columns(rows) if c not in num and c != "rank"), None)
    if num and name_col:
        col = next((c for c in num if "count" in c.lower()), num[0])
        out += _img(bar_ranking([str(r[name_col]) for r in rows[:20]],
                                [float(r[col]) for r in rows[:20]], col), "marginalization")
    return out


# -- the page ------------------------------------------------------------------------------
def build_report(params: ReportParams) -> tuple[str, list[dict[str, Any]] | None]:
    """The HTML text of the report (and the planted-motif summary rows, for demo runs)."""
    from bpnetkit.pipeline.builders import STEP_ORDER, _bigwigs
    from bpnetkit.pipeline.runner import StepContext

    run_dir = Path(params.run_dir)
    outs: dict[str, dict[str, str]] = {k: dict(v) for k, v in (params.outputs or {}).items()}
    cfg = None
    if params.pipeline and Path(params.pipeline).exists():
        from bpnetkit.pipeline.config import load_pipeline_params

        cfg = load_pipeline_params(params.pipeline)
    body: list[str] = []

    def add(title: str, fn, *args) -> None:
        try:
            content = fn(*args)
        except Exception as e:  # a broken section must not sink the report
            content = (f"<p class='bad'>Could not draw this section: "
                       f"{html.escape(type(e).__name__)}: {html.escape(str(e))[:400]}</p>")
        body.append(f"<h2>{html.escape(title)}</h2>\n{content}")

    summary_rows = None
    if params.truth:
        from bpnetkit.demo.summary import planted_summary, summary_html

        def _summary():
            nonlocal summary_rows
            summary_rows = planted_summary(params.truth, outs.get("modisco", {}),
                                           outs.get("marginalize", {}), params.motif_db)
            return summary_html(summary_rows)

        add("Planted motifs: were they found?", _summary)
    add("Steps", section_steps, run_dir, [s for s in STEP_ORDER if s != "report"])
    add("Metrics", section_metrics, outs.get("evaluate", {}))
    add("Training curves", section_training, outs.get("fit", {}))
    if cfg is not None:
        ctx = StepContext(cfg, run_dir / "report", run_dir, outs)
        from bpnetkit.pipeline.builders import peaks_path, signal_paths

        def _profiles():
            try:
                observed = signal_paths(cfg, ctx) if cfg.inputs else []
            except Exception:
                observed = []
            predicted = _bigwigs(outs.get("predict"), cfg.stranded) if outs.get("predict") \
                else []
            try:
                peaks = peaks_path(cfg, ctx)
            except Exception:
                peaks = None
            return section_profiles(observed, predicted, peaks, cfg.out_window,
                                    params.n_profiles)

        add("Predicted vs observed profiles at the top peaks", _profiles)
    attr = outs.get("attribute", {})
    target = cfg.attribute_target if cfg is not None else "profile"
    add(f"Attributions ({target}; strongest windows)", section_attributions,
        attr.get(f"{target}_h5") or attr.get("attributions")
        or next((v for v in attr.values() if str(v).endswith(".h5")), None),
        attr.get("regions_bed") or attr.get("regions")
        or next((v for v in attr.values() if str(v).endswith(".bed")), None),
        params.n_attribution_examples)
    add("TF-MoDISco patterns and database matches", section_modisco, outs.get("modisco", {}),
        params.motif_db, params.max_patterns)
    add("Seqlet annotation", section_table_output, outs.get("annotate", {}),
        ("motif_counts",), "seqlet annotation")
    add("Marginalization ranking", section_marginalize, outs.get("marginalize", {}))
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    from bpnetkit import __version__

    head = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(params.name)}: bpnetkit report</title><style>{CSS}</style></head>"
            f"<body><h1>{html.escape(params.name)}: bpnetkit report</h1><p class='muted'>"
            f"run folder <code>{html.escape(str(run_dir))}</code>, {now}, bpnetkit "
            f"{__version__}</p>")
    if cfg is not None:
        info = [{"key": k, "value": getattr(cfg, k)} for k in
                ("genome", "inputs", "controls", "peaks", "model_type", "stranded",
                 "in_window", "out_window", "motif_db")]
        head += "<h2>Run</h2>" + html_table(info)
    return head + "\n".join(body) + "\n</body></html>\n", summary_rows


def run_report(params: ReportParams) -> dict[str, str]:
    """Write ``<name>.report.html`` (and ``planted_motifs.tsv`` for demo runs)."""
    from bpnetkit.config import dump_config
    from bpnetkit.utils import write_text_atomic

    out = Path(params.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    text, summary_rows = build_report(params)
    page = write_text_atomic(out / f"{params.name}.report.html", text)
    results = {"html": str(page)}
    if summary_rows is not None:
        from bpnetkit.demo.summary import write_summary_tsv

        results["planted_summary"] = str(write_summary_tsv(summary_rows,
                                                           out / "planted_motifs.tsv"))
    results["params"] = str(dump_config(params, out / "report.params.json"))
    return results
