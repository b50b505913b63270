"""``benchbench data``: import, list, describe and build benchmark tables.

Examples::

    benchbench data import nb201 ../shared/data/nb201/nb201_table.csv.gz
    benchbench data list
    benchbench data describe nb201-digits
    benchbench data describe nb201-digits-train --benchmark-option device=cuda
    benchbench data build --space nb201 --dataset digits --epochs 12 --seeds 0,1 \\
        --workers 2 --out tables/nb201-digits.h5          # resumable: rerun to continue
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchbench.cli._common import (
    add_benchmark_option,
    add_no_progress,
    add_training_options,
    command_string,
    data_root,
    open_benchmark,
    parse_seeds,
    parse_value,
    progress_bar,
)

__all__ = ["cmd_build", "cmd_describe", "cmd_import", "cmd_list", "parse_settings",
           "register"]


def parse_settings(items: list[str] | None) -> dict[str, Any]:
    """``["lr=0.05", "network.channels=8"]`` -> protocol overrides (values parsed as JSON
    where they parse, else kept as strings; ``network.*`` keys go into ``network``)."""
    out: dict[str, Any] = {}
    net: dict[str, Any] = {}
    for item in items or []:
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"bad --set {item!r}: use NAME=VALUE, e.g. lr=0.05 or "
                             f"network.channels=8")
        if key.startswith("network."):
            net[key.split(".", 1)[1]] = parse_value(val)
        else:
            out[key] = parse_value(val)
    if net:
        out["network"] = net
    return out


# ----------------------------------------------------------------------------- handlers
def cmd_import(a: argparse.Namespace) -> int:
    """Handler of ``data import``: dispatches on the source (:data:`IMPORT_SOURCES`)."""
    handler = IMPORT_SOURCES.get(a.source)
    if handler is None:
        raise ValueError(f"unknown data source {a.source!r}; allowed: "
                         f"{', '.join(sorted(IMPORT_SOURCES))}")
    return handler(a)


def _import_nb201(a: argparse.Namespace) -> int:
    """``data import nb201 PATH``: official NATS / NB201 files or the flat export."""
    from tqdm import tqdm

    from tabular_data import import_nb201

    name = a.name or "nb201"
    t0 = time.perf_counter()
    calls = []
    with tqdm(unit="cell", desc=f"import {name}", disable=not a.progress) as bar:
        def progress(n: int) -> None:
            calls.append(n)
            bar.update(n)

        path = import_nb201(a.path, name=name, root=data_root(a), hp=a.hp, force=a.force,
                            progress=progress, trust_pickle=a.trust_pickle)
    if not calls:
        print(f"{a.path} is already imported as {name!r} ({path}); nothing to do")
    else:
        print(f"imported {a.path} as {name!r} -> {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _import_nb301_yahpo(a: argparse.Namespace) -> int:
    """``data import nb301-yahpo PATH``: YAHPO Gym's ONNX surrogate of NAS-Bench-301 (the
    folder ``nb301/`` of YAHPO's data): sha256-checked, batch-rewritten, verified."""
    from surrogates.yahpo import import_yahpo_nb301

    t0 = time.perf_counter()
    name = a.name or "nb301-yahpo"
    before = time.time()
    folder = import_yahpo_nb301(a.path, name=name, root=data_root(a), force=a.force)
    if (folder / "manifest.json").stat().st_mtime < before:
        print(f"{a.path} is already imported as {name!r} ({folder}); nothing to do")
        return 0
    m = json.loads((folder / "manifest.json").read_text())
    chk = m["batching_check"]
    print(f"imported {a.path} as {m['name']!r} -> {folder} ({time.perf_counter() - t0:.1f} s); "
          f"model sha256 {m['model_sha256'][:12]}..., batched {m['batched_sha256'][:12]}...; "
          f"batched = per-row on {chk['rows']} rows (max |diff| {chk['max_abs_diff']:g})")
    return 0


#: ``data import SOURCE``: one handler per source (each reads the options it needs from the
#: parsed arguments; the options of every source are declared in :func:`register`).
def _import_nb101(a: argparse.Namespace) -> int:
    """``data import nb101 PATH``: an official NB101 ``.tfrecord`` (only108 or full)."""
    from tqdm import tqdm

    from tabular_data._import_nb101 import import_nb101_tfrecord

    name = a.name or "nb101"
    size = Path(a.path).stat().st_size if Path(a.path).is_file() else 0
    t0 = time.perf_counter()
    calls = []
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"import {name}",
              disable=not a.progress) as bar:
        def progress(n: int) -> None:
            calls.append(n)
            bar.update(n)

        path = import_nb101_tfrecord(a.path, name=name, root=data_root(a), force=a.force,
                                     progress=progress)
    dt = time.perf_counter() - t0
    if not calls:
        print(f"{a.path} is already imported as {name!r} ({path}); nothing to do")
    else:
        print(f"imported {a.path} as {name!r} -> {path} ({dt:.1f} s, "
              f"{dt / max(size / 1e9, 1e-12):.1f} s per GB of input)")
    return 0


