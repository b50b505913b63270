"""Anytime regret against the simulated wall clock (studies run with simulated parallel
workers), time to reach a regret, and the speed-up from more workers.

A study run with ``--workers-simulated K`` records, for every evaluation, its simulated
*finish* time as ``sim_time_s`` (the wall clock of a cluster of ``K`` workers, not the sum of
the evaluations' costs); the incumbent at time ``t`` is the best among the evaluations that
finished by ``t``.  These helpers read those records through :mod:`results._aggregate`, so a
sequential study (``K = 1``) is read the same way (there the clock is the sum of costs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from results._aggregate import anytime
from results._stats import bootstrap_mean_ci
from results._store import Study

__all__ = ["SimTimeCurve", "plot_simtime", "regret_vs_simtime", "sim_workers",
           "sim_workers_text", "time_to_regret"]


def sim_workers(study: Study) -> tuple[int, str]:
    """``(K, mode)`` of the study's simulated workers (``(1, "async")`` for a sequential
    study or one written before they existed)."""
    search = study.spec.get("search")
    if not isinstance(search, dict):
        return 1, "async"
    return int(search.get("sim_workers", 1)), str(search.get("sim_mode", "async"))


def sim_workers_text(study: Study) -> str:
    """"4 simulated workers (async)" or "" for a sequential study."""
    k, mode = sim_workers(study)
    if k == 1:
        return ""
    how = ("each asks for its next trial as soon as it is free" if mode == "async"
           else "batches of K trials, the next batch starts when the slowest is back")
    return (f"{k} simulated workers ({mode}: {how}); the time axis is the simulated wall "
            f"clock (each evaluation's finish time), not the sum of the costs")


@dataclass(frozen=True)
class SimTimeCurve:
    """Mean regret of each method on a grid of simulated seconds, with its 95% percentile-
    bootstrap CI over runs.  ``values[m]`` is ``(runs, G)`` (NaN before a run's first
    incumbent); ``mean`` / ``lo`` / ``hi`` are ``(G,)``."""

    grid: np.ndarray
    values: Mapping[str, np.ndarray]
    mean: Mapping[str, np.ndarray]
    lo: Mapping[str, np.ndarray]
    hi: Mapping[str, np.ndarray]
    metric: str
    normalised: bool


def regret_vs_simtime(study: Study, *, grid: np.ndarray | None = None, metric: str = "valid",
                      source: str = "seed_mean", normalised: bool = False, n_points: int = 50,
                      n_boot: int = 1000, seed: int = 0) -> SimTimeCurve:
    """Regret of the incumbent against the benchmark's true optimum (never against the
    methods compared) at each simulated second of ``grid`` (default: ``n_points`` log-spaced
    points up to the time budget), per method, with bootstrap CIs across runs.

    Args:
        metric: ``"valid"`` (the objective) or ``"test"``.
        source: which incumbent value (``"seed_mean"``, ``"heldout"``, ``"reported"``).
        normalised: divide by ``|optimum|`` (else in the metric's unit, e.g. accuracy
            points).
    """
    c = anytime(study, metric=metric, axis="time", grid=grid, n_points=n_points,  # type: ignore[arg-type]
                source=source)  # type: ignore[arg-type]
    opt = study.optimum("objective" if metric == "valid" else "test_metric")
    if math.isnan(opt):
        raise ValueError(f"study {study.label!r} records no optimum of its {metric} metric: "
                         f"regret needs the benchmark's true optimum")
    r = c.to_regret(opt, maximize=study.maximizes(metric), normalised=normalised)
    rng = np.random.default_rng(seed)
    mean, lo, hi = {}, {}, {}
    for m, v in r.values.items():
        with np.errstate(all="ignore"):
            ok = ~np.isnan(v)
            mean[m] = np.where(ok.any(axis=0), np.nansum(v, axis=0) / np.maximum(ok.sum(0), 1),
                               np.nan)
        lo[m], hi[m] = bootstrap_mean_ci(v, rng, n_boot=n_boot)
    return SimTimeCurve(np.asarray(r.grid, dtype=float), dict(r.values), mean, lo, hi, metric,
                        normalised)


def time_to_regret(study: Study, target: float, *, metric: str = "valid",
                   source: str = "seed_mean", normalised: bool = False) -> dict[str, np.ndarray]:
    """Per method, per run: the first simulated second at which the incumbent's regret is
    ``<= target`` (``+inf`` if never within the run)."""
    opt = study.optimum("objective" if metric == "valid" else "test_metric")
    maximize = study.maximizes(metric)
    out: dict[str, np.ndarray] = {}
    for a, r in study.runs.items():
        vals = r.values(metric, study.source(metric) if source == "reported" else source)
        reg = (opt - vals) if maximize else (vals - opt)
        if normalised:
            reg = reg / abs(opt)
        t = np.full(r.n, np.inf)
        for i in range(r.n):
            k = int(r.n_evals[i])
            hit = np.flatnonzero(reg[i, :k] <= target + 1e-12)
            if hit.size:
                t[i] = float(r.sim_time_s[i, hit[0]])
        out[a] = t
    return out


def plot_simtime(curves: Sequence[tuple[str, SimTimeCurve]], stem: Path, *,
                 formats: Sequence[str] = ("png",), hours: bool = True,
                 title: str | None = None) -> list[Path]:
    """One panel per ``(title, curve)``: mean regret against simulated wall clock with its
    CI band, per method (log x; log y when every mean is positive)."""
    from results._plots import Band, Panel, plot_anytime

    panels = []
    for name, c in curves:
        scale = 3600.0 if hours else 1.0
        bands = {m: Band(c.mean[m], c.lo[m], c.hi[m]) for m in c.mean}
        positive = all(np.all(b.mean[~np.isnan(b.mean)] > 0) for b in bands.values())
        unit = "normalised regret" if c.normalised else f"regret ({c.metric})"
        panels.append(Panel(name, c.grid / scale, bands, unit, logy=positive))
    kw: dict[str, Any] = {"suptitle": title} if title else {}
    return plot_anytime(panels, stem, xlabel=f"simulated wall clock ({'hours' if hours else 's'})",
                        xlog=True, formats=formats, **kw)
