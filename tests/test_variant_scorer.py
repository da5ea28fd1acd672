"""variant-scorer-compatible variant effects: schemas, columns, p-values, several models.

The oracle recomputes every column from raw model outputs in numpy/scipy, following
variant-scorer's definitions (kundajelab/variant-scorer, ``variant_scoring.py`` and
``utils/helpers.py``): allele sequences built by string slicing, the model run on the forward
and the reverse-complement one-hot, counts = mean of ``exp(log counts)``, profiles = mean of
the logits (reverse-complement flipped back), ``logfc = log2(c2 / c1)``, ``jsd`` = scipy's
Jensen-Shannon distance (base 2) of the softmax profiles, aligned around indels, quantiles
``max(mean(peak_counts < c), 1 / n_peaks)`` and empirical p-values ``(rank + 1) / (n + 1)``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax

from bpnetkit.errors import InputError
from bpnetkit.io.fasta import one_hot_encode
from bpnetkit.io.vcf import Variant, detect_schema, iter_variants
from bpnetkit.models import BPNet
from bpnetkit.steps.variant_effect import VariantEffectParams, run
from bpnetkit.variants.scorer import PVAL_TAILS, empirical_pvalue

W = 64  # model input length
F = W // 2
CHROM_LEN = 400


def tiny_bpnet(seed: int) -> BPNet:
    """An unstranded one-track BPNet (as ChromBPNet) with random weights, in float64 so that
    the oracle and the step agree far below the size of the effects."""
    torch.manual_seed(seed)
    m = BPNet(n_filters=4, n_layers=2, n_outputs=1, n_control_tracks=0, stem_kernel_size=5,
              profile_kernel_size=5)
    with torch.no_grad():  # larger weights: effects well above float rounding
        for p in m.parameters():
            p.mul_(3.0)
    return m.double().eval()


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    d = tmp_path_factory.mktemp("vsg")
    rng = np.random.default_rng(3)
    chr1 = "".join(rng.choice(list("ACGT"), size=CHROM_LEN))
    fa = d / "g.fa"
    fa.write_text(">chr1\n" + chr1 + "\n>chr2\n" + "ACGT" * 20 + "\n")
    return fa, chr1


# --- the oracle ------------------------------------------------------------------------------

def allele_seqs(g: str, pos1: int, a1: str, a2: str) -> tuple[str, str]:
    """variant-scorer's allele windows, by string slicing (1-based ``pos1``; '-' = empty)."""
    a1 = "" if a1 == "-" else a1
    a2 = "" if a2 == "-" else a2
    p = pos1 - 1
    d = len(a1) - len(a2)
    flank = g[p - F:p + F + max(d, 0)]
    s1 = flank[:F] + a1 + flank[F + len(a1):2 * F]
    s2 = flank[:F] + a2 + flank[F + len(a1):2 * F + d]
    assert len(s1) == len(s2) == W
    return s1, s2


def raw_prediction(model: BPNet, seq: str) -> tuple[float, np.ndarray]:
    """(counts, profile logits (L,)) averaged over the forward and reverse-complement input."""
    x = one_hot_encode(seq).astype(np.float64)
    with torch.no_grad():
        lf, cf = model(torch.tensor(x[None]))
        lr, cr = model(torch.tensor(np.ascontiguousarray(x[::-1, ::-1])[None]))
    counts = (np.exp(cf.double().item()) + np.exp(cr.double().item())) / 2
    logits = (lf[0, 0].double().numpy() + lr[0, 0].double().numpy()[::-1]) / 2
    return counts, logits


