"""One candidate law on one frontier: the point fit, its backtests and its bootstrap.

Fit. ``theta`` minimises a loss on residuals (:mod:`scalecmp.engine.optimize`): by default
``huber_log``, a Huber loss (threshold ``delta``) on ``log err_pred - log err``, with point
weights that rise with log compute (:func:`point_weights`). Starts come from a grid over
the nonlinear parameters with amplitude and floor solved in closed form (variable
projection); the best ``n_starts`` are polished together by a vectorised
Levenberg-Marquardt. Priors (:mod:`scalecmp.engine.priors`) join the least-squares problem
as pseudo-observations.

Backtests (:func:`backtest`): leave-future-out predictions inside the series, which weigh
the candidates of ``law="auto"`` and measure the extrapolation error ``tau``.

Bootstrap (:func:`bootstrap`): replicates warm-started from the full fit's minima, all
fitted as one batch; the result is an immutable :class:`~scalecmp.engine.lawfit.LawFit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from scalecmp.engine.bootstrap import pairs_weights, residual_targets
from scalecmp.engine.lawfit import LawFit
from scalecmp.engine.laws import Law, get_law
from scalecmp.engine.optimize import objective, residuals
from scalecmp.engine.options import WEIGHTINGS, Candidate, FitOptions
from scalecmp.engine.pooling import PooledPrior
from scalecmp.engine.priors import Augmented, Priors, augment
from scalecmp.engine.recipes import STUDY_SCALE, fit_exact, study_starts
from scalecmp.engine.schedule import SolveRequest, Steps
from scalecmp.errors import UsageError

__all__ = ["BACKTEST_CUTS", "CandidateFit", "bootstrap", "fit_candidate", "point_weights"]

# ``fit_candidate``, ``backtest``, ``bootstrap`` and ``Solver.solve`` are steps
# (:mod:`scalecmp.engine.schedule`): generators that yield each batch of problems they need
# solved, so that the series of one call can be solved together

BACKTEST_CUTS = (0.6, 0.7, 0.8, 0.9)
RANGE_TOLERANCE = 0.005  # error above 1 + this inside the data rejects a law (0.5 pp)
REJECTED_BY = ("error leaves", "flat law")  # warnings that keep a law out of the mixture


def point_weights(
    x: np.ndarray, weighting: str, ref: tuple[float, float] | None = None
) -> np.ndarray:
    """Per-point weights of the loss.

    ``compute`` (default): ``w = 0.05 + z`` with ``z`` the position of ``log x`` in the
    fitted range (0 at the cheapest point, 1 at the most expensive). A law is fitted to be
    *extrapolated* to larger compute; the cheapest runs sit near chance level, where no
    power law holds, while the most expensive ones are closest to where predictions are
    wanted. ``none``: every point weighs 1.
    """
    x = np.asarray(x, float)
    if weighting == "none":
        return np.ones_like(x)
    if weighting != "compute":
        raise UsageError(f"weighting: unknown weighting '{weighting}' (known: "
                         f"{', '.join(WEIGHTINGS)})")
    lo, hi = (x.min(), x.max()) if ref is None else ref
    z = np.clip((np.log(x) - np.log(lo)) / max(np.log(hi) - np.log(lo), 1e-12), 0.0, 1.0)
    return 0.05 + z


class Problem(NamedTuple):
    """The augmented least-squares problem of one law on one data set: the model (the
    law and its priors' pseudo-observations), targets ``y`` and weights ``w`` (data points,
    then the pseudo-observations), bounds."""

    model: Augmented
    y: np.ndarray
    w: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class Solver:
    """One law with a loss, weights, starts and priors: the solves that the full fit, the
    backtests and the bootstrap share."""

    law: Law
    loss: str
    weighting: str
    starts: str
    priors: Priors
    delta: float

    def problem(self, xn: np.ndarray, ef: np.ndarray, xc: np.ndarray) -> Problem:
        w = point_weights(xc, self.weighting)
        w_mean = float(np.mean(w))
        model = augment(self.law, xn, self.priors, w_mean)
        y = np.r_[ef, np.ones(model.m)]
        w = np.r_[w, np.full(model.m, w_mean)]
        return Problem(model, y, w, *self.law.bounds(xn, ef))

    def request(self, prob: Problem, theta0: np.ndarray, max_iter: int, rtol: float,
                y: np.ndarray | None = None, w: np.ndarray | None = None) -> SolveRequest:
        """The solve of ``theta0`` on ``prob`` (its own targets and weights unless given)."""
        return SolveRequest(prob.model, theta0, prob.y if y is None else y,
                            prob.w if w is None else w, prob.lower, prob.upper,
                            self.loss, self.delta, max_iter, rtol)

    def solve(self, xn: np.ndarray, ef: np.ndarray, xc: np.ndarray, scale: np.ndarray,
              n_starts: int, exact: bool = True, max_iter: int = 500
              ) -> Steps:
        """Multi-start fit of one data set (steps): the polished starts, how many starts
        the grid had, and the problem. ``exact=False`` polishes the study's starts with
        scalecmp's optimiser even for ``laion2025-exact`` (used by the backtests)."""
        law = self.law
        prob = self.problem(xn, ef, xc)
        exact = exact and self.starts == "laion2025-exact"
        if self.starts in ("laion2025", "laion2025-exact"):
            # the exact recipe's grid is in GFLOPs; the study's grid as starts of scalecmp's
            # optimiser is placed at the study's compute scale, whatever x's unit
            at = scale if self.starts == "laion2025-exact" else np.full_like(scale, STUDY_SCALE)
            starts = study_starts(law, at, prob.lower, prob.upper)
            if exact:
                popt = fit_exact(xn * scale, ef)
                if popt is not None:
                    theta = np.clip(law.to_internal(np.asarray(popt), scale), prob.lower,
                                    prob.upper)
                    starts = theta[None, :]
        else:
            starts = np.clip(law.starts(xn, ef), prob.lower, prob.upper)
        r = residuals(prob.model.f(starts), prob.y[None, :], self.loss)
        start_loss = objective(r, np.broadcast_to(prob.w, r.shape), self.loss, self.delta)
        order = np.argsort(np.where(np.isfinite(start_loss), start_loss, np.inf))
        if not exact:
            starts = starts[order[:n_starts]]
        res = yield self.request(prob, starts, 0 if exact else max_iter, 1e-10)
        return res, len(order), prob


