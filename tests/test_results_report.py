"""Run store, aggregation and the report, on study folders from the REAL runner and NB201 data."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_results_fixtures import nb201_table, write_study

import results
from benchbench.runner import run_study
from tabular_data import TabularBenchmark, import_nb201

C10V_BEST_VALID = 91.60666665   # NB201 fact (paper: 91.61), c10v_valid_acc
C100_BEST_VALTEST = 73.5033     # NB201 fact, c100_valtest_acc_mean
ALGS = {"rs": {}, "re": {}, "ls": {}}
SEEDS = list(range(8))


@pytest.fixture(scope="module")
def bench(nb201_flat: Path, tmp_path_factory: pytest.TempPathFactory) -> TabularBenchmark:
    return TabularBenchmark(import_nb201(nb201_flat, out=tmp_path_factory.mktemp("t") / "t.h5"))


@pytest.fixture(scope="module")
def parent(bench: TabularBenchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real studies under one folder: cifar10-valid and cifar100."""
    root = tmp_path_factory.mktemp("studies")
    run_study(bench, root / "c10v", dataset="cifar10-valid", algorithms=ALGS, seeds=SEEDS,
              max_evals=40, command="benchbench run --dataset cifar10-valid (test)")
    # NB201's cifar100 has no validation split in the flat export: valtest (x-valid U x-test)
    run_study(bench, root / "c100", dataset="cifar100", algorithms=ALGS, seeds=SEEDS,
              max_evals=40, objective="valtest_acc", test_metric="test_acc",
              allow_test_objective=True)
    return root


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def test_loads_every_run_of_the_real_runner(parent: Path) -> None:
    s = results.load_study(parent / "c10v")
    assert s.skipped == [] and list(s.runs) == list(ALGS)
    assert s.optimum() == pytest.approx(C10V_BEST_VALID)
    assert s.maximize
    # the flat NB201 export has per-seed validation values but one test value per cell: the
    # validation values are reported held out, the test values as seed means
    assert (s.source("valid"), s.source("test")) == ("heldout", "seed_mean")
    for alg, r in s.runs.items():
        np.testing.assert_array_equal(r.seeds, SEEDS)
        np.testing.assert_array_equal(r.n_evals, 40)
        for i, seed in enumerate(SEEDS):
            m = json.loads((parent / "c10v" / "runs" / alg / f"seed-{seed:06d}" /
                            "manifest.json").read_text())
            assert r.final_valid[i] == m["result"]["final_valid"]
            assert r.final_test[i] == m["result"]["final_test"]
            assert r.final_valid_heldout[i] == m["result"]["final_valid_heldout"]
            assert math.isnan(r.final_test_heldout[i])
            assert math.isnan(m["result"]["final_test_heldout"])
            assert r.final_sim_time_s[i] == pytest.approx(m["result"]["sim_time_s"])
    c = results.anytime(s, metric="valid", axis="evals")
    assert c.source == "heldout"
    np.testing.assert_array_equal(c.grid, np.arange(1, 41))
    np.testing.assert_array_equal(c.values["re"][:, -1], s.runs["re"].final_valid_heldout)
    c = results.anytime(s, metric="valid", axis="evals", source="seed_mean")
    np.testing.assert_array_equal(c.values["re"][:, -1], s.runs["re"].final_valid)
    # regret of the seed mean is against the benchmark's optimum (the best seed mean), so it
    # is >= 0 everywhere and > 0 for the best method's mean (it did not find the optimum on
    # every seed)
    reg = c.to_regret(s.optimum(), maximize=True, normalised=False)
    assert all(np.all(v >= -1e-9) for v in reg.values.values())
    assert min(float(v[:, -1].mean()) for v in reg.values.values()) > 0


