"""``bpnetkit attribute`` and ``bpnetkit predict`` end to end on a tiny genome."""

from __future__ import annotations

import copy
import json

import h5py
import numpy as np
import pytest
import torch

from bpnetkit.cli.main import main
from bpnetkit.errors import InputError
from bpnetkit.interpret.window_tracks import nearest_centre_segments
from bpnetkit.models import BPNet, CountWrapper, predicted_track
from bpnetkit.steps.attribute import AttributeParams, run_attribute
from bpnetkit.steps.predict import PredictParams, run_predict

L = 64


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("attr")
    rng = np.random.default_rng(0)
    chroms = {"chr1": 700, "chr2": 500}
    with open(d / "genome.fa", "w") as fh:
        for c, n in chroms.items():
            seq = "".join(rng.choice(list("ACGT"), size=n))
            if c == "chr2":
                seq = seq[:200] + "N" * 100 + seq[300:]
            fh.write(f">{c}\n")
            for i in range(0, n, 60):
                fh.write(seq[i:i + 60] + "\n")
    # narrowPeak: summit offsets in column 10; two overlapping windows on chr1
    rows = [("chr1", 100, 200, 50), ("chr1", 160, 260, 30), ("chr1", 400, 500, 50),
            ("chr2", 50, 150, 40), ("chr1", 680, 700, 10)]  # the last runs off chr1
    with open(d / "peaks.narrowPeak", "w") as fh:
        for c, s, e, summit in rows:
            fh.write(f"{c}\t{s}\t{e}\t.\t0\t.\t1\t1\t1\t{summit}\n")
    torch.manual_seed(0)
    model = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=2,
                  stem_kernel_size=5, profile_kernel_size=7)
    from bpnetkit.models.files import save_model

    save_model(model, d / "model")
    return d, model


def test_attribute_writes_modisco_layout_bed_and_bigwigs(workdir):
    d, model = workdir
    params = {"model": str(d / "model"), "genome": str(d / "genome.fa"),
              "peaks": str(d / "peaks.narrowPeak"), "output_dir": str(d / "attr"),
              "in_window": L, "n_shuffles": 3, "chunk_size": 2, "device": "cpu"}
    (d / "attribute.json").write_text(json.dumps(params))
    assert main(["attribute", "-p", str(d / "attribute.json")]) == 0
    out = d / "attr"
    bed = [line.split() for line in (out / "regions.bed").read_text().splitlines()]
    assert len(bed) == 4  # the window running off chr1 is dropped
    with h5py.File(out / "attributions_counts.h5") as f:
        raw, hyp, proj = f["raw/seq"][:], f["shap/seq"][:], f["projected_shap/seq"][:]
        assert raw.shape == hyp.shape == proj.shape == (4, 4, L)
        # modisco-lite's reader: (N, 4, L) sliced on the last axis, then transposed
        center = f["shap"]["seq"].shape[2] // 2
        assert f["shap"]["seq"][..., :, center - 10:center + 10].transpose(0, 2, 1).shape == \
            (4, 20, 4)
        assert [c.decode() for c in f["chrom"][:]] == [b[0] for b in bed]
    np.testing.assert_allclose(proj, hyp * raw, rtol=1e-6)
    from bpnetkit.io.fasta import extract_sequences

    starts = np.array([int(b[1]) for b in bed])
    X = extract_sequences(d / "genome.fa", [b[0] for b in bed], starts, starts + L)
    np.testing.assert_array_equal(raw, X)
    # summation to delta: the contributions of each region sum to f(x) - mean_r f(r), with
    # the references recomputed here (per-row seeds, the dinucleotide shuffle) and f the
    # model run forward here with zero controls
    from bpnetkit.interpret.shuffle import (
        codes_to_one_hot,
        dinucleotide_shuffle_codes,
        one_hot_to_codes,
    )

    seeds = np.random.SeedSequence(0).generate_state(4, dtype=np.uint32).astype(np.int64)
    refs = codes_to_one_hot(dinucleotide_shuffle_codes(one_hot_to_codes(X), 3, seeds))
    assert not np.array_equal(refs[:, 0], X)

    model64 = copy.deepcopy(model).double().eval()

    def scores(seqs):
        x = torch.from_numpy(np.ascontiguousarray(seqs)).double()
        with torch.no_grad():
            logits, log_counts = model64(x, torch.zeros(len(x), 2, L, dtype=torch.float64))
        flat = logits.reshape(len(x), -1)
        centred = flat - flat.mean(dim=1, keepdim=True)
        profile = (centred * torch.softmax(centred, dim=1)).sum(dim=1)
        return {"counts": log_counts[:, 0].numpy(), "profile": profile.numpy()}

    f_x = scores(X)
    f_r = scores(refs.reshape(-1, 4, L))
    for target in ("counts", "profile"):
        with h5py.File(out / f"attributions_{target}.h5") as f:
            hyp_t, raw_t = f["shap/seq"][:], f["raw/seq"][:]
        delta = f_x[target] - f_r[target].reshape(4, 3).mean(axis=1)
        assert np.abs(delta).max() > 1e-4  # a meaningful comparison
        np.testing.assert_allclose((hyp_t * raw_t).sum(axis=(1, 2)), delta, rtol=1e-3,
                                   atol=1e-7)
    # the bigWig carries the per-base sums, each base from the window with the nearer centre
    import pyBigWig

    bw = pyBigWig.open(str(out / "attributions_counts.bw"))
    chr1 = [i for i, b in enumerate(bed) if b[0] == "chr1"]
    for row, lo, hi in nearest_centre_segments(starts[chr1], L):
        i = chr1[row]
        vals = np.array(bw.values("chr1", lo, hi))
        np.testing.assert_allclose(vals, proj[i].sum(axis=0)[lo - starts[i]:hi - starts[i]],
                                   rtol=1e-5, atol=1e-7)
    bw.close()
    assert (out / "attributions_profile.h5").exists()
    resolved = json.loads((out / "attribute_params.json").read_text())
    assert resolved["in_window"] == L


