"""The ``"table"`` backend of :data:`benchbench.registry.BACKENDS`: benchmark names that are
tables in the data root or embedded in the package, or paths to ``.h5`` table files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tabular_data._benchmark import TabularBenchmark
from tabular_data._root import EMBEDDED, data_root, list_tables, resolve_table

__all__ = ["TABLES", "TableBackend"]


class TableBackend:
    """Resolves table names (see :func:`tabular_data.resolve_table`)."""

    name = "table"

    def names(self, root: str | Path | None = None) -> list[str]:
        """Tables in the data root and embedded ones."""
        return list_tables(root)

    def find(self, name: str | Path, root: str | Path | None = None) -> bool:
        """Whether ``name`` is a table name that exists, or a path to a ``.h5`` file."""
        text = str(name)
        if text.endswith(".h5") or os.sep in text:
            return True  # a path: opening it gives the precise error if it is missing
        return text in self.names(root)

    def open(self, name: str | Path, root: str | Path | None = None,
             **options: Any) -> TabularBenchmark:
        if options:
            raise ValueError(f"a table takes no options, got {sorted(options)}")
        return TabularBenchmark(resolve_table(name, root))

    def where(self, name: str, root: str | Path | None = None) -> str:
        """``"embedded"`` or ``"imported"`` (for listings)."""
        return "embedded" if resolve_table(name, root).parent == EMBEDDED else "imported"

    def root(self, root: str | Path | None = None) -> Path:
        return data_root(root) / "tables"


#: The registered instance.
TABLES = TableBackend()
