"""The table builder: train every cell of a space and assemble the runs into a table.

:func:`build_table` (``benchbench data build``) is :func:`make_spec` (what to train, as a
:class:`BuildSpec`), then :func:`train_shards` (the training, resumable), then
:func:`assemble_table` (the HDF5 table).

Every functional-equivalence class of the space (NB201: 4,930 of the 15,625 cells,
``NB201Space().class_ids("functional")``) is trained once per seed on its *representative*,
the class member with the smallest official index, with :class:`benchbench.nn.Trainer`;
every member row of the table then holds the representative's run (the table's provenance
says so).  Work is split into chunks of (cell, seed) tasks run by local processes (one torch
thread each); each finished chunk is written atomically to ``<shards>/chunk-NNNNN.npz``, so
an interrupted build resumes where it stopped when the same command is run again
(:func:`build_status` tells how far it is).  When every chunk is there, the shards are
assembled into the table format (:mod:`tabular_data._format`), readable by
:class:`~tabular_data.TabularBenchmark`.

torch is imported only inside the functions that train or load data (the ``torch`` extra).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Metric
from benchbench.protocols import TrainConfig, get_protocol
from benchbench.spaces import EnumerableSpace, get_space
from tabular_data._format import DatasetSpec, TableWriter

__all__ = ["BuildSpec", "assemble_table", "build_status", "build_table", "make_spec",
           "train_shards"]

BUILD_FILE = "build.json"
SESSIONS_FILE = "sessions.jsonl"
FILLED_FROM = ("functional class representative: each class of "
               "space.class_ids('functional') was trained once per seed on its smallest "
               "official index; every member row holds that run")


# ------------------------------------------------------------------------------ spec
@dataclass(frozen=True)
class BuildSpec:
    """What a build trains (and nothing that does not change its numbers).

    Attributes:
        space: search space name (``"nb201"``).
        dataset: training dataset (``benchbench.nn.TRAIN_DATASETS``).
        protocol: the training protocol, ``TrainConfig.to_dict()``.
        seeds: training seeds, one run per (class representative, seed).
        rows: the table rows (official indices) to fill, ascending; ``None``: all.
        data_sha256: checksum of the dataset's images (from the loader).
    """

    space: str
    dataset: str
    protocol: Mapping[str, Any]
    seeds: tuple[int, ...]
    rows: tuple[int, ...] | None
    data_sha256: str

    def to_json(self) -> str:
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        d["rows"] = None if self.rows is None else list(self.rows)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BuildSpec:
        d = json.loads(text)
        return cls(space=d["space"], dataset=d["dataset"], protocol=d["protocol"],
                   seeds=tuple(d["seeds"]),
                   rows=None if d["rows"] is None else tuple(d["rows"]),
                   data_sha256=d["data_sha256"])

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def table_rows(self) -> np.ndarray:
        """``(rows,)`` int64: the official indices of the table rows filled, ascending."""
        n = enumerable_space(self.space).size
        return np.arange(n) if self.rows is None else np.asarray(self.rows, dtype=np.int64)

    def representatives(self) -> np.ndarray:
        """Official indices that are trained (class representatives of the rows), ascending."""
        return np.unique(class_ids(self.space)[self.table_rows()])

    def tasks(self) -> list[tuple[int, int]]:
        """``(representative, seed)`` pairs in a fixed order."""
        return [(int(r), int(s)) for r in self.representatives() for s in self.seeds]


def enumerable_space(space: str) -> EnumerableSpace[Any]:
    """The space called ``space``, which must be enumerable (a table has one row per cell).

    Raises:
        ValueError: the space cannot be enumerated.
    """
    sp = get_space(space)
    if not isinstance(sp, EnumerableSpace):
        raise ValueError(f"space {space!r} cannot be enumerated, and a table has one row per "
                         f"cell: only enumerable spaces (e.g. 'nb201') can be built")
    return sp


def class_ids(space: str) -> np.ndarray:
    """``(size,)`` int array: the functional class representative (smallest official index
    of the class) of every cell of ``space``; the cell itself for spaces without classes."""
    sp = enumerable_space(space)
    if hasattr(sp, "class_ids"):
        return np.asarray(sp.class_ids("functional"))
    return np.arange(sp.size)  # no equivalence classes known: every cell is its own


def filled_from_classes(provenance: Mapping[str, Any]) -> bool:
    """Whether a table with this provenance was filled from functional class representatives
    (:data:`FILLED_FROM`), so that members of a class share their representative's runs."""
    return str(provenance.get("rows_filled_from", "")).startswith("functional")


