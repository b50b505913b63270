"""Multi-objective search on NB201 CIFAR-10-valid: final hypervolume ratio of MO-RE vs random
search vs ParEGO-scalarised RE, the study's wall time, and the Pareto code's speed beside
moocore's.

    python benchmarks/bench_multiobjective.py [--seeds 100] [--evals 500] [--workers 2]
        [--latency-table FILE.h5] [--study-runs 1500] [--speed-only]

The real NB201 table (``../shared/data/nb201/nb201_table.csv.gz``) is imported into a
temporary data root.  Objectives: ``valid_acc`` (validation, maximised) and ``params``
(millions, minimised); with ``--latency-table`` (a copy written by ``benchbench data latency``
for every cell) also (``valid_acc``, ``latency_ms_b1``), else the script says it was not
measured.  Noise ``mean``: the optimizer sees the seed-mean validation accuracy, so the
hypervolume ratio is at most 1 (the true front's).  Every run of ``--evals`` evaluations is
read at 150 evaluations and at its end (its anytime front).  The fronts use the VALIDATION
objective (what the optimizer saw); the test column is the front members' seed-mean test
accuracy (CIFAR-10 single-run test of the flat table: ``c10_test_acc_single``) against the
table's true test front, for reporting only.  Reference point: Ishibuchi et al. 2018 (see
:mod:`results._pareto`).  Statistics: :func:`results.hypervolume_table` (mean ± std,
median, bootstrap CI; Wilcoxon signed-rank over shared seeds with Holm, P(A>B)).

The second part times a multi-objective study of ``--study-runs`` runs (three methods, 150
evaluations each, ``--workers`` processes), the target being under 15 s.  The third prints
non-dominated sorting and hypervolume, numpy (``benchbench.pareto``) beside moocore, on
what the results layer computes (the 15,625-cell table, run fronts, 3-objective fronts).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tabular_data
from benchbench.pareto import hypervolume, hypervolume_2d_curve, nondominated_mask
from benchbench.registry import open_benchmark
from benchbench.runner import run_study
from results import hypervolume_table, load_mo_study, load_study, members_test_hv, true_front
from results._pareto import MOStudy

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
METHODS = {"rs": {}, "mo-re": {}, "parego-re": {}}


def _at(mo: MOStudy, n: int) -> MOStudy:
    """The study's runs cut to their first ``n`` evaluations."""
    from results._pareto import MORun

    runs = {a: [MORun(r.seed, r.values[:n], r.feasible[:n], r.arch_id[:n], r.sim_time_s[:n])
                for r in rs] for a, rs in mo.runs.items()}
    return MOStudy(mo.study, mo.objectives, mo.maximize, runs)


def _quality(bench: object, root: Path, metric: str, seeds: int, evals: int,
             workers: int) -> None:
    out = root / f"mo-{metric}"
    t0 = time.perf_counter()
    run_study(bench, out, dataset="cifar10-valid", algorithms=METHODS,  # type: ignore[arg-type]
              seeds=range(seeds), max_evals=evals, record_metrics=(metric,), noise="mean",
              workers=workers)
    wall = time.perf_counter() - t0
    st = load_study(out)
    full = load_mo_study(st)
    tf = true_front(bench, "cifar10-valid", full.objectives, full.maximize)
    print(f"\n## (valid_acc, {metric}): {seeds} seeds x {len(METHODS)} methods x {evals} "
          f"evaluations ({wall:.1f} s, {workers} workers); true front: {len(tf.points)} cells")
    for n in sorted({150, evals}):
        mo = _at(full, n)
        test, _ = members_test_hv(mo, bench, "test_acc")
        t = hypervolume_table(mo, tf, n_boot=2000, test=test)
        print(f"\n### after {n} evaluations: final hypervolume ratio (validation fronts; "
              f"test = front members' test values, reporting only)")
        print(f"{'method':10s} {'runs':>4s} {'mean ± std':>18s} {'median [IQR]':>26s} "
              f"{'95% CI':>18s} {'front':>6s} {'test HV':>16s}")
        for row in t.rows:
            print(f"{row[0]:10s} {row[1]:>4s} {row[2]:>18s} {row[3]:>26s} {row[4]:>18s} "
                  f"{row[5]:>6s} {row[7]:>16s}")
        pairs = t.note.split("Pairs (")[1]
        print("pairs (" + pairs)


