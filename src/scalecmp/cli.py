"""The ``scalecmp`` command line: one typer app, sub-commands registered from ``cli_*`` modules.

Every error the user can cause ends in one line on stderr (``scalecmp: error: ...``) and
exit code 2; warnings print as ``scalecmp: warning: ...``. Set ``SCALECMP_DEBUG=1`` to see
tracebacks of unexpected errors.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import typer

from scalecmp.errors import ScalecmpError

app = typer.Typer(
    name="scalecmp",
    help="Compare training procedures and datasets by scaling laws fitted to dense measurements.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_COMMAND_MODULES = ("scalecmp.cli_fit", "scalecmp.cli_compare", "scalecmp.cli_grid")
_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)
    _registered = True


def _parser_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """The command-line parser's exception classes: click's and, in recent typer, the copy
    of click that typer vendors (``typer._click``)."""
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
    print(f"scalecmp: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scalecmp`` console script."""
    _register()
    debug = os.environ.get("SCALECMP_DEBUG") == "1"
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    no_args, parser_errors, exits = _parser_exceptions()
    try:
        rv = app(args=argv, prog_name="scalecmp", standalone_mode=False)
    except no_args as exc:
        print(exc.ctx.get_help() if exc.ctx else "usage: scalecmp COMMAND ...", file=sys.stderr)
        sys.exit(2)
    except parser_errors as exc:
        hint = f" (see '{exc.ctx.command_path} -h')" if getattr(exc, "ctx", None) else ""
        print(f"scalecmp: error: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    except exits as exc:
        sys.exit(getattr(exc, "exit_code", 130))
    except KeyboardInterrupt:
        print("scalecmp: interrupted", file=sys.stderr)
        sys.exit(130)
    except ScalecmpError as exc:
        if debug:
            raise
        print(f"scalecmp: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # an unexpected failure still gets one line, not a traceback
        if debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"scalecmp: internal error: {type(exc).__name__}: {msg} "
            "(set SCALECMP_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
    finally:
        warnings.showwarning = previous
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
