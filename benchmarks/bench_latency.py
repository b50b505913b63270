"""Latency of NB201 networks on this machine's CPU: wall time of ``benchbench data latency``
projected to all of NB201, measurement noise, and the rank correlation of the measured
latency with FLOPs and parameters.

    python benchmarks/bench_latency.py [--classes 300] [--classes-b64 40] [--threads 1]
                                       [--repeats 10] [--warmup 3]

The machine is shared: this measures a SAMPLE of NB201's 4,930 functional classes (uniform,
seeded) and projects the time of the whole space from it (classes x seconds per class), and
says so.  The real NB201 flat table (``../shared/data/nb201/nb201_table.csv.gz``) is imported
into a temporary data root; the networks are NB201's (C=16, N=5, CIFAR input 3x32x32, 10
classes) built by ``benchbench.nn``.  Batch 1 on ``--classes`` classes, batch 64 on
``--classes-b64`` of them (64 times the work per pass).  Noise: the same ``add_latency`` run
measures a sample of its classes again (:func:`tabular_data._latency.measure_noise`):
Spearman between the two passes.  FLOPs and params of each measured representative:
``tabular_data.network_metrics`` (NB201's counting); Spearman of latency against them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

import tabular_data
from benchbench.spaces import NB201Space
from tabular_data import network_metrics
from tabular_data._latency import add_latency, measure_noise

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _run(src: Path, out: Path, reps: np.ndarray, batch: int, a: argparse.Namespace,
         repeats: int, warmup: int) -> tuple[dict, float]:
    t0 = time.perf_counter()
    res = add_latency(src, out, batches=(batch,), threads=a.threads, repeats=repeats,
                      warmup=warmup, rows=reps.tolist(), datasets=["cifar10-valid"])
    return res, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--classes", type=int, default=300)
    ap.add_argument("--classes-b64", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--noise", type=int, default=30, help="classes measured twice")
    a = ap.parse_args()
    flat = SHARED / "nb201" / "nb201_table.csv.gz"
    if not flat.is_file():
        print(f"needs the real NB201 table at {flat}", file=sys.stderr)
        return 1
    import torch

    space = NB201Space()
    cid = space.class_ids("functional")
    classes = np.unique(cid)
    rng = np.random.default_rng(0)
    reps = np.sort(rng.choice(classes, size=min(a.classes, classes.size), replace=False))
    reps64 = np.sort(rng.choice(reps, size=min(a.classes_b64, reps.size), replace=False))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = tabular_data.import_nb201(flat, name="nb201", root=root)
        r1, wall1 = _run(src, root / "b1.h5", reps, 1, a, a.repeats, a.warmup)
        nz1 = measure_noise(r1, n=a.noise)
        r64, wall64 = _run(src, root / "b64.h5", reps64, 64, a, max(3, a.repeats // 2),
                           max(1, a.warmup // 2))
        nz64 = measure_noise(r64, n=min(a.noise, len(reps64)))
    nm = network_metrics("nb201", "cifar10-valid", {"network": {}}, reps)
    lat1 = r1["median_ms"]["cifar10-valid"][:, 0]
    # classes are numbered in representative order, as reps
    pos64 = np.searchsorted(reps, reps64)
    lat64 = r64["median_ms"]["cifar10-valid"][:, 0]
    n_all = classes.size
    per1, per64 = wall1 / reps.size, wall64 / reps64.size
    print(f"NB201 latency on {r1['machine']['device_name']} ({a.threads} torch threads, torch "
          f"{torch.__version__}), a SAMPLE of {reps.size} of the {n_all} functional classes "
          f"(uniform, seed 0); the machine is shared with other jobs, so absolute times are "
          f"noisy and the full-space times below are projections, not measurements")
    print(f"\n{'batch':>5s} {'classes':>8s} {'repeats':>7s} {'warmup':>6s} {'wall s':>8s} "
          f"{'s/class':>8s} {'projected, all 4,930 classes':>30s} {'median ms':>10s} "
          f"{'noise Spearman':>15s}")
    for b, reps_b, wall, per, lat, nz, rp, wu in (
            (1, reps, wall1, per1, lat1, nz1, a.repeats, a.warmup),
            (64, reps64, wall64, per64, lat64, nz64, max(3, a.repeats // 2),
             max(1, a.warmup // 2))):
        proj = per * n_all
        print(f"{b:5d} {reps_b.size:8d} {rp:7d} {wu:6d} {wall:8.1f} {per:8.3f} "
              f"{proj:23.0f} s ({proj / 3600:.2f} h) {np.median(lat):10.2f} "
              f"{nz['spearman'][b]:15.3f} ({len(nz['classes'])} cl.)")
    print(f"\nall of NB201 at batch 1 and 64 (projected): {(per1 + per64) * n_all / 3600:.2f} h "
          f"with one process; `--workers` splits it, at the price of noisier timings")
    print("\nSpearman rank correlation of the measured latency with the network's FLOPs and "
          "parameters (NB201 counting), over the sampled representatives:")
    for b, lat, idx in ((1, lat1, np.arange(reps.size)), (64, lat64, pos64)):
        rf = spearmanr(lat, nm["flops"][idx]).statistic
        rp = spearmanr(lat, nm["params"][idx]).statistic
        print(f"  batch {b:2d}: vs FLOPs {rf:.3f}, vs params {rp:.3f} ({idx.size} classes)")
    print(f"  FLOPs vs params: {spearmanr(nm['flops'], nm['params']).statistic:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
