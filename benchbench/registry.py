"""Registries: search spaces, benchmarks, optimizers, proxies and training protocols by name.

Every registry maps a short name to a *target*: the object itself, or an import path
``"package.module:attribute"`` loaded on first use (so that registering costs no import, and
``import benchbench`` stays light).  Anything that accepts a registered name also accepts an
import path directly, so a user's own class runs without being registered::

    benchbench run --benchmark nb201-digits --algorithms mine=mypkg.search:MyOptimizer ...

Third parties register through Python entry points, one group per registry (see
:data:`ENTRY_POINT_GROUPS`); in ``pyproject.toml``::

    [project.entry-points."benchbench.optimizers"]
    my-search = "mypkg.search:MyOptimizer"

The built-in entries are listed below by import path; the packages that hold them
(``algorithms``, ``tabular_data``, ``benchbench.nn`` ...) are imported only when one of their
entries is used.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from benchbench.api import UnknownNameError, unknown

if TYPE_CHECKING:
    from benchbench.api import Benchmark
    from benchbench.optimizer import Optimizer
    from benchbench.spaces import SearchSpace

__all__ = [
    "BACKENDS",
    "BENCHMARKS",
    "ENTRY_POINT_GROUPS",
    "OPTIMIZERS",
    "PROTOCOLS",
    "PROXIES",
    "REGISTRIES",
    "SPACES",
    "Entry",
    "Param",
    "Registry",
    "RegistryError",
    "describe_params",
    "is_import_path",
    "load_import_path",
    "open_benchmark",
]

T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class RegistryError(UnknownNameError):
    """A name that is not registered, a bad import path, or a clashing registration."""


def is_import_path(text: str) -> bool:
    """Whether ``text`` has the form ``package.module:attribute``."""
    return isinstance(text, str) and bool(_IMPORT_PATH.match(text))


def load_import_path(path: str, what: str = "object") -> Any:
    """The attribute named by ``"package.module:attribute"`` (clear one-line errors)."""
    if not is_import_path(path):
        raise RegistryError(f"bad import path {path!r} for a {what}: use "
                            f"'package.module:Attribute'")
    module, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise RegistryError(f"cannot import module {module!r} of {what} {path!r}: {e}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RegistryError(f"module {module!r} has no attribute {attr!r} "
                                f"(import path {path!r} of a {what})") from None
    return obj


@dataclass(frozen=True, slots=True)
class Param:
    """One hyper-parameter or option of a registered entry."""

    name: str
    default: Any
    annotation: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default, "type": self.annotation}


def describe_params(obj: Any) -> tuple[Param, ...]:
    """Keyword parameters of a class's ``__init__`` or a function, with their defaults
    (``inspect.Parameter.empty`` is shown as ``"required"``)."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return ()
    out = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = "required" if p.default is p.empty else p.default
        ann = p.annotation if isinstance(p.annotation, str) else getattr(
            p.annotation, "__name__", "" if p.annotation is p.empty else str(p.annotation))
        out.append(Param(p.name, default, ann))
    return tuple(out)


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ").strip()


@dataclass(frozen=True)
class Entry:
    """One registered entry.

    Attributes:
        name: the registered name.
        target: the object, or its import path (loaded by :meth:`Registry.load`).
        description: one line (default: the first paragraph of the target's docstring).
        origin: ``"builtin"``, ``"entry point (DIST)"`` or ``"runtime"``.
    """

    name: str
    target: Any
    description: str = ""
    origin: str = "runtime"


