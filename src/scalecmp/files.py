"""Files out: output paths checked before any work, outputs written as one transaction,
atomic single-file writes, file locks, strict JSON.

Everything scalecmp writes goes through here: :func:`check_output_path` /
:func:`check_outputs` / :func:`check_output_dir` refuse, before any work, an output that
would destroy user data (an input or a path inside an input folder, an existing file
without ``force``, anything but a regular file, this process's standard output, a name too
long for the folder, an unwritable folder).

:class:`OutputSet` (:func:`output_transaction`) writes every output of one command as one
transaction: each is staged as a temporary file beside its path (written, fsynced, given
its mode), then all are committed together, or none is. Without ``force`` a file is
committed with a hard link that fails if the path exists, so a file that appeared there
while the command ran is never replaced; with ``force`` the replaced files are kept (hard
links) until every output is in place. An error or a terminating signal (SIGINT, SIGTERM,
SIGHUP: held back over the commit, :func:`signals_deferred`) between the renames rolls the
set back: the previous files are whole and no new file is left, nor a folder the set
created (a signal after the last rename and the folders' fsync, while the temporary files
are removed, finds the set committed). Only an uncatchable kill during the commit's few
renames can leave a mixed set (the replaced files then lie beside their paths as
``.NAME.*.old``).

:func:`atomic_write` and its variants write one file the same way (replacing it).
Temporary files are named ``.NAME.<host>-<pid>.<random>.tmp[.SUFFIX]``: a run that died
leaves them, and the next write of that output removes those of a dead writer on this host
(or older than a day): :func:`remove_stale_temps`. :func:`file_lock` is an exclusive
``fcntl`` lock; :func:`holder_lock` one that names its holder (pid, host, start time) to
whoever it refuses; :func:`write_json` writes strict JSON (NaN as null). Reading
measurements is :mod:`scalecmp.io`. Needs numpy and the standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from scalecmp.errors import OutputError, UsageError

__all__ = [
    "OutputSet",
    "broken_link",
    "json_safe",
    "check_output_dir",
    "check_output_path",
    "check_outputs",
    "atomic_write",
    "atomic_write_path",
    "file_lock",
    "holder_lock",
    "atomic_write_text",
    "output_transaction",
    "remove_stale_temps",
    "signals_deferred",
    "temp_prefix",
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
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return word
    return "not a regular file"


def _reason(exc: OSError) -> str:
    """An OS error in words: its ``strerror`` (``No space left on device``)."""
    return exc.strerror or str(exc) or type(exc).__name__


def _existing_ancestor(p: Path) -> Path:
    parent = p.parent
    while not os.path.isdir(parent) and parent != parent.parent:
        parent = parent.parent
    return parent


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
    why = None
    if not os.access(parent, os.W_OK | os.X_OK):
        why = "permission denied"
        with contextlib.suppress(OSError):
            if os.statvfs(parent).f_flag & os.ST_RDONLY:
                why = "read-only file system"
    else:  # os.access answers for the mode bits (and says yes to root): try for real
        probe = parent / f".scalecmp-probe-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:  # /proc answers ENOENT for a new name in an existing folder
            why = ("new files cannot be created there" if exc.errno == errno.ENOENT
                   else _reason(exc))
        else:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(probe)
    if why:
        raise UsageError(f"{label}{shown}: cannot write in directory {parent} ({why})")


def _check_path_type(path: Any, name: str, what: str) -> None:
    """A path is text or a path object: ``None``, a number, ... are a one-line
    :class:`UsageError` (not pathlib's TypeError)."""
    if not isinstance(path, str | os.PathLike):
        raise UsageError(f"{name} must be the path of {what} (text or a Path), got "
                         f"{type(path).__name__}")


def check_output_dir(path: str | Path, *, name: str = "out_dir",
                     create: bool = True) -> Path:
    """An output folder: when it exists it must be a directory (a file of that name is
    never written into or replaced); with ``create``, the folder (or, when it does not
    exist yet, its nearest existing ancestor) must be one this process can write, tried
    by creating a file there. Raises :class:`UsageError` in one line naming ``name``;
    returns the path."""
    _check_path_type(path, name, "a folder")
    p = Path(path)
    if p.exists() and not p.is_dir():
        kind = "a file" if p.is_file() else _kind(p.stat().st_mode)
        raise UsageError(f"{name} must be a directory, got {kind}: {p}")
    if create:  # a path inside the folder: the folder itself is tried when it exists
        _writable_dir(p / "_" if p.is_dir() else p, f"{name} ", p)
    return p


# --------------------------------------------------------------------- temporary names
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)\.[a-z0-9_]{8}"
                      r"\.tmp(?:\.[^.]+)?$")
