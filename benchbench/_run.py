"""One run: (benchmark, dataset, algorithm + params, seed, budget) executed and stored.

Used by :mod:`benchbench.runner` (studies) and :mod:`benchbench.executors` (where runs
execute); imports neither, so the three form no cycle.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import hashlib
import heapq
import json
import math
import platform
import re
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Benchmark, BenchmarkError, Direction, MissingDataError
from benchbench.optimizer import OneShotSearch, OneShotStep, Optimizer, make_optimizer
from benchbench.rng import derive_seed, make_rng, stable_hash
from benchbench.spaces import is_enumerable
from benchbench.store import StudyStore
from benchbench.trial import (
    EXTRA_FIELDS,
    EXTRA_METRIC_PREFIX,
    RunManifest,
    TrialInfo,
    TrialValue,
)

__all__ = ["COST_MODES", "CROSSING_MODES", "NOISE_MODES", "REPEAT_MODES", "SIM_MODES",
           "Constraint", "RunConfig", "RunOutput", "RunTarget", "eval_time_metric",
           "execute_run", "execute_run_full", "now", "optimizer_rng", "parse_constraint",
           "run_and_store", "run_epochs", "versions"]

#: What the optimizer is answered with: ``crn`` one recorded run per (cell, run seed, dataset),
#: the same for every algorithm (common random numbers); ``fresh`` a new recorded run drawn at
#: every query (NB201's ``is_random=True``); ``mean`` the seed mean.  ``seed`` is the 0.1 name
#: of ``crn``.
NOISE_MODES = ("crn", "fresh", "mean")
NOISE_ALIASES = {"seed": "crn"}
#: Cost the optimizer is charged per query: training time only, or training plus one
#: evaluation pass of the objective's split (NB201's ``train-all-time + valid-per-time``).
COST_MODES = ("train", "train+eval")
#: A cell queried again: ``charge`` (queried and paid again: NB201's scripts) or ``cache``
#: (the first answer, at no cost: naszilla's and most BO codes' behaviour).
REPEAT_MODES = ("charge", "cache")
#: The evaluation that crosses ``max_seconds``: ``keep`` (NATS-Bench's algos-v2 scripts) or
#: ``drop`` (NB201's search scripts: R_EA.py, reinforce.py, BOHB.py stop before it).
CROSSING_MODES = ("keep", "drop")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run (and nothing that does not).

    Attributes:
        benchmark: benchmark name.
        data_sha256: the benchmark data's checksum (runs on other data are not comparable).
        dataset: dataset name of the benchmark.
        label: the algorithm's name in the study (folder name; usually = ``algorithm``).
        algorithm: registered optimizer name (``rs``, ``re``, ...) or an import path
            ``package.module:Class``.
        params: optimizer hyper-parameters given explicitly (defaults are filled at run time
            and recorded in the manifest).
        seed: the run's root seed.
        max_evals / max_seconds: budget in evaluations and/or simulated seconds.
        fidelity: epochs per evaluation (an optimizer that declares
            ``Capabilities.multi_fidelity`` may ask for others).
        objective: the validation metric the optimizer is told.
        test_metric: the metric reported for the incumbent (never told to the optimizer).
        noise: one of :data:`NOISE_MODES`.
        transfer: other datasets on which the final incumbent's seed-mean objective and test
            values are recorded (NB201's cross-dataset table); never told to the optimizer.
        report_benchmark: the benchmark whose values are reported for incumbents (``None``:
            the search benchmark), e.g. NB201's 200-epoch table when searching on its
            12-epoch one.
        report_fidelity: epochs of the reported values (``None``: ``fidelity``).
        cost: one of :data:`COST_MODES`.
        repeats: one of :data:`REPEAT_MODES`.
        budget_crossing: one of :data:`CROSSING_MODES`.
        allow_test_objective: the objective may share images with the test split (a run
            made so is marked in its manifest and every report says so).
        protocol: the named preset the settings came from (recorded only).
        record_metrics: further metrics recorded for every evaluation (``evals.csv``) and
            told to the optimizer in :attr:`TrialValue.metrics` (multi-objective search);
            validation and cost metrics only (a test metric is refused unless
            ``allow_test_objective``).
        constraints: ``"metric<=value"`` / ``">="`` / ``"<"`` / ``">"`` strings (see
            :func:`parse_constraint`): an evaluation that breaks one is *infeasible*: it is
            recorded and told to the optimizer (``feasible=False``) but never becomes the
            incumbent; the run's result counts them.
        sim_workers: simulated parallel workers (``1``: sequential).  With more, an event
            queue ordered by simulated finish time decides which evaluation returns next
            (ties: the earlier started, then the lower worker); ``sim_time_s`` of a record is
            its simulated finish time and ``evals.csv`` has its start and worker.
        sim_mode: ``"async"`` (a worker asks for its next trial as soon as it is free) or
            ``"sync"`` (batches of ``sim_workers`` trials; the next batch starts when the
            slowest of the batch is done).
    """

    benchmark: str
    data_sha256: str
    dataset: str
    label: str
    algorithm: str
    params: Mapping[str, Any]
    seed: int
    max_evals: int | None
    max_seconds: float | None
    fidelity: int
    objective: str
    test_metric: str | None
    noise: str
    transfer: tuple[str, ...] = ()
    report_benchmark: str | None = None
    report_fidelity: int | None = None
    cost: str = "train"
    repeats: str = "charge"
    budget_crossing: str = "keep"
    allow_test_objective: bool = False
    protocol: str | None = None
    record_metrics: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    sim_workers: int = 1
    sim_mode: str = "async"

    def to_dict(self) -> dict[str, Any]:
        # dataclasses.asdict deep-copies every field: ~1.7 ms a run, for plain values
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["params"] = dict(self.params)
        # settings at their default are left out: the hash of runs that do not use them
        # stays what it was before they existed
        for key, default in _HASH_DEFAULTS.items():
            if d[key] == default:
                del d[key]
            elif isinstance(d[key], tuple):
                d[key] = list(d[key])
        return d

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True,
                                         default=str).encode()).hexdigest()[:16]

    @property
    def run_id(self) -> str:
        return f"{self.label}/seed-{self.seed:06d}"


