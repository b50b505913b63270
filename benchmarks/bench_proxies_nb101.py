"""Zero-cost proxies on NAS-Bench-101 (NB101 half of issue 11; owner: the NB101 engineer).

Scores the distinct cells of NASLib's ``nb101_500_with_zc.json`` (292 cells behind its 500
entries) with all 12 proxies (``algorithms.proxies.PROXIES``, shared passes, batch 64 of the
bundled digits by default, one worker thread each) on the NB101 network, and prints:

1. CPU seconds per cell for all 12 proxies together, at the scored width, and at NB101's own
   width (stem 128) on ``--full-cells`` cells;
2. per proxy: signed Spearman rho of our scores with the cells' validation accuracy (the
   seed mean of the repeats the file shows, read from the imported partial table), beside
   the same for NASLib's own scores in the file (the first entry of each cell) on the same
   cells, and rho between the two implementations.

Deviation (named): the network is scored at ``--stem-channels`` (default 16, NB101: 128;
stacks and modules as NB101) so that 292 cells fit a shared 2-core machine (~1-3 CPU s per
cell instead of ~25-75); data-independent proxies scale with width, data-dependent ones are
compared in rank only.  NASLib computed its scores on CIFAR-10 batches of its own NB101
network.

    python benchmarks/bench_proxies_nb101.py --workers 2 --out bench_out/proxies_nb101
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb101"
_NAMES = {"jacov": "jacob_cov"}


def _naslib_score(rec: dict, key: str) -> float:
    """A NASLib score: a plain number in this file (``{"score", "time"}`` in NB201's)."""
    v = rec.get(key, np.nan)
    return float(v["score"] if isinstance(v, dict) else v)


def main() -> None:
    from algorithms.proxies import PROXIES, ScoreConfig, score_cells
    from benchbench.spaces import NB101Space
    from results.correlation import targets_from_benchmark
    from tabular_data import TabularBenchmark
    from tabular_data._import_nb101 import import_nb101_naslib

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=0, help="score only the first N cells (0: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stem-channels", type=int, default=16)
    ap.add_argument("--time-cells", type=int, default=5,
                    help="cells re-scored from scratch to time them at the scored width")
    ap.add_argument("--full-cells", type=int, default=2,
                    help="cells also timed at NB101's own width (stem 128)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batch-source", default="digits")
    ap.add_argument("--out", default="bench_out/proxies_nb101")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # as every scoring worker; also for the timings in this process

    src = SHARED / "nb101_500_with_zc.json"
    raw = json.loads(src.read_text())["nasbench101"]["cifar10"]
    sp = NB101Space()
    first: dict[str, dict] = {}
    for key, rec in raw.items():
        first.setdefault(sp.arch_id(sp.parse(key)), rec)
    ids = list(first)[: a.cells or None]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    table = import_nb101_naslib(src, out=out / "nb101-naslib.h5")

    cfg = ScoreConfig(space="nb101", benchmark=str(table), dataset="cifar10",
                      batch_source=a.batch_source, batch_size=a.batch_size,
                      builder_options={"stem_channels": a.stem_channels})
    t0 = time.perf_counter()
    df = score_cells([sp.format(sp.parse(i)) for i in ids], out / f"stem{a.stem_channels}",
                     config=cfg, proxies=PROXIES, workers=a.workers, progress=True)
    wall = time.perf_counter() - t0
    df = df[df["arch_id"].isin(ids)]

    def timed(config: ScoreConfig, n: int) -> pd.Series:
        with tempfile.TemporaryDirectory() as d:
            t = score_cells([sp.format(sp.parse(i)) for i in ids[:n]], d, config=config,
                            proxies=PROXIES, workers=1)
        return t.drop_duplicates("arch_id")["cell_cpu_seconds"]

    cpu = timed(cfg, a.time_cells) if a.time_cells else pd.Series([np.nan])
    full_cpu = np.nan
    if a.full_cells:
        full_cfg = ScoreConfig(space="nb101", benchmark=str(table), dataset="cifar10",
                               batch_source=a.batch_source, batch_size=a.batch_size)
        full_cpu = float(timed(full_cfg, a.full_cells).mean())

    load = os.getloadavg()
    print(f"\n{len(ids)} NB101 cells, all {len(PROXIES)} proxies, batch {a.batch_size} "
          f"({a.batch_source}), {a.workers} workers, wall {wall:.0f} s this call (0 if cached); "
          f"load {load[0]:.1f} on {os.cpu_count()} cores")
    print(f"CPU seconds per cell, all proxies with shared passes, one thread: stem "
          f"{a.stem_channels} ({a.time_cells} cells): {cpu.mean():.2f} (median "
          f"{cpu.median():.2f}); stem 128 (NB101's width, {a.full_cells} cells): {full_cpu:.1f}")

    with TabularBenchmark(table) as b:
        y = np.asarray(targets_from_benchmark(b, ids, dataset="cifar10", metric="valid_acc"))
    mat = df.pivot_table(index="arch_id", columns="proxy", values="value", aggfunc="mean")
    rows = []
    for p in PROXIES:
        ours = mat[p].reindex(ids).to_numpy(dtype=float) if p in mat else np.full(len(ids), np.nan)
        nas_key = next((k for k, v in _NAMES.items() if v == p), p)
        theirs = np.array([_naslib_score(first[i], nas_key) for i in ids])

        def rho(u: np.ndarray, v: np.ndarray) -> float:
            ok = np.isfinite(u) & np.isfinite(v)
            return float(stats.spearmanr(u[ok], v[ok])[0]) if ok.sum() > 2 else np.nan

        rows.append({"proxy": p, "n": int(np.isfinite(ours).sum()),
                     "ours_vs_valid": rho(ours, y), "naslib_vs_valid": rho(theirs, y),
                     "ours_vs_naslib": rho(ours, theirs)})
    t = pd.DataFrame(rows)
    print("\nsigned Spearman rho on the same cells (valid = seed-mean NB101 validation accuracy "
          "at 108 epochs, from the file):")
    print(t.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    t.to_csv(out / "spearman.csv", index=False)
    print(f"wrote {out / 'spearman.csv'}")


if __name__ == "__main__":
    main()
