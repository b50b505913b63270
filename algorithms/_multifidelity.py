"""Multi-fidelity search: successive halving, Hyperband, ASHA and learning-curve early stopping.

Budgets are training epochs.  The runner tells a multi-fidelity optimizer the epochs it may ask
for (:meth:`benchbench.optimizer.Optimizer.configure_fidelity`: the epochs at which the
objective is recorded, up to the run's fidelity); ``min_budget`` / ``max_budget`` default to
the first and last of them.

**Rungs.**  As HpBandSter (``hpbandster/optimizers/bohb.py`` / ``hyperband.py``, the official
BOHB code of Falkner et al. 2018): ``K = floor(log_eta(max_budget / min_budget))`` and the
``K + 1`` budgets ``max_budget * eta**-(K - k)``, ``k = 0..K`` (so the top rung is the full
training).  HpBandSter computes ``K`` as ``-int(log(min/max) / log(eta))``, which loses a rung
when the ratio is an exact power of ``eta`` but the float logarithm falls just short (e.g.
1 / 243 at ``eta=3``); here ``K`` is computed with a 1e-9 tolerance.  A budget is trained for
the largest recorded epoch ``<=`` the budget (NATS-Bench's ``exps/NATS-algos/bohb.py``:
``simulate_train_eval(..., iepoch=int(budget) - 1, hp='12')``), so on NB201's 12-epoch
schedule with ``eta=3`` the rungs are 12/9 -> 1, 4 and 12 epochs.

**Pause and resume.**  A promoted configuration continues its training (``resume=True``: the
runner charges only the extra epochs, from the cell's highest finished epoch in this run);
``resume=False`` retrains it from scratch at the higher budget and pays the full cost, as
HpBandSter's workers and NATS-Bench's ``bohb.py`` (``simulate_train_eval`` charges the whole
training of each query) do.  Configurations entering the bottom rung are always trained from
scratch.

**Incumbent.**  ``incumbent="top"`` (default): only evaluations at the top rung (the full
training) may become the run's incumbent, as HpBandSter's ``Result.get_incumbent_id`` ("the
configuration with the smallest loss among all runs on the maximum budget") and Li et al.
2018 (the best configuration trained with ``R``); ``"any"``: every evaluation, at whatever
budget, as NATS-Bench's ``bohb.py`` (``max(trajectory)`` over every query).

**Parallel workers.**  Synchronous schedules (SH, Hyperband, BOHB) follow HpBandSter's
``Master.run``: a free worker takes the next job of the oldest unfinished bracket; when no
bracket has one (they all wait for running jobs to finish a rung), a new bracket starts (up
to ``max_brackets``), else :meth:`ask` returns ``None`` (wait).  With one worker this is the
sequential schedule exactly.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from algorithms._common import worst_if_nan
from benchbench.optimizer import Capabilities, Optimizer, check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["ASHA", "BRACKET_RULES", "BUDGET_MODES", "INCUMBENT_RULES", "STOP_RULES",
           "Hyperband", "LearningCurveStopping", "SuccessiveHalving", "bracket_schedule",
           "hyperband_schedule", "rung_budgets", "snap_to_epochs"]

#: How many configurations each Hyperband bracket starts with (see :func:`bracket_schedule`).
BRACKET_RULES = ("li2018", "hpbandster")
#: How a budget becomes the epochs queried: ``"floor"`` the largest recorded epoch <= the
#: budget (NATS-Bench's ``int(budget)``); ``"ignore"`` every trial at the run's fidelity
#: (NB201's ``exps/algos/BOHB.py``, whose worker ignores the budget).
BUDGET_MODES = ("floor", "ignore")
#: Which evaluations may become the incumbent (see the module docstring).
INCUMBENT_RULES = ("top", "any")
#: :class:`LearningCurveStopping` rules.
STOP_RULES = ("incumbent", "median")
_EPS = 1e-9


def rung_budgets(min_budget: float, max_budget: float, eta: float) -> np.ndarray:
    """HpBandSter's geometric budgets: ``max_budget * eta**-(K - k)`` for ``k = 0..K``,
    ``K = floor(log_eta(max_budget / min_budget))`` (computed with a 1e-9 tolerance).

    >>> rung_budgets(1, 81, 3).tolist()
    [1.0, 3.0, 9.0, 27.0, 81.0]
    """
    if not (0 < min_budget <= max_budget):
        raise ValueError(f"need 0 < min_budget <= max_budget, got {min_budget!r} and "
                         f"{max_budget!r}")
    k = int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + _EPS))
    return max_budget * np.power(float(eta), -np.arange(k, -1, -1, dtype=float))


def snap_to_epochs(budgets: Sequence[float] | np.ndarray, epochs: Sequence[int]
                   ) -> tuple[int, ...]:
    """The largest recorded epoch ``<=`` each budget (with a 1e-9 tolerance), as NATS-Bench's
    ``iepoch=int(budget) - 1``; ``ValueError`` when a budget is below the first epoch or two
    budgets land on the same epoch."""
    ep = np.asarray(sorted(int(e) for e in epochs), dtype=float)
    out = []
    for b in budgets:
        i = int(np.searchsorted(ep, float(b) + _EPS, side="right")) - 1
        if i < 0:
            raise ValueError(f"budget {float(b):g} is below the first recorded epoch "
                             f"{int(ep[0])}; raise min_budget")
        out.append(int(ep[i]))
    if len(set(out)) != len(out):
        raise ValueError(f"budgets {[round(float(b), 4) for b in budgets]} give the epochs "
                         f"{out}: two rungs on the same epoch (recorded epochs "
                         f"{[int(e) for e in ep]}); use a larger eta or min_budget")
    return tuple(out)


def bracket_schedule(s: int, s_max: int, eta: float, rule: str = "li2018") -> list[int]:
    """Configurations per stage of Hyperband's bracket ``s`` (``s + 1`` stages, the last at
    the top rung).

    ``"li2018"``: Li et al. 2018 (JMLR, Algorithm 1): ``n = ceil((s_max + 1) / (s + 1) *
    eta**s)``, ``n_i = floor(n * eta**-i)``; ``"hpbandster"``: HpBandSter's
    ``get_next_iteration``: ``n0 = ceil(floor((s_max + 1) / (s + 1)) * eta**s)``,
    ``n_i = max(int(n0 * eta**-i), 1)``.

    >>> bracket_schedule(3, 4, 3)   # Li et al. 2018, Table 1 (R=81, eta=3), s=3
    [34, 11, 3, 1]
    """
    if rule == "li2018":
        n = math.ceil((s_max + 1) / (s + 1) * eta ** s - _EPS)
        return [int(math.floor(n * eta ** -i + _EPS)) for i in range(s + 1)]
    if rule == "hpbandster":
        n0 = math.ceil(math.floor((s_max + 1) / (s + 1)) * eta ** s - _EPS)
        return [max(int(n0 * eta ** -i + _EPS), 1) for i in range(s + 1)]
    raise ValueError(f"unknown bracket rule {rule!r}; allowed: {', '.join(BRACKET_RULES)}")


def hyperband_schedule(s_max: int, eta: float, rule: str = "li2018"
                       ) -> list[list[tuple[int, int]]]:
    """Every bracket ``s = s_max..0`` as ``[(n_i, rung index), ...]`` (rung ``s_max`` is the
    top); ``(n_i, budget)`` pairs of Li et al.'s Table 1 are ``(n_i, budgets[rung])``."""
    return [list(zip(bracket_schedule(s, s_max, eta, rule), range(s_max - s, s_max + 1)))
            for s in range(s_max, -1, -1)]


