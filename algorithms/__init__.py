"""Search algorithms.

Black-box optimizers (ask / tell, :class:`benchbench.optimizer.Optimizer`) for any
:class:`~benchbench.spaces.SearchSpace` offering ``sample`` / ``mutate`` / ``neighbours`` /
``as_categorical`` / ``from_categorical``:

- ``"rs"``: :class:`RandomSearch`, uniform samples (NB201's ``RANDOM``);
- ``"re"``: :class:`RegularizedEvolution`, Real et al. 2019 as NB201's ``R-EA``
  (population 10, tournament 3, aging);
- ``"reinforce"``: :class:`Reinforce`, Williams 1992 as NB201's ``REINFORCE``
  (factorised softmax policy, Adam with learning rate 0.001, EMA baseline 0.9);
- ``"ls"``: :class:`LocalSearch`, White et al. 2020 (hill climbing over
  ``space.neighbours`` with restarts, never re-asking a cell);
- ``"naswot"``: :class:`NASWOT`, Mellor et al. 2021 (best of N cells by a zero-cost proxy,
  training-free: told values are ignored);
- ``"re-zc"``: :class:`ZeroCostWarmStartRE`, Abdelfattah et al. 2021 (regularized evolution
  whose first population is the proxy's best of a warm-up pool).

The proxy-guided two read precomputed scores (``scores=`` a directory written by
``benchbench proxies score`` or :func:`algorithms.proxies.import_naslib_scores`); with
``scores=None`` they score live with torch (about a second per cell).

Use :func:`get_optimizer` (``get_optimizer("re", population_size=20)``) or the classes.
"""

from __future__ import annotations

import inspect
from typing import Any

from benchbench.api import unknown
from benchbench.optimizer import Optimizer

from algorithms._common import SearchExhaustedError
from algorithms._evolution import RegularizedEvolution
from algorithms._local_search import LocalSearch
from algorithms._naswot import NASWOT, ZeroCostWarmStartRE
from algorithms._random import RandomSearch
from algorithms._reinforce import Reinforce

__all__ = [
    "NASWOT",
    "OPTIMIZERS",
    "LocalSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "SearchExhaustedError",
    "ZeroCostWarmStartRE",
    "get_optimizer",
]

#: Every black-box optimizer by its short name.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (RandomSearch, RegularizedEvolution, Reinforce, LocalSearch,
                              NASWOT, ZeroCostWarmStartRE)
}


def get_optimizer(name: str, **params: Any) -> Optimizer:
    """A new optimizer ``name`` with hyper-parameters ``params`` (the rest at their defaults).

    Raises:
        UnknownNameError: ``name`` is not in :data:`OPTIMIZERS` (the message lists them).
        ValueError: an unknown hyper-parameter (the message lists the allowed ones) or a bad
            value (the message names it and what is allowed).
    """
    try:
        cls = OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise unknown("optimizer", name, sorted(OPTIMIZERS)) from None
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    bad = sorted(set(params) - set(allowed))
    if bad:
        raise ValueError(f"unknown hyper-parameter(s) {bad} for optimizer {name!r}; "
                         f"allowed: {allowed}")
    opt = cls(**params)
    opt._validate()
    return opt
