"""In-silico marginalization: the effect of inserting a motif into background sequences.

For every motif (of a MEME database, or a chosen list) the motif is written over the centre
of each background sequence: its consensus, or a fresh sample from its PWM for every
background (``insertion="sample"``). The model predicts both the backgrounds and the
inserted sequences, and per motif we report the mean change in predicted log counts
(``delta_log_counts``, mean over count outputs), the mean Jensen-Shannon distance (natural
log) between the profile distributions before and after (``profile_jsd``; softmax jointly
over strands and positions), and optionally the mean attribution (DeepLIFT/SHAP,
hypothetical x one-hot) over the inserted positions and over the same positions of the
backgrounds. Motifs are ranked by ``rank_by``.

Backgrounds are sequences given as a file (``.npy``/``.npz`` one-hot ``(N, 4, L)`` or an h5
with ``raw/seq``), or regions of a genome; with ``shuffle=True`` (default) each is replaced by
a dinucleotide shuffle of itself (which removes motifs while keeping composition). Without
any, random sequences with GC fraction ``gc`` are used.

The spacing experiment inserts motif ``a`` at the centre and motif ``b`` starting ``d``
positions after the end of ``a`` (``d`` in ``spacings``, a gap of 0 means adjacent), and
reports the joint effect next to the sum of the single effects (``epistasis`` = joint -
a alone - b alone, in log counts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from bpnetkit.errors import InputError, require_file
from bpnetkit.io.meme import Motif

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- predictions
def _control_args(model, X):
    import torch

    n_ctl = int(getattr(model, "n_control_tracks", 0) or 0)
    if n_ctl > 0:
        return (torch.zeros(X.shape[0], n_ctl, X.shape[2]),)
    return None


def _predict(model, X: np.ndarray, batch_size: int = 64, device=None
             ) -> tuple[np.ndarray, np.ndarray]:
    """``(profile_logits, log_counts)`` numpy arrays for one-hot ``X`` ``(N, 4, L)``."""
    import torch

    from bpnetkit.interpret.predict import predict

    X_t = torch.as_tensor(np.asarray(X))
    y = predict(model, X_t, args=_control_args(model, X_t), batch_size=batch_size,
                device=device)
    return (np.asarray(y[0].float().numpy(), np.float64),
            np.asarray(y[1].float().numpy(), np.float64))


def _profile_probs(logits: np.ndarray) -> np.ndarray:
    flat = logits.reshape(logits.shape[0], -1)
    flat = flat - flat.max(axis=1, keepdims=True)
    p = np.exp(flat)
    return p / p.sum(axis=1, keepdims=True)


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon distance (natural log) between distributions ``p``, ``q``."""
    m = 0.5 * (p + q)

    def kl(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(a > 0, a * np.log(a / b), 0.0)
        return t.sum(axis=1)

    return np.sqrt(np.clip(0.5 * kl(p, m) + 0.5 * kl(q, m), 0, None))


def _dinucleotide_shuffle(X: np.ndarray, random_state: int) -> np.ndarray:
    """One dinucleotide shuffle per sequence ``(N, 4, L)``."""
    from bpnetkit.interpret.shuffle import dinucleotide_shuffle

    out = np.asarray(dinucleotide_shuffle(X, n=1, random_state=random_state))
    return out[:, 0].astype(np.int8)


# ----------------------------------------------------------------------------- insertion
def insert_motif(X: np.ndarray, motif: Motif, start: int | None = None,
                 mode: Literal["consensus", "sample"] = "consensus",
                 random_state=None) -> np.ndarray:
    """Copy of ``X`` ``(N, 4, L)`` with ``motif`` written at ``start`` (default: centred)."""
    L = X.shape[2]
    if motif.length > L:
        raise InputError(f"motif '{motif.label}' ({motif.length} bp) is longer than the "
                         f"sequence window ({L} bp); use a longer window or shorter motifs.")
    if start is None:
        start = L // 2 - motif.length // 2
    if start < 0 or start + motif.length > L:
        raise InputError(f"motif '{motif.label}' at {start}..{start + motif.length} does not "
                         f"fit in the {L} bp window.")
    out = X.copy()
    if mode == "consensus":
        out[:, :, start:start + motif.length] = motif.one_hot()[None]
    elif mode == "sample":
        out[:, :, start:start + motif.length] = motif.sample(X.shape[0], random_state)
    else:
        raise InputError(f"insertion must be 'consensus' or 'sample', got {mode!r}.")
    return out


# ----------------------------------------------------------------------------- backgrounds
def load_backgrounds(path: str | None = None, regions: str | None = None,
                     genome: str | None = None, length: int = 2114, n: int = 64,
                     shuffle: bool = True, gc: float = 0.41, random_state: int = 0
                     ) -> np.ndarray:
    """Background one-hot sequences ``(n, 4, length)`` (see the module docstring)."""
    from bpnetkit.utils import as_generator

    rng = as_generator(random_state)
    X = None
    if path is not None:
        p = require_file(path, "background sequences")
        if p.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as fh:
                if "raw/seq" not in fh:
                    raise InputError(f"{p}: no 'raw/seq' dataset with one-hot sequences.")
                X = fh["raw/seq"][()]
        elif p.suffix == ".npz":
            with np.load(p) as z:
                X = z[z.files[0]]
        elif p.suffix == ".npy":
            X = np.load(p, allow_pickle=False)
        else:
            raise InputError(f"{p}: backgrounds must be .npy, .npz or .h5 (raw/seq) one-hot "
                             f"(N, 4, L), or give 'regions' with 'genome'.")
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1] != 4:
            raise InputError(f"{p}: expected one-hot (N, 4, L), got {X.shape}.")
    elif regions is not None:
        if genome is None:
            raise InputError("backgrounds from 'regions' need 'genome' (a FASTA).")
        from bpnetkit.data.regions import centered_windows, read_regions
        from bpnetkit.io.fasta import Genome, extract_sequences

        g = Genome(genome)
        chroms, starts, ends = centered_windows(read_regions(regions), length,
                                                chrom_sizes=g.chrom_sizes)
        if len(chroms) == 0:
            raise InputError(f"no region of '{regions}' has a full {length} bp window inside "
                             f"its chromosome.")
        X = extract_sequences(g, chroms, starts, ends)
    if X is None:
        probs = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
        idx = rng.choice(4, size=(n, length), p=probs)
        X = np.zeros((n, 4, length), dtype=np.int8)
        X[np.arange(n)[:, None], idx, np.arange(length)[None]] = 1
        return X
    if X.shape[0] == 0:
        raise InputError("no background sequences were given.")
    if X.shape[0] > n:
        X = X[np.sort(rng.choice(X.shape[0], size=n, replace=False))]
    X = X.astype(np.int8)
    if shuffle:
        X = _dinucleotide_shuffle(X, int(rng.integers(2**31)))
    return X