class _MultiFidelity(Optimizer):
    """Shared budget handling (see the module docstring)."""

    capabilities: ClassVar[Capabilities] = Capabilities(multi_fidelity=True)

    min_budget: float | None
    max_budget: float | None
    eta: float
    resume: bool
    incumbent: str
    budget_mode: str

    def _validate_common(self) -> None:
        for name in ("min_budget", "max_budget"):
            value = getattr(self, name)
            if value is not None:
                check_param(name, value, kind=(int, float), low=0, low_open=True)
        if (self.min_budget is not None and self.max_budget is not None
                and self.min_budget > self.max_budget):
            raise ValueError(f"min_budget={self.min_budget} must be <= max_budget="
                             f"{self.max_budget}")
        check_param("eta", self.eta, kind=(int, float), low=2)
        check_param("resume", self.resume, kind=bool)
        if self.incumbent not in INCUMBENT_RULES:
            raise ValueError(f"incumbent must be one of {INCUMBENT_RULES}, got "
                             f"{self.incumbent!r}")
        if self.budget_mode not in BUDGET_MODES:
            raise ValueError(f"budget_mode must be one of {BUDGET_MODES}, got "
                             f"{self.budget_mode!r}")

    def configure_fidelity(self, epochs: Sequence[int]) -> None:
        eps = tuple(int(e) for e in epochs)
        if not eps or list(eps) != sorted(set(eps)) or eps[0] < 1:
            raise ValueError(f"epochs must be distinct ascending ints >= 1, got {list(epochs)}")
        self._epochs: tuple[int, ...] | None = eps

    def _budget_epochs(self) -> tuple[np.ndarray, tuple[int, ...], int]:
        """(budgets, epochs of each rung, the run's fidelity)."""
        epochs = getattr(self, "_epochs", None)
        if epochs is None:
            if self.min_budget is None or self.max_budget is None:
                raise ValueError(f"optimizer {self.name!r} needs the fidelities: the runner "
                                 f"calls configure_fidelity(epochs); without it give "
                                 f"min_budget and max_budget")
            epochs = tuple(range(max(1, int(self.min_budget)), int(self.max_budget) + 1))
        lo = float(self.min_budget if self.min_budget is not None else epochs[0])
        hi = float(self.max_budget if self.max_budget is not None else epochs[-1])
        budgets = rung_budgets(lo, hi, self.eta)
        if self.budget_mode == "ignore":  # NB201's BOHB.py: every trial at the run's fidelity
            return budgets, (epochs[-1],) * len(budgets), epochs[-1]
        if hi > epochs[-1] + _EPS:
            raise ValueError(f"max_budget={hi:g} is above the run's fidelity ({epochs[-1]} "
                             f"epochs)")
        return budgets, snap_to_epochs(budgets, epochs), epochs[-1]

    def incumbent_candidate(self, trial: TrialInfo) -> bool:
        return self.incumbent == "any" or trial.fidelity == self._top_epoch

    def _trial(self, arch: Any, rung: int, promoted: bool) -> TrialInfo:
        fid = self._rung_epochs[rung]
        return TrialInfo(arch, fid, self._next_id(),
                         resume=promoted and self.resume and self.budget_mode == "floor")

    def _init_rungs(self) -> None:
        self._budgets, self._rung_epochs, self._fidelity = self._budget_epochs()
        self._top_epoch = self._rung_epochs[-1]

    @property
    def budgets(self) -> tuple[float, ...]:
        """The rung budgets (after :meth:`setup`)."""
        return tuple(float(b) for b in self._budgets)

    @property
    def rung_epochs(self) -> tuple[int, ...]:
        """The epochs each rung is trained to (after :meth:`setup`)."""
        return self._rung_epochs


