import numpy as np
import pytest

from scalecmp.engine.laws import LAWS, Law, get_law, law_table
from scalecmp.errors import UsageError

X1 = np.geomspace(1e6, 1e12, 17)
X2 = np.stack([np.geomspace(1e6, 1e9, 17), np.geomspace(1e8, 1e11, 17)[::-1]], axis=1)

PARAMS = {
    "power": np.array([30.0, -0.2]),
    "power_floor": np.array([30.0, -0.2, 0.1]),
    "saturating": np.array([30.0, 2e7, -0.2, 0.1]),
    "broken_power": np.array([2.0, 0.05, 0.2, 1e9, 0.7, 0.08]),
    "chinchilla": np.array([400.0, 0.34, 410.0, 0.28, 1.7]),
}


def reference(name: str, x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The formulas written out independently of the implementation."""
    if name == "power":
        return p[0] * x ** p[1]
    if name == "power_floor":
        return p[0] * x ** p[1] + p[2]
    if name == "saturating":
        return p[0] * (x + p[1]) ** p[2] + p[3]
    if name == "broken_power":
        A, c0, c1, d, f, E = p
        return E + A * x ** (-c0) * (1 + (x / d) ** (1 / f)) ** (-c1 * f)
    if name == "chinchilla":
        A, a, B, b, E = p
        return E + A / x[:, 0] ** a + B / x[:, 1] ** b
    raise AssertionError(name)


def xs(law: Law) -> np.ndarray:
    return X2 if law.n_inputs == 2 else X1


def test_registry_lists_the_five_laws():
    assert set(LAWS) == {"power", "power_floor", "saturating", "broken_power", "chinchilla"}
    rows = law_table()
    assert all({"name", "formula", "params", "inputs"} <= set(r) for r in rows)
    assert get_law("saturating").param_names == ("A", "B", "alpha", "E")


def test_unknown_law_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown law 'nope'"):
        get_law("nope")


@pytest.mark.parametrize("name", sorted(LAWS))
def test_evaluate_matches_the_formula(name):
    law = get_law(name)
    x = xs(law)
    np.testing.assert_allclose(
        law.evaluate(x, PARAMS[name]), reference(name, x, PARAMS[name]), rtol=1e-9
    )


@pytest.mark.parametrize("name", sorted(LAWS))
def test_internal_parameters_round_trip(name):
    law = get_law(name)
    scale = law.default_scale(xs(law))
    theta = law.to_internal(PARAMS[name], scale)
    np.testing.assert_allclose(law.from_internal(theta, scale), PARAMS[name], rtol=1e-10)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_analytic_jacobian_matches_finite_differences(name):
    law = get_law(name)
    x = xs(law)
    scale = law.default_scale(x)
    xn = law.normalise(x, scale)
    theta = law.to_internal(PARAMS[name], scale)[None, :] + np.linspace(0, 0.05, law.n_params)
    pred, jac = law.f_jac(xn, theta)
    pred_num, jac_num = Law.f_jac(law, xn, theta)
    np.testing.assert_allclose(pred, pred_num)
    assert np.max(np.abs(jac - jac_num)) <= 1e-6 * np.max(np.abs(jac_num))


@pytest.mark.parametrize("name", sorted(LAWS))
def test_starts_lie_in_bounds_and_are_finite(name):
    law = get_law(name)
    x = xs(law)
    xn = law.normalise(x, law.default_scale(x))
    y = reference(name, x, PARAMS[name])
    lo, hi = law.bounds(xn, y)
    starts = law.starts(xn, y)
    assert starts.shape[1] == law.n_params and len(starts) >= 10
    assert np.isfinite(law.f(xn, np.clip(starts, lo, hi))).all()


def test_exponent_is_the_large_compute_slope():
    assert get_law("saturating").exponent(PARAMS["saturating"]) == pytest.approx(-0.2)
    assert get_law("broken_power").exponent(PARAMS["broken_power"]) == pytest.approx(-0.25)
    assert np.isnan(get_law("chinchilla").exponent(PARAMS["chinchilla"]))
    # numerically: slope of log(err - E) between 1e15 and 1e16 for the broken power law
    law, p = get_law("broken_power"), PARAMS["broken_power"]
    e = law.evaluate(np.array([1e15, 1e16]), p) - p[-1]
    assert np.log10(e[1] / e[0]) == pytest.approx(-0.25, abs=0.01)


@pytest.mark.parametrize("seed", range(4))
def test_the_study_starts_are_the_distinct_clipped_grid_in_lexicographic_order(seed: int):
    """``study_starts`` dedupes without ``np.unique(axis=0)`` (a third of the fit's time on
    many small series); it must give exactly what that gives."""
    import itertools

    from scalecmp.engine.recipes import STUDY_AB, STUDY_ALPHAS, STUDY_ES, study_starts

    law = get_law("saturating")
    rng = np.random.default_rng(seed)
    grid = np.array(list(itertools.product(STUDY_AB, STUDY_AB, STUDY_ALPHAS, STUDY_ES)))
    grid[:, :2] = np.maximum(grid[:, :2], 1e-300)
    for _ in range(25):
        xn = np.geomspace(0.01, 100, 8) * np.exp(rng.normal(0, 3))
        lower, upper = law.bounds(xn, rng.uniform(0.1, 1.0, 8))
        scale = np.asarray(np.exp(rng.normal(0, 10)))
        expected = np.unique(np.round(np.clip(law.to_internal(grid, scale), lower, upper), 9),
                             axis=0)
        got = study_starts(law, scale, lower, upper)
        assert got.shape == expected.shape and np.array_equal(got, expected)
