"""`scalecmp grid run|status` and `demo` through the CLI: errors, status table, lazy torch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

import scalecmp.cli as cli

GOOD = """
name: cli
procedures: [clip]
sizes: [xxs]
samples_seen: [32, 64]
lr: 0.003
schedules: [cosine]
batch_size: 16
warmup: 1
data: {type: synthetic, n_shapes: 2, n_colours: 2}
eval: {tasks: [classification], n_per_class: 2}
train: {context_length: 16}
"""


@pytest.fixture(autouse=True)
def _only_existing_command_modules(monkeypatch):
    """Register the command modules that exist (the analysis ones may be missing in a
    partial checkout); the grid commands are what these tests exercise."""
    if not cli._registered:
        present = tuple(m for m in cli._COMMAND_MODULES if importlib.util.find_spec(m))
        monkeypatch.setattr(cli, "_COMMAND_MODULES", present)


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("sizes: [xxs]", "sizes: [xxs]\nepochs: 3"), "unknown key 'epochs'"),
        (GOOD.replace("procedures: [clip]", "procedures: [dalle]"), "unknown procedure 'dalle'"),
        (GOOD.replace("sizes: [xxs]", "sizes: [gigantic]"), "unknown size 'gigantic'"),
        (GOOD.replace("samples_seen: [32, 64]", "samples_seen: [0, 64]"), "samples_seen"),
        (GOOD.replace("lr: 0.003", "lr: [0.003"), "bad YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_bad_spec_one_error_line_exit_2(tmp_path, capsys, text, message):
    spec = write(tmp_path, text)
    code, out, err = run_cli(["grid", "run", str(spec), "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scalecmp: error: ") and message in lines[0]
    assert not (tmp_path / "out").exists()  # nothing ran


def test_missing_spec_file(tmp_path, capsys):
    code, _, err = run_cli(["grid", "status", str(tmp_path / "nope.yaml"), "--out",
                            str(tmp_path)], capsys)
    assert code == 2 and "spec file not found" in err


def test_grid_run_then_status(tmp_path, capsys):
    spec = write(tmp_path, GOOD)
    out_dir = tmp_path / "out"
    code, out, _ = run_cli(["grid", "status", str(spec), "--out", str(out_dir)], capsys)
    assert code == 0 and "0/2 cells done, 0 running, 0 queued, 0 failed, 2 missing" in out
    code, out, _ = run_cli(["grid", "run", str(spec), "--out", str(out_dir), "--quiet",
                            "--threads", "1"], capsys)
    assert code == 0 and "2/2 cells done" in out
    assert (out_dir / "measurements.parquet").exists()
    code, out, _ = run_cli(["grid", "status", str(spec), "--out", str(out_dir)], capsys)
    assert code == 0 and "2/2 cells done, 0 running, 0 queued, 0 failed, 0 missing" in out
    assert "clip" in out and "xxs" in out


COMMANDS_WITH_OUT = [["grid", "run"], ["grid", "run", "--dry-run"], ["grid", "status"],
                     ["grid", "collect"], ["demo"]]


def _with_out(command: list[str], spec, out) -> list[str]:
    """``command`` with its spec (not for demo), ``--out out`` and its flags."""
    spec_arg = [] if command == ["demo"] else [str(spec)]
    tiny = ["--tiny"] if command == ["demo"] else []
    return [*command[:2], *spec_arg, "--out", str(out), *command[2:], *tiny]


@pytest.mark.parametrize("kind", ["file", "FIFO"])
@pytest.mark.parametrize("command", COMMANDS_WITH_OUT)
def test_out_that_is_not_a_folder_one_error_line_exit_2(tmp_path, capsys, command, kind):
    """Every command that takes --out refuses a file or FIFO there before any work, in
    one line, and leaves it as it was."""
    import os

    spec = write(tmp_path, GOOD)
    target = tmp_path / "taken"
    if kind == "FIFO":
        os.mkfifo(target)
    else:
        target.write_text("the user's notes\n")
    code, _, err = run_cli(_with_out(command, spec, target), capsys)
    assert code == 2, err
    assert err.strip() == f"scalecmp: error: --out must be a directory, got a {kind}: {target}"
    if kind == "file":
        assert target.read_text() == "the user's notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml", "taken"]


@pytest.mark.parametrize("command", [c for c in COMMANDS_WITH_OUT if c[1:2] != ["status"]
                                     and c[1:2] != ["collect"]])
def test_out_under_a_file_one_error_line_exit_2(tmp_path, capsys, command):
    """A folder to be created under a file is refused before any work (a dry run too)."""
    spec = write(tmp_path, GOOD)
    target = tmp_path / "taken"
    target.write_text("the user's notes\n")
    code, _, err = run_cli(_with_out(command, spec, target / "sub"), capsys)
    assert code == 2, err
    assert err.strip() == (f"scalecmp: error: --out {target / 'sub'}: {target} is not a "
                           "directory")
    assert target.read_text() == "the user's notes\n"


@pytest.mark.parametrize(("where", "device", "message"), [
    ("flag", "gpu", "--device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ("spec", "tpu", "train.device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
    ("flag", "cuda:7", "--device 'cuda:7': "),
    ("spec", "cuda", "train.device 'cuda': "),
])
def test_device_is_checked_before_work(tmp_path, capsys, where, device, message):
    """A device name of the wrong form, or a CUDA device this machine does not have, is
    one error line and exit 2 before anything is written (not a torch error mid-run)."""
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > int(
            device.partition(":")[2] or 0):
        pytest.skip(f"this machine has {device}")
    text = GOOD.replace("train: {context_length: 16}",
                        f"train: {{context_length: 16, device: '{device}'}}") \
        if where == "spec" else GOOD
    spec = write(tmp_path, text)
    out_dir = tmp_path / "out"
    flag = ["--device", device] if where == "flag" else []
    code, _, err = run_cli(["grid", "run", str(spec), "--out", str(out_dir), *flag], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalecmp: error: ") and message in lines[0]
    assert not out_dir.exists()


@pytest.mark.parametrize(("data", "files", "message"), [
    ("{type: webdataset, urls: 'shards/{0..1}.tar'}", {}, "webdataset shard not found: "),
    ("{type: webdataset, urls: 'shards/{0..1}.tar'}", {"shards/0.tar": "x", "shards/1.tar": ""},
     "webdataset shard is empty (0 bytes): "),
    ("{type: csv, path: pairs.csv}", {"pairs.csv": "filepath,title\na.png,a cat\n"},
     "lacks column(s) 'caption'; columns found: 'filepath', 'title'"),
    ("{type: csv, path: pairs.csv}", {"pairs.csv": "filepath,caption\n"}, "has no rows"),
])
def test_training_data_is_checked_before_work(tmp_path, capsys, data, files, message):
    """Missing webdataset shards, an empty one, a CSV without its columns or rows: one
    error line, exit 2, before the plan is printed or anything is written."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    urls = str(tmp_path / "shards")
    spec = write(tmp_path, GOOD.replace(
        "data: {type: synthetic, n_shapes: 2, n_colours: 2}",
        "data: " + data.replace("shards/", urls + "/")).replace(
        "eval: {tasks: [classification], n_per_class: 2}", "eval: {tasks: []}"))
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["grid", "run", str(spec), "--out", str(out_dir)], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalecmp: error: ") and message in lines[0]
    assert out == "" and not out_dir.exists()


