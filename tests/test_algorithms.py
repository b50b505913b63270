"""Black-box optimizers (algorithms/): a contract suite over every registered optimizer,
then algorithm-specific checks, all driven against the REAL NB201 CIFAR-10-valid
validation accuracy (``c10v_valid_acc``, seed mean of the 200-epoch runs, percent).

The proxy-guided optimizers (:data:`PROXY_GUIDED`) run in the suite on real precomputed
scores, never live torch scoring: NASLib's independent CIFAR-10 zero-cost scores of 725 NB201
cells (``../shared/data/nb201/zc_scores_725.json``), written once per session as a score
directory (:func:`algorithms.proxies.import_naslib_scores`) and given as ``scores=``.  Their
own behaviour is checked in ``test_naswot.py``."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from algorithms import (
    NASWOT,
    OPTIMIZERS,
    LocalSearch,
    RandomSearch,
    RegularizedEvolution,
    Reinforce,
    SearchExhaustedError,
    ZeroCostWarmStartRE,
    get_optimizer,
)
from algorithms.proxies import import_naslib_scores
from benchbench.api import UnknownNameError
from benchbench.optimizer import Optimizer
from benchbench.rng import make_rng
from benchbench.spaces import NB201Arch, NB201Space
from benchbench.trial import TrialInfo, TrialValue

REPO = Path(__file__).resolve().parents[1]
SPACE = NB201Space()
#: The single-fidelity black-box optimizers this file drives with ask/tell on NB201.  The
#: multi-fidelity ones (tests/test_multifidelity.py) and the one-shot searches
#: (tests/test_oneshot.py) have their own files; all of them pass the contract suite
#: (tests/test_contracts.py).
NAMES = sorted(n for n, c in OPTIMIZERS.items()
               if issubclass(c, Optimizer) and not c.capabilities.multi_fidelity)
#: Optimizers that read zero-cost proxy scores (given ``scores=`` the NASLib directory here).
PROXY_GUIDED = frozenset({"naswot", "re-zc"})
#: NASLib's zero-cost scores, under the shared data folder.
NASLIB_FILE = ("nb201", "zc_scores_725.json")

#: Non-default, valid hyper-parameters of every optimizer (for the get_params round trip).
OTHER_PARAMS: dict[str, dict[str, Any]] = {
    "rs": {"dedup": True},
    "re": {"population_size": 20, "sample_size": 5, "aging": False,
           "sample_with_replacement": True, "mutation": "uniform-neighbour"},
    "reinforce": {"learning_rate": 0.5, "baseline_momentum": 0.5, "optimizer": "sgd",
                  "reward_scale": 0.01, "init_std": 0.0, "beta1": 0.8, "beta2": 0.99,
                  "eps": 1e-6},
    "ls": {"n_init": 1, "step": "best-improvement", "known_neighbours": "reuse"},
    "naswot": {"proxy": "synflow", "n_samples": 30},
    "re-zc": {"population_size": 20, "sample_size": 5, "aging": False,
              "sample_with_replacement": False, "proxy": "nwot", "warmup_pool": 200},
    "mo-re": {"population_size": 20, "sample_size": 5, "mutation": "uniform-neighbour"},
    "parego-re": {"population_size": 20, "sample_size": 5, "rho": 0.1, "weight_steps": 5},
}

#: Bad hyper-parameters of every optimizer: (params, text the error must contain).
BAD_PARAMS: dict[str, list[tuple[dict[str, Any], str]]] = {
    "rs": [({"dedup": "yes"}, "'yes'"), ({"dedup": 1}, "dedup")],
    "re": [({"population_size": 0}, "population_size"),
           ({"population_size": 2.5}, "2.5"),
           ({"sample_size": 11, "sample_with_replacement": False}, "sample_size=11"),
           ({"sample_size": 0}, "sample_size"),
           ({"aging": "no"}, "'no'"),
           ({"mutation": "uniform-edge"}, "'uniform-edge'")],
    "reinforce": [({"learning_rate": 0.0}, "learning_rate"),
                  ({"learning_rate": -1e-3}, "-0.001"),
                  ({"learning_rate": math.inf}, "inf"),
                  ({"baseline_momentum": 1.0}, "baseline_momentum"),
                  ({"optimizer": "rmsprop"}, "'rmsprop'"),
                  ({"reward_scale": 0}, "reward_scale"),
                  ({"init_std": -1.0}, "init_std"),
                  ({"beta2": 1.0}, "beta2"),
                  ({"eps": 0.0}, "eps")],
    "ls": [({"n_init": 0}, "n_init"),
           ({"n_init": 2.0}, "2.0"),
           ({"step": "first"}, "'first'"),
           ({"known_neighbours": "ignore"}, "'ignore'")],
    "naswot": [({"n_samples": 0}, "n_samples"),
               ({"n_samples": 2.5}, "2.5"),
               ({"proxy": "bogus"}, "'bogus'"),
               ({"proxy": 3}, "proxy"),
               ({"scores": "/nonexistent/zc-scores"}, "'/nonexistent/zc-scores' does not exist"),
               ({"scores": str(REPO / "tests")}, "is not a proxy-score directory"),
               ({"scores": 7}, "got 7")],
    "re-zc": [({"warmup_pool": 0}, "warmup_pool"),
              ({"population_size": 0}, "population_size"),
              ({"sample_size": 11, "sample_with_replacement": False}, "sample_size=11"),
              ({"proxy": "nwot2"}, "'nwot2'"),
              ({"scores": "/nonexistent/zc-scores"}, "does not exist")],
    "mo-re": [({"population_size": 1}, "population_size"),
              ({"sample_size": 0}, "sample_size"),
              ({"mutation": "uniform-edge"}, "'uniform-edge'"),
              ({"objectives": "params"}, "'params'"),
              ({"objectives": ["params", "params"]}, "distinct")],
    "parego-re": [({"rho": -0.1}, "rho"), ({"weight_steps": 0}, "weight_steps"),
                  ({"population_size": 2.5}, "2.5")],
}


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="session")
def naslib_scores(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A score directory of NASLib's CIFAR-10 zero-cost scores (725 cells, 11 of our proxies);
    ``None`` when the NASLib file is absent."""
    src = shared_data.joinpath(*NASLIB_FILE)
    if not src.is_file():
        return None
    return import_naslib_scores(src, "cifar10", tmp_path_factory.mktemp("zc") / "cifar10")


