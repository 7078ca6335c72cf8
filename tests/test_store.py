"""The measurement table: atomic appends, dedupe on the cell key, crash safety, locking."""

from __future__ import annotations

import multiprocessing as mp
import os

import pandas as pd
import pytest

from scalecmp.experiments import store


def _rows(samples=(1024, 2048), value=0.5, procedure="clip", task="classification"):
    return [
        {
            "procedure": procedure,
            "model": "s",
            "dataset": "synthetic",
            "schedule": "const",
            "lr": 1e-3,
            "batch_size": 64,
            "warmup": 4,
            "seed": 0,
            "samples_seen": s,
            "gflops_per_sample": 0.01,
            "gflops_total": 0.01 * s,
            "params": 1000,
            "task": task,
            "metric": "acc1",
            "value": value,
            "checkpoint": f"ckpt-{s}.pt",
        }
        for s in samples
    ]


def test_append_creates_and_extends(tmp_path):
    assert store.read_measurements(tmp_path).empty
    assert store.append_measurements(tmp_path, _rows()) == 2
    assert store.append_measurements(tmp_path, _rows(samples=(4096,))) == 3
    table = store.read_measurements(tmp_path)
    assert list(table.columns) == list(store.COLUMNS)
    assert table["samples_seen"].tolist() == [1024, 2048, 4096]
    assert table["cooldown"].tolist() == [0.0, 0.0, 0.0]  # default filled in


def test_dedupe_on_cell_key_last_wins(tmp_path):
    store.append_measurements(tmp_path, _rows(value=0.1))
    store.append_measurements(tmp_path, _rows(value=0.2))
    store.append_measurements(tmp_path, _rows(value=0.3, task="retrieval"))
    table = store.read_measurements(tmp_path)
    assert len(table) == 4
    cls = table[table["task"] == "classification"]
    assert cls["value"].tolist() == [0.2, 0.2]


def test_crash_before_replace_keeps_old_file(tmp_path, monkeypatch):
    store.append_measurements(tmp_path, _rows())
    before = store.measurements_path(tmp_path).read_bytes()

    def boom(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", boom)  # the os module store writes through
    with pytest.raises(OSError, match="simulated crash"):
        store.append_measurements(tmp_path, _rows(samples=(8192,)))
    monkeypatch.undo()
    assert store.measurements_path(tmp_path).read_bytes() == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no debris
    assert len(store.read_measurements(tmp_path)) == 2


def test_missing_column_is_a_data_error(tmp_path):
    rows = _rows()
    del rows[0]["value"], rows[1]["value"]
    with pytest.raises(store.DataError, match="value"):
        store.append_measurements(tmp_path, rows)


def _writer(path: str, procedure: str, n: int) -> None:
    for i in range(n):
        store.append_measurements(path, _rows(samples=(64 * (i + 1),), procedure=procedure))


def test_two_processes_never_lose_rows(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), p, 8)) for p in ("clip", "mammut")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    table = store.read_measurements(tmp_path)
    assert len(table) == 16
    assert isinstance(table, pd.DataFrame)
