"""Grids: run the missing cells of a spec (locally or on Slurm), show their status, and
compile the measurement table.

A spec (YAML, :mod:`scalecmp.experiments.spec`) names procedures x sizes x samples seen (x
learning rates) x schedules; :mod:`~scalecmp.experiments.plan` expands it into cells
(measurement points), the training jobs of the missing ones and the units that group them (a
constant-LR run with its cooldown branches, or one cosine run); an executor
(:mod:`~scalecmp.experiments.executors`, :mod:`~scalecmp.experiments.slurm`) runs the units;
each unit writes its rows to its own shard (:mod:`~scalecmp.experiments.shards`), from which
``DIR/measurements.parquet`` is compiled.

Every measured checkpoint gives rows (task, metric, value), with the training loss as
``task="train", metric="loss"`` (lower is better); checkpoints live under ``DIR/checkpoints/``,
the clip_benchmark JSON of every evaluation under ``DIR/evals/``. A cell is done when its rows
are in the table; a finished checkpoint without rows is evaluated from disk; only the rest is
trained (resuming from the latest checkpoint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from scalecmp.errors import DataError, ScalecmpWarning, UsageError
from scalecmp.experiments.executors import EXECUTORS, n_local_workers, run_local_many
from scalecmp.experiments.plan import (
    Cell,
    Job,
    Unit,
    done_cells,
    expand_cells,
    plan_jobs,
    plan_units,
    run_dir,
    run_root,
    spec_rows,
    steps_to_train,
    unit_id,
)
from scalecmp.experiments.progress import (
    PlainProgress,
    describe,
    is_terminal,
    make_progress,
    null_context,
)
from scalecmp.experiments.runner import GridRunner, start_runner, training_source
from scalecmp.experiments.shards import collect, collected_table
from scalecmp.experiments.spec import (
    EVAL_TASKS,
    GridSpec,
    check_device_name,
    load_spec,
    parse_spec,
)
from scalecmp.files import check_output_dir, holder_lock

__all__ = [
    "EVAL_TASKS",
    "EXECUTORS",
    "Cell",
    "GridRunner",
    "GridSpec",
    "Job",
    "check_data",
    "Unit",
    "collect",
    "collected_table",
    "expand_cells",
    "grid_lock",
    "grid_status",
    "load_spec",
    "parse_spec",
    "plan_jobs",
    "plan_units",
    "run_dir",
    "run_grid",
    "run_grids",
    "run_root",
    "spec_rows",
    "steps_to_train",
]

def run_grid(
    spec: GridSpec,
    out_dir: str | Path,
    *,
    device: str | None = None,
    progress: bool = True,
    console: Any = None,
    workers: int | str | None = None,
    executor: str = "local",
    wait: bool = False,
    dry_run: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run the missing cells of ``spec`` into ``out_dir``; returns a summary dict (cells,
    done_before, done_after, jobs, units, trained_steps, evaluated, failed, wall_s, rank,
    world_size; ``done_after`` is only counted on rank 0; with ``executor="slurm"`` also
    submitted (unit -> job id) and active (units left queued/running)).

    ``executor="local"`` runs the units here (see :mod:`scalecmp.experiments.executors`;
    ``workers`` defaults to the spec's ``train.workers``; workers are started with ``spawn``,
    so a script that calls this with ``workers > 1`` needs the ``if __name__ ==
    "__main__":`` guard). ``executor="slurm"`` submits every unit that is neither done nor
    queued/running as a job array and returns, or, with ``wait``, waits for them and compiles
    the table. ``dry_run`` plans only: ``summary["plan"]`` lists the units (and, for slurm,
    ``summary["parameters"]`` the submitit parameters); nothing is trained or submitted.
    """
    if executor not in EXECUTORS:
        raise UsageError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    _check_run(spec, out_dir, device, data=not dry_run)
    with contextlib.ExitStack() as held:  # the grid lock, once the folder is made
        if executor == "slurm":
            return _run_slurm(spec, Path(out_dir), device=device, progress=progress,
                              wait=wait, dry_run=dry_run, threads=threads, held=held)
        return _run_local(spec, Path(out_dir), device=device, progress=progress,
                          console=console, workers=workers, dry_run=dry_run, held=held)


