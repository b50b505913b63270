"""``benchbench list``: what is registered, with descriptions, origins and options.

Examples::

    benchbench list                      # every registry
    benchbench list algorithms           # names, one line each, hyper-parameters + defaults
    benchbench list protocols --json     # machine-readable

Kinds: ``spaces``, ``benchmarks``, ``backends``, ``algorithms``, ``proxies``, ``protocols``
(the keys of :data:`benchbench.registry.REGISTRIES`).  An entry that cannot be loaded (a
training backend without torch, a broken plug-in) is listed with the reason.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from typing import Any

from benchbench.cli._common import data_root

__all__ = ["ALIASES", "KINDS", "cmd_list", "describe_entries", "register"]

#: The kinds ``benchbench list`` knows, in the order it prints them.
KINDS = ("spaces", "benchmarks", "backends", "algorithms", "proxies", "protocols")
#: Other spellings accepted for a kind.
ALIASES = {"space": "spaces", "benchmark": "benchmarks", "backend": "backends",
           "algorithm": "algorithms", "optimizer": "algorithms", "optimizers": "algorithms",
           "proxy": "proxies", "protocol": "protocols"}
#: Protocols other than this one are shown as their differences from it.
BASE_PROTOCOL = "nb201"

_ROLE = re.compile(r":[\w:.-]+:`(~?)([^`]*)`")
_LITERAL = re.compile(r"``([^`]*)``")
_WIDTH = 100


def _plain(text: str) -> str:
    """Docstring markup removed (``:class:`~a.B``` -> ``B``, ````x```` -> ``x``), one line."""
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2),
                     text)
    return " ".join(_LITERAL.sub(r"\1", text).split())


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (tuples -> lists; anything else JSON cannot hold -> its str)."""
    return json.loads(json.dumps(value, default=str))


def _shown(value: Any) -> str:
    """A default as typed on the command line (JSON values, strings bare)."""
    return value if isinstance(value, str) else json.dumps(_jsonable(value))


def _error(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _target(target: Any) -> str:
    if isinstance(target, str):
        return target
    kind = target if isinstance(target, type) or callable(target) else type(target)
    module = getattr(kind, "__module__", "?")
    return f"{module}:{getattr(kind, '__qualname__', repr(kind))}"


def _protocol_settings(registry: Any, name: str, cfg: Any) -> dict[str, Any]:
    settings = _jsonable(cfg.to_dict())
    out: dict[str, Any] = {"settings": settings}
    if name != BASE_PROTOCOL and BASE_PROTOCOL in registry:
        try:
            base = _jsonable(registry.load(BASE_PROTOCOL).to_dict())
        except Exception:  # the base cannot load: show every field instead
            return out
        out["differs_from"] = BASE_PROTOCOL
        out["changes"] = {k: v for k, v in settings.items() if base.get(k) != v}
    return out


def describe_entries(kind: str, root: str | None = None) -> list[dict[str, Any]]:
    """The entries of the registry ``kind`` (a key of
    :data:`benchbench.registry.REGISTRIES`) as JSON-ready dicts: ``name``, ``origin``,
    ``target``, ``description``, ``params`` (``name``, ``default``, ``type``) and ``error``
    (``None``, or why the entry does not load).  Protocols add ``settings`` (and
    ``differs_from`` / ``changes`` relative to ``nb201``); backends add ``names``, what they
    offer under the data root ``root``."""
    from benchbench.registry import REGISTRIES

    registry = REGISTRIES[kind]
    out: list[dict[str, Any]] = []
    for entry in registry.entries():
        info: dict[str, Any] = {"name": entry.name, "origin": entry.origin,
                                "target": _target(entry.target), "description": "",
                                "params": [], "error": None}
        # A listing must survive any broken entry (missing extra, a plug-in that raises on
        # import), so everything an entry raises is reported as its error.
        try:
            info["description"] = _plain(registry.description(entry.name))
            obj = registry.load(entry.name)
            if kind == "protocols" and hasattr(obj, "to_dict"):
                info.update(_protocol_settings(registry, entry.name, obj))
            else:
                info["params"] = [_jsonable(p.to_dict()) for p in registry.params(entry.name)]
            if kind == "backends" and hasattr(obj, "names"):
                info["names"] = list(obj.names(root))
        except Exception as e:
            info["error"] = _error(e)
        out.append(info)
    for name, err in sorted(registry.entry_point_errors().items()):
        out.append({"name": name, "origin": f"entry point ({registry.group})", "target": "",
                    "description": "", "params": [], "error": err})
    return out


def _pairs(items: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_shown(v)}" for k, v in items.items())


def _print_kind(kind: str, entries: list[dict[str, Any]], group: str) -> None:
    print(f"{kind} (plug-ins: entry-point group {group!r}):")
    if not entries:
        print("  (none registered)")
    indent = " " * 4

    def block(label: str, text: str) -> None:
        print(textwrap.fill(f"{label}{text}", width=_WIDTH, initial_indent=indent,
                            subsequent_indent=indent + " " * len(label),
                            break_on_hyphens=False))

    for e in entries:
        print(f"  {e['name']:20s} [{e['origin']}]")
        if e["error"]:
            block("cannot load: ", e["error"])
            continue
        if e["description"]:
            block("", e["description"])
        if "changes" in e:
            changed = _pairs(e["changes"])
            block(f"as {e['differs_from']} except: ", changed or "(nothing)")
        elif "settings" in e:
            block("settings: ", _pairs(e["settings"]))
        elif e["params"]:
            label = "options: " if kind in ("benchmarks", "backends") else "params: "
            block(label, _pairs({p["name"]: p["default"] for p in e["params"]}))
        if "names" in e:
            block("offers: ", ", ".join(e["names"]) or "(nothing)")


def cmd_list(a: argparse.Namespace) -> int:
    """Handler of ``list``."""
    from benchbench.api import unknown
    from benchbench.registry import REGISTRIES

    known = [*KINDS, *(k for k in REGISTRIES if k not in KINDS)]
    if a.kind is None:
        kinds = known
    else:
        kind = ALIASES.get(a.kind, a.kind)
        if kind not in REGISTRIES:
            raise unknown("list kind", a.kind, known)
        kinds = [kind]
    found = {k: describe_entries(k, data_root(a)) for k in kinds}
    if a.json:
        json.dump(found, sys.stdout, indent=1)
        print()
        return 0
    for i, (k, entries) in enumerate(found.items()):
        if i:
            print()
        _print_kind(k, entries, REGISTRIES[k].group)
    return 0


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``list`` to the main parser's sub-commands."""
    p = subparsers.add_parser(
        "list", parents=parents,
        help="list registered spaces, benchmarks, backends, algorithms, proxies, protocols",
        description="List what is registered (built in, from entry points or at runtime) with "
                    "one-line descriptions and the options / hyper-parameters with defaults.")
    p.add_argument("kind", nargs="?", default=None, metavar="KIND",
                   help=f"one of {', '.join(KINDS)} (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON: {kind: [entries]}")
    p.set_defaults(func=cmd_list)
