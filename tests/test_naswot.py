"""Proxy-guided search (``naswot``, ``re-zc``) on REAL precomputed scores: NASLib's independent
CIFAR-10 zero-cost scores of 725 NB201 cells (``../shared/data/nb201/zc_scores_725.json``),
judged by the real NB201 CIFAR-10-valid validation accuracy (``c10v_valid_acc``, seed mean,
percent).  No torch: the optimizers read the scores from a score directory.

The contract every optimizer meets is in ``test_algorithms.py``; this file checks what these
two do with the scores, the score-directory writers, and a run through the real runner.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_algorithms import NASLIB_FILE, SPACE, drive

from algorithms import NASWOT, ZeroCostWarmStartRE, get_optimizer
from algorithms.proxies import (
    ScoreConfig,
    import_naslib_scores,
    load_naslib_scores,
    load_scores,
    write_scores_dir,
)
from benchbench.rng import make_rng
from benchbench.runner import run_study
from benchbench.trial import TrialValue
from tabular_data import TabularBenchmark, import_nb201

# ------------------------------------------------------------------------------ fixtures
# valid_acc (the real CIFAR-10-valid validation accuracy, by index) comes from conftest.py


@pytest.fixture(scope="module")
def naslib_file(shared_data: Path) -> Path:
    src = shared_data.joinpath(*NASLIB_FILE)
    if not src.is_file():
        pytest.skip(f"{Path(*NASLIB_FILE)} (NASLib zero-cost scores) is not in the shared "
                    f"data at {shared_data}")
    return src


@pytest.fixture(scope="module")
def zc_dir(naslib_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The NASLib CIFAR-10 scores as a score directory."""
    return import_naslib_scores(naslib_file, "cifar10", tmp_path_factory.mktemp("zc") / "c10")


@pytest.fixture(scope="module")
def naslib_c10(naslib_file: Path) -> pd.DataFrame:
    """The NASLib CIFAR-10 scores straight from the JSON file, with the official index."""
    df = load_naslib_scores(naslib_file, "cifar10")
    return df.assign(index=SPACE.indices(list(df["arch_id"])))


def proxy_of(naslib_c10: pd.DataFrame, proxy: str) -> pd.Series:
    """One proxy's NASLib values by official index."""
    d = naslib_c10[naslib_c10["proxy"] == proxy]
    return pd.Series(d["value"].to_numpy(), index=d["index"].to_numpy())


# ------------------------------------------------------------------ score directories
def test_import_naslib_scores_round_trip(zc_dir: Path, naslib_c10: pd.DataFrame,
                                         naslib_file: Path, tmp_path: Path) -> None:
    cfg, df = load_scores(zc_dir)
    assert (cfg.space, cfg.dataset, cfg.implementation) == ("nb201", "cifar10", "naslib")
    # our proxies only: not NASLib's epe_nas, and never the trained accuracy
    assert set(df["proxy"]) == {"params", "flops", "grad_norm", "snip", "grasp", "fisher",
                                "jacob_cov", "synflow", "nwot", "l2_norm", "plain"}
    assert df["arch_id"].nunique() == 725 and len(df) == 725 * 11 - 1  # one synflow missing
    assert (df["arch_index"].to_numpy() == SPACE.indices(list(df["arch_id"]))).all()
    merged = df.merge(naslib_c10, on=["arch_id", "proxy"], suffixes=("", "_src"))
    assert len(merged) == len(df)
    assert np.array_equal(merged["value"], merged["value_src"])
    assert np.array_equal(merged["seconds"], merged["seconds_src"])
    # NASLib's one non-finite score (a singular NASWOT kernel: log|det K| = -inf) is kept
    assert df.loc[~np.isfinite(df["value"]), "proxy"].tolist() == ["nwot"]
    assert np.isneginf(df["value"]).sum() == 1
    # explicit names, including NASLib's own (and the target, only when asked for)
    d2 = import_naslib_scores(naslib_file, "cifar10", tmp_path / "x",
                              proxies=["epe_nas", "val_accuracy"])
    assert set(load_scores(d2)[1]["proxy"]) == {"epe_nas", "val_accuracy"}
    with pytest.raises(FileExistsError, match="already holds config.json, scores.csv"):
        import_naslib_scores(naslib_file, "cifar10", d2)
    with pytest.raises(ValueError, match=r"\['zen'\] are not in .*present: \['epe_nas'"):
        import_naslib_scores(naslib_file, "cifar10", tmp_path / "y", proxies=["zen"])