def oracle_row(model, g, pos1, a1, a2, peak_counts=None) -> dict[str, float]:
    s1, s2 = allele_seqs(g, pos1, a1, a2)
    c1, l1 = raw_prediction(model, s1)
    c2, l2 = raw_prediction(model, s2)
    p1, p2 = softmax(l1), softmax(l2)
    n1, n2 = len(a1.strip("-")), len(a2.strip("-"))
    original = jensenshannon(p2, p1, base=2.0)
    jsd = original
    if n1 != n2:  # variant-scorer's alignment, written with its slicing
        f = len(p1) // 2
        if n1 > n2:
            q1 = np.concatenate([p1[:f], p1[f:f + n2], p1[f + n1:]])
            q2 = np.concatenate([p2[:f], p2[f:n2 - n1]])
        else:
            q1 = np.concatenate([p1[:f], p1[f:n1 - n2]])
            q2 = np.concatenate([p2[:f], p2[f:f + n1], p2[f + n2:]])
        jsd = jensenshannon(q1 / q1.sum(), q2 / q2.sum(), base=2.0)
    logfc = np.log2(c2 / c1)
    row = {"allele1_pred_counts": c1, "allele2_pred_counts": c2, "logfc": logfc,
           "abs_logfc": abs(logfc), "jsd": jsd, "original_jsd": original,
           "logfc_x_jsd": logfc * jsd, "abs_logfc_x_jsd": abs(logfc) * jsd}
    if peak_counts is not None:
        q1 = max(np.mean(peak_counts < c1), 1 / len(peak_counts))
        q2 = max(np.mean(peak_counts < c2), 1 / len(peak_counts))
        aaq = max(q1, q2)
        row.update({"allele1_quantile": q1, "allele2_quantile": q2,
                    "active_allele_quantile": aaq, "quantile_change": q2 - q1,
                    "abs_quantile_change": abs(q2 - q1),
                    "logfc_x_active_allele_quantile": logfc * aaq,
                    "abs_logfc_x_active_allele_quantile": abs(logfc) * aaq,
                    "jsd_x_active_allele_quantile": jsd * aaq,
                    "logfc_x_jsd_x_active_allele_quantile": logfc * jsd * aaq,
                    "abs_logfc_x_jsd_x_active_allele_quantile": abs(logfc) * jsd * aaq})
    return row


def oracle_pval(x: float, null: np.ndarray, tail: str) -> float:
    n = len(null)
    right = (np.sum(null >= x) + 1) / (n + 1)
    left = (np.sum(null <= x) + 1) / (n + 1)
    return {"right": right, "left": left, "both": 2 * min(left, right)}[tail]


def read_tsv(path) -> list[dict[str, str]]:
    lines = open(path).read().splitlines()
    cols = lines[0].split("\t")
    return [dict(zip(cols, ln.split("\t"), strict=True)) for ln in lines[1:]]


# --- the variants used below -----------------------------------------------------------------

def variant_set(g: str) -> list[tuple[int, str, str, str]]:
    """(1-based pos, allele1, allele2, id): SNV, anchored and '-' indels, an MNV."""
    return [(101, g[100], "ACGT"[("ACGT".index(g[100]) + 1) % 4], "snv"),
            (151, g[150:153], g[150], "del2"),
            (201, g[200], g[200] + "GA", "ins2"),
            (251, g[250:252], "-", "dashdel"),
            (301, "-", "TTG", "dashins"),
            (121, g[120:122], "CA" if g[120:122] != "CA" else "GG", "mnv")]


def write_schema(path, schema: str, vs) -> None:
    lines = []
    for pos1, a1, a2, vid in vs:
        lines.append({"chrombpnet": f"chr1\t{pos1}\t{a1}\t{a2}\t{vid}",
                      "bed": f"chr1\t{pos1 - 1}\t{pos1 - 1 + max(len(a1.strip('-')), 1)}\t"
                             f"{a1}\t{a2}\t{vid}",
                      "plink": f"chr1\t{vid}\t0\t{pos1}\t{a1}\t{a2}",
                      "plink2": f"chr1\t{vid}\t{pos1}\t{a1}\t{a2}",
                      "original": f"chr1\t{pos1}\t{vid}\t{a1}\t{a2}"}[schema])
    path.write_text("\n".join(lines) + "\n")


def run_scores(genome, tmp_path, tag, schema="auto", fname=None, **kw) -> tuple:
    fa, g = genome
    vs = variant_set(g)
    path = tmp_path / (fname or f"{tag}.tsv")
    if not path.exists():
        write_schema(path, schema if schema != "auto" else "chrombpnet", vs)
    models = kw.pop("model_objs", None) or tiny_bpnet(0)
    params = VariantEffectParams(variants=str(path), genome=str(fa), model="m",
                                 output_dir=str(tmp_path / tag), in_window=W, batch_size=4,
                                 schema=schema, **kw)
    return run(params, model=models), vs


# --- tests -----------------------------------------------------------------------------------

