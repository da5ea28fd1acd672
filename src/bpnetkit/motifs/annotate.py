"""Annotate seqlets and MoDISco patterns with a motif database (Tomtom via memelite).

Outputs of :func:`run_annotate` (in ``output_dir``, prefixed by ``name``):

- ``<name>.seqlet_matches.tsv``: every seqlet of the BED with its best database match
  (``match``, ``p_value``, ``q_value``, ``strand``); ``match`` is empty when the best p-value
  is above ``max_p_value``. The query of a seqlet is built from the hypothetical
  contributions of its core (:func:`contribution_ppm`), or is its sequence when only a
  genome is given.
- ``<name>.motif_counts.tsv``: per database motif, the number of seqlets (positive and
  negative) whose best match it is, and the number of regions with at least one.
- ``<name>.cooccurrence.tsv``: a symmetric matrix over the annotated motifs; entry ``(a, b)``
  is the number of regions (rows of the attribution file) containing seqlets annotated with
  both ``a`` and ``b`` (the diagonal: regions containing ``a``).
- ``<name>.pattern_matches.tsv`` (with ``modisco``): the ``n_matches`` best matches of each
  MoDISco pattern (trimmed PFM) with p/q-values, and ``logos/<pattern>.png``: the pattern's
  contribution logo above the logos of its matches.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.io.meme import Motif, load_motif_db


@dataclass
class Pattern:
    """A MoDISco pattern: name (``pos_patterns.pattern_0``), PFM, CWM and seqlet count."""

    name: str
    ppm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray
    n_seqlets: int

    def trimmed(self, threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """``(ppm, cwm)`` without flanks whose total |contribution| < threshold * max."""
        score = np.abs(self.cwm).sum(axis=1)
        keep = np.where(score >= threshold * score.max())[0] if score.max() > 0 else \
            np.arange(len(score))
        a, b = int(keep[0]), int(keep[-1]) + 1
        return self.ppm[a:b], self.cwm[a:b]


def read_modisco_patterns(path: str | Path) -> list[Pattern]:
    """Read the patterns of a modisco-lite results h5 (positive first, by index)."""
    import h5py

    path = require_file(path, "MoDISco results h5")
    out = []
    with h5py.File(path, "r") as fh:
        for group in ("pos_patterns", "neg_patterns"):
            if group not in fh:
                continue
            items = sorted(fh[group].items(), key=lambda kv: int(kv[0].split("_")[-1]))
            for pname, pat in items:
                n = int(pat["seqlets"]["n_seqlets"][()][0]) if "seqlets" in pat else 0
                out.append(Pattern(f"{group}.{pname}", pat["sequence"][()],
                                   pat["contrib_scores"][()],
                                   pat["hypothetical_contribs"][()], n))
    return out


def _write_tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    from bpnetkit.utils import atomic_path

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    with atomic_path(path) as tmp:
        tmp.write_text("\t".join(header) + "\n" +
                       "".join("\t".join(fmt(v) for v in r) + "\n" for r in rows))
    return path


def annotate_patterns(patterns: list[Pattern], motifs: list[Motif], n_matches: int = 3,
                      trim_threshold: float = 0.3):
    """Tomtom matches of each pattern's trimmed PFM; returns a list of match lists."""
    from bpnetkit.motifs.tomtom import tomtom_matches

    return tomtom_matches([p.trimmed(trim_threshold)[0] for p in patterns], motifs,
                          n_matches=n_matches)


def write_pattern_report(out_dir: Path, name: str, patterns: list[Pattern],
                         matches, motifs: list[Motif], trim_threshold: float = 0.3,
                         logos: bool = True) -> dict[str, str]:
    """Write ``<name>.pattern_matches.tsv``, logos and a small HTML page."""
    from bpnetkit.report.logos import save_logos

    rows = []
    for pat, ms in zip(patterns, matches):
        for m in ms:
            rows.append([pat.name, pat.n_seqlets, m.rank + 1, m.target_name,
                         m.target_alt_name, m.p_value, m.q_value, m.strand, m.offset])
    tsv = _write_tsv(out_dir / f"{name}.pattern_matches.tsv",
                     ["pattern", "n_seqlets", "rank", "match", "match_name", "p_value",
                      "q_value", "strand", "offset"], rows)
    out = {"pattern_matches": str(tsv)}
    if not logos:
        return out
    logo_dir = out_dir / "logos"
    html = [f"<html><head><meta charset='utf-8'><title>{name}: patterns</title></head><body>",
            f"<h1>{name}: MoDISco patterns and database matches</h1>",
            "<table border='1' cellpadding='4'><tr><th>pattern</th><th>seqlets</th>"
            "<th>best match</th><th>q-value</th><th>logos</th></tr>"]
    for pat, ms in zip(patterns, matches):
        _, cwm = pat.trimmed(trim_threshold)
        mats, titles, kinds = [cwm], [f"{pat.name} (CWM, {pat.n_seqlets} seqlets)"], ["values"]
        starts = [0]
        for m in ms:
            motif = motifs[m.target]
            pwm = motif.pwm if m.strand == "+" else motif.reverse_complement().pwm
            mats.append(pwm)
            titles.append(f"{m.rank + 1}. {motif.label} ({m.strand}) q={m.q_value:.2g}")
            kinds.append("information")
            starts.append(-m.offset)  # query position i aligns with target position i + offset
        png = save_logos(logo_dir / f"{pat.name}.png", mats, titles, kinds, starts=starts)
        best = ms[0] if ms else None
        html.append(f"<tr><td>{pat.name}</td><td>{pat.n_seqlets}</td>"
                    f"<td>{best.target_name + ' ' + best.target_alt_name if best else ''}</td>"
                    f"<td>{f'{best.q_value:.2g}' if best else ''}</td>"
                    f"<td><img src='logos/{png.name}'></td></tr>")
    html.append("</table></body></html>")
    from bpnetkit.utils import write_text_atomic

    page = write_text_atomic(out_dir / f"{name}.patterns.html", "\n".join(html) + "\n")
    out["patterns_html"] = str(page)
    out["logos"] = str(logo_dir)
    return out


