import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scalecmp
from scalecmp import DataError, ScalingLawRegressor, UsageError, get_law
from scalecmp.errors import ScalecmpWarning

X = np.geomspace(1e6, 1e10, 28)
BEYOND = np.array([3e10, 1e11])  # 3x and 10x beyond the fitted range
FAST = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def noisy(law_name, x, params, seed, sigma=0.002):
    rng = np.random.default_rng(seed)
    y = get_law(law_name).evaluate(x, np.asarray(params, float))
    return y * np.exp(rng.normal(0.0, sigma, y.shape))


def check_recovery(law_name, params, seed, x=X, beyond=BEYOND, in_tol=0.02, out_tol=0.06):
    law = get_law(law_name)
    y = noisy(law_name, x, params, seed)
    reg = ScalingLawRegressor(law_name, frontier="none", n_bootstrap=0).fit(x, y)
    truth_in = law.evaluate(x, np.asarray(params, float))
    truth_out = law.evaluate(beyond, np.asarray(params, float))
    assert np.max(np.abs(reg.predict(x) / truth_in - 1)) < in_tol
    assert np.max(np.abs(reg.predict(beyond) / truth_out - 1)) < out_tol
    return reg


@FAST
@given(A=st.floats(5, 200), alpha=st.floats(-0.5, -0.05), seed=st.integers(0, 1000))
def test_power_law_is_recovered(A, alpha, seed):
    reg = check_recovery("power", [A, alpha], seed)
    assert reg.params_["alpha"] == pytest.approx(alpha, abs=0.02)


@FAST
@given(alpha=st.floats(-0.5, -0.1), E=st.floats(0.02, 0.3), seed=st.integers(0, 1000))
def test_power_floor_is_recovered_and_extrapolates(alpha, E, seed):
    A = 1.0 / 1e6**alpha  # error 1 + E at the smallest compute
    check_recovery("power_floor", [A, alpha, E], seed)


@FAST
@given(
    alpha=st.floats(-0.45, -0.15),
    logB=st.floats(6.0, 8.0),
    E=st.floats(0.03, 0.25),
    seed=st.integers(0, 1000),
)
def test_saturating_law_is_recovered_and_extrapolates(alpha, logB, E, seed):
    B = 10**logB
    A = 1.0 / (1e6 + B) ** alpha
    check_recovery("saturating", [A, B, alpha, E], seed)


@FAST
@given(
    c0=st.floats(0.0, 0.15),
    c1=st.floats(0.1, 0.4),
    logd=st.floats(7.0, 8.5),  # at least 1.5 decades of data after the break
    f=st.floats(0.5, 2.0),
    E=st.floats(0.02, 0.2),
    seed=st.integers(0, 1000),
)
def test_broken_power_law_is_recovered_and_extrapolates(c0, c1, logd, f, E, seed):
    d = 10**logd
    A = 1.0 / (1e6**-c0 * (1 + (1e6 / d) ** (1 / f)) ** (-c1 * f))
    check_recovery("broken_power", [A, c0, c1, d, f, E], seed, in_tol=0.02, out_tol=0.08)


@FAST
@given(alpha=st.floats(0.2, 0.5), beta=st.floats(0.2, 0.5), seed=st.integers(0, 1000))
def test_chinchilla_is_recovered(alpha, beta, seed):
    N, D = np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 6))
    x = np.stack([N.ravel(), D.ravel()], axis=1)
    p = np.array([1e6**alpha, alpha, 1e8**beta, beta, 0.5])
    rng = np.random.default_rng(seed)
    y = get_law("chinchilla").evaluate(x, p) * np.exp(rng.normal(0, 0.003, len(x)))
    reg = ScalingLawRegressor("chinchilla", frontier="none", n_bootstrap=0).fit(
        x[:, 0], y, x2=x[:, 1]
    )
    big = np.array([[1e10, 1e12]])
    truth = get_law("chinchilla").evaluate(big, p)
    assert reg.predict(big[:, 0], x2=big[:, 1])[0] == pytest.approx(truth[0], rel=0.05)
    assert reg.params_["alpha"] == pytest.approx(alpha, abs=0.08)
    assert reg.params_["beta"] == pytest.approx(beta, abs=0.08)


