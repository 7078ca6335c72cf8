"""Measurements in: CSV, Parquet and JSON Lines files into tidy pandas frames, plus filters.

A *measurement* is one row: a training run (or checkpoint) evaluated on one metric.
The engine needs a compute column ``x`` (> 0, e.g. ``gflops_total`` = GFLOPs per sample x
samples seen), a metric column ``y`` and optional grouping columns.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from scalecmp.errors import DataError, UsageError

__all__ = [
    "ScalecmpWarning",
    "Filter",
    "load_measurements",
    "parse_where",
    "apply_where",
    "prepare_measurements",
    "check_output_path",
    "json_safe",
    "atomic_write",
    "atomic_write_text",
    "write_json",
]


class ScalecmpWarning(UserWarning):
    """A recoverable problem with the data or the fit (rows dropped, degenerate fit, ...)."""


_READERS = {
    ".csv": lambda p: pd.read_csv(p),
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".parquet": lambda p: pd.read_parquet(p),
    ".pq": lambda p: pd.read_parquet(p),
    ".jsonl": lambda p: pd.read_json(p, lines=True),
    ".ndjson": lambda p: pd.read_json(p, lines=True),
    ".json": lambda p: pd.read_json(p, lines=True),
}


def load_measurements(path: str | Path) -> pd.DataFrame:
    """Read a measurement table from CSV (``.csv``/``.tsv``), Parquet or JSON Lines.

    Raises :class:`DataError` with a one-line message when the file is missing, has an
    unknown extension, cannot be parsed or holds no rows.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if p.is_dir():
        raise DataError(f"expected a file, got a directory: {p}")
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(_READERS))
        raise DataError(f"unknown file type '{p.suffix}' for {p} (known: {known})")
    try:
        frame = reader(p)
    except Exception as exc:  # parser errors differ by format; report them in one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {p}: {msg}") from exc
    if len(frame) == 0:
        raise DataError(f"no rows in {p}")
    return frame


