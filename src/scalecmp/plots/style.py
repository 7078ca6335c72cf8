"""The conventions every scalecmp figure shares, and the helpers that draw them.

Figures: :func:`scalecmp.plots.plot_fit` (:mod:`scalecmp.plots.fit`),
:func:`scalecmp.plots.plot_comparison` (:mod:`scalecmp.plots.compare`),
:func:`scalecmp.plots.plot_optimal` (:mod:`scalecmp.plots.optimal`),
:func:`scalecmp.plots.holdout_figure` (:mod:`scalecmp.plots.holdout`); the report
(:mod:`scalecmp.report`) embeds them.

* axis labels name the metric (``acc1``, or ``error (1 − acc1)``) and the compute with its
  unit (``compute (GFLOPs)`` for a GFLOPs-like column, else the column's name);
* the metric's name is the ``metric`` column's value when the y column is a generic
  ``value`` and the rows hold one metric; the caption context (task, dataset, metric) are
  the descriptive columns that are constant over the plotted rows;
* log axes: a major tick per decade labelled ``10^k``, minor ticks at 2..9; an axis that
  spans less than ~2.5 decades also labels 2x and 5x (``0.2``, ``0.5``);
* a formula is shown in the units of its axis: error units over an error axis
  (``err = A (C + B)^alpha + E``), the metric's own direction over a metric axis
  (``acc1 = (1 - E) - A (C + B)^alpha``);
* the legend sits below the axes, never on the data (:func:`legends_below`): per group the
  law (``auto`` mixtures with their weights) and its formula (:func:`legend_label`), then
  one entry per marker, line style and shading (:func:`style_handles`).

Numbers and group labels are :mod:`scalecmp.format`'s (``math_num``, ``group_label``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from scalecmp.errors import UsageError
from scalecmp.files import atomic_write_path
from scalecmp.format import law_weights, math_num, mixture_text

__all__ = [
    "COLORS",
    "EXTRAPOLATED_COLOR",
    "FIGURE_SUFFIXES",
    "MINUS",
    "check_figure_path",
    "compute_unit",
    "context_text",
    "formula_text",
    "legend_label",
    "legends_below",
    "log_axis",
    "metric_name",
    "save_figure",
    "series_context",
    "style_handles",
    "x_label",
    "y_label",
]

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
EXTRAPOLATED_COLOR = "#ececec"
MINUS = "\u2212"

# columns that describe what a series measures, most telling first (caption context)
_CONTEXT_COLUMNS = (
    "downstream_dataset",
    "task",
    "eval_dataset",
    "metric",
    "pretrain_dataset",
    "dataset",
)
_GENERIC_Y = ("value", "score", "y", "result")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def check_figure_path(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() not in FIGURE_SUFFIXES:
        raise UsageError(
            f"--plot {p}: unknown figure type '{p.suffix}' (use {', '.join(FIGURE_SUFFIXES)})"
        )
    return p


def save_figure(fig, path: str | Path, *, dpi: int = 200) -> Path:
    """Save through a temporary file and an atomic rename (:func:`scalecmp.io.atomic_write_path`:
    only a regular file is ever replaced)."""
    p = check_figure_path(path)
    atomic_write_path(p, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight"))
    return p


# ---------------------------------------------------------------------------------------
# names, units, context
# ---------------------------------------------------------------------------------------
def compute_unit(x: str) -> str | None:
    """``GFLOPs`` / ``FLOPs`` / ``PFLOPs`` when the column name says so, else ``None``."""
    n = str(x).lower()
    for key, unit in (("pflop", "PFLOPs"), ("tflop", "TFLOPs"), ("gflop", "GFLOPs"),
                      ("flop", "FLOPs")):
        if key in n:
            return unit
    return None


def x_label(x: str) -> str:
    """``compute (GFLOPs)`` for a GFLOPs-like column, else the column's name."""
    unit = compute_unit(x)
    return f"compute ({unit})" if unit else str(x)


def _var(x: str) -> str:
    """The formula's variable: ``C`` for compute, ``x`` otherwise."""
    return "C" if compute_unit(x) else "x"


def _constant(frames: Iterable[Any], col: str) -> Any | None:
    values: set = set()
    for f in frames:
        if col not in getattr(f, "columns", ()):
            return None
        values |= set(f[col].dropna().astype(str).unique())
        if len(values) > 1:
            return None
    return next(iter(values)) if len(values) == 1 else None


def metric_name(y: str, frames: Iterable[Any] = ()) -> str:
    """The metric's name: the ``metric`` column's single value when ``y`` is a generic value
    column (``value``), else ``y``."""
    if str(y).lower() in _GENERIC_Y:
        m = _constant(list(frames), "metric")
        if m:
            return str(m)
    return str(y)


