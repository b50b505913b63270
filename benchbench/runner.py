"""Run search algorithms against a benchmark: one run, or a study of many seeds.

A **run** is (benchmark, dataset, algorithm + params, seed, budget).  The optimizer is told
only the validation objective and the cost of each evaluation.  The runner keeps the
simulated clock (sum of the charged costs), the incumbent (best by what the optimizer saw)
and, for reporting, the incumbent's values on the report benchmark at the report fidelity:
its seed mean, and its mean over the recorded seeds that did *not* select it (held out, free
of the winner's curse).

What the optimizer sees and what is reported are separate settings (:class:`SearchSettings`):

* **noise** ``crn`` (default): each query answers with one recorded training run of that cell,
  chosen by (run seed, dataset, cell) — the same run for every algorithm (common random
  numbers); ``fresh``: a new recorded run at every query (NB201's ``is_random=True``);
  ``mean``: seed means.
* **cost** ``train`` or ``train+eval`` (adds one evaluation pass of the objective's split, as
  NB201's scripts charge); **repeats** ``charge`` (a repeated query is paid again, as NB201's
  scripts do) or ``cache`` (free); **budget_crossing** ``keep`` (NATS-Bench) or ``drop`` (NB201).
* **report benchmark / fidelity**: e.g. search NB201's 12-epoch table and report its 200-epoch
  one (``protocol="nb201-paper"``, :data:`SEARCH_PROTOCOLS`).
* The optimizer's generator and the noise are derived from (run seed, dataset): under one
  seed all algorithms start from the same stream, and studies on different datasets are
  independent.
* An objective that shares images with the test split (``test``, ``valtest``) is refused
  unless ``allow_test_objective=True``, which every manifest and report then states.

A **study** writes ``DIR/study.json`` and, per run, ``DIR/runs/<algorithm>/seed-<seed>/``
with ``manifest.json`` and ``records.csv`` (:data:`benchbench.trial.RECORD_FIELDS`), all
through :class:`benchbench.store.StudyStore`.  Studies are resumable: runs whose manifest
says ``done`` with the same configuration are skipped; a failing run is recorded as
``failed`` with its error and the study goes on.  One process at a time writes a study
folder (the store's lock; a second writer is refused, it does not wait).  Everything is
validated before anything is written.  The first ``SIGINT`` / ``SIGTERM`` lets the running
runs finish, the second stops at once; either raises :class:`StudyInterrupted` (see
:func:`run_study`).  A study killed outright (``SIGKILL``) takes its worker processes with it
(:mod:`benchbench._procs`), and resuming it runs the runs it left unfinished again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbench._procs import InterruptGuard, process_running
from benchbench._run import (
    COST_MODES,
    CROSSING_MODES,
    NOISE_ALIASES,
    NOISE_MODES,
    REPEAT_MODES,
    SIM_MODES,
    RunConfig,
    RunTarget,
    eval_time_metric,
    execute_run,
    execute_run_full,
    now,
    optimizer_rng,
    parse_constraint,
    run_epochs,
    versions,
)
from benchbench.api import Benchmark, BenchmarkError, MissingDataError, unknown
from benchbench.executors import LOST, Executor, WorkerError, get_executor
from benchbench.optimizer import Optimizer, make_optimizer
from benchbench.store import StoreError, StudyStore, check_label, check_seed

__all__ = ["MAX_RUNS", "SEARCH_PROTOCOLS", "RunConfig", "SearchSettings", "StudyInterrupted",
           "StudyResult", "WorkerError", "execute_run", "execute_run_full", "plan_study",
           "run_study", "search_settings", "versions"]

#: The most runs (seeds x algorithms) one study may plan.  More is refused before anything
#: is written (a typo such as ``--seeds 0-10000000000`` would otherwise fill the disk with
#: run folders); split a larger experiment into several studies.
MAX_RUNS = 1_000_000


@dataclass
class StudyResult:
    """What :func:`run_study` did.

    Attributes:
        out: the study folder.
        done: runs done by this call.
        skipped: runs found done already (not run again).
        failed: runs that failed (recorded as ``failed`` with their error).
        failures: ``(run id, error)`` of the failed runs.
        wall_s: seconds this call took.
        lost: ``(run id, what happened)`` of the runs whose worker process died while
            running them; they stay not done (the next call runs them).
        not_done: runs of the study neither done nor failed after this call (lost, never
            started or abandoned because of an interrupt).
        interrupted: the signal(s) that interrupted the call (``"SIGINT"``,
            ``"SIGINT twice"``, ``"SIGTERM, then SIGINT"``), ``None`` if it was not
            interrupted.
    """

    out: Path
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    wall_s: float = math.nan
    lost: list[tuple[str, str]] = field(default_factory=list)
    not_done: int = 0
    interrupted: str | None = None


class StudyInterrupted(KeyboardInterrupt):
    """:func:`run_study` was interrupted by ``SIGINT`` or ``SIGTERM``; :attr:`result` says
    what was done.  Runs not done (never started, or abandoned by a second interrupt: their
    manifests say ``running``) run when :func:`run_study` is called again with the same
    arguments."""

    def __init__(self, result: StudyResult) -> None:
        self.result = result
        super().__init__(
            f"study {str(result.out)!r} interrupted ({result.interrupted}): {result.done} "
            f"runs done now, {result.skipped} done before, {result.not_done} not done; run "
            f"the same study again to resume (runs done are skipped)")


@dataclass(frozen=True)
class SearchSettings:
    """What the optimizer sees and what is reported (see the module docstring).

    Attributes:
        noise: one of :data:`~benchbench._run.NOISE_MODES` (``"seed"`` = ``"crn"``).
        cost: one of :data:`~benchbench._run.COST_MODES`.
        repeats: one of :data:`~benchbench._run.REPEAT_MODES`.
        budget_crossing: one of :data:`~benchbench._run.CROSSING_MODES`.
        fidelity: search epochs (``None``: the search benchmark's maximum).
        report_fidelity: reported epochs (``None``: the report benchmark's maximum when a
            report benchmark is given, else ``fidelity``).
        max_seconds: a time budget that comes with a protocol (``None``: none).
        allow_test_objective: allow an objective that shares images with the test split.
        protocol: the preset's name (recorded).
        record_metrics: further metrics recorded per evaluation and told to the optimizer
            (multi-objective search; see :class:`~benchbench._run.RunConfig`).
        constraints: ``"metric<=value"`` strings (constrained search).
        sim_workers: simulated parallel workers (``1``: sequential).
        sim_mode: ``"async"`` or ``"sync"`` (see :data:`~benchbench._run.SIM_MODES`).
    """

    noise: str = "crn"
    cost: str = "train"
    repeats: str = "charge"
    budget_crossing: str = "keep"
    fidelity: int | None = None
    report_fidelity: int | None = None
    max_seconds: float | None = None
    allow_test_objective: bool = False
    protocol: str | None = None
    record_metrics: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    sim_workers: int = 1
    sim_mode: str = "async"

    def __post_init__(self) -> None:
        noise = NOISE_ALIASES.get(self.noise, self.noise)
        object.__setattr__(self, "noise", noise)
        for name in ("record_metrics", "constraints"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = tuple(x.strip() for x in value.split(",") if x.strip())
            object.__setattr__(self, name, tuple(value))
        if len(set(self.record_metrics)) != len(self.record_metrics):
            raise ValueError(f"record_metrics names a metric twice: {list(self.record_metrics)}")
        for c in self.constraints:
            parse_constraint(c)
        if (isinstance(self.sim_workers, bool) or not isinstance(self.sim_workers, int)
                or self.sim_workers < 1):
            raise ValueError(f"sim_workers must be an int >= 1, got {self.sim_workers!r}")
        if self.sim_mode not in SIM_MODES:
            raise ValueError(f"unknown sim_mode {self.sim_mode!r}; allowed: "
                             f"{', '.join(SIM_MODES)}")
        for name, value, allowed in (("noise", noise, NOISE_MODES),
                                     ("cost", self.cost, COST_MODES),
                                     ("repeats", self.repeats, REPEAT_MODES),
                                     ("budget_crossing", self.budget_crossing,
                                      CROSSING_MODES)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


#: Named presets that reproduce published search protocols.
#:
#: ``nb201-paper``: NAS-Bench-201 (Dong & Yang, ICLR 2020), ``exps/algos/R_EA.py``,
#: ``reinforce.py``, ``RANDOM.py``, ``BOHB.py`` of D-X-Y/AutoDL-Projects with
#: ``scripts-search/algos/*.sh``: each query is ``get_more_info(index, 'cifar10-valid', None,
#: hp='12', is_random=True)`` — the 12-epoch schedule, a fresh random seed per query — and
#: costs ``train-all-time + valid-per-time``; the search stops before the query that would
#: exceed ``--time_budget 12000`` seconds; the found cell is reported with its 200-epoch
#: results.  Needs an ``--hp 12`` table to search and an ``--hp 200`` table to report, both
#: from the official ``.pth`` or NATS files (the flat export has no 12-epoch results).
SEARCH_PROTOCOLS: dict[str, SearchSettings] = {
    "nb201-paper": SearchSettings(noise="fresh", cost="train+eval", repeats="charge",
                                  budget_crossing="drop", fidelity=12, report_fidelity=200,
                                  max_seconds=12000.0, protocol="nb201-paper"),
}


def search_settings(protocol: str | None = None, **overrides: Any) -> SearchSettings:
    """The settings of the preset ``protocol`` (default settings if ``None``), with every
    override that is not ``None`` applied."""
    if protocol is None:
        base = SearchSettings()
    elif protocol in SEARCH_PROTOCOLS:
        base = SEARCH_PROTOCOLS[protocol]
    else:
        raise unknown("search protocol", protocol, sorted(SEARCH_PROTOCOLS))
    changes = {k: v for k, v in overrides.items() if v is not None}
    bad = sorted(set(changes) - {f.name for f in dataclasses.fields(SearchSettings)})
    if bad:
        raise ValueError(f"unknown search setting(s) {bad}")
    return dataclasses.replace(base, **changes)


# ---------------------------------------------------------------------- studies
def _check_setup(bench: Benchmark, report: Benchmark | None, dataset: str, objective: str,
                 test_metric: str | None, st: SearchSettings) -> tuple[int, int | None]:
    """Validate a study's setting against the benchmarks; returns the search and report
    fidelities."""
    bench.check_dataset(dataset)
    names = [m.name for m in bench.metrics(dataset)]
    if objective not in names:
        raise BenchmarkError(
            f"objective {objective!r} is not on dataset {dataset!r} of {bench.name!r}; its "
            f"metrics: {', '.join(names)}")
    m = bench.metric(dataset, objective)
    if m.split is not None and m.split.is_test_data and not st.allow_test_objective:
        raise BenchmarkError(
            f"objective {objective!r} is measured on test images (split {m.split.value!r}); "
            f"the optimizer must see validation numbers only (allow_test_objective / "
            f"--allow-test-objective overrides this, and every report then says so)")
    rb = report if report is not None else bench
    if report is not None:
        if report.space.name != bench.space.name:
            raise BenchmarkError(f"report benchmark {report.name!r} is on space "
                                 f"{report.space.name!r}, the search benchmark on "
                                 f"{bench.space.name!r}")
        report.check_dataset(dataset)
        report.metric(dataset, objective)
    if test_metric is not None:
        t = rb.metric(dataset, test_metric)
        if (m.split is not None and t.split is not None and m.split.shares_images(t.split)
                and not st.allow_test_objective):
            raise BenchmarkError(
                f"objective {objective!r} (split {m.split.value!r}) shares images with the "
                f"reported test metric {test_metric!r} (split {t.split.value!r}); choose "
                f"another test metric, or pass allow_test_objective / --allow-test-objective")
    fid = bench.check_fidelity(dataset, st.fidelity)
    epochs = bench.metric_epochs(dataset, objective)
    if fid not in epochs:
        raise BenchmarkError(f"objective {objective!r} on {dataset!r} is not recorded at epoch "
                             f"{fid}; recorded at epochs {list(epochs)}")
    if st.noise != "mean" and not (bench.capabilities.data_seeds
                                   and bench.has_seed_values(dataset, objective)):
        raise BenchmarkError(f"{bench.name!r} has no per-seed values of {objective!r} on "
                             f"{dataset!r} (seed means only): use noise='mean' (--noise mean)")
    if st.cost == "train+eval" and m.split is not None:
        need = eval_time_metric(m.split.value)
        if need not in names:
            raise BenchmarkError(
                f"cost 'train+eval' needs the evaluation time of the {m.split.value!r} split "
                f"(metric {need!r}), which {bench.name!r} does not record on {dataset!r}: "
                f"import the official files (not the flat export) or use cost 'train'")
    names_set = set(names)
    wanted = list(st.record_metrics) + [parse_constraint(c).metric for c in st.constraints]
    for name in wanted:
        if name not in names_set:
            raise BenchmarkError(f"metric {name!r} (record_metrics / constraints) is not on "
                                 f"dataset {dataset!r} of {bench.name!r}; its metrics: "
                                 f"{', '.join(names)}")
        mm = bench.metric(dataset, name)
        if mm.split is not None and mm.split.is_test_data and not st.allow_test_objective:
            raise BenchmarkError(
                f"metric {name!r} is measured on test images (split {mm.split.value!r}); "
                f"the optimizer must not see it (record_metrics / constraints take "
                f"validation and cost metrics; allow_test_objective overrides this)")
    report_fid = None
    if st.report_fidelity is not None or report is not None:
        report_fid = rb.check_fidelity(dataset, st.report_fidelity)
    return fid, report_fid


def plan_study(bench: Benchmark, *, dataset: str, algorithms: Mapping[str, Mapping[str, Any]],
               seeds: Sequence[int], max_evals: int | None = None,
               max_seconds: float | None = None, objective: str = "valid_acc",
               test_metric: str | None = "test_acc", transfer: Sequence[str] = (),
               report: Benchmark | None = None, settings: SearchSettings | None = None,
               **setting_overrides: Any) -> list[RunConfig]:
    """The run configurations of a study (validates everything first).

    Args:
        algorithms: label -> ``{"algorithm": registered name or import path (default: the
            label), **params}``.
        transfer: datasets to report the final incumbents on (see :class:`RunConfig`).
        report: the benchmark reported for incumbents (``None``: ``bench``).
        settings: the search settings; keyword overrides (``noise="mean"``, ``fidelity=12``,
            ...) are applied on top (see :func:`search_settings`).
    """
    st = settings or SearchSettings()
    if setting_overrides:
        st = dataclasses.replace(st, **{k: v for k, v in setting_overrides.items()
                                        if v is not None})
    if max_seconds is None:
        max_seconds = st.max_seconds
    if max_evals is None and max_seconds is None:
        raise ValueError("give a budget: max_evals and/or max_seconds")
    if max_evals is not None and (isinstance(max_evals, bool) or not isinstance(max_evals, int)
                                  or max_evals < 1):
        raise ValueError(f"max_evals must be an int >= 1, got {max_evals!r}")
    if max_seconds is not None and not (max_seconds > 0 and math.isfinite(max_seconds)):
        raise ValueError(f"max_seconds must be a finite number > 0, got {max_seconds!r}")
    if not hasattr(seeds, "__len__"):  # a generator: read it once
        seeds = list(seeds)
    if not seeds:
        raise ValueError("no seeds given")
    if not algorithms:
        raise ValueError("no algorithms given")
    n_runs = len(seeds) * len(algorithms)
    if n_runs > MAX_RUNS:
        raise ValueError(f"a study of {n_runs:,} runs ({len(seeds):,} seeds x "
                         f"{len(algorithms)} algorithms) is more than the {MAX_RUNS:,} runs "
                         f"one study may have (benchbench.runner.MAX_RUNS): split it into "
                         f"several studies")
    seeds = [check_seed(s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct")
    fid, report_fid = _check_setup(bench, report, dataset, objective, test_metric, st)
    transfer = tuple(transfer)
    for ds in transfer:
        (report or bench).check_dataset(ds)
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
        if isinstance(opt, Optimizer) and opt.capabilities.multi_fidelity:
            # budgets against the recorded epochs, before any run starts
            opt.configure_fidelity(run_epochs(bench, dataset, objective, fid))
            opt.setup(bench.space, optimizer_rng(0, dataset))
        for s in seeds:
            configs.append(RunConfig(
                benchmark=bench.name, data_sha256=sha, dataset=dataset, label=label,
                algorithm=name, params=spec, seed=int(s), max_evals=max_evals,
                max_seconds=max_seconds, fidelity=fid, objective=objective,
                test_metric=test_metric, noise=st.noise, transfer=transfer,
                report_benchmark=None if report is None else report.name,
                report_fidelity=report_fid, cost=st.cost, repeats=st.repeats,
                budget_crossing=st.budget_crossing,
                allow_test_objective=st.allow_test_objective, protocol=st.protocol,
                record_metrics=st.record_metrics, constraints=st.constraints,
                sim_workers=st.sim_workers, sim_mode=st.sim_mode))
    return configs


_STUDY_KEYS = ("benchmark", "dataset", "objective", "test_metric", "fidelity", "noise", "budget",
               "transfer", "search")


def run_study(bench: Benchmark, out: str | Path, *, dataset: str,
              algorithms: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
              max_evals: int | None = None, max_seconds: float | None = None,
              fidelity: int | None = None, objective: str = "valid_acc",
              test_metric: str | None = "test_acc", noise: str | None = None,
              transfer: Sequence[str] = (), report: Benchmark | None = None,
              protocol: str | None = None, report_fidelity: int | None = None,
              cost: str | None = None, repeats: str | None = None,
              budget_crossing: str | None = None, allow_test_objective: bool | None = None,
              workers: int = 1, executor: str = "local", progress: bool = False,
              command: str | None = None, record_metrics: Sequence[str] | None = None,
              constraints: Sequence[str] | None = None, sim_workers: int | None = None,
              sim_mode: str | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """Run every (algorithm, seed) of a study, skipping runs already done.

    Args:
        bench: the benchmark searched (a :class:`~tabular_data.TabularBenchmark` pickles by
            path, so worker processes reopen the same file).
        out: study folder.
        algorithms: label -> ``{"algorithm": registered name or import path (default: the
            label), **params}``.
        seeds: at most :data:`MAX_RUNS` runs (seeds x algorithms) in all.
        report: the benchmark whose values are reported for incumbents (default: ``bench``).
        protocol: a preset of :data:`SEARCH_PROTOCOLS`; the explicit settings
            (``noise``, ``fidelity``, ``report_fidelity``, ``cost``, ``repeats``,
            ``budget_crossing``, ``allow_test_objective``, ``max_seconds``) override it.
        workers: processes for the local executor (``1``: in this process).
        executor: ``"local"`` (process pool) or ``"ray"`` (a Ray cluster; see
            :mod:`benchbench.executors`).
        progress: show a progress bar (tqdm) on stderr.
        command: the command line that started the study (recorded in ``study.json``).
        record_metrics, constraints, sim_workers, sim_mode: see :class:`SearchSettings`.

    Everything is validated before anything is written: a bad setting leaves ``out`` absent
    or unchanged.  One process at a time writes a study folder: a second ``run_study`` on a
    folder in use is refused at once (it does not wait), whatever its settings.

    **Interrupts** (called from the main thread): the first ``SIGINT`` (Ctrl-C) or
    ``SIGTERM`` stops handing out runs and lets the running ones finish; a second one stops
    at once (worker processes are killed; their runs keep the manifest status ``running``).
    Either way ``run_study`` then raises :class:`StudyInterrupted` (a ``KeyboardInterrupt``)
    whose ``result`` says what was done; calling ``run_study`` again with the same arguments
    resumes (runs done are skipped, the others run).  The previous signal handlers are
    restored when it returns.

    A worker process that dies while running a run (killed, out of memory) does not stop the
    study: the run is listed in ``result.lost`` and stays not done (the next call runs it).

    Scripts that use ``workers > 1`` need an ``if __name__ == "__main__":`` guard (the pool
    starts its processes with ``forkserver``).

    Raises:
        StoreError: the folder holds another study, another writer holds it, or it was
            written by benchbench 0.1.
        StudyInterrupted: interrupted by ``SIGINT`` / ``SIGTERM`` (see above).
        WorkerError: worker processes could not start.
    """
    t0 = time.perf_counter()
    out = Path(out)
    store = StudyStore(out)
    if not hasattr(seeds, "__len__"):  # a generator: read it once (planned, then recorded)
        seeds = list(seeds)
    guard = InterruptGuard()
    result = StudyResult(out=out)
    try:
        with guard:
            run_executor = get_executor(executor, workers)  # validates before anything is written
            st = search_settings(protocol, noise=noise, fidelity=fidelity,
                                 report_fidelity=report_fidelity, cost=cost, repeats=repeats,
                                 budget_crossing=budget_crossing,
                                 allow_test_objective=allow_test_objective,
                                 max_seconds=max_seconds, record_metrics=record_metrics,
                                 constraints=constraints, sim_workers=sim_workers,
                                 sim_mode=sim_mode)
            configs = plan_study(bench, dataset=dataset, algorithms=algorithms, seeds=seeds,
                                 max_evals=max_evals, objective=objective,
                                 test_metric=test_metric, transfer=transfer, report=report,
                                 settings=st)
            c0 = configs[0]
            bench_info = _bench_info(bench)
            study = {
                "benchmark": bench_info, "dataset": dataset, "objective": objective,
                "test_metric": test_metric, "fidelity": c0.fidelity, "noise": c0.noise,
                "budget": {"max_evals": c0.max_evals, "max_seconds": c0.max_seconds},
                "transfer": list(transfer),
                "search": {"protocol": c0.protocol, "cost": c0.cost, "repeats": c0.repeats,
                           "budget_crossing": c0.budget_crossing,
                           "allow_test_objective": c0.allow_test_objective,
                           "report_benchmark": None if report is None else _bench_info(report),
                           "report_fidelity": c0.report_fidelity or c0.fidelity},
            }
            search_spec: dict[str, Any] = study["search"]  # type: ignore[assignment]
            for key in ("record_metrics", "constraints", "sim_workers", "sim_mode"):
                value = getattr(c0, key)
                if value != getattr(SearchSettings, key):  # only when used: older studies
                    search_spec[key] = list(value) if isinstance(value, tuple) else value
            facts = _study_facts(study, report or bench)
            result.not_done = len(configs)
            _refuse_v1(store)
            if guard.stop.is_set():
                raise KeyboardInterrupt
            with store.lock(command or "run_study"):
                doc = _merged_spec(store, study, facts, algorithms, seeds, command)
                todo = [c for c in configs
                        if store.run_status(c.label, c.seed, c.config_hash()) != "done"]
                result.skipped = len(configs) - len(todo)
                result.not_done = len(todo)
                _sweep_temp(store, todo)
                store.write_spec(doc)
                try:
                    _run_all(run_executor, RunTarget(bench, report), todo, store, bench_info,
                             guard, result, progress, f"{bench.name}/{dataset}", on_progress)
                finally:
                    _sweep_temp(store, todo)  # what killed workers left
                    result.wall_s = time.perf_counter() - t0
                    spec = store.read_spec(raw=True)
                    spec["wall_s_total"] = float(spec.get("wall_s_total", 0.0)) + result.wall_s
                    store.write_spec(spec)
            if guard.stop.is_set():
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        result.interrupted = _describe_signals(guard.signals)
        if math.isnan(result.wall_s):
            result.wall_s = time.perf_counter() - t0
        raise StudyInterrupted(result) from None
    return result


def _describe_signals(signals: Sequence[str]) -> str:
    """``"SIGINT"``, ``"SIGINT twice"``, ``"SIGTERM, then SIGINT"``; ``"KeyboardInterrupt"``
    when no handler saw a signal (called outside the main thread)."""
    if not signals:
        return "KeyboardInterrupt"
    if len(signals) == 1:
        return signals[0]
    if len(set(signals)) == 1:
        return f"{signals[0]} {'twice' if len(signals) == 2 else f'{len(signals)} times'}"
    return ", then ".join(signals)


def _run_all(run_executor: Executor, target: RunTarget, todo: list[RunConfig],
             store: StudyStore, bench_info: dict[str, Any], guard: InterruptGuard,
             result: StudyResult, progress: bool, desc: str,
             on_progress: Callable[[int, int], None] | None) -> None:
    """Map ``todo`` through the executor, counting into ``result``; a second interrupt
    (``KeyboardInterrupt``) closes the executor's iterator, which kills its workers."""
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="run", desc=desc, smoothing=0.1)
    ended = 0
    told = False
    try:
        runs = run_executor.map_runs(target, todo, store.path, bench_info, stop=guard.stop)
        with contextlib.closing(runs):
            for cfg, status, error in runs:
                ended += 1
                if status == "done":
                    result.done += 1
                    result.not_done -= 1
                elif status == LOST:
                    result.lost.append((cfg.run_id, error or "its worker process died"))
                else:
                    result.failed += 1
                    result.not_done -= 1
                    result.failures.append((cfg.run_id, error or "unknown error"))
                if bar is not None:
                    bar.update(1)
                    if guard.stop.is_set() and not told:
                        told = True
                        bar.set_postfix_str("interrupted: finishing the running runs "
                                            "(interrupt again to stop now)")
                if on_progress is not None:
                    on_progress(ended, len(todo))
    finally:
        if bar is not None:
            bar.close()


