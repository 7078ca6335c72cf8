"""The fit figure a paper would show.

:func:`plot_fit`: log-log axes of the error (``1 - metric`` with ``maximize``; the metric
itself when lower is better) against compute. Every measured run faint, the compute-frontier
runs (the points the law is fitted to) solid, each group's law solid over its measured range
and dashed beyond it, its 95% prediction band shaded in the group's colour, the region beyond
the measured compute shaded grey, predictions as stars with their intervals. The legend sits
below the axes, never on the data: per group the law (``auto`` mixtures with their weights)
and its formula typeset with mathtext in the units of the axis, then one entry per marker,
line style and shading. Conventions: :mod:`scalecmp.plots.style`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scalecmp.errors import UsageError
from scalecmp.format import group_label, math_num
from scalecmp.plots.style import (
    COLORS,
    EXTRAPOLATED_COLOR,
    _pyplot,
    compute_unit,
    context_text,
    legend_label,
    legends_below,
    log_axis,
    metric_name,
    save_figure,
    series_context,
    style_handles,
    x_label,
    y_label,
)

__all__ = ["plot_fit"]


def plot_fit(
    result,
    path: str | Path | None = None,
    *,
    x_max: float | None = None,
    title: str | None = None,
    ax=None,
    metric: str | None = None,
    context: dict[str, Any] | None = None,
):
    """Draw every group of a :class:`~scalecmp.engine.FitResult`; save to ``path`` if given.

    ``x_max``: right end of the curves (default: 10x the largest measured compute, or the
    largest ``predict_at`` value). ``metric``: the metric's name on the axis (default: the
    ``metric`` column's value when ``y`` is a generic ``value`` column, else ``y``).
    ``context``: what the series is (``{"downstream_dataset": "imagenet1k", ...}``) for the
    title (default: the descriptive columns constant over the rows). Returns the figure.
    """
    plt = _pyplot()
    groups = list(result.groups)
    if not groups:
        raise UsageError("nothing to plot: no group was fitted")
    if any(g.law.n_inputs != 1 for g in groups):
        raise UsageError("plots are drawn for one-input laws (compute on the x axis)")
    frames = [g.data for g in groups]
    metric = metric or metric_name(result.y, frames)
    by = tuple(getattr(result, "by", ()) or ())
    if context is None:
        context = series_context(frames, exclude=(*by, result.x, result.y))
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7.2, 5.0), layout="constrained")
    else:
        fig = ax.figure
    level = int(round(result.level * 100))
    lefts, rights, highs = [], [], []
    any_pred = False
    group_handles = []
    from matplotlib.lines import Line2D

    for i, g in enumerate(groups):
        c = COLORS[i % len(COLORS)]
        xs = g.data[g.x].to_numpy(float)
        err = np.asarray(g.err, dtype=float)
        mask = np.asarray(g.frontier_mask, dtype=bool)
        lo_fit, hi_fit = g.x_range
        preds = g.predictions()
        right = x_max or max([hi_fit * 10.0, *[p["x"] for p in preds]])
        left = float(xs.min())
        lefts.append(left)
        rights.append(right)
        highs.append(hi_fit)
        ax.scatter(xs[~mask], err[~mask], s=10, color=c, alpha=0.22, linewidths=0, zorder=2)
        ax.scatter(xs[mask], err[mask], s=22, color=c, edgecolors="black", linewidths=0.4,
                   zorder=4)
        grid_in = np.geomspace(left, hi_fit, 200)
        ax.plot(grid_in, g.predict_error(grid_in), color=c, lw=1.8, zorder=3)
        if right > hi_fit:
            grid_out = np.geomspace(hi_fit, right, 100)
            ax.plot(grid_out, g.predict_error(grid_out), color=c, lw=1.6, ls="--", zorder=3)
        if g.n_replicates:
            grid = np.geomspace(left, right, 300)
            lo, hi = g.interval(grid)
            if g.maximize:
                lo, hi = 1.0 - hi, 1.0 - lo
            ax.fill_between(grid, lo, hi, color=c, alpha=0.16, linewidth=0, zorder=1)
        for p in preds:
            any_pred = True
            e, elo, ehi = p["y"], p["lo"], p["hi"]
            if g.maximize:
                e, elo, ehi = 1.0 - e, 1.0 - p["hi"], 1.0 - p["lo"]
            yerr = None
            if np.isfinite(elo) and np.isfinite(ehi):
                yerr = [[max(e - elo, 0.0)], [max(ehi - e, 0.0)]]
            # groups' predictions at one compute are dodged by 0.03 decades to stay visible
            dodge = 10.0 ** (0.03 * (i - (len(groups) - 1) / 2.0))
            ax.errorbar([p["x"] * dodge], [e], yerr=yerr, fmt="*", ms=10, color=c, mec="black",
                        mew=0.5, ecolor=c, elinewidth=1.2, capsize=3, zorder=5)
        name = group_label(g.key, names="several")
        group_handles.append(Line2D([], [], color=c, lw=1.8, marker="o", ms=4, mec="black",
                                    mew=0.4, label=legend_label(g, name, x=result.x,
                                                                metric=metric,
                                                                error_units=True)))
    left_all, right_all = min(lefts), max(rights)
    extrap_from = min(highs)
    ax.set_xlim(left_all / 1.6, right_all * 1.6)
    ax.axvspan(extrap_from, right_all * 1.6, color=EXTRAPOLATED_COLOR, lw=0, zorder=0)
    log_axis(ax, "x")
    ax.set_yscale("log")
    log_axis(ax, "y", plain=True)
    ax.set_xlabel(x_label(result.x))
    ax.set_ylabel(y_label(metric, error=True, maximize=result.maximize))
    ax.grid(True, which="major", alpha=0.3, lw=0.5)
    ax.grid(True, which="minor", alpha=0.12, lw=0.4)
    unit = compute_unit(result.x)
    extrap = (f"extrapolated: beyond the measured {'compute' if unit else result.x} "
              f"(> ${math_num(extrap_from)}${' ' + unit if unit else ''})")
    any_band = any(g.n_replicates for g in groups)
    styles = style_handles(band=f"{level}% prediction band (group colour)" if any_band else None,
                           extrapolated=extrap, predictions=any_pred)
    if title is None:
        ctx = context_text(context)
        title = (f"{ctx}\n" if ctx else "") + (
            f"{metric} scaling by {', '.join(by)}" if by else f"{metric} scaling")
    if title:
        ax.set_title(title, fontsize=9.5)
    if own:
        legends_below(fig, ax, [
            (group_handles, {"title": ", ".join(by) if by else None, "fontsize": 7.5}),
            (styles, {"fontsize": 7, "ncol": 2}),
        ])
    else:
        ax.legend(handles=group_handles + styles, fontsize=6.5, loc="best", frameon=True,
                  framealpha=0.85)
    if path is not None:
        save_figure(fig, path)
    if own and path is not None:
        plt.close(fig)
    return fig
