"""The figure of ``scalecmp next`` (:func:`scalecmp.acquire.next_runs`): the candidate runs
on the model size x samples seen plane of each group, coloured by their expected gain per
GFLOP (faded: unlikely to stay on the frontier once every candidate is measured), beside the
runs already measured, with the greedy batch numbered in the order picked and the lines of
equal compute (the target compute ``at`` dashed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scalecmp.acquire import NextResult
from scalecmp.format import group_label, math_num
from scalecmp.plots.style import _pyplot, legends_below, log_axis, save_figure

__all__ = ["plot_next"]


def plot_next(result: NextResult, path: Any) -> Any:
    """One panel per group: x = compute per sample (``x / samples``, the model size),
    y = samples seen, both log; measured runs grey, the compute-frontier runs ringed;
    candidates coloured by expected gain per GFLOP (one shared scale; no gain: hollow;
    faded: a run that does not last, ``p_final < 1/2``);
    the batch ringed in red with its step numbers; diagonals of equal compute, the target
    compute dashed."""
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D

    plt = _pyplot()
    groups = list(result.fit.groups)
    n = len(groups)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n + 0.8, 4.4), layout="constrained",
                             squeeze=False, sharey=True)
    axes = axes[0]
    x, samples = result.fit.x, result.samples
    gains = np.array([c["gain_per_gflop"] for c in result.candidates], dtype=float)
    pos = gains[np.isfinite(gains) & (gains > 0)]
    norm = LogNorm(vmin=float(pos.min()), vmax=float(pos.max())) if len(pos) >= 1 and \
        pos.max() > pos.min() else None
    picks = {(tuple(p["group"].items()), p["model"], p["samples"]): p["step"]
             for p in result.batch}
    sc = None
    for ax, g in zip(axes, groups, strict=True):
        d = g.data
        f_run = d[x].to_numpy(float) / d[samples].to_numpy(float)
        s_run = d[samples].to_numpy(float)
        ax.scatter(f_run, s_run, s=10, color="0.6", zorder=2, linewidths=0)
        front = g.frontier_mask
        ax.scatter(f_run[front], s_run[front], s=22, facecolors="none", edgecolors="0.25",
                   linewidths=0.6, zorder=3)
        mine = [c for c in result.candidates if c["group"] == g.key]
        fc = np.array([c["gflops_per_sample"] for c in mine], dtype=float)
        sc_ = np.array([c["samples"] for c in mine], dtype=float)
        gc = np.array([c["gain_per_gflop"] for c in mine], dtype=float)
        lasts = np.array([bool(c["lasts"]) for c in mine], dtype=bool)
        good = np.isfinite(gc) & (gc > 0)
        for keep, alpha in ((good & lasts, 1.0), (good & ~lasts, 0.3)):
            if keep.any():
                sc_keep = ax.scatter(fc[keep], sc_[keep], c=gc[keep], cmap="viridis",
                                     norm=norm, s=46, marker="s", edgecolors="black",
                                     linewidths=0.4, alpha=alpha, zorder=4)
                if alpha == 1.0 or sc is None:
                    sc = sc_keep
        if (~good).any():
            ax.scatter(fc[~good], sc_[~good], s=40, marker="s", facecolors="none",
                       edgecolors="0.45", linewidths=0.6, zorder=4)
        for c in mine:
            step = picks.get((tuple(c["group"].items()), c["model"], c["samples"]))
            if step is not None:
                ax.scatter([c["gflops_per_sample"]], [c["samples"]], s=150, marker="o",
                           facecolors="none", edgecolors="#d62728", linewidths=1.4,
                           zorder=5)
                ax.annotate(str(step), (c["gflops_per_sample"], c["samples"]),
                            xytext=(6, 6) if step % 2 else (-11, -13),
                            textcoords="offset points", fontsize=7.5,
                            color="#d62728", zorder=6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        all_f = np.r_[f_run, fc]
        all_s = np.r_[s_run, sc_]
        xl = (all_f.min() / 1.6, all_f.max() * 1.6)
        yl = (all_s.min() / 1.6, all_s.max() * 1.6)
        ax.set_xlim(*xl)
        ax.set_ylim(*yl)
        fgrid = np.geomspace(*xl, 50)
        lo_c, hi_c = np.log10(xl[0] * yl[0]), np.log10(xl[1] * yl[1])
        for k in range(int(np.ceil(lo_c)), int(np.floor(hi_c)) + 1):
            ax.plot(fgrid, 10.0**k / fgrid, color="0.85", lw=0.6, zorder=1)
        for at in result.at:
            ax.plot(fgrid, at / fgrid, color="0.3", lw=1.0, ls="--", zorder=1)
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlim(*xl)
        ax.set_ylim(*yl)
        ax.set_title(group_label(g.key, names="never"), fontsize=10)
        ax.set_xlabel(f"model size: {x} / {samples}")
        ax.grid(False)
    axes[0].set_ylabel(f"samples seen: {samples}")
    if sc is not None:
        cb = fig.colorbar(sc, ax=list(axes), shrink=0.9, pad=0.01)
        cb.set_label(f"expected gain per GFLOP ({result.objective}, {result.unit})")
    at_txt = ", ".join(f"${math_num(v)}$" for v in result.at)
    handles = [
        Line2D([], [], ls="", marker="o", ms=4, color="0.6", label="measured run"),
        Line2D([], [], ls="", marker="o", ms=6, mfc="none", mec="0.25",
               label="compute-frontier run"),
        Line2D([], [], ls="", marker="s", ms=6, color="#21918c", mec="black", mew=0.4,
               label="candidate (colour: gain per GFLOP)"),
        Line2D([], [], ls="", marker="s", ms=6, color="#21918c", mec="black", mew=0.4,
               alpha=0.3, label="candidate unlikely to stay on the frontier"),
        Line2D([], [], ls="", marker="s", ms=6, mfc="none", mec="0.45",
               label="candidate expected to gain nothing"),
        Line2D([], [], ls="", marker="o", ms=9, mfc="none", mec="#d62728", mew=1.4,
               label="batch (step number)"),
        Line2D([], [], color="0.3", lw=1.0, ls="--", label=f"target compute {at_txt}"),
        Line2D([], [], color="0.85", lw=0.8, label="equal compute, every decade"),
    ]
    legends_below(fig, axes[0], [(handles, {"fontsize": 7.5, "ncol": 3})])
    save_figure(fig, path, dpi=150)
    plt.close(fig)
    return path
