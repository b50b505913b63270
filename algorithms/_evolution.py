"""Regularized (aging) evolution, Real et al. 2019, as run in NAS-Bench-201."""

from __future__ import annotations

import math
from collections import deque
from typing import Any, ClassVar

from algorithms._common import UniformStream, feasible_key
from benchbench.optimizer import Optimizer, check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["MUTATIONS", "RegularizedEvolution"]

#: The mutation choices of :class:`RegularizedEvolution`, the default first.
MUTATIONS: tuple[str, ...] = ("space", "uniform-neighbour")


class RegularizedEvolution(Optimizer):
    """Regularized evolution (Real et al., AAAI 2019), NB201's ``R-EA``.

    The first ``population_size`` asks are uniform samples.  Every later ask runs a
    tournament: ``sample_size`` members of the current population are drawn uniformly,
    the one with the best told objective is the parent, and the child is a mutation of the
    parent (always a different cell, one of ``space.neighbours(parent)``; see ``mutation``).
    Each told trial joins the population; when it then holds more than ``population_size``
    members, the oldest is removed (``aging=True``, regularized) or the worst
    (``aging=False``, the non-regularized variant; NaN counts as worst, ties remove the
    oldest of them).

    NaN objectives never win a tournament; a tournament whose members are all NaN
    yields a uniform sample instead (counted in :attr:`n_nan_tournaments`).

    Constrained search (a run with ``constraints``): an infeasible member
    (``TrialValue.feasible`` false) ranks below every feasible one, in tournaments and in
    the removal of the worst (``aging=False``); two infeasible members compare by objective.
    These are Deb's tournament rules (Deb, CMAME 2000; :func:`algorithms._common.feasible_key`)
    except that two infeasible members are not compared by constraint violation (the
    optimizer is not told it).  A tournament of infeasible members only still picks the best
    of them as the parent: the search moves on from infeasible cells instead of restarting.
    Without constraints every member is feasible and nothing changes.

    Robust to several asks before a tell: the population only changes on :meth:`tell`,
    so such asks run tournaments on the same population (or are uniform samples while
    nothing has been told yet).

    Args:
        population_size: members kept (NB201: ``ea_population 10``).
        sample_size: tournament size (NB201: ``ea_sample_size 3``); at most
            ``population_size`` when sampling without replacement.
        aging: remove the oldest member (regularized evolution) or the worst.
        sample_with_replacement: draw tournament members with replacement, as NB201's
            ``R_EA.py`` and Real et al.'s reference code do (``random.choice`` per member;
            the default); ``False`` draws distinct members.
        mutation: how a child is drawn from its parent (:data:`MUTATIONS`):

            * ``"space"`` (default): the space's own operator, ``space.mutate(parent, rng)``.
              On NB201 that is NB201's R-EA operator (``NB201Space.mutate``,
              ``kind="nb201-node"``: a node uniformly, then one of its inputs, then another
              op; ``mutate_arch_func`` in ``exps/NAS-Bench-201-algos/R_EA.py`` of
              D-X-Y/AutoDL-Projects), so edge 1<-0 changes in 1/3 of the children and each
              edge into node 3 in 1/9.
            * ``"uniform-neighbour"``: a uniform draw from ``space.neighbours(parent)``; on
              NB201 every edge changes in 1/6 of the children (benchbench's operator before
              issue 9, kept as a named deviation).

    Defaults (population 10, tournament 3 with replacement, aging, NB201's mutation) are
    NB201's ``R-EA`` (Dong & Yang, ICLR 2020; ``scripts-search/algos/R-EA.sh`` runs
    ``exps/algos/R_EA.py --ea_population 10 --ea_sample_size 3``) and NATS-Bench's
    (``exps/NATS-algos/regularized_ea.py --ea_population 10 --ea_sample_size 3``).
    """

    name: ClassVar[str] = "re"

    def __init__(self, *, population_size: int = 10, sample_size: int = 3,
                 aging: bool = True, sample_with_replacement: bool = True,
                 mutation: str = "space") -> None:
        self.population_size = population_size
        self.sample_size = sample_size
        self.aging = aging
        self.sample_with_replacement = sample_with_replacement
        self.mutation = mutation

    def _validate(self) -> None:
        check_param("population_size", self.population_size, kind=int, low=1)
        check_param("sample_size", self.sample_size, kind=int, low=1)
        check_param("aging", self.aging, kind=bool)
        check_param("sample_with_replacement", self.sample_with_replacement, kind=bool)
        if not isinstance(self.mutation, str) or self.mutation not in MUTATIONS:
            raise ValueError(f"mutation must be one of {MUTATIONS}, got {self.mutation!r}")
        if not self.sample_with_replacement and self.sample_size > self.population_size:
            raise ValueError(f"sample_size={self.sample_size} must be <= population_size="
                             f"{self.population_size} when sampling without replacement")

    def _setup(self) -> None:
        # (arch, oriented score) pairs, oldest first; scores larger-is-better, NaN kept.
        self._population: deque[tuple[Any, float]] = deque()
        # feasibility of each member, in the same order
        self._feasible: deque[bool] = deque()
        self._uniform = UniformStream(self.rng)
        self.n_nan_tournaments = 0

    @property
    def population(self) -> tuple[tuple[Any, float], ...]:
        """The current population, oldest first: ``(arch, score)`` with the score oriented
        larger-is-better (the told objective, negated when minimising; NaN kept)."""
        return tuple(self._population)

    def ask(self) -> TrialInfo:
        pop = self._population
        if self._n_asked < self.population_size or not pop:
            arch = self.space.sample(self.rng)
        else:
            parent = self._tournament(pop)
            arch = self.space.sample(self.rng) if parent is None else self._mutate(parent)
        return TrialInfo(arch, None, self._next_id())

    def _mutate(self, parent: Any) -> Any:
        if self.mutation == "space":
            return self.space.mutate(parent, self.rng)
        nbrs = self.space.neighbours(parent)  # "uniform-neighbour"
        return nbrs[int(self.rng.integers(len(nbrs)))]

    def _tournament(self, pop: deque[tuple[Any, float]]) -> Any | None:
        """The best of ``sample_size`` uniformly drawn members (first drawn wins ties);
        ``None`` when every drawn member's score is NaN."""
        n = len(pop)
        below = self._uniform.below
        if self.sample_with_replacement:
            picks = [below(n) for _ in range(self.sample_size)]
        else:  # partial Fisher-Yates shuffle of the positions
            pos = list(range(n))
            k = min(self.sample_size, n)
            for i in range(k):
                j = i + below(n - i)
                pos[i], pos[j] = pos[j], pos[i]
            picks = pos[:k]
        best, best_key = None, (-1, -math.inf)
        feas = self._feasible
        for i in picks:
            arch, score = pop[i]
            if math.isnan(score):  # never wins
                continue
            key = feasible_key(score, feas[i])
            if key > best_key or (best is None and key == best_key):
                best, best_key = arch, key
        if best is None:  # every member drawn is NaN
            self.n_nan_tournaments += 1
        return best

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        pop, feas = self._population, self._feasible
        pop.append((trial.arch, value.score()))
        feas.append(bool(value.feasible))
        if len(pop) > self.population_size:
            if self.aging:
                pop.popleft()
                feas.popleft()
            else:
                keys = [feasible_key(s, f) for (_, s), f in zip(pop, feas)]
                worst = keys.index(min(keys))
                del pop[worst]
                del feas[worst]
