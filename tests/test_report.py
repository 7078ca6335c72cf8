"""Tests of scalecmp.report: a self-contained HTML report, Markdown and LaTeX tables."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from scalecmp.errors import DataError, UsageError
from scalecmp.format import fmt_ci, fmt_num, html_num, tex_num
from scalecmp.report import Precomputed, ReportOptions, write_report
from scalecmp.report.tables import (
    Interval,
    Num,
    Pct,
    Table,
    latex_escape,
    tex_text,
)


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


# the report's defaults are every command's (maximize=False, no groups, no series): the
# synthetic accuracies are split by task and metric and compared by procedure explicitly
_OPTS = {"by": "procedure", "series": ("task", "metric"), "maximize": True}


def test_table_renderings():
    t = Table("fit of a_b", ["group", "value"], [["x_1", "50%"]])
    assert "<table>" in t.html() and "x_1" in t.html()
    assert "| x_1 | 50% |" in t.markdown()
    tex = t.latex()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"x\_1 & 50\% \\" in tex
    assert latex_escape("a&b#c") == r"a\&b\#c"
    assert fmt_num(4.2e10) == "4.2e10" and fmt_num(None) == "-" and fmt_num(0.2271) == "0.227"
    assert fmt_ci(None, 2.0) == "[unbounded, 2]"
    assert fmt_ci(1.0, float("inf"), open_hi="beyond the range") == "[1, beyond the range]"


def test_non_finite_numbers_are_words_or_dashes():
    inf, nan = float("inf"), float("nan")
    assert fmt_num(inf) == "unbounded" and fmt_num(-inf) == "unbounded below"
    assert fmt_num(nan) == "-" and fmt_num(inf, inf="never") == "never"
    assert tex_num(inf) == r"$\infty$" and tex_num(-inf) == r"$-\infty$"
    assert tex_num(None) == "--" and tex_num(nan) == "--"
    assert html_num(inf) == "\u221e" and html_num(None) == "-"
    for v in (inf, -inf, nan, None):
        for cell in (Num(v), Interval(v, v), Pct(v)):
            for text in (cell.text(), cell.html(), cell.tex()):
                assert not re.search(r"(?<![\\\w])-?inf\b", text), (v, text)


def test_latex_numbers_are_typeset():
    assert tex_num(1.14e12) == r"$1.14\times10^{12}$"
    assert tex_num(-0.0437) == r"$-0.0437$" and tex_num(0.227) == "0.227"
    assert tex_num(9.996e8) == r"$1\times10^{9}$"
    assert tex_text("fit on x <= 1.43e11.") == r"fit on x <= $1.43\times10^{11}$."
    t = Table("caption at 1e12", ["x", "ci", "share", "p"],
              [[1.14e12, Interval(2e10, None, open_hi="beyond the range"), Pct(0.96),
                Num(0.0951, decimals=3)]], notes=["warning about 3.5e-5"])
    tex = t.latex()
    row = r"$1.14\times10^{12}$ & [$2\times10^{10}$, beyond the range] & 96\% & 0.095 \\"
    assert row in tex
    assert r"\caption{caption at $1\times10^{12}$}" in tex
    assert r"warning about $3.5\times10^{-5}$\par" in tex
    # no raw e-notation anywhere in the LaTeX
    assert not re.search(r"\de[+-]?\d", tex)
    assert "1.14\u00d710<sup>12</sup>" in t.html() and "warning about" in t.html()


def test_renderings_never_truncate():
    long = "inconclusive (extrapolated beyond either group's data, " + "x" * 80 + ")"
    t = Table("c", ["pair", "better"], [["clip - mammut", long], ["a", "b"]],
              notes=["n" * 150])
    for text in (t.text(), t.markdown(), t.html()):
        assert long.replace("'", "&#x27;") in text or long in text
        assert "\u2026" not in text and "n" * 150 in text
    lines = t.text().splitlines()
    assert lines[1].startswith("pair") and len({len(x) for x in lines[3:5]}) == 1  # aligned


def test_write_report_sections_and_no_overwrite(tmp_path):
    out = tmp_path / "rep"
    path = write_report(_frame(), out, n_bootstrap=40, report=ReportOptions(title="Demo report"),
                        law="saturating",
                        **_OPTS)
    assert path == out / "report.html"
    html = path.read_text()
    assert html.count("data:image/png;base64,") >= 2  # one figure per series
    assert "<script" not in html and 'src="http' not in html  # self-contained
    assert "cls / acc" in html and "ret / acc" in html
    assert "held-out check" in html
    assert "clip vs mammut" in html
    md = (out / "report.md").read_text()
    assert "| group | law | param | estimate |" in md and "Demo report" in md
    tex = (out / "report.tex").read_text()
    assert r"\begin{tabular}" in tex and r"\midrule" in tex
    with pytest.raises(UsageError, match="overwrite"):
        write_report(_frame(), out, n_bootstrap=40, law="saturating", **_OPTS)
    write_report(_frame(), out, n_bootstrap=40, force=True, law="power_floor", **_OPTS)


def test_write_report_single_group_and_bad_series(tmp_path):
    f = _frame()
    f = f[f.procedure == "clip"]
    path = write_report(f, tmp_path / "one", by="procedure", maximize=True, n_bootstrap=40)
    assert "data:image/png;base64," in path.read_text()
    with pytest.raises(DataError, match="^series: no column 'nope'"):
        write_report(f, tmp_path / "two", series=("nope",), n_bootstrap=40)
    with pytest.raises(UsageError):
        write_report(f, tmp_path / "three", n_bootstrap=5)


def test_report_captions_warnings_and_typeset_numbers(tmp_path):
    f = _frame()
    # a series with no floor, fitted with a floor law: E sits at its bound (a warning)
    c = np.geomspace(1e7, 1e12, 30)
    rng = np.random.default_rng(0)
    f = pd.concat([f, pd.DataFrame({
        "task": "nofloor", "metric": "acc", "procedure": "clip", "gflops_total": c,
        "value": 1 - 2 * c**-0.1 * np.exp(rng.normal(0, 0.01, len(c)))})], ignore_index=True)
    path = write_report(f, tmp_path / "r", n_bootstrap=40, law="power_floor", **_OPTS)
    html = path.read_text()
    # every figure is captioned with what it shows: task, metric, the pair, the law
    caps = re.findall(r"<figcaption>(.*?)</figcaption>", html, flags=re.S)
    assert caps[0].startswith("<b>Figure 1.</b> Held-out check (")  # the report opens with it
    caps = caps[1:]
    assert len(caps) == 2 + 2 + 1  # fit + comparison for cls and ret, fit for nofloor
    assert all("task: " in cap and "metric: acc" in cap for cap in caps)
    assert sum("clip vs mammut (procedure)" in cap for cap in caps) == 2
    assert any("task: cls" in cap for cap in caps) and any("task: ret" in cap for cap in caps)
    assert all("power_floor law" in cap for cap in caps)
    assert 'alt="Figure 1: ' in html
    # no cell prints inf or -inf, no number in e-notation in HTML cells
    cells = re.findall(r"<td>(.*?)</td>", html)
    assert cells and not [x for x in cells if re.search(r"(?<!\w)-?inf\b", x)]
    assert not [x for x in cells if re.search(r"\de[+-]?\d", x)]
    # the warning sits beside the parameter it concerns (Markdown row of E)
    md = (tmp_path / "r" / "report.md").read_text()
    e_row = [ln for ln in md.splitlines() if ln.startswith("| clip | power_floor | E |")]
    assert e_row and e_row[-1].rstrip(" |").endswith("at its bound")
    tex = (tmp_path / "r" / "report.tex").read_text()
    body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    assert not re.search(r"\de[+-]?\d", body), "raw e-notation in the LaTeX tables"
    assert not re.search(r"(?<![\\\w])-?inf\b", body)
    assert r"\times10^{" in body


def test_report_tex_compiles(tmp_path):
    """The LaTeX tables compile with booktabs (needs pdflatex; skipped without it)."""
    import shutil
    import subprocess

    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-recommended)")
    write_report(_frame(), tmp_path / "r", n_bootstrap=40, law="saturating", **_OPTS)
    main = tmp_path / "main.tex"
    main.write_text("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{booktabs}"
                    "\\usepackage[margin=1cm,landscape]{geometry}\\begin{document}"
                    f"\\input{{{tmp_path / 'r' / 'report.tex'}}}\\end{{document}}\n")
    out = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", main.name],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:]
    assert (tmp_path / "main.pdf").stat().st_size > 10_000


def _sections(html: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", html)


def test_report_opens_with_the_held_out_check(tmp_path):
    """The first section is the validated prediction: the verdict in words, the figure of
    predicted against measured with intervals, the MAE and coverage per series; then the
    comparison sections."""
    path = write_report(_frame(), tmp_path / "r", n_bootstrap=40, law="saturating",
                        report=ReportOptions(holdout_factor=4), **_OPTS)
    html = path.read_text()
    assert _sections(html)[0] == "Validated prediction: held-out check"
    assert _sections(html)[1:] == ["cls / acc", "ret / acc"]
    first = html.index("<h2>")
    head = html[first:html.index("<h2>", first + 1)]
    verdict = re.search(r'<p class="(verdict[^"]*)">(.*?)</p>', head, flags=re.S)
    assert verdict.group(1) == "verdict"  # passed: no alert
    assert verdict.group(2).startswith("Held-out check passed: fitted below 1/4 of each "
                                       "procedure&#x27;s largest compute (clip: ")
    assert head.count("data:image/png;base64,") == 1 and "Figure 1.</b> Held-out check" in head
    assert "95% prediction intervals" in head
    # one row per series with its mean absolute error and coverage, then one per group
    assert re.search(r"<td>cls / acc</td><td>\d+</td><td>[\d.]+</td><td>[\d.]+</td>"
                     r"<td>\d+/\d+</td><td>\d+%</td><td>passed</td>", head)
    assert "<td>cls / acc</td><td>clip</td>" in head and "<td>ret / acc</td><td>mammut</td>" in head
    md = (tmp_path / "r" / "report.md").read_text()
    assert md.index("## Validated prediction: held-out check") < md.index("## cls / acc")
    assert "> Held-out check passed: " in md


def test_a_failed_held_out_check_says_so_at_the_top(tmp_path):
    f = _frame()
    # the largest runs of one series improve suddenly: no law fitted below predicts them
    big = (f["gflops_total"] > 2e11) & (f["task"] == "ret")
    f.loc[big, "value"] = 1 - (1 - f.loc[big, "value"]) * 0.4
    path = write_report(f, tmp_path / "r", n_bootstrap=40, law="saturating",
                        report=ReportOptions(holdout=2e11), **_OPTS)
    html = path.read_text()
    assert _sections(html)[0] == "Validated prediction: held-out check"
    verdict = re.search(r'<p class="(verdict[^"]*)">(.*?)</p>', html, flags=re.S)
    assert verdict.group(1) == "verdict alert"
    text = verdict.group(2)
    assert text.startswith("Held-out check FAILED: fitted below 2")
    assert "failing: ret / acc (mean error " in text
    assert "Treat the extrapolations and verdicts below with caution." in text
    assert html.index("Held-out check FAILED") < html.index("<h2>cls / acc</h2>")
    md = (tmp_path / "r" / "report.md").read_text()
    assert "> **Held-out check FAILED: " in md
    tex = (tmp_path / "r" / "report.tex").read_text()
    assert "% Held-out check FAILED: " in tex


def test_report_shows_a_given_check_and_the_cosine_gap(tmp_path):
    from scalecmp.holdout import cosine_gap, holdout_check

    f = _frame()
    check = holdout_check(f, x="gflops_total", y="value", by="procedure",
                          series=("task", "metric"), maximize=True, threshold=1e11,
                          n_bootstrap=40, law="saturating")
    rows = []
    for proc in ("clip", "mammut"):
        for sched, v in (("const", 0.60), ("cooldown", 0.64), ("cosine", 0.62)):
            rows.append({"task": "cls", "metric": "acc", "procedure": proc, "model": "s",
                         "schedule": sched, "samples_seen": 1024, "gflops_total": 1e12,
                         "value": v})
    gap = cosine_gap(pd.DataFrame(rows))
    path = write_report(f, tmp_path / "r", n_bootstrap=40, law="saturating",
                        precomputed=Precomputed(holdout=check, cosine_gap=gap), **_OPTS)
    html = path.read_text()
    assert _sections(html)[:2] == ["Validated prediction: held-out check",
                                   "Cosine check: constant LR + cooldown against cosine"]
    assert "fitted below 1×10<sup>11</sup> GFLOPs" in html  # the given check, not a new one
    assert ("Cosine check, cls / acc: cosine minus the best constant-LR/cooldown point at the "
            "same samples seen: mean -2.0 pp") in html
    assert html.count("<td>cooldown</td>") == 2
    with pytest.raises(UsageError, match="holdout_factor"):
        write_report(f, tmp_path / "bad", n_bootstrap=40,
                     report=ReportOptions(holdout_factor=1), **_OPTS)


def test_report_shows_the_fits_it_is_given(tmp_path, monkeypatch):
    """Ready fits (the demo's) are shown as they are: no second fit of those sections,
    and their data warnings travel with them into the parameter table."""
    import scalecmp

    f = _frame()
    f.loc[(f["task"] == "cls") & (f["gflops_total"] == f["gflops_total"].max()), "value"] = 1.0
    rows = f[f["task"] == "cls"]
    with pytest.warns(Warning, match="have y = 1"):
        given = scalecmp.fit(rows, x="gflops_total", y="value", by="procedure",
                             maximize=True, n_bootstrap=40, law="power_floor")
    assert any("have y = 1" in w for g in given.groups for w in g.warnings)
    fitted = []  # the tasks of every section fit the report makes itself
    import scalecmp.report.build as build

    real_fit = build.fit_frame
    monkeypatch.setattr(build, "fit_frame", lambda frame, **k: fitted.append(
        tuple(sorted(set(frame["task"])))) or real_fit(frame, **k))
    path = write_report(f, tmp_path / "r", n_bootstrap=40, law="saturating",
                        precomputed=Precomputed(fits={("cls", "acc"): given}), **_OPTS)
    html = path.read_text()
    cls = html[html.index("<h2>cls / acc</h2>"):html.index("<h2>ret / acc</h2>")]
    assert "law power_floor" in cls and "saturating" not in cls.split("</table>")[0]
    assert "have y = 1 (error 0)" in cls
    ret = html[html.index("<h2>ret / acc</h2>"):]
    assert "saturating" in ret  # the section without a given fit is fitted as asked
    assert fitted == [("ret",)]  # cls / acc was not fitted again


def test_rows_without_a_series_value_are_left_out_with_a_warning(tmp_path):
    """A row whose series column is empty belongs to no section: a warning says how many
    were left out (they used to vanish silently); no row with a value: one error line."""
    f = _frame()
    f.loc[f.index[:5], "task"] = None
    with pytest.warns(Warning, match=r"series: left out 5 of 160 rows with no value in task"):
        path = write_report(f, tmp_path / "r", n_bootstrap=40, **_OPTS)
    assert path.exists()
    f["task"] = None
    with pytest.raises(DataError, match="series: every row has no value in task, metric"):
        write_report(f, tmp_path / "r2", n_bootstrap=40, **_OPTS)
