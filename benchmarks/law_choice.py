"""Which law and weighting extrapolate best, on simulated dense measurements.

Truth is *not* one of the candidate laws: each simulated procedure has a Chinchilla-style
error surface ``L(N, D) = E + A N^-a + B D^-b`` over model cost N (GFLOPs per sample) and
samples seen D, softly capped at chance level (error 1) for tiny runs, measured on a grid
like the study's (15 model sizes x 11 sample counts, sometimes with half of the sizes
missing), with the best of a 3-run learning-rate sweep (each run a little worse than ideal)
and 1% measurement noise. Every candidate (law, weighting) is fitted on the compute
frontier below T = C_max / 30 and predicts the held-out frontier points above T, as in
benchmarks/extrapolation.py. Prints mean and max absolute error (percentage points).

    .venv/bin/python benchmarks/law_choice.py [--n-series 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

import scalecmp
from scalecmp.engine.frontier import naive_frontier

CANDIDATES = [
    ("saturating", "none"),
    ("saturating", "compute"),
    ("power_floor", "compute"),
    ("broken_power", "none"),
    ("broken_power", "compute"),
]


def simulate(rng: np.random.Generator) -> pd.DataFrame:
    sizes = np.geomspace(3.0, 400.0, 15)
    if rng.random() < 0.5:  # a sparse grid: half of the sizes were never trained
        sizes = np.sort(rng.choice(sizes, 7, replace=False))
    samples = np.geomspace(1.28e6, 3.07e9, 11)
    N, D = (g.ravel() for g in np.meshgrid(sizes, samples))
    a, b = rng.uniform(0.2, 0.5, 2)
    E = rng.uniform(0.05, 0.3)
    A = rng.uniform(0.4, 1.2) * 3.0**a  # error near chance for the smallest model ...
    B = rng.uniform(0.4, 1.2) * 1.28e6**b  # ... and the fewest samples
    L = E + A * N**-a + B * D**-b
    k = 4.0
    err = L / (1.0 + L**k) ** (1.0 / k)  # soft cap at chance (error 1)
    sweep = err[:, None] * (1.0 + rng.uniform(0.0, 0.06, (len(err), 3)))
    best = sweep.min(axis=1) * np.exp(rng.normal(0.0, 0.01, len(err)))
    return pd.DataFrame({"compute": N * D, "value": 1.0 - np.minimum(best, 0.999)})


def evaluate(n_series: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        frame = simulate(rng)
        threshold = frame["compute"].max() / 30.0
        err = 1.0 - frame["value"].to_numpy()
        front = frame[naive_frontier(frame["compute"].to_numpy(), err)]
        test = front[front["compute"] > threshold]
        train = frame[frame["compute"] <= threshold]
        for law, weighting in CANDIDATES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g = scalecmp.fit(train, x="compute", y="value", maximize=True, law=law,
                                 weighting=weighting, n_bootstrap=0).groups[0]
            miss = 100 * np.abs(g.predict(test["compute"]) - test["value"].to_numpy())
            rows += [{"series": s, "law": law, "weighting": weighting, "err_pp": m} for m in miss]
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-series", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = evaluate(args.n_series, args.seed)
    table = out.groupby(["law", "weighting"])["err_pp"].agg(["mean", "median", "max"])
    print(f"{args.n_series} simulated series, held-out frontier points above C_max / 30")
    print(table.round(2).sort_values("mean").to_string())


if __name__ == "__main__":
    main()
