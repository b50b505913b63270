"""What every command of the ``benchbench`` command line shares.

Argument parsing helpers (seed lists, ``NAME=VALUE`` items), the global options every parser
accepts (``--data-root``, before or after the sub-command), opening any benchmark by name
through :func:`benchbench.registry.open_benchmark`, the command string recorded in outputs,
and the handler that turns expected errors into one line on stderr.

Nothing here imports heavy libraries at module level: building the parser stays light.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "ERRORS",
    "EXIT_INTERRUPTED",
    "MAX_SEEDS",
    "Handler",
    "add_benchmark_option",
    "add_no_progress",
    "add_training_options",
    "command_string",
    "data_root",
    "global_options",
    "one_line",
    "open_benchmark",
    "parse_options",
    "parse_params",
    "parse_seeds",
    "parse_value",
    "progress_bar",
    "run_handler",
    "split_items",
]

#: A command handler: the parsed arguments -> the exit status.
Handler = Callable[[argparse.Namespace], int]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ----------------------------------------------------------------------------- parsing
#: The most seeds one ``--seeds`` list may name (a run count is checked against
#: :data:`benchbench.runner.MAX_RUNS` too).
MAX_SEEDS = 1_000_000

_SEED_PART = re.compile(r"^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$")


def _show(text: str, limit: int = 60) -> str:
    """``repr(text)``, shortened: an error message stays one short line."""
    r = repr(text)
    return r if len(r) <= limit else r[:limit - 4] + "...'"


def parse_seeds(text: str, max_count: int = MAX_SEEDS) -> list[int]:
    """``"0-499"``, ``"1,2,10-12"`` or ``"7"`` -> a list of distinct seeds, in the order given.

    Items are comma-separated ASCII integers or inclusive ranges ``LO-HI``; every seed must
    pass :func:`benchbench.store.check_seed` (``0 .. 2**63 - 1``), and at most
    ``max_count`` seeds may be named (checked before the list is built).

    Raises:
        ValueError: a malformed list, a seed out of range, a descending range, a seed given
            twice or too many seeds (one line naming the list).
    """
    from benchbench.store import StoreError, check_seed

    bad = f"bad seed list {_show(text)}"
    if not isinstance(text, str):
        raise ValueError(f"{bad}: expected a string like '0-499'")
    spans: list[tuple[int, int]] = []
    total = 0
    for part in text.split(","):
        m = _SEED_PART.match(part)
        if m is None:
            raise ValueError(f"{bad}: {_show(part.strip())} is not a seed or a range; use "
                             f"e.g. '0-499', '1,2,5-9' or '7' (ints >= 0, ranges inclusive)")
        ends = (m.group(1), m.group(2) or m.group(1))
        long = next((e for e in ends if len(e.lstrip("0")) > 19), None)
        if long is not None:  # beyond 2**63 - 1, and too long for int() to be cheap
            raise ValueError(f"{bad}: seed {_show(long, 30)} is out of range; seeds are ints "
                             f"in 0..{2**63 - 1}")
        try:
            lo, hi = (check_seed(int(e.lstrip("0") or "0")) for e in ends)
        except StoreError as e:
            raise ValueError(f"{bad}: {e}") from None
        if hi < lo:
            raise ValueError(f"{bad}: range {lo}-{hi} goes down; write it {hi}-{lo}")
        total += hi - lo + 1
        if total > max_count:
            raise ValueError(f"{bad}: more than {max_count:,} seeds; a list may name at most "
                             f"{max_count:,}")
        spans.append((lo, hi))
    out = [s for lo, hi in spans for s in range(lo, hi + 1)]
    if len(set(out)) != len(out):
        seen: set[int] = set()
        for s in out:
            if s in seen:
                raise ValueError(f"{bad}: seed {s} appears twice")
            seen.add(s)
    return out


def parse_value(text: str) -> Any:
    """A command-line value: JSON where it parses (``20``, ``0.5``, ``true``, ``[0, 1]``,
    ``null``), else the string itself (also for JSON nested too deeply or with a number too
    long to convert)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return text