# ----------------------------------------------------------------------------- core
@dataclass
class MotifEffect:
    """Effect of one motif (means over backgrounds)."""

    motif: str
    name: str
    consensus: str
    delta_log_counts: float
    delta_log_counts_sd: float
    profile_jsd: float
    attribution_inserted: float = float("nan")
    attribution_background: float = float("nan")


def marginalize(model, motifs: list[Motif], X: np.ndarray, insertion: str = "consensus",
                batch_size: int = 64, device=None, attributions: bool = False,
                n_shuffles: int = 10, random_state: int = 0, return_profiles: bool = False):
    """Effects of inserting every motif into the backgrounds ``X`` ``(N, 4, L)``.

    Returns
    -------
    list of MotifEffect (input order), and with ``return_profiles`` also a dict with the mean
    predicted profile probabilities before (``"background"``) and after (motif name).
    """
    from tqdm.auto import tqdm

    from bpnetkit.utils import as_generator

    rng = as_generator(random_state)
    L = X.shape[2]
    for m in motifs:
        if m.length > L:
            raise InputError(f"motif '{m.label}' ({m.length} bp) is longer than the "
                             f"background window ({L} bp).")
    base_logits, base_counts = _predict(model, X, batch_size, device)
    base_p = _profile_probs(base_logits)
    shape = base_logits.shape[1:]
    profiles = {"background": base_p.mean(axis=0).reshape(shape)} if return_profiles else {}
    base_attr = _attributions(model, X, batch_size, device, n_shuffles, random_state) \
        if attributions else None
    out = []
    for m in tqdm(motifs, desc="marginalize", disable=len(motifs) < 20):
        Xi = insert_motif(X, m, mode=insertion, random_state=int(rng.integers(2**31)))
        logits, counts = _predict(model, Xi, batch_size, device)
        d = (counts - base_counts).mean(axis=1)
        p = _profile_probs(logits)
        eff = MotifEffect(m.name, m.alt_name, m.consensus(), float(d.mean()),
                          float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                          float(js_distance(base_p, p).mean()))
        if attributions:
            a = L // 2 - m.length // 2
            attr = _attributions(model, Xi, batch_size, device, n_shuffles, random_state)
            eff.attribution_inserted = float(attr[:, a:a + m.length].sum(axis=1).mean())
            eff.attribution_background = float(base_attr[:, a:a + m.length].sum(axis=1).mean())
        if return_profiles:
            profiles[m.name] = p.mean(axis=0).reshape(shape)
        out.append(eff)
    return (out, profiles) if return_profiles else out


