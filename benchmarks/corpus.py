"""The cross-family benchmark (issue 17): every real family of the development corpus, cut by
fixed rules, fitted by scalecmp's candidate defaults and by two baselines, with every
default chosen by leave-one-family-out.

Families (all of ``../shared/data/families`` plus ``../shared/data/laion2025``):

* ``m4_lang``: 20 learning curves, the source's own fit/extrapolate split (``is_train``);
* ``misfitting``: the frontier of all 261 final runs pooled (one series), and the 11
  per-size series of best-learning-rate runs;
* ``misfitting_ckpt``: 240 per-run learning curves (checkpoints of a decaying schedule);
* ``pythia``: the frontier of every (task, metric, deduped) over 7-8 sizes, x = 6ND, and
  the 135 per-model learning curves, x = tokens;
* ``obsscaling``: the frontier of every task across 39 model families, and the per-family
  series (1-10 models each: sparse);
* ``laion2025``: the study's DataComp ImageNet series and every segmentation run (the tasks
  of benchmarks/families.py, cuts 1e11 and 3e10 GFLOPs).

Cut rule (fixed before any fit, the same for every family but ``m4_lang`` and
``laion2025``, which keep their own): a series *qualifies* at a cut when it has >= 2
non-dominated points above the cut and >= 1.5 decades of x (and >= 4 points) at or below it.
Per family and kind, the cuts are the two largest powers of ten at which >= 90% of the
series qualify (when no power of ten reaches 90%: the one where most do, and the next
lower one). Where the series do not share an x range (fewer than half qualify at every
power of ten: per-run learning curves of different sizes), each series is cut on its own,
2/3 of its log-x span below, 1/3 above, keeping those with >= 4 points below and >= 2
non-dominated points above. Held out: the non-dominated points of the whole series above
the cut (lower y than every cheaper point). A metric that is an error rate (``y_kind ==
"error"``, and the study's accuracies) is fitted as the user would: its accuracy, with
``maximize``.

Scores per family (on the held-out points; y is always lower-is-better here): MAE in y's
units, relative MAE (mean ``|pred - y| / y``), coverage of the 95% intervals, median
interval width, interval score (Gneiting and Raftery 2007: ``hi - lo + 40 (lo - y)^+ + 40
(y - hi)^+``; lower is better) and its relative form (divided by y). Methods:

* ``pf_log`` (baseline): ``y = a x^-b + c`` (3 parameters), least squares of log y, 95%
  interval from a pairs bootstrap (200 replicates);
* ``recipe`` (baseline): the study's recipe, the ``laion2025`` preset's law, loss,
  weighting, frontier, priors and start grid (:data:`RECIPE`), on scalecmp's optimiser
  instead of 3,200 ``curve_fit`` runs per replicate, which take minutes a series;
* ``m4`` (baseline on learning curves, Alabdulmohsin et al. 2022): ``(y - y_inf) / (y0 -
  y)^a = b x^c`` with ``y0`` the first training point, least squares of log y;
* candidates of scalecmp's default (:data:`CANDIDATES`).

Leave-one-family-out: for each family F, the candidate with the smallest geometric mean over
the *other* families of its relative MAE divided by the better baseline's is the choice made
without F, and is reported on F.

``--sparse``: every task thinned to a sparse series, as an earlier open CLIP study measured
them (6 runs a series, 4 on the frontier): of the task's training points, the 4 frontier
points at evenly spaced ranks of the frontier (first and last included) and 2 dominated
points drawn at random (seed 0 per family), same held-out points; tasks whose training
frontier has fewer than 5 points are left out. Its second baseline is ``recipe_exact``:
the study's ``curve_fit`` of ``A (x + B)^alpha + E`` through the frontier points from 96
starts of its grid (point predictions only), since the ``recipe`` preset needs 5 points.
Its candidates (:data:`SPARSE_CANDIDATES`) differ in the pool of a 4-point series.

    .venv/bin/python benchmarks/corpus.py [--families a,b] [--methods a,b] [--sparse]
        [--n-bootstrap 200] [--out corpus_results.parquet] [--max-series 60]
    .venv/bin/python benchmarks/corpus.py --report corpus_results.parquet [--sparse]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent))

import families as laion  # noqa: E402
import scalecmp  # noqa: E402
from scalecmp.engine.frontier import naive_frontier  # noqa: E402
from scalecmp.engine.options import AUTO_CANDIDATES, Candidate  # noqa: E402
from scalecmp.engine.recipes import STUDY_ALPHAS, STUDY_ES, fit_exact  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPUS = SHARED / "families"
FAMILIES = ("m4_lang", "misfitting", "misfitting_ckpt", "pythia", "obsscaling", "laion2025")
LEVEL = 0.95
MIN_DECADES_BELOW = 1.5
MIN_POINTS_BELOW = 4
MIN_ABOVE = 2
QUALIFY_SHARE = 0.9
BASELINES = ("pf_log", "recipe")
SPARSE_BASELINES = ("pf_log", "recipe_exact")


@dataclass(frozen=True)
class Task:
    """Fit on (x_train, y_train), predict (test_x, test_y); y lower is better.
    ``bounded``: y is an error rate in [0, 1] (fitted as accuracy 1 - y with maximize)."""

    family: str
    kind: str
    series: str
    cut: float
    bounded: bool
    x_train: np.ndarray
    y_train: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.family}|{self.kind}|{self.series}|{self.cut:.4g}"


# ---------------------------------------------------------------------------------------
# tasks


def _held_out(x: np.ndarray, y: np.ndarray, cut: float) -> tuple[np.ndarray, np.ndarray]:
    front = naive_frontier(x, y) & (x > cut)
    order = np.argsort(x[front], kind="stable")
    return x[front][order], y[front][order]


def _split(x: np.ndarray, y: np.ndarray, cut: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The held-out points of a series that qualifies at ``cut`` (module docstring), else
    None."""
    below = x <= cut
    if below.sum() < MIN_POINTS_BELOW or np.log10(cut / x[below].min()) < MIN_DECADES_BELOW:
        return None
    tx, ty = _held_out(x, y, cut)
    return (tx, ty) if len(tx) >= MIN_ABOVE else None


