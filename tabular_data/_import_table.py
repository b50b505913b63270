"""Any table as a benchmark: a CSV / Parquet file whose architecture is a tuple of categorical
choices (``benchbench data import table``).

Each row of the file is one evaluation: the architecture columns (``arch_columns``) give the
cell, optional columns give the training seed and the fidelity (epochs), and the metric
columns give its values.  The search space is the product of the architecture columns'
values (:class:`~benchbench.spaces.categorical.CategoricalProductSpace`, each column's values
sorted, numerically when they are all numbers) restricted to the cells present: the table is
written keyed by cell id (format version 2), so the benchmark's ``space`` is a
:class:`~benchbench.spaces.RestrictedSpace` of exactly the file's cells, and RS, RE, LS,
REINFORCE and the multi-objective methods run on it unchanged, never proposing a cell the
table cannot answer.

Metric mapping ``NAME=COLUMN:SPLIT:DIRECTION[:UNIT]``: ``valid_acc=acc:valid:max`` reads
column ``acc`` as the validation metric ``valid_acc`` (larger is better);
``latency_ms=lat::min`` a cost (no split: a property of the network or its training).  SPLIT
is ``train``, ``valid``, ``test``, ``valtest`` or empty; DIRECTION ``max`` or ``min`` (there
is no default: a metric without a direction is refused).  The runner tells the optimizer
validation and cost metrics only; a ``test`` metric is for reporting.

Without a seed column every row is one run, recorded as seed 0; without a fidelity column
every row is at fidelity (epoch) 1.  ``cost_column``: cumulative training seconds of the run
at that fidelity (the simulated cost of a query); without it the table records no cost (a
time budget cannot be used; evaluation budgets can).

Refused with one line naming the problem: a file that cannot be read (Parquet without
``pyarrow``), a column that is not there, a missing value (empty cell, NaN) in any used
column, a metric value that is not a number, a seed or fidelity that is not an integer, two
rows for the same (cell, seed, fidelity), a metric without a direction or with an unknown
split, the same name twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Direction, Metric, Split
from benchbench.spaces.categorical import CategoricalProductSpace
from tabular_data._format import COST, DatasetSpec, TableWriter
from tabular_data._root import table_path

__all__ = ["SPACE_PATH", "MetricColumn", "import_table", "parse_metric_column", "read_table"]

#: How an imported table names its space (an import path: the variables are data, in the
#: table's ``space_options`` attribute).
SPACE_PATH = "benchbench.spaces.categorical:CategoricalProductSpace"
_SPEC = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*=\s*(.+)$")
_SPLITS = {"": None, **{s.value: s for s in Split}}
_DIRECTIONS = {"max": Direction.MAXIMIZE, "min": Direction.MINIMIZE}


@dataclass(frozen=True)
class MetricColumn:
    """One metric of the imported table: ``name`` read from ``column``."""

    name: str
    column: str
    split: Split | None
    direction: Direction
    unit: str = ""

    def metric(self, source: str) -> Metric:
        return Metric(self.name, self.split, self.direction, unit=self.unit,
                      description=f"column {self.column!r} of {source}")


def parse_metric_column(text: str) -> MetricColumn:
    """``"valid_acc=acc:valid:max"`` -> :class:`MetricColumn` (see the module docstring).

    Raises:
        ValueError: one line naming the text and what is allowed.
    """
    m = _SPEC.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"bad --metric {text!r}: use NAME=COLUMN:SPLIT:max|min, e.g. "
                         f"valid_acc=acc:valid:max or latency_ms=lat::min")
    name, rest = m.group(1), m.group(2)
    # the column may itself hold ':' (split from the right: [UNIT] DIRECTION SPLIT)
    parts = rest.rsplit(":", 3)
    if len(parts) == 4 and parts[2].strip().lower() in _DIRECTIONS:
        column, split, direction, unit = parts
    elif len(parts) >= 3:
        column, split, direction = rest.rsplit(":", 2)
        unit = ""
    else:
        raise ValueError(f"metric {name!r} ({text!r}) has no direction: use "
                         f"NAME=COLUMN:SPLIT:max or NAME=COLUMN:SPLIT:min (SPLIT may be "
                         f"empty for a cost, e.g. latency_ms=lat::min)")
    direction = direction.strip().lower()
    if direction not in _DIRECTIONS:
        what = "has no direction" if not direction else f"has direction {direction!r}"
        raise ValueError(f"metric {name!r} ({text!r}) {what}; allowed: max, min")
    split = split.strip().lower()
    if split not in _SPLITS:
        raise ValueError(f"metric {name!r} ({text!r}) has split {split!r}; allowed: "
                         f"{', '.join(repr(s) for s in _SPLITS)} (empty: a cost)")
    if not column.strip():
        raise ValueError(f"metric {name!r} ({text!r}) names no column")
    if name == COST:
        raise ValueError(f"metric name {COST!r} is reserved for the training cost; use "
                         f"--cost-column")
    return MetricColumn(name, column.strip(), _SPLITS[split], _DIRECTIONS[direction],
                        unit.strip())


def read_table(path: str | Path) -> Any:
    """The file as a ``pandas.DataFrame`` of strings (``.csv``, ``.csv.gz``, ``.tsv``,
    ``.parquet``); one-line errors for a missing or unreadable file."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no table file at {p}")
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        try:
            df = pd.read_parquet(p)
        except ImportError:
            raise ImportError(f"reading {p.name} needs a Parquet engine: pip install pyarrow "
                              f"(or convert the file to CSV)") from None
        except Exception as e:
            raise ValueError(f"{p}: not a readable Parquet file ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:150]})") from None
        return df
    if not name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
        raise ValueError(f"{p.name}: unknown table format; allowed: .csv, .csv.gz, .tsv, "
                         f".parquet")
    sep = "\t" if ".tsv" in name else ","
    try:
        return pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, na_values=[])
    except Exception as e:
        raise ValueError(f"{p}: not a readable CSV file ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:150]})") from None


