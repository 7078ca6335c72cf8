import numpy as np

from scalecmp.engine.laws import get_law
from scalecmp.engine.optimize import minimize_batch, objective, residuals


def _problem(name="power_floor", params=(20.0, -0.25, 0.15)):
    law = get_law(name)
    x = np.geomspace(1e6, 1e11, 30)
    y = law.evaluate(x, np.array(params))
    scale = law.default_scale(x)
    xn = law.normalise(x, scale)
    return law, x, y, xn, scale


def test_many_starts_converge_to_the_exact_solution():
    law, x, y, xn, scale = _problem()
    lo, hi = law.bounds(xn, y)
    starts = law.starts(xn, y)
    res = minimize_batch(
        lambda t: law.f(xn, t),
        lambda t: law.f_jac(xn, t),
        starts,
        y,
        np.ones_like(y),
        lo,
        hi,
        loss="ls",
        rtol=1e-14,
        max_iter=400,
    )
    best = law.from_internal(res.theta[np.argmin(res.loss)], scale)
    np.testing.assert_allclose(best, [20.0, -0.25, 0.15], rtol=1e-4)
    assert (res.loss < 1e-12).sum() >= len(starts) // 2


def test_bounds_are_respected():
    law, x, y, xn, scale = _problem()
    # error that *rises* with compute: the unconstrained optimum has alpha > 0
    y_up = 0.05 * x**0.1
    lo, hi = law.bounds(xn, y_up)
    starts = law.starts(xn, y_up) + np.array([0.0, -5.0, 1.0])  # pushed outside the box
    res = minimize_batch(lambda t: law.f(xn, t), lambda t: law.f_jac(xn, t), starts, y_up,
                         np.ones_like(y), lo, hi, loss="log")
    assert np.all(res.theta >= lo - 1e-12) and np.all(res.theta <= hi + 1e-12)
    best = np.argmin(res.loss)
    assert res.at_bound[best, 1] and res.theta[best, 1] == 0.0  # alpha stopped at 0


def test_huber_resists_an_outlier_that_bends_least_squares():
    law, x, y, xn, scale = _problem()
    y_bad = y.copy()
    y_bad[-3] *= 1.6  # one failed run
    lo, hi = law.bounds(xn, y_bad)
    starts = law.starts(xn, y_bad)
    fits = {}
    for loss in ("log", "huber_log"):
        res = minimize_batch(
            lambda t: law.f(xn, t),
            lambda t: law.f_jac(xn, t),
            starts,
            y_bad,
            np.ones_like(y),
            lo,
            hi,
            loss=loss,
            delta=0.01,
        )
        fits[loss] = law.from_internal(res.theta[np.argmin(res.loss)], scale)
    err = {
        k: abs(
            law.evaluate(np.array([1e12]), v)[0]
            / law.evaluate(np.array([1e12]), np.array([20.0, -0.25, 0.15]))[0]
            - 1
        )
        for k, v in fits.items()
    }
    assert err["huber_log"] < 0.01 < err["log"]


def test_each_problem_of_a_batch_is_solved_independently():
    law, x, y, xn, scale = _problem()
    y2 = law.evaluate(x, np.array([10.0, -0.1, 0.05]))
    Y = np.stack([y, y2])
    lo, hi = law.bounds(xn, np.minimum(y, y2))
    start = law.starts(xn, y)[:1].repeat(2, axis=0)
    res = minimize_batch(
        lambda t: law.f(xn, t),
        lambda t: law.f_jac(xn, t),
        start,
        Y,
        np.ones_like(Y),
        lo,
        hi,
        loss="log",
        rtol=1e-14,
        max_iter=500,
    )
    p = law.from_internal(res.theta, scale)
    np.testing.assert_allclose(p[1], [10.0, -0.1, 0.05], rtol=1e-3)
    np.testing.assert_allclose(p[0], [20.0, -0.25, 0.15], rtol=1e-3)


def test_objective_definitions():
    r = np.array([[0.0, 0.5, -2.0]])
    w = np.ones_like(r)
    assert objective(r, w, "ls", 1.0)[0] == 0.5 * (0.25 + 4.0)
    assert objective(r, w, "huber_log", 1.0)[0] == 0.5 * 0.25 + (2.0 - 0.5)
    np.testing.assert_allclose(residuals(np.array([2.0]), np.array([1.0]), "log"), np.log(2.0))