def _check_run(spec: GridSpec, out_dir: str | Path, device: str | None, *,
               data: bool = True) -> None:
    """Before anything runs: the folder (a dry run too: whether the real run could write
    there), the device's form (whether it exists is checked where the units run) and,
    with ``data``, the data (missing or bad data is refused before anything trains)."""
    check_output_dir(out_dir)
    if device is not None:
        check_device_name(device)
    if data:
        check_data(spec)


LOCK_NAME = ".grid.lock"


@contextlib.contextmanager
def grid_lock(out_dir: str | Path) -> Iterator[None]:
    """The grid folder (which must exist), locked by the ``grid run`` that owns it for as
    long as it runs (``DIR/.grid.lock``, :func:`scalecmp.files.holder_lock`): a second run
    on the same folder is refused in one line naming the holder (pid, host, start time);
    the lock of a run that died is free, taken over with a warning. Taken by rank 0 only
    (the ranks of one torchrun are one run)."""
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    out = Path(out_dir)
    with holder_lock(out / LOCK_NAME, f"grid folder {out}") as previous:
        if previous:
            warnings.warn(f"grid folder {out}: taking over the lock of pid "
                          f"{previous.get('pid', '?')} on {previous.get('host', '?')} (since "
                          f"{previous.get('started', '?')}), which ended without releasing "
                          "it", ScalecmpWarning, stacklevel=3)
        yield


def check_data(spec: GridSpec) -> None:
    """Check, before anything trains, that the real data of ``spec`` is there: the training
    data (every local webdataset shard exists and is not empty; a CSV has its two columns
    and a row) and the evaluation datasets (clip_benchmark folders, the segmentation
    folder, with their layout); one-line :class:`DataError` if not."""
    if spec.data["type"] != "synthetic":
        training_source(spec)  # making the source checks its data
    ev = spec.eval
    if not ev.benchmarks and ev.segmentation_data is None:
        return
    from scalecmp.experiments.benchmark_eval import check_benchmark_dataset

    for ds in ev.benchmarks:
        check_benchmark_dataset(ds)
    if ev.segmentation_data is not None:
        ev.segmentation_data.check()


def _plan_summary(units: list[Unit], steps: dict[int, int]) -> list[dict[str, Any]]:
    return [{"unit": u.id, "procedure": u.procedure, "size": u.size,
             "jobs": [describe(j) for j in u.jobs],
             "steps": sum(steps[id(j)] for j in u.jobs)} for u in units]


@dataclasses.dataclass
class _LocalPlan:
    """One grid of a local run: its runner, units, jobs and their optimiser steps."""

    spec: GridSpec
    out: Path
    runner: GridRunner
    info: Any
    done: set
    units: list
    jobs: list
    steps: dict[int, int]


def _plan_local(spec: GridSpec, out: Path, *, device: str | None, dry_run: bool,
                held: contextlib.ExitStack) -> _LocalPlan:
    """The grid's folder made and locked (not for a dry run), its done cells read, the
    units of the missing ones planned."""
    from scalecmp.experiments.trainer import barrier

    runner, info = start_runner(spec, out, device=device, plan_only=dry_run)
    if not dry_run:
        out.mkdir(parents=True, exist_ok=True)
        held.enter_context(grid_lock(out))
    table = collected_table(out, spec) if out.is_dir() else None
    done = done_cells(spec, table)
    units = plan_units(spec, out, done)
    jobs = [j for u in units for j in u.jobs]
    barrier()
    runner.summary.update(cells=len(expand_cells(spec)), done_before=len(done),
                          jobs=len(jobs), units=len(units), executor="local")
    steps = {id(j): steps_to_train(spec, j) for j in jobs}
    return _LocalPlan(spec, out, runner, info, done, units, jobs, steps)


