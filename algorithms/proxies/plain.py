"""``plain``: the signed first-order Taylor term ``sum W * dL/dW`` over the Conv2d / Linear
weights (``snip`` without the absolute value).

As Abdelfattah et al. 2021 (``foresight/pruners/measures/plain.py``; NASLib
``measures/plain.py``).
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["PLAIN", "Plain"]


class Plain(ProxyDefinition):
    """Signed sum of weight times loss gradient, ``sum W * dL/dW``."""

    name = "plain"
    reference = ("Abdelfattah, Mehrotra, Dudziak & Lane, \"Zero-Cost Proxies for Lightweight "
                 "NAS\", ICLR 2021 (arXiv:2101.08134), https://github.com/SamsungLabs/"
                 "zero-cost-nas foresight/pruners/measures/plain.py")
    needs = frozenset({"loss_grads"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        return float(sum((w * g).sum() for w, g in ctx.grad_pairs))


PLAIN = Plain()