def _bench_info(bench: Benchmark) -> dict[str, Any]:
    desc = bench.describe()
    return {"name": desc.name, "version": desc.version, "kind": desc.kind,
            "space": desc.space, "data_sha256": desc.data_sha256,
            "capabilities": bench.capabilities.to_dict()}


#: Temporary files of :func:`benchbench.store.atomic_write`: ``.NAME.PID.HEX8.tmp``.
_TEMP_FILE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def _sweep_temp(store: StudyStore, configs: Sequence[RunConfig]) -> int:
    """Delete the temporary files that killed writers left in the study folder and in the
    folders of ``configs`` (runs not done: a done run's files were all renamed into place);
    a file whose writer still runs (its PID, in the name, is a live process that started
    before the file was last written) is kept.  Call with the folder's lock held.  Returns
    the number deleted."""
    n = 0
    folders = [store.path, *(store.run_path(c.label, c.seed) for c in configs)]
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            m = _TEMP_FILE.match(name)
            if m is None:
                continue
            path = folder / name
            with contextlib.suppress(OSError):
                if not process_running(int(m.group(1)), since=path.stat().st_mtime):
                    path.unlink()
                    n += 1
    return n


def _refuse_v1(store: StudyStore) -> None:
    """Refuse a folder written by benchbench 0.1 before touching it (not even its lock)."""
    if store.exists() and "schema" not in store.read_spec(raw=True):
        raise StoreError(f"{store.path} was written by benchbench 0.1 (study schema 1): it "
                         f"loads for reports, but new runs go in a new folder (--out)")


