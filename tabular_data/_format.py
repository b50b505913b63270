"""The benchbench table format (HDF5, format versions 1 and 2).

Layout::

    /                       attrs: format="benchbench-table", format_version=1 (2 for a table
                                   keyed by cell id), name, space, version, source_kind,
                                   source_sha256, provenance (JSON), created,
                                   rows="index" | "arch_id" (absent: "index")
    /arch_ids               (A,) utf-8 strings: row r holds the cell of official index r
                            (rows="index"), or the table's own cells in any order, each once,
                            by canonical id (rows="arch_id")
    /arch_specs             (A,) utf-8 strings, rows="arch_id" only: a string the space's
                            ``parse`` reads for each row (``space.format`` of the cell; NB101
                            module hashes cannot be inverted, so the spec travels with the id)
    /datasets/<dataset>     attrs: seeds (S,) int64, epochs (E,) int64 (fidelities, ascending),
                                   metrics (JSON list of Metric dicts, in Evaluation order),
                                   metric_epochs (JSON {metric: [epochs with a value]}),
                                   seed_values (JSON {metric: true if per-seed values exist})
        <metric>/seeds      (A, S, E) float64, NaN where the source has no value
        <metric>/mean       (A, E)    float64, the seed mean (the source's own when it gives one)
        cost_s/seeds        (A, S, E) float64, cumulative training seconds up to each epoch
        cost_s/mean         (A, E)
        seed_mask           (A, S) bool, True where the run of that seed was recorded
                            (version 2 adds the attr cost_recorded: False when the source has no
                            training times, e.g. NASLib's NB101 sample)

Values are written in blocks of rows so an importer never holds the whole table in memory;
rows never written stay NaN (HDF5 fill value) and cost no space.

Tables keyed by cell id (``rows="arch_id"``, format version 2) are how a space that cannot be
enumerated (NB101, DARTS) or any partial table is stored: the reader looks rows up by id and
exposes a :class:`~benchbench.spaces.RestrictedSpace` of the rows as ``bench.space``.  An
index-keyed table (NB201) is written exactly as in version 1, with ``format_version=1``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import secrets
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchbench.api import Metric

__all__ = ["FORMAT", "FORMAT_VERSION", "ROWS_ARCH_ID", "ROWS_INDEX", "DatasetSpec", "TableWriter",
           "sha256_files"]

FORMAT = "benchbench-table"
#: The newest version this code reads and writes (1: index-keyed rows; 2: rows keyed by cell
#: id, ``arch_specs``).
FORMAT_VERSION = 2
ROWS_INDEX = "index"
ROWS_ARCH_ID = "arch_id"
COST = "cost_s"


@dataclass(frozen=True)
class DatasetSpec:
    """Shape of one dataset in a table: its metrics, recorded seeds and epochs."""

    metrics: tuple[Metric, ...]
    seeds: tuple[int, ...]
    epochs: tuple[int, ...]


def sha256_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of ``paths`` in the given order (file names not included)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return np.nanmean(a, axis=axis)


class TableWriter:
    """Write a table file block by block.

    The file is written to a temporary name of this writer's own
    (``.<name>.h5.<pid>.<random>.partial`` beside it), checked with ``verify`` (if given) and
    renamed on :meth:`close`, so an interrupted import never leaves a half-written table under
    the final name and two writers never write one file.  Values outside a metric's bounds
    (``Metric.lower`` / ``upper``) are refused by :meth:`write`.

    ``arch_specs`` (one spec string per row) makes the table keyed by cell id (format version
    2, ``rows="arch_id"``): ``arch_ids`` are then the rows' canonical ids in any order, each
    once, and ``arch_specs[r]`` a string the space parses to the cell of ``arch_ids[r]``.
    """

    def __init__(self, path: Path, *, name: str, space: str, arch_ids: Sequence[str],
                 datasets: Mapping[str, DatasetSpec], source_kind: str, source_sha256: str,
                 version: str, provenance: Mapping[str, Any],
                 verify: Callable[[Path], None] | None = None,
                 arch_specs: Sequence[str] | None = None) -> None:
        if arch_specs is not None:
            if len(arch_specs) != len(arch_ids):
                raise ValueError(f"{len(arch_specs)} arch_specs for {len(arch_ids)} arch_ids")
            if len(set(arch_ids)) != len(arch_ids):
                raise ValueError("a table keyed by cell id lists each cell once; arch_ids has "
                                 "duplicates")
        self.path = Path(path)
        self._tmp = self.path.with_name(
            f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = h5py.File(self._tmp, "x")
        self.specs = dict(datasets)
        self._verify = verify
        self._arch_ids = list(arch_ids)
        n = len(arch_ids)
        self.n_archs = n
        a = self.f.attrs
        a["format"] = FORMAT
        a["format_version"] = 1 if arch_specs is None else 2
        if arch_specs is not None:  # index-keyed tables stay byte-for-byte version 1
            a["rows"] = ROWS_ARCH_ID
        a["name"] = name
        a["space"] = space
        a["version"] = version
        a["source_kind"] = source_kind
        a["source_sha256"] = source_sha256
        a["provenance"] = json.dumps(dict(provenance), sort_keys=True, default=str)
        a["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.f.create_dataset("arch_ids", data=np.array(arch_ids, dtype=object),
                              dtype=h5py.string_dtype("utf-8"), compression="gzip")
        if arch_specs is not None:
            self.f.create_dataset("arch_specs", data=np.array(list(arch_specs), dtype=object),
                                  dtype=h5py.string_dtype("utf-8"), compression="gzip")
        self._epochs_seen: dict[str, dict[str, np.ndarray]] = {}
        self._seed_values: dict[str, dict[str, bool]] = {}
        for ds, spec in self.specs.items():
            g = self.f.create_group(f"datasets/{ds}")
            s, e = len(spec.seeds), len(spec.epochs)
            for m in [*(m.name for m in spec.metrics), COST]:
                kw = dict(dtype="f8", fillvalue=np.nan, compression="gzip", compression_opts=4,
                          shuffle=True)
                if s:
                    g.create_dataset(f"{m}/seeds", shape=(n, s, e),
                                     chunks=(min(n, 512), s, min(e, 25)), **kw)
                else:  # no per-seed values at all: an empty array, no chunks
                    g.create_dataset(f"{m}/seeds", shape=(n, 0, e), dtype="f8")
                g.create_dataset(f"{m}/mean", shape=(n, e), chunks=(min(n, 2048), min(e, 25)),
                                 **kw)
            if s:
                g.create_dataset("seed_mask", shape=(n, s), dtype=bool, fillvalue=False,
                                 chunks=(min(n, 4096), s), compression="gzip")
            else:
                g.create_dataset("seed_mask", shape=(n, 0), dtype=bool)
            self._epochs_seen[ds] = {m.name: np.zeros(e, dtype=bool) for m in spec.metrics}
            self._seed_values[ds] = {m.name: False for m in spec.metrics}
        self._keyed_by_id = arch_specs is not None
        self._cost_seen = {ds: False for ds in self.specs}

    def write(self, dataset: str, rows: np.ndarray, *,
              per_seed: Mapping[str, np.ndarray], mean: Mapping[str, np.ndarray] | None = None,
              cost_seeds: np.ndarray | None = None, cost_mean: np.ndarray | None = None) -> None:
        """Write a block of rows.

        Args:
            rows: sorted row indices, shape ``(n,)``.
            per_seed: metric -> ``(n, S, E)``; metrics absent here get NaN.
            mean: metric -> ``(n, E)``; where not given, the NaN-mean over the seeds.
            cost_seeds / cost_mean: cumulative training seconds, same shapes.
        """
        spec = self.specs[dataset]
        bounds = {m.name: (m.lower, m.upper) for m in spec.metrics}
        g = self.f[f"datasets/{dataset}"]
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        if np.any(np.diff(rows) <= 0):
            raise ValueError("rows must be strictly increasing")
        n, s, e = len(rows), len(spec.seeds), len(spec.epochs)
        sel = slice(int(rows[0]), int(rows[-1]) + 1) if rows[-1] - rows[0] + 1 == n else rows
        mean = dict(mean or {})
        mask = np.zeros((n, s), dtype=bool)
        for m in [*(m.name for m in spec.metrics), COST]:
            ps = per_seed.get(m) if m != COST else cost_seeds
            mn = mean.get(m) if m != COST else cost_mean
            if ps is None:
                ps = np.full((n, s, e), np.nan)
            ps = np.asarray(ps, dtype=np.float64)
            if ps.shape != (n, s, e):
                raise ValueError(f"{dataset}/{m}: per-seed block has shape {ps.shape}, "
                                 f"expected {(n, s, e)}")
            if mn is None:
                mn = _nanmean(ps, axis=1) if s else np.full((n, e), np.nan)
            mn = np.asarray(mn, dtype=np.float64)
            if mn.shape != (n, e):
                raise ValueError(f"{dataset}/{m}: mean block has shape {mn.shape}, "
                                 f"expected {(n, e)}")
            if m in bounds:
                self._check_bounds(dataset, m, bounds[m], rows, ps, mn)
            if m == COST:
                self._cost_seen[dataset] |= bool((~np.isnan(ps)).any() or (~np.isnan(mn)).any())
            g[f"{m}/seeds"][sel] = ps
            g[f"{m}/mean"][sel] = mn
            if m != COST:
                has = ~np.isnan(ps)
                mask |= has.any(axis=2)
                self._epochs_seen[dataset][m] |= has.any(axis=(0, 1)) | ~np.isnan(mn).all(axis=0)
                self._seed_values[dataset][m] |= bool(has.any())
        g["seed_mask"][sel] = mask

    def _check_bounds(self, dataset: str, metric: str, bounds: tuple[float, float],
                      rows: np.ndarray, ps: np.ndarray, mn: np.ndarray) -> None:
        """A one-line ``ValueError`` for the first value (NaN is no value) outside
        ``bounds``."""
        lo, hi = bounds
        for block, where in ((ps, "seed"), (mn, "mean")):
            with np.errstate(invalid="ignore"):
                bad = (block < lo) | (block > hi)
            if bad.any():
                at = tuple(int(i) for i in np.argwhere(bad)[0])
                row = int(rows[at[0]])
                arch = self._arch_ids[row] if row < len(self._arch_ids) else "?"
                spec = self.specs[dataset]
                if where == "seed":
                    cell = (f"seed {spec.seeds[at[1]]}, epoch {spec.epochs[at[2]]}")
                else:
                    cell = f"seed mean, epoch {spec.epochs[at[1]]}"
                raise ValueError(f"{dataset}: cell {row} ({arch}), {cell}: {metric} = "
                                 f"{float(block[at])!r} is outside its bounds [{lo}, {hi}]")

    def close(self) -> Path:
        """Finish the file: record per-metric availability, drop metrics the source never had,
        and move it to its final name."""
        for ds, spec in self.specs.items():
            g = self.f[f"datasets/{ds}"]
            epochs = np.asarray(spec.epochs, dtype=np.int64)
            seen = self._epochs_seen[ds]
            present = [m for m in spec.metrics if seen[m.name].any()]
            for m in spec.metrics:
                if m not in present:
                    del g[m.name]
            g.attrs["seeds"] = np.asarray(spec.seeds, dtype=np.int64)
            g.attrs["epochs"] = epochs
            g.attrs["metrics"] = json.dumps([m.to_dict() for m in present])
            g.attrs["metric_epochs"] = json.dumps(
                {m.name: epochs[seen[m.name]].tolist() for m in present})
            g.attrs["seed_values"] = json.dumps(
                {m.name: self._seed_values[ds][m.name] for m in present})
            if self._keyed_by_id:  # version 2: whether the source records training costs
                g.attrs["cost_recorded"] = self._cost_seen[ds]
        self.f.close()
        if self._verify is not None:
            self._verify(self._tmp)
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file."""
        try:
            self.f.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()
