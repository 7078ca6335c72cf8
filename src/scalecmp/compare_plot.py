"""Figures of a comparison: both laws with bands and points, and the difference curve.

Upper panel: every measurement faint, frontier points solid, each law solid over its fitted
range and dashed beyond, the band of the law curve (bootstrap percentiles, ``level``),
crossovers as vertical lines, the range measured by both groups shaded. Lower panel: the
difference ``y_a - y_b`` (metric units) with its pointwise band, the zero line, and the
ranges where the simultaneous band declares a winner tinted in the winner's colour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scalecmp.compare import Comparison, label_of

__all__ = ["plot_comparison", "comparison_figure", "plot_groups"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_groups(ax: Any, groups: list[Any], grid: np.ndarray, level: float = 0.95) -> None:
    """Draw groups' points and laws (metric units) on ``ax`` with log-scaled x."""
    q = (1.0 - level) / 2.0
    for i, g in enumerate(groups):
        col = _COLORS[i % len(_COLORS)]
        lab = label_of(g.key)
        d = g.data
        ax.scatter(d[g.x], d[g.y], s=8, color=col, alpha=0.18, linewidths=0)
        f = g.frontier
        ax.scatter(f[g.x], f[g.y], s=18, color=col, alpha=0.9, linewidths=0)
        lo_r, hi_r = g.x_range
        y = g.predict(grid)
        inside = (grid >= lo_r) & (grid <= hi_r)
        ax.plot(grid[inside], y[inside], color=col, lw=1.8,
                label=f"{lab}: {g.law.format(g.params)}")
        ax.plot(grid[grid >= hi_r], y[grid >= hi_r], color=col, lw=1.5, ls="--")
        ax.plot(grid[grid <= lo_r], y[grid <= lo_r], color=col, lw=1.0, ls=":")
        reps = g.predict_replicates(grid)
        if len(reps):
            lo, hi = np.nanquantile(reps, [q, 1.0 - q], axis=0)
            ax.fill_between(grid, lo, hi, color=col, alpha=0.15, linewidth=0)
    ax.set_xscale("log")


def comparison_figure(comp: Comparison, ga: Any, gb: Any, *, y_label: str = "metric"):
    """The two-panel matplotlib figure of one comparison."""
    plt = _mpl()
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(7.5, 7.0), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    grid = comp.grid
    meas_lo, meas_hi = comp.measured
    plot_groups(ax1, [ga, gb], grid, comp.level)
    ys = np.concatenate([ga.data[ga.y].to_numpy(float), gb.data[gb.y].to_numpy(float)])
    if ga.maximize is False and np.all(ys > 0):
        ax1.set_yscale("log")
    for ax in (ax1, ax2):
        ax.axvspan(meas_lo, meas_hi, color="0.92", zorder=0)
        for c in comp.crossovers:
            ax.axvline(c["x"], color="k", lw=0.8, ls="-.")
    for c in comp.crossovers:
        lo = c["lo"] if c["lo"] is not None else grid[0]
        hi = c["hi"] if c["hi"] is not None else grid[-1]
        ax1.axvspan(lo, hi, color="k", alpha=0.06, zorder=0)
        ax1.annotate(f"crossover {c['x']:.2g}", (c["x"], 0.03), xycoords=("data", "axes fraction"),
                     fontsize=8, ha="left")
    ax1.set_ylabel(y_label)
    ax1.legend(fontsize=7, loc="best")
    ax1.set_title(f"{comp.label_a} vs {comp.label_b}", fontsize=10)

    ax2.plot(grid, comp.diff, color="k", lw=1.6)
    ax2.fill_between(grid, comp.lo, comp.hi, color="0.5", alpha=0.3, linewidth=0,
                     label=f"{comp.level:.0%} pointwise band")
    ax2.axhline(0.0, color="k", lw=0.7)
    for s, col, who in ((1, _COLORS[0], comp.label_a), (-1, _COLORS[1], comp.label_b)):
        mask = comp.sig == s
        if mask.any():
            ax2.fill_between(grid, 0, 1, where=mask, color=col, alpha=0.12,
                             transform=ax2.get_xaxis_transform(), linewidth=0,
                             label=f"{who} better (simultaneous {comp.level:.0%})")
    ax2.set_xscale("log")
    ax2.set_xlabel(comp.x_name)
    ax2.set_ylabel(f"{comp.label_a} - {comp.label_b}")
    ax2.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_comparison(result: Any, path: str | Path, *, y_label: str | None = None) -> Path:
    """Write the figure of every comparison in ``result`` (a ``ComparisonResult``) to
    ``path`` (png/pdf/svg); several pairs become several rows of panels in one file via
    separate pages for pdf, or stacked figures combined vertically otherwise."""
    plt = _mpl()
    path = Path(path)
    fit = result.fit
    by_key = {tuple(sorted((k, str(v)) for k, v in g.key.items())): g for g in fit.groups}

    def group(key: dict) -> Any:
        return by_key[tuple(sorted((k, str(v)) for k, v in key.items()))]

    ylab = y_label or (f"{fit.y}" if hasattr(fit, "y") else "metric")
    figs = [comparison_figure(c, group(c.a), group(c.b), y_label=ylab) for c in result]
    if len(figs) == 1 or path.suffix.lower() != ".pdf":
        if len(figs) == 1:
            figs[0].savefig(path, dpi=130)
        else:
            _stack(figs, path)
    else:
        from matplotlib.backends.backend_pdf import PdfPages

        with PdfPages(path) as pdf:
            for f in figs:
                pdf.savefig(f)
    for f in figs:
        plt.close(f)
    return path


def _stack(figs: list[Any], path: Path) -> None:
    """Save several figures one above the other in one raster/SVG file."""
    import io

    import matplotlib.image as mpimg

    plt = _mpl()
    images = []
    for f in figs:
        buf = io.BytesIO()
        f.savefig(buf, format="png", dpi=110)
        buf.seek(0)
        images.append(mpimg.imread(buf))
    h = sum(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    big = plt.figure(figsize=(w / 110, h / 110), dpi=110)
    top = 0
    for im in images:
        ax = big.add_axes((0, 1 - (top + im.shape[0]) / h, im.shape[1] / w, im.shape[0] / h))
        ax.imshow(im)
        ax.axis("off")
        top += im.shape[0]
    big.savefig(path, dpi=110)
    plt.close(big)
