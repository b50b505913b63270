"""Multi-fidelity search and simulated parallel workers: schedules against the papers' tables,
ASHA's promotion rule and BOHB's model against re-implementations of the reference steps,
resume costs from the table, determinism across real processes and Ray, sync vs async.

Everything runs on the embedded ``nb201-digits`` table (12 epochs, every cell, 2 seeds) and,
where the shared data is present, on the official NATS-Bench sample files (hp 12 and 200).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algorithms._bohb import BOHB, CategoricalKDE, fit_kde_pair, propose
from algorithms._multifidelity import (
    ASHA,
    Hyperband,
    LearningCurveStopping,
    SuccessiveHalving,
    bracket_schedule,
    hyperband_schedule,
    rung_budgets,
    snap_to_epochs,
)
from benchbench._run import _FINISHED
from benchbench.registry import open_benchmark
from benchbench.rng import make_rng
from benchbench.runner import execute_run_full, plan_study, run_study
from benchbench.spaces import NB201Space
from benchbench.store import StudyStore
from benchbench.testing import toy_objective
from benchbench.trial import TrialInfo, TrialValue

SPACE = NB201Space()


@pytest.fixture(scope="module")
def digits() -> Any:
    return open_benchmark("nb201-digits")


def _run(bench: Any, algo: str, params: dict[str, Any] | None = None, seed: int = 0,
         **kw: Any) -> Any:
    cfg = plan_study(bench, dataset="digits", algorithms={algo: dict(params or {})},
                     seeds=[seed], **({"max_seconds": 40.0} | kw))[0]
    return cfg, execute_run_full(bench, cfg)


# ----------------------------------------------------------------------------- schedules
def test_hyperband_schedule_is_li_et_al_table_1() -> None:
    """Li et al. 2018 (JMLR), Table 1: R=81, eta=3; (n_i, r_i) of every bracket."""
    table = {
        4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        3: [(34, 3), (11, 9), (3, 27), (1, 81)],
        2: [(15, 9), (5, 27), (1, 81)],
        1: [(8, 27), (2, 81)],
        0: [(5, 81)],
    }
    budgets = rung_budgets(1, 81, 3)
    assert budgets.tolist() == [1, 3, 9, 27, 81]
    got = {4 - i: [(n, int(budgets[r])) for n, r in br]
           for i, br in enumerate(hyperband_schedule(4, 3))}
    assert got == table


def test_hpbandster_bracket_rule() -> None:
    """HpBandSter's ``get_next_iteration`` re-implemented here, for R=27 and R=12."""
    def reference(max_sh_iter: int, eta: float) -> list[list[int]]:
        out = []
        for it in range(max_sh_iter):
            s = max_sh_iter - 1 - (it % max_sh_iter)
            n0 = np.ceil(np.floor(max_sh_iter / (s + 1)) * eta ** s)
            out.append([max(int(n0 * eta ** (-i)), 1) for i in range(s + 1)])
        return out

    for lo, hi in ((1, 27), (1, 12), (12, 200)):
        k = len(rung_budgets(lo, hi, 3)) - 1
        ours = [bracket_schedule(s, k, 3, "hpbandster") for s in range(k, -1, -1)]
        assert ours == reference(k + 1, 3)
    # HpBandSter's budgets for min 12, max 200 (NB201's BOHB.sh): 200/9, 200/3, 200
    np.testing.assert_allclose(rung_budgets(12, 200, 3), [200 / 9, 200 / 3, 200])
    # an exact power of eta is not lost to float rounding (HpBandSter's -int(log) is)
    assert len(rung_budgets(1, 243, 3)) == 6


def test_budgets_snap_to_recorded_epochs() -> None:
    """NATS-Bench's bohb.py: min 1, max 12 on the 12-epoch schedule -> iepoch=int(b)-1."""
    assert snap_to_epochs(rung_budgets(1, 12, 3), range(1, 13)) == (1, 4, 12)
    assert snap_to_epochs(rung_budgets(4, 108, 3), (4, 12, 36, 108)) == (4, 12, 36, 108)
    with pytest.raises(ValueError, match="below the first recorded epoch 4"):
        snap_to_epochs([2.0, 6.0], (4, 12))
    with pytest.raises(ValueError, match="two rungs on the same epoch"):
        snap_to_epochs([4.0, 8.0], (4, 12))


