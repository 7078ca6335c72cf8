"""The one translation between the library's parameter names and the command line's flags.

The library's messages name its own parameters (``n_bootstrap must be ...``, ``pass
`force` ...``); :func:`to_flags` turns them into the flags a command-line user typed, and
:func:`one_line` into the one capped line the CLI prints (every error and warning passes
through it). Only the standard library is imported (the CLI loads it before numpy, pandas
and typer).
"""

from __future__ import annotations

import re

__all__ = ["LINE_LIMIT", "PARAM_FLAGS", "VALUE_LIMIT", "one_line", "to_flags"]

#: the most characters of one error or warning line the command line prints
LINE_LIMIT = 1000
#: the most characters of one value (a run without spaces) inside such a line
VALUE_LIMIT = 120

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
    "frontier_bins": "--frontier-bins",
    "loss": "--loss",
    "delta": "--huber-delta",
    "min_slope_ratio": "--min-slope-ratio",
    "pooling": "--pooling",
    "corpus_exclude": "--corpus-exclude",
    "workers": "--workers",
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
    "lasts": "--lasts",
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


_LONG_VALUE = re.compile(rf"\S{{{VALUE_LIMIT + 1},}}")


def _cut_value(m: re.Match) -> str:
    v = m.group(0)
    keep = VALUE_LIMIT - 40
    end = v[-1] if v[-1] in ",;:.)]}'\"`" else ""  # the punctuation after the value stays
    return f"{v[:keep]}...(+{len(v) - keep - len(end)} characters){end}"


def one_line(message: object) -> str:
    """A library message as the command line prints it: in its flags (:func:`to_flags`),
    on one line, each value longer than :data:`VALUE_LIMIT` characters cut with an
    ellipsis and the count of what was cut, and the line cut at :data:`LINE_LIMIT`
    (at a space) with the count of the characters left out."""
    msg = _LONG_VALUE.sub(_cut_value, to_flags(str(message)))
    if len(msg) <= LINE_LIMIT:
        return msg
    cut = msg.rfind(" ", LINE_LIMIT // 2, LINE_LIMIT - 40)
    cut = cut if cut > 0 else LINE_LIMIT - 40
    return f"{msg[:cut]} ... (+{len(msg) - cut} more characters)"