class Registry(Generic[T]):
    """Name -> target, with lazy import paths and entry points.

    Args:
        kind: what the entries are (``"optimizer"``), used in error messages.
        group: the entry-point group third parties register under.
    """

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, T] = {}
        self._entry_points_read = False
        self._entry_point_errors: dict[str, str] = {}
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- registering
    def register(self, name: str, target: T | str, *, description: str = "",
                 replace: bool = False, origin: str = "runtime") -> None:
        """Register ``target`` (an object or an import path) as ``name``.

        Raises:
            RegistryError: a bad name, or ``name`` is taken and ``replace`` is False.
        """
        if not isinstance(name, str) or not _NAME.match(name) or ":" in name:
            raise RegistryError(f"bad {self.kind} name {name!r}: use 1-64 letters, digits, "
                                f"'.', '_' or '-', starting with a letter or digit")
        if isinstance(target, str) and not is_import_path(target):
            raise RegistryError(f"bad import path {target!r} for {self.kind} {name!r}: use "
                                f"'package.module:Attribute'")
        with self._lock:
            if name in self._entries and not replace:
                raise RegistryError(f"{self.kind} {name!r} is already registered "
                                    f"({self._entries[name].origin}); pass replace=True")
            self._entries[name] = Entry(name, target, description, origin)
            self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
            self._loaded.pop(name, None)

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        with self._lock:
            if self._entry_points_read:
                return
            self._entry_points_read = True
            try:
                eps = importlib.metadata.entry_points(group=self.group)
            except Exception as e:  # pragma: no cover - broken metadata
                self._entry_point_errors["*"] = str(e)
                return
            for ep in eps:
                if ep.name in self._entries:
                    continue  # built-ins and runtime registrations win
                dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
                try:
                    self.register(ep.name, ep.value, origin=f"entry point ({dist})")
                except RegistryError as e:
                    self._entry_point_errors[ep.name] = str(e)

    # -------------------------------------------------------------------- reading
    def __contains__(self, name: object) -> bool:
        self._read_entry_points()
        return name in self._entries

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._read_entry_points()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Every registered entry, sorted by name."""
        self._read_entry_points()
        return [self._entries[n] for n in sorted(self._entries)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def load(self, name: str) -> T:
        """The target registered as ``name`` (imported if it is an import path), or the
        attribute at ``name`` if ``name`` is itself an import path.

        Raises:
            RegistryError: unknown name (the message lists the registered ones) or a target
                that cannot be imported.
        """
        self._read_entry_points()
        if isinstance(name, str) and name not in self._entries and is_import_path(name):
            return load_import_path(name, self.kind)  # type: ignore[no-any-return]
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            entry = self._entries.get(name)
            if entry is None:
                err = unknown(self.kind, name, self.names())
                raise RegistryError(str(err) + " (or an import path 'package.module:Name')")
            obj = (load_import_path(entry.target, f"{self.kind} {name!r}")
                   if isinstance(entry.target, str) else entry.target)
            self._loaded[name] = obj
            return obj  # type: ignore[no-any-return]

    def create(self, name: str, /, **params: Any) -> Any:
        """``load(name)(**params)``: an instance of the registered class or the result of
        the registered factory."""
        factory = self.load(name)
        if not callable(factory):
            raise RegistryError(f"{self.kind} {name!r} is not callable ({factory!r})")
        return factory(**params)

    def description(self, name: str) -> str:
        """The entry's one-line description (registered, else from the docstring)."""
        entry = self._entries.get(name)
        if entry is not None and entry.description:
            return entry.description
        obj = self.load(name)
        return _first_line(obj) or _first_line(type(obj))

    def params(self, name: str) -> tuple[Param, ...]:
        """The entry's hyper-parameters / options with defaults."""
        obj: Any = self.load(name)
        if hasattr(obj, "params") and callable(obj.params) and not inspect.isclass(obj):
            return tuple(obj.params())
        return describe_params(obj)

    def entry_point_errors(self) -> Mapping[str, str]:
        """Entry points that could not be registered, and why."""
        self._read_entry_points()
        return dict(self._entry_point_errors)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


# --------------------------------------------------------------------------- registries
#: Search spaces: name -> a :class:`~benchbench.spaces.SearchSpace` class (called with no
#: arguments).
SPACES: Registry[Callable[..., SearchSpace[Any]]] = Registry("search space", "benchbench.spaces")
#: Benchmarks: name -> a factory ``(**options) -> Benchmark`` (a training or surrogate backend
#: with fixed settings).  Tables are found by the ``"table"`` backend of :data:`BACKENDS`.
BENCHMARKS: Registry[Callable[..., Benchmark]] = Registry("benchmark", "benchbench.benchmarks")
#: Backends that resolve benchmark names to data (tables, surrogate models): name -> an object
#: with ``names(data_root) -> list[str]``, ``find(name, data_root) -> bool`` and
#: ``open(name, data_root, **options) -> Benchmark``.
BACKENDS: Registry[Any] = Registry("benchmark backend", "benchbench.backends")
#: Black-box and one-shot optimizers: name -> an :class:`~benchbench.optimizer.Optimizer`
#: subclass (hyper-parameters as keyword arguments).
OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer", "benchbench.optimizers")
#: Zero-cost proxies: name -> a proxy definition (see :mod:`algorithms.proxies`).
PROXIES: Registry[Any] = Registry("proxy", "benchbench.proxies")
#: Training protocols: name -> a :class:`~benchbench.protocols.TrainConfig`.
PROTOCOLS: Registry[Any] = Registry("training protocol", "benchbench.protocols")

#: Every registry by the plural used in ``benchbench list``.
REGISTRIES: dict[str, Registry[Any]] = {
    "spaces": SPACES, "benchmarks": BENCHMARKS, "backends": BACKENDS,
    "algorithms": OPTIMIZERS, "proxies": PROXIES, "protocols": PROTOCOLS,
}
#: Entry-point group of each registry.
ENTRY_POINT_GROUPS: dict[str, str] = {k: r.group for k, r in REGISTRIES.items()}


def _builtin(registry: Registry[Any], items: Mapping[str, str]) -> None:
    for name, path in items.items():
        registry.register(name, path, origin="builtin")


