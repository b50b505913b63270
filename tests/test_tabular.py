"""Tabular backend on real NB201 data: importers, golden values, splits, errors."""

from __future__ import annotations

import bz2
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchbench.api import BenchmarkError, MissingDataError, Split, UnknownNameError
from benchbench.spaces import NB201Space
from tabular_data import TabularBenchmark, detect_nb201_source, import_nb201

SPACE = NB201Space()
OFFICIAL_ROWS = (0, 11, 284)
BEST_C100 = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
             "nor_conv_3x3~2|")


@pytest.fixture(scope="module")
def flat(nb201_flat: Path, tmp_path_factory: pytest.TempPathFactory) -> TabularBenchmark:
    path = import_nb201(nb201_flat, out=tmp_path_factory.mktemp("flat") / "nb201.h5")
    return TabularBenchmark(path)


@pytest.fixture(scope="module")
def nats(nats_sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> TabularBenchmark:
    path = import_nb201(nats_sample_dir, out=tmp_path_factory.mktemp("nats") / "nats.h5")
    return TabularBenchmark(path)


@pytest.fixture(scope="module")
def flat_text(nb201_flat: Path) -> pd.DataFrame:
    """The flat export as strings, to compare 'to the last digit' it prints."""
    return pd.read_csv(nb201_flat, dtype=str)


def same_digits(text: str, value: float) -> bool:
    """``value`` rounded to the decimals printed in ``text`` equals ``text``."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return round(value, decimals) == float(text)


# ------------------------------------------------------------------ golden values
def test_optima_match_nb201(flat: TabularBenchmark) -> None:
    o = flat.optimum("valid_acc", dataset="cifar10-valid")
    assert round(o.value, 3) == 91.607
    o = flat.optimum("valtest_acc", dataset="cifar100")
    assert round(o.value, 3) == 73.503 and o.arch_id == BEST_C100
    o = flat.optimum("valtest_acc", dataset="ImageNet16-120")
    assert round(o.value, 2) == 46.88
    # a minimised metric picks the minimum
    assert flat.optimum("valid_loss", dataset="cifar10-valid").value == pytest.approx(
        np.nanmin(flat.query_many(np.arange(15625), dataset="cifar10-valid")["valid_loss"]))


def test_official_files_equal_flat_table(nats: TabularBenchmark,
                                         flat_text: pd.DataFrame) -> None:
    checks = {  # flat column -> (dataset, metric, per-seed column or None)
        "c10v_valid_acc": ("cifar10-valid", "valid_acc", "c10v_valid_acc_seeds"),
        "c10v_test_acc": ("cifar10-valid", "test_acc", None),
        "c10v_train_acc": ("cifar10-valid", "train_acc", None),
        "c10v_train_loss": ("cifar10-valid", "train_loss", None),
        "c10v_valid_loss": ("cifar10-valid", "valid_loss", None),
        "c10v_test_loss": ("cifar10-valid", "test_loss", None),
        "c10v_params_mb": ("cifar10-valid", "params", None),
        "c100_valtest_acc_mean": ("cifar100", "valtest_acc", "c100_valtest_acc_seeds"),
        "in16_valtest_acc_mean": ("ImageNet16-120", "valtest_acc", "in16_valtest_acc_seeds"),
    }
    n_checked = 0
    for row in OFFICIAL_ROWS:
        for col, (ds, metric, seed_col) in checks.items():
            v = nats.query(row, dataset=ds)[metric]
            assert same_digits(flat_text.loc[row, col], v), (row, col, v)
            n_checked += 1
            if seed_col:
                texts = flat_text.loc[row, seed_col].split(";")
                for seed, text in zip((777, 888, 999), texts):
                    v = nats.query(row, dataset=ds, data_seed=seed)[metric]
                    assert same_digits(text, v), (row, seed_col, seed, v)
                    n_checked += 1
        for col, ds in (("c10v_train_time_s", "cifar10-valid"), ("c100_train_time_s", "cifar100"),
                        ("in16_train_time_s", "ImageNet16-120")):
            assert same_digits(flat_text.loc[row, col], nats.query(row, dataset=ds).cost_s)
    assert n_checked == 3 * (9 + 9)


def test_flat_and_official_agree_through_the_api(nats: TabularBenchmark,
                                                  flat: TabularBenchmark) -> None:
    for row in OFFICIAL_ROWS:
        a = nats.query(row, dataset="cifar10-valid", data_seed=888)["valid_acc"]
        b = flat.query(row, dataset="cifar10-valid", data_seed=888)["valid_acc"]
        assert a == pytest.approx(b, abs=5e-4)


def test_official_curves(nats: TabularBenchmark, nats_sample_dir: Path) -> None:
    raw = pickle.load(bz2.BZ2File(nats_sample_dir / "000011.pickle.pbz2"))["200"]
    r = raw["all_results"][("cifar10-valid", 777)]
    tr = nats.trajectory(11, dataset="cifar10-valid", data_seed=777)
    assert tr.epochs.tolist() == list(range(1, 201))
    assert tr.values["valid_acc"][0] == r["eval_acc1es"]["x-valid@0"]
    assert tr.values["valid_acc"][49] == r["eval_acc1es"]["x-valid@49"]
    assert tr.values["train_loss"][199] == r["train_losses"][199]
    assert tr.cost_s[9] == pytest.approx(sum(r["train_times"][e] for e in range(10)))
    # test (ori-test) exists only at the last epoch of the 200-epoch schedule: NaN elsewhere
    assert np.isnan(tr.values["test_acc"][:199]).all()
    assert tr.values["test_acc"][199] == r["eval_acc1es"]["ori-test@199"]
    # on cifar100 the split sets are kept apart: x-valid, x-test and ori-test
    r = raw["all_results"][("cifar100", 888)]
    ev = nats.query(11, dataset="cifar100", data_seed=888)
    assert ev["valid_acc"] == r["eval_acc1es"]["x-valid@199"]
    assert ev["test_acc"] == r["eval_acc1es"]["x-test@199"]
    assert ev["valtest_acc"] == r["eval_acc1es"]["ori-test@199"]
    assert nats.metric("cifar100", "valtest_acc").split is Split.VALTEST


def test_eval_times_are_the_official_per_time(nats: TabularBenchmark,
                                               nats_sample_dir: Path) -> None:
    """``<split>_eval_s`` = the official API's ``'<split>-per-time'``: the run's recorded
    ``eval_times`` summed over epochs 0..f-1, over f; only where the set was evaluated."""
    raw = pickle.load(bz2.BZ2File(nats_sample_dir / "000284.pickle.pbz2"))["200"]
    for ds, sets in (("cifar10-valid", {"x-valid": "valid", "ori-test": "test"}),
                     ("cifar100", {"x-valid": "valid", "x-test": "test", "ori-test": "valtest"}),
                     ("cifar10", {"ori-test": "test"})):
        r = raw["all_results"][(ds, 888)]
        tr = nats.trajectory(284, dataset=ds, data_seed=888)
        for name, split in sets.items():
            m = nats.metric(ds, f"{split}_eval_s")
            assert (m.split, m.direction.value, m.unit, m.lower) == (None, "min", "s", 0.0)
            assert name in m.description and f"'{split}-per-time'" in m.description
            got = tr.values[f"{split}_eval_s"]
            acc = tr.values[f"{split}_acc"]
            assert np.array_equal(np.isnan(got), np.isnan(acc))  # answered where evaluated
            for f in np.flatnonzero(~np.isnan(acc)) + 1:
                want = sum(r["eval_times"][f"{name}@{i}"] for i in range(f)) / f
                assert got[f - 1] == pytest.approx(want, rel=1e-12), (ds, split, f)
    # cifar10-valid hp=200: ori-test only after the last epoch, x-valid after every epoch
    assert nats.metric_epochs("cifar10-valid", "test_eval_s") == (200,)
    assert len(nats.metric_epochs("cifar10-valid", "valid_eval_s")) == 200


def test_eval_times_mean_over_epochs_and_bad_sets(nats_sample_dir: Path, tmp_path: Path) -> None:
    """Per-epoch times that vary (the NATS files hold one constant per run, so this is a
    modified copy): the value at f is the mean up to f, not the time of epoch f alone; a gap
    makes the rest NaN; a run without eval_times gives no metric; unknown sets are errors."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "meta.pickle.pbz2").write_bytes((nats_sample_dir / "meta.pickle.pbz2").read_bytes())
    d = pickle.load(bz2.BZ2File(nats_sample_dir / "000011.pickle.pbz2"))
    r = d["12"]["all_results"][("cifar10-valid", 777)]
    for i in range(12):
        r["eval_times"][f"x-valid@{i}"] = float(i + 1)
    del r["eval_times"]["ori-test@5"]
    for key in [k for k in d["12"]["all_results"] if k[0] == "cifar100"]:
        d["12"]["all_results"][key]["eval_times"] = {}
    with bz2.BZ2File(src / "000011.pickle.pbz2", "wb") as f:
        pickle.dump(d, f)
    b = TabularBenchmark(import_nb201(src, out=tmp_path / "t.h5", hp="12"))
    tr = b.trajectory(11, dataset="cifar10-valid", data_seed=777)
    np.testing.assert_allclose(tr.values["valid_eval_s"], [(f + 1) / 2 for f in range(1, 13)])
    assert not np.isnan(tr.values["test_eval_s"][:5]).any()
    assert np.isnan(tr.values["test_eval_s"][5:]).all()
    assert "valid_eval_s" not in [m.name for m in b.metrics("cifar100")]
    r["eval_times"]["x-bogus@0"] = 1.0
    with bz2.BZ2File(src / "000011.pickle.pbz2", "wb") as f:
        pickle.dump(d, f)
    with pytest.raises(ValueError, match="unknown evaluation set 'x-bogus' in eval_times"):
        import_nb201(src, out=tmp_path / "bad.h5", hp="12")


def test_trajectory_equals_repeated_queries(nats: TabularBenchmark) -> None:
    for seed in (None, 999):
        tr = nats.trajectory(284, dataset="cifar100", max_fidelity=30, data_seed=seed)
        assert len(tr.epochs) == 30
        for i, e in enumerate(tr.epochs):
            ev = nats.query(284, dataset="cifar100", fidelity=int(e), data_seed=seed)
            assert ev.cost_s == tr.cost_s[i]
            for m, v in ev.values.items():
                assert (v == tr.values[m][i]) or (math.isnan(v) and math.isnan(tr.values[m][i]))


def test_query_many_equals_query(flat: TabularBenchmark) -> None:
    idx = np.random.default_rng(0).integers(0, 15625, size=200)
    for seed in (None, 777):
        batch = flat.query_many(idx, dataset="cifar10-valid", data_seed=seed)
        strings = [SPACE.arch_id(SPACE.from_index(int(i))) for i in idx]
        batch2 = flat.query_many(strings, dataset="cifar10-valid", data_seed=seed)
        np.testing.assert_array_equal(batch.arch_index, idx)
        for j, i in enumerate(idx):
            ev = flat.query(int(i), dataset="cifar10-valid", data_seed=seed)
            assert batch["valid_acc"][j] == ev["valid_acc"] == batch2["valid_acc"][j]
            assert batch.cost_s[j] == ev.cost_s


def test_query_accepts_record_string_and_index(flat: TabularBenchmark) -> None:
    arch = SPACE.from_index(284)
    a = flat.query(arch, dataset="cifar100")
    assert a == flat.query(SPACE.arch_id(arch), dataset="cifar100")
    assert a == flat.query(284, dataset="cifar100")


def test_flat_two_seed_cells_have_two_seeds(flat: TabularBenchmark,
                                            flat_text: pd.DataFrame) -> None:
    two = int(np.flatnonzero(flat_text["c10v_n_seeds"].to_numpy() == "2")[0])
    assert flat.data_seeds(two, "cifar10-valid") == (777, 888)
    assert flat.data_seeds(11, "cifar10-valid") == (777, 888, 999)
    with pytest.raises(MissingDataError, match="seed 999 was not recorded.*777, 888"):
        flat.query(two, dataset="cifar10-valid", data_seed=999)
    # seed mean = the file's own mean, never padded with an invented third seed
    vals = [float(x) for x in flat_text.loc[two, "c10v_valid_acc_seeds"].split(";")]
    assert flat.query(two, dataset="cifar10-valid")["valid_acc"] == pytest.approx(np.mean(vals),
                                                                                   abs=1e-6)


# ----------------------------------------------------------------------- errors
def test_unknown_names_are_clear(flat: TabularBenchmark) -> None:
    with pytest.raises(UnknownNameError, match="unknown dataset 'cifar1000'.*'cifar100'"):
        flat.query(0, dataset="cifar1000")
    with pytest.raises(UnknownNameError, match="unknown metric 'valid_acc' on dataset "
                                               "'cifar100'.*'valtest_acc'"):
        flat.metric("cifar100", "valid_acc")
    with pytest.raises(ValueError, match="unknown op 'conv_9x9'"):
        flat.query("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", dataset="cifar10")
    with pytest.raises(UnknownNameError, match="index 15625 out of range"):
        flat.query(15625, dataset="cifar10")
    with pytest.raises(UnknownNameError, match="index 99999 out of range"):
        flat.query_many(np.array([1, 99999]), dataset="cifar10")


def test_missing_split_seed_epoch_never_fall_back(flat: TabularBenchmark,
                                                  nats: TabularBenchmark) -> None:
    # cifar10 (trained on all 50k) has no validation split in NB201
    assert "valid_acc" not in [m.name for m in nats.metrics("cifar10")]
    with pytest.raises(MissingDataError, match="seed 123 is not recorded.*777, 888, 999"):
        flat.query(0, dataset="cifar10-valid", data_seed=123)
    with pytest.raises(MissingDataError, match="epoch 12 is not recorded.*recorded epochs: 200"):
        flat.query(0, dataset="cifar10-valid", fidelity=12)
    with pytest.raises(MissingDataError, match="epoch 201 is not recorded.*1..200"):
        nats.query(0, dataset="cifar10-valid", fidelity=201)
    with pytest.raises(BenchmarkError, match="fidelity must be an int"):
        nats.query(0, dataset="cifar10-valid", fidelity=12.5)  # type: ignore[arg-type]
    with pytest.raises(MissingDataError, match="no recorded results for cell"):
        nats.query(1, dataset="cifar10-valid")  # only 3 cells were imported
    # cifar10 of the flat export has one unidentified run per cell: no per-seed queries
    with pytest.raises(MissingDataError, match="seed 777 is not recorded.*none"):
        flat.query(0, dataset="cifar10", data_seed=777)
    # a metric the source lacks at an epoch is NaN in the Evaluation, not another split's
    ev = nats.query(11, dataset="cifar100", fidelity=100)
    assert math.isnan(ev["valid_acc"]) and not math.isnan(ev["valtest_acc"])


def test_import_refuses_to_overwrite_and_detects_sources(nb201_flat: Path,
                                                         nats_sample_dir: Path,
                                                         tmp_path: Path) -> None:
    assert detect_nb201_source(nb201_flat) == "nb201-flat"
    assert detect_nb201_source(nats_sample_dir) == "nats-tss-simple"
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"hello")
    with pytest.raises(ValueError, match="cannot tell what"):
        detect_nb201_source(bad)
    with pytest.raises(ValueError, match="without meta.pickle.pbz2"):
        detect_nb201_source(tmp_path)
    out = tmp_path / "t.h5"
    out.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="from other data.*--force"):
        import_nb201(nb201_flat, out=out)
    assert out.read_bytes() == b"precious"  # no data lost
    # importing the same source twice is a no-op, not an error
    again = tmp_path / "again.h5"
    import_nb201(nats_sample_dir, out=again)
    stamp = again.stat().st_mtime_ns
    assert import_nb201(nats_sample_dir, out=again) == again
    assert again.stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="from other data"):
        import_nb201(nats_sample_dir, out=again, hp="12")


