"""The training commands: ``scalecmp grid run``, ``grid status``, ``grid collect`` and
``scalecmp demo``.

torch and :mod:`scalecmp.experiments` are imported inside the command functions only, so
that the analysis commands never import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalecmp.cli.common import ForceOpt, QuietOpt

SpecArg = Annotated[
    Path, typer.Argument(help="Grid spec (YAML); see examples/demo_grid.yaml.", show_default=False)
]
OutOpt = Annotated[
    Path, typer.Option("--out", help="Output folder: measurements.parquet, checkpoints/, evals/.")
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="cpu, cuda, cuda:N (default: the spec's, auto).")
]
ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", help="CPU threads for torch (default: torch's).")
]


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        from scalecmp.errors import UsageError

        if threads < 1:
            raise UsageError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


def _console():  # noqa: ANN202 - rich Console
    from rich.console import Console

    return Console(stderr=True)


ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="Where units run: local (this machine) or slurm "
                      "(one Slurm job per unit through submitit; the spec's cluster: block).")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the units to run (and, for slurm, the "
                       "submitit parameters) without training or submitting anything.")
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="slurm: wait until the submitted units end, then "
                       "compile the table (default: submit and return).")
]


def _print_plan(summary: dict) -> None:
    import json

    typer.echo(f"{summary['units']} unit(s) to run ({summary['jobs']} training runs; "
               f"{summary['done_before']}/{summary['cells']} cells done):")
    for unit in summary["plan"]:
        typer.echo(f"  {unit['unit']}: {unit['steps']} steps; " + "; ".join(unit["jobs"]))
    if "parameters" in summary:
        typer.echo("submitit parameters (AutoExecutor.update_parameters, one job per unit): "
                   + json.dumps(summary["parameters"], sort_keys=True))


def grid_run(spec: SpecArg, out: OutOpt, device: DeviceOpt = None,
             threads: ThreadsOpt = None, executor: ExecutorOpt = "local",
             dry_run: DryRunOpt = False, wait: WaitOpt = False,
             quiet: QuietOpt = False) -> None:
    """Train and evaluate the missing cells of a grid; rows go to OUT/shards/, compiled into
    OUT/measurements.parquet."""
    from scalecmp.errors import UsageError
    from scalecmp.experiments.grid import EXECUTORS, load_spec, run_grid

    if executor not in EXECUTORS:
        raise UsageError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if wait and executor != "slurm":
        raise UsageError("--wait applies to --executor slurm only (local runs always wait)")
    parsed = load_spec(spec)  # validated before anything runs
    _set_threads(threads)
    summary = run_grid(parsed, out, device=device, progress=not quiet and not dry_run,
                       console=_console(), executor=executor, wait=wait, dry_run=dry_run,
                       threads=threads)
    if summary.get("rank", 0) != 0:
        return
    if dry_run:
        _print_plan(summary)
        return
    if executor == "slurm":
        failed = summary.get("failed") or []
        ended = f", {len(failed)} ended without finishing" if failed else ""
        typer.echo(
            f"grid '{parsed.name}': {summary['done_after']}/{summary['cells']} cells done; "
            f"{len(summary['submitted'])} unit(s) submitted, {len(summary['active'])} left "
            f"queued/running{ended}; see: scalecmp grid status {spec} --out {out}"
        )
        return
    typer.echo(
        f"grid '{parsed.name}': {summary['done_after']}/{summary['cells']} cells done "
        f"({summary['done_after'] - summary['done_before']} new, "
        f"{summary['trained_steps']} steps trained, {summary['wall_s']:.0f} s); "
        f"table: {Path(out) / 'measurements.parquet'}"
    )
    if summary["failed"]:
        typer.echo(f"failed runs (non-finite loss): {', '.join(summary['failed'])}", err=True)


def grid_status(spec: SpecArg, out: OutOpt) -> None:
    """Show done / running / queued / failed / missing cells per procedure and size, with
    Slurm job ids and the last log line of a failed unit (compiles the table first)."""
    from rich.console import Console
    from rich.table import Table

    from scalecmp.experiments.grid import grid_status as status
    from scalecmp.experiments.grid import load_spec

    parsed = load_spec(spec)
    frame = status(parsed, out)
    table = Table(title=f"grid '{parsed.name}' in {out}")
    cols = ("procedure", "size", "done", "running", "queued", "failed", "missing",
            "checkpoints", "jobs")
    for col in cols:
        table.add_column(col, justify="left" if col in ("procedure", "size", "jobs")
                         else "right")
    for row in frame.itertuples(index=False):
        done = f"{row.done}/{row.cells}"
        style = ("green" if row.done == row.cells else "red" if row.failed
                 else "yellow" if row.done else None)
        table.add_row(row.procedure, row.size, done, str(row.running), str(row.queued),
                      str(row.failed), str(row.missing), str(row.checkpoints), row.jobs or "-",
                      style=style)
    Console(width=160).print(table)
    for row in frame.itertuples(index=False):
        if row.failure:
            typer.echo(f"failed: {row.procedure} {row.size}: {row.failure}")
    total = int(frame["cells"].sum())
    parts = [f"{int(frame[k].sum())} {k}" for k in ("running", "queued", "failed", "missing")]
    typer.echo(f"{int(frame['done'].sum())}/{total} cells done, " + ", ".join(parts))
    if not Path(out).exists():  # a grid not started, or a mistyped --out: say which
        typer.echo(f"note: there is no folder {out} yet: nothing of this grid has run there")


def grid_collect(
    spec: Annotated[Path | None, typer.Argument(
        help="Grid spec (optional): puts its rows in grid order.", show_default=False)] = None,
    *,
    out: OutOpt,
    quiet: QuietOpt = False,
) -> None:
    """Compile OUT/measurements.parquet from the result shards in OUT/shards/."""
    from scalecmp.experiments.grid import collect_grid, load_spec
    from scalecmp.experiments.store import measurements_path

    parsed = load_spec(spec) if spec is not None else None
    result = collect_grid(parsed, out)
    if quiet:
        return
    cells = (f"; {result['done']}/{result['cells']} cells of '{parsed.name}' done"
             if parsed is not None else "")
    typer.echo(f"{measurements_path(out)}: {result['rows']} rows from "
               f"{result['shards']} shard(s) ({'updated' if result['changed'] else 'unchanged'})"
               f"{cells}")


def demo(
    out: OutOpt = Path("runs/demo"),
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="Run this grid spec instead of the built-in demo grid."),
    ] = None,
    tiny: Annotated[
        bool, typer.Option("--tiny", help="A 2-size x 3-scale grid (seconds), for tests.")
    ] = False,
    n_bootstrap: Annotated[
        int, typer.Option("--n-bootstrap", help="Bootstrap replicates of the report's fits.")
    ] = 200,
    threads: Annotated[
        int,
        typer.Option("--threads", help="CPU threads for torch (1 is fastest for these tiny "
                     "models; batches are prepared in a second thread)."),
    ] = 1,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train CLIP and MaMMUT on the synthetic world, fit laws, compare, write report.html
    (a grid already in OUT resumes; its report files are replaced only with --force)."""
    from scalecmp.experiments.demo import run_demo

    _set_threads(threads)
    result = run_demo(out, spec=spec, tiny=tiny, n_bootstrap=n_bootstrap, progress=not quiet,
                      console=_console(), force=force)
    if result["report"] is not None:
        typer.echo(f"report: {result['report']}; every series, law and the cosine check: "
                   f"{result['summary']} ({result['wall_s']:.0f} s)")


def register(app: typer.Typer) -> None:
    """Add ``grid run``, ``grid status`` and ``demo`` to the ``scalecmp`` app."""
    grid = typer.Typer(
        name="grid",
        help="Train grids of procedures x sizes x samples seen into a measurement table.",
        no_args_is_help=True,
        add_completion=False,
    )
    grid.command("run")(grid_run)
    grid.command("status")(grid_status)
    grid.command("collect")(grid_collect)
    app.add_typer(grid, name="grid")
    app.command("demo")(demo)
