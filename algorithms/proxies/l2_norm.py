"""``l2_norm``: ``sum_layers ||W||_2`` of the Conv2d / Linear weights at initialisation.

NAS-Bench-Suite-Zero's ``l2_norm`` (NASLib ``measures/l2_norm.py``); under PyTorch's default
init it mostly measures the layers' sizes.  Data-independent.
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["L2_NORM", "L2Norm"]


class L2Norm(ProxyDefinition):
    """Sum over Conv2d / Linear layers of the L2 norm of the initial weights."""

    name = "l2_norm"
    reference = ("Krishnakumar, White, Zela, Tu, Safari & Hutter, \"NAS-Bench-Suite-Zero: "
                 "Accelerating Research on Zero Cost Proxies\", NeurIPS 2022 Datasets and "
                 "Benchmarks (arXiv:2210.03230), https://github.com/automl/NASLib "
                 "naslib/predictors/utils/pruners/measures/l2_norm.py")
    needs = frozenset({"network"})
    data_independent = True

    def compute(self, ctx: ProxyContext) -> float:
        return float(sum(m.weight.detach().norm() for m in ctx.layers))


L2_NORM = L2Norm()