def _attributions(model, X, batch_size, device, n_shuffles, random_state) -> np.ndarray:
    """Per-position actual contributions to the counts ``(N, L)`` via DeepLIFT/SHAP."""
    try:
        from bpnetkit.interpret.deeplift import deep_lift_shap
        from bpnetkit.models.wrappers import CountWrapper
    except ImportError:
        raise InputError("attributions need bpnetkit.interpret.deeplift, which is not "
                         "available; set 'attributions' to false.") from None
    import torch

    X_t = torch.as_tensor(X, dtype=torch.float32)
    wrapped = CountWrapper(model)
    args = _control_args(model, X_t)
    h = deep_lift_shap(wrapped, X_t, args=args, n_shuffles=n_shuffles, batch_size=batch_size,
                       device=device, random_state=random_state, hypothetical=True)
    h = np.asarray(h.detach().cpu() if hasattr(h, "detach") else h, dtype=np.float64)
    return (h * X).sum(axis=1)


def spacing_effects(model, a: Motif, b: Motif, X: np.ndarray, spacings: list[int],
                    insertion: str = "consensus", batch_size: int = 64, device=None,
                    random_state: int = 0) -> list[dict]:
    """Joint effect of ``a`` at the centre and ``b`` ``d`` bp after it, for each spacing."""
    L = X.shape[2]
    start_a = L // 2 - a.length // 2
    _, base = _predict(model, X, batch_size, device)
    Xa = insert_motif(X, a, start_a, insertion, random_state)
    _, ca = _predict(model, Xa, batch_size, device)
    rows = []
    for d in spacings:
        start_b = start_a + a.length + int(d)
        if start_b < 0 or start_b + b.length > L:
            raise InputError(f"spacing {d}: motif '{b.label}' would end at "
                             f"{start_b + b.length}, outside the {L} bp window; use smaller "
                             f"spacings.")
        Xb = insert_motif(X, b, start_b, insertion, random_state)
        Xab = insert_motif(Xa, b, start_b, insertion, random_state)
        _, cb = _predict(model, Xb, batch_size, device)
        _, cab = _predict(model, Xab, batch_size, device)
        da = float((ca - base).mean())
        db = float((cb - base).mean())
        dab = float((cab - base).mean())
        rows.append({"motif_a": a.name, "motif_b": b.name, "spacing": int(d),
                     "delta_a": da, "delta_b": db, "delta_ab": dab,
                     "epistasis": dab - da - db})
    return rows


# ----------------------------------------------------------------------------- step
@dataclass
class MarginalizeParams:
    """Parameters of ``bpnetkit marginalize`` (semantics in the module docstring).

    ``motifs``: identifiers or names to test (null = every motif of ``motif_db``).
    ``spacing_pairs``: ``[[a, b], ...]`` motif pairs for the spacing experiment.
    """

    model: str
    output_dir: str
    motif_db: str | None = None
    motifs: list[str] | None = None
    backgrounds: str | None = None
    regions: str | None = None
    genome: str | None = None
    in_window: int = 2114
    n_backgrounds: int = 64
    shuffle: bool = True
    gc: float = 0.41
    insertion: Literal["consensus", "sample"] = "consensus"
    rank_by: Literal["counts", "profile"] = "counts"
    attributions: bool = False
    n_shuffles: int = 10
    spacing_pairs: list[list[str]] = field(default_factory=list)
    spacings: list[int] = field(default_factory=lambda: list(range(0, 51, 5)))
    n_report: int = 20
    name: str = "marginalize"
    batch_size: int = 64
    device: str | None = None
    random_state: int = 0

    def validate(self) -> None:
        """Check value ranges and pairs."""
        if self.n_backgrounds < 1:
            raise InputError("marginalize: 'n_backgrounds' must be >= 1.")
        for pair in self.spacing_pairs:
            if len(pair) != 2:
                raise InputError(f"marginalize: every entry of 'spacing_pairs' must be two "
                                 f"motif names, got {pair}.")


