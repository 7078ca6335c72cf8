"""Reports: one self-contained HTML file plus the same tables as Markdown and LaTeX.

For every *series* (e.g. each (task, metric) of a measurement table) the report fits every
group of ``by`` (procedures, datasets), and shows:

* figures (embedded as base64 PNG: no external assets), numbered and captioned with the
  series (its keys, e.g. task / metric / dataset), the groups and their laws (``auto``
  mixtures with their weights): the fit figure (:func:`scalecmp.plots.plot_fit`) and,
  with two or more groups, the comparison figure of each pair
  (:func:`scalecmp.plots.compare.comparison_figure`);
* the fitted parameters with their bootstrap intervals, each fit warning beside the number
  it concerns (a parameter at its bound in its row, the others under the table);
* the report **opens with the validated prediction**: the held-out check of
  :func:`scalecmp.holdout.holdout_check` over every series and group (laws fitted only on runs
  with compute ``<= T``, by default each group's largest compute / ``holdout_factor``, predict
  the frontier runs above ``T``): its verdict in words (a failed check says so first), the
  predicted-vs-measured figure with the engine's prediction intervals, the mean absolute
  errors and the share of held-out runs inside their intervals; then, when given, the
  cosine check (:func:`scalecmp.holdout.cosine_gap`: constant LR + cooldown against cosine);
* the comparisons: the table at ``at`` computes, crossovers and the verdict sentence.

``report.md`` and ``report.tex`` (booktabs tables) hold the same tables; numbers are typeset
in each format (``1.14×10<sup>12</sup>``, ``$1.14\\times10^{12}$``) and non-finite values are
words (``unbounded``, ``never``, ``beyond the range``), ``∞`` / ``$\\infty$`` or a dash, never
``inf`` (:mod:`scalecmp.report.tables`, numbers by :mod:`scalecmp.format`).
"""

from __future__ import annotations

import base64
import html
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from scalecmp.compare import check_at, check_compare_options, compare
from scalecmp.engine import FitOptions, FitResult, fit_frame, fit_options
from scalecmp.errors import DataError, ScalecmpError, ScalecmpWarning, UsageError
from scalecmp.files import check_output_dir, check_output_path, output_transaction
from scalecmp.format import fmt_num, group_label, mixture_text, series_label
from scalecmp.holdout import (
    HOLDOUT_FACTOR,
    HoldoutResult,
    check_holdout_factor,
    check_holdout_threshold,
    holdout_check,
)
from scalecmp.io import apply_where, as_frame, check_unique
from scalecmp.plots import plot_fit
from scalecmp.plots.compare import comparison_figure
from scalecmp.plots.style import (
    compute_unit,
    context_text,
    metric_name,
    series_context,
    x_label,
)
from scalecmp.report.tables import (
    Interval,
    Num,
    Pct,
    Table,
    html_text,
    latex_escape,
    one_line_text,
)
from scalecmp.validate import check_flag, check_positive, check_series_by

__all__ = ["Precomputed", "ReportOptions", "Section", "build_sections", "check_report_options",
           "cosine_section", "holdout_section", "optimal_section", "seed_section",
           "write_report"]


@dataclass
class Section:
    """One series of the report: its title, what it is (``context``: the series keys and
    the descriptive columns constant in it), figures (caption, PNG bytes), tables,
    verdicts, notes."""

    title: str
    context: dict[str, str] = field(default_factory=dict)
    figures: list[tuple[str, bytes]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alert: bool = False  # the verdicts are a warning (a failed held-out check)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


_BOUND = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z_0-9]*) = \S+ is at its bound$")


def _split_warnings(g: Any) -> tuple[dict[str, list[str]], list[str]]:
    """The group's warnings: those about one parameter of the reported (heaviest) law, by
    parameter (``at its bound``), and the rest (fragile optima, other members, degenerate
    intervals), each as one sentence."""
    by_param: dict[str, list[str]] = {}
    rest: list[str] = []
    dom_w = max(g.weights) if len(g.weights) else 1.0
    prefixes = (f"{g.law.name} (weight {dom_w:.2f}): ", f"{g.law.name}: ")
    for w in g.warnings:
        msg = None
        for p in prefixes:
            if w.startswith(p):
                msg = w[len(p):]
                break
        m = _BOUND.match(msg) if msg else None
        if m and m.group("name") in g.params:
            by_param.setdefault(m.group("name"), []).append("at its bound")
        else:
            rest.append(w)
    return by_param, rest