def contribution_ppm(hypothetical: np.ndarray, one_hot: np.ndarray, sign: int = 1
                     ) -> np.ndarray:
    """A probability matrix ``(length, 4)`` from hypothetical contributions ``(4, length)``.

    Column ``j`` is the positive part of ``sign * hypothetical[:, j]`` normalised to sum to
    one (the bases the model would reward at that position); a column without a positive
    value falls back to the observed base.
    """
    h = np.clip(sign * np.asarray(hypothetical, dtype=np.float64), 0, None)
    tot = h.sum(axis=0, keepdims=True)
    oh = np.asarray(one_hot, dtype=np.float64)
    oh = np.where(oh.sum(axis=0, keepdims=True) > 0, oh, 0.25)
    ppm = np.where(tot > 0, h / np.where(tot > 0, tot, 1), oh)
    return ppm.T


def seqlet_queries(bed: dict[str, np.ndarray], attributions: str | None = None,
                   regions: str | None = None, genome: str | None = None) -> list[np.ndarray]:
    """Tomtom queries ``(length, 4)`` of every seqlet core.

    With the attribution h5, the query is :func:`contribution_ppm` of the core's hypothetical
    contributions (sign-aware); with only a genome, the one-hot sequence of the core.
    """
    n = len(bed["chrom"])
    if attributions is not None:
        from bpnetkit.io.attributions import read_rows

        attr, rows = read_rows(attributions, bed["example"], regions)
        pos = {int(r): k for k, r in enumerate(rows)}
        out = []
        for k in range(n):
            e = int(bed["example"][k])
            a = int(bed["core_start"][k] - attr.starts[e])
            b = int(bed["core_end"][k] - attr.starts[e])
            if a < 0 or b > attr.length:
                raise InputError(f"seqlet {k} ({bed['chrom'][k]}:{bed['core_start'][k]}-"
                                 f"{bed['core_end'][k]}) lies outside row {e} of "
                                 f"{attributions}; use the 'regions' BED of that h5.")
            r = pos[e]
            out.append(contribution_ppm(attr.hypothetical[r, :, a:b], attr.one_hot[r, :, a:b],
                                        int(np.sign(bed["sign"][k]) or 1)))
        return out
    if genome is not None:
        from bpnetkit.io.fasta import Genome, one_hot_encode

        g = Genome(genome)
        return [one_hot_encode(g.fetch(str(bed["chrom"][k]), int(bed["core_start"][k]),
                                       int(bed["core_end"][k]))).T.astype(np.float64)
                for k in range(n)]
    raise InputError("annotating seqlets needs their sequences: set 'attributions' (the h5 "
                     "the seqlets were called on) or 'genome'.")


def annotate_seqlets(seqs: list[np.ndarray], motifs: list[Motif], max_p_value: float = 1e-3):
    """Best match of every seqlet sequence: list of (Match or None)."""
    from bpnetkit.motifs.tomtom import tomtom_matches

    # rows with N (all-zero) get a uniform column so that Tomtom sees a valid PPM
    queries = [np.where(s.sum(axis=1, keepdims=True) > 0, s, 0.25) for s in seqs]
    res = tomtom_matches(queries, motifs, n_matches=1)
    return [m[0] if m and m[0].p_value <= max_p_value else None for m in res]