def test_write_scores_dir_checks(tmp_path: Path) -> None:
    cfg = ScoreConfig(dataset="cifar10")
    with pytest.raises(ValueError, match=r"lack column\(s\) \['value'\]"):
        write_scores_dir(pd.DataFrame({"arch_id": [0], "proxy": ["nwot"]}), tmp_path / "a",
                         config=cfg)
    twice = pd.DataFrame({"arch_id": [5, SPACE.arch_id(SPACE.from_index(5))],
                          "proxy": ["nwot", "nwot"], "value": [1.0, 2.0]})
    with pytest.raises(ValueError, match="more than once"):
        write_scores_dir(twice, tmp_path / "b", config=cfg)
    # indices or cell strings, any order: written in official index order, NaN / inf kept
    ok = pd.DataFrame({"arch_id": [9, 3, 7], "proxy": ["nwot"] * 3,
                       "value": [math.inf, math.nan, 1.5]})
    back = load_scores(write_scores_dir(ok, tmp_path / "c", config=cfg))[1]
    assert back["arch_index"].tolist() == [3, 7, 9] and back["seed"].tolist() == [0, 0, 0]
    assert np.array_equal(back["value"], [math.nan, 1.5, math.inf], equal_nan=True)
    assert back["seconds"].isna().all()


# ------------------------------------------------------------------------------ NASWOT
def test_naswot_picks_beat_uniform_samples(zc_dir: Path, valid_acc: np.ndarray) -> None:
    """NASWOT, N=100 on NASLib's nwot scores: over 50 seeds, the mean validation accuracy of
    its picks (the first ask) beats that of uniform samples of the same 725-cell pool (and
    the pool's exact mean).  Measured: picks 89.84 %, pool 85.10 % (std 7.2)."""
    pool = load_scores(zc_dir)[1].query("proxy == 'nwot'")["arch_index"].to_numpy()
    picks, uniform = [], []
    for seed in range(50):
        opt = NASWOT(scores=str(zc_dir), n_samples=100)
        opt.setup(SPACE, make_rng(seed, "test-naswot"))
        picks.append(SPACE.index(opt.ask().arch))
        uniform.append(make_rng(seed, "test-uniform").choice(pool))
        assert opt.proxy_seconds > 0  # the 100 cells' recorded NASLib seconds
    assert set(picks) <= set(pool) and len(set(picks)) > 10
    picked, rand = valid_acc[picks].mean(), valid_acc[uniform].mean()
    assert picked > rand and picked > valid_acc[pool].mean() + 3.0
    assert 89.0 < picked < 91.61


def test_naswot_asks_the_ranking(zc_dir: Path, naslib_c10: pd.DataFrame,
                                 valid_acc: np.ndarray) -> None:
    """With N = the whole scored pool, the asks are the pool best nwot score first (the -inf
    cell last), ranked by the scores as NASLib's file has them; told values are ignored."""
    nwot = proxy_of(naslib_c10, "nwot")
    opt = NASWOT(scores=str(zc_dir), n_samples=1000)
    asked = drive(opt, valid_acc, 725, seed=0)
    assert sorted(asked) == sorted(nwot.index)
    values = nwot[asked].to_numpy()
    assert np.isneginf(values[-1]) and opt.n_nan_scores == 0
    assert (np.diff(values) <= 0).all()  # non-increasing
    assert asked[0] == nwot.idxmax()
    assert opt.proxy_seconds == pytest.approx(
        naslib_c10.query("proxy == 'nwot'")["seconds"].sum())
    # a new round ranks a fresh draw: the whole pool again, best first
    assert SPACE.index(opt.ask().arch) == asked[0]
    # training-free: garbage tells leave the asks unchanged
    noise = make_rng(0, "noise").random(SPACE.size)
    assert drive(NASWOT(scores=str(zc_dir), n_samples=1000), noise, 725, seed=0) == asked


def test_naswot_ranks_nan_last(tmp_path: Path, valid_acc: np.ndarray) -> None:
    """NaN scores are kept, counted and ranked after every number, -inf included."""
    values = [math.nan, 2.0, -math.inf, 5.0, math.nan, 0.5]
    cells = [11, 22, 33, 44, 55, 66]
    d = write_scores_dir(pd.DataFrame({"arch_id": cells, "proxy": "nwot", "value": values}),
                         tmp_path / "s", config=ScoreConfig())
    opt = NASWOT(scores=str(d), n_samples=6)
    asked = drive(opt, valid_acc, 6, seed=0)
    assert asked[:4] == [44, 22, 66, 33] and sorted(asked[4:]) == [11, 55]
    assert opt.n_nan_scores == 2 and opt.proxy_seconds == 0.0  # seconds not recorded


