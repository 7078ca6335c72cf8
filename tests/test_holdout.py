"""scalecmp.holdout: the held-out check (fit below a threshold, predict above) and the
cosine vs constant-LR + cooldown gap."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scalecmp.errors import DataError, UsageError
from scalecmp.holdout import HoldoutResult, cosine_gap, cosine_gap_lines, holdout_check

FIT = {"n_bootstrap": 100, "random_state": 0}


def grid(noise: float = 0.003, seed: int = 0, procedures=("clip", "mammut")) -> pd.DataFrame:
    """A measurement table of two procedures x two series, 3 sizes x 6 scales each, every
    run on the power law ``error = 0.8 C^-0.25`` (+ noise): a frontier that extrapolates."""
    rng = np.random.default_rng(seed)
    rows = []
    for p, cost in zip(procedures, (1.0, 1.6), strict=False):
        for task, metric, shift in (("zeroshot_classification", "acc1", 0.0),
                                    ("zeroshot_retrieval", "image_retrieval_recall@5", 0.05)):
            for size, n in (("xxs", 1.0), ("xs", 3.0), ("s", 9.0)):
                for samples in (2 ** k for k in range(10, 16)):
                    c = cost * n * samples / 1000.0
                    err = shift + 0.8 * c ** -0.25 + rng.normal(0, noise)
                    rows.append({"procedure": p, "model": size, "task": task, "metric": metric,
                                 "schedule": "const", "samples_seen": samples,
                                 "gflops_total": c, "value": 1.0 - float(np.clip(err, 0, 1))})
    return pd.DataFrame(rows)


def test_power_law_grid_passes():
    frame = grid()
    res = holdout_check(frame, x="gflops_total", y="value", by="procedure",
                        series=("task", "metric"), maximize=True, threshold=None,
                        holdout_factor=4, **FIT)
    assert isinstance(res, HoldoutResult)
    assert res.n > 0 and res.passed, res.summary_lines()
    assert res.mae <= 0.03 and res.coverage >= 0.8
    assert set(res.runs.columns) >= {"task", "metric", "procedure", "x", "measured",
                                     "predicted", "lo", "hi", "abs_error", "inside"}
    assert (res.runs["lo"] <= res.runs["hi"]).all()
    # held-out runs are frontier runs above each procedure's threshold
    for r in res.groups.itertuples():
        assert r.status == "checked" and r.n_heldout > 0 and r.n_fit > 0
    for r in res.runs.itertuples():
        cut = res.groups.loc[(res.groups["procedure"] == r.procedure)
                             & (res.groups["task"] == r.task), "threshold"].iloc[0]
        assert r.x > cut
    lines = res.summary_lines()
    assert lines[0].startswith("Held-out check passed: fitted below 1/4 of each procedure's "
                               "largest compute (clip: ")
    assert f"the laws predicted {res.n} held-out runs within " in lines[0]
    assert f"({res.n_inside} of {res.n} inside their 95% intervals)" in lines[0]
    assert any(line.startswith("  zeroshot_classification / acc1: ") for line in lines[1:])
    table = res.series_table()
    assert len(table) == 2 and table["passed"].all()
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["passed"] and d["n"] == res.n and len(d["runs"]) == res.n
    assert d["summary"] == lines


def test_a_fixed_threshold_and_the_words_of_a_failure():
    frame = grid()
    # a frontier that suddenly improves beyond the threshold cannot be predicted from below
    big = frame["gflops_total"] > 60
    frame.loc[big, "value"] = 1 - (1 - frame.loc[big, "value"]) * 0.5
    res = holdout_check(frame, threshold=60.0, **FIT)
    assert res.threshold == 60.0 and not res.passed
    first = res.summary_lines()[0]
    assert first.startswith("Held-out check FAILED: fitted below 60 GFLOPs, the laws "
                            "predicted ")
    assert "failing: zeroshot_classification / acc1 (mean error " in first
    assert "Treat the extrapolations and verdicts below with caution." in first
    assert (res.runs["x"] > 60).all()


def test_nothing_above_the_threshold_is_a_failure_in_words():
    frame = grid()
    res = holdout_check(frame, threshold=1e6, **FIT)
    assert res.n == 0 and not res.passed
    assert res.summary_lines()[0].startswith("Held-out check FAILED: fitted below "
                                             "1,000,000 GFLOPs, there was no frontier run")
    assert (res.groups["status"] == "no frontier run above the threshold").all()
    import matplotlib

    matplotlib.use("Agg")
    from scalecmp.plots import holdout_figure

    fig = holdout_figure(res)  # a figure that says so
    assert fig.axes
    json.dumps(res.to_dict(), allow_nan=False)


def test_too_few_points_below_is_noted_not_raised():
    frame = grid()
    res = holdout_check(frame, threshold=2.5, **FIT)  # 1-2 runs per group below
    assert any("not checked" in n for n in res.notes)
    assert (res.groups["status"].str.startswith("fit failed")).any()


def test_a_check_that_cannot_be_made_is_a_failure_the_report_shows(monkeypatch):
    """The report's first section shows a check that raised (here: a negative threshold)
    as a failed check, with the reason, and its result has the columns of a made one."""
    from scalecmp.engine import FitOptions
    from scalecmp.report import ReportOptions, build_sections

    made = holdout_check(grid(), **FIT)
    not_made = HoldoutResult.not_made("threshold must be > 0", x="gflops_total", y="value",
                                      by=["procedure"], series=["task", "metric"],
                                      maximize=True)
    assert list(not_made.runs.columns) == list(made.runs.columns)
    assert list(not_made.groups.columns) == list(made.groups.columns)
    assert not_made.n == 0 and not not_made.passed
    json.dumps(not_made.to_dict(), allow_nan=False)
    # a bad threshold is refused where the report's options are made, before any work
    with pytest.raises(UsageError, match="holdout must be > 0"):
        ReportOptions(holdout=-1.0)
    # a check that raises while it runs becomes the report's failed first section

    def raises(*args, **kwargs):
        raise UsageError("threshold must be > 0 and finite, got -1")

    import scalecmp.report.build as build

    monkeypatch.setattr(build, "holdout_check", raises)
    sections = build_sections(grid(), by="procedure", series=("task", "metric"),
                              maximize=True, options=FitOptions(n_bootstrap=20))
    first = sections[0]
    assert first.alert and first.verdicts[0].startswith("Held-out check FAILED")
    assert "the check could not be made: threshold must be > 0" in " ".join(
        [*first.verdicts, *first.notes])


def test_rows_it_cannot_use_are_left_out_with_a_warning():
    """NaN in y, a non-number in x, an empty group value: left out and counted in one
    warning (they vanished silently); a frame with no usable row is one error line."""
    frame = grid().astype({"gflops_total": object})
    frame.loc[0, "value"] = np.nan
    frame.loc[1, "gflops_total"] = "n/a"
    frame.loc[2, "procedure"] = None
    with pytest.warns(Warning, match=r"holdout_check: left out 3 of \d+ rows"):
        res = holdout_check(frame, holdout_factor=4, **FIT)
    assert res.n > 0
    frame["value"] = np.nan
    with pytest.raises(DataError, match="no rows to check"):
        holdout_check(frame, **FIT)


def test_figure_one_panel_per_series_with_labelled_axes():
    import matplotlib

    matplotlib.use("Agg")
    from scalecmp.plots import holdout_figure

    res = holdout_check(grid(), holdout_factor=4, **FIT)
    fig = holdout_figure(res)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    for ax in axes:
        assert ax.get_xlabel().startswith("measured ")
        assert ax.get_ylabel().startswith("predicted ")
        assert any(line.get_label() == "identity" for line in ax.get_lines())
    assert "acc1" in axes[0].get_xlabel()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_bad_input():
    frame = grid()
    with pytest.raises(DataError, match="column 'nope'"):
        holdout_check(frame, by="nope", **FIT)
    with pytest.raises(UsageError, match="threshold"):
        holdout_check(frame, threshold=-1, **FIT)
    with pytest.raises(UsageError, match="holdout_factor"):
        holdout_check(frame, holdout_factor=1, **FIT)


def test_one_vocabulary_with_the_report():
    """``holdout_factor`` has the report's name and default (largest compute / 10)."""
    import inspect

    from scalecmp.report import HOLDOUT_FACTOR, ReportOptions

    assert inspect.signature(holdout_check).parameters["holdout_factor"].default == (
        HOLDOUT_FACTOR)
    assert ReportOptions().holdout_factor == HOLDOUT_FACTOR  # write_report, build_sections
    res = holdout_check(grid(), **FIT)
    assert res.holdout_factor == HOLDOUT_FACTOR
    assert res.summary_lines()[0].split(", the laws")[0].endswith(
        f"fitted below 1/{HOLDOUT_FACTOR:g} of each procedure's largest compute (clip: "
        f"{res.groups['threshold'].iloc[0]:.3g} GFLOPs, mammut: "
        f"{res.groups['threshold'].iloc[-1]:.3g} GFLOPs)")


