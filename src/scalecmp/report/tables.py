"""Tables for reports: one neutral form (caption, header, rows, notes), four renderings.

HTML (escaped; ``1.14×10<sup>12</sup>``), Markdown (pipe tables), plain text (aligned
columns) and LaTeX (booktabs: ``\\toprule``, ``\\midrule``, ``\\bottomrule``, as the study
publishes its fits; numbers as ``$1.14\\times10^{12}$``, non-finite as ``$\\infty$`` or
``--``).

A cell is a string (shown as is, escaped), an ``int``, a ``float`` or ``None`` (a number),
or one of :class:`Num`, :class:`Interval`, :class:`Pct`, which know how to render
themselves in every format. No renderer ever shortens a value: a cell is as wide as its
content. Non-finite numbers never print as ``inf``: ``unbounded`` (or the word a cell
chooses, such as ``never``), ``∞`` in HTML, ``$\\infty$`` in LaTeX; missing values are a
dash. The numbers and intervals themselves are formatted by :mod:`scalecmp.format`.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scalecmp.format import DASH, fmt_ci, fmt_num, html_num, num_or_none, tex_num

__all__ = [
    "Table",
    "Num",
    "Interval",
    "Pct",
    "latex_escape",
    "one_line_text",
    "html_text",
    "tex_text",
    "cell_text",
    "cell_html",
    "cell_tex",
]


@dataclass(frozen=True)
class Num:
    """A number cell: ``digits`` significant digits, or ``decimals`` fixed decimals;
    ``inf``: the word for +infinity (``unbounded``; e.g. ``never`` for a compute multiplier
    that is never reached)."""

    value: float | None
    digits: int = 3
    decimals: int | None = None
    inf: str = "unbounded"

    def _fixed(self, f: float) -> str:
        return f"{f:.{self.decimals}f}"

    def text(self) -> str:
        f = num_or_none(self.value)
        if self.decimals is not None and f is not None and math.isfinite(f):
            return self._fixed(f)
        return fmt_num(self.value, self.digits, inf=self.inf)

    def html(self) -> str:
        f = num_or_none(self.value)
        if self.decimals is not None and f is not None and math.isfinite(f):
            return self._fixed(f).replace("-", "\u2212")
        if f is not None and math.isinf(f) and self.inf != "unbounded":
            return html.escape(self.inf)
        return html_num(self.value, self.digits)

    def tex(self) -> str:
        f = num_or_none(self.value)
        if self.decimals is not None and f is not None and math.isfinite(f):
            s = self._fixed(f)
            return f"${s}$" if f < 0 else s
        if f is not None and math.isinf(f) and self.inf != "unbounded":
            return latex_escape(self.inf)
        return tex_num(self.value, self.digits)


@dataclass(frozen=True)
class Interval:
    """``[lo, hi]``; an open end (``None`` or infinite) shows the words ``open_lo`` /
    ``open_hi`` (``below the range``, ``beyond the range``, ``unbounded``)."""

    lo: float | None
    hi: float | None
    digits: int = 3
    open_lo: str = "unbounded"
    open_hi: str = "unbounded"

    def text(self) -> str:
        return fmt_ci(self.lo, self.hi, self.digits, open_lo=self.open_lo,
                      open_hi=self.open_hi)

    def html(self) -> str:
        return fmt_ci(self.lo, self.hi, self.digits, open_lo=html.escape(self.open_lo),
                      open_hi=html.escape(self.open_hi), num=html_num)

    def tex(self) -> str:
        return fmt_ci(self.lo, self.hi, self.digits, open_lo=latex_escape(self.open_lo),
                      open_hi=latex_escape(self.open_hi), num=tex_num)


@dataclass(frozen=True)
class Pct:
    """A share shown as a percentage (``0.97`` -> ``97%``)."""

    value: float | None
    decimals: int = 0

    def text(self) -> str:
        f = num_or_none(self.value)
        return DASH if f is None or math.isinf(f) else f"{100 * f:.{self.decimals}f}%"

    def html(self) -> str:
        return html.escape(self.text())

    def tex(self) -> str:
        f = num_or_none(self.value)
        return "--" if f is None or math.isinf(f) else f"{100 * f:.{self.decimals}f}\\%"


def _cell(c: Any, method: str, number: Callable[[Any], str],
          text: Callable[[str], str]) -> str:
    """A cell in one format: its own ``method()`` (Num, Interval, Pct), ``number`` for a
    float or a missing value, else ``text`` of its string."""
    render = getattr(c, method, None)
    if callable(render):
        return render()
    if c is None or isinstance(c, float):
        return number(c)
    return text(str(c))


def cell_text(c: Any) -> str:
    """A cell as plain text (Markdown, terminal)."""
    return _cell(c, "text", fmt_num, str)


def cell_html(c: Any) -> str:
    """A cell as escaped HTML."""
    return _cell(c, "html", html_num, html_text)


def cell_tex(c: Any) -> str:
    """A cell as LaTeX (text escaped, numbers typeset)."""
    return _cell(c, "tex", tex_num, tex_text)


_ENUM = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)e([+-]?\d+)(?!\w|\.\d)")


def _exp_int(e: str) -> int:
    return int(e)


def one_line_text(s: Any) -> str:
    """``s`` on one line: each line break (``\\n``, ``\\r``, ``\\r\\n``, U+2028, ... what
    ``str.splitlines`` splits at) becomes a space. A title, a heading, a cell or a comment
    line of a report then cannot start a line of its own (a Markdown heading, a raw LaTeX
    line)."""
    return " ".join(str(s).splitlines())


def html_text(s: str) -> str:
    """Escape ``s`` for HTML and typeset the numbers it holds in e-notation
    (``1.43e11`` -> ``1.43×10<sup>11</sup>``)."""
    return _ENUM.sub(lambda m: f"{m.group(1)}\u00d710<sup>{_exp_int(m.group(2))}</sup>",
                     html.escape(str(s)))


def tex_text(s: str) -> str:
    """Escape ``s`` for LaTeX and typeset its e-notation numbers (``$1.43\\times10^{11}$``)."""
    return _ENUM.sub(lambda m: rf"${m.group(1)}\times10^{{{_exp_int(m.group(2))}}}$",
                     latex_escape(str(s)))


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\u2212": "--",
    "\u00d7": r"$\times$",
    "\u2264": r"$\le$",
    "\u2265": r"$\ge$",
    "\u221e": r"$\infty$",
}


def latex_escape(s: str) -> str:
    """Escape LaTeX's special characters (and map a few Unicode signs to LaTeX), on one
    line (line breaks become spaces)."""
    # on one line: a newline would end a comment, a blank line a table cell
    return "".join(_LATEX.get(ch, ch) for ch in one_line_text(s))


@dataclass
class Table:
    """A table with a caption and notes; rendered to HTML, Markdown, plain text or LaTeX.

    ``notes``: sentences printed under the table (warnings about the numbers in it).
    """

    caption: str
    header: list[str]
    rows: list[list[Any]]
    label: str = ""
    notes: list[str] = field(default_factory=list)

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{cell_html(c)}</td>" for c in r) + "</tr>"
            for r in self.rows
        )
        foot = ""
        if self.notes:
            items = "".join(f"<div>{html_text(n)}</div>" for n in self.notes)
            foot = (f'<tfoot><tr><td class="tnote" colspan="{len(self.header)}">{items}'
                    "</td></tr></tfoot>")
        return (
            f"<table><caption>{html_text(self.caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>"
        )

    def markdown(self) -> str:
        def cell(c: Any) -> str:
            return one_line_text(cell_text(c)).replace("|", "\\|")

        lines = [f"**{cell(self.caption)}**", ""]
        lines.append("| " + " | ".join(cell(h) for h in self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- *{cell(n)}*" for n in self.notes]
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        """Aligned plain text (first column left, the others right); nothing is cut."""
        cells = [[cell_text(c).replace("\n", " ") for c in r] for r in self.rows]
        n = len(self.header)
        widths = [max([len(self.header[j])] + [len(r[j]) for r in cells if j < len(r)])
                  for j in range(n)]

        def line(vals: list[str]) -> str:
            out = []
            for j, v in enumerate(vals):
                out.append(v.ljust(widths[j]) if j == 0 else v.rjust(widths[j]))
            return "  ".join(out).rstrip()

        rule = "  ".join("-" * w for w in widths)
        lines = [self.caption, line(list(self.header)), rule]
        lines += [line(r) for r in cells]
        lines += [f"note: {x}" for x in self.notes]
        return "\n".join(lines) + "\n"

    def latex(self) -> str:
        cols = "l" * min(1, len(self.header)) + "r" * max(0, len(self.header) - 1)
        out = [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{tex_text(self.caption)}}}",
        ]
        if self.label:
            out.append(rf"\label{{{self.label}}}")
        out += [
            rf"\begin{{tabular}}{{{cols}}}",
            r"\toprule",
            " & ".join(latex_escape(h) for h in self.header) + r" \\",
            r"\midrule",
        ]
        out += [" & ".join(cell_tex(c) for c in r) + r" \\" for r in self.rows]
        out += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            out.append(r"\par\smallskip\begin{minipage}{\linewidth}\footnotesize")
            out += [tex_text(n) + r"\par" for n in self.notes]
            out.append(r"\end{minipage}")
        out += [r"\end{table}", ""]
        return "\n".join(out)
