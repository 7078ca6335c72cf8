"""The command-line contract, one test per probe of issue #7: every bad input ends in one
line ``scalecmp: error: ...`` and exit code 2 (checked before any long work), Ctrl-C in
exit code 130 with one line, outputs replace only regular files and get the umask's mode,
and the analysis commands speak one vocabulary."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalecmp
from cli_run import one_error, run
from scalecmp.cli import PARAM_FLAGS, to_flags
from scalecmp.errors import DataError, UsageError

FAST = ["--law", "power_floor", "--n-bootstrap", "20"]


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for proc, m in (("clip", 1.0), ("mammut", 1.8)):
        for size, gps in (("s", 4.0), ("m", 12.0), ("l", 40.0)):
            for samples in np.geomspace(1e6, 3e9, 8):
                c = gps * samples
                err = 20 * (c / m + 3e7) ** -0.2 + 0.1
                rows.append({"model_type": proc, "model": size, "samples_seen": samples,
                             "gflops_per_sample": gps, "gflops_total": c,
                             "value": 1 - err * np.exp(rng.normal(0, 0.01))})
    return pd.DataFrame(rows)


@pytest.fixture()
def im(tmp_path) -> Path:
    """Accuracies of two procedures (like im.csv: ImageNet CLIP + MaMMUT rows)."""
    path = tmp_path / "im.csv"
    _frame().to_csv(path, index=False)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink to fifo"])
def test_force_never_replaces_anything_but_a_regular_file(im, tmp_path, kind):
    target = tmp_path / "out.json"
    if kind == "directory":
        target.mkdir()
    else:
        fifo = tmp_path / "p"
        os.mkfifo(fifo)
        if kind == "fifo":
            target = fifo
        else:
            target.symlink_to(fifo)
    code, _, err = run("fit", im, "--maximize", "--by", "model_type", "--json", target,
                       "--force", "-q", *FAST)
    assert code == 2
    one_error(err, "--json", "only regular files")
    if kind == "directory":
        assert target.is_dir()
    else:
        assert stat.S_ISFIFO(os.stat(target).st_mode)
        assert target.is_symlink() == (kind == "symlink to fifo")


def test_force_through_a_symlink_replaces_its_regular_target(im, tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    code, _, err = run("fit", im, "--maximize", "--json", link, "--force", "-q", *FAST)
    assert code == 0, err
    assert link.is_symlink() and json.loads(real.read_text())["maximize"] is True


@pytest.mark.parametrize("command", ["fit", "compare", "optimal"])
def test_the_same_path_for_two_outputs_is_refused(im, tmp_path, command):
    same = tmp_path / "same.png"
    code, _, err = run(command, im, "--maximize", "--by", "model_type", "--json", same,
                       "--plot", same, "-q", "--n-bootstrap", "20")
    assert code == 2
    one_error(err, "--json and --plot name the same file")
    assert not same.exists()


def test_an_output_may_not_be_an_input(im):
    before = im.read_bytes()
    code, _, err = run("fit", im, "--maximize", "--json", im, "--force", "-q", *FAST)
    assert code == 2
    one_error(err, "over input")
    assert im.read_bytes() == before


def test_output_under_a_file_is_refused_before_the_fit(im, tmp_path):
    t0 = time.perf_counter()
    code, _, err = run("fit", im, "--maximize", "--json", f"{im}/x.json", "-q",
                       "--n-bootstrap", "1000")
    assert code == 2 and time.perf_counter() - t0 < 5
    one_error(err, "--json", "is not a directory")
    assert sorted(p.name for p in im.parent.iterdir()) == ["im.csv"]


def test_output_in_a_read_only_directory_is_refused_before_the_fit():
    """As an unprivileged user: root may write anywhere, so as root the CLI runs in a forked
    child that has dropped to the 'nobody' user."""
    base = Path(tempfile.mkdtemp(prefix="scalecmp-ro-"))
    try:
        os.chmod(base, 0o755)
        data = base / "im.csv"
        _frame().to_csv(data, index=False)
        os.chmod(data, 0o644)
        ro = base / "ro"
        ro.mkdir()
        os.chmod(ro, 0o555)
        args = ("fit", data, "--maximize", "--json", ro / "x.json", "-q")
        if os.geteuid() != 0:
            code, _, err = run(*args)
        else:
            import pwd

            try:
                nobody = pwd.getpwnam("nobody")
            except KeyError:
                pytest.skip("no unprivileged user to run as")
            run("fit", "--help")  # everything the command imports, imported as root
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                try:
                    os.setgid(nobody.pw_gid)
                    os.setuid(nobody.pw_uid)
                    code, _, err = run(*args)
                    os.write(write, f"{code}\n{err}".encode())
                finally:
                    os._exit(0)
            os.close(write)
            with os.fdopen(read) as fh:
                reply = fh.read()
            os.waitpid(pid, 0)
            code_txt, err = reply.split("\n", 1)
            code = int(code_txt)
        assert code == 2, err
        one_error(err, "--json", "cannot write in directory", "permission denied")
        assert list(ro.iterdir()) == []
    finally:
        os.chmod(base / "ro", 0o755)
        shutil.rmtree(base)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_umask_mode(im, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        outs = {
            "fit": (tmp_path / "f.json", tmp_path / "f.png"),
            "compare": (tmp_path / "c.json", tmp_path / "c.png"),
            "optimal": (tmp_path / "o.json", tmp_path / "o.png"),
        }
        for command, (js, png) in outs.items():
            code, _, err = run(command, im, "--maximize", "--by", "model_type", "--json", js,
                               "--plot", png, "-q", "--n-bootstrap", "20",
                               *(["--law", "power_floor"] if command != "optimal" else []))
            assert code == 0, err
        code, _, err = run("report", im, "--out", tmp_path / "rep", "--by", "model_type",
                           "--maximize", "-q", *FAST)
        assert code == 0, err
        from scalecmp.files import atomic_write

        atomic_write(tmp_path / "m.parquet", lambda fh: _frame().to_parquet(fh))
        written = [p for pair in outs.values() for p in pair] + [
            tmp_path / "rep" / f"report.{ext}" for ext in ("html", "md", "tex")
        ] + [tmp_path / "m.parquet"]
        for p in written:
            assert stat.S_IMODE(p.stat().st_mode) == mode, (p, oct(p.stat().st_mode))
        assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary left
    finally:
        os.umask(old)


# ------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "args, needles",
    [
        (["--seed", "-1"], ["--seed must be an integer >= 0"]),
        (["--n-bootstrap", "100000000"], ["--n-bootstrap 100000000 would need", "memory"]),
        (["--predict-at", "inf"], ["--predict-at values must be > 0 and finite"]),
        (["--predict-at", "nan"], ["--predict-at values must be > 0 and finite"]),
        (["--predict-at", "1e12,abc"], ["--predict-at: 'abc' is not a number"]),
        (["--predict-at", "1e9:1e11"], ["--predict-at", "N:D pair"]),
        (["--level", "nan"], ["--level must lie in (0, 1)"]),
        (["--huber-delta", "inf"], ["delta"]),
        (["--n-bootstrap", "1"], ["--n-bootstrap must be 0 (no intervals) or >= 20"]),
        (["--n-bootstrap", "19"], ["--n-bootstrap must be 0 (no intervals) or >= 20"]),
        (["--law", "chinchilla"], ["--law 'chinchilla' has two inputs: pass --x2"]),
        (["--x2", "samples_seen", "--law", "power"], ["--x2 is only used by two-input laws"]),
        (["--x", "nope"], ["--x: no column 'nope'"]),
    ],
)
def test_fit_options_are_refused_up_front_in_one_line(im, args, needles):
    t0 = time.perf_counter()
    code, _, err = run("fit", im, "--maximize", "--by", "model_type", "-q", *args)
    assert code == 2
    one_error(err, *needles)
    assert time.perf_counter() - t0 < 5  # before the 1000-replicate fit would have run


def test_n_bootstrap_zero_means_no_intervals_and_says_so(im, tmp_path):
    js = tmp_path / "f.json"
    code, _, err = run("fit", im, "--maximize", "--n-bootstrap", "0", "--law", "power_floor",
                       "--predict-at", "1e12", "--json", js, "-q")
    assert code == 0, err
    notes = [ln for ln in err.splitlines() if "no intervals" in ln]
    assert notes == ["scalecmp: warning: --n-bootstrap is 0: no bootstrap, so no intervals "
                     "(every interval is null)"]
    pred = json.loads(js.read_text())["groups"][0]["predictions"][0]
    assert pred["lo"] is None and pred["hi"] is None and pred["y"] is not None


@pytest.mark.parametrize("command", ["compare", "report"])
def test_compare_and_report_need_replicates(im, tmp_path, command):
    extra = ["--out", tmp_path / "r"] if command == "report" else []
    code, _, err = run(command, im, "--by", "model_type", "--maximize", "--n-bootstrap", "0",
                       *extra)
    assert code == 2
    one_error(err, "--n-bootstrap must be >= 20")
    assert not (tmp_path / "r").exists()


def test_chinchilla_predicts_at_pairs(im, tmp_path):
    js = tmp_path / "c.json"
    code, _, err = run("fit", im, "--maximize", "--x", "gflops_per_sample", "--x2",
                       "samples_seen", "--law", "chinchilla", "--predict-at", "10:1e9,20:2e9",
                       "--n-bootstrap", "20", "--json", js, "-q")
    assert code == 0, err
    preds = json.loads(js.read_text())["groups"][0]["predictions"]
    assert [(p["x"], p["x2"]) for p in preds] == [(10.0, 1e9), (20.0, 2e9)]


def test_a_two_input_law_on_a_constant_input_is_a_data_error(im):
    """Found by the fuzz: L(N, D) on groups whose N never varies ended in LinAlgError."""
    code, _, err = run("fit", im, "--maximize", "--by", "model", "--x", "gflops_per_sample",
                       "--x2", "samples_seen", "--law", "chinchilla", "--n-bootstrap", "0", "-q")
    assert code == 2
    one_error(err, "group model=l: --x is constant (40) in these points: a two-input law "
              "needs both inputs to vary")


@pytest.mark.parametrize("value", ["inf", "nan", "0.5"])
def test_extrapolate_must_be_finite_and_at_least_one(im, value):
    code, _, err = run("compare", im, "--by", "model_type", "--maximize", "--extrapolate",
                       value, *FAST)
    assert code == 2
    one_error(err, "--extrapolate must be a finite number >= 1")
    assert "RuntimeWarning" not in err and "overflow" not in err


@pytest.mark.parametrize("law", ["chinchilla"])
def test_laws_a_command_cannot_use_are_refused(im, tmp_path, law):
    code, _, err = run("compare", im, "--by", "model_type", "--maximize", "--law", law, *FAST[2:])
    assert code == 2
    one_error(err, "--law: compare fits laws of compute alone")
    code, _, err = run("report", im, "--by", "model_type", "--maximize", "--law", law,
                       "--out", tmp_path / "r", *FAST[2:])
    assert code == 2
    one_error(err, "--law: a report fits laws of compute alone")


def test_fewer_than_two_groups_is_refused_before_fitting(im):
    t0 = time.perf_counter()
    code, _, err = run("compare", im, "--by", "model_type", "--maximize", "--where",
                       "model_type=clip", "--n-bootstrap", "1000")
    assert code == 2 and time.perf_counter() - t0 < 5
    one_error(err, "--by: compare needs at least 2 groups, got 1")


def _interrupt_after(delay: float, sig: int = signal.SIGINT) -> subprocess.CompletedProcess:
    data = Path(tempfile.mkdtemp(prefix="scalecmp-int-")) / "im.csv"
    _frame().to_csv(data, index=False)
    # the study's exact recipe takes ~30 s per group: the signal always comes mid-run
    p = subprocess.Popen([sys.executable, "-m", "scalecmp.cli", "compare", str(data), "--by",
                          "model_type", "--maximize", "--preset", "laion2025", "--json",
                          str(data.parent / "c.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=data.parent)
    time.sleep(delay)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    left = sorted(x.name for x in data.parent.iterdir())
    shutil.rmtree(data.parent)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err), left


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8, 1.5, 3.0])
def test_ctrl_c_at_any_moment_is_one_line_and_130(delay):
    r, left = _interrupt_after(delay)
    assert r.returncode == 130, r.stderr
    assert r.stderr == "scalecmp: interrupted\n"
    assert left == ["im.csv"]  # no output, no temporary file left behind


# ---------------------------------------------------------------------------- data hints
def test_parquet_content_named_csv(tmp_path):
    path = tmp_path / "m.csv"
    _frame().to_parquet(path)
    code, _, err = run("fit", path, "--maximize", "-q")
    assert code == 2
    one_error(err, "looks like a Parquet file", "rename it to .parquet")


def test_semicolon_separated_csv(tmp_path):
    path = tmp_path / "m.csv"
    _frame().to_csv(path, sep=";", index=False)
    code, _, err = run("fit", path, "--maximize", "-q")
    assert code == 2
    one_error(err, "semicolon-separated", "sep=';'")


def test_forgotten_maximize_is_named(im):
    code, _, err = run("fit", im, "--where", "model_type=clip", "--where", "model=s", "-q",
                       "--n-bootstrap", "0")
    assert code == 2
    one_error(err, "too few", "did you mean --maximize?")


def test_duplicated_rows_are_counted(im, tmp_path):
    path = tmp_path / "dup.csv"
    frame = _frame()
    pd.concat([frame, frame.head(7)]).to_csv(path, index=False)
    code, _, err = run("fit", path, "--maximize", "-q", *FAST)
    assert code == 0, err
    assert "scalecmp: warning: 7 of 55 rows repeat an earlier row exactly" in err


def test_accuracy_of_exactly_one_is_accepted_with_a_warning(tmp_path):
    frame = _frame()
    frame = frame[frame.model_type == "clip"].copy()
    top = frame.gflops_total.nlargest(2).index
    frame.loc[top, "value"] = 1.0
    path = tmp_path / "one.csv"
    frame.to_csv(path, index=False)
    js = tmp_path / "f.json"
    code, _, err = run("fit", path, "--maximize", "--json", js, "-q", *FAST)
    assert code == 0, err
    smallest = float((1 - frame.value[frame.value < 1]).min())
    assert (f"scalecmp: warning: 2 of {len(frame)} points have y = 1 (error 0), which the fit "
            f"cannot take in log space: set to error {smallest / 2:.3g}") in err
    assert json.loads(js.read_text())["groups"][0]["n_points"] == len(frame)


# ---------------------------------------------------------------------------- vocabulary
def test_list_options_take_repeated_and_comma_separated_values(im, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    base = ["compare", im, "--maximize", "--n-bootstrap", "20", "--law", "power_floor", "-q"]
    assert run(*base, "--by", "model_type", "--at", "1e10", "--at", "1e11", "--json", a)[0] == 0
    assert run(*base, "--by", "model_type", "--at", "1e10,1e11", "--json", b)[0] == 0
    assert json.loads(a.read_text())["comparisons"] == json.loads(b.read_text())["comparisons"]
    c, d = tmp_path / "c.json", tmp_path / "d.json"
    base = ["optimal", im, "--maximize", "--n-bootstrap", "20", "-q"]
    assert run(*base, "--by", "model_type,model", "--predict-at", "1e11,1e12", "--json", c)[0] == 0
    assert run(*base, "--by", "model_type", "--by", "model", "--predict-at", "1e11",
               "--predict-at", "1e12", "--json", d)[0] == 0
    assert json.loads(c.read_text()) == json.loads(d.read_text())


@pytest.mark.parametrize("command", ["fit", "compare", "optimal", "report", "next"])
def test_quiet_everywhere(im, tmp_path, command):
    extra = ["--out", tmp_path / "r"] if command == "report" else ["--json", tmp_path / "x.json"]
    extra += ["--at", "1e12"] if command == "next" else []
    law = [] if command == "optimal" else ["--law", "power_floor"]
    code, out, err = run(command, im, "--by", "model_type", "--maximize", "-q",
                         "--n-bootstrap", "20", *law, *extra)
    assert code == 0, err
    assert out == ""


def test_report_defaults_to_lower_is_better_like_every_command(im, tmp_path):
    code, _, err = run("report", im, "--out", tmp_path / "r", "--by", "model_type", "-q", *FAST)
    assert code == 0, err  # y in [0, 1] read as a loss: the report says so, not the caller
    html = (tmp_path / "r" / "report.html").read_text()
    assert "lower is better" in html
    code, _, err = run("report", im, "--out", tmp_path / "r2", "--by", "model_type", "-q",
                       "--loss", "nope", *FAST)
    assert code == 2
    one_error(err, "unknown loss 'nope'")


def test_library_speaks_parameter_names_and_the_cli_translates_once(im):
    frame = pd.read_csv(im)
    with pytest.raises(DataError, match=r"^x: no column 'nope'"):
        scalecmp.fit(frame, x="nope", y="value")
    with pytest.raises(UsageError, match=r"^predict_at values must be > 0"):
        scalecmp.fit(frame, x="gflops_total", y="value", maximize=True, predict_at=[-1.0])
    with pytest.raises(UsageError, match=r"^random_state must be an integer >= 0"):
        scalecmp.fit(frame, x="gflops_total", y="value", random_state=-1)
    from scalecmp.compare import compare
    from scalecmp.optimal import optimal_allocation
    from scalecmp.report import build_sections

    with pytest.raises(TypeError):
        compare(frame, "gflops_total", "value", "model_type")  # keyword-only after the data
    with pytest.raises(TypeError):
        optimal_allocation(frame, "gflops_total")
    with pytest.raises(TypeError):
        build_sections(frame, "gflops_total")
    with pytest.raises(UsageError, match=r"^at values must be > 0"):
        compare(frame, by="model_type", at=[0.0])
    with pytest.raises(UsageError, match=r"^level must lie in \(0, 1\)"):
        optimal_allocation(frame, level=1.0)
    assert to_flags("n_bootstrap must be >= 20") == "--n-bootstrap must be >= 20"
    assert to_flags("x: no column 'x' (columns: x, y)") == "--x: no column 'x' (columns: x, y)"
    assert to_flags("pass `force` to replace it") == "pass --force to replace it"
    assert to_flags("random_state must be\nan integer") == "--seed must be an integer"
    assert set(PARAM_FLAGS.values()) <= _all_flags()


def _commands():
    import click
    import typer.main

    import scalecmp.cli as cli

    cli._register()
    group = typer.main.get_command(cli._get_app())
    ctx = click.Context(group)
    return {name: group.get_command(ctx, name) for name in ("fit", "compare", "optimal",
                                                              "report", "next")}


def _all_flags() -> set[str]:
    """Every flag of every command (the training commands' too)."""
    import click
    import typer.main

    import scalecmp.cli as cli

    group = typer.main.get_command(cli._get_app())
    ctx = click.Context(group)
    grid = group.get_command(ctx, "grid")
    commands = [*_commands().values(), group.get_command(ctx, "demo"),
                *(grid.get_command(ctx, n) for n in grid.list_commands(ctx))]
    return {o for cmd in commands for p in cmd.params for o in p.opts}


def _type_of(p) -> str:
    """The parameter's type, under click (``type``) or typer's own parser
    (``type_descriptor``)."""
    if getattr(p, "type", None) is not None:
        return str(p.type.name)
    return str(p.type_descriptor.annotation)


def test_shared_options_have_one_name_type_default_and_help():
    """`scalecmp <cmd> --help` shows the same names and syntax for shared options."""
    seen: dict[str, tuple] = {}
    where: dict[str, str] = {}
    shared = 0
    for name, cmd in _commands().items():
        for p in cmd.params:
            if p.param_type_name != "option":
                continue
            key = p.opts[0]
            sig = (tuple(p.opts), tuple(p.secondary_opts), _type_of(p), p.multiple,
                   getattr(p, "is_flag", False), p.default, getattr(p, "help", None))
            if key in seen:
                shared += 1
                assert sig == seen[key], f"{key}: {where[key]} {seen[key]} != {name} {sig}"
            else:
                seen[key], where[key] = sig, name
    assert shared >= 40
    for flag in ("--quiet", "--frontier", "--maximize", "--n-bootstrap", "--seed", "--by",
                 "--level", "--force"):
        assert all(flag in {o for p in cmd.params for o in p.opts}
                   for cmd in _commands().values()), flag
    assert seen["--maximize"][5] is False and seen["--frontier"][5] is None
    assert seen["--by"][3] and seen["--at"][3] and seen["--predict-at"][3]  # lists


@pytest.mark.parametrize("command", ["fit", "compare", "optimal", "report", "next"])
def test_help_lists_the_shared_options(command):
    code, out, _ = run(command, "--help")
    assert code == 0
    for flag in ("--by", "--where", "--maximize", "--frontier", "--n-bootstrap", "--level",
                 "--seed", "--force", "--quiet"):
        assert flag in out, (command, flag)


# ------------------------------------------------------------- issue 18: nothing lost, ever
def _real(path: Path) -> str:
    return os.path.realpath(path)


def _every_output(command: str, im: Path, tmp_path: Path) -> tuple[list, list[Path]]:
    """A run of ``command`` writing every output it has (replacing them: ``--force``), and
    those outputs."""
    if command == "report":
        out = tmp_path / "rep"
        return (["report", im, "--out", out, "--by", "model_type", "--maximize", "-q",
                 "--force", *FAST], [out / f"report.{ext}" for ext in ("html", "md", "tex")])
    js, png = tmp_path / f"{command}.json", tmp_path / f"{command}.png"
    law = [] if command == "optimal" else ["--law", "power_floor"]
    return ([command, im, "--by", "model_type", "--maximize", "-q", "--force",
             "--n-bootstrap", "20", *law, "--json", js, "--plot", png], [js, png])


def _previous_set(paths: list[Path]) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"the previous run's " + p.name.encode())


