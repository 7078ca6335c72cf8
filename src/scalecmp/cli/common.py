"""The options of the analysis commands (``fit``, ``compare``, ``optimal``, ``report``),
defined once: an option has the same name, type, default, list syntax and help in every
command that has it (``tests/test_cli_contract.py`` compares them).

List options (``--by``, ``--series``, ``--predict-at``, ``--at``) take repeated values and
comma-separated ones alike (``--at 1e11 --at 1e12`` = ``--at 1e11,1e12``); ``--where`` only
repeated values, because a filter's value may contain a comma.

The command functions pass the library's parameter names on (``seed`` -> ``random_state``,
``huber_delta`` -> ``delta``); the library's messages name those, and ``scalecmp.cli``
translates them into these flags in one place (``scalecmp.cli.flags.PARAM_FLAGS``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from scalecmp.engine.options import FIELDS, FitOptions
from scalecmp.validate import check_workers, split_names

# --------------------------------------------------------------------------- defaults
# the fit options' defaults are FitOptions' own (FitOptions.level, ...): never repeated here
DEFAULT_X = "gflops_total"
DEFAULT_Y = "value"
DEFAULT_EXTRAPOLATE = 100.0

#: command-line parameter -> FitOptions field, where the names differ
_OPTION_FIELDS = {"huber_delta": "delta", "seed": "random_state"}

# --------------------------------------------------------------------------- options
DataArg = Annotated[
    Path,
    typer.Argument(
        help="Measurements: .csv, .tsv, .parquet, .jsonl or .json file.",
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
    list[str] | None,
    typer.Option(
        "--by",
        help="Group column(s), repeated or comma-separated (--by a --by b = --by a,b): one "
        "fit per group; compare, report and next compare the groups.",
    ),
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="Row filter COL=VALUE (also !=, <, <=, >, >=); repeat it for several, all must "
        "hold (not comma-separated: values may contain commas).",
    ),
]
LawOpt = Annotated[
    str,
    typer.Option(
        "--law",
        help="auto (laws weighted by backtests inside each series) or a law name "
        "(see `scalecmp laws`).",
    ),
]
FrontierOpt = Annotated[
    str | None,
    typer.Option(
        "--frontier",
        help="Runs fitted: binned (geometric compute bins, the study's), naive "
        "(non-dominated), none (every run). Default: binned for laws of compute, none for "
        "two-input laws (chinchilla), naive for optimal's D_opt and N_opt fits.",
        show_default=False,
    ),
]
FrontierBinsOpt = Annotated[
    str,
    typer.Option(
        "--frontier-bins",
        help="Bins of the binned frontier per doubling of the measured compute range (does "
        "not depend on the unit of x), or 'study': the study's count log2(x_max / 1500), "
        "for compute in GFLOPs (the laion2025 preset's).",
    ),
]
#: the command-line text of FitOptions' default bin count
DEFAULT_FRONTIER_BINS = f"{FitOptions.frontier_bins:g}"
LossOpt = Annotated[
    str,
    typer.Option(
        "--loss", help="Fit loss: huber_log, ls (raw least squares, the study's), log."
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
PoolingOpt = Annotated[
    str,
    typer.Option(
        "--pooling",
        help="none; series: the groups of the command inform each other (an "
        "empirical-Bayes prior on the slope at the data's edge and its shrink beyond, "
        "learnt from the other groups; needs >= 3 groups); or corpus: that prior learnt "
        "on the development corpus and shipped with scalecmp.",
    ),
]
CorpusExcludeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--corpus-exclude",
        help="Families of the development corpus left out of --pooling corpus's prior, "
        "repeated or comma-separated (laion2025 when your data are the study's).",
    ),
]
WorkersOpt = Annotated[
    str,
    typer.Option(
        "--workers",
        help="Processes that fit the groups side by side: an integer, or auto (the usable "
        "CPU cores). Used when there are more than 256 groups (or 2048 rows); the fits do "
        "not depend on it.",
    ),
]
WeightingOpt = Annotated[
    str, typer.Option("--weighting", help="Point weights: compute (rise with log x) or none.")
]
BootstrapOpt = Annotated[
    str, typer.Option("--bootstrap", help="Resampling: pairs (of frontier points) or residual.")
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
BootOpt = Annotated[
    int,
    typer.Option(
        "--n-bootstrap",
        help="Bootstrap replicates: 0 (no intervals; fit and optimal only) or >= 20.",
    ),
]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Random seed, an integer >= 0 (results are deterministic).")
]
PredictAtOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--predict-at",
        help="Compute value(s) to predict at (fit: the metric; optimal: D_opt, N_opt), "
        "repeated or comma-separated (1e11,1e12); N:D pairs for two-input laws (1e9:2e11).",
    ),
]
AtOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--at",
        help="Compute value(s) at which to compare, repeated or comma-separated (1e11,1e12); "
        "compare and report default to the largest measured compute and 10x it; next needs "
        "it.",
    ),
]
SamplesOpt = Annotated[str, typer.Option("--samples", help="Samples-seen column (D).")]
ExtrapOpt = Annotated[
    float,
    typer.Option("--extrapolate", help="Compare up to this factor x the largest compute (>= 1)."),
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write results as JSON here.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a figure (.png, .pdf, .svg).")]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace existing output files (regular files only).")
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q",
        help="Print no tables, training progress or 'wrote' lines; warnings, errors and "
        "the progress of a fit of many groups that runs longer than 5 s still go to stderr.",
    ),
]

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


# --------------------------------------------------------------------------- helpers
def build_options(params: Mapping[str, Any], **fixed: Any) -> FitOptions:
    """The one :class:`FitOptions` of a command, from its parameters (``locals()`` at its
    start: the fit options among them, by their field names or :data:`_OPTION_FIELDS`),
    with ``fixed`` values the command sets itself; checked here, once."""
    values = {_OPTION_FIELDS.get(k, k): v for k, v in params.items()}
    if isinstance(values.get("frontier_bins"), str):
        values["frontier_bins"] = _bins_value(values["frontier_bins"])
    if isinstance(values.get("workers"), str):  # "2" on the command line is 2
        values["workers"] = check_workers(values["workers"])
    if "corpus_exclude" in values:  # a list option: repeated and/or comma-separated
        values["corpus_exclude"] = tuple(split_names(values["corpus_exclude"] or []))
    return FitOptions(**{k: v for k, v in values.items() if k in FIELDS}, **fixed)


def _bins_value(text: str) -> float | str:
    """``--frontier-bins``: a number, or the word FitOptions checks (``study``)."""
    try:
        return float(text)
    except ValueError:
        return text.strip()


def check_plot(plot: Path | None) -> None:
    """A figure path must name a format matplotlib writes."""
    from scalecmp.errors import UsageError

    if plot is not None and plot.suffix.lower() not in FIGURE_SUFFIXES:
        raise UsageError(
            f"plot {plot}: unknown figure type '{plot.suffix}' (use "
            f"{', '.join(FIGURE_SUFFIXES)})"
        )


def check_outputs(outputs: Mapping[str, Path | None], *, force: bool, data: Path
                  ) -> dict[str, Path]:
    """Every output checked before any work (see :func:`scalecmp.files.check_outputs`):
    the data is an input, and so is everything under it when it is a grid folder."""
    from scalecmp.files import check_outputs as _check

    return _check(outputs, force=force, inputs=[data])


def resolve_columns(values: list[str] | None, columns: Any) -> list[str]:
    """A list option of column names: a value that names a column is kept whole (a column
    name may contain a comma), any other is split at commas."""
    from scalecmp.validate import split_names

    out: list[str] = []
    for v in values or []:
        for name in ([v] if v in set(columns) else split_names([v])):
            if name not in out:
                out.append(name)
    return out


def write_outputs(checked: Mapping[str, Path], named: Mapping[str, Path | None], *,
                  force: bool, quiet: bool, payload: Any = None,
                  draw: Callable[[Path], Any] | None = None) -> None:
    """Write a command's ``--json`` (``payload``) and ``--plot`` (``draw(tmp)`` writes the
    figure to a temporary file of the same suffix) as one transaction
    (:func:`scalecmp.files.output_transaction`): both are in place, or neither is and the
    files that were there stay whole. ``checked`` holds the paths :func:`check_outputs`
    returned, ``named`` the paths as the user named them. Then one ``wrote`` line each."""
    from scalecmp.files import output_transaction

    with output_transaction(force=force) as out:
        if "json" in checked:
            out.add_json(checked["json"], payload, name="json", shown=named["json"])
        if "plot" in checked and draw is not None:
            out.add(checked["plot"], draw, name="plot", shown=named["plot"])
    for key in ("json", "plot"):
        if key in checked:
            say(quiet, f"wrote {named[key]}")


def say(quiet: bool, text: str) -> None:
    """One line on stdout unless ``--quiet``."""
    if not quiet:
        print(text, file=sys.stdout, flush=True)
