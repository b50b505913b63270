"""The table builder: train every cell of a space and assemble the runs into a table.

:func:`build_table` (``benchbench data build``) is :func:`make_spec` (what to train, as a
:class:`BuildSpec`), then :func:`train_shards` (the training, resumable), then
:func:`assemble_table` (the HDF5 table).

Every functional-equivalence class of the space (NB201: 4,930 of the 15,625 cells,
``NB201Space().class_ids("functional")``) is trained once per seed on its *representative*,
the class member with the smallest official index, with :class:`benchbench.nn.Trainer`;
every member row of the table then holds the representative's trained values (accuracies,
losses) and ``cost_s``, while ``params`` and ``flops`` are always the row's *own* network's
(:func:`network_metrics`: ``count_params`` / ``count_flops`` of the row's cell with the build's
network options; they need no training).  Members of a class compute the same function but
need not have the same size: cell 4246 computes what its representative 118 does, yet its two
convolutions into node 2 (which reaches the output only through a ``none`` edge) hold
parameters.  The table's provenance says so.  :func:`rewrite_network_metrics` brings a table
assembled before that (version without ``-asm2``) up to date without retraining.

Work is split into chunks of (cell, seed) tasks run by local processes (one torch thread
each); each finished chunk is written atomically to ``<shards>/chunk-NNNNN.npz``, so an
interrupted build resumes where it stopped when the same command is run again
(:func:`build_status` tells how far it is).  When every chunk is there, the shards are
assembled into the table format (:mod:`tabular_data._format`), readable by
:class:`~tabular_data.TabularBenchmark`.

torch is imported only inside the functions that train or load data (the ``torch`` extra).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
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

from benchbench._procs import die_with_parent
from benchbench.api import Metric
from benchbench.protocols import TrainConfig, get_protocol
from benchbench.spaces import EnumerableSpace, get_space
from tabular_data._format import DatasetSpec, TableWriter

__all__ = ["NETWORK_METRICS", "BuildBusyError", "BuildSpec", "assemble_table", "build_status",
           "build_table", "make_spec", "network_metrics", "rewrite_network_metrics",
           "shard_lock", "table_is_built", "train_shards"]

BUILD_FILE = "build.json"
SESSIONS_FILE = "sessions.jsonl"
#: The builder's lock in the shard folder: one builder trains / assembles a folder at a time.
LOCK_FILE = ".lock"
FILLED_FROM = ("functional class representative: each class of "
               "space.class_ids('functional') was trained once per seed on its smallest "
               "official index; every member row holds that run's trained values and cost_s, "
               "and its own network's params and flops")
#: Metrics of the network itself (no training): every row holds its own cell's.
NETWORK_METRICS = ("params", "flops")
NETWORK_NOTE = ("params and flops of every row are its own cell's network (benchbench.nn."
                "count_params / 1e6 and count_flops, network options of the protocol), "
                "not its class representative's")
#: Revision of how the assembled rows are filled, part of the table's version string:
#: 1 (no suffix) copied params / flops of the class representative into member rows;
#: 2 gives every row its own network's (:data:`NETWORK_NOTE`).
ASSEMBLY_REVISION = 2
#: Input shape and classes of the network on each training dataset (what params / flops
#: depend on); checked against the trained representatives' records when assembling.
NETWORK_INPUT: dict[str, tuple[tuple[int, int, int], int]] = {
    "digits": ((3, 8, 8), 10), "cifar10-valid": ((3, 32, 32), 10),
    "cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100),
    "ImageNet16-120": ((3, 16, 16), 120),
}


def table_version(dataset: str, build_sha256: str) -> str:
    """The version string of a table assembled from a build (see :data:`ASSEMBLY_REVISION`)."""
    return f"trained-{dataset}-{build_sha256[:12]}-asm{ASSEMBLY_REVISION}"


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


class BuildBusyError(FileExistsError):
    """Another process is building in the same shard folder right now."""


def shard_lock(shards: str | Path) -> contextlib.AbstractContextManager[None]:
    """The exclusive lock ``<shards>/.lock`` (it holds the holder's PID), held while the block
    trains and assembles; fails at once with :class:`BuildBusyError` if another process
    holds it (a killed holder's lock dies with it)."""
    from benchbench._lockfile import exclusive_lock

    lock = Path(shards) / LOCK_FILE
    return exclusive_lock(lock, f"{os.getpid()}\n", busy=lambda holder: BuildBusyError(
        f"shard folder {shards} is being built by PID {holder or '?'} (lock {lock}); wait for "
        f"it to finish, or use another --shards folder"))


def table_is_built(out: str | Path, spec: BuildSpec, shards: str | Path | None = None
                   ) -> bool:
    """Whether ``out`` is a complete table assembled (at the current assembly revision)
    from the build ``spec``, and ``shards`` (when given and it exists) holds that build."""
    import h5py

    if shards is not None and (Path(shards) / BUILD_FILE).is_file():
        try:
            doc = json.loads((Path(shards) / BUILD_FILE).read_text())
        except (OSError, ValueError):
            return False
        if doc.get("spec_sha256") != spec.sha256:
            return False
    try:
        with h5py.File(out, "r") as f:
            attrs = dict(f.attrs)
            prov = json.loads(attrs.get("provenance", "{}"))
    except (OSError, ValueError, TypeError):
        return False
    return (attrs.get("source_kind") == "training"
            and attrs.get("source_sha256") == spec.sha256
            and attrs.get("version") == table_version(spec.dataset, spec.sha256)
            and prov.get("partial") is None)


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
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                        initializer=die_with_parent,
                                        initargs=(os.getpid(),)) as pool:
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


# -------------------------------------------------------------------- network metrics
def network_metrics(space: str, dataset: str, protocol: Mapping[str, Any],
                    rows: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
    """``{"params": (n,), "flops": (n,)}``: each row's own network, exactly as the trainer
    records them (``count_params(net) / 1e6`` and ``count_flops(net, input_shape)``, millions)
    for the network options of ``protocol`` on ``dataset`` (:data:`NETWORK_INPUT`).

    Networks are built on torch's meta device: no weights, no random numbers drawn.
    """
    import torch

    from benchbench.nn import count_flops, count_params, get_builder

    if dataset not in NETWORK_INPUT:
        raise ValueError(f"no network input shape known for dataset {dataset!r}; known: "
                         f"{sorted(NETWORK_INPUT)}")
    shape, classes = NETWORK_INPUT[dataset]
    builder = get_builder(space, **TrainConfig.from_dict(protocol).network_options)
    sp = enumerable_space(space)
    rows = np.asarray(rows, dtype=np.int64)
    params, flops = np.empty(len(rows)), np.empty(len(rows))
    for k, r in enumerate(rows.tolist()):
        with torch.device("meta"):
            net = builder(sp.from_index(r), num_classes=classes)
        params[k] = count_params(net) / 1e6
        flops[k] = count_flops(net, shape)
    return {"params": params, "flops": flops}


def _check_network_metrics(own: Mapping[str, np.ndarray], trained: Mapping[str, np.ndarray],
                           reps: np.ndarray) -> None:
    """The rebuilt networks of the representatives must match what their training recorded
    (``trained[m]``: ``(R, S, E)``, NaN where not trained), value for value."""
    for m, rec in trained.items():
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(rec) & (rec != own[m][:, None, None])
        if bad.any():
            k, s, e = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(f"{m} of cell {int(reps[k])} rebuilt from the protocol's network "
                             f"options is {own[m][k]!r}, but its training recorded "
                             f"{rec[k, s, e]!r}: the build's network or input differs from "
                             f"NETWORK_INPUT")


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
    net_metrics = [m for m in NETWORK_METRICS if m in values]
    own = network_metrics(spec.space, spec.dataset, spec.protocol, rows)
    pos = {int(r): k for k, r in enumerate(rows.tolist())}
    if all(int(r) in pos for r in reps):  # representatives are rows of the table
        rep_own = {m: v[[pos[int(r)] for r in reps]] for m, v in own.items()}
    else:
        rep_own = network_metrics(spec.space, spec.dataset, spec.protocol, reps)
    _check_network_metrics(rep_own, {m: values[m] for m in net_metrics}, reps)
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
        "network_metrics": NETWORK_NOTE,
        "assembly_revision": ASSEMBLY_REVISION,
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
                     version=table_version(spec.dataset, spec.sha256),
                     provenance=provenance) as w:
        keep = done[src].any(axis=1)
        rows, src = rows[keep], src[keep]
        own = {m: v[keep] for m, v in own.items()}
        for i in range(0, len(rows), block):
            r, s = rows[i:i + block], src[i:i + block]
            per_seed = {m: rnd(v[s]) for m, v in values.items()}
            for m in net_metrics:  # the row's own network, where its class's run has one
                per_seed[m] = np.where(np.isnan(per_seed[m]), np.nan,
                                       rnd(own[m][i:i + block])[:, None, None])
            w.write(spec.dataset, r, per_seed=per_seed, cost_seeds=rnd(cost[s]))
    return out


def rewrite_network_metrics(path: str | Path, *, out: str | Path | None = None,
                            block: int = 2048) -> dict[str, Any]:
    """Give every row of a built table its own network's ``params`` and ``flops``
    (:func:`network_metrics`), without retraining; everything else is kept as it is.

    For tables assembled before :data:`ASSEMBLY_REVISION` 2, whose member rows carry their
    class representative's params / flops.  Rows that trained themselves must already hold
    their own values (checked: the rebuilt networks are the trained ones); the NaN pattern
    (which rows and seeds have runs) is kept; values are float32-rounded when the table's are.
    The new file is written beside the target, every other dataset and attribute is checked
    equal to the original's, and it then replaces ``out`` (default: ``path`` itself).  The
    version gets the ``-asm2`` suffix and the provenance records the revision.

    Returns:
        ``{"rows_changed": {metric: rows whose value changed}, "rows": A, "written": bool,
        "version": new version}``; nothing is written when nothing changes.
    """
    import shutil

    import h5py

    path = Path(path)
    dest = Path(out) if out is not None else path
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
        if attrs.get("source_kind") != "training":
            raise ValueError(f"{path} was not built by benchbench (source_kind "
                             f"{attrs.get('source_kind')!r}): its params / flops are the "
                             f"source's own")
        prov = json.loads(attrs["provenance"])
        space, dataset = str(attrs["space"]), str(prov["dataset"])
        g = f[f"datasets/{dataset}"]
        names = [m for m in NETWORK_METRICS if m in g]
        old = {m: (g[f"{m}/seeds"][()], g[f"{m}/mean"][()]) for m in names}
        n_rows = len(f["arch_ids"])
    has = np.zeros(n_rows, dtype=bool)  # rows with any value (a partial table has few)
    for seeds, mean in old.values():
        has |= ~np.isnan(seeds).all(axis=(1, 2)) | ~np.isnan(mean).all(axis=1)
    rows = np.flatnonzero(has)
    own = {m: np.full(n_rows, np.nan) for m in NETWORK_METRICS}
    for m, v in network_metrics(space, dataset, prov["protocol"], rows).items():
        own[m][rows] = v
    if str(prov.get("values", "")).startswith("float32"):
        own = {m: v.astype(np.float32).astype(np.float64) for m, v in own.items()}
    cls = class_ids(space) if filled_from_classes(prov) else np.arange(n_rows)
    trained_self = rows[cls[rows] == rows]
    _check_network_metrics({m: own[m][trained_self] for m in names},
                           {m: old[m][0][trained_self] for m in names}, trained_self)
    new: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    changed: dict[str, int] = {}
    for m in names:
        seeds, mean = old[m]
        ns = np.where(np.isnan(seeds), np.nan, own[m][:, None, None])
        nm = np.where(np.isnan(mean), np.nan, own[m][:, None])
        new[m] = (ns, nm)
        diff = ~((ns == seeds) | (np.isnan(ns) & np.isnan(seeds)))
        changed[m] = int(diff.any(axis=(1, 2)).sum())
    version = table_version(dataset, str(attrs["source_sha256"]))
    result: dict[str, Any] = {"rows_changed": changed, "rows": n_rows, "version": version,
                              "written": False}
    if not any(changed.values()) and attrs.get("version") == version:
        return result
    prov_new = dict(prov)
    prov_new["rows_filled_from"] = (FILLED_FROM if filled_from_classes(prov)
                                    else prov.get("rows_filled_from"))
    prov_new["network_metrics"] = NETWORK_NOTE
    prov_new["assembly_revision"] = ASSEMBLY_REVISION
    prov_new["revisions"] = [*prov.get("revisions", []), {
        "date": _now(), "by": "tabular_data._builder.rewrite_network_metrics",
        "what": "params and flops of every row recomputed from its own network (no "
                "training); every other value unchanged",
        "previous_version": str(attrs.get("version")), "rows_changed": changed}]
    tmp = dest.with_name(dest.name + ".partial")
    shutil.copyfile(path, tmp)
    try:
        with h5py.File(tmp, "r+") as f:
            g = f[f"datasets/{dataset}"]
            for m, (ns, nm) in new.items():
                for i in range(0, n_rows, block):
                    g[f"{m}/seeds"][i:i + block] = ns[i:i + block]
                    g[f"{m}/mean"][i:i + block] = nm[i:i + block]
            f.attrs["version"] = version
            f.attrs["provenance"] = json.dumps(prov_new, sort_keys=True, default=str)
        _check_only_network_metrics_differ(path, tmp, dataset, names)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    result["written"] = True
    return result


def _check_only_network_metrics_differ(a: Path, b: Path, dataset: str,
                                       names: Sequence[str]) -> None:
    """Every dataset and attribute of ``a`` and ``b`` is equal except ``names`` of
    ``dataset`` and the root's version / provenance."""
    import h5py

    skip = {f"datasets/{dataset}/{m}/{k}" for m in names for k in ("seeds", "mean")}
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        seen_a: list[str] = []
        seen_b: list[str] = []
        fa.visit(seen_a.append)
        fb.visit(seen_b.append)
        if seen_a != seen_b:
            raise AssertionError(f"{b}: objects differ from {a}")
        for key in seen_a:
            oa, ob = fa[key], fb[key]
            if dict(oa.attrs).keys() != dict(ob.attrs).keys() or any(
                    not np.array_equal(np.asarray(oa.attrs[k]), np.asarray(ob.attrs[k]))
                    for k in oa.attrs):
                raise AssertionError(f"{b}: attributes of {key} differ from {a}")
            if isinstance(oa, h5py.Dataset) and key not in skip:
                x, y = oa[()], ob[()]
                same = (np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f"
                        else np.array_equal(x, y))
                if not same or oa.dtype != ob.dtype or oa.compression != ob.compression:
                    raise AssertionError(f"{b}: {key} differs from {a}")
        root = set(fa.attrs) | set(fb.attrs)
        for k in root - {"version", "provenance"}:
            if k not in fa.attrs or k not in fb.attrs or fa.attrs[k] != fb.attrs[k]:
                raise AssertionError(f"{b}: root attribute {k!r} differs from {a}")


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
    with shard_lock(shard_dir):
        train_shards(spec, shard_dir, workers=workers, chunk_size=chunk_size,
                     data_dir=data_dir, device=device, progress=progress)
        return assemble_table(shard_dir, out, name=name, float32=float32, command=command)