def test_a_plan_needs_no_gpu(tmp_path, capsys):
    """--dry-run plans a spec that trains on cuda on a machine without one."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    spec = write(tmp_path, GOOD.replace("train: {context_length: 16}",
                                        "train: {context_length: 16, device: cuda}"))
    code, out, err = run_cli(["grid", "run", str(spec), "--out", str(tmp_path / "out"),
                              "--dry-run"], capsys)
    assert code == 0, err
    assert "unit(s) to run" in out and not (tmp_path / "out").exists()


def test_cli_grid_module_does_not_import_torch():
    code = "import sys, scalecmp.cli.grid; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------------------------------ executors, collect
CLUSTER = GOOD + "cluster: {partition: debug, cpus_per_task: 1, timeout_min: 5}\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("cluster: {gpus: 4}", "unknown key 'cluster.gpus'"),
        ("cluster: {nodes: 0}", "cluster.nodes"),
        ("cluster: {sbatch: [constraint]}", "cluster.sbatch must be a mapping"),
        ("cluster: 4", "cluster must be a mapping"),
    ],
)
def test_bad_cluster_block_one_error_line(tmp_path, capsys, extra, message):
    spec = write(tmp_path, GOOD + extra + "\n")
    code, _, err = run_cli(["grid", "run", str(spec), "--out", str(tmp_path / "o"),
                            "--executor", "slurm", "--dry-run"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_executor_options_are_checked_before_work(tmp_path, capsys, monkeypatch):
    spec = write(tmp_path, CLUSTER)
    out_dir = tmp_path / "out"
    code, _, err = run_cli(["grid", "run", str(spec), "--out", str(out_dir), "--executor",
                            "kubernetes"], capsys)
    assert code == 2 and "--executor must be one of local, slurm" in err
    code, _, err = run_cli(["grid", "run", str(spec), "--out", str(out_dir), "--wait"], capsys)
    assert code == 2 and "--wait applies to --executor slurm only" in err
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch anywhere
    code, _, err = run_cli(["grid", "run", str(spec), "--out", str(out_dir), "--executor",
                            "slurm"], capsys)
    assert code == 2 and "needs Slurm's sbatch on PATH" in err
    assert not out_dir.exists()


def test_dry_run_prints_units_and_submitit_parameters(tmp_path, capsys):
    spec = write(tmp_path, CLUSTER)
    code, out, _ = run_cli(["grid", "run", str(spec), "--out", str(tmp_path / "o"),
                            "--executor", "slurm", "--dry-run"], capsys)
    assert code == 0 and "2 unit(s) to run" in out
    assert '"slurm_partition": "debug"' in out and '"timeout_min": 5' in out
    assert not (tmp_path / "o").exists()  # nothing written, nothing submitted
    code, out, _ = run_cli(["grid", "run", str(spec), "--out", str(tmp_path / "o"),
                            "--dry-run"], capsys)
    assert code == 0 and "clip xxs lr=0.003 cosine to 64" in out and "submitit" not in out


def test_study_example_spec_plans_on_a_laptop(capsys):
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1] / "examples" / "slurm_datacomp.yaml"
    code, out, _ = run_cli(["grid", "run", str(spec), "--out", "/nonexistent/grid",
                            "--executor", "slurm", "--dry-run"], capsys)
    assert code == 0 and "12 unit(s) to run" in out
    assert '"gpus_per_node": 4' in out and '"tasks_per_node": 4' in out and '"nodes": 2' in out


def test_collect_compiles_the_table_from_shards(tmp_path, capsys):
    spec = write(tmp_path, GOOD)
    out_dir = tmp_path / "out"
    code, _, _ = run_cli(["grid", "run", str(spec), "--out", str(out_dir), "-q", "--threads",
                          "1"], capsys)
    assert code == 0
    table = out_dir / "measurements.parquet"
    table.unlink()
    code, out, _ = run_cli(["grid", "collect", str(spec), "--out", str(out_dir)], capsys)
    assert code == 0 and "rows from 2 shard(s) (updated); 2/2 cells of 'cli' done" in out
    code, out, _ = run_cli(["grid", "collect", "--out", str(out_dir)], capsys)
    assert code == 0 and "(unchanged)" in out
    code, _, err = run_cli(["grid", "collect", "--out", str(tmp_path / "none")], capsys)
    assert code == 2 and "grid folder not found" in err
