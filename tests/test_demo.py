"""`scalecmp demo`: the built-in spec, and a tiny end-to-end run (grid, fit, report)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import scalecmp.cli as cli
from scalecmp.experiments import demo
from scalecmp.experiments.grid import expand_cells, parse_spec
from scalecmp.report import SEED_TITLE

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def test_examples_spec_is_the_builtin_spec():
    assert (ROOT / "examples" / "demo_grid.yaml").read_text() == demo.DEMO_SPEC


def test_demo_spec_meets_the_brief():
    spec = parse_spec(yaml.safe_load(demo.DEMO_SPEC))
    assert set(spec.procedures) == {"clip", "mammut"}
    assert len(spec.sizes) >= 2 and len(spec.samples_seen) >= 4
    # the study's design: constant LR + cooldown branches measured, one cosine run per
    # procedure for the largest size at the largest scale as the check
    assert spec.schedules == ("const", "cooldown") and spec.cosine_check
    cells = expand_cells(spec)
    cosine = [c for c in cells if c.schedule == "cosine"]
    assert [(c.procedure, c.size) for c in cosine] == [(p, spec.sizes[-1])
                                                       for p in spec.procedures]
    assert {c.samples_seen for c in cosine} == {max(spec.samples_seen)}
    # the seed check: the largest size's constant-LR runs with the next seed
    seed = demo.seed_check_spec(spec)
    assert seed.seed == spec.seed + 1 and seed.sizes == (spec.sizes[-1],)
    assert {c.schedule for c in expand_cells(seed)} == {"const"}
    mixed = parse_spec({**yaml.safe_load(demo.DEMO_SPEC), "sizes": ["m8", "xs", "s"],
                        "cosine_check": True})
    assert demo.seed_check_spec(mixed).sizes == ("m8",)  # by compute, not by position
    assert spec.train.workers == "auto"  # a process per core: 2 on the 2-core target
    tiny = parse_spec(demo.demo_spec(tiny=True))
    assert len(tiny.sizes) == 2 and len(tiny.samples_seen) == 3
    assert tiny.train.workers == 1 and tiny.cosine_check
    assert len(expand_cells(tiny)) == 2 * (2 * 3 * len(tiny.schedules) + 1)


def _demo_table(jump: float = 1.0) -> pd.DataFrame:
    """A simulated demo table: the demo's metrics for two procedures x two sizes x six
    scales, constant LR and cooldown on power laws (+ noise), a cosine run per size at the
    largest scale; ``jump < 1`` multiplies the errors of the largest runs (a sudden
    improvement no law fitted below can predict)."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for proc, cost in (("clip", 0.0025), ("mammut", 0.0052)):
        for size, n in (("xxs", 1.0), ("xs", 2.5)):
            for task, metric in demo.REPORT_METRICS:
                for sched in ("const", "cooldown", "cosine"):
                    for samples in (12288, 16384, 24576, 32768, 49152, 65536):
                        if sched == "cosine" and samples != 65536:
                            continue
                        c = cost * n * samples
                        err = 2.0 * c ** -0.3 * (0.97 if sched == "cooldown" else 1.0)
                        err *= 1.05 if sched == "cosine" else 1.0
                        if c > 300:
                            err *= jump
                        err *= float(np.exp(rng.normal(0, 0.01)))
                        rows.append({"procedure": proc, "model": size, "schedule": sched,
                                     "lr": 0.003, "samples_seen": samples,
                                     "gflops_total": c, "task": task, "metric": metric,
                                     "value": 1.0 - min(err, 1.0)})
    return pd.DataFrame(rows)


def _loss_table(scale: float = 1.0) -> pd.DataFrame:
    """The smooth losses of a demo table: nats on power laws with a floor (+ noise);
    ``scale`` multiplies the largest runs' losses."""
    rows = []
    for r in _demo_table().to_dict("records"):
        if (r["task"], r["metric"]) not in demo.REPORT_METRICS[:2]:
            continue
        task, metric = demo.LOSS_METRICS[0 if r["task"] == "zeroshot_classification" else 1]
        loss = 0.5 + 3.0 * (1.0 - r["value"]) * (scale if r["gflops_total"] > 300 else 1.0)
        rows.append({**r, "task": task, "metric": metric, "value": loss})
    return pd.DataFrame(rows)