def params_of(name: str, request: pytest.FixtureRequest, **params: Any) -> dict[str, Any]:
    """``params`` plus, for a proxy-guided optimizer, ``scores=`` the NASLib score directory
    (an explicit ``scores`` in ``params`` wins); skips when the NASLib file is absent."""
    if name not in PROXY_GUIDED:
        return params
    scores = request.getfixturevalue("naslib_scores")
    if scores is None:
        pytest.skip(f"{name!r} is proxy-guided and tested on real precomputed scores, but "
                    f"{Path(*NASLIB_FILE)} (NASLib zero-cost scores) is not in the shared data")
    return {"scores": str(scores), **params}


def make(name: str, request: pytest.FixtureRequest, **params: Any) -> Optimizer:
    """``get_optimizer(name, **params)``, proxy-guided ones reading the NASLib scores."""
    return get_optimizer(name, **params_of(name, request, **params))


def drive(opt: Optimizer, objective: np.ndarray, n: int, seed: int, *,
          maximize: bool = True, batch: int = 1) -> list[int]:
    """Run ``n`` evaluations (``batch`` asks, then their tells); the asked official indices."""
    opt.setup(SPACE, make_rng(seed, "test", opt.name))
    asked: list[int] = []
    while len(asked) < n:
        trials = [opt.ask() for _ in range(min(batch, n - len(asked)))]
        for t in trials:
            idx = SPACE.index(t.arch)
            asked.append(idx)
            opt.tell(t, TrialValue(float(objective[idx]), 1.0, maximize))
    return asked


def best_found(opt: Optimizer, acc: np.ndarray, n: int, seeds: range) -> np.ndarray:
    """Best validation accuracy found within ``n`` evaluations, one value per seed."""
    return np.array([acc[drive(opt, acc, n, s)].max() for s in seeds])


