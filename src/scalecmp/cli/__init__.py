"""The ``scalecmp`` command line: one typer app, sub-commands registered from ``cli_*`` modules.

Every error the user can cause ends in one line on stderr (``scalecmp: error: ...``) and
exit code 2; warnings print as ``scalecmp: warning: ...``; every such line passes through
:func:`scalecmp.cli.flags.one_line` (flags, one line, long values and lines capped);
Ctrl-C (SIGINT) at any moment ends in ``scalecmp: interrupted`` and exit code 130, SIGTERM
and SIGHUP alike in ``scalecmp: interrupted (SIGTERM)`` and 128 + the signal's number (143,
129), the outputs as they were (a signal the process was started ignoring, as under
``nohup``, stays ignored). A reader that goes away (``scalecmp fit ... | head -1``) loses
the rest of the printed tables quietly while the command finishes and writes its files
(exit 0); any other failure to print (``> /dev/full``) is one error line and exit 2. Set
``SCALECMP_DEBUG=1`` to see tracebacks of unexpected errors.

The library's messages name its own parameters (``level``, ``predict_at``); they reach the
user in the command line's flags, translated in one place: :mod:`scalecmp.cli.flags`.

Only the standard library is imported at module level, so that an interrupt while numpy,
pandas and typer load is handled like any other.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import warnings
from typing import Any

from scalecmp.cli.flags import (  # noqa: F401 - PARAM_FLAGS, to_flags: re-exported
    PARAM_FLAGS,
    one_line,
    to_flags,
)


class Interrupted(BaseException):
    """A terminating signal (SIGINT, SIGTERM, SIGHUP) while a command runs: not a
    KeyboardInterrupt, so that no library prints its own message on the way out."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, frame: Any) -> None:
    """Raise :class:`Interrupted`, except inside the import system: an exception raised
    there (while a module's classes are created, or between taking and releasing an import
    lock) is wrapped in a RuntimeError or leaves the lock held, and the command ends in a
    traceback or hangs. There the signal is delivered again a moment later, outside it."""
    f = frame
    while f is not None:
        if f.f_code.co_filename.startswith("<frozen importlib"):
            threading.Thread(target=_redeliver, args=(signum,), daemon=True).start()
            return
        f = f.f_back
    raise Interrupted(signum)


#: whether main() runs, and whether it has caught its interrupt
_state = {"running": False, "caught": False}
#: the ``sys.unraisablehook`` that main() found (and restores)
_previous_hook: list[Any] = [sys.unraisablehook]


def _unraisable(info: Any) -> None:
    """``sys.unraisablehook`` while a command runs. A signal's handler runs wherever the
    main thread is, and where Python ignores exceptions (a weakref callback, such as the
    import system's lock cleanup, or a ``__del__``) the :class:`Interrupted` it raises
    would be lost and the command would run on: the signal is delivered again a moment
    later, outside that place. Other exceptions go to the previous hook."""
    exc = info.exc_value
    if not isinstance(exc, Interrupted | KeyboardInterrupt):
        _previous_hook[0](info)
        return
    signum = getattr(exc, "signum", signal.SIGINT)
    threading.Thread(target=_redeliver, args=(signum,), daemon=True).start()


def _redeliver(signum: int) -> None:
    import _thread
    import time

    time.sleep(0.05)
    if _state["running"] and not _state["caught"]:
        _thread.interrupt_main(signum)


#: the signals that end a command in ``scalecmp: interrupted`` and 128 + their number
SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, n))


def _interrupted_line(signum: int) -> str:
    if signum == signal.SIGINT:
        return "scalecmp: interrupted"
    return f"scalecmp: interrupted ({signal.Signals(signum).name})"