def test_demo_checks_its_smooth_losses_with_relative_errors():
    loss = demo.loss_holdout(_loss_table(), n_bootstrap=20)
    assert loss.relative and not loss.maximize and loss.n > 0
    assert set(loss.runs["metric"]) == {"cross_entropy", "contrastive_loss"}
    measured = loss.runs["measured"].to_numpy()
    assert loss.runs["abs_error"].to_numpy() == pytest.approx(
        abs(loss.runs["predicted"].to_numpy() - measured) / measured)
    assert loss.passed and "%" in loss.summary_lines()[0]  # smooth power laws extrapolate
    # a jump no law below could see fails it, in words
    bad = demo.loss_holdout(_loss_table(scale=0.6), n_bootstrap=20)
    assert not bad.passed and "mean error" in bad.summary_lines()[0]
    assert demo.loss_holdout(_demo_table(), n_bootstrap=20) is None  # no loss rows


def _h2(html: str) -> list[str]:
    import re

    return re.findall(r"<h2>(.*?)</h2>", html)


def test_demo_report_opens_with_the_validated_prediction(tmp_path, capsys):
    import html as H

    table, losses = _demo_table(), _loss_table()
    rng = np.random.default_rng(1)
    seeds = pd.concat([table, losses])  # a second seed of the xs constant-LR runs
    seeds = seeds[(seeds["model"] == "xs") & (seeds["schedule"] == "const")]
    seeds = seeds.assign(value=seeds["value"] * (1 + rng.normal(0, 0.01, len(seeds))))
    res = demo.analyse(table, tmp_path, n_bootstrap=20, title="t", losses=losses,
                       seeds=seeds)
    check = res["holdout"]
    stdout = capsys.readouterr().out.splitlines()
    # printed first, with the seed noise and its share of the intervals
    assert stdout[0].startswith(check.summary_lines()[0] + " Seed noise (a second training "
                                "seed of the largest size, one standard deviation): ")
    (acc, rel_acc), (loss_noise, rel_loss) = res["seed_noise"]
    assert not rel_acc and rel_loss
    assert set(acc["procedure"]) == {"clip", "mammut"} and (acc["n_pairs"] == 6).all()
    assert acc["sigma"].between(0.0005, 0.02).all() and acc["share"].notna().any()
    assert check.holdout_factor == demo.HOLDOUT_FACTOR and check.n > 0
    # then the check of the smooth losses, in words, with relative errors
    loss = res["loss_holdout"]
    assert stdout[1] == "Smooth losses: " + loss.summary_lines()[0]
    # then the comparison of the main series and its compute-optimal samples, in words
    comp = res["comparison"][0]
    assert stdout[2] == f"Comparison, zeroshot_classification / acc1: clip vs mammut: " \
                        f"{comp.verdict}"
    assert stdout[3].startswith("Compute-optimal samples seen") and "D_opt = " in stdout[3]
    assert len(stdout) == 4
    page = res["report"].read_text()
    assert _h2(page)[:4] == ["Validated prediction: held-out check", demo.LOSS_CHECK_TITLE,
                             H.escape(SEED_TITLE),
                             "Cosine check: constant LR + cooldown against cosine"]
    assert _h2(page)[-1] == "Compute-optimal samples seen: D_opt(C)"
    assert "mean rel. error (%)" in page
    # the report shows the same comparison (numbers there are typeset: compare the words)
    assert H.escape(f"clip vs mammut: {comp.verdict.split(' gflops_total')[0]}") in page
    assert (tmp_path / "optimal.png").stat().st_size > 1000
    # the report opens with the same check: its verdict (an alert when it failed), figure
    cls = "verdict alert" if not check.passed else "verdict"
    first = f'<p class="{cls}">{H.escape(check.summary_lines()[0])}</p>'
    assert first in page and page.index(first) < page.index("<h2>Cosine check")
    word = "passed" if check.passed else "FAILED"
    assert f"Figure 1.</b> Held-out check ({word})" in page
    assert "Cosine check, zeroshot_classification / acc1: cosine minus the best" in page
    assert (tmp_path / "holdout.png").stat().st_size > 1000
    # the report fits the measurements (constant LR, cooldown), not the cosine check runs
    assert set(res["cosine_gap"]["model"]) == {"xxs", "xs"}


