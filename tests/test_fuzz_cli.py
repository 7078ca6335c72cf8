"""Fuzzing the command line: malformed tables and option combinations for every analysis
command (``fit``, ``compare``, ``optimal``, ``report``), against the contract:

* exit code 0 or 2; on 2 exactly one line ``scalecmp: error: ...`` on stderr (besides
  ``scalecmp: warning: ...`` lines), on 0 none; never a traceback;
* the input file byte-identical; files the user had (a JSON, a PNG, a directory, a FIFO,
  a symbolic link) untouched unless named as an output with ``--force`` and the command
  succeeded, and then still of their kind (only regular files are replaced);
* no file in the working directory but the input, those files and the named outputs (no
  temporary file, no folder created by a failed run).

The CLI runs in-process (``scalecmp.cli.main``) in a fresh directory per example.

By default the suite runs a fixed set of examples (derandomized: the same in every CI run,
well under 2 minutes). ``SCALECMP_FUZZ_EXAMPLES=10000`` runs that many random examples,
split among the commands as ``SHARE`` says::

    SCALECMP_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest -q tests/test_fuzz_cli.py

``SCALECMP_FUZZ_LOG=FILE`` appends one line per example to FILE (command, exit code,
seconds) and, for a long run, keeps going past a broken contract: each one is written to
FILE (``FAIL ...`` with the command line and stderr) and the test fails at its end, listing
them, instead of stopping at the first (and shrinking it, which takes long when examples
take seconds). A run cut short (``timeout``) still leaves its count in FILE.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import stat
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalecmp.cli import main

TOTAL = int(os.environ.get("SCALECMP_FUZZ_EXAMPLES", "0") or 0)
DEFAULT_TOTAL = 160
SHARE = {"fit": 0.36, "compare": 0.26, "optimal": 0.30, "report": 0.08}
# One example may use TIME_LIMIT_S of CPU time (a loop that never ends fails it) and
# HANG_LIMIT_S of wall-clock time (a hang on a FIFO opened for writing uses no CPU): the
# CPU limit does not depend on how busy the machine is (a shared machine, four engineers'
# test runs, made a 42-CPU-second comparison of 36 pairs with a figure take 5.5 minutes).
TIME_LIMIT_S = 240
HANG_LIMIT_S = 1200
LOG = os.environ.get("SCALECMP_FUZZ_LOG") or None
FAILURES: dict[str, list[str]] = {}  # command -> broken contracts (with LOG: collected)


def _log(line: str) -> None:
    with open(LOG, "a", encoding="utf-8") as fh:  # type: ignore[arg-type]
        fh.write(line.rstrip("\n") + "\n")


def _settings(command: str):  # noqa: ANN202
    total = TOTAL or DEFAULT_TOTAL
    return settings(
        max_examples=max(1, round(total * SHARE[command])),
        deadline=None,
        derandomize=not TOTAL,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


# --------------------------------------------------------------------------- the table
COLUMNS = ["model_type", "model", "samples_seen", "gflops_per_sample", "gflops_total", "value"]
BAD_CELLS = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e308, "abc", "", "1e5", True, 1.0, 2.0]
WEIRD_NAMES = ["a,b", " value", "ü", "1", "gflops total", "x;y", "value"]


def _base(seed: int, n_groups: int, n_per: int, loss_like: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        m = 1.0 + g
        slope = rng.uniform(0.1, 0.4)
        for i in range(n_per):
            gps = (4.0, 12.0, 40.0)[i % 3]
            samples = float(10 ** rng.uniform(5.5, 9.5))
            c = gps * samples
            err = 15 * (c / m + 1e7) ** -slope + rng.uniform(0.02, 0.15)
            err = float(np.clip(err * np.exp(rng.normal(0, 0.02)), 1e-3, 0.999))
            rows.append({"model_type": ["clip", "mammut", "coca"][g], "model": f"s{int(gps)}",
                         "samples_seen": samples, "gflops_per_sample": gps,
                         "gflops_total": c, "value": err if loss_like else 1 - err})
    return pd.DataFrame(rows, columns=COLUMNS)


@st.composite
def tables(draw, clean: bool):  # noqa: ANN001, ANN201
    """A measurement table (and whether its metric is a loss): two or three procedures, up
    to 14 runs each, then up to three mutations (bad cells, duplicated, dropped, renamed or
    extra columns, a few rows only, a constant column); a clean table only shuffled or with
    duplicated rows."""
    loss_like = draw(st.booleans())
    frame = _base(draw(st.integers(0, 2**16)), draw(st.integers(2 if clean else 1, 3)),
                  draw(st.integers(6 if clean else 0, 14)), loss_like)
    frame = frame.astype(object) if len(frame) and not clean else frame
    ops = ["duplicate", "shuffle"] if clean else [
        "cells", "duplicate", "drop", "rename", "extra", "head", "constant", "shuffle"]
    for _ in range(draw(st.integers(0, 2 if clean else 3))):
        op = draw(st.sampled_from(ops))
        # columns by position: a renamed column may share its name with another
        if op == "cells" and len(frame):
            j = draw(st.integers(0, len(frame.columns) - 1))
            value = draw(st.sampled_from(BAD_CELLS))
            idx = draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=5))
            column = frame.iloc[:, j].astype(object).copy()
            column.iloc[idx] = value
            frame = _set_column(frame, j, column)
        elif op == "duplicate" and len(frame):
            k = draw(st.integers(1, 5))
            frame = pd.concat([frame, frame.head(k)], ignore_index=True)
        elif op == "drop" and len(frame.columns) > 1:
            frame = frame.drop(columns=[draw(st.sampled_from(list(frame.columns)))])
        elif op == "rename":
            col = draw(st.sampled_from(list(frame.columns)))
            frame = frame.rename(columns={col: draw(st.sampled_from(WEIRD_NAMES))})
        elif op == "extra":
            frame = frame.assign(**{draw(st.sampled_from(WEIRD_NAMES)): "z"})
        elif op == "head":
            frame = frame.head(draw(st.integers(0, 3)))
        elif op == "constant" and len(frame):
            j = draw(st.integers(0, len(frame.columns) - 1))
            column = frame.iloc[:, j].copy()
            column.iloc[:] = column.iloc[0]
            frame = _set_column(frame, j, column)
        elif op == "shuffle":
            frame = frame.sample(frac=1.0, random_state=draw(st.integers(0, 99)))
    return frame, loss_like


def _set_column(frame: pd.DataFrame, j: int, column: pd.Series) -> pd.DataFrame:
    """``frame`` with its ``j``-th column replaced (names may repeat)."""
    parts = [frame.iloc[:, k] if k != j else column for k in range(len(frame.columns))]
    out = pd.concat(parts, axis=1)
    out.columns = frame.columns
    return out


FORMATS = [".csv", ".csv", ".csv", ".tsv", ".parquet", ".jsonl", ".json"]
CORRUPTIONS = ["none"] * 6 + ["separator", "parquet_as_text", "text_as_parquet", "bytes",
                              "empty", "truncate", "bom", "latin1", "header_only"]


def _write_table(frame: pd.DataFrame, path: Path, corruption: str, blob: bytes) -> None:
    suffix = path.suffix
    if corruption == "separator" and suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep=";" if suffix == ".csv" else ",")
        return
    if corruption == "parquet_as_text" and suffix != ".parquet":
        _parquet(frame, path)
        return
    if corruption == "text_as_parquet" and suffix == ".parquet":
        frame.to_csv(path, index=False)
        return
    if corruption == "bytes":
        path.write_bytes(blob)
        return
    if corruption == "empty":
        path.write_bytes(b"")
        return
    if suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="," if suffix == ".csv" else "\t")
    elif suffix == ".parquet":
        _parquet(frame, path)
    elif suffix == ".json":  # an array of records
        _unique_names(frame).to_json(path, orient="records")
    else:
        _unique_names(frame).to_json(path, orient="records", lines=True)
    raw = path.read_bytes()
    if corruption == "truncate" and raw:
        path.write_bytes(raw[: len(raw) * 2 // 3])
    elif corruption == "bom" and suffix != ".parquet":
        path.write_bytes(b"\xef\xbb\xbf" + raw)
    elif corruption == "latin1" and suffix in (".csv", ".tsv"):
        path.write_bytes(raw.replace(b"clip", "cl\xefp".encode("latin-1")))
    elif corruption == "header_only" and suffix in (".csv", ".tsv"):
        path.write_bytes(raw.split(b"\n", 1)[0] + b"\n")


def _unique_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet and JSON Lines hold no duplicate column names (CSV files may)."""
    if frame.columns.duplicated().any():
        frame = frame.set_axis([f"{c}.{i}" for i, c in enumerate(frame.columns)], axis=1)
    return frame


