"""Progress of a fit of many groups: the library calls ``progress(done, total)`` after each
batch of groups (``SERIES_PER_BATCH`` fitted together); the command line prints it on
stderr once the fit has run a few seconds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import scalecmp
from scalecmp.cli.progress import GroupProgress
from scalecmp.engine import api


def _frame(groups: int) -> pd.DataFrame:
    x = np.geomspace(1e8, 1e11, 8)
    return pd.concat([pd.DataFrame({"g": g, "x": x, "y": 3 * x ** -0.2 + 0.01 * g})
                      for g in range(groups)], ignore_index=True)


def _progress_calls(**kw: object) -> list[tuple[int, int]]:
    """The ``progress(done, total)`` calls of a fit of 3 groups."""
    calls: list[tuple[int, int]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scalecmp.fit(_frame(3), x="x", y="y", by="g", law="power", n_bootstrap=0,
                     progress=lambda d, t: calls.append((d, t)), **kw)
    return calls


@pytest.mark.parametrize(("per_batch", "calls"), [
    (256, [(3, 3)]),  # one batch
    (2, [(2, 3), (3, 3)]),
    (1, [(1, 3), (2, 3), (3, 3)]),
])
def test_fit_reports_every_batch_of_groups_once_in_order(monkeypatch, per_batch, calls):
    monkeypatch.setattr(api, "SERIES_PER_BATCH", per_batch)
    assert _progress_calls() == calls


def test_with_pooling_progress_counts_both_passes_and_says_so(capsys, monkeypatch):
    monkeypatch.setattr(api, "SERIES_PER_BATCH", 1)
    assert _progress_calls(pooling="series") == [(d, 6) for d in range(1, 7)]
    from scalecmp.cli.fit import PROGRESS_UNIT

    p = GroupProgress(after=0.0, unit=PROGRESS_UNIT["series"])
    p(2, 6)
    assert "fitted 2 of 6 group fits (pooling fits each group twice)" in capsys.readouterr().err


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_lines_wait_a_few_seconds_then_come_every_ten(capsys):
    clock = _Clock()
    p = GroupProgress(after=5.0, every=10.0)
    p._now, p.t0 = clock, 0.0
    for done, t in ((1, 1.0), (2, 4.9), (3, 6.0), (4, 10.0), (5, 16.5), (6, 17.0)):
        clock.t = t
        p(done, 10)
    clock.t = 20.0
    p(10, 10)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "scalecmp: fitted 3 of 10 groups (0:06 elapsed, about 0:14 left)",
        "scalecmp: fitted 5 of 10 groups (0:16 elapsed, about 0:16 left)",
        "scalecmp: fitted 10 of 10 groups (0:20 elapsed)",
    ]


def test_a_quick_fit_prints_no_progress(capsys):
    p = GroupProgress()
    for done in range(1, 6):
        p(done, 5)
    assert capsys.readouterr().err == ""
