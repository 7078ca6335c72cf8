import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scalecmp.cli import main


def run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_fit_writes_the_json_contract_and_a_plot(data, tmp_path, capsys):
    js, png = tmp_path / "fit.json", tmp_path / "fit.png"
    code, out, err = run(
        [
            "fit",
            data,
            "--x",
            "gflops",
            "--y",
            "acc",
            "--maximize",
            "--by",
            "proc",
            "--law",
            "saturating",
            "--n-bootstrap",
            "100",
            "--predict-at",
            "1e12,1e13",
            "--json",
            js,
            "--plot",
            png,
        ],
        capsys,
    )
    assert code == 0, err
    assert "proc=clip" in out and "predictions" in out
    d = json.loads(js.read_text())
    assert d["x"] == "gflops" and d["y"] == "acc" and d["maximize"] is True
    assert d["law"] == "saturating" and d["level"] == 0.95 and d["n_bootstrap"] == 100
    assert [g["key"] for g in d["groups"]] == [{"proc": "clip"}, {"proc": "mammut"}]
    preds = d["groups"][0]["predictions"]
    assert [p["x"] for p in preds] == [1e12, 1e13]
    assert all(p["lo"] <= p["y"] <= p["hi"] for p in preds)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_refuses_to_overwrite_without_force(data, tmp_path, capsys):
    js = tmp_path / "fit.json"
    js.write_text("precious")
    code, _, err = run(
        [
            "fit",
            data,
            "--x",
            "gflops",
            "--y",
            "acc",
            "--maximize",
            "--n-bootstrap",
            "0",
            "--json",
            js,
        ],
        capsys,
    )
    assert code == 2 and "--force" in err
    assert js.read_text() == "precious"
    code, _, err = run(
        [
            "fit",
            data,
            "--x",
            "gflops",
            "--y",
            "acc",
            "--maximize",
            "--n-bootstrap",
            "0",
            "--json",
            data,
            "--force",
        ],
        capsys,
    )
    assert code == 2 and "over input" in err
    assert data.read_text().startswith("proc,")


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.csv", "--x", "gflops", "--y", "acc"], "file not found"),
        (["{data}", "--x", "nope", "--y", "acc"], "no column 'nope'"),
        (["{data}", "--x", "gflops", "--y", "proc"], "non-numeric"),
        (["{data}", "--x", "acc", "--y", "gflops", "--maximize"], "must lie in [0, 1]"),
        (["{data}", "--x", "gflops", "--y", "acc", "--where", "gflops<0"], "no rows left"),
        (["{data}", "--x", "gflops", "--y", "acc", "--where", "bad"], "expected COL=VALUE"),
        (["{data}", "--x", "gflops", "--y", "acc", "--law", "cubic"], "unknown law"),
        (["{data}", "--x", "gflops", "--y", "acc", "--predict-at", "-5"], "must be > 0"),
        (["{data}", "--x", "gflops", "--y", "acc", "--level", "2"], "level"),
        (["{data}", "--x", "gflops", "--y", "acc", "--plot", "{tmp}/p.bmp"], "figure type"),
        (["{data}", "--x", "gflops", "--y", "acc", "--frontier-bins", "many"],
         "--frontier-bins must be a number of bins per doubling"),
        (["{data}", "--x", "gflops", "--y", "acc", "--frontier-bins", "0"],
         "--frontier-bins must be a number of bins per doubling"),
        (["{data}", "--x", "gflops", "--y", "acc", "--frontier-bins", "nan"],
         "--frontier-bins must be a number of bins per doubling"),
        (["{data}", "--x", "gflops", "--y", "acc", "--preset", "laion2025",
          "--frontier-bins", "4"], "cannot be combined with --frontier-bins=4"),
        (
            ["{data}", "--x", "gflops", "--y", "acc", "--maximize", "--where", "gflops<1.2e7"],
            "too few",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, data, tmp_path, capsys):
    args = [a.format(data=data, tmp=tmp_path) for a in args]
    code, _, err = run(["fit", *args, "--n-bootstrap", "0"], capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if not line.startswith("scalecmp: warning")]
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in err


def test_x_must_be_positive(tmp_path, capsys):
    path = tmp_path / "neg.csv"
    pd.DataFrame({"c": [0.0, 1.0, 2.0], "e": [0.5, 0.4, 0.3]}).to_csv(path, index=False)
    code, _, err = run(["fit", path, "--x", "c", "--y", "e"], capsys)
    assert code == 2 and "must be > 0" in err


