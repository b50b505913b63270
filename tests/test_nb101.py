"""The NAS-Bench-101 space, its tables and its network, against the official references:

* module hashes of 300 specs hashed by the official code (``nb101_official_hashes.json``) and a
  plain re-implementation of ``graph_util.hash_module`` on many random relabelings;
* pruning equal to the official ``ModelSpec._prune`` output stored in the same file;
* neighbours and path encodings against step-by-step re-implementations of naszilla's
  ``adj_neighborhood`` / ``get_path_indices``;
* parameter counts of the network equal the ``params`` field of NASLib's 500 cells.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchbench.api import MissingDataError
from benchbench.rng import make_rng
from benchbench.spaces import NB101Arch, NB101Space, RestrictedSpace
from benchbench.spaces.nb101 import OPS, official_hash_module
from benchbench.testing import check_benchmark, check_optimizer, check_space
from tests.conftest import require

SP = NB101Space()


@pytest.fixture(scope="module")
def vectors(shared_data: Path) -> list[dict[str, Any]]:
    return json.loads(require(shared_data / "nb101" / "nb101_official_hashes.json").read_text())


@pytest.fixture(scope="module")
def naslib(shared_data: Path) -> dict[str, dict[str, Any]]:
    d = json.loads(require(shared_data / "nb101" / "nb101_500_with_zc.json").read_text())
    return d["nasbench101"]["cifar10"]


@pytest.fixture(scope="module")
def naslib_table(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tabular_data._import_nb101 import import_nb101_naslib

    src = require(shared_data / "nb101" / "nb101_500_with_zc.json")
    return import_nb101_naslib(src, out=tmp_path_factory.mktemp("nb101") / "naslib.h5")


def _labels(ops: list[str]) -> list[int]:
    return [-1] + [OPS.index(o) for o in ops[1:-1]] + [-2]


def _ref_prune(matrix: np.ndarray, ops: list[str]) -> tuple[np.ndarray, list[str]] | None:
    """The official ModelSpec._prune (None: input not connected to output)."""
    n = matrix.shape[0]
    fwd, frontier = {0}, [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if matrix[top, v] and v not in fwd:
                fwd.add(v)
                frontier.append(v)
    bwd, frontier = {n - 1}, [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(0, top):
            if matrix[v, top] and v not in bwd:
                bwd.add(v)
                frontier.append(v)
    extraneous = set(range(n)) - (fwd & bwd)
    if len(extraneous) > n - 2:
        return None
    keep = [v for v in range(n) if v not in extraneous]
    return matrix[np.ix_(keep, keep)], [ops[v] for v in keep]


def _ref_hash(matrix: np.ndarray, ops: list[str]) -> str | None:
    """The official hash of a raw spec (prune, then ``hash_module``), None if invalid."""
    got = _ref_prune(np.asarray(matrix), list(ops))
    if got is None or got[0].shape[0] > 7 or got[0].sum() > 9:
        return None
    return official_hash_module(got[0], _labels(got[1]))


# ----------------------------------------------------------------------------- hashing
def test_all_300_official_hashes_from_matrix_and_ops(vectors: list[dict[str, Any]]) -> None:
    assert len(vectors) == 300
    for v in vectors:
        a = SP.parse({"matrix": v["matrix"], "ops": v["ops"]})
        assert SP.arch_id(a) == v["hash"]
        # the plain re-implementation of the official code agrees on the official pruning
        assert official_hash_module(np.array(v["pruned_matrix"]),
                                    _labels(v["pruned_ops"])) == v["hash"]
        pm, po = _ref_prune(np.array(v["matrix"]), v["ops"])  # type: ignore[misc]
        assert pm.tolist() == v["pruned_matrix"] and po == v["pruned_ops"]
        assert a.n == len(v["pruned_ops"]) and a.num_edges == int(np.sum(v["pruned_matrix"]))
    assert len({v["hash"] for v in vectors}) == 181


def test_isomorphic_relabelings_share_record_and_hash() -> None:
    rng = make_rng(0, "nb101-test", "iso")
    checked = 0
    for _ in range(150):
        a = SP.sample(rng)
        m, ops = a.matrix, a.op_names
        n = a.n
        for _ in range(6):
            perm = [0, *(1 + rng.permutation(n - 2)).tolist(), n - 1]  # old v -> new perm[v]
            new = np.zeros_like(m)
            for i, j in zip(*np.nonzero(m)):
                new[perm[i], perm[j]] = 1
            if np.tril(new).any():
                continue  # not a topological relabeling
            new_ops = [""] * n
            for v in range(n):
                new_ops[perm[v]] = ops[v]
            b = SP.parse({"matrix": new, "ops": new_ops})
            assert b == a and SP.arch_id(b) == SP.arch_id(a)
            assert official_hash_module(new, _labels(new_ops)) == SP.arch_id(a)
            checked += 1
    assert checked > 300


def test_records_are_canonical_and_distinct_cells_differ() -> None:
    rng = make_rng(1, "nb101-test", "distinct")
    by_hash: dict[str, NB101Arch] = {}
    for _ in range(400):
        a = SP.sample(rng)
        assert by_hash.setdefault(SP.arch_id(a), a) == a
    recs = list(by_hash.values())
    assert len({(r.n, r.edges, r.ops) for r in recs}) == len(recs)


# ------------------------------------------------------------------------ parse / format
def test_parse_forms_round_trip(naslib: dict[str, Any]) -> None:
    a = SP.parse("conv3x3,maxpool3x3|0-1,0-3,1-2,2-3")
    assert a.op_names == ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]
    assert SP.parse(SP.format(a)) == a
    assert SP.parse("conv3x3-bn-relu,maxpool3x3|0-1,0-3,1-2,2-3") == a
    assert SP.parse(a.spec()) == a and SP.parse(SP.arch_id(a)) is a
    assert SP.parse(SP.to_naslib(a)) == a
    key = next(iter(naslib))
    assert SP.parse(key) == SP.parse([int(x) for x in key[1:-1].split(",")])
    assert SP.parse("|0-1").n == 2  # input -> output only: valid, as in the official API


@pytest.mark.parametrize(("bad", "match"), [
    ("conv5x5|0-1,1-2", r"unknown op 'conv5x5' at vertex 1; allowed: conv3x3-bn-relu"),
    ("conv3x3|0-1,2-1,1-2", r"edge 2 -> 1 goes backwards.*no cycle"),
    ("conv3x3|0-1,1-5", r"edge '1-5' names a vertex outside 0..2"),
    ("conv3x3|0-1,1-x", r"edge '1-x' must be 'i-j'"),
    ("conv3x3|0-1", r"output is not reachable from the input"),
    ("conv3x3,conv3x3,conv3x3,conv3x3,conv3x3,conv3x3|0-1,1-2,2-3,3-4,4-5,5-6,6-7",
     r"8 vertices after pruning; allowed: at most 7"),
    ("conv3x3,conv3x3,conv3x3,conv3x3|0-1,0-2,0-3,0-4,0-5,1-2,2-3,3-4,4-5,1-5",
     r"10 edges after pruning; allowed: at most 9"),
    ("conv3x3 0-1", r"expected 'OPS\|EDGES'"),
    ("0123456789abcdef0123456789abcdef", r"a hash cannot be inverted"),
    ("(0, 1, 2)", r"56 entries"),
])
def test_bad_cells_one_line_errors(bad: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as e:
        SP.parse(bad)
    assert "\n" not in str(e.value)


def test_bad_matrix_errors() -> None:
    with pytest.raises(ValueError, match="on or below the diagonal"):
        SP.parse({"matrix": [[0, 1, 0], [0, 0, 1], [1, 0, 0]],
                  "ops": ["input", "conv3x3-bn-relu", "output"]})
    with pytest.raises(ValueError, match="first op must be 'input'"):
        SP.parse({"matrix": [[0, 1], [0, 0]], "ops": ["output", "output"]})
    with pytest.raises(ValueError, match="must be square"):
        SP.parse({"matrix": [[0, 1, 1], [0, 0, 1]], "ops": ["input", "output"]})
    with pytest.raises(ValueError, match="ops for a 3x3 matrix"):
        SP.parse({"matrix": np.zeros((3, 3)), "ops": ["input", "output"]})
    with pytest.raises(TypeError, match="cannot read an NB101 cell"):
        SP.parse(3.5)


# ------------------------------------------------------------------- search operators
def _ref_neighbour_hashes(a: NB101Arch) -> set[str]:
    """naszilla's adj_neighborhood on the 7-vertex embedding: flip every edge, change every op,
    keep the valid ones, by hash, without ``a`` (naszilla's ``is_valid_edge`` / used-vertex
    checks only skip changes that leave the hash unchanged, which are dropped here anyway)."""
    m7 = np.zeros((7, 7), dtype=np.int64)
    remap = [*range(a.n - 1), 6]
    for i, j in a.edge_list:
        m7[remap[i], remap[j]] = 1
    ops7 = [*a.op_names[:-1], *["conv3x3-bn-relu"] * (7 - a.n), "output"]
    me = SP.arch_id(a)
    out = set()
    for v in range(1, 6):
        for o in OPS:
            if o != ops7[v]:
                h = _ref_hash(m7, [*ops7[:v], o, *ops7[v + 1:]])
                if h is not None and h != me:
                    out.add(h)
    for i, j in itertools.combinations(range(7), 2):
        m = m7.copy()
        m[i, j] = 1 - m[i, j]
        h = _ref_hash(m, ops7)
        if h is not None and h != me:
            out.add(h)
    return out


def test_neighbours_equal_reference_neighbourhood() -> None:
    rng = make_rng(2, "nb101-test", "nbhd")
    for _ in range(60):
        a = SP.sample(rng)
        nb = SP.neighbours(a)
        assert len(nb) == len({SP.arch_id(b) for b in nb}) > 0
        if a.n > 2:  # the 2-vertex cell has no one-change neighbour (below)
            assert {SP.arch_id(b) for b in nb} == _ref_neighbour_hashes(a)
        assert nb == SP.neighbours(a)
    two = SP.parse("|0-1")
    assert _ref_neighbour_hashes(two) == set()
    assert sorted(b.ops for b in SP.neighbours(two)) == [(0,), (1,), (2,)]


def test_mutation_kinds() -> None:
    rng = make_rng(3, "nb101-test", "mutate")
    sp = NB101Space(mutation="nb101")
    multi = 0
    for _ in range(100):
        a = SP.sample(rng)
        m = sp.mutate(a, rng)
        assert m != a and SP.arch_id(m) != SP.arch_id(a)
        assert SP.parse(SP.format(m)) == m
        multi += m not in SP.neighbours(a)
        assert SP.mutate(a, rng) in SP.neighbours(a)
    assert multi > 10  # the official operator changes several edges/ops at once
    with pytest.raises(ValueError, match="mutation_rate"):
        NB101Space(mutation_rate=0)


def _ref_random_spec(rng: np.random.Generator) -> tuple[int, int]:
    """The official example.py ``random_spec`` (7x7 choice of {0, 1}, triu, 7 random ops with
    input / output set, re-drawn until valid); returns (vertices, edges) after pruning."""
    while True:
        matrix = np.triu(rng.choice([0, 1], size=(7, 7)), 1)
        ops = rng.choice(list(OPS), size=7).tolist()
        ops[0], ops[-1] = "input", "output"
        got = _ref_prune(matrix, ops)
        if got is not None and got[0].shape[0] <= 7 and got[0].sum() <= 9:
            return got[0].shape[0], int(got[0].sum())


def test_sample_matches_the_official_random_spec_distribution() -> None:
    rng = make_rng(4, "nb101-test", "sample")
    cells = [SP.sample(rng) for _ in range(3000)]
    ref_rng = np.random.default_rng(12345)
    ref = np.array([_ref_random_spec(ref_rng) for _ in range(3000)])
    for ours, theirs in ((np.array([c.n for c in cells]), ref[:, 0]),
                         (np.array([c.num_edges for c in cells]), ref[:, 1])):
        assert abs(ours.mean() - theirs.mean()) < 0.12  # ~4 standard errors
        hist_o = np.bincount(ours, minlength=10)[:10] / len(ours)
        hist_t = np.bincount(theirs, minlength=10)[:10] / len(theirs)
        assert np.abs(hist_o - hist_t).max() < 0.04
    ops = np.concatenate([c.ops for c in cells])
    assert abs(np.mean(ops == 0) - 1 / 3) < 0.03  # interior ops uniform


# --------------------------------------------------------------------------- encodings
def _ref_path_indices(a: NB101Arch) -> tuple[int, ...]:
    """naszilla get_paths + get_path_indices on the 7-vertex embedding."""
    m = np.zeros((7, 7), dtype=np.int64)
    remap = [*range(a.n - 1), 6]
    for i, j in a.edge_list:
        m[remap[i], remap[j]] = 1
    ops = [*a.op_names[:-1], *["conv3x3-bn-relu"] * (7 - a.n), "output"]
    paths: list[list[list[str]]] = [[[]] if m[0][j] else [] for j in range(7)]
    for i in range(1, 6):
        for j in range(1, 7):
            if m[i][j]:
                for p in paths[i]:
                    paths[j].append([*p, ops[i]])
    mapping = {OPS[0]: 0, OPS[1]: 1, OPS[2]: 2}
    idx = []
    for p in paths[-1]:
        index = 0
        for i in range(6):
            if i == len(p):
                idx.append(index)
                break
            index += 3**i * (mapping[p[i]] + 1)
    return tuple(sorted(idx))


def test_encodings() -> None:
    rng = make_rng(5, "nb101-test", "enc")
    for _ in range(100):
        a = SP.sample(rng)
        x = SP.encode(a)
        assert x.shape == (36,) and x[:21].sum() == a.num_edges
        assert x[21:].sum() == a.n - 2
        assert SP.path_indices(a) == _ref_path_indices(a)
        p = SP.encode(a, kind="path")
        assert p.shape == (364,) and set(np.flatnonzero(p)) == set(_ref_path_indices(a))
        assert np.array_equal(SP.encode(a, kind="trunc_path"), p[:40])
        assert SP.encode(a, kind="trunc_path", cutoff=10).shape == (10,)
    with pytest.raises(ValueError, match="unknown NB101 encoding"):
        SP.encode(a, kind="nope")  # type: ignore[arg-type]


def test_categorical_view() -> None:
    cat = SP.as_categorical()
    assert cat.sizes == (2,) * 21 + (3,) * 5
    rng = make_rng(6, "nb101-test", "cat")
    for _ in range(50):
        a = SP.sample(rng)
        assert SP.from_categorical(SP.to_categorical(a)) == a
    with pytest.raises(ValueError, match="not a valid NB101 cell: .*edges"):
        SP.from_categorical([1] * 21 + [0] * 5)
    with pytest.raises(ValueError, match="not a valid NB101 cell: the output is not reachable"):
        SP.from_categorical([0] * 26)
    with pytest.raises(ValueError, match="26 variables"):
        SP.from_categorical([0] * 3)


def test_space_contract() -> None:
    check_space(SP, n=60)


# ------------------------------------------------------------------ partial table
def test_naslib_table(naslib_table: Path, naslib: dict[str, Any]) -> None:
    from tabular_data import TabularBenchmark

    with TabularBenchmark(naslib_table) as b:
        assert isinstance(b.space, RestrictedSpace) and b.space.size == 292
        prov = b.describe().extra["provenance"]
        assert prov["n_entries"] == 500 and prov["n_cells"] == 292
        for key, rec in list(naslib.items())[:50]:
            h = SP.arch_id(SP.parse(key))
            seeds = b.data_seeds(h, "cifar10")
            vals = [b.query(key, dataset="cifar10", data_seed=s).values["valid_acc"]
                    for s in seeds]
            assert rec["val_accuracy"] in vals  # one of the cell's recorded repeats
            assert b.query(h, dataset="cifar10").values["valid_acc"] == pytest.approx(
                np.mean(vals))
        outside = next(c for c in (SP.sample(make_rng(7, "x", i)) for i in range(100))
                       if not b.space.contains(c))
        with pytest.raises(MissingDataError,
                           match=r"not in this table 'nb101-naslib' \(292 cells\)"):
            b.query(outside, dataset="cifar10")
        with pytest.raises(MissingDataError, match="not in this table"):
            b.query(SP.format(outside), dataset="cifar10")
        check_benchmark(b, n=8)
        check_space(b.space, n=40)


@pytest.mark.parametrize("name", ["rs", "re", "reinforce", "ls"])
def test_optimizers_on_the_partial_table(naslib_table: Path, name: str) -> None:
    from tabular_data import TabularBenchmark

    with TabularBenchmark(naslib_table) as b:
        check_optimizer(name, b.space)


def test_restricted_space_generic() -> None:
    from benchbench.spaces import NB201Space

    nb = NB201Space()
    ids = [nb.arch_id(nb.from_index(i)) for i in range(0, 15625, 9)]
    rs = RestrictedSpace(nb, ids)
    check_space(rs, n=20)
    assert rs.categorical == "rows" and rs.index(rs.from_index(3)) == 3
    big = RestrictedSpace(nb, [nb.arch_id(nb.from_index(i)) for i in range(5000)])
    assert big.categorical == "base"
    with pytest.raises(ValueError, match="appears more than once"):
        RestrictedSpace(nb, ids + ids[:1])
    one = RestrictedSpace(nb, ids[:1])
    with pytest.raises(ValueError, match="no neighbour inside"):
        one.mutate(one.from_index(0), make_rng(0, "x"))
    bad = RestrictedSpace(SP, [SP.arch_id(SP.parse("|0-1"))], specs=["conv3x3|0-1,1-2"])
    with pytest.raises(ValueError, match="corrupt set"):
        bad.from_index(0)


# ----------------------------------------------------------------------------- network
def test_network_params_equal_all_500_cells(naslib: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    from benchbench.nn import build_nb101, count_params

    for key, rec in naslib.items():
        with torch.device("meta"):
            net = build_nb101(key)
        assert round(count_params(net) / 1e6, 6) == pytest.approx(rec["params"], abs=5e-7), key


def test_network_forward_and_trains_tiny() -> None:
    torch = pytest.importorskip("torch")
    from benchbench.nn import TrainingBenchmark, build_nb101
    from benchbench.protocols import get_protocol

    net = build_nb101("conv3x3,maxpool3x3,conv1x1|0-1,0-2,1-3,2-3,3-4,0-4", stem_channels=8)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    cfg = get_protocol("nb101").replace(
        epochs=1, batch_size=64, train_images=64, eval_batch_size=256,
        network={"stem_channels": 4, "stacks": 2, "modules_per_stack": 1})
    b = TrainingBenchmark("nb101", protocol=cfg, datasets=("digits",), mean_seeds=(0,))
    e = b.query("conv3x3,maxpool3x3|0-1,0-3,1-2,2-3", dataset="digits", data_seed=0)
    assert e.arch_id == SP.arch_id(SP.parse("conv3x3,maxpool3x3|0-1,0-3,1-2,2-3"))
    assert 0 <= e.values["valid_acc"] <= 100 and e.cost_s > 0


# ----------------------------------------------------------------------------- proxies
def test_proxies_on_a_few_cells(naslib: dict[str, Any], naslib_table: Path,
                                tmp_path: Path) -> None:
    """All 12 proxies score real NB101 cells (a small network); ``params`` equals the network's
    count; correlate's targets come from the partial table."""
    torch = pytest.importorskip("torch")
    from algorithms.proxies import PROXIES, ScoreConfig, score_cells
    from benchbench.nn import build_nb101, count_params
    from results.correlation import targets_from_benchmark
    from tabular_data import TabularBenchmark

    keys = list(naslib)[:2]
    cfg = ScoreConfig(space="nb101", benchmark=str(naslib_table), dataset="cifar10",
                      batch_size=16, builder_options={"stem_channels": 8, "stacks": 2,
                                                      "modules_per_stack": 1})
    df = score_cells(keys, tmp_path / "zc", config=cfg, proxies=PROXIES, workers=1)
    assert set(df["proxy"]) == set(PROXIES) and (df["error"].fillna("") == "").all()
    assert np.isfinite(df["value"].to_numpy(dtype=float)).all()
    with torch.device("meta"):
        net = build_nb101(SP.parse(keys[0]), stem_channels=8, stacks=2, modules_per_stack=1)
    got = df[(df["proxy"] == "params") & (df["arch_id"] == SP.arch_id(SP.parse(keys[0])))]
    assert float(got["value"].iloc[0]) == pytest.approx(count_params(net) / 1e6)
    with TabularBenchmark(naslib_table) as b:
        y = targets_from_benchmark(b, list(df["arch_id"].unique()), dataset="cifar10",
                                   metric="valid_acc")
    assert np.isfinite(y).all()


