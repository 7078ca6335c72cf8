"""Grid specs: validation, expansion, planning, skipping done cells, kill + re-run."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest
import torch

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments import grid as G
from scalecmp.experiments.store import read_measurements
from scalecmp.experiments.trainer import list_checkpoints

torch.set_num_threads(1)

TINY = {
    "name": "tiny",
    "procedures": ["clip"],
    "sizes": ["xxs"],
    "samples_seen": [64, 128],
    "lr": 0.003,
    "schedules": ["const", "cooldown"],
    "cooldown_fraction": 0.5,
    "batch_size": 16,
    "warmup": 1,
    "data": {"type": "synthetic", "n_shapes": 3, "n_colours": 3},
    "eval": {"tasks": ["classification", "retrieval", "segmentation"], "n_per_class": 2,
             "n_retrieval": 16, "n_seg_train": 8, "n_seg_test": 4, "seg_epochs": 2},
    "train": {"context_length": 16},
}


def spec(**changes):
    return G.parse_spec({**TINY, **changes})


def values(table: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in table.columns if c != "wall_s"]
    return table[cols].sort_values(["schedule", "samples_seen", "task", "metric"]).reset_index(
        drop=True
    )


# ------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sizez": ["xs"]}, "unknown key 'sizez'"),
        ({"procedures": ["clip", "blip"]}, "unknown procedure 'blip'"),
        ({"sizes": ["huge"]}, "unknown size 'huge'"),
        ({"samples_seen": [64, 0]}, "'samples_seen' must be >= 1"),
        ({"samples_seen": [64, -128]}, "'samples_seen' must be >= 1"),
        ({"samples_seen": [100]}, "not a multiple of batch_size 16"),
        ({"lr": -1}, "'lr' must be > 0"),
        ({"schedules": ["linear"]}, "unknown schedule 'linear'"),
        ({"warmup": 8}, "warmup"),
        ({"data": {"type": "synthetic", "noise": 0.1}}, "unknown key 'data.noise'"),
        ({"data": {"type": "synthetic", "caption_noise": 2}}, "caption_noise"),
        ({"data": {"type": "synthetic", "caption_positions": "no"}}, "caption_positions"),
        ({"data": {"type": "parquet"}}, "unknown data type 'parquet'"),
        ({"eval": {"tasks": ["captioning"]}}, "unknown eval task 'captioning'"),
        ({"train": {"optimizer": "sgd"}}, "unknown key 'train.optimizer'"),
        ({"procedures": ["clip", "clip"]}, "procedures: 'clip' is listed twice"),
        ({"sizes": ["xxs", "xxs"]}, "sizes: 'xxs' is listed twice"),
        ({"samples_seen": [64, 64]}, "samples_seen: '64' is listed twice"),
        ({"lr": [0.001, 1e-3]}, "lr: '0.001' is listed twice"),
        ({"lr": {"xxs": [0.003, 0.003]}}, "lr: '0.003' is listed twice"),
        ({"schedules": ["const", "const"]}, "schedules: 'const' is listed twice"),
        ({"train": {"device": "gpu"}}, "train.device must be auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_spec_gives_one_clear_line(change, message):
    with pytest.raises(UsageError) as info:
        spec(**change)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_spec_files_that_are_not_yaml_text(tmp_path):
    """A folder, or a file that is not UTF-8 text, is one DataError line."""
    with pytest.raises(DataError, match="spec must be a YAML file, got a directory"):
        G.load_spec(tmp_path)
    binary = tmp_path / "spec.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="not UTF-8 text"):
        G.load_spec(binary)


def test_world_knobs_reach_the_training_stream_and_evaluation(tmp_path):
    """A world knob in the spec's data section is the world the runner trains and
    evaluates on: with caption_positions false no training or retrieval caption says where
    an object is."""
    from scalecmp.experiments.runner import GridRunner

    data = {**TINY["data"], "caption_positions": False}
    runner = GridRunner(spec(data=data), tmp_path)
    world = runner._world(runner.spec.data)
    assert world.config.caption_positions is False
    captions = [*world.train_batch(0, 200).captions, *runner.tasks["retrieval"].captions]
    assert not any(w in c.split() for c in captions for w in ("corner", "centre", "top"))


def test_missing_required_key():
    raw = dict(TINY)
    del raw["sizes"]
    with pytest.raises(UsageError, match="missing required key 'sizes'"):
        G.parse_spec(raw)


def test_bad_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("procedures: [clip\nsizes: xs\n")
    with pytest.raises(UsageError) as info:
        G.load_spec(path)
    assert "bad YAML" in str(info.value) and "\n" not in str(info.value)


def test_load_spec_from_yaml(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(textwrap.dedent("""
        procedures: [clip, mammut]
        sizes: [xxs, xs]
        samples_seen: [128, 64]
        lr: [1e-3, 3e-3]
        batch_size: 16
    """))
    s = G.load_spec(path)
    assert s.samples_seen == (64, 128) and s.lrs == (1e-3, 3e-3)
    assert s.schedules == ("cosine",) and s.dataset == "synthetic"
    assert len(G.expand_cells(s)) == 2 * 2 * 2 * 2


# ------------------------------------------------------------------------ planning
def test_const_cooldown_plan(tmp_path):
    s = spec(samples_seen=[64, 128, 256])
    assert s.cooldown_start(256) == 128 and s.cooldown_start(64) == 32
    jobs = G.plan_jobs(s, tmp_path)
    assert [j.kind for j in jobs] == ["const", "cooldown", "cooldown", "cooldown"]
    const = jobs[0]
    assert const.total == 256 and const.measure == [64, 128, 256]
    assert const.save == [32, 64, 128, 256]
    assert [(j.branch_from, j.total) for j in jobs[1:]] == [(32, 64), (64, 128), (128, 256)]
    assert G.steps_to_train(s, const) == 16


def test_cosine_plan_one_run_per_target(tmp_path):
    s = spec(schedules=["cosine"], lr=[1e-3, 2e-3])
    jobs = G.plan_jobs(s, tmp_path)
    assert [(j.kind, j.lr, j.total) for j in jobs] == [
        ("cosine", 1e-3, 64), ("cosine", 1e-3, 128), ("cosine", 2e-3, 64), ("cosine", 2e-3, 128)
    ]
    assert len({j.run_dir for j in jobs}) == 4


# ------------------------------------------------------------------------ running
def test_run_skip_and_status(tmp_path):
    s = spec()
    summary = G.run_grid(s, tmp_path, device="cpu", progress=False)
    assert summary["done_after"] == summary["cells"] == 4
    assert summary["trained_steps"] == 8 + 2 + 4  # const to 128, branches 32->64, 64->128
    table = read_measurements(tmp_path)
    assert set(table["task"]) == {"train", "zeroshot_classification", "zeroshot_retrieval",
                                  "segmentation"}
    assert (table["gflops_total"] == table["gflops_per_sample"] * table["samples_seen"]).all()
    assert table["params"].gt(0).all()
    assert len(table) == 4 * (1 + 4 + 7 + 1)  # + the two smooth losses
    assert len(list((tmp_path / "evals").rglob("*.json"))) == 4 * 3

    again = G.run_grid(s, tmp_path, device="cpu", progress=False)
    assert again["trained_steps"] == 0 and again["evaluated"] == 0
    pd.testing.assert_frame_equal(read_measurements(tmp_path), table)

    status = G.grid_status(s, tmp_path)
    assert status[["cells", "done", "missing"]].values.tolist() == [[4, 4, 0]]

    # every row is in the unit's shard; the table is compiled from the shards
    (shard,) = (tmp_path / "shards").glob("*.parquet")
    assert shard.name == G.plan_units(s, tmp_path)[0].id + ".parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(shard), table)
    # rows lost but checkpoint kept: evaluated from disk, nothing trained
    kept = table[~((table["schedule"] == "const") & (table["samples_seen"] == 128))]
    kept.to_parquet(tmp_path / "measurements.parquet", index=False)
    kept.to_parquet(shard, index=False)
    assert G.grid_status(s, tmp_path)["missing"].tolist() == [1]
    third = G.run_grid(s, tmp_path, device="cpu", progress=False)
    assert third["trained_steps"] == 0 and third["evaluated"] == 1
    pd.testing.assert_frame_equal(values(read_measurements(tmp_path)), values(table))


def test_grid_killed_midway_and_rerun_matches_uninterrupted(tmp_path, monkeypatch):
    s = spec()
    G.run_grid(s, tmp_path / "ref", device="cpu", progress=False)
    reference = read_measurements(tmp_path / "ref")

    calls = {"n": 0}
    original = G.GridRunner.measure

    def measure_then_die(self, *args, **kwargs):
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(G.GridRunner, "measure", measure_then_die)
    with pytest.raises(KeyboardInterrupt):
        G.run_grid(s, tmp_path / "run", device="cpu", progress=False)
    monkeypatch.setattr(G.GridRunner, "measure", original)
    partial = G.collected_table(tmp_path / "run")
    assert 0 < len(partial) < len(reference)

    rerun = G.run_grid(s, tmp_path / "run", device="cpu", progress=False)
    assert rerun["done_after"] == 4
    final = read_measurements(tmp_path / "run")
    assert len(final) == len(reference)  # nothing lost, nothing duplicated
    pd.testing.assert_frame_equal(values(final), values(reference))


def test_checkpoints_layout(tmp_path):
    s = spec(samples_seen=[64], schedules=["cosine"])
    G.run_grid(s, tmp_path, device="cpu", progress=False)
    (job,) = G.plan_jobs(s, tmp_path)
    assert list(list_checkpoints(job.run_dir)) == [64]
    assert job.run_dir.is_relative_to(tmp_path / "checkpoints")


def test_learning_rate_per_size(tmp_path):
    s = spec(sizes=["xxs", "xs"], lr={"xxs": 3e-3, "xs": [1e-3, 2e-3]})
    assert s.lrs_for("xxs") == (3e-3,) and s.lrs_for("xs") == (1e-3, 2e-3)
    cells = G.expand_cells(s)
    assert {(c.size, c.lr) for c in cells} == {("xxs", 3e-3), ("xs", 1e-3), ("xs", 2e-3)}
    assert len({j.run_dir for j in G.plan_jobs(s, tmp_path) if j.kind == "const"}) == 3
    with pytest.raises(UsageError, match="no learning rate for size 'xs'"):
        spec(sizes=["xxs", "xs"], lr={"xxs": 3e-3})
    with pytest.raises(UsageError, match="size 'm' is not in sizes"):
        spec(lr={"xxs": 3e-3, "m": 1e-3})


def test_real_data_csv_without_eval_records_training_loss(tmp_path):
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    lines = ["filepath,caption"]
    for i in range(12):
        pixels = rng.integers(0, 255, (40, 48, 3), dtype="uint8")
        Image.fromarray(pixels).save(tmp_path / f"img{i}.png")
        lines.append(f"img{i}.png,a photo of thing {i % 3}")
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    s = G.parse_spec(
        {"procedures": ["clip"], "sizes": ["xxs"], "samples_seen": [16, 32], "batch_size": 8,
         "warmup": 1, "schedules": ["cosine"],
         "data": {"type": "csv", "path": "pairs.csv", "name": "mycsv", "image_size": 32},
         "train": {"context_length": 12}},
        base_dir=tmp_path,
    )
    assert s.eval_world is None and s.table_tasks == ("train",)
    summary = G.run_grid(s, tmp_path / "out", device="cpu", progress=False)
    assert summary["done_after"] == 2
    table = read_measurements(tmp_path / "out")
    assert set(table["task"]) == {"train"} and set(table["dataset"]) == {"mycsv"}
    assert table["value"].gt(0).all()
    with pytest.raises(DataError, match="data.path not found"):
        G.parse_spec({**TINY, "data": {"type": "csv", "path": "nope.csv"}}, base_dir=tmp_path)


def test_checkpoint_every_adds_resume_points(tmp_path):
    s = spec(schedules=["cosine"], samples_seen=[128], train={"checkpoint_every": 32})
    (job,) = G.plan_jobs(s, tmp_path)
    assert job.save == [32, 64, 96, 128] and job.measure == [128]
    with pytest.raises(UsageError, match="checkpoint_every"):
        spec(train={"checkpoint_every": 20})


def test_spec_rows_selects_the_grid(tmp_path):
    s = spec(samples_seen=[64])
    G.run_grid(s, tmp_path, device="cpu", progress=False)
    table = read_measurements(tmp_path)
    other = table.assign(lr=0.1)
    both = pd.concat([table, other], ignore_index=True)
    pd.testing.assert_frame_equal(G.spec_rows(s, both), table)


KILL_SCRIPT = """
import json, os, signal, sys
import torch
torch.set_num_threads(1)
from scalecmp.experiments import grid as G
raw, out, kill_at = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
calls = {"n": 0}
original = G.GridRunner.measure
def measure(self, *args, **kwargs):
    if calls["n"] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: a real kill
    calls["n"] += 1
    return original(self, *args, **kwargs)
