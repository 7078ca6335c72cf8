"""The fitted state of one scaling law on one series: an immutable value.

A :class:`LawFit` holds everything later steps need to predict and to quantify uncertainty
for one law: the internal parameters ``theta`` and input scale, the bootstrap replicates,
the backtested extrapolation error, the residuals. It never refits and never changes.

Replicate curves (``error_replicates``), in error units (lower is better):

    e_r(x) = f(x; theta) * exp(k * (log f(x; theta_r) - log f(x; theta))) * exp(g_r * D(x))

* ``theta_r``: bootstrap replicate ``r``;
* ``k = sqrt(n / (n - p))`` (``n`` frontier points, ``p`` parameters; 2 when ``n <= p``):
  a pairs bootstrap spreads its replicates like ``RSS / n`` rather than ``RSS / (n - p)``,
  too narrow for the ~10-20 points of a frontier;
* ``D(x) = max(0, log x - log x_max)``: natural-log distance beyond the largest fitted
  compute (``error_replicates(..., data_end=c)`` measures it from ``max(x_max, c)``
  instead: the replicates as they would extrapolate were the data to reach ``c``;
  ``data_end=inf`` gives the untilted curves); ``g_r ~ N(0, tau^2)`` with ``tau`` the
  backtested extrapolation error per unit of log compute (see
  :meth:`scalecmp.engine.ScalingLawRegressor._backtest`). Inside the data the tilt is 1.

Prediction replicates (for a new measurement) also multiply by ``exp(eps_r)`` (log losses)
or add ``eps_r`` (``ls``), ``eps_r`` a centred, inflated residual drawn with replacement;
an added residual that would take the error below 0 (a raw residual larger than the curve
it is added to, far beyond the data) leaves it at 0, the bound of an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalecmp.engine.bootstrap import noise_draws
from scalecmp.engine.laws import Law

__all__ = ["LawFit", "df_factor"]


def df_factor(n: int, p: int) -> float:
    """Small-sample factor ``sqrt(n / (n - p))`` (2 when ``n <= p``)."""
    return float(np.sqrt(n / (n - p))) if n > p else 2.0


def frozen_array(a: Any, dtype: type = float) -> np.ndarray:
    """A read-only copy of ``a``: a result's arrays cannot be changed in place."""
    arr = np.array(a, dtype=dtype)
    arr.setflags(write=False)
    return arr


class FrozenDict(dict):
    """A ``dict`` that cannot be changed (a result's parameters, diagnostics, group key):
    reads, ``dict(d)``, ``**d`` and ``json.dumps`` work as for a dict; assignment,
    deletion and the updating methods raise :class:`TypeError`. ``dict(d)`` is a mutable
    copy."""

    def _immutable(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a fit's result is immutable; copy it first: dict(...)")

    __setitem__ = __delitem__ = __ior__ = _immutable  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _immutable  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict) -> FrozenDict:
        import copy

        return FrozenDict(copy.deepcopy(dict(self), memo))


@dataclass(frozen=True)
class LawFit:
    """One law fitted to one frontier (immutable; see the module docstring).

    ``params``: original units. ``bootstrap_params``: (R, p). ``extrapolation_error``:
    ``tau``. ``backtest``: the leave-future-out predictions of this law inside the data,
    one dict per cut (``cut``, ``x``, ``err_pred``, ``err_true``) used to weigh laws.
    """

    law: Law
    loss: str
    weighting: str
    theta: np.ndarray
    scale: np.ndarray
    x_max_n: float
    params: dict[str, float]
    bootstrap_theta: np.ndarray
    bootstrap_params: np.ndarray
    tilt: np.ndarray
    extrapolation_error: float
    residuals: np.ndarray
    n_frontier: int
    noise_seed: int
    diagnostics: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    backtest: tuple[dict, ...] = ()
    #: the error unit the law was fitted in: ``theta`` and the residuals describe
    #: ``err / y_scale`` (the engine fits errors of order 1 whatever their unit); every
    #: prediction and parameter here is in the original unit
    y_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("theta", "scale", "bootstrap_theta", "bootstrap_params", "tilt",
                     "residuals"):
            object.__setattr__(self, name, frozen_array(getattr(self, name)))
        for name in ("params", "diagnostics"):
            object.__setattr__(self, name, FrozenDict(getattr(self, name)))

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled (from a worker process of :func:`scalecmp.engine.api.fit`): as
        immutable as when made."""
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    # ---------------------------------------------------------------- predictions
    def _xn(self, X: np.ndarray) -> np.ndarray:
        return self.law.normalise(X, self.scale)

    def predict_error(self, X: np.ndarray) -> np.ndarray:
        """Point-fit error at ``X`` (compute, or (N, D) pairs for two-input laws)."""
        return self.y_scale * self.law.f(self._xn(X), self.theta[None, :])[0]

    @property
    def n_replicates(self) -> int:
        return int(len(self.bootstrap_theta))

    @property
    def df_factor(self) -> float:
        return df_factor(self.n_frontier, self.law.n_params)

    def error_replicates(self, X: np.ndarray, *, noise: bool = False,
                         data_end: float | None = None) -> np.ndarray:
        """Replicate curves (R, m) in error units (see the module docstring); ``data_end``
        (compute, original units) moves the start of the extrapolation tilt to
        ``max(x_max, data_end)``."""
        xn = self._xn(X)
        m = xn.shape[0]
        if self.n_replicates == 0:
            return np.empty((0, m))
        point = self.law.f(xn, self.theta[None, :])[0]
        curves = self.law.f(xn, self.bootstrap_theta)
        k = self.df_factor
        lp = np.log(np.maximum(point, 1e-300))
        curves = np.exp(lp + k * (np.log(np.maximum(curves, 1e-300)) - lp))
        if self.law.n_inputs == 1 and len(self.tilt):
            end = self.x_max_n
            if data_end is not None:
                end = max(end, float(data_end) / float(np.ravel(self.scale)[0]))
            dist = np.maximum(np.log(xn) - np.log(end), 0.0)
            curves = curves * np.exp(self.tilt[:, None] * dist[None, :])
        if noise:
            rng = np.random.default_rng(self.noise_seed)
            eps = noise_draws(self.residuals, self.law.n_params, curves.shape, rng)
            # an error is >= 0: the additive scatter of ``ls`` stops at that bound
            curves = np.maximum(curves + eps, 0.0) if self.loss == "ls" else curves * np.exp(eps)
        return curves * self.y_scale if self.y_scale != 1.0 else curves

    def params_interval(self, level: float) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap interval of every parameter (original units)."""
        names = self.law.param_names
        if self.n_replicates == 0:
            return {n: (float("nan"), float("nan")) for n in names}
        q = (1.0 - level) / 2.0
        lo, hi = np.quantile(self.bootstrap_params, [q, 1.0 - q], axis=0)
        return {n: (float(a), float(b)) for n, a, b in zip(names, lo, hi, strict=True)}

    def exponent_replicates(self) -> np.ndarray:
        """The law's large-compute log-log exponent for every replicate (NaN if none)."""
        if self.n_replicates == 0:
            return np.empty(0)
        return np.asarray(self.law.exponent(self.bootstrap_params), dtype=float)

    @property
    def exponent(self) -> float:
        p = np.array([self.params[n] for n in self.law.param_names])
        return float(self.law.exponent(p))
