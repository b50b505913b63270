"""TabularBenchmark: answers queries from a table file by index arithmetic."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
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
from benchbench.spaces import EnumerableSpace, RestrictedSpace, get_space, is_enumerable
from tabular_data._format import COST, FORMAT, FORMAT_VERSION, ROWS_ARCH_ID, ROWS_INDEX

__all__ = ["TabularBenchmark"]


def _open_space(path: Path, name: str, options: Any) -> Any:
    """The table's space: ``name`` (registered or an import path), built with the JSON
    ``options`` when the table records them (a space whose variables are data, e.g. the
    ``CategoricalProductSpace`` of ``benchbench data import table``)."""
    if options is None:
        return get_space(name)
    from benchbench.registry import SPACES

    try:
        return SPACES.create(name, **json.loads(options))
    except (TypeError, ValueError) as e:
        raise BenchmarkError(f"{path}: cannot build space {name!r} from its recorded "
                             f"space_options: {e}") from None


@dataclass
class _Dataset:
    name: str
    metrics: tuple[Metric, ...]
    names: tuple[str, ...]
    seeds: tuple[int, ...]
    seed_pos: dict[int, int]
    epochs: tuple[int, ...]
    epoch_pos: dict[int, int]
    metric_epochs: dict[str, tuple[int, ...]]
    seed_values: dict[str, bool]
    fidelity: Fidelity
    present_seeds: tuple[int, ...] | None = None
    row_seeds: list[tuple[int, ...]] | None = None


class _Slice:
    """All metric values of one (dataset, epoch, seed-or-mean) for every row, in memory.

    ``values`` is ``(A, M)``; ``rows`` the same as Python lists for fast scalar queries;
    ``present[r]`` is True when row ``r`` has a recorded run for this seed (or any run,
    for the mean).
    """

    __slots__ = ("values", "cost", "present", "rows", "cost_list", "present_list")

    def __init__(self, values: np.ndarray, cost: np.ndarray, present: np.ndarray) -> None:
        self.values = values
        self.cost = cost
        self.present = present
        self.rows = values.tolist()
        self.cost_list = cost.tolist()
        self.present_list = present.tolist()


class TabularBenchmark(Benchmark):
    """A benchmark backed by a benchbench table file (see ``tabular_data._format``).

    The file is opened lazily; only the (dataset, epoch) slices that are queried are read,
    and each is kept in memory once read.

    Queries with ``data_seed=None`` return seed means (the source's own mean where it gives
    one, else the mean over the recorded seeds); with a seed, that recorded run.  ``cost_s``
    is the recorded cumulative training time of that run; where the source records only a
    seed-mean time (the flat NB201 export), the seed-mean time is used for every seed.

    Rows: an index-keyed table (NB201) has one row per official index and ``space`` is the
    table's space.  A table keyed by cell id (``rows="arch_id"``: NB101, any partial table)
    lists its own cells in any order; lookups go through a dict from id to row, ``space`` is a
    :class:`~benchbench.spaces.RestrictedSpace` of exactly those cells (so optimizers only
    propose cells the table answers), and a valid cell that is not in the table raises
    :class:`~benchbench.api.MissingDataError` ("... not in this table (N cells)").
    """

    kind = "tabular"
    capabilities = BenchmarkCapabilities(data_seeds=True, trajectories=True, optimum=True,
                                         cost_model=True, enumerable=True)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no table file at {self.path}")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as e:
            raise BenchmarkError(f"{self.path} is not a readable HDF5 table: {e}") from None
        a = self._f.attrs
        if a.get("format") != FORMAT:
            raise BenchmarkError(f"{self.path} is not a benchbench table "
                                 f"(format attribute {a.get('format')!r})")
        if int(a["format_version"]) > FORMAT_VERSION:
            raise BenchmarkError(f"{self.path} has table format version {a['format_version']}; "
                                 f"this benchbench reads up to {FORMAT_VERSION}: upgrade it")
        self._name = str(a["name"])
        self.version = str(a["version"])
        self.source_kind = str(a["source_kind"])
        self.source_sha256 = str(a["source_sha256"])
        self.provenance = json.loads(a["provenance"])
        space = _open_space(self.path, str(a["space"]), a.get("space_options"))
        rows_kind = str(a.get("rows", ROWS_INDEX))
        if rows_kind not in (ROWS_INDEX, ROWS_ARCH_ID):
            raise BenchmarkError(f"{self.path}: unknown row layout rows={rows_kind!r}; this "
                                 f"benchbench reads {ROWS_INDEX!r} and {ROWS_ARCH_ID!r}")
        self._by_id = rows_kind == ROWS_ARCH_ID
        self._arch_ids: list[str] | None = None
        if self._by_id:
            if "arch_specs" not in self._f:
                raise BenchmarkError(f"{self.path}: a table keyed by cell id needs "
                                     f"/arch_specs; the file has none (damaged?)")
            specs = [s.decode() if isinstance(s, bytes) else str(s)
                     for s in self._f["arch_specs"][()]]
            try:
                restricted = RestrictedSpace(space, self.arch_ids(), specs=specs,
                                             label=f"this table {self._name!r}")
            except ValueError as e:
                raise BenchmarkError(f"{self.path}: {e}") from None
            self.space: EnumerableSpace = restricted
        elif not is_enumerable(space):
            raise BenchmarkError(f"{self.path}: space {space.name!r} is not enumerable; a "
                                 f"table of it must be keyed by cell id (rows='arch_id')")
        else:
            self.space = space  # type: ignore[assignment]
        self._ds: dict[str, _Dataset] = {}
        for name, g in self._f["datasets"].items():
            metrics = tuple(Metric.from_dict(d) for d in json.loads(g.attrs["metrics"]))
            seeds = tuple(int(s) for s in g.attrs["seeds"])
            epochs = tuple(int(e) for e in g.attrs["epochs"])
            me = {k: tuple(v) for k, v in json.loads(g.attrs["metric_epochs"]).items()}
            present = sorted({e for v in me.values() for e in v})
            self._ds[name] = _Dataset(
                name=name, metrics=metrics, names=tuple(m.name for m in metrics), seeds=seeds,
                seed_pos={s: i for i, s in enumerate(seeds)}, epochs=epochs,
                epoch_pos={e: i for i, e in enumerate(epochs)}, metric_epochs=me,
                seed_values=json.loads(g.attrs["seed_values"]),
                fidelity=Fidelity(tuple(present)))
        self._datasets = tuple(self._ds)
        if not all(bool(g.attrs.get("cost_recorded", True)) for g in self._f["datasets"].values()):
            # a source without training times (version 2 records it): no cost model
            self.capabilities = BenchmarkCapabilities(
                data_seeds=True, trajectories=True, optimum=True, enumerable=True,
                cost_model=any(bool(g.attrs.get("cost_recorded", True))
                               for g in self._f["datasets"].values()))
        self._slices: dict[tuple[str, int, int | None], _Slice] = {}
        self._masks: dict[str, np.ndarray] = {}
        self._rows: dict[Any, int] | None = None

    # --------------------------------------------------------------- introspection
    @property
    def name(self) -> str:
        return self._name

    @property
    def datasets(self) -> tuple[str, ...]:
        return self._datasets

    def _dataset(self, dataset: str) -> _Dataset:
        try:
            return self._ds[dataset]
        except KeyError:
            raise unknown("dataset", dataset, self._datasets, f" in {self._name!r}") from None

    def metrics(self, dataset: str) -> tuple[Metric, ...]:
        return self._dataset(dataset).metrics

    def fidelity(self, dataset: str) -> Fidelity:
        return self._dataset(dataset).fidelity

    def metric_epochs(self, dataset: str, metric: str) -> tuple[int, ...]:
        """Epochs at which ``metric`` has at least one recorded value."""
        self.metric(dataset, metric)
        return self._ds[dataset].metric_epochs[metric]

    def has_seed_values(self, dataset: str, metric: str) -> bool:
        """Whether the source records ``metric`` per seed (else only a seed mean)."""
        self.metric(dataset, metric)
        return bool(self._ds[dataset].seed_values[metric])

    def seeds(self, dataset: str) -> tuple[int, ...]:
        """The seeds recorded for at least one architecture on ``dataset``."""
        d = self._dataset(dataset)
        if d.present_seeds is None:
            any_row: list[bool] = np.asarray(self.seed_mask(dataset)).any(axis=0).tolist()  # type: ignore[assignment]
            d.present_seeds = tuple(s for s, ok in zip(d.seeds, any_row) if ok)
        return d.present_seeds

    def seed_mask(self, dataset: str) -> np.ndarray:
        """``(A, S)`` bool: which seeds each row has, in the order of the file's seed axis
        (``describe().extra["seed_axis"]``)."""
        m = self._masks.get(dataset)
        if m is None:
            d = self._dataset(dataset)
            m = self._read(self._f[f"datasets/{d.name}"], d, "seed_mask", None, ())
            m.setflags(write=False)
            self._masks[dataset] = m
        return m

    def values(self, dataset: str, metric: str, *, epoch: int,
               data_seed: int | None = None) -> np.ndarray:
        """``metric`` at ``epoch`` for every row (official index order), shape ``(A,)``,
        read-only; NaN where the row has no recorded run for ``data_seed`` (``None``: the
        seed mean)."""
        d = self._dataset(dataset)
        self.metric(dataset, metric)
        epoch = self.check_fidelity(dataset, epoch)
        sl = self._slice(d, epoch, self._check_seed(d, data_seed))
        return sl.values[:, d.names.index(metric)]

    def data_seeds(self, arch: ArchLike, dataset: str) -> tuple[int, ...]:
        d = self._dataset(dataset)
        row = self._row(arch)
        if d.row_seeds is None:  # one tuple per row, built once (the runner asks per cell)
            names = np.asarray(d.seeds, dtype=object)
            d.row_seeds = [tuple(names[m].tolist()) for m in np.asarray(self.seed_mask(dataset))]
        return d.row_seeds[row]

    def describe(self) -> Description:
        return Description(
            name=self._name, version=self.version, kind="tabular", space=self.space.name,
            data_sha256=self.source_sha256,
            datasets={d: v.metrics for d, v in self._ds.items()},
            extra={"path": str(self.path), "source_kind": self.source_kind,
                   "provenance": self.provenance,
                   "seeds": {d: list(self.seeds(d)) for d in self._ds},
                   "seed_axis": {d: list(v.seeds) for d, v in self._ds.items()},
                   "epochs": {d: [v.fidelity.min, v.fidelity.max] for d, v in self._ds.items()}})

    # ------------------------------------------------------------------ archs
    def arch_ids(self) -> list[str]:
        """Row r -> cell id (official index r, or the table's own order when it is keyed by
        cell id)."""
        if self._arch_ids is None:
            self._arch_ids = [s.decode() if isinstance(s, bytes) else s
                              for s in self._f["arch_ids"][()]]
        return self._arch_ids

    def _row(self, arch: ArchLike) -> int:
        rows = self._rows
        if rows is None:
            rows = self._build_rows()
        try:
            return rows[arch]
        except (KeyError, TypeError):
            pass
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            raise UnknownNameError(f"architecture index {arch} out of range for {self._name!r}; "
                                   f"allowed: 0..{len(self.arch_ids()) - 1}")
        a = self.space.parse(arch)  # raises a precise error for a malformed cell
        if self._by_id:  # parse raised MissingDataError for a valid cell outside the table
            r = rows[a] = rows[self.space.arch_id(a)]
            return r
        return rows[a]

    def _build_rows(self) -> dict[Any, int]:
        ids = self.arch_ids()
        space = self.space
        rows: dict[Any, int] = {}
        if self._by_id:  # records are resolved (and checked) lazily by the RestrictedSpace
            rows.update((s, r) for r, s in enumerate(ids))
            rows.update((r, r) for r in range(len(ids)))
            self._rows = rows
            return rows
        for r, s in enumerate(ids):
            a = space.parse(s)
            if space.index(a) != r:
                raise BenchmarkError(f"{self.path}: row {r} holds {s!r}, whose official index "
                                     f"is {space.index(a)}: the table is corrupt")
            rows[s] = r
            rows[a] = r
            rows[r] = r
        self._rows = rows
        return rows

    # ---------------------------------------------------------------- slices
    def _read(self, g: Any, d: _Dataset, metric: str, kind: str | None,
              sel: tuple[Any, ...]) -> np.ndarray:
        """``g[metric/kind][sel]`` as an array; a damaged file (h5py's ``OSError`` /
        ``KeyError`` while reading) becomes one :class:`BenchmarkError` line."""
        key = metric if kind is None else f"{metric}/{kind}"
        try:
            return np.asarray(g[key][sel])
        except (OSError, KeyError) as e:
            msg = " ".join(str(e).split()) or type(e).__name__
            raise BenchmarkError(
                f"{self.path}: cannot read dataset {d.name!r} metric {metric!r} "
                f"({g.name}/{key}): the table file is damaged ({msg}); re-import it with "
                f"`benchbench data import ... --force` (or rebuild it with "
                f"`benchbench data build ... --force`)") from None
    def _slice(self, d: _Dataset, epoch: int, data_seed: int | None) -> _Slice:
        key = (d.name, epoch, data_seed)
        sl = self._slices.get(key)
        if sl is not None:
            return sl
        e = d.epoch_pos[epoch]
        g = self._f[f"datasets/{d.name}"]
        if data_seed is None:
            vals = [self._read(g, d, m, "mean", (slice(None), e)) for m in d.names]
            cost = self._read(g, d, COST, "mean", (slice(None), e))
            present = self.seed_mask(d.name).any(axis=1)
            if vals:
                present = present | ~np.isnan(np.column_stack(vals)).all(axis=1)
        else:
            s = d.seed_pos[data_seed]
            vals = [self._read(g, d, m, "seeds", (slice(None), s, e)) for m in d.names]
            cost = self._read(g, d, COST, "seeds", (slice(None), s, e))
            cost = np.where(np.isnan(cost), self._read(g, d, COST, "mean", (slice(None), e)),
                            cost)
            present = self.seed_mask(d.name)[:, s].copy()
        values = (np.column_stack(vals) if vals
                  else np.empty((len(cost), 0), dtype=np.float64))
        for arr in (values, cost, present):
            arr.setflags(write=False)
        sl = self._slices[key] = _Slice(values, cost, np.asarray(present))
        return sl

    def _check_seed(self, d: _Dataset, data_seed: int | None) -> int | None:
        if data_seed is None:
            return None
        if isinstance(data_seed, bool) or not isinstance(data_seed, (int, np.integer)):
            raise BenchmarkError(f"data_seed must be an int or None, got {data_seed!r}")
        present = self.seeds(d.name)
        if int(data_seed) not in present:
            raise MissingDataError(
                f"seed {data_seed} is not recorded on dataset {d.name!r} of {self._name!r}; "
                f"recorded seeds: {', '.join(map(str, present)) or 'none (seed means only)'}")
        return int(data_seed)

    def _missing(self, d: _Dataset, row: int, data_seed: int | None) -> MissingDataError:
        cell = self.arch_ids()[row]
        if data_seed is None:
            return MissingDataError(f"no recorded results for cell {cell} on dataset "
                                    f"{d.name!r} of {self._name!r}")
        have = [s for s, ok in zip(d.seeds, self.seed_mask(d.name)[row].tolist()) if ok]
        return MissingDataError(
            f"seed {data_seed} was not recorded for cell {cell} on dataset {d.name!r}; "
            f"recorded seeds for this cell: {', '.join(map(str, have)) or 'none'}")

    # ---------------------------------------------------------------- queries
    def query(self, arch: ArchLike, *, dataset: str, fidelity: int | None = None,
              data_seed: int | None = None) -> Evaluation:
        """See :meth:`Benchmark.query` (validates, then reads one in-memory row)."""
        d = self._ds.get(dataset) or self._dataset(dataset)
        epoch = d.fidelity.max if fidelity is None else self.check_fidelity(d.name, fidelity)
        if data_seed is not None:
            data_seed = self._check_seed(d, data_seed)
        return self._query_row(d, self._row(arch), epoch, data_seed)

    def _query(self, arch: ArchLike, dataset: str, fidelity: int,
               data_seed: int | None) -> Evaluation:
        d = self._dataset(dataset)
        return self._query_row(d, self._row(arch), fidelity, self._check_seed(d, data_seed))

    def _query_row(self, d: _Dataset, row: int, epoch: int, data_seed: int | None) -> Evaluation:
        sl = self._slice(d, epoch, data_seed)
        if not sl.present_list[row]:
            raise self._missing(d, row, data_seed)
        return Evaluation(self.arch_ids()[row], d.name, epoch, data_seed,
                          dict(zip(d.names, sl.rows[row])), sl.cost_list[row])

    def _query_many(self, archs: Sequence[ArchLike] | np.ndarray, dataset: str, fidelity: int,
                    data_seed: int | None) -> EvaluationBatch:
        d = self._dataset(dataset)
        data_seed = self._check_seed(d, data_seed)
        rows = self._rows_of(archs)
        sl = self._slice(d, fidelity, data_seed)
        ok = sl.present[rows]
        if not ok.all():
            raise self._missing(d, int(rows[np.argmin(ok)]), data_seed)
        vals = sl.values[rows]
        return EvaluationBatch(arch_index=rows, dataset=d.name, fidelity=fidelity,
                               data_seed=data_seed,
                               values={n: vals[:, i] for i, n in enumerate(d.names)},
                               cost_s=sl.cost[rows])

    def _rows_of(self, archs: Sequence[ArchLike] | np.ndarray) -> np.ndarray:
        n = len(self.arch_ids())
        if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            rows = archs.astype(np.int64, copy=False).reshape(-1)
            if rows.size and (rows.min() < 0 or rows.max() >= n):
                bad = rows[(rows < 0) | (rows >= n)][0]
                raise UnknownNameError(f"architecture index {bad} out of range for "
                                       f"{self._name!r}; allowed: 0..{n - 1}")
            return rows
        return np.fromiter((self._row(a) for a in archs), dtype=np.int64, count=len(archs))

    def _trajectory(self, arch: ArchLike, dataset: str, max_fidelity: int,
                    data_seed: int | None) -> Trajectory:
        d = self._dataset(dataset)
        data_seed = self._check_seed(d, data_seed)
        row = self._row(arch)
        g = self._f[f"datasets/{d.name}"]
        keep = np.array([e in d.fidelity.values and e <= max_fidelity for e in d.epochs])
        if data_seed is None:
            if not self._slice(d, d.fidelity.max, None).present_list[row]:
                raise self._missing(d, row, None)
            vals = {m: self._read(g, d, m, "mean", (row,))[keep] for m in d.names}
            cost = self._read(g, d, COST, "mean", (row,))[keep]
        else:
            s = d.seed_pos[data_seed]
            if not self.seed_mask(d.name)[row, s]:
                raise self._missing(d, row, data_seed)
            vals = {m: self._read(g, d, m, "seeds", (row, s))[keep] for m in d.names}
            cost = self._read(g, d, COST, "seeds", (row, s))[keep]
            cost = np.where(np.isnan(cost), self._read(g, d, COST, "mean", (row,))[keep], cost)
        return Trajectory(arch_id=self.arch_ids()[row], dataset=d.name, data_seed=data_seed,
                          epochs=np.asarray(d.epochs)[keep], values=vals, cost_s=cost)

    def _optimum(self, metric: Metric, dataset: str, fidelity: int) -> Optimum:
        d = self._dataset(dataset)
        col = self._slice(d, fidelity, None).values[:, d.names.index(metric.name)]
        if np.isnan(col).all():
            raise MissingDataError(f"metric {metric.name!r} has no values at epoch {fidelity} "
                                   f"on dataset {dataset!r}; recorded at epochs "
                                   f"{list(d.metric_epochs[metric.name])}")
        best = int(np.nanargmax(col) if metric.direction.value == "max" else np.nanargmin(col))
        return Optimum(metric=metric.name, dataset=dataset, fidelity=fidelity,
                       value=float(col[best]), arch_id=self.arch_ids()[best])

    # ------------------------------------------------------------------ misc
    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> TabularBenchmark:
        return self

    def __repr__(self) -> str:
        return f"TabularBenchmark({str(self.path)!r}, name={self._name!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

