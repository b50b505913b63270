"""What the report reports (issue 9), on real runner studies: held-out values by default (the
winner's curse), columns that say what they hold, NB201's CIFAR-10 column, one block per study
across studies, the Wilcoxon n and the paired probability-of-improvement interval, distinct
cells and search settings.

Every expected number is recomputed here from the raw files (records.csv with the csv module,
manifest.json with json) and from the benchmark's own per-seed values, or by scipy; never taken
from ``results`` itself.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import results
from benchbench.registry import open_benchmark
from benchbench.runner import run_study
from results._analysis import study_rng
from results._stats import probability_of_improvement
from tabular_data import TabularBenchmark, import_nb201

ALGS = {"rs": {}, "re": {}, "ls": {}}
SEEDS = list(range(10))
EVALS = 40
HELD = "held-out seeds"
MEAN = "seed mean incl. selecting run"


@pytest.fixture(scope="module")
def digits() -> Any:
    """The embedded NB201 table trained on digits (2 recorded seeds per cell, 12 epochs)."""
    return open_benchmark("nb201-digits")


@pytest.fixture(scope="module")
def study_dir(digits: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "crn"
    run_study(digits, out, dataset="digits", algorithms=ALGS, seeds=SEEDS, max_evals=EVALS)
    return out


def _records(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _reference(bench: Any, study: Path, alg: str, seed: int) -> dict[str, float]:
    """One run's final incumbent, recomputed from its records.csv and the benchmark's per-seed
    values: its seed mean, and its held-out mean (the recorded seeds other than the one whose
    value selected it; under common random numbers every query of a cell in a run answers with
    the same recorded seed)."""
    rows = _records(study / "runs" / alg / f"seed-{seed:06d}" / "records.csv")
    inc = rows[-1]["incumbent_id"]
    sel = next(r for r in rows if r["arch_id"] == inc)
    arch = bench.space.from_index(int(sel["arch_index"]))
    others = [s for s in bench.data_seeds(arch, "digits") if s != int(sel["data_seed"])]
    per = [bench.query(arch, dataset="digits", fidelity=12, data_seed=s).values for s in others]
    mean = bench.query(arch, dataset="digits", fidelity=12).values
    return {"valid": mean["valid_acc"], "test": mean["test_acc"],
            "valid_heldout": float(np.mean([p["valid_acc"] for p in per])),
            "test_heldout": float(np.mean([p["test_acc"] for p in per])),
            "distinct": len({r["arch_id"] for r in rows})}


@pytest.fixture(scope="module")
def ref(digits: Any, study_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    """algorithm -> value -> ``(len(SEEDS),)`` recomputed final values."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for alg in ALGS:
        runs = [_reference(digits, study_dir, alg, k) for k in SEEDS]
        out[alg] = {key: np.array([r[key] for r in runs], dtype=float) for key in runs[0]}
    return out


# ------------------------------------------------------------------- the winner's curse
def test_heldout_values_are_reported_by_default(study_dir: Path,
                                               ref: dict[str, dict[str, np.ndarray]]) -> None:
    s = results.load_study(study_dir)
    assert (s.source("valid"), s.source("test")) == ("heldout", "heldout")
    for alg, r in s.runs.items():
        np.testing.assert_allclose(r.final_valid_heldout, ref[alg]["valid_heldout"], rtol=1e-12)
        np.testing.assert_allclose(r.final_test_heldout, ref[alg]["test_heldout"], rtol=1e-12)
        np.testing.assert_allclose(r.final_test, ref[alg]["test"], rtol=1e-12)
    # the winner's curse is real here: the seed mean includes the run that selected the cell
    held = np.concatenate([ref[a]["valid_heldout"] for a in ALGS])
    mean = np.concatenate([ref[a]["valid"] for a in ALGS])
    assert mean.mean() > held.mean() + 0.5

    # the final table: held-out first, the seed mean beside it, each column saying which
    t = results.final_table(s, n_boot=200)
    df = t.data.set_index("algorithm")
    for alg in ALGS:
        for m in ("valid", "test"):
            assert df.loc[alg, f"{m}_values"] == HELD
            assert df.loc[alg, f"{m}_mean"] == pytest.approx(ref[alg][f"{m}_heldout"].mean())
            assert df.loc[alg, f"{m}_std"] == pytest.approx(ref[alg][f"{m}_heldout"].std(ddof=1))
            assert df.loc[alg, f"{m}_seedmean_mean"] == pytest.approx(ref[alg][m].mean())
    md = results.to_markdown(t)
    for head in (f"Validation valid_acc, {HELD}: mean ± std", f"Validation valid_acc, {MEAN}",
                 f"Test test_acc, {HELD}: mean ± std", f"Test test_acc, {MEAN}"):
        assert head in md, head
    assert "winner's curse" in t.note

    # summary.csv
    summ = s.summary().set_index("algorithm")
    for alg in ALGS:
        assert summ.loc[alg, "test_values"] == HELD
        assert summ.loc[alg, "test_mean"] == pytest.approx(ref[alg]["test_heldout"].mean())
        assert summ.loc[alg, "test_median"] == pytest.approx(np.median(ref[alg]["test_heldout"]))
        assert summ.loc[alg, "test_seedmean_mean"] == pytest.approx(ref[alg]["test"].mean())

    # the NB201-layout table
    main = results.nb201_table([s]).data
    got = main.set_index(["method", "metric", "values"])["mean"]
    for alg in ALGS:
        assert got[(alg, "test", HELD)] == pytest.approx(ref[alg]["test_heldout"].mean())
        assert got[(alg, "test", MEAN)] == pytest.approx(ref[alg]["test"].mean())

    # ranks and pairwise comparisons are on the held-out values
    ranks = results.within_study_ranks(s)
    mat = np.stack([ref[a]["valid_heldout"] for a in ALGS], axis=1)
    want = stats.rankdata(-mat, axis=1).mean(axis=0)
    np.testing.assert_allclose(ranks[0][1].avg_ranks, want)
    assert ranks[0][0] == f"final validation ({HELD})"
    pw = results.pairwise_table(s, n_boot=200).data.set_index(["metric", "a", "b"])
    d = ref["rs"]["test_heldout"] - ref["re"]["test_heldout"]
    assert pw.loc[("test", "rs", "re"), "mean_diff"] == pytest.approx(d.mean())


