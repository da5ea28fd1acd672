"""A semi-synthetic data set with known answers.

The genome is, by default, **real genomic sequence**: the backbone shipped with the package
(``demo/data/ce_chrX_tail.fa.gz``, 1.6 Mb of C. elegans chrX, AT-rich, with repeats and real
k-mer statistics) cut into ``n_chroms`` consecutive pieces named ``chr1``, ``chr2``, ... so
that training, validation and test chromosomes exist. A short, low-information motif is as
hard to learn there as in a real genome: the backbone holds many unbound look-alikes.
``backbone=None`` gives random DNA instead (isochore-like GC blocks, CpG depletion).

Real JASPAR motifs are planted at peak sites following a known grammar:

- every peak holds one "unit": one motif alone, or a cooperative pair (two motifs at a fixed
  spacing and orientation whose signal is larger than the sum of its parts); a fraction of
  the peaks hold a second, off-centre single site;
- each transcription factor has a strength (reads one site recruits: its *effect*) and a
  stranded ChIP-nexus-like footprint: plus-strand 5' ends pile up just upstream of the motif,
  minus-strand ends just downstream, on top of a broad peak-shaped component;
- background instances of every motif are planted away from the peaks, each recruiting only
  ``background_effect`` of its factor's strength (weakly bound sites, as in real genomes).

What recruits the reads inside a peak is ``binding``:

- ``"planted"``: the planted sites only, each its factor's full strength; the backbone's own
  matches of the same matrices recruit nothing, however good. A model that reads the
  sequence cannot tell a planted site from an equally good chance match, so the peaks'
  counts are only partly predictable from sequence;
- ``"affinity"`` (as in real genomes, where binding follows the sequence's affinity):
  every match of a planted factor's matrix within 270 bp of the summit, planted or not,
  recruits ``strength x 2 ** (score - s0)`` reads, ``score`` being its log2-odds score and
  ``s0`` the mean score of the sites the factor's sites are drawn from (so a typical planted
  site keeps its strength); the factor is capped at ``affinity_cap`` and matches below
  ``affinity_min`` recruit nothing. The truth file lists every bound match
  (``bound``) and each peak's summed binding.

Everywhere else the genome is the backbone's own sequence. Reads are drawn from the
expected profiles (Poisson per base) plus a uniform background and written as a
coordinate-sorted, indexed BAM (36 bp single-end reads; the 5' end is the read start on the
plus strand and the read end on the minus strand). Control reads are uniform with a slight
GC-dependent bias.

For ATAC-like data (``assay="atac"``), fragments are drawn around the planted sites, both ends
of every fragment being Tn5 insertions whose positions are re-weighted by a Tn5-like sequence
preference (:func:`tn5_weights`, as a motif :func:`tn5_motif`); they are written as a
paired-end BAM.

Everything is seeded: the same :class:`DemoSpec` gives byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.fasta import ALPHABET
from bpnetkit.io.meme import Motif, information_content


@dataclass
class TFSpec:
    """One planted transcription factor.

    Attributes
    ----------
    name : str
        Motif identifier or alternative name in the motif database (e.g. ``"CTCF"``).
    strength : float
        Mean reads one site recruits on each strand (before the per-peak variation): its
        effect.
    footprint_offset : int
        Distance of the strand-specific 5'-end piles from the motif centre.
    footprint_scale : float
        Width (Laplace scale, bp) of the piles.
    sharpen : float or None
        Exponent applied to this motif's PWM before sampling sites (None: the spec's
        ``sharpen``; 1: sites drawn from the JASPAR matrix as it is).
    """

    name: str
    strength: float
    footprint_offset: int = 10
    footprint_scale: float = 5.0
    sharpen: float | None = None


@dataclass
class DemoSpec:
    """What :func:`simulate` builds.

    Attributes
    ----------
    n_chroms, chrom_length : int
        Genome size: ``n_chroms`` chromosomes (``chr1``, ...) of ``chrom_length`` bp.
    backbone : str or None
        Where the genome sequence comes from: ``"ce_chrX"`` (the real C. elegans sequence
        shipped with bpnetkit, 1,618,849 bp), the path of a FASTA file (plain or gzipped;
        its records are concatenated), or None for random DNA.
    backbone_offset : int
        First backbone position used; the chromosomes are consecutive pieces from there.
    n_peaks : int
        Peaks in the whole genome.
    tfs : list of TFSpec
        Planted factors, strongest first.
    pair : tuple of (int, int, int) or None
        Cooperative pair: (index of first TF, index of second TF, centre-to-centre spacing).
    pair_boost : float
        Extra signal of the pair over the sum of its members.
    pair_fraction : float
        Fraction of peaks holding the pair.
    secondary_fraction : float
        Fraction of peaks with an extra single site 45-110 bp off the centre.
    background_per_kb : float
        Uniform background reads per kb (per strand, experiment).
    control_per_kb : float
        Control reads per kb.
    peak_sd : float
        Log-normal spread of the per-peak signal.
    sharpen : float
        Exponent applied to PWM probabilities before sampling sites (>1: closer to consensus,
        i.e. more learnable).
    assay : {"chip-nexus", "atac"}
        Stranded 5' ends (BAM) or ATAC-like fragments with a Tn5 bias (paired-end BAM).
    atac_oversampling : float
        ATAC: insertions drawn per expected read before the Tn5 preference thins them.
    background_sites_per_kb : float
        Background (non-peak) instances of the planted motifs per kb, spread over the
        motifs evenly, at least ``in_window`` from every peak summit.
    background_effect : float
        Fraction of its factor's strength a background instance recruits.
    in_window : int
        Peaks are kept at least this far apart and from chromosome ends.
    random_state : int
        Seed.
    motif_db : str or None
        MEME file the motifs come from (None: the built-in JASPAR database).
    binding : {"planted", "affinity"}
        What recruits the reads in a peak: the planted sites only, or every match of a
        planted matrix by its affinity (module docstring).
    affinity_cap, affinity_min : float
        ``binding="affinity"``: the largest relative affinity (times the factor's strength)
        and the smallest one that still recruits reads.
    """

    n_chroms: int = 4
    chrom_length: int = 300_000
    backbone: str | None = "ce_chrX"
    backbone_offset: int = 0
    n_peaks: int = 400
    tfs: list[TFSpec] = field(default_factory=lambda: [
        TFSpec("CTCF", 300.0, 9, 4.0),
        TFSpec("REST", 200.0, 12, 5.0),
        # FOXP1: short (7 bp) and low-information (9.7 bits); GTAAACA look-alikes abound in
        # the AT-rich backbone, so the model must learn which ones are bound
        TFSpec("MA0481.4", 150.0, 7, 4.0),
        TFSpec("Pou5f1::Sox2", 120.0, 8, 4.0),
    ])
    pair: tuple[int, int, int] | None = (0, 3, 30)
    pair_boost: float = 150.0
    pair_fraction: float = 0.2
    secondary_fraction: float = 0.5
    background_per_kb: float = 1.0
    control_per_kb: float = 30.0
    peak_sd: float = 0.25
    sharpen: float = 2.0
    assay: str = "chip-nexus"
    atac_oversampling: float = 4.0
    background_sites_per_kb: float = 0.05
    background_effect: float = 0.1
    in_window: int = 1000
    random_state: int = 0
    motif_db: str | None = None
    binding: str = "planted"
    affinity_cap: float = 8.0
    affinity_min: float = 0.05


BINDINGS = ("planted", "affinity")
#: ``binding="affinity"``: matches this far from the window's edges recruit (their piles
#: stay inside the simulated 600-bp window)
AFFINITY_EDGE = 30


@dataclass
class DemoData:
    """Paths of the simulated files."""

    genome: str
    chrom_sizes: str
    reads: str
    control: str | None
    peaks: str
    truth: str
    motifs: str
    chroms: list[str]

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


# -- genome --------------------------------------------------------------------------------
def random_genome(n_chroms: int, length: int, rng: np.random.Generator,
                  block: tuple[int, int] = (3000, 30000)) -> dict[str, np.ndarray]:
    """Random chromosomes as uint8 codes 0-3 with blockwise GC and CpG depletion."""
    chroms = {}
    for c in range(n_chroms):
        codes = np.empty(length, dtype=np.uint8)
        pos = 0
        while pos < length:
            size = int(rng.integers(*block))
            gc = float(np.clip(rng.beta(8, 11), 0.3, 0.65))  # mean ~0.42
            n = min(size, length - pos)
            p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
            codes[pos:pos + n] = rng.choice(4, size=n, p=p)
            pos += n
        # CpG depletion: most CG become CA or TG
        cg = np.where((codes[:-1] == 1) & (codes[1:] == 2))[0]
        drop = cg[rng.random(cg.size) < 0.75]
        half = rng.random(drop.size) < 0.5
        codes[drop[half] + 1] = 0  # CG -> CA
        codes[drop[~half]] = 3  # CG -> TG
        chroms[f"chr{c + 1}"] = codes
    return chroms


BACKBONES = {"ce_chrX": "ce_chrX_tail.fa.gz"}
"""Backbones shipped with bpnetkit (``demo/data``): name -> file."""


def backbone_path(backbone: str) -> Path:
    """Path of a backbone: a shipped one by name (:data:`BACKBONES`) or a FASTA file."""
    if backbone in BACKBONES:
        from importlib.resources import files

        return Path(str(files("bpnetkit.demo") / "data" / BACKBONES[backbone]))
    path = Path(backbone)
    if not path.is_file():
        raise InputError(f"demo backbone {backbone!r} is neither a shipped backbone "
                         f"({', '.join(BACKBONES)}) nor a FASTA file; pass one of those or "
                         f"None for random DNA.")
    return path


def load_backbone(backbone: str) -> np.ndarray:
    """The backbone's sequence as uint8 codes 0-3 (records concatenated; non-ACGT letters
    become random bases drawn with a fixed seed)."""
    import gzip

    path = backbone_path(backbone)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        raw = b"".join(line.strip() for line in fh if not line.startswith(b">"))
    lut = np.full(256, 255, dtype=np.uint8)
    for i, ch in enumerate(b"ACGT"):
        lut[ch] = i
        lut[ch + 32] = i  # lower case
    codes = lut[np.frombuffer(raw, dtype=np.uint8)]
    bad = codes == 255
    if bad.any():
        codes[bad] = np.random.default_rng(0).integers(0, 4, int(bad.sum()))
    return codes


def backbone_genome(n_chroms: int, length: int, backbone: str, offset: int = 0
                    ) -> dict[str, np.ndarray]:
    """``n_chroms`` consecutive pieces of ``length`` bp of a backbone, named ``chr1``, ...

    Raises
    ------
    InputError
        When the backbone is shorter than ``offset + n_chroms * length``.
    """
    codes = load_backbone(backbone)
    need = offset + n_chroms * length
    if need > codes.size:
        raise InputError(f"demo backbone {backbone!r} has {codes.size:,} bp, fewer than the "
                         f"{need:,} needed for {n_chroms} chromosomes of {length:,} bp from "
                         f"offset {offset:,}; lower n_chroms or chrom_length.")
    return {f"chr{c + 1}": codes[offset + c * length: offset + (c + 1) * length].copy()
            for c in range(n_chroms)}


def _sharpened(pwm: np.ndarray, power: float) -> np.ndarray:
    p = np.power(np.clip(pwm, 1e-6, 1), power)
    return p / p.sum(axis=1, keepdims=True)


def _sample_site(pwm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cum = np.cumsum(pwm, axis=1)
    u = rng.random((pwm.shape[0], 1))
    return np.minimum((u > cum).sum(axis=1), 3).astype(np.uint8)


def _laplace(x: np.ndarray, mu: float, b: float) -> np.ndarray:
    d = np.exp(-np.abs(x - mu) / b)
    return d / d.sum()


def _gauss(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    d = np.exp(-0.5 * ((x - mu) / sd) ** 2)
    return d / d.sum()


# -- Tn5 bias ------------------------------------------------------------------------------
# A Tn5-like preference over the 9 bp around an insertion (G at -1... a loose GTNYRNRAC-like
# palindrome); weights multiply the insertion rate.
_TN5 = np.array([
    # A    C    G    T
    [1.0, 1.0, 1.6, 0.8],
    [0.8, 1.0, 1.0, 1.6],
    [1.0, 1.0, 1.0, 1.0],
    [0.7, 1.4, 0.8, 1.4],
    [1.0, 1.0, 1.0, 1.0],
    [1.4, 0.8, 1.4, 0.7],
    [1.0, 1.0, 1.0, 1.0],
    [1.6, 1.0, 1.0, 0.8],
    [0.8, 1.6, 1.0, 1.0],
])


def tn5_motif() -> Motif:
    """The simulated Tn5 preference as a :class:`~bpnetkit.io.meme.Motif` (``Tn5_bias``):
    each row is the insertion weight times a uniform base composition, normalised, i.e. the
    base composition around kept insertions. Match MoDISco patterns against it to see
    whether a model learned the enzyme's bias."""
    return Motif("Tn5_bias", _TN5 / _TN5.sum(axis=1, keepdims=True), alt_name="Tn5")


