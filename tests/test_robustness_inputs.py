"""Issue 14, classes 3, 5 and 6: corrupt or stale inputs, NaN / out-of-range values, small
things. Each test damages an input the way a user's file gets damaged and checks that the
error names the file (or the key) instead of a decoder's raw exception, or that the value
read is the true one."""

from __future__ import annotations

import json
import logging
import os
import stat

import h5py
import numpy as np
import pytest
import torch

from bpnetkit.errors import InputError
from bpnetkit.interpret.deeplift import deep_lift_shap
from bpnetkit.interpret.inputs import check_attributions, check_one_hot
from bpnetkit.interpret.ism import saturation_mutagenesis
from bpnetkit.interpret.predict import predict
from bpnetkit.io.attributions import AttributionWriter, read_attributions, read_position_scores
from bpnetkit.io.bigwig import BigWigReader, write_bigwig
from bpnetkit.io.fasta import Genome, extract_sequences, one_hot_encode
from bpnetkit.io.meme import parse_meme
from bpnetkit.models.bpnet import BPNet
from bpnetkit.models.files import convert, load_model, save_model

torch.set_num_threads(1)


def _seqs(rng, sizes):
    return {name: "".join(rng.choice(list("ACGT"), n)) for name, n in sizes.items()}


def _write_fasta(path, seqs, width):
    with open(path, "w") as fh:
        for name, s in seqs.items():
            fh.write(f">{name} some description\n")
            fh.writelines(s[i:i + width] + "\n" for i in range(0, len(s), width))


def _age_index(path, seconds=10):
    """Make the .fai look newer than the FASTA (an edit within the mtime resolution)."""
    fasta_mtime = os.stat(path).st_mtime
    os.utime(str(path) + ".fai", (fasta_mtime + seconds, fasta_mtime + seconds))


# ------------------------------------------------------------------------------ class 3
def test_fasta_rewrapped_after_indexing_is_reindexed(tmp_path, caplog):
    rng = np.random.default_rng(0)
    seqs = _seqs(rng, {"chr1": 1000, "chr2": 517})
    fa = tmp_path / "g.fa"
    _write_fasta(fa, seqs, 60)
    assert Genome(fa).fetch("chr2", 0, 517) == seqs["chr2"]
    _write_fasta(fa, seqs, 50)  # re-wrapped; the old index says 60 bases per line
    _age_index(fa)
    with caplog.at_level(logging.WARNING, logger="bpnetkit.io.fasta"):
        g = Genome(fa)
    assert "re-wrapped" in caplog.text and "g.fa.fai" in caplog.text
    assert g.fetch("chr2", 100, 400) == seqs["chr2"][100:400]
    X = extract_sequences(g, ["chr1", "chr2"], [900, 17], [1000, 117])
    np.testing.assert_array_equal(X[0], one_hot_encode(seqs["chr1"][900:1000]))
    np.testing.assert_array_equal(X[1], one_hot_encode(seqs["chr2"][17:117]))


@pytest.mark.parametrize("new_len", [940, 1060, 1000 + 60 * 3])
def test_fasta_resized_after_indexing_is_reindexed(tmp_path, new_len):
    rng = np.random.default_rng(1)
    seqs = _seqs(rng, {"chr1": 1000, "chr2": 300})
    fa = tmp_path / "g.fa"
    _write_fasta(fa, seqs, 60)
    Genome(fa)
    seqs["chr1"] = "".join(rng.choice(list("ACGT"), new_len))
    _write_fasta(fa, seqs, 60)
    _age_index(fa)
    g = Genome(fa)
    assert g.chrom_sizes == {"chr1": new_len, "chr2": 300}
    assert g.fetch("chr2", 0, 300) == seqs["chr2"]


def test_stale_index_that_cannot_be_rewritten_is_refused(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    seqs = _seqs(rng, {"chr1": 500})
    fa = tmp_path / "g.fa"
    _write_fasta(fa, seqs, 60)
    Genome(fa)
    _write_fasta(fa, seqs, 70)
    _age_index(fa)
    real_access = os.access
    # root ignores permissions, so simulate a read-only folder through os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK
                        else real_access(p, mode))
    with pytest.raises(InputError, match=r"g\.fa\.fai.*does not match.*samtools faidx"):
        Genome(fa)


