"""Figures: axis names and units, readable log ticks, typeset formulas in the axis's units,
every shading explained in the legend, extrapolation marked, labels off the data."""

from __future__ import annotations

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import scalecmp  # noqa: E402
from scalecmp.compare import compare  # noqa: E402
from scalecmp.engine.laws import get_law  # noqa: E402
from scalecmp.format import law_weights, math_num, mixture_text  # noqa: E402
from scalecmp.plots import plot_fit  # noqa: E402
from scalecmp.plots.compare import (  # noqa: E402
    _data_points,
    comparison_figure,
    crossover_text,
    plot_comparison,
)
from scalecmp.plots.style import (  # noqa: E402
    EXTRAPOLATED_COLOR,
    formula_text,
    log_axis,
    metric_name,
    series_context,
    x_label,
)


def _frame(seed: int = 5) -> pd.DataFrame:
    """Two procedures whose laws cross: b starts worse and scales better."""
    rng = np.random.default_rng(seed)
    c = np.geomspace(1e7, 1e12, 36)
    rows = []
    for proc, amp, alpha in (("clip", 6.0, -0.11), ("mammut", 30.0, -0.18)):
        err = amp * c**alpha + 0.08
        for jitter in (1.0, 1.15):  # a second, worse run per compute (not on the frontier)
            v = 1 - np.clip(err * jitter * np.exp(rng.normal(0, 0.008, len(c))), 0, 0.99)
            rows.append(pd.DataFrame({"procedure": proc, "gflops_total": c, "value": v,
                                      "task": "zeroshot", "metric": "acc1",
                                      "dataset": "synthetic"}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scalecmp.fit(_frame(), x="gflops_total", y="value", by="procedure",
                            maximize=True, law="auto", n_bootstrap=60, random_state=0)


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_numbers_and_names():
    assert math_num(1.14e12) == r"1.14\times10^{12}"
    assert math_num(0.2271) == "0.227"
    assert math_num(107.49) == "107"
    assert math_num(1e9) == "10^{9}"
    assert math_num(9.996e8) == "10^{9}"  # rounding carries into the exponent
    assert math_num(float("inf")) == r"\infty"
    assert x_label("gflops_total") == "compute (GFLOPs)"
    assert x_label("samples_seen") == "samples_seen"
    f = _frame()
    assert metric_name("value", [f]) == "acc1"
    assert metric_name("miou", [f]) == "miou"
    assert series_context([f], exclude=("procedure",)) == {
        "task": "zeroshot", "metric": "acc1", "dataset": "synthetic"}


def test_formula_in_the_units_of_the_axis():
    law = get_law("saturating")
    p = {"A": 107.49, "B": 2.256e8, "alpha": -0.248, "E": 0.0959}
    err = formula_text(law, p, x="gflops_total", metric="acc1", maximize=True,
                       error_units=True)
    acc = formula_text(law, p, x="gflops_total", metric="acc1", maximize=True,
                       error_units=False)
    assert err == r"err = $107\,(C + 2.26\times10^{8})^{-0.248} + 0.0959$"
    # the metric's own direction: ceiling 1 - E, minus the reducible term
    assert acc == r"acc1 = $0.904 - 107\,(C + 2.26\times10^{8})^{-0.248}$"
    loss = formula_text(get_law("power"), {"A": 3.0, "alpha": -0.1}, x="steps",
                        metric="loss", maximize=False, error_units=True)
    assert loss == r"loss = $3\,x^{-0.100}$"
    bp = formula_text(get_law("broken_power"),
                      {"A": 1.89, "c0": 0.0437, "c1": 0.138, "d": 1.21e8, "f": 0.05,
                       "E": 0.0537}, x="gflops_total", metric="acc1", maximize=True,
                      error_units=True)
    assert bp == (r"err = $1.89\,C^{-0.044}\,(1 + (C/1.21\times10^{8})^{20})^{-0.0069}"
                  r" + 0.0537$")
    # every formula is valid mathtext
    fig = plt.figure()
    for s in (err, acc, loss, bp):
        fig.text(0, 0, s)
    fig.canvas.draw()
    plt.close(fig)


def test_auto_mixture_label(fitted):
    g = fitted["clip"]
    assert g.mode == "auto"
    w = law_weights(g)
    assert w == sorted(w, key=lambda t: -t[1]) and abs(sum(v for _, v in w) - 1) < 0.02
    txt = mixture_text(g)
    assert txt.startswith("auto (w: ") and f"{w[0][0]} {w[0][1]:.2f}" in txt


def test_log_ticks_are_readable():
    fig, ax = plt.subplots()
    ax.plot([1e7, 1e13], [0.12, 0.9])
    log_axis(ax, "x")
    ax.set_yscale("log")
    log_axis(ax, "y", plain=True)
    fig.canvas.draw()
    xl = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    yl = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    plt.close(fig)
    assert len(xl) >= 6 and all("10^{" in t for t in xl)  # one labelled tick per decade
    assert {"0.2", "0.3", "0.5"} <= set(yl)  # a one-decade error axis is labelled inside
    assert len(ax.xaxis.get_minor_locator().tick_values(1e7, 1e13)) > 30  # minor ticks


def test_fit_figure(fitted, tmp_path):
    fig = plot_fit(fitted)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "compute (GFLOPs)"
    assert ax.get_ylabel().startswith("error (1 \u2212 acc1)")
    assert "task: zeroshot" in ax.get_title() and "metric: acc1" in ax.get_title()
    legend = _legend_texts(fig)
    joined = "\n".join(legend)
    # error axis -> formulas in error units, typeset, with the auto weights
    assert "clip: auto (w: " in joined and "err = $" in joined and "acc1 = $" not in joined
    assert any("prediction band" in t for t in legend)
    assert any(t.startswith("extrapolated: beyond the measured compute") for t in legend)
    # the extrapolated region is shaded from the smallest of the groups' largest computes
    hi = min(g.x_range[1] for g in fitted.groups)
    spans = [p for p in ax.patches if np.allclose(p.get_facecolor(), to_rgba(EXTRAPOLATED_COLOR))]
    assert spans and np.isclose(spans[0].get_x(), hi)
    # the law is dashed beyond the data
    assert any(ln.get_linestyle() == "--" and ln.get_xdata()[0] >= hi * 0.999
               for ln in ax.lines)
    # the legends lie below the axes, off the data
    r = fig.canvas.get_renderer()
    for leg in fig.legends:
        assert leg.get_window_extent(r).y1 <= ax.get_tightbbox(r).y0 + 1
    plt.close(fig)
    out = plot_fit(fitted, tmp_path / "fit.png")
    assert out is not None and (tmp_path / "fit.png").stat().st_size > 20_000


def test_comparison_figure_labels_avoid_data(fitted, tmp_path):
    res = compare(fitted, at=[1e10, 1e12])
    c = res[0]
    assert c.crossovers, "the simulated laws should cross"
    fig = comparison_figure(c, fitted["clip"], fitted["mammut"])
    ax1, ax2 = fig.axes[:2]
    assert ax1.get_ylabel() == "acc1, higher is better"
    assert ax2.get_xlabel() == "compute (GFLOPs)"
    assert ax2.get_ylabel() == "\u0394 acc1 = clip \u2212 mammut"
    legend = "\n".join(_legend_texts(fig))
    # metric axis -> formulas in the metric's direction
    assert "acc1 = $" in legend and "err = $" not in legend
    for needle in ("bootstrap band of each law", "extrapolated: outside the compute",
                   "pointwise band of the difference", "crossover (bar: 95% interval)"):
        assert needle in legend
    r = fig.canvas.get_renderer()
    labels = [t for t in ax1.texts if t.get_text().startswith("crossover at")]
    assert len(labels) == len(c.crossovers)
    pts = _data_points(ax1)
    boxes = []
    for t in labels:
        box = Text.get_window_extent(t, r)
        inside = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1)
                  & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)).sum()
        assert inside == 0, f"crossover label covers {inside} data points"
        assert ax1.get_window_extent(r).contains(box.x0, box.y0)
        assert all(not box.overlaps(b) for b in boxes)
        boxes.append(box)
    plt.close(fig)
    p = plot_comparison(res, tmp_path / "cmp.png")
    assert p.stat().st_size > 20_000


