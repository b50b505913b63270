"""benchbench: fair and reproducible neural architecture search experiments.

``import benchbench`` is light: it imports neither torch, xgboost nor matplotlib.
"""

from __future__ import annotations

from benchbench.api import (
    Benchmark,
    BenchmarkError,
    Description,
    Direction,
    Evaluation,
    EvaluationBatch,
    Fidelity,
    Metric,
    MissingDataError,
    Optimum,
    Split,
    Trajectory,
    UnknownNameError,
)
from benchbench.optimizer import Capabilities, OneShotSearch, Optimizer
from benchbench.rng import derive_seed, make_rng
from benchbench.spaces import NB201Arch, NB201Space, SearchSpace, get_space
from benchbench.trial import RunManifest, TrialInfo, TrialRecord, TrialValue

__version__ = "0.1.0"

__all__ = [
    "Benchmark",
    "BenchmarkError",
    "Capabilities",
    "Description",
    "Direction",
    "Evaluation",
    "EvaluationBatch",
    "Fidelity",
    "Metric",
    "MissingDataError",
    "NB201Arch",
    "NB201Space",
    "OneShotSearch",
    "Optimizer",
    "Optimum",
    "RunManifest",
    "SearchSpace",
    "Split",
    "Trajectory",
    "TrialInfo",
    "TrialRecord",
    "TrialValue",
    "UnknownNameError",
    "__version__",
    "derive_seed",
    "get_space",
    "make_rng",
]
