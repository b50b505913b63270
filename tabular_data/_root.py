"""Where tables live: an explicit root, else ``$BENCHBENCH_DATA``, else a per-user cache
directory (never the working directory).  A table called NAME is ``<root>/tables/NAME.h5``;
tables shipped with the package (``tabular_data/embedded/NAME.h5``) are found by name too."""

from __future__ import annotations

import os
import re
from pathlib import Path

from benchbench.api import unknown

__all__ = ["EMBEDDED", "check_table_name", "data_root", "list_tables", "resolve_table",
           "table_path"]

#: Tables that ship with the package (found by name when the data root has none of that name).
EMBEDDED = Path(__file__).resolve().parent / "embedded"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def data_root(root: str | Path | None = None) -> Path:
    """The data root: ``root`` if given, else ``$BENCHBENCH_DATA``, else
    ``$XDG_CACHE_HOME/benchbench`` (``~/.cache/benchbench``)."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("BENCHBENCH_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "benchbench"


def check_table_name(name: str) -> str:
    """``name`` if it can name a table file (1-64 letters, digits, '.', '_', '-', not ending
    in ``.h5``), else a one-line ``ValueError``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"bad table name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                         f"starting with a letter or digit")
    if name.lower().endswith(".h5"):
        raise ValueError(f"bad table name {name!r}: a name, not a file - leave out '.h5' "
                         f"(the table is stored as {name[:-3] or 'NAME'}.h5)")
    return name


def table_path(name: str, root: str | Path | None = None) -> Path:
    """Where the table called ``name`` is (or will be) in the data root:
    ``<root>/tables/<name>.h5`` (the file need not exist)."""
    return data_root(root) / "tables" / f"{check_table_name(name)}.h5"


def list_tables(root: str | Path | None = None) -> list[str]:
    """Names of the tables in the data root and of the embedded ones."""
    d = data_root(root) / "tables"
    names = {p.stem for p in d.glob("*.h5")} if d.is_dir() else set()
    return sorted(names | {p.stem for p in EMBEDDED.glob("*.h5")})


def resolve_table(name_or_path: str | Path, root: str | Path | None = None) -> Path:
    """A table file from a name in the data root, or a path to a ``.h5`` file."""
    p = Path(name_or_path)
    if p.suffix == ".h5" or os.sep in str(name_or_path):
        if not p.is_file():
            raise FileNotFoundError(f"no table file at {p}")
        return p
    path = table_path(str(name_or_path), root)
    if not path.is_file():
        embedded = EMBEDDED / path.name
        if embedded.is_file():  # a table of the same name in the data root takes precedence
            return embedded
        raise unknown(f"benchmark (tables in {data_root(root) / 'tables'})", str(name_or_path),
                      list_tables(root) or ["<none imported yet: run `benchbench data import`>"])
    return path