def choose_cuts(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[tuple[float, float]]:
    """The two largest powers of ten at which >= 90% of ``series`` qualify (see the module
    docstring); when none reaches 90%, the best-qualifying one and the next lower. Each
    with the share of the series that qualify there."""
    lo = min(np.log10(x.min()) for x, _ in series.values())
    hi = max(np.log10(x.max()) for x, _ in series.values())
    cuts = [10.0 ** k for k in range(int(np.ceil(lo)), int(np.floor(hi)) + 1)]
    share = np.array([np.mean([_split(x, y, c) is not None for x, y in series.values()])
                      for c in cuts])
    if not len(cuts) or share.max() == 0:
        return []
    ok = np.flatnonzero(share >= QUALIFY_SHARE)
    top = int(ok[-1]) if len(ok) else int(np.argmax(share))
    return [(cuts[i], float(share[i])) for i in (top, top - 1) if i >= 0 and share[i] > 0]


def _relative_cut(x: np.ndarray) -> float:
    """The series' own cut: 2/3 of its log-x span below, 1/3 above."""
    lo, hi = np.log10(x.min()), np.log10(x.max())
    return float(10.0 ** (lo + (2.0 / 3.0) * (hi - lo)))


def _cut_family(family: str, kind: str, series: dict, bounded: dict) -> list[Task]:
    out = []
    cuts = choose_cuts(series)
    if max((share for _, share in cuts), default=0.0) < 0.5:
        # the series do not share an x range: each is cut on its own
        for name, (x, y) in series.items():
            cut = _relative_cut(x)
            tx, ty = _held_out(x, y, cut)
            below = x <= cut
            if below.sum() >= MIN_POINTS_BELOW and len(tx) >= MIN_ABOVE:
                out.append(Task(family, kind, name, np.nan, bounded[name], x[below],
                                y[below], tx, ty))
        return out
    for cut, _ in cuts:
        for name, (x, y) in series.items():
            held = _split(x, y, cut)
            if held is None:
                continue
            below = x <= cut
            out.append(Task(family, kind, name, cut, bounded[name], x[below], y[below], *held))
    return out


def _series(d: pd.DataFrame, by: list[str], x: str = "x") -> tuple[dict, dict]:
    series, bounded = {}, {}
    for key, g in d.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        name = "/".join(map(str, key))
        g = g[np.isfinite(g[x]) & np.isfinite(g["y"]) & (g[x] > 0) & (g["y"] > 0)]
        if len(g) < 3:
            continue
        series[name] = (g[x].to_numpy(float), g["y"].to_numpy(float))
        bounded[name] = bool((g["y_kind"] == "error").all() and g["y"].max() <= 1.0)
    return series, bounded


def tasks(family: str, max_series: int | None = None) -> list[Task]:
    """Every task of ``family``; ``max_series`` keeps an evenly spaced subset of the series
    of each kind (for quick runs; None: all)."""

    def thin(s: dict, b: dict) -> tuple[dict, dict]:
        if max_series is None or len(s) <= max_series:
            return s, b
        keep = [sorted(s)[i] for i in np.linspace(0, len(s) - 1, max_series).round().astype(int)]
        return {k: s[k] for k in keep}, {k: b[k] for k in keep}

    if family == "laion2025":
        out = []
        for fam in ("datacomp", "segmentation"):
            for t in laion.tasks(fam):
                out.append(Task("laion2025", fam, t.series, t.cut, True,
                                t.train["x"].to_numpy(float), 1.0 - t.train["y"].to_numpy(float),
                                np.asarray(t.test_x, float), 1.0 - np.asarray(t.test_y, float)))
        return out
    d = pd.read_csv(CORPUS / f"{family}.csv")
    if family == "m4_lang":
        out = []
        for name, g in d.groupby("series", sort=True):
            tr, te = g[g.is_train == 1], g[g.is_train == 0]
            bounded = bool((g.y_kind == "error").all() and g.y.max() <= 1.0)
            out.append(Task(family, "curve", name, float(tr.x.max()), bounded,
                            tr.x.to_numpy(float), tr.y.to_numpy(float),
                            te.x.to_numpy(float), te.y.to_numpy(float)))
        return out
    parts: list[tuple[str, tuple[dict, dict]]] = []
    if family == "misfitting":
        parts.append(("frontier", _series(d.assign(all="all"), ["all"])))
        parts.append(("size", _series(d[d.best_lr == 1], ["series"])))
    elif family == "misfitting_ckpt":
        parts.append(("curve", _series(d, ["series"])))
    elif family == "pythia":
        f = d.assign(x=d.flops_6ND_nominal)
        parts.append(("frontier", _series(f, ["task", "metric", "deduped"])))
        parts.append(("curve", _series(d, ["series"])))
    elif family == "obsscaling":
        parts.append(("frontier", _series(d, ["task"])))
        parts.append(("family", _series(d, ["series"])))
    else:
        raise ValueError(f"unknown family {family!r}")
    out = []
    for kind, (s, b) in parts:
        out += _cut_family(family, kind, *thin(s, b))
    return out


def sparse_tasks(family: str, max_series: int | None = None) -> list[Task]:
    """The tasks of ``family`` thinned to 4 frontier points and 2 dominated ones (module
    docstring, ``--sparse``)."""
    rng = np.random.default_rng(0)
    out = []
    for t in tasks(family, max_series):
        x, y = t.x_train, t.y_train
        front = np.flatnonzero(naive_frontier(x, y))
        front = front[np.argsort(x[front], kind="stable")]
        if len(front) < 5:
            continue
        pick = front[np.unique(np.round(np.linspace(0, len(front) - 1, 4)).astype(int))]
        off = np.setdiff1d(np.arange(len(x)), front)
        if len(off):
            pick = np.r_[pick, rng.choice(off, min(2, len(off)), replace=False)]
        out.append(Task(t.family, f"sparse_{t.kind}", t.series, t.cut, t.bounded, x[pick],
                        y[pick], t.test_x, t.test_y))
    return out


# ---------------------------------------------------------------------------------------
# methods: each maps a list of tasks to (pred, lo, hi) arrays per task (NaN: failed)

Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]


