"""CLI commands ``compare``, ``optimal`` and ``report`` (registered on the ``scalecmp`` app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalecmp.cli_common import (
    BootOpt,
    ByOpt,
    DataArg,
    ForceOpt,
    FrontierOpt,
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
    DEFAULT_FRONTIER,
    DEFAULT_LAW,
    DEFAULT_LOSS,
    DEFAULT_SLOPE_RATIO,
    DEFAULT_WEIGHTING,
)
from scalecmp.errors import UsageError

__all__ = ["register"]

AtOpt = Annotated[
    list[float] | None,
    typer.Option("--at", help="Compute at which to compare (repeatable; default: the largest "
                 "measured compute and 10x it)."),
]
ExtrapOpt = Annotated[
    float, typer.Option("--extrapolate", help="Compare up to this factor x the largest compute.")
]
_PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _check_common(level: float, n_bootstrap: int, plot: Path | None, minimum_boot: int) -> None:
    if not 0.0 < level < 1.0:
        raise UsageError(f"--level must lie in (0, 1), got {level:g}")
    if n_bootstrap < minimum_boot:
        raise UsageError(
            f"--n-bootstrap must be >= {minimum_boot} for intervals (got {n_bootstrap}); "
            "1000 recommended"
        )
    if plot is not None and plot.suffix.lower() not in _PLOT_SUFFIXES:
        raise UsageError(f"--plot: unsupported format '{plot.suffix}' (use .png, .pdf or .svg)")


def _outputs(data: Path, force: bool, *paths: Path | None) -> None:
    from scalecmp.io import check_output_path

    for p in paths:
        if p is not None:
            check_output_path(p, force=force, inputs=[data])


def _fmt(v: float | None) -> str:
    from scalecmp.report_tables import fmt_num

    return fmt_num(v)


def _ci(lo: float | None, hi: float | None) -> str:
    from scalecmp.report_tables import fmt_ci

    return fmt_ci(lo, hi)


def compare_cmd(
    data: DataArg,
    x: XOpt = "gflops_total",
    y: YOpt = "value",
    by: ByOpt = None,
    where: WhereOpt = None,
    maximize: MaximizeOpt = False,
    law: LawOpt = DEFAULT_LAW,
    preset: PresetOpt = None,
    frontier: FrontierOpt = DEFAULT_FRONTIER,
    loss: LossOpt = DEFAULT_LOSS,
    huber_delta: HuberDeltaOpt = DEFAULT_DELTA,
    min_slope_ratio: MinSlopeOpt = DEFAULT_SLOPE_RATIO,
    weighting: WeightingOpt = DEFAULT_WEIGHTING,
    n_bootstrap: BootOpt = 1000,
    level: LevelOpt = 0.95,
    seed: SeedOpt = 0,
    at: AtOpt = None,
    extrapolate: ExtrapOpt = 100.0,
    json_path: JsonOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
) -> None:
    """Compare every pair of --by groups: difference, P(better), crossovers, verdict.

    Also the compute multiplier (how much more compute b needs to match a) and the exponent
    difference, with bootstrap intervals."""
    from rich.console import Console
    from rich.table import Table

    from scalecmp.compare import compare, label_of
    from scalecmp.io import load_measurements, write_json

    if not by:
        raise UsageError("compare needs --by COL (the column whose groups are compared)")
    for v in at or []:
        if not v > 0:
            raise UsageError(f"--at must be > 0 (compute), got {v:g}")
    if not extrapolate >= 1.0:
        raise UsageError(f"--extrapolate must be >= 1, got {extrapolate:g}")
    _check_common(level, n_bootstrap, plot, 20)
    _outputs(data, force, json_path, plot)
    frame = load_measurements(data)
    res = compare(
        frame, x=x, y=y, by=by, maximize=maximize, at=at, law=law, frontier=frontier,
        n_bootstrap=n_bootstrap, level=level, random_state=seed, where=where,
        extrapolate=extrapolate, loss=loss, delta=huber_delta, min_slope_ratio=min_slope_ratio,
        weighting=weighting, preset=preset,
    )
    console = Console(width=max(Console().width, 120))
    for c in res:
        t = Table(title=f"{c.label_a} (a) vs {c.label_b} (b): {y}, {c.level:.0%} intervals")
        for col in (x, "y_a", "y_b", "a - b", "interval", "P(a better)", "better",
                    "b/a compute", "interval", "extrap."):
            t.add_column(col, justify="right")
        for e in c.at:
            t.add_row(
                _fmt(e["x"]), _fmt(e["y_a"]), _fmt(e["y_b"]), _fmt(e["diff"]),
                _ci(e["lo"], e["hi"]), f"{e['p_a_better']:.3f}",
                label_of(e["better"]) if e["better"] else "inconclusive",
                _fmt(e["compute_multiplier"]), _ci(*e["multiplier_ci"]),
                "yes" if e["extrapolated"] else "no",
            )
        console.print(t)
        if c.exponent_diff:
            ed = c.exponent_diff
            console.print(
                f"alpha_a - alpha_b = {_fmt(ed['value'])} {_ci(ed['lo'], ed['hi'])}",
                highlight=False,
            )
        console.print(f"[bold]Verdict:[/bold] {c.verdict}", highlight=False)
        console.print()
    if json_path is not None:
        write_json(json_path, res.to_dict())
        console.print(f"wrote {json_path}", highlight=False)
    if plot is not None:
        from scalecmp.compare_plot import plot_comparison

        plot_comparison(res, plot)
        console.print(f"wrote {plot}", highlight=False)


def optimal_cmd(
    data: DataArg,
    x: XOpt = "gflops_total",
    y: YOpt = "value",
    samples: Annotated[
        str, typer.Option("--samples", help="Samples-seen column (D).")
    ] = "samples_seen",
    size: Annotated[
        str | None,
        typer.Option("--params-col", "--size",
                     help="Model-size column (N: parameters or GFLOPs per sample); "
                     "default: N = x / samples."),
    ] = None,
    by: ByOpt = None,
    where: WhereOpt = None,
    maximize: MaximizeOpt = False,
    frontier: Annotated[
        str, typer.Option("--frontier", help="Frontier of runs: naive (default), binned, none.")
    ] = "naive",
    n_bootstrap: BootOpt = 1000,
    level: LevelOpt = 0.95,
    seed: SeedOpt = 0,
    predict_at: Annotated[
        list[float] | None,
        typer.Option("--predict-at", help="Compute at which to print D_opt, N_opt (repeatable)."),
    ] = None,
    compute_constant: Annotated[
        float | None,
        typer.Option("--compute-constant",
                     help="k_c in C = k_c N D for the Chinchilla route (default: 1 when N is "
                     "x / samples, else the median of x / (N D))."),
    ] = None,
    chinchilla: Annotated[
        bool, typer.Option("--chinchilla/--no-chinchilla", help="Also fit L(N, D).")
    ] = True,
    json_path: JsonOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
) -> None:
    """Compute-optimal allocation: D_opt(C) = k C^a, N_opt(C), and the Chinchilla route.

    The frontier route fits the samples seen (and model size) of the frontier runs against
    compute; the Chinchilla route fits L(N, D) and derives the allocation exponents."""
    from rich.console import Console
    from rich.table import Table

    from scalecmp.compare import label_of
    from scalecmp.io import load_measurements, write_json
    from scalecmp.optimal import optimal_allocation, plot_optimal

    for v in predict_at or []:
        if not v > 0:
            raise UsageError(f"--predict-at must be > 0 (compute), got {v:g}")
    if compute_constant is not None and not compute_constant > 0:
        raise UsageError(f"--compute-constant must be > 0, got {compute_constant:g}")
    _check_common(level, n_bootstrap, plot, 0)
    _outputs(data, force, json_path, plot)
    frame = load_measurements(data)
    res = optimal_allocation(
        frame, x=x, y=y, samples=samples, size=size, by=by, where=where, maximize=maximize,
        frontier=frontier, n_bootstrap=n_bootstrap, level=level, random_state=seed,
        chinchilla=chinchilla, compute_constant=compute_constant, predict_at=predict_at,
    )
    console = Console(width=max(Console().width, 120))
    t = Table(title=f"Compute-optimal allocation ({frontier} frontier; {level:.0%} intervals)")
    for col in ("group", "route", "quantity", "k", "k interval", "exponent", "interval"):
        t.add_column(col, justify="right")
    for g in res.groups:
        lab = label_of(g.key)
        for name, pf in (("D_opt", g.d_opt), ("N_opt", g.n_opt)):
            t.add_row(lab, "frontier", name, _fmt(pf.k), _ci(*pf.k_ci), _fmt(pf.a),
                      _ci(*pf.a_ci))
        if g.chinchilla is not None:
            d = g.chinchilla.to_dict()
            t.add_row(lab, f"chinchilla (k_c={_fmt(d['compute_constant'])})", "N_opt",
                      _fmt(d["n_opt"]["k"]), "", _fmt(d["a"]), _ci(*d["a_ci"]))
            t.add_row(lab, f"chinchilla (k_c={_fmt(d['compute_constant'])})", "D_opt",
                      _fmt(d["d_opt"]["k"]), "", _fmt(d["b"]), _ci(*d["b_ci"]))
    console.print(t)
    if predict_at:
        p = Table(title="Predicted allocation")
        for col in ("group", x, "D_opt", "interval", "N_opt", "interval", "Chinchilla D_opt",
                    "Chinchilla N_opt"):
            p.add_column(col, justify="right")
        for g in res.groups:
            for r in g.predictions():
                p.add_row(label_of(g.key), _fmt(r["x"]), _fmt(r["d_opt"]),
                          _ci(r["d_lo"], r["d_hi"]), _fmt(r["n_opt"]), _ci(r["n_lo"], r["n_hi"]),
                          _fmt(r.get("chinchilla_d_opt")), _fmt(r.get("chinchilla_n_opt")))
        console.print(p)
    if json_path is not None:
        write_json(json_path, res.to_dict())
        console.print(f"wrote {json_path}", highlight=False)
    if plot is not None:
        plot_optimal(res, plot)
        console.print(f"wrote {plot}", highlight=False)


def report_cmd(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="Output directory for report.html/.md/.tex.")],
    x: XOpt = "gflops_total",
    y: YOpt = "value",
    by: ByOpt = None,
    series: Annotated[
        list[str] | None,
        typer.Option("--series", help="Column splitting the data into report sections "
                     "(repeatable), e.g. --series downstream_dataset --series metric."),
    ] = None,
    where: WhereOpt = None,
    maximize: MaximizeOpt = False,
    law: LawOpt = DEFAULT_LAW,
    frontier: FrontierOpt = DEFAULT_FRONTIER,
    n_bootstrap: BootOpt = 1000,
    level: LevelOpt = 0.95,
    seed: SeedOpt = 0,
    at: AtOpt = None,
    holdout: Annotated[
        float | None,
        typer.Option("--holdout", help="Held-out check: fit on x <= this, predict the frontier "
                     "above (default: largest compute / 10)."),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Report title.")] = "scalecmp report",
    force: ForceOpt = False,
) -> None:
    """Write a self-contained HTML report (figures embedded) plus Markdown and LaTeX tables."""
    from scalecmp.io import load_measurements
    from scalecmp.report import write_report

    for v in at or []:
        if not v > 0:
            raise UsageError(f"--at must be > 0 (compute), got {v:g}")
    _check_common(level, n_bootstrap, None, 20)
    frame = load_measurements(data)
    path = write_report(
        frame, out, x=x, y=y, by=list(by or []), series=list(series or []), maximize=maximize,
        title=title, n_bootstrap=n_bootstrap, level=level, random_state=seed, force=force,
        law=law, frontier=frontier, at=at, holdout=holdout, where=where, inputs=[data],
    )
    typer.echo(f"wrote {path} (+ {path.with_suffix('.md').name}, {path.with_suffix('.tex').name})")


def register(app: typer.Typer) -> None:
    """Add ``compare``, ``optimal`` and ``report`` to the ``scalecmp`` app."""
    app.command("compare")(compare_cmd)
    app.command("optimal")(optimal_cmd)
    app.command("report")(report_cmd)
