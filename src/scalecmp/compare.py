"""Pairwise comparison of fitted groups: who is better, at which compute, and how sure we are.

For two groups ``a`` and ``b`` (procedures, datasets, schedules), each fitted by the engine
with its own bootstrap, everything is computed from the laws in *error units* (lower is
better; error = 1 - metric when ``maximize``) and reported in the metric's units:

* **Advantage** ``adv(x) = err_b(x) - err_a(x)``: > 0 where ``a`` is better. The reported
  difference curve is ``y_a(x) - y_b(x)`` in metric units (= ``adv`` when maximising, ``-adv``
  otherwise). Its band: pointwise percentiles of the replicate curves, where replicate ``r``
  of ``a`` is paired with replicate ``r`` of ``b`` (the two bootstraps are independent, so
  the pairing is arbitrary and the pairs are draws from the joint sampling distribution).
* **P(a better)** at ``x``: the share of paired replicates with ``adv_r(x) > 0``.
* **Crossovers**: sign changes of the point-fit advantage on a log grid, refined by bisection
  on the laws. Interval: each replicate's crossover nearest to it within its neighbourhood
  (halfway in log x to the next crossover or the grid end); a replicate with no crossover there
  counts as crossing below (or above) the neighbourhood, so the interval can be open; ``share``
  is the fraction of replicates that cross within the neighbourhood.
* **Compute multiplier** at ``x``: ``m(x) = x_b / x`` with ``err_b(x_b) = err_a(x)``: how much
  more compute ``b`` needs to match ``a`` (``> 1``: ``a`` is more compute-efficient). The
  reverse is ``x_a / x`` with ``err_a(x_a) = err_b(x)``. Replicate-wise inversion (first
  compute at which the curve reaches the target) on a dense log grid (0.005 decades) from the
  smallest measured compute up; when ``b`` never reaches ``a``'s error (its floor ``E`` lies
  above it) the multiplier is infinite: reported as ``null`` with the reason.
* **Exponent difference** of the large-compute log-log slopes (``alpha`` of the power-law
  family, ``-(c0 + c1)`` of ``broken_power``), ``a`` minus ``b``, with a percentile interval.
* **One uncertainty model.** Every replicate curve comes from the group's own
  :meth:`~scalecmp.engine.GroupFit.error_replicates`, the same replicates ``fit`` reports
  intervals from: the members of a ``law="auto"`` mixture in proportion to their weights,
  deviations scaled by ``sqrt(n / (n - p))``, tilted beyond the data by the backtested
  extrapolation error (:mod:`scalecmp.engine.lawfit`). Nothing here re-derives a curve from
  parameters, so the difference band widens beyond the data exactly as the arms' bands do.
* **Verdict.** A side is declared better on a compute range only where a *simultaneous*
  bootstrap band of the advantage over the whole comparison grid excludes 0: the pointwise
  percentile level ``q`` is lowered until ``level`` of the replicate curves lie entirely inside
  the band (``q <= (1 - level) / 2``; equivalently ``P(a better) >= 1 - q`` there). This
  controls the chance of declaring a winner *anywhere* when there is none, which a pointwise
  test repeated along the grid would not. Single pre-specified ``at`` points use the pointwise
  two-sided rule ``P >= (1 + level) / 2`` (``better``). Ranges beyond the measured compute of
  either group are flagged as extrapolated.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.engine import FitOptions, FitResult, GroupFit, fit_frame, fit_options
from scalecmp.engine.results import error_in_range
from scalecmp.errors import DataError, ScalecmpWarning, UsageError
from scalecmp.format import fmt_compact as _fmt
from scalecmp.format import group_label
from scalecmp.intervals import finite_or_none as _f
from scalecmp.intervals import quantile_interval
from scalecmp.io import as_frame
from scalecmp.validate import (
    MIN_REPLICATES,
    check_bootstrap_memory,
    check_factor,
    check_flag,
    check_integer,
    check_level,
    check_n_bootstrap,
    check_positive_values,
)

__all__ = [
    "Comparison",
    "ComparisonResult",
    "compare",
    "X_MAX",
    "check_at",
    "check_compare_options",
    "check_extrapolate",
    "compare_groups",
    "simultaneous_tail",
    "first_reach",
    "label_of",
]

_INV_STEP = 0.005  # decades per step of the inversion grid
_INV_SPAN = 12.0  # decades searched on each side of x for the multiplier
#: The largest compute a comparison reaches: the inversion grid of the compute multiplier
#: runs ``_INV_SPAN`` decades (and a step) above the top of the comparison grid (the
#: largest measured compute x ``extrapolate``) and above every ``at`` value, and floats end
#: at 1.8e308 (10^308.25): 10^(308.25 - 12 - 0.01), rounded down to a whole decade.
X_MAX = 10.0 ** int(np.log10(np.finfo(float).max) - _INV_SPAN - 2 * _INV_STEP)


def check_at(at: Sequence[float] | None) -> list[float] | None:
    """``at`` values (compute, > 0 and finite) a comparison can take: at most
    :data:`X_MAX`."""
    if at is None:
        return None
    values = check_positive_values(at, "at")
    if values and max(values) > X_MAX:
        raise UsageError(
            f"at values must be <= {_fmt(X_MAX)}, got {_fmt(max(values))} (the compute "
            f"multiplier is searched {_fmt(10**_INV_SPAN)}x above them, and numbers end at "
            "1.8e308)"
        )
    return values


def check_extrapolate(extrapolate: Any, top: float | None) -> float:
    """``extrapolate`` (a finite factor >= 1) that keeps the comparison grid, from the
    largest measured compute ``top`` to ``top * extrapolate``, below :data:`X_MAX`
    (``top``: ``None`` when not known yet)."""
    extrapolate = check_factor(extrapolate, "extrapolate")
    if top is not None and np.isfinite(top) and top > 0:
        if top * 10.0 > X_MAX:
            raise DataError(f"x: the largest compute ({_fmt(top)}) leaves no room for a "
                            f"comparison (at most {_fmt(X_MAX / 10)}): rescale x")
        if top * extrapolate > X_MAX:
            raise UsageError(
                f"extrapolate {_fmt(extrapolate)} takes the comparison grid beyond "
                f"{_fmt(X_MAX)}, the largest compute it can reach (the data's largest "
                f"compute is {_fmt(top)}; the compute multiplier is searched "
                f"{_fmt(10**_INV_SPAN)}x above the grid, and numbers end at 1.8e308): "
                f"at most {_floor_sig(X_MAX / top)} with these data"
            )
    return extrapolate


def _floor_sig(v: float) -> str:
    """``v`` rounded down to 2 significant digits, as text (a bound that holds)."""
    e = int(np.floor(np.log10(v)))
    m = np.floor(v / 10.0**e * 10.0) / 10.0
    return f"{m:g}e{e}" if abs(e) >= 4 else f"{m * 10.0**e:g}"


# ---------------------------------------------------------------------------------------
# numeric helpers (pure numpy, vectorised over replicates)
# ---------------------------------------------------------------------------------------
def simultaneous_tail(adv: np.ndarray, level: float) -> float:
    """Pointwise tail probability ``q`` whose percentile band ``[Q_q(x), Q_{1-q}(x)]`` holds
    a share ``level`` of the replicate curves entirely (rows of ``adv``, shape (R, n)).

    Each replicate's most extreme pointwise rank, ``m_r = min_x min(u_r(x), 1 - u_r(x))``
    with ``u = rank / (R + 1)``, is computed; ``q`` is the ``(1 - level)`` quantile of ``m``,
    capped at the pointwise ``(1 - level) / 2``.
    """
    adv = np.asarray(adv, dtype=float)
    r = adv.shape[0]
    if r < 2:
        return (1.0 - level) / 2.0
    ranks = np.argsort(np.argsort(adv, axis=0, kind="stable"), axis=0, kind="stable")
    u = (ranks + 1.0) / (r + 1.0)
    m = np.minimum(u, 1.0 - u).min(axis=1)
    q = float(np.quantile(m, 1.0 - level, method="lower"))
    return min(q, (1.0 - level) / 2.0)


def first_reach(log_grid: np.ndarray, curves: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Smallest ``log x`` at which each curve reaches (falls to) each target.

    ``log_grid`` (G,) increasing; ``curves`` (R, G) error per replicate; ``targets`` (R, m).
    Returns (R, m) ``log x``, linearly interpolated between grid points; ``+inf`` where the
    curve never reaches the target on the grid, ``-inf`` where it is already below it at the
    first grid point.
    """
    reached = curves[:, None, :] <= targets[:, :, None]  # (R, m, G)
    any_ = reached.any(axis=-1)
    idx = reached.argmax(axis=-1)  # first True
    out = np.full(targets.shape, np.inf)
    out[any_ & (idx == 0)] = -np.inf
    mid = any_ & (idx > 0)
    if mid.any():
        rr, mm = np.nonzero(mid)
        j = idx[rr, mm]
        f0, f1 = curves[rr, j - 1], curves[rr, j]
        t = np.clip((f0 - targets[rr, mm]) / np.where(f0 > f1, f0 - f1, 1.0), 0.0, 1.0)
        out[rr, mm] = log_grid[j - 1] + t * (log_grid[j] - log_grid[j - 1])
    return out


