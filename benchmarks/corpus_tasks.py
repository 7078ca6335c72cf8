"""The cross-family benchmark's tasks: the families of the development corpus cut by fixed
rules into (fit below, predict above) tasks, and their sparse thinning (the rules: the
docstring of ``benchmarks/corpus.py``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import families as laion  # noqa: E402
from scalecmp.engine.frontier import naive_frontier  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPUS = SHARED / "families"
FAMILIES = ("m4_lang", "misfitting", "misfitting_ckpt", "pythia", "obsscaling", "laion2025")
LEVEL = 0.95
MIN_DECADES_BELOW = 1.5
MIN_POINTS_BELOW = 4
MIN_ABOVE = 2
QUALIFY_SHARE = 0.9
BASELINES = ("pf_log", "recipe")
SPARSE_BASELINES = ("pf_log", "recipe_exact")


@dataclass(frozen=True)
class Task:
    """Fit on (x_train, y_train), predict (test_x, test_y); y lower is better.
    ``bounded``: y is an error rate in [0, 1] (fitted as accuracy 1 - y with maximize)."""

    family: str
    kind: str
    series: str
    cut: float
    bounded: bool
    x_train: np.ndarray
    y_train: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.family}|{self.kind}|{self.series}|{self.cut:.4g}"


# ---------------------------------------------------------------------------------------
# tasks


def _held_out(x: np.ndarray, y: np.ndarray, cut: float) -> tuple[np.ndarray, np.ndarray]:
    front = naive_frontier(x, y) & (x > cut)
    order = np.argsort(x[front], kind="stable")
    return x[front][order], y[front][order]


def _split(x: np.ndarray, y: np.ndarray, cut: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The held-out points of a series that qualifies at ``cut`` (module docstring), else
    None."""
    below = x <= cut
    if below.sum() < MIN_POINTS_BELOW or np.log10(cut / x[below].min()) < MIN_DECADES_BELOW:
        return None
    tx, ty = _held_out(x, y, cut)
    return (tx, ty) if len(tx) >= MIN_ABOVE else None


