"""Integration: the engine on the study's real measurements (../shared/data/laion2025)."""

import json

import numpy as np
import pytest

import scalecmp
from scalecmp.cli import main
from scalecmp.engine.frontier import naive_frontier


def _series(frame, task="imagenet1k", metric="acc1", model_type="clip"):
    m = (
        (frame.downstream_dataset == task)
        & (frame.metric == metric)
        & (frame.model_type == model_type)
    )
    return frame[m]


@pytest.mark.parametrize("model_type", ["clip", "mammut"])
def test_fit_below_1e11_predicts_the_held_out_frontier(laion_best, model_type):
    series = _series(laion_best, model_type=model_type)
    train = series[series.gflops_total <= 1e11]
    err = 1 - series.value.to_numpy()
    front = series[naive_frontier(series.gflops_total.to_numpy(), err)]
    test = front[front.gflops_total > 1e11]
    assert len(test) >= 4
    g = scalecmp.fit(train, x="gflops_total", y="value", maximize=True, n_bootstrap=300).groups[0]
    pred = g.predict(test.gflops_total)
    lo, hi = g.interval(test.gflops_total)
    miss = np.abs(pred - test.value.to_numpy())
    assert miss.mean() < 0.02  # under 2 percentage points on average
    assert miss.max() < 0.04
    inside = (test.value.to_numpy() >= lo) & (test.value.to_numpy() <= hi)
    assert inside.mean() >= 0.5
    assert g.n_frontier >= 10 and g.diagnostics["converged"]


def test_all_twenty_series_fit_and_error_falls_with_compute(laion_best):
    res = scalecmp.fit(
        laion_best,
        x="gflops_total",
        y="value",
        by=["downstream_dataset", "metric", "model_type"],
        maximize=True,
        n_bootstrap=50,
    )
    assert len(res) == 20
    for g in res:
        lo, hi = g.x_range
        xs = np.geomspace(lo, hi, 20)
        assert np.all(np.diff(g.predict_error(xs)) < 1e-9), g.key
        assert np.all(np.isfinite(g.bootstrap_params))


def test_cli_on_the_real_file(laion_best_path, tmp_path, capsys):
    out = tmp_path / "fit.json"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "fit", str(laion_best_path), "--x", "gflops_total", "--y", "value",
                "--maximize", "--by", "model_type", "--where", "downstream_dataset=imagenet1k",
                "--where", "model_type!=coca", "--where", "model_type!=siglip",
                "--n-bootstrap", "200", "--predict-at", "1e12", "--json", str(out), "-q",
            ]
        )
    assert info.value.code == 0
    d = json.loads(out.read_text())
    keys = [g["key"]["model_type"] for g in d["groups"]]
    assert keys == ["clip", "mammut"]
    for g in d["groups"]:
        p = g["predictions"][0]
        # the study's largest runs reach 0.78-0.79 at about 1e12 GFLOPs
        assert 0.74 < p["y"] < 0.83 and p["lo"] < p["y"] < p["hi"]


@pytest.mark.slow
def test_preset_laion2025_reproduces_the_studys_fit(laion_best):
    """--preset laion2025 is the study's recipe: ImageNet, CLIP, fitted up to 1e12 GFLOPs, the
    study reports alpha -0.227 and E 0.111 (about 35 s: 3,200 curve_fit calls)."""
    series = _series(laion_best)
    train = series[series.gflops_total <= 1e12]
    res = scalecmp.fit(train, x="gflops_total", y="value", maximize=True, n_bootstrap=50,
                       preset="laion2025")
    g = res.groups[0]
    assert res.preset == "laion2025" and g.law.name == "saturating"
    assert g.params["alpha"] == pytest.approx(-0.227, abs=0.002)
    assert g.params["E"] == pytest.approx(0.111, abs=0.002)
    assert g.diagnostics["loss"] == "ls" and g.diagnostics["weighting"] == "none"
    with pytest.raises(scalecmp.UsageError, match="preset 'laion2025' sets `loss`"):
        scalecmp.fit(train, x="gflops_total", y="value", maximize=True, preset="laion2025",
                     loss="log")


def test_inside_the_data_no_clipping_no_zero_width_and_every_bound_warned(laion_best):
    """On all 20 visible series: the fitted error stays in (0, 1] over the measured range (no
    prediction is clipped there), no interval has zero width, and every parameter at a bound
    of a law that carries weight appears in the group's warnings."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scalecmp.fit(laion_best, x="gflops_total", y="value", maximize=True,
                           by=["downstream_dataset", "metric", "model_type"], n_bootstrap=200)
    assert len(res) == 20
    for g in res:
        lo, hi = g.x_range
        xs = np.geomspace(lo, hi, 50)
        err = g.predict_error(xs)
        assert np.all((err > 0) & (err <= 1.0)), g.key
        a, b = g.interval(xs)
        assert np.all(b - a > 0), g.key
        for m, w in zip(g.members, g.weights, strict=True):
            if w >= 0.1:
                for name in m.diagnostics["params_at_bound"]:
                    assert any(f"{name} = " in msg and m.law.name in msg for msg in g.warnings)


def test_quick_start_mammut_fit_stays_above_chance_inside_the_data(laion_best):
    """The README's quick start used to give MaMMUT an error > 1 at 1.8e7-5e7 GFLOPs
    (accuracy clipped to exactly 0 where 1.3-2.1% was measured)."""
    sub = laion_best[(laion_best.downstream_dataset == "imagenet1k")
                     & (laion_best.model_type == "mammut")]
    g = scalecmp.fit(sub, x="gflops_total", y="value", maximize=True, n_bootstrap=200).groups[0]
    xs = np.geomspace(1.8e7, 5e7, 20)
    assert np.all(g.predict_error(xs) < 1.0)
    assert np.all(g.predict(xs) > 0.0)