#: the longest pid (Linux's pid_max is at most 2**22) and the rest of a temporary name
_TEMP_OVERHEAD = len(".") + len(".abcdef-") + 7 + len(".abcdefgh.tmp")
#: a temporary file of another host (or of no known writer) is stale after this long
STALE_AFTER_S = 24 * 3600.0


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temp_prefix(name: str, pid: int | None = None) -> str:
    """The start of the temporary files of the output named ``name`` written by process
    ``pid`` (this one by default) on this host: ``.NAME.<host>-<pid>.``."""
    return f".{name}.{_host_tag()}-{os.getpid() if pid is None else pid}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's, alive
        return True
    return True


def remove_stale_temps(path: str | Path) -> int:
    """Remove the temporary files a dead writer left beside the output ``path``: only
    regular files named as scalecmp names them (``.NAME.<host>-<pid>.<random>.tmp[.SUFFIX]``),
    of this host whose writer is no longer running, or older than a day. Returns how many
    were removed (best effort: an unreadable folder removes none)."""
    p = Path(path)
    host, now, n = _host_tag(), time.time(), 0
    start = f".{p.name}."
    try:
        entries = list(os.scandir(p.parent))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(start):
            continue
        m = _TEMP_RE.match(entry.name)
        if m is None or m.group("name") != p.name:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        dead = m.group("host") == host and not _alive(int(m.group("pid")))
        if dead or now - st.st_mtime > STALE_AFTER_S:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                n += 1
    return n


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _check_name_length(target: Path, label: str, shown: str | Path) -> None:
    """Every folder of the path must fit the filesystem's name limit, and the output's own
    name with room for its temporary file's (:data:`_TEMP_OVERHEAD` bytes more)."""
    limit = _name_max(_existing_ancestor(target))
    checks = [(part, limit, "") for part in target.parent.parts[1:]]
    checks.append((target.name, limit - _TEMP_OVERHEAD - len(os.fsencode(target.suffix)),
                   ", with room for its temporary file's"))
    for part, room, why in checks:
        n = len(os.fsencode(part))
        if n > room:
            raise UsageError(f"{label}file name too long: {shown} ({n} bytes in '"
                             f"{part[:24]}...'; at most {room} here{why})")


_STDIO = ((0, "input"), (1, "output"), (2, "error"))


def _check_not_stdio(p: Path, label: str) -> None:
    """``/dev/stdout``, ``/proc/self/fd/1``, or the file standard output is redirected to:
    never an output (a pipe cannot be replaced, and replacing a redirected file would lose
    what the command prints)."""
    try:
        st = os.stat(p)
    except OSError:
        return
    for fd, which in _STDIO:
        try:
            if os.path.samestat(st, os.fstat(fd)):
                raise UsageError(f"{label}{p} is this command's standard {which}; outputs "
                                 "are written to regular files only")
        except OSError:
            continue


def check_output_path(
    path: str | Path, *, force: bool = False, inputs: Sequence[str | Path] = (),
    name: str | None = None,
) -> Path:
    """Check before any work that ``path`` can be written without destroying user data:
    never an input nor a path inside an input folder (a grid folder: its table, its shards,
    anything under it), never an existing file without ``force``, only ever a regular file
    (not a directory, FIFO, device or socket, nor a symbolic link to one, nor this
    process's standard input, output or error), a name that fits the folder (with its
    temporary file's), in a directory this process can write. Creates nothing. Returns the
    path to write: ``path`` with symbolic links resolved (a link to a regular file is
    kept; its target is replaced). ``name`` (the parameter naming the output) prefixes the
    messages."""
    label = f"{name}: " if name else ""
    _check_path_type(path, name or "path", "a file")
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise UsageError(f"{label}'{path}' is not a file name")
    if str(path) == "-":  # not standard output: the tables go there, outputs are files
        raise UsageError(f"{label}'-' is not a file name here: outputs are files (the "
                         "tables go to standard output; name a file, e.g. out.json)")
    _check_name_length(Path(os.path.abspath(p)), label, p)
    why = broken_link(p) if not p.exists() else None
    if why:
        raise UsageError(f"{label}{p} is {why}")
    _check_not_stdio(p, label)
    target = Path(os.path.realpath(p))
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        raise UsageError(f"{label}cannot use {p}: {exc.strerror or exc}") from None
    for inp in inputs:
        folder = Path(os.path.realpath(inp))
        if folder.is_dir() and (folder == target or folder in target.parents):
            raise UsageError(f"{label}refusing to write output {p} inside the input folder "
                             f"{inp}")
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
    _check_name_length(target, label, p)
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


