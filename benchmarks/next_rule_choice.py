"""How ``scalecmp next`` chooses its batch, decided on simulations it does not report.

With ``lasts = p`` > 0, ``next`` ranks and buys first the candidates that *last*: those
whose drawn outcome stays on their group's compute frontier once every candidate is
measured in at least a share ``p`` of the draws (``p_final >= p``, :mod:`scalecmp.acquire`).
``lasts = 0`` (the default) is the plain rule (every run lasts: gain per GFLOP alone).
This script replays the retrospective of :mod:`next_retrospective` (same protocol, goal and
baselines) on *development* seeds of its
simulated grids, 5-14 by default, disjoint from the seeds 0-4 that BENCHMARKS.md reports,
for each value of ``lasts`` asked, beside the baselines "cheapest first" and "the largest
model's next rung". The real comparisons (ImageNet, ADE20K) are not used here.

    .venv/bin/python benchmarks/next_rule_choice.py --lasts 0,0.3,0.5 --baselines \\
        --out next_rule_choice.json
    .venv/bin/python benchmarks/next_rule_choice.py --report next_rule_choice.json [...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import next_retrospective as nr  # noqa: E402

BASELINES = ("cheapest", "largest")


def run(seeds: list[int], lasts: list[float], baselines: bool, out: str,
        ladder: str = "even") -> dict:
    res: dict = {"seeds": seeds, "ladder": ladder, "reached": {}}
    for s in seeds:
        frame, _ = nr.simulate(s, ladder)
        goal = nr.state(frame, nr.AT)
        row = res["reached"].setdefault(str(s), {})
        plan = [(f"lasts={v:g}", "next", v) for v in lasts]
        if baselines:
            plan += [(b, b, 0.0) for b in BASELINES]
        for label, strategy, v in plan:
            t0 = time.perf_counter()
            r = nr.retrospective(frame, strategy, nr.AT, nr.RHO, goal, 0, progress=False,
                                 lasts=v)
            row[label] = r["reached"]
            print(f"sim{s} {label}: {r['reached']} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
            Path(out).write_text(json.dumps(res, indent=1))
    return res


def report(paths: list[str]) -> None:
    """One table of every results file: compute to the goal / the best baseline."""
    merged: dict[str, dict] = {}
    for p in paths:
        for s, row in json.loads(Path(p).read_text())["reached"].items():
            merged.setdefault(s, {}).update(row)
    merged = {s: row for s, row in merged.items() if s.isdigit()}  # the simulations
    rules = sorted({k for row in merged.values() for k in row if k.startswith("lasts=")})
    print("| seed | best baseline (GFLOPs) | " + " | ".join(rules) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in rules) + " |")
    ratios: dict[str, list[float]] = {r: [] for r in rules}
    for s in sorted(merged, key=int):
        row = merged[s]
        base = min((row.get(b) or np.inf) for b in BASELINES)
        cells = []
        for r in rules:
            v = row.get(r)
            ratio = (v if v is not None else np.inf) / base
            ratios[r].append(ratio)
            cells.append(f"{ratio:.2f}")
        print(f"| sim{s} | {base:.3g} | " + " | ".join(cells) + " |")
    print("| median | | " + " | ".join(f"**{np.median(ratios[r]):.2f}**" for r in rules)
          + " |")
    print("| worst | | " + " | ".join(f"{np.max(ratios[r]):.2f}" for r in rules) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sim-seeds", default="5,6,7,8,9,10,11,12,13,14")
    ap.add_argument("--lasts", default="0,0.3,0.5")
    ap.add_argument("--baselines", action="store_true")
    ap.add_argument("--ladder", default="even", choices=nr.LADDERS,
                    help="the simulated size ladder (next_retrospective.simulate)")
    ap.add_argument("--out", default="next_rule_choice.json")
    ap.add_argument("--report", nargs="+", metavar="FILE")
    args = ap.parse_args()
    if args.report:
        report(args.report)
        return
    run([int(s) for s in args.sim_seeds.split(",") if s],
        [float(v) for v in args.lasts.split(",") if v], args.baselines, args.out,
        args.ladder)


if __name__ == "__main__":
    main()
