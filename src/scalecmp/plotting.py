"""The fit figure a paper would show.

Log-log axes of error (lower is better; ``1 - metric`` with ``maximize``) against compute:
all measurements faint, frontier points solid, the law solid over the fitted range and
dashed beyond it, the prediction interval as a band, the fitted formula in the legend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scalecmp.errors import UsageError

__all__ = ["FIGURE_SUFFIXES", "plot_fit", "save_figure"]

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_figure_path(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() not in FIGURE_SUFFIXES:
        raise UsageError(
            f"--plot {p}: unknown figure type '{p.suffix}' (use {', '.join(FIGURE_SUFFIXES)})"
        )
    return p


def save_figure(fig, path: str | Path) -> Path:
    """Save through a temporary file and an atomic rename."""
    p = check_figure_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
    fig.savefig(tmp, dpi=200, bbox_inches="tight")
    tmp.replace(p)
    return p


def plot_fit(
    result,
    path: str | Path | None = None,
    *,
    x_max: float | None = None,
    title: str | None = None,
    ax=None,
):
    """Draw every group of a :class:`~scalecmp.engine.FitResult`; save to ``path`` if given.

    ``x_max``: right end of the curves (default: 10x the largest measured compute, or the
    largest ``predict_at`` value). Returns the matplotlib figure.
    """
    plt = _pyplot()
    if result.law and any(g.law.n_inputs != 1 for g in result.groups):
        raise UsageError("plots are drawn for one-input laws (compute on the x axis)")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
    else:
        fig = ax.figure
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, g in enumerate(result.groups):
        c = colours[i % len(colours)]
        xs = g.data[g.x].to_numpy(float)
        err = g.err
        mask = g.frontier_mask
        lo_fit, hi_fit = g.x_range
        right = x_max or max([hi_fit * 10.0, *g.predictions_at])
        left = float(xs.min())
        ax.scatter(xs[~mask], err[~mask], s=10, color=c, alpha=0.18, linewidths=0)
        ax.scatter(xs[mask], err[mask], s=22, color=c, edgecolors="black", linewidths=0.4, zorder=3)
        grid_in = np.geomspace(left, hi_fit, 200)
        grid_out = np.geomspace(hi_fit, right, 100)
        name = g.label() if g.key else "fit"
        ax.plot(
            grid_in,
            g.predict_error(grid_in),
            color=c,
            lw=1.8,
            label=f"{name}: {g.law.format(g.params)}",
        )
        ax.plot(grid_out, g.predict_error(grid_out), color=c, lw=1.8, ls="--")
        if g.n_replicates:
            grid = np.geomspace(left, right, 300)
            lo, hi = g.interval(grid)
            if g.maximize:
                lo, hi = 1.0 - hi, 1.0 - lo
            ax.fill_between(grid, lo, hi, color=c, alpha=0.15, linewidth=0)
        for p in g.predictions():
            e = 1.0 - p["y"] if g.maximize else p["y"]
            ax.scatter(
                [p["x"]],
                [e],
                marker="*",
                s=90,
                color=c,
                edgecolors="black",
                linewidths=0.5,
                zorder=4,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{result.x} (compute)")
    ax.set_ylabel(f"error: 1 - {result.y}" if result.maximize else result.y)
    level = int(round(result.level * 100))
    ax.set_title(title or f"{result.law} law, {level}% prediction band")
    ax.grid(True, which="both", alpha=0.25, lw=0.5)
    ax.legend(fontsize=7, loc="best", frameon=False)
    if path is not None:
        save_figure(fig, path)
    if own and path is not None:
        plt.close(fig)
    return fig