_HASH_DEFAULTS: dict[str, Any] = {"transfer": (), "record_metrics": (), "constraints": (),
                                  "sim_workers": 1, "sim_mode": "async"}
#: ``RunConfig.sim_mode`` values.
SIM_MODES = ("async", "sync")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op value`` (``op`` one of ``<=``, ``>=``, ``<``, ``>``)."""

    metric: str
    op: str
    value: float

    def holds(self, x: float) -> bool:
        """Whether ``x`` meets the constraint (NaN never does)."""
        if self.op == "<=":
            return x <= self.value
        if self.op == ">=":
            return x >= self.value
        if self.op == "<":
            return x < self.value
        return x > self.value

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_constraint(text: str) -> Constraint:
    """``"latency_ms<=5"`` -> :class:`Constraint` (``ValueError`` naming the text if bad)."""
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"bad constraint {text!r}; use METRIC<=VALUE, METRIC>=VALUE, "
                         f"METRIC<VALUE or METRIC>VALUE, e.g. latency_ms<=5")
    try:
        value = float(m.group(3))
    except ValueError:
        raise ValueError(f"bad constraint {text!r}: {m.group(3)!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"bad constraint {text!r}: the bound must be finite")
    return Constraint(m.group(1), m.group(2), value)


def versions() -> dict[str, str]:
    """Versions recorded in every manifest."""
    import benchbench

    v = {"python": platform.python_version(), "numpy": np.__version__,
         "benchbench": benchbench.__version__, "platform": platform.platform()}
    try:
        import h5py

        v["h5py"] = h5py.__version__
    except ImportError:  # pragma: no cover
        pass
    return v


def now() -> str:
    """UTC time, ISO 8601, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class _NoiseSeeds:
    """The data seed each query is answered with.

    ``crn``: keyed on a stable hash of (run seed, dataset, cell id) — never on an index, so
    it works on spaces that cannot be enumerated, and it is the same for every algorithm under
    one run seed and dataset.  ``fresh``: a new draw at every query from the run's own
    stream (NB201's ``get_more_info(..., is_random=True)``).
    """

    def __init__(self, bench: Benchmark, dataset: str, seed: int, mode: str) -> None:
        self.bench, self.dataset, self.seed, self.mode = bench, dataset, seed, mode
        self._cache: dict[str, int] = {}
        self._avail: dict[str, tuple[int, ...] | None] = {}
        self._rng = make_rng(seed, "noise", dataset) if mode == "fresh" else None

    def __call__(self, arch: Any, arch_id: str) -> int:
        if self._rng is None:
            got = self._cache.get(arch_id)
            if got is not None:
                return got
            u = stable_hash(self.seed, "noise", self.dataset, arch_id)
        else:
            u = int(self._rng.integers(2**62))
        if arch_id in self._avail:
            avail = self._avail[arch_id]
        else:
            avail = self._avail[arch_id] = self.bench.data_seeds(arch, self.dataset)
        if avail is None:  # any seed allowed (surrogate noise draw, real training)
            s = u % (2**31)
        elif not avail:
            raise MissingDataError(f"no recorded run of {arch_id} on {self.dataset!r}")
        else:
            s = avail[u % len(avail)]
        if self._rng is None:
            self._cache[arch_id] = s
        return s