@pytest.mark.slow
def test_proxy_workers_get_the_spec(naslib: dict[str, Any], tmp_path: Path) -> None:
    """A fresh (spawned) worker cannot invert a module hash: the spec travels with the task."""
    pytest.importorskip("torch")
    from algorithms.proxies import ScoreConfig, score_cells

    cfg = ScoreConfig(space="nb101", benchmark="nb101-naslib", dataset="cifar10", batch_size=8,
                      builder_options={"stem_channels": 8, "stacks": 1,
                                       "modules_per_stack": 1})
    df = score_cells(list(naslib)[:2], tmp_path / "zc", config=cfg, proxies=["params"],
                     workers=2)
    assert len(df) == 2 and np.isfinite(df["value"].to_numpy(dtype=float)).all()


def test_naslib_scores_import_for_the_nb101_file(shared_data: Path, naslib_table: Path,
                                                 naslib: dict[str, Any],
                                                 tmp_path: Path) -> None:
    """NASLib's NB101 file (one more nesting level, bare-number scores, 500 entries of 292
    cells) reads as a score directory whose cells are the table's and whose scores are the
    file's first entry of each cell."""
    from algorithms.proxies._external import import_naslib_scores, load_naslib_scores
    from tabular_data import TabularBenchmark

    src = shared_data / "nb101" / "nb101_500_with_zc.json"
    df = load_naslib_scores(src, "cifar10", "nb101")
    assert df["arch_id"].nunique() == 292
    assert {"synflow", "jacob_cov", "params", "flops", "val_accuracy"} <= set(df["proxy"])
    key, rec = next(iter(naslib.items()))
    first = df[(df["arch_id"] == SP.arch_id(SP.parse(key)))].set_index("proxy")["value"]
    assert first["synflow"] == rec["synflow"] and first["jacob_cov"] == rec["jacov"]
    out = import_naslib_scores(src, "cifar10", tmp_path / "zc", space="nb101")
    with TabularBenchmark(naslib_table) as b:
        assert set(df["arch_id"]) == set(b.arch_ids())
    assert (out / "scores.csv").is_file()
