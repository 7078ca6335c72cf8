"""Compute-Pareto frontiers: which measurements a scaling law is fitted to.

A training run at compute ``x`` with error ``e`` (lower is better) is only evidence of what
the procedure *can* reach at ``x`` if no cheaper run did better. Three choices:

* ``binned`` (the study's): split ``[x_min, x_max]`` into geometric bins (edges at
  ``log2(x_max / 1500)`` geometric steps), keep the lowest-error point of each bin, then
  keep only points whose error is below that of every cheaper kept point (plus the
  largest-compute point if it improves on them all).
* ``naive``: the non-dominated points: error below that of every cheaper measurement.
* ``none``: every point.
"""

from __future__ import annotations

import numpy as np

from scalecmp.errors import UsageError

__all__ = ["FRONTIERS", "frontier_mask", "naive_frontier", "binned_frontier"]

FRONTIERS = ("binned", "naive", "none")


def naive_frontier(x: np.ndarray, err: np.ndarray) -> np.ndarray:
    """Mask of non-dominated points: strictly lower error than every point with smaller x
    (among equal x, only the lowest error counts)."""
    x, err = np.asarray(x, float), np.asarray(err, float)
    order = np.lexsort((err, x))
    xs, es = x[order], err[order]
    keep = np.zeros(len(x), dtype=bool)
    best = np.inf
    prev_x = None
    for i, (xi, ei) in enumerate(zip(xs, es, strict=True)):
        if xi == prev_x:
            continue  # lowest error at this x was already considered
        prev_x = xi
        if ei < best:
            keep[order[i]] = True
            best = ei
    return keep


def binned_frontier(x: np.ndarray, err: np.ndarray, n_edges: int | None = None) -> np.ndarray:
    """Mask of the study's binned frontier.

    ``n_edges = int(log2(x_max / 1500))`` geometric bin edges from ``x_min`` to ``x_max`` (the
    study's count for compute in GFLOPs; at least ``int(log2(x_max / x_min)) + 1`` and 3),
    half-open bins ``[e_k, e_k+1)``; the lowest-error point of each
    bin; of those, the first and then every point below all cheaper kept ones; finally the
    largest-compute measurement if it improves on them all.
    """
    x, err = np.asarray(x, float), np.asarray(err, float)
    if len(x) == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return naive_frontier(x, err)
    if n_edges is None:
        # the study's count (compute in GFLOPs, smallest runs ~1e6), and never fewer than
        # one bin per doubling of the measured range (compute in other units, tiny grids)
        n_edges = max(int(np.log2(max(hi / 1500.0, 1.0))), int(np.log2(hi / lo)) + 1)
    n_edges = max(n_edges, 3)
    edges = np.geomspace(lo, hi, n_edges)
    idx = np.searchsorted(edges, x, side="right") - 1  # bin k holds edges[k] <= x < edges[k+1]
    in_bins = idx < n_edges - 1
    best = np.zeros(len(x), dtype=bool)
    for b in np.unique(idx[in_bins]):
        members = np.flatnonzero(idx == b)
        best[members[np.argmin(err[members])]] = True
    keep = np.zeros(len(x), dtype=bool)
    kept_err = np.inf
    for i in np.flatnonzero(best)[np.argsort(x[best], kind="stable")]:
        if err[i] < kept_err:
            keep[i] = True
            kept_err = err[i]
    top = np.flatnonzero(x == hi)
    i_top = top[np.argmin(err[top])]
    if err[i_top] < kept_err:
        keep[i_top] = True
    return keep


def frontier_mask(x: np.ndarray, err: np.ndarray, method: str = "binned") -> np.ndarray:
    """Boolean mask of the frontier points by ``method`` (``binned``, ``naive``, ``none``)."""
    if method == "binned":
        return binned_frontier(x, err)
    if method == "naive":
        return naive_frontier(x, err)
    if method == "none":
        return np.ones(len(x), dtype=bool)
    raise UsageError(f"unknown frontier '{method}' (known: {', '.join(FRONTIERS)})")
