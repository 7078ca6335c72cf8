"""The training commands: ``scalecmp grid run``, ``scalecmp grid status`` and ``scalecmp demo``.

torch and :mod:`scalecmp.experiments` are imported inside the command functions only, so
that the analysis commands never import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalecmp.cli_common import QuietOpt

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


def grid_run(spec: SpecArg, out: OutOpt, device: DeviceOpt = None,
             threads: ThreadsOpt = None, quiet: QuietOpt = False) -> None:
    """Train and evaluate the missing cells of a grid; results go to OUT/measurements.parquet."""
    from scalecmp.experiments.grid import load_spec, run_grid

    parsed = load_spec(spec)  # validated before anything runs
    _set_threads(threads)
    summary = run_grid(parsed, out, device=device, progress=not quiet, console=_console())
    if summary.get("rank", 0) != 0:
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
    """Show done / missing cells per procedure and size."""
    from rich.table import Table

    from scalecmp.experiments.grid import grid_status as status
    from scalecmp.experiments.grid import load_spec

    parsed = load_spec(spec)
    frame = status(parsed, out)
    table = Table(title=f"grid '{parsed.name}' in {out}")
    for col in ("procedure", "size", "done", "missing", "checkpoints"):
        table.add_column(col, justify="left" if col in ("procedure", "size") else "right")
    for row in frame.itertuples(index=False):
        done = f"{row.done}/{row.cells}"
        style = "green" if row.missing == 0 else ("yellow" if row.done else None)
        table.add_row(row.procedure, row.size, done, str(row.missing), str(row.checkpoints),
                      style=style)
    from rich.console import Console

    Console().print(table)
    total, done_n = int(frame["cells"].sum()), int(frame["done"].sum())
    typer.echo(f"{done_n}/{total} cells done, {total - done_n} missing")


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
    quiet: QuietOpt = False,
) -> None:
    """Train CLIP and MaMMUT on the synthetic world, fit laws, compare, write report.html."""
    from scalecmp.experiments.demo import run_demo

    _set_threads(threads)
    result = run_demo(out, spec=spec, tiny=tiny, n_bootstrap=n_bootstrap, progress=not quiet,
                      console=_console())
    if result["report"] is not None:
        typer.echo(f"report: {result['report']} ({result['wall_s']:.0f} s)")


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
    app.add_typer(grid, name="grid")
    app.command("demo")(demo)
