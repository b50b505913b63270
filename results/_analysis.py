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
from results._aggregate import Curves, MetricName, anytime, final_values, regret
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
from results._store import HELDOUT, SEED_MEAN, AlgorithmRuns, Study
from results._tables import Table, fmt, fmt_pm

__all__ = ["SUMMARY_COLUMNS", "RankResult", "across_studies_ranks", "completeness_table",
           "compute_table", "final_table", "nb201_table", "pairwise_table", "partial_note",
           "rank_over_time", "rank_result", "rank_table", "shared_matrix", "skipped_table",
           "study_rng", "summary_frame", "transfer_table", "values_note",
           "within_study_ranks"]

METRICS: tuple[tuple[MetricName, str], ...] = (("valid", "Validation"), ("test", "Test"))
ALPHA = 0.05
_BOLD_NOTE = ("Bold: best mean per column and every method not significantly different from it "
              "(Wilcoxon signed-rank over shared seeds, or Mann-Whitney U when fewer than 5 "
              "seeds are shared; Holm-corrected, α = 0.05).")
#: What the training set of an NB201 dataset is (the paper's CIFAR-10 column is ``cifar10``,
#: trained on all 50k training images; ``cifar10-valid`` trains on 25k and validates on the
#: other 25k).
_NB201_TRAIN = {"cifar10-valid": "25k train", "cifar10": "50k train"}


def study_rng(seed: int, study: Study, *path: object) -> np.random.Generator:
    """The bootstrap generator for one study and purpose (see the module docstring)."""
    return make_rng(seed, "results", study.label, *path)


def _metric_name(study: Study, metric: str) -> str:
    return study.objective if metric == "valid" else study.test_metric


def values_note(study: Study) -> str:
    """What the values of a table of ``study`` are, per metric, in words (for table notes)."""
    parts = []
    for metric, title in METRICS:
        name = _metric_name(study, metric) or "(none)"
        label = study.source_label(metric)
        if study.source(metric) == HELDOUT:
            parts.append(f"{title.lower()} {name}: {label}")
        else:
            parts.append(f"{title.lower()} {name}: {label} (no held-out value recorded)")
    text = (f"Values of the final incumbent (the best by the observed validation objective "
            f"{study.objective}) at {study.report_fidelity} epochs: " + "; ".join(parts) + ". ")
    if any(study.source(m) == HELDOUT for m, _ in METRICS):
        text += ("Held-out seeds: the mean over the incumbent's recorded training runs that did "
                 "not select it (free of the winner's curse). ")
    if study.spec.get("noise") != "mean":
        text += ("Seed mean incl. selecting run: the mean over all its recorded runs, including "
                 "the one whose value selected it (inflated by the winner's curse). ")
    nan = []
    for metric, title in METRICS:
        if study.source(metric) != HELDOUT:
            continue
        for a, r in study.runs.items():
            k = int(np.isnan(r.final(metric, HELDOUT)).sum())
            if k:
                nan.append(f"{a} {k} ({title.lower()})")
    if nan:
        text += ("Runs without a held-out value (their incumbent has no other recorded seed) "
                 "are left out of the held-out columns: " + ", ".join(nan) + ". ")
    described = []
    for which in ("objective", "test_metric"):
        m = study.metric_info(which)
        if m is not None and m.description:
            described.append(f"{m.name}: {m.description.rstrip('.')}")
    if described:
        text += "The benchmark's metrics: " + "; ".join(described) + ". "
    return text


def partial_note(study: Study) -> str:
    """"Partial: ..." when fewer runs are in the numbers than the study planned, else ""."""
    c = study.completeness
    if not c.partial:
        return ""
    return f"PARTIAL: {c.text()}; see Completeness. "


def settings_note(study: Study) -> str:
    """The search settings that change what a number means (repeats, budget crossing)."""
    search = study.spec.get("search")
    if not isinstance(search, dict):
        return "Search settings not recorded (study written before they existed). "
    rep = search.get("repeats")
    cross = search.get("budget_crossing")
    rep_text = {"charge": "a cell queried again is paid again",
                "cache": "a cell queried again is answered from the first query at no cost"
                }.get(str(rep), "unknown")
    cross_text = {"keep": "the evaluation that crosses the time budget is kept",
                  "drop": "the run stops before the evaluation that would cross the time "
                          "budget"}.get(str(cross), "unknown")
    stopped = sum(int(np.sum(r.stopped)) for r in study.runs.values())
    text = f"Repeats `{rep}` ({rep_text}); budget crossing `{cross}` ({cross_text}"
    if cross == "drop":
        text += f"; {stopped} runs stopped so"
    return text + "). "


