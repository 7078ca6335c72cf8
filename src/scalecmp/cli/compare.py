"""CLI commands ``compare``, ``optimal`` and ``report`` (registered on the ``scalecmp`` app)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from scalecmp.cli.common import (
    DEFAULT_EXTRAPOLATE,
    DEFAULT_FRONTIER_BINS,
    DEFAULT_X,
    DEFAULT_Y,
    AtOpt,
    BootOpt,
    BootstrapOpt,
    ByOpt,
    CorpusExcludeOpt,
    DataArg,
    ExtrapOpt,
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
    SamplesOpt,
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
    say,
    write_outputs,
)
from scalecmp.engine import FitOptions
from scalecmp.errors import UsageError
from scalecmp.format import fmt_ci as _ci
from scalecmp.format import fmt_num as _fmt
from scalecmp.format import group_label
from scalecmp.validate import (
    MIN_REPLICATES,
    check_bootstrap_memory,
    check_factor,
    check_n_bootstrap,
    check_positive,
    check_series_by,
    no_intervals_warning,
    parse_numbers,
)

__all__ = ["register"]




def compare_cmd(
    data: DataArg,
    x: XOpt = DEFAULT_X,
    y: YOpt = DEFAULT_Y,
    by: ByOpt = None,
    where: WhereOpt = None,
    maximize: MaximizeOpt = False,
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
    at: AtOpt = None,
    extrapolate: ExtrapOpt = DEFAULT_EXTRAPOLATE,
    json_path: JsonOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Compare every pair of --by groups: difference, P(better), crossovers, verdict.

    Also the compute multiplier (how much more compute b needs to match a) and the exponent
    difference, with bootstrap intervals."""
    from rich.console import Console
    from rich.table import Table

    from scalecmp.compare import check_at, check_compare_options, compare
    from scalecmp.experiments.shards import load_measurements

    # 1. every option, before anything is read or fitted
    if not by:
        raise UsageError("by: compare needs the column(s) whose groups are compared")
    options = build_options(locals())
    check_compare_options(options)
    at_values = check_at(parse_numbers(at, "at") or None)
    check_factor(extrapolate, "extrapolate")  # and against the data's compute, before the fit
    check_plot(plot)
    # 2. every output
    outputs = check_outputs({"json": json_path, "plot": plot}, force=force, data=data)
    # 3. the data
    frame = load_measurements(data)
    check_bootstrap_memory(n_bootstrap, len(frame), compare=True)
    res = compare(
        frame, x=x, y=y, by=resolve_columns(by, frame.columns), maximize=maximize, at=at_values,
        where=where, extrapolate=extrapolate, options=options,
    )
    console = Console(width=max(Console().width, 120), quiet=quiet)
    for c in res:
        t = Table(title=f"{c.label_a} (a) vs {c.label_b} (b): {y}, {c.level:.0%} intervals")
        for col in (x, "y_a", "y_b", "a - b", "interval", "P(a better)", "better",
                    "b/a compute", "interval", "extrap."):
            t.add_column(col, justify="right")
        for e in c.at:
            t.add_row(
                _fmt(e["x"]), _fmt(e["y_a"]), _fmt(e["y_b"]), _fmt(e["diff"]),
                _ci(e["lo"], e["hi"]), f"{e['p_a_better']:.3f}",
                group_label(e["better"], names="several") if e["better"] else "inconclusive",
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

    def draw(tmp: Path) -> None:
        from scalecmp.plots import plot_comparison

        plot_comparison(res, tmp)

    # 4. every output, together or none
    write_outputs(outputs, {"json": json_path, "plot": plot}, force=force, quiet=quiet,
                  payload=res.to_dict() if json_path is not None else None, draw=draw)


def optimal_cmd(
    data: DataArg,
    x: XOpt = DEFAULT_X,
    y: YOpt = DEFAULT_Y,
    samples: SamplesOpt = "samples_seen",
    size: Annotated[
        str | None,
        typer.Option("--params-col", "--size",
                     help="Model-size column (N: parameters or GFLOPs per sample); "
                     "default: N = x / samples."),
    ] = None,
    by: ByOpt = None,
    where: WhereOpt = None,
    maximize: MaximizeOpt = False,
    frontier: FrontierOpt = None,
    frontier_bins: FrontierBinsOpt = DEFAULT_FRONTIER_BINS,
    n_bootstrap: BootOpt = FitOptions.n_bootstrap,
    level: LevelOpt = FitOptions.level,
    seed: SeedOpt = FitOptions.random_state,
    predict_at: PredictAtOpt = None,
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
    quiet: QuietOpt = False,
) -> None:
    """Compute-optimal allocation: D_opt(C) = k C^a, N_opt(C), and the Chinchilla route.

    The frontier route fits the samples seen (and model size) of the frontier runs against
    compute (the naive frontier unless --frontier says otherwise); the Chinchilla route fits
    L(N, D) to every run and derives the allocation exponents."""
    from rich.console import Console
    from rich.table import Table

    from scalecmp.experiments.shards import load_measurements
    from scalecmp.optimal import DEFAULT_FRONTIER, optimal_allocation

    # 1. every option, before anything is read or fitted
    options = build_options(locals())
    predict_values = parse_numbers(predict_at, "predict_at")
    if compute_constant is not None:
        check_positive(compute_constant, "compute_constant")
    frontier = frontier or DEFAULT_FRONTIER
    check_plot(plot)
    # 2. every output
    outputs = check_outputs({"json": json_path, "plot": plot}, force=force, data=data)
    # 3. the data
    frame = load_measurements(data)
    check_bootstrap_memory(n_bootstrap, len(frame))
    no_intervals_warning(n_bootstrap)
    res = optimal_allocation(
        frame, x=x, y=y, samples=samples, size=size, by=resolve_columns(by, frame.columns),
        where=where, maximize=maximize, chinchilla=chinchilla,
        compute_constant=compute_constant, predict_at=predict_values, options=options,
    )
    console = Console(width=max(Console().width, 120), quiet=quiet)
    t = Table(title=f"Compute-optimal allocation ({frontier} frontier; {level:.0%} intervals)")
    for col in ("group", "route", "quantity", "k", "k interval", "exponent", "interval"):
        t.add_column(col, justify="right")
    for g in res.groups:
        lab = group_label(g.key, names="several")
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
    if predict_values:
        p = Table(title="Predicted allocation")
        for col in ("group", x, "D_opt", "interval", "N_opt", "interval", "Chinchilla D_opt",
                    "Chinchilla N_opt"):
            p.add_column(col, justify="right")
        for g in res.groups:
            for r in g.predictions():
                p.add_row(group_label(g.key, names="several"), _fmt(r["x"]), _fmt(r["d_opt"]),
                          _ci(r["d_lo"], r["d_hi"]), _fmt(r["n_opt"]), _ci(r["n_lo"], r["n_hi"]),
                          _fmt(r.get("chinchilla_d_opt")), _fmt(r.get("chinchilla_n_opt")))
        console.print(p)

    def draw(tmp: Path) -> None:
        from scalecmp.plots import plot_optimal

        plot_optimal(res, tmp)

    # 4. every output, together or none
    write_outputs(outputs, {"json": json_path, "plot": plot}, force=force, quiet=quiet,
                  payload=res.to_dict() if json_path is not None else None, draw=draw)


def report_cmd(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", help="Output directory for report.html/.md/.tex.")],
    x: XOpt = DEFAULT_X,
    y: YOpt = DEFAULT_Y,
    by: ByOpt = None,
    series: Annotated[
        list[str] | None,
        typer.Option("--series", help="Column(s) splitting the data into report sections, "
                     "repeated or comma-separated (--series downstream_dataset,metric)."),
    ] = None,
    where: WhereOpt = None,
    maximize: MaximizeOpt = False,
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
    at: AtOpt = None,
    holdout: Annotated[
        float | None,
        typer.Option("--holdout", help="Held-out check, the report's first section: fit on "
                     "x <= this, predict the frontier above (default: each group's largest "
                     "compute / 10)."),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Report title.")] = "scalecmp report",
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a self-contained HTML report (figures embedded) plus Markdown and LaTeX tables."""
    from scalecmp.experiments.shards import load_measurements
    from scalecmp.files import check_output_dir, check_output_path
    from scalecmp.io import prepare_measurements
    from scalecmp.report import (
        REPORT_NEEDS_INTERVALS,
        ReportOptions,
        check_report_options,
        write_report,
    )

    # 1. every option, before anything is read or fitted
    # a report is made of intervals: say so before the generic check of the options
    check_n_bootstrap(n_bootstrap, minimum=MIN_REPLICATES, purpose=REPORT_NEEDS_INTERVALS)
    options = build_options(locals())
    check_report_options(options)
    report = ReportOptions(title=title, at=parse_numbers(at, "at") or None, holdout=holdout)
    # 2. every output
    check_output_dir(out)
    for name in ("report.html", "report.md", "report.tex"):
        check_output_path(out / name, force=force, inputs=[data], name="out_dir")
    # 3. the data: the columns every section needs, checked before the first section
    frame = load_measurements(data)
    by_cols = resolve_columns(by, frame.columns)
    series_cols = resolve_columns(series, frame.columns)
    check_series_by(series_cols, by_cols)
    for col in series_cols:
        if col not in frame.columns:
            from scalecmp.errors import DataError

            raise DataError(f"series: no column '{col}' (columns: "
                            f"{', '.join(map(str, frame.columns[:12]))})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sections report their own warnings
        prepare_measurements(frame, x, y, by=by_cols + series_cols, where=where,
                             maximize=maximize)
    check_bootstrap_memory(n_bootstrap, len(frame), compare=True)
    path = write_report(
        frame, out, x=x, y=y, by=by_cols, series=series_cols, maximize=maximize, where=where,
        options=options, report=report, force=force, inputs=[data],
    )
    say(quiet, f"wrote {path} (+ {path.with_suffix('.md').name}, "
        f"{path.with_suffix('.tex').name})")


def register(app: typer.Typer) -> None:
    """Add ``compare``, ``optimal`` and ``report`` to the ``scalecmp`` app."""
    app.command("compare")(compare_cmd)
    app.command("optimal")(optimal_cmd)
    app.command("report")(report_cmd)
