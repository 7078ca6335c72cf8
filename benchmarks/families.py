"""Families of extrapolation tasks, so that fitting methods are chosen on one and reported on
another.

A *task* is one series cut at a compute threshold: fit on every run with ``x <= cut``,
predict the held-out compute-frontier points above it. Families:

* ``datacomp``: the study's ``datacomp_cosine_best.csv`` (CLIP and MaMMUT, 10 series), cuts
  1e11 and 3e10, held-out = non-dominated points of the whole series above the cut, exactly
  as benchmarks/extrapolation.py.
* ``segmentation``: every run of ``segmentation_results.parquet`` (mIoU and ImageNet acc1,
  CLIP and MaMMUT), as benchmarks/extrapolation_segmentation.py.
* ``sim_steepening``: simulated dense grids whose frontier is a sigmoid-like descent from
  chance, cut while it is still steepening, bending, or saturating (see
  :func:`simulate_steepening`).
* ``sim_sparse``: 5-8 points per series, saturating or broken power laws, the largest 1-3
  held out (see :func:`simulate_sparse`).
* ``sim_chinchilla``: the Chinchilla-surface generator of benchmarks/law_choice.py, cut at
  C_max / 30 (see :func:`simulate_chinchilla`).

Use from another benchmark script::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import families
    df = families.evaluate(my_method, families.tasks("sim_steepening", seed=0))
    print(families.summarize(df))

``my_method(train)`` gets a DataFrame with columns ``x`` (compute) and ``y`` (metric,
higher is better, in [0, 1]) and returns an object with ``.predict(x)`` and
``.interval(x, level) -> (lo, hi)`` on the metric scale.

    .venv/bin/python benchmarks/families.py [--families a,b] [--seed 0] [--n-series 40]
        [--laws auto,broken_power,saturating] [--n-bootstrap 200]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scalecmp.engine.frontier import naive_frontier  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "laion2025"
REAL_CUTS = (1e11, 3e10)
FAMILIES: tuple[str, ...] = (
    "datacomp",
    "segmentation",
    "sim_steepening",
    "sim_sparse",
    "sim_chinchilla",
)
DEFAULT_N_SIM = 40
# the grid of the study: samples seen per run
SAMPLES = np.geomspace(1.28e6, 3.07e9, 11)
# per-family salt of the random streams, so that series i of two families are independent
_SALT = {"sim_steepening": 1, "sim_sparse": 2, "sim_chinchilla": 3}


@dataclass(frozen=True)
class Task:
    """One extrapolation task: fit on ``train`` (every run with x <= cut), predict the
    held-out frontier points ``(test_x, test_y)`` above ``cut``."""

    family: str
    series: str
    cut: float
    train: pd.DataFrame
    test_x: np.ndarray
    test_y: np.ndarray


# ---------------------------------------------------------------------------------------
# shared helpers


def _cut_task(family: str, series: str, x: np.ndarray, y: np.ndarray, cut: float) -> Task | None:
    """Task with train = every run with x <= cut and test = the non-dominated points (error
    1 - y below that of every cheaper run) of the *whole* series with x > cut; None when no
    frontier point lies above the cut."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    front = naive_frontier(x, 1.0 - y)
    test = front & (x > cut)
    if not test.any():
        return None
    order = np.argsort(x[test], kind="stable")
    below = x <= cut
    train = pd.DataFrame({"x": x[below], "y": y[below]})
    return Task(family, series, float(cut), train, x[test][order], y[test][order])


def _rng(family: str, seed: int, i: int) -> np.random.Generator:
    """The stream of series ``i``: ``default_rng(seed + i)`` salted by family."""
    return np.random.default_rng([seed + i, _SALT[family]])


