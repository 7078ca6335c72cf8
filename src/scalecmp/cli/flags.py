"""The one translation between the library's parameter names and the command line's flags.

The library's messages name its own parameters (``n_bootstrap must be ...``, ``pass
`force` ...``); :func:`to_flags` turns them into the flags a command-line user typed. Only
the standard library is imported (the CLI loads it before numpy, pandas and typer).
"""

from __future__ import annotations

import re

__all__ = ["PARAM_FLAGS", "to_flags"]

# library parameter name -> command-line flag (the one translation between the two)
PARAM_FLAGS: dict[str, str] = {
    "x": "--x",
    "y": "--y",
    "x2": "--x2",
    "by": "--by",
    "where": "--where",
    "maximize": "--maximize",
    "law": "--law",
    "preset": "--preset",
    "frontier": "--frontier",
    "loss": "--loss",
    "delta": "--huber-delta",
    "min_slope_ratio": "--min-slope-ratio",
    "weighting": "--weighting",
    "bootstrap": "--bootstrap",
    "n_bootstrap": "--n-bootstrap",
    "level": "--level",
    "random_state": "--seed",
    "predict_at": "--predict-at",
    "at": "--at",
    "extrapolate": "--extrapolate",
    "samples": "--samples",
    "size": "--params-col",
    "compute_constant": "--compute-constant",
    "series": "--series",
    "holdout": "--holdout",
    "title": "--title",
    "out_dir": "--out",
    "force": "--force",
    "json": "--json",
    "plot": "--plot",
    "quiet": "--quiet",
    "device": "--device",
    "candidates": "--candidates",
    "budget": "--budget",
    "objective": "--objective",
    "model": "--model-col",
    "n_draws": "--n-draws",
    "spec_out": "--spec-out",
}

_LEADING = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)(?=[\s:=]|$)")
_QUOTED = re.compile(r"`(?P<name>[a-z_][a-z0-9_]*)`")


def to_flags(message: str) -> str:
    """A library message in the command line's words: the parameter it starts with, and
    every parameter quoted in backticks, become flags (``n_bootstrap must be ...`` ->
    ``--n-bootstrap must be ...``). One line: newlines become spaces."""
    msg = " ".join(str(message).split())

    def flag(m: re.Match) -> str:
        return PARAM_FLAGS.get(m.group("name"), m.group(0))

    msg = _LEADING.sub(flag, msg, count=1)
    return _QUOTED.sub(flag, msg)
