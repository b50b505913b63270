"""Pareto dominance, non-dominated sorting, crowding distance and hypervolume (numpy).

Shared by the multi-objective optimizers (:mod:`algorithms._multiobjective`) and the results
layer (:mod:`results._pareto`), which may not import each other.  Every function takes a
matrix ``F`` of shape ``(n, k)`` (``n`` points, ``k`` objectives) in which **every objective
is minimised**: turn a maximised objective into a minimised one with :func:`to_minimize`.

Dominance is Pareto's: ``a`` dominates ``b`` when ``a <= b`` in every objective and
``a < b`` in at least one.  Equal points do not dominate each other, so duplicates are all
non-dominated (and share a rank).  Rows holding a NaN take part in nothing: they are never
non-dominated, get rank ``-1`` and add no hypervolume.

When the optional ``moocore`` package is installed (``pip install 'benchbench[pareto]'``),
:func:`hypervolume` with three or more objectives uses its exact code (Fonseca, López-Ibáñez
et al.) and :func:`nondominated_mask` hands it large sets, where it is faster
(``benchmarks/bench_multiobjective.py`` prints both side by side); the hypervolume after every
evaluation of a run (:func:`hypervolume_2d_curve`, incremental) and everything else is
computed here.  The numpy fallback for ``k >= 3`` is
the exact "hypervolume by slicing objectives" recursion (While et al., IEEE TEC 10(1), 2006),
fine for the fronts of a NAS run (tens of points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["crowding_distance", "hypervolume", "hypervolume_2d_curve", "nondominated_mask",
           "pareto_ranks", "to_minimize"]


def to_minimize(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """``values`` ``(n, k)`` as a float matrix in which every objective is minimised (the
    columns with ``maximize[j]`` true are negated)."""
    F = np.array(values, dtype=np.float64, copy=True, ndmin=2)
    if F.ndim != 2 or F.shape[1] != len(maximize):
        raise ValueError(f"values must be (n, {len(maximize)}), got shape {F.shape}")
    signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    F *= signs
    return F


def _check(F: np.ndarray) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise ValueError(f"F must be 2-D (points, objectives), got shape {F.shape}")
    return F


#: From these sizes on, :func:`nondominated_mask` hands the work to moocore when installed
#: (measured in ``benchmarks/bench_multiobjective.py``: below them numpy is as fast).
_MOOCORE_FROM = {2: 2000, 3: 64}


def nondominated_mask(F: np.ndarray, *, backend: str = "auto") -> np.ndarray:
    """``(n,)`` bool: the rows of ``F`` (minimised) that no other row dominates (NaN rows:
    False).  ``backend``: ``"auto"`` (moocore's ``is_nondominated(keep_weakly=True)`` for
    large sets when installed, else numpy), ``"numpy"`` or ``"moocore"``."""
    F = _check(F)
    if backend not in ("auto", "numpy", "moocore"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'moocore', got {backend!r}")
    n, k = F.shape
    ok = ~np.isnan(F).any(axis=1)
    out = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out
    G = F[idx]
    if k >= 2 and (backend == "moocore" or (
            backend == "auto" and idx.size >= _MOOCORE_FROM.get(k, 64))):
        try:
            import moocore
        except ImportError:
            if backend == "moocore":
                raise ImportError("backend='moocore' needs the moocore package: "
                                  "pip install 'benchbench[pareto]'") from None
        else:
            out[idx] = np.asarray(moocore.is_nondominated(G, keep_weakly=True), dtype=bool)
            return out
    if k == 1:
        out[idx[G[:, 0] == G[:, 0].min()]] = True
        return out
    if k == 2:
        # sort by f1, then f2; a point is non-dominated iff its f2 is below the running
        # minimum of f2 over the points with a smaller f1 (or equal to it, for duplicates)
        order = np.lexsort((G[:, 1], G[:, 0]))
        f1, f2 = G[order, 0], G[order, 1]
        keep = np.zeros(idx.size, dtype=bool)
        best = np.inf
        i = 0
        m = idx.size
        while i < m:  # groups of equal f1: only the group's smallest f2 (and its copies)
            j = i
            while j < m and f1[j] == f1[i]:
                j += 1
            lo = f2[i]
            if lo < best:
                keep[i:j] = f2[i:j] == lo
                best = lo
            i = j
        out[idx[order[keep]]] = True
        return out
    # k >= 3: blockwise pairwise comparison
    keep = np.ones(idx.size, dtype=bool)
    for s in range(0, idx.size, 512):
        blk = G[s:s + 512]
        le = np.all(G[None, :, :] <= blk[:, None, :], axis=2)
        lt = np.any(G[None, :, :] < blk[:, None, :], axis=2)
        keep[s:s + 512] = ~np.any(le & lt, axis=1)
    out[idx[keep]] = True
    return out


def pareto_ranks(F: np.ndarray) -> np.ndarray:
    """``(n,)`` int64 non-domination rank of every row (0: the non-dominated front, 1: the
    front once rank 0 is removed, ...; NSGA-II's fast non-dominated sort, Deb et al., IEEE TEC
    6(2), 2002, Sec. III-A, computed by peeling fronts); NaN rows get ``-1``."""
    F = _check(F)
    ranks = np.full(F.shape[0], -1, dtype=np.int64)
    left = np.flatnonzero(~np.isnan(F).any(axis=1))
    r = 0
    while left.size:
        m = nondominated_mask(F[left])
        ranks[left[m]] = r
        left = left[~m]
        r += 1
    return ranks


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """``(n,)`` NSGA-II crowding distance of the rows of ``F`` (one front; Deb et al. 2002,
    Sec. III-B, Fig. 3): for each objective the rows are sorted, the two boundary rows get
    ``inf`` and every other row adds ``(f[next] - f[previous]) / (f_max - f_min)``; an
    objective with ``f_max == f_min`` adds nothing.  Rows of equal values are sorted by
    position (a stable sort), as a deterministic tie-break."""
    F = _check(F)
    n, k = F.shape
    d = np.zeros(n)
    if n <= 2:
        d[:] = np.inf
        return d
    for j in range(k):
        order = np.argsort(F[:, j], kind="stable")
        f = F[order, j]
        span = f[-1] - f[0]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (f[2:] - f[:-2]) / span
    return d


def _hv2d(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume of the rows of ``F`` strictly inside ``ref`` (no NaN)."""
    order = np.lexsort((F[:, 1], F[:, 0]))
    f1, f2 = F[order, 0], F[order, 1]
    best = np.minimum.accumulate(f2)
    # staircase: each point whose f2 improves the running minimum opens a strip up to the
    # next such point's f1 (the last one up to ref[0])
    step = np.concatenate(([True], best[1:] < best[:-1]))
    x, y = f1[step], best[step]
    widths = np.diff(np.concatenate((x, [ref[0]])))
    return float(np.sum(widths * (ref[1] - y)))


