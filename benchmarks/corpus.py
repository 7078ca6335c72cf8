"""The cross-family benchmark (issue 17): every real family of the development corpus, cut by
fixed rules, fitted by scalecmp's candidate defaults and by two baselines, with every
default chosen by leave-one-family-out.

Families (all of ``../shared/data/families`` plus ``../shared/data/laion2025``):

* ``m4_lang``: 20 learning curves, the source's own fit/extrapolate split (``is_train``);
* ``misfitting``: the frontier of all 261 final runs pooled (one series), and the 11
  per-size series of best-learning-rate runs;
* ``misfitting_ckpt``: 240 per-run learning curves (checkpoints of a decaying schedule);
* ``pythia``: the frontier of every (task, metric, deduped) over 7-8 sizes, x = 6ND, and
  the 135 per-model learning curves, x = tokens;
* ``obsscaling``: the frontier of every task across 39 model families, and the per-family
  series (1-10 models each: sparse);
* ``laion2025``: the study's DataComp ImageNet series and every segmentation run (the tasks
  of benchmarks/families.py, cuts 1e11 and 3e10 GFLOPs).

Cut rule (fixed before any fit, the same for every family but ``m4_lang`` and
``laion2025``, which keep their own): a series *qualifies* at a cut when it has >= 2
non-dominated points above the cut and >= 1.5 decades of x (and >= 4 points) at or below it.
Per family and kind, the cuts are the two largest powers of ten at which >= 90% of the
series qualify (when no power of ten reaches 90%: the one where most do, and the next
lower one). Where the series do not share an x range (fewer than half qualify at every
power of ten: per-run learning curves of different sizes), each series is cut on its own,
2/3 of its log-x span below, 1/3 above, keeping those with >= 4 points below and >= 2
non-dominated points above. Held out: the non-dominated points of the whole series above
the cut (lower y than every cheaper point). A metric that is an error rate (``y_kind ==
"error"``, and the study's accuracies) is fitted as the user would: its accuracy, with
``maximize``.

Scores per family (on the held-out points; y is always lower-is-better here): MAE in y's
units, relative MAE (mean ``|pred - y| / y``), coverage of the 95% intervals, median
interval width, interval score (Gneiting and Raftery 2007: ``hi - lo + 40 (lo - y)^+ + 40
(y - hi)^+``; lower is better) and its relative form (divided by y). Methods:

* ``pf_log`` (baseline): ``y = a x^-b + c`` (3 parameters), least squares of log y, 95%
  interval from a pairs bootstrap (200 replicates);
* ``recipe`` (baseline): the study's recipe, the ``laion2025`` preset's law, loss,
  weighting, frontier, priors and start grid (:data:`RECIPE`), on scalecmp's optimiser
  instead of 3,200 ``curve_fit`` runs per replicate, which take minutes a series;
* ``m4`` (baseline on learning curves, Alabdulmohsin et al. 2022): ``(y - y_inf) / (y0 -
  y)^a = b x^c`` with ``y0`` the first training point, least squares of log y;
* candidates of scalecmp's default (:data:`CANDIDATES`).

Leave-one-family-out: for each family F, the candidate with the smallest geometric mean over
the *other* families of its relative MAE divided by the better baseline's is the choice made
without F, and is reported on F.

``--sparse``: every task thinned to a sparse series, as an earlier open CLIP study measured
them (6 runs a series, 4 on the frontier): of the task's training points, the 4 frontier
points at evenly spaced ranks of the frontier (first and last included) and 2 dominated
points drawn at random (seed 0 per family), same held-out points; tasks whose training
frontier has fewer than 5 points are left out. Its second baseline is ``recipe_exact``:
the study's ``curve_fit`` of ``A (x + B)^alpha + E`` through the frontier points from 96
starts of its grid (point predictions only), since the ``recipe`` preset needs 5 points.
Its candidates (:data:`SPARSE_CANDIDATES`) differ in the pool of a 4-point series.

    .venv/bin/python benchmarks/corpus.py [--families a,b] [--methods a,b] [--sparse]
        [--n-bootstrap 200] [--out corpus_results.parquet] [--max-series 60]
    .venv/bin/python benchmarks/corpus.py --report corpus_results.parquet [--sparse]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_methods import CANDIDATES, SPARSE_CANDIDATES, methods  # noqa: E402
from corpus_scoring import evaluate, lofo, score  # noqa: E402
from corpus_tasks import (  # noqa: E402
    BASELINES,
    FAMILIES,
    SPARSE_BASELINES,
    sparse_tasks,
    tasks,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--methods", default=None, help="comma-separated (default: all)")
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--max-series", type=int, default=60,
                    help="series per family and kind (evenly spaced; 0: all)")
    ap.add_argument("--out", default="corpus_results.parquet")
    ap.add_argument("--report", metavar="FILE")
    ap.add_argument("--merge", metavar="FILE",
                    help="an earlier results file: its rows of other (method, family) kept")
    ap.add_argument("--sparse", action="store_true",
                    help="the sparse protocol: every task thinned to 4 frontier points + 2")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    if args.report:
        report(pd.read_parquet(args.report), args.sparse)
        return
    all_methods = methods(args.n_bootstrap, args.sparse)
    make_tasks = sparse_tasks if args.sparse else tasks
    names = args.methods.split(",") if args.methods else list(all_methods)
    frames = []
    for fam in args.families.split(","):
        tl = make_tasks(fam, args.max_series or None)
        cuts = sorted({(t.kind, t.cut) for t in tl})
        print(f"{fam}: {len(tl)} tasks, {sum(len(t.test_x) for t in tl)} held-out points, "
              f"cuts {', '.join(f'{k} {c:.0e}' for k, c in cuts)}", flush=True)
        for name in names:
            sub = [t for t in tl if name != "m4" or t.kind == "curve"]
            if not sub:
                continue
            t0 = time.perf_counter()
            frames.append(evaluate(name, sub, all_methods[name](sub)))
            print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    df = pd.concat(frames, ignore_index=True)
    if args.merge:
        old = pd.read_parquet(args.merge)
        done = set(zip(df.method, df.family, strict=True))
        keep = [(m, f) not in done for m, f in zip(old.method, old.family, strict=True)]
        df = pd.concat([old[keep], df], ignore_index=True)
    df.to_parquet(args.out)
    report(df, args.sparse)


def report(df: pd.DataFrame, sparse: bool = False) -> None:
    pd.set_option("display.float_format", lambda v: f"{v:.4g}")
    table = score(df)
    print(table.to_string())
    pool, baselines = ((SPARSE_CANDIDATES, SPARSE_BASELINES) if sparse
                       else (CANDIDATES, BASELINES))
    cands = [c for c in pool if c in table.index.get_level_values("method")]
    if cands and all(b in table.index.get_level_values("method") for b in baselines):
        choice, ratio = lofo(df, table, cands, baselines)
        print("\nrelative MAE / the better baseline's, on the points both predicted:")
        print(ratio.to_string())
        print("\nleave-one-family-out choice (by that ratio, geometric mean over the others):")
        print(choice.to_string())


if __name__ == "__main__":
    main()
