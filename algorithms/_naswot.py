"""Search with zero-cost proxies: NASWOT-style best-of-N, and regularized evolution with a
zero-cost warm start.

Both read **precomputed** scores (``scores=PATH``: a directory written by
``benchbench proxies score`` or its ``scores.csv``), so that a run costs table look-ups only;
the cells they draw from are the scored ones (score the whole space, or a uniform sample of
it, for the published methods).  With ``scores=None`` they score cells on the fly with
:class:`algorithms.proxies.Proxy` (NB201 network C=16, N=5, a batch of 64 bundled digits
images; needs torch, about a second per cell per core).

Proxy seconds are not simulated training time, so the runner's clock does not include them;
:attr:`proxy_seconds` sums the recorded scoring seconds of every cell the optimizer scored,
for reports that want to charge them.  NaN scores rank last (counted in ``n_nan_scores``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from algorithms._common import sample_unseen
from algorithms._evolution import RegularizedEvolution
from benchbench.optimizer import Optimizer, check_param
from benchbench.spaces import is_enumerable
from benchbench.trial import TrialInfo, TrialValue

__all__ = ["NASWOT", "ZeroCostWarmStartRE"]


# Per-process cache of parsed score files (not an RNG): (directory, csv mtime and size, space,
# proxy) -> (values by arch_id, pool).  Read-only once built, so setups share it.
_STORED: dict[tuple[Any, ...], tuple[dict[str, tuple[float, float]], tuple[Any, ...]]] = {}


def _stored_scores(space: Any, scores: Path, proxy: str,
                   ) -> tuple[dict[str, tuple[float, float]], tuple[Any, ...]]:
    """``({arch_id: (value, seconds)}, pool)`` of ``proxy`` in a score directory (or its
    ``scores.csv``): the value is the mean over the scored seeds (NaN if any seed is NaN),
    the seconds their sum; the pool lists the scored cells in official index order, so that
    draws do not depend on the file's row order."""
    from algorithms.proxies import load_scores

    d = scores.parent if scores.name == "scores.csv" else scores
    csv = d / "scores.csv"
    st = csv.stat() if csv.is_file() else None
    key = (str(d.resolve()), st and (st.st_mtime_ns, st.st_size), space.name, proxy)
    if key in _STORED:
        return _STORED[key]
    cfg, every = load_scores(d)
    if cfg.space != space.name:
        raise ValueError(f"scores in {scores} are for space {cfg.space!r}, not "
                         f"{space.name!r}")
    df = every[every["proxy"] == proxy]
    if df.empty:
        have = sorted(set(every["proxy"]))
        raise ValueError(f"{scores} has no scores for proxy {proxy!r}; it has {have}")
    g = df.assign(nan=df["value"].isna()).groupby("arch_id")
    vals = g["value"].mean().where(~g["nan"].any(), np.nan)  # a NaN seed makes the mean NaN
    secs = g["seconds"].sum()
    ids = list(vals.index)
    order = (np.argsort(space.indices(ids), kind="stable") if is_enumerable(space)
             else np.argsort(np.asarray(ids, dtype=object), kind="stable"))
    values = {a: (float(vals[a]), float(secs[a])) for a in ids}
    pool = tuple(space.parse(ids[i]) for i in order)
    if len(_STORED) >= 8:
        _STORED.clear()
    _STORED[key] = (values, pool)
    return values, pool


class _Scorer:
    """Proxy values of cells, from a score file or computed live."""

    def __init__(self, space: Any, scores: str | Path | None, proxy: str) -> None:
        from algorithms.proxies import canonical_proxy

        self.space = space
        self.proxy = canonical_proxy(proxy)
        self.seconds = 0.0
        self.n_nan = 0
        self._live: Any = None
        self._values: dict[str, tuple[float, float]] = {}
        self.pool: tuple[Any, ...] = ()
        if scores is None:
            from algorithms.proxies import Proxy
            self._live = Proxy(self.proxy)
            return
        self._values, self.pool = _stored_scores(space, Path(scores), self.proxy)

    def draw(self, n: int, rng: np.random.Generator) -> list[Any]:
        """``n`` distinct cells: uniform over the scored pool (or the space, live)."""
        if self._live is not None:
            if not is_enumerable(self.space):
                seen: set[Any] = set()
                for _ in range(n):
                    seen.add(sample_unseen(self.space, rng, seen))
                return sorted(seen, key=self.space.arch_id)
            idx = rng.choice(self.space.size, size=min(n, self.space.size), replace=False)
            return [self.space.from_index(int(i)) for i in idx]
        idx = rng.choice(len(self.pool), size=min(n, len(self.pool)), replace=False)
        return [self.pool[int(i)] for i in idx]

    def score(self, arch: Any, rng: np.random.Generator) -> float:
        if self._live is not None:
            v, s = self._live.score(arch, rng)
        else:
            v, s = self._values[self.space.arch_id(arch)]
        self.seconds += s
        if math.isnan(v):
            self.n_nan += 1
        return v

    def rank(self, archs: list[Any], rng: np.random.Generator) -> list[Any]:
        """``archs`` best score first (NaN last; ties keep the draw order)."""
        vals = np.array([self.score(a, rng) for a in archs], dtype=float)
        key = np.where(np.isnan(vals), -np.inf, vals)
        nan_last = np.isnan(vals).astype(int)
        order = np.lexsort((np.arange(len(vals)), -key, nan_last))
        return [archs[i] for i in order]