_OPS = {
    "<=": operator.le,
    ">=": operator.ge,
    "!=": operator.ne,
    "==": operator.eq,
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
_WHERE_RE = re.compile(r"^\s*([^<>=!]+?)\s*(<=|>=|!=|==|=|<|>)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Filter:
    """One ``--where`` condition: ``column op value`` (op in =, ==, !=, <, <=, >, >=)."""

    column: str
    op: str
    value: str

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Boolean row mask; numeric comparison when the column is numeric."""
        if self.column not in frame.columns:
            raise DataError(f"--where: no column '{self.column}' (columns: {_cols(frame)})")
        col = frame[self.column]
        value: Any = self.value
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            try:
                value = float(self.value)
            except ValueError:
                raise DataError(
                    f"--where {self}: column '{self.column}' is numeric, "
                    f"'{self.value}' is not a number"
                ) from None
        elif self.op not in ("=", "==", "!="):
            raise DataError(f"--where {self}: '{self.op}' needs a numeric column")
        elif pd.api.types.is_bool_dtype(col):
            value = self.value.lower() in ("1", "true", "yes")
        else:
            col = col.astype(str)
        return _OPS[self.op](col, value)

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"


def parse_where(expressions: Sequence[str] | None) -> list[Filter]:
    """Parse ``--where`` expressions: ``COL=VALUE`` and ``!=``, ``<``, ``<=``, ``>``, ``>=``."""
    filters = []
    for expr in expressions or ():
        m = _WHERE_RE.match(expr)
        if m is None or not m.group(1) or m.group(3) == "":
            raise UsageError(
                f"--where '{expr}': expected COL=VALUE, COL<VALUE, COL<=VALUE, COL>VALUE, "
                "COL>=VALUE or COL!=VALUE"
            )
        filters.append(Filter(m.group(1), m.group(2), m.group(3)))
    return filters


def apply_where(
    frame: pd.DataFrame, filters: Sequence[Filter] | Sequence[str] | None
) -> pd.DataFrame:
    """Rows that satisfy every filter (strings are parsed with :func:`parse_where`)."""
    if not filters:
        return frame
    parsed = [f if isinstance(f, Filter) else parse_where([f])[0] for f in filters]
    mask = np.ones(len(frame), dtype=bool)
    for f in parsed:
        mask &= f.mask(frame).to_numpy(dtype=bool)
    out = frame.loc[mask]
    if len(out) == 0:
        raise DataError("no rows left after --where " + " ".join(str(f) for f in parsed))
    return out


def _cols(frame: pd.DataFrame, limit: int = 12) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _require_column(frame: pd.DataFrame, column: str, option: str) -> None:
    if column not in frame.columns:
        raise DataError(f"{option}: no column '{column}' (columns: {_cols(frame)})")


def _numeric(frame: pd.DataFrame, column: str, option: str) -> pd.Series:
    col = frame[column]
    if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
        converted = pd.to_numeric(col, errors="coerce")
        bad = converted.isna() & col.notna()
        if bad.any():
            example = col[bad].iloc[0]
            raise DataError(
                f"{option}: column '{column}' has non-numeric values "
                f"({int(bad.sum())} rows, e.g. {example!r})"
            )
        col = converted
    return col.astype(float)


def prepare_measurements(
    frame: pd.DataFrame,
    x: str,
    y: str,
    *,
    x2: str | None = None,
    by: Sequence[str] | None = None,
    where: Sequence[str] | Sequence[Filter] | None = None,
    maximize: bool = False,
    x2_option: str = "--x2",
) -> pd.DataFrame:
    """Validate and clean the columns a fit uses; return a copy with float ``x``/``y`` columns.

    Checks, each failing with a one-line :class:`DataError`: columns exist, ``x`` (and ``x2``)
    and ``y`` are numeric, ``x > 0``, and with ``maximize`` that ``y`` lies in [0, 1].
    Rows with NaN in a used column are dropped with a :class:`ScalecmpWarning` that says how
    many. ``x2_option`` names the second input in messages. The result keeps every original
    column.
    """
    by = list(by or [])
    frame = apply_where(frame, where)
    options = [(x, "--x"), (y, "--y")] + ([(x2, x2_option)] if x2 else [])
    for column, option in options + [(b, "--by") for b in by]:
        _require_column(frame, column, option)
    out = frame.copy()
    for column, option in options:
        out[column] = _numeric(out, column, option)
    used = [c for c, _ in options] + by
    nan_rows = out[used].isna().any(axis=1)
    if nan_rows.any():
        warnings.warn(
            f"dropped {int(nan_rows.sum())} of {len(out)} rows with NaN in "
            + ", ".join(c for c in used if out[c].isna().any()),
            ScalecmpWarning,
            stacklevel=2,
        )
        out = out.loc[~nan_rows]
        if len(out) == 0:
            raise DataError("no rows left after dropping NaNs")
    for column, option in options[:1] + options[2:]:
        bad = out[column] <= 0
        if bad.any():
            raise DataError(
                f"{option}: column '{column}' must be > 0 (compute); "
                f"{int(bad.sum())} rows are <= 0, e.g. {out.loc[bad, column].iloc[0]:g}"
            )
    if not np.isfinite(out[[c for c, _ in options]].to_numpy()).all():
        raise DataError(f"infinite values in {', '.join(c for c, _ in options)}")
    if maximize:
        bad = (out[y] < 0) | (out[y] > 1)
        if bad.any():
            raise DataError(
                f"--maximize: column '{y}' must lie in [0, 1] (accuracy, recall, mIoU); "
                f"{int(bad.sum())} rows outside, e.g. {out.loc[bad, y].iloc[0]:g}"
            )
    return out


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by ``None`` (JSON's ``null``) and
    numpy scalars and arrays turned into Python values, so that ``json.dumps(...,
    allow_nan=False)`` writes strict JSON that any parser reads."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def check_output_path(
    path: str | Path, *, force: bool = False, inputs: Sequence[str | Path] = ()
) -> Path:
    """Refuse outputs that would destroy user data: an input file, or an existing file without
    ``force``. Creates the parent folder. Returns the path."""
    p = Path(path)
    for inp in inputs:
        if Path(inp).exists() and p.exists() and p.resolve() == Path(inp).resolve():
            raise UsageError(f"refusing to write output over input file {p}")
    if p.exists() and not force:
        raise UsageError(f"refusing to overwrite existing file {p} (pass --force to replace it)")
    if p.exists() and p.is_dir():
        raise UsageError(f"output path is a directory: {p}")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file through ``write(fh)`` into a temporary file beside ``path``, fsync it and
    rename it over ``path``: readers see the old file or the new one, never a torn write, and
    an interrupted write leaves the old file intact (the temporary file is removed)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as strict, indented JSON (NaN and infinities as null), atomically."""
    text = json.dumps(json_safe(payload), indent=2, allow_nan=False)
    return atomic_write_text(path, text + "\n")
