"""BOHB: Hyperband whose new configurations come from TPE-style kernel density estimates
(Falkner, Klein & Hutter, ICML 2018), as the official HpBandSter code computes them."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from algorithms._multifidelity import _BracketSchedule
from benchbench.optimizer import check_param
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["BOHB", "CategoricalKDE", "fit_kde_pair", "normal_reference_bandwidth", "propose"]

_TINY = 1e-32  # HpBandSter's floor of l(x) and g(x) in g(x) / l(x)


def normal_reference_bandwidth(data: np.ndarray) -> np.ndarray:
    """statsmodels' ``KDEMultivariate(bw="normal_reference")``: ``1.06 * std(data, axis=0)
    * n**(-1 / (4 + d))`` for data ``(n, d)`` (population std; categorical codes are treated
    as numbers, as HpBandSter feeds them)."""
    n, d = data.shape
    return 1.06 * np.std(data, axis=0) * n ** (-1.0 / (4 + d))


class CategoricalKDE:
    """A product Aitchison-Aitken kernel density over categorical codes, computed as
    statsmodels' ``KDEMultivariate(var_type="u" * d).pdf`` (which HpBandSter's BOHB uses).

    For a point ``x`` and data rows ``X_j``: ``pdf(x) = mean_j prod_d k_d(x_d, X_jd)`` with
    ``k_d = 1 - bw_d`` if equal, else ``bw_d / (L_d - 1)``, where ``L_d`` is the number of
    *distinct values in the data's column d* (statsmodels' ``aitchison_aitken`` default, not
    the number of choices: with one distinct value a mismatch is ``+inf``; with
    ``bw_d > 1`` a match is negative; both are the reference's behaviour and kept).

    Args:
        data: ``(n, d)`` int codes.
        bw: ``(d,)`` bandwidths (already clipped below at ``min_bandwidth``).
        width: codes the densities will be asked at are below this (default: the data's).
    """

    def __init__(self, data: np.ndarray, bw: np.ndarray, width: int | None = None) -> None:
        self.data = np.asarray(data, dtype=np.int64)
        self.bw = np.asarray(bw, dtype=float)
        n, d = self.data.shape
        top = int(self.data.max(initial=0)) + 1
        seen = np.zeros((d, top), dtype=bool)
        seen[np.arange(d), self.data] = True
        self.levels = seen.sum(axis=1)  # distinct values per column
        self.match = 1.0 - self.bw
        single = self.levels == 1
        # one distinct value: a mismatch is bw / 0 = +inf, as statsmodels computes it
        self.other = np.where(single, np.inf,
                              self.bw / np.where(single, 1, self.levels - 1))
        # fast path: prod_d k_d = exp(sum_d log|k_d|) * sign, the sums by row gathers; only
        # when every factor is finite and non-zero
        self._fast = bool(not single.any() and np.all(self.match != 0))
        if self._fast:
            self._set_tables(max(top, width or 0))

    def _set_tables(self, width: int) -> None:
        """One-hot tables of the data for :meth:`_pdf_fast` (codes below ``width``)."""
        n, d = self.data.shape
        self._width = width
        self._base = float(np.sum(np.log(self.other)))
        w = np.log(np.abs(self.match)) - np.log(self.other)     # log ratio when equal
        cols = np.arange(d) * width
        rows = np.arange(n)[:, None]
        hot_w = np.zeros((d * width, n))
        hot_w[cols + self.data, rows] = w
        self._hot_w = hot_w
        self._neg = bool(np.any(self.match < 0))
        if self._neg:
            hot_n = np.zeros((d * width, n), dtype=bool)
            hot_n[cols + self.data, rows] = self.match < 0
            self._hot_n = hot_n
        self._cols = cols

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Densities of the rows of ``x`` ``(m, d)`` (int codes), shape ``(m,)``."""
        x = np.asarray(x, dtype=np.int64)
        if x.ndim == 1:
            x = x[None, :]
        if self._fast:
            return self._pdf_fast(x)
        eq = x[:, None, :] == self.data[None, :, :]                  # (m, n, d)
        with np.errstate(invalid="ignore", over="ignore"):
            k = np.where(eq, self.match, self.other).prod(axis=2)    # (m, n)
        return k.mean(axis=1)

    def _pdf_fast(self, x: np.ndarray) -> np.ndarray:
        top = int(x.max(initial=0)) + 1
        if top > self._width:
            self._set_tables(top)
        idx = self._cols + x                                         # (m, d) table rows
        # sum over the variables of row gathers (no BLAS: its threads cost more than the
        # work at these sizes on a shared machine)
        logk = self._hot_w[idx[:, 0]] + self._base
        for j in range(1, idx.shape[1]):
            logk += self._hot_w[idx[:, j]]
        k = np.exp(logk, out=logk)  # (m, n); |log k| is small: bw >= min_bandwidth
        if self._neg:  # factors 1 - bw < 0 (bw > 1): the sign of each product
            odd = self._hot_n[idx[:, 0]].copy()
            for j in range(1, idx.shape[1]):
                odd ^= self._hot_n[idx[:, j]]
            k[odd] *= -1.0
        return k.mean(axis=1)


def fit_kde_pair(codes: np.ndarray, losses: np.ndarray, *, top_n_percent: int,
                 min_points_in_model: int, min_bandwidth: float, width: int | None = None
                 ) -> tuple[CategoricalKDE, CategoricalKDE] | None:
    """HpBandSter's ``BOHB.new_result`` model fit on one budget's observations: sort by loss
    (stable), the best ``max(min_points, top_n_percent * N // 100)`` are good, the next
    ``max(min_points, (100 - top_n_percent) * N // 100)`` bad; ``None`` when there are at
    most ``min_points_in_model - 1`` observations or either set has no more rows than
    columns (statsmodels needs ``n > d``).  Bandwidths: :func:`normal_reference_bandwidth`
    clipped below at ``min_bandwidth``."""
    n, d = codes.shape
    if n <= min_points_in_model - 1:
        return None
    n_good = max(min_points_in_model, (top_n_percent * n) // 100)
    n_bad = max(min_points_in_model, ((100 - top_n_percent) * n) // 100)
    idx = np.argsort(losses, kind="stable")
    good = codes[idx[:n_good]]
    bad = codes[idx[n_good:n_good + n_bad]]
    if good.shape[0] <= d or bad.shape[0] <= d:
        return None
    return (CategoricalKDE(good, np.clip(normal_reference_bandwidth(good), min_bandwidth, None),
                           width),
            CategoricalKDE(bad, np.clip(normal_reference_bandwidth(bad), min_bandwidth, None),
                           width))


def propose(good: CategoricalKDE, bad: CategoricalKDE, rng: np.random.Generator,
            sizes: np.ndarray, *, num_samples: int, min_bandwidth: float
            ) -> tuple[np.ndarray, int]:
    """HpBandSter's model-based pick (``BOHB.get_config``): ``num_samples`` candidates, each
    a uniformly chosen row of ``good``'s data whose variable ``j`` is kept with probability
    ``1 - max(bw_j, min_bandwidth)``, else redrawn uniformly over ``sizes[j]`` choices; the
    pick minimises ``max(1e-32, g(x)) / max(l(x), 1e-32)`` (first of ties), except that the
    first candidate whose ratio is not finite while ``l(x)`` is, is taken at once (the
    reference's loop breaks there).  Returns (candidates ``(num_samples, d)``, index of the
    pick, ``-1`` if none is usable)."""
    m, d = num_samples, len(sizes)
    rows = good.data[rng.integers(0, good.data.shape[0], size=m)]
    keep = rng.random((m, d)) < (1.0 - np.maximum(good.bw, min_bandwidth))
    redraw = rng.integers(0, sizes, size=(m, d))
    cand = np.where(keep, rows, redraw)
    # the candidates repeat (few good rows, mostly kept values): densities once per distinct
    # row (codes packed into one int when they fit)
    width = int(sizes.max())
    if d * math.log2(max(width, 2)) < 62:
        keys = cand @ (width ** np.arange(d, dtype=np.int64))
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        lx = good.pdf(cand[first])[inverse]
        gx = bad.pdf(cand[first])[inverse]
    else:
        lx, gx = good.pdf(cand), bad.pdf(cand)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        val = np.maximum(_TINY, gx) / np.maximum(lx, _TINY)
    odd = np.flatnonzero(~np.isfinite(val) & np.isfinite(lx))
    ok = val < np.inf  # NaN and +inf never win (``val < best`` is False)
    if odd.size:
        return cand, int(odd[0])
    if np.any(ok):
        return cand, int(np.argmin(np.where(ok, val, np.inf)))
    return cand, -1


class BOHB(_BracketSchedule):
    """BOHB (Falkner, Klein & Hutter, ICML 2018): Hyperband whose new configurations come
    from a TPE-style model, as the official HpBandSter code
    (``hpbandster/optimizers/bohb.py`` and ``config_generators/bohb.py``) computes it.

    Per budget the told results are kept; once a budget holds enough of them, two product
    kernel densities are fitted, ``l`` on the best ``top_n_percent`` % and ``g`` on the rest
    (:func:`fit_kde_pair`; the categorical view of the space, ``space.as_categorical()``).
    A new configuration is, with probability ``random_fraction`` or while no model exists,
    a uniform sample; otherwise ``num_samples`` candidates are drawn from ``l`` of the
    *largest* budget with a model (a good row, each variable kept with probability
    ``1 - bw`` else redrawn uniformly over its choices) and the one minimising
    ``max(1e-32, g(x)) / max(l(x), 1e-32)`` is taken (the first candidate whose ratio is not
    finite while ``l(x)`` is, takes it at once; none usable: a uniform sample).  Results on a
    budget below the largest one with a model are not stored (HpBandSter's "skip model
    building if we already have a bigger model").  NaN objectives count as the worst loss
    (``+inf``).

    Defaults are the paper's and HpBandSter's: ``top_n_percent=15``, ``num_samples=64``,
    ``random_fraction=1/3``, ``bandwidth_factor=3``, ``min_bandwidth=1e-3``, ``eta=3``,
    ``min_points_in_model=None`` (``d + 1``, also the least allowed); brackets by
    HpBandSter's rule (``bracket_rule="hpbandster"``: ``n0 = ceil(floor((s_max + 1) /
    (s + 1)) * eta**s)``, fewer than Li et al.'s in some brackets).  ``bandwidth_factor``
    widens only continuous variables in the reference, so it has no effect on a categorical
    space (NB201's six edges); kept for completeness.

    NAS-Bench-201's BOHB row (Dong & Yang, ICLR 2020, ``exps/algos/BOHB.py`` with
    ``scripts-search/algos/BOHB.sh``) ran HpBandSter with ``min_budget=12, max_budget=200,
    eta=3, num_samples=4, random_fraction=0.0, bandwidth_factor=3, min_bandwidth=0.3,
    n_iters=50`` and a worker that *ignores the budget*: every query is the 12-epoch result
    with a fresh seed, charged in full.  That is ``budget_mode="ignore", min_budget=12,
    max_budget=200, num_samples=4, random_fraction=0.0, min_bandwidth=0.3, max_brackets=50,
    resume=False`` under ``--search-protocol nb201-paper`` (see README).  NATS-Bench's
    ``exps/NATS-algos/bohb.py`` uses real budgets: ``min_budget=1, max_budget=12`` on the
    12-epoch schedule, retrained from scratch (``resume=False``), ``num_samples=4,
    random_fraction=0.0, min_bandwidth=0.3, max_brackets=300, incumbent="any"``.

    Args:
        top_n_percent, num_samples, random_fraction, bandwidth_factor, min_bandwidth,
        min_points_in_model: HpBandSter's ``BOHB`` arguments of the same names.
        min_budget, max_budget, eta, bracket_rule, resume, incumbent, budget_mode,
        max_brackets: as :class:`~algorithms.Hyperband`.
    """

    name: ClassVar[str] = "bohb"

    def __init__(self, *, min_budget: float | None = None, max_budget: float | None = None,
                 eta: float = 3, top_n_percent: int = 15, num_samples: int = 64,
                 random_fraction: float = 1 / 3, bandwidth_factor: float = 3,
                 min_bandwidth: float = 1e-3, min_points_in_model: int | None = None,
                 bracket_rule: str = "hpbandster", resume: bool = True,
                 incumbent: str = "top", budget_mode: str = "floor",
                 max_brackets: int | None = None) -> None:
        self.min_budget = min_budget
        self.max_budget = max_budget
        self.eta = eta
        self.top_n_percent = top_n_percent
        self.num_samples = num_samples
        self.random_fraction = random_fraction
        self.bandwidth_factor = bandwidth_factor
        self.min_bandwidth = min_bandwidth
        self.min_points_in_model = min_points_in_model
        self.bracket_rule = bracket_rule
        self.resume = resume
        self.incumbent = incumbent
        self.budget_mode = budget_mode
        self.max_brackets = max_brackets

    def _validate(self) -> None:
        super()._validate()
        check_param("top_n_percent", self.top_n_percent, kind=int, low=1, high=99)
        check_param("num_samples", self.num_samples, kind=int, low=1)
        check_param("random_fraction", self.random_fraction, kind=(int, float), low=0, high=1)
        check_param("bandwidth_factor", self.bandwidth_factor, kind=(int, float), low=0,
                    low_open=True)
        check_param("min_bandwidth", self.min_bandwidth, kind=(int, float), low=0,
                    low_open=True)
        if self.min_points_in_model is not None:
            check_param("min_points_in_model", self.min_points_in_model, kind=int, low=1)

    def _setup(self) -> None:
        super()._setup()
        cat = self.space.as_categorical()
        self._sizes = np.asarray(cat.sizes, dtype=np.int64)
        d = len(self._sizes)
        # HpBandSter: None -> d + 1, and never fewer
        self._min_points = max(self.min_points_in_model or 0, d + 1)
        self._codes: dict[int, np.ndarray] = {}      # rung -> (capacity, d) codes
        self._losses: dict[int, np.ndarray] = {}     # rung -> (capacity,) losses
        self._n_obs: dict[int, int] = {}
        self._models: dict[int, tuple[CategoricalKDE, CategoricalKDE]] = {}
        self._dirty: set[int] = set()
        self.n_model_picks = 0

    # ------------------------------------------------------------------ the model
    def _observe(self, trial: TrialInfo, value: TrialValue, rung: int) -> None:
        if self._models and max(self._models) > rung:
            return  # HpBandSter: skip model building if we already have a bigger model
        loss = -value.score()
        n = self._n_obs.get(rung, 0)
        codes = self._codes.get(rung)
        if codes is None or n == codes.shape[0]:  # grow by doubling
            cap = max(64, 2 * n)
            new_codes = np.zeros((cap, len(self._sizes)), dtype=np.int64)
            new_losses = np.zeros(cap)
            if codes is not None:
                new_codes[:n] = codes
                new_losses[:n] = self._losses[rung]
            self._codes[rung], self._losses[rung] = new_codes, new_losses
        self._codes[rung][n] = self.space.to_categorical(trial.arch)
        self._losses[rung][n] = loss if math.isfinite(loss) else math.inf
        self._n_obs[rung] = n + 1
        self._dirty.add(rung)

    def _refit(self) -> None:
        """Fit the models whose data changed (HpBandSter refits at every result; the fit
        depends only on the data, so fitting when next needed gives the same models)."""
        for rung in sorted(self._dirty):
            if self._models and max(self._models) > rung:
                continue
            n = self._n_obs[rung]
            pair = fit_kde_pair(self._codes[rung][:n], self._losses[rung][:n],
                                top_n_percent=self.top_n_percent,
                                min_points_in_model=self._min_points,
                                min_bandwidth=self.min_bandwidth,
                                width=int(self._sizes.max()))
            if pair is not None:
                self._models[rung] = pair
        self._dirty.clear()

    def _sample(self, rung: int) -> Any:
        if self._dirty:
            self._refit()
        rng = self.rng
        if not self._models or rng.random() < self.random_fraction:
            return self.space.sample(rng)
        good, bad = self._models[max(self._models)]
        cand, pick = propose(good, bad, rng, self._sizes, num_samples=self.num_samples,
                             min_bandwidth=self.min_bandwidth)
        if pick < 0:
            return self.space.sample(rng)
        try:
            arch = self.space.from_categorical(tuple(int(v) for v in cand[pick]))
        except ValueError:  # not a valid cell of the space: HpBandSter falls back to random
            return self.space.sample(rng)
        self.n_model_picks += 1
        return arch
