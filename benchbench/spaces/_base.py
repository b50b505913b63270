"""The search-space contract: plain, frozen, hashable arch records (no torch).

Two parts:

* :class:`SearchSpace`, what **every** space has: parse / format, a canonical id, sample,
  mutate, neighbours, a fixed-length encoding and a categorical view.  Nothing outside a
  tabular backend may assume more (a DARTS space has about 10^18 cells).
* :class:`EnumerableSpace`, the optional indexable part: ``size``, ``index``,
  ``from_index`` and a vectorised ``indices``.  Test for it with :func:`is_enumerable`.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

__all__ = ["CategoricalSpace", "EnumerableSpace", "SearchSpace", "is_enumerable"]

A = TypeVar("A", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CategoricalSpace:
    """A factorised view of a space: ``len(choices)`` independent categorical variables.

    Attributes:
        names: one name per variable (NB201: the six edges, ``"1<-0"`` ...).
        choices: the allowed values of each variable (NB201: the five op names).
    """

    names: tuple[str, ...]
    choices: tuple[tuple[str, ...], ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.choices)


class SearchSpace(abc.ABC, Generic[A]):
    """A search space of architectures of type ``A`` (frozen, hashable records).

    Required of every space.  ``arch_id`` is the canonical string of a cell: one cell, one
    id, stable across processes and versions; it is what records and tables store and what
    common random numbers are keyed on.  ``canonical_id`` is the isomorphism-invariant id
    (cells that compute the same function in the space's sense share it); by default it is
    ``arch_id``.
    """

    #: Registered name (``"nb201"``).
    name: ClassVar[str]

    @abc.abstractmethod
    def parse(self, arch: Any) -> A:
        """An arch record from a record or an id string (clear ``ValueError`` if bad).

        Enumerable spaces also accept an int index.
        """

    @abc.abstractmethod
    def arch_id(self, arch: A) -> str:
        """The canonical string of ``arch`` (``parse(arch_id(a)) == a``)."""

    def format(self, arch: A) -> str:
        """The human-readable string of ``arch`` (by default its :meth:`arch_id`)."""
        return self.arch_id(arch)

    def canonical_id(self, arch: A) -> str:
        """Isomorphism-invariant id: equal for cells the space treats as the same network."""
        return self.arch_id(arch)

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> A:
        """One architecture drawn from the space's sampling distribution (documented by
        each space; NB201: uniform over the cells)."""

    @abc.abstractmethod
    def mutate(self, arch: A, rng: np.random.Generator) -> A:
        """A random neighbour: always a different, valid architecture."""

    @abc.abstractmethod
    def neighbours(self, arch: A) -> list[A]:
        """All architectures one mutation away, in a fixed order, without ``arch``."""

    @abc.abstractmethod
    def encode(self, arch: A) -> np.ndarray:
        """A fixed-length float feature vector, shape ``(encoding_size,)``."""

    @abc.abstractmethod
    def as_categorical(self) -> CategoricalSpace:
        """The factorised view used by REINFORCE and one-shot search."""

    @abc.abstractmethod
    def from_categorical(self, values: Sequence[int]) -> A:
        """The architecture with the given choice index for each categorical variable
        (``ValueError`` if that combination is not a valid cell of the space)."""

    @abc.abstractmethod
    def to_categorical(self, arch: A) -> tuple[int, ...]:
        """The choice index of each categorical variable of ``arch``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EnumerableSpace(SearchSpace[A]):
    """A space whose cells can be listed: ``from_index(i)`` for ``0 <= i < size``.

    Optional: a tabular backend needs it, nothing else may rely on it.
    """

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Number of architectures (NB201: 15,625)."""

    @abc.abstractmethod
    def index(self, arch: A) -> int:
        """The index of ``arch`` (``0 <= index < size``; NB201: the official index)."""

    @abc.abstractmethod
    def from_index(self, index: int) -> A:
        """The architecture at ``index`` (``ValueError`` naming the range if out of it)."""

    def indices(self, archs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Indices of many archs (records, id strings or indices), int64 shape ``(n,)``."""
        return np.fromiter((self.index(self.parse(a)) for a in archs), dtype=np.int64,
                           count=len(archs))


def is_enumerable(space: SearchSpace[Any]) -> bool:
    """Whether ``space`` offers the indexable part (:class:`EnumerableSpace`)."""
    return isinstance(space, EnumerableSpace)