def _log10_effective_compute(
    N: np.ndarray, D: np.ndarray, alpha: float, beta: float, log10_k: float
) -> np.ndarray:
    """log10 of the compute at which a compute-optimal run matches run (N, D).

    Reducible loss ``R(N, D) = A N^-alpha + D^-beta`` with ``A = (beta / alpha) K^(alpha +
    beta)``, so that at compute ``C = N D`` the optimal model size is ``N_opt(C) = K
    C^(beta / (alpha + beta))``, and the best loss is ``R*(C) = (1 + beta / alpha) K^beta
    C^-gamma`` with ``gamma = alpha beta / (alpha + beta)``. ``C_eff = (R / ((1 + beta /
    alpha) K^beta))^(-1 / gamma)``: equal to ``N D`` on the optimal allocation and smaller
    off it (with alpha = 0.3, beta = 0.45, a model 2x off-optimal wastes 17% of its
    compute, 30x off 98%).
    """
    ln_k = log10_k * np.log(10.0)
    ln_a = np.log(beta / alpha) + (alpha + beta) * ln_k
    ln_r = np.logaddexp(ln_a - alpha * np.log(N), -beta * np.log(D))
    gamma = alpha * beta / (alpha + beta)
    ln_ceff = -(ln_r - beta * ln_k - np.log1p(beta / alpha)) / gamma
    return ln_ceff / np.log(10.0)


def _log10_k_through(log10_n: float, log10_c: float, alpha: float, beta: float) -> float:
    """log10 K such that N_opt(10^log10_c) = 10^log10_n."""
    return log10_n - beta / (alpha + beta) * log10_c


def _best_of_sweep(rng: np.random.Generator, err: np.ndarray, n_lr: int = 3) -> np.ndarray:
    """Best of an ``n_lr``-run learning-rate sweep, each run ``U(0, 6%)`` worse than ideal."""
    return (err[:, None] * (1.0 + rng.uniform(0.0, 0.06, (len(err), n_lr)))).min(axis=1)


# ---------------------------------------------------------------------------------------
# real data


def _read(name: str) -> pd.DataFrame:
    path = DATA / name
    if not path.exists():
        raise FileNotFoundError(
            f"benchmark data not found: {path} (the shared folder must sit beside the repo)"
        )
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _datacomp_tasks(n_series: int | None) -> list[Task]:
    frame = _read("datacomp_cosine_best.csv")
    sub = frame[frame["model_type"].isin(["clip", "mammut"])]
    keys = ["downstream_dataset", "metric", "model_type"]
    out: list[Task] = []
    for i, (key, series) in enumerate(sub.groupby(keys)):
        if n_series is not None and i >= n_series:
            break
        for cut in REAL_CUTS:
            t = _cut_task("datacomp", "/".join(key), series["gflops_total"], series["value"], cut)
            if t is not None:
                out.append(t)
    return out


def _segmentation_tasks(n_series: int | None) -> list[Task]:
    runs = _read("segmentation_results.parquet")
    out: list[Task] = []
    i = 0
    for procedure, group in runs.groupby("namespace"):
        for metric, label in (("miou", "ade20k/miou"), ("acc1", "imagenet1k/acc1")):
            if n_series is not None and i >= n_series:
                return out
            i += 1
            series = group.dropna(subset=[metric, "gflops"])
            series = series[series["gflops"] >= 1e6]
            for cut in REAL_CUTS:
                t = _cut_task(
                    "segmentation",
                    f"{label}/{procedure}",
                    series["gflops"],
                    series[metric],
                    cut,
                )
                if t is not None:
                    out.append(t)
    return out


# ---------------------------------------------------------------------------------------
# simulations


