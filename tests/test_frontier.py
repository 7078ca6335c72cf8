import numpy as np
import pytest

from scalecmp.engine.frontier import binned_frontier, frontier_mask, naive_frontier
from scalecmp.errors import UsageError


def test_naive_frontier_keeps_points_better_than_every_cheaper_one():
    x = np.array([1, 2, 3, 4, 5, 6], float)
    e = np.array([0.9, 0.95, 0.8, 0.85, 0.5, 0.5])
    assert naive_frontier(x, e).tolist() == [True, False, True, False, True, False]


def test_naive_frontier_takes_the_best_of_equal_compute():
    x = np.array([1, 1, 2], float)
    e = np.array([0.9, 0.7, 0.8])
    assert naive_frontier(x, e).tolist() == [False, True, False]


def test_binned_frontier_is_a_subset_of_the_naive_one_and_monotone():
    rng = np.random.default_rng(0)
    x = 10 ** rng.uniform(6, 12, 300)
    e = 0.1 + 50 * x**-0.2 * np.exp(rng.normal(0, 0.2, 300))
    b = binned_frontier(x, e)
    n = naive_frontier(x, e)
    assert b.sum() >= 5
    assert not (b & ~n).any()
    order = np.argsort(x[b])
    assert np.all(np.diff(e[b][order]) < 0)
    assert b.sum() < n.sum()


def test_binned_frontier_keeps_one_point_per_bin_at_most():
    x = np.geomspace(1e6, 1e12, 200)
    e = 1.0 / np.log(x)  # strictly improving: every point is on the naive frontier
    for bins, n_edges in (("study", int(np.log2(1e12 / 1500))),
                          (2.0, int(2 * np.log2(1e6)) + 1), (0.5, int(0.5 * np.log2(1e6)) + 1)):
        b = binned_frontier(x, e, bins)
        assert b.sum() <= n_edges  # n_edges - 1 bins plus the largest point
        assert b[-1]  # the largest-compute point improves on all: kept


def test_frontier_mask_methods():
    x = np.array([1.0, 2.0, 3.0])
    e = np.array([0.5, 0.6, 0.4])
    assert frontier_mask(x, e, "none").all()
    assert frontier_mask(x, e, "naive").tolist() == [True, False, True]
    with pytest.raises(UsageError, match="unknown frontier"):
        frontier_mask(x, e, "convex")


def test_binned_frontier_keeps_enough_bins_for_small_compute_units():
    # compute in GFLOPs of a tiny CPU grid (0.5 ... 650): the study's count alone gives no bins
    x = np.geomspace(0.5, 650.0, 40)
    e = 1.0 / np.log(x + 2.0)
    assert binned_frontier(x, e, "study").sum() >= 10
    assert binned_frontier(x, e).sum() >= 10


def test_binned_frontier_matches_the_study_count_on_gflops():
    x = np.geomspace(7e6, 1.1e12, 300)
    e = 1.0 / np.log(x)
    assert binned_frontier(x, e, "study").sum() == int(np.log2(1.1e12 / 1500))  # bins + top
    # two bins per doubling restates the study's count on its own range (17.3 doublings)
    assert binned_frontier(x, e, 2.0).sum() == int(2 * np.log2(1.1e12 / 7e6)) + 1


@pytest.mark.parametrize("k", [1e-12, 1e-6, 3.7, 1e6, 1e12])
@pytest.mark.parametrize("bins", [0.5, 1.0, 2.0, 3.0, 8.0])
def test_binned_frontier_does_not_depend_on_the_unit_of_compute(k, bins):
    rng = np.random.default_rng(1)
    x = np.r_[np.geomspace(1e8, 1e12, 14), 10 ** rng.uniform(8, 12, 40)]
    e = 3.0 * x**-0.2 * np.exp(rng.normal(0, 0.1, len(x)))
    assert (binned_frontier(x * k, e, bins) == binned_frontier(x, e, bins)).all()


def test_an_unknown_bin_count_is_refused():
    with pytest.raises(UsageError, match="frontier_bins"):
        binned_frontier(np.array([1.0, 2.0, 4.0]), np.array([3.0, 2.0, 1.0]), "many")
