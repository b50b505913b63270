"""Multi-objective and constrained search (issue 14): Pareto primitives against brute-force
re-implementations of their definitions (and moocore where installed), the optimizers' rules
against the papers' formulas, and whole studies on the embedded nb201-digits table (real
trained values) with the results layer's fronts, hypervolume ratios and report."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from algorithms import LocalSearch, ParEGORE, ParetoRE, RegularizedEvolution, Reinforce
from benchbench.pareto import (
    crowding_distance,
    hypervolume,
    hypervolume_2d_curve,
    nondominated_mask,
    pareto_ranks,
)
from benchbench.registry import open_benchmark
from benchbench.rng import make_rng
from benchbench.spaces import NB201Space
from benchbench.testing import check_optimizer
from benchbench.trial import TrialInfo, TrialValue

SPACE = NB201Space()


# ------------------------------------------------------------ brute-force references
def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def _brute_nd(F: np.ndarray) -> np.ndarray:
    return np.array([not any(_dominates(F[j], F[i]) for j in range(len(F)) if j != i)
                     for i in range(len(F))])


def _brute_hv(F: np.ndarray, ref: np.ndarray) -> float:
    """Volume of the union of the boxes [f, ref] by inclusion-exclusion (the definition)."""
    F = F[(ref > F).all(axis=1)]
    total = 0.0
    for k in range(1, len(F) + 1):
        for sub in itertools.combinations(range(len(F)), k):
            corner = F[list(sub)].max(axis=0)
            total += (-1) ** (k + 1) * float(np.prod(ref - corner))
    return total


def test_nondominated_and_hypervolume_match_their_definitions() -> None:
    rng = np.random.default_rng(0)
    for trial in range(60):
        k = 2 if trial < 40 else 3
        n = int(rng.integers(1, 9))
        F = rng.integers(0, 5, (n, k)).astype(float) if trial % 2 else rng.random((n, k))
        ref = np.full(k, 5.5 if trial % 2 else 1.2)
        assert (nondominated_mask(F) == _brute_nd(F)).all()
        want = _brute_hv(F, ref)
        assert hypervolume(F, ref, backend="numpy") == pytest.approx(want, abs=1e-9)
        if k == 2:
            curve = hypervolume_2d_curve(F, ref)
            assert curve == pytest.approx([_brute_hv(F[:i + 1], ref) for i in range(n)],
                                          abs=1e-9)
    # NaN rows take part in nothing; points on the reference point add nothing
    F = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, 3.0]])
    assert nondominated_mask(F).tolist() == [True, False, False]
    assert hypervolume(F, [3.0, 3.0]) == pytest.approx(2.0)


def test_against_moocore_when_installed() -> None:
    moocore = pytest.importorskip("moocore")
    rng = np.random.default_rng(1)
    for _ in range(20):
        F = rng.random((40, 3))
        assert hypervolume(F, np.ones(3) * 1.1, backend="numpy") == pytest.approx(
            moocore.hypervolume(F, ref=np.ones(3) * 1.1))
        assert (pareto_ranks(F) == moocore.pareto_rank(F)).all()  # both 0-based
        assert (nondominated_mask(F, backend="numpy")
                == moocore.is_nondominated(F, keep_weakly=True)).all()
    big = rng.integers(0, 40, (3000, 2)).astype(float)  # ties and duplicates
    big[::11, 1] = np.nan
    assert (nondominated_mask(big, backend="numpy")
            == nondominated_mask(big, backend="moocore")).all()


def test_ranks_and_crowding_are_nsga2s() -> None:
    # Deb et al. 2002, Sec. III-B: boundary points infinite, the others the sum over
    # objectives of the normalised distance between their two neighbours
    F = np.array([[0.0, 4.0], [1.0, 2.0], [2.0, 1.5], [4.0, 0.0]])
    d = crowding_distance(F)
    assert math.isinf(d[0]) and math.isinf(d[3])
    assert d[1] == pytest.approx((2 - 0) / 4 + (4 - 1.5) / 4)
    assert d[2] == pytest.approx((4 - 1) / 4 + (2 - 0) / 4)
    G = np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 3.0], [3.0, 3.0], [np.nan, 0.0]])
    assert pareto_ranks(G).tolist() == [0, 1, 0, 2, -1]


# ------------------------------------------------------------------- optimizers
def _value(acc: float, params: float, feasible: bool = True) -> TrialValue:
    return TrialValue(acc, 1.0, True, {"params": params}, {"params": False}, feasible)


def test_re_and_ls_rank_infeasible_below_feasible() -> None:
    # RE: a tournament over one infeasible high-accuracy member and one feasible low one
    # picks the feasible member (Deb's first rule), whatever the order drawn
    opt = RegularizedEvolution(population_size=2, sample_size=2, sample_with_replacement=False)
    opt.setup(SPACE, make_rng(0, "t"))
    a, b = SPACE.from_index(10), SPACE.from_index(20)
    opt.tell(TrialInfo(a), TrialValue(95.0, 1.0, feasible=False))
    opt.tell(TrialInfo(b), TrialValue(50.0, 1.0, feasible=True))
    opt._n_asked = 2
    for _ in range(20):
        assert opt._tournament(opt._population) == b
    # LS: an infeasible neighbour never improves a feasible centre
    ls = LocalSearch(n_init=1)
    ls.setup(SPACE, make_rng(0, "ls"))
    first = ls.ask()
    ls.tell(first, TrialValue(50.0, 1.0, feasible=True))
    for _ in range(len(SPACE.neighbours(first.arch))):
        t = ls.ask()
        ls.tell(t, TrialValue(99.0, 1.0, feasible=False))
    ls.ask()  # the loop moves on (a restart) only when asked again
    assert ls.local_optima and ls.local_optima[0] == (first.arch, 50.0)


def test_reinforce_rewards() -> None:
    # MnasNet (Tan et al. 2019, Eq. 2): ACC * (LAT / T) ** w, w = alpha below T, beta above
    opt = Reinforce(reward="mnas", cost_metric="lat", cost_target=5.0, alpha=-0.07,
                    beta=-0.07)
    opt.setup(SPACE, make_rng(0, "r"))
    v = TrialValue(90.0, 1.0, True, {"lat": 10.0}, {"lat": False})
    assert opt._reward(v) == pytest.approx(90.0 * (10.0 / 5.0) ** -0.07)
    hard = Reinforce(reward="mnas", cost_metric="lat", cost_target=5.0, alpha=0.0, beta=-1.0)
    hard.setup(SPACE, make_rng(0, "r"))
    assert hard._reward(TrialValue(90.0, 1.0, True, {"lat": 4.0}, {"lat": False})) == 90.0
    assert hard._reward(v) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="needs metric 'lat'"):
        opt._reward(TrialValue(90.0, 1.0))
    with pytest.raises(ValueError, match="cost_metric"):
        Reinforce(reward="mnas")._validate()
    # objective reward: an infeasible evaluation gets the lowest reward told so far
    r = Reinforce()
    r.setup(SPACE, make_rng(0, "r"))
    assert r._reward(TrialValue(70.0, 1.0)) == 70.0
    assert r._reward(TrialValue(99.0, 1.0, feasible=False)) == 70.0
    assert r._reward(TrialValue(60.0, 1.0, feasible=False)) == 60.0
    assert r.n_infeasible == 2


def test_pareto_re_tournament_is_the_crowded_comparison() -> None:
    opt = ParetoRE(population_size=6, sample_size=6)
    opt.setup(SPACE, make_rng(0, "mo"))
    pts = [(90.0, 1.0), (80.0, 0.2), (85.0, 0.5), (70.0, 0.9), (88.0, 0.8), (60.0, 0.1)]
    for i, (acc, p) in enumerate(pts):
        opt.tell(TrialInfo(SPACE.from_index(i)), _value(acc, p))
    ranks, crowd = opt._rank_crowd()
    F = np.array([[-a, p] for a, p in pts])
    assert list(ranks) == pareto_ranks(F).tolist()
    for r in set(ranks):  # the crowding distance of each front is NSGA-II's
        members = [i for i, x in enumerate(ranks) if x == r]
        assert [crowd[i] for i in members] == pytest.approx(
            crowding_distance(F[members]).tolist())
    picks = [3, 2, 4]  # ranks 1, 0, 0: the two rank-0 members compare by crowding
    want = 2 if crowd[2] > crowd[4] else 4
    assert opt._select(picks) == want
    # an infeasible member ranks after every feasible one (constrained domination)
    opt.tell(TrialInfo(SPACE.from_index(7)), _value(99.0, 0.01, feasible=False))
    ranks, _ = opt._rank_crowd()
    assert ranks[-1] > max(ranks[:-1])


def test_parego_weights_and_scalarisation() -> None:
    opt = ParEGORE(population_size=3, sample_size=3)
    opt.setup(SPACE, make_rng(0, "p"))
    w2, w3 = opt.weight_vectors(2), opt.weight_vectors(3)
    assert len(w2) == 11 and len(w3) == 15  # Knowles 2006: s = 10 and s = 4
    assert np.allclose(w2.sum(axis=1), 1) and np.allclose(w3.sum(axis=1), 1)
    for i, (acc, p) in enumerate([(90.0, 1.0), (80.0, 0.2), (85.0, 0.6)]):
        opt.tell(TrialInfo(SPACE.from_index(i)), _value(acc, p))
    # with the weight drawn, the parent minimises max(l * f') + 0.05 * sum(l * f')
    # over the normalised objectives (f' in [0, 1] by the values seen)
    state = opt._uniform._pos, list(opt._uniform._buf)
    lam = None
    k = opt._uniform.below(11)
    lam = w2[k]
    opt._uniform._pos, opt._uniform._buf = state[0], state[1]
    F = np.array([[-90.0, 1.0], [-80.0, 0.2], [-85.0, 0.6]])
    G = (F - F.min(0)) / (F.max(0) - F.min(0)) * lam
    want = int(np.argmin(G.max(1) + 0.05 * G.sum(1)))
    assert opt._select([0, 1, 2]) == want


@pytest.mark.parametrize("name", ["mo-re", "parego-re"])
def test_contract_and_reproducible_with_metrics(name: str) -> None:
    check_optimizer(name, SPACE)
    from benchbench.optimizer import make_optimizer

    def drive(seed: int) -> list[int]:
        opt = make_optimizer(name)
        opt.setup(SPACE, make_rng(seed, "x"))
        out = []
        for _ in range(60):
            t = opt.ask()
            i = SPACE.index(t.arch)
            opt.tell(t, _value(float(i % 97), float(i % 13)))
            out.append(i)
        return out

    assert drive(1) == drive(1) != drive(2)


# ------------------------------------------------------------------------ studies
@pytest.fixture(scope="module")
def digits() -> Any:
    return open_benchmark("nb201-digits")


@pytest.fixture(scope="module")
def mo_study(digits: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchbench.runner import run_study

    out = tmp_path_factory.mktemp("mo") / "study"
    run_study(digits, out, dataset="digits",
              algorithms={"rs": {}, "mo-re": {}, "parego-re": {}}, seeds=range(6),
              max_evals=60, record_metrics=("params",), noise="mean")
    return out


def test_fronts_and_hypervolume_ratio(mo_study: Path, digits: Any) -> None:
    from results import load_mo_study, load_study, pareto_front, true_front

    mo = load_mo_study(load_study(mo_study))
    assert mo.objectives == ("valid_acc", "params") and mo.maximize == (True, False)
    tf = true_front(digits, "digits", mo.objectives, mo.maximize)
    # the true front, by brute force over the table's 15,625 seed-mean values
    acc = digits.values("digits", "valid_acc", epoch=12)
    par = digits.values("digits", "params", epoch=12)
    ok = ~(np.isnan(acc) | np.isnan(par))
    order = np.lexsort((-acc[ok], par[ok]))
    best, front = -np.inf, set()
    for i in np.flatnonzero(ok)[order]:
        if acc[i] > best:
            best = acc[i]
            front.add((acc[i], par[i]))
    assert {tuple(p) for p in tf.points.tolist()} == front
    assert tf.hv > 0
    # Ishibuchi et al.'s reference: the nadir pushed out by the range / (distinct points - 1)
    F_true = np.column_stack([-tf.points[:, 0], tf.points[:, 1]])
    h = len(np.unique(F_true, axis=0)) - 1
    assert tf.ref == pytest.approx(F_true.max(0) + (F_true.max(0) - F_true.min(0)) / h)
    ratios = []
    for runs in mo.runs.values():
        assert len(runs) == 6
        for r in runs:
            # noise 'mean': the values seen are the table's seed means, so the ratio <= 1
            F = mo.minimised(r)
            ratios.append(hypervolume(F, tf.ref) / tf.hv)
            on = pareto_front(r.values, mo.maximize, r.feasible)
            assert on.any() and (nondominated_mask(F) == on).all()
    assert min(ratios) >= 0 and max(ratios) <= 1 + 1e-12 and np.mean(ratios) > 0


def test_attainment_surfaces() -> None:
    from results import attainment_surface

    a = np.array([[1.0, 3.0], [2.0, 1.0]])
    b = np.array([[1.5, 2.0]])
    c = np.array([[3.0, 0.5]])
    best = attainment_surface([a, b, c], 1 / 3)  # the front of the union
    assert best.tolist() == [[1.0, 3.0], [1.5, 2.0], [2.0, 1.0], [3.0, 0.5]]
    median = attainment_surface([a, b, c], 0.5)  # attained by at least 2 of 3
    assert median.tolist() == [[1.5, 3.0], [2.0, 2.0], [3.0, 1.0]]
    worst = attainment_surface([a, b, c], 1.0)
    assert worst.tolist() == [[3.0, 2.0]]
    moocore = pytest.importorskip("moocore")
    pts = np.vstack([np.column_stack([f, np.full(len(f), i + 1)]) for i, f in
                     enumerate((a, b, c))])
    ref = moocore.eaf(pts[:, :2], sets=pts[:, 2], percentiles=[50])
    assert sorted(map(tuple, ref[:, :2].tolist())) == sorted(map(tuple, median.tolist()))


def test_report_has_the_hypervolume_table(mo_study: Path, tmp_path: Path) -> None:
    from results import build_report, hypervolume_table, load_mo_study, load_study

    st = load_study(mo_study)
    t = hypervolume_table(load_mo_study(st), None, n_boot=100)
    assert [r[0] for r in t.rows] == ["rs", "mo-re", "parego-re"]
    assert "VALIDATION objective" in t.note
    report = build_report(mo_study, out=tmp_path / "rep", formats=(), n_boot=100).read_text()
    assert "### Multi-objective: valid_acc, params" in report
    assert "hypervolume ratio (run / true front)" in report  # embedded table: true front


def test_constrained_study_counts_infeasible(digits: Any, tmp_path: Path) -> None:
    from benchbench.runner import run_study
    from benchbench.store import StudyStore
    from results import load_study
    from results._pareto import infeasible_counts

    run_study(digits, tmp_path / "c", dataset="digits",
              algorithms={"re": {}, "ls": {}, "reinforce": {}}, seeds=[0, 1], max_evals=40,
              constraints=("params<=0.005",))
    st = load_study(tmp_path / "c")
    counts = infeasible_counts(st)
    store = StudyStore(tmp_path / "c")
    for run in store.iter_runs():
        ext = store.read_extras(run)
        assert int((~ext["feasible"]).sum()) == counts[run.label][[0, 1].index(run.seed)]
        assert (ext["feasible"] == (ext["metric:params"] <= 0.005)).all()
    assert all(c.sum() > 0 for c in counts.values())