def simulate_steepening(rng: np.random.Generator) -> tuple[pd.DataFrame, float, dict]:
    """A dense study-like grid whose frontier is a sigmoid-like descent from chance.

    Grid: ``n ~ U{12..15}`` model costs N (GFLOPs per sample) geometric from ``U(1.5, 6)``
    to ``U(200, 800)``, times the study's 11 sample counts D (1.28e6 ... 3.07e9), C = N D.

    Size/data inefficiency: a Chinchilla allocation (``alpha, beta ~ U(0.25, 0.5)``, the
    optimal size at the grid's middle compute within x[0.5, 2] of the middle size) turns
    each run into an effective compute ``C_eff <= C`` (:func:`_log10_effective_compute`).

    Frontier error, with ``z = (log10 C_eff - mu) / s``::

        err = floor + (chance - floor) * (1 + exp(z))^-q

    For q = 1 this is ``chance - (chance - floor) * sigmoid(z)``; q < 1 gives a slower
    tail. For large z it is a power law ``err - floor ~ C^(-q / (s ln 10))``; before the
    inflection the log-log slope steepens. ``chance ~ U(0.9, 0.999)``, ``floor ~ U(0.05,
    0.3)``, ``s ~ U(0.35, 0.9)`` decades, ``q ~ logU(0.6, 1.4)``.

    Cut: ``C_max / 10^h`` with ``h ~ U(1, 1.5)`` decades held out; the phase at the cut is
    ``z_cut ~ U(-1.5, 2)`` (``mu = log10 cut - s z_cut``): z_cut < 0 still steepening (the
    largest held-out runs improve a lot), z_cut around 0-1 bending, above saturating.

    Runs: best of a 3-run learning-rate sweep (each ``U(0, 6%)`` worse), capped at chance,
    times ``exp(N(0, 0.01))``; ``y = clip(1 - err, 0, 1)``.
    """
    n_sizes = int(rng.integers(12, 16))
    sizes = np.geomspace(rng.uniform(1.5, 6.0), rng.uniform(200.0, 800.0), n_sizes)
    N, D = (g.ravel() for g in np.meshgrid(sizes, SAMPLES))
    C = N * D
    alpha, beta = rng.uniform(0.25, 0.5, 2)
    mid_c = 0.5 * (np.log10(C.min()) + np.log10(C.max()))
    mid_n = 0.5 * (np.log10(sizes[0]) + np.log10(sizes[-1])) + rng.uniform(-0.3, 0.3)
    lceff = _log10_effective_compute(N, D, alpha, beta, _log10_k_through(mid_n, mid_c, alpha, beta))
    chance = rng.uniform(0.9, 0.999)
    floor = rng.uniform(0.05, 0.3)
    s = rng.uniform(0.35, 0.9)
    q = float(np.exp(rng.uniform(np.log(0.6), np.log(1.4))))
    held = rng.uniform(1.0, 1.5)
    cut = float(C.max() / 10.0**held)
    z_cut = rng.uniform(-1.5, 2.0)
    mu = np.log10(cut) - s * z_cut
    z = (lceff - mu) / s
    err = floor + (chance - floor) * np.exp(-q * np.logaddexp(0.0, z))
    err = np.minimum(_best_of_sweep(rng, err), chance) * np.exp(rng.normal(0.0, 0.01, len(err)))
    frame = pd.DataFrame({"x": C, "y": np.clip(1.0 - err, 0.0, 1.0)})
    return frame, cut, {"z_cut": z_cut}


def _sparse_truth(rng: np.random.Generator, t: np.ndarray, span: float) -> tuple[np.ndarray, str]:
    """Error at ``t = log10(C_eff / C_min)`` (0 ... span decades)."""
    e0 = rng.uniform(0.45, 0.9)
    floor = rng.uniform(0.05, min(0.3, e0 - 0.15))
    if rng.random() < 0.5:
        a = rng.uniform(0.1, 0.5)
        return floor + (e0 - floor) * 10.0 ** (-a * t), "saturating"
    a1 = rng.uniform(0.02, 0.3)
    a2 = rng.uniform(0.15, 0.6)
    tb = rng.uniform(0.3, 0.9) * span  # break (log10) inside the measured range
    w = rng.uniform(0.1, 0.5)  # sharpness, in decades

    # log10 of (1 + (C/Cb)^(1/w)) relative to its value at C_min, computed stably
    def soft(u: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, (u - tb) / w * np.log(10.0)) / np.log(10.0)

    lg = -a1 * t - (a2 - a1) * w * (soft(t) - soft(np.zeros(1)))
    return floor + (e0 - floor) * 10.0**lg, "broken"


