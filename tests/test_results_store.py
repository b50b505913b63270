"""``results`` reads study folders through ``benchbench.store``: metric directions as recorded
(never guessed from a name), ``Study.records()`` / ``Study.summary()``, the 0.1 layout,
spaces without enumeration, and integrity checks against the manifests."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_results_fixtures import (
    Table,
    bench_info,
    nb201_table,
    setting,
    simulate_run,
    study_spec,
    write_run,
    write_study,
)

import results
from benchbench.runner import run_study
from benchbench.store import StudyStore
from benchbench.trial import RECORD_FIELDS, RECORD_FIELDS_V1
from results._analysis import pairwise_table
from results._stats import probability_of_improvement
from tabular_data import TabularBenchmark, import_nb201

ALGS = {"rs": {}, "re": {}, "ls": {}}
SEEDS = [0, 1, 2, 3, 4]
EVALS = 30
DTYPES = {"algorithm": "str", "seed": "int64", "eval": "int64", "arch_id": "str",
          "arch_index": "Int64", "fidelity": "int64", "data_seed": "Int64",
          "objective": "float64", "cost_s": "float64", "sim_time_s": "float64",
          "incumbent_index": "Int64", "incumbent_valid": "float64",
          "incumbent_test": "float64", "incumbent_id": "str",
          "incumbent_valid_heldout": "float64", "incumbent_test_heldout": "float64"}


@pytest.fixture(scope="module")
def table(shared_data: Path) -> Table:
    return nb201_table(shared_data)


@pytest.fixture(scope="module")
def bench(nb201_flat: Path, tmp_path_factory: pytest.TempPathFactory) -> TabularBenchmark:
    return TabularBenchmark(import_nb201(nb201_flat, out=tmp_path_factory.mktemp("t") / "t.h5"))


@pytest.fixture(scope="module")
def runner_study(bench: TabularBenchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real study written by the runner on the NB201 table."""
    out = tmp_path_factory.mktemp("runner") / "c10v"
    run_study(bench, out, dataset="cifar10-valid", algorithms=ALGS, seeds=SEEDS,
              max_evals=EVALS)
    return out


def _check_columns(df: pd.DataFrame) -> None:
    assert list(df.columns) == ["algorithm", "seed", *RECORD_FIELDS]
    assert {c: str(df[c].dtype) for c in DTYPES} == DTYPES


def _manifests(study: Path) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r.label, int(r.seed or 0)): StudyStore(study).read_manifest(r)[1]
            for r in StudyStore(study).iter_runs()}


# ----------------------------------------------------------------- records() and summary()
def test_records_frame_matches_the_manifests(runner_study: Path) -> None:
    s = results.load_study(runner_study)
    df = s.records()
    _check_columns(df)
    mans = _manifests(runner_study)
    assert len(df) == sum(m["result"]["n_evals"] for m in mans.values()) == 3 * 5 * EVALS
    # ordered by algorithm (as in the study), seed, eval
    assert list(dict.fromkeys(df["algorithm"])) == list(ALGS)
    for (alg, seed), run in df.groupby(["algorithm", "seed"], sort=False):
        res = mans[(str(alg), int(seed))]["result"]
        assert run["eval"].tolist() == list(range(res["n_evals"]))
        last = run.iloc[-1]
        assert last["incumbent_valid"] == res["final_valid"]
        assert last["incumbent_test"] == res["final_test"]
        assert last["incumbent_id"] == res["incumbent_id"]
        assert last["incumbent_index"] == res["incumbent_index"]
        assert last["sim_time_s"] == pytest.approx(res["sim_time_s"])
        assert run["arch_id"].nunique() == res["distinct_cells"]
        assert run["fidelity"].eq(200).all() and run["data_seed"].notna().all()
    # the same values as the store's own one-file reader
    store = StudyStore(runner_study)
    for r in store.iter_runs():
        want = store.read_records(r)
        got = df[(df["algorithm"] == r.label) & (df["seed"] == r.seed)]
        for c in ("eval", "arch_index", "objective", "cost_s", "sim_time_s",
                  "incumbent_valid", "incumbent_test"):
            np.testing.assert_array_equal(got[c].to_numpy(float), want[c].to_numpy(float))
        assert got["arch_id"].tolist() == want["arch_id"].tolist()
    # and the dense arrays of the loaded study
    for alg, r in s.runs.items():
        last = df[df["algorithm"] == alg].groupby("seed").tail(1)
        np.testing.assert_array_equal(last["incumbent_valid"], r.final_valid)
        np.testing.assert_array_equal(last["incumbent_index"].to_numpy(np.int64),
                                      r.incumbent_index)
        assert last["incumbent_id"].tolist() == r.incumbent_id.tolist()