def _study_facts(study: dict[str, Any], bench: Benchmark) -> dict[str, Any]:
    """The metrics and optimum recorded in ``study.json``, computed before the folder is
    touched; ``bench`` is the benchmark reported on."""
    dataset, fid = study["dataset"], study["search"]["report_fidelity"]
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
    return {"metrics": [m.to_dict() for m in bench.metrics(dataset)], "optimum": optimum}


def _merged_spec(store: StudyStore, study: dict[str, Any], facts: dict[str, Any],
                 algorithms: Mapping[str, Mapping[str, Any]], seeds: Sequence[int],
                 command: str | None) -> dict[str, Any]:
    """The new ``study.json`` (the existing one extended); ``study`` holds the keys that
    must not change.  Checks only, writes nothing.

    Raises:
        StoreError: a benchbench 0.1 folder.
        BenchmarkError: the folder holds a study with other fixed settings, or an algorithm
            label run with other parameters.
    """
    out = store.path
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
    return {**study, "metrics": facts["metrics"], "algorithms": algos,
            "seeds": sorted(set(old.get("seeds", [])) | {int(s) for s in seeds}),
            "commands": commands, "command": command or old.get("command"),
            "created": old.get("created", now()), "updated": now(), "versions": versions(),
            "optimum": facts["optimum"], "wall_s_total": old.get("wall_s_total", 0.0)}
