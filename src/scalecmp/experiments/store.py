"""The measurement table: ``DIR/measurements.parquet``, appended atomically and deduplicated.

Every append takes an exclusive ``fcntl`` lock on ``DIR/.measurements.lock``, reads the
current table, concatenates the new rows, keeps the last row per cell key, writes the result
to a temporary file in the same folder, fsyncs it and ``os.replace``-s it over the table.
A process killed at any moment therefore leaves either the old or the new table, never a torn
one, and re-running a grid re-appends identical rows without duplicating them.

This module needs pandas and pyarrow only (no torch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from scalecmp.errors import DataError
from scalecmp.files import atomic_write, file_lock

__all__ = [
    "COLUMNS",
    "KEY",
    "TABLE_NAME",
    "append_measurements",
    "dedupe",
    "merge_rows",
    "normalise_rows",
    "read_table",
    "table_lock",
    "empty_table",
    "measurements_path",
    "read_measurements",
]

TABLE_NAME = "measurements.parquet"

#: column -> pandas dtype. Order is the table's column order.
COLUMNS: dict[str, str] = {
    "procedure": "string",
    "model": "string",
    "dataset": "string",
    "schedule": "string",
    "lr": "float64",
    "batch_size": "int64",
    "warmup": "int64",
    "cooldown": "float64",
    "cooldown_from": "int64",
    "seed": "int64",
    "samples_seen": "int64",
    "gflops_per_sample": "float64",
    "gflops_total": "float64",
    "params": "int64",
    "task": "string",
    "metric": "string",
    "value": "float64",
    "checkpoint": "string",
    "wall_s": "float64",
}

#: The cell key: one row per (training configuration, samples seen, task, metric).
KEY: tuple[str, ...] = (
    "procedure",
    "model",
    "dataset",
    "schedule",
    "lr",
    "batch_size",
    "warmup",
    "cooldown",
    "seed",
    "samples_seen",
    "task",
    "metric",
)

_DEFAULTS = {"cooldown": 0.0, "cooldown_from": -1, "checkpoint": "", "wall_s": float("nan")}


def measurements_path(out_dir: str | Path) -> Path:
    """``out_dir/measurements.parquet``."""
    return Path(out_dir) / TABLE_NAME


def normalise_rows(rows: pd.DataFrame | Iterable[Mapping]) -> pd.DataFrame:
    """``rows`` as a frame with the table's columns and dtypes (defaults filled in)."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for col, default in _DEFAULTS.items():
        if col not in frame.columns:
            frame[col] = default
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"measurement rows lack columns: {', '.join(missing)}")
    extra = [c for c in frame.columns if c not in COLUMNS]
    frame = frame[list(COLUMNS) + extra]
    try:
        frame = frame.astype({c: t for c, t in COLUMNS.items()})
    except (TypeError, ValueError) as exc:
        raise DataError(f"measurement rows have bad values: {exc}") from exc
    return frame.reset_index(drop=True)


def empty_table() -> pd.DataFrame:
    """A table with the right columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()})


def read_table(path: str | Path) -> pd.DataFrame:
    """A measurement table file (the table or a shard) as written; an empty table when
    there is none yet, a one-line :class:`DataError` when it cannot be read."""
    path = Path(path)
    if not path.exists():
        return empty_table()
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # a foreign or damaged file: say so in one line
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc


def read_measurements(out_dir: str | Path) -> pd.DataFrame:
    """The table under ``out_dir`` (an empty table when there is none yet)."""
    return read_table(measurements_path(out_dir))


def table_lock(out_dir: Path) -> contextlib.AbstractContextManager[None]:
    """An exclusive ``fcntl`` lock on ``out_dir/.measurements.lock`` (local filesystems;
    shards need no lock, see :mod:`scalecmp.experiments.shards`)."""
    return file_lock(Path(out_dir) / ".measurements.lock")


def dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the last row per :data:`KEY`, in first-seen order of the keys."""
    if frame.empty:
        return frame
    return frame.drop_duplicates(subset=list(KEY), keep="last").reset_index(drop=True)


def merge_rows(path: str | Path, rows: pd.DataFrame | Iterable[Mapping]) -> pd.DataFrame:
    """Add ``rows`` to the table file ``path`` and replace it atomically (temporary file,
    fsync, rename); rows with the key of an existing row replace it (last write wins).
    Returns the new table. The caller makes sure no one else writes ``path`` meanwhile."""
    new = normalise_rows(rows)
    old = read_table(path)
    if old.empty:
        table = new
    elif new.empty:
        table = old
    else:
        table = pd.concat([normalise_rows(old), new], ignore_index=True)
    table = dedupe(table)
    atomic_write(path, lambda fh: table.to_parquet(fh, index=False))
    return table


def append_measurements(out_dir: str | Path, rows: pd.DataFrame | Iterable[Mapping]) -> int:
    """Append ``rows`` to ``out_dir/measurements.parquet`` atomically, under
    :func:`table_lock`; returns the table's length.

    Rows with the key of an existing row replace it (last write wins).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with table_lock(out):
        return len(merge_rows(measurements_path(out), rows))