def test_summary_frame_matches_the_manifests(runner_study: Path) -> None:
    s = results.load_study(runner_study)
    summ = s.summary()
    assert list(summ.columns) == results.SUMMARY_COLUMNS
    assert summ["algorithm"].tolist() == list(ALGS)
    mans = _manifests(runner_study)
    for _, row in summ.iterrows():
        res = [mans[(row["algorithm"], k)]["result"] for k in SEEDS]
        held = np.array([m["final_valid_heldout"] for m in res])
        valid = np.array([m["final_valid"] for m in res])
        test = np.array([m["final_test"] for m in res])
        assert row["study"] == "cifar10-valid" and row["runs"] == len(SEEDS)
        # reported: held-out validation values; the seed mean beside them
        assert row["valid_values"] == "held-out seeds"
        assert row["valid_mean"] == pytest.approx(held.mean(), rel=1e-12)
        assert row["valid_std"] == pytest.approx(held.std(ddof=1), rel=1e-12)
        assert row["valid_seedmean_mean"] == pytest.approx(valid.mean(), rel=1e-12)
        assert row["valid_seedmean_std"] == pytest.approx(valid.std(ddof=1), rel=1e-12)
        assert row["test_values"] == "seed mean incl. selecting run"
        assert row["test_median"] == pytest.approx(np.median(test), rel=1e-12)
    pd.testing.assert_frame_equal(summ, results.write_summary(runner_study))


# ------------------------------------------------------------------------------- directions
def test_a_minimised_metric_is_read_as_minimised(table: Table, tmp_path: Path) -> None:
    # the parameter count, recorded with direction "min": a name-based guess reads it as
    # maximised (nothing in "params_mb" says loss/error/time)
    d = write_study(tmp_path / "p", table, objective="params_mb", seeds=range(6), max_evals=40)
    s = results.load_study(d)
    assert (s.maximize, s.maximize_test) == (False, True)
    assert s.directions == {"valid": False, "test": True} and s.notes == []
    assert s.optimum() == pytest.approx(table.df["c10v_params_mb"].min())
    # the incumbent only ever gets smaller, so the reader's regret is >= 0 and shrinks
    c = results.anytime(s, metric="valid").to_regret(s.optimum(), maximize=s.maximize,
                                                      normalised=False)
    for v in c.values.values():
        assert np.all(v >= 0) and np.all(np.diff(v, axis=1) <= 0)
    final = results.final_table(s, n_boot=200).data.set_index("algorithm")
    assert (final["valid_regret_mean"] >= 0).all() and (final["test_regret_mean"] >= 0).all()
    means = final["valid_mean"]
    best = means.idxmin()
    t = results.final_table(s, n_boot=200)
    assert t.bold[list(s.runs).index(best), 2]  # the smallest mean is bold


def test_test_metric_ranked_by_its_own_direction(table: Table, tmp_path: Path) -> None:
    # valid_acc is maximised, test_loss minimised: the test metric must not inherit the
    # objective's direction
    d = write_study(tmp_path / "l", table, test_metric="test_loss", seeds=range(8),
                    max_evals=30)
    s = results.load_study(d)
    assert (s.maximize, s.maximize_test) == (True, False)
    assert s.maximizes("test") is False and s.metric_info("test_metric").unit == "nats"
    t = results.final_table(s, n_boot=200)
    df = t.data.set_index("algorithm")
    assert (df["test_regret_mean"] >= 0).all()  # value - min test loss
    np.testing.assert_allclose(
        df["test_regret_mean"], df["test_mean"] - table.df["c10v_test_loss"].min())
    best_test = df["test_mean"].idxmin()
    assert t.bold[list(s.runs).index(best_test), 2 + 4]
    pw = pairwise_table(s, n_boot=200).data.set_index(["metric", "a", "b"])
    fv = results.final_values(s, "test")
    want = probability_of_improvement(fv["random"][1], fv["local"][1], maximize=False)
    assert pw.loc[("test", "random", "local"), "prob_improvement"] == pytest.approx(want)
    assert pw.loc[("test", "random", "local"), "prob_improvement"] != pytest.approx(
        probability_of_improvement(fv["random"][1], fv["local"][1], maximize=True))
    main = results.nb201_table([s])
    assert main.bold[list(s.runs).index(best_test), 2]
    text = results.build_report(d, tmp_path / "rep", formats=()).read_text()
    assert "test metric `test_loss` (minimised)" in text