@dataclass(frozen=True)
class Backtest:
    """The law fitted below one cut of the frontier's log-compute range, predicting the
    points above it (``index``: their positions in the frontier)."""

    cut: float
    index: np.ndarray
    err_pred: np.ndarray


@dataclass(frozen=True)
class CandidateFit:
    """The point fit of one candidate on one frontier, before its bootstrap.

    ``xn``: normalised compute (``x / scale``), ``ef``: frontier errors, ``xcf``: frontier
    compute (the product of both inputs for two-input laws); ``theta`` the best internal
    parameters, ``minima`` the (up to two) distinct best minima the bootstrap starts from;
    ``tau`` the backtested extrapolation error; ``status`` ``"ok"`` or why the law is kept
    out of the mixture. ``ef``, ``fitted``, ``theta`` and the backtests are in units of
    ``y_scale`` (errors of order 1); ``params`` in the original unit."""

    spec: Candidate
    solver: Solver
    scale: np.ndarray
    xn: np.ndarray
    ef: np.ndarray
    xcf: np.ndarray
    theta: np.ndarray
    params: dict[str, float]
    minima: np.ndarray
    fitted: np.ndarray
    problem: Problem
    backtests: tuple[Backtest, ...]
    tau: float
    diagnostics: dict[str, Any]
    warnings: tuple[str, ...]
    status: str
    y_scale: float = 1.0

    @property
    def law(self) -> Law:
        return self.solver.law

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def fit_candidate(spec: Candidate, xf: np.ndarray, ef: np.ndarray, xcf: np.ndarray, *,
                  options: FitOptions, maximize: bool, y_scale: float = 1.0,
                  pool: PooledPrior | None = None) -> Steps:
    """Point fit and backtests of one candidate on the frontier ``(xf, ef)`` (no bootstrap
    yet; steps, returning a :class:`CandidateFit`). ``ef`` are errors divided by
    ``y_scale`` (of order 1: every bound, start grid and tolerance is stated for such
    errors), so the fit is the same whatever the metric's unit; parameters are reported
    in the original unit. ``pool``: the series' prior from the other series of its
    command (:mod:`scalecmp.engine.pooling`), applied to candidates that take priors."""
    law = get_law(spec.law)
    use_priors = spec.priors
    solver = Solver(
        law=law,
        loss=spec.loss or options.loss,
        weighting=spec.weighting or options.weighting,
        starts=spec.starts,
        priors=Priors(
            min_slope_ratio=options.min_slope_ratio if use_priors else 0.0,
            max_error=1.0 if (use_priors and options.range_prior and maximize) else None,
            pool=pool if use_priors and law.n_inputs == 1 else None,
        ),
        delta=options.delta,
    )
    scale = law.default_scale(xf)
    xn = law.normalise(xf, scale)
    res, n_grid, prob = yield from solver.solve(xn, ef, xcf, scale, options.n_starts)
    best = int(np.argmin(res.loss))
    theta = res.theta[best]
    best_loss = float(res.loss[best])
    tol = 1e-4 * max(abs(best_loss), 1e-12) + 1e-12
    reached = int((res.loss <= best_loss + tol).sum())
    uniq = np.unique(np.round(res.loss, 10), return_index=True)[1]
    uniq = uniq[np.argsort(res.loss[uniq])][:2]
    fitted = law.f(xn, theta[None, :])[0]
    params = dict(zip(law.param_names,
                      map(float, law.scale_params(law.from_internal(theta, scale), y_scale)),
                      strict=True))
    at_bound = [n for n, b in zip(law.param_names, res.at_bound[best], strict=True) if b]
    backtests, tau = yield from backtest(solver, xn, ef, xcf, scale, fitted)
    if not options.extrapolation_error:
        tau = 0.0
    msgs = law_warnings(law, params, at_bound, reached, len(res.loss), len(ef), xn, theta,
                        maximize=maximize)
    fatal = [m for m in msgs if m.startswith(REJECTED_BY)]
    diagnostics = {
        "loss": solver.loss,
        "weighting": solver.weighting,
        "objective": best_loss,  # the minimised loss, of the errors / y_scale
        "rmse_log": float(np.sqrt(np.mean(np.log(fitted / ef) ** 2))),
        "rmse": float(np.sqrt(np.mean((fitted - ef) ** 2))) * y_scale,
        "n_starts": int(len(res.loss)),
        "n_grid": n_grid,
        "n_reached_best": reached,
        "converged": bool(res.converged[best]),
        "iterations": int(res.iterations[best]),
        "params_at_bound": at_bound,
        "extrapolation_error": tau,
    }
    return CandidateFit(
        spec=spec, solver=solver, scale=scale, xn=xn, ef=ef, xcf=xcf, theta=theta,
        params=params, minima=res.theta[uniq], fitted=fitted, problem=prob,
        backtests=backtests, tau=tau, diagnostics=diagnostics, warnings=tuple(msgs),
        status="rejected: " + fatal[0] if fatal else "ok", y_scale=y_scale,
    )


