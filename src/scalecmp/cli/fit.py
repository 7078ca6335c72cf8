"""``scalecmp fit`` and ``scalecmp laws``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scalecmp.cli.common import (
    DEFAULT_FRONTIER_BINS,
    DEFAULT_X,
    DEFAULT_Y,
    BootOpt,
    BootstrapOpt,
    ByOpt,
    CorpusExcludeOpt,
    DataArg,
    ForceOpt,
    FrontierBinsOpt,
    FrontierOpt,
    HuberDeltaOpt,
    JsonOpt,
    LawOpt,
    LevelOpt,
    LossOpt,
    MaximizeOpt,
    MinSlopeOpt,
    PlotOpt,
    PoolingOpt,
    PredictAtOpt,
    PresetOpt,
    QuietOpt,
    SeedOpt,
    WeightingOpt,
    WhereOpt,
    WorkersOpt,
    XOpt,
    YOpt,
    build_options,
    check_outputs,
    check_plot,
    resolve_columns,
    write_outputs,
)
from scalecmp.cli.flags import one_line
from scalecmp.cli.progress import GroupProgress
from scalecmp.engine import FitOptions, FitResult, fit_frame
from scalecmp.engine.laws import LAWS
from scalecmp.errors import UsageError
from scalecmp.experiments.shards import load_measurements
from scalecmp.format import fmt_general as _fmt
from scalecmp.format import group_label
from scalecmp.validate import (
    check_bootstrap_memory,
    no_intervals_warning,
    parse_numbers,
    parse_pairs,
)

__all__ = ["register"]

#: what the progress of a fit counts: groups, or with pooling each group's two fits
PROGRESS_UNIT = {"none": "groups",
                 **dict.fromkeys(("series", "corpus"),
                                 "group fits (pooling fits each group twice)")}


def print_fit(result: FitResult, console: Console) -> None:
    """Rich tables: parameters with intervals per group, then predictions."""
    level = int(round(result.level * 100))
    for g in result.groups:
        if g.mode == "auto":
            mix = ", ".join(
                f"{c['name']} {c['weight']:.2f}" for c in g.fit.candidates if c["weight"] > 0
            )
            console.print(f"{g.label()}: law auto: {mix}", soft_wrap=True)
        if g.pooled_prior is not None:
            console.print(f"{g.label()}: {g.pooled_prior.describe()}", soft_wrap=True)
        title = f"{g.label()}  [{g.law.name}: {g.law.formula}]"
        t = Table(title=title, title_justify="left")
        t.add_column("param")
        t.add_column("estimate", justify="right")
        t.add_column(f"{level}% interval", justify="right")
        ci = g.params_ci
        for k, v in g.params.items():
            lo, hi = ci[k]
            t.add_row(k, _fmt(v), f"[{_fmt(lo)}, {_fmt(hi)}]")
        d = g.diagnostics
        t.caption = (
            f"{g.n_frontier} frontier points of {g.n_points}; x in "
            f"[{_fmt(g.x_range[0])}, {_fmt(g.x_range[1])}]; loss {d['loss']} "
            f"{d['objective']:.3g}; {d['n_reached_best']}/{d['n_starts']} starts reached the "
            f"best; at bound: {', '.join(d['params_at_bound']) or 'none'}"
        )
        console.print(t)
        for w in g.warnings:
            console.print(f"[yellow]warning[/yellow] {one_line(f'{g.label()}: {w}')}",
                          soft_wrap=True)
    for s in result.skipped:
        console.print(f"[yellow]skipped[/yellow] "
                      f"{one_line(group_label(s['key']) + ': ' + s['reason'])}",
                      soft_wrap=True)
    rows = [(g, p) for g in result.groups for p in g.predictions()]
    if rows:
        two = result.x2 is not None
        t = Table(title=f"predictions ({level}% prediction interval)", title_justify="left")
        cols = ("group", result.x, *((result.x2,) if two else ()), result.y, "lo", "hi",
                "extrapolated")
        for col in cols:
            t.add_column(col, justify="right" if col != "group" else "left")
        for g, p in rows:
            xc = p["x"] * p.get("x2", 1.0)
            extra = "yes" if (not two and xc > g.x_range[1]) else ("-" if two else "no")
            xs = (_fmt(p["x"]), *((_fmt(p["x2"]),) if two else ()))
            t.add_row(g.label(), *xs, _fmt(p["y"]), _fmt(p["lo"]), _fmt(p["hi"]), extra)
        console.print(t)


def fit_command(
    data: DataArg,
    x: XOpt = DEFAULT_X,
    y: YOpt = DEFAULT_Y,
    x2: Annotated[
        str | None, typer.Option("--x2", help="Second input of two-input laws (chinchilla: D).")
    ] = None,
    maximize: MaximizeOpt = False,
    by: ByOpt = None,
    where: WhereOpt = None,
    law: LawOpt = FitOptions.law,
    preset: PresetOpt = None,
    frontier: FrontierOpt = None,
    frontier_bins: FrontierBinsOpt = DEFAULT_FRONTIER_BINS,
    loss: LossOpt = FitOptions.loss,
    huber_delta: HuberDeltaOpt = FitOptions.delta,
    min_slope_ratio: MinSlopeOpt = FitOptions.min_slope_ratio,
    pooling: PoolingOpt = FitOptions.pooling,
    corpus_exclude: CorpusExcludeOpt = None,
    workers: WorkersOpt = str(FitOptions.workers),
    weighting: WeightingOpt = FitOptions.weighting,
    bootstrap: BootstrapOpt = FitOptions.bootstrap,
    n_bootstrap: BootOpt = FitOptions.n_bootstrap,
    level: LevelOpt = FitOptions.level,
    seed: SeedOpt = FitOptions.random_state,
    predict_at: PredictAtOpt = None,
    json_path: JsonOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fit a scaling law per group, with bootstrap intervals and predictions."""
    # 1. every option, before anything is read or fitted
    options = build_options(locals())
    two_inputs = x2 is not None if options.is_auto else options.n_inputs == 2
    if two_inputs and x2 is None:
        raise UsageError(f"law '{law}' has two inputs: pass `x2` (e.g. samples seen)")
    if x2 is not None and not two_inputs:
        raise UsageError(f"x2 is only used by two-input laws such as chinchilla, not '{law}'")
    if two_inputs:
        at, at2 = parse_pairs(predict_at, "predict_at")
    else:
        at, at2 = parse_numbers(predict_at, "predict_at"), None
    check_plot(plot)
    if plot is not None and two_inputs:
        raise UsageError(f"plot draws laws of compute; '{law}' has two inputs")
    # 2. every output
    outputs = check_outputs({"json": json_path, "plot": plot}, force=force, data=data)
    # 3. the data
    frame = load_measurements(data)
    by_cols = resolve_columns(by, frame.columns)
    check_bootstrap_memory(n_bootstrap, len(frame))
    no_intervals_warning(n_bootstrap)
    result = fit_frame(frame, x=x, y=y, x2=x2, by=by_cols, where=where, maximize=maximize,
                       predict_at=at, predict_at2=at2, options=options,
                       progress=GroupProgress(unit=PROGRESS_UNIT[options.pooling]))
    if not quiet:
        print_fit(result, Console())

    def draw(tmp: Path) -> None:
        from scalecmp.plots import plot_fit

        plot_fit(result, tmp)

    # 4. every output, together or none
    write_outputs(outputs, {"json": json_path, "plot": plot}, force=force, quiet=quiet,
                  payload=result.to_dict() if json_path is not None else None, draw=draw)


def laws_command(
    json_path: JsonOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List the scaling laws: name, formula, parameters (--json writes them as JSON)."""
    from scalecmp.files import check_outputs as _check

    outputs = _check({"json": json_path}, force=force)
    rows = [law.describe() for law in LAWS.values()]
    if not quiet:
        t = Table(title="scaling laws (error as a function of compute; lower is better)")
        for col in ("name", "formula", "params", "inputs"):
            t.add_column(col)
        t.add_row("auto (default)", "evidence-weighted mixture of the one-input laws below "
                  "and the study's recipe (chinchilla when --x2 is given)", "-", "1 or 2")
        for r in rows:
            t.add_row(r["name"], r["formula"], ", ".join(r["params"]), str(r["inputs"]))
        Console().print(t)
    write_outputs(outputs, {"json": json_path}, force=force, quiet=quiet, payload=rows)


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_command)
    app.command("laws")(laws_command)
