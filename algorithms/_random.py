"""Random search: uniform samples of the space."""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms._common import sample_unseen
from benchbench.optimizer import Optimizer, check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["RandomSearch"]


class RandomSearch(Optimizer):
    """Uniform random search (NB201's ``RANDOM``; Li & Talwalkar 2019 baseline).

    Each :meth:`ask` returns ``space.sample(rng)``, independent of what was told.

    Args:
        dedup: never ask an architecture twice in one run (sampling without replacement);
            a run that asks more cells than the space holds then raises
            :class:`~algorithms.SearchExhaustedError`.  ``False`` (default, as NB201):
            samples are independent, so a cell can be asked again.
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
