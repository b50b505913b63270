"""Run search algorithms against a benchmark: one run, or a study of many seeds.

A **run** is (benchmark, dataset, algorithm + params, seed, budget).  The optimizer is told
only the validation objective and the cost of each evaluation.  The runner keeps the
simulated clock (sum of ``cost_s``), the incumbent (best by what the optimizer saw) and, for
reporting, the incumbent's seed-mean objective and test values.

Fairness:

* **Noise** (``noise="seed"``, the default): each query answers with one recorded training run
  of that cell, chosen by the run's seed — the same run for every algorithm that asks for the
  cell under that seed (common random numbers).  ``noise="mean"`` answers with seed means.
* The optimizer's generator is derived from the run's seed alone, so under one seed all
  algorithms start from the same random stream.

A **study** writes ``DIR/study.json`` and, per run, ``DIR/runs/<algorithm>/seed-<seed>/``
with ``manifest.json`` and ``records.csv`` (:data:`benchbench.trial.RECORD_FIELDS`), all
through :class:`benchbench.store.StudyStore`.  Studies are resumable: runs whose manifest
says ``done`` with the same configuration are skipped; a failing run is recorded as
``failed`` with its error and the study goes on.  One process at a time writes a study
folder (the store's lock).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbench._run import NOISE_MODES, RunConfig, execute_run, now, versions
from benchbench.api import Benchmark, BenchmarkError, MissingDataError
from benchbench.executors import get_executor
from benchbench.optimizer import make_optimizer
from benchbench.store import StoreError, StudyStore, check_label, check_seed

__all__ = ["RunConfig", "StudyResult", "execute_run", "plan_study", "run_study", "versions"]


@dataclass
class StudyResult:
    """What :func:`run_study` did."""

    out: Path
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    wall_s: float = math.nan


# ---------------------------------------------------------------------- studies
def _check_setup(bench: Benchmark, dataset: str, objective: str, test_metric: str | None,
                 fidelity: int | None, noise: str) -> int:
    """Validate a study's setting against the benchmark; returns the fidelity."""
    if noise not in NOISE_MODES:
        raise ValueError(f"unknown noise mode {noise!r}; allowed: {', '.join(NOISE_MODES)}")
    bench.check_dataset(dataset)
    names = [m.name for m in bench.metrics(dataset)]
    if objective not in names:
        raise BenchmarkError(
            f"objective {objective!r} is not on dataset {dataset!r} of {bench.name!r}; its "
            f"metrics: {', '.join(names)}" + (
                ". This source has no validation split here; choosing a test-set metric as "
                "the objective means searching on test data: only do that knowingly"
                if objective == "valid_acc" else ""))
    m = bench.metric(dataset, objective)
    if m.split is not None and m.split.value == "test":
        raise BenchmarkError(f"objective {objective!r} is measured on the test split; the "
                             f"optimizer must see validation numbers only")
    if test_metric is not None:
        bench.metric(dataset, test_metric)
    fid = bench.check_fidelity(dataset, fidelity)
    epochs = bench.metric_epochs(dataset, objective)
    if fid not in epochs:
        raise BenchmarkError(f"objective {objective!r} on {dataset!r} is not recorded at epoch "
                             f"{fid}; recorded at epochs {list(epochs)}")
    if noise == "seed" and not (bench.capabilities.data_seeds
                                and bench.has_seed_values(dataset, objective)):
        raise BenchmarkError(f"{bench.name!r} has no per-seed values of {objective!r} on "
                             f"{dataset!r} (seed means only): use noise='mean' (--noise mean)")
    return fid


