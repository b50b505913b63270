"""Surrogate benchmarks (issue 12): fit on real NB201 data, judge on the held-out cells, noise
against the table's own seed spread, save / load, errors, OOD flags, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xgboost")

from benchbench.api import BenchmarkError, MissingDataError, UnknownNameError
from surrogates import (
    FitOptions,
    SurrogateBenchmark,
    SurrogateModelError,
    fit_model,
    load_model,
    split_rows,
    training_data,
)
from surrogates._card import baseline_predictions, card_stats, rank_stats

DS = "cifar10-valid"
FAST = FitOptions(members=3, n_estimators=120, learning_rate=0.15, n_jobs=1, seed=0)


@pytest.fixture(scope="module")
def table(nb201_flat: Path, tmp_path_factory: pytest.TempPathFactory):
    from tabular_data import TabularBenchmark, import_nb201

    path = import_nb201(nb201_flat, out=tmp_path_factory.mktemp("tab") / "nb201.h5")
    with TabularBenchmark(path) as t:
        yield t


@pytest.fixture(scope="module")
def data(table):
    return training_data(table, DS, metrics=["valid_acc", "test_acc"])


@pytest.fixture(scope="module")
def fitted(data, tmp_path_factory: pytest.TempPathFactory):
    """Fitted on a random 10 % of NB201 cifar10-valid, saved."""
    rows = split_rows(len(data.arch_ids), 0.1, 0)
    model = fit_model(data.subset(rows), name="c10v-test", options=FAST)
    model.save(tmp_path_factory.mktemp("model") / "c10v")
    return model


def test_training_data_is_the_table(table, data) -> None:
    # the per-seed values are the table's own runs: NB201 trained 7,456 cells twice
    seeds = data.seeds["valid_acc"][:, :, 0]
    assert int((np.isfinite(seeds).sum(axis=1) == 2).sum()) == 7456
    assert data.means["valid_acc"][:, 0].max() == pytest.approx(91.607, abs=1e-3)
    ev = table.query(123, dataset=DS)
    assert data.means["test_acc"][123, 0] == ev["test_acc"]
    assert data.cost is not None and data.cost[123, 0] == ev.cost_s


def test_held_out_ranking_beats_baseline(fitted, data) -> None:
    """The issue's bar on the 90 % the model did not see: Kendall τ >= 0.80 (the functional
    features reach ~0.89), and better than plain XGBoost on one-hot edges (~0.75-0.78)."""
    stats = card_stats(fitted, data, baseline=True, n_draws=4)
    assert stats["n_heldout"] == 15625 - 1562
    assert stats["model"]["kendall_tau"] >= 0.85
    assert stats["model"]["top10_kendall_tau"] >= 0.45
    assert stats["model"]["kendall_tau"] > stats["baseline"]["kendall_tau"] + 0.05
    # the noise ceiling is computed from the table's own runs and bounds what one seed allows
    ceil = stats["noise_ceiling"]
    assert 0.85 < ceil["kendall_tau"] < 0.95
    assert stats["model_vs_one_seed"]["kendall_tau"] <= ceil["kendall_tau"] + 0.02
    # 90 % intervals cover 85-95 % of held-out recorded runs
    assert 0.85 <= stats["calibration"]["coverage"] <= 0.95
    # cost model: NB201 training time is almost a function of the cell
    assert stats["cost"]["r2_log"] > 0.9


def test_rank_stats_against_scipy() -> None:
    from scipy.stats import kendalltau, spearmanr

    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    p = t + rng.normal(scale=0.5, size=200)
    s = rank_stats(p, t, noise=0.3)
    assert s["kendall_tau"] == pytest.approx(kendalltau(p, t)[0])
    assert s["spearman_rho"] == pytest.approx(spearmanr(p, t)[0])
    top = t >= np.quantile(t, 0.9)
    assert s["top10_kendall_tau"] == pytest.approx(kendalltau(p[top], t[top])[0])
    assert s["sparse_kendall_tau"] == pytest.approx(
        kendalltau(np.round(p / 0.3), np.round(t / 0.3))[0])
    assert s["r2"] == pytest.approx(1 - np.sum((t - p) ** 2) / np.sum((t - t.mean()) ** 2))


def test_noise_matches_the_table_seed_spread(fitted, data) -> None:
    bench = SurrogateBenchmark(fitted)
    test = np.setdiff1d(np.arange(15625), split_rows(15625, 0.1, 0))[:3000]
    mean = bench.query_many(test, dataset=DS)["valid_acc"]
    draws = np.stack([bench.query_many(test, dataset=DS, data_seed=s)["valid_acc"]
                      for s in range(12)])
    ys = data.seeds["valid_acc"][test, :, 0]
    n = np.isfinite(ys).sum(axis=1)
    rec_var = np.nanvar(ys, axis=1) * n / (n - 1)
    calm = rec_var <= np.quantile(rec_var, 0.99)
    rec = math.sqrt(float(np.mean(rec_var[calm])))
    got = math.sqrt(float(np.mean(draws.var(axis=0, ddof=1)[calm])))
    assert 0.7 * rec < got < 1.5 * rec, (rec, got)
    # the draws scatter around the mean prediction, which is the seed-None answer
    assert abs(float(np.mean(draws - mean))) < 0.1
    assert not bench.has_seed_values(DS, "test_acc")  # the table has seed means only
    assert np.array_equal(bench.query_many(test, dataset=DS, data_seed=3)["test_acc"],
                          bench.query_many(test, dataset=DS)["test_acc"])


def test_deterministic_and_seeds_differ(fitted) -> None:
    bench = SurrogateBenchmark(fitted)
    a = bench.query(77, dataset=DS, data_seed=5)
    assert a == bench.query(77, dataset=DS, data_seed=5)
    assert a["valid_acc"] != bench.query(77, dataset=DS, data_seed=6)["valid_acc"]
    assert bench.query(77, dataset=DS)["valid_acc"] == bench.query_many(
        np.array([77]), dataset=DS)["valid_acc"][0]


def test_same_draw_in_a_fresh_process(fitted) -> None:
    code = ("from surrogates import SurrogateBenchmark; "
            f"b = SurrogateBenchmark({str(fitted.path)!r}); "
            "print(repr(b.query(77, dataset='cifar10-valid', data_seed=5)['valid_acc']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300).stdout.strip()
    here = SurrogateBenchmark(load_model(fitted.path)).query(77, dataset=DS, data_seed=5)
    assert float(out) == here["valid_acc"]


def test_save_load_round_trip(fitted) -> None:
    again = load_model(fitted.path)
    assert again.model_sha256 == fitted.model_sha256
    a, b = SurrogateBenchmark(fitted), SurrogateBenchmark(again)
    cells = np.arange(0, 15625, 97)
    for seed in (None, 2):
        qa = a.query_many(cells, dataset=DS, data_seed=seed)
        qb = b.query_many(cells, dataset=DS, data_seed=seed)
        for m in ("valid_acc", "test_acc"):
            assert np.array_equal(qa[m], qb[m])
        assert np.array_equal(qa.cost_s, qb.cost_s)
    man = json.loads((fitted.path / "manifest.json").read_text())
    assert man["model"]["layout"]["name"] == "nb201-func"
    assert man["model"]["training"]["table_sha256"] == a.describe().extra["training"][
        "table_sha256"]
    assert not any(p.suffix in (".pkl", ".pickle") for p in fitted.path.rglob("*"))
    desc = b.describe()
    assert desc.kind == "surrogate" and desc.data_sha256 == fitted.model_sha256
    assert fitted.model_sha256[:12] in desc.version


def test_contract_suite(fitted) -> None:
    from benchbench.testing import check_benchmark

    check_benchmark(SurrogateBenchmark(fitted.path))


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(model_dir, dst)
    return dst


def test_damaged_directories_give_one_line(fitted, tmp_path: Path) -> None:
    from benchbench.registry import open_benchmark

    d = _copy(fitted.path, tmp_path)
    ubj = sorted((d / "models").glob("*.ubj"))[0]
    raw = bytearray(ubj.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    ubj.write_bytes(bytes(raw))
    with pytest.raises(SurrogateModelError, match=r"does not match its sha256") as e:
        open_benchmark(str(d))
    assert "\n" not in str(e.value)
    raw[len(raw) // 2] ^= 0xFF
    ubj.write_bytes(bytes(raw))
    assert SurrogateBenchmark(d).query(0, dataset=DS)  # restored: opens again
    (d / "arrays.npz").unlink()
    with pytest.raises(SurrogateModelError, match=r"arrays.npz is missing"):
        load_model(d)
    (d / "manifest.json").write_text("{ not json")
    with pytest.raises(SurrogateModelError, match="corrupted"):
        load_model(d)
    (d / "manifest.json").unlink()
    with pytest.raises(SurrogateModelError, match="manifest.json is missing"):
        open_benchmark(str(d))


def test_other_version_or_layout_is_refused(fitted, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from surrogates import _features

    d = _copy(fitted.path, tmp_path)
    man = json.loads((d / "manifest.json").read_text())
    man["format_version"] = 99
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(SurrogateModelError, match="format version 99"):
        load_model(d)
    # the code's layout changed since the model was saved: its trees would read wrong columns
    lay = _features.FEATURE_LAYOUTS["nb201-func"]
    monkeypatch.setitem(_features.FEATURE_LAYOUTS, "nb201-func",
                        dataclasses.replace(lay, version=lay.version + 1))
    with pytest.raises(SurrogateModelError, match="feature layout 'nb201-func' version"):
        load_model(fitted.path)


def test_bad_queries(fitted) -> None:
    bench = SurrogateBenchmark(fitted)
    with pytest.raises(UnknownNameError, match="not a cell of space 'nb201'"):
        bench.query("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", dataset=DS)
    with pytest.raises(UnknownNameError, match="out of range"):
        bench.query(15625, dataset=DS)
    with pytest.raises(UnknownNameError, match="not a cell of space"):
        bench.query(((0, "sep_conv_3x3"),), dataset=DS)
    with pytest.raises(MissingDataError, match="outside surrogate .* range"):
        bench.query(0, dataset=DS, fidelity=12)
    with pytest.raises(UnknownNameError, match="unknown dataset"):
        bench.query(0, dataset="cifar100")
    with pytest.raises(BenchmarkError, match="data_seed"):
        bench.query(0, dataset=DS, data_seed=-1)


def test_baseline_is_plain_xgboost_on_one_hot(data) -> None:
    """The baseline the issue names (~0.78 at full size): one XGBoost on the 30 one-hot edge
    columns, nothing else."""
    from scipy.stats import kendalltau

    rows = split_rows(15625, 0.1, 0)
    test = np.setdiff1d(np.arange(15625), rows)[:4000]
    p = baseline_predictions(data, rows, test, "valid_acc")
    tau = kendalltau(p, data.means["valid_acc"][test, 0])[0]
    assert 0.65 < tau < 0.82


def test_ood_flag_and_run_manifest(data, tmp_path: Path) -> None:
    """Fitted only on cells of conv and skip ops (3^6 = 729 cells): an all-pool cell is 6
    edits away from every training cell and is flagged; a run counts its flagged answers."""
    from benchbench.runner import run_study
    from benchbench.spaces import NB201Space

    sp = NB201Space()
    ops = np.array([sp.from_index(i).ops for i in range(15625)])
    rows = np.nonzero(np.isin(ops, [1, 2, 3]).all(axis=1))[0]
    assert len(rows) == 729
    model = fit_model(data.subset(rows), name="convs-only",
                      options=FitOptions(members=2, n_estimators=60, n_jobs=1))
    model.save(tmp_path / "m")
    bench = SurrogateBenchmark(tmp_path / "m")
    assert model.distance_ref == 1
    far = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|" \
          "avg_pool_3x3~2|"
    ev = bench.query(far, dataset=DS)
    assert "ood" in ev.flags and "ood:distance" in ev.flags
    inside = sp.arch_id(sp.from_index(int(rows[5])))
    assert bench.query(inside, dataset=DS).flags == frozenset()
    run_study(bench, tmp_path / "study", dataset=DS, algorithms={"rs": {}}, seeds=[0],
              max_evals=15, objective="valid_acc", test_metric="test_acc", workers=1)
    man = json.loads(next((tmp_path / "study").rglob("manifest.json")).read_text())
    recs = (next((tmp_path / "study").rglob("records.csv"))).read_text().splitlines()[1:]
    cells = [line.split(",")[1] for line in recs]
    flagged = sum(bool(f) for f in bench.ood_flags(cells))
    assert man["result"]["ood"]["evaluations"] == flagged > 0
    assert man["benchmark"]["data_sha256"] == model.model_sha256


def test_cli_fit_card_run_report(nb201_flat: Path, table, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from benchbench.cli import main

    out = tmp_path / "sg"
    assert main(["surrogate", "fit", "--from", str(table.path), "--dataset", DS,
                 "--train-fraction", "0.05", "--out", str(out), "--members", "2",
                 "--metrics", "valid_acc,test_acc", "--no-card"]) == 0
    assert (out / "manifest.json").is_file()
    assert main(["surrogate", "card", str(out), "--from", str(table.path)]) == 0
    text = capsys.readouterr().out
    assert "noise ceiling" in text and "Kendall tau" in text
    card = json.loads((out / "card.json").read_text())
    assert card["stats"]["n_train"] == round(0.05 * 15625)
    assert (out / "card.md").read_text().count("noise ceiling") >= 1
    # refit refused without --force; a bad cell file is one line
    assert main(["surrogate", "fit", "--from", str(table.path), "--dataset", DS,
                 "--train-fraction", "0.05", "--out", str(out)]) == 2
    bad = tmp_path / "cells.txt"
    bad.write_text("|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|\n")
    assert main(["surrogate", "fit", "--from", str(table.path), "--dataset", DS,
                 "--train-cells", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "cells.txt:1" in capsys.readouterr().err
    # a tiny study on the surrogate, by directory, and its report names the model
    study = tmp_path / "study"
    assert main(["run", "--benchmark", str(out), "--dataset", DS, "--algorithms", "rs,re",
                 "--seeds", "0-1", "--max-evals", "12", "--out", str(study),
                 "--objective", "valid_acc", "--test-metric", "test_acc"]) == 0
    assert main(["report", str(study), "--out", str(tmp_path / "rep"), "--no-figures"]) == 0
    rep = "\n".join(p.read_text() for p in (tmp_path / "rep").rglob("*.md"))
    model_id = json.loads((out / "manifest.json").read_text())["model_id"]
    assert model_id in rep and "out-of-distribution" in rep


def test_learning_curves_on_the_digits_table(tmp_path: Path) -> None:
    """The embedded 12-epoch table: whole curves on an SVD basis, so every epoch can be
    queried, trajectories equal the queries, and the held-out ranking holds at each epoch."""
    from scipy.stats import kendalltau

    from benchbench.registry import open_benchmark
    from benchbench.testing import check_benchmark

    with open_benchmark("nb201-digits") as table:
        data = training_data(table, "digits", metrics=["valid_acc"])
    rows = split_rows(15625, 0.05, 1)
    model = fit_model(data.subset(rows), name="digits-curves",
                      options=FitOptions(members=2, n_estimators=80, n_jobs=1))
    assert 1 < model.metrics["valid_acc"].rank <= 4
    model.save(tmp_path / "m")
    bench = SurrogateBenchmark(tmp_path / "m")
    assert bench.fidelity("digits").values == tuple(range(1, 13))
    check_benchmark(bench)
    tr = bench.trajectory(9, dataset="digits", data_seed=3)
    assert [bench.query(9, dataset="digits", fidelity=e, data_seed=3)["valid_acc"]
            for e in range(1, 13)] == tr.values["valid_acc"].tolist()
    assert np.all(np.diff(tr.cost_s) >= 0)  # training time accumulates
    test = np.setdiff1d(np.arange(15625), rows)[::4]
    for epoch in (2, 12):
        pred = bench.query_many(test, dataset="digits", fidelity=epoch)["valid_acc"]
        true = data.means["valid_acc"][test, epoch - 1]
        assert kendalltau(pred, true)[0] > 0.4
    with pytest.raises(MissingDataError, match="1..12"):
        bench.query(0, dataset="digits", fidelity=13)
