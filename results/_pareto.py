"""Multi-objective results: per-run Pareto fronts, attainment surfaces, hypervolume curves and
their statistics, normalised by the true front of the table.

What a front is made of: a run's evaluations (``records.csv``) with the metrics the runner
recorded for each (``evals.csv``: ``record_metrics``); the objectives are the study's
objective (a VALIDATION metric) and those recorded metrics (cost metrics: params, FLOPs,
latency), each in its recorded direction.  **The fronts use the values the optimizer saw**
(the validation objective of the recorded training run that answered, as in the incumbent's
selection), so they measure search quality without test information; infeasible evaluations
(a run with ``constraints``) are left out of every front.  The test metric of the front
members is reported separately (:func:`members_test_hv`: the hypervolume of the members'
seed-mean test values against the table's true test front), never used to choose them.

Hypervolume: the dominated volume inside the box bounded by a reference point
(:func:`benchbench.pareto.hypervolume`).  **Reference point** (``reference="front"``, the
default): the true front's nadir pushed out by ``(nadir - ideal) / H`` in each objective,
``H`` = the number of distinct points of the true front minus 1 (Ishibuchi, Imada,
Setoguchi & Nojima, "How to specify a reference point in hypervolume calculation for fair
performance comparison", Evolutionary Computation 26(3), 2018: ``r = w + (w - i) / H`` for
a two-objective front of ``H + 1`` points), so the box covers the region of the front and
every true-front point counts; points beyond it count only for the part inside.
``reference="table"``: the worst value of each objective over every cell of the table (the
anti-ideal point), which makes every cell count but leaves every ratio near 1 (the box is
mostly dominated by any cell).  The true front's hypervolume is the most any run can reach
with seed-mean values (a run whose observed values are one training run's can exceed it
slightly: the winner's curse, which a ratio above 1 shows).

**Hypervolume ratio**: a run's hypervolume divided by the hypervolume of the true front
(every cell of the table, seed-mean values at the study's report fidelity, computed
exactly), both with that reference point; 1 = the true front found.  The ratio does not
depend on the units of the objectives.

Attainment (Fonseca & Fleming 1996; López-Ibáñez, Paquete & Stützle 2010, "Exploratory
analysis of stochastic local search algorithms in biobjective optimization"): the
``k/n``-attainment surface of ``n`` runs is the boundary of the points that at least ``k`` of
the runs' fronts weakly dominate; the median attainment surface (``k = ceil(n/2)``) is the
"typical" front of a method.  Computed exactly for two objectives
(:func:`attainment_surface`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchbench._run import parse_constraint
from benchbench.pareto import (
    hypervolume,
    hypervolume_2d_curve,
    nondominated_mask,
    to_minimize,
)
from benchbench.store import EXTRAS_FILE, StudyStore
from benchbench.trial import EXTRA_FIELDS, EXTRA_METRIC_PREFIX
from results._stats import (
    bootstrap_mean_ci,
    holm,
    probability_of_improvement,
    probability_of_improvement_ci,
    summarize,
    wilcoxon_paired,
)
from results._store import Study
from results._tables import Table, fmt, fmt_pm

__all__ = ["REFERENCES", "MORun", "MOStudy", "TrueFront", "attainment_surface", "hv_curves",
           "hypervolume_table", "infeasible_counts", "load_mo_study", "members_test_hv",
           "pareto_front", "plot_fronts", "plot_hv_curves", "true_front"]


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class MORun:
    """One run's evaluations with every objective.

    Attributes:
        seed: run seed.
        values: ``(n, k)`` the objectives of each evaluation as the optimizer saw them
            (column 0: the study's validation objective; then the recorded metrics), in their
            own units and directions.
        feasible: ``(n,)`` bool, whether the evaluation met every constraint.
        arch_id: ``(n,)`` str, the evaluated cells.
        sim_time_s: ``(n,)`` simulated clock after each evaluation.
    """

    seed: int
    values: np.ndarray
    feasible: np.ndarray
    arch_id: np.ndarray
    sim_time_s: np.ndarray

    @property
    def n_infeasible(self) -> int:
        return int((~self.feasible).sum())


@dataclass(frozen=True)
class MOStudy:
    """A study's runs with every objective (:func:`load_mo_study`).

    Attributes:
        study: the loaded study.
        objectives: objective names, the study's objective first.
        maximize: their directions.
        runs: algorithm -> its runs, by ascending seed.
    """

    study: Study
    objectives: tuple[str, ...]
    maximize: tuple[bool, ...]
    runs: dict[str, list[MORun]] = field(default_factory=dict)

    def minimised(self, run: MORun) -> np.ndarray:
        """``(n, k)`` the run's values with every objective minimised, NaN rows for
        infeasible evaluations (they belong to no front)."""
        F = to_minimize(run.values, self.maximize)
        F[~run.feasible] = np.nan
        return F


def load_mo_study(study: Study, objectives: Sequence[str] | None = None) -> MOStudy:
    """Every run's evaluations of ``study`` with the objectives ``objectives`` (default: the
    study's objective and every metric the runs recorded, ``search.record_metrics``).

    Raises:
        ValueError: the study recorded no metric besides its objective, or a named objective
            is not recorded (one line naming it and what is).
    """
    spec = study.spec
    search = spec.get("search") or {}
    recorded = list(search.get("record_metrics") or [])
    for c in search.get("constraints") or []:  # the runner records constrained metrics too
        name = parse_constraint(c).metric
        if name not in recorded:
            recorded.append(name)
    names = [study.objective, *recorded] if objectives is None else list(objectives)
    if names[0] != study.objective:
        names = [study.objective, *[n for n in names if n != study.objective]]
    missing = [n for n in names[1:] if n not in recorded]
    if missing:
        raise ValueError(f"objectives {missing} were not recorded by the study at "
                         f"{str(study.path)!r}; recorded: {recorded or 'none'} (run it with "
                         f"--record-metric)")
    if len(names) < 2:
        raise ValueError(f"the study at {str(study.path)!r} recorded no metric besides its "
                         f"objective {study.objective!r}: run it with --record-metric "
                         f"(e.g. params) for a multi-objective analysis")
    store = StudyStore(study.path)
    maximize = [study.maximize] + [store.maximize(n, spec) for n in names[1:]]
    recs = study.records()
    groups = recs.groupby(["algorithm", "seed"], sort=False).indices
    objective = recs["objective"].to_numpy(float)
    arch = recs["arch_id"].to_numpy(str)
    clock = recs["sim_time_s"].to_numpy(float)
    out: dict[str, list[MORun]] = {}
    for alg, files in study._files.items():
        runs = []
        for ld in files:
            seed = ld.run.seed if ld.run.seed is not None else -1
            rows = groups.get((alg, seed), np.empty(0, dtype=np.int64))
            feasible, metrics = _read_extras(ld.run.path / EXTRAS_FILE, names[1:],
                                             ld.run.rel)
            if len(feasible) != len(rows):
                raise ValueError(f"{ld.run.rel}: evals.csv has {len(feasible)} rows for "
                                 f"{len(rows)} evaluations")
            vals = np.column_stack([objective[rows], metrics])
            runs.append(MORun(int(seed), vals, feasible, arch[rows], clock[rows]))
        out[alg] = runs
    return MOStudy(study, tuple(names), tuple(maximize), out)


def _read_extras(path: Path, names: Sequence[str], rel: str) -> tuple[np.ndarray, np.ndarray]:
    """``feasible (n,)`` and the metric columns ``(n, len(names))`` of a run's ``evals.csv``
    (the columns :meth:`benchbench.store.StudyStore.read_extras` reads, parsed directly: a
    study of thousands of runs loads in seconds)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        raise ValueError(f"{rel}: no evals.csv (the run recorded no metrics)") from None
    head = lines[0].split(",") if lines else []
    if tuple(head[:len(EXTRA_FIELDS)]) != EXTRA_FIELDS:
        raise ValueError(f"{rel}: corrupt evals.csv (header {head[:len(EXTRA_FIELDS)]})")
    try:
        cols = [head.index(EXTRA_METRIC_PREFIX + n) for n in names]
    except ValueError:
        raise ValueError(f"{rel}: evals.csv lacks a column of {list(names)}") from None
    f_col = head.index("feasible")
    rows = [ln.split(",") for ln in lines[1:] if ln]
    feasible = np.array([r[f_col] in ("1", "True", "true") for r in rows], dtype=bool)
    metrics = np.array([[float(r[c]) if r[c] else np.nan for c in cols] for r in rows],
                       dtype=np.float64).reshape(len(rows), len(cols))
    return feasible, metrics


@dataclass(frozen=True)
class TrueFront:
    """The exact Pareto front of a table (every cell, seed-mean values).

    Attributes:
        objectives, maximize: as :class:`MOStudy`.
        points: ``(m, k)`` the front's values (own directions), sorted by the first objective.
        arch_ids: ``(m,)`` its cells.
        ref: ``(k,)`` the reference point, minimised form (see the module docstring).
        hv: the front's hypervolume at ``ref`` (minimised form).
        n_cells: cells of the table with every objective.
    """

    objectives: tuple[str, ...]
    maximize: tuple[bool, ...]
    points: np.ndarray
    arch_ids: np.ndarray
    ref: np.ndarray
    hv: float
    n_cells: int


def _table_values(bench: Any, dataset: str, names: Sequence[str], fidelity: int | None
                  ) -> tuple[np.ndarray, list[str]]:
    """``(A, k)`` seed-mean values of every cell and the cells' ids."""
    fid = fidelity if fidelity is not None else bench.fidelity(dataset).max
    if hasattr(bench, "values") and hasattr(bench, "arch_ids"):
        cols = [np.asarray(bench.values(dataset, n, epoch=fid), dtype=float) for n in names]
        return np.column_stack(cols), list(bench.arch_ids())
    space = bench.space
    idx = np.arange(space.size)
    batch = bench.query_many(idx, dataset=dataset, fidelity=fid)
    ids = [space.arch_id(space.from_index(int(i))) for i in idx]
    return np.column_stack([np.asarray(batch.values[n], float) for n in names]), ids


#: Reference point choices of :func:`true_front`, the default first.
REFERENCES = ("front", "table")


def true_front(bench: Any, dataset: str, objectives: Sequence[str], maximize: Sequence[bool],
               *, fidelity: int | None = None, reference: str = "front") -> TrueFront:
    """The table's exact front of ``objectives`` on ``dataset`` at ``fidelity`` (default: the
    table's highest) and the reference point (see the module docstring): ``reference=
    "front"`` (default) or ``"table"``."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    vals, ids = _table_values(bench, dataset, objectives, fidelity)
    F = to_minimize(vals, maximize)
    ok = ~np.isnan(F).any(axis=1)
    if not ok.any():
        raise ValueError(f"no cell of {bench.name!r} has every objective {list(objectives)} "
                         f"on {dataset!r}")
    nd = nondominated_mask(F)
    if reference == "table":
        ref = F[ok].max(axis=0)
    else:
        nadir, ideal = F[nd].max(axis=0), F[nd].min(axis=0)
        h = max(1, len(np.unique(F[nd], axis=0)) - 1)  # distinct points of the front
        ref = nadir + np.where(nadir > ideal, (nadir - ideal) / h, 1e-9 * (1 + abs(nadir)))
    order = np.argsort(F[nd, 0], kind="stable")
    pts = vals[nd][order]
    hv = hypervolume(F[nd], ref)
    return TrueFront(tuple(objectives), tuple(bool(m) for m in maximize), pts,
                     np.asarray(ids, dtype=object)[nd][order].astype(str), ref, hv,
                     int(ok.sum()))


def pareto_front(values: np.ndarray, maximize: Sequence[bool],
                 feasible: np.ndarray | None = None) -> np.ndarray:
    """``(n,)`` bool: the evaluations on the Pareto front of ``values`` ``(n, k)`` (own
    directions; infeasible and NaN rows never are)."""
    F = to_minimize(values, maximize)
    if feasible is not None:
        F[~np.asarray(feasible, bool)] = np.nan
    return nondominated_mask(F)


# ------------------------------------------------------------------- hypervolume
def _hv_running(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume after each row of ``F`` (minimised; NaN rows add nothing)."""
    if F.shape[1] == 2:
        return hypervolume_2d_curve(F, ref)
    out = np.zeros(F.shape[0])
    for i in range(F.shape[0]):
        out[i] = hypervolume(F[:i + 1], ref)
    return out


def hv_curves(mo: MOStudy, ref: np.ndarray, norm: float, *, axis: str = "evals",
              grid: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Hypervolume (divided by ``norm``: the true front's for a ratio, 1 for raw values)
    of every run after each evaluation (``axis="evals"``; grid 1..L) or at each simulated
    second of ``grid`` (``axis="time"``; a run's value at ``t`` is that of the
    evaluations finished by ``t``, 0 before the first).  After a run's last evaluation its
    value stays.  Returns ``(grid, {algorithm: (n_runs, G)})``."""
    if axis not in ("evals", "time"):
        raise ValueError(f"axis must be 'evals' or 'time', got {axis!r}")
    runs = {a: [(r, _hv_running(mo.minimised(r), ref) / norm) for r in rs]
            for a, rs in mo.runs.items()}
    if axis == "evals":
        width = max((len(r.values) for rs in mo.runs.values() for r in rs), default=0)
        g = np.arange(1, width + 1) if grid is None else np.asarray(grid, dtype=np.int64)
        out = {}
        for a, rs in runs.items():
            arr = np.full((len(rs), g.size), np.nan)
            for i, (_, c) in enumerate(rs):
                if len(c):
                    arr[i] = c[np.minimum(g - 1, len(c) - 1)]
            out[a] = arr
        return g, out
    if grid is None:
        ends = [r.sim_time_s[-1] for rs in mo.runs.values() for r in rs if len(r.sim_time_s)]
        starts = [r.sim_time_s[0] for rs in mo.runs.values() for r in rs if len(r.sim_time_s)]
        lo = max(min(starts, default=1.0), 1e-9)
        hi = max(max(ends, default=1.0), lo * (1 + 1e-9))
        grid = np.geomspace(lo, hi, 100)
    g = np.asarray(grid, dtype=float)
    out = {}
    for a, rs in runs.items():
        arr = np.zeros((len(rs), g.size))
        for i, (r, c) in enumerate(rs):
            pos = np.searchsorted(r.sim_time_s, g, side="right") - 1
            ok = pos >= 0
            arr[i, ok] = c[pos[ok]]
        out[a] = arr
    return g, out


def final_hv(mo: MOStudy, ref: np.ndarray, norm: float) -> dict[str, tuple[np.ndarray,
                                                                          np.ndarray]]:
    """algorithm -> (seeds ``(n,)``, final hypervolume / ``norm`` ``(n,)``)."""
    return {a: (np.array([r.seed for r in rs], dtype=np.int64),
                np.array([hypervolume(mo.minimised(r), ref) / norm for r in rs]))
            for a, rs in mo.runs.items()}


def members_test_hv(mo: MOStudy, bench: Any, test_metric: str, *,
                    fidelity: int | None = None) -> tuple[dict[str, np.ndarray], TrueFront]:
    """The test side, for reporting only: each run's front is chosen by what the optimizer
    saw (validation), then its members are given their seed-mean ``test_metric`` (and the
    same cost metrics) from ``bench``; the hypervolume of those points divided by that of the
    table's true (test, cost) front, at that front's reference point.  Returns
    (algorithm -> ``(n_runs,)`` ratios, the test front)."""
    st = mo.study
    names = (test_metric, *mo.objectives[1:])
    maxi = (st.maximize_test, *mo.maximize[1:])
    tf = true_front(bench, st.dataset, names, maxi, fidelity=fidelity)
    vals, ids = _table_values(bench, st.dataset, names, fidelity)
    row = {a: i for i, a in enumerate(ids)}
    F_all = to_minimize(vals, maxi)
    out = {}
    for a, rs in mo.runs.items():
        ratios = []
        for r in rs:
            on = pareto_front(r.values, mo.maximize, r.feasible)
            rows = [row[x] for x in set(r.arch_id[on].tolist()) if x in row]
            ratios.append(hypervolume(F_all[rows], tf.ref) / tf.hv if rows else 0.0)
        out[a] = np.array(ratios)
    return out, tf


# -------------------------------------------------------------------- attainment
def attainment_surface(fronts: Sequence[np.ndarray], level: float = 0.5) -> np.ndarray:
    """The ``level``-attainment surface of the 2-objective point sets ``fronts`` (each
    ``(n_i, 2)``, minimised; NaN rows ignored): the staircase ``(m, 2)`` of the points that
    at least ``ceil(level * len(fronts))`` of the sets weakly dominate (its corner points,
    sorted by the first objective).  ``level=0.5``: the median attainment surface; ``1.0``:
    the worst (attained by every run); ``1 / n``: the best (the union's front)."""
    if not fronts:
        raise ValueError("no point sets to attain")
    if not 0 < level <= 1:
        raise ValueError(f"level must be in (0, 1], got {level!r}")
    n = len(fronts)
    k = max(1, math.ceil(level * n - 1e-12))
    sets = []
    for f in fronts:
        f = np.asarray(f, dtype=float)
        if f.ndim != 2 or f.shape[1] != 2:
            raise ValueError(f"attainment_surface needs (n, 2) point sets, got {f.shape}")
        f = f[~np.isnan(f).any(axis=1)]
        f = f[np.argsort(f[:, 0], kind="stable")]
        sets.append((f[:, 0], np.minimum.accumulate(f[:, 1]) if len(f) else f[:, 1]))
    xs = np.unique(np.concatenate([s[0] for s in sets]))
    if xs.size == 0:
        return np.empty((0, 2))
    g = np.full((n, xs.size), np.inf)  # best f2 of each set with f1 <= x
    for i, (x, y) in enumerate(sets):
        if x.size:
            pos = np.searchsorted(x, xs, side="right") - 1
            ok = pos >= 0
            g[i, ok] = y[pos[ok]]
    ys = np.sort(g, axis=0)[k - 1]
    ok = np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    keep = np.concatenate(([True], ys[1:] < ys[:-1])) if ys.size else ys.astype(bool)
    return np.column_stack((xs[keep], ys[keep]))


# ------------------------------------------------------------------------ tables
def hypervolume_table(mo: MOStudy, tf: TrueFront | None, *, bootstrap_seed: int = 0,
                      n_boot: int = 2000, test: Mapping[str, np.ndarray] | None = None
                      ) -> Table:
    """Final hypervolume ratio per method (the fronts use the VALIDATION objective the
    optimizer saw; see the module docstring): mean ± std, median [IQR], bootstrap 95% CI,
    front size, infeasible evaluations; then every pair of methods: Wilcoxon signed-rank
    over shared seeds (Holm-corrected) and P(A > B) with a seed-bootstrap CI; ``test``: the
    front members' test hypervolume ratio (:func:`members_test_hv`), reported separately.
    Without a true front (``tf=None``) the raw hypervolume at the reference point of the
    values seen in the study is reported and the note says so."""
    from results._analysis import study_rng

    st = mo.study
    if tf is not None:
        ref, norm, what = tf.ref, tf.hv, "hypervolume ratio (run / true front)"
    else:
        allF = np.vstack([mo.minimised(r) for rs in mo.runs.values() for r in rs])
        ref = np.nanmax(allF, axis=0)
        norm, what = 1.0, "hypervolume (no true front: reference = worst value seen)"
    fv = final_hv(mo, ref, norm)
    cols = ["Method", "runs", "mean ± std", "median [IQR]", "95% CI", "front size",
            "infeasible / run"]
    if test is not None:
        cols.append("test HV ratio (front members)")
    rows, recs = [], []
    for a, (_, v) in fv.items():
        s = summarize(v, study_rng(bootstrap_seed, st, "hv", a), n_boot=n_boot)
        fronts = [int(pareto_front(r.values, mo.maximize, r.feasible).sum())
                  for r in mo.runs[a]]
        infeas = [r.n_infeasible for r in mo.runs[a]]
        row = [a, str(len(v)), fmt_pm(s.mean, s.std, 4),
               f"{fmt(s.median, 4)} [{fmt(s.q25, 4)}, {fmt(s.q75, 4)}]",
               f"[{fmt(s.ci_low, 4)}, {fmt(s.ci_high, 4)}]",
               fmt(float(np.mean(fronts)), 1), fmt(float(np.mean(infeas)), 1)]
        rec: dict[str, Any] = {"algorithm": a, "runs": len(v), "hv_mean": s.mean,
                               "hv_std": s.std, "hv_median": s.median, "hv_q25": s.q25,
                               "hv_q75": s.q75, "hv_ci_low": s.ci_low, "hv_ci_high": s.ci_high,
                               "front_size_mean": float(np.mean(fronts)),
                               "infeasible_mean": float(np.mean(infeas))}
        if test is not None:
            t = test[a]
            row.append(fmt_pm(float(np.mean(t)), float(np.std(t, ddof=1)) if len(t) > 1
                              else math.nan, 4))
            rec["test_hv_mean"] = float(np.mean(t))
        rows.append(row)
        recs.append(rec)
    pair_rows = []
    pairs = [(a, b) for i, a in enumerate(fv) for b in list(fv)[i + 1:]]
    res = []
    for a, b in pairs:
        (sa, va), (sb, vb) = fv[a], fv[b]
        shared, ia, ib = np.intersect1d(sa, sb, return_indices=True)
        w = wilcoxon_paired(va[ia], vb[ib])
        poi = probability_of_improvement(va[ia], vb[ib], maximize=True)
        lo, hi = probability_of_improvement_ci(
            va[ia], vb[ib], study_rng(bootstrap_seed, st, "hv-poi", a, b), maximize=True,
            n_boot=max(200, n_boot // 2), paired=True)
        res.append((a, b, shared.size, w, poi, lo, hi,
                    float(np.mean(va[ia] - vb[ib])) if shared.size else math.nan))
    adj = holm(np.array([r[3].pvalue for r in res])) if res else np.empty(0)
    for (a, b, n, w, poi, lo, hi, d), p in zip(res, adj):
        pair_rows.append(f"{a} vs {b}: {n} shared seeds, mean diff {fmt(d, 4)}, Wilcoxon "
                         f"p={w.pvalue:.2g} (Holm {p:.2g}), P(A>B)={fmt(poi, 2)} "
                         f"[{fmt(lo, 2)}, {fmt(hi, 2)}]")
        recs.append({"algorithm": f"{a} vs {b}", "shared_seeds": n, "mean_diff": d,
                     "wilcoxon_p": w.pvalue, "wilcoxon_p_holm": float(p),
                     "prob_improvement": poi, "poi_ci_low": lo, "poi_ci_high": hi})
    objs = ", ".join(f"{n} ({'max' if m else 'min'})" for n, m in
                     zip(mo.objectives, mo.maximize))
    ref_text = ", ".join(f"{n} {fmt(-x if m else x, 4)}" for n, m, x in
                         zip(mo.objectives, mo.maximize, ref))
    note = (f"Final {what}, per run, on objectives {objs}. Fronts: the VALIDATION objective "
            f"the optimizer saw ({st.objective}) and the recorded metrics; infeasible "
            f"evaluations are in no front. Reference point: {ref_text}"
            + (" (the true front's nadir pushed out by (nadir - ideal) / (front size - 1), "
               "Ishibuchi et al. 2018, unless the table's anti-ideal point was asked); the true "
               f"front has {len(tf.points)} cells of {tf.n_cells}, hypervolume "
               f"{tf.hv:.6g} (minimised units)." if tf is not None else ".")
            + f" 95% CI: percentile bootstrap of the mean ({n_boot} resamples). "
            + ("Test HV ratio: the members of each run's validation front, at their seed-mean "
               f"{st.test_metric} (TEST split, reporting only), against the table's true "
               f"test front. " if test is not None else "")
            + "Pairs (Wilcoxon signed-rank over shared seeds, two-sided, Holm-corrected; "
              "P(A>B) with a seed-bootstrap 95% CI): " + ("; ".join(pair_rows) or "none")
            + ".")
    return Table(f"Hypervolume on {st.label}", cols, rows, data=pd.DataFrame(recs), note=note)


# ----------------------------------------------------------------------- figures
def plot_fronts(mo: MOStudy, tf: TrueFront | None, stem: Path, *,
                formats: Sequence[str] = ("png",), levels: Sequence[float] = (0.5,)
                ) -> list[Path]:
    """Each method's attainment surfaces (median by default; 2 objectives: the study's
    objective and the first recorded metric) against the table's true front."""
    from results._plots import _figure, _save, style

    if len(mo.objectives) != 2:
        raise ValueError(f"plot_fronts draws two objectives, the study has {mo.objectives}")
    fig = _figure(figsize=(6.0, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    sign = np.where(np.asarray(mo.maximize), -1.0, 1.0)
    if tf is not None:
        ax.step(tf.points[:, 1], tf.points[:, 0], where="post", color="0.6", lw=3,
                label=f"true front ({len(tf.points)} cells)")
    for i, (a, rs) in enumerate(mo.runs.items()):
        st = style(i)
        for level in levels:
            s = attainment_surface([mo.minimised(r) for r in rs], level) * sign
            if len(s):
                ax.step(s[:, 1], s[:, 0], where="post", color=st["color"],
                        linestyle=st["linestyle"], marker=st["marker"], markersize=3,
                        label=f"{a} ({int(level * 100)}% attainment, {len(rs)} runs)")
    ax.set_xlabel(f"{mo.objectives[1]} ({'max' if mo.maximize[1] else 'min'})")
    ax.set_ylabel(f"{mo.objectives[0]} ({'max' if mo.maximize[0] else 'min'}, validation as "
                  f"seen)")
    ax.set_title(f"{mo.study.label}: attainment surfaces vs the true front", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, stem, formats)


def plot_hv_curves(mo: MOStudy, ref: np.ndarray, norm: float, stem: Path, *,
                   formats: Sequence[str] = ("png",), seed: int = 0, n_boot: int = 1000,
                   ylabel: str = "hypervolume ratio") -> list[Path]:
    """Hypervolume (ratio) over evaluations and over simulated time: mean over runs with a
    95% bootstrap band."""
    from results._analysis import study_rng
    from results._plots import Band, Panel, plot_anytime

    panels = []
    for axis in ("evals", "time"):
        grid, curves = hv_curves(mo, ref, norm, axis=axis)
        bands = {}
        for a, v in curves.items():
            lo, hi = bootstrap_mean_ci(v, study_rng(seed, mo.study, "hv", a, axis),
                                       n_boot=n_boot)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                bands[a] = Band(np.nanmean(v, axis=0), lo, hi)
        g = grid / 3600 if axis == "time" else grid
        panels.append(Panel("evaluations" if axis == "evals" else "simulated time (hours)",
                            g, bands, ylabel))
    return plot_anytime(panels, stem, xlabel="evaluations | simulated hours", formats=formats,
                        suptitle=f"{mo.study.label}: {ylabel} (mean, 95% bootstrap CI)")


def open_study_benchmark(study: Study) -> Any | None:
    """The study's benchmark opened by its recorded name when its data checksum matches
    (for the true front), else ``None``."""
    from benchbench.registry import open_benchmark

    info = study.spec.get("benchmark") or {}
    try:
        bench = open_benchmark(str(info.get("name")))
    except Exception:  # not found here: the report says the true front is unavailable
        return None
    if bench.describe().data_sha256 != info.get("data_sha256"):
        return None
    return bench


def report_section(w: Any, study: Study, seed: int, n_boot: int, figures: bool) -> None:
    """The multi-objective part of a study's report (studies run with ``record_metrics``):
    the hypervolume table (validation fronts; the front members' test values separately),
    and the fronts and hypervolume figures.  ``w`` is the report's writer."""
    try:
        mo = load_mo_study(study)
    except ValueError as e:
        w.add(f"> Note: no multi-objective analysis: {e}", "")
        return
    if not any(mo.runs.values()):
        return
    bench = open_study_benchmark(study)
    tf = test = None
    if bench is not None:
        try:
            tf = true_front(bench, study.dataset, mo.objectives, mo.maximize,
                            fidelity=study.report_fidelity)
            if study.test_metric:
                test, _ = members_test_hv(mo, bench, study.test_metric,
                                        fidelity=study.report_fidelity)
        except Exception as e:  # a benchmark without the values: report without the front
            w.add(f"> Note: the true front is unavailable ({type(e).__name__}: {e}).", "")
            tf = test = None
    slug = "".join(c if c.isalnum() or c in "._-" else "_" for c in study.label)
    w.add(f"### Multi-objective: {', '.join(mo.objectives)}", "")
    if tf is None:
        w.add("> Note: the benchmark could not be opened here with the same data checksum, "
              "so there is no true front: raw hypervolumes are reported.", "")
    w.table(hypervolume_table(mo, tf, bootstrap_seed=seed, n_boot=n_boot, test=test),
            f"hypervolume_{slug}")
    if not figures:
        return
    fdir = w.out / "figures"
    if len(mo.objectives) == 2:
        w.figure(plot_fronts(mo, tf, fdir / f"fronts_{slug}", formats=w.formats),
                 f"{study.label}: median attainment surface of each method (validation as "
                 f"seen) against the table's true front")
    if tf is not None:
        ref, norm, label = tf.ref, tf.hv, "hypervolume ratio"
    else:
        allF = np.vstack([mo.minimised(r) for rs in mo.runs.values() for r in rs])
        ref, norm, label = np.nanmax(allF, axis=0), 1.0, "hypervolume"
    w.figure(plot_hv_curves(mo, ref, norm, fdir / f"hv_{slug}", formats=w.formats, seed=seed,
                            n_boot=max(200, n_boot // 2), ylabel=label),
             f"{study.label}: {label} over evaluations and simulated time (mean, 95% "
             f"bootstrap CI)")


def infeasible_counts(study: Study) -> dict[str, np.ndarray]:
    """algorithm -> ``(n_runs,)`` infeasible evaluations of each loaded run (the manifests'
    ``result["n_infeasible"]``; 0 for a run without constraints), by ascending seed."""
    store = StudyStore(study.path)
    out = {}
    for alg, files in study._files.items():
        counts = []
        for ld in files:
            _, man = store.read_manifest(ld.run)
            counts.append(int((man.get("result") or {}).get("n_infeasible") or 0))
        out[alg] = np.array(counts, dtype=np.int64)
    return out