def _params_table(fit: Any, title: str, ctx: str) -> Table:
    rows, notes = [], []
    for g in fit.groups:
        ci = g.params_ci
        at_param, rest = _split_warnings(g)
        lab = group_label(g.key, names="several")
        for name, val in g.params.items():
            lo, hi = ci.get(name, (None, None))
            rows.append([lab, g.law.name, name, Num(val), Interval(lo, hi), g.n_points,
                         g.n_frontier, "; ".join(at_param.get(name, [])) or ""])
        notes += [f"{lab}: warning: {w}" for w in rest]
    for s in getattr(fit, "skipped", ()) or ():
        notes.append(f"{group_label(s.get('key', {}), names='several')}: not fitted: "
                     f"{s.get('reason', '')}")
    mixtures = "; ".join(f"{group_label(g.key, names='several')}: {mixture_text(g)}"
                         for g in fit.groups if g.mode == "auto")
    laws = (f"law auto, the parameters of each group's heaviest law ({mixtures})" if mixtures
            else f"law {fit.law}")
    return Table(
        caption=f"{ctx}: fitted laws, {laws}; "
        + ("error units (error = 1 - metric)" if fit.maximize else "the metric's units")
        + f"; {fit.level:.0%} bootstrap intervals",
        header=["group", "law", "param", "estimate", f"{fit.level:.0%} interval", "points",
                "frontier", "warning"],
        rows=rows,
        notes=notes,
    )


HOLDOUT_TITLE = "Validated prediction: held-out check"
COSINE_TITLE = "Cosine check: constant LR + cooldown against cosine"


OPTIMAL_TITLE = "Compute-optimal samples seen: D_opt(C)"
SEED_TITLE = "Seed noise: how much of each interval a second training seed explains"


def seed_section(tables: Sequence[tuple[pd.DataFrame, bool]], *, level: float,
                 title: str = SEED_TITLE) -> Section:
    """:func:`scalecmp.seeds.seed_share` tables (each with whether it is relative: losses)
    as one table: per series the seed noise ``sigma``, the median width of the held-out
    check's intervals, the width seed noise alone needs (``2 z sigma``) and its share."""
    sec = Section(title=title)
    lev = f"{level:.0%}"
    rows = []
    for table, relative in tables:
        unit = "%" if relative else " pp"
        for r in table.to_dict("records"):
            lab = " / ".join(str(r[k]) for k in ("task", "metric", "procedure"))
            rows.append([lab, int(r["n_pairs"]), f"{100 * r['sigma_scaled']:.2f}{unit}",
                         Num(100 * r["median_width"], decimals=1),
                         Num(100 * r["seed_width"], decimals=1), Pct(r["share"])])
    sec.tables.append(Table(
        caption=f"Training-seed noise per series: sigma = sqrt(mean(d^2) / 2) over the cells "
        f"measured under two seeds (d: their difference), in pp (losses: % of the loss); "
        f"the median width of the held-out check's {lev} prediction intervals; the width "
        f"seed noise alone needs (2 z sigma) and its share of that median",
        header=["series", "cells", "sigma", f"median {lev} width", "seed width", "share"],
        rows=rows,
    ))
    return sec


def optimal_section(result: Any, png: bytes | None, *, metric: str,
                    title: str = OPTIMAL_TITLE) -> Section:
    """A :class:`scalecmp.optimal.OptimalResult` (frontier route): its figure (``png``, from
    :func:`scalecmp.plots.plot_optimal`) and one row per group: ``D_opt(C) = k C^a`` and
    ``N_opt(C)`` with their bootstrap intervals."""
    sec = Section(title=title, context={"metric": metric})
    level = f"{result.level:.0%}"
    if png is not None:
        sec.figures.append((
            f"Compute-optimal allocation on {metric}: samples seen (left) and model size "
            f"(right) of the compute-frontier runs against compute, with the fitted k C^a "
            f"lines and their {level} bootstrap bands (pairs bootstrap over the frontier "
            "runs); dashed and shaded: beyond the largest frontier compute.", png))
    rows = []
    for g in result.groups:
        rows.append([group_label(g.key, names="several"), len(g.frontier),
                     Num(g.d_opt.k), Num(g.d_opt.a), Interval(*g.d_opt.a_ci),
                     Num(g.n_opt.a), Interval(*g.n_opt.a_ci)])
    sec.tables.append(Table(
        caption=f"D_opt(C) = k C^a ({result.samples}) and N_opt(C) ({result.size}) fitted "
        f"by least squares in log-log on the {result.frontier} frontier's runs; {level} "
        "bootstrap intervals of the exponents",
        header=["group", "frontier runs", "k (D_opt)", "a (D_opt)", f"a {level}",
                "a (N_opt)", f"a {level}"],
        rows=rows,
    ))
    return sec


