"""Any genome works with the defaults: a small non-human genome (chr1-chr3 of a few hundred kb
cut from real C. elegans sequence) with dense peaks gets a derived split and negatives."""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pytest

from bpnetkit.data.splits import derive_split, get_split, split_for_genome
from bpnetkit.demo.simulate import backbone_path
from bpnetkit.errors import InputError
from bpnetkit.io.bed import read_regions
from bpnetkit.steps import negatives

BACKBONE = str(backbone_path("ce_chrX"))  # real C. elegans sequence shipped with bpnetkit
SIZES = {"chr1": 600_000, "chr2": 450_000, "chr3": 300_000}
WIDTH = 2114


@pytest.fixture(scope="module")
def small_genome(tmp_path_factory):
    d = tmp_path_factory.mktemp("anygenome")
    with gzip.open(BACKBONE, "rt") as fh:
        seq = "".join(line.strip() for line in fh if not line.startswith(">"))
    fa, pos = [], 0
    for c, n in SIZES.items():
        s = seq[pos:pos + n]
        pos += n
        fa.append(f">{c}\n" + "\n".join(s[i:i + 60] for i in range(0, n, 60)) + "\n")
    (d / "g.fa").write_text("".join(fa))
    rng = np.random.default_rng(0)
    lines, counts = [], {}
    for c, n in SIZES.items():
        # a peak every ~4 kb: peak windows cover most 2114-bp bins
        starts = np.arange(3000, n - 3000, 4000) + rng.integers(-200, 200, size=1)[0]
        counts[c] = len(starts)
        lines += [f"{c}\t{s}\t{s + 300}\tp\t0\t.\t1\t1\t1\t150\n" for s in starts]
    (d / "peaks.narrowPeak").write_text("".join(lines))
    return d, counts


def test_derived_split_for_a_non_human_genome(small_genome, caplog):
    d, counts = small_genome
    # the hg38 default leaves validation empty here (the failure users saw at 'fit')
    assert get_split("fold_0", SIZES)["valid"] == []
    with caplog.at_level(logging.WARNING, logger="bpnetkit.data.splits"):
        split, why = split_for_genome("fold_0", SIZES, counts)
    assert all(split[k] for k in ("train", "valid", "test"))
    assert sorted(split["train"] + split["valid"] + split["test"]) == sorted(SIZES)
    assert len(set(split["valid"]) & set(split["test"])) == 0
    assert split["train"] == ["chr1"]                    # most peaks stay in training
    assert "fold_0" in why and "derived" in why and any("derived" in r.message
                                                         for r in caplog.records)
    assert get_split(split, SIZES) == split              # a valid split for get_split
    again, _ = split_for_genome("fold_0", SIZES, counts)
    assert again == split                                 # deterministic
    # a split that fits is kept as it is
    human = {f"chr{i}": 1000 for i in range(1, 23)}
    kept, why = split_for_genome("fold_0", human, {c: 5 for c in human})
    assert why == "" and kept["valid"] == ["chr8", "chr20"]


def test_macs3_genome_size_follows_the_genome():
    from bpnetkit.data.peaks import genome_size_for

    assert genome_size_for(SIZES) == str(sum(SIZES.values()))
    assert genome_size_for({"chr1": 3_000_000_000}) == "hs"


def test_derive_split_targets_and_limits():
    sizes = {f"s{i}": 1000 for i in range(20)}
    peaks = {f"s{i}": 100 for i in range(20)}               # 2000 peaks, 100 each
    split, why = derive_split(sizes, peaks)
    assert len(split["test"]) == 2 and len(split["valid"]) == 2   # 10% each
    assert "10.0%" in why
    # without peak counts: by size
    split, _ = derive_split({"a": 10_000, "b": 1000, "c": 1200, "d": 800})
    assert split["train"][0] == "a" and split["test"] and split["valid"]
    with pytest.raises(InputError, match="at least three"):
        derive_split({"chr1": 1000, "chr2": 500}, {"chr1": 10, "chr2": 3})


def test_negatives_scale_down_on_a_small_genome(small_genome, caplog):
    d, counts = small_genome
    n_peaks = sum(counts.values())
    p = negatives.Params(genome=str(d / "g.fa"), peaks=str(d / "peaks.narrowPeak"),
                         output_dir=str(d / "neg"), width=WIDTH)
    with caplog.at_level(logging.WARNING, logger="bpnetkit.data.negatives"):
        out = negatives.run(p)
    report = json.loads(open(out.report).read())
    assert report["reductions"] and out.reductions == report["reductions"]
    assert any("stride" in r for r in report["reductions"])
    assert any("too few background bins" in r.message for r in caplog.records)
    assert report["stride_used"] < WIDTH
    assert 0 < out.n_negatives == report["n_negatives"] <= 2 * n_peaks
    # the negatives avoid what is still excluded: the central half of each peak window
    neg = read_regions(out.negatives)
    pk = read_regions(d / "peaks.narrowPeak")
    for c in SIZES:
        summits = np.sort(pk.summit[pk.chrom == c])
        s = neg.start[neg.chrom == c]
        e = neg.end[neg.chrom == c]
        i = np.searchsorted(summits, s)
        for k in (i - 1, i):
            k = np.clip(k, 0, len(summits) - 1)
            lo, hi = summits[k] - WIDTH // 4, summits[k] + WIDTH // 4
            assert not np.any((s < hi) & (e > lo))
    # without adapting, the same request yields fewer negatives, not an error
    p2 = negatives.Params(**{**p.__dict__, "output_dir": str(d / "neg2"), "adapt": False})
    out2 = negatives.run(p2)
    assert out2.n_negatives < out.n_negatives


def test_negatives_fail_only_when_nothing_is_possible(tmp_path):
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 30_000))
    (tmp_path / "g.fa").write_text(">c1\n" + seq + "\n")
    peaks = "".join(f"c1\t{s}\t{s + 100}\n" for s in range(0, 30_000, 300))
    (tmp_path / "p.bed").write_text(peaks)
    p = negatives.Params(genome=str(tmp_path / "g.fa"), peaks=str(tmp_path / "p.bed"),
                         output_dir=str(tmp_path / "o"), width=2114)
    with pytest.raises(InputError, match="lower 'width'"):
        negatives.run(p)
