"""More batch rules for ``scalecmp next``, measured and not adopted (BENCHMARKS.md, 10d).

``--rule plan``, a look-ahead. The plain rule values a run by how much it narrows the band
*now*, per GFLOP. Hindsight (``next_oracle.py``) keeps a small set of runs that reaches the
goal; this rule tries to find such a set in expectation, before the outcomes are known:

    plan = backward elimination over the candidates: start from all of them (the expected
    width W_all after buying every one, on next's joint outcome draws), give back the most
    expensive first, each run whose absence keeps the expected width <= factor x W_all.

Each step's batch is then next's greedy batch under the step budget among the plan's runs
only (where none of them helps, next's own fall-back: the best affordable run of all).
``factor`` is the goal's own 1.2, fixed before any run.

``--rule fallback``: ``lasts = 0.5`` (runs that last are bought first, BENCHMARKS.md 10c),
but where no run that lasts helps, the plain rule's greedy batch over every candidate
instead of the best affordable run alone (the single run that made ``lasts`` crawl on the
study's ladders).

``--rule tolerance``: ``lasts = 0.5`` with ``p_final`` counted within one measurement
scatter of the frontier: a run lasts in a draw when its outcome is below ``best + sigma``
(log error; ``sigma`` its group's, next's own), so that neighbours of equal cost no longer
split their chance (the density-free form BENCHMARKS.md 10c points to).

``--rule fill``: ``lasts = 0.5``, and the budget that the batch of runs that last leaves
is then spent greedily by gain per GFLOP over every other candidate, each valued given the
runs already in the batch (so a step never buys a single cheap run where the budget affords
more). ``--rule tolerance+fallback``, ``tolerance+fill``: both.

Everything else is the retrospective's protocol (``next_retrospective.py``): the
development simulations (seeds 5-14, ``next_rule_choice.py``'s) and the reported
comparisons are run by the same code.

    .venv/bin/python benchmarks/next_rules.py --rule plan --comparisons sim \\
        --sim-seeds 5,6,7,8,9,10,11,12,13,14 --out plan_dev.json
    .venv/bin/python benchmarks/next_rules.py --rule plan --comparisons imagenet,ade20k \\
        --out plan_real.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import next_retrospective as nr  # noqa: E402
from scalecmp import acquire  # noqa: E402

FACTOR = 1.2  # the goal's own factor (a band within 1.2x the full-data band)


def plan(sim: acquire._Simulation, factor: float = FACTOR) -> list[int]:
    """The candidates kept by backward elimination (module docstring)."""
    keep = list(range(len(sim.c)))
    w_all = float(np.mean(sim.evaluate(keep)["width"]))
    for k in np.argsort(-sim.c, kind="stable"):
        trial = [j for j in keep if j != k]
        if float(np.mean(sim.evaluate(trial)["width"])) <= factor * w_all:
            keep = trial
    return keep


def fill(sim: acquire._Simulation, ranked: list[dict], picks: list[dict], summary: dict,
         budget: float) -> tuple[list[dict], dict]:
    """The budget that next's batch leaves, spent greedily by gain per GFLOP over every
    other candidate, each valued given the runs already in the batch (joint draws)."""
    key = {(str(r["group"]), r["model"], r["samples"], r["compute"]): r for r in ranked}
    members = [key[(str(p["group"]), p["model"], p["samples"], p["compute"])]["_k"]
               for p in picks]
    spent = float(sum(p["compute"] for p in picks))
    w = float(np.mean(sim.evaluate(members)["width"])) if members else summary["width_now"]
    added = []
    while True:
        best = None
        for r in ranked:
            k = r["_k"]
            if k in members or spent + r["compute"] > budget * (1 + 1e-12):
                continue
            w_k = float(np.mean(sim.evaluate([*members, k])["width"]))
            score = (w - w_k) / r["compute"]
            if score > 0 and (best is None or score > best[0]):
                best = (score, r, w_k)
        if best is None:
            break
        score, r, w = best
        members.append(r["_k"])
        spent += r["compute"]
        added.append({**{kk: v for kk, v in r.items() if kk != "_k"},
                      "step": len(picks) + len(added) + 1, "batch_width": w,
                      "batch_gain_per_gflop": score})
    if not added:
        return picks, summary
    return [*picks, *added], {**summary, "compute": spent, "n_runs": len(picks) + len(added),
                              "expected_width": w, "rule": f"{summary['rule']}, filled"}


def install(rule: str, factor: float = FACTOR) -> float:
    """Replace ``next_runs``'s batch rule by ``rule``'s (``a+b``: both); returns the
    ``lasts`` to use."""
    if "+" in rule:
        return max(install(part, factor) for part in rule.split("+"))
    greedy = acquire._greedy
    if rule == "fallback":
        def fallback(sim, ranked, w0, budget, some_last):  # type: ignore[no-untyped-def]
            picks, summary = greedy(sim, ranked, w0, budget, some_last)
            if budget is not None and summary["rule"] != "gain per GFLOP, runs that last" \
                    and summary["rule"] != "gain, runs that last":
                every = [{**r, "lasts": True} for r in ranked]
                picks, summary = greedy(sim, every, w0, budget, False)
            return picks, summary

        acquire._greedy = fallback
        return 0.5
    if rule == "fill":
        def filled(sim, ranked, w0, budget, some_last):  # type: ignore[no-untyped-def]
            picks, summary = greedy(sim, ranked, w0, budget, some_last)
            if budget is None:
                return picks, summary
            return fill(sim, ranked, picks, summary, budget)

        acquire._greedy = filled
        return 0.5
    if rule == "tolerance":
        strict = acquire._Simulation._p_final

        def p_final(self):  # type: ignore[no-untyped-def]
            return strict(self, tol=1.0)

        acquire._Simulation._p_final = p_final
        return 0.5
    if rule != "plan":
        raise ValueError(rule)

    def planned(sim, ranked, w0, budget, some_last):  # type: ignore[no-untyped-def]
        if budget is None:
            return greedy(sim, ranked, w0, budget, some_last)
        keep = set(plan(sim, factor)) & {r["_k"] for r in ranked if r["lasts"]}
        if not keep:
            return greedy(sim, ranked, w0, budget, some_last)
        # the greedy passes run over the plan's runs; the fall-back (no run of them
        # helps: the best affordable run alone) over every candidate, as without a plan
        mine = [{**r, "lasts": r["_k"] in keep} for r in ranked]
        return greedy(sim, mine, w0, budget, some_last)

    acquire._greedy = planned
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rule", required=True,
                    choices=("plan", "fallback", "tolerance", "tolerance+fallback", "fill",
                             "tolerance+fill"))
    ap.add_argument("--comparisons", default="imagenet,ade20k")
    ap.add_argument("--sim-seeds", default="5,6,7,8,9,10,11,12,13,14")
    ap.add_argument("--factor", type=float, default=FACTOR)
    ap.add_argument("--ladder", default="even", choices=nr.LADDERS,
                    help="the simulated size ladder (next_retrospective.simulate)")
    ap.add_argument("--out", default="next_rules.json")
    args = ap.parse_args()
    lasts = install(args.rule, args.factor)
    rule = f"lasts={lasts:g},{args.rule}"
    # "reached" as next_rule_choice.py writes it (its --report reads both): per seed (the
    # simulations) or comparison name, per rule, the GFLOPs bought to the goal
    out: dict = {"rule": rule, "factor": args.factor, "ladder": args.ladder,
                 "reached": {}, "steps": {}, "goals": {}}
    for name in args.comparisons.split(","):
        if name == "sim":
            runs = [(s, nr.simulate(int(s), args.ladder)[0])
                    for s in args.sim_seeds.split(",")]
        else:
            runs = [(name, {"imagenet": nr.imagenet, "ade20k": nr.ade20k}[name]())]
        for label, frame in runs:
            goal = nr.state(frame, nr.AT)
            r = nr.retrospective(frame, "next", nr.AT, nr.RHO, goal, 0, progress=False,
                                 lasts=lasts)
            out["reached"][label] = {rule: r["reached"]}
            out["steps"][label] = r["steps"]
            out["goals"][label] = {k: v for k, v in goal.items() if k != "fit"}
            print(f"{label}: {rule} reached the goal with {r['reached']} GFLOPs", flush=True)
            Path(args.out).write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
