"""CLI tests of ``scalecmp compare``, ``optimal`` and ``report``: outputs and every bad input
(one line on stderr, exit code 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import scalecmp.cli as cli


@pytest.fixture(autouse=True)
def _only_our_commands(monkeypatch):
    """Register only this module's commands, so the tests do not depend on other modules."""
    import typer

    app = typer.Typer(name="scalecmp", no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False)
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(cli, "_COMMAND_MODULES", ("scalecmp.cli.compare",))
    monkeypatch.setattr(cli, "_registered", False)


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    g = np.geomspace(4, 300, 10)
    s = np.geomspace(1e6, 3e9, 10)
    gg, ss = (a.ravel() for a in np.meshgrid(g, s, indexing="ij"))
    c = gg * ss
    rows = []
    for proc, m in (("clip", 1.0), ("mammut", 2.0)):
        n_opt = 0.04 * c**0.28
        err = (40 * (c / m + 9e7) ** -0.21 + 0.09) * (1 + 0.03 * np.log(gg / n_opt) ** 2)
        err *= np.exp(rng.normal(0, 0.01, len(c)))
        rows.append(pd.DataFrame({"procedure": proc, "gflops_per_sample": gg, "samples_seen": ss,
                                  "gflops_total": c, "value": 1 - np.minimum(err, 0.99)}))
    p = tmp_path_factory.mktemp("d") / "m.csv"
    pd.concat(rows).to_csv(p, index=False)
    return p


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_compare_outputs(capsys, data_csv, tmp_path):
    js, png = tmp_path / "c.json", tmp_path / "c.png"
    code, out, err = run(capsys, "compare", data_csv, "--by", "procedure", "--maximize",
                         "--at", "1e11", "--at", "1e12", "--n-bootstrap", "100",
                         "--json", js, "--plot", png)
    assert code == 0, err
    assert "Verdict" in out and "clip" in out
    d = json.loads(js.read_text())
    assert d["comparisons"][0]["a"] == {"procedure": "clip"}
    assert [e["x"] for e in d["comparisons"][0]["at"]] == [1e11, 1e12]
    assert png.stat().st_size > 1000
    # refuses to overwrite without --force
    code, _, err = run(capsys, "compare", data_csv, "--by", "procedure", "--maximize",
                       "--n-bootstrap", "50", "--json", js)
    assert code == 2 and "overwrite" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--by", "procedure", "--where", "procedure=clip"], "at least 2 groups"),
        (["--by", "nope"], "no column 'nope'"),
        (["--by", "procedure", "--x", "nope"], "no column 'nope'"),
        (["--by", "procedure", "--at", "0"], "--at values must be > 0"),
        (["--by", "procedure", "--at", "-5"], "--at values must be > 0"),
        (["--by", "procedure", "--n-bootstrap", "5"], "--n-bootstrap"),
        (["--by", "procedure", "--level", "2"], "--level"),
        (["--by", "procedure", "--law", "nope"], "unknown law"),
        (["--by", "procedure", "--plot", "x.gif"], "--plot"),
        ([], "--by"),
    ],
)
def test_compare_bad_inputs(capsys, data_csv, args, msg):
    code, _, err = run(capsys, "compare", data_csv, "--maximize", "--n-bootstrap", "30", *args)
    assert code == 2, err
    assert msg in err
    assert err.startswith("scalecmp: error:") and len(err.strip().splitlines()) == 1


def test_compare_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "compare", tmp_path / "no.csv", "--by", "procedure")
    assert code == 2 and "not found" in err


def test_optimal_outputs(capsys, data_csv, tmp_path):
    js = tmp_path / "o.json"
    code, out, err = run(capsys, "optimal", data_csv, "--by", "procedure", "--maximize",
                         "--n-bootstrap", "50", "--predict-at", "1e12", "--json", js,
                         "--plot", tmp_path / "o.png")
    assert code == 0, err
    assert "D_opt" in out and "Predicted allocation" in out
    d = json.loads(js.read_text())
    assert d["groups"][0]["d_opt"]["a"] > 0
    assert d["groups"][0]["chinchilla"]["compute_constant"] == 1.0
    code, _, err = run(capsys, "optimal", data_csv, "--predict-at", "-1", "--maximize")
    assert code == 2 and "--predict-at" in err
    code, _, err = run(capsys, "optimal", data_csv, "--samples", "nope", "--maximize")
    assert code == 2 and "nope" in err


def test_report_command(capsys, data_csv, tmp_path):
    out_dir = tmp_path / "rep"
    code, out, err = run(capsys, "report", data_csv, "--out", out_dir, "--by", "procedure",
                         "--maximize", "--n-bootstrap", "40", "--title", "T")
    assert code == 0, err
    assert (out_dir / "report.html").exists() and (out_dir / "report.tex").exists()
    code, _, err = run(capsys, "report", data_csv, "--out", out_dir, "--by", "procedure",
                       "--maximize", "--n-bootstrap", "40")
    assert code == 2 and "overwrite" in err
    code, _, err = run(capsys, "report", data_csv, "--out", tmp_path / "r2", "--series", "nope",
                       "--maximize", "--n-bootstrap", "40")
    assert code == 2 and "--series" in err
