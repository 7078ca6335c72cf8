"""The one finite-difference check of an analytic jacobian, for the tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def assert_jacobian(f: Callable, f_jac: Callable, theta: np.ndarray, *, rtol: float,
                    atol: float, h: float = 1e-6) -> None:
    """``f_jac(theta)[1]`` (S, n, p) against central differences of ``f`` (S, n) for the
    first row of ``theta`` (1, p), parameter by parameter."""
    jac = f_jac(theta)[1]
    for j in range(theta.shape[1]):
        step = np.zeros_like(theta)
        step[0, j] = h
        fd = (f(theta + step) - f(theta - step)) / (2 * h)
        np.testing.assert_allclose(jac[0, :, j], fd[0], rtol=rtol, atol=atol)