def _hv_slicing(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by slicing the last objective (While et al. 2006), any ``k``."""
    k = F.shape[1]
    if F.shape[0] == 0:
        return 0.0
    if k == 1:
        return float(ref[0] - F[:, 0].min())
    if k == 2:
        return _hv2d(F, ref)
    order = np.argsort(F[:, -1], kind="stable")
    G = F[order]
    total = 0.0
    for i in range(G.shape[0]):
        top = G[i + 1, -1] if i + 1 < G.shape[0] else ref[-1]
        depth = top - G[i, -1]
        if depth <= 0:
            continue
        sl = G[:i + 1, :-1]
        sl = sl[nondominated_mask(sl)]
        total += depth * _hv_slicing(sl, ref[:-1])
    return total


def hypervolume(F: np.ndarray, ref: Sequence[float] | np.ndarray, *,
                backend: str = "auto") -> float:
    """The hypervolume (Lebesgue measure) that the rows of ``F`` (minimised) dominate inside
    the box bounded by the reference point ``ref`` ``(k,)``.

    Only rows strictly better than ``ref`` in every objective count (a row on or beyond the
    reference point adds nothing); NaN rows are ignored.  ``backend``: ``"auto"`` (numpy for
    ``k <= 2``, moocore for ``k >= 3`` when installed), ``"numpy"`` or ``"moocore"``.
    """
    F = _check(F)
    r = np.asarray(ref, dtype=np.float64).ravel()
    if r.size != F.shape[1]:
        raise ValueError(f"ref has {r.size} values, F has {F.shape[1]} objectives")
    if not np.isfinite(r).all():
        raise ValueError(f"ref must be finite, got {r.tolist()}")
    if backend not in ("auto", "numpy", "moocore"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'moocore', got {backend!r}")
    ok = ~np.isnan(F).any(axis=1)
    F = F[ok]
    F = F[(r > F).all(axis=1)]
    if F.shape[0] == 0:
        return 0.0
    k = F.shape[1]
    use_moocore = backend == "moocore" or (backend == "auto" and k >= 3)
    if use_moocore:
        try:
            import moocore
        except ImportError:
            if backend == "moocore":
                raise ImportError("backend='moocore' needs the moocore package: "
                                  "pip install 'benchbench[pareto]'") from None
        else:
            return float(moocore.hypervolume(F, ref=r))
    if k >= 3:
        F = F[nondominated_mask(F)]
    return _hv_slicing(F, r)


def hypervolume_2d_curve(F: np.ndarray, ref: Sequence[float] | np.ndarray) -> np.ndarray:
    """``(n,)`` the 2-D hypervolume of the first ``i + 1`` rows of ``F`` for every ``i``
    (the hypervolume after each evaluation of a run, in order), computed incrementally and
    exactly; NaN rows and rows not strictly inside ``ref`` add nothing."""
    F = _check(F)
    if F.shape[1] != 2:
        raise ValueError(f"hypervolume_2d_curve needs 2 objectives, got {F.shape[1]}")
    r = np.asarray(ref, dtype=np.float64).ravel()
    out = np.zeros(F.shape[0])
    xs: list[float] = []  # the front, sorted by f1 ascending (so f2 descending)
    ys: list[float] = []
    hv = 0.0
    import bisect

    for i, (a, b) in enumerate(F.tolist()):
        if a < r[0] and b < r[1]:  # False for NaN
            j = bisect.bisect_left(xs, a)  # xs[:j] < a <= xs[j:]
            # weakly dominated by the point on its left, or by one of equal f1?
            if not ((j > 0 and ys[j - 1] <= b) or (j < len(xs) and xs[j] == a
                                                    and ys[j] <= b)):
                # the points it dominates: those from j on with f2 >= b
                m = j
                while m < len(xs) and ys[m] >= b:
                    m += 1
                # area gained = area of the new point's box minus what the front held there
                right = xs[m] if m < len(xs) else r[0]
                upper = ys[j - 1] if j > 0 else r[1]
                gain = (right - a) * (upper - b)
                # subtract the part already covered by the removed points
                for t in range(j, m):
                    nxt = xs[t + 1] if t + 1 < len(xs) else r[0]
                    gain -= (nxt - xs[t]) * (upper - ys[t])
                hv += gain
                xs[j:m] = [a]
                ys[j:m] = [b]
        out[i] = hv
    return out
