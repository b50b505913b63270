"""``benchbench proxies``: score cells with zero-cost proxies, import external scores,
correlate scores with a benchmark metric.  torch is imported only when ``score`` runs.

Examples::

    benchbench proxies score --benchmark nb201 --sample 1000 --out zc/ --workers 2
    benchbench proxies score --benchmark nb201 --cells cells.txt --proxies nwot,synflow \\
        --batch-source cifar10 --image-root ~/data --out zc/
    benchbench proxies import-naslib ../shared/data/nb201/zc_scores_725.json \\
        --dataset cifar10 --out zc-naslib/
    benchbench proxies correlate zc/ --dataset cifar10-valid --metric valid_acc --plots
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchbench.cli._common import (
    add_benchmark_option,
    add_no_progress,
    open_benchmark,
    parse_seeds,
    parse_value,
    split_items,
)

__all__ = ["cmd_correlate", "cmd_import_naslib", "cmd_score", "register"]


def _default_dataset(datasets: tuple[str, ...] | None) -> str:
    """``cifar10-valid``, else ``cifar10``, else the benchmark's first dataset."""
    if not datasets:
        return "cifar10"
    for d in ("cifar10-valid", "cifar10"):
        if d in datasets:
            return d
    return datasets[0]


def _default_metric(bench: Any, dataset: str) -> str:
    """``valid_acc`` if the dataset has it, else ``valtest_acc``, else its first metric."""
    names: list[str] = [m.name for m in bench.metrics(bench.check_dataset(dataset))]
    for n in ("valid_acc", "valtest_acc"):
        if n in names:
            return n
    return names[0]


def cmd_score(a: argparse.Namespace) -> int:
    """Handler of ``proxies score``."""
    import numpy as np
    import pandas as pd

    from algorithms.proxies import PROXIES, ScoreConfig, read_cells, sample_cells, score_cells
    from benchbench.spaces import RestrictedSpace, get_space

    space, datasets, rows = a.space, None, None
    try:
        with open_benchmark(a, a.benchmark) as bench:
            space, datasets = bench.space.name, tuple(bench.datasets)
            if isinstance(bench.space, RestrictedSpace):  # a table of some cells (NB101, ...)
                rows = bench.space
    except (LookupError, FileNotFoundError, ValueError, OSError) as e:
        if space is None:
            raise ValueError(f"cannot open benchmark {a.benchmark!r} ({e}); import it first "
                             f"(`benchbench data import`) or give --space to score without "
                             f"it") from None
    get_space(space)  # a clear error for an unknown space
    dataset = a.dataset or _default_dataset(datasets)
    if datasets is not None and dataset not in datasets:
        raise ValueError(f"unknown dataset {dataset!r} of benchmark {a.benchmark!r}; "
                         f"allowed: {', '.join(datasets)}")
    options: dict[str, Any] = {}
    if space == "nb201":
        options = {"channels": a.channels, "cells_per_stage": a.cells_per_stage}
    for item in a.network_option or []:
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad --network-option {item!r}: use KEY=VALUE, e.g. "
                             f"stem_channels=16")
        options[key.strip()] = parse_value(val)
    config = ScoreConfig(space=space, benchmark=a.benchmark, dataset=dataset,
                         num_classes=a.num_classes, batch_source=a.batch_source,
                         batch_size=a.batch_size,
                         data_root=None if a.image_root is None else str(Path(a.image_root)),
                         builder_options=options)
    if a.cells is not None:
        cells = read_cells(a.cells, space)
    elif rows is not None:  # draw from the table's own cells, so that correlate can use them
        from benchbench.rng import make_rng

        if not 1 <= a.sample <= rows.size:
            raise ValueError(f"--sample must be in 1..{rows.size} (the cells of "
                             f"{a.benchmark!r}), got {a.sample}")
        idx = make_rng(a.sample_seed, "proxy-sample").choice(rows.size, size=a.sample,
                                                             replace=False)
        cells = [rows.from_index(int(i)) for i in np.sort(idx)]
    else:
        cells = sample_cells(a.sample, space=space, seed=a.sample_seed)
    df = score_cells(cells, a.out, config=config, proxies=split_items(a.proxies) or PROXIES,
                     seeds=parse_seeds(a.seeds), workers=a.workers,
                     progress=bool(getattr(a, "progress", False)))
    bad = (~np.isfinite(df["value"].to_numpy(dtype=float))).astype(int)
    n_bad = pd.Series(bad).groupby(df["proxy"].to_numpy()).sum()
    print(f"{df['arch_id'].nunique()} cells x {df['seed'].nunique()} seeds scored in {a.out}")
    if n_bad.any():
        print("non-finite scores (NaN / inf, kept): "
              + ", ".join(f"{p}={n}" for p, n in n_bad.items() if n))
    return 0


