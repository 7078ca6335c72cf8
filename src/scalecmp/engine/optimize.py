"""Vectorised, bounded Levenberg-Marquardt for many small least-squares problems at once.

All problems share the model ``f(theta) -> predictions (S, n)``; each has its own start,
targets ``Y[s]``, point weights ``W[s]`` and (optionally) bounds. This covers the uses the
engine has: many starts on one data set (same ``Y``, ``W``), bootstrap replicates (pairs
bootstrap = multinomial counts as weights; residual bootstrap = resampled targets), and
with ``indexed=True`` the problems of many series at once (the model is then called as
``f(theta, rows)`` with the batch positions ``rows`` of the problems it evaluates, so that
it can look up each problem's own design: :meth:`scalecmp.engine.priors.Augmented.stack`).
Every problem's iterations depend on that problem alone, so a problem solved in a batch of
many ends where it ends when solved alone.

Losses, on residuals ``r`` (``r = f - y`` for ``ls``; ``r = log f - log y`` otherwise):

* ``ls``:        sum_i w_i r_i^2 / 2           (the study's curve_fit: raw error)
* ``log``:       sum_i w_i r_i^2 / 2           (relative error)
* ``huber_log``: sum_i w_i H_delta(r_i)         (Epoch AI's Chinchilla refit), with
  ``H_delta(r) = r^2 / 2`` for ``|r| <= delta`` and ``delta (|r| - delta / 2)`` beyond.

Huber is minimised by iteratively reweighted Gauss-Newton steps. Bounds are enforced by
projection, with parameters at a bound whose gradient points outward frozen for the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["LOSSES", "BatchResult", "residuals", "objective", "minimize_batch"]

LOSSES = ("ls", "log", "huber_log")
_TINY = 1e-300


def residuals(pred: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """Residuals in the space the loss is defined in (raw for ``ls``, log otherwise)."""
    if loss == "ls":
        return pred - y
    return np.log(np.maximum(pred, _TINY)) - np.log(np.maximum(y, _TINY))


def objective(r: np.ndarray, w: np.ndarray, loss: str, delta: float) -> np.ndarray:
    """Loss per problem (sum over the last axis), see the module docstring."""
    if loss == "huber_log":
        a = np.abs(r)
        h = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
        return (w * h).sum(axis=-1)
    return 0.5 * (w * r * r).sum(axis=-1)


@dataclass
class BatchResult:
    """Solutions of a batch: ``theta`` (S, p), final ``loss`` (S,), ``iterations`` (S,),
    ``converged`` (S,) and the boolean mask ``at_bound`` (S, p)."""

    theta: np.ndarray
    loss: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    at_bound: np.ndarray


def _residual_jacobian(pred: np.ndarray, dpred: np.ndarray, loss: str) -> np.ndarray:
    """d r / d theta from d f / d theta: itself for ``ls``, divided by f for the log losses."""
    if loss == "ls":
        return dpred
    return dpred / np.maximum(pred, _TINY)[..., None]


def minimize_batch(
    f: Callable[[np.ndarray], np.ndarray],
    f_jac: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    theta0: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    loss: str = "huber_log",
    delta: float = 0.01,
    max_iter: int = 200,
    rtol: float = 1e-10,
    indexed: bool = False,
) -> BatchResult:
    """Minimise the loss for every problem of the batch.

    ``f(theta)`` returns predictions (S', n) for parameters (S', p) and ``f_jac(theta)``
    returns them with their derivatives (S', n, p); with ``indexed=True`` both are called
    with a second argument, the positions (S',) of those problems in the batch.
    ``theta0``: (S, p); ``y`` and ``w``: (S, n) or (n,); ``lower`` and ``upper``: (p,) or
    (S, p).
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}")
    theta0 = np.asarray(theta0, dtype=float)
    lower = np.broadcast_to(np.asarray(lower, dtype=float), theta0.shape)
    upper = np.broadcast_to(np.asarray(upper, dtype=float), theta0.shape)
    theta = np.clip(theta0, lower, upper)
    s, p = theta.shape
    if indexed:
        model, model_jac = f, f_jac
    else:
        def model(t: np.ndarray, rows: np.ndarray) -> np.ndarray:
            return f(t)

        def model_jac(t: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return f_jac(t)

    y = np.broadcast_to(np.asarray(y, dtype=float), (s, np.shape(y)[-1]))
    w = np.broadcast_to(np.asarray(w, dtype=float), y.shape)
    pred = model(theta, np.arange(s))
    r = residuals(pred, y, loss)
    obj = objective(r, w, loss, delta)
    obj = np.where(np.isfinite(obj), obj, np.inf)
    lam = np.full(s, 1e-2)
    iters = np.zeros(s, dtype=int)
    done = np.zeros(s, dtype=bool)
    jac = np.zeros((s, y.shape[1], p))
    need_jac = np.ones(s, dtype=bool)
    eye = np.eye(p)

    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        upd = act[need_jac[act]]
        if upd.size:
            p_upd, d_upd = model_jac(theta[upd], upd)
            jac[upd] = _residual_jacobian(p_upd, d_upd, loss)
            need_jac[upd] = False
        everyone = act.size == s  # no copies while every problem is still active
        J, R, Wa = (jac, r, w) if everyone else (jac[act], r[act], w[act])
        T = theta[act]  # a copy: ``theta`` changes below, ``T`` may not
        lo, hi = (lower, upper) if everyone else (lower[act], upper[act])
        if loss == "huber_log":
            Wa = Wa * np.minimum(1.0, delta / np.maximum(np.abs(R), 1e-12))
        JW = J * Wa[:, :, None]
        JWt = JW.transpose(0, 2, 1)
        A = JWt @ J
        g = (JWt @ R[:, :, None])[:, :, 0]
        # freeze parameters sitting on a bound whose gradient pushes outward
        frozen = ((T <= lo + 1e-12) & (g > 0)) | ((T >= hi - 1e-12) & (g < 0))
        held = np.flatnonzero(frozen.any(axis=1))  # only these problems' systems change
        if held.size:
            keep = ~frozen[held]
            A[held] = (A[held] * keep[:, :, None] * keep[:, None, :]
                       + eye * frozen[held][:, :, None])
            g[held] = g[held] * keep
        diag = np.diagonal(A, axis1=1, axis2=2)
        damp = lam[act, None] * np.maximum(diag, 1e-12)
        M = A + eye * damp[:, :, None]
        try:
            step = -np.linalg.solve(M, g[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular system: the pseudo-inverse, per problem
            step = -np.einsum("sij,sj->si", np.linalg.pinv(M), g)
        step = np.where(np.isfinite(step), step, 0.0)
        new = np.clip(T + step, lo, hi)
        pred_new = model(new, act)
        r_new = residuals(pred_new, y if everyone else y[act], loss)
        obj_new = objective(r_new, w if everyone else w[act], loss, delta)
        obj_new = np.where(np.isfinite(obj_new), obj_new, np.inf)
        accept = obj_new < obj[act]
        gain = obj[act] - obj_new
        a_idx = act[accept]
        theta[a_idx] = new[accept]
        pred[a_idx] = pred_new[accept]
        r[a_idx] = r_new[accept]
        obj[a_idx] = obj_new[accept]
        need_jac[a_idx] = True
        lam[act] = np.where(accept, np.maximum(lam[act] * 0.3, 1e-9), lam[act] * 8.0)
        iters[act] += 1
        small = accept & (gain <= rtol * np.maximum(obj[act], 1e-30))
        tiny_step = np.abs(new - T).max(axis=1) < 1e-12
        stuck = lam[act] > 1e12
        done[act] = small | tiny_step | stuck
    at_bound = (theta <= lower + 1e-9 * np.maximum(1, np.abs(lower))) | (
        theta >= upper - 1e-9 * np.maximum(1, np.abs(upper))
    )
    return BatchResult(theta=theta, loss=obj, iterations=iters, converged=done, at_bound=at_bound)
