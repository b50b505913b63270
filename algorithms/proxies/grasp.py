"""``grasp``: gradient-flow preservation ``sum -W * (H g)``, ``g = dL/dW`` and ``H`` the
Hessian of the loss, over the Conv2d / Linear weights.

Wang et al. 2020 prune the weights whose removal least reduces the gradient flow
``g^T g``; summed over the network (sign as in Abdelfattah et al. 2021,
``foresight/pruners/measures/grasp.py``; NASLib ``measures/grasp.py``).  ``H g`` is one
double backward of ``g.detach() . g`` through the gradient's graph (the reference's two
passes give the same product).  NaN if no gradient has a graph (the loss does not depend on
the weights).
"""

from __future__ import annotations

import math

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["GRASP", "Grasp"]


class Grasp(ProxyDefinition):
    """GraSP gradient-flow score, ``sum -W * (H g)`` with ``g = dL/dW``."""

    name = "grasp"
    reference = ("Wang, Zhang & Grosse, \"Picking Winning Tickets Before Training by "
                 "Preserving Gradient Flow\", ICLR 2020 (arXiv:2002.07376), "
                 "https://github.com/alecwangcq/GraSP; as a proxy: Abdelfattah et al., "
                 "ICLR 2021, https://github.com/SamsungLabs/zero-cost-nas "
                 "foresight/pruners/measures/grasp.py")
    needs = frozenset({"loss_hvp"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        if not ctx.hvp:
            return math.nan
        return float(sum((-w.detach() * h).sum() for w, h in ctx.hvp if h is not None))


GRASP = Grasp()
