"""From loaded studies to the statistics and tables a NAS paper reports.

All bootstrap draws come from ``make_rng(bootstrap_seed, "results", <study>, <method>, ...)``,
so a report is reproducible and adding a method does not change another method's intervals.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchbench.rng import make_rng
from results._aggregate import Curves, anytime, final_values, regret
from results._stats import (
    Summary,
    average_ranks,
    best_ties,
    friedman,
    holm,
    mann_whitney,
    nemenyi_cd,
    probability_of_improvement,
    probability_of_improvement_ci,
    rank_matrix,
    summarize,
    wilcoxon_paired,
)
from results._store import AlgorithmRuns, Study
from results._tables import Table, fmt, fmt_pm

__all__ = ["RankResult", "compute_table", "final_table", "nb201_table", "pairwise_table",
           "rank_result", "rank_table", "rank_over_time", "shared_matrix", "skipped_table",
           "study_rng", "summary_frame", "transfer_table"]

METRICS = (("valid", "Validation"), ("test", "Test"))
ALPHA = 0.05
_BOLD_NOTE = ("Bold: best mean per column and every method not significantly different from it "
              "(Wilcoxon signed-rank over shared seeds, or Mann-Whitney U when fewer than 5 "
              "seeds are shared; Holm-corrected, α = 0.05).")


def study_rng(seed: int, study: Study, *path: object) -> np.random.Generator:
    """The bootstrap generator for one study and purpose (see the module docstring)."""
    return make_rng(seed, "results", study.label, *path)


def _summaries(study: Study, metric: str, seed: int, n_boot: int) -> dict[str, Summary]:
    return {a: summarize(v, study_rng(seed, study, a, metric), n_boot=n_boot)
            for a, (_, v) in final_values(study, metric).items()}


def final_table(study: Study, *, bootstrap_seed: int = 0, n_boot: int = 2000,
                digits: int = 2) -> Table:
    """Final incumbent per method: validation and test mean ± std, ± standard error, median
    [IQR], bootstrap 95% CI of the mean, and mean normalised regret (× 100, against the
    benchmark's true optimum)."""
    algs = list(study.runs)
    cols = ["Method", "n"]
    groups: list[tuple[str, int]] = [("", 1), ("", 1)]
    for _, title in METRICS:
        cols += ["mean ± std", "± s.e.", "median [IQR]", "95% CI"]
        groups.append((title, 4))
    cols += ["valid", "test"]
    groups.append(("Norm. regret × 100", 2))
    rows: list[list[str]] = [[] for _ in algs]
    bold = np.zeros((len(algs), len(cols)), dtype=bool)
    records: list[dict[str, float | str]] = [{"algorithm": a} for a in algs]
    for m, (metric, _) in enumerate(METRICS):
        sm = _summaries(study, metric, bootstrap_seed, n_boot)
        maximize = study.maximizes(metric)
        ties = best_ties(final_values(study, metric), maximize=maximize)
        opt = study.optimum("objective" if metric == "valid" else "test_metric")
        for i, a in enumerate(algs):
            s = sm[a]
            if m == 0:
                rows[i] += [a, str(s.n)]
                records[i]["n"] = s.n
                records[i]["n_nan"] = s.n_nan
            rows[i] += [fmt_pm(s.mean, s.std, digits), f"± {fmt(s.sem, digits + 1)}",
                        f"{fmt(s.median, digits)} [{fmt(s.q25, digits)}, {fmt(s.q75, digits)}]",
                        f"[{fmt(s.ci_low, digits)}, {fmt(s.ci_high, digits)}]"]
            if a in ties:
                bold[i, 2 + 4 * m] = True
                bold[i, 2 + 4 * len(METRICS) + m] = True
            for k in ("mean", "std", "sem", "median", "q25", "q75", "ci_low", "ci_high"):
                records[i][f"{metric}_{k}"] = getattr(s, k)
            v = final_values(study, metric)[a][1]
            records[i][f"{metric}_regret_mean"] = float(np.nanmean(
                regret(v, opt, maximize=maximize, normalised=False))) if s.n else math.nan
            records[i][f"{metric}_norm_regret_mean"] = float(np.nanmean(
                regret(v, opt, maximize=maximize))) if s.n else math.nan
    for i in range(len(algs)):
        rows[i] += [fmt(100 * float(records[i][f"{m}_norm_regret_mean"]), 3) for m, _ in METRICS]
    budget = study.budget
    note = (f"{_BOLD_NOTE} Incumbent chosen by the observed validation objective "
            f"({study.objective}); its seed-mean {study.objective} and {study.test_metric} are "
            f"reported ({_direction_text(study)}). Budget: {_budget_text(budget)}. 95% CI: "
            f"percentile bootstrap of the mean ({n_boot} resamples, seed {bootstrap_seed}). "
            f"Regret against the benchmark's optimum ({fmt(study.optimum(), 3)} / "
            f"{fmt(study.optimum('test_metric'), 3)}).")
    return Table(f"Final results on {study.label}", cols, rows, bold, pd.DataFrame(records),
                 groups, note=note)


def _direction_text(study: Study) -> str:
    """E.g. "valid_acc maximised, test_loss minimised": each metric by its own direction."""
    parts = [f"{study.objective} {'maximised' if study.maximize else 'minimised'}"]
    if study.test_metric:
        parts.append(f"{study.test_metric} "
                     f"{'maximised' if study.maximize_test else 'minimised'}")
    return ", ".join(parts)


def _budget_text(budget: dict) -> str:
    parts = []
    if budget.get("max_evals"):
        parts.append(f"{budget['max_evals']} evaluations")
    if budget.get("max_seconds"):
        parts.append(f"{budget['max_seconds'] / 3600:.4g} simulated hours")
    return " and ".join(parts) or "unknown"


def pairwise_table(study: Study, *, bootstrap_seed: int = 0, n_boot: int = 1000) -> Table:
    """Every pair of methods on the final validation and test values: mean difference over
    shared seeds, Wilcoxon signed-rank (paired) and Mann-Whitney U (unpaired) p-values, each
    Holm-corrected across all comparisons of its metric, and the probability of improvement
    P(A better than B) with a bootstrap 95% CI."""
    cols = ["Metric", "A", "B", "shared seeds", "mean A−B", "Wilcoxon p", "Holm p",
            "MWU p", "Holm p", "P(A>B) [95% CI]"]
    rows, recs = [], []
    bold_rows: list[tuple[int, int]] = []
    for metric, title in METRICS:
        fv = final_values(study, metric)
        maximize = study.maximizes(metric)
        pairs = list(itertools.combinations(fv, 2))
        res = []
        for a, b in pairs:
            (sa, va), (sb, vb) = fv[a], fv[b]
            shared, ia, ib = np.intersect1d(sa, sb, return_indices=True)
            w = wilcoxon_paired(va[ia], vb[ib])
            u = mann_whitney(va, vb)
            d = float(np.nanmean(va[ia] - vb[ib])) if shared.size else math.nan
            poi = probability_of_improvement(va, vb, maximize=maximize)
            lo, hi = probability_of_improvement_ci(
                va, vb, study_rng(bootstrap_seed, study, "poi", metric, a, b),
                maximize=maximize, n_boot=n_boot)
            res.append((a, b, shared.size, d, w.pvalue, u.pvalue, poi, lo, hi))
        hw = holm(np.array([r[4] for r in res]))
        hu = holm(np.array([r[5] for r in res]))
        for (a, b, n, d, pw, pu, poi, lo, hi), aw, au in zip(res, hw, hu):
            rows.append([title, a, b, str(n), fmt(d, 3), _p(pw), _p(aw), _p(pu), _p(au),
                         f"{fmt(poi, 2)} [{fmt(lo, 2)}, {fmt(hi, 2)}]"])
            if aw < ALPHA:
                bold_rows.append((len(rows) - 1, 6))
            if au < ALPHA:
                bold_rows.append((len(rows) - 1, 8))
            recs.append({"metric": metric, "a": a, "b": b, "shared_seeds": n, "mean_diff": d,
                         "wilcoxon_p": pw, "wilcoxon_p_holm": aw, "mwu_p": pu,
                         "mwu_p_holm": au, "prob_improvement": poi, "poi_ci_low": lo,
                         "poi_ci_high": hi})
    bold = np.zeros((len(rows), len(cols)), dtype=bool)
    for r, c in bold_rows:
        bold[r, c] = True
    note = (f"Two-sided tests on final seed-mean values; Holm correction within each metric "
            f"across the {len(rows) // max(len(METRICS), 1)} comparisons; bold: Holm p < "
            f"{ALPHA}. P(A>B): probability that a run of A ends better than a run of B by "
            f"that metric's direction ({_direction_text(study)}; ties count ½), "
            f"percentile-bootstrap CI ({n_boot} resamples).")
    return Table(f"Pairwise comparisons on {study.label}", cols, rows, bold, pd.DataFrame(recs),
                 note=note)


def _p(p: float, *, eq: bool = False) -> str:
    """A p-value for a table cell (``eq``: with its relation sign, for running text)."""
    if math.isnan(p):
        return "= –" if eq else "–"
    if p < 1e-4:
        return "< 1e-4"
    return f"= {p:.4f}" if eq else f"{p:.4f}"


def fmt_duration(seconds: float) -> str:
    """Seconds as a short human duration (s, min, h)."""
    if math.isnan(seconds):
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def shared_matrix(values: dict[str, tuple[np.ndarray, np.ndarray]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(shared seeds ``(N,)``, ``(N, k)`` values of each method on the seeds all share)."""
    seeds = None
    for s, _ in values.values():
        seeds = s if seeds is None else np.intersect1d(seeds, s)
    if seeds is None:
        return np.empty(0, np.int64), np.empty((0, 0))
    cols = [v[np.searchsorted(s, seeds)] for s, v in values.values()]
    return seeds, np.stack(cols, axis=1) if cols else np.empty((seeds.size, 0))


@dataclass(frozen=True)
class RankResult:
    """Average ranks of the final values over shared blocks, the Friedman test and the Nemenyi
    critical difference (NaN when fewer than 2 methods or blocks)."""

    methods: tuple[str, ...]
    avg_ranks: np.ndarray
    n_blocks: int
    friedman_stat: float
    friedman_p: float
    cd: float


def rank_result(blocks: np.ndarray, methods: Sequence[str], *, maximize: bool) -> RankResult:
    """:class:`RankResult` of ``blocks`` ``(N, k)`` (rows with a NaN dropped)."""
    b = np.asarray(blocks, float)
    b = b[~np.isnan(b).any(axis=1)] if b.size else b
    n, k = b.shape if b.ndim == 2 else (0, len(methods))
    if n == 0 or k == 0:
        return RankResult(tuple(methods), np.full(k, np.nan), 0, math.nan, math.nan, math.nan)
    fr = friedman(b)
    cd = nemenyi_cd(k, n) if k >= 2 else math.nan
    return RankResult(tuple(methods), average_ranks(b, maximize=maximize), n, fr.statistic,
                      fr.pvalue, cd)


def rank_table(results: Sequence[tuple[str, RankResult]], title: str) -> Table:
    """Average final rank of each method under each named :class:`RankResult`."""
    methods = list(dict.fromkeys(m for _, r in results for m in r.methods))
    cols = ["Method"] + [name for name, _ in results]
    rows = []
    bold = np.zeros((len(methods), len(cols)), dtype=bool)
    for i, m in enumerate(methods):
        row = [m]
        for j, (_, r) in enumerate(results):
            if m in r.methods:
                v = r.avg_ranks[r.methods.index(m)]
                row.append(fmt(v, 2))
                if not math.isnan(v) and v == np.nanmin(r.avg_ranks):
                    bold[i, j + 1] = True
            else:
                row.append("–")
        rows.append(row)
    data = pd.DataFrame(rows, columns=cols)
    notes = "; ".join(f"{name}: Friedman χ² = {fmt(r.friedman_stat, 2)}, "
                      f"p {_p(r.friedman_p, eq=True)}"
                      f", N = {r.n_blocks} blocks, Nemenyi CD (α = 0.05) = {fmt(r.cd, 3)}"
                      for name, r in results)
    return Table(title, cols, rows, bold, data,
                 note=f"Rank 1 = best, over the seeds every method shares. {notes}.")


def rank_over_time(curves: Curves, *, maximize: bool) -> dict[str, np.ndarray]:
    """method -> ``(G,)`` average rank (1 = best) at each grid point over the shared seeds
    (a run that has no incumbent yet counts as worst)."""
    seeds = None
    for s in curves.seeds.values():
        seeds = s if seeds is None else np.intersect1d(seeds, s)
    if seeds is None or seeds.size == 0:
        return {a: np.full(curves.grid.size, np.nan) for a in curves.values}
    stack = np.stack([curves.values[a][np.searchsorted(curves.seeds[a], seeds)]
                      for a in curves.values])  # (k, N, G)
    if curves.kind != "value":
        maximize = False
    r = rank_matrix(stack, maximize=maximize, axis=0).mean(axis=1)
    return {a: r[i] for i, a in enumerate(curves.values)}


def _mean_std(v: np.ndarray) -> tuple[float, float, int]:
    """(mean, std with ddof=1, n) of the non-NaN values (NaN where undefined)."""
    ok = np.asarray(v, float)
    ok = ok[~np.isnan(ok)]
    return (float(ok.mean()) if ok.size else math.nan,
            float(ok.std(ddof=1)) if ok.size > 1 else math.nan, int(ok.size))


def _transfer_values(r: AlgorithmRuns, dataset: str | None, metric: str) -> np.ndarray:
    """``(n,)`` final values of ``r``'s incumbents on ``dataset`` (None: the searched one)."""
    if dataset is None:
        return r.final_valid if metric == "valid" else r.final_test
    # None: that dataset has no such metric (e.g. cifar10 has no validation split)
    values = [t.get(dataset, {}).get(metric) for t in r.transfer]
    return np.array([math.nan if v is None else float(v) for v in values])


def nb201_table(studies: Sequence[Study], *, digits: int = 2) -> Table:
    """The layout of NAS-Bench-201's main results table: methods × datasets, validation and
    test mean ± std of the final incumbent, bold by test per column, and the optimum row (the
    benchmark's best seed-mean value of each metric)."""
    methods = list(dict.fromkeys(a for s in studies for a in s.runs))
    cols = ["Method"]
    groups: list[tuple[str, int]] = [("", 1)]
    for s in studies:
        cols += [f"validation ({s.objective})", f"test ({s.test_metric})"]
        groups.append((s.label, 2))
    rows = [[m] for m in methods] + [["optimum"]]
    bold = np.zeros((len(rows), len(cols)), dtype=bool)
    recs: list[dict[str, object]] = []
    for j, s in enumerate(studies):
        for k, (metric, _) in enumerate(METRICS):
            fv = final_values(s, metric)
            ties = best_ties(fv, maximize=s.maximizes(metric))
            for i, m in enumerate(methods):
                if m in fv:
                    mean, std, n = _mean_std(fv[m][1])
                    rows[i].append(fmt_pm(mean, std, digits))
                    bold[i, 1 + 2 * j + k] = m in ties
                    recs.append({"dataset": s.label, "method": m, "metric": metric, "n": n,
                                 "mean": mean, "std": std})
                else:
                    rows[i].append("–")
            opt = s.optimum("objective" if metric == "valid" else "test_metric")
            rows[-1].append(fmt(opt, digits))
            recs.append({"dataset": s.label, "method": "optimum", "metric": metric, "n": 0,
                         "mean": opt, "std": math.nan})
    return Table("Methods × datasets (layout of the NAS-Bench-201 paper's main table)", cols,
                 rows, bold, pd.DataFrame(recs), groups, rules_before=[len(methods)],
                 note=_BOLD_NOTE + " Optimum: the benchmark's best seed-mean value of each "
                                   "metric (not the best of the methods).")


def transfer_table(study: Study, studies: Sequence[Study], *, digits: int = 2) -> Table | None:
    """Cross-dataset transfer (as in NAS-Bench-201): the cells found by searching on this
    study's dataset, evaluated on the other datasets the runs recorded
    (``manifest.result["transfer"]``).  The optimum row uses the benchmark's optimum of a
    target dataset when a study of that dataset is loaded beside this one.  None if no run
    recorded transfer values."""
    targets = list(dict.fromkeys(d for r in study.runs.values() for t in r.transfer for d in t))
    if not targets:
        return None
    by_label = {s.dataset: s for s in studies}
    methods = list(study.runs)
    cols = ["Method"]
    groups: list[tuple[str, int]] = [("", 1), (f"{study.label} (searched)", 2)]
    cols += ["validation", "test"]
    for d in targets:
        cols += ["validation", "test"]
        groups.append((d, 2))
    rows = [[m] for m in methods] + [["optimum"]]
    recs: list[dict[str, object]] = []
    bold = np.zeros((len(rows), len(cols)), dtype=bool)
    for i, m in enumerate(methods):
        r = study.runs[m]
        for d in [None, *targets]:
            for metric, _ in METRICS:
                mean, std, n = _mean_std(_transfer_values(r, d, metric))
                rows[i].append(fmt_pm(mean, std, digits))
                recs.append({"searched_on": study.label, "evaluated_on": d or study.label,
                             "method": m, "metric": metric, "n": n, "mean": mean, "std": std})
    for d in [None, *targets]:
        src = study if d is None else by_label.get(d)
        for metric, _ in METRICS:
            opt = src.optimum("objective" if metric == "valid" else "test_metric") \
                if src is not None else math.nan
            rows[-1].append(fmt(opt, digits))
    # bold by test, per column, over the runs' values
    for c in range(1, len(cols)):
        j, k = divmod(c - 1, 2)
        d = None if j == 0 else targets[j - 1]
        metric = METRICS[k][0]
        samples = {m: (study.runs[m].seeds, _transfer_values(study.runs[m], d, metric))
                   for m in methods}
        for m in best_ties(samples, maximize=study.maximizes(metric)):
            bold[methods.index(m), c] = True
    return Table(f"Cross-dataset transfer: searched on {study.label}", cols, rows, bold,
                 pd.DataFrame(recs), groups, rules_before=[len(methods)],
                 note=_BOLD_NOTE + " The cells found on the searched dataset, evaluated (seed "
                                   "mean) on the others.")


def compute_table(studies: Sequence[Study]) -> Table:
    """Per study: the simulated training compute its runs stand for (GPU-hours, from the
    benchmark's recorded training times) beside the real time they took."""
    cols = ["Study", "runs used", "runs skipped", "evaluations", "simulated GPU-h",
            "run wall time", "elapsed", "simulated / wall"]
    rows, recs = [], []
    for s in studies:
        n = sum(r.n for r in s.runs.values())
        evals = int(sum(int(r.n_evals.sum()) for r in s.runs.values()))
        sim = float(sum(np.nansum(r.final_sim_time_s) for r in s.runs.values()))
        wall = float(sum(np.nansum(r.wall_s) for r in s.runs.values()))
        ratio = sim / wall if wall > 0 else math.nan
        rows.append([s.label, str(n), str(len(s.skipped)), str(evals), f"{sim / 3600:,.1f}",
                     fmt_duration(wall), fmt_duration(s.elapsed_s),
                     f"{ratio:,.0f}×" if not math.isnan(ratio) else "–"])
        recs.append({"study": s.label, "runs": n, "skipped": len(s.skipped), "evaluations": evals,
                     "simulated_s": sim, "simulated_gpu_h": sim / 3600, "wall_s": wall,
                     "elapsed_s": s.elapsed_s, "speedup": ratio})
    return Table("Compute accounting", cols, rows, data=pd.DataFrame(recs),
                 note="Simulated GPU-hours: sum over the used runs of the benchmark's recorded "
                      "training time of every evaluation (the runs' final simulated clocks). "
                      "Run wall time: sum of the runs' real durations; elapsed: first start to "
                      "last finish.")


def skipped_table(studies: Sequence[Study]) -> Table:
    """Every run left out of the report, with the reason."""
    rows, recs = [], []
    for s in studies:
        for k in s.skipped:
            rows.append([s.label, k.path, k.reason])
            recs.append({"study": s.label, "path": k.path, "algorithm": k.algorithm,
                         "seed": k.seed, "reason": k.reason})
    return Table("Skipped runs", ["Study", "Run", "Reason"], rows,
                 data=pd.DataFrame(recs, columns=["study", "path", "algorithm", "seed",
                                                  "reason"]))


def summary_frame(studies: Sequence[Study]) -> pd.DataFrame:
    """One row per (study, algorithm): ``study`` (label), ``algorithm``, ``runs``, and the
    mean, std (ddof 1) and median of the final incumbent's ``valid_*`` objective value (the
    study's validation metric) and ``test_*`` test-metric value (test split); both are seed
    means on the report benchmark at the study's report fidelity (:attr:`Study.report_fidelity`),
    NaNs left out.  This is what ``summary.csv`` holds and :meth:`Study.summary` returns."""
    recs = []
    for s in studies:
        for a, r in s.runs.items():
            rec: dict[str, object] = {"study": s.label, "algorithm": a, "runs": r.n}
            for metric, v in (("valid", r.final_valid), ("test", r.final_test)):
                rec[f"{metric}_mean"], rec[f"{metric}_std"], n = _mean_std(v)
                rec[f"{metric}_median"] = float(np.nanmedian(v)) if n else math.nan
            recs.append(rec)
    return pd.DataFrame(recs, columns=["study", "algorithm", "runs", "valid_mean", "valid_std",
                                       "valid_median", "test_mean", "test_std", "test_median"])


def curves_regret(study: Study, metric: str, axis: str) -> Curves:
    """Normalised regret curves (see :func:`results.regret`) of ``metric`` on ``axis``."""
    c = anytime(study, metric=metric, axis=axis)  # type: ignore[arg-type]
    opt = study.optimum("objective" if metric == "valid" else "test_metric")
    return c.to_regret(opt, maximize=study.maximizes(metric)) if not math.isnan(opt) else c
