"""``benchbench report``: summarise a study folder (tables, figures, statistics).

Examples::

    benchbench report study/                       # study/summary.csv and study/report/
    benchbench report study/ --no-figures          # no matplotlib needed
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from benchbench.cli._common import command_string

__all__ = ["cmd_report", "register"]


def cmd_report(a: argparse.Namespace) -> int:
    """Handler of ``report``."""
    import warnings

    import results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results.PartialResultsWarning)
        summary = results.write_summary(a.dir)
    print(summary.to_string(index=False))
    partial = summary.attrs.get("partial")
    if partial:
        text = "; ".join(partial) if isinstance(partial, (list, tuple)) else str(partial)
        print(f"benchbench: PARTIAL: {text}", file=sys.stderr)
    print(f"wrote {Path(a.dir) / 'summary.csv'}")
    if a.summary_only:
        return 0
    figures = not a.no_figures
    if figures and importlib.util.find_spec("matplotlib") is None:
        print("benchbench: note: matplotlib is not installed, so the report has tables but "
              "no figures (pip install 'benchbench[plot]')", file=sys.stderr)
        figures = False
    path = results.build_report(a.dir, a.out, command=command_string(a),
                                formats=("png", "pdf") if figures else ())
    print(f"wrote {path}")
    return 0


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``report`` to the main parser's sub-commands."""
    rep = subparsers.add_parser("report", parents=parents, help="summarise a study folder")
    rep.add_argument("dir")
    rep.add_argument("--out", default=None, help="report folder (default: DIR/report)")
    rep.add_argument("--summary-only", action="store_true",
                     help="write only DIR/summary.csv")
    rep.add_argument("--no-figures", action="store_true",
                     help="tables only (no matplotlib needed)")
    rep.set_defaults(func=cmd_report)
