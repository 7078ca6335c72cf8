"""Speed of a full comparison: 2 groups x 150 measurements, 1000 bootstrap replicates.

Times ``scalecmp.compare`` end to end (both fits with their bootstrap, then the comparison:
difference band, P(better), crossovers, compute multipliers, verdict) and the comparison
step alone on the fitted result. Target: the whole compare in <= 10 s on 2 cores.

Usage: ``python benchmarks/compare_speed.py [--repeats 3] [--n-bootstrap 1000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd


def make_frame(seed: int = 0) -> pd.DataFrame:
    """Two arms of 150 runs each (10 model sizes x 15 sample counts), arm b needing 1.5x."""
    rng = np.random.default_rng(seed)
    g = np.geomspace(4.0, 300.0, 10)
    s = np.geomspace(1.28e6, 3.07e9, 15)
    gg, ss = (a.ravel() for a in np.meshgrid(g, s, indexing="ij"))
    c = gg * ss
    rows = []
    for arm, m in (("a", 1.0), ("b", 1.5)):
        n_opt = 0.039 * c**0.28
        err = (40.0 * (c / m + 9e7) ** -0.21 + 0.09) * (1 + 0.02 * np.log(gg / n_opt) ** 2)
        err *= np.exp(rng.normal(0.0, 0.01, len(c)))
        rows.append(pd.DataFrame({"arm": arm, "gflops_total": c, "value": 1 - err}))
    return pd.concat(rows, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    from scalecmp import fit
    from scalecmp.compare import compare

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    frame = make_frame()
    kw = {"x": "gflops_total", "y": "value", "by": "arm", "maximize": True,
          "n_bootstrap": args.n_bootstrap, "at": [1e11, 1e12, 1e13]}
    compare(frame, **{**kw, "n_bootstrap": 50})  # warm-up (imports, caches)
    total, step = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        res = compare(frame, **kw)
        total.append(time.perf_counter() - t)
    fitted = fit(frame, x="gflops_total", y="value", by="arm", maximize=True,
                 n_bootstrap=args.n_bootstrap)
    for _ in range(args.repeats):
        t = time.perf_counter()
        compare(fitted, at=kw["at"])
        step.append(time.perf_counter() - t)
    print(f"2 groups x 150 points, {args.n_bootstrap} bootstrap replicates, "
          f"{args.repeats} repeats")
    print(f"  whole compare (fits + bootstrap + comparison): median {np.median(total):.2f} s, "
          f"max {max(total):.2f} s  (target <= 10 s)")
    print(f"  comparison step alone:                          median {np.median(step):.2f} s")
    print(f"  verdict: {res[0].verdict}")
    print("reproduce: python benchmarks/compare_speed.py "
          f"--repeats {args.repeats} --n-bootstrap {args.n_bootstrap}")
    return 0 if max(total) <= 10.0 else 1


if __name__ == "__main__":
    sys.exit(main())
