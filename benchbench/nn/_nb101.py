"""The NAS-Bench-101 network, as the official ``nasbench/lib/model_builder.py`` builds it.

* stem: ``Conv3x3(3 -> 128, no bias) + BN + ReLU``;
* ``stacks`` (3) stacks of ``modules_per_stack`` (3) modules; before every stack but the first
  a ``MaxPool 2x2 / 2`` and the channel count doubles (128, 256, 512);
* head: global average pooling and ``Linear(512 -> num_classes)`` (with bias).

A module (``build_module``) with ``C`` output channels on a pruned spec of ``V`` vertices:
vertex channels from ``compute_vertex_channels`` (the ``C`` output channels split evenly over
the vertices feeding the output, the first ``C mod k`` of them in vertex order getting one
extra, every other vertex the max of its successors); a vertex's input is the sum of its
interior predecessors' outputs, truncated to its channel count (the first channels), plus a
``1x1 conv-BN-ReLU`` projection of the module input when the input feeds it; ops
``conv3x3-bn-relu`` / ``conv1x1-bn-relu`` are conv (no bias) - BN - ReLU to the vertex's
channels, ``maxpool3x3`` is a 3x3 / 1 max pool ('same' padding, channels unchanged); the output
concatenates the vertices feeding it (in vertex order) and adds a projection of the module
input to ``C`` channels when the input feeds the output directly (or is the only thing that
does).  BatchNorm: momentum 0.997 in TensorFlow's convention (PyTorch ``momentum=0.003``),
epsilon 1e-5, affine.

Parameter counts equal the ``params`` field of all 500 NASLib cells of
``nb101_500_with_zc.json`` when each is built from the spec **in the vertex order given**: the
channel split gives the extra channels to the first vertices in order, so two isomorphic specs
(one module hash) can differ by a few hundred parameters.  An :class:`~benchbench.spaces.
NB101Arch` is built in its canonical order (not necessarily the order the official data
stored); give the ``{"matrix", "ops"}`` dict to build a specific order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchbench.nn._torch import require_torch

torch = require_torch()
nn: Any = torch.nn

__all__ = ["NB101Module", "NB101Network", "build_nb101", "compute_vertex_channels",
           "pruned_spec"]

_BN = {"momentum": 1.0 - 0.997, "eps": 1e-5}


def pruned_spec(arch: Any) -> tuple[np.ndarray, list[str]]:
    """``(matrix, ops)`` of ``arch`` pruned as the official ``ModelSpec._prune`` does, in the
    given vertex order (a record: its canonical order).  Validates through
    :meth:`~benchbench.spaces.NB101Space.parse`."""
    from benchbench.spaces.nb101 import NB101Arch, NB101Space

    rec = NB101Space().parse(arch)  # raises a one-line error for a bad cell
    if isinstance(arch, NB101Arch) or isinstance(arch, str) and not arch.startswith("("):
        return rec.matrix.astype(np.int64), rec.op_names
    if isinstance(arch, str):  # NASLib tuple string
        vals = [int(x) for x in arch.strip()[1:-1].split(",")]
        arch = vals
    if isinstance(arch, dict):
        m = np.asarray(arch["matrix"], dtype=np.int64)
        ops = list(arch["ops"])
    else:
        from benchbench.spaces.nb101 import NASLIB_OPS

        vals = [int(x) for x in arch]
        m = np.asarray(vals[:49], dtype=np.int64).reshape(7, 7)
        ops = [NASLIB_OPS[c] for c in vals[49:]]
    n = m.shape[0]
    fwd, stack = {0}, [0]
    while stack:
        t = stack.pop()
        for v in range(t + 1, n):
            if m[t, v] and v not in fwd:
                fwd.add(v)
                stack.append(v)
    bwd, stack = {n - 1}, [n - 1]
    while stack:
        t = stack.pop()
        for v in range(t):
            if m[v, t] and v not in bwd:
                bwd.add(v)
                stack.append(v)
    keep = sorted(fwd & bwd)
    short = {"conv3x3": "conv3x3-bn-relu", "conv1x1": "conv1x1-bn-relu"}
    return m[np.ix_(keep, keep)], [short.get(ops[k], ops[k]) for k in keep]


def compute_vertex_channels(input_channels: int, output_channels: int,
                            matrix: np.ndarray) -> list[int]:
    """Channels of every vertex (the official ``compute_vertex_channels``, step for step)."""
    n = matrix.shape[0]
    vc = [0] * n
    vc[0] = input_channels
    vc[n - 1] = output_channels
    if n == 2:
        return vc
    in_degree = matrix[1:].sum(axis=0)
    interior = output_channels // int(in_degree[n - 1])
    correction = output_channels % int(in_degree[n - 1])
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            vc[v] = interior
            if correction:
                vc[v] += 1
                correction -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    vc[v] = max(vc[v], vc[dst])
        assert vc[v] > 0
    return vc


class _ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, **_BN), nn.ReLU(inplace=False))


class NB101Module(nn.Module):
    """One module (cell) of a pruned spec, ``c_in -> c_out`` channels (module docstring)."""

    def __init__(self, matrix: np.ndarray, ops: list[str], c_in: int, c_out: int) -> None:
        super().__init__()
        self.matrix = np.asarray(matrix, dtype=np.int64)
        n = self.n = self.matrix.shape[0]
        self.vc = compute_vertex_channels(c_in, c_out, self.matrix)
        self.proj = nn.ModuleDict()
        self.ops = nn.ModuleDict()
        for t in range(1, n - 1):
            if self.matrix[0, t]:
                self.proj[str(t)] = _ConvBNReLU(c_in, self.vc[t], 1)
            op = ops[t]
            if op == "conv3x3-bn-relu":
                self.ops[str(t)] = _ConvBNReLU(self.vc[t], self.vc[t], 3)
            elif op == "conv1x1-bn-relu":
                self.ops[str(t)] = _ConvBNReLU(self.vc[t], self.vc[t], 1)
            elif op == "maxpool3x3":
                self.ops[str(t)] = nn.MaxPool2d(3, stride=1, padding=1)
            else:
                raise ValueError(f"unknown NB101 op {op!r}")
        self.out_concat = [t for t in range(1, n - 1) if self.matrix[t, n - 1]]
        if self.matrix[0, n - 1] or not self.out_concat:
            self.proj[str(n - 1)] = _ConvBNReLU(c_in, c_out, 1)

    def forward(self, x: Any) -> Any:
        n, m, vc = self.n, self.matrix, self.vc
        tensors = [x]
        for t in range(1, n - 1):
            add_in = [tensors[s][:, :vc[t]] for s in range(1, t) if m[s, t]]
            if m[0, t]:
                add_in.append(self.proj[str(t)](x))
            h = add_in[0]
            for a in add_in[1:]:
                h = h + a
            tensors.append(self.ops[str(t)](h))
        if not self.out_concat:
            return self.proj[str(n - 1)](x)
        out = (tensors[self.out_concat[0]] if len(self.out_concat) == 1
               else torch.cat([tensors[t] for t in self.out_concat], dim=1))
        if m[0, n - 1]:
            out = out + self.proj[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """The NB101 network of one pruned spec (module docstring).

    Args:
        matrix, ops: the pruned spec (:func:`pruned_spec`).
        num_classes: classifier outputs (CIFAR-10: 10).
        stem_channels: the stem's output channels (NB101: 128).
        stacks: stacks (3); ``modules_per_stack``: modules per stack (3).
        in_channels: image channels (3).
    """

    def __init__(self, matrix: np.ndarray, ops: list[str], *, num_classes: int = 10,
                 stem_channels: int = 128, stacks: int = 3, modules_per_stack: int = 3,
                 in_channels: int = 3) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("stem_channels", stem_channels),
                        ("stacks", stacks), ("modules_per_stack", modules_per_stack)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        self.stem = _ConvBNReLU(in_channels, stem_channels, 3)
        layers: list[Any] = []
        c = stem_channels
        for s in range(stacks):
            c_in = c
            if s > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                c *= 2
            for _ in range(modules_per_stack):
                layers.append(NB101Module(matrix, ops, c_in, c))
                c_in = c
        self.layers = nn.Sequential(*layers)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def features(self, x: Any) -> Any:
        """The feature map before global pooling, ``(B, C_last, H', W')``."""
        return self.layers(self.stem(x))

    def forward(self, x: Any) -> Any:
        return self.classifier(torch.flatten(self.global_pooling(self.features(x)), 1))


def build_nb101(arch: Any, *, num_classes: int = 10, stem_channels: int = 128, stacks: int = 3,
                modules_per_stack: int = 3) -> NB101Network:
    """The NB101 network of ``arch`` (a record, a spec string, a ``{"matrix", "ops"}`` dict or
    NASLib's 56-tuple; dicts and tuples keep their vertex order, see the module docstring)."""
    matrix, ops = pruned_spec(arch)
    return NB101Network(matrix, ops, num_classes=num_classes, stem_channels=stem_channels,
                        stacks=stacks, modules_per_stack=modules_per_stack)