G.GridRunner.measure = measure
G.run_grid(G.parse_spec(raw), out, device="cpu", progress=False)
"""


@pytest.mark.slow
def test_sigkilled_grid_rerun_matches_uninterrupted(tmp_path):
    import json
    import subprocess
    import sys

    raw = {**TINY, "procedures": ["clip", "mammut"]}
    s = G.parse_spec(raw)
    G.run_grid(s, tmp_path / "ref", device="cpu", progress=False)
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, json.dumps(raw),
                           str(tmp_path / "run"), "5"], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    partial = G.collected_table(tmp_path / "run")
    assert 0 < len(partial) < len(read_measurements(tmp_path / "ref"))
    G.run_grid(s, tmp_path / "run", device="cpu", progress=False)
    pd.testing.assert_frame_equal(values(read_measurements(tmp_path / "run")),
                                  values(read_measurements(tmp_path / "ref")))


def test_slim_checkpoints_and_growing_the_grid(tmp_path):
    from scalecmp.experiments.trainer import load_checkpoint

    small = spec()
    summary = G.run_grid(small, tmp_path / "grow", device="cpu", progress=False)
    assert summary["slimmed"] > 0
    const = G.run_root(small, tmp_path / "grow", "clip", "xxs", 3e-3) / "const"
    ckpts = list_checkpoints(const)
    full = {s for s, p in ckpts.items() if load_checkpoint(p)["optimizer"] is not None}
    assert full == {max(ckpts)}  # only the latest const checkpoint keeps its optimiser

    # a grid with a larger target continues the const run from its latest checkpoint and
    # gives the same measurements as a fresh run of the larger grid
    large = spec(samples_seen=[64, 128, 256])
    grown = G.run_grid(large, tmp_path / "grow", device="cpu", progress=False)
    assert grown["trained_steps"] == 8 + 8  # const 128 -> 256, branch 128 -> 256
    G.run_grid(large, tmp_path / "fresh", device="cpu", progress=False)
    pd.testing.assert_frame_equal(values(read_measurements(tmp_path / "grow")),
                                  values(read_measurements(tmp_path / "fresh")))


# ------------------------------------------------------------------------ cosine check
def test_cosine_check_adds_one_cosine_cell_at_the_largest_scale(tmp_path):
    s = spec(samples_seen=[64, 128, 256], cosine_check=True, procedures=["clip", "mammut"])
    cells = G.expand_cells(s)
    cosine = [c for c in cells if c.schedule == "cosine"]
    assert [(c.procedure, c.samples_seen) for c in cosine] == [("clip", 256), ("mammut", 256)]
    assert len(cells) == 2 * (2 * 3 + 1)
    jobs = G.plan_jobs(s, tmp_path)
    kinds = [(j.procedure, j.kind, j.total) for j in jobs]
    # per procedure: the const run, its branches, then the one cosine run that checks them
    assert kinds[:5] == [("clip", "const", 256), ("clip", "cooldown", 64),
                         ("clip", "cooldown", 128), ("clip", "cooldown", 256),
                         ("clip", "cosine", 256)]
    (cos,) = [j for j in jobs if j.kind == "cosine" and j.procedure == "clip"]
    assert cos.run_dir.name == "cosine-256" and cos.measure == [256]
    # off by default; nothing is added when cosine is a measured schedule anyway
    assert not spec().cosine_check
    both = spec(schedules=["cosine", "const"], cosine_check=True)
    assert len(G.expand_cells(both)) == 2 * 2
    with pytest.raises(UsageError, match="'cosine_check' must be true, false or a list"):
        spec(cosine_check="yes")
    # a list of sizes: the check's runs for those sizes only
    two = spec(sizes=["xxs", "xs"], cosine_check=["xs"])
    assert two.cosine_sizes == ("xs",)
    assert [(c.size, c.schedule) for c in G.expand_cells(two) if c.schedule == "cosine"] == [
        ("xs", "cosine")]
    assert spec(sizes=["xxs", "xs"], cosine_check=True).cosine_sizes == ("xxs", "xs")
    with pytest.raises(UsageError, match="cosine_check: size 's' is not in sizes"):
        spec(sizes=["xxs", "xs"], cosine_check=["s"])


def test_cosine_check_run_resume_and_layout(tmp_path):
    s = spec(cosine_check=True)
    summary = G.run_grid(s, tmp_path, device="cpu", progress=False)
    assert summary["done_after"] == summary["cells"] == 5
    assert summary["trained_steps"] == 8 + 2 + 4 + 8  # + the cosine run to 128
    table = read_measurements(tmp_path)
    cos = table[table["schedule"] == "cosine"]
    assert set(cos["samples_seen"]) == {128} and set(cos["cooldown"]) == {0.0}
    assert set(cos["task"]) == set(s.table_tasks)
    root = G.run_root(s, tmp_path, "clip", "xxs", 3e-3)
    assert list(list_checkpoints(root / "cosine-128")) == [128]
    # the cosine rows are a cosine grid's rows: a cosine-only spec finds its cell done
    cosine_only = spec(samples_seen=[128], schedules=["cosine"])
    assert G.done_cells(cosine_only, table) == set(G.expand_cells(cosine_only))
    # nothing left to do; a lost cosine row is evaluated again from its checkpoint
    again = G.run_grid(s, tmp_path, device="cpu", progress=False)
    assert again["trained_steps"] == 0 and again["evaluated"] == 0
    table[table["schedule"] != "cosine"].to_parquet(tmp_path / "measurements.parquet",
                                                    index=False)
    (cosine_shard,) = (tmp_path / "shards").glob("*.cosine128.parquet")
    cosine_shard.unlink()  # the cosine unit's rows are gone
    third = G.run_grid(s, tmp_path, device="cpu", progress=False)
    assert third["trained_steps"] == 0 and third["evaluated"] == 1
    pd.testing.assert_frame_equal(values(read_measurements(tmp_path)), values(table))


# ------------------------------------------------------------------------ progress, workers
def test_plain_progress_lines_when_not_a_terminal(tmp_path, capsys):
    s = spec(cosine_check=True)
    G.run_grid(s, tmp_path, device="cpu", progress=True)  # pytest's stdout is not a tty
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == ("grid 'tiny': 4 runs to train and evaluate (22 steps of batch 16, 5 of "
                      "5 cells missing)")
    lines = out[1:]
    assert len(lines) == 4  # one line per finished run
    assert lines[0].startswith("[1/4] clip xxs lr=0.003 const to 128: 8 steps, 2 evaluations")
    assert lines[-1].startswith("[4/4] clip xxs lr=0.003 cosine to 128: 8 steps, 1 evaluation ")
    assert all("elapsed " in line and "ETA " in line for line in lines)
    assert lines[-1].endswith("ETA 0:00")
    G.run_grid(s, tmp_path, device="cpu", progress=True)  # nothing to do: nothing printed
    assert capsys.readouterr().out == ""
    G.run_grid(s, tmp_path / "quiet", device="cpu", progress=False)
    assert capsys.readouterr().out == ""


def test_workers_spec_key():
    assert spec().train.workers == 1
    assert spec(train={"workers": 2}).train.workers == 2
    assert spec(train={"workers": "auto"}).train.workers == "auto"
    with pytest.raises(UsageError, match="train.workers"):
        spec(train={"workers": 0})
    # workers do not change trajectories: not part of the checkpoint fingerprint
    two = spec(train={**TINY["train"], "workers": 2})
    assert two.fingerprint() == spec().fingerprint()
    units = G.plan_units(spec(procedures=["clip", "mammut"], cosine_check=True), "/nowhere")
    assert [[j.kind for j in u.jobs] for u in units] == [
        ["const", "cooldown", "cooldown"], ["cosine"], ["const", "cooldown", "cooldown"],
        ["cosine"]]


@pytest.mark.slow
def test_parallel_workers_write_the_serial_table(tmp_path, capsys):
    s = spec(procedures=["clip", "mammut"], cosine_check=True)
    serial = G.run_grid(s, tmp_path / "serial", device="cpu", progress=False)
    assert serial["workers"] == 1
    par = G.run_grid(s, tmp_path / "par", device="cpu", progress=True, workers=2)
    assert par["workers"] == 2 and par["done_after"] == par["cells"] == 10
    assert par["trained_steps"] == serial["trained_steps"]
    assert par["evaluated"] == serial["evaluated"]
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + 8 and lines[-1].startswith("[8/8] ")
    a, b = read_measurements(tmp_path / "serial"), read_measurements(tmp_path / "par")
    cols = [c for c in a.columns if c != "wall_s"]
    pd.testing.assert_frame_equal(a[cols], b[cols])  # same values, same row order
    again = G.run_grid(s, tmp_path / "par", device="cpu", progress=False, workers=2)
    assert again["trained_steps"] == 0 and again["evaluated"] == 0


@pytest.mark.slow
def test_grids_sharing_one_pool_write_the_tables_each_writes_alone(tmp_path, capsys):
    s = spec(procedures=["clip", "mammut"])
    other = spec(procedures=["clip", "mammut"], seed=1, schedules=["const"])
    alone = [G.run_grid(s, tmp_path / "a", device="cpu", progress=False),
             G.run_grid(other, tmp_path / "b", device="cpu", progress=False)]
    both = G.run_grids([(s, tmp_path / "c"), (other, tmp_path / "c" / "seed")],
                       device="cpu", progress=True, workers=2)
    for one, shared in zip(alone, both, strict=True):
        assert shared["workers"] == 2 and shared["done_after"] == shared["cells"]
        assert shared["trained_steps"] == one["trained_steps"]
        assert shared["evaluated"] == one["evaluated"]
    lines = capsys.readouterr().out.strip().splitlines()
    # each grid's header and its own numbered lines
    assert sum(ln.startswith("grid '") for ln in lines) == 2
    assert any(ln.startswith("[6/6] ") for ln in lines)
    assert any(ln.startswith("[2/2] ") for ln in lines)
    for ref, got in (("a", "c"), ("b", "c/seed")):
        x, y = read_measurements(tmp_path / ref), read_measurements(tmp_path / got)
        cols = [c for c in x.columns if c != "wall_s"]
        pd.testing.assert_frame_equal(x[cols], y[cols])
    with pytest.raises(UsageError, match="own folder"):
        G.run_grids([(s, tmp_path / "d"), (other, tmp_path / "d")], device="cpu")


# ------------------------------------------------------------------------ Slurm states
def test_a_job_slurm_does_not_list_yet_counts_as_queued_for_a_grace_period(tmp_path,
                                                                             monkeypatch):
    """One rule for resubmission, waiting and ``grid status``: a job that Slurm's accounting
    does not list (UNKNOWN) is queued for UNKNOWN_GRACE_S after its submission, then gone."""
    from datetime import UTC, datetime, timedelta

    from scalecmp.experiments import slurm as S
    from scalecmp.files import write_json

    s = spec()
    (unit,) = G.plan_units(s, tmp_path, set())
    answers = {"7": "UNKNOWN"}
    monkeypatch.setattr(S, "job_states", lambda ids: {i: answers[i] for i in ids})

    def register(age_s: float) -> None:
        at = datetime.now(UTC) - timedelta(seconds=age_s)
        write_json(S.slurm_dir(tmp_path) / "units.json",
                   {unit.id: {"job_id": "7", "submitted": at.isoformat(timespec="seconds"),
                              "stdout": "", "stderr": ""}})

    S.slurm_dir(tmp_path).mkdir(parents=True)
    register(5)
    assert S.unit_states(S.read_registry(tmp_path)) == {unit.id: "PENDING"}
    assert S.split_units(tmp_path, [unit]) == ([], {unit.id: "7"})
    status = G.grid_status(s, tmp_path)
    assert status[["queued", "missing"]].values.tolist() == [[4, 0]]

    register(S.UNKNOWN_GRACE_S + 5)
    assert S.unit_states(S.read_registry(tmp_path)) == {unit.id: "UNKNOWN"}
    assert S.split_units(tmp_path, [unit]) == ([unit], {})
    assert G.grid_status(s, tmp_path)[["queued", "missing"]].values.tolist() == [[0, 4]]
    ended = []
    final = S.wait_for(S.read_registry(tmp_path), poll_s=0,
                       on_end=lambda u, state: ended.append((u, state)))
    assert final == {unit.id: "UNKNOWN"} and ended == [(unit.id, "UNKNOWN")]

    answers["7"] = "RUNNING"  # listed: Slurm's state, whatever the age
    assert S.unit_states(S.read_registry(tmp_path)) == {unit.id: "RUNNING"}