def _accuracy_frame(seed=0):
    x = np.geomspace(1e7, 1e11, 30)
    err = get_law("saturating").evaluate(x, np.array([60.0, 3e7, -0.25, 0.12]))
    rng = np.random.default_rng(seed)
    acc = 1 - err * np.exp(rng.normal(0, 0.01, len(x)))
    return pd.DataFrame({"gflops": x, "acc": acc, "proc": "a"})


def test_maximize_reports_in_metric_units_and_intervals_bracket():
    frame = _accuracy_frame()
    res = scalecmp.fit(
        frame,
        x="gflops",
        y="acc",
        maximize=True,
        n_bootstrap=200,
        law="saturating",
        predict_at=[1e12],
    )
    g = res.groups[0]
    y = g.predict([1e12])[0]
    lo, hi = g.interval([1e12])
    assert 0.5 < y < 1.0
    assert lo[0] < y < hi[0]
    assert g.predict_error([1e12])[0] == pytest.approx(1 - y)
    # replicates are in metric units too; a new measurement is less certain than the curve
    reps = g.predict_replicates([1e12])
    assert reps.shape == (200, 1) and 0.5 < np.median(reps) < 1.0
    clo, chi = g.interval([1e12], kind="curve")
    assert hi[0] - lo[0] >= chi[0] - clo[0] > 0


def test_intervals_widen_with_extrapolation_and_level():
    g = scalecmp.fit(
        _accuracy_frame(), x="gflops", y="acc", maximize=True, n_bootstrap=300, law="saturating"
    ).groups[0]
    xs = np.array([1e10, 1e12, 1e14])
    lo, hi = g.interval(xs)
    assert np.all(np.diff(hi - lo) > 0)
    lo80, hi80 = g.interval(xs, level=0.8)
    assert np.all(hi80 - lo80 < hi - lo)


def test_fits_are_deterministic():
    a = scalecmp.fit(_accuracy_frame(), x="gflops", y="acc", maximize=True, n_bootstrap=100)
    b = scalecmp.fit(_accuracy_frame(), x="gflops", y="acc", maximize=True, n_bootstrap=100)
    np.testing.assert_array_equal(a.groups[0].bootstrap_params, b.groups[0].bootstrap_params)
    assert a.to_dict() == b.to_dict()


def test_groups_json_contract_and_tidy_frame():
    f1, f2 = _accuracy_frame(1), _accuracy_frame(2)
    f2["proc"] = "b"
    res = scalecmp.fit(
        pd.concat([f1, f2]),
        x="gflops",
        y="acc",
        by="proc",
        maximize=True,
        n_bootstrap=50,
        law="saturating",
        predict_at=[1e12],
    )
    d = res.to_dict()
    assert {"x", "y", "maximize", "law", "level", "n_bootstrap", "groups"} <= set(d)
    g = d["groups"][1]
    assert g["key"] == {"proc": "b"}
    assert set(g["params"]) == {"A", "B", "alpha", "E"}
    assert set(g["params_ci"]) == set(g["params"])
    assert {"n_points", "n_frontier", "x_range", "diagnostics", "predictions"} <= set(g)
    assert set(g["predictions"][0]) == {"x", "y", "lo", "hi"}
    assert {"loss", "n_reached_best", "params_at_bound"} <= set(g["diagnostics"])
    frame = res.to_frame()
    assert list(frame["param"][:4]) == ["A", "B", "alpha", "E"]
    assert set(frame["proc"]) == {"a", "b"}
    assert res["b"].key == {"proc": "b"}


