"""``benchbench query``: look up (or, on a training backend, train) one cell.

Examples::

    benchbench query nb201-digits 0 --dataset digits --epoch 12 --seed 1 --json
    benchbench query nb201-digits-train 0 --dataset digits --epoch 2 --seed 0
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from benchbench.cli._common import add_benchmark_option, open_benchmark

__all__ = ["cmd_query", "register"]


def cmd_query(a: argparse.Namespace) -> int:
    """Handler of ``query``: prints the evaluation (every metric, or ``--metric``)."""
    from benchbench.api import MissingDataError
    from benchbench.spaces import is_enumerable

    with open_benchmark(a, a.name) as b:
        cell: Any = int(a.cell) if a.cell.isdigit() else a.cell
        ev = b.query(cell, dataset=a.dataset, fidelity=a.epoch, data_seed=a.seed)
        values = dict(ev.values)
        if a.metric:
            m = b.metric(a.dataset, a.metric)
            v = values[m.name]
            if math.isnan(v):
                raise MissingDataError(
                    f"{m.name!r} has no recorded value for this cell at epoch {ev.fidelity}"
                    + (f" and seed {a.seed}" if a.seed is not None else " (seed mean)")
                    + f"; recorded at epochs {list(b.metric_epochs(a.dataset, m.name))}"
                    + ("" if b.has_seed_values(a.dataset, m.name) else ", seed means only"))
            values = {m.name: v}
        index = (b.space.index(b.space.parse(ev.arch_id)) if is_enumerable(b.space)
                 else None)
        doc = {"benchmark": b.name, "arch_id": ev.arch_id, "index": index,
               "dataset": ev.dataset, "epoch": ev.fidelity, "data_seed": ev.data_seed,
               "values": {k: (None if math.isnan(v) else v) for k, v in values.items()},
               "cost_s": None if math.isnan(ev.cost_s) else ev.cost_s}
        if a.json:
            print(json.dumps(doc))
            return 0
        where = "" if index is None else f"  (index {index})"
        print(f"{doc['arch_id']}{where} on {ev.dataset}, epoch {ev.fidelity}, "
              f"{'seed mean' if ev.data_seed is None else f'seed {ev.data_seed}'}")
        units = {m.name: m.unit for m in b.metrics(a.dataset)}
        for k, v in values.items():
            print(f"  {k:14s} {v:12.6g} {units.get(k, '')}")
        print(f"  {'cost_s':14s} {ev.cost_s:12.6g} s")
    return 0


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``query`` to the main parser's sub-commands."""
    q = subparsers.add_parser("query", parents=parents, help="look up one cell")
    q.add_argument("name", help="benchmark: table name or .h5 path, registered factory "
                                "(e.g. nb201-digits-train) or import path pkg.mod:Factory")
    q.add_argument("cell", help="official cell string or index")
    q.add_argument("--dataset", required=True)
    q.add_argument("--metric", default=None, help="print only this metric")
    q.add_argument("--epoch", type=int, default=None, help="epochs trained (default: max)")
    q.add_argument("--seed", type=int, default=None,
                   help="recorded training seed (default: seed mean)")
    q.add_argument("--json", action="store_true", help="print JSON")
    add_benchmark_option(q)
    q.set_defaults(func=cmd_query)
