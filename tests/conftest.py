"""Shared fixtures: where the real benchmark data lives (../shared/data, never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BENCHBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


def require(path: Path) -> Path:
    """Return ``path`` or skip the test, saying which file is missing."""
    if not path.exists():
        pytest.skip(f"real benchmark data not found at {path} (expected ../shared/data beside "
                    f"the repository, or set BENCHBENCH_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require(SHARED_DATA)


@pytest.fixture(scope="session")
def nb201_flat(shared_data: Path) -> Path:
    return require(shared_data / "nb201" / "nb201_table.csv.gz")


@pytest.fixture(scope="session")
def nats_sample_dir(shared_data: Path) -> Path:
    return require(shared_data / "nb201" / "nats_tss_official_sample")
