"""The study's fitting recipe (arXiv 2506.04598), as a start grid and as an exact fit.

The study fits ``err = A (x + B)^alpha + E`` (``x`` in raw GFLOPs) to the binned frontier by
least squares on raw error with scipy's ``curve_fit`` (bounds ``A, B, E >= 0``,
``alpha <= 0``), one call per start of the grid ``A, B in {0, 5, ..., 95}``,
``alpha in {-0.2, -0.15, -0.1, -0.05}``, ``E in {0, 5e-4}`` (3,200 starts), and keeps the
lowest mean squared error. Two uses:

* :func:`study_starts`: the grid as internal start vectors of the ``saturating`` law, which
  scalecmp's batched optimiser polishes (the ``recipe`` candidate of ``law="auto"``: the
  study's objective from the study's starts; the narrow grid keeps the fit near shallow
  exponents and small ``B``, which regularises it). ``starts="laion2025"`` places the grid
  at :data:`STUDY_SCALE`, the geometric mean of the study's frontier compute (1e9 GFLOPs;
  8.7-9.2 on the log10 scale over its 28 series), rather than at the data's own scale, so
  that the starts, in units of the data's scale, do not depend on the unit of ``x``;
* :func:`fit_exact`: the recipe itself, ``curve_fit`` from every start (``preset="laion2025"``;
  about 10 ms per start on 15 points: ~30 s per series).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from scalecmp.engine.laws import Law

__all__ = ["STUDY_AB", "STUDY_ALPHAS", "STUDY_ES", "STUDY_SCALE", "fit_exact", "study_grid",
           "study_starts"]

STUDY_AB = np.arange(0.0, 100.0, 5.0)
#: the compute (GFLOPs) at which the study's grid is stated: its frontiers' geometric mean
STUDY_SCALE = 1e9
STUDY_ALPHAS = (-0.2, -0.15, -0.1, -0.05)
STUDY_ES = (0.0, 5e-4)


_GRID = np.array(list(itertools.product(STUDY_AB, STUDY_AB, STUDY_ALPHAS, STUDY_ES)))
_GRID.flags.writeable = False
# the grid with ``A = 0`` and ``B = 0`` at the smallest positive value (their logarithms'
# lower bounds once clipped)
_GRID_POSITIVE = _GRID.copy()
_GRID_POSITIVE[:, :2] = np.maximum(_GRID_POSITIVE[:, :2], 1e-300)
_GRID_POSITIVE.flags.writeable = False


def study_grid() -> np.ndarray:
    """The 3,200 starts ``(A, B, alpha, E)`` in original units (a new array)."""
    return _GRID.copy()


def study_starts(law: Law, scale: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The study's grid as distinct internal starts of ``law`` (``saturating``), clipped to
    the bounds and rounded to 9 decimals, in lexicographic order (what ``np.unique(...,
    axis=0)`` gives, at a third of its cost: this runs for every fit of the ``recipe``
    candidate). ``A = 0`` and ``B = 0`` sit at the lower bounds of their logarithms."""
    theta = np.round(np.clip(law.to_internal(_GRID_POSITIVE, scale), lower, upper), 9)
    theta += 0.0  # -0.0 -> 0.0, one key per value
    theta = theta[np.lexsort(theta.T[::-1])]
    distinct = np.r_[True, np.any(theta[1:] != theta[:-1], axis=1)]
    return theta[distinct]


def _saturating(x, A, B, alpha, E):  # noqa: ANN001, ANN202, N803 - the study's names
    return A * (x + B) ** alpha + E


def fit_exact(x: np.ndarray, err: np.ndarray,
              starts: np.ndarray | None = None) -> np.ndarray | None:
    """The study's fit on frontier points ``(x, err)``: best ``(A, B, alpha, E)`` of
    ``curve_fit`` from every start of the grid (``starts``: another grid of
    ``(A, B, alpha, E)``), or ``None`` if no start converged."""
    from scipy.optimize import OptimizeWarning, curve_fit

    bounds = ([0.0, 0.0, -np.inf, 0.0], [np.inf, np.inf, 0.0, np.inf])
    best, best_mse = None, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for p0 in study_grid() if starts is None else starts:
            try:
                popt, _ = curve_fit(_saturating, x, err, p0=p0, bounds=bounds, maxfev=100000)
            except (RuntimeError, ValueError):
                continue
            mse = float(np.mean((_saturating(x, *popt) - err) ** 2))
            if np.isfinite(mse) and mse < best_mse:
                best, best_mse = popt, mse
    return best
