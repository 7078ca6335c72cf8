"""The command-line contract, one test per probe of issue #7: every bad input ends in one
line ``scalecmp: error: ...`` and exit code 2 (checked before any long work), Ctrl-C in
exit code 130 with one line, outputs replace only regular files and get the umask's mode,
and the analysis commands speak one vocabulary."""

from __future__ import annotations

import json
import os
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
from scalecmp.cli import PARAM_FLAGS, main, to_flags
from scalecmp.errors import DataError, UsageError

FAST = ["--law", "power_floor", "--n-bootstrap", "20"]


def run(*args):
    """The CLI in-process: (exit code, stdout, stderr)."""
    import contextlib
    import io

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


def _interrupt_after(delay: float) -> subprocess.CompletedProcess:
    data = Path(tempfile.mkdtemp(prefix="scalecmp-int-")) / "im.csv"
    _frame().to_csv(data, index=False)
    # the study's exact recipe takes ~30 s per group: the signal always comes mid-run
    p = subprocess.Popen([sys.executable, "-m", "scalecmp.cli", "compare", str(data), "--by",
                          "model_type", "--maximize", "--preset", "laion2025", "--json",
                          str(data.parent / "c.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=data.parent)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
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
