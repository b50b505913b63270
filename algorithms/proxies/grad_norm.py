"""``grad_norm``: ``sum_layers ||dL/dW||_2``, the loss gradient's norm per Conv2d / Linear
layer, summed (``L`` the cross-entropy of the batch, BN in train mode).

As Abdelfattah et al. 2021 (``foresight/pruners/measures/grad_norm.py`` of
https://github.com/SamsungLabs/zero-cost-nas; NASLib ``measures/grad_norm.py``).
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["GRAD_NORM", "GradNorm"]


class GradNorm(ProxyDefinition):
    """Sum over Conv2d / Linear layers of the L2 norm of the loss gradient."""

    name = "grad_norm"
    reference = ("Abdelfattah, Mehrotra, Dudziak & Lane, \"Zero-Cost Proxies for Lightweight "
                 "NAS\", ICLR 2021 (arXiv:2101.08134), https://github.com/SamsungLabs/"
                 "zero-cost-nas foresight/pruners/measures/grad_norm.py")
    needs = frozenset({"loss_grads"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        return float(sum(g.norm() for _, g in ctx.grad_pairs))


GRAD_NORM = GradNorm()
