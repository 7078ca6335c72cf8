"""Percentile intervals from bootstrap replicates, and JSON-safe numbers.

Two ways of reading an interval off replicates are in use, and each caller names its own so
that its numbers never change: ``method="order"`` takes order statistics (the replicate at
or just below the lower percentile, at or just above the upper one: an interval made of
values that occurred, as for compute multipliers, which may be infinite), ``method="linear"``
interpolates between them (numpy's default quantile).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

__all__ = ["finite_or_none", "quantile_interval"]


def finite_or_none(v: Any) -> float | None:
    """JSON-safe float: ``None`` for ``None``, NaN and infinities."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def quantile_interval(values: Any, level: float, *, method: Literal["order", "linear"],
                      keep_inf: bool = False) -> tuple[float, float]:
    """Central ``level`` percentile interval ``(lo, hi)`` of replicate ``values``.

    ``method``: ``"order"`` (order statistics: numpy's ``lower`` quantile at
    ``(1 - level) / 2``, ``higher`` at ``(1 + level) / 2``) or ``"linear"`` (interpolated, at
    ``q`` and ``1 - q`` with ``q = (1 - level) / 2``). NaN replicates are left out, and
    infinite ones too unless ``keep_inf`` (an infinite replicate then makes an end
    infinite). ``(nan, nan)`` when no replicate is left."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)] if keep_inf else v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    if method == "order":
        lo = np.quantile(v, (1 - level) / 2, method="lower")
        hi = np.quantile(v, (1 + level) / 2, method="higher")
    elif method == "linear":
        q = (1.0 - level) / 2.0
        lo, hi = np.quantile(v, [q, 1.0 - q])
    else:
        raise ValueError(f"method must be 'order' or 'linear', got {method!r}")
    return float(lo), float(hi)