def test_scores_csv_path_and_missing_proxy(zc_dir: Path, valid_acc: np.ndarray) -> None:
    by_dir = drive(get_optimizer("naswot", scores=str(zc_dir)), valid_acc, 50, seed=3)
    by_csv = drive(get_optimizer("naswot", scores=str(zc_dir / "scores.csv")), valid_acc, 50,
                   seed=3)
    assert by_dir == by_csv
    opt = get_optimizer("naswot", scores=str(zc_dir), proxy="zen")  # a valid proxy name ...
    with pytest.raises(ValueError, match=r"no scores for proxy 'zen'; it has \['fisher'"):
        opt.setup(SPACE, make_rng(0))  # ... the directory does not hold


# ------------------------------------------------------------------------------- re-zc
def test_re_zc_warm_start_is_top_of_warmup_pool(zc_dir: Path, naslib_c10: pd.DataFrame,
                                                valid_acc: np.ndarray) -> None:
    """The first ``population_size`` asks are the best synflow scorers of the warm-up pool,
    best first; later asks are regularized evolution's children of that population."""
    synflow = proxy_of(naslib_c10, "synflow")  # 724 cells: NASLib lacks one
    warm_means, pool_means = [], []
    for seed in range(10):
        opt = ZeroCostWarmStartRE(scores=str(zc_dir), warmup_pool=100)
        opt.setup(SPACE, make_rng(seed, "test-re-zc"))
        pool = [SPACE.index(a) for a in opt.warmup_cells]
        assert len(set(pool)) == 100 and set(pool) <= set(synflow.index)
        top = synflow[pool].sort_values(ascending=False, kind="stable")
        trials = [opt.ask() for _ in range(10)]
        warm = [SPACE.index(t.arch) for t in trials]
        assert synflow[warm].tolist() == top.iloc[:10].tolist()  # ties may swap cells
        assert set(warm) <= set(pool)
        for t in trials:
            opt.tell(t, TrialValue(float(valid_acc[SPACE.index(t.arch)]), 1.0))
        assert [a for a, _ in opt.population] == [t.arch for t in trials]
        for _ in range(20):  # children: one mutation from a member
            before = [a for a, _ in opt.population]
            t = opt.ask()
            assert any(t.arch in SPACE.neighbours(a) for a in before)
            opt.tell(t, TrialValue(float(valid_acc[SPACE.index(t.arch)]), 1.0))
        warm_means.append(valid_acc[warm].mean())
        pool_means.append(valid_acc[pool].mean())
    assert np.mean(warm_means) > np.mean(pool_means)
    # a warm-up pool larger than the scored cells scores them all: the global top 10
    opt = ZeroCostWarmStartRE(scores=str(zc_dir))
    warm = drive(opt, valid_acc, 10, seed=0)
    assert len(opt.warmup_cells) == 724
    assert synflow[warm].tolist() == synflow.sort_values(ascending=False).iloc[:10].tolist()


# ------------------------------------------------------------------------------ runner
def test_run_study_with_proxy_guided(nb201_flat: Path, zc_dir: Path, naslib_c10: pd.DataFrame,
                                     tmp_path: Path) -> None:
    bench = TabularBenchmark(import_nb201(nb201_flat, out=tmp_path / "t.h5"))
    algos = {"naswot": {"scores": str(zc_dir)}, "re-zc": {"scores": str(zc_dir)}}
    res = run_study(bench, tmp_path / "s", dataset="cifar10-valid", algorithms=algos,
                    seeds=[0, 1], max_evals=20)
    assert (res.done, res.failed) == (4, 0), res.failures
    nwot, synflow = proxy_of(naslib_c10, "nwot"), proxy_of(naslib_c10, "synflow")
    for seed in (0, 1):
        runs = tmp_path / "s" / "runs"
        rec = pd.read_csv(runs / "naswot" / f"seed-{seed:06d}" / "records.csv")
        assert len(rec) == 20
        idx = rec["arch_index"].to_numpy()
        # the first 20 of a 100-cell round: distinct, scored, best nwot first
        assert len(set(idx)) == 20 and (np.diff(nwot[idx].to_numpy()) <= 0).all()
        man = json.loads((runs / "naswot" / f"seed-{seed:06d}" / "manifest.json").read_text())
        assert man["status"] == "done" and man["result"]["params"]["scores"] == str(zc_dir)
        rec = pd.read_csv(runs / "re-zc" / f"seed-{seed:06d}" / "records.csv")
        assert len(rec) == 20
        warm = rec["arch_index"].to_numpy()[:10]
        assert set(warm) <= set(synflow.index) and (np.diff(synflow[warm].to_numpy()) <= 0).all()