class _Stream:
    """``sys.stdout`` / ``sys.stderr`` while a command runs. When the reader has gone (a
    closed pipe) the rest of the output is dropped quietly and the command carries on (its
    files are what matters; ``head`` asked for no more); any other failure to write (a
    full disk) switches the stream off too and, for stdout, raises a one-line error. The
    descriptor then points at /dev/null, so that nothing fails again at exit."""

    def __init__(self, stream: Any, name: str) -> None:
        self._stream = stream
        self._name = name
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._failed(exc)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        import errno

        self._gone = True
        try:
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass
        if exc.errno == errno.EPIPE or self._name != "standard output":
            return  # a closed pipe; or stderr, which cannot tell of its own failure
        from scalecmp.errors import OutputError

        raise OutputError(f"cannot write to {self._name}: {exc.strerror or exc}") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


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
    print(f"scalecmp: warning: {one_line(message)}", file=sys.stderr)


def _error(text: str, code: int) -> None:
    print(f"scalecmp: error: {one_line(text)}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scalecmp`` console script."""
    handlers: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            current = signal.getsignal(s)
            if current == signal.SIG_IGN or current is None:  # nohup, a background job
                continue
            handlers[s] = signal.signal(s, _on_signal)
    streams = (sys.stdout, sys.stderr)
    sys.stdout = _Stream(sys.stdout, "standard output")
    sys.stderr = _Stream(sys.stderr, "standard error")
    _previous_hook[0], sys.unraisablehook = sys.unraisablehook, _unraisable
    _state.update(running=True, caught=False)
    code, said = 0, False
    try:
        try:
            rv = _main(argv)
            code = rv if isinstance(rv, int) else 0
        except (Interrupted, KeyboardInterrupt) as exc:
            _state["caught"] = True
            code = 128 + getattr(exc, "signum", signal.SIGINT)
            print(_interrupted_line(code - 128), file=sys.stderr)
            said = True
        except SystemExit as exc:
            code = exc.code
        try:
            sys.stdout.flush()  # what is still buffered: a full disk is one more error
        except Exception as exc:  # noqa: BLE001 - OutputError, in one line
            print(f"scalecmp: error: {exc}", file=sys.stderr)
            code = code or 2
        sys.stderr.flush()
    except (Interrupted, KeyboardInterrupt) as exc:  # a second signal while reporting
        _state["caught"] = True
        if not said:
            code = 128 + getattr(exc, "signum", signal.SIGINT)
            with contextlib.suppress(BaseException):
                print(_interrupted_line(code - 128), file=sys.stderr)
    finally:
        _state["running"] = False
        sys.unraisablehook = _previous_hook[0]
        sys.stdout, sys.stderr = streams
        for s, handler in handlers.items():
            signal.signal(s, handler)
    sys.exit(code)


def _main(argv: list[str] | None) -> int:
    debug = os.environ.get("SCALECMP_DEBUG") == "1"
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        if not debug:  # numpy's overflow/invalid-value notes say nothing a user can act on
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            # a file left open by a library, noticed when an interrupt unwinds an import
            # (the .pyc being read): nothing a user can act on, and not their second line
            warnings.simplefilter("ignore", ResourceWarning)
        warnings.showwarning = _show_warning
        from scalecmp.errors import ScalecmpError

        app = _get_app()
        _register(app)
        no_args, parser_errors, exits = _parser_exceptions()
        try:
            import typer.main

            from scalecmp.cli.repeats import check_repeated_options

            # the click command, built once: checked for repeated options, then run (what
            # ``app(...)`` does, less its developer traceback hook, which is off here)
            command = typer.main.get_command(app)
            check_repeated_options(command, sys.argv[1:] if argv is None else argv)
            rv = command(args=argv, prog_name="scalecmp", standalone_mode=False)
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
            _error(str(exc), 2)
        except MemoryError:
            if debug:
                raise
            _error("out of memory: use fewer rows or a smaller --n-bootstrap", 2)
        except Exception as exc:  # an unexpected failure still gets one line, not a traceback
            if debug:
                raise
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            print(
                f"scalecmp: internal error: {one_line(f'{type(exc).__name__}: {msg}')} "
                "(set SCALECMP_DEBUG=1 for the traceback)",
                file=sys.stderr,
            )
            return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    main()