def holdout_section(check: Any, title: str = HOLDOUT_TITLE) -> Section:
    """The report's first section: a :class:`scalecmp.holdout.HoldoutResult` in words (the
    verdict first; a failed check is an alert), its predicted-vs-measured figure, one row per
    series (the pass rule) and one per (series, group) (what was fitted and predicted)."""
    sec = Section(title=title)
    lines = check.summary_lines()
    sec.verdicts.append(lines[0])
    sec.alert = not check.passed
    scale, unit = check._units()
    dec = 1 if scale != 1.0 else None
    kind = "rel. error" if check.relative else "abs. error"
    err_head = f"mean {kind}{f' ({unit.strip()})' if unit else ''}"
    max_head = f"max {kind}{f' ({unit.strip()})' if unit else ''}"
    if check.n:
        from scalecmp.plots import holdout_figure

        png = _png(holdout_figure(check))
        series = " / ".join(check.series) or "one series"
        sec.figures.append((
            f"Held-out check ({'passed' if check.passed else 'FAILED'}): laws {check.where()} "
            f"predict the compute-frontier runs above it, never seen by the fit. One panel per "
            f"series ({series}); each held-out run: measured (x) against predicted (y), error "
            f"bars: {check.level:.0%} prediction intervals of the law fitted below the "
            "threshold (the engine's bootstrap, for a new measurement), colour: the group, "
            "hollow: outside its interval; dashed: identity (a perfect prediction). A series "
            f"passes when its mean {kind} is at most {check._err(check.mae_max)} and "
            f"at least {check.coverage_min:.0%} of its held-out runs lie inside their "
            "intervals.", png))
        rows = []
        for r in check.series_table().to_dict("records"):
            rows.append([series_label({k: r[k] for k in check.series}), int(r["n"]),
                         Num(r["mae"] * scale, decimals=dec),
                         Num(r["max_error"] * scale, decimals=dec),
                         f"{int(r['n_inside'])}/{int(r['n'])}", Pct(r["coverage"]),
                         "passed" if r["passed"] else "FAILED"])
        sec.tables.append(Table(
            caption=f"Held-out check per series: {check.where()}; pass: mean {kind} "
            f"<= {check._err(check.mae_max)} and >= {check.coverage_min:.0%} inside the "
            f"{check.level:.0%} prediction intervals",
            header=["series", "held-out runs", err_head, max_head, "inside", "coverage",
                    "verdict"],
            rows=rows,
        ))
    units = ("relative to the measured value" if kind == "rel. error"
             else f"in the metric's {'percentage points' if unit else 'units'}")
    rows = []
    for r in check.groups.to_dict("records"):
        checked = r["status"] == "checked"
        n_in = round(r["coverage"] * r["n_heldout"]) if checked else None
        rows.append([
            series_label({k: r[k] for k in check.series}),
            group_label({k: r[k] for k in check.by}, names="several"),
            Num(r["threshold"]), int(r["n_fit"]), int(r["n_heldout"]),
            Num(r["mae"] * scale, decimals=dec) if checked else "-",
            Num(r["max_error"] * scale, decimals=dec) if checked else "-",
            f"{n_in}/{int(r['n_heldout'])}" if checked else "-",
            str(r["law"]) if checked else "-", str(r["status"]),
        ])
    sec.tables.append(Table(
        caption=f"Held-out check per group: runs fitted (compute <= threshold), frontier runs "
        f"held out and predicted ({check.x}; errors {units})",
        header=["series", "group", "threshold", "fit runs", "held out", err_head, max_head,
                "inside", "law", "status"],
        rows=rows,
    ))
    sec.notes += list(check.notes)
    return sec


