"""Zero-cost proxies on the DARTS / NAS-Bench-301 space: cost per cell, and Spearman rho with
the real validation accuracy beside NAS-Bench-Suite-Zero's own scores of the same cells
(../shared/data/nb301/darts_725_with_zc.json).

Scores ``--cells`` cells drawn from the file's 725 (NASLib's zero-cost DARTS network:
``benchbench.nn.build_darts`` defaults, C=32, 8 cells, whose parameter counts equal the file's;
batch 64 of 32x32 images, the bundled digits batch by default: CIFAR-10 is not available
offline) with ``--workers`` single-threaded processes, then prints, per proxy:

* ``cpu_s_alone``: mean CPU seconds per cell if computed alone (shared passes counted in full);
* ``rho_ours_vs_naslib``: Spearman rho between our scores and the file's, same cells;
* ``rho_ours_vs_acc`` and ``rho_naslib_vs_acc``: each side's signed Spearman rho with the
  file's ``val_accuracy`` on the same cells, and ``rho_naslib_vs_acc_725`` on all 725;

and the CPU seconds per cell with all 12 proxies sharing passes (the honest measure on a shared
machine).  NASLib's ``synflow`` is a logarithm of ours (the rank is the same), its ``flops``
counts BN / ReLU too (see ``benchbench.nn.count_flops``); ``zen`` has no NASLib column.

    python benchmarks/bench_proxies_darts.py --cells 100 --workers 1 --out bench_out/proxies_darts

The scores are cached in ``--out`` (rerunning resumes, and ``--cells`` can grow).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb301"


def main() -> None:
    import torch

    from algorithms.proxies import PROXIES, ScoreConfig, load_naslib_scores, score_cells
    from benchbench.rng import make_rng

    torch.set_num_threads(1)  # CPU seconds of one core per cell, as the workers run

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batch-source", default="digits")
    ap.add_argument("--out", default="bench_out/proxies_darts")
    a = ap.parse_args()

    src = SHARED / "darts_725_with_zc.json"
    theirs_all = load_naslib_scores(src, "cifar10", space="darts")
    theirs_mat = theirs_all.pivot_table(index="arch_id", columns="proxy", values="value")
    keys = sorted(theirs_mat.index)
    pick = make_rng(0, "bench-proxies-darts").permutation(len(keys))[:min(a.cells, len(keys))]
    cells = [keys[i] for i in pick]  # scored in this order: a smaller --cells is a prefix
    cfg = ScoreConfig(space="darts", benchmark="nb301-naslib", dataset="cifar10",
                      batch_source=a.batch_source, batch_size=a.batch_size)
    t0 = time.perf_counter()
    df = score_cells(cells, a.out, config=cfg, proxies=PROXIES, workers=a.workers,
                     progress=True)
    wall = time.perf_counter() - t0
    df = df[df["arch_id"].isin(cells)]

    first = df.drop_duplicates("arch_id")
    wall_cell, cpu_cell = first["cell_seconds"], first["cell_cpu_seconds"]
    load = os.getloadavg()
    print(f"\n{len(cells)} of 725 NB301 cells, NASLib's DARTS network (C=32, 8 cells), batch "
          f"{a.batch_size} ({a.batch_source}), {a.workers} worker(s): wall {wall:.0f} s this "
          f"call (0 if all cached); load average now {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} on {os.cpu_count()} cores")
    print(f"all 12 proxies, shared passes, per cell and worker: CPU {cpu_cell.mean():.2f} s "
          f"(median {cpu_cell.median():.2f}, max {cpu_cell.max():.2f}), wall "
          f"{wall_cell.mean():.2f} s; 725 cells on one dedicated core ~ "
          f"{725 * cpu_cell.mean() / 3600:.1f} h")

    acc = theirs_mat["val_accuracy"]
    mat = df.pivot_table(index="arch_id", columns="proxy", values="value", aggfunc="mean")
    y = acc.reindex(cells).to_numpy(dtype=float)
    rows = []
    for p in PROXIES:
        ours = mat[p].reindex(cells).to_numpy(dtype=float)
        has = p in theirs_mat
        theirs = (theirs_mat[p].reindex(cells).to_numpy(dtype=float) if has
                  else np.full(len(cells), np.nan))
        ok = np.isfinite(ours) & np.isfinite(theirs)
        fo, ft = np.isfinite(ours), np.isfinite(theirs)
        sec = df.loc[df["proxy"] == p, "seconds"]
        all725 = theirs_mat[p].to_numpy(dtype=float) if has else None
        rows.append({
            "proxy": p,
            "cpu_s_alone": sec.mean(),
            "n_nonfinite": int((~fo).sum()),
            "rho_ours_vs_naslib": (stats.spearmanr(ours[ok], theirs[ok]).statistic
                                   if ok.sum() > 2 else np.nan),
            "rho_ours_vs_acc": stats.spearmanr(ours[fo], y[fo]).statistic,
            "rho_naslib_vs_acc": (stats.spearmanr(theirs[ft], y[ft]).statistic
                                  if ft.sum() > 2 else np.nan),
            "rho_naslib_vs_acc_725": (
                stats.spearmanr(all725[np.isfinite(all725)],
                                acc.to_numpy(dtype=float)[np.isfinite(all725)]).statistic
                if all725 is not None else np.nan),
        })
    res = pd.DataFrame(rows)
    print(res.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    res.to_csv(Path(a.out) / "bench_summary.csv", index=False)


if __name__ == "__main__":
    main()