def _drive(opt: Any, n: int, value: Any = None) -> list[TrialInfo]:
    """Sequential ask/tell with the toy objective (a fresh optimizer on NB201, epochs 1..12)."""
    opt.configure_fidelity(tuple(range(1, 13)))
    opt.setup(SPACE, make_rng(0, "test"))
    asked = []
    for _ in range(n):
        t = opt.ask()
        if t is None:
            break
        asked.append(t)
        y = value(t) if value else toy_objective(SPACE, t.arch)
        opt.tell(t, TrialValue(y, 1.0, True, fidelity=t.fidelity))
    return asked


def test_hyperband_runs_the_schedule_and_promotes_the_best() -> None:
    """R=12 epochs, eta=3: brackets s=2 (9@1, 3@4, 1@12), s=1 (5@4, 1@12), s=0 (3@12)."""
    asked = _drive(Hyperband(max_brackets=3), 100)
    assert [t.fidelity for t in asked] == [1] * 9 + [4] * 3 + [12] + [4] * 5 + [12] + [12] * 3
    first = asked[:9]
    best3 = sorted(first, key=lambda t: -toy_objective(SPACE, t.arch))[:3]
    assert {t.arch for t in asked[9:12]} == {t.arch for t in best3}
    assert [t.resume for t in asked[:13]] == [False] * 9 + [True] * 4
    # the top rung's single survivor is the best of the three
    assert asked[12].arch == best3[0].arch
    sh = _drive(SuccessiveHalving(max_brackets=2), 100)
    assert [t.fidelity for t in sh] == ([1] * 9 + [4] * 3 + [12]) * 2
    retrain = _drive(Hyperband(max_brackets=1, resume=False), 100)
    assert not any(t.resume for t in retrain)


def test_incumbent_only_at_the_top_rung(digits: Any) -> None:
    _, top = _run(digits, "hyperband", max_seconds=20.0)
    _, anyb = _run(digits, "hyperband", {"incumbent": "any"}, max_seconds=20.0)
    # the same evaluations; only which of them may be the incumbent differs
    assert [r[:8] for r in top.records] == [r[:8] for r in anyb.records]
    fids = [r[3] for r in top.records]
    inc = {r[11] for r in top.records if r[11]}
    top_ids = {r[1] for r in top.records if r[3] == 12}
    assert inc <= top_ids and 1 in fids and 4 in fids
    best12 = max((r[5], r[1]) for r in top.records if r[3] == 12)
    assert top.result["incumbent_id"] == best12[1]


# --------------------------------------------------------------------------------- ASHA
def _reference_asha(eta: float, n_rungs: int):  # Li et al. 2020, Algorithm 2 (s = 0)
    rungs: list[list[tuple[float, int]]] = [[] for _ in range(n_rungs)]  # (score, config)
    promoted: list[set[int]] = [set() for _ in range(n_rungs)]

    def get_job(new_config: int) -> tuple[int, int]:
        for k in range(n_rungs - 2, -1, -1):
            ranked = sorted(rungs[k], key=lambda e: -e[0])  # stable: completion order
            candidates = [c for _, c in ranked[:int(len(rungs[k]) / eta)]]
            promotable = [c for c in candidates if c not in promoted[k]]
            if promotable:
                promoted[k].add(promotable[0])
                return promotable[0], k + 1
        return new_config, 0

    def report(config: int, rung: int, score: float) -> None:
        rungs[rung].append((score, config))

    return get_job, report