# ------------------------------------------------------------------------ the registry
def test_registry_names_and_classes() -> None:
    expected = {"rs": RandomSearch, "re": RegularizedEvolution, "reinforce": Reinforce,
                "ls": LocalSearch, "naswot": NASWOT, "re-zc": ZeroCostWarmStartRE}
    assert {name: OPTIMIZERS[name] for name in expected} == expected
    for name, cls in OPTIMIZERS.items():
        assert cls.name == name and issubclass(cls, Optimizer)
    # every single-fidelity optimizer must declare its bad and non-default hyper-parameters
    assert set(BAD_PARAMS) == set(NAMES) == set(OTHER_PARAMS)
    assert set(OPTIMIZERS) - set(NAMES) == {"sh", "hyperband", "bohb", "asha", "lcstop"}
    # the proxy-guided ones are exactly those taking precomputed scores
    assert {n for n in NAMES if "scores" in OPTIMIZERS[n]().get_params()} == PROXY_GUIDED


def test_get_optimizer_errors() -> None:
    with pytest.raises(UnknownNameError, match=r"'bogus'.*allowed: 'asha', 'bohb', "
                                                r"'darts-v1', 'darts-v2', 'gdas', "
                                                r"'hyperband', 'lcstop', 'ls', 'mo-re', "
                                                r"'naswot', 'parego-re', 're', 're-zc', "
                                                r"'reinforce', 'rs', 'rsps', 'sh'"):
        get_optimizer("bogus")
    with pytest.raises(ValueError, match=r"\['popsize'\].*allowed: \['population_size'"):
        get_optimizer("re", popsize=3)
    with pytest.raises(ValueError, match="sample_size=4 must be <= population_size=3"):
        get_optimizer("re", population_size=3, sample_size=4, sample_with_replacement=False)


def test_reference_defaults() -> None:
    """The defaults are the reference scripts' (R-EA, NB201 / NATS-Bench: 10 / 3 with
    replacement, aging, the space's (NB201's) mutation; REINFORCE, NATS-Bench: Adam, lr 0.01,
    EMA 0.9; local search, naszilla: best of 10, first improvement, known cells skipped)."""
    assert get_optimizer("re").get_params() == {
        "population_size": 10, "sample_size": 3, "aging": True,
        "sample_with_replacement": True, "mutation": "space"}
    p = get_optimizer("reinforce").get_params()
    assert (p["learning_rate"], p["baseline_momentum"], p["optimizer"], p["init_std"]) == (
        0.01, 0.9, "adam", 1e-3)
    assert get_optimizer("ls").get_params() == {
        "n_init": 10, "step": "first-improvement", "known_neighbours": "skip"}
    assert get_optimizer("rs").get_params() == {"dedup": False}


# ---------------------------------------------------------------------- contract suite
@pytest.mark.parametrize("name", NAMES)
def test_asks_are_valid_archs(name: str, valid_acc: np.ndarray,
                              request: pytest.FixtureRequest) -> None:
    opt = make(name, request)
    opt.setup(SPACE, make_rng(0, name))
    for i in range(300):
        t = opt.ask()
        assert isinstance(t, TrialInfo) and isinstance(t.arch, NB201Arch)
        assert t.trial_id == i and t.fidelity is None
        idx = SPACE.index(t.arch)
        assert SPACE.from_index(idx) == t.arch and SPACE.parse(SPACE.arch_id(t.arch)) == t.arch
        opt.tell(t, TrialValue(float(valid_acc[idx]), 1.0))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_asks_other_seed_differs(name: str, valid_acc: np.ndarray,
                                                 request: pytest.FixtureRequest) -> None:
    opt = make(name, request)
    a = drive(opt, valid_acc, 200, seed=1)
    b = drive(make(name, request), valid_acc, 200, seed=1)
    again = drive(opt, valid_acc, 200, seed=1)  # setup() resets all state
    other = drive(opt, valid_acc, 200, seed=2)
    assert a == b == again
    assert a != other


