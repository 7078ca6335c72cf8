"""``FitOptions``: one frozen object holding every fit option, its default, preset and
check, checked once per command."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import scalecmp
import scalecmp.cli as cli
from scalecmp.engine import FitOptions, ScalingLawRegressor, fit_options
from scalecmp.engine.options import FIELDS
from scalecmp.errors import UsageError


def test_defaults_and_frozen():
    o = FitOptions()
    assert (o.law, o.loss, o.n_bootstrap, o.level, o.random_state) == (
        "auto", "huber_log", 1000, 0.95, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.level = 0.9  # type: ignore[misc]


@pytest.mark.parametrize("bad, match", [
    ({"law": "nope"}, "nope"),
    ({"loss": "l1"}, "unknown loss"),
    ({"frontier": "hull"}, "unknown frontier"),
    ({"level": 1.5}, "level must lie in"),
    ({"n_bootstrap": 5}, "n_bootstrap must be"),
    ({"random_state": -1}, "random_state"),
    ({"delta": 0.0}, "delta"),
    ({"min_slope_ratio": 1.0}, "min_slope_ratio"),
    ({"mixture": "vote"}, "unknown mixture"),
    ({"starts": "random"}, "unknown starts"),
    ({"n_starts": 0}, "n_starts"),
    ({"preset": "laion2030"}, "unknown preset"),
    ({"preset": "laion2025", "loss": "log"}, "cannot be combined"),
])
def test_every_bad_value_is_one_usage_error(bad, match):
    with pytest.raises(UsageError, match=match):
        FitOptions(**bad)


def test_preset_sets_the_study_recipe():
    o = FitOptions(preset="laion2025")
    assert (o.law, o.loss, o.weighting, o.frontier, o.starts, o.min_slope_ratio,
            o.range_prior) == ("saturating", "ls", "none", "binned", "laion2025-exact", 0.0,
                               False)
    # setting what the preset sets anyway is no conflict
    assert FitOptions(preset="laion2025", law="saturating") == o


def test_with_values_checks_what_changes_and_keeps_the_preset(monkeypatch):
    o = FitOptions(n_bootstrap=200)
    calls = []
    monkeypatch.setattr(FitOptions, "_check", lambda self: calls.append(1))
    p = o.with_values(level=0.9)
    assert (p.level, p.n_bootstrap) == (0.9, 200) and not calls  # no second full check
    with pytest.raises(UsageError, match="level"):
        o.with_values(level=2.0)
    monkeypatch.undo()
    with pytest.raises(UsageError, match="cannot be combined"):
        FitOptions(preset="laion2025").with_values(law="chinchilla")
    with pytest.raises(UsageError, match="unknown fit option 'n_boot'"):
        fit_options(None, n_boot=3)


def test_fields_are_the_regressors_parameters():
    params = ScalingLawRegressor().get_params()
    assert set(params) == set(FIELDS) | {"maximize"}


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    c = np.geomspace(1e8, 1e12, 12)
    rows = []
    for proc, m in (("clip", 1.0), ("mammut", 1.6)):
        err = 30 * (c / m + 1e8) ** -0.2 + 0.1
        rows.append(pd.DataFrame({"procedure": proc, "gflops_total": c,
                                  "samples_seen": c / np.geomspace(5, 80, 12),
                                  "value": 1 - err * np.exp(rng.normal(0, 0.01, 12))}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def counted(monkeypatch):
    """Count full checks of a FitOptions (made from the command's flags)."""
    calls: list[FitOptions] = []
    real = FitOptions._check

    def counting(self: FitOptions) -> None:
        calls.append(self)
        real(self)

    monkeypatch.setattr(FitOptions, "_check", counting)
    return calls


@pytest.mark.parametrize("command", [
    ["fit", "--predict-at", "1e13"],
    ["compare", "--at", "1e12"],
    ["optimal", "--predict-at", "1e13"],
    ["report", "--series", "procedure"],
    ["next", "--at", "1e13"],
])
def test_options_are_checked_once_per_command(command, counted, tmp_path, capsys):
    data = tmp_path / "m.csv"
    _data().to_csv(data, index=False)
    name, *rest = command
    extra = ["--out", str(tmp_path / "r")] if name == "report" else []
    by = [] if name == "report" else ["--by", "procedure"]
    with pytest.raises(SystemExit) as exc:
        cli.main([name, str(data), "--maximize", *by, "--n-bootstrap", "20", "-q", *rest,
                  *extra])
    assert exc.value.code == 0, capsys.readouterr().err
    assert len(counted) == 1, f"{name}: FitOptions checked {len(counted)} times"


def test_the_library_checks_once_too(counted):
    res = scalecmp.fit(_data(), x="gflops_total", y="value", by="procedure", maximize=True,
                       n_bootstrap=20)
    assert len(res) == 2 and len(counted) == 1
    assert res.options.n_bootstrap == 20 and res.n_bootstrap == 20
