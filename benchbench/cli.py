"""The ``benchbench`` command line.

    benchbench data import nb201 PATH [--name NAME] [--hp 200|12] [--force]
    benchbench data list
    benchbench data describe NAME
    benchbench query NAME CELL --dataset D [--metric M] [--epoch E] [--seed S] [--json]
    benchbench run --benchmark NAME --dataset D --algorithms rs,re,reinforce,ls --seeds 0-499
                   --max-evals N [--max-seconds S] --out DIR [--workers K] ...
    benchbench report DIR [--out OUT]
    benchbench data build --space nb201 --dataset D --epochs E --seeds S --out FILE
    benchbench validate --benchmark NAME (--cells FILE | --from-runs DIR) --epochs E
    benchbench proxies score ... / benchbench proxies correlate DIR

Every command takes ``--data-root DIR`` (default: ``$BENCHBENCH_DATA`` or ``~/.cache/benchbench``).
Errors print one line naming the bad value and what is allowed, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "parse_params", "parse_seeds"]


def parse_seeds(text: str) -> list[int]:
    """``"0-499"``, ``"1,2,10-12"`` or ``"7"`` -> a list of distinct ints >= 0."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"bad seed list {text!r}: use e.g. '0-499', '1,2,5-9' or '7' "
                             f"(ints >= 0, ranges inclusive)") from None
    if any(s < 0 for s in out):
        raise ValueError(f"bad seed list {text!r}: seeds must be >= 0")
    if len(set(out)) != len(out):
        raise ValueError(f"bad seed list {text!r}: a seed appears twice")
    return out


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_params(items: Sequence[str], algorithms: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["re.population_size=20", "reinforce.learning_rate=0.01"]`` -> per-algorithm params."""
    params: dict[str, dict[str, Any]] = {a: {} for a in algorithms}
    for item in items:
        key, eq, val = item.partition("=")
        algo, dot, name = key.partition(".")
        if not eq or not dot or not name:
            raise ValueError(f"bad --param {item!r}: use ALGORITHM.NAME=VALUE, "
                             f"e.g. re.population_size=20")
        if algo not in params:
            raise ValueError(f"--param {item!r} names algorithm {algo!r}, which is not in "
                             f"--algorithms ({', '.join(algorithms)})")
        params[algo][name] = _value(val)
    return params


# ------------------------------------------------------------------------ commands
def _cmd_data_import(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tabular_data import import_nb201

    if a.source != "nb201":
        raise ValueError(f"unknown data source {a.source!r}; allowed: nb201")
    t0 = time.perf_counter()
    calls = []
    with tqdm(unit="cell", desc=f"import {a.name}", disable=not a.progress) as bar:
        def progress(n: int) -> None:
            calls.append(n)
            bar.update(n)

        path = import_nb201(a.path, name=a.name, root=a.data_root, hp=a.hp, force=a.force,
                            progress=progress)
    if not calls:
        print(f"{a.path} is already imported as {a.name!r} ({path}); nothing to do")
    else:
        print(f"imported {a.path} as {a.name!r} -> {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _cmd_data_list(a: argparse.Namespace) -> int:
    from tabular_data import data_root, list_tables, open_benchmark
    from tabular_data._store import EMBEDDED

    names = list_tables(a.data_root)
    root = data_root(a.data_root)
    if not names:
        print(f"no tables in {root / 'tables'}; import one with `benchbench data import`")
        return 0
    print(f"tables in {root / 'tables'} and embedded in the package:")
    for n in names:
        with open_benchmark(n, a.data_root) as b:
            d = b.describe()
            where = "embedded" if b.path.parent == EMBEDDED else "imported"
            print(f"  {n:20s} {where:9s} {d.version:40s} datasets: {', '.join(b.datasets)}  "
                  f"sha256 {d.data_sha256[:12]}")
    return 0


def _cmd_data_describe(a: argparse.Namespace) -> int:
    from tabular_data import open_benchmark

    with open_benchmark(a.name, a.data_root) as b:
        print(json.dumps(b.describe().to_dict(), indent=1, default=str))
    return 0


def _cmd_query(a: argparse.Namespace) -> int:
    from benchbench.api import MissingDataError
    from tabular_data import open_benchmark

    with open_benchmark(a.name, a.data_root) as b:
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
        doc = {"benchmark": b.name, "arch_id": ev.arch_id,
               "index": b.space.index(b.space.parse(ev.arch_id)), "dataset": ev.dataset,
               "epoch": ev.fidelity, "data_seed": ev.data_seed,
               "values": {k: (None if math.isnan(v) else v) for k, v in values.items()},
               "cost_s": None if math.isnan(ev.cost_s) else ev.cost_s}
        if a.json:
            print(json.dumps(doc))
        else:
            print(f"{doc['arch_id']}  (index {doc['index']}) on {ev.dataset}, epoch {ev.fidelity}, "
                  f"{'seed mean' if ev.data_seed is None else f'seed {ev.data_seed}'}")
            units = {m.name: m.unit for m in b.metrics(a.dataset)}
            for k, v in values.items():
                print(f"  {k:14s} {v:12.6g} {units.get(k, '')}")
            print(f"  {'cost_s':14s} {ev.cost_s:12.6g} s")
    return 0


def _cmd_run(a: argparse.Namespace) -> int:
    from benchbench.runner import run_study
    from tabular_data import open_benchmark

    algos = [x.strip() for x in a.algorithms.split(",") if x.strip()]
    if not algos:
        raise ValueError("--algorithms is empty; e.g. --algorithms rs,re,reinforce,ls")
    if len(set(algos)) != len(algos):
        raise ValueError(f"--algorithms {a.algorithms!r} names an algorithm twice")
    params = parse_params(a.param or [], algos)
    seeds = parse_seeds(a.seeds)
    transfer = [x.strip() for x in (a.transfer or "").split(",") if x.strip()]
    command = "benchbench " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    with open_benchmark(a.benchmark, a.data_root) as b:
        res = run_study(b, a.out, dataset=a.dataset, algorithms=params, seeds=seeds,
                        max_evals=a.max_evals, max_seconds=a.max_seconds, fidelity=a.epoch,
                        objective=a.objective, test_metric=a.test_metric or None,
                        noise=a.noise, transfer=transfer, workers=a.workers,
                        executor=a.executor,
                        progress=a.progress, command=command)
    print(f"{res.done} runs done, {res.skipped} already done (skipped), {res.failed} failed "
          f"in {res.wall_s:.1f} s -> {res.out}")
    for run_id, err in res.failures[:10]:
        print(f"  failed {run_id}: {err}", file=sys.stderr)
    return 1 if res.failed else 0


def _cmd_report(a: argparse.Namespace) -> int:
    import results

    summary = results.write_summary(a.dir)
    print(summary.to_string(index=False))
    print(f"wrote {Path(a.dir) / 'summary.csv'}")
    if not a.summary_only:
        figures = not a.no_figures
        if figures and importlib.util.find_spec("matplotlib") is None:
            print("benchbench: note: matplotlib is not installed, so the report has tables but "
                  "no figures (pip install 'benchbench[plot]')", file=sys.stderr)
            figures = False
        command = "benchbench " + " ".join(shlex.quote(x) for x in sys.argv[1:])
        path = results.build_report(a.dir, a.out, command=command,
                                    formats=("png", "pdf") if figures else ())
        print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchbench", description=__doc__.split("\n")[0])
    p.add_argument("--data-root", default=None,
                   help="where tables live (default: $BENCHBENCH_DATA or ~/.cache/benchbench)")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="import, list and describe benchmark tables")
    dsub = data.add_subparsers(dest="data_command", required=True)
    imp = dsub.add_parser("import", help="import benchmark data into a table")
    imp.add_argument("source", help="what kind of data: nb201")
    imp.add_argument("path", help="NATS tss 'simple' directory, official .pth, or flat export")
    imp.add_argument("--name", default="nb201", help="table name (default: nb201)")
    imp.add_argument("--hp", default="200", choices=["200", "12"],
                     help="NB201 training schedule to import (default: 200 epochs)")
    imp.add_argument("--force", action="store_true", help="replace an existing table")
    imp.set_defaults(func=_cmd_data_import)
    lst = dsub.add_parser("list", help="list imported tables")
    lst.set_defaults(func=_cmd_data_list)
    dsc = dsub.add_parser("describe", help="print a table's description as JSON")
    dsc.add_argument("name")
    dsc.set_defaults(func=_cmd_data_describe)

    q = sub.add_parser("query", help="look up one cell")
    q.add_argument("name", help="table name or path to a .h5 table")
    q.add_argument("cell", help="official cell string or index")
    q.add_argument("--dataset", required=True)
    q.add_argument("--metric", default=None, help="print only this metric")
    q.add_argument("--epoch", type=int, default=None, help="epochs trained (default: max)")
    q.add_argument("--seed", type=int, default=None,
                   help="recorded training seed (default: seed mean)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_cmd_query)

    r = sub.add_parser("run", help="run search algorithms over many seeds")
    r.add_argument("--benchmark", required=True, help="table name or path to a .h5 table")
    r.add_argument("--dataset", required=True)
    r.add_argument("--algorithms", required=True, help="comma-separated, e.g. rs,re,reinforce,ls")
    r.add_argument("--seeds", required=True, help="e.g. 0-499 or 1,2,5-9")
    r.add_argument("--max-evals", type=int, default=None, help="evaluations per run")
    r.add_argument("--max-seconds", type=float, default=None,
                   help="simulated training seconds per run")
    r.add_argument("--out", required=True, help="study folder (resumable)")
    r.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)),
                   help="local processes (default: number of cores, at most 8)")
    r.add_argument("--executor", default="local", choices=["local", "ray"])
    r.add_argument("--epoch", type=int, default=None,
                   help="fidelity: epochs per evaluation (default: max)")
    r.add_argument("--objective", default="valid_acc", help="validation metric to optimise")
    r.add_argument("--test-metric", default="test_acc", help="metric reported for incumbents")
    r.add_argument("--noise", default="seed", choices=["seed", "mean"],
                   help="seed: one recorded run per cell and seed (default); mean: seed means")
    r.add_argument("--transfer", default=None, metavar="D1,D2",
                   help="also record the final incumbents' seed-mean values on these datasets")
    r.add_argument("--param", action="append", metavar="ALGO.NAME=VALUE",
                   help="hyper-parameter, e.g. re.population_size=20 (repeatable)")
    r.set_defaults(func=_cmd_run)

    rep = sub.add_parser("report", help="summarise a study folder")
    rep.add_argument("dir")
    rep.add_argument("--out", default=None, help="report folder (default: DIR/report)")
    rep.add_argument("--summary-only", action="store_true",
                     help="write only DIR/summary.csv")
    rep.add_argument("--no-figures", action="store_true",
                     help="tables only (no matplotlib needed)")
    rep.set_defaults(func=_cmd_report)

    from benchbench import _cli_proxies, _cli_train

    _cli_train.add_data_build_parser(dsub)
    _cli_train.register(sub)
    _cli_proxies.register(sub)
    for sp in (imp, r):
        sp.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if not hasattr(a, "progress"):
        a.progress = False
    elif a.progress:
        a.progress = sys.stderr.isatty()
    try:
        return int(a.func(a) or 0)
    except (ValueError, KeyError, LookupError, FileNotFoundError, FileExistsError,
            ImportError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"benchbench: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