def _study_speed(bench: object, root: Path, runs: int, workers: int) -> None:
    seeds = runs // len(METHODS)
    # the reference, in the same conditions: README's single-objective study (RS, RE,
    # REINFORCE, nothing recorded), measured at 5.8 s on the idle machine
    t0 = time.perf_counter()
    run_study(bench, root / "speed-ref", dataset="cifar10-valid",  # type: ignore[arg-type]
              algorithms={"rs": {}, "re": {}, "reinforce": {}}, seeds=range(seeds),
              max_evals=150, workers=workers)
    ref = time.perf_counter() - t0
    out = root / "speed"
    t0 = time.perf_counter()
    res = run_study(bench, out, dataset="cifar10-valid", algorithms=METHODS,  # type: ignore[arg-type]
                    seeds=range(seeds), max_evals=150, record_metrics=("params",),
                    workers=workers)
    wall = time.perf_counter() - t0
    print(f"\n## reference in the same conditions: RS+RE+REINFORCE x {seeds} seeds x 150 "
          f"evaluations, nothing recorded: {ref:.1f} s; the multi-objective study takes "
          f"{wall / ref:.2f}x as long (README: the reference takes 5.8 s on the idle "
          f"machine, which projects {5.8 * wall / ref:.1f} s for this study)")
    t1 = time.perf_counter()
    mo = load_mo_study(load_study(out))
    tf = true_front(bench, "cifar10-valid", mo.objectives, mo.maximize)
    t = hypervolume_table(mo, tf, n_boot=1000)
    analysis = time.perf_counter() - t1
    print(f"\n## study speed: {res.done} runs (3 methods x {seeds} seeds x 150 evaluations, "
          f"record_metrics=params, {workers} workers): {wall:.1f} s "
          f"({'under' if wall < 15 else 'OVER'} the 15 s target); loading the fronts and the "
          f"hypervolume table: {analysis:.1f} s ({len(t.rows)} methods)")


def _best(f: object, reps: int = 5) -> float:
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        f()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def _library_speed(bench: object) -> None:
    try:
        import moocore
    except ImportError:
        print("\n## Pareto speed: moocore not installed (pip install 'benchbench[pareto]'); "
              "numpy only")
        moocore = None
    acc = bench.values("cifar10-valid", "valid_acc", epoch=200)  # type: ignore[attr-defined]
    par = bench.values("cifar10-valid", "params", epoch=200)  # type: ignore[attr-defined]
    F = np.column_stack([-acc, par])
    rng = np.random.default_rng(0)
    run = F[rng.integers(0, len(F), 500)]
    ref = F.max(axis=0)
    F3 = rng.random((200, 3))
    rows = [
        ("non-dominated, 15,625 cells x 2", lambda: nondominated_mask(F, backend="numpy"),
         (lambda: moocore.is_nondominated(F, keep_weakly=True)) if moocore else None),
        ("hypervolume, 500 points x 2", lambda: hypervolume(run, ref, backend="numpy"),
         (lambda: moocore.hypervolume(run, ref=ref)) if moocore else None),
        ("HV after each of 500 evals x 2", lambda: hypervolume_2d_curve(run, ref),
         (lambda: [moocore.hypervolume(run[:i + 1], ref=ref) for i in range(len(run))])
         if moocore else None),
        ("hypervolume, 200 points x 3", lambda: hypervolume(F3, np.ones(3), backend="numpy"),
         (lambda: moocore.hypervolume(F3, ref=np.ones(3))) if moocore else None),
        ("non-dominated, 200 points x 3", lambda: nondominated_mask(F3, backend="numpy"),
         (lambda: moocore.is_nondominated(F3, keep_weakly=True)) if moocore else None),
    ]
    print("\n## Pareto code speed (best of 5, ms): benchbench.pareto's numpy code vs moocore "
          "(C); backend='auto' uses moocore for large non-dominated sets and 3+-objective "
          "hypervolume, numpy for the per-evaluation curve")
    print(f"{'task':34s} {'numpy':>10s} {'moocore':>10s} {'numpy/moocore':>14s}")
    for name, mine, lib in rows:
        a = _best(mine) * 1e3
        b = _best(lib) * 1e3 if lib is not None else float("nan")
        print(f"{name:34s} {a:10.3f} {b:10.3f} {a / b:14.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--evals", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--study-runs", type=int, default=1500)
    ap.add_argument("--speed-only", action="store_true",
                    help="only the study speed and the Pareto code speed")
    ap.add_argument("--latency-table", default=None,
                    help="an NB201 table with latency_ms_b1 for every cell")
    a = ap.parse_args()
    src = SHARED / "nb201" / "nb201_table.csv.gz"
    if not src.is_file():
        print(f"needs the real NB201 table at {src}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tabular_data.import_nb201(src, name="nb201", root=root)
        bench = open_benchmark("nb201", data_root=root)
        print(f"NB201 cifar10-valid, noise 'mean' (the optimizer sees seed means), "
              f"{a.seeds} seeds")
        if not a.speed_only:
            _quality(bench, root, "params", a.seeds, a.evals, a.workers)
        if a.speed_only:
            pass
        elif a.latency_table:
            lat = open_benchmark(a.latency_table)
            _quality(lat, root, "latency_ms_b1", a.seeds, a.evals, a.workers)
        else:
            print("\n## (valid_acc, latency): not measured - the latency of all 4,930 NB201 "
                  "classes was not measured on this shared machine (see "
                  "benchmarks/bench_latency.py); give --latency-table after "
                  "`benchbench data latency --benchmark nb201 --out FILE.h5`")
        _study_speed(bench, root, a.study_runs, a.workers)
        _library_speed(bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
