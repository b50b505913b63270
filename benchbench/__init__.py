"""benchbench: fair and reproducible neural architecture search experiments.

``import benchbench`` is light: it imports neither torch, xgboost nor matplotlib.
"""

from __future__ import annotations

from benchbench.api import (
    Benchmark,
    BenchmarkCapabilities,
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
from benchbench.optimizer import (
    Capabilities,
    OneShotSearch,
    OneShotStep,
    Optimizer,
    make_optimizer,
)
from benchbench.registry import (
    BENCHMARKS,
    OPTIMIZERS,
    PROTOCOLS,
    PROXIES,
    SPACES,
    RegistryError,
    open_benchmark,
)
from benchbench.rng import derive_seed, make_rng
from benchbench.spaces import (
    EnumerableSpace,
    NB201Arch,
    NB201Space,
    SearchSpace,
    get_space,
    is_enumerable,
)
from benchbench.store import StoreError, StudyStore
from benchbench.trial import RunManifest, TrialInfo, TrialRecord, TrialValue

__version__ = "0.1.0"

__all__ = [
    "BENCHMARKS",
    "OPTIMIZERS",
    "PROTOCOLS",
    "PROXIES",
    "SPACES",
    "Benchmark",
    "BenchmarkCapabilities",
    "BenchmarkError",
    "Capabilities",
    "Description",
    "Direction",
    "EnumerableSpace",
    "Evaluation",
    "EvaluationBatch",
    "Fidelity",
    "Metric",
    "MissingDataError",
    "NB201Arch",
    "NB201Space",
    "OneShotSearch",
    "OneShotStep",
    "Optimizer",
    "Optimum",
    "RegistryError",
    "RunManifest",
    "SearchSpace",
    "Split",
    "StoreError",
    "StudyStore",
    "Trajectory",
    "TrialInfo",
    "TrialRecord",
    "TrialValue",
    "UnknownNameError",
    "__version__",
    "derive_seed",
    "get_space",
    "is_enumerable",
    "make_optimizer",
    "make_rng",
    "open_benchmark",
]
