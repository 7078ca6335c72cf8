"""Would intervals calibrated by reach be sharper and still honest? (issue 17, item 4)

Reads the per-point results of ``benchmarks/corpus.py`` (dense and ``--sparse``) for the
default method and rescales each 95% interval around its prediction in log error:
``lo' = pred (lo / pred)^c``, ``hi' = pred (hi / pred)^c``, which is what scaling every
replicate's log deviation from the point fit by ``c`` does to its percentiles. Two
families of ``c``:

* ``c = 1 + b r``: wider by ``b`` per decade of reach ``r`` (decades beyond the fitted
  data), the calibration by reach the issue asks about;
* ``c = k``: one constant for every reach.

Per family: coverage, and the mean relative interval score (Gneiting and Raftery 2007:
width + 40 x the miss, over |y|; lower is better). The choice, family left out in turn,
is the value that makes no other family's interval score worse than the default's
(``b = 0``, ``k = 1``) and, among those, the lowest geometric mean over the others.

    python benchmarks/interval_reach.py corpus.parquet corpus_sparse.parquet
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

WIDEN = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)
SCALE = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2)


def points(dense: str, sparse: str | None, method: str) -> pd.DataFrame:
    parts = []
    for path, tag in ((dense, "dense"), (sparse, "sparse")):
        if path is None:
            continue
        d = pd.read_parquet(path)
        d = d[(d.method == method) & d.pred.notna() & d.lo.notna()]
        d = d[(d.pred > 0) & (d.lo > 0) & (d.hi > 0)]
        parts.append(d.assign(family=tag + " " + d.family))
    return pd.concat(parts, ignore_index=True)


def scored(a: pd.DataFrame, c: np.ndarray) -> pd.DataFrame:
    lo = a.pred * np.exp(c * np.log(a.lo / a.pred))
    hi = a.pred * np.exp(c * np.log(a.hi / a.pred))
    miss = np.maximum(lo - a.y, 0) + np.maximum(a.y - hi, 0)
    out = a.assign(iscore=(hi - lo + 40 * miss) / a.y.abs(), inside=(a.y >= lo) & (a.y <= hi))
    return out.groupby("family").agg(coverage=("inside", "mean"), iscore=("iscore", "mean"))


def table(a: pd.DataFrame, values: tuple[float, ...], form: str) -> pd.DataFrame:
    rows = []
    r = a.reach.clip(lower=0).to_numpy()
    for v in values:
        c = 1 + v * r if form == "widen" else np.full(len(a), v)
        rows.append(scored(a, c).assign(value=v))
    return pd.concat(rows).reset_index()


def lofo(t: pd.DataFrame, default: float) -> pd.DataFrame:
    iscore = t.pivot(index="family", columns="value", values="iscore")
    ratio = iscore.div(iscore[default], axis=0)
    out = []
    for fam in ratio.index:
        others = ratio.drop(index=fam)
        ok = [v for v in ratio.columns if (others[v] <= 1.0 + 1e-12).all()]
        gm = np.exp(np.log(others[ok]).mean())
        choice = gm.idxmin()
        cov = t[(t.family == fam) & (t.value == choice)].coverage.iloc[0]
        out.append({"left out": fam, "choice": choice,
                    "iscore / default's": ratio.loc[fam, choice], "coverage": cov})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dense")
    ap.add_argument("sparse", nargs="?")
    ap.add_argument("--method", default="auto")
    args = ap.parse_args()
    a = points(args.dense, args.sparse, args.method)
    pd.set_option("display.width", 200)
    for form, values, default in (("widen", WIDEN, 0.0), ("scale", SCALE, 1.0)):
        t = table(a, values, form)
        print(f"\n== c = {'1 + b reach' if form == 'widen' else 'k'}: coverage")
        print(t.pivot(index="family", columns="value", values="coverage").round(3).to_string())
        print("mean relative interval score")
        print(t.pivot(index="family", columns="value", values="iscore").round(4).to_string())
        print("family left out in turn")
        print(lofo(t, default).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