def cmd_import_naslib(a: argparse.Namespace) -> int:
    """Handler of ``proxies import-naslib``."""
    from algorithms.proxies import import_naslib_scores

    out = import_naslib_scores(a.file, a.dataset, a.out, proxies=split_items(a.proxies),
                               space=a.space)
    print(f"wrote {out} (scores of {a.file}, dataset {a.dataset!r})")
    return 0


def cmd_correlate(a: argparse.Namespace) -> int:
    """Handler of ``proxies correlate``: prints a table and writes a CSV, one row per proxy
    and dataset."""
    import pandas as pd

    from algorithms.proxies import load_scores
    from results.correlation import (
        correlate_scores,
        plot_heatmap,
        plot_scatter,
        published_spearman,
        targets_from_benchmark,
    )

    cfg, scores = load_scores(a.dir)
    if scores.empty:
        raise ValueError(f"{a.dir} holds no scores yet")
    name = a.benchmark or cfg.benchmark
    ids = sorted(scores["arch_id"].unique())
    proxies = split_items(a.proxies)
    tables, targets = [], {}
    with open_benchmark(a, name) as bench:
        for dataset in split_items([a.dataset] if a.dataset else None) or [cfg.dataset]:
            metric = a.metric or _default_metric(bench, dataset)
            tgt = pd.Series(targets_from_benchmark(bench, ids, dataset=dataset, metric=metric,
                                                   fidelity=a.fidelity), index=ids)
            t = correlate_scores(scores, tgt, proxies=proxies, top_k=a.top_k,
                                 n_boot=a.n_boot, seed=a.seed)
            t.insert(0, "metric", metric)
            t.insert(0, "dataset", dataset)
            # the published numbers are NB201's (all 15,625 cells): none beside other spaces
            nb201 = bench.space.name == "nb201"
            t["published_spearman"] = [published_spearman(p, dataset, cfg.implementation)
                                       if nb201 else float("nan") for p in t["proxy"]]
            tables.append(t)
            targets[(dataset, metric)] = tgt
    table = pd.concat(tables, ignore_index=True)
    tag = "_".join(f"{d}_{m}" for d, m in targets)
    out = Path(a.csv) if a.csv else Path(a.dir) / f"correlation_{tag}.csv"
    table.to_csv(out, index=False)
    print(f"{name}: signed rank correlations with 95% bootstrap CIs, scores on "
          f"{cfg.batch_source} batches ({cfg.dataset} classes); published: Abdelfattah et al. "
          f"2021 (signed Spearman, all 15,625 cells, real-data batches)")
    print(table[["dataset", "metric", "proxy", "n", "n_nan", "n_inf", "spearman",
                 "spearman_lo", "spearman_hi", "kendall", "kendall_lo", "kendall_hi",
                 "top_k_overlap", "published_spearman"]].to_string(
        index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out}")
    if a.plots:
        plots = Path(a.dir) / "plots"
        for (dataset, metric), tgt in targets.items():
            plot_scatter(scores, tgt, plots / f"{dataset}_{metric}",
                         target_label=f"{dataset} {metric}", proxies=proxies)
        plot_heatmap(table, plots / f"heatmap_{tag}.png", title=f"{name}: signed Spearman rho")
        print(f"wrote plots to {plots}")
    return 0


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``proxies score|import-naslib|correlate`` to the main parser's sub-commands."""
    p = subparsers.add_parser("proxies", parents=parents,
                              help="zero-cost proxies: score cells, correlate")
    ps = p.add_subparsers(dest="proxies_command", required=True)

    s = ps.add_parser("score", parents=parents,
                      help="score cells with zero-cost proxies (cached, resumable)")
    s.add_argument("--benchmark", required=True,
                   help="benchmark name, .h5 path or import path (its space and datasets; "
                        "correlate uses it)")
    s.add_argument("--space", default=None,
                   help="search space, needed only if the benchmark cannot be opened (nb201)")
    s.add_argument("--dataset", default=None,
                   help="dataset whose classes the network has (default: cifar10-valid if the "
                        "benchmark has it, else its first)")
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", type=int, metavar="N",
                       help="score N uniformly drawn cells (of the table, for a table of some "
                            "cells such as nb101-naslib)")
    which.add_argument("--cells", metavar="FILE", help="one cell string (or index) per line")
    s.add_argument("--sample-seed", type=int, default=0, help="seed of --sample (default 0)")
    s.add_argument("--proxies", nargs="+", default=None,
                   help="names, space- or comma-separated (default: all)")
    s.add_argument("--seeds", default="0", help="init / batch seeds, e.g. 0-2 (default 0)")
    s.add_argument("--batch-source", default="digits",
                   choices=["digits", "random", "cifar10", "cifar100", "imagenet16-120"],
                   help="data batch (default: bundled digits; CIFAR / ImageNet16 need "
                        "--image-root)")
    s.add_argument("--image-root", default=None,
                   help="folder with cifar-10-batches-py / cifar-100-python / ImageNet16")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--num-classes", type=int, default=None,
                   help="classifier outputs (default: from the dataset name)")
    s.add_argument("--channels", type=int, default=16, help="NB201 C (default 16)")
    s.add_argument("--cells-per-stage", type=int, default=5, help="NB201 N (default 5)")
    s.add_argument("--network-option", action="append", metavar="KEY=VALUE",
                   help="network builder option, e.g. stem_channels=16 (NB101), repeatable")
    s.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    s.add_argument("--out", required=True, help="score directory (resumable)")
    add_benchmark_option(s)
    add_no_progress(s)
    s.set_defaults(func=cmd_score)

    c = ps.add_parser("correlate", parents=parents,
                      help="rank correlations of scores with a benchmark metric")
    c.add_argument("dir", help="a `proxies score` directory")
    c.add_argument("--benchmark", default=None, help="default: the one recorded in DIR")
    c.add_argument("--dataset", default=None,
                   help="dataset(s), comma-separated (default: the one recorded in DIR)")
    c.add_argument("--metric", default=None, help="default: valid_acc, else valtest_acc")
    c.add_argument("--fidelity", type=int, default=None, help="epochs (default: max)")
    c.add_argument("--proxies", nargs="+", default=None, help="default: all scored")
    c.add_argument("--top-k", type=float, default=0.1, help="top-k fraction (default 0.1)")
    c.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    c.add_argument("--csv", default=None,
                   help="output CSV (default: DIR/correlation_<dataset>_<metric>.csv)")
    c.add_argument("--plots", action="store_true",
                   help="also write a scatter per proxy and a heatmap into DIR/plots")
    add_benchmark_option(c)
    c.set_defaults(func=cmd_correlate)

    i = ps.add_parser("import-naslib", parents=parents,
                      help="turn a NASLib / NAS-Bench-Suite-Zero NB201 score file into a score "
                           "directory (for correlate, naswot and re-zc)")
    i.add_argument("file", help="e.g. ../shared/data/nb201/zc_scores_725.json")
    i.add_argument("--dataset", required=True, help="the file's dataset key, e.g. cifar10")
    i.add_argument("--proxies", nargs="+", default=None, help="default: all of ours it has")
    i.add_argument("--space", default="nb201",
                   help="the file's search space: nb201 (default) or darts "
                        "(darts_725_with_zc.json)")
    i.add_argument("--out", required=True, help="new score directory")
    i.set_defaults(func=cmd_import_naslib)
