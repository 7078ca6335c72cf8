"""Extrapolation benchmark on the study's real measurements.

For each (downstream task, metric, model_type in {clip, mammut}) series of
``../shared/data/laion2025/datacomp_cosine_best.csv`` and each threshold T in {1e11, 3e10}:
fit on the points with gflops_total <= T, predict the held-out frontier points above T
(non-dominated points of the whole series), for scalecmp's default fit (``--law auto``; or
the law given with ``--law``) and for the study's recipe (benchmarks/paper_recipe.py) side by
side. Reports mean and max absolute error in
percentage points of the metric and the share of held-out points inside scalecmp's 95%
prediction intervals. Then times fit + 1000 bootstrap replicates for all 20 series of the
file, and the study's recipe doing the same bootstrap (a few replicates timed and scaled).

    .venv/bin/python benchmarks/extrapolation.py [--law auto] [--grid subset|full]
        [--check-grid] [--speed-only]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scalecmp  # noqa: E402
from paper_recipe import fit_paper, paper_fit_series, saturating  # noqa: E402
from scalecmp.engine.frontier import binned_frontier, naive_frontier  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "laion2025"
SERIES = ["downstream_dataset", "metric", "model_type"]
THRESHOLDS = (1e11, 3e10)


def load() -> pd.DataFrame:
    path = DATA / "datacomp_cosine_best.csv"
    if not path.exists():
        sys.exit(f"benchmark data not found: {path} (the shared folder must sit beside the repo)")
    return pd.read_csv(path)


def held_out(series: pd.DataFrame, threshold: float) -> pd.DataFrame:
    err = 1.0 - series["value"].to_numpy()
    front = series.loc[naive_frontier(series["gflops_total"].to_numpy(), err)]
    return front[front["gflops_total"] > threshold]


def extrapolation(frame: pd.DataFrame, grid: str, **fit_kw) -> pd.DataFrame:
    rows = []
    sub = frame[frame["model_type"].isin(["clip", "mammut"])]
    for key, series in sub.groupby(SERIES):
        for t in THRESHOLDS:
            test = held_out(series, t)
            train = series[series["gflops_total"] <= t]
            if len(test) == 0:
                continue
            xt = test["gflops_total"].to_numpy()
            yt = test["value"].to_numpy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = scalecmp.fit(
                    train, x="gflops_total", y="value", maximize=True, n_bootstrap=1000, **fit_kw
                )
            g = res.groups[0]
            pred = g.predict(xt)
            lo, hi = g.interval(xt, 0.95)
            popt = paper_fit_series(
                train["gflops_total"].to_numpy(), 1.0 - train["value"].to_numpy(), grid
            )
            paper = 1.0 - saturating(xt, *popt) if popt is not None else np.full_like(xt, np.nan)
            for i in range(len(xt)):
                rows.append(
                    {
                        "task": key[0],
                        "metric": key[1],
                        "model_type": key[2],
                        "T": t,
                        "x": xt[i],
                        "y": yt[i],
                        "scalecmp": pred[i],
                        "lo": lo[i],
                        "hi": hi[i],
                        "paper": paper[i],
                    }
                )
    out = pd.DataFrame(rows)
    out["err_scalecmp_pp"] = 100 * (out["scalecmp"] - out["y"]).abs()
    out["err_paper_pp"] = 100 * (out["paper"] - out["y"]).abs()
    out["covered"] = (out["y"] >= out["lo"]) & (out["y"] <= out["hi"])
    return out


def summarise(out: pd.DataFrame) -> pd.DataFrame:
    agg = out.groupby("T").agg(
        points=("y", "size"),
        scalecmp_mae_pp=("err_scalecmp_pp", "mean"),
        scalecmp_max_pp=("err_scalecmp_pp", "max"),
        paper_mae_pp=("err_paper_pp", "mean"),
        paper_max_pp=("err_paper_pp", "max"),
        coverage95=("covered", "mean"),
    )
    total = pd.DataFrame(
        {
            "points": [len(out)],
            "scalecmp_mae_pp": [out["err_scalecmp_pp"].mean()],
            "scalecmp_max_pp": [out["err_scalecmp_pp"].max()],
            "paper_mae_pp": [out["err_paper_pp"].mean()],
            "paper_max_pp": [out["err_paper_pp"].max()],
            "coverage95": [out["covered"].mean()],
        },
        index=pd.Index(["all"], name="T"),
    )
    agg.index = agg.index.map(lambda t: f"{t:.0e}")
    return pd.concat([agg, total])


def speed(frame: pd.DataFrame, grid: str, n_paper_reps: int, **fit_kw) -> dict:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scalecmp.fit(frame, x="gflops_total", y="value", by=SERIES, maximize=True,
                     n_bootstrap=1000, **fit_kw)
    ours = time.perf_counter() - t0
    # the study's recipe: every bootstrap replicate refits from the whole start grid
    rng = np.random.default_rng(0)
    per_rep = []
    groups = list(frame.groupby(SERIES))
    for _, series in groups[:2]:
        x = series["gflops_total"].to_numpy()
        err = 1.0 - series["value"].to_numpy()
        m = binned_frontier(x, err, "study")
        xf, ef = x[m], err[m]
        t0 = time.perf_counter()
        for _ in range(n_paper_reps):
            idx = rng.integers(0, len(xf), len(xf))
            fit_paper(xf[idx], ef[idx], grid)
        per_rep.append((time.perf_counter() - t0) / n_paper_reps)
    paper_total = float(np.mean(per_rep)) * 1001 * len(groups)
    return {"scalecmp_s": ours, "paper_s_est": paper_total, "paper_per_fit_s": np.mean(per_rep)}


def check_grid(frame: pd.DataFrame) -> None:
    """Subset vs full start grid of the study's recipe: largest difference in predictions."""
    worst = 0.0
    sub = frame[frame["model_type"].isin(["clip", "mammut"])]
    for _key, series in sub.groupby(SERIES):
        for t in THRESHOLDS:
            train = series[series["gflops_total"] <= t]
            x, err = train["gflops_total"].to_numpy(), 1.0 - train["value"].to_numpy()
            xt = held_out(series, t)["gflops_total"].to_numpy()
            a = saturating(xt, *paper_fit_series(x, err, "subset"))
            b = saturating(xt, *paper_fit_series(x, err, "full"))
            worst = max(worst, float(np.max(np.abs(a - b))) * 100)
    print(f"largest |subset - full| prediction difference over all series: {worst:.3f} pp")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", choices=["subset", "full"], default="full")
    ap.add_argument("--check-grid", action="store_true", help="compare subset and full grids")
    ap.add_argument("--paper-reps", type=int, default=1, help="paper bootstrap reps to time")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--speed-only", action="store_true", help="only the timing part")
    ap.add_argument("--csv", type=Path, help="write per-point results here")
    ap.add_argument("--law", default="auto", help="law to fit (default: auto)")
    args = ap.parse_args()
    frame = load()
    fit_kw = {"law": args.law}
    if args.check_grid:
        check_grid(frame)
        return
    if args.speed_only:
        print_speed(speed(frame, args.grid, args.paper_reps, **fit_kw), args.grid)
        return
    out = extrapolation(frame, args.grid, **fit_kw)
    if args.csv:
        out.to_csv(args.csv, index=False)
    pd.set_option("display.width", 160)
    per_series = out.groupby(["task", "metric", "model_type", "T"])[
        ["err_scalecmp_pp", "err_paper_pp", "covered"]
    ].mean()
    print(per_series.round(2).to_string())
    print()
    summary = summarise(out)
    print(summary.round(3).to_string())
    s = summary.loc["all"]
    print(
        f"\nscalecmp MAE {s.scalecmp_mae_pp:.2f} pp (max {s.scalecmp_max_pp:.2f}), "
        f"paper recipe MAE {s.paper_mae_pp:.2f} pp (max {s.paper_max_pp:.2f}), "
        f"ratio {s.scalecmp_mae_pp / s.paper_mae_pp:.2f}x; "
        f"95% interval coverage {100 * s.coverage95:.1f}%"
    )
    if not args.no_speed:
        print_speed(speed(frame, args.grid, args.paper_reps, **fit_kw), args.grid)


def print_speed(sp: dict, grid: str) -> None:
    print(
            f"speed: scalecmp fit + 1000 bootstrap on all 20 series: {sp['scalecmp_s']:.2f} s; "
            f"paper recipe ({grid} grid) same work, estimated from timed replicates: "
            f"{sp['paper_s_est']:.0f} s ({sp['paper_per_fit_s']:.2f} s per fit); "
            f"speed-up {sp['paper_s_est'] / sp['scalecmp_s']:.0f}x"
        )


if __name__ == "__main__":
    main()