def _nan(t: Task) -> Prediction:
    n = np.full(len(t.test_x), np.nan)
    return n, n.copy(), n.copy()


def scalecmp_method(**fields) -> Callable[[list[Task]], list[Prediction]]:
    """``scalecmp.fit`` with ``fields`` over all tasks at once (grouped by task); bounded
    tasks as accuracy with ``maximize``, the others as lower-is-better."""

    def run(task_list: list[Task]) -> list[Prediction]:
        out: dict[str, Prediction] = {}
        for bounded in (False, True):
            sub = [t for t in task_list if t.bounded == bounded]
            if not sub:
                continue
            frame = pd.concat([
                pd.DataFrame({"task": t.key, "x": t.x_train,
                              "y": (1.0 - t.y_train) if bounded else t.y_train})
                for t in sub], ignore_index=True)
            fits = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = scalecmp.fit(frame, x="x", y="y", by="task", maximize=bounded,
                                       **fields)
                    fits = {g.key["task"]: g for g in res.groups}
                except scalecmp.DataError:
                    # a pinned law refuses the whole call when one group has too few
                    # frontier points: fit the tasks one by one, those fail alone
                    for t in sub:
                        try:
                            r = scalecmp.fit(frame[frame.task == t.key], x="x", y="y",
                                             maximize=bounded, **fields)
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
}


