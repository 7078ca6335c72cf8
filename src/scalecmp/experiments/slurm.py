"""The Slurm executor: one Slurm job per training unit, submitted with submitit as job arrays.

``scalecmp grid run SPEC --out DIR --executor slurm`` submits every unit that is neither done
(all its cells have rows) nor queued or running (its last job is PENDING, RUNNING, REQUEUED,
...), as one job array with at most ``cluster.array_parallelism`` tasks at once. Each task
(:class:`UnitTask`) re-plans its unit from the shards when it starts (a requeued or resubmitted
unit therefore evaluates the checkpoints it already has and trains only from its last one), runs
it with :class:`~scalecmp.experiments.runner.GridRunner` and writes only its shard.

Resources come from the spec's ``cluster:`` block (:class:`~scalecmp.experiments.spec.ClusterSpec`):
``nodes`` x ``tasks_per_node`` ranks per unit (one per GPU by default), launched by Slurm's own
tasks (``srun``, as submitit does), with torch.distributed initialised from the Slurm
environment (submitit's ``TorchDistributedEnvironment``). With ``timeout_min``, Slurm sends
USR2 ``signal_delay_s`` before the limit; submitit then calls :meth:`UnitTask.checkpoint`,
which requeues the same unit: it resumes from its last checkpoint on disk (saved at every
measured point, and every ``train.checkpoint_every`` samples when set: that bounds the work a
preemption loses). A preempted job is requeued the same way.

Bookkeeping, all under ``DIR/slurm/``: ``units.json`` (unit -> its last job id, submission time
and log paths; written atomically by the submitting process) and ``logs/`` (submitit's folder:
``<job id>_<task>_log.out|err``). Job states come from ``sacct`` (accounting must be enabled:
without it, finished jobs are invisible), and from ``squeue`` when sacct fails.

Needs submitit (the ``train`` extra) for submitting; reading states needs only Slurm's clients.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from math import inf
from pathlib import Path
from typing import Any

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments.plan import Unit
from scalecmp.experiments.spec import GridSpec
from scalecmp.files import file_lock, write_json

__all__ = [
    "ACTIVE_STATES",
    "FAILED_STATES",
    "UnitTask",
    "job_states",
    "last_log_line",
    "read_registry",
    "submitit_parameters",
    "submit_units",
    "unit_states",
    "wait_for",
]

SLURM_DIR = "slurm"
#: job states in which a unit is queued or running (not to be submitted again)
ACTIVE_STATES = frozenset({
    "PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
    "COMPLETING", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD",
})
#: job states that end a unit's job without finishing it
FAILED_STATES = frozenset({
    "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL",
    "DEADLINE", "REVOKED",
})


# --------------------------------------------------------------------------- the task
def _task_base() -> type:
    try:
        from submitit.helpers import Checkpointable
    except ImportError:  # reading states and registries works without submitit
        return object
    return Checkpointable


class UnitTask(_task_base()):  # type: ignore[misc]
    """The callable a Slurm job runs: one training unit of a grid.

    Checkpointable: on USR2 (time limit or preemption) submitit calls :meth:`checkpoint`,
    which resubmits the same call; the unit then resumes from its checkpoints."""

    def __call__(self, spec: GridSpec, out_dir: str, unit: str, device: str | None = None,
                 threads: int | None = None) -> list[dict[str, Any]]:
        import torch

        from scalecmp.experiments.plan import done_cells, plan_units
        from scalecmp.experiments.runner import start_runner
        from scalecmp.experiments.shards import collected_table
        from scalecmp.experiments.trainer import barrier

        if spec.cluster.world_size > 1:
            _export_torch_distributed()
        torch.set_num_threads(threads or spec.cluster.cpus_per_task)
        runner, info = start_runner(spec, Path(out_dir), device=device)
        # a unit's cells have rows only in its own shard (or in a table compiled earlier)
        done = done_cells(spec, collected_table(out_dir, units=[unit]))
        units = [u for u in plan_units(spec, out_dir, done) if u.id == unit]
        barrier()  # every rank has planned before rank 0 writes anything
        if info.is_main:  # what this (re)start does, in the job's log
            from scalecmp.experiments.plan import steps_to_train
            from scalecmp.experiments.progress import describe

            print(f"unit {unit}: {'nothing left to do' if not units else 'starting'}",
                  flush=True)
            for job in (j for u in units for j in u.jobs):
                print(f"  {describe(job)}: {steps_to_train(spec, job)} steps to train, "
                      f"{len(job.measure)} point(s) to measure", flush=True)
        reports = []
        for u in units:
            reports += runner.run_unit(u)
        barrier()
        return reports

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Requeue the same unit (its progress is in its checkpoints and its shard)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(UnitTask(), *args, **kwargs)


def _export_torch_distributed() -> None:
    """MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK from the Slurm task's
    environment (submitit's ``TorchDistributedEnvironment``); a first node whose name does not
    resolve (a node named in slurm.conf only) is addressed by the IP Slurm gives for the node
    that launched the tasks, which is the first node of the job."""
    import os
    import socket

    from submitit.helpers import TorchDistributedEnvironment

    TorchDistributedEnvironment().export(overwrite=True)
    try:
        socket.getaddrinfo(os.environ["MASTER_ADDR"], None)
    except OSError:
        fallback = os.environ.get("SLURM_LAUNCH_NODE_IPADDR")
        if fallback:
            os.environ["MASTER_ADDR"] = fallback


# --------------------------------------------------------------------------- registry
def slurm_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / SLURM_DIR


def read_registry(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``DIR/slurm/units.json``: unit id -> {job_id, submitted, stdout, stderr}."""
    path = slurm_dir(out_dir) / "units.json"
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    return {str(k): dict(v) for k, v in raw.items()}


# --------------------------------------------------------------------------- states
def _expand_ids(token: str) -> list[str]:
    """``123_[0-2,5%2]`` -> 123_0, 123_1, 123_2, 123_5 (squeue/sacct's pending arrays)."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", token)
    if not m:
        return [token]
    base, body = m.group(1), m.group(2).split("%")[0]
    ids = []
    for part in body.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            ids += [f"{base}_{i}" for i in range(int(a), int(b) + 1)]
        elif part:
            ids.append(f"{base}_{part}")
    return ids


def _run(cmd: Sequence[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def job_states(job_ids: Sequence[str]) -> dict[str, str]:
    """The state of each job id (``PENDING``, ``RUNNING``, ``COMPLETED``, ``CANCELLED``, ...;
    ``UNKNOWN`` when Slurm knows nothing of it), from ``sacct`` (the last record of a requeued
    job), else ``squeue`` (anything not queued counts as ``UNKNOWN``)."""
    ids = sorted({str(j) for j in job_ids if j})
    if not ids:
        return {}
    states: dict[str, str] = {}
    bases = sorted({i.split("_")[0] for i in ids})
    out = _run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(bases)])
    if out is None:
        out = _run(["squeue", "-h", "-o", "%i|%T", "-j", ",".join(bases)]) or ""
    for line in out.splitlines():  # "<id>|<state>" either way ("CANCELLED by 0" in sacct)
        if "|" not in line:
            continue
        token, state = line.split("|", 1)
        for jid in _expand_ids(token.strip()):
            states[jid] = (state.split() or ["UNKNOWN"])[0]
    return {i: states.get(i, states.get(i.split("_")[0], "UNKNOWN")) for i in ids}


def last_log_line(path: str | Path | None) -> str:
    """The last non-empty line of a log file ('' when there is none)."""
    if not path:
        return ""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


# --------------------------------------------------------------------------- submitting
def submitit_parameters(spec: GridSpec) -> dict[str, Any]:
    """The submitit ``AutoExecutor`` parameters of one unit, from the spec's ``cluster:``."""
    c = spec.cluster
    params: dict[str, Any] = {
        "name": f"scalecmp-{spec.name}",
        "timeout_min": c.timeout_min,
        "nodes": c.nodes,
        "tasks_per_node": c.ntasks_per_node,
        "cpus_per_task": c.cpus_per_task,
        "slurm_array_parallelism": c.array_parallelism,
        "slurm_signal_delay_s": c.signal_delay_s,
    }
    if c.gpus_per_node:
        params["gpus_per_node"] = c.gpus_per_node
    if c.mem_gb is not None:
        params["mem_gb"] = c.mem_gb
    for key in ("partition", "account", "qos"):
        if getattr(c, key) is not None:
            params[f"slurm_{key}"] = getattr(c, key)
    if c.setup:
        params["slurm_setup"] = list(c.setup)
    if c.sbatch:
        params["slurm_additional_parameters"] = dict(c.sbatch)
    return params


def check_slurm() -> None:
    """Refuse early, in one line, when Slurm or submitit is missing."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise UsageError("--executor slurm needs submitit: pip install 'scalecmp[train]'") from None
    if shutil.which("sbatch") is None:
        raise UsageError("--executor slurm needs Slurm's sbatch on PATH (none found); "
                         "on one machine use --executor local")


#: seconds after submission during which a job that Slurm's accounting does not list yet
#: (``UNKNOWN``: sacct has no row for the first second or so) counts as queued
UNKNOWN_GRACE_S = 120.0


def _age_s(submitted: str | None, now: datetime) -> float:
    """Seconds since ``submitted`` (an ISO time of ``units.json``); infinite when unknown."""
    try:
        return (now - datetime.fromisoformat(submitted)).total_seconds() if submitted else inf
    except ValueError:
        return inf


def unit_states(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Per unit, from its ``units.json`` entry (``job_id``, ``submitted``): the state of its
    job (:func:`job_states`), where a job Slurm does not list yet (``UNKNOWN``) that was
    submitted less than :data:`UNKNOWN_GRACE_S` seconds ago counts as ``PENDING``. The one
    place this rule lives: resubmission, ``grid status`` and waiting all read it."""
    states = job_states([str(e["job_id"]) for e in entries.values() if e.get("job_id")])
    now = datetime.now(UTC)
    out: dict[str, str] = {}
    for unit, entry in entries.items():
        state = states.get(str(entry.get("job_id")), "UNKNOWN")
        if state == "UNKNOWN" and _age_s(entry.get("submitted"), now) < UNKNOWN_GRACE_S:
            state = "PENDING"
        out[unit] = state
    return out


def split_units(out_dir: str | Path, units: Sequence[Unit]) -> tuple[list[Unit], dict[str, str]]:
    """``units`` that need a job now, and the active ones (unit -> job id) to leave alone:
    a unit whose last job is queued or running (or was submitted moments ago and is not
    listed by Slurm yet) is not submitted again."""
    registry = read_registry(out_dir)
    states = unit_states({u.id: registry[u.id] for u in units if u.id in registry})
    submit, active = [], {}
    for u in units:
        if states.get(u.id) in ACTIVE_STATES:
            active[u.id] = str(registry[u.id]["job_id"])
        else:
            submit.append(u)
    return submit, active


def submit_units(spec: GridSpec, out_dir: str | Path, units: Sequence[Unit], *,
                 device: str | None = None, threads: int | None = None) -> dict[str, str]:
    """Submit ``units`` as one job array; returns unit -> job id (also in ``units.json``)."""
    import submitit

    out = Path(out_dir).resolve()
    if not units:
        return {}
    with file_lock(slurm_dir(out) / ".submit.lock"):
        logs = slurm_dir(out) / "logs"
        executor = submitit.AutoExecutor(folder=logs / "%j", cluster="slurm")
        executor.update_parameters(**submitit_parameters(spec))
        n = len(units)
        jobs = executor.map_array(UnitTask(), [spec] * n, [str(out)] * n, [u.id for u in units],
                                  [device] * n, [threads] * n)
        registry = read_registry(out)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        ids = {}
        for u, job in zip(units, jobs, strict=True):
            ids[u.id] = str(job.job_id)
            registry[u.id] = {"job_id": str(job.job_id), "submitted": now,
                              "stdout": str(job.paths.stdout), "stderr": str(job.paths.stderr)}
        write_json(slurm_dir(out) / "units.json", registry)
    return ids


def wait_for(entries: Mapping[str, Mapping[str, Any]], *, poll_s: float = 5.0,
             on_end: Callable[[str, str], None] | None = None) -> dict[str, str]:
    """Wait until none of the units' jobs (unit -> its ``units.json`` entry) is queued or
    running (:func:`unit_states`: a job Slurm does not list yet counts as queued for
    :data:`UNKNOWN_GRACE_S` seconds after its submission); ``on_end(unit, state)`` is
    called once per job as it ends. Returns unit -> final state."""
    left = dict(entries)
    final: dict[str, str] = {}
    while left:
        for unit, state in unit_states(left).items():
            if state not in ACTIVE_STATES:
                final[unit] = state
                del left[unit]
                if on_end is not None:
                    on_end(unit, state)
        if left:
            time.sleep(poll_s)
    return final
