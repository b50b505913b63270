"""Tabular backend: the HDF5 table format, TabularBenchmark, importers and the data root."""

from __future__ import annotations

from pathlib import Path

from tabular_data._benchmark import TabularBenchmark
from tabular_data._format import FORMAT_VERSION, DatasetSpec, TableWriter
from tabular_data._nb201 import detect_nb201_source, import_nb201, nb201_metrics
from tabular_data._store import data_root, list_tables, resolve_table, table_path

__all__ = [
    "FORMAT_VERSION",
    "DatasetSpec",
    "TableWriter",
    "TabularBenchmark",
    "data_root",
    "detect_nb201_source",
    "import_nb201",
    "list_tables",
    "nb201_metrics",
    "open_benchmark",
    "resolve_table",
    "table_path",
]


def open_benchmark(name_or_path: str | Path, root: str | Path | None = None) -> TabularBenchmark:
    """Open the table called ``name_or_path`` in the data root, or the ``.h5`` file at a path."""
    return TabularBenchmark(resolve_table(name_or_path, root))
