"""Executors: where the runs of a study execute.

* ``local`` (default): this process for ``workers=1``, else a pool of local processes
  (``forkserver`` start method on Linux: no HDF5 handle crosses a fork).
* ``ray``: a Ray cluster (``pip install 'benchbench[ray]'``); connects to the cluster named by
  ``RAY_ADDRESS`` or starts a local one.  Every run writes its own folder, so on a
  multi-machine cluster the study folder (and the table file) must be on a file system all
  nodes share.

Runs are grouped into chunks so that inter-process traffic stays small; each worker opens the
benchmark once.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from benchbench._run import RunTarget, run_and_store
from benchbench.api import Benchmark, unknown

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "get_executor"]

RunOutcome = tuple[Any, str, "str | None"]

_WORKER_BENCH: Benchmark | None = None  # one benchmark per worker process (not an RNG)


def _init_worker(bench_bytes: bytes) -> None:
    global _WORKER_BENCH
    _WORKER_BENCH = pickle.loads(bench_bytes)


def _run_chunk(chunk: Sequence[Any], out: str, bench_info: Mapping[str, Any],
               bench_bytes: bytes | None = None) -> list[RunOutcome]:
    bench = _WORKER_BENCH if bench_bytes is None else pickle.loads(bench_bytes)
    assert bench is not None
    results = []
    for cfg in chunk:
        status, error = run_and_store(bench, cfg, Path(out), bench_info)
        results.append((cfg, status, error))
    return results


def _chunks(items: Sequence[Any], n_workers: int) -> list[Sequence[Any]]:
    size = max(1, min(50, len(items) // (n_workers * 8) or 1))
    return [items[i:i + size] for i in range(0, len(items), size)]


class Executor:
    def map_runs(self, bench: Benchmark | RunTarget, configs: Sequence[Any], out: Path,
                 bench_info: Mapping[str, Any]) -> Iterator[RunOutcome]:
        raise NotImplementedError


class LocalExecutor(Executor):
    """Runs in this process (``workers=1``) or in a local process pool."""

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        self.workers = workers

    def map_runs(self, bench: Benchmark | RunTarget, configs: Sequence[Any], out: Path,
                 bench_info: Mapping[str, Any]) -> Iterator[RunOutcome]:
        if not configs:
            return
        if self.workers == 1 or len(configs) == 1:
            for cfg in configs:
                status, error = run_and_store(bench, cfg, out, bench_info)
                yield cfg, status, error
            return
        ctx = mp.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")
        chunks = _chunks(configs, self.workers)
        with ProcessPoolExecutor(max_workers=min(self.workers, len(chunks)), mp_context=ctx,
                                 initializer=_init_worker,
                                 initargs=(pickle.dumps(bench),)) as pool:
            pending = {pool.submit(_run_chunk, c, str(out), dict(bench_info)) for c in chunks}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    yield from f.result()


class RayExecutor(Executor):
    """Runs chunks as Ray tasks (one CPU each)."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers = workers
        self.address = address

    def map_runs(self, bench: Benchmark | RunTarget, configs: Sequence[Any], out: Path,
                 bench_info: Mapping[str, Any]) -> Iterator[RunOutcome]:
        try:
            import ray
        except ImportError:
            raise ImportError("the ray executor needs Ray: pip install 'benchbench[ray]'") from None
        if not configs:
            return
        started = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"address": self.address} if self.address else {}
            if not self.address and self.workers:
                kw["num_cpus"] = self.workers
            ray.init(include_dashboard=False, log_to_driver=False, **kw)
            started = True
        try:
            remote = ray.remote(num_cpus=1)(_run_chunk)
            bench_ref = ray.put(pickle.dumps(bench))
            n = self.workers or int(ray.cluster_resources().get("CPU", 1))
            refs = [remote.remote(c, str(out), dict(bench_info), bench_ref)
                    for c in _chunks(configs, n)]
            while refs:
                ready, refs = ray.wait(refs, num_returns=1)
                yield from ray.get(ready[0])
        finally:
            if started:
                ray.shutdown()


def get_executor(name: str, workers: int = 1) -> Executor:
    """``"local"`` or ``"ray"``."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers)
    raise unknown("executor", name, ["local", "ray"])
