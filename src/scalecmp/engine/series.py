"""One series: checks of its points, its frontier, the candidates it supports, their fits,
their mixture weights and bootstrap replicates: :func:`fit_series` -> :class:`SeriesFit`.

``law="auto"``. Every candidate of :data:`~scalecmp.engine.options.AUTO_CANDIDATES` that the
number of frontier points supports (``n >= p + 1``, or the candidate's ``min_points``) is
fitted and scored by its
leave-future-out backtests inside the series (:mod:`scalecmp.engine.candidate`); the
weights come from :func:`scalecmp.engine.mixture.combine` on the cuts every scored
candidate shares, and candidate ``k`` contributes ``round(w_k R)`` of the ``R`` replicates.
``law=NAME`` pins one law (a mixture of one).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalecmp.engine.candidate import CandidateFit, bootstrap, fit_candidate
from scalecmp.engine.corpus_prior import corpus_prior
from scalecmp.engine.frontier import frontier_mask
from scalecmp.engine.laws import LAWS, get_law
from scalecmp.engine.mixture import allocate, combine
from scalecmp.engine.options import AUTO, DEFAULT_FRONTIER, Candidate, FitOptions
from scalecmp.engine.pooling import (
    PooledPrior,
    noise_levels,
    pooled_priors,
    series_noise,
    series_summary,
)
from scalecmp.engine.results import LawMixture, as_inputs, as_values
from scalecmp.engine.schedule import Steps, run
from scalecmp.errors import DataError, ScalecmpWarning

__all__ = ["SeriesFit", "corpus_pools", "emit_warnings", "fit_series", "fit_series_steps",
           "series_pools"]


@dataclass(frozen=True)
class SeriesFit:
    """What :func:`fit_series` returns: the mixture, the inputs and errors it was fitted
    on (``X``: ``(n,)`` or ``(n, 2)``; ``err`` in error units), which of them form the
    frontier, and the backtest matrix that weighed the candidates (``None`` for one
    candidate or no evidence): ``(use, P, truth, cut)``."""

    mixture: LawMixture
    X: np.ndarray
    err: np.ndarray
    frontier_mask: np.ndarray
    backtest_matrix: tuple | None


def fit_series(x: Any, y: Any, x2: Any | None, *, options: FitOptions,
               maximize: bool) -> SeriesFit:
    """:func:`fit_series_steps` run on its own (every solve as it comes), then its
    warnings (one series alone: the estimator's)."""
    series = run(fit_series_steps(x, y, x2, options=options, maximize=maximize))
    emit_warnings(series, stacklevel=3)
    return series


def emit_warnings(series: SeriesFit, label: str = "", stacklevel: int = 2) -> None:
    """The warnings of a series' fit, as :class:`ScalecmpWarning`, each naming the series
    by ``label`` (``group model_type=clip``), so that a warning on stderr says which group
    it concerns."""
    for m in series.mixture.warnings:
        warnings.warn(f"{label}: {m}" if label else m, ScalecmpWarning,
                      stacklevel=stacklevel + 1)


def fit_series_steps(x: Any, y: Any, x2: Any | None, *, options: FitOptions,
                     maximize: bool, pool: PooledPrior | None = None) -> Steps:
    """Fit compute ``x`` (and ``x2`` for two-input laws) to metric ``y`` with ``options``
    (already checked), as steps (:mod:`scalecmp.engine.schedule`); returns a
    :class:`SeriesFit`. Raises :class:`DataError` for points no law can take. ``pool``:
    the series' prior from the other series of its command
    (:mod:`scalecmp.engine.pooling`)."""
    is_auto = options.is_auto
    # auto: chinchilla when a second input is given; a pinned law says itself
    n_inputs = (2 if x2 is not None else 1) if is_auto else get_law(options.law).n_inputs
    X = as_inputs(x, x2, n_inputs)
    y = as_values(y, "y")
    _check_points(X, y, n_inputs, maximize)
    err = 1.0 - y if maximize else y
    perfect = err <= 0  # y = 1 with maximize: an error of 0
    notes: list[str] = []
    if maximize and (err <= 0).any():
        err, note = _clip_perfect(err)
        notes.append(note)
    if (err <= 0).any():
        raise DataError(
            f"{int((err <= 0).sum())} points have y <= 0; the laws model a positive error"
        )
    xc = X if n_inputs == 1 else X[:, 0] * X[:, 1]
    method = options.frontier or ("none" if n_inputs == 2 else DEFAULT_FRONTIER)
    mask = frontier_mask(xc, err, method, options.frontier_bins)
    n_front = int(mask.sum())
    specs, skipped = _specs(options, n_front, n_inputs)
    if not specs or (not is_auto and n_front < specs[0].needs):
        why = _too_few(options, n_front, len(err), n_inputs)
        if (perfect & mask).any():  # a run at y = 1 ends the frontier: no run beats it
            first = float(np.min(xc[perfect & mask]))
            why += (f" (the run at {first:.3g} has y = 1, an error of 0 that no costlier run "
                    "can beat, so the frontier stops there)")
        raise DataError(why)
    xf, ef, xcf = X[mask], err[mask], xc[mask]
    # the laws are fitted to errors of order 1 (a metric in [0, 1] as it is): the fit does
    # not depend on the metric's unit
    y_scale = 1.0 if maximize else float(np.exp(np.mean(np.log(ef))))

    fits = []
    for c in specs:
        fits.append((yield from fit_candidate(c, xf, ef / y_scale, xcf, options=options,
                                              maximize=maximize, y_scale=y_scale,
                                              pool=pool)))
    weights, scores, matrix = _weigh(fits, options.mixture)
    counts = allocate(weights, int(options.n_bootstrap))
    rng = np.random.default_rng(options.random_state)
    members = []
    for st, n in zip(fits, counts, strict=True):
        members.append((yield from bootstrap(st, int(n), rng, method=options.bootstrap)))
    candidates = [
        {"name": st.spec.name, "law": st.law.name, "weight": float(w),
         "backtest_rmse": None if sc is None else sc * y_scale, "status": st.status}
        for st, w, sc in zip(fits, weights, scores, strict=True)
    ]
    candidates += [
        {"name": s.split(":")[0], "law": None, "weight": 0.0, "backtest_rmse": None,
         "status": "too few points (" + s.split(": ", 1)[1] + ")"}
        for s in skipped
    ]
    mixture = LawMixture(
        mode=AUTO if is_auto else get_law(specs[0].law).name,
        members=tuple(members),
        weights=tuple(float(w) for w in weights),
        candidates=tuple(candidates),
        maximize=bool(maximize),
        level=float(options.level),
        x_range=(float(xcf.min()), float(xcf.max())),
        n_frontier=n_front,
        data_notes=tuple(notes),
    )
    return SeriesFit(mixture=mixture, X=X, err=err, frontier_mask=mask,
                     backtest_matrix=matrix)


def _check_points(X: np.ndarray, y: np.ndarray, n_inputs: int, maximize: bool) -> None:
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
    if maximize and ((y < 0) | (y > 1)).any():
        raise DataError("with maximize, y must lie in [0, 1]")


def _clip_perfect(err: np.ndarray) -> tuple[np.ndarray, str]:
    """``y = 1`` (error 0) cannot be fitted in log space: set to half the smallest positive
    error; returns the errors and the note that gives the count."""
    zero = err <= 0
    if zero.all():
        raise DataError(f"all {len(err)} points have y = 1 (error 0): nothing to fit")
    floor = 0.5 * float(err[~zero].min())
    note = (f"{int(zero.sum())} of {len(err)} points have y = 1 (error 0), which the fit "
            f"cannot take in log space: set to error {floor:.3g} (half the smallest "
            "positive error)")
    return np.where(zero, floor, err), note


def _pool(options: FitOptions, n_inputs: int) -> tuple[Candidate, ...]:
    """The candidates of ``law="auto"``: chinchilla for two inputs, else ``candidates``."""
    if n_inputs == 2:
        return (Candidate("chinchilla", "chinchilla"),)
    return tuple(options.candidates)


def _specs(options: FitOptions, n_front: int, n_inputs: int
           ) -> tuple[list[Candidate], list[str]]:
    """Candidates to fit and the reasons others were left out: a law of ``p`` parameters
    needs ``n >= p + 1`` frontier points (one degree of freedom), pinned or in ``auto``."""
    if not options.is_auto:
        law = get_law(options.law)
        return [Candidate(law.name, law, starts=options.starts)], []
    specs, skipped = [], []
    for c in _pool(options, n_inputs):
        if n_front >= c.needs:
            specs.append(c)
        else:
            skipped.append(f"{c.name}: {n_front} frontier points, needs >= {c.needs}")
    return specs, skipped


def _too_few(options: FitOptions, n_front: int, n_all: int, n_inputs: int) -> str:
    """The message of a series too sparse for the law (or for every candidate), with the
    rule :func:`_specs` applies: ``p + 1`` points for ``p`` parameters."""
    if options.is_auto:
        smallest = min(_pool(options, n_inputs), key=lambda c: c.needs)
        need = smallest.needs
        return (f"{n_front} frontier points (of {n_all}) are too few for any law "
                f"(the smallest, {smallest.name}, needs >= {need})")
    law = get_law(options.law)
    smaller = [
        other.name for other in LAWS.values()
        if other.n_inputs == n_inputs and other.n_params + 1 <= n_front
    ]
    hint = f"; the data support: {', '.join(smaller)} (or auto)" if smaller else ""
    return (f"{n_front} frontier points (of {n_all}) are too few for law "
            f"'{law.name}' with {law.n_params} parameters (need >= {law.n_params + 1})"
            f"{hint}")


def _weigh(fits: list[CandidateFit], mixture: str
           ) -> tuple[np.ndarray, list[float | None], tuple | None]:
    """Mixture weights (:func:`combine`) from the backtests on the cuts that every
    candidate with backtests shares (the largest laws drop out of the evidence until some
    cut is common); the backtest RMSE of each candidate; the evidence
    ``(use, P, truth, cut)``."""
    k = len(fits)
    scores: list[float | None] = [None] * k
    if k == 1:
        return np.ones(1), scores, None
    ok = [f.ok for f in fits]
    use = [i for i in range(k) if ok[i] and fits[i].backtests]
    common: set = set()
    while use:
        common = set.intersection(*({b.cut for b in fits[i].backtests} for i in use))
        if common:
            break
        use.remove(max(use, key=lambda i: fits[i].law.n_params))
    evidence = None
    if use:
        cuts = sorted(common)
        preds = []
        for i in use:
            by_cut = {b.cut: b for b in fits[i].backtests}
            preds.append(np.concatenate([by_cut[c].err_pred for c in cuts]))
        by_cut = {b.cut: b for b in fits[use[0]].backtests}
        ef = fits[use[0]].ef
        truth = np.concatenate([ef[by_cut[c].index] for c in cuts])
        group = np.concatenate([np.full(len(by_cut[c].index), c) for c in cuts])
        P = np.asarray(preds)
        evidence = (list(use), P, truth, group)
        for row, i in enumerate(use):
            scores[i] = float(np.sqrt(np.mean((P[row] - truth) ** 2)))
    # a candidate fitted with no degree of freedom (``min_points`` below p + 1) counts one
    # tier higher: it joins the sparse series' fallbacks instead of forming the pool alone
    tiers = [f.spec.tier + int(len(f.ef) <= f.law.n_params) for f in fits]
    return combine(tiers, ok, evidence, mixture), scores, evidence


def _pooled(first: list[SeriesFit | Exception]) -> list[SeriesFit | None]:
    """The first pass's fits a prior applies to (a one-input law), ``None`` elsewhere (a
    series that failed there, or a two-input law: it is fitted alone)."""
    return [s if isinstance(s, SeriesFit) and s.mixture.n_inputs == 1 else None
            for s in first]


def _noise_levels(fits: list[SeriesFit | None]) -> np.ndarray:
    """Every series' ``sigma`` (:func:`~scalecmp.engine.pooling.noise_levels`) from the
    first pass's fits."""
    return noise_levels([(float("nan"), 0) if s is None else series_noise(s.mixture.members)
                         for s in fits])


def corpus_pools(first: list[SeriesFit | Exception], exclude: Sequence[str] = ()
                 ) -> list[PooledPrior | None]:
    """Every series' prior from the development corpus (:mod:`scalecmp.engine.corpus_prior`,
    the families in ``exclude`` left out), put in the loss's units by its noise level from
    the first pass's fit (``None`` for a series that failed there or has a two-input
    law: it is fitted alone)."""
    mean, sd = corpus_prior(exclude)
    fits = _pooled(first)
    sigma = _noise_levels(fits)
    return [None if s is None else
            PooledPrior(mean=mean, sd=sd, noise=float(sigma[i]), source="corpus")
            for i, s in enumerate(fits)]


def series_pools(first: list[SeriesFit | Exception]) -> list[PooledPrior | None]:
    """The pooled prior of every series of a call from the first pass's fits (``None``
    for a series that failed there: it is fitted alone; see
    :mod:`scalecmp.engine.pooling`)."""
    fits = _pooled(first)
    u = np.full((len(fits), 2), np.nan)
    v = np.full((len(fits), 2), np.nan)
    for i, s in enumerate(fits):
        if s is not None:
            u[i], v[i] = series_summary(s.mixture.members, s.mixture.x_range[1])
    return pooled_priors(u, v, _noise_levels(fits))