@pytest.mark.parametrize("name", NAMES)
def test_orientation(name: str, valid_acc: np.ndarray, request: pytest.FixtureRequest) -> None:
    """Minimising the error (100 - acc) asks exactly what maximising the accuracy asks."""
    up = drive(make(name, request), valid_acc, 150, seed=3)
    down = drive(make(name, request), 100.0 - valid_acc, 150, seed=3, maximize=False)
    assert up == down


@pytest.fixture(scope="module")
def fresh_process_asks(valid_acc: np.ndarray, tmp_path_factory: pytest.TempPathFactory,
                       naslib_scores: Path | None) -> dict[str, list[int]]:
    """The asks of every optimizer (seed 5, 200 evaluations) computed in a fresh process
    (the proxy-guided ones on the NASLib scores, when present)."""
    values = tmp_path_factory.mktemp("algorithms") / "valid_acc.npy"
    np.save(values, valid_acc)
    params = {n: ({"scores": str(naslib_scores)} if n in PROXY_GUIDED else {})
              for n in NAMES if n not in PROXY_GUIDED or naslib_scores is not None}
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from algorithms import OPTIMIZERS, get_optimizer
        sys.path.insert(0, {str(REPO / "tests")!r})
        from test_algorithms import drive
        acc = np.load({str(values)!r})
        params = json.loads({json.dumps(params)!r})
        asks = {{n: drive(get_optimizer(n, **p), acc, 200, seed=5) for n, p in params.items()}}
        # the black-box optimizers never need torch (proxy-guided ones read stored scores)
        light = "torch" not in sys.modules
        print(json.dumps({{"light": light, "asks": asks}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["light"], "import algorithms or a search on stored scores imported torch"
    return result["asks"]


@pytest.mark.parametrize("name", NAMES)
def test_identical_in_fresh_process(name: str, valid_acc: np.ndarray,
                                    fresh_process_asks: dict[str, list[int]],
                                    request: pytest.FixtureRequest) -> None:
    opt = make(name, request)
    assert fresh_process_asks[name] == drive(opt, valid_acc, 200, seed=5)


@pytest.mark.parametrize("name", NAMES)
def test_bad_hyper_parameters_raise(name: str, request: pytest.FixtureRequest) -> None:
    cls = OPTIMIZERS[name]
    for bad, text in BAD_PARAMS[name]:
        params = params_of(name, request, **bad)
        with pytest.raises(ValueError, match=re.escape(text)):
            get_optimizer(name, **params)
        opt = cls(**params)  # stored unchanged; the check runs at setup as well
        with pytest.raises(ValueError, match=re.escape(text)):
            opt.setup(SPACE, make_rng(0))


@pytest.mark.parametrize("name", NAMES)
def test_get_params_round_trip(name: str, request: pytest.FixtureRequest) -> None:
    cls = OPTIMIZERS[name]
    params = params_of(name, request, **OTHER_PARAMS[name])
    opt = get_optimizer(name, **params)
    assert opt.get_params() == {**cls().get_params(), **params}
    assert cls(**opt.get_params()).get_params() == opt.get_params()
    for value, given in zip(opt.get_params().values(), cls(**params).get_params().values()):
        assert type(value) is type(given)  # stored unchanged, not coerced
    assert repr(opt).startswith(f"{cls.__name__}(") and all(k in repr(opt) for k in params)


@pytest.mark.parametrize("name", NAMES)
def test_nan_objectives_do_not_break(name: str, valid_acc: np.ndarray,
                                     request: pytest.FixtureRequest) -> None:
    """Cells without a value (NaN) are told as NaN; the search goes on with valid asks."""
    holes = valid_acc.copy()
    holes[::3] = np.nan
    asked = drive(make(name, request), holes, 300, seed=4)
    assert len(asked) == 300 and all(0 <= i < SPACE.size for i in asked)


@pytest.mark.parametrize("name", NAMES)
def test_several_asks_before_tells(name: str, valid_acc: np.ndarray,
                                   request: pytest.FixtureRequest) -> None:
    asked = drive(make(name, request), valid_acc, 300, seed=6, batch=7)
    assert len(asked) == 300
    if name == "ls":
        assert len(set(asked)) == 300


@pytest.mark.parametrize("name", NAMES)
def test_other_params_run(name: str, valid_acc: np.ndarray,
                          request: pytest.FixtureRequest) -> None:
    asked = drive(make(name, request, **OTHER_PARAMS[name]), valid_acc, 200, seed=8)
    assert len(asked) == 200


# ------------------------------------------------------------------------ random search
def test_rs_dedup_never_repeats_and_exhausts(valid_acc: np.ndarray) -> None:
    plain = drive(RandomSearch(), valid_acc, 3000, seed=0)
    assert len(set(plain)) < 3000  # birthday paradox: 3000 of 15625 repeat (p ~ 1 - 1e-120)
    asked = drive(RandomSearch(dedup=True), valid_acc, SPACE.size, seed=0)
    assert sorted(asked) == list(range(SPACE.size))  # the whole space, each cell once
    opt = RandomSearch(dedup=True)
    drive(opt, valid_acc, SPACE.size, seed=0)
    with pytest.raises(SearchExhaustedError, match="all 15625 architectures"):
        opt.ask()


# ----------------------------------------------------------------- regularized evolution
@pytest.mark.parametrize("aging", [True, False])
def test_re_population(aging: bool, valid_acc: np.ndarray) -> None:
    opt = RegularizedEvolution(population_size=10, sample_size=3, aging=aging)
    opt.setup(SPACE, make_rng(0, "re-pop"))
    told: list[tuple[NB201Arch, float]] = []
    for i in range(400):
        before = list(opt.population)
        t = opt.ask()
        if i >= 10:  # a child: one mutation away from a member of the population
            assert any(t.arch in SPACE.neighbours(a) for a, _ in before)
        value = float(valid_acc[SPACE.index(t.arch)])
        opt.tell(t, TrialValue(value, 1.0))
        told.append((t.arch, value))
        pop = list(opt.population)
        assert len(pop) == min(i + 1, 10)
        if aging:
            assert pop == told[-10:]  # the oldest is removed
        elif i >= 10:
            grown = before + [(t.arch, value)]
            (removed,) = (Counter(grown) - Counter(pop)).elements()
            assert removed[1] == min(s for _, s in grown)  # the worst is removed


def test_re_tournament_parent_is_best_non_nan(valid_acc: np.ndarray) -> None:
    """With sample_size == population_size (no replacement) the whole population competes:
    every child must be a neighbour of the best member; NaN members never win."""
    holes = valid_acc.copy()
    holes[::2] = np.nan
    opt = RegularizedEvolution(population_size=8, sample_size=8, sample_with_replacement=False)
    opt.setup(SPACE, make_rng(0, "re-tournament"))
    n_nan_members = 0
    for i in range(300):
        pop = opt.population
        t = opt.ask()
        finite = [(a, s) for a, s in pop if not math.isnan(s)]
        n_nan_members += len(pop) - len(finite)
        if i >= 8 and finite:
            best = max(s for _, s in finite)
            assert any(t.arch in SPACE.neighbours(a) for a, s in finite if s == best)
        opt.tell(t, TrialValue(float(holes[SPACE.index(t.arch)]), 1.0))
    assert n_nan_members > 0


def test_re_all_nan_population_samples_uniformly() -> None:
    opt = RegularizedEvolution(population_size=4, sample_size=2)
    opt.setup(SPACE, make_rng(0, "re-nan"))
    for _ in range(50):
        opt.tell(opt.ask(), TrialValue(math.nan, 1.0))
    assert opt.n_nan_tournaments == 50 - 4
    assert all(math.isnan(s) for _, s in opt.population)


# ------------------------------------------------------------------------- local search
# (the reference loop itself, naszilla's, is checked in test_references.py)
LS_VARIANTS = [{}, {"step": "best-improvement"}, {"known_neighbours": "reuse"},
               {"n_init": 1, "step": "best-improvement", "known_neighbours": "reuse"}]


@pytest.mark.parametrize("params", LS_VARIANTS, ids=lambda p: ",".join(map(str, p.values()))
                         or "default")
def test_ls_never_repeats_and_reaches_local_optima(params: dict[str, Any],
                                                   valid_acc: np.ndarray) -> None:
    opt = LocalSearch(**params)
    asked = drive(opt, valid_acc, 2000, seed=0)
    assert len(set(asked)) == len(asked) == 2000
    told = {SPACE.from_index(i): valid_acc[i] for i in asked}
    assert len(opt.local_optima) >= 5 and opt.n_fillers == 0
    assert opt.n_starts in (len(opt.local_optima), len(opt.local_optima) + 1)
    for arch, value in opt.local_optima:
        assert value == told[arch]
        nbrs = SPACE.neighbours(arch)
        assert all(n in told for n in nbrs)  # the whole neighbourhood was evaluated ...
        if params.get("known_neighbours") == "reuse":
            assert max(told[n] for n in nbrs) <= value  # ... and none is better


@pytest.mark.parametrize("step", ["first-improvement", "best-improvement"])
def test_ls_reuse_moves(step: str, valid_acc: np.ndarray) -> None:
    """``known_neighbours="reuse"``: best improvement leaves a centre only once its whole
    neighbourhood is known, for its best neighbour; first improvement for a better
    neighbour.  (The loop decides when it resumes, so the centre is read after each ask;
    moves through known cells need no ask, so one ask may follow several moves.)"""
    opt = LocalSearch(step=step, known_neighbours="reuse")
    opt.setup(SPACE, make_rng(3, "ls-moves"))
    told: dict[NB201Arch, float] = {}
    moves = 0
    before = None
    for _ in range(1500):
        t = opt.ask()
        after = opt.center
        if before is not None and after is not None and after[0] != before[0]:
            moves += 1
            nbrs = SPACE.neighbours(before[0])
            assert after[1] == told[after[0]] > before[1]
            if after[0] not in nbrs:  # several moves, through cells known before
                continue
            if step == "best-improvement":
                assert all(n in told for n in nbrs)
                assert after[1] == max(told[n] for n in nbrs)
        before = after
        value = float(valid_acc[SPACE.index(t.arch)])
        opt.tell(t, TrialValue(value, 1.0))
        told[t.arch] = value
    assert moves >= 10


def test_ls_several_asks_keep_local_optima_exact(valid_acc: np.ndarray) -> None:
    """Several asks before the tells: fillers are asked while a decision waits, and with
    ``known_neighbours="reuse"`` every local optimum is still exact."""
    for params in ({}, {"known_neighbours": "reuse"}):
        opt = LocalSearch(**params)
        asked = drive(opt, valid_acc, 1500, seed=2, batch=5)
        assert len(set(asked)) == 1500 and opt.n_fillers > 0
    told = {SPACE.from_index(i): valid_acc[i] for i in asked}
    assert len(opt.local_optima) >= 3
    for arch, value in opt.local_optima:
        assert all(told[n] <= value for n in SPACE.neighbours(arch))


def test_ls_exhausts_the_space() -> None:
    """Every cell asked once, then SearchExhaustedError (a constant objective: every climb
    stops at its start)."""
    flat = np.full(SPACE.size, 50.0)
    opt = LocalSearch()
    asked = drive(opt, flat, SPACE.size, seed=0)
    assert sorted(asked) == list(range(SPACE.size))
    with pytest.raises(SearchExhaustedError):
        opt.ask()


# --------------------------------------------------------------------------- REINFORCE
def test_reinforce_policy_learns_best_cell(valid_acc: np.ndarray) -> None:
    """With NB201's first script's learning rate (Adam, lr 1e-3) the log-probability of the
    best cell rises steadily: about +0.3 after 500 updates (seeds 0-7 measured 0.22-0.44)."""
    best = SPACE.from_index(int(np.argmax(valid_acc)))
    for seed in range(3):
        opt = Reinforce(learning_rate=0.001)
        opt.setup(SPACE, make_rng(seed, "reinforce-learns"))
        trace = [opt.log_prob(best)]
        assert trace[0] == pytest.approx(6 * math.log(1 / 5), abs=0.01)
        for k in range(500):
            t = opt.ask()
            opt.tell(t, TrialValue(float(valid_acc[SPACE.index(t.arch)]), 1.0))
            if k % 250 == 249:
                trace.append(opt.log_prob(best))
        assert opt.n_updates == 500
        assert trace[0] < trace[1] < trace[2]
        assert trace[2] > trace[0] + 0.15
        p = opt.probabilities()
        assert p.shape == (6, 5) and np.allclose(p.sum(axis=1), 1.0)


def test_reinforce_nan_reward_skips_update(valid_acc: np.ndarray) -> None:
    opt = Reinforce()
    opt.setup(SPACE, make_rng(0, "reinforce-nan"))
    for _ in range(20):
        t = opt.ask()
        opt.tell(t, TrialValue(float(valid_acc[SPACE.index(t.arch)]), 1.0))
    before, baseline = opt.probabilities(), opt.baseline
    opt.tell(opt.ask(), TrialValue(math.nan, 1.0))
    assert opt.n_nan_rewards == 1 and opt.n_updates == 20
    assert np.array_equal(opt.probabilities(), before) and opt.baseline == baseline


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_reinforce_matches_torch(optimizer: str, valid_acc: np.ndarray) -> None:
    """The numpy update equals NB201's torch code: softmax policy, bias-corrected EMA
    baseline updated before use, loss -(r - b) * sum(log_prob), torch.optim.Adam / SGD."""
    torch = pytest.importorskip("torch")
    opt = Reinforce(optimizer=optimizer, learning_rate=0.05)
    opt.setup(SPACE, make_rng(0, "reinforce-torch"))
    # softmax is shift-invariant per row, so log(p) stands in for the initial logits
    param = torch.nn.Parameter(torch.tensor(np.log(opt.probabilities()), dtype=torch.float64))
    topt = (torch.optim.Adam([param], lr=0.05) if optimizer == "adam"
            else torch.optim.SGD([param], lr=0.05))
    num = den = 0.0
    for _ in range(60):
        t = opt.ask()
        reward = float(valid_acc[SPACE.index(t.arch)])
        opt.tell(t, TrialValue(reward, 1.0))
        num, den = 0.9 * num + 0.1 * reward, 0.9 * den + 0.1
        dist = torch.distributions.Categorical(logits=param)
        log_prob = dist.log_prob(torch.tensor(SPACE.to_categorical(t.arch)))
        loss = (-log_prob * (reward - num / den)).sum()
        topt.zero_grad()
        loss.backward()
        topt.step()
    expected = torch.softmax(param.detach(), dim=1).numpy()
    assert np.abs(opt.probabilities() - expected).max() < 1e-10
    assert np.abs(expected - 0.2).max() > 0.05  # the policy did move


def test_reinforce_samples_follow_policy() -> None:
    """Asks are draws from the policy: with constant reward the policy stays put, and the
    op frequencies over 5,000 asks match its probabilities."""
    opt = Reinforce(init_std=1.0)
    opt.setup(SPACE, make_rng(0, "reinforce-sampling"))
    p = opt.probabilities()
    counts = np.zeros((6, 5))
    for _ in range(5000):
        t = opt.ask()
        counts[np.arange(6), SPACE.to_categorical(t.arch)] += 1
        opt.tell(t, TrialValue(50.0, 1.0))  # reward == baseline: zero advantage
    assert np.allclose(opt.probabilities(), p)
    assert np.abs(counts / 5000 - p).max() < 0.03  # ~4 binomial standard deviations


# ------------------------------------------------------------------ search performance
def test_re_and_ls_beat_random_search(valid_acc: np.ndarray) -> None:
    """Mean best-found CIFAR-10-valid validation accuracy after 150 evaluations over 100
    seeds: regularized evolution and local search beat random search (a real, seeded run)."""
    seeds = range(100)
    means = {name: best_found(get_optimizer(name), valid_acc, 150, seeds).mean()
             for name in ("rs", "re", "ls")}
    assert means["re"] > means["rs"] and means["ls"] > means["rs"]
    assert 91.0 < means["rs"] < means["re"] < 91.61  # sanity: near NB201's best (91.607)
