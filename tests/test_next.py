"""``scalecmp next`` (:mod:`scalecmp.acquire`): behaviour where the right answer is known,
the budget, the greedy batch, bad inputs (one line, exit 2, before any fit), the JSON
contract, determinism; and the engine's ``data_end`` / replicate accessors it rests on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import scalecmp
from cli_run import one_error, run
from scalecmp.acquire import (
    OBJECTIVES,
    NextResult,
    check_candidates,
    default_candidates,
    next_runs,
)
from scalecmp.errors import DataError, UsageError

SIZES = tuple(np.geomspace(2.0, 200.0, 5))  # GFLOPs per sample; the optimal split inside
SAMPLES = np.geomspace(1e6, 1e8, 5)
TARGET = 1e12
FAST = {"law": "saturating", "n_bootstrap": 200}


def surface(n, d, e):
    """A Chinchilla surface (N GFLOPs per sample, D samples): off the compute-optimal split
    a run is worse than the frontier at its compute."""
    return e + 0.9 * np.asarray(n, float) ** -0.35 + 60.0 * np.asarray(d, float) ** -0.33


def optimal_split(c, e=0.2):
    n = np.geomspace(1e-2, 1e5, 4001)
    return float(n[np.argmin(surface(n, c / n, e))])


def make_frame(seed: int = 0, floors=(0.20, 0.22)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for proc, e in zip(("clip", "mammut"), floors, strict=True):
        for k, n in enumerate(SIZES):
            for d in SAMPLES:
                err = surface(n, d, e) * np.exp(rng.normal(0.0, 0.01))
                rows.append({"model_type": proc, "model": f"m{k}", "samples_seen": d,
                             "gflops_per_sample": n, "gflops_total": n * d,
                             "value": 1.0 - min(err, 0.99)})
    return pd.DataFrame(rows)


def cand(rows) -> pd.DataFrame:
    """Candidate rows (group, gflops per sample, samples) -> a candidate table."""
    return pd.DataFrame([{"model_type": g, "model": f"n{n:.3g}", "samples_seen": d,
                          "compute": n * d} for g, n, d in rows])


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def fitted(frame):
    return scalecmp.fit(frame, x="gflops_total", y="value", by="model_type", maximize=True,
                        random_state=0, **FAST)


# --------------------------------------------------------------------------- behaviour
def test_a_run_near_the_target_is_worth_more_than_a_cheap_run_far_below(fitted):
    near_c, far_c = 5e11, 1e8
    near = ("clip", optimal_split(near_c), near_c / optimal_split(near_c))
    far = ("clip", optimal_split(far_c), far_c / optimal_split(far_c))
    r = next_runs(fitted, at=[TARGET], candidates=cand([near, far]))
    rows = {round(c["compute"], -6): c for c in r.candidates}
    n, f = rows[round(near_c, -6)], rows[round(far_c, -6)]
    assert n["gain"] > 0
    assert n["expected_width"] < f["expected_width"]
    assert n["gain"] > 2 * max(f["gain"], 0.0)
    assert n["gain"] < r.current["width"]


def test_a_run_on_the_optimal_split_beats_one_far_off_it_at_the_same_compute(fitted):
    c = 2e11
    on = ("mammut", optimal_split(c), c / optimal_split(c))
    off = ("mammut", 2.0, c / 2.0)  # the smallest model trained 20x longer than measured
    r = next_runs(fitted, at=[TARGET], candidates=cand([on, off]))
    a, b = sorted(r.candidates, key=lambda row: row["gflops_per_sample"], reverse=True)
    assert a["compute"] == pytest.approx(b["compute"])
    assert a["p_frontier"] > b["p_frontier"]
    assert a["gain"] > b["gain"]
    assert a["predicted"] > b["predicted"]  # the gap model: off the split is worse


def test_a_decisive_run_can_change_the_verdict(fitted):
    r = next_runs(fitted, at=[TARGET], candidates=cand([
        ("clip", optimal_split(TARGET), TARGET / optimal_split(TARGET)),
        ("mammut", optimal_split(TARGET), TARGET / optimal_split(TARGET)),
        ("clip", optimal_split(1e8), 1e8 / optimal_split(1e8))]), budget=2.1 * TARGET)
    assert r.current["verdicts"][0]["better"] is None  # inconclusive 100x beyond the data
    assert r.batch_summary["p_verdict_change"] > 0.2
    assert r.batch_summary["expected_width"] < 0.5 * r.current["width"]


def test_budget_is_respected_and_the_batch_is_greedy(fitted):
    budget = 4e10
    r = next_runs(fitted, at=[TARGET], budget=budget)
    assert r.batch, "some next rung fits the budget"
    spent = sum(p["compute"] for p in r.batch)
    assert spent <= budget * (1 + 1e-12)
    assert r.batch_summary["compute"] == pytest.approx(spent)
    widths = [p["batch_width"] for p in r.batch]
    assert all(b < a for a, b in zip([r.current["width"], *widths], widths, strict=False))
    # the first pick is the best candidate that the budget affords
    affordable = [c for c in r.candidates if c["compute"] <= budget]
    assert (r.batch[0]["model"], r.batch[0]["samples"]) == (affordable[0]["model"],
                                                            affordable[0]["samples"])
    # a budget below the cheapest candidate is refused before any fit
    with pytest.raises(UsageError, match="below the cheapest candidate"):
        next_runs(fitted, at=[TARGET], budget=1.0)


def test_the_second_pick_is_valued_given_the_first(fitted):
    c = 3e11
    twin = ("clip", optimal_split(c), c / optimal_split(c))
    r = next_runs(fitted, at=[TARGET], candidates=cand([twin, twin]), budget=2.01 * c)
    assert len(r.batch) == 2
    marginal = r.candidates[1]["gain"]  # the twin alone
    conditional = r.batch[0]["batch_width"] - r.batch[1]["batch_width"]
    assert marginal > 0
    assert conditional < 0.6 * marginal  # a second measurement of the same run tells less
    # with lasts, a repeat of the same run lasts only where it beats its twin: bought once
    r2 = next_runs(fitted, at=[TARGET], candidates=cand([twin, twin]), budget=2.01 * c,
                   lasts=0.5)
    assert [row["lasts"] for row in r2.candidates] == [True, False]
    assert len(r2.batch) == 1
    # a run beside one just bought tells less too
    beside = ("clip", optimal_split(1.5 * c), 1.5 * c / optimal_split(1.5 * c))
    r3 = next_runs(fitted, at=[TARGET], candidates=cand([twin, beside]), budget=2.51 * c,
                   lasts=0.5)
    assert len(r3.batch) == 2 and all(row["lasts"] for row in r3.candidates)
    marginal = next(row["gain"] for row in r3.candidates if row["compute"] > 1.2 * c)
    assert r3.batch[0]["batch_width"] - r3.batch[1]["batch_width"] < 0.6 * marginal
    # without a budget, the batch is the best candidate alone
    r1 = next_runs(fitted, at=[TARGET], candidates=cand([twin, twin]))
    assert len(r1.batch) == 1 and r1.batch_summary["budget"] is None


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_objective_ranks_and_runs_off_the_split_gain_less(fitted, objective):
    c = 2e11
    r = next_runs(fitted, at=[TARGET], objective=objective, candidates=cand([
        ("clip", optimal_split(c), c / optimal_split(c)), ("clip", 2.0, c / 2.0)]))
    assert r.unit == ("decades" if objective in ("multiplier", "dopt") else "metric")
    assert r.current["width"] > 0
    on, off = sorted(r.candidates, key=lambda row: -row["gflops_per_sample"])
    assert on["gain"] >= off["gain"]
    gains = [row["gain_per_gflop"] for row in r.candidates]
    assert gains == sorted(gains, reverse=True)  # lasts = 0: every run lasts
    assert all(row["lasts"] and 0 <= row["p_final"] <= row["p_frontier"]
               for row in r.candidates)


def test_p_final_is_the_chance_to_stay_on_the_frontier_once_all_candidates_are_in(fitted):
    """A run with no cheaper candidate of its group keeps p_frontier; one that a cheaper,
    better-placed candidate of its group would beat lasts less; another group's candidates
    change nothing; the runs that last come first, and the batch is bought among them."""
    c = 2e11
    on = ("clip", optimal_split(c), c / optimal_split(c))  # on the optimal split
    off = ("clip", 2.0, 1.05 * c / 2.0)  # 5% dearer, the smallest model: far off the split
    alone = next_runs(fitted, at=[TARGET], candidates=cand([off]), lasts=0.5)
    both = next_runs(fitted, at=[TARGET], candidates=cand([on, off]), lasts=0.5)
    rows = {row["gflops_per_sample"]: row for row in both.candidates}
    r_on, r_off = rows[optimal_split(c)], rows[2.0]
    assert r_on["p_final"] == pytest.approx(r_on["p_frontier"])  # no cheaper candidate
    assert alone.candidates[0]["p_final"] == pytest.approx(alone.candidates[0]["p_frontier"])
    assert r_off["p_final"] < 0.5 * max(r_off["p_frontier"], 1e-9) or r_off["p_frontier"] == 0
    assert r_off["p_final"] <= r_off["p_frontier"]
    # the other group's candidates do not enter a group's p_final
    mixed = next_runs(fitted, at=[TARGET], candidates=cand([
        off, ("mammut", optimal_split(c), c / optimal_split(c))]))
    m_off = next(r for r in mixed.candidates if r["group"]["model_type"] == "clip")
    assert m_off["p_final"] == pytest.approx(m_off["p_frontier"])
    # a run that does not last is ranked after one that does, whatever its gain, and the
    # batch is bought among the runs that last while one of them helps
    assert r_on["lasts"] and not r_off["lasts"]
    assert [r["p_final"] >= 0.5 for r in both.candidates] == [True, False]
    b = next_runs(fitted, at=[TARGET], candidates=cand([on, off]), budget=2.2 * c,
                  lasts=0.5)
    assert [p["gflops_per_sample"] for p in b.batch] == [optimal_split(c)]
    assert b.batch_summary["rule"].endswith("runs that last")


def test_p_final_within_a_tolerance_counts_a_near_tie_as_lasting(fitted, monkeypatch):
    """benchmarks/next_rules.py's tolerance: p_final with tol > 0 is never below the strict
    one, and two equal runs that split the strict chance both last within the noise."""
    from scalecmp import acquire

    seen = {}
    greedy = acquire._greedy

    def spy(sim, *args):
        seen["sim"] = sim
        return greedy(sim, *args)

    monkeypatch.setattr(acquire, "_greedy", spy)
    c = 2e11
    twin = ("clip", optimal_split(c), c / optimal_split(c))
    next_runs(fitted, at=[TARGET], candidates=cand([twin, twin]))
    sim = seen["sim"]
    strict, loose = sim._p_final(), sim._p_final(tol=1.0)
    assert np.array_equal(strict, sim.p_final)
    assert (loose >= strict).all()
    assert strict[1] < 0.75 * strict[0]  # the second twin lasts only where it beats the first
    assert loose[1] > strict[1]


def test_where_no_run_that_lasts_helps_the_batch_is_the_best_affordable_run_alone(fitted):
    budget = 4e10
    r = next_runs(fitted, at=[TARGET], budget=budget, lasts=1.0)
    assert not any(row["lasts"] for row in r.candidates)  # none is on top in every draw
    assert len(r.batch) == 1
    helps = [row for row in r.candidates if row["gain"] > 0 and row["compute"] <= budget]
    best = max(helps, key=lambda row: row["gain_per_gflop"])
    assert (r.batch[0]["model"], r.batch[0]["samples"]) == (best["model"], best["samples"])
    assert "none that lasts helps" in r.batch_summary["rule"]
    # lasts = 0, the default, is the plain rule: a budget's worth by gain per GFLOP
    r0 = next_runs(fitted, at=[TARGET], budget=budget)
    assert r0.lasts == 0.0 and all(row["lasts"] for row in r0.candidates)
    assert len(r0.batch) >= 2 and "last" not in r0.batch_summary["rule"]
    g = [row["gain_per_gflop"] for row in r0.candidates]
    assert g == sorted(g, reverse=True)
    for bad in (-0.1, 1.5, float("nan"), "half", True):
        with pytest.raises(UsageError, match="lasts must be a probability"):
            next_runs(fitted, at=[TARGET], lasts=bad)


def test_a_run_that_cannot_join_the_frontier_changes_nothing(fitted):
    bad = ("clip", 2.0, 3e10)  # 30x the largest measured samples on the smallest model
    r = next_runs(fitted, at=[TARGET], candidates=cand([bad]))
    row = r.candidates[0]
    if row["p_frontier"] == 0:
        assert row["gain"] == 0.0 and row["expected_width"] == r.current["width"]
    assert row["p_frontier"] < 0.2


# --------------------------------------------------------------------------- candidates
def test_default_candidates_are_the_next_rungs(frame):
    c = default_candidates(frame, by="model_type")
    for proc in ("clip", "mammut"):
        mine = c[c.model_type == proc]
        nxt = mine[mine.source == "next samples"]
        assert sorted(nxt.model) == ["m0", "m1", "m2", "m3", "m4"]  # every size, one step on
        step = SAMPLES[1] / SAMPLES[0]
        assert np.allclose(nxt.samples, SAMPLES[-1] * step)
        big = mine[mine.source == "next size"]
        assert len(big) == len(SAMPLES) and set(big.model) == {"m4+1"}
        assert np.allclose(big.gflops_per_sample, SIZES[-1] * SIZES[1] / SIZES[0])  # the ladder
        assert np.allclose(big.compute, big.gflops_per_sample * big.samples)
    # a measured cell is never a candidate
    sub = frame[~((frame.model == "m0") & (frame.samples_seen > SAMPLES[2] * 1.01))]
    c2 = default_candidates(sub, by="model_type")
    m0 = c2[(c2.model == "m0") & (c2.model_type == "clip")]
    assert np.allclose(m0.samples, SAMPLES[3])


def test_candidate_tables_are_checked():
    with pytest.raises(DataError, match="no column 'compute'"):
        check_candidates(pd.DataFrame({"model_type": ["clip"], "samples_seen": [1e9]}),
                         by=["model_type"])
    with pytest.raises(DataError, match=r"must be a number > 0 in every row; row 2"):
        check_candidates(pd.DataFrame({"model_type": ["clip", "clip"], "samples_seen": [1, 1],
                                       "compute": [1e9, -1]}), by=["model_type"])
    out = check_candidates(pd.DataFrame({"model_type": ["clip"], "samples_seen": [1e9],
                                         "compute": [4e10]}), by=["model_type"])
    assert out.gflops_per_sample.iloc[0] == pytest.approx(40.0)


def test_library_errors_name_their_parameters(frame, fitted):
    with pytest.raises(UsageError, match="^at: next needs"):
        next_runs(frame, by="model_type", maximize=True, **FAST)
    with pytest.raises(UsageError, match="^objective: unknown objective 'x'"):
        next_runs(fitted, at=[TARGET], objective="x")
    with pytest.raises(UsageError, match=r"^n_draws must lie in \[10, `n_bootstrap` = 200\]"):
        next_runs(fitted, at=[TARGET], n_draws=500)
    with pytest.raises(DataError, match="^candidates: group nope has no measurements"):
        next_runs(fitted, at=[TARGET], candidates=cand([("nope", 2.0, 1e9)]))
    with pytest.raises(DataError, match="^samples: no column 'steps'"):
        next_runs(frame, by="model_type", maximize=True, at=[TARGET], samples="steps", **FAST)
    with pytest.raises(UsageError, match="^by: next needs"):
        next_runs(frame, maximize=True, at=[TARGET], **FAST)
    with pytest.raises(UsageError, match="two inputs"):
        next_runs(frame, by="model_type", maximize=True, at=[TARGET], law="chinchilla")


# --------------------------------------------------------------------------- the result
def test_result_object_frames_and_determinism(fitted):
    r1 = next_runs(fitted, at=[TARGET], budget=5e10)
    r2 = next_runs(fitted, at=[TARGET], budget=5e10)
    assert isinstance(r1, NextResult)
    assert json.dumps(r1.to_dict(), sort_keys=True, default=str) == \
        json.dumps(r2.to_dict(), sort_keys=True, default=str)
    f = r1.to_frame()
    assert list(f.columns[:6]) == ["model_type", "rank", "model", "samples",
                                   "gflops_per_sample", "compute"]
    assert list(f["rank"]) == list(range(1, len(f) + 1))
    assert len(r1.batch_frame()) == len(r1.batch)
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        r1.objective = "dopt"


def test_seed_changes_the_draws(frame):
    res = [scalecmp.fit(frame, x="gflops_total", y="value", by="model_type", maximize=True,
                        random_state=s, **FAST) for s in (0, 1)]
    w = [next_runs(r, at=[TARGET]).candidates[0]["expected_width"] for r in res]
    assert w[0] != w[1]


def test_frame_and_fitresult_give_the_same_ranking(frame, fitted):
    a = next_runs(frame, by="model_type", maximize=True, at=[TARGET], random_state=0, **FAST)
    b = next_runs(fitted, at=[TARGET])
    assert [c["gain"] for c in a.candidates] == [c["gain"] for c in b.candidates]


# --------------------------------------------------------------------------- the engine
def test_data_end_moves_the_tilt_and_the_accessors_match(fitted):
    g = fitted.groups[0]
    x = np.array([1e9, 1e11, 1e12])
    base = g.error_replicates(x)
    assert np.array_equal(base, g.error_replicates(x, data_end=g.x_range[1]))
    flat = g.error_replicates(x, data_end=np.inf)
    tilts = g.fit.replicate_tilts()
    d = np.maximum(np.log(x) - np.log(g.x_range[1]), 0.0)
    assert np.allclose(base, flat * np.exp(tilts[:, None] * d[None, :]))
    assert np.array_equal(flat[:, 0], base[:, 0])  # inside the data there is no tilt
    members = g.fit.replicate_members()
    assert len(members) == len(tilts) == g.n_replicates
    assert set(members) <= set(range(len(g.members)))
    mid = g.error_replicates(x, data_end=1e11)
    assert np.allclose(mid[:, 1], flat[:, 1])
    assert not np.allclose(mid[:, 2], flat[:, 2])


# --------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def im(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("next") / "im.csv"
    make_frame().to_csv(path, index=False)
    return path


CLI_FAST = ["--law", "saturating", "--n-bootstrap", "200"]


def test_cli_outputs(im, tmp_path):
    js, png, specs = tmp_path / "n.json", tmp_path / "n.png", tmp_path / "specs"
    code, out, err = run("next", im, "--by", "model_type", "--maximize", "--at", "1e12",
                         "--budget", "4e10", "--json", js, "--plot", png, "--spec-out", specs,
                         *CLI_FAST)
    assert code == 0, err
    assert "Candidates, by expected gain per GFLOP" in out and "Batch (greedy by gain" in out
    d = json.loads(js.read_text())
    assert {"groups", "x", "y", "maximize", "next"} <= set(d)
    n = d["next"]
    assert {"objective", "unit", "at", "level", "n_draws", "budget", "method", "current",
            "candidates", "batch", "gap_models"} <= set(n)
    assert n["at"] == [1e12] and n["objective"] == "difference" and n["budget"] == 4e10
    c0 = n["candidates"][0]
    assert {"rank", "group", "model", "samples", "gflops_per_sample", "compute", "source",
            "predicted", "p_frontier", "p_final", "lasts", "expected_width", "width_se",
            "gain", "gain_per_gflop", "p_verdict_change", "ess"} <= set(c0)
    assert {"budget", "compute", "n_runs", "expected_width", "width_now",
            "p_verdict_change", "picks"} <= set(n["batch"])
    assert n["batch"]["compute"] <= 4e10
    assert png.stat().st_size > 10_000
    files = sorted(specs.glob("next-*.yaml"))
    assert files and sum(len(yaml.safe_load(f.read_text())["samples_seen"])
                         for f in files) == n["batch"]["n_runs"]
    doc = yaml.safe_load(files[0].read_text())
    assert set(doc) == {"procedures", "sizes", "samples_seen"}
    # again without --force: the fragments are refused before any work
    t0 = time.perf_counter()
    code, _, err = run("next", im, "--by", "model_type", "--maximize", "--at", "1e12",
                       "--spec-out", specs, *CLI_FAST)
    assert code == 2 and time.perf_counter() - t0 < 5
    one_error(err, "--spec-out", "earlier fragment", "--force")


def test_cli_is_deterministic_and_quiet(im, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for p in (a, b):
        code, out, err = run("next", im, "--by", "model_type", "--maximize", "--at", "1e12",
                             "--seed", "3", "--json", p, "-q", *CLI_FAST)
        assert code == 0, err
        assert out == ""
    assert a.read_text() == b.read_text()


def test_cli_lasts(im, tmp_path):
    js, png = tmp_path / "n.json", tmp_path / "n.png"
    code, out, err = run("next", im, "--by", "model_type", "--maximize", "--at", "1e12",
                         "--budget", "4e10", "--lasts", "0.5", "--json", js, "--plot", png,
                         *CLI_FAST)
    assert code == 0, err
    assert png.stat().st_size > 10_000
    assert "the runs with P(final) >= 0.5 first" in out and "P(final)" in out
    n = json.loads(js.read_text())["next"]
    assert n["lasts"] == 0.5
    ranks = [not c["lasts"] for c in n["candidates"]]
    assert ranks == sorted(ranks)  # the runs that last first
    assert all(c["lasts"] == (c["p_final"] >= 0.5) for c in n["candidates"])


@pytest.mark.parametrize("args, needles", [
    ([], ["--at: next needs"]),
    (["--at", "0"], ["--at values must be > 0"]),
    (["--at", "1e12", "--objective", "width"], ["--objective: unknown objective 'width'"]),
    (["--at", "1e12", "--budget", "-1"], ["--budget must be > 0"]),
    (["--at", "1e12", "--budget", "10"], ["--budget", "below the cheapest candidate"]),
    (["--at", "1e12", "--n-draws", "5"], ["--n-draws must lie in [10, --n-bootstrap = 1000]"]),
    (["--at", "1e12", "--n-bootstrap", "10"], ["--n-bootstrap must be"]),
    (["--at", "1e12", "--law", "chinchilla"], ["two inputs"]),
    (["--at", "1e12", "--plot", "x.gif"], ["unknown figure type"]),
    (["--at", "1e12", "--samples", "steps"], ["--samples: no column 'steps'"]),
    (["--at", "1e12", "--model-col", "arch"], ["--model-col: no column 'arch'"]),
    (["--at", "1e12", "--candidates", "/nonexistent/c.csv"], ["--candidates: file not found"]),
    (["--at", "1e12", "--level", "1.5"], ["--level must lie in (0, 1)"]),
    (["--at", "1e12", "--lasts", "1.5"], ["--lasts must be a probability in [0, 1]"]),
])
def test_cli_bad_inputs_one_line_exit_2_before_the_fit(im, tmp_path, args, needles):
    t0 = time.perf_counter()
    # the base's --n-bootstrap and --law, unless the case gives its own (once: an option
    # given twice is itself refused)
    base = [a for opt, value in (("--n-bootstrap", "1000"), ("--law", "saturating"))
            if opt not in args for a in (opt, value)]
    code, _, err = run("next", im, "--by", "model_type", "--maximize", *base, *args)
    assert code == 2
    assert time.perf_counter() - t0 < 5, "refused before the fit"
    one_error(err, *needles)


def test_cli_bad_candidate_tables(im, tmp_path):
    bad = tmp_path / "c.csv"
    pd.DataFrame({"model_type": ["clip"], "samples_seen": [1e9]}).to_csv(bad, index=False)
    code, _, err = run("next", im, "--by", "model_type", "--maximize", "--at", "1e12",
                       "--candidates", bad, *CLI_FAST)
    assert code == 2
    one_error(err, "--candidates: no column 'compute'")
    other = tmp_path / "d.csv"
    pd.DataFrame({"model_type": ["siglip"], "samples_seen": [1e9], "compute": [1e11]}
                 ).to_csv(other, index=False)
    code, _, err = run("next", im, "--by", "model_type", "--maximize", "--at", "1e12",
                       "--candidates", other, *CLI_FAST)
    assert code == 2
    one_error(err, "--candidates: group siglip has no measurements")
    code, _, err = run("next", im, "--maximize", "--at", "1e12", *CLI_FAST)
    assert code == 2
    one_error(err, "--by: next needs")
    code, _, err = run("next", im, "--by", "model_type", "--maximize", "--at", "1e12",
                       "--spec-out", bad, *CLI_FAST)
    assert code == 2
    one_error(err, "--spec-out must be a directory, got a file")
    with pytest.raises(UsageError, match="^where: a FitResult is used as it was fitted"):
        next_runs(scalecmp.fit(make_frame(), x="gflops_total", y="value", by="model_type",
                               maximize=True, **FAST), at=[TARGET], where=["model=m0"])


def test_cli_with_a_grid_spec_writes_complete_specs(tmp_path):
    from scalecmp.cli.acquire import ladder_name
    from scalecmp.experiments.spec import load_spec

    rng = np.random.default_rng(0)
    samples = [12288, 16384, 24576, 32768, 49152, 65536]
    rows = []
    for proc, m in (("clip", 1.0), ("mammut", 1.5)):
        for size, f in (("xxs", 0.0025), ("xs", 0.0062)):
            for s in samples:
                c = f * s * m
                err = 0.1 + 1.5 * c**-0.3 * (1 + 0.1 * np.log(f / 0.004) ** 2)
                rows.append({"procedure": proc, "model": size, "samples_seen": s,
                             "gflops_total": c, "value": 1 - err * np.exp(rng.normal(0, .01))})
    data = tmp_path / "grid.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    spec = tmp_path / "bigger.yaml"
    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" /
                           "demo_grid_more.yaml").read_text())
    assert base["samples_seen"] == [*samples, 98304, 131072]
    spec.write_text(yaml.safe_dump(base))
    out = tmp_path / "specs"
    js = tmp_path / "n.json"
    code, _, err = run("next", data, "--by", "procedure", "--maximize", "--at", "2e3",
                       "--candidates", spec, "--budget", "2e3", "--spec-out", out,
                       "--json", js, "--law", "power_floor", "--n-bootstrap", "200")
    assert code == 0, err
    cands = json.loads(js.read_text())["next"]["candidates"]
    assert len(cands) == 8 and {c["source"] for c in cands} == {"spec"}
    assert {c["samples"] for c in cands} == {98304.0, 131072.0}
    frags = sorted(out.glob("next-*.yaml"))
    assert frags
    for f in frags:
        parsed = load_spec(f)  # complete: grid run reads it as it is
        assert parsed.samples_seen and set(parsed.samples_seen) <= {98304, 131072}
        assert parsed.data["n_shapes"] == base["data"]["n_shapes"]
        assert parsed.cosine_check is False
    code, dry, err = run("grid", "run", frags[0], "--out", tmp_path / "g", "--dry-run")
    assert code == 0, err
    assert "unit" in dry
    # a size the data never measured has no compute per sample: refused before the fit
    base["sizes"] = ["xxs", "s"]
    spec.write_text(yaml.safe_dump(base))
    code, _, err = run("next", data, "--by", "procedure", "--maximize", "--at", "2e3",
                       "--candidates", spec, "--law", "power_floor", "--n-bootstrap", "200")
    assert code == 2
    one_error(err, "no measured GFLOPs per sample for clip size 's'")
    assert ladder_name("xs+1") == "s8" and ladder_name("xl+1") == "xl+1"  # compute order
    assert ladder_name("vit-s-16+1") == "vit-b-16" and ladder_name("ViT-H-14+1") == \
        "ViT-H-14+1"