def cosine_section(gap: pd.DataFrame, *, maximize: bool = True) -> Section:
    """The cosine check (:func:`scalecmp.holdout.cosine_gap`): the gap in words, one line
    per series, and one row per cosine run."""
    from scalecmp.holdout import cosine_gap_lines

    sec = Section(title=COSINE_TITLE)
    percent = bool(maximize)
    sec.verdicts += cosine_gap_lines(gap, percent=percent)
    if gap.empty:
        return sec
    keys = [k for k in ("task", "metric", "procedure", "model", "lr") if k in gap.columns]
    scale, dec = (100.0, 1) if percent else (1.0, None)
    rows = [[*(str(r[k]) for k in keys), int(r["samples_seen"]), Num(r["gflops_total"]),
             Num(r["cosine"], decimals=3 if maximize else None),
             Num(r["const_cooldown"], decimals=3 if maximize else None),
             str(r["best_schedule"]), Num(r["gap"] * scale, decimals=dec)]
            for r in gap.to_dict("records")]
    sec.tables.append(Table(
        caption="Cosine check: each cosine run against the best constant-LR or cooldown "
        "measurement of the same procedure and size at the same samples seen (the study's "
        "claim: constant LR with cooldown branches traces the frontier cosine runs reach); "
        f"gap = cosine - best, {'percentage points, ' if percent else ''}positive = cosine "
        "better",
        header=[*keys, "samples seen", "compute", "cosine", "const/cooldown best", "best of",
                f"gap{' (pp)' if percent else ''}"],
        rows=rows,
    ))
    return sec


def _context(key: dict[str, Any], frame: pd.DataFrame, *, x: str, y: str,
             by: list[str]) -> dict[str, str]:
    """The series keys, then the descriptive columns constant over the section's rows."""
    ctx = {str(k): str(v) for k, v in key.items()}
    for k, v in series_context([frame], exclude=(*by, x, y, *ctx)).items():
        ctx.setdefault(k, v)
    return ctx


def _fit_caption(ctx: str, fit: Any, metric: str, x: str, by: list[str]) -> str:
    laws = "; ".join(f"{group_label(g.key, names='several')}: {mixture_text(g)}"
                     for g in fit.groups)
    err = f"error (1 - {metric})" if fit.maximize else metric
    return (
        f"{ctx}: {err} against {x_label(x)}, log-log, "
        f"{'by ' + ', '.join(by) if by else 'one series'}. Faint: every measured run; "
        f"solid dots: the compute-frontier runs the law is fitted to; lines: the law ({laws}; "
        "the legend's formula is the heaviest law's, in error units), solid over the "
        f"measured range and dashed beyond; coloured bands: {fit.level:.0%} prediction "
        "bands; grey background: extrapolated, beyond the measured compute."
    )


def _compare_caption(ctx: str, c: Any, metric: str, x: str, ga: Any, gb: Any) -> str:
    by = ", ".join(c.a.keys())
    xs = "; ".join(f"{fmt_num(k['x'])}" for k in c.crossovers) or "none in the plotted range"
    return (
        f"{ctx}: {c.label_a} vs {c.label_b}{f' ({by})' if by else ''}. Top: {metric} against "
        f"{x_label(x)}; {c.label_a}: {mixture_text(ga)}, {c.label_b}: {mixture_text(gb)} "
        "(legend formulas: the heaviest law, in the metric's direction); solid over each "
        f"group's measured range, dashed beyond; bands: {c.level:.0%} bootstrap bands of the "
        "laws; grey background: outside the compute both groups measured (extrapolated). "
        f"Bottom: the difference {c.label_a} - {c.label_b} in {metric} with its "
        f"{c.level:.0%} pointwise band; tinted where one side is better with {c.level:.0%} "
        f"simultaneous confidence. Crossovers (diamonds, bars = intervals): {xs}."
    )


