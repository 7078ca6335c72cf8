"""Training-seed noise: how far two training seeds of the same cells disagree, and how much
of a prediction interval that disagreement alone would take.

For each measurement measured under two seeds (same procedure, model, schedule, samples
seen, task, metric), ``d = value(seed a) - value(seed b)``. If each seed's value is the
true curve plus independent noise of standard deviation ``sigma``, ``d`` has variance
``2 sigma^2``, so ``sigma = sqrt(mean(d^2) / 2)`` over the pairs of a series (a root mean
square: the pairs of one run are correlated, so this is a rough, not a sharp, estimate).
A ``level`` interval for a new measurement cannot be narrower than what seed noise alone
needs, ``2 z sigma`` (``z`` the normal quantile, 1.96 at 95%); :func:`seed_share` divides
that by the median width of the intervals a held-out check predicted with.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from scalecmp.errors import DataError

__all__ = ["SEED_KEYS", "seed_noise", "seed_share"]

#: the columns that make two rows the same cell measured under two seeds
SEED_KEYS = ("procedure", "model", "schedule", "samples_seen", "task", "metric")


def seed_noise(first: pd.DataFrame, second: pd.DataFrame, *,
               series: Sequence[str] = ("task", "metric", "procedure"),
               keys: Sequence[str] = SEED_KEYS, value: str = "value") -> pd.DataFrame:
    """Per series, the seed noise ``sigma`` of the cells both tables measured (module
    docstring): columns ``series``, ``n_pairs``, ``sigma``, ``max_abs_diff``, ``seeds``.
    Raises :class:`DataError` when a key column is missing or no cell is in both."""
    for name, frame in (("first", first), ("second", second)):
        missing = [c for c in [*keys, value] if c not in frame.columns]
        if missing:
            raise DataError(f"seed_noise: the {name} table has no column '{missing[0]}'")
    keys = list(keys)
    both = first[[*keys, value]].merge(second[[*keys, value]], on=keys, suffixes=("_a", "_b"))
    both = both.dropna(subset=[f"{value}_a", f"{value}_b"])
    if both.empty:
        raise DataError("seed_noise: no cell was measured in both tables")
    both["_d"] = both[f"{value}_a"] - both[f"{value}_b"]
    seeds = (f"{sorted(set(first['seed']))} vs {sorted(set(second['seed']))}"
             if "seed" in first.columns and "seed" in second.columns else "")
    rows = []
    for key, part in both.groupby(list(series), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        d = part["_d"].to_numpy(float)
        rows.append({**dict(zip(series, key, strict=True)), "n_pairs": len(d),
                     "sigma": float(np.sqrt(np.mean(d * d) / 2.0)),
                     "max_abs_diff": float(np.abs(d).max()), "seeds": seeds})
    return pd.DataFrame(rows)


def seed_share(noise: pd.DataFrame, runs: pd.DataFrame, *, level: float = 0.95,
               series: Sequence[str] = ("task", "metric", "procedure"),
               relative: bool = False) -> pd.DataFrame:
    """``noise`` (:func:`seed_noise`) joined with the prediction intervals of a held-out
    check's ``runs`` (columns ``lo``, ``hi``, ``measured`` and ``series``): per series the
    median interval width and ``share = 2 z sigma / width``, the part of the interval seed
    noise alone would need (``relative``: ``sigma`` and the widths divided by the measured
    values first, for losses; ``sigma_scaled`` is ``sigma`` in those units). Series without
    held-out runs keep NaN widths."""
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    series = list(series)
    runs = runs.assign(_w=(runs["hi"] - runs["lo"]) / (runs["measured"] if relative else 1.0))
    per = runs.groupby(series, sort=True).agg(median_width=("_w", "median"),
                                               _m=("measured", "median")).reset_index()
    out = noise.merge(per, on=series, how="left")
    # the loss's own scale for relative errors: sigma over the typical measured value
    out["sigma_scaled"] = out["sigma"] / out["_m"] if relative else out["sigma"]
    out = out.drop(columns="_m")
    out["seed_width"] = 2.0 * z * out["sigma_scaled"]
    out["share"] = out["seed_width"] / out["median_width"]
    return out
