"""Partial pooling: the series of one command inform each other (``pooling="series"``).

A sparse series (4-6 frontier points) says little about how its error keeps falling
beyond its last point; the other series of the same command (other tasks, datasets or
procedures on the same compute axis) often say a lot. Two law-free summaries of a fitted
series, read at its last frontier compute ``x_e`` (``s(x) = d log err / d log x``, the
local log-log slope, lower is steeper):

* ``u1 = log(-s(x_e))``: how steep the error falls at the edge of the data (the
  exponent, in log);
* ``u2 = log(s(x_e 10^H) / s(x_e))``: how much that slope shrinks over the next ``H``
  decades (``H = 1``): 0 for a pure power law, very negative when a floor takes over (the
  floor's share of the error).

Empirical Bayes, per summary ``j``: the first pass fits every series alone and takes from
its bootstrap replicates the estimate ``u_gj`` (median) and its sampling variance
``v_gj`` (from the interquartile range). For series ``g`` the other series give the
between-series variance ``t2`` (DerSimonian-Laird's moment estimate, >= 0), the
precision-weighted mean ``mu`` and its variance ``1 / sum 1 / (v + t2)``; the prior of
``g`` is ``N(mu, t2 + var(mu))``: strong when the series agree (``t2`` small), weak when
they disagree, learnt from the command's own series, the series itself left out. The
second pass refits every series with this prior as two pseudo-observations
(:mod:`scalecmp.engine.priors`): with ``sigma`` the series' noise in log error (its own
residual variance shrunk toward the command's median, :func:`noise_levels`), the prior adds
``sigma^2 (u_j(theta) - mu_j)^2 / (2 sd_j^2)`` to the loss, the Gaussian prior in the
loss's units. The same augmented problem is solved for the full fit, the backtests and
every bootstrap replicate, so intervals narrow where the prior is strong.

Pooling needs at least :data:`MIN_SERIES` series with a one-input law.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scalecmp.engine.laws import Law

__all__ = ["MIN_SERIES", "POOLINGS", "PooledPrior", "edge_points", "edge_summaries",
           "pair_slopes", "noise_levels", "pooled_priors", "random_effects", "series_noise",
           "series_summary"]

POOLINGS = ("none", "series", "corpus")
#: the fewest series whose summaries a pooled prior is learnt from (the series itself
#: left out: two others give a mean and a spread)
MIN_SERIES = 3
H = 10.0**0.1  # half-width of the finite difference of the local slope (0.1 decade)
HORIZON = 1.0  # decades beyond the edge where u2 reads the slope
#: degrees of freedom of the command's noise level in each series' own (a series of 4
#: points and 3 parameters has 1 of its own)
NOISE_DOF = 2.0


@dataclass(frozen=True)
class PooledPrior:
    """The prior one series gets from the others: ``mean`` and ``sd`` of ``(u1, u2)``,
    and ``noise``, the log-error noise ``sigma`` that puts it in the loss's units;
    ``source``: where it was learnt (``series``: the other series of the call, ``corpus``:
    the development corpus, :mod:`scalecmp.engine.corpus_prior`)."""

    mean: tuple[float, float]
    sd: tuple[float, float]
    noise: float
    source: str = "series"

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "sd": list(self.sd), "noise": self.noise,
                "source": self.source}

    def describe(self) -> str:
        """The prior in words, with its 95% ranges: the edge's log-log slope
        ``-exp(u1)`` and the share ``exp(u2)`` of it left one decade on."""
        (m1, m2), (s1, s2) = self.mean, self.sd
        lo1, hi1 = -np.exp(m1 + 1.96 * s1), -np.exp(m1 - 1.96 * s1)
        lo2, hi2 = np.exp(m2 - 1.96 * s2), np.exp(m2 + 1.96 * s2)
        where = "the other groups" if self.source == "series" else "the development corpus"
        return (f"pooled prior from {where}: log-log slope at the data's edge "
                f"{-np.exp(m1):.3g} (95%: {lo1:.3g} to {hi1:.3g}), {np.exp(m2):.3g} of it "
                f"left one decade on (95%: {lo2:.3g} to {hi2:.3g})")


def edge_points(x_edge: float) -> np.ndarray:
    """The four computes the summaries difference at: ``x_e / h, x_e h, x_f / h, x_f h``
    with ``x_f = x_e 10^H`` and ``h`` 0.1 decade."""
    xf = x_edge * 10.0**HORIZON
    return np.array([x_edge / H, x_edge * H, xf / H, xf * H])


def pair_slopes(a: np.ndarray) -> np.ndarray:
    """Local log-log slopes by central differences of ``log err`` at point pairs
    ``(x / h, x h)`` laid side by side along axis 1 (``h`` 0.1 decade): ``a`` (S, 2k) ->
    (S, k), or their derivatives (S, 2k, p) -> (S, k, p)."""
    return (a[:, 1::2] - a[:, 0::2]) / (2.0 * np.log(H))


def edge_summaries(log_err: np.ndarray) -> np.ndarray:
    """``(u1, u2)`` (S, 2) from ``log err`` (S, 4) at :func:`edge_points`; slopes that
    are not negative are taken as -1e-12 (a flat law: ``u1`` very low)."""
    s = np.minimum(pair_slopes(log_err), -1e-12)
    s_e, s_f = s[:, 0], s[:, 1]
    return np.stack([np.log(-s_e), np.log(-s_f) - np.log(-s_e)], axis=-1)


def series_summary(members: Sequence, x_edge: float) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)``: the median of a fitted mixture's replicate summaries and their
    variance (IQR / 1.349, squared), each (2,). ``members``: the mixture's
    :class:`~scalecmp.engine.lawfit.LawFit` (each replicate of each member counts once,
    as in the mixture's intervals)."""
    rows = []
    for m in members:
        law: Law = m.law
        if law.n_inputs != 1:
            continue
        xn = law.normalise(edge_points(x_edge), m.scale)
        theta = m.bootstrap_theta if m.n_replicates else m.theta[None, :]
        rows.append(edge_summaries(np.log(np.maximum(law.f(xn, theta), 1e-300))))
    if not rows:
        return np.full(2, np.nan), np.full(2, np.nan)
    u = np.concatenate(rows, axis=0)
    q1, med, q3 = np.quantile(u, [0.25, 0.5, 0.75], axis=0)
    return med, ((q3 - q1) / 1.349) ** 2 + 1e-12


