"""The NAS-Bench-201 / NATS-Bench topology search space.

A cell is a DAG on 4 nodes; each of the 6 edges ``j <- i`` (i < j) carries one of 5 ops.
The official cell string lists the edges node by node::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
     1<-0   2<-0 2<-1   3<-0 3<-1 3<-2

An :class:`NB201Arch` holds the op index of each edge in that order (``OPS`` order).  The
official *index* (0..15,624) is the order of NB201's ``meta_archs`` list, which is not a
simple enumeration; it ships with the package (``_nb201_order.npy``, the op code of each
official index, read from the official NATS-Bench ``meta`` file).

Two equivalence relations are provided (both described in the shared data README):

* ``"nb201"``: NB201's own canonical string — 6,466 classes, the published number;
* ``"functional"``: zeros propagated, skip as identity, sums flattened (as multisets) —
  4,930 classes, the cells that really compute different functions.

A class id is the smallest official index in the class.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import numpy as np

from benchbench.api import UnknownNameError, unknown
from benchbench.spaces._base import CategoricalSpace, EnumerableSpace

__all__ = ["EDGES", "MUTATIONS", "MutationKind", "NB201Arch", "NB201Space", "N_EDGES", "N_OPS",
           "OPS"]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (to, from) of each edge, in the official string's order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
N_OPS = len(OPS)
N_EDGES = len(EDGES)
N_CELLS: int = N_OPS**N_EDGES
#: The mutation operators of :meth:`NB201Space.mutate`, the default (the reference) first.
MUTATIONS: tuple[str, ...] = ("nb201-node", "uniform-edge")
MutationKind = Literal["nb201-node", "uniform-edge"]
_POW = tuple(N_OPS**e for e in range(N_EDGES))
_OP_INDEX = {o: i for i, o in enumerate(OPS)}


@dataclass(frozen=True, slots=True)
class NB201Arch:
    """One NB201 cell: ``ops[e]`` is the index into :data:`OPS` of edge ``EDGES[e]``."""

    ops: tuple[int, ...]

    def __post_init__(self) -> None:
        if (len(self.ops) != N_EDGES
                or not all(isinstance(o, int) and 0 <= o < N_OPS for o in self.ops)):
            raise ValueError(
                f"NB201Arch.ops must be {N_EDGES} ints in 0..{N_OPS - 1} (ops {OPS}), "
                f"got {self.ops!r}")

    @property
    def code(self) -> int:
        """Base-5 number of the ops (edge 0 least significant), 0..15,624."""
        return _ops_codes()[self.ops]

    @property
    def op_names(self) -> tuple[str, ...]:
        return tuple(OPS[o] for o in self.ops)

    def __str__(self) -> str:
        return _code_strings()[self.code]


@functools.cache
def _ops_codes() -> dict[tuple[int, ...], int]:
    """ops tuple -> its base-5 code (a dict lookup is ~20x faster than the sum, and ``code``
    is on the hot path of every query)."""
    return {ops: sum(o * p for o, p in zip(ops, _POW))
            for ops in itertools.product(range(N_OPS), repeat=N_EDGES)}


def _format_ops(ops: Sequence[int]) -> str:
    nodes = []
    k = 0
    for j in range(1, 4):
        nodes.append("|" + "|".join(f"{OPS[ops[k + i]]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(nodes)


@functools.cache
def _code_strings() -> list[str]:
    return [_format_ops(_decode(c)) for c in range(N_CELLS)]


@functools.cache
def _string_codes() -> dict[str, int]:
    return {s: c for c, s in enumerate(_code_strings())}


@functools.cache
def _archs() -> list[NB201Arch]:
    return [NB201Arch(_decode(c)) for c in range(N_CELLS)]


def _decode(code: int) -> tuple[int, ...]:
    return tuple((code // p) % N_OPS for p in _POW)


@functools.cache
def _order() -> tuple[np.ndarray, np.ndarray]:
    """(index -> code, code -> index) for the official order."""
    with resources.files("benchbench.spaces").joinpath("_nb201_order.npy").open("rb") as f:
        index_to_code = np.load(f).astype(np.int64)
    code_to_index = np.empty(N_CELLS, dtype=np.int64)
    code_to_index[index_to_code] = np.arange(N_CELLS)
    index_to_code.setflags(write=False)
    code_to_index.setflags(write=False)
    return index_to_code, code_to_index


def _parse_string(s: str) -> tuple[int, ...]:
    """Parse an official cell string, with errors that say what is wrong."""
    if not isinstance(s, str):
        raise TypeError(f"an NB201 cell string must be a str, got {type(s).__name__}")
    nodes = s.split("+")
    if len(nodes) != 3:
        raise ValueError(f"bad NB201 cell string {s!r}: expected 3 nodes separated by '+', "
                         f"like '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'")
    ops: list[int] = []
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise ValueError(f"bad NB201 cell string {s!r}: node {j} {node!r} must be "
                             f"enclosed in '|'")
        terms = node[1:-1].split("|")
        if len(terms) != j:
            raise ValueError(f"bad NB201 cell string {s!r}: node {j} needs {j} inputs, "
                             f"got {len(terms)}")
        for i, term in enumerate(terms):
            op, sep, src = term.partition("~")
            if not sep or src != str(i):
                raise ValueError(f"bad NB201 cell string {s!r}: term {term!r} of node {j} "
                                 f"must be 'op~{i}'")
            if op not in _OP_INDEX:
                raise ValueError(f"bad NB201 cell string {s!r}: unknown op {op!r}; "
                                 f"allowed: {', '.join(OPS)}")
            ops.append(_OP_INDEX[op])
    return tuple(ops)


def _nb201_canonical(ops: Sequence[int]) -> str:
    """NB201's own canonical string (6,466 classes); see module docstring."""
    s = {0: "0"}
    for j in (1, 2, 3):
        terms = []
        for e, (to, fr) in enumerate(EDGES):
            if to != j:
                continue
            op = OPS[ops[e]]
            if op == "none" or s[fr] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(s[fr])
            else:
                terms.append(f"({s[fr]})@{op}")
        s[j] = "+".join(sorted(terms))
    return s[3]


