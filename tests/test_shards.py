"""Result shards: one file per unit, compiled into the table without a global lock; a grid
killed at any moment and re-run loses no row and duplicates none."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scalecmp.errors import DataError
from scalecmp.experiments import shards as SH
from scalecmp.experiments.shards import load_measurements
from scalecmp.experiments.store import KEY, read_measurements


def _rows(unit: int, n: int, value: float = 0.5) -> list[dict]:
    return [{"procedure": f"p{unit}", "model": "xxs", "dataset": "d", "schedule": "const",
             "lr": 1e-3, "batch_size": 8, "warmup": 0, "seed": 0, "samples_seen": 8 * (i + 1),
             "gflops_per_sample": 1.0, "gflops_total": 8.0 * (i + 1), "params": 10,
             "task": "train", "metric": "loss", "value": value + i} for i in range(n)]


def _writer(out: str, unit: int, n: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    for i in range(n):  # one row at a time, as a unit measures its checkpoints
        SH.write_shard_rows(out, f"unit{unit}", [_rows(unit, n)[i]])


def test_units_writing_at_the_same_instant_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), u, 25, start)) for u in range(8)]
    for p in procs:
        p.start()
    start.set()  # all eight units write their shards at once
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    table, changed = SH.collect(tmp_path)
    assert changed and len(table) == 8 * 25
    assert not table.duplicated(subset=list(KEY)).any()
    assert len(SH.shard_paths(tmp_path)) == 8
    # a second collect changes nothing; the table on disk is the compiled one
    assert SH.collect(tmp_path)[1] is False
    pd.testing.assert_frame_equal(read_measurements(tmp_path), table)


def test_rewritten_rows_replace_and_legacy_rows_are_kept(tmp_path):
    legacy = pd.DataFrame(_rows(9, 2))
    legacy.to_parquet(tmp_path / "measurements.parquet", index=False)
    SH.write_shard_rows(tmp_path, "unit1", _rows(1, 3))
    SH.write_shard_rows(tmp_path, "unit1", _rows(1, 1, value=7.0))  # re-measured
    shard = SH.read_shard(tmp_path, "unit1")
    assert len(shard) == 3 and shard["value"].tolist()[-1] == 7.0
    table, _ = SH.collect(tmp_path)
    assert len(table) == 2 + 3
    assert set(table["procedure"]) == {"p9", "p1"}
    # temporary files of an interrupted write are not shards
    (tmp_path / "shards" / ".unit2.parquet.abc.tmp").write_bytes(b"junk")
    assert [p.name for p in SH.shard_paths(tmp_path)] == ["unit1.parquet"]
    with pytest.raises(ValueError):
        SH.shard_path(tmp_path, "../escape")


def test_analysis_commands_read_a_grid_folder(tmp_path):
    SH.write_shard_rows(tmp_path, "unit1", _rows(1, 3))
    table = load_measurements(tmp_path)  # compiles the shards first
    assert len(table) == 3 and (tmp_path / "measurements.parquet").is_file()
    with pytest.raises(DataError, match="grid folder"):
        load_measurements(tmp_path / "shards")
    (tmp_path / "shards" / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read"):
        SH.collect(tmp_path)


def test_the_public_reader_takes_files_and_grid_folders(tmp_path):
    """``scalecmp.load_measurements`` is this reader: a file goes to io's file reader (its
    messages), a folder is read as a grid folder."""
    import scalecmp

    assert scalecmp.load_measurements is load_measurements
    pd.DataFrame({"c": [1.0, 2.0], "acc": [0.1, 0.2]}).to_csv(tmp_path / "m.csv", index=False)
    assert load_measurements(tmp_path / "m.csv")["acc"].tolist() == [0.1, 0.2]
    with pytest.raises(DataError, match=r"^file not found: .*missing\.csv$"):
        load_measurements(tmp_path / "missing.csv")
    with pytest.raises(DataError, match=r"^expected a file or a grid folder \(with "
                       r"measurements\.parquet or shards/\), got a directory: "):
        load_measurements(tmp_path)
    SH.write_shard_rows(tmp_path / "grid", "unit1", _rows(1, 2))
    assert len(scalecmp.load_measurements(str(tmp_path / "grid"))) == 2


pytest.importorskip("torch")

SPEC = {
    "name": "kill", "procedures": ["clip", "mammut"], "sizes": ["xxs"],
    "samples_seen": [64, 128, 256], "lr": 3e-3, "schedules": ["const", "cooldown"],
    "cosine_check": True, "batch_size": 16, "warmup": 1,
    "data": {"type": "synthetic", "n_shapes": 2, "n_colours": 2},
    "eval": {"tasks": ["classification", "retrieval"], "n_per_class": 4, "n_retrieval": 16},
    "train": {"context_length": 12, "workers": 2},
}


def _progress(out: str) -> int:
    """Files a grid has written so far: checkpoints, shards, evaluation records (and their
    temporary files; not the lock files a run takes as it starts)."""
    if not Path(out).is_dir():
        return 0
    return sum(1 for p in Path(out).rglob("*") if p.is_file() and p.suffix != ".lock")


def _run(spec: str, out: str, kill_after: float | None = None) -> int:
    """Run the grid to the end, or SIGKILL it (and its workers) ``kill_after`` seconds after
    it has written a new file."""
    cmd = [sys.executable, "-m", "scalecmp", "grid", "run", spec, "--out", out, "--threads",
           "2", "-q"]
    before = _progress(out)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    if kill_after is None:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        return 0
    while proc.poll() is None and _progress(out) <= before:
        time.sleep(0.02)
    time.sleep(kill_after)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the grid and its worker processes, no cleanup
    proc.wait(60)
    return proc.returncode


@pytest.mark.slow
@pytest.mark.train
def test_grid_sigkilled_at_many_moments_then_rerun_matches_uninterrupted(tmp_path):
    spec = tmp_path / "grid.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    _run(str(spec), str(tmp_path / "ref"))
    reference = read_measurements(tmp_path / "ref")
    out = str(tmp_path / "run")
    # killed again and again, each time at a different moment after the grid wrote its next
    # file (a checkpoint, a shard, an evaluation record: mid-training, mid-evaluation and
    # right at a write), in both worker processes, then run to the end
    seen = []
    for delay in (0.0, 0.05, 0.3, 0.6):
        _run(str(spec), out, delay)
        seen.append(len(SH.collected_table(out)) if os.path.isdir(out) else 0)
    assert any(0 < n < len(reference) for n in seen), seen  # some kills hit mid-grid
    _run(str(spec), out)
    final = read_measurements(out)
    assert len(final) == len(reference)  # nothing lost, nothing duplicated
    assert not final.duplicated(subset=list(KEY)).any()
    cols = [c for c in final.columns if c != "wall_s"]
    pd.testing.assert_frame_equal(final[cols], reference[cols], check_exact=True)
