"""A one-pass numba kernel for the DeepLIFT multipliers of ReLU (CPU)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True, nogil=True)
def relu_multipliers(h: np.ndarray, g: int, k: int, eps: float, out: np.ndarray,
                     y: np.ndarray | None = None) -> None:
    """Rescale multipliers of ReLU for a paired batch ``h`` ``(g + g*k, S)`` into ``out``.

    Row ``g + r`` is reference ``r`` of input ``r // k``. The multiplier is
    ``(relu(r) - relu(x)) / (r - x)``, or ``1[x > 0]`` where ``|r - x| < eps``; input rows
    get 0. When ``y`` is given, ``relu(h)`` is written into it in the same pass.
    """
    S = h.shape[1]
    for r in numba.prange(g * k):
        i = r // k
        for j in range(S):
            a = h[i, j]
            b = h[g + r, j]
            d = b - a
            zero = a - a
            ya = a if a > zero else zero
            yb = b if b > zero else zero
            if abs(d) < eps:
                out[g + r, j] = zero + 1 if a > zero else zero
            else:
                out[g + r, j] = (yb - ya) / d
            if y is not None:
                y[g + r, j] = yb
    for i in range(g):
        for j in range(S):
            out[i, j] = 0
            if y is not None:
                a = h[i, j]
                y[i, j] = a if a > a - a else a - a


@numba.njit(parallel=True, cache=True, nogil=True)
def residual_relu_multipliers(z: np.ndarray, skip: np.ndarray, off: int, g: int, k: int,
                              eps: float, m: np.ndarray) -> None:
    """One residual layer ``h = skip[:, off:off + S] + relu(z)`` of a paired batch, in place.

    ``z`` ``(g + g*k, S)`` holds the pre-activations and receives ``h``; ``skip``
    ``(g + g*k, S_skip)`` is the layer's input (each row's residual is the dense block
    ``[off, off + S)``); ``m`` ``(g*k, S)`` receives the rescale multipliers of the ReLU for
    the reference rows (row ``r`` of ``m`` is reference ``r % k`` of input ``r // k``):
    ``(relu(b) - relu(a)) / (b - a)``, or ``1[a > 0]`` where ``|b - a| < eps``.
    """
    S = z.shape[1]
    for r in numba.prange(g * k):
        i = r // k
        for j in range(S):
            a = z[i, j]
            b = z[g + r, j]
            d = b - a
            zero = a - a
            ya = a if a > zero else zero
            yb = b if b > zero else zero
            if abs(d) < eps:
                m[r, j] = zero + 1 if a > zero else zero
            else:
                m[r, j] = (yb - ya) / d
            z[g + r, j] = skip[g + r, off + j] + yb
    for i in numba.prange(g):  # input rows last: the reference rows read them above
        for j in range(S):
            a = z[i, j]
            z[i, j] = skip[i, off + j] + (a if a > a - a else a - a)
