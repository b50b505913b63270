"""The NAS-Bench-201 network (the macro skeleton NB201 trained every cell in).

Structure, as the NB201 paper and its reference code define it (``C`` channels, ``N`` cells
per stage; NB201 used ``C=16, N=5``):

* stem: ``Conv3x3(3 -> C, bias=False) + BN``;
* stage 1: ``N`` cells at ``C`` channels, 32x32 (for 32x32 inputs);
* reduction: a ResNet basic block ``C -> 2C``, stride 2 (``ReLU-Conv3x3-BN`` twice, shortcut
  ``AvgPool2x2 + Conv1x1`` without BN);
* stage 2: ``N`` cells at ``2C``; reduction ``2C -> 4C``; stage 3: ``N`` cells at ``4C``;
* head: ``BN + ReLU``, global average pooling, ``Linear(4C -> num_classes)``.

A cell is a DAG on 4 nodes: node 0 is the cell input, node ``j`` is the sum over ``i < j`` of
``op_{j<-i}(node_i)`` and node 3 is the output.  Ops: ``nor_conv_kxk`` is
``ReLU-Conv(kxk, bias=False)-BN``; ``avg_pool_3x3`` is ``AvgPool(3, stride 1, padding 1,
count_include_pad=False)`` (computed as a depthwise box filter, see :class:`AvgPool3x3`);
``skip_connect`` is the identity; ``none`` outputs zeros (kept in the graph, as NB201 does, so
that it contributes nothing but still costs a multiply).
Every BatchNorm is affine and tracks running statistics.

The parameter count of this network equals NB201's ``params`` column (tested on hundreds of
cells against the official table, for 10, 100 and 120 classes).
"""

from __future__ import annotations

from typing import Any

from benchbench.nn._torch import require_torch

torch = require_torch()
nn: Any = torch.nn

__all__ = ["AvgPool3x3", "NB201Cell", "NB201Network", "ResNetBasicBlock", "build_nb201"]


class ReLUConvBN(nn.Sequential):
    """``ReLU -> Conv2d(k x k, stride 1, 'same' padding, bias=False) -> BN``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2,
                                   bias=False),
                         nn.BatchNorm2d(c_out, affine=True, track_running_stats=True))


class Zero(nn.Module):
    """NB201's ``none`` op: zeros of the input's shape (``x * 0``, so NaN/inf propagate
    as in the reference implementation)."""

    def forward(self, x: Any) -> Any:
        return x.mul(0.0)


class AvgPool3x3(nn.Module):
    """``AvgPool2d(3, stride=1, padding=1, count_include_pad=False)``, computed as a
    depthwise 3x3 box sum divided by the number of in-image taps: the same function (up to
    float rounding, ~1e-7), about 6x faster than ``nn.AvgPool2d`` forward + backward on CPU.
    No parameters (the box kernel is a constant)."""

    def __init__(self) -> None:
        super().__init__()
        self._inv_count: dict[tuple[Any, ...], Any] = {}

    def forward(self, x: Any) -> Any:
        c, h, w = x.shape[1], x.shape[2], x.shape[3]
        key = (c, h, w, x.dtype, x.device)
        if key not in self._inv_count:
            ones = torch.ones((1, 1, h, w), dtype=x.dtype, device=x.device)
            count = torch.nn.functional.conv2d(
                ones, torch.ones((1, 1, 3, 3), dtype=x.dtype, device=x.device), padding=1)
            self._inv_count = {key: (torch.ones((c, 1, 3, 3), dtype=x.dtype, device=x.device),
                                     1.0 / count)}
        kernel, inv = self._inv_count[key]
        return torch.nn.functional.conv2d(x, kernel, padding=1, groups=c) * inv


def _make_op(name: str, channels: int) -> Any:
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    if name == "skip_connect":
        return nn.Identity()
    if name == "none":
        return Zero()
    raise ValueError(f"unknown NB201 op {name!r}; allowed: none, skip_connect, nor_conv_1x1, "
                     f"nor_conv_3x3, avg_pool_3x3")


class NB201Cell(nn.Module):
    """One NB201 cell at ``channels`` channels (stride 1).

    Args:
        op_names: the six edge ops in the official string's order
            (``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``).
        channels: input = output channels.
    """

    def __init__(self, op_names: tuple[str, ...], channels: int) -> None:
        super().__init__()
        from benchbench.spaces.nb201 import EDGES

        if len(op_names) != len(EDGES):
            raise ValueError(f"an NB201 cell needs {len(EDGES)} ops, got {len(op_names)}")
        self.edges = tuple(EDGES)
        self.ops = nn.ModuleList(_make_op(o, channels) for o in op_names)

    def forward(self, x: Any) -> Any:
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(op(nodes[fr]) for (to, fr), op in zip(self.edges, self.ops)
                             if to == j))
        return nodes[3]


class ResNetBasicBlock(nn.Module):
    """NB201's reduction block: ``c_in -> c_out`` at stride 2 with a pooled 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, padding=0),
                                        nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: Any) -> Any:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The NB201 network for one cell (see the module docstring).

    Args:
        op_names: the six edge ops of the cell (official string order).
        num_classes: outputs of the classifier (CIFAR-10: 10, CIFAR-100: 100,
            ImageNet16-120: 120).
        channels: ``C``, channels of the first stage (NB201: 16).
        cells_per_stage: ``N`` (NB201: 5).
        in_channels: input image channels (3).

    ``forward(x)`` takes ``(B, in_channels, H, W)`` images and returns ``(B, num_classes)``
    logits; :meth:`features` returns the pre-pooling map ``(B, 4C, H/4, W/4)``.
    """

    def __init__(self, op_names: tuple[str, ...], *, num_classes: int = 10, channels: int = 16,
                 cells_per_stage: int = 5, in_channels: int = 3) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("channels", channels),
                        ("cells_per_stage", cells_per_stage), ("in_channels", in_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        c = channels
        self.op_names = tuple(op_names)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c))
        layers: list[Any] = []
        for stage in range(3):
            width = c * 2**stage
            if stage:
                layers.append(ResNetBasicBlock(width // 2, width))
            layers.extend(NB201Cell(self.op_names, width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, num_classes)

    def features(self, x: Any) -> Any:
        """Feature map before global pooling, ``(B, 4C, H/4, W/4)``."""
        return self.lastact(self.cells(self.stem(x)))

    def forward(self, x: Any) -> Any:
        return self.classifier(torch.flatten(self.global_pooling(self.features(x)), 1))


def build_nb201(arch: Any, *, num_classes: int = 10, channels: int = 16,
                cells_per_stage: int = 5) -> NB201Network:
    """The NB201 network of ``arch`` (an :class:`~benchbench.spaces.NB201Arch`, an official
    cell string or an official index).  Weights use PyTorch's default initialisation; call
    :func:`benchbench.nn.init_network` with a generator for a seeded one."""
    from benchbench.spaces.nb201 import NB201Space

    a = NB201Space().parse(arch)
    return NB201Network(a.op_names, num_classes=num_classes, channels=channels,
                        cells_per_stage=cells_per_stage)
