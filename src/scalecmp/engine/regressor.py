"""``ScalingLawRegressor``: one series, scikit-learn's habits (plain object, ``fit`` then
``predict``, fitted attributes ending in ``_``, ``get_params`` / ``set_params``).

Its parameters are ``maximize`` and the fields of :class:`~scalecmp.engine.options.FitOptions`
(the same names, defaults and checks as every other entry point); they are stored as given
and checked once per :meth:`~ScalingLawRegressor.fit`, where they become one
:class:`FitOptions`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalecmp.engine.laws import Law
from scalecmp.engine.options import AUTO, FIELDS, FitOptions, defaults
from scalecmp.engine.results import LawMixture, as_values
from scalecmp.engine.series import fit_series
from scalecmp.errors import DataError, NotFittedError, UsageError
from scalecmp.validate import check_flag

__all__ = ["ScalingLawRegressor"]

_PARAMS: tuple[str, ...] = ("law", "maximize", *(f for f in FIELDS if f != "law"))
_DEFAULTS: dict[str, Any] = {"maximize": False, **defaults()}


class ScalingLawRegressor:
    """Fit a scaling law (or the evidence-weighted mixture of laws) to one series.

    ``ScalingLawRegressor(law="auto", *, maximize=False, options=None, **params)``: ``law``
    and ``params`` are fields of :class:`FitOptions` (``loss``, ``frontier``,
    ``n_bootstrap``, ``level``, ...), ``options`` a ready :class:`FitOptions` whose values
    they override; ``maximize``: the metric is higher-is-better in [0, 1] and the law is
    fitted to ``1 - y``.

    Fitted attributes: ``result_`` (the :class:`LawMixture`), ``options_`` (the checked
    :class:`FitOptions`), and for convenience ``law_``, ``params_``, ``x_``, ``err_``,
    ``frontier_mask_``, ``weights_``, ``diagnostics_``, ``extrapolation_error_``,
    ``bootstrap_params_``, ``backtest_matrix_``.
    """

    def __init__(self, law: str | Law = AUTO, *, maximize: bool = False,
                 options: FitOptions | None = None, **params: Any) -> None:
        unknown = [k for k in params if k not in _DEFAULTS]
        if unknown:
            raise UsageError(self._no_such(unknown[0]))
        base = {} if options is None else {f: getattr(options, f) for f in FIELDS}
        for name in _PARAMS:
            if name == "law":
                value = law if (options is None or law != AUTO) else base["law"]
            elif name == "maximize":
                value = maximize
            else:
                value = params.get(name, base.get(name, _DEFAULTS[name]))
            setattr(self, name, value)

    # ------------------------------------------------------------------ parameters
    @staticmethod
    def _no_such(name: str) -> str:
        return (f"ScalingLawRegressor has no parameter '{name}' "
                f"(parameters: {', '.join(_PARAMS)})")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn's estimator protocol: ``clone``,
        grid searches); ``deep`` is accepted for that protocol and changes nothing."""
        return {name: getattr(self, name) for name in _PARAMS}

    def set_params(self, **params: Any) -> ScalingLawRegressor:
        """Set constructor parameters (checked at the next :meth:`fit`); returns self."""
        for name, value in params.items():
            if name not in _DEFAULTS:
                raise UsageError(self._no_such(name))
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = []
        for name in _PARAMS:
            value = getattr(self, name)
            try:
                same = bool(value == _DEFAULTS[name])
            except (TypeError, ValueError):  # arrays or objects without a plain ==
                same = value is _DEFAULTS[name]
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def _options(self) -> FitOptions:
        return FitOptions(**{f: getattr(self, f) for f in FIELDS})

    # ------------------------------------------------------------------ fitting
    def fit(self, x: Any, y: Any, x2: Any | None = None) -> ScalingLawRegressor:
        """Fit to compute ``x`` (and ``x2`` for two-input laws) and metric ``y``."""
        maximize = check_flag(self.maximize, "maximize")
        options = self._options()
        series = fit_series(x, y, x2, options=options, maximize=maximize)
        self.options_ = options
        self.result_ = series.mixture
        self.x_, self.err_, self.frontier_mask_ = series.X, series.err, series.frontier_mask
        self.backtest_matrix_ = series.backtest_matrix
        dom = self.result_.dominant
        self.law_, self.params_ = dom.law, dict(dom.params)
        self.weights_ = self.result_.weights
        self.diagnostics_ = self.result_.diagnostics
        self.extrapolation_error_ = dom.extrapolation_error
        self.bootstrap_params_ = dom.bootstrap_params
        return self

    # --------------------------------------------------------------- predicting
    def _check_fitted(self) -> LawMixture:
        if not hasattr(self, "result_"):
            raise NotFittedError("this ScalingLawRegressor is not fitted yet; call fit() "
                                 "first")
        return self.result_

    def score(self, x: Any, y: Any, x2: Any | None = None) -> float:
        """R^2 of :meth:`predict` against the measured metric ``y`` (scikit-learn's
        regressor score: 1 is perfect, 0 is the mean of ``y``; higher is better)."""
        y = as_values(y, "y")
        pred = np.asarray(self.predict(x, x2), dtype=float)
        if pred.shape != y.shape:
            raise DataError(f"y has {y.size} values for {pred.size} predictions")
        ss_res = float(np.sum((y - pred) ** 2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)

    def predict_error(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Predicted error (lower is better) at ``x``."""
        return self._check_fitted().predict_error(x, x2)

    def predict(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Predicted metric at ``x`` (1 - error with ``maximize``)."""
        return self._check_fitted().predict(x, x2)

    def error_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Replicate curves in error units, (R, len(x)); see :mod:`scalecmp.engine.lawfit`."""
        return self._check_fitted().error_replicates(x, x2)

    def predict_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Replicate curves in metric units, (R, len(x))."""
        return self._check_fitted().predict_replicates(x, x2)

    def interval(self, x: Any, level: float | None = None, x2: Any | None = None, *,
                 kind: str = "prediction") -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` in metric units (see :meth:`LawMixture.interval`)."""
        return self._check_fitted().interval(x, level, x2, kind=kind)

    def params_interval(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Percentile intervals of the reported law's parameters."""
        return self._check_fitted().params_interval(level)
