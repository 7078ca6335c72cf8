"""Mixture weights of the candidates of ``law="auto"``, from their backtests.

The pool of a series is its candidates of the lowest tier that passed the sanity checks
(the primary ones; the fallbacks of the next tier when the series is too sparse for them,
a candidate fitted with no degree of freedom counting one tier higher); their weights come
from leave-future-out predictions inside the series (:func:`mixture_weights`: by default
``w_k ∝ 1 / MSE_k``, a pseudo-Bayesian model average), and the bootstrap replicates are split
between them in proportion (:func:`allocate`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scalecmp.engine.options import MIXTURES, FitOptions
from scalecmp.errors import UsageError

__all__ = ["allocate", "combine", "mixture_weights", "stack_weights"]

DEFAULT_MIXTURE = FitOptions.mixture


def stack_weights(pred: np.ndarray, truth: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Stacking weights: ``w >= 0``, ``sum w = 1``, minimising
    ``sum_c (1 / n_c) sum_{i in c} (sum_k w_k pred_ki - truth_i)^2``.

    ``pred`` (K, n) held-out predictions of K candidates, ``truth`` (n,), ``group`` (n,) the
    backtest cut of each point (each cut weighs once). Non-negative least squares with the
    sum-to-one constraint as a heavily weighted extra row.
    """
    from scipy.optimize import nnls

    k = pred.shape[0]
    if k == 1:
        return np.ones(1)
    _, inv, counts = np.unique(group, return_inverse=True, return_counts=True)
    sw = 1.0 / np.sqrt(counts[inv])
    A = (pred * sw[None, :]).T
    b = truth * sw
    big = 1e3 * max(float(np.abs(A).max()), 1e-12)
    A = np.vstack([A, np.full((1, k), big)])
    b = np.r_[b, big]
    w, _ = nnls(A, b)
    s = w.sum()
    return w / s if s > 0 else np.full(k, 1.0 / k)


def mixture_weights(pred: np.ndarray, truth: np.ndarray, group: np.ndarray,
                    method: str = DEFAULT_MIXTURE) -> np.ndarray:
    """Weights of K candidates from their backtest predictions ``pred`` (K, n) of ``truth``
    (n,), ``group`` the cut of each point (each cut weighs once).

    ``inverse_mse`` (default): ``w_k ∝ 1 / MSE_k`` (a pseudo-Bayesian model average: every
    candidate keeps a share, the better extrapolator a larger one). ``stacking``:
    :func:`stack_weights`. ``best``: all weight on the lowest MSE (selection). ``uniform``:
    ``1 / K``. MSE in error units, each cut's points averaged first.
    """
    k = pred.shape[0]
    if method == "stacking":
        return stack_weights(pred, truth, group)
    if method == "uniform":
        return np.full(k, 1.0 / k)
    _, inv, counts = np.unique(group, return_inverse=True, return_counts=True)
    cw = 1.0 / counts[inv]
    mse = ((pred - truth[None, :]) ** 2 * cw[None, :]).sum(axis=1) / cw.sum()
    if method == "best":
        w = np.zeros(k)
        w[int(np.argmin(mse))] = 1.0
        return w
    if method == "inverse_mse":
        inv_mse = 1.0 / np.maximum(mse, 1e-12)
        return inv_mse / inv_mse.sum()
    raise UsageError(f"mixture: unknown mixture '{method}' (known: {', '.join(MIXTURES)})")


def combine(tiers: Sequence[int], ok: Sequence[bool], evidence: tuple | None,
            method: str = DEFAULT_MIXTURE) -> np.ndarray:
    """Mixture weights of K fitted candidates.

    The pool is the candidates of the lowest of their ``tiers`` among those that passed the
    sanity checks (``ok``; among all of them when none did): the primary candidates (tier
    0) when the series has points for them, else the fallbacks of the next tier. Pool members
    with backtest evidence (``evidence = (use, P, truth, cut)``: indices, predictions (|use|,
    n), truth (n,), cut of each point) share ``|evidenced| / |pool|`` of the weight by
    :func:`mixture_weights`; pool members without evidence (too few points below every cut)
    keep an equal prior share ``1 / |pool|`` each.
    """
    k = len(tiers)
    ok_idx = [i for i in range(k) if ok[i]] or list(range(k))
    low = min(int(tiers[i]) for i in ok_idx)
    pool = [i for i in ok_idx if int(tiers[i]) == low]
    w = np.zeros(k)
    ev: list[int] = []
    if evidence is not None:
        use, P, truth, group = evidence
        ev = [j for j, i in enumerate(use) if i in pool]
    if ev:
        ww = mixture_weights(P[ev], truth, group, method)
        for j, x in zip(ev, ww, strict=True):
            w[use[j]] = len(ev) / len(pool) * x
    evidenced = {use[j] for j in ev}
    for i in pool:
        if i not in evidenced:
            w[i] = 1.0 / len(pool)
    return w / w.sum()


def allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder split of ``total`` replicates by ``weights``."""
    raw = weights * total
    n = np.floor(raw).astype(int)
    rest = total - int(n.sum())
    if rest > 0:
        n[np.argsort(-(raw - n), kind="stable")[:rest]] += 1
    return n
