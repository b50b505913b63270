"""Shared fixtures: where the real benchmark data lives (../shared/data, never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
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


@pytest.fixture(scope="session")
def naslib_score_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A score directory (``benchbench proxies score`` layout) of NASLib's independent
    CIFAR-10 zero-cost scores of 725 NB201 cells, for the proxy-guided optimizers; skips when
    the NASLib file is absent."""
    from algorithms.proxies import import_naslib_scores

    src = require(shared_data / "nb201" / "zc_scores_725.json")
    return import_naslib_scores(src, "cifar10", tmp_path_factory.mktemp("zc") / "cifar10")


@pytest.fixture(scope="session")
def valid_acc(nb201_flat: Path) -> np.ndarray:
    """Real NB201 CIFAR-10-valid validation accuracy (%), by official index, shape (15625,)."""
    df = pd.read_csv(nb201_flat, usecols=["index", "c10v_valid_acc"])
    assert (df["index"].to_numpy() == np.arange(15625)).all()
    acc = df["c10v_valid_acc"].to_numpy(dtype=float)
    assert acc.max() == pytest.approx(91.607, abs=1e-3)  # NB201 paper: 91.61
    return acc
