"""The DARTS / NAS-Bench-301 search space (Liu, Simonyan & Yang, ICLR 2019; Siems et al. 2020).

A DARTS architecture is two cells, a *normal* and a *reduction* cell, of the same shape.  A
cell has two input nodes (0 = the output of the cell before the previous one, 1 = the output
of the previous cell) and four intermediate nodes 2..5; node ``k`` sums two ops applied to two
**distinct** earlier nodes ``i < k``; the cell's output concatenates nodes 2..5.  The ops are
the 7 of NAS-Bench-301 (DARTS's 8 without ``none``), coded in NASLib's / naszilla's order:

====  ================
code  op
====  ================
0     ``max_pool_3x3``
1     ``avg_pool_3x3``
2     ``skip_connect``
3     ``sep_conv_3x3``
4     ``sep_conv_5x5``
5     ``dil_conv_3x3``
6     ``dil_conv_5x5``
====  ================

(This order is the one of NASLib's ``convert_genotype_to_compact`` and naszilla's
``Cell301``; it was checked on the 725 NB301 cells of NAS-Bench-Suite-Zero: the parameter
count of the network built with it equals their ``params`` field for every cell.)

A :class:`DartsArch` holds, per cell, 8 ``(input, op)`` pairs, two per node in node order.
The two inputs of a node are **unordered** (the node is a sum), so the record keeps them
sorted by input: ``DartsArch`` normalises on construction, and two records of the same cell
are equal.

The id (:meth:`DartsSpace.arch_id`) lists each cell's nodes 2..5, separated by ``|``, each
node as its two ``op~input`` terms joined by ``+`` in increasing input order::

    normal:sep_conv_3x3~0+sep_conv_3x3~1|sep_conv_3x3~0+sep_conv_3x3~1|...;reduce:max_pool_3x3~0+...

:meth:`DartsSpace.parse` also reads the DARTS ``Genotype(normal=[('sep_conv_3x3', 0), ...],
normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))`` text (and any object with
``normal`` / ``reduce`` attributes such as DARTS's namedtuple), NASLib's compact form
``[[(input, op_code) x 8], [(input, op_code) x 8]]`` (string or nested sequences; the keys of
NAS-Bench-Suite-Zero's ``darts_725_with_zc.json``) and the NB301 ConfigSpace dict
(``NetworkSelectorDatasetInfo:darts:edge_normal_0`` ... ``inputs_node_reduce_5``; YAHPO Gym's
``_COLON_`` spelling of ``:`` too).  Config edge numbering: node 2 has edges 0, 1 (inputs 0,
1), node 3 edges 2..4 (inputs 0..2), node 4 edges 5..8, node 5 edges 9..13;
``inputs_node_<cell>_<k>`` is ``"a_b"`` with ``a < b``.

:meth:`DartsSpace.canonical_id` goes further than the id: intermediate nodes that are not
ordered by the cell's edges can be renumbered without changing the network (the output
concatenation's channel order changes, which the following 1x1 convolutions absorb), so the
canonical id is the smallest id over the renumberings of nodes 2..5 that keep every input
earlier than its node, taken for each cell separately.

Size: node ``k`` chooses an unordered pair of distinct inputs among ``k`` nodes and an op for
each, ``C(k, 2) * 7**2`` choices; a cell has ``1 * 3 * 6 * 10 * 7**8 = 1,037,664,180``
(:data:`N_CELL`), the space ``N_CELL**2 = 1,076,746,950,455,072,400`` (:data:`N_ARCHS`, about
1.1e18) architectures.  It is not enumerable.
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from benchbench.spaces._base import CategoricalSpace, SearchSpace

__all__ = ["CELLS", "CONFIG_PREFIX", "DartsArch", "DartsSpace", "ENCODINGS", "N_ARCHS",
           "N_CELL", "N_NODES", "N_OPS", "OPS", "config_edge", "parse_genotype"]

OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                        "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
N_OPS = len(OPS)
#: Intermediate nodes per cell (2..5).
N_NODES = 4
CELLS: tuple[str, ...] = ("normal", "reduce")
#: Cells per DARTS cell type: prod over nodes of C(k, 2) * 7^2.
N_CELL: int = math.prod(math.comb(k, 2) * N_OPS**2 for k in range(2, 2 + N_NODES))
#: Architectures in the space (a normal and a reduction cell).
N_ARCHS: int = N_CELL**2
#: The key prefix of the NB301 ConfigSpace (YAHPO writes ``:`` as ``_COLON_``).
CONFIG_PREFIX = "NetworkSelectorDatasetInfo:darts:"
#: The encodings :meth:`DartsSpace.encode` offers, the default first.
ENCODINGS: tuple[str, ...] = ("one-hot", "adjacency")
EncodingKind = Literal["one-hot", "adjacency"]

_OP_INDEX = {o: i for i, o in enumerate(OPS)}
#: First config edge index of node k (2..5): 0, 2, 5, 9.
_EDGE_START = {k: (k - 2) * (k + 1) // 2 for k in range(2, 2 + N_NODES)}
_N_EDGES = sum(range(2, 2 + N_NODES))  # 14 possible edges per cell

Cell = tuple[tuple[int, int], ...]


def config_edge(node: int, source: int) -> int:
    """The NB301 ConfigSpace edge number of the edge ``source -> node`` (node 2..5)."""
    return _EDGE_START[node] + source


def _bad(msg: str) -> ValueError:
    return ValueError(f"bad DARTS cell: {msg}")


def _as_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise _bad(f"{what} must be an int, got {v!r}")
    return int(v)


def _canon_cell(cell: Any, name: str) -> Cell:
    """Validate one cell's 8 (input, op) pairs and sort each node's two pairs by input."""
    if isinstance(cell, (str, bytes)) or not isinstance(cell, Sequence):
        raise _bad(f"the {name} cell must be a sequence of 8 (input, op) pairs, got {cell!r}")
    if len(cell) != 2 * N_NODES:
        raise _bad(f"the {name} cell has {len(cell)} (input, op) pairs; a DARTS cell has "
                   f"{2 * N_NODES} (two for each of the {N_NODES} intermediate nodes 2..5)")
    out: list[tuple[int, int]] = []
    for n in range(N_NODES):
        node = n + 2
        pair: list[tuple[int, int]] = []
        for j in (2 * n, 2 * n + 1):
            e = cell[j]
            if isinstance(e, (str, bytes)) or not isinstance(e, Sequence) or len(e) != 2:
                raise _bad(f"{name} edge {j} must be an (input, op) pair, got {e!r}")
            src = _as_int(e[0], f"{name} edge {j}'s input")
            op = _as_int(e[1], f"{name} edge {j}'s op code")
            if not 0 <= src < node:
                raise _bad(f"{name} node {node} takes input {src}; allowed: 0..{node - 1} "
                           f"(an earlier node)")
            if not 0 <= op < N_OPS:
                raise _bad(f"{name} edge {j} has op code {op}; allowed: 0..{N_OPS - 1} "
                           f"({', '.join(OPS)})")
            pair.append((src, op))
        if pair[0][0] == pair[1][0]:
            raise _bad(f"{name} node {node} has two identical inputs ({pair[0][0]}); its two "
                       f"inputs must be distinct nodes")
        out.extend(sorted(pair))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class DartsArch:
    """One DARTS architecture: ``normal`` and ``reduce`` hold 8 ``(input, op)`` pairs each,
    two per intermediate node (2, 2, 3, 3, 4, 4, 5, 5), ``op`` an index into :data:`OPS`.

    Construction validates (one-line ``ValueError`` naming the problem) and sorts each node's
    two pairs by input, so that equal cells give equal records.
    """

    normal: Cell
    reduce: Cell

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", _canon_cell(self.normal, "normal"))
        object.__setattr__(self, "reduce", _canon_cell(self.reduce, "reduce"))

    def cell(self, which: str) -> Cell:
        if which == "normal":
            return self.normal
        if which == "reduce":
            return self.reduce
        raise ValueError(f"unknown DARTS cell {which!r}; allowed: 'normal', 'reduce'")

    def genotype(self) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """``(normal, reduce)`` as DARTS genotype lists ``[(op_name, input), ...]``."""
        return ([(OPS[o], i) for i, o in self.normal], [(OPS[o], i) for i, o in self.reduce])

    def __str__(self) -> str:
        return _format_id(self)


# ---------------------------------------------------------------------------- formats
@functools.lru_cache(maxsize=1 << 17)
def _format_id(a: DartsArch) -> str:
    parts = []
    for name in CELLS:
        c = a.cell(name)
        nodes = ["+".join(f"{OPS[c[j][1]]}~{c[j][0]}" for j in (2 * n, 2 * n + 1))
                 for n in range(N_NODES)]
        parts.append(f"{name}:" + "|".join(nodes))
    return ";".join(parts)


_ID_RE = re.compile(r"^normal:(?P<normal>[^;]*);reduce:(?P<reduce>[^;]*)$")


def _parse_id(s: str) -> DartsArch:
    m = _ID_RE.match(s)
    if m is None:
        raise _bad(f"{s!r} is not a DARTS id ('normal:op~i+op~j|...;reduce:...'), a "
                   f"Genotype(...) text or NASLib's compact form '[[(input, op), ...], [...]]'")
    cells = []
    for name in CELLS:
        nodes = m.group(name).split("|")
        if len(nodes) != N_NODES:
            raise _bad(f"the {name} cell of {s!r} has {len(nodes)} nodes separated by '|'; "
                       f"a DARTS cell has {N_NODES} (nodes 2..5)")
        cell: list[tuple[int, int]] = []
        for k, node in enumerate(nodes, start=2):
            terms = node.split("+")
            if len(terms) != 2:
                raise _bad(f"{name} node {k} {node!r} needs two 'op~input' terms joined by "
                           f"'+', got {len(terms)}")
            for t in terms:
                op, sep, src = t.partition("~")
                if not sep or not src.isdigit():
                    raise _bad(f"{name} node {k}: term {t!r} must be 'op~input'")
                if op not in _OP_INDEX:
                    raise _bad(f"{name} node {k}: unknown op {op!r}; allowed: "
                               f"{', '.join(OPS)}")
                cell.append((int(src), _OP_INDEX[op]))
        cells.append(cell)
    return DartsArch(tuple(cells[0]), tuple(cells[1]))


def _literal(node: ast.AST, text: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise _bad(f"cannot read {ast.unparse(node)!r} in {text!r} as a literal") from None


def _concat(node: ast.AST, text: str, key: str) -> list[int]:
    """``range(2, 6)`` or a literal list of node indices."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "range" and not node.keywords:
        args = [_literal(a, text) for a in node.args]
        if not all(isinstance(a, int) for a in args) or not 1 <= len(args) <= 3:
            raise _bad(f"{key}={ast.unparse(node)} is not a range of ints")
        return list(range(*args))
    v = _literal(node, text)
    if not isinstance(v, (list, tuple)):
        raise _bad(f"{key} must be range(2, 6) or a list of nodes, got {v!r}")
    return list(v)


