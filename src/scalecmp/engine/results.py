"""The immutable results of a fit: :class:`LawMixture` (the fitted laws of one series and
their weights: the one uncertainty model), :class:`GroupFit` (one group of a frame: its rows,
its frontier, its mixture) and :class:`FitResult` (every group, with the options that
produced them).

Nothing downstream evaluates a law from parameters: ``compare``, ``optimal``, ``report`` and
the command line read ``predict_error`` and ``error_replicates`` of these objects only.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.engine.lawfit import FrozenDict, LawFit, frozen_array
from scalecmp.engine.laws import Law
from scalecmp.engine.options import AUTO, DEFAULT_FRONTIER, FitOptions
from scalecmp.engine.pooling import PooledPrior
from scalecmp.errors import DataError, UsageError
from scalecmp.files import json_safe
from scalecmp.format import group_label, join_some
from scalecmp.validate import check_level

__all__ = ["FitResult", "GroupFit", "LawMixture", "as_inputs", "as_values", "jsonable"]


def as_values(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float array: a number, a list, a 1-D array or Series, or a
    column of shape ``(n, 1)`` (scikit-learn's ``X`` of one feature). Anything else is a
    :class:`UsageError` naming ``name``: text (``"1e12"`` is not read as a number),
    booleans, objects that are not real numbers, and arrays of any other shape (a ``(2,
    3)`` array is not flattened into six values)."""
    arr = np.asarray(values)
    kind = arr.dtype.kind
    if kind == "O":
        for v in arr.reshape(-1):
            if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
                raise UsageError(f"{name} must hold numbers, got {v!r} "
                                 f"({type(v).__name__})")
    elif kind not in "iuf":
        what = {"U": "text", "S": "bytes", "b": "booleans", "c": "complex numbers",
                "M": "dates", "m": "time spans"}.get(kind, f"values of type {arr.dtype}")
        first = f" such as {arr.reshape(-1)[0].item()!r}" if arr.size else ""
        raise UsageError(f"{name} must hold numbers, got {what}{first}"
                         + (": convert them first (float(...))" if kind in "US" else ""))
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim > 1:
        raise UsageError(f"{name} must be one-dimensional (a list, a 1-D array or a column of "
                         f"shape (n, 1)), got an array of shape {arr.shape}")
    try:
        return arr.astype(float).reshape(-1)
    except OverflowError:  # a Python integer beyond 1.8e308
        raise UsageError(f"{name} must hold numbers below 1.8e308 (a float), got a larger "
                         "integer") from None


def error_in_range(err: np.ndarray, maximize: bool) -> np.ndarray:
    """Errors as the metric can measure them: with ``maximize`` (a higher-is-better metric
    in [0, 1], error = 1 - metric) kept in [0, 1]. Outside the data a law's error may pass
    1 (below the smallest run, or a replicate tilted far beyond the largest): the metric is
    then at chance, 0; inside the data the range prior and the warnings see to it. A
    lower-is-better metric's errors are returned as they are."""
    return np.clip(err, 0.0, 1.0) if maximize else err


def to_metric(err: np.ndarray, maximize: bool) -> np.ndarray:
    """The metric of errors ``err``: ``1 - err`` kept in [0, 1] with ``maximize``
    (:func:`error_in_range`), else the errors themselves."""
    return 1.0 - error_in_range(err, True) if maximize else err


def as_inputs(x: Any, x2: Any | None, n_inputs: int) -> np.ndarray:
    """Compute values as an array: ``(n,)`` for laws of one input, ``(n, 2)`` with ``x2``
    (each as :func:`as_values` takes them)."""
    x = as_values(x, "x")
    if n_inputs == 2:
        if x2 is None:
            raise UsageError("this law needs two inputs: pass x2 as well")
        x2 = as_values(x2, "x2")
        if len(x2) != len(x):
            raise UsageError(f"x and x2 differ in length ({len(x)} vs {len(x2)})")
        return np.stack([x, x2], axis=-1)
    if x2 is not None:
        raise UsageError("x2 is only used by two-input laws such as chinchilla")
    return x



