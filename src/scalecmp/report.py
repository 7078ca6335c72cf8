"""Reports: one self-contained HTML file plus the same tables as Markdown and LaTeX.

For every *series* (e.g. each (task, metric) of a measurement table) the report fits every
group of ``by`` (procedures, datasets), and shows:

* a figure (embedded as base64 PNG: no external assets) of the laws, bands and points and,
  with two or more groups, the difference curve of each pair;
* the fitted parameters with their bootstrap intervals;
* a **held-out check** per group: fit only on runs with compute ``<= T`` (default ``T`` =
  the largest compute / ``holdout_factor``), predict the frontier (non-dominated) points above
  ``T``, and report the absolute errors (metric units) and whether the prediction intervals
  cover them;
* the comparisons: the table at ``at`` computes, crossovers and the verdict sentence.

``report.md`` and ``report.tex`` (booktabs tables) hold the same tables.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.errors import DataError, ScalecmpError, UsageError
from scalecmp.frontier import naive_frontier
from scalecmp.io import apply_where, atomic_write_text, check_output_path
from scalecmp.report_tables import Table, fmt_ci, fmt_num

__all__ = ["write_report", "build_sections", "Section"]


@dataclass
class Section:
    """One series of the report: its title, figures (PNG bytes), tables, verdicts, notes."""

    title: str
    figures: list[tuple[str, bytes]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _params_table(fit: Any, title: str) -> Table:
    rows = []
    for g in fit.groups:
        ci = g.params_ci
        for name, val in g.params.items():
            rows.append([g.label() if hasattr(g, "label") else str(g.key), name, fmt_num(val),
                         fmt_ci(*ci[name]), str(g.n_points), str(g.n_frontier)])
    weights = "; ".join(
        f"{g.label()}: " + ", ".join(
            f"{c['name']} {c['weight']:.2f}" for c in g.fit.candidates if c["weight"] > 0)
        for g in fit.groups if g.mode == "auto"
    )
    laws = f"law auto (parameters of the heaviest law; weights: {weights})" if weights else \
        f"law {fit.law}"
    return Table(
        caption=f"{title}: {laws}, error units, {fit.level:.0%} bootstrap intervals",
        header=["group", "param", "estimate", "interval", "points", "frontier"],
        rows=rows,
    )


def _holdout_rows(
    frame: pd.DataFrame, fit: Any, *, x: str, y: str, by: list[str], maximize: bool,
    threshold: float, fit_kwargs: dict,
) -> tuple[list[list[str]], list[str]]:
    """Fit each group below ``threshold`` and predict its frontier points above it."""
    from scalecmp import fit as _fit

    rows, notes = [], []
    for g in fit.groups:
        data = g.data
        xs = data[x].to_numpy(float)
        err = 1.0 - data[y].to_numpy(float) if maximize else data[y].to_numpy(float)
        front = naive_frontier(xs, err)
        held = front & (xs > threshold)
        train = data.loc[xs <= threshold]
        lab = ", ".join(f"{k}={v}" for k, v in g.key.items()) or "all"
        if held.sum() == 0:
            notes.append(f"{lab}: no frontier point above {fmt_num(threshold)}; no held-out check")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sub = _fit(train, x=x, y=y, by=None, maximize=maximize, **fit_kwargs)
        except ScalecmpError as exc:
            notes.append(f"{lab}: held-out fit below {fmt_num(threshold)} failed: {exc}")
            continue
        sg = sub.groups[0]
        hx = xs[held]
        hy = data[y].to_numpy(float)[held]
        pred = sg.predict(hx)
        lo, hi = sg.interval(hx)
        ae = np.abs(pred - hy)
        cover = (hy >= lo) & (hy <= hi)
        rows.append([lab, fmt_num(threshold), str(len(train)), str(int(held.sum())),
                     fmt_num(float(ae.mean())), fmt_num(float(ae.max())),
                     f"{int(cover.sum())}/{len(cover)}"])
    return rows, notes


def _section(
    frame: pd.DataFrame, title: str, *, x: str, y: str, by: list[str], maximize: bool,
    fit_kwargs: dict, at: Sequence[float] | None, holdout: float | None, holdout_factor: float,
) -> Section:
    from scalecmp import fit as _fit
    from scalecmp.compare import compare
    from scalecmp.compare_plot import comparison_figure, plot_groups

    sec = Section(title=title)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = _fit(frame, x=x, y=y, by=by or None, maximize=maximize, **fit_kwargs)
    sec.notes += sorted({str(w.message) for w in caught})
    sec.tables.append(_params_table(fit, title))
    # comparisons
    if len(fit.groups) >= 2:
        res = compare(fit, at=at, level=fit.level)
        by_key = {tuple(map(str, g.key.values())): g for g in fit.groups}
        for c in res:
            ga, gb = by_key[tuple(map(str, c.a.values()))], by_key[tuple(map(str, c.b.values()))]
            sec.figures.append(
                (f"{c.label_a} vs {c.label_b}", _png(comparison_figure(c, ga, gb, y_label=y)))
            )
            sec.verdicts.append(f"{c.label_a} vs {c.label_b}: {c.verdict}")
            rows = []
            for e in c.at:
                rows.append([
                    f"{c.label_a} - {c.label_b}", fmt_num(e["x"]), fmt_num(e["y_a"]),
                    fmt_num(e["y_b"]), fmt_num(e["diff"]), fmt_ci(e["lo"], e["hi"]),
                    f"{e['p_a_better']:.3f}",
                    ", ".join(map(str, e["better"].values())) if e["better"] else "inconclusive",
                    fmt_num(e["compute_multiplier"]), fmt_ci(*e["multiplier_ci"]),
                    "yes" if e["extrapolated"] else "no",
                ])
            sec.tables.append(Table(
                caption=f"{title}: {c.label_a} vs {c.label_b} at selected compute "
                f"({c.level:.0%} intervals; multiplier = compute {c.label_b} needs / compute "
                f"{c.label_a} uses for the same error)",
                header=["pair", x, "y_a", "y_b", "diff", "interval", "P(a better)", "better",
                        "multiplier", "interval", "extrapolated"],
                rows=rows,
            ))
            xrows = [[f"{c.label_a} / {c.label_b}", fmt_num(k["x"]), fmt_ci(k["lo"], k["hi"]),
                      f"{k['share']:.0%}"] for k in c.crossovers]
            if not xrows:
                xrows = [[f"{c.label_a} / {c.label_b}", "none in range", "-",
                          f"{c.share_any_crossover:.0%}"]]
            if c.exponent_diff:
                ed = c.exponent_diff
                for r in xrows:
                    r.append(f"{fmt_num(ed['value'])} {fmt_ci(ed['lo'], ed['hi'])}")
            else:
                for r in xrows:
                    r.append("-")
            sec.tables.append(Table(
                caption=f"{title}: crossovers of {c.label_a} and {c.label_b}",
                header=["pair", "crossover", "interval", "replicates crossing",
                        "alpha_a - alpha_b"],
                rows=xrows,
            ))
    else:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        lo = min(g.x_range[0] for g in fit.groups)
        hi = max(g.x_range[1] for g in fit.groups)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_groups(ax, fit.groups, np.geomspace(lo, hi * 100, 200), fit.level)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.legend(fontsize=7)
        fig.tight_layout()
        sec.figures.append((title, _png(fig)))
    # held-out check
    xmax = float(frame[x].max())
    threshold = holdout if holdout is not None else xmax / holdout_factor
    rows, notes = _holdout_rows(frame, fit, x=x, y=y, by=by, maximize=maximize,
                                threshold=threshold, fit_kwargs=fit_kwargs)
    sec.notes += notes
    if rows:
        sec.tables.append(Table(
            caption=f"{title}: held-out check (fit on {x} <= {fmt_num(threshold)}, predict the "
            f"frontier points above; absolute error in {y} units; {fit.level:.0%} prediction "
            "intervals)",
            header=["group", "threshold", "fit rows", "held out", "mean abs err", "max abs err",
                    "covered"],
            rows=rows,
        ))
    return sec


def build_sections(
    frame: pd.DataFrame,
    *,
    x: str = "gflops_total",
    y: str = "value",
    by: str | Sequence[str] | None = "procedure",
    series: Sequence[str] | None = ("task", "metric"),
    maximize: bool = True,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    random_state: int | None = 0,
    law: str | None = None,
    frontier: str | None = None,
    at: Sequence[float] | None = None,
    holdout: float | None = None,
    holdout_factor: float = 10.0,
    where: Sequence[str] | None = None,
) -> list[Section]:
    """Fit, compare and check every series; a series that cannot be fitted becomes a
    section with its error as a note."""
    by_l = [by] if isinstance(by, str) else list(by or [])
    series_l = [series] if isinstance(series, str) else list(series or [])
    frame = apply_where(frame, where)
    for col, opt in [(c, "--series") for c in series_l] + [(c, "--by") for c in by_l]:
        if col not in frame.columns:
            cols = ", ".join(map(str, frame.columns))
            raise DataError(f"{opt}: no column '{col}' (columns: {cols})")
    fit_kwargs: dict[str, Any] = {"n_bootstrap": n_bootstrap, "level": level,
                                  "random_state": random_state}
    if law is not None:
        fit_kwargs["law"] = law
    if frontier is not None:
        fit_kwargs["frontier"] = frontier
    parts = frame.groupby(series_l, sort=True) if series_l else [((), frame)]
    sections = []
    for key, sub in parts:
        key = key if isinstance(key, tuple) else (key,)
        title = " / ".join(str(k) for k in key) or y
        try:
            sections.append(_section(sub, title, x=x, y=y, by=by_l, maximize=maximize,
                                     fit_kwargs=fit_kwargs, at=at, holdout=holdout,
                                     holdout_factor=holdout_factor))
        except ScalecmpError as exc:
            sections.append(Section(title=title, notes=[f"not fitted: {exc}"]))
    return sections


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.85em}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
th,td{border-top:1px solid #ddd;border-bottom:1px solid #ddd;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #444}
.verdict{background:#f4f7fb;border-left:4px solid #1f77b4;padding:.5em .8em;margin:.6em 0}
.note{color:#7a5a00;font-size:.85em}img{max-width:100%}
"""