def _run_local(spec: GridSpec, out: Path, *, device: str | None, progress: bool,
               console: Any, workers: int | str | None, dry_run: bool,
               held: contextlib.ExitStack) -> dict[str, Any]:
    if not dry_run:
        return _run_local_many([(spec, out)], device=device, progress=progress,
                               console=console, workers=workers, held=held)[0]
    t0 = time.perf_counter()
    plan = _plan_local(spec, out, device=device, dry_run=True, held=held)
    summary = plan.runner.summary
    summary.update(plan=_plan_summary(plan.units, plan.steps), done_after=len(plan.done),
                   wall_s=time.perf_counter() - t0, rank=plan.info.rank,
                   world_size=plan.info.world_size, workers=0)
    return summary


def run_grids(grids: Sequence[tuple[GridSpec, str | Path]], *, device: str | None = None,
              progress: bool = True, console: Any = None,
              workers: int | str | None = None) -> list[dict[str, Any]]:
    """Run the missing cells of several grids (each spec into its own folder) here, in
    one pool of local workers (``workers``: the first spec's ``train.workers`` by
    default): the most expensive units of all grids first, so that no worker idles while
    another grid has units left. Returns each grid's summary, as :func:`run_grid` does."""
    pairs = [(spec, Path(out)) for spec, out in grids]
    for spec, out in pairs:
        _check_run(spec, out, device)
    if len({out.resolve() for _, out in pairs}) < len(pairs):
        raise UsageError("run_grids: every grid needs its own folder")
    with contextlib.ExitStack() as held:
        return _run_local_many(pairs, device=device, progress=progress, console=console,
                               workers=workers, held=held)


def _run_local_many(grids: Sequence[tuple[GridSpec, Path]], *, device: str | None,
                    progress: bool, console: Any, workers: int | str | None,
                    held: contextlib.ExitStack) -> list[dict[str, Any]]:
    import torch

    from scalecmp.experiments.trainer import barrier

    t0 = time.perf_counter()
    plans = [_plan_local(spec, out, device=device, dry_run=False, held=held)
             for spec, out in grids]
    first = plans[0]
    info = first.info
    all_units = [u for p in plans for u in p.units]
    n_workers = n_local_workers(first.spec.train.workers if workers is None else workers,
                                all_units, first.runner.device, info.world_size)
    show = progress and info.is_main and any(p.jobs for p in plans)
    terminal = bool(show) and is_terminal(console)
    bar = make_progress(console) if terminal else None
    total_steps = sum(sum(p.steps.values()) for p in plans)
    plains = [PlainProgress(p.runner, p.jobs, [p.steps[id(j)] for j in p.jobs])
              if show and not terminal and p.jobs else None for p in plans]
    task_id = None

    def job_callback(plan: _LocalPlan, plain: PlainProgress | None) -> Any:
        by_desc = {describe(j): j for j in plan.jobs}

        def on_job(report: dict[str, Any]) -> None:
            if report["failed"]:
                warnings.warn(f"{report['job']}: {report['failed']}; cell(s) left missing",
                              stacklevel=2)
            job = by_desc.get(report["job"])
            if bar is not None:
                bar.update(task_id, advance=report["steps"] if n_workers > 1 else 0,
                           description=f"done: {report['job']}")
            if plain is not None and job is not None:
                plain.finished(job, report["evaluated"], bool(report["failed"]),
                               seconds=report["seconds"])

        return on_job

    batches = []
    for plan, plain in zip(plans, plains, strict=True):
        plan.runner.summary["workers"] = n_workers
        batches.append((plan.runner, plan.units, plan.steps, job_callback(plan, plain)))
    with bar or null_context():
        if bar is not None:
            task_id = bar.add_task("grid", total=max(total_steps, 1))
            if n_workers == 1:
                for plan in plans:
                    plan.runner.on_step = lambda: bar.advance(task_id)
        for plain in plains:
            if plain is not None:
                plain.start()
        run_local_many(batches, n_workers)
        if bar is not None:
            bar.update(task_id, completed=max(total_steps, 1), description="done")
    torch.set_grad_enabled(True)
    barrier()
    summaries = []
    for plan in plans:
        after: set[Cell] = set()
        summary = plan.runner.summary
        if info.is_main:
            table, _ = collect(plan.out, plan.spec)
            after = done_cells(plan.spec, table)
            if plan.spec.train.slim_checkpoints:
                touched = {(j.procedure, j.size, j.lr) for j in plan.jobs}
                summary["slimmed"] = slim_finished_runs(plan.spec, plan.out, after, touched)
        summary.update(done_after=len(after), wall_s=time.perf_counter() - t0,
                       rank=plan.info.rank, world_size=plan.info.world_size)
        summaries.append(summary)
    return summaries