def backtest(solver: Solver, xn: np.ndarray, ef: np.ndarray, xcf: np.ndarray,
             scale: np.ndarray, fitted: np.ndarray) -> Steps:
    """Leave-future-out predictions inside the data, and the extrapolation error (steps).

    The frontier is cut at 60, 70, 80 and 90% of its log-compute range
    (:data:`BACKTEST_CUTS`); the law fitted below each cut predicts the points above it.
    With ``r`` the log residual of such a prediction, ``D`` its distance beyond the cut in
    natural-log compute and ``s2`` the full fit's residual variance,
    ``tau^2 = sum(r^2 - s2) / sum(D^2)`` (>= 0): the variance a prediction gains per
    squared unit of extrapolation, which the bootstrap of a single fit cannot see (the
    law's form, correlated frontier noise). Returns the backtests and ``tau``.
    """
    law = solver.law
    if law.n_inputs != 1:
        return (), 0.0
    lx = np.log(xn)
    lo, hi = lx.min(), lx.max()
    s2 = float(np.mean(np.log(fitted / ef) ** 2))
    num = den = 0.0
    out = []
    for q in BACKTEST_CUTS:
        train = lx <= lo + q * (hi - lo)
        if train.sum() < law.n_params + 1 or (~train).sum() < 1:
            continue
        res, _, _ = yield from solver.solve(xn[train], ef[train], xcf[train], scale, 8,
                                            exact=False, max_iter=200)
        theta = res.theta[np.argmin(res.loss)]
        pred = law.f(xn[~train], theta[None, :])[0]
        r = np.log(np.maximum(pred, 1e-300) / ef[~train])
        dist = lx[~train] - lx[train].max()
        num += float(np.sum(r**2 - s2))
        den += float(np.sum(dist**2))
        out.append(Backtest(cut=q, index=np.flatnonzero(~train), err_pred=pred))
    tau = float(np.sqrt(max(num, 0.0) / den)) if den > 0 else 0.0
    return tuple(out), tau