def _functional_canonical(ops: Sequence[int]) -> tuple[str, ...]:
    """Fully functional canonical form (4,930 classes): a node is a multiset of terms,
    ``none`` and all-zero inputs contribute nothing, ``skip_connect`` splices its input's
    terms in, any other op contributes ``op(<input terms>)``."""
    s: dict[int, tuple[str, ...]] = {0: ("in",)}
    for j in (1, 2, 3):
        terms: list[str] = []
        for e, (to, fr) in enumerate(EDGES):
            if to != j:
                continue
            op = OPS[ops[e]]
            if op == "none" or not s[fr]:
                continue
            if op == "skip_connect":
                terms.extend(s[fr])
            else:
                terms.append(f"{op}({'+'.join(s[fr])})")
        s[j] = tuple(sorted(terms))
    return s[3]


@functools.cache
def _class_ids(kind: str) -> np.ndarray:
    index_to_code, _ = _order()
    canon = _nb201_canonical if kind == "nb201" else _functional_canonical
    first: dict[Any, int] = {}
    out = np.empty(N_CELLS, dtype=np.int64)
    for idx, code in enumerate(index_to_code.tolist()):
        out[idx] = first.setdefault(canon(_decode(code)), idx)
    out.setflags(write=False)
    return out


class NB201Space(EnumerableSpace[NB201Arch]):
    """The 15,625-cell NB201 space.  Stateless; all randomness comes from the caller."""

    name = "nb201"
    ops = OPS
    edges = EDGES
    #: Named operators :meth:`mutate` offers (``kind=``), the default first.
    mutations = MUTATIONS

    @property
    def size(self) -> int:
        return N_CELLS

    # ----------------------------------------------------------------- conversions
    def parse(self, arch: Any) -> NB201Arch:
        """Accepts an :class:`NB201Arch`, an official cell string or an official index."""
        if isinstance(arch, NB201Arch):
            return arch
        if isinstance(arch, str):
            code = _string_codes().get(arch)
            if code is None:
                _parse_string(arch)  # raises a precise message
                raise AssertionError("unreachable")  # pragma: no cover
            return _archs()[code]
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            return self.from_index(int(arch))
        raise TypeError(f"cannot read an NB201 cell from {type(arch).__name__} {arch!r}; "
                        f"give an NB201Arch, a cell string or an index 0..{N_CELLS - 1}")

    def arch_id(self, arch: NB201Arch) -> str:
        return _code_strings()[arch.code]

    def canonical_id(self, arch: NB201Arch) -> str:
        """The cell string of the smallest official index in ``arch``'s NB201 equivalence
        class (isomorphic cells, as NB201's ``get_unique_str`` relation defines them)."""
        return self.arch_id(self.from_index(self.class_id(arch, "nb201")))

    def index(self, arch: NB201Arch) -> int:
        return int(_order()[1][arch.code])

    def from_index(self, index: int) -> NB201Arch:
        if not 0 <= index < N_CELLS:
            raise UnknownNameError(f"NB201 index {index} out of range; allowed: 0..{N_CELLS - 1}")
        return _archs()[int(_order()[0][index])]

    def indices(self, archs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Official indices of many archs (records, strings or indices), shape ``(n,)``."""
        if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            if archs.size and (archs.min() < 0 or archs.max() >= N_CELLS):
                bad = archs[(archs < 0) | (archs >= N_CELLS)][0]
                raise UnknownNameError(f"NB201 index {bad} out of range; allowed: "
                                       f"0..{N_CELLS - 1}")
            return archs.astype(np.int64, copy=False)
        c2i = _order()[1]
        return np.fromiter((c2i[self.parse(a).code] for a in archs), dtype=np.int64,
                           count=len(archs))

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return _archs()[int(rng.integers(N_CELLS))]

    def mutate(self, arch: NB201Arch, rng: np.random.Generator, *,
               kind: MutationKind = "nb201-node") -> NB201Arch:
        """One cell that differs from ``arch`` in exactly one edge's op (one of
        :meth:`neighbours`, never ``arch`` itself), drawn by the operator ``kind``
        (:data:`MUTATIONS`):

        * ``"nb201-node"`` (default, the reference): NB201's R-EA mutation, Dong & Yang,
          ICLR 2020, ``mutate_arch_func`` in ``exps/NAS-Bench-201-algos/R_EA.py`` of
          D-X-Y/AutoDL-Projects (the same in NATS-Bench's ``exps/NATS-algos/regularized_ea.py``,
          ``mutate_topology_func``).  It picks a node uniformly
          (``random.randint(0, len(nodes) - 1)``), then one of that node's inputs uniformly,
          then a new op uniformly, re-drawing while it equals the old one.  So an edge into
          node ``j`` changes with probability ``1 / (3 j)``: edge 1<-0 with 1/3, each edge
          into node 2 with 1/6, each edge into node 3 with 1/9.  The re-draw makes the new
          op uniform over the 4 other ops, which is how it is drawn here (one draw); the
          operator never returns ``arch``, so there is nothing to re-draw or keep.
        * ``"uniform-edge"``: one of the 6 edges uniformly, then one of the 4 other ops
          uniformly, i.e. a uniform draw from :meth:`neighbours` (benchbench's operator
          before issue 9; each edge changes with probability 1/6).

        Randomness only from ``rng``.
        """
        if kind == "nb201-node":
            node = 1 + int(rng.integers(3))   # the node whose input edge changes (1, 2, 3)
            edge = node * (node - 1) // 2 + int(rng.integers(node))  # its input, uniformly
        elif kind == "uniform-edge":
            edge = int(rng.integers(N_EDGES))
        else:
            raise unknown("NB201 mutation", kind, MUTATIONS)
        new = (arch.ops[edge] + 1 + int(rng.integers(N_OPS - 1))) % N_OPS
        code: int = arch.code + (new - arch.ops[edge]) * _POW[edge]
        return _archs()[code]

    def neighbours(self, arch: NB201Arch) -> list[NB201Arch]:
        """The 24 cells that differ in exactly one edge (edge-major, op-minor order)."""
        out = []
        code = arch.code
        for e in range(N_EDGES):
            for o in range(N_OPS):
                if o != arch.ops[e]:
                    out.append(_archs()[code + (o - arch.ops[e]) * _POW[e]])
        return out

    def encode(self, arch: NB201Arch) -> np.ndarray:
        """One-hot encoding, shape ``(30,)``: ``x[e*5 + op] = 1``."""
        x = np.zeros(N_EDGES * N_OPS)
        x[np.arange(N_EDGES) * N_OPS + np.asarray(arch.ops)] = 1.0
        return x

    def encode_many(self, indices: np.ndarray) -> np.ndarray:
        """One-hot encodings of official indices, shape ``(n, 30)``."""
        codes = _order()[0][np.asarray(indices, dtype=np.int64)]
        ops = (codes[:, None] // np.asarray(_POW)) % N_OPS
        x = np.zeros((len(codes), N_EDGES * N_OPS))
        np.put_along_axis(x, np.arange(N_EDGES) * N_OPS + ops, 1.0, axis=1)
        return x

    # ------------------------------------------------------------- categorical view
    def as_categorical(self) -> CategoricalSpace:
        return CategoricalSpace(names=tuple(f"{to}<-{fr}" for to, fr in EDGES),
                                choices=(OPS,) * N_EDGES)

    def from_categorical(self, values: Sequence[int]) -> NB201Arch:
        return NB201Arch(tuple(int(v) for v in values))

    def to_categorical(self, arch: NB201Arch) -> tuple[int, ...]:
        return arch.ops

    # -------------------------------------------------------------- equivalence
    def class_ids(self, kind: Literal["nb201", "functional"] = "nb201") -> np.ndarray:
        """Class id of each official index, shape ``(15625,)``: the smallest official index
        of an equivalent cell.  ``"nb201"``: 6,466 classes; ``"functional"``: 4,930."""
        if kind not in ("nb201", "functional"):
            raise unknown("equivalence kind", kind, ["nb201", "functional"])
        return _class_ids(kind)

    def class_id(self, arch: Any, kind: Literal["nb201", "functional"] = "nb201") -> int:
        return int(self.class_ids(kind)[self.index(self.parse(arch))])

    def __repr__(self) -> str:
        return "NB201Space()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NB201Space)

    def __hash__(self) -> int:
        return hash("NB201Space")
