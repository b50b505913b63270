"""The common query API that every benchmark backend implements.

A benchmark answers one question for an architecture: *what would training it to this
fidelity on this dataset have given, and what would it have cost?*  The answer is an
:class:`Evaluation`.  What each number means (split, direction, bounds, unit) is data, held in
:class:`Metric`, never a naming habit.

Conventions used everywhere:

* A **fidelity** is the number of training epochs, an ``int`` >= 1 (NB201: 1..200, the
  official files' 0-based epoch index plus one).  ``None`` means the benchmark's maximum.
* A **data seed** selects which recorded training run (tabular), which noise draw (surrogate)
  or which training seed (real training) answers.  ``None`` means the seed mean over the runs
  the source recorded.  Benchmarks hold no RNG of their own.
* ``cost_s`` is simulated seconds: the recorded training time up to the fidelity.
"""

from __future__ import annotations

import abc
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from benchbench.spaces import SearchSpace

__all__ = [
    "ArchLike",
    "Benchmark",
    "BenchmarkCapabilities",
    "BenchmarkError",
    "Description",
    "Direction",
    "Evaluation",
    "EvaluationBatch",
    "Fidelity",
    "Metric",
    "MissingDataError",
    "Optimum",
    "Split",
    "Trajectory",
    "UnknownNameError",
    "accuracy_metric",
    "loss_metric",
    "unknown",
]


class BenchmarkError(ValueError):
    """Base class of the errors a benchmark raises for a bad request."""


class UnknownNameError(BenchmarkError, KeyError):
    """A dataset, metric, split, cell or benchmark name that does not exist.

    The message names the bad value and lists what is allowed.
    """

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MissingDataError(BenchmarkError, LookupError):
    """The request is well formed but the source has no recorded value for it
    (a seed that was not trained, an epoch that was not evaluated, ...).

    Benchmarks raise this instead of silently answering with another split, seed or epoch.
    """


def unknown(kind: str, value: object, allowed: Sequence[object],
            where: str = "") -> UnknownNameError:
    """Build the standard 'unknown name' error: names the bad value and what is allowed.

    ``where`` follows the value, e.g. ``" on dataset 'cifar100' of 'nb201'"``.
    """
    shown = ", ".join(repr(a) for a in list(allowed)[:20])
    more = f", ... ({len(allowed)} in all)" if len(allowed) > 20 else ""
    return UnknownNameError(f"unknown {kind} {value!r}{where}; allowed: {shown}{more}")


class Split(str, enum.Enum):
    """Which data a metric is measured on.

    ``VALTEST`` is NB201's ``ori-test`` on CIFAR-100 / ImageNet16-120: the full test set, that
    is the union of its ``x-valid`` and ``x-test`` halves.  It is *not* a validation split and
    must not be used as one silently.
    """

    TRAIN = "train"
    VALID = "valid"
    TEST = "test"
    VALTEST = "valtest"

    def shares_images(self, other: Split) -> bool:
        """Whether the two splits have images in common (``VALTEST`` is the union of
        ``VALID`` and ``TEST`` on the datasets that have it)."""
        if self is other:
            return True
        pair = {self, other}
        return Split.VALTEST in pair and bool(pair & {Split.VALID, Split.TEST})

    @property
    def is_test_data(self) -> bool:
        """Whether the split holds test images (``TEST`` or ``VALTEST``)."""
        return self in (Split.TEST, Split.VALTEST)


class Direction(str, enum.Enum):
    MAXIMIZE = "max"
    MINIMIZE = "min"


@dataclass(frozen=True, slots=True)
class Metric:
    """What a number means.

    Attributes:
        name: key in :attr:`Evaluation.values`, e.g. ``"valid_acc"``.
        split: the data it is measured on; ``None`` for properties of the network
            (parameters, FLOPs) or of the training run (time).
        direction: whether larger or smaller is better.
        lower, upper: bounds of the value (``math.inf`` if unbounded).
        unit: ``"%"``, ``"nats"`` (cross-entropy), ``"s"``, ``"M"`` (millions), ...
        description: one line on provenance and quirks.
    """

    name: str
    split: Split | None
    direction: Direction
    lower: float = -math.inf
    upper: float = math.inf
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"metric name must be a non-empty identifier, got {self.name!r}")
        if self.split is not None and not isinstance(self.split, Split):
            object.__setattr__(self, "split", Split(self.split))
        if not isinstance(self.direction, Direction):
            object.__setattr__(self, "direction", Direction(self.direction))
        if not self.lower <= self.upper:
            raise ValueError(f"metric {self.name!r}: lower {self.lower} > upper {self.upper}")

    def better(self, a: float, b: float) -> bool:
        """True if ``a`` is strictly better than ``b`` (NaN is never better)."""
        if self.direction is Direction.MAXIMIZE:
            return a > b
        return a < b

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "split": None if self.split is None else self.split.value,
            "direction": self.direction.value,
            "lower": self.lower,
            "upper": self.upper,
            "unit": self.unit,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Metric:
        return cls(
            name=d["name"],
            split=None if d.get("split") in (None, "") else Split(d["split"]),
            direction=Direction(d["direction"]),
            lower=float(d.get("lower", -math.inf)),
            upper=float(d.get("upper", math.inf)),
            unit=d.get("unit", ""),
            description=d.get("description", ""),
        )


