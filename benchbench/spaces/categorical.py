"""The product of categorical variables: the space of a table whose architecture is a tuple of
categorical choices (``benchbench data import table``).

A cell is one choice per variable.  Its id is ``name=value|name=value|...`` in variable order,
with ``%``, ``|`` and ``=`` percent-encoded inside names and values, so any string works.  The
space is enumerable (mixed-radix index, the last variable fastest); a table of it usually holds
only some of the combinations and exposes a :class:`~benchbench.spaces.RestrictedSpace` of its
rows (sample / mutate / neighbours stay inside the table).

Not registered by name (its variables are data): a table names it by import path
(``benchbench.spaces.categorical:CategoricalProductSpace``) with its variables in the table's
``space_options`` attribute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import numpy as np

from benchbench.spaces._base import CategoricalSpace, EnumerableSpace

__all__ = ["CategoricalArch", "CategoricalProductSpace"]

_SAFE = "!\"#$&'()*+,-./:;<>?@[\\]^_`{}~ "  # everything but % | = (and non-ASCII) kept as is


@dataclass(frozen=True, slots=True)
class CategoricalArch:
    """One cell: the choice index of each variable."""

    codes: tuple[int, ...]


def _quote(s: str) -> str:
    return quote(s, safe=_SAFE)


class CategoricalProductSpace(EnumerableSpace[CategoricalArch]):
    """Every combination of one choice per variable.

    * ``sample``: each variable uniformly and independently;
    * ``neighbours(a)``: the cells that differ from ``a`` in exactly one variable (variables
      in order, choices in order);
    * ``mutate(a, rng)``: a uniform draw from ``neighbours(a)`` (one variable changed to another
      of its choices);
    * ``encode``: the one-hot vectors of the variables, concatenated;
    * categorical view: the variables themselves.

    Args:
        names: the variables (e.g. a table's architecture columns), distinct, non-empty.
        choices: per variable its choices (strings, distinct, at least one).
    """

    name: ClassVar[str] = "categorical"

    def __init__(self, names: Sequence[str], choices: Sequence[Sequence[str]]) -> None:
        if isinstance(names, str) or not names:
            raise ValueError(f"names must be a non-empty list of variable names, got {names!r}")
        names_t = tuple(str(n) for n in names)
        if any(not n for n in names_t) or len(set(names_t)) != len(names_t):
            raise ValueError(f"variable names must be distinct, non-empty strings, got "
                             f"{list(names_t)}")
        if len(choices) != len(names_t):
            raise ValueError(f"{len(choices)} choice lists for {len(names_t)} variables")
        ch: list[tuple[str, ...]] = []
        for n, c in zip(names_t, choices):
            if isinstance(c, str):
                raise ValueError(f"choices of {n!r} must be a list of strings, got {c!r}")
            c_t = tuple(str(x) for x in c)
            if not c_t or len(set(c_t)) != len(c_t):
                raise ValueError(f"choices of {n!r} must be distinct and at least one, got "
                                 f"{list(c_t)}")
            ch.append(c_t)
        self.names = names_t
        self.choices = tuple(ch)
        self._sizes = np.array([len(c) for c in ch], dtype=np.int64)
        self._radix = [int(np.prod(self._sizes[i + 1:], dtype=object)) for i in range(len(ch))]
        self._pos = [{v: i for i, v in enumerate(c)} for c in ch]
        self._qnames = [_quote(n) for n in names_t]
        self._offsets = np.concatenate(([0], np.cumsum(self._sizes)))

    # ---------------------------------------------------------------- options
    def options(self) -> dict[str, Any]:
        """The constructor's arguments as JSON-ready data (``CategoricalProductSpace(**o)``)."""
        return {"names": list(self.names), "choices": [list(c) for c in self.choices]}

    @property
    def size(self) -> int:
        return int(np.prod(self._sizes, dtype=object))

    # ------------------------------------------------------------ conversions
    def _check(self, codes: Sequence[int]) -> tuple[int, ...]:
        if len(codes) != len(self.names):
            raise ValueError(f"a cell has {len(self.names)} values ({', '.join(self.names)}), "
                             f"got {len(codes)}")
        out = []
        for n, k, c in zip(self.names, self._sizes.tolist(), codes):
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < k:
                raise ValueError(f"choice index {c!r} of {n!r} out of range 0..{k - 1}")
            out.append(int(c))
        return tuple(out)

    def parse(self, arch: Any) -> CategoricalArch:
        """A cell from a record, an id string, an index, or a mapping ``{name: value}``."""
        if isinstance(arch, CategoricalArch):
            return CategoricalArch(self._check(arch.codes))
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            return self.from_index(int(arch))
        if isinstance(arch, Mapping):
            missing = [n for n in self.names if n not in arch]
            if missing:
                raise ValueError(f"cell {dict(arch)!r} lacks variables {missing}")
            return self._from_values([str(arch[n]) for n in self.names])
        if isinstance(arch, str):
            parts = arch.split("|")
            if len(parts) != len(self.names):
                raise ValueError(f"bad cell {arch!r}: expected {len(self.names)} "
                                 f"'name=value' parts joined by '|' ({', '.join(self.names)})")
            values = []
            for part, qn in zip(parts, self._qnames):
                key, eq, val = part.partition("=")
                if not eq or key != qn:
                    raise ValueError(f"bad cell {arch!r}: part {part!r} is not '{qn}=VALUE'")
                values.append(unquote(val))
            return self._from_values(values)
        raise ValueError(f"cannot read a {self.name} cell from {type(arch).__name__} {arch!r}")

    def _from_values(self, values: Sequence[str]) -> CategoricalArch:
        codes = []
        for n, pos, v in zip(self.names, self._pos, values):
            if v not in pos:
                shown = list(pos)[:10]
                raise ValueError(f"{v!r} is not a choice of {n!r}; allowed: {shown}"
                                 + (" ..." if len(pos) > 10 else ""))
            codes.append(pos[v])
        return CategoricalArch(tuple(codes))

    def values(self, arch: CategoricalArch) -> tuple[str, ...]:
        """The cell's value of each variable."""
        return tuple(c[i] for c, i in zip(self.choices, arch.codes))

    def arch_id(self, arch: CategoricalArch) -> str:
        return "|".join(f"{qn}={_quote(c[i])}"
                        for qn, c, i in zip(self._qnames, self.choices, arch.codes))

    def index(self, arch: CategoricalArch) -> int:
        return sum(c * r for c, r in zip(self._check(arch.codes), self._radix))

    def from_index(self, index: int) -> CategoricalArch:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or \
                not 0 <= index < self.size:
            raise ValueError(f"index {index!r} out of range 0..{self.size - 1}")
        i, codes = int(index), []
        for r in self._radix:
            codes.append(i // r)
            i %= r
        return CategoricalArch(tuple(codes))

    # -------------------------------------------------------------- search
    def sample(self, rng: np.random.Generator) -> CategoricalArch:
        """Each variable uniformly and independently."""
        return CategoricalArch(tuple(int(x) for x in rng.integers(self._sizes)))

    def neighbours(self, arch: CategoricalArch) -> list[CategoricalArch]:
        codes = list(arch.codes)
        out = []
        for v, k in enumerate(self._sizes.tolist()):
            for c in range(k):
                if c != codes[v]:
                    out.append(CategoricalArch(tuple(codes[:v] + [c] + codes[v + 1:])))
        return out

    def mutate(self, arch: CategoricalArch, rng: np.random.Generator) -> CategoricalArch:
        nb = self.neighbours(arch)
        if not nb:
            raise ValueError("every variable of this space has one choice: no cell to mutate to")
        return nb[int(rng.integers(len(nb)))]

    def encode(self, arch: CategoricalArch) -> np.ndarray:
        x = np.zeros(int(self._offsets[-1]))
        x[self._offsets[:-1] + np.asarray(arch.codes)] = 1.0
        return x

    def as_categorical(self) -> CategoricalSpace:
        return CategoricalSpace(names=self.names, choices=self.choices)

    def from_categorical(self, values: Sequence[int]) -> CategoricalArch:
        return CategoricalArch(self._check(values))

    def to_categorical(self, arch: CategoricalArch) -> tuple[int, ...]:
        return arch.codes

    # ------------------------------------------------------------------ misc
    def __repr__(self) -> str:
        return f"CategoricalProductSpace({list(self.names)!r}, <{self.size} cells>)"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, CategoricalProductSpace) and other.names == self.names
                and other.choices == self.choices)

    def __hash__(self) -> int:
        return hash((self.names, self.choices))

    def __reduce__(self) -> Any:
        return (CategoricalProductSpace, (self.names, self.choices))
