"""Statistics and tables of ``results``: against hand-computed small cases and against scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from results import (
    Table,
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
    regret,
    summarize,
    to_csv,
    to_latex,
    to_markdown,
    wilcoxon_paired,
)


def test_wilcoxon_hand_computed() -> None:
    # d = 1, 2, -3, 4, 5: ranks 1..5, W- = 3; exact two-sided p = 2 * #{subsets with rank sum
    # <= 3} / 2^5 = 2 * 5 / 32 ({}, {1}, {2}, {3}, {1,2}).
    r = wilcoxon_paired(np.array([1.0, 2, -3, 4, 5]) + 10, np.full(5, 10.0))
    assert r.statistic == 3.0
    assert r.pvalue == pytest.approx(10 / 32)
    assert r.n == 5


def test_wilcoxon_drops_nan_pairs_and_identical_samples_give_p1() -> None:
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0])
    b = np.array([0.5, 2.5, 3.0, np.nan, 4.0, 4.5])
    r = wilcoxon_paired(a, b)
    ref = stats.wilcoxon(np.array([0.5, -0.5, 1.0, 1.5]))
    assert r.n == 4 and r.pvalue == pytest.approx(ref.pvalue) and r.statistic == ref.statistic
    same = wilcoxon_paired(np.arange(6.0), np.arange(6.0))
    assert (same.statistic, same.pvalue) == (0.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        wilcoxon_paired(np.ones(3), np.ones(4))


def test_wilcoxon_n_counts_the_pairs_scipy_uses() -> None:
    # zero differences (two methods that found the same cell under common random numbers)
    # are dropped by scipy's default zero_method="wilcox": n is what is left
    a = np.array([91.0, 90.5, 92.0, 91.0, 90.0, 93.0, 91.5, 90.25, 92.5])
    b = np.array([91.0, 90.0, 92.0, 90.0, 90.0, 91.0, 91.5, 91.25, 91.0])
    d = a - b
    r = wilcoxon_paired(a, b)
    ref = stats.wilcoxon(d)
    assert r.n == int(np.count_nonzero(d)) == 5
    assert (r.statistic, r.pvalue) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue))
    # the same as testing the non-zero differences alone
    assert r.pvalue == pytest.approx(stats.wilcoxon(d[d != 0]).pvalue)
    assert wilcoxon_paired(a, a).n == 0


def test_probability_of_improvement_ci_paired_resamples_seeds_jointly() -> None:
    # runs of one seed share their noise streams: the paired interval resamples seeds, each
    # with its pair of runs (reference: the same draws applied by hand)
    rng = np.random.default_rng(11)
    seed_effect = rng.normal(0, 1.0, 30)
    a = np.round(91 + seed_effect + rng.normal(0.1, 0.2, 30), 2)
    b = np.round(91 + seed_effect + rng.normal(0.0, 0.2, 30), 2)
    a[3], b[7] = np.nan, np.nan  # NaNs leave their own sample in each resample
    for maximize in (True, False):
        lo, hi = probability_of_improvement_ci(a, b, np.random.default_rng(4), n_boot=400,
                                               maximize=maximize, paired=True)
        draws = np.random.default_rng(4).integers(0, a.size, (400, a.size))
        theta = [probability_of_improvement(a[i], b[i], maximize=maximize) for i in draws]
        assert (lo, hi) == pytest.approx(tuple(np.percentile(theta, [2.5, 97.5])), rel=1e-12)
    # resampling each sample on its own draws something else
    unpaired = probability_of_improvement_ci(a, b, np.random.default_rng(4), n_boot=400)
    assert unpaired != probability_of_improvement_ci(a, b, np.random.default_rng(4), n_boot=400,
                                                     paired=True)
    with pytest.raises(ValueError, match="same shape"):
        probability_of_improvement_ci(a, b[:5], np.random.default_rng(0), paired=True)


def test_mann_whitney_hand_computed_and_probability_of_improvement() -> None:
    a, b = np.array([1.0, 2, 3]), np.array([4.0, 5, 6])
    r = mann_whitney(a, b)
    assert r.statistic == 0.0
    assert r.pvalue == pytest.approx(2 / 20)  # exact: 2 * 1 / C(6, 3)
    assert probability_of_improvement(a, b) == 0.0
    assert probability_of_improvement(b, a) == 1.0
    assert probability_of_improvement(a, b, maximize=False) == 1.0
    # ties count one half: P = (1 + 0.5) / 2
    assert probability_of_improvement(np.array([2.0]), np.array([1.0, 2.0])) == 0.75


def test_probability_of_improvement_equals_scipy_u_over_nm() -> None:
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(0.2, 1, 40), 1)  # rounding makes ties
    b = np.round(rng.normal(0.0, 1, 55), 1)
    u = stats.mannwhitneyu(a, b, alternative="two-sided").statistic
    assert probability_of_improvement(a, b) == pytest.approx(u / (a.size * b.size))
    lo, hi = probability_of_improvement_ci(a, b, np.random.default_rng(0), n_boot=500)
    assert lo < probability_of_improvement(a, b) < hi
    # the vectorised bootstrap equals resampling by hand with the same draws
    rng = np.random.default_rng(0)
    ia, ib = rng.integers(0, a.size, (500, a.size)), rng.integers(0, b.size, (500, b.size))
    theta = [probability_of_improvement(a[i], b[j]) for i, j in zip(ia, ib)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(theta, [2.5, 97.5])), rel=1e-12)


def test_holm_hand_computed() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, 1*0.04 -> monotone max: 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm(np.array([0.5, 0.9])), [1.0, 1.0])
    out = holm(np.array([0.02, np.nan, 0.01]))
    assert math.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.02])


def test_friedman_hand_computed_and_scipy() -> None:
    # 3 blocks, identical order: rank sums 3, 6, 9 ->
    # chi2 = 12 / (n k (k+1)) * sum R^2 - 3 n (k+1) = 126/3 - 36 = 6; p = exp(-3) (chi2, 2 df)
    v = np.array([[3.0, 2.0, 1.0], [30.0, 20.0, 10.0], [0.3, 0.2, 0.1]])
    r = friedman(v)
    assert r.statistic == pytest.approx(6.0)
    assert r.pvalue == pytest.approx(math.exp(-3))
    np.testing.assert_allclose(average_ranks(v), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(average_ranks(v, maximize=False), [3.0, 2.0, 1.0])
    rng = np.random.default_rng(1)
    w = rng.normal(size=(20, 4)) + np.arange(4) * 0.3
    assert friedman(w).pvalue == pytest.approx(stats.friedmanchisquare(*w.T).pvalue)
    assert math.isnan(friedman(w[:, :2]).pvalue)  # needs >= 3 methods


def test_nemenyi_cd_matches_demsar_table() -> None:
    # Demšar (2006), Table 5(a): q_0.05 for k = 2..10
    q = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    for k, qk in zip(range(2, 11), q):
        cd = nemenyi_cd(k, 10)
        assert cd / math.sqrt(k * (k + 1) / 60) == pytest.approx(qk, abs=2e-3)
    with pytest.raises(ValueError, match="k >= 2"):
        nemenyi_cd(1, 10)


def test_rank_matrix_ties_and_nan_is_worst() -> None:
    v = np.array([[0.9, 0.9, 0.1, np.nan]])
    np.testing.assert_allclose(rank_matrix(v, axis=1), [[1.5, 1.5, 3.0, 4.0]])
    np.testing.assert_allclose(rank_matrix(v, maximize=False, axis=1), [[2.5, 2.5, 1.0, 4.0]])


def test_bootstrap_ci_equals_scipy_percentile_bootstrap() -> None:
    x = np.random.default_rng(7).normal(91.0, 0.3, 60)
    for stat, fn in (("mean", np.mean), ("median", np.median)):
        ours = bootstrap_ci(x, np.random.default_rng(42), stat=stat, n_boot=999)
        ref = stats.bootstrap((x,), fn, n_resamples=999, method="percentile", vectorized=True,
                              rng=np.random.default_rng(42)).confidence_interval
        assert ours == pytest.approx((ref.low, ref.high), rel=1e-12)
    # same seed, same interval; another seed, another interval
    assert bootstrap_ci(x, np.random.default_rng(1)) == bootstrap_ci(x, np.random.default_rng(1))
    assert bootstrap_ci(x, np.random.default_rng(1)) != bootstrap_ci(x, np.random.default_rng(2))


def test_bootstrap_mean_ci_columns_equal_one_dimensional() -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    lo, hi = bootstrap_mean_ci(x, np.random.default_rng(5), n_boot=300)
    for j in range(3):
        assert (lo[j], hi[j]) == pytest.approx(
            bootstrap_ci(x[:, j], np.random.default_rng(5), n_boot=300), rel=1e-12)
    x[:5, 1] = np.nan  # NaNs of a column are left out of that column only
    lo2, hi2 = bootstrap_mean_ci(x, np.random.default_rng(5), n_boot=300)
    assert lo2[0] == lo[0] and np.isfinite(lo2[1]) and lo2[1] != lo[1]


def test_summarize_against_numpy() -> None:
    x = np.array([90.1, 91.3, np.nan, 90.7, 91.0, 90.2])
    s = summarize(x, np.random.default_rng(0), n_boot=200)
    v = x[~np.isnan(x)]
    assert (s.n, s.n_nan) == (5, 1)
    assert s.mean == pytest.approx(v.mean())
    assert s.std == pytest.approx(v.std(ddof=1))
    assert s.sem == pytest.approx(v.std(ddof=1) / math.sqrt(5))
    assert s.median == 90.7
    assert (s.q25, s.q75) == (90.2, 91.0)
    assert s.iqr == pytest.approx(0.8)
    assert s.ci_low < s.mean < s.ci_high
    empty = summarize(np.array([np.nan]), np.random.default_rng(0))
    assert empty.n == 0 and math.isnan(empty.mean)


def test_regret_is_against_the_given_optimum() -> None:
    v = np.array([91.0, 91.60666665, np.nan])
    r = regret(v, 91.60666665, maximize=True, normalised=False)
    np.testing.assert_allclose(r[:2], [0.60666665, 0.0])
    assert math.isnan(r[2])
    np.testing.assert_allclose(regret(v, 91.60666665, maximize=True)[:1], 0.60666665 / 91.60666665)
    np.testing.assert_allclose(regret(np.array([0.5]), 0.25, maximize=False), [1.0])


def test_best_ties_uses_the_test_not_the_means() -> None:
    rng = np.random.default_rng(0)
    seeds = np.arange(30)
    base = rng.normal(91.0, 0.3, 30)
    noise = rng.normal(0.0, 0.3, 30)
    samples = {"a": (seeds, base + 0.5),  # best mean
               "b": (seeds, base + 0.5 - 1e-3 * (1 + rng.random(30))),  # tiny, consistent deficit
               "c": (seeds, base + 0.45 + noise - noise.mean()),  # noisy, mean 0.05 lower
               "d": (seeds, base)}
    ties = best_ties(samples)
    # b is below a on every seed: the paired test separates them though the means nearly agree
    assert "a" in ties and "b" not in ties and "d" not in ties
    assert "c" in ties


def test_table_renderers() -> None:
    t = Table("Final results on cifar10_valid", ["Method", "valid_acc", "test"],
              [["re_x", "91.40 ± 0.17", "91.07"], ["rs", "91.10 ± 0.25", "–"]],
              np.array([[False, True, False], [False, False, False]]),
              pd.DataFrame({"method": ["re_x", "rs"], "valid_mean": [91.4012345678, 91.1]}),
              groups=[("", 1), ("CIFAR-10", 2)], rules_before=[1],
              note="Bold: by test, α = 0.05.")
    md = to_markdown(t)
    assert "| Method | CIFAR-10: valid_acc | CIFAR-10: test |" in md
    assert "**91.40 ± 0.17**" in md and "| re_x |" in md
    tex = to_latex(t, label="tab:x")
    for s in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){2-3}",
              r"\textbf{91.40 $\pm$ 0.17}", r"re\_x", r"\multicolumn{2}{c}{CIFAR-10}",
              r"\label{tab:x}", "--", r"$\alpha$"):
        assert s in tex, s
    assert tex.count(r"\midrule") == 2  # header rule + the rule before row 1
    back = pd.read_csv(__import__("io").StringIO(to_csv(t)))
    assert back["valid_mean"].iloc[0] == pytest.approx(91.4012345678, rel=1e-9)
    with pytest.raises(ValueError, match="cells"):
        Table("x", ["a", "b"], [["1"]])
