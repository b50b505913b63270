"""Scores from other implementations, for cross-checks.

NAS-Bench-Suite-Zero / NASLib files (``zc_scores_725.json`` in the shared data) map
``{dataset: {"(a, b, c, d, e, f)": {proxy: {"score", "time"}, "val_accuracy", ...}}}``.  The
tuple lists the six NB201 edges in the order ``0-1, 0-2, 0-3, 1-2, 1-3, 2-3`` (not the official
string's ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``) with op codes ``0 skip_connect, 1 none,
2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3``.

:func:`write_scores_dir` turns any long-form scores into a score directory (the format of
``benchbench proxies score``, read by :func:`~algorithms.proxies.load_scores` and by the
proxy-guided optimizers' ``scores=``); :func:`import_naslib_scores` does so for a NASLib file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from algorithms.proxies._engine import PROXIES
from algorithms.proxies._score import SCORE_FIELDS, ScoreConfig, _write_rows

__all__ = ["import_naslib_scores", "load_naslib_scores", "naslib_nb201_cell",
           "write_scores_dir"]

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


def load_naslib_scores(path: str | Path, dataset: str, space: str = "nb201") -> Any:
    """Long-form scores (columns ``arch_id, seed, proxy, value, seconds``; seed 0) of one
    dataset of a NASLib file, with proxy names mapped to ours (``jacov`` -> ``jacob_cov``),
    plus the file's ``val_accuracy`` as proxy ``"val_accuracy"``.

    ``space``: ``"nb201"`` reads NASLib's NB201 tuple keys (:func:`naslib_nb201_cell`); any
    other space reads each key with its ``parse`` (DARTS: NASLib's compact form, as in
    ``darts_725_with_zc.json``; NB101: the 56-tuple of ``nb101_500_with_zc.json``, whose
    extra ``"nasbench101"`` level is skipped and whose bare-number scores are read) and
    records its ``arch_id``.  Entries that are the same cell (NB101's file has 500 entries
    of 292 cells) keep the first entry's scores."""
    import pandas as pd

    from benchbench.spaces import get_space

    data = json.loads(Path(path).read_text())
    if (dataset not in data and len(data) == 1
            and isinstance(inner := next(iter(data.values())), dict) and dataset in inner):
        data = inner  # NASLib's NB101 file nests one more level: {"nasbench101": {dataset: ...}}
    if dataset not in data:
        raise KeyError(f"dataset {dataset!r} not in {path}; present: {sorted(data)}")
    if space == "nb201":
        to_id = naslib_nb201_cell
    else:
        sp = get_space(space)

        def to_id(key: str) -> str:
            try:
                return sp.arch_id(sp.parse(key))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}: entry {key!r}: {e}") from None
    rows = []
    seen: set[str] = set()
    for key, rec in data[dataset].items():
        cell = to_id(key)
        if cell in seen:  # NB101: isomorphic entries (one cell) - the first is kept, as in
            continue      # the table the NB101 importer writes from the same file
        seen.add(cell)
        for name, v in rec.items():
            if isinstance(v, dict) and "score" in v:
                rows.append((cell, 0, _NAMES.get(name, name), float(v["score"]),
                             float(v.get("time", float("nan")))))
            elif (isinstance(v, (int, float)) and not isinstance(v, bool)
                  and name not in ("val_accuracy", "idx")):
                # NB101's file stores bare scores (no per-proxy time)
                rows.append((cell, 0, _NAMES.get(name, name), float(v), float("nan")))
        if "val_accuracy" in rec:
            rows.append((cell, 0, "val_accuracy", float(rec["val_accuracy"]), float("nan")))
    return pd.DataFrame(rows, columns=["arch_id", "seed", "proxy", "value", "seconds"])


_NUMERIC = ("value", "seconds", "cell_seconds", "cell_cpu_seconds")


