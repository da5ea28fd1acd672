"""The report's first table: the motifs a run found with confidence.

Ground truth: MoDISco-style patterns built from sites sampled from planted JASPAR matrices
(the pattern's PPM is the base frequency of its seqlets, its CWM the information-weighted PPM
over the motif core, as MoDISco averages contributions) and from random noise matrices, with
chosen seqlet counts. Their database matches are computed by bpnetkit's own annotate
functions (memelite's Tomtom) against the built-in JASPAR database, or by the real annotate
step for the HTML page.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest

from bpnetkit.io.meme import Motif, information_content
from bpnetkit.io.modisco import Pattern
from bpnetkit.motifs.annotate import annotate_patterns
from bpnetkit.motifs.database import load_motif_db
from bpnetkit.motifs.families import motif_families, singleton_families
from bpnetkit.report.motifs_found import (
    LOWERS,
    MIN_SEQLET_FRACTION,
    MIN_SEQLETS,
    RAISES,
    motifs_found,
    pattern_composition_p,
)

pytest.importorskip("memelite")

FLANK = 6
# (group, planted motif id or None for noise, seqlets)
SPEC = [
    ("pos", "MA0139.2", 2500),  # CTCF
    ("pos", None, 400),  # noise with many seqlets
    ("pos", "MA0035.5", 90),  # GATA1
    ("pos", "MA0138.3", 60),  # REST
    ("pos", "MA0482.3", 45),  # GATA4, a paralog of GATA1
    ("pos", "MA0090.4", 25),  # TEAD1: >= 20 seqlets, but < 1% of the positive seqlets
    ("pos", None, 30),  # noise
    ("neg", "MA0052.5", 40),  # MEF2A lowering the signal
    ("neg", None, 35),  # noise
    ("neg", "MA0482.3", 22),  # GATA4 lowering the signal: not merged with the positive GATA
]
PLANTED_POS = {"MA0139.2", "MA0035.5", "MA0138.3", "MA0482.3"}  # with enough seqlets


def _pattern(name: str, pwm: np.ndarray, n: int, sign: int, rng) -> Pattern:
    """A MoDISco-style pattern of ``n`` seqlets: sites sampled from ``pwm`` inside random
    flanks; PPM = base frequencies, CWM = information-weighted PPM on the core."""
    core = len(pwm)
    length = core + 2 * FLANK
    counts = np.zeros((length, 4))
    for _ in range(n):
        site = np.concatenate([rng.integers(0, 4, FLANK),
                               [rng.choice(4, p=row / row.sum()) for row in pwm],
                               rng.integers(0, 4, FLANK)])
        counts[np.arange(length), site] += 1
    ppm = counts / n
    cwm = np.zeros_like(ppm)
    core_ppm = ppm[FLANK:FLANK + core]
    cwm[FLANK:FLANK + core] = core_ppm * information_content(
        np.clip(core_ppm, 1e-3, None))[:, None]
    cwm += rng.normal(0, 0.002, cwm.shape)
    return Pattern(name, ppm, sign * cwm, sign * cwm, int(n))


@pytest.fixture(scope="module")
def db() -> list[Motif]:
    return load_motif_db(None)


@pytest.fixture(scope="module")
def run_patterns(db):
    """Patterns of :data:`SPEC` (with their planted motif id) and their Tomtom matches."""
    # with this seed two noise patterns match the 31-33 bp CTCF matrices with q < 0.05
    # (a short random matrix fits somewhere in a long one); their shuffles match as well
    rng = np.random.default_rng(9)
    by_id = {m.name: m for m in db}
    patterns, truth, k = [], [], {"pos": 0, "neg": 0}
    for group, motif_id, n in SPEC:
        pwm = by_id[motif_id].pwm if motif_id else rng.dirichlet(np.ones(4), size=10)
        name = f"{group}_patterns.pattern_{k[group]}"
        k[group] += 1
        patterns.append(_pattern(name, pwm, n, 1 if group == "pos" else -1, rng))
        truth.append(motif_id)
    matches = annotate_patterns(patterns, db, n_matches=3)
    return patterns, truth, matches


def test_planted_motifs_are_confident_rows_and_noise_is_low_confidence(db, run_patterns):
    patterns, truth, matches = run_patterns
    comp = pattern_composition_p(patterns, matches, db)
    found, other = motifs_found(patterns, matches, db, composition_p=comp)
    fam = motif_families(db)
    idx = {m.name: i for i, m in enumerate(db)}

    def family(motif_id):
        return int(fam.family[idx[motif_id]])

    # every pattern is in exactly one of the two tables
    listed = [p for r in found for p in r.patterns] + [o.pattern for o in other]
    assert sorted(listed) == sorted(p.name for p in patterns)

    # planted motifs with enough seqlets: confident, named by their own matrix or a paralog
    pos_rows = [r for r in found if r.effect == RAISES]
    for motif_id in PLANTED_POS:
        rows = [r for r in pos_rows if family(r.motif_id) == family(motif_id)]
        assert len(rows) == 1, (motif_id, found)
    # noise patterns: low confidence, for want of a match that is not chance or composition
    noise = {p.name for p, t in zip(patterns, truth) if t is None}
    assert noise <= {o.pattern for o in other}
    for o in other:
        if o.pattern in noise:
            assert any(w in o.reason for w in ("no significant match", "no database match",
                                               "composition", "few seqlets")), o
    # ... and the composition test is what keeps some of them out
    without, _ = motifs_found(patterns, matches, db)
    slipped = {p for r in without for p in r.patterns} & noise
    assert slipped and all("composition" in o.reason for o in other if o.pattern in slipped)

    # TEAD1 has >= MIN_SEQLETS seqlets but fewer than 1% of all positive seqlets
    n_pos = sum(p.n_seqlets for p in patterns if p.name.startswith("pos"))
    need = max(MIN_SEQLETS, math.ceil(MIN_SEQLET_FRACTION * n_pos))
    tead = next(p for p, t in zip(patterns, truth) if t == "MA0090.4")
    assert MIN_SEQLETS <= tead.n_seqlets < need
    tead_row = next(o for o in other if o.pattern == tead.name)
    assert f"few seqlets ({tead.n_seqlets} < {need})" in tead_row.reason

    # paralogs merge: GATA1 and GATA4 patterns make one positive row, seqlets summed
    assert family("MA0035.5") == family("MA0482.3")
    gata = [p for p, t in zip(patterns, truth) if t in ("MA0035.5", "MA0482.3")
            and p.name.startswith("pos")]
    row = next(r for r in pos_rows if family(r.motif_id) == family("MA0035.5"))
    assert sorted(row.patterns) == sorted(p.name for p in gata)
    assert row.n_seqlets == sum(p.n_seqlets for p in gata)
    assert row.best_pattern == max(gata, key=lambda p: p.n_seqlets).name
    assert row.family  # a family of several motifs is named

    # negative patterns are separate rows that lower the signal (GATA4 too)
    neg_rows = [r for r in found if r.effect == LOWERS]
    assert {family(r.motif_id) for r in neg_rows} == {family("MA0052.5"), family("MA0482.3")}
    assert all(p.startswith("neg") for r in neg_rows for p in r.patterns)

    # sorted by seqlets; the q-value shown is the smallest of the merged patterns' matches
    assert [r.n_seqlets for r in found] == sorted((r.n_seqlets for r in found), reverse=True)
    assert found[0].motif_id == "MA0139.2" and found[0].n_seqlets == 2500
    qs = {p.name: ms[0].q_value for p, ms in zip(patterns, matches)}
    for r in found:
        assert r.q_value == min(qs[p] for p in r.patterns) <= 0.05


def test_without_families_only_identical_matches_merge(db, run_patterns):
    patterns, _, matches = run_patterns
    found, _ = motifs_found(patterns, matches, db, families=singleton_families(db))
    for r in found:
        best = {next(ms for p, ms in zip(patterns, matches) if p.name == name)[0].target_name
                for name in r.patterns}
        assert best == {r.motif_id}
    merged, _ = motifs_found(patterns, matches, db)
    assert len(found) >= len(merged)


def test_table_rows_equal_match_objects_and_q_falls_back_to_p(db, run_patterns):
    patterns, _, matches = run_patterns
    rows = {p.name: [{"pattern": p.name, "rank": m.rank + 1, "match": m.target_name,
                      "match_name": m.target_alt_name, "p_value": m.p_value,
                      "q_value": m.q_value} for m in ms]
            for p, ms in zip(patterns, matches)}
    assert motifs_found(patterns, rows, db) == motifs_found(patterns, matches, db)

    # no q-values: the p-value decides (threshold max_p_value)
    no_q = {k: [r | {"q_value": ""} for r in v] for k, v in rows.items()}
    found, other = motifs_found(patterns, no_q, db, max_p_value=1e-300)
    assert not found
    assert all("no significant match (p = " in o.reason or "few seqlets" in o.reason
               for o in other)
    found_p, _ = motifs_found(patterns, no_q, db, max_p_value=1.0)
    assert all(r.q_value is None for r in found_p)
    assert len(found_p) >= len(motifs_found(patterns, rows, db)[0])

    from bpnetkit.errors import InputError

    with pytest.raises(InputError, match="one list per pattern"):
        motifs_found(patterns, matches[:-1], db)


def test_a_composition_match_is_low_confidence(db):
    """A GC-only pattern matches GC-rich zinc fingers; its position shuffles match as well."""
    rng = np.random.default_rng(3)
    gc = np.zeros((12, 4))
    gc[:, 1:3] = rng.dirichlet([0.3, 0.3], size=12)  # GGGCGCGCGCGC, more or less
    pats = [_pattern("pos_patterns.pattern_0", gc * 0.94 + 0.015, 300, 1, rng)]
    matches = annotate_patterns(pats, db, n_matches=3)
    assert matches[0][0].q_value <= 0.05  # a "significant" zinc-finger match
    found_without, _ = motifs_found(pats, matches, db)
    assert [r.patterns for r in found_without] == [[pats[0].name]]
    comp = pattern_composition_p(pats, matches, db)
    found, other = motifs_found(pats, matches, db, composition_p=comp)
    assert comp[0] is not None and comp[0] > 0.05
    assert not found and "composition" in other[0].reason


# -- the HTML page ---------------------------------------------------------------------------
def _write_modisco_h5(path, patterns):
    import h5py

    with h5py.File(path, "w") as fh:
        for p in patterns:
            group, pname = p.name.split(".")
            g = fh.create_group(f"{group}/{pname}")
            g["contrib_scores"] = p.cwm
            g["hypothetical_contribs"] = p.hcwm
            g["sequence"] = p.ppm
            g.create_group("seqlets")["n_seqlets"] = np.array([p.n_seqlets])
    return path


def _section(page: str, title: str) -> str:
    s = page[page.index(f">{title}</h2>"):]
    return s[:s.index("<h2", 4)] if "<h2" in s[4:] else s


@pytest.fixture(scope="module")
def report_inputs(run_patterns, tmp_path_factory):
    """The real annotate step on a modisco h5 of the patterns; modisco outputs by hand."""
    from bpnetkit.steps.annotate import AnnotateParams
    from bpnetkit.steps.annotate import run as run_annotate
    from bpnetkit.steps.modisco import ModiscoOutputs

    patterns, truth, _ = run_patterns
    tmp = tmp_path_factory.mktemp("motifs_found")
    (tmp / "run").mkdir()
    h5 = _write_modisco_h5(tmp / "modisco.h5", patterns)
    ann = run_annotate(AnnotateParams(output_dir=str(tmp / "annotate"), modisco=str(h5)))
    (tmp / "modisco.params.json").write_text(json.dumps({"motif_db": None}))
    mod = ModiscoOutputs(modisco_h5=str(h5), patterns_meme=None, pattern_matches=None,
                         report_html=None, params=str(tmp / "modisco.params.json"),
                         n_patterns=len(patterns))
    return tmp, mod, ann


def test_report_opens_with_motifs_found(run_patterns, report_inputs, db):
    from bpnetkit.report.step import ReportParams, build_report
    from bpnetkit.report.tables import read_table

    patterns, truth, _ = run_patterns
    tmp, mod, ann = report_inputs
    page = build_report(ReportParams(run_dir=str(tmp / "run"), output_dir=str(tmp / "r"),
                                     name="t", max_patterns=1,
                                     outputs={"modisco": mod.to_dict(),
                                              "annotate": ann.to_dict()}))
    first_h2 = re.search(r"<h2[^>]*>([^<]*)</h2>", page).group(1)
    assert first_h2 == "Motifs found"
    assert page.index(">Motifs found</h2>") < page.index("<table")
    assert page.index(">Motifs found</h2>") < page.index(">Seqlet annotation (all seqlets)</h2>")
    sec = _section(page, "Motifs found")
    confident = sec[:sec.index("Other patterns (low confidence)")]
    low = sec[sec.index("Other patterns (low confidence)"):]

    # the step's own table: best match of every pattern
    best = {r["pattern"]: r for r in read_table(ann.pattern_matches) if r["rank"] == 1}
    assert set(best) == {p.name for p in patterns}
    # planted motifs are rows (named by the best match of their pattern with most seqlets)
    for name in ("pos_patterns.pattern_0", "pos_patterns.pattern_2",
                 "pos_patterns.pattern_3", "neg_patterns.pattern_0"):
        assert best[name]["match"] in confident
        assert name in confident and name not in low
    # noise patterns are in the low-confidence table, with their reason
    for p, t in zip(patterns, truth):
        if t is None:
            row = re.search(rf"<tr><td>{re.escape(p.name)}</td>.*?</tr>", low).group(0)
            assert any(w in row for w in ("no significant match", "no database match",
                                          "composition", "few seqlets")), row
    assert "few seqlets" in low and "pos_patterns.pattern_5" in low
    # one logo per confident row, and the criteria under the table
    rows = {k: [r] for k, r in best.items()}
    expected = motifs_found(patterns, rows, db,
                            composition_p=pattern_composition_p(patterns, rows, db))[0]
    n_rows = len(re.findall(r"<tr><td>", confident))
    assert n_rows == len(expected) >= 5
    assert len(re.findall(r"data:image/png;base64", confident)) == n_rows
    assert "q &lt;= 0.05" in confident and "max(20, 1% of the seqlets" in confident
    assert "lowers" in confident and "raises" in confident


def test_missing_modisco_or_annotate_is_one_line(report_inputs):
    from bpnetkit.report.step import ReportParams, build_report

    tmp, mod, ann = report_inputs
    page = build_report(ReportParams(run_dir=str(tmp / "run"), output_dir=str(tmp / "r"),
                                     name="t", max_patterns=1))
    sec = _section(page, "Motifs found")
    assert "modisco: not run" in sec and "<table" not in sec

    page = build_report(ReportParams(run_dir=str(tmp / "run"), output_dir=str(tmp / "r"),
                                     name="t", max_patterns=1,
                                     outputs={"modisco": mod.to_dict()}))
    sec = _section(page, "Motifs found")
    assert "annotate: not run" in sec and "<table" not in sec

    # the modisco step's own matches stand in for annotate's
    with_matches = dataclasses.replace(mod, pattern_matches=ann.pattern_matches,
                                       params=ann.params)
    page = build_report(ReportParams(run_dir=str(tmp / "run"), output_dir=str(tmp / "r"),
                                     name="t", max_patterns=1,
                                     outputs={"modisco": with_matches.to_dict()}))
    sec = _section(page, "Motifs found")
    assert "annotate: not run" in sec and "MA0139.2" in sec
