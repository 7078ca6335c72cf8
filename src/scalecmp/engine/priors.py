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

from dataclasses import dataclass

import numpy as np

from scalecmp.engine.laws import Law
from scalecmp.engine.pooling import H as _H
from scalecmp.engine.pooling import PooledPrior, edge_points, edge_summaries, pair_slopes

__all__ = ["Augmented", "Priors", "augment"]



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


@dataclass(frozen=True)
class Augmented:
    """A law's model with the priors' pseudo-observations appended, on one design or, stacked
    (:meth:`stack`), on the designs of many series solved as one batch.

    ``xn``: normalised inputs, one row per design (G, n) (or (G, n, 2) for two-input laws);
    ``xp``: the computes (G, k) at which the priors read ``log err``; ``pool_mean`` and
    ``pool_c`` (G, 2): the pooled prior's centre and scale per design; ``which`` (S,): the
    design of each problem of a stacked batch (``None``: one design, every problem on it).
    ``f(theta, rows)`` -> (S', n + m) and ``f_jac(theta, rows)`` -> ((S', n + m),
    (S', n + m, p)) for the problems at batch positions ``rows`` (ignored for one design);
    ``m`` pseudo-observations (targets 1) follow the ``n`` data points.
    """

    law: Law
    xn: np.ndarray
    xp: np.ndarray | None = None
    use_slope: bool = False
    use_cap: bool = False
    use_pool: bool = False
    lam: float = 10.0
    log_k: float = 0.0
    log_cap: float = 0.0
    pool_mean: np.ndarray | None = None
    pool_c: np.ndarray | None = None
    which: np.ndarray | None = None

    @property
    def m(self) -> int:
        return int(self.use_slope) + (8 if self.use_cap else 0) + (2 if self.use_pool else 0)

    @property
    def key(self) -> tuple | None:
        """Models with equal keys stack into one batch (``None``: this one does not: a
        two-input law, whose inputs do not stack)."""
        if self.law.n_inputs != 1 or self.which is not None:
            return None
        return (self.law.name, self.use_slope, self.use_cap, self.use_pool, self.lam,
                self.log_k, self.log_cap)

    @property
    def n(self) -> int:
        """Data points per design (the pseudo-observations follow them)."""
        return int(self.xn.shape[1])

    @staticmethod
    def stack(models: list[Augmented], counts: list[int]) -> Augmented:
        """One model for a batch made of ``counts[j]`` problems on ``models[j]``'s design,
        in that order (all with the same :attr:`key`). A design with fewer points than the
        most of them repeats its last point (which the batch weighs 0)."""
        first = models[0]
        n = max(m.n for m in models)

        def cat(name: str) -> np.ndarray | None:
            parts = [getattr(m, name) for m in models]
            if name == "xn":
                parts = [np.pad(p, ((0, 0), (0, n - p.shape[1])), mode="edge")
                         for p in parts]
            return None if parts[0] is None else np.concatenate(parts)

        return Augmented(
            law=first.law, xn=cat("xn"), xp=cat("xp"), use_slope=first.use_slope,
            use_cap=first.use_cap, use_pool=first.use_pool, lam=first.lam,
            log_k=first.log_k, log_cap=first.log_cap, pool_mean=cat("pool_mean"),
            pool_c=cat("pool_c"), which=np.repeat(np.arange(len(models)), counts),
        )

    def _design(self, rows: np.ndarray | None) -> tuple:
        """``(xn, xp, pool_mean, pool_c)`` of the problems at ``rows``: one design's rows,
        broadcast over the problems, or each problem's own."""
        names = ("xn", "xp", "pool_mean", "pool_c")
        if self.which is None or rows is None:
            return tuple(None if getattr(self, n) is None else getattr(self, n)[0]
                         for n in names)
        d = self.which[rows]
        return tuple(None if getattr(self, n) is None else getattr(self, n)[d] for n in names)

    def f(self, theta: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        theta = np.atleast_2d(theta)
        xn, xp, mean, c = self._design(rows)
        if not self.m:
            return self.law.f(xn, theta)
        return np.concatenate([self.law.f(xn, theta), self._pseudo(theta, xp, mean, c,
                                                                    False)[0]], axis=1)

    def f_jac(self, theta: np.ndarray, rows: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        theta = np.atleast_2d(theta)
        xn, xp, mean, c = self._design(rows)
        if not self.m:
            return self.law.f_jac(xn, theta)
        P, J = self.law.f_jac(xn, theta)
        q, dq = self._pseudo(theta, xp, mean, c, True)
        return np.concatenate([P, q], axis=1), np.concatenate([J, dq], axis=1)

    def _pseudo(self, theta: np.ndarray, xp: np.ndarray, pool_mean: np.ndarray | None,
                pool_c: np.ndarray | None, with_grad: bool):  # noqa: ANN202
        """The pseudo-observations ``q`` (S, m) and their jacobian (S, m, p) (see the
        module docstring)."""
        if with_grad:
            lf, dlf = _logf_and_grad(self.law, xp, theta)  # (S, k), (S, k, p)
        else:  # the values alone: no jacobian of the law at the prior's points
            lf, dlf = np.log(np.maximum(self.law.f(xp, theta), 1e-300)), None
        lam = self.lam
        gs, dgs = [], []
        if self.use_slope:
            s_e, s_f, s_b = pair_slopes(lf[:, :6]).T
            neg_e = np.minimum(s_e, -1e-12)
            neg_f = np.minimum(s_f, -1e-8)
            neg_b = np.minimum(s_b, -1e-12)
            log_rin = np.log(-neg_e) - np.log(-neg_b)
            g = self.log_k + np.minimum(log_rin, 0.0) - np.log(-neg_f) + np.log(-neg_e)
            g = np.where(s_e < -1e-6, g, -1.0)  # no constraint where the edge is flat
            gs.append(g[:, None])
            if with_grad:
                ds = pair_slopes(dlf[:, :6])
                ds_e, ds_f, ds_b = ds[:, 0], ds[:, 1], ds[:, 2]
                bend = log_rin < 0  # the data already bend: allow the same pace beyond
                dg = -ds_f / neg_f[:, None] + ds_e / neg_e[:, None]
                dg = dg + bend[:, None] * (ds_e / neg_e[:, None] - ds_b / neg_b[:, None])
                dgs.append(dg[:, None, :])
        if self.use_cap:  # a hard fact, not a belief: ten times the strength
            k0 = 6 if self.use_slope else 0
            gs.append(10.0 * (lf[:, k0:k0 + 8] - self.log_cap))
            if with_grad:
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
        if self.use_pool:  # two-sided: log q = c (u(theta) - mu)
            q, dq = _pool_pseudo(lf[:, -4:], None if dlf is None else dlf[:, -4:],
                                 pool_mean, pool_c, with_grad)
            qs.append(q)
            dqs.append(dq)
        q = np.concatenate(qs, axis=1)
        return q, (np.concatenate(dqs, axis=1) if with_grad else None)


def augment(
    law: Law, xn: np.ndarray, priors: Priors, pseudo_weight: float = 1.0
) -> Augmented:
    """The law's model on ``xn`` with the priors appended as pseudo-observations
    (``pseudo_weight``: the loss weight they get, which the pooled prior's scale accounts
    for): an :class:`Augmented` of one design, with ``m`` pseudo-observations (targets 1).
    One-input laws only; with no active prior the law itself (``m = 0``).
    """
    xn = np.asarray(xn, dtype=float)
    if not priors.active or law.n_inputs != 1:
        return Augmented(law=law, xn=xn[None])
    lo, hi = float(np.min(xn)), float(np.max(xn))
    pts: list[np.ndarray] = []
    use_slope = priors.min_slope_ratio > 0
    if use_slope:
        xf = hi * 10.0**priors.horizon
        xb = max(hi / 10.0**priors.horizon, lo * _H)
        pts.append(np.array([hi / _H, hi * _H, xf / _H, xf * _H, xb / _H, xb * _H]))
    use_cap = priors.max_error is not None
    if use_cap:
        pts.append(np.geomspace(lo, hi, 8))
    pool = priors.pool
    pool_mean = pool_c = None
    if pool is not None:
        pts.append(edge_points(hi))
        pool_mean = np.asarray(pool.mean, dtype=float)[None]
        # sigma (u - mu) / (sd sqrt(w)): weighted and squared, sigma^2 (u - mu)^2 / sd^2
        pool_c = (pool.noise / (np.asarray(pool.sd) * np.sqrt(max(pseudo_weight, 1e-12))))[None]
    return Augmented(
        law=law, xn=xn[None], xp=np.concatenate(pts)[None], use_slope=use_slope,
        use_cap=use_cap, use_pool=pool is not None, lam=float(priors.strength),
        log_k=float(np.log(priors.min_slope_ratio)) if use_slope else 0.0,
        log_cap=float(np.log(priors.max_error)) if use_cap else 0.0,
        pool_mean=pool_mean, pool_c=pool_c,
    )


def _pool_pseudo(lf: np.ndarray, dlf: np.ndarray | None, mean: np.ndarray, c: np.ndarray,
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