@dataclass(frozen=True)
class LawMixture:
    """The fitted laws of one series and their weights: the one uncertainty model.

    ``predict_error(x) = sum_k w_k err_k(x)``; ``error_replicates(x)`` stacks
    ``round(w_k R)`` replicate curves of every member (see :mod:`scalecmp.engine.lawfit`), so
    percentiles of the replicates carry both each law's uncertainty and their disagreement.
    A pinned law is a mixture of one.
    """

    mode: str
    members: tuple[LawFit, ...]
    weights: tuple[float, ...]
    candidates: tuple[dict, ...]
    maximize: bool
    level: float
    x_range: tuple[float, float]
    n_frontier: int
    #: warnings about the data rather than a law (points of error 0 set to half the
    #: smallest error), carried with the result so that every later step shows them
    data_notes: tuple[str, ...] = ()

    @property
    def dominant(self) -> LawFit:
        """The member with the largest weight (whose parameters are reported)."""
        return self.members[int(np.argmax(self.weights))]

    @property
    def law(self) -> Law:
        return self.dominant.law

    @property
    def n_inputs(self) -> int:
        return self.dominant.law.n_inputs

    def _X(self, x: Any, x2: Any | None) -> np.ndarray:
        X = as_inputs(x, x2, self.n_inputs)
        bad = ~(np.isfinite(X) & (X > 0))
        if bad.any():
            raise DataError(f"the laws predict at compute > 0 and finite; got "
                            f"{float(X[bad][0]):g}")
        return X

    def _to_metric(self, err: np.ndarray) -> np.ndarray:
        return to_metric(err, self.maximize)

    def predict_error(self, x: Any, x2: Any | None = None) -> np.ndarray:
        X = self._X(x, x2)
        out = np.zeros(X.shape[0])
        for m, w in zip(self.members, self.weights, strict=True):
            if w > 0:
                out = out + w * m.predict_error(X)
        return out

    def predict(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self._to_metric(self.predict_error(x, x2))

    @property
    def n_replicates(self) -> int:
        return sum(m.n_replicates for m in self.members)

    @property
    def _order(self) -> np.ndarray:
        """A fixed shuffle of the stacked member replicates, so that replicate ``r`` of two
        independent mixtures pairs laws at random rather than block against block."""
        return np.random.default_rng(self.n_replicates).permutation(self.n_replicates)

    def error_replicates(self, x: Any, x2: Any | None = None, *,
                         noise: bool = False, data_end: float | None = None) -> np.ndarray:
        """The replicate curves (R, m), error units; ``noise``: plus a resampled residual
        (a new measurement); ``data_end``: the extrapolation tilt measured from
        ``max(x_max, data_end)`` (:mod:`scalecmp.engine.lawfit`)."""
        X = self._X(x, x2)
        parts = [m.error_replicates(X, noise=noise, data_end=data_end)
                 for m in self.members if m.n_replicates]
        if not parts:
            return np.empty((0, X.shape[0]))
        return np.concatenate(parts, axis=0)[self._order]

    def replicate_members(self) -> np.ndarray:
        """Which member (index into ``members``) each replicate of
        :meth:`error_replicates` comes from, in the same order."""
        parts = [np.full(m.n_replicates, k) for k, m in enumerate(self.members)
                 if m.n_replicates]
        if not parts:
            return np.empty(0, dtype=int)
        return np.concatenate(parts)[self._order]

    def replicate_tilts(self) -> np.ndarray:
        """The extrapolation tilt ``g_r`` of each replicate of :meth:`error_replicates`
        (per unit of natural-log compute beyond the data; 0 for two-input laws), in the
        same order."""
        parts = [np.asarray(m.tilt, dtype=float) if m.law.n_inputs == 1 and len(m.tilt)
                 else np.zeros(m.n_replicates) for m in self.members if m.n_replicates]
        if not parts:
            return np.empty(0)
        return np.concatenate(parts)[self._order]

    def predict_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self._to_metric(self.error_replicates(x, x2))

    def interval(self, x: Any, level: float | None = None, x2: Any | None = None, *,
                 kind: str = "prediction") -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` in metric units: ``kind="prediction"`` for a new measurement (curve
        plus measurement scatter), ``"curve"`` for the law itself. NaN without replicates."""
        level = self.level if level is None else level
        check_level(level)
        if kind not in ("prediction", "curve"):
            raise UsageError(f"unknown interval kind '{kind}' (prediction or curve)")
        curves = self.error_replicates(x, x2, noise=kind == "prediction")
        if len(curves) == 0:
            m = self._X(x, x2).shape[0]
            return np.full(m, np.nan), np.full(m, np.nan)
        q = (1.0 - level) / 2.0
        lo_e, hi_e = np.quantile(curves, [q, 1.0 - q], axis=0)
        if self.maximize:
            return self._to_metric(hi_e), self._to_metric(lo_e)
        return lo_e, hi_e

    def params_interval(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        return self.dominant.params_interval(self.level if level is None else
                                             check_level(level))

    def exponent_replicates(self) -> np.ndarray:
        """Large-compute exponents of every replicate (of every member), NaN-free."""
        parts = [m.exponent_replicates() for m in self.members if m.n_replicates]
        if not parts:
            return np.empty(0)
        v = np.concatenate(parts)[self._order]
        return v[np.isfinite(v)]

    @property
    def exponent(self) -> float:
        ws = [(w, m.exponent) for m, w in zip(self.members, self.weights, strict=True) if w > 0]
        vals = [(w, e) for w, e in ws if np.isfinite(e)]
        if not vals:
            return float("nan")
        return float(sum(w * e for w, e in vals) / sum(w for w, _ in vals))

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings about the data, of the members that carry weight (>= 10%), and of the
        mixture."""
        out = list(self.data_notes)
        for m, w in zip(self.members, self.weights, strict=True):
            if w >= 0.1 or len(self.members) == 1:
                prefix = f"{m.law.name}" + (f" (weight {w:.2f})" if len(self.members) > 1
                                            else "")
                out += [f"{prefix}: {msg}" for msg in m.warnings]
        if self.n_replicates and self.n_inputs == 1:
            lo, hi = self.x_range
            grid = np.geomspace(lo, hi, 16)
            a, b = self.interval(grid, 0.95, kind="curve")
            if np.any(b - a <= 0):
                out.append("the 95% interval has zero width inside the data (degenerate fit)")
        return tuple(out)

    @property
    def diagnostics(self) -> dict[str, Any]:
        d = dict(self.dominant.diagnostics)
        d["law"] = self.dominant.law.name
        d["warnings"] = list(self.warnings)
        if self.mode == AUTO:
            d["candidates"] = [dict(c) for c in self.candidates]
        return d


@dataclass(frozen=True)
class GroupFit:
    """The fit of one group: immutable, typed, in the spirit of lmfit's ``ModelResult``.

    ``key`` (group values), ``data`` (its rows), ``fit`` (:class:`LawMixture`: every member
    law, weight and replicate). Everything downstream (``compare``, ``optimal``, ``report``,
    the CLI) reads predictions, intervals and replicates from here and nowhere else:
    ``predict``, ``predict_error``, ``interval``, ``error_replicates``, ``params``,
    ``params_ci``, ``warnings``, ``report()``.
    """

    key: dict[str, Any]
    data: pd.DataFrame
    x: str
    y: str
    fit: LawMixture
    frontier_mask: np.ndarray
    err: np.ndarray
    x2: str | None = None
    predictions_at: tuple[float, ...] = field(default_factory=tuple)
    #: the prior this group got from the other groups of its call (``pooling="series"``;
    #: ``None``: fitted alone)
    pooled_prior: PooledPrior | None = None

    def __post_init__(self) -> None:
        # immutable as a whole: the key, the errors and the frontier cannot be changed in
        # place (``data`` is a pandas frame: treat it as read-only)
        object.__setattr__(self, "key", FrozenDict(self.key))
        object.__setattr__(self, "err", frozen_array(self.err))
        object.__setattr__(self, "frontier_mask", frozen_array(self.frontier_mask, bool))

    # -- what was fitted ------------------------------------------------------------
    @property
    def law(self) -> Law:
        """The law with the largest weight (the only one when a law is pinned)."""
        return self.fit.law

    @property
    def mode(self) -> str:
        return self.fit.mode

    @property
    def members(self) -> tuple[LawFit, ...]:
        return self.fit.members

    @property
    def weights(self) -> tuple[float, ...]:
        return self.fit.weights

    @property
    def params(self) -> dict[str, float]:
        return dict(self.fit.dominant.params)

    @property
    def params_ci(self) -> dict[str, tuple[float, float]]:
        return self.fit.params_interval()

    @property
    def maximize(self) -> bool:
        return self.fit.maximize

    @property
    def level(self) -> float:
        return self.fit.level

    @property
    def bootstrap_params(self) -> np.ndarray:
        return self.fit.dominant.bootstrap_params

    @property
    def n_replicates(self) -> int:
        return self.fit.n_replicates

    @property
    def diagnostics(self) -> dict[str, Any]:
        return self.fit.diagnostics

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.fit.warnings

    @property
    def frontier(self) -> pd.DataFrame:
        return self.data.loc[self.frontier_mask]

    @property
    def n_points(self) -> int:
        return len(self.data)

    @property
    def n_frontier(self) -> int:
        return int(self.frontier_mask.sum())

    @property
    def x_range(self) -> tuple[float, float]:
        return self.fit.x_range

    @property
    def exponent(self) -> float:
        return self.fit.exponent

    def exponent_replicates(self) -> np.ndarray:
        return self.fit.exponent_replicates()

    # -- predictions ----------------------------------------------------------------
    def predict(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.fit.predict(x, x2)

    def predict_error(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.fit.predict_error(x, x2)

    def interval(self, x: Any, level: float | None = None, x2: Any | None = None,
                 **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.fit.interval(x, level, x2, **kw)

    def error_replicates(self, x: Any, x2: Any | None = None, *, noise: bool = False,
                         data_end: float | None = None) -> np.ndarray:
        return self.fit.error_replicates(x, x2, noise=noise, data_end=data_end)

    def predict_replicates(self, x: Any, x2: Any | None = None) -> np.ndarray:
        return self.fit.predict_replicates(x, x2)

    def label(self) -> str:
        """The group key in words (``model_type=clip``; ``all`` when ungrouped)."""
        return group_label(self.key)

    def predictions(self, at: Sequence[float] | None = None,
                    at2: Sequence[float] | None = None) -> list[dict[str, float]]:
        """Point predictions with prediction intervals at ``at`` (and ``at2`` for the
        second input of two-input laws)."""
        at = list(self.predictions_at if at is None else at)
        if not at:
            return []
        xs = np.asarray(at, dtype=float)
        x2s = None if at2 is None else np.asarray(at2, dtype=float)
        if self.law.n_inputs == 2 and x2s is None:
            xs, x2s = xs[0::2], xs[1::2]  # predictions_at holds (N, D) pairs flattened
        yhat = self.predict(xs, x2s)
        lo, hi = self.interval(xs, None, x2s)
        rows = []
        for i in range(len(xs)):
            row = {"x": float(xs[i])}
            if x2s is not None:
                row["x2"] = float(x2s[i])
            row.update({"y": float(yhat[i]), "lo": float(lo[i]), "hi": float(hi[i])})
            rows.append(row)
        return rows

    def report(self) -> str:
        """A plain-text summary: laws and weights, parameters, warnings."""
        lines = [f"{self.label()}: {self.n_frontier} frontier points of {self.n_points}, "
                 f"x in [{self.x_range[0]:.4g}, {self.x_range[1]:.4g}]"]
        if self.mode == AUTO:
            lines.append("law auto: " + ", ".join(
                f"{c['name']} {c['weight']:.2f}" for c in self.fit.candidates if c["weight"] > 0
            ))
        if self.pooled_prior is not None:
            lines.append(self.pooled_prior.describe())
        lines.append(f"{self.law.name}: {self.law.format(self.params)}")
        for k, (lo, hi) in self.params_ci.items():
            lines.append(f"  {k} = {self.params[k]:.4g}  [{lo:.4g}, {hi:.4g}]")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """This group's entry of the fit JSON contract (strict JSON: a NaN, e.g. an
        interval without replicates, is ``None``)."""
        out = {
            "key": dict(self.key),
            "law": self.mode,
            "law_reported": self.law.name,
            "formula": self.law.formula,
            "params": self.params,
            "params_ci": {k: list(v) for k, v in self.params_ci.items()},
            "n_points": self.n_points,
            "n_frontier": self.n_frontier,
            "x_range": list(self.x_range),
            "diagnostics": self.diagnostics,
            "warnings": list(self.warnings),
            "predictions": self.predictions(),
        }
        if self.pooled_prior is not None:
            out["pooled_prior"] = self.pooled_prior.to_dict()
        if self.mode == AUTO:
            out["members"] = [
                {"law": m.law.name, "weight": w, "params": dict(m.params),
                 "params_ci": (
                     {k: list(v) for k, v in m.params_interval(self.level).items()}
                     if m.n_replicates else None
                 ),
                 "extrapolation_error": m.extrapolation_error}
                for m, w in zip(self.members, self.weights, strict=True)
            ]
        return json_safe(out)


def jsonable(v: Any) -> Any:
    """A numpy scalar as the Python value it holds (``np.int64(2)`` -> ``2``); anything
    else as it is."""
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass(frozen=True)
class FitResult:
    """Fits of every group, with the options that produced them; ``skipped`` lists groups
    that could support no law (``{"key": ..., "reason": ...}``)."""

    groups: tuple[GroupFit, ...]
    x: str
    y: str
    maximize: bool
    by: tuple[str, ...]
    options: FitOptions
    x2: str | None = None
    skipped: tuple[dict, ...] = ()

    # -- the options, as the JSON contract names them ---------------------------------
    @property
    def law(self) -> str:
        return self.options.law_name

    @property
    def level(self) -> float:
        return self.options.level

    @property
    def n_bootstrap(self) -> int:
        return self.options.n_bootstrap

    @property
    def frontier(self) -> str:
        """The frontier used: the option, or its default for the law's inputs."""
        return self.options.frontier or ("none" if self.x2 is not None else DEFAULT_FRONTIER)

    @property
    def loss(self) -> str:
        return self.options.loss

    @property
    def preset(self) -> str | None:
        return self.options.preset

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, item: int | str | tuple | dict[str, Any]) -> GroupFit:
        """A group by its position (``res[0]``), its value when grouped by one column
        (``res["clip"]``), its values in ``by`` order (``res[("clip",)]``,
        ``res[("clip", "ViT-B-32")]``) or a dict of them (``res[{"model_type": "clip"}]``;
        some columns of ``by`` may be left out: the first group that matches). Values
        match as text (``res[("1e-3",)]`` finds ``lr=0.001`` only as written). Anything
        else: a ``KeyError`` that names the groups there are."""
        if isinstance(item, int | np.integer) and not isinstance(item, bool | np.bool_):
            if not -len(self.groups) <= item < len(self.groups):
                raise IndexError(self._no_group(item, f"there are {len(self.groups)} groups, "
                                                      f"positions 0 to {len(self.groups) - 1}"))
            return self.groups[item]
        asked = item
        if isinstance(item, tuple):
            if len(item) != len(self.by):
                raise KeyError(self._no_group(
                    item, f"a key holds {len(self.by)} value(s), one per column of by "
                    f"({', '.join(self.by) or 'none: the fit is not grouped, key ()'})"))
            item = dict(zip(self.by, item, strict=True))
        elif isinstance(item, str):
            if len(self.by) != 1:
                raise KeyError(self._no_group(
                    item, f"the fit is grouped by {len(self.by)} columns "
                    f"({', '.join(self.by) or 'none'}): give a tuple of values in that order"))
            item = {self.by[0]: item}
        elif not isinstance(item, dict):
            raise KeyError(self._no_group(item, "a key is a position, a value, a tuple of "
                                                "values in by order or a dict"))
        unknown = [k for k in item if k not in self.by]
        if unknown:
            raise KeyError(self._no_group(asked, f"'{unknown[0]}' is not a column of by "
                                                 f"({', '.join(self.by) or 'none'})"))
        for g in self.groups:
            if all(str(g.key.get(k)) == str(v) for k, v in item.items()):
                return g
        raise KeyError(self._no_group(asked))

    def _no_group(self, item: Any, why: str = "") -> str:
        known = join_some([repr(tuple(g.key.values())) for g in self.groups], "groups",
                          most=8, sep=", ")
        return (f"no group {item!r}{f' ({why})' if why else ''}; the groups, by "
                f"({', '.join(self.by) or 'not grouped'}): {known}")

    def to_dict(self) -> dict[str, Any]:
        """The fit JSON contract."""
        out = {
            "x": self.x,
            "y": self.y,
            "maximize": self.maximize,
            "law": self.law,
            "level": self.level,
            "n_bootstrap": self.n_bootstrap,
            "frontier": self.frontier,
            "frontier_bins": self.options.frontier_bins,
            "loss": self.loss,
            "groups": [g.to_dict() for g in self.groups],
            "skipped": [dict(s) for s in self.skipped],
        }
        if self.preset:
            out["preset"] = self.preset
        if self.options.pooling != "none":  # whose prior each group's `pooled_prior` is
            out["pooling"] = self.options.pooling
            if self.options.corpus_exclude:
                out["corpus_exclude"] = list(self.options.corpus_exclude)
        if self.x2:
            out["x2"] = self.x2
        return out  # strict JSON: each group's entry is (GroupFit.to_dict)

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame: one row per (group, parameter) of the reported law, with interval."""
        rows = []
        for g in self.groups:
            ci = g.params_ci
            for name, value in g.params.items():
                rows.append(
                    {
                        **g.key,
                        "law": g.law.name,
                        "param": name,
                        "estimate": value,
                        "lo": ci[name][0],
                        "hi": ci[name][1],
                        "n_points": g.n_points,
                        "n_frontier": g.n_frontier,
                    }
                )
        return pd.DataFrame(rows)

    def predictions_frame(self, at: Sequence[float],
                          at2: Sequence[float] | None = None) -> pd.DataFrame:
        """Tidy frame of predictions: one row per (group, x)."""
        return pd.DataFrame(
            [{**g.key, **row} for g in self.groups for row in g.predictions(at, at2)]
        )