def _with(**changes: dict) -> tuple[Candidate, ...]:
    """``AUTO_CANDIDATES`` with some candidates' fields changed (name -> fields)."""
    return tuple(replace(c, **changes.get(c.name, {})) for c in AUTO_CANDIDATES)


#: the pools of a series with 4 frontier points, chosen among with ``--sparse``
SPARSE_CANDIDATES: dict[str, dict] = {
    # today's default: the recipe through 4 points beside power_floor (power: tier 2)
    "auto": {},
    # before: the unbent laws only (the recipe needs 5 points; power beside power_floor)
    "auto_unbent": {"candidates": _with(recipe={"min_points": None}, power={"tier": 1})},
    # the recipe through 4 points beside both unbent laws
    "auto_recipe4_power": {"candidates": _with(power={"tier": 1})},
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


# ---------------------------------------------------------------------------------------
# scoring


def evaluate(name: str, task_list: list[Task], preds: list[Prediction]) -> pd.DataFrame:
    rows = []
    for t, (p, lo, hi) in zip(task_list, preds, strict=True):
        reach = np.log10(t.test_x / t.x_train.max())
        rows.append(pd.DataFrame({
            "method": name, "family": t.family, "kind": t.kind, "series": t.series,
            "cut": t.cut, "x": t.test_x, "reach": reach, "y": t.test_y,
            "pred": p, "lo": lo, "hi": hi}))
    df = pd.concat(rows, ignore_index=True)
    return df


def score(df: pd.DataFrame) -> pd.DataFrame:
    """Per (method, family): points, failed, mae, rel_mae, coverage, width, iscore,
    rel_iscore (see the module docstring), over the points ``pf_log`` predicted; a method's
    own failures (no prediction: the group was skipped or raised) are counted in
    ``failed`` and left out of its scores."""
    d = df.copy()
    d["ae"] = (d.pred - d.y).abs()
    d["rae"] = d.ae / d.y.abs()
    width = d.hi - d.lo
    miss = (d.lo - d.y).clip(lower=0) + (d.y - d.hi).clip(lower=0)
    d["width"] = width
    d["covered"] = (d.lo <= d.y) & (d.y <= d.hi)
    d["iscore"] = width + (2 / (1 - LEVEL)) * miss
    d["riscore"] = d.iscore / d.y.abs()
    d["ok"] = np.isfinite(d.pred)
    # the points scored: those the always-fitting baseline (pf_log) predicted
    key = ["family", "kind", "series", "cut", "x"]
    common = d[d.method == "pf_log"].set_index(key).ok.rename("common")
    d = d.join(common, on=key)
    d = d[d.common.fillna(False).astype(bool)]
    g = d[d.ok].groupby(["method", "family"])
    out = pd.DataFrame({
        "points": g.size(),
        "mae": g.ae.mean(),
        "rel_mae": g.rae.mean(),
        "coverage": g.covered.mean(),
        "width": g.width.median(),
        "iscore": g.iscore.mean(),
        "rel_iscore": g.riscore.mean(),
    })
    out["failed"] = d[~d.ok].groupby(["method", "family"]).size().reindex(out.index).fillna(0)
    return out


def paired_ratio(df: pd.DataFrame, method: str, family: str,
                 baselines: tuple[str, ...] = BASELINES) -> float:
    """Mean relative error of ``method`` over that of the better baseline on ``family``,
    both over the points that ``method`` and every baseline predicted (a baseline failing
    on more than a tenth of the family's points is left out; NaN when none is left)."""
    d = df[df.family == family].assign(cut=lambda v: v.cut.fillna(0.0))  # 0: own cut
    key = ["kind", "series", "cut", "x"]
    rel = d.assign(r=(d.pred - d.y).abs() / d.y.abs()).pivot_table(
        index=key, columns="method", values="r")
    if method not in rel:
        return float("nan")
    base = [b for b in baselines if b in rel and rel[b].notna().mean() >= 0.9]
    if not base:
        return float("nan")
    ok = rel[[method, *base]].notna().all(axis=1)
    if not ok.any():
        return float("nan")
    r = rel[ok]
    return float(r[method].mean() / min(r[b].mean() for b in base))


def lofo(df: pd.DataFrame, table: pd.DataFrame, candidates: list[str],
         baselines: tuple[str, ...] = BASELINES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For each family F: the candidate with the smallest geometric mean, over the other
    families, of its :func:`paired_ratio`; that choice's ratio and its scores on F (rows of
    ``table``, :func:`score` of ``df``). Also the ratios, family x candidate."""
    fams = sorted(df.family.unique())
    ratio = pd.DataFrame({c: [paired_ratio(df, c, f, baselines) for f in fams]
                          for c in candidates}, index=fams)
    rows = []
    for fam in fams:
        others = ratio.drop(index=fam)
        gm = np.exp(np.log(others).mean())
        if gm.isna().all():
            continue
        choice = gm.idxmin()
        row = table.loc[(choice, fam)].to_dict() if (choice, fam) in table.index else {}
        rows.append({"family": fam, "choice": choice,
                     "ratio_to_best_baseline": float(ratio.loc[fam, choice]), **row})
    return pd.DataFrame(rows).set_index("family"), ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--methods", default=None, help="comma-separated (default: all)")
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--max-series", type=int, default=60,
                    help="series per family and kind (evenly spaced; 0: all)")
    ap.add_argument("--out", default="corpus_results.parquet")
    ap.add_argument("--report", metavar="FILE")
    ap.add_argument("--merge", metavar="FILE",
                    help="an earlier results file: its rows of other (method, family) kept")
    ap.add_argument("--sparse", action="store_true",
                    help="the sparse protocol: every task thinned to 4 frontier points + 2")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    if args.report:
        report(pd.read_parquet(args.report), args.sparse)
        return
    all_methods = methods(args.n_bootstrap, args.sparse)
    make_tasks = sparse_tasks if args.sparse else tasks
    names = args.methods.split(",") if args.methods else list(all_methods)
    frames = []
    for fam in args.families.split(","):
        tl = make_tasks(fam, args.max_series or None)
        cuts = sorted({(t.kind, t.cut) for t in tl})
        print(f"{fam}: {len(tl)} tasks, {sum(len(t.test_x) for t in tl)} held-out points, "
              f"cuts {', '.join(f'{k} {c:.0e}' for k, c in cuts)}", flush=True)
        for name in names:
            sub = [t for t in tl if name != "m4" or t.kind == "curve"]
            if not sub:
                continue
            t0 = time.perf_counter()
            frames.append(evaluate(name, sub, all_methods[name](sub)))
            print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    df = pd.concat(frames, ignore_index=True)
    if args.merge:
        old = pd.read_parquet(args.merge)
        done = set(zip(df.method, df.family, strict=True))
        keep = [(m, f) not in done for m, f in zip(old.method, old.family, strict=True)]
        df = pd.concat([old[keep], df], ignore_index=True)
    df.to_parquet(args.out)
    report(df, args.sparse)


def report(df: pd.DataFrame, sparse: bool = False) -> None:
    pd.set_option("display.float_format", lambda v: f"{v:.4g}")
    table = score(df)
    print(table.to_string())
    pool, baselines = ((SPARSE_CANDIDATES, SPARSE_BASELINES) if sparse
                       else (CANDIDATES, BASELINES))
    cands = [c for c in pool if c in table.index.get_level_values("method")]
    if cands and all(b in table.index.get_level_values("method") for b in baselines):
        choice, ratio = lofo(df, table, cands, baselines)
        print("\nrelative MAE / the better baseline's, on the points both predicted:")
        print(ratio.to_string())
        print("\nleave-one-family-out choice (by that ratio, geometric mean over the others):")
        print(choice.to_string())


if __name__ == "__main__":
    main()