_MISSING = {"", "nan", "NaN", "NA", "N/A", "null", "None", "<NA>"}


def _strings(df: Any, col: str, file: str) -> np.ndarray:
    """Column ``col`` as strings; a missing value is an error naming the row."""
    s = df[col]
    raw = s.to_numpy(dtype=object)
    bad = np.array([v is None or (isinstance(v, float) and math.isnan(v))
                    or (isinstance(v, str) and v.strip() in _MISSING) for v in raw], dtype=bool)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{file}: missing value in column {col!r} at data row {i + 1} "
                         f"({int(bad.sum())} missing in all); fill or drop those rows")
    return np.array([str(v).strip() for v in raw], dtype=object)


def _numbers(df: Any, col: str, file: str, *, integer: bool = False) -> np.ndarray:
    vals = _strings(df, col, file)
    try:
        out = np.array([float(v) for v in vals], dtype=np.float64)
    except ValueError:
        for i, v in enumerate(vals):
            try:
                float(v)
            except ValueError:
                raise ValueError(f"{file}: column {col!r}, data row {i + 1}: {v!r} is not a "
                                 f"number") from None
        raise
    if not np.isfinite(out).all():
        i = int(np.argmax(~np.isfinite(out)))
        raise ValueError(f"{file}: column {col!r}, data row {i + 1}: {vals[i]!r} is not a "
                         f"finite number")
    if integer and not (out == np.round(out)).all():
        i = int(np.argmax(out != np.round(out)))
        raise ValueError(f"{file}: column {col!r}, data row {i + 1}: {vals[i]!r} is not an "
                         f"integer")
    return out


def _sorted_choices(values: np.ndarray) -> list[str]:
    """Distinct values, numerically sorted when all are numbers, else as strings."""
    uniq = sorted(set(values.tolist()))
    try:
        return sorted(uniq, key=lambda v: (float(v), v))
    except ValueError:
        return uniq


def _check_columns(df: Any, wanted: Sequence[str], file: str) -> None:
    have = [str(c) for c in df.columns]
    missing = [c for c in wanted if c not in have]
    if missing:
        shown = ", ".join(have[:20]) + (" ..." if len(have) > 20 else "")
        raise ValueError(f"{file}: column {missing[0]!r} is not in the table; its columns: "
                         f"{shown}")


