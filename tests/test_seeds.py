"""Training-seed noise from two seeds of the same cells, and its share of an interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalecmp.errors import DataError
from scalecmp.seeds import seed_noise, seed_share


def _table(seed: int, shift: np.ndarray) -> pd.DataFrame:
    rows = []
    for i, samples in enumerate((1000, 2000, 4000, 8000)):
        for proc in ("clip", "mammut"):
            rows.append({"procedure": proc, "model": "xs", "schedule": "const",
                         "samples_seen": samples, "task": "cls", "metric": "acc1",
                         "value": 0.5 + 0.05 * i + shift[i], "seed": seed})
    return pd.DataFrame(rows)


def test_sigma_is_the_rms_difference_over_root_two() -> None:
    d = np.array([0.02, -0.01, 0.03, 0.0])
    noise = seed_noise(_table(0, d), _table(1, np.zeros(4)))
    assert list(noise["procedure"]) == ["clip", "mammut"]
    assert noise["n_pairs"].tolist() == [4, 4]
    assert noise["sigma"].to_numpy() == pytest.approx(np.sqrt(np.mean(d**2) / 2))
    assert noise["max_abs_diff"].to_numpy() == pytest.approx(0.03)
    assert noise["seeds"].iloc[0] == "[0] vs [1]"


def test_only_shared_cells_count_and_none_is_an_error() -> None:
    a = _table(0, np.array([0.02, 0.0, 0.0, 0.0]))
    b = _table(1, np.zeros(4))
    b = b[b["samples_seen"] != 1000]  # the only differing cell is not in both
    assert seed_noise(a, b)["sigma"].to_numpy() == pytest.approx(0.0)
    with pytest.raises(DataError, match="no cell was measured in both"):
        seed_noise(a, b.assign(model="s"))
    with pytest.raises(DataError, match="no column 'model'"):
        seed_noise(a.drop(columns="model"), b)


def test_share_of_the_median_interval() -> None:
    noise = seed_noise(_table(0, np.full(4, 0.01)), _table(1, np.zeros(4)))
    sigma = 0.01 / np.sqrt(2)
    runs = pd.DataFrame({"task": "cls", "metric": "acc1", "procedure": ["clip"] * 3,
                         "lo": [0.5, 0.5, 0.5], "hi": [0.6, 0.54, 0.58],
                         "measured": [0.55, 0.52, 0.56]})
    share = seed_share(noise, runs, level=0.95)
    clip = share[share["procedure"] == "clip"].iloc[0]
    assert clip["median_width"] == pytest.approx(0.08)
    assert clip["seed_width"] == pytest.approx(2 * 1.959964 * sigma, rel=1e-5)
    assert clip["share"] == pytest.approx(2 * 1.959964 * sigma / 0.08, rel=1e-5)
    assert np.isnan(share[share["procedure"] == "mammut"]["share"].iloc[0])  # not held out
    rel = seed_share(noise, runs, level=0.95, relative=True).iloc[0]
    assert rel["sigma_scaled"] == pytest.approx(sigma / 0.55)
    assert rel["median_width"] == pytest.approx(np.median([0.1 / 0.55, 0.04 / 0.52,
                                                           0.08 / 0.56]))
