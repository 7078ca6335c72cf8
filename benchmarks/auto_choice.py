"""Choosing ``law="auto"``'s settings on one family of series and reporting on another.

For every task of every family (benchmarks/families.py) and every slope-prior value
``kappa`` (``min_slope_ratio``), the auto regressor is fitted once (no bootstrap: the
weights need none) and the held-out predictions of each candidate law are kept together
with the candidates' backtests inside the training data. Every combination rule of
:func:`scalecmp.engine.combine` (inverse MSE, stacking, selection, uniform; ``auto:`` with the
engine's pool of laws that bend, ``all:`` with every candidate competing on evidence alone)
and every single candidate is then scored offline on the same fits: mean absolute error of
the held-out frontier points, percentage points of the metric. A single candidate that a
series is too sparse for counts as missing there (NaN in its column's mean).

The protocol: a setting (kappa x rule) is *chosen* on one group of families by its mean
error (families weighted equally) and *reported* on the other group, both ways round:

* group ``real``: datacomp, segmentation (the study's visible series);
* group ``sim``: sim_steepening, sim_sparse, sim_chinchilla (simulations).

    .venv/bin/python benchmarks/auto_choice.py [--kappas 0,0.25,0.5,0.75] [--n-series 40]
        [--csv out.csv]
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

import families  # noqa: E402
from scalecmp.engine import (  # noqa: E402
    AUTO_CANDIDATES,
    MIXTURES,
    ScalingLawRegressor,
    combine,
)

GROUPS = {
    "real": ("datacomp", "segmentation"),
    "sim": ("sim_steepening", "sim_sparse", "sim_chinchilla"),
}


def fit_task(task: families.Task, kappa: float) -> list[dict]:
    """Held-out metric predictions of every candidate and of every combination rule."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = ScalingLawRegressor(maximize=True, n_bootstrap=0, min_slope_ratio=kappa)
        reg.fit(task.train["x"].to_numpy(), task.train["y"].to_numpy())
    mix = reg.result_
    fitted = [c for c in mix.candidates if c["law"] is not None]
    names = [c["name"] for c in fitted]
    member_pred = np.array([1.0 - m.predict_error(task.test_x) for m in mix.members])
    ok = [c["status"] == "ok" for c in fitted]
    tiers = [next(s for s in AUTO_CANDIDATES if s.name == n).tier for n in names]
    preds: dict[str, np.ndarray] = {n: member_pred[i] for i, n in enumerate(names)}
    for rule in MIXTURES:
        # the engine's own combination rule, the pool as in the engine ...
        w = combine(tiers, ok, reg.backtest_matrix_, rule)
        preds[f"auto:{rule}"] = w @ member_pred
        # ... and without the pool (every candidate competes on evidence alone)
        w = combine([0] * len(names), ok, reg.backtest_matrix_, rule)
        preds[f"all:{rule}"] = w @ member_pred
    rows = []
    for method, p in preds.items():
        for i in range(len(task.test_x)):
            rows.append({"family": task.family, "series": task.series, "cut": task.cut,
                         "kappa": kappa, "method": method,
                         "abs_err_pp": 100.0 * abs(float(np.clip(p[i], 0, 1)) - task.test_y[i])})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kappas", default="0,0.25,0.5,0.75")
    ap.add_argument("--n-series", type=int, default=None, help="simulated series per family")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, help="write the per-point errors here")
    ap.add_argument("--from-csv", type=Path, help="report from an earlier --csv, no fitting")
    args = ap.parse_args()
    if args.from_csv:
        report(pd.read_csv(args.from_csv))
        return
    kappas = [float(k) for k in args.kappas.split(",")]
    t0 = time.perf_counter()
    rows = []
    for fam in families.FAMILIES:
        tl = families.tasks(fam, seed=args.seed, n_series=args.n_series if fam.startswith(
            "sim") else None)
        for kappa in kappas:
            for task in tl:
                rows += fit_task(task, kappa)
        print(f"{fam}: {len(tl)} tasks fitted ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    if args.csv:
        df.to_csv(args.csv, index=False)
    report(df)


def report(df: pd.DataFrame) -> None:
    per_fam = df.groupby(["kappa", "method", "family"])["abs_err_pp"].mean().unstack("family")
    per_fam = per_fam[[f for f in families.FAMILIES if f in per_fam.columns]]
    for g, fams in GROUPS.items():
        per_fam[g] = per_fam[list(fams)].mean(axis=1)
    pd.set_option("display.width", 200)
    print("\nmean absolute error (pp) by kappa x method x family; group = mean of its families")
    print(per_fam.round(2).to_string())
    print()
    evidence = [m for m in per_fam.index.get_level_values("method").unique()
                if ":" in m and not m.endswith((":uniform",))]
    for label, rows in (("any method", per_fam),
                        ("evidence-weighted mixtures only",
                         per_fam[per_fam.index.get_level_values("method").isin(evidence)])):
        print(f"\nchoice among {label}:")
        for chose, other in (("real", "sim"), ("sim", "real")):
            best = rows[chose].idxmin()
            print(f"  chosen on {chose}: kappa={best[0]:g}, method={best[1]} "
                  f"({rows.loc[best, chose]:.2f} pp there) -> reported on {other}: "
                  f"{per_fam.loc[best, other]:.2f} pp (best possible there "
                  f"{per_fam[other].min():.2f})")


if __name__ == "__main__":
    main()