def _render_html(title: str, sections: list[Section], meta: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(meta)}</p>",
    ]
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        for v in s.verdicts:
            out.append(f'<p class="verdict">{html.escape(v)}</p>')
        for cap, png in s.figures:
            b64 = base64.b64encode(png).decode("ascii")
            out.append(
                f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,{b64}">'
                f"<figcaption>{html.escape(cap)}</figcaption></figure>"
            )
        out += [t.html() for t in s.tables]
        out += [f'<p class="note">{html.escape(n)}</p>' for n in s.notes]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _render_md(title: str, sections: list[Section], meta: str) -> str:
    out = [f"# {title}", "", meta, ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        out += [f"> {v}\n" for v in s.verdicts]
        out += [t.markdown() for t in s.tables]
        out += [f"*Note: {n}*\n" for n in s.notes]
    return "\n".join(out)


def _render_tex(title: str, sections: list[Section], meta: str) -> str:
    from scalecmp.report_tables import latex_escape

    out = [
        f"% {title}",
        f"% {meta}",
        "% Tables generated by scalecmp; needs \\usepackage{booktabs}.",
        "",
    ]
    for s in sections:
        out.append(f"% --- {latex_escape(s.title)} ---")
        for v in s.verdicts:
            out.append("% " + v.replace("\n", " "))
        out += [t.latex() for t in s.tables]
    return "\n".join(out)


def write_report(
    frame: pd.DataFrame,
    out_dir: str | Path,
    *,
    x: str = "gflops_total",
    y: str = "value",
    by: str | Sequence[str] | None = "procedure",
    series: Sequence[str] | None = ("task", "metric"),
    maximize: bool = True,
    title: str = "scalecmp report",
    n_bootstrap: int = 1000,
    level: float = 0.95,
    random_state: int | None = 0,
    force: bool = False,
    law: str | None = None,
    frontier: str | None = None,
    at: Sequence[float] | None = None,
    holdout: float | None = None,
    holdout_factor: float = 10.0,
    where: Sequence[str] | None = None,
    inputs: Sequence[str | Path] = (),
) -> Path:
    """Write ``report.html`` (self-contained), ``report.md`` and ``report.tex`` into
    ``out_dir`` and return the path of ``report.html``.

    Existing files are never replaced unless ``force``; the check happens before any work.
    ``series`` columns split the frame into one section per value combination; ``by``
    columns define the groups that are fitted and compared within a section.
    """
    if n_bootstrap < 20:
        raise UsageError("a report needs --n-bootstrap >= 20 for its intervals")
    if holdout is not None and not holdout > 0:
        raise UsageError("--holdout must be > 0 (compute threshold)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out must be a directory, got a file: {out}")
    paths = {ext: out / f"report.{ext}" for ext in ("html", "md", "tex")}
    for p in paths.values():
        check_output_path(p, force=force, inputs=inputs)
    sections = build_sections(
        frame, x=x, y=y, by=by, series=series, maximize=maximize, n_bootstrap=n_bootstrap,
        level=level, random_state=random_state, law=law, frontier=frontier, at=at,
        holdout=holdout, holdout_factor=holdout_factor, where=where,
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    by_txt = ", ".join([by] if isinstance(by, str) else list(by or [])) or "-"
    meta = (
        f"Compute {x}, metric {y} ({'higher' if maximize else 'lower'} is better), groups by "
        f"{by_txt}; {n_bootstrap} bootstrap replicates, {level:.0%} intervals, seed "
        f"{random_state}; generated {stamp} by scalecmp."
    )
    atomic_write_text(paths["html"], _render_html(title, sections, meta))
    atomic_write_text(paths["md"], _render_md(title, sections, meta))
    atomic_write_text(paths["tex"], _render_tex(title, sections, meta))
    return paths["html"]
