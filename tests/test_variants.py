"""Variant effects on a BPNet with hand-set weights that detects one motif.

The model: the stem filter scores the motif (+1 per matching base, -1 otherwise) with bias
-3, so an exact match gives 4, one mismatch 2, two or more 0 after the ReLU; the tower adds
nothing (zero weights); the profile logits are 2 x the detector track and the log counts are
1 + 0.5 x (sum of the detector track over the output). Everything is therefore computable by
hand with numpy (`expected_log_counts`).
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.interpret.edits import deletion_effect, insertion_effect, substitution_effect
from bpnetkit.interpret.predict import predict
from bpnetkit.io.fasta import one_hot_encode
from bpnetkit.io.vcf import Variant, iter_variants
from bpnetkit.models import BPNet
from bpnetkit.steps.variant_effect import VariantEffectOutputs, VariantEffectParams, run
from bpnetkit.variants.scores import effect_scores, empirical_percentile
from bpnetkit.variants.windows import variant_windows

MOTIF = "GATTACA"
K = len(MOTIF)
W = 120  # model input length in these tests


def motif_bpnet(motif: str = MOTIF, n_outputs: int = 2) -> BPNet:
    """BPNet whose log counts rise by 2 per exact motif (see the module docstring)."""
    torch.manual_seed(0)
    m = BPNet(n_filters=1, n_layers=1, n_outputs=n_outputs, n_control_tracks=0,
              stem_kernel_size=len(motif), profile_kernel_size=1)
    with torch.no_grad():
        w = -torch.ones(1, 4, len(motif))
        for j, b in enumerate(motif):
            w[0, "ACGT".index(b), j] = 1.0
        m.iconv.weight.copy_(w)
        m.iconv.bias.fill_(-3.0)
        for conv in m.rconvs:
            conv.weight.zero_()
            conv.bias.zero_()
        m.fconv.weight.fill_(2.0)
        m.fconv.bias.zero_()
        m.linear.weight.fill_(0.5 * m.output_length(W))
        m.linear.bias.fill_(1.0)
    return m.eval()


def detector_track(seq: str) -> np.ndarray:
    """Independent numpy computation of the stem output (ReLU of the motif score - 3)."""
    x = one_hot_encode(seq).astype(float)
    w = -np.ones((4, K))
    for j, b in enumerate(MOTIF):
        w[("ACGT").index(b), j] = 1
    scores = np.array([(x[:, i:i + K] * w).sum() for i in range(len(seq) - K + 1)])
    return np.maximum(scores - 3, 0)


def expected_log_counts(seq: str, model: BPNet) -> float:
    h = detector_track(seq)
    L_out = model.output_length(len(seq))
    crop = (len(h) - L_out) // 2
    return 1.0 + 0.5 * h[crop:crop + L_out].sum()


def random_seq(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    while True:
        s = "".join(rng.choice(list("ACGT"), size=n))
        if detector_track(s).max() == 0:  # no partial motif in the background
            return s


def plant(seq: str, motif: str, at: int) -> str:
    return seq[:at] + motif + seq[at + len(motif):]


def test_model_matches_hand_computation():
    m = motif_bpnet()
    s = plant(random_seq(W, 1), MOTIF, 50)
    y = m(torch.tensor(one_hot_encode(s)[None]).float())
    assert y[1].item() == pytest.approx(expected_log_counts(s, m), abs=1e-5)
    assert y[1].item() == pytest.approx(3.0, abs=1e-5)


def test_substitution_breaking_motif_lowers_counts():
    m = motif_bpnet()
    s = plant(random_seq(W, 2), MOTIF, 50)
    X = one_hot_encode(s)[None]
    # base 2 of the motif (T) -> C; base 0 far from the motif -> unchanged counts
    before, after = substitution_effect(m, X, [(0, 52, 1), (0, 5, "G"), (0, 50, MOTIF[:4])])
    s_mut = s[:52] + "C" + s[53:]
    assert before[1][0, 0].item() == pytest.approx(3.0, abs=1e-5)
    assert after[1][0, 0].item() == pytest.approx(expected_log_counts(s_mut, m), abs=1e-5)
    assert after[1][0, 0].item() == pytest.approx(2.0, abs=1e-5)  # 4 -> 2 on the detector
    assert after[1][2, 0].item() == pytest.approx(3.0, abs=1e-5)  # same bases: no change
    sc = effect_scores(before, after)
    assert sc["log2_fc"][0] == pytest.approx(-1 / np.log(2), abs=1e-5)
    assert sc["jsd"][0] > 0.05 and sc["max_abs_diff"][0] > 0
    assert sc["jsd"][2] == pytest.approx(0, abs=1e-6)
    # independent oracle: scipy's Jensen-Shannon distance (natural log) of the profiles as
    # distributions over strands and positions
    from scipy.spatial.distance import jensenshannon
    from scipy.special import softmax

    p = softmax(before[0][0].double().numpy().ravel())
    q = softmax(after[0][0].double().numpy().ravel())
    assert sc["jsd"][0] == pytest.approx(jensenshannon(p, q), rel=1e-9)


def test_indel_shifts_profile_by_indel_length():
    m = motif_bpnet()
    s = plant(random_seq(W + 10, 3), MOTIF, 70)
    X = one_hot_encode(s)[None]
    b, a = insertion_effect(m, X, [(0, 40, "GGG")], in_window=W)
    shift = a[0][0, 0].argmax().item() - b[0][0, 0].argmax().item()
    assert shift == 3
    assert a[1][0, 0].item() == pytest.approx(b[1][0, 0].item(), abs=1e-5)
    b, a = deletion_effect(m, X, [(0, 40, 2)], in_window=W)
    assert a[0][0, 0].argmax().item() - b[0][0, 0].argmax().item() == -2
    with pytest.raises(InputError, match="outside the batch"):
        deletion_effect(m, X, [(3, 40, 2)])


# --- genome-level scoring --------------------------------------------------------------------

CHROM_LEN = 600
MOTIF_AT = 300  # 0-based start of the planted motif on chr1


@pytest.fixture(scope="module")
def genome_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("varg")
    chr1 = plant(random_seq(CHROM_LEN, 4), MOTIF, MOTIF_AT)
    chr2 = random_seq(200, 5)
    fa = d / "genome.fa"
    fa.write_text(">chr1\n" + "\n".join(chr1[i:i + 60] for i in range(0, CHROM_LEN, 60))
                  + "\n>chr2\n" + chr2 + "\n")
    return d, chr1, chr2


def _vcf(records: list[tuple]) -> str:
    head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    return head + "".join(f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t.\n" for c, p, i, r, a in records)


def _read_tsv(path):
    lines = open(path).read().splitlines()
    cols = lines[0].split("\t")
    return [dict(zip(cols, ln.split("\t"))) for ln in lines[1:]]


def test_vcf_scores_and_bad_records(genome_dir, tmp_path):
    d, chr1, _ = genome_dir
    p_break = MOTIF_AT + 3  # 0-based, motif base 'C'
    p_far = 100
    alt_far = "A" if chr1[p_far] != "A" else "C"
    recs = [
        ("chr1", p_break + 1, "break", chr1[p_break], "G"),
        ("chr1", p_far + 1, "neutral", chr1[p_far], alt_far),
        ("chr1", 50, "mismatch", "ACGT"[("ACGT".index(chr1[49]) + 1) % 4], "A"),
        ("chr1", CHROM_LEN, "offend", chr1[-1] + "A", "A"),
        ("chr1", 200, "symbolic", chr1[199], "<DEL>"),
        ("chr1", 201, "bnd", chr1[200], f"{chr1[200]}[chr2:20["),
        ("chr1", 202, "star", chr1[201], "*"),
        ("chrX", 10, "nochrom", "A", "C"),
        ("chr1", p_break + 1, "multi", chr1[p_break], "A,<INS>"),
    ]
    vcf = tmp_path / "v.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write(_vcf(recs))
    params = VariantEffectParams(variants=str(vcf), genome=str(d / "genome.fa"), model="-",
                                 output_dir=str(tmp_path / "out"), in_window=W, batch_size=4,
                                 null_variants=40, random_state=1, output_format="bpnetkit",
                                 rc_average=False)
    out = run(params, model=motif_bpnet())
    assert isinstance(out, VariantEffectOutputs) and out.missing() == []
    rows = {r["id"] + r["alt"]: r for r in _read_tsv(out.scores)}
    assert set(rows) == {"breakG", "neutral" + alt_far, "multiA"}
    brk = rows["breakG"]
    assert float(brk["log2_fc"]) == pytest.approx(-1 / np.log(2), abs=1e-4)
    assert float(brk["jsd"]) > 0.05
    assert float(brk["log2_fc_percentile"]) >= 95.0  # shuffles rarely make partial sites
    assert float(rows["neutral" + alt_far]["log2_fc"]) == pytest.approx(0, abs=1e-5)
    summary = json.loads(open(out.summary).read())
    assert summary["records"] == 10 and summary["scored"] == 3 and summary["skipped"] == 7
    assert summary["skipped_by_reason"] == {
        "breakend": 1, "off_chromosome_end": 1, "ref_mismatch": 1, "spanning_deletion": 1,
        "symbolic_allele": 2, "unknown_chromosome": 1}
    assert summary["unknown_chromosomes"] == ["chrX"]
    skipped = {r["id"] + r["alt"]: r["reason"] for r in _read_tsv(out.skipped)}
    assert skipped["mismatch" + "A"] == "ref_mismatch"
    assert json.loads(open(out.params).read())["in_window"] == W


def test_tsv_indels_rc_average(genome_dir, tmp_path):
    d, chr1, _ = genome_dir
    v = MOTIF_AT - 30  # variant 30 bases upstream of the motif
    tsv = tmp_path / "v.tsv"
    tsv.write_text("chrom\tpos\tref\talt\tid\n"
                   f"chr1\t{v + 1}\t{chr1[v]}\t{chr1[v]}GGG\tins3\n"
                   f"chr1\t{v + 1}\t{chr1[v:v + 3]}\t{chr1[v]}\tdel2\n"
                   f"chr1\t{MOTIF_AT + 4}\t{chr1[MOTIF_AT + 3]}\tG\tbreak\n")
    base = dict(variants=str(tsv), genome=str(d / "genome.fa"), model="-", in_window=W,
                batch_size=2, output_format="bpnetkit")
    out = run(VariantEffectParams(output_dir=str(tmp_path / "a"), rc_average=False, **base),
                             model=motif_bpnet())
    rows = {r["id"]: r for r in _read_tsv(out.scores)}
    for vid in ("ins3", "del2"):  # the motif is kept, only shifted: counts unchanged
        assert float(rows[vid]["log2_fc"]) == pytest.approx(0, abs=1e-5)
        assert float(rows[vid]["jsd"]) > 0.1
    out = run(VariantEffectParams(output_dir=str(tmp_path / "b"),
                                                 rc_average=True, **base), model=motif_bpnet())
    rows_rc = {r["id"]: r for r in _read_tsv(out.scores)}
    # the detector sees the motif on the forward strand only: averaging halves the effect
    assert float(rows_rc["break"]["ref_log_counts"]) == pytest.approx(2.0, abs=1e-4)
    assert float(rows_rc["break"]["log2_fc"]) == pytest.approx(
        float(rows["break"]["log2_fc"]) / 2, abs=1e-4)


def test_profile_shift_of_genome_indels(genome_dir):
    from bpnetkit.io.fasta import Genome

    d, chr1, _ = genome_dir
    v = MOTIF_AT - 30
    g = Genome(d / "genome.fa")
    vs = [Variant("chr1", v, chr1[v], chr1[v] + "GGGG", ".", 0),
          Variant("chr1", v, chr1[v:v + 4], chr1[v], ".", 0)]
    ref, alt = variant_windows(g, vs, W)
    m = motif_bpnet()
    pr = predict(m, ref)[0][:, 0].argmax(-1)
    pa = predict(m, alt)[0][:, 0].argmax(-1)
    assert (pa - pr).tolist() == [4, -3]


def test_parse_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.vcf"
    bad.write_text(_vcf([("chr1", 5, ".", "A", "C")]) + "chr1\tnotanumber\t.\tA\tC\n")
    with pytest.raises(InputError, match=r"bad\.vcf:4: column 2 \(POS\)"):
        list(iter_variants(bad))
    short = tmp_path / "short.tsv"
    short.write_text("chr1\t5\tA\tC\nchr1\t7\n")
    with pytest.raises(InputError, match=r"short\.tsv:2: "):
        list(iter_variants(short))
    with pytest.raises(InputError, match=r"short\.tsv:2: expected 5 columns"):
        list(iter_variants(short, schema="chrombpnet"))


def test_empirical_percentile():
    null = np.array([0.0, 1.0, 2.0, 3.0])
    assert empirical_percentile(np.array([5.0, -2.0, np.nan]), null)[:2].tolist() == [100, 62.5]
    assert np.isnan(empirical_percentile(np.array([np.nan]), null)[0])


def test_attribution_scores(genome_dir, tmp_path):
    d, chr1, _ = genome_dir
    tsv = tmp_path / "v.tsv"
    tsv.write_text(f"chr1\t{MOTIF_AT + 4}\t{chr1[MOTIF_AT + 3]}\tG\tbreak\n")
    out = run(VariantEffectParams(
        variants=str(tsv), genome=str(d / "genome.fa"), model="-", in_window=W,
        output_dir=str(tmp_path / "o"), attributions=True, n_shuffles=4,
        output_format="bpnetkit"),
        model=motif_bpnet())
    row = _read_tsv(out.scores)[0]
    assert float(row["counts_attr_ref"]) > 0
    assert float(row["counts_attr_diff"]) < 0


def test_truncated_gzip_is_a_clear_error(tmp_path):
    data = gzip.compress(_vcf([("chr1", k + 1, ".", "A", "C") for k in range(2000)]).encode())
    bad = tmp_path / "cut.vcf.gz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read the file after line"):
        list(iter_variants(bad))


def test_models_with_control_tracks_get_zero_controls():
    from bpnetkit.models import ControlWrapper

    torch.manual_seed(1)
    m = BPNet(n_filters=4, n_layers=2, n_outputs=2, n_control_tracks=2, stem_kernel_size=5,
              profile_kernel_size=5).eval()
    X = one_hot_encode(random_seq(60, 7))[None]
    before, after = substitution_effect(m, X, [(0, 30, 0), (0, 31, 2)], rc_average=True)
    ref = ControlWrapper(m)(torch.tensor(X).float())
    rc = ControlWrapper(m)(torch.tensor(X).float().flip(1).flip(2))
    expected = (ref[1] + rc[1]) / 2
    assert torch.allclose(before[1], expected.expand(2, 1), atol=1e-5)
    assert before[0].shape == after[0].shape == (2, 2, m.output_length(60))
