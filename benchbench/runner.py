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
with ``manifest.json`` and ``records.csv`` (:data:`benchbench.trial.RECORD_FIELDS`).
Studies are resumable: runs whose manifest says ``done`` with the same configuration are
skipped; a failing run is recorded as ``failed`` with its error and the study goes on.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
import platform
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.api import Benchmark, BenchmarkError, Direction, MissingDataError
from benchbench.rng import derive_seed, make_rng, stable_hash
from benchbench.trial import RECORD_FIELDS, RunManifest, TrialValue

__all__ = ["RunConfig", "StudyResult", "execute_run", "plan_study", "run_dir", "run_study",
           "versions"]

NOISE_MODES = ("seed", "mean")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run (and nothing that does not).

    Attributes:
        benchmark: benchmark name (the table name).
        data_sha256: the benchmark data's checksum (runs on other data are not comparable).
        dataset: dataset name of the benchmark.
        label: the algorithm's name in the study (folder name; usually = ``algorithm``).
        algorithm: registered optimizer name (``rs``, ``re``, ``reinforce``, ``ls``, ...).
        params: optimizer hyper-parameters given explicitly (defaults are filled at run time
            and recorded in the manifest).
        seed: the run's root seed.
        max_evals / max_seconds: budget in evaluations and/or simulated seconds.
        fidelity: epochs per evaluation.
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


@dataclass
class StudyResult:
    """What :func:`run_study` did."""

    out: Path
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    wall_s: float = math.nan


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


def run_dir(out: Path, cfg: RunConfig) -> Path:
    return Path(out) / "runs" / cfg.label / f"seed-{cfg.seed:06d}"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------ one run
class _NoiseSeeds:
    """The data seed each cell is answered with under one run seed (common random numbers)."""

    def __init__(self, bench: Benchmark, dataset: str, seed: int) -> None:
        self.bench, self.dataset, self.seed = bench, dataset, seed
        self.space = bench.space
        self._u: np.ndarray | None = None
        if self.space.size <= 10**7:
            self._u = make_rng(seed, "noise").integers(0, 2**62, size=self.space.size)
        self._avail: dict[int, tuple[int, ...] | None] = {}

    def __call__(self, arch: Any, index: int) -> int:
        avail = self._avail.get(index, ())
        if avail == ():
            avail = self._avail[index] = self.bench.data_seeds(arch, self.dataset)
        u = int(self._u[index]) if self._u is not None else stable_hash(self.seed, "noise",
                                                                        index)
        if avail is None:  # any seed allowed (surrogate noise draw, real training)
            return u % (2**31)
        if not avail:
            raise MissingDataError(f"no recorded run of {self.space.arch_id(arch)} on "
                                   f"{self.dataset!r}")
        return avail[u % len(avail)]


