"""The ``"surrogate"`` backend of :data:`benchbench.registry.BACKENDS`: a saved surrogate is
opened by its directory path, or by name when it lives in ``<data root>/surrogates/NAME/``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from surrogates._benchmark import SurrogateBenchmark

__all__ = ["SURROGATES", "SurrogateBackend", "surrogates_root"]

_MARKERS = ("manifest.json", "models", "arrays.npz", "train_cells.txt")


def surrogates_root(root: str | Path | None = None) -> Path:
    """``<data root>/surrogates``: the data root is ``root``, else ``$BENCHBENCH_DATA``, else
    ``$XDG_CACHE_HOME/benchbench`` (``~/.cache/benchbench``), as for tables."""
    if root is not None:
        base = Path(root).expanduser()
    elif os.environ.get("BENCHBENCH_DATA"):
        base = Path(os.environ["BENCHBENCH_DATA"]).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = Path(cache).expanduser() / "benchbench"
    return base / "surrogates"


class SurrogateBackend:
    """Resolves surrogate names and directories."""

    name = "surrogate"

    def names(self, root: str | Path | None = None) -> list[str]:
        """Surrogates saved under ``<data root>/surrogates``."""
        d = surrogates_root(root)
        return sorted(p.parent.name for p in d.glob("*/manifest.json")) if d.is_dir() else []

    def find(self, name: str | Path, root: str | Path | None = None) -> bool:
        """A directory holding a surrogate (or the remains of one: a manifest, ``models/``,
        ``arrays.npz`` or ``train_cells.txt``, so that opening a damaged one gives the precise
        error), or a name under the data root."""
        p = Path(name)
        if p.is_dir():
            return any((p / f).exists() for f in _MARKERS)
        text = str(name)
        return os.sep not in text and (surrogates_root(root) / text / "manifest.json").is_file()

    def open(self, name: str | Path, root: str | Path | None = None,
             **options: Any) -> SurrogateBenchmark:
        bad = sorted(set(options) - {"threads"})
        if bad:
            raise ValueError(f"a surrogate takes the option 'threads' only, got {bad}")
        p = Path(name)
        if not p.is_dir():
            p = surrogates_root(root) / str(name)
        return SurrogateBenchmark(p, **options)

    def where(self, name: str, root: str | Path | None = None) -> str:
        return "surrogate"

    def root(self, root: str | Path | None = None) -> Path:
        return surrogates_root(root)


#: The registered instance.
SURROGATES = SurrogateBackend()