def tn5_weights(codes: np.ndarray) -> np.ndarray:
    """Relative Tn5 insertion preference at every position of a code array."""
    k = _TN5.shape[0]
    w = np.ones(codes.size, dtype=np.float64)
    half = k // 2
    for j in range(k):
        shifted = np.roll(codes, half - j)
        w *= _TN5[j][shifted]
    return w


# -- writing -------------------------------------------------------------------------------
def write_fasta(chroms: dict[str, np.ndarray], path: Path, width: int = 60) -> None:
    """Write chromosomes as FASTA and index it (``.fai``)."""
    import pysam

    lut = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
    with open(path, "w") as fh:
        for name, codes in chroms.items():
            fh.write(f">{name}\n")
            seq = lut[codes].tobytes().decode()
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")
    pysam.faidx(str(path))


def _write_bam(path: Path, chroms: dict[str, np.ndarray], reads: dict[str, tuple],
               read_length: int = 36, paired: bool = False) -> None:
    """Write sorted reads: per chrom (start, end, is_reverse[, mate info]) arrays."""
    import pysam

    names = list(chroms)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": n, "LN": int(chroms[n].size)} for n in names],
              "PG": [{"ID": "bpnetkit-demo", "PN": "bpnetkit demo"}]}
    lut = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
    qual = pysam.qualitystring_to_array("I" * read_length)
    tmp = path.with_suffix(".unsorted.bam")
    with pysam.AlignmentFile(str(tmp), "wb", header=header) as out:
        for tid, name in enumerate(names):
            data = reads.get(name)
            if data is None:
                continue
            starts, rev, mates, tlens, ids = data
            codes = chroms[name]
            for s, r, m, t, q in zip(starts.tolist(), rev.tolist(), mates.tolist(),
                                     tlens.tolist(), ids.tolist()):
                a = pysam.AlignedSegment()
                a.query_name = f"{name}.{q}"
                a.query_sequence = lut[codes[s:s + read_length]].tobytes().decode()
                a.flag = 16 if r else 0
                if paired:
                    a.flag |= 1 | 2 | (32 if not r else 0) | (64 if not r else 128)
                    a.next_reference_id = tid
                    a.next_reference_start = int(m)
                    a.template_length = int(t)
                a.reference_id = tid
                a.reference_start = int(s)
                a.mapping_quality = 60
                a.cigartuples = [(0, read_length)]
                a.query_qualities = qual
                out.write(a)
    pysam.sort("-o", str(path), str(tmp))
    tmp.unlink()
    pysam.index(str(path))


