"""The library's layers: the analysis never imports the figures or the reports."""

from __future__ import annotations

import subprocess
import sys

ANALYSIS = ("scalecmp.engine", "scalecmp.compare", "scalecmp.optimal", "scalecmp.holdout",
            "scalecmp.format", "scalecmp.intervals")


def test_analysis_modules_import_no_figure_or_report_code():
    code = (
        "import sys\n"
        f"for m in {ANALYSIS!r}:\n"
        "    __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in (['scalecmp', 'plots'],"
        " ['scalecmp', 'report']) or m == 'matplotlib')\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
