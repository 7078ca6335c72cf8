"""Shared fixtures: the real measurements of the study, located beside the repository."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "laion2025"


@pytest.fixture(scope="session")
def laion_best() -> pd.DataFrame:
    """datacomp_cosine_best.csv from ../shared (skips when the shared folder is absent)."""
    path = SHARED_DATA / "datacomp_cosine_best.csv"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return pd.read_csv(path)


@pytest.fixture(scope="session")
def laion_best_path() -> Path:
    path = SHARED_DATA / "datacomp_cosine_best.csv"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture()
def data(tmp_path) -> Path:
    """A CSV of two procedures (``proc``: clip, mammut), 24 runs each over four decades of
    compute (``gflops``), accuracy ``acc`` from a saturating law with 1% noise."""
    rng = np.random.default_rng(0)
    rows = []
    for proc, alpha in (("clip", -0.2), ("mammut", -0.25)):
        for c in np.geomspace(1e7, 1e11, 24):
            err = 25 * (c + 3e7) ** alpha + 0.1
            rows.append({"proc": proc, "gflops": c, "acc": 1 - err * np.exp(rng.normal(0, 0.01))})
    path = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
