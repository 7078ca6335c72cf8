"""Planning a grid: its cells (measurement points), the training jobs of the missing ones,
and the training units that group them.

A *cell* is one measurement point (procedure, size, lr, schedule, samples seen). A *job* is one
training run (a cosine run, a constant-LR run with checkpoints at every target, a cooldown
branch). A *unit* is what one executor task runs: a constant-LR run and its cooldown branches
(in that order), or one cosine run. Units are independent of each other, so they run in
parallel (worker processes, Slurm array tasks), and each writes only its own result shard.

Needs no torch at import time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scalecmp.experiments.checkpoints import list_checkpoints
from scalecmp.experiments.spec import GridSpec

__all__ = [
    "CELL_COLS",
    "Cell",
    "Job",
    "Unit",
    "cell_key",
    "done_cells",
    "expand_cells",
    "plan_jobs",
    "plan_units",
    "row_cell_keys",
    "run_dir",
    "run_root",
    "spec_rows",
    "steps_to_train",
    "unit_id",
]


# --------------------------------------------------------------------------- cells and jobs
@dataclass(frozen=True)
class Cell:
    """One measurement point: a training configuration evaluated at ``samples_seen``."""

    procedure: str
    size: str
    lr: float
    schedule: str
    samples_seen: int


@dataclass
class Job:
    """One training run: ``cosine`` (to ``total``), ``const`` (to the largest target with
    checkpoints at every point), or a ``cooldown`` branch (from ``branch_from``). ``unit``
    is the id of the training unit it belongs to (:func:`unit_id`)."""

    kind: str
    procedure: str
    size: str
    lr: float
    total: int
    run_dir: Path
    unit: str
    measure: list[int] = field(default_factory=list)
    save: list[int] = field(default_factory=list)
    branch_from: int | None = None
    parent_dir: Path | None = None


@dataclass(frozen=True)
class Unit:
    """A training unit: the jobs that must run in order in one place (one Slurm job, one
    worker process): a constant-LR run with its cooldown branches (which start from its
    checkpoints), or one cosine run. Its rows go to ``DIR/shards/<id>.parquet``."""

    id: str
    jobs: tuple[Job, ...]

    @property
    def procedure(self) -> str:
        return self.jobs[0].procedure

    @property
    def size(self) -> str:
        return self.jobs[0].size


def expand_cells(spec: GridSpec) -> list[Cell]:
    """Every measurement point of the grid, in run order (with ``cosine_check``, one cosine
    cell per (procedure, size of ``cosine_sizes``, lr) at the largest samples seen after its
    other cells)."""
    check = spec.cosine_check and "cosine" not in spec.schedules
    cells = []
    for p in spec.procedures:
        for s in spec.sizes:
            for lr in spec.lrs_for(s):
                cells += [Cell(p, s, lr, sched, n) for sched in spec.schedules
                          for n in spec.samples_seen]
                if check and s in spec.cosine_sizes:
                    cells.append(Cell(p, s, lr, "cosine", spec.samples_seen[-1]))
    return cells


def _lr_tag(lr: float) -> str:
    return f"{lr:.3g}".replace("+", "")


def run_root(spec: GridSpec, out_dir: Path, procedure: str, size: str, lr: float) -> Path:
    """Folder of the runs of one (procedure, size, lr) under ``out_dir/checkpoints``."""
    tag = (
        f"{procedure}-{size}-lr{_lr_tag(lr)}-b{spec.batch_size}-w{spec.warmup}-s{spec.seed}"
    )
    return Path(out_dir) / "checkpoints" / f"{spec.dataset}-{spec.fingerprint()}" / tag


def run_dir(spec: GridSpec, out_dir: Path, cell: Cell) -> Path:
    """Folder holding the checkpoint that measures ``cell``."""
    root = run_root(spec, out_dir, cell.procedure, cell.size, cell.lr)
    if cell.schedule == "cosine":
        return root / f"cosine-{cell.samples_seen}"
    if cell.schedule == "const":
        return root / "const"
    return root / "const" / f"cooldown{spec.cooldown_fraction:g}-{cell.samples_seen}"


def cell_key(spec: GridSpec, cell: Cell) -> tuple:
    """The values of :data:`CELL_COLS` that the rows of ``cell`` carry in the table."""
    cooldown = spec.cooldown_fraction if cell.schedule == "cooldown" else 0.0
    return (cell.procedure, cell.size, spec.dataset, cell.schedule, float(cell.lr),
            spec.batch_size, spec.warmup, float(cooldown), spec.seed, cell.samples_seen)


#: the table columns that identify a cell (with ``task`` and ``metric``, a row)
CELL_COLS = ["procedure", "model", "dataset", "schedule", "lr", "batch_size", "warmup",
             "cooldown", "seed", "samples_seen"]


def done_cells(spec: GridSpec, table) -> set[Cell]:  # noqa: ANN001 - pandas frame
    """Cells of ``spec`` whose rows for every expected task are in ``table``."""
    if table is None or len(table) == 0:
        return set()
    need = set(spec.table_tasks)
    have: dict[tuple, set[str]] = {}
    for key, task in zip(row_cell_keys(table), table["task"], strict=True):
        have.setdefault(key, set()).add(task)
    return {c for c in expand_cells(spec) if need <= have.get(cell_key(spec, c), set())}


def spec_rows(spec: GridSpec, table):  # noqa: ANN001, ANN201 - pandas in and out
    """The rows of ``table`` that belong to cells of ``spec`` (a table may hold other grids)."""
    if table is None or len(table) == 0:
        return table
    keys = {cell_key(spec, c) for c in expand_cells(spec)}
    mask = [k in keys for k in row_cell_keys(table)]
    return table.loc[mask].reset_index(drop=True)


def _save_points(spec: GridSpec, points: Sequence[int], total: int) -> list[int]:
    every = spec.train.checkpoint_every
    extra = range(every, total, every) if every else ()
    return sorted({*points, *extra, total})


def plan_jobs(spec: GridSpec, out_dir: str | Path, done: set[Cell] | None = None) -> list[Job]:
    """Training jobs of the missing cells, in run order (a const run before its branches).

    A cell is missing when it is not in ``done``; a missing cell whose checkpoint already
    exists still gets a job (its evaluation from disk), with nothing to train.
    """
    out = Path(out_dir)
    done = done or set()
    jobs: list[Job] = []
    for proc in spec.procedures:
        for size in spec.sizes:
            for lr in spec.lrs_for(size):
                root = run_root(spec, out, proc, size, lr)
                cells = [c for c in expand_cells(spec)
                         if (c.procedure, c.size, c.lr) == (proc, size, lr) and c not in done]
                cosine = [Job("cosine", proc, size, lr, c.samples_seen, run_dir(spec, out, c),
                              measure=[c.samples_seen],
                              save=_save_points(spec, [], c.samples_seen),
                              unit=unit_id(spec, proc, size, lr, "cosine", c.samples_seen))
                          for c in cells if c.schedule == "cosine"]
                if "cosine" in spec.schedules:
                    jobs += cosine  # a measured schedule: in the order of the cells
                    cosine = []
                const_measure = [c.samples_seen for c in cells if c.schedule == "const"]
                branches = [c for c in cells if c.schedule == "cooldown"]
                const_dir = root / "const"
                have_branch = {c for c in branches
                               if c.samples_seen in list_checkpoints(run_dir(spec, out, c))}
                branch_points = [spec.cooldown_start(c.samples_seen) for c in branches
                                 if c not in have_branch]
                if const_measure or branch_points:
                    # save at every target and branch point, so the run's checkpoints do not
                    # depend on which cells happen to be missing
                    points = [*spec.samples_seen]
                    if "cooldown" in spec.schedules:
                        points += [spec.cooldown_start(n) for n in spec.samples_seen]
                    total = max([*const_measure, *branch_points])
                    jobs.append(Job("const", proc, size, lr, total, const_dir,
                                    measure=sorted(const_measure),
                                    save=_save_points(spec, [p for p in points if p <= total],
                                                      total),
                                    unit=unit_id(spec, proc, size, lr, "const")))
                for c in branches:
                    start = spec.cooldown_start(c.samples_seen)
                    jobs.append(Job("cooldown", proc, size, lr, c.samples_seen,
                                    run_dir(spec, out, c), measure=[c.samples_seen],
                                    save=_save_points(spec, [], c.samples_seen),
                                    branch_from=start, parent_dir=const_dir,
                                    unit=unit_id(spec, proc, size, lr, "const")))
                jobs += cosine  # the cosine check runs after the measurements it checks
    return jobs


def steps_to_train(spec: GridSpec, job: Job) -> int:
    """Optimiser steps a job still has to take (0 when its checkpoints exist)."""
    have = list_checkpoints(job.run_dir)
    needed = [p for p in job.save if p in job.measure or job.kind == "const"]
    missing = [p for p in needed if p not in have]
    if job.kind == "const":
        missing = [p for p in missing if p <= job.total]
    if not missing:
        return 0
    start = max([s for s in have if s < min(missing)], default=job.branch_from or 0)
    return (max(missing) - start) // spec.batch_size


def unit_id(spec: GridSpec, procedure: str, size: str, lr: float, kind: str,
            total: int | None = None) -> str:
    """The id of a training unit: ``<dataset>-<fingerprint>.<run tag>.const`` for a
    constant-LR run with its cooldown branches, ``....cosine<total>`` for a cosine run; only
    ``[A-Za-z0-9._-]``, so it is a file name and a Slurm job name."""
    root = run_root(spec, Path("."), procedure, size, lr)
    tail = "const" if kind in ("const", "cooldown") else f"cosine{total}"
    raw = f"{root.parent.name}.{root.name}.{tail}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw)


def plan_units(spec: GridSpec, out_dir: str | Path,
               done: set[Cell] | None = None) -> list[Unit]:
    """The jobs of :func:`plan_jobs` grouped into units, in run order."""
    units: dict[str, list[Job]] = {}
    for job in plan_jobs(spec, out_dir, done):
        units.setdefault(job.unit, []).append(job)
    return [Unit(uid, tuple(jobs)) for uid, jobs in units.items()]


def row_cell_keys(table) -> list[tuple]:  # noqa: ANN001 - pandas frame
    """The :data:`CELL_COLS` values of each row of ``table``, normalised like
    :func:`cell_key` (floats for lr and cooldown)."""
    cols = table[CELL_COLS].itertuples(index=False, name=None)
    return [tuple(float(v) if i in (4, 7) else v for i, v in enumerate(k)) for k in cols]
