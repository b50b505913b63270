"""``fisher``: for every Conv2d / Linear output ``a`` with loss gradient ``dL/da``,
``0.5 * mean_batch (sum_space a * dL/da)^2``, summed over channels and layers.

The Fisher-information saliency of Turner et al. 2020 (BlockSwap; after Theis et al. 2018),
as the zero-cost proxy of Abdelfattah et al. 2021 (``foresight/pruners/measures/fisher.py``;
NASLib ``measures/fisher.py``), with each channel's value counted once.  (The references
broadcast every channel's value to the weights of that channel before summing, i.e. weight
it by the number of weights per output channel.)  The definition is kept as it is here;
whether it should follow the references is an open question of the project.
"""

from __future__ import annotations

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["FISHER", "Fisher"]


class Fisher(ProxyDefinition):
    """Fisher saliency of the layer activations, ``0.5 mean_batch (sum_space a dL/da)^2``."""

    name = "fisher"
    reference = ("Turner, Crowley, O'Boyle, Storkey & Gray, \"BlockSwap: Fisher-guided Block "
                 "Substitution for Network Compression on a Budget\", ICLR 2020 "
                 "(arXiv:1906.04113), https://github.com/BayesWatch/pytorch-blockswap; as a "
                 "proxy: Abdelfattah et al., ICLR 2021, https://github.com/SamsungLabs/"
                 "zero-cost-nas foresight/pruners/measures/fisher.py")
    needs = frozenset({"act_grads"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        total = 0.0
        for g_nk in ctx.act_grads:
            total += float(g_nk.double().pow(2).mean(0).mul(0.5).sum())
        return total


FISHER = Fisher()
