"""Measurements in: CSV, Parquet, JSON Lines and JSON files into tidy pandas frames, plus
filters.

A *measurement* is one row: a training run (or checkpoint) evaluated on one metric.
The engine needs a compute column ``x`` (> 0, e.g. ``gflops_total`` = GFLOPs per sample x
samples seen), a metric column ``y`` and optional grouping columns.

This module reads and checks: the file readers (with sniffing that names the likely cause
of a misnamed or misseparated file), ``where`` filters, :func:`prepare_measurements`,
:func:`as_frame` and the forgotten-``maximize`` hint. Writing files is
:mod:`scalecmp.files`; reading a grid folder (``scalecmp grid run --out DIR``) is
:func:`scalecmp.experiments.shards.load_measurements` (``scalecmp.load_measurements``), which
hands files to :func:`load_measurement_file` here. Nothing here imports
:mod:`scalecmp.experiments`.
"""

from __future__ import annotations

import operator
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.errors import DataError, ScalecmpWarning, UsageError
from scalecmp.files import broken_link
from scalecmp.validate import check_flag

__all__ = [
    "Filter",
    "load_measurement_file",
    "parse_where",
    "apply_where",
    "as_frame",
    "check_distinct_columns",
    "check_unique",
    "prepare_measurements",
    "looks_higher_is_better",
]


def _read_delimited(p: Path, sep: str) -> pd.DataFrame:
    """A CSV/TSV file with its header's own column names: pandas renames a repeated name
    (``value``, ``value.1``), which would let the wrong copy be read silently; the names
    are restored so that :func:`check_unique` refuses a repeated column the analysis uses."""
    import csv

    frame = pd.read_csv(p, sep=sep)
    with open(p, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh, delimiter=sep), None)
    if header is not None and len(header) == frame.shape[1] and len(set(header)) < len(header):
        frame.columns = header
    return frame


_READERS = {
    ".csv": lambda p: _read_delimited(p, ","),
    ".tsv": lambda p: _read_delimited(p, "\t"),
    ".parquet": lambda p: pd.read_parquet(p),
    ".pq": lambda p: pd.read_parquet(p),
    ".jsonl": lambda p: pd.read_json(p, lines=True),
    ".ndjson": lambda p: pd.read_json(p, lines=True),
    ".json": lambda p: _read_json(p),
}


def _json_kind(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(v), "a number")


def _read_json(p: Path) -> pd.DataFrame:
    """A ``.json`` file as a table: an array of records (``[{"col": v, ...}, ...]``, what
    ``DataFrame.to_json(orient="records")`` writes), an object of columns (``{"col": [v,
    ...]}`` or pandas' default ``{"col": {"0": v, ...}}``), pandas' ``orient="split"`` and
    ``"table"``, one record, or JSON Lines (one record per line). Any other JSON is a
    one-line :class:`DataError` that says what it holds."""
    import json

    text = p.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise pd.errors.EmptyDataError("empty")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several documents: JSON Lines
            return pd.read_json(p, lines=True)
        raise DataError(f"cannot read {p}: not valid JSON ({exc.msg} at line {exc.lineno}, "
                        f"column {exc.colno})") from None
    expected = ("expected an array of records ([{\"column\": value, ...}, ...]), an object "
                "of columns or JSON Lines")
    if isinstance(obj, list):
        bad = [v for v in obj if not isinstance(v, dict)]
        if bad:
            raise DataError(f"cannot read {p}: a JSON array of {len(obj)} items, "
                            f"{len(bad)} of them not records (item {obj.index(bad[0])} is "
                            f"{_json_kind(bad[0])}); {expected}")
        return pd.DataFrame.from_records(obj) if obj else pd.DataFrame()
    if isinstance(obj, dict) and isinstance(obj.get("data"), list) and (
            "columns" in obj or "schema" in obj):  # pandas' orient="split" and "table"
        data = obj["data"]
        if "columns" in obj and all(isinstance(r, list) for r in data):
            try:
                return pd.DataFrame(data, columns=obj["columns"])
            except (ValueError, TypeError) as exc:
                raise DataError(f"cannot read {p}: its columns and data do not form a table "
                                f"({' '.join(str(exc).split())})") from None
        if all(isinstance(r, dict) for r in data):
            frame = pd.DataFrame.from_records(data) if data else pd.DataFrame()
            return frame.drop(columns=["index"]) if "schema" in obj and "index" in frame else frame
    if isinstance(obj, dict):
        values = list(obj.values())
        if values and all(isinstance(v, list | dict) for v in values):
            try:  # pandas' default {"col": {"0": v}}: the row labels are not data
                return pd.DataFrame(obj).reset_index(drop=True)
            except ValueError as exc:  # columns of different lengths
                raise DataError(f"cannot read {p}: an object of columns that do not form a "
                                f"table ({' '.join(str(exc).split())})") from None
        if any(isinstance(v, list | dict) for v in values):
            raise DataError(f"cannot read {p}: a JSON object that mixes columns (arrays) "
                            f"and single values; {expected}")
        return pd.DataFrame([obj])
    raise DataError(f"cannot read {p}: the JSON holds {_json_kind(obj)}, not a table; "
                    f"{expected}")


_TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _sniff(p: Path) -> None:
    """Name the likely cause of a file that its suffix's reader would fail on, or misread
    (binary content in a text file, a CSV with another separator), before parsing it."""
    suffix = p.suffix.lower()
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if suffix in _TEXT_SUFFIXES:
        if head.startswith(b"PAR1"):
            raise DataError(
                f"{p} looks like a Parquet file (it starts with PAR1) but is named "
                f"'{p.suffix}': rename it to .parquet"
            )
        if head.startswith(b"\x1f\x8b"):
            raise DataError(f"{p} looks gzip-compressed: decompress it first")
        if b"\x00" in head:
            raise DataError(f"{p} is a binary file, not {suffix[1:].upper()} text")
    elif head and not head.startswith(b"PAR1") and b"\x00" not in head:
        raise DataError(f"cannot read {p} as Parquet: it looks like text (CSV files need "
                        "the .csv suffix, JSON Lines .jsonl)")
    if suffix in (".csv", ".tsv"):
        first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        own = "," if suffix == ".csv" else "\t"
        if own not in first:
            for sep, word in (*_SEPARATORS.items(), (",", "comma")):
                if sep != own and sep in first:
                    fix = ("name it .tsv" if sep == "\t" else "name it .csv" if sep == ","
                           else f"convert it, e.g. pandas.read_csv(path, sep='{sep}')"
                           ".to_csv(new_path, index=False)")
                    raise DataError(
                        f"{p}: the header line looks {word}-separated ({first.strip()[:60]!r}); "
                        f"{suffix[1:]} files are read {'comma' if own == ',' else 'tab'}-"
                        f"separated: {fix}"
                    )


def load_measurement_file(path: str | Path) -> pd.DataFrame:
    """Read a measurement table from CSV (``.csv``/``.tsv``), Parquet, JSON Lines
    (``.jsonl``/``.ndjson``) or JSON (``.json``: an array of records, an object of columns,
    or JSON Lines).

    Raises :class:`DataError` with a one-line message when the file is missing, has an
    unknown extension, cannot be parsed or holds no rows; the message names the likely
    cause (Parquet content in a ``.csv``, a ``;``-separated CSV, binary content). A folder
    is not read here: ``scalecmp.load_measurements``
    (:func:`scalecmp.experiments.shards.load_measurements`) reads files and grid folders.
    """
    p = Path(path)
    if not p.exists():
        why = broken_link(p)
        raise DataError(f"cannot read {p}: it is {why}" if why else f"file not found: {p}")
    if p.is_dir():
        raise DataError(f"expected a file, got a directory: {p}")
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(_READERS))
        raise DataError(f"unknown file type '{p.suffix}' for {p} (known: {known})")
    try:
        if p.is_file():
            _sniff(p)
        frame = reader(p)
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(
            f"cannot read {p}: not UTF-8 text (byte {exc.start}); is it a binary file?"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"cannot read {p}: the file is empty") from exc
    except Exception as exc:  # parser errors differ by format; report them in one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {p}: {msg}") from exc
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"cannot read {p}: expected a table of rows")
    if len(frame) == 0:
        raise DataError(f"no rows in {p}")
    frame.columns = [str(c) for c in frame.columns]
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
            raise DataError(f"where: no column '{self.column}' (columns: {_cols(frame)})")
        check_unique(frame, self.column, "where")
        col = frame[self.column]
        value: Any = self.value
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            try:
                value = float(self.value)
            except ValueError:
                raise DataError(
                    f"where {self}: column '{self.column}' is numeric, "
                    f"'{self.value}' is not a number"
                ) from None
        elif self.op not in ("=", "==", "!="):
            raise DataError(f"where {self}: '{self.op}' needs a numeric column")
        elif pd.api.types.is_bool_dtype(col):
            value = self.value.lower() in ("1", "true", "yes")
        else:
            col = col.astype(str)
        return _OPS[self.op](col, value)

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"


