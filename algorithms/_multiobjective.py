"""Multi-objective black-box search: Pareto regularized evolution (NSGA-II selection) and
ParEGO-style scalarised regularized evolution.

Both optimise the run's objective together with the metrics the runner records
(``record_metrics``), each in its own direction (``TrialValue.directions``).  Random search
needs no multi-objective variant: it ignores what it is told, and its Pareto front is computed
from its records by :mod:`results._pareto`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from algorithms._common import UniformStream
from algorithms._evolution import MUTATIONS
from benchbench.optimizer import Optimizer, check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["ParEGORE", "ParetoRE"]


class _MOEvolution(Optimizer):
    """Aging evolution over a population of (arch, objective vector, feasible) members; the
    subclasses choose the parent of a tournament."""

    def __init__(self, *, objectives: Sequence[str] | None = None, population_size: int = 10,
                 sample_size: int = 3, mutation: str = "space") -> None:
        self.objectives = objectives
        self.population_size = population_size
        self.sample_size = sample_size
        self.mutation = mutation

    def _validate(self) -> None:
        check_param("population_size", self.population_size, kind=int, low=2)
        check_param("sample_size", self.sample_size, kind=int, low=1)
        if not isinstance(self.mutation, str) or self.mutation not in MUTATIONS:
            raise ValueError(f"mutation must be one of {MUTATIONS}, got {self.mutation!r}")
        if self.objectives is not None:
            objs = self.objectives
            if isinstance(objs, str) or not all(isinstance(o, str) and o for o in objs) \
                    or len(set(objs)) != len(objs):
                raise ValueError(f"objectives must be distinct metric names (a list) or None "
                                 f"(every recorded metric), got {objs!r}")

    def _setup(self) -> None:
        self._archs: deque[Any] = deque()
        # minimised objective vectors (NaN kept), as tuples: the populations are small, so
        # the ranking below is plain Python (numpy's per-call overhead dominates at n = 10)
        self._F: deque[tuple[float, ...]] = deque()
        self._feasible: deque[bool] = deque()
        self._names: tuple[str, ...] | None = None
        self._uniform = UniformStream(self.rng)
        self._dirty = True
        #: Tournaments whose drawn members all had a NaN objective (a uniform sample instead).
        self.n_nan_tournaments = 0

    # ------------------------------------------------------------------ objectives
    def objective_names(self, value: TrialValue) -> tuple[str, ...]:
        """The metrics optimised besides the run's objective (``objectives``, or every
        metric the runner told, in its order; none when the run records none, and the
        search is then single-objective)."""
        if self._names is None:
            names = tuple(value.metrics) if self.objectives is None else tuple(self.objectives)
            missing = [n for n in names if n not in value.metrics]
            if missing:
                raise ValueError(f"objectives {missing} are not among the metrics the runner "
                                 f"records ({sorted(value.metrics)}); record them with "
                                 f"record_metrics / --record-metric")
            self._names = names
        return self._names

    def vector(self, value: TrialValue) -> tuple[float, ...]:
        """``(1 + m)`` the told objective and metrics, each turned to be minimised."""
        names = self.objective_names(value)
        obj = -value.objective if value.maximize else value.objective
        rest = [-float(value.metrics[n]) if value.directions.get(n, False)
                else float(value.metrics[n]) for n in names]
        return (float(obj), *rest)

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> TrialInfo:
        if self._n_asked < self.population_size or not self._archs:
            arch = self.space.sample(self.rng)
        else:
            n = len(self._archs)
            below = self._uniform.below
            picks = [below(n) for _ in range(self.sample_size)]  # with replacement, as RE
            parent = self._select(picks)
            if parent is None:
                self.n_nan_tournaments += 1
                arch = self.space.sample(self.rng)
            else:
                arch = self._mutate(self._archs[parent])
        return TrialInfo(arch, None, self._next_id())

    def _mutate(self, parent: Any) -> Any:
        if self.mutation == "space":
            return self.space.mutate(parent, self.rng)
        nbrs = self.space.neighbours(parent)
        return nbrs[int(self.rng.integers(len(nbrs)))]

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        self._archs.append(trial.arch)
        self._F.append(self.vector(value))
        self._feasible.append(bool(value.feasible))
        if len(self._archs) > self.population_size:  # aging: the oldest leaves
            self._archs.popleft()
            self._F.popleft()
            self._feasible.popleft()
        self._dirty = True

    def _select(self, picks: list[int]) -> int | None:
        raise NotImplementedError

    @property
    def population(self) -> tuple[tuple[Any, np.ndarray, bool], ...]:
        """The population, oldest first: ``(arch, minimised objective vector, feasible)``."""
        return tuple(zip(self._archs, (np.array(f) for f in self._F), self._feasible))


def _constrained_ranks(F: Sequence[tuple[float, ...]], feasible: Sequence[bool]) -> list[int]:
    """Non-domination ranks (0 = first front) under Deb's constrained domination (Deb et al.
    2002, Sec. V): a feasible member dominates every infeasible one; two of the same
    feasibility compare by Pareto dominance (two infeasible ones are not compared by their
    violation, which the runner does not tell: a named deviation).  NSGA-II's fast
    non-dominated sort (Sec. III-A); NaN rows: -1."""
    n = len(F)
    ok = [not any(math.isnan(x) for x in f) for f in F]
    idx = [i for i in range(n) if ok[i]]

    def dom(i: int, j: int) -> bool:
        if feasible[i] != feasible[j]:
            return bool(feasible[i])
        better = False
        for x, y in zip(F[i], F[j]):
            if x > y:
                return False
            if x < y:
                better = True
        return better

    beats: dict[int, list[int]] = {i: [] for i in idx}
    count = dict.fromkeys(idx, 0)
    for a, i in enumerate(idx):
        for j in idx[a + 1:]:
            if dom(i, j):
                beats[i].append(j)
                count[j] += 1
            elif dom(j, i):
                beats[j].append(i)
                count[i] += 1
    ranks = [-1] * n
    front = [i for i in idx if count[i] == 0]
    r = 0
    while front:
        nxt = []
        for i in front:
            ranks[i] = r
            for j in beats[i]:
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(j)
        front = sorted(nxt)
        r += 1
    return ranks


def _crowding(F: Sequence[tuple[float, ...]], members: list[int]) -> dict[int, float]:
    """NSGA-II crowding distance of ``members`` (one front; Deb et al. 2002, Sec. III-B;
    :func:`benchbench.pareto.crowding_distance` in plain Python, same tie-break)."""
    if len(members) <= 2:
        return dict.fromkeys(members, math.inf)
    d = dict.fromkeys(members, 0.0)
    for j in range(len(F[members[0]])):
        order = sorted(members, key=lambda i: F[i][j])  # stable: position order among ties
        lo, hi = F[order[0]][j], F[order[-1]][j]
        d[order[0]] = d[order[-1]] = math.inf
        span = hi - lo
        if span > 0:
            for t in range(1, len(order) - 1):
                d[order[t]] += (F[order[t + 1]][j] - F[order[t - 1]][j]) / span
    return d


class ParetoRE(_MOEvolution):
    """Multi-objective regularized evolution with NSGA-II's crowded-comparison selection.

    The loop is regularized evolution (Real et al., AAAI 2019) as
    :class:`~algorithms.RegularizedEvolution` runs it (first ``population_size`` asks uniform,
    then a tournament of ``sample_size`` members drawn with replacement, the child a mutation
    of the winner, every told trial joins and the oldest member leaves), made multi-objective
    as Syne Tune's ``MultiObjectiveRegularizedEvolution`` does (syne-tune/syne-tune,
    ``syne_tune/optimizer/schedulers/searchers/multi_objective_regularized_evolution.py``;
    Salinas, Perrone, Archambeau & Cruchant, "A multi-objective perspective on jointly tuning
    hardware and hyperparameters", ICLR 2021 NAS workshop): members are ranked by
    non-dominated sorting over the current population, and the tournament picks by that rank.
    Within a rank, the winner is the member with the larger NSGA-II crowding distance (Deb,
    Pratap, Agarwal & Meyarivan, "A fast and elitist multiobjective genetic algorithm:
    NSGA-II", IEEE TEC 6(2), 2002: the crowded-comparison operator of Sec. III-C, with the
    fast non-dominated sort of Sec. III-A and the crowding distance of Sec. III-B computed per
    front), where Syne Tune breaks ties by an epsilon-net (a named deviation: NSGA-II's
    operator, as the issue asks); remaining ties go to the first drawn.

    Objectives: the run's objective and the metrics in ``objectives`` (default: every metric
    the runner tells, i.e. ``record_metrics`` and the constrained metrics), each in its own
    direction (``TrialValue.maximize`` / ``TrialValue.directions``).  A run that records no
    metric leaves the objective alone: the search is then single-objective (rank = order
    by objective), so run it with ``record_metrics`` (``--record-metric params``).  A member
    with a NaN objective never wins; a tournament of NaN members only yields a uniform
    sample (counted in :attr:`n_nan_tournaments`).

    Constraints: Deb et al. 2002's constrained domination (Sec. V): every feasible member
    ranks before every infeasible one; infeasible members are ranked among themselves by
    their objectives (the runner does not tell the violation: a named deviation).

    Defaults: NB201's R-EA population 10 and tournament 3 (so that ``re`` and ``mo-re``
    differ only in how the parent is chosen); Syne Tune's defaults are 100 and 10.

    Args:
        objectives: metric names optimised besides the run's objective (``None``: every
            recorded metric).
        population_size, sample_size, mutation: as :class:`~algorithms.RegularizedEvolution`.
    """

    name: ClassVar[str] = "mo-re"

    def _rank_crowd(self) -> tuple[list[int], list[float]]:
        if self._dirty:
            F = list(self._F)
            ranks = _constrained_ranks(F, list(self._feasible))
            crowd = [0.0] * len(ranks)
            fronts: dict[int, list[int]] = {}
            for i, r in enumerate(ranks):
                if r >= 0:
                    fronts.setdefault(r, []).append(i)
            for members in fronts.values():
                for i, c in _crowding(F, members).items():
                    crowd[i] = c
            self._ranks, self._crowd = ranks, crowd
            self._dirty = False
        return self._ranks, self._crowd

    def _select(self, picks: list[int]) -> int | None:
        ranks, crowd = self._rank_crowd()
        best: int | None = None
        for i in picks:
            if ranks[i] < 0:
                continue
            if best is None or ranks[i] < ranks[best] or (ranks[i] == ranks[best]
                                                          and crowd[i] > crowd[best]):
                best = i
        return best


class ParEGORE(_MOEvolution):
    """Regularized evolution on a random scalarisation per ask (ParEGO's, Knowles 2006).

    Knowles, "ParEGO: a hybrid algorithm with on-line landscape approximation for expensive
    multiobjective optimization problems", IEEE TEC 10(1), 2006, Sec. III-A: at every
    iteration a weight vector ``lambda`` is drawn uniformly from the ``C(s + k - 1, k - 1)``
    vectors whose components are in ``{0, 1/s, ..., 1}`` and sum to 1 (``s = 10`` for
    ``k = 2`` objectives, 11 vectors; ``s = 4`` for ``k = 3``, 15 vectors; here ``s`` is
    ``weight_steps``, default: the paper's for ``k = 2, 3``, 3 for more), the objectives are
    normalised to ``[0, 1]`` by the smallest and largest values seen so far, and each point
    gets the augmented Chebyshev function
    ``f_lambda(x) = max_j(lambda_j f_j(x)) + rho * sum_j lambda_j f_j(x)`` with ``rho = 0.05``.
    ParEGO then fits a Gaussian process to ``f_lambda`` and maximises expected improvement;
    here (the scalarisation baseline of the issue) the scalarised value chooses the parent of
    a regularized-evolution tournament instead: each ask draws its own ``lambda`` and the
    drawn member with the smallest ``f_lambda`` is the parent (first drawn among equals).
    Population, aging, mutation and the NaN rule are :class:`ParetoRE`'s; infeasible members
    lose to feasible ones (Deb's rules, as :func:`algorithms._common.feasible_key`).

    Normalisation uses every value told in the run (Knowles: "the known (or estimated)
    limits of the cost space"), not only the current population.

    Args:
        objectives, population_size, sample_size, mutation: as :class:`ParetoRE`.
        rho: the augmentation weight (Knowles: 0.05).
        weight_steps: ``s``; ``None``: 10 for two objectives, 4 for three, 3 for more.
    """

    name: ClassVar[str] = "parego-re"

    def __init__(self, *, objectives: Sequence[str] | None = None, population_size: int = 10,
                 sample_size: int = 3, mutation: str = "space", rho: float = 0.05,
                 weight_steps: int | None = None) -> None:
        super().__init__(objectives=objectives, population_size=population_size,
                         sample_size=sample_size, mutation=mutation)
        self.rho = rho
        self.weight_steps = weight_steps

    def _validate(self) -> None:
        super()._validate()
        check_param("rho", self.rho, kind=(int, float), low=0.0)
        if not math.isfinite(self.rho):
            raise ValueError(f"rho must be finite, got {self.rho!r}")
        if self.weight_steps is not None:
            check_param("weight_steps", self.weight_steps, kind=int, low=1)

    def _setup(self) -> None:
        super()._setup()
        self._lo: list[float] | None = None
        self._hi: list[float] | None = None
        self._weights: list[tuple[float, ...]] | None = None

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        super().tell(trial, value)
        f = self._F[-1]
        if not any(math.isnan(x) for x in f):
            self._lo = list(f) if self._lo is None else [min(a, b) for a, b in zip(self._lo, f)]
            self._hi = list(f) if self._hi is None else [max(a, b) for a, b in zip(self._hi, f)]

    def weight_vectors(self, k: int) -> np.ndarray:
        """``(C(s + k - 1, k - 1), k)``: ParEGO's weight vectors for ``k`` objectives."""
        s = self.weight_steps or (10 if k == 2 else 4 if k == 3 else 3)
        out: list[list[int]] = []

        def rec(prefix: list[int], left: int, slots: int) -> None:
            if slots == 1:
                out.append([*prefix, left])
                return
            for v in range(left + 1):
                rec([*prefix, v], left - v, slots - 1)

        rec([], s, k)
        return np.asarray(out, dtype=np.float64) / s

    def _select(self, picks: list[int]) -> int | None:
        k = len(self._F[picks[0]])
        if self._weights is None or len(self._weights[0]) != k:
            self._weights = [tuple(w) for w in self.weight_vectors(k).tolist()]
        lam = self._weights[self._uniform.below(len(self._weights))]
        lo = self._lo if self._lo is not None else [0.0] * k
        hi = self._hi if self._hi is not None else [1.0] * k
        span = [h - low if h > low else 1.0 for low, h in zip(lo, hi)]
        best: int | None = None
        best_key = (-1, -math.inf)
        for i in picks:
            f = self._F[i]
            g = [w * (x - low) / s for w, x, low, s in zip(lam, f, lo, span)]
            scal = max(g) + self.rho * sum(g)
            if math.isnan(scal):
                continue
            key = (1 if self._feasible[i] else 0, -scal)
            if best is None or key > best_key:
                best, best_key = i, key
        return best
