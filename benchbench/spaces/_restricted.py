"""A search space restricted to a finite set of cells (the rows of a partial table).

:class:`RestrictedSpace` wraps any space and a list of its cells' ids.  It is what a table
whose rows are not every cell of its space (the 500 NASLib NB101 cells, a full NB101 import
keyed by module hash, a table imported from any CSV) exposes as ``bench.space``, so that the
black-box optimizers (random search, regularized evolution, REINFORCE, local search) run on
it unchanged and never propose a cell the table cannot answer.

It is an :class:`~benchbench.spaces.EnumerableSpace`: ``index(a)`` is the cell's position in
``arch_ids`` (the table row), ``from_index(i)`` the cell of row ``i``.

Behaviour (``base`` is the wrapped space, ``S`` the set of cells):

* ``parse``: an id of ``S`` (looked up, so ids the base cannot invert, such as NB101 module
  hashes, work), an int row, or anything ``base.parse`` reads; a valid cell outside ``S``
  raises :class:`~benchbench.api.MissingDataError` ("... not in this set (N cells)").
* ``sample``: uniform over ``S``.
* ``neighbours(a)``: ``base.neighbours(a)`` that are in ``S`` (base order).  When none is (a
  sparse set such as 500 of NB101's 423,624 cells has almost no two cells one change apart),
  the members of ``S`` nearest to ``a`` by the L1 distance between ``base.encode`` vectors,
  all of them at that smallest non-zero distance, in row order - so every cell of a set of two
  or more has neighbours, and local search and evolution still take the smallest available
  step.  (A documented deviation: on a sparse set a "neighbour" can be several changes away.)
* ``mutate(a, rng)``: ``base.mutate(a, rng)`` re-drawn until it lands in ``S`` (at most
  ``mutate_tries`` draws) when ``base.neighbours(a)`` meets ``S``; otherwise, or when the
  draws miss, a uniform draw from ``neighbours(a)``.  Always one of ``neighbours(a)``.  A set
  of one cell has no neighbour: ``mutate`` raises ``ValueError`` saying so.
* ``encode``, ``format``, ``arch_id``, ``canonical_id``: the base's.
* Categorical view (``categorical=``): ``"base"`` - the base's variables, and
  ``from_categorical`` raises ``ValueError`` for a combination outside ``S``; ``"rows"`` - one
  variable with one choice per row (a policy over the set itself); ``"auto"`` (default) -
  ``"rows"`` for sets of at most :data:`ROWS_CATEGORICAL_MAX` cells (a base-space policy would
  almost never hit a member of a small set), else ``"base"``.

Specs: when the base cannot parse its own ids (NB101 hashes in a fresh process), give
``specs``, one string per id that ``base.parse`` reads (``base.format`` of the cell).  Each
spec is parsed on first use and checked to have its row's id (a mismatch raises
:class:`~benchbench.api.BenchmarkError`, the set is corrupt).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from benchbench.api import BenchmarkError, MissingDataError, UnknownNameError
from benchbench.spaces._base import CategoricalSpace, EnumerableSpace, SearchSpace

__all__ = ["ROWS_CATEGORICAL_MAX", "RestrictedSpace"]

#: ``categorical="auto"`` uses one variable over the rows up to this many cells.
ROWS_CATEGORICAL_MAX = 4096
CategoricalMode = Literal["auto", "base", "rows"]


class RestrictedSpace(EnumerableSpace[Any]):
    """The cells of ``base`` whose ids are ``arch_ids`` (see the module docstring).

    Args:
        base: the space the cells belong to.
        arch_ids: the cells' ids (``base.arch_id``), distinct, in row order.
        specs: per id, a string ``base.parse`` reads (default: the ids themselves).
        categorical: ``"auto"``, ``"base"`` or ``"rows"``.
        mutate_tries: draws of ``base.mutate`` before falling back to ``neighbours``.
        label: what the set is, for error messages (default ``"this set"``).
    """

    def __init__(self, base: SearchSpace[Any], arch_ids: Sequence[str], *,
                 specs: Sequence[str] | None = None, categorical: CategoricalMode = "auto",
                 mutate_tries: int = 20, label: str = "this set") -> None:
        if isinstance(base, RestrictedSpace):
            base = base.base
        self.base: SearchSpace[Any] = base
        # networks, protocols and proxies are the base space's
        self.name = base.name  # type: ignore[misc]
        self._ids = [str(i) for i in arch_ids]
        if not self._ids:
            raise ValueError("a RestrictedSpace needs at least one cell")
        self._pos = {a: r for r, a in enumerate(self._ids)}
        if len(self._pos) != len(self._ids):
            dup = next(a for r, a in enumerate(self._ids) if self._pos[a] != r)
            raise ValueError(f"cell id {dup!r} appears more than once in the set")
        if specs is not None and len(specs) != len(self._ids):
            raise ValueError(f"{len(specs)} specs for {len(self._ids)} ids")
        self._specs = None if specs is None else [str(s) for s in specs]
        if categorical not in ("auto", "base", "rows"):
            raise ValueError(f"categorical must be 'auto', 'base' or 'rows', got "
                             f"{categorical!r}")
        if categorical == "auto":
            categorical = "rows" if len(self._ids) <= ROWS_CATEGORICAL_MAX else "base"
        self.categorical: Literal["base", "rows"] = categorical
        if isinstance(mutate_tries, bool) or not isinstance(mutate_tries, int) or \
                mutate_tries < 0:
            raise ValueError(f"mutate_tries must be an int >= 0, got {mutate_tries!r}")
        self.mutate_tries = mutate_tries
        self.label = label
        self._records: dict[int, Any] = {}
        self._nbrs: OrderedDict[Any, list[Any]] = OrderedDict()
        self._enc: np.ndarray | None = None

    # ------------------------------------------------------------------ members
    @property
    def size(self) -> int:
        return len(self._ids)

    @property
    def arch_ids(self) -> list[str]:
        """The ids of the set, in row order."""
        return list(self._ids)

    def _record(self, row: int) -> Any:
        rec = self._records.get(row)
        if rec is None:
            spec = self._ids[row] if self._specs is None else self._specs[row]
            try:
                rec = self.base.parse(spec)
            except (ValueError, TypeError) as e:
                raise BenchmarkError(f"row {row} of {self.label} holds {spec!r}, which is not "
                                     f"a cell of space {self.base.name!r}: {e}") from None
            got = self.base.arch_id(rec)
            if got != self._ids[row]:
                raise BenchmarkError(f"row {row} of {self.label}: spec {spec!r} has id {got!r}, "
                                     f"not the listed {self._ids[row]!r} (corrupt set)")
            self._records[row] = rec
        return rec

    def contains(self, arch: Any) -> bool:
        """Whether ``arch`` (a record of the base space) is in the set."""
        return self.base.arch_id(arch) in self._pos

    def index(self, arch: Any) -> int:
        try:
            return self._pos[self.base.arch_id(arch)]
        except KeyError:
            raise self._outside(arch) from None

    def from_index(self, index: int) -> Any:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or \
                not 0 <= index < len(self._ids):
            raise UnknownNameError(f"row {index!r} out of range for {self.label}; allowed: "
                                   f"0..{len(self._ids) - 1}")
        return self._record(int(index))

    def _outside(self, arch: Any) -> MissingDataError:
        return MissingDataError(
            f"cell {self.base.arch_id(arch)} ({self.base.format(arch)}) is a valid "
            f"{self.base.name} cell but not in {self.label} ({len(self._ids)} cells)")

    # -------------------------------------------------------------- conversions
    def parse(self, arch: Any) -> Any:
        if isinstance(arch, str) and arch in self._pos:
            return self._record(self._pos[arch])
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            return self.from_index(int(arch))
        rec = self.base.parse(arch)
        if self.base.arch_id(rec) not in self._pos:
            raise self._outside(rec)
        return rec

    def arch_id(self, arch: Any) -> str:
        return self.base.arch_id(arch)

    def format(self, arch: Any) -> str:
        return self.base.format(arch)

    def canonical_id(self, arch: Any) -> str:
        return self.base.canonical_id(arch)

    def encode(self, arch: Any) -> np.ndarray:
        return self.base.encode(arch)

    # ----------------------------------------------------------------- search
    def sample(self, rng: np.random.Generator) -> Any:
        """Uniform over the set."""
        return self._record(int(rng.integers(len(self._ids))))

    def _base_neighbours_inside(self, arch: Any) -> list[Any]:
        got = self._nbrs.get(arch)
        if got is None:
            got = [b for b in self.base.neighbours(arch) if self.base.arch_id(b) in self._pos]
            self._nbrs[arch] = got
            if len(self._nbrs) > 4096:
                self._nbrs.popitem(last=False)
        return got

    def _encodings(self) -> np.ndarray:
        if self._enc is None:
            self._enc = np.stack([np.asarray(self.base.encode(self._record(r)), dtype=np.float64)
                                  for r in range(len(self._ids))])
        return self._enc

    def neighbours(self, arch: Any) -> list[Any]:
        inside = self._base_neighbours_inside(arch)
        if inside:
            return list(inside)
        if len(self._ids) < 2:
            return []
        enc = self._encodings()
        d = np.abs(enc - np.asarray(self.base.encode(arch), dtype=np.float64)).sum(axis=1)
        me = self._pos.get(self.base.arch_id(arch))
        if me is not None:
            d[me] = np.inf
        d[d == 0] = np.inf  # an equal encoding is not a step
        if not np.isfinite(d).any():
            return [self._record(r) for r in range(len(self._ids)) if r != me]
        return [self._record(int(r)) for r in np.flatnonzero(d == d.min())]

    def mutate(self, arch: Any, rng: np.random.Generator) -> Any:
        if self._base_neighbours_inside(arch):
            for _ in range(self.mutate_tries):
                m = self.base.mutate(arch, rng)
                if self.base.arch_id(m) in self._pos:
                    return m
        nb = self.neighbours(arch)
        if not nb:
            raise ValueError(f"cell {self.base.arch_id(arch)} has no neighbour inside "
                             f"{self.label} ({len(self._ids)} cell)")
        return nb[int(rng.integers(len(nb)))]

    # ------------------------------------------------------------ categorical
    def as_categorical(self) -> CategoricalSpace:
        if self.categorical == "base":
            return self.base.as_categorical()
        return CategoricalSpace(names=("cell",), choices=(tuple(self._ids),))

    def from_categorical(self, values: Sequence[int]) -> Any:
        if self.categorical == "rows":
            if len(values) != 1:
                raise ValueError(f"the categorical view of {self.label} has one variable (the "
                                 f"row), got {len(values)} values")
            return self.from_index(int(values[0]))
        rec = self.base.from_categorical(values)
        if self.base.arch_id(rec) not in self._pos:
            raise self._outside(rec)
        return rec

    def to_categorical(self, arch: Any) -> tuple[int, ...]:
        if self.categorical == "rows":
            return (self.index(arch),)
        return tuple(self.base.to_categorical(arch))

    def __repr__(self) -> str:
        return f"RestrictedSpace({self.base!r}, <{len(self._ids)} cells>)"

    def __reduce__(self) -> Any:
        return (_rebuild, (self.base, self._ids, self._specs, self.categorical,
                           self.mutate_tries, self.label))


def _rebuild(base: SearchSpace[Any], ids: list[str], specs: list[str] | None,
             categorical: CategoricalMode, mutate_tries: int, label: str) -> RestrictedSpace:
    return RestrictedSpace(base, ids, specs=specs, categorical=categorical,
                           mutate_tries=mutate_tries, label=label)
