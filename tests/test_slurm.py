"""A grid through a real Slurm (``make slurm-test``: scripts/slurm-local.sh starts a one-node
Slurm with accounting): units as job arrays through submitit, one unit cancelled with scancel and
one SIGKILLed mid-run, a second ``grid run`` that finishes them, and the compiled table equal to
the same grid run with the local executor (every value bitwise; only wall_s differs).

Skipped unless Slurm answers (``sinfo``) and SCALECMP_SLURM_TESTS=1 (set by make slurm-test).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = [pytest.mark.slurm, pytest.mark.train]

torch = pytest.importorskip("torch")
pytest.importorskip("submitit")


def _slurm_up() -> bool:
    if os.environ.get("SCALECMP_SLURM_TESTS") != "1" or shutil.which("sinfo") is None:
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return proc.returncode == 0 and any(s.startswith(("idle", "mix", "alloc"))
                                        for s in proc.stdout.split())


if not _slurm_up():
    pytest.skip("needs a running Slurm (make slurm-test starts one)", allow_module_level=True)

from scalecmp.experiments import shards as SH  # noqa: E402
from scalecmp.experiments import slurm as S  # noqa: E402
from scalecmp.experiments.grid import load_spec, plan_units  # noqa: E402
from scalecmp.experiments.plan import done_cells  # noqa: E402
from scalecmp.experiments.trainer import list_checkpoints  # noqa: E402

SCALECMP = [sys.executable, "-m", "scalecmp"]

#: 2 procedures x 2 sizes x 3 scales, const + cooldown: 4 units of 4 runs each
SPEC = {
    "name": "slurm-ci",
    "procedures": ["clip", "mammut"],
    "sizes": ["xxs", "xs"],
    "samples_seen": [2048, 4096, 8192],
    "lr": 0.003,
    "schedules": ["const", "cooldown"],
    "cooldown_fraction": 0.25,
    "batch_size": 32,
    "warmup": 2,
    "data": {"type": "synthetic", "n_shapes": 3, "n_colours": 3, "max_objects": 1},
    "eval": {"tasks": ["classification", "retrieval"], "n_per_class": 8,
             "n_retrieval": 64},
    "train": {"context_length": 16},
    "cluster": {"partition": "debug", "cpus_per_task": 1, "timeout_min": 15,
                "array_parallelism": 2, "signal_delay_s": 30},
}


def _cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SCALECMP, *args], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _values(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["wall_s"]).reset_index(drop=True)


def _wait_until(predicate, timeout: float, what: str, poll: float = 0.5):  # noqa: ANN001, ANN202
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = predicate()
        if got:
            return got
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _registry(out: Path) -> dict:
    return S.read_registry(out)


def _worker_pids(job_id: str) -> list[int]:
    """The Python processes of a running array task ``<array id>_<task>`` (found by the
    Slurm variables in their environment)."""
    array, task = job_id.split("_")
    want = {f"SLURM_ARRAY_JOB_ID={array}".encode(), f"SLURM_ARRAY_TASK_ID={task}".encode()}
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = set((proc / "environ").read_bytes().split(b"\0"))
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if want <= env and b"python" in cmd:
            pids.append(int(proc.name))
    return pids


def test_grid_on_slurm_survives_scancel_and_sigkill(tmp_path):
    spec_path = tmp_path / "grid.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    spec = load_spec(spec_path)
    units = plan_units(spec, tmp_path / "slurm")
    assert len(units) == 4

    # the reference: the same grid with the local executor, one thread, one process
    ref = tmp_path / "local"
    _cli("grid", "run", str(spec_path), "--out", str(ref), "--threads", "1", "-q")

    out = tmp_path / "slurm"
    dry = _cli("grid", "run", str(spec_path), "--out", str(out), "--executor", "slurm",
               "--dry-run")
    assert "4 unit(s) to run" in dry.stdout and '"slurm_partition": "debug"' in dry.stdout
    assert not (out / "slurm" / "units.json").exists()  # a dry run submits nothing

    first = _cli("grid", "run", str(spec_path), "--out", str(out), "--executor", "slurm",
                 "--threads", "1")
    assert "4 unit(s) submitted" in first.stdout
    registry = _registry(out)
    assert sorted(registry) == sorted(u.id for u in units)
    job_of = {uid: entry["job_id"] for uid, entry in registry.items()}
    assert all("_" in j for j in job_of.values())  # one job array

    # a second submission while they are queued or running submits nothing
    again = _cli("grid", "run", str(spec_path), "--out", str(out), "--executor", "slurm")
    assert "0 unit(s) submitted" in again.stdout

    reference = pd.read_parquet(ref / "measurements.parquet")
    rows_of = {u.id: int(((reference["procedure"] == u.procedure)
                          & (reference["model"] == u.size)).sum()) for u in units}

    def running() -> set[str]:
        out = subprocess.run(["squeue", "-h", "-o", "%i|%T"], capture_output=True,
                             text=True).stdout
        return {ln.split("|")[0] for ln in out.split() if ln.endswith("|RUNNING")}

    def running_mid_unit() -> list[str]:
        """Units whose job runs, with a checkpoint on disk and rows still to write."""
        now = running()
        found = []
        for u in units:
            shard = len(SH.read_shard(out, u.id))
            if (job_of[u.id] in now and list_checkpoints(u.jobs[0].run_dir)
                    and shard < rows_of[u.id] - 8):
                found.append(u.id)
        return found if len(found) >= 2 else []

    victims = _wait_until(running_mid_unit, 300, "two units running mid-way", poll=0.2)
    # scancel: submitit ignores SIGTERM, Slurm kills after KillWait (5 s), so cancel the unit
    # with the most work left; SIGKILL the other one's worker at once
    left = {u: rows_of[u] - len(SH.read_shard(out, u)) for u in victims}
    cancelled, killed = sorted(victims, key=lambda u: -left[u])[:2]
    subprocess.run(["scancel", job_of[cancelled]], check=True)
    pids = _worker_pids(job_of[killed])
    assert pids, "no worker process found for the unit to SIGKILL"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

    # status while things are in flight names the job ids
    status = _cli("grid", "status", str(spec_path), "--out", str(out))
    assert job_of[cancelled].split("_")[0] in status.stdout

    # wait for every job of the first submission to end
    _wait_until(lambda: all(s not in S.ACTIVE_STATES
                            for s in S.job_states(list(job_of.values())).values()),
                600, "the first submission to end", poll=2.0)
    states = S.job_states(list(job_of.values()))
    assert states[job_of[cancelled]] == "CANCELLED"
    assert states[job_of[killed]] in S.FAILED_STATES
    status = _cli("grid", "status", str(spec_path), "--out", str(out))
    assert "failed:" in status.stdout and "log:" in status.stdout, status.stdout
    assert " 0 failed" not in status.stdout
    partial = _cli("grid", "collect", str(spec_path), "--out", str(out))
    assert "cells of 'slurm-ci' done" in partial.stdout

    # the second run submits only the unfinished units (the SIGKILLed one among them) and
    # waits for them
    unfinished = {u.id for u in plan_units(spec, out, done_cells(spec, SH.collected_table(out,
                                                                                        spec)))}
    assert killed in unfinished and unfinished <= {cancelled, killed}
    second = _cli("grid", "run", str(spec_path), "--out", str(out), "--executor", "slurm",
                  "--threads", "1", "--wait")
    assert f"{len(unfinished)} unit(s) submitted" in second.stdout, second.stdout
    assert "24/24 cells done" in second.stdout, second.stdout
    new = _registry(out)
    assert {u for u in new if new[u]["job_id"] != job_of[u]} == unfinished

    local = pd.read_parquet(ref / "measurements.parquet")
    slurm = pd.read_parquet(out / "measurements.parquet")
    assert len(slurm) == len(local)  # nothing lost, nothing duplicated
    pd.testing.assert_frame_equal(_values(slurm), _values(local), check_exact=True)
    status = _cli("grid", "status", str(spec_path), "--out", str(out))
    assert "24/24 cells done, 0 running, 0 queued, 0 failed, 0 missing" in status.stdout
    json.dumps(new)  # the registry is plain JSON


def test_preempted_unit_requeues_itself_and_resumes(tmp_path):
    """SIGTERM then USR2 (what Slurm sends on preemption; submitit's own test hook does the
    same): the unit checkpoints, requeues itself, resumes from its last checkpoint on disk
    (fewer steps left than at the start) and finishes without another grid run."""
    raw = {**SPEC, "procedures": ["clip"], "sizes": ["xs"],
           "train": {**SPEC["train"], "checkpoint_every": 1024}}
    spec_path = tmp_path / "grid.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    spec = load_spec(spec_path)
    (unit,) = plan_units(spec, tmp_path / "slurm")
    full = _start_lines(unit, spec)
    out = tmp_path / "slurm"
    _cli("grid", "run", str(spec_path), "--out", str(out), "--executor", "slurm",
         "--threads", "1")
    job = _registry(out)[unit.id]["job_id"]
    const = unit.jobs[0].run_dir

    def mid_run() -> bool:
        ckpts = list_checkpoints(const)
        return len(ckpts) >= 2 and max(ckpts) < unit.jobs[0].total

    _wait_until(mid_run, 240, "the const run to be mid-way")
    subprocess.run(["scancel", job, "--signal", "SIGTERM"], check=True)
    subprocess.run(["scancel", job, "--signal", "USR2"], check=True)
    _wait_until(lambda: S.job_states([job])[job] == "COMPLETED", 400, "the requeued unit",
                poll=2.0)
    log = Path(_registry(out)[unit.id]["stdout"]).read_text()
    assert log.count(f"unit {unit.id}: starting") >= 1
    steps = [int(line.split(": ")[1].split()[0]) for line in log.splitlines()
             if "const to" in line and "steps to train" in line]
    assert steps and steps[-1] < full[0], (steps, full)  # resumed, not restarted
    err = Path(_registry(out)[unit.id]["stderr"]).read_text()
    assert "preempted" in err or "timed-out" in err  # submitit's checkpoint handler ran
    status = _cli("grid", "status", str(spec_path), "--out", str(out))
    assert "6/6 cells done" in status.stdout


def _start_lines(unit, spec) -> list[int]:  # noqa: ANN001
    from scalecmp.experiments.plan import steps_to_train

    return [steps_to_train(spec, j) for j in unit.jobs]


def test_a_two_rank_unit_trains_with_torch_distributed_from_slurm(tmp_path):
    """tasks_per_node: 2 -> one unit, two Slurm tasks, torch.distributed (gloo) set up from
    the Slurm environment; every rank trains half of each batch, rank 0 evaluates: the values
    are those of one process (to float rounding: losses, the smooth ones too, to 1e-5;
    evaluations up to a flipped near-tie)."""
    raw = {**SPEC, "procedures": ["clip"], "sizes": ["xxs"], "samples_seen": [256, 512],
           "cluster": {**SPEC["cluster"], "tasks_per_node": 2}}
    spec_path = tmp_path / "grid.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    _cli("grid", "run", str(spec_path), "--out", str(tmp_path / "local"), "--threads", "1",
         "-q")
    run = _cli("grid", "run", str(spec_path), "--out", str(tmp_path / "slurm"), "--executor",
               "slurm", "--threads", "1", "--wait")
    assert "4/4 cells done" in run.stdout, run.stdout
    logs = sorted((tmp_path / "slurm" / "slurm" / "logs").rglob("*_log.out"))
    assert len(logs) == 2  # two tasks
    assert "global_rank=1(2)" in "".join(p.read_text() for p in logs)
    one = _values(pd.read_parquet(tmp_path / "local" / "measurements.parquet"))
    two = _values(pd.read_parquet(tmp_path / "slurm" / "measurements.parquet"))
    pd.testing.assert_frame_equal(two.drop(columns="value"), one.drop(columns="value"))
    # the training losses and the smooth evaluation losses agree to float rounding
    loss = (one["task"] == "train") | one["metric"].isin(["cross_entropy", "contrastive_loss"])
    assert (two["value"][loss] - one["value"][loss]).abs().max() < 1e-5
    # the other evaluations count items: rounding may flip a near-tie, one item of 64
    diff = (two["value"][~loss] - one["value"][~loss]).abs()
    assert diff.max() <= 1 / 64 + 1e-9 and (diff == 0).mean() >= 0.9
