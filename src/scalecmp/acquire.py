"""Which runs to buy next: the expected value of a candidate run for a comparison, per GFLOP.

A *candidate* is a run not yet measured: a model size x samples seen of one group (a
procedure, a dataset), with its compute ``C``. The question is how much it would narrow the
uncertainty that matters, at the compute ``x*`` where the comparison is to be decided
(``at``), for what it costs. The answer is a *preposterior* expectation: draw the run's
outcome from what the current fit predicts, update the fit with it, measure the band, and
average over the draws. A full refit per draw (50 candidates x 100 draws = 5,000 fits of
several seconds each) is out of reach, so the update is an *importance reweighting of the
fit's own bootstrap replicates*, the one uncertainty model every band of scalecmp comes
from (:meth:`scalecmp.engine.GroupFit.error_replicates`).

**The replicates as a prior.** Group ``g`` has ``R`` replicate curves (error units)

    e_r(x) = b_r(x) exp(g_r D(x)),   D(x) = max(0, ln x - ln x_max),

``b_r`` the bootstrap law (df-scaled), ``g_r ~ N(0, tau^2)`` the backtested extrapolation
tilt beyond the largest fitted compute ``x_max`` (:mod:`scalecmp.engine.lawfit`). They are
read as draws from the current posterior of the frontier curve (the bootstrap as an
approximate posterior: Efron 2012, "Bayesian inference and the parametric bootstrap";
Newton & Raftery 1994). Bayes' rule for a new observation ``y`` is then a reweighting of the
draws by its likelihood (sampling-importance-resampling, Rubin 1988):

    w_r  proportional to  p(y | e_r) = phi((ln y - ln e_r(C)) / sigma),

``sigma`` the group's measurement scatter (the RMS of the fit's resampled, inflated
residuals, the noise of ``interval(kind="prediction")``). Several new runs multiply their
likelihoods. Every band after the update is a *weighted* percentile of the replicates.

**Drawing an outcome.** Draw ``m`` (``m = 1..M``, ``M = n_draws``) takes a truth index
``s_m`` (distinct replicate pairs, without replacement) and gives every candidate of group
``g`` the outcome

    ln y = ln e_{s_m}(C) + eps_{s_m} + gamma(N, D) + eta,

``eps`` the fit's own noise draw at ``C`` (``error_replicates(noise=True)``), ``gamma`` the
*allocation gap* below and ``eta ~ N(0, s_extra^2)`` its scatter. The same truth serves every
candidate (common random numbers: differences between candidates are not Monte-Carlo noise)
and every run of a batch (their outcomes are drawn jointly, so the second pick of a batch is
valued given the first). The truth replicate is left out of its own posterior
(``w_{s_m} = 0``), else the data would look exactly as informative as a perfect fit.

**The allocation gap.** The law describes the compute frontier, the best run at each
compute. A run off the compute-optimal split (a small model trained long) is worse than the
frontier at its compute. Per group, ``D_opt(C) = k C^a`` is fitted to the frontier runs
(:func:`scalecmp.optimal.fit_power`), ``z = ln D - ln D_opt(C)``, and the measured runs' gaps
``gamma_i = ln err_i - ln f(C_i)`` (``f`` the point fit) are fitted by non-negative least
squares as ``gamma = c0 + kappa_+ z^2 [z > 0] + kappa_- z^2 [z < 0]`` (an isoFLOP parabola,
steeper on the side the data say); ``s_extra^2 = max(0, s^2 - sigma^2)`` with ``s`` its
residual standard deviation.

**What the refit would see.** A drawn outcome enters the fit only if it joins the frontier:
``y`` below the error of every run of its group at compute ``<= C`` (measured, or bought
earlier in the same batch). Then it counts with the likelihood above (the refit treats a
frontier run as a measurement of the frontier, gap or not); otherwise it changes nothing.
When it enters, the data end moves to ``C' = max(x_max, C)``: the refit's curve passes
through the new point and continues with its law's shape, and its extrapolation tilt starts
afresh from ``C'``. After the update, replicate ``r`` at ``x*`` is

    e'_r(x*) = b_r(x*) exp(g_r d(min(x*, C')) + g~_r max(0, ln x* - ln C')),

``d(u) = max(0, ln u - ln x_max)``: its own tilt (which the likelihood pins) up to the new
data end, and beyond it ``g~``, the tilts permuted within each law of the mixture
(independent of the weights, as the refit draws its tilt afresh). A run at ``x*`` or beyond
thus pins the band to the measurement; a run just above ``x_max`` leaves it as it was. The
current band is computed in the same representation (``C' = x_max``), so that a run that
does not enter changes the width by exactly nothing and the gain carries no Monte-Carlo
offset.

**Objectives** (``objective``), each a sum over the pairs of groups (or the groups) and the
``at`` values:

* ``difference``: width of the pointwise ``level`` band of ``y_a - y_b`` at ``x*``
  (compare's band), metric units;
* ``multiplier``: width, in decades, of the interval of the compute multiplier at ``x*``
  (the compute ``b`` needs to reach ``a``'s error there; inversion on a 0.01-decade grid,
  unreachable targets counted at the grid's end, 10^4 x ``x*``);
* ``dopt``: width, in decades, of the interval of ``D_opt(x*)``; its replicates are the
  pairs bootstrap of the frontier route (``fit_power``) and an entering run reweights them by
  ``phi((ln D - ln D_opt,r(C)) / sigma_D)`` (``sigma_D`` the residual scatter of that fit);
* ``prediction``: width of each group's curve interval at ``x*``, metric units.

``P(verdict changes)``: the share of draws after which the pointwise verdict at any ``x*``
(``a`` better, ``b`` better or inconclusive, compare's rule ``P >= (1 + level) / 2``)
differs from today's. The gain of a run is ``G = W_now - E[W_after]``.

**Runs that last** (``lasts``, off by default). The fit sees a group's compute frontier
only: once a run at lower or equal compute does better, a run leaves the fit and what it
told is superseded. A study buys the candidates over several batches, so a run's gain today
lasts only if the run stays on its group's frontier: ``p_final`` (always reported) is the
share of draws in which its outcome is below that of every measured run and every other
candidate of its group at compute ``<= C`` (the same joint draws as above; a candidate with
no cheaper candidate of its group has ``p_final = p_frontier``). With ``lasts = p`` > 0, a
run *lasts* when ``p_final >= p``; the runs that last are ranked first (each part by gain
per GFLOP) and the batch is bought among them. ``lasts = 0`` (the default) is the plain
rule: every run lasts.

Why off: on the development simulations (seeds 5-14 of
``benchmarks/next_rule_choice.py``, 12 evenly spaced sizes) ``lasts = 0.5`` needed a median
0.71x the best baseline's compute against 0.95x for the plain rule, and 0.59x against 0.96x
on the reported simulations; but on the study's real ladders, of many near-equal sizes, the
chance of *each* run is split among its neighbours, few reach ``p_final >= 1/2``, the batch
shrinks to one run a step, and neither real comparison reached its goal in 40 steps
(BENCHMARKS.md, section 10c). Simulations with such a ladder (``ladder="dense"`` of
``benchmarks/next_retrospective.py``) show the same crawl. More forms were measured there
and not adopted (section 10d): ``p_final`` within one measurement scatter of the frontier
(still a crawl), the plain batch as the fall-back where no run that lasts helps, the
budget's rest spent on the other runs (worse worst cases on the dense ladder), and a
look-ahead that buys among the runs a backward elimination from "every candidate" keeps
(worse on the even ladder).

The *batch* is greedy under ``budget`` among the runs that last: each pick maximises the
gain of the batch so far ``W(batch) - W(batch + run)`` (its outcomes drawn jointly with the
earlier picks'), per GFLOP in one pass and in all in another, and the batch of the two with
the lower expected width is kept (cost-effective lazy forward selection, Leskovec et al.
2007). Where no run that lasts narrows the band, the batch is the affordable run of the
highest gain per GFLOP alone: a run expected to be pushed off the frontier is bought one
at a time, never a budget's worth of them.

**Limits, stated.** Reweighting cannot move a curve outside the replicate cloud; a point in
its far tail leaves few effective replicates (``ess`` reports the mean effective sample size
of the draws in which the run enters). The update does not re-weigh the laws of an ``auto``
mixture, re-estimate the tilt scale ``tau``, or drop runs the new one pushes off the
frontier. The entry rule is the naive frontier's (the binned frontier also asks a run to be
the best of its compute bin). ``benchmarks/next_retrospective.py`` measures what the ranking
buys on real and simulated grids (BENCHMARKS.md, section 10).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from scalecmp.compare import check_at, check_compare_options, first_reach, label_of
from scalecmp.engine import FitOptions, FitResult, GroupFit, fit_frame, fit_options
from scalecmp.engine.frontier import naive_frontier
from scalecmp.engine.results import error_in_range, jsonable, to_metric
from scalecmp.errors import DataError, UsageError
from scalecmp.files import json_safe
from scalecmp.io import apply_where, as_frame, prepare_measurements
from scalecmp.optimal import fit_power
from scalecmp.validate import check_bootstrap_memory, check_flag, check_positive

__all__ = [
    "OBJECTIVES",
    "DEFAULT_DRAWS",
    "DEFAULT_LASTS",
    "NextResult",
    "default_candidates",
    "check_candidates",
    "check_next_options",
    "next_runs",
]

OBJECTIVES = ("difference", "multiplier", "dopt", "prediction")
DEFAULT_DRAWS = 100
#: a run lasts (is ranked and bought first) when p_final >= lasts; 0: every run lasts
DEFAULT_LASTS = 0.0
MIN_DRAWS = 10
UNITS = {"difference": "metric", "multiplier": "decades", "dopt": "decades",
         "prediction": "metric"}
_MULT_STEP = 0.01  # decades per step of the multiplier's inversion grid
_MULT_SPAN = 4.0  # decades beyond x* searched for the multiplier
_SIGMA_FLOOR = 1e-3
#: the columns every candidate table has (besides the group columns)
CANDIDATE_COLUMNS = ("model", "samples", "gflops_per_sample", "compute", "source")


# ---------------------------------------------------------------------------------------
# checks and candidates
# ---------------------------------------------------------------------------------------
def check_next_options(options: FitOptions, *, objective: str, at: Sequence[float] | None,
                       budget: float | None, n_draws: int | None,
                       lasts: float = DEFAULT_LASTS
                       ) -> tuple[list[float], float | None, int]:
    """What ``next`` asks beyond the fit options' own checks, before anything is read:
    an objective it knows, ``at`` values, a budget > 0, ``n_draws`` between 10 and the
    replicates, and what a comparison asks of the options (bootstrap replicates, a law of
    compute alone). Returns the checked ``at``, ``budget`` and ``n_draws`` (``None``:
    :data:`DEFAULT_DRAWS`, or ``n_bootstrap`` when smaller)."""
    if objective not in OBJECTIVES:
        raise UsageError(f"objective: unknown objective '{objective}' (known: "
                         f"{', '.join(OBJECTIVES)})")
    at_values = check_at(at) or []
    if not at_values:
        raise UsageError("at: next needs the compute at which the comparison is to be "
                         "decided (e.g. 1e13 GFLOPs)")
    if budget is not None:
        budget = check_positive(budget, "budget", " (GFLOPs)")
    if isinstance(lasts, bool) or not isinstance(lasts, int | float | np.integer | np.floating) \
            or not 0.0 <= float(lasts) <= 1.0:
        raise UsageError(f"lasts must be a probability in [0, 1] (0: every run lasts), got "
                         f"{lasts!r}")
    check_compare_options(options, purpose="next reweights bootstrap replicates",
                          needs="next ranks runs by laws of compute alone")
    if n_draws is None:
        n_draws = min(DEFAULT_DRAWS, options.n_bootstrap)
    if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer):
        raise UsageError(f"n_draws must be an integer, got {n_draws!r}")
    if not MIN_DRAWS <= int(n_draws) <= options.n_bootstrap:
        raise UsageError(f"n_draws must lie in [{MIN_DRAWS}, `n_bootstrap` = "
                         f"{options.n_bootstrap}] (each draw is one replicate), got {n_draws}")
    return at_values, budget, int(n_draws)


def _column(frame: pd.DataFrame, col: str, param: str, why: str) -> None:
    if col not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:12]))
        raise DataError(f"{param}: no column '{col}' ({why}; columns: {cols})")


def _key_text(value: object) -> str:
    """A group value as text for matching candidates to groups: a whole number written
    ``2.0`` (a CSV column with a blank reads as floats) is the group ``2``."""
    value = jsonable(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(value: object) -> str:
    """A cell's value as the user wrote it: numbers plain (``-5``, not ``np.int64(-5)``),
    text quoted."""
    value = jsonable(value)
    return repr(value) if isinstance(value, str) else str(value)


def _positive_column(frame: pd.DataFrame, col: str, param: str, what: str) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{param}: column '{col}' of the {what} must be a number > 0 in "
                        f"every row; row {i + 1} has {_shown(frame[col].iloc[i])}")
    return values


def _size_names(frame: pd.DataFrame, x: str, samples: str, model: str | None) -> pd.Series:
    """The rung of each row: the ``model`` column (``None``: ``model`` when the frame has
    it), else the compute per sample ``x / samples`` (4 significant digits)."""
    if model is None and "model" in frame.columns:
        model = "model"
    if model is not None:
        _column(frame, model, "model", "the model-size column that names each rung")
        return frame[model].astype(str).where(frame[model].notna())
    f = pd.to_numeric(frame[x], errors="coerce") / pd.to_numeric(frame[samples],
                                                                 errors="coerce")
    return f.map(lambda v: f"{v:.4g}/sample" if np.isfinite(v) else None)


def default_candidates(data: Any, *, x: str = "gflops_total", by: str | Sequence[str],
                       samples: str = "samples_seen", model: str | None = None,
                       where: Sequence[str] | None = None) -> pd.DataFrame:
    """The next rungs of what each group measured: every measured size at the next larger
    sample count of the group's ladder (one geometric step, the ladder's median ratio,
    beyond its largest), and the next larger size (GFLOPs per sample ``x / samples``
    extrapolated by the median ratio of the measured sizes) at every measured sample count.
    Sizes are told apart by the ``model`` column (``None``: ``model`` if the data have it,
    else by ``x / samples``).

    Returns a frame with the group columns and :data:`CANDIDATE_COLUMNS` (``source``:
    ``next samples`` or ``next size``); measured cells are never candidates."""
    by = [by] if isinstance(by, str) else list(by)
    frame = apply_where(as_frame(data), where)
    _column(frame, samples, "samples", "next places runs by model size x samples seen")
    for b in by:
        _column(frame, b, "by", "the group column")
    names = _size_names(frame, x, samples, model)
    model = "_size"
    xs = pd.to_numeric(frame[x], errors="coerce")
    ds = pd.to_numeric(frame[samples], errors="coerce")
    ok = (xs > 0) & (ds > 0) & xs.notna() & ds.notna() & names.notna()
    frame = frame.loc[ok].assign(_x=xs[ok], _d=ds[ok], _size=names[ok])
    rows: list[dict] = []
    for key, g in frame.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        kd = {b: jsonable(k) for b, k in zip(by, key, strict=True)}
        per = g.assign(_f=g["_x"] / g["_d"]).groupby(model)
        f_size = per["_f"].median()
        d_max = per["_d"].max()
        measured = {(str(m), float(f"{d:.6g}")) for m, d in zip(g[model], g["_d"], strict=True)}
        ladder = np.array(sorted({float(f"{d:.6g}") for d in g["_d"]}))
        step_d = float(np.median(ladder[1:] / ladder[:-1])) if len(ladder) >= 2 else 2.0
        for m in f_size.index:
            above = ladder[ladder > d_max[m] * (1 + 1e-9)]
            d_next = float(above[0]) if len(above) else float(d_max[m] * step_d)
            if (str(m), float(f"{d_next:.6g}")) in measured:
                continue
            rows.append({**kd, "model": str(m), "samples": d_next,
                         "gflops_per_sample": float(f_size[m]),
                         "compute": float(f_size[m]) * d_next, "source": "next samples"})
        fs = np.sort(f_size.to_numpy(float))
        step_n = float(np.median(fs[1:] / fs[:-1])) if len(fs) >= 2 else 2.0
        step_n = max(step_n, 1.05)
        largest = str(f_size.idxmax())
        f_new = float(fs[-1]) * step_n
        for d in ladder:
            rows.append({**kd, "model": f"{largest}+1", "samples": float(d),
                         "gflops_per_sample": f_new, "compute": f_new * float(d),
                         "source": "next size"})
    return pd.DataFrame(rows, columns=[*by, *CANDIDATE_COLUMNS])


def check_candidates(candidates: Any, *, by: Sequence[str], samples: str = "samples_seen",
                     model: str | None = None, compute: str = "compute",
                     source: str = "csv") -> pd.DataFrame:
    """A table of candidate runs (one row each) in :func:`next_runs`' form: the group
    columns ``by``, samples seen (``samples``), compute (``compute``, GFLOPs), and an
    optional model column (the rung's name). Every problem is one :class:`DataError`."""
    frame = as_frame(candidates, "candidates")
    if frame.empty:
        raise DataError("candidates: the candidate table has no rows")
    for b in by:
        _column(frame, b, "candidates", f"every candidate names its group (--by {b})")
    _column(frame, compute, "candidates", "the compute of each candidate, GFLOPs")
    _column(frame, samples, "candidates", "the samples seen of each candidate")
    c = _positive_column(frame, compute, "candidates", "candidates")
    d = _positive_column(frame, samples, "candidates", "candidates")
    model = model or "model"
    names = (frame[model].astype(str) if model in frame.columns
             else pd.Series([f"{v:.4g}/sample" for v in c / d]))
    out = frame[list(by)].reset_index(drop=True).copy()
    out["model"] = names.to_numpy()
    out["samples"] = d
    out["gflops_per_sample"] = c / d
    out["compute"] = c
    out["source"] = frame["source"].astype(str).to_numpy() if "source" in frame.columns \
        else source
    return out


# ---------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NextResult:
    """Candidates ranked (the runs that last first, each part by expected gain per GFLOP),
    and the greedy batch under the budget.

    ``candidates``: one dict per candidate, best first (group key, ``model``, ``samples``,
    ``compute``, ``predicted`` metric, ``p_frontier``, ``p_final``, ``lasts``,
    ``expected_width``, ``width_se``, ``gain``, ``gain_per_gflop``, ``p_verdict_change``,
    ``ess``); ``batch``: the picks in order (each with the batch's ``expected_width`` and
    ``gain_per_gflop`` at that step); ``current``: today's width, its terms and verdicts;
    ``gap_models``: the allocation gap of each group (module docstring)."""

    fit: FitResult
    objective: str
    at: tuple[float, ...]
    level: float
    n_draws: int
    budget: float | None
    unit: str
    current: dict
    candidates: tuple[dict, ...]
    batch: tuple[dict, ...]
    batch_summary: dict
    gap_models: tuple[dict, ...]
    samples: str
    model: str
    lasts: float = DEFAULT_LASTS

    @property
    def by(self) -> tuple[str, ...]:
        return self.fit.by

    def to_dict(self) -> dict:
        """The fit JSON contract extended by ``next`` (the ranking and the batch)."""
        out = dict(self.fit.to_dict())
        out["next"] = {
            "objective": self.objective,
            "unit": self.unit,
            "at": list(self.at),
            "level": self.level,
            "n_draws": self.n_draws,
            "lasts": self.lasts,
            "budget": self.budget,
            "method": "preposterior: outcomes drawn from the fit's replicates (+ noise and "
                      "the allocation gap), the update an importance reweighting of the "
                      "replicates (scalecmp.acquire)",
            "current": json_safe(self.current),
            "candidates": [json_safe(c) for c in self.candidates],
            "batch": {**json_safe(self.batch_summary),
                      "picks": [json_safe(p) for p in self.batch]},
            "gap_models": [json_safe(g) for g in self.gap_models],
        }
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per candidate, best first."""
        return _frame(self.candidates, self.by)

    def batch_frame(self) -> pd.DataFrame:
        """One row per pick of the batch, in the order picked."""
        return _frame(self.batch, self.by)


def _frame(rows: Sequence[dict], by: Sequence[str]) -> pd.DataFrame:
    flat = [{**r["group"], **{k: v for k, v in r.items() if k != "group"}} for r in rows]
    cols = [*by, "rank", "model", "samples", "gflops_per_sample", "compute", "source",
            "predicted", "p_frontier", "p_final", "lasts", "expected_width", "width_se",
            "gain", "gain_per_gflop", "p_verdict_change", "ess"]
    frame = pd.DataFrame(flat)
    return frame[[c for c in cols if c in frame.columns]
                 + [c for c in frame.columns if c not in cols]] if len(frame) else \
        pd.DataFrame(columns=cols)


# ---------------------------------------------------------------------------------------
# the simulation
# ---------------------------------------------------------------------------------------
def _weighted_bounds(ordered: np.ndarray, order: np.ndarray, w: np.ndarray, q_lo: float,
                     q_hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted percentiles (inverted CDF) of a statistic whose sorted values are
    ``ordered`` (``order`` sorts the replicates), under each row of weights ``w`` (m, R)."""
    cw = np.cumsum(w[:, order], axis=1)
    tot = cw[:, -1:]
    last = len(ordered) - 1
    lo = ordered[np.minimum((cw < q_lo * tot).sum(axis=1), last)]
    hi = ordered[np.minimum((cw < q_hi * tot).sum(axis=1), last)]
    return lo, hi


class _Group:
    """One fitted group's precomputed state (module docstring)."""

    def __init__(self, gi: int, g: GroupFit, R: int, at: np.ndarray, samples: str,
                 rng: np.random.Generator, level: float) -> None:
        self.gi, self.g, self.R = gi, g, R
        self.x_max = float(g.x_range[1])
        self.maximize = bool(g.maximize)
        fit = g.fit
        members = fit.replicate_members()[:R]
        tilts = fit.replicate_tilts()[:R]
        # the refit's fresh tilt: each law's tilts re-paired by a cyclic shift within it
        perm = np.arange(R)
        for k in np.unique(members):
            idx = np.flatnonzero(members == k)
            if len(idx) > 1:
                perm[idx] = np.roll(idx, int(rng.integers(1, len(idx))))
        self.tilt = tilts  # each replicate's own tilt (the likelihood pins it)
        self.fresh = tilts[perm]  # the refit's fresh tilt beyond a new data end
        self.untilted_at = fit.error_replicates(at, data_end=np.inf)[:R]  # (R, A)
        self._lat = np.log(at)
        # the measured runs: cheapest-first running minimum of the error (the entry rule)
        xs = g.data[g.x].to_numpy(float)
        err = np.asarray(g.err, dtype=float)
        order = np.argsort(xs, kind="stable")
        self.run_x = xs[order]
        self.run_min = np.minimum.accumulate(err[order])
        # measurement scatter (log units) of the fit's own noise, at its frontier runs
        xf = g.frontier[g.x].to_numpy(float)
        clean = fit.error_replicates(xf)[:R]
        noisy = fit.error_replicates(xf, noise=True)[:R]
        eps = np.log(np.maximum(noisy, 1e-12 * clean) / clean)
        self.sigma = max(float(np.sqrt(np.mean(eps**2))), _SIGMA_FLOOR)
        self._gap_model(xs, err, g.data[samples].to_numpy(float), rng, level)

    def _gap_model(self, xs: np.ndarray, err: np.ndarray, d: np.ndarray,
                   rng: np.random.Generator, level: float) -> None:
        front = naive_frontier(xs, err)
        if front.sum() < 3:
            raise DataError(f"group {label_of(self.g.key)}: only {int(front.sum())} frontier "
                            "runs; next needs >= 3 for D_opt(C) and the allocation gap")
        pf = fit_power(xs[front], d[front], n_bootstrap=self.R, level=level, rng=rng)
        self.d_opt = pf
        reps = pf.replicates
        good = np.isfinite(reps).all(axis=1)
        self.dopt_reps = np.where(good[:, None], reps, np.nanmedian(reps, axis=0)[None, :])
        resid_d = np.log(d[front]) - (np.log(pf.k) + pf.a * np.log(xs[front]))
        nf = int(front.sum())
        self.sigma_d = max(float(np.sqrt(np.sum(resid_d**2) / max(nf - 2, 1))), _SIGMA_FLOOR)
        gam = np.log(err) - np.log(np.asarray(self.g.predict_error(xs), dtype=float))
        z = np.log(d) - (np.log(pf.k) + pf.a * np.log(xs))
        A = np.stack([np.ones_like(z), np.where(z > 0, z * z, 0.0),
                      np.where(z < 0, z * z, 0.0)], axis=1)
        coef, _ = nnls(A, gam)
        resid = gam - A @ coef
        s = float(np.sqrt(np.sum(resid**2) / max(len(gam) - 3, 1)))
        self.gap = coef
        self.gap_sd = s
        self.extra_sd = float(np.sqrt(max(s * s - self.sigma**2, 0.0)))

    def gap_of(self, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        z = np.log(d) - (np.log(self.d_opt.k) + self.d_opt.a * np.log(c))
        c0, kp, km = self.gap
        return c0 + np.where(z > 0, kp, km) * z * z

    def min_error_below(self, c: np.ndarray) -> np.ndarray:
        """The lowest measured error at compute <= c (inf where none)."""
        i = np.searchsorted(self.run_x, c, side="right")
        out = np.full(len(np.atleast_1d(c)), np.inf)
        has = i > 0
        out[has] = self.run_min[i[has] - 1]
        return out

    def after_at(self, end: float) -> np.ndarray:
        """Replicates at the ``at`` values (R, A) after the data end moved to ``end``; a
        higher-is-better metric's errors kept in [0, 1], as ``fit`` and ``compare`` keep
        them (a replicate tilted past an error of 1 is at chance)."""
        return error_in_range(self._after(self.untilted_at, self._lat, end), self.maximize)

    def _after(self, untilted: np.ndarray, lx: np.ndarray, end: float) -> np.ndarray:
        """``b_r(x) exp(g_r d(min(x, end)) + g~_r max(0, ln x - ln end))``: the own tilt
        up to the data end, a fresh one beyond it (module docstring)."""
        l_end = np.log(max(end, self.x_max))
        own = np.clip(lx, None, l_end) - np.log(self.x_max)
        own = np.maximum(own, 0.0)
        beyond = np.maximum(lx - l_end, 0.0)
        return untilted * np.exp(self.tilt[:, None] * own[None, :]
                                 + self.fresh[:, None] * beyond[None, :])

    def to_metric(self, err: np.ndarray) -> np.ndarray:
        return to_metric(err, self.maximize)

    def summary(self) -> dict:
        c0, kp, km = (float(v) for v in self.gap)
        return {"group": dict(self.g.key), "c0": c0, "kappa_above": kp, "kappa_below": km,
                "sd": self.gap_sd, "sigma": self.sigma,
                "d_opt": {"k": float(self.d_opt.k), "a": float(self.d_opt.a),
                          "sigma": self.sigma_d}}


class _Simulation:
    """Outcome draws of every candidate and the weighted widths of any set of them."""

    def __init__(self, groups: list[_Group], cand: pd.DataFrame, group_of: np.ndarray,
                 at: np.ndarray, objective: str, level: float, n_draws: int,
                 rng: np.random.Generator) -> None:
        self.groups, self.at, self.objective, self.level = groups, at, objective, level
        self.lat = np.log(at)
        self.R = R = groups[0].R
        self.M = M = min(int(n_draws), R)
        self.q_lo, self.q_hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
        self.truth = rng.choice(R, size=M, replace=False)
        self.c = cand["compute"].to_numpy(float)
        self.d = cand["samples"].to_numpy(float)
        self.gi = group_of
        K = len(self.c)
        self.ln_y = np.empty((K, M))
        self.ln_e = np.empty((K, R))  # the current replicates at each candidate (likelihood)
        self.ln_min_meas = np.empty(K)
        self.gamma = np.empty(K)
        self.ll_d = np.zeros((K, R))
        for gi, g in enumerate(groups):
            idx = np.flatnonzero(group_of == gi)
            if len(idx) == 0:
                continue
            cc = self.c[idx]
            clean = g.g.fit.error_replicates(cc)[:R]
            noisy = g.g.fit.error_replicates(cc, noise=True)[:R]
            eps = np.log(np.maximum(noisy, 1e-12 * clean) / clean)
            gam = g.gap_of(cc, self.d[idx])
            eta = rng.normal(0.0, g.extra_sd, (len(idx), M)) if g.extra_sd > 0 else 0.0
            ln_truth = np.log(clean[self.truth]).T + eps[self.truth].T  # (k, M)
            ln_y = ln_truth + gam[:, None] + eta
            if g.maximize:
                ln_y = np.minimum(ln_y, 0.0)  # an error above 1 is chance
            self.ln_y[idx] = ln_y
            self.ln_e[idx] = np.log(clean).T
            with np.errstate(divide="ignore"):
                self.ln_min_meas[idx] = np.log(g.min_error_below(cc))
            self.gamma[idx] = gam
            pred = g.dopt_reps[:, 0][None, :] + g.dopt_reps[:, 1][None, :] * np.log(cc)[:, None]
            self.ll_d[idx] = -0.5 * ((np.log(self.d[idx])[:, None] - pred) / g.sigma_d) ** 2
        self.p_final = self._p_final()
        self.pairs = list(combinations(range(len(groups)), 2))
        self._cache: dict[tuple, np.ndarray] = {}
        self._grid: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.now = self.evaluate([])

    def _p_final(self, tol: float = 0.0) -> np.ndarray:
        """Per candidate: the share of draws in which its outcome is below every measured
        run's and every other candidate's of its group at compute ``<= C`` (ties in compute
        broken by the candidate's order): it is on the frontier once all are measured.
        ``tol`` > 0 counts it there within ``tol`` x its group's measurement scatter
        (``benchmarks/next_rules.py --rule tolerance``; not used by ``next``)."""
        out = np.empty(len(self.c))
        for gi in np.unique(self.gi):
            idx = np.flatnonzero(self.gi == gi)
            order = idx[np.lexsort((idx, self.c[idx]))]
            ly = self.ln_y[order]  # (k, M), cheapest first
            before = np.minimum.accumulate(
                np.vstack([np.full((1, ly.shape[1]), np.inf), ly[:-1]]), axis=0)
            best = np.minimum(before, self.ln_min_meas[order][:, None])
            out[order] = (ly < best + tol * self.groups[gi].sigma).mean(axis=1)
        return out

    # -- the statistics of one state ------------------------------------------------------
    def _adv(self, a: int, b: int, ea: float, eb: float) -> np.ndarray:
        key = ("adv", a, b, ea, eb)
        if key not in self._cache:
            self._cache[key] = (self.groups[b].after_at(eb) - self.groups[a].after_at(ea))
        return self._cache[key]

    def _stat(self, kind: str, i: int, j: int, ends: tuple[float, ...]) -> np.ndarray:
        """Replicate values (R,) of term ``i`` (a pair or a group) at ``at[j]``."""
        key = (kind, i, j, ends)
        if key in self._cache:
            return self._cache[key]
        if kind == "difference":
            a, b = self.pairs[i]
            sign = 1.0 if self.groups[a].maximize else -1.0
            out = sign * self._adv(a, b, ends[0], ends[1])[:, j]
        elif kind == "prediction":
            g = self.groups[i]
            out = g.to_metric(g.after_at(ends[0])[:, j])
        elif kind == "dopt":
            g = self.groups[i]
            out = (g.dopt_reps[:, 0] + g.dopt_reps[:, 1] * self.lat[j]) / math.log(10.0)
        else:  # multiplier
            a, b = self.pairs[i]
            ga, gb = self.groups[a], self.groups[b]
            target = ga.after_at(ends[0])[:, j]
            lg, unt = self._inv_grid(b, j)
            curves = gb._after(unt, lg, ends[1])
            lx = first_reach(lg, curves, target[:, None])[:, 0]
            lx = np.clip(lx, lg[0], lg[-1])
            out = (lx - self.lat[j]) / math.log(10.0)
        self._cache[key] = out
        return out

    def _inv_grid(self, b: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        if (b, j) not in self._grid:
            lo = min(float(g.g.x_range[0]) for g in self.groups)
            lg = np.arange(np.log10(lo), np.log10(self.at[j]) + _MULT_SPAN + _MULT_STEP,
                           _MULT_STEP) * math.log(10.0)
            unt = self.groups[b].g.fit.error_replicates(np.exp(lg), data_end=np.inf)[:self.R]
            self._grid[(b, j)] = (lg, unt)
        return self._grid[(b, j)]

    def _sorted(self, kind: str, i: int, j: int, ends: tuple[float, ...]
                ) -> tuple[np.ndarray, np.ndarray]:
        key = ("sorted", kind, i, j, ends)
        if key not in self._cache:
            vals = self._stat(kind, i, j, ends)
            order = np.argsort(vals, kind="stable")
            self._cache[key] = (vals[order], order)
        return self._cache[key]

    # -- one set of runs ------------------------------------------------------------------
    def evaluate(self, members: Sequence[int]) -> dict:
        """Per draw: which runs enter, the width after them, the verdicts after them.

        Draws in which no run enters keep today's values exactly (their weights are
        today's); only the others are computed."""
        G, M, R = len(self.groups), self.M, self.R
        members = sorted(members, key=lambda k: (self.c[k], k))
        entered = np.zeros((len(members), M), dtype=bool)
        ends = np.tile(np.array([g.x_max for g in self.groups])[:, None], (1, M))
        logw: dict[int, np.ndarray] = {}
        logw_d: dict[int, np.ndarray] = {}
        touched = np.zeros(M, dtype=bool)
        for n, k in enumerate(members):
            gi = self.gi[k]
            best = np.full(M, self.ln_min_meas[k])
            for k2 in members[:n]:  # cheaper runs of the batch, same group
                if self.gi[k2] == gi:
                    best = np.minimum(best, self.ln_y[k2])
            ent = self.ln_y[k] < best
            entered[n] = ent
            if not ent.any():
                continue
            sig = self.groups[gi].sigma
            lw = logw.setdefault(gi, np.zeros((M, R)))
            lw[ent] += -0.5 * ((self.ln_y[k][ent][:, None] - self.ln_e[k][None, :]) / sig) ** 2
            lwd = logw_d.setdefault(gi, np.zeros((M, R)))
            lwd[ent] += self.ll_d[k][None, :]
            ends[gi] = np.where(ent, np.maximum(ends[gi], self.c[k]), ends[gi])
            touched |= ent
        first = not hasattr(self, "now")
        rows = np.arange(M) if first else np.flatnonzero(touched)
        if first:
            width = np.zeros(M)
            verdict = np.zeros((len(self.pairs), len(self.at), M), dtype=int)
            p_better = np.zeros((len(self.pairs), len(self.at), M))
        else:
            width = self.now["width"].copy()
            verdict = self.now["verdict"].copy()
            p_better = self.now["p_better"].copy()
        terms: list[dict] = []
        if len(rows):
            width[rows] = 0.0
            loo = (np.arange(len(rows)), self.truth[rows])
            kind = self.objective

            def weights(gs: tuple[int, ...], source: dict[int, np.ndarray]) -> np.ndarray:
                lw = np.zeros((len(rows), R))
                for g in gs:
                    if g in source:
                        lw += source[g][rows]
                if kind != "dopt" or source is logw:
                    lw[loo] = -np.inf  # the truth is left out of its own posterior
                return np.exp(lw - lw.max(axis=1, keepdims=True))

            if kind in ("difference", "multiplier"):
                specs = list(enumerate(self.pairs))
            else:
                specs = [(i, (i,)) for i in range(G)]
            for i, gs in specs:
                w = weights(gs, logw_d if kind == "dopt" else logw)
                for j in range(len(self.at)):
                    lo, hi = np.empty(len(rows)), np.empty(len(rows))
                    for e, idx in self._states(gs, ends[:, rows], kind):
                        ordered, order = self._sorted(kind, i, j, e)
                        lo[idx], hi[idx] = _weighted_bounds(ordered, order, w[idx],
                                                            self.q_lo, self.q_hi)
                    width[rows] += hi - lo
                    terms.append({"index": i, "at": j, "lo": lo, "hi": hi})
            for i, (a, b) in enumerate(self.pairs):
                w = weights((a, b), logw)
                tot = w.sum(axis=1)
                for j in range(len(self.at)):
                    p = np.empty(len(rows))
                    for e, idx in self._states((a, b), ends[:, rows], "difference"):
                        pos = self._adv(a, b, e[0], e[1])[:, j] > 0
                        p[idx] = (w[idx] @ pos) / tot[idx]
                    p_better[i, j, rows] = p
                    verdict[i, j, rows] = np.where(p >= self.q_hi, 1,
                                                   np.where(p <= self.q_lo, -1, 0))
        return {"width": width, "terms": terms, "verdict": verdict, "p_better": p_better,
                "entered": entered, "members": members, "logw": logw, "touched": touched}

    def _states(self, gs: tuple[int, ...], ends: np.ndarray, kind: str
                ) -> list[tuple[tuple[float, ...], np.ndarray]]:
        """The draws grouped by the data ends of the groups ``gs`` (the state a statistic
        depends on); ``dopt`` depends on none."""
        if kind == "dopt":
            return [((), np.arange(ends.shape[1]))]
        sub = ends[list(gs)]
        uniq, inv = np.unique(sub.T, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        return [(tuple(float(v) for v in u), np.flatnonzero(inv == n))
                for n, u in enumerate(uniq)]

    def changed(self, ev: dict) -> np.ndarray:
        """Per draw: does any verdict differ from today's?"""
        return (ev["verdict"] != self.now["verdict"]).any(axis=(0, 1))

    def ess(self, ev: dict, gi: int) -> float:
        """Mean effective sample size of group ``gi``'s weights, over the draws in which
        some run of it entered (nan when none did)."""
        if gi not in ev["logw"]:
            return float("nan")
        lw = ev["logw"][gi]
        touched = np.zeros(self.M, dtype=bool)
        for n, k in enumerate(ev["members"]):
            if self.gi[k] == gi:
                touched |= ev["entered"][n]
        if not touched.any():
            return float("nan")
        w = np.exp(lw[touched] - lw[touched].max(axis=1, keepdims=True))
        return float(np.mean(w.sum(axis=1) ** 2 / (w**2).sum(axis=1)))


# ---------------------------------------------------------------------------------------
# the entry point
# ---------------------------------------------------------------------------------------
def next_runs(
    data: Any,
    *,
    x: str = "gflops_total",
    y: str = "value",
    by: str | Sequence[str] | None = None,
    maximize: bool | None = None,
    at: Sequence[float] | None = None,
    where: Sequence[str] | None = None,
    candidates: Any = None,
    budget: float | None = None,
    objective: str = "difference",
    samples: str = "samples_seen",
    model: str | None = None,
    n_draws: int | None = None,
    lasts: float = DEFAULT_LASTS,
    options: FitOptions | None = None,
    **option_values: Any,
) -> NextResult:
    """Rank candidate runs by the expected reduction of the uncertainty at ``at`` per GFLOP,
    the runs that last first, and pick a greedy batch under ``budget`` (module docstring).

    ``data``: measurements (a frame, a dict of columns, a list of records) fitted per group
    of ``by`` with ``options`` (or its fields as keywords), or a :class:`FitResult` already
    fitted (its options are used; its groups' rows must hold ``samples``). ``candidates``:
    a table with the group columns, ``samples`` and ``compute`` (and optionally ``model``),
    see :func:`check_candidates`; ``None``: :func:`default_candidates` (the next rungs).
    ``budget``: GFLOPs for the batch; ``None``: the batch is the best candidate alone.
    ``objective``: one of :data:`OBJECTIVES`; ``n_draws``: outcome draws per candidate
    (``None``: 100, or ``n_bootstrap`` when smaller); ``lasts``: rank and buy first the runs
    with ``p_final >= lasts`` (module docstring; 0, the default: the plain rule); ``model``:
    the column naming each
    size (``None``: ``model`` when the data have it, else sizes told apart by
    ``x / samples``).
    Everything is checked before anything is fitted; deterministic for a given
    ``random_state``.
    """
    if isinstance(data, FitResult):
        if options is not None or option_values:
            raise UsageError("next: a FitResult is used as it was fitted; give no fit options "
                             "with it")
        if where:
            raise UsageError("where: a FitResult is used as it was fitted; filter before "
                             "fitting")
        res = data
        options = res.options
        by_cols = list(res.by)
        if by is not None and list([by] if isinstance(by, str) else by) != by_cols:
            raise UsageError(f"by: the FitResult was fitted by {by_cols}")
        at_values, budget, n_draws = check_next_options(
            options, objective=objective, at=at, budget=budget, n_draws=n_draws,
            lasts=lasts)
        frame = pd.concat([g.data for g in res.groups], ignore_index=True)
        if maximize is not None and check_flag(maximize, "maximize") != res.maximize:
            raise UsageError(f"maximize: the FitResult was fitted with maximize="
                             f"{res.maximize}; give none with it")
        x, y, maximize = res.x, res.y, res.maximize
    else:
        maximize = False if maximize is None else maximize
        options = fit_options(options, **option_values)
        if not by:
            raise UsageError("by: next needs the column(s) whose groups are compared")
        by_cols = [by] if isinstance(by, str) else list(by)
        at_values, budget, n_draws = check_next_options(
            options, objective=objective, at=at, budget=budget, n_draws=n_draws,
            lasts=lasts)
        frame = as_frame(data)
        res = None
    # the data's own columns, the candidates and the budget: before anything is fitted
    prepared = prepare_measurements(frame, x, y, x2=samples, by=by_cols, where=where,
                                    maximize=maximize, x2_name="samples")
    if candidates is None:
        cand = default_candidates(prepared, x=x, by=by_cols, samples=samples, model=model)
        if cand.empty:
            raise DataError("candidates: the measured runs give no next rung")
    else:
        cand = check_candidates(candidates, by=by_cols, samples=samples, model=model)
    keys = {tuple(_key_text(v) for v in k) if isinstance(k, tuple) else (_key_text(k),)
            for k in prepared.groupby(by_cols, sort=True).groups}
    if len(keys) < 2:
        raise DataError(f"by: next compares groups and needs at least 2, got {len(keys)}; "
                        "check `by` and `where`")
    cand_keys = [tuple(_key_text(v) for v in row)
                 for row in cand[by_cols].itertuples(index=False)]
    unknown = sorted({k for k in cand_keys if k not in keys})
    if unknown:
        raise DataError(f"candidates: group {', '.join('/'.join(k) for k in unknown[:3])} "
                        f"has no measurements (groups: "
                        f"{', '.join('/'.join(k) for k in sorted(keys))})")
    if budget is not None and budget < float(cand["compute"].min()):
        raise UsageError(f"budget ({budget:.4g} GFLOPs) is below the cheapest candidate "
                         f"({float(cand['compute'].min()):.4g} GFLOPs)")
    if res is None:
        check_bootstrap_memory(options.n_bootstrap, len(prepared), compare=True)
        res = fit_frame(prepared, x=x, y=y, by=by_cols, x2=None, where=None,
                        maximize=maximize, predict_at=None, predict_at2=None,
                        options=options)
    groups = list(res.groups)
    if len(groups) < 2:
        raise DataError(f"by: next compares groups and needs at least 2 fitted, got "
                        f"{len(groups)}")
    index = {tuple(_key_text(v) for v in g.key.values()): i for i, g in enumerate(groups)}
    skipped = sorted({k for k in cand_keys if k not in index})
    if skipped:
        raise DataError(f"candidates: group {'/'.join(skipped[0])} could not be fitted "
                        "(see the warnings)")
    group_of = np.array([index[k] for k in cand_keys], dtype=int)
    return _rank(res, groups, cand, group_of, np.asarray(at_values, float), objective,
                 options.level, int(n_draws), budget, options.random_state, samples, model,
                 float(lasts))


def _rank(res: FitResult, groups: list[GroupFit], cand: pd.DataFrame, group_of: np.ndarray,
          at: np.ndarray, objective: str, level: float, n_draws: int, budget: float | None,
          seed: int | None, samples: str, model: str | None, lasts: float) -> NextResult:
    rng = np.random.default_rng(seed)
    R = min(g.n_replicates for g in groups)
    for g in groups:
        if samples not in g.data.columns:
            raise DataError(f"samples: no column '{samples}' in group {label_of(g.key)}")
    grp = [_Group(i, g, R, at, samples, np.random.default_rng(rng.integers(2**32)), level)
           for i, g in enumerate(groups)]
    sim = _Simulation(grp, cand, group_of, at, objective, level, n_draws, rng)
    now = sim.now
    w0 = float(np.mean(now["width"]))
    rows = []
    for k in range(len(cand)):
        ev = sim.evaluate([k])
        w = ev["width"]
        g = grp[group_of[k]]
        pred_err = float(g.g.predict_error([sim.c[k]])[0] * np.exp(sim.gamma[k]))
        rows.append({
            "group": dict(groups[group_of[k]].key),
            "model": str(cand["model"].iloc[k]),
            "samples": float(sim.d[k]),
            "gflops_per_sample": float(cand["gflops_per_sample"].iloc[k]),
            "compute": float(sim.c[k]),
            "source": str(cand["source"].iloc[k]),
            "predicted": float(g.to_metric(np.array([pred_err]))[0]),
            "p_frontier": float(ev["entered"][0].mean()),
            "p_final": float(sim.p_final[k]),
            "lasts": bool(sim.p_final[k] >= lasts),
            "expected_width": float(np.mean(w)),
            "width_se": float(np.std(w - now["width"], ddof=1) / math.sqrt(len(w))),
            "gain": w0 - float(np.mean(w)),
            "gain_per_gflop": (w0 - float(np.mean(w))) / float(sim.c[k]),
            "p_verdict_change": float(sim.changed(ev).mean()),
            "ess": sim.ess(ev, int(group_of[k])),
            "_k": k,
        })
    order = sorted(range(len(rows)), key=lambda i: (not rows[i]["lasts"],
                                                   -rows[i]["gain_per_gflop"],
                                                   rows[i]["compute"], i))
    ranked = []
    for r, i in enumerate(order, start=1):
        row = {"rank": r, **rows[i]}
        ranked.append(row)
    batch, summary = _greedy(sim, ranked, w0, budget, lasts > 0)
    current = _current(sim, groups, objective, w0)
    for row in ranked:
        row.pop("_k")
    return NextResult(
        fit=res, objective=objective, at=tuple(float(v) for v in at), level=level,
        n_draws=sim.M, budget=budget, unit=UNITS[objective], current=current,
        candidates=tuple(ranked), batch=tuple(batch), batch_summary=summary,
        gap_models=tuple(g.summary() for g in grp), samples=samples,
        model=model or "model", lasts=lasts,
    )


def _greedy_pass(sim: _Simulation, rows: dict[int, dict], w0: float, budget: float,
                 per_gflop: bool) -> tuple[list[tuple[int, float, float]], dict, float, float]:
    """One greedy pass under ``budget`` over the runs ``rows``: each pick maximises the
    batch's expected gain ``W(batch) - W(batch + run)``, per GFLOP (``per_gflop``) or in
    all, among the runs the remaining budget affords, valued given the runs picked before
    it; stops when none is affordable or none helps. Lazy evaluations (CELF): a run's score
    from an earlier round bounds its score now (a run tells less once others are bought),
    so only runs whose bound beats the best fresh score are re-evaluated. Returns the picks
    ``(run, width after, score)``, the last evaluation, its width and the compute spent."""
    import heapq

    chosen: list[tuple[int, float, float]] = []
    spent, w_batch, ev_batch = 0.0, w0, sim.now

    def score(gain: float, k: int) -> float:
        return gain / rows[k]["compute"] if per_gflop else gain

    heap = [(-score(rows[k]["gain"], k), k) for k in rows]  # the bounds: gains alone
    heapq.heapify(heap)
    fresh: dict[int, tuple[float, dict, float]] = {}
    while heap:
        members = [k for k, _, _ in chosen]
        best = None
        stale: list[tuple[float, int]] = []
        while heap:
            neg, k = heapq.heappop(heap)
            if spent + rows[k]["compute"] > budget * (1 + 1e-12):
                continue  # never affordable again: the budget only shrinks
            if best is not None and -neg <= best[0]:
                stale.append((neg, k))
                break
            if k not in fresh:
                ev = sim.evaluate([*members, k])
                w = float(np.mean(ev["width"]))
                fresh[k] = (score(w_batch - w, k), ev, w)
            sc = fresh[k][0]
            if best is None or sc > best[0]:
                if best is not None:
                    stale.append((-best[0], best[1]))
                best = (sc, k)
            else:
                stale.append((-sc, k))
        for item in stale:
            heapq.heappush(heap, item)
        if best is None or best[0] <= 0:
            break
        sc, k = best
        _, ev_batch, w_batch = fresh[k]
        heap = [(neg, kk) for neg, kk in heap if kk != k]
        heapq.heapify(heap)
        # scores of this round bound those of the next: kept as bounds, not as fresh
        heap = [(-fresh[kk][0], kk) if kk in fresh else (neg, kk) for neg, kk in heap]
        heapq.heapify(heap)
        fresh = {}
        chosen.append((k, w_batch, sc))
        spent += rows[k]["compute"]
    return chosen, ev_batch, w_batch, spent


def _greedy(sim: _Simulation, ranked: list[dict], w0: float, budget: float | None,
            some_last: bool) -> tuple[list[dict], dict]:
    """The batch under ``budget``: the better (lower expected width) of two greedy passes
    over the runs that last, one by gain per GFLOP, one by gain (cost-effective lazy forward
    selection, Leskovec et al. 2007: either alone can be far from the best batch under a
    budget; the better of the two is within a constant factor of it); where none that
    lasts helps, the affordable run of the highest gain per GFLOP alone. Without a budget,
    the best-ranked run that helps alone."""
    rows = {row["_k"]: row for row in ranked}
    rule = None
    chosen, ev_batch, w_batch, spent = [], sim.now, w0, 0.0

    def alone(row: dict) -> tuple[list[tuple[int, float, float]], dict, float, float]:
        ev = sim.evaluate([row["_k"]])
        w = float(np.mean(ev["width"]))
        return [(row["_k"], w, row["gain_per_gflop"])], ev, w, row["compute"]

    if budget is None:
        top = next((r for r in ranked if r["gain"] > 0), None)
        if top is not None:
            chosen, ev_batch, w_batch, spent = alone(top)
            rule = "best candidate"
    else:
        last = {k: r for k, r in rows.items() if r["lasts"]}
        if last:
            a = _greedy_pass(sim, last, w0, budget, per_gflop=True)
            b = _greedy_pass(sim, last, w0, budget, per_gflop=False)
            pick_b = b[2] < a[2] - 1e-12
            chosen, ev_batch, w_batch, spent = b if pick_b else a
            rule = ("gain" if pick_b else "gain per GFLOP") + (", runs that last"
                                                              if some_last else "")
        if not chosen:  # none that lasts helps: the best affordable run alone
            top = min((r for r in ranked
                       if r["gain"] > 0 and r["compute"] <= budget * (1 + 1e-12)),
                      key=lambda r: (-r["gain_per_gflop"], r["compute"]), default=None)
            if top is not None:
                chosen, ev_batch, w_batch, spent = alone(top)
                rule = "best affordable run (none that lasts helps)"
        # the per-GFLOP score of each pick, whichever pass chose it
        w_prev = w0
        scored = []
        for k, w, _ in chosen:
            scored.append((k, w, (w_prev - w) / rows[k]["compute"]))
            w_prev = w
        chosen = scored
    picks = [{**{kk: v for kk, v in rows[k].items() if kk != "_k"}, "step": n,
              "batch_width": w, "batch_gain_per_gflop": g}
             for n, (k, w, g) in enumerate(chosen, start=1)]
    summary = {
        "budget": budget,
        "rule": rule,
        "compute": spent,
        "n_runs": len(picks),
        "expected_width": w_batch,
        "width_now": w0,
        "p_verdict_change": float(sim.changed(ev_batch).mean()) if picks else 0.0,
    }
    return picks, summary


def _current(sim: _Simulation, groups: list[GroupFit], objective: str, w0: float) -> dict:
    """Today's width (mean over the draws' leave-one-out posteriors), its terms, and the
    verdict at every ``at`` of every pair."""
    terms = []
    for t in sim.now["terms"]:
        i, j = t["index"], t["at"]
        if objective in ("difference", "multiplier"):
            a, b = sim.pairs[i]
            who = {"a": dict(groups[a].key), "b": dict(groups[b].key)}
        else:
            who = {"group": dict(groups[i].key)}
        lo, hi = float(np.mean(t["lo"])), float(np.mean(t["hi"]))
        terms.append({**who, "at": float(sim.at[j]), "lo": lo, "hi": hi, "width": hi - lo})
    verdicts = []
    for i, (a, b) in enumerate(sim.pairs):
        for j in range(len(sim.at)):
            p = float(np.mean(sim.now["p_better"][i, j]))
            v = int(sim.now["verdict"][i, j, 0])
            verdicts.append({"a": dict(groups[a].key), "b": dict(groups[b].key),
                             "at": float(sim.at[j]), "p_a_better": p,
                             "better": dict(groups[a].key) if v > 0 else (
                                 dict(groups[b].key) if v < 0 else None)})
    return {"width": w0, "terms": terms, "verdicts": verdicts}
