"""A scaling law does not depend on the unit of the metric: the engine fits errors of order
1 (``err / y_scale``, ``y_scale`` the geometric mean of the frontier's errors) and reports
everything in the original unit, so ``y -> k y`` scales predictions, intervals and the
error-unit parameters by ``k`` and leaves the rest unchanged."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import scalecmp
from scalecmp.engine import ScalingLawRegressor
from scalecmp.engine.laws import LAWS

X = np.geomspace(1e8, 1e12, 14)
Y = (3.0 * (X + 3e8) ** -0.25 + 0.05) * np.exp(np.random.default_rng(0).normal(0, 0.01, 14))
AT = np.array([3e11, 3e12, 1e13])


def _fit(y: np.ndarray, law: str = "auto") -> ScalingLawRegressor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ScalingLawRegressor(law, n_bootstrap=50).fit(X, y)


@pytest.mark.parametrize("law", ["auto", "power_floor", "saturating", "broken_power"])
@pytest.mark.parametrize("k", [1e-12, 1e-6, 3.7, 1e6, 1e12])
def test_predictions_and_intervals_scale_with_the_metric(law, k):
    ref, got = _fit(Y, law), _fit(Y * k, law)
    np.testing.assert_allclose(got.predict(AT) / k, ref.predict(AT), rtol=1e-6)
    for a, b in zip(got.interval(AT), ref.interval(AT), strict=True):
        np.testing.assert_allclose(a / k, b, rtol=1e-6)
    np.testing.assert_allclose(got.interval(AT, kind="curve")[1] / k,
                               ref.interval(AT, kind="curve")[1], rtol=1e-6)
    assert got.weights_ == pytest.approx(ref.weights_, rel=1e-6)
    scaled = LAWS[got.law_.name].y_params
    for name, value in ref.params_.items():
        assert got.params_[name] == pytest.approx(value * (k if name in scaled else 1.0),
                                                  rel=1e-6), name


def test_the_comparison_of_a_loss_does_not_depend_on_its_unit():
    rows = []
    for proc, m in (("a", 1.0), ("b", 1.8)):
        rows.append(pd.DataFrame({"p": proc, "c": X, "v": Y * (m ** -0.1)}))
    frame = pd.concat(rows, ignore_index=True)
    from scalecmp.compare import compare

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = compare(frame, x="c", y="v", by="p", at=[1e13], n_bootstrap=40)
        got = compare(frame.assign(v=frame["v"] * 1e-9), x="c", y="v", by="p", at=[1e13],
                      n_bootstrap=40)
    a, b = ref.comparisons[0].at[0], got.comparisons[0].at[0]
    assert b["diff"] == pytest.approx(a["diff"] * 1e-9, rel=1e-6)
    assert b["p_a_better"] == a["p_a_better"]
    assert b["compute_multiplier"] == pytest.approx(a["compute_multiplier"], rel=1e-6)


@pytest.mark.parametrize("k", [1e-300, 1e300])
def test_errors_near_the_ends_of_the_floats_fit(k):
    frame = pd.DataFrame({"c": X, "v": Y * k})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scalecmp.fit(frame, x="c", y="v", n_bootstrap=50, predict_at=[1e13])
        ref = scalecmp.fit(frame.assign(v=Y), x="c", y="v", n_bootstrap=50, predict_at=[1e13])
    got, want = res.groups[0].predictions()[0], ref.groups[0].predictions()[0]
    for key in ("y", "lo", "hi"):
        assert got[key] == pytest.approx(want[key] * k, rel=1e-6)


def test_a_metric_in_zero_one_is_fitted_as_it_is():
    """With ``maximize`` the error 1 - y is already of order 1 and bounded by the range
    prior: it is not rescaled (y_scale 1), so the study's measurements fit as before."""
    reg = ScalingLawRegressor("power_floor", maximize=True, n_bootstrap=20).fit(X, 1 - Y)
    assert all(m.y_scale == 1.0 for m in reg.result_.members)
    assert _fit(Y * 1e-9).result_.members[0].y_scale == pytest.approx(
        float(np.exp(np.mean(np.log(Y * 1e-9)))), rel=1e-12)


# --- the x half: the unit of compute ----------------------------------------------------


def _fit_x(k: float, law: str, **fields) -> ScalingLawRegressor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ScalingLawRegressor(law, n_bootstrap=50, **fields).fit(X * k, Y)


@pytest.mark.parametrize("law", ["auto", "power_floor", "saturating", "broken_power"])
@pytest.mark.parametrize("k", [1e-12, 1e-6, 3.7, 1e6, 1e12])
def test_predictions_and_intervals_do_not_depend_on_the_unit_of_compute(law, k):
    """x -> k x: the same frontier (bins per doubling), the same starts in units of the
    data's scale (the study's grid included), so the same predictions at k x."""
    ref, got = _fit_x(1.0, law), _fit_x(k, law)
    np.testing.assert_allclose(got.predict(AT * k), ref.predict(AT), rtol=1e-6)
    for a, b in zip(got.interval(AT * k), ref.interval(AT), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert (got.frontier_mask_ == ref.frontier_mask_).all()
    assert got.weights_ == pytest.approx(ref.weights_, rel=1e-6)


def test_the_study_bin_count_is_stated_in_gflops():
    """``frontier_bins="study"`` (the laion2025 preset's) counts bins from x_max / 1500
    GFLOPs: another unit of compute keeps other runs; the default does not."""
    x = np.geomspace(1e6, 1e12, 200)
    y = 1.0 / np.log(x)
    study = [ScalingLawRegressor("power", n_bootstrap=0, frontier_bins="study").fit(x * k, y)
             for k in (1.0, 1e9)]
    assert study[0].frontier_mask_.sum() != study[1].frontier_mask_.sum()
    free = [ScalingLawRegressor("power", n_bootstrap=0).fit(x * k, y) for k in (1.0, 1e9)]
    assert (free[0].frontier_mask_ == free[1].frontier_mask_).all()