def cooccurrence(region_ids: np.ndarray, labels: list[str | None]) -> tuple[list[str], np.ndarray]:
    """Region x motif co-occurrence: ``(motif names, counts (M, M))``."""
    per_region: dict[int, set[str]] = defaultdict(set)
    for r, lab in zip(region_ids, labels):
        if lab:
            per_region[int(r)].add(lab)
    names = sorted({lab for lab in labels if lab})
    idx = {n: i for i, n in enumerate(names)}
    mat = np.zeros((len(names), len(names)), dtype=np.int64)
    for labs in per_region.values():
        ii = [idx[x] for x in labs]
        for a in ii:
            for b in ii:
                mat[a, b] += 1
    return names, mat


@dataclass
class AnnotateParams:
    """Parameters of ``bpnetkit annotate``.

    Give ``seqlets`` (a BED from ``bpnetkit seqlets``, with ``attributions`` or ``genome`` to
    get their sequences) and/or ``modisco`` (a modisco-lite results h5). ``motif_db`` null
    means the built-in JASPAR CORE vertebrates non-redundant database.
    """

    output_dir: str
    seqlets: str | None = None
    attributions: str | None = None
    regions: str | None = None
    genome: str | None = None
    modisco: str | None = None
    motif_db: str | None = None
    name: str = "annotate"
    n_matches: int = 3
    max_p_value: float = 1e-3
    trim_threshold: float = 0.3
    logos: bool = True

    def validate(self) -> None:
        """At least one input."""
        if self.seqlets is None and self.modisco is None:
            raise InputError("annotate: set 'seqlets' (a seqlet BED) and/or 'modisco' (a "
                             "modisco-lite results h5).")


def run_annotate(params: AnnotateParams) -> dict[str, str]:
    """Annotate seqlets and/or MoDISco patterns; write the tables described in the module."""
    from bpnetkit.config import dump_config
    from bpnetkit.motifs.seqlets import read_seqlet_bed

    params.validate()
    out = Path(params.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    motifs = load_motif_db(params.motif_db)
    results: dict[str, str] = {}
    if params.seqlets is not None:
        bed = read_seqlet_bed(params.seqlets)
        if len(bed["chrom"]) == 0:
            raise InputError(f"{params.seqlets} contains no seqlets, so there is nothing to "
                             f"annotate. Call seqlets with a larger 'threshold' or a smaller "
                             f"'min_length', or check the attributions.")
        seqs = seqlet_queries(bed, params.attributions, params.regions, params.genome)
        best = annotate_seqlets(seqs, motifs, params.max_p_value)
        labels = [f"{m.target_name} {m.target_alt_name}".strip() if m else None for m in best]
        rows = []
        for k, m in enumerate(best):
            rows.append([bed["chrom"][k], bed["start"][k], bed["end"][k], bed["name"][k],
                         bed["sign"][k], bed["attribution"][k], bed["example"][k],
                         m.target_name if m else "", m.target_alt_name if m else "",
                         m.p_value if m else "", m.q_value if m else "",
                         m.strand if m else ""])
        results["seqlet_matches"] = str(_write_tsv(
            out / f"{params.name}.seqlet_matches.tsv",
            ["chrom", "start", "end", "name", "sign", "attribution", "example", "match",
             "match_name", "p_value", "q_value", "strand"], rows))
        pos = Counter(lab for lab, s in zip(labels, bed["sign"]) if lab and s > 0)
        neg = Counter(lab for lab, s in zip(labels, bed["sign"]) if lab and s < 0)
        names, mat = cooccurrence(bed["example"], labels)
        count_rows = [[n, pos.get(n, 0), neg.get(n, 0), int(mat[i, i])]
                      for i, n in enumerate(names)]
        count_rows.sort(key=lambda r: -(r[1] + r[2]))
        n_un = sum(lab is None for lab in labels)
        count_rows.append(["(unannotated)", sum(1 for lab, s in zip(labels, bed["sign"])
                                                if lab is None and s > 0),
                           sum(1 for lab, s in zip(labels, bed["sign"]) if lab is None and s < 0),
                           ""])
        results["motif_counts"] = str(_write_tsv(
            out / f"{params.name}.motif_counts.tsv",
            ["motif", "n_positive_seqlets", "n_negative_seqlets", "n_regions"], count_rows))
        results["cooccurrence"] = str(_write_tsv(
            out / f"{params.name}.cooccurrence.tsv", ["motif"] + names,
            [[n] + [int(v) for v in mat[i]] for i, n in enumerate(names)]))
        if n_un == len(labels):
            print(f"annotate: none of the {len(labels)} seqlets matched a database motif "
                  f"with p <= {params.max_p_value}.")
    if params.modisco is not None:
        patterns = read_modisco_patterns(params.modisco)
        if not patterns:
            print(f"annotate: {params.modisco} has no patterns; nothing to annotate.")
        else:
            matches = annotate_patterns(patterns, motifs, params.n_matches,
                                        params.trim_threshold)
            results.update(write_pattern_report(out, params.name, patterns, matches, motifs,
                                                params.trim_threshold, params.logos))
    results["params"] = str(dump_config(params, out / f"{params.name}.params.json"))
    return results
