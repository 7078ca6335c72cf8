"""``scalecmp fit`` and ``scalecmp laws``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scalecmp.cli_common import (
    BootOpt,
    ByOpt,
    DataArg,
    ForceOpt,
    HuberDeltaOpt,
    JsonOpt,
    LawOpt,
    LevelOpt,
    LossOpt,
    MaximizeOpt,
    MinSlopeOpt,
    PlotOpt,
    PresetOpt,
    SeedOpt,
    WeightingOpt,
    WhereOpt,
    XOpt,
    YOpt,
)
from scalecmp.engine import (
    DEFAULT_DELTA,
    DEFAULT_LAW,
    DEFAULT_LOSS,
    DEFAULT_SLOPE_RATIO,
    DEFAULT_WEIGHTING,
    FitResult,
    fit,
)
from scalecmp.errors import UsageError
from scalecmp.io import check_output_path, load_measurements, write_json
from scalecmp.laws import LAWS, get_law

__all__ = ["register", "parse_values"]


def parse_values(values: list[str] | None, option: str) -> list[float]:
    """Numbers from a repeatable option; each value may also be comma-separated."""
    out: list[float] = []
    for v in values or []:
        for part in str(v).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                num = float(part)
            except ValueError:
                raise UsageError(f"{option}: '{part}' is not a number") from None
            if not num > 0:
                raise UsageError(f"{option}: values must be > 0, got {part}")
            out.append(num)
    return out


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def parse_pairs(values: list[str] | None, option: str) -> tuple[list[float], list[float]]:
    """``N:D`` pairs (two-input laws) from a repeatable, comma-separable option."""
    ns: list[float] = []
    ds: list[float] = []
    for v in values or []:
        for part in str(v).split(","):
            part = part.strip()
            if not part:
                continue
            if ":" not in part:
                raise UsageError(f"{option}: a two-input law predicts at N:D pairs, got '{part}'")
            a, b = part.split(":", 1)
            ns += parse_values([a], option)
            ds += parse_values([b], option)
    return ns, ds


def print_fit(result: FitResult, console: Console) -> None:
    """Rich tables: parameters with intervals per group, then predictions."""
    level = int(round(result.level * 100))
    for g in result.groups:
        if g.mode == "auto":
            mix = ", ".join(
                f"{c['name']} {c['weight']:.2f}" for c in g.fit.candidates if c["weight"] > 0
            )
            console.print(f"{g.label()}: law auto: {mix}", soft_wrap=True)
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
            console.print(f"[yellow]warning[/yellow] {g.label()}: {w}", soft_wrap=True)
    for s in result.skipped:
        label = ", ".join(f"{k}={v}" for k, v in s["key"].items())
        console.print(f"[yellow]skipped[/yellow] {label}: {s['reason']}", soft_wrap=True)
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
    x: XOpt = "gflops_total",
    y: YOpt = "value",
    x2: Annotated[
        str | None, typer.Option("--x2", help="Second input of two-input laws (chinchilla: D).")
    ] = None,
    maximize: MaximizeOpt = False,
    by: ByOpt = None,
    where: WhereOpt = None,
    law: LawOpt = DEFAULT_LAW,
    preset: PresetOpt = None,
    frontier: Annotated[
        str | None,
        typer.Option(
            "--frontier",
            help="Frontier: binned (the paper's; default), naive (non-dominated), none "
            "(default for two-input laws such as chinchilla).",
        ),
    ] = None,
    loss: LossOpt = DEFAULT_LOSS,
    huber_delta: HuberDeltaOpt = DEFAULT_DELTA,
    min_slope_ratio: MinSlopeOpt = DEFAULT_SLOPE_RATIO,
    weighting: WeightingOpt = DEFAULT_WEIGHTING,
    bootstrap: Annotated[
        str, typer.Option("--bootstrap", help="Resampling: pairs or residual.")
    ] = "pairs",
    n_bootstrap: BootOpt = 1000,
    level: LevelOpt = 0.95,
    seed: SeedOpt = 0,
    predict_at: Annotated[
        list[str] | None,
        typer.Option(
            "--predict-at",
            help="Compute value(s) to predict at (repeatable, or 1e11,1e12); N:D pairs for "
            "two-input laws (1e9:2e11).",
        ),
    ] = None,
    json_path: JsonOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables on stdout.")] = False,
) -> None:
    """Fit a scaling law per group, with bootstrap intervals and predictions."""
    two_inputs = x2 is not None
    if law != DEFAULT_LAW:
        two_inputs = get_law(law).n_inputs == 2
    if two_inputs:
        at, at2 = parse_pairs(predict_at, "--predict-at")
    else:
        at, at2 = parse_values(predict_at, "--predict-at"), None
    if plot is not None:
        from scalecmp.plotting import check_figure_path

        check_figure_path(plot)
        if two_inputs:
            raise UsageError(f"--plot draws compute laws; '{law}' has two inputs")
    for p in (json_path, plot):
        if p is not None:
            check_output_path(p, force=force, inputs=[data])
    frame = load_measurements(data)
    result = fit(
        frame,
        x=x,
        y=y,
        x2=x2,
        by=by,
        where=where,
        maximize=maximize,
        law=law,
        loss=loss,
        delta=huber_delta,
        frontier=frontier,
        weighting=weighting,
        min_slope_ratio=min_slope_ratio,
        bootstrap=bootstrap,
        n_bootstrap=n_bootstrap,
        level=level,
        predict_at=at,
        predict_at2=at2,
        preset=preset,
        random_state=seed,
    )
    if not quiet:
        print_fit(result, Console())

    # the output paths were checked before fitting
    if json_path is not None:
        write_json(json_path, result.to_dict())
    if plot is not None:
        from scalecmp.plotting import plot_fit

        plot_fit(result, plot)
    for p in (json_path, plot):
        if p is not None and not quiet:
            print(f"wrote {p}")


def laws_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry as JSON.")] = False,
) -> None:
    """List the scaling laws: name, formula, parameters."""
    rows = [law.describe() for law in LAWS.values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table(title="scaling laws (error as a function of compute; lower is better)")
    for col in ("name", "formula", "params", "inputs"):
        t.add_column(col)
    t.add_row("auto (default)", "evidence-weighted mixture of the one-input laws below and "
              "the study's recipe (chinchilla when --x2 is given)", "-", "1 or 2")
    for r in rows:
        t.add_row(r["name"], r["formula"], ", ".join(r["params"]), str(r["inputs"]))
    Console().print(t)


def register(app: typer.Typer) -> None:
    app.command("fit")(fit_command)
    app.command("laws")(laws_command)
