"""The cross-family benchmark's methods: scalecmp's candidate defaults and the baselines
(``pf_log``, the study's recipe on scalecmp's optimiser, its exact ``curve_fit``, M4); each
maps a list of tasks to one :data:`corpus_tasks.Prediction` per task."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

import scalecmp
from corpus_tasks import LEVEL, Prediction, Task
from scalecmp.engine.frontier import naive_frontier
from scalecmp.engine.options import AUTO_CANDIDATES, Candidate
from scalecmp.engine.recipes import STUDY_ALPHAS, STUDY_ES, fit_exact


def _nan(t: Task) -> Prediction:
    n = np.full(len(t.test_x), np.nan)
    return n, n.copy(), n.copy()


def experiments(task_list: list[Task]) -> Iterator[tuple[str, bool, list[Task], pd.DataFrame]]:
    """The calls a user would make: the tasks of one family, kind and cut, grouped by task
    (``task``: its key), as one frame; ``(family, bounded, tasks, frame)`` each. Bounded
    tasks as accuracy (``1 - y``, fitted with ``maximize``), the others as they are."""
    calls = sorted({(t.family, t.bounded, t.kind, f"{t.cut:.4g}") for t in task_list})
    for call in calls:
        sub = [t for t in task_list if (t.family, t.bounded, t.kind, f"{t.cut:.4g}") == call]
        family, bounded = call[0], call[1]
        frame = pd.concat([
            pd.DataFrame({"task": t.key, "x": t.x_train,
                          "y": (1.0 - t.y_train) if bounded else t.y_train})
            for t in sub], ignore_index=True)
        yield family, bounded, sub, frame


def scalecmp_method(**fields) -> Callable[[list[Task]], list[Prediction]]:
    """``scalecmp.fit`` with ``fields``, one call per experiment (:func:`experiments`: the
    series a user fits together, which ``pooling`` pools); with ``pooling="corpus"`` the
    prior is learnt without the experiment's family (``corpus_exclude``), as the protocol
    asks."""

    def run(task_list: list[Task]) -> list[Prediction]:
        out: dict[str, Prediction] = {}
        for family, bounded, sub, frame in experiments(task_list):
            call = dict(fields)
            if call.get("pooling") == "corpus":
                call["corpus_exclude"] = (family,)
            fits = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = scalecmp.fit(frame, x="x", y="y", by="task", maximize=bounded,
                                       **call)
                    fits = {g.key["task"]: g for g in res.groups}
                except scalecmp.DataError:
                    # a pinned law refuses the whole call when one group has too few
                    # frontier points: fit the tasks one by one, those fail alone
                    for t in sub:
                        try:
                            r = scalecmp.fit(frame[frame.task == t.key], x="x", y="y",
                                             maximize=bounded, **call)
                        except scalecmp.DataError:
                            continue
                        fits[t.key] = r.groups[0]
            for t in sub:
                g = fits.get(t.key)
                if g is None:
                    continue
                try:
                    p = np.asarray(g.predict(t.test_x), float)
                    lo, hi = (np.asarray(v, float) for v in g.interval(t.test_x, LEVEL))
                except Exception:  # noqa: BLE001 - a failure is a result
                    continue
                if bounded:
                    p, lo, hi = 1.0 - p, 1.0 - hi, 1.0 - lo
                out[t.key] = (p, lo, hi)
        return [out.get(t.key, _nan(t)) for t in task_list]

    return run


def _pf_fit(x: np.ndarray, y: np.ndarray, x0: float,
            starts: list[np.ndarray] | None = None) -> np.ndarray | None:
    """y = exp(la) (x / x0)^-b + c by least squares of log y; theta = (la, b, c); analytic
    Jacobian; ``starts`` default: floors at 0, 50% and 90% of the smallest y."""
    ly = np.log(y)
    u = np.log(x / x0)
    ymin = float(y.min())

    def resid(th):
        return np.log(np.exp(th[0] - th[1] * u) + th[2]) - ly

    def jac(th):
        p = np.exp(th[0] - th[1] * u)
        q = p + th[2]
        return np.column_stack([p / q, -u * p / q, 1.0 / q])

    if starts is None:
        starts = [np.array([np.log(max(y.max() - f * ymin, 1e-12)), 0.3, f * ymin])
                  for f in (0.0, 0.5, 0.9)]
    best = None
    for th0 in starts:
        th0 = np.array([th0[0], np.clip(th0[1], 0.0, 5.0), np.clip(th0[2], 0.0, ymin)])
        try:
            r = least_squares(resid, th0, jac=jac,
                              bounds=([-np.inf, 0.0, 0.0], [np.inf, 5.0, ymin]))
        except ValueError:
            continue
        if best is None or r.cost < best.cost:
            best = r
    return None if best is None else best.x


def pf_log(task_list: list[Task], n_boot: int = 200, seed: int = 0) -> list[Prediction]:
    """Baseline: 3-parameter power + floor in log space, pairs bootstrap (each replicate
    started from the full-data fit)."""
    out = []
    for t in task_list:
        x0 = t.x_train.min()
        th = _pf_fit(t.x_train, t.y_train, x0)
        if th is None:
            out.append(_nan(t))
            continue

        def f(th, xs, x0=x0):
            return np.exp(th[0] - th[1] * np.log(xs / x0)) + th[2]

        rng = np.random.default_rng(seed)
        n = len(t.x_train)
        reps = []
        for _ in range(n_boot):
            i = rng.integers(0, n, n)
            if len(np.unique(t.x_train[i])) < 3:
                continue
            tb = _pf_fit(t.x_train[i], t.y_train[i], x0, starts=[th])
            if tb is not None:
                reps.append(f(tb, t.test_x))
        p = f(th, t.test_x)
        if len(reps) < 20:
            out.append((p, np.full_like(p, np.nan), np.full_like(p, np.nan)))
            continue
        r = np.array(reps)
        out.append((p, np.quantile(r, 0.025, axis=0), np.quantile(r, 0.975, axis=0)))
    return out


def _m4_predict(th: np.ndarray, y0: float, x: np.ndarray, x0: float) -> np.ndarray:
    """Solve (y - yi) / (y0 - y)^a = b (x/x0)^c for y in (yi, y0) by bisection."""
    yi, a, lb, c = th
    rhs = np.exp(lb + c * np.log(x / x0))
    lo = np.full_like(x, yi)
    hi = np.full_like(x, y0)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        g = (mid - yi) - rhs * (y0 - mid) ** a
        hi = np.where(g > 0, mid, hi)
        lo = np.where(g > 0, lo, mid)
    return 0.5 * (lo + hi)


def m4(task_list: list[Task]) -> list[Prediction]:
    """Baseline on learning curves: the M4 estimator (no interval)."""
    out = []
    for t in task_list:
        x0 = t.x_train.min()
        y0 = max(t.y_train.max(), t.y_train[0]) * (1 + 1e-6)
        ly = np.log(t.y_train)

        def resid(th, y0=y0, xt=t.x_train, x0=x0, ly=ly):
            return np.log(_m4_predict(th, y0, xt, x0)) - ly

        best = None
        for a0 in (0.5, 1.0, 2.0):
            for c0 in (-0.5, -0.2):
                th0 = np.array([0.5 * t.y_train.min(), a0, 0.0, -c0])
                try:
                    r = least_squares(resid, th0,
                                      bounds=([0.0, 0.0, -30.0, 0.0],
                                              [t.y_train.min(), 5.0, 30.0, 5.0]))
                except ValueError:
                    continue
                if best is None or r.cost < best.cost:
                    best = r
        if best is None:
            out.append(_nan(t))
            continue
        p = _m4_predict(best.x, y0, t.test_x, x0)
        out.append((p, np.full_like(p, np.nan), np.full_like(p, np.nan)))
    return out


#: 96 starts of the study's grid (A in {1, 10, 50}, B in {0, 50}, its alphas and floors)
EXACT_STARTS = np.array([(a, b, al, e) for a in (1.0, 10.0, 50.0) for b in (0.0, 50.0)
                         for al in STUDY_ALPHAS for e in STUDY_ES])


def recipe_exact(task_list: list[Task]) -> list[Prediction]:
    """The study's ``curve_fit`` through the non-dominated training points from
    :data:`EXACT_STARTS` (no interval): the recipe as the study ran it, any point count."""
    out = []
    for t in task_list:
        front = naive_frontier(t.x_train, t.y_train)
        p = fit_exact(t.x_train[front], t.y_train[front], starts=EXACT_STARTS)
        if p is None:
            out.append(_nan(t))
            continue
        a, b, alpha, e = p
        pred = a * (t.test_x + b) ** alpha + e
        nan = np.full(len(pred), np.nan)
        out.append((pred, nan, nan.copy()))
    return out


#: the study's recipe (the ``laion2025`` preset) on scalecmp's optimiser from its start grid
RECIPE = {"law": "saturating", "loss": "ls", "weighting": "none", "frontier": "binned",
          "frontier_bins": "study", "starts": "laion2025", "min_slope_ratio": 0.0,
          "range_prior": False}

def _with(**changes: dict) -> tuple[Candidate, ...]:
    """``AUTO_CANDIDATES`` with some candidates' fields changed (name -> fields)."""
    return tuple(replace(c, **changes.get(c.name, {})) for c in AUTO_CANDIDATES)


