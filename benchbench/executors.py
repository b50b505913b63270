"""Executors: where the runs of a study execute.

* ``local`` (default): this process for ``workers=1``, else a pool of local worker
  processes (``forkserver`` start method on Linux: no HDF5 handle crosses a fork).
* ``ray``: a Ray cluster (``pip install 'benchbench[ray]'``); connects to the cluster named by
  ``RAY_ADDRESS`` or starts a local one.  Every run writes its own folder, so on a
  multi-machine cluster the study folder (and the table file) must be on a file system all
  nodes share.

The local pool hands out one run at a time (and one more queued per worker, so that no
worker waits), and each worker opens the benchmark once.  Its workers

* die with the main process (:func:`benchbench._procs.die_with_parent`): a study killed with
  ``SIGKILL`` leaves no worker computing and writing behind;
* ignore ``SIGINT`` (Ctrl-C reaches the whole process group; the main process decides);
* on ``SIGTERM``, finish the run they are running and exit (a batch scheduler's
  ``SIGTERM`` to every process of a job ends the study cleanly).

Stopping (:meth:`Executor.map_runs`' ``stop``): once the event is set no further run starts;
the runs already running finish and are yielded.  Closing the iterator early (an exception
in the caller, e.g. a second interrupt) kills the workers at once; their runs stay
``running`` in their manifests, so a resumed study runs them again.

A worker that dies while running a run (killed, out of memory) does not end the study: the
run is yielded with status :data:`LOST` and an error naming the worker and its fate, a new
worker takes the dead one's place, and the other runs go on.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import pickle
import signal
import sys
import threading
from collections import deque
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchbench._procs import SIGKILL, die_with_parent, ignore_interrupts, signal_name
from benchbench._run import RunTarget, run_and_store
from benchbench.api import Benchmark, unknown

__all__ = ["LOST", "Executor", "LocalExecutor", "RayExecutor", "WorkerError", "get_executor"]

RunOutcome = tuple[Any, str, "str | None"]

#: Status of a run whose worker process died while running it (not done: resume re-runs it).
LOST = "lost"

#: Runs sent ahead to each local worker: the one it runs and one waiting in its pipe.
_PREFETCH = 2
#: Seconds between two checks of the stop event while waiting for workers.
_POLL_S = 0.2


_START_HINT = ("; its error is above (a script that starts a study with workers > 1 needs an "
               "'if __name__ == \"__main__\":' guard and must be a file, not stdin)")


class WorkerError(ChildProcessError):
    """Worker processes could not start, or keep dying (the message says why)."""


def _check_workers(workers: Any, allow_none: bool = False) -> None:
    if allow_none and workers is None:
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")


def describe_exit(exitcode: int | None) -> str:
    """A worker's fate from its exit code, e.g. ``"killed by SIGKILL (e.g. by the
    out-of-memory killer)"``."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        name = signal_name(-exitcode)
        hint = " (e.g. by the out-of-memory killer)" if -exitcode == SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exited with status {exitcode}"


# ------------------------------------------------------------------------- worker side
def _worker_main(conn: Any, main_pid: int, bench_bytes: bytes, out: str,
                 bench_info: Mapping[str, Any]) -> None:
    """A local worker: runs the configurations the main process sends, one at a time.

    Messages in: ``("run", i, cfg)``, ``("stop",)`` (start no further run; exit).
    Messages out: ``("ready",)``, ``("error", text)`` (cannot start), ``("start", i)``,
    ``("done", i, status, error)``.  EOF on the pipe (the main process is gone or done)
    ends the worker.
    """
    die_with_parent(main_pid)
    ignore_interrupts()
    terminated: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.append(signum))
    try:
        bench = pickle.loads(bench_bytes)
    except Exception as e:  # reported to the main process as one line
        conn.send(("error", f"cannot open the benchmark in a worker: {type(e).__name__}: {e}"))
        return
    queue: deque[tuple[int, Any]] = deque()
    path = Path(out)
    stopping = False
    try:
        conn.send(("ready",))
        while True:
            while not stopping and (not queue or conn.poll()):  # block only when idle
                msg = conn.recv()
                if msg[0] == "run":
                    queue.append((msg[1], msg[2]))
                else:
                    stopping = True
            if stopping or terminated:
                return
            i, cfg = queue.popleft()
            conn.send(("start", i))
            status, error = _run_one(bench, cfg, path, bench_info)
            conn.send(("done", i, status, error))
    except (EOFError, OSError):  # the main process is gone (or has closed our pipe)
        return