def test_columns_match_variant_scorer_definitions(genome, tmp_path):
    fa, g = genome
    m = tiny_bpnet(0)
    out, vs = run_scores(genome, tmp_path, "a")
    rows = read_tsv(out.scores)
    assert list(rows[0])[:13] == ["chr", "pos", "allele1", "allele2", "variant_id",
                                  "allele1_pred_counts", "allele2_pred_counts", "logfc",
                                  "abs_logfc", "jsd", "original_jsd", "logfc_x_jsd",
                                  "abs_logfc_x_jsd"]
    assert [r["variant_id"] for r in rows] == [v[3] for v in vs]
    for row, (pos1, a1, a2, _) in zip(rows, vs, strict=True):
        expected = oracle_row(m, g, pos1, a1, a2)
        assert row["pos"] == str(pos1) and row["allele1"] == a1 and row["allele2"] == a2
        for key, val in expected.items():
            assert float(row[key]) == pytest.approx(val, rel=1e-5, abs=1e-7), (row, key)
    by_id = {r["variant_id"]: r for r in rows}
    assert abs(float(by_id["snv"]["logfc"])) > 1e-5 and float(by_id["snv"]["jsd"]) > 1e-5
    # the indel alignment changes the distance; substitutions keep it
    assert float(by_id["del2"]["jsd"]) != pytest.approx(float(by_id["del2"]["original_jsd"]))
    assert by_id["snv"]["jsd"] == by_id["snv"]["original_jsd"]


def test_schemas_give_the_same_scores(genome, tmp_path):
    fa, g = genome
    score_cols = ["allele1_pred_counts", "allele2_pred_counts", "logfc", "jsd"]
    ref, vs = run_scores(genome, tmp_path, "chrombpnet", schema="chrombpnet")
    want = [[r[c] for c in score_cols] for r in read_tsv(ref.scores)]
    for schema in ("bed", "plink", "plink2", "original"):
        path = tmp_path / f"{schema}.txt"
        write_schema(path, schema, vs)
        assert detect_schema(path) == schema
        out, _ = run_scores(genome, tmp_path, schema, fname=f"{schema}.txt")  # schema: auto
        rows = read_tsv(out.scores)
        assert [[r[c] for c in score_cols] for r in rows] == want, schema
        assert json.loads(open(out.summary).read())["schema"] == schema
    # positions are written back as in the input: 0-based for bed
    bed_rows = read_tsv(tmp_path / "bed" / "variants.scores.tsv")
    assert list(bed_rows[0])[:6] == ["chr", "pos", "end", "allele1", "allele2", "variant_id"]
    assert [int(r["pos"]) for r in bed_rows] == [v[0] - 1 for v in vs]
    plink_rows = read_tsv(tmp_path / "plink" / "variants.scores.tsv")
    assert list(plink_rows[0])[:5] == ["chr", "variant_id", "pos", "allele1", "allele2"]
    # the same variants as VCF (anchored alleles only: VCF has no '-')
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n" + "".join(
        f"chr1\t{p}\t{i}\t{a1}\t{a2}\n" for p, a1, a2, i in vs if "-" not in (a1, a2)))
    out, _ = run_scores(genome, tmp_path, "vcf", fname="v.vcf")
    vcf_rows = {r["variant_id"]: [r[c] for c in score_cols] for r in read_tsv(out.scores)}
    assert vcf_rows == {v[3]: w for v, w in zip(vs, want, strict=True) if "-" not in v[1:3]}


