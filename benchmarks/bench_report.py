"""How long `benchbench report` takes on a paper-sized study (issue: < 20 s on 2 cores).

Builds (once, cached in --work) a real study with ``benchbench.runner.run_study`` on the NB201
table: 4 algorithms (rs, re, reinforce, ls) × 500 seeds × 150 evaluations on cifar10-valid,
then times each stage of the report and prints a table.

    python benchmarks/bench_report.py [--work DIR] [--seeds 500] [--evals 150] [--workers 2]

Needs ../shared/data/nb201/nb201_table.csv.gz and matplotlib (``pip install benchbench[plot]``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BENCHBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
ALGORITHMS = {"rs": {}, "re": {}, "reinforce": {}, "ls": {}}


def make_study(work: Path, seeds: int, evals: int, workers: int) -> tuple[Path, float]:
    """The study folder (built with the real runner unless already complete) and build time."""
    from benchbench.runner import run_study
    from tabular_data import TabularBenchmark, import_nb201

    out = work / f"study_{seeds}x{evals}"
    table = work / "nb201.h5"
    if not table.exists():
        import_nb201(SHARED / "nb201" / "nb201_table.csv.gz", out=table)
    t = time.perf_counter()
    bench = TabularBenchmark(table)
    run_study(bench, out, dataset="cifar10-valid", algorithms=ALGORITHMS,
              seeds=list(range(seeds)), max_evals=evals, workers=workers,
              command=f"python benchmarks/bench_report.py --seeds {seeds} --evals {evals}")
    return out, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=None, help="cache folder (default: a temp dir)")
    ap.add_argument("--seeds", type=int, default=500)
    ap.add_argument("--evals", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="time the report this many times")
    a = ap.parse_args(argv)
    if not (SHARED / "nb201" / "nb201_table.csv.gz").exists():
        print(f"needs {SHARED / 'nb201' / 'nb201_table.csv.gz'}", file=sys.stderr)
        return 2
    tmp = None
    if a.work is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    work = a.work or tmp
    work.mkdir(parents=True, exist_ok=True)
    try:
        study, t_runs = make_study(work, a.seeds, a.evals, a.workers)
        import results

        rows: list[tuple[str, float]] = [("runner: build the study (cached after once)", t_runs)]
        for _ in range(a.repeat):
            t = time.perf_counter()
            s = results.load_study(study)
            rows.append(("load_study (manifests + records.csv)", time.perf_counter() - t))
            t = time.perf_counter()
            results.write_summary(study)
            rows.append(("write_summary (summary.csv)", time.perf_counter() - t))
            t = time.perf_counter()
            results.build_report(study, work / "report_tables", formats=())
            rows.append(("build_report, tables only (formats=())", time.perf_counter() - t))
            t = time.perf_counter()
            results.build_report(study, work / "report_png", formats=("png",))
            rows.append(("build_report, PNG figures", time.perf_counter() - t))
            t = time.perf_counter()
            results.build_report(study, work / "report", formats=("png", "pdf"))
            rows.append(("build_report, PNG + PDF (the default)", time.perf_counter() - t))
        n_runs = sum(r.n for r in s.runs.values())
        print(f"study: {len(s.runs)} algorithms × {a.seeds} seeds × {a.evals} evaluations = "
              f"{n_runs} runs used, {len(s.skipped)} skipped; cpus={os.cpu_count()}")
        w = max(len(r[0]) for r in rows)
        print(f"| {'stage'.ljust(w)} | seconds |")
        print(f"|{'-' * (w + 2)}|--------:|")
        for name, sec in rows:
            print(f"| {name.ljust(w)} | {sec:7.2f} |")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