#: scalecmp candidates for its defaults (chosen among by leave-one-family-out)
CANDIDATES: dict[str, dict] = {
    "auto": {},
    "auto_unweighted": {"weighting": "none"},
    "power_floor": {"law": "power_floor"},
    "power_floor_unweighted": {"law": "power_floor", "weighting": "none"},
    "saturating": {"law": "saturating"},
    # the binned frontier's bins per doubling of compute (auto's own default: 8)
    "auto_bins1": {"frontier_bins": 1.0},
    "auto_bins2": {"frontier_bins": 2.0},
    "auto_bins4": {"frontier_bins": 4.0},
    # the series of one experiment pooled (issue 17, item 3)
    "auto_pooled": {"pooling": "series"},
    # the corpus prior, learnt without the family (scalecmp_method sees to it)
    "auto_corpus": {"pooling": "corpus"},
    # broken_power (6 parameters) only on series with at least this many frontier points
    # (auto's own default: 7, one degree of freedom; issue 17, item 5)
    "auto_bp10": {"candidates": _with(broken_power={"min_points": 10})},
    "auto_bp14": {"candidates": _with(broken_power={"min_points": 14})},
    # how the mixture weighs its candidates (auto's own default: inverse_mse)
    "auto_stacking": {"mixture": "stacking"},
    "auto_best": {"mixture": "best"},
    "auto_uniform": {"mixture": "uniform"},
}