def _genotype_cell(v: Any, name: str) -> Cell:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        raise _bad(f"Genotype {name} must be a list of (op_name, input) pairs, got {v!r}")
    cell = []
    for j, e in enumerate(v):
        if isinstance(e, (str, bytes)) or not isinstance(e, Sequence) or len(e) != 2:
            raise _bad(f"Genotype {name}[{j}] must be an (op_name, input) pair, got {e!r}")
        op, src = e
        if not isinstance(op, str) or op not in _OP_INDEX:
            raise _bad(f"Genotype {name}[{j}] has unknown op {op!r}; allowed: "
                       f"{', '.join(OPS)}")
        cell.append((src, _OP_INDEX[op]))
    return tuple(cell)


def _from_genotype_fields(fields: Mapping[str, Any]) -> DartsArch:
    for key in ("normal_concat", "reduce_concat"):
        if key in fields and fields[key] is not None \
                and list(fields[key]) != list(range(2, 2 + N_NODES)):
            raise _bad(f"{key}={list(fields[key])}; the NB301 space concatenates every "
                       f"intermediate node: [2, 3, 4, 5]")
    missing = [k for k in CELLS if k not in fields]
    if missing:
        raise _bad(f"Genotype lacks {', '.join(missing)}")
    return DartsArch(_genotype_cell(fields["normal"], "normal"),
                     _genotype_cell(fields["reduce"], "reduce"))