def run_marginalize(params: MarginalizeParams) -> dict[str, str]:
    """Marginalize motifs with a model; write ``<name>.tsv``, spacing TSV and an HTML page."""
    from bpnetkit.config import dump_config
    from bpnetkit.io.meme import load_motif_db, select_motifs

    params.validate()
    out = Path(params.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = load_motif_db(params.motif_db)
    motifs = select_motifs(db, params.motifs)
    pairs = [select_motifs(db, pair) for pair in params.spacing_pairs]
    model = _load_model(params.model, params.device)
    X = load_backgrounds(params.backgrounds, params.regions, params.genome, params.in_window,
                         params.n_backgrounds, params.shuffle, params.gc, params.random_state)
    effects, profiles = marginalize(model, motifs, X, params.insertion, params.batch_size,
                                    params.device, params.attributions, params.n_shuffles,
                                    params.random_state, return_profiles=True)
    key = (lambda e: -e.delta_log_counts) if params.rank_by == "counts" else \
        (lambda e: -e.profile_jsd)
    ranked = sorted(effects, key=key)
    results = {"effects": str(_write_effects(out / f"{params.name}.tsv", ranked))}
    spacing_rows = []
    for a, b in pairs:
        spacing_rows += spacing_effects(model, a, b, X, params.spacings, params.insertion,
                                        params.batch_size, params.device, params.random_state)
    if spacing_rows:
        results["spacing"] = str(_write_rows(out / f"{params.name}.spacing.tsv", spacing_rows))
    results["html"] = str(_write_html(out, params.name, ranked[:params.n_report],
                                      {m.name: m for m in motifs}, profiles, spacing_rows))
    results["params"] = str(dump_config(params, out / f"{params.name}.params.json"))
    return results


def _load_model(path: str, device):
    try:
        from bpnetkit.models.files import load_model
    except ImportError:  # pragma: no cover
        raise InputError("bpnetkit.io.load_model is not available.") from None
    return load_model(path, device=device)


def _write_rows(path: Path, rows: list[dict]) -> Path:
    from bpnetkit.utils import write_text_atomic

    header = list(rows[0])
    lines = ["\t".join(header)]
    for r in rows:
        lines.append("\t".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k])
                               for k in header))
    return write_text_atomic(path, "\n".join(lines) + "\n")


def _write_effects(path: Path, ranked: list[MotifEffect]) -> Path:
    from dataclasses import asdict

    rows = [{"rank": i + 1, **asdict(e)} for i, e in enumerate(ranked)]
    if not rows:
        raise InputError("no motifs to marginalize.")
    return _write_rows(path, rows)


def _write_html(out: Path, name: str, ranked: list[MotifEffect], motifs: dict[str, Motif],
                profiles: dict, spacing_rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bpnetkit.report.logos import save_logos
    from bpnetkit.utils import atomic_path, write_text_atomic

    fig_dir = out / f"{name}_figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    html = [f"<html><head><meta charset='utf-8'><title>{name}</title></head><body>",
            f"<h1>In-silico marginalization ({name})</h1>",
            "<table border='1' cellpadding='4'><tr><th>rank</th><th>motif</th>"
            "<th>delta log counts</th><th>profile JSD</th><th>logo</th>"
            "<th>profile before/after</th></tr>"]
    for i, e in enumerate(ranked):
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in e.motif)
        logo = save_logos(fig_dir / f"{i + 1}_{safe}_logo.png", [motifs[e.motif].pwm],
                          [f"{e.motif} {e.name}"], ["information"])
        fig, ax = plt.subplots(figsize=(5, 2))
        bg, af = profiles["background"], profiles[e.motif]
        for s in range(bg.shape[0]):
            sign = 1 if s % 2 == 0 else -1
            ax.plot(sign * bg[s], color="grey", lw=0.8, label="background" if s == 0 else None)
            ax.plot(sign * af[s], color="C3", lw=0.8, label="inserted" if s == 0 else None)
        ax.legend(fontsize=6)
        ax.set_xlabel("position")
        fig.tight_layout()
        prof = fig_dir / f"{i + 1}_{safe}_profile.png"
        with atomic_path(prof) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
        plt.close(fig)
        html.append(f"<tr><td>{i + 1}</td><td>{e.motif} {e.name}</td>"
                    f"<td>{e.delta_log_counts:.3f} &plusmn; {e.delta_log_counts_sd:.3f}</td>"
                    f"<td>{e.profile_jsd:.3f}</td>"
                    f"<td><img src='{fig_dir.name}/{logo.name}'></td>"
                    f"<td><img src='{fig_dir.name}/{prof.name}'></td></tr>")
    html.append("</table>")
    if spacing_rows:
        pairs = sorted({(r["motif_a"], r["motif_b"]) for r in spacing_rows})
        fig, ax = plt.subplots(figsize=(5, 3))
        for a, b in pairs:
            rs = [r for r in spacing_rows if (r["motif_a"], r["motif_b"]) == (a, b)]
            ax.plot([r["spacing"] for r in rs], [r["delta_ab"] for r in rs], marker="o",
                    label=f"{a} + {b}")
        ax.set_xlabel("gap between motifs (bp)")
        ax.set_ylabel("delta log counts")
        ax.legend(fontsize=6)
        fig.tight_layout()
        sp = fig_dir / "spacing.png"
        with atomic_path(sp) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
        plt.close(fig)
        html.append(f"<h2>Spacing</h2><img src='{fig_dir.name}/spacing.png'>")
    html.append("</body></html>")
    return write_text_atomic(out / f"{name}.html", "\n".join(html) + "\n")
