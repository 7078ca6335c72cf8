"""The ``scalecmp`` command line: one typer app, sub-commands registered from ``cli_*`` modules.

Every error the user can cause ends in one line on stderr (``scalecmp: error: ...``) and
exit code 2; warnings print as ``scalecmp: warning: ...``; Ctrl-C at any moment ends in
``scalecmp: interrupted`` and exit code 130. Set ``SCALECMP_DEBUG=1`` to see tracebacks of
unexpected errors.

The library's messages name its own parameters (``level``, ``predict_at``); they reach the
user in the command line's flags, translated in one place: :mod:`scalecmp.cli.flags`.

Only the standard library is imported at module level, so that an interrupt while numpy,
pandas and typer load is handled like any other.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import warnings
from typing import Any

from scalecmp.cli.flags import PARAM_FLAGS, to_flags  # noqa: F401 - PARAM_FLAGS: re-exported


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) while a command runs: not a KeyboardInterrupt, so that no library
    prints its own message on the way out."""


def _on_sigint(signum: int, frame: Any) -> None:  # noqa: ARG001
    raise Interrupted


_app: Any = None
_COMMAND_MODULES = ("scalecmp.cli.fit", "scalecmp.cli.compare", "scalecmp.cli.acquire",
                    "scalecmp.cli.grid")
_registered = False


def _new_app() -> Any:
    import typer

    return typer.Typer(
        name="scalecmp",
        help="Compare training procedures and datasets by scaling laws fitted to dense "
        "measurements.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def __getattr__(name: str) -> Any:  # the app is built on first use (typer loads slowly)
    if name == "app":
        global _app
        if _app is None:
            _app = _new_app()
        return _app
    raise AttributeError(name)


def _get_app() -> Any:
    app = globals().get("app")  # set by tests (monkeypatch) or by __getattr__ below
    return app if app is not None else __getattr__("app")


def _register(app: Any = None) -> None:
    global _registered
    if _registered:
        return
    app = _get_app() if app is None else app
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)
    _registered = True


def _parser_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """The command-line parser's exception classes: click's and, in recent typer, the copy
    of click that typer vendors (``typer._click``)."""
    import typer

    modules = []
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return (
        tuple(m.NoArgsIsHelpError for m in modules if hasattr(m, "NoArgsIsHelpError")),
        tuple(m.ClickException for m in modules),
        tuple(getattr(m, n) for m in modules for n in ("Exit", "Abort") if hasattr(m, n))
        + (typer.Exit, typer.Abort),
    )


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"scalecmp: warning: {to_flags(str(message))}", file=sys.stderr)


def _error(text: str, code: int) -> None:
    print(f"scalecmp: error: {text}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scalecmp`` console script."""
    handler = None
    if threading.current_thread() is threading.main_thread():
        handler = signal.signal(signal.SIGINT, _on_sigint)
    try:
        rv = _main(argv)
    except (Interrupted, KeyboardInterrupt):
        print("scalecmp: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
    sys.exit(rv)


def _main(argv: list[str] | None) -> int:
    debug = os.environ.get("SCALECMP_DEBUG") == "1"
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        if not debug:  # numpy's overflow/invalid-value notes say nothing a user can act on
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
        warnings.showwarning = _show_warning
        from scalecmp.errors import ScalecmpError

        app = _get_app()
        _register(app)
        no_args, parser_errors, exits = _parser_exceptions()
        try:
            rv = app(args=argv, prog_name="scalecmp", standalone_mode=False)
        except no_args as exc:
            print(exc.ctx.get_help() if exc.ctx else "usage: scalecmp COMMAND ...",
                  file=sys.stderr)
            return 2
        except parser_errors as exc:
            hint = f" (see '{exc.ctx.command_path} -h')" if getattr(exc, "ctx", None) else ""
            msg = " ".join(exc.format_message().split())
            _error(f"{msg}{hint}", getattr(exc, "exit_code", 2) or 2)
        except exits as exc:
            code = getattr(exc, "exit_code", None)
            if code is None:  # Abort: click's answer to Ctrl-C (or end of input) in a prompt
                raise Interrupted from None
            return code
        except ScalecmpError as exc:
            if debug:
                raise
            _error(to_flags(str(exc)), 2)
        except MemoryError:
            if debug:
                raise
            _error("out of memory: use fewer rows or a smaller --n-bootstrap", 2)
        except Exception as exc:  # an unexpected failure still gets one line, not a traceback
            if debug:
                raise
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            print(
                f"scalecmp: internal error: {type(exc).__name__}: {msg} "
                "(set SCALECMP_DEBUG=1 for the traceback)",
                file=sys.stderr,
            )
            return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    main()