def _q(a: np.ndarray, q: float, axis: int = 0, method: str = "linear") -> np.ndarray:
    return np.quantile(a, q, axis=axis, method=method)


def label_of(key: dict) -> str:
    """Human label of a group key: the value alone for one column, else ``col=value, ...``
    (:func:`scalecmp.format.group_label` with ``names="several"``)."""
    return group_label(key, names="several")


def _point_error(g: GroupFit, x: np.ndarray) -> np.ndarray:
    return error_in_range(np.asarray(g.predict_error(np.asarray(x, dtype=float)),
                                     dtype=float), g.maximize)


# ---------------------------------------------------------------------------------------
# one pair
# ---------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """The comparison of group ``a`` against group ``b`` (see the module docstring).

    Arrays on the comparison grid ``grid`` (compute, log-spaced): ``diff`` (point fit,
    metric units, ``y_a - y_b``), ``lo``/``hi`` (pointwise band at ``level``),
    ``p_a_better``, ``sig`` (+1 a better, -1 b better, 0 inconclusive: simultaneous band).
    """

    a: dict
    b: dict
    x_name: str
    maximize: bool
    level: float
    grid: np.ndarray
    diff: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    p_a_better: np.ndarray
    sig: np.ndarray
    sim_tail: float
    multiplier_grid: np.ndarray
    range_a: tuple[float, float]
    range_b: tuple[float, float]
    crossovers: list[dict] = field(default_factory=list)
    share_any_crossover: float = float("nan")
    at: list[dict] = field(default_factory=list)
    exponent_diff: dict | None = None
    regions: list[dict] = field(default_factory=list)
    verdict: str = ""
    n_replicates: int = 0

    @property
    def label_a(self) -> str:
        return label_of(self.a)

    @property
    def label_b(self) -> str:
        return label_of(self.b)

    @property
    def measured(self) -> tuple[float, float]:
        """Compute range measured by *both* groups; outside it at least one is extrapolated."""
        return max(self.range_a[0], self.range_b[0]), min(self.range_a[1], self.range_b[1])

    def to_dict(self, grid_points: int = 60) -> dict:
        """The ``comparisons[]`` entry of the compare JSON contract."""
        step = max(1, len(self.grid) // grid_points)
        sl = slice(None, None, step)
        return {
            "a": dict(self.a),
            "b": dict(self.b),
            "level": self.level,
            "n_replicates": self.n_replicates,
            "measured_range": {
                "a": [_f(v) for v in self.range_a],
                "b": [_f(v) for v in self.range_b],
            },
            "crossovers": [dict(c) for c in self.crossovers],
            "share_replicates_crossing": _f(self.share_any_crossover),
            "at": [dict(e) for e in self.at],
            "exponent_diff": dict(self.exponent_diff) if self.exponent_diff else None,
            "regions": [dict(r) for r in self.regions],
            "significance": {
                "method": "simultaneous bootstrap percentile band over the grid",
                "pointwise_tail": _f(self.sim_tail),
                "p_threshold": _f(1.0 - self.sim_tail),
                "at_rule": f"pointwise P >= {(1 + self.level) / 2:g} (two-sided {self.level:g})",
            },
            "grid": {
                "x": [_f(v) for v in self.grid[sl]],
                "diff": [_f(v) for v in self.diff[sl]],
                "lo": [_f(v) for v in self.lo[sl]],
                "hi": [_f(v) for v in self.hi[sl]],
                "p_a_better": [_f(v) for v in self.p_a_better[sl]],
                "compute_multiplier": [_f(v) for v in self.multiplier_grid[sl]],
            },
            "verdict": self.verdict,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per ``at`` compute: the pair's labels and the ``at`` fields."""
        rows = []
        for e in self.at:
            row = {"a": self.label_a, "b": self.label_b}
            row.update({k: v for k, v in e.items() if k not in ("better", "multiplier_ci",
                                                               "reverse_multiplier_ci")})
            row["better"] = label_of(e["better"]) if e["better"] else None
            row["multiplier_lo"], row["multiplier_hi"] = e["multiplier_ci"]
            rows.append(row)
        return pd.DataFrame(rows)

    def grid_frame(self) -> pd.DataFrame:
        """The difference curve on the full grid (tidy)."""
        return pd.DataFrame(
            {
                "a": self.label_a,
                "b": self.label_b,
                "x": self.grid,
                "diff": self.diff,
                "lo": self.lo,
                "hi": self.hi,
                "p_a_better": self.p_a_better,
                "significant": self.sig,
                "compute_multiplier": self.multiplier_grid,
            }
        )


