"""``snip``: connection sensitivity ``sum |W * dL/dW|`` over the Conv2d / Linear weights.

Lee et al. 2019 score each weight by ``|W * dL/dW|`` to prune at initialisation; summed over
the network it is the zero-cost proxy of Abdelfattah et al. 2021
(``foresight/pruners/measures/snip.py``; NASLib ``measures/snip.py``).
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["SNIP", "Snip"]


class Snip(ProxyDefinition):
    """SNIP connection sensitivity, ``sum |W * dL/dW|`` over Conv2d / Linear weights."""

    name = "snip"
    reference = ("Lee, Ajanthan & Torr, \"SNIP: Single-shot Network Pruning based on "
                 "Connection Sensitivity\", ICLR 2019 (arXiv:1810.02340), "
                 "https://github.com/namhoonlee/snip-public; as a proxy: Abdelfattah et al., "
                 "ICLR 2021, https://github.com/SamsungLabs/zero-cost-nas "
                 "foresight/pruners/measures/snip.py")
    needs = frozenset({"loss_grads"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        return float(sum((w * g).abs().sum() for w, g in ctx.grad_pairs))


SNIP = Snip()