def execute_run(bench: Benchmark, cfg: RunConfig) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Run one configuration in memory.

    Returns:
        (records, result): one tuple per evaluation in :data:`RECORD_FIELDS` order, and the
        summary stored in the manifest's ``result``.
    """
    from algorithms import get_optimizer

    opt = get_optimizer(cfg.algorithm, **dict(cfg.params))
    space = bench.space
    opt.setup(space, make_rng(cfg.seed, "optimizer"))
    obj_metric = bench.metric(cfg.dataset, cfg.objective)
    maximize = obj_metric.direction is Direction.MAXIMIZE
    dataset, fid, objective, test_metric = cfg.dataset, cfg.fidelity, cfg.objective, cfg.test_metric
    noise = _NoiseSeeds(bench, dataset, cfg.seed) if cfg.noise == "seed" else None
    max_evals = cfg.max_evals if cfg.max_evals is not None else math.inf
    max_seconds = cfg.max_seconds if cfg.max_seconds is not None else math.inf
    query = bench.query
    means: dict[int, tuple[float, float]] = {}

    def mean_values(arch: Any, index: int) -> tuple[float, float]:
        mv = means.get(index)
        if mv is None:
            ev = query(arch, dataset=dataset, fidelity=fid)
            mv = means[index] = (ev.values[objective],
                                 ev.values[test_metric] if test_metric else math.nan)
        return mv

    records: list[tuple[Any, ...]] = []
    clock = 0.0
    best = -math.inf
    inc_index, inc_id, inc_obj = -1, "", math.nan
    inc_valid = inc_test = math.nan
    n = 0
    while n < max_evals and clock < max_seconds:
        trial = opt.ask()
        arch = trial.arch
        index = space.index(arch)
        data_seed = noise(arch, index) if noise is not None else None
        ev = query(arch, dataset=dataset, fidelity=trial.fidelity or fid, data_seed=data_seed)
        y = ev.values[objective]
        cost = ev.cost_s
        opt.tell(trial, TrialValue(y, cost, maximize))
        clock += cost if cost == cost else 0.0
        score = y if maximize else -y
        if score > best:  # NaN never improves
            best, inc_index, inc_id, inc_obj = score, index, ev.arch_id, y
            inc_valid, inc_test = mean_values(arch, index)
        records.append((n, ev.arch_id, index, ev.fidelity,
                        "" if data_seed is None else data_seed, y, cost, clock, inc_index,
                        inc_valid, inc_test))
        n += 1
    result = {"n_evals": n, "sim_time_s": clock, "incumbent_id": inc_id,
              "incumbent_index": inc_index, "incumbent_objective": inc_obj,
              "final_valid": inc_valid, "final_test": inc_test,
              "params": opt.get_params()}
    if cfg.transfer and inc_index >= 0:
        result["transfer"] = {ds: _transfer_values(bench, inc_index, ds, objective, test_metric)
                              for ds in cfg.transfer}
    return records, result


def _transfer_values(bench: Benchmark, index: int, dataset: str, objective: str,
                     test_metric: str | None) -> dict[str, float | None]:
    """Seed-mean objective and test values of a cell on another dataset (None where that
    dataset has no such metric, e.g. no validation split)."""
    ev = bench.query(index, dataset=dataset)
    return {"valid": ev.values.get(objective),
            "test": ev.values.get(test_metric) if test_metric else None}


def _records_csv(records: Sequence[tuple[Any, ...]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RECORD_FIELDS)
    w.writerows(records)
    return buf.getvalue()


def run_and_store(bench: Benchmark, cfg: RunConfig, out: Path,
                  bench_info: Mapping[str, Any]) -> tuple[str, str | None]:
    """Execute one run and write its folder; returns (status, error).  Never raises for a
    failure inside the run: it is recorded in the manifest."""
    d = run_dir(out, cfg)
    d.mkdir(parents=True, exist_ok=True)
    man = RunManifest(run_id=cfg.run_id, config=cfg.to_dict(), config_hash=cfg.config_hash(),
                      benchmark=dict(bench_info), versions=versions(),
                      seeds={"run": cfg.seed, "optimizer": derive_seed(cfg.seed, "optimizer"),
                             "noise": derive_seed(cfg.seed, "noise")},
                      status="running", started=_now())
    _atomic_write(d / "manifest.json", json.dumps(man.to_dict(), indent=1, default=str))
    t0 = time.perf_counter()
    try:
        records, result = execute_run(bench, cfg)
        _atomic_write(d / "records.csv", _records_csv(records))
        man.status, man.result = "done", result
    except Exception as e:  # recorded, not fatal
        man.status = "failed"
        man.error = f"{type(e).__name__}: {e}"
        man.result = {"traceback": traceback.format_exc(limit=8)}
    man.wall_s = time.perf_counter() - t0
    man.finished = _now()
    _atomic_write(d / "manifest.json", json.dumps(man.to_dict(), indent=1, default=_json_default))
    return man.status, man.error


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def run_status(out: Path, cfg: RunConfig) -> str | None:
    """``"done"`` if the run finished with this configuration, ``None`` if it has not run
    (or did not finish); raises if a run with a different configuration is in its place."""
    p = run_dir(out, cfg) / "manifest.json"
    if not p.is_file():
        return None
    try:
        man = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a torn manifest: run it again
    if man.get("config_hash") != cfg.config_hash():
        raise BenchmarkError(
            f"{p} holds run {cfg.run_id} with a different configuration "
            f"(hash {man.get('config_hash')} != {cfg.config_hash()}); refusing to mix them: "
            f"use another output folder")
    return "done" if man.get("status") == "done" else None


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
    epochs_of = getattr(bench, "metric_epochs", None)
    if epochs_of is not None and fid not in epochs_of(dataset, objective):
        raise BenchmarkError(f"objective {objective!r} on {dataset!r} is not recorded at epoch "
                             f"{fid}; recorded at epochs {list(epochs_of(dataset, objective))}")
    seeded = getattr(bench, "has_seed_values", None)
    if noise == "seed" and seeded is not None and not seeded(dataset, objective):
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
    from algorithms import get_optimizer

    if max_evals is None and max_seconds is None:
        raise ValueError("give a budget: max_evals and/or max_seconds")
    if max_evals is not None and (isinstance(max_evals, bool) or not isinstance(max_evals, int)
                                  or max_evals < 1):
        raise ValueError(f"max_evals must be an int >= 1, got {max_evals!r}")
    if max_seconds is not None and not (max_seconds > 0 and math.isfinite(max_seconds)):
        raise ValueError(f"max_seconds must be a finite number > 0, got {max_seconds!r}")
    if not seeds:
        raise ValueError("no seeds given")
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
        spec = dict(spec)
        name = spec.pop("algorithm", label)
        get_optimizer(name, **spec)._validate()  # fail before any run starts
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
                raise ValueError(f"seeds must be ints >= 0, got {s!r}")
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
        workers: processes for the local executor (``1``: in this process).
        executor: ``"local"`` (process pool) or ``"ray"`` (a Ray cluster; see
            :mod:`benchbench.executors`).
        progress: show a progress bar (tqdm) on stderr.
        command: the command line that started the study (recorded in ``study.json``).

    Scripts that use ``workers > 1`` need an ``if __name__ == "__main__":`` guard (the pool
    starts its processes with ``forkserver``).
    """
    from benchbench.executors import get_executor

    t0 = time.perf_counter()
    out = Path(out)
    configs = plan_study(bench, dataset=dataset, algorithms=algorithms, seeds=seeds,
                         max_evals=max_evals, max_seconds=max_seconds, fidelity=fidelity,
                         objective=objective, test_metric=test_metric, noise=noise,
                         transfer=transfer)
    desc = bench.describe()
    bench_info = {"name": desc.name, "version": desc.version, "kind": desc.kind,
                  "space": desc.space, "data_sha256": desc.data_sha256}
    fid = configs[0].fidelity
    study = {
        "benchmark": bench_info, "dataset": dataset, "objective": objective,
        "test_metric": test_metric, "fidelity": fid, "noise": noise,
        "budget": {"max_evals": max_evals, "max_seconds": max_seconds},
        "transfer": list(transfer),
    }
    _write_study(out, study, algorithms, seeds, command, bench)
    todo = [c for c in configs if run_status(out, c) != "done"]
    result = StudyResult(out=out, skipped=len(configs) - len(todo))
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="run", desc=f"{bench.name}/{dataset}", smoothing=0.1)
    done = 0
    try:
        for cfg, status, error in get_executor(executor, workers).map_runs(
                bench, todo, out, bench_info):
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
    _update_study_wall(out, result)
    return result