def compare_groups(
    ga: GroupFit,
    gb: GroupFit,
    *,
    at: Sequence[float] | None = None,
    level: float = 0.95,
    extrapolate: float = 100.0,
    n_grid: int = 200,
    x_name: str = "x",
) -> Comparison:
    """Compare two fitted groups (engine ``GroupFit`` objects); see the module docstring.

    ``at``: computes for the point table (default: the largest measured compute of the two
    and 10x it). The grid spans the smallest measured compute to ``extrapolate`` x the
    largest.
    """
    level = check_level(level)
    n_grid = check_integer(n_grid, "n_grid", 10, " (points of the comparison grid)")
    if ga.law.n_inputs != 1 or gb.law.n_inputs != 1:
        raise UsageError("law: compare needs a law of compute alone, not a two-input law")
    maximize = bool(ga.maximize)
    ra = tuple(float(v) for v in ga.x_range)
    rb = tuple(float(v) for v in gb.x_range)
    top = max(ra[1], rb[1])  # the largest measured compute
    extrapolate = check_extrapolate(extrapolate, top)
    lo_x, hi_x = min(ra[0], rb[0]), top * float(extrapolate)
    if at is not None:
        at = check_at(at)
        far = [v for v in at if v > hi_x]
        if far:
            warnings.warn(
                f"at: {_fmt(max(far))} is {_fmt(max(far) / top)} x the largest measured "
                f"compute ({_fmt(top)}), beyond `extrapolate` ({_fmt(float(extrapolate))}): "
                "its interval there is the law's form, not the data", ScalecmpWarning,
                stacklevel=2)
    grid = np.geomspace(lo_x, hi_x, int(n_grid))
    lgrid = np.log(grid)
    if at is None:
        at = [top, 10.0 * top]
    at_x = np.asarray(at, dtype=float)

    # --- replicates (the groups' own), paired r with r; failed replicates dropped ----------
    xs = np.concatenate([grid, at_x])
    # as `fit` reports the metric: a replicate tilted far beyond the data past an error of
    # 1 is at chance (two accuracies then differ by at most 1)
    ea_all = error_in_range(ga.error_replicates(xs), ga.maximize)
    eb_all = error_in_range(gb.error_replicates(xs), gb.maximize)
    r = min(len(ea_all), len(eb_all))
    if r < MIN_REPLICATES:
        raise UsageError(
            f"n_bootstrap: compare needs >= {MIN_REPLICATES} bootstrap replicates for its "
            f"intervals, the fits have {r} (1000 recommended)"
        )
    ea_all, eb_all = ea_all[:r], eb_all[:r]
    keep = np.isfinite(ea_all).all(axis=1) & np.isfinite(eb_all).all(axis=1)
    if keep.sum() < 20:
        raise DataError("fewer than 20 usable bootstrap replicates; the fits are degenerate")
    ea_all, eb_all = ea_all[keep], eb_all[keep]
    r = len(ea_all)
    n = len(grid)
    pe_a, pe_b = _point_error(ga, xs), _point_error(gb, xs)
    ea, eb = ea_all[:, :n], eb_all[:, :n]
    adv = eb - ea  # > 0: a better
    sign = 1.0 if maximize else -1.0  # metric difference y_a - y_b = sign * adv

    # --- point curves --------------------------------------------------------------------
    adv_pt = pe_b[:n] - pe_a[:n]
    alpha_lo, alpha_hi = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    d_metric = sign * adv
    band_lo = _q(d_metric, alpha_lo)
    band_hi = _q(d_metric, alpha_hi)
    p_a = (adv > 0).mean(axis=0)

    # --- simultaneous significance -----------------------------------------------------
    q = simultaneous_tail(adv, level)
    sig = np.zeros(n, dtype=int)
    sig[_q(adv, q, method="lower") > 0] = 1
    sig[_q(adv, 1.0 - q, method="higher") < 0] = -1

    comp = Comparison(
        a=dict(ga.key),
        b=dict(gb.key),
        x_name=x_name,
        maximize=maximize,
        level=level,
        grid=grid,
        diff=sign * adv_pt,
        lo=band_lo,
        hi=band_hi,
        p_a_better=p_a,
        sig=sig,
        sim_tail=q,
        multiplier_grid=np.full(n, np.nan),
        range_a=ra,  # type: ignore[arg-type]
        range_b=rb,  # type: ignore[arg-type]
        n_replicates=r,
    )

    # --- crossovers ---------------------------------------------------------------------
    comp.crossovers, comp.share_any_crossover = _crossovers(ga, gb, lgrid, adv_pt, adv, level)

    # --- compute multipliers ------------------------------------------------------------
    m_pt, m_rep, m_rev_pt, m_rev_rep, note, note_rev = _multipliers(
        ga, gb, keep, at_x, pe_a[n:], pe_b[n:], ea_all[:, n:], eb_all[:, n:]
    )
    # point multiplier along the grid (no replicates: cheap, for plots / JSON)
    comp.multiplier_grid = _point_multiplier(gb, grid, pe_a[:n], min(ra[0], rb[0]))

    # --- the at table ---------------------------------------------------------------------
    meas_lo, meas_hi = comp.measured
    da_at = sign * (eb_all[:, n:] - ea_all[:, n:])
    adv_at = eb_all[:, n:] - ea_all[:, n:]
    for i, xv in enumerate(at_x):
        pa_better = float((adv_at[:, i] > 0).mean())
        better = dict(ga.key) if pa_better >= alpha_hi else (
            dict(gb.key) if pa_better <= alpha_lo else None
        )
        comp.at.append(
            {
                "x": float(xv),
                "y_a": _f(1.0 - pe_a[n + i] if maximize else pe_a[n + i]),
                "y_b": _f(1.0 - pe_b[n + i] if maximize else pe_b[n + i]),
                "diff": _f(sign * (pe_b[n + i] - pe_a[n + i])),
                "lo": _f(_q(da_at[:, i], alpha_lo)),
                "hi": _f(_q(da_at[:, i], alpha_hi)),
                "p_a_better": pa_better,
                "better": better,
                "compute_multiplier": _f(m_pt[i]),
                "multiplier_ci": [_f(v) for v in quantile_interval(
                    m_rep[:, i], level, method="order", keep_inf=True)],
                "multiplier_note": note[i],
                "reverse_multiplier": _f(m_rev_pt[i]),
                "reverse_multiplier_ci": [_f(v) for v in quantile_interval(
                    m_rev_rep[:, i], level, method="order", keep_inf=True)],
                "reverse_multiplier_note": note_rev[i],
                "extrapolated": bool(xv > meas_hi * (1 + 1e-9) or xv < meas_lo * (1 - 1e-9)),
            }
        )

    # --- exponent difference ------------------------------------------------------------
    ex_a, ex_b = ga.exponent_replicates(), gb.exponent_replicates()
    va, vb = float(ga.exponent), float(gb.exponent)
    m = min(len(ex_a), len(ex_b))
    if m >= 20 and np.isfinite(va) and np.isfinite(vb):
        dd = ex_a[:m] - ex_b[:m]
        comp.exponent_diff = {
            "param": "large-compute log-log exponent of the reducible error",
            "value": _f(va - vb),
            "lo": _f(_q(dd, alpha_lo)),
            "hi": _f(_q(dd, alpha_hi)),
        }

    comp.regions = _regions(comp)
    comp.verdict = _verdict(comp)
    return comp


