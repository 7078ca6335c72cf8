"""Figures of a comparison: both laws with bands and points, and the difference curve.

Upper panel, in the metric's units (``acc1``; log y for a positive lower-is-better metric):
every measurement faint, the compute-frontier runs solid, each law solid over its measured
range, dashed beyond it and dotted below its smallest run, its bootstrap band (``level``)
shaded in its colour; outside the compute both groups measured the background is grey
(extrapolated); each crossover is a diamond on the curves with a label placed where it
covers no data, pointing at it. Lower panel: the difference ``y_a - y_b`` (metric units) with
its pointwise band, the zero line, each crossover with its interval as a bar, and the
compute ranges where the *simultaneous* band declares a winner tinted in the winner's
colour. Legends sit below the figure: per group the law (with ``auto`` weights) and its
formula in the metric's direction, then one entry per mark and shading.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from scalecmp.compare import Comparison
from scalecmp.format import group_label, math_num
from scalecmp.plots.style import (
    COLORS,
    EXTRAPOLATED_COLOR,
    MINUS,
    _pyplot,
    check_figure_path,
    compute_unit,
    context_text,
    legend_label,
    legends_below,
    log_axis,
    metric_name,
    series_context,
    style_handles,
    x_label,
)

__all__ = ["plot_comparison", "comparison_figure", "plot_groups", "crossover_text"]

def plot_groups(ax: Any, groups: list[Any], grid: np.ndarray, level: float = 0.95, *,
                x_name: str | None = None, metric: str | None = None) -> list[Any]:
    """Draw groups' points, laws and bands in metric units on ``ax`` (log x); return the
    legend handles of the groups (law with weights and formula in the metric's direction)."""
    from matplotlib.lines import Line2D

    handles = []
    if not groups:
        return handles
    x_name = x_name or groups[0].x
    metric = metric or metric_name(groups[0].y, [g.data for g in groups])
    for i, g in enumerate(groups):
        col = COLORS[i % len(COLORS)]
        d = g.data
        ax.scatter(d[g.x], d[g.y], s=9, color=col, alpha=0.22, linewidths=0, zorder=2)
        f = g.frontier
        ax.scatter(f[g.x], f[g.y], s=20, color=col, edgecolors="black", linewidths=0.35,
                   zorder=4)
        lo_r, hi_r = g.x_range
        y = g.predict(grid)
        inside = (grid >= lo_r) & (grid <= hi_r)
        ax.plot(grid[inside], y[inside], color=col, lw=1.8, zorder=3)
        ax.plot(grid[grid >= hi_r], y[grid >= hi_r], color=col, lw=1.5, ls="--", zorder=3)
        ax.plot(grid[grid <= lo_r], y[grid <= lo_r], color=col, lw=1.0, ls=":", zorder=3)
        if g.n_replicates:
            lo, hi = g.interval(grid, level, kind="curve")
            ax.fill_between(grid, lo, hi, color=col, alpha=0.16, linewidth=0, zorder=1)
        handles.append(Line2D([], [], color=col, lw=1.8, marker="o", ms=4, mec="black",
                              mew=0.35, label=legend_label(g, group_label(g.key, names="several"),
                                                           x=x_name, metric=metric,
                                                           error_units=False)))
    ax.set_xscale("log")
    return handles


def _bound(v: float | None, open_text: str) -> str:
    return open_text if v is None or not math.isfinite(v) else f"${math_num(v, 2)}$"


def crossover_text(c: dict, level: float, unit: str | None) -> str:
    """Three lines: where, its interval, the share of replicates that cross there."""
    where = f"${math_num(c['x'], 2)}$" + (f" {unit}" if unit else "")
    lo = _bound(c.get("lo"), "below the range")
    hi = _bound(c.get("hi"), "beyond the range")
    return (f"crossover at {where}\n{level:.0%} interval: {lo} to {hi}\n"
            f"{c.get('share', float('nan')):.0%} of replicates cross here")


def _data_points(ax: Any) -> np.ndarray:
    """Display coordinates of every scatter point and line vertex on ``ax``."""
    pts = []
    for coll in ax.collections:
        off = np.asarray(coll.get_offsets(), dtype=float)
        if off.ndim == 2 and len(off) and coll.get_offset_transform() is ax.transData:
            pts.append(off)
    for line in ax.lines:
        xy = np.asarray(line.get_xydata(), dtype=float)
        if len(xy) > 1 and line.get_transform() is ax.transData:
            # densify in display space so a segment counts along its length
            pts.append(xy)
    if not pts:
        return np.empty((0, 2))
    xy = np.concatenate(pts)
    xy = xy[np.all(np.isfinite(xy), axis=1) & (xy[:, 0] > 0)]
    if ax.get_yscale() == "log":
        xy = xy[xy[:, 1] > 0]
    return ax.transData.transform(xy)


def place_labels(ax: Any, items: list[tuple[str, tuple[float, float]]], **text_kw: Any) -> list:
    """Annotate each ``(text, (x, y))`` with a boxed label that covers as few data points,
    curves and earlier labels as possible (tried: near the bottom, top and middle of the
    axes, left or right of ``x``), with an arrow to ``(x, y)``. Call after the layout is
    final (:func:`scalecmp.plots.style.legends_below` freezes it)."""
    from matplotlib.text import Text

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    pts = _data_points(ax)
    axbox = ax.get_window_extent(renderer)
    taken: list[Any] = []
    out = []
    kw = {"fontsize": 7, "zorder": 8, "multialignment": "left",
          "bbox": {"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.55", "lw": 0.6,
                   "alpha": 0.92},
          "arrowprops": {"arrowstyle": "-|>", "color": "0.25", "lw": 0.7,
                         "shrinkA": 2, "shrinkB": 4, "mutation_scale": 7}}
    kw.update(text_kw)
    for text, (x, y) in items:
        xf = ax.transAxes.inverted().transform(ax.transData.transform((x, y)))[0]
        best, best_score = None, None
        for yf in (0.05, 0.95, 0.27, 0.73, 0.5):
            for side in (1, -1) if xf < 0.6 else (-1, 1):
                tx = xf + side * 0.025
                ann = ax.annotate(text, xy=(x, y), xycoords="data", xytext=(tx, yf),
                                  textcoords="axes fraction", ha="left" if side > 0 else "right",
                                  va="bottom" if yf < 0.4 else ("top" if yf > 0.6 else "center"),
                                  **kw)
                ann.update_positions(renderer)
                box = Text.get_window_extent(ann, renderer).expanded(1.08, 1.15)
                inside = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1)
                          & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)).sum()
                anchor = ax.transData.transform((x, y))
                dist = math.hypot(box.x0 / 2 + box.x1 / 2 - anchor[0],
                                  box.y0 / 2 + box.y1 / 2 - anchor[1])
                score = float(inside) + 2.0 * dist / max(axbox.height, 1.0)
                score += 1000.0 * sum(box.overlaps(t) for t in taken)
                if box.x0 < axbox.x0 or box.x1 > axbox.x1 or box.y0 < axbox.y0 \
                        or box.y1 > axbox.y1:
                    score += 500.0
                if best_score is None or score < best_score:
                    if best is not None:
                        best.remove()
                    best, best_score = ann, score
                else:
                    ann.remove()
        if best is not None:
            best.update_positions(renderer)
            taken.append(Text.get_window_extent(best, renderer).expanded(1.05, 1.1))
            out.append(best)
    return out


