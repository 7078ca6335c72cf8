"""Options shared by the analysis commands (``fit``, ``compare``, ``optimal``, ``report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataArg = Annotated[
    Path,
    typer.Argument(
        help="Measurements: .csv, .tsv, .parquet or .jsonl file.",
        metavar="DATA",
        show_default=False,
    ),
]
XOpt = Annotated[str, typer.Option("--x", help="Compute column (> 0), e.g. gflops_total.")]
YOpt = Annotated[str, typer.Option("--y", help="Metric column, e.g. value.")]
MaximizeOpt = Annotated[
    bool,
    typer.Option(
        "--maximize",
        help="The metric is higher-is-better in [0, 1] (accuracy, recall, mIoU): "
        "fitted as error = 1 - y, reported in the metric's units.",
    ),
]
ByOpt = Annotated[
    list[str] | None, typer.Option("--by", help="Group column (repeatable); one fit per group.")
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="Row filter COL=VALUE (also !=, <, <=, >, >=); repeatable, all must hold.",
    ),
]
LawOpt = Annotated[str, typer.Option("--law", help="Scaling law (see `scalecmp laws`).")]
FrontierOpt = Annotated[
    str,
    typer.Option("--frontier", help="Frontier: binned (the paper's), naive (non-dominated), none."),
]
LossOpt = Annotated[
    str,
    typer.Option(
        "--loss", help="Fit loss: huber_log (default), ls (raw least squares, the paper's), log."
    ),
]
LevelOpt = Annotated[float, typer.Option("--level", help="Interval level, in (0, 1).")]
BootOpt = Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap replicates (0: none).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (results are deterministic).")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write results as JSON here.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a figure (.png, .pdf, .svg).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing output files.")]