def _summaries(study: Study, metric: str, seed: int, n_boot: int,
               source: str = "reported") -> dict[str, Summary]:
    return {a: summarize(v, study_rng(seed, study, a, metric), n_boot=n_boot)
            for a, (_, v) in final_values(study, metric, source).items()}  # type: ignore[arg-type]


def _runs_cell(study: Study, alg: str) -> str:
    planned = study.planned_runs(alg)
    n = study.runs[alg].n
    return str(n) if planned is None or planned == n else f"{n} of {planned}"


def final_table(study: Study, *, bootstrap_seed: int = 0, n_boot: int = 2000,
                digits: int = 2) -> Table:
    """Final incumbent per method, per metric on the reported values (:meth:`Study.source`:
    held-out seeds when the study has them): mean ± std, ± standard error, median [IQR],
    bootstrap 95% CI of the mean; when that is the held-out value, the seed mean incl. the
    selecting run beside it (mean ± std); mean normalised regret (× 100, against the benchmark's
    true optimum) of the reported values; mean distinct cells per run."""
    algs = list(study.runs)
    cols = ["Method", "runs"]
    groups: list[tuple[str, int]] = [("", 1), ("", 1)]
    mean_col: dict[str, int] = {}
    second: dict[str, int] = {}
    for metric, title in METRICS:
        name = _metric_name(study, metric)
        mean_col[metric] = len(cols)
        cols += ["mean ± std", "± s.e.", "median [IQR]", "95% CI"]
        groups.append((f"{title} {name}, {study.source_label(metric)}", 4))
        if study.source(metric) == HELDOUT:
            second[metric] = len(cols)
            cols.append("mean ± std")
            groups.append((f"{title} {name}, {study.source_label(metric, SEED_MEAN)}", 1))
    regret_col = len(cols)
    cols += ["valid", "test"]
    groups.append(("Norm. regret × 100", 2))
    cols.append("distinct cells")
    groups.append(("", 1))
    rows: list[list[str]] = [[a, _runs_cell(study, a)] for a in algs]
    bold = np.zeros((len(algs), len(cols)), dtype=bool)
    records: list[dict[str, float | str | int | None]] = [
        {"algorithm": a, "runs": study.runs[a].n, "planned": study.planned_runs(a)}
        for a in algs]
    for m, (metric, _) in enumerate(METRICS):
        sm = _summaries(study, metric, bootstrap_seed, n_boot)
        fv = final_values(study, metric)  # type: ignore[arg-type]
        maximize = study.maximizes(metric)
        ties = best_ties(fv, maximize=maximize)
        opt = study.optimum("objective" if metric == "valid" else "test_metric")
        seedmean = final_values(study, metric, SEED_MEAN)  # type: ignore[arg-type]
        for i, a in enumerate(algs):
            s = sm[a]
            if m == 0:
                records[i]["n"] = s.n
                records[i]["n_nan"] = s.n_nan
            rows[i] += [fmt_pm(s.mean, s.std, digits), f"± {fmt(s.sem, digits + 1)}",
                        f"{fmt(s.median, digits)} [{fmt(s.q25, digits)}, {fmt(s.q75, digits)}]",
                        f"[{fmt(s.ci_low, digits)}, {fmt(s.ci_high, digits)}]"]
            sm_mean, sm_std, _ = _mean_std(seedmean[a][1])
            if metric in second:
                rows[i].append(fmt_pm(sm_mean, sm_std, digits))
            if a in ties:
                bold[i, mean_col[metric]] = True
                bold[i, regret_col + m] = True
            records[i][f"{metric}_values"] = study.source_label(metric)
            records[i][f"{metric}_n"] = s.n
            for k in ("mean", "std", "sem", "median", "q25", "q75", "ci_low", "ci_high"):
                records[i][f"{metric}_{k}"] = getattr(s, k)
            records[i][f"{metric}_seedmean_mean"] = sm_mean
            records[i][f"{metric}_seedmean_std"] = sm_std
            v = fv[a][1]
            records[i][f"{metric}_regret_mean"] = float(np.nanmean(
                regret(v, opt, maximize=maximize, normalised=False))) if s.n else math.nan
            records[i][f"{metric}_norm_regret_mean"] = float(np.nanmean(
                regret(v, opt, maximize=maximize))) if s.n else math.nan
    for i, a in enumerate(algs):
        rows[i] += [fmt(100 * float(records[i][f"{m}_norm_regret_mean"]), 3)  # type: ignore[arg-type]
                    for m, _ in METRICS]
        cells = study.runs[a].distinct_cells
        dc = float(np.nanmean(cells)) if np.any(~np.isnan(cells)) else math.nan
        records[i]["distinct_cells_mean"] = dc
        rows[i].append(fmt(dc, 1))
    budget = study.budget
    note = (f"{partial_note(study)}{values_note(study)}{_BOLD_NOTE} Directions: "
            f"{_direction_text(study)}. Budget: {_budget_text(budget)}. 95% CI: percentile "
            f"bootstrap of the mean ({n_boot} resamples, seed {bootstrap_seed}). Regret: of the "
            f"reported values, against the benchmark's optimum (its best seed-mean value: "
            f"{fmt(study.optimum(), 3)} / {fmt(study.optimum('test_metric'), 3)}). runs: runs in "
            f"the numbers (\"k of n\": n were planned). Distinct cells: mean number of distinct "
            f"cells a run evaluated. {settings_note(study)}")
    return Table(f"Final results on {study.label}", cols, rows, bold, pd.DataFrame(records),
                 groups, note=note.strip())


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
    """Every pair of methods on the final reported validation and test values
    (:meth:`Study.source`): mean difference over shared seeds, Wilcoxon signed-rank (paired;
    ``n`` = shared seeds with a non-zero difference) and Mann-Whitney U (unpaired) p-values,
    each Holm-corrected across all comparisons of its metric, and the probability of
    improvement P(A better than B) over the shared seeds with a bootstrap 95% CI that resamples
    seeds jointly (runs of one seed share their noise streams: common random numbers)."""
    cols = ["Metric", "A", "B", "shared seeds", "Wilcoxon n", "mean A−B", "Wilcoxon p",
            "Holm p", "MWU p", "Holm p", "P(A>B) [95% CI]"]
    rows, recs = [], []
    bold_rows: list[tuple[int, int]] = []
    for metric, title in METRICS:
        fv = final_values(study, metric)  # type: ignore[arg-type]
        maximize = study.maximizes(metric)
        label = f"{title} ({study.source_label(metric)})"
        pairs = list(itertools.combinations(fv, 2))
        res = []
        for a, b in pairs:
            (sa, va), (sb, vb) = fv[a], fv[b]
            shared, ia, ib = np.intersect1d(sa, sb, return_indices=True)
            pa, pb = va[ia], vb[ib]
            w = wilcoxon_paired(pa, pb)
            u = mann_whitney(va, vb)
            d = float(np.nanmean(pa - pb)) if np.any(~np.isnan(pa - pb)) else math.nan
            poi = probability_of_improvement(pa, pb, maximize=maximize)
            lo, hi = probability_of_improvement_ci(
                pa, pb, study_rng(bootstrap_seed, study, "poi", metric, a, b),
                maximize=maximize, n_boot=n_boot, paired=True)
            res.append((a, b, shared.size, w.n, d, w.pvalue, u.pvalue, poi, lo, hi))
        hw = holm(np.array([r[5] for r in res]))
        hu = holm(np.array([r[6] for r in res]))
        for (a, b, n, nw, d, pw, pu, poi, lo, hi), aw, au in zip(res, hw, hu):
            rows.append([label, a, b, str(n), str(nw), fmt(d, 3), _p(pw), _p(aw), _p(pu),
                         _p(au), f"{fmt(poi, 2)} [{fmt(lo, 2)}, {fmt(hi, 2)}]"])
            if aw < ALPHA:
                bold_rows.append((len(rows) - 1, 7))
            if au < ALPHA:
                bold_rows.append((len(rows) - 1, 9))
            recs.append({"metric": metric, "values": study.source_label(metric), "a": a,
                         "b": b, "shared_seeds": n, "wilcoxon_n": nw, "mean_diff": d,
                         "wilcoxon_p": pw, "wilcoxon_p_holm": aw, "mwu_p": pu,
                         "mwu_p_holm": au, "prob_improvement": poi, "poi_ci_low": lo,
                         "poi_ci_high": hi})
    bold = np.zeros((len(rows), len(cols)), dtype=bool)
    for r, c in bold_rows:
        bold[r, c] = True
    note = (f"{partial_note(study)}{values_note(study)}Two-sided tests on these final values "
            f"(the Metric column says which); Holm correction within each metric across "
            f"the {len(rows) // max(len(METRICS), 1)} comparisons; bold: Holm p < {ALPHA}. "
            f"Wilcoxon n: the shared seeds the signed-rank test used, i.e. with a "
            f"non-zero difference A−B (zero differences, e.g. both found the same cell, are "
            f"dropped, as scipy's zero_method='wilcox' does). P(A>B): probability that a run "
            f"of A ends better than a run of B by that metric's direction "
            f"({_direction_text(study)}; ties count ½), over the shared seeds; its 95% CI is a "
            f"percentile bootstrap ({n_boot} resamples) that resamples seeds, keeping each "
            f"seed's pair of runs together (they share noise streams).")
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
    critical difference (NaN when fewer than 2 methods or blocks).  ``blocks`` says what a
    block is (e.g. "seeds", "studies (mean over seeds)")."""

    methods: tuple[str, ...]
    avg_ranks: np.ndarray
    n_blocks: int
    friedman_stat: float
    friedman_p: float
    cd: float
    blocks: str = "seeds"


def rank_result(blocks: np.ndarray, methods: Sequence[str], *, maximize: bool,
                kind: str = "seeds") -> RankResult:
    """:class:`RankResult` of ``blocks`` ``(N, k)`` (rows with a NaN dropped); ``kind`` says
    what a block is."""
    b = np.asarray(blocks, float)
    b = b[~np.isnan(b).any(axis=1)] if b.size else b
    n, k = b.shape if b.ndim == 2 else (0, len(methods))
    if n == 0 or k == 0:
        return RankResult(tuple(methods), np.full(k, np.nan), 0, math.nan, math.nan, math.nan,
                          kind)
    fr = friedman(b)
    cd = nemenyi_cd(k, n) if k >= 2 else math.nan
    return RankResult(tuple(methods), average_ranks(b, maximize=maximize), n, fr.statistic,
                      fr.pvalue, cd, kind)


def within_study_ranks(study: Study) -> list[tuple[str, RankResult]]:
    """Per metric, ranks of the final reported values over the seeds every method shares
    (blocks = seeds: within one study each seed is one block)."""
    out = []
    for metric, title in METRICS:
        _, mat = shared_matrix(final_values(study, metric))  # type: ignore[arg-type]
        out.append((f"final {title.lower()} ({study.source_label(metric)})",
                    rank_result(mat, list(study.runs), maximize=study.maximizes(metric),
                                kind="seeds")))
    return out


def across_studies_ranks(studies: Sequence[Study], metric: str = "valid"
                         ) -> tuple[list[str], RankResult] | None:
    """Ranks, Friedman test and Nemenyi CD across studies, for the methods every study has:
    one block per study (Demšar 2006), holding each method's mean final reported ``metric``
    value over the seeds where every common method has a value.  Seeds are not blocks here:
    (study, seed) pairs are not independent (the same seed numbers, the same benchmark), and
    pooling them would inflate N.  None when fewer than 2 studies or common methods."""
    if len(studies) < 2:
        return None
    common = [a for a in studies[0].runs if all(a in s.runs for s in studies)]
    if len(common) < 2:
        return None
    rows = []
    for s in studies:
        fv = final_values(s, metric)  # type: ignore[arg-type]
        _, mat = shared_matrix({a: fv[a] for a in common})
        mat = mat[~np.isnan(mat).any(axis=1)] if mat.size else mat
        mean = mat.mean(axis=0) if mat.shape[0] else np.full(len(common), np.nan)
        rows.append(mean if s.maximizes(metric) else -mean)
    return common, rank_result(np.stack(rows), common, maximize=True,
                               kind="studies: each method's mean over the study's shared seeds")


def rank_table(results: Sequence[tuple[str, RankResult]], title: str, note: str = "") -> Table:
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
                      f", N = {r.n_blocks} blocks ({r.blocks}), Nemenyi CD (α = 0.05) = "
                      f"{fmt(r.cd, 3)}"
                      for name, r in results)
    blocks = {r.blocks for _, r in results}
    over = ("the seeds every method shares (with a value)" if blocks == {"seeds"}
            else "the blocks named below")
    return Table(title, cols, rows, bold, data,
                 note=f"{note}Rank 1 = best, over {over}. {notes}.")


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


def _transfer_values(study: Study, r: AlgorithmRuns, dataset: str | None,
                     metric: str) -> np.ndarray:
    """``(n,)`` final values of ``r``'s incumbents on ``dataset`` (None: the searched one, the
    reported values :meth:`Study.source`; another dataset: the recorded seed mean there)."""
    if dataset is None:
        return r.final(metric, study.source(metric))
    # None: that dataset has no such metric (e.g. cifar10 has no validation split)
    values = [t.get(dataset, {}).get(metric) for t in r.transfer]
    return np.array([math.nan if v is None else float(v) for v in values])


def _dataset_label(study: Study, dataset: str | None = None) -> str:
    """The label of ``dataset`` (default: the study's own, by its label) with the size of the
    training set for NB201's CIFAR-10 datasets (a study of the NB201 space)."""
    bench = study.spec.get("benchmark") or {}
    space = bench.get("space") if isinstance(bench, dict) else None
    name = study.dataset if dataset is None else dataset
    train = _NB201_TRAIN.get(name) if space in (None, "nb201") else None
    label = study.label if dataset is None else dataset
    return f"{label} ({train})" if train else label


def _nb201_c10_test(study: Study) -> dict[str, np.ndarray] | None:
    """method -> ``(n,)`` the final incumbents' ``cifar10`` test values (NB201's CIFAR-10 test
    column: trained on all 50k images) recorded by ``--transfer cifar10`` from a
    ``cifar10-valid`` search; None when the runs recorded none."""
    if study.dataset != "cifar10-valid":
        return None
    out = {a: _transfer_values(study, r, "cifar10", "test") for a, r in study.runs.items()}
    return out if any(np.any(~np.isnan(v)) for v in out.values()) else None


def nb201_table(studies: Sequence[Study], *, digits: int = 2) -> Table:
    """The layout of NAS-Bench-201's main results table: methods × datasets, validation and
    test mean ± std of the final incumbent, bold by test per column, and the optimum row (the
    benchmark's best seed-mean value of each metric).

    Columns say what they hold: the dataset (for NB201's CIFAR-10 datasets the training set:
    ``cifar10-valid`` trains on 25k images, ``cifar10`` on 50k), the metric, and the value
    (:meth:`Study.source`: held-out seeds, with the seed mean incl. the selecting run beside
    it, or the seed mean alone when no held-out value was recorded).  NB201's CIFAR-10 test
    column is the ``cifar10`` dataset (trained on 50k): for a ``cifar10-valid`` study it is
    filled from the runs' transfer values (``--transfer cifar10``) when they recorded them;
    the ``cifar10-valid`` test column is never presented as it."""
    methods = list(dict.fromkeys(a for s in studies for a in s.runs))
    by_dataset = {s.dataset: s for s in studies}
    cols = ["Method"]
    groups: list[tuple[str, int]] = [("", 1)]
    rows = [[m] for m in methods] + [["optimum"]]
    cells: list[tuple[Study, MetricName, str | None, dict[str, np.ndarray], float]] = []
    notes: list[str] = []
    recs: list[dict[str, object]] = []
    for s in studies:
        width = 0
        for metric, title in METRICS:
            name = _metric_name(s, metric)
            opt = s.optimum("objective" if metric == "valid" else "test_metric")
            src = s.source(metric)
            sources = [src] + ([SEED_MEAN] if src == HELDOUT else [])
            source: str | None
            for source in sources:
                cols.append(f"{title.lower()} {name}, {s.source_label(metric, source)}")
                vals = {a: v for a, (_, v) in final_values(s, metric, source).items()}  # type: ignore[arg-type]
                cells.append((s, metric, source, vals, opt))
                width += 1
            recs.append({"dataset": s.label, "column": _dataset_label(s), "method": "optimum",
                         "metric": metric, "values": "optimum (best seed mean)", "n": 0,
                         "mean": opt, "std": math.nan})
        groups.append((_dataset_label(s), width))
        c10 = _nb201_c10_test(s)
        if c10 is not None:
            target = by_dataset.get("cifar10")
            opt = target.optimum("test_metric") if target is not None else math.nan
            cols.append(f"test {s.test_metric}, of the cell found on {s.label}")
            groups.append((_dataset_label(s, "cifar10"), 1))
            cells.append((s, "test", None, c10, opt))
            recs.append({"dataset": "cifar10", "column": "cifar10 (50k train)",
                         "method": "optimum", "metric": "test",
                         "values": "optimum (best seed mean)", "n": 0, "mean": opt,
                         "std": math.nan})
            notes.append(f"cifar10 (50k train) is NAS-Bench-201's CIFAR-10 test column: the "
                         f"cells found on {s.label} as the benchmark records them on the "
                         f"cifar10 dataset (trained on all 50k training images; separate "
                         f"training runs from the ones the search saw), from the runs' "
                         f"--transfer cifar10 values.")
        elif s.dataset == "cifar10-valid" and _dataset_label(s) != s.label:
            notes.append(f"The {s.label} test column is the 10k CIFAR-10 test set for networks "
                         f"trained on 25k images, not NAS-Bench-201's CIFAR-10 test column "
                         f"(trained on 50k): runs made with --transfer cifar10 fill that column.")
    bold = np.zeros((len(rows), len(cols)), dtype=bool)
    for j, (s, metric, source, vals, opt) in enumerate(cells):
        samples = {m: (s.runs[m].seeds, v) for m, v in vals.items()}
        ties = best_ties(samples, maximize=s.maximizes(metric))
        for i, m in enumerate(methods):
            if m in vals:
                mean, std, n = _mean_std(vals[m])
                rows[i].append(fmt_pm(mean, std, digits))
                bold[i, 1 + j] = m in ties
                label = (s.source_label(metric, source) if source is not None
                         else "cifar10 (50k train), from --transfer")
                recs.append({"dataset": s.label if source is not None else "cifar10",
                             "column": cols[1 + j], "method": m, "metric": metric,
                             "values": label, "n": n, "mean": mean, "std": std})
            else:
                rows[i].append("–")
        rows[-1].append(fmt(opt, digits))
    for s in studies:
        if s.completeness.partial:
            notes.insert(0, f"PARTIAL {s.label}: {s.completeness.text()}.")
    note = " ".join([*notes, _BOLD_NOTE,
                     "Held-out seeds: the incumbent's mean over its recorded training runs that "
                     "did not select it; seed mean incl. selecting run: over all of them "
                     "(inflated by the winner's curse). Optimum: the benchmark's best seed-mean "
                     "value of each metric (not the best of the methods)."])
    return Table("Methods × datasets (layout of the NAS-Bench-201 paper's main table)", cols,
                 rows, bold, pd.DataFrame(recs), groups, rules_before=[len(methods)], note=note)


def transfer_table(study: Study, studies: Sequence[Study], *, digits: int = 2) -> Table | None:
    """Cross-dataset transfer (as in NAS-Bench-201): the cells found by searching on this
    study's dataset, evaluated on the other datasets the runs recorded
    (``manifest.result["transfer"]``: seed means there).  The searched dataset's columns hold
    the reported values (:meth:`Study.source`).  The optimum row uses the benchmark's optimum
    of a target dataset when a study of that dataset is loaded beside this one.  None if no run
    recorded transfer values."""
    targets = list(dict.fromkeys(d for r in study.runs.values() for t in r.transfer for d in t))
    if not targets:
        return None
    by_label = {s.dataset: s for s in studies}
    methods = list(study.runs)
    cols = ["Method"]
    groups: list[tuple[str, int]] = [("", 1), (f"{_dataset_label(study)} (searched)", 2)]
    cols += [f"validation, {study.source_label('valid')}",
             f"test, {study.source_label('test')}"]
    for target in targets:
        cols += ["validation", "test"]
        groups.append((_dataset_label(study, target), 2))
    rows = [[m] for m in methods] + [["optimum"]]
    recs: list[dict[str, object]] = []
    d: str | None
    bold = np.zeros((len(rows), len(cols)), dtype=bool)
    for i, m in enumerate(methods):
        r = study.runs[m]
        for d in [None, *targets]:
            for metric, _ in METRICS:
                mean, std, n = _mean_std(_transfer_values(study, r, d, metric))
                rows[i].append(fmt_pm(mean, std, digits))
                recs.append({"searched_on": study.label, "evaluated_on": d or study.label,
                             "method": m, "metric": metric,
                             "values": study.source_label(metric) if d is None
                             else "recorded value on that dataset",
                             "n": n, "mean": mean, "std": std})
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
        samples = {m: (study.runs[m].seeds, _transfer_values(study, study.runs[m], d, metric))
                   for m in methods}
        for m in best_ties(samples, maximize=study.maximizes(metric)):
            bold[methods.index(m), c] = True
    return Table(f"Cross-dataset transfer: searched on {study.label}", cols, rows, bold,
                 pd.DataFrame(recs), groups, rules_before=[len(methods)],
                 note=partial_note(study) + _BOLD_NOTE + " The cells found on the searched "
                      "dataset, evaluated on the others as the benchmark records them there "
                      "(separate training runs from the ones the search saw, so no selecting "
                      "run is among them).")


def compute_table(studies: Sequence[Study]) -> Table:
    """Per study: the simulated training compute its runs stand for (GPU-hours, from the
    benchmark's recorded training times) beside the real time they took."""
    cols = ["Study", "runs used", "runs planned", "runs skipped", "evaluations",
            "simulated GPU-h", "run wall time", "elapsed", "simulated / wall"]
    rows, recs = [], []
    for s in studies:
        n = sum(r.n for r in s.runs.values())
        planned = s.completeness.planned
        evals = int(sum(int(r.n_evals.sum()) for r in s.runs.values()))
        # with K simulated workers the final clock is the cluster's wall clock: K workers held
        k = s.spec.get("search", {}).get("sim_workers", 1) if isinstance(
            s.spec.get("search"), dict) else 1
        sim = float(k) * float(sum(np.nansum(r.final_sim_time_s) for r in s.runs.values()))
        wall = float(sum(np.nansum(r.wall_s) for r in s.runs.values()))
        ratio = sim / wall if wall > 0 else math.nan
        rows.append([s.label, str(n), "–" if planned is None else str(planned),
                     str(len(s.skipped)), str(evals), f"{sim / 3600:,.1f}",
                     fmt_duration(wall), fmt_duration(s.elapsed_s),
                     f"{ratio:,.0f}×" if not math.isnan(ratio) else "–"])
        recs.append({"study": s.label, "runs": n, "planned": planned,
                     "skipped": len(s.skipped), "evaluations": evals, "simulated_s": sim,
                     "simulated_gpu_h": sim / 3600, "wall_s": wall, "elapsed_s": s.elapsed_s,
                     "speedup": ratio})
    return Table("Compute accounting", cols, rows, data=pd.DataFrame(recs),
                 note="Simulated GPU-hours: sum over the used runs of the benchmark's recorded "
                      "training time of every evaluation (the runs' final simulated clocks; "
                      "with K simulated parallel workers, K times the simulated wall clock: "
                      "the workers held, idle time included). "
                      "Run wall time: sum of the runs' real durations; elapsed: first start to "
                      "last finish.")


def skipped_table(studies: Sequence[Study]) -> Table:
    """Every run left out of the report (and every planned run that is not there), with its
    kind (:data:`~results._store.SKIP_KINDS`) and the reason."""
    rows, recs = [], []
    for s in studies:
        for k in s.skipped:
            rows.append([s.label, k.path, k.kind, k.reason])
            recs.append({"study": s.label, "path": k.path, "algorithm": k.algorithm,
                         "seed": k.seed, "kind": k.kind, "reason": k.reason})
    return Table("Runs left out", ["Study", "Run", "Kind", "Reason"], rows,
                 data=pd.DataFrame(recs, columns=["study", "path", "algorithm", "seed", "kind",
                                                  "reason"]),
                 note="missing: planned in study.json (algorithms × seeds) but no run folder "
                      "or no manifest; altered: the files do not agree with the manifest "
                      "(records_sha256, final values or incumbent) or are corrupt; unfinished: "
                      "still running, or failed; incomparable: another configuration than the "
                      "study's; unplanned: an algorithm or seed the study did not plan.")


def completeness_table(studies: Sequence[Study]) -> Table:
    """Per study: runs planned (``study.json`` algorithms × seeds), runs in the numbers, and
    the planned runs that are not, by kind."""
    cols = ["Study", "planned", "in the numbers", "missing", "altered", "unfinished",
            "incomparable", "unplanned (ignored)", "complete"]
    rows, recs = [], []
    for s in studies:
        c = s.completeness
        complete = "unknown (no plan)" if c.planned is None else (
            "no: partial" if c.partial else "yes")
        rows.append([s.label, "–" if c.planned is None else str(c.planned), str(c.used),
                     str(len(c.missing)), str(len(c.altered)), str(len(c.unfinished)),
                     str(len(c.incomparable)), str(len(c.unplanned)), complete])
        recs.append({"study": s.label, "planned": c.planned, "used": c.used,
                     "missing": len(c.missing), "altered": len(c.altered),
                     "unfinished": len(c.unfinished), "incomparable": len(c.incomparable),
                     "unplanned": len(c.unplanned), "partial": c.partial})
    bold = np.zeros((len(rows), len(cols)), dtype=bool)
    for i, s in enumerate(studies):
        bold[i, -1] = s.completeness.partial
    return Table("Completeness", cols, rows, bold, pd.DataFrame(recs),
                 note="Planned: the algorithms × seeds study.json records. Altered runs are "
                      "found by checking each records.csv against its manifest's "
                      "records_sha256, final values and incumbent; this catches accidental "
                      "edits and truncation, not a deliberate rewrite of both files.")


#: Columns of :func:`summary_frame` (``summary.csv``).
SUMMARY_COLUMNS = ["study", "algorithm", "runs", "planned",
                   "valid_values", "valid_n", "valid_mean", "valid_std", "valid_median",
                   "valid_seedmean_mean", "valid_seedmean_std", "valid_seedmean_median",
                   "test_values", "test_n", "test_mean", "test_std", "test_median",
                   "test_seedmean_mean", "test_seedmean_std", "test_seedmean_median",
                   "distinct_cells_mean"]


def summary_frame(studies: Sequence[Study]) -> pd.DataFrame:
    """One row per (study, algorithm), the columns :data:`SUMMARY_COLUMNS`:

    - ``study`` (label), ``algorithm``; ``runs``: runs in the numbers; ``planned``: runs the
      study planned for the algorithm (``study.json`` seeds; NA when it records no plan).
    - ``valid_values``: which value of the final incumbent's objective (the study's validation
      metric) the ``valid_*`` columns hold (:meth:`Study.source_label`: "held-out seeds" when
      the study has held-out values, else "seed mean incl. selecting run"); ``valid_n``: runs
      with such a value; ``valid_mean``, ``valid_std`` (ddof 1), ``valid_median`` of it, NaNs
      left out.
    - ``valid_seedmean_mean`` / ``_std`` / ``_median``: the same of the seed mean including
      the selecting run (equal to ``valid_*`` when that is what is reported).
    - ``test_*``: the same for the test metric (test split).
    - ``distinct_cells_mean``: mean number of distinct cells a run evaluated (NaN when the runs
      did not record it).

    Values are on the report benchmark at the study's report fidelity
    (:attr:`Study.report_fidelity`).  This is what ``summary.csv`` holds and
    :meth:`Study.summary` returns; ``df.attrs["partial"]`` lists one line per study with fewer
    runs than planned ("cifar10-valid: 99 of 100 planned runs (...)")."""
    recs = []
    partial = []
    for s in studies:
        if s.completeness.partial:
            partial.append(f"{s.label}: {s.completeness.text()}")
        for a, r in s.runs.items():
            planned = s.planned_runs(a)
            rec: dict[str, object] = {"study": s.label, "algorithm": a, "runs": r.n,
                                      "planned": pd.NA if planned is None else planned}
            for metric in ("valid", "test"):
                src = s.source(metric)
                for prefix, source in ((metric, src), (f"{metric}_seedmean", SEED_MEAN)):
                    v = r.final(metric, source)
                    mean, std, n = _mean_std(v)
                    if source == src and prefix == metric:
                        rec[f"{metric}_values"] = s.source_label(metric)
                        rec[f"{metric}_n"] = n
                    rec[f"{prefix}_mean"], rec[f"{prefix}_std"] = mean, std
                    rec[f"{prefix}_median"] = float(np.nanmedian(v)) if n else math.nan
            cells = r.distinct_cells
            rec["distinct_cells_mean"] = (float(np.nanmean(cells)) if np.any(~np.isnan(cells))
                                          else math.nan)
            recs.append(rec)
    df = pd.DataFrame(recs, columns=SUMMARY_COLUMNS)
    df["planned"] = df["planned"].astype("Int64")
    df.attrs["partial"] = partial
    return df


def curves_regret(study: Study, metric: str, axis: str) -> Curves:
    """Normalised regret curves (see :func:`results.regret`) of the reported ``metric``
    values (:meth:`Study.source`) on ``axis``."""
    c = anytime(study, metric=metric, axis=axis)  # type: ignore[arg-type]
    opt = study.optimum("objective" if metric == "valid" else "test_metric")
    return c.to_regret(opt, maximize=study.maximizes(metric)) if not math.isnan(opt) else c
