"""The figure of a held-out check (:class:`scalecmp.holdout.HoldoutResult`): predicted
against measured, one panel per series."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.format import series_label
from scalecmp.plots.style import _pyplot

__all__ = ["holdout_figure"]


def holdout_figure(result: Any, *, ncols: int | None = None):  # noqa: ANN201 - a Figure
    """Predicted against measured, one panel per series: each held-out run with its
    prediction interval as an error bar, coloured by group (hollow: outside its
    interval), and the identity line (a perfect prediction)."""
    plt = _pyplot()
    keys = list(result.series)
    if not result.n:
        fig, ax = plt.subplots(figsize=(5.5, 2.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"Held-out check FAILED: nothing was checked\n({result.where()})",
                ha="center", va="center", wrap=True, fontsize=9)
        return fig
    if keys:
        panels = [(k if isinstance(k, tuple) else (k,), p)
                  for k, p in result.runs.groupby(keys, sort=False)]
    else:
        panels = [((), result.runs)]
    n = len(panels)
    ncols = ncols or min(n, 2)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.3 * nrows),
                             squeeze=False)
    groups = (list(dict.fromkeys(map(tuple, result.runs[list(result.by)].astype(str).values)))
              if result.n and result.by else [()])
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {g: colours[i % len(colours)] for i, g in enumerate(groups)}
    table = result.series_table()
    for i, (key, part) in enumerate(panels):
        ax = axes[i // ncols][i % ncols]
        metric = (str(key[keys.index("metric")]) if "metric" in keys
                  else (str(part["metric"].iloc[0]) if "metric" in part and len(part)
                        else result.y))
        for g in groups:
            sel = (part[list(result.by)].astype(str).apply(tuple, axis=1) == g
                   if result.by and len(part) else pd.Series(True, index=part.index))
            rows = part.loc[sel]
            if rows.empty:
                continue
            m, p = rows["measured"].to_numpy(float), rows["predicted"].to_numpy(float)
            lo, hi = rows["lo"].to_numpy(float), rows["hi"].to_numpy(float)
            yerr = np.vstack([np.clip(p - lo, 0, None), np.clip(hi - p, 0, None)])
            c = colour[g]
            ax.errorbar(m, p, yerr=yerr, fmt="none", ecolor=c, elinewidth=1.2, capsize=3,
                        alpha=0.8)
            inside = rows["inside"].to_numpy(bool)
            ax.scatter(m[inside], p[inside], color=c, s=30, zorder=3,
                       label=" / ".join(g) or None)
            ax.scatter(m[~inside], p[~inside], facecolors="white", edgecolors=c, s=30,
                       linewidths=1.5, zorder=3)
        vals = np.concatenate([part[c].to_numpy(float) for c in ("measured", "lo", "hi")])
        vals = vals[np.isfinite(vals)]
        if len(vals):
            lo_v, hi_v = float(vals.min()), float(vals.max())
            pad = 0.08 * max(hi_v - lo_v, 1e-3)
            lim = (lo_v - pad, hi_v + pad)
            ax.plot(lim, lim, color="0.5", lw=1, ls="--", zorder=1, label="identity")
            ax.set_xlim(lim)
            ax.set_ylim(lim)
        ax.set_xlabel(f"measured {metric}")
        ax.set_ylabel(f"predicted {metric} ({result.level:.0%} interval)")
        title = series_label(dict(zip(keys, key, strict=True))) if keys else result.y
        if len(table) and keys:
            row = table.loc[(table[keys].astype(str) == [str(k) for k in key]).all(axis=1)]
            if len(row):
                r = row.iloc[0]
                title += (f"\nmean error {result._err(r['mae'])}, {int(r['n_inside'])} of "
                          f"{int(r['n'])} inside")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    for j in range(n, nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    fig.suptitle(f"Held-out check ({'passed' if result.passed else 'FAILED'}): laws "
                 f"{result.where()},\npredicting the frontier runs above (hollow: outside "
                 "the interval)", fontsize=10)
    fig.tight_layout()
    return fig