@dataclass
class _Bracket:
    """One successive-halving run (HpBandSter's ``SuccessiveHalving`` iteration)."""

    index: int
    ns: list[int]          # configurations per stage
    rungs: list[int]       # rung index of each stage
    stage: int = 0
    added: int = 0         # configurations sampled into stage 0
    running: int = 0
    queue: deque[int] = field(default_factory=deque)    # config ids to start at this stage
    members: list[int] = field(default_factory=list)    # config ids of this stage, in order
    scores: dict[int, float] = field(default_factory=dict)
    finished: bool = False


class _BracketSchedule(_MultiFidelity):
    """HpBandSter's master loop over successive-halving brackets (SH, Hyperband, BOHB)."""

    bracket_rule: str
    max_brackets: int | None

    def _validate(self) -> None:
        self._validate_common()
        if self.bracket_rule not in BRACKET_RULES:
            raise ValueError(f"bracket_rule must be one of {BRACKET_RULES}, got "
                             f"{self.bracket_rule!r}")
        if self.max_brackets is not None:
            check_param("max_brackets", self.max_brackets, kind=int, low=1)

    def _setup(self) -> None:
        self._init_rungs()
        self.s_max = len(self._budgets) - 1
        self._brackets: list[_Bracket] = []
        self._active: list[_Bracket] = []
        self._archs: list[Any] = []          # config id -> arch
        self._pending: dict[int, tuple[_Bracket, int]] = {}  # trial id -> (bracket, config)

    def _bracket_s(self, i: int) -> int:
        """``s`` of the ``i``-th bracket: Hyperband's cycle ``s_max, ..., 0``."""
        return self.s_max - i % (self.s_max + 1)

    def _sample(self, rung: int) -> Any:
        """A new configuration for the bottom stage of a bracket at ``rung`` (hook)."""
        return self.space.sample(self.rng)

    def _new_bracket(self) -> _Bracket | None:
        i = len(self._brackets)
        if self.max_brackets is not None and i >= self.max_brackets:
            return None
        s = self._bracket_s(i)
        ns = bracket_schedule(s, self.s_max, self.eta, self.bracket_rule)
        b = _Bracket(i, ns, list(range(self.s_max - s, self.s_max + 1)))
        self._brackets.append(b)
        self._active.append(b)
        return b

    def _next_run(self, b: _Bracket) -> TrialInfo | None:
        """HpBandSter's ``BaseIteration.get_next_run``."""
        while not b.finished:
            rung = b.rungs[b.stage]
            if b.queue:
                cid = b.queue.popleft()
                return self._start(b, cid, rung, promoted=True)
            if b.stage == 0 and b.added < b.ns[0]:
                b.added += 1
                cid = len(self._archs)
                self._archs.append(self._sample(rung))
                b.members.append(cid)
                return self._start(b, cid, rung, promoted=False)
            if b.running:
                return None
            self._advance(b)
        return None

    def _start(self, b: _Bracket, cid: int, rung: int, promoted: bool) -> TrialInfo:
        b.running += 1
        trial = self._trial(self._archs[cid], rung, promoted)
        self._pending[trial.trial_id] = (b, cid)
        return trial

    def _advance(self, b: _Bracket) -> None:
        """Rank the finished stage and queue the best ``ns[stage + 1]`` (stable: ties go to
        the earlier sampled); the last stage finishes the bracket."""
        if b.stage + 1 >= len(b.ns):
            b.finished = True
            self._active.remove(b)
            return
        keep = b.ns[b.stage + 1]
        order = sorted(range(len(b.members)),
                       key=lambda i: (-worst_if_nan(b.scores[b.members[i]]), i))
        chosen = sorted(order[:keep])  # promoted in their original order, as HpBandSter
        b.members = [b.members[i] for i in chosen]
        b.queue = deque(b.members)
        b.scores = {}
        b.stage += 1

    def ask(self) -> TrialInfo | None:
        for b in self._active:
            trial = self._next_run(b)
            if trial is not None:
                return trial
        while True:  # every bracket waits (or none is left): start another one
            new = self._new_bracket()
            if new is None:
                return None
            trial = self._next_run(new)
            if trial is not None:
                return trial

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        b, cid = self._pending.pop(trial.trial_id)
        b.running -= 1
        b.scores[cid] = value.score()
        self._observe(trial, value, b.rungs[b.stage])

    def _observe(self, trial: TrialInfo, value: TrialValue, rung: int) -> None:
        """Every told result with its rung (hook for model-based samplers)."""