def _section(
    frame: pd.DataFrame, key: dict[str, Any], *, x: str, y: str, by: list[str],
    maximize: bool, options: FitOptions, at: Sequence[float] | None,
    fit: FitResult | None = None, comparison: Any = None,
) -> Section:

    title = series_label(key, empty=y)
    context = _context(key, frame, x=x, y=y, by=by)
    ctx = context_text(context) or title
    metric = metric_name(y, [frame])
    sec = Section(title=title, context=context)
    if fit is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = fit_frame(frame, x=x, y=y, by=by or None, x2=None, where=None,
                            maximize=maximize, predict_at=None, predict_at2=None,
                            options=options)
        # the fit's own warnings are shown beside the numbers they concern (tables)
        known = {w for g in fit.groups for w in g.warnings}
        sec.notes += sorted({str(w.message) for w in caught
                             if not any(str(w.message).endswith(k) for k in known)})
    sec.tables.append(_params_table(fit, title, ctx))
    if all(g.law.n_inputs == 1 for g in fit.groups):
        sec.figures.append((_fit_caption(ctx, fit, metric, x, by),
                            _png(plot_fit(fit, metric=metric, context=context))))
    if len(fit.groups) >= 2:
        res = comparison if comparison is not None else compare(fit, at=at, level=fit.level)
        by_key = {tuple(map(str, g.key.values())): g for g in fit.groups}
        warned = {group_label(g.key, names="several"): len(g.warnings) for g in fit.groups
                  if g.warnings}
        for c in res:
            ga, gb = by_key[tuple(map(str, c.a.values()))], by_key[tuple(map(str, c.b.values()))]
            la, lb = c.label_a, c.label_b
            sec.figures.append((
                _compare_caption(ctx, c, metric, x, ga, gb),
                _png(comparison_figure(c, ga, gb, metric=metric, context=context)),
            ))
            sec.verdicts.append(f"{la} vs {lb}: {c.verdict}")
            rows, notes = [], []
            dec = 3 if maximize else None  # a metric in [0, 1]: fixed decimals
            for e in c.at:
                mult = e["compute_multiplier"]
                note = e.get("multiplier_note")
                if mult is None and note and "never" in note:
                    mult_cell: Any = Num(float("inf"), inf="never")
                else:
                    mult_cell = Num(mult)
                if note:
                    notes.append(f"multiplier at {fmt_num(e['x'])}: {note}")
                lo_m, hi_m = e["multiplier_ci"]
                rows.append([
                    Num(e["x"]), Num(e["y_a"], decimals=dec), Num(e["y_b"], decimals=dec),
                    Num(e["diff"]),
                    Interval(e["lo"], e["hi"]), Num(e["p_a_better"], decimals=3),
                    group_label(e["better"], names="several") if e["better"] else "inconclusive",
                    mult_cell, Interval(lo_m, hi_m, open_hi="unbounded"),
                    "yes" if e["extrapolated"] else "no",
                ])
            pair_warn = {k: v for k, v in warned.items() if k in (la, lb)}
            if pair_warn:
                notes.append("fits with warnings (see the parameter table): " + ", ".join(
                    f"{k} ({v})" for k, v in pair_warn.items()))
            sec.tables.append(Table(
                caption=f"{ctx}: {la} vs {lb} at selected compute ({c.level:.0%} intervals; "
                f"better: pointwise {c.level:.0%} rule; multiplier = compute {lb} needs / "
                f"compute {la} uses for the same {metric})",
                header=[x_label(x), f"{metric} {la}", f"{metric} {lb}", f"{la} - {lb}",
                        f"{c.level:.0%} interval", f"P({la} better)", "better", "multiplier",
                        f"{c.level:.0%} interval", "extrapolated"],
                rows=rows,
                notes=notes,
            ))
            ed = c.exponent_diff
            ecells = ([Num(ed["value"]), Interval(ed["lo"], ed["hi"])] if ed else ["-", "-"])
            xrows = [[Num(k["x"]), Interval(k["lo"], k["hi"], open_lo="below the range",
                                            open_hi="beyond the range"),
                      Pct(k["share"]), *ecells] for k in c.crossovers]
            if not xrows:
                xrows = [["none in range", "-", Pct(c.share_any_crossover), *ecells]]
            sec.tables.append(Table(
                caption=f"{ctx}: crossovers of {la} and {lb} ({c.level:.0%} intervals; share "
                "of bootstrap replicates that cross there) and the difference of their "
                "large-compute exponents",
                header=["crossover", f"{c.level:.0%} interval", "replicates crossing",
                        "alpha_a - alpha_b", f"{c.level:.0%} interval"],
                rows=xrows,
            ))
    return sec


REPORT_NEEDS_INTERVALS = "a report is made of intervals"