def import_table(path: str | Path, *, arch_columns: Sequence[str],
                 metrics: Sequence[str | MetricColumn], name: str,
                 root: str | Path | None = None, out: str | Path | None = None,
                 seed_column: str | None = None, fidelity_column: str | None = None,
                 cost_column: str | None = None, dataset: str | None = None,
                 force: bool = False,
                 progress: Callable[[int], None] | None = None) -> Path:
    """Import the table at ``path`` as the benchmark ``name`` (see the module docstring).

    Args:
        arch_columns: the columns whose values make up the architecture, in order.
        metrics: ``"NAME=COLUMN:SPLIT:max|min[:UNIT]"`` strings or :class:`MetricColumn`.
        name: table name (``benchbench run --benchmark NAME``).
        root / out: data root (default ``$BENCHBENCH_DATA`` or the per-user cache), or the
            ``.h5`` file to write instead of ``<root>/tables/<name>.h5``.
        seed_column, fidelity_column, cost_column: optional columns (integers, integers >= 1,
            seconds).
        dataset: the dataset name inside the table (default: ``name``).
        force: replace an existing table; without it importing the same file with the same
            mapping again is a no-op and anything else under the name is refused.
        progress: called with the number of cells written.

    Returns:
        The written table's path.
    """
    from tabular_data._import_nb201 import _table_lock, verify_table

    p = Path(path)
    file = p.name
    mcols = [m if isinstance(m, MetricColumn) else parse_metric_column(m) for m in metrics]
    if not mcols:
        raise ValueError("give at least one --metric NAME=COLUMN:SPLIT:max|min")
    names = [m.name for m in mcols]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"metric name {dup[0]!r} is given twice")
    arch_columns = [str(c).strip() for c in arch_columns]
    if not arch_columns or not all(arch_columns):
        raise ValueError(f"--arch-columns must name at least one column, got {arch_columns}")
    if len(set(arch_columns)) != len(arch_columns):
        raise ValueError(f"--arch-columns names a column twice: {arch_columns}")
    extra = [c for c in (seed_column, fidelity_column, cost_column) if c]
    used = [*arch_columns, *[m.column for m in mcols], *extra]
    overlap = sorted(set(arch_columns) & ({m.column for m in mcols} | set(extra)))
    if overlap:
        raise ValueError(f"column {overlap[0]!r} is both an architecture column and a "
                         f"metric / seed / fidelity / cost column")
    dataset = dataset or name
    mapping = {"arch_columns": arch_columns, "metrics": [
        {"name": m.name, "column": m.column, "split": None if m.split is None else
         m.split.value, "direction": m.direction.value, "unit": m.unit} for m in mcols],
        "seed_column": seed_column, "fidelity_column": fidelity_column,
        "cost_column": cost_column, "dataset": dataset}
    if not p.is_file():
        raise FileNotFoundError(f"no table file at {p}")
    h = hashlib.sha256(p.read_bytes())
    h.update(json.dumps(mapping, sort_keys=True).encode())
    sha = h.hexdigest()
    dest = Path(out) if out is not None else table_path(name, root)
    with _table_lock(dest):
        if dest.exists() and not force:
            if _same(dest, sha):
                return dest
            raise FileExistsError(f"a table already exists at {dest} (from other data or "
                                  f"another column mapping); choose another --name or pass "
                                  f"--force to replace it")
        df = read_table(p)
        _check_columns(df, used, file)
        return _write(df, dest, name=name, file=file, arch_columns=arch_columns, mcols=mcols,
                      seed_column=seed_column, fidelity_column=fidelity_column,
                      cost_column=cost_column, dataset=dataset, sha=sha, mapping=mapping,
                      verify=verify_table, progress=progress)


def _same(dest: Path, sha: str) -> bool:
    from tabular_data._import_nb201 import imported_from

    return imported_from(dest, sha)


