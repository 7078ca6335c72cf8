#!/usr/bin/env bash
# Regenerate docs/img/report.png, the README's screenshot of the HTML report: the report
# that tests/test_report_browser.py builds from a simulated measurement table (CLIP vs
# MaMMUT), checks in headless Chromium (no broken image, no console error) and captures with
#   chromium --headless --screenshot=... --window-size=1200,1600 file://.../report.html
# (saved as a 256-colour PNG when the full-colour one is over 300 KB).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-chromium.sh
out="${1:-docs/img/report.png}"
SCALECMP_REPORT_SCREENSHOT="$(realpath -m "$out")" \
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_report_browser.py \
  -k test_report_in_chromium
ls -l "$out"
