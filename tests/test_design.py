"""Greedy and gradient design on a BPNet with hand-set weights that detects one motif.

Detector (as in test_variants): +1 per matching base, -1 otherwise, bias -3, so an exact motif
scores 4, one mismatch 2, two or more 0; log counts = 1 + 0.5 x (sum of detector track).
Known answers: completing a one-mismatch motif raises log counts by 1 (2 -> 4 on the
detector), an exact motif adds 2, and breaking it with two edits brings counts back to 1.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bpnetkit.design import gradient_design, greedy_design, make_target
from bpnetkit.errors import InputError
from bpnetkit.io.fasta import one_hot_encode
from bpnetkit.models import BPNet
from bpnetkit.steps.design import DesignOutputs, DesignParams, read_fasta, run

MOTIF = "GATTACA"
K = len(MOTIF)
W = 60


def motif_bpnet(minus_weight: float = 2.0) -> BPNet:
    m = BPNet(n_filters=1, n_layers=1, n_outputs=2, n_control_tracks=0, stem_kernel_size=K,
              profile_kernel_size=1)
    with torch.no_grad():
        w = -torch.ones(1, 4, K)
        for j, b in enumerate(MOTIF):
            w[0, "ACGT".index(b), j] = 1.0
        m.iconv.weight.copy_(w)
        m.iconv.bias.fill_(-3.0)
        for conv in m.rconvs:
            conv.weight.zero_()
            conv.bias.zero_()
        m.fconv.weight.zero_()
        m.fconv.weight[0].fill_(2.0)
        m.fconv.weight[1].fill_(minus_weight)
        m.fconv.bias.zero_()
        m.linear.weight.fill_(0.5 * m.output_length(W))
        m.linear.bias.fill_(1.0)
    return m.eval()


def site_scores(seq: str) -> np.ndarray:
    x = one_hot_encode(seq).astype(float)
    w = -np.ones((4, K))
    for j, b in enumerate(MOTIF):
        w["ACGT".index(b), j] = 1
    return np.array([(x[:, i:i + K] * w).sum() for i in range(len(seq) - K + 1)])


def background(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    while True:
        s = "".join(rng.choice(list("ACGT"), size=n))
        if site_scores(s).max() <= 1:  # at least two mismatches everywhere: detector silent
            return s


def plant(seq: str, motif: str, at: int) -> str:
    return seq[:at] + motif + seq[at + len(motif):]


def decode(x) -> str:
    return "".join("ACGT"[i] for i in np.asarray(x).argmax(0))


def counts(model, seq: str) -> float:
    return model(torch.tensor(one_hot_encode(seq)[None]).float())[1].item()


ALMOST = MOTIF[:3] + ("C" if MOTIF[3] != "C" else "G") + MOTIF[4:]  # one mismatch


def test_greedy_single_bases_completes_motif_and_breaks_it():
    m = motif_bpnet()
    target = make_target(m, "counts")
    start = plant(background(W, 1), ALMOST, 25)
    assert counts(m, start) == pytest.approx(2.0, abs=1e-5)
    res = greedy_design(target, one_hot_encode(start), goal="max", max_edits=5, progress=False)
    designed = decode(res.X[0])
    assert MOTIF in designed
    assert res.edits[0]["position"] == 28 and res.edits[0]["alt"] == MOTIF[3]
    assert res.final[0] == pytest.approx(counts(m, designed), abs=1e-5)
    assert res.final[0] >= 3.0 - 1e-5 and res.initial[0] == pytest.approx(2.0, abs=1e-5)
    # minimising: two edits inside the motif silence the detector -> log counts 1
    with_motif = plant(background(W, 2), MOTIF, 20)
    res = greedy_design(target, one_hot_encode(with_motif), goal="min", max_edits=5,
                        progress=False)
    assert res.final[0] == pytest.approx(1.0, abs=1e-5)
    assert len(res.edits) == 2 and all(20 <= e["position"] < 20 + K for e in res.edits)
    # nothing editable inside the motif: no edit can lower counts
    res = greedy_design(target, one_hot_encode(with_motif), goal="min", max_edits=5,
                        input_mask=[30, W], progress=False)
    assert res.edits == [] and res.final[0] == pytest.approx(3.0, abs=1e-5)


def test_greedy_motif_insertion_and_value_goal():
    m = motif_bpnet()
    target = make_target(m, "counts")
    start = background(W, 3)
    res = greedy_design(target, one_hot_encode(start), goal="max", max_edits=1,
                        motifs=[MOTIF, "CCCCGGG"], progress=False)
    (e,) = res.edits
    assert e["kind"] == f"motif:{MOTIF}:+" and e["alt"] == MOTIF
    assert res.final[0] == pytest.approx(3.0, abs=1e-5)
    # reach log counts 3 exactly (one motif), not more, with a budget of 3 insertions
    res = greedy_design(target, one_hot_encode(start), goal=3.0, max_edits=3, motifs=[MOTIF],
                        progress=False)
    assert len(res.edits) == 1 and res.final[0] == pytest.approx(3.0, abs=1e-5)


def test_strand_ratio_target():
    m = motif_bpnet(minus_weight=-2.0)  # the motif raises plus-strand and lowers minus-strand
    target = make_target(m, "strand_ratio")
    start = background(W, 4)
    res = greedy_design(target, one_hot_encode(start), goal="max", max_edits=1, motifs=[MOTIF],
                        progress=False)
    assert res.edits[0]["alt"] == MOTIF and res.final[0] > res.initial[0] + 1


def test_gradient_design_inserts_and_removes_motif():
    m = motif_bpnet()
    target = make_target(m, "counts")
    start = plant(background(W, 5), ALMOST, 25)
    res = gradient_design(target, one_hot_encode(start), goal="max", edit_penalty=0.2,
                          n_iter=60, n_samples=8, patience=15, random_state=0,
                          progress=False)
    designed = decode(res.X[0])
    assert MOTIF in designed
    assert res.final[0] == pytest.approx(counts(m, designed), abs=1e-5)
    assert res.final[0] > res.initial[0]
    with_motif = plant(background(W, 6), MOTIF, 20)
    res = gradient_design(target, one_hot_encode(with_motif), goal="min", edit_penalty=0.2,
                          n_iter=60, n_samples=8, patience=15, random_state=0,
                          progress=False)
    designed = decode(res.X[0])
    assert MOTIF not in designed
    assert res.final[0] == pytest.approx(1.0, abs=1e-5)
    assert 1 <= len(res.edits) <= 4
    # edits outside the mask are impossible
    res = gradient_design(target, one_hot_encode(with_motif), goal="min", n_iter=20,
                          n_samples=4, input_mask=[40, W], progress=False)
    assert all(e["position"] >= 40 for e in res.edits)
    assert MOTIF in decode(res.X[0])
    assert all(p.requires_grad for p in m.parameters())  # restored after design


def test_run_design_writes_fasta_and_edits(tmp_path):
    m = motif_bpnet()
    fa = tmp_path / "start.fa"
    fa.write_text(f">a\n{plant(background(W, 7), ALMOST, 25)}\n>b\n{background(W, 8)}\n")
    params = DesignParams(model="-", output_dir=str(tmp_path / "o"), sequences=str(fa),
                          method="greedy", max_edits=3)
    out = run(params, model=m)
    assert isinstance(out, DesignOutputs) and out.missing() == []
    recs = read_fasta(out.fasta)
    assert [n for n, _ in recs] == ["a_designed", "b_designed"]
    assert MOTIF in recs[0][1]
    lines = open(out.edits).read().splitlines()
    assert lines[0].split("\t")[:4] == ["sequence", "round", "kind", "position"]
    assert lines[1].split("\t")[0] == "a"
    assert json.loads(open(out.params).read())["method"] == "greedy"
    summary = open(out.summary).read().splitlines()
    assert summary[1].split("\t")[0] == "a" and float(summary[1].split("\t")[2]) >= 3 - 1e-4


def test_bad_design_input(tmp_path):
    m = motif_bpnet()
    target = make_target(m, "counts")
    with pytest.raises(InputError, match="goal"):
        greedy_design(target, one_hot_encode(background(W, 1)), goal="up")
    with pytest.raises(InputError, match="motif"):
        greedy_design(target, one_hot_encode(background(W, 1)), motifs=["GANTC"])
    with pytest.raises(InputError, match="input_mask"):
        greedy_design(target, one_hot_encode(background(W, 1)), input_mask=[10, 500])
    with pytest.raises(InputError, match="exactly one"):
        DesignParams(model="m", output_dir="o").validate()
    with pytest.raises(InputError, match="strand_ratio"):
        one = BPNet(n_filters=2, n_layers=1, n_outputs=1, n_control_tracks=0,
                    stem_kernel_size=3, profile_kernel_size=1)
        make_target(one, "strand_ratio")(torch.zeros(1, 4, 20))


def test_run_design_motif_names_from_meme(tmp_path):
    from bpnetkit.io.meme import Motif, write_meme

    pwm = np.full((K + 4, 4), 0.25)  # uninformative flanks are trimmed away
    for j, b in enumerate(MOTIF):
        pwm[2 + j] = 0.02
        pwm[2 + j, "ACGT".index(b)] = 0.94
    db = tmp_path / "db.meme"
    write_meme([Motif("MA9999.1", pwm, alt_name="TOY")], db)
    fa = tmp_path / "start.fa"
    fa.write_text(f">a\n{background(W, 9)}\n")
    out = run(DesignParams(model="-", output_dir=str(tmp_path / "o"), sequences=str(fa),
                                  motif_names=["toy"], motif_db=str(db), max_edits=1),
                     model=motif_bpnet())
    assert MOTIF in read_fasta(out.fasta)[0][1]
    assert f"motif:{MOTIF}:+" in open(out.edits).read()


def test_track_target_with_output_mask():
    # output position j sees the motif starting at input j + 2 (stem centre 3, tower crop 2,
    # trimming 5): maximising the track inside output [10, 20) must place the motif there
    m = motif_bpnet()
    target = make_target(m, "track", output_mask=[10, 20], strands=[0])
    res = greedy_design(target, one_hot_encode(background(W, 10)), goal="max", max_edits=1,
                        motifs=[MOTIF], progress=False)
    (e,) = res.edits
    assert 12 <= e["position"] < 22 and e["alt"] == MOTIF


def test_plain_callable_target_matches_module_target():
    # a target that is a plain function (not a torch module) designs the same sequence
    m = motif_bpnet()
    target = make_target(m, "counts")
    start = one_hot_encode(plant(background(W, 1), ALMOST, 25))
    a = greedy_design(target, start, goal="max", max_edits=2, progress=False, device="cpu")
    b = greedy_design(lambda X: target(X), start, goal="max", max_edits=2, progress=False,
                      device="cpu")
    assert np.array_equal(a.X, b.X) and a.edits == b.edits
    assert b.final[0] == pytest.approx(counts(m, decode(b.X[0])), abs=1e-5)
