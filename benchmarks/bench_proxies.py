"""Cost of every zero-cost proxy on NB201 networks, and a cross-check with an independent
implementation (NAS-Bench-Suite-Zero's scores in ../shared/data/nb201/zc_scores_725.json).

Scores ``--cells`` cells drawn from the 725 of that file (C=16, N=5, batch 64, 32x32 inputs,
the bundled digits batch by default) with ``--workers`` processes, then prints:

1. per proxy: mean CPU seconds per cell if computed alone (``cpu_s_alone``; shared passes
   counted in full), and the CPU and wall time per cell with all proxies sharing passes,
   extrapolated to 1,000 cells on the given number of workers (CPU time is the honest
   measure on a shared machine: every worker is single-threaded);
2. per proxy: Spearman rho between our scores and the file's (same cells), and each side's
   Spearman rho with the table's CIFAR-10-valid validation accuracy.

    python benchmarks/bench_proxies.py --cells 100 --workers 2 --out bench_out/proxies

The scores are cached in ``--out`` (rerunning resumes); the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201"


def main() -> None:
    from algorithms.proxies import PROXIES, ScoreConfig, load_naslib_scores, score_cells
    from benchbench.rng import make_rng

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batch-source", default="digits")
    ap.add_argument("--out", default="bench_out/proxies")
    a = ap.parse_args()

    theirs_all = load_naslib_scores(SHARED / "zc_scores_725.json", "cifar10")
    theirs_mat = theirs_all.pivot_table(index="arch_id", columns="proxy", values="value")
    keys = sorted(theirs_mat.index)
    pick = make_rng(0, "bench-proxies").choice(len(keys), size=min(a.cells, len(keys)),
                                               replace=False)
    cells = [keys[i] for i in sorted(pick)]
    cfg = ScoreConfig(space="nb201", benchmark="nb201", dataset="cifar10-valid",
                      batch_source=a.batch_source, batch_size=a.batch_size)
    t0 = time.perf_counter()
    df = score_cells(cells, a.out, config=cfg, proxies=PROXIES, workers=a.workers,
                     progress=True)
    wall = time.perf_counter() - t0
    df = df[df["arch_id"].isin(cells)]

    first = df.drop_duplicates("arch_id")
    wall_cell, cpu_cell = first["cell_seconds"], first["cell_cpu_seconds"]
    load = os.getloadavg()
    print(f"\n{len(cells)} cells, C=16 N=5, batch {a.batch_size} ({a.batch_source}), "
          f"{a.workers} workers: wall {wall:.0f} s this call (0 if all cached); load average "
          f"now {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores")
    print(f"all proxies, shared passes, per cell and worker: CPU {cpu_cell.mean():.2f} s "
          f"(median {cpu_cell.median():.2f}, max {cpu_cell.max():.2f}), wall "
          f"{wall_cell.mean():.2f} s")
    print(f"1,000 cells on {a.workers} dedicated cores ~ "
          f"{1000 * cpu_cell.mean() / a.workers / 60:.1f} min by CPU time "
          f"({1000 * wall_cell.mean() / a.workers / 60:.1f} min by this run's loaded wall time)")

    table = pd.read_csv(SHARED / "nb201_table.csv.gz", usecols=["arch_str", "c10v_valid_acc"])
    acc = table.set_index("arch_str")["c10v_valid_acc"]
    mat = df.pivot_table(index="arch_id", columns="proxy", values="value", aggfunc="mean")
    rows = []
    for p in PROXIES:
        ours = mat[p].reindex(cells).to_numpy(dtype=float)
        theirs = (theirs_mat[p].reindex(cells).to_numpy(dtype=float) if p in theirs_mat
                  else np.full(len(cells), np.nan))
        y = acc.reindex(cells).to_numpy(dtype=float)
        ok = np.isfinite(ours) & np.isfinite(theirs)
        sec = df.loc[df["proxy"] == p, "seconds"]
        rows.append({
            "proxy": p,
            "cpu_s_alone": sec.mean(),
            "n_nonfinite": int((~np.isfinite(ours)).sum()),
            "rho_ours_vs_zcfile": (stats.spearmanr(ours[ok], theirs[ok]).statistic
                                   if ok.sum() > 2 else np.nan),
            "rho_ours_vs_acc": stats.spearmanr(ours[np.isfinite(ours)],
                                               y[np.isfinite(ours)]).statistic,
            "rho_zcfile_vs_acc": (stats.spearmanr(theirs[np.isfinite(theirs)],
                                                  y[np.isfinite(theirs)]).statistic
                                  if np.isfinite(theirs).sum() > 2 else np.nan),
        })
    res = pd.DataFrame(rows)
    print(res.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    res.to_csv(Path(a.out) / "bench_summary.csv", index=False)


if __name__ == "__main__":
    main()
