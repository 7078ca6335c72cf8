"""Many series solved as one batch (:mod:`scalecmp.engine.schedule`): a series fitted among
many gets exactly the fit it gets alone."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import scalecmp
from scalecmp.engine import api
from scalecmp.engine.candidate import Solver
from scalecmp.engine.laws import get_law
from scalecmp.engine.optimize import minimize_batch
from scalecmp.engine.options import fit_options
from scalecmp.engine.pooling import PooledPrior
from scalecmp.engine.priors import Priors
from scalecmp.engine.schedule import run, run_all, solve_all
from scalecmp.engine.series import fit_series_steps
from scalecmp.errors import DataError, UsageError


def _series(seed: int, n: int = 9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e8, 1e11, n) * np.exp(rng.normal(0, 0.1, n))
    y = rng.uniform(0.5, 2) * (x / 1e8) ** rng.uniform(-0.4, -0.1) + rng.uniform(0.05, 0.3)
    return x, y * np.exp(rng.normal(0, 0.02, n))


def _request(seed: int, priors: Priors, n: int = 9):  # noqa: ANN202
    x, y = _series(seed, n)
    law = get_law("saturating")
    solver = Solver(law=law, loss="huber_log", weighting="compute", starts="grid",
                    priors=priors, delta=0.01)
    scale = law.default_scale(x)
    xn = law.normalise(x, scale)
    prob = solver.problem(xn, y, x)
    starts = np.clip(law.starts(xn, y), prob.lower, prob.upper)[::17]
    return solver.request(prob, starts, 300, 1e-10)


@pytest.mark.parametrize("priors", [
    Priors(),
    Priors(min_slope_ratio=0.5, max_error=1.0),
    Priors(min_slope_ratio=0.5, pool=PooledPrior(mean=(-1.5, -0.4), sd=(0.3, 0.2),
                                                 noise=0.05)),
])
def test_stacked_requests_are_solved_exactly_as_alone(priors):
    requests = [_request(seed, priors) for seed in range(4)]
    assert len({r.key for r in requests}) == 1
    together = solve_all(requests)
    for req, res in zip(requests, together, strict=True):
        alone = req.solve()
        assert res.theta.shape == alone.theta.shape
        np.testing.assert_array_equal(res.theta, alone.theta)
        np.testing.assert_array_equal(res.loss, alone.loss)
        np.testing.assert_array_equal(res.iterations, alone.iterations)


def test_requests_with_fewer_points_are_padded_with_weightless_points():
    """Series of 9, 7 and 5 points in one batch: the shorter ones repeat their last point at
    weight 0, which changes their sums' order only (round-off)."""
    requests = [_request(0, Priors(min_slope_ratio=0.5), n) for n in (9, 7, 5)]
    assert len({r.key for r in requests}) == 1
    for req, res in zip(requests, solve_all(requests), strict=True):
        alone = req.solve()
        np.testing.assert_allclose(res.loss, alone.loss, rtol=1e-9, atol=1e-15)
        best, best_alone = np.argmin(res.loss), np.argmin(alone.loss)
        np.testing.assert_allclose(req.model.f(res.theta[best]),
                                   req.model.f(alone.theta[best_alone]), rtol=1e-7)


def test_per_problem_bounds_hold_each_problem_in_its_box():
    law = get_law("power")
    xn = np.geomspace(0.1, 10, 6)
    y = 2.0 * xn ** -0.5
    lower = np.array([[-40.0, -3.0], [-40.0, -0.2]])  # the second may not reach -0.5
    upper = np.array([[40.0, 0.0], [40.0, 0.0]])
    res = minimize_batch(lambda t: law.f(xn, t), lambda t: law.f_jac(xn, t),
                         np.array([[0.0, -0.1], [0.0, -0.1]]), y, np.ones(6), lower, upper,
                         loss="log")
    assert res.theta[0, 1] == pytest.approx(-0.5, abs=1e-6)
    assert res.theta[1, 1] == pytest.approx(-0.2) and res.at_bound[1, 1]


def test_run_all_returns_each_fits_value_or_error_in_order():
    options = fit_options(n_bootstrap=20)
    xs = [_series(s) for s in range(3)]
    steps = [fit_series_steps(*xs[0], None, options=options, maximize=False),
             fit_series_steps(xs[1][0][:2], xs[1][1][:2], None, options=options,
                              maximize=False),
             fit_series_steps(*xs[2], None, options=options, maximize=False)]
    out = run_all(steps)
    assert isinstance(out[1], DataError) and "too few" in str(out[1])
    for i in (0, 2):
        alone = run(fit_series_steps(*xs[i], None, options=options, maximize=False))
        for a, b in zip(out[i].mixture.members, alone.mixture.members, strict=True):
            np.testing.assert_array_equal(a.bootstrap_theta, b.bootstrap_theta)


