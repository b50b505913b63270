"""``benchbench run``: search algorithms over many seeds into a resumable study folder.

Examples::

    benchbench run --benchmark nb201-digits --dataset digits --algorithms rs,re,reinforce,ls \\
        --seeds 0-99 --max-evals 100 --out study/
    benchbench run --benchmark nb201-digits-train --dataset digits --algorithms rs \\
        --seeds 0 --max-evals 5 --epoch 4 --out trained/        # trains every evaluation
    benchbench run --benchmark nb201 --dataset cifar10-valid \\
        --algorithms re,re20=re,mine=mypkg.search:MyOptimizer --param re20.population_size=20 \\
        --seeds 0-9 --max-evals 100 --out study/
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from benchbench.cli._common import (
    add_benchmark_option,
    add_no_progress,
    command_string,
    open_benchmark,
    parse_params,
    parse_seeds,
    split_items,
)

__all__ = ["algorithm_specs", "cmd_run", "parse_algorithms", "register"]


def _default_label(path: str, obj: Any) -> str:
    """The label of a bare import path: the class's ``name`` attribute, else the attribute
    name lowercased."""
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    return path.rpartition(":")[2].rpartition(".")[2].lower()


def parse_algorithms(text: str) -> dict[str, str]:
    """``--algorithms`` -> label -> algorithm (a registered name or an import path).

    Items are comma-separated: a registered name (``re``: label ``re``), ``LABEL=SPEC`` with
    ``SPEC`` a registered name or an import path (``re20=re``,
    ``mine=mypkg.search:MyOptimizer``), or a bare import path (label: the class's ``name``
    attribute, else the class name lowercased).  Every algorithm is loaded here, so that an
    unknown name fails before anything runs.

    Raises:
        RegistryError: an unknown name or an import path that does not load.
        StoreError: a label that cannot name a folder.
        ValueError: an empty list, an empty ``SPEC`` or a label used twice.
    """
    from benchbench.registry import OPTIMIZERS, is_import_path
    from benchbench.store import StoreError, check_label

    out: dict[str, str] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        label, eq, spec = (p.strip() for p in item.partition("="))
        if eq and not spec:
            raise ValueError(f"--algorithms item {item!r} has nothing after '='; use LABEL=NAME "
                             f"or LABEL=package.module:Class")
        if not eq:
            spec = item
        obj = OPTIMIZERS.load(spec)
        hint = ""
        if not eq and is_import_path(item):
            label = _default_label(item, obj)
            hint = f"; {item!r} gives no usable label, so give it one: LABEL={item}"
        try:
            check_label(label)
        except StoreError as e:
            raise StoreError(f"{e}{hint}") from None
        if label in out:
            raise ValueError(f"--algorithms {text!r} uses the label {label!r} twice; give one "
                             f"another label, e.g. {label}-2={spec}")
        out[label] = spec
    if not out:
        raise ValueError("--algorithms is empty; e.g. --algorithms rs,re,reinforce,ls or "
                         "mine=mypkg.search:MyOptimizer")
    return out


def algorithm_specs(algorithms: dict[str, str], params: dict[str, dict[str, Any]]
                    ) -> dict[str, dict[str, Any]]:
    """The ``algorithms`` argument of :func:`benchbench.runner.run_study`: label ->
    ``{"algorithm": SPEC, **params}`` (``"algorithm"`` left out when it equals the label, as
    study folders written before labels existed have it)."""
    out: dict[str, dict[str, Any]] = {}
    for label, spec in algorithms.items():
        p = params.get(label, {})
        if "algorithm" in p:
            raise ValueError(f"--param {label}.algorithm is not a hyper-parameter; choose the "
                             f"algorithm in --algorithms ({label}=NAME)")
        out[label] = ({} if spec == label else {"algorithm": spec}) | p
    return out


def cmd_run(a: argparse.Namespace) -> int:
    """Handler of ``run``; exit status 1 if a run failed."""
    from benchbench.runner import run_study

    algorithms = parse_algorithms(a.algorithms)
    params = parse_params(a.param or [], list(algorithms))
    specs = algorithm_specs(algorithms, params)
    seeds = parse_seeds(a.seeds)
    transfer = split_items([a.transfer] if a.transfer else None) or []
    if a.report_benchmark_option and not a.report_benchmark:
        raise ValueError("--report-benchmark-option needs --report-benchmark")
    with contextlib.ExitStack() as stack:
        b = stack.enter_context(open_benchmark(a, a.benchmark))
        report = (stack.enter_context(open_benchmark(a, a.report_benchmark,
                                                     "report_benchmark_option"))
                  if a.report_benchmark else None)
        res = run_study(b, a.out, dataset=a.dataset, algorithms=specs, seeds=seeds,
                        max_evals=a.max_evals, max_seconds=a.max_seconds, fidelity=a.epoch,
                        objective=a.objective, test_metric=a.test_metric or None,
                        noise=a.noise, transfer=transfer, report=report,
                        protocol=a.search_protocol, report_fidelity=a.report_fidelity,
                        cost=a.cost, repeats=a.repeats, budget_crossing=a.budget_crossing,
                        allow_test_objective=True if a.allow_test_objective else None,
                        workers=a.workers, executor=a.executor, progress=a.progress,
                        command=command_string(a))
    print(f"{res.done} runs done, {res.skipped} already done (skipped), {res.failed} failed "
          f"in {res.wall_s:.1f} s -> {res.out}")
    for run_id, err in res.failures[:10]:
        print(f"  failed {run_id}: {err}", file=sys.stderr)
    return 1 if res.failed else 0


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``run`` to the main parser's sub-commands."""
    r = subparsers.add_parser("run", parents=parents,
                              help="run search algorithms over many seeds")
    r.add_argument("--benchmark", required=True,
                   help="table name or .h5 path, registered factory (e.g. nb201-digits-train: "
                        "real training) or import path pkg.mod:Factory")
    r.add_argument("--dataset", required=True)
    r.add_argument("--algorithms", required=True, metavar="ALGO,LABEL=SPEC,...",
                   help="comma-separated registered names (rs,re,reinforce,ls) and "
                        "LABEL=SPEC items, SPEC a registered name or an import path, e.g. "
                        "rs,re20=re,mine=mypkg.search:MyOptimizer")
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
    # the search settings below default to None: the runner's defaults, or --search-protocol's
    r.add_argument("--search-protocol", default=None, metavar="PRESET",
                   help="named search protocol whose settings are the defaults of the options "
                        "below, e.g. nb201-paper (see benchbench.runner.SEARCH_PROTOCOLS)")
    r.add_argument("--noise", default=None, metavar="MODE",
                   help="crn (default; alias seed): one recorded run per cell and run seed, "
                        "the same for every algorithm; fresh: a new recorded run per query; "
                        "mean: seed means")
    r.add_argument("--cost", default=None, metavar="MODE",
                   help="what a query costs: train (default) or train+eval")
    r.add_argument("--repeats", default=None, metavar="MODE",
                   help="a cell queried again: charge (default: paid again) or cache (free)")
    r.add_argument("--budget-crossing", default=None, metavar="MODE",
                   help="the evaluation that crosses --max-seconds: keep (default) or drop")
    r.add_argument("--report-benchmark", default=None, metavar="BENCHMARK",
                   help="benchmark whose values are reported for incumbents (default: "
                        "--benchmark), e.g. a 200-epoch table while searching a 12-epoch one")
    r.add_argument("--report-benchmark-option", action="append", default=None,
                   metavar="KEY=VALUE", help="option of --report-benchmark (repeatable)")
    r.add_argument("--report-fidelity", type=int, default=None, metavar="EPOCHS",
                   help="epochs reported (default: the report benchmark's maximum, else "
                        "--epoch)")
    r.add_argument("--allow-test-objective", action="store_true",
                   help="allow an objective that shares images with the test split (every "
                        "manifest and report then says so)")
    r.add_argument("--transfer", default=None, metavar="D1,D2",
                   help="also record the final incumbents' seed-mean values on these datasets")
    r.add_argument("--param", action="append", metavar="LABEL.NAME=VALUE",
                   help="hyper-parameter of the algorithm labelled LABEL, value parsed as "
                        "JSON where it parses, e.g. re.population_size=20 (repeatable; see "
                        "`benchbench list algorithms`)")
    add_benchmark_option(r)
    add_no_progress(r)
    r.set_defaults(func=cmd_run)