def test_crossover_text_open_interval():
    t = crossover_text({"x": 8.3e12, "lo": None, "hi": 2e13, "share": 0.49}, 0.95, "GFLOPs")
    assert t.startswith(r"crossover at $8.3\times10^{12}$ GFLOPs")
    assert "below the range to $2\\times10^{13}$" in t and "49% of replicates" in t
    assert "inf" not in t


def test_stacked_and_pdf_comparisons(tmp_path):
    f = _frame()
    third = f[f.procedure == "clip"].assign(procedure="siglip",
                                             value=lambda d: d.value * 0.97)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare(pd.concat([f, third]), by="procedure", maximize=True, n_bootstrap=40,
                      law="saturating")
    assert len(res) == 3
    png = plot_comparison(res, tmp_path / "all.png")
    img = plt.imread(png)
    assert img.shape[0] > 2.5 * img.shape[1]  # three figures one above the other
    pdf = plot_comparison(res, tmp_path / "all.pdf")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes())) == 3  # one page each


def test_optimal_figure(tmp_path):
    from scalecmp.optimal import optimal_allocation
    from scalecmp.plots import plot_optimal

    rng = np.random.default_rng(0)
    sizes, samples = np.geomspace(2, 400, 12), np.geomspace(1e6, 3e9, 12)
    g, s = (a.ravel() for a in np.meshgrid(sizes, samples, indexing="ij"))
    frames = []
    for proc, ratio in (("clip", 1.0), ("mammut", 2.0)):
        n_opt = 0.04 * ratio * (g * s) ** 0.3
        err = (30 * (g * s + 1e8) ** -0.2 + 0.1) * (1 + 0.05 * np.log(g / n_opt) ** 2)
        err *= np.exp(rng.normal(0, 0.003, len(g)))
        frames.append(pd.DataFrame({"procedure": proc, "gflops_per_sample": g,
                                    "samples_seen": s, "gflops_total": g * s,
                                    "value": 1 - np.minimum(err, 0.999)}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = optimal_allocation(pd.concat(frames), by="procedure", maximize=True,
                                 n_bootstrap=40, chinchilla=False)
    p = plot_optimal(res, tmp_path / "opt.png")
    assert p is not None and (tmp_path / "opt.png").stat().st_size > 20_000


def test_crossover_interval_that_excludes_its_point_is_drawn(fitted):
    """A percentile interval of a crossover may lie entirely on one side of the point
    crossover (the fuzz suite found `compare --plot` crashing on negative error bars)."""
    import dataclasses

    c = compare(fitted, at=[1e11])[0]
    assert c.crossovers
    moved = dict(c.crossovers[0])
    moved["lo"], moved["hi"] = moved["x"] * 1.5, moved["x"] * 3.0  # excludes the point
    c2 = dataclasses.replace(c, crossovers=[moved, *c.crossovers[1:]])
    fig = comparison_figure(c2, fitted["clip"], fitted["mammut"])
    assert fig is not None