@dataclass(frozen=True)
class ReportOptions:
    """What a report shows beyond the fits: its ``title``, the compute values ``at`` of the
    comparison tables (default: each pair's largest measured compute and 10x it), and the
    held-out check's threshold: ``holdout`` (a compute value) or, by default, each group's
    largest compute / ``holdout_factor``. Checked once, when made."""

    title: str = "scalecmp report"
    at: tuple[float, ...] | None = None
    holdout: float | None = None
    holdout_factor: float = HOLDOUT_FACTOR

    def __post_init__(self) -> None:
        if self.holdout is not None:
            check_positive(self.holdout, "holdout", " (compute threshold)")
        check_holdout_factor(self.holdout_factor)
        if self.at is not None:
            object.__setattr__(self, "at", tuple(check_at(self.at)))


@dataclass(frozen=True)
class Precomputed:
    """Results the caller already computed on the same rows with the same options, shown
    instead of computing them again (the demo's: one fit from its printed lines to its
    report): ``holdout`` (a :class:`HoldoutResult`), ``cosine_gap``
    (:func:`scalecmp.holdout.cosine_gap`), ``fits`` (series key, a tuple of the ``series``
    columns' values -> the :class:`FitResult` of that section's rows)."""

    holdout: HoldoutResult | None = None
    cosine_gap: pd.DataFrame | None = None
    fits: Mapping[tuple, FitResult] = field(default_factory=dict)
    #: further checks shown after the first, each (section title, result): the demo's
    #: check of its smooth losses
    more_holdouts: tuple[tuple[str, HoldoutResult], ...] = ()
    #: series key -> the ``compare`` of that series' fit (made with ``report.at``)
    comparisons: Mapping[tuple, Any] = field(default_factory=dict)
    #: sections appended after the series (the demo's compute-optimal allocation)
    more_sections: tuple[Section, ...] = ()
    #: sections right after the checks (the demo's seed noise)
    lead_sections: tuple[Section, ...] = ()


def _report_options(report: Any) -> ReportOptions:
    """``report`` as given (a :class:`ReportOptions`), its default for ``None``; anything
    else (a dict of its fields) is a one-line :class:`UsageError`."""
    if report is None:
        return ReportOptions()
    if not isinstance(report, ReportOptions):
        raise UsageError(f"report must be a ReportOptions (e.g. ReportOptions(title=...)), "
                         f"got {type(report).__name__}")
    return report


def _holdout(frame: pd.DataFrame, *, x: str, y: str, by: list[str], series: list[str],
             maximize: bool, report: ReportOptions, options: FitOptions) -> HoldoutResult:
    """:func:`scalecmp.holdout.holdout_check` with the report's options; a check that
    cannot be made is a failed check with the reason as its note."""
    try:
        return holdout_check(frame, x=x, y=y, by=by, series=series, maximize=maximize,
                             threshold=report.holdout, holdout_factor=report.holdout_factor,
                             options=options)
    except ScalecmpError as exc:
        return HoldoutResult.not_made(str(exc), x=x, y=y, by=by, series=series,
                                      maximize=maximize, level=options.level,
                                      threshold=report.holdout,
                                      holdout_factor=report.holdout_factor)


