"""Tests of scalecmp.compare: the numerics on known laws, the contract, and a small
calibration on simulated grids (the full one is benchmarks/calibration.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scalecmp.compare import (
    compare,
    compare_groups,
    first_reach,
    simultaneous_tail,
)
from scalecmp.engine.lawfit import df_factor
from scalecmp.engine.laws import get_law
from scalecmp.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]


def _load_calibration():
    spec = importlib.util.spec_from_file_location("calibration", ROOT / "benchmarks" /
                                                  "calibration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fake_group(key, law_name, params, sd, *, r=400, seed=0, maximize=True,
               x_range=(1e7, 1e12), n_frontier=40):
    """A GroupFit look-alike with Gaussian bootstrap replicates around ``params``: the
    same surface compare reads (point error, replicate curves, exponents)."""
    law = get_law(law_name)
    rng = np.random.default_rng(seed)
    p = np.asarray(params, float)
    bp = p + rng.normal(size=(r, len(p))) * np.asarray(sd, float)
    return SimpleNamespace(
        key=key, law=law, params=dict(zip(law.param_names, p, strict=True)),
        bootstrap_params=bp, maximize=maximize, x_range=x_range, n_frontier=n_frontier,
        predict_error=lambda x: law.evaluate(np.asarray(x, float), p),
        error_replicates=lambda x: law.evaluate(np.asarray(x, float), bp),
        exponent=float(law.exponent(p)),
        exponent_replicates=lambda: np.asarray(law.exponent(bp), float),
    )


# --------------------------------------------------------------------------- numerics
def test_first_reach_interpolates_and_flags_unreachable():
    lg = np.log(np.geomspace(1.0, 1e4, 401))
    curves = np.stack([1.0 / np.exp(lg), 0.5 + 0 * lg])  # 1/x, and a flat 0.5
    targets = np.array([[0.01, 2.0], [0.01, 0.6]])
    out = first_reach(lg, curves, targets)
    assert np.exp(out[0, 0]) == pytest.approx(100.0, rel=2e-3)
    assert out[0, 1] == -np.inf  # already below at the first grid point
    assert out[1, 0] == np.inf  # never reaches 0.01
    assert out[1, 1] == -np.inf


def test_simultaneous_tail_is_stricter_than_pointwise():
    rng = np.random.default_rng(0)
    adv = rng.normal(size=(1000, 50))  # independent columns: many effective tests
    q = simultaneous_tail(adv, 0.95)
    assert q < 0.025 / 5
    # one shared shift (perfectly correlated columns): the pointwise level is enough
    shared = np.repeat(rng.normal(size=(1000, 1)), 50, axis=1)
    assert simultaneous_tail(shared, 0.95) == pytest.approx(0.025, abs=3e-3)


def test_df_factor():
    assert df_factor(20, 4) == pytest.approx(np.sqrt(20 / 16))
    assert df_factor(3, 4) == 2.0


def test_multiplier_exact_for_power_laws():
    # b needs exactly 2x the compute of a: err_b(x) = A (x / 2)^alpha
    A, al = 5.0, -0.25
    ga = fake_group({"m": "a"}, "power", [A, al], [0.05, 0.002], seed=1)
    gb = fake_group({"m": "b"}, "power", [A * 2**0.25, al], [0.05, 0.002], seed=2)
    c = compare_groups(ga, gb, at=[1e9, 1e11])
    for e in c.at:
        assert e["compute_multiplier"] == pytest.approx(2.0, rel=2e-3)
        assert e["reverse_multiplier"] == pytest.approx(0.5, rel=2e-3)
        lo, hi = e["multiplier_ci"]
        assert lo < 2.0 < hi
        assert e["better"] == {"m": "a"}  # lower error: a better
        assert e["diff"] > 0  # maximize: metric of a above b
    assert c.exponent_diff["value"] == pytest.approx(0.0, abs=1e-12)
    assert c.crossovers == []
    assert "a is better than b" in c.verdict


def test_crossover_located_and_verdict_sides():
    # same E, different exponents: a better at small x, b better at large x
    ga = fake_group({"p": "a"}, "power_floor", [3.0, -0.15, 0.05], [0.02, 0.001, 0.001])
    gb = fake_group({"p": "b"}, "power_floor", [30.0, -0.25, 0.05], [0.2, 0.001, 0.001], seed=3)
    # analytic crossover: 3 x^-0.15 = 30 x^-0.25  ->  x = 10^(1 / 0.1) = 1e10
    c = compare_groups(ga, gb, at=[1e8, 1e12], x_name="C")
    assert len(c.crossovers) == 1
    x = c.crossovers[0]
    assert x["x"] == pytest.approx(1e10, rel=1e-3)
    assert x["lo"] < 1e10 < x["hi"]
    assert x["share"] > 0.9
    assert x["better_above"] == "b"
    assert c.at[0]["better"] == {"p": "a"} and c.at[1]["better"] == {"p": "b"}
    better = [r["better"] for r in c.regions]
    assert {"p": "a"} in better and {"p": "b"} in better
    assert "a is better than b" in c.verdict and "b is better than a" in c.verdict
    assert "cross at 1e10" in c.verdict


def test_unreachable_floor_gives_null_multiplier_with_reason():
    ga = fake_group({"g": "a"}, "power_floor", [5.0, -0.2, 0.05], [0.01, 0.001, 0.0005])
    gb = fake_group({"g": "b"}, "power_floor", [5.0, -0.2, 0.20], [0.01, 0.001, 0.0005])
    c = compare_groups(ga, gb, at=[1e12])
    e = c.at[0]
    assert e["compute_multiplier"] is None
    assert e["multiplier_ci"][1] is None
    assert "floor" in e["multiplier_note"]
    json.dumps(c.to_dict())  # JSON-safe (no inf / NaN)


def test_identical_arms_make_no_claim():
    ga = fake_group({"m": "a"}, "saturating", [40, 9e7, -0.21, 0.09], [1, 1e6, 0.003, 0.003])
    gb = fake_group({"m": "b"}, "saturating", [40, 9e7, -0.21, 0.09], [1, 1e6, 0.003, 0.003],
                    seed=5)
    c = compare_groups(ga, gb, at=[1e11])
    assert (c.sig == 0).all()
    assert c.verdict.startswith("Inconclusive")
    assert c.at[0]["better"] is None


def test_extrapolation_flags():
    ga = fake_group({"m": "a"}, "power", [5, -0.2], [0.05, 0.002], x_range=(1e7, 1e11))
    gb = fake_group({"m": "b"}, "power", [6, -0.2], [0.05, 0.002], x_range=(1e7, 1e12))
    c = compare_groups(ga, gb, at=[1e10, 5e11])
    assert [e["extrapolated"] for e in c.at] == [False, True]
    assert c.measured == (1e7, 1e11)
    assert "extrapolated above 1e11" in c.verdict


def test_too_few_replicates_and_bad_inputs():
    ga = fake_group({"m": "a"}, "power", [5, -0.2], [0.05, 0.002], r=5)
    gb = fake_group({"m": "b"}, "power", [6, -0.2], [0.05, 0.002], r=5)
    with pytest.raises(UsageError, match="bootstrap"):
        compare_groups(ga, gb)
    ga = fake_group({"m": "a"}, "power", [5, -0.2], [0.05, 0.002])
    gb = fake_group({"m": "b"}, "power", [6, -0.2], [0.05, 0.002])
    with pytest.raises(UsageError, match="> 0"):
        compare_groups(ga, gb, at=[-1.0])
    with pytest.raises(UsageError, match="level"):
        compare_groups(ga, gb, level=1.5)


# ----------------------------------------------------------------- through the engine
@pytest.fixture(scope="module")
def cal():
    return _load_calibration()


@pytest.fixture(scope="module")
def two_arms(cal):
    rng = np.random.default_rng(7)
    p = cal.draw_law(rng)
    a = cal.simulate_series(rng, p, 1.0, "a")
    b = cal.simulate_series(rng, p, 3.0, "b")  # b needs 3x the compute
    return pd.concat([a, b], ignore_index=True)


def test_compare_contract_through_engine(two_arms):
    res = compare(two_arms, x="gflops_total", y="value", by="arm", maximize=True,
                  at=[1e11, 5e11], n_bootstrap=200)
    d = json.loads(json.dumps(res.to_dict()))
    assert len(d["groups"]) == 2 and len(d["comparisons"]) == 1
    c = d["comparisons"][0]
    assert c["a"] == {"arm": "a"} and c["b"] == {"arm": "b"}
    for k in ("crossovers", "at", "verdict", "exponent_diff", "grid", "regions"):
        assert k in c
    for e in c["at"]:
        for k in ("x", "y_a", "y_b", "diff", "lo", "hi", "p_a_better", "better",
                  "compute_multiplier", "multiplier_ci", "extrapolated"):
            assert k in e
    # b needs 3x: multiplier ~3, interval holds it, a better
    e = c["at"][1]
    assert e["better"] == {"arm": "a"}
    assert 1.5 < e["compute_multiplier"] < 8
    assert e["multiplier_ci"][0] < 3.0 < (e["multiplier_ci"][1] or np.inf)
    frame = res.to_frame()
    assert list(frame["x"]) == [1e11, 5e11]
    assert res.comparisons[0].grid_frame().shape[0] == 200


def test_compare_accepts_fitresult_and_rejects_single_group(two_arms):
    from scalecmp import fit

    res = fit(two_arms, x="gflops_total", y="value", by="arm", maximize=True, n_bootstrap=100)
    out = compare(res, at=[1e12])
    assert len(out) == 1
    one = fit(two_arms[two_arms.arm == "a"], x="gflops_total", y="value", by="arm",
              maximize=True, n_bootstrap=50)
    with pytest.raises(DataError, match="at least 2 groups"):
        compare(one)
    with pytest.raises(UsageError, match="^by: "):
        compare(two_arms, x="gflops_total", y="value", maximize=True)
    with pytest.raises(UsageError, match="> 0"):
        compare(two_arms, by="arm", maximize=True, at=[0.0])


def test_compare_speed_two_groups_150_points():
    import time

    from scalecmp import fit

    rng = np.random.default_rng(0)
    x = np.geomspace(1e7, 1e12, 150)
    rows = []
    for arm, m in (("a", 1.0), ("b", 1.3)):
        err = 40 * (x / m + 9e7) ** -0.21 + 0.09
        rows.append(pd.DataFrame({"arm": arm, "C": x,
                                  "err": err * np.exp(rng.normal(0, 0.01, len(x)))}))
    frame = pd.concat(rows)
    res = fit(frame, x="C", y="err", by="arm", n_bootstrap=1000, frontier="none")
    t = time.perf_counter()
    compare(res, at=[1e12, 1e13])
    assert time.perf_counter() - t < 3.0  # the comparison itself; fits timed in benchmarks


# --------------------------------------------------------------- small calibration
def test_small_calibration_false_positives_and_power(cal):
    r = cal.run(n_series=30, seed=11, n_bootstrap=200, progress=False, law="saturating")
    assert r["skipped"] <= 2
    # same law in both arms: a winner anywhere in <= 25% (target 5%, measured 8% on 100
    # series in benchmarks/calibration.py; 30 series here)
    assert r["false_positive_any"] <= 0.25
    # 1.5x compute multiplier: detected in most series, never the wrong way round
    assert r["power_1p5x_any"] >= 0.6
    assert r["wrong_direction_1p5x"] <= 0.07
    # intervals 3x beyond the data: not wildly off (target 0.90-0.98 on the benchmark)
    assert r["coverage_pred_3x"] >= 0.5
