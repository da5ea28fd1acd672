"""Seqlets and MEME reading, ours next to the peers, on attributions with planted motifs.

Run ``python benchmarks/bench_motifs.py [--n 1000 --length 400 --regions 2000]``. Prints a
table: time of ours and the peer and their ratio, and for seqlets the precision (fraction of
positive seqlets on a planted site) and recall (fraction of planted sites covered).

- seqlets: ``bpnetkit.motifs.seqlets.call_seqlets`` (defaults: false discovery control,
  lengths 4..25, positive seqlets) vs ``tangermeme.seqlet.recursive_seqlets`` (threshold
  1e-3) on planted motifs;
- seqlets on noise and bumps: ``--regions`` tracks of 1 kb, pure Gaussian and Student-t(3)
  noise (false seqlets per kb) and the same with two planted rectangular bumps per region
  (``--bump-width`` bp, ``--bump-height`` noise sd; recall), ours with defaults vs tangermeme
  at its default threshold (0.01) and at 1e-3;
- MEME: ``bpnetkit.io.meme.read_meme`` vs ``memelite.io.read_meme`` on the built-in
  JASPAR database (plain text);
- Tomtom: ``bpnetkit.motifs.tomtom.tomtom_matches`` (adds q-values and sorting) vs a bare
  ``memelite.tomtom`` call, 200 seqlet queries against the database.
"""

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _timed(fn, repeat=1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _precision_recall(ex, cs, ce, sites):
    on = []
    for e, a, b in zip(ex, cs, ce):
        rows = sites[sites[:, 0] == e]
        on.append(((rows[:, 1] < b) & (rows[:, 2] > a)).any())
    cov = []
    for e, a, b, _, _ in sites:
        sel = (ex == e) & (cs < b) & (ce > a)
        cov.append(sel.any())
    return float(np.mean(on)) if on else 0.0, float(np.mean(cov))


def _noise_and_bumps(n, width, height, length=1000, seed=0):
    """Gaussian noise tracks, and the same with two rectangular bumps per row (one per half);
    sites as rows (example, start, end, 0, 0) like planted motif sites."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (n, length))
    bumped = rng.normal(0, 1, (n, length))
    sites = []
    for e in range(n):
        for lo in (0, length // 2):
            a = int(rng.integers(lo, lo + length // 2 - width))
            bumped[e, a:a + width] += height
            sites.append((e, a, a + width, 0, 0))
    return noise, bumped, np.array(sites)


def main() -> None:
    import torch
    from memelite import tomtom
    from memelite.io import read_meme as peer_read_meme
    from tangermeme.seqlet import recursive_seqlets

    from bpnetkit.io.meme import read_meme
    from bpnetkit.motifs.annotate import contribution_ppm
    from bpnetkit.motifs.database import builtin_motif_db_path, select_motifs
    from bpnetkit.motifs.seqlets import call_seqlets
    from bpnetkit.motifs.tomtom import tomtom_matches
    from bpnetkit.testing.planted import planted_attributions

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--regions", type=int, default=2000)
    parser.add_argument("--bump-width", type=int, default=10)
    parser.add_argument("--bump-height", type=float, default=3.0)
    args = parser.parse_args()

    db = read_meme(builtin_motif_db_path())
    motifs = select_motifs(db, ["CTCF", "GATA1", "SPI1"])
    ps = planted_attributions(motifs, n=args.n, length=args.length, per_sequence=(1, 3))
    scores = (ps.hypothetical * ps.one_hot).sum(axis=1)
    rows = []

    # warm-up (numba compilation) on a small input
    call_seqlets(scores[:20], max_length=25)
    recursive_seqlets(torch.tensor(scores[:20]), threshold=1e-3, max_seqlet_len=25)

    t_ours, s = _timed(lambda: call_seqlets(scores, max_length=25, sign="positive"), 3)
    t_peer, df = _timed(lambda: recursive_seqlets(torch.tensor(scores), threshold=1e-3,
                                                  max_seqlet_len=25), 3)
    p1, r1 = _precision_recall(s.example, s.core_start, s.core_end, ps.sites)
    p2, r2 = _precision_recall(df["example_idx"].to_numpy(), df["start"].to_numpy(),
                               df["end"].to_numpy(), ps.sites)
    rows.append(("seqlets (time s)", t_ours, t_peer))
    rows.append(("seqlets (count)", len(s), len(df)))
    rows.append(("seqlets precision", p1, p2))
    rows.append(("seqlets recall", r1, r2))

    noise, bumped, bump_sites = _noise_and_bumps(args.regions, args.bump_width,
                                                 args.bump_height)
    kb = args.regions  # 1-kb regions
    t_ours, sn = _timed(lambda: call_seqlets(noise), 3)
    t_peer, df = _timed(lambda: recursive_seqlets(torch.tensor(noise)), 3)
    df3 = recursive_seqlets(torch.tensor(noise), threshold=1e-3)
    rows.append(("noise seqlets/kb (vs tm 0.01)", len(sn) / kb, len(df) / kb))
    rows.append(("noise seqlets/kb (vs tm 1e-3)", len(sn) / kb, len(df3) / kb))
    rows.append(("noise seqlets (time s)", t_ours, t_peer))
    heavy = np.random.default_rng(1).standard_t(3, noise.shape)  # heavy-tailed noise
    t_ours, sh = _timed(lambda: call_seqlets(heavy), 3)
    t_peer, df = _timed(lambda: recursive_seqlets(torch.tensor(heavy), threshold=1e-3), 3)
    rows.append(("t3-noise seqlets/kb (vs tm 1e-3)", len(sh) / kb, len(df) / kb))
    rows.append(("t3-noise seqlets (time s)", t_ours, t_peer))
    t_ours, sb = _timed(lambda: call_seqlets(bumped), 3)
    t_peer, df = _timed(lambda: recursive_seqlets(torch.tensor(bumped), threshold=1e-3), 3)
    p1, r1 = _precision_recall(sb.example, sb.core_start, sb.core_end, bump_sites)
    p2, r2 = _precision_recall(df["example_idx"].to_numpy(), df["start"].to_numpy(),
                               df["end"].to_numpy(), bump_sites)
    rows.append(("bumps seqlets (time s)", t_ours, t_peer))
    rows.append(("bumps precision (vs tm 1e-3)", p1, p2))
    rows.append(("bumps recall (vs tm 1e-3)", r1, r2))

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "db.meme"
        with gzip.open(builtin_motif_db_path(), "rb") as fi, open(plain, "wb") as fo:
            shutil.copyfileobj(fi, fo)
        t_ours, _ = _timed(lambda: read_meme(plain), 5)
        t_peer, _ = _timed(lambda: peer_read_meme(str(plain)), 5)
        rows.append(("read MEME (time s)", t_ours, t_peer))

    qs = [contribution_ppm(ps.hypothetical[e, :, a:b], ps.one_hot[e, :, a:b])
          for e, a, b in zip(s.example[:200], s.core_start[:200], s.core_end[:200])]
    tomtom_matches(qs[:2], db)  # warm-up
    t_ours, _ = _timed(lambda: tomtom_matches(qs, db, n_matches=3), 2)
    t_peer, _ = _timed(lambda: tomtom([q.T for q in qs], [m.pwm.T for m in db]), 2)
    rows.append(("Tomtom 200 queries (time s)", t_ours, t_peer))

    print(f"{'measure':32s} {'bpnetkit':>12s} {'peer':>12s} {'ratio':>8s}")
    for name, a, b in rows:
        ratio = a / b if b else float("nan")
        print(f"{name:32s} {a:12.4g} {b:12.4g} {ratio:8.3f}")


if __name__ == "__main__":
    main()
