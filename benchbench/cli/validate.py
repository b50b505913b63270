"""``benchbench validate``: retrain cells and compare them with a table.

Examples::

    benchbench validate --benchmark nb201-digits --from-runs study/ --out check.json
    benchbench validate --benchmark nb201-digits --cells cells.txt --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchbench.cli._common import (
    add_benchmark_option,
    add_training_options,
    open_benchmark,
    progress_bar,
)

__all__ = ["cmd_validate", "register"]


def cmd_validate(a: argparse.Namespace) -> int:
    """Handler of ``validate``: prints the report, writes it as JSON with ``--out``."""
    from tabular_data import incumbents_from_runs, read_cells, validate_table

    if bool(a.cells) == bool(a.from_runs):
        raise ValueError("give exactly one of --cells FILE or --from-runs DIR")
    if a.max_cells is not None and a.max_cells < 1:
        raise ValueError(f"--max-cells must be >= 1, got {a.max_cells}")
    with open_benchmark(a, a.benchmark) as b:
        kind = b.describe().kind
        if kind != "tabular":
            raise ValueError(f"validate compares retrained cells with a table, and "
                             f"{a.benchmark!r} is a {kind} benchmark: give a table name or "
                             f".h5 path (`benchbench data list` lists them)")
        cells = (read_cells(a.cells, b.space.name) if a.cells
                 else incumbents_from_runs(a.from_runs))
        if a.max_cells is not None:
            cells = cells[: a.max_cells]
        with progress_bar(a.progress, None, "retrain") as bar:
            rep = validate_table(b, cells, dataset=a.dataset, epoch=a.epochs, seed=a.seed,
                                 metric=a.metric, protocol=a.protocol, data_dir=a.data_dir,
                                 device=a.device, workers=a.workers, threshold=a.threshold,
                                 progress=bar.update)
    print(rep.text())
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(rep.to_dict(), indent=1))
        print(f"wrote {a.out}")
    return 0


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``validate`` to the main parser's sub-commands."""
    v = subparsers.add_parser("validate", parents=parents,
                              help="retrain cells and compare them with a table")
    v.add_argument("--benchmark", required=True,
                   help="table name or .h5 path (or an import path of a factory that opens a "
                        "table)")
    v.add_argument("--cells", default=None, help="file of cells (strings or indices)")
    v.add_argument("--from-runs", default=None,
                   help="study folder: validate each run's final incumbent")
    v.add_argument("--epochs", type=int, default=None,
                   help="fidelity compared (default: the table's largest)")
    v.add_argument("--dataset", default=None, help="table dataset (default: its only one)")
    v.add_argument("--metric", default="valid_acc", help="metric compared (default valid_acc)")
    v.add_argument("--seed", type=int, default=None,
                   help="retraining seed (default: a seed the table does not have)")
    v.add_argument("--protocol", default=None,
                   help="training protocol (default: the table's own, from its provenance)")
    v.add_argument("--threshold", type=float, default=2.5,
                   help="|retrained - table mean| allowed, in pooled seed sigmas (2.5)")
    v.add_argument("--max-cells", type=int, default=None, help="validate at most N cells")
    v.add_argument("--out", default=None, help="write the report as JSON here")
    add_benchmark_option(v)
    add_training_options(v)
    v.set_defaults(func=cmd_validate)