class SuccessiveHalving(_BracketSchedule):
    """Successive halving (Jamieson & Talwalkar, AISTATS 2016), as the most exploratory
    bracket of Hyperband (Li et al., JMLR 2018, Algorithm 1 with ``s = s_max``), repeated
    until the budget is spent.

    Each bracket starts ``eta**s_max`` (by ``bracket_rule``) uniformly sampled cells at the
    smallest budget, keeps the best ``1/eta`` by the told objective (NaN counts as worst;
    ties: the earlier sampled) and trains them at the next budget, up to ``max_budget``.  A
    rung is ranked when every one of its trainings is back (synchronous).

    Args:
        min_budget, max_budget: epochs (``None``: the first / last epoch the runner offers).
        eta: the halving rate (Li et al.: 3; HpBandSter's default 3).
        bracket: which Hyperband bracket ``s`` to repeat (``None``: ``s_max``, the most
            exploratory; ``0`` is random search at the full budget).
        bracket_rule: :data:`BRACKET_RULES` (``"li2018"``: Li et al.'s ``n``).
        resume: continue promoted trainings (pause and resume; ``False``: retrain from
            scratch at the higher budget, as HpBandSter's workers do).
        incumbent: :data:`INCUMBENT_RULES`.
        budget_mode: :data:`BUDGET_MODES`.
        max_brackets: brackets to run at most (HpBandSter's ``n_iterations``); ``None``: as
            many as the run's budget allows.  When all are done :meth:`ask` returns ``None``
            and the run ends.
    """

    name: ClassVar[str] = "sh"

    def __init__(self, *, min_budget: float | None = None, max_budget: float | None = None,
                 eta: float = 3, bracket: int | None = None, bracket_rule: str = "li2018",
                 resume: bool = True, incumbent: str = "top", budget_mode: str = "floor",
                 max_brackets: int | None = None) -> None:
        self.min_budget = min_budget
        self.max_budget = max_budget
        self.eta = eta
        self.bracket = bracket
        self.bracket_rule = bracket_rule
        self.resume = resume
        self.incumbent = incumbent
        self.budget_mode = budget_mode
        self.max_brackets = max_brackets

    def _validate(self) -> None:
        super()._validate()
        if self.bracket is not None:
            check_param("bracket", self.bracket, kind=int, low=0)

    def _setup(self) -> None:
        super()._setup()
        if self.bracket is not None and self.bracket > self.s_max:
            raise ValueError(f"bracket={self.bracket} is above s_max={self.s_max} (rungs "
                             f"{list(self._rung_epochs)} epochs)")

    def _bracket_s(self, i: int) -> int:
        return self.s_max if self.bracket is None else self.bracket


