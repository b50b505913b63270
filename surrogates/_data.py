"""Training data for a surrogate, read from any benchmark that enumerates its cells (a table)
through the public Benchmark API only (so ``surrogates`` never imports ``tabular_data``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Benchmark, BenchmarkError, MissingDataError
from benchbench.rng import make_rng
from benchbench.spaces import is_enumerable
from surrogates._model import TrainingData

__all__ = ["read_cell_file", "split_rows", "training_data"]


def training_data(bench: Benchmark, dataset: str, *,
                  metrics: Sequence[str] | None = None) -> TrainingData:
    """Every cell of ``bench`` on ``dataset``: seed-mean curves of each metric at each
    recorded epoch, per-seed curves of the metrics recorded per seed (NaN where a cell lacks a
    seed: NB201 trained 7,456 cells twice and 8,169 three times), and the seed-mean training
    time.  Cells without a recorded seed mean are left out.

    Raises:
        BenchmarkError: the benchmark cannot list its cells (not enumerable).
    """
    bench.check_dataset(dataset)
    space = bench.space
    if not (bench.capabilities.enumerable and is_enumerable(space)):
        raise BenchmarkError(f"cannot fit from {bench.name!r}: a surrogate is fitted from a "
                             f"benchmark that lists its cells (a table); give cells and values "
                             f"with surrogates.TrainingData instead")
    n_cells = space.size  # type: ignore[attr-defined]
    names = [m.name for m in bench.metrics(dataset)] if metrics is None else list(metrics)
    for n in names:
        bench.metric(dataset, n)
    mets = tuple(bench.metric(dataset, n) for n in names)
    fid = bench.fidelity(dataset).values
    epochs = {n: tuple(bench.metric_epochs(dataset, n)) for n in names}
    rows = np.arange(n_cells)
    # rows with a seed mean at the last epoch
    present = np.ones(n_cells, dtype=bool)
    try:
        last = bench.query_many(rows, dataset=dataset, fidelity=fid[-1])
    except MissingDataError:
        ok = []
        for r in rows.tolist():
            try:
                bench.query(r, dataset=dataset, fidelity=fid[-1])
                ok.append(True)
            except MissingDataError:
                ok.append(False)
        present = np.asarray(ok)
        rows = rows[present]
        last = bench.query_many(rows, dataset=dataset, fidelity=fid[-1])
    means = {n: np.full((len(rows), len(epochs[n])), np.nan) for n in names}
    cost = np.full((len(rows), len(fid)), np.nan)
    for j, e in enumerate(fid):
        batch = last if e == fid[-1] else bench.query_many(rows, dataset=dataset, fidelity=e)
        for n in names:
            if e in epochs[n]:
                means[n][:, epochs[n].index(e)] = np.asarray(batch.values[n], dtype=float)
        cost[:, j] = np.asarray(batch.cost_s, dtype=float)
    seeds: dict[str, np.ndarray] = {}
    seeded = [n for n in names if bench.has_seed_values(dataset, n)]
    if seeded and bench.capabilities.data_seeds:
        axis = sorted(_seed_axis(bench, dataset, rows))
        per_row: list[tuple[int, ...]] | None = None
        for n in seeded:
            seeds[n] = np.full((len(rows), len(axis), len(epochs[n])), np.nan)
        for si, s in enumerate(axis):
            sub, have = rows, np.ones(len(rows), dtype=bool)
            try:  # every row has this seed (the common case): one batch per epoch
                batches = [bench.query_many(rows, dataset=dataset, fidelity=e, data_seed=s)
                           for e in fid]
            except MissingDataError:  # some rows lack it (NB201: 2 or 3 runs per cell)
                if per_row is None:
                    per_row = [bench.data_seeds(int(r), dataset) or () for r in rows.tolist()]
                have = np.array([s in t for t in per_row])
                sub = rows[have]
                if not len(sub):
                    continue
                batches = [bench.query_many(sub, dataset=dataset, fidelity=e, data_seed=s)
                           for e in fid]
            for e, b in zip(fid, batches):
                for n in seeded:
                    if e in epochs[n]:
                        seeds[n][have, si, epochs[n].index(e)] = np.asarray(b.values[n],
                                                                            dtype=float)
    desc = bench.describe()
    ids = [space.arch_id(space.from_index(int(r))) for r in rows.tolist()]  # type: ignore[attr-defined]
    has_cost = bool(np.isfinite(cost).any())
    return TrainingData(
        space=space, dataset=dataset, arch_ids=ids, metrics=mets, epochs=epochs, means=means,
        seeds=seeds, cost_epochs=tuple(fid) if has_cost else (),
        cost=cost if has_cost else None,
        source={"table": desc.name, "table_version": desc.version, "table_kind": desc.kind,
                "table_sha256": desc.data_sha256})


def _seed_axis(bench: Benchmark, dataset: str, rows: np.ndarray) -> set[int]:
    """The data seeds recorded for any of ``rows`` (the table's seed list, from its
    description, else asked row by row)."""
    extra = bench.describe().extra or {}
    listed = (extra.get("seeds") or {}).get(dataset) if isinstance(extra, dict) else None
    if listed:
        return {int(s) for s in listed}
    return {s for r in rows.tolist() for s in (bench.data_seeds(int(r), dataset) or ())}


def split_rows(n: int, fraction: float, seed: int) -> np.ndarray:
    """A random ``fraction`` of ``range(n)`` (sorted), drawn from ``seed``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"train fraction must be in (0, 1], got {fraction}")
    k = max(1, int(round(fraction * n)))
    rng = make_rng(seed, "surrogate", "train-split")
    return np.sort(rng.choice(n, size=k, replace=False))


def read_cell_file(path: str | Path, space: Any) -> list[str]:
    """Cell ids from a text file, one cell (id string or index) per line; ``#`` comments."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no cell file at {p}")
    out = []
    for i, line in enumerate(p.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        cell: Any = int(text) if text.isdigit() else text
        try:
            out.append(space.arch_id(space.parse(cell)))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{p}:{i}: {text[:60]!r} is not a cell of space {space.name!r} "
                             f"({' '.join(str(e).split())[:120]})") from None
    if not out:
        raise ValueError(f"{p} lists no cells")
    return out
