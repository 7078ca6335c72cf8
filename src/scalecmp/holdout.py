"""Held-out validation of scaling-law predictions, and the cosine vs constant-LR gap.

:func:`holdout_check` is the check a report opens with: for every series (e.g. each
(task, metric) of a measurement table) and every group of ``by`` (each procedure), fit the
law on the runs at or below a compute ``threshold`` only, predict the compute-frontier runs
above it (the *held-out* runs, never seen by the fit) and compare: mean absolute error in
the metric's units and the share of held-out runs inside their prediction intervals. A
series passes when its held-out runs (pooled over its groups) have a mean absolute error
``<= mae_max`` (default 0.03: 3 percentage points of a metric in [0, 1]) and a coverage
``>= coverage_min`` (default 0.8); the check passes when every checked series does.

:func:`cosine_gap` measures the study's claim that constant-LR runs with cooldown branches
trace the same frontier as cosine runs: at the samples-seen value of every cosine run, the
cosine run's metric against the best constant-LR or cooldown point of the same (procedure,
size), and their difference.

This module needs only numpy and pandas; the figure of a check is
:func:`scalecmp.plots.holdout_figure`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.engine import FitOptions, fit_frame, fit_options
from scalecmp.engine.frontier import naive_frontier
from scalecmp.errors import DataError, ScalecmpError, ScalecmpWarning, UsageError
from scalecmp.files import json_safe
from scalecmp.format import fmt_compute as _fmt_x
from scalecmp.format import law_weights
from scalecmp.format import series_label as _label
from scalecmp.io import as_frame, check_unique
from scalecmp.validate import check_flag, check_positive, check_series_by, check_share

__all__ = [
    "COVERAGE_MIN",
    "HOLDOUT_FACTOR",
    "MAE_MAX",
    "HoldoutResult",
    "check_holdout_factor",
    "cosine_gap",
    "cosine_gap_lines",
    "holdout_check",
]

#: a series passes when the mean absolute error of its held-out runs is at most this
MAE_MAX = 0.03
#: ... and at least this share of them lies inside their prediction intervals
COVERAGE_MIN = 0.8
#: the default held-out threshold: each group's largest compute divided by this
HOLDOUT_FACTOR = 10.0


def check_holdout_threshold(threshold: float, x: Any, name: str = "threshold") -> None:
    """A held-out threshold must split the runs: some at or below it to fit, some above it
    to predict. ``x``: every run's compute (NaN ignored). One-line :class:`UsageError`
    naming ``name`` otherwise."""
    xs = np.asarray(x, dtype=float)
    xs = xs[np.isfinite(xs)]
    if xs.size == 0:
        return
    lo, hi = float(xs.min()), float(xs.max())
    if threshold < lo:
        raise UsageError(f"{name}: {_fmt_x(threshold)} is below every run's compute "
                         f"({_fmt_x(lo)} to {_fmt_x(hi)}): no run to fit")
    if threshold >= hi:
        raise UsageError(f"{name}: {_fmt_x(threshold)} is at or above every run's compute "
                         f"({_fmt_x(lo)} to {_fmt_x(hi)}): no run to predict")


def check_holdout_factor(holdout_factor: Any) -> None:
    """One-line :class:`UsageError` unless ``holdout_factor`` is a finite number > 1."""
    if not (isinstance(holdout_factor, int | float) and math.isfinite(holdout_factor)
            and holdout_factor > 1):
        raise UsageError(f"holdout_factor must be a number > 1, got {holdout_factor!r}")


def _as_list(v: str | Sequence[str] | None) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else [str(c) for c in v]


def _run_columns(series: Sequence[str], by: Sequence[str]) -> list[str]:
    """Columns of :attr:`HoldoutResult.runs`."""
    return [*series, *by, "x", "measured", "predicted", "lo", "hi", "abs_error", "inside"]


def _group_columns(series: Sequence[str], by: Sequence[str]) -> list[str]:
    """Columns of :attr:`HoldoutResult.groups`."""
    return [*series, *by, "threshold", "n_fit", "n_heldout", "mae", "max_error", "coverage",
            "law", "status"]


@dataclass(frozen=True)
class HoldoutResult:
    """The outcome of :func:`holdout_check` (immutable).

    ``runs``: one row per held-out run: the series and group columns, ``x`` (compute),
    ``measured``, ``predicted``, ``lo``, ``hi`` (the prediction interval at ``level``),
    ``abs_error`` and ``inside``. ``groups``: one row per (series, group): ``n_fit`` (runs
    the law was fitted to), ``n_heldout``, ``mae``, ``max_error``, ``coverage``, ``law``
    (the fitted law, or the mixture's weights) and ``status`` (``checked``, or why not).
    ``notes``: groups that were not checked and warnings of the held-out fits.
    """

    runs: pd.DataFrame
    groups: pd.DataFrame
    threshold: float | None
    x: str
    y: str
    by: tuple[str, ...]
    series: tuple[str, ...]
    maximize: bool
    level: float
    mae_max: float = MAE_MAX
    coverage_min: float = COVERAGE_MIN
    holdout_factor: float = HOLDOUT_FACTOR
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: errors relative to the measured value (``|predicted - measured| / measured``, for
    #: losses in any unit) instead of in the metric's units
    relative: bool = False

    @classmethod
    def not_made(cls, reason: str, *, x: str, y: str, by: Sequence[str],
                 series: Sequence[str], maximize: bool, level: float = 0.95,
                 threshold: float | None = None,
                 holdout_factor: float = HOLDOUT_FACTOR) -> HoldoutResult:
        """A check that could not be made: no run predicted, so it fails, with ``reason``
        as its note ("the check could not be made: <reason>")."""
        return cls(runs=pd.DataFrame(columns=_run_columns(series, by)),
                   groups=pd.DataFrame(columns=_group_columns(series, by)),
                   threshold=threshold, x=x, y=y, by=tuple(by), series=tuple(series),
                   maximize=maximize, level=level, holdout_factor=holdout_factor,
                   notes=(f"the check could not be made: {reason}",))

    # -- verdicts -------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Held-out runs predicted, all series together."""
        return len(self.runs)

    @property
    def mae(self) -> float:
        """Mean absolute error over every held-out run (metric units)."""
        return float(self.runs["abs_error"].mean()) if self.n else float("nan")

    @property
    def n_inside(self) -> int:
        return int(self.runs["inside"].sum()) if self.n else 0

    @property
    def coverage(self) -> float:
        """Share of held-out runs inside their prediction intervals."""
        return self.n_inside / self.n if self.n else float("nan")

    def series_table(self) -> pd.DataFrame:
        """One row per series: ``n``, ``mae``, ``max_error``, ``n_inside``, ``coverage``,
        ``passed`` (every group's held-out runs pooled)."""
        cols = [*self.series, "n", "mae", "max_error", "n_inside", "coverage", "passed"]
        if not self.n:
            return pd.DataFrame(columns=cols)
        keys = list(self.series)
        rows = []
        grouped = self.runs.groupby(keys, sort=False) if keys else [((), self.runs)]
        for key, part in grouped:
            key = key if isinstance(key, tuple) else (key,)
            mae = float(part["abs_error"].mean())
            cov = float(part["inside"].mean())
            rows.append({**dict(zip(keys, key, strict=True)), "n": len(part), "mae": mae,
                         "max_error": float(part["abs_error"].max()),
                         "n_inside": int(part["inside"].sum()), "coverage": cov,
                         "passed": bool(mae <= self.mae_max and cov >= self.coverage_min)})
        return pd.DataFrame(rows, columns=cols)

    @property
    def passed(self) -> bool:
        """Every series with held-out runs passes (and there is at least one)."""
        table = self.series_table()
        return bool(len(table) and table["passed"].all())

    # -- words ----------------------------------------------------------------------
    def _units(self) -> tuple[float, str]:
        """(scale, unit) of errors in prose: percentage points for metrics in [0, 1]."""
        vals = self.runs["measured"].to_numpy(float) if self.n else np.array([])
        if self.relative:
            return 100.0, "%"
        if self.maximize or (len(vals) and np.all((vals >= 0) & (vals <= 1))):
            return 100.0, " pp"
        return 1.0, ""

    def _err(self, v: float) -> str:
        scale, unit = self._units()
        return f"{v * scale:.1f}{unit}" if scale != 1.0 else f"{v:.3g}"

    def where(self) -> str:
        """``fitted below 100 GFLOPs``, or with one threshold per group, ``fitted below 1/4
        of each group's largest compute (clip: 100 GFLOPs, ...)``."""
        unit = " GFLOPs" if "gflop" in self.x.lower() else f" ({self.x})"
        if self.threshold is not None:
            return f"fitted below {_fmt_x(self.threshold)}{unit}"
        cuts: dict[str, float] = {}
        if len(self.groups):
            for r in self.groups.to_dict("records"):
                lab = _label({k: r[k] for k in self.by}) if self.by else "all"
                cuts.setdefault(lab, float(r["threshold"]))
        each = ", ".join(f"{k}: {_fmt_x(v)}{unit}" for k, v in cuts.items())
        factor = f"{self.holdout_factor:g}"
        return (f"fitted below 1/{factor} of each {'/'.join(self.by) or 'series'}'s largest "
                f"compute ({each})")

    def summary_lines(self) -> list[str]:
        """Plain-English lines: the verdict first, then one line per series."""
        where = self.where()
        if not self.n:
            lines = [f"Held-out check FAILED: {where}, there was no frontier run above the "
                     "threshold to predict (nothing was checked)."]
            return lines + [f"  {n}" for n in self.notes]
        table = self.series_table()
        body = (f"{where}, the laws predicted {self.n} held-out runs within "
                f"{self._err(self.mae)} on average ({self.n_inside} of {self.n} inside their "
                f"{self.level:.0%} intervals)")
        if self.passed:
            lines = [f"Held-out check passed: {body}."]
        else:
            bad = []
            for row in table.itertuples(index=False):
                if row.passed:
                    continue
                key = _label({k: getattr(row, k) for k in self.series})
                why = []
                if row.mae > self.mae_max:
                    why.append(f"mean error {self._err(row.mae)} > {self._err(self.mae_max)}")
                if row.coverage < self.coverage_min:
                    why.append(f"{row.n_inside} of {row.n} inside < {self.coverage_min:.0%}")
                bad.append(f"{key} ({', '.join(why)})")
            lines = [f"Held-out check FAILED: {body}; failing: {'; '.join(bad)}. Treat the "
                     "extrapolations and verdicts below with caution."]
        for row in table.itertuples(index=False):
            key = _label({k: getattr(row, k) for k in self.series})
            lines.append(f"  {key}: {row.n} runs, mean error {self._err(row.mae)} (max "
                         f"{self._err(row.max_error)}), {row.n_inside} of {row.n} inside "
                         f"({'passed' if row.passed else 'failed'})")
        lines += [f"  note: {n}" for n in self.notes]
        return lines

    # -- data -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (strict JSON: a NaN is ``None``): the verdict, the thresholds,
        per-series and per-run numbers."""
        return json_safe({
            "passed": self.passed,
            "threshold": None if self.threshold is None else float(self.threshold),
            "holdout_factor": self.holdout_factor,
            "x": self.x, "y": self.y, "by": list(self.by), "series": list(self.series),
            "maximize": self.maximize, "level": self.level,
            "mae_max": self.mae_max, "coverage_min": self.coverage_min,
            "relative": self.relative, "n": self.n, "mae": self.mae,
            "n_inside": self.n_inside,
            "coverage": self.coverage,
            "summary": self.summary_lines(),
            "per_series": self.series_table().to_dict("records"),
            "per_group": self.groups.to_dict("records"),
            "runs": self.runs.to_dict("records"),
            "notes": list(self.notes),
        })


def holdout_check(
    frame: pd.DataFrame,
    *,
    x: str = "gflops_total",
    y: str = "value",
    by: str | Sequence[str] | None = "procedure",
    series: str | Sequence[str] | None = ("task", "metric"),
    maximize: bool = True,
    threshold: float | None = None,
    holdout_factor: float = HOLDOUT_FACTOR,
    mae_max: float = MAE_MAX,
    coverage_min: float = COVERAGE_MIN,
    relative: bool = False,
    options: FitOptions | None = None,
    **option_values: Any,
) -> HoldoutResult:
    """Fit below ``threshold``, predict the frontier runs above it, per series and group.

    ``threshold`` is a value of ``x``; by default each (series, group) has its own: its
    largest ``x`` divided by ``holdout_factor`` (procedures differ in cost per sample, so
    one grid reaches different computes). The held-out runs of a group are its
    compute-frontier runs (lower error than every cheaper run of the group, all runs
    considered) above the threshold; the law (``options``, a :class:`FitOptions`, or its
    fields as keywords: ``law="auto"`` unless given, ``n_bootstrap``, ``level``,
    ``random_state``, ...) is fitted to the group's runs at or below it, and each held-out
    run is compared with the prediction and its ``level`` prediction interval (for a new
    measurement). ``mae_max`` and
    ``coverage_min`` are the pass thresholds of each series; with ``relative`` every error
    is ``|predicted - measured| / measured`` (a loss in nats or any unit: ``mae_max=0.03``
    is 3%).
    """
    maximize = check_flag(maximize, "maximize")
    relative = check_flag(relative, "relative")
    mae_max = check_positive(mae_max, "mae_max", " (the largest mean error that passes)")
    coverage_min = check_share(coverage_min, "coverage_min")
    options = fit_options(options, **option_values)
    level = options.level
    by_cols, series_cols = _as_list(by), _as_list(series)
    check_series_by(series_cols, by_cols)
    frame = as_frame(frame)
    missing = [c for c in [x, y, *by_cols, *series_cols] if c not in frame.columns]
    if missing:
        raise DataError(f"holdout_check: column '{missing[0]}' not in the frame")
    for column, option in [(x, "x"), (y, "y"), *((c, "by") for c in by_cols),
                           *((c, "series") for c in series_cols)]:
        check_unique(frame, column, option)
    xs_all = pd.to_numeric(frame[x], errors="coerce").to_numpy(float)
    ys_all = pd.to_numeric(frame[y], errors="coerce").to_numpy(float)
    usable = np.isfinite(xs_all) & np.isfinite(ys_all)
    if by_cols or series_cols:
        usable &= frame[series_cols + by_cols].notna().all(axis=1).to_numpy()
    if not usable.any():
        raise DataError("holdout_check: no rows to check (no row has numbers in x and y and "
                        "a value in every group and series column)")
    if not usable.all():
        warnings.warn(f"holdout_check: left out {int((~usable).sum())} of {len(frame)} rows "
                      "without numbers in x and y or a value in a group or series column",
                      ScalecmpWarning, stacklevel=2)
    data = frame.loc[usable].assign(**{x: xs_all[usable], y: ys_all[usable]})
    if threshold is None:
        check_holdout_factor(holdout_factor)
    else:
        threshold = float(threshold)
        if not (math.isfinite(threshold) and threshold > 0):
            raise UsageError(f"threshold must be > 0 and finite, got {threshold}")

    run_rows: list[dict[str, Any]] = []
    group_rows: list[dict[str, Any]] = []
    notes: list[str] = []
    split = data.groupby(series_cols + by_cols, sort=False) if series_cols + by_cols else [
        ((), data)]
    for key, part in split:
        key = key if isinstance(key, tuple) else (key,)
        skey = dict(zip(series_cols, key[: len(series_cols)], strict=True))
        gkey = dict(zip(by_cols, key[len(series_cols):], strict=True))
        lab = " / ".join(str(v) for v in (*skey.values(), *gkey.values())) or "all"
        xs = part[x].to_numpy(float)
        ys = part[y].to_numpy(float)
        err = 1.0 - ys if maximize else ys
        cut = float(xs.max()) / holdout_factor if threshold is None else threshold
        held = naive_frontier(xs, err) & (xs > cut)
        train = part.loc[xs <= cut]
        base = {**skey, **gkey, "threshold": cut, "n_fit": len(train),
                "n_heldout": int(held.sum())}
        if not held.any():
            group_rows.append({**base, "status": "no frontier run above the threshold"})
            notes.append(f"{lab}: no frontier run above {_fmt_x(cut)}; not checked")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit_frame(train, x=x, y=y, by=None, x2=None, where=None,
                                maximize=maximize, predict_at=None, predict_at2=None,
                                options=options)
        except ScalecmpError as exc:
            group_rows.append({**base, "status": f"fit failed: {exc}"})
            notes.append(f"{lab}: the fit below {_fmt_x(cut)} failed ({exc}); not checked")
            continue
        g = res.groups[0]
        order = np.argsort(xs[held], kind="stable")  # the engine is asked in compute order
        hx, hy = xs[held][order], ys[held][order]
        pred = np.asarray(g.predict(hx), float)
        lo, hi = (np.asarray(v, float) for v in g.interval(hx, level))
        ae = np.abs(pred - hy) / (np.abs(hy) if relative else 1.0)
        inside = (hy >= lo) & (hy <= hi)
        for i in range(len(hx)):
            run_rows.append({**skey, **gkey, "x": float(hx[i]), "measured": float(hy[i]),
                             "predicted": float(pred[i]), "lo": float(lo[i]),
                             "hi": float(hi[i]), "abs_error": float(ae[i]),
                             "inside": bool(inside[i])})
        weights = law_weights(g)  # candidate names: "recipe", not its law
        law = (", ".join(f"{n} {w:.2f}" for n, w in weights) if len(weights) > 1
               else weights[0][0] if weights else g.law.name)
        group_rows.append({**base, "mae": float(ae.mean()), "max_error": float(ae.max()),
                           "coverage": float(inside.mean()), "law": law,
                           "status": "checked"})
        notes += [f"{lab} (held-out fit): {w}" for w in g.warnings]
    return HoldoutResult(
        runs=pd.DataFrame(run_rows, columns=_run_columns(series_cols, by_cols)),
        groups=pd.DataFrame(group_rows, columns=_group_columns(series_cols, by_cols)),
        threshold=threshold, x=x, y=y, by=tuple(by_cols), series=tuple(series_cols),
        maximize=maximize, level=level, mae_max=mae_max, coverage_min=coverage_min,
        holdout_factor=holdout_factor,
        notes=tuple(notes), relative=relative,
    )


# --------------------------------------------------------------------------- cosine gap
def cosine_gap(
    table: pd.DataFrame,
    *,
    keys: Sequence[str] = ("task", "metric", "procedure", "model"),
    maximize: bool = True,
    y: str = "value",
) -> pd.DataFrame:
    """Cosine runs against the constant-LR + cooldown measurements at the same scale.

    For every cosine row of ``table`` (``schedule == "cosine"``) and its ``keys`` (and
    ``lr`` when the table has several), the best ``const`` or ``cooldown`` value at the same
    ``samples_seen``. Returns one row per cosine run: the keys, ``samples_seen``,
    ``gflops_total``, ``cosine``, ``const_cooldown`` (the best of them), ``best_schedule``,
    ``difference`` (cosine minus the best, metric units: positive = cosine better when
    ``maximize``) and ``gap`` (the difference in the better-is-positive direction). A table
    without cosine rows gives an empty frame.
    """
    maximize = check_flag(maximize, "maximize")
    keys = [k for k in keys if k in table.columns]
    need = ["schedule", "samples_seen", y]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise DataError(f"cosine_gap: column '{missing[0]}' not in the table")
    if "lr" in table.columns and table["lr"].nunique() > 1 and "lr" not in keys:
        keys = [*keys, "lr"]
    cols = [*keys, "samples_seen", "gflops_total", "cosine", "const_cooldown",
            "best_schedule", "difference", "gap"]
    cos = table.loc[table["schedule"] == "cosine"]
    other = table.loc[table["schedule"].isin(["const", "cooldown"])]
    if cos.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    grouped = other.groupby([*keys, "samples_seen"], sort=False)
    lookup = {k if isinstance(k, tuple) else (k,): g for k, g in grouped}
    for r in cos.itertuples(index=False):
        rec = r._asdict()
        k = tuple(rec[c] for c in [*keys, "samples_seen"])
        cand = lookup.get(k)
        if cand is None or cand.empty:
            continue
        vals = cand[y].to_numpy(float)
        i = int(np.argmax(vals) if maximize else np.argmin(vals))
        best = float(vals[i])
        c = float(rec[y])
        diff = c - best
        rows.append({**{kk: rec[kk] for kk in keys}, "samples_seen": int(rec["samples_seen"]),
                     "gflops_total": float(rec.get("gflops_total", float("nan"))),
                     "cosine": c, "const_cooldown": best,
                     "best_schedule": str(cand["schedule"].iloc[i]),
                     "difference": diff, "gap": diff if maximize else -diff})
    return pd.DataFrame(rows, columns=cols)


def cosine_gap_lines(gap: pd.DataFrame, *, series: Sequence[str] = ("task", "metric"),
                     percent: bool = True) -> list[str]:
    """Plain-English lines of a :func:`cosine_gap` table: one per series, then per run."""
    if gap.empty:
        return ["Cosine check: no cosine run to compare with."]
    scale, unit = (100.0, " pp") if percent else (1.0, "")
    series = [s for s in series if s in gap.columns]
    lines = []
    parts = gap.groupby(series, sort=False) if series else [((), gap)]
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        mean = float(part["gap"].mean()) * scale
        worst = float(part["gap"].abs().max()) * scale
        who = "cosine better" if mean > 0 else "constant LR + cooldown better"
        lines.append(
            f"Cosine check, {' / '.join(map(str, key)) or 'all'}: cosine minus the best "
            f"constant-LR/cooldown point at the same samples seen: mean {mean:+.1f}{unit} "
            f"({who} on average), largest |gap| {worst:.1f}{unit} over {len(part)} runs")
    return lines
