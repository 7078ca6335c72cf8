"""Priors as pseudo-observations (scalecmp.engine.priors) and the sanity checks inside the data."""

import dataclasses
import warnings

import numpy as np
import pytest

from jacobian_check import assert_jacobian
from scalecmp import ScalingLawRegressor
from scalecmp.engine.laws import get_law
from scalecmp.engine.priors import Priors, augment

XN = np.geomspace(0.01, 100.0, 15)


def _pseudo(law_name, params, priors):
    law = get_law(law_name)
    scale = np.asarray(1.0)
    theta = law.to_internal(np.asarray(params, float), scale)[None, :]
    model = augment(law, XN, priors)
    f, f_jac, m = model.f, model.f_jac, model.m
    pred = f(theta)[0]
    return pred[len(XN):], f_jac(theta), m


def test_a_floor_right_after_a_steepening_frontier_is_penalised():
    # saturating law with a steep exponent and the floor 2% under the last error: the slope
    # collapses within a decade of the data although the data are still steepening
    steep = [5.0, 50.0, -2.4, 0.0]
    e_last = get_law("saturating").evaluate(np.array([100.0]), np.asarray(steep))[0]
    steep[3] = 0.98 * e_last / (1.0 + 0.98)  # rescale so that E sits just under the edge
    q, _, m = _pseudo("saturating", steep, Priors(min_slope_ratio=0.5))
    assert m == 1 and q[0] > 1.5  # violated: residual lam * g > log 1.5


def test_a_power_law_and_a_visible_bend_are_not_penalised():
    q, _, _ = _pseudo("power", [1.0, -0.3], Priors(min_slope_ratio=0.5))
    assert q[0] == pytest.approx(1.0)  # constant slope: ratio 1
    # a floor the data already bend toward keeps the same pace beyond: no penalty
    q, _, _ = _pseudo("power_floor", [0.2, -0.5, 0.1], Priors(min_slope_ratio=0.5))
    assert q[0] == pytest.approx(1.0)


def test_prior_jacobian_matches_finite_differences():
    law = get_law("broken_power")
    model = augment(law, XN, Priors(min_slope_ratio=0.9, max_error=0.5))
    f, f_jac, m = model.f, model.f_jac, model.m
    theta = np.array([[0.3, 0.05, 0.9, np.log(0.5), np.log(0.3), 0.1]])
    pred = f(theta)
    assert_jacobian(f, f_jac, theta, rtol=1e-3, atol=1e-6)
    assert m > 1 and (pred[0, len(XN):] > 1).any()  # this theta violates the range prior


def test_the_range_prior_keeps_error_at_most_one_inside_the_data():
    # accuracies near chance at small compute, where a loose law overshoots error 1
    x = np.geomspace(1e6, 1e11, 20)
    acc = np.clip(0.8 / (1 + (x / 3e8) ** -0.9) - 0.01, 0.005, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = ScalingLawRegressor("saturating", maximize=True, n_bootstrap=50,
                                  frontier="none").fit(x, acc)
    err = reg.predict_error(np.geomspace(1e6, 1e11, 200))
    assert err.max() <= 1.0 + 0.005
    assert not any("error leaves" in w for w in reg.result_.warnings)


def test_a_law_that_leaves_the_unit_interval_is_warned_and_rejected_by_auto():
    x = np.geomspace(1e6, 1e11, 20)
    acc = np.clip(0.8 / (1 + (x / 3e8) ** -0.9) - 0.01, 0.005, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        off = ScalingLawRegressor("power", maximize=True, n_bootstrap=0, frontier="none",
                                  range_prior=False).fit(x, acc)
    assert any("error leaves (0, 1]" in w for w in off.result_.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = ScalingLawRegressor(maximize=True, n_bootstrap=0, frontier="none",
                                   range_prior=False).fit(x, acc)
    for c in auto.result_.candidates:
        if c["status"].startswith("rejected"):
            assert c["weight"] == 0.0


def test_results_are_immutable():
    x = np.geomspace(1e6, 1e10, 12)
    reg = ScalingLawRegressor("power", n_bootstrap=20, frontier="none").fit(x, 2 * x**-0.2)
    member = reg.result_.members[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        member.theta = np.zeros(2)
    with pytest.raises(ValueError):
        member.bootstrap_theta[0, 0] = 1.0


def test_a_flat_law_is_warned_and_kept_out_of_the_mixture():
    # error that rises with compute: the best power law is flat (alpha at its bound 0)
    x = np.geomspace(1e6, 1e10, 12)
    err = 0.3 * (x / 1e6) ** 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = ScalingLawRegressor("power", n_bootstrap=0, frontier="none").fit(x, err)
    assert any("flat law" in w for w in reg.result_.warnings)