def test_peaks_and_pvalues(genome, tmp_path):
    fa, g = genome
    m = tiny_bpnet(0)
    peaks = tmp_path / "peaks.bed"
    # two duplicates count once; one window leaves chr1; one peak is on an unknown chromosome
    peaks.write_text("chr1\t60\t100\nchr1\t60\t100\nchr1\t150\t170\nchr1\t280\t300\n"
                     "chr1\t200\t230\nchr1\t2\t10\nchrZ\t10\t50\n")
    out, vs = run_scores(genome, tmp_path, "p", peaks=str(peaks), null_per_variant=5,
                         random_state=2)
    summary = json.loads(open(out.summary).read())
    assert summary["peaks"] == 4 and summary["null_variants"] == 5 * len(vs)
    peak_counts = np.array([raw_prediction(m, g[s - F:s + F])[0]
                            for s in ((60 + 100) // 2, (150 + 170) // 2, (280 + 300) // 2,
                                      (200 + 230) // 2)])
    (null_path,) = out.null_scores
    null = read_tsv(null_path)
    assert len(null) == 5 * len(vs)
    rows = read_tsv(out.scores)
    cols = list(rows[0])
    assert "logfc.pval" in cols and "abs_logfc_x_jsd_x_active_allele_quantile.pval" in cols
    assert cols.index("abs_logfc_x_jsd.pval") < cols.index("allele1_quantile")
    for row, (pos1, a1, a2, _) in zip(rows, vs, strict=True):
        for key, val in oracle_row(m, g, pos1, a1, a2, peak_counts).items():
            assert float(row[key]) == pytest.approx(val, rel=1e-5, abs=1e-7), (row, key)
        for key, tail in PVAL_TAILS.items():
            bg = np.array([float(r[key]) for r in null])
            assert float(row[f"{key}.pval"]) == pytest.approx(
                oracle_pval(float(row[key]), bg, tail), rel=1e-6), key
    # null variants: the alleles of scored variants in shuffled windows, scored like them
    allele_pairs = {(a1, a2) for _, a1, a2, _ in vs}
    assert {(r["allele1"], r["allele2"]) for r in null} <= allele_pairs


def test_empirical_pvalue_tails():
    null = np.array([0.0, 1.0, 2.0, 3.0])
    x = np.array([2.0, -1.0, 5.0, np.nan])
    assert empirical_pvalue(x, null, "right")[:3].tolist() == [3 / 5, 5 / 5, 1 / 5]
    assert empirical_pvalue(x, null, "left")[:3].tolist() == [4 / 5, 1 / 5, 5 / 5]
    assert empirical_pvalue(x, null, "both")[:3].tolist() == [6 / 5, 2 / 5, 2 / 5]
    assert np.isnan(empirical_pvalue(x, null, "both")[3])
    with pytest.raises(InputError, match="tail"):
        empirical_pvalue(x, null, "up")


def test_several_models_mean_columns(genome, tmp_path):
    fa, g = genome
    ms = [tiny_bpnet(0), tiny_bpnet(1)]
    out, vs = run_scores(genome, tmp_path, "folds", model_objs=ms, null_variants=30)
    assert len(out.per_model) == 2 and len(out.null_scores) == 2
    per = [read_tsv(p) for p in out.per_model]
    mean = read_tsv(out.scores)
    assert list(mean[0])[:7] == ["chr", "pos", "allele1", "allele2", "variant_id", "logfc.mean",
                                 "logfc.mean.pval"]
    for k, (pos1, a1, a2, _) in enumerate(vs):
        for i, m in enumerate(ms):
            assert float(per[i][k]["logfc"]) == pytest.approx(
                oracle_row(m, g, pos1, a1, a2)["logfc"], rel=1e-5, abs=1e-7)
        for key in ("logfc", "abs_logfc", "jsd", "logfc_x_jsd", "abs_logfc_x_jsd"):
            vals = [float(p[k][key]) for p in per]
            pvals = [float(p[k][f"{key}.pval"]) for p in per]
            assert float(mean[k][f"{key}.mean"]) == pytest.approx(np.mean(vals), rel=1e-6)
            assert float(mean[k][f"{key}.mean.pval"]) == pytest.approx(
                np.sqrt(pvals[0] * pvals[1]), rel=1e-6)


def test_forward_only_and_allele1_not_reference(genome, tmp_path):
    fa, g = genome
    m = tiny_bpnet(0)
    wrong = "ACGT"[("ACGT".index(g[100]) + 2) % 4]
    alt = "ACGT"[("ACGT".index(g[100]) + 1) % 4]
    path = tmp_path / "w.tsv"
    path.write_text(f"chr1\t101\t{wrong}\t{alt}\tswapped\n")
    out, _ = run_scores(genome, tmp_path, "fo", fname="w.tsv", rc_average=False)
    row = read_tsv(out.scores)[0]
    s1 = g[100 - F:100] + wrong + g[101:100 + F]
    s2 = g[100 - F:100] + alt + g[101:100 + F]
    with torch.no_grad():
        c = [m(torch.tensor(one_hot_encode(s)[None]).double())[1].item() for s in (s1, s2)]
    assert float(row["logfc"]) == pytest.approx((c[1] - c[0]) / np.log(2), rel=1e-5)
    assert json.loads(open(out.summary).read())["allele1_not_reference"] == 1
    # in a VCF, REF must match the genome
    vcf = tmp_path / "w.vcf"
    vcf.write_text(f"##fileformat=VCFv4.2\nchr1\t101\tswapped\t{wrong}\t{alt}\n")
    # ... and a file of which nothing can be scored is an error (issue 14), not an empty result
    with pytest.raises(InputError, match=r"no variant .* could be scored .*1 ref_mismatch"):
        run_scores(genome, tmp_path, "fo_vcf", fname="w.vcf")


def test_dash_alleles_parse(tmp_path):
    p = tmp_path / "v.tsv"
    p.write_text("chr\tpos\tallele1\tallele2\tvariant_id\n"
                 "chr1\t10\t-\tAC\tins\nchr1\t20\tTG\t-\tdel\n")
    got = list(iter_variants(p))
    assert got == [Variant("chr1", 9, "", "AC", "ins", 2, strict_ref=True),
                   Variant("chr1", 19, "TG", "", "del", 3, strict_ref=True)]
    bed = tmp_path / "v.bed"
    bed.write_text("chr1\t9\t10\tA\tG\tsnv\n")
    (v,) = list(iter_variants(bed))
    assert (v.pos, v.ref, v.alt, v.strict_ref, v.end) == (9, "A", "G", False, 10)


@pytest.mark.parametrize("text, schema, match", [
    ("chr1\t10\tA-\tG\tx\n", "chrombpnet", r"v\.txt:1: column 3 \(allele1\) is 'A-'"),
    ("chr1\tten\tA\tG\tx\n", "chrombpnet", r"v\.txt:1: column 2 \(pos\) is 'ten'"),
    ("chr1\t0\tA\tG\tx\n", "chrombpnet", r"v\.txt:1: column 2 \(pos\) is 0; positions are "
                                          r"1-based"),
    ("chr1\t-1\t0\tA\tG\tx\n", "bed", r"v\.txt:1: column 2 \(pos\) is -1; positions are "
                                      r"0-based"),
    ("chr1\trs1\t0\t10\tA\n", "plink", r"v\.txt:1: expected 6 columns"),
    ("chr1\t10\t-\t-\tx\n", "chrombpnet", r"v\.txt:1: both alleles are '-'"),
    ("chr1\t10\tA\tG\tx\nchr1\tfoo\tbar\n", "auto", r"v\.txt:2: this line fits none"),
    ("chr1\t10\tA\tG\tx\n", "vcf2", r"unknown variant schema 'vcf2'"),
])
def test_bad_input_is_a_clear_error(tmp_path, text, schema, match):
    p = tmp_path / "v.txt"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        list(iter_variants(p, schema=schema))


def test_ambiguous_layout_asks_for_schema(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("chr1\t10\t20\tA\tG\n")  # original (pos 10, id 20) or plink2 (id 10, pos 20)
    with pytest.raises(InputError, match="several variant layouts.*set 'schema'"):
        detect_schema(p)


def test_params_validation(genome, tmp_path):
    fa, _ = genome
    base = dict(variants="v", genome=str(fa), output_dir=str(tmp_path))
    with pytest.raises(InputError, match="either 'model'"):
        VariantEffectParams(model="a", models=["b"], **base).validate()
    with pytest.raises(InputError, match="either 'model'"):
        VariantEffectParams(**base).validate()
    with pytest.raises(InputError, match="output_format 'bpnetkit' takes one model"):
        VariantEffectParams(models=["a", "b"], output_format="bpnetkit", **base).validate()
    with pytest.raises(InputError, match="'schema' must be"):
        VariantEffectParams(model="a", schema="vcf4", **base).validate()


def test_stranded_model_rc_average():
    """Two-track (plus, minus) model: the reverse complement swaps the strands."""
    from bpnetkit.variants.scorer import allele_predictions

    torch.manual_seed(5)
    m = BPNet(n_filters=4, n_layers=2, n_outputs=2, n_control_tracks=0, stem_kernel_size=5,
              profile_kernel_size=5).double().eval()
    rng = np.random.default_rng(0)
    X = np.stack([one_hot_encode("".join(rng.choice(list("ACGT"), size=W))) for _ in range(3)])
    counts, logits = allele_predictions(m, X)
    with torch.no_grad():
        lf, cf = m(torch.tensor(X).double())
        lr, cr = m(torch.tensor(np.ascontiguousarray(X[:, ::-1, ::-1])).double())
    want_l = (lf.numpy() + lr.numpy()[:, ::-1, ::-1]) / 2  # swap strands, flip positions
    want_c = (np.exp(cf.numpy()).sum(1) + np.exp(cr.numpy()).sum(1)) / 2
    np.testing.assert_allclose(logits, want_l, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(counts, want_c, rtol=1e-9)


def test_chunked_run_equals_one_chunk(genome, tmp_path):
    """Peaks, null variants and variants read in chunks give the same table."""
    fa, _ = genome
    peaks = tmp_path / "peaks.bed"
    peaks.write_text("chr1\t60\t100\nchr1\t150\t170\nchr1\t200\t230\n")
    kw = dict(peaks=str(peaks), null_variants=12, random_state=4)
    a, _ = run_scores(genome, tmp_path, "one", chunk_size=100, **kw)
    b, _ = run_scores(genome, tmp_path, "many", fname="one.tsv", chunk_size=2, **kw)
    assert open(a.scores).read() == open(b.scores).read()