def test_time_axis_matches_records(bench: TabularBenchmark, tmp_path: Path) -> None:
    run_study(bench, tmp_path / "t", dataset="cifar10-valid", algorithms={"rs": {}, "re": {}},
              seeds=[0, 1, 2], max_seconds=20 * 3600.0)
    s = results.load_study(tmp_path / "t")
    assert s.skipped == []
    grid = results.time_grid(s, 30)
    assert grid[-1] == pytest.approx(20 * 3600.0)
    c = results.anytime(s, metric="test", axis="time", grid=grid)
    rec = pd.read_csv(tmp_path / "t" / "runs" / "re" / "seed-000001" / "records.csv")
    for j, t in enumerate(grid):
        before = rec[rec["sim_time_s"] <= t]
        want = before["incumbent_test"].iloc[-1] if len(before) else np.nan
        got = c.values["re"][1, j]
        assert (math.isnan(want) and math.isnan(got)) or got == want
    # the default grid starts when every run has its first evaluation: no NaN anywhere
    d = results.anytime(s, metric="valid", axis="time")
    assert all(not np.isnan(v).any() for v in d.values.values())


def test_bad_runs_are_skipped_with_reasons(parent: Path, tmp_path: Path) -> None:
    d = _copy(parent / "c10v", tmp_path)
    run = d / "runs"

    def edit(alg: str, seed: int, **changes: object) -> None:
        p = run / alg / f"seed-{seed:06d}" / "manifest.json"
        m = json.loads(p.read_text())
        for k, v in changes.items():
            if k == "max_evals":
                m["config"]["max_evals"] = v
            else:
                m[k] = v
        p.write_text(json.dumps(m))

    edit("rs", 1, status="failed", error="Traceback ...\nRuntimeError: out of memory")
    edit("re", 2, status="running")
    edit("ls", 5, max_evals=60)  # another budget: incomparable
    rec = run / "ls" / "seed-000003" / "records.csv"
    rec.write_text("".join(rec.read_text().splitlines(keepends=True)[:-7]))  # truncated
    bad = run / "rs" / "seed-000004" / "records.csv"
    lines = bad.read_text().splitlines(keepends=True)
    bad.write_text("".join(lines[:10] + ["10,garbage,not-a-number\n"] + lines[11:]))
    (run / "re" / "seed-000006" / "manifest.json").write_text("{not json")
    (run / "re" / "seed-000009").mkdir()  # a folder without a manifest

    s = results.load_study(d)
    reasons = {(k.algorithm, k.seed): k.reason for k in s.skipped}
    assert set(reasons) == {("rs", 1), ("re", 2), ("ls", 5), ("ls", 3), ("rs", 4), ("re", 6),
                            ("re", 9)}
    assert reasons[("rs", 1)] == "failed: RuntimeError: out of memory"
    assert "still running" in reasons[("re", 2)]
    assert "max_evals 60 != study's 40" in reasons[("ls", 5)]
    assert "33 rows but the manifest says n_evals=40" in reasons[("ls", 3)]
    assert "corrupt records.csv" in reasons[("rs", 4)]
    assert "corrupt manifest.json" in reasons[("re", 6)]
    assert reasons[("re", 9)] == "no manifest.json"
    assert {a: r.seeds.tolist() for a, r in s.runs.items()} == {
        "rs": [0, 2, 3, 5, 6, 7], "re": [0, 1, 3, 4, 5, 7], "ls": [0, 1, 2, 4, 6, 7]}
    # the runs kept carry exactly the values of the untouched study
    clean = results.load_study(parent / "c10v")
    keep = np.isin(clean.runs["rs"].seeds, s.runs["rs"].seeds)
    np.testing.assert_array_equal(s.runs["rs"].final_test, clean.runs["rs"].final_test[keep])

    kinds = {(k.algorithm, k.seed): k.kind for k in s.skipped}
    assert kinds == {("rs", 1): "unfinished", ("re", 2): "unfinished", ("ls", 5): "incomparable",
                     ("ls", 3): "altered", ("rs", 4): "altered", ("re", 6): "altered",
                     ("re", 9): "unplanned"}  # seed 9 is not among the study's seeds
    assert s.completeness.text() == ("18 of 24 planned runs (0 missing, 3 altered, "
                                     "2 unfinished, 1 incomparable)")
    with pytest.warns(results.PartialResultsWarning, match="18 of 24 planned runs"):
        df = results.write_summary(d)
    assert df.set_index("algorithm")["runs"].to_dict() == {"rs": 6, "re": 6, "ls": 6}
    report = results.build_report(d, tmp_path / "rep", formats=()).read_text()
    for text in ("failed: RuntimeError: out of memory", "still running",
                 "max_evals 60 != study's 40", "corrupt manifest.json", "no manifest.json"):
        assert text in report
    skipped = pd.read_csv(tmp_path / "rep" / "tables" / "skipped.csv")
    assert len(skipped) == 7


