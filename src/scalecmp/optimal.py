"""Compute-optimal allocation: how to split compute between model size and samples seen.

Two routes, per group (procedure, dataset):

1. **Frontier route** (the study's figure 6). Take the runs on the compute frontier (by
   default the plain non-dominated frontier: lower error than every cheaper run) and fit
   ``log D = log k + a log C`` by least squares, i.e. ``D_opt(C) = k C^a`` (``D`` samples
   seen, ``C`` compute in the units of ``x``); likewise ``N_opt(C) = k_N C^(a_N)`` for the
   model size ``N`` (a parameter count, or GFLOPs per sample ``= C / D`` when no size column
   is given, in which case ``a + a_N = 1`` exactly). Intervals: pairs bootstrap over the
   frontier runs (multinomial weights, all replicates solved in closed form at once).
2. **Chinchilla route** (Hoffmann et al. 2022, approach 3). Fit
   ``L(N, D) = E + A / N^alpha + B / D^beta`` to *all* runs with the engine's ``chinchilla``
   law, then minimise ``L`` under the compute constraint ``C = k_c N D``:

   ``N_opt = G (C / k_c)^(beta / (alpha + beta))``,
   ``D_opt = G^-1 (C / k_c)^(alpha / (alpha + beta))``,
   ``G = (alpha A / (beta B))^(1 / (alpha + beta))``.

   The allocation exponents are ``a = beta / (alpha + beta)`` (for ``N``) and
   ``b = alpha / (alpha + beta)`` (for ``D``), with bootstrap intervals from the engine's
   replicates. ``k_c`` converts ``N D`` into the units of ``C``: 1 when ``N`` is GFLOPs per
   sample and ``C`` GFLOPs (``C = N D`` exactly); otherwise, unless given, the median of
   ``C / (N D)`` over the runs (for parameter counts and forward GFLOPs this is about
   ``2e-9`` per parameter per sample: 2 FLOPs per parameter, forward only; the familiar
   ``C = 6 N D`` counts FLOPs of forward and backward).

Errors are lower-is-better (``1 - y`` with ``maximize``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.engine import FitOptions, fit_frame, fit_options
from scalecmp.engine.frontier import frontier_mask
from scalecmp.engine.lawfit import FrozenDict
from scalecmp.engine.results import jsonable
from scalecmp.errors import DataError, ScalecmpWarning
from scalecmp.format import group_label
from scalecmp.intervals import finite_or_none as _f
from scalecmp.intervals import quantile_interval
from scalecmp.io import MAXIMIZE_HINT, looks_higher_is_better, prepare_measurements
from scalecmp.validate import (
    check_bootstrap_memory,
    check_flag,
    check_positive,
    check_positive_values,
)

__all__ = [
    "PowerFit",
    "GroupAllocation",
    "OptimalResult",
    "fit_power",
    "optimal_allocation",
    "chinchilla_allocation",
]


def _power_interval(
    log_k: np.ndarray, exponent: np.ndarray, c: Sequence[float] | np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of ``k_r C^a_r`` over bootstrap replicates ``(log k_r, a_r)``
    (replicates with non-finite values left out; NaN when none is left)."""
    lc = np.log(np.asarray(c, dtype=float))
    reps = np.asarray(log_k)[:, None] + np.asarray(exponent)[:, None] * lc[None, :]
    reps = reps[np.isfinite(reps).all(axis=1)]
    if len(reps) == 0:
        nan = np.full(len(lc), np.nan)
        return nan, nan.copy()
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [q, 1.0 - q], axis=0)
    return np.exp(lo), np.exp(hi)