def test_no_study_json_reads_directions_from_manifests_else_refuses(table: Table,
                                                                     tmp_path: Path) -> None:
    d = write_study(tmp_path / "m", table, objective="valid_loss", seeds=range(4),
                    max_evals=20, with_spec=False, metrics_in_manifest=True)
    s = results.load_study(d)
    assert (s.maximize, s.maximize_test) == (False, True)
    assert any("no study.json" in n and "'valid_loss' (minimised) is read from the run "
               "manifests" in n for n in s.notes)
    assert math.isnan(s.optimum()) and s.skipped == [] and s.runs["local"].n == 4
    # a run with other parameters is left out, with the reason
    write_run(d, table, setting(table, objective="valid_loss"), alg="local",
              params={"restart": 1}, seed=9, max_evals=20, metrics_in_manifest=True)
    s = results.load_study(d)
    assert [(k.algorithm, k.seed) for k in s.skipped] == [("local", 9)]
    assert "params" in s.skipped[0].reason

    bare = write_study(tmp_path / "bare", table, seeds=range(2), max_evals=10,
                       with_spec=False)
    with pytest.raises(results.StudyError, match="there is no study.json, and no run manifest "
                                                 "records the direction of 'valid_acc'; "
                                                 "refusing to guess"):
        results.load_study(bare)

    # manifests that disagree are refused too
    p = StudyStore(d).run_path("random", 1) / "manifest.json"
    m = json.loads(p.read_text())
    m["benchmark"]["metrics"][0]["direction"] = "max"
    p.write_text(json.dumps(m))
    with pytest.raises(results.StudyError, match="the run manifests disagree"):
        results.load_study(d)


def test_study_json_without_the_test_metric_direction(table: Table, tmp_path: Path) -> None:
    d = write_study(tmp_path / "s", table, seeds=range(2), max_evals=10)
    store = StudyStore(d)
    spec = store.read_spec(raw=True)
    spec["metrics"] = spec["metrics"][:1]  # the objective only
    store.write_spec(spec)
    with pytest.raises(results.StudyError, match="study.json records no direction for the "
                                                 "test metric 'test_acc'"):
        results.load_study(d)


# ----------------------------------------------------------------------------- 0.1 folders
#: RunConfig.to_dict() keys of benchbench 0.1 (without transfer: only when asked for).
_V01_CONFIG = ("benchmark", "data_sha256", "dataset", "label", "algorithm", "params", "seed",
               "max_evals", "max_seconds", "fidelity", "objective", "test_metric", "noise")


def _write_v01_study(root: Path, table: Table, *, seeds: range, max_evals: int,
                     objective: str | None = None) -> None:
    """A study folder exactly as benchbench 0.1 wrote it (see ``git show 443635a:benchbench/
    runner.py``): study.json without ``schema``, manifests without ``records_sha256``,
    11-column records with incumbent_index -1 until the first finite objective."""
    st = setting(table, objective=objective)
    noise = "seed" if st.noise == "crn" else st.noise  # 0.1's name of common random numbers
    spec = study_spec(table, st, algorithms={"random": {}, "local": {"restart": 0}},
                      seeds=seeds, max_evals=max_evals)
    del spec["search"]  # 0.1 had no search settings
    spec.update(noise=noise, updated="2025-01-01T00:00:05", wall_s_total=12.5)
    spec["versions"] = {"python": "3.11.7", "numpy": "2.1.0", "benchbench": "0.1.0",
                        "platform": "Linux"}
    assert "schema" not in spec
    root.mkdir(parents=True)
    (root / "study.json").write_text(json.dumps(spec, indent=1))
    for alg, params in spec["algorithms"].items():
        for seed in seeds:
            run = simulate_run(table, st, alg=alg, params=params, seed=seed,
                               max_evals=max_evals, diverged_first=seed == 0)
            cfg = {k: v for k, v in run.config.items() if k in _V01_CONFIG}
            cfg["noise"] = noise
            rec = run.records[list(RECORD_FIELDS_V1)].astype(object)
            rec["incumbent_index"] = rec["incumbent_index"].where(
                rec["incumbent_index"].notna(), -1)
            rec["data_seed"] = rec["data_seed"].where(rec["data_seed"].notna(), "")
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(RECORD_FIELDS_V1)
            w.writerows(rec.itertuples(index=False, name=None))
            d = root / "runs" / alg / f"seed-{seed:06d}"
            d.mkdir(parents=True)
            (d / "records.csv").write_text(buf.getvalue())
            result = {k: v for k, v in run.result.items() if k != "distinct_cells"}
            man = {"run_id": f"{alg}/seed-{seed:06d}", "config": cfg,
                   "config_hash": f"{seed:016x}", "benchmark": bench_info(),
                   "versions": spec["versions"],
                   "seeds": {"run": seed, "optimizer": seed + 1, "noise": seed + 2},
                   "status": "done", "error": None, "started": "2025-01-01T00:00:00+00:00",
                   "finished": "2025-01-01T00:00:01+00:00", "wall_s": 0.5, "result": result}
            (d / "manifest.json").write_text(json.dumps(man, indent=1))


