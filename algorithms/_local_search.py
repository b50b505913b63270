"""Local search (hill climbing with restarts), White, Nolen, Sherstinsky & Gupta 2020."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from algorithms._common import SearchExhaustedError, feasible_key, sample_unseen
from benchbench.optimizer import Optimizer, check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["KNOWN_NEIGHBOURS", "LocalSearch", "STEPS"]

#: The step rules of :class:`LocalSearch`, the default (the reference) first.
STEPS: tuple[str, ...] = ("first-improvement", "best-improvement")
#: What :class:`LocalSearch` does with a neighbour asked earlier in the run, default first.
KNOWN_NEIGHBOURS: tuple[str, ...] = ("skip", "reuse")

_WAIT = object()  # yielded by the search loop: "every asked cell must be told first"
_NONE = (-1, -math.inf)  # the centre's key while there is no centre


class LocalSearch(Optimizer):
    """Local search as in White, Nolen, Sherstinsky & Gupta, "Local search is state of the
    art for NAS benchmarks" (2020).

    Reference: ``local_search`` in ``naszilla/nas_algorithms.py`` of naszilla/naszilla with
    its defaults (``num_init=10``, ``query_full_nbhd=False``, ``stop_at_minimum=True``; the
    ``all_algos`` setting of ``naszilla/params.py``), on NB201 with the neighbourhood of
    ``nas_bench_201/cell_201.py`` (``get_neighborhood``: the 24 cells one op away, shuffled).
    The loop, as there:

    1. *Start*: draw ``n_init`` cells uniformly among those not asked yet in the run (each
       is one evaluation) and take the best of them (the first drawn among equals) as the
       centre.
    2. *Step*: go through the centre's neighbours (``space.neighbours``) in a uniformly
       shuffled order; a neighbour asked earlier in the run is skipped, neither asked again
       nor compared (``known_neighbours="skip"``, the reference); every other one is asked.
       ``step="first-improvement"`` (the reference, ``query_full_nbhd=False``): the first
       neighbour strictly better than the centre becomes the centre, and the scan stops
       there.  ``step="best-improvement"`` (``query_full_nbhd=True``): every neighbour is
       asked, then the best of them (the first asked among equals) becomes the centre if it
       is strictly better than the centre.
    3. When no neighbour asked in a step is better, the centre is recorded in
       :attr:`local_optima` and the search starts again at 1 with ``n_init`` new cells.

    The run's evaluation budget counts every ask, as the reference counts every query; a
    cell is never asked twice in one run (the reference's ``query_dict``).  When every cell
    has been asked, :meth:`ask` raises :class:`~algorithms.SearchExhaustedError`.

    Named deviations: ``n_init=1`` starts (and restarts) from one uniform cell;
    ``step="best-improvement"``; ``known_neighbours="reuse"``: a neighbour told earlier in
    the run is compared with its told value, as if asked again (without asking it).
    ``n_init=1, step="best-improvement", known_neighbours="reuse"`` is benchbench's local
    search before issue 9.

    NaN objectives count as worse than any number: they never improve on a centre, and any
    non-NaN neighbour improves on a NaN centre.

    Constrained search (a run with ``constraints``): cells are compared by
    :func:`algorithms._common.feasible_key`, so an infeasible cell ranks below every
    feasible one (Deb's feasibility rules, CMAME 2000; two infeasible cells compare by
    objective): a feasible neighbour always improves on an infeasible centre, an infeasible
    one never improves on a feasible centre, and the best start is the best feasible one when
    there is any.  Without constraints every cell is feasible and nothing changes.

    Under ``"skip"`` a recorded local optimum may have a better neighbour that was asked
    before the step (as in the reference).

    Several asks before a tell: asks that do not wait for a value (the start cells,
    best-improvement's neighbours) are handed out in turn; when the next decision needs
    values not told yet (the best start, whether a first-improvement neighbour improves),
    asks return a uniform sample of cells not asked yet (a *filler*, counted in
    :attr:`n_fillers`), which is then a cell asked earlier in the run like any other.  With
    strictly alternating ask / tell (the runner) no filler is ever asked.

    Args:
        n_init: cells drawn for each start, the best of which starts the climb (the
            reference: ``num_init=10``); at least 1.
        step: ``"first-improvement"`` (the reference) or ``"best-improvement"``.
        known_neighbours: ``"skip"`` (the reference) or ``"reuse"``.
    """

    name: ClassVar[str] = "ls"

    def __init__(self, *, n_init: int = 10, step: str = "first-improvement",
                 known_neighbours: str = "skip") -> None:
        self.n_init = n_init
        self.step = step
        self.known_neighbours = known_neighbours

    def _validate(self) -> None:
        check_param("n_init", self.n_init, kind=int, low=1)
        if not isinstance(self.step, str) or self.step not in STEPS:
            raise ValueError(f"step must be one of {STEPS}, got {self.step!r}")
        if not isinstance(self.known_neighbours, str) or \
                self.known_neighbours not in KNOWN_NEIGHBOURS:
            raise ValueError(f"known_neighbours must be one of {KNOWN_NEIGHBOURS}, got "
                             f"{self.known_neighbours!r}")

    def _setup(self) -> None:
        # told cells -> (feasible, score): larger is better, NaN as -inf (feasible_key)
        self._values: dict[Any, tuple[int, float]] = {}
        self._asked: set[Any] = set()         # every cell asked in this run
        self._outstanding: set[Any] = set()   # asked, not told yet
        self._blocked = False                 # the loop waits for every outstanding tell
        self._center: Any | None = None
        self._center_value: tuple[int, float] = _NONE
        #: Local optima reached, in order: ``(arch, score)``, the score oriented
        #: larger-is-better (the told objective, negated when minimising; NaN kept).
        self.local_optima: list[tuple[Any, float]] = []
        #: Asks made while the next decision awaited tells (never with alternating ask/tell).
        self.n_fillers = 0
        #: Starts (climbs) begun, the first one included.
        self.n_starts = 0
        self._loop = self._search()

    @property
    def center(self) -> tuple[Any, float] | None:
        """The current centre of the climb ``(arch, score)`` (score as in
        :attr:`local_optima`), or ``None`` while a start's cells are being drawn."""
        return None if self._center is None else self._center_record()

    def _center_record(self) -> tuple[Any, float]:
        value = self._center_value[1]
        return self._center, math.nan if value == -math.inf else value

    # ------------------------------------------------------------------ ask/tell
    def ask(self) -> TrialInfo:
        arch = self._next()
        if arch is None:
            arch = sample_unseen(self.space, self.rng, self._asked)
            self.n_fillers += 1
        self._asked.add(arch)
        self._outstanding.add(arch)
        return TrialInfo(arch, None, self._next_id())

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        self._values[trial.arch] = feasible_key(value.score(), value.feasible)
        self._outstanding.discard(trial.arch)

    def _next(self) -> Any | None:
        """The next cell of the search loop, or ``None`` while it waits for tells."""
        while True:
            if self._blocked:
                if self._outstanding:
                    return None
                self._blocked = False
            try:
                item = next(self._loop)
            except StopIteration:  # the loop ended on an exhausted space earlier
                raise SearchExhaustedError(f"every cell of space {self.space.name!r} has "
                                           f"already been asked") from None
            if item is _WAIT:
                self._blocked = True
                continue
            return item

    # ------------------------------------------------------------------ the loop
    def _search(self) -> Iterator[Any]:
        """The reference loop: yields each cell to ask, or :data:`_WAIT` where it needs
        the values of every cell asked so far; reads told values from ``self._values``."""
        space, rng, values = self.space, self.rng, self._values
        first = self.step == "first-improvement"
        reuse = self.known_neighbours == "reuse"
        while True:
            self.n_starts += 1
            start = []
            for _ in range(self.n_init):
                arch = sample_unseen(space, rng, self._asked)
                start.append(arch)
                yield arch
            yield _WAIT
            center = _first_best(start, values)
            while True:
                self._center, self._center_value = center, values[center]
                nbrs = space.neighbours(center)
                found: list[Any] = []  # neighbours compared in this step, in scan order
                improved = False
                for i in rng.permutation(len(nbrs)).tolist():
                    nb = nbrs[i]
                    if nb in self._asked:
                        if not reuse:
                            continue
                        if nb not in values:  # a filler still awaiting its tell
                            yield _WAIT
                    else:
                        yield nb
                        if first:
                            yield _WAIT
                    found.append(nb)
                    if first and values[nb] > self._center_value:
                        improved = True
                        break
                if not first:
                    yield _WAIT
                    improved = any(values[nb] > self._center_value for nb in found)
                if not improved:
                    self.local_optima.append(self._center_record())
                    self._center, self._center_value = None, _NONE
                    break
                center = found[-1] if first else _first_best(found, values)


def _first_best(archs: Sequence[Any], values: dict[Any, tuple[int, float]]) -> Any:
    """The first of ``archs`` with the largest value (``archs`` non-empty)."""
    best = archs[0]
    for arch in archs[1:]:
        if values[arch] > values[best]:
            best = arch
    return best
