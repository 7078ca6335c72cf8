"""The scaling-law engine: laws weighted by their own out-of-sample evidence, with one
uncertainty model from fit to verdict.

Model. For a group of measurements ``(x_i, y_i)`` (``x`` compute, ``y`` the metric) the
engine fits ``err(x)`` to the compute frontier, where ``err = y`` for a lower-is-better
metric and ``err = 1 - y`` with ``maximize`` (accuracy, recall, mIoU). Predictions are
reported in the metric's own units.

``law="auto"`` (the default). Every candidate of :data:`AUTO_CANDIDATES` that the number of
frontier points supports (``n >= p + 1``; the study's recipe also ``n = 4``) is fitted, and
scored by *leave-future-out
backtests inside the series*: the frontier is cut at 60, 70, 80 and 90% of its log-compute
range, each candidate is fitted below the cut and predicts the points above it. The pool is
the laws that can bend at small compute (``saturating``, ``broken_power`` and the study's
recipe), or, when the series is too sparse for all of them, the recipe through its 4 points
with ``power_floor`` (4 points) or ``power`` alone (3: the candidates' tiers); the
pool is combined by :func:`combine`: weights ``w_k ∝ 1 / MSE_k`` of the backtest predictions
(a pseudo-Bayesian model average; stacking and selection are options), candidates without
backtest evidence keeping an equal prior share. The point prediction is the weighted mixture
``sum_k w_k err_k(x)``; its replicates are the candidates' own bootstrap replicates,
``round(w_k R)`` of them from candidate ``k``, so every interval carries the disagreement
between laws as well as each law's own uncertainty. In-sample loss plays no part in the
weights: the law that fits best is not the one that extrapolates best. How these choices were
made (on which family of series, reported on which) is in BENCHMARKS.md. ``law=NAME`` pins one
law.

Fit of one law (:mod:`scalecmp.engine.candidate`). ``theta`` minimises a loss on residuals
(see :mod:`scalecmp.engine.optimize`): by default ``huber_log``, a Huber loss (threshold
``delta``) on ``log err_pred - log err``, with point weights that rise with log compute
(:func:`point_weights`). Starts come from a grid over the nonlinear parameters with
amplitude and floor solved in closed form (variable projection); the best ``n_starts`` are
polished together by a vectorised Levenberg-Marquardt. Priors
(:mod:`scalecmp.engine.priors`) join the least-squares problem as pseudo-observations: the
local log-log slope may not collapse within a decade beyond the data, and with ``maximize``
the error may not exceed 1 inside the data.

Uncertainty (:mod:`scalecmp.engine.lawfit`). A pairs bootstrap of the frontier points (replicates
warm-started from the full fit's minima, all fitted as one batch), deviations scaled by
``sqrt(n / (n - p))``, and beyond the data a random tilt ``exp(g_r D(x))`` of the size the
backtests measured. :class:`GroupFit` is the one immutable result that ``compare``,
``optimal``, ``report`` and the CLI consume.

The package, one job per module, each importing only those above it:

* :mod:`~scalecmp.engine.laws`, :mod:`~scalecmp.engine.optimize`,
  :mod:`~scalecmp.engine.frontier`, :mod:`~scalecmp.engine.bootstrap`: the law registry,
  the batched solver, compute frontiers, resampling;
* :mod:`~scalecmp.engine.priors`, :mod:`~scalecmp.engine.recipes`,
  :mod:`~scalecmp.engine.lawfit`: priors, the study's recipe, one fitted law;
* :mod:`~scalecmp.engine.options`: :class:`FitOptions`, every option with its default,
  preset and check, once;
* :mod:`~scalecmp.engine.candidate`: one candidate's fit, backtests and bootstrap;
  :mod:`~scalecmp.engine.mixture`: the weights of the candidates;
* :mod:`~scalecmp.engine.results`: :class:`LawMixture`, :class:`GroupFit`,
  :class:`FitResult`;
* :mod:`~scalecmp.engine.series`: one series; :mod:`~scalecmp.engine.regressor`:
  :class:`ScalingLawRegressor`; :mod:`~scalecmp.engine.api`: :func:`fit` over groups.
"""

from __future__ import annotations

from scalecmp.engine.api import fit, fit_frame
from scalecmp.engine.candidate import point_weights
from scalecmp.engine.lawfit import LawFit
from scalecmp.engine.mixture import combine, mixture_weights, stack_weights
from scalecmp.engine.options import (
    AUTO,
    AUTO_CANDIDATES,
    MIXTURES,
    PRESETS,
    Candidate,
    FitOptions,
    fit_options,
)
from scalecmp.engine.regressor import ScalingLawRegressor
from scalecmp.engine.results import FitResult, GroupFit, LawMixture

__all__ = [
    "AUTO",
    "AUTO_CANDIDATES",
    "Candidate",
    "FitOptions",
    "FitResult",
    "GroupFit",
    "LawFit",
    "LawMixture",
    "MIXTURES",
    "PRESETS",
    "ScalingLawRegressor",
    "combine",
    "fit",
    "fit_frame",
    "fit_options",
    "mixture_weights",
    "point_weights",
    "stack_weights",
]
