"""Bad inputs found by an adversarial audit of the command line (2026-12-07): each is one
error line and exit 2 before any work (or, where the input is legitimate, an honest
warning), never a silently wrong result."""

from __future__ import annotations

import os
import textwrap

import pandas as pd
import pytest

from cli_run import one_error, run
from scalecmp.files import check_output_path

FIT = ["--x", "gflops", "--y", "acc", "--by", "proc", "--maximize", "--law", "power_floor",
       "--n-bootstrap", "50", "-q"]


def test_a_repeated_csv_header_is_refused_not_read_as_its_first_copy(data, tmp_path):
    """pandas renames a second ``acc`` to ``acc.1``; the header's own names are kept, so
    the analysis refuses the ambiguous column instead of fitting the first copy."""
    frame = pd.read_csv(data)
    dup = tmp_path / "dup.csv"
    with open(dup, "w") as fh:
        fh.write("proc,gflops,acc,acc\n")
        for r in frame.itertuples(index=False):
            fh.write(f"{r.proc},{r.gflops},{r.acc},{1 - r.acc}\n")
    code, out, err = run("fit", dup, *FIT)
    assert code == 2 and out == ""
    one_error(err, "--y", "2 columns named 'acc'")
    # a repeated column the analysis does not read is no obstacle
    code, _, err = run("fit", dup, *FIT[:2], "--y", "acc", *FIT[4:6], "--x", "gflops")
    assert code == 2  # --x given twice: refused (next test); the file itself reads fine
    from scalecmp.io import load_measurement_file

    assert list(load_measurement_file(dup).columns) == ["proc", "gflops", "acc", "acc"]


@pytest.mark.parametrize("args, flag", [
    (["--law", "power"], "--law"),
    (["--law=power"], "--law"),
    (["--n-bootstrap", "60"], "--n-bootstrap"),
    (["--y", "acc"], "--y"),
])
def test_a_single_valued_option_given_twice_is_refused(data, args, flag):
    code, out, err = run("fit", data, *FIT, *args)
    assert code == 2 and out == ""
    one_error(err, f"{flag} given twice", "give it once")


def test_list_options_and_flags_may_repeat(data):
    code, _, err = run("fit", data, *FIT, "--maximize", "--predict-at", "1e12",
                       "--predict-at", "1e13")
    assert code == 0, err


def test_a_value_that_looks_like_an_option_is_not_counted(data, tmp_path):
    """``--where`` values and option values are skipped: only option names count."""
    code, _, err = run("fit", data, *FIT, "--where", "proc=clip", "--where", "proc!=x")
    assert code == 0, err


@pytest.mark.parametrize("args, needles", [
    (["--x", "acc", "--y", "acc"], ("--y", "column 'acc' is also --x")),
    (["--x", "gflops", "--y", "acc", "--by", "acc"], ("--by", "also --y")),
])
def test_one_column_in_two_roles_is_refused(data, args, needles):
    code, out, err = run("fit", data, *args, "--maximize", "--n-bootstrap", "50", "-q")
    assert code == 2 and out == ""
    one_error(err, *needles)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_unwritable_folder_is_found_by_trying_not_by_mode_bits(data):
    """``os.access`` says yes to root for /proc (and everywhere); a real attempt to create
    a file decides, before any fit (the fit used to run, print and then fail)."""
    code, out, err = run("fit", data, *FIT[:-1], "--json", "/proc/nope.json")
    assert code == 2 and out == ""
    one_error(err, "--json", "cannot write in directory /proc")


def test_no_probe_file_is_left_behind(tmp_path):
    check_output_path(tmp_path / "fit.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threshold, needle", [("2", "below every run's compute"),
                                               ("1e30", "at or above every run's compute")])
def test_report_holdout_outside_the_data_is_refused_before_any_fit(data, tmp_path,
                                                                   threshold, needle):
    out_dir = tmp_path / "rep"
    code, out, err = run("report", data, "--out", out_dir, *FIT, "--holdout", threshold)
    assert code == 2 and out == ""
    one_error(err, "--holdout", needle)
    assert not out_dir.exists()


def test_compare_far_beyond_the_data_warns_and_keeps_accuracies_in_range(laion_best,
                                                                          tmp_path):
    """At 1e30 GFLOPs some of the study's ImageNet replicates (the study's law) are tilted
    past an error of 1; as in the fit's own intervals, the comparison keeps a metric in
    [0, 1] in [0, 1], so two accuracies differ by at most 1 (the band was [-0.88, 9.1])."""
    import json

    rows = laion_best[(laion_best.downstream_dataset == "imagenet1k")
                      & (laion_best.metric == "acc1")
                      & laion_best.model_type.isin(["clip", "mammut"])]
    path = tmp_path / "imagenet.csv"
    rows.to_csv(path, index=False)
    js = tmp_path / "c.json"
    code, _, err = run("compare", path, "--maximize", "--by", "model_type", "--law",
                       "saturating", "--n-bootstrap", "50", "--at", "1e30", "--json", js, "-q")
    assert code == 0, err
    assert "--at: 1e30 is" in err and "beyond --extrapolate (100)" in err
    row = json.loads(js.read_text())["comparisons"][0]["at"][0]
    assert -1.0 <= row["lo"] <= row["hi"] <= 1.0


def test_grid_collect_needs_a_grid_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run("grid", "collect", "--out", empty)
    assert code == 2
    one_error(err, "not a grid's folder")
    assert list(empty.iterdir()) == []  # no lock file left behind
    code, _, err = run("grid", "collect")
    assert code == 2
    one_error(err, "--out")


def test_grid_status_says_when_its_folder_does_not_exist(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent("""
        name: cli
        procedures: [clip]
        sizes: [xxs]
        samples_seen: [32, 64]
        schedules: [cosine]
        batch_size: 16
        data: {type: synthetic, n_shapes: 2, n_colours: 2}
        """))
    code, out, err = run("grid", "status", spec, "--out", tmp_path / "typo")
    assert code == 0, err
    assert "note: there is no folder" in out and "typo" in out


def test_a_grid_spec_key_given_twice_is_refused(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: a\nname: b\nprocedures: [clip]\nsizes: [xxs]\n"
                    "samples_seen: [32]\nbatch_size: 16\n")
    code, _, err = run("grid", "run", spec, "--out", tmp_path / "g", "--dry-run")
    assert code == 2
    one_error(err, "key 'name' given twice (first at line 1)", "line 2")
    assert not (tmp_path / "g").exists()


def test_next_names_a_bad_candidate_value_as_written(data, tmp_path):
    cand = tmp_path / "cand.csv"
    pd.DataFrame({"proc": ["clip"], "model": ["m"], "gflops_per_sample": [-5],
                  "samples_seen": [1e6]}).to_csv(cand, index=False)
    code, _, err = run("next", data, *FIT, "--at", "1e12", "--candidates", cand)
    assert code == 2
    line = one_error(err)
    assert "np.int64" not in line and "np.float64" not in line


def test_dash_is_not_taken_for_standard_output(data, tmp_path, monkeypatch):
    """``--json -`` used to write a file named ``-`` in the working folder."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run("fit", data, *FIT, "--json", "-")
    assert code == 2 and out == ""
    one_error(err, "--json", "'-' is not a file name here")
    assert not (tmp_path / "-").exists()