def _import_nb101_naslib(a: argparse.Namespace) -> int:
    """``data import nb101-naslib PATH``: NASLib's ``nb101_500_with_zc.json`` (partial)."""
    from tabular_data._import_nb101 import import_nb101_naslib

    name = a.name or "nb101-naslib"
    path = import_nb101_naslib(a.path, name=name, root=data_root(a), force=a.force)
    print(f"imported {a.path} as {name!r} -> {path}")
    return 0


def _import_nb301_naslib(a: argparse.Namespace) -> int:
    """``data import nb301-naslib PATH``: NASLib's ``darts_725_with_zc.json`` (partial)."""
    from tabular_data._import_nb301 import import_nb301_naslib

    name = a.name or "nb301-naslib"
    path = import_nb301_naslib(a.path, name=name, root=data_root(a), force=a.force)
    print(f"imported {a.path} as {name!r} -> {path}")
    return 0


def _import_table(a: argparse.Namespace) -> int:
    """``data import table FILE --arch-columns ... --metric ...``: any CSV / Parquet table
    whose architecture is a tuple of categorical columns (issue 14)."""
    from tabular_data._import_table import import_table

    if not a.arch_columns:
        raise ValueError("data import table needs --arch-columns c1,c2,... (the columns "
                         "that make up the architecture)")
    if not a.metric:
        raise ValueError("data import table needs at least one --metric "
                         "NAME=COLUMN:SPLIT:max|min, e.g. valid_acc=acc:valid:max")
    name = a.name or Path(a.path).name.split(".")[0]
    t0 = time.perf_counter()
    cols = [c.strip() for c in a.arch_columns.split(",") if c.strip()]
    path = import_table(a.path, arch_columns=cols, metrics=a.metric, name=name,
                        root=data_root(a), seed_column=a.seed_column,
                        fidelity_column=a.fidelity_column, cost_column=a.cost_column,
                        dataset=a.dataset, force=a.force)
    print(f"imported {a.path} as {name!r} -> {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


IMPORT_SOURCES: dict[str, Callable[[argparse.Namespace], int]] = {
    "nb201": _import_nb201,
    "nb101": _import_nb101,
    "nb101-naslib": _import_nb101_naslib,
    "nb301-naslib": _import_nb301_naslib,
    "nb301-yahpo": _import_nb301_yahpo,
    "table": _import_table,
}


def _short(text: str, width: int = 90) -> str:
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" ...")


def cmd_list(a: argparse.Namespace) -> int:
    """Handler of ``data list``: the tables (imported and embedded), what other backends
    offer, and the registered benchmark factories."""
    from benchbench.registry import BACKENDS, BENCHMARKS

    root = data_root(a)
    tables = BACKENDS.load("table")
    names = tables.names(root)
    if names:
        print(f"tables in {tables.root(root)} and embedded in the package:")
        for n in names:
            with tables.open(n, root) as b:
                d = b.describe()
                print(f"  {n:20s} {tables.where(n, root):9s} {d.version:40s} "
                      f"datasets: {', '.join(b.datasets)}  sha256 {d.data_sha256[:12]}")
    else:
        print(f"no tables in {tables.root(root)}; import one with `benchbench data import`")
    for backend_name in BACKENDS.names():
        if backend_name == "table":
            continue
        try:
            found = ", ".join(BACKENDS.load(backend_name).names(root)) or "(none)"
        except Exception as e:  # a broken plug-in must not hide the rest of the listing
            found = f"cannot load: {type(e).__name__}: {e}"
        print(f"backend {backend_name}: {found}")
    entries = BENCHMARKS.entries()
    if entries:
        print("benchmark factories (their options: `benchbench list benchmarks`):")
    for entry in entries:
        # nothing is imported here (a training backend would import torch)
        target = entry.target if isinstance(entry.target, str) else repr(entry.target)
        print(f"  {entry.name:20s} {entry.origin:9s} {_short(entry.description or target)}")
    return 0


def cmd_describe(a: argparse.Namespace) -> int:
    """Handler of ``data describe``: the benchmark's description as JSON."""
    with open_benchmark(a, a.name) as b:
        print(json.dumps(b.describe().to_dict(), indent=1, default=str))
    return 0


def cmd_build(a: argparse.Namespace) -> int:
    """Handler of ``data build``: train cells into resumable shards, then assemble a table."""
    from benchbench.protocols import get_protocol
    from tabular_data import make_spec, read_cells
    from tabular_data._builder import shard_lock, table_is_built

    out = Path(a.out)
    if out.suffix != ".h5":
        raise ValueError(f"--out must be a .h5 file, got {a.out!r}")
    overrides = parse_settings(a.set)
    if "network" in overrides:
        base = get_protocol(a.protocol).network_options
        overrides["network"] = {**base, **overrides["network"]}
    cells = read_cells(a.cells, a.space) if a.cells else None
    spec = make_spec(space=a.space, dataset=a.dataset, protocol=a.protocol, epochs=a.epochs,
                     seeds=parse_seeds(a.seeds), rows=cells, data_dir=a.data_dir,
                     overrides=overrides)
    shards = Path(a.shards) if a.shards else out.with_name(out.name + ".shards")
    if out.exists() and not a.force:
        if not a.partial and table_is_built(out, spec, shards):
            print(f"{out} is already built from the same shards ({shards}, build "
                  f"{spec.sha256[:12]}); nothing to do (--force rebuilds it)")
            return 0
        raise FileExistsError(f"{out} exists (from another build or unfinished); use --force "
                              f"to replace it")
    with shard_lock(shards):  # one builder per shard folder, refused at once
        return _build_locked(a, spec, out, shards)


