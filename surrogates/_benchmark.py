"""SurrogateBenchmark: the :class:`~benchbench.api.Benchmark` API answered by a fitted model."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import (
    ArchLike,
    Benchmark,
    BenchmarkCapabilities,
    BenchmarkError,
    Description,
    Evaluation,
    EvaluationBatch,
    Fidelity,
    Metric,
    MissingDataError,
    Optimum,
    Trajectory,
    UnknownNameError,
    unknown,
)
from benchbench.spaces import is_enumerable
from surrogates._model import FORMAT_VERSION, SurrogateModel, load_model

__all__ = ["SurrogateBenchmark"]


class _Columns(Mapping[str, np.ndarray]):
    """Metric columns of a batch, computed on first access (a batch read for its objective
    costs one ensemble, not one per metric)."""

    def __init__(self, names: Sequence[str], compute: Any) -> None:
        self._names = list(names)
        self._compute = compute
        self._got: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        got = self._got.get(key)
        if got is None:
            if key not in self._names:
                raise KeyError(key)
            got = self._got[key] = self._compute(key)
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _Block:
    """Predictions for a list of cells, each part computed on first use: mean curves and
    noise scales per metric, cost, and out-of-distribution flags."""

    def __init__(self, model: SurrogateModel, archs: list[Any] | None,
                 index: np.ndarray | None = None) -> None:
        self.model = model
        self.index = index
        if archs is None:  # indices of an enumerable space: features by lookup
            assert index is not None
            self.x = model.layout.encode_indices(model.space, index)
        else:
            self.x = model.features(archs)
        self.archs = archs
        self._mean: dict[str, np.ndarray] = {}
        self._sigma: dict[str, np.ndarray] = {}
        self._last_std: dict[str, np.ndarray] = {}
        self._cost: np.ndarray | None = None
        self._cost_done = False
        self._flags: list[frozenset[str]] | None = None

    def mean(self, name: str) -> np.ndarray:
        got = self._mean.get(name)
        if got is None:
            mm = self.model.metrics[name]
            mc = mm.member_curves(self.x)
            total = np.zeros_like(mc[0])
            for k in range(len(mc)):  # a fixed summation order: equal for any batch
                total += mc[k]
            got = self._mean[name] = total / len(mc)
            self._last_std[name] = mc[:, :, -1].std(axis=0) / max(mm.scale, 1e-12)
        return got

    def sigma(self, name: str) -> np.ndarray:
        got = self._sigma.get(name)
        if got is None:
            got = self._sigma[name] = self.model.metrics[name].sigma(self.x)
        return got

    def cost(self) -> np.ndarray | None:
        if not self._cost_done:
            c = self.model.cost
            self._cost = c.predict(self.x) if c is not None else None
            self._cost_done = True
        return self._cost

    def flags(self) -> list[frozenset[str]]:
        if self._flags is None:
            for name in self.model.metrics:
                self.mean(name)
            archs = self.archs
            if archs is None:
                sp = self.model.space
                archs = [sp.from_index(int(i))  # type: ignore[attr-defined]
                         for i in np.asarray(self.index).tolist()]
            self._flags = self.model.flags(archs, self.x, self._last_std)
        return self._flags


class SurrogateBenchmark(Benchmark):
    """A benchmark whose answers are a fitted surrogate's predictions (see
    :mod:`surrogates._model` for the models and their references).

    * ``data_seed=None``: the ensemble-mean prediction (the surrogate's seed mean).
    * ``data_seed=s`` (any int >= 0): the mean plus a noise draw whose spread is the modelled
      seed-to-seed spread of the table the model was fitted on, the same for a given
      (cell, seed), in every process.  Metrics the table records only as seed means get no
      noise (:meth:`has_seed_values` says which).
    * ``cost_s``: the cost model's training seconds up to the fidelity (seed mean; the same
      for every seed).
    * fidelities: the epochs of the table it was fitted on; any other epoch is an error.
    * ``Evaluation.flags``: ``"ood"`` (plus the reason) when the cell is far from the
      training data (:meth:`SurrogateModel.flags`).
    * On an enumerable space (NB201) the whole space is predicted once, on the first single
      query, and later queries are lookups; :meth:`optimum` is the best mean prediction over
      the space (the surrogate's own optimum, for regret on the surrogate).

    Args:
        model: a :class:`SurrogateModel` or the directory of a saved one.
        threads: XGBoost threads of a loaded model (answers do not depend on it).
    """

    kind = "surrogate"

    def __init__(self, model: SurrogateModel | str | Path, *, threads: int = 1) -> None:
        self.threads = threads
        self.model = (model if isinstance(model, SurrogateModel)
                      else load_model(model, threads=threads))
        m = self.model
        self.space = m.space
        self._enumerable = is_enumerable(m.space)
        self.capabilities = BenchmarkCapabilities(
            data_seeds=True, trajectories=True, optimum=self._enumerable,
            cost_model=m.cost is not None, enumerable=self._enumerable)
        self._metrics = tuple(mm.metric for mm in m.metrics.values())
        self._names = tuple(mm.metric.name for mm in m.metrics.values())
        epochs = sorted({int(e) for mm in m.metrics.values() for e in mm.epochs})
        self._fid = Fidelity(tuple(epochs))
        self._pos = {n: {int(e): i for i, e in enumerate(mm.epochs)}
                     for n, mm in m.metrics.items()}
        self._cost_pos = ({int(e): i for i, e in enumerate(m.cost.epochs)}
                          if m.cost is not None else {})
        self._space_cache: _Block | None = None
        self._row_cache: dict[str, _Block] = {}

    # ---------------------------------------------------------------- introspection
    @property
    def name(self) -> str:
        return self.model.name

    @property
    def datasets(self) -> tuple[str, ...]:
        return (self.model.dataset,)

    def metrics(self, dataset: str) -> tuple[Metric, ...]:
        self.check_dataset(dataset)
        return self._metrics

    def fidelity(self, dataset: str) -> Fidelity:
        self.check_dataset(dataset)
        return self._fid

    def metric_epochs(self, dataset: str, metric: str) -> tuple[int, ...]:
        self.metric(dataset, metric)
        return tuple(int(e) for e in self.model.metrics[metric].epochs)

    def has_seed_values(self, dataset: str, metric: str) -> bool:
        """Whether a seeded query adds modelled noise to ``metric`` (the table it was fitted
        on recorded ``metric`` per seed)."""
        self.metric(dataset, metric)
        return self.model.metrics[metric].noise is not None

    def check_dataset(self, dataset: str) -> str:
        if dataset != self.model.dataset:
            raise unknown("dataset", dataset, self.datasets,
                          f" of surrogate {self.model.name!r}")
        return dataset

    def check_fidelity(self, dataset: str, fidelity: int | None) -> int:
        fid = self.fidelity(dataset)
        if fidelity is None:
            return fid.max
        if isinstance(fidelity, bool) or not isinstance(fidelity, (int, np.integer)):
            raise BenchmarkError(f"fidelity must be an int number of epochs, got {fidelity!r}")
        if int(fidelity) not in fid.values:
            span = (f"{fid.min}..{fid.max}" if len(fid.values) == fid.max - fid.min + 1
                    else ", ".join(map(str, fid.values)))
            raise MissingDataError(
                f"epoch {int(fidelity)} is outside surrogate {self.model.name!r}'s range on "
                f"{dataset!r}: it predicts epochs {span} (those of the table it was fitted on)")
        return int(fidelity)

    def describe(self) -> Description:
        m = self.model
        sha = m.model_sha256 or f"unsaved:{m.training.get('training_data_sha256', '')}"
        return Description(
            name=m.name, version=f"surrogate-v{FORMAT_VERSION} {m.model_id}", kind="surrogate",
            space=m.space.name, data_sha256=sha, datasets={m.dataset: self._metrics},
            extra={"model_id": m.model_id, "model_sha256": m.model_sha256,
                   "path": None if m.path is None else str(m.path),
                   "training": m.training,
                   "layout": {"name": m.layout.name, "version": m.layout.version},
                   "members": m.options.members,
                   "card": {k: v for k, v in m.card.items() if k in ("summary",)}})

    # ------------------------------------------------------------------------ archs
    def _parse(self, arch: ArchLike) -> Any:
        try:
            return self.space.parse(arch)
        except UnknownNameError:
            raise
        except (ValueError, TypeError) as e:
            raise UnknownNameError(
                f"{_short(arch)} is not a cell of space {self.space.name!r} (surrogate "
                f"{self.model.name!r}): {' '.join(str(e).split())}") from None

    # ---------------------------------------------------------------- computation
    def _compute(self, archs: list[Any]) -> _Block:
        return _Block(self.model, archs)

    def _space(self) -> _Block:
        if self._space_cache is None:
            sp = self.space
            self._space_cache = self._compute(
                [sp.from_index(i) for i in range(sp.size)])  # type: ignore[attr-defined]
        return self._space_cache

    def _rows(self, archs: list[Any]) -> tuple[_Block, np.ndarray]:
        """(computed block, row of each arch in it)."""
        if self._enumerable and self._space_cache is not None:
            return self._space_cache, self.space.indices(archs)  # type: ignore[attr-defined]
        return self._compute(archs), np.arange(len(archs))

    def _values(self, block: _Block, rows: np.ndarray, ids: Sequence[str],
                name: str, epoch: int, data_seed: int | None) -> np.ndarray:
        mm = self.model.metrics[name]
        pos = self._pos[name].get(epoch)
        if pos is None:
            return np.full(len(rows), np.nan)
        v = block.mean(name)[rows, pos]
        if data_seed is not None and mm.noise is not None:
            u = self.model.noise_draw(ids, data_seed)[:, mm.pool_cols[0] + pos]
            v = v + block.sigma(name)[rows, pos] * u
        return np.clip(v, mm.metric.lower, mm.metric.upper)

    def _cost(self, block: _Block, rows: np.ndarray, epoch: int) -> np.ndarray:
        pos = self._cost_pos.get(epoch)
        cost = block.cost()
        if cost is None or pos is None:
            return np.full(len(rows), np.nan)
        return np.asarray(cost[rows, pos])

    def _check_seed(self, data_seed: int | None) -> int | None:
        if data_seed is None:
            return None
        if (isinstance(data_seed, bool) or not isinstance(data_seed, (int, np.integer))
                or data_seed < 0):
            raise BenchmarkError(f"data_seed must be an int >= 0 or None, got {data_seed!r}")
        return int(data_seed)

    def data_seeds(self, arch: ArchLike, dataset: str) -> None:
        """``None``: any int >= 0 is a noise draw."""
        self.check_dataset(dataset)
        return None

    def ood_flags(self, archs: Sequence[ArchLike]) -> list[frozenset[str]]:
        """Out-of-distribution flags of many cells (see :meth:`SurrogateModel.flags`)."""
        return self.model.flags([self._parse(a) for a in archs])

    # ---------------------------------------------------------------------- queries
    def _query(self, arch: ArchLike, dataset: str, fidelity: int,
               data_seed: int | None) -> Evaluation:
        a = self._parse(arch)
        seed = self._check_seed(data_seed)
        aid = self.space.arch_id(a)
        if self._enumerable:
            block, rows = self._space(), self.space.indices([a])  # type: ignore[attr-defined]
        else:
            got = self._row_cache.get(aid)
            if got is None:
                if len(self._row_cache) > 100_000:
                    self._row_cache.clear()
                got = self._row_cache[aid] = self._compute([a])
            block, rows = got, np.zeros(1, dtype=np.int64)
        values = {n: float(self._values(block, rows, [aid], n, fidelity, seed)[0])
                  for n in self._names}
        flags = block.flags()[int(rows[0])]
        return Evaluation(aid, dataset, fidelity, seed, values,
                          float(self._cost(block, rows, fidelity)[0]), flags=flags)

    def _query_many(self, archs: Sequence[ArchLike] | np.ndarray, dataset: str, fidelity: int,
                    data_seed: int | None) -> EvaluationBatch:
        seed = self._check_seed(data_seed)
        sp = self.space
        if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            # the fast path: indices of an enumerable space (features by lookup, ids only
            # when a noise draw needs them)
            if not self._enumerable:
                raise BenchmarkError(f"space {sp.name!r} has no indices: give cells")
            index = sp.indices(archs.reshape(-1))  # type: ignore[attr-defined]
            if self._space_cache is not None:
                block, rows = self._space_cache, index
            else:
                block = _Block(self.model, None, index)
                rows = np.arange(len(index))
            ids: Sequence[str] = (() if seed is None else
                                  [sp.arch_id(sp.from_index(int(i)))  # type: ignore[attr-defined]
                                   for i in index.tolist()])
        else:
            parsed = [self._parse(a) for a in archs]
            ids = [sp.arch_id(a) for a in parsed]
            block, rows = self._rows(parsed)
            index = (sp.indices(parsed) if self._enumerable  # type: ignore[attr-defined]
                     else np.full(len(parsed), -1, dtype=np.int64))
        cols = _Columns(self._names, lambda n: self._values(block, rows, ids, n, fidelity, seed))
        return EvaluationBatch(arch_index=index, dataset=dataset, fidelity=fidelity,
                               data_seed=seed, values=cols,
                               cost_s=self._cost(block, rows, fidelity), arch_ids=tuple(ids))

    def _trajectory(self, arch: ArchLike, dataset: str, max_fidelity: int,
                    data_seed: int | None) -> Trajectory:
        a = self._parse(arch)
        seed = self._check_seed(data_seed)
        aid = self.space.arch_id(a)
        epochs = [e for e in self._fid.values if e <= max_fidelity]
        evs = [self._query(a, dataset, e, seed) for e in epochs]
        return Trajectory(arch_id=aid, dataset=dataset, data_seed=seed,
                          epochs=np.asarray(epochs),
                          values={n: np.array([e.values[n] for e in evs]) for n in self._names},
                          cost_s=np.array([e.cost_s for e in evs]))

    def _optimum(self, metric: Metric, dataset: str, fidelity: int) -> Optimum:
        if not self._enumerable:
            return super()._optimum(metric, dataset, fidelity)
        block = self._space()
        rows = np.arange(self.space.size)  # type: ignore[attr-defined]
        col = self._values(block, rows, (), metric.name, fidelity, None)
        if np.isnan(col).all():
            raise MissingDataError(f"surrogate {self.name!r} predicts no {metric.name!r} at "
                                   f"epoch {fidelity}")
        best = int(np.nanargmax(col) if metric.direction.value == "max" else np.nanargmin(col))
        return Optimum(metric=metric.name, dataset=dataset, fidelity=fidelity,
                       value=float(col[best]),
                       arch_id=self.space.arch_id(self.space.from_index(best)))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------ misc
    def __repr__(self) -> str:
        return f"SurrogateBenchmark({self.model.model_id!r}, dataset={self.model.dataset!r})"

    def __getstate__(self) -> dict[str, Any]:
        if self.model.path is None:
            raise BenchmarkError(f"surrogate {self.name!r} is not saved: save it "
                                 f"(model.save(DIR)) before sending it to worker processes")
        return {"path": str(self.model.path), "threads": self.threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], threads=state.get("threads", 1))  # type: ignore[misc]


def _short(arch: Any) -> str:
    text = repr(arch)
    return text if len(text) <= 80 else text[:77] + "..."