def law_warnings(law: Law, params: dict, at_bound: list[str], reached: int, n_starts: int,
                 n: int, xn: np.ndarray, theta: np.ndarray, *, maximize: bool) -> list[str]:
    """What is doubtful about one fitted law: parameters at a bound, a fragile optimum, an
    interpolating fit, an error that leaves ``(0, 1]`` (``maximize``) or does not fall
    inside the data (the last two keep the law out of the mixture: :data:`REJECTED_BY`)."""
    msgs = []
    for name in at_bound:
        msgs.append(f"{name} = {params[name]:.4g} is at its bound")
    if reached < 2 and n_starts > 1:
        msgs.append("only one start reached the best loss (the optimum may be fragile)")
    if n <= law.n_params + 1:
        msgs.append(f"{n} points for {law.n_params} parameters: the fit interpolates")
    if law.n_inputs == 1:
        grid = np.geomspace(xn.min(), xn.max(), 64)
        e = law.f(grid, theta[None, :])[0]
        cap = 1.0 if maximize else np.inf
        bad = (e > cap + RANGE_TOLERANCE) | (e <= 0)
        if bad.any():
            msgs.append(
                f"error leaves (0, {cap:g}] inside the data (max {e.max():.3g}): the law "
                "cannot describe these measurements"
            )
        if e[0] - e[-1] <= 1e-3 * e[0]:
            msgs.append(
                "flat law: the error does not fall across the data (amplitude or exponent "
                "at 0)"
            )
    return msgs


def bootstrap(st: CandidateFit, R: int, rng: np.random.Generator, *,
              method: str) -> Steps:
    """``R`` bootstrap replicates of one candidate (``pairs`` of frontier points, or
    ``residual``), warm-started from its minima and fitted as one batch; the tilt draws of
    the extrapolation error; returns (steps) the immutable :class:`LawFit`."""
    law, solver, prob = st.law, st.solver, st.problem
    p = law.n_params
    n = len(st.ef)
    m = len(prob.y) - n
    boot_theta = np.empty((0, p))
    if R > 0:
        if method == "pairs":
            W = np.concatenate(
                [pairs_weights(n, R, rng) * prob.w[:n], np.broadcast_to(prob.w[n:], (R, m))],
                axis=1,
            )
            Y = np.broadcast_to(prob.y, (R, n + m))
        else:
            resid = residuals(st.fitted, st.ef, solver.loss)
            T = residual_targets(st.fitted, resid, solver.loss, R, rng)
            Y = np.concatenate([T, np.ones((R, m))], axis=1)
            W = np.broadcast_to(prob.w, (R, n + m))
        k = len(st.minima)
        theta0 = np.repeat(st.minima[None, :, :], R, axis=0).reshape(R * k, p)
        res = yield solver.request(prob, theta0, 100, 1e-7, y=np.repeat(Y, k, axis=0),
                                   w=np.repeat(W, k, axis=0))
        pick = np.argmin(res.loss.reshape(R, k), axis=1)
        boot_theta = res.theta.reshape(R, k, p)[np.arange(R), pick]
    tilt = rng.normal(0.0, st.tau, R)
    seed = int(rng.integers(0, 2**31 - 1))
    return LawFit(
        law=law,
        loss=solver.loss,
        weighting=solver.weighting,
        theta=st.theta,
        scale=np.asarray(st.scale, dtype=float),
        x_max_n=float(np.max(st.xn if law.n_inputs == 1 else 1.0)),
        params=st.params,
        bootstrap_theta=boot_theta,
        bootstrap_params=(law.scale_params(law.from_internal(boot_theta, st.scale), st.y_scale)
                          if R else boot_theta),
        tilt=tilt,
        extrapolation_error=st.tau,
        residuals=residuals(st.fitted, st.ef, solver.loss),
        n_frontier=n,
        noise_seed=seed,
        diagnostics=st.diagnostics,
        warnings=st.warnings,
        backtest=tuple(
            {"cut": b.cut, "index": b.index.tolist(),
             "err_pred": (b.err_pred * st.y_scale).tolist()}
            for b in st.backtests
        ),
        y_scale=st.y_scale,
    )
