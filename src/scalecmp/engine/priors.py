"""Priors on a compute law, added to the fit as pseudo-observations.

Two things practitioners know that a least-squares fit to 10-20 frontier points does not:

1. **Slope prior** (``min_slope_ratio = kappa``, ``horizon = H`` decades). With
   ``s(x) = d log err / d log x`` the law's local log-log slope, ``x_e`` the largest fitted
   compute, ``r_out = s(x_e 10^H) / s(x_e)`` how much the slope shrinks over the horizon
   beyond the data and ``r_in = s(x_e) / s(x_b)`` how much it shrank over the last ``H``
   decades of the data (``x_b = max(x_e / 10^H, x_min)``), the prior asks

       r_out >= kappa * min(1, r_in):

   the slope may not collapse beyond the data much faster than the data themselves show. A
   floor ``E`` placed right after the last point of a frontier that is still steepening
   (``r_in >= 1``) with a steep exponent (``alpha = -2.4``, ``E`` 2% below the last error)
   has ``r_out ~ 0``: a plateau nothing in the data shows. A floor the data visibly bend
   toward (``r_in < 1``) is allowed to keep bending at the same pace. Laws whose slope at
   the edge is not negative are not constrained.
2. **Range prior** (``max_error``): inside the measured compute range the error of a
   higher-is-better metric in [0, 1] cannot exceed 1 (the metric cannot be negative). A law
   that leaves (0, 1] there is penalised instead of being clipped afterwards.

Each violated constraint ``g(theta) > 0`` (in log units) enters the least-squares problem as
a pseudo-observation with prediction ``q = exp(lam * max(g, 0))`` and target 1, so its
residual is ``lam * max(g, 0)`` under the log losses (``q - 1`` under ``ls``) and zero when
the constraint holds: the data alone decide wherever the priors are satisfied. The same
augmented problem is solved for the full fit, every backtest and every bootstrap replicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scalecmp.engine.laws import Law
from scalecmp.engine.pooling import H as _H
from scalecmp.engine.pooling import PooledPrior, edge_points, edge_summaries, pair_slopes

__all__ = ["Priors", "augment"]



@dataclass(frozen=True)
class Priors:
    """Which priors apply (see the module docstring).

    ``min_slope_ratio``: ``kappa`` in [0, 1) (0 switches the slope prior off).
    ``horizon``: decades beyond the data where the slope prior is checked.
    ``max_error``: upper bound of the error inside the data (``None``: no range prior).
    ``strength``: ``lam``, log-units to residual scale (10: a 10% violation costs like a
    residual of 1, i.e. a very bad point).
    ``pool``: the series' prior from the other series of its command
    (:mod:`scalecmp.engine.pooling`; ``None``: no pooling).
    """

    min_slope_ratio: float = 0.0
    horizon: float = 1.0
    max_error: float | None = None
    strength: float = 10.0
    pool: PooledPrior | None = None

    @property
    def active(self) -> bool:
        return self.min_slope_ratio > 0 or self.max_error is not None or self.pool is not None


def _logf_and_grad(law: Law, xn: np.ndarray, theta: np.ndarray):  # noqa: ANN202
    f, J = law.f_jac(xn, theta)
    f = np.maximum(f, 1e-300)
    return np.log(f), J / f[..., None]


def augment(
    law: Law, xn: np.ndarray, priors: Priors, pseudo_weight: float = 1.0
) -> tuple[Callable, Callable, int]:
    """The law's model on ``xn`` with the priors appended as pseudo-observations
    (``pseudo_weight``: the loss weight they get, which the pooled prior's scale accounts
    for).

    Returns ``(f, f_jac, m)``: ``f(theta) -> (S, n + m)``, ``f_jac(theta) -> ((S, n + m),
    (S, n + m, p))`` and ``m`` the number of pseudo-observations (targets 1). One-input laws
    only; with no active prior the law itself is returned (``m = 0``).
    """
    if not priors.active or law.n_inputs != 1:
        return (lambda t: law.f(xn, t)), (lambda t: law.f_jac(xn, t)), 0
    lam = float(priors.strength)
    lo, hi = float(np.min(xn)), float(np.max(xn))
    pts: list[np.ndarray] = []
    use_slope = priors.min_slope_ratio > 0
    if use_slope:
        xf = hi * 10.0**priors.horizon
        xb = max(hi / 10.0**priors.horizon, lo * _H)
        pts.append(np.array([hi / _H, hi * _H, xf / _H, xf * _H, xb / _H, xb * _H]))
    use_cap = priors.max_error is not None
    if use_cap:
        grid = np.geomspace(lo, hi, 8)
        pts.append(grid)
    pool = priors.pool
    if pool is not None:
        pts.append(edge_points(hi))
        pool_mean = np.asarray(pool.mean)
        # sigma (u - mu) / (sd sqrt(w)): weighted and squared, sigma^2 (u - mu)^2 / sd^2
        pool_c = pool.noise / (np.asarray(pool.sd) * np.sqrt(max(pseudo_weight, 1e-12)))
    xp = np.concatenate(pts)
    k_pool = len(xp) - 4
    m = int(use_slope) + (8 if use_cap else 0) + (2 if pool is not None else 0)
    log_k = float(np.log(priors.min_slope_ratio)) if use_slope else 0.0
    log_cap = float(np.log(priors.max_error)) if use_cap else 0.0

    def pseudo(theta: np.ndarray, with_grad: bool):  # noqa: ANN202
        lf, dlf = _logf_and_grad(law, xp, theta)  # (S, k), (S, k, p)
        gs, dgs = [], []
        if use_slope:
            s_e, s_f, s_b = pair_slopes(lf[:, :6]).T
            ds = pair_slopes(dlf[:, :6])
            ds_e, ds_f, ds_b = ds[:, 0], ds[:, 1], ds[:, 2]
            neg_e = np.minimum(s_e, -1e-12)
            neg_f = np.minimum(s_f, -1e-8)
            neg_b = np.minimum(s_b, -1e-12)
            log_rin = np.log(-neg_e) - np.log(-neg_b)
            bend = log_rin < 0  # the data already bend: allow the same pace beyond
            g = log_k + np.minimum(log_rin, 0.0) - np.log(-neg_f) + np.log(-neg_e)
            g = np.where(s_e < -1e-6, g, -1.0)  # no constraint where the edge is flat
            dg = -ds_f / neg_f[:, None] + ds_e / neg_e[:, None]
            dg = dg + bend[:, None] * (ds_e / neg_e[:, None] - ds_b / neg_b[:, None])
            gs.append(g[:, None])
            dgs.append(dg[:, None, :])
        if use_cap:  # a hard fact, not a belief: ten times the strength
            k0 = 6 if use_slope else 0
            gs.append(10.0 * (lf[:, k0:k0 + 8] - log_cap))
            dgs.append(10.0 * dlf[:, k0:k0 + 8])
        qs, dqs = [], []
        if gs:
            g = np.concatenate(gs, axis=1)
            viol = np.maximum(g, 0.0)
            q = np.exp(np.minimum(lam * viol, 700.0))
            qs.append(q)
            if with_grad:
                dg = np.concatenate(dgs, axis=1)
                dqs.append((q * lam * (g > 0))[..., None] * dg)
        if pool is not None:  # two-sided: log q = c (u(theta) - mu)
            q, dq = _pool_pseudo(lf[:, k_pool:], dlf[:, k_pool:], pool_mean, pool_c,
                                 with_grad)
            qs.append(q)
            dqs.append(dq)
        q = np.concatenate(qs, axis=1)
        return q, (np.concatenate(dqs, axis=1) if with_grad else None)

    def f(theta: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(theta)
        return np.concatenate([law.f(xn, theta), pseudo(theta, False)[0]], axis=1)

    def f_jac(theta: np.ndarray):  # noqa: ANN202
        theta = np.atleast_2d(theta)
        P, J = law.f_jac(xn, theta)
        q, dq = pseudo(theta, True)
        return np.concatenate([P, q], axis=1), np.concatenate([J, dq], axis=1)

    return f, f_jac, m


def _pool_pseudo(lf: np.ndarray, dlf: np.ndarray, mean: np.ndarray, c: np.ndarray,
                 with_grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The pooled prior's two pseudo-observations ``q_j = exp(c_j (u_j - mu_j))`` from
    ``log err`` (S, 4) at :func:`~scalecmp.engine.pooling.edge_points` and its gradient
    (S, 4, p); the summaries' derivatives by the chain rule of
    :func:`~scalecmp.engine.pooling.edge_summaries`."""
    u = edge_summaries(lf)
    z = np.clip(c * (u - mean), -700.0, 700.0)
    q = np.exp(z)
    if not with_grad:
        return q, None
    s_e, s_f = pair_slopes(lf).T
    ds = pair_slopes(dlf)
    ds_e, ds_f = ds[:, 0], ds[:, 1]
    # u1 = log(-s_e), u2 = log(-s_f) - log(-s_e); clamped slopes have no gradient
    de = np.where((s_e < -1e-12)[:, None], ds_e / np.minimum(s_e, -1e-12)[:, None], 0.0)
    df = np.where((s_f < -1e-12)[:, None], ds_f / np.minimum(s_f, -1e-12)[:, None], 0.0)
    du = np.stack([de, df - de], axis=1)  # (S, 2, p)
    return q, (q * c)[..., None] * du