def test_v01_folder_loads_and_summarises(table: Table, tmp_path: Path) -> None:
    d = tmp_path / "v01"
    _write_v01_study(d, table, seeds=range(4), max_evals=25)
    assert (d / "runs" / "local" / "seed-000000" / "records.csv").read_text().splitlines()[
        0] == ",".join(RECORD_FIELDS_V1)
    s = results.load_study(d)
    assert s.skipped == [] and s.spec["migrated_from"] == 1 and s.maximize
    assert {a: r.n for a, r in s.runs.items()} == {"random": 4, "local": 4}
    mans = _manifests(d)
    for alg, r in s.runs.items():
        assert r.incumbent_id.tolist() == [mans[(alg, k)]["result"]["incumbent_id"]
                                           for k in range(4)]
        assert r.incumbent_index.tolist() == [mans[(alg, k)]["result"]["incumbent_index"]
                                              for k in range(4)]
    df = s.records()
    _check_columns(df)
    assert len(df) == 2 * 4 * 25
    assert (df["incumbent_id"] == "").all()
    first = df[(df["seed"] == 0) & (df["eval"] == 0)]  # diverged: no incumbent yet, not -1
    assert first["incumbent_index"].isna().all() and first["objective"].isna().all()
    assert df["incumbent_index"].dropna().ge(0).all()
    summ = s.summary()
    assert summ["runs"].tolist() == [4, 4]
    assert summ.set_index("algorithm").loc["local", "valid_mean"] == pytest.approx(
        np.mean([mans[("local", k)]["result"]["final_valid"] for k in range(4)]))
    assert "Final results on cifar10-valid" in results.build_report(
        d, tmp_path / "rep", formats=()).read_text()


def test_records_of_both_layouts_in_one_folder(table: Table, tmp_path: Path) -> None:
    # a run in the current layout copied into a 0.1 folder (seed means, so comparable): one
    # frame, in algorithm / seed / eval order
    d = tmp_path / "v01"
    _write_v01_study(d, table, seeds=range(2), max_evals=12, objective="valid_loss")
    st = setting(table, objective="valid_loss")
    write_run(d, table, st, alg="random", params={}, seed=7, max_evals=12)
    spec = json.loads((d / "study.json").read_text())
    spec["seeds"] = [0, 1, 7]
    (d / "study.json").write_text(json.dumps(spec))
    s = results.load_study(d)
    assert s.runs["random"].seeds.tolist() == [0, 1, 7]
    # the plan is algorithms × seeds: "local" was never run with seed 7
    assert [(k.algorithm, k.seed, k.kind) for k in s.skipped] == [("local", 7, "missing")]
    df = s.records()
    _check_columns(df)
    assert df[["algorithm", "seed"]].drop_duplicates().values.tolist() == [
        ["random", 0], ["random", 1], ["random", 7], ["local", 0], ["local", 1]]
    assert df.groupby(["algorithm", "seed"])["eval"].apply(
        lambda e: e.tolist() == list(range(12))).all()
    assert (df[df["seed"] < 7]["incumbent_id"] == "").all()
    new = df[df["seed"] == 7]
    assert (new["incumbent_id"] != "").all()
    assert new["incumbent_id"].iloc[-1] == s.runs["random"].incumbent_id[-1]


# ------------------------------------------------------------------- spaces without indices
def test_runs_without_indices_are_keyed_by_id(table: Table, tmp_path: Path) -> None:
    d = write_study(tmp_path / "ids", table, seeds=range(3), max_evals=15, enumerable=False)
    s = results.load_study(d)
    assert s.skipped == [] and not s.enumerable
    mans = _manifests(d)
    for alg, r in s.runs.items():
        assert not r.enumerable and r.incumbent_index.tolist() == [-1, -1, -1]
        assert r.incumbent_key.tolist() == [mans[(alg, k)]["result"]["incumbent_id"]
                                            for k in range(3)]
    df = s.records()
    assert df["arch_index"].isna().all() and df["incumbent_index"].isna().all()
    assert df["arch_id"].str.startswith("|").all()
    e = results.load_study(write_study(tmp_path / "idx", table, seeds=range(3), max_evals=15))
    assert e.enumerable and e.runs["random"].incumbent_key.dtype == np.int64