def parse_params(items: Sequence[str], algorithms: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["re.population_size=20", "mine.depth=3"]`` -> hyper-parameters per algorithm label.

    A label may itself contain dots (``re.v2.population_size=20`` sets ``population_size`` of
    the label ``re.v2``): the hyper-parameter name is what follows the last dot.

    Args:
        items: the ``--param`` values, ``LABEL.NAME=VALUE`` (values parsed by
            :func:`parse_value`).
        algorithms: the labels of ``--algorithms``.

    Raises:
        ValueError: a malformed item, or a label that is not in ``algorithms``.
    """
    params: dict[str, dict[str, Any]] = {a: {} for a in algorithms}
    for item in items:
        key, eq, val = item.partition("=")
        label, dot, name = key.strip().rpartition(".")
        if not eq or not dot or not label or not _KEY.match(name):
            raise ValueError(f"bad --param {item!r}: use LABEL.NAME=VALUE, "
                             f"e.g. re.population_size=20")
        if label not in params:
            raise ValueError(f"--param {item!r} names algorithm {label!r}, which is not in "
                             f"--algorithms ({', '.join(algorithms)})")
        params[label][name] = parse_value(val)
    return params


def parse_options(items: Sequence[str] | None, option: str = "--benchmark-option"
                  ) -> dict[str, Any]:
    """``["device=cuda", "mean_seeds=[0,1]"]`` -> ``{"device": "cuda", "mean_seeds": [0, 1]}``.

    Raises:
        ValueError: an item that is not ``KEY=VALUE`` with an identifier ``KEY``, or a key
            given twice.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or not _KEY.match(key):
            raise ValueError(f"bad {option} {item!r}: use KEY=VALUE with KEY a Python name, "
                             f"e.g. device=cuda or mean_seeds=[0,1]")
        if key in out:
            raise ValueError(f"{option} {key!r} is given twice")
        out[key] = parse_value(val)
    return out


def split_items(values: Sequence[str] | None) -> list[str] | None:
    """Space- and comma-separated names (``["a,b", "c"]`` -> ``["a", "b", "c"]``); ``None``
    when nothing is given."""
    if not values:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


# ------------------------------------------------------------------------------ options
def global_options() -> argparse.ArgumentParser:
    """The parent parser of every (sub-)parser: options accepted before or after the
    sub-command.  Defaults are suppressed so that a value given before the sub-command is not
    overwritten by a sub-parser's default; read them with :func:`data_root`."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data-root", default=argparse.SUPPRESS, metavar="DIR",
                   help="where imported tables live (default: $BENCHBENCH_DATA or "
                        "~/.cache/benchbench)")
    return p


def data_root(a: argparse.Namespace) -> str | None:
    """The ``--data-root`` given anywhere on the command line, else ``None``."""
    root: str | None = getattr(a, "data_root", None)
    return root


def add_benchmark_option(p: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--benchmark-option KEY=VALUE``."""
    p.add_argument("--benchmark-option", action="append", default=None, metavar="KEY=VALUE",
                   help="option of the benchmark factory, value parsed as JSON where it "
                        "parses, e.g. device=cuda or mean_seeds=[0] (repeatable; see "
                        "`benchbench list benchmarks`)")


def add_no_progress(p: argparse.ArgumentParser) -> None:
    """Add ``--no-progress`` (the bar is shown only on a terminal anyway)."""
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


def add_training_options(p: argparse.ArgumentParser) -> None:
    """Options of the commands that train networks (``data build``, ``validate``)."""
    p.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--data-dir", default=None,
                   help="folder holding CIFAR / ImageNet16 files (not needed for digits)")
    add_no_progress(p)


# --------------------------------------------------------------------------- benchmarks
def open_benchmark(a: argparse.Namespace, name: str, option: str = "benchmark_option") -> Any:
    """Open the benchmark ``name`` (a table name or ``.h5`` path, a registered factory such
    as ``nb201-digits-train``, or an import path ``package.module:Factory``) with the
    command's ``--data-root`` and the ``KEY=VALUE`` options in ``a.<option>``
    (``--benchmark-option``).

    Raises:
        RegistryError: nothing of that name (the message lists what exists) or options the
            benchmark does not take.
    """
    from benchbench.registry import open_benchmark as _open

    options = parse_options(getattr(a, option, None), "--" + option.replace("_", "-"))
    return _open(name, data_root=data_root(a), **options)


# ------------------------------------------------------------------------------ running
def command_string(a: argparse.Namespace) -> str:
    """The command line as typed (recorded in study folders, tables and reports)."""
    argv = getattr(a, "cli_argv", None)
    if argv is None:
        argv = sys.argv[1:]
    return "benchbench " + " ".join(shlex.quote(x) for x in argv)


def progress_bar(enabled: bool, total: int | None, desc: str, unit: str = "run") -> Any:
    """A tqdm bar on stderr (a no-op one when ``enabled`` is false)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=not enabled)


#: Errors that a command reports as one line (exit status 2) instead of a traceback.
#: ``benchbench.store.StoreError`` and ``benchbench.registry.RegistryError`` are ValueErrors;
#: ``benchbench.executors.WorkerError`` (worker processes that cannot start) is a
#: ChildProcessError.
ERRORS: tuple[type[BaseException], ...] = (
    ValueError, KeyError, LookupError, FileNotFoundError, FileExistsError, ImportError,
    TypeError, PermissionError, IsADirectoryError, NotADirectoryError, ChildProcessError)

#: Exit status of a command stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report).
EXIT_INTERRUPTED = 130


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) made one space."""
    return " ".join(text.split())


def run_handler(a: argparse.Namespace) -> int:
    """Run the command's handler (``a.func``); an error of :data:`ERRORS` prints
    ``benchbench: error: ...`` on stderr and gives exit status 2 (a closed stdout pipe: 1,
    silently); Ctrl-C prints ``benchbench: interrupted`` and gives
    :data:`EXIT_INTERRUPTED`."""
    try:
        return int(a.func(a) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except ERRORS as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"benchbench: error: {one_line(msg) or type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchbench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
