"""Accuracy spread of a built table: a figure and the numbers quoted in BUILD.md.

    python tabular_data/embedded/make_figure.py [TABLE.h5] [--out spread.png]

Needs matplotlib (``benchbench[plot]``).  Statistics are over functional classes (each
trained class counted once), at the table's last epoch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def spread(path: Path) -> dict:
    from scipy import stats

    from benchbench.spaces import NB201Space
    from tabular_data import TabularBenchmark, pooled_seed_std

    b = TabularBenchmark(path)
    ds = b.datasets[0]
    last = b.fidelity(ds).max
    reps = np.unique(NB201Space().class_ids("functional"))
    reps = reps[b.seed_mask(ds)[reps].all(axis=1)]
    seeds = b.seeds(ds)
    per_seed = np.column_stack([b.query_many(reps, dataset=ds, data_seed=s)["valid_acc"]
                                for s in seeds])
    mean = b.query_many(reps, dataset=ds)["valid_acc"]
    test = b.query_many(reps, dataset=ds)["test_acc"]
    curves = np.stack([b.query_many(reps, dataset=ds, fidelity=e)["valid_acc"]
                       for e in b.fidelity(ds).values], axis=1)
    cost = b.query_many(reps, dataset=ds)
    q = np.percentile(mean, [0, 10, 25, 50, 75, 90, 100])
    return {
        "dataset": ds, "epoch": last, "classes": int(len(reps)), "seeds": list(seeds),
        "valid_acc_quantiles_0_10_25_50_75_90_100": [round(float(x), 2) for x in q],
        "between_class_std": float(mean.std()),
        "pooled_seed_std": pooled_seed_std(b, ds, "valid_acc", last),
        "seed_vs_seed_spearman": float(stats.spearmanr(per_seed[:, 0], per_seed[:, 1])[0]),
        "valid_vs_test_spearman": float(stats.spearmanr(mean, test)[0]),
        "best": b.optimum("valid_acc", dataset=ds).arch_id,
        "best_valid_acc": float(b.optimum("valid_acc", dataset=ds).value),
        "mean_train_s_per_run": float(np.mean(cost.cost_s)),
        "_arrays": (mean, per_seed, curves, test),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("table", nargs="?", default=str(HERE / "nb201-digits.h5"))
    ap.add_argument("--out", default=str(HERE / "spread.png"))
    a = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = spread(Path(a.table))
    mean, per_seed, curves, test = s.pop("_arrays")
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].hist(mean, bins=60, color="tab:blue")
    ax[0].set(xlabel=f"valid accuracy at epoch {s['epoch']} (%), seed mean",
              ylabel="functional classes", yscale="log",
              title=f"{s['classes']} classes")
    ax[1].scatter(per_seed[:, 0], per_seed[:, 1], s=2, alpha=0.3)
    ax[1].set(xlabel=f"seed {s['seeds'][0]} valid acc (%)",
              ylabel=f"seed {s['seeds'][1]} valid acc (%)",
              title=f"seed vs seed: Spearman {s['seed_vs_seed_spearman']:.2f}, "
                    f"sigma {s['pooled_seed_std']:.2f}")
    order = np.argsort(mean)
    epochs = np.arange(1, curves.shape[1] + 1)
    for lo, hi, lab in [(0.9, 1.0, "top 10%"), (0.45, 0.55, "middle 10%"), (0.0, 0.1,
                                                                              "bottom 10%")]:
        sel = order[int(lo * len(order)):int(hi * len(order))]
        ax[2].plot(epochs, np.nanmean(curves[sel], axis=0), label=lab)
    ax[2].set(xlabel="epoch", ylabel="valid accuracy (%), mean over the group",
              title="learning curves by final rank")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(json.dumps(s, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