def test_nan_rows_are_dropped_with_a_warning_line(data, tmp_path, capsys):
    frame = pd.read_csv(data)
    frame.loc[[0, 5], "acc"] = np.nan
    path = tmp_path / "nan.csv"
    frame.to_csv(path, index=False)
    code, _, err = run(
        ["fit", path, "--x", "gflops", "--y", "acc", "--maximize", "--n-bootstrap", "0", "-q"],
        capsys,
    )
    assert code == 0
    assert "scalecmp: warning: dropped 2 of 48 rows with NaN in acc" in err


def test_laws_lists_the_registry(capsys, tmp_path):
    code, out, _ = run(["laws"], capsys)
    assert code == 0 and "saturating" in out
    # --json names a file, as in every other command (was a switch that printed JSON)
    js = tmp_path / "laws.json"
    code, out, _ = run(["laws", "--json", js, "-q"], capsys)
    assert code == 0 and out == ""
    assert {r["name"] for r in json.loads(js.read_text())} >= {"power", "saturating",
                                                               "chinchilla"}
    code, _, err = run(["laws", "--json", js], capsys)
    assert code == 2 and "--force" in err


def test_unknown_option_is_a_usage_error(capsys):
    code, _, err = run(["fit", "--bogus"], capsys)
    assert code == 2


def test_analysis_cli_does_not_import_torch():
    code = (
        "import sys, scalecmp, scalecmp.cli as c; c._register();"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'open_clip')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_console_script_runs(data, tmp_path):
    exe = [sys.executable, "-m", "scalecmp.cli"]
    r = subprocess.run(
        [*exe, "fit", str(data), "--x", "gflops", "--y", "nope"], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.strip().startswith("scalecmp: error: --y: no column 'nope'")


def test_chinchilla_fits_every_run_by_default(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e6, 1e9, 5), np.geomspace(1e8, 1e11, 5)))
    loss = 1.7 + 400 / n**0.34 + 410 / d**0.28
    path = tmp_path / "nd.csv"
    frame = pd.DataFrame({"N": n, "D": d, "loss": loss * np.exp(rng.normal(0, 0.003, n.size))})
    frame.to_csv(path, index=False)
    js = tmp_path / "c.json"
    code, _, err = run(["fit", path, "--x", "N", "--x2", "D", "--y", "loss", "--law", "chinchilla",
                        "--n-bootstrap", "50", "--json", js, "-q"], capsys)
    assert code == 0, err
    d = json.loads(js.read_text())
    assert d["frontier"] == "none" and d["x2"] == "D"
    g = d["groups"][0]
    assert g["n_frontier"] == g["n_points"] == 25
    assert abs(g["params"]["alpha"] - 0.34) < 0.1 and abs(g["params"]["beta"] - 0.28) < 0.1


def test_json_is_strict_even_without_intervals(data, tmp_path, capsys):
    js = tmp_path / "fit.json"
    code, _, err = run(["fit", data, "--x", "gflops", "--y", "acc", "--maximize",
                        "--n-bootstrap", "0", "--predict-at", "1e12", "--json", js, "-q"], capsys)
    assert code == 0, err
    text = js.read_text()
    assert "NaN" not in text and "Infinity" not in text
    g = json.loads(text)["groups"][0]
    assert g["predictions"][0]["lo"] is None and g["params_ci"]["E"] == [None, None]


def _epoch_like(tmp_path, seed=0):
    """240 runs on a Chinchilla-like design simulated from Epoch AI's published refit
    (Besiroglu et al. 2024: A 482.01, B 2085.43, E 1.8172, alpha 0.3478, beta 0.3658), 1%
    log-normal noise plus 5% failed runs 5-20% above their loss (what the Huber loss is
    for)."""
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(4.4e7), np.log(1.6e10), 240))
    tokens_per_param = np.exp(rng.uniform(np.log(2), np.log(200), 240))
    d = n * tokens_per_param
    loss = 1.8172 + 482.01 / n**0.3478 + 2085.43 / d**0.3658
    noise = rng.normal(0, 0.01, 240)
    out = rng.random(240) < 0.05
    noise[out] += rng.uniform(0.05, 0.2, out.sum())
    path = tmp_path / "chinchilla.csv"
    pd.DataFrame({"N": n, "D": d, "loss": loss * np.exp(noise)}).to_csv(path, index=False)
    return path


