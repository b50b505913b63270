"""Speed and memory of the NB201 tabular path, against the walking-skeleton targets and,
side by side in the same run, the official `nats_bench` API on the same official files.

    python benchmarks/bench_nb201.py [--shared ../shared/data] [--seeds 500] [--workers 2]

Prints one table: measured value, target, ratio (target / measured for "less is better",
measured / target for "more is better"; >= 1 means the target is met).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def child(code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rate(fn, n: int) -> float:
    t = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--seeds", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    shared = Path(a.shared)
    flat_csv = shared / "nb201" / "nb201_table.csv.gz"
    nats_dir = shared / "nb201" / "nats_tss_official_sample"
    if not flat_csv.is_file():
        sys.exit(f"shared data not found at {shared}: pass --shared")
    tmp = Path(tempfile.mkdtemp(prefix="bb-bench-"))
    env = {"BENCHBENCH_DATA": str(tmp / "root")}
    rows: list[tuple[str, float, float, str, bool]] = []  # name, value, target, unit, more_better

    # 1. import (CLI, fresh process)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchbench.cli", "data", "import", "nb201",
                    str(flat_csv), "--no-progress"], check=True, env={**os.environ, **env},
                   capture_output=True)
    rows.append(("import shared NB201 table (CLI, s)", time.perf_counter() - t, 10.0, "s",
                 False))
    table = tmp / "root" / "tables" / "nb201.h5"

    # 2. open + first query, fresh process: time and peak resident memory
    r = child(
        "import time, resource, json; t = time.perf_counter(); "
        "from tabular_data import TabularBenchmark; "
        f"b = TabularBenchmark({str(table)!r}); "
        "ev = b.query('|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|"
        "avg_pool_3x3~2|', dataset='cifar10-valid'); dt = time.perf_counter() - t; "
        "print(json.dumps({'s': dt, 'rss_mb': resource.getrusage(resource.RUSAGE_SELF)"
        ".ru_maxrss / 1024}))")
    rows.append(("open + first query incl. imports (s)", r["s"], 1.0, "s", False))
    rows.append(("peak RSS of that process (MB)", r["rss_mb"], 300.0, "MB", False))

    # 3. scalar and vectorised queries, this process
    from benchbench.spaces import NB201Space
    from tabular_data import TabularBenchmark

    b = TabularBenchmark(table)
    space = NB201Space()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 15625, size=200_000)
    archs = [space.from_index(int(i)) for i in idx]
    strs = [space.arch_id(x) for x in archs[:50_000]]
    b.query(0, dataset="cifar10-valid")
    b.query(0, dataset="cifar10-valid", data_seed=777)  # warm the slices

    def scalar_records(n: int) -> None:
        q = b.query
        for x in archs[:n]:
            q(x, dataset="cifar10-valid")

    def scalar_seeded(n: int) -> None:
        q = b.query
        for x in archs[:n]:
            q(x, dataset="cifar10-valid", data_seed=777)

    def scalar_strings(n: int) -> None:
        q = b.query
        for x in strs[:n]:
            q(x, dataset="cifar10-valid")

    rows.append(("scalar query, arch records (q/s)", rate(scalar_records, 200_000), 200_000,
                 "q/s", True))
    rows.append(("scalar query, seeded (q/s)", rate(scalar_seeded, 200_000), 200_000, "q/s",
                 True))
    rows.append(("scalar query, cell strings (q/s)", rate(scalar_strings, 50_000), 200_000,
                 "q/s", True))
    all_idx = np.arange(15625)

    def many(n: int) -> None:
        for _ in range(n // 15625):
            b.query_many(all_idx, dataset="cifar10-valid", data_seed=888)

    rows.append(("query_many, index arrays (cells/s)", rate(many, 15625 * 400), 10_000_000,
                 "cells/s", True))
    b.close()

    # 4. the whole study from the CLI: RS, RE, REINFORCE x seeds x 150 evaluations
    out = tmp / "study"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchbench.cli", "run", "--benchmark", "nb201",
                    "--dataset", "cifar10-valid", "--algorithms", "rs,re,reinforce", "--seeds",
                    f"0-{a.seeds - 1}", "--max-evals", "150", "--out", str(out), "--workers",
                    str(a.workers), "--no-progress"], check=True, env={**os.environ, **env},
                   capture_output=True)
    wall = time.perf_counter() - t
    n_rec = sum(1 for _ in out.glob("runs/*/*/records.csv"))
    rows.append((f"study 3 algos x {a.seeds} seeds x 150 evals, {a.workers} workers (s)", wall,
                 10.0, "s", False))

    # 5. side by side: nats_bench on the official files vs our table of the same files
    peer: dict[str, float] = {}
    if nats_dir.is_dir():
        subprocess.run([sys.executable, "-m", "benchbench.cli", "data", "import", "nb201",
                        str(nats_dir), "--name", "nats", "--no-progress"], check=True,
                       env={**os.environ, **env}, capture_output=True)
        nb = TabularBenchmark(tmp / "root" / "tables" / "nats.h5")
        cells = [0, 11, 284] * 10_000
        nb.query(0, dataset="cifar10-valid", data_seed=777)

        def ours(n: int) -> None:
            for c in cells[:n]:
                nb.query(c, dataset="cifar10-valid", data_seed=777)

        peer["ours"] = rate(ours, 30_000)
        try:
            peer.update(child(
                "import time, json\nfrom nats_bench import create\n"
                f"D = {str(nats_dir)!r}\n"
                "api = create(D, 'tss', fast_mode=True, verbose=False)\n"
                "t = time.perf_counter()\n"
                "for i in (0, 11, 284): api.reload(D, index=i)\n"
                "load = (time.perf_counter() - t) / 3\n"
                "t = time.perf_counter()\n"
                "for k in range(3000): api.get_more_info((0, 11, 284)[k % 3], 'cifar10-valid', "
                "hp='200', is_random=777)\n"
                "print(json.dumps({'nats': 3000 / (time.perf_counter() - t), 'load': load}))",
                env={"TORCH_HOME": str(tmp)}))
        except (subprocess.CalledProcessError, json.JSONDecodeError) as e:
            print(f"nats_bench not measured ({e}); pip install nats_bench", file=sys.stderr)

    print(f"\nNB201 tabular path - {time.strftime('%Y-%m-%d %H:%M')} - "
          f"{os.cpu_count()} cores visible\n")
    print(f"| {'measure':58s} | {'value':>12s} | {'target':>10s} | {'ratio':>6s} | met |")
    print(f"|{'-' * 60}|{'-' * 14}|{'-' * 12}|{'-' * 8}|-----|")
    for name, v, target, _unit, more in rows:
        ratio = v / target if more else target / v
        print(f"| {name:58s} | {v:12,.3f} | {target:10,.0f} | {ratio:6.2f} | "
              f"{'yes' if ratio >= 1 else 'NO':>3s} |")
    print(f"\nrecords written: {n_rec} runs")
    if peer:
        print("\nside by side on the 3 official NATS-Bench cell files (cifar10-valid, seed 777):")
        print(f"| {'tool':30s} | {'queries/s':>12s} | {'ratio to nats_bench':>20s} |")
        print(f"|{'-' * 32}|{'-' * 14}|{'-' * 22}|")
        if "nats" in peer:
            print(f"| {'nats_bench get_more_info':30s} | {peer['nats']:12,.0f} | {1.0:20.1f} |")
        rel = peer["ours"] / peer["nats"] if "nats" in peer else float("nan")
        print(f"| {'benchbench query':30s} | {peer['ours']:12,.0f} | {rel:20.1f} |")
        if "load" in peer:
            print(f"nats_bench loads one cell file in {peer['load']:.3f} s "
                  f"(benchbench reads a whole imported table lazily instead)")


if __name__ == "__main__":
    main()
