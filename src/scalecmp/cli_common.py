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
LawOpt = Annotated[
    str,
    typer.Option(
        "--law",
        help="auto (default: laws weighted by backtests inside each series) or a law name "
        "(see `scalecmp laws`).",
    ),
]
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
HuberDeltaOpt = Annotated[
    float,
    typer.Option("--huber-delta", help="Huber threshold of the huber_log loss, in log error."),
]
MinSlopeOpt = Annotated[
    float,
    typer.Option(
        "--min-slope-ratio",
        help="Slope prior: beyond the data the log-log slope may not shrink faster than "
        "this share per decade (relative to the data's own bend; 0: off).",
    ),
]
WeightingOpt = Annotated[
    str, typer.Option("--weighting", help="Point weights: compute (rise with log x) or none.")
]
PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="laion2025: exactly the study's recipe (binned frontier, least squares on "
        "A (x + B)^alpha + E from its 3,200 curve_fit starts; ~30 s per group).",
    ),
]
LevelOpt = Annotated[float, typer.Option("--level", help="Interval level, in (0, 1).")]
BootOpt = Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap replicates (0: none).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (results are deterministic).")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write results as JSON here.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a figure (.png, .pdf, .svg).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing output files.")]
