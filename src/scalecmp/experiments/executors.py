"""Where training units run: in this process or local worker processes (``local``), or as
Slurm jobs submitted with submitit (``slurm``).

Both executors run the same code per unit (:meth:`GridRunner.run_unit`), which writes only the
unit's own shard; ``grid run`` compiles the table from the shards afterwards
(:func:`scalecmp.experiments.shards.collect`). Every run is a pure function of the spec, so the
values do not depend on where or in which order the units ran.

``local``: one process runs the units one after another (under torchrun, every rank trains its
share of each batch and rank 0 evaluates), or, on the CPU with ``train.workers`` > 1 (``auto``:
the usable cores), that many worker processes run units side by side, the most expensive first,
with ``torch.get_num_threads() // workers`` threads each.

``slurm``: see :mod:`scalecmp.experiments.slurm`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scalecmp.experiments.plan import Unit
from scalecmp.experiments.progress import CostModel
from scalecmp.experiments.runner import GridRunner, JobReport
from scalecmp.experiments.spec import GridSpec
from scalecmp.validate import check_workers, resolve_workers

__all__ = ["EXECUTORS", "n_local_workers", "run_local_many"]

EXECUTORS = ("local", "slurm")


def n_local_workers(workers: int | str, units: Sequence[Unit], device: str,
                    world_size: int = 1) -> int:
    """Worker processes for ``units``: ``workers`` (``auto``: the usable CPU cores), at most
    the number of units; 1 under torchrun or off the CPU."""
    if world_size > 1 or not str(device).startswith("cpu"):
        return 1
    return max(1, min(resolve_workers(check_workers(workers)), len(units)))


#: one grid's share of a local run: its runner, the units to run, ``id(job)`` -> optimiser
#: steps, and the callback of its finished jobs
Batch = tuple[GridRunner, Sequence[Unit], dict[int, int], Callable[[JobReport], None]]


def run_local_many(batches: Sequence[Batch], n_workers: int) -> None:
    """Run the units of one or more grids (each batch with its own runner, spec and
    folder) here (``n_workers`` == 1: in order, grid after grid) or in ``n_workers``
    spawned worker processes, one pool for all: the most expensive units of all grids
    first (by their optimiser steps), so that no worker waits while another grid's units
    are left. Each batch's callback gets its jobs' reports as they end."""
    if n_workers <= 1:
        for runner, units, _, on_job in batches:
            for unit in units:
                runner.run_unit(unit, on_job=on_job)
        return
    _run_parallel(batches, n_workers)


# --------------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _worker_init(threads: int, messages: Any) -> None:
    """Initialiser of a worker process: torch threads and the message queue."""
    import torch

    torch.set_num_threads(threads)
    _WORKER["messages"] = messages


def _worker_run(spec: GridSpec, out_dir: str, device: str, unit: Unit, grid: int = 0) -> None:
    """Run one unit in a worker process (the runner of each grid, with its tokenizer and
    evaluation sets, is kept for the grid's next unit); one message per finished job,
    tagged with the index of its grid."""
    runners = _WORKER.setdefault("runners", {})
    runner = runners.get(grid)
    if runner is None or runner.spec != spec or runner.out != Path(out_dir):
        runner = runners[grid] = GridRunner(spec, Path(out_dir), device=device)
    messages = _WORKER["messages"]
    runner.run_unit(unit, on_job=lambda report: messages.put({**report, "grid": grid}))


def _run_parallel(batches: Sequence[Batch], n_workers: int) -> None:
    import multiprocessing
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import torch

    costed = []
    for k, (runner, units, steps, _) in enumerate(batches):
        cost = CostModel(runner)
        costed += [(-sum(cost.job(j, steps.get(id(j), 0)) for j in u.jobs), k, u)
                   for u in units]
    order = sorted(costed, key=lambda t: t[0])  # stable: a grid's own order among equals
    threads = max(1, torch.get_num_threads() // n_workers)
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    expected = sum(len(u.jobs) for _, units, _, _ in batches for u in units)
    received = 0

    def drain(block: float = 0.0) -> int:
        n = 0
        while True:
            try:
                msg = messages.get(timeout=block) if block else messages.get_nowait()
            except queue_mod.Empty:
                return n
            runner, _, _, on_job = batches[msg.pop("grid", 0)]
            if msg["failed"]:
                runner.summary["failed"].append(msg["job"])
            runner.summary["trained_steps"] += msg["steps"]
            runner.summary["evaluated"] += msg["evaluated"]
            on_job(msg)
            n += 1

    pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(threads, messages))
    ok = False
    try:
        futures = [pool.submit(_worker_run, batches[k][0].spec, str(batches[k][0].out),
                               batches[k][0].device, u, k)
                   for _, k, u in order]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            received += drain()
            for f in done:
                f.result()  # a worker's error is this process's error
        deadline = time.monotonic() + 60.0
        while received < expected and time.monotonic() < deadline:
            received += drain(block=1.0)
        ok = True
    finally:
        if not ok:  # interrupted or failed: stop the workers now
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
        pool.shutdown(wait=True)
        messages.close()
