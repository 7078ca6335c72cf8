"""Files out: output paths checked before any work, atomic writes, file locks, strict JSON.

Everything scalecmp writes goes through here: :func:`check_output_path` /
:func:`check_outputs` / :func:`check_output_dir` refuse, before any work, an output that
would destroy user data (an input, an existing file without ``force``, anything but a
regular file, an unwritable folder); :func:`atomic_write` and its variants write through a
temporary file, fsync and ``os.replace`` (readers never see a torn file); :func:`file_lock`
is an exclusive ``fcntl`` lock; :func:`write_json` writes strict JSON (NaN as null).
Reading measurements is :mod:`scalecmp.io`. Needs numpy and the standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from scalecmp.errors import UsageError

__all__ = [
    "broken_link",
    "json_safe",
    "check_output_dir",
    "check_output_path",
    "check_outputs",
    "atomic_write",
    "atomic_write_path",
    "file_lock",
    "atomic_write_text",
    "write_json",
]


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by ``None`` (JSON's ``null``) and
    numpy scalars and arrays turned into Python values, so that ``json.dumps(...,
    allow_nan=False)`` writes strict JSON that any parser reads."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def broken_link(path: str | Path) -> str | None:
    """Why ``path`` cannot be reached through its symbolic links, in words, or ``None``:
    ``"a symbolic link loop"`` (the link, or a folder on its way, leads back to itself:
    ``ELOOP``) or ``"a dangling symbolic link (to TARGET, which does not exist)"``."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (too many levels of symbolic links)"
        if os.path.islink(path):
            return f"a dangling symbolic link (to {os.readlink(path)}, which does not exist)"
    return None


def _kind(mode: int) -> str:
    for test, word in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return "not a regular file"


def _writable_dir(p: Path, label: str, shown: str | Path) -> None:
    """The nearest existing ancestor of ``p`` must be a directory this process can write."""
    parent = p.parent
    while not parent.exists():
        why = broken_link(parent)
        if why:
            raise UsageError(f"{label}{shown}: {parent} is {why}")
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{label}{shown}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(
            f"{label}{shown}: cannot write in directory {parent} (permission denied)"
        )


def check_output_dir(path: str | Path, *, name: str = "out_dir",
                     create: bool = True) -> Path:
    """An output folder: when it exists it must be a directory (a file of that name is
    never written into or replaced); when it does not and ``create``, its nearest existing
    ancestor must be a directory this process can write. Raises :class:`UsageError` in
    one line naming ``name``; returns the path."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        kind = "a file" if p.is_file() else _kind(p.stat().st_mode)
        raise UsageError(f"{name} must be a directory, got {kind}: {p}")
    if not p.exists() and create:
        _writable_dir(p, f"{name} ", p)
    return p


def check_output_path(
    path: str | Path, *, force: bool = False, inputs: Sequence[str | Path] = (),
    name: str | None = None,
) -> Path:
    """Check before any work that ``path`` can be written without destroying user data:
    never an input, never an existing file without ``force``, only ever a regular file
    (not a directory, FIFO, device or socket, nor a symbolic link to one), in a directory
    this process can write. Creates nothing. Returns the path to write: ``path`` with
    symbolic links resolved (a link to a regular file is kept; its target is replaced).
    ``name`` (the parameter naming the output) prefixes the messages."""
    label = f"{name}: " if name else ""
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise UsageError(f"{label}'{path}' is not a file name")
    why = broken_link(p) if not p.exists() else None
    if why:
        raise UsageError(f"{label}{p} is {why}")
    target = Path(os.path.realpath(p))
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        raise UsageError(f"{label}cannot use {p}: {exc.strerror or exc}") from None
    if st is not None:
        for inp in inputs:
            with contextlib.suppress(OSError):
                if os.path.samefile(target, inp):
                    raise UsageError(f"{label}refusing to write output over input file {p}")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(
                f"{label}{p} is {_kind(st.st_mode)}; only regular files are ever replaced"
            )
        if not force:
            raise UsageError(
                f"{label}refusing to overwrite existing file {p} (pass `force` to replace it)"
            )
    _writable_dir(target, label, p)
    return target


def check_outputs(
    outputs: Mapping[str, str | Path | None], *, force: bool = False,
    inputs: Sequence[str | Path] = (),
) -> dict[str, Path]:
    """:func:`check_output_path` for every named output (``{"json": path, "plot": path}``,
    ``None`` skipped), and no two of them the same file or one inside the other. Returns
    the paths to write, by name."""
    out: dict[str, Path] = {}
    for name, path in outputs.items():
        if path is None:
            continue
        target = check_output_path(path, force=force, inputs=inputs, name=name)
        for other, seen in out.items():
            if seen == target:
                raise UsageError(f"`{other}` and `{name}` name the same file {path}")
            if seen in target.parents or target in seen.parents:
                raise UsageError(f"`{other}` and `{name}` cannot both be written: one path "
                                 f"lies inside the other ({outputs[other]}, {path})")
        out[name] = target
    return out


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target(path: str | Path) -> tuple[Path, int]:
    """Where to write ``path`` (symbolic links resolved) and the mode the new file gets:
    the replaced file's, or a new file's under the umask (0644 under 022). Refuses to
    replace anything but a regular file."""
    p = Path(os.path.realpath(path))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is {_kind(st.st_mode)}; only regular files are ever replaced")
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    p.parent.mkdir(parents=True, exist_ok=True)
    return p, mode


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file through ``write(fh)`` into a temporary file beside ``path``, fsync it and
    rename it over ``path``: readers see the old file or the new one, never a torn write, and
    an interrupted write leaves the old file intact (the temporary file is removed).

    Only a regular file is ever replaced (a symbolic link to one: its target); the new file
    gets the replaced file's permissions, or those of a new file under the umask (0644 under
    022)."""
    def to_file(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            write(fh)

    return _replace_via_temp(path, to_file, keep_suffix=False)


def atomic_write_path(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """:func:`atomic_write` for writers that take a file name (matplotlib's ``savefig``
    picks the format from the suffix): ``write(tmp)`` writes a temporary file with the same
    suffix beside ``path``, which then replaces ``path``."""
    return _replace_via_temp(path, write, keep_suffix=True)


def _replace_via_temp(path: str | Path, write: Callable[[Path], Any], *,
                      keep_suffix: bool) -> Path:
    """``write(tmp)`` into a temporary dot file beside ``path`` (``.<stem>.*.tmp<suffix>``
    with ``keep_suffix``, else ``.<name>.*.tmp``), give it the mode, fsync it, rename it
    over ``path``; the temporary file is removed if anything fails."""
    p, mode = _target(path)
    prefix, suffix = ((f".{p.stem}.", f".tmp{p.suffix}") if keep_suffix
                      else (f".{p.name}.", ".tmp"))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=p.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, mode)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(p.parent)  # the rename itself survives a crash
    return p


def _fsync_dir(path: Path) -> None:
    """fsync a folder, so that a rename inside it is durable (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """An exclusive ``fcntl`` lock on the file ``path`` (created, with its folder, when
    missing) for the duration of the block; local filesystems."""
    lock = Path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as strict, indented JSON (NaN and infinities as null), atomically."""
    text = json.dumps(json_safe(payload), indent=2, allow_nan=False)
    return atomic_write_text(path, text + "\n")