def build_sections(
    frame: pd.DataFrame,
    *,
    x: str = "gflops_total",
    y: str = "value",
    by: str | Sequence[str] | None = None,
    series: str | Sequence[str] | None = None,
    maximize: bool = False,
    where: Sequence[str] | None = None,
    options: FitOptions | None = None,
    report: ReportOptions | None = None,
    precomputed: Precomputed | None = None,
) -> list[Section]:
    """The held-out check first, then the cosine check (when ``precomputed.cosine_gap`` is
    given), then one section per series: fit, compare. A series that cannot be fitted
    becomes a section with its error as a note. Every fit uses ``options`` (a
    :class:`FitOptions`; default ``FitOptions()``).

    The held-out check (:func:`scalecmp.holdout.holdout_check`, with the same options) fits
    each (series, group) on its runs with compute ``<= report.holdout`` (default: the
    group's largest compute / ``report.holdout_factor``) and predicts its frontier runs
    above; what ``precomputed`` holds is shown instead of being computed again."""
    maximize = check_flag(maximize, "maximize")
    options = FitOptions() if options is None else options
    report = _report_options(report)
    ready = Precomputed() if precomputed is None else precomputed
    by_l = [by] if isinstance(by, str) else list(by or [])
    series_l = [series] if isinstance(series, str) else list(series or [])
    check_series_by(series_l, by_l)
    frame = apply_where(as_frame(frame), where)
    if frame.empty:
        raise DataError("no rows to report on (the frame is empty)")
    for col, opt in [(c, "series") for c in series_l] + [(c, "by") for c in by_l]:
        if col not in frame.columns:
            cols = ", ".join(map(str, frame.columns))
            raise DataError(f"{opt}: no column '{col}' (columns: {cols})")
        check_unique(frame, col, opt)
    if series_l:  # a row without a section would vanish from every section: say so
        blank = frame[series_l].isna().any(axis=1)
        if blank.all():
            raise DataError(f"series: every row has no value in {', '.join(series_l)}")
        if blank.any():
            warnings.warn(f"series: left out {int(blank.sum())} of {len(frame)} rows with no "
                          f"value in {', '.join(c for c in series_l if frame[c].isna().any())}",
                          ScalecmpWarning, stacklevel=2)
            frame = frame.loc[~blank]
    if report.holdout is not None and ready.holdout is None and x in frame.columns:
        # a threshold that leaves nothing to fit or to predict: said before any fit
        check_holdout_threshold(float(report.holdout),
                                pd.to_numeric(frame[x], errors="coerce"), "holdout")
    sections = [holdout_section(ready.holdout if ready.holdout is not None else _holdout(
        frame, x=x, y=y, by=by_l, series=series_l, maximize=maximize, report=report,
        options=options))]
    sections += [holdout_section(check, title) for title, check in ready.more_holdouts]
    sections += list(ready.lead_sections)
    if ready.cosine_gap is not None:
        sections.append(cosine_section(ready.cosine_gap, maximize=maximize))
    parts = frame.groupby(series_l, sort=True) if series_l else [((), frame)]
    for key, sub in parts:
        key = key if isinstance(key, tuple) else (key,)
        key_d = dict(zip(series_l, key, strict=True))
        title = " / ".join(str(k) for k in key) or y
        try:
            sections.append(_section(sub, key_d, x=x, y=y, by=by_l, maximize=maximize,
                                     options=options, at=report.at, fit=ready.fits.get(key),
                                     comparison=ready.comparisons.get(key)))
        except ScalecmpError as exc:
            sections.append(Section(title=title, context={k: str(v) for k, v in key_d.items()},
                                    notes=[f"not fitted: {exc}"]))
    return sections + list(ready.more_sections)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:2em}
