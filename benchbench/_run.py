"""One run: (benchmark, dataset, algorithm + params, seed, budget) executed and stored.

Used by :mod:`benchbench.runner` (studies) and :mod:`benchbench.executors` (where runs
execute); imports neither, so the three form no cycle.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import platform
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Benchmark, BenchmarkError, Direction, MissingDataError
from benchbench.optimizer import OneShotSearch, OneShotStep, make_optimizer
from benchbench.rng import derive_seed, make_rng, stable_hash
from benchbench.spaces import is_enumerable
from benchbench.store import StudyStore
from benchbench.trial import RunManifest, TrialValue

__all__ = ["RunConfig", "execute_run", "now", "run_and_store", "versions"]

#: Noise modes: one recorded run per (cell, run seed) (common random numbers), or seed means.
NOISE_MODES = ("seed", "mean")


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
        noise: ``"seed"`` (one recorded run per cell and seed) or ``"mean"``.
        transfer: other datasets on which the final incumbent's seed-mean objective and test
            values are recorded (NB201's cross-dataset table); never told to the optimizer.
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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = dict(self.params)
        d["transfer"] = list(self.transfer)
        if not self.transfer:  # keeps the hash of runs without transfer stable
            del d["transfer"]
        return d

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True,
                                         default=str).encode()).hexdigest()[:16]

    @property
    def run_id(self) -> str:
        return f"{self.label}/seed-{self.seed:06d}"


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
    """The data seed each cell is answered with under one run seed (common random numbers).

    The draw is keyed on a stable hash of (run seed, cell id), never on an index, so it works
    on spaces that cannot be enumerated and is the same for every algorithm.
    """

    def __init__(self, bench: Benchmark, dataset: str, seed: int) -> None:
        self.bench, self.dataset, self.seed = bench, dataset, seed
        self._cache: dict[str, int] = {}

    def __call__(self, arch: Any, arch_id: str) -> int:
        got = self._cache.get(arch_id)
        if got is not None:
            return got
        u = stable_hash(self.seed, "noise", arch_id)
        avail = self.bench.data_seeds(arch, self.dataset)
        if avail is None:  # any seed allowed (surrogate noise draw, real training)
            s = u % (2**31)
        elif not avail:
            raise MissingDataError(f"no recorded run of {arch_id} on {self.dataset!r}")
        else:
            s = avail[u % len(avail)]
        self._cache[arch_id] = s
        return s


class _Loop:
    """The bookkeeping of one run: clock, incumbent (by what the optimizer saw), records."""

    def __init__(self, bench: Benchmark, cfg: RunConfig) -> None:
        self.bench, self.cfg = bench, cfg
        self.space = bench.space
        self.enumerable = is_enumerable(self.space)
        self.maximize = bench.metric(cfg.dataset, cfg.objective).direction is Direction.MAXIMIZE
        self.noise = _NoiseSeeds(bench, cfg.dataset, cfg.seed) if cfg.noise == "seed" else None
        self.records: list[tuple[Any, ...]] = []
        self.clock = 0.0
        self.best = -math.inf
        self.inc_arch: Any = None
        self.inc_index: int | str = ""
        self.inc_id, self.inc_obj = "", math.nan
        self.inc_valid = self.inc_test = math.nan
        self._means: dict[str, tuple[float, float]] = {}

    def _mean_values(self, arch: Any, arch_id: str) -> tuple[float, float]:
        mv = self._means.get(arch_id)
        if mv is None:
            cfg = self.cfg
            ev = self.bench.query(arch, dataset=cfg.dataset, fidelity=cfg.fidelity)
            mv = self._means[arch_id] = (
                ev.values[cfg.objective],
                ev.values[cfg.test_metric] if cfg.test_metric else math.nan)
        return mv

    def evaluate(self, arch: Any, fidelity: int | None, extra_cost: float = math.nan
                 ) -> tuple[float, float]:
        """Query ``arch``, record it; returns (objective, cost).  ``extra_cost`` replaces the
        benchmark's cost (one-shot steps are charged their own search time)."""
        cfg = self.cfg
        arch_id = self.space.arch_id(arch)
        index: int | str = self.space.index(arch) if self.enumerable else ""  # type: ignore[attr-defined]
        data_seed = self.noise(arch, arch_id) if self.noise is not None else None
        ev = self.bench.query(arch, dataset=cfg.dataset, fidelity=fidelity or cfg.fidelity,
                              data_seed=data_seed)
        y = ev.values[cfg.objective]
        cost = ev.cost_s if math.isnan(extra_cost) else extra_cost
        self.clock += cost if cost == cost else 0.0
        score = y if self.maximize else -y
        if score > self.best:  # NaN never improves
            self.best, self.inc_arch, self.inc_index, self.inc_id, self.inc_obj = (
                score, arch, index, ev.arch_id, y)
            self.inc_valid, self.inc_test = self._mean_values(arch, arch_id)
        self.records.append((len(self.records), ev.arch_id, index, ev.fidelity,
                             "" if data_seed is None else data_seed, y, cost, self.clock,
                             self.inc_index, self.inc_valid, self.inc_test, self.inc_id))
        return y, cost

    def budget_left(self) -> bool:
        cfg = self.cfg
        return ((cfg.max_evals is None or len(self.records) < cfg.max_evals)
                and (cfg.max_seconds is None or self.clock < cfg.max_seconds))

    def result(self, params: Mapping[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        out: dict[str, Any] = {
            "n_evals": len(self.records), "sim_time_s": self.clock,
            "incumbent_id": self.inc_id,
            "incumbent_index": -1 if self.inc_index == "" else self.inc_index,
            "incumbent_objective": self.inc_obj, "final_valid": self.inc_valid,
            "final_test": self.inc_test, "params": dict(params),
            "distinct_cells": len({r[1] for r in self.records})}
        if cfg.transfer and self.inc_arch is not None:
            out["transfer"] = {ds: _transfer_values(self.bench, self.inc_arch, ds, cfg)
                               for ds in cfg.transfer}
        return out


def execute_run(bench: Benchmark, cfg: RunConfig) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Run one configuration in memory.

    Returns:
        (records, result): one tuple per evaluation in :data:`~benchbench.trial.RECORD_FIELDS`
        order, and the summary stored in the manifest's ``result``.
    """
    opt = make_optimizer(cfg.algorithm, **dict(cfg.params))
    opt.setup(bench.space, make_rng(cfg.seed, "optimizer"))
    loop = _Loop(bench, cfg)
    if isinstance(opt, OneShotSearch):
        steps = opt.steps()
        while loop.budget_left():
            step = next(steps, None)
            if step is None:
                break
            if not isinstance(step, OneShotStep):
                step = OneShotStep(*step)
            loop.evaluate(step.arch, None, float(step.cost_s))
        return loop.records, loop.result(opt.get_params())
    multi_fidelity = opt.capabilities.multi_fidelity
    while loop.budget_left():
        trial = opt.ask()
        if trial.fidelity is not None and not multi_fidelity:
            raise BenchmarkError(f"optimizer {cfg.algorithm!r} asked for fidelity "
                                 f"{trial.fidelity} but does not declare "
                                 f"Capabilities(multi_fidelity=True)")
        y, cost = loop.evaluate(trial.arch, trial.fidelity)
        opt.tell(trial, TrialValue(y, cost, loop.maximize))
    return loop.records, loop.result(opt.get_params())


def _transfer_values(bench: Benchmark, arch: Any, dataset: str,
                     cfg: RunConfig) -> dict[str, float | None]:
    """Seed-mean objective and test values of a cell on another dataset (None where that
    dataset has no such metric, e.g. no validation split)."""
    ev = bench.query(arch, dataset=dataset)
    return {"valid": ev.values.get(cfg.objective),
            "test": ev.values.get(cfg.test_metric) if cfg.test_metric else None}


def run_and_store(bench: Benchmark, cfg: RunConfig, out: Path,
                  bench_info: Mapping[str, Any]) -> tuple[str, str | None]:
    """Execute one run and write its folder; returns (status, error).  Never raises for a
    failure inside the run: it is recorded in the manifest."""
    store = StudyStore(out)
    man = RunManifest(run_id=cfg.run_id, config=cfg.to_dict(), config_hash=cfg.config_hash(),
                      benchmark=dict(bench_info), versions=versions(),
                      seeds={"run": cfg.seed, "optimizer": derive_seed(cfg.seed, "optimizer"),
                             "noise": derive_seed(cfg.seed, "noise")},
                      status="running", started=now())
    store.write_manifest(man, cfg.label, cfg.seed)
    t0 = time.perf_counter()
    try:
        records, result = execute_run(bench, cfg)
        man.records_sha256 = store.write_records(records, cfg.label, cfg.seed)
        man.status, man.result = "done", result
    except Exception as e:  # recorded, not fatal
        man.status = "failed"
        man.error = f"{type(e).__name__}: {e}"
        man.result = {"traceback": traceback.format_exc(limit=8)}
    man.wall_s = time.perf_counter() - t0
    man.finished = now()
    store.write_manifest(man, cfg.label, cfg.seed)
    return man.status, man.error
