"""Stem filters seeded with the k-mers enriched at peak summits (``seed_filters``): the
words found against planted truth, the filters' response computed by hand, and ``fit``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from bpnetkit.errors import InputError
from bpnetkit.models import BPNet
from bpnetkit.steps.fit import FitParams
from bpnetkit.train.seeding import enriched_kmers, seed_stem_filters

COMP = str.maketrans("ACGT", "TGCA")


def revcomp(s: str) -> str:
    return s[::-1].translate(COMP)


def windows_with_planted(n=300, length=600, words=("GTAAACA", "CCAATCA"), p=0.4, seed=0):
    """Random DNA windows; each word planted (random strand) within 60 bp of the middle of
    a fraction ``p`` of the windows."""
    rng = np.random.default_rng(seed)
    seqs = rng.integers(0, 4, (n, length))
    for w in words:
        for i in np.flatnonzero(rng.random(n) < p):
            s = w if rng.random() < 0.5 else revcomp(w)
            a = length // 2 + int(rng.integers(-60, 60 - len(s)))
            seqs[i, a:a + len(s)] = ["ACGT".index(c) for c in s]
    X = np.eye(4, dtype=np.int8)[seqs].transpose(0, 2, 1).copy()
    return X


def test_enriched_kmers_finds_the_planted_words_once_each():
    X = windows_with_planted()
    found = enriched_kmers(X, k=7, n=6)
    words = [w for w, _ in found]
    # the two planted words first, in their canonical (smaller) orientation ...
    assert set(words[:2]) == {"GTAAACA", "CCAATCA"}
    assert all(w == min(w, revcomp(w)) for w in words)
    # ... and none of their shifted or one-mismatch variants after them
    for w in words[2:]:
        for planted in ("GTAAACA", "CCAATCA"):
            for a in (planted, revcomp(planted)):
                assert sum(x != y for x, y in zip(w, a, strict=True)) > 1
                assert w[1:] != a[:-1] and w[:-1] != a[1:]
    score = [s for _, s in found]  # -log10 p, above the Bonferroni floor log10(8192 / 0.01)
    assert score == sorted(score, reverse=True) and score[1] > 20
    assert all(s >= np.log10(8192 / 0.01) for s in score)
    # pure random DNA holds no word that passes
    assert enriched_kmers(windows_with_planted(words=()), k=7) == []


def _stem_relu(model: BPNet, seq: str) -> torch.Tensor:
    x = torch.zeros(1, 4, len(seq))
    for j, c in enumerate(seq):
        x[0, "ACGT".index(c), j] = 1
    with torch.no_grad():
        return torch.relu(model.iconv(x))[0]


def test_seeded_filters_fire_on_the_word_and_its_reverse_complement():
    torch.manual_seed(0)
    m = BPNet(n_filters=8, n_layers=1, n_outputs=2, n_control_tracks=0, stem_kernel_size=11,
              profile_kernel_size=5)
    before = m.iconv.weight[4:].clone()
    assert seed_stem_filters(m, ["GTAAACA", "ACGCGT"]) == 3  # the palindrome takes one filter
    torch.testing.assert_close(m.iconv.weight[4:], before)  # the other filters untouched
    rng = np.random.default_rng(1)
    flank = "".join("ACGT"[i] for i in rng.integers(0, 4, 40))
    for f, word in ((0, "GTAAACA"), (1, "TGTTTAC"), (2, "ACGCGT")):
        k = len(word)
        seq = flank[:20] + word + flank[20:]
        out = _stem_relu(m, seq)[f]
        # the kernel's k central columns sit on the word when the 11-wide window starts at
        # 20 - (11 - k) // 2: k matches x 0.5 + bias -(k - 2) x 0.5 = 1 there
        at = 20 - (11 - k) // 2
        assert out[at].item() == pytest.approx(1.0, abs=1e-6)
        one_off = seq[:20] + ("C" if word[0] != "C" else "G") + word[1:] + flank[20:]
        # one mismatch: (k - 1) x 0.5 - 0.5 / 3 - (k - 2) x 0.5 = 1 / 3
        assert _stem_relu(m, one_off)[f][at].item() == pytest.approx(1 / 3, abs=1e-6)
        # away from the word, only chance near-matches of the random flank fire, weakly
        others = torch.cat([out[:at - k], out[at + k + 1:]])
        assert others.max().item() <= 1 / 3 + 1e-6
    # at most half of the filters, and only BPNet-style stems
    m2 = BPNet(n_filters=4, n_layers=1, n_outputs=1, n_control_tracks=0, stem_kernel_size=11,
               profile_kernel_size=5)
    assert seed_stem_filters(m2, ["GTAAACA", "CCAATCA", "AAGGTTT"]) == 2
    with pytest.raises(InputError, match="iconv"):
        seed_stem_filters(nn.Linear(3, 3), ["GTAAACA"])
    with pytest.raises(InputError, match="longer than"):
        seed_stem_filters(m2, ["A" * 12])


def test_seed_filters_key_is_validated_and_recorded(tmp_path):
    from _train_sim import make_genome_dataset
    from bpnetkit.steps.fit import run_fit

    base = {"genome": "g.fa", "peaks": "p.bed", "signals": ["a.bw"], "output_dir": "o"}
    for bad in (-1, 1.5, True):
        with pytest.raises(InputError, match="seed_filters"):
            FitParams(**base, seed_filters=bad).validate()
    assert FitParams(**base, recipe="bpnet_lite").resolved().seed_filters == 0
    d = make_genome_dataset(tmp_path, chrom_len=12000)
    run_fit(FitParams(genome=d["genome"], peaks=d["peaks"], negatives=d["negatives"],
                      signals=d["signals"], split=d["split"], recipe="bpnet_lite",
                      output_dir=str(tmp_path / "fit"), in_window=300, out_window=84,
                      n_filters=8, n_layers=2, stem_kernel_size=11, profile_kernel_size=15,
                      max_jitter=8, max_epochs=1, batch_size=16, seed_filters=2,
                      progress=False, device="cpu"))
    cfg = json.loads((tmp_path / "fit" / "model" / "config.json").read_text())
    prov = cfg.get("provenance", cfg)
    assert "seeded_kmers" in prov
    from _train_sim import MOTIF

    words = prov["seeded_kmers"]
    assert words and all(len(w) == 7 and s >= np.log10(8192 / 0.01) for w, s in words)
    assert MOTIF in words[0][0] or MOTIF in revcomp(words[0][0])  # the planted motif