def _crossovers(
    ga: Any, gb: Any, lgrid: np.ndarray, adv_pt: np.ndarray, adv: np.ndarray, level: float
) -> tuple[list[dict], float]:
    pos = adv_pt > 0
    ch = np.nonzero(pos[1:] != pos[:-1])[0]
    # replicate crossings on the grid, log-linear interpolation
    s = adv > 0
    rch = s[:, 1:] != s[:, :-1]  # (R, n-1)
    d0, d1 = adv[:, :-1], adv[:, 1:]
    denom = np.where(rch, d0 - d1, 1.0)
    t = np.clip(np.where(rch, d0 / denom, np.nan), 0.0, 1.0)
    lxc = np.where(rch, lgrid[:-1] + t * np.diff(lgrid), np.nan)
    share_any = float(rch.any(axis=1).mean())
    if len(ch) == 0:
        return [], share_any
    # refine the point crossovers by bisection in log x on the point laws
    lo_l, hi_l = lgrid[ch].copy(), lgrid[ch + 1].copy()
    s_lo = pos[ch]
    for _ in range(50):
        mid = 0.5 * (lo_l + hi_l)
        xm = np.exp(mid)
        am = _point_error(gb, xm) - _point_error(ga, xm)
        same = (am > 0) == s_lo
        lo_l = np.where(same, mid, lo_l)
        hi_l = np.where(same, hi_l, mid)
    lx_star = 0.5 * (lo_l + hi_l)
    edges = np.r_[lgrid[0], 0.5 * (lx_star[1:] + lx_star[:-1]), lgrid[-1]]
    out = []
    for k, c in enumerate(ch):
        nb_lo, nb_hi = edges[k], edges[k + 1]
        in_nb = rch & (lxc >= nb_lo) & (lxc <= nb_hi)
        dist = np.where(in_nb, np.abs(lxc - lx_star[k]), np.inf)
        j = dist.argmin(axis=1)
        has = in_nb.any(axis=1)
        posr = lxc[np.arange(len(lxc)), j]
        # no crossing in the neighbourhood: the replicate is on one side throughout
        after = not bool(s_lo[k])  # sign of a-better just above the crossover
        rep_sign = s[:, c + 1] if c + 1 < s.shape[1] else s[:, c]
        posr = np.where(has, posr, np.where(rep_sign == after, -np.inf, np.inf))
        lo = np.quantile(posr, (1 - level) / 2, method="lower")
        hi = np.quantile(posr, (1 + level) / 2, method="higher")
        out.append(
            {
                "x": float(np.exp(lx_star[k])),
                "lo": _f(np.exp(lo)) if np.isfinite(lo) else None,
                "hi": _f(np.exp(hi)) if np.isfinite(hi) else None,
                "share": float(has.mean()),
                "better_above": "b" if s_lo[k] else "a",
            }
        )
    return out, share_any


