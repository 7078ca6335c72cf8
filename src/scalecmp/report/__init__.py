"""Reports: one self-contained HTML file plus the same tables as Markdown and LaTeX.

:mod:`scalecmp.report.build` makes the sections (held-out check, cosine check, one section
per series: fit, compare) and writes the files; :mod:`scalecmp.report.tables` renders a
table in HTML, Markdown, plain text and LaTeX. The figures come from :mod:`scalecmp.plots`.
"""

from __future__ import annotations

from scalecmp.report.build import (
    COSINE_TITLE,
    HOLDOUT_FACTOR,
    HOLDOUT_TITLE,
    OPTIMAL_TITLE,
    REPORT_NEEDS_INTERVALS,
    SEED_TITLE,
    Precomputed,
    ReportOptions,
    Section,
    build_sections,
    check_report_options,
    cosine_section,
    holdout_section,
    optimal_section,
    seed_section,
    write_report,
)

__all__ = [
    "COSINE_TITLE",
    "HOLDOUT_FACTOR",
    "HOLDOUT_TITLE",
    "OPTIMAL_TITLE",
    "Precomputed",
    "REPORT_NEEDS_INTERVALS",
    "ReportOptions",
    "SEED_TITLE",
    "Section",
    "build_sections",
    "check_report_options",
    "cosine_section",
    "holdout_section",
    "optimal_section",
    "seed_section",
    "write_report",
]