class _ProxyGuided:
    """What both proxy-guided optimizers share: validation of ``scores`` / ``proxy`` and the
    scorer's counters."""

    scores: str | None
    proxy: str
    _scorer: _Scorer

    def _validate_proxy(self) -> None:
        from algorithms.proxies import canonical_proxy

        if self.scores is not None:
            if not isinstance(self.scores, (str, Path)):
                raise ValueError(f"scores must be a path to a `proxies score` directory or "
                                 f"its scores.csv, or None (score live), got {self.scores!r}")
            p = Path(self.scores)
            d = p.parent if p.name == "scores.csv" and p.is_file() else p
            if not (d / "config.json").is_file():
                what = "does not exist" if not p.exists() else "is not a proxy-score directory"
                raise ValueError(f"scores={str(self.scores)!r} {what}: give a directory with "
                                 f"config.json and scores.csv, written by `benchbench proxies "
                                 f"score` or algorithms.proxies.import_naslib_scores (or its "
                                 f"scores.csv)")
        check_param("proxy", self.proxy, kind=str)
        try:
            canonical_proxy(self.proxy)
        except KeyError as e:  # UnknownNameError: a bad hyper-parameter value
            raise ValueError(e.args[0]) from None

    @property
    def proxy_seconds(self) -> float:
        """Recorded seconds of every proxy evaluation made so far (not on the runner's
        simulated clock); seconds a score file does not record (NaN) add nothing."""
        return self._scorer.seconds

    @property
    def n_nan_scores(self) -> int:
        """Scored cells whose score was NaN (ranked last)."""
        return self._scorer.n_nan


class NASWOT(_ProxyGuided, Optimizer):
    """NASWOT-style search (Mellor et al., ICML 2021): draw ``n_samples`` cells, score them
    with the proxy, and propose them best score first.

    The first ask is NASWOT's pick (the best of N); later asks continue down the ranking, and
    once the N cells are used up a fresh N are drawn (excluding none: a cell may come back in
    a later round).  Told values are ignored: the search is training-free.

    Args:
        scores: a ``benchbench proxies score`` directory (or its ``scores.csv``); ``None``
            scores live (slow, needs torch).
        proxy: which proxy ranks the cells (``"nwot"``, NASWOT's own; any of
            :data:`algorithms.proxies.PROXIES`).
        n_samples: N, cells drawn per round (Mellor et al. report N = 10, 100, 1000).
    """

    name: ClassVar[str] = "naswot"

    def __init__(self, *, scores: str | None = None, proxy: str = "nwot",
                 n_samples: int = 100) -> None:
        self.scores = scores
        self.proxy = proxy
        self.n_samples = n_samples

    def _validate(self) -> None:
        self._validate_proxy()
        check_param("n_samples", self.n_samples, kind=int, low=1)

    def _setup(self) -> None:
        self._scorer = _Scorer(self.space, self.scores, self.proxy)
        self._queue: list[Any] = []

    def ask(self) -> TrialInfo:
        if not self._queue:
            self._queue = self._scorer.rank(self._scorer.draw(self.n_samples, self.rng),
                                            self.rng)
        return TrialInfo(self._queue.pop(0), None, self._next_id())

    def tell(self, trial: TrialInfo, value: TrialValue) -> None:
        """Training-free: the told objective is not used."""


class ZeroCostWarmStartRE(_ProxyGuided, RegularizedEvolution):
    """Regularized evolution with a zero-cost warm start (Abdelfattah et al., ICLR 2021,
    "warmup"): ``warmup_pool`` cells are drawn and scored with the proxy, the
    ``population_size`` best seed the population (they are the first asks, best first), then
    evolution proceeds as :class:`~algorithms.RegularizedEvolution`.

    Args:
        population_size, sample_size, aging, sample_with_replacement: as in
            :class:`~algorithms.RegularizedEvolution`.
        scores, proxy: as in :class:`NASWOT` (default proxy ``"synflow"``, the paper's
            best on NB201).
        warmup_pool: cells scored for the warm start (the paper: 3,000); with precomputed
            scores, at most the cells the directory scores (all of them when fewer).
    """

    name: ClassVar[str] = "re-zc"

    def __init__(self, *, population_size: int = 10, sample_size: int = 3, aging: bool = True,
                 sample_with_replacement: bool = True, scores: str | None = None,
                 proxy: str = "synflow", warmup_pool: int = 1000) -> None:
        super().__init__(population_size=population_size, sample_size=sample_size, aging=aging,
                         sample_with_replacement=sample_with_replacement)
        self.scores = scores
        self.proxy = proxy
        self.warmup_pool = warmup_pool

    def _validate(self) -> None:
        super()._validate()
        self._validate_proxy()
        check_param("warmup_pool", self.warmup_pool, kind=int, low=1)

    def _setup(self) -> None:
        super()._setup()
        self._scorer = _Scorer(self.space, self.scores, self.proxy)
        self._drawn = tuple(self._scorer.draw(self.warmup_pool, self.rng))
        self._warm = self._scorer.rank(list(self._drawn), self.rng)[:self.population_size]

    @property
    def warmup_cells(self) -> tuple[Any, ...]:
        """The cells drawn and scored for the warm start, in draw order (set by setup)."""
        return self._drawn

    def ask(self) -> TrialInfo:
        if self._n_asked < len(self._warm):
            return TrialInfo(self._warm[self._n_asked], None, self._next_id())
        return super().ask()
