"""Synthetic attributions with planted motifs (ground truth for seqlets, MoDISco, Tomtom).

:func:`planted_attributions` draws random sequences, writes motif instances sampled from
their PWMs at random non-overlapping positions (either strand), and builds hypothetical
contributions that are information-weighted probabilities at the planted positions and small
Gaussian noise elsewhere. It is used by the tests and benchmarks of the motif modules, and
is handy to check a motif pipeline end to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bpnetkit.errors import InputError
from bpnetkit.io.meme import Motif


@dataclass
class PlantedSet:
    """Sequences, hypothetical contributions and the planted sites.

    ``sites`` rows are ``(example, start, end, motif index, strand)`` with strand +1/-1.
    """

    one_hot: np.ndarray
    hypothetical: np.ndarray
    sites: np.ndarray
    motifs: list[Motif]


def planted_attributions(motifs: Sequence[Motif], n: int = 300, length: int = 200,
                         per_sequence: tuple[int, int] = (1, 2), noise: float = 0.02,
                         scale: float = 1.0, random_state: int = 0) -> PlantedSet:
    """Random sequences with motif instances and matching hypothetical contributions.

    Parameters
    ----------
    motifs : sequence of Motif
        Motifs to plant; each instance picks one uniformly.
    n, length : int
        Number and length of sequences.
    per_sequence : (int, int)
        Inclusive range of the number of instances per sequence.
    noise : float
        Standard deviation of the background hypothetical contributions.
    scale : float
        Multiplier of the planted contributions (probability x information content).
    random_state : int
        Seed.
    """
    rng = np.random.default_rng(random_state)
    longest = max(m.length for m in motifs)
    if longest * per_sequence[1] + 2 * per_sequence[1] > length:
        raise InputError(f"sequences of {length} bp cannot hold {per_sequence[1]} motifs of "
                         f"up to {longest} bp.")
    idx = rng.integers(0, 4, size=(n, length))
    X = np.zeros((n, 4, length), dtype=np.int8)
    X[np.arange(n)[:, None], idx, np.arange(length)[None]] = 1
    H = rng.normal(0, noise, size=(n, 4, length)).astype(np.float32)
    sites = []
    for i in range(n):
        k = int(rng.integers(per_sequence[0], per_sequence[1] + 1))
        taken = np.zeros(length, dtype=bool)
        for _ in range(k):
            mi = int(rng.integers(len(motifs)))
            m = motifs[mi]
            strand = 1 if rng.random() < 0.5 else -1
            mm = m if strand > 0 else m.reverse_complement()
            for _try in range(100):
                s = int(rng.integers(1, length - m.length - 1))
                if not taken[max(0, s - 2):s + m.length + 2].any():
                    break
            else:
                continue
            taken[s:s + m.length] = True
            X[i, :, s:s + m.length] = mm.sample(1, rng)[0]
            weights = (mm.pwm * mm.information_content()[:, None]).T * scale
            H[i, :, s:s + m.length] = weights + rng.normal(0, noise, size=weights.shape)
            sites.append((i, s, s + m.length, mi, strand))
    return PlantedSet(X, H, np.array(sites, dtype=np.int64).reshape(-1, 5), list(motifs))


def write_attribution_h5(path, one_hot: np.ndarray, hypothetical: np.ndarray,
                         chroms: Sequence[str] | None = None,
                         starts: Sequence[int] | None = None) -> None:
    """Write an attribution h5 (``raw/seq``, ``shap/seq``, ``projected_shap/seq``, row
    coordinates) with :class:`~bpnetkit.io.attributions.AttributionWriter`.

    Without ``chroms``/``starts`` the rows are named ``row<i>`` and start at 0 (what the
    readers assume for files without coordinates).
    """
    from bpnetkit.io.attributions import AttributionWriter

    n, _, length = one_hot.shape
    chroms = [str(c) for c in chroms] if chroms is not None else [f"row{i}" for i in range(n)]
    starts = np.asarray(starts if starts is not None else np.zeros(n), dtype=np.int64)
    with AttributionWriter(path, chroms, starts, starts + length, length) as w:
        w.write(0, one_hot.astype(np.int8), hypothetical)


def pwm_bpnet(motifs: Sequence[Motif], kernel: int | None = None, count_weight: float = 10.0,
              threshold: float = 0.75):
    """A :class:`~bpnetkit.models.bpnet.BPNet` with hand-set weights that detects ``motifs``.

    Stem filters ``2k`` and ``2k + 1`` are the log-odds matrices of motif ``k`` and of its
    reverse complement, with bias ``-threshold x`` the best score, so a filter fires only on
    strong matches. The single dilated layer is zero (identity residual), the profile head
    copies the summed activations to both strands, and the count head is ``count_weight x``
    the mean activation. Attributions of such a model light up exactly on motif matches.
    """
    import torch

    from bpnetkit.models.bpnet import BPNet

    longest = max(m.length for m in motifs)
    kernel = kernel or longest + (1 - longest % 2)
    if kernel < longest:
        raise InputError(f"kernel {kernel} is shorter than the longest motif ({longest}).")
    model = BPNet(n_filters=2 * len(motifs), n_layers=1, n_outputs=2, n_control_tracks=0,
                  stem_kernel_size=kernel, profile_kernel_size=5)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for i, motif in enumerate(motifs):
            for j, mm in enumerate([motif, motif.reverse_complement()]):
                lo = mm.log_odds()
                a = (kernel - mm.length) // 2
                model.iconv.weight[2 * i + j, :, a:a + mm.length] = torch.tensor(lo.T)
                model.iconv.bias[2 * i + j] = -threshold * lo.max(axis=1).sum()
        model.fconv.weight[:, :, 2] = 1.0
        model.linear.weight[:] = count_weight
    return model.eval()