def parse_genotype(text: str) -> DartsArch:
    """Read the DARTS ``Genotype(normal=[...], normal_concat=..., reduce=[...],
    reduce_concat=...)`` text (``genotypes.py`` of quark0/darts; keyword or positional
    fields; ``range(2, 6)`` or a list for the concats), without evaluating code."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise _bad(f"{text!r} is not a Genotype(...) expression") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, (ast.Name, ast.Attribute))):
        raise _bad(f"{text!r} is not a Genotype(...) expression")
    order = ("normal", "normal_concat", "reduce", "reduce_concat")
    if len(tree.args) > len(order):
        raise _bad(f"Genotype takes 4 fields {order}, got {len(tree.args)} positional")
    fields: dict[str, Any] = {}
    for key, node in list(zip(order, tree.args)) + [(k.arg or "", k.value)
                                                   for k in tree.keywords]:
        if key not in order:
            raise _bad(f"unknown Genotype field {key!r}; allowed: {', '.join(order)}")
        fields[key] = _concat(node, text, key) if key.endswith("concat") \
            else _literal(node, text)
    return _from_genotype_fields(fields)


def _from_compact(v: Any) -> DartsArch:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) != 2:
        raise _bad(f"NASLib's compact form is [normal, reduce], two lists of 8 (input, op) "
                   f"pairs; got {v!r}")
    return DartsArch(tuple(v[0]), tuple(v[1]))


def _norm_key(key: str) -> str:
    return key.replace("_COLON_", ":")


def _from_config(cfg: Mapping[str, Any]) -> DartsArch:
    """Read the NB301 ConfigSpace dict (keys outside the cell choices are ignored)."""
    d = {_norm_key(str(k)): v for k, v in cfg.items()}
    cells = []
    for name in CELLS:
        cell: list[tuple[int, int]] = []
        used: set[int] = set()
        for k in range(2, 2 + N_NODES):
            if k == 2:
                inputs: tuple[int, ...] = (0, 1)
            else:
                key = f"{CONFIG_PREFIX}inputs_node_{name}_{k}"
                if key not in d:
                    raise _bad(f"config lacks {key!r}")
                val = d[key]
                m = re.fullmatch(r"(\d+)_(\d+)", str(val))
                if m is None:
                    raise _bad(f"{key}={val!r} must be 'a_b' with inputs a < b < {k}")
                inputs = (int(m.group(1)), int(m.group(2)))
                if not inputs[0] < inputs[1] < k:
                    raise _bad(f"{key}={val!r}: inputs must be a < b < {k}")
            for src in inputs:
                e = config_edge(k, src)
                key = f"{CONFIG_PREFIX}edge_{name}_{e}"
                op = d.get(key)
                if op is None:
                    raise _bad(f"config lacks {key!r} (node {k}'s input {src})")
                if op not in _OP_INDEX:
                    raise _bad(f"{key}={op!r} is not an op; allowed: {', '.join(OPS)}")
                cell.append((src, _OP_INDEX[op]))
                used.add(e)
        for e in range(_N_EDGES):
            key = f"{CONFIG_PREFIX}edge_{name}_{e}"
            if e not in used and d.get(key) not in (None, "#na#"):
                raise _bad(f"config sets {key}={d[key]!r}, an edge its node's "
                           f"inputs_node_{name}_* does not choose")
        cells.append(tuple(cell))
    return DartsArch(cells[0], cells[1])


# ---------------------------------------------------------------------- canonical
def _valid_orders() -> list[tuple[int, ...]]:
    """Renumberings of nodes 2..5 (as perms of 0..3)."""
    return list(itertools.permutations(range(N_NODES)))


def _relabel(cell: Cell, perm: Sequence[int]) -> Cell | None:
    """The cell with old node ``2+i`` renamed ``2+perm[i]``; None if some input would come
    from a later node."""
    new: dict[int, list[tuple[int, int]]] = {}
    for n in range(N_NODES):
        dst = 2 + perm[n]
        for src, op in cell[2 * n:2 * n + 2]:
            s = src if src < 2 else 2 + perm[src - 2]
            if s >= dst:
                return None
            new.setdefault(dst, []).append((s, op))
    out: list[tuple[int, int]] = []
    for k in range(2, 2 + N_NODES):
        out.extend(sorted(new[k]))
    return tuple(out)


def _canonical_cell(cell: Cell) -> Cell:
    best = cell
    for perm in _PERMS:
        c = _relabel(cell, perm)
        if c is not None and c < best:
            best = c
    return best


_PERMS = _valid_orders()


# ------------------------------------------------------------------------ the space
class DartsSpace(SearchSpace[DartsArch]):
    """The DARTS / NAS-Bench-301 space (about 1.1e18 cells, not enumerable).  Stateless;
    all randomness comes from the caller."""

    name = "darts"
    ops = OPS
    #: Number of architectures (exact): :data:`N_ARCHS`.
    n_archs = N_ARCHS
    encodings = ENCODINGS

    # ----------------------------------------------------------------- conversions
    def parse(self, arch: Any) -> DartsArch:
        """A :class:`DartsArch` from a record, an id string, a ``Genotype(...)`` text or
        object (``normal`` / ``reduce`` attributes), NASLib's compact form (string or nested
        sequences) or an NB301 ConfigSpace dict.  Bad input raises a one-line
        ``ValueError`` naming the problem."""
        if isinstance(arch, DartsArch):
            return arch
        if isinstance(arch, str):
            s = arch.strip()
            if s.startswith("normal:"):
                return _parse_id(s)
            if s.startswith(("[", "(")):
                try:
                    v = ast.literal_eval(s)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    raise _bad(f"{arch!r} is not NASLib's compact form "
                               f"'[[(input, op), ...], [...]]'") from None
                return _from_compact(v)
            if re.match(r"^[A-Za-z_][\w.]*\s*\(", s):
                return parse_genotype(s)
            raise _bad(f"{arch!r} is not a DARTS id ('normal:op~i+op~j|...;reduce:...'), a "
                       f"Genotype(...) text or NASLib's compact form "
                       f"'[[(input, op), ...], [...]]'")
        if isinstance(arch, Mapping):
            return _from_config(arch)
        if hasattr(arch, "normal") and hasattr(arch, "reduce"):
            return _from_genotype_fields({
                k: getattr(arch, k, None)
                for k in ("normal", "normal_concat", "reduce", "reduce_concat")})
        if isinstance(arch, (list, tuple, np.ndarray)):
            return _from_compact(arch.tolist() if isinstance(arch, np.ndarray) else arch)
        raise TypeError(f"cannot read a DARTS cell from {type(arch).__name__} {arch!r}; give "
                        f"a DartsArch, an id, a Genotype, NASLib's compact form or an NB301 "
                        f"config dict")

    def arch_id(self, arch: DartsArch) -> str:
        return _format_id(arch)

    def format(self, arch: DartsArch) -> str:
        """The DARTS ``Genotype(...)`` text (as in DARTS's ``genotypes.py``)."""
        normal, reduce = arch.genotype()
        return (f"Genotype(normal={normal}, normal_concat=range(2, 6), "
                f"reduce={reduce}, reduce_concat=range(2, 6))")

    def to_compact(self, arch: DartsArch) -> tuple[Cell, Cell]:
        """NASLib's compact form ``((input, op) x 8, (input, op) x 8)`` (inputs sorted per
        node).  ``str(list(map(list, ...)))`` of it is the key format of
        ``darts_725_with_zc.json`` up to that order."""
        return (arch.normal, arch.reduce)

    def to_config(self, arch: DartsArch, *, colon: str = ":") -> dict[str, str]:
        """The NB301 ConfigSpace dict of ``arch`` (active choices only; ``colon="_COLON_"``
        gives YAHPO Gym's spelling)."""
        prefix = CONFIG_PREFIX.replace(":", colon)
        out: dict[str, str] = {}
        for name in CELLS:
            c = arch.cell(name)
            for n in range(N_NODES):
                k = n + 2
                (a, oa), (b, ob) = c[2 * n], c[2 * n + 1]
                out[f"{prefix}edge_{name}_{config_edge(k, a)}"] = OPS[oa]
                out[f"{prefix}edge_{name}_{config_edge(k, b)}"] = OPS[ob]
                if k > 2:
                    out[f"{prefix}inputs_node_{name}_{k}"] = f"{a}_{b}"
        return out

    def canonical_id(self, arch: DartsArch) -> str:
        """The smallest id over renumberings of the intermediate nodes that keep every input
        earlier than its node (each cell separately): cells that differ only by such a
        renumbering build the same network up to a permutation of channels."""
        return _canon_id(arch)

    # ------------------------------------------------------------------ sampling
    def sample(self, rng: np.random.Generator) -> DartsArch:
        """Uniform over the space: for each cell and node ``k``, two distinct inputs drawn
        without replacement among ``0..k-1`` and an op for each drawn uniformly (NASLib's
        ``DartsSearchSpace.sample_random_architecture`` and naszilla's
        ``Cell301.random_cell``, after DARTS's ``random`` baseline)."""
        ops = rng.integers(N_OPS, size=(2, 2 * N_NODES)).tolist()
        cells = []
        for c in range(2):
            cell = []
            for n in range(N_NODES):
                a, b = rng.choice(n + 2, size=2, replace=False).tolist()
                cell.extend([(a, ops[c][2 * n]), (b, ops[c][2 * n + 1])])
            cells.append(tuple(cell))
        return DartsArch(cells[0], cells[1])

    def mutate(self, arch: DartsArch, rng: np.random.Generator) -> DartsArch:
        """One of :meth:`neighbours`, drawn by naszilla's DARTS mutation conditioned on a
        change.

        Reference: ``Cell301.mutate`` in ``naszilla/nas_bench_301/cell_301.py`` of
        naszilla/naszilla and ``DartsSearchSpace.mutate`` in NASLib's
        ``search_spaces/darts/graph.py``, mutation rate 1: a cell uniformly, one of its 8
        (input, op) pairs uniformly, then with probability 1/2
        a new op uniform over the 7, else a new input uniform over the node's ``k`` possible
        inputs, kept only if it differs from the other pair's input.  The reference can
        return the parent unchanged (same op or refused input); here the draw is repeated
        until the cell changes, i.e. the reference's operator conditioned on a change: an op
        change is uniform over the 6 other ops, an input change uniform over the inputs not
        used by the node.  (naszilla draws the pair with ``np.random.choice(len(OPS))``, 7,
        so it never mutates the last pair; NASLib and benchbench draw among all 8.)
        """
        cells = [list(arch.normal), list(arch.reduce)]
        while True:
            c = int(rng.integers(2))
            j = int(rng.integers(2 * N_NODES))
            src, op = cells[c][j]
            if int(rng.integers(2)) == 1:
                new_op = int(rng.integers(N_OPS))
                if new_op == op:
                    continue
                cells[c][j] = (src, new_op)
            else:
                k = j // 2 + 2
                choice = int(rng.integers(k))
                other = cells[c][j ^ 1][0]
                if choice in (src, other):
                    continue
                cells[c][j] = (choice, op)
            return DartsArch(tuple(cells[0]), tuple(cells[1]))

    def neighbours(self, arch: DartsArch) -> list[DartsArch]:
        """The 120 architectures one mutation away (naszilla's ``get_neighborhood``, not
        shuffled): for each cell, node and pair, the 6 other ops, then the inputs the node
        does not use (96 op and 24 input changes).  Order: cell, pair, ops before inputs."""
        out: list[DartsArch] = []
        base = (list(arch.normal), list(arch.reduce))
        for c in range(2):
            for j in range(2 * N_NODES):
                src, op = base[c][j]
                other = base[c][j ^ 1][0]
                changes = [(src, o) for o in range(N_OPS) if o != op]
                changes += [(s, op) for s in range(j // 2 + 2) if s not in (src, other)]
                for new in changes:
                    cells = [list(base[0]), list(base[1])]
                    cells[c][j] = new
                    out.append(DartsArch(tuple(cells[0]), tuple(cells[1])))
        return out

    # ------------------------------------------------------------------ encodings
    def encode(self, arch: DartsArch, kind: EncodingKind = "one-hot") -> np.ndarray:
        """A fixed-length float vector (``kind``, :data:`ENCODINGS`):

        * ``"one-hot"`` (default), shape ``(196,)``: for each cell (normal, reduce) and each
          of its 14 possible edges in NB301's ConfigSpace order (:func:`config_edge`), a
          one-hot of the edge's op (7), all zero if the edge is not chosen.  Invariant to
          the order of a node's two inputs.
        * ``"adjacency"``, shape ``(114,)``: BANANAS's DARTS adjacency encoding
          (``Cell301.encode_adj`` of naszilla, NASLib's ``encode_adj`` for DARTS): per
          cell, the 7x7 adjacency matrix (inputs 0, 1, nodes 2..5, output 6; nodes 2..5
          feed the output) flattened row-major, then the 8 op codes (pairs in the record's
          order: inputs sorted per node).
        """
        if kind == "one-hot":
            x = np.zeros(2 * _N_EDGES * N_OPS)
            for c, name in enumerate(CELLS):
                cell = arch.cell(name)
                for j, (src, op) in enumerate(cell):
                    e = config_edge(j // 2 + 2, src)
                    x[(c * _N_EDGES + e) * N_OPS + op] = 1.0
            return x
        if kind == "adjacency":
            parts = []
            for name in CELLS:
                cell = arch.cell(name)
                m = np.zeros((N_NODES + 3, N_NODES + 3))
                for j, (src, _) in enumerate(cell):
                    m[src, j // 2 + 2] = 1.0
                m[2:2 + N_NODES, -1] = 1.0
                parts += [m.ravel(), np.asarray([op for _, op in cell], dtype=float)]
            return np.concatenate(parts)
        raise ValueError(f"unknown DARTS encoding {kind!r}; allowed: {', '.join(ENCODINGS)}")

    # ------------------------------------------------------------- categorical view
    def as_categorical(self) -> CategoricalSpace:
        """22 independent variables, every combination a valid cell: for each cell and
        node ``k``, ``<cell>.n<k>.inputs`` (the unordered input pair ``"a_b"``, nodes 3..5
        only; node 2 always takes 0 and 1), ``<cell>.n<k>.op_a`` (the op on the smaller
        input) and ``<cell>.n<k>.op_b`` (on the larger).  Uniform choices give the uniform
        distribution over the space."""
        return _categorical()

    def from_categorical(self, values: Sequence[int]) -> DartsArch:
        n_vars = len(_categorical().names)
        if len(values) != n_vars:
            raise ValueError(f"a DARTS categorical point has {n_vars} values, got "
                             f"{len(values)}")
        vals = [int(v) for v in values]
        sizes = _categorical().sizes
        for i, (v, size) in enumerate(zip(vals, sizes)):
            if not 0 <= v < size:
                raise ValueError(f"categorical variable {_categorical().names[i]} has "
                                 f"{size} choices, got index {v}")
        it = iter(vals)
        cells = []
        for _ in CELLS:
            cell: list[tuple[int, int]] = []
            for k in range(2, 2 + N_NODES):
                a, b = (0, 1) if k == 2 else _pairs(k)[next(it)]
                cell += [(a, next(it)), (b, next(it))]
            cells.append(tuple(cell))
        return DartsArch(cells[0], cells[1])

    def to_categorical(self, arch: DartsArch) -> tuple[int, ...]:
        out: list[int] = []
        for name in CELLS:
            c = arch.cell(name)
            for n in range(N_NODES):
                k = n + 2
                (a, oa), (b, ob) = c[2 * n], c[2 * n + 1]
                if k > 2:
                    out.append(_pairs(k).index((a, b)))
                out += [oa, ob]
        return tuple(out)

    def __repr__(self) -> str:
        return "DartsSpace()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DartsSpace)

    def __hash__(self) -> int:
        return hash("DartsSpace")


@functools.cache
def _pairs(k: int) -> list[tuple[int, int]]:
    """The unordered input pairs of node ``k`` in NB301's ConfigSpace order (0_1, 0_2, ...)."""
    return list(itertools.combinations(range(k), 2))


@functools.cache
def _categorical() -> CategoricalSpace:
    names: list[str] = []
    choices: list[tuple[str, ...]] = []
    for name in CELLS:
        for k in range(2, 2 + N_NODES):
            if k > 2:
                names.append(f"{name}.n{k}.inputs")
                choices.append(tuple(f"{a}_{b}" for a, b in _pairs(k)))
            names += [f"{name}.n{k}.op_a", f"{name}.n{k}.op_b"]
            choices += [OPS, OPS]
    return CategoricalSpace(names=tuple(names), choices=tuple(choices))


@functools.lru_cache(maxsize=65536)
def _canon_id(arch: DartsArch) -> str:
    return _format_id(DartsArch(_canonical_cell(arch.normal), _canonical_cell(arch.reduce)))
