"""``benchbench data latency``: measure every cell's inference latency on this machine and
write a copy of the table with the latency metrics.

Example::

    benchbench data latency --benchmark nb201-digits --device cpu --batch 1,64 --threads 2 \\
        --out tables/nb201-digits-latency.h5      # resumable: run it again to continue

See :mod:`tabular_data._latency` for what is measured and how.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from benchbench.cli._common import add_no_progress, command_string, data_root, progress_bar

__all__ = ["cmd_latency", "register"]


def _ints(text: str, what: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"bad {what} {text!r}: use comma-separated integers, e.g. 1,64"
                         ) from None
    if not out:
        raise ValueError(f"bad {what} {text!r}: name at least one")
    return out


def cmd_latency(a: argparse.Namespace) -> int:
    """Handler of ``data latency``."""
    from tabular_data import resolve_table
    from tabular_data._cells import read_cells
    from tabular_data._latency import add_latency, measure_noise

    src = resolve_table(a.benchmark, data_root(a))
    rows = None
    if a.cells:
        from tabular_data import open_benchmark

        with open_benchmark(src) as b:
            rows = read_cells(a.cells, b.space.name)
    datasets = [d.strip() for d in a.datasets.split(",")] if a.datasets else None
    with progress_bar(a.progress, None, "latency") as bar:
        res = add_latency(src, a.out, device=a.device, batches=_ints(a.batch, "--batch"),
                          threads=a.threads, repeats=a.repeats, warmup=a.warmup,
                          datasets=datasets, protocol=a.protocol, rows=rows,
                          shards=a.shards, workers=a.workers, chunk_size=a.chunk_size,
                          metric_prefix=a.metric_prefix, command=command_string(a),
                          progress=bar.update)
    m = res["machine"]
    print(f"measured {res['classes']} networks (one per functional class) on "
          f"{m['device_name']} ({m['device']}, {m['threads']} threads, torch {m['torch']}) in "
          f"{res['measured_now_s']:.1f} s now -> {res['out']} (metrics "
          f"{', '.join(res['metrics'])} on {', '.join(res['datasets'])})")
    if a.noise_sample:
        nz = measure_noise(res, n=a.noise_sample)
        print("measurement noise: Spearman between two passes over "
              f"{len(nz['classes'])} classes: " + ", ".join(
                  f"batch {b}: {r:.3f}" for b, r in nz["spearman"].items()), file=sys.stderr)
    return 0


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``latency`` under the ``data`` command (which :mod:`benchbench.cli.data` adds
    first)."""
    data = subparsers.choices["data"]
    dsub = next(act for act in data._actions if isinstance(act, argparse._SubParsersAction))
    p = dsub.add_parser("latency", parents=parents,
                        help="measure every cell's inference latency on this machine and "
                             "write a copy of the table with it (resumable)")
    p.add_argument("--benchmark", required=True, help="table name or .h5 path")
    p.add_argument("--out", required=True,
                   help="the .h5 copy to write (the source table is never modified)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", default="1,64", help="batch sizes (default 1,64)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--repeats", type=int, default=10, help="timed passes (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed passes first (default 3)")
    p.add_argument("--datasets", default=None, help="datasets to add it to (default: all)")
    p.add_argument("--protocol", default=None,
                   help="whose network options (default: the table's build protocol, else "
                        "the space's)")
    p.add_argument("--cells", default=None,
                   help="file of cells (strings or indices): measure only their classes")
    p.add_argument("--shards", default=None,
                   help="resumable work folder (default OUT.latency-shards)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes measuring in parallel (they share the machine: use 1 for "
                        "numbers to report)")
    p.add_argument("--chunk-size", type=int, default=20, help="networks per shard file")
    p.add_argument("--metric-prefix", default="latency_ms",
                   help="metric names PREFIX_b<batch> (default latency_ms)")
    p.add_argument("--noise-sample", type=int, default=20,
                   help="measure this many classes again and print the rank correlation "
                        "between the two passes (0: skip; default 20)")
    add_no_progress(p)
    p.set_defaults(func=cmd_latency)
