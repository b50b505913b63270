"""The optimizer contract: ask / tell, hyper-parameters in ``__init__``, RNG at setup.

An optimizer never sees test numbers: the runner tells it only :class:`TrialValue`
(the validation objective and the cost).  One-shot (weight-sharing) methods implement
:class:`OneShotSearch` instead; the runner queries the benchmark for each step's
discretised architecture.  Both are registered in :data:`benchbench.registry.OPTIMIZERS`
and built with :func:`make_optimizer`.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from benchbench.spaces import SearchSpace
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["Capabilities", "OneShotSearch", "OneShotStep", "Optimizer", "check_param",
           "make_optimizer"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an optimizer can use.

    Attributes:
        spaces: names of the search spaces it supports (``()`` = any space).
        multi_fidelity: chooses the fidelity of each trial itself (``TrialInfo.fidelity``);
            the runner refuses a trial fidelity from an optimizer that does not declare it.
        needs_enumerable: needs the space's indexable part (``size`` / ``index``).
    """

    spaces: tuple[str, ...] = ()
    multi_fidelity: bool = False
    needs_enumerable: bool = False


def check_param(name: str, value: Any, *, kind: type | tuple[type, ...],
                low: float | None = None, high: float | None = None,
                low_open: bool = False) -> None:
    """Raise a clear ``ValueError`` unless ``value`` is of ``kind`` within bounds."""
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ValueError(f"{name} must be {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be {_kind_name(kind)}, got {value!r}")
    num: Any = value
    if low is not None and (num <= low if low_open else num < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and num > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


class _Configurable:
    """Hyper-parameters stored unchanged in ``__init__`` (scikit-learn's convention)."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters exactly as given to ``__init__`` (defaults filled)."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters
                if p != "self" and sig.parameters[p].kind not in
                (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}

    def _validate(self) -> None:
        """Raise ``ValueError`` naming any bad hyper-parameter (called by ``setup``)."""

    def check_space(self, space: SearchSpace) -> None:
        """Raise ``ValueError`` if this optimizer cannot search ``space`` (or a
        hyper-parameter is bad)."""
        from benchbench.spaces import is_enumerable

        caps = self.capabilities
        if caps.spaces and space.name not in caps.spaces:
            raise ValueError(f"optimizer {self.name!r} supports spaces {caps.spaces}, "
                             f"not {space.name!r}")
        if caps.needs_enumerable and not is_enumerable(space):
            raise ValueError(f"optimizer {self.name!r} needs an enumerable space; "
                             f"{space.name!r} is not")
        self._validate()

    def _check_setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.check_space(space)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class Optimizer(_Configurable, abc.ABC):
    """Black-box search over a :class:`~benchbench.spaces.SearchSpace`.

    Subclasses store their hyper-parameters unchanged in ``__init__`` (keyword-only, all with
    defaults), validate them in :meth:`_validate`, and implement :meth:`_setup`, :meth:`ask`
    and :meth:`tell`.  All randomness comes from the generator given to :meth:`setup`.

    The runner's protocol, in order: :meth:`configure_fidelity` (multi-fidelity optimizers
    only), :meth:`setup`, then :meth:`ask` whenever a (simulated) worker is free and
    :meth:`tell` when an evaluation finishes.  With several simulated workers several asks
    may come before the first tell, and tells come in finish order, not ask order.

    Multi-fidelity optimizers (``Capabilities(multi_fidelity=True)``) choose each trial's
    epochs (``TrialInfo.fidelity``) among those given to :meth:`configure_fidelity`, may
    continue a paused training (``TrialInfo.resume``: only the extra epochs are charged),
    may answer :meth:`ask` with ``None`` ("nothing to start now: wait for a result"), and
    may restrict which evaluations can become the run's incumbent
    (:meth:`incumbent_candidate`, e.g. only full-fidelity ones).
    """

    #: Short name used by the runner and the CLI (``"rs"``, ``"re"``, ...).
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()

    space: SearchSpace
    rng: np.random.Generator

    def setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        """Prepare a fresh search on ``space``; must be called before :meth:`ask`."""
        self._check_setup(space, rng)
        self.space = space
        self.rng = rng
        self._n_asked = 0
        self._setup()

    def _setup(self) -> None:
        """Reset the optimizer's state (hook)."""

    def configure_fidelity(self, epochs: Sequence[int]) -> None:
        """Hook the runner calls before :meth:`setup` on a multi-fidelity optimizer: the
        epochs it may ask for (ascending; the last is the run's fidelity, the "full"
        training; NB201's 12-epoch table: ``1..12``).  Default: ignored."""

    def incumbent_candidate(self, trial: TrialInfo) -> bool:
        """Whether the evaluation of ``trial`` may become the run's incumbent (the best by
        the told objective among the candidates).  Default ``True`` (every evaluation); a
        multi-fidelity optimizer may answer ``False`` for low-fidelity trials, whose
        objective is not comparable with full trainings.  Never told test numbers either
        way: it only narrows the set the runner picks from."""
        return True

    def _next_id(self) -> int:
        self._n_asked += 1
        return self._n_asked - 1

    @abc.abstractmethod
    def ask(self) -> TrialInfo | None:
        """The next trial to evaluate, or ``None``: nothing to start now (a synchronous
        schedule waiting for a rung to finish; allowed for multi-fidelity optimizers).  The
        runner then waits for the next running evaluation to finish, tells it and asks
        again; if nothing is running, the search is over and the run ends."""

    @abc.abstractmethod
    def tell(self, trial: TrialInfo, value: TrialValue) -> None: ...