def eval_time_metric(split: str) -> str:
    """Name of the metric holding the seconds of one evaluation pass on ``split``."""
    return f"{split}_eval_s"


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One evaluation looked up but not yet recorded."""

    arch: Any
    arch_id: str
    index: int | str
    fid: int
    data_seed: int | None
    objective: float
    cost: float             # seconds charged to the clock (NaN counted as 0)
    raw_cost: float         # as recorded (NaN when the source has none)
    metrics: dict[str, float]
    feasible: bool
    resumed_from: int | None


class _Loop:
    """The bookkeeping of one run: clock, incumbent (by what the optimizer saw), records."""

    def __init__(self, bench: Benchmark, cfg: RunConfig, report: Benchmark | None) -> None:
        self.bench, self.cfg = bench, cfg
        self.report = report if report is not None else bench
        self.report_fidelity = cfg.report_fidelity or cfg.fidelity
        self.space = bench.space
        self.enumerable = is_enumerable(self.space)
        obj = bench.metric(cfg.dataset, cfg.objective)
        self.maximize = obj.direction is Direction.MAXIMIZE
        self.eval_metric = (eval_time_metric(obj.split.value)
                            if cfg.cost == "train+eval" and obj.split is not None else None)
        self.noise = (_NoiseSeeds(bench, cfg.dataset, cfg.seed, cfg.noise)
                      if cfg.noise in ("crn", "fresh") else None)
        self.constraints = tuple(parse_constraint(c) for c in cfg.constraints)
        names = list(cfg.record_metrics)
        names += [c.metric for c in self.constraints if c.metric not in names]
        self.metric_names: tuple[str, ...] = tuple(names)
        self.directions = {m: bench.metric(cfg.dataset, m).direction is Direction.MAXIMIZE
                           for m in self.metric_names}
        self.records: list[tuple[Any, ...]] = []
        self.extras: list[tuple[Any, ...]] = []
        self.n_infeasible = 0
        self.n_resumed = 0
        self._trained: dict[str, int] = {}
        self.clock = 0.0
        self.best = -math.inf
        self.inc_arch: Any = None
        self.inc_index: int | str = ""
        self.inc_id, self.inc_obj = "", math.nan
        self.inc_values = (math.nan,) * 4
        self._seen: dict[tuple[str, int], tuple[float, float, int | None,
                                                dict[str, float]]] = {}
        self._means: dict[tuple[str, int | None], tuple[float, float, float, float]] = {}
        self.stopped = ""
        # out-of-distribution flags of a surrogate's answers (Evaluation.flags), counted
        self.count_ood = bench.describe().kind == "surrogate"
        self._ood: set[str] = set()
        self.n_ood = self.n_incumbents = self.n_incumbents_ood = 0

    def _report_values(self, arch: Any, arch_id: str, selected_by: int | None
                       ) -> tuple[float, float, float, float]:
        """(seed-mean objective, seed-mean test, held-out objective, held-out test) of the
        incumbent on the report benchmark at the report fidelity.  Held out: the mean over
        the recorded seeds other than the one whose value selected it (NaN when there are
        none: seed-mean noise, a single recorded seed, or a backend that trains any seed).
        With a separate report benchmark (NB201: search the 12-epoch runs, report the
        200-epoch ones) the report run with the selecting run's seed number is excluded too:
        it is another training, but from the same seed (initialisation and data order), so
        its noise is correlated with the selecting run's."""
        key = (arch_id, selected_by)
        got = self._means.get(key)
        if got is not None:
            return got
        cfg, rb, fid = self.cfg, self.report, self.report_fidelity
        test = cfg.test_metric
        ev = rb.query(arch, dataset=cfg.dataset, fidelity=fid)
        mean = (ev.values[cfg.objective], ev.values[test] if test else math.nan)
        held = (math.nan, math.nan)
        seeds = rb.data_seeds(arch, cfg.dataset) if rb.capabilities.data_seeds else ()
        if cfg.noise != "mean" and seeds:
            keep = [s for s in seeds if s != selected_by]
            if keep:
                evs = [rb.query(arch, dataset=cfg.dataset, fidelity=fid, data_seed=s)
                       for s in keep]
                held = (_nanmean([e.values[cfg.objective] for e in evs]),
                        _nanmean([e.values[test] for e in evs]) if test else math.nan)
        got = self._means[key] = (*mean, *held)
        return got

    def lookup(self, arch: Any, fidelity: int | None, extra_cost: float = math.nan,
               resume: bool = False) -> _Outcome:
        """Query ``arch`` (nothing recorded yet): its objective, cost, data seed, recorded
        metrics and feasibility.  ``extra_cost`` replaces the benchmark's cost (one-shot
        steps are charged their own search time); ``resume`` charges only the epochs beyond
        the highest this run has already trained the cell to, counting the trainings that
        have *finished* (been recorded) by now: with simulated workers, a training still
        running on another worker is not a checkpoint yet."""
        cfg = self.cfg
        arch_id = self.space.arch_id(arch)
        fid = fidelity or cfg.fidelity
        index: int | str = self.space.index(arch) if self.enumerable else ""  # type: ignore[attr-defined]
        cached = self._seen.get((arch_id, fid)) if cfg.repeats == "cache" else None
        resumed_from: int | None = None
        metrics: dict[str, float] = {}
        if cached is not None:
            y, cost, data_seed, metrics = cached[0], 0.0, cached[2], dict(cached[3])
        else:
            data_seed = self.noise(arch, arch_id) if self.noise is not None else None
            ev = self.bench.query(arch, dataset=cfg.dataset, fidelity=fid, data_seed=data_seed)
            y = ev.values[cfg.objective]
            if "ood" in ev.flags:
                self._ood.add(arch_id)
            metrics = {m: ev.values.get(m, math.nan) for m in self.metric_names}
            if not math.isnan(extra_cost):
                cost = extra_cost
            else:
                cost = self._cost(ev, arch_id, data_seed, fid)
                prev = self._trained.get(arch_id) if resume else None
                if prev is not None:
                    resumed_from = prev
                    if prev >= fid:
                        cost = self._eval_cost(ev, arch_id, data_seed, fid)
                    else:
                        before = self.bench.query(arch, dataset=cfg.dataset, fidelity=prev,
                                                  data_seed=data_seed)
                        # the extra epochs' training time; never negative (a surrogate's
                        # predicted runtime need not grow with the epochs)
                        cost = (max(float(ev.cost_s) - float(before.cost_s), 0.0)
                                + self._eval_cost(ev, arch_id, data_seed, fid))
            if math.isnan(cost) and cfg.max_seconds is not None:
                raise MissingDataError(
                    f"no recorded training time for {arch_id} (seed {data_seed}) at epoch {fid} "
                    f"on {cfg.dataset!r}: a time budget cannot charge it")
            self._seen.setdefault((arch_id, fid), (y, cost, data_seed, metrics))
        feasible = all(c.holds(metrics[c.metric]) for c in self.constraints)
        return _Outcome(arch, arch_id, index, fid, data_seed, y,
                        cost if cost == cost else 0.0, cost, metrics, feasible, resumed_from)

    def _eval_cost(self, ev: Any, arch_id: str, data_seed: int | None, fid: int) -> float:
        """Seconds of one evaluation pass when the cost mode charges it, else 0."""
        if self.eval_metric is None:
            return 0.0
        eval_s = float(ev.values[self.eval_metric])
        if math.isnan(eval_s):
            raise MissingDataError(
                f"no recorded {self.eval_metric} for {arch_id} (seed {data_seed}) at "
                f"epoch {fid} on {self.cfg.dataset!r}: cost 'train+eval' cannot charge it")
        return eval_s

    def _cost(self, ev: Any, arch_id: str, data_seed: int | None, fid: int) -> float:
        return float(ev.cost_s) + self._eval_cost(ev, arch_id, data_seed, fid)

    def record(self, out: _Outcome, start: float, finish: float, worker: int = 0,
               candidate: bool = True) -> None:
        """Record ``out`` as the next evaluation, finishing at simulated time ``finish``;
        ``candidate=False``: it cannot become the incumbent (see
        :meth:`benchbench.optimizer.Optimizer.incumbent_candidate`)."""
        self.clock = finish
        if self._trained.get(out.arch_id, 0) < out.fid:  # a checkpoint from now on
            self._trained[out.arch_id] = out.fid
        y = out.objective
        score = y if self.maximize else -y
        if candidate and out.feasible and score > self.best:  # NaN never improves
            self.best, self.inc_arch, self.inc_index, self.inc_id, self.inc_obj = (
                score, out.arch, out.index, out.arch_id, y)
            self.inc_values = self._report_values(out.arch, out.arch_id, out.data_seed)
            self.n_incumbents += 1
            self.n_incumbents_ood += out.arch_id in self._ood
        self.n_ood += out.arch_id in self._ood
        if not out.feasible:
            self.n_infeasible += 1
        v, t, vh, th = self.inc_values
        n = len(self.records)
        self.records.append((n, out.arch_id, out.index, out.fid,
                             "" if out.data_seed is None else out.data_seed, y, out.raw_cost,
                             self.clock, self.inc_index, v, t, self.inc_id, vh, th))
        self.extras.append((n, start, worker,
                            "" if out.resumed_from is None else out.resumed_from,
                            int(out.feasible), *(out.metrics[m] for m in self.metric_names)))
        if out.resumed_from is not None:
            self.n_resumed += 1

    def value(self, out: _Outcome) -> TrialValue:
        """What the optimizer is told about ``out``."""
        return TrialValue(out.objective, out.raw_cost, self.maximize, out.metrics,
                          self.directions, out.feasible, out.fid)

    def crosses(self, start: float, cost: float) -> bool:
        """Whether an evaluation from ``start`` costing ``cost`` crosses ``max_seconds``
        and crossings are dropped."""
        cfg = self.cfg
        return (cfg.budget_crossing == "drop" and cfg.max_seconds is not None
                and start + cost > cfg.max_seconds)

    def evaluate(self, arch: Any, fidelity: int | None, extra_cost: float = math.nan,
                 resume: bool = False, candidate: bool = True) -> _Outcome | None:
        """Query and record ``arch`` (sequentially, after the last evaluation); ``None``
        when it would cross the time budget and crossings are dropped (the run ends)."""
        out = self.lookup(arch, fidelity, extra_cost, resume)
        if self.crosses(self.clock, out.cost):
            self.stopped = "the next evaluation would have crossed max_seconds (dropped)"
            return None
        start = self.clock
        self.record(out, start, start + out.cost, candidate=candidate)
        return out

    def extras_columns(self) -> tuple[str, ...]:
        return EXTRA_FIELDS + tuple(EXTRA_METRIC_PREFIX + m for m in self.metric_names)

    def wants_extras(self) -> bool:
        """Whether the run writes ``evals.csv`` (it records more than records.csv holds)."""
        cfg = self.cfg
        return bool(self.metric_names or cfg.sim_workers > 1 or self.n_resumed)

    def budget_left(self) -> bool:
        cfg = self.cfg
        return (not self.stopped
                and (cfg.max_evals is None or len(self.records) < cfg.max_evals)
                and (cfg.max_seconds is None or self.clock < cfg.max_seconds))

    def result(self, params: Mapping[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        v, t, vh, th = self.inc_values
        out: dict[str, Any] = {
            "n_evals": len(self.records), "sim_time_s": self.clock,
            "incumbent_id": self.inc_id,
            "incumbent_index": -1 if self.inc_index == "" else self.inc_index,
            "incumbent_objective": self.inc_obj, "final_valid": v, "final_test": t,
            "final_valid_heldout": vh, "final_test_heldout": th, "params": dict(params),
            "distinct_cells": len({r[1] for r in self.records})}
        if self.stopped:
            out["stopped"] = self.stopped
        if self.constraints:
            out["constraints"] = [str(c) for c in self.constraints]
            out["n_infeasible"] = self.n_infeasible
        if self.n_resumed:
            out["n_resumed"] = self.n_resumed
        if self.count_ood:
            out["ood"] = {"evaluations": self.n_ood, "incumbents": self.n_incumbents,
                          "incumbents_flagged": self.n_incumbents_ood,
                          "final_incumbent_flagged": self.inc_id in self._ood}
        if cfg.transfer and self.inc_arch is not None:
            out["transfer"] = {ds: _transfer_values(self.report, self.inc_arch, ds, cfg)
                               for ds in cfg.transfer}
        return out


def _nanmean(values: list[float]) -> float:
    arr = np.asarray(values, dtype=float)
    return float(np.mean(arr[~np.isnan(arr)])) if np.any(~np.isnan(arr)) else math.nan


@dataclass
class RunTarget:
    """The benchmarks one run needs: the one searched and, optionally, the one reported
    (pickled together to worker processes)."""

    search: Benchmark
    report: Benchmark | None = None


def optimizer_rng(seed: int, dataset: str) -> np.random.Generator:
    """The optimizer's generator: one stream per (run seed, dataset), shared by every
    algorithm (so under one seed all algorithms start alike, and studies on different
    datasets are independent)."""
    return make_rng(seed, "optimizer", dataset)


@dataclass
class RunOutput:
    """What one run produced: ``records`` (rows of :data:`~benchbench.trial.RECORD_FIELDS`),
    ``result`` (the manifest's ``result``) and, when the run records more than that, the
    rows of ``evals.csv`` (``extras`` under ``extras_columns``; empty otherwise)."""

    records: list[tuple[Any, ...]]
    result: dict[str, Any]
    extras_columns: tuple[str, ...] = ()
    extras: list[tuple[Any, ...]] | None = None
    #: one-shot runs: each recorded step's ``info`` with its ``eval`` (``diagnostics.jsonl``)
    diagnostics: list[dict[str, Any]] | None = None


def execute_run(bench: Benchmark | RunTarget, cfg: RunConfig
                ) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Run one configuration in memory.

    Returns:
        (records, result): one tuple per evaluation in :data:`~benchbench.trial.RECORD_FIELDS`
        order, and the summary stored in the manifest's ``result``.
    """
    out = execute_run_full(bench, cfg)
    return out.records, out.result


def execute_run_full(bench: Benchmark | RunTarget, cfg: RunConfig) -> RunOutput:
    """:func:`execute_run` with the per-evaluation extras (``evals.csv``) too."""
    target = bench if isinstance(bench, RunTarget) else RunTarget(bench)
    search = target.search
    opt = make_optimizer(cfg.algorithm, **dict(cfg.params))
    if isinstance(opt, Optimizer) and opt.capabilities.multi_fidelity:
        opt.configure_fidelity(run_epochs(search, cfg.dataset, cfg.objective, cfg.fidelity))
    opt.setup(search.space, optimizer_rng(cfg.seed, cfg.dataset))
    loop = _Loop(search, cfg, target.report)
    diagnostics: list[dict[str, Any]] | None = None
    final_cell: dict[str, Any] | None = None
    if isinstance(opt, OneShotSearch):
        opt.set_dataset(cfg.dataset)
        steps = opt.steps()
        diagnostics = []
        last: _Outcome | None = None
        while loop.budget_left():
            step = next(steps, None)
            if step is None:
                break
            if not isinstance(step, OneShotStep):
                step = OneShotStep(*step)
            done = loop.evaluate(step.arch, None, float(step.cost_s))
            if done is None:
                break
            # the step's diagnostics, stored with the run (diagnostics.jsonl)
            diagnostics.append({"eval": len(loop.records) - 1, **dict(step.info)})
            last = done
        if last is not None:
            # the search's own result is its last cell (NB201 reports that one), whatever
            # the incumbent by validation among the epochs' cells is
            v, t, vh, th = loop._report_values(last.arch, last.arch_id, last.data_seed)
            final_cell = {"arch_id": last.arch_id, "valid": v, "test": t,
                          "valid_heldout": vh, "test_heldout": th}
    elif cfg.sim_workers > 1:
        _drive_workers(opt, loop, cfg)
    else:
        multi_fidelity = opt.capabilities.multi_fidelity
        while loop.budget_left():
            trial = opt.ask()
            if trial is None:  # nothing to wait for: the search is over
                loop.stopped = _FINISHED
                break
            _check_trial(trial, multi_fidelity, cfg)
            told = loop.evaluate(trial.arch, trial.fidelity, resume=trial.resume,
                                 candidate=opt.incumbent_candidate(trial))
            if told is None:
                break
            opt.tell(trial, loop.value(told))
    result = loop.result(opt.get_params())
    if final_cell is not None:
        result["final_cell"] = final_cell
    if loop.wants_extras():
        return RunOutput(loop.records, result, loop.extras_columns(), loop.extras,
                         diagnostics)
    return RunOutput(loop.records, result, diagnostics=diagnostics)


#: ``result["stopped"]`` of a run whose optimizer had nothing more to ask.
_FINISHED = "the optimizer had nothing more to ask (its schedule is complete)"


def run_epochs(bench: Benchmark, dataset: str, objective: str, fidelity: int
               ) -> tuple[int, ...]:
    """The epochs a multi-fidelity optimizer may ask for in a run whose fidelity is
    ``fidelity``: those at which ``objective`` is recorded on ``dataset``, up to
    ``fidelity`` (ascending; the last is ``fidelity``, the run's "full" training).  Handed to
    :meth:`benchbench.optimizer.Optimizer.configure_fidelity`."""
    epochs = tuple(int(e) for e in bench.metric_epochs(dataset, objective) if e <= fidelity)
    if not epochs or epochs[-1] != fidelity:
        raise BenchmarkError(f"objective {objective!r} on {dataset!r} of {bench.name!r} is not "
                             f"recorded at epoch {fidelity}")
    return epochs


def _check_trial(trial: TrialInfo, multi_fidelity: bool, cfg: RunConfig) -> None:
    if (trial.fidelity is not None or trial.resume) and not multi_fidelity:
        what = (f"fidelity {trial.fidelity}" if trial.fidelity is not None
                else "to resume a training")
        raise BenchmarkError(f"optimizer {cfg.algorithm!r} asked for {what} but does not "
                             f"declare Capabilities(multi_fidelity=True)")


def _drive_workers(opt: Any, loop: _Loop, cfg: RunConfig) -> None:
    """``cfg.sim_workers`` simulated workers: an event queue of running evaluations ordered
    by (finish time, start order); the optimizer is asked whenever a worker is free
    (``async``) or when the whole batch is back (``sync``), and told each result when its
    evaluation finishes.  Depends on nothing but the seeds and settings (no real time).

    ``ask()`` returning ``None`` means "nothing to start now": the free workers idle until
    the next evaluation finishes (the optimizer is told it, then asked again); when nothing
    is running either, the search is over and the run ends (``result["stopped"]``).  In
    ``sync`` mode a ``None`` closes the batch early.  Workers are taken lowest number
    first; ties in finish time return in start order."""
    k = cfg.sim_workers
    multi_fidelity = opt.capabilities.multi_fidelity
    candidate = opt.incumbent_candidate
    running: list[tuple[float, int, int, float, TrialInfo, _Outcome]] = []
    free = list(range(k))
    now = 0.0
    started = 0
    done = False
    sync = cfg.sim_mode == "sync"
    max_evals, max_seconds = cfg.max_evals, cfg.max_seconds
    push, pop = heapq.heappush, heapq.heappop

    while True:
        if not sync or not running:
            while (free and not done and (max_evals is None or started < max_evals)
                   and (max_seconds is None or now < max_seconds)):
                trial = opt.ask()
                if trial is None:
                    if not running:  # nothing to wait for: the search is over
                        loop.stopped = _FINISHED
                        done = True
                    break
                _check_trial(trial, multi_fidelity, cfg)
                out = loop.lookup(trial.arch, trial.fidelity, resume=trial.resume)
                w = free.pop(0)
                push(running, (now + out.cost, started, w, now, trial, out))
                started += 1
        if not running:
            break
        finish, _, w, start, trial, out = pop(running)
        if finish > now:
            now = finish
        if loop.crosses(start, out.cost):
            # a result that would land after max_seconds is dropped, and no more start
            loop.stopped = "evaluations that would have crossed max_seconds were dropped"
            done = True
        else:
            loop.record(out, start, finish, w, candidate(trial))
            opt.tell(trial, loop.value(out))
        if free and w < free[-1]:
            bisect.insort(free, w)
        else:
            free.append(w)


def _transfer_values(bench: Benchmark, arch: Any, dataset: str,
                     cfg: RunConfig) -> dict[str, float | None]:
    """Seed-mean objective and test values of a cell on another dataset (None where that
    dataset has no such metric, e.g. no validation split)."""
    ev = bench.query(arch, dataset=dataset)
    return {"valid": ev.values.get(cfg.objective),
            "test": ev.values.get(cfg.test_metric) if cfg.test_metric else None}


def run_and_store(bench: Benchmark | RunTarget, cfg: RunConfig, out: Path,
                  bench_info: Mapping[str, Any]) -> tuple[str, str | None]:
    """Execute one run and write its folder; returns (status, error).  Never raises for a
    failure inside the run: it is recorded in the manifest."""
    store = StudyStore(out)
    search = bench.search if isinstance(bench, RunTarget) else bench
    info = dict(bench_info)
    info.setdefault("metrics", [m.to_dict() for m in search.metrics(cfg.dataset)])
    man = RunManifest(run_id=cfg.run_id, config=cfg.to_dict(), config_hash=cfg.config_hash(),
                      benchmark=info, versions=versions(),
                      seeds={"run": cfg.seed,
                             "optimizer": derive_seed(cfg.seed, "optimizer", cfg.dataset),
                             "noise": derive_seed(cfg.seed, "noise", cfg.dataset)},
                      status="running", started=now())
    store.write_manifest(man, cfg.label, cfg.seed)
    t0 = time.perf_counter()
    try:
        ran = execute_run_full(bench, cfg)
        man.records_sha256 = store.write_records(ran.records, cfg.label, cfg.seed)
        if ran.extras is not None:
            man.extras_sha256 = store.write_extras(ran.extras_columns, ran.extras, cfg.label,
                                                   cfg.seed)
        if ran.diagnostics is not None:
            man.diagnostics_sha256 = store.write_diagnostics(ran.diagnostics, cfg.label,
                                                             cfg.seed)
        man.status, man.result = "done", ran.result
    except Exception as e:  # recorded, not fatal
        man.status = "failed"
        man.error = f"{type(e).__name__}: {e}"
        man.result = {"traceback": traceback.format_exc(limit=8)}
    man.wall_s = time.perf_counter() - t0
    man.finished = now()
    store.write_manifest(man, cfg.label, cfg.seed)
    return man.status, man.error