def _parquet(frame: pd.DataFrame, path: Path) -> None:
    frame = _unique_names(frame)
    try:
        frame.to_parquet(path)
    except Exception:  # mixed object columns: Parquet wants one type per column
        frame.astype(str).to_parquet(path)


# --------------------------------------------------------------------------- the options
# Each option: (valid values, invalid values). A "clean" example draws valid values only
# (and an uncorrupted table), so that about half the examples get through to the fits and
# the outputs; the others mix in every kind of bad value.
WHERE = (["model_type!=coca", "gflops_total>1e6", "model!=zz"],
         ["model_type=clip", "nope=1", "bad", "model_type<clip", "gflops_total<abc", "a,b=1",
          "=x", "x=", "value>=2"])
NUMBERS = (["1e12", "1e9", "1e12,1e13"],
           ["0", "-1", "inf", "nan", "abc", "1e9:1e11", "10:1e9", "1:2:3", ",", "", "1e300"])
PAIRS = (["10:1e9", "10:1e9,30:3e9"], ["1e9", "1:2:3", "0:1", "inf:1", "a:b", ""])
BAD_OUTPUTS = ["out.gif", "DATA", "existing.json", "existing.png", "dir", "fifo", "link.json",
               "DATA/x.json", ".", "", "out.png"]
