"""Statistics for comparing search algorithms over seeds.

Every function takes plain numpy arrays.  ``maximize`` says which direction is better; ranks are
1 = best.  NaN values are dropped (and counted) by the summaries, dropped pairwise by the paired
test, and never replaced by a number.  Randomness (bootstrap) only through a Generator handed in.

Tests use scipy: Wilcoxon signed-rank (paired over shared seeds; scipy's default ``"wilcox"``
zero handling: zero differences are dropped, and the reported ``n`` is the number of pairs left;
two-sided), Mann-Whitney U (unpaired, two-sided),
Friedman chi-square; Holm's step-down correction and the Nemenyi critical difference are
computed here (the latter from scipy's studentized range distribution).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = [
    "Summary",
    "TestResult",
    "average_ranks",
    "best_ties",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "friedman",
    "holm",
    "mann_whitney",
    "nemenyi_cd",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "rank_matrix",
    "summarize",
    "wilcoxon_paired",
]


@dataclass(frozen=True, slots=True)
class Summary:
    """Descriptive statistics of one sample (NaNs dropped and counted in ``n_nan``).

    ``std`` uses ``ddof=1``; ``sem = std / sqrt(n)``; ``q25``/``q75`` are linear-interpolated
    quartiles (``iqr = q75 - q25``); ``ci_low``/``ci_high`` the percentile-bootstrap confidence
    interval of the mean.
    """

    n: int
    n_nan: int
    mean: float
    std: float
    sem: float
    median: float
    q25: float
    q75: float
    ci_low: float
    ci_high: float

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25


@dataclass(frozen=True, slots=True)
class TestResult:
    """A test's statistic and two-sided p-value (NaN when the test cannot be run), on ``n``
    observations (pairs, for paired tests)."""

    statistic: float
    pvalue: float
    n: int
    test: str


def _clean(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    return x[~np.isnan(x)]


def _resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """``(n_boot, n)`` how often each observation is drawn in each resample (the draws are
    ``rng.integers(0, n, (n_boot, n))``, as :func:`scipy.stats.bootstrap` draws them)."""
    idx = rng.integers(0, n, (n_boot, n))
    flat = idx + (np.arange(n_boot) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=n_boot * n).reshape(n_boot, n)


def _check_boot(n_boot: int, level: float) -> None:
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ValueError(f"n_boot must be an int >= 1, got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def bootstrap_ci(x: np.ndarray, rng: np.random.Generator, *, stat: str = "mean",
                 n_boot: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap ``level`` confidence interval of ``stat`` (``"mean"`` or
    ``"median"``) of the 1-D sample ``x`` (NaNs dropped).  Draws exactly what
    ``scipy.stats.bootstrap(..., method="percentile", rng=rng)`` draws, so both agree.
    Returns (NaN, NaN) for an empty sample."""
    _check_boot(n_boot, level)
    if stat not in ("mean", "median"):
        raise ValueError(f"stat must be 'mean' or 'median', got {stat!r}")
    x = _clean(x)
    if x.size == 0:
        return math.nan, math.nan
    idx = rng.integers(0, x.size, (n_boot, x.size))
    res = x[idx]
    theta = res.mean(axis=1) if stat == "mean" else np.median(res, axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.percentile(theta, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def bootstrap_mean_ci(x: np.ndarray, rng: np.random.Generator, *, n_boot: int = 2000,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap CI of the mean of every column of ``x`` ``(n, G)`` at once
    (rows = runs resampled together; NaNs of a column are left out of that column's mean).
    Returns ``(lo (G,), hi (G,))``.  For one column it equals :func:`bootstrap_ci`."""
    _check_boot(n_boot, level)
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (runs, grid), got shape {x.shape}")
    n, g = x.shape
    if n == 0:
        return np.full(g, np.nan), np.full(g, np.nan)
    counts = _resample_counts(rng, n, n_boot).astype(float)
    ok = ~np.isnan(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (counts @ np.where(ok, x, 0.0)) / (counts @ ok)
    alpha = (1 - level) / 2
    q = [100 * alpha, 100 * (1 - alpha)]
    if np.isnan(means).any():  # columns where some resamples hold no value at all
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanpercentile(means, q, axis=0)
    else:
        lo, hi = np.percentile(means, q, axis=0)
    return lo, hi


def summarize(x: np.ndarray, rng: np.random.Generator, *, n_boot: int = 2000,
              level: float = 0.95) -> Summary:
    """:class:`Summary` of the 1-D sample ``x`` (NaNs dropped and counted)."""
    raw = np.asarray(x, dtype=float).ravel()
    v = raw[~np.isnan(raw)]
    n = int(v.size)
    if n == 0:
        nan = math.nan
        return Summary(0, int(raw.size), nan, nan, nan, nan, nan, nan, nan, nan)
    std = float(v.std(ddof=1)) if n > 1 else math.nan
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    lo, hi = bootstrap_ci(v, rng, n_boot=n_boot, level=level)
    return Summary(n, int(raw.size - n), float(v.mean()), std,
                   std / math.sqrt(n) if n > 1 else math.nan,
                   float(med), float(q25), float(q75), lo, hi)


def wilcoxon_paired(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Two-sided Wilcoxon signed-rank test of ``a - b`` over paired observations (same seed).
    Pairs with a NaN are dropped; zero differences are dropped (scipy's default
    ``zero_method="wilcox"``), and ``n`` counts the pairs the test used: those with a non-zero
    difference.  If every difference is zero the samples are identical: statistic 0, p = 1,
    ``n = 0``."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same shape, got {a.shape} and {b.shape}")
    d = a - b
    d = d[~np.isnan(d)]
    n = int(np.count_nonzero(d))  # the pairs the test uses: zero differences are dropped
    if d.size == 0:
        return TestResult(math.nan, math.nan, 0, "wilcoxon")
    if n == 0:
        return TestResult(0.0, 1.0, 0, "wilcoxon")
    r = _st.wilcoxon(d)  # zero_method="wilcox": scipy drops the zeros itself
    return TestResult(float(r.statistic), float(r.pvalue), n, "wilcoxon")


def mann_whitney(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Two-sided Mann-Whitney U test (unpaired); the statistic is U of ``a``.  NaNs dropped."""
    a, b = _clean(a), _clean(b)
    if a.size == 0 or b.size == 0:
        return TestResult(math.nan, math.nan, int(a.size + b.size), "mannwhitneyu")
    r = _st.mannwhitneyu(a, b, alternative="two-sided")
    return TestResult(float(r.statistic), float(r.pvalue), int(a.size + b.size), "mannwhitneyu")


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control).  NaN p-values are left
    NaN and not counted in the family."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adj, 1.0)
    return out


def probability_of_improvement(a: np.ndarray, b: np.ndarray, *, maximize: bool = True) -> float:
    """P(a run of ``a`` is better than a run of ``b``) + ½ P(tie), over all pairs of runs
    (Agarwal et al., 2021).  Equals U/(n·m) of the Mann-Whitney test when maximising."""
    a, b = _clean(a), _clean(b)
    if a.size == 0 or b.size == 0:
        return math.nan
    if not maximize:
        a, b = -a, -b
    bs = np.sort(b)
    less = np.searchsorted(bs, a, side="left")
    leq = np.searchsorted(bs, a, side="right")
    return float((less.sum() + 0.5 * (leq - less).sum()) / (a.size * b.size))


def probability_of_improvement_ci(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, *,
                                  maximize: bool = True, n_boot: int = 1000,
                                  level: float = 0.95,
                                  paired: bool = False) -> tuple[float, float]:
    """Percentile-bootstrap CI of :func:`probability_of_improvement`.

    ``paired=False``: each sample is resampled on its own (independent runs).
    ``paired=True``: ``a[i]`` and ``b[i]`` are runs of the same seed (common random numbers:
    the same noise streams), so seeds are resampled jointly: each resample draws ``n`` seed
    indices ``rng.integers(0, n, (n_boot, n))`` and takes the pairs ``(a[j], b[j])``; within a
    resample NaNs are left out of each sample as in the point estimate."""
    _check_boot(n_boot, level)
    if paired:
        return _poi_ci_paired(np.asarray(a, dtype=float).ravel(),
                              np.asarray(b, dtype=float).ravel(), rng, maximize=maximize,
                              n_boot=n_boot, level=level)
    a, b = _clean(a), _clean(b)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    if not maximize:
        a, b = -a, -b
    # Both samples as counts over their pooled distinct values, per resample (B x m):
    # P(A>B) + 1/2 P(A=B) = sum_v countA(v) * (#B below v + 1/2 countB(v)) / (n_a n_b).
    support = np.unique(np.concatenate([a, b]))
    m = support.size
    counts = []
    for x in (a, b):
        pos = np.searchsorted(support, x)[rng.integers(0, x.size, (n_boot, x.size))]
        flat = pos + (np.arange(n_boot) * m)[:, None]
        counts.append(np.bincount(flat.ravel(), minlength=n_boot * m).reshape(n_boot, m))
    ca, cb = counts
    below = np.cumsum(cb, axis=1) - cb
    theta = (ca * (below + 0.5 * cb)).sum(axis=1) / (a.size * b.size)
    alpha = (1 - level) / 2
    lo, hi = np.percentile(theta, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def _poi_ci_paired(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, *, maximize: bool,
                   n_boot: int, level: float) -> tuple[float, float]:
    """:func:`probability_of_improvement_ci` with seeds resampled jointly (vectorised)."""
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same shape, got {a.shape} and "
                         f"{b.shape}")
    n = a.size
    ok_a, ok_b = ~np.isnan(a), ~np.isnan(b)
    if not ok_a.any() or not ok_b.any():
        return math.nan, math.nan
    if not maximize:
        a, b = -a, -b
    support = np.unique(np.concatenate([a[ok_a], b[ok_b]]))
    m = support.size
    idx = rng.integers(0, n, (n_boot, n))
    offset = (np.arange(n_boot) * (m + 1))[:, None]
    counts = []
    for x, ok in ((a, ok_a), (b, ok_b)):
        pos = np.where(ok, np.searchsorted(support, np.where(ok, x, support[0])), m)
        flat = pos[idx] + offset  # bin m: a NaN, left out
        c = np.bincount(flat.ravel(), minlength=n_boot * (m + 1)).reshape(n_boot, m + 1)
        counts.append(c[:, :m])
    ca, cb = counts
    below = np.cumsum(cb, axis=1) - cb
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = (ca * (below + 0.5 * cb)).sum(axis=1) / (ca.sum(axis=1) * cb.sum(axis=1))
    alpha = (1 - level) / 2
    if np.isnan(theta).any():  # resamples holding only NaNs on one side
        if np.isnan(theta).all():
            return math.nan, math.nan
        lo, hi = np.nanpercentile(theta, [100 * alpha, 100 * (1 - alpha)])
    else:
        lo, hi = np.percentile(theta, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def rank_matrix(values: np.ndarray, *, maximize: bool = True, axis: int = -1) -> np.ndarray:
    """Ranks (1 = best, ties get the average rank) of ``values`` along ``axis`` (the methods
    axis).  NaN counts as worse than every number."""
    v = np.asarray(values, dtype=float)
    v = v if maximize else -v
    v = np.where(np.isnan(v), -np.inf, v)
    return _st.rankdata(-v, axis=axis)


def average_ranks(values: np.ndarray, *, maximize: bool = True) -> np.ndarray:
    """``(k,)`` average rank of each method over the blocks of ``values`` ``(blocks, k)``."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be (blocks, methods), got shape {v.shape}")
    return rank_matrix(v, maximize=maximize, axis=1).mean(axis=0)


def friedman(values: np.ndarray) -> TestResult:
    """Friedman chi-square test over ``values`` ``(blocks, k)`` (k >= 3 methods; blocks = the
    seeds of one study, or across studies one block per study holding each method's mean over
    seeds, as in Demšar 2006); NaN result when it cannot be run."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be (blocks, methods), got shape {v.shape}")
    v = v[~np.isnan(v).any(axis=1)]
    n, k = v.shape
    if k < 3 or n < 2:
        return TestResult(math.nan, math.nan, int(n), "friedman")
    if np.all(v == v[:, :1]):
        return TestResult(0.0, 1.0, int(n), "friedman")
    r = _st.friedmanchisquare(*v.T)
    return TestResult(float(r.statistic), float(r.pvalue), int(n), "friedman")


def nemenyi_cd(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks for ``k`` methods over ``n_blocks`` blocks:
    ``q_alpha * sqrt(k (k+1) / (6 N))`` with ``q_alpha`` the studentized range quantile / √2
    (Demšar, 2006)."""
    if k < 2 or n_blocks < 1:
        raise ValueError(f"need k >= 2 methods and n_blocks >= 1, got k={k}, n={n_blocks}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    q = _st.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n_blocks)))


def best_ties(samples: dict[str, tuple[np.ndarray, np.ndarray]], *, maximize: bool = True,
              alpha: float = 0.05) -> set[str]:
    """Methods not significantly worse than the best one (best = best mean).

    ``samples``: method -> (seeds, values).  The best is compared with each other method by the
    Wilcoxon signed-rank test over shared seeds when at least 5 seeds are shared, otherwise by
    the Mann-Whitney U test; p-values are Holm-corrected over these comparisons; a method whose
    adjusted p >= ``alpha`` is tied with the best.  Returns the best and its ties.
    """
    means = {m: float(np.nanmean(v)) if np.any(~np.isnan(v)) else math.nan
             for m, (_, v) in samples.items()}
    valid = [m for m in means if not math.isnan(means[m])]
    if not valid:
        return set()
    best = max(valid, key=lambda m: means[m] if maximize else -means[m])
    others = [m for m in valid if m != best]
    ps = np.array([_compare(samples[best], samples[m]).pvalue for m in others])
    adj = holm(ps)
    return {best} | {m for m, p in zip(others, adj) if not p < alpha}


def _compare(x: tuple[np.ndarray, np.ndarray], y: tuple[np.ndarray, np.ndarray]) -> TestResult:
    """Paired Wilcoxon over shared seeds when >= 5 are shared, else Mann-Whitney U."""
    (sx, vx), (sy, vy) = x, y
    shared, ix, iy = np.intersect1d(sx, sy, return_indices=True)
    if shared.size >= 5:
        return wilcoxon_paired(vx[ix], vy[iy])
    return mann_whitney(vx, vy)