def series_context(frames: Iterable[Any], exclude: Sequence[str] = ()) -> dict[str, str]:
    """Descriptive columns (task, dataset, metric, ...) constant over all ``frames``."""
    frames = list(frames)
    out: dict[str, str] = {}
    for col in _CONTEXT_COLUMNS:
        if col in exclude:
            continue
        v = _constant(frames, col)
        if v is not None:
            out[col] = str(v)
    return out


def context_text(context: dict[str, Any] | None, sep: str = ", ") -> str:
    """``downstream_dataset: imagenet1k, metric: acc1``."""
    return sep.join(f"{k}: {v}" for k, v in (context or {}).items())


def y_label(metric: str, *, error: bool, maximize: bool) -> str:
    """``error (1 − acc1)`` for an error axis of a higher-is-better metric, else the name
    with the direction that is better."""
    if error and maximize:
        return f"error (1 {MINUS} {metric}), lower is better"
    return f"{metric}, {'higher' if maximize else 'lower'} is better"


# ---------------------------------------------------------------------------------------
# numbers and formulas (mathtext)
# ---------------------------------------------------------------------------------------
def _exp(v: float) -> str:
    """An exponent: 3 decimals, or 2 significant digits when small."""
    return f"{v:.3f}" if abs(v) >= 0.01 else f"{v:.2g}"


def _text_escape(s: str) -> str:
    """Plain text inside a mathtext-enabled label: ``$`` must not open math mode."""
    return str(s).replace("$", r"\$")


def _law_parts(name: str, p: dict[str, float], var: str) -> tuple[str, float] | None:
    """(reducible term in mathtext, floor E) of a one-input law, None when unknown."""
    try:
        if name == "power":
            return rf"{math_num(p['A'])}\,{var}^{{{_exp(p['alpha'])}}}", 0.0
        if name == "power_floor":
            return rf"{math_num(p['A'])}\,{var}^{{{_exp(p['alpha'])}}}", p["E"]
        if name == "saturating":
            return (rf"{math_num(p['A'])}\,({var} + {math_num(p['B'])})"
                    rf"^{{{_exp(p['alpha'])}}}", p["E"])
        if name == "broken_power":
            c0 = p["c0"]
            head = rf"{math_num(p['A'])}"
            if abs(c0) >= 5e-4:
                head += rf"\,{var}^{{{_exp(-c0)}}}"
            brk = (rf"\,(1 + ({var}/{math_num(p['d'])})^{{{math_num(1.0 / p['f'], 3)}}})"
                   rf"^{{{_exp(-p['c1'] * p['f'])}}}")
            return head + brk, p["E"]
    except (KeyError, ZeroDivisionError, ValueError):
        return None
    return None


def formula_text(law: Any, params: dict[str, float], *, x: str, metric: str,
                 maximize: bool, error_units: bool) -> str:
    """A law with its fitted numbers, typeset with mathtext, in the units of its axis.

    ``error_units``: ``err = A (C + B)^alpha + E`` (``metric = ...`` when lower is
    better); else, for a higher-is-better metric, in the metric's own direction:
    ``acc1 = (1 - E) - A (C + B)^alpha``.
    """
    name = getattr(law, "name", str(law))
    parts = _law_parts(name, params, _var(x))
    lhs = "err" if (error_units and maximize) else _text_escape(metric)
    if parts is None:  # a law without a typeset form: its own plain formula
        body = law.format(params) if hasattr(law, "format") else str(params)
        if maximize and not error_units:
            return f"{lhs} = 1 {MINUS} [{_text_escape(body)}]"
        return f"{lhs} = {_text_escape(body)}"
    term, floor = parts
    if maximize and not error_units:
        return f"{lhs} = ${math_num(1.0 - floor)} - {term}$"
    if floor:
        return f"{lhs} = ${term} + {math_num(floor)}$"
    return f"{lhs} = ${term}$"


def legend_label(g: Any, name: str, *, x: str, metric: str, error_units: bool) -> str:
    """Two-line legend label: group and law (with weights), then the formula (of the
    heaviest law of a mixture)."""
    head = f"{_text_escape(name)}: {mixture_text(g)}"
    formula = formula_text(g.law, g.params, x=x, metric=metric, maximize=g.maximize,
                           error_units=error_units)
    if getattr(g, "mode", None) == "auto" and len(law_weights(g)) > 1:
        formula = f"heaviest law: {formula}"
    return f"{head}\n{formula}"


# ---------------------------------------------------------------------------------------
# axes
# ---------------------------------------------------------------------------------------
def _tick_text(v: float, pos: Any = None) -> str:
    if v <= 0 or not math.isfinite(v):
        return ""
    e = math.floor(math.log10(v) + 1e-9)
    if -2 <= e < 3:
        return f"{v:g}"
    return f"${math_num(v, 2)}$"


