"""The ``benchbench`` command line.

    benchbench data import nb201 PATH [--name NAME] [--hp 200|12] [--force]
    benchbench data list
    benchbench data describe BENCHMARK
    benchbench data build --space nb201 --dataset D --epochs E --seeds S --out FILE
    benchbench data latency --benchmark NAME --device cpu|cuda --batch 1,64 --out FILE
    benchbench query BENCHMARK CELL --dataset D [--metric M] [--epoch E] [--seed S] [--json]
    benchbench run --benchmark BENCHMARK --dataset D --algorithms rs,re,mine=pkg.mod:Class
                   --seeds 0-499 --max-evals N [--max-seconds S] --out DIR [--workers K] ...
    benchbench report DIR [--out OUT]
    benchbench surrogate fit --from TABLE --dataset D (--train-fraction F | --train-cells FILE)
                             --out DIR [--members K --seed S];  benchbench surrogate card DIR
    benchbench validate --benchmark BENCHMARK (--cells FILE | --from-runs DIR) --epochs E
    benchbench proxies score ... / import-naslib ... / correlate DIR
    benchbench list [spaces|benchmarks|backends|algorithms|proxies|protocols] [--json]

BENCHMARK is a table name or ``.h5`` path, a registered factory (``nb201-digits-train`` trains
for real) or an import path ``package.module:Factory``; its options come from
``--benchmark-option KEY=VALUE`` (repeatable, values parsed as JSON where they parse).
``--data-root DIR`` (default: ``$BENCHBENCH_DATA`` or ``~/.cache/benchbench``) goes before or
after the sub-command.  Errors print one line naming the bad value and what is allowed, and
exit with status 2; Ctrl-C prints one line and exits with status 130 (``run``: the first
Ctrl-C or SIGTERM lets running runs finish, a second stops at once; the line says how to
resume).

One module per command group (:mod:`~benchbench.cli.data`, :mod:`~benchbench.cli.query`,
:mod:`~benchbench.cli.run`, :mod:`~benchbench.cli.report`, :mod:`~benchbench.cli.validate`,
:mod:`~benchbench.cli.proxies`, :mod:`~benchbench.cli.list`), each importing only
:mod:`benchbench.cli._common` from this package; heavy libraries are imported when a command
runs, never when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchbench.cli import _common
from benchbench.cli import data as _data
from benchbench.cli import latency as _latency
from benchbench.cli import list as _list
from benchbench.cli import proxies as _proxies
from benchbench.cli import query as _query
from benchbench.cli import report as _report
from benchbench.cli import run as _run
from benchbench.cli import surrogate as _surrogate
from benchbench.cli import validate as _validate
from benchbench.cli._common import parse_params, parse_seeds

__all__ = ["build_parser", "main", "parse_params", "parse_seeds"]

#: The command groups, in the order ``benchbench --help`` lists them.
COMMANDS = (_data, _latency, _query, _run, _report, _validate, _proxies, _list, _surrogate)


def build_parser() -> argparse.ArgumentParser:
    """The ``benchbench`` argument parser (imports nothing heavy)."""
    common = _common.global_options()
    p = argparse.ArgumentParser(
        prog="benchbench", parents=[common],
        description="Fair, reproducible neural-architecture-search experiments: import and "
                    "build benchmarks, query cells, run searches over many seeds, report.",
        epilog="A benchmark is a table name or .h5 path, a registered factory (e.g. "
               "nb201-digits-train, which trains for real) or an import path "
               "pkg.mod:Factory; `benchbench list` shows what is registered.  --data-root "
               "goes before or after the command.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub, [common])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``benchbench ARGV`` (default: ``sys.argv[1:]``); returns the exit status (0 ok,
    1 some study runs failed or were not done, 2 an error, printed as one line on stderr,
    130 interrupted by Ctrl-C / SIGTERM, with one line saying how to resume)."""
    try:
        args = [*(sys.argv[1:] if argv is None else argv)]
        a = build_parser().parse_args(args)
        a.cli_argv = args
        if not hasattr(a, "progress"):
            a.progress = False
        elif a.progress:
            a.progress = sys.stderr.isatty()
    except KeyboardInterrupt:
        print("benchbench: interrupted", file=sys.stderr)
        return _common.EXIT_INTERRUPTED
    return _common.run_handler(a)
