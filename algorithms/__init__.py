"""Search algorithms.

Black-box optimizers (ask / tell, :class:`benchbench.optimizer.Optimizer`) for any
:class:`~benchbench.spaces.SearchSpace` offering ``sample`` / ``mutate`` / ``neighbours`` /
``as_categorical`` / ``from_categorical``:

- ``"rs"``: :class:`RandomSearch`, uniform samples (NATS-Bench's / NB201's ``RANDOM``);
- ``"re"``: :class:`RegularizedEvolution`, Real et al. 2019 as NB201's / NATS-Bench's
  ``R-EA`` (population 10, tournament 3 with replacement, aging, NB201's node-then-input
  mutation; ``mutation="uniform-neighbour"`` for a uniform neighbour);
- ``"reinforce"``: :class:`Reinforce`, Williams 1992 as NATS-Bench's ``REINFORCE``
  (factorised softmax policy, Adam with learning rate 0.01, EMA baseline 0.9; NB201's
  README command uses 0.5);
- ``"ls"``: :class:`LocalSearch`, White et al. 2020 as naszilla's ``local_search`` (start
  from the best of 10 random cells, first improvement over the shuffled neighbours,
  restart at a local optimum, never re-asking a cell);
- ``"naswot"``: :class:`NASWOT`, Mellor et al. 2021 (best of N cells by a zero-cost proxy,
  training-free: told values are ignored);
- ``"re-zc"``: :class:`ZeroCostWarmStartRE`, Abdelfattah et al. 2021 (regularized evolution
  whose first population is the proxy's best of a warm-up pool);
- ``"mo-re"``: :class:`ParetoRE`, multi-objective regularized evolution (Syne Tune's MO-RE,
  Salinas et al. 2021) with NSGA-II's non-dominated sorting and crowding distance (Deb et
  al. 2002) choosing the parent; objectives: the run's objective and its ``record_metrics``;
- ``"parego-re"``: :class:`ParEGORE`, regularized evolution on ParEGO's random augmented
  Chebyshev scalarisation per ask (Knowles 2006), the scalarisation baseline.

With ``constraints``, RS, RE, LS, REINFORCE and the multi-objective methods rank every
infeasible evaluation below every feasible one (each class's docstring gives its rule);
REINFORCE also offers MnasNet's soft reward (``reward="mnas"``, Tan et al. 2019).

Multi-fidelity (``Capabilities(multi_fidelity=True)``: they choose each trial's epochs, pause
and resume trainings; see :mod:`algorithms._multifidelity`):

- ``"sh"``: :class:`SuccessiveHalving` (Jamieson & Talwalkar 2016, as Hyperband's most
  exploratory bracket, repeated);
- ``"hyperband"``: :class:`Hyperband` (Li et al., JMLR 2018, Algorithm 1, ``eta=3``);
- ``"bohb"``: :class:`BOHB` (Falkner et al., ICML 2018, as HpBandSter computes it);
- ``"asha"``: :class:`ASHA` (Li et al., MLSys 2020, Algorithm 2);
- ``"lcstop"``: :class:`LearningCurveStopping` (random cells stopped when their learning
  curve falls below the incumbent's, or Vizier's median rule).

The proxy-guided two read precomputed scores (``scores=`` a directory written by
``benchbench proxies score`` or :func:`algorithms.proxies.import_naslib_scores`); with
``scores=None`` they score live with torch (about a second per cell).

Each is registered by its short name in :data:`benchbench.registry.OPTIMIZERS`.  Use
:func:`get_optimizer` (``get_optimizer("re", population_size=20)``; a registered name or an
import path ``"mypkg.mod:MyOptimizer"``) or the classes.
"""

from __future__ import annotations

from typing import Any

from algorithms._bohb import BOHB
from algorithms._common import SearchExhaustedError
from algorithms._evolution import RegularizedEvolution
from algorithms._local_search import LocalSearch
from algorithms._multifidelity import (
    ASHA,
    Hyperband,
    LearningCurveStopping,
    SuccessiveHalving,
)
from algorithms._multiobjective import ParEGORE, ParetoRE
from algorithms._naswot import NASWOT, ZeroCostWarmStartRE
from algorithms._random import RandomSearch
from algorithms._reinforce import Reinforce
from benchbench.optimizer import OneShotSearch, Optimizer, make_optimizer

__all__ = [
    "ASHA",
    "BOHB",
    "Hyperband",
    "LearningCurveStopping",
    "SuccessiveHalving",
    "NASWOT",
    "OPTIMIZERS",
    "ParEGORE",
    "ParetoRE",
    "LocalSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "SearchExhaustedError",
    "ZeroCostWarmStartRE",
    "get_optimizer",
]

#: The built-in black-box optimizers by short name (all of them are in
#: :data:`benchbench.registry.OPTIMIZERS`, with any a third party registered).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (RandomSearch, RegularizedEvolution, Reinforce, LocalSearch,
                              NASWOT, ZeroCostWarmStartRE, ParetoRE, ParEGORE,
                              SuccessiveHalving, Hyperband, BOHB, ASHA, LearningCurveStopping)
}


def get_optimizer(name: str, **params: Any) -> Optimizer | OneShotSearch:
    """A new optimizer ``name`` with hyper-parameters ``params`` (the rest at their defaults);
    see :func:`benchbench.optimizer.make_optimizer`."""
    return make_optimizer(name, **params)
