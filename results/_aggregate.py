"""Anytime curves on a common grid, final values and regret against the true optimum.

Conventions: ``metric="valid"`` is the incumbent's value of the study's objective (a
validation metric; the incumbent is the best configuration by the validation objective the
optimizer observed), ``metric="test"`` the same incumbent's test-metric value (for reporting
only).  ``source`` says which value: ``"reported"`` (default) what the study's tables report,
:meth:`Study.source` — the held-out value (mean over the incumbent's recorded runs that did not
select it) when the study has one, else the seed mean; ``"heldout"`` or ``"seed_mean"``
(mean over every recorded run, including the selecting one) explicitly.  After a run's last
evaluation its value stays at its final value; before its first evaluation completes (time
axis) it is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from results._store import HELDOUT, SEED_MEAN, AlgorithmRuns, Study

__all__ = ["Curves", "anytime", "final_values", "regret", "resolve_source", "time_grid"]

MetricName = Literal["valid", "test"]
AxisName = Literal["evals", "time"]
SourceName = Literal["reported", "heldout", "seed_mean"]


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def resolve_source(study: Study, metric: str, source: str = "reported") -> str:
    """``source`` as :data:`~results._store.HELDOUT` or :data:`~results._store.SEED_MEAN`
    (``"reported"``: :meth:`Study.source` of ``metric``)."""
    _check("source", source, ("reported", HELDOUT, SEED_MEAN))
    return study.source(metric) if source == "reported" else source


@dataclass(frozen=True)
class Curves:
    """Anytime values of every algorithm of a study on one common grid.

    Attributes:
        axis: ``"evals"`` (grid = number of evaluations, 1..L) or ``"time"`` (grid =
            simulated seconds).
        metric: ``"valid"`` or ``"test"`` (see the module docstring).
        grid: ``(G,)`` grid points.
        source: ``"heldout"`` or ``"seed_mean"``: which value of the incumbent (see the
            module docstring).
        values: algorithm -> ``(n_runs, G)`` values (raw metric, or regret after
            :meth:`to_regret`).
        seeds: algorithm -> ``(n_runs,)`` run seeds, aligned with the rows of ``values``.
        kind: ``"value"``, ``"regret"`` or ``"normalised regret"``.
    """

    axis: str
    metric: str
    grid: np.ndarray
    values: dict[str, np.ndarray]
    seeds: dict[str, np.ndarray]
    kind: str = "value"
    source: str = SEED_MEAN

    def to_regret(self, optimum: float, *, maximize: bool, normalised: bool = True) -> Curves:
        """These curves as (normalised) regret against the benchmark's true ``optimum``.

        ``maximize`` is the direction of this curve's own metric:
        ``study.maximizes(curves.metric)`` (the test metric's may differ from the
        objective's)."""
        if self.kind != "value":
            raise ValueError(f"curves are already {self.kind!r}")
        vals = {a: regret(v, optimum, maximize=maximize, normalised=normalised)
                for a, v in self.values.items()}
        return Curves(self.axis, self.metric, self.grid, vals, self.seeds,
                      "normalised regret" if normalised else "regret", self.source)


def regret(values: np.ndarray, optimum: float, *, maximize: bool,
           normalised: bool = True) -> np.ndarray:
    """Regret of ``values`` against the benchmark's true ``optimum`` (never against the best of
    the compared methods): ``optimum - value`` when maximising, ``value - optimum`` when
    minimising, in the metric's unit (e.g. accuracy points); ``normalised`` divides by
    ``|optimum|`` (relative regret, unitless).  NaN in, NaN out; a NaN optimum gives NaN.
    """
    v = np.asarray(values, dtype=float)
    r = (optimum - v) if maximize else (v - optimum)
    if normalised:
        r = r / abs(optimum) if optimum != 0 else np.full_like(r, math.nan)
    return r


def _metric_array(runs: AlgorithmRuns, metric: str, source: str = SEED_MEAN) -> np.ndarray:
    return runs.values(metric, source)


def time_grid(study: Study, n_points: int = 100) -> np.ndarray:
    """``(n_points,)`` log-spaced simulated seconds from the moment every run has finished its
    first evaluation (so that every run has an incumbent at every grid point and no mean is
    taken over a survivor subset) to the time budget (or, without one, the longest run's
    simulated time)."""
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    firsts = [r.sim_time_s[:, 0] for r in study.runs.values() if r.n]
    lasts = [r.final_sim_time_s for r in study.runs.values() if r.n]
    if not firsts:
        return np.empty(0)
    lo = float(np.nanmax(np.concatenate(firsts)))
    hi = study.budget.get("max_seconds") or float(np.nanmax(np.concatenate(lasts)))
    lo = max(lo, 1e-9)
    hi = max(float(hi), lo * (1 + 1e-9))
    return np.geomspace(lo, hi, n_points)


def anytime(study: Study, *, metric: MetricName = "valid", axis: AxisName = "evals",
            grid: np.ndarray | None = None, n_points: int = 100,
            source: SourceName = "reported") -> Curves:
    """Every run's incumbent value on a common grid.

    Args:
        metric: ``"valid"`` or ``"test"``.
        source: ``"reported"``, ``"heldout"`` or ``"seed_mean"`` (see the module docstring).
        axis: ``"evals"``: value after 1, 2, ..., L evaluations (L = the most any run made, or
            ``grid``); ``"time"``: value at each simulated second of ``grid`` (default
            :func:`time_grid` with ``n_points``).
    """
    _check("metric", metric, ("valid", "test"))
    _check("axis", axis, ("evals", "time"))
    src = resolve_source(study, metric, source)
    values: dict[str, np.ndarray] = {}
    if axis == "evals":
        if grid is None:
            width = max((r.valid.shape[1] for r in study.runs.values()), default=0)
            grid = np.arange(1, width + 1)
        grid = np.asarray(grid, dtype=np.int64)
        if grid.size and grid.min() < 1:
            raise ValueError(f"evaluation grid must start at >= 1, got {grid.min()}")
        for a, r in study.runs.items():
            col = np.minimum(grid[None, :] - 1, r.n_evals[:, None] - 1)
            col = np.minimum(col, r.valid.shape[1] - 1)
            values[a] = np.take_along_axis(_metric_array(r, metric, src), col, axis=1)
    else:
        grid = time_grid(study, n_points) if grid is None else np.asarray(grid, dtype=float)
        for a, r in study.runs.items():
            m = _metric_array(r, metric, src)
            out = np.full((r.n, grid.size), np.nan)
            for i in range(r.n):
                k = int(r.n_evals[i])
                pos = np.searchsorted(r.sim_time_s[i, :k], grid, side="right") - 1
                ok = pos >= 0
                out[i, ok] = m[i, pos[ok]]
            values[a] = out
    return Curves(axis, metric, np.asarray(grid), values,
                  {a: r.seeds for a, r in study.runs.items()}, source=src)


def final_values(study: Study, metric: MetricName = "valid", source: SourceName = "reported"
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """algorithm -> (seeds ``(n,)``, final incumbent's ``metric`` value ``(n,)`` from
    ``source``: by default what the study reports, :meth:`Study.source`)."""
    _check("metric", metric, ("valid", "test"))
    src = resolve_source(study, metric, source)
    return {a: (r.seeds, r.final(metric, src)) for a, r in study.runs.items()}
