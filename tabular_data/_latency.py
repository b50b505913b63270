"""Inference latency measured on the user's own machine, added to a COPY of a table
(``benchbench data latency``).

What is measured: for every functional class of the table's cells (NB201: the 4,930 classes
of ``space.class_ids("functional")``, measured on the class representative, its smallest
official index, as the table builder trains it; a table keyed by cell id: the cells grouped
by ``space.canonical_id``), the network the space's builder makes for that cell (the
protocol's network options, the dataset's input shape and classes as in
:data:`tabular_data._builder.NETWORK_INPUT`), in eval mode under ``torch.inference_mode``,
on a random input batch of each size in ``batches``: ``warmup`` untimed forward passes, then
``repeats`` timed ones (``time.perf_counter`` around each pass; on CUDA with
``torch.cuda.synchronize()`` before and after).  Recorded per batch size: the median
(``latency_ms_b<B>``, milliseconds per forward pass of the whole batch) and the
interquartile range of the repeats (``latency_ms_b<B>_iqr``).  Every row of the class holds
its class's values (members compute the same function; the representative is the network a
deployment would keep).  Dataset with the same input shape and classes share measurements.

Where: the table is copied to ``out`` and the metrics are added there (per seed where the
row has a recorded run, and as the seed mean; the same value at every epoch: a network's
latency does not depend on how long it was trained).  The source table, embedded or not, is
never modified.  The copy's provenance records the machine (CPU model, logical CPUs, torch
threads, torch version, device and its name, host, platform) and the settings.

One machine per metric: a source table whose latency metric (same name) was measured on
another machine (other CPU model, CPU count, device, device name, threads or torch version;
the host name may differ, as containers change it) is refused with one line, and so is a
shard folder begun on another machine.  Measure another machine under another
``metric_prefix``.

Resumable and parallel like the table builder (:mod:`tabular_data._builder`): the classes are
split into chunks; each finished chunk is written atomically to
``<shards>/chunk-NNNNN.npz``, so an interrupted run continues where it stopped; one process at
a time works in a shard folder (the builder's lock).  ``workers`` processes measure chunks in
parallel, each with ``threads`` torch threads: they share the machine, so parallel timings
are slower than sequential ones (use ``workers=1`` for numbers to report; the provenance
records the workers).

Noise: :func:`measure_noise` measures a sample of the classes again and gives Spearman's
rank correlation between the two passes per batch size.

torch is imported only inside the functions that measure.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import hashlib
import json
import math
import multiprocessing
import os
import platform
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchbench._procs import die_with_parent
from benchbench.api import BenchmarkError, Direction, Metric

__all__ = ["FINGERPRINT_KEYS", "LatencySpec", "MachineMismatchError", "add_latency",
           "latency_metric_names", "machine_description", "measure_cells", "measure_noise"]

#: The keys of the machine description that must match for measurements to be mixed.
FINGERPRINT_KEYS = ("cpu_model", "logical_cpus", "device", "device_name", "threads", "torch")
SPEC_FILE = "latency.json"
DEVICES = ("cpu", "cuda")


class MachineMismatchError(BenchmarkError):
    """Latency measured on another machine would be mixed into one metric."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_description(device: str = "cpu", threads: int = 1) -> dict[str, Any]:
    """The machine the latency is measured on: CPU model, logical CPUs, torch threads, torch
    version, device and its name, host name, platform (``FINGERPRINT_KEYS`` identify it)."""
    import torch

    name = _cpu_model()
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: torch sees no CUDA device here (torch "
                             f"{torch.__version__}); use --device cpu")
        name = torch.cuda.get_device_name(0)
    return {"cpu_model": _cpu_model(), "logical_cpus": os.cpu_count(), "threads": threads,
            "torch": torch.__version__, "device": device, "device_name": name,
            "host": platform.node(), "platform": platform.platform()}


def _fingerprint(desc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: desc.get(k) for k in FINGERPRINT_KEYS}


