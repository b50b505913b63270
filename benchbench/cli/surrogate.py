"""``benchbench surrogate``: fit a surrogate benchmark from a table, and write its model card.

Examples::

    benchbench surrogate fit --from nb201 --dataset cifar10-valid --train-fraction 0.1 \\
        --out models/c10v --members 5 --seed 0
    benchbench surrogate fit --from nb201-digits --dataset digits --train-cells cells.txt \\
        --out models/digits
    benchbench surrogate card models/c10v
    benchbench run --benchmark models/c10v --dataset cifar10-valid ...

A fitted surrogate opens by its directory wherever a benchmark name is accepted (and by name
when saved under ``<data root>/surrogates/NAME``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchbench.cli._common import data_root

__all__ = ["cmd_card", "cmd_fit", "register"]


def _table(a: argparse.Namespace, name: str) -> Any:
    from benchbench.registry import open_benchmark

    return open_benchmark(name, data_root=data_root(a))


def cmd_fit(a: argparse.Namespace) -> int:
    """Handler of ``surrogate fit``."""
    import numpy as np

    from surrogates import FitOptions, fit_model, read_cell_file, split_rows, training_data
    from surrogates._card import write_card

    out = Path(a.out)
    if (out / "manifest.json").exists() and not a.force:
        raise FileExistsError(f"{out} already holds a surrogate; pass --force to replace it")
    if a.members < 1:
        raise ValueError(f"--members must be >= 1, got {a.members}")
    t0 = time.perf_counter()
    with _table(a, a.source) as table:
        data = training_data(table, a.dataset,
                             metrics=a.metrics.split(",") if a.metrics else None)
    if a.train_cells:
        wanted = read_cell_file(a.train_cells, data.space)
        pos = {c: i for i, c in enumerate(data.arch_ids)}
        missing = [c for c in wanted if c not in pos]
        if missing:
            raise ValueError(f"{a.train_cells}: {len(missing)} cells are not in the table "
                             f"(first {missing[0]!r})")
        rows = np.array(sorted({pos[c] for c in wanted}), dtype=np.int64)
    else:
        rows = split_rows(len(data.arch_ids), a.train_fraction, a.seed)
    opts = FitOptions(members=a.members, seed=a.seed, layout=a.layout, n_jobs=a.jobs)
    model = fit_model(data.subset(rows), name=a.name or out.name, options=opts)
    model.training["train_fraction"] = None if a.train_cells else a.train_fraction
    model.training["train_cells_file"] = a.train_cells
    model.save(out, overwrite=a.force)
    print(f"fitted {model.model_id} on {len(rows)} of {len(data.arch_ids)} cells of "
          f"{data.source.get('table')!r} ({a.dataset}) in {model.fit_seconds:.1f} s: "
          f"{len(model.metrics)} metrics x {opts.members} members, layout {model.layout.name}")
    if not a.no_card and len(rows) <= len(data.arch_ids) - 10:
        stats = write_card(model, data)
        s = stats["model"]
        print(f"card: {out / 'card.md'}  ({stats['metric']}: Kendall tau "
              f"{s['kendall_tau']:.3f}, top-10% tau {s['top10_kendall_tau']:.3f} on "
              f"{stats['n_heldout']} held-out cells)")
    print(f"saved to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_card(a: argparse.Namespace) -> int:
    """Handler of ``surrogate card``: (re)write the card from the table the model came from."""
    from surrogates import load_model, training_data
    from surrogates._card import write_card

    model = load_model(a.model)
    source = a.source or model.training.get("table")
    if not source:
        raise ValueError(f"{a.model}: the model records no table; give it with --from")
    with _table(a, source) as table:
        sha = table.describe().data_sha256
        if sha != model.training.get("table_sha256") and not a.source:
            raise ValueError(f"table {source!r} has data sha256 {sha[:12]}, the model was "
                             f"fitted on {str(model.training.get('table_sha256'))[:12]}: give "
                             f"the table it came from with --from")
        data = training_data(table, model.dataset, metrics=list(model.metrics))
    stats = write_card(model, data, metric=a.metric)
    s = stats["model"]
    print(f"card: {Path(a.model) / 'card.md'}")
    print(f"{stats['metric']} on {stats['n_heldout']} held-out cells: R2 {s['r2']:.3f}, "
          f"Kendall tau {s['kendall_tau']:.3f}, Spearman {s['spearman_rho']:.3f}, "
          f"sparse tau {s['sparse_kendall_tau']:.3f}, top-10% tau {s['top10_kendall_tau']:.3f}")
    if "noise_ceiling" in stats:
        c = stats["noise_ceiling"]
        print(f"noise ceiling (one seed vs the others): Kendall tau {c['kendall_tau']:.3f}, "
              f"top-10% tau {c['top10_kendall_tau']:.3f}")
    if "calibration" in stats:
        print(f"90% intervals cover {100 * stats['calibration']['coverage']:.1f}% of held-out "
              f"recorded runs")
    return 0


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``surrogate fit`` and ``surrogate card`` to the main parser's sub-commands."""
    p = subparsers.add_parser("surrogate", parents=parents,
                              help="fit a surrogate benchmark from a table; model card")
    sub = p.add_subparsers(dest="surrogate_command", required=True, metavar="ACTION")
    f = sub.add_parser("fit", parents=parents, help="fit a surrogate on cells of a table")
    f.add_argument("--from", dest="source", required=True,
                   help="the table (name or .h5 path) to fit on")
    f.add_argument("--dataset", required=True)
    g = f.add_mutually_exclusive_group(required=True)
    g.add_argument("--train-fraction", type=float, default=None,
                   help="fit on a random share of the table's cells (drawn from --seed)")
    g.add_argument("--train-cells", default=None,
                   help="fit on the cells listed in this file (one id or index per line)")
    f.add_argument("--out", required=True, help="directory to write the model into")
    f.add_argument("--name", default=None, help="model name (default: the --out folder's)")
    f.add_argument("--members", type=int, default=5, help="ensemble members per metric")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--layout", default=None,
                   help="feature layout (default: the space's own, e.g. nb201-func)")
    f.add_argument("--metrics", default=None,
                   help="comma-separated metrics to model (default: every metric)")
    f.add_argument("--jobs", type=int, default=1,
                   help="XGBoost threads (more than one is slower on a busy machine)")
    f.add_argument("--no-card", action="store_true", help="do not write the model card")
    f.add_argument("--force", action="store_true", help="replace a model in --out")
    f.set_defaults(func=cmd_fit)
    c = sub.add_parser("card", parents=parents,
                       help="write the model card (held-out statistics, noise ceiling)")
    c.add_argument("model", help="the surrogate's directory")
    c.add_argument("--from", dest="source", default=None,
                   help="the table it was fitted on (default: the name it recorded)")
    c.add_argument("--metric", default=None, help="metric judged (default: validation)")
    c.set_defaults(func=cmd_card)
