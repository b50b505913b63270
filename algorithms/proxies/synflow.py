"""``synflow``: synaptic flow, ``sum_layers |W * d sum(out) / dW|`` of the linearised network.

Tanaka et al. 2020: every parameter replaced by its absolute value, the all-ones input, the
output summed.  Here a float64 copy of the network with ``|W|`` for every parameter, BN in
eval mode with its fresh running statistics (mean 0, var 1, i.e. the identity up to
``1/sqrt(1+eps)``: the reference removes BN), input all ones ``(1, 3, H, W)``; summed over the
Conv2d / Linear weights as Abdelfattah et al. 2021 (``foresight/pruners/measures/synflow.py``;
NASLib ``measures/synflow.py``).  Data-independent.
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["SYNFLOW", "Synflow"]


class Synflow(ProxyDefinition):
    """Synaptic flow of the absolute-weight network on an all-ones input."""

    name = "synflow"
    reference = ("Tanaka, Kunin, Yamins & Ganguli, \"Pruning neural networks without any data "
                 "by iteratively conserving synaptic flow\", NeurIPS 2020 (arXiv:2006.05467), "
                 "https://github.com/ganguli-lab/Synaptic-Flow; as a proxy: Abdelfattah et al., "
                 "ICLR 2021, https://github.com/SamsungLabs/zero-cost-nas "
                 "foresight/pruners/measures/synflow.py")
    needs = frozenset({"abs_ones_backward"})
    data_independent = True

    def compute(self, ctx: ProxyContext) -> float:
        return float(sum((m.weight.detach() * m.weight.grad).abs().sum()
                         for m in ctx.abs_layers if m.weight.grad is not None))


SYNFLOW = Synflow()