#: the pools of a series with 4 frontier points, chosen among with ``--sparse``
SPARSE_CANDIDATES: dict[str, dict] = {
    # today's default: the recipe through 4 points beside power_floor (power: tier 2)
    "auto": {},
    # before: the unbent laws only (the recipe needs 5 points; power beside power_floor)
    "auto_unbent": {"candidates": _with(recipe={"min_points": None}, power={"tier": 1})},
    # the recipe through 4 points beside both unbent laws
    "auto_recipe4_power": {"candidates": _with(power={"tier": 1})},
    # today's pool, the series of a family pooled (issue 17, item 3)
    "auto_pooled": {"pooling": "series"},
    "auto_corpus": {"pooling": "corpus"},  # learnt without the family
}


def methods(n_bootstrap: int, sparse: bool = False
            ) -> dict[str, Callable[[list[Task]], list[Prediction]]]:
    if sparse:
        m = {"pf_log": pf_log, "recipe_exact": recipe_exact}
        for name, fields in SPARSE_CANDIDATES.items():
            m[name] = scalecmp_method(n_bootstrap=n_bootstrap, **fields)
        return m
    m = {"pf_log": pf_log,
         "recipe": scalecmp_method(n_bootstrap=n_bootstrap, **RECIPE),
         "m4": m4}
    for name, fields in CANDIDATES.items():
        m[name] = scalecmp_method(n_bootstrap=n_bootstrap, **fields)
    return m

