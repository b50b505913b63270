"""The NAS-Bench-201 supernet: every edge of the cell holds all five candidate ops.

Reference: Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
Architecture Search", ICLR 2020, and its search code, D-X-Y/AutoDL-Projects
``lib/models/cell_searchs/search_cells.py`` (``SearchCell``) and ``search_model_darts.py`` /
``search_model_gdas.py`` / ``search_model_random.py`` (``TinyNetwork*``):

* stem ``Conv3x3(3 -> C, bias=False) + BN``; three stages of ``N`` search cells at ``C``,
  ``2C``, ``4C`` channels separated by NB201's ResNet reduction blocks (stride 2); head
  ``BN + ReLU``, global average pooling, ``Linear(4C -> num_classes)`` -- the skeleton of
  :class:`benchbench.nn.NB201Network`, whose reduction block and pooling op are reused here;
* a search cell is NB201's 4-node DAG whose six edges (``1<-0, 2<-0, 2<-1, 3<-0, 3<-1,
  3<-2``, :data:`benchbench.spaces.nb201.EDGES`) each hold the five ops of
  :data:`benchbench.spaces.nb201.OPS` in that order (``none``, ``skip_connect``,
  ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``), each edge with its own weights;
* inside the cells every BatchNorm has ``affine=False`` (as in DARTS and NB201's search
  models) and ``track_running_stats`` as set: NB201's search scripts pass
  ``--track_running_stats 1``; NATS-Bench later searched with batch statistics only, which
  changes the outcome of weight-sharing methods markedly (NB201 paper, appendix and
  Table 5; D-X-Y/AutoDL-Projects issues #70 and #115).  The stem, the reduction blocks and
  the head keep affine, tracking BatchNorms, as in the reference.

Forward modes (the architecture weights live outside the module, so that the search
algorithms own them):

* ``net(x, weights=W)``: DARTS' continuous relaxation, ``W`` a ``(6, 5)`` tensor (softmax of
  the architecture logits): every edge outputs ``sum_k W[e, k] * op_k(x)``;
* ``net(x, hard=(H, index))``: GDAS (``forward_gdas``): only the sampled op ``index[e]`` is
  computed, ``H[e, index[e]] * op(x)``, and the other entries of ``H`` (zero in value, with
  the straight-through gradient) are added as scalars, exactly as the reference does;
* ``net(x, ops=(o_0, ..., o_5))``: one cell (RSPS' sampled paths, ``forward_dynamic``).

``none`` outputs exact zeros, so in the relaxed mode its term ``W[e, 0] * 0`` is not
computed (value and gradients are the same; only a NaN/inf input would differ).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchbench.nn._build import init_network
from benchbench.nn._nb201 import AvgPool3x3, ResNetBasicBlock, Zero
from benchbench.nn._torch import require_torch
from benchbench.spaces.nb201 import EDGES, OPS

torch = require_torch()
nn: Any = torch.nn

__all__ = ["NB201SearchCell", "NB201SuperNet", "build_supernet"]

_PARAM_FREE = ("none", "skip_connect", "avg_pool_3x3")


class _SearchConv(nn.Sequential):
    """``ReLU -> Conv(k x k, bias=False) -> BN(affine, track_running_stats)``."""

    def __init__(self, c: int, kernel: int, affine: bool, track: bool) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c, c, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c, affine=affine, track_running_stats=track))


def _search_op(name: str, c: int, affine: bool, track: bool) -> Any:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return _SearchConv(c, 1, affine, track)
    if name == "nor_conv_3x3":
        return _SearchConv(c, 3, affine, track)
    return AvgPool3x3()


class NB201SearchCell(nn.Module):
    """NB201's ``SearchCell`` at ``channels`` channels: six edges x five ops.

    Args:
        channels: input = output channels.
        affine: BatchNorm affine parameters in the conv ops (reference: ``False``).
        track_running_stats: BatchNorm running statistics in the conv ops.
    """

    def __init__(self, channels: int, *, affine: bool = False,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(_search_op(o, channels, affine, track_running_stats) for o in OPS)
            for _ in EDGES)

    def forward(self, x: Any, *, weights: Any = None, hard: Any = None,
                ops: Sequence[int] | None = None) -> Any:
        nodes = [x]
        e = 0
        for j in (1, 2, 3):
            acc = None
            for i in range(j):
                cands = self.edges[e]
                h = nodes[i]
                if weights is not None:
                    w = weights[e]
                    term = sum(w[k] * cands[k](h) for k in range(1, len(OPS)))
                elif hard is not None:
                    hw, index = hard
                    k_sel = int(index[e])
                    term = hw[e, k_sel] * cands[k_sel](h)
                    for k in range(len(OPS)):
                        if k != k_sel:
                            term = term + hw[e, k]
                else:
                    assert ops is not None
                    term = cands[int(ops[e])](h)
                acc = term if acc is None else acc + term
                e += 1
            nodes.append(acc)
        return nodes[3]


class NB201SuperNet(nn.Module):
    """The NB201 one-shot model (see the module docstring).

    Args:
        num_classes: classifier outputs.
        channels: ``C`` (NB201's search: 16).
        cells_per_stage: ``N`` (NB201's search: 5).
        track_running_stats: of the search cells' BatchNorms.
        affine: of the search cells' BatchNorms (reference: ``False``).
        in_channels: image channels (3).

    ``forward(x, weights=... | hard=... | ops=...)`` takes ``(B, 3, H, W)`` images and returns
    ``(B, num_classes)`` logits; exactly one mode must be given.
    """

    def __init__(self, *, num_classes: int = 10, channels: int = 16, cells_per_stage: int = 5,
                 track_running_stats: bool = True, affine: bool = False,
                 in_channels: int = 3) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("channels", channels),
                        ("cells_per_stage", cells_per_stage)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c))
        layers: list[Any] = []
        for stage in range(3):
            width = c * 2**stage
            if stage:
                layers.append(ResNetBasicBlock(width // 2, width))
            layers.extend(NB201SearchCell(width, affine=affine,
                                          track_running_stats=track_running_stats)
                          for _ in range(cells_per_stage))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, num_classes)

    def forward(self, x: Any, *, weights: Any = None, hard: Any = None,
                ops: Sequence[int] | None = None) -> Any:
        if sum(m is not None for m in (weights, hard, ops)) != 1:
            raise ValueError("give exactly one of weights=, hard= or ops=")
        h = self.stem(x)
        for cell in self.cells:
            if isinstance(cell, NB201SearchCell):
                h = cell(h, weights=weights, hard=hard, ops=ops)
            else:
                h = cell(h)
        h = self.global_pooling(self.lastact(h))
        return self.classifier(torch.flatten(h, 1))


def build_supernet(*, num_classes: int, channels: int, cells_per_stage: int,
                   track_running_stats: bool, generator: Any, device: Any = "cpu",
                   affine: bool = False) -> NB201SuperNet:
    """A supernet built without touching torch's global RNG (on the meta device) and
    initialised from ``generator`` (PyTorch's default scheme, as
    :func:`benchbench.nn.init_network`), in train mode on ``device``."""
    with torch.device("meta"):
        net = NB201SuperNet(num_classes=num_classes, channels=channels,
                            cells_per_stage=cells_per_stage,
                            track_running_stats=track_running_stats, affine=affine)
    net = net.to_empty(device="cpu")
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase):
            m.reset_running_stats()
    init_network(net, generator)
    return net.to(device).train()  # type: ignore[no-any-return]


def param_free_ops() -> tuple[str, ...]:
    """The NB201 ops without parameters (``none``, ``skip_connect``, ``avg_pool_3x3``)."""
    return _PARAM_FREE