def _build_locked(a: argparse.Namespace, spec: Any, out: Path, shards: Path) -> int:
    """``data build`` once the shard folder's lock is held: train, then assemble."""
    from tabular_data import assemble_table, train_shards

    n_tasks = len(spec.tasks())
    print(f"building {out}: {len(spec.representatives())} cells (functional class "
          f"representatives of {len(spec.table_rows())} rows) x {len(spec.seeds)} seeds = "
          f"{n_tasks} trainings of {spec.protocol['epochs']} epochs on {spec.dataset}; "
          f"shards in {shards}", file=sys.stderr)
    t0 = time.perf_counter()
    command = command_string(a)
    if a.partial:
        path = assemble_table(shards, out, name=a.name, command=command, partial=True)
        print(f"assembled the finished part of the build (no training) -> {path}")
        return 0
    with progress_bar(a.progress, n_tasks, "build") as bar:
        trained = train_shards(spec, shards, workers=a.workers,
                               chunk_size=a.chunk_size, data_dir=a.data_dir,
                               device=a.device, progress=bar.update)
    path = assemble_table(shards, out, name=a.name, command=command)
    print(f"trained {trained} runs now ({n_tasks - trained} were already done) in "
          f"{time.perf_counter() - t0:.1f} s -> {path}")
    return 0


# ------------------------------------------------------------------------------- parser
def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``data import|list|describe|build`` to the main parser's sub-commands."""
    data = subparsers.add_parser("data", parents=parents,
                                 help="import, list, describe and build benchmark tables")
    dsub = data.add_subparsers(dest="data_command", required=True)

    imp = dsub.add_parser("import", parents=parents, help="import benchmark data into a table")
    imp.add_argument("source", help="what kind of data: " + ", ".join(sorted(IMPORT_SOURCES)))
    imp.add_argument("path", help="NATS tss 'simple' directory, official .pth, or flat export "
                                     "(nb201); official .tfrecord (nb101); "
                                     "nb101_500_with_zc.json (nb101-naslib); a .csv / "
                                     ".parquet file (table)")
    imp.add_argument("--name", default=None, help="table name (default: the source's name)")
    imp.add_argument("--hp", default="200", choices=["200", "12"],
                     help="NB201 training schedule to import (default: 200 epochs)")
    imp.add_argument("--force", action="store_true", help="replace an existing table")
    imp.add_argument("--trust-pickle", action="store_true",
                     help="load .pickle.pbz2 / .pth files without restriction (runs any code "
                          "they name; only for files you trust; recorded in the provenance)")
    tab = imp.add_argument_group("table (any CSV / Parquet file)")
    tab.add_argument("--arch-columns", default=None, metavar="C1,C2,...",
                     help="table: the columns whose values make up the architecture")
    tab.add_argument("--metric", action="append", metavar="NAME=COLUMN:SPLIT:max|min",
                     help="table: a metric, e.g. valid_acc=acc:valid:max or "
                          "latency_ms=lat::min (repeatable; SPLIT empty for a cost)")
    tab.add_argument("--seed-column", default=None, help="table: training seed column")
    tab.add_argument("--fidelity-column", default=None, help="table: epochs column")
    tab.add_argument("--cost-column", default=None,
                     help="table: cumulative training seconds column")
    tab.add_argument("--dataset", default=None,
                     help="table: dataset name inside the table (default: the table's name)")
    add_no_progress(imp)
    imp.set_defaults(func=cmd_import)

    lst = dsub.add_parser("list", parents=parents,
                          help="list tables (imported and embedded) and benchmark factories")
    lst.set_defaults(func=cmd_list)

    dsc = dsub.add_parser("describe", parents=parents,
                          help="print a benchmark's description as JSON")
    dsc.add_argument("name", help="table name or .h5 path, benchmark factory or import path")
    add_benchmark_option(dsc)
    dsc.set_defaults(func=cmd_describe)

    b = dsub.add_parser("build", parents=parents,
                        help="train every cell of a space and write a table (resumable)")
    b.add_argument("--space", default="nb201", help="search space (default nb201)")
    b.add_argument("--dataset", default="digits",
                   help="digits (bundled, default), cifar10-valid, cifar10, cifar100, "
                        "ImageNet16-120")
    b.add_argument("--protocol", default="digits",
                   help="training protocol: digits (default), nb201, nb201-12, nb101, darts "
                        "(see `benchbench list protocols`)")
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
    add_training_options(b)
    b.set_defaults(func=cmd_build)