def test_asha_promotions_match_the_papers_get_job() -> None:
    """Three asynchronous workers with random durations; every job equals Algorithm 2's."""
    opt = ASHA()
    opt.configure_fidelity(tuple(range(1, 13)))
    opt.setup(SPACE, make_rng(1, "test"))
    get_job, report = _reference_asha(3, 3)
    rng = np.random.default_rng(5)
    running: list[tuple[float, int, TrialInfo, int, int]] = []
    now, n, n_new = 0.0, 0, 0
    for _ in range(400):
        while len(running) < 3:
            t = opt.ask()
            config, rung = get_job(n_new)
            n_new += rung == 0
            assert opt._pending[t.trial_id] == (config, rung)
            assert t.fidelity == (1, 4, 12)[rung] and t.resume == (rung > 0)
            running.append((now + rng.exponential(), n, t, config, rung))
            running.sort(key=lambda e: (e[0], e[1]))
            n += 1
        now, _, t, config, rung = running.pop(0)
        y = toy_objective(SPACE, t.arch) * (1 - 0.5 ** t.fidelity) + rng.normal()
        opt.tell(t, TrialValue(y, 1.0, True, fidelity=t.fidelity))
        report(config, rung, y)
    assert opt.rung_sizes[2] > 3  # promotions reached the top rung


# --------------------------------------------------------------------------------- BOHB
def _hand_pdf(data: np.ndarray, bw: np.ndarray, x: np.ndarray) -> float:
    """statsmodels' KDEMultivariate(var_type='u'*d).pdf, written out for one point."""
    total = 0.0
    for row in data:
        k = 1.0
        for j, (xi, v) in enumerate(zip(row, x)):
            levels = len(set(data[:, j].tolist()))
            k *= (1 - bw[j]) if xi == v else (bw[j] / (levels - 1) if levels > 1 else math.inf)
        total += k
    return total / len(data)


def test_bohb_kde_against_hand_computation() -> None:
    codes = np.array([[0, 1], [0, 2], [1, 1], [0, 1], [2, 0], [1, 2], [2, 2], [0, 0],
                      [1, 1], [2, 1], [0, 2], [1, 0], [2, 1], [0, 1]])
    losses = np.array([3.0, 1.0, 2.0, 0.5, 9.0, 4.0, 8.0, 7.0, 6.0, 5.0, 0.7, 10.0, 11.0, 12.0])
    pair = fit_kde_pair(codes, losses, top_n_percent=15, min_points_in_model=3,
                        min_bandwidth=1e-3)
    assert pair is not None
    good, bad = pair
    # n_good = max(3, 15*14//100=2) = 3 best: losses 0.5, 0.7, 1.0; n_bad = max(3, 85*14//100
    # = 11) = the 11 others
    np.testing.assert_array_equal(good.data, codes[[3, 10, 1]])
    assert bad.data.shape == (11, 2)
    bw = 1.06 * np.std(codes[[3, 10, 1]], axis=0) * 3 ** (-1 / 6)
    np.testing.assert_allclose(good.bw, np.maximum(bw, 1e-3))  # column 0 all 0: clipped
    assert good.bw[0] == 1e-3
    xs = np.array([[0, 1], [0, 2], [1, 1], [2, 0], [0, 0]])
    for x in xs:
        assert good.pdf(x[None])[0] == pytest.approx(_hand_pdf(good.data, good.bw, x)) \
            or (math.isinf(good.pdf(x[None])[0]) and math.isinf(_hand_pdf(good.data, good.bw,
                                                                           x)))
        assert bad.pdf(x[None])[0] == pytest.approx(_hand_pdf(bad.data, bad.bw, x))
    # the pick: HpBandSter's loop over the same candidates
    rng = np.random.default_rng(3)
    cand, pick = propose(good, bad, rng, np.array([3, 3]), num_samples=16,
                         min_bandwidth=1e-3)
    best, best_i = math.inf, -1
    for i, c in enumerate(cand):
        lx, gx = _hand_pdf(good.data, good.bw, c), _hand_pdf(bad.data, bad.bw, c)
        val = max(1e-32, gx) / max(lx, 1e-32)
        if not math.isfinite(val) and math.isfinite(lx):  # the reference breaks here
            best_i = i
            break
        if val < best:
            best, best_i = val, i
    assert pick == best_i


def test_bohb_kde_matches_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.api", reason="cross-check needs statsmodels")
    rng = np.random.default_rng(0)
    data = rng.integers(0, 5, size=(40, 6))
    kde = sm.nonparametric.KDEMultivariate(data=data, var_type="u" * 6, bw="normal_reference")
    ours = CategoricalKDE(data, kde.bw)
    x = rng.integers(0, 5, size=(30, 6))
    np.testing.assert_allclose(ours.pdf(x), kde.pdf(x), rtol=1e-10)
    from algorithms._bohb import normal_reference_bandwidth

    np.testing.assert_allclose(normal_reference_bandwidth(data), kde.bw)