def simulate_sparse(rng: np.random.Generator) -> tuple[pd.DataFrame, float, dict]:
    """Sparse series like an earlier CLIP study: 5-8 measurements over 2-3 decades.

    Layout (half each): ``points``: ``n ~ U{5..8}`` computes evenly spread in log over
    ``span ~ U(2, 3)`` decades (jitter +-10% of a step), ``C_eff = C``; ``grid``: 2x3, 3x2
    or 4x2 model sizes x data scales (one random non-largest run dropped with probability
    0.3) spanning ``span`` decades of C = N D, with the Chinchilla inefficiency of
    :func:`_log10_effective_compute` (optimum through the middle, x[0.5, 2]).

    Truth (half each), with ``t = log10(C_eff / C_min)``, ``e0 ~ U(0.45, 0.9)`` the error
    at C_min and ``E ~ U(0.05, min(0.3, e0 - 0.15))``:

    * saturating: ``err = E + (e0 - E) 10^(-a t)``, ``a ~ U(0.1, 0.5)``;
    * broken: ``err = E + (e0 - E) (C/C_min)^-a1 [(1 + (C/C_b)^(1/w)) / (1 + (C_min/C_b)^(1/w))
      ]^(-(a2 - a1) w)``, slopes ``a1 ~ U(0.02, 0.3)`` then ``a2 ~ U(0.15, 0.6)`` (steepening
      or flattening), break ``log10(C_b / C_min) ~ U(0.3, 0.9) span``, ``w ~ U(0.1, 0.5)``.

    Noise: ``err * exp(N(0, sigma))``, ``sigma ~ U(0.01, 0.02)``, clipped to [1e-3, 1].
    Cut: just above the ``(n - k)``-th smallest compute, ``k ~ U{1..min(3, n - 4)}``; the
    held-out points are the frontier points among the largest k. A series is redrawn (same
    stream) until at least one point is held out and the training runs keep >= 4
    non-dominated points, so that every task can be fitted by a 3-parameter law.
    """
    while True:
        span = rng.uniform(2.0, 3.0)
        c_min = 10.0 ** rng.uniform(8.0, 9.5)
        if rng.random() < 0.5:
            layout = "points"
            n = int(rng.integers(5, 9))
            u = np.linspace(0.0, span, n) + rng.uniform(-0.1, 0.1, n) * span / (n - 1)
            u = np.sort(u - u[0])
            C = c_min * 10.0**u
            t = u
        else:
            layout = "grid"
            m, d = [(2, 3), (3, 2), (4, 2)][int(rng.integers(0, 3))]
            frac = rng.uniform(0.3, 0.6)  # share of the span from data
            n0 = 10.0 ** rng.uniform(0.5, 1.5)
            sizes = n0 * np.logspace(0.0, (1.0 - frac) * span, m)
            data = c_min / n0 * np.logspace(0.0, frac * span, d)
            N, D = (g.ravel() for g in np.meshgrid(sizes, data))
            if rng.random() < 0.3:
                keep = np.ones(len(N), dtype=bool)
                keep[int(rng.integers(0, len(N) - 1))] = False  # never the largest (last)
                N, D = N[keep], D[keep]
            C = N * D
            alpha, beta = rng.uniform(0.25, 0.5, 2)
            mid_c = 0.5 * (np.log10(C.min()) + np.log10(C.max()))
            mid_n = 0.5 * (np.log10(sizes[0]) + np.log10(sizes[-1])) + rng.uniform(-0.3, 0.3)
            lk = _log10_k_through(mid_n, mid_c, alpha, beta)
            t = _log10_effective_compute(N, D, alpha, beta, lk) - np.log10(C.min())
            n = len(C)
        err, truth = _sparse_truth(rng, t, span)
        sigma = rng.uniform(0.01, 0.02)
        err = np.clip(err * np.exp(rng.normal(0.0, sigma, len(err))), 1e-3, 1.0)
        k = int(rng.integers(1, min(3, n - 4) + 1))
        xs = np.sort(C)
        cut = float(xs[n - k - 1] * (1.0 + 1e-9))
        frame = pd.DataFrame({"x": C, "y": 1.0 - err})
        below = C <= cut
        n_train_front = naive_frontier(C[below], err[below]).sum()
        if n_train_front >= 4 and (naive_frontier(C, err) & ~below).any():
            return frame, cut, {"layout": layout, "truth": truth}


