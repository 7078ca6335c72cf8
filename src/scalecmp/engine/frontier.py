"""Compute-Pareto frontiers: which measurements a scaling law is fitted to.

A training run at compute ``x`` with error ``e`` (lower is better) is only evidence of what
the procedure *can* reach at ``x`` if no cheaper run did better. Three choices:

* ``binned`` (the study's): split ``[x_min, x_max]`` into geometric bins, keep the
  lowest-error point of each bin, then keep only points whose error is below that of every
  cheaper kept point (plus the largest-compute point if it improves on them all). How many
  bins is ``bins``: a number ``b`` of bins per doubling of the measured range,
  ``int(b log2(x_max / x_min)) + 1`` edges, which does not depend on the unit of ``x``
  (default :data:`DEFAULT_BINS`, 8; ``b = 2`` restates the study's count on its own data:
  about 24 edges over its 12 doublings), or ``"study"``, the study's own count
  ``log2(x_max / 1500)`` edges, which holds only for compute in GFLOPs (the ``laion2025``
  preset).
* ``naive``: the non-dominated points: error below that of every cheaper measurement.
* ``none``: every point.
"""

from __future__ import annotations

import math

import numpy as np

from scalecmp.errors import UsageError

__all__ = ["DEFAULT_BINS", "FRONTIERS", "STUDY_BINS", "bin_edges", "binned_frontier",
           "check_bins", "frontier_mask", "naive_frontier"]

FRONTIERS = ("binned", "naive", "none")
#: the value of ``bins`` that asks for the study's count of edges (compute in GFLOPs)
STUDY_BINS = "study"
#: bins per doubling of the measured compute range, chosen by leave-one-family-out among
#: 1, 2, 4 and 8 (BENCHMARKS.md, section 13)
DEFAULT_BINS = 8.0


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


def check_bins(bins: object) -> None:
    """``bins`` (``frontier_bins``) is a number of bins per doubling in [0.25, 64] or
    ``"study"``; else :class:`UsageError`."""
    if isinstance(bins, str) and bins == STUDY_BINS:
        return
    try:
        ok = (not isinstance(bins, bool)) and math.isfinite(bins) and 0.25 <= bins <= 64
    except TypeError:
        ok = False
    if not ok:
        raise UsageError(f"frontier_bins must be a number of bins per doubling of compute in "
                         f"[0.25, 64] or '{STUDY_BINS}', got {bins!r}")


def bin_edges(lo: float, hi: float, bins: float | str) -> int:
    """How many geometric bin edges span ``[lo, hi]`` (``hi > lo``): ``int(bins *
    log2(hi / lo)) + 1`` for a number of bins per doubling, or for ``bins="study"`` the
    study's ``int(log2(hi / 1500))`` (compute in GFLOPs, smallest runs ~1e6; never fewer
    than one bin per doubling); at least 3."""
    check_bins(bins)
    octaves = float(np.log2(hi / lo))
    if isinstance(bins, str):
        n = max(int(np.log2(max(hi / 1500.0, 1.0))), int(octaves) + 1)
    else:
        n = int(float(bins) * octaves + 1e-9) + 1
    return max(n, 3)


def binned_frontier(x: np.ndarray, err: np.ndarray, bins: float | str = DEFAULT_BINS) -> np.ndarray:
    """Mask of the study's binned frontier.

    :func:`bin_edges` geometric bin edges from ``x_min`` to ``x_max`` (``bins``: bins per
    doubling, or ``"study"``), half-open bins ``[e_k, e_k+1)``; the lowest-error point of
    each bin; of those, the first and then every point below all cheaper kept ones; finally
    the largest-compute measurement if it improves on them all.
    """
    x, err = np.asarray(x, float), np.asarray(err, float)
    if len(x) == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return naive_frontier(x, err)
    n_edges = bin_edges(lo, hi, bins)
    # bin k holds edges[k] <= x < edges[k+1] of geomspace(lo, hi, n_edges), computed on the
    # log scale relative to lo (a point within 1e-9 of a bin's width below an edge counts
    # as on it), so that x -> k x bins every point the same way whatever k is
    u = (np.log(x) - np.log(lo)) / (np.log(hi) - np.log(lo)) * (n_edges - 1)
    idx = np.floor(u + 1e-9).astype(int)
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


def frontier_mask(x: np.ndarray, err: np.ndarray, method: str = "binned",
                  bins: float | str = DEFAULT_BINS) -> np.ndarray:
    """Boolean mask of the frontier points by ``method`` (``binned``, ``naive``, ``none``);
    ``bins`` only for ``binned`` (:func:`bin_edges`)."""
    if method == "binned":
        return binned_frontier(x, err, bins)
    if method == "naive":
        return naive_frontier(x, err)
    if method == "none":
        return np.ones(len(x), dtype=bool)
    raise UsageError(f"frontier: unknown frontier '{method}' (known: {', '.join(FRONTIERS)})")