class Hyperband(_BracketSchedule):
    """Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, JMLR 2018, Algorithm 1):
    brackets ``s = s_max, s_max - 1, ..., 0`` in turn, each a successive halving that
    starts ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` uniformly sampled cells at budget
    ``max_budget * eta**-s`` and keeps the best ``1/eta`` at each rung; repeated until the
    run's budget is spent.  ``eta=3`` as the paper's experiments and HpBandSter.

    With parallel workers, brackets overlap as in HpBandSter's ``Master.run`` (a new bracket
    starts when every running one waits for results).  Arguments as
    :class:`SuccessiveHalving` (``bracket`` is not used).
    """

    name: ClassVar[str] = "hyperband"

    def __init__(self, *, min_budget: float | None = None, max_budget: float | None = None,
                 eta: float = 3, bracket_rule: str = "li2018", resume: bool = True,
                 incumbent: str = "top", budget_mode: str = "floor",
                 max_brackets: int | None = None) -> None:
        self.min_budget = min_budget
        self.max_budget = max_budget
        self.eta = eta
        self.bracket_rule = bracket_rule
        self.resume = resume
        self.incumbent = incumbent
        self.budget_mode = budget_mode
        self.max_brackets = max_brackets


@dataclass
class _Rung:
    """ASHA's record of one rung: the completed configurations as keys ``(-score, seq,
    config)`` (best first, ties by completion order), the not yet promoted ones and the
    promoted ones in two sorted lists."""

    waiting: list[tuple[float, int, int]] = field(default_factory=list)
    promoted: list[tuple[float, int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.waiting) + len(self.promoted)


class ASHA(_MultiFidelity):
    """Asynchronous successive halving (Li, Jamieson, Rostamizadeh, Gonina, Ben-Tzur, Hardt,
    Recht & Talwalkar, MLSys 2020, Algorithm 2).

    ``get_job``: for the rungs ``k`` from the second highest down to the bottom, the
    candidates are the best ``floor(|rung k| / eta)`` configurations *completed* at rung
    ``k``; the best of them not yet promoted is trained at rung ``k + 1`` (resumed).  If no
    rung has one, a new uniformly sampled configuration starts at the bottom rung.  Never
    waits: every free worker gets a job.  Ties in the told objective go to the earlier
    completed; NaN counts as worst.

    Rungs as the module docstring (the top rung is ``max_budget``; the paper writes rung
    ``k``'s resource as ``r * eta**(k + s)`` with ``R = r * eta**K``, the same budgets when
    ``max_budget / min_budget`` is a power of ``eta``).

    Args:
        min_budget, max_budget, eta, resume, incumbent, budget_mode: as
            :class:`SuccessiveHalving` (``eta=3``: the paper's experiments use 3 or 4).
        early_stopping_rate: the paper's ``s`` (minimum early-stopping rate): the bottom rung
            is the ``s``-th budget (``0``: ``min_budget``).
    """

    name: ClassVar[str] = "asha"

    def __init__(self, *, min_budget: float | None = None, max_budget: float | None = None,
                 eta: float = 3, early_stopping_rate: int = 0, resume: bool = True,
                 incumbent: str = "top", budget_mode: str = "floor") -> None:
        self.min_budget = min_budget
        self.max_budget = max_budget
        self.eta = eta
        self.early_stopping_rate = early_stopping_rate
        self.resume = resume
        self.incumbent = incumbent
        self.budget_mode = budget_mode

    def _validate(self) -> None:
        self._validate_common()
        check_param("early_stopping_rate", self.early_stopping_rate, kind=int, low=0)

    def _setup(self) -> None:
        self._init_rungs()
        s = self.early_stopping_rate
        if s >= len(self._budgets):
            raise ValueError(f"early_stopping_rate={s} leaves no rung (budgets "
                             f"{[round(float(b), 4) for b in self._budgets]})")
        self._budgets = self._budgets[s:]
        self._rung_epochs = self._rung_epochs[s:]
        self._rungs = [_Rung() for _ in self._rung_epochs]
        self._archs: list[Any] = []
        self._pending: dict[int, tuple[int, int]] = {}   # trial id -> (config, rung)
        self._seq = 0

    def ask(self) -> TrialInfo:
        eta = self.eta
        for k in range(len(self._rungs) - 2, -1, -1):
            rung = self._rungs[k]
            if not rung.waiting:
                continue
            # the best not-yet-promoted configuration is among the top floor(n / eta) iff
            # fewer than that many promoted ones rank above it
            best = rung.waiting[0]
            if bisect.bisect_left(rung.promoted, best) < int(len(rung) / eta + _EPS):
                del rung.waiting[0]
                bisect.insort(rung.promoted, best)
                return self._start(best[2], k + 1, promoted=True)
        cid = len(self._archs)
        self._archs.append(self.space.sample(self.rng))
        return self._start(cid, 0, promoted=False)

    def _start(self, cid: int, rung: int, promoted: bool) -> TrialInfo:
        trial = self._trial(self._archs[cid], rung, promoted)
        self._pending[trial.trial_id] = (cid, rung)
        return trial

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        cid, k = self._pending.pop(trial.trial_id)
        self._seq += 1
        bisect.insort(self._rungs[k].waiting, (-worst_if_nan(value.score()), self._seq, cid))

    @property
    def rung_sizes(self) -> tuple[int, ...]:
        """Completed configurations per rung, bottom first."""
        return tuple(len(r) for r in self._rungs)


class LearningCurveStopping(_MultiFidelity):
    """Random search with learning-curve early stopping: each uniformly sampled cell is
    trained epoch by epoch (resumed; checkpoints every ``interval`` recorded epochs from
    ``min_budget``, and at ``max_budget``) and stopped as soon as its curve falls below the
    reference at the same epoch.

    Rules (``rule``):

    * ``"incumbent"`` (default): stop when the told objective at epoch ``e`` is below the
      incumbent's at ``e`` (the incumbent: the best cell trained to ``max_budget`` so far; its
      curve as told).  The deterministic form of the "compare with the best so far" stopping
      of Domhan, Springenberg & Hutter (IJCAI 2015), which stops when the predicted
      probability of beating the best is small; here the observed value itself is compared.
    * ``"median"``: Google Vizier's median stopping rule (Golovin et al., KDD 2017, §3.2.2):
      stop when the cell's best value up to ``e`` is below the median, over the cells trained
      to ``max_budget``, of their running averages up to ``e``.

    No cell is stopped before one has been trained to ``max_budget``.  Never waits: a free
    worker continues a cell that passed its last check, else starts a new one.

    Args:
        min_budget, max_budget: the first checkpoint and the full training (epochs).
        interval: checkpoint every ``interval`` recorded epochs.
        rule: :data:`STOP_RULES`.
        resume, incumbent: as :class:`SuccessiveHalving` (``resume=False`` retrains every
            checkpoint from scratch: the early-stopping saving is then lost; for comparison).
    """

    name: ClassVar[str] = "lcstop"
    eta = 3                # not used: checkpoints are every ``interval`` epochs
    budget_mode = "floor"

    def __init__(self, *, min_budget: float | None = None, max_budget: float | None = None,
                 interval: int = 1, rule: str = "incumbent", resume: bool = True,
                 incumbent: str = "top") -> None:
        self.min_budget = min_budget
        self.max_budget = max_budget
        self.interval = interval
        self.rule = rule
        self.resume = resume
        self.incumbent = incumbent

    def _validate(self) -> None:
        self._validate_common()
        check_param("interval", self.interval, kind=int, low=1)
        if self.rule not in STOP_RULES:
            raise ValueError(f"rule must be one of {STOP_RULES}, got {self.rule!r}")

    def _setup(self) -> None:
        epochs = getattr(self, "_epochs", None)
        if epochs is None:
            if self.min_budget is None or self.max_budget is None:
                raise ValueError("optimizer 'lcstop' needs the fidelities: the runner calls "
                                 "configure_fidelity(epochs); without it give min_budget and "
                                 "max_budget")
            epochs = tuple(range(max(1, int(self.min_budget)), int(self.max_budget) + 1))
        lo = self.min_budget if self.min_budget is not None else epochs[0]
        hi = self.max_budget if self.max_budget is not None else epochs[-1]
        if hi > epochs[-1] + _EPS:
            raise ValueError(f"max_budget={hi:g} is above the run's fidelity ({epochs[-1]} "
                             f"epochs)")
        inside = [e for e in epochs if lo - _EPS <= e <= hi + _EPS]
        if not inside:
            raise ValueError(f"no recorded epoch in [{lo:g}, {hi:g}]")
        checks = inside[::self.interval]
        if checks[-1] != inside[-1]:
            checks.append(inside[-1])
        self._rung_epochs = tuple(checks)
        self._budgets = np.asarray(checks, dtype=float)
        self._top_epoch = checks[-1]
        self._archs: list[Any] = []
        self._curves: list[list[float]] = []          # config -> told scores per checkpoint
        self._pending: dict[int, tuple[int, int]] = {}
        self._ready: deque[tuple[int, int]] = deque()  # (config, next checkpoint) to start
        self._best = -math.inf
        self._best_curve: list[float] = []
        self._done_avgs: list[np.ndarray] = []        # running averages of finished cells
        self.n_stopped = 0

    def ask(self) -> TrialInfo:
        if self._ready:
            cid, k = self._ready.popleft()
            promoted = True
        else:
            cid, k = len(self._archs), 0
            self._archs.append(self.space.sample(self.rng))
            self._curves.append([])
            promoted = False
        trial = self._trial(self._archs[cid], k, promoted)
        self._pending[trial.trial_id] = (cid, k)
        return trial

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        cid, k = self._pending.pop(trial.trial_id)
        curve = self._curves[cid]
        curve.append(worst_if_nan(value.score()))
        if k + 1 == len(self._rung_epochs):  # trained to the end
            if curve[-1] > self._best:
                self._best, self._best_curve = curve[-1], list(curve)
            self._done_avgs.append(np.cumsum(curve) / np.arange(1, len(curve) + 1))
            return
        if self._stop(curve, k):
            self.n_stopped += 1
            return
        self._ready.append((cid, k + 1))

    def _stop(self, curve: list[float], k: int) -> bool:
        if not self._done_avgs:
            return False
        if self.rule == "incumbent":
            return curve[k] < self._best_curve[k]
        ref = float(np.median([a[k] for a in self._done_avgs]))
        return max(curve) < ref