def test_intervals_are_the_engines():
    """The check consumes the engine's GroupFit: predictions and intervals are those of a
    fit on the same runs below the threshold."""
    import scalecmp

    frame = grid()
    res = holdout_check(frame, threshold=60.0, **FIT)
    part = frame.query("procedure == 'clip' and task == 'zeroshot_classification'")
    below = part.loc[part["gflops_total"] <= 60.0]
    g = scalecmp.fit(below, x="gflops_total", y="value", maximize=True, **FIT).groups[0]
    runs = res.runs.query("procedure == 'clip' and task == 'zeroshot_classification'")
    np.testing.assert_allclose(runs["predicted"], g.predict(runs["x"].to_numpy()))
    lo, hi = g.interval(runs["x"].to_numpy(), 0.95)
    np.testing.assert_allclose(runs["lo"], lo)
    np.testing.assert_allclose(runs["hi"], hi)


# ------------------------------------------------------------------------ cosine gap
def test_cosine_gap():
    rows = []
    for size, cos, const, cool in (("xxs", 0.50, 0.48, 0.52), ("xs", 0.70, 0.66, 0.65)):
        for sched, v, n in (("const", const, 1024), ("cooldown", cool, 1024),
                            ("const", 0.9, 512), ("cosine", cos, 1024)):
            rows.append({"task": "zeroshot_classification", "metric": "acc1",
                         "procedure": "clip", "model": size, "lr": 1e-3, "schedule": sched,
                         "samples_seen": n, "gflops_total": 2.0 * n, "value": v})
    gap = cosine_gap(pd.DataFrame(rows))
    assert list(gap["model"]) == ["xxs", "xs"]
    assert gap["const_cooldown"].tolist() == [0.52, 0.66]  # best at the same samples seen
    assert gap["best_schedule"].tolist() == ["cooldown", "const"]
    np.testing.assert_allclose(gap["difference"], [-0.02, 0.04])
    np.testing.assert_allclose(gap["gap"], gap["difference"])
    (line,) = cosine_gap_lines(gap)
    assert line.startswith("Cosine check, zeroshot_classification / acc1: cosine minus the "
                           "best constant-LR/cooldown point at the same samples seen: mean "
                           "+1.0 pp (cosine better on average), largest |gap| 4.0 pp over 2 runs")
    # lower is better: the gap keeps "positive = cosine better"
    low = cosine_gap(pd.DataFrame(rows), maximize=False)
    assert low["const_cooldown"].tolist() == [0.48, 0.65]
    np.testing.assert_allclose(low["gap"], -low["difference"])
    none = cosine_gap(pd.DataFrame(rows).query("schedule != 'cosine'"))
    assert none.empty and cosine_gap_lines(none) == ["Cosine check: no cosine run to compare "
                                                     "with."]
