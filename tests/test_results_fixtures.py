"""Study folders written in the runner's layout from REAL NAS-Bench-201 values.

Used by the results tests where the runner cannot help: runs that record cross-dataset
transfer values (``manifest.result["transfer"]``), which the runner does not write yet.
Each evaluation answers with one recorded training run's validation accuracy (noise "seed",
common random numbers within a run seed), costs the recorded 200-epoch training time, and
the incumbent (best by what the optimizer saw) is reported with its seed-mean
validation and test values, exactly as the runner's contract says.  Nothing here is invented:
every number is a row of ../shared/data/nb201/nb201_table.csv.gz.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchbench.rng import make_rng
from benchbench.spaces import NB201Space
from benchbench.trial import RECORD_FIELDS

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


def _indices(table: Table, alg: str, params: dict[str, Any], dataset: str, seed: int,
             n: int) -> np.ndarray:
    """The official indices an algorithm evaluates, in order (a few simple real strategies)."""
    rng = make_rng(seed, "fixture", alg)
    if alg == "random":
        return rng.integers(0, table.n, n)
    if alg == "local":  # hill climbing on the observed value with NB201Space.mutate
        space, col = NB201Space(), table.cols[dataset]
        cur = space.sample(rng)
        cur_v = -np.inf
        out = []
        for _ in range(n):
            cand = space.mutate(cur, rng) if out else cur
            i = space.index(cand)
            v = col["per_seed"][i, _data_seed(seed, i, int(col["n_seeds"][i]))]
            out.append(i)
            if v > cur_v:
                cur, cur_v = cand, v
        return np.asarray(out)
    raise ValueError(f"unknown fixture algorithm {alg!r}")


def _data_seed(seed: int, index: np.ndarray | int, n_seeds: np.ndarray | int) -> np.ndarray:
    """Common random numbers: within one run seed, an arch always answers with the same run."""
    return (np.asarray(index) * 7919 + seed * 104729) % np.asarray(n_seeds)


def write_run(root: Path, table: Table, *, dataset: str, alg: str, params: dict[str, Any],
              seed: int, max_evals: int, transfer: bool = False) -> Path:
    """One finished run folder (``transfer``: record the incumbent on the other datasets)."""
    c = DATASETS[dataset]
    col = table.cols[dataset]
    idx = _indices(table, alg, params, dataset, seed, max_evals)
    ds = _data_seed(seed, idx, col["n_seeds"][idx])
    obs = col["per_seed"][idx, ds]
    cost = col["time"][idx]
    clock = np.cumsum(cost)
    better = np.r_[True, obs[1:] > np.maximum.accumulate(obs)[:-1]]
    pos = np.maximum.accumulate(np.where(better, np.arange(idx.size), 0))
    inc = idx[pos]
    space = NB201Space()
    rec = pd.DataFrame({
        "eval": np.arange(idx.size), "arch_id": [space.format(space.from_index(int(i)))
                                                 for i in idx],
        "arch_index": idx, "fidelity": 200, "data_seed": ds, "objective": obs, "cost_s": cost,
        "sim_time_s": clock, "incumbent_index": inc, "incumbent_valid": col["valid"][inc],
        "incumbent_test": col["test"][inc]})[list(RECORD_FIELDS)]
    config = {"benchmark": "nb201", "dataset": dataset, "algorithm": alg, "params": params,
              "seed": seed, "max_evals": max_evals, "max_seconds": None,
              "fidelity": 200, "objective": c["objective"], "test_metric": c["test_metric"],
              "noise": "seed"}
    chash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    result: dict[str, Any] = {
        "n_evals": int(idx.size), "sim_time_s": float(clock[-1]),
        "incumbent_id": rec["arch_id"].iat[int(pos[-1])], "incumbent_index": int(inc[-1]),
        "incumbent_objective": float(obs[pos[-1]]), "final_valid": float(col["valid"][inc[-1]]),
        "final_test": float(col["test"][inc[-1]])}
    if transfer:
        result["transfer"] = {d: {"valid": float(table.cols[d]["valid"][inc[-1]]),
                                  "test": float(table.cols[d]["test"][inc[-1]])}
                              for d in DATASETS if d != dataset}
    manifest = {"run_id": f"{alg}/seed-{seed:06d}", "config": config, "config_hash": chash,
                "benchmark": {"name": "nb201", "data_sha256": "f" * 64},
                "versions": {"benchbench": "0.1.0"}, "seeds": {"run": seed},
                "status": "done", "error": None,
                "started": "2025-01-01T00:00:00", "finished": "2025-01-01T00:00:02",
                "wall_s": 2.0 + 0.001 * seed, "result": result}
    d = root / "runs" / alg / f"seed-{seed:06d}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_text(json.dumps(manifest))
    rec.to_csv(d / "records.csv", index=False)
    return d


def write_study(root: Path, table: Table, *, dataset: str = "cifar10-valid",
                algorithms: dict[str, dict[str, Any]] | None = None,
                seeds: list[int] | tuple[int, ...] = tuple(range(10)), max_evals: int = 60,
                transfer: bool = False) -> Path:
    """A complete study folder with every run done."""
    algorithms = dict(ALGORITHMS if algorithms is None else algorithms)
    c, col = DATASETS[dataset], table.cols[dataset]
    ibest, tbest = int(np.nanargmax(col["valid"])), int(np.nanargmax(col["test"]))
    metrics = [{"name": c["objective"], "split": "valid", "direction": "max", "unit": "%"},
               {"name": c["test_metric"], "split": "test", "direction": "max", "unit": "%"}]
    spec = {"command": f"benchbench run --dataset {dataset} --max-evals {max_evals}",
            "created": "2025-01-01T00:00:00",
            "benchmark": {"name": "nb201", "version": "1.0", "kind": "tabular", "space": "nb201",
                          "data_sha256": "f" * 64, "datasets": {dataset: metrics}},
            "dataset": dataset, "objective": c["objective"], "test_metric": c["test_metric"],
            "fidelity": 200, "noise": "seed", "budget": {"max_evals": max_evals,
                                                         "max_seconds": None},
            "algorithms": algorithms, "seeds": list(seeds),
            "versions": {"python": "3.x", "benchbench": "0.1.0"},
            "optimum": {"objective": {"value": float(col["valid"][ibest]), "arch_id": str(ibest)},
                        "test_metric": {"value": float(col["test"][tbest]),
                                        "arch_id": str(tbest)}}}
    if transfer:
        spec["transfer"] = [d for d in DATASETS if d != dataset]
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.json").write_text(json.dumps(spec, indent=1))
    for alg, params in algorithms.items():
        for s in seeds:
            write_run(root, table, dataset=dataset, alg=alg, params=params, seed=s,
                      max_evals=max_evals, transfer=transfer)
    return root