def test_summary_csv(parent: Path) -> None:
    df = results.write_summary(parent / "c10v")
    on_disk = pd.read_csv(parent / "c10v" / "summary.csv")
    assert list(on_disk.columns) == results.SUMMARY_COLUMNS
    assert on_disk["algorithm"].tolist() == list(ALGS)
    for _, row in on_disk.iterrows():
        # the manifests, read here without the loader
        res = [json.loads((parent / "c10v" / "runs" / row["algorithm"] / f"seed-{k:06d}" /
                           "manifest.json").read_text())["result"] for k in SEEDS]
        held = np.array([m["final_valid_heldout"] for m in res])
        test = np.array([m["final_test"] for m in res])
        assert row["runs"] == row["planned"] == len(SEEDS)
        assert row["valid_values"] == "held-out seeds" and row["valid_n"] == len(SEEDS)
        assert row["valid_mean"] == pytest.approx(held.mean(), rel=1e-9)
        assert row["valid_seedmean_mean"] == pytest.approx(
            np.mean([m["final_valid"] for m in res]), rel=1e-9)
        # no held-out test value in the flat export: the seed mean, and it says so
        assert row["test_values"] == "seed mean incl. selecting run"
        assert row["test_std"] == pytest.approx(test.std(ddof=1), rel=1e-9)
        assert row["test_median"] == pytest.approx(np.median(test), rel=1e-9)
        assert row["distinct_cells_mean"] == pytest.approx(
            np.mean([m["distinct_cells"] for m in res]))
    assert len(df) == len(ALGS) and df.attrs["partial"] == []


