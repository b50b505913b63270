"""Build a tabular benchmark by training every cell, and validate a table by retraining.

**Building** (``benchbench data build``, :func:`build_table`): every functional-equivalence
class of the space (NB201: 4,930 of the 15,625 cells, ``NB201Space().class_ids("functional")``)
is trained once per seed on its *representative*, the class member with the smallest official
index, with :class:`benchbench.nn.Trainer`; every member row of the table then holds the
representative's run (the table's provenance says so).  Work is split into chunks of
(cell, seed) tasks run by local processes (one torch thread each); each finished chunk is
written atomically to ``<shards>/chunk-NNNNN.npz``, so an interrupted build resumes where it
stopped when the same command is run again.  When every chunk is there, the shards are
assembled into the HDF5 table format (:mod:`tabular_data._format`), readable by
:class:`~tabular_data.TabularBenchmark`.

**Validation** (``benchbench validate``, :func:`validate_table`): retrain chosen cells with
the table's own protocol and compare, per cell, the retrained value with the table's seed
mean in units of the table's pooled seed-to-seed standard deviation, and over all cells the
rank correlation.  With a seed the table recorded, a CPU retraining must reproduce that
seed's curve exactly.

torch is imported only inside the functions that train (the ``torch`` extra).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import hashlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Metric
from benchbench.spaces import get_space
from tabular_data._format import DatasetSpec, TableWriter

__all__ = ["BuildSpec", "CellCheck", "ValidationReport", "assemble_table", "build_status",
           "build_table", "incumbents_from_runs", "pooled_seed_std", "read_cells",
           "train_shards", "validate_table"]

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
        n = get_space(self.space).size
        return np.arange(n) if self.rows is None else np.asarray(self.rows, dtype=np.int64)

    def representatives(self) -> np.ndarray:
        """Official indices that are trained (class representatives of the rows), ascending."""
        return np.unique(_class_ids(self.space)[self.table_rows()])

    def tasks(self) -> list[tuple[int, int]]:
        """``(representative, seed)`` pairs in a fixed order."""
        return [(int(r), int(s)) for r in self.representatives() for s in self.seeds]


def _class_ids(space: str) -> np.ndarray:
    sp = get_space(space)
    if hasattr(sp, "class_ids"):
        return np.asarray(sp.class_ids("functional"))
    return np.arange(sp.size)  # no equivalence classes known: every cell is its own


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
    from benchbench.nn._datasets import load_dataset
    from benchbench.nn._train import TrainConfig, get_protocol

    cfg = protocol if isinstance(protocol, TrainConfig) else get_protocol(protocol)
    changes = dict(overrides or {})
    if epochs is not None:
        changes["epochs"] = epochs
    if changes:
        cfg = cfg.replace(**changes)
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct ints >= 0, at least one; got {list(seeds)}")
    sp = get_space(space)
    if rows is not None:
        r = np.unique(np.asarray(list(rows), dtype=np.int64))
        if r.size == 0 or r[0] < 0 or r[-1] >= sp.size:
            raise ValueError(f"cells to build must be official indices in 0..{sp.size - 1}")
        rows_t: tuple[int, ...] | None = tuple(int(x) for x in r)
        if len(rows_t) == sp.size:
            rows_t = None
    else:
        rows_t = None
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
        from benchbench.nn._datasets import load_dataset
        from benchbench.nn._train import TrainConfig, Trainer

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
    np.savez(tmp, **arrays)
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
    """Progress of a build: chunks and tasks done / total, compute seconds so far."""
    shards = Path(shards)
    spec, size = _read_build(shards)
    chunks = _chunks(spec.tasks(), size)
    done = [k for k in range(len(chunks)) if _shard_path(shards, k).is_file()]
    return {"chunks_done": len(done), "chunks": len(chunks),
            "tasks_done": sum(len(chunks[k]) for k in done), "tasks": len(spec.tasks())}


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
                    for f in futs:
                        f.cancel()
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
    from benchbench.nn._datasets import dataset_metrics

    shards, out = Path(shards), Path(out)
    spec, chunk_size = _read_build(shards)
    values, train_s, eval_s, reps, compute_s = _load_shards(spec, shards, chunk_size, partial)
    metrics: tuple[Metric, ...] = dataset_metrics(spec.dataset)
    unknown_m = sorted(set(values) - {m.name for m in metrics})
    if unknown_m:
        raise ValueError(f"shards hold metrics {unknown_m} that {spec.dataset!r} does not define")
    rows = spec.table_rows()
    class_ids = _class_ids(spec.space)
    done = ~np.isnan(train_s).all(axis=2)  # (R, S): which runs are in
    trained_runs = int(done.sum())
    lookup = np.full(int(class_ids.max()) + 1, -1, dtype=np.int64)
    lookup[reps] = np.arange(len(reps))
    src = lookup[class_ids[rows]]
    cost = np.cumsum(train_s, axis=2)
    rnd = (lambda a: a.astype(np.float32).astype(np.float64)) if float32 else (lambda a: a)
    sessions = []
    sf = shards / SESSIONS_FILE
    if sf.is_file():
        sessions = [json.loads(x) for x in sf.read_text().splitlines() if x.strip()]
    e = int(spec.protocol["epochs"])
    sp = get_space(spec.space)
    provenance = {
        "builder": "benchbench data build (tabular_data._build)",
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


# ------------------------------------------------------------------------ validation
def read_cells(path: str | Path, space: str = "nb201") -> list[int]:
    """Official indices of the cells listed in ``path``: one cell string or index per line;
    blank lines and ``#`` comments are ignored."""
    sp = get_space(space)
    out: list[int] = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(sp.index(sp.parse(int(text) if text.isdigit() else text)))
        except (ValueError, KeyError, LookupError) as e:
            raise ValueError(f"{path}:{n}: bad cell {text!r}: {e}") from None
    if not out:
        raise ValueError(f"{path} lists no cells (one cell string or official index per line)")
    return out


