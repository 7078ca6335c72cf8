"""The figure of a compute-optimal allocation (:func:`scalecmp.optimal.optimal_allocation`):
samples seen and model size of the compute-frontier runs against compute, with the fitted
``k C^a`` lines."""

from __future__ import annotations

from typing import Any

import numpy as np

from scalecmp.format import group_label, math_num
from scalecmp.optimal import OptimalResult
from scalecmp.plots.style import (
    COLORS,
    EXTRAPOLATED_COLOR,
    _pyplot,
    compute_unit,
    legends_below,
    log_axis,
    save_figure,
    x_label,
)

__all__ = ["plot_optimal"]


def plot_optimal(result: OptimalResult, path: Any) -> Any:
    """Log-log figure: samples seen (left) and model size (right) of the compute-frontier
    runs against compute, with the fitted ``k C^a`` lines (formula in the legend), their
    bootstrap bands, the Chinchilla route (dotted) and the compute beyond the frontier runs
    shaded as extrapolated. Axes follow :mod:`scalecmp.plots.style`'s conventions."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.4), layout="constrained")
    var = "C" if compute_unit(result.x) else "x"
    handles: list[Any] = []
    c_hi, c_right = [], []
    any_chin = False
    for i, g in enumerate(result.groups):
        col = COLORS[i % len(COLORS)]
        lab = group_label(g.key, names="never")
        c = g.frontier[result.x].to_numpy(float)
        cg = np.geomspace(c.min(), c.max() * 100, 100)
        c_hi.append(float(c.max()))
        c_right.append(float(cg[-1]))
        for ax, pf, vals, which in (
            (axes[0], g.d_opt, g.frontier[result.samples].to_numpy(float), "d_opt"),
            (axes[1], g.n_opt, g.frontier["_N"].to_numpy(float), "n_opt"),
        ):
            ax.scatter(c, vals, color=col, s=20, edgecolors="black", linewidths=0.35, zorder=4)
            inside = cg <= c.max()
            ax.plot(cg[inside], pf.predict(cg[inside]), color=col, lw=1.8, zorder=3)
            ax.plot(cg[~inside], pf.predict(cg[~inside]), color=col, lw=1.5, ls="--", zorder=3)
            lo, hi = pf.interval(cg)
            ax.fill_between(cg, lo, hi, color=col, alpha=0.16, linewidth=0, zorder=1)
            if g.chinchilla is not None:
                any_chin = True
                ax.plot(cg, g.chinchilla.predict(cg)[which], color=col, ls=":", lw=1.3,
                        zorder=3)
        d_txt = rf"$D_{{\mathrm{{opt}}}} = {math_num(g.d_opt.k)}\,{var}^{{{g.d_opt.a:.3f}}}$"
        n_txt = rf"$N_{{\mathrm{{opt}}}} = {math_num(g.n_opt.k)}\,{var}^{{{g.n_opt.a:.3f}}}$"
        chin_txt = " (dotted: Chinchilla route)" if g.chinchilla is not None else ""
        handles.append(Line2D([], [], color=col, lw=1.8, marker="o", ms=4, mec="black",
                              mew=0.35, label=f"{lab}: {d_txt}, {n_txt}{chin_txt}"))
    extrap_from = min(c_hi) if c_hi else None
    axes[0].set_ylabel(f"compute-optimal samples seen: {result.samples}")
    axes[1].set_ylabel(f"compute-optimal model size: {result.size}")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        if extrap_from is not None:
            lo_x, _ = ax.get_xlim()
            ax.set_xlim(lo_x, max(c_right) * 1.3)
            ax.axvspan(extrap_from, max(c_right) * 1.3, color=EXTRAPOLATED_COLOR, lw=0,
                       zorder=0)
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel(x_label(result.x))
        ax.grid(True, which="major", alpha=0.3, lw=0.5)
    level = f"{result.level:.0%}"
    styles: list[Any] = [
        Line2D([], [], ls="", marker="o", ms=5, color="0.35", mec="black", mew=0.5,
               label=f"compute-frontier runs ({result.frontier} frontier)"),
        Line2D([], [], color="0.3", lw=1.6, label="fit $k\\,C^{a}$ over the frontier runs"),
        Line2D([], [], color="0.3", lw=1.4, ls="--", label="extrapolated"),
        Patch(color="0.45", alpha=0.25, lw=0, label=f"{level} bootstrap band (group colour)"),
        Patch(facecolor=EXTRAPOLATED_COLOR, edgecolor="0.75", lw=0.5,
              label="beyond the largest frontier compute"),
    ]
    if any_chin:
        styles.append(Line2D([], [], color="0.3", lw=1.3, ls=":",
                             label="Chinchilla route (L(N, D) fit)"))
    legends_below(fig, axes[0], [
        (handles, {"fontsize": 7.5}),
        (styles, {"fontsize": 7, "ncol": 3}),
    ])
    save_figure(fig, path, dpi=150)
    plt.close(fig)
    return path