def test_correlation_targets_by_id_on_a_space_without_enumeration(
        bench: TabularBenchmark) -> None:
    from results.correlation import targets_from_benchmark

    class IdOnly:
        """The NB201 table behind a space that cannot be enumerated: queried by id only."""

        space = object()

        def metric(self, dataset: str, name: str) -> Any:
            return bench.metric(dataset, name)

        def query_many(self, archs: Any, **kw: Any) -> Any:
            assert all(isinstance(a, str) for a in archs)
            return bench.query_many(archs, **kw)

    space = bench.space
    ids = [space.format(space.from_index(i)) for i in (0, 17, 15624, 17)]
    by_index = targets_from_benchmark(bench, ids, dataset="cifar10-valid", metric="valid_acc")
    by_id = targets_from_benchmark(IdOnly(), ids, dataset="cifar10-valid", metric="valid_acc")
    np.testing.assert_array_equal(by_id, by_index)
    assert by_index[1] == by_index[3] and by_index.shape == (4,)
    loss = targets_from_benchmark(IdOnly(), ids, dataset="cifar10-valid", metric="valid_loss")
    assert np.all(loss < 0)  # minimised: negated, larger is better


# ----------------------------------------------------------------------- integrity checks
def test_records_checked_against_the_manifest(table: Table, tmp_path: Path) -> None:
    d = write_study(tmp_path / "c", table, seeds=range(3), max_evals=15)
    store = StudyStore(d)
    # an edited value that parses and keeps the final numbers: only the checksum tells
    p = store.run_path("random", 1) / "records.csv"
    lines = p.read_text().splitlines(keepends=True)
    row = lines[3].split(",")
    row[5] = str(float(row[5]) + 0.5)
    lines[3] = ",".join(row)
    p.write_text("".join(lines))
    # a final incumbent that is not the manifest's
    q = store.run_path("local", 2) / "manifest.json"
    m = json.loads(q.read_text())
    m["result"]["incumbent_id"] = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    q.write_text(json.dumps(m))
    s = results.load_study(d)
    reasons = {(k.algorithm, k.seed): k.reason for k in s.skipped}
    assert set(reasons) == {("random", 1), ("local", 2)}
    assert "records_sha256" in reasons[("random", 1)]
    assert "final incumbent_id" in reasons[("local", 2)]
    # records() reads the files again: they must be the ones that were loaded
    good = store.run_path("random", 2) / "records.csv"
    good.write_text(good.read_text() + "\n")
    with pytest.raises(results.StudyError, match="changed since the study was loaded"):
        s.records()


def test_corrupt_study_json_and_bad_folders(tmp_path: Path) -> None:
    d = tmp_path / "s"
    d.mkdir()
    (d / "study.json").write_text("{not json")
    with pytest.raises(results.StudyError, match="corrupt study.json"):
        results.load_study(d)
    (d / "study.json").write_text(json.dumps({"schema": 99}))
    with pytest.raises(results.StudyError, match="newer than this benchbench reads"):
        results.load_study(d)
    with pytest.raises(results.StudyError, match="is not a study folder"):
        results.load_study(tmp_path / "empty")
    with pytest.raises(ValueError, match="metric must be 'valid' or 'test', got 'train'"):
        results.Study(tmp_path, {}, {}).maximizes("train")


def test_empty_study_records_are_typed(table: Table, tmp_path: Path) -> None:
    d = tmp_path / "e"
    st = setting(table)
    StudyStore(d).write_spec(study_spec(table, st, algorithms={"random": {}}, seeds=[0],
                                        max_evals=5))
    s = results.load_study(d)
    assert s.runs == {} and any("no usable run" in n for n in s.notes)
    df = s.records()
    assert len(df) == 0
    _check_columns(df)
    assert len(s.summary()) == 0


def test_runs_with_other_search_settings_are_incomparable(table: Table, tmp_path: Path) -> None:
    d = write_study(tmp_path / "x", table, seeds=range(3), max_evals=10)
    p = StudyStore(d).run_path("local", 1) / "manifest.json"
    m = json.loads(p.read_text())
    m["config"]["cost"] = "train+eval"
    p.write_text(json.dumps(m))
    s = results.load_study(d)
    assert [(k.algorithm, k.seed, k.reason) for k in s.skipped] == [
        ("local", 1, "incomparable: cost 'train+eval' != study's 'train'")]
