"""Tests of scalecmp.report: a self-contained HTML report, Markdown and LaTeX tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalecmp.errors import DataError, UsageError
from scalecmp.report import write_report
from scalecmp.report_tables import Table, fmt_ci, fmt_num, latex_escape


def _frame():
    rng = np.random.default_rng(3)
    rows = []
    c = np.geomspace(1e7, 1e12, 40)
    for task, shift in (("cls", 0.0), ("ret", 0.05)):
        for proc, m in (("clip", 1.0), ("mammut", 1.6)):
            err = 40 * (c / m + 9e7) ** -0.21 + 0.09 + shift
            v = 1 - err * np.exp(rng.normal(0, 0.01, len(c)))
            rows.append(pd.DataFrame({"task": task, "metric": "acc", "procedure": proc,
                                      "gflops_total": c, "value": v}))
    return pd.concat(rows, ignore_index=True)


def test_table_renderings():
    t = Table("fit of a_b", ["group", "value"], [["x_1", "50%"]])
    assert "<table>" in t.html() and "x_1" in t.html()
    assert "| x_1 | 50% |" in t.markdown()
    tex = t.latex()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"x\_1 & 50\% \\" in tex
    assert latex_escape("a&b#c") == r"a\&b\#c"
    assert fmt_num(4.2e10) == "4.2e10" and fmt_num(None) == "-" and fmt_num(0.2271) == "0.227"
    assert fmt_ci(None, 2.0) == "[-inf, 2]"


def test_write_report_sections_and_no_overwrite(tmp_path):
    out = tmp_path / "rep"
    path = write_report(_frame(), out, n_bootstrap=40, title="Demo report", law="saturating")
    assert path == out / "report.html"
    html = path.read_text()
    assert html.count("data:image/png;base64,") >= 2  # one figure per series
    assert "<script" not in html and 'src="http' not in html  # self-contained
    assert "cls / acc" in html and "ret / acc" in html
    assert "held-out check" in html
    assert "clip vs mammut" in html
    md = (out / "report.md").read_text()
    assert "| group | param |" in md and "Demo report" in md
    tex = (out / "report.tex").read_text()
    assert r"\begin{tabular}" in tex and r"\midrule" in tex
    with pytest.raises(UsageError, match="overwrite"):
        write_report(_frame(), out, n_bootstrap=40, law="saturating")
    write_report(_frame(), out, n_bootstrap=40, force=True, law="power_floor")


def test_write_report_single_group_and_bad_series(tmp_path):
    f = _frame()
    f = f[f.procedure == "clip"]
    path = write_report(f, tmp_path / "one", series=None, n_bootstrap=40)
    assert "data:image/png;base64," in path.read_text()
    with pytest.raises(DataError, match="--series"):
        write_report(f, tmp_path / "two", series=("nope",), n_bootstrap=40)
    with pytest.raises(UsageError):
        write_report(f, tmp_path / "three", n_bootstrap=5)
