"""Study folders from REAL NAS-Bench-201 values, written through ``benchbench.store``.

Used by the results tests where the runner cannot help or should not be the only writer:
settings the registered NB201 backend does not offer as a search objective (e.g. minimising
the parameter count), folders without a ``study.json``, the 0.1 layout, and a second,
independent implementation of the runner's contract to check the reader against.

Each evaluation answers with one recorded training run's validation accuracy (noise "crn",
common random numbers within a run seed) or, for metrics the table has as seed means only,
with the seed mean (noise "mean"); it costs the recorded 200-epoch training time, and the
incumbent (best by what the optimizer saw, in the objective's own direction) is reported
with its seed-mean objective and test values, exactly as the runner's contract says.
Nothing here is invented: every number is a row of ../shared/data/nb201/nb201_table.csv.gz.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchbench.rng import make_rng
from benchbench.spaces import NB201Space
from benchbench.store import StudyStore
from benchbench.trial import RECORD_FIELDS, RunManifest

#: dataset -> (objective column, its per-seed column, test column, time column, metric names)
DATASETS: dict[str, dict[str, str]] = {
    "cifar10-valid": dict(valid="c10v_valid_acc", seeds="c10v_valid_acc_seeds",
                          test="c10v_test_acc", time="c10v_train_time_s",
                          objective="valid_acc", test_metric="test_acc"),
    "cifar100": dict(valid="c100_valtest_acc_mean", seeds="c100_valtest_acc_seeds",
                     test="c100_test_acc_single", time="c100_train_time_s",
                     objective="valtest_acc", test_metric="xtest_acc_single"),
    "ImageNet16-120": dict(valid="in16_valtest_acc_mean", seeds="in16_valtest_acc_seeds",
                           test="in16_test_acc_single", time="in16_train_time_s",
                           objective="valtest_acc", test_metric="xtest_acc_single"),
}
#: Other metrics of cifar10-valid (seed means only): column, split, direction, unit.
EXTRA_METRICS: dict[str, tuple[str, str | None, str, str]] = {
    "valid_loss": ("c10v_valid_loss", "valid", "min", "nats"),
    "test_loss": ("c10v_test_loss", "test", "min", "nats"),
    "params_mb": ("c10v_params_mb", None, "min", "M"),
}
ALGORITHMS: dict[str, dict[str, Any]] = {"random": {}, "local": {"restart": 0}}


class Table:
    """The NB201 table as arrays: seed-mean valid/test, per-seed valid, training times."""

    def __init__(self, path: Path) -> None:
        df = pd.read_csv(path)
        self.df = df
        self.n = len(df)
        self.cols: dict[str, dict[str, np.ndarray]] = {}
        for ds, c in DATASETS.items():
            seeds = df[c["seeds"]].astype(str).str.split(";")
            width = int(seeds.map(len).max())
            per = np.full((self.n, width), np.nan)
            for i, vals in enumerate(seeds):
                per[i, :len(vals)] = np.asarray(vals, dtype=float)
            self.cols[ds] = {"valid": df[c["valid"]].to_numpy(float),
                             "test": df[c["test"]].to_numpy(float),
                             "time": df[c["time"]].to_numpy(float), "per_seed": per,
                             "n_seeds": (~np.isnan(per)).sum(axis=1)}


_TABLE: dict[Path, Table] = {}


def nb201_table(shared_data: Path) -> Table:
    path = shared_data / "nb201" / "nb201_table.csv.gz"
    if not path.exists():
        pytest.skip(f"real benchmark data not found at {path}")
    if path not in _TABLE:
        _TABLE[path] = Table(path)
    return _TABLE[path]


@dataclass(frozen=True)
class Setting:
    """What one study searches and reports, as arrays over the 15,625 cells.

    ``per_seed`` is ``None`` when the objective has seed means only (noise "mean")."""

    dataset: str
    objective: str
    test_metric: str
    valid: np.ndarray
    test: np.ndarray
    time: np.ndarray
    per_seed: np.ndarray | None
    n_seeds: np.ndarray
    metrics: tuple[dict[str, Any], ...]

    @property
    def maximize(self) -> bool:
        return self.metrics[0]["direction"] == "max"

    @property
    def maximize_test(self) -> bool:
        return self.metrics[1]["direction"] == "max"

    @property
    def noise(self) -> str:
        return "crn" if self.per_seed is not None else "mean"

    @property
    def test_objective(self) -> bool:
        """Whether the objective is measured on test images (NB201's ``valtest``)."""
        return self.metrics[0]["split"] in ("test", "valtest")


def _metric(name: str, split: str | None, direction: str, unit: str) -> dict[str, Any]:
    return {"name": name, "split": split, "direction": direction, "lower": -math.inf,
            "upper": math.inf, "unit": unit, "description": f"NB201 table ({name})"}


def setting(table: Table, dataset: str = "cifar10-valid", *, objective: str | None = None,
            test_metric: str | None = None) -> Setting:
    """The default (accuracy) setting of ``dataset``, or on cifar10-valid an objective and
    test metric among ``valid_acc``, ``test_acc`` and :data:`EXTRA_METRICS`."""
    c, col = DATASETS[dataset], table.cols[dataset]
    objective = objective or c["objective"]
    test_metric = test_metric or c["test_metric"]
    split = "valid" if dataset == "cifar10-valid" else "valtest"
    valid, per_seed = col["valid"], col["per_seed"]
    obj_metric = _metric(c["objective"], split, "max", "%")
    if objective != c["objective"]:
        column, msplit, direction, unit = EXTRA_METRICS[objective]
        valid, per_seed = table.df[column].to_numpy(float), None
        obj_metric = _metric(objective, msplit, direction, unit)
    test, test_m = col["test"], _metric(c["test_metric"], "test", "max", "%")
    if test_metric != c["test_metric"]:
        column, msplit, direction, unit = EXTRA_METRICS[test_metric]
        test, test_m = table.df[column].to_numpy(float), _metric(test_metric, msplit,
                                                                 direction, unit)
    return Setting(dataset, objective, test_metric, valid, test, col["time"], per_seed,
                   col["n_seeds"], (obj_metric, test_m))


def _data_seed(seed: int, index: np.ndarray | int, n_seeds: np.ndarray | int) -> np.ndarray:
    """Common random numbers: within one run seed, an arch always answers with the same run."""
    return np.asarray((np.asarray(index) * 7919 + seed * 104729) % np.asarray(n_seeds))


def _observe(st: Setting, seed: int, idx: np.ndarray) -> np.ndarray:
    """What the optimizer sees for cells ``idx`` under run ``seed``."""
    if st.per_seed is None:
        return st.valid[idx]
    return st.per_seed[idx, _data_seed(seed, idx, st.n_seeds[idx])]


def _indices(table: Table, st: Setting, alg: str, seed: int, n: int) -> np.ndarray:
    """The official indices an algorithm evaluates, in order (a few simple real strategies)."""
    rng = make_rng(seed, "fixture", alg)
    if alg == "random":
        return rng.integers(0, table.n, n)
    if alg == "local":  # hill climbing on the observed value with NB201Space.mutate
        space, sign = NB201Space(), 1.0 if st.maximize else -1.0
        cur = space.sample(rng)
        cur_v = -np.inf
        out = []
        for _ in range(n):
            cand = space.mutate(cur, rng) if out else cur
            i = space.index(cand)
            v = sign * float(_observe(st, seed, np.array([i]))[0])
            out.append(i)
            if v > cur_v:
                cur, cur_v = cand, v
        return np.asarray(out)
    raise ValueError(f"unknown fixture algorithm {alg!r}")


@dataclass(frozen=True)
class SimulatedRun:
    """One run's records (``RECORD_FIELDS`` columns), its config and its manifest result."""

    records: pd.DataFrame
    config: dict[str, Any]
    result: dict[str, Any]


def simulate_run(table: Table, st: Setting, *, alg: str, params: Mapping[str, Any], seed: int,
                 max_evals: int, transfer: bool = False, enumerable: bool = True,
                 diverged_first: bool = False) -> SimulatedRun:
    """Run the contract of :mod:`benchbench.runner` by hand on the table's arrays.

    ``enumerable=False``: no indices, as the runner records a space without enumeration.
    ``diverged_first``: the first evaluation's training diverged (objective NaN), so the run
    has no incumbent until its second evaluation (NaN never improves)."""
    idx = _indices(table, st, alg, seed, max_evals)
    obs = _observe(st, seed, idx).astype(float)
    if diverged_first:
        obs[0] = math.nan
    ds = (_data_seed(seed, idx, st.n_seeds[idx]) if st.per_seed is not None
          else np.full(idx.size, pd.NA))
    score = np.where(np.isnan(obs), -np.inf, obs if st.maximize else -obs)
    cost = st.time[idx]
    clock = np.cumsum(cost)
    n = idx.size
    better = score > np.r_[-np.inf, np.maximum.accumulate(score)[:-1]]
    pos = np.maximum.accumulate(np.where(better, np.arange(n), -1))  # -1: no incumbent yet
    has = pos >= 0
    inc = idx[np.maximum(pos, 0)]
    space = NB201Space()
    ids = np.array([space.format(space.from_index(int(i))) for i in idx])
    rec = pd.DataFrame({
        "eval": np.arange(n), "arch_id": ids,
        "arch_index": pd.array(idx if enumerable else [pd.NA] * n, dtype="Int64"),
        "fidelity": 200, "data_seed": ds, "objective": obs, "cost_s": cost,
        "sim_time_s": clock,
        "incumbent_index": pd.Series(inc, dtype="Int64").where(has & enumerable, pd.NA),
        "incumbent_valid": np.where(has, st.valid[inc], np.nan),
        "incumbent_test": np.where(has, st.test[inc], np.nan),
        "incumbent_id": np.where(has, ids[np.maximum(pos, 0)], "")})
    # in RECORD_FIELDS order; a column this fixture does not simulate is NaN
    rec = rec.reindex(columns=list(RECORD_FIELDS))
    last = int(pos[-1])
    config = {"benchmark": "nb201", "data_sha256": "f" * 64, "dataset": st.dataset,
              "label": alg, "algorithm": alg, "params": dict(params), "seed": seed,
              "max_evals": max_evals, "max_seconds": None, "fidelity": 200,
              "objective": st.objective, "test_metric": st.test_metric, "noise": st.noise,
              "report_benchmark": None, "report_fidelity": None, "cost": "train",
              "repeats": "charge", "budget_crossing": "keep",
              "allow_test_objective": st.test_objective, "protocol": None}
    result: dict[str, Any] = {
        "n_evals": int(n), "sim_time_s": float(clock[-1]),
        "incumbent_id": str(ids[last]),
        "incumbent_index": int(inc[-1]) if enumerable else -1,
        "incumbent_objective": float(obs[last]), "final_valid": float(st.valid[inc[-1]]),
        "final_test": float(st.test[inc[-1]]), "params": dict(params),
        "distinct_cells": int(np.unique(idx).size)}
    if transfer:
        config["transfer"] = [d for d in DATASETS if d != st.dataset]
        result["transfer"] = {d: {"valid": float(table.cols[d]["valid"][inc[-1]]),
                                  "test": float(table.cols[d]["test"][inc[-1]])}
                              for d in DATASETS if d != st.dataset}
    return SimulatedRun(rec, config, result)


def csv_rows(records: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Records as CSV rows (NA written as an empty field, as the runner does)."""
    return [tuple("" if v is pd.NA else v for v in r)
            for r in records.astype(object).itertuples(index=False, name=None)]


def bench_info(st: Setting | None = None) -> dict[str, Any]:
    """The manifest's / study's ``benchmark`` entry (``st``: also the metrics, with their
    directions, as a manifest may record them)."""
    info: dict[str, Any] = {"name": "nb201", "version": "1.0", "kind": "tabular",
                            "space": "nb201", "data_sha256": "f" * 64}
    if st is not None:
        info["metrics"] = [dict(m) for m in st.metrics]
    return info


def write_run(root: Path, table: Table, st: Setting, *, alg: str, params: dict[str, Any],
              seed: int, max_evals: int, transfer: bool = False,
              metrics_in_manifest: bool = False, enumerable: bool = True) -> Path:
    """One finished run folder, written through :class:`benchbench.store.StudyStore`
    (``transfer``: record the incumbent on the other datasets; ``metrics_in_manifest``:
    record the metrics and their directions in the manifest's ``benchmark`` entry)."""
    run = simulate_run(table, st, alg=alg, params=params, seed=seed, max_evals=max_evals,
                       transfer=transfer, enumerable=enumerable)
    store = StudyStore(root)
    sha = store.write_records(csv_rows(run.records), alg, seed)
    chash = hashlib.sha256(json.dumps(run.config, sort_keys=True).encode()).hexdigest()[:16]
    man = RunManifest(run_id=f"{alg}/seed-{seed:06d}", config=run.config, config_hash=chash,
                      benchmark=bench_info(st if metrics_in_manifest else None),
                      versions={"benchbench": "0.2.0"}, seeds={"run": seed}, status="done",
                      started="2025-01-01T00:00:00", finished="2025-01-01T00:00:02",
                      wall_s=2.0 + 0.001 * seed, result=run.result, records_sha256=sha)
    store.write_manifest(man, alg, seed)
    return store.run_path(alg, seed)


def study_spec(table: Table, st: Setting, *, algorithms: Mapping[str, Mapping[str, Any]],
               seeds: Sequence[int], max_evals: int, transfer: bool = False
               ) -> dict[str, Any]:
    """``study.json`` content for a study of ``st`` (optimum: best in each metric's own
    direction)."""
    best = np.nanargmax if st.maximize else np.nanargmin
    best_t = np.nanargmax if st.maximize_test else np.nanargmin
    ibest, tbest = int(best(st.valid)), int(best_t(st.test))
    spec: dict[str, Any] = {
        "command": f"benchbench run --dataset {st.dataset} --max-evals {max_evals}",
        "commands": [f"benchbench run --dataset {st.dataset} --max-evals {max_evals}"],
        "created": "2025-01-01T00:00:00", "benchmark": bench_info(),
        "dataset": st.dataset, "objective": st.objective, "test_metric": st.test_metric,
        "fidelity": 200, "noise": st.noise,
        "budget": {"max_evals": max_evals, "max_seconds": None},
        "search": {"protocol": None, "cost": "train", "repeats": "charge",
                   "budget_crossing": "keep", "allow_test_objective": st.test_objective,
                   "report_benchmark": None, "report_fidelity": 200},
        "transfer": [d for d in DATASETS if d != st.dataset] if transfer else [],
        "metrics": [dict(m) for m in st.metrics],
        "algorithms": {a: dict(p) for a, p in algorithms.items()}, "seeds": list(seeds),
        "versions": {"python": "3.x", "benchbench": "0.2.0"},
        "optimum": {"objective": {"metric": st.objective, "value": float(st.valid[ibest]),
                                  "arch_id": str(ibest)},
                    "test_metric": {"metric": st.test_metric, "value": float(st.test[tbest]),
                                    "arch_id": str(tbest)}}}
    return spec


def write_study(root: Path, table: Table, *, dataset: str = "cifar10-valid",
                algorithms: dict[str, dict[str, Any]] | None = None,
                seeds: Sequence[int] = tuple(range(10)), max_evals: int = 60,
                transfer: bool = False, objective: str | None = None,
                test_metric: str | None = None, with_spec: bool = True,
                metrics_in_manifest: bool = False, enumerable: bool = True) -> Path:
    """A complete study folder with every run done, written through the store
    (``with_spec=False``: no ``study.json``; see :func:`write_run` for the others)."""
    algorithms = dict(ALGORITHMS if algorithms is None else algorithms)
    st = setting(table, dataset, objective=objective, test_metric=test_metric)
    if with_spec:
        StudyStore(root).write_spec(study_spec(table, st, algorithms=algorithms, seeds=seeds,
                                               max_evals=max_evals, transfer=transfer))
    for alg, params in algorithms.items():
        for s in seeds:
            write_run(root, table, st, alg=alg, params=params, seed=s, max_evals=max_evals,
                      transfer=transfer, metrics_in_manifest=metrics_in_manifest,
                      enumerable=enumerable)
    return root