def _mismatch(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    diff = [f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in FINGERPRINT_KEYS
            if a.get(k) != b.get(k)]
    return "; ".join(diff)


def latency_metric_names(batches: Sequence[int], prefix: str = "latency_ms"
                         ) -> list[tuple[str, str]]:
    """``[(median metric, spread metric)]`` per batch size: ``latency_ms_b1``,
    ``latency_ms_b1_iqr``, ..."""
    return [(f"{prefix}_b{b}", f"{prefix}_b{b}_iqr") for b in batches]


# ------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class LatencySpec:
    """What one latency measurement measures (and nothing that does not change its numbers).

    Attributes:
        space: the table's space name (the builder's).
        cells: per class, a string the space parses (the representative), in class order.
        input_shape / num_classes: the network's input and output.
        network: the builder's options (the protocol's ``network``).
        device, batches, threads, repeats, warmup: how it is timed.
        machine: :func:`machine_description` fingerprint (``FINGERPRINT_KEYS``).
    """

    space: str
    cells: tuple[str, ...]
    input_shape: tuple[int, int, int]
    num_classes: int
    network: Mapping[str, Any]
    device: str
    batches: tuple[int, ...]
    threads: int
    repeats: int
    warmup: int
    machine: Mapping[str, Any]

    def to_json(self) -> str:
        d = asdict(self)
        d["network"] = dict(self.network)
        d["machine"] = dict(self.machine)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LatencySpec:
        d = json.loads(text)
        return cls(space=d["space"], cells=tuple(d["cells"]),
                   input_shape=tuple(d["input_shape"]),  # type: ignore[arg-type]
                   num_classes=int(d["num_classes"]), network=d["network"],
                   device=d["device"], batches=tuple(d["batches"]), threads=int(d["threads"]),
                   repeats=int(d["repeats"]), warmup=int(d["warmup"]), machine=d["machine"])

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


# ---------------------------------------------------------------------- timing
def _space(name: str) -> Any:
    from benchbench.spaces import get_space

    return get_space(name)


def measure_cells(space: str, cells: Sequence[str], *, input_shape: Sequence[int],
                  num_classes: int, network: Mapping[str, Any] | None = None,
                  device: str = "cpu", batches: Sequence[int] = (1,), threads: int = 1,
                  repeats: int = 10, warmup: int = 3, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Time the network of every cell (strings the space parses): ``(median ms (n, B),
    interquartile range ms (n, B))`` for the batch sizes ``batches`` (see the module
    docstring for the procedure).  Weights and inputs come from a generator seeded with
    ``seed`` (values do not change the time of these networks, but it keeps runs equal)."""
    import torch

    from benchbench.nn import get_builder, new_network

    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    sp = _space(space)
    builder = get_builder(sp.name, **dict(network or {}))
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    dev = torch.device(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    med = np.full((len(cells), len(batches)), np.nan)
    iqr = np.full((len(cells), len(batches)), np.nan)
    try:
        gen = torch.Generator().manual_seed(seed)
        inputs = [torch.randn((b, *input_shape), generator=gen).to(dev) for b in batches]
        for i, cell in enumerate(cells):
            net = new_network(builder, sp.parse(cell), num_classes=num_classes,
                              generator=torch.Generator().manual_seed(seed)).eval().to(dev)
            with torch.inference_mode():
                for j, x in enumerate(inputs):
                    for _ in range(warmup):
                        net(x)
                    sync()
                    t = np.empty(repeats)
                    for r in range(repeats):
                        sync()
                        t0 = time.perf_counter()
                        net(x)
                        sync()
                        t[r] = time.perf_counter() - t0
                    q25, q50, q75 = np.percentile(t * 1e3, [25, 50, 75])
                    med[i, j], iqr[i, j] = q50, q75 - q25
            del net
    finally:
        torch.set_num_threads(old)
    return med, iqr


def _run_chunk(spec_json: str, path: str, lo: int, hi: int) -> tuple[int, float]:
    """Measure classes ``lo:hi`` of the spec and write them to ``path`` atomically."""
    t0 = time.perf_counter()
    spec = LatencySpec.from_json(spec_json)
    med, iqr = measure_cells(spec.space, spec.cells[lo:hi], input_shape=spec.input_shape,
                             num_classes=spec.num_classes, network=spec.network,
                             device=spec.device, batches=spec.batches, threads=spec.threads,
                             repeats=spec.repeats, warmup=spec.warmup)
    tmp = Path(path).with_name(Path(path).name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, lo=np.int64(lo), hi=np.int64(hi), median_ms=med, iqr_ms=iqr,
             machine=np.array(json.dumps(_fingerprint(spec.machine))))
    os.replace(tmp, path)
    return hi - lo, time.perf_counter() - t0


def _chunk_path(shards: Path, k: int) -> Path:
    return shards / f"chunk-{k:05d}.npz"


def _open_shards(spec: LatencySpec, shards: Path, chunk_size: int) -> None:
    shards.mkdir(parents=True, exist_ok=True)
    f = shards / SPEC_FILE
    if f.is_file():
        old = json.loads(f.read_text())
        if old["machine"] != dict(spec.machine):
            raise MachineMismatchError(
                f"shard folder {shards} holds latencies measured on another machine "
                f"({_mismatch(old['machine'], spec.machine)}); use another --shards folder")
        if old.get("spec_sha256") != spec.sha256 or old.get("chunk_size") != chunk_size:
            raise FileExistsError(f"shard folder {shards} belongs to another latency "
                                  f"measurement (other cells, batches, repeats, warm-up or "
                                  f"chunk size); use another --shards folder or delete it")
        return
    doc = {"spec_sha256": spec.sha256, "chunk_size": chunk_size, "machine": dict(spec.machine),
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "spec": json.loads(spec.to_json())}
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, f)


def measure_shards(spec: LatencySpec, shards: str | Path, *, workers: int = 1,
                   chunk_size: int = 20, progress: Callable[[int], None] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """Measure every chunk not yet in ``shards`` (resumable), then read all of them:
    ``(median ms (C, B), IQR ms (C, B), seconds spent now)``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    shards = Path(shards)
    _open_shards(spec, shards, chunk_size)
    n = len(spec.cells)
    bounds = [(lo, min(n, lo + chunk_size)) for lo in range(0, n, chunk_size)]
    todo = [k for k in range(len(bounds)) if not _chunk_path(shards, k).is_file()]
    if progress is not None:
        progress(n - sum(bounds[k][1] - bounds[k][0] for k in todo))
    t0 = time.perf_counter()
    sj = spec.to_json()
    if workers == 1 or len(todo) <= 1:
        for k in todo:
            done, _ = _run_chunk(sj, str(_chunk_path(shards, k)), *bounds[k])
            if progress is not None:
                progress(done)
    else:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                    initializer=die_with_parent,
                                    initargs=(os.getpid(),)) as pool:
            futs = [pool.submit(_run_chunk, sj, str(_chunk_path(shards, k)), *bounds[k])
                    for k in todo]
            try:
                for fut in cf.as_completed(futs):
                    done, _ = fut.result()
                    if progress is not None:
                        progress(done)
            except BaseException:
                for fut in futs:
                    fut.cancel()
                raise
    spent = time.perf_counter() - t0
    med = np.full((n, len(spec.batches)), np.nan)
    iqr = np.full_like(med, np.nan)
    want = _fingerprint(spec.machine)
    for k, (lo, hi) in enumerate(bounds):
        with np.load(_chunk_path(shards, k)) as z:
            got = json.loads(str(z["machine"]))
            if got != want:
                raise MachineMismatchError(f"{_chunk_path(shards, k)} was measured on another "
                                           f"machine ({_mismatch(got, want)}); delete it")
            if (int(z["lo"]), int(z["hi"])) != (lo, hi):
                raise ValueError(f"{_chunk_path(shards, k)} holds other classes than chunk {k}; "
                                 f"delete it and resume")
            med[lo:hi], iqr[lo:hi] = z["median_ms"], z["iqr_ms"]
    return med, iqr, spent


# ---------------------------------------------------------------------- classes
def table_classes(bench: Any, rows: Sequence[int] | None = None
                  ) -> tuple[np.ndarray, list[str]]:
    """``(class of every table row (A,) int64, -1 for rows not measured; per class a cell
    string the space parses)``: NB201-like spaces by ``class_ids("functional")`` (the
    representative: the smallest official index), other spaces by ``canonical_id`` (the
    first row of each)."""
    space = bench.space
    ids = bench.arch_ids()
    n = len(ids)
    keep = np.zeros(n, dtype=bool)
    if rows is None:
        keep[:] = True
    else:
        r = np.asarray(list(rows), dtype=np.int64)
        if r.size and (r.min() < 0 or r.max() >= n):
            raise ValueError(f"rows must be in 0..{n - 1}")
        keep[r] = True
    cls = np.full(n, -1, dtype=np.int64)
    reps: list[str] = []
    if hasattr(space, "class_ids") and not hasattr(space, "base"):
        cid = np.asarray(space.class_ids("functional"))
        uniq = np.unique(cid[keep])
        pos = {int(c): i for i, c in enumerate(uniq)}
        cls[keep] = [pos[int(c)] for c in cid[keep]]
        reps = [space.arch_id(space.from_index(int(c))) for c in uniq]
        return cls, reps
    seen: dict[str, int] = {}
    for r in np.flatnonzero(keep).tolist():
        arch = space.from_index(r)
        key = space.canonical_id(arch)
        if key not in seen:
            seen[key] = len(reps)
            reps.append(space.format(arch) if hasattr(space, "base") else space.arch_id(arch))
        cls[r] = seen[key]
    return cls, reps


# ------------------------------------------------------------------------- table
def _network_setup(bench: Any, dataset: str, protocol: str | None
                   ) -> tuple[tuple[int, int, int], int, dict[str, Any], str]:
    from benchbench.protocols import TrainConfig, get_protocol
    from tabular_data._builder import NETWORK_INPUT

    if dataset not in NETWORK_INPUT:
        raise ValueError(f"no network input shape known for dataset {dataset!r}; known: "
                         f"{sorted(NETWORK_INPUT)}")
    shape, classes = NETWORK_INPUT[dataset]
    prov = getattr(bench, "provenance", {}) or {}
    if protocol is not None:
        cfg, pname = get_protocol(protocol), protocol
    elif isinstance(prov.get("protocol"), Mapping):
        cfg, pname = TrainConfig.from_dict(prov["protocol"]), "the table's build protocol"
    else:
        space = bench.space.name
        pname = {"nb301": "nb301", "darts": "darts"}.get(space, space)
        try:
            cfg = get_protocol(pname)
        except Exception:
            raise ValueError(f"the table records no training protocol and none is named "
                             f"{space!r}: give --protocol (see `benchbench list protocols`)"
                             ) from None
    return shape, classes, cfg.network_options, pname


def add_latency(source: str | Path | Any, out: str | Path, *, device: str = "cpu",
                batches: Sequence[int] = (1, 64), threads: int = 1, repeats: int = 10,
                warmup: int = 3, datasets: Sequence[str] | None = None,
                protocol: str | None = None, rows: Sequence[int] | None = None,
                shards: str | Path | None = None, workers: int = 1, chunk_size: int = 20,
                metric_prefix: str = "latency_ms", command: str | None = None,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Measure the latency of every class of ``source`` (a table path, a table name, or an
    open :class:`~tabular_data.TabularBenchmark`) and write a copy of it with the latency
    metrics to ``out`` (see the module docstring).

    Args:
        device: ``"cpu"`` or ``"cuda"``.  batches: batch sizes (one metric pair each).
        threads: torch threads per measuring process.  repeats / warmup: timed and untimed
            forward passes per (cell, batch size).
        datasets: the table's datasets to add the metrics to (default: all with a known
            network input).  protocol: whose network options (default: the table's build
            protocol, else the space's own).
        rows: measure only the classes of these table rows (the rest stay NaN; the
            provenance says how many were measured).
        shards: the resumable work folder (default ``<out>.latency-shards``).
        workers, chunk_size: parallel processes and classes per shard file.
        metric_prefix: names are ``<prefix>_b<batch>`` and ``<prefix>_b<batch>_iqr``.

    Returns:
        ``{"out": path, "classes": n, "measured_now_s": seconds, "machine": {...},
        "metrics": [...], "datasets": [...]}``.

    Raises:
        MachineMismatchError: ``source`` already has one of the metrics from another machine,
            or the shard folder was begun on another.
        ValueError: bad settings (one line).
    """
    import h5py

    from tabular_data._benchmark import TabularBenchmark
    from tabular_data._builder import shard_lock
    from tabular_data._root import resolve_table

    _check_settings(device, batches, threads, repeats, warmup, metric_prefix)
    bench = source if isinstance(source, TabularBenchmark) else TabularBenchmark(
        source if Path(str(source)).suffix == ".h5" else resolve_table(str(source)))
    src = Path(bench.path)
    out = Path(out)
    if out.suffix != ".h5":
        raise ValueError(f"--out must be a .h5 file, got {str(out)!r}")
    if out.resolve() == src.resolve():
        raise ValueError(f"--out {out} is the source table itself: the latency is written to "
                         f"a copy (tables embedded in the package are package data)")
    all_ds = [d for d in bench.datasets if _known_input(d)]
    ds_list = list(datasets) if datasets else all_ds
    for d in ds_list:
        if d not in bench.datasets:
            raise ValueError(f"dataset {d!r} is not in {bench.name!r}; it has "
                             f"{list(bench.datasets)}")
    if not ds_list:
        raise ValueError(f"no dataset of {bench.name!r} has a known network input shape "
                         f"({list(bench.datasets)})")
    machine = machine_description(device, threads)
    names = latency_metric_names(batches, metric_prefix)
    _refuse_other_machine(bench, [m for pair in names for m in pair], machine)
    cls, reps = table_classes(bench, rows)
    groups: dict[tuple[Any, ...], list[str]] = {}
    setups: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for d in ds_list:
        shape, ncls, net, pname = _network_setup(bench, d, protocol)
        key = (shape, ncls, json.dumps(net, sort_keys=True))
        groups.setdefault(key, []).append(d)
        setups[key] = (shape, ncls, net, pname)
    shard_root = Path(shards) if shards is not None else out.with_name(out.name +
                                                                       ".latency-shards")
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    spent = 0.0
    t_all = time.perf_counter()
    for gi, (key, dsets) in enumerate(groups.items()):
        shape, ncls, net, _ = setups[key]
        spec = LatencySpec(space=bench.space.name, cells=tuple(reps), input_shape=shape,
                           num_classes=ncls, network=net, device=device,
                           batches=tuple(int(b) for b in batches), threads=threads,
                           repeats=repeats, warmup=warmup, machine=_fingerprint(machine))
        folder = shard_root / f"input-{gi}" if len(groups) > 1 else shard_root
        folder.mkdir(parents=True, exist_ok=True)
        with shard_lock(folder):
            med, iqr, s = measure_shards(spec, folder, workers=workers, chunk_size=chunk_size,
                                         progress=progress)
        spent += s
        for d in dsets:
            results[d] = (med, iqr)
    wall = time.perf_counter() - t_all
    info = {"machine": machine, "device": device, "batches": [int(b) for b in batches],
            "threads": threads, "repeats": repeats, "warmup": warmup, "workers": workers,
            "metrics": [m for pair in names for m in pair], "datasets": ds_list,
            "classes": len(reps), "rows_measured": int((cls >= 0).sum()),
            "rows": len(cls), "protocol": {d: setups[k][3] for k, ds in groups.items()
                                           for d in ds},
            "measured": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "measure_seconds_now": spent, "command": command,
            "procedure": "median and IQR over the timed repeats of one forward pass of the "
                         "whole batch (eval mode, torch.inference_mode) after the warm-up "
                         "passes; one network per functional class (representative), every "
                         "row holds its class's values"}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, tmp)
    try:
        with h5py.File(tmp, "r+") as f:
            _write_metrics(f, bench, results, cls, names, machine, info)
        TabularBenchmark(tmp).close()  # reads back
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    bench_out = TabularBenchmark(out)
    bench_out.close()
    return {"out": out, "classes": len(reps), "measured_now_s": spent, "wall_s": wall,
            "machine": machine, "metrics": info["metrics"], "datasets": ds_list,
            "median_ms": {d: results[d][0] for d in ds_list}, "class_of_row": cls,
            "cells": reps, "settings": {"device": device, "batches": [int(x) for x in batches],
                                        "threads": threads, "repeats": repeats,
                                        "warmup": warmup}}


def _known_input(dataset: str) -> bool:
    from tabular_data._builder import NETWORK_INPUT

    return dataset in NETWORK_INPUT


def _check_settings(device: str, batches: Sequence[int], threads: int, repeats: int,
                    warmup: int, prefix: str) -> None:
    if device not in DEVICES:
        raise ValueError(f"--device must be one of {DEVICES}, got {device!r}")
    b = list(batches)
    if not b or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1
                    for x in b) or len(set(b)) != len(b):
        raise ValueError(f"--batch must be distinct integers >= 1, got {b}")
    for name, v, lo in (("threads", threads, 1), ("repeats", repeats, 1),
                        ("warmup", warmup, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"--{name} must be an integer >= {lo}, got {v!r}")
    if not prefix or not prefix.replace("_", "").isalnum():
        raise ValueError(f"metric prefix must be an identifier, got {prefix!r}")


def _refuse_other_machine(bench: Any, metrics: Sequence[str], machine: Mapping[str, Any]
                          ) -> None:
    prov = getattr(bench, "provenance", {}) or {}
    have = {m.name for d in bench.datasets for m in bench.metrics(d)}
    for entry in prov.get("latency", []) if isinstance(prov.get("latency"), list) else []:
        clash = sorted(set(entry.get("metrics", [])) & set(metrics) & have)
        if clash and _fingerprint(entry.get("machine", {})) != _fingerprint(machine):
            raise MachineMismatchError(
                f"{bench.path}: {clash[0]} was measured on another machine "
                f"({_mismatch(entry.get('machine', {}), machine)}); latency from two machines "
                f"is never mixed in one metric: write a copy of the original table, or use "
                f"another --metric-prefix")


def _write_metrics(f: Any, bench: Any, results: Mapping[str, tuple[np.ndarray, np.ndarray]],
                   cls: np.ndarray, names: Sequence[tuple[str, str]],
                   machine: Mapping[str, Any], info: dict[str, Any]) -> None:
    """Add the metrics to every dataset of ``results`` in the open (copied) file ``f``."""
    short = (f"{machine['device_name']} ({machine['device']}, {machine['threads']} torch "
             f"threads, torch {machine['torch']})")
    ok = cls >= 0
    for ds, (med, iqr) in results.items():
        g = f[f"datasets/{ds}"]
        seeds_n = len(g.attrs["seeds"])
        epochs = np.asarray(g.attrs["epochs"])
        mask = np.asarray(g["seed_mask"][()]) if seeds_n else np.zeros((len(cls), 0), bool)
        metrics = json.loads(g.attrs["metrics"])
        present = mask.any(axis=1)
        for m in metrics:  # rows with any value (a table without per-seed values)
            present |= ~np.isnan(np.asarray(g[f"{m['name']}/mean"][()])).all(axis=1)
        me = json.loads(g.attrs["metric_epochs"])
        sv = json.loads(g.attrs["seed_values"])
        for j, (m_med, m_iqr) in enumerate(names):
            for name, arr, what in ((m_med, med, "median"), (m_iqr, iqr, "interquartile range")):
                v = np.full(len(cls), np.nan)
                v[ok] = arr[cls[ok], j]
                v[~present] = np.nan
                mean = np.repeat(v[:, None], len(epochs), axis=1)
                per = np.where(mask[:, :, None], v[:, None, None],
                               np.nan) * np.ones((1, 1, len(epochs)))
                for sub in ("seeds", "mean"):
                    if f"{name}/{sub}" in g:
                        del g[f"{name}/{sub}"]
                kw: dict[str, Any] = {"compression": "gzip", "compression_opts": 4,
                                      "shuffle": True}
                if seeds_n:
                    g.create_dataset(f"{name}/seeds", data=per, **kw)
                else:
                    g.create_dataset(f"{name}/seeds", shape=(len(cls), 0, len(epochs)),
                                     dtype="f8")
                g.create_dataset(f"{name}/mean", data=mean, **kw)
                metric = Metric(name, None, Direction.MINIMIZE, 0.0, math.inf, "ms",
                                f"inference latency, {what} over {info['repeats']} timed "
                                f"forward passes of a batch of {info['batches'][j]} after "
                                f"{info['warmup']} warm-up passes, on {short}; one network "
                                f"per functional class")
                metrics = [x for x in metrics if x["name"] != name] + [metric.to_dict()]
                has = bool((~np.isnan(v)).any())
                me[name] = epochs.tolist() if has else []
                sv[name] = bool(seeds_n and has)
        g.attrs["metrics"] = json.dumps(metrics)
        g.attrs["metric_epochs"] = json.dumps(me)
        g.attrs["seed_values"] = json.dumps(sv)
    prov = json.loads(f.attrs["provenance"])
    entries = [e for e in prov.get("latency", []) if isinstance(prov.get("latency"), list)
               and not set(e.get("metrics", [])) & set(info["metrics"])]
    prov["latency"] = [*entries, info]
    f.attrs["provenance"] = json.dumps(prov, sort_keys=True, default=str)
    f.attrs["version"] = f"{f.attrs['version']}+latency"


# ------------------------------------------------------------------------- noise
def measure_noise(result: Mapping[str, Any], *, n: int = 30, seed: int = 0,
                  dataset: str | None = None, protocol: str | None = None) -> dict[str, Any]:
    """Measure ``n`` classes of an :func:`add_latency` result again (a uniform sample of the
    measured classes, seeded; same device, threads, batches, repeats and warm-up) and return
    Spearman's rank correlation between the two passes per batch size:
    ``{"classes": [...], "spearman": {batch: rho}, "first": (n, B), "second": (n, B)}``."""
    from scipy.stats import spearmanr

    from tabular_data._benchmark import TabularBenchmark

    b = TabularBenchmark(result["out"])
    ds = dataset or result["datasets"][0]
    shape, ncls, net, _ = _network_setup(b, ds, protocol)
    cells = result["cells"]
    cls = result["class_of_row"]
    measured = np.unique(cls[cls >= 0])
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(measured, size=min(n, measured.size), replace=False))
    set_ = result["settings"]
    second, _ = measure_cells(b.space.name, [cells[i] for i in pick.tolist()],
                              input_shape=shape, num_classes=ncls, network=net,
                              device=set_["device"], batches=set_["batches"],
                              threads=set_["threads"], repeats=set_["repeats"],
                              warmup=set_["warmup"])
    b.close()
    first = result["median_ms"][ds][pick]
    rho = {int(bs): float(spearmanr(first[:, j], second[:, j]).statistic)
           for j, bs in enumerate(set_["batches"])}
    return {"classes": pick.tolist(), "spearman": rho, "first": first, "second": second}