def test_bohb_uses_the_model_and_the_largest_budget() -> None:
    opt = BOHB(random_fraction=0.0, max_brackets=12)
    asked = _drive(opt, 2000)
    assert opt.n_model_picks > 20
    assert max(opt._models) == 2  # a model on the top rung (12 epochs) exists by now
    # results below the largest modelled budget are no longer stored
    assert opt._n_obs[0] < sum(1 for t in asked if t.fidelity == 1)


# ------------------------------------------------------------------------ resume costs
def test_resume_charges_only_the_extra_epochs(digits: Any, tmp_path: Path) -> None:
    run_study(digits, tmp_path, dataset="digits", algorithms={"asha": {},
              "hb-retrain": {"algorithm": "hyperband", "resume": False}}, seeds=[2],
              max_seconds=40.0, sim_workers=4)
    store = StudyStore(tmp_path)
    for run in store.iter_runs():
        rec, ext = store.read_records(run), store.read_extras(run)
        resumed = ext["resumed_from"]
        if run.label == "hb-retrain":
            assert resumed.isna().all()
        else:
            assert resumed.notna().sum() > 10
        for (_, r), prev in zip(rec.iterrows(), resumed):
            seed = int(r["data_seed"])
            full = digits.query(r["arch_id"], dataset="digits", fidelity=int(r["fidelity"]),
                                data_seed=seed).cost_s
            before = 0.0 if pd.isna(prev) else digits.query(
                r["arch_id"], dataset="digits", fidelity=int(prev), data_seed=seed).cost_s
            if pd.isna(prev) or prev < r["fidelity"]:
                assert r["cost_s"] == pytest.approx(full - before)
            else:  # the cell was already trained further (sampled twice): nothing to train
                assert r["cost_s"] == 0.0


# ---------------------------------------------------------------- workers: sync / async
def test_async_workers_never_idle_sync_waits(digits: Any) -> None:
    _, asy = _run(digits, "asha", sim_workers=4)
    cols = asy.extras_columns
    start = np.array([e[cols.index("start_s")] for e in asy.extras])
    worker = np.array([e[cols.index("worker")] for e in asy.extras])
    finish = np.array([r[7] for r in asy.records])
    for w in range(4):  # each worker starts its next job the moment the last one ends
        mine = np.flatnonzero(worker == w)
        np.testing.assert_allclose(start[mine][1:], finish[mine][:-1])
    _, syn = _run(digits, "asha", sim_workers=4, sim_mode="sync")
    s_start = [e[cols.index("start_s")] for e in syn.extras]
    assert len(set(s_start[:4])) == 1 and len(set(s_start[4:8])) == 1
    assert syn.records != asy.records


def test_nothing_to_ask_waits_then_ends(digits: Any) -> None:
    """One SH bracket (9@1, 3@4, 1@12) on 4 workers: rungs wait for their stragglers (ask()
    says None), and the run ends when the bracket is done."""
    _, out = _run(digits, "sh", {"max_brackets": 1}, sim_workers=4, max_seconds=1000.0)
    assert [r[3] for r in out.records] == [1] * 9 + [4] * 3 + [12]
    assert out.result["stopped"] == _FINISHED
    cols = out.extras_columns
    start = [e[cols.index("start_s")] for e in out.extras]
    finish = [r[7] for r in out.records]
    assert min(start[9:12]) == pytest.approx(max(finish[:9]))  # rung 1 waits for rung 0
    _, seq = _run(digits, "sh", {"max_brackets": 1}, max_seconds=1000.0)
    assert seq.result["stopped"] == _FINISHED
    assert sorted(r[1] for r in seq.records) == sorted(r[1] for r in out.records)


def test_one_simulated_worker_is_the_sequential_run(digits: Any) -> None:
    from benchbench._run import _drive_workers, _Loop, optimizer_rng
    from benchbench.optimizer import make_optimizer

    for algo in ("bohb", "asha", "lcstop"):
        cfg, seq = _run(digits, algo, max_seconds=15.0)
        opt = make_optimizer(algo)
        opt.configure_fidelity(tuple(range(1, 13)))  # type: ignore[union-attr]
        opt.setup(digits.space, optimizer_rng(cfg.seed, "digits"))
        loop = _Loop(digits, dataclasses.replace(cfg, sim_workers=1), None)
        _drive_workers(opt, loop, cfg)
        assert loop.records == seq.records