# --------------------------------------------------------------------------- signals
TERMINATING = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                    if hasattr(signal, n))


@contextlib.contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Hold back SIGINT, SIGTERM and SIGHUP for the block (in the main thread; elsewhere
    the block runs as it is): a signal that arrives is recorded in the yielded list and
    delivered to its own handler when the block ends. Lets a few file operations (a
    commit, a rollback, removing temporary files) finish whole; a signal the process
    ignores stays ignored."""
    got: list[int] = []
    saved: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def record(signum: int, frame: Any) -> None:  # noqa: ARG001
        got.append(signum)

    try:
        for s in TERMINATING:
            old = signal.getsignal(s)
            if old is None or old == signal.SIG_IGN:
                continue
            saved[s] = signal.signal(s, record)
        yield got
    finally:
        for s, old in saved.items():
            signal.signal(s, old)
        for s in dict.fromkeys(got):
            signal.raise_signal(s)


# ---------------------------------------------------------------------- transactions
@dataclass
class _Staged:
    target: Path  # where the output goes (symbolic links resolved)
    shown: str  # the path as it was named (messages)
    label: str  # "json: " (messages)
    tmp: Path
    ino: tuple[int, int] = (0, 0)  # the temporary file's (device, inode): ours, once placed
    backup: Path | None = None  # the replaced file, kept until the set is committed
    kept: bool = False  # the backup could not be put back: left beside the path


_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK,
             errno.EXDEV}


def _link_new(tmp: Path, target: Path) -> None:
    """Put ``tmp`` at ``target`` only if nothing is there (``FileExistsError`` if a file
    is): a hard link, or, where the filesystem has none, an exclusively created name that
    ``tmp`` is then renamed over."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.replace(tmp, target)


def _lstat_regular(entry: _Staged) -> os.stat_result | None:
    """What is at the output's path now: nothing (``None``) or a regular file; anything
    else is refused."""
    try:
        st = os.lstat(entry.target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{entry.label}{entry.shown} is now {_kind(st.st_mode)}; only "
                         "regular files are ever replaced")
    return st


def _keep_old(target: Path) -> Path | None:
    """A hard link (or, without hard links, a copy) of the file about to be replaced,
    beside it (``.NAME.<host>-<pid>.<random>.old``), to put back if the set is rolled
    back; ``None`` when the file has gone meanwhile."""
    backup = target.with_name(f"{temp_prefix(target.name)}{secrets.token_hex(4)}.old")
    try:
        os.link(target, backup)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        try:
            shutil.copy2(target, backup)
        except BaseException as copy_exc:
            with contextlib.suppress(OSError):
                os.unlink(backup)
            if isinstance(copy_exc, FileNotFoundError):
                return None
            raise
    return backup


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """fsync a folder, so that a rename inside it is durable (best effort)."""
    with contextlib.suppress(OSError):
        _fsync_path(path)