@contextlib.contextmanager
def _signal_fails_the_test(sig: int):  # noqa: ANN202
    """A signal that scalecmp leaves unhandled fails the test (instead of ending pytest)."""
    def unhandled(signum, frame):  # noqa: ANN001, ANN202, ARG001
        raise AssertionError(f"{signal.Signals(signum).name} was not handled by scalecmp")

    previous = signal.signal(sig, unhandled)
    try:
        yield
    finally:
        signal.signal(sig, previous)


def _on_renames(monkeypatch, outputs: list[Path], act) -> list[str]:  # noqa: ANN001
    """``act(n, rename)`` decides about the n-th rename (``os.replace``, ``os.link``) onto one
    of ``outputs``: it may do it, then return (or signal); or raise instead."""
    targets = {_real(p) for p in outputs}
    seen: list[str] = []

    def wrap(real):  # noqa: ANN001, ANN202
        def renamed(src, dst, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            if _real(dst) not in targets:
                return real(src, dst, *args, **kwargs)
            seen.append(str(dst))
            return act(len(seen), lambda: real(src, dst, *args, **kwargs))
        return renamed

    monkeypatch.setattr(os, "replace", wrap(os.replace))
    monkeypatch.setattr(os, "link", wrap(os.link))
    return seen


@pytest.mark.parametrize("command, sig", [("fit", signal.SIGINT), ("compare", signal.SIGINT),
                                          ("optimal", signal.SIGINT), ("report", signal.SIGINT),
                                          ("report", signal.SIGTERM)])
def test_a_signal_between_the_renames_keeps_the_previous_set_whole(im, tmp_path, monkeypatch,
                                                                    command, sig):
    """Ctrl-C (or SIGTERM) after the first output is in place and before the others: the
    previous outputs are all still there, whole, and no temporary file is left."""
    args, outputs = _every_output(command, im, tmp_path)
    _previous_set(outputs)
    before = _snapshot(tmp_path)

    def then_signal(n, rename):  # noqa: ANN001, ANN202
        rename()
        if n == 1:
            os.kill(os.getpid(), sig)

    seen = _on_renames(monkeypatch, outputs, then_signal)
    with _signal_fails_the_test(sig):
        code, _, err = run(*args)
    assert seen, "no output was renamed into place"
    assert code == 128 + sig, err
    assert err.splitlines()[-1].startswith("scalecmp: interrupted"), err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["fit", "report"])
