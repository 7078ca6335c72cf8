"""Screen a synthetic world for the demo: what a trained grid's frontiers look like and
whether laws fitted on their lower part predict their top (BENCHMARKS.md, 7c).

    .venv/bin/scalecmp grid run benchmarks/worlds/concepts_k1024.yaml --out /tmp/w
    .venv/bin/python benchmarks/world_screen.py /tmp/w [/tmp/w2 ...]

For every grid folder and every (task, metric, procedure) of the demo's metrics and smooth
losses (constant-LR and cooldown runs): the naive compute frontier's first and last error
(1 - metric for accuracies, the loss itself for losses) and its fall, the sizes that make
it, and per-size local log-log slopes of the loss; then the demo's held-out checks with its
shipped settings (:func:`scalecmp.experiments.demo.holdout` and ``loss_holdout``).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from scalecmp.engine.frontier import naive_frontier
from scalecmp.experiments import demo
from scalecmp.experiments.store import read_measurements


def screen(folder: str) -> None:
    table = demo.measurement_frame(read_measurements(folder))
    print(f"== {folder}")
    for task, metric in (*demo.REPORT_METRICS, *demo.LOSS_METRICS):
        rows = table[(table["task"] == task) & (table["metric"] == metric)]
        loss = (task, metric) in demo.LOSS_METRICS
        for proc, g in rows.groupby("procedure", sort=True):
            x = g["gflops_total"].to_numpy(float)
            v = g["value"].to_numpy(float)
            err = v if loss else 1.0 - v
            front = naive_frontier(x, err)
            order = np.argsort(x[front])
            e = err[front][order]
            sizes = list(dict.fromkeys(g["model"].to_numpy()[front][order]))
            print(f"{task}/{metric} {proc}: frontier {e[0]:.3f} -> {e[-1]:.3f} "
                  f"({e[0] / e[-1]:.2f}x, {front.sum()} runs), sizes {', '.join(sizes)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = [demo.holdout(demo.report_frame(table)), demo.loss_holdout(table)]
    for check in checks:
        if check is not None:
            print("\n".join(line for line in check.summary_lines()
                            if not line.lstrip().startswith("note:")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="grid output folders (scalecmp grid run)")
    for folder in parser.parse_args().folders:
        screen(folder)


if __name__ == "__main__":
    main()
