"""Numbers, intervals and group labels as text: one definition of each, for every output.

Numbers (never ``inf`` in a report: a word, ``∞`` or ``$\\infty$``; missing values a dash):

* :func:`fmt_num` (plain text: ``4.2e10``, ``0.227``), :func:`html_num`
  (``1.14×10<sup>12</sup>``), :func:`tex_num` (``$1.14\\times10^{12}$``) and :func:`math_num`
  (matplotlib mathtext, no ``$``) share :func:`mantissa_exponent`;
* :func:`fmt_ci`: an interval ``[lo, hi]`` in any of these number formats, an open end shown
  as a word (``below the range``);
* :func:`fmt_general`: Python's general format (``f"{v:.4g}"``: the ``fit`` command's tables);
* :func:`fmt_compact`: 3 significant digits with a short exponent (``1.5e10``; ``unbounded``
  when missing or not finite: the sentences of :mod:`scalecmp.compare`);
* :func:`fmt_compute`: a compute value in prose (``1,000,000``; the held-out check's words);
* :func:`clock`: a duration in seconds as ``m:ss`` or ``h:mm:ss`` (progress lines).

Labels:

* :func:`group_label`: a group key (``{"model_type": "clip", "lr": 0.001}``) as
  ``model_type=clip, lr=0.001`` (``all`` for the empty key of an ungrouped fit); with
  ``names="several"`` the value alone when the key has one column (``clip``: comparisons,
  reports, figures); with ``names="never"`` the values alone (``series_label``: ``imagenet1k
  / acc1``);
* :func:`law_weights` and :func:`mixture_text`: the law of a fitted group in words (``auto
  (w: saturating 0.60, broken_power 0.30)``);
* :func:`join_some`: the first few items of a list and how many more (``a; b; c; ...
  (+285 more groups)``: messages about many groups).

Only the standard library: every layer (analysis, CLI, figures, reports) may import it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "DASH",
    "clock",
    "fmt_ci",
    "fmt_compact",
    "fmt_compute",
    "fmt_general",
    "fmt_num",
    "group_label",
    "html_num",
    "join_some",
    "law_weights",
    "mantissa_exponent",
    "math_num",
    "mixture_text",
    "num_or_none",
    "series_label",
    "tex_num",
]

DASH = "-"


# ---------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------
def num_or_none(v: Any) -> float | None:
    """``float(v)``; ``None`` for missing or NaN (infinities are kept: each format has its
    word or sign for them)."""
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def mantissa_exponent(v: float, digits: int) -> tuple[str, int]:
    """Mantissa text and decimal exponent of ``v`` (non-zero, finite) rounded to ``digits``
    significant digits: ``("4.2", 10)`` for 4.2e10."""
    e = math.floor(math.log10(abs(v)))
    m = round(v / 10.0**e, digits - 1)
    if abs(m) >= 10:
        m /= 10.0
        e += 1
    return f"{m:.{digits}g}", e


def _sci(v: float, digits: int) -> bool:
    return v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3)


def fmt_num(v: float | None, digits: int = 3, *, inf: str = "unbounded") -> str:
    """Compact number: ``4.2e10``, ``0.227``; ``-`` for missing or NaN; ``unbounded``
    (``inf``) / ``unbounded below`` for infinities. Never truncated."""
    f = num_or_none(v)
    if f is None:
        return DASH
    if math.isinf(f):
        return inf if f > 0 else f"{inf} below"
    if _sci(f, digits):
        m, e = mantissa_exponent(f, digits)
        return f"{m}e{e}"
    return f"{f:.{digits}g}"


def html_num(v: float | None, digits: int = 3, *, inf: str = "\u221e") -> str:
    """HTML number: ``1.14×10<sup>12</sup>``, ``0.227``, ``∞``, ``-`` (already escaped)."""
    f = num_or_none(v)
    if f is None:
        return DASH
    if math.isinf(f):
        return html.escape(inf) if f > 0 else f"\u2212{html.escape(inf)}"
    if _sci(f, digits):
        m, e = mantissa_exponent(f, digits)
        return f"{m.replace('-', chr(0x2212))}\u00d710<sup>{e}</sup>"
    return f"{f:.{digits}g}".replace("-", "\u2212")


def tex_num(v: float | None, digits: int = 3, *, inf: str = r"$\infty$") -> str:
    """LaTeX number: ``$1.14\\times10^{12}$``, ``0.227``, ``$-0.044$``; ``$\\infty$``;
    ``--`` for missing."""
    f = num_or_none(v)
    if f is None:
        return "--"
    if math.isinf(f):
        return inf if f > 0 else rf"$-{inf.strip('$')}$"
    if _sci(f, digits):
        m, e = mantissa_exponent(f, digits)
        return rf"${m}\times10^{{{e}}}$"
    s = f"{f:.{digits}g}"
    return f"${s}$" if f < 0 else s


def math_num(v: float, digits: int = 3) -> str:
    """Mathtext number (no ``$``): ``0.227``, ``1.14\\times10^{12}``, ``\\infty``."""
    v = float(v)
    if math.isnan(v):
        return r"\mathrm{n/a}"
    if math.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    if v == 0:
        return "0"
    m, e = mantissa_exponent(v, digits)
    if -3 <= e < 4:
        return f"{v:.{max(digits, e + 1)}g}"
    if m in ("1", "-1"):
        return f"{'-' if m == '-1' else ''}10^{{{e}}}"
    return rf"{m}\times10^{{{e}}}"


def _end(v: float | None, digits: int, word: str, num: Callable[..., str]) -> str:
    f = None if v is None else float(v)
    if f is None or math.isinf(f):
        return word
    return num(f, digits)


def fmt_ci(lo: float | None, hi: float | None, digits: int = 3, *,
           open_lo: str = "unbounded", open_hi: str = "unbounded",
           num: Callable[..., str] = fmt_num) -> str:
    """``[lo, hi]``; an open end (``None`` or infinite) is the word ``open_lo`` /
    ``open_hi`` (e.g. ``below the range``), never ``inf``. ``num``: the number format
    (:func:`fmt_num`; :func:`html_num` or :func:`tex_num` with words already escaped)."""
    return f"[{_end(lo, digits, open_lo, num)}, {_end(hi, digits, open_hi, num)}]"


def fmt_general(v: float, digits: int = 4) -> str:
    """Python's general format: ``f"{v:.4g}"`` (``1.235e+10``, ``0.2271``, ``nan``)."""
    return f"{v:.{digits}g}"


