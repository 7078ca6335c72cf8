"""Options given twice: a one-line usage error instead of the parser's "the last one wins".

click (under typer) lets a single-valued option be given more than once and keeps the
last value, so ``--law saturating ... --law power`` fits ``power`` without a word. Every
option that takes one value (not a list option such as ``--by`` or ``--at``, whose
repeats are its syntax) may be given once; a flag (``--maximize``) given twice is harmless
and left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scalecmp.errors import UsageError

__all__ = ["check_repeated_options"]


def _command_and_args(cmd: Any, args: Sequence[str]) -> tuple[Any, list[str]]:
    """The click command that ``args`` invoke from ``cmd`` (sub-commands followed) and the
    arguments left for it."""
    rest = list(args)
    while hasattr(cmd, "commands") and rest and not rest[0].startswith("-"):
        sub = cmd.commands.get(rest[0])
        if sub is None:
            break  # an unknown command: the parser says so
        cmd, rest = sub, rest[1:]
    return cmd, rest


def check_repeated_options(command: Any, args: Sequence[str]) -> None:
    """Raise :class:`UsageError` when ``args`` give a single-valued option of the command
    they invoke twice (``--law a --law b``, ``--law=a --law b``), before anything runs.
    ``command``: the app's click command (``typer.main.get_command(app)``, the one that
    then parses ``args``)."""
    cmd, rest = _command_and_args(command, args)
    single: dict[str, Any] = {}
    for param in getattr(cmd, "params", ()):
        if getattr(param, "param_type_name", "") != "option" or param.multiple \
                or getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        for name in (*param.opts, *param.secondary_opts):
            single[name] = param
    seen: dict[str, str] = {}
    i = 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if token == "--":
            break
        if not token.startswith("-") or token == "-":
            continue
        name, eq, value = token.partition("=")
        param = single.get(name)
        if param is None:
            continue
        if not eq and i < len(rest):
            value = rest[i]
            i += 1  # the option's value, whatever it looks like
        main = max(param.opts, key=len)
        if main in seen:
            raise UsageError(f"{main} given twice ({seen[main]!r}, then {value!r}): give it "
                             "once")
        seen[main] = value
