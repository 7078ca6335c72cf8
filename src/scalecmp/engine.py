"""The scaling-law engine: laws weighted by their own out-of-sample evidence, with one
uncertainty model from fit to verdict.

Model. For a group of measurements ``(x_i, y_i)`` (``x`` compute, ``y`` the metric) the
engine fits ``err(x)`` to the compute frontier, where ``err = y`` for a lower-is-better
metric and ``err = 1 - y`` with ``maximize`` (accuracy, recall, mIoU). Predictions are
reported in the metric's own units.

``law="auto"`` (the default). Every candidate of :data:`AUTO_CANDIDATES` that the number of
frontier points supports (``n >= p + 1``) is fitted, and scored by *leave-future-out
backtests inside the series*: the frontier is cut at 60, 70, 80 and 90% of its log-compute
range, each candidate is fitted below the cut and predicts the points above it. The pool is
the laws that can bend at small compute (``saturating``, ``broken_power`` and the study's
recipe), or ``power_floor`` and ``power`` when the series is too sparse for all of them; the
pool is combined by :func:`combine`: weights ``w_k ∝ 1 / MSE_k`` of the backtest predictions
(a pseudo-Bayesian model average; stacking and selection are options), candidates without
backtest evidence keeping an equal prior share. The point prediction is the weighted mixture
``sum_k w_k err_k(x)``; its replicates are the candidates' own bootstrap replicates,
``round(w_k R)`` of them from candidate ``k``, so every interval carries the disagreement
between laws as well as each law's own uncertainty. In-sample loss plays no part in the
weights: the law that fits best is not the one that extrapolates best. How these choices were
made (on which family of series, reported on which) is in BENCHMARKS.md. ``law=NAME`` pins one
law.

Fit of one law. ``theta`` minimises a loss on residuals (see :mod:`scalecmp.optimize`): by
default ``huber_log``, a Huber loss (threshold ``delta``) on ``log err_pred - log err``, with
point weights that rise with log compute (:func:`point_weights`). Starts come from a grid over
the nonlinear parameters with amplitude and floor solved in closed form (variable projection);
the best ``n_starts`` are polished together by a vectorised Levenberg-Marquardt. Priors
(:mod:`scalecmp.priors`) join the least-squares problem as pseudo-observations: the local
log-log slope may not collapse within a decade beyond the data, and with ``maximize`` the error
may not exceed 1 inside the data.

Uncertainty (:mod:`scalecmp.lawfit`). A pairs bootstrap of the frontier points (replicates
warm-started from the full fit's minima, all fitted as one batch), deviations scaled by
``sqrt(n / (n - p))``, and beyond the data a random tilt ``exp(g_r D(x))`` of the size the
backtests measured. :class:`GroupFit` is the one immutable result that ``compare``,
``optimal``, ``report`` and the CLI consume.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.bootstrap import BOOTSTRAPS, pairs_weights, residual_targets
from scalecmp.errors import DataError, ScalecmpWarning, UsageError
from scalecmp.frontier import FRONTIERS, frontier_mask
from scalecmp.io import (
    MAXIMIZE_HINT,
    looks_higher_is_better,
    prepare_measurements,
)
from scalecmp.lawfit import LawFit
from scalecmp.laws import LAWS, Law, get_law
from scalecmp.optimize import LOSSES, minimize_batch, objective, residuals
from scalecmp.priors import Priors, augment
from scalecmp.recipes import fit_exact, study_starts
from scalecmp.validate import (
    MIN_REPLICATES,  # noqa: F401 - re-exported (engine.MIN_REPLICATES)
    check_bootstrap_memory,
    check_level,
    check_n_bootstrap,
    check_positive_values,
    check_seed,
)

__all__ = [
    "AUTO",
    "AUTO_CANDIDATES",
    "Candidate",
    "DEFAULT_LAW",
    "DEFAULT_LOSS",
    "DEFAULT_FRONTIER",
    "DEFAULT_DELTA",
    "DEFAULT_SLOPE_RATIO",
    "PRESETS",
    "ScalingLawRegressor",
    "GroupFit",
    "FitResult",
    "LawFit",
    "fit",
    "check_fit_options",
    "stack_weights",
    "mixture_weights",
    "combine",
    "LawMixture",
]

AUTO = "auto"
DEFAULT_LAW = AUTO
DEFAULT_WEIGHTING = "compute"
DEFAULT_LOSS = "huber_log"
DEFAULT_FRONTIER = "binned"
DEFAULT_DELTA = 0.05
DEFAULT_SLOPE_RATIO = 0.75
BACKTEST_CUTS = (0.6, 0.7, 0.8, 0.9)
RANGE_TOLERANCE = 0.005  # error above 1 + this inside the data rejects a law (0.5 pp)
REJECTED_BY = ("error leaves", "flat law")  # warnings that keep a law out of the mixture
WEIGHTINGS = ("compute", "none")


@dataclass(frozen=True)
class Candidate:
    """One candidate of ``law="auto"``: a law with its own loss, weighting, starts and
    whether the priors apply (``None``: the regressor's setting)."""

    name: str
    law: str | Law
    loss: str | None = None
    weighting: str | None = None
    starts: str = "grid"
    priors: bool = True
    primary: bool = True


AUTO_CANDIDATES: tuple[Candidate, ...] = (
    # laws that bend at small compute (a frontier starts near chance): used when they fit
    Candidate("saturating", "saturating"),
    Candidate("broken_power", "broken_power"),
    # the study's recipe: its law, raw least squares, no weights, its start grid, no priors
    Candidate("recipe", "saturating", loss="ls", weighting="none", starts="laion2025",
              priors=False),
    # straight-line laws: only for series too sparse for any of the above
    Candidate("power_floor", "power_floor", primary=False),
    Candidate("power", "power", primary=False),
)

PRESETS: dict[str, dict[str, Any]] = {
    # exactly the study's recipe: binned frontier, least squares on raw error of
    # A (x + B)^alpha + E from its 3,200 curve_fit starts, no priors, no weights
    "laion2025": {
        "law": "saturating",
        "loss": "ls",
        "weighting": "none",
        "frontier": "binned",
        "starts": "laion2025-exact",
        "min_slope_ratio": 0.0,
        "range_prior": False,
    },
}


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


MIXTURES = ("inverse_mse", "stacking", "best", "uniform")
DEFAULT_MIXTURE = "inverse_mse"


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
    raise UsageError(f"unknown mixture '{method}' (known: {', '.join(MIXTURES)})")


def combine(primary: Sequence[bool], ok: Sequence[bool], evidence: tuple | None,
            method: str = DEFAULT_MIXTURE) -> np.ndarray:
    """Mixture weights of K fitted candidates.

    The pool is the ``primary`` candidates that passed the sanity checks (``ok``), or every
    ``ok`` candidate when no primary one did (series too sparse for them). Pool members
    with backtest evidence (``evidence = (use, P, truth, cut)``: indices, predictions (|use|,
    n), truth (n,), cut of each point) share ``|evidenced| / |pool|`` of the weight by
    :func:`mixture_weights`; pool members without evidence (too few points below every cut)
    keep an equal prior share ``1 / |pool|`` each.
    """
    k = len(primary)
    ok_idx = [i for i in range(k) if ok[i]] or list(range(k))
    pool = [i for i in ok_idx if primary[i]] or ok_idx
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


def _allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder split of ``total`` replicates by ``weights``."""
    raw = weights * total
    n = np.floor(raw).astype(int)
    rest = total - int(n.sum())
    if rest > 0:
        n[np.argsort(-(raw - n), kind="stable")[:rest]] += 1
    return n


def _as_x(x: Any, x2: Any | None, n_inputs: int) -> np.ndarray:
    x = np.asarray(x, dtype=float).reshape(-1)
    if n_inputs == 2:
        if x2 is None:
            raise UsageError("this law needs two inputs: pass x2 as well")
        return np.stack([x, np.asarray(x2, dtype=float).reshape(-1)], axis=-1)
    if x2 is not None:
        raise UsageError("x2 is only used by two-input laws such as chinchilla")
    return x


class _LawSolver:
    """One law on one frontier, with a loss, weights, starts and priors: the solves the
    full fit, the backtests and the bootstrap all share."""

    def __init__(self, reg: ScalingLawRegressor, law: Law, loss: str, weighting: str,
                 starts: str, priors: Priors) -> None:
        self.reg, self.law, self.loss, self.weighting = reg, law, loss, weighting
        self.starts, self.priors = starts, priors

    def problem(self, xn: np.ndarray, ef: np.ndarray, xc: np.ndarray):  # noqa: ANN201
        """Model, jacobian, targets, weights and bounds of the augmented problem."""
        law = self.law
        f, f_jac, m = augment(law, xn, self.priors)
        w = point_weights(xc, self.weighting)
        y = np.r_[ef, np.ones(m)]
        w = np.r_[w, np.full(m, float(np.mean(w)))]
        return f, f_jac, y, w, law.bounds(xn, ef)

    def solve(self, xn: np.ndarray, ef: np.ndarray, xc: np.ndarray, scale: np.ndarray,
              n_starts: int, exact: bool = True, max_iter: int = 500):  # noqa: ANN201
        """Multi-start fit of one data set. ``exact=False`` polishes the study's starts
        with scalecmp's optimiser even for ``laion2025-exact`` (used by the backtests)."""
        law = self.law
        f, f_jac, y, w, (lower, upper) = self.problem(xn, ef, xc)
        exact = exact and self.starts == "laion2025-exact"
        if self.starts in ("laion2025", "laion2025-exact"):
            starts = study_starts(law, scale, lower, upper)
            if exact:
                popt = fit_exact(xn * scale, ef)
                if popt is not None:
                    theta = np.clip(law.to_internal(np.asarray(popt), scale), lower, upper)
                    starts = theta[None, :]
        else:
            starts = np.clip(law.starts(xn, ef), lower, upper)
        r = residuals(f(starts), y[None, :], self.loss)
        start_loss = objective(r, np.broadcast_to(w, r.shape), self.loss, self.reg.delta)
        order = np.argsort(np.where(np.isfinite(start_loss), start_loss, np.inf))
        if not exact:
            starts = starts[order[:n_starts]]
        res = minimize_batch(f, f_jac, starts, y, w, lower, upper, loss=self.loss,
                             delta=self.reg.delta, max_iter=0 if exact else max_iter)
        return res, len(order), (f, f_jac, y, w, lower, upper)


class ScalingLawRegressor:
    """Fit a scaling law (or the evidence-weighted mixture of laws) to one series.

    Parameters
    ----------
    law : ``"auto"`` (default: candidates weighted by leave-future-out backtests, see the
        module docstring), a name in :data:`scalecmp.laws.LAWS` or a :class:`Law`.
    loss : ``huber_log`` (default), ``log`` or ``ls`` (least squares on raw error, the
        study's). Candidates of ``auto`` that carry their own loss keep it.
    delta : Huber threshold on log residuals (0.05 = 5% relative error).
    frontier : ``binned``, ``naive`` or ``none`` (see :mod:`scalecmp.frontier`); ``None``
        (default): ``binned``, or ``none`` for two-input laws.
    maximize : the metric is higher-is-better in [0, 1]; the law is fitted to ``1 - y``.
    n_bootstrap : replicates for intervals (0: no intervals; otherwise at least 20).
    bootstrap : ``pairs`` or ``residual``.
    level : default interval level.
    n_starts : starts polished by Levenberg-Marquardt on the full data.
    weighting : ``compute`` (default; see :func:`point_weights`) or ``none``.
    min_slope_ratio : the slope prior's ``kappa`` (:mod:`scalecmp.priors`; 0: off).
    range_prior : with ``maximize``, penalise error > 1 inside the data.
    extrapolation_error : add the backtested extrapolation error beyond the fitted range.
    candidates : the candidates of ``law="auto"``.
    mixture : how ``auto`` weighs them (:func:`mixture_weights`; default ``inverse_mse``).
    starts : ``grid`` (default), ``laion2025`` (the study's start grid, scalecmp's optimiser)
        or ``laion2025-exact`` (the study's ``curve_fit`` from its 3,200 starts).
    random_state : seed of the bootstrap.

    Fitted attributes: ``result_`` (the :class:`LawMixture`), and for convenience ``law_``,
    ``params_``, ``x_``, ``err_``, ``frontier_mask_``, ``weights_``, ``diagnostics_``.
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
        min_slope_ratio: float = DEFAULT_SLOPE_RATIO,
        range_prior: bool = True,
        extrapolation_error: bool = True,
        candidates: Sequence[Candidate] = AUTO_CANDIDATES,
        mixture: str = DEFAULT_MIXTURE,
        starts: str = "grid",
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
        self.min_slope_ratio = min_slope_ratio
        self.range_prior = range_prior
        self.extrapolation_error = extrapolation_error
        self.candidates = candidates
        self.mixture = mixture
        self.starts = starts
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [n for n, p in sig.parameters.items() if n != "self"
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn's estimator protocol: ``clone``,
        grid searches); ``deep`` is accepted for that protocol and changes nothing."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> ScalingLawRegressor:
        """Set constructor parameters (checked at the next :meth:`fit`); returns self."""
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise UsageError(f"ScalingLawRegressor has no parameter '{name}' "
                                 f"(parameters: {', '.join(names)})")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {n: p.default for n, p in inspect.signature(type(self).__init__)
                    .parameters.items()}
        changed = []
        for name in self._param_names():
            value = getattr(self, name)
            try:
                same = bool(value == defaults[name])
            except (TypeError, ValueError):  # arrays or objects without a plain ==
                same = value is defaults[name]
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    # ------------------------------------------------------------------ checks
    def _is_auto(self) -> bool:
        return isinstance(self.law, str) and self.law == AUTO

    def _check_options(self) -> None:
        if not self._is_auto():
            get_law(self.law)
        if self.loss not in LOSSES:
            raise UsageError(f"unknown loss '{self.loss}' (known: {', '.join(LOSSES)})")
        if self.weighting not in WEIGHTINGS:
            raise UsageError(
                f"unknown weighting '{self.weighting}' (known: {', '.join(WEIGHTINGS)})"
            )
        if self.frontier is not None and self.frontier not in FRONTIERS:
            raise UsageError(f"unknown frontier '{self.frontier}' (known: {', '.join(FRONTIERS)})")
        if self.bootstrap not in BOOTSTRAPS:
            raise UsageError(
                f"unknown bootstrap '{self.bootstrap}' (known: {', '.join(BOOTSTRAPS)})"
            )
        check_level(self.level)
        check_n_bootstrap(self.n_bootstrap)
        check_seed(self.random_state)
        if not (np.isfinite(self.delta) and self.delta > 0):
            raise UsageError(f"delta must be a finite number > 0, got {self.delta}")
        if not 0.0 <= self.min_slope_ratio < 1.0:
            raise UsageError(f"min_slope_ratio must lie in [0, 1), got {self.min_slope_ratio}")
        if self.mixture not in MIXTURES:
            raise UsageError(f"unknown mixture '{self.mixture}' (known: {', '.join(MIXTURES)})")
        if self.starts not in ("grid", "laion2025", "laion2025-exact"):
            raise UsageError(f"unknown starts '{self.starts}' (grid, laion2025, laion2025-exact)")

    def _priors(self, use: bool) -> Priors:
        return Priors(
            min_slope_ratio=self.min_slope_ratio if use else 0.0,
            max_error=1.0 if (use and self.range_prior and self.maximize) else None,
        )

    def _specs(self, n_front: int, n_inputs: int) -> tuple[list[Candidate], list[str]]:
        """Candidates to fit and the reasons others were left out."""
        if not self._is_auto():
            law = get_law(self.law)
            return [Candidate(law.name, law, starts=self.starts)], []
        if n_inputs == 2:
            return [Candidate("chinchilla", "chinchilla")], []
        specs, skipped = [], []
        for c in self.candidates:
            p = get_law(c.law).n_params
            if n_front >= p + 1:
                specs.append(c)
            else:
                skipped.append(f"{c.name}: {n_front} frontier points, needs >= {p + 1}")
        return specs, skipped

    # ------------------------------------------------------------------ fitting
    def fit(self, x: Any, y: Any, x2: Any | None = None) -> ScalingLawRegressor:
        """Fit to compute ``x`` (and ``x2`` for two-input laws) and metric ``y``."""
        self._check_options()
        # auto: chinchilla when a second input is given; a pinned law says itself
        n_inputs = (2 if x2 is not None else 1) if self._is_auto() else get_law(self.law).n_inputs
        X = _as_x(x, x2, n_inputs)
        y = np.asarray(y, dtype=float).reshape(-1)
        if len(y) != len(X):
            raise DataError(f"x and y differ in length ({len(X)} vs {len(y)})")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise DataError("x and y must be finite (drop NaNs first)")
        if (X <= 0).any():
            raise DataError("x must be > 0")
        if n_inputs == 2:  # L(N, D) with N (or D) constant cannot separate its two terms
            for j, name in enumerate(("x", "x2")):
                if np.ptp(X[:, j]) == 0:
                    raise DataError(f"`{name}` is constant ({X[0, j]:g}) in these points: a "
                                    "two-input law needs both inputs to vary")
        if self.maximize and ((y < 0) | (y > 1)).any():
            raise DataError("with maximize, y must lie in [0, 1]")
        err = 1.0 - y if self.maximize else y
        notes: list[str] = []
        if self.maximize and (err <= 0).any():
            err, note = self._clip_perfect(err)
            notes.append(note)
        if (err <= 0).any():
            raise DataError(
                f"{int((err <= 0).sum())} points have y <= 0; the laws model a positive error"
            )
        xc = X if n_inputs == 1 else X[:, 0] * X[:, 1]
        method = self.frontier or ("none" if n_inputs == 2 else DEFAULT_FRONTIER)
        mask = frontier_mask(xc, err, method)
        n_front = int(mask.sum())
        specs, skipped = self._specs(n_front, n_inputs)
        if not specs or (not self._is_auto() and n_front < get_law(self.law).n_params + 1):
            raise DataError(self._too_few(n_front, len(err), n_inputs))
        self.x_, self.err_, self.frontier_mask_ = X, err, mask
        xf, ef, xcf = X[mask], err[mask], xc[mask]

        fits = [self._fit_point(c, xf, ef, xcf) for c in specs]
        weights, scores = self._weigh(fits)
        counts = _allocate(weights, int(self.n_bootstrap))
        rng = np.random.default_rng(self.random_state)
        members = [
            self._bootstrap(state, int(n), rng) for state, n in zip(fits, counts, strict=True)
        ]
        candidates = []
        for st, w, sc in zip(fits, weights, scores, strict=True):
            candidates.append(
                {"name": st["spec"].name, "law": st["law"].name, "weight": float(w),
                 "backtest_rmse": sc, "status": st["status"]}
            )
        candidates += [
            {"name": s.split(":")[0], "law": None, "weight": 0.0, "backtest_rmse": None,
             "status": "too few points (" + s.split(": ", 1)[1] + ")"}
            for s in skipped
        ]
        self.result_ = LawMixture(
            mode=AUTO if self._is_auto() else get_law(specs[0].law).name,
            members=tuple(members),
            weights=tuple(float(w) for w in weights),
            candidates=tuple(candidates),
            maximize=bool(self.maximize),
            level=float(self.level),
            x_range=(float(xcf.min()), float(xcf.max())),
            n_frontier=n_front,
            data_notes=tuple(notes),
        )
        self._warn(self.result_.warnings)
        dom = self.result_.dominant
        self.law_, self.params_ = dom.law, dict(dom.params)
        self.weights_ = self.result_.weights
        self.diagnostics_ = self.result_.diagnostics
        self.extrapolation_error_ = dom.extrapolation_error
        self.bootstrap_params_ = dom.bootstrap_params
        return self

    def _clip_perfect(self, err: np.ndarray) -> tuple[np.ndarray, str]:
        """``y = 1`` (error 0) cannot be fitted in log space: set to half the smallest
        positive error; returns the errors and the warning that gives the count."""
        zero = err <= 0
        if zero.all():
            raise DataError(f"all {len(err)} points have y = 1 (error 0): nothing to fit")
        floor = 0.5 * float(err[~zero].min())
        note = (f"{int(zero.sum())} of {len(err)} points have y = 1 (error 0), which the fit "
                f"cannot take in log space: set to error {floor:.3g} (half the smallest "
                "positive error)")
        return np.where(zero, floor, err), note

    def _too_few(self, n_front: int, n_all: int, n_inputs: int) -> str:
        if self._is_auto():
            need = min(get_law(c.law).n_params for c in self.candidates) + 2
            return (f"{n_front} frontier points (of {n_all}) are too few for any law "
                    f"(the smallest, power, needs >= {need})")
        law = get_law(self.law)
        smaller = [
            other.name for other in LAWS.values()
            if other.n_inputs == n_inputs and other.n_params + 1 <= n_front
        ]
        hint = f"; the data support: {', '.join(smaller)} (or auto)" if smaller else ""
        return (f"{n_front} frontier points (of {n_all}) are too few for law "
                f"'{law.name}' with {law.n_params} parameters (need >= {law.n_params + 1})"
                f"{hint}")

    def _fit_point(self, spec: Candidate, xf: np.ndarray, ef: np.ndarray,
                   xcf: np.ndarray) -> dict:
        """Point fit and backtests of one candidate (no bootstrap yet)."""
        law = get_law(spec.law)
        solver = _LawSolver(
            self, law, spec.loss or self.loss, spec.weighting or self.weighting,
            spec.starts, self._priors(spec.priors),
        )
        scale = law.default_scale(xf)
        xn = law.normalise(xf, scale)
        res, n_grid, prob = solver.solve(xn, ef, xcf, scale, self.n_starts)
        best = int(np.argmin(res.loss))
        theta = res.theta[best]
        best_loss = float(res.loss[best])
        tol = 1e-4 * max(abs(best_loss), 1e-12) + 1e-12
        reached = int((res.loss <= best_loss + tol).sum())
        uniq = np.unique(np.round(res.loss, 10), return_index=True)[1]
        uniq = uniq[np.argsort(res.loss[uniq])][:2]
        fitted = law.f(xn, theta[None, :])[0]
        params = dict(zip(law.param_names, map(float, law.from_internal(theta, scale)),
                          strict=True))
        at_bound = [n for n, b in zip(law.param_names, res.at_bound[best], strict=True) if b]
        backtest, tau = self._backtest(solver, law, xn, ef, xcf, scale, fitted)
        msgs = self._law_warnings(law, params, at_bound, reached, len(res.loss), len(ef),
                                  xn, theta)
        status = "ok"
        fatal = [m for m in msgs if m.startswith(REJECTED_BY)]
        if fatal:
            status = "rejected: " + fatal[0]
        diagnostics = {
            "loss": solver.loss,
            "weighting": solver.weighting,
            "objective": best_loss,
            "rmse_log": float(np.sqrt(np.mean(np.log(fitted / ef) ** 2))),
            "rmse": float(np.sqrt(np.mean((fitted - ef) ** 2))),
            "n_starts": int(len(res.loss)),
            "n_grid": n_grid,
            "n_reached_best": reached,
            "converged": bool(res.converged[best]),
            "iterations": int(res.iterations[best]),
            "params_at_bound": at_bound,
            "extrapolation_error": tau,
        }
        return {
            "spec": spec, "law": law, "solver": solver, "scale": scale, "xn": xn, "ef": ef,
            "xcf": xcf, "theta": theta, "params": params, "minima": res.theta[uniq],
            "fitted": fitted, "prob": prob, "backtest": backtest, "tau": tau,
            "diagnostics": diagnostics, "warnings": msgs, "status": status,
        }

    def _backtest(self, solver: _LawSolver, law: Law, xn: np.ndarray, ef: np.ndarray,
                  xcf: np.ndarray, scale: np.ndarray, fitted: np.ndarray):  # noqa: ANN202
        """Leave-future-out predictions inside the data, and the extrapolation error.

        The frontier is cut at 60, 70, 80 and 90% of its log-compute range
        (:data:`BACKTEST_CUTS`); the law fitted below each cut predicts the points above it.
        With ``r`` the log residual of such a prediction, ``D`` its distance beyond the cut
        in natural-log compute and ``s2`` the full fit's residual variance,
        ``tau^2 = sum(r^2 - s2) / sum(D^2)`` (>= 0): the variance a prediction gains per
        squared unit of extrapolation, which the bootstrap of a single fit cannot see (the
        law's form, correlated frontier noise). Returns the predictions per cut and ``tau``.
        """
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
            xt, et = xn[train], ef[train]
            res, _, _ = solver.solve(xt, et, xcf[train], scale, 8, exact=False, max_iter=200)
            theta = res.theta[np.argmin(res.loss)]
            pred = law.f(xn[~train], theta[None, :])[0]
            r = np.log(np.maximum(pred, 1e-300) / ef[~train])
            dist = lx[~train] - lx[train].max()
            num += float(np.sum(r**2 - s2))
            den += float(np.sum(dist**2))
            out.append({"cut": q, "index": np.flatnonzero(~train), "err_pred": pred})
        tau = float(np.sqrt(max(num, 0.0) / den)) if den > 0 else 0.0
        return tuple(out), tau if self.extrapolation_error else 0.0

    def _weigh(self, fits: list[dict]) -> tuple[np.ndarray, list[float | None]]:
        """Mixture weights (:func:`combine`) from the backtests on the cuts that every
        candidate with backtests shares (the largest laws drop out of the evidence until
        some cut is common). Sets ``backtest_matrix_ = (use, P, truth, cut)``."""
        k = len(fits)
        self.backtest_matrix_ = None
        scores: list[float | None] = [None] * k
        if k == 1:
            return np.ones(1), scores
        ok = [f["status"] == "ok" for f in fits]
        use = [i for i in range(k) if ok[i] and fits[i]["backtest"]]
        common: set = set()
        while use:
            common = set.intersection(*({b["cut"] for b in fits[i]["backtest"]} for i in use))
            if common:
                break
            use.remove(max(use, key=lambda i: fits[i]["law"].n_params))
        evidence = None
        if use:
            cuts = sorted(common)
            preds = []
            for i in use:
                by_cut = {b["cut"]: b for b in fits[i]["backtest"]}
                preds.append(np.concatenate([by_cut[c]["err_pred"] for c in cuts]))
            by_cut = {b["cut"]: b for b in fits[use[0]]["backtest"]}
            ef = fits[use[0]]["ef"]
            truth = np.concatenate([ef[by_cut[c]["index"]] for c in cuts])
            group = np.concatenate([np.full(len(by_cut[c]["index"]), c) for c in cuts])
            P = np.asarray(preds)
            evidence = (list(use), P, truth, group)
            self.backtest_matrix_ = evidence
            for row, i in enumerate(use):
                scores[i] = float(np.sqrt(np.mean((P[row] - truth) ** 2)))
        primary = [f["spec"].primary for f in fits]
        return combine(primary, ok, evidence, self.mixture), scores

    def _law_warnings(self, law: Law, params: dict, at_bound: list[str], reached: int,
                      n_starts: int, n: int, xn: np.ndarray, theta: np.ndarray) -> list[str]:
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
            cap = 1.0 if self.maximize else np.inf
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

    def _bootstrap(self, st: dict, R: int, rng: np.random.Generator) -> LawFit:
        law, solver = st["law"], st["solver"]
        p = law.n_params
        f, f_jac, y, w, lower, upper = st["prob"]
        n = len(st["ef"])
        m = len(y) - n
        boot_theta = np.empty((0, p))
        if R > 0:
            if self.bootstrap == "pairs":
                W = np.concatenate(
                    [pairs_weights(n, R, rng) * w[:n], np.broadcast_to(w[n:], (R, m))], axis=1
                )
                Y = np.broadcast_to(y, (R, n + m))
            else:
                resid = residuals(st["fitted"], st["ef"], solver.loss)
                T = residual_targets(st["fitted"], resid, solver.loss, R, rng)
                Y = np.concatenate([T, np.ones((R, m))], axis=1)
                W = np.broadcast_to(w, (R, n + m))
            minima = st["minima"]
            k = len(minima)
            theta0 = np.repeat(minima[None, :, :], R, axis=0).reshape(R * k, p)
            res = minimize_batch(
                f, f_jac, theta0, np.repeat(Y, k, axis=0), np.repeat(W, k, axis=0),
                lower, upper, loss=solver.loss, delta=self.delta, max_iter=100, rtol=1e-7,
            )
            pick = np.argmin(res.loss.reshape(R, k), axis=1)
            boot_theta = res.theta.reshape(R, k, p)[np.arange(R), pick]
        tilt = rng.normal(0.0, st["tau"], R)
        seed = int(rng.integers(0, 2**31 - 1))
        return LawFit(
            law=law,
            loss=solver.loss,
            weighting=solver.weighting,
            theta=st["theta"],
            scale=np.asarray(st["scale"], dtype=float),
            x_max_n=float(np.max(st["xn"] if law.n_inputs == 1 else 1.0)),
            params=st["params"],
            bootstrap_theta=boot_theta,
            bootstrap_params=law.from_internal(boot_theta, st["scale"]) if R else boot_theta,
            tilt=tilt,
            extrapolation_error=st["tau"],
            residuals=residuals(st["fitted"], st["ef"], solver.loss),
            n_frontier=n,
            noise_seed=seed,
            diagnostics=st["diagnostics"],
            warnings=tuple(st["warnings"]),
            backtest=tuple(
                {"cut": b["cut"], "index": b["index"].tolist(),
                 "err_pred": b["err_pred"].tolist()} for b in st["backtest"]
            ),
        )

    def _warn(self, msgs: Sequence[str]) -> None:
        for m in msgs:
            warnings.warn(m, ScalecmpWarning, stacklevel=3)

    # --------------------------------------------------------------- predicting
    def _check_fitted(self) -> LawMixture:
        if not hasattr(self, "result_"):
            raise RuntimeError("this ScalingLawRegressor is not fitted yet; call fit() first")
        return self.result_

    def predict_error(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Predicted error (lower is better) at ``x``."""
        return self._check_fitted().predict_error(x, x2)

    def predict(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Predicted metric at ``x`` (1 - error with ``maximize``)."""
        return self._check_fitted().predict(x, x2)

    def error_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        """Replicate curves in error units, (R, len(x)); see :mod:`scalecmp.lawfit`."""
        return self._check_fitted().error_replicates(x, x2)

    def predict_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self._check_fitted().predict_replicates(x, x2)

    def interval(self, x: Any, level: float | None = None, x2: Any | None = None, *,
                 kind: str = "prediction") -> tuple[np.ndarray, np.ndarray]:
        return self._check_fitted().interval(x, level, x2, kind=kind)

    def params_interval(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        return self._check_fitted().params_interval(level)


@dataclass(frozen=True)
class LawMixture:
    """The fitted laws of one series and their weights: the one uncertainty model.

    ``predict_error(x) = sum_k w_k err_k(x)``; ``error_replicates(x)`` stacks
    ``round(w_k R)`` replicate curves of every member (see :mod:`scalecmp.lawfit`), so
    percentiles of the replicates carry both each law's uncertainty and their disagreement.
    A pinned law is a mixture of one.
    """

    mode: str
    members: tuple[LawFit, ...]
    weights: tuple[float, ...]
    candidates: tuple[dict, ...]
    maximize: bool
    level: float
    x_range: tuple[float, float]
    n_frontier: int
    #: warnings about the data rather than a law (points of error 0 set to half the
    #: smallest error), carried with the result so that every later step shows them
    data_notes: tuple[str, ...] = ()

    @property
    def dominant(self) -> LawFit:
        """The member with the largest weight (whose parameters are reported)."""
        return self.members[int(np.argmax(self.weights))]

    @property
    def law(self) -> Law:
        return self.dominant.law

    @property
    def n_inputs(self) -> int:
        return self.dominant.law.n_inputs

    def _X(self, x: Any, x2: Any | None) -> np.ndarray:
        X = _as_x(x, x2, self.n_inputs)
        bad = ~(np.isfinite(X) & (X > 0))
        if bad.any():
            raise DataError(f"the laws predict at compute > 0 and finite; got "
                            f"{float(X[bad][0]):g}")
        return X

    def _to_metric(self, err: np.ndarray) -> np.ndarray:
        # outside the data a law's error may pass 1 (below the smallest run): the metric
        # is then at chance, 0; inside the data the range prior and the warnings see to it
        return np.clip(1.0 - err, 0.0, 1.0) if self.maximize else err

    def predict_error(self, x: Any, x2: Any | None = None) -> np.ndarray:
        X = self._X(x, x2)
        out = np.zeros(X.shape[0])
        for m, w in zip(self.members, self.weights, strict=True):
            if w > 0:
                out = out + w * m.predict_error(X)
        return out

    def predict(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self._to_metric(self.predict_error(x, x2))

    @property
    def n_replicates(self) -> int:
        return sum(m.n_replicates for m in self.members)

    @property
    def _order(self) -> np.ndarray:
        """A fixed shuffle of the stacked member replicates, so that replicate ``r`` of two
        independent mixtures pairs laws at random rather than block against block."""
        return np.random.default_rng(self.n_replicates).permutation(self.n_replicates)

    def error_replicates(self, x: Any, x2: Any | None = None, *,
                         noise: bool = False) -> np.ndarray:
        X = self._X(x, x2)
        parts = [m.error_replicates(X, noise=noise) for m in self.members if m.n_replicates]
        if not parts:
            return np.empty((0, X.shape[0]))
        return np.concatenate(parts, axis=0)[self._order]

    def predict_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self._to_metric(self.error_replicates(x, x2))

    def interval(self, x: Any, level: float | None = None, x2: Any | None = None, *,
                 kind: str = "prediction") -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` in metric units: ``kind="prediction"`` for a new measurement (curve
        plus measurement scatter), ``"curve"`` for the law itself. NaN without replicates."""
        level = self.level if level is None else level
        check_level(level)
        if kind not in ("prediction", "curve"):
            raise UsageError(f"unknown interval kind '{kind}' (prediction or curve)")
        curves = self.error_replicates(x, x2, noise=kind == "prediction")
        if len(curves) == 0:
            m = self._X(x, x2).shape[0]
            return np.full(m, np.nan), np.full(m, np.nan)
        q = (1.0 - level) / 2.0
        lo_e, hi_e = np.quantile(curves, [q, 1.0 - q], axis=0)
        if self.maximize:
            return self._to_metric(hi_e), self._to_metric(lo_e)
        return lo_e, hi_e

    def params_interval(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        return self.dominant.params_interval(self.level if level is None else level)

    def exponent_replicates(self) -> np.ndarray:
        """Large-compute exponents of every replicate (of every member), NaN-free."""
        parts = [m.exponent_replicates() for m in self.members if m.n_replicates]
        if not parts:
            return np.empty(0)
        v = np.concatenate(parts)[self._order]
        return v[np.isfinite(v)]

    @property
    def exponent(self) -> float:
        ws = [(w, m.exponent) for m, w in zip(self.members, self.weights, strict=True) if w > 0]
        vals = [(w, e) for w, e in ws if np.isfinite(e)]
        if not vals:
            return float("nan")
        return float(sum(w * e for w, e in vals) / sum(w for w, _ in vals))

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings about the data, of the members that carry weight (>= 10%), and of the
        mixture."""
        out = list(self.data_notes)
        for m, w in zip(self.members, self.weights, strict=True):
            if w >= 0.1 or len(self.members) == 1:
                prefix = f"{m.law.name}" + (f" (weight {w:.2f})" if len(self.members) > 1
                                            else "")
                out += [f"{prefix}: {msg}" for msg in m.warnings]
        if self.n_replicates and self.n_inputs == 1:
            lo, hi = self.x_range
            grid = np.geomspace(lo, hi, 16)
            a, b = self.interval(grid, 0.95, kind="curve")
            if np.any(b - a <= 0):
                out.append("the 95% interval has zero width inside the data (degenerate fit)")
        return tuple(out)

    @property
    def diagnostics(self) -> dict[str, Any]:
        d = dict(self.dominant.diagnostics)
        d["law"] = self.dominant.law.name
        d["warnings"] = list(self.warnings)
        if self.mode == AUTO:
            d["candidates"] = [dict(c) for c in self.candidates]
        return d


@dataclass(frozen=True)
class GroupFit:
    """The fit of one group: immutable, typed, in the spirit of lmfit's ``ModelResult``.

    ``key`` (group values), ``data`` (its rows), ``fit`` (:class:`LawMixture`: every member
    law, weight and replicate). Everything downstream (``compare``, ``optimal``, ``report``,
    the CLI) reads predictions, intervals and replicates from here and nowhere else:
    ``predict``, ``predict_error``, ``interval``, ``error_replicates``, ``params``,
    ``params_ci``, ``warnings``, ``report()``.
    """

    key: dict[str, Any]
    data: pd.DataFrame
    x: str
    y: str
    fit: LawMixture
    frontier_mask: np.ndarray
    err: np.ndarray
    x2: str | None = None
    predictions_at: tuple[float, ...] = field(default_factory=tuple)

    # -- what was fitted ------------------------------------------------------------
    @property
    def law(self) -> Law:
        """The law with the largest weight (the only one when a law is pinned)."""
        return self.fit.law

    @property
    def mode(self) -> str:
        return self.fit.mode

    @property
    def members(self) -> tuple[LawFit, ...]:
        return self.fit.members

    @property
    def weights(self) -> tuple[float, ...]:
        return self.fit.weights

    @property
    def params(self) -> dict[str, float]:
        return dict(self.fit.dominant.params)

    @property
    def params_ci(self) -> dict[str, tuple[float, float]]:
        return self.fit.params_interval()

    @property
    def maximize(self) -> bool:
        return self.fit.maximize

    @property
    def level(self) -> float:
        return self.fit.level

    @property
    def bootstrap_params(self) -> np.ndarray:
        return self.fit.dominant.bootstrap_params

    @property
    def n_replicates(self) -> int:
        return self.fit.n_replicates

    @property
    def diagnostics(self) -> dict[str, Any]:
        return self.fit.diagnostics

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.fit.warnings

    @property
    def frontier(self) -> pd.DataFrame:
        return self.data.loc[self.frontier_mask]

    @property
    def n_points(self) -> int:
        return len(self.data)

    @property
    def n_frontier(self) -> int:
        return int(self.frontier_mask.sum())

    @property
    def x_range(self) -> tuple[float, float]:
        return self.fit.x_range

    @property
    def exponent(self) -> float:
        return self.fit.exponent

    def exponent_replicates(self) -> np.ndarray:
        return self.fit.exponent_replicates()

    # -- predictions ----------------------------------------------------------------
    def predict(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.fit.predict(x, x2)

    def predict_error(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.fit.predict_error(x, x2)

    def interval(self, x: Any, level: float | None = None, x2: Any | None = None,
                 **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.fit.interval(x, level, x2, **kw)

    def error_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.fit.error_replicates(x, x2)

    def predict_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.fit.predict_replicates(x, x2)

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.key.items()) or "all"

    def predictions(self, at: Sequence[float] | None = None,
                    at2: Sequence[float] | None = None) -> list[dict[str, float]]:
        """Point predictions with prediction intervals at ``at`` (and ``at2`` for the
        second input of two-input laws)."""
        at = list(self.predictions_at if at is None else at)
        if not at:
            return []
        xs = np.asarray(at, dtype=float)
        x2s = None if at2 is None else np.asarray(at2, dtype=float)
        if self.law.n_inputs == 2 and x2s is None:
            xs, x2s = xs[0::2], xs[1::2]  # predictions_at holds (N, D) pairs flattened
        yhat = self.predict(xs, x2s)
        lo, hi = self.interval(xs, None, x2s)
        rows = []
        for i in range(len(xs)):
            row = {"x": float(xs[i])}
            if x2s is not None:
                row["x2"] = float(x2s[i])
            row.update({"y": float(yhat[i]), "lo": float(lo[i]), "hi": float(hi[i])})
            rows.append(row)
        return rows

    def report(self) -> str:
        """A plain-text summary: laws and weights, parameters, warnings."""
        lines = [f"{self.label()}: {self.n_frontier} frontier points of {self.n_points}, "
                 f"x in [{self.x_range[0]:.4g}, {self.x_range[1]:.4g}]"]
        if self.mode == AUTO:
            lines.append("law auto: " + ", ".join(
                f"{c['name']} {c['weight']:.2f}" for c in self.fit.candidates if c["weight"] > 0
            ))
        lines.append(f"{self.law.name}: {self.law.format(self.params)}")
        for k, (lo, hi) in self.params_ci.items():
            lines.append(f"  {k} = {self.params[k]:.4g}  [{lo:.4g}, {hi:.4g}]")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """This group's entry of the fit JSON contract."""
        out = {
            "key": {k: _jsonable(v) for k, v in self.key.items()},
            "law": self.mode,
            "law_reported": self.law.name,
            "formula": self.law.formula,
            "params": self.params,
            "params_ci": {k: list(v) for k, v in self.params_ci.items()},
            "n_points": self.n_points,
            "n_frontier": self.n_frontier,
            "x_range": list(self.x_range),
            "diagnostics": self.diagnostics,
            "warnings": list(self.warnings),
            "predictions": self.predictions(),
        }
        if self.mode == AUTO:
            out["members"] = [
                {"law": m.law.name, "weight": w, "params": dict(m.params),
                 "params_ci": (
                     {k: list(v) for k, v in m.params_interval(self.level).items()}
                     if m.n_replicates else None
                 ),
                 "extrapolation_error": m.extrapolation_error}
                for m, w in zip(self.members, self.weights, strict=True)
            ]
        return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass(frozen=True)
class FitResult:
    """Fits of every group, with the options that produced them; ``skipped`` lists groups
    that could support no law (``{"key": ..., "reason": ...}``)."""

    groups: tuple[GroupFit, ...]
    x: str
    y: str
    maximize: bool
    law: str
    level: float
    n_bootstrap: int
    frontier: str
    loss: str
    by: tuple[str, ...]
    x2: str | None = None
    skipped: tuple[dict, ...] = ()
    preset: str | None = None

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
            "skipped": [dict(s) for s in self.skipped],
        }
        if self.preset:
            out["preset"] = self.preset
        if self.x2:
            out["x2"] = self.x2
        return out

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame: one row per (group, parameter) of the reported law, with interval."""
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

    def predictions_frame(self, at: Sequence[float],
                          at2: Sequence[float] | None = None) -> pd.DataFrame:
        """Tidy frame of predictions: one row per (group, x)."""
        return pd.DataFrame(
            [{**g.key, **row} for g in self.groups for row in g.predictions(at, at2)]
        )


def resolve_preset(preset: str | None, **options: Any) -> dict[str, Any]:
    """Options with a preset's values filled in; a preset conflicts with options set
    explicitly to something else (``options`` holds only those the caller set)."""
    if preset is None:
        return options
    if preset not in PRESETS:
        raise UsageError(f"unknown preset '{preset}' (known: {', '.join(PRESETS)})")
    out = dict(options)
    for k, v in PRESETS[preset].items():
        if k in options and options[k] is not None and options[k] != v:
            raise UsageError(f"preset '{preset}' sets {k}={v}; it cannot be combined with "
                             f"{k}={options[k]}")
        out[k] = v
    return out


def check_fit_options(
    *,
    law: str | Law = DEFAULT_LAW,
    loss: str = DEFAULT_LOSS,
    delta: float = DEFAULT_DELTA,
    frontier: str | None = None,
    n_bootstrap: int = 1000,
    bootstrap: str = "pairs",
    level: float = 0.95,
    weighting: str = DEFAULT_WEIGHTING,
    min_slope_ratio: float = DEFAULT_SLOPE_RATIO,
    preset: str | None = None,
    random_state: int | None = 0,
) -> None:
    """Check every option of :func:`fit` without data (:func:`fit` calls it first; the
    report and the CLI call it before any work). Raises :class:`UsageError`."""
    if preset is not None:
        opts = resolve_preset(preset, law=None if law == DEFAULT_LAW else law,
                              loss=None if loss == DEFAULT_LOSS else loss,
                              weighting=None if weighting == DEFAULT_WEIGHTING else weighting,
                              frontier=frontier)
        law, loss, weighting = opts["law"], opts["loss"], opts["weighting"]
        frontier, min_slope_ratio = opts["frontier"], opts["min_slope_ratio"]
    ScalingLawRegressor(law, loss=loss, delta=delta, frontier=frontier, n_bootstrap=n_bootstrap,
                        bootstrap=bootstrap, level=level, weighting=weighting,
                        min_slope_ratio=min_slope_ratio,
                        random_state=random_state)._check_options()


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
    delta: float = DEFAULT_DELTA,
    frontier: str | None = None,
    n_bootstrap: int = 1000,
    bootstrap: str = "pairs",
    level: float = 0.95,
    predict_at: Sequence[float] | None = None,
    predict_at2: Sequence[float] | None = None,
    weighting: str = DEFAULT_WEIGHTING,
    min_slope_ratio: float = DEFAULT_SLOPE_RATIO,
    extrapolation_error: bool = True,
    preset: str | None = None,
    random_state: int | None = 0,
) -> FitResult:
    """Fit one scaling law, or the evidence-weighted mixture (``law="auto"``), per group.

    ``frame`` is a pandas DataFrame of measurements (or a dict of columns, a list of
    records); ``x`` the compute column (> 0), ``y`` the metric column, ``x2`` the second
    input of two-input laws, ``where`` filters as on the
    command line (``"model_type=clip"``, ``"gflops_total<=1e11"``). ``predict_at`` (and
    ``predict_at2``, the matching second inputs of two-input laws) are reported with
    prediction intervals. ``preset="laion2025"`` is exactly the study's recipe. A group
    with too few frontier points for every law is skipped (``FitResult.skipped``, with a
    warning); if every group is, :class:`DataError`.
    """
    by = [by] if isinstance(by, str) else list(by or [])
    check_fit_options(law=law, loss=loss, delta=delta, frontier=frontier,
                      n_bootstrap=n_bootstrap, bootstrap=bootstrap, level=level,
                      weighting=weighting, min_slope_ratio=min_slope_ratio, preset=preset,
                      random_state=random_state)
    starts = "grid"
    if preset is not None:
        opts = resolve_preset(preset, law=None if law == DEFAULT_LAW else law,
                              loss=None if loss == DEFAULT_LOSS else loss,
                              weighting=None if weighting == DEFAULT_WEIGHTING else weighting,
                              frontier=frontier)
        law, loss, weighting = opts["law"], opts["loss"], opts["weighting"]
        frontier, starts = opts["frontier"], opts["starts"]
        min_slope_ratio, range_prior = opts["min_slope_ratio"], opts["range_prior"]
    else:
        range_prior = True
    is_auto = isinstance(law, str) and law == AUTO
    law_obj = None if is_auto else get_law(law)
    n_inputs = (2 if x2 is not None else 1) if is_auto else law_obj.n_inputs
    if n_inputs == 2 and x2 is None:
        raise UsageError(f"law '{law_obj.name}' needs two inputs: pass x2 (samples seen)")
    if n_inputs == 1 and x2 is not None:
        raise UsageError("x2 is only used by two-input laws such as chinchilla")
    at = check_positive_values(predict_at, "predict_at", "")
    at2 = check_positive_values(predict_at2, "predict_at2", "")
    data = prepare_measurements(frame, x, y, x2=x2, by=by, where=where, maximize=maximize)
    check_bootstrap_memory(n_bootstrap, len(data))
    if n_inputs == 2 and at:
        if predict_at2 is None or len(at2) != len(at):
            raise UsageError("predict_at: a two-input law predicts at (N, D) pairs: give "
                             "`predict_at2` with one D per N")
        at = [v for pair in zip(at, at2, strict=True) for v in pair]
    groups: list[GroupFit] = []
    skipped: list[dict] = []
    grouped = data.groupby(by, sort=True, dropna=False) if by else [((), data)]
    for key, rows in grouped:
        key = key if isinstance(key, tuple) else (key,)
        key_dict = {b: _jsonable(k) for b, k in zip(by, key, strict=True)}
        reg = ScalingLawRegressor(
            AUTO if is_auto else law_obj,
            loss=loss,
            delta=delta,
            frontier=frontier,
            maximize=maximize,
            n_bootstrap=n_bootstrap,
            bootstrap=bootstrap,
            level=level,
            weighting=weighting,
            min_slope_ratio=min_slope_ratio,
            range_prior=range_prior,
            extrapolation_error=extrapolation_error,
            starts=starts,
            random_state=random_state,
        )
        where_txt = f"group {', '.join(f'{k}={v}' for k, v in key_dict.items())}: " if by else ""
        try:
            try:
                reg.fit(rows[x].to_numpy(), rows[y].to_numpy(),
                        None if x2 is None else rows[x2])
            except np.linalg.LinAlgError:
                raise DataError("the points are degenerate for this law (a singular system: "
                                "inputs collinear or constant)") from None
        except DataError as exc:
            if not maximize and looks_higher_is_better(rows[x], rows[y]):
                exc = DataError(f"{exc} ({MAXIMIZE_HINT})")
            if not by or not is_auto:
                raise DataError(f"{where_txt}{exc}") from None
            skipped.append({"key": key_dict, "reason": str(exc)})
            warnings.warn(f"{where_txt}skipped: {exc}", ScalecmpWarning, stacklevel=2)
            continue
        groups.append(
            GroupFit(
                key=key_dict,
                data=rows.reset_index(drop=True),
                x=x,
                y=y,
                x2=x2,
                fit=reg.result_,
                frontier_mask=reg.frontier_mask_,
                err=reg.err_,
                predictions_at=tuple(at),
            )
        )
    if not groups:
        reasons = "; ".join(f"{label_key(s['key'])}: {s['reason']}" for s in skipped)
        raise DataError(f"no group could be fitted ({reasons})")
    return FitResult(
        groups=tuple(groups),
        x=x,
        y=y,
        maximize=maximize,
        law=AUTO if is_auto else law_obj.name,
        level=level,
        n_bootstrap=n_bootstrap,
        frontier=frontier or ("none" if n_inputs == 2 else DEFAULT_FRONTIER),
        loss=loss,
        by=tuple(by),
        x2=x2,
        skipped=tuple(skipped),
        preset=preset,
    )


def label_key(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items()) or "all"