def test_truncated_flat_file_is_rejected(nb201_flat: Path, tmp_path: Path) -> None:
    df = pd.read_csv(nb201_flat).iloc[:100]
    p = tmp_path / "short.csv"
    df.to_csv(p, index=False)
    with pytest.raises(ValueError, match="expected 15625 rows"):
        import_nb201(p, out=tmp_path / "t.h5")
    assert not (tmp_path / "t.h5").exists() and not (tmp_path / "t.h5.partial").exists()


# ------------------------------------------------------------- official .pth
def test_pth_importer_matches_nats(nats_sample_dir: Path, nats: TabularBenchmark,
                                   tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="the .pth importer needs torch "
                                                "(pip install 'benchbench[torch]')")
    meta = pickle.load(bz2.BZ2File(nats_sample_dir / "meta.pickle.pbz2"))
    infos = {}
    for idx in OFFICIAL_ROWS:
        d = pickle.load(bz2.BZ2File(nats_sample_dir / f"{idx:06d}.pickle.pbz2"))
        infos[idx] = {"less": d["12"], "full": d["200"]}
    pth = tmp_path / "NAS-Bench-201-fixture.pth"  # the v1_0/v1_1 layout
    torch.save({"meta_archs": meta["meta_archs"], "arch2infos": infos,
                "evaluated_indexes": set(OFFICIAL_ROWS), "total_archs": 15625}, pth)
    assert detect_nb201_source(pth) == "nb201-pth"
    b = TabularBenchmark(import_nb201(pth, out=tmp_path / "pth.h5"))
    for row in OFFICIAL_ROWS:
        for ds in b.datasets:
            for seed in (None, 777):
                a, c = b.query(row, dataset=ds, data_seed=seed), nats.query(row, dataset=ds,
                                                                             data_seed=seed)
                assert a.values.keys() == c.values.keys()
                np.testing.assert_array_equal(list(a.values.values()), list(c.values.values()))
    # the 12-epoch schedule ('less') is a separate table with its own seeds
    b12 = TabularBenchmark(import_nb201(pth, out=tmp_path / "pth12.h5", hp="12"))
    assert b12.fidelity("cifar10-valid").max == 12
    assert b12.data_seeds(11, "cifar10-valid") == (111, 777)
    assert b12.seeds("cifar10") == (111,)  # NB201 trained hp=12 cifar10 with seed 111 only
    with pytest.raises(MissingDataError, match="seed 888 is not recorded.*recorded seeds: 111$"):
        b12.query(11, dataset="cifar10", data_seed=888)


# ------------------------------------------------------------------ resources
def test_open_and_first_query_is_light(flat: TabularBenchmark) -> None:
    """A fresh process opening a table and querying imports neither torch nor matplotlib."""
    code = (f"import sys, tabular_data; b = tabular_data.TabularBenchmark({str(flat.path)!r}); "
            "b.query(0, dataset='cifar10-valid'); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'xgboost') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
