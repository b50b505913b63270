"""Feature layouts: how an architecture becomes the fixed-length vector a surrogate regresses on.

A layout has a name, a version and its column names; a saved surrogate records all three (and a
hash of the columns), and loading refuses a model whose layout differs from the code's, since
its trees would read the wrong columns.

Layouts:

* ``"categorical"`` -- any space: one-hot of :meth:`SearchSpace.to_categorical` (one block per
  categorical variable of :meth:`SearchSpace.as_categorical`).  On NB201 this is the plain
  one-hot edge encoding (the issue's baseline, 30 columns).
* ``"darts-ops"`` -- DARTS only: the categorical one-hot plus each op's count per cell.
* ``"nb201-func"`` -- NB201 only: features of the function the cell computes, so that cells
  equal up to NB201's / the functional equivalence (see :mod:`benchbench.spaces.nb201`) get
  (nearly) equal vectors:

  - the one-hot of the *effective* ops (30): zeroed-edge propagation, an edge whose op is
    ``none``, whose input node is always zero or whose output node never reaches the cell's
    output computes nothing and is encoded as ``none``;
  - the path encoding of White et al., "BANANAS", AAAI 2021 (``path_encoding`` in
    naszilla/bananas ``nas_benchmarks/nas_201_api``-style cells): one count per op sequence of
    the live input->output paths, with ``skip_connect`` treated as the identity (dropped from
    the sequence, as in the functional canonical form), so 1 + 3 + 9 + 27 = 40 columns over
    (conv1x1, conv3x3, avg_pool);
  - op counts on live paths and summaries: live paths, live edges per op, raw edges per op
    (the parameter count is linear in the raw conv counts), the most / fewest parametric ops on
    a live path (depth), whether the output is always zero.

Rows are ``float32``; shape ``(n, len(columns))``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchbench.api import BenchmarkError, unknown
from benchbench.spaces import SearchSpace, is_enumerable

__all__ = ["FEATURE_LAYOUTS", "FeatureLayout", "get_layout", "layouts_for"]


@dataclass(frozen=True)
class FeatureLayout:
    """How archs of one space become feature rows.

    Attributes:
        name: registered name (recorded in a saved model's manifest).
        version: bumped whenever a column's meaning changes (a saved model with another
            version is refused).
        space: the space name it applies to (``"*"``: any space with a categorical view).
        columns: ``(space) -> column names``.
        rows: ``(space, archs) -> float32 array (n, len(columns))`` for parsed arch records.
    """

    name: str
    version: int
    space: str
    columns: Callable[[SearchSpace[Any]], tuple[str, ...]]
    rows: Callable[[SearchSpace[Any], Sequence[Any]], np.ndarray]
    description: str = ""

    def applies_to(self, space: SearchSpace[Any]) -> bool:
        return self.space in ("*", space.name)

    def columns_sha256(self, space: SearchSpace[Any]) -> str:
        """Hash of the column names (a saved model records it)."""
        return hashlib.sha256("\n".join(self.columns(space)).encode()).hexdigest()

    def encode(self, space: SearchSpace[Any], archs: Sequence[Any]) -> np.ndarray:
        """Feature rows of ``archs`` (records, ids or indices the space parses)."""
        if not self.applies_to(space):
            raise BenchmarkError(f"feature layout {self.name!r} is for space {self.space!r}, "
                                 f"not {space.name!r}")
        return self.rows(space, [space.parse(a) for a in archs])

    def encode_indices(self, space: SearchSpace[Any], indices: np.ndarray) -> np.ndarray:
        """Feature rows by index (enumerable spaces; cached table for the whole space)."""
        return _space_table(self, space)[np.asarray(indices, dtype=np.int64)]


_TABLES: dict[tuple[str, str], np.ndarray] = {}


def _space_table(layout: FeatureLayout, space: SearchSpace[Any]) -> np.ndarray:
    """Features of every cell of an enumerable space, by index (built once per process)."""
    key = (layout.name, space.name)
    got = _TABLES.get(key)
    if got is None:
        if not is_enumerable(space):
            raise BenchmarkError(f"space {space.name!r} cannot be enumerated")
        n = space.size  # type: ignore[attr-defined]
        got = layout.rows(space, [space.from_index(i) for i in range(n)])  # type: ignore[attr-defined]
        got.setflags(write=False)
        _TABLES[key] = got
    return got


# ------------------------------------------------------------------------------ categorical
def _cat_columns(space: SearchSpace[Any]) -> tuple[str, ...]:
    cat = space.as_categorical()
    return tuple(f"{n}={c}" for n, ch in zip(cat.names, cat.choices) for c in ch)


def _cat_rows(space: SearchSpace[Any], archs: Sequence[Any]) -> np.ndarray:
    cat = space.as_categorical()
    sizes = np.asarray(cat.sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    codes = np.array([space.to_categorical(a) for a in archs], dtype=np.int64).reshape(
        len(archs), len(sizes))
    x = np.zeros((len(archs), int(sizes.sum())), dtype=np.float32)
    np.put_along_axis(x, codes + offsets, 1.0, axis=1)
    return x


# ------------------------------------------------------------------------------ NB201
_NONE, _SKIP, _C1, _C3, _POOL = range(5)
#: input->output paths of the NB201 cell as edge positions (EDGES order
#: (1,0),(2,0),(2,1),(3,0),(3,1),(3,2)).
_PATHS: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))
_SEQ_OPS = (_C1, _C3, _POOL)
_SEQ_OFFSET = (0, 1, 4, 13)


def _seq_names() -> list[str]:
    import itertools

    short = {_C1: "c1", _C3: "c3", _POOL: "p"}
    out = ["id"]
    for n in (1, 2, 3):
        out += [">".join(short[o] for o in seq) for seq in itertools.product(_SEQ_OPS, repeat=n)]
    return out


@functools.cache
def _nb201_columns_cached() -> tuple[str, ...]:
    from benchbench.spaces.nb201 import EDGES, OPS

    eff = [f"eff{to}<-{fr}={op}" for to, fr in EDGES for op in OPS]
    paths = [f"path:{s}" for s in _seq_names()]
    summ = ["live_paths", *(f"live_{op}" for op in OPS[1:]), *(f"raw_{op}" for op in OPS),
            "max_depth", "min_depth", "zero_output"]
    return tuple(eff + paths + summ)


def _nb201_columns(space: SearchSpace[Any]) -> tuple[str, ...]:
    return _nb201_columns_cached()


def nb201_func_from_ops(ops: np.ndarray) -> np.ndarray:
    """The ``"nb201-func"`` rows of an ``(n, 6)`` int array of op indices (EDGES order)."""
    ops = np.asarray(ops, dtype=np.int64)
    n = len(ops)
    on = ops != _NONE
    # forward liveness: node j is non-zero if an edge with an op comes from a live node
    live1 = on[:, 0]
    live2 = (on[:, 1]) | (on[:, 2] & live1)
    live3 = on[:, 3] | (on[:, 4] & live1) | (on[:, 5] & live2)
    # backward: node reaches the output through edges with ops
    reach2 = on[:, 5]
    reach1 = on[:, 4] | (on[:, 2] & reach2)
    src_live = np.column_stack([np.ones(n, bool), np.ones(n, bool), live1, np.ones(n, bool),
                                live1, live2])
    dst_reach = np.column_stack([reach1, reach2, reach2, np.ones(n, bool), np.ones(n, bool),
                                 np.ones(n, bool)])
    eff_on = on & src_live & dst_reach & live3[:, None]
    eff = np.where(eff_on, ops, _NONE)
    x_eff = np.zeros((n, 30), dtype=np.float32)
    np.put_along_axis(x_eff, np.arange(6) * 5 + eff, 1.0, axis=1)
    # path encoding (skip as identity)
    x_path = np.zeros((n, 40), dtype=np.float32)
    depths = []
    live_paths = np.zeros(n)
    for path in _PATHS:
        pops = ops[:, list(path)]
        alive = (pops != _NONE).all(axis=1)
        par = (pops == _C1) | (pops == _C3) | (pops == _POOL)
        length = par.sum(axis=1)
        code = np.zeros(n, dtype=np.int64)
        for k in range(len(path)):  # base-3 code of the non-skip ops, in path order
            digit = np.where(pops[:, k] == _C1, 0, np.where(pops[:, k] == _C3, 1, 2))
            code = np.where(par[:, k], code * 3 + digit, code)
        col = np.asarray(_SEQ_OFFSET)[length] + code
        rows = np.nonzero(alive)[0]
        np.add.at(x_path, (rows, col[rows]), 1.0)
        live_paths += alive
        depths.append(np.where(alive, length, -1))
    d = np.column_stack(depths)
    max_depth = d.max(axis=1)
    min_depth = np.where((d >= 0).any(axis=1), np.where(d >= 0, d, 99).min(axis=1), -1)
    live_counts = np.column_stack([(eff == o).sum(axis=1) for o in range(1, 5)])
    raw_counts = np.column_stack([(ops == o).sum(axis=1) for o in range(5)])
    summ = np.column_stack([live_paths, live_counts, raw_counts, max_depth, min_depth,
                            ~live3]).astype(np.float32)
    return np.concatenate([x_eff, x_path, summ], axis=1)


def _nb201_rows(space: SearchSpace[Any], archs: Sequence[Any]) -> np.ndarray:
    ops = np.array([a.ops for a in archs], dtype=np.int64).reshape(len(archs), 6)
    return nb201_func_from_ops(ops)


# ------------------------------------------------------------------------------ DARTS
def _darts_op_vars(space: SearchSpace[Any]) -> list[tuple[int, str]]:
    cat = space.as_categorical()
    return [(i, n.split(".")[0]) for i, n in enumerate(cat.names)
            if n.endswith((".op_a", ".op_b"))]


def _darts_columns(space: SearchSpace[Any]) -> tuple[str, ...]:
    cat = space.as_categorical()
    ops = cat.choices[_darts_op_vars(space)[0][0]]
    cells = sorted({c for _, c in _darts_op_vars(space)})
    return _cat_columns(space) + tuple(f"count:{c}:{op}" for c in cells for op in ops)


def _darts_rows(space: SearchSpace[Any], archs: Sequence[Any]) -> np.ndarray:
    cat = space.as_categorical()
    opvars = _darts_op_vars(space)
    n_ops = len(cat.choices[opvars[0][0]])
    cells = sorted({c for _, c in opvars})
    codes = np.array([space.to_categorical(a) for a in archs], dtype=np.int64).reshape(
        len(archs), len(cat.names))
    counts = np.zeros((len(archs), len(cells) * n_ops), dtype=np.float32)
    for i, cell in opvars:
        np.add.at(counts, (np.arange(len(archs)), cells.index(cell) * n_ops + codes[:, i]), 1.0)
    return np.concatenate([_cat_rows(space, archs), counts], axis=1)


#: Registered feature layouts by name.
FEATURE_LAYOUTS: dict[str, FeatureLayout] = {
    "categorical": FeatureLayout(
        "categorical", 1, "*", _cat_columns, _cat_rows,
        "one-hot of each categorical variable of the space (NB201: the plain edge one-hot)"),
    "nb201-func": FeatureLayout(
        "nb201-func", 1, "nb201", _nb201_columns, _nb201_rows,
        "NB201 functional features: effective ops after zero propagation, skip-as-identity "
        "path encoding, op counts on live paths, depth"),
    "darts-ops": FeatureLayout(
        "darts-ops", 1, "darts", _darts_columns, _darts_rows,
        "DARTS: the categorical one-hot plus each op's count in the normal and the reduction "
        "cell"),
}


def get_layout(name: str) -> FeatureLayout:
    """The layout registered as ``name`` (clear error listing the others)."""
    try:
        return FEATURE_LAYOUTS[name]
    except KeyError:
        raise unknown("feature layout", name, sorted(FEATURE_LAYOUTS)) from None


def layouts_for(space: SearchSpace[Any]) -> list[str]:
    """Names of the layouts that apply to ``space`` (the space's own first)."""
    own = [n for n, lay in FEATURE_LAYOUTS.items() if lay.space == space.name]
    return own + [n for n, lay in FEATURE_LAYOUTS.items() if lay.space == "*"]
