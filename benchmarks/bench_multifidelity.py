"""Multi-fidelity and parallel search in simulated time on the embedded ``nb201-digits`` table.

    python benchmarks/bench_multifidelity.py [--seeds 100] [--workers 2] [--gpu-hours 200]
                                             [--speedup-seeds 30] [--skip-study]

Prints three tables:

1. **Study**: RS, RE, Hyperband, BOHB and ASHA (defaults), 4 asynchronous simulated workers,
   ``--seeds`` seeds each, ``--gpu-hours`` simulated GPU-hours of compute per run; the real wall
   time of the study (``run_study(..., workers=--workers)``, records written) and the anytime
   regret of the incumbent's seed-mean validation accuracy (accuracy points below the table's
   best cell, 95.75) against the simulated wall clock: mean and 95% bootstrap CI over seeds.
2. **Speed-up** from 1 to 4 to 16 simulated workers, per method, at the same compute
   (``--speedup-seeds`` seeds): the median simulated wall clock to reach a fixed regret and
   the regret at a fixed wall clock.
3. **Event-loop overhead** per evaluation (µs): one run through the sequential path against
   the same run through the event loop with one worker (identical records) and with 4.

**Budget units.**  The digits table's ``cost_s`` is the measured CPU seconds of training a
tiny network on 384 digits images (≈0.85 s for 12 epochs on average), not GPU time on
CIFAR-10.  "200 GPU-hours" is therefore scaled as *the same number of full-fidelity
trainings*: NB201 trains a cell for 200 epochs on CIFAR-10-valid in 1,828 s on average
(``c10v_train_time_s`` of the 15,625 cells in ``../shared/data/nb201/nb201_table.csv.gz``;
this constant is used when that file is absent), so 200 GPU-hours ≈ 394 full trainings, and
a run gets 394 × (mean 12-epoch cost of the digits table) ≈ 334 s of *compute*.  With K
workers the simulated wall-clock budget (``max_seconds``) is compute / K: 200 GPU-hours on 4
GPUs end after 50 hours.  Times below are printed in these scaled hours (1 h = 394 / 200
full trainings' worth of wall clock per worker).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.registry import open_benchmark
from benchbench.runner import plan_study, run_study

NB201_FULL_TRAIN_S = 1827.99  # mean c10v_train_time_s, 200 epochs (see the docstring)
METHODS = {"rs": {}, "re": {}, "hyperband": {}, "bohb": {}, "asha": {}}
FLAT = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201" / "nb201_table.csv.gz"


def nb201_full_train_s() -> float:
    if FLAT.exists():
        import pandas as pd

        return float(pd.read_csv(FLAT, usecols=["c10v_train_time_s"])["c10v_train_time_s"].mean())
    return NB201_FULL_TRAIN_S


def budget(bench: Any, gpu_hours: float) -> tuple[float, float, float]:
    """(compute seconds on the digits table, full trainings, digits seconds per GPU-hour)."""
    space = bench.space
    archs = [space.from_index(i) for i in range(space.size)]
    costs = [bench.query_many(archs, dataset="digits", fidelity=12, data_seed=s).cost_s
             for s in (0, 1)]
    mean_full = float(np.nanmean(np.concatenate(costs)))
    n_full = gpu_hours * 3600.0 / nb201_full_train_s()
    return n_full * mean_full, n_full, n_full * mean_full / gpu_hours


def _ci(v: np.ndarray) -> str:
    from results import bootstrap_ci

    v = v[~np.isnan(v)]
    if not v.size:
        return "–"
    lo, hi = bootstrap_ci(v, np.random.default_rng(0), n_boot=1000)
    return f"{v.mean():.2f} [{lo:.2f}, {hi:.2f}]"


def table_study(bench: Any, args: argparse.Namespace, compute_s: float, per_hour: float,
                out: Path) -> None:
    from results import load_study, regret_vs_simtime

    k = 4
    wall = compute_s / k
    cpu = _cpu_per_seed(bench, wall, k, args.cpu_seeds)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = run_study(bench, out, dataset="digits", algorithms=METHODS,
                    seeds=range(args.seeds), max_seconds=wall, sim_workers=k,
                    workers=args.workers)
    real = time.perf_counter() - t0
    study = load_study(out)
    n_evals = {a: int(r.n_evals.sum()) for a, r in study.runs.items()}
    hours = np.array([0.05, 0.1, 0.25, 0.5, 1.0]) * wall / per_hour
    curve = regret_vs_simtime(study, grid=hours * per_hour, n_boot=1000)
    print(f"\n## 1. Study: 5 methods x {args.seeds} seeds, {k} async simulated workers, "
          f"{args.gpu_hours:g} GPU-hours of compute each ({wall:.1f} s simulated wall clock "
          f"on the digits table)\n")
    print(f"real wall time: {real:.1f} s with --workers {args.workers} ({res.done} runs done, "
          f"{res.failed} failed, {res.skipped} skipped; 1-min load average {load:.1f} on "
          f"{os.cpu_count()} cores when it started); evaluations: "
          + ", ".join(f"{a} {n:,}" for a, n in n_evals.items()))
    total = sum(cpu.values()) * args.seeds
    print(f"CPU per run, in one process ({args.cpu_seeds} seeds, process time): "
          + ", ".join(f"{a} {c * 1e3:.0f} ms" for a, c in cpu.items())
          + f"; the study's {len(METHODS) * args.seeds} runs = {total:.1f} CPU-s, "
          f"{total / args.workers:.1f} s on {args.workers} idle cores (pool start-up not "
          f"included)")
    print("\nregret of the incumbent's seed-mean valid_acc (accuracy points below 95.75), "
          "mean [95% bootstrap CI] over seeds, at simulated wall clock (scaled hours):\n")
    print("| method | " + " | ".join(f"{h:.1f} h" for h in hours) + " |")
    print("|---|" + "---|" * len(hours))
    for m in curve.mean:
        cells = []
        for j in range(len(hours)):
            v = curve.values[m][:, j]
            miss = int(np.isnan(v).sum())
            cells.append(f"{_ci(v)}" + (f" ({miss} runs: none yet)" if miss else ""))
        print(f"| {m} | " + " | ".join(cells) + " |")


def _cpu_per_seed(bench: Any, wall: float, k: int, n: int) -> dict[str, float]:
    """CPU seconds per run of each method (mean over ``n`` seeds, one process, warm table)."""
    from benchbench.runner import execute_run_full

    out = {}
    for algo in METHODS:
        cfgs = plan_study(bench, dataset="digits", algorithms={algo: {}},
                          seeds=range(1000, 1000 + n + 1), max_seconds=wall, sim_workers=k)
        execute_run_full(bench, cfgs[0])  # warm-up
        t = time.process_time()
        for c in cfgs[1:]:
            execute_run_full(bench, c)
        out[algo] = (time.process_time() - t) / n
    return out


def table_speedup(bench: Any, args: argparse.Namespace, compute_s: float, per_hour: float,
                  tmp: Path) -> None:
    from results import load_study, regret_vs_simtime, time_to_regret

    ks = (1, 4, 16)
    target = args.target
    fixed = compute_s / 16  # the 16-worker budget: every K has run this long
    rows: dict[str, dict[int, tuple[float, float, float]]] = {m: {} for m in METHODS}
    walls = {}
    for k in ks:
        out = tmp / f"speedup-{k}"
        t0 = time.perf_counter()
        run_study(bench, out, dataset="digits", algorithms=METHODS,
                  seeds=range(args.speedup_seeds), max_seconds=compute_s / k, sim_workers=k,
                  workers=args.workers)
        walls[k] = time.perf_counter() - t0
        study = load_study(out)
        ttr = time_to_regret(study, target)
        at = regret_vs_simtime(study, grid=np.array([fixed]), n_boot=200)
        for m in METHODS:
            t = ttr[m]
            reached = float(np.mean(np.isfinite(t)))
            med = float(np.median(t)) if reached >= 0.5 else math.inf
            rows[m][k] = (med, reached, float(np.nanmean(at.values[m][:, 0])))
    print(f"\n## 2. Speed-up in simulated wall clock, 1 / 4 / 16 async workers, "
          f"{args.speedup_seeds} seeds, same compute ({args.gpu_hours:g} GPU-hours)\n")
    print(f"median simulated hours to reach regret <= {target} accuracy points (share of runs "
          f"that reach it), speed-up against 1 worker; and mean regret after "
          f"{fixed / per_hour:.1f} h (the 16-worker budget). Real time: "
          + ", ".join(f"K={k} {w:.1f} s" for k, w in walls.items()) + "\n")
    print("| method | " + " | ".join(f"K={k}: hours (reached)" for k in ks)
          + " | speed-up 1→4 | speed-up 1→16 | " + " | ".join(f"regret K={k}" for k in ks)
          + " |")
    print("|---|" + "---|" * (2 * len(ks) + 2))
    for m, r in rows.items():
        print(f"| {m} | " + " | ".join(_hours(r[k], per_hour) for k in ks)
              + f" | {_speedup(r[1][0], r[4][0])} | {_speedup(r[1][0], r[16][0])} | "
              + " | ".join(f"{r[k][2]:.2f}" for k in ks) + " |")


def _hours(row: tuple[float, float, float], per_hour: float) -> str:
    med, reached, _ = row
    return f"{med / per_hour:.2f} ({reached:.0%})" if math.isfinite(med) else f"– ({reached:.0%})"


def _speedup(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if math.isfinite(a) and math.isfinite(b) and b > 0 else "–"


def _time_seq(bench: Any, cfg: Any) -> tuple[float, int]:
    from benchbench._run import execute_run_full

    t = time.perf_counter()
    out = execute_run_full(bench, cfg)
    return time.perf_counter() - t, len(out.records)


def _time_loop(bench: Any, cfg: Any, algo: str, k: int) -> tuple[float, int]:
    from benchbench._run import _drive_workers, _Loop, optimizer_rng
    from benchbench.optimizer import Optimizer, make_optimizer

    c = dataclasses.replace(cfg, sim_workers=k)
    t = time.perf_counter()
    opt = make_optimizer(algo)
    if isinstance(opt, Optimizer) and opt.capabilities.multi_fidelity:
        opt.configure_fidelity(tuple(range(1, 13)))
    opt.setup(bench.space, optimizer_rng(0, "digits"))
    lp = _Loop(bench, c, None)
    _drive_workers(opt, lp, c)
    return time.perf_counter() - t, len(lp.records)


def table_overhead(bench: Any, args: argparse.Namespace) -> None:
    from benchbench._run import execute_run_full

    print("\n## 3. Event-loop overhead per evaluation (µs), best of "
          f"{args.repeats} repeats, 1 process\n")
    print("| method | evals | sequential path | event loop, K=1 | K=1 − seq. | event loop, K=4 "
          "| K=4 − seq. |")
    print("|---|---|---|---|---|---|---|")
    for algo in ("rs", "hyperband"):
        cfg = plan_study(bench, dataset="digits", algorithms={algo: {}}, seeds=[0],
                         max_evals=args.overhead_evals)[0]
        execute_run_full(bench, cfg)  # warm the table's caches
        best: dict[str, float] = {}
        n = 0
        for _ in range(args.repeats):
            for name, k in (("seq", 0), ("k1", 1), ("k4", 4)):
                dt, n = _time_seq(bench, cfg) if k == 0 else _time_loop(bench, cfg, algo, k)
                best[name] = min(best.get(name, math.inf), dt / n * 1e6)
        print(f"| {algo} | {n:,} | {best['seq']:.1f} | {best['k1']:.1f} | "
              f"{best['k1'] - best['seq']:+.1f} | {best['k4']:.1f} | "
              f"{best['k4'] - best['seq']:+.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--gpu-hours", type=float, default=200.0)
    p.add_argument("--speedup-seeds", type=int, default=30)
    p.add_argument("--target", type=float, default=1.0,
                   help="regret (accuracy points) of the speed-up table")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--overhead-evals", type=int, default=3000)
    p.add_argument("--cpu-seeds", type=int, default=5,
                   help="seeds per method timed in one process for the CPU figure")
    p.add_argument("--skip-study", action="store_true")
    p.add_argument("--skip-speedup", action="store_true")
    args = p.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # means over runs with no incumbent yet
    bench = open_benchmark("nb201-digits")
    compute_s, n_full, per_hour = budget(bench, args.gpu_hours)
    print(f"budget: {args.gpu_hours:g} GPU-hours = {n_full:.0f} NB201 full trainings "
          f"(200 epochs, mean {nb201_full_train_s():.0f} s) = {compute_s:.1f} s of compute on "
          f"nb201-digits (mean 12-epoch cost {compute_s / n_full:.3f} s); "
          f"1 scaled hour = {per_hour:.3f} digits-seconds")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_study:
            table_study(bench, args, compute_s, per_hour, tmp / "study")
        if not args.skip_speedup:
            table_speedup(bench, args, compute_s, per_hour, tmp)
    table_overhead(bench, args)


if __name__ == "__main__":
    main()
