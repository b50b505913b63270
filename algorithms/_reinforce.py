"""REINFORCE with a factorised categorical policy (Williams 1992), as in NATS-Bench /
NAS-Bench-201."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from benchbench.api import BenchmarkError
from benchbench.optimizer import Optimizer, check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["REWARDS", "Reinforce"]

_OPTIMIZERS = ("adam", "sgd")
#: The reward choices of :class:`Reinforce`, the default first.
REWARDS = ("objective", "mnas")
_BLOCK = 256  # asks served per block of pre-drawn Gumbel noise
_MAX_REJECTIONS = 1000  # policy draws outside the space before a uniform sample instead
_OUTSIDE = object()  # a categorical combination that is not a cell of the space


class Reinforce(Optimizer):
    """REINFORCE over ``space.as_categorical()`` (NB201's / NATS-Bench's ``REINFORCE``).

    Reference: NATS-Bench (Dong, Liu, Musial & Gabrys, TPAMI 2021), the topology space
    ("tss", NB201's cells), script ``exps/NATS-algos/reinforce.py`` of D-X-Y/AutoDL-Projects
    as run by ``exps/NATS-algos/run-all.sh`` and the script's own header:
    ``--learning_rate 0.01`` for every dataset, ``--EMA_momentum 0.9`` (its default),
    ``torch.optim.Adam`` with torch's defaults, policy logits ``1e-3 * torch.randn(6, 5)``,
    loss ``-(r - b) * sum(log pi)`` with the baseline updated before use.  Every default here
    is that script's; the reported architecture is the best one evaluated (the script's
    ``max(trace)``, the runner's incumbent), not the policy's argmax.

    Other published learning rates, as named options (``learning_rate=``), same script
    otherwise (Adam, EMA 0.9):

    * ``0.5``: NB201's README reproduction command (``docs/NAS-Bench-201.md``, "To Reproduce
      10 Baseline NAS Algorithms", item [9]: ``bash ./scripts-search/algos/REINFORCE.sh 0.5
      -1``); NB201's grid ``scripts-search/algos/hps/GRID-RL.sh`` runs 0.01, 0.02, 0.1, 0.2
      and 0.5;
    * ``0.001``: the example in the header of NB201's ``REINFORCE.sh`` and the fixed value of
      its first version (benchbench's default before issue 9).  After 150 updates on NB201
      CIFAR-10-valid it leaves the policy nearly uniform (largest op probability about
      0.21 against 0.2 at the start), so the search is random search in all but name; see
      ``benchmarks/bench_reinforce_lr.py``.

    The policy holds one logit per (variable, choice), shape ``(n_variables, max_choices)``
    (NB201: 6 edges x 5 ops), initialised to ``init_std * N(0, 1)`` drawn from the run's
    generator (NB201: ``1e-3 * torch.randn``; ``init_std=0`` gives zeros).  Each ask samples
    every variable independently from ``softmax(logits)`` (exactly, by the Gumbel-max trick:
    ``argmax(logits + G)`` with Gumbel noise ``G`` drawn from the run's generator in blocks
    of 256 asks, one numpy call per block).  Choices a variable lacks (variables with fewer
    choices than the widest) have logit ``-inf``.  Each tell with reward
    ``r = reward_scale * score`` (the told objective, negated when minimising) first updates
    the baseline ``b``, a bias-corrected exponential moving average of the rewards with
    ``baseline_momentum`` (NB201's ``ExponentialMovingAverage``, updated before use), then
    takes one optimizer step on ``-(r - b) * log pi(arch)``, whose gradient with respect to
    the logits is ``(r - b) * (softmax(logits) - onehot(arch))`` (computed as one array).
    Adam follows ``torch.optim.Adam`` exactly (bias-corrected, ``eps`` added to the corrected
    root of the second moment); SGD is plain (no momentum).

    A NaN reward skips both the baseline and the policy update; such tells are counted in
    :attr:`n_nan_rewards`.

    Constrained search (a run with ``constraints``), ``reward="objective"``: an infeasible
    evaluation (``TrialValue.feasible`` false) is given the lowest reward told so far in the
    run, its own included, so that it never earns more than any feasible evaluation told
    before it (the death-penalty style of Coello Coello's survey, CMAME 191, 2002, made
    relative so that the scale of the objective does not matter); counted in
    :attr:`n_infeasible`.  ``reward="mnas"`` is MnasNet's multi-objective reward instead
    (Tan et al., "MnasNet: Platform-aware neural architecture search for mobile", CVPR 2019,
    Eq. 2 and Sec. 3.1):

        ``reward = ACC(m) * (LAT(m) / T) ** w``,  ``w = alpha if LAT(m) <= T else beta``

    with ``ACC`` the told objective (it must be maximised: accuracy), ``LAT`` the recorded
    metric ``cost_metric`` (``TrialValue.metrics``; record it with ``record_metrics``) and
    ``T`` = ``cost_target``.  The paper's soft constraint is ``alpha = beta = -0.07`` (the
    defaults); its hard constraint ``alpha = 0, beta = -1``.  The reward replaces the
    feasibility rule (the soft constraint is the constraint handling); a cost that is NaN or
    not positive gives a NaN reward (skipped, counted).  MnasNet's controller was PPO on an
    RNN; here the reward drives this REINFORCE policy.

    The update uses the arch of the trial told (read back with ``space.to_categorical``)
    and the current logits, so several asks before a tell are fine:
    each tell updates the policy for its own trial, in the order told.

    Spaces whose categorical view holds combinations that are not cells (a table restricted
    to its rows, :class:`~benchbench.spaces.RestrictedSpace` with ``categorical="base"``):
    a draw that ``from_categorical`` refuses is redrawn (rejection sampling, i.e. the policy
    conditioned on the space; the update still uses the unconditioned log-probability, a
    documented approximation), counted in :attr:`n_rejected`; after 1,000 refused draws the
    ask is a uniform sample of the space (counted in :attr:`n_uniform`).

    Args:
        learning_rate: step size (NATS-Bench: 0.01; see above for 0.5 and 0.001).
        baseline_momentum: EMA momentum of the baseline (NATS-Bench and NB201: 0.9), in
            ``[0, 1)``.
        optimizer: ``"adam"`` (NATS-Bench and NB201) or ``"sgd"`` (a deviation: plain SGD,
            the alternative left commented out in both scripts).
        reward_scale: multiplies the oriented objective (the scripts use the raw accuracy in
            percent, i.e. 1.0); must be > 0.
        init_std: standard deviation of the initial logits (the scripts: 1e-3).
        beta1, beta2, eps: Adam's constants (torch defaults, as the scripts); unused by SGD.
        reward: ``"objective"`` (the scripts: the told objective) or ``"mnas"`` (above).
        cost_metric: ``reward="mnas"``: the recorded cost metric (e.g. ``latency_ms_b1``).
        cost_target: ``reward="mnas"``: the target ``T`` (units of ``cost_metric``), > 0.
        alpha, beta: ``reward="mnas"``: the exponents below / above the target (MnasNet's
            soft constraint: both -0.07).
    """

    name: ClassVar[str] = "reinforce"

    def __init__(self, *, learning_rate: float = 0.01, baseline_momentum: float = 0.9,
                 optimizer: str = "adam", reward_scale: float = 1.0, init_std: float = 1e-3,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 reward: str = "objective", cost_metric: str | None = None,
                 cost_target: float | None = None, alpha: float = -0.07,
                 beta: float = -0.07) -> None:
        self.learning_rate = learning_rate
        self.baseline_momentum = baseline_momentum
        self.optimizer = optimizer
        self.reward_scale = reward_scale
        self.init_std = init_std
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.reward = reward
        self.cost_metric = cost_metric
        self.cost_target = cost_target
        self.alpha = alpha
        self.beta = beta

    def _validate(self) -> None:
        num = (int, float)
        check_param("learning_rate", self.learning_rate, kind=num, low=0.0, low_open=True)
        check_param("baseline_momentum", self.baseline_momentum, kind=num, low=0.0)
        if not self.baseline_momentum < 1.0:
            raise ValueError(f"baseline_momentum must be < 1, got {self.baseline_momentum!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        check_param("reward_scale", self.reward_scale, kind=num, low=0.0, low_open=True)
        check_param("init_std", self.init_std, kind=num, low=0.0)
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            check_param(name, value, kind=num, low=0.0)
            if not value < 1.0:
                raise ValueError(f"{name} must be < 1, got {value!r}")
        check_param("eps", self.eps, kind=num, low=0.0, low_open=True)
        for name in ("learning_rate", "baseline_momentum", "reward_scale", "init_std",
                     "beta1", "beta2", "eps"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        for name in ("alpha", "beta"):
            check_param(name, getattr(self, name), kind=num)
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")
        if self.reward == "mnas":
            if not isinstance(self.cost_metric, str) or not self.cost_metric:
                raise ValueError(f"reward='mnas' needs cost_metric, the recorded cost metric "
                                 f"(e.g. 'latency_ms_b1'), got {self.cost_metric!r}")
            check_param("cost_target", self.cost_target, kind=num, low=0.0, low_open=True)
            if not math.isfinite(self.cost_target):  # type: ignore[arg-type]
                raise ValueError(f"cost_target must be finite, got {self.cost_target!r}")

    def _setup(self) -> None:
        sizes = np.asarray(self.space.as_categorical().sizes, dtype=np.int64)
        if sizes.size == 0 or sizes.min() < 1:
            raise ValueError(f"space {self.space.name!r} has no categorical variables to learn "
                             f"(sizes {sizes.tolist()})")
        n_vars, width = len(sizes), int(sizes.max())
        self._shape = (n_vars, width)
        self._rows = np.arange(n_vars)
        self._eye = np.eye(width)
        logits = self.init_std * self.rng.standard_normal(self._shape)
        # Padding of variables with fewer choices: logit -inf, probability 0, gradient 0.
        logits[np.arange(width) >= sizes[:, None]] = -np.inf
        self._logits = logits
        self._m = np.zeros_like(logits)
        self._v = np.zeros_like(logits)
        self._step = 0
        self._gumbel = np.empty((0, n_vars, width))
        self._g_pos = 0
        self._archs: dict[tuple[int, ...], Any] = {}
        self._ema_num = 0.0
        self._ema_den = 0.0
        self.n_nan_rewards = 0
        self.n_updates = 0
        self.n_infeasible = 0
        self._min_reward = math.inf
        #: Policy draws that were not cells of the space (redrawn), and asks answered by a
        #: uniform sample after :data:`_MAX_REJECTIONS` such draws.
        self.n_rejected = 0
        self.n_uniform = 0

    # ------------------------------------------------------------------ policy
    def _softmax(self) -> np.ndarray:
        """softmax over each row of the logits, shape ``(n_variables, max_choices)``."""
        # ufunc reductions directly: ~1 us cheaper per call than the ndarray methods
        z = self._logits - np.maximum.reduce(self._logits, axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= np.add.reduce(z, axis=1, keepdims=True)
        return z

    def probabilities(self) -> np.ndarray:
        """The policy, shape ``(n_variables, max_choices)``; row ``i`` sums to 1 (choices a
        variable does not have get probability 0).  A fresh array: changing it does not
        change the policy."""
        return self._softmax()

    def log_prob(self, arch: Any) -> float:
        """Natural log of the policy's probability of ``arch``."""
        p = self.probabilities()
        return float(np.log(p[self._rows, list(self.space.to_categorical(arch))]).sum())

    def greedy_arch(self) -> Any:
        """The most probable architecture (NB201's ``policy.genotype()``)."""
        return self.space.from_categorical(self.probabilities().argmax(axis=1).tolist())

    @property
    def baseline(self) -> float:
        """The current baseline (NaN before the first non-NaN reward)."""
        return self._ema_num / self._ema_den if self._ema_den else math.nan

    # ---------------------------------------------------------------- ask/tell
    def ask(self) -> TrialInfo:
        # Gumbel-max: argmax(logits + Gumbel noise) is an exact draw from softmax(logits);
        # the noise is drawn in blocks of _BLOCK asks.
        if self._g_pos == len(self._gumbel):
            self._gumbel = self.rng.gumbel(size=(_BLOCK, *self._shape))
            self._g_pos = 0
        for _ in range(_MAX_REJECTIONS):
            noisy = self._logits + self._gumbel[self._g_pos]
            self._g_pos += 1
            key = tuple(noisy.argmax(axis=1).tolist())
            arch = self._archs.get(key)
            if arch is None:
                try:
                    arch = self._archs[key] = self.space.from_categorical(key)
                except (ValueError, BenchmarkError):  # not a cell of this (restricted) space
                    self._archs[key] = _OUTSIDE
                    arch = _OUTSIDE
            if arch is not _OUTSIDE:
                return TrialInfo(arch, None, self._next_id())
            self.n_rejected += 1
            if self._g_pos == len(self._gumbel):
                self._gumbel = self.rng.gumbel(size=(_BLOCK, *self._shape))
                self._g_pos = 0
        self.n_uniform += 1
        return TrialInfo(self.space.sample(self.rng), None, self._next_id())

    def _reward(self, value: TrialValue) -> float:
        """The reward of a told value (see the class docstring), NaN to skip."""
        if self.reward == "mnas":
            if not value.maximize:
                raise ValueError("reward='mnas' needs a maximised objective (accuracy), "
                                 "but the run's objective is minimised")
            name = str(self.cost_metric)
            if name not in value.metrics:
                raise ValueError(f"reward='mnas' needs metric {name!r} in the told metrics, "
                                 f"which are {sorted(value.metrics)}; record it with "
                                 f"record_metrics / --record-metric {name}")
            cost = float(value.metrics[name])
            if not cost > 0:  # NaN or not positive: no reward
                return math.nan
            target = float(self.cost_target)  # type: ignore[arg-type]
            w = self.alpha if cost <= target else self.beta
            return float(value.objective * (cost / target) ** w * self.reward_scale)
        reward = value.score() * self.reward_scale
        if math.isnan(reward):
            return reward
        self._min_reward = min(self._min_reward, reward)
        if not value.feasible:
            self.n_infeasible += 1
            return self._min_reward
        return reward

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        reward = self._reward(value)
        if math.isnan(reward):
            self.n_nan_rewards += 1
            return
        mom = self.baseline_momentum
        self._ema_num = mom * self._ema_num + (1.0 - mom) * reward
        self._ema_den = mom * self._ema_den + (1.0 - mom)
        adv = reward - self._ema_num / self._ema_den
        # loss -(r - b) log pi(a); its gradient is adv * d with d = softmax(logits) - onehot(a)
        d = self._softmax()
        d -= self._eye[self.space.to_categorical(trial.arch),]
        lr = self.learning_rate
        if self.optimizer == "adam":  # torch.optim.Adam, step for step
            self._step += 1
            b1, b2 = self.beta1, self.beta2
            m, v = self._m, self._v
            m *= b1
            m += d * ((1.0 - b1) * adv)
            v *= b2
            d *= d
            d *= (1.0 - b2) * adv * adv
            v += d
            denom = np.sqrt(v)
            denom *= 1.0 / math.sqrt(1.0 - b2**self._step)
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= lr / (1.0 - b1**self._step)
            self._logits -= denom
        else:
            d *= lr * adv
            self._logits -= d
        self.n_updates += 1