def test_too_few_points_for_the_law_names_the_group():
    frame = _accuracy_frame().iloc[:4]
    with pytest.raises(DataError, match="too few for law 'broken_power'"):
        scalecmp.fit(frame, x="gflops", y="acc", by="proc", maximize=True, n_bootstrap=0,
                     law="broken_power")


def test_auto_skips_a_group_that_supports_no_law_and_fits_the_others():
    big = _accuracy_frame(1)
    small = _accuracy_frame(2).iloc[:2].assign(proc="tiny")
    frame = pd.concat([big, small], ignore_index=True)
    with pytest.warns(ScalecmpWarning, match="proc=tiny: skipped"):
        res = scalecmp.fit(frame, x="gflops", y="acc", by="proc", maximize=True, n_bootstrap=0)
    assert [g.key["proc"] for g in res.groups] == ["a"]
    assert res.skipped[0]["key"] == {"proc": "tiny"}
    assert "too few for any law" in res.skipped[0]["reason"]
    assert res.to_dict()["skipped"][0]["key"] == {"proc": "tiny"}


def test_auto_uses_the_laws_a_sparse_series_supports():
    # 6 frontier points: power (needs 4), power_floor (5) and saturating/recipe (6) only
    x = np.geomspace(1e6, 1e10, 6)
    err = 0.2 + 0.8 * (x / 1e6) ** -0.25
    reg = ScalingLawRegressor(maximize=False, n_bootstrap=100, frontier="none").fit(x, err)
    cands = {c["name"]: c for c in reg.result_.candidates}
    assert cands["broken_power"]["law"] is None and "too few" in cands["broken_power"]["status"]
    assert sum(c["weight"] for c in cands.values()) == pytest.approx(1.0)
    assert reg.result_.n_replicates == 100
    assert np.isfinite(reg.predict([1e11])).all()


def _sparse_weights(n: int) -> dict[str, float]:
    x = np.geomspace(1e6, 1e10, n)
    err = 0.2 + 0.8 * (x / 1e6) ** -0.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = ScalingLawRegressor(n_bootstrap=100, frontier="none").fit(x, err)
    assert np.isfinite(reg.predict([1e11])).all() and reg.result_.n_replicates == 100
    return {c["name"]: c["weight"] for c in reg.result_.candidates}


def test_four_frontier_points_mix_the_study_recipe_with_power_floor():
    """Like the study, the recipe's law goes through 4 points (its narrow start grid
    regularises it); with no degree of freedom it joins power_floor in the fallback pool,
    and the pure power law (tier 2) is left out (BENCHMARKS.md, section 13c)."""
    w = _sparse_weights(4)
    assert w["recipe"] > 0 and w["power_floor"] > 0 and w["power"] == 0
    assert w["saturating"] == 0 and w["broken_power"] == 0
    assert w["recipe"] + w["power_floor"] == pytest.approx(1.0)


def test_three_frontier_points_fall_back_to_the_power_law():
    w = _sparse_weights(3)
    assert w["power"] == pytest.approx(1.0)


def test_five_frontier_points_use_the_bending_laws_only():
    w = _sparse_weights(5)
    assert w["power_floor"] == 0 and w["power"] == 0
    assert w["saturating"] + w["recipe"] == pytest.approx(1.0)


def test_the_pool_is_the_lowest_tier_that_passed_its_checks():
    from scalecmp.engine.mixture import combine

    assert combine([0, 1, 2], [True, True, True], None).tolist() == [1.0, 0.0, 0.0]
    assert combine([0, 1, 1, 2], [False, True, True, True], None).tolist() == [0, .5, .5, 0]
    assert combine([0, 1, 2], [False, False, True], None).tolist() == [0.0, 0.0, 1.0]
    # nothing passed: the lowest tier of all
    assert combine([1, 0, 2], [False, False, False], None).tolist() == [0.0, 1.0, 0.0]


