"""Run store, aggregation, statistics, tables, figures and reports.

Typical use::

    from results import build_report, load_study, write_summary
    write_summary("runs/c10")             # runs/c10/summary.csv
    build_report("runs", out="paper")     # paper/report.md, paper/tables/*, paper/figures/*

``import results`` needs numpy, scipy and pandas only; matplotlib is imported when a figure is
drawn (``pip install 'benchbench[plot]'``).
"""

from __future__ import annotations

from results._aggregate import Curves, anytime, final_values, regret, time_grid
from results._analysis import (
    SUMMARY_COLUMNS,
    RankResult,
    across_studies_ranks,
    completeness_table,
    compute_table,
    final_table,
    nb201_table,
    pairwise_table,
    rank_over_time,
    rank_result,
    rank_table,
    skipped_table,
    summary_frame,
    transfer_table,
    within_study_ranks,
)
from results._pareto import (
    MORun,
    MOStudy,
    TrueFront,
    attainment_surface,
    hv_curves,
    hypervolume_table,
    infeasible_counts,
    load_mo_study,
    members_test_hv,
    pareto_front,
    true_front,
)
from results._report import PartialResultsWarning, build_report, write_summary
from results._stats import (
    Summary,
    TestResult,
    average_ranks,
    best_ties,
    bootstrap_ci,
    bootstrap_mean_ci,
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
from results._store import (
    HELDOUT,
    SEED_MEAN,
    SKIP_KINDS,
    AlgorithmRuns,
    Completeness,
    Skipped,
    Study,
    StudyError,
    find_study_dirs,
    load_studies,
    load_study,
)
from results._tables import Table, to_csv, to_latex, to_markdown

__all__ = [
    "HELDOUT",
    "MORun",
    "MOStudy",
    "TrueFront",
    "attainment_surface",
    "hv_curves",
    "hypervolume_table",
    "infeasible_counts",
    "load_mo_study",
    "members_test_hv",
    "pareto_front",
    "true_front",
    "SEED_MEAN",
    "SKIP_KINDS",
    "SUMMARY_COLUMNS",
    "AlgorithmRuns",
    "Completeness",
    "Curves",
    "PartialResultsWarning",
    "RankResult",
    "Skipped",
    "Study",
    "StudyError",
    "Summary",
    "Table",
    "TestResult",
    "across_studies_ranks",
    "anytime",
    "average_ranks",
    "best_ties",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "build_report",
    "completeness_table",
    "compute_table",
    "final_table",
    "final_values",
    "find_study_dirs",
    "friedman",
    "holm",
    "load_studies",
    "load_study",
    "mann_whitney",
    "nb201_table",
    "nemenyi_cd",
    "pairwise_table",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "rank_matrix",
    "rank_over_time",
    "rank_result",
    "rank_table",
    "regret",
    "skipped_table",
    "summarize",
    "summary_frame",
    "time_grid",
    "to_csv",
    "to_latex",
    "to_markdown",
    "transfer_table",
    "wilcoxon_paired",
    "within_study_ranks",
    "write_summary",
]
