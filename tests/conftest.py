"""Shared fixtures: the real measurements of the study, located beside the repository."""

from __future__ import annotations

from pathlib import Path

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