def _run_one(bench: Benchmark | RunTarget, cfg: Any, out: Path,
             bench_info: Mapping[str, Any]) -> tuple[str, str | None]:
    """:func:`run_and_store`, with an error outside the run itself (writing its folder:
    a full disk, a folder removed) reported as a failure of that run."""
    try:
        return run_and_store(bench, cfg, out, bench_info)
    except Exception as e:
        return "failed", f"{type(e).__name__}: {e}"


def _run_chunk(chunk: Sequence[Any], out: str, bench_info: Mapping[str, Any],
               bench_bytes: bytes) -> list[RunOutcome]:
    """Run a chunk of configurations (a Ray task)."""
    bench = pickle.loads(bench_bytes)
    results = []
    for cfg in chunk:
        status, error = _run_one(bench, cfg, Path(out), bench_info)
        results.append((cfg, status, error))
    return results


def _chunks(items: Sequence[Any], n_workers: int) -> list[Sequence[Any]]:
    size = max(1, min(50, len(items) // (n_workers * 8) or 1))
    return [items[i:i + size] for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- executors
class Executor:
    """Where the runs of a study execute."""

    def map_runs(self, bench: Benchmark | RunTarget, configs: Sequence[Any], out: Path,
                 bench_info: Mapping[str, Any], *, stop: threading.Event | None = None
                 ) -> Generator[RunOutcome, None, None]:
        """Run and store every configuration; yield ``(config, status, error)`` as each
        ends, ``status`` being ``"done"``, ``"failed"`` or :data:`LOST`.

        Once ``stop`` is set, no further run starts and the running ones are let finish.
        Closing the iterator early stops everything at once (running runs are abandoned:
        their manifests stay ``running``)."""
        raise NotImplementedError


class _Worker:
    """The main process's view of one local worker."""

    __slots__ = ("conn", "error", "proc", "ready", "running", "sent")

    def __init__(self, proc: Any, conn: Any) -> None:
        self.proc, self.conn = proc, conn
        self.sent: deque[int] = deque()  # sent, not yet done (in order)
        self.running: int | None = None
        self.ready = False
        self.error = ""


class LocalExecutor(Executor):
    """Runs in this process (``workers=1``) or in a pool of local worker processes (see the
    module docstring)."""

    def __init__(self, workers: int = 1) -> None:
        _check_workers(workers)
        self.workers = workers

    def map_runs(self, bench: Benchmark | RunTarget, configs: Sequence[Any], out: Path,
                 bench_info: Mapping[str, Any], *, stop: threading.Event | None = None
                 ) -> Generator[RunOutcome, None, None]:
        if not configs:
            return
        if self.workers == 1 or len(configs) == 1:
            for cfg in configs:
                if stop is not None and stop.is_set():
                    return
                status, error = _run_one(bench, cfg, out, bench_info)
                yield cfg, status, error
            return
        yield from self._pool(bench, configs, out, bench_info, stop)

    def _pool(self, bench: Benchmark | RunTarget, configs: Sequence[Any], out: Path,
              bench_info: Mapping[str, Any], stop: threading.Event | None
              ) -> Generator[RunOutcome, None, None]:
        ctx: Any = mp.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")
        args = (os.getpid(), pickle.dumps(bench), str(out), dict(bench_info))
        todo: deque[int] = deque(range(len(configs)))
        workers: list[_Worker] = []
        n_workers = min(self.workers, len(configs))
        max_starts = 2 * n_workers + len(configs)  # a bound on replacing dead workers
        starts = 0
        told_stop = False
        finished = False

        def start() -> None:
            nonlocal starts
            if starts >= max_starts:
                raise WorkerError(f"worker processes keep dying ({starts} started for "
                                  f"{len(configs)} runs); see the messages above")
            starts += 1
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(theirs, *args),
                               name=f"benchbench-worker-{starts}")
            proc.start()
            theirs.close()
            workers.append(_Worker(proc, mine))

        try:
            for _ in range(n_workers):
                start()
            while True:
                stopping = stop is not None and stop.is_set()
                if stopping and not told_stop:
                    told_stop = True
                    for w in workers:
                        with contextlib.suppress(OSError):  # dead: found below
                            w.conn.send(("stop",))
                if not stopping:
                    for w in workers:
                        while len(w.sent) < _PREFETCH and todo:
                            i = todo.popleft()
                            try:
                                w.conn.send(("run", i, configs[i]))
                            except OSError:
                                todo.appendleft(i)  # dead: found below
                                break
                            w.sent.append(i)
                if not any(w.sent for w in workers) and (stopping or not todo):
                    break
                waitables = [w.conn for w in workers] + [w.proc.sentinel for w in workers]
                ready = set(mpc.wait(waitables, timeout=_POLL_S))
                outcomes: list[RunOutcome] = []
                for w in list(workers):
                    alive = self._drain(w, configs, outcomes)
                    if alive and w.proc.sentinel not in ready:
                        continue
                    workers.remove(w)
                    outcomes.extend(self._bury(w, configs, todo))
                    if not w.ready:
                        raise WorkerError(
                            f"a worker process could not start: "
                            f"{w.error or describe_exit(w.proc.exitcode) + _START_HINT}")
                    if not (stop is not None and stop.is_set()) and todo:
                        start()
                yield from outcomes
            finished = True
        finally:
            self._shutdown(workers, kill=not finished)

    @staticmethod
    def _drain(w: _Worker, configs: Sequence[Any], outcomes: list[RunOutcome]) -> bool:
        """Read every message a worker has sent; ``False`` once its pipe is closed."""
        try:
            while w.conn.poll():
                msg = w.conn.recv()
                kind = msg[0]
                if kind == "start":
                    w.running = msg[1]
                elif kind == "done":
                    i = msg[1]
                    w.sent.remove(i)
                    w.running = None
                    outcomes.append((configs[i], msg[2], msg[3]))
                elif kind == "ready":
                    w.ready = True
                elif kind == "error":
                    w.error = msg[1]
        except (EOFError, OSError, pickle.UnpicklingError):
            return False
        return True

    @staticmethod
    def _bury(w: _Worker, configs: Sequence[Any], todo: deque[int]) -> list[RunOutcome]:
        """A worker has exited: its running run is lost, its waiting runs go back first in
        line."""
        w.proc.join(1.0)
        if w.proc.exitcode is None:  # its pipe broke but it lives on: end it
            w.proc.kill()
            w.proc.join(5.0)
        w.conn.close()
        lost: list[RunOutcome] = []
        if w.running is not None:
            cfg = configs[w.running]
            lost.append((cfg, LOST, f"worker process {w.proc.pid} "
                                    f"{describe_exit(w.proc.exitcode)} while running "
                                    f"{getattr(cfg, 'run_id', cfg)}"))
            w.sent.remove(w.running)
        todo.extendleft(reversed(w.sent))
        return lost

    @staticmethod
    def _shutdown(workers: list[_Worker], kill: bool) -> None:
        """Let idle workers exit (their pipe closes), or kill them (``kill``)."""
        for w in workers:
            if kill:
                w.proc.kill()
            w.conn.close()
        for w in workers:
            w.proc.join(10.0)
            if w.proc.exitcode is None:
                w.proc.kill()
                w.proc.join(5.0)


class RayExecutor(Executor):
    """Runs chunks as Ray tasks (one CPU each); at most one chunk per worker in flight, so
    that a stop leaves little running."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        _check_workers(workers, allow_none=True)
        import importlib.util

        if importlib.util.find_spec("ray") is None:  # refused before a study is written
            raise ImportError("the ray executor needs Ray: pip install 'benchbench[ray]'")
        self.workers = workers
        self.address = address

    def map_runs(self, bench: Benchmark | RunTarget, configs: Sequence[Any], out: Path,
                 bench_info: Mapping[str, Any], *, stop: threading.Event | None = None
                 ) -> Generator[RunOutcome, None, None]:
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
        refs: list[Any] = []
        try:
            remote = ray.remote(num_cpus=1)(_run_chunk)
            bench_ref = ray.put(pickle.dumps(bench))
            n = self.workers or int(ray.cluster_resources().get("CPU", 1))
            chunks = deque(_chunks(configs, n))
            while True:
                while chunks and len(refs) < n and not (stop is not None and stop.is_set()):
                    refs.append(remote.remote(chunks.popleft(), str(out), dict(bench_info),
                                              bench_ref))
                if not refs:
                    break
                ready, refs = ray.wait(refs, num_returns=1, timeout=_POLL_S)
                for r in ready:
                    yield from ray.get(r)
        finally:
            for r in refs:
                ray.cancel(r, force=True)
            if started:
                ray.shutdown()


def get_executor(name: str, workers: int = 1) -> Executor:
    """``"local"`` or ``"ray"``.

    Raises:
        ValueError: ``workers`` is not an int >= 1.
        UnknownNameError: another name.
    """
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers)
    raise unknown("executor", name, ["local", "ray"])
