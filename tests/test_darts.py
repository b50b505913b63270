"""The DARTS / NAS-Bench-301 space and network, against reference behaviour: DARTS's published
genotype, NB301's own ConfigSpace config, YAHPO's ConfigSpace, NASLib's 725 real cells (their
``params``), naszilla's mutation and sampler distributions."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchbench.rng import make_rng
from benchbench.spaces import get_space
from benchbench.spaces.darts import (
    N_ARCHS,
    N_CELL,
    OPS,
    DartsArch,
    DartsSpace,
    config_edge,
)
from benchbench.testing import check_optimizer, check_space
from tests.conftest import require

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="the DARTS network needs torch")

S = DartsSpace()

#: DARTS_V2 of quark0/darts ``cnn/genotypes.py`` (the published DARTS second-order cell).
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=[2, 3, 4, 5])")

#: The cell choices of NB301's own data-generation config
#: (automl/nasbench301 ``nasbench301/data_generation/configs/config_0.json``).
NB301_CONFIG_0 = {
    "NetworkSelectorDatasetInfo:darts:edge_normal_1": "sep_conv_3x3",
    "NetworkSelectorDatasetInfo:darts:edge_normal_0": "skip_connect",
    "NetworkSelectorDatasetInfo:darts:edge_normal_3": "dil_conv_5x5",
    "NetworkSelectorDatasetInfo:darts:edge_normal_4": "avg_pool_3x3",
    "NetworkSelectorDatasetInfo:darts:inputs_node_normal_3": "1_2",
    "NetworkSelectorDatasetInfo:darts:edge_normal_8": "sep_conv_3x3",
    "NetworkSelectorDatasetInfo:darts:edge_normal_7": "dil_conv_5x5",
    "NetworkSelectorDatasetInfo:darts:inputs_node_normal_4": "2_3",
    "NetworkSelectorDatasetInfo:darts:edge_normal_9": "dil_conv_3x3",
    "NetworkSelectorDatasetInfo:darts:edge_normal_10": "dil_conv_3x3",
    "NetworkSelectorDatasetInfo:darts:inputs_node_normal_5": "0_1",
    "NetworkSelectorDatasetInfo:darts:edge_reduce_1": "skip_connect",
    "NetworkSelectorDatasetInfo:darts:edge_reduce_0": "dil_conv_3x3",
    "NetworkSelectorDatasetInfo:darts:edge_reduce_2": "max_pool_3x3",
    "NetworkSelectorDatasetInfo:darts:edge_reduce_3": "dil_conv_5x5",
    "NetworkSelectorDatasetInfo:darts:inputs_node_reduce_3": "0_1",
    "NetworkSelectorDatasetInfo:darts:edge_reduce_7": "avg_pool_3x3",
    "NetworkSelectorDatasetInfo:darts:edge_reduce_6": "dil_conv_3x3",
    "NetworkSelectorDatasetInfo:darts:inputs_node_reduce_4": "1_2",
    "NetworkSelectorDatasetInfo:darts:edge_reduce_11": "sep_conv_3x3",
    "NetworkSelectorDatasetInfo:darts:edge_reduce_9": "sep_conv_3x3",
    "NetworkSelectorDatasetInfo:darts:inputs_node_reduce_5": "0_2",
    # training settings in the same dict are not cell choices and are ignored
    "CreateImageDataLoader:batch_size": 96,
    "NetworkSelectorDatasetInfo:darts:init_channels": 32,
}


@pytest.fixture(scope="module")
def cells_725(shared_data: Path) -> dict[str, Any]:
    path = require(shared_data / "nb301" / "darts_725_with_zc.json")
    return json.loads(path.read_text())["cifar10"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- the space
def test_contract_suites() -> None:
    check_space(get_space("darts"), n=60)
    for name in ("rs", "re", "reinforce", "ls"):
        check_optimizer(name, S)


def test_size_counts_the_rules_by_brute_force() -> None:
    """Every unordered pair of distinct (input, op) choices of each node, enumerated."""
    per_node = []
    for k in range(2, 6):
        nodes = {frozenset(((a, oa), (b, ob)))
                 for a, b in itertools.permutations(range(k), 2)
                 for oa in range(7) for ob in range(7)}
        per_node.append(len(nodes))
    assert per_node == [49, 3 * 49, 6 * 49, 10 * 49]
    assert N_CELL == math.prod(per_node) == 1_037_664_180
    assert N_ARCHS == N_CELL**2 == 1_076_746_950_455_072_400  # about 1.1e18
    assert not hasattr(S, "size")


def test_darts_v2_genotype_text_and_formats() -> None:
    a = S.parse(DARTS_V2)
    assert a.normal == ((0, 3), (1, 3), (0, 3), (1, 3), (0, 2), (1, 3), (0, 2), (2, 5))
    assert a.reduce == ((0, 0), (1, 0), (1, 0), (2, 2), (0, 0), (2, 2), (1, 0), (2, 2))
    assert S.arch_id(a).startswith("normal:sep_conv_3x3~0+sep_conv_3x3~1|")
    for text in (S.arch_id(a), S.format(a), DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)"),
                 str([list(c) for c in S.to_compact(a)])):
        assert S.parse(text) == a
    assert S.parse(S.to_config(a)) == a
    assert S.parse(S.to_config(a, colon="_COLON_")) == a

    from collections import namedtuple

    genotype = namedtuple("genotype", "normal normal_concat reduce reduce_concat")
    nt = genotype(*(ast.literal_eval(DARTS_V2.split("normal=")[1].split(", normal_concat")[0]),
                    [2, 3, 4, 5],
                    ast.literal_eval(DARTS_V2.split("reduce=")[1].split(", reduce_concat")[0]),
                    [2, 3, 4, 5]))
    assert S.parse(nt) == a


def test_nb301_config_reads_as_naslib_converts_it() -> None:
    """NASLib's ``convert_config_to_genotype``: edge ``j`` of node ``k`` has input
    ``j - start_k`` (starts 0, 2, 5, 9)."""
    a = S.parse(NB301_CONFIG_0)
    assert a.genotype() == (
        [("skip_connect", 0), ("sep_conv_3x3", 1), ("dil_conv_5x5", 1), ("avg_pool_3x3", 2),
         ("dil_conv_5x5", 2), ("sep_conv_3x3", 3), ("dil_conv_3x3", 0), ("dil_conv_3x3", 1)],
        [("dil_conv_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 0), ("dil_conv_5x5", 1),
         ("dil_conv_3x3", 1), ("avg_pool_3x3", 2), ("sep_conv_3x3", 0), ("sep_conv_3x3", 2)])
    cfg = {k: v for k, v in NB301_CONFIG_0.items() if "edge_" in k or "inputs_node" in k}
    assert S.to_config(a) == cfg
    assert [config_edge(k, 0) for k in range(2, 6)] == [0, 2, 5, 9]


def test_config_matches_yahpos_config_space(shared_data: Path) -> None:
    cs = json.loads(require(shared_data / "nb301" / "yahpo_nb301" / "config_space.json")
                    .read_text())
    choices = {h["name"]: h["choices"] for h in cs["hyperparameters"] if "choices" in h}
    rng = make_rng(0, "darts", "config")
    for _ in range(50):
        cfg = S.to_config(S.sample(rng), colon="_COLON_")
        assert all(v in choices[k] for k, v in cfg.items()), cfg
        assert len(cfg) == 2 * (8 + 3)
    for k, v in choices.items():
        if "edge_" in k:
            assert tuple(v) == OPS


def test_725_cells_parse_to_725_records(cells_725: dict[str, Any]) -> None:
    archs = [S.parse(k) for k in cells_725]
    assert len(set(archs)) == len({S.arch_id(a) for a in archs}) == 725
    for k, a in zip(cells_725, archs):
        raw = ast.literal_eval(k)
        for c, cell in enumerate((a.normal, a.reduce)):
            for n in range(4):
                assert sorted(map(tuple, raw[c][2 * n:2 * n + 2])) == list(cell[2 * n:2 * n + 2])


def test_node_inputs_are_unordered() -> None:
    a = S.parse(DARTS_V2)
    swapped = [list(c) for c in S.to_compact(a)]
    for c in swapped:
        for n in range(4):
            c[2 * n], c[2 * n + 1] = c[2 * n + 1], c[2 * n]
    assert S.parse(swapped) == a and S.arch_id(S.parse(swapped)) == S.arch_id(a)


def test_canonical_id_is_invariant_to_renumbering_nodes() -> None:
    from benchbench.spaces.darts import _relabel

    rng = make_rng(1, "darts", "canon")
    hits = 0
    for _ in range(300):
        a = S.sample(rng)
        for perm in itertools.permutations(range(4)):
            n, r = _relabel(a.normal, perm), _relabel(a.reduce, perm)
            if n is not None and r is not None and (n, r) != (a.normal, a.reduce):
                b = DartsArch(n, r)
                assert S.arch_id(b) != S.arch_id(a)
                assert S.canonical_id(b) == S.canonical_id(a)
                hits += 1
    assert hits > 50
    # nodes 2 and 3 both read inputs 0 and 1 only: swapping them is the same network
    x = DartsArch(((0, 3), (1, 4), (0, 5), (1, 6), (2, 0), (3, 1), (2, 2), (4, 3)),
                  ((0, 0), (1, 0), (0, 0), (1, 0), (2, 0), (3, 0), (2, 0), (4, 0)))
    y = DartsArch(((0, 5), (1, 6), (0, 3), (1, 4), (3, 0), (2, 1), (3, 2), (4, 3)),
                  x.reduce)
    assert x != y and S.canonical_id(x) == S.canonical_id(y)


@pytest.mark.parametrize("bad, words", [
    ([[(0, 1)] * 7, [(0, 1), (1, 1)] * 4], "7 (input, op) pairs"),
    ([[(0, 1), (0, 2)] + [(0, 1), (1, 1)] * 3, [(0, 1), (1, 1)] * 4], "two identical inputs"),
    ([[(0, 1), (2, 2)] + [(0, 1), (1, 1)] * 3, [(0, 1), (1, 1)] * 4], "takes input 2"),
    ([[(0, 1), (1, 7)] + [(0, 1), (1, 1)] * 3, [(0, 1), (1, 1)] * 4], "op code 7"),
    ([[(0, 1), (1, 1)] * 4], "compact form"),
    ("normal:none~0+sep_conv_3x3~1|a|b|c;reduce:x", "unknown op 'none'"),
    ("normal:sep_conv_3x3~0+sep_conv_3x3~1;reduce:x", "has 1 nodes"),
    (DARTS_V2.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 3)", 1),
     "normal node 2 takes input 3"),
    (DARTS_V2.replace("('sep_conv_3x3', 0)", "('none', 0)", 1), "unknown op 'none'"),
    (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4, 5, 6]"),
     "normal_concat"),
    ("Genotype(normal=__import__('os').system('x'))", "cannot read"),
    ("[[(0, 1), (1, 1)", "compact form"),
    ("hello", "is not a DARTS id"),
    ({**NB301_CONFIG_0, "NetworkSelectorDatasetInfo:darts:inputs_node_normal_3": "2_1"},
     "a < b < 3"),
    ({**NB301_CONFIG_0, "NetworkSelectorDatasetInfo:darts:edge_normal_2": "max_pool_3x3"},
     "edge_normal_2"),
    ({k: v for k, v in NB301_CONFIG_0.items() if not k.endswith("edge_normal_0")},
     "lacks 'NetworkSelectorDatasetInfo:darts:edge_normal_0'"),
])
def test_bad_cells_get_one_line_errors(bad: Any, words: str) -> None:
    with pytest.raises(ValueError) as e:
        S.parse(bad)
    msg = str(e.value)
    assert words in msg and "\n" not in msg


def test_sampler_is_uniform_over_each_nodes_choices() -> None:
    """NASLib's / naszilla's sampler: two distinct inputs drawn without replacement and an op
    each, i.e. uniform over the unordered choices of every node."""
    rng = make_rng(2, "darts", "sample")
    archs = [S.sample(rng) for _ in range(6000)]
    pairs5 = Counter((a.reduce[6][0], a.reduce[7][0]) for a in archs)
    assert len(pairs5) == 10
    expected = 6000 / 10
    chi2 = sum((v - expected) ** 2 / expected for v in pairs5.values())
    assert chi2 < 27.9  # 9 dof, p = 0.001
    ops = Counter(o for a in archs for _, o in a.normal)
    chi2 = sum((v - 48000 / 7) ** 2 / (48000 / 7) for v in ops.values())
    assert chi2 < 22.5  # 6 dof, p = 0.001


def test_mutation_is_naszillas_conditioned_on_a_change() -> None:
    """naszilla's ``Cell301.mutate`` draws (cell, pair, op-or-input) uniformly, then an op
    among 7 or an input among the node's k (refused if it equals the other input); given a
    change, input changes have weight (k-2)/k against 6/7 for an op change."""
    rng = make_rng(3, "darts", "mutate")
    a = S.parse(DARTS_V2)
    nb = set(S.neighbours(a))
    kinds = Counter()
    for _ in range(4000):
        m = S.mutate(a, rng)
        assert m in nb
        same_inputs = [x[0] for x in m.normal + m.reduce] == [x[0] for x in a.normal + a.reduce]
        kinds["op" if same_inputs else "input"] += 1
    w_op = 16 * 6 / 7
    w_in = 4 * sum((k - 2) / k for k in range(2, 6))
    p = w_in / (w_in + w_op)
    assert abs(kinds["input"] / 4000 - p) < 4 * math.sqrt(p * (1 - p) / 4000)


def test_neighbourhood_is_96_op_and_24_input_changes() -> None:
    a = S.parse(DARTS_V2)
    nb = S.neighbours(a)
    assert len(nb) == len(set(nb)) == 120 and a not in nb
    diffs = Counter(sum(x != y for x, y in zip(a.normal + a.reduce, b.normal + b.reduce))
                    for b in nb)
    assert set(diffs) <= {1, 2}  # an input change can re-sort the node's two pairs


def test_encodings() -> None:
    a = S.parse(DARTS_V2)
    x = S.encode(a)
    assert x.shape == (196,) and x.sum() == 16
    # normal node 5's edge from node 2 (config edge 11) is dil_conv_3x3
    assert x[(0 * 14 + 11) * 7 + OPS.index("dil_conv_3x3")] == 1.0
    adj = S.encode(a, "adjacency")
    assert adj.shape == (114,)
    m = adj[:49].reshape(7, 7)
    assert m[:, 6].tolist() == [0, 0, 1, 1, 1, 1, 0]
    assert m[0, 2:6].tolist() == [1, 1, 1, 1] and m[2, 5] == 1 and m[2, 3] == 0
    with pytest.raises(ValueError, match="unknown DARTS encoding"):
        S.encode(a, "path")  # type: ignore[arg-type]


def test_categorical_view_covers_every_cell() -> None:
    cat = S.as_categorical()
    assert len(cat.names) == 22 and math.prod(cat.sizes) == N_ARCHS
    a = S.parse(DARTS_V2)
    assert S.from_categorical(S.to_categorical(a)) == a
    with pytest.raises(ValueError, match="choices"):
        S.from_categorical([9] * 22)


# --------------------------------------------------------------------------- the network
@needs_torch
def test_network_params_equal_naslibs_on_725_cells_sample(cells_725: dict[str, Any]) -> None:
    _check_params(cells_725, list(cells_725)[::36])


@needs_torch
@pytest.mark.slow
def test_network_params_equal_naslibs_on_all_725_cells(cells_725: dict[str, Any]) -> None:
    _check_params(cells_725, list(cells_725))


def _check_params(cells: dict[str, Any], keys: list[str]) -> None:
    import torch

    from benchbench.nn import build_darts, count_params

    for k in keys:
        with torch.device("meta"):
            net = build_darts(k)
        assert count_params(net) == round(cells[k]["params"]["score"] * 1e6), k


@needs_torch
def test_darts_v2_evaluation_network_has_the_published_size() -> None:
    """DARTS (Liu et al. 2019, Table 1): DARTS (second order) has 3.3 M parameters at C=36,
    20 cells (the auxiliary head not counted, as DARTS's ``count_parameters_in_MB``)."""
    import torch

    from benchbench.nn import build_darts

    with torch.device("meta"):
        net = build_darts(DARTS_V2, channels=36, layers=20, auxiliary=True, affine=True)
    n = sum(p.numel() for k, p in net.named_parameters() if "auxiliary" not in k)
    assert n == 3_349_342 and round(n / 1e6, 1) == 3.3


@needs_torch
def test_network_forward_aux_and_seeded_drop_path() -> None:
    import torch

    from benchbench.nn import build_darts, get_builder, new_network

    b = get_builder("darts", channels=4, layers=5, auxiliary=True, affine=True)
    net = new_network(b, DARTS_V2, num_classes=10, generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    logits, aux = net(x)
    assert logits.shape == aux.shape == (2, 10)
    net.drop_path_prob = 0.5
    with pytest.raises(ValueError, match="drop_path_generator"):
        net(x)
    outs = []
    for _ in range(2):
        net.drop_path_generator = torch.Generator().manual_seed(7)
        outs.append(net(x)[0])
    assert torch.equal(outs[0], outs[1])
    net.eval()
    assert net(x).shape == (2, 10)  # eval: logits only, no drop-path
    with pytest.raises(ValueError, match="layers must be >= 3"):
        build_darts(DARTS_V2, layers=2)


@needs_torch
def test_trains_through_the_real_training_backend() -> None:
    pytest.importorskip("sklearn")
    from benchbench.nn import TrainingBenchmark
    from benchbench.protocols import get_protocol

    proto = get_protocol("nb301", epochs=2, train_images=64, batch_size=32,
                         network={"channels": 4, "layers": 3, "auxiliary": False,
                                  "affine": True})
    bench = TrainingBenchmark("darts", protocol=proto, datasets=("digits",), mean_seeds=(0,))
    a = S.parse(DARTS_V2)
    ev = bench.query(a, dataset="digits", fidelity=2, data_seed=0)
    again = TrainingBenchmark("darts", protocol=proto, datasets=("digits",), mean_seeds=(0,))
    ev2 = again.query(a, dataset="digits", fidelity=2, data_seed=0)
    assert ev.values == ev2.values  # drop-path masks seeded per run: bit-identical
    assert 0.0 <= ev.values["valid_acc"] <= 100.0 and ev.cost_s > 0


# ---------------------------------------------------------------- proxies and the 725 cells
@needs_torch
def test_params_proxy_equals_naslibs_scores(cells_725: dict[str, Any]) -> None:
    from algorithms.proxies import Proxy, ScoreConfig

    proxy = Proxy("params", config=ScoreConfig(space="darts"))
    for k in list(cells_725)[:2]:
        value, _ = proxy.score(S.parse(k), make_rng(0, "darts", "params"))
        assert round(value, 6) == cells_725[k]["params"]["score"]


def test_partial_table_and_naslib_scores_correlate(shared_data: Path, tmp_path: Path,
                                                   cells_725: dict[str, Any],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The 725 cells as table ``nb301-naslib``; NASLib's scores in the same file imported as a
    score folder and correlated through the CLI: the same Spearman as scipy on the file."""
    from scipy import stats

    from algorithms.proxies import import_naslib_scores
    from benchbench.cli import main
    from benchbench.registry import open_benchmark
    from benchbench.testing import check_benchmark
    from tabular_data._import_nb301 import import_nb301_naslib

    src = shared_data / "nb301" / "darts_725_with_zc.json"
    import_nb301_naslib(src, root=tmp_path)
    with open_benchmark("nb301-naslib", data_root=tmp_path) as bench:
        check_benchmark(bench, n=4)
        assert len(bench.arch_ids()) == 725
        for name in ("rs", "re", "reinforce", "ls"):
            check_optimizer(name, bench.space)
        k = list(cells_725)[5]
        assert bench.query(k, dataset="cifar10").values["valid_acc"] == \
            cells_725[k]["val_accuracy"]
        with pytest.raises(LookupError, match="not in"):
            bench.query(S.sample(make_rng(0, "x")), dataset="cifar10")
    out = import_naslib_scores(src, "cifar10", tmp_path / "zc", space="darts")
    assert main(["--data-root", str(tmp_path), "proxies", "correlate", str(out), "--benchmark",
                 "nb301-naslib", "--n-boot", "20", "--proxies", "nwot", "synflow"]) == 0
    capsys.readouterr()
    import pandas as pd

    t = pd.read_csv(next(out.glob("correlation_*.csv"))).set_index("proxy")
    y = [v["val_accuracy"] for v in cells_725.values()]
    for p, key in (("nwot", "nwot"), ("synflow", "synflow")):
        x = [v[key]["score"] for v in cells_725.values()]
        assert t.loc[p, "spearman"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9)
        assert t.loc[p, "n"] == 725