def test_an_error_between_the_renames_keeps_the_previous_set_whole(im, tmp_path, monkeypatch,
                                                                    command):
    args, outputs = _every_output(command, im, tmp_path)
    _previous_set(outputs)
    before = _snapshot(tmp_path)

    def second_fails(n, rename):  # noqa: ANN001, ANN202
        if n == 2:
            raise OSError(5, "Input/output error")
        return rename()

    _on_renames(monkeypatch, outputs, second_fails)
    code, _, err = run(*args)
    assert code == 2, err
    one_error(err, "cannot write", "Input/output error")
    assert _snapshot(tmp_path) == before


def test_a_file_that_appears_at_an_output_path_meanwhile_is_not_replaced(im, tmp_path,
                                                                         monkeypatch):
    import scalecmp.cli.fit as cli_fit

    js, png = tmp_path / "f.json", tmp_path / "f.png"
    real_fit = cli_fit.fit_frame

    def fit_while_the_user_writes(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        js.write_text("the user's own notes\n")  # after the checks, before the commit
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cli_fit, "fit_frame", fit_while_the_user_writes)
    code, _, err = run("fit", im, "--maximize", "--by", "model_type", "-q", *FAST,
                       "--json", js, "--plot", png)
    assert code == 2, err
    one_error(err, "--json", str(js), "appeared while the command ran", "--force")
    assert js.read_text() == "the user's own notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "im.csv"]  # no f.png