def incumbents_from_runs(run_dir: str | Path) -> list[int]:
    """The final incumbent (``incumbent_index`` of the last record) of every run under
    ``run_dir`` (a study folder or any folder holding ``records.csv`` files), distinct, in
    path order."""
    import csv

    files = sorted(Path(run_dir).rglob("records.csv"))
    if not files:
        raise FileNotFoundError(f"no records.csv under {run_dir}; give a study folder "
                                f"written by `benchbench run`")
    out: list[int] = []
    for f in files:
        last = None
        with f.open(newline="") as fh:
            for row in csv.DictReader(fh):
                last = row
        if last is None or last.get("incumbent_index") in (None, ""):
            continue
        i = int(last["incumbent_index"])
        if i not in out:
            out.append(i)
    if not out:
        raise ValueError(f"the runs under {run_dir} have no incumbents yet")
    return out


def _filled_from_classes(bench: Any) -> bool:
    return str(bench.provenance.get("rows_filled_from", "")).startswith("functional")


def pooled_seed_std(bench: Any, dataset: str, metric: str, epoch: int) -> float:
    """The table's pooled seed-to-seed standard deviation of ``metric`` at ``epoch``:
    ``sqrt(mean over cells with >= 2 seeds of the unbiased per-cell variance)``.  For a table
    filled from functional classes, each class counts once."""
    vals = np.column_stack([bench.values(dataset, metric, epoch=epoch, data_seed=s)
                            for s in bench.seeds(dataset)])
    if _filled_from_classes(bench):
        vals = vals[np.unique(_class_ids(bench.space.name))]
    ok = np.sum(~np.isnan(vals), axis=1) >= 2
    if not ok.any():
        raise ValueError(f"{bench.name!r} has no cell with two or more seeds of {metric!r} at "
                         f"epoch {epoch}: no seed-to-seed deviation to compare with")
    return float(np.sqrt(np.mean(np.nanvar(vals[ok], axis=1, ddof=1))))


def _retrain(protocol: Mapping[str, Any], space: str, dataset: str, data_dir: str | None,
             device: str, cell: int, seed: int, epoch: int) -> dict[str, np.ndarray]:
    """Train ``cell`` with ``seed`` up to ``epoch`` through a TrainingBenchmark."""
    from benchbench.nn._train import TrainConfig
    from benchbench.nn._training_benchmark import TrainingBenchmark

    key = json.dumps([protocol, space, dataset, data_dir, device], sort_keys=True, default=str)
    tb = _TRAINERS.get(key)
    if tb is None:
        tb = TrainingBenchmark(space, protocol=TrainConfig.from_dict(protocol),
                               datasets=[dataset], data_dir=data_dir, device=device,
                               max_live_runs=0)
        _TRAINERS.clear()
        _TRAINERS[key] = tb
    tr = tb.trajectory(cell, dataset=dataset, max_fidelity=epoch, data_seed=seed)
    return {**tr.values, "cost_s": tr.cost_s}