def test_seed_mean_is_reported_and_named_when_there_is_no_heldout_value(
        digits: Any, tmp_path: Path) -> None:
    # noise "mean": the optimizer saw the seed means, so there is no selecting run and no
    # held-out value; the tables report the seed mean and say so
    out = tmp_path / "mean"
    run_study(digits, out, dataset="digits", algorithms={"rs": {}, "re": {}}, seeds=range(6),
              max_evals=20, noise="mean")
    s = results.load_study(out)
    assert (s.source("valid"), s.source("test")) == ("seed_mean", "seed_mean")
    label = "seed mean (seen by the optimizer)"
    assert s.source_label("valid") == label
    t = results.final_table(s, n_boot=100)
    assert "no held-out value recorded" in t.note
    assert t.columns.count("mean ± std") == 2  # no second (seed-mean) column
    md = results.to_markdown(t)
    assert f"Validation valid_acc, {label}: mean ± std" in md
    res = {k: json.loads((out / "runs" / "rs" / f"seed-{k:06d}" / "manifest.json").read_text())
           ["result"] for k in range(6)}
    assert all(math.isnan(r["final_valid_heldout"]) for r in res.values())
    assert t.data.set_index("algorithm").loc["rs", "valid_mean"] == pytest.approx(
        np.mean([r["final_valid"] for r in res.values()]))
    assert s.summary().set_index("algorithm").loc["rs", "valid_values"] == label


# ------------------------------------------------------------------- NB201's CIFAR-10 column
@pytest.fixture(scope="module")
def nb201(nb201_flat: Path, tmp_path_factory: pytest.TempPathFactory) -> TabularBenchmark:
    return TabularBenchmark(import_nb201(nb201_flat, out=tmp_path_factory.mktemp("t") / "t.h5"))


def test_nb201_layout_labels_cifar10_valid_and_fills_cifar10_from_transfer(
        nb201: TabularBenchmark, nb201_flat: Path, tmp_path: Path) -> None:
    algs = {"rs": {}, "re": {}}
    run_study(nb201, tmp_path / "t" / "c10v", dataset="cifar10-valid", algorithms=algs,
              seeds=range(6), max_evals=30, transfer=["cifar10"])
    s = results.load_study(tmp_path / "t" / "c10v")
    t = results.nb201_table([s])
    groups = [g for g, _ in t.groups or []]
    assert groups == ["", "cifar10-valid (25k train)", "cifar10 (50k train)"]
    md = results.to_markdown(t)
    assert "cifar10-valid (25k train): test test_acc, seed mean incl. selecting run" in md
    assert "cifar10 (50k train): test test_acc, of the cell found on cifar10-valid" in md
    # the CIFAR-10 column: the found cells' test accuracy trained on all 50k images, read here
    # from NB201's flat export (column c10_test_acc_single), not from the runs
    flat = pd.read_csv(nb201_flat, usecols=["index", "c10_test_acc_single"]).set_index("index")
    data = t.data[(t.data["dataset"] == "cifar10") & (t.data["method"] != "optimum")]
    for alg in algs:
        idx = [json.loads((tmp_path / "t" / "c10v" / "runs" / alg / f"seed-{k:06d}" /
                           "manifest.json").read_text())["result"]["incumbent_index"]
               for k in range(6)]
        want = flat.loc[idx, "c10_test_acc_single"].to_numpy()
        assert data.set_index("method").loc[alg, "mean"] == pytest.approx(want.mean())
    assert "NAS-Bench-201's CIFAR-10 test column" in t.note

    # without --transfer cifar10 there is no CIFAR-10 column, and the note says why the
    # cifar10-valid test column is not it
    run_study(nb201, tmp_path / "u", dataset="cifar10-valid", algorithms=algs, seeds=range(3),
              max_evals=10)
    u = results.nb201_table([results.load_study(tmp_path / "u")])
    assert [g for g, _ in u.groups or []] == ["", "cifar10-valid (25k train)"]
    assert "trained on 25k images, not NAS-Bench-201's CIFAR-10 test column" in u.note


