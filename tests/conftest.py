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


def two_procedures(n_runs: int, x: str = "gflops", samples: str | None = None) -> pd.DataFrame:
    """Two procedures (``proc``: clip, mammut), ``n_runs`` runs each over four decades of
    compute (column ``x``; with ``samples``, also samples seen = compute / 50), accuracy
    ``acc`` from a saturating law with 1% noise (seed 0)."""
    rng = np.random.default_rng(0)
    rows = []
    for proc, alpha in (("clip", -0.2), ("mammut", -0.25)):
        for c in np.geomspace(1e7, 1e11, n_runs):
            err = 25 * (c + 3e7) ** alpha + 0.1
            row = {"proc": proc, x: c} | ({samples: c / 50.0} if samples else {})
            rows.append(row | {"acc": 1 - err * np.exp(rng.normal(0, 0.01))})
    return pd.DataFrame(rows)


@pytest.fixture()
def data(tmp_path) -> Path:
    """:func:`two_procedures` with 24 runs each (compute ``gflops``) as a CSV file."""
    path = tmp_path / "m.csv"
    two_procedures(24).to_csv(path, index=False)
    return path
