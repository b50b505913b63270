"""NB201 search space: official strings and index order, equivalence classes, operators."""

from __future__ import annotations

import bz2
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchbench.api import UnknownNameError
from benchbench.spaces import NB201Arch, NB201Space, get_space

SPACE = NB201Space()


def test_official_index_order_matches_meta_and_table(nats_sample_dir: Path,
                                                     nb201_flat: Path) -> None:
    meta = pickle.load(bz2.BZ2File(nats_sample_dir / "meta.pickle.pbz2"))["meta_archs"]
    ours = [SPACE.arch_id(SPACE.from_index(i)) for i in range(SPACE.size)]
    assert ours == list(meta)
    assert ours == pd.read_csv(nb201_flat, usecols=["arch_str"])["arch_str"].tolist()


def test_parse_format_round_trip_every_cell() -> None:
    for i in range(SPACE.size):
        a = SPACE.from_index(i)
        s = SPACE.format(a)
        assert SPACE.parse(s) is a and SPACE.index(a) == i and SPACE.parse(i) is a
        assert str(a) == s


@pytest.mark.parametrize("bad, msg", [
    ("|none~0|+|none~0|none~1|", "expected 3 nodes"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 inputs"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must be 'op~0'"),
    ("|sep_conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'sep_conv'"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "enclosed in '|'"),
])
def test_bad_strings_say_what_is_wrong(bad: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        SPACE.parse(bad)


def test_bad_records_and_indices() -> None:
    with pytest.raises(ValueError, match="6 ints in 0..4"):
        NB201Arch((0, 1, 2))
    with pytest.raises(UnknownNameError, match="out of range; allowed: 0..15624"):
        SPACE.from_index(-1)
    with pytest.raises(TypeError, match="cannot read an NB201 cell"):
        SPACE.parse(1.5)
    with pytest.raises(UnknownNameError, match="unknown search space 'nb999'"):
        get_space("nb999")


def test_equivalence_class_counts() -> None:
    assert len(np.unique(SPACE.class_ids("nb201"))) == 6466  # NB201 paper
    assert len(np.unique(SPACE.class_ids("functional"))) == 4930
    # the functional relation is coarser: every NB201 class lies inside one functional class
    nb, fn = SPACE.class_ids("nb201"), SPACE.class_ids("functional")
    assert all(len(np.unique(fn[nb == c])) == 1 for c in np.unique(nb)[:500])
    with pytest.raises(UnknownNameError, match="unknown equivalence kind"):
        SPACE.class_ids("graph")  # type: ignore[arg-type]


def test_equivalent_cells_examples() -> None:
    # node 1 unused (its outputs are 'none') -> the op on edge 1<-0 does not matter
    a = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    b = "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    assert SPACE.class_id(a) == SPACE.class_id(b)
    assert SPACE.class_id(a, "functional") == SPACE.class_id(b, "functional")
    # NB201's quirk: node 2, whose inputs are all zero, is '#+#', not '#', so a conv on it
    # is not zero for NB201, while the functional form (zeros propagated) merges the two
    c = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    d = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert SPACE.class_id(c) != SPACE.class_id(d)
    assert SPACE.class_id(c, "functional") == SPACE.class_id(d, "functional")
    # the class id is the smallest official index of the class
    ids = SPACE.class_ids("functional")
    assert all(ids[i] <= i for i in range(0, 15625, 97))


def test_sample_is_uniform_and_seeded() -> None:
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    xs = [SPACE.index(SPACE.sample(r1)) for _ in range(20000)]
    assert xs[:50] == [SPACE.index(SPACE.sample(r2)) for _ in range(50)]
    ops = np.array([SPACE.from_index(i).ops for i in xs])
    freq = np.stack([(ops == o).mean(axis=0) for o in range(5)])
    assert np.abs(freq - 0.2).max() < 0.02


@pytest.mark.parametrize("kind", [None, "nb201-node", "uniform-edge"])
def test_mutate_changes_exactly_one_edge(kind: str | None) -> None:
    """Every operator changes one edge to another op and can reach every neighbour."""
    def mutate(a: NB201Arch, rng: np.random.Generator) -> NB201Arch:
        return SPACE.mutate(a, rng) if kind is None else SPACE.mutate(a, rng, kind=kind)

    rng = np.random.default_rng(1)
    for _ in range(3000):
        a = SPACE.sample(rng)
        b = mutate(a, rng)
        assert sum(x != y for x, y in zip(a.ops, b.ops)) == 1
    a = SPACE.from_index(0)
    seen = {mutate(a, rng) for _ in range(3000)}
    assert seen == set(SPACE.neighbours(a))


@pytest.mark.parametrize("kind, law", [
    ("nb201-node", [1 / 3, 1 / 6, 1 / 6, 1 / 9, 1 / 9, 1 / 9]),  # NB201's R-EA
    ("uniform-edge", [1 / 6] * 6),
])
def test_mutate_edge_frequencies(kind: str, law: list[float]) -> None:
    """Which edge each operator changes (the default is NB201's node-then-input operator;
    the reference procedure itself is re-implemented in test_references.py)."""
    rng = np.random.default_rng(2)
    a = SPACE.from_index(284)
    counts = np.zeros(6)
    for _ in range(20000):
        b = SPACE.mutate(a, rng, kind=kind)  # type: ignore[arg-type]
        counts[[e for e in range(6) if a.ops[e] != b.ops[e]][0]] += 1
    assert np.abs(counts / counts.sum() - law).max() < 0.012  # ~4 binomial s.d.
    assert SPACE.mutations[0] == "nb201-node"
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    assert [SPACE.mutate(a, r1) for _ in range(20)] == [
        SPACE.mutate(a, r2, kind="nb201-node") for _ in range(20)]
    with pytest.raises(UnknownNameError, match="allowed: 'nb201-node', 'uniform-edge'"):
        SPACE.mutate(a, rng, kind="edge")  # type: ignore[arg-type]


def test_neighbours_encoding_and_categorical_view() -> None:
    a = SPACE.from_index(11)
    nb = SPACE.neighbours(a)
    assert len(nb) == 24 == len(set(nb)) and a not in nb
    x = SPACE.encode(a)
    assert x.shape == (30,) and x.sum() == 6
    assert np.array_equal(x.reshape(6, 5).argmax(axis=1), a.ops)
    np.testing.assert_array_equal(SPACE.encode_many(np.array([11, 0])),
                                  np.stack([x, SPACE.encode(SPACE.from_index(0))]))
    cat = SPACE.as_categorical()
    assert cat.sizes == (5,) * 6 and cat.names[0] == "1<-0"
    assert SPACE.from_categorical(SPACE.to_categorical(a)) == a
    assert hash(a) == hash(NB201Arch(a.ops)) and a == NB201Arch(a.ops)
