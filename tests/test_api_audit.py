"""Bad arguments and mutations found by a second adversarial audit (2026-12-07), of the
Python API and of ``next``: each is a one-line scalecmp error naming the library's own
parameter (never a numpy or pathlib error from deep inside), and results stay immutable."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import scalecmp
from cli_run import one_error, run
from conftest import two_procedures
from scalecmp.compare import compare
from scalecmp.engine import FitOptions
from scalecmp.errors import DataError, NotFittedError, UsageError
from scalecmp.holdout import holdout_check
from scalecmp.optimal import optimal_allocation
from scalecmp.report import write_report

KW = {"x": "c", "y": "acc", "by": "proc", "maximize": True, "n_bootstrap": 30,
      "law": "power_floor"}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return two_procedures(14, x="c", samples="samples")


@pytest.fixture(scope="module")
def fitted(frame):
    return scalecmp.fit(frame, **KW)


def test_results_are_immutable(fitted, frame):
    g = fitted["clip"]
    with pytest.raises(TypeError, match="immutable"):
        g.key["proc"] = "mammut"  # once, this made res["clip"] a KeyError
    with pytest.raises(TypeError, match="immutable"):
        g.members[0].params["A"] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        g.err[0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        g.frontier_mask[:] = False
    assert fitted["clip"].key == {"proc": "clip"} and dict(g.key) == {"proc": "clip"}
    json.dumps(fitted.to_dict())  # a frozen mapping is still JSON
    cmp = compare(fitted)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cmp.comparisons = ()
    assert isinstance(cmp.comparisons, tuple)
    opt = optimal_allocation(frame, x="c", y="acc", samples="samples", by="proc",
                             maximize=True, n_bootstrap=30, chinchilla=False)
    assert isinstance(opt.groups, tuple)
    with pytest.raises(TypeError, match="immutable"):
        opt.groups[0].key["proc"] = "x"


def test_to_dict_is_strict_json_without_replicates(frame):
    res = scalecmp.fit(frame, **{**KW, "n_bootstrap": 0})
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("call, match", [
    (lambda f, r: r["clip"].params_ci and r["clip"].fit.params_interval(level=1.5),
     "level must lie in"),
    (lambda f, r: compare(r, n_grid=0), "n_grid must be an integer >= 10"),
    (lambda f, r: r["clip"].predict(10**400), "below 1.8e308"),
    (lambda f, r: scalecmp.fit(f, **KW, progress=5), "progress must be a function"),
    (lambda f, r: scalecmp.fit(f, **KW, predict_at2=[1e9]), "predict_at2"),
    (lambda f, r: scalecmp.fit(f, **KW, predict_at="1e12"), "got the text '1e12'"),
    (lambda f, r: scalecmp.fit(f, **{**KW, "level": "0.9"}), "level must be a number"),
    (lambda f, r: FitOptions(range_prior="no"), "range_prior must be True or False"),
    (lambda f, r: FitOptions(candidates=(1, 2)), "candidates must be a non-empty tuple"),
    (lambda f, r: optimal_allocation(f, x="c", y="acc", samples="samples", by="proc",
                                     maximize=True, chinchilla="yes"),
     "chinchilla must be True or False"),
    (lambda f, r: holdout_check(f, x="c", y="acc", by="proc", series=None, mae_max=-1),
     "mae_max must be > 0"),
    (lambda f, r: holdout_check(f, x="c", y="acc", by="proc", series=None,
                                coverage_min=2), "coverage_min must lie in"),
])
def test_bad_arguments_are_one_line_scalecmp_errors(frame, fitted, call, match):
    with pytest.raises(UsageError, match=match) as info:
        call(frame, fitted)
    assert "\n" not in str(info.value)


def test_where_as_one_text_is_one_filter(frame):
    res = scalecmp.fit(frame, **KW, where="proc=clip")
    assert [dict(g.key) for g in res] == [{"proc": "clip"}]


def test_a_group_position_out_of_range_names_the_groups(fitted):
    with pytest.raises(IndexError, match="positions 0 to 1"):
        fitted[99]


def test_write_report_checks_its_arguments(frame, tmp_path):
    write_report(frame, tmp_path / "R", **KW)
    before = (tmp_path / "R" / "report.html").read_bytes()
    with pytest.raises(UsageError, match="force must be True or False"):
        write_report(frame, tmp_path / "R", **KW, force="no")  # "no" is true in Python
    assert (tmp_path / "R" / "report.html").read_bytes() == before
    with pytest.raises(UsageError, match="out_dir must be the path of a folder"):
        write_report(frame, None, **KW)
    with pytest.raises(UsageError, match="report must be a ReportOptions"):
        write_report(frame, tmp_path / "R2", **KW, report={"title": "x"})
    with pytest.raises(DataError, match="no rows to report on"):
        write_report(frame.iloc[:0], tmp_path / "R3", **KW)
    assert not (tmp_path / "R2").exists() and not (tmp_path / "R3").exists()


def test_the_regressor_before_fit_and_its_score(frame):
    reg = scalecmp.ScalingLawRegressor("power_floor", maximize=True, n_bootstrap=20)
    with pytest.raises(NotFittedError) as info:
        reg.predict([1e12])
    assert isinstance(info.value, AttributeError | ValueError)  # as scikit-learn's
    part = frame[frame.proc == "clip"]
    reg.fit(part.c, part.acc)
    assert 0.9 < reg.score(part.c, part.acc) <= 1.0


def test_unknown_option_values_name_their_flag(frame, tmp_path):
    path = tmp_path / "m.csv"
    frame.to_csv(path, index=False)
    for flag in ("--frontier", "--loss", "--weighting", "--bootstrap", "--pooling"):
        code, _, err = run("fit", path, "--x", "c", "--y", "acc", "--maximize", flag, "foo")
        assert code == 2
        one_error(err, f"{flag}: unknown")


def _next_cli(path, *extra):
    return run("next", path, "--x", "c", "--y", "acc", "--samples", "samples", "--by",
               "proc", "--maximize", "--law", "power_floor", "--n-bootstrap", "40",
               "--n-draws", "20", *extra)


def test_next_keeps_accuracy_differences_in_range_and_refuses_huge_at(frame, tmp_path):
    path = tmp_path / "m.csv"
    frame[frame.c < 3e9].to_csv(path, index=False)
    js = tmp_path / "n.json"
    code, _, err = _next_cli(path, "--at", "1e18", "--json", js, "-q")
    assert code == 0, err
    for term in json.loads(js.read_text())["next"]["current"]["terms"]:
        assert -1.0 <= term["lo"] <= term["hi"] <= 1.0
    code, _, err = _next_cli(path, "--at", "1e300")
    assert code == 2
    one_error(err, "--at values must be <= 1e296")


def test_next_spec_out_with_force_holds_this_batch_only(frame, tmp_path):
    """An earlier batch's fragments that this batch does not write are removed with
    --force (else `for f in DIR/next-*.yaml` would train them too); other files stay."""
    path = tmp_path / "m.csv"
    frame[frame.c < 3e9].to_csv(path, index=False)
    out = tmp_path / "next"
    out.mkdir()
    (out / "next-clip-old.yaml").write_text("# scalecmp next: the batch (earlier)\nx: 1\n")
    (out / "next-mine.yaml").write_text("# my own notes\n")
    code, stdout, err = _next_cli(path, "--at", "1e12", "--spec-out", out, "--force")
    assert code == 0, err
    assert not (out / "next-clip-old.yaml").exists()
    assert (out / "next-mine.yaml").read_text() == "# my own notes\n"
    written = {p.name for p in out.glob("next-*.yaml")} - {"next-mine.yaml"}
    assert written and all((out / n).read_text().startswith("# scalecmp next: the batch")
                           for n in written)
    assert "removed" in stdout


def test_next_runs_on_a_fit_refuses_another_maximize(fitted):
    from scalecmp.acquire import next_runs

    with pytest.raises(UsageError, match="fitted with maximize=True"):
        next_runs(fitted, at=[1e12], maximize=False)


def test_next_matches_whole_number_groups_written_as_floats(frame):
    """Groups 1 and 2 in the data, 1.0 and 2.0 in a candidate table (a CSV column with a
    blank reads as floats): the same groups."""
    from scalecmp.acquire import next_runs

    data = frame[frame.c < 3e9].assign(grp=lambda f: (f.proc == "mammut").astype(int) + 1)
    cand = pd.DataFrame({"grp": [1.0, 2.0], "samples": [1e8, 1e8], "compute": [5e9, 6e9]})
    r = next_runs(data, x="c", y="acc", samples="samples", by="grp", maximize=True,
                  at=[1e12], candidates=cand, law="power_floor", n_bootstrap=40, n_draws=20)
    assert sorted(row["group"]["grp"] for row in r.candidates) == [1, 2]


def test_next_names_candidates_when_they_are_not_a_table(fitted, tmp_path):
    from scalecmp.acquire import next_runs

    with pytest.raises(UsageError, match="candidates must be a table, got the path"):
        next_runs(fitted, at=[1e12], samples="samples", candidates=str(tmp_path / "c.csv"))
    with pytest.raises(UsageError, match="candidates must be a pandas DataFrame"):
        next_runs(fitted, at=[1e12], samples="samples", candidates=5)


def test_a_perfect_cheapest_run_is_named_when_it_ends_the_frontier():
    x = np.geomspace(1e8, 1e11, 8)
    y = np.r_[1.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.85]
    with pytest.raises(DataError, match=r"the run at 1e\+08 has y = 1, an error of 0"):
        scalecmp.fit(pd.DataFrame({"x": x, "y": y}), x="x", y="y", maximize=True)