def test_nan_rows_are_dropped_with_a_warning():
    frame = _accuracy_frame()
    frame.loc[3, "acc"] = np.nan
    with pytest.warns(ScalecmpWarning, match="dropped 1 of 30 rows"):
        res = scalecmp.fit(
            frame, x="gflops", y="acc", maximize=True, n_bootstrap=0, law="saturating"
        )
    assert res.groups[0].n_points == 29


def test_flat_data_warns_of_a_degenerate_fit():
    x = np.geomspace(1e6, 1e10, 20)
    y = np.full_like(x, 0.5) * np.exp(np.random.default_rng(0).normal(0, 0.01, 20))
    with pytest.warns(ScalecmpWarning):
        ScalingLawRegressor("power", frontier="none", n_bootstrap=0).fit(x, y)


def test_bad_options_are_usage_errors():
    x, y = np.geomspace(1, 100, 10), np.linspace(1, 0.5, 10)
    for kw in (
        {"loss": "l1"},
        {"frontier": "hull"},
        {"level": 1.5},
        {"bootstrap": "wild"},
        {"weighting": "magic"},
    ):
        with pytest.raises(UsageError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ScalingLawRegressor("power", n_bootstrap=0, **kw).fit(x, y)


def test_predict_before_fit_raises():
    from scalecmp.errors import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted") as info:
        ScalingLawRegressor().predict([1.0])
    assert isinstance(info.value, AttributeError | ValueError)  # as scikit-learn's


def test_scikit_learn_estimator_protocol():
    """get_params / set_params / repr as scikit-learn's estimators have them (so ``clone``
    and parameter searches work), without scalecmp depending on scikit-learn."""
    r = ScalingLawRegressor("power_floor", n_bootstrap=50, maximize=True)
    params = r.get_params()
    assert params["law"] == "power_floor" and params["n_bootstrap"] == 50
    assert params["maximize"] is True and params["level"] == 0.95
    assert ScalingLawRegressor(**params).get_params() == params
    assert repr(r) == "ScalingLawRegressor(law='power_floor', maximize=True, n_bootstrap=50)"
    assert r.set_params(level=0.9, random_state=3) is r and r.level == 0.9
    with pytest.raises(UsageError, match="no parameter 'n_boot'"):
        r.set_params(n_boot=10)
    sklearn_base = pytest.importorskip("sklearn.base")
    twin = sklearn_base.clone(r)
    assert twin is not r and twin.get_params() == r.get_params()
    assert not hasattr(twin, "result_")


def test_frames_dicts_and_records_are_all_tables():
    """pandas in: a dict of columns or a list of records fits like the DataFrame they make;
    anything else (a path, a number) or an empty table is a one-line error."""
    x = np.geomspace(1, 1e4, 10)
    frame = pd.DataFrame({"c": x, "v": 0.1 + 0.8 * x ** -0.3})
    ref = scalecmp.fit(frame, x="c", y="v", n_bootstrap=0).groups[0].params
    for data in (frame.to_dict("list"), frame.to_dict("records")):
        assert scalecmp.fit(data, x="c", y="v", n_bootstrap=0).groups[0].params == ref
    with pytest.raises(UsageError, match="read it with scalecmp.load_measurements"):
        scalecmp.fit("measurements.csv", x="c", y="v")
    with pytest.raises(UsageError, match="frame must be a pandas DataFrame"):
        scalecmp.fit(5, x="c", y="v")
    with pytest.raises(DataError, match="no rows to fit"):
        scalecmp.fit(frame.iloc[:0], x="c", y="v")


def test_predictions_need_positive_finite_compute():
    x = np.geomspace(1, 1e4, 10)
    r = ScalingLawRegressor("power_floor", n_bootstrap=0).fit(x, 0.1 + 0.8 * x ** -0.3)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(DataError, match="compute > 0 and finite"):
            r.predict([1e5, bad])
    assert np.isfinite(r.predict([1e5])).all()


def test_backtested_extrapolation_error_is_zero_when_the_law_is_right():
    y = noisy("power_floor", X, [1.0 / 1e6**-0.3, -0.3, 0.1], seed=0, sigma=0.001)
    reg = ScalingLawRegressor("power_floor", frontier="none", n_bootstrap=200).fit(X, y)
    assert reg.extrapolation_error_ < 0.01
    assert reg.result_.members[0].extrapolation_error == reg.extrapolation_error_


def test_backtested_extrapolation_error_widens_intervals_of_a_wrong_law():
    # a curve that steepens at large compute, fitted with a law that cannot bend that way
    err = 0.9 * (1 + (X / 1e8) ** 1.0) ** -0.3
    reg = ScalingLawRegressor("power", frontier="none", n_bootstrap=300).fit(X, err)
    off = ScalingLawRegressor(
        "power", frontier="none", n_bootstrap=300, extrapolation_error=False
    ).fit(X, err)
    assert reg.extrapolation_error_ > 0.05
    lo, hi = reg.interval([1e11])
    lo0, hi0 = off.interval([1e11])
    assert hi[0] - lo[0] > 2 * (hi0[0] - lo0[0])
    truth = 0.9 * (1 + 1e3) ** -0.3
    assert lo[0] <= truth <= hi[0]
    # inside the fitted range the extrapolation term adds nothing
    np.testing.assert_allclose(reg.interval([1e9], kind="curve"), off.interval([1e9], kind="curve"))


@pytest.mark.parametrize("value", ["no", "True", 1, 0, None, 1.0])
def test_maximize_must_be_a_bool(value):
    """``maximize="no"`` was read by its truth (True): a yes/no argument takes True or
    False (numpy's booleans too), anything else is a UsageError naming it, in every entry
    point, before any work."""
    from scalecmp.compare import compare
    from scalecmp.holdout import holdout_check
    from scalecmp.optimal import optimal_allocation
    from scalecmp.report import write_report

    c = np.geomspace(1e9, 1e12, 8)
    frame = pd.DataFrame({"gflops_total": np.r_[c, c], "samples_seen": np.r_[c, c] / 4,
                          "value": np.r_[0.1 + 3 * c**-0.1, 0.12 + 3 * c**-0.1],
                          "procedure": ["a"] * 8 + ["b"] * 8})
    calls = {
        "fit": lambda: scalecmp.fit(frame, x="gflops_total", y="value", maximize=value),
        "compare": lambda: compare(frame, by="procedure", maximize=value),
        "optimal": lambda: optimal_allocation(frame, maximize=value),
        "holdout": lambda: holdout_check(frame, series=None, maximize=value),
        "report": lambda: write_report(frame, "never-written", by="procedure", maximize=value),
        "regressor": lambda: ScalingLawRegressor(maximize=value).fit(c, frame["value"][:8]),
    }
    for call in calls.values():
        with pytest.raises(UsageError, match=r"^maximize must be True or False, got "):
            call()
    assert not os.path.exists("never-written")
    reg = ScalingLawRegressor("power", maximize=np.bool_(False), n_bootstrap=0)
    assert reg.fit(c, 0.1 + 3 * c**-0.1).predict([1e13])[0] > 0


def test_a_fit_result_is_indexed_by_tuples_of_its_by_values():
    """``res[("clip",)]`` raised AttributeError: a tuple of values in ``by`` order finds a
    group, and a key that finds none is a KeyError naming the groups there are."""
    c = np.geomspace(1e9, 1e12, 8)
    frame = pd.DataFrame({"gflops_total": np.r_[c, c], "value": np.r_[0.1 + 3 * c**-0.1,
                                                                       0.12 + 3 * c**-0.1],
                          "proc": ["clip"] * 8 + ["mammut"] * 8, "lr": [1e-3] * 8 + [2e-3] * 8})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = scalecmp.fit(frame, x="gflops_total", y="value", by="proc", n_bootstrap=0,
                           law="power")
        two = scalecmp.fit(frame, x="gflops_total", y="value", by=["proc", "lr"],
                           n_bootstrap=0, law="power")
    assert one[("clip",)] is one["clip"] is one[0] is one[{"proc": "clip"}]
    assert two[("mammut", 0.002)].key == {"proc": "mammut", "lr": 0.002}
    for res, key, needle in [
        (one, ("coca",), "no group ('coca',); the groups, by (proc): ('clip',), ('mammut',)"),
        (one, "coca", "no group 'coca'; the groups"),
        (two, ("clip",), "a key holds 2 value(s), one per column of by (proc, lr)"),
        (two, "clip", "give a tuple of values in that order"),
        (one, {"zz": 1}, "'zz' is not a column of by (proc)"),
        (one, 1.5, "the groups, by (proc): ('clip',), ('mammut',)"),
    ]:
        with pytest.raises(KeyError) as info:
            res[key]
        assert needle in str(info.value), (key, str(info.value))


def test_predictions_take_one_dimensional_numbers():
    """``predict`` flattened a 2-D array into its values and read the text "1e12" as a
    number: predictions (and fits) take numbers, one-dimensional (a column of shape (n, 1)
    too, scikit-learn's one feature); text, booleans and other shapes are a UsageError."""
    c = np.geomspace(1e9, 1e12, 8)
    reg = ScalingLawRegressor("power", n_bootstrap=20).fit(c, 0.1 + 3 * c**-0.1)
    at = [1e12, 1e13]
    expected = reg.predict(at)
    np.testing.assert_allclose(reg.predict(np.array(at).reshape(-1, 1)), expected)
    np.testing.assert_allclose(reg.predict(pd.Series(at)), expected)
    np.testing.assert_allclose(reg.predict(1e12), expected[:1])
    for bad, needle in [
        (np.array([[1e12, 1e13]]), "x must be one-dimensional (a list, a 1-D array or a "
                                   "column of shape (n, 1)), got an array of shape (1, 2)"),
        (np.full((2, 2), 1e12), "got an array of shape (2, 2)"),
        ("1e12", "x must hold numbers, got text such as '1e12'"),
        (["1e12", "1e13"], "x must hold numbers, got text such as '1e12'"),
        ([True], "x must hold numbers, got booleans"),
        ([1e12, None], "x must hold numbers, got None"),
    ]:
        for method in (reg.predict, reg.predict_error, reg.interval, reg.error_replicates):
            with pytest.raises(UsageError) as info:
                method(bad)
            assert needle in str(info.value), (method, bad, str(info.value))
    with pytest.raises(UsageError, match=r"^y must hold numbers, got text such as '0.5'"):
        ScalingLawRegressor("power").fit(c, ["0.5"] * 8)


def test_a_prediction_interval_of_an_error_never_goes_below_zero():
    """The ``ls`` loss adds raw residuals to the replicate curves: far beyond the data,
    where the curve is much smaller than the residuals of the fitted range, an error (>= 0)
    must not get a negative lower bound (pythia's perplexity series gave -184,000)."""
    import warnings

    rng = np.random.default_rng(0)
    x = np.geomspace(1e6, 1e9, 12)
    y = 1e8 * x ** -0.8 * (1 + rng.normal(0, 0.3, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scalecmp.fit(pd.DataFrame({"x": x, "y": y}), x="x", y="y", law="power",
                           loss="ls", n_bootstrap=200)
    g = res.groups[0]
    far = np.array([1e12, 1e14])
    lo, hi = g.interval(far)
    assert np.all(g.predict(far) < 1.0)  # the curve there is tiny next to the residuals
    assert np.all(lo >= 0.0) and np.all(hi > lo)
    assert np.min(g.error_replicates(far, noise=True)) == 0.0  # the bound is reached
