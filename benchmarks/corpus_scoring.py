"""The cross-family benchmark's scores: per-point errors, per-family scores, the paired
ratio to the better baseline and the leave-one-family-out choice."""

from __future__ import annotations

import numpy as np
import pandas as pd

from corpus_tasks import BASELINES, LEVEL, Prediction, Task

# ---------------------------------------------------------------------------------------
# scoring


def evaluate(name: str, task_list: list[Task], preds: list[Prediction]) -> pd.DataFrame:
    rows = []
    for t, (p, lo, hi) in zip(task_list, preds, strict=True):
        reach = np.log10(t.test_x / t.x_train.max())
        rows.append(pd.DataFrame({
            "method": name, "family": t.family, "kind": t.kind, "series": t.series,
            "cut": t.cut, "x": t.test_x, "reach": reach, "y": t.test_y,
            "pred": p, "lo": lo, "hi": hi}))
    df = pd.concat(rows, ignore_index=True)
    return df


def score(df: pd.DataFrame) -> pd.DataFrame:
    """Per (method, family): points, failed, mae, rel_mae, coverage, width, iscore,
    rel_iscore (see the module docstring), over the points ``pf_log`` predicted; a method's
    own failures (no prediction: the group was skipped or raised) are counted in
    ``failed`` and left out of its scores."""
    d = df.copy()
    d["ae"] = (d.pred - d.y).abs()
    d["rae"] = d.ae / d.y.abs()
    width = d.hi - d.lo
    miss = (d.lo - d.y).clip(lower=0) + (d.y - d.hi).clip(lower=0)
    d["width"] = width
    d["covered"] = (d.lo <= d.y) & (d.y <= d.hi)
    d["iscore"] = width + (2 / (1 - LEVEL)) * miss
    d["riscore"] = d.iscore / d.y.abs()
    d["ok"] = np.isfinite(d.pred)
    # the points scored: those the always-fitting baseline (pf_log) predicted
    key = ["family", "kind", "series", "cut", "x"]
    common = d[d.method == "pf_log"].set_index(key).ok.rename("common")
    d = d.join(common, on=key)
    d = d[d.common.fillna(False).astype(bool)]
    g = d[d.ok].groupby(["method", "family"])
    out = pd.DataFrame({
        "points": g.size(),
        "mae": g.ae.mean(),
        "rel_mae": g.rae.mean(),
        "coverage": g.covered.mean(),
        "width": g.width.median(),
        "iscore": g.iscore.mean(),
        "rel_iscore": g.riscore.mean(),
    })
    out["failed"] = d[~d.ok].groupby(["method", "family"]).size().reindex(out.index).fillna(0)
    return out


def paired_ratio(df: pd.DataFrame, method: str, family: str,
                 baselines: tuple[str, ...] = BASELINES) -> float:
    """Mean relative error of ``method`` over that of the better baseline on ``family``,
    both over the points that ``method`` and every baseline predicted (a baseline failing
    on more than a tenth of the family's points is left out; NaN when none is left)."""
    d = df[df.family == family].assign(cut=lambda v: v.cut.fillna(0.0))  # 0: own cut
    key = ["kind", "series", "cut", "x"]
    rel = d.assign(r=(d.pred - d.y).abs() / d.y.abs()).pivot_table(
        index=key, columns="method", values="r")
    if method not in rel:
        return float("nan")
    base = [b for b in baselines if b in rel and rel[b].notna().mean() >= 0.9]
    if not base:
        return float("nan")
    ok = rel[[method, *base]].notna().all(axis=1)
    if not ok.any():
        return float("nan")
    r = rel[ok]
    return float(r[method].mean() / min(r[b].mean() for b in base))


def lofo(df: pd.DataFrame, table: pd.DataFrame, candidates: list[str],
         baselines: tuple[str, ...] = BASELINES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For each family F: the candidate with the smallest geometric mean, over the other
    families, of its :func:`paired_ratio`; that choice's ratio and its scores on F (rows of
    ``table``, :func:`score` of ``df``). Also the ratios, family x candidate."""
    fams = sorted(df.family.unique())
    ratio = pd.DataFrame({c: [paired_ratio(df, c, f, baselines) for f in fams]
                          for c in candidates}, index=fams)
    rows = []
    for fam in fams:
        others = ratio.drop(index=fam)
        gm = np.exp(np.log(others).mean())
        if gm.isna().all():
            continue
        choice = gm.idxmin()
        row = table.loc[(choice, fam)].to_dict() if (choice, fam) in table.index else {}
        rows.append({"family": fam, "choice": choice,
                     "ratio_to_best_baseline": float(ratio.loc[fam, choice]), **row})
    # one family alone has no other family to choose on: no row
    return pd.DataFrame(rows, columns=["family", "choice", "ratio_to_best_baseline"]
                        if not rows else None).set_index("family"), ratio

