"""A second real-data extrapolation check, on series the defaults were not chosen on.

``../shared/data/laion2025/segmentation_results.parquet`` holds every individual run (all
hyper-parameters) of CLIP and MaMMUT on DataComp-1.4B with its ADE20K segmentation mIoU and
ImageNet zero-shot accuracy. As in benchmarks/extrapolation.py: fit on the runs with
gflops <= T (T in {1e11, 3e10}; runs below 1e6 GFLOPs left out, as in the study), predict
the held-out frontier runs above T, for scalecmp's defaults (``law="auto"``), two pinned laws
of the same engine (broken_power and saturating), and the study's recipe (full 3,200-start
grid; ``--grid subset`` is faster).

    .venv/bin/python benchmarks/extrapolation_segmentation.py [--grid full|subset]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scalecmp  # noqa: E402
from paper_recipe import paper_fit_series, saturating  # noqa: E402
from scalecmp.engine.frontier import naive_frontier  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "laion2025"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", choices=["subset", "full"], default="full")
    args = ap.parse_args()
    path = DATA / "segmentation_results.parquet"
    if not path.exists():
        sys.exit(f"benchmark data not found: {path}")
    runs = pd.read_parquet(path)
    rows = []
    warnings.simplefilter("ignore")
    for procedure, group in runs.groupby("namespace"):
        for metric in ("miou", "acc1"):
            series = group.dropna(subset=[metric, "gflops"])
            series = series[series["gflops"] >= 1e6]
            for t in (1e11, 3e10):
                err = 1.0 - series[metric].to_numpy()
                front = series[naive_frontier(series["gflops"].to_numpy(), err)]
                test = front[front["gflops"] > t]
                train = series[series["gflops"] <= t]
                xt, yt = test["gflops"].to_numpy(), test[metric].to_numpy()
                g = scalecmp.fit(train, x="gflops", y=metric, maximize=True,
                                 n_bootstrap=1000).groups[0]
                lo, hi = g.interval(xt)
                sat = scalecmp.fit(train, x="gflops", y=metric, maximize=True,
                                   law="saturating", n_bootstrap=0).groups[0].predict(xt)
                brk = scalecmp.fit(train, x="gflops", y=metric, maximize=True,
                                   law="broken_power", n_bootstrap=0).groups[0].predict(xt)
                popt = paper_fit_series(train["gflops"].to_numpy(),
                                        1.0 - train[metric].to_numpy(), args.grid)
                paper = 1.0 - saturating(xt, *popt) if popt is not None else np.nan * xt
                for i in range(len(xt)):
                    rows.append({
                        "procedure": procedure, "metric": metric, "T": t,
                        "scalecmp": 100 * abs(g.predict(xt)[i] - yt[i]),
                        "saturating": 100 * abs(sat[i] - yt[i]),
                        "broken_power": 100 * abs(brk[i] - yt[i]),
                        "paper": 100 * abs(paper[i] - yt[i]),
                        "covered": lo[i] <= yt[i] <= hi[i],
                    })
    out = pd.DataFrame(rows)
    cols = ["scalecmp", "broken_power", "saturating", "paper", "covered"]
    print(out.groupby(["procedure", "metric", "T"])[cols].mean().round(2).to_string())
    print(f"\n{len(out)} held-out runs; mean absolute error (pp): scalecmp "
          f"{out.scalecmp.mean():.2f} (max {out.scalecmp.max():.2f}), broken_power "
          f"{out.broken_power.mean():.2f}, saturating law "
          f"{out.saturating.mean():.2f}, paper recipe ({args.grid} grid) {out.paper.mean():.2f} "
          f"(max {out.paper.max():.2f}); scalecmp 95% coverage {100 * out.covered.mean():.1f}%")


if __name__ == "__main__":
    main()