def choose_cuts(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[tuple[float, float]]:
    """The two largest powers of ten at which >= 90% of ``series`` qualify (see the module
    docstring); when none reaches 90%, the best-qualifying one and the next lower. Each
    with the share of the series that qualify there."""
    lo = min(np.log10(x.min()) for x, _ in series.values())
    hi = max(np.log10(x.max()) for x, _ in series.values())
    cuts = [10.0 ** k for k in range(int(np.ceil(lo)), int(np.floor(hi)) + 1)]
    share = np.array([np.mean([_split(x, y, c) is not None for x, y in series.values()])
                      for c in cuts])
    if not len(cuts) or share.max() == 0:
        return []
    ok = np.flatnonzero(share >= QUALIFY_SHARE)
    top = int(ok[-1]) if len(ok) else int(np.argmax(share))
    return [(cuts[i], float(share[i])) for i in (top, top - 1) if i >= 0 and share[i] > 0]


def _relative_cut(x: np.ndarray) -> float:
    """The series' own cut: 2/3 of its log-x span below, 1/3 above."""
    lo, hi = np.log10(x.min()), np.log10(x.max())
    return float(10.0 ** (lo + (2.0 / 3.0) * (hi - lo)))


def _cut_family(family: str, kind: str, series: dict, bounded: dict) -> list[Task]:
    out = []
    cuts = choose_cuts(series)
    if max((share for _, share in cuts), default=0.0) < 0.5:
        # the series do not share an x range: each is cut on its own
        for name, (x, y) in series.items():
            cut = _relative_cut(x)
            tx, ty = _held_out(x, y, cut)
            below = x <= cut
            if below.sum() >= MIN_POINTS_BELOW and len(tx) >= MIN_ABOVE:
                out.append(Task(family, kind, name, np.nan, bounded[name], x[below],
                                y[below], tx, ty))
        return out
    for cut, _ in cuts:
        for name, (x, y) in series.items():
            held = _split(x, y, cut)
            if held is None:
                continue
            below = x <= cut
            out.append(Task(family, kind, name, cut, bounded[name], x[below], y[below], *held))
    return out


def _series(d: pd.DataFrame, by: list[str], x: str = "x") -> tuple[dict, dict]:
    series, bounded = {}, {}
    for key, g in d.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        name = "/".join(map(str, key))
        g = g[np.isfinite(g[x]) & np.isfinite(g["y"]) & (g[x] > 0) & (g["y"] > 0)]
        if len(g) < 3:
            continue
        series[name] = (g[x].to_numpy(float), g["y"].to_numpy(float))
        bounded[name] = bool((g["y_kind"] == "error").all() and g["y"].max() <= 1.0)
    return series, bounded


def tasks(family: str, max_series: int | None = None) -> list[Task]:
    """Every task of ``family``; ``max_series`` keeps an evenly spaced subset of the series
    of each kind (for quick runs; None: all)."""

    def thin(s: dict, b: dict) -> tuple[dict, dict]:
        if max_series is None or len(s) <= max_series:
            return s, b
        keep = [sorted(s)[i] for i in np.linspace(0, len(s) - 1, max_series).round().astype(int)]
        return {k: s[k] for k in keep}, {k: b[k] for k in keep}

    if family == "laion2025":
        out = []
        for fam in ("datacomp", "segmentation"):
            for t in laion.tasks(fam):
                out.append(Task("laion2025", fam, t.series, t.cut, True,
                                t.train["x"].to_numpy(float), 1.0 - t.train["y"].to_numpy(float),
                                np.asarray(t.test_x, float), 1.0 - np.asarray(t.test_y, float)))
        return out
    d = pd.read_csv(CORPUS / f"{family}.csv")
    if family == "m4_lang":
        out = []
        for name, g in d.groupby("series", sort=True):
            tr, te = g[g.is_train == 1], g[g.is_train == 0]
            bounded = bool((g.y_kind == "error").all() and g.y.max() <= 1.0)
            out.append(Task(family, "curve", name, float(tr.x.max()), bounded,
                            tr.x.to_numpy(float), tr.y.to_numpy(float),
                            te.x.to_numpy(float), te.y.to_numpy(float)))
        return out
    parts: list[tuple[str, tuple[dict, dict]]] = []
    if family == "misfitting":
        parts.append(("frontier", _series(d.assign(all="all"), ["all"])))
        parts.append(("size", _series(d[d.best_lr == 1], ["series"])))
    elif family == "misfitting_ckpt":
        parts.append(("curve", _series(d, ["series"])))
    elif family == "pythia":
        f = d.assign(x=d.flops_6ND_nominal)
        parts.append(("frontier", _series(f, ["task", "metric", "deduped"])))
        parts.append(("curve", _series(d, ["series"])))
    elif family == "obsscaling":
        parts.append(("frontier", _series(d, ["task"])))
        parts.append(("family", _series(d, ["series"])))
    else:
        raise ValueError(f"unknown family {family!r}")
    out = []
    for kind, (s, b) in parts:
        out += _cut_family(family, kind, *thin(s, b))
    return out


def sparse_tasks(family: str, max_series: int | None = None) -> list[Task]:
    """The tasks of ``family`` thinned to 4 frontier points and 2 dominated ones (module
    docstring, ``--sparse``)."""
    rng = np.random.default_rng(0)
    out = []
    for t in tasks(family, max_series):
        x, y = t.x_train, t.y_train
        front = np.flatnonzero(naive_frontier(x, y))
        front = front[np.argsort(x[front], kind="stable")]
        if len(front) < 5:
            continue
        pick = front[np.unique(np.round(np.linspace(0, len(front) - 1, 4)).astype(int))]
        off = np.setdiff1d(np.arange(len(x)), front)
        if len(off):
            pick = np.r_[pick, rng.choice(off, min(2, len(off)), replace=False)]
        out.append(Task(t.family, f"sparse_{t.kind}", t.series, t.cut, t.bounded, x[pick],
                        y[pick], t.test_x, t.test_y))
    return out


#: what a method returns per task: (prediction, interval low, interval high) at its test
#: points (NaN: failed)
Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]