def _write_study(out: Path, study: dict[str, Any], algorithms: Mapping[str, Mapping[str, Any]],
                 seeds: Sequence[int], command: str | None, bench: Benchmark) -> None:
    """Write (or extend) ``study.json``; ``study`` holds the keys that must not change."""
    dataset, fid = study["dataset"], study["fidelity"]
    out.mkdir(parents=True, exist_ok=True)
    p = out / "study.json"
    old: dict[str, Any] = {}
    if p.is_file():
        old = json.loads(p.read_text())
        diff = [k for k in _STUDY_KEYS if json.dumps(old.get(k), sort_keys=True)
                != json.dumps(study[k], sort_keys=True)]
        if diff:
            raise BenchmarkError(
                f"{out} holds a study with a different {', '.join(diff)} "
                f"({'; '.join(f'{k}: {old.get(k)!r} vs {study[k]!r}' for k in diff)}); "
                f"its runs are not comparable with these: use another output folder")
    optimum = {}
    for key in ("objective", "test_metric"):
        metric = study[key]
        if metric is None:
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
           "created": old.get("created", _now()), "updated": _now(), "versions": versions(),
           "optimum": optimum, "wall_s_total": old.get("wall_s_total", 0.0)}
    _atomic_write(p, json.dumps(doc, indent=1, default=_json_default))


def _update_study_wall(out: Path, result: StudyResult) -> None:
    p = out / "study.json"
    doc = json.loads(p.read_text())
    doc["wall_s_total"] = float(doc.get("wall_s_total", 0.0)) + result.wall_s
    _atomic_write(p, json.dumps(doc, indent=1, default=_json_default))