JSON_OUT = (["out.json", "sub/out.json"], BAD_OUTPUTS)
PLOT_OUT = (["out.png", "out.pdf", "out.svg", "sub/out.png"], BAD_OUTPUTS + ["out.json"])
FAST_LAWS = ["power", "power_floor", "power_floor", "saturating"]
SLOW_LAWS = ["auto", "broken_power"]

OPTIONS: dict[str, tuple[list, list]] = {
    "--x": (["gflops_total"], ["samples_seen", "value", "model_type", "nope", "a,b", "ü"]),
    "--y": (["value"], ["gflops_total", "model_type", "nope"]),
    "--by": (["model_type", "model", "model_type,model"], ["nope", "a,b", ""]),
    "--n-bootstrap": (["0", "20"], ["1", "-5", "19", "1000000000", "x"]),
    "--level": (["0.95", "0.9"], ["0", "1", "-1", "nan", "inf", "abc"]),
    "--seed": (["0", "7", str(2**40)], ["-1", "x", "1.5"]),
    "--frontier": (["binned", "naive", "none"], ["bogus", ""]),
    "--loss": (["huber_log", "ls", "log"], ["bogus"]),
    "--huber-delta": (["0.05", "0.001"], ["0", "-1", "inf", "nan"]),
    "--min-slope-ratio": (["0", "0.5"], ["1", "-0.1", "nan"]),
    "--weighting": (["compute", "none"], ["bogus"]),
    "--bootstrap": (["pairs", "residual"], ["bogus"]),
    "--extrapolate": (["100", "1", "10"], ["0.5", "inf", "nan", "-1", "1e300"]),
    "--x2": (["samples_seen"], ["nope", "model_type", "value"]),
    "--samples": (["samples_seen"], ["nope", "value", "model_type"]),
    "--params-col": (["gflops_per_sample"], ["nope", "value", "model_type"]),
    "--compute-constant": (["1", "2e-9"], ["0", "-1", "inf", "nan"]),
    "--series": (["model", "model_type"], ["nope", "a,b"]),
    "--holdout": (["1e8", "1e10"], ["0", "-1", "inf", "nan"]),
    "--title": (["T", "<b>&", "a\n# b\n\\input{x}"], [""]),
}


