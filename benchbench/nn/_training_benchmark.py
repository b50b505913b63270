"""TrainingBenchmark: the real-training backend behind the common Benchmark API.

``query(cell, dataset=..., fidelity=epochs, data_seed=seed)`` trains ``cell`` with the
protocol's schedule for ``fidelity`` epochs (or answers from the cached run of the same
request) and reports the measured training seconds up to that epoch as ``cost_s``.  A later
query of the same cell and seed at a higher fidelity continues the cached run, which gives
exactly what training in one go would have (see :class:`~benchbench.nn.TrainingRun`).

``data_seed=None`` answers with the mean over the runs of ``mean_seeds`` (default ``(0, 1)``),
and ``cost_s`` with their mean training time (the cost of one training run), as the tabular
backend does.  Any int >= 0 is a valid seed (:meth:`data_seeds` returns ``None``).

There is no precomputed optimum: :meth:`optimum` raises ``MissingDataError`` (build a table
with ``benchbench data build`` for regret).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import (
    ArchLike,
    Benchmark,
    BenchmarkCapabilities,
    Description,
    Evaluation,
    Fidelity,
    Metric,
    MissingDataError,
    Optimum,
    Trajectory,
    unknown,
)
from benchbench.nn._data import TRAIN_DATASETS, ImageData, dataset_metrics, load_dataset
from benchbench.nn._train import Trainer, TrainingRun, TrainResult
from benchbench.protocols import TrainConfig, get_protocol

__all__ = ["TrainingBenchmark", "nb201_digits_training"]


class TrainingBenchmark(Benchmark):
    """Answer queries by training.

    Args:
        space: search space name or object (``"nb201"``).
        protocol: a :class:`TrainConfig` or a :data:`~benchbench.nn.PROTOCOLS` name; its
            ``epochs`` is the largest fidelity.
        datasets: the datasets offered (default: all of :data:`TRAIN_DATASETS`; the local
            ones load on first use and raise ``FileNotFoundError`` naming missing files).
        data_dir: folder holding CIFAR / ImageNet16 files.
        device: ``"cpu"`` or ``"cuda"``.
        mean_seeds: seeds averaged for ``data_seed=None``.
        max_live_runs: runs kept with their network (so a higher fidelity continues them);
            older ones keep only their curve.
        name: the benchmark's name (default ``"<space>-train-<protocol hash>"``).
    """

    kind = "training"
    #: Any seed trains; curves come from training (no recorded source); no known optimum.
    capabilities = BenchmarkCapabilities(data_seeds=True, trajectories=False, optimum=False,
                                         cost_model=True, enumerable=False)

    def __init__(self, space: Any = "nb201", *, protocol: TrainConfig | str = "nb201",
                 datasets: Sequence[str] | None = None, data_dir: str | Path | None = None,
                 device: str = "cpu", mean_seeds: Sequence[int] = (0, 1),
                 max_live_runs: int = 8, name: str | None = None) -> None:
        from benchbench.spaces import get_space

        self.space = get_space(space) if isinstance(space, str) else space
        self.protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
        if not isinstance(self.protocol, TrainConfig):
            raise TypeError(f"protocol must be a TrainConfig or a protocol name, "
                            f"got {protocol!r}")
        ds = tuple(TRAIN_DATASETS if datasets is None else datasets)
        for d in ds:
            if d not in TRAIN_DATASETS:
                raise unknown("training dataset", d, TRAIN_DATASETS)
        if not ds:
            raise ValueError("datasets must name at least one dataset")
        self._datasets = ds
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.device = device
        self.mean_seeds = tuple(int(s) for s in mean_seeds)
        if not self.mean_seeds or min(self.mean_seeds) < 0:
            raise ValueError(f"mean_seeds must be ints >= 0, at least one; got {mean_seeds!r}")
        if isinstance(max_live_runs, bool) or not isinstance(max_live_runs, int) \
                or max_live_runs < 0:
            raise ValueError(f"max_live_runs must be an int >= 0, got {max_live_runs!r}")
        self.max_live_runs = max_live_runs
        blob = json.dumps({"space": self.space.name, "protocol": self.protocol.to_dict()},
                          sort_keys=True, default=str)
        self._sha = hashlib.sha256(blob.encode()).hexdigest()
        self._name = name or f"{self.space.name}-train-{self._sha[:8]}"
        self._trainers: dict[str, Trainer] = {}
        self._live: OrderedDict[tuple[str, str, int], TrainingRun] = OrderedDict()
        self._done: dict[tuple[str, str, int], TrainResult] = {}
        #: wall seconds this object spent training (cache hits cost nothing here).
        self.spent_s = 0.0
        #: trainings started (each (cell, dataset, seed) at most once while cached).
        self.runs_started = 0

    # --------------------------------------------------------------- introspection
    @property
    def name(self) -> str:
        return self._name

    @property
    def datasets(self) -> tuple[str, ...]:
        return self._datasets

    def metrics(self, dataset: str) -> tuple[Metric, ...]:
        return dataset_metrics(self.check_dataset(dataset))

    def fidelity(self, dataset: str) -> Fidelity:
        self.check_dataset(dataset)
        return Fidelity(tuple(range(1, self.protocol.epochs + 1)))

    def data_seeds(self, arch: ArchLike, dataset: str) -> tuple[int, ...] | None:
        self.check_dataset(dataset)
        return None

    def describe(self) -> Description:
        return Description(
            name=self._name, version=f"protocol-{self._sha[:12]}", kind="training",
            space=self.space.name, data_sha256=self._sha,
            datasets={d: dataset_metrics(d) for d in self._datasets},
            extra={"protocol": self.protocol.to_dict(), "device": self.device,
                   "mean_seeds": list(self.mean_seeds),
                   "data_dir": None if self.data_dir is None else str(self.data_dir),
                   "data_sha256": {d: t.data.sha256 for d, t in self._trainers.items()}})

    def trainer(self, dataset: str) -> Trainer:
        """The :class:`Trainer` of ``dataset`` (loads the dataset on first use)."""
        self.check_dataset(dataset)
        tr = self._trainers.get(dataset)
        if tr is None:
            data: ImageData = load_dataset(dataset, self.data_dir)
            tr = self._trainers[dataset] = Trainer(self.space, data, self.protocol,
                                                   device=self.device)
        return tr

    # ------------------------------------------------------------------- training
    def run(self, arch: ArchLike, *, dataset: str, epochs: int | None = None,
            seed: int = 0) -> TrainResult:
        """The record of ``arch`` trained with ``seed`` for ``epochs`` (default: the whole
        schedule): from the cache, by continuing a cached run, or by training."""
        self.check_dataset(dataset)
        epochs = self.check_fidelity(dataset, epochs)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"data_seed must be an int >= 0 (or None for the mean of seeds "
                             f"{list(self.mean_seeds)}), got {seed!r}")
        cell = self.space.arch_id(self.space.parse(arch))
        key = (cell, dataset, int(seed))
        done = self._done.get(key)
        if done is not None and len(done.epochs) >= epochs:
            return done
        run = self._live.pop(key, None)
        if run is None:
            run = self.trainer(dataset).start(cell, int(seed))
            self.runs_started += 1
        before = run.epoch
        t0 = time.perf_counter()
        res = run.advance(epochs)
        if run.epoch > before:
            self.spent_s += time.perf_counter() - t0
        self._done[key] = res
        if self.max_live_runs and run.epoch < self.protocol.epochs:
            self._live[key] = run
            while len(self._live) > self.max_live_runs:
                self._live.popitem(last=False)
        return res

    def _records(self, arch: ArchLike, dataset: str, epochs: int,
                 data_seed: int | None) -> list[TrainResult]:
        seeds = self.mean_seeds if data_seed is None else (data_seed,)
        return [self.run(arch, dataset=dataset, epochs=epochs, seed=s) for s in seeds]

    # --------------------------------------------------------------------- hooks
    def _query(self, arch: ArchLike, dataset: str, fidelity: int,
               data_seed: int | None) -> Evaluation:
        recs = self._records(arch, dataset, fidelity, data_seed)
        i = fidelity - 1
        names = [m.name for m in self.metrics(dataset)]
        values = {n: float(np.mean([r.values[n][i] for r in recs])) for n in names}
        cost = float(np.mean([r.cost_s[i] for r in recs]))
        return Evaluation(recs[0].arch_id, dataset, fidelity, data_seed, values, cost)

    def _trajectory(self, arch: ArchLike, dataset: str, max_fidelity: int,
                    data_seed: int | None) -> Trajectory:
        recs = self._records(arch, dataset, max_fidelity, data_seed)
        names = [m.name for m in self.metrics(dataset)]
        return Trajectory(
            arch_id=recs[0].arch_id, dataset=dataset, data_seed=data_seed,
            epochs=np.arange(1, max_fidelity + 1),
            values={n: np.mean([r.values[n][:max_fidelity] for r in recs], axis=0)
                    for n in names},
            cost_s=np.mean([r.cost_s[:max_fidelity] for r in recs], axis=0))

    def _optimum(self, metric: Metric, dataset: str, fidelity: int) -> Optimum:
        raise MissingDataError(
            f"{self._name!r} trains on demand and has no precomputed optimum of "
            f"{metric.name!r}; build a table (`benchbench data build`) and use its optimum")

    def __repr__(self) -> str:
        return (f"TrainingBenchmark(space={self.space.name!r}, epochs={self.protocol.epochs}, "
                f"device={self.device!r}, name={self._name!r})")

    def __getstate__(self) -> dict[str, Any]:
        return {"space": self.space.name, "protocol": self.protocol.to_dict(),
                "datasets": self._datasets, "data_dir": self.data_dir, "device": self.device,
                "mean_seeds": self.mean_seeds, "max_live_runs": self.max_live_runs,
                "name": self._name}

    def __setstate__(self, s: dict[str, Any]) -> None:
        self.__init__(s["space"], protocol=TrainConfig.from_dict(s["protocol"]),  # type: ignore[misc]
                      datasets=s["datasets"], data_dir=s["data_dir"], device=s["device"],
                      mean_seeds=s["mean_seeds"], max_live_runs=s["max_live_runs"],
                      name=s["name"])


def nb201_digits_training(*, device: str = "cpu", mean_seeds: Sequence[int] = (0, 1),
                          max_live_runs: int = 8) -> TrainingBenchmark:
    """NB201 cells trained for real on the bundled digits with the ``digits`` protocol: the
    setting the embedded ``nb201-digits`` table was built with (same metrics and epochs)."""
    return TrainingBenchmark("nb201", protocol="digits", datasets=("digits",), device=device,
                             mean_seeds=mean_seeds, max_live_runs=max_live_runs,
                             name="nb201-digits-train")