def write_scores_dir(scores: Any, out_dir: str | Path, *, config: ScoreConfig) -> Path:
    """Write long-form scores as a score directory (``config.json`` + ``scores.csv``).

    Args:
        scores: a pandas DataFrame with columns ``arch_id`` (a cell of ``config.space``, any
            form its ``parse`` accepts), ``proxy`` and ``value``; optional ``seed`` (default 0),
            ``seconds``, ``cell_seconds``, ``cell_cpu_seconds`` (default NaN: not recorded) and
            ``error`` (default empty).  NaN / inf values are kept.
        out_dir: a new directory (or an empty one).
        config: what the scores were made with (recorded as ``config.json``).

    Returns:
        ``out_dir``.  Rows are written in index order (by ``arch_id`` for a space that cannot
        be enumerated, with an empty ``arch_index``), then seed, then proxy.

    Raises:
        ValueError: a required column is missing, a cell does not parse, or a
            (cell, seed, proxy) appears twice.
        FileExistsError: ``out_dir`` already holds a ``config.json`` or ``scores.csv``.
    """
    from benchbench.spaces import get_space, is_enumerable

    missing = [c for c in ("arch_id", "proxy", "value") if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lack column(s) {missing}; need arch_id, proxy, value "
                         f"(optional: seed, seconds, cell_seconds, cell_cpu_seconds, error)")
    d = Path(out_dir)
    taken = [n for n in ("config.json", "scores.csv") if (d / n).exists()]
    if taken:
        raise FileExistsError(f"{d} already holds {', '.join(taken)}; give a new directory")
    space = get_space(config.space)
    df = scores.copy()
    archs = [space.parse(a) for a in df["arch_id"]]
    df["arch_id"] = [space.arch_id(a) for a in archs]
    enumerable = is_enumerable(space)
    if enumerable:
        df["arch_index"] = space.indices(archs) if len(archs) else []  # type: ignore[attr-defined]
    else:
        df["arch_index"] = ""
    df["seed"] = df["seed"].astype(int) if "seed" in df.columns else 0
    for c in _NUMERIC:
        df[c] = df[c].astype(float) if c in df.columns else math.nan
    df["error"] = df["error"].fillna("").astype(str) if "error" in df.columns else ""
    dup = df.duplicated(["arch_id", "seed", "proxy"])
    if dup.any():
        r = df[dup].iloc[0]
        raise ValueError(f"scores hold (arch_id, seed, proxy) = ({r['arch_id']!r}, "
                         f"{r['seed']}, {r['proxy']!r}) more than once")
    df = df.sort_values(["arch_index" if enumerable else "arch_id", "seed", "proxy"],
                        kind="stable")
    d.mkdir(parents=True, exist_ok=True)
    meta = {"config": config.to_dict(), "fields": list(SCORE_FIELDS)}
    (d / "config.json").write_text(json.dumps(meta, indent=2))
    with (d / "scores.csv").open("w", newline="") as f:
        f.write(",".join(SCORE_FIELDS) + "\n")
        _write_rows(f, df[list(SCORE_FIELDS)].to_dict("records"), SCORE_FIELDS)
    return d


def import_naslib_scores(path: str | Path, dataset: str, out_dir: str | Path, *,
                         proxies: Sequence[str] | None = None, space: str = "nb201",
                         benchmark: str | None = None) -> Path:
    """Write one dataset of a NASLib NB201 file (see :func:`load_naslib_scores`) as a score
    directory, e.g. for ``NASWOT(scores=out_dir)`` or ``benchbench run --param
    naswot.scores=out_dir``.

    Args:
        path: the NASLib file (``zc_scores_725.json`` in the shared data).
        dataset: its dataset key (``cifar10``, ``cifar100``, ``ImageNet16-120``).
        out_dir: a new directory.
        proxies: names to import (ours, or NASLib's where it has no equivalent, such as
            ``epe_nas``); default every proxy of :data:`~algorithms.proxies.PROXIES` the
            file has.  The file's ``val_accuracy`` (trained accuracy, not a proxy) is left
            out unless named here.
        space: the file's search space (``"nb201"``; ``"darts"`` for
            ``darts_725_with_zc.json``; see :func:`load_naslib_scores`).
        benchmark: recorded as the scores' benchmark (default ``"nb201"`` for NB201, else
            none: give ``--benchmark`` to ``proxies correlate``).

    The recorded :class:`~algorithms.proxies.ScoreConfig` has ``implementation="naslib"``
    and ``batch_source`` naming the file, so a live sweep never resumes into these scores.
    ``seconds`` is NASLib's per-proxy time (computed separately per proxy, no shared passes);
    the per-cell times are not recorded (NaN).

    Raises:
        ValueError: a name in ``proxies`` is not in the file (the message lists those that are).
    """
    df = load_naslib_scores(path, dataset, space)
    present = sorted(set(df["proxy"]))
    if proxies is None:
        names = [p for p in PROXIES if p in present]
    else:
        names = list(dict.fromkeys(proxies))
        bad = [p for p in names if p not in present]
        if bad:
            raise ValueError(f"proxies {bad} are not in {path} ({dataset}); present: {present}")
    if benchmark is None:
        benchmark = "nb201" if space == "nb201" else ""
    config = replace(ScoreConfig(), space=space, benchmark=benchmark, dataset=dataset,
                     batch_source=f"naslib:{Path(path).name}", implementation="naslib")
    return write_scores_dir(df[df["proxy"].isin(names)], out_dir, config=config)
