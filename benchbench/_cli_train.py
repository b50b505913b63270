"""``benchbench data build`` (train a tabular benchmark) and ``benchbench validate``
(retrain cells and compare them with a table).

:func:`add_data_build_parser` adds ``build`` under ``benchbench data``; :func:`register` adds
``validate`` to the main parser (see :mod:`benchbench.cli`).  torch is imported only when a
command trains.

Examples::

    benchbench data build --space nb201 --dataset digits --epochs 12 --seeds 0,1 \\
        --workers 2 --out tables/nb201-digits.h5          # resumable: rerun to continue
    benchbench data build --dataset cifar10-valid --protocol nb201-12 --seeds 777 \\
        --data-dir ~/data --cells cells.txt --out c10.h5
    benchbench validate --benchmark nb201-digits --from-runs study/ --out check.json
    benchbench validate --benchmark nb201-digits --cells cells.txt --seed 0
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_data_build_parser", "cmd_data_build", "cmd_validate", "parse_settings",
           "register"]


def parse_settings(items: list[str] | None) -> dict[str, Any]:
    """``["lr=0.05", "network.channels=8"]`` -> protocol overrides (values parsed as JSON
    where they parse, else kept as strings)."""
    out: dict[str, Any] = {}
    net: dict[str, Any] = {}
    for item in items or []:
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"bad --set {item!r}: use NAME=VALUE, e.g. lr=0.05 or "
                             f"network.channels=8")
        try:
            v: Any = json.loads(val)
        except json.JSONDecodeError:
            v = val
        if key.startswith("network."):
            net[key.split(".", 1)[1]] = v
        else:
            out[key] = v
    if net:
        out["network"] = net
    return out


def _progress_bar(enabled: bool, total: int | None, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="run", desc=desc, disable=not enabled)


def cmd_data_build(a: argparse.Namespace) -> int:
    """Handler of ``data build``."""
    from benchbench.cli import parse_seeds
    from benchbench.nn._train import get_protocol
    from tabular_data._build import assemble_table, make_spec, read_cells, train_shards

    out = Path(a.out)
    if out.suffix != ".h5":
        raise ValueError(f"--out must be a .h5 file, got {a.out!r}")
    if out.exists() and not a.force:
        raise FileExistsError(f"{out} exists; use --force to replace it")
    overrides = parse_settings(a.set)
    if "network" in overrides:
        base = get_protocol(a.protocol).network_options
        overrides["network"] = {**base, **overrides["network"]}
    cells = read_cells(a.cells, a.space) if a.cells else None
    spec = make_spec(space=a.space, dataset=a.dataset, protocol=a.protocol, epochs=a.epochs,
                     seeds=parse_seeds(a.seeds), rows=cells, data_dir=a.data_dir,
                     overrides=overrides)
    shards = Path(a.shards) if a.shards else out.with_name(out.name + ".shards")
    n_tasks = len(spec.tasks())
    print(f"building {out}: {len(spec.representatives())} cells (functional class "
          f"representatives of {len(spec.table_rows())} rows) x {len(spec.seeds)} seeds = "
          f"{n_tasks} trainings of {spec.protocol['epochs']} epochs on {spec.dataset}; "
          f"shards in {shards}", file=sys.stderr)
    t0 = time.perf_counter()
    command = "benchbench " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    if a.partial:
        path = assemble_table(shards, out, name=a.name, command=command, partial=True)
        print(f"assembled the finished part of the build (no training) -> {path}")
        return 0
    with _progress_bar(a.progress, n_tasks, "build") as bar:
        trained = train_shards(spec, shards, workers=a.workers, chunk_size=a.chunk_size,
                               data_dir=a.data_dir, device=a.device, progress=bar.update)
    path = assemble_table(shards, out, name=a.name, command=command)
    print(f"trained {trained} runs now ({n_tasks - trained} were already done) in "
          f"{time.perf_counter() - t0:.1f} s -> {path}")
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    """Handler of ``validate``."""
    from tabular_data import open_benchmark
    from tabular_data._build import incumbents_from_runs, read_cells, validate_table

    if bool(a.cells) == bool(a.from_runs):
        raise ValueError("give exactly one of --cells FILE or --from-runs DIR")
    with open_benchmark(a.benchmark, a.data_root) as b:
        cells = (read_cells(a.cells, b.space.name) if a.cells
                 else incumbents_from_runs(a.from_runs))
        if a.max_cells is not None:
            cells = cells[: a.max_cells]
        with _progress_bar(a.progress, None, "retrain") as bar:
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


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--data-dir", default=None,
                   help="folder holding CIFAR / ImageNet16 files (not needed for digits)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


def add_data_build_parser(data_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``build`` to the ``benchbench data`` sub-commands."""
    b = data_subparsers.add_parser(
        "build", help="train every cell of a space and write a table (resumable)")
    b.add_argument("--space", default="nb201", help="search space (default nb201)")
    b.add_argument("--dataset", default="digits",
                   help="digits (bundled, default), cifar10-valid, cifar10, cifar100, "
                        "ImageNet16-120")
    b.add_argument("--protocol", default="digits",
                   help="training protocol: digits (default), nb201, nb201-12, nb101, darts")
    b.add_argument("--epochs", type=int, default=None,
                   help="epochs of the schedule (default: the protocol's)")
    b.add_argument("--seeds", default="0,1", help="training seeds (default 0,1)")
    b.add_argument("--out", required=True, help="the .h5 table to write")
    b.add_argument("--name", default=None, help="table name (default: the file's stem)")
    b.add_argument("--cells", default=None,
                   help="file of cells (strings or indices) to fill (default: all)")
    b.add_argument("--shards", default=None,
                   help="resumable work folder (default: OUT.shards)")
    b.add_argument("--chunk-size", type=int, default=10, help="trainings per shard file")
    b.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a protocol setting, e.g. lr=0.05, batch_size=64, "
                        "network.channels=8 (repeatable)")
    b.add_argument("--force", action="store_true", help="replace an existing OUT")
    b.add_argument("--partial", action="store_true",
                   help="train nothing: assemble what the shards hold so far (a preview; "
                        "rows of untrained cells are missing)")
    _common(b)
    b.set_defaults(func=cmd_data_build)
    return b


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``validate`` to the main parser's sub-commands."""
    v = subparsers.add_parser(
        "validate", help="retrain cells and compare them with a table")
    v.add_argument("--benchmark", required=True, help="table name or path to a .h5 table")
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
    _common(v)
    v.set_defaults(func=cmd_validate)
    return v
