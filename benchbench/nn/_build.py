"""Network builders per search space, seeded initialisation, parameter and FLOP counts.

A *builder* is any callable ``builder(arch, *, num_classes) -> torch.nn.Module`` returning a
classifier of ``(B, 3, H, W)`` images; the proxies and the trainer only use that.  Spaces
register theirs here (:func:`register_builder`), so NB101 and DARTS plug in when they arrive.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from typing import Any, Literal

from benchbench.api import unknown
from benchbench.nn._torch import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["Builder", "count_flops", "count_params", "get_builder", "init_network",
           "new_network", "register_builder", "registered_builders", "torch_threads"]

Builder = Callable[..., Any]

_BUILDERS: dict[str, Builder] = {}


def register_builder(space: str, builder: Builder) -> None:
    """Register the network builder of search space ``space`` (replaces an earlier one)."""
    if not callable(builder):
        raise TypeError(f"builder for {space!r} must be callable, got {builder!r}")
    _BUILDERS[space] = builder


def registered_builders() -> tuple[str, ...]:
    return tuple(sorted(_BUILDERS))


def get_builder(space: str, **options: Any) -> Builder:
    """The builder of ``space`` with ``options`` bound (NB201: ``channels``,
    ``cells_per_stage``), called as ``builder(arch, num_classes=...)``."""
    try:
        b = _BUILDERS[space]
    except KeyError:
        raise unknown("space with a network builder", space, registered_builders()) from None
    return functools.partial(b, **options) if options else b


InitScheme = Literal["default", "gaussian"]


def init_network(net: Any, generator: Any, scheme: InitScheme = "default") -> Any:
    """Initialise every parameter and buffer of ``net`` in place from ``generator``.

    ``"default"``: PyTorch's default scheme (conv / linear weights and biases
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``); ``"gaussian"``: Zen-NAS's (conv / linear weights
    ``N(0, 1)``, biases 0).  Both: BatchNorm weight 1, bias 0, running mean 0, running
    variance 1.  A module with parameters of any other type raises ``ValueError``.
    """
    if scheme not in ("default", "gaussian"):
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: 'default', 'gaussian'")
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                if scheme == "gaussian":
                    m.weight.normal_(0.0, 1.0, generator=generator)
                else:
                    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
                    m.weight.uniform_(-bound, bound, generator=generator)
                if m.bias is not None:
                    if scheme == "gaussian":
                        m.bias.zero_()
                    else:
                        bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
                        m.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(m, norms):
                m.reset_parameters()
            elif any(True for _ in m.parameters(recurse=False)):
                raise ValueError(f"init_network does not know how to initialise "
                                 f"{type(m).__name__}; supported: Conv2d, Linear, BatchNorm, "
                                 f"GroupNorm, LayerNorm")
    return net


def new_network(builder: Builder, arch: Any, *, num_classes: int, generator: Any,
                scheme: InitScheme = "default") -> Any:
    """Build ``builder(arch, num_classes=...)`` without touching torch's global RNG (built on
    the meta device) and initialise it from ``generator``; returned in train mode on CPU."""
    with torch.device("meta"):
        net = builder(arch, num_classes=num_classes)
    net = net.to_empty(device="cpu")
    for m in net.modules():  # buffers are not parameters: reset them explicitly
        if isinstance(m, nn.modules.batchnorm._NormBase):
            m.reset_running_stats()
    return init_network(net, generator, scheme).train()


def count_params(net: Any) -> int:
    """Number of parameters (NB201's ``params`` column is this / 1e6)."""
    return sum(p.numel() for p in net.parameters())


def count_flops(net: Any, input_shape: tuple[int, int, int] = (3, 32, 32)) -> float:
    """Multiply-accumulates of one forward pass of one image, in millions (NB201's ``flop``).

    Counted as NB201's reference numbers are (checked against the official NATS-Bench files):
    conv ``k*k*C_in/groups*C_out`` per output position (+ ``C_out`` per position with a
    bias), linear ``in*out + out``; pooling, BN, ReLU and sums are not counted.  (NASLib's
    ``flops`` proxy also counts BN / ReLU elements, so its values are slightly larger.)
    """
    total = [0.0]

    def conv_hook(m: Any, inp: Any, out: Any) -> None:
        per_pos = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups * m.out_channels
        pos = out.shape[2] * out.shape[3]
        total[0] += per_pos * pos + (m.out_channels * pos if m.bias is not None else 0)

    def linear_hook(m: Any, inp: Any, out: Any) -> None:
        total[0] += m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)

    handles = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            p = next(net.parameters())
            net(torch.zeros((1, *input_shape), dtype=p.dtype, device=p.device))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return total[0] / 1e6


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, restoring the previous count."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
