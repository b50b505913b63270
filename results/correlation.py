"""How well do zero-cost proxies rank architectures?  Rank correlations with bootstrap CIs,
top-k overlap, a scatter plot per proxy and a proxy x dataset heatmap.

Conventions:

* Correlations are **signed**: a proxy that ranks architectures backwards gets a negative
  rho / tau.  Parts of the literature report absolute values (e.g. NAS-Bench-Suite-Zero's
  plots; Abdelfattah et al. 2021 report signed values, where all proxies they list happen to
  be positive on NB201); compare signs before comparing numbers.
* NaN scores (or targets) are **not** replaced: the pair is left out and counted (``n_nan``);
  ``+inf`` / ``-inf`` scores are kept and rank above / below every finite score (counted in
  ``n_inf``).  With several seeds per cell the score is the seed mean (NaN if any seed is NaN).
* Top-k% overlap: of the ``ceil(k * n)`` best cells by the target, the fraction that are also
  among the ``ceil(k * n)`` best by the proxy.
* Bootstrap: ``n_boot`` resamples of the cells with replacement, percentile interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["PUBLISHED", "Correlation", "correlate", "correlate_scores", "plot_heatmap",
           "plot_scatter", "published_spearman", "score_matrix", "targets_from_benchmark"]

#: Published Spearman rho on NB201, all 15,625 cells, validation accuracy (Abdelfattah et al.,
#: "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, Table 2; signed, batch 128 of real data).
PUBLISHED: dict[str, dict[str, float]] = {
    "cifar10": {"grad_norm": 0.58, "snip": 0.58, "grasp": 0.48, "fisher": 0.36,
                "synflow": 0.74, "jacob_cov": 0.73},
    "cifar100": {"grad_norm": 0.64, "snip": 0.63, "grasp": 0.54, "fisher": 0.39,
                 "synflow": 0.76, "jacob_cov": 0.71},
    "ImageNet16-120": {"grad_norm": 0.58, "snip": 0.58, "grasp": 0.56, "fisher": 0.33,
                       "synflow": 0.75, "jacob_cov": 0.71},
}
#: Proxies whose definition in a past implementation of this code (the ``implementation``
#: a score folder records) is not the one :data:`PUBLISHED` refers to: implementation 1's
#: ``fisher`` counted each channel once (now the variant ``fisher_channel``).
_NOT_PUBLISHED_DEFINITION: dict[str, frozenset[str]] = {"1": frozenset({"fisher"})}


def published_spearman(proxy: str, dataset: str, implementation: str | None = None) -> float:
    """The published signed Spearman rho (:data:`PUBLISHED`) to print beside ``proxy``'s on
    ``dataset`` (``-valid`` ignored), NaN when none applies.

    Attached by name only: a named variant (e.g. ``fisher_channel``, see
    :data:`algorithms.proxies.VARIANTS`) has none.  ``implementation``: the one recorded in
    the score folder (:class:`algorithms.proxies.ScoreConfig`; ``"naslib"`` for imported
    NASLib scores); a proxy whose definition in that implementation differs from the
    published one (implementation ``"1"``: ``fisher``) has none either."""
    if proxy in _NOT_PUBLISHED_DEFINITION.get(str(implementation), frozenset()):
        return math.nan
    return PUBLISHED.get(dataset.replace("-valid", ""), {}).get(proxy, math.nan)


@dataclass(frozen=True, slots=True)
class Correlation:
    """Agreement of one proxy with one target metric.

    Attributes:
        proxy: proxy name.
        n: cells used (finite target, non-NaN score); ``n_nan``: cells left out for a NaN
            score or target; ``n_inf``: cells kept with an infinite score.
        spearman, kendall: signed rank correlations (``kendall`` is tau-b); NaN when
            ``n < 3``.
        spearman_lo, spearman_hi, kendall_lo, kendall_hi: bootstrap percentile interval.
        top_k: the ``k`` of the overlap (a fraction, e.g. 0.1); ``top_k_overlap`` in [0, 1].
    """

    proxy: str
    n: int
    n_nan: int
    n_inf: int
    spearman: float
    spearman_lo: float
    spearman_hi: float
    kendall: float
    kendall_lo: float
    kendall_hi: float
    top_k: float
    top_k_overlap: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (inf sorts as a value)."""
    return stats.rankdata(x, axis=-1)


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ra, rb = _ranks(a), _ranks(b)
    ra = ra - ra.mean(-1, keepdims=True)
    rb = rb - rb.mean(-1, keepdims=True)
    den = np.sqrt((ra**2).sum(-1) * (rb**2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(-1) / den


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    # ranks first, so that +-inf scores take part as the extremes
    return float(stats.kendalltau(_ranks(a), _ranks(b)).statistic)


def correlate(scores: Sequence[float] | np.ndarray, targets: Sequence[float] | np.ndarray, *,
              proxy: str = "", top_k: float = 0.1, n_boot: int = 1000,
              rng: np.random.Generator | None = None) -> Correlation:
    """Rank agreement of ``scores`` (larger = predicted better) with ``targets`` (larger =
    better, e.g. validation accuracy; negate a loss first).

    Args:
        scores, targets: shape ``(n,)``, aligned.
        top_k: fraction for the top-k overlap, in ``(0, 1]``.
        n_boot: bootstrap resamples (0: no intervals, they are NaN).
        rng: generator of the resamples (required when ``n_boot > 0``).
    """
    s = np.asarray(scores, dtype=float)
    t = np.asarray(targets, dtype=float)
    if s.shape != t.shape or s.ndim != 1:
        raise ValueError(f"scores and targets must be 1-d of equal length, got {s.shape} and "
                         f"{t.shape}")
    if not 0 < top_k <= 1:
        raise ValueError(f"top_k must be a fraction in (0, 1], got {top_k!r}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    if n_boot and rng is None:
        raise ValueError("rng (a numpy Generator) is required for bootstrap intervals")
    keep = ~np.isnan(s) & np.isfinite(t)
    n_nan = int((~keep).sum())
    s, t = s[keep], t[keep]
    n = len(s)
    nan = math.nan
    if n < 3:
        return Correlation(proxy, n, n_nan, int(np.isinf(s).sum()), nan, nan, nan, nan, nan,
                           nan, top_k, nan)
    rho = float(_spearman_rows(s, t))
    tau = _kendall(s, t)
    k = max(1, math.ceil(top_k * n))
    top_t = set(np.argsort(-t, kind="stable")[:k].tolist())
    top_s = set(np.argsort(-_ranks(s), kind="stable")[:k].tolist())
    overlap = len(top_t & top_s) / k
    lo_hi = [nan] * 4
    if n_boot:
        assert rng is not None  # checked above
        idx = rng.integers(0, n, size=(n_boot, n))
        rhos = _spearman_rows(s[idx], t[idx])
        taus = np.array([_kendall(s[i], t[i]) for i in idx])
        lo_hi = [*np.nanpercentile(rhos, [2.5, 97.5]), *np.nanpercentile(taus, [2.5, 97.5])]
    return Correlation(proxy, n, n_nan, int(np.isinf(s).sum()), rho, float(lo_hi[0]),
                       float(lo_hi[1]), tau, float(lo_hi[2]), float(lo_hi[3]), top_k, overlap)


def score_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores in long form (columns ``arch_id, seed, proxy, value``) -> one row per cell, one
    column per proxy: the mean over seeds (NaN if any seed is NaN; infinities kept)."""
    need = {"arch_id", "seed", "proxy", "value"}
    if not need <= set(scores.columns):
        raise ValueError(f"scores need columns {sorted(need)}, got {list(scores.columns)}")
    g = scores.groupby(["arch_id", "proxy"], sort=False)["value"]
    mean = g.apply(lambda v: float(np.mean(v.to_numpy())))  # np.mean keeps NaN
    return mean.unstack("proxy")


def targets_from_benchmark(benchmark: Any, arch_ids: Sequence[str], *, dataset: str,
                           metric: str, fidelity: int | None = None) -> np.ndarray:
    """Seed-mean ``metric`` of each cell on ``dataset`` (any :class:`~benchbench.Benchmark`),
    at ``fidelity`` (epochs; ``None``: the benchmark's maximum), oriented larger-is-better (a
    minimised metric is negated).  Shape ``(n,)``, aligned with ``arch_ids``.

    Cells are queried by index when the benchmark's space is enumerable (fast) and by their
    canonical id otherwise (e.g. DARTS), so the targets are keyed by arch id either way."""
    from benchbench.spaces import is_enumerable

    m = benchmark.metric(dataset, metric)
    ids = list(arch_ids)
    archs: Any = benchmark.space.indices(ids) if is_enumerable(benchmark.space) else ids
    vals = np.asarray(benchmark.query_many(archs, dataset=dataset, fidelity=fidelity)[metric],
                      dtype=float)
    if vals.shape != (len(ids),):
        raise ValueError(f"benchmark {getattr(benchmark, 'name', benchmark)!r} answered "
                         f"{vals.shape[0] if vals.ndim else 0} values of {metric!r} for "
                         f"{len(ids)} arch ids")
    return vals if m.direction.value == "max" else -vals


def correlate_scores(scores: pd.DataFrame, targets: Mapping[str, float] | pd.Series, *,
                     proxies: Sequence[str] | None = None, top_k: float = 0.1,
                     n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per proxy (the fields of :class:`Correlation`) for long-form ``scores``
    against ``targets`` (``arch_id -> value``, larger is better).  Cells without a target are
    left out; the bootstrap of each proxy uses ``make_rng(seed, "bootstrap", proxy)``."""
    from benchbench.rng import make_rng

    mat = score_matrix(scores)
    tgt = pd.Series(targets, dtype=float)
    common = [a for a in mat.index if a in tgt.index]
    if not common:
        raise ValueError("no scored cell has a target value (are the arch ids of the scores "
                         "and of the targets of the same space?)")
    names = list(mat.columns) if proxies is None else list(proxies)
    rows = []
    for p in names:
        if p not in mat.columns:
            raise ValueError(f"no scores for proxy {p!r}; scored: {list(mat.columns)}")
        c = correlate(mat.loc[common, p].to_numpy(), tgt.loc[common].to_numpy(), proxy=p,
                      top_k=top_k, n_boot=n_boot, rng=make_rng(seed, "bootstrap", p))
        rows.append(c.to_dict())
    return pd.DataFrame(rows)


def _figure(**kw: Any) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'benchbench[plot]'") from e
    return Figure(**kw)


def plot_scatter(scores: pd.DataFrame, targets: Mapping[str, float] | pd.Series,
                 out_dir: str | Path, *, target_label: str = "target",
                 proxies: Sequence[str] | None = None, fmt: str = "png") -> list[Path]:
    """One scatter plot per proxy (score vs target, finite scores only; the title gives
    rho, tau and how many NaN / inf scores were left out of the plot).  Returns the paths."""
    mat = score_matrix(scores)
    tgt = pd.Series(targets, dtype=float)
    common = [a for a in mat.index if a in tgt.index]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in (list(mat.columns) if proxies is None else proxies):
        s = mat.loc[common, p].to_numpy(dtype=float)
        t = tgt.loc[common].to_numpy()
        c = correlate(s, t, proxy=p, n_boot=0)
        ok = np.isfinite(s) & np.isfinite(t)
        fig = _figure(figsize=(4, 3.2), layout="constrained")
        ax = fig.add_subplot()
        ax.scatter(s[ok], t[ok], s=6, alpha=0.6, color="#0072B2", linewidths=0)
        if ok.any() and np.all(s[ok] > 0) and s[ok].max() / max(s[ok].min(), 1e-300) > 1e3:
            ax.set_xscale("log")
        ax.set_xlabel(p)
        ax.set_ylabel(target_label)
        ax.set_title(f"rho={c.spearman:.3f} tau={c.kendall:.3f} (n={c.n}, NaN={c.n_nan}, "
                     f"inf={c.n_inf})", fontsize=8)
        path = out / f"scatter_{p}.{fmt}"
        fig.savefig(path, dpi=150)
        paths.append(path)
    return paths


def plot_heatmap(table: pd.DataFrame, path: str | Path, *, value: str = "spearman",
                 title: str = "") -> Path:
    """Proxy x dataset heatmap of ``value`` (signed, diverging colours in [-1, 1]).

    ``table`` has columns ``proxy``, ``dataset`` and ``value`` (e.g. several
    :func:`correlate_scores` outputs concatenated with a ``dataset`` column)."""
    piv = table.pivot_table(index="proxy", columns="dataset", values=value, aggfunc="first")
    piv = piv.reindex(index=list(dict.fromkeys(table["proxy"])),
                      columns=list(dict.fromkeys(table["dataset"])))  # keep the given order
    fig = _figure(figsize=(1.6 + 1.2 * piv.shape[1], 0.8 + 0.35 * piv.shape[0]),
                  layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(piv.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(piv.shape[1]), [str(c) for c in piv.columns])
    ax.set_yticks(range(piv.shape[0]), [str(i) for i in piv.index])
    for (i, j), v in np.ndenumerate(piv.to_numpy(dtype=float)):
        ax.text(j, i, "nan" if np.isnan(v) else f"{v:.2f}", ha="center", va="center",
                fontsize=7, color="white" if abs(v) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label=f"{value} (signed)")
    if title:
        ax.set_title(title)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=150)
    return p
