"""Tables for reports: one neutral form (caption, header, rows of strings), three renderings.

HTML (escaped), Markdown (pipe tables) and LaTeX (booktabs: ``\\toprule``, ``\\midrule``,
``\\bottomrule``, as the study publishes its fits).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

__all__ = ["Table", "fmt_num", "fmt_ci", "latex_escape"]


def fmt_num(v: float | None, digits: int = 3) -> str:
    """Compact number: ``4.2e10``, ``0.227``, ``-`` for missing, ``inf`` kept."""
    if v is None:
        return "-"
    v = float(v)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
        s = f"{v:.{digits}g}"
        return s.replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    return f"{v:.{digits}g}"


def fmt_ci(lo: float | None, hi: float | None, digits: int = 3) -> str:
    """``[lo, hi]`` with open ends shown as ``-inf`` / ``inf`` when missing."""
    left = fmt_num(lo, digits) if lo is not None else "-inf"
    right = fmt_num(hi, digits) if hi is not None else "inf"
    return f"[{left}, {right}]"


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
}


def latex_escape(s: str) -> str:
    """Escape LaTeX's special characters."""
    return "".join(_LATEX.get(ch, ch) for ch in str(s))


@dataclass
class Table:
    """A table of strings with a caption; rendered to HTML, Markdown or LaTeX."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    label: str = ""

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
            for r in self.rows
        )
        return (
            f"<table><caption>{html.escape(self.caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def markdown(self) -> str:
        def cell(c: str) -> str:
            return str(c).replace("|", "\\|").replace("\n", " ")

        lines = [f"**{cell(self.caption)}**", ""]
        lines.append("| " + " | ".join(cell(h) for h in self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in self.rows]
        return "\n".join(lines) + "\n"

    def latex(self) -> str:
        cols = "l" * min(1, len(self.header)) + "r" * max(0, len(self.header) - 1)
        out = [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{latex_escape(self.caption)}}}",
        ]
        if self.label:
            out.append(rf"\label{{{self.label}}}")
        out += [
            rf"\begin{{tabular}}{{{cols}}}",
            r"\toprule",
            " & ".join(latex_escape(h) for h in self.header) + r" \\",
            r"\midrule",
        ]
        out += [" & ".join(latex_escape(c) for c in r) + r" \\" for r in self.rows]
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
        return "\n".join(out)