_FIT_THEN_MEET = """
import sys, time, pathlib
import scalecmp.cli.fit as f
real = f.fit_frame
def fit_then_meet(*args, **kwargs):
    result = real(*args, **kwargs)
    pathlib.Path(sys.argv[1]).touch()  # both have checked their outputs and fitted
    end = time.time() + 120
    while not pathlib.Path(sys.argv[2]).exists() and time.time() < end:
        time.sleep(0.02)
    return result
f.fit_frame = fit_then_meet
from scalecmp.cli import main
main(sys.argv[3:])
"""


def test_two_runs_writing_one_new_path_one_wins_the_other_exits_2(im, tmp_path):
    js = tmp_path / "same.json"
    args = ["fit", str(im), "--maximize", "--by", "model_type", "-q", *FAST, "--json", str(js)]
    ready = [tmp_path / "ready-a", tmp_path / "ready-b"]
    procs = [subprocess.Popen([sys.executable, "-c", _FIT_THEN_MEET, str(me), str(other),
                               *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for me, other in (ready, ready[::-1])]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 2], [err for _, _, err in results]
    loser = next(err for p, _, err in results if p.returncode == 2)
    one_error(loser, "--json", "appeared while the command ran")
    assert json.loads(js.read_text())["maximize"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["im.csv", "ready-a", "ready-b",
                                                          "same.json"]


def test_an_interrupt_raised_where_python_ignores_exceptions_still_ends_the_command(
        im, tmp_path, monkeypatch):
    """The signal's handler runs wherever the main thread is: inside a weakref callback (the
    import system's module-lock cleanup is one) Python ignores the exception it raises,
    and the command ran on to the end. It is delivered again, outside."""
    import weakref

    import scalecmp.cli.fit as cli_fit

    real_fit = cli_fit.fit_frame

    class Thing:
        pass

    def signalled(ref) -> None:  # noqa: ANN001
        os.kill(os.getpid(), signal.SIGINT)
        ref.__class__  # noqa: B018 - a bytecode boundary: the handler runs here, ignored

    def fit_with_a_callback(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        thing = Thing()
        keep = weakref.ref(thing, signalled)  # noqa: F841 - the callback needs it alive
        del thing  # the callback runs now, and the interrupt raised in it is lost
        end = time.perf_counter() + 5
        while time.perf_counter() < end:
            time.sleep(0.01)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cli_fit, "fit_frame", fit_with_a_callback)
    js = tmp_path / "f.json"
    code, _, err = run("fit", im, "--maximize", "-q", *FAST, "--json", js)
    assert code == 130, err
    assert err == "scalecmp: interrupted\n"
    assert not js.exists()


def test_an_interrupt_inside_an_import_is_delivered_after_it(im, tmp_path, monkeypatch):
    """A signal that arrives while Python imports a module (numpy's classes being created,
    an import lock held) was wrapped in a RuntimeError (a traceback, exit 1) or left the
    lock held (a hang): the handler defers it until the import is over."""
    import importlib.util
    import sys as _sys

    import scalecmp.cli.fit as cli_fit

    real_fit = cli_fit.fit_frame
    mod = tmp_path / "slow_module_for_the_test.py"
    # the module body runs inside importlib's frames: the signal comes in the middle of it
    mod.write_text("import os, signal, time\n"
                   "os.kill(os.getpid(), signal.SIGINT)\n"
                   "class Made:\n"
                   "    def __set_name__(self, owner, name):\n"
                   "        time.sleep(0.2)\n"
                   "class Owner:\n"
                   "    x = Made()\n"
                   "DONE = True\n")
    imported: list[bool] = []

    def fit_after_an_import(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        spec = importlib.util.spec_from_file_location("slow_module_for_the_test", mod)
        module = importlib.util.module_from_spec(spec)
        _sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        imported.append(module.DONE)  # the import finished: the signal was deferred
        end = time.perf_counter() + 5
        while time.perf_counter() < end:
            time.sleep(0.01)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cli_fit, "fit_frame", fit_after_an_import)
    code, _, err = run("fit", im, "--maximize", "-q", *FAST)
    assert imported == [True]
    assert code == 130, err
    assert err == "scalecmp: interrupted\n"


def test_a_file_a_library_left_open_is_no_warning_line(im, monkeypatch):
    """A ResourceWarning (a file object collected unclosed, as when an interrupt unwinds an
    import that was reading a .pyc) says nothing a user can act on: the interrupted line
    stays the only line."""
    import scalecmp.cli.fit as cli_fit

    real_fit = cli_fit.fit_frame

    def leaves_a_file_open(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        open(im).close  # noqa: B018, SIM115 - opened, never closed, collected at once
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(cli_fit, "fit_frame", leaves_a_file_open)
    code, _, err = run("fit", im, "--maximize", "-q", "--law", "power", "--n-bootstrap", "0")
    assert code == 0, err
    assert "unclosed file" not in err, err


@pytest.mark.parametrize("delay", [1.0, 3.0])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_end_like_ctrl_c(sig, delay):
    r, left = _interrupt_after(delay, sig)
    assert r.returncode == 128 + sig, r.stderr
    assert r.stderr == f"scalecmp: interrupted ({signal.Signals(sig).name})\n"
    assert left == ["im.csv"]  # no output, no temporary file left behind


def test_stale_temporary_files_of_a_dead_run_are_removed(im, tmp_path):
    from scalecmp.files import temp_prefix

    gone = subprocess.Popen(["true"])
    gone.wait()  # a writer that is no longer running
    js, png = tmp_path / "f.json", tmp_path / "f.png"
    stale = [tmp_path / f"{temp_prefix(js.name, gone.pid)}abcd1234.tmp",
             tmp_path / f"{temp_prefix(png.name, gone.pid)}abcd1234.tmp.png"]
    kept = [tmp_path / f"{temp_prefix(js.name, os.getppid())}abcd1234.tmp",  # alive
            tmp_path / ".f.json.notes",  # not scalecmp's name
            tmp_path / f"{temp_prefix('other.json', gone.pid)}abcd1234.tmp"]  # another output
    for p in stale + kept:
        p.write_text("debris")
    folder = tmp_path / f"{temp_prefix(js.name, gone.pid)}zzzz1234.tmp"
    folder.mkdir()  # only regular files are ever removed
    code, _, err = run("fit", im, "--maximize", "-q", *FAST, "--json", js, "--plot", png)
    assert code == 0, err
    assert not any(p.exists() for p in stale)
    assert all(p.read_text() == "debris" for p in kept) and folder.is_dir()


def _grid_folder(root: Path) -> Path:
    """A grid folder as ``grid run`` leaves it (without training): two units' shards of
    accuracies, compiled into its table."""
    from scalecmp.experiments import shards as SH

    grid = root / "grid"
    for proc, m in (("clip", 1.0), ("mammut", 1.8)):
        rows = []
        for size, gps in (("s", 4.0), ("m", 12.0), ("l", 40.0)):
            for samples in np.geomspace(1e6, 3e9, 6).astype(int):
                c = gps * samples
                rows.append({"procedure": proc, "model": size, "dataset": "synthetic",
                             "schedule": "cosine", "lr": 1e-3, "batch_size": 16, "warmup": 1,
                             "seed": 0, "samples_seen": int(samples), "gflops_per_sample": gps,
                             "gflops_total": c, "params": 10, "task": "classification",
                             "metric": "acc1", "value": 1 - 20 * (c / m + 3e7) ** -0.2 - 0.1})
        SH.write_shard_rows(grid, f"{proc}-unit", rows)
    SH.collect(grid)
    return grid


@pytest.mark.parametrize("where", ["shards/clip-unit.parquet", "measurements.parquet",
                                   "fit.json", "report"])
def test_outputs_inside_an_input_grid_folder_are_refused(tmp_path, where):
    grid = _grid_folder(tmp_path)
    before = _snapshot(grid)
    if where == "report":
        args = ["report", grid, "--by", "procedure", "--out", grid / "rep", *FAST]
    else:
        args = ["fit", grid, "--json", grid / where, "--law", "power", "--frontier", "none",
                "--n-bootstrap", "20"]
    t0 = time.perf_counter()
    code, _, err = run(*args, "--where", "metric=acc1", "--maximize", "-q", "--force")
    assert code == 2 and time.perf_counter() - t0 < 10, err
    one_error(err, "inside the input folder", str(grid))
    assert _snapshot(grid) == before


def test_a_closed_pipe_drops_the_table_quietly_and_writes_the_files(im, tmp_path):
    """``scalecmp fit ... | head -1``: the reader goes away after one line."""
    js, png = tmp_path / "f.json", tmp_path / "f.png"
    p = subprocess.Popen([sys.executable, "-m", "scalecmp.cli", "fit", str(im), "--maximize",
                          "--by", "model_type", *FAST, "--json", str(js), "--plot", str(png)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    p.wait(timeout=120)
    assert first.strip()
    assert p.returncode == 0, err
    assert all(ln.startswith("scalecmp: warning: ") for ln in err.splitlines()), err
    assert json.loads(js.read_text())["maximize"] is True
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", ["fit", "report"])
@pytest.mark.parametrize("err_no, call", [
    (errno.ENOSPC, "os.fsync"), (errno.EDQUOT, "os.fsync"), (errno.EIO, "os.fsync"),
    (errno.EACCES, "tempfile.mkstemp"), (errno.EROFS, "tempfile.mkstemp"),
])
def test_os_errors_at_output_time_are_one_line_and_leave_nothing(im, tmp_path, monkeypatch,
                                                                  command, err_no, call):
    """A full disk, a quota, an I/O error, a folder made read-only meanwhile: one line
    naming the output, exit 2, no file (whole or not) and no folder the run created."""
    import tempfile as tempfile_mod

    module, name = call.split(".")

    def fails(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(err_no, os.strerror(err_no))

    monkeypatch.setattr({"os": os, "tempfile": tempfile_mod}[module], name, fails)
    new = tmp_path / "new"
    if command == "report":
        args = ["report", im, "--by", "model_type", "--out", new / "rep", *FAST]
    else:
        args = ["fit", im, "--by", "model_type", *FAST, "--json", new / "f.json", "--plot",
                new / "f.png"]
    code, _, err = run(*args, "--maximize", "-q")
    assert code == 2, err
    one_error(err, str(new), os.strerror(err_no))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["im.csv"]


def test_a_file_size_limit_is_one_line_and_leaves_nothing(im, tmp_path):
    """``ulimit -f``: writes beyond the limit fail with EFBIG (SIGXFSZ ignored, as Python
    does)."""
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    r = subprocess.run([sys.executable, "-m", "scalecmp.cli", "fit", str(im), "--maximize",
                        "--by", "model_type", "-q", *FAST, "--json", str(tmp_path / "f.json"),
                        "--plot", str(tmp_path / "f.png")],
                       capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert r.returncode == 2, r.stderr
    one_error(r.stderr, "cannot write", str(tmp_path), "File too large")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["im.csv"]


@pytest.mark.parametrize("length", [300, 250])
def test_a_file_name_too_long_is_refused_before_the_fit(im, tmp_path, length):
    """300 bytes exceed any name; 250 fit the name but not its temporary file's."""
    t0 = time.perf_counter()
    code, _, err = run("fit", im, "--maximize", "-q", "--n-bootstrap", "1000",
                       "--json", tmp_path / ("a" * (length - 5) + ".json"))
    assert code == 2 and time.perf_counter() - t0 < 5, err
    one_error(err, "--json", "file name too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["im.csv"]


def test_standard_output_on_a_full_disk_is_one_line_and_writes_nothing(im, tmp_path):
    js = tmp_path / "f.json"
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "scalecmp.cli", "fit", str(im), "--maximize",
                            "--by", "model_type", *FAST, "--json", str(js)],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    one_error(r.stderr, "cannot write to standard output", "No space left on device")
    assert not js.exists()


def test_json_to_dev_stdout_is_refused_up_front(im):
    r = subprocess.run([sys.executable, "-m", "scalecmp.cli", "fit", str(im), "--maximize",
                        "-q", "--n-bootstrap", "1000", "--json", "/dev/stdout", "--force"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    one_error(r.stderr, "--json", "/dev/stdout", "standard output", "regular files only")
    assert r.stdout == ""


# a grid that trains in seconds on a CPU (as in tests/test_cli_grid.py)
TINY_GRID = """
name: lock
procedures: [clip]
sizes: [xxs]
samples_seen: [32, 64]
lr: 0.003
schedules: [cosine]
batch_size: 16
warmup: 1
data: {type: synthetic, n_shapes: 2, n_colours: 2}
eval: {tasks: [classification], n_per_class: 2}
train: {context_length: 16}
"""


def test_a_grid_folder_in_use_is_refused_naming_its_holder(tmp_path):
    import fcntl

    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY_GRID)
    out = tmp_path / "grid"
    out.mkdir()
    with open(out / ".grid.lock", "w") as held:  # another `grid run` holds the folder
        held.write(json.dumps({"pid": 4242, "host": "node7",
                               "started": "2025-06-01T09:30:00+00:00"}))
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, _, err = run("grid", "run", spec, "--out", out, "-q", "--threads", "1")
    assert code == 2, err
    one_error(err, f"grid folder {out} is in use by another process",
              "pid 4242 on node7, since 2025-06-01T09:30:00")
    assert sorted(p.name for p in out.iterdir()) == [".grid.lock"]  # nothing trained


def test_two_grid_runs_on_one_folder_train_each_cell_once(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY_GRID)
    out = tmp_path / "grid"
    procs = [subprocess.Popen([sys.executable, "-m", "scalecmp.cli", "grid", "run", str(spec),
                               "--out", str(out), "-q", "--threads", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    results = [(p.returncode, o, e) for p, (o, e) in zip(procs, outs, strict=True)]
    new = 0
    for code, stdout, stderr in results:
        assert code in (0, 2), stderr
        if code == 2:  # refused while the other one ran
            one_error(stderr, "is in use by another process (pid ")
        else:
            new += int(re.search(r"\((\d+) new", stdout).group(1))
    assert new == 2  # every cell trained once, by one of the two


def test_the_lock_of_a_dead_grid_run_is_taken_over(tmp_path):
    import socket

    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY_GRID)
    out = tmp_path / "grid"
    out.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    (out / ".grid.lock").write_text(json.dumps({"pid": gone.pid,
                                                "host": socket.gethostname(),
                                                "started": "2025-06-01T09:30:00+00:00"}))
    code, stdout, err = run("grid", "run", spec, "--out", out, "-q", "--threads", "1")
    assert code == 0, err
    assert "2/2 cells done" in stdout
    assert f"taking over the lock of pid {gone.pid}" in err
    assert (out / ".grid.lock").read_text() == ""  # released as it ended


def test_a_grid_folder_that_cannot_be_locked_is_one_line(tmp_path, monkeypatch):
    """A filesystem without locks (ENOLCK): refused in one line, not run unguarded."""
    import fcntl

    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY_GRID)
    real_flock = fcntl.flock

    def no_locks(fd, op):  # noqa: ANN001, ANN202
        if op & fcntl.LOCK_NB:  # the grid folder's lock
            raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", no_locks)
    code, _, err = run("grid", "run", spec, "--out", tmp_path / "grid", "-q", "--threads", "1")
    assert code == 2, err
    one_error(err, "cannot lock grid folder", "No locks available")
    assert not (tmp_path / "grid" / "shards").exists()


# --------------------------------------------------------- issue 18: nothing lost, ever
def _pure_power(tmp_path) -> Path:
    """Accuracies on a pure power law (no floor): every group's saturating fit puts B at
    its bound, with the same words in every group."""
    frame = _frame()
    frame["value"] = 1 - 20 * frame["gflops_total"] ** -0.2
    path = tmp_path / "pure.csv"
    frame.to_csv(path, index=False)
    return path


def test_every_fit_warning_names_its_group(tmp_path):
    """With -q (or stdout redirected) a warning on stderr is all one sees: each names its
    group, and two groups' warnings of the same words are both shown (none is lost)."""
    code, out, err = run("fit", _pure_power(tmp_path), "--by", "model_type", "--maximize",
                         "--law", "saturating", "--n-bootstrap", "0", "-q")
    assert code == 0, err
    assert out == ""
    fit_warnings = [ln for ln in err.splitlines() if "--n-bootstrap is 0" not in ln]
    assert fit_warnings, err
    assert all(ln.startswith("scalecmp: warning: group model_type=") for ln in fit_warnings), err
    for group in ("clip", "mammut"):
        assert any(ln.startswith(f"scalecmp: warning: group model_type={group}: saturating: B = ")
                   and ln.endswith("is at its bound") for ln in fit_warnings), err


def test_an_extrapolate_beyond_the_grids_reach_is_refused_before_the_fit(im, monkeypatch):
    """`--extrapolate 1e300` fitted for seconds, then failed with a message about
    'compute > 0 and finite': refused up front, naming the option and the bound the data
    allow (the bound itself still works)."""
    import scalecmp.compare as cmp_mod

    real_fit = cmp_mod.fit_frame
    calls = []
    monkeypatch.setattr(cmp_mod, "fit_frame", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    code, _, err = run("compare", im, "--by", "model_type", "--maximize", "--extrapolate",
                       "1e300", "-q", *FAST)
    assert code == 2
    line = one_error(err, "--extrapolate 1e300", "1e296")
    assert not calls  # nothing was fitted
    bound = line.split("at most ")[1].split()[0]
    code, _, err = run("compare", im, "--by", "model_type", "--maximize", "--extrapolate",
                       bound, "-q", *FAST)
    assert code == 0, err
    code, _, err = run("compare", im, "--by", "model_type", "--maximize", "--at", "1e297",
                       "-q", *FAST)
    assert code == 2
    one_error(err, "--at values must be <= 1e296, got 1e297")
    frame = pd.read_csv(im)
    with pytest.raises(UsageError, match=r"^extrapolate 1e300 takes the comparison grid"):
        cmp_mod.compare(frame, by="model_type", maximize=True, extrapolate=1e300,
                         law="power_floor", n_bootstrap=20)
    assert len(calls) == 1  # only the run at the bound fitted


def test_too_few_points_says_what_the_engine_requires(tmp_path):
    """A law of p parameters is fitted to p + 1 frontier points (auto fitted power, 2
    parameters, to 3 points), but the message for 2 points asked for 4; and auto with a
    second input fitted chinchilla (5 parameters) to 3 runs, which the pinned law refuses."""
    def table(n: int) -> Path:
        c = np.geomspace(1e9, 1e12, n)
        path = tmp_path / f"n{n}.csv"
        pd.DataFrame({"gflops_total": c, "samples_seen": c / np.array([4.0, 12.0, 40.0])[:n],
                      "gflops_per_sample": np.array([4.0, 12.0, 40.0])[:n],
                      "value": 0.1 + 3 * c ** -0.1}).to_csv(path, index=False)
        return path

    code, _, err = run("fit", table(2), "--n-bootstrap", "0", "-q")
    assert code == 2
    one_error(err, "2 frontier points (of 2) are too few for any law (the smallest, power, "
              "needs >= 3)")
    code, _, err = run("fit", table(3), "--n-bootstrap", "0", "-q", "--json", tmp_path / "f.json")
    assert code == 0, err  # what the message promises
    assert json.loads((tmp_path / "f.json").read_text())["groups"][0]["law_reported"] == "power"
    for law in ("auto", "chinchilla"):
        code, _, err = run("fit", table(3), "--x", "gflops_per_sample", "--x2", "samples_seen",
                           "--law", law, "--n-bootstrap", "0", "-q")
        assert code == 2, (law, err)
        one_error(err, "3 frontier points (of 3) are too few for", "chinchilla", ">= 6")


def test_error_and_warning_lines_are_capped(tmp_path):
    """288 unfittable groups made a 26 KB error line and a 100 KB `--where` value was
    echoed whole: every line is capped, long values cut with the count of what was cut,
    long lists of groups with the count of the groups left out."""
    LINE_LIMIT = 1000  # noqa: N806 - the README's promise: at most 1000 characters a line

    n = 288
    frame = pd.DataFrame({"run": np.repeat(np.arange(n), 2),
                          "gflops_total": np.tile([1e9, 1e10], n),
                          "value": np.tile([0.5, 0.4], n)})
    frame["tag"] = ["t" * 5000 if r == 0 else "short" for r in frame["run"]]
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    code, _, err = run("fit", path, "--by", "run", "--n-bootstrap", "0", "-q")
    assert code == 2
    line = one_error(err, "no group could be fitted (run=0: 2 frontier points",
                     "(+285 more groups)")
    assert len(line) <= len("scalecmp: error: ") + LINE_LIMIT
    assert err.count("scalecmp: warning: group run=") == n  # each group is still named
    code, _, err = run("fit", path, "--by", "tag,run", "--n-bootstrap", "0", "-q")
    assert code == 2
    assert all(len(ln) <= len("scalecmp: warning: ") + LINE_LIMIT for ln in err.splitlines())
    assert re.search(r"group tag=t{76}\.\.\.\(\+4924 characters\), run=0: skipped: 2 frontier",
                     err), err[-2000:]
    huge = "x" * 100_000
    code, _, err = run("fit", path, "--where", f"gflops_total<{huge}", "-q")
    assert code == 2
    line = one_error(err, "--where gflops_total<xxx", "characters)", "is not a number")
    assert len(line) < 400
    code, _, err = run("fit", path, "--where", "tag=" + "a b " * 30_000, "-q")
    assert code == 2
    line = one_error(err, "more characters)")
    assert len(line) <= len("scalecmp: error: ") + LINE_LIMIT


def test_a_line_break_in_the_report_title_stays_in_the_title(im, tmp_path):
    """`report --title "T\\n\\\\input{x}\\n# H"` wrote a raw LaTeX line into report.tex and a
    heading into report.md: the title is folded onto one line (and escaped) in all three."""
    title = "Results\n\\input{/etc/passwd}\r\n# Injected\u2028<b>bold</b>"
    code, _, err = run("report", im, "--out", tmp_path / "r", "--by", "model_type",
                       "--maximize", "--title", title, "-q", *FAST)
    assert code == 0, err
    tex = (tmp_path / "r" / "report.tex").read_text().splitlines()
    assert tex[0] == r"% Results \textbackslash{}input\{/etc/passwd\} \# Injected <b>bold</b>"
    assert not any(ln.startswith("\\input") for ln in tex)
    md = (tmp_path / "r" / "report.md").read_text().splitlines()
    assert md[0] == "# Results \\input{/etc/passwd} # Injected <b>bold</b>"
    assert [ln for ln in md if ln.startswith("# ")] == [md[0]]
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<h1>Results \\input{/etc/passwd} # Injected &lt;b&gt;bold&lt;/b&gt;</h1>" in html


def test_a_symbolic_link_loop_is_called_one(im, tmp_path):
    """A symbolic link loop given as DATA was 'not found' (an output: 'dangling'): each
    says what it is, a loop or a link to nothing."""
    (tmp_path / "a.csv").symlink_to("b.csv")
    (tmp_path / "b.csv").symlink_to("a.csv")
    (tmp_path / "dangling.csv").symlink_to("nowhere.csv")
    (tmp_path / "loopdir").symlink_to("loopdir")
    for data in ("a.csv", "loopdir/x.csv", "loopdir"):
        code, _, err = run("fit", tmp_path / data, "-q")
        assert code == 2
        one_error(err, f"cannot read {tmp_path / data}: it is a symbolic link loop")
    code, _, err = run("fit", tmp_path / "dangling.csv", "-q")
    assert code == 2
    one_error(err, "it is a dangling symbolic link (to nowhere.csv, which does not exist)")
    for out in ("a.csv", "loopdir/x.json"):
        code, _, err = run("fit", im, "--maximize", "--json", tmp_path / out, "--force", "-q",
                           *FAST)
        assert code == 2
        one_error(err, f"--json: {tmp_path / out} is a symbolic link loop")


def test_a_column_in_both_series_and_by_is_refused(im, tmp_path):
    """Found by the fuzz: `report --by model_type,model --series model_type` ended in
    'internal error: ValueError: Grouper for 'model_type' not 1-dimensional'."""
    code, _, err = run("report", im, "--out", tmp_path / "r", "--by", "model_type,model",
                       "--series", "model_type", "--maximize", "-q", *FAST)
    assert code == 2
    one_error(err, "--series: column 'model_type' is also in --by")
    assert not (tmp_path / "r").exists()
    from scalecmp.holdout import holdout_check

    with pytest.raises(UsageError, match=r"^series: column 'model_type' is also in `by`"):
        holdout_check(pd.read_csv(im), by="model_type", series="model_type", maximize=True)
