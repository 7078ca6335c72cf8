"""Bootstrap replicates of a scaling-law fit.

Two resampling schemes, both expressed so that all replicates are fitted as one batch:

* ``pairs`` (default): resample the fitted (frontier) points with replacement. A replicate
  is a vector of multinomial counts used as point weights, so the design never changes shape.
  It captures how much the law depends on *which* points were measured, which is what
  extrapolation is sensitive to.
* ``residual``: keep the design, add resampled residuals (in the loss's space: raw for
  ``ls``, multiplicative for the log losses) to the fitted curve.

Prediction intervals for a *new measurement* add a resampled residual (inflated by
``sqrt(n / (n - p))``) to each replicate's curve, so they cover measurement scatter as
well as parameter uncertainty.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BOOTSTRAPS", "pairs_weights", "residual_targets", "noise_draws"]

BOOTSTRAPS = ("pairs", "residual")


def pairs_weights(n: int, n_replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial counts (R, n): how often each point is drawn in each replicate."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_replicates).astype(float)


def residual_targets(
    fitted: np.ndarray, resid: np.ndarray, loss: str, n_replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """Targets (R, n): fitted curve plus residuals drawn with replacement."""
    n = len(fitted)
    draws = resid[rng.integers(0, n, size=(n_replicates, n))]
    if loss == "ls":
        return np.maximum(fitted[None, :] + draws, 1e-12)
    return fitted[None, :] * np.exp(draws)


def noise_draws(
    resid: np.ndarray, n_params: int, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Residuals drawn with replacement, centred and inflated by sqrt(n / (n - p))."""
    n = len(resid)
    centred = resid - resid.mean()
    infl = np.sqrt(n / (n - n_params)) if n > n_params else 2.0
    return centred[rng.integers(0, n, size=shape)] * infl
