"""Seqlet annotation on planted data: the planted motifs (or their families) are the top rows.

The attributions hold four planted JASPAR motifs (REST, Pou5f1::Sox2, CTCF and the short,
low-information MEIS1), Gaussian noise, and unplanted background: GC-rich spans carrying
attribution on their observed bases, as composition-driven seqlets of real models do. The
truth is the planted sites; a seqlet overlapping none is background.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

pytest.importorskip("memelite")

from bpnetkit.motifs.annotate import (  # noqa: E402
    UNANNOTATED,
    label_seqlets,
    pattern_membership,
)
from bpnetkit.motifs.database import load_builtin_motifs, select_motifs  # noqa: E402
from bpnetkit.motifs.families import motif_families, name_stem  # noqa: E402
from bpnetkit.motifs.tomtom import Match  # noqa: E402
from bpnetkit.steps.annotate import AnnotateParams, run_annotate  # noqa: E402
from bpnetkit.steps.seqlets import SeqletsParams, run_seqlets  # noqa: E402
from bpnetkit.testing.planted import planted_attributions, write_attribution_h5  # noqa: E402

PLANTED = ["REST", "Pou5f1::Sox2", "CTCF", "MEIS1"]


def _read_tsv(path):
    lines = open(path).read().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def planted_with_background(n: int = 120, length: int = 500, seed: int = 1,
                            n_background: tuple[int, int] = (2, 5)):
    """Planted set plus GC-rich background spans; returns (one_hot, hyp, sites, background)."""
    db = load_builtin_motifs()
    motifs = select_motifs(db, PLANTED)
    ps = planted_attributions(motifs, n=n, length=length, per_sequence=(1, 2), noise=0.05,
                              random_state=seed)
    rng = np.random.default_rng(seed + 100)
    X, H = ps.one_hot.copy(), ps.hypothetical.copy()
    taken = np.zeros((n, length), dtype=bool)
    for e, a, b, *_ in ps.sites:
        taken[e, max(0, a - 3):b + 3] = True
    background = []
    for e in range(n):
        for _ in range(int(rng.integers(*n_background))):
            w = int(rng.integers(8, 16))
            s = int(rng.integers(0, length - w))
            if taken[e, max(0, s - 3):s + w + 3].any():
                continue
            taken[e, s:s + w] = True
            gc = rng.random(w) < 0.8
            base = np.where(gc, rng.choice([1, 2], w), rng.choice([0, 3], w))
            X[e, :, s:s + w] = 0
            X[e, base, s + np.arange(w)] = 1
            H[e, :, s:s + w] += rng.uniform(0.6, 1.2) * X[e, :, s:s + w]
            background.append((e, s, s + w))
    return X, H, ps.sites, np.array(background), motifs


def is_planted_label(label: str, motifs) -> bool:
    """A label names a planted motif: its own label, its factor or its family stem."""
    for m in motifs:
        if label in (f"{m.name} {m.alt_name}",) or label.startswith(f"{m.alt_name} (") or \
                label.startswith(f"{name_stem(m.alt_name)} family ("):
            return True
    return False


def _truth_of(rows, sites, background):
    """'planted' / 'background' / 'other' of every seqlet row (by overlap)."""
    out = []
    for r in rows:
        e, a, b = int(r["example"]), int(r["start"]), int(r["end"])
        if ((sites[:, 0] == e) & (sites[:, 1] < b) & (sites[:, 2] > a)).any():
            out.append("planted")
        elif ((background[:, 0] == e) & (background[:, 1] < b) & (background[:, 2] > a)).any():
            out.append("background")
        else:
            out.append("other")
    return out


def _summary(counts, matches, truth, motifs):
    top = [r["motif"] for r in counts if r["motif"] != UNANNOTATED]
    rank_planted = [i for i, lab in enumerate(top) if is_planted_label(lab, motifs)]
    bg = [m for m, t in zip(matches, truth, strict=True) if t == "background"]
    return {"top": [(r["motif"], int(r["n_positive_seqlets"])) for r in counts[:6]],
            "n_labels": len(top), "planted_ranks": rank_planted,
            "background_labelled": float(np.mean([bool(m["label"]) for m in bg])),
            "n_background": len(bg)}


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    X, H, sites, background, motifs = planted_with_background()
    h5 = tmp / "attr.h5"
    write_attribution_h5(h5, X, H)  # rows named row<i> starting at 0: BED = row coords
    seq = run_seqlets(SeqletsParams(attributions=str(h5), output_dir=str(tmp / "s"),
                                    max_length=25, sign="positive"))
    return tmp, h5, seq.seqlets, sites, background, motifs


def test_default_seqlet_mode_names_the_planted_motifs_first(planted_run):
    tmp, h5, bed, sites, background, motifs = planted_run
    res = {}
    for mode in ("best_match", "auto"):
        out = run_annotate(AnnotateParams(output_dir=str(tmp / mode), seqlets=bed,
                                          attributions=str(h5), mode=mode))
        counts, matches = _read_tsv(out.motif_counts), _read_tsv(out.seqlet_matches)
        res[mode] = _summary(counts, matches, _truth_of(matches, sites, background), motifs)
        print(mode, res[mode])
    new = res["auto"]
    # every planted motif's family is found, they are the first rows, nothing else precedes
    assert new["planted_ranks"][:4] == [0, 1, 2, 3]
    top4 = [lab for lab, _ in new["top"][:4]]
    for m in motifs:
        assert sum(is_planted_label(lab, [m]) for lab in top4) == 1, (m.alt_name, top4)
    # background seqlets are (almost) never given a motif: "unannotated", not a guess
    assert new["n_background"] >= 50 and new["background_labelled"] <= 0.08
    # the former mode labels many of them with whatever matched best
    assert res["best_match"]["background_labelled"] >= 3 * new["background_labelled"]
    assert res["best_match"]["n_labels"] > 2 * new["n_labels"]


def _truth_modisco_h5(path, X, sites, background, n_motifs, length):
    """A modisco-lite-layout h5 whose patterns are the planted motifs (+ one background
    pattern), each with its true seqlets; PFMs are the mean aligned sequences."""
    with h5py.File(path, "w") as fh:
        fh.attrs["window_size"] = length
        grp = fh.create_group("pos_patterns")
        groups = [sites[sites[:, 3] == i][:, :3] for i in range(n_motifs)] + [background]
        for p, rows in enumerate(groups):
            w = int(np.min(rows[:, 2] - rows[:, 1]))
            seqs = []
            for r in (sites[sites[:, 3] == p] if p < n_motifs else background):
                s = X[r[0], :, r[1]:r[1] + w].T.astype(float)
                if p < n_motifs and r[-1] < 0:
                    s = s[::-1, ::-1]
                seqs.append(s)
            ppm = np.mean(seqs, axis=0)
            g = grp.create_group(f"pattern_{p}")
            g["sequence"] = ppm
            g["contrib_scores"] = ppm
            g["hypothetical_contribs"] = ppm
            sq = g.create_group("seqlets")
            sq["n_seqlets"] = np.array([len(rows)])
            sq["example_idx"] = rows[:, 0]
            sq["start"] = rows[:, 1]
            sq["end"] = rows[:, 2]


def test_pattern_mode_labels_seqlets_through_their_pattern(planted_run):
    tmp, h5, bed, sites, background, motifs = planted_run
    X = h5py.File(h5, "r")["raw/seq"][()]
    mod = tmp / "truth_modisco.h5"
    _truth_modisco_h5(mod, X, sites, background, len(motifs), X.shape[2])
    out = run_annotate(AnnotateParams(output_dir=str(tmp / "pattern"), seqlets=bed,
                                      attributions=str(h5), modisco=str(mod)))
    counts, matches = _read_tsv(out.motif_counts), _read_tsv(out.seqlet_matches)
    truth = _truth_of(matches, sites, background)
    s = _summary(counts, matches, truth, motifs)
    print("pattern", s)
    assert s["planted_ranks"][:4] == [0, 1, 2, 3]
    # the background pattern (GC-rich) gets no label: its seqlets stay unannotated
    # seqlets on planted sites take the family of their pattern's motif; the long motifs'
    # patterns name them (the 5 bp MEIS1 may not beat its shuffles: then its seqlets keep
    # their own, enriched, matches)
    by_pattern: dict[int, set[str]] = {}
    for r, t in zip(matches, truth, strict=True):
        if t == "planted" and r["pattern"]:
            p = int(r["pattern"].split("_")[-1])
            assert p < len(motifs)
            if r["label"]:
                assert is_planted_label(r["label"], [motifs[p]]), (p, r["label"])
            by_pattern.setdefault(p, set()).add(r["source"])
    for p in range(3):
        assert by_pattern[p] == {"pattern"}, (p, by_pattern[p])
    n_bg_pattern = sum(r["pattern"] == f"pos_patterns.pattern_{len(motifs)}"
                       for r in matches)
    assert n_bg_pattern >= 50 and s["background_labelled"] <= 0.08


def test_pattern_membership_by_largest_overlap():
    pats = [{"example": np.array([0, 1]), "start": np.array([10, 50]),
             "end": np.array([40, 80]), "sign": 1},
            {"example": np.array([0]), "start": np.array([35]), "end": np.array([65]),
             "sign": 1},
            {"example": np.array([0]), "start": np.array([10]), "end": np.array([40]),
             "sign": -1}]
    got = pattern_membership(np.array([0, 0, 1, 2, 0]), np.array([12, 36, 60, 12, 12]),
                             np.array([20, 50, 70, 20, 20]), np.array([1, 1, 1, 1, -1]), pats)
    # overlaps: [12,20) only pattern 0; [36,50): 4 with p0, 14 with p1; row 1 -> p0;
    # row 2 has no MoDISco seqlet; the negative seqlet -> the negative pattern
    assert got.tolist() == [0, 1, 0, -1, 2]


def test_families_collapse_paralogs_and_label_the_matched_members():
    db = load_builtin_motifs()
    fam = motif_families(db)
    idx = {m.alt_name: i for i, m in enumerate(db)}
    # paralogs share a family; a shared stem alone does not make one (ZNF263 vs ZNF454)
    assert fam.family[idx["GATA1"]] == fam.family[idx["GATA2"]]
    assert fam.family[idx["SOX2"]] == fam.family[idx["Sox3"]]
    assert fam.family[idx["ZNF263"]] != fam.family[idx["ZNF454"]]
    assert fam.family[idx["REST"]] != fam.family[idx["CTCF"]]
    assert name_stem("Pou5f1::Sox2") == "POU::SOX" and name_stem("NKX2-8") == "NKX"
    # subfamily letters of one gene family (FOXP1, FOXA3, FOXK2; NFYA, NFYC) join it when
    # the matrices agree (JASPAR's forkhead matrices differ by <= 0.05 per entry); a shared
    # prefix with other motifs (HNF1A vs HNF4A) or a dimer with its monomer does not
    fox = {int(fam.family[idx[n]]) for n in ("FOXP1", "FOXA3", "FOXK2", "FOXP4")}
    assert len(fox) == 1 and fam.stems[fox.pop()] == "FOX"
    assert fam.family[idx["NFYA"]] == fam.family[idx["NFYC"]]
    assert fam.family[idx["HNF1A"]] != fam.family[idx["HNF4A"]]
    assert fam.family[idx["GATA1::TAL1"]] != fam.family[idx["GATA1"]]
    assert fam.stems[fam.family[idx["GATA1::TAL1"]]] == "GATA::TAL"

    def match(t):
        return Match(0, 0, t, db[t].name, db[t].alt_name, 1e-8, 1e-6, 0, 8, "+")

    best = [match(idx["SOX2"]), match(idx["SOX2"]), match(idx["Sox3"]), None,
            match(idx["REST"])]
    lab = label_seqlets(best, db, fam)
    assert lab.labels[0] == lab.labels[1] == lab.labels[2]
    assert lab.labels[0].startswith("SOX family (SOX2, Sox3")  # most frequent first
    assert lab.labels[3] is None and lab.labels[4] == f"{db[idx['REST']].name} REST"
