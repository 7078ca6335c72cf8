"""Many series in one call (issue 17, item 5): ``scalecmp.fit`` of G groups x 8 rows with
R bootstrap replicates, ``law="auto"`` (every default), timed end to end.

    .venv/bin/python benchmarks/many_groups.py --groups 10000 --replicates 200 --workers 2
    .venv/bin/python benchmarks/many_groups.py --groups 256 --alone 256

The series are simulated and seeded: 8 runs log-spaced over 3 decades of compute (jittered
by 10%), error ``A (x / 1e8)^alpha + E`` with ``A`` in [0.5, 2], ``alpha`` in [-0.4, -0.1],
``E`` in [0.05, 0.3], times 2% log-normal noise. ``--alone N`` also fits the first ``N``
groups one at a time (``SERIES_PER_BATCH = 1``: every solve on its own, as before the
batched solver) and checks that both give the same predictions and intervals at 1e12.
Prints wall time, time per group and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import scalecmp  # noqa: E402
from scalecmp.cli.progress import GroupProgress  # noqa: E402
from scalecmp.engine import api  # noqa: E402


def simulated(groups: int, rows: int = 8, seed: int = 0) -> pd.DataFrame:
    """``groups`` series of ``rows`` runs each (see the module docstring)."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e8, 1e11, rows)[None, :] * np.exp(rng.normal(0, 0.1, (groups, rows)))
    a = rng.uniform(0.5, 2.0, (groups, 1))
    alpha = rng.uniform(-0.4, -0.1, (groups, 1))
    e = rng.uniform(0.05, 0.3, (groups, 1))
    y = (a * (x / 1e8) ** alpha + e) * np.exp(rng.normal(0, 0.02, (groups, rows)))
    return pd.DataFrame({"g": np.repeat(np.arange(groups), rows), "x": x.ravel(),
                         "y": y.ravel()})


def timed_fit(frame: pd.DataFrame, replicates: int, workers: int | str = 1
              ) -> tuple[float, scalecmp.FitResult]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scalecmp.fit(frame, x="x", y="y", by="g", n_bootstrap=replicates,
                           workers=workers, progress=GroupProgress())
    return time.perf_counter() - t0, res


def summary(res: scalecmp.FitResult) -> np.ndarray:
    return np.array([np.r_[g.predict([1e12]), np.ravel(g.interval([1e12]))]
                     for g in res.groups])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=10000)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--workers", default="1", help="an integer, or auto")
    ap.add_argument("--alone", type=int, default=0,
                    help="also fit the first N groups one at a time and compare")
    args = ap.parse_args()
    frame = simulated(args.groups)
    workers = args.workers if args.workers == "auto" else int(args.workers)
    dt, res = timed_fit(frame, args.replicates, workers)
    print(f"{args.groups} groups x 8 rows, {args.replicates} replicates, batched "
          f"(up to {api.SERIES_PER_BATCH} groups a batch), workers {args.workers}: "
          f"{dt:.1f} s, "
          f"{1000 * dt / args.groups:.1f} ms a group; {len(res.skipped)} skipped")
    if args.alone:
        part = frame[frame["g"] < args.alone]
        batched = summary(res)[: args.alone]
        api.SERIES_PER_BATCH = 1
        dt1, res1 = timed_fit(part, args.replicates)
        diff = float(np.max(np.abs(summary(res1) - batched)))
        print(f"the first {args.alone} groups one at a time: {dt1:.1f} s, "
              f"{1000 * dt1 / args.alone:.1f} ms a group; largest difference of the "
              f"predictions and 95% intervals at 1e12: {diff:.3g}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB" + (f", of a worker {child:.0f} MiB" if child else ""))


if __name__ == "__main__":
    main()