def _chunks(tasks: list[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def make_spec(*, space: str = "nb201", dataset: str = "digits", protocol: Any = "digits",
              epochs: int | None = None, seeds: Sequence[int] = (0, 1),
              rows: Iterable[int] | None = None, data_dir: str | Path | None = None,
              overrides: Mapping[str, Any] | None = None) -> BuildSpec:
    """Resolve names and defaults into a :class:`BuildSpec` (loads the dataset to checksum it).

    ``protocol`` is a :data:`benchbench.nn.PROTOCOLS` name or a ``TrainConfig``; ``epochs``
    and ``overrides`` replace its fields.
    """
    from benchbench.nn._data import load_dataset

    cfg = protocol if isinstance(protocol, TrainConfig) else get_protocol(protocol)
    changes = dict(overrides or {})
    if epochs is not None:
        changes["epochs"] = epochs
    if changes:
        cfg = cfg.replace(**changes)
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct ints >= 0, at least one; got {list(seeds)}")
    sp = enumerable_space(space)
    rows_t: tuple[int, ...] | None = None
    if rows is not None:
        r = np.unique(np.asarray(list(rows), dtype=np.int64))
        if r.size == 0:
            raise ValueError("no cells to build: give at least one official index")
        if r[0] < 0 or r[-1] >= sp.size:
            bad = int(r[0]) if r[0] < 0 else int(r[-1])
            raise ValueError(f"cells to build must be official indices in 0..{sp.size - 1}, "
                             f"got {bad}")
        if r.size < sp.size:
            rows_t = tuple(int(x) for x in r)
    data = load_dataset(dataset, data_dir)
    return BuildSpec(space=sp.name, dataset=dataset, protocol=cfg.to_dict(), seeds=seeds,
                     rows=rows_t, data_sha256=data.sha256)


# ---------------------------------------------------------------------------- worker
_TRAINERS: dict[str, Any] = {}


def _trainer(spec_json: str, data_dir: str | None, device: str) -> Any:
    """One Trainer per process and build (the dataset is loaded once)."""
    key = f"{spec_json}|{data_dir}|{device}"
    tr = _TRAINERS.get(key)
    if tr is None:
        from benchbench.nn._data import load_dataset
        from benchbench.nn._train import Trainer

        spec = BuildSpec.from_json(spec_json)
        data = load_dataset(spec.dataset, data_dir)
        if data.sha256 != spec.data_sha256:
            raise ValueError(f"dataset {spec.dataset!r} under {data_dir} differs from the one "
                             f"this build started with (sha256 {data.sha256[:12]} != "
                             f"{spec.data_sha256[:12]})")
        tr = Trainer(spec.space, data, TrainConfig.from_dict(spec.protocol), device=device)
        _TRAINERS.clear()
        _TRAINERS[key] = tr
    return tr


def _run_chunk(spec_json: str, data_dir: str | None, device: str, path: str,
               tasks: list[tuple[int, int]]) -> tuple[str, int, float]:
    """Train ``tasks`` and write their records to ``path`` atomically."""
    t0 = time.perf_counter()
    tr = _trainer(spec_json, data_dir, device)
    recs = [tr.train(rep, seed) for rep, seed in tasks]
    arrays: dict[str, np.ndarray] = {
        "reps": np.array([t[0] for t in tasks], dtype=np.int64),
        "seeds": np.array([t[1] for t in tasks], dtype=np.int64),
        "train_s": np.stack([r.train_s for r in recs]),
        "eval_s": np.stack([r.eval_s for r in recs]),
    }
    for name in recs[0].values:
        arrays[f"m_{name}"] = np.stack([r.values[name] for r in recs])
    tmp = Path(path).with_name(Path(path).name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    os.replace(tmp, path)
    return path, len(tasks), time.perf_counter() - t0


# --------------------------------------------------------------------------- shards
def _shard_path(shards: Path, k: int) -> Path:
    return shards / f"chunk-{k:05d}.npz"


def _open_shards(spec: BuildSpec, shards: Path, chunk_size: int) -> None:
    shards.mkdir(parents=True, exist_ok=True)
    f = shards / BUILD_FILE
    doc = {"spec": json.loads(spec.to_json()), "spec_sha256": spec.sha256,
           "chunk_size": chunk_size}
    if f.is_file():
        old = json.loads(f.read_text())
        if old.get("spec_sha256") != spec.sha256 or old.get("chunk_size") != chunk_size:
            raise FileExistsError(
                f"shard folder {shards} belongs to another build (its {BUILD_FILE} has a "
                f"different space / dataset / protocol / seeds / cells or chunk size); "
                f"use another --shards folder or delete this one")
        return
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps({**doc, "created": _now()}, indent=1))
    os.replace(tmp, f)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _read_build(shards: Path) -> tuple[BuildSpec, int]:
    f = shards / BUILD_FILE
    if not f.is_file():
        raise FileNotFoundError(f"{shards} is not a build shard folder (no {BUILD_FILE})")
    d = json.loads(f.read_text())
    return BuildSpec.from_json(json.dumps(d["spec"])), int(d["chunk_size"])


def build_status(shards: str | Path) -> dict[str, Any]:
    """Progress of the build in ``shards``.

    Returns:
        ``chunks_done`` / ``chunks`` and ``tasks_done`` / ``tasks`` (one task is one
        (cell, seed) training), and ``worker_seconds``: the compute seconds spent so far by
        every training session, summed over workers (``sessions.jsonl``).

    Raises:
        FileNotFoundError: ``shards`` is not a build shard folder.
    """
    shards = Path(shards)
    spec, size = _read_build(shards)
    chunks = _chunks(spec.tasks(), size)
    done = [k for k in range(len(chunks)) if _shard_path(shards, k).is_file()]
    return {"chunks_done": len(done), "chunks": len(chunks),
            "tasks_done": sum(len(chunks[k]) for k in done), "tasks": len(spec.tasks()),
            "worker_seconds": float(sum(s.get("worker_seconds", 0.0)
                                        for s in _read_sessions(shards)))}


def _read_sessions(shards: Path) -> list[dict[str, Any]]:
    """The lines of ``sessions.jsonl``: one per :func:`train_shards` call that trained."""
    f = shards / SESSIONS_FILE
    if not f.is_file():
        return []
    return [json.loads(x) for x in f.read_text().splitlines() if x.strip()]


def train_shards(spec: BuildSpec, shards: str | Path, *, workers: int = 1,
                 chunk_size: int = 10, data_dir: str | Path | None = None,
                 device: str = "cpu", progress: Callable[[int], None] | None = None) -> int:
    """Train every chunk of ``spec`` not yet in ``shards``; returns the tasks trained now.

    ``workers`` local processes (spawned; each trains with one torch thread); ``workers=1``
    trains in this process.  Safe to interrupt: finished chunks stay, and the next call
    trains only the rest.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    shards = Path(shards)
    _open_shards(spec, shards, chunk_size)
    chunks = _chunks(spec.tasks(), chunk_size)
    todo = [k for k in range(len(chunks)) if not _shard_path(shards, k).is_file()]
    if progress is not None:
        progress(sum(len(c) for c in chunks) - sum(len(chunks[k]) for k in todo))
    spec_json = spec.to_json()
    ddir = None if data_dir is None else str(data_dir)
    started, t0, trained, compute = _now(), time.perf_counter(), 0, 0.0
    try:
        if workers == 1 or len(todo) <= 1:
            for k in todo:
                _, n, s = _run_chunk(spec_json, ddir, device, str(_shard_path(shards, k)),
                                     chunks[k])
                trained += n
                compute += s
                if progress is not None:
                    progress(n)
        else:
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futs = [pool.submit(_run_chunk, spec_json, ddir, device,
                                    str(_shard_path(shards, k)), chunks[k]) for k in todo]
                try:
                    for fut in cf.as_completed(futs):
                        _, n, s = fut.result()
                        trained += n
                        compute += s
                        if progress is not None:
                            progress(n)
                except BaseException:
                    for fut in futs:
                        fut.cancel()
                    raise
    finally:
        if todo:
            line = {"started": started, "ended": _now(), "wall_s": time.perf_counter() - t0,
                    "tasks_trained": trained, "worker_seconds": compute, "workers": workers}
            with (shards / SESSIONS_FILE).open("a") as f:
                f.write(json.dumps(line) + "\n")
    return trained


# ------------------------------------------------------------------------- assemble
def _load_shards(spec: BuildSpec, shards: Path, chunk_size: int, partial: bool = False
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, float]:
    """Per-representative arrays ``(R, S, E)`` for each metric, train seconds, eval seconds."""
    chunks = _chunks(spec.tasks(), chunk_size)
    missing = {k for k in range(len(chunks)) if not _shard_path(shards, k).is_file()}
    if missing and not partial:
        n = sum(len(chunks[k]) for k in missing)
        raise FileNotFoundError(
            f"build in {shards} is not finished: {len(missing)} of {len(chunks)} chunks "
            f"({n} trainings) missing; run the same build command again to resume")
    reps = spec.representatives()
    rep_pos = {int(r): i for i, r in enumerate(reps)}
    seed_pos = {s: i for i, s in enumerate(spec.seeds)}
    e = int(spec.protocol["epochs"])
    shape = (len(reps), len(spec.seeds), e)
    values: dict[str, np.ndarray] = {}
    train_s = np.full(shape, np.nan)
    eval_s = np.full(shape, np.nan)
    for k in range(len(chunks)):
        if k in missing:
            continue
        with np.load(_shard_path(shards, k)) as z:
            ri = np.array([rep_pos[int(r)] for r in z["reps"]])
            si = np.array([seed_pos[int(s)] for s in z["seeds"]])
            expect = chunks[k]
            got = list(zip(z["reps"].tolist(), z["seeds"].tolist(), strict=True))
            if got != [tuple(t) for t in expect]:
                raise ValueError(f"{_shard_path(shards, k)} holds other tasks than chunk {k} "
                                 f"of this build; delete it and resume")
            for name in z.files:
                if name.startswith("m_"):
                    arr = values.setdefault(name[2:], np.full(shape, np.nan))
                    arr[ri, si] = z[name]
            train_s[ri, si] = z["train_s"]
            eval_s[ri, si] = z["eval_s"]
    return values, train_s, eval_s, reps, float(np.nansum(train_s) + np.nansum(eval_s))


def assemble_table(shards: str | Path, out: str | Path, *, name: str | None = None,
                   float32: bool = True, command: str | None = None,
                   block: int = 2048, partial: bool = False) -> Path:
    """Write the table of a finished build in ``shards`` to ``out`` (HDF5).

    Args:
        name: the table's name (default: ``out``'s stem).
        float32: round every value to float32 before storing (the trainer computes in
            float32; halves the compressed size).  Validation compares at that precision.
        command: the command line that built it, for the provenance.
        partial: assemble an unfinished build (rows of untrained classes stay missing;
            the provenance says how many trainings are in); for a preview only.
    """
    from benchbench.nn._data import dataset_metrics

    shards, out = Path(shards), Path(out)
    spec, chunk_size = _read_build(shards)
    values, train_s, eval_s, reps, compute_s = _load_shards(spec, shards, chunk_size, partial)
    metrics: tuple[Metric, ...] = dataset_metrics(spec.dataset)
    unknown_m = sorted(set(values) - {m.name for m in metrics})
    if unknown_m:
        raise ValueError(f"shards hold metrics {unknown_m} that {spec.dataset!r} does not define")
    rows = spec.table_rows()
    cls = class_ids(spec.space)
    done = ~np.isnan(train_s).all(axis=2)  # (R, S): which runs are in
    trained_runs = int(done.sum())
    lookup = np.full(int(cls.max()) + 1, -1, dtype=np.int64)
    lookup[reps] = np.arange(len(reps))
    src = lookup[cls[rows]]
    cost = np.cumsum(train_s, axis=2)

    def rnd(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float32).astype(np.float64) if float32 else a

    sessions = _read_sessions(shards)
    e = int(spec.protocol["epochs"])
    sp = enumerable_space(spec.space)
    provenance = {
        "builder": "benchbench data build (tabular_data._builder)",
        "command": command,
        "space": spec.space, "dataset": spec.dataset, "protocol": dict(spec.protocol),
        "seeds": list(spec.seeds), "epochs": e,
        "rows_filled_from": FILLED_FROM if not np.array_equal(reps, rows) or spec.rows is None
        else "every row trained itself",
        "trained_cells": int(len(reps)), "table_rows": int(len(rows)),
        "trainings": trained_runs,
        "partial": None if trained_runs == done.size else
        f"unfinished build: {trained_runs} of {done.size} trainings",
        "compute_seconds": compute_s,
        "train_seconds": float(np.nansum(train_s)), "eval_seconds": float(np.nansum(eval_s)),
        "build_sessions": sessions,
        "build_wall_seconds": float(sum(s.get("wall_s", 0.0) for s in sessions)),
        "values": "float32-rounded (stored as float64)" if float32 else "float64",
        "cost_s": "cumulative seconds of the training steps (no evaluation), as measured",
        "data_sha256": spec.data_sha256, "build_sha256": spec.sha256,
    }
    try:
        import torch
        provenance["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    ids = [sp.arch_id(sp.from_index(i)) for i in range(sp.size)]
    ds_spec = DatasetSpec(metrics=metrics, seeds=spec.seeds, epochs=tuple(range(1, e + 1)))
    with TableWriter(out, name=name or out.stem, space=spec.space, arch_ids=ids,
                     datasets={spec.dataset: ds_spec}, source_kind="training",
                     source_sha256=spec.sha256,
                     version=f"trained-{spec.dataset}-{spec.sha256[:12]}",
                     provenance=provenance) as w:
        keep = done[src].any(axis=1)
        rows, src = rows[keep], src[keep]
        for i in range(0, len(rows), block):
            r, s = rows[i:i + block], src[i:i + block]
            w.write(spec.dataset, r,
                    per_seed={m: rnd(v[s]) for m, v in values.items()},
                    cost_seeds=rnd(cost[s]))
    return out


def build_table(out: str | Path, *, space: str = "nb201", dataset: str = "digits",
                protocol: Any = "digits", epochs: int | None = None,
                seeds: Sequence[int] = (0, 1), cells: Iterable[int] | None = None,
                overrides: Mapping[str, Any] | None = None, workers: int = 1,
                shards: str | Path | None = None, chunk_size: int = 10,
                data_dir: str | Path | None = None, device: str = "cpu",
                name: str | None = None, float32: bool = True, command: str | None = None,
                progress: Callable[[int], None] | None = None) -> Path:
    """Train the table (resumably, see the module docstring) and assemble it at ``out``.

    Args:
        out: the ``.h5`` file to write.
        space, dataset, protocol, epochs, overrides: what to train (see :func:`make_spec`).
        seeds: training seeds; every class representative is trained once per seed.
        cells: official indices of the rows to fill (default: the whole space).
        workers: local processes.  shards: the resumable work folder (default
            ``<out>.shards``).  chunk_size: trainings per shard file.
        data_dir: folder of a local dataset (CIFAR / ImageNet16).
    Returns:
        ``out``.
    """
    out = Path(out)
    spec = make_spec(space=space, dataset=dataset, protocol=protocol, epochs=epochs,
                     seeds=seeds, rows=cells, data_dir=data_dir, overrides=overrides)
    shard_dir = Path(shards) if shards is not None else out.with_name(out.name + ".shards")
    train_shards(spec, shard_dir, workers=workers, chunk_size=chunk_size, data_dir=data_dir,
                 device=device, progress=progress)
    return assemble_table(shard_dir, out, name=name, float32=float32, command=command)