def _run_slurm(spec: GridSpec, out: Path, *, device: str | None, progress: bool, wait: bool,
               dry_run: bool, threads: int | None,
               held: contextlib.ExitStack) -> dict[str, Any]:
    from scalecmp.experiments import slurm as S

    t0 = time.perf_counter()
    if not dry_run:
        S.check_slurm()
        out.mkdir(parents=True, exist_ok=True)
        held.enter_context(grid_lock(out))
    table = None
    if out.is_dir():  # a dry run writes nothing, not even the compiled table
        table = collected_table(out, spec) if dry_run else collect(out, spec)[0]
    done = done_cells(spec, table)
    units = plan_units(spec, out, done)
    summary: dict[str, Any] = {
        "cells": len(expand_cells(spec)), "done_before": len(done), "units": len(units),
        "jobs": sum(len(u.jobs) for u in units), "executor": "slurm", "trained_steps": 0,
        "evaluated": 0, "failed": [], "rank": 0, "world_size": 1, "workers": 0,
    }
    if dry_run:
        steps = {id(j): steps_to_train(spec, j) for u in units for j in u.jobs}
        summary.update(plan=_plan_summary(units, steps), parameters=S.submitit_parameters(spec),
                       done_after=len(done), wall_s=time.perf_counter() - t0, submitted={},
                       active={})
        return summary
    submit, active = S.split_units(out, units)
    submitted = S.submit_units(spec, out, submit, device=device, threads=threads)
    summary.update(submitted=submitted, active=active)
    if progress:
        print(f"grid '{spec.name}': {len(submitted)} unit(s) submitted"
              + (f" (job ids {_id_range(submitted)})" if submitted else "")
              + (f", {len(active)} already queued or running" if active else "")
              + f"; logs in {S.slurm_dir(out) / 'logs'}", flush=True)
    if wait:
        registry = S.read_registry(out)
        ends = {unit: registry[unit] for unit in {**submitted, **active}}
        count = {"n": 0}

        def on_end(unit: str, state: str) -> None:
            count["n"] += 1
            if progress:
                print(f"[{count['n']}/{len(ends)}] {unit}: {state} "
                      f"(elapsed {time.perf_counter() - t0:.0f} s)", flush=True)

        final = S.wait_for(ends, on_end=on_end)
        summary["states"] = final
        summary["failed"] = [u for u, s in final.items() if s != "COMPLETED"]
    table, _ = collect(out, spec)
    summary.update(done_after=len(done_cells(spec, table)), wall_s=time.perf_counter() - t0)
    return summary


def _id_range(ids: dict[str, str]) -> str:
    bases = sorted({j.split("_")[0] for j in ids.values()})
    return ", ".join(f"{b}_*" if any("_" in j for j in ids.values()) else b for b in bases)


def collect_grid(spec: GridSpec | None, out_dir: str | Path) -> dict[str, Any]:
    """Compile ``out_dir/measurements.parquet`` from its shards (``scalecmp grid collect``);
    returns rows, shards, changed and, given the spec, cells and done."""
    from scalecmp.experiments.shards import SHARDS_DIR, shard_paths
    from scalecmp.experiments.slurm import SLURM_DIR
    from scalecmp.experiments.store import measurements_path

    out = check_output_dir(out_dir, create=False)
    if not out.is_dir():
        raise DataError(f"grid folder not found: {out}")
    marks = (out / SHARDS_DIR, out / "checkpoints", out / SLURM_DIR, measurements_path(out))
    if not any(m.exists() for m in marks):
        raise DataError(f"out_dir: {out} is not a grid's folder (it has no {SHARDS_DIR}/, "
                        f"checkpoints/, {SLURM_DIR}/ or measurements.parquet); give the "
                        "folder grid run wrote to")
    table, changed = collect(out, spec)
    result: dict[str, Any] = {"rows": len(table), "shards": len(shard_paths(out_dir)),
                              "changed": changed}
    if spec is not None:
        result.update(cells=len(expand_cells(spec)), done=len(done_cells(spec, table)))
    return result


