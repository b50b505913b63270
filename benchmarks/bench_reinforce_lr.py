"""REINFORCE's learning rate on NB201 CIFAR-10-valid: search result and how far the policy
moves in 150 evaluations.

    python benchmarks/bench_reinforce_lr.py [--seeds 200] [--evals 150] [--workers 2]
                                            [--lrs 0.001,0.01,0.1,0.5]

The learning rates are the published ones: 0.01 (NATS-Bench, ``exps/NATS-algos/reinforce.py``
as run by ``run-all.sh``: benchbench's default), 0.5 (NB201's README reproduction command,
``scripts-search/algos/REINFORCE.sh 0.5 -1``), 0.001 (the header of NB201's ``REINFORCE.sh``,
benchbench's default before issue 9), and 0.1 between them.  Everything else is the
NATS-Bench script's (Adam, EMA baseline 0.9, logits ``1e-3 * randn``).

Each (learning rate, seed) is one run of :func:`benchbench.runner.run_study` on the real NB201
table (``../shared/data/nb201/nb201_table.csv.gz``, imported into a temporary data root):
dataset ``cifar10-valid``, objective ``valid_acc``, the runner's default noise (each query
answers with one recorded training run chosen by the seed; common random numbers).  Printed
per learning rate, mean ± standard error over the seeds:

* final valid / test: the final incumbent's seed-mean validation and test accuracy (%);
* valid held-out: the incumbent's validation accuracy averaged over the recorded training
  runs that did not select it (``incumbent_valid_heldout``);
* max p: the largest op probability of the policy after the run (mean over seeds; 0.2 is
  uniform).  It is read by replaying each run: a fresh ``Reinforce`` with the run's
  parameters and optimizer generator is asked and told the recorded evaluations (every ask
  is checked against the record), then :meth:`~algorithms.Reinforce.probabilities` is read.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_algorithms import (  # the same table helpers (benchmarks/ is on sys.path)
    mean_se,
    study_settings,
)

import tabular_data
from algorithms import Reinforce
from benchbench._run import optimizer_rng
from benchbench.registry import open_benchmark
from benchbench.runner import run_study
from benchbench.store import RunFiles, StudyStore
from benchbench.trial import TrialValue

TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201" / "nb201_table.csv.gz"
DATASET = "cifar10-valid"


def replay_max_probability(store: StudyStore, run: RunFiles, params: dict[str, Any],
                           space: Any) -> float:
    """Largest policy probability after replaying one finished run (asks must match)."""
    df = store.read_records(run)
    opt = Reinforce(**params)
    opt.setup(space, optimizer_rng(run.seed, DATASET))
    for arch_id, objective, cost in zip(df["arch_id"], df["objective"], df["cost_s"]):
        trial = opt.ask()
        if opt.space.arch_id(trial.arch) != arch_id:
            raise RuntimeError(f"replay of {run.rel} diverged from its records")
        opt.tell(trial, TrialValue(float(objective), float(cost), True))
    return float(opt.probabilities().max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--evals", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lrs", default="0.001,0.01,0.1,0.5")
    args = ap.parse_args()
    if not TABLE.is_file():
        sys.exit(f"{TABLE} not found (the real NB201 table, ../shared/data beside the repo)")
    lrs = [float(x) for x in args.lrs.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-reinforce-"))
    tabular_data.import_nb201(TABLE, name="nb201-flat", root=tmp)
    bench = open_benchmark("nb201-flat", data_root=tmp)
    algos = {f"reinforce-lr{lr:g}": {"algorithm": "reinforce", "learning_rate": lr}
             for lr in lrs}
    t0 = time.perf_counter()
    res = run_study(bench, tmp / "study", dataset=DATASET, algorithms=algos,
                    seeds=range(args.seeds), max_evals=args.evals, workers=args.workers)
    wall = time.perf_counter() - t0
    if res.failed:
        sys.exit(f"{res.failed} runs failed: {res.failures[:3]}")
    store = StudyStore(tmp / "study")
    settings = study_settings(store)
    rows: dict[str, dict[str, list[float]]] = {
        a: {"valid": [], "test": [], "valid_ho": [], "p": []} for a in algos}
    for run in store.iter_runs():
        last = store.read_records(run).iloc[-1]
        r = rows[run.label]
        r["valid"].append(last["incumbent_valid"])
        r["test"].append(last["incumbent_test"])
        r["valid_ho"].append(last["incumbent_valid_heldout"])
        params = {k: v for k, v in algos[run.label].items() if k != "algorithm"}
        r["p"].append(replay_max_probability(store, run, params, bench.space))
    opt_valid = bench.optimum("valid_acc", dataset=DATASET)
    print(f"REINFORCE on NB201 {DATASET}, {args.evals} evaluations, {args.seeds} seeds "
          f"({settings}); mean ± s.e. over seeds; optimum valid {opt_valid.value:.3f}")
    print(f"{'learning rate':<15}{'final valid':>17}{'valid held-out':>17}{'final test':>17}"
          f"{'max p':>8}")
    for lr, r in zip(lrs, rows.values()):
        tag = {0.01: " (default, NATS-Bench)", 0.5: " (NB201 README)",
               0.001: " (NB201 .sh header)"}.get(lr, "")
        print(f"{lr:<15g}{mean_se(np.array(r['valid'])):>17}"
              f"{mean_se(np.array(r['valid_ho'])):>17}{mean_se(np.array(r['test'])):>17}"
              f"{np.mean(r['p']):>8.3f}{tag}")
    print(f"({len(lrs) * args.seeds} runs in {wall:.0f} s with {args.workers} workers; "
          f"max p = largest op probability of the final policy, 0.2 = uniform)")


if __name__ == "__main__":
    main()