def _inv_grid(at_x: np.ndarray, x_lo: float) -> np.ndarray:
    """Log-x grid for the inversion: from the smallest measured compute ``x_lo`` (a law is not
    evidence below its data: a non-monotone fit could 'reach' any error there) to
    ``10^_INV_SPAN`` x the largest ``at``."""
    lo = np.log10(min(x_lo, float(at_x.min())))
    hi = np.log10(float(at_x.max())) + _INV_SPAN
    return np.arange(lo, hi + _INV_STEP, _INV_STEP) * np.log(10.0)


def _multipliers(ga, gb, keep, at_x, pe_a, pe_b, ea_at, eb_at):  # noqa: ANN001, ANN202
    """Point and replicate compute multipliers at ``at_x``, both directions.

    A curve that is already below the target at the smallest measured compute gives the
    bound ``x_lo / x`` (the multiplier is at most that); one that never reaches it within
    ``10^_INV_SPAN`` x gives ``inf`` (``null`` in JSON, with the reason)."""
    x_lo = min(float(ga.x_range[0]), float(gb.x_range[0]))
    lg = _inv_grid(at_x, x_lo)
    xg = np.exp(lg)
    lx = np.log(at_x)

    def one(g_to, target_pt, target_rep):  # noqa: ANN001, ANN202
        curve_pt = _point_error(g_to, xg)[None, :]
        lpt = first_reach(lg, curve_pt, target_pt[None, :])[0]
        curves = g_to.error_replicates(xg)[: len(keep)][keep]
        lrep = first_reach(lg, curves, target_rep)
        below_pt = np.isneginf(lpt)
        lpt = np.where(below_pt, lg[0], lpt)
        lrep = np.where(np.isneginf(lrep), lg[0], lrep)
        m_pt = np.exp(lpt - lx)
        m_rep = np.exp(lrep - lx[None, :])
        floor = float(np.min(curve_pt))
        notes = []
        for i in range(len(at_x)):
            if np.isinf(lpt[i]) and lpt[i] > 0:
                notes.append(
                    f"{label_of(g_to.key)} never reaches that error within "
                    f"{10**_INV_SPAN:.0e}x the compute: its predicted floor "
                    f"({floor:.4g} error) lies above {target_pt[i]:.4g}"
                )
            elif below_pt[i]:
                notes.append(
                    f"{label_of(g_to.key)} is already below that error at the smallest "
                    f"measured compute ({x_lo:.3g}): the multiplier is at most this bound"
                )
            elif np.isinf(m_rep[:, i]).any():
                share = float(np.isinf(m_rep[:, i]).mean())
                pct = f"{share:.0%}" if share >= 0.005 else "under 1%"
                notes.append(f"unreachable in {pct} of replicates (error floor)")
            else:
                notes.append(None)
        return m_pt, m_rep, notes

    m_pt, m_rep, notes = one(gb, pe_a, ea_at)
    m_rev_pt, m_rev_rep, notes_rev = one(ga, pe_b, eb_at)
    return m_pt, m_rep, m_rev_pt, m_rev_rep, notes, notes_rev