def test_full_report_two_studies(parent: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    path = results.build_report(parent, out, formats=("png", "pdf"), n_boot=300,
                                command="benchbench report studies")
    text = path.read_text()
    assert path == out / "report.md"
    assert "`benchbench report studies`" in text
    assert "benchbench run --dataset cifar10-valid (test)" in text  # the study's command
    assert "Results sha256" in text and "scipy" in text
    assert "fidelity 200 (reported at 200), noise `crn`; cost `train`, repeats `charge`" in text
    # the cifar100 study searched on valtest (test images): its section says so, once
    note = ("the objective 'valtest_acc' (split 'valtest') shares images with the test split "
            "(allow_test_objective)")
    assert text.count(note) == 1
    assert text.index(note) > text.index("## Study: cifar100")
    main = pd.read_csv(out / "tables" / "main.csv")
    opt = main[main["method"] == "optimum"].set_index(["dataset", "metric"])["mean"]
    assert opt[("cifar10-valid", "valid")] == pytest.approx(C10V_BEST_VALID)
    assert opt[("cifar100", "valid")] == pytest.approx(C100_BEST_VALTEST)
    tex = (out / "tables" / "main.tex").read_text()
    assert r"\toprule" in tex and r"\textbf{" in tex and "optimum" in tex
    for slug in ("cifar10-valid", "cifar100"):
        for kind in ("anytime_evals", "anytime_time", "final", "ecdf", "ranks", "cd"):
            for ext in ("png", "pdf"):
                f = out / "figures" / f"{kind}_{slug}.{ext}"
                assert f.stat().st_size > 5000, f
        assert "![" in text and f"figures/final_{slug}.png" in text
    assert (out / "figures" / "cd_all.png").exists()  # ranks over (study, seed) blocks
    compute = pd.read_csv(out / "tables" / "compute.csv").set_index("study")
    s = results.load_study(parent / "c10v")
    sim = sum(r.final_sim_time_s.sum() for r in s.runs.values())
    assert compute.loc["cifar10-valid", "simulated_gpu_h"] == pytest.approx(sim / 3600)
    assert compute.loc["cifar10-valid", "runs"] == 3 * len(SEEDS)
    assert (out / "summary.csv").exists()


def test_report_is_reproducible_and_seeded(parent: Path, tmp_path: Path) -> None:
    a = results.build_report(parent / "c10v", tmp_path / "a", formats=(), n_boot=200).parent
    b = results.build_report(parent / "c10v", tmp_path / "b", formats=(), n_boot=200).parent
    c = results.build_report(parent / "c10v", tmp_path / "c", formats=(), n_boot=200,
                             bootstrap_seed=1).parent
    for name in ("final_cifar10-valid.csv", "pairwise_cifar10-valid.csv", "main.csv"):
        assert (a / "tables" / name).read_text() == (b / "tables" / name).read_text()
    fa = pd.read_csv(a / "tables" / "final_cifar10-valid.csv")
    fc = pd.read_csv(c / "tables" / "final_cifar10-valid.csv")
    assert not np.allclose(fa["valid_ci_low"], fc["valid_ci_low"])
    np.testing.assert_array_equal(fa["valid_mean"], fc["valid_mean"])


def test_transfer_table_from_recorded_transfer(shared_data: Path, tmp_path: Path) -> None:
    table = nb201_table(shared_data)
    write_study(tmp_path / "s" / "c10", table, algorithms={"random": {}, "local": {"restart": 0}},
                seeds=range(6), max_evals=30, transfer=True)
    write_study(tmp_path / "s" / "c100", table, dataset="cifar100",
                algorithms={"random": {}}, seeds=range(6), max_evals=30)
    studies = results.load_studies(tmp_path / "s")
    c10 = next(s for s in studies if s.dataset == "cifar10-valid")
    t = results.transfer_table(c10, studies)
    assert t is not None
    df = t.data.set_index(["evaluated_on", "method", "metric"])
    r = c10.runs["local"]
    want = table.cols["cifar100"]["valid"][r.incumbent_index].mean()
    assert df.loc[("cifar100", "local", "valid"), "mean"] == pytest.approx(want)
    # the optimum row uses the loaded cifar100 study's optimum, and none for ImageNet
    assert t.rows[-1][3] == f"{C100_BEST_VALTEST:.2f}" and t.rows[-1][5] == "–"
    assert results.transfer_table(next(s for s in studies if s.dataset == "cifar100"),
                                  studies) is None
    text = results.build_report(tmp_path / "s", tmp_path / "rep", formats=()).read_text()
    assert "Cross-dataset transfer: searched on cifar10-valid" in text


def test_study_without_study_json_reads_the_runner_manifests(parent: Path,
                                                              tmp_path: Path) -> None:
    # the runner's manifests record the metrics with their directions: without study.json the
    # reader takes them from there and says so (a folder whose manifests do not record them is
    # refused: test_results_store), and without a plan it cannot say whether runs are missing
    d = _copy(parent / "c10v", tmp_path)
    (d / "study.json").unlink()
    s = results.load_study(d)
    assert (s.maximize, s.maximize_test) == (True, True)
    assert any("'valid_acc' (maximised) is read from the run manifests" in n for n in s.notes)
    assert s.planned is None and s.completeness.planned is None
    assert not s.completeness.partial
    assert "completeness unknown" in s.completeness.text()
    assert results.find_study_dirs(tmp_path) == [d]
    with pytest.raises(results.StudyError, match="no study found"):
        results.find_study_dirs(d / "runs" / "re")


def test_bad_arguments(parent: Path, tmp_path: Path) -> None:
    with pytest.raises(results.StudyError, match="does not exist"):
        results.load_studies(tmp_path / "nope")
    with pytest.raises(ValueError, match="formats"):
        results.build_report(parent / "c10v", tmp_path / "x", formats=("jpg",))
    s = results.load_study(parent / "c10v")
    with pytest.raises(ValueError, match="axis must be one of"):
        results.anytime(s, axis="wall")  # type: ignore[arg-type]


def test_import_results_stays_light() -> None:
    code = ("import sys, results; bad = [m for m in ('matplotlib', 'torch') if m in sys.modules];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