def parse_where(expressions: Sequence[str] | None) -> list[Filter]:
    """Parse ``--where`` expressions: ``COL=VALUE`` and ``!=``, ``<``, ``<=``, ``>``, ``>=``
    (one expression given as text is a list of one)."""
    if isinstance(expressions, str):  # not its characters, one by one
        expressions = [expressions]
    filters = []
    for expr in expressions or ():
        m = _WHERE_RE.match(expr)
        if m is None or not m.group(1) or m.group(3) == "":
            raise UsageError(
                f"where '{expr}': expected COL=VALUE, COL<VALUE, COL<=VALUE, COL>VALUE, "
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
    if isinstance(filters, str | Filter):
        filters = [filters]
    parsed = [f if isinstance(f, Filter) else parse_where([f])[0] for f in filters]
    mask = np.ones(len(frame), dtype=bool)
    for f in parsed:
        mask &= f.mask(frame).to_numpy(dtype=bool)
    out = frame.loc[mask]
    if len(out) == 0:
        raise DataError("no rows left after `where` " + " ".join(str(f) for f in parsed))
    return out


def _cols(frame: pd.DataFrame, limit: int = 12) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _require_column(frame: pd.DataFrame, column: str, option: str) -> None:
    if column not in frame.columns:
        raise DataError(f"{option}: no column '{column}' (columns: {_cols(frame)})")
    check_unique(frame, column, option)


def check_distinct_columns(uses: Sequence[tuple[str | None, str]]) -> None:
    """One column, one role: ``uses`` pairs a column with the parameter that reads it
    (``("value", "y")``); a column read as two of ``x``, ``y``, ``x2``, ``samples`` or a
    group (``by``) is a one-line :class:`UsageError` (a law of ``value`` against ``value``
    fits, and means nothing)."""
    role: dict[str, str] = {}
    for column, option in uses:
        if column is None:
            continue
        if column in role and role[column] != option:
            raise UsageError(f"{option}: column '{column}' is also `{role[column]}`; a "
                             "column can play one role only")
        role.setdefault(column, option)


def check_unique(frame: pd.DataFrame, column: Any, option: str) -> None:
    """A column the analysis reads must be one column: a name the frame holds twice (which
    pandas allows, and ``frame[name]`` then returns both) is a one-line
    :class:`DataError` naming ``option``."""
    n = int((frame.columns == column).sum()) if column in frame.columns else 0
    if n > 1:
        raise DataError(
            f"{option}: the frame has {n} columns named '{column}': rename or drop the "
            "copies, e.g. frame.loc[:, ~frame.columns.duplicated()]"
        )


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


def looks_higher_is_better(x: np.ndarray, y: np.ndarray) -> bool:
    """True when ``y`` lies in [0, 1] and rises with ``x`` (rank correlation > 0.5): an
    accuracy read as an error, i.e. ``maximize`` was probably forgotten."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 4 or y.min() < 0 or y.max() > 1 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return False
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    return bool(np.corrcoef(rx, ry)[0, 1] > 0.5)


MAXIMIZE_HINT = "values lie in [0, 1] and rise with compute: did you mean `maximize`?"


def as_frame(frame: Any, name: str = "frame") -> pd.DataFrame:
    """``frame`` as a DataFrame: a DataFrame as it is, else what ``pd.DataFrame()`` takes (a
    dict of columns, a list of records); anything else is a one-line :class:`UsageError`
    naming ``name`` (the parameter it came as). Columns of several levels (a
    ``MultiIndex``) are a one-line :class:`DataError`: a column is named by one name."""
    if isinstance(frame, pd.DataFrame):
        if isinstance(frame.columns, pd.MultiIndex):
            raise DataError(
                f"the frame's columns have {frame.columns.nlevels} levels (a MultiIndex, e.g. "
                f"{frame.columns[0]!r}): flatten them first, e.g. frame.columns = "
                "['_'.join(map(str, c)) for c in frame.columns]"
            )
        return frame
    if isinstance(frame, str | Path):
        raise UsageError(f"{name} must be a table, got the path {frame!s}; read it with "
                         "scalecmp.load_measurements first")
    try:
        return pd.DataFrame(frame)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a pandas DataFrame (or a dict of columns, a list "
                         f"of records), got {type(frame).__name__}") from None


def prepare_measurements(
    frame: pd.DataFrame,
    x: str,
    y: str,
    *,
    x2: str | None = None,
    by: Sequence[str] | None = None,
    where: Sequence[str] | Sequence[Filter] | None = None,
    maximize: bool = False,
    x2_name: str = "x2",
) -> pd.DataFrame:
    """Validate and clean the columns a fit uses; return a copy with float ``x``/``y`` columns.

    Checks, each failing with a one-line :class:`DataError` that names the parameter
    (``x: no column 'gflops'``): columns exist, ``x`` (and ``x2``) and ``y`` are numeric
    and finite, ``x > 0``, and with ``maximize`` that ``y`` lies in [0, 1]. Rows with NaN in
    a used column are dropped, and rows repeated exactly are counted, each with a
    :class:`ScalecmpWarning`. ``x2_name`` names the second input in messages. The result
    keeps every original column.
    """
    by = list(by or [])
    maximize = check_flag(maximize, "maximize")
    frame = as_frame(frame)
    if frame.empty:
        raise DataError("no rows to fit (the frame is empty)")
    frame = apply_where(frame, where)
    options = [(x, "x"), (y, "y")] + ([(x2, x2_name)] if x2 else [])
    check_distinct_columns(options + [(b, "by") for b in by])
    for column, option in options + [(b, "by") for b in by]:
        _require_column(frame, column, option)
    dup = frame.duplicated()
    if dup.any():
        warnings.warn(
            f"{int(dup.sum())} of {len(frame)} rows repeat an earlier row exactly (kept; "
            "was the table concatenated twice?)",
            ScalecmpWarning,
            stacklevel=2,
        )
    out = frame.copy()
    for column, option in options:
        out[column] = _numeric(out, column, option)
    for b in by:  # mixed types (JSON Lines) cannot be sorted into groups: compare as text
        col = out[b]
        if col.dtype == object and col.dropna().map(type).nunique() > 1:
            out[b] = col.where(col.isna(), col.astype(str))
    used = list(dict.fromkeys([c for c, _ in options] + by))
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
    for column, option in options:
        inf = ~np.isfinite(out[column].to_numpy())
        if inf.any():
            raise DataError(
                f"{option}: column '{column}' has infinite values ({int(inf.sum())} rows)"
            )
    for column, option in options[:1] + options[2:]:
        bad = out[column] <= 0
        if bad.any():
            raise DataError(
                f"{option}: column '{column}' must be > 0 (compute); "
                f"{int(bad.sum())} rows are <= 0, e.g. {out.loc[bad, column].iloc[0]:g}"
            )
    if maximize:
        bad = (out[y] < 0) | (out[y] > 1)
        if bad.any():
            raise DataError(
                f"maximize: column '{y}' must lie in [0, 1] (accuracy, recall, mIoU); "
                f"{int(bad.sum())} rows outside, e.g. {out.loc[bad, y].iloc[0]:g}"
            )
    return out