def _point_multiplier(gb: Any, grid: np.ndarray, target: np.ndarray, x_lo: float) -> np.ndarray:
    lg = _inv_grid(grid, x_lo)
    curve = _point_error(gb, np.exp(lg))[None, :]
    lx = first_reach(lg, curve, target[None, :])[0]
    lx = np.where(np.isneginf(lx), lg[0], lx)
    return np.exp(lx - np.log(grid))


def _regions(c: Comparison) -> list[dict]:
    """Runs of the significance labels on the grid, with extrapolation flags."""
    meas_lo, meas_hi = c.measured
    out = []
    start = 0
    sig = c.sig
    g = c.grid
    n = len(g)
    for i in range(1, n + 1):
        if i == n or sig[i] != sig[start]:
            # boundaries halfway (in log x) between grid points of different labels
            x0 = float(g[0]) if start == 0 else float(np.sqrt(g[start - 1] * g[start]))
            x1 = float(g[-1]) if i == n else float(np.sqrt(g[i - 1] * g[i]))
            s = int(sig[start])
            out.append(
                {
                    "from": x0,
                    "to": x1,
                    "better": dict(c.a) if s > 0 else (dict(c.b) if s < 0 else None),
                    "extrapolated": bool(x1 > meas_hi * (1 + 1e-9) or x0 < meas_lo * (1 - 1e-9)),
                    "extrapolated_from": _f(max(x0, meas_hi)) if x1 > meas_hi else None,
                }
            )
            start = i
    return out


