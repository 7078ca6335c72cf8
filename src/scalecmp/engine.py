"""The scaling-law engine: robust multi-start fits with bootstrap uncertainty.

Model. For a group of measurements ``(x_i, y_i)`` (``x`` compute, ``y`` the metric) the
engine fits ``err(x) = law(x; theta)`` to the compute frontier, where ``err = y`` for a
lower-is-better metric and ``err = 1 - y`` with ``maximize`` (accuracy, recall, mIoU).
Predictions are reported in the metric's own units.

Fit. ``theta`` minimises a loss on residuals (see :mod:`scalecmp.optimize`); the default is
``huber_log``: a Huber loss on ``log err_pred - log err``. Log residuals weigh every order
of magnitude of error alike (the low-error, high-compute end, which extrapolation depends on,
is not drowned by the large errors of tiny runs) and the Huber tail keeps one bad run from
bending the law. Starts come from a grid over the nonlinear parameters with the amplitude and
floor solved in closed form (variable projection); the best ``n_starts`` of them are polished
together by a vectorised Levenberg-Marquardt, and the lowest loss wins. Deterministic.

Uncertainty. ``n_bootstrap`` replicates (pairs bootstrap over the frontier points by
default), fitted as one batch warm-started from the distinct local minima of the full fit.
Parameter intervals are percentile intervals of the replicates. A bootstrap of one fit
cannot see how wrong the law's *form* is when extrapolated, so the engine measures that on
the data (:meth:`ScalingLawRegressor._backtest`: fit below a cut, predict above it) and
tilts every replicate's curve beyond the measured range by a random extrapolation error of
that size. Prediction intervals add a resampled residual to each replicate's curve, so they
are intervals for a new measurement.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.bootstrap import BOOTSTRAPS, noise_draws, pairs_weights, residual_targets
from scalecmp.errors import DataError, UsageError
from scalecmp.frontier import FRONTIERS, frontier_mask
from scalecmp.io import ScalecmpWarning, prepare_measurements
from scalecmp.laws import LAWS, Law, get_law
from scalecmp.optimize import LOSSES, minimize_batch, objective, residuals

__all__ = [
    "DEFAULT_LAW",
    "DEFAULT_LOSS",
    "DEFAULT_FRONTIER",
    "ScalingLawRegressor",
    "GroupFit",
    "FitResult",
    "fit",
]

DEFAULT_LAW = "broken_power"
DEFAULT_WEIGHTING = "compute"
DEFAULT_LOSS = "huber_log"
DEFAULT_FRONTIER = "binned"
DEFAULT_DELTA = 0.05
BACKTEST_CUTS = (0.6, 0.7, 0.8, 0.9)


WEIGHTINGS = ("compute", "none")


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
        raise UsageError(f"unknown weighting '{weighting}' (known: {', '.join(WEIGHTINGS)})")
    lo, hi = (x.min(), x.max()) if ref is None else ref
    z = np.clip((np.log(x) - np.log(lo)) / max(np.log(hi) - np.log(lo), 1e-12), 0.0, 1.0)
    return 0.05 + z


def _as_x(x: Any, x2: Any | None, n_inputs: int) -> np.ndarray:
    x = np.asarray(x, dtype=float).reshape(-1)
    if n_inputs == 2:
        if x2 is None:
            raise UsageError("this law needs two inputs: pass x2 (--x2) as well")
        return np.stack([x, np.asarray(x2, dtype=float).reshape(-1)], axis=-1)
    if x2 is not None:
        raise UsageError("x2 (--x2) is only used by two-input laws such as chinchilla")
    return x


class ScalingLawRegressor:
    """Fit one scaling law to one series of measurements (scikit-learn style).

    Parameters
    ----------
    law : name in :data:`scalecmp.laws.LAWS` or a :class:`~scalecmp.laws.Law`.
    loss : ``huber_log`` (default), ``log`` or ``ls`` (least squares on raw error, the study's).
    delta : Huber threshold on log residuals (0.05 = 5% relative error).
    frontier : ``binned``, ``naive`` or ``none`` (see :mod:`scalecmp.frontier`); ``None``
        (default): ``binned``, or ``none`` for two-input laws.
    maximize : the metric is higher-is-better in [0, 1]; the law is fitted to ``1 - y``.
    n_bootstrap : replicates for intervals (0 disables intervals).
    bootstrap : ``pairs`` or ``residual``.
    level : default interval level.
    n_starts : starts polished by Levenberg-Marquardt on the full data.
    weighting : ``compute`` (default; see :func:`point_weights`) or ``none``.
    extrapolation_error : add the backtested extrapolation error beyond the fitted range.
    random_state : seed of the bootstrap.

    Fitted attributes: ``law_``, ``params_`` (dict, original units), ``theta_`` (internal),
    ``scale_``, ``x_`` / ``err_`` (all points, error units), ``frontier_mask_``,
    ``bootstrap_params_`` (R, p), ``bootstrap_tilt_`` (R,), ``extrapolation_error_`` (tau,
    per natural-log unit of compute), ``residuals_``, ``diagnostics_``.
    """

    def __init__(
        self,
        law: str | Law = DEFAULT_LAW,
        *,
        loss: str = DEFAULT_LOSS,
        delta: float = DEFAULT_DELTA,
        frontier: str | None = None,
        maximize: bool = False,
        n_bootstrap: int = 1000,
        bootstrap: str = "pairs",
        level: float = 0.95,
        n_starts: int = 32,
        weighting: str = DEFAULT_WEIGHTING,
        extrapolation_error: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.law = law
        self.loss = loss
        self.delta = delta
        self.frontier = frontier
        self.maximize = maximize
        self.n_bootstrap = n_bootstrap
        self.bootstrap = bootstrap
        self.level = level
        self.n_starts = n_starts
        self.weighting = weighting
        self.extrapolation_error = extrapolation_error
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_options(self) -> Law:
        law = get_law(self.law)
        if self.loss not in LOSSES:
            raise UsageError(f"unknown loss '{self.loss}' (known: {', '.join(LOSSES)})")
        if self.frontier is not None and self.frontier not in FRONTIERS:
            raise UsageError(f"unknown frontier '{self.frontier}' (known: {', '.join(FRONTIERS)})")
        if self.bootstrap not in BOOTSTRAPS:
            raise UsageError(
                f"unknown bootstrap '{self.bootstrap}' (known: {', '.join(BOOTSTRAPS)})"
            )
        if not 0.0 < self.level < 1.0:
            raise UsageError(f"level must lie in (0, 1), got {self.level}")
        if self.n_bootstrap < 0:
            raise UsageError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        return law

    def _frontier_method(self, law: Law) -> str:
        """The frontier asked for; by default ``binned`` for compute laws and ``none`` for
        two-input laws such as ``chinchilla``, which model every run, not only the best."""
        if self.frontier is not None:
            return self.frontier
        return "none" if law.n_inputs == 2 else DEFAULT_FRONTIER

    def fit(self, x: Any, y: Any, x2: Any | None = None) -> ScalingLawRegressor:
        """Fit to compute ``x`` (and ``x2`` for two-input laws) and metric ``y``."""
        law = self._check_options()
        X = _as_x(x, x2, law.n_inputs)
        y = np.asarray(y, dtype=float).reshape(-1)
        if len(y) != len(X):
            raise DataError(f"x and y differ in length ({len(X)} vs {len(y)})")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise DataError("x and y must be finite (drop NaNs first)")
        if (X <= 0).any():
            raise DataError("x must be > 0")
        if self.maximize and ((y < 0) | (y > 1)).any():
            raise DataError("with maximize, y must lie in [0, 1]")
        err = 1.0 - y if self.maximize else y
        if (err <= 0).any():
            what = "y = 1 (error 0)" if self.maximize else "y <= 0"
            raise DataError(
                f"{int((err <= 0).sum())} points have {what}; the laws model a positive error"
            )
        xc = X if law.n_inputs == 1 else X[:, 0] * X[:, 1]
        mask = frontier_mask(xc, err, self._frontier_method(law))
        need = law.n_params + 1
        if mask.sum() < need:
            smaller = [
                f"--law {other.name}"
                for other in LAWS.values()
                if other.n_inputs == law.n_inputs and other.n_params + 1 <= mask.sum()
            ]
            hint = f"; try {' or '.join(smaller)}" if smaller else ""
            raise DataError(
                f"{int(mask.sum())} frontier points (of {len(err)}) are too few for law "
                f"'{law.name}' with {law.n_params} parameters (need >= {need}){hint}"
            )
        self.law_ = law
        self.x_, self.err_, self.frontier_mask_ = X, err, mask
        xf, ef = X[mask], err[mask]
        self.scale_ = law.default_scale(xf)
        xn = law.normalise(xf, self.scale_)
        lower, upper = law.bounds(xn, ef)
        self._xn, self._ef, self._bounds = xn, ef, (lower, upper)

        self._w = point_weights(xc[mask], self.weighting)
        self._f = lambda theta: law.f(xn, theta)
        self._f_jac = lambda theta: law.f_jac(xn, theta)
        res, n_grid = self._solve(xn, ef, self._w, (lower, upper))
        best = int(np.argmin(res.loss))
        self.theta_ = res.theta[best]
        best_loss = float(res.loss[best])
        tol = 1e-4 * max(abs(best_loss), 1e-12) + 1e-12
        reached = int((res.loss <= best_loss + tol).sum())
        # distinct local minima (by loss) seed the bootstrap
        uniq = np.unique(np.round(res.loss, 10), return_index=True)[1]
        uniq = uniq[np.argsort(res.loss[uniq])][:2]
        self._minima = res.theta[uniq]
        params = law.from_internal(self.theta_, self.scale_)
        self.params_ = dict(zip(law.param_names, map(float, params), strict=True))
        fitted = self._f(self.theta_[None, :])[0]
        self.residuals_ = residuals(fitted, ef, self.loss)
        names_at_bound = [n for n, b in zip(law.param_names, res.at_bound[best], strict=True) if b]
        self.diagnostics_ = {
            "loss": self.loss,
            "objective": best_loss,
            "rmse_log": float(np.sqrt(np.mean(np.log(fitted / ef) ** 2))),
            "rmse": float(np.sqrt(np.mean((fitted - ef) ** 2))),
            "n_starts": int(len(res.loss)),
            "n_grid": n_grid,
            "n_reached_best": reached,
            "converged": bool(res.converged[best]),
            "iterations": int(res.iterations[best]),
            "params_at_bound": names_at_bound,
        }
        self._warn_degenerate(names_at_bound, reached)
        self.extrapolation_error_ = self._backtest() if self.extrapolation_error else 0.0
        self.diagnostics_["extrapolation_error"] = self.extrapolation_error_
        self._bootstrap()
        return self

    def _solve(self, xn: np.ndarray, ef: np.ndarray, w: np.ndarray, bounds, n_starts=None):
        """Multi-start fit of one data set: grid starts scored at once, the best polished
        together by Levenberg-Marquardt. Returns the batch result and the grid size."""
        law = self.law_
        lower, upper = bounds
        starts = np.clip(law.starts(xn, ef), lower, upper)
        r = residuals(law.f(xn, starts), ef[None, :], self.loss)
        start_loss = objective(r, np.broadcast_to(w, r.shape), self.loss, self.delta)
        order = np.argsort(np.where(np.isfinite(start_loss), start_loss, np.inf))
        chosen = starts[order[: n_starts or self.n_starts]]
        res = minimize_batch(
            lambda t: law.f(xn, t),
            lambda t: law.f_jac(xn, t),
            chosen,
            ef,
            w,
            lower,
            upper,
            loss=self.loss,
            delta=self.delta,
        )
        return res, len(starts)

    def _backtest(self) -> float:
        """Extrapolation error per unit of log-compute, measured on the data themselves.

        The frontier is cut at 60, 70, 80 and 90% of its log-compute range
        (:data:`BACKTEST_CUTS`); the law fitted below each cut predicts the points above it.
        With ``r`` the log residual of such a prediction, ``D`` its distance beyond the cut
        in natural-log compute and ``s2`` the full fit's residual variance,
        ``tau^2 = sum(r^2 - s2) / sum(D^2)`` (>= 0): the variance a prediction gains per
        squared unit of extrapolation, which the bootstrap of a single fit cannot see (the
        law's form, correlated frontier noise).
        """
        law = self.law_
        if law.n_inputs != 1:
            return 0.0
        xn, ef = self._xn, self._ef
        lx = np.log(xn)
        lo, hi = lx.min(), lx.max()
        s2 = float(np.mean(np.log(self._f(self.theta_[None, :])[0] / ef) ** 2))
        num = den = 0.0
        for q in BACKTEST_CUTS:
            train = lx <= lo + q * (hi - lo)
            if train.sum() < law.n_params + 2 or (~train).sum() < 1:
                continue
            xt, et = xn[train], ef[train]
            w = point_weights(xt, self.weighting)
            res, _ = self._solve(xt, et, w, law.bounds(xt, et), n_starts=8)
            theta = res.theta[np.argmin(res.loss)]
            pred = law.f(xn[~train], theta[None, :])[0]
            r = np.log(pred / ef[~train])
            dist = lx[~train] - lx[train].max()
            num += float(np.sum(r**2 - s2))
            den += float(np.sum(dist**2))
        return float(np.sqrt(max(num, 0.0) / den)) if den > 0 else 0.0

    def _warn_degenerate(self, at_bound: list[str], reached: int) -> None:
        law = self.law_
        msgs = []
        if "alpha" in at_bound and self.params_.get("alpha", -1) >= -1e-9:
            msgs.append("alpha hit 0 (no improvement with compute)")
        if reached < 2 and self.diagnostics_["n_starts"] > 1:
            msgs.append("only one start reached the best loss (the optimum may be fragile)")
        if len(self._ef) <= law.n_params + 1:
            msgs.append(
                f"{len(self._ef)} points for {law.n_params} parameters: the fit interpolates"
            )
        self.diagnostics_["warnings"] = msgs
        for m in msgs:
            warnings.warn(f"law '{law.name}': {m}", ScalecmpWarning, stacklevel=3)

    def _bootstrap(self) -> None:
        R = int(self.n_bootstrap)
        law = self.law_
        p = law.n_params
        if R == 0:
            self.bootstrap_theta_ = np.empty((0, p))
            self.bootstrap_params_ = np.empty((0, p))
            self.bootstrap_tilt_ = np.empty(0)
            return
        rng = np.random.default_rng(self.random_state)
        n = len(self._ef)
        if self.bootstrap == "pairs":
            W = pairs_weights(n, R, rng) * self._w
            Y = np.broadcast_to(self._ef, (R, n))
        elif self.bootstrap == "residual":
            fitted = self._f(self.theta_[None, :])[0]
            Y = residual_targets(fitted, self.residuals_, self.loss, R, rng)
            W = np.broadcast_to(self._w, (R, n))

        k = len(self._minima)
        theta0 = np.repeat(self._minima[None, :, :], R, axis=0).reshape(R * k, p)
        lower, upper = self._bounds
        res = minimize_batch(
            self._f,
            self._f_jac,
            theta0,
            np.repeat(Y, k, axis=0),
            np.repeat(W, k, axis=0),
            lower,
            upper,
            loss=self.loss,
            delta=self.delta,
            max_iter=100,
            rtol=1e-7,
        )
        losses = res.loss.reshape(R, k)
        pick = np.argmin(losses, axis=1)
        theta = res.theta.reshape(R, k, p)[np.arange(R), pick]
        self.bootstrap_theta_ = theta
        self.bootstrap_params_ = law.from_internal(theta, self.scale_)
        # each replicate's curve also tilts beyond the data by a random extrapolation error
        self.bootstrap_tilt_ = rng.normal(0.0, self.extrapolation_error_, R)
        self._noise_rng_seed = int(rng.integers(0, 2**31 - 1))

    # --------------------------------------------------------------- predicting
    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise RuntimeError("this ScalingLawRegressor is not fitted yet; call fit() first")

    def _to_metric(self, err: np.ndarray) -> np.ndarray:
        # a higher-is-better metric lives in [0, 1]: a law's error above 1 means "chance"
        return np.clip(1.0 - err, 0.0, 1.0) if self.maximize else err

    def _xn_of(self, x: Any, x2: Any | None = None) -> np.ndarray:
        X = _as_x(x, x2, self.law_.n_inputs)
        return self.law_.normalise(X, self.scale_)

    def predict_error(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Predicted error (lower is better) at ``x``."""
        self._check_fitted()
        return self.law_.f(self._xn_of(x, x2), self.theta_[None, :])[0]

    def predict(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Predicted metric at ``x`` (1 - error with ``maximize``)."""
        return self._to_metric(self.predict_error(x, x2))

    def error_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Law curve of every bootstrap replicate in error units, (R, len(x)).

        Beyond the fitted range each replicate is tilted by ``exp(g_r * D(x))``, with
        ``D(x)`` the distance beyond the largest fitted compute in natural-log units and
        ``g_r ~ N(0, tau^2)``, ``tau`` the backtested extrapolation error.
        """
        self._check_fitted()
        xn = self._xn_of(x, x2)
        curves = self.law_.f(xn, self.bootstrap_theta_)
        if self.law_.n_inputs == 1 and len(self.bootstrap_tilt_):
            dist = np.maximum(np.log(xn) - np.log(self._xn.max()), 0.0)
            curves = curves * np.exp(self.bootstrap_tilt_[:, None] * dist[None, :])
        return curves

    def predict_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Law curve of every bootstrap replicate in metric units, (R, len(x))."""
        return self._to_metric(self.error_replicates(x, x2))

    def interval(
        self, x: Any, level: float | None = None, x2: Any | None = None, *, kind: str = "prediction"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` interval at ``x`` in metric units.

        ``kind="prediction"`` (default): for a new measurement (curve uncertainty plus
        measurement scatter); ``kind="curve"``: for the law itself.
        """
        self._check_fitted()
        level = self.level if level is None else level
        if not 0 < level < 1:
            raise UsageError(f"level must lie in (0, 1), got {level}")
        m = len(np.asarray(x).reshape(-1))
        if len(self.bootstrap_theta_) == 0:
            nan = np.full(m, np.nan)
            return nan, nan.copy()
        curves = self.error_replicates(x, x2)
        if kind == "prediction":
            rng = np.random.default_rng(self._noise_rng_seed)
            noise = noise_draws(self.residuals_, self.law_.n_params, curves.shape, rng)
            curves = curves + noise if self.loss == "ls" else curves * np.exp(noise)
        elif kind != "curve":
            raise UsageError(f"unknown interval kind '{kind}' (prediction or curve)")
        q = (1.0 - level) / 2.0
        lo_e, hi_e = np.quantile(curves, [q, 1.0 - q], axis=0)
        if self.maximize:
            return self._to_metric(hi_e), self._to_metric(lo_e)
        return lo_e, hi_e

    def params_interval(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap interval of every parameter (original units)."""
        self._check_fitted()
        level = self.level if level is None else level
        if len(self.bootstrap_params_) == 0:
            return {n: (float("nan"), float("nan")) for n in self.law_.param_names}
        q = (1.0 - level) / 2.0
        lo, hi = np.quantile(self.bootstrap_params_, [q, 1.0 - q], axis=0)
        return {
            n: (float(a), float(b)) for n, a, b in zip(self.law_.param_names, lo, hi, strict=True)
        }


@dataclass
class GroupFit:
    """The fit of one group: its key, the fitted regressor and the rows it was fitted to."""

    key: dict[str, Any]
    regressor: ScalingLawRegressor
    data: pd.DataFrame
    x: str
    y: str
    x2: str | None = None
    predictions_at: list[float] = field(default_factory=list)

    # delegated, so that a GroupFit reads like the fit itself
    @property
    def law(self) -> Law:
        return self.regressor.law_

    @property
    def params(self) -> dict[str, float]:
        return dict(self.regressor.params_)

    @property
    def params_ci(self) -> dict[str, tuple[float, float]]:
        return self.regressor.params_interval()

    @property
    def maximize(self) -> bool:
        return self.regressor.maximize

    @property
    def bootstrap_params(self) -> np.ndarray:
        return self.regressor.bootstrap_params_

    @property
    def diagnostics(self) -> dict[str, Any]:
        return dict(self.regressor.diagnostics_)

    @property
    def frontier(self) -> pd.DataFrame:
        return self.data.loc[self.regressor.frontier_mask_]

    @property
    def n_points(self) -> int:
        return len(self.data)

    @property
    def n_frontier(self) -> int:
        return int(self.regressor.frontier_mask_.sum())

    @property
    def x_range(self) -> tuple[float, float]:
        xs = self.frontier[self.x].to_numpy(float)
        return float(xs.min()), float(xs.max())

    def predict(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.regressor.predict(x, x2)

    def predict_error(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.regressor.predict_error(x, x2)

    def interval(self, x: Any, level: float | None = None, x2: Any | None = None, **kw: Any):
        return self.regressor.interval(x, level, x2, **kw)

    def error_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.regressor.error_replicates(x, x2)

    def predict_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.regressor.predict_replicates(x, x2)

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.key.items()) or "all"

    def predictions(self, at: Sequence[float] | None = None) -> list[dict[str, float]]:
        at = list(self.predictions_at if at is None else at)
        if not at or self.law.n_inputs != 1:
            return []
        xs = np.asarray(at, dtype=float)
        yhat = self.predict(xs)
        lo, hi = self.interval(xs)
        return [
            {"x": float(a), "y": float(b), "lo": float(c), "hi": float(d)}
            for a, b, c, d in zip(xs, yhat, lo, hi, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        """This group's entry of the fit JSON contract."""
        return {
            "key": {k: _jsonable(v) for k, v in self.key.items()},
            "law": self.law.name,
            "formula": self.law.formula,
            "params": self.params,
            "params_ci": {k: list(v) for k, v in self.params_ci.items()},
            "n_points": self.n_points,
            "n_frontier": self.n_frontier,
            "x_range": list(self.x_range),
            "diagnostics": self.diagnostics,
            "predictions": self.predictions(),
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class FitResult:
    """Fits of every group, with the options that produced them."""

    groups: list[GroupFit]
    x: str
    y: str
    maximize: bool
    law: str
    level: float
    n_bootstrap: int
    frontier: str
    loss: str
    by: list[str]
    x2: str | None = None

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, item: int | dict[str, Any] | str) -> GroupFit:
        if isinstance(item, int):
            return self.groups[item]
        if isinstance(item, str):
            if len(self.by) != 1:
                raise KeyError("index by a dict when grouping by several columns")
            item = {self.by[0]: item}
        for g in self.groups:
            if all(str(g.key.get(k)) == str(v) for k, v in item.items()):
                return g
        raise KeyError(item)

    def to_dict(self) -> dict[str, Any]:
        """The fit JSON contract."""
        out = {
            "x": self.x,
            "y": self.y,
            "maximize": self.maximize,
            "law": self.law,
            "level": self.level,
            "n_bootstrap": self.n_bootstrap,
            "frontier": self.frontier,
            "loss": self.loss,
            "groups": [g.to_dict() for g in self.groups],
        }
        if self.x2:
            out["x2"] = self.x2
        return out

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame: one row per (group, parameter) with estimate and interval."""
        rows = []
        for g in self.groups:
            ci = g.params_ci
            for name, value in g.params.items():
                rows.append(
                    {
                        **g.key,
                        "law": g.law.name,
                        "param": name,
                        "estimate": value,
                        "lo": ci[name][0],
                        "hi": ci[name][1],
                        "n_points": g.n_points,
                        "n_frontier": g.n_frontier,
                    }
                )
        return pd.DataFrame(rows)

    def predictions_frame(self, at: Sequence[float]) -> pd.DataFrame:
        """Tidy frame of predictions: one row per (group, x)."""
        return pd.DataFrame([{**g.key, **row} for g in self.groups for row in g.predictions(at)])


def fit(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    by: str | Sequence[str] | None = None,
    x2: str | None = None,
    where: Sequence[str] | None = None,
    maximize: bool = False,
    law: str | Law = DEFAULT_LAW,
    loss: str = DEFAULT_LOSS,
    frontier: str | None = None,
    n_bootstrap: int = 1000,
    bootstrap: str = "pairs",
    level: float = 0.95,
    predict_at: Sequence[float] | None = None,
    weighting: str = DEFAULT_WEIGHTING,
    extrapolation_error: bool = True,
    random_state: int | None = 0,
) -> FitResult:
    """Fit one scaling law per group of ``by`` (see :class:`ScalingLawRegressor`).

    ``frame`` is a pandas DataFrame of measurements; ``x`` the compute column (> 0), ``y``
    the metric column, ``x2`` the second input of two-input laws, ``where`` filters as on the
    command line (``"model_type=clip"``, ``"gflops_total<=1e11"``).
    """
    by = [by] if isinstance(by, str) else list(by or [])
    law_obj = get_law(law)
    data = prepare_measurements(frame, x, y, x2=x2, by=by, where=where, maximize=maximize)
    if predict_at is not None:
        bad = [v for v in predict_at if not v > 0]
        if bad:
            raise UsageError(f"--predict-at values must be > 0, got {bad[0]}")
    groups: list[GroupFit] = []
    grouped = data.groupby(by, sort=True, dropna=False) if by else [((), data)]
    for key, rows in grouped:
        key = key if isinstance(key, tuple) else (key,)
        key_dict = {b: _jsonable(k) for b, k in zip(by, key, strict=True)}
        reg = ScalingLawRegressor(
            law_obj,
            loss=loss,
            frontier=frontier,
            maximize=maximize,
            n_bootstrap=n_bootstrap,
            bootstrap=bootstrap,
            level=level,
            weighting=weighting,
            extrapolation_error=extrapolation_error,
            random_state=random_state,
        )
        try:
            reg.fit(rows[x].to_numpy(), rows[y].to_numpy(), None if x2 is None else rows[x2])
        except DataError as exc:
            where_txt = (
                f"group {', '.join(f'{k}={v}' for k, v in key_dict.items())}: " if by else ""
            )
            raise DataError(f"{where_txt}{exc}") from None
        groups.append(
            GroupFit(
                key=key_dict,
                regressor=reg,
                data=rows.reset_index(drop=True),
                x=x,
                y=y,
                x2=x2,
                predictions_at=list(predict_at or []),
            )
        )
    return FitResult(
        groups=groups,
        x=x,
        y=y,
        maximize=maximize,
        law=law_obj.name,
        level=level,
        n_bootstrap=n_bootstrap,
        frontier=frontier or ("none" if law_obj.n_inputs == 2 else DEFAULT_FRONTIER),
        loss=loss,
        by=by,
        x2=x2,
    )