def _frame(groups: int, sizes: tuple[int, ...] = (8,)) -> pd.DataFrame:
    parts = []
    for g in range(groups):
        x, y = _series(g, sizes[g % len(sizes)])
        parts.append(pd.DataFrame({"g": g, "x": x, "y": y}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("pooling", ["none", "series"])
def test_a_fit_of_many_groups_equals_the_groups_fitted_one_at_a_time(monkeypatch, pooling):
    """Groups of 8 to 12 points: fitted together (padded to a common length) or one at a
    time, the same laws, warnings and intervals, to round-off."""
    frame = _frame(5, sizes=(8, 12, 10))
    with warnings.catch_warnings(record=True) as batched_warnings:
        warnings.simplefilter("always")
        batched = scalecmp.fit(frame, x="x", y="y", by="g", n_bootstrap=60, pooling=pooling)
    monkeypatch.setattr(api, "SERIES_PER_BATCH", 1)
    with warnings.catch_warnings(record=True) as alone_warnings:
        warnings.simplefilter("always")
        alone = scalecmp.fit(frame, x="x", y="y", by="g", n_bootstrap=60, pooling=pooling)
    assert [str(w.message) for w in batched_warnings] == [str(w.message)
                                                          for w in alone_warnings]
    at = [1e11, 1e12, 1e13]
    for a, b in zip(batched.groups, alone.groups, strict=True):
        np.testing.assert_allclose(a.fit.weights, b.fit.weights, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(a.predict(at), b.predict(at), rtol=1e-7)
        np.testing.assert_allclose(a.interval(at), b.interval(at), rtol=1e-6)


def test_batches_hold_at_most_the_groups_and_rows_allowed(monkeypatch):
    assert api._batches([8] * 600) == [range(0, 256), range(256, 512), range(512, 600)]
    assert api._batches([3000, 10, 10]) == [range(0, 1), range(1, 3)]
    assert api._batches([1000, 1000, 100]) == [range(0, 2), range(2, 3)]
    assert api._batches([1000, 10, 10, 10]) == [range(0, 2), range(2, 4)]  # padded rows
    assert api._batches([]) == []


def test_workers_fit_the_batches_in_processes_with_the_same_result(monkeypatch):
    frame = _frame(6)
    monkeypatch.setattr(api, "SERIES_PER_BATCH", 2)
    calls: list[tuple[int, int]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = scalecmp.fit(frame, x="x", y="y", by="g", n_bootstrap=40)
        two = scalecmp.fit(frame, x="x", y="y", by="g", n_bootstrap=40, workers=2,
                           progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 6), (4, 6), (6, 6)]
    for a, b in zip(one.groups, two.groups, strict=True):
        for ma, mb in zip(a.fit.members, b.fit.members, strict=True):
            np.testing.assert_array_equal(ma.bootstrap_theta, mb.bootstrap_theta)
            assert not mb.bootstrap_theta.flags.writeable  # immutable after the trip
    assert two.options.workers == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", True])
def test_workers_is_an_integer_or_auto(bad):
    with pytest.raises(UsageError, match="workers must be an integer >= 1 or 'auto'"):
        fit_options(workers=bad)
    assert fit_options(workers="auto").workers == "auto"


def test_the_command_line_takes_workers_and_refuses_a_bad_count(tmp_path, monkeypatch):
    from cli_run import one_error, run

    path = tmp_path / "m.csv"
    _frame(4).to_csv(path, index=False)
    monkeypatch.setattr(api, "SERIES_PER_BATCH", 2)
    fast = ["--x", "x", "--y", "y", "--by", "g", "--law", "power_floor", "--n-bootstrap", "20",
            "-q"]
    code, _, err = run("fit", path, "--workers", "2", "--json", tmp_path / "a.json", *fast)
    assert code == 0, err
    code, _, _ = run("fit", path, "--json", tmp_path / "b.json", *fast)
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    for command in ("fit", "compare"):
        code, _, err = run(command, path, "--workers", "two", *fast)
        assert code == 2
        one_error(err, "--workers must be an integer >= 1 or 'auto', got 'two'")