@st.composite
def option(draw, flag: str, clean: bool, values: tuple[list, list] | None = None):  # noqa: ANN001, ANN201
    """``[]`` (absent, the default) or ``[flag, value]``."""
    valid, invalid = values or OPTIONS[flag]
    pool = [None, None] + valid * 2 + ([] if clean else invalid)
    v = draw(st.sampled_from(pool))
    return [] if v is None else [flag, v]


@st.composite
def repeated(draw, flag: str, clean: bool, values: tuple[list, list], most: int = 2):  # noqa: ANN001, ANN201
    valid, invalid = values
    vs = draw(st.lists(st.sampled_from(valid + ([] if clean else invalid)), max_size=most))
    return [a for v in vs for a in (flag, v)]


@st.composite
def command_options(draw, command: str, clean: bool, maximize: bool):  # noqa: ANN001, ANN201
    """Every option of ``command``: the shared ones, the engine's, the outputs, its own."""
    out: list[str] = []
    if draw(st.booleans()) if not clean else maximize:
        out.append("--maximize")
    for f in ("--x", "--y", "--level", "--seed"):
        out += draw(option(f, clean))
    by = OPTIONS["--by"]
    if command == "compare" or (command == "report" and clean):
        out += ["--by", draw(st.sampled_from(by[0] if clean else by[0] + by[1]))]
    else:
        out += draw(option("--by", clean))
    out += draw(repeated("--where", clean, WHERE, 1))
    boot = OPTIONS["--n-bootstrap"]
    if command in ("compare", "report") and clean:
        boot = (["20"], [])
    out += ["--n-bootstrap", draw(st.sampled_from(boot[0] + ([] if clean else boot[1])))]
    if command != "optimal":  # the engine's options
        laws = FAST_LAWS * 3 + (SLOW_LAWS if command == "fit" else [])
        law = draw(st.sampled_from(laws + ([] if clean else ["nope", "chinchilla"])))
        out += ["--law", law]
        for f in ("--loss", "--huber-delta", "--min-slope-ratio", "--weighting", "--bootstrap"):
            out += draw(option(f, clean))
        if not clean:
            out += draw(st.sampled_from([[], [], ["--preset", "nope"],
                                         ["--preset", "laion2025", "--loss", "log"]]))
    out += draw(option("--frontier", clean))
    if command != "report":
        out += draw(option("--json", clean, JSON_OUT))
        out += draw(option("--plot", clean, PLOT_OUT))
    if command == "fit":
        out += draw(option("--x2", clean))
        two = "--x2" in out
        if two and clean:  # a two-input law: chinchilla, every run, no figure
            out = _drop_flag(out, "--plot")
            out = _drop_flag(_drop_flag(out, "--law"), "--frontier") + ["--law", "chinchilla"]
        out += draw(repeated("--predict-at", clean, PAIRS if two else NUMBERS, 2))
    elif command == "compare":
        out += draw(repeated("--at", clean, NUMBERS, 2))
        out += draw(option("--extrapolate", clean))
    elif command == "optimal":
        out += draw(repeated("--predict-at", clean, NUMBERS, 2))
        for f in ("--samples", "--params-col", "--compute-constant"):
            out += draw(option(f, clean))
        out += draw(st.sampled_from([[], ["--no-chinchilla"]]))
    else:
        outs = (["rep", "sub/rep", "dir"], ["existing.json", "DATA", "fifo"])
        out += ["--out", draw(st.sampled_from(outs[0] + ([] if clean else outs[1])))]
        out += draw(repeated("--series", clean, OPTIONS["--series"], 1))
        out += draw(repeated("--at", clean, NUMBERS, 1))
        for f in ("--holdout", "--title"):
            out += draw(option(f, clean))
    out += draw(st.sampled_from([[], ["--force"]]))
    out += draw(st.sampled_from([[], ["-q"]]))
    return out