def plan_study(bench: Benchmark, *, dataset: str, algorithms: Mapping[str, Mapping[str, Any]],
               seeds: Sequence[int], max_evals: int | None = None,
               max_seconds: float | None = None, fidelity: int | None = None,
               objective: str = "valid_acc", test_metric: str | None = "test_acc",
               noise: str = "seed", transfer: Sequence[str] = ()) -> list[RunConfig]:
    """The run configurations of a study (validates everything first).

    Args:
        algorithms: label -> ``{"algorithm": registered name (default: the label), **params}``.
        transfer: datasets to report the final incumbents on (see :class:`RunConfig`).
    """
    if max_evals is None and max_seconds is None:
        raise ValueError("give a budget: max_evals and/or max_seconds")
    if max_evals is not None and (isinstance(max_evals, bool) or not isinstance(max_evals, int)
                                  or max_evals < 1):
        raise ValueError(f"max_evals must be an int >= 1, got {max_evals!r}")
    if max_seconds is not None and not (max_seconds > 0 and math.isfinite(max_seconds)):
        raise ValueError(f"max_seconds must be a finite number > 0, got {max_seconds!r}")
    if not seeds:
        raise ValueError("no seeds given")
    seeds = [check_seed(s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct")
    fid = _check_setup(bench, dataset, objective, test_metric, fidelity, noise)
    transfer = tuple(transfer)
    for ds in transfer:
        bench.check_dataset(ds)
        if ds == dataset:
            raise ValueError(f"transfer dataset {ds!r} is the search dataset itself")
    sha = bench.describe().data_sha256
    configs = []
    for label, spec in algorithms.items():
        check_label(label)
        spec = dict(spec)
        name = spec.pop("algorithm", label)
        opt = make_optimizer(name, **spec)  # fail before any run starts
        opt.check_space(bench.space)
        for s in seeds:
            configs.append(RunConfig(
                benchmark=bench.name, data_sha256=sha, dataset=dataset, label=label,
                algorithm=name, params=spec, seed=int(s), max_evals=max_evals,
                max_seconds=max_seconds, fidelity=fid, objective=objective,
                test_metric=test_metric, noise=noise, transfer=transfer))
    return configs


_STUDY_KEYS = ("benchmark", "dataset", "objective", "test_metric", "fidelity", "noise", "budget",
               "transfer")


def run_study(bench: Benchmark, out: str | Path, *, dataset: str,
              algorithms: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
              max_evals: int | None = None, max_seconds: float | None = None,
              fidelity: int | None = None, objective: str = "valid_acc",
              test_metric: str | None = "test_acc", noise: str = "seed",
              transfer: Sequence[str] = (), workers: int = 1,
              executor: str = "local", progress: bool = False, command: str | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """Run every (algorithm, seed) of a study, skipping runs already done.

    Args:
        bench: the benchmark (a :class:`~tabular_data.TabularBenchmark` pickles by path, so
            worker processes reopen the same file).
        out: study folder.
        algorithms: label -> ``{"algorithm": registered name or import path (default: the
            label), **params}``.
        workers: processes for the local executor (``1``: in this process).
        executor: ``"local"`` (process pool) or ``"ray"`` (a Ray cluster; see
            :mod:`benchbench.executors`).
        progress: show a progress bar (tqdm) on stderr.
        command: the command line that started the study (recorded in ``study.json``).

    Scripts that use ``workers > 1`` need an ``if __name__ == "__main__":`` guard (the pool
    starts its processes with ``forkserver``).

    Raises:
        StoreError: the folder holds another study, another writer holds it, or it was
            written by benchbench 0.1.
    """
    t0 = time.perf_counter()
    out = Path(out)
    store = StudyStore(out)
    configs = plan_study(bench, dataset=dataset, algorithms=algorithms, seeds=seeds,
                         max_evals=max_evals, max_seconds=max_seconds, fidelity=fidelity,
                         objective=objective, test_metric=test_metric, noise=noise,
                         transfer=transfer)
    run_executor = get_executor(executor, workers)  # validates before anything is written
    desc = bench.describe()
    bench_info = {"name": desc.name, "version": desc.version, "kind": desc.kind,
                  "space": desc.space, "data_sha256": desc.data_sha256,
                  "capabilities": bench.capabilities.to_dict()}
    fid = configs[0].fidelity
    study = {
        "benchmark": bench_info, "dataset": dataset, "objective": objective,
        "test_metric": test_metric, "fidelity": fid, "noise": noise,
        "budget": {"max_evals": max_evals, "max_seconds": max_seconds},
        "transfer": list(transfer),
    }
    with store.lock(command or "run_study"):
        _write_study(store, study, algorithms, seeds, command, bench)
        todo = [c for c in configs if store.run_status(c.label, c.seed, c.config_hash())
                != "done"]
        result = StudyResult(out=out, skipped=len(configs) - len(todo))
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="run", desc=f"{bench.name}/{dataset}",
                       smoothing=0.1)
        done = 0
        try:
            for cfg, status, error in run_executor.map_runs(bench, todo, out, bench_info):
                done += 1
                if status == "done":
                    result.done += 1
                else:
                    result.failed += 1
                    result.failures.append((cfg.run_id, error or "unknown error"))
                if bar is not None:
                    bar.update(1)
                if on_progress is not None:
                    on_progress(done, len(todo))
        finally:
            if bar is not None:
                bar.close()
        result.wall_s = time.perf_counter() - t0
        spec = store.read_spec(raw=True)
        spec["wall_s_total"] = float(spec.get("wall_s_total", 0.0)) + result.wall_s
        store.write_spec(spec)
    return result


def _write_study(store: StudyStore, study: dict[str, Any],
                 algorithms: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
                 command: str | None, bench: Benchmark) -> None:
    """Write (or extend) ``study.json``; ``study`` holds the keys that must not change."""
    out = store.path
    dataset, fid = study["dataset"], study["fidelity"]
    old: dict[str, Any] = {}
    if store.exists():
        old = store.read_spec(raw=True)
        if "schema" not in old:
            raise StoreError(f"{out} was written by benchbench 0.1 (study schema 1): it loads "
                             f"for reports, but new runs go in a new folder (--out)")
        diff = [k for k in _STUDY_KEYS if json.dumps(old.get(k), sort_keys=True)
                != json.dumps(study[k], sort_keys=True)]
        if diff:
            raise BenchmarkError(
                f"{out} holds a study with a different {', '.join(diff)} "
                f"({'; '.join(f'{k}: {old.get(k)!r} vs {study[k]!r}' for k in diff)}); "
                f"its runs are not comparable with these: use another output folder")
    optimum: dict[str, Any] = {}
    for key in ("objective", "test_metric"):
        metric = study[key]
        if metric is None:
            continue
        if not bench.capabilities.optimum:
            optimum[key] = {"metric": metric, "value": None,
                            "error": f"{bench.name!r} ({bench.describe().kind}) knows no optimum"}
            continue
        try:
            o = bench.optimum(metric, dataset=dataset, fidelity=fid)
            optimum[key] = {"metric": metric, "value": o.value, "arch_id": o.arch_id}
        except MissingDataError as e:
            optimum[key] = {"metric": metric, "value": None, "error": str(e)}
    algos = dict(old.get("algorithms", {}))
    for label, spec in algorithms.items():
        spec = dict(spec)
        if label in algos and algos[label] != spec:
            raise BenchmarkError(f"{out}: algorithm {label!r} was run with {algos[label]} "
                                 f"before, now {spec}: give it another label")
        algos[label] = spec
    commands = list(old.get("commands", []))
    if command:
        commands.append(command)
    doc = {**study, "metrics": [m.to_dict() for m in bench.metrics(dataset)], "algorithms": algos,
           "seeds": sorted(set(old.get("seeds", [])) | {int(s) for s in seeds}),
           "commands": commands, "command": command or old.get("command"),
           "created": old.get("created", now()), "updated": now(), "versions": versions(),
           "optimum": optimum, "wall_s_total": old.get("wall_s_total", 0.0)}
    store.write_spec(doc)