# ------------------------------------------------------------------------- lcstop
def test_lcstop_stops_below_the_incumbent_curve() -> None:
    curves: dict[Any, float] = {}

    def value(t: TrialInfo) -> float:  # a per-cell level times a rising curve
        level = curves.setdefault(t.arch, toy_objective(SPACE, t.arch))
        return level * (1 - 0.7 ** t.fidelity)

    opt = LearningCurveStopping()
    asked = _drive(opt, 400, value)
    assert opt.n_stopped > 5
    first = [t.fidelity for t in asked[:12]]
    assert first == list(range(1, 13))  # the first cell is trained to the end
    # sequentially a cell's checkpoints come one after another (1, 2, ...); it is continued
    # exactly while its value is not below the best finished cell's at the same epoch
    runs: list[list[TrialInfo]] = []
    for t in asked:
        if t.fidelity == 1:
            runs.append([])
        runs[-1].append(t)
    best: list[float] = []
    for run in runs[:-1]:
        ys = [value(t) for t in run]
        assert [t.fidelity for t in run] == list(range(1, len(run) + 1))
        if best:
            below = [y < b for y, b in zip(ys, best)]
            assert below[:-1] == [False] * (len(run) - 1)
            assert below[-1] or len(run) == 12
        if len(run) == 12 and (not best or ys[-1] > best[-1]):
            best = ys
    assert any(len(r) < 12 for r in runs)
    median = LearningCurveStopping(rule="median")
    assert _drive(median, 400, value) != asked


# ----------------------------------------------------------------- reproducibility
ALGOS = {"hyperband": {}, "bohb": {}, "asha": {}}


def _read_all(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("runs/*/*/*.csv"))}


def test_same_records_with_1_and_2_processes(digits: Any, tmp_path: Path) -> None:
    kw = dict(dataset="digits", algorithms=ALGOS, seeds=[0, 1], max_seconds=30.0,
              sim_workers=4)
    run_study(digits, tmp_path / "one", workers=1, **kw)
    res = run_study(digits, tmp_path / "two", workers=2, **kw)
    assert res.done == 6 and not res.failures
    one, two = _read_all(tmp_path / "one"), _read_all(tmp_path / "two")
    assert len(one) == 12 and one == two  # records.csv and evals.csv, byte for byte


