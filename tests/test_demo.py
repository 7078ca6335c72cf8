"""`scalecmp demo`: the built-in spec, and a tiny end-to-end run (grid, fit, report)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

import scalecmp.cli as cli
from scalecmp.experiments import demo
from scalecmp.experiments.grid import expand_cells, parse_spec

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def test_examples_spec_is_the_builtin_spec():
    assert (ROOT / "examples" / "demo_grid.yaml").read_text() == demo.DEMO_SPEC


def test_demo_spec_meets_the_brief():
    spec = parse_spec(yaml.safe_load(demo.DEMO_SPEC))
    assert set(spec.procedures) == {"clip", "mammut"}
    assert len(spec.sizes) >= 2 and len(spec.samples_seen) >= 4
    # the study's design: constant LR + cooldown branches measured, one cosine run per
    # (procedure, size) at the largest scale as the check
    assert spec.schedules == ("const", "cooldown") and spec.cosine_check
    cells = expand_cells(spec)
    cosine = [c for c in cells if c.schedule == "cosine"]
    assert len(cosine) == len(spec.procedures) * len(spec.sizes)
    assert {c.samples_seen for c in cosine} == {max(spec.samples_seen)}
    assert spec.train.workers == "auto"  # a process per core: 2 on the 2-core target
    tiny = parse_spec(demo.demo_spec(tiny=True))
    assert len(tiny.sizes) == 2 and len(tiny.samples_seen) == 3
    assert tiny.train.workers == 1 and tiny.cosine_check
    assert len(expand_cells(tiny)) == 2 * 2 * (3 * len(tiny.schedules) + 1)


def _values(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["wall_s"]).reset_index(drop=True)


@pytest.mark.slow
def test_tiny_demo_end_to_end(tmp_path, capsys, monkeypatch):
    if not cli._registered:
        present = tuple(m for m in cli._COMMAND_MODULES if importlib.util.find_spec(m))
        monkeypatch.setattr(cli, "_COMMAND_MODULES", present)
    out = tmp_path / "demo"
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--tiny", "--out", str(out), "--quiet", "--n-bootstrap", "20"])
    stdout, stderr = capsys.readouterr()
    assert info.value.code == 0, stderr
    assert f"report: {out / 'report.html'}" in stdout
    # the validated prediction comes first, in words; then the cosine check and the laws
    lines = stdout.splitlines()
    assert lines[0].startswith("Held-out check ")
    assert any(line.startswith("Cosine check, zeroshot_classification / acc1: ")
               for line in lines)
    table = pd.read_parquet(out / "measurements.parquet")
    assert set(table["procedure"]) == {"clip", "mammut"}
    assert set(table["model"]) == {"xxs", "xs"}
    assert set(table["schedule"]) == {"const", "cooldown", "cosine"}
    assert set(table.loc[table["schedule"] == "cosine", "samples_seen"]) == {512}
    assert (out / "report.html").stat().st_size > 1000

    # a re-run reuses every cell and regenerates the report
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--tiny", "--out", str(out), "--quiet", "--n-bootstrap", "20"])
    stdout, _ = capsys.readouterr()
    assert info.value.code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "measurements.parquet"), table)

    # deterministic: a second fresh run writes the same table
    again = demo.run_demo(tmp_path / "again", tiny=True, n_bootstrap=20, progress=False)
    pd.testing.assert_frame_equal(_values(pd.read_parquet(again["table"])), _values(table))
    check = again["holdout"]
    assert check.summary_lines()[0].startswith("Held-out check ")
    assert set(again["cosine_gap"]["model"]) == {"xxs", "xs"}


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_specs_are_valid(path):
    from scalecmp.experiments.grid import load_spec

    spec = load_spec(path)
    assert expand_cells(spec)
