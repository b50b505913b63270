"""The optimizer contract: ask / tell, hyper-parameters in ``__init__``, RNG at setup.

An optimizer never sees test numbers: the runner tells it only :class:`TrialValue`
(the validation objective and the cost).
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from benchbench.spaces import SearchSpace
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["Capabilities", "OneShotSearch", "Optimizer", "check_param"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an optimizer can use.

    Attributes:
        spaces: names of the search spaces it supports (``()`` = any space).
        multi_fidelity: chooses the fidelity of each trial itself.
    """

    spaces: tuple[str, ...] = ()
    multi_fidelity: bool = False


def check_param(name: str, value: Any, *, kind: type | tuple[type, ...],
                low: float | None = None, high: float | None = None,
                low_open: bool = False) -> None:
    """Raise a clear ``ValueError`` unless ``value`` is of ``kind`` within bounds."""
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ValueError(f"{name} must be {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be {_kind_name(kind)}, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


class Optimizer(abc.ABC):
    """Black-box search over a :class:`~benchbench.spaces.SearchSpace`.

    Subclasses store their hyper-parameters unchanged in ``__init__`` (keyword-only, all with
    defaults), validate them in :meth:`_validate`, and implement :meth:`_setup`, :meth:`ask`
    and :meth:`tell`.  All randomness comes from the generator given to :meth:`setup`.
    """

    #: Short name used by the runner and the CLI (``"rs"``, ``"re"``, ...).
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()

    space: SearchSpace
    rng: np.random.Generator

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters exactly as given to ``__init__`` (defaults filled)."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def _validate(self) -> None:
        """Raise ``ValueError`` naming any bad hyper-parameter (called by :meth:`setup`)."""

    def setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        """Prepare a fresh search on ``space``; must be called before :meth:`ask`."""
        caps = self.capabilities
        if caps.spaces and space.name not in caps.spaces:
            raise ValueError(f"optimizer {self.name!r} supports spaces {caps.spaces}, "
                             f"not {space.name!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self._validate()
        self.space = space
        self.rng = rng
        self._n_asked = 0
        self._setup()

    def _setup(self) -> None:
        """Reset the optimizer's state (hook)."""

    def _next_id(self) -> int:
        self._n_asked += 1
        return self._n_asked - 1

    @abc.abstractmethod
    def ask(self) -> TrialInfo: ...

    @abc.abstractmethod
    def tell(self, trial: TrialInfo, value: TrialValue) -> None: ...

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class OneShotSearch(abc.ABC):
    """Weight-sharing search (DARTS, GDAS, ...) on a tabular space.

    :meth:`steps` yields the discretised architecture after each search step together with
    the simulated seconds the step cost; the runner queries the benchmark for each one.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def steps(self, space: SearchSpace, rng: np.random.Generator) -> Iterator[tuple[Any, float]]:
        ...