def _verdict(c: Comparison) -> str:
    """A sentence that claims only what the simultaneous band supports."""
    la, lb = c.label_a, c.label_b
    meas_lo, meas_hi = c.measured
    conf = f"{c.level:.0%}"
    parts = []
    sig_regions = [r for r in c.regions if r["better"] is not None]
    for r in sig_regions:
        winner, loser = (la, lb) if r["better"] == c.a else (lb, la)
        span = f"{c.x_name} {_fmt(r['from'])} to {_fmt(r['to'])}"
        extra = ""
        if r["to"] > meas_hi * (1 + 1e-9):
            extra = (
                f" (extrapolated above {_fmt(meas_hi)})"
                if r["from"] < meas_hi
                else " (all extrapolated)"
            )
        parts.append(f"{winner} is better than {loser} for {span}{extra}")
    if sig_regions:
        inc = [r for r in c.regions if r["better"] is None]
        text = f"With {conf} simultaneous bootstrap confidence, " + "; ".join(parts)
        if inc:
            spans = ", ".join(f"{_fmt(r['from'])} to {_fmt(r['to'])}" for r in inc)
            text += f"; inconclusive for {c.x_name} {spans}"
        text += "."
    else:
        text = (
            f"Inconclusive: neither {la} nor {lb} is better with {conf} confidence anywhere "
            f"in {c.x_name} {_fmt(float(c.grid[0]))} to {_fmt(float(c.grid[-1]))}."
        )
    if c.crossovers:
        cs = []
        for x in c.crossovers:
            lo = _fmt(x["lo"]) if x["lo"] is not None else "below the range"
            hi = _fmt(x["hi"]) if x["hi"] is not None else "beyond the range"
            first = la if x["better_above"] == "b" else lb
            second = lb if x["better_above"] == "b" else la
            cs.append(
                f"{_fmt(x['x'])} ({conf} interval {lo} to {hi}; {x['share']:.0%} of replicates "
                f"cross there), {first} ahead below, {second} above"
            )
        text += " The fitted curves cross at " + "; and at ".join(cs) + "."
    else:
        text += (
            f" The fitted curves do not cross within {_fmt(float(c.grid[0]))} to "
            f"{_fmt(float(c.grid[-1]))} ({c.share_any_crossover:.0%} of replicates do)."
        )
    text += (
        f" Measured: {la} {_fmt(c.range_a[0])} to {_fmt(c.range_a[1])}, {lb} "
        f"{_fmt(c.range_b[0])} to {_fmt(c.range_b[1])}; outside {_fmt(meas_lo)} to "
        f"{_fmt(meas_hi)} at least one law is extrapolated."
    )
    return text