@dataclass(frozen=True)
class CellCheck:
    """One retrained cell against the table (``metric`` at ``epoch``).

    Attributes:
        index, arch_id: the cell asked for.  trained_index: the cell actually retrained
            (its functional class representative when the table was filled from classes).
        retrained: the retrained value; table_mean: the table's seed mean; table_seed: the
            table's value for the retraining seed (NaN if that seed is not in the table).
        z: ``(retrained - table_mean) / sigma``; within: ``|z| <= threshold``.
        exact: with a table seed, whether the retrained curve (every metric but time, epochs
            1..epoch, float32-rounded) equals the table's exactly; ``None`` otherwise.
        max_abs_diff: the largest absolute curve difference behind ``exact`` (NaN if None).
        train_s: measured training seconds of the retraining (up to ``epoch``).
    """

    index: int
    arch_id: str
    trained_index: int
    retrained: float
    table_mean: float
    table_seed: float
    z: float
    within: bool
    exact: bool | None
    max_abs_diff: float
    train_s: float


@dataclass(frozen=True)
class ValidationReport:
    """Result of :func:`validate_table` (``to_dict`` for JSON, ``text`` for people)."""

    benchmark: str
    dataset: str
    metric: str
    epoch: int
    seed: int
    seed_in_table: bool
    sigma: float
    threshold: float
    cells: tuple[CellCheck, ...]
    spearman: float
    kendall: float
    fraction_within: float
    n_exact: int
    n_compared_exact: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cells"] = [asdict(c) for c in self.cells]
        return json.loads(json.dumps(d, default=float).replace("NaN", "null"))

    def text(self) -> str:
        lines = [f"validation of {self.benchmark} on {self.dataset}: {self.metric} at epoch "
                 f"{self.epoch}, retrained with seed {self.seed} "
                 f"({'a table seed' if self.seed_in_table else 'a new seed'}); "
                 f"pooled seed-to-seed sigma = {self.sigma:.4g}",
                 f"{'index':>6} {'trained':>7} {'retrained':>10} {'table mean':>10} "
                 f"{'table seed':>10} {'z':>6}  within  exact"]
        for c in self.cells:
            ex = "-" if c.exact is None else ("yes" if c.exact else f"no ({c.max_abs_diff:.2g})")
            lines.append(f"{c.index:>6} {c.trained_index:>7} {c.retrained:>10.4g} "
                         f"{c.table_mean:>10.4g} {c.table_seed:>10.4g} {c.z:>6.2f}  "
                         f"{'yes' if c.within else 'NO':6s}  {ex}")
        lines.append(f"{len(self.cells)} cells: {100 * self.fraction_within:.1f}% within "
                     f"{self.threshold:g} sigma; Spearman {self.spearman:.3f}, Kendall tau-b "
                     f"{self.kendall:.3f} (retrained vs table mean, signed)")
        if self.n_compared_exact:
            lines.append(f"exact reproduction of the table's seed-{self.seed} curve: "
                         f"{self.n_exact} of {self.n_compared_exact} cells")
        return "\n".join(lines)


