"""Results without a global lock: one shard per training unit, compiled into the table.

Every training unit (:class:`scalecmp.experiments.plan.Unit`) writes its rows only to its own
file, ``DIR/shards/<unit-id>.parquet``: after each measured checkpoint the unit reads its shard,
adds the new rows (the last row per :data:`~scalecmp.experiments.store.KEY` wins) and replaces
the file atomically (temporary file, fsync, ``os.replace``). A unit has one writer at a time
(the executor never runs a unit twice at once), so no lock is needed, and units finishing at
the same instant on different nodes of a network filesystem write different files: nothing is
lost. A unit killed at any moment leaves its shard as it was after its last measurement.

``DIR/measurements.parquet`` is compiled from the shards by :func:`collect` (``scalecmp grid
collect``; also ``grid run``, ``grid status`` and the analysis commands given the grid folder,
through :func:`load_measurements`, which is ``scalecmp.load_measurements``):
the rows already in the table (e.g. of a grid run before shards existed), then every shard in
name order, deduplicated on the key (the last row wins), and, given the spec, the spec's rows in
the order of :func:`~scalecmp.experiments.plan.expand_cells` after any other rows. The result
does not depend on the order in which units finished, so a grid run on Slurm compiles the same
table as the same grid run locally.

Needs pandas and pyarrow only (no torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from scalecmp.errors import DataError
from scalecmp.experiments.store import (
    TABLE_NAME,
    dedupe,
    empty_table,
    measurements_path,
    merge_rows,
    normalise_rows,
    read_measurements,
    read_table,
    table_lock,
)
from scalecmp.files import atomic_write
from scalecmp.io import load_measurement_file

__all__ = [
    "SHARDS_DIR",
    "collect",
    "collected_table",
    "load_grid_folder",
    "load_measurements",
    "read_shard",
    "shard_path",
    "shard_paths",
    "write_shard_rows",
]

SHARDS_DIR = "shards"


def shard_path(out_dir: str | Path, unit: str) -> Path:
    """``out_dir/shards/<unit>.parquet``."""
    if not unit or "/" in unit or unit.startswith("."):
        raise ValueError(f"bad unit id {unit!r}")
    return Path(out_dir) / SHARDS_DIR / f"{unit}.parquet"


def shard_paths(out_dir: str | Path) -> list[Path]:
    """The shards under ``out_dir``, in name order (temporary files are skipped)."""
    folder = Path(out_dir) / SHARDS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")
                  and p.is_file())


def read_shard(out_dir: str | Path, unit: str) -> pd.DataFrame:
    """The rows of one unit (an empty table when it has none yet)."""
    return read_table(shard_path(out_dir, unit))


def write_shard_rows(out_dir: str | Path, unit: str,
                     rows: pd.DataFrame | Iterable[Mapping]) -> int:
    """Add ``rows`` to the unit's shard atomically (rows with an existing key replace it);
    returns the shard's length. Only the unit's own process may call this."""
    return len(merge_rows(shard_path(out_dir, unit), rows))


def _canonical(table: pd.DataFrame, spec: object | None) -> pd.DataFrame:
    """``table`` with the rows of ``spec``'s cells in :func:`expand_cells` order, after the
    other rows (kept in their order); the order within a cell is kept."""
    if spec is None or table.empty:
        return table
    from scalecmp.experiments.plan import cell_key, expand_cells, row_cell_keys

    rank = {cell_key(spec, c): i for i, c in enumerate(expand_cells(spec))}
    keys = np.asarray([rank.get(k, -1) for k in row_cell_keys(table)])
    order = np.argsort(keys, kind="stable")
    return table.iloc[order].reset_index(drop=True)


def collected_table(out_dir: str | Path, spec: object | None = None,
                    units: Iterable[str] | None = None) -> pd.DataFrame:
    """The table compiled from ``out_dir/measurements.parquet`` and every shard (only the
    shards of ``units``, when given), without writing anything: see the module docstring
    for the order."""
    paths = (shard_paths(out_dir) if units is None
             else [p for p in (shard_path(out_dir, u) for u in units) if p.exists()])
    return _compiled(read_measurements(out_dir), paths, spec)


def _compiled(table: pd.DataFrame, shards: Iterable[Path],
              spec: object | None) -> pd.DataFrame:
    """``table`` (the compiled table as read) with the rows of ``shards`` added,
    deduplicated and in the order of :func:`_canonical`."""
    parts = [table, *(read_table(p) for p in shards)]
    parts = [normalise_rows(p) for p in parts if not p.empty]
    if not parts:
        return empty_table()
    return _canonical(dedupe(pd.concat(parts, ignore_index=True)), spec)


def collect(out_dir: str | Path, spec: object | None = None) -> tuple[pd.DataFrame, bool]:
    """Compile ``out_dir/measurements.parquet`` from the shards; returns the table and
    whether the file changed. The file is rewritten (atomically) only when its content
    differs, and never when there are no rows at all."""
    out = Path(out_dir)
    if not out.is_dir():
        raise DataError(f"grid folder not found: {out}")
    path = measurements_path(out)
    with table_lock(out):
        old = read_measurements(out)
        table = _compiled(old, shard_paths(out), spec)
        if table.empty:
            return table, False
        if old.shape == table.shape and old.equals(normalise_rows(table)):
            return table, False
        atomic_write(path, lambda fh: table.to_parquet(fh, index=False))
    return table, True


def load_grid_folder(path: str | Path) -> pd.DataFrame:
    """The measurement table of a grid folder (``scalecmp grid run --out DIR``): its
    ``measurements.parquet`` compiled from its result shards first (:func:`collect`; a
    read-only folder is read as it is). A one-line :class:`DataError` when the folder holds
    neither the table nor shards, or no rows."""
    p = Path(path)
    if not ((p / TABLE_NAME).is_file() or (p / SHARDS_DIR).is_dir()):
        raise DataError(f"expected a file or a grid folder (with {TABLE_NAME} or "
                        f"{SHARDS_DIR}/), got a directory: {p}")
    try:
        table, _ = collect(p)
    except PermissionError:  # a read-only grid folder: read what is there
        table = collected_table(p)
    if len(table) == 0:
        raise DataError(f"no rows in the grid folder {p}")
    table.columns = [str(c) for c in table.columns]
    return table


def load_measurements(path: str | Path) -> pd.DataFrame:
    """Read a measurement table from CSV (``.csv``/``.tsv``), Parquet or JSON Lines
    (:func:`scalecmp.io.load_measurement_file`), or from a grid folder
    (:func:`load_grid_folder`): ``scalecmp.load_measurements`` and what the analysis
    commands read.

    Raises :class:`DataError` with a one-line message when the file is missing, has an
    unknown extension, cannot be parsed or holds no rows; the message names the likely
    cause (Parquet content in a ``.csv``, a ``;``-separated CSV, binary content).
    """
    p = Path(path)
    if p.is_dir():
        return load_grid_folder(p)
    return load_measurement_file(p)
