"""Scores from other implementations, for cross-checks.

NAS-Bench-Suite-Zero / NASLib files (``zc_scores_725.json`` in the shared data) map
``{dataset: {"(a, b, c, d, e, f)": {proxy: {"score", "time"}, "val_accuracy", ...}}}``.  The
tuple lists the six NB201 edges in the order ``0-1, 0-2, 0-3, 1-2, 1-3, 2-3`` (not the official
string's ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``) with op codes ``0 skip_connect, 1 none,
2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["load_naslib_scores", "naslib_nb201_cell"]

_OPS = {0: "skip_connect", 1: "none", 2: "nor_conv_3x3", 3: "nor_conv_1x1", 4: "avg_pool_3x3"}
_POS = (0, 1, 3, 2, 4, 5)  # official edge e is the file's tuple position _POS[e]
_NAMES = {"jacov": "jacob_cov"}


def naslib_nb201_cell(key: str) -> str:
    """The official NB201 cell string of a NASLib tuple key such as ``"(0, 2, 3, 2, 3, 1)"``."""
    try:
        t = [int(v) for v in key.strip().strip("()").split(",")]
        ops = [_OPS[t[p]] for p in _POS]
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"bad NASLib NB201 key {key!r}: expected six op codes 0..4 like "
                         f"'(0, 2, 3, 2, 3, 1)'") from None
    if len(t) != 6:
        raise ValueError(f"bad NASLib NB201 key {key!r}: expected six op codes, got {len(t)}")
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def load_naslib_scores(path: str | Path, dataset: str) -> Any:
    """Long-form scores (columns ``arch_id, seed, proxy, value, seconds``; seed 0) of one
    dataset of a NASLib NB201 file, with proxy names mapped to ours (``jacov`` ->
    ``jacob_cov``), plus the file's ``val_accuracy`` as proxy ``"val_accuracy"``."""
    import pandas as pd

    data = json.loads(Path(path).read_text())
    if dataset not in data:
        raise KeyError(f"dataset {dataset!r} not in {path}; present: {sorted(data)}")
    rows = []
    for key, rec in data[dataset].items():
        cell = naslib_nb201_cell(key)
        for name, v in rec.items():
            if isinstance(v, dict) and "score" in v:
                rows.append((cell, 0, _NAMES.get(name, name), float(v["score"]),
                             float(v.get("time", float("nan")))))
        if "val_accuracy" in rec:
            rows.append((cell, 0, "val_accuracy", float(rec["val_accuracy"]), float("nan")))
    return pd.DataFrame(rows, columns=["arch_id", "seed", "proxy", "value", "seconds"])