def accuracy_metric(split: Split | str, description: str) -> Metric:
    """``<split>_acc``: top-1 accuracy in percent on ``split`` (maximised, 0..100)."""
    sp = Split(split)
    return Metric(f"{sp.value}_acc", sp, Direction.MAXIMIZE, 0.0, 100.0, "%",
                  f"top-1 accuracy; {description}")


def loss_metric(split: Split | str, description: str) -> Metric:
    """``<split>_loss``: cross-entropy in nats on ``split`` (minimised, >= 0)."""
    sp = Split(split)
    return Metric(f"{sp.value}_loss", sp, Direction.MINIMIZE, 0.0, math.inf, "nats",
                  f"cross-entropy; {description}")


@dataclass(frozen=True, slots=True)
class Fidelity:
    """The fidelity axis of one dataset of a benchmark: epochs trained.

    Attributes:
        values: the epochs for which the source has at least one recorded metric, ascending.
    """

    values: tuple[int, ...]
    name: Literal["epochs"] = "epochs"

    @property
    def min(self) -> int:
        return self.values[0]

    @property
    def max(self) -> int:
        return self.values[-1]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The answer to one query.

    Attributes:
        arch_id: the architecture's id in its space (NB201: the official cell string).
        dataset: the dataset name as the benchmark names it.
        fidelity: epochs trained.
        data_seed: which recorded run answered; ``None`` for the seed mean.
        values: every metric of the dataset by name; NaN where the source has no value.
        cost_s: simulated seconds the training would have taken (recorded time up to
            ``fidelity``; NaN if the source records no time).
        flags: notes on how far the answer can be trusted (empty for a table); a surrogate
            sets ``"ood"`` (plus ``"ood:<reason>"``) for a cell far from its training data.
    """

    arch_id: str
    dataset: str
    fidelity: int
    data_seed: int | None
    values: Mapping[str, float]
    cost_s: float
    flags: frozenset[str] = frozenset()

    def __getitem__(self, metric: str) -> float:
        try:
            return self.values[metric]
        except KeyError:
            raise unknown("metric", metric, list(self.values)) from None


@dataclass(frozen=True, slots=True)
class EvaluationBatch:
    """Columnar answer of :meth:`Benchmark.query_many`.

    Attributes:
        arch_index: shape ``(n,)``, the architectures' indices in the space (-1 for a space
            that is not enumerable).
        arch_ids: the architectures' ids, when the backend has them at hand (``()``
            otherwise: a tabular batch queried by index leaves them out for speed).
        dataset, fidelity, data_seed: as in :class:`Evaluation` (one for the whole batch).
        values: metric name -> float array of shape ``(n,)``; NaN where missing.
        cost_s: shape ``(n,)``.
    """

    arch_index: np.ndarray
    dataset: str
    fidelity: int
    data_seed: int | None
    values: Mapping[str, np.ndarray]
    cost_s: np.ndarray
    arch_ids: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.arch_index.shape[0])

    def __getitem__(self, metric: str) -> np.ndarray:
        try:
            return self.values[metric]
        except KeyError:
            raise unknown("metric", metric, list(self.values)) from None


@dataclass(frozen=True, slots=True)
class Trajectory:
    """A learning curve: every metric at every recorded epoch up to ``max_fidelity``.

    ``values[m][i]`` equals ``query(arch, fidelity=epochs[i])[m]`` for the same data seed.
    """

    arch_id: str
    dataset: str
    data_seed: int | None
    epochs: np.ndarray
    values: Mapping[str, np.ndarray]
    cost_s: np.ndarray


@dataclass(frozen=True, slots=True)
class Optimum:
    """The seed-mean oracle: best value of ``metric`` over the whole space."""

    metric: str
    dataset: str
    fidelity: int
    value: float
    arch_id: str


ArchLike = Any  # an arch record of the benchmark's space, its id string, or (enumerable
# spaces only) its int index


@dataclass(frozen=True, slots=True)
class BenchmarkCapabilities:
    """The optional capabilities of a benchmark, declared by the backend (never probed).

    Attributes:
        data_seeds: queries accept a ``data_seed`` selecting one recorded run or noise draw
            (per-seed noise and common random numbers work); otherwise only seed means.
        trajectories: learning curves come from the source (tabular, predicted curves), not
            only from repeated training.
        optimum: :meth:`Benchmark.optimum` knows the true seed-mean optimum (for regret).
        cost_model: ``cost_s`` is a recorded or modelled training time, not NaN.
        enumerable: every cell of the space can be listed (the space is an
            :class:`~benchbench.spaces.EnumerableSpace` and the benchmark covers it).
    """

    data_seeds: bool = True
    trajectories: bool = True
    optimum: bool = False
    cost_model: bool = True
    enumerable: bool = False

    def to_dict(self) -> dict[str, bool]:
        return {"data_seeds": self.data_seeds, "trajectories": self.trajectories,
                "optimum": self.optimum, "cost_model": self.cost_model,
                "enumerable": self.enumerable}


@dataclass(frozen=True)
class Description:
    """What :meth:`Benchmark.describe` returns (also JSON-serialisable via ``to_dict``)."""

    name: str
    version: str
    kind: Literal["tabular", "surrogate", "training"]
    space: str
    data_sha256: str
    datasets: Mapping[str, tuple[Metric, ...]]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "space": self.space,
            "data_sha256": self.data_sha256,
            "datasets": {d: [m.to_dict() for m in ms] for d, ms in self.datasets.items()},
            **({"extra": dict(self.extra)} if self.extra else {}),
        }



class Benchmark(abc.ABC):
    """Common interface of the tabular, surrogate and real-training backends.

    Public methods validate their arguments and fill defaults, then call a protected hook
    that computes.  Subclasses implement the hooks and the small introspection methods, and
    declare what they can do in :attr:`capabilities`; callers (the runner) ask the contract,
    never ``getattr``.
    """

    #: The search space the benchmark's architectures come from (see ``benchbench.spaces``).
    space: SearchSpace[Any]
    #: What the backend can do beyond the required queries (see :class:`BenchmarkCapabilities`).
    capabilities: BenchmarkCapabilities = BenchmarkCapabilities()

    # ----------------------------------------------------------------- introspection
    @property
    @abc.abstractmethod
    def name(self) -> str: ...

    @property
    @abc.abstractmethod
    def datasets(self) -> tuple[str, ...]: ...

    @abc.abstractmethod
    def metrics(self, dataset: str) -> tuple[Metric, ...]:
        """The metrics every :class:`Evaluation` of ``dataset`` carries."""

    @abc.abstractmethod
    def fidelity(self, dataset: str) -> Fidelity:
        """The epochs that can be queried on ``dataset``."""

    def data_seeds(self, arch: ArchLike, dataset: str) -> tuple[int, ...] | None:
        """Recorded data seeds for ``arch`` on ``dataset``; ``None`` if any int >= 0 is
        allowed (noise draws, training seeds).  ``()`` if only the seed mean exists."""
        self.check_dataset(dataset)
        return None if self.capabilities.data_seeds else ()

    def metric_epochs(self, dataset: str, metric: str) -> tuple[int, ...]:
        """The epochs at which ``metric`` has values on ``dataset`` (default: every
        queryable epoch)."""
        self.metric(dataset, metric)
        return self.fidelity(dataset).values

    def has_seed_values(self, dataset: str, metric: str) -> bool:
        """Whether ``metric`` has per-seed values (else seed means only)."""
        self.metric(dataset, metric)
        return self.capabilities.data_seeds

    @abc.abstractmethod
    def describe(self) -> Description: ...

    def close(self) -> None:
        """Release files or models (a no-op unless the backend holds some)."""

    def __enter__(self) -> Benchmark:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --------------------------------------------------------------- validation helpers
    def check_dataset(self, dataset: str) -> str:
        if dataset not in self.datasets:
            raise unknown("dataset", dataset, self.datasets)
        return dataset

    def metric(self, dataset: str, name: str) -> Metric:
        """The :class:`Metric` called ``name`` on ``dataset`` (clear error if absent)."""
        for m in self.metrics(self.check_dataset(dataset)):
            if m.name == name:
                return m
        raise unknown("metric", name, [m.name for m in self.metrics(dataset)],
                      f" on dataset {dataset!r} of {self.name!r}")

    def check_fidelity(self, dataset: str, fidelity: int | None) -> int:
        fid = self.fidelity(dataset)
        if fidelity is None:
            return fid.max
        if isinstance(fidelity, bool) or not isinstance(fidelity, (int, np.integer)):
            raise BenchmarkError(f"fidelity must be an int number of epochs, got {fidelity!r}")
        f = int(fidelity)
        if f not in fid.values:
            lo, hi = fid.min, fid.max
            listed = (f"{lo}..{hi}" if len(fid.values) == hi - lo + 1
                      else ", ".join(map(str, fid.values)))
            raise MissingDataError(
                f"epoch {f} is not recorded for dataset {dataset!r} of {self.name!r}; "
                f"recorded epochs: {listed}")
        return f

    # --------------------------------------------------------------------- queries
    def query(self, arch: ArchLike, *, dataset: str, fidelity: int | None = None,
              data_seed: int | None = None) -> Evaluation:
        """Evaluate one architecture.

        Args:
            arch: an arch record of :attr:`space`, its id string or its index.
            dataset: one of :attr:`datasets`.
            fidelity: epochs trained; ``None`` for the maximum.
            data_seed: recorded run to answer with; ``None`` for the seed mean.

        Raises:
            UnknownNameError: unknown dataset or architecture.
            MissingDataError: the epoch or seed is not recorded for this architecture.
        """
        self.check_dataset(dataset)
        return self._query(arch, dataset, self.check_fidelity(dataset, fidelity), data_seed)

    def query_many(self, archs: Sequence[ArchLike] | np.ndarray, *, dataset: str,
                   fidelity: int | None = None, data_seed: int | None = None
                   ) -> EvaluationBatch:
        """Vectorised :meth:`query`: ``archs`` may be an int index array (fastest)."""
        self.check_dataset(dataset)
        return self._query_many(archs, dataset, self.check_fidelity(dataset, fidelity),
                                data_seed)

    def trajectory(self, arch: ArchLike, *, dataset: str, max_fidelity: int | None = None,
                   data_seed: int | None = None) -> Trajectory:
        """Learning curve up to ``max_fidelity`` (all recorded epochs by default)."""
        self.check_dataset(dataset)
        return self._trajectory(arch, dataset, self.check_fidelity(dataset, max_fidelity),
                                data_seed)

    def optimum(self, metric: str, *, dataset: str, fidelity: int | None = None) -> Optimum:
        """Best seed-mean value of ``metric`` over the space (for regret)."""
        m = self.metric(dataset, metric)
        return self._optimum(m, dataset, self.check_fidelity(dataset, fidelity))

    # ----------------------------------------------------------------------- hooks
    @abc.abstractmethod
    def _query(self, arch: ArchLike, dataset: str, fidelity: int,
               data_seed: int | None) -> Evaluation: ...

    def _query_many(self, archs: Sequence[ArchLike] | np.ndarray, dataset: str, fidelity: int,
                    data_seed: int | None) -> EvaluationBatch:
        from benchbench.spaces import is_enumerable

        evs = [self._query(a, dataset, fidelity, data_seed) for a in archs]
        names = [m.name for m in self.metrics(dataset)]
        space = self.space
        index = (space.indices([e.arch_id for e in evs]) if is_enumerable(space)  # type: ignore[attr-defined]
                 else np.full(len(evs), -1, dtype=np.int64))
        return EvaluationBatch(
            arch_index=index, arch_ids=tuple(e.arch_id for e in evs),
            dataset=dataset, fidelity=fidelity, data_seed=data_seed,
            values={n: np.array([e.values[n] for e in evs], dtype=float) for n in names},
            cost_s=np.array([e.cost_s for e in evs], dtype=float))

    def _trajectory(self, arch: ArchLike, dataset: str, max_fidelity: int,
                    data_seed: int | None) -> Trajectory:
        epochs = [e for e in self.fidelity(dataset).values if e <= max_fidelity]
        evs = [self._query(arch, dataset, e, data_seed) for e in epochs]
        names = [m.name for m in self.metrics(dataset)]
        return Trajectory(
            arch_id=evs[0].arch_id, dataset=dataset, data_seed=data_seed,
            epochs=np.array(epochs), values={n: np.array([e.values[n] for e in evs])
                                             for n in names},
            cost_s=np.array([e.cost_s for e in evs]))

    def _optimum(self, metric: Metric, dataset: str, fidelity: int) -> Optimum:
        raise MissingDataError(
            f"{self.name!r} ({self.describe().kind}) knows no optimum of {metric.name!r}: "
            f"regret needs a benchmark whose capabilities include an optimum (a table)")