@pytest.mark.slow
def test_same_records_on_ray(digits: Any, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the ray executor needs pip install 'benchbench[ray]'")
    kw = dict(dataset="digits", algorithms=ALGOS, seeds=[0, 1], max_seconds=30.0,
              sim_workers=4)
    run_study(digits, tmp_path / "local", **kw)
    res = run_study(digits, tmp_path / "ray", executor="ray", workers=2, **kw)
    assert res.done == 6 and not ray.is_initialized()
    assert _read_all(tmp_path / "local") == _read_all(tmp_path / "ray")


# ------------------------------------------------------------- official NATS files
@pytest.fixture(scope="module")
def nats(nats_sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tabular_data import import_nb201
    from tabular_data import open_benchmark as open_table

    root = tmp_path_factory.mktemp("nats")
    import_nb201(nats_sample_dir, name="s12", root=root, hp="12")
    import_nb201(nats_sample_dir, name="s200", root=root, hp="200")
    return open_table("s12", root=root), open_table("s200", root=root)


def test_every_epoch_of_the_official_files(nats: Any) -> None:
    """Fidelity queries at every epoch of both schedules (cifar10-valid: x-valid recorded at
    every epoch of both; hp 200 records cifar100 / ImageNet16-120 x-valid at epoch 200 only),
    costs cumulative and increasing, as multi-fidelity search needs them."""
    from benchbench._run import run_epochs

    for bench, last in zip(nats, (12, 200)):
        assert run_epochs(bench, "cifar10-valid", "valid_acc", last) == tuple(range(1, last + 1))
        for idx in (0, 11, 284):
            arch = bench.space.from_index(idx)
            for seed in bench.data_seeds(arch, "cifar10-valid"):
                tr = bench.trajectory(arch, dataset="cifar10-valid", data_seed=seed)
                assert tuple(tr.epochs) == tuple(range(1, last + 1))
                assert np.all(np.diff(tr.cost_s) > 0)
                assert np.all(np.isfinite(tr.values["valid_acc"]))
                for e in (1, last // 2, last):  # = single queries at those epochs
                    ev = bench.query(arch, dataset="cifar10-valid", fidelity=e, data_seed=seed)
                    assert ev.values["valid_acc"] == tr.values["valid_acc"][e - 1]
                    assert ev.cost_s == tr.cost_s[e - 1]
    assert run_epochs(nats[1], "cifar100", "valid_acc", 200) == (200,)


def test_hyperband_on_the_official_200_epoch_schedule(nats: Any) -> None:
    """Successive halving up to 200 epochs on three real cells (restricted sample space)."""
    from tests.test_protocols import SampleSpace

    bench = nats[1]
    bench.space = SampleSpace()
    cfg = plan_study(bench, dataset="cifar10-valid", algorithms={"sh": {"eta": 6}},
                     seeds=[0], max_evals=100, sim_workers=2)[0]
    out = execute_run_full(bench, cfg)
    fids = [r[3] for r in out.records]
    assert sorted(set(fids)) == [5, 33, 200]  # 200 * 6**-k, k = 2..0, floored to epochs
    assert fids[:36] == [5] * 36 and out.result["n_resumed"] > 0
    assert out.result["n_resumed"] > 0


NB201_BOHB_ROW = {"budget_mode": "ignore", "min_budget": 12, "max_budget": 200,
                  "num_samples": 4, "random_fraction": 0.0, "min_bandwidth": 0.3,
                  "max_brackets": 50, "resume": False}


def test_nb201_papers_bohb_row_settings(nats: Any, nats_sample_dir: Path) -> None:
    """NB201's ``BOHB.py``: HpBandSter with budgets 12..200 that the worker ignores: every
    query is the 12-epoch result (a fresh recorded seed) charged ``train-all-time +
    valid-per-time``; the search stops before the query that would cross 12,000 s; the
    incumbent is the best at the largest budget (``get_incumbent_id``)."""
    from tests.test_protocols import CELLS, Reference, SampleSpace

    class OnlySampleCells(SampleSpace):
        """Model picks outside the three sampled cells are not cells of this space (BOHB
        then samples uniformly, as HpBandSter does when a pick cannot be converted)."""

        def from_categorical(self, values: Any) -> Any:
            arch = super().from_categorical(values)
            if self.index(arch) not in CELLS:
                raise ValueError("not a sample cell")
            return arch

    ref = Reference(nats_sample_dir)
    search, report = nats
    search.space = OnlySampleCells()
    from benchbench.runner import SEARCH_PROTOCOLS

    cfg = plan_study(search, dataset="cifar10-valid", algorithms={"bohb": NB201_BOHB_ROW},
                     seeds=[4], report=report, settings=SEARCH_PROTOCOLS["nb201-paper"])[0]
    assert (cfg.noise, cfg.cost, cfg.budget_crossing, cfg.max_seconds) == (
        "fresh", "train+eval", "drop", 12000.0)
    from benchbench._run import RunTarget
    from benchbench.optimizer import make_optimizer

    out = execute_run_full(RunTarget(search, report), cfg)
    clock = 0.0
    for r in out.records:
        assert r[3] == 12
        info = ref.get_more_info(int(r[2]), int(r[4]))
        assert r[5] == info["valid-accuracy"]
        assert r[6] == pytest.approx(info["train-all-time"] + info["valid-per-time"], rel=1e-12)
        clock += r[6]
    assert clock <= 12000.0 and "crossed max_seconds" in out.result["stopped"]
    # the brackets' schedule: 200/9, 200/3, 200 (HpBandSter's bracket sizes 9-3-1, 3-1, 3)
    opt = make_optimizer("bohb", **NB201_BOHB_ROW)
    opt.configure_fidelity(tuple(range(1, 13)))  # type: ignore[union-attr]
    opt.setup(search.space, make_rng(0, "x"))
    np.testing.assert_allclose(opt.budgets, [200 / 9, 200 / 3, 200])  # type: ignore[union-attr]
    assert opt.rung_epochs == (12, 12, 12)  # type: ignore[union-attr]


def test_tiny_multifidelity_study_on_the_yahpo_darts_surrogate(shared_data: Path,
                                                              tmp_path: Path) -> None:
    """The published DARTS-space surrogate (epochs 1..98): rungs floored to its epochs, resumed
    trainings charged the predicted extra runtime (never below zero)."""
    pytest.importorskip("onnxruntime", reason="the YAHPO surrogate needs onnxruntime")
    pytest.importorskip("onnx", reason="importing the YAHPO surrogate needs onnx")
    from surrogates.yahpo import import_yahpo_nb301
    from tests.conftest import require

    import_yahpo_nb301(require(shared_data / "nb301" / "yahpo_nb301"), root=tmp_path)
    bench = open_benchmark("nb301-yahpo", data_root=tmp_path)
    for algo in ("hyperband", "asha"):
        cfg = plan_study(bench, dataset="cifar10", algorithms={algo: {}}, seeds=[0],
                         max_evals=300, noise="mean", test_metric=None, sim_workers=4)[0]
        out = execute_run_full(bench, cfg)
        assert {r[3] for r in out.records} <= {1, 3, 10, 32, 98}  # 98 * 3**-k, floored
        assert out.result["n_resumed"] > 0 and all(r[6] >= 0 for r in out.records)
        assert out.result["incumbent_id"]


def test_regret_against_the_simulated_wall_clock(digits: Any, tmp_path: Path) -> None:
    from results import load_study, regret_vs_simtime, sim_workers, time_to_regret

    run_study(digits, tmp_path, dataset="digits", algorithms={"asha": {}, "rs": {}},
              seeds=[0, 1, 2], max_seconds=10.0, sim_workers=4)
    study = load_study(tmp_path)
    assert sim_workers(study) == (4, "async")
    grid = np.array([2.0, 5.0, 10.0])
    c = regret_vs_simtime(study, grid=grid, n_boot=200)
    ttr = time_to_regret(study, 2.0)
    store = StudyStore(tmp_path)
    for run in store.iter_runs():
        rec = store.read_records(run)
        i = list(study.runs[run.label].seeds).index(run.seed)
        for j, t in enumerate(grid):  # the incumbent at t: the last record finished by t
            done = rec[rec["sim_time_s"] <= t]
            want = 95.75 - done["incumbent_valid"].iloc[-1] if len(done) else math.nan
            got = c.values[run.label][i, j]
            assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want)
        hit = rec[95.75 - rec["incumbent_valid"] <= 2.0]
        assert ttr[run.label][i] == (hit["sim_time_s"].iloc[0] if len(hit) else math.inf)
    assert np.all(c.lo["asha"] <= c.mean["asha"] + 1e-12)


@pytest.mark.slow
def test_tiny_multifidelity_study_on_a_fitted_surrogate(digits: Any) -> None:
    """The surrogate backend's predicted curves (a small model fitted on nb201-digits):
    Hyperband and ASHA on its epochs 1..12 (slow: fitting takes ~10-20 s)."""
    pytest.importorskip("xgboost", reason="fitting a surrogate needs xgboost")
    from surrogates import FitOptions, SurrogateBenchmark, fit_model, training_data

    data = training_data(digits, "digits", metrics=["valid_acc", "test_acc"])
    model = fit_model(data, options=FitOptions(members=1, n_estimators=20,
                                               cost_estimators=20, n_jobs=1))
    bench = SurrogateBenchmark(model)
    for algo in ("hyperband", "asha"):
        cfg = plan_study(bench, dataset="digits", algorithms={algo: {}}, seeds=[0],
                         max_seconds=20.0, sim_workers=4)[0]
        out = execute_run_full(bench, cfg)
        assert {r[3] for r in out.records} == {1, 4, 12}
        assert out.result["n_resumed"] > 0 and all(r[6] >= 0 for r in out.records)
        assert out.result["incumbent_id"]