.ctx{color:#555;font-size:.9em;margin-top:-.4em}
table{border-collapse:collapse;margin:1em 0;font-size:.85em}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0;max-width:1000px}
th,td{border-top:1px solid #ddd;border-bottom:1px solid #ddd;padding:.25em .5em;text-align:right}
td{white-space:nowrap}th{vertical-align:bottom}.tw{overflow-x:auto}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #444}
td.tnote{text-align:left;white-space:normal;color:#7a5a00;font-size:.95em;border-bottom:none}
.verdict{background:#f4f7fb;border-left:4px solid #1f77b4;padding:.5em .8em;margin:.6em 0}
.verdict.alert{background:#fdf0f0;border-left-color:#d62728;font-weight:600}
.note{color:#7a5a00;font-size:.85em}img{max-width:100%;height:auto}
figure{margin:1.2em 0}figcaption{font-size:.85em;color:#333;max-width:900px;margin-top:.3em}
"""


def _render_html(title: str, sections: list[Section], meta: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(one_line_text(title))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(one_line_text(title))}</h1>",
        f"<p>{html.escape(meta)}</p>",
    ]
    n_fig = 0
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.context:
            out.append(f'<p class="ctx">{html.escape(context_text(s.context, " · "))}</p>')
        cls = "verdict alert" if s.alert else "verdict"
        for v in s.verdicts:
            out.append(f'<p class="{cls}">{html_text(v)}</p>')
        for cap, png in s.figures:
            n_fig += 1
            b64 = base64.b64encode(png).decode("ascii")
            short = cap.split(". ")[0]
            out.append(
                f'<figure><img alt="Figure {n_fig}: {html.escape(short)}" '
                f'src="data:image/png;base64,{b64}">'
                f"<figcaption><b>Figure {n_fig}.</b> {html_text(cap)}</figcaption></figure>"
            )
        out += [f'<div class="tw">{t.html()}</div>' for t in s.tables]
        out += [f'<p class="note">{html_text(n)}</p>' for n in s.notes]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _render_md(title: str, sections: list[Section], meta: str) -> str:
    line = one_line_text  # a title or value with a line break must not start a new line
    out = [f"# {line(title)}", "", line(meta), ""]
    n_fig = 0
    for s in sections:
        out += [f"## {line(s.title)}", ""]
        if s.context:
            out += [line(context_text(s.context, " · ")), ""]
        out += [f"> {'**' + line(v) + '**' if s.alert else line(v)}\n" for v in s.verdicts]
        for cap, _ in s.figures:
            n_fig += 1
            out += [f"*Figure {n_fig} (in report.html): {line(cap)}*", ""]
        out += [t.markdown() for t in s.tables]
        out += [f"*Note: {line(n)}*\n" for n in s.notes]
    return "\n".join(out)


def _render_tex(title: str, sections: list[Section], meta: str) -> str:
    line = one_line_text  # a comment ends at a line break: what follows would be LaTeX
    out = [
        f"% {latex_escape(title)}",
        f"% {line(meta)}",
        "% Tables generated by scalecmp; needs \\usepackage{booktabs}.",
        "",
    ]
    for s in sections:
        out.append(f"% --- {latex_escape(s.title)} ---")
        for v in s.verdicts:
            out.append("% " + line(v))
        out += [t.latex() for t in s.tables]
        out += ["% Note: " + line(n) for n in s.notes]
    return "\n".join(out)


def check_report_options(options: FitOptions) -> None:
    """What a report asks of the fit's options beyond their own checks (before any work:
    the sections would otherwise turn a bad option into a note per section): bootstrap
    intervals and laws of compute alone."""
    check_compare_options(options, purpose=REPORT_NEEDS_INTERVALS,
                          needs="a report fits laws of compute alone")


def write_report(
    frame: pd.DataFrame,
    out_dir: str | Path,
    *,
    x: str = "gflops_total",
    y: str = "value",
    by: str | Sequence[str] | None = None,
    series: str | Sequence[str] | None = None,
    maximize: bool = False,
    where: Sequence[str] | None = None,
    options: FitOptions | None = None,
    report: ReportOptions | None = None,
    precomputed: Precomputed | None = None,
    force: bool = False,
    inputs: Sequence[str | Path] = (),
    **option_values: Any,
) -> Path:
    """Write ``report.html`` (self-contained), ``report.md`` and ``report.tex`` into
    ``out_dir`` and return the path of ``report.html``.

    Existing files are never replaced unless ``force``; the check happens before any work.
    The three files are written as one transaction: all of them, or (on an error or an
    interrupt) none, the previous report whole.
    ``series`` columns split the frame into one section per value combination; ``by``
    columns define the groups that are fitted and compared within a section. How to fit:
    ``options`` (a :class:`FitOptions`) or its fields as keywords; what to show:
    ``report`` (:class:`ReportOptions`); ready results: ``precomputed``
    (:class:`Precomputed`; see :func:`build_sections`). Every option is checked before any
    work.
    """
    maximize = check_flag(maximize, "maximize")
    force = check_flag(force, "force")
    options = fit_options(options, **option_values)
    report = _report_options(report)
    check_report_options(options)
    out = check_output_dir(out_dir)
    paths = {ext: out / f"report.{ext}" for ext in ("html", "md", "tex")}
    for p in paths.values():
        check_output_path(p, force=force, inputs=inputs)
    sections = build_sections(frame, x=x, y=y, by=by, series=series, maximize=maximize,
                              where=where, options=options, report=report,
                              precomputed=precomputed)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    by_txt = ", ".join([by] if isinstance(by, str) else list(by or [])) or "-"
    meta = (
        f"Compute {x}{f' ({compute_unit(x)})' if compute_unit(x) else ''}, metric {y} "
        f"({'higher' if maximize else 'lower'} is better), groups by "
        f"{by_txt}; {options.n_bootstrap} bootstrap replicates, {options.level:.0%} "
        f"intervals, seed {options.random_state}; generated {stamp} by scalecmp."
    )
    texts = {"html": _render_html(report.title, sections, meta),
             "md": _render_md(report.title, sections, meta),
             "tex": _render_tex(report.title, sections, meta)}
    with output_transaction(force=force) as outputs:  # the three together, or none
        for ext, text in texts.items():
            outputs.add_text(paths[ext], text, name="out_dir")
    return paths["html"]