@dataclass
class PowerFit:
    """``target(C) = k C^a``, fitted in log-log; ``replicates`` (R, 2) of ``(log k, a)``."""

    k: float
    a: float
    replicates: np.ndarray
    level: float
    n: int

    @property
    def k_ci(self) -> tuple[float, float]:
        lo, hi = quantile_interval(self.replicates[:, 0], self.level, method="linear")
        return float(np.exp(lo)), float(np.exp(hi))

    @property
    def a_ci(self) -> tuple[float, float]:
        return quantile_interval(self.replicates[:, 1], self.level, method="linear")

    def predict(self, c: Sequence[float] | np.ndarray) -> np.ndarray:
        """``k C^a``."""
        return self.k * np.asarray(c, dtype=float) ** self.a

    def interval(self, c: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of ``k_r C^a_r`` over the replicates."""
        return _power_interval(self.replicates[:, 0], self.replicates[:, 1], c, self.level)

    def to_dict(self) -> dict:
        return {
            "k": _f(self.k),
            "a": _f(self.a),
            "k_ci": [_f(v) for v in self.k_ci],
            "a_ci": [_f(v) for v in self.a_ci],
            "n_points": self.n,
        }


def fit_power(
    c: np.ndarray,
    target: np.ndarray,
    *,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
) -> PowerFit:
    """Least squares of ``log target = log k + a log C``, with a pairs bootstrap.

    Every replicate is a weighted least-squares problem with multinomial weights ``w``:
    ``a = cov_w(log C, log target) / var_w(log C)``; all are solved at once.
    Replicates with fewer than 2 distinct ``C`` get NaN.
    """
    lc = np.log(np.asarray(c, dtype=float))
    lt = np.log(np.asarray(target, dtype=float))
    n = len(lc)
    if n < 2 or np.ptp(lc) == 0:
        raise DataError("need at least 2 frontier runs at different compute for an allocation fit")
    a, lk = np.polyfit(lc, lt, 1)
    rng = np.random.default_rng(0) if rng is None else rng
    if n_bootstrap > 0:
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=int(n_bootstrap)).astype(float)
        sw = w.sum(axis=1, keepdims=True)
        mx = (w * lc).sum(axis=1, keepdims=True) / sw
        my = (w * lt).sum(axis=1, keepdims=True) / sw
        vx = (w * (lc - mx) ** 2).sum(axis=1)
        cxy = (w * (lc - mx) * (lt - my)).sum(axis=1)
        distinct = ((w > 0) * 1.0) @ np.ones(n) >= 2
        with np.errstate(invalid="ignore", divide="ignore"):
            ar = np.where(distinct & (vx > 1e-12), cxy / vx, np.nan)
        lkr = my[:, 0] - ar * mx[:, 0]
        reps = np.stack([lkr, ar], axis=1)
    else:
        reps = np.empty((0, 2))
    return PowerFit(k=float(np.exp(lk)), a=float(a), replicates=reps, level=level, n=n)


@dataclass
class ChinchillaAllocation:
    """``N_opt, D_opt`` from a fitted ``L(N, D)`` under ``C = k_c N D`` (module docstring)."""

    params: dict[str, float]
    replicates: np.ndarray  # (R, 5) A, alpha, B, beta, E
    compute_constant: float
    level: float
    fit: Any = None

    @staticmethod
    def _coef(p: np.ndarray, k_c: float) -> dict[str, np.ndarray]:
        A, al, B, be = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
        with np.errstate(all="ignore"):
            s = al + be
            lg = (np.log(al * A) - np.log(be * B)) / s
            a_n, a_d = be / s, al / s
            return {
                "a": a_n,
                "b": a_d,
                "log_kn": lg - a_n * np.log(k_c),
                "log_kd": -lg - a_d * np.log(k_c),
            }

    def _point(self) -> dict[str, np.ndarray]:
        p = np.array([self.params[k] for k in ("A", "alpha", "B", "beta", "E")])
        return self._coef(p, self.compute_constant)

    def predict(self, c: Sequence[float]) -> dict[str, np.ndarray]:
        """``{"n_opt": .., "d_opt": ..}`` at compute ``c``."""
        lc = np.log(np.asarray(c, dtype=float))
        co = self._point()
        return {
            "n_opt": np.exp(co["log_kn"] + co["a"] * lc),
            "d_opt": np.exp(co["log_kd"] + co["b"] * lc),
        }

    def interval(self, c: Sequence[float], which: str) -> tuple[np.ndarray, np.ndarray]:
        co = self._coef(self.replicates, self.compute_constant)
        lk, ex = (co["log_kn"], co["a"]) if which == "n_opt" else (co["log_kd"], co["b"])
        return _power_interval(lk, ex, c, self.level)

    def to_dict(self) -> dict:
        co = self._point()
        rc = self._coef(self.replicates, self.compute_constant)
        out = {
            "law": "chinchilla",
            "formula": "L = E + A / N^alpha + B / D^beta",
            "params": {k: _f(v) for k, v in self.params.items()},
            "compute_constant": _f(self.compute_constant),
            "constraint": "C = k_c * N * D",
            "a": _f(co["a"]),
            "a_ci": [_f(v) for v in quantile_interval(rc["a"], self.level, method="linear")],
            "b": _f(co["b"]),
            "b_ci": [_f(v) for v in quantile_interval(rc["b"], self.level, method="linear")],
            "n_opt": {"k": _f(np.exp(co["log_kn"])), "a": _f(co["a"])},
            "d_opt": {"k": _f(np.exp(co["log_kd"])), "a": _f(co["b"])},
        }
        if self.fit is not None:
            out["params_ci"] = {k: [_f(v) for v in vv] for k, vv in self.fit.params_ci.items()}
        return out


@dataclass(frozen=True)
class GroupAllocation:
    """Allocation results of one group."""

    key: dict
    frontier: pd.DataFrame
    d_opt: PowerFit
    n_opt: PowerFit
    chinchilla: ChinchillaAllocation | None = None
    predict_at: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", FrozenDict(self.key))
        object.__setattr__(self, "predict_at", tuple(float(v) for v in self.predict_at))

    def predictions(self) -> list[dict]:
        if not self.predict_at:
            return []
        c = np.asarray(self.predict_at, dtype=float)
        d, (dlo, dhi) = self.d_opt.predict(c), self.d_opt.interval(c)
        n, (nlo, nhi) = self.n_opt.predict(c), self.n_opt.interval(c)
        rows = []
        for i, cv in enumerate(c):
            row = {
                "x": float(cv),
                "d_opt": _f(d[i]),
                "d_lo": _f(dlo[i]),
                "d_hi": _f(dhi[i]),
                "n_opt": _f(n[i]),
                "n_lo": _f(nlo[i]),
                "n_hi": _f(nhi[i]),
            }
            if self.chinchilla is not None:
                p = self.chinchilla.predict(c)
                clo, chi = self.chinchilla.interval(c, "d_opt")
                nlo2, nhi2 = self.chinchilla.interval(c, "n_opt")
                row.update(
                    {
                        "chinchilla_d_opt": _f(p["d_opt"][i]),
                        "chinchilla_d_lo": _f(clo[i]),
                        "chinchilla_d_hi": _f(chi[i]),
                        "chinchilla_n_opt": _f(p["n_opt"][i]),
                        "chinchilla_n_lo": _f(nlo2[i]),
                        "chinchilla_n_hi": _f(nhi2[i]),
                    }
                )
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        return {
            "key": dict(self.key),
            "n_frontier": len(self.frontier),
            "d_opt": self.d_opt.to_dict(),
            "n_opt": self.n_opt.to_dict(),
            "chinchilla": self.chinchilla.to_dict() if self.chinchilla else None,
            "predictions": self.predictions(),
        }


@dataclass(frozen=True)
class OptimalResult:
    """Allocation fits for every group, with the options that produced them (immutable)."""

    groups: tuple[GroupAllocation, ...]
    x: str
    y: str
    samples: str
    size: str
    maximize: bool
    frontier: str
    level: float
    n_bootstrap: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(self.groups))

    def to_dict(self) -> dict:
        return {
            "x": self.x,
            "y": self.y,
            "samples": self.samples,
            "size": self.size,
            "maximize": self.maximize,
            "frontier": self.frontier,
            "level": self.level,
            "n_bootstrap": self.n_bootstrap,
            "groups": [g.to_dict() for g in self.groups],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per group and quantity (d_opt, n_opt, chinchilla exponents)."""
        rows = []
        for g in self.groups:
            for name, pf in (("d_opt", g.d_opt), ("n_opt", g.n_opt)):
                rows.append(
                    {
                        **g.key,
                        "route": "frontier",
                        "quantity": name,
                        "k": pf.k,
                        "k_lo": pf.k_ci[0],
                        "k_hi": pf.k_ci[1],
                        "a": pf.a,
                        "a_lo": pf.a_ci[0],
                        "a_hi": pf.a_ci[1],
                    }
                )
            if g.chinchilla is not None:
                d = g.chinchilla.to_dict()
                for name, ex in (("n_opt", "a"), ("d_opt", "b")):
                    rows.append(
                        {
                            **g.key,
                            "route": "chinchilla",
                            "quantity": name,
                            "k": d[name]["k"],
                            "k_lo": None,
                            "k_hi": None,
                            "a": d[ex],
                            "a_lo": d[f"{ex}_ci"][0],
                            "a_hi": d[f"{ex}_ci"][1],
                        }
                    )
        return pd.DataFrame(rows)


def chinchilla_allocation(
    frame: pd.DataFrame,
    *,
    size: str,
    samples: str,
    y: str,
    maximize: bool = False,
    compute_constant: float = 1.0,
    options: FitOptions | None = None,
    **option_values: Any,
) -> ChinchillaAllocation:
    """Fit ``L(N, D)`` to every run with the engine's ``chinchilla`` law (no frontier) and
    return the compute-optimal allocation under ``C = compute_constant * N * D``.
    ``options`` / ``option_values``: how to fit (:class:`FitOptions`; ``law`` and
    ``frontier`` are this route's own)."""
    maximize = check_flag(maximize, "maximize")
    options = fit_options(options, **option_values).with_values(law="chinchilla",
                                                                 frontier="none")
    res = fit_frame(frame, x=size, x2=samples, y=y, by=None, where=None, maximize=maximize,
                    predict_at=None, predict_at2=None, options=options)
    g = res.groups[0]
    reps = np.asarray(g.bootstrap_params, dtype=float).reshape(-1, 5)
    return ChinchillaAllocation(
        params=dict(g.params),
        replicates=reps,
        compute_constant=float(compute_constant),
        level=options.level,
        fit=g,
    )


DEFAULT_FRONTIER = "naive"  # the study's: D_opt(C) from the non-dominated runs


def optimal_allocation(
    frame: pd.DataFrame,
    *,
    x: str = "gflops_total",
    y: str = "value",
    samples: str = "samples_seen",
    size: str | None = None,
    by: str | Sequence[str] | None = None,
    where: Sequence[str] | None = None,
    maximize: bool = False,
    chinchilla: bool = True,
    compute_constant: float | None = None,
    predict_at: Sequence[float] | None = None,
    options: FitOptions | None = None,
    **option_values: Any,
) -> OptimalResult:
    """Compute-optimal ``D_opt(C)`` and ``N_opt(C)`` per group (module docstring).

    ``size``: model-size column (parameters, or GFLOPs per sample); ``None`` derives
    ``N = x / samples`` (GFLOPs per sample when ``x`` is total GFLOPs). ``options`` (or its
    fields as keywords): ``n_bootstrap``, ``level`` and ``random_state`` of every route;
    ``frontier``, the runs the allocation is fitted to, ``None`` = ``naive`` (the
    non-dominated runs, as the study does); the Chinchilla route always fits every run.
    """
    maximize = check_flag(maximize, "maximize")
    chinchilla = check_flag(chinchilla, "chinchilla")
    options = fit_options(options, **option_values)
    level, n_bootstrap, random_state = options.level, options.n_bootstrap, options.random_state
    predict_at = check_positive_values(predict_at, "predict_at")
    if compute_constant is not None:
        compute_constant = check_positive(compute_constant, "compute_constant")
    frontier = options.frontier or DEFAULT_FRONTIER
    by = [by] if isinstance(by, str) else list(by or [])
    data = prepare_measurements(
        frame, x, y, x2=samples, by=by, where=where, maximize=maximize, x2_name="samples"
    )
    if chinchilla:
        check_bootstrap_memory(n_bootstrap, len(data))
    size_name = size or "gflops_per_sample (x / samples)"
    if size is not None:
        data = prepare_measurements(data, x, y, x2=size, by=by, maximize=maximize, x2_name="size")
    groups: list[GroupAllocation] = []
    grouped = data.groupby(by, sort=True) if by else [((), data)]
    for i, (key, rows) in enumerate(grouped):
        key = key if isinstance(key, tuple) else (key,)
        key_d = {b: jsonable(k) for b, k in zip(by, key, strict=True)}
        c = rows[x].to_numpy(float)
        d = rows[samples].to_numpy(float)
        n = rows[size].to_numpy(float) if size else c / d
        err = 1.0 - rows[y].to_numpy(float) if maximize else rows[y].to_numpy(float)
        mask = frontier_mask(c, err, frontier, options.frontier_bins)
        label = group_label(key_d)
        if mask.sum() < 3:
            hint = (f" ({MAXIMIZE_HINT})" if not maximize and looks_higher_is_better(c, err)
                    else "")
            raise DataError(
                f"group {label}: only {int(mask.sum())} frontier runs; need >= 3{hint}"
            )
        rng = np.random.default_rng(None if random_state is None else random_state + i)
        d_fit = fit_power(c[mask], d[mask], n_bootstrap=n_bootstrap, level=level, rng=rng)
        rng = np.random.default_rng(None if random_state is None else random_state + i)
        n_fit = fit_power(c[mask], n[mask], n_bootstrap=n_bootstrap, level=level, rng=rng)
        chin = None
        if chinchilla:
            k_c = compute_constant
            if k_c is None:
                k_c = 1.0 if size is None else float(np.exp(np.median(np.log(c / (n * d)))))
            sub = rows.assign(_N=n)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ScalecmpWarning)
                    chin = chinchilla_allocation(
                        sub,
                        size="_N",
                        samples=samples,
                        y=y,
                        maximize=maximize,
                        compute_constant=k_c,
                        options=options,
                    )
            except DataError as exc:
                warnings.warn(
                    f"group {label}: Chinchilla route skipped: {exc}", ScalecmpWarning, stacklevel=2
                )
        groups.append(
            GroupAllocation(
                key=key_d,
                frontier=rows.loc[mask].assign(_N=n[mask]),
                d_opt=d_fit,
                n_opt=n_fit,
                chinchilla=chin,
                predict_at=list(predict_at or []),
            )
        )
    return OptimalResult(
        groups=groups,
        x=x,
        y=y,
        samples=samples,
        size=size_name,
        maximize=maximize,
        frontier=frontier,
        level=level,
        n_bootstrap=n_bootstrap,
    )