def comparison_figure(comp: Comparison, ga: Any, gb: Any, *, y_label: str | None = None,
                      metric: str | None = None, context: dict[str, Any] | None = None,
                      title: str | None = None):
    """The two-panel matplotlib figure of one comparison.

    ``metric``: the metric's name on the axes (default: the ``metric`` column's value when
    the y column is a generic ``value``, else the column); ``y_label`` overrides the upper
    axis label; ``context``: what the series is (task, dataset, metric) for the title
    (default: the descriptive columns constant over both groups' rows).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt = _pyplot()
    frames = [ga.data, gb.data]
    metric = metric or metric_name(ga.y, frames)
    if context is None:
        context = series_context(frames, exclude=(*ga.key.keys(), ga.x, ga.y))
    unit = compute_unit(comp.x_name)
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(7.4, 7.0), sharex=True, height_ratios=[3, 2], layout="constrained"
    )
    grid = comp.grid
    la, lb = comp.label_a, comp.label_b
    meas_lo, meas_hi = comp.measured
    group_handles = plot_groups(ax1, [ga, gb], grid, comp.level, x_name=comp.x_name,
                                metric=metric)
    ys = np.concatenate([ga.data[ga.y].to_numpy(float), gb.data[gb.y].to_numpy(float)])
    xl = (grid[0] / 1.5, grid[-1] * 1.5)
    for ax in (ax1, ax2):
        ax.set_xlim(*xl)
        if meas_lo > xl[0]:
            ax.axvspan(xl[0], meas_lo, color=EXTRAPOLATED_COLOR, lw=0, zorder=0)
        ax.axvspan(meas_hi, xl[1], color=EXTRAPOLATED_COLOR, lw=0, zorder=0)
        for c in comp.crossovers:
            ax.axvline(c["x"], color="0.3", lw=0.8, ls="-.", zorder=2)
    if ga.maximize is False and np.all(ys > 0):
        log_axis(ax1, "y", plain=True)
    label_items = []
    strip = ax2.get_xaxis_transform()  # x in data, y in axes fraction
    for k, c in enumerate(comp.crossovers):
        yc = float(np.mean([ga.predict([c["x"]])[0], gb.predict([c["x"]])[0]]))
        ax1.plot([c["x"]], [yc], marker="D", ms=5.5, mfc="white", mec="black", mew=1.0,
                 ls="", zorder=6)
        lo = c["lo"] if c.get("lo") is not None else grid[0]
        hi = c["hi"] if c.get("hi") is not None else grid[-1]
        ax2.plot([c["x"]], [0.0], marker="D", ms=5, mfc="white", mec="black", mew=1.0,
                 ls="", zorder=6)
        # the interval as a bar in a strip at the top of the panel, off the zero line
        yb = 0.93 - 0.08 * (k % 3)
        # a percentile interval may exclude the point crossover: draw what lies on each side
        xerr = [[max(c["x"] - lo, 0.0)], [max(hi - c["x"], 0.0)]]
        ax2.errorbar([c["x"]], [yb], xerr=xerr, fmt="D", ms=4.5,
                     mfc="white", mec="black", mew=0.9, ecolor="black", elinewidth=1.3,
                     capsize=0 if c.get("lo") is None and c.get("hi") is None else 3,
                     transform=strip, zorder=6, clip_on=False)
        label_items.append((crossover_text(c, comp.level, unit), (c["x"], yc)))
    ax1.set_ylabel(y_label or f"{metric}, {'higher' if ga.maximize else 'lower'} is better")
    ax1.grid(True, which="major", alpha=0.3, lw=0.5)
    ctx = context_text(context)
    by = ", ".join(ga.key.keys())
    ax1.set_title(title or ((f"{ctx}\n" if ctx else "") + f"{la} vs {lb}"
                            + (f" ({by})" if by else "")), fontsize=9.5)

    # --- lower panel: the difference ---------------------------------------------------
    ax2.fill_between(grid, comp.lo, comp.hi, color="0.45", alpha=0.3, linewidth=0, zorder=2)
    ax2.plot(grid, comp.diff, color="black", lw=1.6, zorder=3)
    ax2.axhline(0.0, color="black", lw=0.7, zorder=2)
    win_handles = []
    for s, col in ((1, COLORS[0]), (-1, COLORS[1])):
        mask = comp.sig == s
        if mask.any():
            ax2.fill_between(grid, 0, 1, where=mask, color=col, alpha=0.13,
                             transform=ax2.get_xaxis_transform(), linewidth=0, zorder=1)
    # which side of zero is better (maximize: a above 0 is better)
    up, down = (la, lb) if ga.maximize else (lb, la)
    ax2.annotate(f"\u25b2 {up} better", (1.01, 0.98), xycoords="axes fraction", fontsize=7,
                 va="top", ha="left", color="0.25")
    ax2.annotate(f"\u25bc {down} better", (1.01, 0.02), xycoords="axes fraction", fontsize=7,
                 va="bottom", ha="left", color="0.25")
    for s, col, who in ((1, COLORS[0], la), (-1, COLORS[1], lb)):
        if (comp.sig == s).any():
            win_handles.append(Patch(color=col, alpha=0.2, lw=0,
                                     label=f"{who} better: simultaneous {comp.level:.0%} band "
                                     "excludes 0"))
    log_axis(ax2, "x")
    ax2.set_xlabel(x_label(comp.x_name))
    ax2.set_ylabel(f"\u0394 {metric} = {la} {MINUS} {lb}")
    ax2.grid(True, which="major", alpha=0.3, lw=0.5)

    styles = style_handles(
        band=f"{comp.level:.0%} bootstrap band of each law (group colour)",
        extrapolated="extrapolated: outside the compute both groups measured",
        below=bool(min(ga.x_range[0], gb.x_range[0]) < meas_lo),
    )
    styles.append(Line2D([], [], color="black", lw=1.6, label=f"difference {la} {MINUS} {lb}"))
    styles.append(Patch(color="0.45", alpha=0.3, lw=0,
                        label=f"{comp.level:.0%} pointwise band of the difference"))
    styles += win_handles
    if comp.crossovers:
        styles.append(Line2D([], [], ls="-.", marker="D", ms=5, mfc="white", mec="black",
                             color="0.3", lw=0.8,
                             label=f"crossover (bar: {comp.level:.0%} interval)"))
    legends_below(fig, ax2, [
        (group_handles, {"title": by or None, "fontsize": 7.5}),
        (styles, {"fontsize": 7, "ncol": 2}),
    ])
    place_labels(ax1, label_items)
    return fig


def plot_comparison(result: Any, path: str | Path, *, y_label: str | None = None,
                    metric: str | None = None, context: dict[str, Any] | None = None,
                    dpi: int = 150) -> Path:
    """Write the figure of every comparison in ``result`` (a ``ComparisonResult``) to
    ``path`` (png/pdf/svg); several pairs become one page each in a pdf, or figures stacked
    vertically in one png/svg."""
    plt = _pyplot()
    path = check_figure_path(path)
    fit = result.fit
    by_key = {tuple(sorted((k, str(v)) for k, v in g.key.items())): g for g in fit.groups}

    def group(key: dict) -> Any:
        return by_key[tuple(sorted((k, str(v)) for k, v in key.items()))]

    figs = [comparison_figure(c, group(c.a), group(c.b), y_label=y_label, metric=metric,
                              context=context) for c in result]
    if not figs:
        raise ValueError("nothing to plot: the result holds no comparison")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        if len(figs) == 1:
            figs[0].savefig(tmp, dpi=dpi, bbox_inches="tight")
        elif path.suffix.lower() == ".pdf":
            from matplotlib.backends.backend_pdf import PdfPages

            with PdfPages(tmp) as pdf:
                for f in figs:
                    pdf.savefig(f, bbox_inches="tight")
        else:
            _stack(figs, tmp, dpi=dpi)
        tmp.replace(path)
    finally:
        for f in figs:
            plt.close(f)
        if tmp.exists():
            tmp.unlink()
    return path


def _stack(figs: list[Any], path: Path, dpi: int = 110) -> None:
    """Save several figures one above the other in one raster/SVG file."""
    import io

    import matplotlib.image as mpimg

    plt = _pyplot()
    images = []
    for f in figs:
        buf = io.BytesIO()
        f.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        buf.seek(0)
        images.append(mpimg.imread(buf))
    h = sum(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    big = plt.figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    top = 0
    for im in images:
        ax = big.add_axes((0, 1 - (top + im.shape[0]) / h, im.shape[1] / w, im.shape[0] / h))
        ax.imshow(im)
        ax.axis("off")
        top += im.shape[0]
    fmt = path.suffix.lower().lstrip(".")
    big.savefig(path, dpi=dpi, format=fmt)
    plt.close(big)
