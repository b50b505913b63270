"""``fisher``: the Fisher-information saliency of Abdelfattah et al. 2021, summed over the
Conv2d / Linear weights.

For every Conv2d / Linear output ``a`` (channels ``k``) with loss gradient ``dL/da``:
``F_k = 0.5 * mean_batch (sum_space a_k * dL/da_k)^2`` (Turner et al. 2020, BlockSwap, after
Theis et al. 2018); the reference gives each weight the value of its output channel and sums
over the weights, so the score is ``sum_layers sum_k fan_in * F_k`` with ``fan_in`` the
weights per output channel (``C_in / groups * k_h * k_w`` for a conv, ``in_features`` for a
linear layer).  As NASLib ``naslib/predictors/utils/pruners/measures/fisher.py`` (a copy of
zero-cost-nas ``foresight/pruners/measures/fisher.py``): ``compute_fisher_per_weight``
broadcasts the channel values with ``reshape_elements(grads_abs_ch, shapes)``, ``shapes`` =
``weight.shape[1:]`` (``p_utils.py``), and ``find_measures`` sums the arrays.  BN in train
mode, cross-entropy of the batch, one batch (``split_data=1``).  A layer the loss does not
reach counts 0 (the reference's ``torch.zeros`` for ``layer.fisher is None``).

The channel-counted sum (each channel once; ``fisher`` of implementation 1) is the named
variant ``fisher_channel``.  Tests: ``tests/test_proxies.py::
test_fisher_matches_the_reference_broadcast`` (the reference step re-done) and
``test_fisher_ranks_cells_as_naslib`` (Spearman 0.959 with NASLib's scores over the 725
NB201 cells at C=16, N=5, digits batch of 64; 0.882 for the channel count).
"""

from __future__ import annotations

from typing import Any

from algorithms.proxies._engine import ProxyContext, ProxyDefinition

__all__ = ["FISHER", "Fisher", "channel_fisher"]

REFERENCE = ("Turner, Crowley, O'Boyle, Storkey & Gray, \"BlockSwap: Fisher-guided Block "
             "Substitution for Network Compression on a Budget\", ICLR 2020 "
             "(arXiv:1906.04113), https://github.com/BayesWatch/pytorch-blockswap; as a "
             "proxy: Abdelfattah, Mehrotra, Dudziak & Lane, \"Zero-Cost Proxies for "
             "Lightweight NAS\", ICLR 2021 (arXiv:2101.08134), https://github.com/SamsungLabs/"
             "zero-cost-nas foresight/pruners/measures/fisher.py (NASLib "
             "naslib/predictors/utils/pruners/measures/fisher.py)")


def channel_fisher(ctx: ProxyContext) -> list[tuple[Any, Any]]:
    """``(module, F)`` per entry of ``ctx.act_grads``: ``F`` the ``(C,)`` float64 channel
    saliencies ``0.5 mean_batch (sum_space a dL/da)^2`` of that Conv2d / Linear output."""
    return [(m, g_nk.double().pow(2).mean(0).mul(0.5))
            for m, g_nk in zip(ctx.act_grad_layers, ctx.act_grads)]


class Fisher(ProxyDefinition):
    """Fisher saliency 0.5 mean_batch (sum_space a dL/da)^2 of each output channel, counted
    once per weight of the channel (as the reference)."""

    name = "fisher"
    reference = REFERENCE
    needs = frozenset({"act_grads"})
    data_independent = False

    def compute(self, ctx: ProxyContext) -> float:
        return float(sum(float(f.sum()) * m.weight[0].numel() for m, f in channel_fisher(ctx)))


FISHER = Fisher()