def simulate_chinchilla(rng: np.random.Generator) -> tuple[pd.DataFrame, float, dict]:
    """The generator of benchmarks/law_choice.py (``law_choice.simulate``), cut at C_max / 30.

    Truth ``L(N, D) = E + A N^-a + B D^-b`` over model cost N (15 sizes 3 ... 400 GFLOPs per
    sample, 7 of them in half of the series) and the study's 11 sample counts D, ``a, b ~
    U(0.2, 0.5)``, ``E ~ U(0.05, 0.3)``, ``A = U(0.4, 1.2) 3^a``, ``B = U(0.4, 1.2)
    1.28e6^b``; soft cap at chance ``err = L / (1 + L^4)^(1/4)``; best of a 3-run
    learning-rate sweep (each ``U(0, 6%)`` worse), times ``exp(N(0, 0.01))``, error capped
    at 0.999; ``y = 1 - err``.
    """
    from law_choice import simulate  # a sibling benchmark; imports scalecmp

    frame = simulate(rng).rename(columns={"compute": "x", "value": "y"})
    return frame[["x", "y"]], float(frame["x"].max() / 30.0), {}


_SIMULATORS = {
    "sim_steepening": (simulate_steepening, "steep"),
    "sim_sparse": (simulate_sparse, "sparse"),
    "sim_chinchilla": (simulate_chinchilla, "chin"),
}


def _describe(info: dict) -> str:
    return "/".join(f"z{v:+.1f}" if k == "z_cut" else str(v) for k, v in info.items())


def _sim_tasks(family: str, seed: int, n_series: int | None) -> list[Task]:
    simulate, prefix = _SIMULATORS[family]
    out: list[Task] = []
    for i in range(DEFAULT_N_SIM if n_series is None else n_series):
        frame, cut, info = simulate(_rng(family, seed, i))
        label = "/".join(filter(None, [f"{prefix}{i:02d}", _describe(info)]))
        t = _cut_task(family, label, frame["x"], frame["y"], cut)
        if t is not None:
            out.append(t)
    return out


# ---------------------------------------------------------------------------------------
# public API


def tasks(family: str, *, seed: int = 0, n_series: int | None = None) -> list[Task]:
    """The tasks of ``family`` (one of :data:`FAMILIES`).

    Real families (``datacomp``, ``segmentation``) ignore ``seed``; ``n_series`` keeps their
    first n series (each with both cuts), default all. Simulated families draw ``n_series``
    series (default 40), series ``i`` from ``default_rng([seed + i, family salt])``.
    """
    if family == "datacomp":
        return _datacomp_tasks(n_series)
    if family == "segmentation":
        return _segmentation_tasks(n_series)
    if family in _SIMULATORS:
        return _sim_tasks(family, seed, n_series)
    raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