class OutputSet:
    """The outputs of one command, written as one transaction: :meth:`add` (and its
    variants) stages each output as a temporary file beside its path; :meth:`commit` puts
    them all in place, or none (see the module docstring); :meth:`discard` removes what was
    staged. Use it through :func:`output_transaction`.

    ``force``: replace existing regular files (else an output whose path is taken at the
    commit is refused: it appeared while the command ran). ``report_errors``: OS errors
    become one-line :class:`OutputError` naming the path (``False``: raised as they are).
    """

    def __init__(self, *, force: bool = False, report_errors: bool = True) -> None:
        self.force = force
        self.report_errors = report_errors
        self._staged: list[_Staged] = []
        self._made_dirs: list[Path] = []
        self._closed = False

    # -- staging
    def add(self, path: str | Path, write: Callable[[Path], Any], *, name: str | None = None,
            shown: str | Path | None = None, keep_suffix: bool = True) -> Path:
        """Stage one output: ``write(tmp)`` writes the temporary file (its name ends in
        ``path``'s suffix unless ``keep_suffix`` is false: matplotlib picks the format from
        it). ``name`` (the parameter naming the output) and ``shown`` (the path as the user
        named it) word the messages. Returns where the output will go (links resolved)."""
        if self._closed:
            raise RuntimeError("this OutputSet has been committed or discarded")
        shown = str(path if shown is None else shown)
        label = f"{name}: " if name else ""
        target = Path(os.path.realpath(path))
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        except OSError as exc:
            raise self._error(exc, label, shown) from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{label}{shown} is {_kind(st.st_mode)}; only regular files are "
                             "ever replaced")
        if any(s.target == target for s in self._staged):
            raise UsageError(f"{label}{shown} is named twice among the outputs")
        mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
        suffix = f".tmp{target.suffix}" if keep_suffix else ".tmp"
        try:
            self._make_dirs(target.parent)
            remove_stale_temps(target)
            with signals_deferred():  # the temporary file is known once it exists
                fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target.name), suffix=suffix,
                                           dir=target.parent)
                entry = _Staged(target, shown, label, Path(tmp))
                self._staged.append(entry)
                os.close(fd)
            write(entry.tmp)
            os.chmod(entry.tmp, mode)
            _fsync_path(entry.tmp)
            st_tmp = os.stat(entry.tmp)
            entry.ino = (st_tmp.st_dev, st_tmp.st_ino)
        except OSError as exc:
            raise self._error(exc, label, shown) from None
        return target

    def add_stream(self, path: str | Path, write: Callable[[BinaryIO], Any],
                   **kwargs: Any) -> Path:
        """:meth:`add` for writers of an open binary file."""
        def to_file(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                write(fh)

        return self.add(path, to_file, keep_suffix=False, **kwargs)

    def add_text(self, path: str | Path, text: str, **kwargs: Any) -> Path:
        """:meth:`add` for a text (UTF-8)."""
        data = text.encode("utf-8")
        return self.add_stream(path, lambda fh: fh.write(data), **kwargs)

    def add_json(self, path: str | Path, payload: Any, **kwargs: Any) -> Path:
        """:meth:`add` for strict, indented JSON (NaN and infinities as null)."""
        text = json.dumps(json_safe(payload), indent=2, allow_nan=False)
        return self.add_text(path, text + "\n", **kwargs)

    @property
    def paths(self) -> list[Path]:
        """Where the staged outputs go, in the order they were added."""
        return [s.target for s in self._staged]

    # -- commit, rollback
    def commit(self) -> list[Path]:
        """Put every staged output in place, or none: see the module docstring. Returns
        the paths written."""
        if self._closed:
            raise RuntimeError("this OutputSet has been committed or discarded")
        self._closed = True
        rolled_back = False
        with signals_deferred() as got:
            try:
                for entry in self._staged:
                    self._commit_one(entry)
                for folder in dict.fromkeys(s.target.parent for s in self._staged):
                    _fsync_dir(folder)  # the renames themselves survive a crash
                if got:  # interrupted while committing: the previous set stays
                    self._rollback()
                    rolled_back = True
            except BaseException:
                self._rollback()
                raise
            finally:
                self._remove_temps()
        if rolled_back:  # reached only when the signal's handler did not end the process
            raise OutputError("interrupted while writing the outputs; none was written")
        return self.paths

    def discard(self) -> None:
        """Remove every staged temporary file and the folders the set created (when
        empty); nothing at the outputs' paths changes."""
        with signals_deferred():
            self._closed = True
            self._remove_temps()
            self._remove_dirs()

    def _commit_one(self, entry: _Staged) -> None:
        try:
            st = _lstat_regular(entry)
            if st is None:
                try:
                    _link_new(entry.tmp, entry.target)
                except FileExistsError:
                    if not self.force:
                        raise self._appeared(entry) from None
                    _lstat_regular(entry)  # it appeared just now: replaced like any other
                else:
                    return
            elif not self.force:
                raise self._appeared(entry)
            entry.backup = _keep_old(entry.target)
            os.replace(entry.tmp, entry.target)
        except OSError as exc:
            raise self._error(exc, entry.label, entry.shown) from None

    @staticmethod
    def _appeared(entry: _Staged) -> OutputError:
        return OutputError(f"{entry.label}{entry.shown} appeared while the command ran; it "
                           "was not replaced and nothing was written (pass `force` to "
                           "replace it)")

    def _rollback(self) -> None:
        """Every path that holds one of our files (its inode is the temporary file's) gets
        back the file it replaced, or loses ours when it had none."""
        for entry in reversed(self._staged):
            try:
                st = os.lstat(entry.target)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) != entry.ino:
                continue  # not placed (its backup, if any, is a spare link)
            try:
                if entry.backup is not None:
                    os.replace(entry.backup, entry.target)
                    entry.backup = None
                else:
                    os.unlink(entry.target)
            except OSError:
                entry.kept = True  # the previous file stays beside it, as .NAME.*.old
        self._remove_dirs()

    def _remove_temps(self) -> None:
        for entry in self._staged:
            for p in (entry.tmp, None if entry.kept else entry.backup):
                if p is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(p)
            entry.backup = None

    def _make_dirs(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for d in reversed(missing):
            try:
                os.mkdir(d)
            except FileExistsError:
                continue
            self._made_dirs.append(d)

    def _remove_dirs(self) -> None:
        for d in reversed(self._made_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(d)  # only when empty
        self._made_dirs.clear()

    def _error(self, exc: OSError, label: str, shown: str) -> BaseException:
        if not self.report_errors:
            return exc
        return OutputError(f"{label}cannot write {shown}: {_reason(exc)}")


@contextlib.contextmanager
def output_transaction(*, force: bool = False,
                       report_errors: bool = True) -> Iterator[OutputSet]:
    """An :class:`OutputSet` committed when the block ends, or discarded when it raises
    (an error, an interrupt): every output of a command written together, or none::

        with output_transaction(force=force) as out:
            out.add_json(json_path, result.to_dict(), name="json")
            out.add(plot_path, lambda tmp: plot_fit(result, tmp), name="plot")
    """
    outputs = OutputSet(force=force, report_errors=report_errors)
    try:
        yield outputs
    except BaseException:
        outputs.discard()
        raise
    outputs.commit()


# ------------------------------------------------------------------ single files
def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file through ``write(fh)`` into a temporary file beside ``path``, fsync it and
    rename it over ``path``: readers see the old file or the new one, never a torn write, and
    an interrupted write leaves the old file intact (the temporary file is removed).

    Only a regular file is ever replaced (a symbolic link to one: its target); the new file
    gets the replaced file's permissions, or those of a new file under the umask (0644 under
    022). OS errors are raised as they are."""
    with output_transaction(force=True, report_errors=False) as out:
        target = out.add_stream(path, write)
    return target


def atomic_write_path(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """:func:`atomic_write` for writers that take a file name (matplotlib's ``savefig``
    picks the format from the suffix): ``write(tmp)`` writes a temporary file with the same
    suffix beside ``path``, which then replaces ``path``."""
    with output_transaction(force=True, report_errors=False) as out:
        target = out.add(path, write)
    return target


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as strict, indented JSON (NaN and infinities as null), atomically."""
    text = json.dumps(json_safe(payload), indent=2, allow_nan=False)
    return atomic_write_text(path, text + "\n")


# --------------------------------------------------------------------------- locks
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


def _read_holder(fd: int) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        raw = os.pread(fd, 4096, 0)
        holder = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        if isinstance(holder, dict):
            return holder
    return {}


def _describe_holder(holder: Mapping[str, Any]) -> str:
    if not holder:
        return "a process that has not yet recorded itself"
    return (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since "
            f"{holder.get('started', '?')}")


@contextlib.contextmanager
def holder_lock(path: str | Path, what: str) -> Iterator[dict[str, Any]]:
    """An exclusive lock on the file ``path`` (created when missing; its folder must
    exist) held by this process for the block, which records its holder in it (pid, host,
    start time). Another process asking for it meanwhile gets a one-line
    :class:`UsageError`: ``{what} is in use by pid ... on ... since ...``. The lock is the
    OS's (``flock``): a holder that dies releases it, and the next one takes it over; the
    block gets the record such a dead holder left (``{}`` when the last one ended
    cleanly)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot lock {what}: {path}: {_reason(exc)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder: dict[str, Any] = {}
            for _ in range(20):  # a holder that has just taken it writes its record next
                holder = _read_holder(fd)
                if holder:
                    break
                time.sleep(0.05)
            raise UsageError(f"{what} is in use by another process "
                             f"({_describe_holder(holder)})") from None
        except OSError as exc:  # a filesystem without locks (ENOLCK)
            raise UsageError(f"cannot lock {what}: {path}: {_reason(exc)}") from None
        previous = _read_holder(fd)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        with contextlib.suppress(OSError):
            os.fsync(fd)
        try:
            yield previous
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # ended cleanly: nothing to take over
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