_builtin(SPACES, {"nb201": "benchbench.spaces.nb201:NB201Space"})
_builtin(SPACES, {"darts": "benchbench.spaces.darts:DartsSpace"})
_builtin(SPACES, {"nb101": "benchbench.spaces.nb101:NB101Space"})
_builtin(OPTIMIZERS, {
    "rs": "algorithms._random:RandomSearch",
    "re": "algorithms._evolution:RegularizedEvolution",
    "reinforce": "algorithms._reinforce:Reinforce",
    "ls": "algorithms._local_search:LocalSearch",
    "naswot": "algorithms._naswot:NASWOT",
    "re-zc": "algorithms._naswot:ZeroCostWarmStartRE",
    "mo-re": "algorithms._multiobjective:ParetoRE",
    "parego-re": "algorithms._multiobjective:ParEGORE",
})
_builtin(OPTIMIZERS, {
    "sh": "algorithms._multifidelity:SuccessiveHalving",
    "hyperband": "algorithms._multifidelity:Hyperband",
    "bohb": "algorithms._bohb:BOHB",
    "asha": "algorithms._multifidelity:ASHA",
    "lcstop": "algorithms._multifidelity:LearningCurveStopping",
})
_builtin(OPTIMIZERS, {
    "darts-v1": "algorithms._oneshot:DARTSV1",
    "darts-v2": "algorithms._oneshot:DARTSV2",
    "gdas": "algorithms._oneshot:GDAS",
    "rsps": "algorithms._oneshot:RSPS",
})
_builtin(PROXIES, {
    "params": "algorithms.proxies.params:PARAMS",
    "flops": "algorithms.proxies.flops:FLOPS",
    "grad_norm": "algorithms.proxies.grad_norm:GRAD_NORM",
    "snip": "algorithms.proxies.snip:SNIP",
    "grasp": "algorithms.proxies.grasp:GRASP",
    "fisher": "algorithms.proxies.fisher:FISHER",
    "fisher_channel": "algorithms.proxies.fisher_channel:FISHER_CHANNEL",
    "jacob_cov": "algorithms.proxies.jacob_cov:JACOB_COV",
    "synflow": "algorithms.proxies.synflow:SYNFLOW",
    "nwot": "algorithms.proxies.nwot:NWOT",
    "l2_norm": "algorithms.proxies.l2_norm:L2_NORM",
    "plain": "algorithms.proxies.plain:PLAIN",
    "zen": "algorithms.proxies.zen:ZEN",
})
_builtin(BACKENDS, {"table": "tabular_data._backend:TABLES"})
_builtin(BACKENDS, {"yahpo": "surrogates.yahpo:YAHPO"})
_builtin(BACKENDS, {"surrogate": "surrogates._backend:SURROGATES"})
_builtin(BENCHMARKS, {
    "nb201-train": "benchbench.nn._training_benchmark:TrainingBenchmark",
    "nb201-digits-train": "benchbench.nn._training_benchmark:nb201_digits_training",
})


def _register_protocols() -> None:
    from benchbench.protocols import PROTOCOL_DESCRIPTIONS
    from benchbench.protocols import PROTOCOLS as _P

    for name, cfg in _P.items():
        PROTOCOLS.register(name, cfg, description=PROTOCOL_DESCRIPTIONS.get(name, ""),
                           origin="builtin")


_register_protocols()


# ------------------------------------------------------------------------- benchmarks
def open_benchmark(name: str | Path, *, data_root: str | Path | None = None,
                   **options: Any) -> Benchmark:
    """Open the benchmark called ``name``, whatever its backend.

    Resolution order: an import path ``"package.module:Factory"`` (called with
    ``options``); a name registered in :data:`BENCHMARKS`; a name or path that a backend of
    :data:`BACKENDS` knows (a table in the data root or embedded in the package, a ``.h5``
    file, ...).

    Args:
        name: benchmark name, table path or import path.
        data_root: where imported data lives (default ``$BENCHBENCH_DATA`` or
            ``~/.cache/benchbench``).
        options: passed to the factory or backend (e.g. ``protocol="digits"`` for
            ``nb201-train``).

    Raises:
        RegistryError: nothing of that name (the message lists what exists).
    """
    from benchbench.api import Benchmark

    text = str(name)
    if is_import_path(text) or text in BENCHMARKS:
        factory = BENCHMARKS.load(text)
        kwargs = dict(options)
        if data_root is not None and "data_root" in inspect.signature(factory).parameters:
            kwargs["data_root"] = data_root
        try:
            bench = factory(**kwargs)
        except TypeError as e:
            raise RegistryError(f"cannot open benchmark {text!r} with options {options}: {e}; "
                                f"its options: "
                                f"{[p.name for p in describe_params(factory)]}") from None
        if not isinstance(bench, Benchmark):
            raise RegistryError(f"benchmark factory {text!r} returned "
                                f"{type(bench).__name__}, not a benchbench Benchmark")
        return bench
    for backend_name in BACKENDS.names():
        backend = BACKENDS.load(backend_name)
        if backend.find(name, data_root):
            return backend.open(name, data_root, **options)  # type: ignore[no-any-return]
    known = list(BENCHMARKS.names())
    for backend_name in BACKENDS.names():
        known += BACKENDS.load(backend_name).names(data_root)
    raise RegistryError(str(unknown("benchmark", text, sorted(set(known)) or ["<none>"]))
                        + " (or a .h5 table path, or an import path 'package.module:Factory';"
                          " import data with `benchbench data import`)")