def _drop_flag(args: list[str], flag: str) -> list[str]:
    """``args`` without ``flag`` and its value."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == flag:
            skip = True
            continue
        out.append(a)
    return out


# --------------------------------------------------------------------------- the contract
PLANTED = {"existing.json": b'{"precious": true}\n', "existing.png": b"\x89PNG precious"}


def _plant(root: Path) -> None:
    for name, content in PLANTED.items():
        (root / name).write_bytes(content)
    (root / "dir").mkdir()
    (root / "dir" / "keep.txt").write_text("keep")
    os.mkfifo(root / "fifo")
    (root / "link.json").symlink_to("existing.json")


def _listing(root: Path) -> dict[str, tuple[str, bytes | None]]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        mode = os.lstat(p).st_mode
        if stat.S_ISLNK(mode):
            out[rel] = ("link", os.readlink(p).encode())
        elif stat.S_ISREG(mode):
            out[rel] = ("file", p.read_bytes())
        elif stat.S_ISFIFO(mode):
            out[rel] = ("fifo", None)
        else:
            out[rel] = ("dir", None)
    return out


def _named_outputs(command: str, args: list[str]) -> list[str]:
    names = []
    for flag_, value in zip(args, args[1:], strict=False):
        if flag_ in ("--json", "--plot"):
            names.append(value)
        elif flag_ == "--out" and command == "report":
            names += [f"{value}/report.{ext}" for ext in ("html", "md", "tex")]
    return [os.path.normpath(n) for n in names]


RUNS: dict[tuple[str, int], int] = {}  # (command, exit code) -> examples run
SECONDS: dict[str, float] = {}  # command -> seconds inside the CLI


class _Timeout(BaseException):  # not an Exception: the CLI would report it as its own
    pass


def _alarm(signum, frame):  # noqa: ANN001, ANN202, ARG001
    raise _Timeout


def check_contract(command: str, frame: pd.DataFrame, fmt: str, corruption: str, blob: bytes,
                   options: list[str]) -> int:
    """Run ``scalecmp COMMAND`` on the example and assert the contract; the exit code."""
    with tempfile.TemporaryDirectory(prefix="scalecmp-fuzz-") as tmp:
        root = Path(tmp)
        data = root / f"data{fmt}"
        _write_table(frame, data, corruption, blob)
        _plant(root)
        args = [command, data.name] + [a.replace("DATA", data.name) for a in options]
        before = _listing(root)
        cwd = os.getcwd()
        out, err = io.StringIO(), io.StringIO()
        previous = signal.signal(signal.SIGALRM, _alarm)
        previous_prof = signal.signal(signal.SIGPROF, _alarm)
        signal.alarm(HANG_LIMIT_S)
        signal.setitimer(signal.ITIMER_PROF, TIME_LIMIT_S)
        t0 = time.perf_counter()
        try:
            os.chdir(root)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main(args)
                    code = 0
                except SystemExit as exc:
                    code = 0 if exc.code is None else exc.code
        except _Timeout:
            pytest.fail(f"scalecmp {' '.join(args)}: still running after {TIME_LIMIT_S} s of "
                        f"CPU time or {HANG_LIMIT_S} s")
        finally:
            signal.alarm(0)
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGALRM, previous)
            signal.signal(signal.SIGPROF, previous_prof)
            os.chdir(cwd)
        SECONDS[command] = SECONDS.get(command, 0.0) + time.perf_counter() - t0
        after = _listing(root)
        _assert_contract(command, args, code, err.getvalue(), before, after, data.name)
        RUNS[(command, code)] = RUNS.get((command, code), 0) + 1
        if os.environ.get("SCALECMP_FUZZ_VERBOSE") and code == 2:
            last = err.getvalue().strip().splitlines()[-1]
            print(f"{command} {' '.join(args)}\n    {last}")
        return code


def _assert_contract(command, args, code, err, before, after, data_name) -> None:  # noqa: ANN001
    what = f"scalecmp {' '.join(repr(a) if not a or ' ' in a else a for a in args)}"
    assert code in (0, 2), f"{what}: exit {code}\n{err}"
    assert "Traceback" not in err, f"{what}\n{err}"
    lines = err.splitlines()
    errors = [ln for ln in lines if not ln.startswith("scalecmp: warning: ")]
    assert all(ln.startswith("scalecmp: error: ") for ln in errors), f"{what}\n{err}"
    assert len(errors) == (1 if code == 2 else 0), f"{what}: exit {code}\n{err}"
    # the input and every file the user had
    assert after[data_name] == before[data_name], what
    named = set(_named_outputs(command, args))
    force = "--force" in args
    for name, (kind, content) in before.items():
        assert name in after, f"{what}: {name} disappeared"
        if name in named and code == 0 and force:
            assert after[name][0] == kind, f"{what}: {name} changed from {kind}"
            continue
        if name == "link.json" and "existing.json" in named:
            continue
        if name == "existing.json" and "link.json" in named and code == 0 and force:
            continue  # the link's target, replaced through the link
        assert after[name] == (kind, content), f"{what}: {name} was changed\n{err}"
    # nothing but the named outputs (and the folders that hold them) appeared
    allowed = set(named)
    for n in named:
        allowed |= {str(p) for p in Path(n).parents if str(p) != "."}
    stray = sorted(set(after) - set(before) - allowed)
    assert not stray, f"{what}: exit {code}, stray files {stray}\n{err}"
    if code == 0:
        for n in named:
            assert n in after, f"{what}: exit 0 but {n} was not written"


# --------------------------------------------------------------------------- the tests
@st.composite
def _example(draw, command: str):  # noqa: ANN001, ANN201
    clean = draw(st.booleans())
    frame, loss_like = draw(tables(clean))
    fmt = draw(st.sampled_from(FORMATS))
    corruption = "none" if clean else draw(st.sampled_from(CORRUPTIONS))
    options = draw(command_options(command, clean, maximize=not loss_like))
    return frame, fmt, corruption, draw(st.binary(max_size=64)), options


@pytest.mark.parametrize("command", ["fit", "compare", "optimal", "report"])
def test_fuzz_the_cli_contract(command):
    @_settings(command)
    @given(example=_example(command))
    def fuzz(example) -> None:  # noqa: ANN001
        frame, fmt, corruption, blob, options = example
        t0 = time.perf_counter()
        try:
            code = check_contract(command, frame, fmt, corruption, blob, options)
        except (AssertionError, pytest.fail.Exception) as exc:
            if LOG is None:
                raise
            what = " ".join(str(exc).split())
            FAILURES.setdefault(command, []).append(what)
            _log(f"FAIL {command} {fmt} {corruption}: {what}")
            return
        if LOG is not None:
            _log(f"{command} {code} {time.perf_counter() - t0:.2f}")

    fuzz()
    ok, bad = RUNS.get((command, 0), 0), RUNS.get((command, 2), 0)
    failed = FAILURES.get(command, [])
    print(f"\nfuzz {command}: {ok + bad + len(failed)} examples, {ok} exit 0, {bad} exit 2, "
          f"{len(failed)} broken contracts, {SECONDS.get(command, 0.0):.0f} s in the CLI")
    assert not failed, "\n".join(failed)
    assert ok + bad > 0


def test_the_contract_check_catches_a_broken_contract(monkeypatch):
    """The fuzz's oracle itself: a command that leaves a stray file, or writes a traceback,
    fails it (so a passing fuzz means something)."""
    import scalecmp.cli.fit as cli_fit

    frame = _base(0, 2, 10, loss_like=False)

    real_fit = cli_fit.fit_frame  # what the fit command calls to fit
    options = ["--maximize", "-q", "--law", "power", "--n-bootstrap", "0"]

    def leaves_a_stray(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        Path("stray.tmp").write_text("x")
        return real_fit(*args, **kwargs)

    check_contract("fit", frame, ".csv", "none", b"", options)  # the real one passes
    monkeypatch.setattr(cli_fit, "fit_frame", leaves_a_stray)
    with pytest.raises(AssertionError, match="stray files"):
        check_contract("fit", frame, ".csv", "none", b"", options)

    def crashes(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyError("boom")

    monkeypatch.setattr(cli_fit, "fit_frame", crashes)
    with pytest.raises(AssertionError, match="exit 1"):
        check_contract("fit", frame, ".csv", "none", b"", options)


# ------------------------------------------------------------ faults while writing outputs
#: what happens at the chosen file operation: a signal (after it), an OS error (instead of
#: it) or the user's own file appearing at the JSON path (before it)
FAULTS = ("SIGINT", "SIGTERM", "SIGHUP", "ENOSPC", "EFBIG", "EDQUOT", "EIO", "EACCES",
          "EROFS", "appears")
#: the file operations of an output transaction that a fault may hit
FILE_CALLS = (("os", "fsync"), ("os", "link"), ("os", "replace"), ("os", "chmod"),
              ("tempfile", "mkstemp"))
USER_FILE = b"the user's own file, written while scalecmp ran\n"
FAULT_RUNS: dict[str, int] = {}  # exit status -> examples


def _touches(root: Path, name: str, args: tuple, kwargs: dict) -> bool:
    if name == "fsync":  # a descriptor: every fsync is scalecmp's own
        return True
    paths = [kwargs.get("dir")] if name == "mkstemp" else list(args[:2])
    return any(isinstance(p, str | Path) and str(p).startswith(str(root)) for p in paths)


@contextlib.contextmanager
def _faulty_files(root: Path, fault: str, at: int):  # noqa: ANN202
    """The ``at``-th file operation under ``root`` meets ``fault``."""
    modules = {"os": os, "tempfile": tempfile}
    real = {(m, n): getattr(modules[m], n) for m, n in FILE_CALLS}
    state = {"n": 0, "appeared": False}

    def wrap(m: str, n: str):  # noqa: ANN202
        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if not _touches(root, n, args, kwargs):
                return real[(m, n)](*args, **kwargs)
            state["n"] += 1
            if state["n"] != at:
                return real[(m, n)](*args, **kwargs)
            if fault.startswith("SIG"):
                rv = real[(m, n)](*args, **kwargs)
                os.kill(os.getpid(), getattr(signal, fault))
                return rv
            if fault == "appears":
                target = root / "out.json"
                if not os.path.lexists(target):
                    target.write_bytes(USER_FILE)
                    state["appeared"] = True
                return real[(m, n)](*args, **kwargs)
            code = getattr(errno, fault)
            raise OSError(code, os.strerror(code))
        return call

    def unhandled(signum, frame):  # noqa: ANN001, ANN202, ARG001
        raise AssertionError(f"{signal.Signals(signum).name} was not handled by scalecmp")

    handlers = {s: signal.signal(s, unhandled) for s in (signal.SIGTERM, signal.SIGHUP)}
    for m, n in FILE_CALLS:
        setattr(modules[m], n, wrap(m, n))
    try:
        yield state
    finally:
        for (m, n), f in real.items():
            setattr(modules[m], n, f)
        for s, h in handlers.items():
            signal.signal(s, h)


_FIT_CACHE: list = []


def check_faults(fault: str, at: int, force: bool, plot: bool) -> None:
    """``fit --json [--plot]`` (the fit itself computed once and replayed) with ``fault``
    at the ``at``-th file operation. The contract: exit 0 with every output new; or exit 2
    (one error line) or 128 + the signal (one ``interrupted`` line) with every file as it
    was (and the user's file, if one appeared, untouched); never a temporary file left."""
    import scalecmp.cli.fit as cli_fit

    real_fit = cli_fit.fit_frame

    def fit_once(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not _FIT_CACHE:
            _FIT_CACHE.append(real_fit(*args, **kwargs))
        return _FIT_CACHE[0]

    with tempfile.TemporaryDirectory(prefix="scalecmp-fault-") as tmp:
        root = Path(os.path.realpath(tmp))
        _base(0, 2, 10, loss_like=False).to_csv(root / "data.csv", index=False)
        outputs = ["out.json", *(["out.png"] if plot else [])]
        if force:
            for name in outputs:
                (root / name).write_bytes(b"the previous run's " + name.encode())
        args = ["fit", str(root / "data.csv"), "--maximize", "--by", "model_type", "-q",
                "--law", "power", "--n-bootstrap", "20", "--json", str(root / "out.json"),
                *(["--plot", str(root / "out.png")] if plot else []),
                *(["--force"] if force else [])]
        before = _listing(root)
        err = io.StringIO()
        cli_fit.fit_frame = fit_once
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), \
                    _faulty_files(root, fault, at) as state:
                try:
                    main(args)
                    code = 0
                except SystemExit as exc:
                    code = 0 if exc.code is None else exc.code
        finally:
            cli_fit.fit_frame = real_fit
        after = _listing(root)
        what = f"fault {fault} at file operation {at} (force={force}, plot={plot})"
        stderr = err.getvalue()
        lines = [ln for ln in stderr.splitlines() if not ln.startswith("scalecmp: warning: ")]
        signals = {128 + getattr(signal, f) for f in FAULTS if f.startswith("SIG")}
        assert code in {0, 2} | signals, f"{what}: exit {code}\n{stderr}"
        assert "Traceback" not in stderr, f"{what}\n{stderr}"
        assert len(lines) == (0 if code == 0 else 1), f"{what}: exit {code}\n{stderr}"
        if code == 2:
            assert lines[0].startswith("scalecmp: error: "), f"{what}\n{stderr}"
        elif code:
            assert lines[0].startswith("scalecmp: interrupted"), f"{what}\n{stderr}"
        debris = [n for n in after if n.startswith(".")]
        assert not debris, f"{what}: exit {code}, left {debris}\n{stderr}"
        if state["appeared"]:
            before["out.json"] = ("file", USER_FILE)
        if code == 0:
            assert json.loads(after.pop("out.json")[1])["maximize"] is True, what
            if plot:
                assert after.pop("out.png")[1][:4] == b"\x89PNG", what
            for name in outputs:
                before.pop(name, None)
        assert after == before, f"{what}: exit {code}: files changed\n{stderr}"
        FAULT_RUNS[str(code)] = FAULT_RUNS.get(str(code), 0) + 1


def test_faults_while_writing_outputs_keep_every_file_whole():
    """Every fault at every file operation of the outputs' transaction (staging and
    commit): a signal, an OS error, a file appearing at an output path."""
    @settings(max_examples=max(24, TOTAL // 10), deadline=None, derandomize=not TOTAL,
              database=None, suppress_health_check=list(HealthCheck), print_blob=True)
    @given(fault=st.sampled_from(FAULTS), at=st.integers(1, 16), force=st.booleans(),
           plot=st.booleans())
    def fuzz(fault: str, at: int, force: bool, plot: bool) -> None:
        check_faults(fault, at, force, plot)

    fuzz()
    print(f"\nfaults: exit statuses {FAULT_RUNS}")
    assert set(FAULT_RUNS) - {"0"}  # some faults did end the command