@dataclass(frozen=True, slots=True)
class OneShotStep:
    """One step of a one-shot search.

    Attributes:
        arch: the discretised architecture after the step (an arch record of the space).
        cost_s: seconds the step cost (measured search time, not simulated).
        info: diagnostics stored with the run (architecture-weight entropy, ...).
    """

    arch: Any
    cost_s: float
    info: Mapping[str, Any] = field(default_factory=dict)


class OneShotSearch(_Configurable, abc.ABC):
    """Weight-sharing search (DARTS, GDAS, ...).

    :meth:`steps` yields a :class:`OneShotStep` after each search step (epoch): the
    discretised architecture and what the step cost.  The runner looks each one up in the
    benchmark and records it like an evaluation (the optimizer is never told table values).
    """

    name: ClassVar[str]

    def setup(self, space: SearchSpace, rng: np.random.Generator) -> None:
        """Prepare a fresh search on ``space``; must be called before :meth:`steps`."""
        self._check_setup(space, rng)
        self.space = space
        self.rng = rng

    def set_dataset(self, dataset: str) -> None:
        """Hook: the runner calls it after :meth:`setup` and before :meth:`steps` with the
        run's dataset name, so that a search that trains a supernet knows which images to
        load (its data folder and device are hyper-parameters).  It is given nothing else
        of the benchmark.  Default: ignored."""

    @abc.abstractmethod
    def steps(self) -> Iterator[OneShotStep]:
        """The search, one step at a time (a finite iterator)."""


def make_optimizer(name: str, **params: Any) -> Optimizer | OneShotSearch:
    """A new optimizer registered as ``name`` (or at the import path ``name``) with
    hyper-parameters ``params`` (the rest at their defaults), validated.

    Raises:
        RegistryError: unknown name (the message lists the registered ones).
        ValueError: an unknown hyper-parameter (the message lists the allowed ones) or a bad
            value (the message names it and what is allowed).
    """
    from benchbench.registry import OPTIMIZERS

    cls = OPTIMIZERS.load(name)
    if not (inspect.isclass(cls) and issubclass(cls, (Optimizer, OneShotSearch))):
        raise ValueError(f"optimizer {name!r} is {cls!r}, not an Optimizer or OneShotSearch "
                         f"subclass")
    sig = inspect.signature(cls.__init__)
    allowed = [p for p in sig.parameters if p != "self"]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    bad = sorted(set(params) - set(allowed))
    if bad and not takes_any:
        raise ValueError(f"unknown hyper-parameter(s) {bad} for optimizer {name!r}; "
                         f"allowed: {allowed}")
    try:
        opt = cls(**params)
    except TypeError as e:
        raise ValueError(f"cannot build optimizer {name!r} with {params}: {e}") from None
    opt._validate()
    return opt
