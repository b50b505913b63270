"""``benchbench run``: search algorithms over many seeds into a resumable study folder.

Examples::

    benchbench run --benchmark nb201-digits --dataset digits --algorithms rs,re,reinforce,ls \\
        --seeds 0-99 --max-evals 100 --out study/
    benchbench run --benchmark nb201-digits-train --dataset digits --algorithms rs \\
        --seeds 0 --max-evals 5 --epoch 4 --out trained/        # trains every evaluation
    benchbench run --benchmark nb201 --dataset cifar10-valid \\
        --algorithms re,re20=re,mine=mypkg.search:MyOptimizer --param re20.population_size=20 \\
        --seeds 0-9 --max-evals 100 --out study/

Everything is checked before anything is written (a bad value leaves ``--out`` absent or
unchanged).  A study folder has one writer: a second ``run`` on a folder in use is refused
(naming the PID and command of the one holding it), whatever its settings.  The first
Ctrl-C or SIGTERM stops handing out runs and lets the running ones finish, a second one
stops at once; ``run`` then prints one line with the command that resumes the study and
exits with status 130.  Killed outright, ``run`` takes its worker processes with it; running
the same command again resumes (runs done are skipped, unfinished ones run again).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from typing import Any

from benchbench.cli._common import (
    EXIT_INTERRUPTED,
    add_benchmark_option,
    add_no_progress,
    command_string,
    one_line,
    open_benchmark,
    parse_params,
    parse_seeds,
    split_items,
)

__all__ = ["algorithm_specs", "check_run_args", "cmd_run", "parse_algorithms", "register"]


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


def check_run_args(a: argparse.Namespace) -> None:
    """The checks of ``run``'s own arguments that need nothing loaded (run first, so that a
    bad value fails at once and writes nothing).

    Raises:
        ValueError: ``--workers`` < 1, an empty ``--out``, a budget that is not positive.
    """
    if a.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {a.workers}")
    if not a.out.strip():
        raise ValueError("--out is empty; give the study folder, e.g. --out study/")
    if a.max_evals is not None and a.max_evals < 1:
        raise ValueError(f"--max-evals must be >= 1, got {a.max_evals}")
    if a.max_seconds is not None and not (a.max_seconds > 0 and math.isfinite(a.max_seconds)):
        raise ValueError(f"--max-seconds must be a finite number > 0, got {a.max_seconds}")
    for flag, value in (("--epoch", a.epoch), ("--report-fidelity", a.report_fidelity)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")


def cmd_run(a: argparse.Namespace) -> int:
    """Handler of ``run``; exit status 1 if a run failed or its worker process died, 130
    if interrupted (one line on stderr says how to resume).

    Before the study starts, ``SIGINT`` and ``SIGTERM`` end the command at once (nothing is
    written); during it the runner handles them (see :func:`benchbench.runner.run_study`);
    once the study has stopped on one, further ones are ignored while the command exits, so
    that it prints one line, not two.
    """
    from benchbench._procs import interrupts_received

    seen = interrupts_received()

    def late(signum: int, frame: Any) -> None:
        if interrupts_received() == seen:
            raise KeyboardInterrupt

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        for s in old:
            signal.signal(s, late)
    try:
        return _run(a)
    finally:
        if main_thread:
            for s, handler in old.items():
                signal.signal(s, handler)


def _run(a: argparse.Namespace) -> int:
    from benchbench.runner import MAX_RUNS, StudyInterrupted, run_study

    check_run_args(a)
    seeds = parse_seeds(a.seeds)
    algorithms = parse_algorithms(a.algorithms)
    if len(seeds) * len(algorithms) > MAX_RUNS:
        raise ValueError(f"--seeds {a.seeds!r} x --algorithms {a.algorithms!r} make "
                         f"{len(seeds) * len(algorithms):,} runs; a study may have at most "
                         f"{MAX_RUNS:,} (benchbench.runner.MAX_RUNS): split it into several "
                         f"studies")
    params = parse_params(a.param or [], list(algorithms))
    specs = algorithm_specs(algorithms, params)
    transfer = split_items([a.transfer] if a.transfer else None) or []
    if a.report_benchmark_option and not a.report_benchmark:
        raise ValueError("--report-benchmark-option needs --report-benchmark")
    command = command_string(a)
    try:
        with contextlib.ExitStack() as stack:
            b = stack.enter_context(open_benchmark(a, a.benchmark))
            report = (stack.enter_context(open_benchmark(a, a.report_benchmark,
                                                         "report_benchmark_option"))
                      if a.report_benchmark else None)
            res = run_study(b, a.out, dataset=a.dataset, algorithms=specs, seeds=seeds,
                            max_evals=a.max_evals, max_seconds=a.max_seconds,
                            fidelity=a.epoch, objective=a.objective,
                            test_metric=a.test_metric or None, noise=a.noise,
                            transfer=transfer, report=report, protocol=a.search_protocol,
                            report_fidelity=a.report_fidelity, cost=a.cost,
                            repeats=a.repeats, budget_crossing=a.budget_crossing,
                            allow_test_objective=True if a.allow_test_objective else None,
                            workers=a.workers, executor=a.executor, progress=a.progress,
                            command=command,
                            record_metrics=split_items(a.record_metric) or None,
                            constraints=a.constraint or None,
                            sim_workers=a.workers_simulated,
                            sim_mode=a.simulated_mode)
    except StudyInterrupted as e:
        r = e.result
        print(f"benchbench: interrupted by {r.interrupted}: {r.done} runs done now, "
              f"{r.skipped} before, {r.not_done} not done; resume with: {one_line(command)}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    lost = f", {len(res.lost)} lost (worker process died)" if res.lost else ""
    print(f"{res.done} runs done, {res.skipped} already done (skipped), {res.failed} failed"
          f"{lost} in {res.wall_s:.1f} s -> {res.out}")
    for run_id, err in res.failures[:10]:
        print(f"  failed {run_id}: {one_line(err)}", file=sys.stderr)
    if res.lost:
        shown = "; ".join(one_line(err) for _, err in res.lost[:5])
        more = f"; and {len(res.lost) - 5} more" if len(res.lost) > 5 else ""
        print(f"benchbench: error: {shown}{more}; not done: resume with: "
              f"{one_line(command)}", file=sys.stderr)
    return 1 if res.failed or res.lost else 0


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
    r.add_argument("--record-metric", action="append", metavar="M1,M2",
                   help="further metrics recorded for every evaluation (runs/*/evals.csv) and "
                        "told to the optimizer, e.g. params,latency_ms (multi-objective "
                        "search; validation and cost metrics only; repeatable)")
    r.add_argument("--constraint", action="append", metavar="METRIC<=VALUE",
                   help="constrained search: evaluations breaking it are infeasible (never "
                        "the incumbent; counted), e.g. latency_ms<=5 (repeatable)")
    r.add_argument("--workers-simulated", type=int, default=None, metavar="K",
                   help="K parallel workers in simulated time (default 1: sequential); "
                        "records carry the simulated wall clock")
    r.add_argument("--simulated-mode", default=None, choices=["async", "sync"],
                   help="simulated workers: async (default; a free worker asks at once) or "
                        "sync (batches of K)")
    add_benchmark_option(r)
    add_no_progress(r)
    r.set_defaults(func=cmd_run)
