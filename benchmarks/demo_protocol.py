"""The demo's analysis settings, chosen on some training seeds and reported on others.

The demo grid (``examples/demo_grid.yaml``) is trained once per seed (``seed: N`` in a copy
of the spec, ``scalecmp grid run SPEC --out DIR``); this script reads the folders, in seed
order, and

1. runs the demo's held-out check (:func:`scalecmp.experiments.demo.holdout`: laws fitted
   below 1/factor of each procedure's largest compute predict the frontier runs above) for
   every candidate setting: law (power, power_floor, saturating, broken_power, auto) x
   frontier (naive, binned) x factor (2, 3, 4) x slope prior ``min_slope_ratio`` (0.75,
   0.5, 0; a pure power law has no bend for it to act on: 0.75 only);
2. *chooses* a setting on two seeds and *reports* it on the other two, both ways round
   (the project's rule: never choose a default on the data it is reported on). Score:
   seeds on which the whole check passes (every series: mean absolute error <= 3 pp and
   >= 80% of the held-out runs inside their 95% intervals), then seeds on which
   classification and retrieval pass, then the mean worst series error, then the larger
   factor (the harder check);
3. prints, with the demo's shipped settings (:func:`scalecmp.experiments.demo.demo_options`),
   per seed: the check per (series, procedure), the frontier's fall (error at the cheapest
   run / lowest error) and mIoU's rise, the highest fitted floor relative to the lowest
   measured error, and the cosine gap.

    .venv/bin/python benchmarks/demo_protocol.py DIR_SEED0 DIR_SEED1 DIR_SEED2 DIR_SEED3
        [--choose-shipped 1,2,3] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import itertools
import warnings

import numpy as np
import pandas as pd

LAWS = ("power", "power_floor", "saturating", "broken_power", "auto")
FRONTIERS = ("naive", "binned")
FACTORS = (2.0, 3.0, 4.0)
SLOPE_RATIOS = (0.75, 0.5, 0.0)
KEYS = ["law", "frontier", "factor", "min_slope_ratio"]
SHORT = {"acc1": "cls", "image_retrieval_recall@5": "img R@5",
         "text_retrieval_recall@5": "txt R@5", "miou": "mIoU"}
CLS_RET = ("cls", "img R@5", "txt R@5")


def candidates():
    for law, frontier, factor, ratio in itertools.product(LAWS, FRONTIERS, FACTORS,
                                                          SLOPE_RATIOS):
        if law == "power" and ratio != 0.75:
            continue
        yield {"law": law, "frontier": frontier, "factor": factor, "min_slope_ratio": ratio}


def load(folder: str) -> pd.DataFrame:
    from scalecmp.experiments import demo
    from scalecmp.experiments.store import read_measurements

    return demo.report_frame(read_measurements(folder))


def check(frame: pd.DataFrame, law: str, frontier: str, factor: float,
          min_slope_ratio: float, n_bootstrap: int = 200):
    from scalecmp.experiments import demo

    return demo.holdout(frame, n_bootstrap, holdout_factor=factor, law=law,
                        frontier=frontier, min_slope_ratio=min_slope_ratio)


def score_all(frames: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """One row per (candidate, seed): whole check passed, classification + retrieval
    passed, worst series error, runs, inside."""
    rows = []
    for cand in candidates():
        for seed, frame in frames.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = check(frame, **cand)
            st = res.series_table()
            st["short"] = st["metric"].map(SHORT)
            complete = len(st) == len(SHORT)
            cr = st.loc[st["short"].isin(CLS_RET)]
            rows.append({**cand, "seed": seed,
                         "pass_all": bool(complete and res.passed),
                         "pass_cls_ret": bool(len(cr) == 3 and cr["passed"].all()),
                         "worst_mae": float(st["mae"].max()) if complete else np.inf,
                         "n": res.n, "inside": res.n_inside})
    return pd.DataFrame(rows)


def choose(scores: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    s = (scores.loc[scores["seed"].isin(seeds)].groupby(KEYS)
         .agg(pass_all=("pass_all", "sum"), pass_cls_ret=("pass_cls_ret", "sum"),
              worst=("worst_mae", "mean")).reset_index())
    return s.sort_values(["pass_all", "pass_cls_ret", "worst", "factor"],
                         ascending=[False, False, True, False], kind="stable")


def shipped_table(frames: dict[int, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """With the demo's settings: the check per (seed, series, procedure), and per (seed,
    series, procedure) the fall, the rise, the highest floor / lowest error, the cosine
    gap."""
    from scalecmp.engine.frontier import naive_frontier
    from scalecmp.experiments import demo
    from scalecmp.holdout import cosine_gap

    checks, targets = [], []
    for seed, frame in frames.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = demo.holdout(frame, n_bootstrap=200)
        for r in res.groups.to_dict("records"):
            checks.append({"seed": seed, "series": SHORT[r["metric"]],
                           "procedure": r["procedure"], "n": r["n_heldout"],
                           "mae_pp": 100 * r["mae"], "inside": round(r["coverage"] *
                                                                      r["n_heldout"])})
        for r in res.series_table().to_dict("records"):
            checks.append({"seed": seed, "series": SHORT[r["metric"]], "procedure": "both",
                           "n": r["n"], "mae_pp": 100 * r["mae"], "inside": r["n_inside"],
                           "passed": r["passed"]})
        checks.append({"seed": seed, "series": "all", "procedure": "both", "n": res.n,
                       "mae_pp": 100 * res.mae, "inside": res.n_inside,
                       "passed": res.passed})
        gap = cosine_gap(frame)
        measured = demo.measurement_frame(frame)
        fits, _ = demo.fit_series(measured, n_bootstrap=0)  # the demo's own fits
        for (task, metric, proc), g in measured.groupby(["task", "metric", "procedure"]):
            x, err = g["gflops_total"].to_numpy(float), 1 - g["value"].to_numpy(float)
            front = naive_frontier(x, err)
            ef = err[front][np.argsort(x[front])]
            fit = fits[(task, metric)][proc]
            floors = [m.params["E"] for m, w in zip(fit.members, fit.weights, strict=True)
                      if w >= 0.01 and "E" in m.params]
            cg = gap.loc[(gap["metric"] == metric) & (gap["procedure"] == proc), "gap"]
            targets.append({"seed": seed, "series": SHORT[metric], "procedure": proc,
                            "first_error": ef[0], "lowest_error": ef.min(),
                            "fall": ef[0] / ef.min(), "rise": (1 - ef.min()) / (1 - ef[0]),
                            "floor_over_lowest": (max(floors) / ef.min()) if floors else 0.0,
                            "cosine_gap_pp": 100 * cg.mean()})
    return pd.DataFrame(checks), pd.DataFrame(targets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="demo grid folders, one per seed, in order")
    ap.add_argument("--choose-shipped", default="1,2,3",
                    help="seeds the shipped setting is chosen on (the demo runs seed 0)")
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    frames = {i: load(f) for i, f in enumerate(args.folders)}
    scores = score_all(frames)
    if args.csv:
        scores.to_csv(args.csv, index=False)
    seeds = sorted(frames)
    half = len(seeds) // 2
    for chosen_on, reported_on in ((seeds[:half], seeds[half:]), (seeds[half:], seeds[:half])):
        table = choose(scores, chosen_on)
        best = table.iloc[0][KEYS].to_dict()
        print(f"== chosen on seeds {chosen_on} (top 3):")
        print(table.head(3).to_string(index=False))
        rep = scores.loc[(scores[KEYS] == pd.Series(best)).all(axis=1)
                         & scores["seed"].isin(reported_on)]
        print(f"-> reported on seeds {reported_on}:")
        print(rep.to_string(index=False))
    shipped = [int(s) for s in args.choose_shipped.split(",")]
    table = choose(scores, shipped)
    print(f"== the shipped setting, chosen on seeds {shipped} (top 3):")
    print(table.head(3).to_string(index=False))
    checks, targets = shipped_table(frames)
    print("== the demo's settings on every seed: held-out check")
    print(checks.round(2).to_string(index=False))
    print("== falls, rises, floors, cosine gap")
    print(targets.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