# ---------------------------------------------------------------------------------------
# many pairs
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComparisonResult:
    """All pairwise comparisons of a fit: ``fit`` (engine ``FitResult``) and
    ``comparisons`` (one :class:`Comparison` per pair, in group order; a tuple: the result
    is immutable)."""

    fit: Any
    comparisons: tuple[Comparison, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "comparisons", tuple(self.comparisons))

    def __iter__(self):  # noqa: ANN204
        return iter(self.comparisons)

    def __len__(self) -> int:
        return len(self.comparisons)

    def __getitem__(self, i: int) -> Comparison:
        return self.comparisons[i]

    def to_dict(self) -> dict:
        """The fit JSON contract extended by ``comparisons``."""
        out = dict(self.fit.to_dict())
        out["comparisons"] = [c.to_dict() for c in self.comparisons]
        return out

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per pair and ``at`` compute."""
        frames = [c.to_frame() for c in self.comparisons]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _check_before_fitting(frame: pd.DataFrame, *, x: str, by: list[str],
                          where: Sequence[str] | None, extrapolate: float) -> None:
    """What is known before anything is fitted: fewer than two groups, and an
    ``extrapolate`` that takes the grid beyond :data:`X_MAX` from the largest compute of
    the rows (the fit names a missing or non-numeric column)."""
    from scalecmp.io import apply_where, check_unique

    rows = apply_where(frame, where)
    for column, option in [(x, "x"), *((b, "by") for b in by)]:
        check_unique(rows, column, option)
    if x in rows.columns:
        xs = pd.to_numeric(rows[x], errors="coerce").to_numpy(dtype=float)
        xs = xs[np.isfinite(xs) & (xs > 0)]
        if len(xs):
            check_extrapolate(extrapolate, float(xs.max()))
    if not all(b in rows.columns for b in by):
        return  # the fit names the missing column
    groups = rows.groupby(by, sort=True).ngroups
    if groups < 2:
        raise DataError(f"by: compare needs at least 2 groups, got {groups}; check `by` and "
                        "`where`")


def check_compare_options(options: FitOptions, *,
                          purpose: str = "compare is made of bootstrap intervals",
                          needs: str = "compare fits laws of compute alone") -> None:
    """What a comparison (and a report, with its own words) asks of the fit's options
    beyond their own checks: bootstrap intervals (``n_bootstrap >= 20``) and a law of
    compute alone."""
    if options.n_bootstrap < MIN_REPLICATES:
        check_n_bootstrap(options.n_bootstrap, minimum=MIN_REPLICATES, purpose=purpose)
    if options.n_inputs == 2:
        raise UsageError(f"law: {needs}; '{options.law_name}' has two inputs")


def compare(
    data: Any,
    *,
    x: str = "gflops_total",
    y: str = "value",
    by: str | Sequence[str] | None = None,
    maximize: bool = False,
    at: Sequence[float] | None = None,
    where: Sequence[str] | None = None,
    extrapolate: float = 100.0,
    n_grid: int = 200,
    options: FitOptions | None = None,
    **option_values: Any,
) -> ComparisonResult:
    """Fit every group of ``by`` and compare every pair ``(a, b)`` of groups, ``a`` before
    ``b`` in group order. ``data`` is a frame (or a dict of columns, a list of records), or
    a :class:`FitResult` already fitted (compared as it was fitted: then only ``level`` may
    be given).

    How to fit: ``options`` (a :class:`FitOptions`) or its fields as keywords (``law``,
    ``n_bootstrap``, ``level``, ...); ``level`` is also the level of the comparison's
    intervals. Returns a :class:`ComparisonResult` (``.comparisons``, ``.to_dict()``,
    ``.to_frame()``). Raises :class:`DataError` when fewer than two groups result and
    :class:`UsageError` for bad options (``at`` values, ``level``, ``extrapolate``, fewer
    than 20 bootstrap replicates, a two-input law), all checked before anything is fitted.
    """
    at = check_at(at)
    maximize = check_flag(maximize, "maximize")
    if isinstance(data, FitResult):
        if options is not None or set(option_values) - {"level"}:
            raise UsageError("compare: a FitResult is compared as it was fitted; only `level` "
                             "can be given with it")
        res = data
        level = check_level(option_values.get("level", res.level))
        extrapolate = check_extrapolate(
            extrapolate, max((g.x_range[1] for g in res.groups), default=None))
    else:
        options = fit_options(options, **option_values)
        level = options.level
        extrapolate = check_factor(extrapolate, "extrapolate")
        if not by:
            raise UsageError("by: compare needs the column(s) whose groups are compared")
        check_compare_options(options)
        data = as_frame(data)
        by = [by] if isinstance(by, str) else list(by)
        check_bootstrap_memory(options.n_bootstrap, len(data), compare=True)
        _check_before_fitting(data, x=x, by=by, where=where, extrapolate=extrapolate)
        res = fit_frame(data, x=x, y=y, by=by, x2=None, where=where, maximize=maximize,
                        predict_at=None, predict_at2=None, options=options)
    groups = list(res.groups)
    if len(groups) < 2:
        keys = ", ".join(label_of(g.key) for g in groups) or "none"
        raise DataError(
            f"by: compare needs at least 2 groups, got {len(groups)} ({keys}); check `by` "
            "and `where`"
        )
    comps = [
        compare_groups(
            ga, gb, at=at, level=level, extrapolate=extrapolate, n_grid=n_grid, x_name=res.x,
        )
        for ga, gb in combinations(groups, 2)
    ]
    return ComparisonResult(fit=res, comparisons=comps)
