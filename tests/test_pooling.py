"""Partial pooling (scalecmp.engine.pooling): the series of one call inform each other."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scalecmp
from jacobian_check import assert_jacobian
from scalecmp.engine.laws import get_law
from scalecmp.engine.pooling import (
    PooledPrior,
    edge_points,
    edge_summaries,
    pooled_priors,
)
from scalecmp.engine.priors import Priors, augment
from scalecmp.errors import ScalecmpWarning

XN = np.geomspace(0.1, 10.0, 6)


def _sparse_family(seed: int, groups: int = 6, n: int = 5) -> pd.DataFrame:
    """Series of one law shape (exponent -0.3, floor 10% of the amplitude) with their own
    amplitudes, 5 points over two decades, 2% noise."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e8, 1e10, n)
    rows = []
    for g in range(groups):
        a = rng.uniform(0.5, 2.0)
        y = a * ((x / 1e8) ** -0.3 + 0.1) * np.exp(rng.normal(0, 0.02, n))
        rows.append(pd.DataFrame({"g": g, "c": x, "loss": y, "a": a}))
    return pd.concat(rows, ignore_index=True)


def _fit(frame: pd.DataFrame, **kw) -> scalecmp.FitResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scalecmp.fit(frame, x="c", y="loss", by="g", n_bootstrap=100, **kw)


def test_the_summaries_are_the_edge_slope_and_its_shrink():
    law = get_law("power_floor")
    theta = law.to_internal(np.array([1.0, -0.3, 0.0]), np.asarray(1.0))[None, :]
    lf = np.log(law.f(edge_points(10.0), theta))
    u1, u2 = edge_summaries(lf)[0]
    assert u1 == pytest.approx(np.log(0.3), abs=1e-6)  # a power law: slope -0.3 everywhere
    assert u2 == pytest.approx(0.0, abs=1e-6)  # and it does not shrink
    theta = law.to_internal(np.array([1.0, -0.3, 0.3]), np.asarray(1.0))[None, :]
    assert edge_summaries(np.log(law.f(edge_points(10.0), theta)))[0, 1] < -0.3  # a floor


def test_the_pooled_prior_is_a_pseudo_observation_with_its_exact_gradient():
    law = get_law("saturating")
    pool = PooledPrior(mean=(np.log(0.2), -0.5), sd=(0.1, 0.2), noise=0.02)
    model = augment(law, XN, Priors(min_slope_ratio=0.75, pool=pool), 0.5)
    f, f_jac, m = model.f, model.f_jac, model.m
    assert m == 3  # the slope prior, then the pool's two
    theta = np.array([[0.1, np.log(0.5), -0.4, 0.05]])
    pred = f(theta)
    assert_jacobian(f, f_jac, theta, rtol=1e-4, atol=1e-8)
    # log q = sigma (u - mu) / (sd sqrt(w)) for each summary
    lf = np.log(law.f(edge_points(XN.max()), theta))
    u = edge_summaries(lf)[0]
    want = 0.02 * (u - np.array(pool.mean)) / (np.array(pool.sd) * np.sqrt(0.5))
    np.testing.assert_allclose(np.log(pred[0, -2:]), want, rtol=1e-9)


def test_series_that_agree_give_a_strong_prior_and_series_that_disagree_a_weak_one():
    rng = np.random.default_rng(0)
    v = np.full((6, 2), 0.01**2)
    agree = np.column_stack([np.log(0.3) + rng.normal(0, 0.01, 6), rng.normal(-0.5, 0.01, 6)])
    spread = agree + np.column_stack([rng.normal(0, 1.0, 6), rng.normal(0, 1.0, 6)])
    strong, weak = pooled_priors(agree, v, 0.02)[0], pooled_priors(spread, v, 0.02)[0]
    assert max(strong.sd) < 0.05 < 0.3 < min(weak.sd)
    assert strong.mean[0] == pytest.approx(np.log(0.3), abs=0.02)


