"""Local search (hill climbing with restarts), White et al. 2020."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from algorithms._common import sample_unseen, worst_if_nan
from benchbench.optimizer import Optimizer, check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["LocalSearch"]


class LocalSearch(Optimizer):
    """Local search as in White, Nolen, Sherstinsky & Gupta, "Local search is state of the
    art for NAS benchmarks" (2020).

    Start from a uniform sample (the *centre*).  Evaluate its neighbours
    (``space.neighbours``) in a random order.  Best improvement (default): once every
    neighbour is known, move to the best one if it is strictly better than the centre.
    First improvement (``first_improvement=True``): move as soon as a neighbour is strictly
    better.  When no neighbour is better the centre is a local optimum: it is appended to
    :attr:`local_optima` and the search restarts from a new uniform sample.

    A cell is never asked twice in one run: the value of a neighbour told earlier in the run
    is reused without asking it again, and restarts draw uniformly among cells not yet
    asked.  NaN objectives count as worse than any number: they never improve on a centre,
    and any non-NaN neighbour improves on a NaN centre.  When every cell of the space has
    been asked, :meth:`ask` raises :class:`~algorithms.SearchExhaustedError`.

    Several asks before a tell: asks go through the centre's neighbours not yet asked.
    When none is left but some are still awaiting their tell, the move cannot be decided
    yet; such asks return a uniform sample of unasked cells (a *filler*, counted in
    :attr:`n_fillers`), whose value is remembered like any other.  Likewise while the
    starting cell awaits its tell.  With strictly alternating ask/tell (the runner) no
    filler is ever asked.

    Args:
        first_improvement: move to the first improving neighbour instead of the best one.
    """

    name: ClassVar[str] = "ls"

    def __init__(self, *, first_improvement: bool = False) -> None:
        self.first_improvement = first_improvement

    def _validate(self) -> None:
        check_param("first_improvement", self.first_improvement, kind=bool)

    def _setup(self) -> None:
        self._values: dict[Any, float] = {}   # told cells -> score (larger better, -inf = NaN)
        self._asked: set[Any] = set()         # every cell asked in this run
        self._start: Any | None = None        # start asked, awaiting its tell
        self._center: Any | None = None
        self._center_value = -math.inf
        self._queue: list[Any] = []           # centre's neighbours still to ask (pop from end)
        self._waiting: set[Any] = set()       # centre's neighbours asked, awaiting their tell
        self._best: Any | None = None         # best known neighbour of the centre
        self._best_value = -math.inf
        #: Local optima reached, in order: ``(arch, score)``, the score oriented
        #: larger-is-better (the told objective, negated when minimising; NaN kept).
        self.local_optima: list[tuple[Any, float]] = []
        #: Asks made while the move awaited tells (never with alternating ask / tell).
        self.n_fillers = 0

    @property
    def center(self) -> tuple[Any, float] | None:
        """The current centre of the climb ``(arch, score)`` (score as in
        :attr:`local_optima`), or ``None`` between a local optimum and the next start."""
        return None if self._center is None else self._center_record()

    def _center_record(self) -> tuple[Any, float]:
        value = self._center_value
        return self._center, math.nan if value == -math.inf else value

    # ------------------------------------------------------------------ ask/tell
    def ask(self) -> TrialInfo:
        arch = None
        if self._center is None:
            if self._start is None:
                arch = self._start = self._unseen()
        elif self._queue:  # built from unasked cells; nothing else asks them meanwhile
            arch = self._queue.pop()
            self._waiting.add(arch)
        if arch is None:
            arch = self._unseen()
            self.n_fillers += 1
        self._asked.add(arch)
        return TrialInfo(arch, None, self._next_id())

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        arch = trial.arch
        score = worst_if_nan(value.score())
        self._values[arch] = score
        if arch == self._start:
            self._start = None
            if self._center is None and self._move(arch, score):
                self._settle()
        elif arch in self._waiting:
            self._waiting.discard(arch)
            if self._consider(arch, score):
                self._settle()

    # ------------------------------------------------------------------ internals
    def _unseen(self) -> Any:
        return sample_unseen(self.space, self.rng, self._asked)

    def _improves(self, arch: Any, score: float) -> bool:
        """Track the best known neighbour; True if first improvement should move now."""
        if score > self._best_value or self._best is None:
            self._best, self._best_value = arch, score
        return self.first_improvement and score > self._center_value

    def _consider(self, arch: Any, score: float) -> bool:
        """A neighbour of the centre was told; True if the centre should be left now
        (first improvement found) or its neighbourhood is complete."""
        return self._improves(arch, score) or (not self._queue and not self._waiting)

    def _settle(self) -> None:
        """Move to the best neighbour if it improves on the centre, else restart."""
        while True:
            if self._best is not None and self._best_value > self._center_value:
                if self._move(self._best, self._best_value):
                    continue
                return
            self.local_optima.append(self._center_record())
            self._center = None
            self._queue, self._waiting = [], set()
            return

    def _move(self, center: Any, value: float) -> bool:
        """Make ``center`` the centre; True if its neighbourhood is already settled from
        known values (then :meth:`_settle` must decide again)."""
        self._center, self._center_value = center, value
        self._best, self._best_value = None, -math.inf
        self._waiting = set()
        nbrs = self.space.neighbours(center)
        order = self.rng.permutation(len(nbrs)).tolist()
        queue = []
        for i in order:
            nb = nbrs[i]
            known = self._values.get(nb)
            if known is not None:
                if self._improves(nb, known):
                    self._queue = []
                    return True
            elif nb in self._asked:
                self._waiting.add(nb)
            else:
                queue.append(nb)
        queue.reverse()  # asks pop from the end: keep the random order
        self._queue = queue
        return not queue and not self._waiting
