"""The DARTS evaluation network (``NetworkCIFAR``) for cells of the DARTS / NB301 space.

Reference: ``cnn/model.py`` and ``cnn/operations.py`` of quark0/darts (Liu, Simonyan & Yang,
"DARTS: Differentiable Architecture Search", ICLR 2019), discrete cells (no ``MixedOp``):

* stem: ``Conv3x3(3 -> 3C, bias=False) + BN``;
* ``layers`` cells; the cells at ``layers // 3`` and ``2 * layers // 3`` are reduction cells
  (channels doubled, the ops on inputs 0 and 1 at stride 2);
* a cell preprocesses its two inputs to ``C`` channels: input 0 by ``FactorizedReduce`` if the
  previous cell reduced, else ``ReLU-Conv1x1-BN``; input 1 by ``ReLU-Conv1x1-BN``; node ``k``
  is the sum of its two ops; the output concatenates nodes 2..5 (``4C`` channels);
* head: global average pooling, ``Linear(4C_last -> num_classes)``; optional auxiliary head
  (``AuxiliaryHeadCIFAR``, after cell ``2 * layers // 3``, returned only in train mode);
* ops: ``sep_conv_kxk`` = ``(ReLU, depthwise kxk, 1x1, BN) x 2``; ``dil_conv_kxk`` = ``ReLU,
  depthwise kxk dilation 2, 1x1, BN``; pools 3x3 (average without counting padding);
  ``skip_connect`` = identity, or ``FactorizedReduce`` at stride 2;
* drop-path (``drop_path_prob``, train mode only) on every non-identity op's output, as in
  DARTS, with the mask drawn from :attr:`DartsNetwork.drop_path_generator` (never torch's
  global RNG; the trainer seeds it per run).

``affine`` sets whether the BatchNorms of the ops have a scale and bias, ``affine_preprocess``
the same for the cells' input preprocessing.  The DARTS evaluation network has both
(``C=36, layers=20``, auxiliary head: the ``darts`` protocol); NAS-Bench-301 trained its cells
with ``C=32, layers=8``, both affine, auxiliary head (the ``nb301`` protocol).

:func:`build_darts`'s defaults are the network NAS-Bench-Suite-Zero scored its DARTS cells on
(the 725 cells of ``darts_725_with_zc.json``, NASLib's discretised ``DartsSearchSpace``):
``C=32, layers=8``, ops with non-affine BatchNorms, affine preprocessing, no auxiliary head.
This setting was found by matching parameter counts: it reproduces the ``params`` field of
all 725 cells exactly (``tests/test_darts.py``); non-affine preprocessing is 2,560 parameters
short on every cell, affine ops 5-13 thousand too many, ``C=16`` (NASLib's search default
``[16, 32, 64]``) about 0.6 M too few.
"""

from __future__ import annotations

from typing import Any

from benchbench.nn._torch import require_torch

torch = require_torch()
nn: Any = torch.nn

__all__ = ["DartsCell", "DartsNetwork", "build_darts"]


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding,
                                   bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class DilConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int, affine: bool) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding,
                                   dilation=dilation, groups=c_in, bias=False),
                         nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class SepConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool) -> None:
        super().__init__(DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
                         DilConv(c_in, c_out, kernel, 1, padding, 1, affine))