def validate_table(bench: Any, cells: Sequence[Any], *, dataset: str | None = None,
                   epoch: int | None = None, seed: int | None = None,
                   metric: str = "valid_acc", protocol: Any = None,
                   data_dir: str | Path | None = None, device: str = "cpu", workers: int = 1,
                   threshold: float = 2.5, progress: Callable[[int], None] | None = None
                   ) -> ValidationReport:
    """Retrain ``cells`` and compare them with the table ``bench`` (a TabularBenchmark).

    Args:
        cells: cells (records, strings or official indices).
        dataset: the table's dataset (default: its only one).
        epoch: fidelity compared (default: the table's largest).
        seed: retraining seed (default: one more than the table's largest, a new seed).
        metric: the metric compared per cell (default ``valid_acc``).
        protocol: the training protocol (default: the one in the table's provenance; needed
            for tables not built by benchbench, e.g. ``"nb201"`` for the official NB201).
        data_dir: folder of a local dataset (CIFAR / ImageNet16).
        workers: local processes.  threshold: in units of the pooled seed sigma.
    """
    from scipy import stats

    from benchbench.nn._train import TrainConfig, get_protocol

    if dataset is None:
        if len(bench.datasets) != 1:
            raise ValueError(f"{bench.name!r} has datasets {list(bench.datasets)}: name one")
        dataset = bench.datasets[0]
    bench.check_dataset(dataset)
    m = bench.metric(dataset, metric)
    if protocol is None:
        p = bench.provenance.get("protocol")
        if not isinstance(p, Mapping):
            raise ValueError(f"{bench.name!r} was not built by benchbench (no protocol in its "
                             f"provenance): give the training protocol, e.g. 'nb201'")
        cfg = TrainConfig.from_dict(p)
    else:
        cfg = protocol if isinstance(protocol, TrainConfig) else get_protocol(protocol)
    epoch = bench.check_fidelity(dataset, epoch)
    if epoch > cfg.epochs:
        raise ValueError(f"epoch {epoch} is beyond the protocol's {cfg.epochs} epochs")
    table_seeds = bench.seeds(dataset)
    if seed is None:
        seed = max(table_seeds, default=-1) + 1
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    sp = bench.space
    idx = [sp.index(sp.parse(c)) for c in cells]
    if not idx:
        raise ValueError("no cells to validate")
    cls = _class_ids(sp.name) if _filled_from_classes(bench) else np.arange(sp.size)
    trained = [int(cls[i]) for i in idx]
    todo = sorted(set(trained))
    sigma = pooled_seed_std(bench, dataset, m.name, epoch)
    args = (cfg.to_dict(), sp.name, dataset, None if data_dir is None else str(data_dir),
            device)
    curves: dict[int, dict[str, np.ndarray]] = {}
    if workers == 1 or len(todo) == 1:
        for c in todo:
            curves[c] = _retrain(*args, c, int(seed), epoch)
            if progress is not None:
                progress(1)
    else:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = {pool.submit(_retrain, *args, c, int(seed), epoch): c for c in todo}
            for fut in cf.as_completed(futs):
                curves[futs[fut]] = fut.result()
                if progress is not None:
                    progress(1)
    in_table = int(seed) in table_seeds
    checks: list[CellCheck] = []
    for i, t in zip(idx, trained, strict=True):
        cur = curves[t]
        mean = bench.query(i, dataset=dataset, fidelity=epoch)[m.name]
        table_seed, exact, diff = math.nan, None, math.nan
        if in_table and int(seed) in bench.data_seeds(i, dataset):
            table_seed = bench.query(i, dataset=dataset, fidelity=epoch, data_seed=int(seed))[
                m.name]
            ref = bench.trajectory(i, dataset=dataset, max_fidelity=epoch, data_seed=int(seed))
            diffs = []
            for name, v in ref.values.items():
                mine = np.asarray(cur[name], dtype=np.float32).astype(np.float64)
                theirs = np.asarray(v, dtype=np.float64)
                both_nan = np.isnan(mine) & np.isnan(theirs)
                d = np.where(both_nan, 0.0, np.abs(mine - theirs))
                diffs.append(float(np.max(d)) if d.size else 0.0)
            diff = max(diffs)
            exact = bool(diff == 0.0)
        value = float(cur[m.name][epoch - 1])
        z = (value - mean) / sigma if sigma > 0 else math.nan
        checks.append(CellCheck(
            index=int(i), arch_id=sp.arch_id(sp.from_index(i)), trained_index=t,
            retrained=value, table_mean=float(mean), table_seed=float(table_seed), z=float(z),
            within=bool(abs(z) <= threshold), exact=exact, max_abs_diff=float(diff),
            train_s=float(cur["cost_s"][epoch - 1])))
    r = np.array([c.retrained for c in checks])
    t_ = np.array([c.table_mean for c in checks])
    if len(checks) >= 3 and np.ptp(r) > 0 and np.ptp(t_) > 0:
        rho, tau = float(stats.spearmanr(r, t_)[0]), float(stats.kendalltau(r, t_)[0])
    else:
        rho = tau = math.nan
    compared = [c for c in checks if c.exact is not None]
    return ValidationReport(
        benchmark=bench.name, dataset=dataset, metric=m.name, epoch=epoch, seed=int(seed),
        seed_in_table=in_table, sigma=sigma, threshold=float(threshold), cells=tuple(checks),
        spearman=rho, kendall=tau,
        fraction_within=float(np.mean([c.within for c in checks])),
        n_exact=sum(bool(c.exact) for c in compared), n_compared_exact=len(compared))