def test_attribute_scores_independent_of_chunks_and_shards(workdir):
    """Each region's references are seeded by its row: chunking and sharding change nothing."""
    d, model = workdir
    from bpnetkit.interpret.deeplift import deep_lift_shap
    from bpnetkit.models import ControlWrapper

    def run(out, **kw):
        return run_attribute(AttributeParams(
            model=str(d / "model"), genome=str(d / "genome.fa"),
            peaks=str(d / "peaks.narrowPeak"), output_dir=str(d / out), targets=["counts"],
            in_window=L, n_shuffles=2, device="cpu", bigwigs=False, **kw))

    full = run("attr_full", chunk_size=3)
    shard = run("attr_shard", chunk_size=1, shard_index=1, n_shards=2)
    assert shard.h5["counts"].endswith("attributions_counts.shard1-of-2.h5")
    assert full.bigwigs == {} and shard.regions_bed.endswith("regions.shard1-of-2.bed")
    with h5py.File(full.h5["counts"]) as f, h5py.File(shard.h5["counts"]) as g:
        raw, hyp = f["raw/seq"][:], f["shap/seq"][:]
        np.testing.assert_array_equal(g["raw/seq"][:], raw[2:])
        np.testing.assert_allclose(g["shap/seq"][:], hyp[2:], rtol=1e-5, atol=1e-7)
        assert g.attrs["first_row"] == 2
    # and they equal deep_lift_shap with the documented per-row seeds
    seeds = np.random.SeedSequence(0).generate_state(4, dtype=np.uint32).astype(np.int64)
    ref = deep_lift_shap(CountWrapper(ControlWrapper(model.eval())), torch.from_numpy(raw),
                         n_shuffles=2, random_state=seeds, hypothetical=True, device="cpu")
    np.testing.assert_allclose(hyp, ref.numpy(), rtol=1e-5, atol=1e-7)


def test_attribute_all_n_region_is_a_clear_error(workdir, tmp_path):
    d, _ = workdir
    (tmp_path / "gap.bed").write_text("chr2\t220\t280\n")
    with pytest.raises(InputError, match="all N"):
        run_attribute(AttributeParams(model=str(d / "model"), genome=str(d / "genome.fa"),
                                      peaks=str(tmp_path / "gap.bed"),
                                      output_dir=str(tmp_path / "o"), in_window=40,
                                      n_shuffles=2, device="cpu"))
    assert not (tmp_path / "o" / "attributions_counts.h5").exists()


