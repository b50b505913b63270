"""Helpers shared by the black-box optimizers: block-drawn uniforms, unseen-cell sampling."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from benchbench.spaces import SearchSpace, is_enumerable

__all__ = ["SearchExhaustedError", "UniformStream", "feasible_key", "sample_unseen",
           "worst_if_nan"]

#: Rejections tolerated before :func:`sample_unseen` enumerates the unseen cells instead.
_MAX_REJECTIONS = 2_000
#: Largest space :func:`sample_unseen` will enumerate (index arithmetic, ``size`` int64s).
_MAX_ENUMERATE = 50_000_000


class SearchExhaustedError(RuntimeError):
    """Every architecture of the space has already been asked (only optimizers that never
    repeat a cell raise it: ``rs`` with ``dedup=True`` and ``ls``)."""


class UniformStream:
    """Uniform floats in ``[0, 1)`` drawn from ``rng`` in blocks of ``block``.

    A numpy Generator call costs about a microsecond whatever its size, so the optimizers'
    small draws (tournament positions, ...) are served from a pre-drawn block.  The sequence
    depends only on the generator's state, so it is as reproducible as single draws.
    """

    __slots__ = ("_rng", "_block", "_buf", "_pos")

    def __init__(self, rng: np.random.Generator, block: int = 1024) -> None:
        self._rng = rng
        self._block = block
        self._buf: list[float] = []
        self._pos = 0

    def next(self) -> float:
        """The next uniform float."""
        if self._pos == len(self._buf):
            self._buf = self._rng.random(self._block).tolist()
            self._pos = 0
        self._pos += 1
        return self._buf[self._pos - 1]

    def below(self, n: int) -> int:
        """A uniform integer in ``0..n-1``."""
        return min(int(self.next() * n), n - 1)


def worst_if_nan(score: float) -> float:
    """``score`` (larger is better), with NaN mapped to ``-inf`` for comparisons."""
    return -math.inf if math.isnan(score) else score


def feasible_key(score: float, feasible: bool) -> tuple[int, float]:
    """A sort key (larger is better) that ranks every infeasible evaluation below every
    feasible one, then by ``score`` (larger is better; NaN as ``-inf``).

    The first two of Deb's feasibility rules for tournament selection (Deb, "An efficient
    constraint handling method for genetic algorithms", CMAME 186, 2000, Sec. 3.1): a feasible
    solution beats an infeasible one; two feasible ones compare by objective.  Deb's third
    rule (two infeasible ones compare by their constraint violation) needs the violation,
    which the optimizers are not told (only :attr:`~benchbench.trial.TrialValue.feasible`):
    two infeasible evaluations compare by objective instead (a named deviation).  Without
    constraints every evaluation is feasible and the key orders by score alone.
    """
    return (1 if feasible else 0, -math.inf if math.isnan(score) else score)


def sample_unseen(space: SearchSpace, rng: np.random.Generator, seen: Collection[Any]) -> Any:
    """A uniform sample of the architectures of ``space`` that are not in ``seen``.

    Rejection sampling with ``space.sample``; after many rejections (a nearly exhausted
    space) the unseen indices of an enumerable space are listed and one is drawn uniformly
    (a space that cannot be enumerated raises instead).

    Raises:
        SearchExhaustedError: every architecture of the space is in ``seen``.
    """
    size = space.size if is_enumerable(space) else None  # type: ignore[attr-defined]
    if size is not None and len(seen) >= size:
        raise SearchExhaustedError(f"all {size} architectures of space {space.name!r} have "
                                   f"already been asked; this optimizer never repeats one")
    for _ in range(_MAX_REJECTIONS):
        arch = space.sample(rng)
        if arch not in seen:
            return arch
    if size is None or size > _MAX_ENUMERATE:  # a huge (or unlistable), nearly exhausted space
        raise SearchExhaustedError(f"{_MAX_REJECTIONS} uniform samples of space {space.name!r} "
                                   f"were all already asked ({len(seen)} asked)")
    listed: Any = space  # an EnumerableSpace (size is not None)
    taken = np.zeros(size, dtype=bool)
    taken[np.fromiter((listed.index(a) for a in seen), dtype=np.int64, count=len(seen))] = True
    free = np.flatnonzero(~taken)
    return listed.from_index(int(free[rng.integers(len(free))]))