def test_chinchilla_with_epochs_settings_through_the_cli(tmp_path, capsys):
    path = _epoch_like(tmp_path)
    js = tmp_path / "c.json"
    code, out, err = run(["fit", path, "--x", "N", "--x2", "D", "--y", "loss", "--law",
                          "chinchilla", "--huber-delta", "1e-3", "--weighting", "none",
                          "--n-bootstrap", "200", "--predict-at", "7e10:1.4e12",
                          "--json", js], capsys)
    assert code == 0, err
    g = json.loads(js.read_text())["groups"][0]
    p = g["params"]
    assert 0.335 < p["alpha"] < 0.36 and 0.355 < p["beta"] < 0.38
    assert 1.79 < p["E"] < 1.84
    (pred,) = g["predictions"]
    assert pred["x"] == 7e10 and pred["x2"] == 1.4e12
    truth = 1.8172 + 482.01 / 7e10**0.3478 + 2085.43 / 1.4e12**0.3658
    assert pred["lo"] < truth < pred["hi"] and abs(pred["y"] - truth) < 0.02


def test_chinchilla_predictions_need_pairs(tmp_path, capsys):
    path = _epoch_like(tmp_path)
    code, _, err = run(["fit", path, "--x", "N", "--x2", "D", "--y", "loss", "--law",
                        "chinchilla", "--predict-at", "7e10", "-q"], capsys)
    assert code == 2 and "N:D pairs" in err and "Traceback" not in err


def test_huber_delta_is_validated(data, capsys):
    code, _, err = run(["fit", data, "--x", "gflops", "--y", "acc", "--maximize",
                        "--huber-delta", "0", "-q"], capsys)
    assert code == 2 and "delta" in err


def test_default_law_is_auto_and_reports_its_weights(data, tmp_path, capsys):
    js = tmp_path / "fit.json"
    code, out, err = run(["fit", data, "--x", "gflops", "--y", "acc", "--maximize", "--by",
                          "proc", "--n-bootstrap", "100", "--json", js], capsys)
    assert code == 0, err
    assert "law auto:" in out
    d = json.loads(js.read_text())
    assert d["law"] == "auto"
    for g in d["groups"]:
        assert g["law"] == "auto"
        assert sum(m["weight"] for m in g["members"]) == pytest.approx(1.0)
        names = {c["name"] for c in g["diagnostics"]["candidates"]}
        assert names == {"power", "power_floor", "saturating", "broken_power", "recipe"}
        assert isinstance(g["warnings"], list)


def test_skipped_groups_and_warnings_speak_flags(tmp_path, capsys):
    """What fit prints of the library's words (a skipped group's reason, a fit's warning)
    names the command line's flags, not the library's parameters."""
    c = np.geomspace(1, 1e4, 8)
    rows = [{"group": "falls", "gflops_total": x, "value": 0.1 + 0.8 * x ** -0.3} for x in c]
    rows += [{"group": "rises", "gflops_total": x, "value": 0.9 - 0.8 * x ** -0.3} for x in c]
    path = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code, out, err = run(["fit", str(path), "--by", "group", "--n-bootstrap", "0"], capsys)
    assert code == 0, err
    skipped = [line for line in out.splitlines() if line.startswith("skipped")]
    assert skipped and "did you mean --maximize?" in " ".join(skipped)
    assert "`maximize`" not in out


def test_frontier_bins_sets_how_many_runs_the_binned_frontier_keeps(data, tmp_path, capsys):
    """24 runs over 13.3 doublings: 0.5 bins per doubling keeps fewer frontier runs than
    the default; 'study' counts from x_max / 1500 GFLOPs; the JSON records the choice."""
    kept = {}
    for bins in ("0.5", "study", None):
        js = tmp_path / f"fit_{bins}.json"
        extra = [] if bins is None else ["--frontier-bins", bins]
        code, _, err = run(["fit", data, "--x", "gflops", "--y", "acc", "--maximize",
                            "--law", "power_floor", "--n-bootstrap", "0", "--json", js,
                            *extra], capsys)
        assert code == 0, err
        d = json.loads(js.read_text())
        assert d["frontier_bins"] == (8.0 if bins is None else
                                      float(bins) if bins != "study" else "study")
        kept[bins] = d["groups"][0]["n_frontier"]
    assert kept["0.5"] < kept[None]
    frame = pd.read_csv(data).query("proc == 'clip'")
    from scalecmp.engine.frontier import binned_frontier

    assert kept["study"] == binned_frontier(frame.gflops, 1 - frame.acc, "study").sum()
    assert kept["0.5"] == binned_frontier(frame.gflops, 1 - frame.acc, 0.5).sum()