def test_bigwig_damaged_data_block_names_the_file(tmp_path):
    path = tmp_path / "signal.bw"
    pos = np.arange(0, 5000, 3)
    write_bigwig(path, {"chr1": 6000}, iter([("chr1", pos, np.ones(len(pos)))]))
    with BigWigReader(path) as r:
        off, size = int(r.b_offset[0]), int(r.b_size[0])
    data = bytearray(path.read_bytes())
    data[off + 2:off + size - 2] = bytes(size - 4)  # zero the deflate stream
    path.write_bytes(bytes(data))
    out = np.zeros((1, 1, 100), dtype=np.float32)
    with BigWigReader(path) as r, pytest.raises(InputError) as err:
        r.read_loci("chr1", np.array([0]), 100, out, np.array([0]), 0)
    msg = str(err.value)
    assert "signal.bw" in msg and "data block 0" in msg and "re-create" in msg
    span, cov = np.zeros(100, np.float32), np.zeros(100, np.uint8)
    with BigWigReader(path) as r, pytest.raises(InputError, match="signal.bw"):
        r.fill("chr1", 0, 100, span, cov)


def _small_bpnet(trimming=60):
    torch.manual_seed(0)
    return BPNet(n_filters=4, n_layers=2, n_outputs=2, n_control_tracks=0,
                 trimming=trimming).eval()


def test_truncated_safetensors_names_the_file(tmp_path):
    folder = save_model(_small_bpnet(), tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-40])
    with pytest.raises(InputError, match=r"model weights '.*model\.safetensors'.*truncated"):
        load_model(folder)


def _write_chrombpnet_h5(path, n_filters=4, n_layers=2, bad_layer=None):
    """Weights under the official ChromBPNet layer names; ``bad_layer`` gets a rank-2 kernel."""
    rng = np.random.default_rng(0)
    shapes = {"bpnet_1st_conv": (21, 4, n_filters), "bpnet_prof_out_precrop": (75, n_filters, 1),
              "bpnet_logcount_predictions": (n_filters, 1)}
    for i in range(1, n_layers + 1):
        shapes[f"bpnet_{i}conv"] = (3, n_filters, n_filters)
    with h5py.File(path, "w") as f:
        for layer, shape in shapes.items():
            kernel = rng.normal(size=shape).astype(np.float32)
            if layer == bad_layer:
                kernel = kernel.reshape(shape[0], -1)
            g = f.create_group(f"model_weights/{layer}/{layer}")
            g["kernel:0"] = kernel
            g["bias:0"] = np.zeros(shape[-1], np.float32)


def test_keras_kernel_of_wrong_rank_names_layer_and_file(tmp_path):
    _write_chrombpnet_h5(tmp_path / "good.h5")
    assert load_model(tmp_path / "good.h5", input_length=300, output_length=100).n_layers == 2
    path = tmp_path / "rank.h5"
    _write_chrombpnet_h5(path, bad_layer="bpnet_2conv")
    with pytest.raises(InputError) as err:
        load_model(path, input_length=300, output_length=100)
    msg = str(err.value)
    assert "'bpnet_2conv' kernel" in msg and "rank.h5" in msg and "Conv1D kernel" in msg


# ------------------------------------------------------------------------------ class 5
def _one_hot(rng, n, length):
    X = np.zeros((n, 4, length), dtype=np.float32)
    X[np.arange(n)[:, None], rng.integers(0, 4, (n, length)), np.arange(length)] = 1
    return X


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.5, 2.0, -1.0])
def test_every_entry_point_refuses_non_one_hot(bad):
    """predict (whose fused CPU path maps NaN to 0), DeepLIFT and ISM: the same rule."""
    model = _small_bpnet()
    X = _one_hot(np.random.default_rng(0), 2, 200)
    X[1, 2, 77] = bad
    for call in (lambda: predict(model, X),
                 lambda: predict(model, X, channels_last=False),
                 lambda: deep_lift_shap(_CountOnly(model), X, n_shuffles=2),
                 lambda: saturation_mutagenesis(_CountOnly(model), X, start=70, end=80)):
        with pytest.raises(InputError, match=r"sequence 1, channel 2, position 77"):
            call()


class _CountOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[1]


def test_two_channels_set_and_all_n_rules():
    X = np.zeros((2, 4, 10), dtype=np.int8)
    X[:, 0] = 1
    X[0, 1, 3] = 1
    with pytest.raises(InputError, match="sequence 0, position 3 has several channels"):
        check_one_hot(X)
    check_one_hot(np.zeros((1, 4, 10), np.int8))  # all N: fine for predictions
    with pytest.raises(InputError, match="all N"):
        check_one_hot(np.zeros((1, 4, 10), np.int8), allow_all_n=False)
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        check_one_hot(np.zeros((1, 5, 10), np.int8))


def test_attribution_h5_with_a_nan_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = _one_hot(rng, 3, 50).astype(np.int8)
    H = rng.normal(size=X.shape).astype(np.float32)
    H[2, 1, 30] = np.nan
    path = tmp_path / "att.h5"
    with AttributionWriter(path, ["chr1"] * 3, [0, 100, 200], [50, 150, 250], 50) as w:
        w.write(0, X, H)
    for read in (read_attributions, read_position_scores):
        with pytest.raises(InputError, match=r"att\.h5.*1 NaN/infinite.*row 2, position 30"):
            read(path)
    with pytest.raises(InputError, match="NaN"):
        check_attributions(H)
    check_attributions(np.nan_to_num(H), one_hot=X)