def _decade_text(v: float, pos: Any = None) -> str:
    if v <= 0 or not math.isfinite(v):
        return ""
    return f"$10^{{{round(math.log10(v))}}}$"


def log_axis(ax: Any, which: str = "x", *, plain: bool = False) -> None:
    """Log scale with readable ticks: a labelled major tick per decade (``10^k``; plain
    numbers such as ``0.1`` with ``plain``), unlabelled minor ticks at 2..9; an axis spanning
    less than 2.5 decades also labels 2x and 5x (3x below 1.2 decades, every integer multiple
    below 0.6 decades)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
    span = math.log10(hi / lo) if lo > 0 and hi > 0 else 10.0
    if span < 0.6:
        subs_major: tuple[float, ...] = tuple(float(k) for k in range(1, 10))
    elif span < 1.2:
        subs_major = (1.0, 2.0, 3.0, 5.0)
    elif span < 2.5:
        subs_major = (1.0, 2.0, 5.0)
    else:
        subs_major = (1.0,)
    subs_minor = tuple(float(s) for s in range(2, 10) if float(s) not in subs_major)
    axis.set_major_locator(LogLocator(base=10.0, subs=subs_major, numticks=30))
    if len(subs_major) == 1 and not plain:
        axis.set_major_formatter(FuncFormatter(_decade_text))
    else:
        axis.set_major_formatter(FuncFormatter(_tick_text))
    if subs_minor:
        axis.set_minor_locator(LogLocator(base=10.0, subs=subs_minor, numticks=100))
    else:
        axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------------------------------
# legends
# ---------------------------------------------------------------------------------------
def style_handles(*, band: str | None, extrapolated: str | None, predictions: bool = False,
                  below: bool = False) -> list[Any]:
    """Legend entries for the marks every figure shares (neutral grey)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    hs: list[Any] = [
        Line2D([], [], ls="", marker="o", ms=4, color="0.55", alpha=0.35,
               label="measured runs"),
        Line2D([], [], ls="", marker="o", ms=5, color="0.35", mec="black", mew=0.5,
               label="compute-frontier runs (fitted)"),
        Line2D([], [], color="0.3", lw=1.6, label="law over the measured range"),
        Line2D([], [], color="0.3", lw=1.4, ls="--", label="law extrapolated beyond the data"),
    ]
    if below:
        hs.append(Line2D([], [], color="0.3", lw=1.0, ls=":",
                         label="law below a group's smallest run"))
    if band:
        hs.append(Patch(color="0.45", alpha=0.25, lw=0, label=band))
    if extrapolated:
        hs.append(Patch(facecolor=EXTRAPOLATED_COLOR, edgecolor="0.75", lw=0.5,
                        label=extrapolated))
    if predictions:
        hs.append(Line2D([], [], ls="", marker="*", ms=9, color="0.4", mec="black", mew=0.5,
                         label="prediction (bar: 95% prediction interval)"))
    return hs


def legends_below(fig: Any, ax: Any, specs: Sequence[tuple[list[Any], dict]]) -> None:
    """Stack legends under ``ax`` (below its tick and axis labels), left-aligned with it,
    one below the other, and grow the figure downwards to hold them, so that a plain
    ``savefig`` keeps them. The layout is frozen afterwards."""
    fig.canvas.draw()  # runs the layout engine: the axes get their final place
    renderer = fig.canvas.get_renderer()
    inv = fig.transFigure.inverted()
    box = ax.get_tightbbox(renderer)
    left, bottom = inv.transform((box.x0, box.y0))
    fig.set_layout_engine("none")
    placed = []
    for handles, kw in specs:
        if not handles:
            continue
        kw = {"frameon": False, "title_fontsize": kw.get("fontsize", 7.5),
              "alignment": "left", **kw}
        leg = fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(left, bottom),
                         bbox_transform=fig.transFigure, borderaxespad=0.3, **kw)
        placed.append((leg, bottom))
        ext = leg.get_window_extent(renderer)
        bottom = inv.transform((ext.x0, ext.y0))[1]
    w, h = fig.get_size_inches()
    extra = max(0.0, -bottom) * h + 0.08  # inches needed below the canvas
    h2 = h + extra

    def lift(y: float) -> float:
        return (y * h + extra) / h2

    for a in fig.axes:
        p = a.get_position()
        a.set_position((p.x0, lift(p.y0), p.width, p.height * h / h2))
    for leg, y in placed:
        leg.set_bbox_to_anchor((left, lift(y)), transform=fig.transFigure)
    fig.set_size_inches(w, h2)
