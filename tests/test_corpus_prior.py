"""The corpus prior (``pooling="corpus"``, scalecmp.engine.corpus_prior): learnt on the
development corpus, shipped with the package, every family left out on request."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scalecmp
from scalecmp.engine import corpus_prior as cp
from scalecmp.engine.corpus_prior import (
    CORPUS_FAMILIES,
    check_corpus_exclude,
    corpus_prior,
    family_summary,
)
from scalecmp.errors import UsageError


def _series(n: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e8, 1e10, n)
    y = ((x / 1e8) ** -0.3 + 0.1) * np.exp(rng.normal(0, 0.02, n))
    return pd.DataFrame({"c": x, "loss": y})


def _fit(frame: pd.DataFrame, **kw) -> scalecmp.FitResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scalecmp.fit(frame, x="c", y="loss", n_bootstrap=60, **kw)


def test_the_package_ships_every_family_of_the_corpus_with_where_it_came_from():
    assert set(CORPUS_FAMILIES) == {"m4_lang", "misfitting", "misfitting_ckpt", "pythia",
                                    "obsscaling", "laion2025"}
    for fam in CORPUS_FAMILIES:
        entry = cp.FAMILIES[fam]
        assert entry["n_series"] >= 2 and len(entry["mean"]) == 2
    assert "benchmarks/corpus_prior.py" in cp.describe() and "laion2025" in cp.describe()


def test_a_family_left_out_does_not_touch_the_prior(monkeypatch):
    before = corpus_prior(("m4_lang",))
    changed = dict(cp.FAMILIES)
    changed["m4_lang"] = {**changed["m4_lang"], "mean": [5.0, -9.0]}
    monkeypatch.setattr(cp, "FAMILIES", changed)
    assert corpus_prior(("m4_lang",)) == before
    assert corpus_prior() != corpus_prior(("m4_lang",))


def test_families_that_disagree_give_a_wide_prior_and_every_family_counts_once(monkeypatch):
    def fam(m, w=0.01, t2=0.05):
        return {"n_series": 10, "mean": [m, m], "var_mean": [w, w], "t2": [t2, t2]}

    monkeypatch.setattr(cp, "FAMILIES", {"a": fam(-2.0), "b": fam(-2.1), "c": fam(-1.9)})
    monkeypatch.setattr(cp, "CORPUS_FAMILIES", ("a", "b", "c"))
    mean_agree, sd_agree = corpus_prior()
    # a family known to 1e-12 does not set the mean alone (each family counts once)
    monkeypatch.setattr(cp, "FAMILIES", {"a": fam(-2.0), "b": fam(-4.0, w=1e-12),
                                         "c": fam(0.0)})
    mean_far, sd_far = corpus_prior()
    assert mean_agree[0] == pytest.approx(-2.0)
    assert mean_far[0] == pytest.approx(-2.0)
    assert sd_far[0] > 5 * sd_agree[0]
    assert sd_agree[0] == pytest.approx(np.sqrt(0.0 + 0.05 + 0.01 / 3), rel=1e-6)


def test_a_family_summary_is_the_random_effects_mean_of_its_series():
    rng = np.random.default_rng(0)
    u = np.c_[rng.normal(-2.0, 0.3, 40), rng.normal(-0.5, 0.1, 40)]
    v = np.full((40, 2), 0.01)
    s = family_summary(np.r_[u, [[np.nan, 0.0]]], np.r_[v, [[0.01, 0.01]]])
    assert s["n_series"] == 40  # the non-finite row left out
    np.testing.assert_allclose(s["mean"], u.mean(axis=0), atol=1e-9)
    assert np.sqrt(s["t2"][0]) == pytest.approx(0.3, rel=0.3)
    with pytest.raises(ValueError, match=">= 2 series"):
        family_summary(u[:1], v[:1])


@pytest.mark.parametrize("bad, match", [
    ("laion2025", "must be a list of family names"),
    (["nope"], "unknown family 'nope'"),
    (list(CORPUS_FAMILIES[1:]), "leaves fewer than 2 families"),
])
def test_bad_exclusions_are_one_clear_error(bad, match):
    with pytest.raises(UsageError, match=match):
        check_corpus_exclude(bad)
    with pytest.raises(UsageError, match=match):
        scalecmp.FitOptions(pooling="corpus", corpus_exclude=bad)


def test_one_series_gets_the_corpus_prior_and_it_travels_with_the_result():
    res = _fit(_series(), pooling="corpus", corpus_exclude=["laion2025"])
    g = res.groups[0]
    mean, sd = corpus_prior(("laion2025",))
    assert g.pooled_prior is not None and g.pooled_prior.source == "corpus"
    assert g.pooled_prior.mean == mean and g.pooled_prior.sd == sd
    assert res.options.corpus_exclude == ("laion2025",)
    d = g.to_dict()["pooled_prior"]
    assert d["source"] == "corpus"
    json.dumps(d)
    assert "pooled prior from the development corpus" in g.report()
    plain = _fit(_series()).groups[0]
    assert plain.pooled_prior is None
    # the prior is in the fit: the prediction two decades beyond the data moves
    assert float(g.predict([1e12])[0]) != pytest.approx(float(plain.predict([1e12])[0]),
                                                         rel=1e-6)


def test_the_command_line_takes_the_corpus_prior_and_refuses_an_unknown_family(tmp_path):
    from cli_run import one_error, run

    data = tmp_path / "series.csv"
    _series().to_csv(data, index=False)
    out = tmp_path / "fit.json"
    code, _, err = run("fit", data, "--x", "c", "--y", "loss", "--pooling", "corpus",
                       "--corpus-exclude", "laion2025,pythia", "--n-bootstrap", "50",
                       "--json", out, "-q")
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["pooling"] == "corpus" and doc["corpus_exclude"] == ["laion2025", "pythia"]
    prior = doc["groups"][0]["pooled_prior"]
    assert prior["source"] == "corpus"
    assert tuple(prior["mean"]) == corpus_prior(("laion2025", "pythia"))[0]
    code, _, err = run("fit", data, "--x", "c", "--y", "loss", "--pooling", "corpus",
                       "--corpus-exclude", "webtext")
    assert code == 2
    one_error(err, "--corpus-exclude: unknown family 'webtext'")
    code, _, err = run("fit", data, "--x", "c", "--y", "loss", "--corpus-exclude", "pythia")
    assert code == 2
    one_error(err, "--corpus-exclude applies only with --pooling corpus (the pooling here "
                   "is 'none')")


def test_an_exclusion_without_the_corpus_prior_is_refused():
    with pytest.raises(UsageError, match="applies only with `pooling` corpus"):
        scalecmp.FitOptions(pooling="series", corpus_exclude=("pythia",))
    assert scalecmp.FitOptions(pooling="series").corpus_exclude == ()
