"""Tests of scalecmp.optimal: the frontier route recovers known allocation exponents, the
Chinchilla algebra is right, and the contract holds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scalecmp.errors import DataError, UsageError
from scalecmp.optimal import ChinchillaAllocation, fit_power, optimal_allocation


def test_fit_power_recovers_line_and_brackets_truth():
    rng = np.random.default_rng(0)
    c = np.geomspace(1e8, 1e12, 30)
    d = 10.0 * c**0.7 * np.exp(rng.normal(0, 0.05, len(c)))
    pf = fit_power(c, d, n_bootstrap=500, rng=rng)
    assert pf.a == pytest.approx(0.7, abs=0.02)
    lo, hi = pf.a_ci
    assert lo < 0.7 < hi and hi - lo < 0.05
    klo, khi = pf.k_ci
    assert klo < pf.k < khi
    plo, phi = pf.interval([1e13])
    assert plo[0] < pf.predict([1e13])[0] < phi[0]
    with pytest.raises(DataError):
        fit_power(np.array([1.0]), np.array([2.0]))


def test_chinchilla_algebra_minimises_loss_on_the_budget():
    p = {"A": 400.0, "alpha": 0.34, "B": 410.0, "beta": 0.28, "E": 1.69}
    ch = ChinchillaAllocation(params=p, replicates=np.empty((0, 5)), compute_constant=6.0,
                              level=0.95)
    c = 1e21
    pred = ch.predict([c])
    n_opt, d_opt = pred["n_opt"][0], pred["d_opt"][0]
    assert 6.0 * n_opt * d_opt == pytest.approx(c, rel=1e-9)
    # brute force over N on the budget
    n = np.geomspace(n_opt / 100, n_opt * 100, 20001)
    loss = p["E"] + p["A"] / n ** p["alpha"] + p["B"] / (c / (6 * n)) ** p["beta"]
    assert n[np.argmin(loss)] == pytest.approx(n_opt, rel=1e-3)
    d = ch.to_dict()
    assert d["a"] == pytest.approx(0.28 / 0.62) and d["b"] == pytest.approx(0.34 / 0.62)


def _grid(seed=0, ratio=1.0):
    """Runs whose best size at compute C is N_opt = 0.04 C^0.3 (so D_opt = 25 C^0.7)."""
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(2, 400, 16)
    samples = np.geomspace(1e6, 3e9, 14)
    g, s = (a.ravel() for a in np.meshgrid(sizes, samples, indexing="ij"))
    c = g * s
    n_opt = 0.04 * ratio * c**0.3
    err = (30 * (c + 1e8) ** -0.2 + 0.1) * (1 + 0.05 * np.log(g / n_opt) ** 2)
    err *= np.exp(rng.normal(0, 0.003, len(c)))
    return pd.DataFrame({"proc": "x", "gflops_per_sample": g, "samples_seen": s,
                         "gflops_total": c, "value": 1 - np.minimum(err, 0.999)})


def test_frontier_route_recovers_exponent():
    res = optimal_allocation(_grid(), x="gflops_total", y="value", samples="samples_seen",
                             maximize=True, n_bootstrap=200, chinchilla=False,
                             predict_at=[1e12])
    g = res.groups[0]
    assert g.d_opt.a == pytest.approx(0.7, abs=0.08)
    assert g.d_opt.a + g.n_opt.a == pytest.approx(1.0, abs=1e-9)  # C = N D exactly
    pr = g.predictions()[0]
    assert pr["d_lo"] <= pr["d_opt"] <= pr["d_hi"]
    json.dumps(res.to_dict())
    assert set(res.to_frame()["quantity"]) == {"d_opt", "n_opt"}


def test_chinchilla_route_and_size_column():
    frame = _grid(1).assign(params=lambda f: f.gflops_per_sample * 1e7)
    res = optimal_allocation(frame, samples="samples_seen", size="params", maximize=True,
                             n_bootstrap=50, predict_at=[1e11])
    ch = res.groups[0].chinchilla
    assert ch is not None
    assert ch.compute_constant == pytest.approx(1e-7)  # estimated: C / (N D)
    d = ch.to_dict()
    assert d["a"] + d["b"] == pytest.approx(1.0)
    assert 0 < d["a"] < 1
    row = res.groups[0].predictions()[0]
    assert row["chinchilla_d_opt"] > 0 and row["chinchilla_n_opt"] > 0


def test_bad_inputs():
    with pytest.raises(UsageError):
        optimal_allocation(_grid(), maximize=True, predict_at=[0.0])
    with pytest.raises(DataError, match="^samples: no column 'nope'"):
        optimal_allocation(_grid(), samples="nope", maximize=True)