def test_a_failing_demo_check_says_so_at_the_top(tmp_path, capsys):
    res = demo.analyse(_demo_table(jump=0.5), tmp_path, n_bootstrap=20, title="t")
    stdout = capsys.readouterr().out.splitlines()
    assert stdout[0].startswith("Held-out check FAILED: ")
    assert "Treat the extrapolations and verdicts below with caution." in stdout[0]
    page = res["report"].read_text()
    first = page.index("<h2>")
    assert page.index('<p class="verdict alert">Held-out check FAILED: ') < page.index(
        "<h2>", first + 1)


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
    # five lines: the validated prediction first, in words; the losses' check, the
    # comparison, D_opt, then where the report and the details are
    lines = stdout.splitlines()
    assert len(lines) == 5, lines
    assert lines[0].startswith("Held-out check ") and " Seed noise (" in lines[0]
    # the seed check: the largest size's constant-LR runs again, with the next seed
    seed_rows = pd.read_parquet(out / "seed-check" / "measurements.parquet")
    assert set(seed_rows["seed"]) == {1} and set(seed_rows["model"]) == {"xs"}
    assert set(seed_rows["schedule"]) == {"const"}
    assert lines[1].startswith("Smooth losses: Held-out check ")
    assert lines[2].startswith("Comparison, zeroshot_classification / acc1: ")
    assert lines[3].startswith("Compute-optimal samples seen, zeroshot_classification / acc1")
    assert lines[4].startswith(f"report: {out / 'report.html'}; every series, law and the "
                               f"cosine check: {out / 'summary.txt'}")
    details = (out / "summary.txt").read_text().splitlines()
    assert details[:4] == lines[:4]
    assert any(line.startswith("Cosine check, zeroshot_classification / acc1: ")
               for line in details)
    table = pd.read_parquet(out / "measurements.parquet")
    assert set(table["procedure"]) == {"clip", "mammut"}
    assert set(table["model"]) == {"xxs", "xs"}
    assert set(table["schedule"]) == {"const", "cooldown", "cosine"}
    assert set(table.loc[table["schedule"] == "cosine", "samples_seen"]) == {512}
    assert (out / "report.html").stat().st_size > 1000

    # a re-run refuses to replace the report it wrote, before anything trains ...
    report_bytes = (out / "report.html").read_bytes()
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--tiny", "--out", str(out), "--quiet", "--n-bootstrap", "20"])
    stdout, stderr = capsys.readouterr()
    assert info.value.code == 2 and stdout == ""
    assert stderr.startswith("scalecmp: error: ") and "--force" in stderr
    assert len(stderr.splitlines()) == 1
    assert (out / "report.html").read_bytes() == report_bytes
    # ... and with --force reuses every cell and regenerates the report
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--tiny", "--out", str(out), "--quiet", "--n-bootstrap", "20",
                  "--force"])
    stdout, _ = capsys.readouterr()
    assert info.value.code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "measurements.parquet"), table)

    # deterministic: a second fresh run writes the same table
    again = demo.run_demo(tmp_path / "again", tiny=True, n_bootstrap=20, progress=False)
    pd.testing.assert_frame_equal(_values(pd.read_parquet(again["table"])), _values(table))
    check = again["holdout"]
    assert check.summary_lines()[0].startswith("Held-out check ")
    assert set(again["cosine_gap"]["model"]) == {"xs"}  # cosine_check: [xs]
    page = again["report"].read_text()
    assert _h2(page)[0] == "Validated prediction: held-out check"
    assert ("Held-out check passed" in page) == check.passed


@pytest.mark.parametrize("path", sorted([*(ROOT / "examples").glob("*.yaml"),
                                         *(ROOT / "benchmarks" / "worlds").glob("*.yaml")]),
                         ids=lambda p: p.name)
def test_example_specs_are_valid(path):  # and the worlds BENCHMARKS 7c screened
    from scalecmp.experiments.grid import load_spec

    spec = load_spec(path)
    assert expand_cells(spec)


@pytest.mark.parametrize(("args", "spec_text", "message"), [
    (["--n-bootstrap", "5"], None,
     "--n-bootstrap must be >= 20 (a report is made of intervals), got 5"),
    ([], "schedules: [cosine]\n", "schedules has none (cosine)"),
    ([], "schedules: [const]\neval: {tasks: []}\n", "eval.tasks has none of them"),
])
def test_demo_refuses_what_it_could_not_report_on_before_training(tmp_path, capsys,
                                                                  monkeypatch, args,
                                                                  spec_text, message):
    """A bad report option or a spec without measurement runs or demo tasks is one error
    line and exit 2 before the grid trains (nothing is written)."""
    if not cli._registered:
        present = tuple(m for m in cli._COMMAND_MODULES if importlib.util.find_spec(m))
        monkeypatch.setattr(cli, "_COMMAND_MODULES", present)
    extra = []
    if spec_text is not None:
        spec = tmp_path / "spec.yaml"
        spec.write_text("name: t\nprocedures: [clip]\nsizes: [xxs]\nsamples_seen: [64, 128]\n"
                        "batch_size: 32\ndata: {type: synthetic, n_shapes: 2, n_colours: 2}\n"
                        + spec_text)
        extra = ["--spec", str(spec)]
    out = tmp_path / "demo"
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--tiny", "--out", str(out), "--quiet", *args, *extra])
    _, stderr = capsys.readouterr()
    assert info.value.code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalecmp: error: ") and message in lines[0]
    assert not out.exists()
