"""Many series fitted as one batch: the solves of every series, stacked.

A series' fit (:func:`scalecmp.engine.series.fit_series_steps`) is written as *steps*: a
generator that yields a :class:`SolveRequest` each time it needs a batch of least-squares
problems solved (a multi-start fit, a backtest, a bootstrap) and receives the
:class:`~scalecmp.engine.optimize.BatchResult`. :func:`run` drives one series, solving
each request as it comes. :func:`run_all` drives many in lockstep: at every round it
collects the requests of all series, stacks those whose models share a key (same law and
priors, same solver settings: :attr:`scalecmp.engine.priors.Augmented.key`) into one call
of :func:`~scalecmp.engine.optimize.minimize_batch`, and hands each series its share. A
series with fewer points than the longest of its batch repeats its last point with weight
0 (:meth:`~scalecmp.engine.priors.Augmented.stack`), so that its problems have the batch's
shape.

The Python work of one Levenberg-Marquardt iteration is then paid once per round for all
series instead of once per series; the arithmetic is the same. Every problem's iterations
depend on that problem alone, so a series fitted among many gets the fit it gets alone:
bit for bit where its batch has its length, else to round-off (the weightless points
change the order of its sums only: predictions and intervals of the 20 study series agree
to 1.4e-8 relative, BENCHMARKS.md section 2b).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, NamedTuple

import numpy as np

from scalecmp.engine.optimize import BatchResult, minimize_batch
from scalecmp.engine.priors import Augmented

__all__ = ["SolveRequest", "Steps", "run", "run_all", "solve_all"]


class SolveRequest(NamedTuple):
    """A batch of problems on one model: starts ``theta0`` (S, p), targets ``y`` and
    weights ``w`` ((n,) or (S, n)), bounds (p,), and the solver's settings."""

    model: Augmented
    theta0: np.ndarray
    y: np.ndarray
    w: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    loss: str
    delta: float
    max_iter: int
    rtol: float

    def solve(self) -> BatchResult:
        return minimize_batch(self.model.f, self.model.f_jac, self.theta0, self.y, self.w,
                              self.lower, self.upper, loss=self.loss, delta=self.delta,
                              max_iter=self.max_iter, rtol=self.rtol)

    @property
    def key(self) -> tuple | None:
        mk = self.model.key
        if mk is None:
            return None
        return (mk, self.loss, self.delta, self.max_iter, self.rtol, self.theta0.shape[1])


#: a fit written as steps: yields requests, receives their results, returns its value
Steps = Generator[SolveRequest, BatchResult, Any]


def run(steps: Steps) -> Any:
    """Drive one fit's steps to the end, solving each request on its own; its value."""
    try:
        request = next(steps)
        while True:
            request = steps.send(request.solve())
    except StopIteration as stop:
        return stop.value


def solve_all(requests: Sequence[SolveRequest]) -> list[BatchResult]:
    """The results of ``requests``, in order: those with equal keys solved as one stacked
    batch, a request alone (or with no key) solved as it is."""
    results: list[BatchResult | None] = [None] * len(requests)
    buckets: dict[tuple, list[int]] = {}
    for i, req in enumerate(requests):
        key = req.key
        if key is None:
            results[i] = req.solve()
        else:
            buckets.setdefault(key, []).append(i)
    for members in buckets.values():
        if len(members) == 1:
            results[members[0]] = requests[members[0]].solve()
            continue
        for i, res in zip(members, _solve_stacked([requests[i] for i in members]),
                          strict=True):
            results[i] = res
    return results  # type: ignore[return-value]


def _solve_stacked(reqs: list[SolveRequest]) -> list[BatchResult]:
    """One :func:`minimize_batch` call for requests of one key; the result split back."""
    counts = [len(r.theta0) for r in reqs]
    model = Augmented.stack([r.model for r in reqs], counts)
    n = model.n

    def per_problem(a: np.ndarray, c: int, width: int) -> np.ndarray:
        return np.broadcast_to(a, (c, width))

    def padded(r: SolveRequest, c: int, a: np.ndarray, fill: float | None) -> np.ndarray:
        """Targets or weights of ``r`` (c problems) with the padded points between its
        data and its pseudo-observations: the last target repeated, weight 0."""
        a = per_problem(a, c, r.model.n + r.model.m)
        k = r.model.n
        if k == n:
            return a
        pad = np.broadcast_to(a[:, k - 1:k] if fill is None else fill, (c, n - k))
        return np.concatenate([a[:, :k], pad, a[:, k:]], axis=1)

    y = np.concatenate([padded(r, c, r.y, None) for r, c in zip(reqs, counts, strict=True)])
    w = np.concatenate([padded(r, c, r.w, 0.0) for r, c in zip(reqs, counts, strict=True)])
    first = reqs[0]
    p = first.theta0.shape[1]
    lower, upper = (np.concatenate([per_problem(bound, c, p) for bound, c in
                                    zip(bounds, counts, strict=True)])
                    for bounds in zip(*[(r.lower, r.upper) for r in reqs], strict=True))
    res = minimize_batch(model.f, model.f_jac, np.concatenate([r.theta0 for r in reqs]),
                         y, w, lower, upper, loss=first.loss, delta=first.delta,
                         max_iter=first.max_iter, rtol=first.rtol, indexed=True)
    edges = np.cumsum([0, *counts])
    return [
        BatchResult(theta=res.theta[a:b], loss=res.loss[a:b],
                    iterations=res.iterations[a:b], converged=res.converged[a:b],
                    at_bound=res.at_bound[a:b])
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]


def run_all(steps: Sequence[Steps]) -> list[Any]:
    """Drive many fits' steps in lockstep, stacking their solves (:func:`solve_all`);
    each fit's value, or the exception it raised, in order."""
    out: list[Any] = [None] * len(steps)
    pending: dict[int, SolveRequest] = {}

    def advance(i: int, value: BatchResult | None) -> None:
        try:
            pending[i] = next(steps[i]) if value is None else steps[i].send(value)
        except StopIteration as stop:
            out[i] = stop.value
        except Exception as exc:  # noqa: BLE001 - a fit's error is its result
            out[i] = exc

    for i in range(len(steps)):
        advance(i, None)
    while pending:
        order = list(pending)
        results = solve_all([pending.pop(i) for i in order])
        for i, res in zip(order, results, strict=True):
            advance(i, res)
    return out
