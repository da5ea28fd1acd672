"""Batched prediction on arrays, used by the recipes and the evaluation (optionally averaged
with the reverse-complement strand)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _rc_track_perm(n: int, stranded: bool) -> list[int]:
    if stranded and n % 2 == 0:
        return [j for i in range(0, n, 2) for j in (i + 1, i)]
    return list(range(n))


def predict_arrays(model, X: np.ndarray, X_ctl: np.ndarray | None = None,
                   batch_size: int = 64, device: Any = None, rc_average: bool = False,
                   stranded: bool | None = None, progress: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Predict ``(profile_logits (N, S, L_out), log_counts (N, 1))`` as float32 numpy arrays.

    Parameters
    ----------
    model : nn.Module
        A (profile, counts) model; controls are passed when it has control tracks.
    X : np.ndarray
        One-hot ``(N, 4, L)``.
    X_ctl : np.ndarray or None
        Controls ``(N, C, L)``.
    rc_average : bool
        Also predict the reverse complement (controls reversed, strand pairs swapped) and
        average logits and log counts with the forward prediction, flipped back.
    stranded : bool or None
        Whether output (and control) track pairs are ``[plus, minus]``; None = two tracks.
    """
    import torch

    from bpnetkit.utils import resolve_device

    device = resolve_device(device)
    model = model.to(device).eval()
    n_ctl = int(getattr(model, "n_control_tracks", 0) or 0)
    if n_ctl > 0 and X_ctl is None:
        X_ctl = np.zeros((X.shape[0], n_ctl, X.shape[2]), dtype=np.float32)
    logits_out, counts_out = [], []
    rng = range(0, len(X), batch_size)
    if progress:
        from tqdm.auto import tqdm

        rng = tqdm(rng, desc="predict", leave=False, unit="batch")

    def run(xb, cb):
        args = (xb, cb) if n_ctl > 0 else (xb,)
        lg, lc = model(*args)
        return lg.float(), lc.float()

    with torch.no_grad():
        for a in rng:
            xb = torch.as_tensor(np.asarray(X[a:a + batch_size], dtype=np.float32), device=device)
            cb = None
            if n_ctl > 0:
                cb = torch.as_tensor(np.asarray(X_ctl[a:a + batch_size], dtype=np.float32),
                                     device=device)
            lg, lc = run(xb, cb)
            if rc_average:
                S = lg.shape[1]
                st = (S == 2) if stranded is None else stranded
                xr = xb.flip(1).flip(2)
                cr = None
                if cb is not None:
                    cr = cb[:, _rc_track_perm(cb.shape[1], st)].flip(2)
                lgr, lcr = run(xr, cr)
                lgr = lgr[:, _rc_track_perm(S, st)].flip(2)
                lg = 0.5 * (lg + lgr)
                lc = 0.5 * (lc + lcr)
            logits_out.append(lg.cpu().numpy())
            counts_out.append(lc.cpu().numpy())
    if not logits_out:
        raise ValueError("no examples to predict.")
    return np.concatenate(logits_out), np.concatenate(counts_out)
