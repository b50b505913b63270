"""The search-space contract: plain, frozen, hashable arch records (no torch)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["CategoricalSpace", "SearchSpace"]

A = TypeVar("A")


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

    ``arch_id`` is canonical for a cell (NB201: the official string); equivalence classes
    (isomorphism) are exposed separately by spaces that have them.
    """

    name: str

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Number of architectures (NB201: 15,625)."""

    @abc.abstractmethod
    def parse(self, arch: Any) -> A:
        """An arch record from a record, an id string or an int index (clear error if bad)."""

    @abc.abstractmethod
    def arch_id(self, arch: A) -> str: ...

    @abc.abstractmethod
    def index(self, arch: A) -> int:
        """The official index of ``arch`` (0 <= index < size)."""

    @abc.abstractmethod
    def from_index(self, index: int) -> A: ...

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> A:
        """One architecture drawn uniformly."""

    @abc.abstractmethod
    def mutate(self, arch: A, rng: np.random.Generator) -> A:
        """A random neighbour: always a different architecture."""

    @abc.abstractmethod
    def neighbours(self, arch: A) -> list[A]:
        """All architectures one mutation away, in a fixed order."""

    @abc.abstractmethod
    def encode(self, arch: A) -> np.ndarray:
        """A fixed-length float feature vector (NB201: one-hot, shape ``(6*5,)``)."""

    @abc.abstractmethod
    def as_categorical(self) -> CategoricalSpace: ...

    @abc.abstractmethod
    def from_categorical(self, values: Sequence[int]) -> A:
        """The architecture with the given choice index for each categorical variable."""

    @abc.abstractmethod
    def to_categorical(self, arch: A) -> tuple[int, ...]: ...