# ------------------------------------------------------------------- across studies
def test_across_studies_ranks_one_block_per_study(digits: Any, study_dir: Path,
                                                   tmp_path: Path) -> None:
    # a second study (another budget) beside a copy of the first: the CD diagram must count
    # 2 blocks (studies), not 2 x 10 (study, seed) pairs
    import shutil

    root = tmp_path / "all"
    shutil.copytree(study_dir, root / "e40")
    run_study(digits, root / "e15", dataset="digits", algorithms=ALGS, seeds=SEEDS,
              max_evals=15)
    studies = results.load_studies(root)
    got = results.across_studies_ranks(studies, "valid")
    assert got is not None
    common, res = got
    assert common == list(ALGS) and res.n_blocks == 2
    # reference: per study, each method's mean held-out validation value over the seeds
    # (from the manifests), ranked within the study (scipy), averaged over the studies
    blocks = []
    for d in (root / "e15", root / "e40"):
        blocks.append([np.mean([json.loads((d / "runs" / a / f"seed-{k:06d}" /
                                            "manifest.json").read_text())["result"]
                                ["final_valid_heldout"] for k in SEEDS]) for a in ALGS])
    b = np.array(blocks)
    np.testing.assert_allclose(res.avg_ranks, stats.rankdata(-b, axis=1).mean(axis=0))
    assert res.friedman_stat == pytest.approx(stats.friedmanchisquare(*b.T).statistic)
    q = stats.studentized_range.ppf(0.95, 3, np.inf) / math.sqrt(2)
    assert res.cd == pytest.approx(q * math.sqrt(3 * 4 / (6 * 2)))
    text = results.build_report(root, tmp_path / "rep", formats=()).read_text()
    assert "One block per study (Demšar 2006)" in text
    assert "N = 2 blocks (studies" in text


# ------------------------------------------------------------ Wilcoxon n, paired P(A>B) CI
def test_pairwise_wilcoxon_n_and_paired_poi_interval(study_dir: Path,
                                                     ref: dict[str, dict[str, np.ndarray]]
                                                     ) -> None:
    s = results.load_study(study_dir)
    t = results.pairwise_table(s, bootstrap_seed=0, n_boot=300)
    pw = t.data.set_index(["metric", "a", "b"])
    for a, b in (("rs", "re"), ("rs", "ls"), ("re", "ls")):
        va, vb = ref[a]["valid_heldout"], ref[b]["valid_heldout"]
        d = va - vb
        row = pw.loc[("valid", a, b)]
        assert row["wilcoxon_n"] == np.count_nonzero(d)  # zero differences dropped
        if np.any(d != 0):
            assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d).pvalue)
        # P(A>B) and its interval, resampling seeds (pairs of runs) jointly, by hand
        assert row["prob_improvement"] == pytest.approx(probability_of_improvement(va, vb))
        rng = study_rng(0, s, "poi", "valid", a, b)
        idx = rng.integers(0, len(SEEDS), (300, len(SEEDS)))
        theta = [probability_of_improvement(va[i], vb[i]) for i in idx]
        assert (row["poi_ci_low"], row["poi_ci_high"]) == pytest.approx(
            tuple(np.percentile(theta, [2.5, 97.5])), rel=1e-12)
    assert "Wilcoxon n" in t.columns and "zero_method='wilcox'" in t.note
    assert "resamples seeds" in t.note


# ------------------------------------------------------- distinct cells, search settings
def test_distinct_cells_and_search_settings(digits: Any, study_dir: Path, tmp_path: Path,
                                            ref: dict[str, dict[str, np.ndarray]]) -> None:
    s = results.load_study(study_dir)
    df = results.final_table(s, n_boot=100).data.set_index("algorithm")
    for alg in ALGS:
        assert df.loc[alg, "distinct_cells_mean"] == pytest.approx(ref[alg]["distinct"].mean())
    assert s.summary().set_index("algorithm").loc["re", "distinct_cells_mean"] == \
        pytest.approx(ref["re"]["distinct"].mean())

    # cached repeats and a dropped budget crossing: the report says so, and counts the runs
    # that stopped before the crossing evaluation
    out = tmp_path / "cache"
    run_study(digits, out, dataset="digits", algorithms={"rs": {}, "re": {}}, seeds=range(4),
              max_seconds=8.0, repeats="cache", budget_crossing="drop")
    stopped = sum("stopped" in json.loads(p.read_text())["result"]
                  for p in out.glob("runs/*/seed-*/manifest.json"))
    assert stopped > 0
    text = results.build_report(out, tmp_path / "rep", formats=()).read_text()
    assert "repeats `cache` (a re-queried cell is answered from the first query, free)" in text
    assert "budget crossing `drop`" in text
    assert f"{stopped} runs stopped before the evaluation that would have crossed" in text
    assert "distinct cells per run (mean): rs " in text