def test_negative_max_regions_is_refused():
    from bpnetkit.config import from_dict
    from bpnetkit.steps.attribute import AttributeParams
    from bpnetkit.steps.predict import PredictParams

    base = {"model": "m", "peaks": "p.bed", "genome": "g.fa", "output_dir": "o"}
    for cls in (PredictParams, AttributeParams):
        with pytest.raises(InputError, match="'max_regions' must be at least 1"):
            from_dict(cls, {**base, "max_regions": -5})
        assert from_dict(cls, {**base, "max_regions": 3}).max_regions == 3


# ------------------------------------------------------------------------------ class 6
def test_saved_weights_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        folder = save_model(_small_bpnet(), tmp_path / "m")
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o644


def test_pickled_bpnetkit_model_says_what_to_do(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(_small_bpnet(), path)
    with pytest.raises(InputError, match=r"refusing to load.*save_model.*bpnetkit convert"):
        load_model(path)


def test_state_dict_convert_warns_about_trimming_and_accepts_it(tmp_path, caplog):
    model = _small_bpnet(trimming=70)
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    with caplog.at_level(logging.WARNING, logger="bpnetkit.models.files"):
        out = convert(tmp_path / "sd.pt", tmp_path / "guess")
    assert "does not record the output window" in caplog.text
    assert load_model(out[str(tmp_path / "sd.pt")]).trimming == 53  # receptive half-width
    out = convert(tmp_path / "sd.pt", tmp_path / "given", trimming=70)
    again = load_model(out[str(tmp_path / "sd.pt")])
    assert again.trimming == 70
    X = _one_hot(np.random.default_rng(0), 2, 300)
    for a, b in zip(predict(model, X), predict(again, X)):
        torch.testing.assert_close(a, b)


MEME = """MEME version 4

ALPHABET= ACGT

MOTIF {a} first
letter-probability matrix: alength= 4 w= 2
 0.25 0.25 0.25 0.25
 {row}

MOTIF {b} second
letter-probability matrix: alength= 4 w= 1
 0.1 0.2 0.3 0.4
"""


def test_meme_rows_not_summing_to_one_warn_with_motif_and_line(caplog):
    text = MEME.format(a="M1", b="M2", row="0.5 0.5 0.5 0.5")
    with caplog.at_level(logging.WARNING, logger="bpnetkit.io.meme"):
        motifs = parse_meme(text.splitlines(), source="db.meme")
    assert "db.meme, line 8: motif 'M1' row 2 sums to 2" in caplog.text
    np.testing.assert_allclose(motifs[0].pwm[1], [0.25] * 4)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bpnetkit.io.meme"):
        parse_meme(MEME.format(a="M1", b="M2", row="0.1 0.2 0.3 0.401").splitlines())
    assert caplog.text == ""  # rounding is not worth a warning


def test_meme_duplicate_ids_are_refused_naming_both_lines():
    text = MEME.format(a="M1", b="M1", row="0.1 0.2 0.3 0.4")
    with pytest.raises(InputError, match=r"db.meme, line 10: motif ID 'M1' is also used by "
                                         r"the motif at line 5"):
        parse_meme(text.splitlines(), source="db.meme")


def test_variant_file_with_nothing_scorable_is_an_error(tmp_path):
    from bpnetkit.steps.variant_effect import VariantEffectParams, run

    rng = np.random.default_rng(0)
    fa = tmp_path / "g.fa"
    _write_fasta(fa, _seqs(rng, {"chr1": 2000}), 60)
    save_model(_small_bpnet(), tmp_path / "m")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "chrX\t100\tv1\tA\tG\t.\t.\t.\nchr9\t200\tv2\tC\tT\t.\t.\t.\n")
    params = VariantEffectParams(model=str(tmp_path / "m"), variants=str(vcf),
                                 genome=str(fa), output_dir=str(tmp_path / "out"),
                                 in_window=200)
    with pytest.raises(InputError, match=r"no variant of '.*v\.vcf' could be scored "
                                         r"\(2 records"):
        run(params)


def test_config_json_of_a_model_with_bad_json_names_the_file(tmp_path):
    folder = save_model(_small_bpnet(), tmp_path / "m")
    (folder / "config.json").write_text(json.dumps({"format": "bpnetkit-model"})[:-3])
    with pytest.raises(InputError, match=r"config\.json: invalid JSON"):
        load_model(folder)