def pooled_priors(u: np.ndarray, v: np.ndarray, noise: float | np.ndarray
                  ) -> list[PooledPrior | None]:
    """The prior of every series (rows of ``u``, ``v``: (G, 2)) from the other series
    (see the module docstring); ``noise``: each series' ``sigma`` (or one for all);
    ``None`` where fewer than :data:`MIN_SERIES` - 1 others have a finite summary."""
    noise = np.broadcast_to(np.asarray(noise, float), (len(u),))
    u = np.asarray(u, float)
    v = np.asarray(v, float)
    ok = np.isfinite(u).all(axis=1) & np.isfinite(v).all(axis=1)
    out: list[PooledPrior | None] = []
    for g in range(len(u)):
        others = ok.copy()
        others[g] = False
        if others.sum() < MIN_SERIES - 1 or not ok[g]:
            out.append(None)
            continue
        mean, sd = _random_effects(u[others], v[others])
        out.append(PooledPrior(mean=tuple(map(float, mean)), sd=tuple(map(float, sd)),
                               noise=float(noise[g])))
    return out


def random_effects(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DerSimonian-Laird per column of ``u`` (k, d) with sampling variances ``v`` (k, d):
    the precision-weighted mean ``mu`` (d,), the variance of that mean ``var_mu`` and the
    between-row variance ``t2`` (>= 0)."""
    k = len(u)
    w = 1.0 / v
    mu_fixed = (w * u).sum(axis=0) / w.sum(axis=0)
    q = (w * (u - mu_fixed) ** 2).sum(axis=0)
    c = w.sum(axis=0) - (w**2).sum(axis=0) / w.sum(axis=0)
    t2 = np.maximum(0.0, (q - (k - 1)) / np.maximum(c, 1e-300))
    ws = 1.0 / (v + t2)
    return (ws * u).sum(axis=0) / ws.sum(axis=0), 1.0 / ws.sum(axis=0), t2


def _random_effects(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pooled mean and the prior's sd ``sqrt(t2 + var(mean))`` for a new series."""
    mu, var_mu, t2 = random_effects(u, v)
    return mu, np.sqrt(t2 + var_mu)


def series_noise(members: Sequence) -> tuple[float, int]:
    """``(s2, dof)``: a series' residual variance in log error with its degrees of freedom
    counted (``rmse_log^2 n / (n - p)``, the median over its members with ``n > p``) and
    that ``n - p``; ``(nan, 0)`` when no member has a degree of freedom."""
    vals, dofs = [], []
    for m in members:
        dof = m.n_frontier - m.law.n_params
        rmse = m.diagnostics.get("rmse_log", np.nan)
        if dof > 0 and np.isfinite(rmse):
            vals.append(rmse**2 * m.n_frontier / dof)
            dofs.append(dof)
    if not vals:
        return float("nan"), 0
    k = int(np.argsort(vals)[len(vals) // 2])
    return float(vals[k]), int(dofs[k])


def noise_levels(noise: Sequence[tuple[float, int]]) -> np.ndarray:
    """Every series' ``sigma``: its own variance shrunk toward the command's (the median
    of the series' ``s2``) as a scaled inverse chi-square prior of :data:`NOISE_DOF`
    degrees of freedom, ``sigma^2 = (dof s2 + NOISE_DOF s2_pool) / (dof + NOISE_DOF)``;
    at least 0.001 (0.01 when no series has a degree of freedom)."""
    s2 = np.array([v for v, _ in noise], float)
    dof = np.array([d for _, d in noise], float)
    have = np.isfinite(s2) & (dof > 0)
    pool = float(np.median(s2[have])) if have.any() else 0.01**2
    own = np.where(have, s2, 0.0)
    sig2 = (dof * own + NOISE_DOF * pool) / (dof + NOISE_DOF)
    return np.maximum(np.sqrt(sig2), 1e-3)
