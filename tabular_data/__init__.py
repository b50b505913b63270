"""Tabular backend: the HDF5 table format, :class:`TabularBenchmark`, the NB201 importers,
the table builder, validation by retraining, and the data root.

Modules: ``_format`` (the table format and its writer), ``_benchmark`` (TabularBenchmark),
``_import_nb201`` (importers of the official NB201 / NATS-Bench files), ``_import_nb101``
(the official NB101 .tfrecord without TensorFlow, NASLib's NB101 sample), ``_builder`` (train a
space and assemble a table), ``_validation`` (retrain cells and compare with a table),
``_cells`` (cell lists from files and from study runs), ``_root`` (where tables live) and
``_backend`` (the registry's ``"table"`` backend).

Importing this package never imports torch: the builder and validation import it inside the
functions that train.
"""

from __future__ import annotations

from pathlib import Path

from tabular_data._benchmark import TabularBenchmark
from tabular_data._builder import (
    BuildSpec,
    assemble_table,
    build_status,
    build_table,
    make_spec,
    network_metrics,
    rewrite_network_metrics,
    train_shards,
)
from tabular_data._cells import incumbents_from_runs, read_cells
from tabular_data._format import FORMAT_VERSION, DatasetSpec, TableWriter
from tabular_data._import_nb101 import import_nb101_naslib, import_nb101_tfrecord
from tabular_data._import_nb201 import detect_nb201_source, import_nb201, nb201_metrics
from tabular_data._root import EMBEDDED, data_root, list_tables, resolve_table, table_path
from tabular_data._validation import CellCheck, ValidationReport, pooled_seed_std, validate_table

__all__ = [
    "EMBEDDED",
    "FORMAT_VERSION",
    "BuildSpec",
    "CellCheck",
    "DatasetSpec",
    "TableWriter",
    "TabularBenchmark",
    "ValidationReport",
    "assemble_table",
    "build_status",
    "build_table",
    "data_root",
    "detect_nb201_source",
    "import_nb101_naslib",
    "import_nb101_tfrecord",
    "import_nb201",
    "incumbents_from_runs",
    "list_tables",
    "make_spec",
    "nb201_metrics",
    "network_metrics",
    "open_benchmark",
    "pooled_seed_std",
    "read_cells",
    "resolve_table",
    "rewrite_network_metrics",
    "table_path",
    "train_shards",
    "validate_table",
]


def open_benchmark(name_or_path: str | Path, root: str | Path | None = None) -> TabularBenchmark:
    """Open the table called ``name_or_path`` in the data root (or embedded in the package),
    or the ``.h5`` file at a path.

    Raises:
        UnknownNameError: no table of that name (the message lists the tables there are).
        FileNotFoundError: a path to a missing file.
    """
    return TabularBenchmark(resolve_table(name_or_path, root))