def evaluate(
    method: Callable[[pd.DataFrame], Any], task_list: list[Task], level: float = 0.95
) -> pd.DataFrame:
    """One row per held-out point of every task.

    Columns: family, series, cut, x, y, pred, lo, hi, abs_err_pp (100 |pred - y|), covered
    (lo <= y <= hi; False when NaN), failed, error. ``failed`` is True (pred NaN) when
    ``method(train)`` or ``.predict`` raised an Exception or predicted a non-finite value;
    ``error`` holds the message. An exception in ``.interval`` only leaves lo/hi NaN (its
    message goes to ``error``, ``failed`` stays False).
    """
    frames = []
    for task in task_list:
        n = len(task.test_x)
        nan = np.full(n, np.nan)
        pred, lo, hi = nan, nan, nan
        failed, error = False, ""
        try:
            fitted = method(task.train.copy())
            pred = np.asarray(fitted.predict(task.test_x), dtype=float).reshape(n)
            if not np.isfinite(pred).all():
                failed, error = True, "non-finite prediction"
                pred = nan
        except Exception as exc:  # noqa: BLE001 - any failure of the method is a result
            failed, error = True, f"{type(exc).__name__}: {exc}"
        if not failed:
            try:
                a, b = fitted.interval(task.test_x, level)
                lo = np.asarray(a, dtype=float).reshape(n)
                hi = np.asarray(b, dtype=float).reshape(n)
            except Exception as exc:  # noqa: BLE001
                error = f"interval: {type(exc).__name__}: {exc}"
        frames.append(
            pd.DataFrame(
                {
                    "family": task.family,
                    "series": task.series,
                    "cut": task.cut,
                    "x": task.test_x,
                    "y": task.test_y,
                    "pred": pred,
                    "lo": lo,
                    "hi": hi,
                    "failed": failed,
                    "error": error,
                }
            )
        )
    cols = [
        "family",
        "series",
        "cut",
        "x",
        "y",
        "pred",
        "lo",
        "hi",
        "abs_err_pp",
        "covered",
        "failed",
        "error",
    ]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out["abs_err_pp"] = 100.0 * (out["pred"] - out["y"]).abs()
    out["covered"] = (out["lo"] <= out["y"]) & (out["y"] <= out["hi"])
    return out[cols]


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per family: points (held-out points), mean_pp and max_pp (absolute error in
    percentage points over the points that did not fail), coverage (share of the points that
    did not fail inside their interval) and n_failed (failed points)."""
    ok = df[~df["failed"].astype(bool)]
    g = ok.groupby("family", sort=False)
    out = pd.DataFrame(
        {
            "points": df.groupby("family", sort=False).size(),
            "mean_pp": g["abs_err_pp"].mean(),
            "max_pp": g["abs_err_pp"].max(),
            "coverage": g["covered"].mean(),
            "n_failed": df.groupby("family", sort=False)["failed"].sum().astype(int),
        }
    )
    out.index.name = "family"
    return out


# ---------------------------------------------------------------------------------------
# baselines and command line


def scalecmp_baseline(law: str, n_bootstrap: int = 200) -> Callable[[pd.DataFrame], Any]:
    """``scalecmp.fit(train, law=law)`` (``law="auto"``: the default), falling back to
    ``power_floor`` when a pinned ``law`` raises DataError (too few frontier points);
    returns the fitted group."""
    import scalecmp

    def method(train: pd.DataFrame) -> Any:
        kw = {"x": "x", "y": "y", "maximize": True, "n_bootstrap": n_bootstrap}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = scalecmp.fit(train, law=law, **kw)
            except scalecmp.DataError:
                res = scalecmp.fit(train, law="power_floor", **kw)
        return res.groups[0]

    method.__name__ = f"scalecmp_{law}"
    return method


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-series", type=int, default=None, help="series per family")
    ap.add_argument("--laws", default="auto,broken_power,saturating",
                    help="comma-separated: auto (the default) and/or law names")
    ap.add_argument("--n-bootstrap", type=int, default=200)
    args = ap.parse_args()
    names = [f.strip() for f in args.families.split(",") if f.strip()]
    bad = [f for f in names if f not in FAMILIES]
    if bad:
        ap.error(f"unknown families {bad}; choose from {', '.join(FAMILIES)}")
    baselines = {
        law: scalecmp_baseline(law, args.n_bootstrap) for law in args.laws.split(",") if law
    }
    pd.set_option("display.width", 160)
    t_all = time.perf_counter()
    tables = []
    for fam in names:
        t0 = time.perf_counter()
        try:
            tl = tasks(fam, seed=args.seed, n_series=args.n_series)
        except FileNotFoundError as exc:
            print(f"{fam}: skipped ({exc})")
            continue
        t_gen = time.perf_counter() - t0
        n_series = len({t.series for t in tl})
        n_points = sum(len(t.test_x) for t in tl)
        print(
            f"{fam}: {len(tl)} tasks from {n_series} series, {n_points} held-out points "
            f"(generated in {t_gen:.2f} s)"
        )
        for name, method in baselines.items():
            t1 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                summary = summarize(evaluate(method, tl))
            summary.insert(0, "method", name)
            summary["seconds"] = time.perf_counter() - t1
            tables.append(summary)
    if tables:
        table = pd.concat(tables).reset_index().set_index(["family", "method"])
        print()
        print(table.round(3).to_string())
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s")


if __name__ == "__main__":
    main()