class FactorizedReduce(nn.Module):
    """``ReLU``, two 1x1 stride-2 convolutions (the second on the input shifted by one
    pixel) concatenated, ``BN``: halves the spatial size."""

    def __init__(self, c_in: int, c_out: int, affine: bool) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, "
                             f"got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: Any) -> Any:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _make_op(name: str, c: int, stride: int, affine: bool) -> Any:
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(c, c, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(c, c, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(c, c, 5, stride, 4, 2, affine)
    from benchbench.spaces.darts import OPS

    raise ValueError(f"unknown DARTS op {name!r}; allowed: {', '.join(OPS)}")


def _drop_path(x: Any, prob: float, generator: Any) -> Any:
    """DARTS's ``drop_path``: zero whole samples with probability ``prob``, scale the rest
    by ``1 / (1 - prob)``; the mask comes from ``generator``."""
    keep = 1.0 - prob
    mask = torch.rand((x.shape[0], 1, 1, 1), generator=generator, device="cpu")
    mask = (mask < keep).to(dtype=x.dtype, device=x.device)
    return x / keep * mask


class DartsCell(nn.Module):
    """One discrete DARTS cell.

    Args:
        pairs: the cell's 8 ``(input, op_name)`` pairs, two per node 2..5.
        c_prev_prev, c_prev: channels of inputs 0 and 1.
        c: the cell's channels (each node; the output has ``4c``).
        reduction: a reduction cell (ops on inputs 0 and 1 at stride 2).
        reduction_prev: the previous cell reduced (input 0 is at twice the resolution).
        affine: BatchNorm scale and bias in the ops.
        affine_preprocess: BatchNorm scale and bias in the preprocessing of the inputs.
    """

    def __init__(self, pairs: list[tuple[int, str]], c_prev_prev: int, c_prev: int, c: int,
                 reduction: bool, reduction_prev: bool, affine: bool,
                 affine_preprocess: bool = True) -> None:
        super().__init__()
        ap = affine_preprocess
        if reduction_prev:
            self.preprocess0: Any = FactorizedReduce(c_prev_prev, c, ap)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0, ap)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0, ap)
        self.reduction = reduction
        self.indices = tuple(i for i, _ in pairs)
        self.ops = nn.ModuleList(
            _make_op(name, c, 2 if reduction and i < 2 else 1, affine) for i, name in pairs)
        self.multiplier = len(pairs) // 2

    def forward(self, s0: Any, s1: Any, drop_prob: float = 0.0,
                generator: Any = None) -> Any:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for n in range(len(self.indices) // 2):
            hs = []
            for j in (2 * n, 2 * n + 1):
                op = self.ops[j]
                h = op(states[self.indices[j]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = _drop_path(h, drop_prob, generator)
                hs.append(h)
            states.append(hs[0] + hs[1])
        return torch.cat(states[2:], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """DARTS's auxiliary classifier (assumes an 8x8 input map)."""

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Any) -> Any:
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsNetwork(nn.Module):
    """DARTS's ``NetworkCIFAR`` for one genotype (see the module docstring).

    Args:
        normal, reduce: each cell's 8 ``(input, op_name)`` pairs.
        num_classes: classifier outputs.
        channels: ``C``, the first cells' channels (DARTS evaluation: 36; NB301 and
            NASLib's zero-cost network: 32).
        layers: number of cells (DARTS: 20; NB301 and NASLib: 8); at least 3.
        auxiliary: add the auxiliary head; ``forward`` then returns ``(logits, aux_logits)``
            in train mode (logits only in eval mode).
        affine: BatchNorm scale and bias in the ops (DARTS, NB301: True; NASLib's zero-cost
            network: False).
        affine_preprocess: BatchNorm scale and bias in the cells' input preprocessing.
        in_channels: input image channels.

    Attributes:
        drop_path_prob: drop-path probability in train mode (0 by default; the trainer
            raises it linearly over the epochs, as DARTS does).
        drop_path_generator: the ``torch.Generator`` of the drop-path masks (CPU); must be
            set before training with ``drop_path_prob > 0``.
    """

    def __init__(self, normal: list[tuple[int, str]], reduce: list[tuple[int, str]], *,
                 num_classes: int = 10, channels: int = 32, layers: int = 8,
                 auxiliary: bool = False, affine: bool = False, affine_preprocess: bool = True,
                 in_channels: int = 3) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("channels", channels),
                        ("layers", layers), ("in_channels", in_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if layers < 3:
            raise ValueError(f"layers must be >= 3 (two of them are reduction cells), got "
                             f"{layers}")
        self.layers = layers
        self.auxiliary = bool(auxiliary)
        self.drop_path_prob = 0.0
        self.drop_path_generator: Any = None
        c_curr = 3 * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        self.aux_after = 2 * layers // 3
        c_aux = 0
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = DartsCell(reduce if reduction else normal, c_pp, c_p, c_curr, reduction,
                             reduction_prev, affine, affine_preprocess)
            reduction_prev = reduction
            self.cells.append(cell)
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if i == self.aux_after:
                c_aux = c_p
        self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: Any) -> Any:
        drop = self.drop_path_prob if self.training else 0.0
        if drop > 0.0 and self.drop_path_generator is None:
            raise ValueError("DartsNetwork.drop_path_generator must be a torch.Generator "
                             "before training with drop_path_prob > 0")
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop, self.drop_path_generator)
            if i == self.aux_after and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.global_pooling(s1), 1))
        return logits if aux is None else (logits, aux)


def build_darts(arch: Any, *, num_classes: int = 10, channels: int = 32, layers: int = 8,
                auxiliary: bool = False, affine: bool = False,
                affine_preprocess: bool = True) -> DartsNetwork:
    """The DARTS network of ``arch`` (anything :meth:`DartsSpace.parse` reads).  Defaults:
    NASLib's zero-cost DARTS network (``C=32, layers=8``, non-affine ops, affine
    preprocessing, no auxiliary head), whose parameter counts are NAS-Bench-Suite-Zero's
    ``params``; the ``darts`` and ``nb301`` protocols set ``affine=True`` and the auxiliary
    head."""
    from benchbench.spaces.darts import DartsSpace

    a = DartsSpace().parse(arch)
    normal, reduce = a.genotype()
    return DartsNetwork([(i, o) for o, i in normal], [(i, o) for o, i in reduce],
                        num_classes=num_classes, channels=channels, layers=layers,
                        auxiliary=auxiliary, affine=affine,
                        affine_preprocess=affine_preprocess)
