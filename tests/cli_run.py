"""The CLI in-process for the tests, and the one-error-line check of its contract."""

from __future__ import annotations

import contextlib
import io

from scalecmp.cli import main


def run(*args):
    """The CLI in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def one_error(err: str, *needles: str) -> str:
    """The single error line of ``err`` (warning lines allowed besides), holding every
    needle."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if not ln.startswith("scalecmp: warning: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("scalecmp: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]