def test_predict_tiles_chromosomes_and_writes_tracks(workdir):
    d, model = workdir
    params = {"model": str(d / "model"), "genome": str(d / "genome.fa"),
              "output_dir": str(d / "pred"), "chroms": ["chr1"], "in_window": L,
              "chunk_size": 5, "device": "cpu"}
    (d / "predict.json").write_text(json.dumps(params))
    assert main(["predict", "-p", str(d / "predict.json")]) == 0
    out = d / "pred"
    L_out = model.output_length(L)
    with h5py.File(out / "predictions.h5") as f:
        logits, counts = f["logits"][:], f["log_counts"][:]
        starts = f["start"][:]
    bed = [line.split() for line in (out / "regions.bed").read_text().splitlines()]
    assert len(bed) == len(logits) and logits.shape[1:] == (2, L_out)
    assert [int(b[1]) for b in bed] == starts.tolist()
    trim = (L - L_out) // 2
    assert starts[0] == trim and starts[-1] + L_out == 700 - trim  # flush with both ends
    from bpnetkit.io.fasta import extract_sequences

    X = extract_sequences(d / "genome.fa", ["chr1"] * len(starts), starts - trim,
                          starts - trim + L)
    with torch.no_grad():
        p, c = model.eval()(torch.from_numpy(X).float(), torch.zeros(len(X), 2, L))
    np.testing.assert_allclose(logits, p.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(counts, c.numpy(), rtol=1e-4, atol=1e-5)
    track = predicted_track(p, c).numpy()
    import pyBigWig

    bw = pyBigWig.open(str(out / "predicted_minus.bw"))
    for row, lo, hi in nearest_centre_segments(starts, L_out):
        np.testing.assert_allclose(np.array(bw.values("chr1", lo, hi)),
                                   track[row, 1, lo - starts[row]:hi - starts[row]],
                                   rtol=1e-4, atol=1e-6)
    bw.close()


def test_predict_peaks_and_bad_chrom(workdir, tmp_path):
    d, model = workdir
    res = run_predict(PredictParams(model=str(d / "model"), genome=str(d / "genome.fa"),
                                    output_dir=str(tmp_path / "p"),
                                    peaks=str(d / "peaks.narrowPeak"), in_window=L,
                                    device="cpu", bigwigs=False))
    assert res.bigwigs == []
    with h5py.File(res.h5) as f:
        assert f["logits"].shape[0] == 4
        logits = f["logits"][:]
    # reverse-complement averaging uses the model's (plus, minus) pair; tracks in order
    rc = run_predict(PredictParams(model=str(d / "model"), genome=str(d / "genome.fa"),
                                   output_dir=str(tmp_path / "rc"),
                                   peaks=str(d / "peaks.narrowPeak"), in_window=L,
                                   device="cpu", rc_average=True))
    assert [p.rsplit("/", 1)[1] for p in rc.bigwigs] == ["predicted_plus.bw",
                                                          "predicted_minus.bw"]
    assert rc.missing() == []
    starts = np.array([int(line.split()[1]) for line in
                       open(rc.regions_bed).read().splitlines()])
    chroms = [line.split()[0] for line in open(rc.regions_bed).read().splitlines()]
    from bpnetkit.io.fasta import extract_sequences

    trim = (L - logits.shape[2]) // 2
    X = torch.from_numpy(extract_sequences(d / "genome.fa", chroms, starts - trim,
                                           starts - trim + L)).float()
    with torch.no_grad():
        pf, _ = model.eval()(X, torch.zeros(len(X), 2, L))
        pr, _ = model(X.flip(dims=(1, 2)), torch.zeros(len(X), 2, L))
    with h5py.File(rc.h5) as f:
        np.testing.assert_allclose(f["logits"][:], ((pf + pr.flip(dims=(2,))[:, [1, 0]]) / 2)
                                   .numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(InputError, match="not in the genome"):
        run_predict(PredictParams(model=str(d / "model"), genome=str(d / "genome.fa"),
                                  output_dir=str(tmp_path / "q"), chroms=["chrX"],
                                  in_window=L, device="cpu"))


def test_nearest_centre_segments():
    assert nearest_centre_segments(np.array([10, 0, 100]), 20) == \
        [(1, 0, 15), (0, 15, 30), (2, 100, 120)]