def test_a_series_prior_comes_from_the_others_only():
    u = np.column_stack([np.linspace(-1.5, -1.0, 5), np.linspace(-0.6, -0.2, 5)])
    v = np.full((5, 2), 0.05**2)
    before = pooled_priors(u, v, 0.02)
    u2 = u.copy()
    u2[2] = [5.0, 5.0]  # series 2 changes: its own prior does not
    after = pooled_priors(u2, v, 0.02)
    assert after[2] == before[2] and after[0] != before[0]
    assert pooled_priors(u[:2], v[:2], 0.02) == [None, None]  # one other is too few


def test_pooling_sparse_series_of_one_shape_predicts_their_future_better():
    alone, pooled = [], []
    for seed in range(4):
        frame = _sparse_family(seed)
        for out, pooling in ((alone, "none"), (pooled, "series")):
            res = _fit(frame, pooling=pooling)
            for g in res.groups:
                a = frame.loc[frame.g == g.key["g"], "a"].iloc[0]
                truth = a * (1e4**-0.3 + 0.1)  # two decades beyond the last point
                out.append(abs(np.log(float(g.predict([1e12])[0]) / truth)))
    assert np.mean(pooled) < 0.9 * np.mean(alone)


def test_fewer_than_three_series_are_fitted_alone_with_a_warning():
    frame = _sparse_family(0, groups=2)
    a = _fit(frame)
    with pytest.warns(ScalecmpWarning, match=r"pooling: every group is fitted "
                      r"alone \(it needs >= 3 groups with a law of compute; here 2 groups\)"):
        b = scalecmp.fit(frame, x="c", y="loss", by="g", n_bootstrap=100, pooling="series")
    for ga, gb in zip(a.groups, b.groups, strict=True):
        assert gb.pooled_prior is None
        np.testing.assert_array_equal(ga.predict([1e12]), gb.predict([1e12]))


def test_the_prior_travels_with_the_result_and_its_json(tmp_path):
    res = _fit(_sparse_family(1), pooling="series")
    assert all(g.pooled_prior is not None for g in res.groups)
    d = res.groups[0].to_dict()
    assert set(d["pooled_prior"]) == {"mean", "sd", "noise", "source"}
    assert d["pooled_prior"]["source"] == "series"
    json.dumps(d)
    text = res.groups[0].report()
    assert "pooled prior from the other groups" in text and "left one decade on" in text
    assert "pooled_prior" not in _fit(_sparse_family(1)).groups[0].to_dict()


def test_pooling_does_not_depend_on_the_units():
    frame = _sparse_family(2)
    ref = _fit(frame, pooling="series")
    scaled = frame.assign(c=frame.c * 1e-9, loss=frame.loss * 1e6)
    got = _fit(scaled, pooling="series")
    for gr, gg in zip(ref.groups, got.groups, strict=True):
        np.testing.assert_allclose(gg.predict([1e3]) / 1e6, gr.predict([1e12]), rtol=1e-6)
        for a, b in zip(gg.interval([1e3]), gr.interval([1e12]), strict=True):
            np.testing.assert_allclose(a / 1e6, b, rtol=1e-6)


def test_the_command_line_pools_with_one_flag_and_refuses_an_unknown_value(tmp_path):
    from cli_run import one_error, run

    data = tmp_path / "family.csv"
    _sparse_family(3).to_csv(data, index=False)
    out = tmp_path / "fit.json"
    code, _, err = run("fit", data, "--x", "c", "--y", "loss", "--by", "g", "--pooling",
                       "series", "--n-bootstrap", "50", "--json", out, "-q")
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["pooling"] == "series" and "corpus_exclude" not in doc
    groups = doc["groups"]
    assert len(groups) == 6 and all("pooled_prior" in g for g in groups)
    code, out_text, err = run("fit", data, "--x", "c", "--y", "loss", "--by", "g",
                              "--pooling", "series", "--n-bootstrap", "50")
    assert code == 0, err
    assert out_text.count("pooled prior from the other groups: log-log slope") == 6
    code, _, err = run("fit", data, "--x", "c", "--y", "loss", "--by", "g", "--pooling",
                       "every")
    assert code == 2
    one_error(err, "unknown pooling 'every'")
