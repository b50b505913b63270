"""Random search: uniform samples of the space."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms._common import sample_unseen
from benchbench.optimizer import Optimizer, check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["RandomSearch"]


class RandomSearch(Optimizer):
    """Uniform random search (Li & Talwalkar 2019 baseline; NB201's / NATS-Bench's
    ``RANDOM``).

    Each :meth:`ask` returns ``space.sample(rng)`` (NB201: an op drawn uniformly for each
    edge), independent of what was told.

    Reference: NATS-Bench (Dong et al., TPAMI 2021), ``exps/NATS-algos/random_wo_share.py``
    of D-X-Y/AutoDL-Projects (``random_topology_func``: ``random.choice(op_names)`` per
    edge, a fresh draw every step, repeats allowed), as NB201's ``exps/algos/RANDOM.py``
    (``scripts-search/algos/Random.sh``).  The reported cell is the best evaluated by
    validation accuracy (the runner's incumbent), as there.

    Constrained search (a run with ``constraints``): random search ignores what it is told,
    so the constraint acts through the runner only: an infeasible evaluation is recorded
    (``evals.csv``, ``n_infeasible``) but never becomes the incumbent, i.e. infeasible cells
    rank below every feasible one (as in every benchbench optimizer).  With
    ``record_metrics`` the run records every objective of every sample, from which
    :mod:`results._pareto` computes random search's Pareto front.

    Args:
        dedup: never ask an architecture twice in one run (sampling without replacement, as
            naszilla's ``random_search`` does through ``generate_random_dataset``, White et
            al. 2020); a run that asks more cells than the space holds then raises
            :class:`~algorithms.SearchExhaustedError`.  ``False`` (default, the NATS-Bench /
            NB201 scripts): samples are independent, so a cell can be asked again.
    """

    name: ClassVar[str] = "rs"

    def __init__(self, *, dedup: bool = False) -> None:
        self.dedup = dedup

    def _validate(self) -> None:
        check_param("dedup", self.dedup, kind=bool)

    def _setup(self) -> None:
        self._asked: set[Any] = set()

    def ask(self) -> TrialInfo:
        if self.dedup:
            arch = sample_unseen(self.space, self.rng, self._asked)
            self._asked.add(arch)
        else:
            arch = self.space.sample(self.rng)
        return TrialInfo(arch, None, self._next_id())

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        """Random search ignores what it is told."""