def fmt_compact(x: float | None) -> str:
    """3 significant digits with a short exponent (``1.5e10``, ``2e-5``, ``0.227``);
    ``unbounded`` when missing or not finite."""
    if x is None or not math.isfinite(x):
        return "unbounded"
    return f"{x:.3g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def fmt_compute(v: float) -> str:
    """A compute value for prose: 3 significant digits, thousands separators, no exponent
    below 1e7."""
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 1e7 or (v != 0 and abs(v) < 1e-3):
        mant, exp = f"{v:.3g}".split("e") if "e" in f"{v:.3g}" else (f"{v:.3g}", "")
        return f"{mant}e{int(exp)}" if exp else mant
    if abs(v) >= 100:
        return f"{round(v, -int(math.floor(math.log10(abs(v)))) + 2):,.0f}"
    return f"{v:.3g}"


# ---------------------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------------------
def group_label(key: Mapping[str, Any], *,
                names: Literal["always", "several", "never"] = "always", sep: str = ", ",
                empty: str = "all") -> str:
    """A group key in words: ``model_type=clip, lr=0.001``; ``empty`` (``all``) for the
    empty key of an ungrouped fit.

    ``names``: ``"always"`` shows ``column=value``; ``"several"`` the value alone when the
    key has one column (``clip``), else ``column=value``; ``"never"`` the values alone
    (``empty`` too when they join to nothing). ``sep`` joins the columns."""
    if not key:
        return empty
    if names == "never":
        return sep.join(str(v) for v in key.values()) or empty
    if names == "several" and len(key) == 1:
        return str(next(iter(key.values())))
    return sep.join(f"{k}={v}" for k, v in key.items())


def join_some(items: Sequence[str], noun: str, *, most: int = 3, sep: str = "; ") -> str:
    """The first ``most`` of ``items`` joined by ``sep``, and how many more there are:
    ``a; b; c; ... (+285 more groups)`` (a message stays short however many there are)."""
    items = list(items)
    shown = sep.join(items[:most])
    rest = len(items) - most
    return f"{shown}{sep}... (+{rest} more {noun})" if rest > 0 else shown


def series_label(key: Mapping[str, Any], *, empty: str = "all") -> str:
    """A series key (``{"task": "zeroshot", "metric": "acc1"}``) as ``zeroshot / acc1``."""
    return group_label(key, names="never", sep=" / ", empty=empty)


def law_weights(g: Any, min_weight: float = 0.005) -> list[tuple[str, float]]:
    """``[(law, weight), ...]`` of a fitted group, heaviest first; a pinned law is
    ``[(name, 1.0)]``."""
    if getattr(g, "mode", None) != "auto":
        return [(g.law.name, 1.0)]
    cands = getattr(getattr(g, "fit", None), "candidates", None)
    if cands:
        pairs = [(str(c["name"]), float(c["weight"])) for c in cands]
    else:
        pairs = [(m.law.name, float(w)) for m, w in zip(g.members, g.weights, strict=True)]
    pairs = [(n, w) for n, w in pairs if w >= min_weight]
    return sorted(pairs, key=lambda t: -t[1])


def mixture_text(g: Any) -> str:
    """``auto (w: saturating 0.60, broken_power 0.30)`` or the pinned law's name."""
    if getattr(g, "mode", None) != "auto":
        return f"{g.law.name} law"
    return "auto (w: " + ", ".join(f"{n} {w:.2f}" for n, w in law_weights(g)) + ")"


def clock(seconds: float) -> str:
    """A duration in seconds as ``m:ss`` or ``h:mm:ss`` (``?`` when not finite)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
