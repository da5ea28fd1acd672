"""Tiny simulated data with a planted motif, shared by the training tests."""

import numpy as np

from bpnetkit.io.fasta import ALPHABET, one_hot_encode

MOTIF = "GATAAG"


def simulate(n: int, length: int, out_len: int, seed: int = 0, stranded: bool = True,
             motif: str = MOTIF, base_rate: float = 2.0, gain: float = 40.0):
    """Random sequences; each carries 0-3 copies of ``motif`` near the centre. Counts are
    Poisson with a peak under each copy, so the total grows with the number of copies."""
    rng = np.random.default_rng(seed)
    seqs = rng.choice(list(ALPHABET), size=(n, length))
    trim = (length - out_len) // 2
    n_copies = rng.integers(0, 4, size=n)
    S = 2 if stranded else 1
    rate = np.full((n, S, out_len), base_rate / out_len)
    pos = np.arange(out_len)
    for i in range(n):
        for _ in range(n_copies[i]):
            p = int(rng.integers(trim + 5, trim + out_len - 5 - len(motif)))
            seqs[i, p:p + len(motif)] = list(motif)
            c = p - trim + len(motif) // 2
            for s in range(S):
                shift = -3 if s == 0 else 3
                rate[i, s] += gain / S * np.exp(-0.5 * ((pos - c - shift) / 3.0) ** 2) / 7.5
    y = rng.poisson(rate).astype(np.float32)
    X = np.stack([one_hot_encode("".join(s)) for s in seqs])
    return X, y, n_copies


def _write_bigwig(path, sizes: dict, tracks: dict) -> None:
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for chrom in sizes:
        v = tracks[chrom]
        nz = np.flatnonzero(v)
        if not len(nz):  # an all-zero track: write explicit zeros rather than no data
            nz = np.arange(0, len(v), 100)
        if len(nz):
            bw.addEntries(chrom, nz.astype(np.int64).tolist(), values=v[nz].astype(float).tolist(),
                          span=1)
    bw.close()


def _plant(seq: np.ndarray, pos: int, motif: str) -> None:
    seq[pos:pos + len(motif)] = list(motif)


def make_genome_dataset(tmp, chroms=("chr1", "chr2", "chr3", "chr4", "chr5"),
                        chrom_len: int = 24000, spacing: int = 200, stranded: bool = True,
                        motif: str = MOTIF, bias_motif: str | None = None,
                        bias_every: int = 60, bias_gain: float = 6.0, gain: float = 60.0,
                        base_rate: float = 0.01, seed: int = 0, zero_signal: bool = False,
                        min_copies: int = 0):
    """A tiny genome FASTA, peak/negative BEDs and signal bigWigs with planted truth.

    Every ``spacing`` bp alternately a peak (``min_copies`` to 3 copies of ``motif`` near the
    centre, reads proportional to the number of copies) or a negative (no motif). With
    ``bias_motif``, an enzyme-bias site is planted about every ``bias_every`` bp (also in peaks and
    negatives); the read rate at its centre is multiplied by ``1 + bias_gain``, as enzyme
    sequence bias acts on accessibility.

    Returns a dict of paths: genome, peaks, negatives, signals (list), split (JSON path).
    """
    import json
    from pathlib import Path

    tmp = Path(tmp)
    rng = np.random.default_rng(seed)
    sizes = {c: chrom_len for c in chroms}
    S = 2 if stranded else 1
    rates = {c: np.full((S, chrom_len), base_rate) for c in chroms}
    peaks, negs = [], []
    fasta = []
    for c in chroms:
        seq = rng.choice(list(ALPHABET), size=chrom_len)
        bias = np.ones(chrom_len)
        if bias_motif:
            for p in range(30, chrom_len - 30, bias_every):
                q = p + int(rng.integers(-15, 15))
                _plant(seq, q, bias_motif)
                bias[q + len(bias_motif) // 2] += bias_gain
        for k, centre in enumerate(range(spacing, chrom_len - spacing, spacing)):
            if k % 2 == 0:
                n = int(rng.integers(min_copies, 4))
                for _ in range(n):
                    p = centre + int(rng.integers(-30, 30 - len(motif)))
                    _plant(seq, p, motif)
                    m = p + len(motif) // 2
                    pos = np.arange(m - 15, m + 16)
                    for s in range(S):
                        shift = (-3 if s == 0 else 3) if S == 2 else 0
                        rates[c][s, pos] += gain / S * np.exp(
                            -0.5 * ((pos - m - shift) / 3.0) ** 2) / 7.5
                peaks.append((c, centre - 50, centre + 50))
            else:
                negs.append((c, centre - 50, centre + 50))
        rates[c] *= bias[None, :]
        fasta.append(f">{c}\n" + "\n".join("".join(seq[i:i + 60])
                                          for i in range(0, chrom_len, 60)))
    (tmp / "genome.fa").write_text("\n".join(fasta) + "\n")
    for name, rows in (("peaks.bed", peaks), ("negatives.bed", negs)):
        (tmp / name).write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows))
    signals = []
    for s in range(S):
        tracks = {c: (np.zeros(chrom_len) if zero_signal else
                      rng.poisson(rates[c][s]).astype(float)) for c in chroms}
        path = tmp / f"signal_{s}.bw"
        _write_bigwig(path, sizes, tracks)
        signals.append(str(path))
    split = {"train": list(chroms[1:-1]), "valid": [chroms[-1]], "test": [chroms[0]]}
    (tmp / "split.json").write_text(json.dumps(split))
    return {"genome": str(tmp / "genome.fa"), "peaks": str(tmp / "peaks.bed"),
            "negatives": str(tmp / "negatives.bed"), "signals": signals,
            "split": str(tmp / "split.json")}