def _expand(counts: np.ndarray, offset: int) -> np.ndarray:
    """Positions repeated by their counts."""
    idx = np.nonzero(counts)[0]
    return np.repeat(idx + offset, counts[idx])


# -- the simulation ------------------------------------------------------------------------
def _load_motifs(spec: DemoSpec) -> list:
    from bpnetkit.motifs.database import load_motif_db, select_motifs

    db = load_motif_db(spec.motif_db)
    return select_motifs(db, [t.name for t in spec.tfs])


def simulate(out_dir: str | Path, spec: DemoSpec | None = None) -> DemoData:
    """Build the demo genome, peaks, reads and ground truth in ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created).
    spec : DemoSpec or None
        What to simulate; None uses the defaults.

    Returns
    -------
    DemoData
        Paths of the genome (FASTA + .fai), chromosome sizes, reads BAM, control BAM,
        true peaks (narrowPeak), ground truth JSON and a MEME file of the planted motifs.
    """
    from bpnetkit.io.meme import write_meme

    spec = spec or DemoSpec()
    if spec.assay not in ("chip-nexus", "atac"):
        raise InputError(f"demo assay must be 'chip-nexus' or 'atac', got {spec.assay!r}.")
    if len(spec.tfs) < 1:
        raise InputError("demo needs at least one planted motif.")
    if spec.binding not in BINDINGS:
        raise InputError(f"demo binding must be one of {list(BINDINGS)}, got "
                         f"{spec.binding!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.random_state)
    motifs = _load_motifs(spec)
    pwms = [_sharpened(m.pwm, spec.sharpen if t.sharpen is None else t.sharpen)
            for m, t in zip(motifs, spec.tfs)]

    if spec.backbone is None:
        chroms = random_genome(spec.n_chroms, spec.chrom_length, rng)
    else:
        chroms = backbone_genome(spec.n_chroms, spec.chrom_length, spec.backbone,
                                 spec.backbone_offset)
    names = list(chroms)
    binders = _binders(motifs, pwms, chroms) if spec.binding == "affinity" else None
    bound: list[tuple] = []  # binding="affinity": (chrom, centre, tf, strand, affinity, peak)
    peak_binding: list[float] = []

    # peak positions: spaced at least in_window apart, away from the ends
    margin = spec.in_window
    per_chrom = np.bincount(rng.integers(0, len(names), spec.n_peaks), minlength=len(names))
    peaks = []  # (chrom, summit, unit)
    n_units = len(spec.tfs) + (1 if spec.pair else 0)
    unit_p = np.full(len(spec.tfs), (1 - (spec.pair_fraction if spec.pair else 0))
                     / len(spec.tfs))
    if spec.pair:
        unit_p = np.append(unit_p, spec.pair_fraction)
    for name, n in zip(names, per_chrom):
        slots = (spec.chrom_length - 2 * margin) // spec.in_window
        if n > slots:
            raise InputError(f"demo: {n} peaks do not fit on {name} of {spec.chrom_length} bp "
                             f"with windows of {spec.in_window}; lower n_peaks or raise "
                             f"chrom_length.")
        chosen = np.sort(rng.choice(slots, size=n, replace=False))
        for s in chosen:
            summit = margin + s * spec.in_window + spec.in_window // 2 + \
                int(rng.integers(-spec.in_window // 4, spec.in_window // 4))
            peaks.append((name, int(summit), int(rng.choice(n_units, p=unit_p))))

    # plant motifs and compute expected profiles
    half = 300
    x = np.arange(-half, half)
    sites = []  # (chrom, start, end, tf index, strand, peak index)
    exp_plus: dict[str, list] = {n: [] for n in names}
    exp_minus: dict[str, list] = {n: [] for n in names}
    for i, (name, summit, unit) in enumerate(peaks):
        codes = chroms[name]
        members = [unit] if unit < len(spec.tfs) else [spec.pair[0], spec.pair[1]]
        jitter = int(rng.integers(-20, 21))
        centres = [summit + jitter] if len(members) == 1 else \
            [summit + jitter - spec.pair[2] // 2, summit + jitter + spec.pair[2] // 2]
        strand_pair = int(rng.integers(2))
        if rng.random() < spec.secondary_fraction:
            # a secondary single site off-centre: peaks hold clusters of sites, so the
            # model must read the sequence rather than assume "signal at the centre"
            off = int(rng.integers(45, 110)) * (1 if rng.random() < 0.5 else -1)
            members = members + [int(rng.integers(len(spec.tfs)))]
            centres = centres + [summit + jitter + off]
        scale = float(np.exp(rng.normal(0, spec.peak_sd)))
        lam_p = np.zeros(2 * half)
        lam_m = np.zeros(2 * half)
        sites_here: list[int] = []
        for tf_i, c in zip(members, centres):
            pwm = pwms[tf_i]
            is_pair_member = unit >= len(spec.tfs) and len(sites_here) < 2
            strand = strand_pair if is_pair_member else int(rng.integers(2))
            sites_here.append(tf_i)
            site = _sample_site(pwm, rng)
            if strand == 1:
                site = (3 - site)[::-1]
            L = site.size
            start = c - L // 2
            codes[start:start + L] = site
            sites.append((name, int(start), int(start + L), int(tf_i), "+-"[strand], i))
            if binders is None:
                _add_footprint(lam_p, lam_m, x, spec.tfs[tf_i], c - summit,
                               spec.tfs[tf_i].strength * scale)
        if binders is not None:  # every match in the window, by its affinity
            here = _bound_matches(codes, summit, half, binders, spec)
            for tf_i, rel, strand, aff in here:
                _add_footprint(lam_p, lam_m, x, spec.tfs[tf_i], rel,
                               spec.tfs[tf_i].strength * aff * scale)
                bound.append((name, summit + rel, tf_i, strand, aff, i))
            peak_binding.append(sum(spec.tfs[t].strength * a for t, _r, _s, a in here))
        if unit >= len(spec.tfs):
            b = spec.pair_boost * scale
            lam_p += b * _laplace(x, jitter - spec.pair[2] // 2 - 6, 6.0)
            lam_m += b * _laplace(x, jitter + spec.pair[2] // 2 + 6, 6.0)
        exp_plus[name].append((summit - half, lam_p))
        exp_minus[name].append((summit - half, lam_m))

    _plant_background(chroms, peaks, pwms, spec, rng, sites, exp_plus, exp_minus, x)

    # reads
    if spec.assay == "chip-nexus":
        read_sets = _nexus_reads(chroms, exp_plus, exp_minus, spec, rng)
        control_sets = _control_reads(chroms, peaks, spec, rng)
        _write_bam(out / "reads.bam", chroms, read_sets)
        _write_bam(out / "control.bam", chroms, control_sets)
        control = str(out / "control.bam")
    else:
        read_sets = _atac_fragments(chroms, exp_plus, exp_minus, spec, rng)
        _write_bam(out / "reads.bam", chroms, read_sets, paired=True)
        control = None

    write_fasta(chroms, out / "genome.fa")
    with open(out / "genome.chrom.sizes", "w") as fh:
        for name, codes in chroms.items():
            fh.write(f"{name}\t{codes.size}\n")

    # true peaks as narrowPeak (summit column = offset from start)
    with open(out / "peaks.narrowPeak", "w") as fh:
        for i, (name, summit, _unit) in sorted(enumerate(peaks), key=lambda t: (t[1][0],
                                                                              t[1][1])):
            s, e = summit - 150, summit + 150
            fh.write(f"{name}\t{s}\t{e}\tpeak{i}\t1000\t.\t10\t-1\t-1\t{summit - s}\n")

    planted = [dict(tf=asdict(t), motif_id=m.name, motif_alt_name=m.alt_name,
                    consensus=m.consensus(), length=m.length,
                    information_content=round(float(information_content(m.pwm).sum()), 2),
                    n_sites=sum(1 for st in sites if st[3] == k and st[5] >= 0),
                    n_background_sites=sum(1 for st in sites if st[3] == k and st[5] < 0),
                    expected_rank=k + 1)
               for k, (t, m) in enumerate(zip(spec.tfs, motifs))]
    truth = {"spec": {k: v for k, v in asdict(spec).items() if k != "tfs"},
             "planted": planted,
             "grammar": ("one motif per peak, or the cooperative pair "
                         f"{spec.tfs[spec.pair[0]].name}+{spec.tfs[spec.pair[1]].name} at "
                         f"{spec.pair[2]} bp (same strand)" if spec.pair else
                         "one motif per peak") + f"; {spec.secondary_fraction:.0%} of peaks "
                         "hold an extra single site 45-110 bp off the centre; background "
                         "instances (peak -1) recruit "
                         f"{spec.background_effect:g} of their factor's strength",
             "binding": spec.binding,
             "peaks": [dict(chrom=c, summit=sm, peak=i) for i, (c, sm, _u) in
                       enumerate(peaks)],
             "sites": [dict(chrom=c, start=s, end=e, tf=spec.tfs[t].name, strand=st, peak=p)
                       for c, s, e, t, st, p in sites]}
    if binders is not None:
        truth["grammar"] += ("; inside the peaks every match of a planted matrix recruits by "
                             "its affinity (binding='affinity'), planted or not")
        for peak, b in zip(truth["peaks"], peak_binding):
            peak["binding"] = round(float(b), 3)
        truth["bound"] = [dict(chrom=c, centre=int(ce), tf=spec.tfs[t].name, strand=st,
                               affinity=round(float(a), 4), peak=p)
                          for c, ce, t, st, a, p in bound]
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    write_meme(motifs, out / "planted_motifs.meme")
    return DemoData(genome=str(out / "genome.fa"), chrom_sizes=str(out / "genome.chrom.sizes"),
                    reads=str(out / "reads.bam"), control=control,
                    peaks=str(out / "peaks.narrowPeak"), truth=str(out / "truth.json"),
                    motifs=str(out / "planted_motifs.meme"), chroms=names)


def _add_footprint(lam_p: np.ndarray, lam_m: np.ndarray, x: np.ndarray, tf: TFSpec,
                   rel: int, s: float) -> None:
    """Add one bound site's expected 5' ends (``s`` reads per strand) at ``rel`` from the
    window's centre: strand-specific piles plus a broad peak-shaped part."""
    lam_p += s * (0.7 * _laplace(x, rel - tf.footprint_offset, tf.footprint_scale)
                  + 0.3 * _gauss(x, rel, 60))
    lam_m += s * (0.7 * _laplace(x, rel + tf.footprint_offset, tf.footprint_scale)
                  + 0.3 * _gauss(x, rel, 60))


def _binders(motifs: list, pwms: list[np.ndarray], chroms: dict[str, np.ndarray]
             ) -> list[tuple[np.ndarray, float]]:
    """Per planted factor: its matrix's log2-odds against the genome's base composition and
    the mean score of the sites it is planted as (drawn from ``pwms``)."""
    counts = sum(np.bincount(c, minlength=4) for c in chroms.values())
    bg = counts / counts.sum()
    out = []
    for m, pwm in zip(motifs, pwms):
        lo = m.log_odds(bg, pseudocount=1e-3)
        out.append((lo, float((pwm * lo).sum())))
    return out


def strand_scores(x: np.ndarray, log_odds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds scores of a ``(length, 4)`` matrix at every start of a ``(L, 4)`` one-hot
    sequence, on the forward and on the reverse strand: two arrays of ``L - length + 1``."""
    win = np.lib.stride_tricks.sliding_window_view(x, log_odds.shape)[:, 0]
    return (np.einsum("nlk,lk->n", win, log_odds),
            np.einsum("nlk,lk->n", win, log_odds[::-1, ::-1]))


def _bound_matches(codes: np.ndarray, summit: int, half: int,
                   binders: list[tuple[np.ndarray, float]], spec: DemoSpec
                   ) -> list[tuple[int, int, str, float]]:
    """Every match of a planted factor's matrix (either strand) whose centre lies within
    ``half - AFFINITY_EDGE`` of ``summit``, with relative affinity
    ``min(2 ** (score - s0), affinity_cap)`` of at least ``affinity_min``:
    ``(tf index, centre - summit, strand, affinity)``."""
    eye = np.eye(4)
    out = []
    for tf_i, (lo, ref) in enumerate(binders):
        L = lo.shape[0]
        first = summit - half + AFFINITY_EDGE - L // 2  # start of the first match
        fwd, rev = strand_scores(eye[codes[first:summit + half - AFFINITY_EDGE - L // 2 + L - 1]],
                                 lo)
        aff = np.minimum(np.exp2(np.maximum(fwd, rev) - ref), spec.affinity_cap)
        for j in np.nonzero(aff >= spec.affinity_min)[0].tolist():
            out.append((tf_i, first + j + L // 2 - summit, "+" if fwd[j] >= rev[j] else "-",
                        float(aff[j])))
    return out


def _plant_background(chroms, peaks, pwms, spec, rng, sites, exp_plus, exp_minus, x):
    """Plant background instances away from the peaks; each adds a weak footprint."""
    n_tf = len(spec.tfs)
    half = x.size // 2
    for name, codes in chroms.items():
        L = codes.size
        n = int(rng.poisson(spec.background_sites_per_kb * L / 1000))
        if n == 0:
            continue
        summits = np.array(sorted(s for c, s, _u in peaks if c == name), dtype=np.int64)
        cand = rng.integers(half + 50, L - half - 50, 4 * n)
        if summits.size:
            j = np.clip(np.searchsorted(summits, cand), 1, summits.size) - 1
            near = np.minimum(np.abs(cand - summits[j]),
                              np.abs(cand - summits[np.minimum(j + 1, summits.size - 1)]))
            cand = cand[near > spec.in_window]
        cand = np.unique(cand)
        # no two background sites within a motif's reach of each other
        cand = cand[np.concatenate([[True], np.diff(cand) > 60])] if cand.size else cand
        cand = rng.permutation(cand)[:n]
        for c in np.sort(cand).tolist():
            tf_i = int(rng.integers(n_tf))
            site = _sample_site(pwms[tf_i], rng)
            strand = int(rng.integers(2))
            if strand == 1:
                site = (3 - site)[::-1]
            start = c - site.size // 2
            codes[start:start + site.size] = site
            sites.append((name, int(start), int(start + site.size), tf_i, "+-"[strand], -1))
            tf = spec.tfs[tf_i]
            s = tf.strength * spec.background_effect
            exp_plus[name].append((c - half, s * _laplace(x, -tf.footprint_offset,
                                                          tf.footprint_scale)))
            exp_minus[name].append((c - half, s * _laplace(x, tf.footprint_offset,
                                                           tf.footprint_scale)))


def _profile_counts(chroms, exp, rng):
    out = {}
    for name, items in exp.items():
        total = np.zeros(chroms[name].size, dtype=np.float64)
        for start, lam in items:
            total[start:start + lam.size] += lam
        out[name] = rng.poisson(total)
    return out


def _nexus_reads(chroms, exp_plus, exp_minus, spec, rng, read_length: int = 36):
    cp = _profile_counts(chroms, exp_plus, rng)
    cm = _profile_counts(chroms, exp_minus, rng)
    reads = {}
    for name, codes in chroms.items():
        L = codes.size
        bg = rng.poisson(spec.background_per_kb * L / 1000, size=2)
        five_p = np.concatenate([_expand(cp[name], 0), rng.integers(0, L, bg[0])])
        five_m = np.concatenate([_expand(cm[name], 0), rng.integers(0, L, bg[1])])
        five_p = five_p[five_p < L - read_length]
        five_m = five_m[five_m >= read_length]
        starts = np.concatenate([five_p, five_m - read_length + 1])
        rev = np.concatenate([np.zeros(five_p.size, bool), np.ones(five_m.size, bool)])
        order = np.argsort(starts, kind="stable")
        z = np.zeros(order.size, dtype=np.int64)
        reads[name] = (starts[order], rev[order], z, z, order)
    return reads


def _control_reads(chroms, peaks, spec, rng, read_length: int = 36):
    reads = {}
    for name, codes in chroms.items():
        L = codes.size
        gc = np.convolve(((codes == 1) | (codes == 2)).astype(float), np.ones(200) / 200,
                         mode="same")
        w = 0.5 + gc  # mild GC bias, no enrichment at peaks
        w /= w.sum()
        n = rng.poisson(spec.control_per_kb * L / 1000)
        five = rng.choice(L, size=n, p=w)
        rev = rng.random(n) < 0.5
        starts = np.where(rev, five - read_length + 1, five)
        ok = (starts >= 0) & (starts < L - read_length)
        starts, rev = starts[ok], rev[ok]
        order = np.argsort(starts, kind="stable")
        z = np.zeros(order.size, dtype=np.int64)
        reads[name] = (starts[order], rev[order], z, z, order)
    return reads


def _atac_fragments(chroms, exp_plus, exp_minus, spec, rng, read_length: int = 36,
                    candidates: int = 16):
    """Paired-end fragments whose two ends are Tn5 insertions re-weighted by sequence.

    The Tn5 preference is centred on each end's insertion position as ATAC pipelines count it
    (the read's 5' end shifted +4 on the plus strand, -4 on the minus strand). The left end
    follows the expected profile, thinned by the preference; the right end is chosen among
    ``candidates`` fragment lengths drawn from the length distribution with probability
    proportional to the preference at each candidate's end (sampling-importance-resampling),
    so every fragment is kept and both ends carry the enzyme's preference."""
    # Tn5 preference keeps a fraction of the insertions: draw more to start with
    scale = spec.atac_oversampling
    cp = _profile_counts(chroms, {k: [(s, lam * scale) for s, lam in v]
                                  for k, v in exp_plus.items()}, rng)
    cm = _profile_counts(chroms, {k: [(s, lam * scale) for s, lam in v]
                                  for k, v in exp_minus.items()}, rng)
    reads = {}
    for name, codes in chroms.items():
        L = codes.size
        bias = tn5_weights(codes)
        ins = cp[name] + cm[name]
        bg = rng.poisson(spec.background_per_kb * 2 * L / 1000)
        left = np.concatenate([_expand(ins, 0), rng.integers(0, L, bg)])
        # keep insertions with probability proportional to the Tn5 preference
        keep = rng.random(left.size) < bias[np.clip(left, 0, L - 1)] / bias.max()
        left = left[keep]
        # the other end: one of `candidates` lengths, weighted by the preference at its end
        cand = np.clip(rng.gamma(2.0, 60.0, (left.size, candidates)).astype(np.int64) + 40,
                       40, 600)
        w = bias[np.clip(left[:, None] + cand, 0, L - 1)]
        cum = np.cumsum(w, axis=1)
        pick = (cum < rng.random(left.size)[:, None] * cum[:, -1:]).sum(axis=1)
        cut_right = left + cand[np.arange(left.size), pick]
        # reads: plus-strand 5' end 4 bp before the left cut, minus-strand 5' end 4 bp after
        # the right cut (so +4/-4 shifts put both back on the cuts)
        left, right = left - 4, cut_right + 5
        ok = (left >= 0) & (right < L - read_length)
        left, right = left[ok], right[ok]
        r1 = left
        r2 = right - read_length
        starts = np.concatenate([r1, r2])
        rev = np.concatenate([np.zeros(r1.size, bool), np.ones(r2.size, bool)])
        mates = np.concatenate([r2, r1])
        tl = np.concatenate([right - left, -(right - left)])
        ids = np.concatenate([np.arange(r1.size), np.arange(r1.size)])
        order = np.argsort(starts, kind="stable")
        reads[name] = (starts[order], rev[order], mates[order], tl[order], ids[order])
    return reads
