"""Hindsight for issue 20: with every outcome known, how little compute reaches the goal of
the ``next`` retrospective (:mod:`next_retrospective`)? If even hindsight needs more than
half of what the best baseline spends, the criterion "``next`` with <= 50% of the best
baseline's compute" cannot be met by any buyer.

The goal is the retrospective's: the runs below 1e10 GFLOPs are held; a set of bought runs
reaches the goal when its fit (the defaults, seed 0) gives, at the target compute, the
full-data pointwise verdict and a 95% difference band no wider than 1.2 x the full-data
band. Any strategy's holdings at the step it reaches the goal form such a set, so the
cheapest such set bounds every strategy from below.

The cheapest set is searched by backward elimination with hindsight: start from every run,
try to drop the runs one at a time from the most expensive down, and drop each one whose
absence keeps the goal reached (one fit per try). The set left is an upper bound of the
cheapest set's cost (greedy, not exhaustive): if it is at most half the best baseline's,
the criterion is within reach; if it is more, hindsight by this search did not find it.

    .venv/bin/python benchmarks/next_oracle.py --comparison imagenet --baseline 9.06e12
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import next_retrospective as nr  # noqa: E402


def reaches(held: pd.DataFrame, goal: dict, at: float) -> tuple[bool, dict]:
    st = nr.state(held, at)
    ok = st["better"] == goal["better"] and st["width"] <= nr.GOAL_FACTOR * goal["width"]
    return ok, st


def eliminate(frame: pd.DataFrame, at: float) -> dict:
    """Backward elimination (see the module docstring); the set kept and every try."""
    frame = frame.reset_index(drop=True)
    base = frame[frame.gflops_total < nr.START]
    cand = frame[frame.gflops_total >= nr.START].sort_values("gflops_total",
                                                             ascending=False)
    goal = nr.state(frame, at)
    keep = list(cand.index)
    tries = []
    t0 = time.perf_counter()
    for i in list(cand.index):
        trial = [j for j in keep if j != i]
        ok, st = reaches(pd.concat([base, frame.loc[trial]]), goal, at)
        if ok:
            keep = trial
        tries.append({"run": [str(frame.at[i, nr.BY]), str(frame.at[i, "model"]),
                              float(frame.at[i, "samples_seen"])],
                      "gflops": float(frame.at[i, "gflops_total"]), "dropped": ok,
                      "width": st["width"], "verdict": st["better"],
                      "kept_gflops": float(frame.loc[keep, "gflops_total"].sum())})
        print(f"  try {len(tries):3d}: drop {tries[-1]['run']} ({tries[-1]['gflops']:.3g}) "
              f"-> width {st['width']:.4f}, verdict {st['better']}: "
              f"{'dropped' if ok else 'kept'}; held {tries[-1]['kept_gflops']:.3g} GFLOPs "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"goal": {k: v for k, v in goal.items() if k != "fit"},
            "all_gflops": float(cand.gflops_total.sum()),
            "kept_gflops": float(frame.loc[keep, "gflops_total"].sum()),
            "kept": [[str(frame.at[j, nr.BY]), str(frame.at[j, "model"]),
                      float(frame.at[j, "samples_seen"]), float(frame.at[j, "gflops_total"])]
                     for j in keep],
            "tries": tries, "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comparison", default="imagenet",
                    help="imagenet, or sim:SEED (the retrospective's simulations)")
    ap.add_argument("--at", type=float, default=1e12)
    ap.add_argument("--baseline", type=float, required=True,
                    help="GFLOPs the best baseline of the retrospective needed")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.comparison == "imagenet":
        frame = nr.imagenet()
    elif args.comparison.startswith("sim:"):
        frame = nr.simulate(int(args.comparison.split(":")[1]))[0]
    else:
        raise SystemExit(f"unknown comparison {args.comparison!r}")
    out = eliminate(frame, args.at)
    out.update(comparison=args.comparison, baseline=args.baseline,
               ratio=out["kept_gflops"] / args.baseline)
    print(f"{args.comparison}: goal width {out['goal']['width']:.4f} (x1.2 = "
          f"{nr.GOAL_FACTOR * out['goal']['width']:.4f}), verdict {out['goal']['better']}; "
          f"every run above the start {out['all_gflops']:.3g} GFLOPs; hindsight keeps "
          f"{len(out['kept'])} runs, {out['kept_gflops']:.3g} GFLOPs = "
          f"{out['ratio']:.2f} x the best baseline ({args.baseline:.3g})")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