# --------------------------------------------------------------------------- status
def grid_status(spec: GridSpec, out_dir: str | Path):  # noqa: ANN201 - pandas frame
    """Per (procedure, size): cells done / running / queued / failed / missing, checkpoints on
    disk, the Slurm job ids of its units and the last log line of a failed one.

    Compiles the table from the shards first (when the folder exists). Without Slurm jobs
    every cell that is not done is ``missing``."""
    import pandas as pd

    from scalecmp.experiments import slurm as S
    from scalecmp.experiments.checkpoints import list_checkpoints

    out = check_output_dir(out_dir, create=False)
    table = collect(out, spec)[0] if out.is_dir() else None
    done = done_cells(spec, table)
    registry = S.read_registry(out) if out.is_dir() else {}
    states = S.unit_states(registry)
    rows = []
    for proc in spec.procedures:
        for size in spec.sizes:
            cells = [c for c in expand_cells(spec) if (c.procedure, c.size) == (proc, size)]
            counts = dict.fromkeys(("done", "running", "queued", "failed", "missing"), 0)
            job_ids: list[str] = []
            failure = ""
            for c in cells:
                if c in done:
                    counts["done"] += 1
                    continue
                uid = unit_id(spec, proc, size, c.lr, c.schedule, c.samples_seen)
                entry = registry.get(uid, {})
                state = states.get(uid, "MISSING")
                if entry.get("job_id") and entry["job_id"] not in job_ids:
                    job_ids.append(str(entry["job_id"]))
                if state == "RUNNING" or state in ("COMPLETING", "CONFIGURING"):
                    counts["running"] += 1
                elif state in S.ACTIVE_STATES:
                    counts["queued"] += 1
                elif state in S.FAILED_STATES or state == "COMPLETED":
                    counts["failed"] += 1
                    failure = failure or (f"{entry['job_id']} {state}: "
                                          f"{S.last_log_line(entry.get('stderr'))} "
                                          f"(log: {entry.get('stderr')})")
                else:
                    counts["missing"] += 1
            ckpts = 0
            for lr in spec.lrs_for(size):
                root = run_root(spec, out, proc, size, lr)
                if root.is_dir():
                    ckpts += sum(len(list_checkpoints(d)) for d in [root, *root.rglob("*")]
                                 if d.is_dir())
            rows.append({"procedure": proc, "size": size, "cells": len(cells), **counts,
                         "checkpoints": ckpts, "jobs": ",".join(job_ids), "failure": failure})
    return pd.DataFrame(rows)


def slim_finished_runs(spec: GridSpec, out_dir: Path, done: set[Cell],
                       only: set[tuple[str, str, float]] | None = None) -> int:
    """Drop the optimiser state of the checkpoints of every (procedure, size, lr) (in
    ``only``, when given) whose cells are all done, except the latest checkpoint of each
    constant-LR run (which a grid with larger targets would continue). Returns the number of
    checkpoints slimmed."""
    from scalecmp.experiments.trainer import list_checkpoints, slim_checkpoint

    n = 0
    for proc in spec.procedures:
        for size in spec.sizes:
            for lr in spec.lrs_for(size):
                if only is not None and (proc, size, lr) not in only:
                    continue
                cells = [c for c in expand_cells(spec)
                         if (c.procedure, c.size, c.lr) == (proc, size, lr)]
                if not all(c in done for c in cells):
                    continue
                root = run_root(spec, out_dir, proc, size, lr)
                dirs = {run_dir(spec, out_dir, c) for c in cells}
                if "cooldown" in spec.schedules:
                    dirs.add(root / "const")
                for d in dirs:
                    ckpts = list_checkpoints(d)
                    keep = max(ckpts) if d.name == "const" and ckpts else None
                    n += sum(slim_checkpoint(p) for s, p in ckpts.items() if s != keep)
    return n

