"""The NAS-Bench-101 search space (Ying et al., "NAS-Bench-101", ICML 2019).

A cell ("module") is a DAG on at most 7 vertices with at most 9 edges: vertex 0 is the
input, the last vertex the output, every other vertex carries one of :data:`OPS`
(``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3``).  The adjacency matrix is
upper-triangular (an edge goes from a lower to a higher vertex, so there is no cycle).

Validity and pruning follow the official code (``nasbench/lib/model_spec.py`` ``_prune`` and
``nasbench/api.py`` ``_check_spec`` of google-research/nasbench): vertices that are not on an
input -> output path are removed first, then the *pruned* spec must have at most 7 vertices
and 9 edges, ``input`` first, ``output`` last and known ops in between; an output that cannot
be reached from the input is an error.

Records
-------
An :class:`NB101Arch` is the pruned spec in a **canonical vertex order**, so isomorphic cells
(one graph with its interior vertices numbered differently) are one record, and equal records
are exactly the cells with equal ids.  The order: a topological order that always takes,
among the vertices whose inputs are placed, the one with the smallest final vertex hash of the
official hashing (below); exact ties (vertices the hashing cannot tell apart) are resolved by
trying each and keeping the smallest ``(edges, ops)``.

Ids
---
:meth:`NB101Space.arch_id` is the official module hash: ``graph_util.hash_module`` of
google-research/nasbench on the pruned matrix with labels ``-1`` (input), ``-2`` (output) and
the op's index in ``['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3']`` (as
``ModelSpec.hash_spec``): md5 of ``str((out_degree, in_degree, label))`` per vertex, then
``V`` rounds of md5 over the sorted in-neighbour hashes, ``'|'``, the sorted out-neighbour
hashes, ``'|'`` and the vertex's own hash, then md5 of ``str(sorted(hashes))``.  It is
bit-compatible with the keys of the official data (tested against 300 specs hashed by the
official code, ``../shared/data/nb101/nb101_official_hashes.json``).

A hash cannot be inverted: :meth:`NB101Space.parse` resolves a hash only to a cell whose spec
this process has already seen (parsed, sampled or read from a table: the module keeps a
``hash -> record`` dict, about 300 bytes per cell); any other hash raises ``ValueError``
saying so.  Tables of NB101 cells store each row's spec beside its hash.

String format (:meth:`NB101Space.format`)
-----------------------------------------
``"OPS|EDGES"``: ``OPS`` the interior ops in vertex order, comma-separated, each one of
``conv3x3``, ``conv1x1``, ``maxpool3x3`` (the official names with ``-bn-relu`` are accepted
too); ``EDGES`` the edges ``i-j`` (``i < j``, vertex 0 the input, vertex ``len(OPS) + 1`` the
output), comma-separated.  Example (input -> conv3x3 -> maxpool -> output, plus input ->
output)::

    conv3x3,maxpool3x3|0-1,0-3,1-2,2-3

Other accepted inputs of :meth:`~NB101Space.parse`: a dict ``{"matrix": VxV 0/1, "ops":
[input, ..., output]}`` (the official ``ModelSpec`` arguments), NASLib's 56-tuple (or its
string ``"(0, 1, ...)"``, the keys of ``nb101_500_with_zc.json``: 49 row-major adjacency bits
of the 7x7 matrix, then 7 op codes ``0 input, 1 output, 2 maxpool3x3, 3 conv1x1-bn-relu,
4 conv3x3-bn-relu`` - the mapping pinned by rebuilding the 500 cells of that file: with it every
cell's parameter count equals its ``params`` field, with any other assignment of 2/3/4 at most
a third of them do).

Size and enumeration
--------------------
The space has 423,624 distinct cells (NB101 paper).  It is **not** an
:class:`~benchbench.spaces.EnumerableSpace` here: listing every cell needs every cell's spec,
i.e. enumerating all 7-vertex graphs (2^21 upper-triangular matrices x 3^5 op labellings,
about 5.1 x 10^8 specs, to prune and hash) or the official data file.  Measured
(``benchmarks/bench_nb101.py``): this module prunes, hashes and canonicalises about 19,000
specs per CPU second (the official code path, re-implemented: about 12,000; 1.6x), so
enumerating costs about 7.5 core-hours; the in-memory list would be about 400 bytes per cell
(record + the hash dict), about 170 MB for all 423,624.  A table imported from the
official data lists its own cells; a :class:`~benchbench.spaces.RestrictedSpace` over a
table's rows gives search on exactly those.

Sampling, mutation and neighbours
---------------------------------
* :meth:`~NB101Space.sample`: the official random spec of ``nasbench``'s ``example.py``
  (``random_spec``) and the NB101 paper's random search: each of the 21 upper-triangular
  entries of a 7x7 matrix is 1 with probability 0.5, each of the 5 interior ops uniform,
  re-drawn until the spec is valid (so the distribution is over specs, not uniform over cells).
* :meth:`~NB101Space.neighbours`: every cell one edge flip (on the pruned cell's vertices) or
  one op change away that is valid and has another hash, deduplicated by hash, in a fixed
  order (edges ``(i, j)`` in row-major order, then ops by vertex and op index).  The 2-vertex
  cell (input -> output) has no such neighbour; its neighbours are the three cells one vertex
  insertion away (input -> op -> output beside the direct edge).
* :meth:`~NB101Space.mutate`: ``kind="neighbour"`` (default, the form the benchbench
  optimizers rely on: one of :meth:`neighbours`, uniformly) or ``kind="nb101"``: the official
  ``mutate_spec`` of ``example.py`` (the same as naszilla's ``Cell101.mutate`` with
  ``mutate_encoding='adj'`` up to the flip rate): each of the 21 entries of the 7-vertex spec
  flips with probability ``mutation_rate / 7``, each of the 5 interior ops is re-drawn among
  the two others with probability ``mutation_rate / 5``, repeated until the spec is valid
  **and** its hash differs from the parent's (the official code only asks for validity).  The
  record is pruned, so the 7-vertex spec is rebuilt with the pruned vertices as isolated
  vertices before the output, their ops drawn uniformly.

Encodings and the categorical view
----------------------------------
Cells are embedded in 7 vertices as naszilla's ``convert_to_cell`` does: the pruned vertices
keep their order, the output moves to vertex 6, the extra vertices (``n-1 .. 5``) are isolated.

* ``encode(a)`` (``kind="adjacency"``): 21 upper-triangular bits of the 7x7 matrix (row-major,
  naszilla's order) + a one-hot of the op of each of the 5 interior vertices (15 values, all
  zero for an absent vertex): 36 values.
* ``kind="path"``: BANANAS' path encoding (White et al., AAAI 2021; naszilla
  ``encode_paths`` / ``get_path_indices``): one bit per input -> output path, indexed by its op
  sequence (``sum_i 3^i (op_i + 1)``, conv3x3 0, conv1x1 1, maxpool 2), 364 bits;
  ``kind="trunc_path"`` keeps the first ``cutoff`` (naszilla's default 40, the paths of
  length <= 3 and some of length 4), BANANAS' documented truncation.
* :meth:`~NB101Space.as_categorical`: 21 edge variables (``"0-1"`` .. ``"5-6"``, choices
  ``"0", "1"``) and 5 op variables (``"op1"`` .. ``"op5"``).  ``from_categorical`` prunes the
  7-vertex spec and raises ``ValueError`` when it is not a valid cell (most combinations are
  not: too many edges, or no input -> output path).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from benchbench.api import unknown
from benchbench.spaces._base import CategoricalSpace, SearchSpace

__all__ = ["INPUT", "MAX_EDGES", "MAX_VERTICES", "MUTATIONS", "N_CELLS", "NASLIB_OPS", "NB101Arch",
           "NB101Space", "OPS", "OUTPUT", "module_hash", "official_hash_module",
           "record_from_spec"]

INPUT = "input"
OUTPUT = "output"
#: The interior ops, in the official ``config['available_ops']`` order (their hash labels).
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
SHORT: tuple[str, ...] = ("conv3x3", "conv1x1", "maxpool3x3")
MAX_VERTICES = 7
MAX_EDGES = 9
N_CELLS = 423_624
#: NASLib's op codes in its 56-tuple (worked out from the 500 cells' parameter counts).
NASLIB_OPS: dict[int, str] = {0: INPUT, 1: OUTPUT, 2: OPS[2], 3: OPS[1], 4: OPS[0]}
MUTATIONS: tuple[str, ...] = ("neighbour", "nb101")
MutationKind = Literal["neighbour", "nb101"]
EncodingKind = Literal["adjacency", "path", "trunc_path"]
_OP_INDEX = {**{o: i for i, o in enumerate(OPS)}, **{o: i for i, o in enumerate(SHORT)}}
_NASLIB_CODE = {v: k for k, v in NASLIB_OPS.items()}
#: (i, j) of the 21 upper-triangular entries of a 7x7 matrix, row-major (naszilla's order).
TRIU7: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(7) for j in range(i + 1, 7))
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
N_PATHS = sum(3**i for i in range(6))  # 364


def _bit(i: int, j: int) -> int:
    """Bit of edge i -> j (i < j): the official ``gen_is_edge_fn`` column-major order."""
    return i + j * (j - 1) // 2


@dataclass(frozen=True, slots=True)
class NB101Arch:
    """One NB101 cell: the pruned spec in canonical vertex order (see the module docstring).

    Build it with :meth:`NB101Space.parse` (a record made by hand is not checked for being
    canonical).

    Attributes:
        n: number of vertices, 2..7 (input, ``n - 2`` ops, output).
        edges: bit ``i + j (j - 1) / 2`` set for each edge ``i -> j`` (``i < j``).
        ops: the op index (into :data:`OPS`) of vertices ``1 .. n - 2``.
        module_hash: the official module hash (not part of equality: it follows from the
            rest).
    """

    n: int
    edges: int
    ops: tuple[int, ...]
    module_hash: str = field(compare=False, repr=False)

    @property
    def matrix(self) -> np.ndarray:
        """The ``(n, n)`` int8 adjacency matrix."""
        m = np.zeros((self.n, self.n), dtype=np.int8)
        for i, j in self.edge_list:
            m[i, j] = 1
        return m

    @property
    def edge_list(self) -> list[tuple[int, int]]:
        """The edges ``(i, j)`` in row-major order."""
        return [(i, j) for i in range(self.n) for j in range(i + 1, self.n)
                if self.edges >> _bit(i, j) & 1]

    @property
    def op_names(self) -> list[str]:
        """``["input", <ops>, "output"]`` (the official ``ModelSpec`` ops)."""
        return [INPUT, *(OPS[o] for o in self.ops), OUTPUT]

    @property
    def num_edges(self) -> int:
        return int(self.edges).bit_count()

    def spec(self) -> dict[str, Any]:
        """``{"matrix": [[...]], "ops": [...]}``, the official ``ModelSpec`` arguments."""
        return {"matrix": self.matrix.tolist(), "ops": self.op_names}


# ----------------------------------------------------------------------------- hashing
_INIT: dict[tuple[int, int, int], str] = {}


def _vertex_hashes(n: int, ins: Sequence[Sequence[int]], outs: Sequence[Sequence[int]],
                   labels: Sequence[int]) -> list[str]:
    """The official per-vertex hashes after ``n`` rounds (``graph_util.hash_module``): md5
    of ``str((out_degree, in_degree, label))``, then ``n`` rounds of md5 over the sorted
    in-neighbour hashes, ``'|'``, the sorted out-neighbour hashes, ``'|'``, the own hash."""
    md5 = hashlib.md5
    h = []
    for i, o, lab in zip(ins, outs, labels):
        k = (len(o), len(i), lab)
        x = _INIT.get(k)
        if x is None:
            x = _INIT[k] = md5(str(k).encode("utf-8")).hexdigest()
        h.append(x)
    pairs = list(zip(ins, outs))
    for _ in range(n):
        h = [md5(("".join(sorted([h[w] for w in i])) + "|" + "".join(sorted([h[w] for w in o]))
                  + "|" + hv).encode("utf-8")).hexdigest() for (i, o), hv in zip(pairs, h)]
    return h


def _fingerprint(vh: Sequence[str]) -> str:
    return hashlib.md5(str(sorted(vh)).encode("utf-8")).hexdigest()


def module_hash(matrix: Any, ops: Sequence[str]) -> str:
    """The official module hash of an (already pruned) spec: ``matrix`` ``(V, V)`` 0/1,
    ``ops`` the ``V`` op names (``input`` ... ``output``).  Use :meth:`NB101Space.arch_id` for
    a spec that may need pruning."""
    m = np.asarray(matrix)
    n = m.shape[0]
    labels = [-1] + [_OP_INDEX[o] for o in ops[1:-1]] + [-2]
    ins = [[w for w in range(n) if m[w, v]] for v in range(n)]
    outs = [[w for w in range(n) if m[v, w]] for v in range(n)]
    return _fingerprint(_vertex_hashes(n, ins, outs, labels))


def official_hash_module(matrix: np.ndarray, labeling: Sequence[int]) -> str:
    """A plain re-implementation of the official ``graph_util.hash_module`` (numpy matrix
    indexing in the inner loop, no memo), kept as the reference the fast path is tested and
    benchmarked against."""
    vertices = np.shape(matrix)[0]
    in_edges = np.sum(matrix, axis=0).tolist()
    out_edges = np.sum(matrix, axis=1).tolist()
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest()
              for h in zip(out_edges, in_edges, labeling)]
    for _ in range(vertices):
        new_hashes = []
        for v in range(vertices):
            in_neighbors = [hashes[w] for w in range(vertices) if matrix[w, v]]
            out_neighbors = [hashes[w] for w in range(vertices) if matrix[v, w]]
            new_hashes.append(hashlib.md5(
                ("".join(sorted(in_neighbors)) + "|" + "".join(sorted(out_neighbors)) + "|"
                 + hashes[v]).encode("utf-8")).hexdigest())
        hashes = new_hashes
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------- spec -> record
class _Invalid(Exception):
    """Internal: a spec that is not a valid cell (message = the one-line reason)."""


#: hash -> record of every cell this process has built (see the module docstring).
_KNOWN: dict[str, NB101Arch] = {}
#: (n, edges, ops) of a raw spec -> its record (or the reason it is invalid).
_RAW: dict[tuple[int, int, tuple[int, ...]], NB101Arch | str] = {}
#: (n, edges, labels) of a pruned spec in its given numbering -> its record.
_PRUNED: dict[tuple[int, int, tuple[int, ...]], NB101Arch] = {}
_RAW_CAP = 1 << 18


def _build(n: int, edges: int, ops: tuple[int, ...], remember: bool = True) -> NB101Arch:
    """Prune, check, hash and canonicalise a raw spec (``edges`` bitmask over ``n`` vertices,
    interior ``ops``); raises :class:`_Invalid`.  ``remember=False``: nothing is added to the
    caches or the hash memo (an importer that sees each cell once)."""
    if not remember:
        return _build_uncached(n, edges, ops, remember=False)
    key = (n, edges, ops)
    got = _RAW.get(key)
    if got is not None:
        if isinstance(got, str):
            raise _Invalid(got)
        return got
    try:
        rec = _build_uncached(n, edges, ops)
    except _Invalid as e:
        if len(_RAW) >= _RAW_CAP:
            _RAW.clear()
        _RAW[key] = str(e)
        raise
    if len(_RAW) >= _RAW_CAP:
        _RAW.clear()
    _RAW[key] = rec
    return rec


def _build_uncached(n: int, edges: int, ops: tuple[int, ...],
                    remember: bool = True) -> NB101Arch:
    outs = [[j for j in range(i + 1, n) if edges >> _bit(i, j) & 1] for i in range(n)]
    # prune: reachable from the input and reaching the output (official ModelSpec._prune)
    fwd = {0}
    stack = [0]
    while stack:
        for v in outs[stack.pop()]:
            if v not in fwd:
                fwd.add(v)
                stack.append(v)
    if n - 1 not in fwd:
        raise _Invalid("the output is not reachable from the input (no input -> output path)")
    ins = [[i for i in range(j) if edges >> _bit(i, j) & 1] for j in range(n)]
    bwd = {n - 1}
    stack = [n - 1]
    while stack:
        for v in ins[stack.pop()]:
            if v not in bwd:
                bwd.add(v)
                stack.append(v)
    keep = sorted(fwd & bwd)
    m = len(keep)
    if m > MAX_VERTICES:
        raise _Invalid(f"{m} vertices after pruning; allowed: at most {MAX_VERTICES} "
                       f"(input, up to {MAX_VERTICES - 2} ops, output)")
    pos = {v: k for k, v in enumerate(keep)}
    p_ins = [[pos[w] for w in ins[v] if w in pos] for v in keep]
    p_outs = [[pos[w] for w in outs[v] if w in pos] for v in keep]
    n_edges = sum(len(x) for x in p_outs)
    if n_edges > MAX_EDGES:
        raise _Invalid(f"{n_edges} edges after pruning; allowed: at most {MAX_EDGES}")
    labels = [-1] + [ops[v - 1] for v in keep[1:-1]] + [-2]
    pkey = (m, sum(1 << _bit(i, j) for j in range(m) for i in p_ins[j]), tuple(labels))
    done = _PRUNED.get(pkey)
    if done is not None:  # the same pruned spec (as numbered here) was hashed before
        return done
    vh = _vertex_hashes(m, p_ins, p_outs, labels)
    h = _fingerprint(vh)
    known = _KNOWN.get(h)
    if known is not None:
        rec = known
    else:
        rec = _canonical(m, p_ins, labels, vh, h)
        if not remember:
            return rec
        _KNOWN[h] = rec
    if len(_PRUNED) >= _RAW_CAP:
        _PRUNED.clear()
    _PRUNED[pkey] = rec
    return rec


def _canonical(n: int, ins: list[list[int]], labels: list[int], vh: list[str],
               h: str) -> NB101Arch:
    """The record of a pruned labelled graph in canonical vertex order."""
    best: tuple[int, tuple[int, ...]] | None = None
    ins_sets = [set(x) for x in ins]

    def finish(order: list[int]) -> tuple[int, tuple[int, ...]]:
        new = [0] * n
        for k, v in enumerate(order):
            new[v] = k
        bits = 0
        for v in range(n):
            nv = new[v]
            for w in ins[v]:
                bits |= 1 << (new[w] + nv * (nv - 1) // 2)
        return bits, tuple(labels[v] for v in order[1:-1])

    def place(order: list[int], placed: set[int]) -> None:
        nonlocal best
        while len(order) < n:  # greedy while the smallest available hash is unique
            avail = [v for v in range(n) if v not in placed and ins_sets[v] <= placed]
            low = min(vh[v] for v in avail)
            ties = [v for v in avail if vh[v] == low]
            if len(ties) > 1:
                for v in ties:  # an exact tie: try each, keep the smallest result
                    place([*order, v], placed | {v})
                return
            order.append(ties[0])
            placed.add(ties[0])
        key = finish(order)
        if best is None or key < best:
            best = key

    place([], set())
    assert best is not None
    return NB101Arch(n, best[0], best[1], h)


def _from_matrix(matrix: Any, ops: Sequence[Any], where: str,
                 remember: bool = True) -> NB101Arch:
    """A record from a ``(V, V)`` matrix and ``V`` op names (clear ``ValueError``)."""
    try:
        rows = matrix.tolist() if isinstance(matrix, np.ndarray) else \
            [list(r) for r in matrix]
    except TypeError:
        raise ValueError(f"{where}: the adjacency matrix is not a square array of "
                         f"0/1") from None
    v = len(rows)
    if any(len(r) != v for r in rows):
        raise ValueError(f"{where}: the adjacency matrix must be square (V x V), got rows of "
                         f"lengths {[len(r) for r in rows]}")
    edges = 0
    lower: tuple[int, int] | None = None
    for i, r in enumerate(rows):
        for j, x in enumerate(r):
            if x == 0:
                continue
            if x != 1 or isinstance(x, str):
                raise ValueError(f"{where}: adjacency entries must be 0 or 1, got {x!r} at "
                                 f"({i}, {j})")
            if j <= i:
                lower = lower or (i, j)
            else:
                edges |= 1 << (i + j * (j - 1) // 2)
    if len(ops) != v:
        raise ValueError(f"{where}: {len(ops)} ops for a {v}x{v} matrix; need one op per "
                         f"vertex (input, ..., output)")
    if v < 2:
        raise ValueError(f"{where}: {v} vertices; a cell has 2..{MAX_VERTICES} (input, up to "
                         f"{MAX_VERTICES - 2} ops, output)")
    if lower is not None:
        raise ValueError(f"{where}: edge {lower[0]} -> {lower[1]} is on or below the diagonal; "
                         f"edges must go from a lower to a higher vertex (upper-triangular "
                         f"matrix, so no cycle)")
    if ops[0] != INPUT:
        raise ValueError(f"{where}: the first op must be 'input', got {ops[0]!r}")
    if ops[-1] != OUTPUT:
        raise ValueError(f"{where}: the last op must be 'output', got {ops[-1]!r}")
    idx = []
    for k in range(1, v - 1):
        o = ops[k]
        i_o = _OP_INDEX.get(o) if isinstance(o, str) else None
        if i_o is None:
            raise ValueError(f"{where}: unknown op {o!r} at vertex {k}; allowed: "
                             f"{', '.join(OPS)} (or {', '.join(SHORT)})")
        idx.append(i_o)
    try:
        return _build(v, edges, tuple(idx), remember)
    except _Invalid as e:
        raise ValueError(f"{where}: not a valid NB101 cell: {e}") from None


def record_from_spec(matrix: Any, ops: Sequence[str], *, remember: bool = True) -> NB101Arch:
    """The record of a ``(V, V)`` matrix and ``V`` op names (``ValueError`` if invalid), as
    ``NB101Space().parse({"matrix": ..., "ops": ...})``; ``remember=False`` leaves the
    process's ``hash -> record`` memo and caches untouched (so ``parse(hash)`` will not know
    the cell), which keeps a one-pass import of 423,624 cells small."""
    return _from_matrix(matrix, ops, "NB101 spec", remember)


def _parse_string(s: str) -> NB101Arch:
    where = f"NB101 cell {s!r}"
    ops_part, sep, edge_part = s.partition("|")
    if not sep or "|" in edge_part:
        raise ValueError(f"bad NB101 cell string {s!r}: expected 'OPS|EDGES' like "
                         f"'conv3x3,maxpool3x3|0-1,0-3,1-2,2-3' (or a 32-hex module hash, or "
                         f"NASLib's '(0, 1, ...)' 56-tuple)")
    ops = [o.strip() for o in ops_part.split(",")] if ops_part.strip() else []
    n = len(ops) + 2
    m = np.zeros((n, n), dtype=np.int8)
    for term in (t.strip() for t in edge_part.split(",") if t.strip()):
        a, dash, b = term.partition("-")
        if not dash or not a.strip().isdigit() or not b.strip().isdigit():
            raise ValueError(f"bad NB101 cell string {s!r}: edge {term!r} must be 'i-j' with "
                             f"vertex numbers 0..{n - 1}")
        i, j = int(a), int(b)
        if not (0 <= i < n and 0 <= j < n):
            raise ValueError(f"bad NB101 cell string {s!r}: edge {term!r} names a vertex "
                             f"outside 0..{n - 1} ({len(ops)} ops + input + output)")
        if i >= j:
            raise ValueError(f"{where}: edge {i} -> {j} goes backwards; edges must go from a "
                             f"lower to a higher vertex (upper-triangular matrix, so no cycle)")
        m[i, j] = 1
    return _from_matrix(m, [INPUT, *ops, OUTPUT], where)


def _parse_naslib(t: Sequence[Any], where: str) -> NB101Arch:
    if len(t) != 56:
        raise ValueError(f"{where}: NASLib's NB101 tuple has 56 entries (49 adjacency bits + 7 "
                         f"op codes), got {len(t)}")
    try:
        vals = [int(x) for x in t]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: NASLib's NB101 tuple must hold integers") from None
    bad = [c for c in vals[49:] if c not in NASLIB_OPS]
    if bad:
        raise ValueError(f"{where}: unknown NASLib op code {bad[0]}; allowed: "
                         f"{', '.join(f'{k}={v}' for k, v in NASLIB_OPS.items())}")
    m = np.asarray(vals[:49], dtype=np.int64).reshape(7, 7)
    return _from_matrix(m, [NASLIB_OPS[c] for c in vals[49:]], where)


def _embed7(a: NB101Arch, pad_ops: Sequence[int] | None = None
            ) -> tuple[int, tuple[int, ...]]:
    """The 7-vertex spec of ``a`` (naszilla's ``convert_to_cell``): ``(edges over 7
    vertices, 5 ops)``; the extra vertices ``n-1 .. 5`` are isolated with ``pad_ops``
    (default op 0)."""
    n = a.n
    remap = list(range(n - 1)) + [6]
    edges = 0
    for i, j in a.edge_list:
        edges |= 1 << _bit(remap[i], remap[j])
    pad = list(pad_ops) if pad_ops is not None else [0] * (7 - n)
    return edges, (*a.ops, *pad[: 7 - n])


def _try(n: int, edges: int, ops: tuple[int, ...]) -> NB101Arch | None:
    try:
        return _build(n, edges, ops)
    except _Invalid:
        return None


class NB101Space(SearchSpace[NB101Arch]):
    """The NAS-Bench-101 cell space (see the module docstring).  Stateless apart from the
    module's ``hash -> record`` memo; all randomness comes from the caller.

    Args:
        mutation: the default operator of :meth:`mutate` (:data:`MUTATIONS`).
        mutation_rate: the official operator's rate (``kind="nb101"``).
    """

    name = "nb101"
    ops = OPS
    mutations = MUTATIONS

    def __init__(self, *, mutation: MutationKind = "neighbour", mutation_rate: float = 1.0
                 ) -> None:
        if mutation not in MUTATIONS:
            raise unknown("NB101 mutation", mutation, MUTATIONS)
        if isinstance(mutation_rate, bool) or not isinstance(mutation_rate, (int, float)) \
                or not mutation_rate > 0:
            raise ValueError(f"mutation_rate must be a number > 0, got {mutation_rate!r}")
        self.mutation = mutation
        self.mutation_rate = float(mutation_rate)

    # ----------------------------------------------------------------- conversions
    def parse(self, arch: Any) -> NB101Arch:
        """A record from a record, a module hash of a cell seen in this process, a spec
        string (``"OPS|EDGES"``), a dict ``{"matrix", "ops"}`` or NASLib's 56-tuple (or its
        string)."""
        if isinstance(arch, NB101Arch):
            return arch
        if isinstance(arch, str):
            s = arch.strip()
            if _HEX32.match(s):
                rec = _KNOWN.get(s)
                if rec is None:
                    raise ValueError(
                        f"NB101 module hash {s!r} is not a cell seen in this process: a hash "
                        f"cannot be inverted to its cell; give the spec (a string like "
                        f"'conv3x3,maxpool3x3|0-1,0-3,1-2,2-3', a {{matrix, ops}} dict) or open "
                        f"a table that lists this cell")
                return rec
            if s.startswith("(") and s.endswith(")"):
                return _parse_naslib(s[1:-1].split(","), f"NASLib NB101 key {s!r}")
            if not s:
                raise ValueError("empty NB101 cell string; expected 'OPS|EDGES' like "
                                 "'conv3x3,maxpool3x3|0-1,0-3,1-2,2-3'")
            return _parse_string(s)
        if isinstance(arch, Mapping):
            if "matrix" not in arch or "ops" not in arch:
                raise ValueError(f"an NB101 spec dict needs keys 'matrix' and 'ops', got "
                                 f"{sorted(map(str, arch))}")
            return _from_matrix(arch["matrix"], list(arch["ops"]), "NB101 spec")
        if isinstance(arch, (tuple, list, np.ndarray)) and len(arch) == 56:
            return _parse_naslib(list(arch), "NASLib NB101 tuple")
        raise TypeError(f"cannot read an NB101 cell from {type(arch).__name__} {arch!r}; give "
                        f"an NB101Arch, a spec string 'OPS|EDGES', a {{matrix, ops}} dict or "
                        f"NASLib's 56-tuple")

    def arch_id(self, arch: NB101Arch) -> str:
        """The official module hash (32 hex digits)."""
        return arch.module_hash

    def format(self, arch: NB101Arch) -> str:
        """The spec string ``"OPS|EDGES"`` (module docstring), e.g.
        ``'conv3x3,maxpool3x3|0-1,0-3,1-2,2-3'``; ``parse`` reads it back."""
        return (",".join(SHORT[o] for o in arch.ops) + "|"
                + ",".join(f"{i}-{j}" for i, j in arch.edge_list))

    def to_naslib(self, arch: NB101Arch) -> tuple[int, ...]:
        """NASLib's 56-tuple of the 7-vertex embedding (extra vertices: conv3x3, as naszilla
        pads)."""
        edges, ops = _embed7(arch)
        bits = [edges >> _bit(i, j) & 1 if i < j else 0 for i in range(7) for j in range(7)]
        return (*bits, 0, *(_NASLIB_CODE[OPS[o]] for o in ops), 1)

    @staticmethod
    def module_hashes(specs: Iterable[tuple[Any, Sequence[str]]]) -> list[str]:
        """Batched path: the module hash of many ``(matrix, ops)`` specs (pruned first, as
        the official API does); equal raw specs are hashed once."""
        sp = NB101Space()
        return [sp.parse({"matrix": m, "ops": o}).module_hash for m, o in specs]

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: np.random.Generator) -> NB101Arch:
        """The official ``random_spec``: 21 edge bits with p = 0.5, 5 uniform ops, re-drawn
        until valid.  Draws 21 + 5 values per attempt from ``rng``."""
        while True:
            x = rng.integers(0, 2, size=21)
            ops = rng.integers(0, 3, size=5)
            edges = 0
            for k, (i, j) in enumerate(TRIU7):
                if x[k]:
                    edges |= 1 << _bit(i, j)
            rec = _try(7, edges, tuple(int(o) for o in ops))
            if rec is not None:
                return rec

    def mutate(self, arch: NB101Arch, rng: np.random.Generator, *,
               kind: MutationKind | None = None) -> NB101Arch:
        """A valid cell with another hash (module docstring): ``kind="neighbour"`` (default)
        one of :meth:`neighbours` uniformly; ``kind="nb101"`` the official ``mutate_spec``."""
        kind = self.mutation if kind is None else kind
        if kind == "neighbour":
            nb = self.neighbours(arch)
            return nb[int(rng.integers(len(nb)))]
        if kind != "nb101":
            raise unknown("NB101 mutation", kind, MUTATIONS)
        edge_p = self.mutation_rate / 7
        op_p = self.mutation_rate / 5
        for _ in range(100_000):
            pad = rng.integers(0, 3, size=7 - arch.n).tolist()
            edges, ops = _embed7(arch, pad)
            ops_l = list(ops)
            flips = rng.random(21) < edge_p
            for k in np.flatnonzero(flips).tolist():
                i, j = TRIU7[k]
                edges ^= 1 << _bit(i, j)
            for v in range(5):
                if rng.random() < op_p:
                    ops_l[v] = (ops_l[v] + 1 + int(rng.integers(2))) % 3
            rec = _try(7, edges, tuple(ops_l))
            if rec is not None and rec != arch:
                return rec
        raise RuntimeError("the official NB101 mutation found no valid different cell in "
                           "100,000 tries")  # pragma: no cover

    def neighbours(self, arch: NB101Arch) -> list[NB101Arch]:
        """Cells one edge flip or op change away, valid, deduplicated by hash, fixed order
        (the 2-vertex cell: the three one vertex insertion away)."""
        out: dict[str, NB101Arch] = {}
        n = arch.n
        for i in range(n):
            for j in range(i + 1, n):
                rec = _try(n, arch.edges ^ (1 << _bit(i, j)), arch.ops)
                if rec is not None and rec != arch:
                    out.setdefault(rec.module_hash, rec)
        for v in range(n - 2):
            for o in range(3):
                if o != arch.ops[v]:
                    ops = arch.ops[:v] + (o,) + arch.ops[v + 1:]
                    rec = _try(n, arch.edges, ops)
                    if rec is not None and rec != arch:
                        out.setdefault(rec.module_hash, rec)
        if not out and n < MAX_VERTICES:  # only the 2-vertex cell: insert a vertex
            for o in range(3):
                e = 0
                for i, j in [(i, j if j < n - 1 else n) for i, j in arch.edge_list]:
                    e |= 1 << _bit(i, j)
                e |= (1 << _bit(0, n - 1)) | (1 << _bit(n - 1, n))
                ops = arch.ops + (o,)
                rec = _try(n + 1, e, ops)
                if rec is not None and rec != arch:
                    out.setdefault(rec.module_hash, rec)
        return list(out.values())

    # ----------------------------------------------------------------- encodings
    def encode(self, arch: NB101Arch, *, kind: EncodingKind = "adjacency",
               cutoff: int = 40) -> np.ndarray:
        """``"adjacency"`` (36 values), ``"path"`` (364) or ``"trunc_path"`` (``cutoff``,
        default 40); see the module docstring."""
        if kind == "adjacency":
            edges, ops = _embed7(arch)
            x = np.zeros(21 + 15)
            for k, (i, j) in enumerate(TRIU7):
                x[k] = edges >> _bit(i, j) & 1
            for v in range(arch.n - 2):
                x[21 + 3 * v + ops[v]] = 1.0
            return x
        if kind in ("path", "trunc_path"):
            x = np.zeros(N_PATHS)
            x[list(self.path_indices(arch))] = 1.0
            if kind == "trunc_path":
                if isinstance(cutoff, bool) or not isinstance(cutoff, int) or \
                        not 1 <= cutoff <= N_PATHS:
                    raise ValueError(f"cutoff must be an int in 1..{N_PATHS}, got {cutoff!r}")
                return x[:cutoff]
            return x
        raise unknown("NB101 encoding", kind, ["adjacency", "path", "trunc_path"])

    def path_indices(self, arch: NB101Arch) -> tuple[int, ...]:
        """naszilla's ``get_path_indices``: the sorted index of every input -> output path."""
        n = arch.n
        paths: list[list[list[int]]] = [[[]] if arch.edges >> _bit(0, j) & 1 else []
                                        for j in range(n)]
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                if arch.edges >> _bit(i, j) & 1:
                    for p in paths[i]:
                        paths[j].append([*p, arch.ops[i - 1]])
        idx = [sum(3**k * (o + 1) for k, o in enumerate(p)) for p in paths[n - 1]]
        return tuple(sorted(idx))

    # ------------------------------------------------------------- categorical view
    def as_categorical(self) -> CategoricalSpace:
        return CategoricalSpace(
            names=tuple(f"{i}-{j}" for i, j in TRIU7) + tuple(f"op{v}" for v in range(1, 6)),
            choices=(("0", "1"),) * 21 + (SHORT,) * 5)

    def from_categorical(self, values: Sequence[int]) -> NB101Arch:
        """The cell of 21 edge bits + 5 op indices (``ValueError`` if not a valid cell)."""
        vals = [int(v) for v in values]
        if len(vals) != 26:
            raise ValueError(f"NB101's categorical view has 26 variables (21 edges + 5 ops), "
                             f"got {len(vals)}")
        if any(v not in (0, 1) for v in vals[:21]) or any(v not in (0, 1, 2) for v in vals[21:]):
            raise ValueError(f"NB101 categorical values out of range: edges 0/1, ops 0..2; "
                             f"got {vals}")
        edges = 0
        for k, (i, j) in enumerate(TRIU7):
            if vals[k]:
                edges |= 1 << _bit(i, j)
        try:
            return _build(7, edges, tuple(vals[21:]))
        except _Invalid as e:
            raise ValueError(f"not a valid NB101 cell: {e}") from None

    def to_categorical(self, arch: NB101Arch) -> tuple[int, ...]:
        edges, ops = _embed7(arch)
        return (*(edges >> _bit(i, j) & 1 for i, j in TRIU7), *ops)

    def __repr__(self) -> str:
        if self.mutation == "neighbour" and self.mutation_rate == 1.0:
            return "NB101Space()"
        return f"NB101Space(mutation={self.mutation!r}, mutation_rate={self.mutation_rate})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, NB101Space) and other.mutation == self.mutation
                and other.mutation_rate == self.mutation_rate)

    def __hash__(self) -> int:
        return hash(("NB101Space", self.mutation, self.mutation_rate))