def _write(df: Any, dest: Path, *, name: str, file: str, arch_columns: list[str],
           mcols: list[MetricColumn], seed_column: str | None, fidelity_column: str | None,
           cost_column: str | None, dataset: str, sha: str, mapping: dict[str, Any],
           verify: Callable[[Path], None], progress: Callable[[int], None] | None) -> Path:
    n = len(df)
    if n == 0:
        raise ValueError(f"{file}: the table has no rows")
    arch_vals = [_strings(df, c, file) for c in arch_columns]
    space = CategoricalProductSpace(arch_columns, [_sorted_choices(v) for v in arch_vals])
    pos = [{v: i for i, v in enumerate(c)} for c in space.choices]
    codes = np.column_stack([np.fromiter((pos[j][v] for v in vals), dtype=np.int64, count=n)
                             for j, vals in enumerate(arch_vals)])
    seeds = (_numbers(df, seed_column, file, integer=True).astype(np.int64) if seed_column
             else np.zeros(n, dtype=np.int64))
    if fidelity_column:
        fids = _numbers(df, fidelity_column, file, integer=True).astype(np.int64)
        if fids.min() < 1:
            i = int(np.argmin(fids))
            raise ValueError(f"{file}: column {fidelity_column!r}, data row {i + 1}: fidelity "
                             f"{int(fids[i])} must be an integer >= 1 (epochs)")
    else:
        fids = np.ones(n, dtype=np.int64)
    values = {m.name: _numbers(df, m.column, file) for m in mcols}
    cost = _numbers(df, cost_column, file) if cost_column else None
    # cells in index order; one row per (cell, seed, fidelity)
    cell_key = np.ravel_multi_index(codes.T, tuple(len(c) for c in space.choices)) \
        if math.prod(len(c) for c in space.choices) < 2**62 else None
    if cell_key is None:  # a huge product: key by the code tuples
        _, cell_key = np.unique(codes, axis=0, return_inverse=True)
    cells, cell_row = np.unique(cell_key, return_inverse=True)
    seed_list, seed_pos = np.unique(seeds, return_inverse=True)
    epochs, epoch_pos = np.unique(fids, return_inverse=True)
    key = (cell_row * len(seed_list) + seed_pos) * len(epochs) + epoch_pos
    order = np.argsort(key, kind="stable")
    same = np.flatnonzero(key[order][1:] == key[order][:-1])
    if same.size:
        i, j = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        what = ", ".join(f"{c}={arch_vals[k][i]!r}" for k, c in enumerate(arch_columns))
        extra = (f", {seed_column}={int(seeds[i])}" if seed_column else "") + (
            f", {fidelity_column}={int(fids[i])}" if fidelity_column else "")
        raise ValueError(f"{file}: data rows {i + 1} and {j + 1} are the same evaluation "
                         f"({what}{extra}); {same.size} duplicated in all: drop them, or "
                         f"name the seed / fidelity column that tells them apart")
    first = np.zeros(len(cells), dtype=np.int64)
    first[cell_row[::-1]] = np.arange(n)[::-1]
    ids = [space.arch_id(space.from_categorical(codes[r].tolist())) for r in first.tolist()]
    A, S, E = len(cells), len(seed_list), len(epochs)
    per_seed = {m: np.full((A, S, E), np.nan) for m in values}
    for m, v in values.items():
        per_seed[m][cell_row, seed_pos, epoch_pos] = v
    cost_seeds = None
    if cost is not None:
        cost_seeds = np.full((A, S, E), np.nan)
        cost_seeds[cell_row, seed_pos, epoch_pos] = cost
    metric_objs = tuple(m.metric(file) for m in mcols)
    provenance = {"importer": "benchbench data import table (tabular_data._import_table)",
                  "file": file, "rows": n, "cells": A, "mapping": mapping,
                  "seeds": "from column " + seed_column if seed_column else
                  "no seed column: every row is one run, recorded as seed 0",
                  "fidelity": "from column " + fidelity_column if fidelity_column else
                  "no fidelity column: every row at fidelity 1",
                  "cost_s": "from column " + cost_column if cost_column else
                  "no cost column: no training cost recorded",
                  "space": f"product of the {len(arch_columns)} architecture columns' values "
                           f"({space.size} combinations), restricted to the {A} in the file"}
    spec = DatasetSpec(metrics=metric_objs, seeds=tuple(int(s) for s in seed_list),
                       epochs=tuple(int(e) for e in epochs))
    with TableWriter(dest, name=name, space=SPACE_PATH, arch_ids=ids,
                     datasets={dataset: spec}, source_kind="table", source_sha256=sha,
                     version=f"imported table {file} ({sha[:12]})", provenance=provenance,
                     verify=verify, arch_specs=ids) as w:
        w.f.attrs["space_options"] = json.dumps(space.options())
        block = 4096
        for s in range(0, A, block):
            rows = np.arange(s, min(A, s + block))
            w.write(dataset, rows, per_seed={m: v[rows] for m, v in per_seed.items()},
                    cost_seeds=None if cost_seeds is None else cost_seeds[rows])
            if progress is not None:
                progress(len(rows))
    return dest
